//! Configuration: the TOML file, environment overrides and built-in defaults merged into one
//! validated [`Config`] (the "high args"; `cli` holds the raw "low args").
//!
//! Precedence: command line over environment (`SEH_*`) over file over defaults. This is the
//! only module that reads the environment. Errors name the file and the key. Secrets are
//! kept in [`Secret`], whose `Debug` and `Display` print `****`, so a `{:?}` of a `Config`
//! can go into a log line.

use crate::api::{Secret, DEFAULT_BASE_URL};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem; its message names the file and the key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

// ----- file format (private; `deny_unknown_fields` makes typos errors) --------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    api: FileApi,
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    sites: FileSites,
    #[serde(default)]
    sync: FileSync,
    #[serde(default)]
    budget: FileBudget,
    #[serde(default)]
    oauth: FileOAuth,
    #[serde(default)]
    notify: crate::notify::config::FileNotify,
    /// `[[push]]`: remote databases (issue 13), validated by `push::config`.
    #[serde(default)]
    push: Vec<crate::push::config::FilePush>,
}

/// `[oauth]`: a homeowner's Site Access application (issue 5).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOAuth {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    redirect_url: Option<String>,
    token_store: Option<PathBuf>,
    authorize_url: Option<String>,
    refresh_idle_days: Option<u32>,
}

impl fmt::Debug for FileOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: the client secret never goes into a log line.
        f.debug_struct("FileOAuth")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "****"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBudget {
    monthly_credits: Option<u64>,
    per_minute: Option<u32>,
    billing_day: Option<u32>,
    reserve: Option<u64>,
    alerts_minutes: Option<u32>,
    max_history_calls_per_run: Option<u64>,
    /// Freshness cadence pinned per family, in minutes: `{ energy = 30 }`.
    #[serde(default)]
    cadence_minutes: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApi {
    base_url: Option<String>,
    key: Option<String>,
    key_file: Option<PathBuf>,
    account_key: Option<String>,
    timeout_secs: Option<u64>,
    max_retries: Option<u32>,
    /// Server seconds per real second: only for tests against a sped-up simulator.
    time_scale: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSites {
    #[serde(default)]
    include: Vec<i64>,
    #[serde(default)]
    exclude: Vec<i64>,
    /// Sites whose fresh data comes first when the budget cannot keep every series fresh.
    #[serde(default)]
    priority: Vec<i64>,
    /// Site id → IANA zone, for sites whose zone the API does not send.
    #[serde(default)]
    timezone: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSync {
    initial_days: Option<u32>,
    settle_hours: Option<u32>,
    alerts: Option<String>,
    /// Per-resolution maximum window in hours, e.g. `{ QUARTER_HOUR = 12, DAY = 744 }`.
    #[serde(default)]
    max_window_hours: std::collections::BTreeMap<String, u32>,
}

// ----- the validated result ---------------------------------------------------------------

/// Where alerts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertSource {
    /// One fleet `/alerts` call for every site (needs a Fleet key; the default).
    Fleet,
    /// One `/sites/{id}/alerts` call per site.
    Site,
}

/// Default consent page of SolarEdge Connect.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://connect.solaredge.com/authorize";

/// The registered Site Access application (`[oauth]`), validated.
#[derive(Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: Secret,
    /// The Redirect URL registered for the application (shown to the user; Connect always
    /// redirects there).
    pub redirect_url: Option<String>,
    pub authorize_url: String,
    /// A grant whose refresh token is older than this is refreshed in any run (default 7),
    /// so the 30-day idle expiry never arrives.
    pub refresh_idle_days: u32,
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"****")
            .field("redirect_url", &self.redirect_url)
            .field("authorize_url", &self.authorize_url)
            .field("refresh_idle_days", &self.refresh_idle_days)
            .finish()
    }
}

