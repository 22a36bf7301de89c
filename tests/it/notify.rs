//! Notifications (issue 15) end to end: the real `seh` against the simulator, a real SMTP
//! server (Debian's python3-aiosmtpd, STARTTLS with a throwaway CA made by openssl, AUTH
//! required) and a webhook receiver on 127.0.0.1. Events are provoked through the
//! simulator (a rejected key, its alerts, its clock) across several runs: each is told
//! once, reminded once after the interval, resolved once; a dead mail server costs no data
//! and leaves the exit code alone, and the message arrives with the next run.

use crate::common::webhook::Receiver;
use crate::harness::*;
use chrono::Duration;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SMTP_USER: &str = "owner@example.org";
const SMTP_PASSWORD: &str = "smtp-PASSWORD-never-shown";
const HOOK_TOKEN: &str = "hook-TOKEN-never-shown";

/// The `[notify]` lines of a webhook to `r` with a secret header and topic.
fn webhook_section(url: &str) -> String {
    format!(
        "\n[[notify.webhook]]\nurl = \"{url}/hook?token={HOOK_TOKEN}\"\ntopic = \"solar\"\n\
         headers = {{ Authorization = \"Bearer {HOOK_TOKEN}\" }}\n"
    )
}

/// A fleet whose first site raises an alert about every two days (each open for up to
/// five), the others none.
fn alerting_sim() -> seh_sim::app::SimOptions {
    let mut o = sim_options();
    for (i, s) in o.scenario.sites.iter_mut().enumerate() {
        s.alert_every_days = if i == 0 { 2 } else { 0 };
    }
    o
}

/// A fleet without alerts, so the events are only the ones a test provokes.
fn quiet_sim() -> seh_sim::app::SimOptions {
    let mut o = sim_options();
    for s in &mut o.scenario.sites {
        s.alert_every_days = 0;
    }
    o
}

fn write_config(env: &TestEnv, key: &str, notify: &str) {
    let cfg = ConfigSpec {
        key: Some(key.to_string()),
        ..ConfigSpec::default()
    };
    let text = env.config_text(&cfg) + "\n[notify]\nremind_hours = 24\n" + notify;
    std::fs::write(&env.config, text).unwrap();
}

fn no_secret(out: &Out) {
    for s in [SMTP_PASSWORD, HOOK_TOKEN] {
        assert!(!out.all().contains(s), "a secret in the output\n{out}");
    }
}

#[test]
fn a_rejected_key_is_told_once_reminded_once_and_resolved_once() {
    let env = TestEnv::with(quiet_sim(), ConfigSpec::default());
    let hook = Receiver::start();
    write_config(&env, "WRONG-KEY", &webhook_section(&hook.url));

    let out = env.seh(&["sync"]);
    out.expect(2);
    no_secret(&out);
    assert_eq!(hook.titles(), ["seh: SolarEdge rejects the API key"]);
    let first = &hook.got()[0];
    assert_eq!(first.body["topic"], "solar");
    assert_eq!(first.body["priority"], 4);
    assert!(
        first.body["message"]
            .as_str()
            .unwrap()
            .contains("Fix: create a new key"),
        "{first:?}"
    );
    assert!(first
        .headers
        .contains(&("authorization".into(), format!("Bearer {HOOK_TOKEN}"))));

    // The next runs within the reminder interval tell nothing new.
    env.seh(&["sync"]).expect(2);
    env.pass_time(Duration::hours(12), &[&env.db]);
    env.seh(&["sync"]).expect(2);
    assert_eq!(hook.got().len(), 1, "{:?}", hook.titles());
    let status = env.seh(&["notify", "status"]);
    status.expect(0);
    no_secret(&status);
    assert!(
        status
            .stdout
            .contains("SolarEdge rejects the API key  since")
            && status.stdout.contains("delivered"),
        "{status}"
    );

    // A day after it was told, one reminder; then quiet again.
    env.pass_time(Duration::hours(13), &[&env.db]);
    env.seh(&["sync"]).expect(2);
    env.seh(&["sync"]).expect(2);
    assert_eq!(
        hook.titles(),
        [
            "seh: SolarEdge rejects the API key",
            "seh: still open: SolarEdge rejects the API key"
        ]
    );

    // The right key: the harvest works, the event is resolved once.
    write_config(&env, KEY, &webhook_section(&hook.url));
    env.sync_ok();
    env.sync_ok();
    let titles = hook.titles();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert_eq!(titles[2], "seh: resolved: SolarEdge rejects the API key");
    assert_eq!(hook.got()[2].body["priority"], 3);
    let status = env.seh(&["notify", "status"]);
    assert!(status.stdout.contains("no open events"), "{status}");
}

