//! Every resolution, operation and the ground truth tell the same story (README
//! "Consistency"): sums across resolutions, power vs energy, inverters vs site, the meter
//! balance behind the overview, and `/_sim/truth` vs the API.

use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// October 2026 in Berlin: settled (ended weeks before now) and containing the autumn
/// change, so the month is 31 days and one hour long.
fn october() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        midnight(date(2026, 10, 1), berlin()),
        midnight(date(2026, 11, 1), berlin()),
    )
}

#[test]
fn a_settled_month_sums_the_same_at_every_resolution() {
    let sim = Sim::default();
    let (a, b) = october();
    let path = format!("/v2/sites/{BERLIN}/energy");
    let qh = sim.values_windowed(&path, "", a, b, Duration::hours(12));
    assert_eq!(qh.len(), 31 * 96 + 4);
    assert!(qh
        .iter()
        .all(|v| v["value"].is_null() || v["value"].as_f64().unwrap() >= 0.0));
    let qh_sum = sum(&qh);
    assert!(qh_sum > 100_000.0, "a 9.8 kWp October: {qh_sum} Wh");

    let hours = sim.values_windowed(&path, "resolution=HOUR", a, b, Duration::hours(24));
    assert_eq!(hours.len(), 31 * 24 + 1);
    // Every hour is the sum of its quarter-hours.
    let mut i = 0;
    for h in &hours {
        let start = ts(h["timestamp"].as_str().unwrap());
        let mut s = 0.0;
        let mut any = false;
        while i < qh.len() && ts(qh[i]["timestamp"].as_str().unwrap()) < start + Duration::hours(1)
        {
            if let Some(v) = qh[i]["value"].as_f64() {
                s += v;
                any = true;
            }
            i += 1;
        }
        match h["value"].as_f64() {
            Some(v) => close(v, s, 1e-6, "hour = Σ its quarter-hours"),
            None => assert!(!any, "{h}"),
        }
    }

    // One call each: a calendar month of days, the month, the year bucket, the total.
    let days = sim.window(&path, "resolution=DAY", a, b);
    let days = arr(&days["values"]).clone();
    assert_eq!(days.len(), 31);
    let month = sim.window(&path, "resolution=MONTH", a, b);
    assert_eq!(arr(&month["values"]).len(), 1);
    assert_eq!(month["values"][0]["timestamp"], "2026-10-01T00:00:00+02:00");
    let total = sim.window(&path, "resolution=TOTAL", a, b);
    assert_eq!(arr(&total["values"]).len(), 1);
    for (what, v) in [
        ("HOUR", sum(&hours)),
        ("DAY", sum(&days)),
        ("MONTH", month["values"][0]["value"].as_f64().unwrap()),
        ("TOTAL", total["values"][0]["value"].as_f64().unwrap()),
    ] {
        close(v, qh_sum, 1e-6, what);
    }

    // WEEK buckets over whole weeks (Mon 2026-10-05 .. Mon 2026-11-02) equal their days.
    let wa = midnight(date(2026, 10, 5), berlin());
    let wb = midnight(date(2026, 11, 2), berlin());
    let weeks = sim.window(&path, "resolution=WEEK", wa, wb);
    assert_eq!(arr(&weeks["values"]).len(), 4);
    let wdays = sim.window(&path, "resolution=DAY", wa, wb);
    close(
        sum(arr(&weeks["values"])),
        sum(arr(&wdays["values"])),
        1e-6,
        "WEEK",
    );

    // The YEAR bucket of the last full year is the sum of its months, and of its days;
    // this year's bucket holds what has arrived so far.
    let ya = midnight(date(2025, 1, 1), berlin());
    let yb = midnight(date(2026, 1, 1), berlin());
    let year = sim.window(&path, "resolution=YEAR", ya, yb);
    assert_eq!(arr(&year["values"]).len(), 1);
    assert_eq!(year["values"][0]["timestamp"], "2025-01-01T00:00:00+01:00");
    let months = sim.window(&path, "resolution=MONTH", ya, yb);
    assert_eq!(arr(&months["values"]).len(), 12);
    let y = year["values"][0]["value"].as_f64().unwrap();
    close(sum(arr(&months["values"])), y, 1e-5, "YEAR = Σ MONTH");
    let mut days_sum = 0.0;
    let mut m = date(2025, 1, 1);
    while m < date(2026, 1, 1) {
        let next = m.checked_add_months(chrono::Months::new(1)).unwrap();
        let d = sim.window(
            &path,
            "resolution=DAY",
            midnight(m, berlin()),
            midnight(next, berlin()),
        );
        days_sum += sum(arr(&d["values"]));
        m = next;
    }
    close(days_sum, y, 1e-5, "YEAR = Σ DAY");
    let this_year = sim.window(&path, "resolution=YEAR", yb, t0());
    let months = sim.window(&path, "resolution=MONTH", yb, t0());
    assert_eq!(arr(&months["values"]).len(), 11);
    close(
        this_year["values"][0]["value"].as_f64().unwrap(),
        sum(arr(&months["values"])),
        1e-5,
        "this year so far",
    );
    // TOTAL since installation = Σ YEAR buckets = lifetime-energy.
    let all_years = sim.window(
        &path,
        "resolution=YEAR",
        midnight(date(2020, 1, 1), berlin()),
        t0(),
    );
    assert_eq!(
        arr(&all_years["values"]).len(),
        4,
        "2023 (installation) to 2026"
    );
    let total = sim.window(
        &path,
        "resolution=TOTAL",
        midnight(date(2020, 1, 1), berlin()),
        t0(),
    );
    close(
        total["values"][0]["value"].as_f64().unwrap(),
        sum(arr(&all_years["values"])),
        1e-4,
        "TOTAL = Σ YEAR",
    );
    let life = sim.ok(&format!("/v2/sites/{BERLIN}/lifetime-energy"));
    close(
        life["energy"].as_f64().unwrap(),
        total["values"][0]["value"].as_f64().unwrap(),
        1e-4,
        "lifetime",
    );
}

