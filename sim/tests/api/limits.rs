//! Window limits per resolution (reference §7.4) and the money model (§5): the minute
//! window, monthly credits in hard and soft mode, what costs a credit, renewal.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use seh_sim::ratelimit::CreditMode;
use seh_sim::windows::{Profile, WindowLimits};

fn span(sim: &Sim, path: &str, res: &str, hours: i64) -> Resp {
    let a = midnight(date(2026, 11, 1), berlin());
    sim.get(&format!(
        "{path}?resolution={res}&from={}&to={}",
        q(&z(a)),
        q(&z(a + Duration::hours(hours)))
    ))
}

#[test]
fn documented_profile() {
    let sim = Sim::default();
    let energy = format!("/v2/sites/{BERLIN}/energy");
    assert_eq!(span(&sim, &energy, "QUARTER_HOUR", 12).status, 200);
    let v = span(&sim, &energy, "QUARTER_HOUR", 13).problem(400);
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("exceeds"), "{detail}");
    assert!(detail.contains("QUARTER_HOUR"), "{detail}");
    assert_eq!(span(&sim, &energy, "HOUR", 24).status, 200);
    span(&sim, &energy, "HOUR", 25).problem(400);
    assert_eq!(span(&sim, &energy, "DAY", 31 * 24).status, 200);
    span(&sim, &energy, "DAY", 32 * 24).problem(400);
    assert_eq!(span(&sim, &energy, "MONTH", 366 * 24).status, 200);
    span(&sim, &energy, "MONTH", 367 * 24).problem(400);
    let a = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    for res in ["YEAR", "TOTAL"] {
        let r = sim.get(&format!(
            "{energy}?resolution={res}&from={}&to={}",
            q(&z(a)),
            q(&z(t0()))
        ));
        assert_eq!(r.status, 200, "{res}");
    }
    // Telemetry and per-device paths obey the same limits.
    for path in [
        format!("/v2/sites/{BERLIN}/power"),
        format!("/v2/sites/{BERLIN}/inverters/telemetry"),
        format!("/v2/sites/{BERLIN}/meters/telemetry"),
        format!("/v2/sites/{BERLIN}/storage/telemetry"),
        format!("/v2/sites/{BERLIN}/inverters/7E1A0001-1B/power"),
        format!("/v2/sites/{BERLIN}/meters/5118719/import-energy"),
        format!("/v2/sites/{BERLIN}/storage/BAT-4F00A1/state-of-energy"),
    ] {
        assert_eq!(span(&sim, &path, "QUARTER_HOUR", 12).status, 200, "{path}");
        span(&sim, &path, "QUARTER_HOUR", 13).problem(400);
    }
    // The default "today" window is accepted even when longer than 12 h (13 h here).
    let v = sim.ok(&format!("/v2/sites/{BERLIN}/energy"));
    assert_eq!(arr(&v["values"]).len(), 52);
    // Over a DST change: QUARTER_HOUR and HOUR count real hours, DAY counts calendar days.
    let oct25 = midnight(date(2026, 10, 25), berlin());
    let oct26 = midnight(date(2026, 10, 26), berlin());
    let r = sim.get(&format!(
        "{energy}?resolution=HOUR&from={}&to={}",
        q(&z(oct25)),
        q(&z(oct26))
    ));
    r.problem(400);
    let oct = midnight(date(2026, 10, 1), berlin());
    let nov = midnight(date(2026, 11, 1), berlin());
    let r = sim.get(&format!(
        "{energy}?resolution=DAY&from={}&to={}",
        q(&z(oct)),
        q(&z(nov))
    ));
    assert_eq!(r.status, 200, "a whole October of days: {}", r.text());
    // GET /_sim/windows shows the table in seconds (null = unlimited).
    let w = sim.get_h("/_sim/windows", &[]).json();
    assert_eq!(w["QUARTER_HOUR"], 12 * 3600);
    assert_eq!(w["DAY"], 31 * 86400);
    assert!(w["YEAR"].is_null());
}

