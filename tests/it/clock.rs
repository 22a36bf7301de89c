//! A wrong local clock (a Raspberry Pi without RTC, before or after NTP): seh plans on the
//! server's time, wastes at most the one call that reveals the error, never stores what
//! lies after the server's time, and judges credit blocks on the server's clock.
//!
//! The local clock's error is made by moving the local half of the stored clock anchor
//! (`rewind_clock_anchor`): seh's estimate of the server's time at the start of a run is
//! the anchor's server time plus the local time elapsed since its local time, so moving
//! the anchor's local time back by D is a local clock that jumped D ahead, and forward by
//! D one that jumped back (or was fixed after running ahead).

use crate::harness::*;
use crate::truth::check_truth;
use chrono::{Duration, NaiveDate};

const YEAR_AND_A_MONTH: i64 = 400;

/// Calls made since ledger row `mark`, and how many of them the server refused (429).
fn calls_since(db: &std::path::Path, mark: i64) -> (i64, i64) {
    let c = open_db(db);
    (
        count_where(&c, "seh_api_calls", &format!("id > {mark}")),
        count_where(
            &c,
            "seh_api_calls",
            &format!("id > {mark} AND status = 429"),
        ),
    )
}

/// Nothing stored or written lies after the server's time `now`.
fn nothing_after(db: &std::path::Path, now: chrono::DateTime<chrono::Utc>) {
    let c = open_db(db);
    let now_s = z(now);
    for t in [
        "seh_energy",
        "seh_power",
        "seh_inverter_telemetry",
        "seh_meter_telemetry",
        "seh_storage_telemetry",
    ] {
        let late = count_where(&c, t, &format!("ts_utc > '{now_s}'"));
        assert_eq!(late, 0, "{t}: {late} rows after the server's time {now_s}");
    }
    // Overview days that have not begun anywhere yet (the earliest zone is UTC+14).
    let tomorrow: NaiveDate = (now + Duration::hours(14)).date_naive();
    let future = count_where(&c, "seh_overview", &format!("local_date > '{tomorrow}'"));
    assert_eq!(future, 0, "overview rows for days that have not begun");
    // Every time seh wrote follows the server's clock (give or take the run's length).
    let limit = z(now + Duration::minutes(10));
    for (table, col) in [
        ("seh_api_calls", "at"),
        ("seh_runs", "started_at"),
        ("seh_runs", "finished_at"),
        ("seh_sync_state", "last_success"),
        ("seh_energy", "updated_at"),
    ] {
        let bad = count_where(&c, table, &format!("{col} > '{limit}'"));
        assert_eq!(
            bad, 0,
            "{table}.{col}: {bad} times after the server's clock"
        );
    }
}

/// The responses archived so far were fetched at the simulator's `now`: for
/// `check_truth`, which compares each with the truth as of its own moment.
fn moment(env: &TestEnv, moments: &mut Vec<(i64, chrono::DateTime<chrono::Utc>)>) {
    let last = max_id(&open_db(&env.db), "seh_raw_responses");
    moments.push((last, env.now()));
}

/// Everything stored equals the simulator's truth, and the quarter-hours reach `now`.
fn assert_exact(env: &TestEnv, moments: &[(i64, chrono::DateTime<chrono::Utc>)]) {
    let mut all = moments.to_vec();
    all.push((i64::MAX, env.now()));
    check_truth(env, &env.db, &all).assert_qh_up_to(env.now());
}

#[test]
fn a_clock_far_ahead_costs_one_call_not_the_month() {
    let env = TestEnv::new();
    let db = env.db.clone();
    let mut moments = Vec::new();
    env.sync_ok();
    moment(&env, &mut moments);
    let mark = max_id(&open_db(&db), "seh_api_calls");
    env.pass_time(Duration::minutes(15), &[&db]);
    // The local clock jumps 400 days ahead.
    rewind_clock_anchor(&db, Duration::days(YEAR_AND_A_MONTH));
    let out = env.sync_ok();
    assert!(
        out.stderr.contains("400 days ahead of SolarEdge's"),
        "the jump is not reported\n{out}"
    );
    let (calls, refused) = calls_since(&db, mark);
    assert_eq!(refused, 0, "{out}");
    // A 15-minute incremental run needs a few dozen calls; the plan made on the wrong
    // clock (a year of "fresh" windows) may spend one of them.
    assert!(calls < 80, "{calls} calls after the jump\n{out}");
    nothing_after(&db, env.now());
    assert_exact(&env, &moments);
    moment(&env, &mut moments);

    // NTP sets the clock right again: the last run's anchor is 400 days ahead of it.
    let mark = max_id(&open_db(&db), "seh_api_calls");
    env.pass_time(Duration::minutes(15), &[&db]);
    rewind_clock_anchor(&db, -Duration::days(YEAR_AND_A_MONTH));
    let out = env.sync_ok();
    let (calls, refused) = calls_since(&db, mark);
    assert_eq!(refused, 0, "{out}");
    // The estimate cannot go back before the last server time seen, so this run plans
    // as if no time had passed since the last one (nothing is due yet)...
    assert!(calls < 80, "{calls} calls\n{out}");
    nothing_after(&db, env.now());
    // ...and the next one, a quarter-hour later, catches up on the server's time.
    env.pass_time(Duration::minutes(15), &[&db]);
    let out = env.sync_ok();
    let (calls, refused) = calls_since(&db, mark);
    assert_eq!(refused, 0, "{out}");
    assert!(calls > 0 && calls < 80, "{calls} calls\n{out}");
    nothing_after(&db, env.now());
    assert_exact(&env, &moments);
    let status = env.seh(&["status"]);
    status.expect(0);
    assert!(
        status.stdout.contains("this cycle (since 2026-11-01"),
        "status judges the cycle on a wrong clock\n{status}"
    );
    // The frozen simulator's clock is days behind this machine's: status says so.
    assert!(
        status
            .stdout
            .contains("clock: at the last answer the local clock was"),
        "{status}"
    );
}

