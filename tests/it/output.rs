//! What a person reads: `plan` before and after the first sync, `status` plain and `-v`,
//! and every `--help`, held as snapshots (`tests/it/snapshots/*.txt`) and checked to fit
//! 80 columns. The simulator's frozen clock makes the text repeatable; the temporary paths
//! and the run's duration are replaced before comparing. `SEH_UPDATE_SNAPSHOTS=1` writes
//! the snapshots anew (review the diff).

use crate::harness::*;
use std::path::PathBuf;

const WIDTH: usize = 80;

fn fits(what: &str, text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "{what}: {} columns: {line}\n{text}",
            line.chars().count()
        );
    }
}

/// Replaces what differs between runs: the temporary directory, the run's duration, and
/// the clock note (the frozen simulator's clock is behind this machine's by a different
/// amount every day; `tests/it/clock.rs` checks that note).
fn normalise(env: &TestEnv, text: &str) -> String {
    let dir = env.dir.path().display().to_string();
    let mut lines: Vec<&str> = Vec::new();
    let mut in_clock = false;
    for line in text.lines() {
        in_clock = line.starts_with("clock: ") || (in_clock && line.starts_with("  "));
        if !in_clock {
            lines.push(line);
        }
    }
    let mut out = lines.join("\n") + "\n";
    out = out.replace(&dir, "<dir>");
    while let Some(i) = out.find(" rows in ") {
        let start = i + " rows in ".len();
        let end = out[start..].find(" s;").map_or(start, |e| start + e);
        out.replace_range(start..end, "<t>");
        if end == start {
            break;
        }
        let next = out[start..].find(" rows in ").map(|n| start + n);
        if next.is_none() {
            break;
        }
    }
    out
}

fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("SEH_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with SEH_UPDATE_SNAPSHOTS=1", path.display()));
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n--- want\n{}\n--- got\n{}\n\
             (SEH_UPDATE_SNAPSHOTS=1 accepts the new text)",
            path.display(),
            first + 1,
            want.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

fn free_tier() -> ConfigSpec {
    ConfigSpec {
        budget: "monthly_credits = 2000\nper_minute = 1000\n".into(),
        ..ConfigSpec::default()
    }
}

#[test]
fn plan_and_status_read_well_in_80_columns() {
    let env = TestEnv::with(sim_options(), free_tier());
    env.seh(&["init"]).expect(0);
    let plan = env.seh(&["plan"]);
    plan.expect(0);
    fits("plan before the first sync", &plan.stdout);
    // Before any answer the budget rests on this machine's clock: its lines change from day
    // to day, so the snapshot starts at the sites.
    let sites = plan.stdout.find("sites: ").expect("a sites paragraph");
    assert!(plan.stdout.starts_with("credits: "), "{plan}");
    snapshot(
        "plan-before-first-sync",
        &normalise(&env, &plan.stdout[sites..]),
    );
    assert_eq!(env.sim_calls(), 0, "plan makes no call");

    env.sync_ok();
    for (name, args) in [
        ("plan-after-first-sync", &["plan"][..]),
        ("status", &["status"]),
        ("status-verbose", &["status", "-v"]),
    ] {
        let out = env.seh(args);
        out.expect(0);
        fits(name, &out.stdout);
        snapshot(name, &normalise(&env, &out.stdout));
    }
}

#[test]
fn plan_without_a_credential_says_so_and_fails() {
    let env = TestEnv::new();
    let cfg = ConfigSpec {
        key: None,
        ..ConfigSpec::default()
    };
    env.write_config(&cfg);
    env.seh(&["init"]).expect(0);
    let out = env.seh(&["plan"]);
    out.expect(2);
    assert!(
        out.stderr.contains("no API key configured") && out.stdout.is_empty(),
        "{out}"
    );
}

#[test]
fn every_help_fits_80_columns() {
    let env = TestEnv::new();
    for cmd in [
        &[][..],
        &["init"],
        &["check"],
        &["sync"],
        &["status"],
        &["plan"],
        &["reprocess"],
        &["backup"],
        &["report"],
        &["auth"],
        &["auth", "login"],
        &["auth", "status"],
        &["auth", "logout"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = env.seh_bare(&args);
        out.expect(0);
        fits(&format!("seh {}", args.join(" ")), &out.stdout);
    }
}

#[test]
fn status_says_a_sync_is_running_and_later_that_it_was_killed() {
    let env = TestEnv::new();
    // Every answer takes a while, so the first sync (hundreds of calls) is still running
    // while status looks.
    env.add_fault("*=slow:300");
    let mut child = env.spawn(&["sync"]);
    let mut seen = None;
    for _ in 0..200 {
        // Until the sync has created the database, status exits 4.
        let out = env.seh(&["status"]);
        if out.stdout.contains("a sync is running (since ") {
            seen = Some(out);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen = seen.expect("status never said that a sync is running");
    assert!(!seen.stdout.contains("stopped before"), "{seen}");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = env.seh(&["status"]);
    let text = out.stdout.replace("\n  ", " ");
    assert!(
        text.contains("and stopped before it finished (killed, or the power went)"),
        "{out}"
    );
    assert!(!out.stdout.contains("is running"), "{out}");
}