#[test]
fn observed_profile_and_overrides() {
    let mut o = options();
    o.windows = WindowLimits::profile(Profile::Observed);
    let sim = Sim::start(o);
    let energy = format!("/v2/sites/{BERLIN}/energy");
    let v = span(&sim, &energy, "QUARTER_HOUR", 7 * 24);
    assert_eq!(v.status, 200);
    assert_eq!(arr(&v.json()["values"]).len(), 7 * 96);
    span(&sim, &energy, "QUARTER_HOUR", 8 * 24).problem(400);
    assert_eq!(span(&sim, &energy, "DAY", 366 * 24).status, 200);

    // --window RES=SPAN as options.
    let mut o = options();
    o.windows.override_spec("QUARTER_HOUR=2d").unwrap();
    o.windows.override_spec("DAY=none").unwrap();
    let sim = Sim::start(o);
    assert_eq!(span(&sim, &energy, "QUARTER_HOUR", 48).status, 200);
    span(&sim, &energy, "QUARTER_HOUR", 49).problem(400);
    assert_eq!(span(&sim, &energy, "DAY", 1000 * 24).status, 200);
    // … and at run time.
    let r = sim.post_json(
        "/_sim/windows",
        &serde_json::json!({"spec": "QUARTER_HOUR=1h"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["QUARTER_HOUR"], 3600);
    assert_eq!(span(&sim, &energy, "QUARTER_HOUR", 1).status, 200);
    span(&sim, &energy, "QUARTER_HOUR", 2).problem(400);
    let r = sim.post_json(
        "/_sim/windows",
        &serde_json::json!({"spec": "FORTNIGHT=1h"}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn minute_cap_with_a_frozen_clock() {
    let mut o = options();
    o.limits.per_minute = 10;
    let sim = Sim::start(o);
    for i in 0..10u32 {
        let r = sim.get(&format!("/v2/sites/{BERLIN}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("10"));
        assert_eq!(
            r.header("x-ratelimit-remaining-minute"),
            Some((9 - i).to_string().as_str())
        );
        assert!(r.header("retry-after").is_none());
    }
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    let v = r.problem(429);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("0"));
    assert_eq!(r.header("x-ratelimit-limit-minute"), Some("10"));
    // Frozen clock at hh:00:00: a whole minute to wait (virtual seconds when frozen).
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(!v["detail"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("credit"));
    // Every credential of the account shares the window; errors are no exception.
    let r = sim.get("/v2/nowhere");
    assert_eq!(r.status, 429);
    // A minute-limit 429 costs no credit.
    let s = sim.stats();
    assert_eq!(s["credits_used_cycle"], 10);
    assert_eq!(s["rate_limited_429"], 2);

    sim.advance(Duration::seconds(30));
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));
    // The next clock minute opens a fresh window.
    sim.advance(Duration::seconds(30));
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("9"));

    // POST /_sim/limits changes the cap at run time.
    let r = sim.post_json("/_sim/limits", &serde_json::json!({"per_minute": 50}));
    assert_eq!(r.status, 200);
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    assert_eq!(r.header("x-ratelimit-limit-minute"), Some("50"));
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("48"));
    let r = sim.post_json("/_sim/limits", &serde_json::json!({"per_minute": 0}));
    assert_eq!(r.status, 400);
}

#[test]
fn credits_hard_mode() {
    let mut o = options();
    o.limits.per_minute = 10;
    o.limits.monthly_credits = 5;
    let sim = Sim::start(o);
    for _ in 0..5 {
        assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 200);
    }
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    let v = r.problem(429);
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.to_lowercase().contains("credit"), "{detail}");
    // Renewal on the 1st of next month (billing day 1).
    assert!(detail.contains("2026-12-01"), "{detail}");
    assert!(r.header("retry-after").is_none());
    let remaining: u32 = r
        .header("x-ratelimit-remaining-minute")
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining > 0);
    let s = sim.stats();
    assert_eq!(s["credits_used_cycle"], 5);
    assert_eq!(s["credits_429"], 1);
    assert_eq!(s["next_reset"], "2026-12-01T00:00:00Z");
    // Still refused a day later; renewed on the billing day.
    sim.advance(Duration::days(1));
    assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 429);
    sim.set_now(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    assert_eq!(r.status, 200);
    assert_eq!(sim.stats()["credits_used_cycle"], 1);
}

