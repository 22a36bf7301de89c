//! `kill -9` at random moments, and Ctrl-C: the database stays consistent and a rerun ends
//! exactly where an uninterrupted run ends.
//!
//! The kill tests run a campaign of seeded trials for each of two kinds of sync: a first
//! sync into an empty database, and an incremental one (a first sync, then the simulator's
//! clock moves on by [`LATER`]). Each trial kills `seh sync` with SIGKILL at a random moment
//! of its run, checks the database's integrity, reruns the sync to the end and compares
//! every data table and every cursor row by row with an uninterrupted reference (which is
//! itself compared with `/_sim/truth`). `SEH_CRASH_TRIALS` sets the number of trials per
//! kind (default [`DEFAULT_TRIALS`], so the default suite stays quick) and `SEH_CRASH_SEED`
//! the seed; `scripts/crashtest N` runs a long campaign and prints each kind's summary line.
//! No test here asserts a duration: kill moments are scaled to a measured uninterrupted
//! run, and what is asserted are counts.

use crate::harness::*;
use crate::truth::{assert_truth, check_truth};
use chrono::Utc;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every simulated API call is delayed this much, so a sync takes a few seconds.
const SLOW: &str = "/v2/sites=slow:20";

/// Trials per kind unless `SEH_CRASH_TRIALS` says otherwise.
const DEFAULT_TRIALS: u64 = 5;

/// The seed unless `SEH_CRASH_SEED` says otherwise (decimal, or hexadecimal with `0x`).
const DEFAULT_SEED: u64 = 0x5EED_2026;

/// A campaign times an uninterrupted run again after this many trials.
const RECALIBRATE: u64 = 10;

/// How long the Pi was off between the first sync and the incremental one: long enough
/// that every quarter-hour series needs two windows (23 hours from its settle boundary,
/// 12-hour windows), short of the slow families' daily cadence.
const LATER: chrono::Duration = chrono::Duration::hours(20);

/// Kill moments are drawn uniformly from this share of the measured uninterrupted run (in
/// percent), so a few land after its end too.
const KILL_SPAN_PERCENT: u64 = 105;

fn trials() -> u64 {
    match std::env::var("SEH_CRASH_TRIALS") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("SEH_CRASH_TRIALS={s:?}: {e}")),
        Err(_) => DEFAULT_TRIALS,
    }
}

fn seed() -> u64 {
    let Ok(s) = std::env::var("SEH_CRASH_SEED") else {
        return DEFAULT_SEED;
    };
    let s = s.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("SEH_CRASH_SEED={s:?}: {e}"))
}

/// What every trial of one kind is compared with.
struct Reference {
    /// Every data table after the uninterrupted sync.
    want: Snapshot,
    /// Every cursor (sync state) after it.
    want_state: Vec<String>,
    /// Archived responses before the sync (a trial that stored more was killed after its
    /// first answer) and after it (one that stored fewer was killed before its last).
    raws_before: i64,
    raws_after: i64,
    /// Wall time of the uninterrupted sync, spawn to exit.
    took: Duration,
}

/// When one trial's kill comes.
#[derive(Clone, Copy)]
struct Kill {
    trial: u64,
    delay: Duration,
    /// The delay as a share of the last timed uninterrupted run.
    percent: f64,
}

/// The outcome of one kind's campaign.
#[derive(Default)]
struct Tally {
    kills: u64,
    /// Kills that landed while the run was storing: some but not all responses stored.
    mid_run: u64,
    converged: u64,
    /// `trial N: what differed` for every trial that did not converge.
    diverged: Vec<String>,
}

/// The sync state a rerun must reproduce: every row of `seh_sync_state` except the clock
/// anchor (it holds the local time of the last run), without `rows_last_run` (a rerun
/// writes only what the killed run had not).
fn sync_state(path: &Path) -> Vec<String> {
    let c = open_db(path);
    dump_without(&c, "seh_sync_state", &["rows_last_run"])
        .into_iter()
        .filter(|row| !row.starts_with("site_id=0|family=\"clock\"|"))
        .collect()
}

/// Responses in the archive; 0 when the killed run did not get as far as creating it.
fn raws(path: &Path) -> i64 {
    if !path.exists() {
        return 0;
    }
    let c = open_db(path);
    let tables = count_where(
        &c,
        "sqlite_master",
        "type = 'table' AND name = 'seh_raw_responses'",
    );
    if tables == 1 {
        count(&c, "seh_raw_responses")
    } else {
        0
    }
}

/// The database file and its companions (`-wal`, `-shm`, the run lock).
fn db_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", ".lock"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .collect()
}

/// Copies a database that no process has open (its WAL, if any, goes along).
fn copy_db(from: &Path, to: &Path) {
    for (f, t) in db_files(from).iter().zip(db_files(to)).take(3) {
        if f.exists() {
            std::fs::copy(f, &t).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
        }
    }
}

