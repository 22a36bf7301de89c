//! Unit tests of `oauth`: codes, token and refresh-token lifetimes and rotation, revocation,
//! and the error bodies and variants, driven with explicit times and no HTTP.
//! Tests only: nothing here may be reachable from a non-test build.

use super::*;
use chrono::TimeZone;

const ID: &str = "client-1";
const SECRET: &str = "s3cret";
const REDIRECT: &str = "https://localhost/callback";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).unwrap()
}

fn service() -> OAuth {
    let mut o = OAuth::new(7);
    o.register_client(Client::new(ID, SECRET, REDIRECT));
    o
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

fn code_req(code: &str) -> TokenRequest {
    TokenRequest::from_json(&json!({
        "grant_type": "authorization_code", "code": code,
        "client_id": ID, "client_secret": SECRET,
    }))
    .unwrap()
}

fn refresh_req(token: &str) -> TokenRequest {
    TokenRequest::from_json(&json!({
        "grant_type": "refresh_token", "refresh_token": token,
        "client_id": ID, "client_secret": SECRET,
    }))
    .unwrap()
}

/// Consent + exchange; returns the token response.
fn login(o: &mut OAuth, months: u32, now: DateTime<Utc>) -> Value {
    let scopes = parse_scope("SITE_DATA DEVICE_DATA");
    let url = o
        .authorize(ID, 42, &scopes, Some(months), None, None, now)
        .unwrap();
    let code = query_param(&url, "code").unwrap();
    o.token(&code_req(&code), now).unwrap()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_string()
}

#[test]
fn full_code_exchange() {
    let mut o = service();
    let url = o
        .authorize(
            ID,
            42,
            &parse_scope("SITE_DATA DEVICE_DATA"),
            Some(24),
            Some("house a"),
            Some("xyz"),
            t0(),
        )
        .unwrap();
    assert!(url.starts_with("https://localhost/callback?code="), "{url}");
    assert_eq!(query_param(&url, "site_id").as_deref(), Some("42"));
    assert_eq!(
        query_param(&url, "external_id").as_deref(),
        Some("house%20a")
    );
    assert_eq!(query_param(&url, "state").as_deref(), Some("xyz"));
    let code = query_param(&url, "code").unwrap();
    let tok = o.token(&code_req(&code), t0()).unwrap();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 7200);
    let access = s(&tok, "access_token");
    assert!(access.len() >= 22);
    assert!(access
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let g = o.check_bearer(&access, t0()).unwrap();
    assert_eq!(g.site_id, 42);
    assert!(g.has_scope("DEVICE_DATA"));
    assert_eq!(o.grants_json()[0]["last_used"], t0().to_rfc3339());
}

#[test]
fn state_echo_can_be_switched_off() {
    let mut o = service();
    o.set_echo_state(false);
    let url = o
        .authorize(ID, 1, &[], Some(24), None, Some("xyz"), t0())
        .unwrap();
    assert_eq!(query_param(&url, "state"), None);
}

#[test]
fn authorize_validates_input() {
    let mut o = service();
    let err = o
        .authorize("nope", 1, &[], Some(24), None, None, t0())
        .unwrap_err();
    assert_eq!(err.error, "invalid_client");
    let err = o
        .authorize(ID, 1, &parse_scope("ADMIN"), Some(24), None, None, t0())
        .unwrap_err();
    assert_eq!(err.error, "invalid_scope");
    for months in [Some(0), Some(25)] {
        let err = o
            .authorize(ID, 1, &[], months, None, None, t0())
            .unwrap_err();
        assert_eq!(err.error, "invalid_request");
    }
}

#[test]
fn code_reuse_and_expiry_refused() {
    let mut o = service();
    let url = o.authorize(ID, 42, &[], None, None, None, t0()).unwrap();
    let code = query_param(&url, "code").unwrap();
    o.token(&code_req(&code), t0()).unwrap();
    // No access_duration: 24 months; no scope: every permission.
    let g = &o.grants_json()[0];
    assert_eq!(g["ends"], (t0() + Months::new(24)).to_rfc3339());
    assert_eq!(g["scopes"], json!(["SITE_DATA", "DEVICE_DATA"]));
    let err = o.token(&code_req(&code), t0()).unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    assert!(err.description.contains("invalid code"));

    let url = o
        .authorize(ID, 42, &[], Some(24), None, None, t0())
        .unwrap();
    let code = query_param(&url, "code").unwrap();
    let late = t0() + Duration::seconds(CODE_TTL_SECS);
    let err = o.token(&code_req(&code), late).unwrap_err();
    assert!(err.description.contains("invalid code"));
}

#[test]
fn client_and_grant_type_errors() {
    let mut o = service();
    let url = o
        .authorize(ID, 42, &[], Some(24), None, None, t0())
        .unwrap();
    let code = query_param(&url, "code").unwrap();
    let mut req = code_req(&code);
    req.client_secret = Some("wrong".into());
    let err = o.token(&req, t0()).unwrap_err();
    assert_eq!(err.error, "invalid_client");
    assert_eq!(err.status(), 400);
    let cc = TokenRequest::from_form(&[
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), ID.into()),
        ("client_secret".into(), SECRET.into()),
    ]);
    assert_eq!(
        o.token(&cc, t0()).unwrap_err().error,
        "unsupported_grant_type"
    );
    let body = o.token(&cc, t0()).unwrap_err().to_json();
    assert_eq!(body["error"], "unsupported_grant_type");
    assert!(body["error_description"].is_string());
    // Redirect URI mismatch.
    let mut req = code_req(&code);
    req.redirect_uri = Some("https://elsewhere/".into());
    assert_eq!(o.token(&req, t0()).unwrap_err().error, "invalid_grant");
    // Non-string JSON.
    assert!(TokenRequest::from_json(&json!({"grant_type": 1})).is_err());
}