#[test]
fn after_a_boot_with_the_clock_behind_nothing_is_stored_for_days_to_come() {
    let env = TestEnv::new();
    let db = env.db.clone();
    let mut moments = Vec::new();
    env.sync_ok();
    moment(&env, &mut moments);
    // Boot without RTC: the clock is 14 days behind for one run...
    env.pass_time(Duration::minutes(15), &[&db]);
    rewind_clock_anchor(&db, -Duration::days(14));
    env.sync_ok();
    nothing_after(&db, env.now());
    moment(&env, &mut moments);
    // ...which therefore stored an anchor 14 days off; NTP then sets the clock right, so
    // the next estimate runs 14 days ahead.
    env.pass_time(Duration::minutes(15), &[&db]);
    rewind_clock_anchor(&db, Duration::days(14));
    let mark = max_id(&open_db(&db), "seh_api_calls");
    let out = env.sync_ok();
    let (calls, _) = calls_since(&db, mark);
    assert!(calls < 80, "{calls} calls\n{out}");
    nothing_after(&db, env.now());
    assert_exact(&env, &moments);
}

/// A simulator whose credits ran out at t0 (hard mode): the first sync ends with exit 5
/// and a block until the renewal on 1 December.
fn blocked_env() -> TestEnv {
    let env = TestEnv::new();
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 40, "credit_mode": "hard"}),
    );
    env.seh(&["sync"]).expect(5);
    env
}

#[test]
fn a_credit_block_is_lifted_on_the_servers_clock_whatever_the_local_one_says() {
    let env = blocked_env();
    let db = env.db.clone();
    // The last run's local clock was 400 days ahead; now it is right, so the estimate
    // would fall a year back. It never goes before the last server time, so the block
    // still holds and no call is made.
    rewind_clock_anchor(&db, -Duration::days(YEAR_AND_A_MONTH));
    let calls = env.sim_calls();
    let out = env.seh(&["sync"]);
    out.expect(5);
    assert_eq!(env.sim_calls(), calls, "a call while blocked\n{out}");
    // The credits renew on the server (1 December) and the local clock has moved as much.
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 1_000_000_000u64}),
    );
    let renewal = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 0, 0, 0).unwrap();
    env.pass_time(renewal - env.now() + Duration::hours(1), &[&db]);
    let out = env.sync_ok();
    assert!(env.sim_calls() > calls, "{out}");
    let status = env.seh(&["status"]);
    assert!(
        !status.stdout.contains("refused calls"),
        "the block is still shown\n{status}"
    );
    assert!(
        status.stdout.contains("this cycle (since 2026-12-01"),
        "{status}"
    );
}

#[test]
fn a_credit_block_is_checked_with_one_call_every_few_hours() {
    let env = blocked_env();
    let db = env.db.clone();
    // Within the probe interval: no call at all.
    env.pass_time(Duration::hours(1), &[&db]);
    let calls = env.sim_calls();
    env.seh(&["sync"]).expect(5);
    assert_eq!(env.sim_calls(), calls);
    // Three hours after the last call, one call asks; the server still refuses.
    env.pass_time(Duration::hours(3), &[&db]);
    let out = env.seh(&["sync"]);
    out.expect(5);
    assert_eq!(env.sim_calls(), calls + 1, "one probe\n{out}");
    // And right after it, none.
    env.pass_time(Duration::minutes(15), &[&db]);
    env.seh(&["sync"]).expect(5);
    assert_eq!(env.sim_calls(), calls + 1);
    // The block was a misreading (the server answers again): the next probe lifts it and
    // the run goes on as usual.
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 1_000_000_000u64}),
    );
    env.pass_time(Duration::hours(3), &[&db]);
    let out = env.sync_ok();
    assert!(env.sim_calls() > calls + 10, "{out}");
    assert!(out.stderr.contains("block is lifted"), "{out}");
    nothing_after(&db, env.now());
}
