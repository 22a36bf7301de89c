//! Every operation's shape against the reference §8, plus the gateway behaviour of §3–§6
//! (auth errors, problem+json, 404, 410, rate-limit headers).

use crate::support::*;
use seh_sim::app::{SitesCount, SitesShape, SoeScale};
use serde_json::Value;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(String::from).collect()
}

#[test]
fn sites_wrapped_with_total_count_and_paging() {
    let sim = Sim::default();
    let v = sim.ok("/v2/sites");
    assert_eq!(keys(&v), ["sites"]);
    assert_eq!(keys(&v["sites"]), ["count", "site"]);
    assert_eq!(v["sites"]["count"], 4);
    let sites = arr(&v["sites"]["site"]);
    assert_eq!(sites.len(), 4);
    let s = &sites[0];
    assert_eq!(
        keys(s),
        sorted(vec![
            "siteId",
            "name",
            "peakPower",
            "installationDate",
            "location",
            "activationStatus",
            "note"
        ])
    );
    assert_eq!(s["siteId"], BERLIN);
    assert_eq!(s["peakPower"], 9.8);
    // The site list's installationDate is UTC with Z (2023 doc D01).
    assert!(s["installationDate"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        keys(&s["location"]),
        sorted(vec!["address", "city", "state", "zip", "country"])
    );
    let statuses: Vec<&str> = sites
        .iter()
        .map(|s| s["activationStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ACTIVE", "ACTIVE", "ACTIVE", "PENDING"]);

    // Paging: count stays the total; pages are disjoint; a page past the end is empty.
    let p1 = sim.ok("/v2/sites?page=1&sites-in-page=2");
    let p2 = sim.ok("/v2/sites?page=2&sites-in-page=2");
    let p3 = sim.ok("/v2/sites?page=3&sites-in-page=2");
    assert_eq!(p1["sites"]["count"], 4);
    assert_eq!(p2["sites"]["count"], 4);
    let ids = |p: &Value| -> Vec<i64> {
        arr(&p["sites"]["site"])
            .iter()
            .map(|s| s["siteId"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&p1), [BERLIN, SYDNEY]);
    assert_eq!(ids(&p2), [DENVER, LISBON]);
    assert!(ids(&p3).is_empty());

    // Limits: 1..=1000 per page, pages from 1.
    assert!(sim.ok("/v2/sites?sites-in-page=1000")["sites"]["count"] == 4);
    sim.get("/v2/sites?sites-in-page=1001").problem(400);
    sim.get("/v2/sites?sites-in-page=0").problem(400);
    sim.get("/v2/sites?page=0").problem(400);
    sim.get("/v2/sites?page=x").problem(400);
    // A huge page is just past the end.
    let v = sim.ok(&format!("/v2/sites?page={}&sites-in-page=1000", i64::MAX));
    assert_eq!(v["sites"]["site"], serde_json::json!([]));
}

#[test]
fn sites_count_per_page_and_bare_shape() {
    let mut o = options();
    o.sites_count = SitesCount::Page;
    let sim = Sim::start(o);
    let p2 = sim.ok("/v2/sites?page=2&sites-in-page=3");
    assert_eq!(p2["sites"]["count"], 1);
    assert_eq!(arr(&p2["sites"]["site"]).len(), 1);

    let mut o = options();
    o.sites_shape = SitesShape::Bare;
    let sim = Sim::start(o);
    let v = sim.ok("/v2/sites");
    assert_eq!(arr(&v).len(), 4);
    assert_eq!(v[0]["siteId"], BERLIN);
    let v = sim.ok("/v2/sites?page=2&sites-in-page=3");
    assert_eq!(arr(&v).len(), 1);
    assert_eq!(v[0]["siteId"], LISBON);
}

#[test]
fn site_details_fields_timezone_and_offsets() {
    let sim = Sim::default();
    let v = sim.ok(&format!("/v2/sites/{BERLIN}"));
    assert_eq!(
        keys(&v),
        sorted(vec![
            "siteId",
            "name",
            "accountId",
            "peakPower",
            "installationDate",
            "lastUpdateTime",
            "location",
            "activationStatus",
            "note"
        ])
    );
    assert_eq!(v["siteId"], BERLIN);
    assert_eq!(v["accountId"], 10001);
    assert_eq!(v["location"]["timezone"], "Europe/Berlin");
    assert_eq!(
        keys(&v["location"]),
        sorted(vec![
            "address", "city", "state", "zip", "country", "timezone"
        ])
    );
    // 1,100 days before 2026-11-26: local midnight of 2023-11-22, winter time.
    assert_eq!(v["installationDate"], "2023-11-22T00:00:00+01:00");
    let last = v["lastUpdateTime"].as_str().unwrap();
    assert!(last.ends_with("+01:00"), "{last}");
    assert!(
        ts(last) <= t0() && ts(last) > t0() - chrono::Duration::hours(2),
        "{last}"
    );

    // Sydney was installed 400 days earlier, in summer time (+11:00).
    let v = sim.ok(&format!("/v2/sites/{SYDNEY}"));
    assert_eq!(v["location"]["timezone"], "Australia/Sydney");
    assert_eq!(v["installationDate"], "2025-10-22T00:00:00+11:00");
    let v = sim.ok(&format!("/v2/sites/{DENVER}"));
    assert_eq!(v["location"]["timezone"], "America/Denver");
    assert!(v["installationDate"].as_str().unwrap().ends_with("-07:00"));

    // The pending site never communicated.
    let v = sim.ok(&format!("/v2/sites/{LISBON}"));
    assert_eq!(v["activationStatus"], "PENDING");
    assert!(v["lastUpdateTime"].is_null());

    // An unknown site or a non-numeric id is refused.
    sim.get("/v2/sites/999").problem(403);
    sim.get("/v2/sites/abc").problem(400);
}

#[test]
fn energy_and_power_envelopes_default_window_and_units() {
    let sim = Sim::default();
    // Exactly on a quarter-hour, the bucket starting now is not yet there.
    let e = sim.ok(&format!("/v2/sites/{BERLIN}/energy"));
    assert_eq!(arr(&e["values"]).len(), 52);
    assert_eq!(e["values"][51]["timestamp"], "2026-11-26T12:45:00+01:00");

    sim.advance(chrono::Duration::minutes(5));
    let e = sim.ok(&format!("/v2/sites/{BERLIN}/energy"));
    assert_eq!(
        keys(&e),
        sorted(vec!["period", "unit", "resolution", "values"])
    );
    assert_eq!(e["unit"], "WH");
    assert_eq!(e["resolution"], "QUARTER_HOUR");
    // Today from local midnight; `to` is now with nine fraction digits.
    assert_eq!(e["period"]["from"], "2026-11-26T00:00:00+01:00");
    assert_eq!(e["period"]["to"], "2026-11-26T13:05:00.000000000+01:00");
    let values = arr(&e["values"]);
    // 00:00 … 13:05 local: 52 closed quarter-hours plus the one running.
    assert_eq!(values.len(), 53);
    assert_eq!(values[0]["timestamp"], "2026-11-26T00:00:00+01:00");
    assert_eq!(values[52]["timestamp"], "2026-11-26T13:00:00+01:00");
    assert!(values[52]["value"].is_null());
    for v in values {
        assert_eq!(keys(v), ["timestamp", "value"]);
    }

    let kwh = sim.ok(&format!("/v2/sites/{BERLIN}/energy?unit=KWH"));
    assert_eq!(kwh["unit"], "KWH");
    for (a, b) in arr(&e["values"]).iter().zip(arr(&kwh["values"])) {
        match (a["value"].as_f64(), b["value"].as_f64()) {
            (Some(wh), Some(k)) => close(wh / 1000.0, k, 1e-6, "KWH"),
            (None, None) => {}
            other => panic!("{other:?}"),
        }
    }

    let p = sim.ok(&format!("/v2/sites/{BERLIN}/power"));
    assert_eq!(p["unit"], "W");
    assert_eq!(p["resolution"], "QUARTER_HOUR");
    assert_eq!(p["period"], e["period"]);
    let kw = sim.ok(&format!("/v2/sites/{BERLIN}/power?unit=KW"));
    assert_eq!(kw["unit"], "KW");
    let w = nums(arr(&p["values"]));
    let k = nums(arr(&kw["values"]));
    assert!(
        w.iter().any(|v| v.unwrap_or(0.0) > 0.0),
        "some daylight by 13:00"
    );
    for (w, k) in w.iter().zip(&k) {
        assert_eq!(w.is_some(), k.is_some());
        if let (Some(w), Some(k)) = (w, k) {
            close(w / 1000.0, *k, 1e-6, "KW");
        }
    }

    // HOUR and DAY defaults are today as well.
    let h = sim.ok(&format!("/v2/sites/{BERLIN}/energy?resolution=HOUR"));
    assert_eq!(arr(&h["values"]).len(), 14);
    let d = sim.ok(&format!("/v2/sites/{BERLIN}/energy?resolution=DAY"));
    assert_eq!(arr(&d["values"]).len(), 1);
    assert_eq!(d["values"][0]["timestamp"], "2026-11-26T00:00:00+01:00");
    // The running day holds what has arrived so far: the closed quarter-hours.
    let arrived: f64 = nums(values).iter().flatten().sum();
    close(
        d["values"][0]["value"].as_f64().unwrap(),
        arrived,
        1e-6,
        "today",
    );
    let hours = nums(arr(&h["values"]));
    assert!(
        hours[13].is_none(),
        "13:00 hour: only the running quarter so far"
    );
    close(hours.iter().flatten().sum(), arrived, 1e-6, "hours");

    // Bad parameters.
    sim.get(&format!("/v2/sites/{BERLIN}/energy?unit=BTU"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/energy?unit=KW"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/power?unit=KWH"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/energy?resolution=MINUTE"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/power?resolution=DAY"))
        .problem(400);

    // The pending site answers with empty series.
    let v = sim.ok(&format!("/v2/sites/{LISBON}/energy"));
    assert!(arr(&v["values"]).is_empty());
}

#[test]
fn overview_units_and_null_breakdowns() {
    let sim = Sim::default();
    let shape = |v: &Value| {
        assert_eq!(keys(v), ["consumption", "production", "siteId"]);
        assert_eq!(
            keys(&v["production"]),
            sorted(vec![
                "total",
                "unit",
                "toSelfConsumption",
                "toStorage",
                "toGrid"
            ])
        );
        assert_eq!(
            keys(&v["consumption"]),
            sorted(vec!["total", "unit", "fromPv", "fromStorage", "fromGrid"])
        );
        assert_eq!(v["production"]["unit"], "KWH");
        assert_eq!(v["consumption"]["unit"], "WH");
    };
    // Berlin: meters and a battery, everything filled.
    let v = sim.ok(&format!("/v2/sites/{BERLIN}/overview"));
    shape(&v);
    assert_eq!(v["siteId"], BERLIN);
    for k in ["total", "toSelfConsumption", "toStorage", "toGrid"] {
        assert!(v["production"][k].is_number(), "production.{k}: {v}");
    }
    for k in ["total", "fromPv", "fromStorage", "fromGrid"] {
        assert!(v["consumption"][k].is_number(), "consumption.{k}: {v}");
    }
    // The default window is today: production equals today's energy.
    let e = sim.ok(&format!("/v2/sites/{BERLIN}/energy?resolution=DAY"));
    close(
        v["production"]["total"].as_f64().unwrap() * 1000.0,
        e["values"][0]["value"].as_f64().unwrap(),
        1e-3,
        "overview = today's DAY bucket",
    );

    // Sydney: meters but no battery: storage fields null.
    let v = sim.ok(&format!("/v2/sites/{SYDNEY}/overview"));
    shape(&v);
    assert!(v["production"]["toStorage"].is_null());
    assert!(v["consumption"]["fromStorage"].is_null());
    assert!(v["production"]["toGrid"].is_number());
    assert!(v["consumption"]["fromGrid"].is_number());

    // Denver, the plain site: only production.total.
    let v = sim.ok(&format!("/v2/sites/{DENVER}/overview"));
    shape(&v);
    assert!(v["production"]["total"].is_number());
    for k in ["toSelfConsumption", "toStorage", "toGrid"] {
        assert!(v["production"][k].is_null(), "{k}");
    }
    for k in ["total", "fromPv", "fromStorage", "fromGrid"] {
        assert!(v["consumption"][k].is_null(), "{k}");
    }

    // Lisbon, pending: nothing at all.
    let v = sim.ok(&format!("/v2/sites/{LISBON}/overview"));
    shape(&v);
    assert!(v["production"]["total"].is_null());
    assert!(v["consumption"]["total"].is_null());
}

#[test]
fn environmental_benefits_metric_and_imperial() {
    let sim = Sim::default();
    let m = sim.ok(&format!("/v2/sites/{BERLIN}/environmental-benefits"));
    assert_eq!(keys(&m), ["co2Emissions", "evMiles", "unit"]);
    assert_eq!(m["unit"], "METRIC");
    let m2 = sim.ok(&format!(
        "/v2/sites/{BERLIN}/environmental-benefits?unit=METRIC"
    ));
    assert_eq!(m, m2);
    let i = sim.ok(&format!(
        "/v2/sites/{BERLIN}/environmental-benefits?unit=IMPERIAL"
    ));
    assert_eq!(i["unit"], "IMPERIAL");
    let kg = m["co2Emissions"].as_f64().unwrap();
    let km = m["evMiles"].as_f64().unwrap();
    assert!(kg > 1000.0, "three years of a 9.8 kWp site: {kg}");
    close(
        i["co2Emissions"].as_f64().unwrap(),
        kg * 2.204_62,
        1e-3,
        "lb",
    );
    close(
        i["evMiles"].as_f64().unwrap(),
        km / 1.609_344,
        1e-3,
        "miles",
    );
    // ≈ 0.392 kg per kWh of lifetime production.
    let life = sim.ok(&format!("/v2/sites/{BERLIN}/lifetime-energy"));
    close(
        kg,
        life["energy"].as_f64().unwrap() / 1000.0 * 0.392,
        1e-3,
        "kg per kWh",
    );
    sim.get(&format!(
        "/v2/sites/{BERLIN}/environmental-benefits?unit=SI"
    ))
    .problem(400);
}

#[test]
fn devices_default_types_repeated_keys_and_meter_quirks() {
    let sim = Sim::default();
    let v = sim.ok(&format!("/v2/sites/{BERLIN}/devices"));
    let d = arr(&v);
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| x["type"] == "INVERTER"));
    let inv = &d[0];
    for k in [
        "type",
        "serialNumber",
        "name",
        "manufacturer",
        "model",
        "partNumber",
        "firmwareVersion",
        "firmware",
        "createdAt",
        "connectedTo",
        "connectedToName",
        "active",
        "communicationType",
        "nameplate",
        "form",
        "connectedOptimizers",
    ] {
        assert!(inv.get(k).is_some(), "inverter lacks {k}: {inv}");
    }
    assert_eq!(inv["serialNumber"], "7E1A0001-1B");
    assert_eq!(inv["connectedOptimizers"], 14);
    // createdAt is offset-local, never Z.
    assert!(inv["createdAt"].as_str().unwrap().ends_with("+01:00"));

    let all = "types=INVERTER&types=BATTERY&types=BATTERY_MODULE&types=OPTIMIZER&types=METER&types=EV_CHARGER&types=BUI&types=GATEWAY";
    let mut seen = std::collections::BTreeSet::new();
    for site in [BERLIN, SYDNEY, DENVER, LISBON] {
        for d in arr(&sim.ok(&format!("/v2/sites/{site}/devices?{all}"))) {
            seen.insert(d["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        sorted(vec![
            "INVERTER",
            "BATTERY",
            "BATTERY_MODULE",
            "OPTIMIZER",
            "METER",
            "EV_CHARGER",
            "BUI",
            "GATEWAY"
        ])
    );

    let berlin = sim.ok(&format!("/v2/sites/{BERLIN}/devices?{all}"));
    let count = |t: &str| arr(&berlin).iter().filter(|d| d["type"] == t).count();
    assert_eq!(count("OPTIMIZER"), 25);
    assert_eq!(count("BATTERY_MODULE"), 2);
    assert_eq!(count("METER"), 5);
    // Optimizers hang off their inverter.
    assert!(arr(&berlin)
        .iter()
        .filter(|d| d["type"] == "OPTIMIZER")
        .all(|d| d["connectedTo"] == "7E1A0001-1B" || d["connectedTo"] == "7E1A0002-2C"));

    let meters = sim.ok(&format!("/v2/sites/{BERLIN}/devices?types=METER"));
    let meters = arr(&meters);
    assert_eq!(meters.len(), 5);
    assert!(meters
        .iter()
        .all(|m| m["type"] == "METER" && m["meterType"].is_string()));
    // A virtual meter has a null serial.
    assert!(meters.iter().any(|m| m["serialNumber"].is_null()));
    // Import and export share serial 5118719.
    let mut shared: Vec<&str> = meters
        .iter()
        .filter(|m| m["serialNumber"] == "5118719")
        .map(|m| m["meterType"].as_str().unwrap())
        .collect();
    shared.sort();
    assert_eq!(shared, ["FeedIn", "Purchased"]);

    // The array encoding is a repeated key; a comma-joined value is refused, as is an
    // unknown type.
    sim.get(&format!("/v2/sites/{BERLIN}/devices?types=INVERTER,METER"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/devices?types=SENSOR"))
        .problem(400);
}

#[test]
fn site_and_fleet_alerts() {
    let sim = Sim::default();
    let all = sim.ok(&format!("/v2/sites/{BERLIN}/alerts?alerts-in-page=100"));
    let all = arr(&all).clone();
    assert!(all.len() >= 10, "{}", all.len());
    let a = &all[0];
    assert_eq!(
        keys(a),
        sorted(vec![
            "alertId",
            "siteId",
            "type",
            "category",
            "impact",
            "status",
            "firstTrigger",
            "lastTrigger",
            "component",
            "errorCodes"
        ])
    );
    assert_eq!(keys(&a["component"]), ["name", "serialNumber"]);
    for a in &all {
        assert_eq!(a["siteId"], BERLIN);
        assert!(a["firstTrigger"].as_str().unwrap().ends_with('Z'));
        assert!(a["lastTrigger"].as_str().unwrap().ends_with('Z'));
        assert!(ts(a["firstTrigger"].as_str().unwrap()) <= t0());
        assert!(a["status"] == "OPEN" || a["status"] == "CLOSED");
        assert!(a["errorCodes"].is_array());
    }
    let open = sim.ok(&format!(
        "/v2/sites/{BERLIN}/alerts?only-open=true&alerts-in-page=100"
    ));
    assert!(arr(&open).iter().all(|a| a["status"] == "OPEN"));
    assert_eq!(
        arr(&open).len(),
        all.iter().filter(|a| a["status"] == "OPEN").count()
    );
    let not_only = sim.ok(&format!(
        "/v2/sites/{BERLIN}/alerts?only-open=false&alerts-in-page=100"
    ));
    assert_eq!(arr(&not_only), &all);

    // Paging.
    let p1 = sim.ok(&format!(
        "/v2/sites/{BERLIN}/alerts?alerts-in-page=3&page=1"
    ));
    let p2 = sim.ok(&format!(
        "/v2/sites/{BERLIN}/alerts?alerts-in-page=3&page=2"
    ));
    assert_eq!(arr(&p1)[..], all[0..3]);
    assert_eq!(arr(&p2)[..], all[3..6]);
    let past = sim.ok(&format!(
        "/v2/sites/{BERLIN}/alerts?alerts-in-page=100&page=9"
    ));
    assert_eq!(past, serde_json::json!([]));
    sim.get(&format!("/v2/sites/{BERLIN}/alerts?alerts-in-page=101"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/alerts?only-open=yes"))
        .problem(400);

    // A site without alerts answers a bare empty array.
    assert_eq!(
        sim.ok(&format!("/v2/sites/{LISBON}/alerts")),
        serde_json::json!([])
    );

    // Fleet alerts: a bare array across sites.
    let fleet = sim.ok("/v2/alerts?alerts-in-page=100");
    let fleet = arr(&fleet);
    let sites: std::collections::BTreeSet<i64> = fleet
        .iter()
        .map(|a| a["siteId"].as_i64().unwrap())
        .collect();
    assert!(sites.contains(&BERLIN) && sites.contains(&SYDNEY) && sites.contains(&DENVER));
    let f1 = sim.ok("/v2/alerts?alerts-in-page=5&page=2");
    assert_eq!(arr(&f1)[..], fleet[5..10]);
    let fo = sim.ok("/v2/alerts?only-open=true&alerts-in-page=100");
    assert!(arr(&fo).iter().all(|a| a["status"] == "OPEN"));
    sim.get("/v2/alerts?alerts-in-page=101").problem(400);
    let huge = sim.ok(&format!("/v2/alerts?alerts-in-page=100&page={}", i64::MAX));
    assert_eq!(huge, serde_json::json!([]));
}

#[test]
fn inverter_telemetry_bulk_shape_units_and_end_stamps() {
    let sim = Sim::default();
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?from=2026-11-25T08:00:00&to=2026-11-25T12:00:00"
    ));
    assert_eq!(keys(&v), ["inverters", "period", "resolution"]);
    assert_eq!(v["resolution"], "QUARTER_HOUR");
    assert_eq!(v["period"]["from"], "2026-11-25T08:00:00+01:00");
    assert_eq!(v["period"]["to"], "2026-11-25T12:00:00+01:00");
    assert_eq!(keys(&v["inverters"]), ["7E1A0001-1B", "7E1A0002-2C"]);
    let inv = &v["inverters"]["7E1A0001-1B"];
    assert_eq!(
        keys(inv),
        sorted(vec!["power", "energy", "voltage", "current", "frequency"])
    );
    let units = [
        ("power", "KW"),
        ("energy", "WH"),
        ("voltage", "VOLT"),
        ("current", "AMPERE"),
        ("frequency", "HERTZ"),
    ];
    for (name, unit) in units {
        assert_eq!(inv[name]["unit"], unit, "{name}");
        assert_eq!(inv[name]["resolution"], "QUARTER_HOUR");
        assert_eq!(arr(&inv[name]["values"]).len(), 16, "{name}");
    }
    // Start-stamped power and energy, end-stamped voltage, current, frequency.
    assert_eq!(
        inv["energy"]["values"][0]["timestamp"],
        "2026-11-25T08:00:00+01:00"
    );
    assert_eq!(
        inv["power"]["values"][0]["timestamp"],
        "2026-11-25T08:00:00+01:00"
    );
    assert_eq!(
        inv["voltage"]["values"][0]["timestamp"],
        "2026-11-25T08:15:00+01:00"
    );
    assert_eq!(
        inv["frequency"]["values"][15]["timestamp"],
        "2026-11-25T12:00:00+01:00"
    );
    // Power (kW) = 4 × energy (Wh) / 1000; voltage near 230 V, frequency near 50 Hz.
    for j in 0..16 {
        let e = inv["energy"]["values"][j]["value"].as_f64();
        let p = inv["power"]["values"][j]["value"].as_f64();
        assert_eq!(e.is_some(), p.is_some());
        if let (Some(e), Some(p)) = (e, p) {
            close(p, e * 4.0 / 1000.0, 1e-5, "kW");
        }
        if let Some(volt) = inv["voltage"]["values"][j]["value"].as_f64() {
            assert!((226.0..234.0).contains(&volt), "{volt}");
        }
        if let Some(hz) = inv["frequency"]["values"][j]["value"].as_f64() {
            assert!((49.9..50.1).contains(&hz), "{hz}");
        }
    }
    // Denver is a 60 Hz grid.
    let v = sim.ok(&format!(
        "/v2/sites/{DENVER}/inverters/telemetry?from=2026-11-25T10:00:00&to=2026-11-25T12:00:00"
    ));
    let f = nums(arr(&v["inverters"]["7E3C0004-4E"]["frequency"]["values"]));
    assert!(f.iter().flatten().all(|hz| (59.9..60.1).contains(hz)));
    // Power, voltage etc. exist only at QUARTER_HOUR and HOUR; energy at every resolution.
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/telemetry?resolution=DAY&from=2026-11-01T00:00:00&to=2026-11-20T00:00:00"
    ));
    assert_eq!(keys(&v["inverters"]["7E1A0001-1B"]), ["energy"]);
    assert_eq!(
        arr(&v["inverters"]["7E1A0001-1B"]["energy"]["values"]).len(),
        19
    );
}

#[test]
fn meter_telemetry_keys_units_and_the_plain_site() {
    let sim = Sim::default();
    let v = sim.ok(&format!(
        "/v2/sites/{BERLIN}/meters/telemetry?from=2026-11-25T00:00:00&to=2026-11-25T12:00:00"
    ));
    assert_eq!(keys(&v), ["meters", "period", "resolution"]);
    let m = &v["meters"];
    // Keyed by serial; the two meters sharing 5118719 are one key with both metric sets;
    // the virtual consumption meter appears under its name; self-consumption has none.
    assert_eq!(
        keys(m),
        sorted(vec!["5118719", "Consumption Meter", "MTR-P-60611"])
    );
    assert_eq!(
        keys(&m["5118719"]),
        sorted(vec![
            "importPower",
            "importEnergy",
            "exportPower",
            "exportEnergy"
        ])
    );
    assert_eq!(
        keys(&m["MTR-P-60611"]),
        sorted(vec!["productionPower", "productionEnergy"])
    );
    assert_eq!(
        keys(&m["Consumption Meter"]),
        sorted(vec!["consumptionPower", "consumptionEnergy"])
    );
    for (_, series) in m.as_object().unwrap() {
        for (name, s) in series.as_object().unwrap() {
            let unit = if name.ends_with("Power") { "W" } else { "WH" };
            assert_eq!(s["unit"], unit, "{name}");
            assert_eq!(arr(&s["values"]).len(), 48, "{name}");
        }
    }
    // Meters never sleep: 0.0 at night where the inverter reports null.
    let prod = nums(arr(&m["MTR-P-60611"]["productionEnergy"]["values"]));
    assert_eq!(prod[0], Some(0.0), "midnight production meter");
    // `unit` is ignored by meters/telemetry (S9).
    let kw = sim.ok(&format!(
        "/v2/sites/{BERLIN}/meters/telemetry?unit=KW&from=2026-11-25T00:00:00&to=2026-11-25T12:00:00"
    ));
    assert_eq!(kw, v);

    // No meter: an empty object.
    let v = sim.ok(&format!("/v2/sites/{DENVER}/meters/telemetry"));
    assert_eq!(v["meters"], serde_json::json!({}));
    assert!(v["period"].is_object());
}

#[test]
fn storage_telemetry_units_scale_and_subset() {
    let sim = Sim::default();
    let path = format!(
        "/v2/sites/{BERLIN}/storage/telemetry?from=2026-11-25T06:00:00&to=2026-11-25T18:00:00"
    );
    let v = sim.ok(&path);
    assert_eq!(keys(&v), ["period", "resolution", "storage"]);
    assert_eq!(keys(&v["storage"]), ["BAT-4F00A1"]);
    let b = &v["storage"]["BAT-4F00A1"];
    let units = [
        ("chargePower", "W"),
        ("dischargePower", "W"),
        ("chargeEnergy", "WH"),
        ("dischargeEnergy", "WH"),
        ("remainingEnergy", "KWH"),
        ("stateOfEnergy", "PERCENTAGE"),
    ];
    assert_eq!(keys(b), sorted(units.iter().map(|(k, _)| *k).collect()));
    for (name, unit) in units {
        assert_eq!(b[name]["unit"], unit, "{name}");
        assert_eq!(arr(&b[name]["values"]).len(), 48, "{name}");
    }
    let soe = nums(arr(&b["stateOfEnergy"]["values"]));
    let rem = nums(arr(&b["remainingEnergy"]["values"]));
    for (s, r) in soe.iter().zip(&rem) {
        let (s, r) = (s.unwrap(), r.unwrap());
        assert!((0.0..=1.0).contains(&s), "fraction: {s}");
        // remaining (kWh) / usable capacity 9.2 kWh.
        close(s, r / 9.2, 1e-5, "stateOfEnergy = remaining / capacity");
    }

    // The subset path answers the same for the one battery; an unknown serial is a 404.
    let sub = sim.ok(&format!(
        "/v2/sites/{BERLIN}/storage/BAT-4F00A1/telemetry?from=2026-11-25T06:00:00&to=2026-11-25T18:00:00"
    ));
    assert_eq!(sub, v);
    sim.get(&format!("/v2/sites/{BERLIN}/storage/BAT-NOPE/telemetry"))
        .problem(404);
    sim.get(&format!(
        "/v2/sites/{BERLIN}/storage/BAT-4F00A1,BAT-NOPE/telemetry"
    ))
    .problem(404);

    // Sites without a battery: empty object.
    assert_eq!(
        sim.ok(&format!("/v2/sites/{DENVER}/storage/telemetry"))["storage"],
        serde_json::json!({})
    );

    // Documented 0–100 scale on request.
    let mut o = options();
    o.soe_scale = SoeScale::Percent;
    let pct = Sim::start(o);
    let v = pct.ok(&path);
    let b = &v["storage"]["BAT-4F00A1"];
    assert_eq!(b["stateOfEnergy"]["unit"], "PERCENTAGE");
    let p = nums(arr(&b["stateOfEnergy"]["values"]));
    for (f, p) in soe.iter().zip(&p) {
        close(f.unwrap() * 100.0, p.unwrap(), 1e-4, "percent");
    }
    assert!(p.iter().flatten().any(|p| *p > 1.0));
}

#[test]
fn per_device_metric_paths() {
    let sim = Sim::default();
    let w = "from=2026-11-25T08:00:00&to=2026-11-25T16:00:00";
    let bulk = sim.ok(&format!("/v2/sites/{BERLIN}/inverters/telemetry?{w}"));

    let p = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/7E1A0001-1B/power?unit=KW&{w}"
    ));
    assert_eq!(
        keys(&p),
        sorted(vec!["period", "unit", "resolution", "values"])
    );
    assert_eq!(p["unit"], "KW");
    assert_eq!(
        p["values"],
        bulk["inverters"]["7E1A0001-1B"]["power"]["values"]
    );
    let pw = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/7E1A0001-1B/power?unit=W&{w}"
    ));
    assert_eq!(pw["unit"], "W");
    for (a, b) in nums(arr(&p["values"])).iter().zip(nums(arr(&pw["values"]))) {
        if let (Some(a), Some(b)) = (a, b) {
            close(a * 1000.0, b, 1e-3, "W");
        }
    }
    let volt = sim.ok(&format!(
        "/v2/sites/{BERLIN}/inverters/7E1A0002-2C/voltage?{w}"
    ));
    assert_eq!(volt["unit"], "VOLT");
    assert_eq!(
        volt["values"],
        bulk["inverters"]["7E1A0002-2C"]["voltage"]["values"]
    );

    let meters = sim.ok(&format!("/v2/sites/{BERLIN}/meters/telemetry?{w}"));
    for metric in [
        "import-energy",
        "export-energy",
        "import-power",
        "export-power",
    ] {
        let v = sim.ok(&format!("/v2/sites/{BERLIN}/meters/5118719/{metric}?{w}"));
        let camel = match metric {
            "import-energy" => "importEnergy",
            "export-energy" => "exportEnergy",
            "import-power" => "importPower",
            _ => "exportPower",
        };
        assert_eq!(
            v["values"], meters["meters"]["5118719"][camel]["values"],
            "{metric}"
        );
        assert_eq!(
            v["unit"],
            if metric.ends_with("power") { "W" } else { "WH" }
        );
    }
    let soe = sim.ok(&format!(
        "/v2/sites/{BERLIN}/storage/BAT-4F00A1/state-of-energy?{w}"
    ));
    assert_eq!(soe["unit"], "PERCENTAGE");
    let storage = sim.ok(&format!("/v2/sites/{BERLIN}/storage/telemetry?{w}"));
    assert_eq!(
        soe["values"],
        storage["storage"]["BAT-4F00A1"]["stateOfEnergy"]["values"]
    );
    let rem = sim.ok(&format!(
        "/v2/sites/{BERLIN}/storage/BAT-4F00A1/remaining-energy?{w}"
    ));
    assert_eq!(rem["unit"], "KWH");

    // Unknown serials and metrics.
    sim.get(&format!("/v2/sites/{BERLIN}/inverters/NOPE/power"))
        .problem(404);
    sim.get(&format!(
        "/v2/sites/{BERLIN}/inverters/7E1A0001-1B/temperature"
    ))
    .problem(404);
    sim.get(&format!(
        "/v2/sites/{BERLIN}/meters/5118719/production-energy"
    ))
    .problem(404);
    // Power exists only at QUARTER_HOUR and HOUR.
    sim.get(&format!(
        "/v2/sites/{BERLIN}/inverters/7E1A0001-1B/power?resolution=DAY&from=2026-11-01T00:00:00&to=2026-11-02T00:00:00"
    ))
    .problem(400);
}