#[test]
fn refresh_rotates_a_thousand_times() {
    let mut o = service();
    let mut now = t0();
    let mut tok = login(&mut o, 24, now);
    for _ in 0..1_000 {
        now += Duration::hours(1);
        let next = o
            .token(&refresh_req(&s(&tok, "refresh_token")), now)
            .unwrap();
        assert_ne!(next["refresh_token"], tok["refresh_token"]);
        tok = next;
    }
    assert_eq!(o.count_refreshes(), 1_000);
    assert!(o.check_bearer(&s(&tok, "access_token"), now).is_ok());
}

#[test]
fn old_refresh_token_refused_after_rotation() {
    let mut o = service();
    let first = login(&mut o, 24, t0());
    let second = o
        .token(&refresh_req(&s(&first, "refresh_token")), t0())
        .unwrap();
    let err = o
        .token(&refresh_req(&s(&first, "refresh_token")), t0())
        .unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    assert!(err.description.contains("invalid refresh_token"));
    // The previous access token died with the rotation; the new one works.
    assert_eq!(
        o.check_bearer(&s(&first, "access_token"), t0()),
        Err(BearerError::Unknown)
    );
    assert!(o.check_bearer(&s(&second, "access_token"), t0()).is_ok());
}

#[test]
fn refresh_idle_limit_is_30_days() {
    let mut o = service();
    let tok = login(&mut o, 24, t0());
    let r = s(&tok, "refresh_token");
    assert!(o.token(&refresh_req(&r), t0() + Duration::days(29)).is_ok());

    let mut o = service();
    let tok = login(&mut o, 24, t0());
    let err = o
        .token(
            &refresh_req(&s(&tok, "refresh_token")),
            t0() + Duration::days(31),
        )
        .unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    assert!(err.description.contains("invalid refresh_token"));
}

#[test]
fn access_token_expires_after_7200_s() {
    let mut o = service();
    let a = s(&login(&mut o, 24, t0()), "access_token");
    assert!(o.check_bearer(&a, t0() + Duration::seconds(7_199)).is_ok());
    assert_eq!(
        o.check_bearer(&a, t0() + Duration::seconds(7_200)),
        Err(BearerError::Expired)
    );
    assert_eq!(
        BearerError::Expired.to_response().status,
        401,
        "bearer errors are 401"
    );
}

#[test]
fn revoke_kills_both_tokens() {
    let mut o = service();
    let tok = login(&mut o, 24, t0());
    assert!(o.revoke(&s(&tok, "refresh_token")));
    assert_eq!(
        o.check_bearer(&s(&tok, "access_token"), t0()),
        Err(BearerError::Revoked)
    );
    let err = o
        .token(&refresh_req(&s(&tok, "refresh_token")), t0())
        .unwrap_err();
    assert!(err.description.contains("invalid refresh_token"));
    assert!(!o.revoke(&s(&tok, "access_token")), "already revoked");
    assert_eq!(o.grants_json()[0]["revoked"], true);
}

