//! `seh reprocess` rebuilds every data table from the raw archive with zero API calls.

use crate::harness::*;
use chrono::Duration;

#[test]
fn reprocess_rebuilds_identical_tables_without_calls() {
    let env = TestEnv::new();
    env.sync_ok();
    // A second run two hours later re-reads the settle window, so the archive holds
    // overlapping responses where late values replace nulls: replay order matters.
    env.pass_time(Duration::hours(2), &[&env.db]);
    env.sync_ok();
    let before = snapshot(&env.db);
    let sums = checksums(&before);
    let cur = cursors(&env.db);
    let c = env.conn();
    let calls = count(&c, "seh_api_calls");
    let raws = count(&c, "seh_raw_responses");
    let sim_calls = env.sim_calls();
    assert!(sums["seh_energy"].0 > 0 && sums["seh_storage_telemetry"].0 > 0);

    let out = env.seh(&["reprocess"]);
    out.expect(0);
    let after = snapshot(&env.db);
    assert_same(&before, &after, "after reprocess");
    assert_eq!(sums, checksums(&after), "checksums of the derived tables");
    assert_eq!(cur, cursors(&env.db), "cursors are kept");
    assert_eq!(
        count(&c, "seh_api_calls"),
        calls,
        "reprocess made a call (ledger)\n{out}"
    );
    assert_eq!(count(&c, "seh_raw_responses"), raws, "the archive changed");
    assert_eq!(
        env.sim_calls(),
        sim_calls,
        "reprocess made a call (simulator)\n{out}"
    );
    integrity_ok(&env.db);
}
