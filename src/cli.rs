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
    Report(ReportArgs),
    Notify(NotifyArgs),
    Export(ExportArgs),
    Push(PushArgs),
}

/// Write a one-file HTML report (charts, no network needed) for a browser, e.g. on a USB
/// stick: per site power, energy per day and month, coverage, battery and meters.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "report",
    example = "seh report -o seh-report.html\nseh report -o nov.html --from 2026-11-01 --to 2026-11-30"
)]
pub struct ReportArgs {
    /// the HTML file to write
    #[argh(option, short = 'o')]
    pub output: PathBuf,
    /// only this site id (repeat for more; default: every site)
    #[argh(option)]
    pub site: Vec<i64>,
    /// first day of the daily figures, YYYY-MM-DD (default: 29 days before --to)
    #[argh(option)]
    pub from: Option<String>,
    /// last day of the daily figures, YYYY-MM-DD (default: the newest day with data)
    #[argh(option)]
    pub to: Option<String>,
    /// replace the file if it exists
    #[argh(switch)]
    pub force: bool,
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

/// Per site: energy today, yesterday, the last 7 days and lifetime; what is stored (in the
/// site's local dates) and what fails; credits this cycle. `-v` adds every family's range,
/// rows and last success, and the rows per table.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// print JSON (every fact, UTC and local ranges) instead of text
    #[argh(switch)]
    pub json: bool,
}

/// What the next sync will fetch and cost (fresh, history, backfill, slow), how often fresh
/// data comes, credits used and left this cycle, and when the backfill will be done. Makes
/// no API call.
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

/// Notifications (`[notify]`): send a test message through every channel, or list the
/// events that are open.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "notify",
    example = "seh notify test\nseh notify status"
)]
pub struct NotifyArgs {
    #[argh(subcommand)]
    pub command: NotifyCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum NotifyCommand {
    Test(NotifyTestArgs),
    Status(NotifyStatusArgs),
}

/// Send a test message through every configured channel and print each result (exit 1
/// when a channel failed).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "test")]
pub struct NotifyTestArgs {}

/// List the open events, what the owner was told and when, and the last message sent.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct NotifyStatusArgs {}
/// Write datasets as CSV, JSON, NDJSON, SQL or XLSX, straight from the database (read-only,
/// safe while a sync runs). Times are site-local with their UTC offset unless --time utc.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "export",
    example = "seh export --list\nseh export csv daily-energy -o daily.csv\nseh export xlsx energy daily-energy monthly-energy --from 2026-01-01 --to 2026-12-31 -o 2026.xlsx\nseh export sql --dialect postgres energy | psql mydb",
    note = "csv, json and ndjson take one dataset; sql and xlsx take several. Dates are site-local calendar days, both ends included."
)]
pub struct ExportArgs {
    /// the format (csv, json, ndjson, sql or xlsx), then the datasets (see --list)
    #[argh(positional, arg_name = "FORMAT DATASET")]
    pub what: Vec<String>,
    /// list the datasets, one a line, and exit
    #[argh(switch)]
    pub list: bool,
    /// only this site id (repeat for several)
    #[argh(option, arg_name = "ID")]
    pub site: Vec<i64>,
    /// first site-local date, YYYY-MM-DD
    #[argh(option, arg_name = "DATE")]
    pub from: Option<String>,
    /// last site-local date, YYYY-MM-DD (included)
    #[argh(option, arg_name = "DATE")]
    pub to: Option<String>,
    /// bucket size of energy, power and telemetry: quarter-hour (default for energy and
    /// power), hour, day, week, month, year
    #[argh(option)]
    pub resolution: Option<String>,
    /// local (default: the site's time with its UTC offset) or utc
    #[argh(option)]
    pub time: Option<String>,
    /// telemetry as one column per device and metric (one row per bucket)
    #[argh(switch)]
    pub wide: bool,
    /// CSV field separator (default ,; e.g. ';' for spreadsheets that want it)
    #[argh(option)]
    pub delimiter: Option<char>,
    /// SQL dialect: sqlite (default), postgres or mysql
    #[argh(option)]
    pub dialect: Option<String>,
    /// write to FILE (complete or not at all) instead of stdout
    #[argh(option, short = 'o', arg_name = "FILE")]
    pub output: Option<PathBuf>,
    /// replace FILE if it exists
    #[argh(switch)]
    pub force: bool,
}
