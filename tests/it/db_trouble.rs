//! A `[database] path` seh cannot use: a directory, a directory that does not exist, a file
//! that is not a database or is damaged. Each ends with one line naming the setting or the
//! file, the cause and the fix, a documented exit code (2 for the setting, 4 for the
//! database), and leaves what is there as it was. (The read-only card is in `read_only`.)

use crate::harness::*;
use std::path::Path;

/// `seh ARGS` with `[database] path` set to `db`, which must end with `code` and one line
/// holding every one of `words`.
fn fails_with(env: &TestEnv, db: &Path, args: &[&str], code: i32, words: &[&str]) -> String {
    let out = env.seh_env(args, &[("SEH_DATABASE", &db.display().to_string())]);
    out.expect(code);
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "one line\n{out}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing\n{out}");
    }
    lines[0].clone()
}

#[test]
fn a_directory_as_database_is_named_as_the_settings_mistake() {
    let env = TestEnv::new();
    let dir = env.path("data");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.display().to_string();
    let fix = dir.join("seh.db").display().to_string();
    for args in [
        &["sync"][..],
        &["status"],
        &["plan"],
        &["reprocess"],
        &["backup", "x.db"],
    ] {
        fails_with(
            &env,
            &dir,
            args,
            2,
            &["[database] path", &d, "is a directory", &fix],
        );
    }
    assert_eq!(env.sim_calls(), 0);
    assert!(!env.path("data.lock").exists(), "a lock file beside it");
    assert!(!env.path("x.db").exists());
}

#[test]
fn a_missing_directory_is_named_with_the_setting_not_the_lock_file() {
    let env = TestEnv::new();
    let gone = env.path("usb");
    let db = gone.join("seh.db");
    for args in [&["sync"][..], &["reprocess"], &["status"]] {
        let line = fails_with(
            &env,
            &db,
            args,
            4,
            &[
                "[database] path",
                &db.display().to_string(),
                &format!("directory {} does not exist", gone.display()),
                "mount the disk",
            ],
        );
        assert!(!line.contains("lock"), "{line}");
    }
    assert!(
        !gone.exists(),
        "sync must not make the directory of an unmounted disk"
    );
    assert_eq!(env.sim_calls(), 0);
}

#[test]
fn a_file_that_is_not_a_database_is_named_with_the_way_back() {
    let env = TestEnv::new();
    let mut rng = Rng::new(10);
    let junk: Vec<u8> = (0..16_384).map(|_| rng.next() as u8).collect();
    std::fs::write(&env.db, &junk).unwrap();
    let db = env.db.display().to_string();
    for args in [&["sync"][..], &["status"], &["backup", "x.db"]] {
        fails_with(
            &env,
            &env.db,
            args,
            4,
            &[
                &db,
                "is not an SQLite database",
                "`seh backup`",
                "if you made one",
            ],
        );
    }
    assert_eq!(std::fs::read(&env.db).unwrap(), junk, "the file changed");
    assert_eq!(env.sim_calls(), 0);
}

#[test]
fn a_damaged_database_is_named_with_the_way_back() {
    let env = TestEnv::new();
    env.sync_ok();
    // Every page after the first (the header, schema version and schema) overwritten: each
    // table's pages are garbage, as after a card's bad blocks.
    let mut bytes = std::fs::read(&env.db).unwrap();
    let page: usize = 4096;
    assert!(bytes.len() > 4 * page);
    bytes[page..].fill(0xA5);
    std::fs::write(&env.db, &bytes).unwrap();
    let calls = env.sim_calls();
    let db = env.db.display().to_string();
    for args in [&["sync"][..], &["status"]] {
        fails_with(
            &env,
            &env.db,
            args,
            4,
            &[&db, "is damaged", "`seh backup`", "if you made one"],
        );
    }
    assert_eq!(std::fs::read(&env.db).unwrap(), bytes, "the file changed");
    assert_eq!(env.sim_calls(), calls);
}