#[test]
fn grant_ends_after_access_duration() {
    let mut o = service();
    let mut now = t0();
    let mut tok = login(&mut o, 1, now);
    // Refresh weekly; the grant still ends one month after consent.
    while now + Duration::days(7) < t0() + Months::new(1) {
        now += Duration::days(7);
        tok = o
            .token(&refresh_req(&s(&tok, "refresh_token")), now)
            .unwrap();
    }
    let end = t0() + Months::new(1);
    assert_eq!(
        o.check_bearer(&s(&tok, "access_token"), end),
        Err(BearerError::GrantEnded)
    );
    let err = o
        .token(&refresh_req(&s(&tok, "refresh_token")), end)
        .unwrap_err();
    assert!(err.description.contains("invalid refresh_token"));
}

#[test]
fn tokens_are_deterministic_per_seed() {
    let run = |seed| {
        let mut o = OAuth::new(seed);
        o.register_client(Client::new(ID, SECRET, REDIRECT));
        login(&mut o, 24, t0())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn seed_grant_skips_the_browser() {
    let mut o = service();
    let tok = o
        .seed_grant(ID, 9, &parse_scope("SITE_DATA"), 24, t0())
        .unwrap();
    let g = o.check_bearer(&s(&tok, "access_token"), t0()).unwrap();
    assert_eq!((g.site_id, g.has_scope("DEVICE_DATA")), (9, false));
}

#[test]
fn token_accepts_a_json_or_form_shaped_value() {
    let mut o = service();
    let url = o
        .authorize(ID, 42, &[], Some(24), None, None, t0())
        .unwrap();
    let code = query_param(&url, "code").unwrap();
    let body = json!({"grant_type": "authorization_code", "code": code,
                      "client_id": ID, "client_secret": SECRET});
    assert!(o.token_json(&body, t0()).is_ok());
    let err = o
        .token_json(&json!(["not", "an", "object"]), t0())
        .unwrap_err();
    assert_eq!(err.error, "invalid_request");
    assert_eq!(err.to_response().status, 400);
    assert_eq!(o.stats()["grants"].as_array().unwrap().len(), 1);
    assert_eq!(BearerError::Expired.to_string(), "The access token expired");
}

#[test]
fn variants_of_other_clients() {
    let mut o = service();
    o.set_variants(Variants {
        uniform_bearer: true,
        dead_grant_invalid_request: true,
        invalid_client_status: 401,
    });
    let first = login(&mut o, 24, t0());
    o.token(&refresh_req(&s(&first, "refresh_token")), t0())
        .unwrap();
    // A rotated refresh token: invalid_request, no "invalid refresh_token".
    let err = o
        .token(&refresh_req(&s(&first, "refresh_token")), t0())
        .unwrap_err();
    assert_eq!((err.error, err.status()), ("invalid_request", 400));
    assert!(!err.description.contains("refresh_token"), "{err:?}");
    // A used code likewise.
    let url = o.authorize(ID, 42, &[], None, None, None, t0()).unwrap();
    let code = query_param(&url, "code").unwrap();
    o.token(&code_req(&code), t0()).unwrap();
    let err = o.token(&code_req(&code), t0()).unwrap_err();
    assert_eq!(err.error, "invalid_request");
    assert!(!err.description.contains("invalid code"), "{err:?}");
    // Other errors keep their code; invalid_client is a 401.
    let mut req = refresh_req("whatever");
    req.client_secret = Some("wrong".into());
    let err = o.token(&req, t0()).unwrap_err();
    assert_eq!(
        (err.error, err.to_response().status),
        ("invalid_client", 401)
    );
    let mut req = code_req("c");
    req.grant_type = Some("client_credentials".into());
    assert_eq!(
        o.token(&req, t0()).unwrap_err().error,
        "unsupported_grant_type"
    );
    // Every refused bearer token: the one text.
    for e in [
        BearerError::Unknown,
        BearerError::Expired,
        BearerError::Revoked,
        BearerError::GrantEnded,
    ] {
        let r = o.bearer_response(e);
        assert_eq!(r.status, 401);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"error": "invalid_token", "error_description": UNIFORM_BEARER_DESCRIPTION})
        );
    }
    o.set_variants(Variants::default());
    let v: Value = serde_json::from_slice(&o.bearer_response(BearerError::Expired).body).unwrap();
    assert_eq!(v["error_description"], "The access token expired");
}

#[test]
fn redirect_url_with_existing_query() {
    assert_eq!(
        with_query("https://x/cb?a=1", &[("code", "c d".into())]),
        "https://x/cb?a=1&code=c%20d"
    );
}
