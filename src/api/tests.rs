//! Client tests against a tiny in-test HTTP server (`TcpListener` on 127.0.0.1:0) that
//! answers canned responses in order, or misbehaves on purpose (closes without answering,
//! stays silent), and records the raw requests. Retry delays are set to milliseconds; the
//! only real wait is the 1 s `Retry-After` test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::client::{secs_to_minute_boundary, secs_to_next_minute};
use super::error::{classify, may_have_reached_server, parse_retry_after, Raw, Verdict};
use super::*;

const KEY: &str = "k3y-SECRET-abcdef123456";
const ACCOUNT_KEY: &str = "acc0unt-SECRET-987654";

struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn canned(status: u16, headers: &[(&'static str, &str)], body: &str) -> Canned {
    Canned {
        status,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.to_string(),
    }
}

fn json200(body: &str) -> Canned {
    canned(200, &[("Content-Type", "application/json")], body)
}

fn problem(status: u16, detail: &str) -> Canned {
    let body = format!(
        r#"{{"type":"https://example.invalid/docs","title":"T","status":{status},"detail":"{detail}"}}"#
    );
    canned(
        status,
        &[("Content-Type", "application/problem+json")],
        &body,
    )
}

/// What the server does with one connection, after reading the request.
enum Script {
    Answer(Canned),
    /// Close without answering (the simulator's `reset` fault).
    Close,
    /// Answer nothing and keep the connection open until the client gives up (the
    /// simulator's `timeout` fault); no sleep, the client's timeout ends it.
    Silent,
}

/// A server answering `responses` in order, one connection each.
struct Server {
    base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(responses: Vec<Canned>) -> Server {
        Server::start_with(responses.into_iter().map(Script::Answer))
    }

    fn start_with(scripts: impl IntoIterator<Item = Script> + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/v2", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for script in scripts {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let request = read_request(&stream);
                seen.lock().unwrap().push(request);
                match script {
                    Script::Answer(resp) => write_response(stream, &resp),
                    Script::Close => drop(stream),
                    Script::Silent => {
                        thread::spawn(move || {
                            let mut buf = [0u8; 1];
                            let _ = (&stream).read(&mut buf);
                        });
                    }
                }
            }
        });
        Server { base_url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

fn write_response(mut stream: TcpStream, resp: &Canned) {
    let mut out = format!("HTTP/1.1 {} Canned\r\n", resp.status);
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        resp.body.len(),
        resp.body
    ));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// Owned copy of a [`CallRecord`] for assertions.
#[derive(Debug, Clone)]
struct Rec {
    credential: String,
    method: String,
    path: String,
    status: u16,
    credits: u32,
    error: Option<String>,
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(120),
        max_rate_limit_retries: 3,
    }
}

fn api_key() -> Credential {
    Credential::ApiKey {
        key: Secret::new(KEY),
        account_key: None,
    }
}

fn client_for(
    base_url: &str,
    credential: Credential,
) -> (Client, Arc<Mutex<Vec<Rec>>>, Arc<AtomicBool>) {
    client_with(base_url, credential, fast_retry())
}

/// [`client_for`] with `max_retries` retries.
fn client_for_retries(
    base_url: &str,
    max_retries: u32,
) -> (Client, Arc<Mutex<Vec<Rec>>>, Arc<AtomicBool>) {
    let retry = RetryPolicy {
        max_retries,
        ..fast_retry()
    };
    client_with(base_url, api_key(), retry)
}

fn client_with(
    base_url: &str,
    credential: Credential,
    retry: RetryPolicy,
) -> (Client, Arc<Mutex<Vec<Rec>>>, Arc<AtomicBool>) {
    let mut config = ClientConfig::new(base_url, credential);
    config.retry = retry;
    config.per_minute = 1000;
    config.timeout = Duration::from_secs(5);
    let stop = Arc::new(AtomicBool::new(false));
    let (client, records) = observed(Client::new(config, Arc::clone(&stop)));
    (client, records, stop)
}

/// `client` with an observer that keeps every [`CallRecord`].
fn observed(mut client: Client) -> (Client, Arc<Mutex<Vec<Rec>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&records);
    client.set_observer(Box::new(move |r: &CallRecord<'_>| {
        sink.lock().unwrap().push(Rec {
            credential: r.credential.to_string(),
            method: r.method.to_string(),
            path: r.path.to_string(),
            status: r.status,
            credits: r.credits,
            error: r.error.map(str::to_string),
        })
    }));
    (client, records)
}

