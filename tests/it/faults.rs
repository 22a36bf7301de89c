//! Injected faults: each gives its documented exit code, loses nothing that was fetched,
//! and a clean rerun ends equal to the truth.

use crate::harness::*;
use crate::truth::assert_truth;
use chrono::Duration;
use rusqlite::OptionalExtension;
use std::path::{Path, PathBuf};

/// Two attempts per request (`max_retries = 1`: one retry), so persistent failures cost
/// about a second.
/// The default config with these lines in `[api]`.
fn api_config(api: &str) -> ConfigSpec {
    ConfigSpec {
        api: api.into(),
        ..ConfigSpec::default()
    }
}

fn fault_config() -> ConfigSpec {
    api_config("max_retries = 1\n")
}

fn fault_env() -> TestEnv {
    TestEnv::with(sim_options(), fault_config())
}

/// A fresh database of `env` for one case, as (path, string for `SEH_DATABASE`).
fn case_db(env: &TestEnv, name: &str) -> (PathBuf, String) {
    let p = env.path(&format!("{name}.db"));
    let s = p.display().to_string();
    (p, s)
}

/// One sync with `spec` injected, into `db`; the fault is cleared afterwards.
fn sync_with_fault(env: &TestEnv, db: &str, spec: &str) -> Out {
    env.add_fault(spec);
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", db)]);
    env.clear_faults();
    out
}

/// A clean rerun ends with exit 0 and equal to the truth, up to now.
fn rerun_clean(env: &TestEnv, db: &Path, db_s: &str) {
    env.seh_env(&["sync"], &[("SEH_DATABASE", db_s)]).expect(0);
    integrity_ok(db);
    let checked = assert_truth(env, db);
    checked.assert_qh_up_to(t0());
    for site in [BERLIN, SYDNEY, DENVER] {
        for f in ["energy", "power", "inverter_telemetry"] {
            assert!(checked.rows(site, f, "QUARTER_HOUR") > 0, "{site} {f}");
        }
    }
}

type State = (Option<String>, Option<String>, Option<String>);

