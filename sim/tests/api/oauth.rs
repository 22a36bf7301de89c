//! OAuth Site Access (reference §4.2–§4.4): consent, callback, code exchange, rotation,
//! expiry, scopes, the site of a grant, revocation and token-endpoint errors.

use crate::support::*;
use chrono::Duration;
use serde_json::{json, Value};

fn token_body(grant: &str, extra: &[(&str, &str)]) -> Value {
    let mut v =
        json!({"grant_type": grant, "client_id": "sim-client", "client_secret": "sim-secret"});
    for (k, val) in extra {
        v[*k] = json!(val);
    }
    v
}

fn refresh(sim: &Sim, refresh_token: &str) -> Resp {
    sim.post_json(
        "/v2/oauth2/token",
        &token_body("refresh_token", &[("refresh_token", refresh_token)]),
    )
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

fn oauth_error(r: &Resp, error: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string());
}

#[test]
fn consent_page_and_callback() {
    let sim = Sim::default();
    let r = sim.get_h(
        "/authorize?client_id=sim-client&scope=SITE_DATA%20DEVICE_DATA&access_duration=24&state=st4te&external_id=ext-1",
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = r.text();
    for id in [BERLIN, SYDNEY, DENVER, LISBON] {
        assert!(html.contains(&id.to_string()), "{id} on the consent page");
    }
    // Following the first link approves that site.
    let href = html
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let href = href.replace("&amp;", "&");
    let r = sim.get_h(&href, &[]);
    assert_eq!(r.status, 302, "{}", r.text());
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("https://localhost/callback?"), "{loc}");
    assert_eq!(query_param(loc, "site_id").as_deref(), Some("2150001"));
    assert_eq!(query_param(loc, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(loc, "external_id").as_deref(), Some("ext-1"));
    assert!(query_param(loc, "code").unwrap().len() >= 20);

    // `sim_site` approves directly; Connect always redirects to the registered URL, even
    // when the client passes another redirect_uri.
    let loc = sim.authorize(&format!(
        "client_id=sim-client&scope=SITE_DATA&state=a%20b&external_id=x&sim_site={SYDNEY}&redirect_uri={}",
        q("https://evil.example/cb")
    ));
    assert!(loc.starts_with("https://localhost/callback?"), "{loc}");
    assert_eq!(query_param(&loc, "site_id").as_deref(), Some("3150002"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("a b"));
    assert_eq!(query_param(&loc, "external_id").as_deref(), Some("x"));

    // An unknown client is refused.
    let r = sim.get_h(
        &format!("/authorize?client_id=nobody&sim_site={BERLIN}"),
        &[],
    );
    assert_eq!(r.status, 400);
    // The consent page calls cost no credit.
    assert_eq!(sim.stats()["credits_used_cycle"], 0);
}

#[test]
fn auto_approve_and_no_state_echo() {
    let mut o = options();
    o.oauth_auto_approve = Some(DENVER);
    o.oauth_echo_state = false;
    let sim = Sim::start(o);
    let loc = sim.authorize("client_id=sim-client&state=xyz");
    assert_eq!(query_param(&loc, "site_id").as_deref(), Some("4150003"));
    assert!(query_param(&loc, "state").is_none(), "{loc}");
    assert!(query_param(&loc, "external_id").is_none(), "{loc}");
}

#[test]
fn code_exchange_json_and_form_and_single_use() {
    let sim = Sim::default();
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let r = sim.post_json(
        "/v2/oauth2/token",
        &token_body("authorization_code", &[("code", &code)]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let t = r.json();
    let mut k: Vec<&String> = t.as_object().unwrap().keys().collect();
    k.sort();
    assert_eq!(
        k,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 7200);
    assert_ne!(t["access_token"], t["refresh_token"]);
    // The token works.
    let r = sim.bearer(&format!("/v2/sites/{BERLIN}"), &s(&t, "access_token"));
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-remaining-minute").is_some());

    // Reuse: invalid_grant.
    let r = sim.post_json(
        "/v2/oauth2/token",
        &token_body("authorization_code", &[("code", &code)]),
    );
    oauth_error(&r, "invalid_grant");

    // Form encoding is accepted too.
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let r = sim.post_form(
        "/v2/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_type"], "Bearer");

    // A code lives 10 virtual minutes.
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    sim.advance(Duration::minutes(11));
    let r = sim.post_json(
        "/v2/oauth2/token",
        &token_body("authorization_code", &[("code", &code)]),
    );
    oauth_error(&r, "invalid_grant");

    // A redirect_uri other than the registered one is refused; the registered one is fine.
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let r = sim.post_json(
        "/v2/oauth2/token",
        &token_body(
            "authorization_code",
            &[("code", &code), ("redirect_uri", "https://x/cb")],
        ),
    );
    assert_eq!(r.status, 400);
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let r = sim.post_json(
        "/v2/oauth2/token",
        &token_body(
            "authorization_code",
            &[
                ("code", &code),
                ("redirect_uri", "https://localhost/callback"),
            ],
        ),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn token_endpoint_errors() {
    let sim = Sim::default();
    let loc = sim.authorize(&format!("client_id=sim-client&sim_site={BERLIN}"));
    let code = query_param(&loc, "code").unwrap();
    let mut body = token_body("authorization_code", &[("code", &code)]);
    body["client_secret"] = json!("wrong");
    oauth_error(&sim.post_json("/v2/oauth2/token", &body), "invalid_client");
    let mut body = token_body("authorization_code", &[("code", &code)]);
    body["client_id"] = json!("nobody");
    oauth_error(&sim.post_json("/v2/oauth2/token", &body), "invalid_client");
    oauth_error(
        &sim.post_json("/v2/oauth2/token", &token_body("client_credentials", &[])),
        "unsupported_grant_type",
    );
    oauth_error(&refresh(&sim, "never-issued"), "invalid_grant");
    assert!(refresh(&sim, "never-issued").json()["error_description"]
        .as_str()
        .unwrap()
        .contains("invalid refresh_token"));
    // The token endpoint is POST only; it costs no credit.
    let r = sim.get_h("/v2/oauth2/token", &[]);
    assert_eq!(r.status, 405);
    assert_eq!(sim.stats()["credits_used_cycle"], 0);
}

#[test]
fn refresh_rotates_a_thousand_times_and_old_tokens_die_at_once() {
    let sim = Sim::default();
    let first = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    let mut current = first.clone();
    let mut seen = std::collections::HashSet::new();
    for i in 0..1000 {
        let r = refresh(&sim, &s(&current, "refresh_token"));
        assert_eq!(r.status, 200, "refresh {i}: {}", r.text());
        let next = r.json();
        assert_eq!(next["expires_in"], 7200);
        assert_ne!(next["refresh_token"], current["refresh_token"]);
        assert!(
            seen.insert(s(&next, "refresh_token")),
            "refresh tokens never repeat"
        );
        if i == 0 {
            // The old refresh token died at once.
            oauth_error(
                &refresh(&sim, &s(&current, "refresh_token")),
                "invalid_grant",
            );
        }
        current = next;
        sim.advance(Duration::minutes(30));
    }
    // After 1,000 rotations (and 500 virtual hours) the newest pair works.
    let r = sim.bearer(&format!("/v2/sites/{BERLIN}"), &s(&current, "access_token"));
    assert_eq!(r.status, 200, "{}", r.text());
    // The first pair is long dead.
    let r = sim.bearer(&format!("/v2/sites/{BERLIN}"), &s(&first, "access_token"));
    assert_eq!(r.status, 401);
    oauth_error(&refresh(&sim, &s(&first, "refresh_token")), "invalid_grant");
    assert_eq!(sim.stats()["oauth"]["refreshes"], 1000);
    let grants = sim.get_h("/_sim/oauth/grants", &[]).json();
    assert_eq!(grants[0]["refreshes"], 1000);
    assert_eq!(grants[0]["refresh_token"], current["refresh_token"]);
}

#[test]
fn access_token_expires_after_7200_virtual_seconds() {
    let sim = Sim::default();
    let t = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    let access = s(&t, "access_token");
    let path = format!("/v2/sites/{BERLIN}");
    sim.advance(Duration::seconds(7199));
    assert_eq!(sim.bearer(&path, &access).status, 200);
    sim.advance(Duration::seconds(1));
    let r = sim.bearer(&path, &access);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_token");
    assert!(
        r.header("x-ratelimit-limit-minute").is_none(),
        "refused before admission"
    );
    // A garbage token, too.
    let r = sim.bearer(&path, "garbage");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_token");
    // Refreshing brings it back.
    let t = refresh(&sim, &s(&t, "refresh_token")).json();
    assert_eq!(sim.bearer(&path, &s(&t, "access_token")).status, 200);
}

#[test]
fn refresh_token_dies_after_30_idle_days() {
    let sim = Sim::default();
    let t = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    sim.advance(Duration::days(29));
    let r = refresh(&sim, &s(&t, "refresh_token"));
    assert_eq!(r.status, 200, "29 idle days: {}", r.text());
    let t = r.json();
    sim.advance(Duration::days(31));
    let r = refresh(&sim, &s(&t, "refresh_token"));
    oauth_error(&r, "invalid_grant");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("invalid refresh_token"));
}

#[test]
fn grant_ends_after_access_duration() {
    let sim = Sim::default();
    let loc = sim.authorize(&format!(
        "client_id=sim-client&sim_site={BERLIN}&access_duration=1"
    ));
    let code = query_param(&loc, "code").unwrap();
    let mut t = sim
        .post_json(
            "/v2/oauth2/token",
            &token_body("authorization_code", &[("code", &code)]),
        )
        .json();
    // Keep refreshing weekly: a month later the grant has ended anyway.
    for _ in 0..4 {
        sim.advance(Duration::days(7));
        let r = refresh(&sim, &s(&t, "refresh_token"));
        assert_eq!(r.status, 200);
        t = r.json();
    }
    sim.advance(Duration::days(4));
    oauth_error(&refresh(&sim, &s(&t, "refresh_token")), "invalid_grant");
    // access_duration is at most 24 months.
    let r = sim.get_h(
        &format!("/authorize?client_id=sim-client&sim_site={BERLIN}&access_duration=25"),
        &[],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn scope_and_site_of_a_grant() {
    let sim = Sim::default();
    let t = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    let a = s(&t, "access_token");
    // Fleet operations refuse OAuth.
    for path in ["/v2/sites", "/v2/alerts"] {
        sim.bearer(path, &a).problem(403);
    }
    // Another site: 403 with the documented wording.
    let v = sim.bearer(&format!("/v2/sites/{SYDNEY}"), &a).problem(403);
    assert_eq!(v["detail"], "site OAuth grant doesn't include this site");
    sim.bearer(&format!("/v2/sites/{SYDNEY}/energy"), &a)
        .problem(403);
    // Its own site: everything, telemetry included.
    for op in [
        "",
        "/overview",
        "/energy",
        "/power",
        "/environmental-benefits",
        "/devices",
        "/alerts",
        "/inverters/telemetry",
        "/meters/telemetry",
        "/storage/telemetry",
        "/meters/5118719/import-energy",
    ] {
        let r = sim.bearer(&format!("/v2/sites/{BERLIN}{op}"), &a);
        assert_eq!(r.status, 200, "{op}: {}", r.text());
    }

    // A grant without DEVICE_DATA: site data yes, telemetry no.
    let t = sim.login(DENVER, "SITE_DATA");
    let a = s(&t, "access_token");
    assert_eq!(sim.bearer(&format!("/v2/sites/{DENVER}"), &a).status, 200);
    assert_eq!(
        sim.bearer(&format!("/v2/sites/{DENVER}/energy"), &a).status,
        200
    );
    for op in [
        "/inverters/telemetry",
        "/meters/telemetry",
        "/storage/telemetry",
        "/inverters/7E3C0004-4E/power",
    ] {
        let v = sim
            .bearer(&format!("/v2/sites/{DENVER}{op}"), &a)
            .problem(403);
        assert!(
            v["detail"].as_str().unwrap().contains("DEVICE_DATA"),
            "{op}: {v}"
        );
    }
    // A key still works next to OAuth.
    assert_eq!(sim.get(&format!("/v2/sites/{SYDNEY}")).status, 200);
}

#[test]
fn revoke_kills_both_tokens() {
    let sim = Sim::default();
    let t = sim.login(BERLIN, "SITE_DATA DEVICE_DATA");
    let path = format!("/v2/sites/{BERLIN}");
    assert_eq!(sim.bearer(&path, &s(&t, "access_token")).status, 200);
    let r = sim.post_json(
        "/v2/oauth2/revoke-token",
        &json!({"token": s(&t, "refresh_token")}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = sim.bearer(&path, &s(&t, "access_token"));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_token");
    oauth_error(&refresh(&sim, &s(&t, "refresh_token")), "invalid_grant");
    // Revoking by access token works as well; an unknown token is still 200 (RFC 7009).
    let t = sim.login(BERLIN, "SITE_DATA");
    let r = sim.post_json(
        "/v2/oauth2/revoke-token",
        &json!({"token": s(&t, "access_token")}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(sim.bearer(&path, &s(&t, "access_token")).status, 401);
    oauth_error(&refresh(&sim, &s(&t, "refresh_token")), "invalid_grant");
    let r = sim.post_json("/v2/oauth2/revoke-token", &json!({"token": "unknown"}));
    assert_eq!(r.status, 200);
    let grants = sim.get_h("/_sim/oauth/grants", &[]).json();
    assert!(arr(&grants).iter().all(|g| g["revoked"] == true));
}