/// Everything a command needs, validated.
#[derive(Clone)]
pub struct Config {
    /// The file this came from, if any.
    pub source: Option<PathBuf>,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub account_key: Option<Secret>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    pub time_scale: f64,
    pub budget: crate::budget::Budget,
    pub alerts_minutes: Option<u32>,
    pub max_history_calls_per_run: u64,
    /// Freshness cadence pins: (family name, minutes).
    pub cadence_minutes: Vec<(String, u32)>,
    pub database: PathBuf,
    pub include: Vec<i64>,
    pub exclude: Vec<i64>,
    /// `[sites] priority`: served first when the budget is short.
    pub priority: Vec<i64>,
    /// `[sites] timezone`: the zone of sites the API gives none for.
    pub timezones: Vec<(i64, chrono_tz::Tz)>,
    pub initial_days: u32,
    pub settle_hours: u32,
    pub alerts: AlertSource,
    /// Overrides of the per-resolution window, in hours.
    pub max_window_hours: Vec<(String, u32)>,
    /// `[oauth]` when a Site Access application is configured.
    pub oauth: Option<OAuthConfig>,
    /// The OAuth token store (default `seh-tokens.json` next to the database).
    pub token_store: PathBuf,
    /// `[notify]`: channels and thresholds (no channel: no notifications).
    pub notify: crate::notify::NotifyConfig,
    /// `[[push]]`: the remote databases to copy the data to.
    pub push: Vec<crate::push::PushConfig>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so a new secret field cannot slip into logs by derive.
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .field("account_key", &self.account_key.as_ref().map(|_| "****"))
            .field("database", &self.database)
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .field("timezones", &self.timezones)
            .field("initial_days", &self.initial_days)
            .field("settle_hours", &self.settle_hours)
            .field("alerts", &self.alerts)
            .field("oauth", &self.oauth)
            .field("token_store", &self.token_store)
            .field("notify", &self.notify)
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}

/// The environment as far as configuration cares; a struct so tests need not touch the
/// process environment. `Debug` is by hand: it holds secrets.
#[derive(Clone, Default)]
pub struct Env {
    pub config: Option<PathBuf>,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub database: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `SEH_SMTP_PASSWORD`: the password of every `[[notify.email]]` with a user.
    pub smtp_password: Option<String>,
    /// `SEH_PUSH_<NAME>_PASSWORD` variables: (variable, password).
    pub push_passwords: Vec<(String, Secret)>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("config", &self.config)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .field("base_url", &self.base_url)
            .field("database", &self.database)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "****"),
            )
            .field(
                "push_passwords",
                &self
                    .push_passwords
                    .iter()
                    .map(|(k, _)| (k, "****"))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Env {
    /// Read the `SEH_*` variables (and XDG/HOME for the search path).
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Env {
            config: var("SEH_CONFIG").map(PathBuf::from),
            api_key: var("SEH_API_KEY").and_then(|v| v.into_string().ok()),
            base_url: var("SEH_API_BASE_URL").and_then(|v| v.into_string().ok()),
            database: var("SEH_DATABASE").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            smtp_password: var("SEH_SMTP_PASSWORD").and_then(|v| v.into_string().ok()),
            push_passwords: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, v)| {
                    k.starts_with("SEH_PUSH_") && k.ends_with("_PASSWORD") && !v.is_empty()
                })
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
        }
    }

    /// The config file search order when `--config` is absent.
    pub fn search_path(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(p) = &self.config {
            v.push(p.clone());
        }
        v.push(PathBuf::from("seh.toml"));
        match (&self.xdg_config_home, &self.home) {
            (Some(x), _) => v.push(x.join("seh/seh.toml")),
            (None, Some(h)) => v.push(h.join(".config/seh/seh.toml")),
            _ => {}
        }
        v.push(PathBuf::from("/etc/seh/seh.toml"));
        v
    }
}

/// Find the config file: `--config` if given (must exist), else the first existing file of
/// the search path, else `None`.
pub fn locate(cli: Option<&Path>, env: &Env) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = cli {
        if !p.exists() {
            return Err(err(format!("config file {} does not exist", p.display())));
        }
        return Ok(Some(p.to_path_buf()));
    }
    if let Some(p) = &env.config {
        if !p.exists() {
            return Err(err(format!(
                "config file {} (from SEH_CONFIG) does not exist",
                p.display()
            )));
        }
    }
    Ok(env.search_path().into_iter().find(|p| p.is_file()))
}

