//! The variants of the reference §6.1 that the simulator can play: a site without
//! `location.timezone`, status words in title case, telemetry voltage, current and
//! frequency stamped at the bucket start, and the inverter's own consumption. Each test
//! shows the option changes what it claims to (so it fails if the option does nothing)
//! and leaves the data itself alone; `/_sim/truth` follows every option.

use crate::support::*;
use chrono::Duration;
use seh_sim::app::{SimOptions, SitesShape, StatusCase, TelemetryStamp};
use serde_json::Value;
use std::collections::BTreeSet;

const INV_1: &str = "7E1A0001-1B";
const INV_2: &str = "7E1A0002-2C";
const ELECTRICAL: [&str; 3] = ["voltage", "current", "frequency"];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The default fleet plus an `INACTIVE` site (a copy of Denver), so every status word of
/// the 2025 live list is served.
fn with_inactive_site(mut o: SimOptions) -> SimOptions {
    let mut s = o.scenario.sites[2].clone();
    s.id = 6_150_005;
    s.name = "Old Mill Boulder".into();
    s.activation_status = "INACTIVE".into();
    o.scenario.sites.push(s);
    o
}

/// `activationStatus` of every site in `/sites` (either shape).
fn list_statuses(sim: &Sim) -> Vec<String> {
    let v = sim.ok("/v2/sites");
    let items = match &v {
        Value::Array(a) => a,
        _ => arr(&v["sites"]["site"]),
    };
    items
        .iter()
        .map(|s| s["activationStatus"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts `/_sim/truth` (family `inverters`) says exactly what bulk inverter telemetry
/// says over [a, b) at `res`: the same (device, metric) series, stamps and values (in W,
/// Wh, V, A, Hz). Returns the metric names served.
fn assert_inverter_truth(
    sim: &Sim,
    site: i64,
    res: &str,
    a: chrono::DateTime<chrono::Utc>,
    b: chrono::DateTime<chrono::Utc>,
) -> BTreeSet<String> {
    let p = format!("from={}&to={}", q(&z(a)), q(&z(b)));
    let truth = sim.get_h(
        &format!("/_sim/truth?site={site}&family=inverters&resolution={res}&{p}"),
        &[],
    );
    assert_eq!(truth.status, 200, "{}", truth.text());
    let rows = truth.json()["rows"].clone();
    let rows = arr(&rows);
    let api = sim.window(
        &format!("/v2/sites/{site}/inverters/telemetry"),
        &format!("resolution={res}"),
        a,
        b,
    );
    let mut served = BTreeSet::new();
    let mut n = 0;
    for (key, series) in api["inverters"].as_object().unwrap() {
        for (metric, s) in series.as_object().unwrap() {
            served.insert(metric.clone());
            let factor = if s["unit"] == "KW" { 1000.0 } else { 1.0 };
            let want: Vec<&Value> = rows
                .iter()
                .filter(|r| r["device_key"] == key.as_str() && r["metric"] == metric.as_str())
                .collect();
            let got = arr(&s["values"]);
            assert_eq!(want.len(), got.len(), "{key} {metric}");
            for (w, g) in want.iter().zip(got) {
                assert_eq!(
                    ts(w["ts_utc"].as_str().unwrap()),
                    ts(g["timestamp"].as_str().unwrap()),
                    "{key} {metric}"
                );
                match (w["value"].as_f64(), g["value"].as_f64()) {
                    (Some(w), Some(g)) => close(w, g * factor, 1e-3, &format!("{key} {metric}")),
                    (None, None) => {}
                    other => panic!("{key} {metric}: {other:?}"),
                }
                n += 1;
            }
        }
    }
    assert!(n > 0);
    // Nothing in the truth that the API does not serve.
    let truth_metrics: BTreeSet<String> = rows
        .iter()
        .map(|r| r["metric"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(truth_metrics, served);
    assert_eq!(rows.len(), n);
    served
}

#[test]
fn omit_timezone_leaves_the_key_out_and_keeps_the_data_in_the_site_zone() {
    let plain = Sim::default();
    let mut o = options();
    o.omit_timezone = true;
    let sim = Sim::start(o);

    let location = set(&["address", "city", "state", "zip", "country"]);
    for site in [BERLIN, SYDNEY, DENVER, LISBON] {
        let with = plain.ok(&format!("/v2/sites/{site}"));
        assert!(with["location"]["timezone"].is_string(), "{site}");
        let without = sim.ok(&format!("/v2/sites/{site}"));
        assert_eq!(keys(&without["location"]), location, "{site}");
        // Nothing else changes.
        let mut with = with;
        with["location"].as_object_mut().unwrap().remove("timezone");
        assert_eq!(with, without, "{site}");
    }
    // The site list has no timezone in either shape.
    for shape in [SitesShape::Wrapped, SitesShape::Bare] {
        let mut o = options();
        o.omit_timezone = true;
        o.sites_shape = shape;
        let sim = Sim::start(o);
        let v = sim.ok("/v2/sites");
        let items = match &v {
            Value::Array(a) => a,
            _ => arr(&v["sites"]["site"]),
        };
        assert_eq!(items.len(), 4);
        for s in items {
            assert_eq!(keys(&s["location"]), location, "{shape:?}");
        }
    }
    // Data is still the site's local data: the default window starts at local midnight
    // with the local offset, and every value is the same.
    for (site, midnight) in [
        (BERLIN, "2026-11-26T00:00:00+01:00"),
        (SYDNEY, "2026-11-26T00:00:00+11:00"),
        (DENVER, "2026-11-26T00:00:00-07:00"),
    ] {
        let e = sim.ok(&format!("/v2/sites/{site}/energy"));
        assert_eq!(e["period"]["from"], midnight, "{site}");
        assert_eq!(e["values"][0]["timestamp"], midnight, "{site}");
        assert_eq!(e, plain.ok(&format!("/v2/sites/{site}/energy")), "{site}");
    }
    let path = format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?from=2026-11-25T08:00:00&to=2026-11-25T12:00:00"
    );
    assert_eq!(sim.ok(&path), plain.ok(&path));
}

#[test]
fn status_case_title_respells_every_site_status() {
    let upper = Sim::start(with_inactive_site(options()));
    assert_eq!(
        list_statuses(&upper),
        ["ACTIVE", "ACTIVE", "ACTIVE", "PENDING", "INACTIVE"]
    );
    for shape in [SitesShape::Wrapped, SitesShape::Bare] {
        let mut o = with_inactive_site(options());
        o.status_case = StatusCase::Title;
        o.sites_shape = shape;
        let sim = Sim::start(o);
        assert_eq!(
            list_statuses(&sim),
            ["Active", "Active", "Active", "Pending", "Inactive"],
            "{shape:?}"
        );
    }
    let mut o = with_inactive_site(options());
    o.status_case = StatusCase::Title;
    let sim = Sim::start(o);
    for (site, word) in [
        (BERLIN, "Active"),
        (LISBON, "Pending"),
        (6_150_005, "Inactive"),
    ] {
        let v = sim.ok(&format!("/v2/sites/{site}"));
        assert_eq!(v["activationStatus"], word, "{site}");
        let u = upper.ok(&format!("/v2/sites/{site}"));
        assert_eq!(u["activationStatus"], word.to_uppercase(), "{site}");
    }
    // The spelling is only words: an active site still has data, the others none.
    let path = format!(
        "/v2/sites/{BERLIN}/energy?resolution=DAY&from=2026-11-01T00:00:00&to=2026-11-08T00:00:00"
    );
    assert_eq!(sim.ok(&path), upper.ok(&path));
    assert!(sum(arr(&sim.ok(&path)["values"])) > 0.0);
    for site in [LISBON, 6_150_005] {
        let v = sim.ok(&format!("/v2/sites/{site}/energy"));
        assert!(arr(&v["values"]).is_empty(), "{site}");
    }
}

#[test]
fn telemetry_stamp_start_stamps_voltage_current_frequency_like_power() {
    let end = Sim::default();
    let mut o = options();
    o.telemetry_stamp = TelemetryStamp::Start;
    let start = Sim::start(o);
    for (res, step) in [("QUARTER_HOUR", 15), ("HOUR", 60)] {
        let path = format!(
            "/v2/sites/{BERLIN}/inverters/telemetry?resolution={res}&from=2026-11-25T08:00:00&to=2026-11-25T12:00:00"
        );
        let e = end.ok(&path);
        let s = start.ok(&path);
        for inv in [INV_1, INV_2] {
            let power = stamps(arr(&s["inverters"][inv]["power"]["values"]));
            assert_eq!(power[0], "2026-11-25T08:00:00+01:00");
            for name in ELECTRICAL {
                let se = &s["inverters"][inv][name];
                let ee = &e["inverters"][inv][name];
                // Start: the instants of power. End: one bucket later.
                assert_eq!(stamps(arr(&se["values"])), power, "{res} {inv} {name}");
                let shifted: Vec<String> = stamps(arr(&ee["values"]))
                    .iter()
                    .map(|t| {
                        (ts(t) - Duration::minutes(step))
                            .with_timezone(&berlin())
                            .to_rfc3339()
                    })
                    .collect();
                assert_eq!(shifted, power, "{res} {inv} {name}");
                // Same values, same unit: only the stamps move.
                assert_eq!(nums(arr(&se["values"])), nums(arr(&ee["values"])));
                assert!(nums(arr(&se["values"])).iter().any(Option::is_some));
                assert_eq!(se["unit"], ee["unit"]);
            }
            // Power and energy are the same under both options.
            for name in ["power", "energy"] {
                assert_eq!(s["inverters"][inv][name], e["inverters"][inv][name]);
            }
        }
    }
    // The per-metric paths follow the option.
    let w = "from=2026-11-25T08:00:00&to=2026-11-25T12:00:00";
    let v = start.ok(&format!("/v2/sites/{BERLIN}/inverters/{INV_2}/voltage?{w}"));
    assert_eq!(v["values"][0]["timestamp"], "2026-11-25T08:00:00+01:00");
    let v = end.ok(&format!("/v2/sites/{BERLIN}/inverters/{INV_2}/voltage?{w}"));
    assert_eq!(v["values"][0]["timestamp"], "2026-11-25T08:15:00+01:00");

    // The truth agrees with the API under either option, including across the autumn
    // change (the repeated hour) and at HOUR.
    let a = midnight(date(2026, 10, 25), berlin());
    let b = a + Duration::hours(12);
    for sim in [&end, &start] {
        assert_inverter_truth(sim, BERLIN, "QUARTER_HOUR", a, b);
        assert_inverter_truth(sim, BERLIN, "HOUR", a, a + Duration::hours(24));
    }
    // And the truth's stamps differ between the options.
    let p = format!(
        "/_sim/truth?site={BERLIN}&family=inverters&from={}&to={}",
        q(&z(a)),
        q(&z(b))
    );
    let first_voltage = |sim: &Sim| {
        let t = sim.get_h(&p, &[]).json();
        arr(&t["rows"])
            .iter()
            .find(|r| r["metric"] == "voltage")
            .map(|r| r["ts_utc"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(first_voltage(&start), z(a));
    assert_eq!(first_voltage(&end), z(a + Duration::minutes(15)));
}

#[test]
fn inverter_consumption_is_served_only_when_asked_and_adds_up() {
    let plain = Sim::default();
    let mut o = options();
    o.inverter_consumption = true;
    let sim = Sim::start(o);
    let five = set(&["power", "energy", "voltage", "current", "frequency"]);
    let seven = set(&[
        "power",
        "energy",
        "voltage",
        "current",
        "frequency",
        "consumedAcPower",
        "consumedAcEnergy",
    ]);
    // A whole day at quarter-hours, in two documented 12-hour windows.
    let day = midnight(date(2026, 11, 20), berlin());
    for (a, b) in [
        (day, day + Duration::hours(12)),
        (day + Duration::hours(12), day + Duration::hours(24)),
    ] {
        let off = plain.window(&format!("/v2/sites/{BERLIN}/inverters/telemetry"), "", a, b);
        let on = sim.window(&format!("/v2/sites/{BERLIN}/inverters/telemetry"), "", a, b);
        for inv in [INV_1, INV_2] {
            assert_eq!(keys(&off["inverters"][inv]), five);
            assert_eq!(keys(&on["inverters"][inv]), seven);
            // The five documented series are untouched.
            for name in &five {
                assert_eq!(on["inverters"][inv][name], off["inverters"][inv][name]);
            }
            let cp = &on["inverters"][inv]["consumedAcPower"];
            let ce = &on["inverters"][inv]["consumedAcEnergy"];
            assert_eq!(cp["unit"], "W");
            assert_eq!(ce["unit"], "WH");
            assert_eq!(cp["resolution"], "QUARTER_HOUR");
            // Start-stamped, on the instants of power.
            let power = stamps(arr(&on["inverters"][inv]["power"]["values"]));
            assert_eq!(stamps(arr(&cp["values"])), power);
            assert_eq!(stamps(arr(&ce["values"])), power);
            let produced = nums(arr(&on["inverters"][inv]["energy"]["values"]));
            let (cp, ce) = (nums(arr(&cp["values"])), nums(arr(&ce["values"])));
            for k in 0..produced.len() {
                let (w, wh) = (cp[k].unwrap(), ce[k].unwrap());
                close(w, wh * 4.0, 1e-6, "power = 4 x quarter-hour energy");
                match produced[k] {
                    // Producing: it feeds itself.
                    Some(p) if p > 0.0 => assert_eq!(w, 0.0, "{inv} {k}"),
                    // Asleep at night or awake without output: a few watts from the grid.
                    _ => assert!((3.0..=5.0).contains(&w), "{inv} {k}: {w} W"),
                }
            }
        }
    }
    // Energies at every resolution but TOTAL, power at QUARTER_HOUR and HOUR only; a day
    // is the sum of its quarter-hours.
    let days = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?resolution=DAY&from=2026-11-20T00:00:00&to=2026-11-21T00:00:00"
    ));
    assert_eq!(
        keys(&days["inverters"][INV_1]),
        set(&["energy", "consumedAcEnergy"])
    );
    let qh = sim.values_windowed(
        &format!("/v2/sites/{BERLIN}/inverters/{INV_1}/consumed-ac-energy"),
        "",
        day,
        day + Duration::days(1),
        Duration::hours(12),
    );
    assert_eq!(qh.len(), 96);
    close(
        days["inverters"][INV_1]["consumedAcEnergy"]["values"][0]["value"]
            .as_f64()
            .unwrap(),
        sum(&qh),
        1e-6,
        "day = sum of quarter-hours",
    );
    let total = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?resolution=TOTAL&from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
    ));
    assert_eq!(keys(&total["inverters"][INV_1]), set(&["energy"]));

    // The per-metric paths exist only with the option, and equal the bulk series.
    let w = "from=2026-11-25T06:00:00&to=2026-11-25T18:00:00";
    let bulk = sim.ok(&format!("/v2/sites/{BERLIN}/inverters/telemetry?{w}"));
    for (path, name, unit) in [
        ("consumed-ac-power", "consumedAcPower", "W"),
        ("consumed-ac-energy", "consumedAcEnergy", "WH"),
    ] {
        let v = sim.ok(&format!("/v2/sites/{BERLIN}/inverters/{INV_2}/{path}?{w}"));
        assert_eq!(v["unit"], unit);
        assert_eq!(v["values"], bulk["inverters"][INV_2][name]["values"]);
        plain
            .get(&format!("/v2/sites/{BERLIN}/inverters/{INV_2}/{path}?{w}"))
            .problem(404);
    }

    // The running quarter-hour is null like every other series; a site that never
    // communicated has the series but no values.
    sim.set_now(t0() + Duration::minutes(7));
    let today = sim.ok(&format!("/v2/sites/{BERLIN}/inverters/telemetry"));
    for name in ["consumedAcPower", "consumedAcEnergy"] {
        let v = arr(&today["inverters"][INV_1][name]["values"]);
        let last = v.last().unwrap();
        assert_eq!(last["timestamp"], "2026-11-26T13:00:00+01:00");
        assert!(last["value"].is_null(), "{name}");
        assert!(v[0]["value"].as_f64().is_some(), "{name}: midnight draw");
    }
    let lisbon = sim.ok(&format!("/v2/sites/{LISBON}/inverters/telemetry"));
    let inv = &lisbon["inverters"]["7E4D0005-5F"];
    assert_eq!(keys(inv), seven);
    assert!(arr(&inv["consumedAcEnergy"]["values"]).is_empty());

    // The truth has the two series when they are served, and only then.
    let (a, b) = (day, day + Duration::hours(12));
    assert_eq!(
        assert_inverter_truth(&sim, BERLIN, "QUARTER_HOUR", a, b),
        seven
    );
    assert_eq!(
        assert_inverter_truth(&plain, BERLIN, "QUARTER_HOUR", a, b),
        five
    );
    assert_eq!(
        assert_inverter_truth(&sim, DENVER, "HOUR", a, a + Duration::hours(24)),
        seven
    );
}
