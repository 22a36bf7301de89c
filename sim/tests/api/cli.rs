//! The `seh-sim` binary: first stdout line, flags reaching the options, exit code 2 with
//! a one-line message on bad flags.

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_seh-sim");

/// A running `seh-sim` child, killed on drop.
struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--now",
            "2026-11-26T12:00:00Z",
            "--speed",
            "0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seh-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "{url}");
    Proc { child, url }
}

fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = agent(Some(std::time::Duration::from_secs(10))).get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.call())
}

fn post(url: &str, json: &str) -> Resp {
    read(
        agent(Some(std::time::Duration::from_secs(10)))
            .post(url)
            .header("content-type", "application/json")
            .send(json),
    )
}

#[test]
fn binary_serves_on_a_free_port() {
    let p = spawn(&[]);
    let r = get(&format!("{}/v2/sites", p.url), &[("X-API-Key", KEY)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sites"]["count"], 4);
    let c = get(&format!("{}/_sim/clock", p.url), &[]).json();
    assert_eq!(c["now"], "2026-11-26T12:00:00Z");
    assert_eq!(c["speed"], 0.0);
}

#[test]
fn flags_reach_the_simulator() {
    let p = spawn(&[
        "--api-key",
        "k1",
        "--api-key",
        "k2",
        "--per-minute",
        "3",
        "--sites-shape",
        "bare",
        "--limits",
        "observed",
        "--window",
        "DAY=2d",
        "--fault",
        "*/power=503",
        "--advanced",
        "--rate-limit-body",
        "gateway",
        "--bearer-401",
        "uniform",
        "--invalid-client-status",
        "401",
    ]);
    let sites = get(&format!("{}/v2/sites", p.url), &[("X-API-Key", "k2")]);
    assert_eq!(sites.status, 200);
    assert!(sites.json().is_array());
    assert_eq!(sites.header("x-ratelimit-limit-minute"), Some("3"));
    let r = get(&format!("{}/v2/sites", p.url), &[("X-API-Key", KEY)]);
    assert_eq!(r.status, 401, "the default key is replaced");
    let w = get(&format!("{}/_sim/windows", p.url), &[]).json();
    assert_eq!(w["QUARTER_HOUR"], 7 * 86400);
    assert_eq!(w["DAY"], 2 * 86400);
    let r = get(
        &format!("{}/v2/sites/{BERLIN}/power", p.url),
        &[("X-API-Key", "k1")],
    );
    assert_eq!(r.status, 503);
    let r = get(
        &format!("{}/v2/sites/{BERLIN}/power-flow", p.url),
        &[("X-API-Key", "k1")],
    );
    assert_eq!(r.status, 200);
    let r = get(&format!("{}/v2/sites", p.url), &[("X-API-Key", "k1")]);
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"message":"API rate limit exceeded"}"#);
    let r = get(
        &format!("{}/v2/sites/{BERLIN}", p.url),
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error_description"],
        "The access token is invalid or has expired"
    );
    let r = post(
        &format!("{}/v2/oauth2/token", p.url),
        r#"{"grant_type":"refresh_token","refresh_token":"r","client_id":"x","client_secret":"y"}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, "invalid_client".into())
    );

    let p = spawn(&["--dead-grant-error", "invalid_request"]);
    let r = post(
        &format!("{}/v2/oauth2/token", p.url),
        r#"{"grant_type":"refresh_token","refresh_token":"r","client_id":"sim-client","client_secret":"sim-secret"}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_request".into())
    );
}

#[test]
fn variant_flags_reach_the_simulator() {
    let key = [("X-API-Key", KEY)];
    let w = "from=2026-11-25T08:00:00&to=2026-11-25T12:00:00";
    let p = spawn(&[]);
    let site = get(&format!("{}/v2/sites/{BERLIN}", p.url), &key).json();
    assert_eq!(site["location"]["timezone"], "Europe/Berlin");
    assert_eq!(site["activationStatus"], "ACTIVE");
    let inv = get(
        &format!("{}/v2/sites/{BERLIN}/inverters/telemetry?{w}", p.url),
        &key,
    )
    .json();
    let inv = &inv["inverters"]["7E1A0001-1B"];
    assert_eq!(
        inv["voltage"]["values"][0]["timestamp"],
        "2026-11-25T08:15:00+01:00"
    );
    assert!(inv.get("consumedAcPower").is_none());

    let p = spawn(&[
        "--omit-timezone",
        "--status-case",
        "title",
        "--telemetry-stamp",
        "start",
        "--inverter-consumption",
    ]);
    let site = get(&format!("{}/v2/sites/{BERLIN}", p.url), &key).json();
    assert!(site["location"].get("timezone").is_none(), "{site}");
    assert_eq!(site["activationStatus"], "Active");
    let list = get(&format!("{}/v2/sites", p.url), &key).json();
    assert_eq!(list["sites"]["site"][3]["activationStatus"], "Pending");
    let inv = get(
        &format!("{}/v2/sites/{BERLIN}/inverters/telemetry?{w}", p.url),
        &key,
    )
    .json();
    let inv = &inv["inverters"]["7E1A0001-1B"];
    assert_eq!(
        inv["voltage"]["values"][0]["timestamp"],
        "2026-11-25T08:00:00+01:00"
    );
    assert_eq!(inv["consumedAcPower"]["unit"], "W");
    assert_eq!(inv["consumedAcEnergy"]["unit"], "WH");
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    let cases: [&[&str]; 14] = [
        &["--status-case", "shouting"],
        &["--telemetry-stamp", "middle"],
        &["--limits", "bogus"],
        &["--window", "FORTNIGHT=2d"],
        &["--fault", "/energy"],
        &["--credit-mode", "maybe"],
        &["--billing-day", "31"],
        &["--now", "yesterday"],
        &["--soe-scale", "permille"],
        &["--sites-shape", "round"],
        &["--rate-limit-body", "html"],
        &["--bearer-401", "chatty"],
        &["--dead-grant-error", "invalid_scope"],
        &["--invalid-client-status", "403"],
    ];
    for args in cases {
        let out = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("seh-sim: "), "{err}");
        assert!(
            err.contains(args[1].split('=').next().unwrap()),
            "{args:?}: {err}"
        );
    }
    // A port in use is refused the same way.
    let p = spawn(&[]);
    let addr = p.url.trim_start_matches("http://").to_string();
    let out = Command::new(BIN)
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
}

