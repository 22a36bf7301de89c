//! One module per subcommand; the only layer that uses `anyhow` and turns failures into
//! one-line messages and exit codes. No HTTP or SQL here beyond calling `api`, `store` and
//! `harvest`.

/// `writeln!` into a `String` buffer (infallible), printed at the end with [`print_out`].
macro_rules! outln {
    ($out:ident) => {{
        $out.push('\n');
    }};
    ($out:ident, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

mod auth;
mod backup;
mod check;
mod export;
mod init;
mod notify;
mod plan;
mod push;
mod report;
mod reprocess;
mod status;
mod sync;

use crate::cli::{Args, Command};
use crate::config::{self, Config, Env};
use crate::exit::Exit;
use crate::store;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A failure that ends the command: what to print and which code to exit with.
#[derive(Debug)]
pub struct Fatal {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Fatal {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Fatal {
        Fatal {
            exit,
            error: error.into(),
        }
    }
}

pub type Outcome = Result<Exit, Fatal>;

/// Dispatch a parsed command line.
pub fn run(args: Args) -> Outcome {
    let env = Env::from_process();
    let Some(command) = args.command else {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!("no command given; try `seh --help`"),
        ));
    };
    if let Command::Init(_) = command {
        return init::run(args.config.as_deref(), &env);
    }
    // The dataset list needs no configuration.
    if let Command::Export(a) = &command {
        if a.list {
            return export::list(a);
        }
    }
    let config = load_config(args.config.as_deref(), &env)?;
    log::debug!("configuration: {config:?}");
    match command {
        Command::Init(_) => unreachable!("handled above"),
        Command::Check(_) => check::run(&config),
        Command::Sync(a) => sync::run(&config, &a),
        Command::Status(a) => status::run(&config, a.json, args.verbose > 0),
        Command::Plan(a) => plan::run(&config, &a),
        Command::Reprocess(_) => reprocess::run(&config),
        Command::Backup(a) => backup::run(&config, &a.dest),
        Command::Auth(a) => auth::run(&config, &a),
        Command::Report(a) => report::run(&config, &a),
        Command::Notify(a) => notify::run(&config, &a),
        Command::Export(a) => export::run(&config, &a),
        Command::Push(a) => push::run(&config, &a),
    }
}

/// Find and load the configuration. Without any file, the environment alone may configure
/// seh (`SEH_API_KEY` at least).
fn load_config(cli: Option<&Path>, env: &Env) -> Result<Config, Fatal> {
    let path = config::locate(cli, env).map_err(|e| Fatal::new(Exit::Config, e))?;
    if path.is_none() && env.api_key.is_none() {
        let looked: Vec<String> = env
            .search_path()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "no configuration file found (looked in {}); run `seh init` or set SEH_API_KEY",
                looked.join(", ")
            ),
        ));
    }
    config::load(path.as_deref(), env).map_err(|e| Fatal::new(Exit::Config, e))
}

/// Map a store error to the exit code and one line naming the file, the cause and, where
/// there is one, the fix.
pub fn db_fatal(path: &Path, e: store::Error) -> Fatal {
    use store::Error as E;
    let db = path.display();
    let message = match &e {
        E::ReadOnly { .. } => return read_only_fatal(path),
        // A write that fails mid-run on a card the kernel has just remounted read-only is
        // an I/O error to SQLite; the file system tells what it was.
        E::Io { .. } if on_read_only_fs(path) => return read_only_fatal(path),
        E::Corrupt { .. } => {
            let what = if e.not_a_database() {
                "is not an SQLite database (damaged, or another file)"
            } else {
                "is damaged (malformed)"
            };
            format!(
                "database {db} {what}: restore a copy made with `seh backup` if you made one \
                 (seh keeps none by itself), or move the file aside and run `seh sync` to \
                 start a new one"
            )
        }
        E::Outdated { found, known } => format!(
            "database {db} has schema version {found}, older than this seh's ({known}), and \
             cannot be upgraded while read-only: make it writable and run `seh sync` once, or \
             copy it with `seh backup DEST` and use the copy (SEH_DATABASE=DEST)"
        ),
        E::UnreadableWal { wal } => format!(
            "database {db}: committed changes in {} cannot be read without its -shm file, \
             which SQLite cannot rebuild on a read-only file system: make the disk writable \
             again, or copy {db} and {} together to a writable disk and use the copy",
            wal.display(),
            wal.display()
        ),
        _ => format!("database {db}: {e}"),
    };
    Fatal::new(Exit::Database, anyhow::anyhow!(message))
}

