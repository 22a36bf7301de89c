//! Site-local time (reference §7.1–§7.3): DST days in both hemispheres, the three
//! accepted forms of `from`/`to`, the edges of a series (installation, now, the running
//! bucket, night and dawn) and quarter-hours that arrive late.

use crate::support::*;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use seh_sim::windows::{Profile, WindowLimits};
use serde_json::Value;

/// A whole local day of site energy at QUARTER_HOUR, fetched in ≤ 12 h windows as the
/// documented limit demands.
fn qh_day(sim: &Sim, site: i64, zone: Tz, day: NaiveDate) -> Vec<Value> {
    let a = midnight(day, zone);
    let b = midnight(day.succ_opt().unwrap(), zone);
    sim.values_windowed(
        &format!("/v2/sites/{site}/energy"),
        "",
        a,
        b,
        Duration::hours(12),
    )
}

fn assert_dst_day(values: &[Value], n: usize, zone: Tz, day: NaiveDate) {
    assert_eq!(values.len(), n, "{day}");
    let st = stamps(values);
    let mut dedup = st.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), n, "stamps are distinct");
    // Consecutive stamps are 15 minutes apart as instants, and each carries the offset
    // valid at that instant.
    for w in st.windows(2) {
        assert_eq!(ts(&w[1]) - ts(&w[0]), Duration::minutes(15), "{w:?}");
    }
    for s in &st {
        let t = ts(s);
        let want = seh_sim::time::fmt_local(t, zone);
        assert_eq!(s, &want);
        assert!(s.starts_with(&day.to_string()), "{s}");
    }
}

#[test]
fn berlin_spring_day_has_92_quarter_hours() {
    let sim = Sim::default();
    let day = date(2026, 3, 29);
    let v = qh_day(&sim, BERLIN, berlin(), day);
    assert_dst_day(&v, 92, berlin(), day);
    let st = stamps(&v);
    assert!(st.contains(&"2026-03-29T01:45:00+01:00".to_string()));
    assert!(st.contains(&"2026-03-29T03:00:00+02:00".to_string()));
    assert!(
        !st.iter().any(|s| s.starts_with("2026-03-29T02:")),
        "no stamps in the gap"
    );
    // HOUR: 23 buckets.
    let h = sim.values_windowed(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=HOUR",
        midnight(day, berlin()),
        midnight(date(2026, 3, 30), berlin()),
        Duration::hours(24),
    );
    assert_eq!(h.len(), 23);
}

#[test]
fn berlin_autumn_day_has_100_quarter_hours_with_the_repeated_hour_apart() {
    let sim = Sim::default();
    let day = date(2026, 10, 25);
    let v = qh_day(&sim, BERLIN, berlin(), day);
    assert_dst_day(&v, 100, berlin(), day);
    let st = stamps(&v);
    for m in ["00", "15", "30", "45"] {
        assert!(st.contains(&format!("2026-10-25T02:{m}:00+02:00")));
        assert!(st.contains(&format!("2026-10-25T02:{m}:00+01:00")));
    }
    // The same day from a simulator that accepts a whole day in one window.
    let mut o = options();
    o.windows = WindowLimits::profile(Profile::Observed);
    let obs = Sim::start(o);
    let one = obs.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "",
        midnight(day, berlin()),
        midnight(date(2026, 10, 26), berlin()),
    );
    assert_eq!(arr(&one["values"]), &v);
    assert_eq!(one["period"]["from"], "2026-10-25T00:00:00+02:00");
    assert_eq!(one["period"]["to"], "2026-10-26T00:00:00+01:00");
    // HOUR: 25 buckets.
    let h = obs.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=HOUR",
        midnight(day, berlin()),
        midnight(date(2026, 10, 26), berlin()),
    );
    assert_eq!(arr(&h["values"]).len(), 25);
    // DAY: one bucket holding all 100 quarter-hours.
    let d = obs.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=DAY",
        midnight(day, berlin()),
        midnight(date(2026, 10, 26), berlin()),
    );
    assert_eq!(arr(&d["values"]).len(), 1);
    close(
        d["values"][0]["value"].as_f64().unwrap(),
        sum(&v),
        1e-6,
        "DAY = Σ QH",
    );
}

#[test]
fn sydney_dst_days_in_the_southern_hemisphere() {
    let sim = Sim::default();
    let spring = date(2026, 10, 4);
    let v = qh_day(&sim, SYDNEY, sydney(), spring);
    assert_dst_day(&v, 92, sydney(), spring);
    assert!(stamps(&v).contains(&"2026-10-04T01:45:00+10:00".to_string()));
    assert!(stamps(&v).contains(&"2026-10-04T03:00:00+11:00".to_string()));
    let autumn = date(2026, 4, 5);
    let v = qh_day(&sim, SYDNEY, sydney(), autumn);
    assert_dst_day(&v, 100, sydney(), autumn);
    assert!(stamps(&v).contains(&"2026-04-05T02:30:00+11:00".to_string()));
    assert!(stamps(&v).contains(&"2026-04-05T02:30:00+10:00".to_string()));
}

