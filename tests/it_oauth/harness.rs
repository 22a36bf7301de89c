//! The OAuth test environment: an in-process simulator, a temporary directory with a
//! config and a database, a runner for the real `seh` binary, and a "browser" that walks
//! SolarEdge Connect's consent by hand (GET the authorize URL, read the 302 Location).

#![allow(dead_code)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rusqlite::{Connection, OpenFlags};
use seh::api::{Client, ClientConfig, Credential, Secret};
use seh::oauth::store::TokenStore;
use seh::oauth::token::{self, App};
use seh_sim::app::SimOptions;
use seh_sim::Running;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-secret";

const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub use crate::common::*;

pub fn wait_out(child: Child, args: &[&str]) -> Out {
    wait_out_with(child, args, None)
}

/// [`wait_out_within`] with this harness's timeout; `rest` reads the stdout lines after the
/// consent URL.
pub fn wait_out_with(
    child: Child,
    args: &[&str],
    rest: Option<std::thread::JoinHandle<String>>,
) -> Out {
    wait_out_within(child, args, RUN_TIMEOUT, rest)
}

/// Data tables a Site Access grant fills like a Fleet key (`seh_sites` also holds the
/// fleet `/sites` listing, which needs a Fleet key).
pub const GRANT_TABLES: [&str; 10] = [
    "seh_devices",
    "seh_overview",
    "seh_environmental_benefits",
    "seh_alerts",
    "seh_power_flow",
    "seh_energy",
    "seh_power",
    "seh_inverter_telemetry",
    "seh_meter_telemetry",
    "seh_storage_telemetry",
];

/// Simulator on a frozen clock that starts at the real present (whole seconds), so the
/// wall-clock `Date` the simulator puts on token answers agrees with its virtual clock
/// until a test moves it. Generous limits; the scenario's sites are installed recently so
/// history stays short.
pub fn sim_options() -> SimOptions {
    let mut o = SimOptions::new(Utc::now().trunc_subsecs(0));
    o.speed = 0.0;
    o.limits.per_minute = 1_000_000;
    o.limits.monthly_credits = 1_000_000_000;
    for s in &mut o.scenario.sites {
        s.installed_days_ago = s.installed_days_ago.min(40);
    }
    o
}

/// What goes into one config file.
#[derive(Clone, Debug)]
pub struct Cfg {
    pub key: bool,
    pub oauth: bool,
    /// Extra lines for `[sites]`.
    pub sites: String,
    /// Extra lines for `[oauth]`.
    pub oauth_extra: String,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            key: false,
            oauth: true,
            sites: String::new(),
            oauth_extra: String::new(),
        }
    }
}

/// One seh installation (config, database, token store) against a simulator.
pub struct Seh {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    pub tokens: PathBuf,
}

pub struct Env {
    pub sim: Option<Running>,
    pub url: String,
    agent: ureq::Agent,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            s.shutdown();
        }
    }
}

impl Env {
    pub fn new(opts: SimOptions) -> Env {
        let sim = seh_sim::start(opts, "127.0.0.1:0").expect("simulator starts");
        Env {
            url: sim.url.clone(),
            sim: Some(sim),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(std::time::Duration::from_secs(30)))
                .build()
                .into(),
        }
    }

    pub fn running(&self) -> &Running {
        self.sim.as_ref().expect("running")
    }

    pub fn base_url(&self) -> String {
        self.running().base_url()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.running().app.clock.now()
    }

    pub fn advance(&self, d: Duration) {
        self.running().app.clock.advance(d);
    }

    /// Lets `d` pass: the simulator's clock moves on, and so does the local half of each
    /// installation's stored server-clock anchor (real time would have moved the local
    /// clock too; a frozen test clock does not). seh estimates the server's time from that
    /// anchor until the first answer of a run, and decides token expiry on that estimate.
    pub fn pass_time(&self, d: Duration, installs: &[&Seh]) {
        self.advance(d);
        for s in installs {
            rewind_clock_anchor(&s.db, d);
        }
    }

    /// A new installation with its own directory.
    pub fn seh(&self, cfg: &Cfg) -> Seh {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Seh {
            config: dir.path().join("seh.toml"),
            db: dir.path().join("seh.db"),
            tokens: dir.path().join("seh-tokens.json"),
            dir,
        };
        let mut t = format!("[api]\nbase_url = {:?}\n", self.base_url());
        if cfg.key {
            t += &format!("key = {KEY:?}\n");
        }
        t += &format!(
            "\n[database]\npath = {:?}\n\n[sites]\n{}\n[sync]\ninitial_days = 2\nalerts = \"site\"\n\n\
             [budget]\nmonthly_credits = 1000000\nper_minute = 1000\nmax_history_calls_per_run = 0\n",
            s.db.display().to_string(),
            cfg.sites
        );
        if cfg.oauth {
            t += &format!(
                "\n[oauth]\nclient_id = {CLIENT_ID:?}\nclient_secret = {CLIENT_SECRET:?}\n\
                 authorize_url = \"{}/authorize\"\n{}",
                self.url, cfg.oauth_extra
            );
        }
        std::fs::write(&s.config, t).expect("write config");
        s
    }

    // ----- the simulator's admin side -------------------------------------------------

    pub fn get(&self, path: &str) -> (u16, String, Option<String>) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.url, path)
        };
        let mut r = self
            .agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (status, body, location)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let url = format!("{}{}", self.url, path);
        let mut r = self
            .agent
            .post(&url)
            .content_type("application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }

    /// The simulator's grants (with their tokens: a test tool).
    pub fn sim_grants(&self) -> Vec<Value> {
        let (status, body, _) = self.get("/_sim/oauth/grants");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }

    /// The newest live grant of a site on the simulator.
    pub fn sim_grant(&self, site: i64) -> Value {
        self.sim_grants()
            .into_iter()
            .rev()
            .find(|g| g["site_id"] == site && g["revoked"] == false)
            .unwrap_or_else(|| panic!("no live simulator grant for site {site}"))
    }

    /// Every token the simulator ever showed for its grants, and the client secret.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![CLIENT_SECRET.to_string()];
        for g in self.sim_grants() {
            for k in ["access_token", "refresh_token"] {
                v.push(g[k].as_str().unwrap().to_string());
            }
        }
        v
    }

    /// The browser: GET the consent URL approving `site`, return the redirect's Location.
    pub fn approve(&self, authorize_url: &str, site: i64) -> String {
        let url = format!("{}&sim_site={site}", authorize_url.trim());
        let (status, body, location) = self.get(&url);
        assert_eq!(status, 302, "GET {url}: {body}");
        location.expect("Location")
    }

    // ----- library-level helpers ------------------------------------------------------

    /// A client for the token endpoint (and, with a bearer set, for data calls).
    pub fn token_client(&self) -> Client {
        client(&self.base_url())
    }

    /// A login without the `seh` binary: consent, exchange, store (at the sim's now).
    pub fn login_lib(&self, store: &TokenStore, site: i64) {
        let url =
            seh::oauth::login::authorize_url(&format!("{}/authorize", self.url), CLIENT_ID, "st");
        let loc = self.approve(&url, site);
        let cb = seh::oauth::login::Callback::parse(&loc).unwrap();
        let (code, site) = cb.check(&["st"]).unwrap();
        let mut http = self.token_client();
        let g = token::grant_from_code(&app(), &mut http, &code, site, None, self.now()).unwrap();
        token::store_grant(store, g, None).unwrap();
    }

    /// GET `/sites/{site}` with a bearer token; the status.
    pub fn use_token(&self, client: &mut Client, site: i64, token: &Secret) -> u16 {
        client.set_credential(Credential::Bearer {
            token: token.clone(),
            site_id: site,
        });
        match client.get(&format!("/sites/{site}"), &[]) {
            Ok(f) => f.status,
            Err(seh::api::Error::Unauthorized { .. }) => 401,
            Err(e) => panic!("GET /sites/{site}: {e}"),
        }
    }
}