/// Load and validate. `path` is the located file (or `None` for environment-only use).
pub fn load(path: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| err(format!("cannot read config file {}: {e}", p.display())))?;
            load_text(&text, p, env)
        }
        None => build(FileConfig::default(), None, env),
    }
}

/// Parses and validates the text of the config file at `path` (which names the file in
/// messages). Separate from [`load`] so the fuzz tests can feed it text without a file;
/// it still reads `key_file` and `client_secret_file` when the text names them.
pub(crate) fn load_text(text: &str, path: &Path, env: &Env) -> Result<Config, ConfigError> {
    build(parse(text, path)?, Some(path.to_path_buf()), env)
}

fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| err(parse_message(&e, text, path)))
}

/// Keys that exist only for the test suite; never offered to users in messages.
const TEST_ONLY_KEYS: &[&str] = &["time_scale"];

/// `FILE:LINE:COLUMN: what` on the first line (what the journal shows), then the line
/// and a caret under the offending text, as compilers print it.
fn parse_message(e: &toml::de::Error, text: &str, path: &Path) -> String {
    let mut what = e.message().trim().to_string();
    for key in TEST_ONLY_KEYS {
        what = what.replace(&format!(", `{key}`"), "");
    }
    let Some(span) = e.span() else {
        return format!("{}: {what}", path.display());
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let source = &text[line_start..line_end];
    let width = text[start..span.end.clamp(start, line_end)]
        .chars()
        .count()
        .max(1);
    let gutter = line_no.to_string().len();
    format!(
        "{}:{line_no}:{column}: {what}\n {:gutter$} |\n {line_no} | {source}\n {:gutter$} | {}{}",
        path.display(),
        "",
        "",
        " ".repeat(column - 1),
        "^".repeat(width),
    )
}

fn build(file: FileConfig, source: Option<PathBuf>, env: &Env) -> Result<Config, ConfigError> {
    let where_ = source
        .as_ref()
        .map_or_else(|| "configuration".to_string(), |p| p.display().to_string());
    let key_err = |key: &str, msg: &str| err(format!("{where_}: {key}: {msg}"));

    let base_url = env
        .base_url
        .clone()
        .or(file.api.base_url)
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    let base_url = base_url.trim_end_matches('/').to_string();
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(key_err(
            "api.base_url",
            "must start with https:// or http://",
        ));
    }
    if base_url.contains("monitoringapi.solaredge.com") && !base_url.ends_with("/v2") {
        return Err(key_err(
            "api.base_url",
            "must end with /v2 (Monitoring API V1 was retired on 2026-11-03)",
        ));
    }

    if file.api.key.is_some() && file.api.key_file.is_some() {
        return Err(key_err("api.key", "set either key or key_file, not both"));
    }
    let api_key = match (&env.api_key, file.api.key, &file.api.key_file) {
        (Some(k), _, _) => Some(k.clone()),
        (None, Some(k), _) => Some(k),
        (None, None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                key_err("api.key_file", &format!("cannot read {}: {e}", f.display()))
            })?;
            Some(text.trim().to_string())
        }
        (None, None, None) => None,
    };
    if let Some(k) = &api_key {
        if k.trim().is_empty() {
            return Err(key_err("api.key", "is empty"));
        }
        if k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(key_err("api.key", "contains whitespace"));
        }
    }

    let alerts = match file.sync.alerts.as_deref() {
        None | Some("fleet") => AlertSource::Fleet,
        Some("site") => AlertSource::Site,
        Some(other) => {
            return Err(key_err(
                "sync.alerts",
                &format!("must be \"fleet\" or \"site\", not {other:?}"),
            ))
        }
    };
    let mut max_window_hours = Vec::new();
    for (res, hours) in file.sync.max_window_hours {
        if crate::model::Resolution::parse(&res).is_none() {
            return Err(key_err(
                &format!("sync.max_window_hours.{res}"),
                "unknown resolution (QUARTER_HOUR, HOUR, DAY, WEEK, MONTH, YEAR)",
            ));
        }
        if hours == 0 {
            return Err(key_err(
                &format!("sync.max_window_hours.{res}"),
                "must be at least 1",
            ));
        }
        max_window_hours.push((res, hours));
    }
    let defaults = crate::budget::Budget::default();
    let budget = crate::budget::Budget {
        monthly_credits: file
            .budget
            .monthly_credits
            .unwrap_or(defaults.monthly_credits),
        per_minute: file.budget.per_minute.unwrap_or(defaults.per_minute),
        billing_day: file.budget.billing_day.unwrap_or(defaults.billing_day),
        reserve: file.budget.reserve.unwrap_or(defaults.reserve),
    };
    if budget.per_minute == 0 {
        return Err(key_err("budget.per_minute", "must be at least 1"));
    }
    if !(1..=28).contains(&budget.billing_day) {
        return Err(key_err(
            "budget.billing_day",
            "must be 1..28 (a day every month has)",
        ));
    }
    if budget.reserve >= budget.monthly_credits {
        return Err(key_err(
            "budget.reserve",
            "must be smaller than monthly_credits",
        ));
    }
    let mut cadence_minutes = Vec::new();
    for (fam, minutes) in file.budget.cadence_minutes {
        if !matches!(
            fam.as_str(),
            "energy" | "power" | "inverter_telemetry" | "meter_telemetry" | "storage_telemetry"
        ) {
            return Err(key_err(
                &format!("budget.cadence_minutes.{fam}"),
                "only quarter-hour families have a cadence (energy, power, inverter_telemetry, meter_telemetry, storage_telemetry)",
            ));
        }
        if minutes < 15 {
            return Err(key_err(
                &format!("budget.cadence_minutes.{fam}"),
                "must be at least 15",
            ));
        }
        cadence_minutes.push((fam, minutes));
    }
    let mut timezones = Vec::new();
    for (site, zone) in &file.sites.timezone {
        let key = format!("sites.timezone.{site}");
        let id = site
            .parse::<i64>()
            .map_err(|_| key_err(&key, "the key must be a site id"))?;
        let tz = zone.parse::<chrono_tz::Tz>().map_err(|_| {
            key_err(
                &key,
                &format!("{zone:?} is not an IANA time zone (like \"Europe/Berlin\")"),
            )
        })?;
        timezones.push((id, tz));
    }
    let time_scale = file.api.time_scale.unwrap_or(1.0);
    if !(time_scale.is_finite() && time_scale > 0.0) {
        return Err(key_err("api.time_scale", "must be a positive number"));
    }
    let oauth = build_oauth(&file.oauth, &key_err)?;
    let notify = crate::notify::config::build(file.notify, env.smtp_password.as_deref())
        .map_err(|(key, msg)| key_err(&key, &msg))?;
    let push = crate::push::config::build(file.push, &key_err, &|var| {
        env.push_passwords
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.expose().to_string())
    })?;
    let database = env
        .database
        .clone()
        .or(file.database.path)
        .unwrap_or_else(|| PathBuf::from("seh.db"));
    let token_store = file
        .oauth
        .token_store
        .clone()
        .unwrap_or_else(|| database.with_file_name("seh-tokens.json"));

    Ok(Config {
        source,
        base_url,
        api_key: api_key.map(Secret::new),
        account_key: file.api.account_key.map(Secret::new),
        timeout_secs: file.api.timeout_secs.unwrap_or(60).max(1),
        max_retries: file.api.max_retries.unwrap_or(4),
        time_scale,
        budget,
        alerts_minutes: file.budget.alerts_minutes,
        max_history_calls_per_run: file
            .budget
            .max_history_calls_per_run
            .unwrap_or(u64::from(budget.per_minute) * 5),
        cadence_minutes,
        database,
        include: file.sites.include,
        exclude: file.sites.exclude,
        priority: file.sites.priority,
        timezones,
        initial_days: file.sync.initial_days.unwrap_or(7).max(1),
        settle_hours: file.sync.settle_hours.unwrap_or(1),
        alerts,
        max_window_hours,
        oauth,
        token_store,
        notify,
        push,
    })
}