#[test]
fn from_and_to_accept_z_offset_and_naive_local_forms() {
    let sim = Sim::default();
    let path = format!("/v2/sites/{BERLIN}/energy");
    // 2026-11-20 07:00–15:00 Berlin (UTC+1).
    let forms = [
        ("2026-11-20T06:00:00Z", "2026-11-20T14:00:00Z"),
        ("2026-11-20T07:00:00+01:00", "2026-11-20T15:00:00+01:00"),
        ("2026-11-20T01:00:00-05:00", "2026-11-20T09:00:00-05:00"),
        ("2026-11-20T07:00:00", "2026-11-20T15:00:00"),
        (
            "2026-11-20T07:00:00.000",
            "2026-11-20T15:00:00.000000000+01:00",
        ),
    ];
    let mut answers = Vec::new();
    for (f, t) in forms {
        let v = sim.ok(&format!("{path}?from={}&to={}", q(f), q(t)));
        assert_eq!(arr(&v["values"]).len(), 32, "{f}");
        answers.push(v);
    }
    for a in &answers[1..] {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0]["period"]["from"], "2026-11-20T07:00:00+01:00");
    assert_eq!(answers[0]["period"]["to"], "2026-11-20T15:00:00+01:00");
    // An unencoded `+` arrives as a space and is not a valid date-time.
    sim.get(&format!(
        "{path}?from=2026-11-20T07:00:00+01:00&to=2026-11-20T15:00:00+01:00"
    ))
    .problem(400);
}

#[test]
fn bad_windows_are_refused() {
    let sim = Sim::default();
    let path = format!("/v2/sites/{BERLIN}/energy");
    let bad = [
        // A naive time in the spring gap does not exist in Berlin.
        "from=2026-03-29T02:30:00&to=2026-03-29T06:00:00",
        // Only one of the two.
        "from=2026-11-20T07:00:00Z",
        "to=2026-11-20T07:00:00Z",
        // Empty, reversed, dates without time, garbage.
        "from=2026-11-20T07:00:00Z&to=2026-11-20T07:00:00Z",
        "from=2026-11-20T08:00:00Z&to=2026-11-20T07:00:00Z",
        "from=2026-11-20&to=2026-11-21",
        "from=yesterday&to=today",
    ];
    for params in bad {
        let v = sim.get(&format!("{path}?{params}")).problem(400);
        assert!(!v["detail"].as_str().unwrap().is_empty(), "{params}");
    }
    // The same rules on every windowed operation.
    for op in [
        "power",
        "overview",
        "inverters/telemetry",
        "meters/telemetry",
        "storage/telemetry",
    ] {
        sim.get(&format!(
            "/v2/sites/{BERLIN}/{op}?from=2026-11-20T07:00:00Z"
        ))
        .problem(400);
        sim.get(&format!(
            "/v2/sites/{BERLIN}/{op}?from=2026-11-20T08:00:00Z&to=2026-11-20T07:00:00Z"
        ))
        .problem(400);
    }
    // The autumn repeat is ambiguous but exists: accepted.
    let v = sim.ok(&format!(
        "{path}?from=2026-10-25T02:30:00&to=2026-10-25T04:00:00"
    ));
    assert!(!arr(&v["values"]).is_empty());
}

#[test]
fn nothing_before_installation_or_after_now() {
    let sim = Sim::default();
    let details = sim.ok(&format!("/v2/sites/{BERLIN}"));
    let install = ts(details["installationDate"].as_str().unwrap());
    let v = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=DAY",
        install - Duration::days(10),
        install + Duration::days(5),
    );
    let st = stamps(arr(&v["values"]));
    assert_eq!(st.len(), 5);
    assert_eq!(st[0], details["installationDate"].as_str().unwrap());
    let v = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "",
        install - Duration::hours(6),
        install + Duration::hours(6),
    );
    assert_eq!(arr(&v["values"]).len(), 24);
    assert_eq!(ts(v["values"][0]["timestamp"].as_str().unwrap()), install);
    // Entirely before installation: an empty series.
    let v = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "",
        install - Duration::hours(12),
        install,
    );
    assert!(arr(&v["values"]).is_empty());

    // Today 06:00–18:00 local at 13:10 (now): up to the running 13:00 bucket, which is null.
    sim.advance(Duration::minutes(10));
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?from=2026-11-26T06:00:00&to=2026-11-26T18:00:00"
    ));
    let values = arr(&v["values"]);
    assert_eq!(values.len(), 29);
    assert_eq!(values[28]["timestamp"], "2026-11-26T13:00:00+01:00");
    assert!(values[28]["value"].is_null());
    // `period.to` echoes the request's `to` clipped to now, with nine fraction digits.
    assert_eq!(v["period"]["to"], "2026-11-26T13:10:00.000000000+01:00");
    // Entirely in the future: nothing.
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?from=2026-11-27T06:00:00&to=2026-11-27T18:00:00"
    ));
    assert!(arr(&v["values"]).is_empty());
    // Telemetry obeys the same edges.
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/meters/telemetry?from=2026-11-26T06:00:00&to=2026-11-26T18:00:00"
    ));
    let c = arr(&v["meters"]["Consumption Meter"]["consumptionEnergy"]["values"]);
    assert_eq!(c.len(), 29);
    assert!(c[28]["value"].is_null());
}