/// Makes the stored clock anchor of `db` agree with the frozen simulator: extrapolated
/// from the anchor with the local clock (what seh does until the server's first answer),
/// the server's time is the simulator's `now`. Real time passes between a kill and its
/// rerun, and over a campaign; the simulator's clock does not, and a task that reads the
/// clock before the run's first answer would otherwise stamp the real seconds in between.
/// Nothing to do without an anchor.
fn align_clock_anchor(db: &Path, now: chrono::DateTime<Utc>) {
    if !db.exists() {
        return;
    }
    let c = open_db(db);
    let has_state = count_where(
        &c,
        "sqlite_master",
        "type = 'table' AND name = 'seh_sync_state'",
    ) == 1;
    let anchor: Option<(String, String)> = if has_state {
        c.query_row(
            "SELECT json_extract(extra, '$.server'), json_extract(extra, '$.local') \
             FROM seh_sync_state WHERE site_id = 0 AND family = 'clock'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    } else {
        None
    };
    drop(c);
    if let Some((server, local)) = anchor {
        // The anchor's local half moves to `Utc::now() - (now - server)`.
        let age = now - parse_ts(&server);
        rewind_clock_anchor(db, parse_ts(&local) - (Utc::now() - age));
    }
}

/// Reads a child's pipe to the end on its own thread, so a chatty child never blocks on
/// a full pipe while the test sleeps before the kill.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

/// An uninterrupted `seh sync` into `db`, which `prepare` made first.
fn uninterrupted(env: &TestEnv, db: &Path, prepare: &dyn Fn(&Path)) -> Out {
    prepare(db);
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db.display().to_string())]);
    out.expect(0);
    out
}

/// Runs `n` trials of one kind. `prepare` makes the database a killed sync starts from.
fn campaign(
    env: &TestEnv,
    kind: &str,
    seed: u64,
    n: u64,
    reference: &Reference,
    prepare: &dyn Fn(&Path),
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut took = reference.took;
    let mut tally = Tally::default();
    for trial in 0..n {
        if trial > 0 && trial % RECALIBRATE == 0 {
            // The machine is shared: time an uninterrupted run again, so the kills keep
            // landing within a run when it got faster or slower.
            let db = env.path("recalibrate.db");
            took = uninterrupted(env, &db, prepare).elapsed;
            for f in db_files(&db) {
                let _ = std::fs::remove_file(f);
            }
        }
        // The seeded part is the moment as a share of the run (parts per million); the
        // delay scales it to this machine.
        let ppm = u128::from(rng.below(1_000_000));
        let micros = took.as_micros() * ppm * u128::from(KILL_SPAN_PERCENT) / 100 / 1_000_000;
        let kill = Kill {
            trial,
            delay: Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX)),
            percent: ppm as f64 * KILL_SPAN_PERCENT as f64 / 1e6,
        };
        let db = env.path(&format!("{}-{trial}.db", kind.replace(' ', "-")));
        let result = catch_unwind(AssertUnwindSafe(|| {
            one_trial(env, kind, &kill, &db, reference, prepare)
        }));
        tally.kills += 1;
        match result {
            Ok(mid) => {
                tally.converged += 1;
                tally.mid_run += u64::from(mid);
                for f in db_files(&db) {
                    let _ = std::fs::remove_file(f);
                }
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let first = msg.lines().next().unwrap_or("").to_string();
                tally.diverged.push(format!(
                    "trial {trial} (kill after {:.3?}, {:.1}% of a run): {first}",
                    kill.delay, kill.percent
                ));
                keep(&db, kind, trial);
            }
        }
    }
    tally
}

/// With `SEH_CRASH_KEEP=DIR`, a diverged trial's database is copied there for a post
/// mortem (the temporary directory goes when the test ends).
fn keep(db: &Path, kind: &str, trial: u64) {
    let Ok(dir) = std::env::var("SEH_CRASH_KEEP") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let to = dir.join(format!("{}-{trial}.db", kind.replace(' ', "-")));
    copy_db(db, &to);
    eprintln!("{kind} trial {trial}: database kept as {}", to.display());
}

