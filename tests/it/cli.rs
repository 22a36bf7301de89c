//! The command line and the trouble a user meets: bad configuration, a missing or busy or
//! read-only or locked database, and what `check`, `status`, `--help` and `init` promise.

use crate::harness::*;
use std::path::Path;

fn file_sum(p: &Path) -> u64 {
    fnv(&std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
}

#[test]
fn an_unknown_config_key_is_named_with_its_file() {
    let env = TestEnv::new();
    let mut cfg = ConfigSpec::default();
    cfg.sync += "initial_dayz = 3\n";
    env.write_config(&cfg);
    let out = env.seh(&["sync"]);
    out.expect(2);
    assert!(out.stderr.contains("initial_dayz"), "names the key\n{out}");
    assert!(
        out.stderr.contains(&env.config.display().to_string()),
        "names the file\n{out}"
    );
    // One line names file, line, column and key; the excerpt with a caret follows.
    let lines = error_lines(&out);
    assert!(
        lines[0].starts_with("seh: ") && lines[0].contains("initial_dayz"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1..].iter().all(|l| l.contains(" |")), "{out}");
    assert!(
        lines[2].contains("initial_dayz = 3") && lines[3].contains('^'),
        "{out}"
    );
    assert!(
        !env.db.exists(),
        "a config error must not create the database"
    );
    env.seh(&["status"]).expect(2);
}

#[test]
fn a_missing_key_is_a_config_error() {
    let env = TestEnv::new();
    env.write_config(&ConfigSpec {
        key: None,
        ..ConfigSpec::default()
    });
    for cmd in ["sync", "check"] {
        let out = env.seh(&[cmd]);
        out.expect(2);
        assert!(out.stderr.to_lowercase().contains("key"), "{out}");
        assert_eq!(error_lines(&out).len(), 1, "one line\n{out}");
    }
    assert_eq!(env.sim_calls(), 0, "no call without a key");
}

#[test]
fn status_on_a_missing_database_is_exit_4() {
    let env = TestEnv::new();
    let out = env.seh(&["status"]);
    out.expect(4);
    assert!(out.stderr.contains("does not exist"), "{out}");
    assert!(!env.db.exists(), "status must not create the database");
    env.seh(&["status", "--json"]).expect(4);
}

#[test]
fn a_held_run_lock_is_exit_3() {
    let env = TestEnv::new();
    env.sync_ok();
    let before = snapshot(&env.db);
    let lock_path = env.path("seh.db.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.try_lock().expect("the test takes the lock");
    for cmd in ["sync", "reprocess"] {
        let out = env.seh(&[cmd]);
        out.expect(3);
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{out}");
        assert!(
            lines[0].contains("another seh run") && lines[0].contains("seh.db.lock"),
            "{out}"
        );
    }
    assert_same(&before, &snapshot(&env.db), "while locked");
    lock.unlock().unwrap();
    drop(lock);
    env.sync_ok();
}

/// Makes a file unwritable even for root (`chattr +i`), or by mode for other users; undone
/// on drop so the tempdir can be removed.
struct ReadOnly {
    path: std::path::PathBuf,
    immutable: bool,
}

impl ReadOnly {
    fn new(path: &Path) -> Option<ReadOnly> {
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false);
        if root {
            // Root ignores permission bits; the immutable attribute binds even root.
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
            Some(ReadOnly {
                path: path.to_path_buf(),
                immutable: true,
            })
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
            Some(ReadOnly {
                path: path.to_path_buf(),
                immutable: false,
            })
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.path)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600));
        }
    }
}

#[test]
fn a_read_only_database_is_exit_4_and_left_intact() {
    let env = TestEnv::new();
    env.sync_ok();
    let before = file_sum(&env.db);
    let Some(guard) = ReadOnly::new(&env.db) else {
        eprintln!("SKIPPED: running as root and `chattr +i` is not available on this file system");
        return;
    };
    let out = env.seh(&["sync"]);
    out.expect(4);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "one line\n{out}");
    assert!(lines[0].contains("read-only"), "{out}");
    assert_eq!(file_sum(&env.db), before, "the file changed");
    drop(guard);
    integrity_ok(&env.db);
    env.sync_ok();
}

#[test]
fn a_locked_database_is_exit_4_and_left_intact() {
    let env = TestEnv::new();
    env.sync_ok();
    let before = snapshot(&env.db);
    let holder = open_db(&env.db);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let out = env.seh(&["sync"]);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    out.expect(4);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "one line\n{out}");
    assert!(lines[0].contains("locked"), "{out}");
    integrity_ok(&env.db);
    assert_same(&before, &snapshot(&env.db), "after the locked run");
    env.sync_ok();
}

