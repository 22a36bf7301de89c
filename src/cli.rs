//! Command-line arguments (the "low args"), parsed by argh. Nothing here validates beyond
//! syntax; `config` turns these plus the file and environment into a `Config`.

use argh::FromArgs;
use std::path::PathBuf;

/// Printed after the exit codes by the top-level `--help`: where the Debian package puts
/// things and how systemd runs seh (packaging/README.md has the details).
pub const PACKAGE_HELP: &str = "\
Installed from the Debian package:
  /etc/seh/seh.toml       the configuration (conffile, root:seh 0640): put the API key here
  /var/lib/seh/seh.db     the database, owned by the seh system user
  seh.timer               runs `seh sync` as user seh every 15 minutes (Persistent=true)
  journalctl -u seh       the log of every run
  sudo -u seh seh status  any command, as the service's user
  Exit codes 0, 3, 5 and 130 count as success for seh.service; 1, 2, 4 and 6 mark it failed.
  Purging the package deletes /etc/seh and /var/lib/seh (run seh backup first). See man seh.";

/// seh (SolarEdge Harvest): keep a complete local copy of your SolarEdge Monitoring API V2
/// data in SQLite.
#[derive(FromArgs, Debug)]
#[argh(
    example = "seh init\nseh check\nseh sync\nseh status",
    note = "Configuration: --config, $SEH_CONFIG, ./seh.toml, $XDG_CONFIG_HOME/seh/seh.toml, /etc/seh/seh.toml; environment SEH_API_KEY, SEH_API_BASE_URL, SEH_DATABASE override it."
)]
pub struct Args {
    /// configuration file (default: search $SEH_CONFIG, ./seh.toml, ~/.config/seh, /etc/seh)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// more log output (repeat for trace)
    #[argh(switch, short = 'v')]
    pub verbose: u8,
    /// less log output (repeat for errors only)
    #[argh(switch, short = 'q')]
    pub quiet: u8,
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Init(InitArgs),
    Check(CheckArgs),
    Sync(SyncArgs),
    Status(StatusArgs),
    Plan(PlanArgs),
    Reprocess(ReprocessArgs),
    Backup(BackupArgs),
    Auth(AuthArgs),
    Push(PushArgs),
}

/// Write a consistent copy of the database to a new file (safe while a sync runs), e.g. to
/// put on a USB stick.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "backup")]
pub struct BackupArgs {
    /// the new file; an existing one is never overwritten
    #[argh(positional)]
    pub dest: PathBuf,
}

/// Write a commented example config if none exists, and create or migrate the database.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "init")]
pub struct InitArgs {}

/// Prove the credentials work: the Fleet key (sites, rate limit) and each OAuth grant (one
/// call to its site). Writes no database.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct CheckArgs {}

/// Fetch what is new (and re-read the settle window) for every site and family.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sync")]
pub struct SyncArgs {
    /// only these site ids, comma-separated
    #[argh(option)]
    pub sites: Option<String>,
    /// only these families, comma-separated (see `seh status` for names)
    #[argh(option)]
    pub only: Option<String>,
    /// fetch everything from installation on, and retry families skipped for tier reasons
    #[argh(switch)]
    pub full: bool,
}

/// Per site and family: covered range, last success, last error, rows, calls and credits.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// print JSON instead of a table
    #[argh(switch)]
    pub json: bool,
}

/// What the next sync will fetch and cost, the cadence per family, credits used and left
/// this cycle, and when quarter-hour history will be complete. Makes no API call.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "plan")]
pub struct PlanArgs {
    /// print JSON instead of text
    #[argh(switch)]
    pub json: bool,
    /// plan as `seh sync --sites` would (comma-separated site ids)
    #[argh(option)]
    pub sites: Option<String>,
    /// plan as `seh sync --only` would (comma-separated families)
    #[argh(option)]
    pub only: Option<String>,
    /// plan as `seh sync --full` would
    #[argh(switch)]
    pub full: bool,
    /// list every planned call
    #[argh(switch)]
    pub verbose_tasks: bool,
}

/// Copy what changed since the last push to the remote databases of the [[push]] entries
/// (PostgreSQL, MySQL/MariaDB); `seh sync` does this at its end.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "push")]
pub struct PushArgs {
    /// only the [[push]] entry with this name (even if it is not enabled)
    #[argh(option)]
    pub to: Option<String>,
    /// push every row again, not only what changed (the remote keeps one copy of each)
    #[argh(switch)]
    pub full: bool,
    /// only create or upgrade the remote tables and views
    #[argh(switch)]
    pub init: bool,
}

/// Rebuild every table from the raw archive, with zero API calls.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reprocess")]
pub struct ReprocessArgs {}

/// Homeowners' OAuth Site Access: grant seh access to a site, list the grants, revoke one.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "auth",
    example = "seh auth login\nseh auth login --listen 127.0.0.1:8788\nseh auth status\nseh auth logout 1234567"
)]
pub struct AuthArgs {
    #[argh(subcommand)]
    pub command: AuthCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum AuthCommand {
    Login(AuthLoginArgs),
    Status(AuthStatusArgs),
    Logout(AuthLogoutArgs),
}

/// Grant access to one site: prints SolarEdge's consent URL, then reads the address your
/// browser lands on (paste it on stdin). Repeat per site.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "login")]
pub struct AuthLoginArgs {
    /// the address the browser landed on, from an earlier `seh auth login` (instead of stdin)
    #[argh(option)]
    pub redirect_url: Option<String>,
    /// catch the redirect with a one-shot listener on ADDR (e.g. 127.0.0.1:8788) when the
    /// browser runs on this host; register http://ADDR/callback as the Redirect URL
    #[argh(option)]
    pub listen: Option<String>,
}

/// Each grant: site, scopes, access-token expiry, last refresh, days until the refresh
/// token would expire unused, grant end. Never shows a token.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct AuthStatusArgs {
    /// print JSON instead of text
    #[argh(switch)]
    pub json: bool,
}

/// Revoke the grant of a site at SolarEdge and delete it.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "logout")]
pub struct AuthLogoutArgs {
    /// the site id
    #[argh(positional)]
    pub site: i64,
}