#[test]
fn total_period_is_the_span_actually_covered() {
    // Reference §7.4 / §10: `energy?resolution=TOTAL&from=2000-01-01…` → `period` is the
    // V1 dataPeriod replacement.
    let sim = Sim::default();
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?resolution=TOTAL&from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
    ));
    assert_eq!(v["period"]["from"], "2023-11-22T00:00:00+01:00");
    assert_eq!(v["period"]["to"], "2026-11-26T13:00:00.000000000+01:00");
    assert_eq!(v["values"][0]["timestamp"], "2023-11-22T00:00:00+01:00");
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?resolution=TOTAL&from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
    ));
    assert_eq!(v["period"]["from"], "2023-11-22T00:00:00+01:00");
    let a = v["inverters"]["7E1A0001-1B"]["energy"]["values"][0]["value"]
        .as_f64()
        .unwrap();
    let b = v["inverters"]["7E1A0002-2C"]["energy"]["values"][0]["value"]
        .as_f64()
        .unwrap();
    let life = sim.ok(&format!("/v2/sites/{BERLIN}/lifetime-energy"));
    close(
        a + b,
        life["energy"].as_f64().unwrap(),
        1e-3,
        "inverter lifetimes",
    );
    // A window entirely before installation, or entirely in the future: no bucket, and the
    // period is the window asked for.
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?resolution=TOTAL&from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z"
    ));
    assert!(arr(&v["values"]).is_empty(), "{v}");
    assert_eq!(v["period"]["from"], "2020-01-01T01:00:00+01:00");
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?resolution=TOTAL&from=2027-01-01T00:00:00Z&to=2028-01-01T00:00:00Z"
    ));
    assert!(arr(&v["values"]).is_empty(), "{v}");
    // A window of the past: `to` is echoed, the value is that window's energy.
    let (a, b) = october();
    let v = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=TOTAL",
        a,
        b,
    );
    assert_eq!(v["period"]["from"], "2026-10-01T00:00:00+02:00");
    assert_eq!(v["period"]["to"], "2026-11-01T00:00:00+01:00");
    // The pending site has no data: no bucket.
    let v = sim.ok(&format!(
        "/v2/sites/{LISBON}/energy?resolution=TOTAL&from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
    ));
    assert!(arr(&v["values"]).is_empty());
}

#[test]
fn power_is_four_times_quarter_hour_energy() {
    let sim = Sim::default();
    let (a, _) = october();
    let b = a + Duration::days(3);
    let e = sim.values_windowed(
        &format!("/v2/sites/{BERLIN}/energy"),
        "",
        a,
        b,
        Duration::hours(12),
    );
    let p = sim.values_windowed(
        &format!("/v2/sites/{BERLIN}/power"),
        "",
        a,
        b,
        Duration::hours(12),
    );
    assert_eq!(stamps(&e), stamps(&p));
    for (e, p) in nums(&e).iter().zip(nums(&p)) {
        match (e, p) {
            (Some(e), Some(p)) => close(p, e * 4.0, 1e-6, "W = 4 × Wh"),
            (None, None) => {}
            other => panic!("{other:?}"),
        }
    }
    // HOUR power is the mean of its quarter-hours.
    let ph = sim.values_windowed(
        &format!("/v2/sites/{BERLIN}/power"),
        "resolution=HOUR",
        a,
        b,
        Duration::hours(24),
    );
    let pq = nums(&p);
    for (k, h) in nums(&ph).iter().enumerate() {
        let q: Vec<f64> = pq[4 * k..4 * k + 4].iter().flatten().copied().collect();
        match h {
            Some(h) => close(
                *h,
                q.iter().sum::<f64>() / q.len() as f64,
                1e-6,
                "hour mean",
            ),
            None => assert!(q.is_empty()),
        }
    }
}