fn state(db: &Path, site: i64, family: &str, res: &str) -> Option<State> {
    open_db(db)
        .query_row(
            "SELECT covered_from, covered_to, last_error FROM seh_sync_state \
             WHERE site_id = ?1 AND family = ?2 AND resolution = ?3",
            rusqlite::params![site, family, res],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .unwrap()
}

fn archived(db: &Path, path: &str) -> i64 {
    count_where(
        &open_db(db),
        "seh_raw_responses",
        &format!("path = '{path}'"),
    )
}

fn ledger(db: &Path, path: &str, status: i64) -> i64 {
    count_where(
        &open_db(db),
        "seh_api_calls",
        &format!("path = '{path}' AND status = {status}"),
    )
}

/// The credits the ledger books for each call to `path`, in order.
fn booked(db: &Path, path: &str) -> Vec<i64> {
    open_db(db)
        .prepare("SELECT credits FROM seh_api_calls WHERE path = ?1 ORDER BY rowid")
        .unwrap()
        .query_map([path], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// After a run where exactly `family` of `site` failed: nothing of it is stored, its error
/// is recorded, and everything else equals the truth.
fn assert_only_failed(db: &Path, env: &TestEnv, site: i64, family: &str, path: &str, out: &Out) {
    integrity_ok(db);
    let st = state(db, site, family, "QUARTER_HOUR").unwrap_or_else(|| panic!("no state\n{out}"));
    assert_eq!(
        (&st.0, &st.1),
        (&None, &None),
        "cursor of the failed family\n{out}"
    );
    let err =
        st.2.unwrap_or_else(|| panic!("no last_error recorded\n{out}"));
    assert!(!err.is_empty() && !err.contains('\n'), "{err}");
    assert_eq!(
        archived(db, path),
        0,
        "a failed response was archived\n{out}"
    );
    let checked = assert_truth(env, db);
    checked.assert_qh_up_to(t0());
    assert_eq!(checked.rows(site, family, "QUARTER_HOUR"), 0);
    // Every other series of the fleet is complete.
    for s in [BERLIN, SYDNEY, DENVER] {
        for f in ["energy", "power", "inverter_telemetry"] {
            if (s, f) != (site, family) {
                assert!(
                    checked.rows(s, f, "QUARTER_HOUR") > 0,
                    "{s} {f} missing\n{out}"
                );
            }
        }
    }
    assert!(checked.benefits == 3 && checked.alerts > 0, "{checked:?}");
}

#[test]
fn persistent_server_errors_fail_one_family_and_keep_its_cursor() {
    let env = fault_env();
    let path = "/sites/2150001/power";
    for status in ["500", "502", "503"] {
        let (db, db_s) = case_db(&env, &format!("e{status}"));
        let out = sync_with_fault(&env, &db_s, &format!("*/sites/2150001/power={status}"));
        out.expect(1);
        assert_only_failed(&db, &env, BERLIN, "power", path, &out);
        let st = state(&db, BERLIN, "power", "QUARTER_HOUR").unwrap();
        assert!(
            st.2.as_deref().unwrap().contains(status),
            "last_error {:?} names the status",
            st.2
        );
        assert_eq!(
            ledger(&db, path, status.parse().unwrap()),
            2,
            "one retry, both recorded"
        );
        rerun_clean(&env, &db, &db_s);
        if status != "503" {
            continue;
        }
        // With a cursor in place, a failing run leaves it exactly as it was (`--full`
        // makes the run fetch although the freshness cadence is not due yet).
        let before = state(&db, BERLIN, "power", "QUARTER_HOUR").unwrap();
        let rows_before = dump(&open_db(&db), "seh_power");
        env.add_fault(&format!("*/sites/2150001/power={status}"));
        let out = env.seh_env(&["sync", "--full"], &[("SEH_DATABASE", &db_s)]);
        env.clear_faults();
        out.expect(1);
        let after = state(&db, BERLIN, "power", "QUARTER_HOUR").unwrap();
        assert_eq!(
            (&after.0, &after.1),
            (&before.0, &before.1),
            "cursor moved\n{out}"
        );
        assert!(after.2.is_some());
        assert_eq!(dump(&open_db(&db), "seh_power"), rows_before);
        rerun_clean(&env, &db, &db_s);
    }
}

/// `max_retries = 3` means three retries: four attempts, each in the ledger, and the log
/// counts them as "retry k of 3".
#[test]
fn max_retries_counts_retries_not_attempts() {
    let env = TestEnv::with(sim_options(), api_config("max_retries = 3\n"));
    let path = "/sites/2150001/power";
    let (db, db_s) = case_db(&env, "retries");
    let out = sync_with_fault(&env, &db_s, &format!("*{path}=503"));
    out.expect(1);
    assert_eq!(
        ledger(&db, path, 503),
        4,
        "one attempt and three retries\n{out}"
    );
    for k in 1..=3 {
        assert!(out.stderr.contains(&format!("retry {k} of 3")), "{out}");
    }
    assert!(!out.stderr.contains("retry 4"), "{out}");
    // `max_retries = 0`: one attempt, no retry.
    env.write_config(&api_config("max_retries = 0\n"));
    let (db, db_s) = case_db(&env, "no-retry");
    let out = sync_with_fault(&env, &db_s, &format!("*{path}=503"));
    out.expect(1);
    assert_eq!(ledger(&db, path, 503), 1, "{out}");
    assert!(!out.stderr.contains("retry 1"), "{out}");
}

#[test]
fn a_transient_503_is_retried() {
    let env = fault_env();
    let (db, db_s) = case_db(&env, "t503");
    let out = sync_with_fault(&env, &db_s, "*/sites/2150001/energy=503,nth=1");
    out.expect(0);
    assert_eq!(ledger(&db, "/sites/2150001/energy", 503), 1, "{out}");
    let checked = assert_truth(&env, &db);
    checked.assert_qh_up_to(t0());
    assert!(checked.rows(BERLIN, "energy", "QUARTER_HOUR") > 0);
}

#[test]
fn unusable_bodies_fail_the_family_and_archive_nothing() {
    let env = fault_env();
    let path = "/sites/3150002/inverters/telemetry";
    for kind in ["truncate", "content-type"] {
        let (db, db_s) = case_db(&env, kind);
        let out = sync_with_fault(&env, &db_s, &format!("*{path}={kind}"));
        out.expect(1);
        assert_only_failed(&db, &env, SYDNEY, "inverter_telemetry", path, &out);
        rerun_clean(&env, &db, &db_s);
    }
}

#[test]
fn a_body_seh_cannot_read_is_archived_shown_and_reprocessed() {
    let env = fault_env();
    let path = "/sites/3150002/inverters/telemetry";
    let (db, db_s) = case_db(&env, "empty");
    // A 200 whose body the parser rejects: the credit is spent, so the body is kept.
    let out = sync_with_fault(&env, &db_s, &format!("*{path}=empty"));
    out.expect(1);
    assert!(out.stderr.contains("unusable response"), "{out}");
    let unreadable = count_where(
        &open_db(&db),
        "seh_raw_responses",
        &format!("path = '{path}' AND unreadable IS NOT NULL"),
    );
    // One window of quarter-hours and one of days: each failed its series.
    assert_eq!(
        unreadable, 2,
        "the rejected bodies are archived, marked\n{out}"
    );
    // No rows, no cursor: the family failed as before, and the rest is exact.
    let st = state(&db, SYDNEY, "inverter_telemetry", "QUARTER_HOUR").expect("state");
    assert_eq!((&st.0, &st.1), (&None, &None), "{out}");
    assert_truth(&env, &db).assert_qh_up_to(t0());
    // The ledger says why the paid call gave nothing.
    let noted = count_where(
        &open_db(&db),
        "seh_api_calls",
        &format!("path = '{path}' AND status = 200 AND error LIKE 'unreadable: %'"),
    );
    assert_eq!(noted, 2, "{out}");
    let status = env.seh_env(&["status"], &[("SEH_DATABASE", &db_s)]);
    status.expect(0);
    assert!(
        status
            .stdout
            .contains("2 archived responses seh could not read"),
        "{status}"
    );
    // `reprocess` with the same parser keeps it, marked, and is not a failure.
    let out = env.seh_env(&["reprocess"], &[("SEH_DATABASE", &db_s)]);
    out.expect(0);
    assert!(out.stderr.contains("still cannot be read"), "{out}");
    // A later seh that reads it: stand-in, the body the server gives for the same
    // request (what a parser that learned the rejected shape would extract).
    let c = open_db(&db);
    let marked: Vec<(i64, String)> = c
        .prepare("SELECT id, query FROM seh_raw_responses WHERE unreadable IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, query) in marked {
        let good = env.sim_body(&format!("/v2{path}?{}", enc_query(&query)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, good.as_bytes()).unwrap();
        c.execute(
            "UPDATE seh_raw_responses SET body_gz = ?2, body_len = ?3 WHERE id = ?1",
            rusqlite::params![id, gz.finish().unwrap(), good.len() as i64],
        )
        .unwrap();
    }
    let out = env.seh_env(&["reprocess"], &[("SEH_DATABASE", &db_s)]);
    out.expect(0);
    assert!(
        out.stderr
            .contains("2 responses seh could not read before were read now"),
        "{out}"
    );
    let c = open_db(&db);
    assert_eq!(
        count_where(&c, "seh_raw_responses", "unreadable IS NOT NULL"),
        0
    );
    let rows = count_where(&c, "seh_inverter_telemetry", &format!("site_id = {SYDNEY}"));
    assert!(rows > 0, "the recovered body's rows are stored");
    // The next sync fetches the window as usual (its cursor never moved).
    rerun_clean(&env, &db, &db_s);
}

#[test]
fn a_reset_connection_fails_after_retries() {
    let env = fault_env();
    let path = "/sites/4150003/power";
    let (db, db_s) = case_db(&env, "reset");
    let out = sync_with_fault(&env, &db_s, &format!("*{path}=reset"));
    out.expect(1);
    assert_only_failed(&db, &env, DENVER, "power", path, &out);
    assert_eq!(
        ledger(&db, path, 0),
        2,
        "two attempts without an answer\n{out}"
    );
    // The requests reached the server, which may have charged them: the worst case is
    // booked.
    assert_eq!(booked(&db, path), [1, 1], "{out}");
    rerun_clean(&env, &db, &db_s);
}

#[test]
fn a_timeout_fails_the_family() {
    let env = TestEnv::with(
        sim_options(),
        api_config("max_retries = 1\ntimeout_secs = 1\n"),
    );
    let path = "/sites/4150003/power";
    let (db, db_s) = case_db(&env, "timeout");
    let out = sync_with_fault(&env, &db_s, &format!("*{path}=timeout"));
    out.expect(1);
    // Each attempt at the silent path ended after the 1 s timeout: measured per call in the
    // ledger, not on the whole run, whose length depends on the machine (qemu, load).
    let waits: Vec<i64> = open_db(&db)
        .prepare("SELECT duration_ms FROM seh_api_calls WHERE path = ?1")
        .unwrap()
        .query_map([path], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(waits.len(), 2, "two attempts: {waits:?}\n{out}");
    assert_eq!(
        booked(&db, path),
        [1, 1],
        "a timed-out call may be charged\n{out}"
    );
    assert!(
        waits.iter().all(|ms| (900..10_000).contains(ms)),
        "each attempt ended by the timeout: {waits:?} ms\n{out}"
    );
    assert_only_failed(&db, &env, DENVER, "power", path, &out);
    rerun_clean(&env, &db, &db_s);
}

#[test]
fn a_minute_429_burst_is_waited_out() {
    // Two seconds before a minute boundary, so Retry-After is short.
    let mut opts = sim_options();
    opts.start = t0() + Duration::seconds(58);
    let env = TestEnv::with(opts, fault_config());
    let (db, db_s) = case_db(&env, "burst");
    let out = sync_with_fault(&env, &db_s, "*/sites/2150001/energy=429,times=1");
    out.expect(0);
    assert_eq!(ledger(&db, "/sites/2150001/energy", 429), 1, "{out}");
    assert!(
        out.elapsed >= std::time::Duration::from_secs(1),
        "did not wait\n{out}"
    );
    let checked = assert_truth(&env, &db);
    checked.assert_qh_up_to(t0());
}

/// A port nobody listens on: the connection is refused, no request reaches a server, and
/// the ledger books no credit for any attempt.
#[test]
fn a_closed_port_books_no_credit() {
    let env = fault_env();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.write_config(&ConfigSpec {
        base_url: Some(format!("http://127.0.0.1:{closed}/v2")),
        ..fault_config()
    });
    let out = env.seh(&["sync"]);
    assert_ne!(out.code, 0, "{out}");
    let c = env.conn();
    let calls = count(&c, "seh_api_calls");
    assert!(calls >= 2, "attempts are in the ledger\n{out}");
    assert_eq!(
        count_where(&c, "seh_api_calls", "status = 0 AND credits = 0"),
        calls,
        "{out}"
    );
}

/// The API gateway's own minute-limit 429 (`{"message":"API rate limit exceeded"}`, not
/// problem+json, reference §6.1) is waited out like the documented one.
#[test]
fn a_gateway_minute_429_is_waited_out() {
    let mut opts = sim_options();
    opts.start = t0() + Duration::seconds(58);
    opts.rate_limit_body = seh_sim::app::RateLimitBody::Gateway;
    let env = TestEnv::with(opts, fault_config());
    let (db, db_s) = case_db(&env, "gateway-burst");
    let out = sync_with_fault(&env, &db_s, "*/sites/2150001/energy=429,times=1");
    out.expect(0);
    assert_eq!(ledger(&db, "/sites/2150001/energy", 429), 1, "{out}");
    assert!(out.stderr.contains("minute rate limit"), "{out}");
    let checked = assert_truth(&env, &db);
    checked.assert_qh_up_to(t0());
}

/// With the gateway's body on both 429s, exhausted credits are still told apart by the
/// headers (calls left this minute, no Retry-After): exit 5 after one 429, and no call
/// until the renewal.
#[test]
fn a_gateway_credits_429_still_ends_the_run_with_5() {
    let mut opts = sim_options();
    opts.rate_limit_body = seh_sim::app::RateLimitBody::Gateway;
    let env = TestEnv::with(opts, fault_config());
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 40, "credit_mode": "hard"}),
    );
    let (db, db_s) = case_db(&env, "gateway-credits");
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    out.expect(5);
    assert!(out.stderr.contains("credits exhausted"), "{out}");
    assert_eq!(
        count_where(&open_db(&db), "seh_api_calls", "status = 429"),
        1,
        "{out}"
    );
    let sim_calls = env.sim_calls();
    env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]).expect(5);
    assert_eq!(
        env.sim_calls(),
        sim_calls,
        "a call while the credits are exhausted"
    );
}