/// `[oauth]`: `None` without a client id; a secret (inline or from a file) is required with it.
fn build_oauth(
    o: &FileOAuth,
    key_err: &dyn Fn(&str, &str) -> ConfigError,
) -> Result<Option<OAuthConfig>, ConfigError> {
    if o.client_secret.is_some() && o.client_secret_file.is_some() {
        return Err(key_err(
            "oauth.client_secret",
            "set either client_secret or client_secret_file, not both",
        ));
    }
    let Some(client_id) = o.client_id.as_deref().map(str::trim) else {
        if o.client_secret.is_some() || o.client_secret_file.is_some() {
            return Err(key_err(
                "oauth.client_id",
                "missing (needed with a client secret)",
            ));
        }
        return Ok(None);
    };
    if client_id.is_empty() {
        return Err(key_err("oauth.client_id", "is empty"));
    }
    let secret = match (&o.client_secret, &o.client_secret_file) {
        (Some(s), _) => s.trim().to_string(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| {
                key_err(
                    "oauth.client_secret_file",
                    &format!("cannot read {}: {e}", f.display()),
                )
            })?
            .trim()
            .to_string(),
        (None, None) => {
            return Err(key_err(
                "oauth.client_secret",
                "missing: set client_secret or client_secret_file with client_id",
            ))
        }
    };
    if secret.is_empty() {
        return Err(key_err("oauth.client_secret", "is empty"));
    }
    let authorize_url = o
        .authorize_url
        .clone()
        .unwrap_or_else(|| DEFAULT_AUTHORIZE_URL.to_string());
    for (key, url) in [
        ("oauth.authorize_url", Some(&authorize_url)),
        ("oauth.redirect_url", o.redirect_url.as_ref()),
    ] {
        if let Some(u) = url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(key_err(key, "must start with https:// or http://"));
            }
        }
    }
    let refresh_idle_days = o.refresh_idle_days.unwrap_or(7);
    if !(1..=29).contains(&refresh_idle_days) {
        return Err(key_err(
            "oauth.refresh_idle_days",
            "must be 1..29 (refresh tokens die after 30 days unused)",
        ));
    }
    Ok(Some(OAuthConfig {
        client_id: client_id.to_string(),
        client_secret: Secret::new(secret),
        redirect_url: o.redirect_url.clone(),
        authorize_url,
        refresh_idle_days,
    }))
}