fn statuses(records: &Arc<Mutex<Vec<Rec>>>) -> Vec<u16> {
    records.lock().unwrap().iter().map(|r| r.status).collect()
}

#[test]
fn server_errors_are_retried_until_success() {
    let server = Server::start(vec![
        canned(503, &[], "<html>busy</html>"),
        canned(503, &[], ""),
        json200(r#"{"ok":true}"#),
    ]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let got = client.get("/sites/1/energy", &[]).unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r#"{"ok":true}"#);
    assert_eq!(statuses(&records), [503, 503, 200]);
    let recs = records.lock().unwrap();
    assert!(recs.iter().all(|r| r.credits == 1));
    assert_eq!(recs[0].error.as_deref(), Some("server error 503"));
    assert_eq!(recs[2].error, None);
}

/// `max_retries = N` is N retries after the first attempt: N + 1 attempts in all.
#[test]
fn server_errors_give_up_after_max_retries() {
    for retries in [0u32, 1, 3] {
        let attempts = retries as usize + 1;
        // One answer more than may be asked for, so an extra attempt would succeed.
        let mut answers: Vec<Canned> = (0..attempts).map(|_| canned(500, &[], "")).collect();
        answers.push(json200("[]"));
        let server = Server::start(answers);
        let (mut client, records, _) = client_for_retries(&server.base_url, retries);
        let err = client.get("/sites", &[]).unwrap_err();
        assert_eq!(err, Error::Server { status: 500 });
        assert_eq!(
            statuses(&records),
            vec![500; attempts],
            "max_retries {retries}"
        );
        assert_eq!(server.requests().len(), attempts);
    }
}

/// The same count for transport failures: every attempt closed without an answer.
#[test]
fn transport_failures_give_up_after_max_retries() {
    for retries in [0u32, 2] {
        let attempts = retries as usize + 1;
        let server = Server::start_with(
            (0..attempts)
                .map(|_| Script::Close)
                .chain([Script::Answer(json200("[]"))]),
        );
        let (mut client, records, _) = client_for_retries(&server.base_url, retries);
        let err = client.get("/sites", &[]).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert_eq!(
            statuses(&records),
            vec![0; attempts],
            "max_retries {retries}"
        );
    }
}

#[test]
fn minute_limit_with_retry_after_waits_and_retries() {
    let server = Server::start(vec![
        problem(429, "Rate limit exceeded").with(&[
            ("Retry-After", "1"),
            ("x-ratelimit-limit-minute", "10"),
            ("x-ratelimit-remaining-minute", "0"),
        ]),
        json200("[]").with(&[
            ("x-ratelimit-limit-minute", "10"),
            ("x-ratelimit-remaining-minute", "9"),
            ("Date", "Mon, 24 Aug 2026 16:05:44 GMT"),
        ]),
    ]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let started = Instant::now();
    let got = client.get("/sites/1/alerts", &[]).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        got.rate,
        RateInfo {
            limit: Some(10),
            remaining: Some(9)
        }
    );
    assert_eq!(
        got.server_date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-24T16:05:44+00:00")
    );
    assert_eq!(statuses(&records), [429, 200]);
}

#[test]
fn retry_after_longer_than_the_maximum_is_not_waited() {
    let server = Server::start(vec![
        problem(429, "slow down").with(&[("Retry-After", "500")])
    ]);
    let (mut client, _, _) = client_for(&server.base_url, api_key());
    let err = client.get("/sites/1/power", &[]).unwrap_err();
    assert_eq!(err, Error::RateLimited { retry_after_s: 500 });
}

/// The gateway's own 429 body (reference §6.1).
fn gateway_429() -> Canned {
    canned(
        429,
        &[("Content-Type", "application/json")],
        r#"{"message":"API rate limit exceeded"}"#,
    )
}

#[test]
fn credit_429_is_never_retried() {
    let server = Server::start(vec![
        problem(429, "Monthly credit limit reached").with(&[("x-ratelimit-remaining-minute", "4")]),
        json200("[]"),
    ]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let err = client.get("/sites/1/energy", &[]).unwrap_err();
    assert_eq!(
        err,
        Error::CreditsExhausted {
            detail: "Monthly credit limit reached".into()
        }
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(statuses(&records), [429]);
}

/// Exhausted credits are told by the headers (calls left this minute, no Retry-After)
/// whatever the body says: here the gateway's minute-limit text.
#[test]
fn a_gateway_429_with_calls_left_is_credits() {
    let server = Server::start(vec![
        gateway_429().with(&[
            ("x-ratelimit-limit-minute", "10"),
            ("x-ratelimit-remaining-minute", "6"),
        ]),
        json200("[]"),
    ]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let err = client.get("/sites/1/energy", &[]).unwrap_err();
    assert_eq!(
        err,
        Error::CreditsExhausted {
            detail: "API rate limit exceeded".into()
        }
    );
    assert_eq!(statuses(&records), [429]);
}

/// The gateway's minute-limit 429 (plain JSON body, `Retry-After`, remaining 0) is waited
/// out and retried. `Retry-After: 0` keeps the test free of waits.
#[test]
fn a_gateway_minute_429_is_waited_out() {
    let server = Server::start(vec![
        gateway_429().with(&[
            ("Retry-After", "0"),
            ("x-ratelimit-limit-minute", "10"),
            ("x-ratelimit-remaining-minute", "0"),
        ]),
        json200("[]"),
    ]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    assert_eq!(client.get("/sites/1/energy", &[]).unwrap().status, 200);
    assert_eq!(statuses(&records), [429, 200]);
}

#[test]
fn a_429_without_retry_after_is_credits() {
    let server = Server::start(vec![
        problem(429, "Too many requests").with(&[("x-ratelimit-remaining-minute", "7")])
    ]);
    let (mut client, _, _) = client_for(&server.base_url, api_key());
    let err = client.get("/sites/1/energy", &[]).unwrap_err();
    assert!(matches!(err, Error::CreditsExhausted { .. }), "{err:?}");
}

#[test]
fn gone_explains_the_v1_retirement() {
    let server = Server::start(vec![canned(410, &[], "")]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let err = client.get("/site/1/details", &[]).unwrap_err();
    assert_eq!(err, Error::Gone);
    let text = err.to_string();
    assert!(text.contains("v1 was retired on 2026-11-03"), "{text}");
    assert!(text.contains("v2"), "{text}");
    assert_eq!(
        records.lock().unwrap()[0].error.as_deref(),
        Some(text.as_str())
    );
}

#[test]
fn html_200_is_a_decode_error_but_empty_json_200_is_returned() {
    let server = Server::start(vec![
        canned(
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            "<html></html>",
        ),
        canned(200, &[("Content-Type", "application/json")], ""),
    ]);
    let (mut client, _, _) = client_for(&server.base_url, api_key());
    let err = client.get("/sites", &[]).unwrap_err();
    assert_eq!(
        err,
        Error::Decode {
            what: "unexpected content type text/html".into()
        }
    );
    let got = client.get("/sites", &[]).unwrap();
    assert_eq!(got.body, "");
}

#[test]
fn api_key_headers_are_sent_and_never_recorded() {
    let server = Server::start(vec![
        problem(401, &format!("Invalid API key {KEY}")),
        json200("[]"),
    ]);
    let credential = Credential::ApiKey {
        key: Secret::new(KEY),
        account_key: Some(Secret::new(ACCOUNT_KEY)),
    };
    let (mut client, records, _) = client_for(&server.base_url, credential);
    let err = client.get("/sites/1/devices", &[]).unwrap_err();
    assert_eq!(
        err,
        Error::Unauthorized {
            detail: "Invalid API key ****".into(),
            oauth: None,
        }
    );
    let query = [
        ("types", "INVERTER".to_string()),
        ("types", "METER".to_string()),
        ("from", "2026-03-29T03:00:00+02:00".to_string()),
    ];
    let got = client.get("sites/1/devices", &query).unwrap();
    assert_eq!(got.path, "/sites/1/devices");
    assert_eq!(
        got.query_string,
        "types=INVERTER&types=METER&from=2026-03-29T03%3A00%3A00%2B02%3A00"
    );

    let reqs = server.requests();
    let req = reqs[1].to_ascii_lowercase();
    assert!(reqs[1].starts_with(&format!(
        "GET /v2/sites/1/devices?{} HTTP/1.1",
        got.query_string
    )));
    assert!(
        req.contains(&format!("x-api-key: {}", KEY.to_ascii_lowercase())),
        "{req}"
    );
    assert!(req.contains(&format!(
        "x-account-key: {}",
        ACCOUNT_KEY.to_ascii_lowercase()
    )));
    assert!(req.contains("accept: application/json"));
    assert!(req.contains(&format!("user-agent: seh/{}", env!("CARGO_PKG_VERSION"))));
    assert!(!req.contains("authorization"));

    let recs = records.lock().unwrap();
    assert_eq!(recs.len(), 2);
    for r in recs.iter() {
        let all = format!("{r:?}");
        assert!(!all.contains(KEY) && !all.contains(ACCOUNT_KEY), "{all}");
        assert_eq!(r.credential, "key");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/sites/1/devices");
    }
    assert!(!format!("{client:?}").contains(KEY));
}

#[test]
fn bearer_credential_and_label() {
    let server = Server::start(vec![json200("{}")]);
    let credential = Credential::Bearer {
        token: Secret::new("tok-SECRET-42"),
        site_id: 4321,
    };
    let (mut client, records, _) = client_for(&server.base_url, credential);
    client.get("/sites/4321", &[]).unwrap();
    let req = server.requests()[0].to_ascii_lowercase();
    assert!(req.contains("authorization: bearer tok-secret-42"), "{req}");
    assert!(!req.contains("x-api-key"));
    assert_eq!(records.lock().unwrap()[0].credential, "oauth:site4321");
}

#[test]
fn post_json_sends_no_credential_and_scrubs_body_secrets() {
    let server = Server::start(vec![canned(
        400,
        &[("Content-Type", "application/json")],
        r#"{"error":"invalid_grant","error_description":"invalid refresh_token r-SECRET-77"}"#,
    )]);
    let (mut client, records, _) = client_for(&server.base_url, api_key());
    let body = oauth::refresh_body(
        &Secret::new("r-SECRET-77"),
        "cid",
        &Secret::new("cs-SECRET"),
    );
    let err = client.post_json(oauth::TOKEN_PATH, &body).unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest {
            detail: "invalid_grant: invalid refresh_token ****".into(),
            window_too_long: false,
            oauth: Some(oauth::OAuthCode::InvalidGrant),
        }
    );
    let req = &server.requests()[0];
    assert!(req.starts_with("POST /v2/oauth2/token HTTP/1.1"));
    assert!(req
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert!(!req.to_ascii_lowercase().contains("x-api-key"));
    assert!(req.contains(r#""refresh_token":"r-SECRET-77""#));
    let rec = records.lock().unwrap()[0].clone();
    assert_eq!(
        (rec.credential.as_str(), rec.method.as_str()),
        ("none", "POST")
    );
    assert!(!format!("{rec:?}").contains("SECRET"));
}

/// A request that reached the server and got no answer may have been charged: a closed
/// connection and a timeout while waiting each book one credit per attempt, with status 0.
#[test]
fn unanswered_requests_that_reached_the_server_book_a_credit() {
    let server = Server::start_with([Script::Close, Script::Silent]);
    let mut config = ClientConfig::new(server.base_url.clone(), api_key());
    config.retry = RetryPolicy {
        max_retries: 0,
        ..fast_retry()
    };
    config.timeout = Duration::from_millis(300);
    let (mut client, records) = observed(Client::new(config, Arc::new(AtomicBool::new(false))));
    for _ in 0..2 {
        let err = client.get("/sites", &[]).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    }
    assert_eq!(server.requests().len(), 2, "both requests arrived");
    let recs = records.lock().unwrap();
    let got: Vec<(u16, u32)> = recs.iter().map(|r| (r.status, r.credits)).collect();
    assert_eq!(got, [(0, 1), (0, 1)], "{recs:?}");
}

/// The worst case is decided on ureq's error kinds: only a failure before the request
/// could be sent is certainly free.
#[test]
fn what_may_have_reached_the_server() {
    use std::io::{Error as IoError, ErrorKind as K};
    let free = [
        ureq::Error::HostNotFound,
        ureq::Error::ConnectionFailed,
        ureq::Error::Timeout(ureq::Timeout::Resolve),
        ureq::Error::Timeout(ureq::Timeout::Connect),
        ureq::Error::Io(IoError::from(K::ConnectionRefused)),
        ureq::Error::Io(IoError::from(K::NetworkUnreachable)),
        ureq::Error::BadUri("x".into()),
    ];
    let charged = [
        ureq::Error::Timeout(ureq::Timeout::Global),
        ureq::Error::Timeout(ureq::Timeout::RecvResponse),
        ureq::Error::Timeout(ureq::Timeout::RecvBody),
        ureq::Error::Timeout(ureq::Timeout::SendRequest),
        ureq::Error::Io(IoError::from(K::ConnectionReset)),
        ureq::Error::Io(IoError::from(K::UnexpectedEof)),
        ureq::Error::Io(IoError::from(K::BrokenPipe)),
        ureq::Error::Io(IoError::from(K::TimedOut)),
        ureq::Error::BodyStalled,
    ];
    for e in &free {
        assert!(!may_have_reached_server(e), "{e:?}");
    }
    for e in &charged {
        assert!(may_have_reached_server(e), "{e:?}");
    }
}

#[test]
fn connection_refused_is_transport_after_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (mut client, records, _) = client_for(&format!("http://127.0.0.1:{port}/v2"), api_key());
    let err = client.get("/sites", &[]).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let recs = records.lock().unwrap();
    assert_eq!(recs.len(), 4);
    assert!(recs
        .iter()
        .all(|r| r.status == 0 && r.credits == 0 && r.error.is_some()));
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v2", listener.local_addr().unwrap());
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(2) {
            held.push(s);
        }
        thread::sleep(Duration::from_secs(3));
    });
    let mut config = ClientConfig::new(base, api_key());
    config.retry = RetryPolicy {
        max_retries: 1,
        ..fast_retry()
    };
    config.timeout = Duration::from_millis(300);
    let mut client = Client::new(config, Arc::new(AtomicBool::new(false)));
    let started = Instant::now();
    let err = client.get("/sites", &[]).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn stop_flag_interrupts_before_and_during_waits() {
    let server = Server::start(vec![problem(429, "slow").with(&[("Retry-After", "60")])]);
    let (mut client, records, stop) = client_for(&server.base_url, api_key());
    let flag = Arc::clone(&stop);
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    assert_eq!(client.get("/sites", &[]).unwrap_err(), Error::Interrupted);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        records.lock().unwrap().len(),
        1,
        "the call in flight completed"
    );
    // Once set, nothing is sent at all.
    assert_eq!(client.get("/sites", &[]).unwrap_err(), Error::Interrupted);
    assert_eq!(records.lock().unwrap().len(), 1);
}

#[test]
fn status_classification() {
    let raw = |status: u16, body: &str, retry_after: Option<&str>, remaining: Option<u32>| Raw {
        status,
        content_type: Some("application/problem+json".into()),
        retry_after: retry_after.map(str::to_string),
        server_date: None,
        rate: RateInfo {
            limit: Some(10),
            remaining,
        },
        body: body.to_string(),
    };
    let now = Utc::now();
    let p = |detail: &str| format!(r#"{{"title":"x","detail":"{detail}"}}"#);
    let gateway = r#"{"message":"API rate limit exceeded"}"#;
    let cases = [
        (
            raw(
                400,
                &p("Time span exceeds the maximum for QUARTER_HOUR"),
                None,
                None,
            ),
            Verdict::Fail(Error::BadRequest {
                detail: "Time span exceeds the maximum for QUARTER_HOUR".into(),
                window_too_long: true,
                oauth: None,
            }),
        ),
        (
            raw(400, &p("unknown parameter foo"), None, None),
            Verdict::Fail(Error::BadRequest {
                detail: "unknown parameter foo".into(),
                window_too_long: false,
                oauth: None,
            }),
        ),
        (
            raw(
                403,
                &p("Operation requires the Business Pro tier"),
                None,
                None,
            ),
            Verdict::Fail(Error::Forbidden {
                detail: "Operation requires the Business Pro tier".into(),
                tier: true,
                other_site: false,
            }),
        ),
        (
            raw(
                403,
                &p("site OAuth grant doesn't include this site"),
                None,
                None,
            ),
            Verdict::Fail(Error::Forbidden {
                detail: "site OAuth grant doesn't include this site".into(),
                tier: false,
                other_site: true,
            }),
        ),
        (
            raw(404, &p("Unknown endpoint"), None, None),
            Verdict::Fail(Error::NotFound {
                detail: "Unknown endpoint".into(),
            }),
        ),
        (
            raw(418, "I'm a teapot", None, None),
            Verdict::Fail(Error::Http {
                status: 418,
                detail: "I'm a teapot".into(),
            }),
        ),
        (
            raw(302, "", None, None),
            Verdict::Fail(Error::Http {
                status: 302,
                detail: String::new(),
            }),
        ),
        (raw(502, "<html>", None, None), Verdict::ServerError),
        (
            raw(429, "", Some("2"), Some(0)),
            Verdict::MinuteLimit(Some(Duration::from_secs(2))),
        ),
        (
            raw(429, "", Some("soon"), Some(0)),
            Verdict::MinuteLimit(None),
        ),
        (raw(429, "", None, Some(0)), Verdict::MinuteLimit(None)),
        (
            raw(429, "", None, Some(3)),
            Verdict::Fail(Error::CreditsExhausted {
                detail: String::new(),
            }),
        ),
        // The headers decide, never the body (reference §6.1).
        (
            raw(429, gateway, Some("2"), Some(0)),
            Verdict::MinuteLimit(Some(Duration::from_secs(2))),
        ),
        (
            raw(429, &p("Monthly credit limit reached"), Some("2"), Some(0)),
            Verdict::MinuteLimit(Some(Duration::from_secs(2))),
        ),
        (
            raw(429, &p("Monthly credit limit reached"), None, Some(0)),
            Verdict::MinuteLimit(None),
        ),
        (
            raw(429, &p("credit"), Some("5"), None),
            Verdict::MinuteLimit(Some(Duration::from_secs(5))),
        ),
        (
            raw(429, gateway, None, Some(9)),
            Verdict::Fail(Error::CreditsExhausted {
                detail: "API rate limit exceeded".into(),
            }),
        ),
        (
            raw(429, gateway, None, None),
            Verdict::Fail(Error::CreditsExhausted {
                detail: "API rate limit exceeded".into(),
            }),
        ),
        // OAuth bodies: the `error` code is kept, typed.
        (
            raw(
                401,
                r#"{"error_description":"The access token is invalid or has expired","error":"invalid_token"}"#,
                None,
                None,
            ),
            Verdict::Fail(Error::Unauthorized {
                detail: "invalid_token: The access token is invalid or has expired".into(),
                oauth: Some(oauth::OAuthCode::InvalidToken),
            }),
        ),
        (
            raw(401, r#"{"error":"invalid_client"}"#, None, None),
            Verdict::Fail(Error::Unauthorized {
                detail: "invalid_client".into(),
                oauth: Some(oauth::OAuthCode::InvalidClient),
            }),
        ),
        (
            raw(
                400,
                r#"{"error":"invalid_request","error_description":"The refresh token is invalid or has expired"}"#,
                None,
                None,
            ),
            Verdict::Fail(Error::BadRequest {
                detail: "invalid_request: The refresh token is invalid or has expired".into(),
                window_too_long: false,
                oauth: Some(oauth::OAuthCode::InvalidRequest),
            }),
        ),
        (raw(200, "", None, None), Verdict::Success),
    ];
    for (input, want) in cases {
        assert_eq!(classify(&input, now), want, "status {}", input.status);
    }
    let mut ok = raw(200, "{}", None, None);
    ok.content_type = None;
    assert_eq!(classify(&ok, now), Verdict::Success);
}

#[test]
fn retry_after_as_http_date() {
    let now = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        parse_retry_after("Fri, 20 Nov 2026 10:00:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Fri, 20 Nov 2026 09:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after("1.5", now),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(parse_retry_after("-1", now), None);
}

#[test]
fn backoff_is_exponential_jittered_and_capped() {
    let mut config = ClientConfig::new("http://127.0.0.1:9", api_key());
    config.retry.base_delay = Duration::from_secs(1);
    config.retry.max_delay = Duration::from_secs(30);
    let mut client = Client::new(config, Arc::new(AtomicBool::new(false)));
    for (n, full) in [
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (5, 16.0),
        (6, 30.0),
        (40, 30.0),
    ] {
        for _ in 0..20 {
            let d = client.backoff(n).as_secs_f64();
            assert!(d >= full / 2.0 - 1e-9 && d <= full + 1e-9, "n={n}: {d}");
        }
    }
}

#[test]
fn error_is_small_and_displays_short_phrases() {
    assert!(
        std::mem::size_of::<Error>() <= 64,
        "{}",
        std::mem::size_of::<Error>()
    );
    let errors = [
        Error::Interrupted,
        Error::CreditsExhausted { detail: "x".into() },
        Error::RateLimited { retry_after_s: 3 },
        Error::BadRequest {
            detail: String::new(),
            window_too_long: true,
            oauth: None,
        },
        Error::Unauthorized {
            detail: "Invalid API key".into(),
            oauth: None,
        },
        Error::Forbidden {
            detail: String::new(),
            tier: true,
            other_site: true,
        },
        Error::NotFound {
            detail: String::new(),
        },
        Error::Gone,
        Error::Http {
            status: 418,
            detail: String::new(),
        },
        Error::Server { status: 502 },
        Error::Transport {
            detail: "io: refused".into(),
        },
        Error::Decode { what: "x".into() },
    ];
    for e in &errors {
        let s = e.to_string();
        assert!(!s.ends_with('.') && !s.ends_with(": "), "{s}");
        assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
    }
    assert_eq!(
        errors[5].to_string(),
        "access denied (403), needs a higher api tier, the oauth grant does not cover this site"
    );
    assert_eq!(
        Error::from(ParseError::new("devices[0].type: missing")).to_string(),
        "cannot decode response: devices[0].type: missing"
    );
}

#[test]
fn secrets_print_as_stars() {
    let s = Secret::new(KEY);
    assert_eq!(format!("{s}"), "****");
    assert_eq!(format!("{s:?}"), "****");
    let c = Credential::ApiKey {
        key: s,
        account_key: Some(Secret::new(ACCOUNT_KEY)),
    };
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(KEY) && !dbg.contains(ACCOUNT_KEY), "{dbg}");
    assert_eq!(c.label(), "key");
    assert_eq!(Credential::None.label(), "none");
}

#[test]
fn query_encoding() {
    assert_eq!(encode_component("a b+c/é~_.-"), "a%20b%2Bc%2F%C3%A9~_.-");
    assert_eq!(encode_query(&[]), "");
    assert_eq!(
        encode_query(&[("only-open", "true".into()), ("page", "2".into())]),
        "only-open=true&page=2"
    );
}

#[test]
fn seconds_to_next_minute() {
    use std::time::UNIX_EPOCH;
    let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
    assert_eq!(secs_to_next_minute(at(60_000 * 100)), 60.0);
    assert_eq!(secs_to_next_minute(at(60_000 * 100 + 45_500)), 14.5);
    let server = DateTime::parse_from_rfc2822("Mon, 24 Aug 2026 16:05:44 GMT")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(secs_to_minute_boundary(Some(server), at(45_500)), 16.0);
    assert_eq!(secs_to_minute_boundary(None, at(45_500)), 14.5);
}

#[test]
fn retry_after_beyond_duration_saturates_and_is_refused() {
    // Found by the fuzz tests: `Duration::from_secs_f64` panicked on `1e20` (more seconds
    // than a Duration holds), and the release build aborts on a panic.
    let now = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for value in ["1e20", "1e30", "1e308"] {
        assert_eq!(
            parse_retry_after(value, now),
            Some(Duration::MAX),
            "{value}"
        );
    }
    let raw = Raw {
        status: 429,
        content_type: None,
        retry_after: Some("1e20".to_string()),
        rate: RateInfo::default(),
        server_date: None,
        body: String::new(),
    };
    assert_eq!(
        classify(&raw, now),
        Verdict::MinuteLimit(Some(Duration::MAX))
    );
}

impl Canned {
    fn with(mut self, headers: &[(&'static str, &str)]) -> Canned {
        self.headers
            .extend(headers.iter().map(|(k, v)| (*k, v.to_string())));
        self
    }
}
