//! The pushers: copy what changed in the local SQLite database to a remote PostgreSQL or
//! MySQL/MariaDB database, exactly once, from any number of sources.
//!
//! SQLite stays the truth. For each table of a [`PushConfig`] the driver ([`push`]) reads
//! the remote cursor (last `change_seq` pushed from this source), streams the local rows
//! above it through `store::Store::stream_changes` in bounded chunks, and writes each chunk
//! with the dialect's fast path; the remote cursor is advanced in the same remote
//! transaction as the rows it covers, and only at a chunk that ends a `change_seq` group
//! (see `store::Chunk::complete`). A crash at any moment thus leaves the remote with whole
//! groups and a cursor that matches them; the next push upserts from there, so nothing is
//! lost or duplicated (rows are keyed as locally, so a repeat is an overwrite).
//!
//! The dialects live in `postgres.rs` and `mysql.rs`, each behind its cargo feature; the
//! remote schema (tables, cursor, views) is `migrations/{postgres,mysql}/NN-name/up.sql`,
//! versioned by the table `seh_push_schema`. Without a feature, a pusher of that kind
//! fails with [`Error::NotBuilt`].

pub mod config;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;

pub use config::{Kind, PushConfig, Tls};

use crate::store::catalogue::Table;
use crate::store::{self, Chunk, Store};
use std::fmt;

/// Rows per chunk read from SQLite and written to the remote in one go. Bounds memory
/// (a chunk of telemetry is about 1 MB) while keeping round trips rare.
pub const CHUNK_ROWS: usize = 4000;

