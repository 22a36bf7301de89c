//! A database seh cannot write: an SD card the kernel remounted read-only (a small tmpfs
//! remounted read-only here), with and without a `-wal` left behind, and a 0644 file of
//! another user. `status` and `plan` still read it, `seh backup` rescues a good copy, none
//! of them needs the run lock or creates a file beside the database, and `seh sync`
//! refuses with one line naming the cause and the fix.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// A synced database on a small disk of its own (closed cleanly: no `-wal`), and the
/// environment that points `seh` at it. `None` where no tmpfs can be mounted.
fn on_card(env: &TestEnv) -> Option<(SmallDisk, PathBuf)> {
    env.sync_ok();
    let disk = SmallDisk::mount(env.path("card"), "64m")?;
    let db = disk.dir.join("seh.db");
    assert!(!env.path("seh.db-wal").exists(), "sync left a -wal behind");
    std::fs::copy(&env.db, &db).unwrap();
    Some((disk, db))
}

/// `seh` with `[database] path` overridden to `db`.
fn seh_on(env: &TestEnv, db: &Path, args: &[&str]) -> Out {
    env.seh_env(args, &[("SEH_DATABASE", &db.display().to_string())])
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The tables a backup must carry over, rendered.
fn rows(db: &Path) -> Vec<(String, Vec<String>)> {
    let c = open_db(db);
    DATA_TABLES
        .iter()
        .chain(&["seh_sync_state", "seh_raw_responses", "seh_api_calls"])
        .map(|t| (t.to_string(), dump_without(&c, t, &[])))
        .collect()
}

/// `status` (table and JSON) and `plan` print what they print on a writable database, and
/// `backup` writes a sound copy holding the same rows as `reference`.
fn reads_and_backs_up(env: &TestEnv, db: &Path, reference: &Path, site_name: &str) {
    let out = seh_on(env, db, &["status", "-v"]);
    out.expect(0);
    assert!(
        out.stdout.contains(site_name) && out.stdout.contains("Rows per table"),
        "{out}"
    );
    assert!(error_lines(&out).is_empty(), "{out}");
    let out = seh_on(env, db, &["status", "--json"]);
    out.expect(0);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let families = v["families"].as_array().expect("families").len() as i64;
    assert_eq!(
        families,
        count_where(
            &open_db(reference),
            "seh_sync_state",
            "family NOT IN ('window_limit', 'budget', 'clock')"
        )
    );
    let out = seh_on(env, db, &["plan"]);
    out.expect(0);
    assert!(
        out.stdout.contains("next run:")
            && out.stdout.contains("fresh data, per quarter-hour series:"),
        "{out}"
    );

    let dest = env.path("rescued.db");
    let out = seh_on(env, db, &["backup", &dest.display().to_string()]);
    out.expect(0);
    assert!(out.stdout.contains("quick_check ok"), "{out}");
    integrity_ok(&dest);
    assert!(rows(&dest) == rows(reference), "the backup differs");
}

#[test]
fn a_read_only_card_is_read_and_backed_up_and_sync_names_it() {
    let env = TestEnv::new();
    let Some((disk, db)) = on_card(&env) else {
        eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
        return;
    };
    disk.read_only();
    reads_and_backs_up(&env, &db, &env.db, "Musterhaus Berlin");
    // Nothing was created beside it: no lock file, no -wal or -shm.
    assert_eq!(files_in(&disk.dir), ["seh.db"]);

    let calls = env.sim_calls();
    let out = seh_on(&env, &db, &["sync"]);
    out.expect(4);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "one line\n{out}");
    let line = &lines[0];
    assert!(
        line.contains(&db.display().to_string())
            && line.contains("read-only file system")
            && line.contains("seh backup"),
        "names the database, the cause and the rescue\n{out}"
    );
    assert_eq!(
        env.sim_calls(),
        calls,
        "no call without a writable database"
    );

    // Writable again, the same file harvests on.
    disk.writable();
    seh_on(&env, &db, &["sync"]).expect(0);
}

