//! The local SQLite store: the only module that opens the database file.
//!
//! It owns the connection ([`Store`]), the write transaction handed to the harvester
//! ([`Tx`]), the typed [`Error`] the callers branch on, and the conventions every table
//! follows (docs/SCHEMA.md has them in full):
//!
//! - instants are written as UTC text `YYYY-MM-DDTHH:MM:SSZ`, only by [`fmt_ts`];
//! - every data row carries `updated_at` and `change_seq`, stamped only when the row is
//!   inserted or its values actually change;
//! - an incoming NULL never overwrites a stored value (the "null rule", see `upsert_sql`).
//!
//! It must not do HTTP, read configuration, or know about `api` wire types: it stores the
//! plain rows of [`crate::model`]. Process-level locking (one harvester at a time) is the
//! caller's business; the store only makes sure contention surfaces as [`Error::Locked`].
//!
//! The submodules each add methods to [`Store`] or [`Tx`] for one kind of data:
//! `series` (energy, power, telemetry), `entities` (sites, devices, alerts, overview,
//! benefits, power flow), `raw` (the response archive), `state` (sync cursors), `calls`
//! (the API call ledger and the run log), `notify` (what the owner has been told), `export`
//! (streaming reads for `seh export`), `summary` and `report` (reads for `status` and
//! `seh report`).

mod calls;
pub mod catalogue;
mod changes;
mod entities;
mod export;
mod migrations;
mod notify;
mod raw;
mod read;
mod read_only;
mod report;
mod series;
mod state;
mod summary;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Anchor;
use chrono::{DateTime, Utc};
use rusqlite::{ffi, Connection, OpenFlags, TransactionBehavior};

pub use calls::{ApiCall, Run, RunSummary};
pub use changes::{feed_columns, Chunk, Value};
pub use export::{Cell, Dates, Selection, Snapshot, ROW_CELLS};
pub use migrations::KNOWN_VERSION;
pub use notify::{NotifyMessage, NotifyRow, OpenAlert, Production, SiteContact};
pub use raw::{canonical_query, RawResponse};
pub use read::{fleet_listing_extra, SiteRow};
pub use read_only::ReadOnlyAccess;
pub use report::{DayBuckets, MeterDay, MonthEnergy, QuarterHour};
pub use series::SeriesKind;
pub use state::{SyncState, FLEET_SITE_ID};
pub use summary::{DayEnergy, StoredRows};

