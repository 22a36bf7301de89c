//! The OAuth answers other V2 clients saw (reference §6.1), each played by the simulator
//! behind its flag: one bearer 401 text for every cause, `invalid_request` instead of
//! `invalid_grant` for a dead refresh token or a used code, and `invalid_client` as a 400
//! or a 401. seh must decide by status and the `error` field, never by a description: a
//! dead refresh token means `seh auth login` (exit 6) whichever code says so, a wrong
//! client secret is a configuration error (exit 2) naming the setting.

use crate::harness::*;
use chrono::Duration;
use seh_sim::oauth::Variants;

/// Simulator options with these OAuth variants.
fn options(v: Variants) -> seh_sim::app::SimOptions {
    let mut o = sim_options();
    o.oauth_variants = v;
    o
}

/// Makes the refresh token of `site` dead on the simulator (and its access token with it).
fn revoke(env: &Env, site: i64) {
    let refresh = env.sim_grant(site)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = env.post(
        "/v2/oauth2/revoke-token",
        &serde_json::json!({ "token": refresh }),
    );
    assert_eq!(status, 200);
}

fn assert_dead(out: &Out, site: i64) {
    out.expect(6);
    assert!(
        out.stderr
            .contains(&format!("OAuth grant of site {site} is dead"))
            && out.stderr.contains("seh auth login"),
        "{out}"
    );
}

/// A dead refresh token leads to "run `seh auth login`" (exit 6, the grant marked dead)
/// whether the token endpoint says `invalid_grant` or `invalid_request`.
#[test]
fn a_dead_refresh_token_is_a_dead_grant_whichever_code() {
    for invalid_request in [false, true] {
        let env = Env::new(options(Variants {
            dead_grant_invalid_request: invalid_request,
            ..Variants::default()
        }));
        let o = env.seh(&Cfg::default());
        o.login_paste(&env, DENVER, |l| l).0.expect(0);
        o.run(&["sync"]).expect(0);
        revoke(&env, DENVER);
        env.pass_time(Duration::hours(3), &[&o]); // the access token is due for a refresh
        let out = o.run(&["sync"]);
        assert_dead(&out, DENVER);
        let status = o.run(&["auth", "status"]);
        status.expect(6);
        assert!(status.stdout.contains("DEAD"), "{status}");
        // Remembered: the next run says so again.
        assert_dead(&o.run(&["sync"]), DENVER);
        assert_no_secrets(&[&out.all(), &status.all()], &env.secrets());
    }
}

/// The uniform bearer 401 ("invalid or has expired" for every cause): a token the server
/// rejects while seh believes it valid is refreshed once and the run succeeds; once the
/// grant is revoked, the 401 and the `invalid_request` refresh answer end in exit 6.
#[test]
fn the_uniform_bearer_401_is_refreshed_once_then_the_dead_grant_is_named() {
    let env = Env::new(options(Variants {
        uniform_bearer: true,
        dead_grant_invalid_request: true,
        ..Variants::default()
    }));
    let o = env.seh(&Cfg::default());
    o.login_paste(&env, DENVER, |l| l).0.expect(0);
    o.run(&["sync"]).expect(0);
    // The server is 3 h on (the 2 h token has expired); seh thinks 1 h passed.
    env.advance(Duration::hours(3));
    rewind_clock_anchor(&o.db, Duration::hours(1));
    let out = o.run(&["sync"]);
    out.expect(0);
    assert!(out.stderr.contains("refreshing it once"), "{out}");
    assert_eq!(env.sim_grant(DENVER)["refreshes"], 1);

    // Revoked: the access token seh holds is rejected with the same text, the refresh
    // that follows answers invalid_request.
    revoke(&env, DENVER);
    env.pass_time(Duration::minutes(30), &[&o]); // fresh data is due, the token looks valid
    let out = o.run(&["sync"]);
    assert_dead(&out, DENVER);
    let unauthorized: i64 = o
        .conn()
        .query_row(
            "SELECT count(*) FROM seh_api_calls WHERE status = 401",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unauthorized, 2, "one 401 per run\n{out}");
    assert_no_secrets(&[&out.all()], &env.secrets());
}

/// A code somebody else already exchanged is refused with the "codes are single use"
/// advice (exit 2) whether the server says `invalid_grant` or `invalid_request`.
#[test]
fn a_used_code_is_refused_whichever_code() {
    for invalid_request in [false, true] {
        let env = Env::new(options(Variants {
            dead_grant_invalid_request: invalid_request,
            ..Variants::default()
        }));
        let o = env.seh(&Cfg::default());
        let (out, location) = o.login_paste(&env, DENVER, |l| {
            let code = l.split("code=").nth(1).unwrap().split('&').next().unwrap();
            let (status, _) = env.post(
                "/v2/oauth2/token",
                &serde_json::json!({"grant_type": "authorization_code", "code": code,
                                    "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
            );
            assert_eq!(status, 200, "the code is used before seh sees it");
            l
        });
        out.expect(2);
        assert!(
            out.stderr.contains("single use") && out.stderr.contains("seh auth login"),
            "{out}"
        );
        assert!(o.store().load().unwrap().grants.is_empty());
        let code = location.split("code=").nth(1).unwrap().split('&').next();
        let mut secrets = env.secrets();
        secrets.extend(code.map(str::to_string));
        assert_no_secrets(&[&out.all()], &secrets);
    }
}

/// A wrong client secret is a configuration error naming the setting (exit 2), whether the
/// token endpoint answers `invalid_client` with 400 or 401: on login, on a refresh during
/// a sync and in `seh check`. The grant is not marked dead (fixing the config heals it),
/// and the secret appears nowhere.
#[test]
fn a_wrong_client_secret_is_a_configuration_error() {
    const WRONG: &str = "wrong-client-secret-5f3a";
    for status in [400, 401] {
        let env = Env::new(options(Variants {
            invalid_client_status: status,
            ..Variants::default()
        }));
        let o = env.seh(&Cfg::default());
        o.login_paste(&env, DENVER, |l| l).0.expect(0);
        o.run(&["sync"]).expect(0);
        let good = std::fs::read_to_string(&o.config).unwrap();
        let wrong = good.replace(
            &format!("client_secret = {CLIENT_SECRET:?}"),
            &format!("client_secret = {WRONG:?}"),
        );
        assert_ne!(good, wrong);
        std::fs::write(&o.config, wrong).unwrap();

        let (login, _) = o.login_paste(&env, BERLIN, |l| l);
        env.pass_time(Duration::hours(3), &[&o]); // the access token is due for a refresh
        let sync = o.run(&["sync"]);
        let check = o.run(&["check"]);
        for out in [&login, &sync, &check] {
            out.expect(2);
            assert!(
                out.stderr.contains("client_id and client_secret"),
                "{status}: {out}"
            );
            assert!(!out.all().contains(WRONG), "{out}");
            assert!(!out.stderr.contains("is dead"), "{out}");
        }
        assert_no_secrets(&[&login.all(), &sync.all(), &check.all()], &env.secrets());
        assert!(o.store().load().unwrap().grants[0].dead.is_none());

        std::fs::write(&o.config, good).unwrap();
        o.run(&["sync"]).expect(0);
    }
}
