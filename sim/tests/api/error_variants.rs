//! The answers other V2 clients saw where the reference tables say otherwise (reference
//! §6.1), each behind its own option: the gateway's plain 429 body, one bearer 401 text for
//! every cause, `invalid_request` for a dead refresh token or a used code, and
//! `invalid_client` as a 401. The defaults are covered by `limits.rs` and `oauth.rs`.

use crate::support::*;
use seh_sim::app::RateLimitBody;
use seh_sim::oauth::{Variants, UNIFORM_BEARER_DESCRIPTION};
use serde_json::{json, Value};

const GATEWAY_BODY: &str = r#"{"message":"API rate limit exceeded"}"#;

fn token(sim: &Sim, body: Value) -> Resp {
    sim.post_json("/v2/oauth2/token", &body)
}

fn refresh_body(refresh_token: &str) -> Value {
    json!({"grant_type": "refresh_token", "refresh_token": refresh_token,
           "client_id": "sim-client", "client_secret": "sim-secret"})
}

fn code_body(code: &str) -> Value {
    json!({"grant_type": "authorization_code", "code": code,
           "client_id": "sim-client", "client_secret": "sim-secret"})
}

fn with_variants(v: Variants) -> Sim {
    let mut o = options();
    o.oauth_variants = v;
    Sim::start(o)
}

/// The gateway body for both 429s: the minute limit keeps `Retry-After` and remaining 0,
/// exhausted credits keep remaining > 0 and no `Retry-After`; the bodies are equal.
#[test]
fn gateway_429_body_for_the_minute_limit_and_the_credits() {
    let mut o = options();
    o.rate_limit_body = RateLimitBody::Gateway;
    o.limits.per_minute = 2;
    o.limits.monthly_credits = 3;
    let sim = Sim::start(o);
    let path = format!("/v2/sites/{BERLIN}");
    for _ in 0..2 {
        assert_eq!(sim.get(&path).status, 200);
    }
    let minute = sim.get(&path);
    assert_eq!(minute.status, 429);
    assert_eq!(minute.header("content-type"), Some("application/json"));
    assert_eq!(minute.text(), GATEWAY_BODY);
    assert_eq!(minute.header("x-ratelimit-remaining-minute"), Some("0"));
    assert_eq!(minute.header("retry-after"), Some("60"));

    sim.advance(chrono::Duration::minutes(1));
    assert_eq!(sim.get(&path).status, 200);
    let credits = sim.get(&path);
    assert_eq!(credits.status, 429);
    assert_eq!(credits.header("content-type"), Some("application/json"));
    assert_eq!(credits.text(), GATEWAY_BODY, "the same body");
    assert_eq!(credits.header("retry-after"), None);
    let remaining: u32 = credits
        .header("x-ratelimit-remaining-minute")
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining > 0);
    let s = sim.stats();
    assert_eq!(
        (s["rate_limited_429"].clone(), s["credits_429"].clone()),
        (json!(1), json!(1))
    );
}

/// The `429` fault (a minute-limit burst) takes the configured body too.
#[test]
fn gateway_429_body_for_the_burst_fault() {
    let mut o = options();
    o.rate_limit_body = RateLimitBody::Gateway;
    o.faults = vec!["*/power=429,times=1".into()];
    let sim = Sim::start(o);
    let r = sim.get(&format!("/v2/sites/{BERLIN}/power"));
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), GATEWAY_BODY);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("0"));
    assert!(r.header("retry-after").is_some());
}

/// Unknown, expired and revoked bearer tokens all answer the one text of §6.1.
#[test]
fn uniform_bearer_401() {
    let sim = with_variants(Variants {
        uniform_bearer: true,
        ..Variants::default()
    });
    let want = json!({"error": "invalid_token", "error_description": UNIFORM_BEARER_DESCRIPTION});
    let path = format!("/v2/sites/{BERLIN}");
    let unknown = sim.bearer(&path, "never-issued");
    let t = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(sim.bearer(&path, &access).status, 200);
    sim.advance(chrono::Duration::hours(3));
    let expired = sim.bearer(&path, &access);
    let t = sim.login(BERLIN, "SITE_DATA");
    let access = t["access_token"].as_str().unwrap().to_string();
    let r = sim.post_json("/v2/oauth2/revoke-token", &json!({"token": access}));
    assert_eq!(r.status, 200);
    let revoked = sim.bearer(&path, &access);
    for r in [unknown, expired, revoked] {
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json(), want);
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.contains(UNIFORM_BEARER_DESCRIPTION)));
    }
}

/// A rotated refresh token and a used code answer 400 `invalid_request`, with descriptions
/// that say neither "invalid refresh_token" nor "invalid code".
#[test]
fn dead_grant_answers_invalid_request() {
    let sim = with_variants(Variants {
        dead_grant_invalid_request: true,
        ..Variants::default()
    });
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let first = token(&sim, code_body(&code));
    assert_eq!(first.status, 200);
    let reused = token(&sim, code_body(&code));
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(token(&sim, refresh_body(&refresh)).status, 200);
    let rotated = token(&sim, refresh_body(&refresh));
    for (r, not) in [(reused, "invalid code"), (rotated, "invalid refresh_token")] {
        assert_eq!(r.status, 400, "{}", r.text());
        let v = r.json();
        assert_eq!(v["error"], "invalid_request", "{v}");
        let d = v["error_description"].as_str().unwrap();
        assert!(!d.contains(not), "{d}");
    }
    // Other errors keep their codes.
    let mut body = refresh_body("x");
    body["grant_type"] = json!("client_credentials");
    assert_eq!(token(&sim, body).json()["error"], "unsupported_grant_type");
}

/// `invalid_client` (a wrong secret or an unknown client id) as a 401; other errors stay
/// 400.
#[test]
fn invalid_client_as_401() {
    let sim = with_variants(Variants {
        invalid_client_status: 401,
        ..Variants::default()
    });
    let mut body = refresh_body("whatever");
    body["client_secret"] = json!("wrong");
    let r = token(&sim, body);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_client");
    let mut body = refresh_body("whatever");
    body["client_id"] = json!("nobody");
    assert_eq!(token(&sim, body).status, 401);
    let r = token(&sim, refresh_body("never-issued"));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_grant"))
    );
}
