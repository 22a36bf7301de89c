//! Issue 5, OAuth Site Access, against `seh-sim`'s OAuth: logins (pasted URL, loopback
//! listener, two-step), harvesting with grants only, the refresh chain, idle expiry, dead
//! and wrong-site grants, single-flight refreshes, and `kill -9` during refreshes.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod kill;
// Notifications of grants, through a webhook receiver.
mod notify;
mod variants;

use chrono::Duration;
use harness::*;
use seh::api::Secret;
use seh::oauth::token::{self, Policy, Why};

/// Login by pasted URL for two sites, `auth status`, then a harvest with the grants only
/// leaves the same data as a Fleet-key harvest of the same sites. Nothing secret is ever
/// printed, the store is private, and bearer runs never call fleet-only endpoints.
#[test]
fn pasted_login_and_oauth_harvest_equal_fleet_harvest() {
    let mut opts = sim_options();
    opts.advanced = true; // power flow answers, so its table is compared too
    let env = Env::new(opts);
    let o = env.seh(&Cfg::default());
    let mut outputs = Vec::new();
    let mut codes = Vec::new();
    for site in [BERLIN, SYDNEY] {
        let (out, location) = o.login_paste(&env, site, |l| l);
        out.expect(0);
        assert!(
            out.stdout.contains(&format!("logged in: site {site}")),
            "{out}"
        );
        codes.push(
            location
                .split("code=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_string(),
        );
        outputs.push(out.all());
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&o.tokens).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token store mode");
    }
    let status = o.run(&["auth", "status"]);
    status.expect(0);
    for site in [BERLIN, SYDNEY] {
        assert!(status.stdout.contains(&format!("site {site}")), "{status}");
    }
    assert!(
        status.stdout.contains("SITE_DATA DEVICE_DATA")
            && status.stdout.contains("would expire unused in 29 days"),
        "{status}"
    );
    let json = o.run(&["auth", "status", "--json"]);
    json.expect(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["grants"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["grants"][0]["days_until_idle_expiry"], 29,
        "{}",
        json.stdout
    );

    let sync = o.run(&["-v", "-v", "sync"]);
    sync.expect(0);

    let f = env.seh(&Cfg {
        key: true,
        oauth: false,
        sites: format!("include = [{BERLIN}, {SYDNEY}]\n"),
        ..Cfg::default()
    });
    f.run(&["sync"]).expect(0);

    let a = snapshot(&o.db, &GRANT_TABLES);
    let b = snapshot(&f.db, &GRANT_TABLES);
    for t in GRANT_TABLES {
        assert_eq!(a[t].len(), b[t].len(), "{t}: rows with grants vs Fleet key");
        assert!(a[t] == b[t], "{t} differs");
    }
    let rows: usize = a.values().map(Vec::len).sum();
    assert!(
        a["seh_energy"].len() > 100 && a["seh_storage_telemetry"].len() > 10,
        "{rows}"
    );

    // Bearer runs made no fleet call and no refused call.
    let c = o.conn();
    let fleet: i64 = c
        .query_row(
            "SELECT count(*) FROM seh_api_calls WHERE path IN ('/sites', '/alerts') OR status IN (401, 403)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let refused: Vec<String> = strings(&c, "SELECT method || ' ' || path || ' ' || status || ' ' || coalesce(error, '') FROM seh_api_calls WHERE path IN ('/sites', '/alerts') OR status IN (401, 403)");
    assert_eq!(fleet, 0, "{refused:?}");
    assert!(o.calls(&format!("oauth:site{BERLIN}")) > 5);
    assert!(o.calls(&format!("oauth:site{SYDNEY}")) > 5);

    outputs.push(status.all());
    outputs.push(json.all());
    outputs.push(sync.all());
    let mut secrets = env.secrets();
    secrets.extend(codes);
    let texts: Vec<&str> = outputs.iter().map(String::as_str).collect();
    assert_no_secrets(&texts, &secrets);
}

/// `--listen`: seh catches the redirect itself; the test's browser follows the Location.
#[test]
fn loopback_listener_login() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = sim_options();
    opts.oauth_clients = vec![seh_sim::oauth::Client::new(
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("http://127.0.0.1:{port}/callback"),
    )];
    opts.oauth_auto_approve = Some(DENVER);
    let env = Env::new(opts);
    let o = env.seh(&Cfg::default());
    let addr = format!("127.0.0.1:{port}");
    let mut child = o.spawn(&["auth", "login", "--listen", &addr]);
    let (url, rest) = read_url_line(&mut child);
    let (status, _, location) = env.get(&url);
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("http://{addr}/callback?code=")),
        "{location}"
    );
    // A stray request first: answered 404, the wait goes on.
    let (status, _, _) = env.get(&format!("http://{addr}/favicon.ico"));
    assert_eq!(status, 404);
    let (status, page, _) = env.get(&location);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("site {DENVER}")), "{page}");
    let out = wait_out_with(child, &["auth", "login", "--listen"], Some(rest));
    out.expect(0);
    let tokens = o.store().load().unwrap();
    assert_eq!(tokens.grants.len(), 1);
    assert_eq!(tokens.grants[0].site_id, DENVER);
    assert!(tokens.pending.is_empty(), "the login's state is consumed");
    assert_eq!(
        tokens.grants[0].refresh_token.expose(),
        env.sim_grant(DENVER)["refresh_token"].as_str().unwrap()
    );
    o.run(&["sync"]).expect(0);
    assert_no_secrets(&[&out.all(), &page], &env.secrets());
}