#[test]
fn solaredge_alerts_are_told_with_their_impact_and_resolved_when_closed() {
    let env = TestEnv::with(alerting_sim(), ConfigSpec::default());
    let hook = Receiver::start();
    write_config(&env, KEY, &webhook_section(&hook.url));
    env.sync_ok();
    let db = open_db(&env.db);
    let open = strings(
        &db,
        "SELECT alert_id || ' ' || impact FROM seh_alerts WHERE status <> 'CLOSED' ORDER BY 1",
    );
    drop(db);
    assert!(!open.is_empty(), "the simulator has open alerts at t0");
    let got = hook.got();
    assert_eq!(got.len(), 1, "one message for every event of the run");
    let text = got[0].body["message"].as_str().unwrap().to_string();
    for a in &open {
        let (id, impact) = a.split_once(' ').unwrap();
        assert!(
            text.contains(&format!("SolarEdge raised alert {id} "))
                && text.contains(&format!("impact {impact}")),
            "alert {a} in the message\n{text}"
        );
    }
    // Ten days later the simulator has closed those alerts (and raised others).
    env.pass_time(Duration::days(10), &[&env.db]);
    env.sync_ok();
    let got = hook.got();
    assert_eq!(got.len(), 2, "{:?}", hook.titles());
    let text = got[1].body["message"].as_str().unwrap();
    let db = open_db(&env.db);
    for a in &open {
        let id = a.split_once(' ').unwrap().0;
        let status = strings(
            &db,
            &format!("SELECT status FROM seh_alerts WHERE alert_id = {id}"),
        );
        if status == ["CLOSED"] {
            assert!(
                text.contains(&format!("RESOLVED: SolarEdge alert {id} on")),
                "closed alert {id} resolved\n{text}"
            );
        }
    }
}

// ----- SMTP ------------------------------------------------------------------------------

/// aiosmtpd on 127.0.0.1 with STARTTLS (a throwaway CA signs its certificate) and AUTH.
struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
    ca: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl; .ci/run installs it)");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=seh test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