#[test]
fn print_scenario_and_scenario_file() {
    let out = Command::new(BIN).arg("--print-scenario").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, seh_sim::scenario::DEFAULT_SCENARIO);
    assert!(seh_sim::scenario::Scenario::from_toml(&text).is_ok());

    // A one-site scenario file.
    let dir = std::env::temp_dir().join(format!("seh-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("one.toml");
    std::fs::write(
        &file,
        "[[sites]]\nid = 77\nname = 'Solo'\ntimezone = 'Europe/Vienna'\nlatitude = 48.2\n\
         longitude = 16.4\npeak_kw = 5.0\ninstalled_days_ago = 30\n\n[[sites.inverters]]\n\
         serial = 'INV-1'\nmodel = 'SE5K'\n",
    )
    .unwrap();
    let p = spawn(&["--scenario", file.to_str().unwrap()]);
    let v = get(&format!("{}/v2/sites", p.url), &[("X-API-Key", KEY)]).json();
    assert_eq!(v["sites"]["count"], 1);
    assert_eq!(v["sites"]["site"][0]["siteId"], 77);
    let v = get(&format!("{}/v2/sites/77", p.url), &[("X-API-Key", KEY)]).json();
    assert_eq!(v["location"]["timezone"], "Europe/Vienna");
    // A bad scenario file: exit 2.
    std::fs::write(&file, "[[sites]]\nbogus = 1\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_is_no_panic() {
    for args in [&["--help"][..], &["--print-scenario"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "seh-sim {args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "seh-sim {args:?}: {err}");
    }
}