/// A redirect URL whose `state` is not ours is refused (pasted or given later); the
/// two-step login (print now, `--redirect-url` later) works with a state we issued.
#[test]
fn wrong_state_is_refused_and_two_step_login_works() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    let (out, _) = o.login_paste(&env, DENVER, |l| {
        l.replace("state=", "state=evil")
            .replace("external_id=", "external_id=evil")
    });
    out.expect(2);
    assert!(out.stderr.contains("state does not belong"), "{out}");
    assert!(o.store().load().unwrap().grants.is_empty());

    // Step one prints the URL and keeps the state; step two finishes.
    let mut child = o.spawn(&["auth", "login"]);
    let (url, rest) = read_url_line(&mut child);
    drop(child.stdin.take());
    let first = wait_out_with(child, &["auth", "login"], Some(rest));
    first.expect(0);
    assert!(first.stderr.contains("--redirect-url"), "{first}");
    let location = env.approve(&url, DENVER);
    let forged = location
        .replace("state=", "state=x")
        .replace("external_id=", "external_id=x");
    let out = o.run(&["auth", "login", "--redirect-url", &forged]);
    out.expect(2);
    assert!(out.stderr.contains("state does not belong"), "{out}");
    let out = o.run(&["auth", "login", "--redirect-url", &location]);
    out.expect(0);
    assert_eq!(o.store().load().unwrap().grants[0].site_id, DENVER);
    // The code is single use.
    let again = o.run(&["auth", "login", "--redirect-url", &location]);
    assert_ne!(again.code, 0, "{again}");
    assert!(
        again.stderr.contains("single use") || again.stderr.contains("state"),
        "{again}"
    );
}

/// A grant for site A stored for site B (a redirect whose site_id was changed) is reported
/// clearly on sync, with exit 6. Logout revokes and deletes.
#[test]
fn grant_for_another_site_is_reported_and_logout_revokes() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    let (out, _) = o.login_paste(&env, DENVER, |l| {
        l.replace(&format!("site_id={DENVER}"), &format!("site_id={SYDNEY}"))
    });
    out.expect(0);
    let sync = o.run(&["sync"]);
    sync.expect(6);
    assert!(
        sync.stderr
            .contains(&format!("grant stored for site {SYDNEY} does not cover it"))
            && sync.stderr.contains("seh auth login"),
        "{sync}"
    );
    let out = o.run(&["auth", "logout", &SYDNEY.to_string()]);
    out.expect(0);
    assert!(out.stdout.contains("revoked at SolarEdge"), "{out}");
    assert!(env.sim_grants()[0]["revoked"] == true);
    assert!(o.store().load().unwrap().grants.is_empty());
    o.run(&["auth", "logout", &SYDNEY.to_string()]).expect(2);
}