/// A card that went read-only while a run had the database open keeps committed changes in
/// the `-wal` (with its `-shm`): they are read, not skipped. Without the `-shm` they cannot
/// be read on a read-only file system, and seh says so instead of showing older data.
#[test]
fn a_read_only_card_with_a_wal_left_behind_is_read_with_it() {
    let env = TestEnv::new();
    let Some((disk, db)) = on_card(&env) else {
        eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
        return;
    };
    let rename = format!("UPDATE seh_sites SET name = 'Walhaus Berlin' WHERE site_id = {BERLIN}");
    {
        // A commit that stays in the -wal: no checkpoint, not even on close.
        let c = open_db(&db);
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute_batch(&rename).unwrap();
    }
    open_db(&env.db).execute_batch(&rename).unwrap();
    let wal = disk.dir.join("seh.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the -wal holds the commit"
    );
    disk.read_only();
    reads_and_backs_up(&env, &db, &env.db, "Walhaus Berlin");
    assert_eq!(files_in(&disk.dir), ["seh.db", "seh.db-shm", "seh.db-wal"]);

    disk.writable();
    std::fs::remove_file(disk.dir.join("seh.db-shm")).unwrap();
    disk.read_only();
    for args in [&["status"][..], &["backup", "unused.db"]] {
        let out = seh_on(&env, &db, args);
        out.expect(4);
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "one line\n{out}");
        assert!(
            lines[0].contains(&wal.display().to_string()) && lines[0].contains("-shm"),
            "names the -wal and the missing -shm\n{out}"
        );
    }
    assert!(!env.path("unused.db").exists());
}

/// The packaged layout seen by another user: /var/lib/seh is the service's, the database a
/// 0644 file in it. That user reads it without creating a file there (SQLite would leave a
/// `-shm` the service cannot write), holding the run lock shared so no sync changes the file
/// meanwhile; while a sync holds the lock it is busy (3), not wrong.
#[test]
fn another_users_database_is_read_without_writing_beside_it() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.sync_ok();
    if !std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: cannot run as another user (needs root and setpriv)");
        return;
    }
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(env.dir.path(), 0o755);
    mode(&env.db, 0o644);
    let stick = env.path("stick");
    std::fs::create_dir(&stick).unwrap();
    mode(&stick, 0o777);
    let before = files_in(env.dir.path());
    let as_nobody = |args: &[&str]| -> Out {
        let child = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_seh"))
            .arg("--config")
            .arg(&env.config)
            .args(args)
            .env_remove("SEH_DATABASE")
            .env("HOME", &stick)
            .current_dir(&stick)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_out(child, args)
    };

    let out = as_nobody(&["status"]);
    out.expect(0);
    assert!(out.stdout.contains("Musterhaus Berlin"), "{out}");
    as_nobody(&["plan"]).expect(0);
    let dest = stick.join("copy.db");
    as_nobody(&["backup", &dest.display().to_string()]).expect(0);
    integrity_ok(&dest);
    assert!(rows(&dest) == rows(&env.db), "the backup differs");
    assert_eq!(files_in(env.dir.path()), before, "files appeared beside it");

    let out = as_nobody(&["sync"]);
    out.expect(4);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "one line\n{out}");
    assert!(
        lines[0].contains(&env.db.display().to_string())
            && lines[0].contains("read-only for this user"),
        "{out}"
    );

    // A sync holds the run lock: the reader waits for it rather than read a changing file.
    let lock = std::fs::File::open(env.path("seh.db.lock")).unwrap();
    lock.try_lock().unwrap();
    let out = as_nobody(&["status"]);
    out.expect(3);
    assert_eq!(error_lines(&out).len(), 1, "one line\n{out}");
    lock.unlock().unwrap();
    as_nobody(&["status"]).expect(0);
    // And a reader does not keep the service from its next run.
    env.sync_ok();
}
