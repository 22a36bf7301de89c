//! The test environment: a temporary directory, an in-process simulator on a frozen
//! virtual clock, a config file pointing at both, a runner for the real `seh` binary, and
//! small helpers to read the database and the simulator's admin endpoints.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::Connection;
use seh_sim::app::SimOptions;
use seh_sim::scenario::Scenario;
use seh_sim::Running;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Longest a single `seh` invocation may take before the test kills it and fails.
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(150);

pub use crate::common::*;

/// Waits for a spawned `seh` (killing it after [`RUN_TIMEOUT`]) and collects its output.
pub fn wait_out(child: Child, args: &[&str]) -> Out {
    wait_out_within(child, args, RUN_TIMEOUT, None)
}

/// Every table whose rows are data (derived from API responses).
pub const DATA_TABLES: [&str; 11] = [
    "seh_sites",
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

/// The fixed start of every simulator: 2026-11-26T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

/// RFC 3339, UTC, whole seconds.
pub fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// Deterministic simulator: fixed start, frozen clock, limits only the limit tests meet.
pub fn sim_options() -> SimOptions {
    let mut o = SimOptions::new(t0());
    o.speed = 0.0;
    o.limits.per_minute = 1_000_000;
    o.limits.monthly_credits = 1_000_000_000;
    o
}

/// What goes into the config file besides base URL, key and database.
#[derive(Clone, Debug)]
pub struct ConfigSpec {
    pub base_url: Option<String>,
    pub key: Option<String>,
    /// Extra lines of `[api]`.
    pub api: String,
    /// Lines of `[sync]`.
    pub sync: String,
    /// Lines of `[budget]`.
    pub budget: String,
}

impl Default for ConfigSpec {
    fn default() -> Self {
        ConfigSpec {
            base_url: None,
            key: Some(KEY.to_string()),
            api: String::new(),
            sync: "initial_days = 3\nsettle_hours = 3\n".to_string(),
            // Credits are no concern here (the limit tests set their own); quarter-hour
            // history before `initial_days` only where a test asks for it.
            budget:
                "monthly_credits = 1000000000\nper_minute = 1000\nmax_history_calls_per_run = 0\n"
                    .to_string(),
        }
    }
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub sim: Option<Running>,
    /// `http://ADDR` of the simulator (the API is under `/v2`).
    pub url: String,
    pub config: PathBuf,
    pub db: PathBuf,
    pub scenario: Scenario,
    /// What the simulator serves of the site facts (its §6.1 variants), for the truth.
    pub omit_timezone: bool,
    pub status_case: seh_sim::app::StatusCase,
    agent: ureq::Agent,
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            sim.shutdown();
        }
    }
}

impl TestEnv {
    /// Default fleet, default simulator options, default config.
    pub fn new() -> TestEnv {
        TestEnv::with(sim_options(), ConfigSpec::default())
    }