#[test]
fn inverters_add_up_to_the_site() {
    let sim = Sim::default();
    let (a, b) = october();
    let site = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=DAY",
        a,
        b,
    );
    let inv = sim.window(
        &format!("/v2/sites/{BERLIN}/inverters/telemetry"),
        "resolution=DAY",
        a,
        b,
    );
    let one = nums(arr(&inv["inverters"]["7E1A0001-1B"]["energy"]["values"]));
    let two = nums(arr(&inv["inverters"]["7E1A0002-2C"]["energy"]["values"]));
    let s = nums(arr(&site["values"]));
    assert_eq!(s.len(), 31);
    for k in 0..31 {
        close(
            one[k].unwrap() + two[k].unwrap(),
            s[k].unwrap(),
            1e-6,
            "day",
        );
        // Shares 0.55 / 0.45.
        close(one[k].unwrap() / s[k].unwrap(), 0.55, 1e-3, "share");
    }
    // And at quarter-hours, power included.
    let qa = midnight(date(2026, 10, 10), berlin()) + Duration::hours(8);
    let qb = qa + Duration::hours(8);
    let site = sim.window(&format!("/v2/sites/{BERLIN}/power"), "", qa, qb);
    let inv = sim.window(
        &format!("/v2/sites/{BERLIN}/inverters/telemetry"),
        "",
        qa,
        qb,
    );
    let one = nums(arr(&inv["inverters"]["7E1A0001-1B"]["power"]["values"]));
    let two = nums(arr(&inv["inverters"]["7E1A0002-2C"]["power"]["values"]));
    for (k, p) in nums(arr(&site["values"])).iter().enumerate() {
        if let Some(p) = p {
            // Inverter power is in kW.
            close(
                (one[k].unwrap() + two[k].unwrap()) * 1000.0,
                *p,
                1e-3,
                "power",
            );
        }
    }
    // Denver's single inverter is the site (its own October, in Denver time).
    let denver = tz("America/Denver");
    let (a, b) = (
        midnight(date(2026, 10, 1), denver),
        midnight(date(2026, 11, 1), denver),
    );
    let site = sim.window(
        &format!("/v2/sites/{DENVER}/energy"),
        "resolution=DAY",
        a,
        b,
    );
    let inv = sim.window(
        &format!("/v2/sites/{DENVER}/inverters/telemetry"),
        "resolution=DAY",
        a,
        b,
    );
    assert_eq!(
        nums(arr(&site["values"])),
        nums(arr(&inv["inverters"]["7E3C0004-4E"]["energy"]["values"]))
    );
}