/// Idle 29 days, then a run: the grant is refreshed and kept. Idle 31 days: the run names
/// the site and `seh auth login`, exits 6, and `auth status` shows the grant dead.
#[test]
fn idle_29_days_keeps_the_grant_31_days_kills_it() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);

    env.pass_time(Duration::days(29), &[&o]);
    let out = o.run(&["sync"]);
    out.expect(0);
    let g = env.sim_grant(DENVER);
    assert_eq!(g["refreshes"], 1, "{g}");
    let stored = o.store().load().unwrap();
    assert_eq!(
        stored.grants[0].refresh_token.expose(),
        g["refresh_token"].as_str().unwrap()
    );

    env.pass_time(Duration::days(31), &[&o]);
    let out = o.run(&["sync"]);
    out.expect(6);
    assert!(
        out.stderr
            .contains(&format!("OAuth grant of site {DENVER} is dead"))
            && out.stderr.contains("seh auth login"),
        "{out}"
    );
    let status = o.run(&["auth", "status"]);
    status.expect(6);
    assert!(status.stdout.contains("DEAD"), "{status}");
    // Dead is remembered: the next run says so again without retrying the token.
    let out = o.run(&["sync"]);
    out.expect(6);
    assert!(out.stderr.contains("is dead"), "{out}");
}

/// The server rejects an access token seh believes valid (its clock estimate is behind):
/// the token is refreshed once, the harvest is retried, and nothing is lost.
#[test]
fn rejected_access_token_is_refreshed_once() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);
    // The server is 3 h on (the 2 h token has expired); seh thinks 1 h passed.
    env.advance(Duration::hours(3));
    rewind_clock_anchor(&o.db, Duration::hours(1));
    let out = o.run(&["sync"]);
    out.expect(0);
    assert!(out.stderr.contains("refreshing it once"), "{out}");
    let unauthorized: i64 = o
        .conn()
        .query_row(
            "SELECT count(*) FROM seh_api_calls WHERE status = 401",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unauthorized, 1);
    let g = env.sim_grant(DENVER);
    assert_eq!(g["refreshes"], 1);
    assert_eq!(
        o.store().load().unwrap().grants[0].refresh_token.expose(),
        g["refresh_token"].as_str().unwrap()
    );
    let before = o.calls(&format!("oauth:site{DENVER}"));
    env.pass_time(Duration::hours(1), &[&o]);
    o.run(&["sync"]).expect(0);
    assert!(o.calls(&format!("oauth:site{DENVER}")) > before);
    let ok: i64 = o
        .conn()
        .query_row(
            "SELECT count(*) FROM seh_api_calls WHERE status = 401",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ok, 1, "the refreshed token is accepted");
}

/// A revoked grant is one site's problem: exit 6 naming it, the other grant is harvested.
#[test]
fn dead_grant_does_not_stop_the_other_sites() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.login_paste(&env, SYDNEY, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);
    let refresh = env.sim_grant(DENVER)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = env.post(
        "/v2/oauth2/revoke-token",
        &serde_json::json!({ "token": refresh }),
    );
    assert_eq!(status, 200);
    env.pass_time(Duration::hours(3), &[&o]);
    let before = o.calls(&format!("oauth:site{SYDNEY}"));
    let out = o.run(&["sync"]);
    out.expect(6);
    assert!(
        out.stderr.contains(&format!("site {DENVER}")) && out.stderr.contains("seh auth login"),
        "{out}"
    );
    assert!(!out.stderr.contains(&format!("site {SYDNEY}:")), "{out}");
    assert!(
        o.calls(&format!("oauth:site{SYDNEY}")) > before,
        "Sydney harvested"
    );
}

/// Keep-alive: a run that does not harvest a granted site still refreshes its grant once
/// it is idle for `refresh_idle_days` (7), and not before.
#[test]
fn idle_grants_are_kept_alive_by_any_run() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg {
        key: true,
        ..Cfg::default()
    });
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    let only_sydney = ["sync", "--sites", "3150002", "--only", "details"];
    o.run(&only_sydney).expect(0);
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 0);
    env.pass_time(Duration::days(8), &[&o]);
    o.run(&only_sydney).expect(0);
    assert_eq!(
        env.sim_grant(DENVER)["refreshes"],
        1,
        "refreshed after 8 idle days"
    );
    env.pass_time(Duration::days(6), &[&o]);
    o.run(&only_sydney).expect(0);
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 1, "6 days: not yet");
    env.pass_time(Duration::days(2), &[&o]);
    o.run(&only_sydney).expect(0);
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 2);
    assert_eq!(
        o.store().load().unwrap().grants[0].refresh_token.expose(),
        env.sim_grant(DENVER)["refresh_token"].as_str().unwrap()
    );
}