impl Smtp {
    /// Starts the server on `port` with certificates from `dir`.
    fn start(dir: &Path, port: u16) -> Smtp {
        let script = dir.join("smtp_server.py");
        std::fs::write(&script, include_str!("smtp_server.py")).unwrap();
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).unwrap();
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(&out)
            .arg(SMTP_USER)
            .arg(SMTP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // aiosmtpd logs a deprecation of its own on every login; a failed start
            // shows as the missing "ready" line.
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (Debian python3-aiosmtpd; .ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Smtp {
            child,
            port,
            out,
            ca: dir.join("ca.pem"),
        }
    }

    /// The messages received, oldest first.
    fn mails(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

fn email_section(env: &TestEnv, port: u16, ca: &Path) -> String {
    let pw = env.path("smtp-password");
    std::fs::write(&pw, format!("{SMTP_PASSWORD}\n")).unwrap();
    format!(
        "\n[[notify.email]]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\n\
         user = \"{SMTP_USER}\"\npassword_file = {:?}\nfrom = \"seh <seh@example.org>\"\n\
         to = [\"{SMTP_USER}\"]\nca_file = {:?}\n",
        pw.display().to_string(),
        ca.display().to_string()
    )
}

#[test]
fn mail_goes_through_starttls_and_auth_with_proper_headers() {
    let env = TestEnv::with(quiet_sim(), ConfigSpec::default());
    certificates(env.dir.path());
    let smtp = Smtp::start(env.dir.path(), free_port());
    write_config(&env, "WRONG-KEY", &email_section(&env, smtp.port, &smtp.ca));

    let out = env.seh(&["notify", "test"]);
    out.expect(0);
    no_secret(&out);
    assert!(out.stdout.starts_with("sent    email 127.0.0.1:"), "{out}");
    let out = env.seh(&["sync"]);
    out.expect(2);
    no_secret(&out);
    env.seh(&["sync"]).expect(2);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "the test message and one about the key");
    let mail = &mails[1];
    for header in [
        "From: seh <seh@example.org>",
        "To: owner@example.org",
        "Subject: seh: SolarEdge rejects the API key",
        "Content-Type: text/plain; charset=utf-8",
        "Date: Thu, 26 Nov 2026 12:",
        "Message-ID: <",
    ] {
        assert!(mail.contains(header), "{header}\n{mail}");
    }
    assert!(mail.contains(".seh@example.org>"), "{mail}");
    assert!(!mail.contains(SMTP_PASSWORD));

    // A wrong password: the run's exit code is unchanged, a warning names the channel.
    std::fs::write(env.path("smtp-password"), "wrong\n").unwrap();
    write_config(
        &env,
        KEY,
        &email_section(&env, smtp.port, &smtp.ca).replace(SMTP_PASSWORD, "x"),
    );
    std::fs::write(env.path("smtp-password"), "wrong\n").unwrap();
    let out = env.seh(&["sync"]);
    out.expect(0);
    assert!(
        out.stderr
            .contains("notification not delivered through email 127.0.0.1"),
        "{out}"
    );
    assert_eq!(smtp.mails().len(), 2);
}

#[test]
fn a_dead_mail_server_costs_no_data_and_the_message_comes_later() {
    let env = TestEnv::with(alerting_sim(), ConfigSpec::default());
    certificates(env.dir.path());
    let port = free_port();
    write_config(&env, KEY, &email_section(&env, port, &env.path("ca.pem")));
    // Nothing listens on the port: all data, exit 0, a warning, the events kept.
    let out = env.sync_ok();
    no_secret(&out);
    assert!(
        out.stderr
            .contains("notification not delivered through email 127.0.0.1")
            && out.stderr.contains("the next run tries again"),
        "{out}"
    );
    let db = open_db(&env.db);
    assert!(count(&db, "seh_energy") > 0 && count(&db, "seh_alerts") > 0);
    let open: i64 = db
        .query_row(
            "SELECT count(*) FROM seh_alerts WHERE status <> 'CLOSED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    let status = env.seh(&["notify", "status"]);
    no_secret(&status);
    assert!(status.stdout.contains("NOT delivered"), "{status}");
    assert_eq!(
        status.stdout.matches("not told yet").count() as i64,
        open,
        "every open alert waits\n{status}"
    );

    // The server is back: the next run delivers them, in one message.
    let smtp = Smtp::start(env.dir.path(), port);
    env.sync_ok();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].matches("PROBLEM: SolarEdge alert ").count() as i64,
        open
    );
    let status = env.seh(&["notify", "status"]);
    assert!(!status.stdout.contains("not told yet"), "{status}");
}

/// The first site's inverter died four hours before the start (Berlin, 08:00 UTC on a
/// November day: the sun was up since about 07:00).
fn silent_sim() -> seh_sim::app::SimOptions {
    let mut o = quiet_sim();
    o.scenario.sites[0].silent_after_hours = Some(-4);
    o
}

#[test]
fn a_site_that_stops_reporting_is_stale_then_offline() {
    let env = TestEnv::with(silent_sim(), ConfigSpec::default());
    let site = env.scenario.sites[0].id;
    let hook = Receiver::start();
    write_config(&env, KEY, &webhook_section(&hook.url));
    env.sync_ok();
    let titles = hook.titles();
    assert_eq!(titles.len(), 1, "{titles:?}");
    assert!(
        titles[0].starts_with(&format!("seh: site {site} ("))
            && titles[0].contains("sends no production since"),
        "{titles:?}"
    );
    env.sync_ok();
    assert_eq!(hook.got().len(), 1);

    // A day later the daily details show how long it has been silent.
    env.pass_time(Duration::hours(25), &[&env.db]);
    env.sync_ok();
    let got = hook.got();
    assert_eq!(got.len(), 2, "{:?}", hook.titles());
    let text = got[1].body["message"].as_str().unwrap();
    assert!(
        text.contains("STILL OPEN: site") && text.contains("sends no production"),
        "{text}"
    );
    assert!(
        text.contains(&format!("PROBLEM: site {site} ("))
            && text.contains("has not reported for 29 hours"),
        "{text}"
    );
}

/// The free space is read from the database's real file system: a threshold above it
/// opens the event, one below resolves it.
#[test]
fn a_nearly_full_disk_is_told_and_resolved() {
    let env = TestEnv::with(quiet_sim(), ConfigSpec::default());
    let hook = Receiver::start();
    let hook_lines = webhook_section(&hook.url);
    write_config(
        &env,
        KEY,
        &format!("disk_free_mb = 1000000000\n{hook_lines}"),
    );
    env.sync_ok();
    let titles = hook.titles();
    assert_eq!(titles.len(), 1, "{titles:?}");
    assert!(
        titles[0].starts_with("seh: database disk nearly full: "),
        "{titles:?}"
    );
    write_config(&env, KEY, &format!("disk_free_mb = 1\n{hook_lines}"));
    env.sync_ok();
    assert_eq!(
        hook.titles()[1],
        titles[0].replace("seh: ", "seh: resolved: ")
    );
}

/// Credits run out (the simulator's hard limit): told once with the reset date, kept open
/// through the runs that make no call while blocked, resolved once after the renewal.
#[test]
fn exhausted_credits_are_told_until_the_renewal() {
    let env = TestEnv::with(quiet_sim(), ConfigSpec::default());
    let hook = Receiver::start();
    write_config(&env, KEY, &webhook_section(&hook.url));
    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 40, "credit_mode": "hard"}),
    );
    env.seh(&["sync"]).expect(5);
    let titles = hook.titles();
    assert_eq!(titles, ["seh: SolarEdge API credits exhausted"]);
    let text = hook.got()[0].body["message"].as_str().unwrap().to_string();
    assert!(
        text.contains("until 2026-12-01 00:00 UTC (5 days)"),
        "{text}"
    );
    // Blocked: the next runs make no call and report nothing new; the event stays open.
    env.pass_time(Duration::hours(1), &[&env.db]);
    env.seh(&["sync"]).expect(5);
    assert_eq!(hook.got().len(), 1, "{:?}", hook.titles());

    env.sim_post(
        "/_sim/limits",
        &serde_json::json!({"monthly_credits": 1_000_000_000u64}),
    );
    let renewal = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 0, 0, 0).unwrap();
    env.pass_time(renewal - env.now() + Duration::hours(1), &[&env.db]);
    env.sync_ok();
    assert_eq!(
        hook.titles(),
        [
            "seh: SolarEdge API credits exhausted",
            "seh: resolved: SolarEdge API credits exhausted"
        ]
    );
}