#[test]
fn credits_renew_on_the_billing_day() {
    let mut o = options();
    o.limits.monthly_credits = 2;
    o.limits.billing_day = 27;
    let sim = Sim::start(o);
    sim.get(&format!("/v2/sites/{BERLIN}"));
    sim.get(&format!("/v2/sites/{BERLIN}"));
    let r = sim.get(&format!("/v2/sites/{BERLIN}"));
    assert!(r.detail().contains("2026-11-27"), "{}", r.detail());
    assert_eq!(sim.stats()["next_reset"], "2026-11-27T00:00:00Z");
    sim.set_now(Utc.with_ymd_and_hms(2026, 11, 26, 23, 59, 59).unwrap());
    assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 429);
    sim.set_now(Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap());
    assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 200);
    assert_eq!(sim.stats()["next_reset"], "2026-12-27T00:00:00Z");
}

#[test]
fn credits_soft_mode_counts_and_serves() {
    let mut o = options();
    o.limits.per_minute = 10;
    o.limits.monthly_credits = 5;
    o.limits.credit_mode = CreditMode::Soft;
    let sim = Sim::start(o);
    for _ in 0..6 {
        assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 200);
    }
    let s = sim.stats();
    assert_eq!(s["credits_used_cycle"], 6);
    assert_eq!(s["over_allowance"], 1);
    assert_eq!(s["credits_429"], 0);
    // Switching to hard at run time stops it.
    let r = sim.post_json("/_sim/limits", &serde_json::json!({"credit_mode": "hard"}));
    assert_eq!(r.status, 200);
    assert_eq!(sim.get(&format!("/v2/sites/{BERLIN}")).status, 429);
    let r = sim.post_json("/_sim/limits", &serde_json::json!({"credit_mode": "maybe"}));
    assert_eq!(r.status, 400);
}

#[test]
fn what_costs_a_credit_and_stats_per_credential_and_path() {
    let mut o = options();
    o.api_keys = vec![KEY.into(), "second-key".into()];
    let sim = Sim::start(o);
    // 4xx answers to admitted calls cost a credit; 401s and admin calls do not.
    sim.get("/v2/sites/2150001/powerFlow").problem(404);
    sim.get("/v2/sites/2150001/powerFlow").problem(404);
    sim.get(&format!("/v2/sites/{BERLIN}/energy?resolution=NOPE"))
        .problem(400);
    sim.get(&format!("/v2/sites/{BERLIN}/power-flow"))
        .problem(403);
    sim.get_h("/v2/sites", &[]).problem(401);
    sim.get_h("/v2/sites", &[("X-API-Key", "nope")])
        .problem(401);
    sim.get_h("/_sim/clock", &[]);
    assert_eq!(sim.stats()["credits_used_cycle"], 4);
    // OAuth token calls cost nothing either.
    let tok = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    assert_eq!(sim.stats()["credits_used_cycle"], 4);

    sim.get_h("/v2/sites", &[("X-API-Key", "second-key")]);
    sim.bearer(
        &format!("/v2/sites/{BERLIN}"),
        tok["access_token"].as_str().unwrap(),
    );
    sim.bearer(
        &format!("/v2/sites/{BERLIN}"),
        tok["access_token"].as_str().unwrap(),
    );
    let s = sim.stats();
    assert_eq!(s["credits_used_cycle"], 7);
    let by_cred = &s["by_credential"];
    assert_eq!(by_cred[format!("key:{KEY}")]["calls"], 4);
    assert_eq!(by_cred["key:second-key"]["calls"], 1);
    assert_eq!(by_cred[format!("oauth:site{BERLIN}")]["calls"], 2);
    let by_path = &s["by_path"];
    assert_eq!(by_path["/v2/sites/2150001/powerFlow"], 2);
    assert_eq!(by_path[format!("/v2/sites/{BERLIN}")], 2);
    assert_eq!(by_path["/v2/sites"], 1);
    assert!(by_path.get("/_sim/clock").is_none());
}