#[test]
fn power_flow_is_advanced_only_and_lifetime_energy() {
    let sim = Sim::default();
    let r = sim.get(&format!("/v2/sites/{BERLIN}/power-flow"));
    let v = r.problem(403);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("tier"),
        "{v}"
    );

    let mut o = options();
    o.advanced = true;
    let adv = Sim::start(o);
    let v = adv.ok(&format!("/v2/sites/{BERLIN}/power-flow"));
    assert_eq!(
        keys(&v),
        sorted(vec!["updatedAt", "unit", "pv", "load", "storage", "grid"])
    );
    assert_eq!(v["unit"], "W");
    assert_eq!(keys(&v["pv"]), ["active", "power"]);
    assert_eq!(
        keys(&v["storage"]),
        sorted(vec!["active", "power", "status", "chargeLevel"])
    );
    assert_eq!(keys(&v["grid"]), sorted(vec!["active", "power", "status"]));
    assert_eq!(v["updatedAt"], "2026-11-26T13:00:00+01:00");

    // lifetime-energy = TOTAL energy since installation.
    let life = sim.ok(&format!("/v2/sites/{BERLIN}/lifetime-energy"));
    assert_eq!(keys(&life), ["energy", "unit"]);
    assert_eq!(life["unit"], "WH");
    let total = sim.ok(&format!(
        "/v2/sites/{BERLIN}/energy?resolution=TOTAL&from=2000-01-01T00:00:00Z&to={}",
        q(&z(t0()))
    ));
    close(
        life["energy"].as_f64().unwrap(),
        total["values"][0]["value"].as_f64().unwrap(),
        1e-3,
        "lifetime",
    );
}

