//! Schema migrations: the SQL files of `migrations/sqlite/NN-name/up.sql`, embedded with
//! `include_str!`, and a small runner keyed on `PRAGMA user_version`.
//!
//! Version N means the first N entries of [`MIGRATIONS`] are applied. Each migration runs
//! in its own `BEGIN IMMEDIATE` transaction together with the version bump, so a crash or
//! a concurrent opener never leaves a half-applied schema. Migrations are append-only:
//! never edit a released `up.sql`, add a new folder instead. Pragmas that are connection
//! settings (WAL, foreign_keys, busy_timeout) belong in `Store::open`, not here.

use rusqlite::{Connection, TransactionBehavior};

use super::{Context, Error};

/// One embedded migration.
pub(crate) struct Migration {
    /// The folder name under `migrations/sqlite/`.
    pub(crate) name: &'static str,
    pub(crate) up: &'static str,
}

/// Every migration, in order. A tidy test checks this list against the folders.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "01-initial",
        up: include_str!("../../migrations/sqlite/01-initial/up.sql"),
    },
    Migration {
        name: "02-sync-status-unavailable",
        up: include_str!("../../migrations/sqlite/02-sync-status-unavailable/up.sql"),
    },
    Migration {
        name: "03-raw-unreadable",
        up: include_str!("../../migrations/sqlite/03-raw-unreadable/up.sql"),
    },
    Migration {
        name: "04-local-time-views",
        up: include_str!("../../migrations/sqlite/04-local-time-views/up.sql"),
    },
    Migration {
        name: "05-notify-state",
        up: include_str!("../../migrations/sqlite/05-notify-state/up.sql"),
    },
    Migration {
        name: "06-push-source",
        up: include_str!("../../migrations/sqlite/06-push-source/up.sql"),
    },
];

/// The schema version this binary writes; a database with a larger `user_version` is
/// refused with [`Error::TooNew`].
pub const KNOWN_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> Result<i64, Error> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx("read schema version")
}

/// Refuses a database written by a newer seh.
pub(crate) fn check_version(conn: &Connection) -> Result<i64, Error> {
    let found = user_version(conn)?;
    if found > KNOWN_VERSION {
        return Err(Error::TooNew {
            found,
            known: KNOWN_VERSION,
        });
    }
    Ok(found)
}

/// Applies every migration the database has not seen yet.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    // Cheap exit for the common case, without taking the write lock.
    let before = check_version(conn)?;
    if before == KNOWN_VERSION {
        return Ok(());
    }
    if before == 0 {
        log::info!("creating the database tables (schema version {KNOWN_VERSION})");
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("begin migration")?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        if check_version(&tx)? >= version {
            continue;
        }
        tx.execute_batch(migration.up).ctx("apply migration")?;
        tx.pragma_update(None, "user_version", version)
            .ctx("set schema version")?;
        tx.commit().ctx("commit migration")?;
        // A new database is news once; an upgrade names each step.
        if before == 0 {
            log::debug!("applied database migration {}", migration.name);
        } else {
            log::info!("applied database migration {}", migration.name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    use super::*;
    use crate::store::Store;

    fn manifest_path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// Every folder under migrations/sqlite is listed in MIGRATIONS, in order, numbered
    /// 01, 02, ... without gaps, and holds an up.sql.
    #[test]
    fn tidy_every_migration_folder_is_listed() {
        let dir = manifest_path("migrations/sqlite");
        let mut folders: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        folders.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(
            folders, listed,
            "migrations/sqlite folders and store::migrations::MIGRATIONS differ; \
             add the new folder to MIGRATIONS"
        );
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert!(
                m.name.starts_with(&format!("{:02}-", i + 1)),
                "migration {} is not numbered {:02}",
                m.name,
                i + 1
            );
            let on_disk = std::fs::read_to_string(dir.join(m.name).join("up.sql")).unwrap();
            assert_eq!(on_disk, m.up, "{} differs from the embedded copy", m.name);
        }
    }

    /// Migrating twice is a no-op, and every intermediate version migrates to the last.
    #[test]
    fn migrations_are_idempotent_and_incremental() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), KNOWN_VERSION);
        let before = schema_dump(&conn);
        migrate(&mut conn).unwrap();
        assert_eq!(schema_dump(&conn), before);

        for start in 0..MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().unwrap();
            for (i, m) in MIGRATIONS[..start].iter().enumerate() {
                conn.execute_batch(m.up).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            migrate(&mut conn).unwrap();
            assert_eq!(schema_dump(&conn), before, "migrating from version {start}");
        }
    }

    #[test]
    fn too_new_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seh.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", KNOWN_VERSION + 1)
            .unwrap();
        drop(conn);
        match Store::open(&path) {
            Err(Error::TooNew { found, known }) => {
                assert_eq!((found, known), (KNOWN_VERSION + 1, KNOWN_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    /// `sqlite_master` after migrating, as stable text: version, then every object.
    fn schema_dump(conn: &Connection) -> String {
        let mut out = format!("-- user_version {}\n", user_version(conn).unwrap());
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (kind, name, table, sql) = row.unwrap();
            let _ = writeln!(out, "\n-- {kind} {name} on {table}");
            match sql {
                Some(sql) => {
                    let _ = writeln!(out, "{sql};");
                }
                None => out.push_str("-- (created by SQLite)\n"),
            }
        }
        out
    }

    /// The migrated schema equals `src/store/schema.snapshot`, so every schema change is
    /// reviewed as a diff. Run with `SEH_UPDATE_SNAPSHOTS=1` to accept a change.
    #[test]
    fn schema_snapshot() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let actual = schema_dump(&conn);
        let path = manifest_path("src/store/schema.snapshot");
        if std::env::var_os("SEH_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            panic!(
                "schema differs from {} (- snapshot, + migrated):\n{}\n\
                 rerun with SEH_UPDATE_SNAPSHOTS=1 to accept the new schema",
                path.display(),
                line_diff(&expected, &actual)
            );
        }
    }

    /// A minimal line diff (longest common subsequence), enough to read a schema change:
    /// changed lines only, each with its line number in its own file.
    fn line_diff(old: &str, new: &str) -> String {
        let a: Vec<&str> = old.lines().collect();
        let b: Vec<&str> = new.lines().collect();
        // lcs[i][j] = length of the LCS of a[i..] and b[j..].
        let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j, mut out) = (0, 0, String::new());
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
                let _ = writeln!(out, "+{:>4}| {}", j + 1, b[j]);
                j += 1;
            } else {
                let _ = writeln!(out, "-{:>4}| {}", i + 1, a[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn line_diff_marks_changes() {
        assert_eq!(line_diff("a\nb\nc", "a\nx\nc"), "+   2| x\n-   2| b\n");
        assert_eq!(line_diff("", "a"), "+   1| a\n");
    }
}