#[test]
fn exhausted_credits_end_the_run_with_5_and_keep_what_was_fetched() {
    let env = fault_env();
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 40, "credit_mode": "hard"}),
    );
    let (db, db_s) = case_db(&env, "credits");
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    out.expect(5);
    assert!(out.stderr.to_lowercase().contains("credit"), "{out}");
    integrity_ok(&db);
    let c = open_db(&db);
    let stored = count(&c, "seh_raw_responses");
    assert!(stored >= 30, "only {stored} responses kept\n{out}");
    // Exactly one call past the allowance, and it ended the run.
    assert_eq!(count_where(&c, "seh_api_calls", "status = 429"), 1, "{out}");
    let exit: i64 = c
        .query_row(
            "SELECT exit_code FROM seh_runs ORDER BY run_id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(exit, 5);
    // What was fetched is stored and exact.
    let checked = assert_truth(&env, &db);
    assert!(
        checked.rows(BERLIN, "energy", "QUARTER_HOUR") > 0,
        "{checked:?}"
    );
    // Until the credits renew, seh makes no call at all.
    let sim_calls = env.sim_calls();
    env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]).expect(5);
    assert_eq!(
        env.sim_calls(),
        sim_calls,
        "a call while the credits are exhausted"
    );
    // After the renewal (1 December, the default billing day) everything is fetched.
    let raw_before = count(&c, "seh_raw_responses");
    let renewal = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 0, 0, 0).unwrap();
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 1_000_000_000u64}),
    );
    env.pass_time(renewal - env.now(), &[&db]);
    env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]).expect(0);
    integrity_ok(&db);
    let checked = crate::truth::check_truth(&env, &db, &[(raw_before, t0()), (i64::MAX, renewal)]);
    checked.assert_qh_up_to(renewal);
    for site in [BERLIN, SYDNEY, DENVER] {
        for f in ["energy", "power", "inverter_telemetry"] {
            assert!(checked.rows(site, f, "QUARTER_HOUR") > 0, "{site} {f}");
        }
    }
}