/// One trial; returns whether the kill landed mid-run. Panics on any divergence.
fn one_trial(
    env: &TestEnv,
    kind: &str,
    kill: &Kill,
    db: &Path,
    reference: &Reference,
    prepare: &dyn Fn(&Path),
) -> bool {
    let Kill {
        trial,
        delay,
        percent,
    } = *kill;
    prepare(db);
    let db_s = db.display().to_string();
    let mut child = env.spawn_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    let (so, se) = (drain(child.stdout.take()), drain(child.stderr.take()));
    std::thread::sleep(delay);
    let early = child.try_wait().expect("try_wait").is_some();
    child.kill().expect("kill -9"); // SIGKILL; a no-op if it already exited
    let status = child.wait().expect("wait");
    let killed_out = format!(
        "--- killed run's stdout:\n{}--- stderr:\n{}",
        so.join().unwrap_or_default(),
        se.join().unwrap_or_default()
    );
    if db.exists() {
        integrity_ok(db);
    }
    let stored = raws(db);
    let mid = !early && stored > reference.raws_before && stored < reference.raws_after;
    eprintln!(
        "{kind} trial {trial}: killed after {delay:.3?} ({percent:.1}% of a run; {status}, \
         finished before: {early}), {stored} of {} responses stored{}",
        reference.raws_after,
        if mid { ", mid-run" } else { "" }
    );
    if mid {
        // The run that died never wrote its summary.
        let unfinished = count_where(&open_db(db), "seh_runs", "finished_at IS NULL");
        assert_eq!(
            unfinished, 1,
            "{kind} trial {trial}: the killed run is open in seh_runs\n{killed_out}"
        );
    }
    align_clock_anchor(db, env.now());
    let out = env.seh_env(&["sync"], &[("SEH_DATABASE", &db_s)]);
    assert_eq!(
        out.code, 0,
        "{kind} trial {trial}: the rerun failed\n{out}\n{killed_out}"
    );
    integrity_ok(db);
    assert_same(
        &reference.want,
        &snapshot(db),
        &format!("{kind} trial {trial} vs uninterrupted"),
    );
    let state = sync_state(db);
    if state != reference.want_state {
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter().filter(|r| !b.contains(r)).cloned().collect()
        };
        panic!(
            "{kind} trial {trial}: sync state differs\nonly in the reference:\n  {}\nonly after the rerun:\n  {}",
            only(&reference.want_state, &state).join("\n  "),
            only(&state, &reference.want_state).join("\n  "),
        );
    }
    mid
}

/// Prints the summary line `scripts/crashtest` looks for and asserts the campaign.
fn conclude(kind: &str, seed: u64, t: &Tally) {
    eprintln!(
        "{kind}: {} kills, {} mid-run, {} converged (seed {seed:#x})",
        t.kills, t.mid_run, t.converged
    );
    assert!(
        t.diverged.is_empty(),
        "{kind}: {} of {} trials diverged (seed {seed:#x}):\n{}",
        t.diverged.len(),
        t.kills,
        t.diverged.join("\n")
    );
    // Kills that all landed before the first answer or after the last would prove little.
    // Half, rounded down: the kill moments are seeded, but how far a run got by then
    // depends on the machine's load.
    assert!(
        t.mid_run >= t.kills / 2,
        "{kind}: only {} of {} kills hit a run in the middle; the test proves too little",
        t.mid_run,
        t.kills
    );
}

#[test]
fn kill_9_during_a_first_sync_loses_nothing() {
    let env = TestEnv::new();
    let (n, seed) = (trials(), seed());
    // The reference: one uninterrupted run (same virtual time) into its own database.
    let reference = env.path("reference.db");
    let out = uninterrupted(&env, &reference, &|_| {});
    assert_truth(&env, &reference).assert_qh_up_to(t0());
    let r = Reference {
        want: snapshot(&reference),
        want_state: sync_state(&reference),
        raws_before: 0,
        raws_after: raws(&reference),
        took: out.elapsed,
    };
    let tally = campaign(&env, "first sync", seed, n, &r, &|_| {});
    conclude("first sync", seed, &tally);
}

#[test]
fn kill_9_during_an_incremental_sync_loses_nothing() {
    let env = TestEnv::new();
    let (n, seed) = (trials(), seed() ^ 0x1AC2);
    // The first sync, once; every trial starts from a copy of it.
    let base = env.path("base.db");
    env.seh_env(&["sync"], &[("SEH_DATABASE", &base.display().to_string())])
        .expect(0);
    env.pass_time(LATER, &[]);
    // Each copy's clock anchor says the first sync was exactly LATER ago, however long
    // the campaign has been running.
    let prepare = |db: &Path| {
        copy_db(&base, db);
        align_clock_anchor(db, env.now());
    };
    let reference = env.path("reference.db");
    let out = uninterrupted(&env, &reference, &prepare);
    let later = t0() + LATER;
    let raws_before = raws(&base);
    let first_ids = max_id(&open_db(&base), "seh_raw_responses");
    check_truth(&env, &reference, &[(first_ids, t0()), (i64::MAX, later)]).assert_qh_up_to(later);
    let r = Reference {
        want: snapshot(&reference),
        want_state: sync_state(&reference),
        raws_before,
        raws_after: raws(&reference),
        took: out.elapsed,
    };
    assert!(
        r.raws_after > r.raws_before,
        "the incremental sync fetched nothing"
    );
    let tally = campaign(&env, "incremental sync", seed, n, &r, &prepare);
    conclude("incremental sync", seed, &tally);
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
