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
mod init;
mod plan;
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
    let config = load_config(args.config.as_deref(), &env)?;
    log::debug!("configuration: {config:?}");
    match command {
        Command::Init(_) => unreachable!("handled above"),
        Command::Check(_) => check::run(&config),
        Command::Sync(a) => sync::run(&config, &a),
        Command::Status(a) => status::run(&config, a.json),
        Command::Plan(a) => plan::run(&config, &a),
        Command::Reprocess(_) => reprocess::run(&config),
        Command::Backup(a) => backup::run(&config, &a.dest),
        Command::Auth(a) => auth::run(&config, &a),
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

/// Map a store error to the exit code and a one-line message naming the file.
pub fn db_fatal(path: &Path, e: store::Error) -> Fatal {
    Fatal::new(
        Exit::Database,
        anyhow::anyhow!("database {}: {e}", path.display()),
    )
}

/// Open (and migrate) a database that must exist already: the reading commands never
/// create one.
pub fn open_existing(path: &Path) -> Result<store::Store, Fatal> {
    if !path.exists() {
        return Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "database {} does not exist yet; run `seh init` or `seh sync`",
                path.display()
            ),
        ));
    }
    store::Store::open(path).map_err(|e| db_fatal(path, e))
}

/// Open (creating if needed, mode 0600) and migrate the database.
pub fn open_store(path: &Path) -> Result<store::Store, Fatal> {
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
    let path = lock_path(db);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            Fatal::new(
                Exit::Database,
                anyhow::anyhow!("cannot open lock file {}: {e}", path.display()),
            )
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
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "no API key configured: set [api] key or key_file in {}, or SEH_API_KEY \
                 (homeowners: configure [oauth] and run `seh auth login`)",
                config.source.as_ref().map_or_else(
                    || "the config file".to_string(),
                    |p| p.display().to_string()
                )
            ),
        ));
    };
    let credential = crate::api::Credential::ApiKey {
        key,
        account_key: config.account_key.clone(),
    };
    Ok(build_client_with(config, credential, stop))
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