/// How long a statement waits for another connection's lock before failing with
/// [`Error::Locked`].
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Errors of the store, shaped for the caller to branch on.
///
/// The variants carrying `query` hold a short description of the statement that failed
/// (never the SQL values), following rusqlite_migration's `RusqliteError { query, err }`.
#[derive(Debug)]
pub enum Error {
    /// Another connection held the lock for longer than the busy timeout
    /// (`SQLITE_BUSY`, `SQLITE_LOCKED`).
    Locked {
        query: &'static str,
        source: rusqlite::Error,
    },
    /// The database file (or its directory) cannot be written (`SQLITE_READONLY`).
    ReadOnly {
        query: &'static str,
        source: rusqlite::Error,
    },
    /// The disk or the database is full (`SQLITE_FULL`).
    DiskFull {
        query: &'static str,
        source: rusqlite::Error,
    },
    /// The file is damaged or is not an SQLite database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
    Corrupt {
        query: &'static str,
        source: rusqlite::Error,
    },
    /// The database was written by a newer seh; opening it could lose data.
    TooNew { found: i64, known: i64 },
    /// A read-only open found a schema older than this seh's, which it cannot upgrade.
    Outdated { found: i64, known: i64 },
    /// Committed changes sit in the `-wal` file but its `-shm` index is missing, and a
    /// read-only open can neither rebuild it nor read the `-wal` without it.
    UnreadableWal { wal: PathBuf },
    /// Any other SQLite failure.
    Sql {
        query: &'static str,
        source: rusqlite::Error,
    },
    /// The file could not be opened or read (`SQLITE_CANTOPEN`, `SQLITE_IOERR`), or a raw
    /// body could not be (de)compressed.
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The caller handed rows the store cannot take (a programming error upstream, such as
    /// a power series whose unit is not W).
    Invalid { what: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Locked { query, .. } => {
                write!(
                    f,
                    "could not {query}: database is locked by another process"
                )
            }
            Error::ReadOnly { query, .. } => write!(f, "could not {query}: database is read-only"),
            Error::DiskFull { query, .. } => write!(f, "could not {query}: disk is full"),
            Error::Corrupt { query, .. } => {
                write!(f, "could not {query}: database file is corrupt")
            }
            Error::TooNew { found, known } => write!(
                f,
                "database schema version {found} is newer than this seh supports ({known})"
            ),
            Error::Outdated { found, known } => write!(
                f,
                "database schema version {found} is older than this seh's ({known}) and a \
                 read-only database cannot be upgraded"
            ),
            Error::UnreadableWal { wal } => write!(
                f,
                "committed changes in {} cannot be read without its -shm file",
                wal.display()
            ),
            Error::Sql { query, .. } => write!(f, "could not {query}"),
            Error::Io { what, .. } => write!(f, "could not {what}"),
            Error::Invalid { what } => write!(f, "invalid input to the store: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Locked { source, .. }
            | Error::ReadOnly { source, .. }
            | Error::DiskFull { source, .. }
            | Error::Corrupt { source, .. }
            | Error::Sql { source, .. } => Some(source),
            Error::Io { source, .. } => Some(source),
            Error::TooNew { .. }
            | Error::Outdated { .. }
            | Error::UnreadableWal { .. }
            | Error::Invalid { .. } => None,
        }
    }
}

impl Error {
    /// A [`Error::Corrupt`] whose file is not an SQLite database at all (`SQLITE_NOTADB`:
    /// another file, or the header itself damaged), as opposed to damage inside one.
    pub fn not_a_database(&self) -> bool {
        match self {
            Error::Corrupt { source, .. } => {
                source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
            }
            _ => false,
        }
    }
}

/// Sorts a rusqlite error into the [`Error`] variant the caller branches on, by the
/// primary result code (the low byte of the extended code).
pub(crate) fn classify(query: &'static str, source: rusqlite::Error) -> Error {
    let primary = source.sqlite_error().map(|e| e.extended_code & 0xff);
    match primary {
        Some(ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED) => Error::Locked { query, source },
        Some(ffi::SQLITE_READONLY) => Error::ReadOnly { query, source },
        Some(ffi::SQLITE_FULL) => Error::DiskFull { query, source },
        Some(ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB) => Error::Corrupt { query, source },
        Some(ffi::SQLITE_CANTOPEN | ffi::SQLITE_IOERR) => Error::Io {
            what: query,
            source: std::io::Error::other(source),
        },
        _ => Error::Sql { query, source },
    }
}

/// Shorthand for `.map_err(|e| classify(query, e))`.
pub(crate) trait Context<T> {
    fn ctx(self, query: &'static str) -> Result<T, Error>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, query: &'static str) -> Result<T, Error> {
        self.map_err(|e| classify(query, e))
    }
}

/// Formats an instant the one way the store writes instants: `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Sub-second parts are dropped; API buckets and fetch times never need them, and one
/// fixed width keeps text comparison equal to time comparison.
pub fn fmt_ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an instant written by [`fmt_ts`] (any RFC 3339 form is accepted).
pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Builds `INSERT ... ON CONFLICT DO UPDATE` for a data table, applying the null rule and
/// the change_seq contract in one place.
///
/// Parameters bind in the order `key`, `cols`, then `updated_at`, `change_seq`. On conflict
/// each column becomes `COALESCE(new, old)` (an incoming NULL never overwrites a value),
/// and the update only happens when some incoming non-NULL value differs from the stored
/// one, so a repeated identical upsert changes nothing and keeps the row's change_seq.
pub(crate) fn upsert_sql(table: &str, key: &[&str], cols: &[&str]) -> String {
    let all: Vec<&str> = key
        .iter()
        .chain(cols)
        .copied()
        .chain(["updated_at", "change_seq"])
        .collect();
    let placeholders: Vec<String> = (1..=all.len()).map(|i| format!("?{i}")).collect();
    let set: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} = COALESCE(excluded.{c}, {table}.{c})"))
        .chain([
            "updated_at = excluded.updated_at".to_owned(),
            "change_seq = excluded.change_seq".to_owned(),
        ])
        .collect();
    let differs: Vec<String> = cols
        .iter()
        .map(|c| format!("(excluded.{c} IS NOT NULL AND excluded.{c} IS NOT {table}.{c})"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} WHERE {}",
        all.join(", "),
        placeholders.join(", "),
        key.join(", "),
        set.join(", "),
        differs.join(" OR "),
    )
}