    pub fn with(opts: SimOptions, cfg: ConfigSpec) -> TestEnv {
        let scenario = opts.scenario.clone();
        let (omit_timezone, status_case) = (opts.omit_timezone, opts.status_case);
        let sim = seh_sim::start(opts, "127.0.0.1:0").expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let env = TestEnv {
            url: sim.url.clone(),
            sim: Some(sim),
            config: dir.path().join("seh.toml"),
            db: dir.path().join("seh.db"),
            dir,
            scenario,
            omit_timezone,
            status_case,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(std::time::Duration::from_secs(30)))
                .build()
                .into(),
        };
        env.write_config(&cfg);
        env
    }

    pub fn running(&self) -> &Running {
        self.sim.as_ref().expect("simulator running")
    }

    pub fn base_url(&self) -> String {
        self.running().base_url()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_text(&self, cfg: &ConfigSpec) -> String {
        let mut t = String::from("[api]\n");
        let base = cfg.base_url.clone().unwrap_or_else(|| self.base_url());
        t += &format!("base_url = {base:?}\n");
        if let Some(k) = &cfg.key {
            t += &format!("key = {k:?}\n");
        }
        t += &cfg.api;
        t += &format!(
            "\n[database]\npath = {:?}\n\n[sync]\n",
            self.db.display().to_string()
        );
        t += &cfg.sync;
        t += "\n[budget]\n";
        t += &cfg.budget;
        t
    }

    pub fn write_config(&self, cfg: &ConfigSpec) {
        std::fs::write(&self.config, self.config_text(cfg)).expect("write config");
    }

    // ----- running seh --------------------------------------------------------------------

    /// `seh --config <config> ARGS`.
    pub fn seh(&self, args: &[&str]) -> Out {
        self.seh_env(args, &[])
    }

    /// Same, with extra environment variables (e.g. `SEH_DATABASE`).
    pub fn seh_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Out {
        let child = self.spawn_env(args, envs);
        wait_out(child, args)
    }

    /// `seh` with exactly these arguments (no `--config` added).
    pub fn seh_bare(&self, args: &[&str]) -> Out {
        let mut cmd = self.command(args, &[]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        wait_out(cmd.spawn().expect("spawn seh"), args)
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_env(args, &[])
    }

    pub fn spawn_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Child {
        let config = self.config.display().to_string();
        let mut full: Vec<&str> = vec!["--config", &config];
        full.extend_from_slice(args);
        let mut cmd = self.command(&full, envs);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn seh")
    }

    fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seh"));
        cmd.args(args).current_dir(self.dir.path());
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
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// `seh sync` that must end with exit 0.
    pub fn sync_ok(&self) -> Out {
        let out = self.seh(&["sync"]);
        out.expect(0);
        out
    }

    // ----- the simulator ------------------------------------------------------------------

    pub fn now(&self) -> DateTime<Utc> {
        self.running().app.clock.now()
    }

    /// Lets `d` of time pass: the simulator's clock moves on, and so does seh's stored
    /// anchor of the server clock in `dbs` (seh extrapolates the server's time from its
    /// last run with the local clock until the first answer; real time would have moved
    /// the local clock by `d` too, a frozen test clock does not).
    pub fn pass_time(&self, d: Duration, dbs: &[&Path]) {
        self.running().app.clock.advance(d);
        for db in dbs {
            rewind_clock_anchor(db, d);
        }
    }

    pub fn sim_get(&self, path: &str) -> Value {
        let url = format!("{}{}", self.url, path);
        let mut r = self
            .agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(500_000_000)
            .read_to_string()
            .unwrap();
        assert_eq!(status, 200, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
    }

    /// The body the simulator's API gives for `path` (with query) under the fleet key:
    /// what seh would have received for the same request.
    pub fn sim_body(&self, path: &str) -> String {
        let url = format!("{}{}", self.url, path);
        let mut r = self
            .agent
            .get(&url)
            .header("X-API-Key", KEY)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap();
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }

    pub fn sim_post(&self, path: &str, body: &Value) {
        let url = format!("{}{}", self.url, path);
        let mut r = self
            .agent
            .post(&url)
            .content_type("application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 200, "POST {url} {body}: {text}");
    }

    pub fn add_fault(&self, spec: &str) {
        self.sim_post("/_sim/faults", &serde_json::json!({ "spec": spec }));
    }

    pub fn clear_faults(&self) {
        let url = format!("{}/_sim/faults", self.url);
        let r = self.agent.delete(&url).call().expect("DELETE faults");
        assert_eq!(r.status().as_u16(), 200);
    }

    pub fn stats(&self) -> Value {
        self.sim_get("/_sim/stats")
    }

    /// Calls the simulator has answered (admitted or not), from its own accounting.
    pub fn sim_calls(&self) -> u64 {
        self.stats()["total_calls"].as_u64().expect("total_calls")
    }

    /// `GET /_sim/truth` rows; `from`/`to` are RFC 3339 (any offset), as of the sim's now.
    pub fn truth(
        &self,
        site: i64,
        family: &str,
        resolution: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Vec<Value> {
        self.truth_as_of(site, family, resolution, from, to, None)
    }

    /// Like [`TestEnv::truth`], as if read from the API at `as_of` (default: now).
    pub fn truth_as_of(
        &self,
        site: i64,
        family: &str,
        resolution: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        as_of: Option<&str>,
    ) -> Vec<Value> {
        let mut q = format!("/_sim/truth?site={site}&family={family}");
        if let Some(a) = as_of {
            q += &format!("&as_of={}", enc(a));
        }
        if let Some(r) = resolution {
            q += &format!("&resolution={r}");
        }
        if let Some(f) = from {
            q += &format!("&from={}", enc(f));
        }
        if let Some(t) = to {
            q += &format!("&to={}", enc(t));
        }
        let v = self.sim_get(&q);
        v["rows"].as_array().cloned().unwrap_or_default()
    }

    // ----- the database -------------------------------------------------------------------

    pub fn conn(&self) -> Connection {
        open_db(&self.db)
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A canonical query (`k=v&k=v`, nothing encoded) as a URL query string.
pub fn enc_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => format!("{}={}", enc(k), enc(v)),
            None => enc(kv),
        })
        .collect::<Vec<_>>()
        .join("&")
}

// ----- database helpers -------------------------------------------------------------------

pub fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
}

pub fn count_where(c: &Connection, table: &str, cond: &str) -> i64 {
    c.query_row(
        &format!("SELECT count(*) FROM {table} WHERE {cond}"),
        [],
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("count {table} where {cond}: {e}"))
}

pub fn max_id(c: &Connection, table: &str) -> i64 {
    c.query_row(
        &format!("SELECT coalesce(max(id), 0) FROM {table}"),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Non-empty stderr lines that are not log records (`[LEVEL] ...`): the final error line.
pub fn error_lines(out: &Out) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('['))
        .map(str::to_string)
        .collect()
}

pub fn integrity_ok(path: &Path) {
    let c = open_db(path);
    let r: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok", "integrity_check of {}", path.display());
}

/// Every data table of a database, rendered.
pub type Snapshot = BTreeMap<String, Vec<String>>;

pub fn snapshot(path: &Path) -> Snapshot {
    let c = open_db(path);
    DATA_TABLES
        .iter()
        .map(|t| (t.to_string(), dump(&c, t)))
        .collect()
}

/// Checksums (row count, FNV of the rendered rows) per data table.
pub fn checksums(s: &Snapshot) -> BTreeMap<String, (usize, u64)> {
    s.iter()
        .map(|(t, rows)| (t.clone(), (rows.len(), fnv(rows.join("\n").as_bytes()))))
        .collect()
}

/// Asserts two snapshots hold identical rows, naming the table and the first differences.
pub fn assert_same(a: &Snapshot, b: &Snapshot, what: &str) {
    for (table, ra) in a {
        let rb = &b[table];
        if ra == rb {
            continue;
        }
        let only_a: Vec<&String> = ra.iter().filter(|r| rb.binary_search(r).is_err()).collect();
        let only_b: Vec<&String> = rb.iter().filter(|r| ra.binary_search(r).is_err()).collect();
        panic!(
            "{what}: table {table} differs ({} vs {} rows)\nonly in first ({}):\n  {}\nonly in second ({}):\n  {}",
            ra.len(),
            rb.len(),
            only_a.len(),
            only_a.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
            only_b.len(),
            only_b.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        );
    }
}

/// (site, family, resolution) of a cursor or series.
pub type SeriesKey = (i64, String, String);

/// (covered_from, covered_to) per series.
pub type Cursors = BTreeMap<SeriesKey, (Option<String>, Option<String>)>;

/// The cursors of every series in the database.
pub fn cursors(path: &Path) -> Cursors {
    let c = open_db(path);
    let mut st = c
        .prepare("SELECT site_id, family, resolution, covered_from, covered_to FROM seh_sync_state")
        .unwrap();
    st.query_map([], |r| {
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?)))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}