#[test]
fn unknown_paths_v1_paths_and_methods() {
    let sim = Sim::default();
    for path in [
        "/v2/bogus",
        "/v2/sites/2150001/powerFlow",
        "/v2/sites/2150001/environmentalBenefits",
        "/v2/sites/2150001/storage",
        "/v2/sites/2150001/summary",
        // Optimizers are listed but have no telemetry; unconfirmed paths are not modelled.
        "/v2/sites/2150001/optimizers/telemetry",
        "/v2/sites/2150001/overview/performance",
        "/v2/sites/2150001/power/live",
        "/v2/sites/2150001/",
    ] {
        let r = sim.get(path);
        let v = r.problem(404);
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["detail"], "Unknown endpoint");
        assert!(r.header("x-ratelimit-limit-minute").is_some(), "{path}");
    }
    // Two problems never share a traceId.
    let a = sim.get("/v2/bogus").json()["traceId"].clone();
    let b = sim.get("/v2/bogus").json()["traceId"].clone();
    assert_ne!(a, b);

    // V1 is gone: 410, whatever the credential.
    for path in [
        "/site/1/overview?api_key=x",
        "/site/2150001/energy?api_key=x&timeUnit=DAY",
        "/sites/list?api_key=x",
        "/equipment/1/list?api_key=x",
        "/version/current",
        "/accounts/list",
    ] {
        let r = sim.get_h(path, &[]);
        assert_eq!(r.status, 410, "{path}: {}", r.text());
        let r = sim.get(path);
        assert_eq!(r.status, 410, "{path}");
    }
    // Data operations are GET only.
    let r = read(
        sim.agent
            .post(sim.url("/v2/sites"))
            .header("X-API-Key", KEY)
            .send("{}"),
    );
    assert_eq!(r.status, 405);
}

