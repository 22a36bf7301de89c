//! Fault injection (README "Faults"): each kind, set by option (as `--fault` does) and
//! at run time through `/_sim/faults`, with its triggers; faults cost a credit.

use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn with_faults(specs: &[&str]) -> Sim {
    let mut o = options();
    o.faults = specs.iter().map(|s| s.to_string()).collect();
    Sim::start(o)
}

/// A fresh agent per call: no pooled connection, so one call = one connection.
fn call(sim: &Sim, path: &str, timeout: Option<Duration>) -> Result<Resp, ureq::Error> {
    try_read(
        agent(timeout)
            .get(sim.url(path))
            .header("X-API-Key", KEY)
            .call(),
    )
}

fn energy() -> String {
    format!("/v2/sites/{BERLIN}/energy")
}

#[test]
fn gateway_errors_are_html() {
    let sim = with_faults(&[
        "/energy=500,nth=1",
        "/energy=502,nth=2",
        "/energy=503,nth=3",
    ]);
    for status in [500, 502, 503] {
        let r = call(&sim, &energy(), None).unwrap();
        assert_eq!(r.status, status);
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "{status}"
        );
        assert!(r.text().starts_with("<html"), "{}", r.text());
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
        // Still counted by the gateway.
        assert!(r.header("x-ratelimit-remaining-minute").is_some());
    }
    // An empty answer too.
    let sim2 = with_faults(&["/energy=empty"]);
    let r = call(&sim2, &energy(), None).unwrap();
    assert!(r.body.is_empty());
    assert!(r.header("x-ratelimit-remaining-minute").is_some());
    let r = call(&sim, &energy(), None).unwrap();
    assert_eq!(r.status, 200);
    // Every admitted call cost a credit, faulted or not.
    assert_eq!(sim.stats()["credits_used_cycle"], 4);
}

#[test]
fn slow_is_measurably_slower() {
    let sim = with_faults(&["/power=slow:400"]);
    // Warm up: the first data call generates the site's history.
    call(&sim, &energy(), None).unwrap();
    let t = Instant::now();
    let r = call(&sim, &energy(), None).unwrap();
    let base = t.elapsed();
    assert_eq!(r.status, 200);
    let t = Instant::now();
    let r = call(&sim, &format!("/v2/sites/{BERLIN}/power"), None).unwrap();
    let slow = t.elapsed();
    assert_eq!(r.status, 200);
    assert!(r.json()["values"].is_array());
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    assert!(
        slow > base + Duration::from_millis(300),
        "{slow:?} vs {base:?}"
    );
}

const TRANSPORT: [&str; 5] = [
    "/energy=timeout",
    "/power=reset",
    "/overview=truncate",
    "/devices=empty",
    "/alerts=content-type",
];

#[test]
fn timeout_reset_truncate_empty_and_content_type_by_option() {
    transport_faults(&with_faults(&TRANSPORT));
}

#[test]
fn timeout_reset_truncate_empty_and_content_type_at_run_time() {
    let sim = Sim::default();
    for spec in TRANSPORT {
        let r = sim.post_json("/_sim/faults", &json!({ "spec": spec }));
        assert_eq!(r.status, 200, "{spec}: {}", r.text());
    }
    transport_faults(&sim);
}

fn transport_faults(sim: &Sim) {
    // timeout: the server holds the connection; the client gives up.
    let t = Instant::now();
    let e = call(sim, &energy(), Some(Duration::from_millis(500))).unwrap_err();
    assert!(matches!(e, ureq::Error::Timeout(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // reset: the connection closes without an answer.
    let e = call(sim, &format!("/v2/sites/{BERLIN}/power"), None).unwrap_err();
    assert!(!matches!(e, ureq::Error::Timeout(_)), "{e:?}");

    // truncate: a short body (read error) or, if it reads, not the announced length or
    // not JSON. Without gzip the short read is visible as such.
    let plain = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .accept_encoding("identity")
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    for agent in [plain, agent(Some(Duration::from_secs(5)))] {
        let r = agent
            .get(sim.url(&format!("/v2/sites/{BERLIN}/overview")))
            .header("X-API-Key", KEY)
            .call();
        match try_read(r) {
            Err(_) => {}
            Ok(r) => {
                let announced: usize = r.header("content-length").unwrap_or("0").parse().unwrap();
                assert!(
                    r.body.len() < announced
                        || serde_json::from_slice::<serde_json::Value>(&r.body).is_err(),
                    "a truncated body read whole: {}",
                    r.text()
                );
            }
        }
    }

    // empty: 200 with no body at all.
    let r = call(sim, &format!("/v2/sites/{BERLIN}/devices"), None).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));

    // content-type: the right JSON body labelled text/html.
    let r = call(sim, &format!("/v2/sites/{BERLIN}/alerts"), None).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.json().is_array());

    // Every faulted call was admitted and cost a credit (the first truncate read may
    // have been retried by neither agent: count at least the five kinds).
    let used = sim.stats()["credits_used_cycle"].as_u64().unwrap();
    assert!(used >= 6, "{used}");
}