impl Config {
    /// Whether a site passes the include/exclude filters.
    pub fn wants_site(&self, id: i64) -> bool {
        passes_site_filters(&self.include, &self.exclude, id)
    }
}

/// `[sites] include` (empty: every site) and `exclude`, the one rule for both `Config` and
/// a sync's settings.
pub fn passes_site_filters(include: &[i64], exclude: &[i64], id: i64) -> bool {
    (include.is_empty() || include.contains(&id)) && !exclude.contains(&id)
}

/// The fully commented example written by `seh init` and shipped as `/etc/seh/seh.toml`.
pub const EXAMPLE: &str = include_str!("../packaging/seh.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &Env) -> Result<Config, ConfigError> {
        build(
            parse(text, Path::new("t.toml"))?,
            Some("t.toml".into()),
            env,
        )
    }

    #[test]
    fn defaults_apply() {
        let c = load_text("", &Env::default()).unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert!(c.api_key.is_none());
        assert_eq!(c.database, PathBuf::from("seh.db"));
        assert_eq!(c.initial_days, 7);
        assert_eq!(c.alerts, AlertSource::Fleet);
    }

    #[test]
    fn unknown_keys_name_the_key_and_file() {
        let e = load_text("[api]\nkey = \"abc\"\nkye = 1\n", &Env::default()).unwrap_err();
        assert!(e.0.contains("t.toml") && e.0.contains("kye"), "{e}");
        let e = load_text("[sync]\nalerts = \"both\"\n", &Env::default()).unwrap_err();
        assert!(e.0.contains("sync.alerts"), "{e}");
        let e = load_text("[sync]\ninitial_days = \"x\"\n", &Env::default()).unwrap_err();
        assert!(e.0.contains("initial_days"), "{e}");
        let e = load_text(
            "[api]\nbase_url = \"https://monitoringapi.solaredge.com\"\n",
            &Env::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("V1"), "{e}");
    }

    #[test]
    fn parse_errors_keep_line_and_caret_and_hide_test_only_keys() {
        let e = load_text("[api]\nkey = \"abc\"\nkye = 1\n", &Env::default()).unwrap_err();
        let lines: Vec<&str> = e.0.lines().collect();
        assert!(
            lines[0].ends_with(
                "t.toml:3:1: unknown field `kye`, expected one of \
             `base_url`, `key`, `key_file`, `account_key`, `timeout_secs`, `max_retries`"
            ),
            "{e}"
        );
        assert_eq!(&lines[1..], ["   |", " 3 | kye = 1", "   | ^^^"], "{e}");
        assert!(!e.0.contains("time_scale"), "{e}");
        let e = load_text("[api]\nkey = \"x\nbase_url = 1\n", &Env::default()).unwrap_err();
        assert!(e.0.lines().next().unwrap().contains("t.toml:2:"), "{e}");
        assert!(e.0.contains(" 2 | key = \"x"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let env = Env {
            api_key: Some("ENVKEY123".into()),
            base_url: Some("http://127.0.0.1:9/v2/".into()),
            database: Some("/tmp/x.db".into()),
            ..Env::default()
        };
        let c = load_text(
            "[api]\nkey = \"FILEKEY\"\n[database]\npath = \"a.db\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(c.api_key.as_ref().unwrap().expose(), "ENVKEY123");
        assert_eq!(c.base_url, "http://127.0.0.1:9/v2");
        assert_eq!(c.database, PathBuf::from("/tmp/x.db"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = load_text(
            "[api]\nkey = \"SUPERSECRETKEY\"\naccount_key = \"ACCTSECRET\"\n",
            &Env::default(),
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("SUPERSECRETKEY") && !dbg.contains("ACCTSECRET"),
            "{dbg}"
        );
        assert!(dbg.contains("****"));
    }

    #[test]
    fn key_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "FILEKEY42\n").unwrap();
        let text = format!("[api]\nkey_file = {:?}\n", f.display().to_string());
        let c = load_text(&text, &Env::default()).unwrap();
        assert_eq!(c.api_key.unwrap().expose(), "FILEKEY42");
        let e = load_text("[api]\nkey_file = \"/nonexistent/k\"\n", &Env::default()).unwrap_err();
        assert!(e.0.contains("api.key_file"), "{e}");
    }

    #[test]
    fn the_shipped_example_parses() {
        let c = load_text(EXAMPLE, &Env::default()).unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert!(c.oauth.is_none());
        // Uncommenting the example's [oauth] keys (one way of giving the secret) parses.
        let section = EXAMPLE.split("[oauth]").nth(1).expect("an [oauth] section");
        let keys: String = section
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") && !l.starts_with("client_secret_file"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(keys.contains("refresh_idle_days"), "{keys}");
        let c = load_text(&format!("[oauth]\n{keys}"), &Env::default()).unwrap();
        assert_eq!(c.oauth.unwrap().client_id, "YOUR-CLIENT-ID");
    }

    #[test]
    fn the_example_notify_section_parses_uncommented() {
        let section = EXAMPLE
            .split("[notify]")
            .nth(1)
            .expect("a [notify] section");
        // Up to the next section (the commented `[[push]]` example, or `[oauth]`).
        let section = section.split("\n[oauth]").next().unwrap();
        let section = section.split("\n# [[push]]").next().unwrap();
        let text: String = section
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") || l.starts_with("[["))
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "EXAMPLEPASSWORD\n").unwrap();
        let text = text.replace("/etc/seh/smtp-password", &pw.display().to_string());
        let c = load_text(&format!("[notify]\n{text}"), &Env::default()).unwrap();
        assert_eq!(c.notify.email.len(), 1);
        assert_eq!(c.notify.webhook.len(), 1);
        assert_eq!(
            c.notify.email[0].login.as_ref().unwrap().1.expose(),
            "EXAMPLEPASSWORD"
        );
        let env = Env {
            smtp_password: Some("FROMENV".into()),
            ..Env::default()
        };
        let c = load_text(&format!("[notify]\n{text}"), &env).unwrap();
        assert_eq!(
            c.notify.email[0].login.as_ref().unwrap().1.expose(),
            "FROMENV"
        );
        let dbg = format!("{c:?} {env:?}");
        assert!(
            !dbg.contains("FROMENV") && !dbg.contains("YOUR-TOKEN"),
            "{dbg}"
        );
    }

    #[test]
    fn oauth_section() {
        let c = load_text(
            "[database]\npath = \"/var/lib/seh/seh.db\"\n[oauth]\nclient_id = \"cid\"\nclient_secret = \"OAUTHSECRET\"\n",
            &Env::default(),
        )
        .unwrap();
        let o = c.oauth.as_ref().unwrap();
        assert_eq!(o.client_id, "cid");
        assert_eq!(o.client_secret.expose(), "OAUTHSECRET");
        assert_eq!(o.authorize_url, DEFAULT_AUTHORIZE_URL);
        assert_eq!(o.refresh_idle_days, 7);
        assert_eq!(c.token_store, PathBuf::from("/var/lib/seh/seh-tokens.json"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("OAUTHSECRET") && dbg.contains("cid"), "{dbg}");
        assert!(load_text("", &Env::default()).unwrap().oauth.is_none());
        assert_eq!(
            load_text("", &Env::default()).unwrap().token_store,
            PathBuf::from("seh-tokens.json")
        );

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "FROMFILE\n").unwrap();
        let text = format!(
            "[oauth]\nclient_id = \"c\"\nclient_secret_file = {:?}\ntoken_store = \"/x/t.json\"\nrefresh_idle_days = 3\n",
            f.display().to_string()
        );
        let c = load_text(&text, &Env::default()).unwrap();
        assert_eq!(c.oauth.as_ref().unwrap().client_secret.expose(), "FROMFILE");
        assert_eq!(c.oauth.as_ref().unwrap().refresh_idle_days, 3);
        assert_eq!(c.token_store, PathBuf::from("/x/t.json"));

        for (text, key) in [
            ("[oauth]\nclient_id = \"c\"\n", "oauth.client_secret"),
            ("[oauth]\nclient_secret = \"s\"\n", "oauth.client_id"),
            (
                "[oauth]\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_idle_days = 30\n",
                "oauth.refresh_idle_days",
            ),
            (
                "[oauth]\nclient_id = \"c\"\nclient_secret = \"s\"\nauthorize_url = \"ftp://x\"\n",
                "oauth.authorize_url",
            ),
            ("[oauth]\nclient_idd = \"c\"\n", "client_idd"),
        ] {
            let e = load_text(text, &Env::default()).unwrap_err();
            assert!(e.0.contains(key) && !e.0.contains("\"s\""), "{text}: {e}");
        }
    }

    #[test]
    fn search_path_order() {
        let env = Env {
            config: Some("/x/a.toml".into()),
            xdg_config_home: Some("/xdg".into()),
            ..Env::default()
        };
        let p = env.search_path();
        assert_eq!(p[0], PathBuf::from("/x/a.toml"));
        assert_eq!(p[1], PathBuf::from("seh.toml"));
        assert_eq!(p[2], PathBuf::from("/xdg/seh/seh.toml"));
        assert_eq!(p[3], PathBuf::from("/etc/seh/seh.toml"));
    }
}