/// The local database: one connection, migrated to [`KNOWN_VERSION`] on open.
pub struct Store {
    conn: Connection,
    /// The server clock the harvester learned, so that `updated_at` and the other times
    /// seh writes follow the same clock as the ledger (see [`crate::clock`]); the local
    /// clock until set.
    clock: Option<(Anchor, f64)>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, sets the pragmas and migrates it.
    ///
    /// Fails with [`Error::TooNew`] when a newer seh has written the file, and with
    /// [`Error::ReadOnly`] when the file cannot be written.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        Store::open_with_flags(path.as_ref(), OpenFlags::default())
    }

    /// A fresh, migrated in-memory database, for tests and dry runs.
    pub fn open_in_memory() -> Result<Store, Error> {
        let conn = Connection::open_in_memory().ctx("open in-memory database")?;
        Store::setup(conn)
    }

    fn open_with_flags(path: &Path, flags: OpenFlags) -> Result<Store, Error> {
        let conn = Connection::open_with_flags(path, flags).ctx("open database")?;
        // SQLite silently falls back to read-only when the file is not writable; say so
        // now rather than at the first write in the middle of a harvest.
        if conn.is_readonly(rusqlite::MAIN_DB).ctx("open database")? {
            let source = rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_READONLY),
                Some("database opened read-only".to_owned()),
            );
            return Err(Error::ReadOnly {
                query: "open database",
                source,
            });
        }
        Store::setup(conn)
    }

    fn setup(mut conn: Connection) -> Result<Store, Error> {
        conn.busy_timeout(BUSY_TIMEOUT).ctx("set busy timeout")?;
        // Checked before the pragmas so a newer file is not even switched to WAL.
        migrations::check_version(&conn)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .ctx("set journal mode")?;
        // In-memory databases answer "memory"; file systems without shared memory answer
        // "delete". Both work, only without concurrent readers.
        if mode != "wal" && mode != "memory" {
            log::warn!("SQLite refused WAL mode (got {mode}); readers will block the harvester");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("set synchronous")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .ctx("set foreign_keys")?;
        // Enough for every statement of every module, so none is re-prepared per batch.
        conn.set_prepared_statement_cache_capacity(64);
        migrations::migrate(&mut conn)?;
        log::trace!(
            "database: opened read-write, journal mode {mode}, schema version {}",
            migrations::user_version(&conn)?
        );
        Ok(Store { conn, clock: None })
    }

    /// The schema version (`PRAGMA user_version`) of the open database.
    pub fn schema_version(&self) -> Result<i64, Error> {
        migrations::user_version(&self.conn)
    }

    /// Follow the server's clock from `anchor` on, with local time running `scale` times
    /// slower than the server's (`[api] time_scale`, 1 outside tests).
    pub fn set_clock(&mut self, anchor: Anchor, scale: f64) {
        self.clock = Some((anchor, scale));
    }

    /// "Now" for the times seh writes: the server's clock as last learned, else local.
    pub fn now(&self) -> DateTime<Utc> {
        match self.clock {
            Some((anchor, scale)) => crate::clock::estimate(Some(anchor), Utc::now(), scale),
            None => Utc::now(),
        }
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`), committing when it returns
    /// `Ok` and rolling everything back when it returns `Err`.
    ///
    /// This is how the harvester writes a raw response, the rows parsed from it and the
    /// advanced cursor atomically. `E` lets the closure return the caller's own error
    /// type; store errors convert into it.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let now = fmt_ts(&self.now());
        let changes_before = self.conn.total_changes();
        let inner = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("begin write transaction")?;
        let out = {
            let mut tx = Tx {
                tx: inner,
                now,
                seq: None,
            };
            // Dropping `tx` on the error path rolls back.
            let out = f(&mut tx)?;
            tx.tx.commit().ctx("commit write transaction")?;
            out
        };
        log::trace!(
            "database: committed a write transaction of {} row changes",
            self.conn.total_changes() - changes_before
        );
        Ok(out)
    }

    /// Writes a consistent copy of the whole database to `dest` with `VACUUM INTO` (one
    /// read transaction, so a sync writing at the same time is neither blocked nor seen
    /// half-way; free pages are left out) and returns the copy's `quick_check` verdict
    /// (`"ok"` when sound). `dest` must not exist or be empty: the caller creates it,
    /// private, beforehand.
    pub fn backup_to(&self, dest: &Path) -> Result<String, Error> {
        let target = dest.to_str().ok_or(Error::Invalid {
            what: "the backup path is not valid UTF-8",
        })?;
        self.conn
            .execute("VACUUM INTO ?1", [target])
            .ctx("write the backup")?;
        let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ctx("open the backup")?;
        copy.query_row("PRAGMA quick_check", [], |r| r.get(0))
            .ctx("check the backup")
    }

    /// Row count of every table: the data tables of the catalogue, then the bookkeeping.
    pub fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, Error> {
        let data = catalogue::DATA_TABLES.iter().map(|t| t.name);
        data.chain(catalogue::BOOKKEEPING_TABLES)
            .map(|table| {
                let n = self
                    .conn
                    .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .ctx("count rows")?;
                Ok((table, n))
            })
            .collect()
    }

    /// The last change marker handed out; a pusher records it as "pushed up to" after
    /// pushing every row with a larger `change_seq`.
    pub fn change_seq(&self) -> Result<i64, Error> {
        self.conn
            .query_row("SELECT seq FROM seh_change_counter WHERE id = 1", [], |r| {
                r.get(0)
            })
            .ctx("read change counter")
    }

    /// Empties every data table (the ones `reprocess` rebuilds from the raw archive) in one
    /// transaction. Keeps the raw archive, the sync cursors, the call ledger, the run log
    /// and the change counter (which must never go backwards).
    pub fn clear_derived_tables(&mut self) -> Result<(), Error> {
        self.transaction(|tx| {
            // `seh_sync_state` is deliberately not cleared: it also holds what the archive
            // cannot tell (errors, tier refusals), and losing the cursors would make the
            // next harvest fetch the whole history again, which costs credits.
            for table in catalogue::DATA_TABLES {
                tx.tx
                    .execute(&format!("DELETE FROM {}", table.name), [])
                    .ctx("clear derived tables")?;
            }
            Ok(())
        })
    }
}

/// A write transaction, see [`Store::transaction`]. The per-family write methods live in
/// the submodules.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    /// `updated_at` for every row this transaction writes.
    now: String,
    /// This transaction's change marker, taken from `seh_change_counter` on first use.
    seq: Option<i64>,
}

impl Tx<'_> {
    /// The change marker of this transaction, bumping the counter on first use so a
    /// transaction that writes nothing does not consume one.
    fn change_seq(&mut self) -> Result<i64, Error> {
        if let Some(seq) = self.seq {
            return Ok(seq);
        }
        let seq = self
            .tx
            .query_row(
                "UPDATE seh_change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq",
                [],
                |r| r.get(0),
            )
            .ctx("bump change counter")?;
        self.seq = Some(seq);
        Ok(seq)
    }
}

#[cfg(test)]
mod tests;