#[test]
fn burst_429_looks_like_the_minute_limit() {
    let sim = with_faults(&["*/power=429,times=1"]);
    let r = call(&sim, &format!("/v2/sites/{BERLIN}/power"), None).unwrap();
    r.problem(429);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("0"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let r = call(&sim, &format!("/v2/sites/{BERLIN}/power"), None).unwrap();
    assert_eq!(r.status, 200);
    // The burst cost a credit, unlike a real minute-limit 429.
    assert_eq!(sim.stats()["credits_used_cycle"], 2);
}

#[test]
fn nth_every_times_and_globs() {
    let sim = with_faults(&["/v2/sites/*/energy=503,nth=2", "/power=500,times=2"]);
    let statuses: Vec<u16> = (0..4)
        .map(|_| call(&sim, &energy(), None).unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 503, 200, 200]);
    let power = format!("/v2/sites/{BERLIN}/power");
    let statuses: Vec<u16> = (0..4)
        .map(|_| call(&sim, &power, None).unwrap().status)
        .collect();
    assert_eq!(statuses, [500, 500, 200, 200]);
    // The glob matches the whole path: another site's energy counts, power-flow does not.
    assert_eq!(
        call(&sim, &format!("/v2/sites/{SYDNEY}/energy"), None)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        call(&sim, &format!("/v2/sites/{BERLIN}/energy/x"), None)
            .unwrap()
            .status,
        404
    );
    let list = sim.get_h("/_sim/faults", &[]).json();
    assert_eq!(list[0]["matched"], 5);
    assert_eq!(list[0]["fired"], 1);
    assert_eq!(list[1]["fired"], 2);
    assert_eq!(list[1]["exhausted"], true);

    let sim = with_faults(&["/energy=502,every=3"]);
    let statuses: Vec<u16> = (0..6)
        .map(|_| call(&sim, &energy(), None).unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 200, 502, 200, 200, 502]);
}

#[test]
fn faults_at_run_time() {
    let sim = Sim::default();
    let r = sim.post_json("/_sim/faults", &json!({"spec": "/energy=503,times=1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["id"].is_u64());
    let r = sim.post_json(
        "/_sim/faults",
        &json!({"pattern": "/power", "kind": 502, "nth": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let list = sim.get_h("/_sim/faults", &[]).json();
    assert_eq!(arr(&list).len(), 2);
    assert_eq!(list[0]["spec"], "/energy=503,times=1");
    assert_eq!(call(&sim, &energy(), None).unwrap().status, 503);
    assert_eq!(call(&sim, &energy(), None).unwrap().status, 200);
    assert_eq!(
        call(&sim, &format!("/v2/sites/{BERLIN}/power"), None)
            .unwrap()
            .status,
        502
    );
    // Bad specs say why.
    let r = sim.post_json("/_sim/faults", &json!({"spec": "/energy=boom"}));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("boom"));
    // Clear.
    let r = sim.delete("/_sim/faults");
    assert_eq!(r.status, 200);
    assert_eq!(sim.get_h("/_sim/faults", &[]).json(), json!([]));
    let sim2 = with_faults(&["*=reset"]);
    sim2.delete("/_sim/faults");
    assert_eq!(call(&sim2, &energy(), None).unwrap().status, 200);

    // A bad spec in the options refuses to start.
    let mut o = options();
    o.faults = vec!["/energy".into()];
    let err = seh_sim::start(o, "127.0.0.1:0").err().expect("refused");
    assert!(err.contains("/energy"), "{err}");
}

#[test]
fn faults_never_hit_unauthenticated_or_admin_calls() {
    let sim = with_faults(&["*=503"]);
    // Auth is checked before faults: a missing key is still a 401.
    sim.get_h("/v2/sites", &[]).problem(401);
    // V1 paths answer 410 before anything else.
    assert_eq!(sim.get_h("/site/1/overview?api_key=x", &[]).status, 410);
    // Admin calls are not faulted.
    assert_eq!(sim.get_h("/_sim/stats", &[]).status, 200);
    assert_eq!(sim.get("/v2/sites").status, 503);
}
