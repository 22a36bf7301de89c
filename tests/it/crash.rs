//! `kill -9` at random moments, and Ctrl-C: the database stays consistent and a rerun ends
//! exactly where an uninterrupted run ends.

use crate::harness::*;
use crate::truth::assert_truth;
use std::time::{Duration, Instant};

/// Every simulated API call is delayed this much, so a sync takes a few seconds.
const SLOW: &str = "/v2/sites=slow:20";

#[test]
fn kill_9_at_random_moments_loses_nothing() {
    let env = TestEnv::new();
    // The reference: one uninterrupted run (same virtual time) into its own database.
    let reference = env.path("reference.db");
    let ref_s = reference.display().to_string();
    env.seh_env(&["sync"], &[("SEH_DATABASE", &ref_s)])
        .expect(0);
    let want = snapshot(&reference);
    let want_cursors = cursors(&reference);
    let ref_raws = count(&open_db(&reference), "seh_raw_responses");

    let mut rng = Rng::new(0x5EED_2026);
    let mut mid_run = 0;
    for trial in 0..5 {
        let db = env.path(&format!("trial{trial}.db"));
        let db_s = db.display().to_string();
        env.add_fault(SLOW);
        let mut child = env.spawn_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
        let delay = rng.range(150, 2_400);
        std::thread::sleep(Duration::from_millis(delay));
        let early = child.try_wait().expect("try_wait").is_some();
        signal(&child, "KILL");
        let status = child.wait().expect("wait");
        env.clear_faults();
        let stored = if db.exists() {
            integrity_ok(&db);
            let c = open_db(&db);
            // The database may have died before its tables existed.
            let has_tables = count_where(
                &c,
                "sqlite_master",
                "type = 'table' AND name = 'seh_raw_responses'",
            ) == 1;
            if has_tables {
                count(&c, "seh_raw_responses")
            } else {
                0
            }
        } else {
            0
        };
        eprintln!(
            "trial {trial}: killed after {delay} ms ({status:?}, finished before: {early}), {stored} of {ref_raws} responses stored"
        );
        if !early && stored > 0 && stored < ref_raws {
            mid_run += 1;
            // The run that died never wrote its summary.
            let c = open_db(&db);
            let unfinished = count_where(&c, "seh_runs", "finished_at IS NULL");
            assert_eq!(
                unfinished, 1,
                "trial {trial}: the killed run is open in seh_runs"
            );
        }
        let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
        out.expect(0);
        integrity_ok(&db);
        assert_same(
            &want,
            &snapshot(&db),
            &format!("trial {trial} vs uninterrupted"),
        );
        assert_eq!(cursors(&db), want_cursors, "trial {trial}: cursors");
    }
    assert!(
        mid_run >= 3,
        "only {mid_run} of 5 kills hit a run in the middle; the test proves too little"
    );
}

#[test]
fn ctrl_c_stops_with_130_and_a_consistent_database() {
    let env = TestEnv::new();
    env.add_fault(SLOW);
    let child = env.spawn(&["sync"]);
    std::thread::sleep(Duration::from_millis(1_000));
    signal(&child, "INT");
    let sent = Instant::now();
    let out = wait_out(child, &["sync", "(SIGINT)"]);
    let took = sent.elapsed();
    out.expect(130);
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} after SIGINT\n{out}"
    );
    assert!(out.stderr.to_lowercase().contains("interrupt"), "{out}");
    integrity_ok(&env.db);
    let c = env.conn();
    let stored = count(&c, "seh_raw_responses");
    assert!(stored > 0, "nothing stored before the interrupt\n{out}");
    let (exit, summary): (i64, String) = c
        .query_row(
            "SELECT exit_code, summary FROM seh_runs ORDER BY run_id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(exit, 130, "{summary}");
    // What was stored before the interrupt is exact (rows, archive and cursors agree).
    assert_truth(&env, &env.db);
    env.clear_faults();
    env.sync_ok();
    let checked = assert_truth(&env, &env.db);
    checked.assert_qh_up_to(t0());
}
