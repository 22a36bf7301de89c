//! `kill -9` at random moments while a process refreshes in a loop.
//!
//! The child is this test binary re-run as [`child_refresh_loop`] (it does nothing unless
//! `SEH_OAUTH_CHILD_STORE` is set): it forces a refresh through the same
//! `oauth::token::access_token` that `seh sync` uses (passing the current access token as
//! rejected), then uses the new access token for a data call, as fast as it can. The
//! parent times the first cycle, kills the child with SIGKILL at a seeded random moment
//! within the next two cycles and checks:
//! - the store parses (never partial) and is mode 0600;
//! - either its refresh token is the simulator's current one (the chain is intact), or the
//!   simulator rotated exactly once more and that rotation's access token was never used:
//!   the simulator's `last_used` of the grant is before the rotation (its clock runs at
//!   real speed here, so the two instants can be told apart). That is the one window no
//!   client can close: killed after the server answered and before the rename. The store
//!   is never older than a refresh seh has used.
//!
//! After a lost rotation the test logs in again and carries on.

use crate::harness::*;
use chrono::Duration;
use seh::oauth::store::TokenStore;
use seh::oauth::token::{self, Policy};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const TRIALS: u64 = 40;

#[test]
fn child_refresh_loop() {
    let Ok(path) = std::env::var("SEH_OAUTH_CHILD_STORE") else {
        return;
    };
    let base = std::env::var("SEH_OAUTH_CHILD_BASE").unwrap();
    let site: i64 = std::env::var("SEH_OAUTH_CHILD_SITE")
        .unwrap()
        .parse()
        .unwrap();
    let store = TokenStore::new(path);
    let (mut http, mut data) = (client(&base), client(&base));
    let policy = Policy::new(7);
    println!("ready");
    loop {
        let current = store
            .load()
            .unwrap()
            .grant(site)
            .unwrap()
            .access_token
            .clone();
        let now = chrono::Utc::now();
        let f = token::access_token(
            &store,
            &app(),
            &mut http,
            site,
            now,
            &policy,
            Some(&current),
        )
        .unwrap();
        data.set_credential(seh::api::Credential::Bearer {
            token: f.access_token,
            site_id: site,
        });
        data.get(&format!("/sites/{site}"), &[]).unwrap();
        println!("cycle");
    }
}

#[test]
fn kill_9_during_refreshes_never_loses_a_used_token() {
    let mut opts = sim_options();
    opts.speed = 1.0;
    let env = Env::new(opts);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh-tokens.json");
    let store = TokenStore::new(&path);
    env.login_lib(&store, DENVER);
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(20_261_126);
    let (mut intact, mut lost, mut refreshes) = (0, 0, 0u64);
    for trial in 0..TRIALS {
        let before = env.sim_grant(DENVER)["refreshes"].as_u64().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill::child_refresh_loop",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("SEH_OAUTH_CHILD_STORE", &path)
            .env("SEH_OAUTH_CHILD_BASE", env.base_url())
            .env("SEH_OAUTH_CHILD_SITE", DENVER.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let l = lines.next().expect("child output").unwrap();
            if l.contains("ready") {
                break;
            }
        }
        // Time one refresh-and-use cycle, then kill at a random moment within the next two:
        // the kill lands at any phase of a cycle however fast the machine is (natively a cycle
        // is a few milliseconds, under qemu-user tens).
        let started = std::time::Instant::now();
        let l = lines.next().expect("child output").unwrap();
        assert!(l.contains("cycle"), "unexpected child output {l:?}");
        let cycle = started.elapsed().as_micros() as u64;
        std::thread::sleep(std::time::Duration::from_micros(
            rng.below(2 * cycle.max(1)),
        ));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // A request the child had sent may still be processed by the simulator after the
        // kill (a real server does the same): wait until the simulator is quiet.
        let mut seen = env.sim_grant(DENVER)["refreshes"].as_u64();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(150));
            let now = env.sim_grant(DENVER)["refreshes"].as_u64();
            if now == seen {
                break;
            }
            seen = now;
        }

        let tokens = store
            .load()
            .unwrap_or_else(|e| panic!("trial {trial}: store unreadable after kill -9: {e}"));
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let stored = tokens.grant(DENVER).expect("grant kept");
        assert!(
            stored.dead.is_none(),
            "trial {trial}: {stored:?} sim {}",
            env.sim_grants().len()
        );
        let sim = env.sim_grant(DENVER);
        let sim_refreshes = sim["refreshes"].as_u64().unwrap();
        refreshes += sim_refreshes - before;
        if stored.refresh_token.expose() == sim["refresh_token"].as_str().unwrap() {
            assert_eq!(stored.refreshes, sim_refreshes, "trial {trial}");
            intact += 1;
            continue;
        }
        // The server rotated once more than the store knows; that access token was never
        // used by seh.
        assert_eq!(
            sim_refreshes,
            stored.refreshes + 1,
            "trial {trial}: the store is more than one rotation behind"
        );
        let rotated = parse_ts(&sim["access_expires"]).unwrap() - Duration::seconds(7_200);
        if let Some(used) = parse_ts(&sim["last_used"]) {
            assert!(
                used < rotated,
                "trial {trial}: the lost rotation's access token was used ({used} >= {rotated})"
            );
        }
        lost += 1;
        env.login_lib(&store, DENVER);
    }
    eprintln!(
        "kill -9: {TRIALS} trials, {refreshes} refreshes by the killed processes; chain intact after {intact}, \
         killed inside the server-answered-but-not-yet-renamed window {lost} times (never used)"
    );
    assert_eq!(intact + lost, TRIALS);
    assert!(
        refreshes > TRIALS,
        "the kills should land during refresh loops"
    );
}