#[test]
fn check_writes_nothing() {
    let env = TestEnv::new();
    let out = env.seh(&["check"]);
    out.expect(0);
    assert!(out.stdout.contains("4 site(s)"), "{out}");
    assert!(
        out.stdout.contains("2150001") && out.stdout.contains("rate limit"),
        "{out}"
    );
    let files: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, vec!["seh.toml".to_string()], "check created files");
    // With a database in place, check leaves it byte for byte as it was.
    env.sync_ok();
    let before = file_sum(&env.db);
    let calls = count(&env.conn(), "seh_api_calls");
    env.seh(&["check"]).expect(0);
    assert_eq!(file_sum(&env.db), before);
    assert_eq!(count(&env.conn(), "seh_api_calls"), calls);
}

#[test]
fn status_json_parses_and_lists_families() {
    let env = TestEnv::new();
    env.sync_ok();
    let out = env.seh(&["status", "--json"]);
    out.expect(0);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let fams = v["families"].as_array().expect("families");
    // The store's own bookkeeping (window limits, credit block, clock) is not a family.
    let state_rows = count_where(
        &env.conn(),
        "seh_sync_state",
        "family NOT IN ('window_limit', 'budget', 'clock')",
    );
    assert_eq!(fams.len() as i64, state_rows, "{out}");
    for f in [
        "energy",
        "power",
        "inverter_telemetry",
        "overview",
        "devices",
        "sites",
    ] {
        assert!(fams.iter().any(|x| x["family"] == f), "no {f} in {out}");
    }
    let berlin_qh = fams
        .iter()
        .find(|x| {
            x["site_id"] == BERLIN && x["family"] == "energy" && x["resolution"] == "QUARTER_HOUR"
        })
        .expect("Berlin quarter-hour energy");
    assert!(berlin_qh["covered_from"].is_string() && berlin_qh["last_success"].is_string());
    assert_eq!(v["tables"]["seh_sites"], 4);
    // The table form works too.
    let out = env.seh(&["status"]);
    out.expect(0);
    assert!(out.stdout.contains("Musterhaus Berlin"), "{out}");
}

#[test]
fn help_lists_the_exit_codes() {
    let env = TestEnv::new();
    let out = env.seh_bare(&["--help"]);
    out.expect(0);
    let text = out.stdout.to_lowercase();
    assert!(text.contains("exit codes"), "{out}");
    for (code, word) in [
        ("0", "everything"),
        ("1", "failed"),
        ("2", "configuration"),
        ("3", "lock"),
        ("4", "database"),
        ("5", "credits"),
        ("130", "interrupted"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(code) && l.contains(word)),
            "exit code {code} missing\n{out}"
        );
    }
    assert_eq!(text.matches("exit codes:").count(), 1, "listed once\n{out}");
    // The man-style part about the Debian package.
    for fact in [
        "/etc/seh/seh.toml",
        "/var/lib/seh/seh.db",
        "seh.timer",
        "journalctl -u seh",
    ] {
        assert!(out.stdout.contains(fact), "{fact} missing\n{out}");
    }
    // A subcommand's help is about the subcommand.
    let sub = env.seh_bare(&["sync", "--help"]);
    sub.expect(0);
    assert!(!sub.stdout.to_lowercase().contains("exit codes:"), "{sub}");
    // A usage error is exit 2.
    env.seh_bare(&["--no-such-flag"]).expect(2);
}

#[test]
fn init_writes_a_private_config_once_and_creates_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let cfg = env.path("fresh/seh.toml");
    let cfg_s = cfg.display().to_string();
    let out = env.seh_bare(&["--config", &cfg_s, "init"]);
    out.expect(0);
    let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config mode");
    // The example names `seh.db` relative to the working directory.
    assert!(env.db.exists(), "init creates the database\n{out}");
    let db_mode = std::fs::metadata(&env.db).unwrap().permissions().mode() & 0o777;
    assert_eq!(db_mode, 0o600, "database mode");
    let version: i64 = env
        .conn()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 1);
    // An edited config is left alone by a second init.
    let edited = format!(
        "{}\n# edited by the user\n",
        std::fs::read_to_string(&cfg).unwrap()
    );
    std::fs::write(&cfg, &edited).unwrap();
    let out = env.seh_bare(&["--config", &cfg_s, "init"]);
    out.expect(0);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), edited);
    assert!(out.stdout.contains("exists"), "{out}");
}

/// A site in `[sites] include` that the key's site list lacks (a typo, or a site of another
/// account) is named in a warning instead of being skipped silently.
#[test]
fn an_included_site_the_key_cannot_see_is_named() {
    let env = TestEnv::new();
    let text = env.config_text(&ConfigSpec::default())
        + &format!("\n[sites]\ninclude = [{DENVER}, 9999999]\n");
    std::fs::write(&env.config, text).unwrap();
    let out = env.seh(&["sync"]);
    out.expect(0);
    assert!(
        out.stderr.lines().any(|l| l.contains("WARN")
            && l.contains("site 9999999")
            && l.contains("not in the Fleet key's site list")),
        "{out}"
    );
    let c = env.conn();
    assert_eq!(
        count_where(&c, "seh_energy", &format!("site_id <> {DENVER}")),
        0
    );
    assert!(count_where(&c, "seh_energy", &format!("site_id = {DENVER}")) > 0);
}