#[test]
fn a_wrong_key_is_a_credential_error() {
    let env = fault_env();
    env.write_config(&ConfigSpec {
        key: Some("not-the-right-key".into()),
        ..fault_config()
    });
    let out = env.seh(&["sync"]);
    out.expect(2);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("401") || l.to_lowercase().contains("rejected"))
        .collect();
    assert_eq!(lines.len(), 1, "one line explains the rejected key\n{out}");
    assert_eq!(count(&env.conn(), "seh_raw_responses"), 0);
    env.seh(&["check"]).expect(2);
    env.write_config(&fault_config());
    rerun_clean(&env, &env.db, &env.db.display().to_string());
}

#[test]
fn a_base_url_without_the_v2_api_is_a_configuration_error() {
    let env = fault_env();
    // Right host, wrong path: `/sites` answers 404, which the V2 API never does.
    let wrong = format!("{}/api", env.url);
    env.write_config(&ConfigSpec {
        base_url: Some(wrong.clone()),
        ..fault_config()
    });
    for cmd in ["sync", "check"] {
        let out = env.seh(&[cmd]);
        out.expect(2);
        let text = out.stderr.to_lowercase();
        assert!(
            text.contains("404") && text.contains("base_url") && text.contains(&wrong),
            "{cmd}: the error names the setting and the URL\n{out}"
        );
    }
    assert_eq!(count(&env.conn(), "seh_raw_responses"), 0);
    env.write_config(&fault_config());
    rerun_clean(&env, &env.db, &env.db.display().to_string());
}

