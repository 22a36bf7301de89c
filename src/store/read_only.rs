//! Reading a database seh cannot write: an SD card the kernel remounted read-only after
//! errors, or a 0644 file of another user (the service's database seen by the Pi's user).
//!
//! A WAL database normally needs its `-shm` index, which a read-only connection can only
//! use if it already exists or can be created. So the files beside the database decide
//! ([`ReadOnlyAccess::of`]): with `-wal` and `-shm` present, SQLite reads through them
//! under its usual locks; with no `-wal` content the database file alone holds every
//! commit and is opened `immutable=1` (no locks, no files created); committed changes in a
//! `-wal` without its `-shm` cannot be read read-only at all, and that is an error rather
//! than a silently older picture.
//!
//! This module never migrates and never writes: an older schema is reported by
//! [`Store::require_current`]. Making sure nothing writes an immutable-opened file is the
//! caller's job (a read-only file system, or the run lock held shared).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{migrations, Context, Error, Store, BUSY_TIMEOUT, KNOWN_VERSION};

/// How a database that cannot be written is read, decided by the files beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnlyAccess {
    /// Its `-wal` and `-shm` exist: SQLite reads them under its own locks, which stays
    /// consistent while a sync writes, and creates nothing.
    Shared,
    /// No `-wal` content, so the database file holds every commit: it is read as
    /// immutable, without locks and without creating a `-shm` (which a read-only directory
    /// refuses and which another user's service could not write later). Consistent only
    /// while nothing writes the file.
    Immutable,
}

impl ReadOnlyAccess {
    /// Looks at the `-wal` and `-shm` files of the database at `path`. Fails with
    /// [`Error::UnreadableWal`] when the `-wal` holds data but its `-shm` is missing.
    pub fn of(path: &Path) -> Result<ReadOnlyAccess, Error> {
        let wal = sibling(path, "-wal");
        let wal_len = match std::fs::metadata(&wal) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(Error::Io {
                    what: "read the -wal file",
                    source,
                })
            }
        };
        let shm = sibling(path, "-shm")
            .try_exists()
            .map_err(|source| Error::Io {
                what: "read the -shm file",
                source,
            })?;
        match (wal_len, shm) {
            (Some(_), true) => Ok(ReadOnlyAccess::Shared),
            (Some(len), false) if len > 0 => Err(Error::UnreadableWal { wal }),
            _ => Ok(ReadOnlyAccess::Immutable),
        }
    }
}

impl Store {
    /// Opens an existing database for reading only, as `access` says: no migration, no
    /// pragma that writes, no file created. Fails with [`Error::TooNew`] for a newer
    /// schema; an older one opens (a backup can copy it) and [`Store::require_current`]
    /// tells.
    pub fn open_read_only(path: &Path, access: ReadOnlyAccess) -> Result<Store, Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match access {
            ReadOnlyAccess::Shared => Connection::open_with_flags(path, flags),
            ReadOnlyAccess::Immutable => Connection::open_with_flags(immutable_uri(path)?, flags),
        }
        .ctx("open database read-only")?;
        conn.busy_timeout(BUSY_TIMEOUT).ctx("set busy timeout")?;
        // The first read: SQLite opens the -wal and -shm (or finds it cannot) here.
        migrations::check_version(&conn)?;
        // No `query_only`: it refuses `VACUUM INTO` too, which writes only the copy; the
        // read-only open already refuses every write to this file.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Store { conn, clock: None })
    }

    /// Fails with [`Error::Outdated`] when the schema is older than this binary's, which a
    /// read-only open cannot upgrade (a read-write open migrates, so it never is).
    pub fn require_current(&self) -> Result<(), Error> {
        let found = self.schema_version()?;
        if found < KNOWN_VERSION {
            return Err(Error::Outdated {
                found,
                known: KNOWN_VERSION,
            });
        }
        Ok(())
    }
}

/// `<db>-wal`, `<db>-shm`: SQLite's names for the files beside the database.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `file:PATH?immutable=1`, with the characters a URI path cannot hold escaped.
fn immutable_uri(path: &Path) -> Result<String, Error> {
    let text = path.to_str().ok_or(Error::Invalid {
        what: "the database path is not valid UTF-8",
    })?;
    let mut uri = String::from("file:");
    // An absolute path gets an empty authority, so `//host/...` is never read as a host.
    if text.starts_with('/') {
        uri.push_str("//");
    }
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_what_sqlite_would_read_as_syntax() {
        assert_eq!(
            immutable_uri(Path::new("/var/lib/seh/seh.db")).unwrap(),
            "file:///var/lib/seh/seh.db?immutable=1"
        );
        assert_eq!(
            immutable_uri(Path::new("a %?#.db")).unwrap(),
            "file:a %25%3f%23.db?immutable=1"
        );
    }

    /// A database whose path needs escaping opens immutable, reads, and stays as it was:
    /// no migration, no WAL switch, no file beside it.
    #[test]
    fn immutable_open_reads_without_writing_or_migrating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd %?#name.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (a); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            ReadOnlyAccess::of(&path).unwrap(),
            ReadOnlyAccess::Immutable
        );
        let store = Store::open_read_only(&path, ReadOnlyAccess::Immutable).unwrap();
        let n: i64 = store
            .conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(store.schema_version().unwrap(), 0);
        match store.require_current() {
            Err(Error::Outdated { found: 0, known }) => assert_eq!(known, KNOWN_VERSION),
            other => panic!("expected Outdated, got {other:?}"),
        }
        assert!(store
            .conn
            .execute_batch("INSERT INTO t VALUES (2)")
            .is_err());
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "files appeared beside the database");
    }

    /// `-wal` and `-shm` present: shared; data in a `-wal` without `-shm`: refused by name.
    #[test]
    fn the_files_beside_the_database_decide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seh.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(ReadOnlyAccess::of(&path).unwrap(), ReadOnlyAccess::Shared);
        let reader = Store::open_read_only(&path, ReadOnlyAccess::Shared).unwrap();
        reader.require_current().unwrap();
        // The writer closes last, so it checkpoints and removes the -wal.
        drop(reader);
        drop(store);
        assert_eq!(
            ReadOnlyAccess::of(&path).unwrap(),
            ReadOnlyAccess::Immutable
        );
        std::fs::write(sibling(&path, "-wal"), b"not empty").unwrap();
        match ReadOnlyAccess::of(&path) {
            Err(Error::UnreadableWal { wal }) => assert_eq!(wal, sibling(&path, "-wal")),
            other => panic!("expected UnreadableWal, got {other:?}"),
        }
        std::fs::write(sibling(&path, "-wal"), b"").unwrap();
        assert_eq!(
            ReadOnlyAccess::of(&path).unwrap(),
            ReadOnlyAccess::Immutable
        );
    }
}