/// The database cannot be written: say whether the file system or this user is the cause,
/// and what to do.
pub fn read_only_fatal(db: &Path) -> Fatal {
    let message = if on_read_only_fs(db) {
        format!(
            "database {} is on a read-only file system: check the disk (`mount` shows `ro` \
             when the kernel remounted a failing SD card read-only; `dmesg` says why), and \
             rescue a copy with `seh backup DEST`",
            db.display()
        )
    } else {
        format!(
            "database {} is read-only for this user: run seh as its owner (packaged: \
             `sudo -u seh seh ...`) or fix its permissions (`ls -l`, `lsattr`); \
             `seh backup DEST` can still copy it",
            db.display()
        )
    };
    Fatal::new(Exit::Database, anyhow::anyhow!(message))
}

/// Whether the directory of `db` is on a read-only file system: an anonymous temporary
/// file there (`O_TMPFILE`, nothing visible is left) is refused with `EROFS`. Opening the
/// database file itself for writing would tell too, but closing that descriptor would
/// drop SQLite's POSIX locks on the file.
pub fn on_read_only_fs(db: &Path) -> bool {
    match tempfile::tempfile_in(parent_dir(db)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ReadOnlyFilesystem,
    }
}

/// The directory holding `db` (`.` for a bare file name).
fn parent_dir(db: &Path) -> &Path {
    db.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `[database] path` must name a file in an existing directory. Both mistakes are named
/// here, before the lock file or SQLite says something vaguer about them.
fn check_database_path(db: &Path) -> Result<(), Fatal> {
    refuse_directory(db)?;
    let dir = parent_dir(db);
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "[database] path {}: directory {} does not exist; create it or mount the disk \
                 it is on (`seh init` creates it), or correct the setting",
                db.display(),
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// A directory is never a database: that is the setting's mistake (exit 2), not the disk's.
fn refuse_directory(db: &Path) -> Result<(), Fatal> {
    if db.is_dir() {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "[database] path {} is a directory, not a database file; set it to a file \
                 in it, e.g. {}",
                db.display(),
                db.join("seh.db").display()
            ),
        ));
    }
    Ok(())
}

/// What a reading command needs of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// `status`, `plan`: they query the tables, so the schema must be this seh's.
    Current,
    /// `backup`: copies whatever is there.
    Any,
}

/// Held while a database that cannot be written is read as immutable: the run lock, shared,
/// so no sync changes the file meanwhile. Empty in every other case.
pub struct ReadLock {
    _file: Option<File>,
}

/// Open a database that must exist already, for a command that only reads it (`status`,
/// `plan`, `backup`): the reading commands never create one and never need the run lock.
///
/// A writable database is opened as always (and migrated). One that cannot be written (a
/// card remounted read-only, another user's file) is opened read-only without migrating
/// ([`store::ReadOnlyAccess`] tells how); where that means reading it as immutable on a
/// writable file system, the run lock is held shared for as long as the [`ReadLock`] lives.
pub fn open_existing(path: &Path, schema: Schema) -> Result<(store::Store, ReadLock), Fatal> {
    check_database_path(path)?;
    if !path.exists() {
        return Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "database {} does not exist yet; run `seh init` or `seh sync`",
                path.display()
            ),
        ));
    }
    match store::Store::open(path) {
        Ok(store) => return Ok((store, ReadLock { _file: None })),
        Err(store::Error::ReadOnly { .. }) => {}
        Err(e) => return Err(db_fatal(path, e)),
    }
    let read_only_fs = on_read_only_fs(path);
    let access = store::ReadOnlyAccess::of(path).map_err(|e| db_fatal(path, e))?;
    let file = match access {
        store::ReadOnlyAccess::Immutable if !read_only_fs => Some(lock_shared(path)?),
        _ => None,
    };
    let store = store::Store::open_read_only(path, access).map_err(|e| db_fatal(path, e))?;
    if schema == Schema::Current {
        store.require_current().map_err(|e| db_fatal(path, e))?;
    }
    if read_only_fs {
        log::warn!(
            "database {} is on a read-only file system; reading it without writing \
             (`seh sync` fails until it is writable again)",
            path.display()
        );
    } else {
        log::debug!(
            "database {} is read-only for this user; reading it without writing",
            path.display()
        );
    }
    log::debug!("database {}: read-only access {access:?}", path.display());
    Ok((store, ReadLock { _file: file }))
}