#[test]
fn a_v1_url_is_refused_as_retired() {
    let env = fault_env();
    // A V1 site URL pasted as the base URL: every path below it answers 410.
    env.write_config(&ConfigSpec {
        base_url: Some(format!("{}/site/2150001", env.url)),
        ..fault_config()
    });
    let out = env.seh(&["sync"]);
    out.expect(2);
    let text = out.stderr.to_lowercase();
    assert!(
        text.contains("410") && text.contains("v1") && text.contains("retired"),
        "{out}"
    );
    env.seh(&["check"]).expect(2);
    env.write_config(&fault_config());
    rerun_clean(&env, &env.db, &env.db.display().to_string());
}

/// The disk fills up in the middle of a first sync: exit 4 with one line that says so,
/// nothing half-written, and once there is room again the next run resumes and ends equal
/// to the simulator's truth.
#[test]
fn a_full_disk_is_exit_4_and_the_next_run_resumes() {
    let env = fault_env();
    let Some(disk) = SmallDisk::mount(env.path("small"), "1m") else {
        eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
        return;
    };
    let db = disk.dir.join("seh.db");
    let db_s = db.display().to_string();
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    out.expect(4);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("disk is full"))
        .collect();
    assert!(!lines.is_empty(), "the error says the disk is full\n{out}");
    assert!(
        !out.stderr.to_lowercase().contains("panick"),
        "no panic\n{out}"
    );
    disk.grow("256m");
    integrity_ok(&db);
    let stored = count(&open_db(&db), "seh_raw_responses");
    eprintln!("full disk: {stored} responses were stored before the disk filled up");
    assert!(
        stored > 0,
        "the first run stored something before the disk filled up"
    );
    rerun_clean(&env, &db, &db_s);
}