/// Why a pusher failed. Each variant is worded as cause and fix; the caller adds the
/// pusher's name and target.
#[derive(Debug)]
pub enum Error {
    /// This binary has no client for the kind.
    NotBuilt { kind: Kind },
    /// The server cannot be reached (refused, unreachable, timed out, cut off).
    Connect { detail: String },
    /// The server refused the user or password.
    Auth { detail: String },
    /// TLS was required but refused, or the certificate did not verify.
    Tls { detail: String },
    /// The named database does not exist.
    NoDatabase { detail: String },
    /// A `ca_file` that cannot be read.
    CaFile { detail: String },
    /// The remote schema was written by a newer seh.
    TooNew { found: i64, known: i64 },
    /// A remote statement failed (a table altered by hand, a full disk, ...).
    Remote { what: String, detail: String },
    /// The local database could not be read.
    Store(store::Error),
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        Error::Store(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotBuilt { kind } => write!(
                f,
                "seh was built without the `{0}` feature: install a build with it \
                 (cargo install --features {0}) or remove this [[push]] entry",
                kind.name()
            ),
            Error::Connect { detail } => write!(
                f,
                "cannot connect ({detail}): check host and port, that the server runs and \
                 that the network lets seh through; the next run resumes"
            ),
            Error::Auth { detail } => write!(
                f,
                "the server refused the login ({detail}): check user and password \
                 (password_file or the SEH_PUSH_<NAME>_PASSWORD variable)"
            ),
            Error::Tls { detail } => write!(
                f,
                "TLS failed ({detail}): check tls and ca_file against the server's setup"
            ),
            Error::NoDatabase { detail } => write!(
                f,
                "the database does not exist ({detail}): create it (CREATE DATABASE) \
                 and grant the user access"
            ),
            Error::CaFile { detail } => write!(f, "ca_file: {detail}"),
            Error::TooNew { found, known } => write!(
                f,
                "the remote schema has version {found}, newer than this seh's ({known}): \
                 upgrade seh on this machine, or push into another database or schema"
            ),
            Error::Remote { what, detail } => write!(
                f,
                "could not {what} ({detail}): if the remote tables were changed by hand, \
                 restore them or push into a new database or schema (seh push --init)"
            ),
            Error::Store(e) => write!(f, "local database: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// One pusher's connection, as the driver uses it. Transactions are explicit so a chunk
/// that does not end a `change_seq` group can share one with the next.
trait Remote {
    /// Creates or upgrades the remote schema; refuses one from a newer seh.
    fn migrate(&mut self) -> Result<(), Error>;
    /// The last `change_seq` of `table` pushed from `source` (0: none).
    fn cursor(&mut self, source: &str, table: &Table) -> Result<i64, Error>;
    fn begin(&mut self) -> Result<(), Error>;
    /// Upserts the rows of a chunk (columns of `store::feed_columns`).
    fn write(&mut self, table: &'static Table, chunk: &Chunk<'_>) -> Result<(), Error>;
    /// Sets the cursor of (`source`, `table`) to `seq` and commits.
    fn commit(&mut self, source: &str, table: &Table, seq: i64) -> Result<(), Error>;
}

/// What `seh push` asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Push every row again, from `change_seq` 0.
    pub full: bool,
    /// Only create or upgrade the remote schema.
    pub init_only: bool,
}

/// What one pusher did.
#[derive(Debug, Default)]
pub struct Pushed {
    pub rows: u64,
    /// Tables that had rows to push.
    pub tables: usize,
}

/// Runs one pusher: connect, migrate, then every table from its remote cursor.
pub fn push(store: &Store, cfg: &PushConfig, opts: Options) -> Result<Pushed, Error> {
    let source = store.source_id()?;
    let mut remote = connect(cfg)?;
    remote.migrate()?;
    let mut pushed = Pushed::default();
    if opts.init_only {
        return Ok(pushed);
    }
    for &table in &cfg.tables {
        let after = if opts.full {
            0
        } else {
            remote.cursor(&source, table)?
        };
        let mut open = false;
        let rows = store.stream_changes(table, after, CHUNK_ROWS, |chunk| {
            if !open {
                remote.begin()?;
                open = true;
            }
            remote.write(table, &chunk)?;
            if chunk.complete {
                remote.commit(&source, table, chunk.last_seq)?;
                open = false;
            }
            Ok::<(), Error>(())
        })?;
        log::debug!("push {}: {} rows of {}", cfg.name, rows, table.name);
        if rows > 0 {
            pushed.tables += 1;
        }
        pushed.rows += rows;
    }
    Ok(pushed)
}

fn connect(cfg: &PushConfig) -> Result<Box<dyn Remote>, Error> {
    match cfg.kind {
        #[cfg(feature = "postgres")]
        Kind::Postgres => Ok(Box::new(postgres::Pg::connect(cfg)?)),
        #[cfg(feature = "mysql")]
        Kind::Mysql => Ok(Box::new(mysql::My::connect(cfg)?)),
        #[allow(unreachable_patterns)]
        kind => Err(Error::NotBuilt { kind }),
    }
}

/// One embedded remote migration.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
struct Migration {
    name: &'static str,
    up: &'static str,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
const POSTGRES_MIGRATIONS: &[Migration] = &[Migration {
    name: "01-initial",
    up: include_str!("../../migrations/postgres/01-initial/up.sql"),
}];

#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
const MYSQL_MIGRATIONS: &[Migration] = &[Migration {
    name: "01-initial",
    up: include_str!("../../migrations/mysql/01-initial/up.sql"),
}];

/// The remote schema version this seh writes (both dialects move together).
pub const REMOTE_VERSION: i64 = POSTGRES_MIGRATIONS.len() as i64;

/// The SQL statements of a migration file, split at lines that end with `;` (the files
/// have no other semicolons at line ends).
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
fn statements(up: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in up.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// The columns an upsert sets (all but the key), each with whether the null rule applies:
/// the value columns keep a stored value against an incoming NULL, as locally, so two
/// sources that know different facts of one site (one from its details, one only from the
/// site list) merge instead of erasing each other. The `other` columns (a device's
/// `removed_at`, which becomes NULL again when the device is listed again) and
/// `updated_at` are taken as they come.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn update_columns(table: &Table) -> Vec<(&'static str, bool)> {
    store::feed_columns(table)
        .into_iter()
        .filter(|c| !table.key.contains(c))
        .map(|c| (c.name, table.values.contains(&c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_listed_and_split() {
        assert_eq!(POSTGRES_MIGRATIONS.len(), MYSQL_MIGRATIONS.len());
        for (p, m) in POSTGRES_MIGRATIONS.iter().zip(MYSQL_MIGRATIONS) {
            assert_eq!(p.name, m.name);
        }
        let s = statements("-- c\nCREATE TABLE a (x INT);\nCREATE VIEW v AS\nSELECT 1;\n");
        assert_eq!(s.len(), 2);
        assert!(s[1].starts_with("CREATE VIEW"));
    }

    /// Every data table of the catalogue is created by both dialects' first migration,
    /// with every pushed column.
    #[test]
    fn remote_tables_follow_the_catalogue() {
        for up in [POSTGRES_MIGRATIONS[0].up, MYSQL_MIGRATIONS[0].up] {
            for t in crate::store::catalogue::DATA_TABLES {
                let start = up
                    .find(&format!("TABLE IF NOT EXISTS {} (", t.name))
                    .or_else(|| up.find(&format!("TABLE {} (", t.name)))
                    .unwrap_or_else(|| panic!("{} is not created", t.name));
                let body = &up[start..start + up[start..].find("\n)").unwrap()];
                for c in store::feed_columns(t) {
                    assert!(
                        body.contains(&format!("\n    {} ", c.name)),
                        "{}.{}",
                        t.name,
                        c.name
                    );
                }
                assert_eq!(body.contains("\n    ts "), t.time_series, "{}", t.name);
            }
        }
    }
}