/// 1,000 refreshes on the virtual clock (access tokens expire between uses): every
/// refreshed token works and the chain never breaks.
#[test]
fn a_thousand_refreshes_keep_the_chain() {
    let env = Env::new(sim_options());
    let dir = tempfile::tempdir().unwrap();
    let store = seh::oauth::store::TokenStore::new(dir.path().join("t.json"));
    env.login_lib(&store, DENVER);
    let mut http = env.token_client();
    let mut data = env.token_client();
    let policy = Policy::new(7);
    let started = std::time::Instant::now();
    const N: u64 = 1_000;
    for i in 0..N {
        env.advance(Duration::seconds(7_201));
        let f = token::access_token(&store, &app(), &mut http, DENVER, env.now(), &policy, None)
            .unwrap_or_else(|e| panic!("refresh {i}: {e}"));
        assert_eq!(f.refreshed, Some(Why::Expiring));
        assert_eq!(env.use_token(&mut data, DENVER, &f.access_token), 200);
    }
    let g = env.sim_grant(DENVER);
    let stored = store.load().unwrap();
    assert_eq!(g["refreshes"], N);
    assert_eq!(stored.grants[0].refreshes, N);
    assert_eq!(
        stored.grants[0].refresh_token.expose(),
        g["refresh_token"].as_str().unwrap()
    );
    eprintln!("{N} refreshes in {:.1} s", started.elapsed().as_secs_f64());
}

/// Several refreshers at once (separate lock-file handles, as separate processes have):
/// exactly one refresh happens, everyone gets its result; a 401'd token is refreshed once.
#[test]
fn concurrent_refreshes_are_single_flight() {
    let env = Env::new(sim_options());
    let dir = tempfile::tempdir().unwrap();
    let store = seh::oauth::store::TokenStore::new(dir.path().join("t.json"));
    env.login_lib(&store, DENVER);
    env.advance(Duration::seconds(7_300));
    let now = env.now();
    let base = env.base_url();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let base = base.clone();
            std::thread::spawn(move || {
                let mut http = client(&base);
                token::access_token(
                    &store,
                    &app(),
                    &mut http,
                    DENVER,
                    now,
                    &Policy::new(7),
                    None,
                )
                .unwrap()
            })
        })
        .collect();
    let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 1);
    assert_eq!(got.iter().filter(|f| f.refreshed.is_some()).count(), 1);
    assert!(got.iter().all(|f| f.access_token == got[0].access_token));

    // 401 path: the rejected token is refreshed once; a stale rejection reuses the new one.
    let mut http = env.token_client();
    let old = got[0].access_token.clone();
    let p = Policy::new(7);
    let f = token::access_token(&store, &app(), &mut http, DENVER, now, &p, Some(&old)).unwrap();
    assert_eq!(f.refreshed, Some(Why::Rejected));
    let g = token::access_token(&store, &app(), &mut http, DENVER, now, &p, Some(&old)).unwrap();
    assert_eq!(
        (g.refreshed, g.access_token.clone()),
        (None, f.access_token.clone())
    );
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 2);
    assert_ne!(f.access_token, Secret::new(""));
}