fn wh(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn meter_balance_and_overview_of_a_past_day() {
    let sim = Sim::default();
    for day in [date(2026, 6, 21), date(2026, 10, 25), date(2026, 11, 20)] {
        let a = midnight(day, berlin());
        let b = midnight(day.succ_opt().unwrap(), berlin());
        let o = sim.window(&format!("/v2/sites/{BERLIN}/overview"), "", a, b);
        let p = &o["production"];
        let c = &o["consumption"];
        // Production in kWh, consumption in Wh.
        let prod = wh(&p["total"]) * 1000.0;
        close(
            prod,
            (wh(&p["toSelfConsumption"]) + wh(&p["toStorage"]) + wh(&p["toGrid"])) * 1000.0,
            1e-3,
            "production = self + storage + grid",
        );
        close(
            wh(&c["total"]),
            wh(&c["fromPv"]) + wh(&c["fromStorage"]) + wh(&c["fromGrid"]),
            1e-3,
            "consumption = pv + storage + grid",
        );
        close(
            wh(&p["toSelfConsumption"]) * 1000.0,
            wh(&c["fromPv"]),
            1e-3,
            "self-consumption",
        );

        // The overview of a past day is that day's DAY bucket.
        let d = sim.window(
            &format!("/v2/sites/{BERLIN}/energy"),
            "resolution=DAY",
            a,
            b,
        );
        assert_eq!(arr(&d["values"]).len(), 1);
        close(prod, wh(&d["values"][0]["value"]), 1e-3, "overview = DAY");

        // Meters agree with the overview.
        let m = sim.window(
            &format!("/v2/sites/{BERLIN}/meters/telemetry"),
            "resolution=DAY",
            a,
            b,
        );
        let m = &m["meters"];
        let day_val = |key: &str, series: &str| wh(&m[key][series]["values"][0]["value"]);
        close(
            day_val("MTR-P-60611", "productionEnergy"),
            prod,
            1e-3,
            "production meter",
        );
        close(
            day_val("5118719", "exportEnergy"),
            wh(&p["toGrid"]) * 1000.0,
            1e-3,
            "export",
        );
        close(
            day_val("5118719", "importEnergy"),
            wh(&c["fromGrid"]),
            1e-3,
            "import",
        );
        close(
            day_val("Consumption Meter", "consumptionEnergy"),
            wh(&c["total"]),
            1e-3,
            "load",
        );
        // Battery energies agree with the storage breakdown.
        let s = sim.window(
            &format!("/v2/sites/{BERLIN}/storage/telemetry"),
            "resolution=DAY",
            a,
            b,
        );
        let bat = &s["storage"]["BAT-4F00A1"];
        close(
            wh(&bat["chargeEnergy"]["values"][0]["value"]),
            wh(&p["toStorage"]) * 1000.0,
            1e-3,
            "charge",
        );
        close(
            wh(&bat["dischargeEnergy"]["values"][0]["value"]),
            wh(&c["fromStorage"]),
            1e-3,
            "discharge",
        );
    }
    // The same balance holds in every quarter-hour (through the meters).
    let a = midnight(date(2026, 6, 21), berlin()) + Duration::hours(6);
    let b = a + Duration::hours(12);
    let m = sim.window(&format!("/v2/sites/{BERLIN}/meters/telemetry"), "", a, b);
    let s = sim.window(&format!("/v2/sites/{BERLIN}/storage/telemetry"), "", a, b);
    let col = |v: &Value| nums(arr(&v["values"]));
    let prod = col(&m["meters"]["MTR-P-60611"]["productionEnergy"]);
    let load = col(&m["meters"]["Consumption Meter"]["consumptionEnergy"]);
    let exp = col(&m["meters"]["5118719"]["exportEnergy"]);
    let imp = col(&m["meters"]["5118719"]["importEnergy"]);
    let ch = col(&s["storage"]["BAT-4F00A1"]["chargeEnergy"]);
    let dis = col(&s["storage"]["BAT-4F00A1"]["dischargeEnergy"]);
    for k in 0..prod.len() {
        // production − export − charge = self-use = load − import − discharge
        let self_a = prod[k].unwrap() - exp[k].unwrap() - ch[k].unwrap();
        let self_b = load[k].unwrap() - imp[k].unwrap() - dis[k].unwrap();
        close(self_a, self_b, 1e-3, "quarter-hour balance");
        assert!(self_a >= -1e-6);
    }
}

#[test]
fn truth_equals_the_api() {
    let sim = Sim::default();
    let a = midnight(date(2026, 11, 20), berlin()) + Duration::hours(6);
    let b = a + Duration::hours(12);
    let params = format!("from={}&to={}", q(&z(a)), q(&z(b)));

    // Site energy at QUARTER_HOUR.
    let truth = sim.get_h(
        &format!("/_sim/truth?site={BERLIN}&family=energy&resolution=QUARTER_HOUR&{params}"),
        &[],
    );
    assert_eq!(truth.status, 200, "{}", truth.text());
    let truth = truth.json();
    let rows = arr(&truth["rows"]);
    let api = sim.window(&format!("/v2/sites/{BERLIN}/energy"), "", a, b);
    let values = arr(&api["values"]);
    assert_eq!(rows.len(), values.len());
    for (r, v) in rows.iter().zip(values) {
        let stamp = ts(v["timestamp"].as_str().unwrap());
        assert_eq!(ts(r["ts_utc"].as_str().unwrap()), stamp);
        assert!(r["ts_utc"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r["utc_offset_min"], 60);
        assert_eq!(r["value"], v["value"], "{r}");
        assert_eq!(r["metric"], "energy");
        assert_eq!(r["resolution"], "QUARTER_HOUR");
    }

    // Meters at DAY over a week: every (key, metric) series equal, in W/Wh.
    let wa = midnight(date(2026, 11, 1), berlin());
    let wb = midnight(date(2026, 11, 8), berlin());
    let p = format!("from={}&to={}", q(&z(wa)), q(&z(wb)));
    for (family, field) in [
        ("meters", "meters"),
        ("storage", "storage"),
        ("inverters", "inverters"),
    ] {
        let res = if family == "inverters" { "HOUR" } else { "DAY" };
        let (fa, fb) = if family == "inverters" {
            (wa, wa + Duration::hours(24))
        } else {
            (wa, wb)
        };
        let pp = if family == "inverters" {
            format!("from={}&to={}", q(&z(fa)), q(&z(fb)))
        } else {
            p.clone()
        };
        let truth = sim.get_h(
            &format!("/_sim/truth?site={BERLIN}&family={family}&resolution={res}&{pp}"),
            &[],
        );
        assert_eq!(truth.status, 200, "{}", truth.text());
        let truth = truth.json();
        let api = sim.window(
            &format!("/v2/sites/{BERLIN}/{family}/telemetry"),
            &format!("resolution={res}"),
            fa,
            fb,
        );
        let mut n = 0;
        for (key, series) in api[field].as_object().unwrap() {
            for (metric, s) in series.as_object().unwrap() {
                let unit = s["unit"].as_str().unwrap();
                let factor = match unit {
                    "KW" | "KWH" => 1000.0,
                    _ => 1.0,
                };
                let want: Vec<&Value> = arr(&truth["rows"])
                    .iter()
                    .filter(|r| r["device_key"] == key.as_str() && r["metric"] == metric.as_str())
                    .collect();
                let got = arr(&s["values"]);
                assert_eq!(want.len(), got.len(), "{family} {key} {metric}");
                for (w, g) in want.iter().zip(got) {
                    assert_eq!(
                        ts(w["ts_utc"].as_str().unwrap()),
                        ts(g["timestamp"].as_str().unwrap())
                    );
                    match (w["value"].as_f64(), g["value"].as_f64()) {
                        (Some(w), Some(g)) => {
                            close(w, g * factor, 1e-3, &format!("{key} {metric}"))
                        }
                        (None, None) => {}
                        other => panic!("{family} {key} {metric}: {other:?}"),
                    }
                    n += 1;
                }
            }
        }
        assert!(n > 0, "{family}");
    }

    // Overview per local day and alerts.
    let truth = sim
        .get_h(
            &format!("/_sim/truth?site={BERLIN}&family=overview&{p}"),
            &[],
        )
        .json();
    let rows = arr(&truth["rows"]);
    assert_eq!(rows.len(), 7);
    let o = sim.window(
        &format!("/v2/sites/{BERLIN}/overview"),
        "",
        wa,
        wa + Duration::days(1),
    );
    assert_eq!(rows[0]["local_date"], "2026-11-01");
    assert_eq!(rows[0]["production"], o["production"]);
    assert_eq!(rows[0]["consumption"], o["consumption"]);
    let truth = sim
        .get_h(&format!("/_sim/truth?site={BERLIN}&family=alerts"), &[])
        .json();
    let api = sim.ok(&format!("/v2/sites/{BERLIN}/alerts?alerts-in-page=100"));
    assert_eq!(&truth["rows"], &api);
    let truth = sim
        .get_h(&format!("/_sim/truth?site={BERLIN}&family=benefits"), &[])
        .json();
    let api = sim.ok(&format!("/v2/sites/{BERLIN}/environmental-benefits"));
    close(
        wh(&truth["rows"][0]["co2_kg"]),
        wh(&api["co2Emissions"]),
        1e-6,
        "co2",
    );

    // As of an earlier time, the truth has the late buckets missing.
    let truth = sim
        .get_h(
            &format!(
                "/_sim/truth?site={BERLIN}&family=energy&from={}&to={}&as_of={}",
                q(&z(t0() - Duration::hours(2))),
                q(&z(t0())),
                q(&z(t0()))
            ),
            &[],
        )
        .json();
    let api = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "",
        t0() - Duration::hours(2),
        t0(),
    );
    let tv: Vec<&Value> = arr(&truth["rows"]).iter().map(|r| &r["value"]).collect();
    let av: Vec<&Value> = arr(&api["values"]).iter().map(|v| &v["value"]).collect();
    assert_eq!(tv, av);
    assert!(tv.last().unwrap().is_null());

    // Truth calls cost nothing.
    let stats = sim.stats();
    assert!(stats["by_path"]
        .as_object()
        .unwrap()
        .keys()
        .all(|k| k.starts_with("/v2/")));
}