#[test]
fn an_endpoint_outage_is_not_paid_for_day_by_day() {
    let env = fault_env();
    let (db, db_s) = case_db(&env, "outage");
    // `/overview` answers 500 for every site and day: three failures in a row end the
    // family for this run (each one after the client's own retries).
    let out = sync_with_fault(&env, &db_s, "*/overview=500");
    out.expect(1);
    assert!(out.stderr.contains("server failures in a row"), "{out}");
    let c = open_db(&db);
    let failed = count_where(
        &c,
        "seh_api_calls",
        "path LIKE '%/overview' AND status = 500",
    );
    // Three sites with four overview days each would be twelve failed days; three days
    // with two attempts each (max_retries = 1) is the bound.
    assert!(failed <= 6, "{failed} failed overview calls\n{out}");
    // The other families were harvested as usual, and the next run tries again.
    let checked = assert_truth(&env, &db);
    checked.assert_qh_up_to(t0());
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    out.expect(0);
    assert!(count(&open_db(&db), "seh_overview") > 0, "{out}");
}

#[test]
fn a_cursor_and_its_rows_never_part() {
    // The cursor write of one family fails (a trigger stands in for a crash or a full disk
    // at that moment): its rows and archived response must vanish with it, never stay
    // behind without the cursor that says they were fetched.
    let env = fault_env();
    for (family, table) in [
        ("devices", "seh_devices"),
        ("benefits", "seh_environmental_benefits"),
        ("fleet_alerts", "seh_alerts"),
    ] {
        let (db, db_s) = case_db(&env, family);
        env.seh_env(&["init"], &[("SEH_DATABASE", &db_s)]).expect(0);
        open_db(&db)
            .execute_batch(&format!(
                "CREATE TRIGGER inject BEFORE INSERT ON seh_sync_state \
                 WHEN NEW.family = '{family}' BEGIN SELECT RAISE(ABORT, 'injected'); END;"
            ))
            .unwrap();
        let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
        assert_ne!(out.code, 0, "{family}: the failure went unnoticed\n{out}");
        integrity_ok(&db);
        let c = open_db(&db);
        assert_eq!(
            count(&c, table),
            0,
            "{family}: rows without their cursor\n{out}"
        );
        assert_eq!(
            count_where(&c, "seh_raw_responses", &format!("family = '{family}'")),
            0,
            "{family}: a response archived without its cursor\n{out}"
        );
    }
}

#[test]
fn an_unreachable_server_ends_the_run_after_a_few_unanswered_calls() {
    let env = fault_env();
    env.sync_ok();
    let mark = max_id(&env.conn(), "seh_api_calls");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/v2");
    env.pass_time(Duration::hours(2), &[&env.db]);
    let out = env.seh_env(&["sync"], &[("SEH_API_BASE_URL", &url)]);
    out.expect(1);
    // One line names the host and says the next run tries again.
    let errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].contains(&format!("cannot reach 127.0.0.1:{closed}"))
            && errors[0].contains("the next run tries again"),
        "{out}"
    );
    // Three unanswered calls of two attempts each (max_retries = 1), not one per task.
    let attempts = count_where(&env.conn(), "seh_api_calls", &format!("id > {mark}"));
    assert!(attempts <= 6, "{attempts} attempts\n{out}");
}