/// An installer's Fleet key and a homeowner's grants in one config. The key's account has
/// every site but Denver. Denver is harvested with its grant only; Berlin, which the key
/// reads too, with the key only (its grant is merely kept alive). No call is refused, no
/// site is harvested twice, every run ends 0.
#[test]
fn fleet_key_and_grants_each_harvest_their_own_sites() {
    let mut opts = sim_options();
    opts.key_sites = Some(vec![BERLIN, SYDNEY, 5_150_004]);
    opts.advanced = true; // power flow answers too: any refused call would be a mistake
    let env = Env::new(opts);
    let s = env.seh(&Cfg {
        key: true,
        ..Cfg::default()
    });
    for site in [DENVER, BERLIN] {
        s.login_paste(&env, site, |l| l).0.expect(0);
    }
    for _ in 0..3 {
        s.run(&["sync"]).expect(0);
        env.pass_time(Duration::hours(3), &[&s]);
    }
    let c = s.conn();
    let one = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let refused: Vec<String> = strings(
        &c,
        "SELECT credential || ' ' || path || ' ' || status FROM seh_api_calls WHERE status >= 400",
    );
    assert!(refused.is_empty(), "refused calls: {refused:?}");
    assert_eq!(
        one(&format!("SELECT count(*) FROM seh_api_calls WHERE credential = 'key' AND path LIKE '/sites/{DENVER}%'")),
        0,
        "the key never asks for Denver"
    );
    assert!(s.calls(&format!("oauth:site{DENVER}")) > 5);
    assert_eq!(
        s.calls(&format!("oauth:site{BERLIN}")),
        0,
        "Berlin is harvested once, with the key"
    );
    for site in [BERLIN, SYDNEY, DENVER] {
        assert!(
            one(&format!(
                "SELECT count(*) FROM seh_energy WHERE site_id = {site}"
            )) > 100,
            "site {site} harvested"
        );
    }
}

/// `seh check` without a Fleet key proves every grant with one call to its site, writes no
/// database, and names the site and `seh auth login` once a grant has died (exit 6).
#[test]
fn check_proves_each_grant() {
    let env = Env::new(sim_options());
    let o = env.seh(&Cfg::default());
    for site in [DENVER, BERLIN] {
        o.login_paste(&env, site, |l| l).0.expect(0);
    }
    let out = o.run(&["check"]);
    out.expect(0);
    for site in [DENVER, BERLIN] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&site.to_string()) && l.contains("OAuth grant works")),
            "{out}"
        );
    }
    assert!(!o.db.exists(), "check creates no database");
    env.pass_time(Duration::days(31), &[]);
    let out = o.run(&["check"]);
    out.expect(6);
    assert!(
        out.stderr.contains(&format!("site {DENVER}")) && out.stderr.contains("seh auth login"),
        "{out}"
    );
    assert!(!o.db.exists(), "check creates no database");
    assert_no_secrets(&[&out.all()], &env.secrets());
}

/// The token store's disk is full when an access token is due for renewal: seh finds out
/// before it asks SolarEdge to rotate the refresh token (exit 4, one line naming the token
/// store), so the grant survives; with room again the next run refreshes and harvests.
#[test]
fn a_full_disk_stops_a_refresh_before_the_token_rotates() {
    let env = Env::new(sim_options());
    let probe = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(probe.path().join("small"), "256k") else {
        eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
        return;
    };
    let tokens = disk.dir.join("seh-tokens.json");
    let o = env.seh(&Cfg {
        oauth_extra: format!("token_store = {:?}\n", tokens.display().to_string()),
        ..Cfg::default()
    });
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);
    let before = env.sim_grant(DENVER);

    let filler = disk.fill();
    env.pass_time(Duration::hours(3), &[&o]); // the 2 h access token has expired
    let out = o.run(&["sync"]);
    out.expect(4);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("token store") && l.contains("No space left"))
        .collect();
    assert_eq!(lines.len(), 1, "one line explains it\n{out}");
    let after = env.sim_grant(DENVER);
    assert_eq!(
        after["refresh_token"], before["refresh_token"],
        "the server did not rotate the refresh token"
    );
    assert_eq!(after["refreshes"], before["refreshes"]);
    let stored = seh::oauth::store::TokenStore::new(&tokens).load().unwrap();
    assert_eq!(
        stored.grants[0].refresh_token.expose(),
        before["refresh_token"].as_str().unwrap()
    );

    std::fs::remove_file(filler).unwrap();
    o.run(&["sync"]).expect(0);
    let g = env.sim_grant(DENVER);
    assert_eq!(
        g["refreshes"].as_u64(),
        before["refreshes"].as_u64().map(|n| n + 1)
    );
    assert_eq!(
        seh::oauth::store::TokenStore::new(&tokens)
            .load()
            .unwrap()
            .grants[0]
            .refresh_token
            .expose(),
        g["refresh_token"].as_str().unwrap()
    );
}