#[test]
fn authentication_errors_and_rate_headers_everywhere() {
    let sim = Sim::default();
    let r = sim.get_h("/v2/sites", &[]);
    let v = r.problem(401);
    assert_eq!(v["title"], "Unauthorized - Authentication Failed");
    assert_eq!(v["detail"], "API key missing in the request");
    let r = sim.get_h("/v2/sites", &[("X-API-Key", "wrong")]);
    assert_eq!(r.problem(401)["detail"], "Invalid API key");
    // A query-parameter key is not a credential in V2.
    let r = sim.get_h(&format!("/v2/sites?api_key={KEY}"), &[]);
    assert_eq!(r.problem(401)["detail"], "API key missing in the request");
    // The legacy account key alone is not enough; with the app key it is ignored.
    let r = sim.get_h("/v2/sites", &[("X-Account-Key", "acct")]);
    r.problem(401);
    let r = sim.get_h(
        "/v2/sites",
        &[("X-Account-Key", "acct"), ("X-API-Key", KEY)],
    );
    assert_eq!(r.status, 200);

    // Every authenticated answer carries the minute headers: 200, 400, 403, 404.
    let before = sim.get("/v2/sites");
    let limit = before
        .header("x-ratelimit-limit-minute")
        .unwrap()
        .to_string();
    let mut last: u64 = before
        .header("x-ratelimit-remaining-minute")
        .unwrap()
        .parse()
        .unwrap();
    for path in [
        format!("/v2/sites/{BERLIN}"),
        format!("/v2/sites/{BERLIN}/energy?resolution=NOPE"),
        format!("/v2/sites/{BERLIN}/power-flow"),
        "/v2/nowhere".to_string(),
        format!("/v2/sites/{BERLIN}/devices"),
    ] {
        let r = sim.get(&path);
        assert_eq!(
            r.header("x-ratelimit-limit-minute"),
            Some(limit.as_str()),
            "{path}"
        );
        let rem: u64 = r
            .header("x-ratelimit-remaining-minute")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(rem, last - 1, "{path}");
        last = rem;
    }
    // Success is application/json, with the gateway headers of §3.
    assert_eq!(before.header("content-type"), Some("application/json"));
    assert_eq!(before.header("via"), Some("kong/3.7.1"));
    assert_eq!(
        before.header("cache-control"),
        Some("no-cache, no-store, max-age=0, must-revalidate")
    );
    assert!(before.header("etag").is_none());
}

#[test]
fn a_key_sees_only_its_accounts_sites() {
    let mut opts = options();
    opts.key_sites = Some(vec![BERLIN, SYDNEY]);
    let sim = Sim::start(opts);
    let v = sim.ok("/v2/sites");
    assert_eq!(v["sites"]["count"], 2);
    let ids: Vec<i64> = arr(&v["sites"]["site"])
        .iter()
        .map(|s| s["siteId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [BERLIN, SYDNEY]);
    sim.ok(&format!("/v2/sites/{BERLIN}"));
    let denied = sim.get(&format!(
        "/v2/sites/{DENVER}/energy?startDate=2026-11-01&endDate=2026-11-02"
    ));
    assert_eq!(
        denied.problem(403)["detail"],
        format!("The API key is not authorized to access site {DENVER}")
    );
    let fleet = sim.ok("/v2/alerts?alerts-in-page=100");
    assert!(arr(&fleet)
        .iter()
        .all(|a| [BERLIN, SYDNEY].contains(&a["siteId"].as_i64().unwrap())));
}
