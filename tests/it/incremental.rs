//! Incremental runs: a second run at the same virtual time changes nothing and spends only
//! the settle-window calls; a run two hours later fills in the late quarter-hours.

use crate::harness::*;
use crate::truth::{check_truth, close};
use chrono::Duration;
use std::collections::BTreeMap;

/// Quarter-hour tables with the expression that gives their (device_key, metric, value).
const QH_TABLES: [(&str, &str, &str); 5] = [
    ("seh_energy", "energy", "'' AS k, 'energy' AS m, energy_wh"),
    ("seh_power", "power", "'' AS k, 'power' AS m, power_w"),
    (
        "seh_inverter_telemetry",
        "inverters",
        "device_key, metric, value",
    ),
    ("seh_meter_telemetry", "meters", "device_key, metric, value"),
    (
        "seh_storage_telemetry",
        "storage",
        "device_key, metric, value",
    ),
];

/// Every data table with all columns, bookkeeping included.
fn full_dump(env: &TestEnv) -> Snapshot {
    let c = env.conn();
    DATA_TABLES
        .iter()
        .map(|t| (t.to_string(), dump_without(&c, t, &[])))
        .collect()
}

/// `rows` and `calls` of the last run.
fn last_run(c: &rusqlite::Connection) -> (i64, i64) {
    c.query_row(
        "SELECT rows, calls FROM seh_runs ORDER BY run_id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// What `seh plan` says the next sync will cost.
fn plan_calls(env: &TestEnv) -> i64 {
    let out = env.seh(&["plan", "--json"]);
    out.expect(0);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    v["next_run"]["calls"]
        .as_i64()
        .unwrap_or_else(|| panic!("{out}"))
}

#[test]
fn second_run_changes_nothing_and_a_later_run_fills_late_quarter_hours() {
    let env = TestEnv::new();
    env.sync_ok();
    let c = env.conn();
    let before = full_dump(&env);
    let calls1 = max_id(&c, "seh_api_calls");
    let sim1 = env.sim_calls();
    assert_eq!(
        calls1 as u64, sim1,
        "the ledger records every call the simulator saw"
    );

    // ----- run 2, same virtual time: the planner's prediction, nothing new -------------
    let predicted = plan_calls(&env);
    env.sync_ok();
    let after = full_dump(&env);
    // Bookkeeping included: not one row was rewritten (updated_at, change_seq unchanged),
    // so a pusher sees nothing new.
    assert_same(&before, &after, "second run at the same time");
    let (rows, calls) = last_run(&c);
    assert_eq!(rows, 0, "seh_runs.rows of the second run");
    let calls2 = count_where(&c, "seh_api_calls", &format!("id > {calls1}"));
    assert_eq!(calls2, calls, "seh_runs.calls vs ledger");
    assert_eq!(calls2, predicted, "second run vs `seh plan`");
    assert_eq!(env.sim_calls() - sim1, calls2 as u64, "simulator vs ledger");
    assert!(
        calls1 >= 20 * calls2.max(1),
        "run 1 {calls1} calls, run 2 {calls2}"
    );

    // ----- run 2b, same time, --full: freshness regardless of cadence ------------------
    // Every quarter-hour series re-reads exactly its settle window, nothing older.
    let calls2 = max_id(&c, "seh_api_calls");
    let raw2 = max_id(&c, "seh_raw_responses");
    let sim2 = env.sim_calls();
    env.seh(&["sync", "--full"]).expect(0);
    assert_same(&before, &full_dump(&env), "--full run at the same time");
    let (rows, calls) = last_run(&c);
    assert_eq!(rows, 0, "seh_runs.rows of the --full run");
    assert_eq!(
        env.sim_calls() - sim2,
        calls as u64,
        "simulator vs seh_runs"
    );
    assert_eq!(
        count_where(&c, "seh_api_calls", &format!("id > {calls2}")),
        calls
    );
    let qh_series = count_where(&c, "seh_sync_state", "resolution = 'QUARTER_HOUR'");
    assert_eq!(
        qh_series,
        5 + 4 + 3,
        "quarter-hour series of the default fleet"
    );
    let settled = t0() - Duration::hours(3);
    let mut st = c
        .prepare("SELECT family, query FROM seh_raw_responses WHERE id > ?1")
        .unwrap();
    let reqs: Vec<(String, String)> = st
        .query_map([raw2], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut qh_windows = 0;
    for (family, q) in &reqs {
        let get = |k: &str| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .map(parse_ts)
        };
        if q.contains("resolution=TOTAL") || !q.contains("resolution=") {
            continue; // lifetime total and unwindowed families
        }
        if family == "overview" {
            let from = get("from").unwrap();
            assert!(
                from > t0() - Duration::hours(48),
                "an old overview day: {q}"
            );
            continue;
        }
        assert!(
            q.contains("resolution=QUARTER_HOUR"),
            "--full asked for {family} {q}"
        );
        assert_eq!(
            get("from").unwrap(),
            settled,
            "window start of {family}: {q}"
        );
        assert_eq!(get("to").unwrap(), t0(), "window end of {family}: {q}");
        qh_windows += 1;
    }
    assert_eq!(
        qh_windows, qh_series,
        "one settle window per quarter-hour series"
    );
    assert!(
        calls1 >= 5 * calls,
        "run 1 {calls1} calls, --full run {calls}"
    );

    // ----- run 3, two hours later: late quarter-hours -----------------------------------
    let raw2 = max_id(&c, "seh_raw_responses");
    let _ = (sim1, calls1);
    // Quarter-hours of the last hour that were still null (not arrived) in run 1.
    let mut nulls: BTreeMap<(String, i64, String, String, String), ()> = BTreeMap::new();
    for (table, _, cols) in QH_TABLES {
        let sql = format!(
            "SELECT site_id, {cols} , ts_utc FROM {table} \
             WHERE resolution = 'QUARTER_HOUR' AND ts_utc >= ?1",
        );
        let mut st = c.prepare(&sql).unwrap();
        let rows: Vec<(i64, String, String, Option<f64>, String)> = st
            .query_map([z(t0() - Duration::hours(1))], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (site, k, m, v, ts) in rows {
            if v.is_none() {
                nulls.insert((table.to_string(), site, k, m, ts), ());
            }
        }
    }
    env.pass_time(Duration::hours(2), &[&env.db]);
    let later = t0() + Duration::hours(2);
    // Which of them the API has by now.
    let mut late: BTreeMap<(String, i64, String, String, String), f64> = BTreeMap::new();
    for (table, tfam, _) in QH_TABLES {
        for site in [BERLIN, SYDNEY, DENVER] {
            let truth = env.truth(
                site,
                tfam,
                Some("QUARTER_HOUR"),
                Some(&z(t0() - Duration::hours(1))),
                Some(&z(t0())),
            );
            for v in truth {
                let key = (
                    table.to_string(),
                    site,
                    v["device_key"].as_str().unwrap().to_string(),
                    v["metric"].as_str().unwrap().to_string(),
                    v["ts_utc"].as_str().unwrap().to_string(),
                );
                if let (true, Some(x)) = (nulls.contains_key(&key), v["value"].as_f64()) {
                    late.insert(key, x);
                }
            }
        }
    }
    assert!(
        late.len() >= 5,
        "expected late quarter-hours that were null in run 1 and have values now; nulls {}, late {}",
        nulls.len(),
        late.len()
    );
    env.sync_ok();
    for ((table, site, k, m, ts), want) in &late {
        let (kcol, mcol, vcol) = match table.as_str() {
            "seh_energy" => ("''", "'energy'", "energy_wh"),
            "seh_power" => ("''", "'power'", "power_w"),
            _ => ("device_key", "metric", "value"),
        };
        let got: Option<f64> = c
            .query_row(
                &format!(
                    "SELECT {vcol} FROM {table} WHERE site_id = ?1 AND {kcol} = ?2 AND {mcol} = ?3 \
                     AND ts_utc = ?4 AND resolution = 'QUARTER_HOUR'"
                ),
                rusqlite::params![site, k, m, ts],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            got.is_some_and(|g| close(g, *want)),
            "late quarter-hour {table} {site} {k} {m} {ts}: db {got:?}, truth {want}"
        );
    }
    // And everything equals the truth as of the later time (slow families as of run 1).
    let checked = check_truth(&env, &env.db, &[(raw2, t0()), (i64::MAX, later)]);
    checked.assert_qh_up_to(later);
    // The cursors moved with the settle boundary.
    let ct: String = c
        .query_row(
            "SELECT covered_to FROM seh_sync_state WHERE site_id = ?1 AND family = 'energy' AND resolution = 'QUARTER_HOUR'",
            [BERLIN],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(parse_ts(&ct), later - Duration::hours(3));
}

#[test]
fn a_site_that_leaves_the_keys_account_is_named_on_every_run_and_in_status() {
    // The key's account held the whole fleet; now it lists Berlin and Sydney only (the
    // same database, the key moved to a simulator whose key sees two sites).
    let before = TestEnv::new();
    before.sync_ok();
    let mut opts = sim_options();
    opts.key_sites = Some(vec![BERLIN, SYDNEY]);
    let env = TestEnv::with(opts, ConfigSpec::default());
    std::fs::copy(&before.db, &env.db).unwrap();
    for run in 0..2 {
        env.pass_time(Duration::minutes(15), &[&env.db]);
        let mark = max_id(&open_db(&env.db), "seh_api_calls");
        let out = env.sync_ok();
        assert!(
            out.stderr.contains(&format!(
                "site {DENVER} is no longer in the Fleet key's site list"
            )),
            "run {run}: not named\n{out}"
        );
        // No call for it.
        let c = open_db(&env.db);
        let denver = count_where(
            &c,
            "seh_api_calls",
            &format!("id > {mark} AND path LIKE '%/{DENVER}%'"),
        );
        assert_eq!(denver, 0, "{out}");
    }
    let status = env.seh(&["status"]);
    status.expect(0);
    assert!(
        status.stdout.contains(&format!(
            "Cedar Ridge Denver ({DENVER}), America/Denver\n  not in the Fleet key's site list"
        )),
        "{status}"
    );
}

#[test]
fn only_bounds_every_call_discovery_included() {
    let env = TestEnv::new();
    // A fresh database: `--only sites` reads the site list and nothing else.
    let out = env.seh(&["sync", "--only", "sites"]);
    out.expect(0);
    let c = open_db(&env.db);
    let paths = strings(&c, "SELECT path FROM seh_api_calls ORDER BY id");
    assert_eq!(paths, vec!["/sites".to_string()], "{out}");
    assert_eq!(count(&c, "seh_sites"), 4, "{out}");
    // `seh plan` with the same bound plans nothing more for this run.
    let plan = env.seh(&["plan", "--only", "sites", "--json"]);
    plan.expect(0);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(v["next_run"]["calls"], 0, "{plan}");
    // `--only energy --sites BERLIN`: the details and devices of Berlin are left out too,
    // so nothing can be planned yet, and not a single call is made.
    let calls = env.sim_calls();
    let out = env.seh(&["sync", "--only", "energy", "--sites", &BERLIN.to_string()]);
    out.expect(0);
    assert_eq!(env.sim_calls(), calls, "{out}");
    assert!(out.stderr.contains("--only leaves out"), "{out}");
    // With the discovery families named, exactly Berlin's details, devices and energy.
    let out = env.seh(&[
        "sync",
        "--only",
        "details,devices,energy",
        "--sites",
        &BERLIN.to_string(),
    ]);
    out.expect(0);
    let c = open_db(&env.db);
    let foreign = count_where(
        &c,
        "seh_api_calls",
        &format!("path != '/sites' AND path NOT LIKE '/sites/{BERLIN}%'"),
    );
    assert_eq!(foreign, 0, "calls for other sites\n{out}");
    let kinds = strings(
        &c,
        &format!("SELECT DISTINCT path FROM seh_api_calls WHERE path LIKE '/sites/{BERLIN}%' ORDER BY path"),
    );
    assert_eq!(
        kinds,
        vec![
            format!("/sites/{BERLIN}"),
            format!("/sites/{BERLIN}/devices"),
            format!("/sites/{BERLIN}/energy"),
        ],
        "{out}"
    );
}
