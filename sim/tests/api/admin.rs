//! Test controls under `/_sim/` (README "Test controls"), determinism per seed, and the
//! cost of generating history.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use seh_sim::windows::{Profile, WindowLimits};
use serde_json::json;
use std::time::Instant;

#[test]
fn clock_read_set_advance_and_speed() {
    let sim = Sim::default();
    let c = sim.get_h("/_sim/clock", &[]).json();
    assert_eq!(c["now"], "2026-11-26T12:00:00Z");
    assert_eq!(c["speed"], 0.0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(sim.now(), t0(), "frozen");

    let c = sim
        .post_json("/_sim/clock", &json!({"advance_secs": 3600}))
        .json();
    assert_eq!(c["now"], "2026-11-26T13:00:00Z");
    let c = sim
        .post_json("/_sim/clock", &json!({"now": "2026-12-24T18:00:00+01:00"}))
        .json();
    assert_eq!(c["now"], "2026-12-24T17:00:00Z");
    // The API follows the clock: today is Christmas Eve.
    let v = sim.ok(&format!("/v2/sites/{BERLIN}/energy"));
    assert_eq!(v["period"]["from"], "2026-12-24T00:00:00+01:00");
    assert_eq!(v["period"]["to"], "2026-12-24T18:00:00.000000000+01:00");
    // Going back in time works too.
    sim.post_json("/_sim/clock", &json!({"now": "2026-11-26T12:00:00Z"}));
    assert_eq!(sim.now(), t0());

    // A running clock.
    let c = sim
        .post_json("/_sim/clock", &json!({"speed": 3600.0}))
        .json();
    assert_eq!(c["speed"], 3600.0);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let moved = sim.now() - t0();
    assert!(moved >= Duration::minutes(5), "{moved}");
    sim.post_json("/_sim/clock", &json!({"speed": 0}));
    let a = sim.now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(sim.now(), a);

    let r = sim.post_json("/_sim/clock", &json!({"now": "tomorrow"}));
    assert_eq!(r.status, 400);
}

#[test]
fn stats_shape_and_admin_is_free() {
    let sim = Sim::default();
    sim.get("/v2/sites");
    sim.get(&format!("/v2/sites/{BERLIN}"));
    for _ in 0..5 {
        sim.get_h("/_sim/stats", &[]);
        sim.get_h("/_sim/clock", &[]);
        sim.get_h("/_sim/windows", &[]);
    }
    let s = sim.stats();
    for k in [
        "limits",
        "total_calls",
        "admitted",
        "credits_used_cycle",
        "next_reset",
        "rate_limited_429",
        "credits_429",
        "by_credential",
        "by_path",
        "now",
        "oauth",
    ] {
        assert!(s.get(k).is_some(), "stats lack {k}: {s}");
    }
    assert_eq!(s["total_calls"], 2);
    assert_eq!(s["credits_used_cycle"], 2);
    assert_eq!(s["now"], "2026-11-26T12:00:00Z");
    assert_eq!(s["next_reset"], "2026-12-01T00:00:00Z");
    assert_eq!(s["limits"]["credit_mode"], "hard");
    // Unknown admin paths are 404.
    assert_eq!(sim.get_h("/_sim/nothing", &[]).status, 404);
}

#[test]
fn truth_parameters() {
    let sim = Sim::default();
    assert_eq!(sim.get_h("/_sim/truth", &[]).status, 400);
    assert_eq!(sim.get_h("/_sim/truth?site=1", &[]).status, 400);
    assert_eq!(
        sim.get_h(&format!("/_sim/truth?site={BERLIN}&family=nope"), &[])
            .status,
        400
    );
    let v = sim
        .get_h(
            &format!("/_sim/truth?site={BERLIN}&family=energy&resolution=DAY&from=2026-11-01T00:00:00&to=2026-11-03T00:00:00"),
            &[],
        )
        .json();
    assert_eq!(v["site"], BERLIN);
    assert_eq!(v["family"], "energy");
    assert_eq!(v["as_of"], "2026-11-26T12:00:00Z");
    let rows = arr(&v["rows"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["ts_utc"], "2026-10-31T23:00:00Z");
    assert_eq!(rows[0]["utc_offset_min"], 60);
    // Truth without a window covers installation to now.
    let v = sim
        .get_h(
            &format!("/_sim/truth?site={BERLIN}&family=energy&resolution=YEAR"),
            &[],
        )
        .json();
    assert_eq!(arr(&v["rows"]).len(), 4);
}

#[test]
fn same_seed_same_answers_other_seed_other_data() {
    let a = Sim::default();
    let b = Sim::default();
    let mut o = options();
    o.seed = 2;
    let c = Sim::start(o);
    let path = format!(
        "/v2/sites/{BERLIN}/meters/telemetry?from=2026-11-20T06:00:00&to=2026-11-20T18:00:00"
    );
    assert_eq!(a.ok(&path), b.ok(&path));
    assert_ne!(a.ok(&path), c.ok(&path));
    assert_eq!(
        a.ok(&format!("/v2/sites/{BERLIN}/alerts")),
        b.ok(&format!("/v2/sites/{BERLIN}/alerts"))
    );
    let ta = a.login(BERLIN, "SITE_DATA");
    let tb = b.login(BERLIN, "SITE_DATA");
    assert_eq!(ta, tb, "tokens are derived from the seed");
}

#[test]
fn a_year_of_quarter_hours_is_fast() {
    // A fresh simulator generates a site's quarter-hours on first use: Berlin has 1,100
    // days of history (≈106,000 quarter-hours), Denver 2,190 (≈210,000).
    let mut o = options();
    o.windows = WindowLimits::profile(Profile::Observed);
    let sim = Sim::start(o);
    let a = midnight(date(2025, 11, 26), berlin());
    let b = midnight(date(2026, 11, 26), berlin());
    let t = Instant::now();
    let v = sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=DAY",
        a,
        b,
    );
    let first = t.elapsed();
    assert_eq!(arr(&v["values"]).len(), 365);
    let t = Instant::now();
    let v = sim.ok(&format!(
        "/v2/sites/{DENVER}/energy?resolution=TOTAL&from=2000-01-01T00:00:00Z&to={}",
        q(&z(t0()))
    ));
    let total = t.elapsed();
    assert!(v["values"][0]["value"].as_f64().unwrap() > 0.0);
    let t = Instant::now();
    sim.window(
        &format!("/v2/sites/{BERLIN}/energy"),
        "resolution=DAY",
        a,
        b,
    );
    let cached = t.elapsed();
    println!(
        "365-day DAY request on a fresh simulator (3 years generated): {first:?}; \
         TOTAL over 6 years: {total:?}; the same DAY request again: {cached:?}"
    );
    assert!(first.as_secs_f64() < 2.0, "{first:?}");
    assert!(total.as_secs_f64() < 2.0, "{total:?}");
}

#[test]
fn installation_is_relative_to_the_start() {
    let mut o = options();
    o.start = Utc.with_ymd_and_hms(2030, 7, 1, 12, 0, 0).unwrap();
    let sim = Sim::start(o);
    let v = sim.ok(&format!("/v2/sites/{BERLIN}"));
    // 1,100 days before 2030-07-01 is 2027-06-27, summer time.
    assert_eq!(v["installationDate"], "2027-06-27T00:00:00+02:00");
}