/// Open (creating if needed, mode 0600) and migrate the database.
pub fn open_store(path: &Path) -> Result<store::Store, Fatal> {
    refuse_directory(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Fatal::new(
                    Exit::Database,
                    anyhow::anyhow!("cannot create directory {}: {e}", dir.display()),
                )
            })?;
        }
    }
    if !path.exists() {
        // Create the file ourselves so it is private from the first byte; SQLite gives the
        // -wal and -shm files the same mode.
        create_private(path).map_err(|e| {
            Fatal::new(
                Exit::Database,
                anyhow::anyhow!("cannot create database {}: {e}", path.display()),
            )
        })?;
    }
    store::Store::open(path).map_err(|e| db_fatal(path, e))
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

/// The run lock: one sync or reprocess at a time per database. Held until dropped.
pub struct RunLock {
    _file: File,
}

pub fn lock_run(db: &Path) -> Result<RunLock, Fatal> {
    check_database_path(db)?;
    let path = lock_path(db);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            // The lock file lives beside the database: a read-only file system keeps both
            // from being written, and that is the news.
            std::io::ErrorKind::ReadOnlyFilesystem => read_only_fatal(db),
            // Another user's directory, or a lock file a run as root left behind.
            std::io::ErrorKind::PermissionDenied => Fatal::new(
                Exit::Database,
                anyhow::anyhow!(
                    "database {} is read-only for this user (its lock file {} cannot be \
                     written: {e}); run seh as the database's owner (packaged: `sudo -u seh \
                     seh ...`; after a run as root, `sudo chown -R seh:seh /var/lib/seh`)",
                    db.display(),
                    path.display()
                ),
            ),
            _ => Fatal::new(
                Exit::Database,
                anyhow::anyhow!("cannot open lock file {}: {e}", path.display()),
            ),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Fatal::new(
            Exit::Busy,
            anyhow::anyhow!(
                "another seh run is using {} (lock {} is held); try again when it has finished",
                db.display(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!("cannot lock {}: {e}", path.display()),
        )),
    }
}

/// Whether a sync or reprocess holds the run lock now. Asks with a shared lock released at
/// once (a run starting in that instant waits for nothing: it finds the lock free or exits
/// 3, as with any other reader of the lock); no lock file means no run.
pub fn run_lock_held(db: &Path) -> bool {
    let Ok(file) = File::open(lock_path(db)) else {
        return false;
    };
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

/// The run lock taken shared by a reader of a database it cannot write, so no sync or
/// reprocess (which take it exclusively) changes the file while it is read as immutable.
fn lock_shared(db: &Path) -> Result<File, Fatal> {
    let path = lock_path(db);
    let file = File::open(&path).map_err(|e| {
        Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "database {} is read-only for this user, and reading it safely needs its run \
                 lock {} ({e}); run seh as the database's owner (packaged: `sudo -u seh seh ...`)",
                db.display(),
                path.display()
            ),
        )
    })?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Fatal::new(
            Exit::Busy,
            anyhow::anyhow!(
                "another seh run is writing {} (lock {} is held); this user can read it when \
                 that run has finished",
                db.display(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!("cannot lock {}: {e}", path.display()),
        )),
    }
}

fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// The API client for the configured Fleet key.
pub fn build_client(
    config: &Config,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<crate::api::Client, Fatal> {
    let Some(key) = config.api_key.clone() else {
        return Err(no_credential(config));
    };
    let credential = crate::api::Credential::ApiKey {
        key,
        account_key: config.account_key.clone(),
    };
    Ok(build_client_with(config, credential, stop))
}

/// Neither a Fleet key nor an OAuth grant: nothing can be fetched or planned.
pub fn no_credential(config: &Config) -> Fatal {
    Fatal::new(
        Exit::Config,
        anyhow::anyhow!(
            "no API key configured: set [api] key or key_file in {}, or SEH_API_KEY \
             (homeowners: configure [oauth] and run `seh auth login`)",
            config.source.as_ref().map_or_else(
                || "the config file".to_string(),
                |p| p.display().to_string()
            )
        ),
    )
}

/// The API client for any credential (OAuth bearer tokens, or none for the token endpoint).
pub fn build_client_with(
    config: &Config,
    credential: crate::api::Credential,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> crate::api::Client {
    let mut cc = crate::api::ClientConfig::new(config.base_url.clone(), credential);
    cc.per_minute = config.budget.per_minute;
    cc.time_scale = config.time_scale;
    cc.timeout = std::time::Duration::from_secs(config.timeout_secs);
    cc.retry.max_retries = config.max_retries;
    crate::api::Client::new(cc, stop)
}

/// Print to stdout, treating a closed pipe (`seh status | head`) as the reader's choice,
/// not an error.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: Fatal) -> (Exit, String) {
        (f.exit, format!("{:#}", f.error))
    }

    fn sqlite(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// Damage is named as such, with the way back (a `seh backup` copy, if one was made).
    #[test]
    fn damage_names_the_file_and_the_backup() {
        let p = Path::new("/srv/seh.db");
        let notadb = store::Error::Corrupt {
            query: "read schema version",
            source: sqlite(rusqlite::ffi::SQLITE_NOTADB),
        };
        let (exit, msg) = line(db_fatal(p, notadb));
        assert_eq!(exit, Exit::Database);
        assert!(
            msg.contains("/srv/seh.db is not an SQLite database"),
            "{msg}"
        );
        assert!(
            msg.contains("`seh backup`") && msg.contains("if you made one"),
            "{msg}"
        );
        let malformed = store::Error::Corrupt {
            query: "read sites",
            source: sqlite(rusqlite::ffi::SQLITE_CORRUPT),
        };
        let (_, msg) = line(db_fatal(p, malformed));
        assert!(msg.contains("/srv/seh.db is damaged"), "{msg}");
    }

    #[test]
    fn an_old_schema_on_a_read_only_database_says_how_to_upgrade() {
        let e = store::Error::Outdated { found: 1, known: 2 };
        let (exit, msg) = line(db_fatal(Path::new("seh.db"), e));
        assert_eq!(exit, Exit::Database);
        assert!(
            msg.contains("schema version 1") && msg.contains("seh sync"),
            "{msg}"
        );
    }

    /// An I/O error at commit on a file system that went read-only (the SD card the kernel
    /// remounted mid-run) is reported as that, with the rescue. Needs root for the mount.
    #[test]
    fn an_io_error_on_a_read_only_file_system_says_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
            return;
        }
        let db = dir.path().join("seh.db");
        let e = store::Error::Io {
            what: "commit write transaction",
            source: std::io::Error::other("disk I/O error"),
        };
        let read_only = on_read_only_fs(&db);
        let (exit, msg) = line(db_fatal(&db, e));
        let _ = std::process::Command::new("umount")
            .arg(dir.path())
            .status();
        assert!(read_only);
        assert_eq!(exit, Exit::Database);
        assert!(
            msg.contains(&db.display().to_string())
                && msg.contains("read-only file system")
                && msg.contains("seh backup DEST"),
            "{msg}"
        );
        // Elsewhere the same error stays what SQLite said.
        let e = store::Error::Io {
            what: "commit write transaction",
            source: std::io::Error::other("disk I/O error"),
        };
        let (_, msg) = line(db_fatal(&dir.path().join("seh.db"), e));
        assert!(!msg.contains("read-only"), "{msg}");
    }
}