#[test]
fn night_is_null_and_dawn_and_dusk_report_zero() {
    let sim = Sim::default();
    for (site, zone) in [
        (BERLIN, berlin()),
        (SYDNEY, sydney()),
        (DENVER, tz("America/Denver")),
    ] {
        for d in [date(2026, 6, 21), date(2026, 11, 20)] {
            let v = qh_day(&sim, site, zone, d);
            let n = nums(&v);
            assert!(n[0].is_none(), "{site} {d}: midnight is night");
            assert!(n[n.len() - 1].is_none(), "{site} {d}: 23:45 is night");
            let first = n.iter().position(Option::is_some).unwrap();
            let last = n.iter().rposition(Option::is_some).unwrap();
            assert_eq!(
                n[first],
                Some(0.0),
                "{site} {d}: the inverter wakes with 0.0"
            );
            assert_eq!(n[last], Some(0.0), "{site} {d}: and sleeps after 0.0");
            assert!(
                n[first..=last].iter().all(Option::is_some),
                "{site} {d}: awake all day"
            );
            assert!(n.iter().flatten().any(|x| *x > 0.0));
            // Meters never sleep: the consumption meter reports at midnight.
            if site != DENVER {
                let m = sim.window(
                    &format!("/v2/sites/{site}/meters/telemetry"),
                    "",
                    midnight(d, zone),
                    midnight(d, zone) + Duration::hours(2),
                );
                let c = nums(arr(
                    &m["meters"]["Consumption Meter"]["consumptionEnergy"]["values"]
                ));
                assert!(c.iter().all(|x| x.unwrap() > 0.0), "{site} {d}");
            }
        }
    }
    // Power and inverter telemetry follow the inverter: null at night too.
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?from=2026-11-20T00:00:00&to=2026-11-20T02:00:00"
    ));
    for series in ["power", "energy", "voltage", "current", "frequency"] {
        let n = nums(arr(&v["inverters"]["7E1A0001-1B"][series]["values"]));
        assert!(n.iter().all(Option::is_none), "{series}");
    }
}

#[test]
fn late_quarter_hours_are_null_until_they_arrive() {
    let sim = Sim::default();
    // 10:00–12:00 UTC = 11:00–13:00 Berlin, daylight. Now is 12:00 UTC.
    let path = format!("/v2/sites/{BERLIN}/energy");
    let a = t0() - Duration::hours(2);
    let early = nums(arr(&sim.window(&path, "", a, t0())["values"]));
    assert_eq!(early.len(), 8);
    assert!(
        early[7].is_none(),
        "the quarter that closed right now has not arrived"
    );
    let arrived_early = early.iter().filter(|x| x.is_some()).count();
    assert!(
        arrived_early >= 4,
        "quarters older than 45 minutes have arrived: {early:?}"
    );
    assert!(early[..4].iter().all(Option::is_some), "{early:?}");
    // Meters are late the same way.
    let m = sim.window(&format!("/v2/sites/{BERLIN}/meters/telemetry"), "", a, t0());
    let c = nums(arr(
        &m["meters"]["Consumption Meter"]["consumptionEnergy"]["values"]
    ));
    assert!(c[7].is_none());
    // The HOUR bucket of the last hour holds only what arrived.
    let h = nums(arr(&sim.window(&path, "resolution=HOUR", a, t0())["values"]));
    close(
        h[1].unwrap_or(0.0),
        early[4..].iter().flatten().sum(),
        1e-6,
        "partial hour",
    );

    sim.advance(Duration::hours(1));
    let later = nums(arr(&sim.window(&path, "", a, t0())["values"]));
    assert!(later.iter().all(Option::is_some), "{later:?}");
    for (e, l) in early.iter().zip(&later) {
        if let Some(e) = e {
            assert_eq!(Some(*e), *l, "arrived values never change");
        }
    }
    let h = nums(arr(&sim.window(&path, "resolution=HOUR", a, t0())["values"]));
    close(
        h[1].unwrap(),
        later[4..].iter().flatten().sum(),
        1e-6,
        "complete hour",
    );
}