/// `seh backup`: a private copy equal to the database; taken again and again while a sync
/// writes, every copy is sound; an existing file is never overwritten.
#[test]
fn backup_copies_consistently_and_never_overwrites() {
    let env = TestEnv::new();
    env.sync_ok();
    let dest = env.path("copy.db");
    let d = dest.display().to_string();
    let out = env.seh(&["backup", &d]);
    out.expect(0);
    assert!(out.stdout.contains("quick_check ok"), "{out}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (a, b) = (open_db(&env.db), open_db(&dest));
    for t in DATA_TABLES
        .iter()
        .chain(&["seh_sync_state", "seh_raw_responses"])
    {
        assert!(
            dump_without(&a, t, &[]) == dump_without(&b, t, &[]),
            "{t} differs"
        );
    }
    drop((a, b));

    let before = std::fs::read(&dest).unwrap();
    let again = env.seh(&["backup", &d]);
    again.expect(2);
    assert!(again.stderr.contains("never overwrites"), "{again}");
    assert_eq!(std::fs::read(&dest).unwrap(), before);

    // While a sync of six more hours writes.
    env.pass_time(chrono::Duration::hours(6), &[&env.db]);
    let mut child = env.spawn(&["sync"]);
    let mut copies = 0;
    loop {
        let running = child.try_wait().unwrap().is_none();
        let p = env.path(&format!("during-{copies}.db"));
        env.seh(&["backup", &p.display().to_string()]).expect(0);
        integrity_ok(&p);
        copies += 1;
        if !running || copies >= 20 {
            break;
        }
    }
    wait_out(child, &["sync"]).expect(0);
    assert!(copies >= 2, "{copies} backups during the sync");
}

/// A backup that does not fit leaves no partial file behind (it would look like a backup).
#[test]
fn a_backup_that_does_not_fit_is_exit_4_and_leaves_nothing() {
    let env = TestEnv::new();
    env.sync_ok();
    let Some(disk) = SmallDisk::mount(env.path("stick"), "64k") else {
        eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
        return;
    };
    let dest = disk.dir.join("seh.db");
    let out = env.seh(&["backup", &dest.display().to_string()]);
    out.expect(4);
    assert!(out.stderr.contains("full"), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line\n{out}");
    assert!(!dest.exists(), "the partial copy was removed");
    integrity_ok(&env.db);
}

/// The recorded site list belongs to the key that listed it: after the key changes (another
/// account, perhaps), the next run lists the sites again instead of trusting the old list
/// until its daily refresh.
#[test]
fn a_new_key_lists_its_sites_again() {
    let mut opts = sim_options();
    opts.api_keys = vec![KEY.into(), "second-key".into()];
    let env = TestEnv::with(opts, ConfigSpec::default());
    let site_lists = || {
        count_where(
            &env.conn(),
            "seh_api_calls",
            "path = '/sites' AND status = 200",
        )
    };
    env.sync_ok();
    assert_eq!(site_lists(), 1);
    env.pass_time(chrono::Duration::minutes(15), &[&env.db]);
    env.sync_ok();
    assert_eq!(site_lists(), 1, "same key: the list is not due yet");
    env.write_config(&ConfigSpec {
        key: Some("second-key".into()),
        ..ConfigSpec::default()
    });
    env.pass_time(chrono::Duration::minutes(15), &[&env.db]);
    env.sync_ok();
    assert_eq!(site_lists(), 2, "a new key lists its sites");
}

#[test]
fn global_flags_are_taken_after_the_subcommand_too() {
    let env = TestEnv::new();
    env.sync_ok();
    let cfg = env.config.display().to_string();
    let out = env.seh_bare(&["status", "--config", &cfg]);
    out.expect(0);
    assert!(out.stdout.contains("this cycle"), "{out}");
    // `-q` after the subcommand: warnings only, so a quiet sync prints nothing.
    env.pass_time(chrono::Duration::minutes(15), &[&env.db]);
    let out = env.seh(&["sync", "-q"]);
    out.expect(0);
    assert!(!out.stderr.contains("[INFO]"), "{out}");
    let out = env.seh(&["plan", "-v"]);
    out.expect(0);
}

#[test]
fn a_closed_stdout_is_no_panic() {
    for args in [&["--help"][..], &["--version"], &["sync", "--help"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_seh"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "seh {args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "seh {args:?}: {err}");
    }
}

#[test]
fn a_site_of_sites_outside_the_keys_account_is_named_and_never_paid_for() {
    let env = TestEnv::new();
    for _ in 0..2 {
        let out = env.seh(&["sync", "--sites", "9999999"]);
        out.expect(0);
        assert!(
            out.stderr.lines().any(|l| l.contains("WARN")
                && l.contains("site 9999999 of --sites")
                && l.contains("not in the Fleet key's site list")),
            "{out}"
        );
    }
    let c = env.conn();
    assert_eq!(
        count_where(&c, "seh_api_calls", "path LIKE '/sites/9999999%'"),
        0,
        "a paid call for a site the key cannot see"
    );
}