/// An unthrottled client (the token endpoint sends no rate headers, so the Free-tier
/// default of 10 calls a minute would stay in force).
pub fn client(base: &str) -> Client {
    let mut cc = ClientConfig::new(base, Credential::None);
    cc.per_minute = 1_000_000;
    Client::new(cc, Arc::new(AtomicBool::new(false)))
}

pub fn app() -> App {
    App {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
    }
}

impl Seh {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seh"));
        cmd.arg("--config").arg(&self.config).args(args);
        cmd.current_dir(self.dir.path());
        for k in [
            "SEH_CONFIG",
            "SEH_API_KEY",
            "SEH_API_BASE_URL",
            "SEH_DATABASE",
            "RUST_LOG",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// `seh ARGS` with stdin closed.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        wait_out(cmd.spawn().expect("spawn seh"), args)
    }

    /// `seh ARGS` with stdin and stdout piped, for the login dialogue.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped());
        cmd.spawn().expect("spawn seh")
    }

    /// `seh auth login`, playing the user: read the consent URL from stdout, let the
    /// browser approve `site`, pass the Location through `tamper`, paste it on stdin.
    pub fn login_paste(
        &self,
        env: &Env,
        site: i64,
        tamper: impl Fn(String) -> String,
    ) -> (Out, String) {
        let mut child = self.spawn(&["auth", "login"]);
        let (url, rest) = read_url_line(&mut child);
        let location = tamper(env.approve(&url, site));
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{location}").unwrap();
        drop(stdin);
        (
            wait_out_with(child, &["auth", "login"], Some(rest)),
            location,
        )
    }

    pub fn store(&self) -> TokenStore {
        TokenStore::new(&self.tokens)
    }

    pub fn conn(&self) -> Connection {
        let c = Connection::open_with_flags(&self.db, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        c
    }

    /// Calls in the ledger for a credential label.
    pub fn calls(&self, credential: &str) -> i64 {
        self.conn()
            .query_row(
                "SELECT count(*) FROM seh_api_calls WHERE credential = ?1",
                [credential],
                |r| r.get(0),
            )
            .unwrap()
    }
}

/// The first stdout line that holds a URL (the consent URL seh prints), and a reader of
/// the rest of stdout (for [`wait_out_with`]).
pub fn read_url_line(child: &mut Child) -> (String, std::thread::JoinHandle<String>) {
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "seh ended before printing the consent URL");
        if line.contains("/authorize?") {
            break;
        }
    }
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = reader.read_to_string(&mut s);
        s
    });
    (line.trim().to_string(), rest)
}

/// Asserts that no secret appears in any of the texts.
pub fn assert_no_secrets(texts: &[&str], secrets: &[String]) {
    for t in texts {
        for s in secrets {
            assert!(
                s.len() < 6 || !t.contains(s.as_str()),
                "a secret ({}…) appears in output:\n{t}",
                &s[..4]
            );
        }
    }
}

// ----- database comparison -----------------------------------------------------------

pub fn snapshot(db: &Path, tables: &[&str]) -> BTreeMap<String, Vec<String>> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    tables
        .iter()
        .map(|t| (t.to_string(), dump(&c, t)))
        .collect()
}

/// The simulator's time string as an instant.
pub fn parse_ts(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}
