//! Unit tests of `http`: the server over real loopback sockets (keep-alive, gzip,
//! truncated, dropped, hung and slow replies, shutdown) and the pure request parser.
//! Tests only: nothing here may be reachable from a non-test build.

use super::parse::percent_decode;
use super::*;
use std::io::BufRead;

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// A server whose handler echoes the request as JSON, or misbehaves on
/// `/fault/<kind>`.
fn echo_server() -> ServerHandle {
    let handler = |req: Request| {
        let echo = json!({
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body": String::from_utf8_lossy(&req.body),
            "content_type": req.header("Content-Type"),
            "peer_port": req.peer.port(),
            "gzip": req.accepts_gzip(),
        });
        let normal = Response::json(200, &echo);
        match req.path.as_str() {
            "/fault/truncate" => {
                Reply::Truncated(Response::json(200, &json!({"pad": "x".repeat(10_000)})))
            }
            "/fault/drop" => Reply::Drop,
            "/fault/hang" => Reply::Hang(Duration::from_secs(5)),
            "/fault/slow" => Reply::Slow(Duration::from_millis(150), normal),
            "/fault/panic" => panic!("handler bug"),
            "/big" => Reply::Normal(Response::json(200, &json!({"pad": "y".repeat(5_000)}))),
            "/problem" => Reply::Normal(Response::problem(404, "Not Found", "Unknown endpoint")),
            _ => Reply::Normal(normal),
        }
    };
    spawn(Server::bind("127.0.0.1:0").unwrap(), Arc::new(handler))
}

fn body_json(resp: &mut ureq::http::Response<ureq::Body>) -> Value {
    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn get_with_query_and_repeated_keys() {
    let srv = echo_server();
    let url = format!(
        "{}/v2/sites/1/devices?types=INVERTER&types=METER&q=a+b%2Cc",
        srv.url()
    );
    let mut resp = agent(None).get(&url).call().unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["via"], "kong/3.7.1");
    assert_eq!(h["server"], "cloudflare");
    assert_eq!(
        h["cache-control"],
        "no-cache, no-store, max-age=0, must-revalidate"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("date"));
    let v = body_json(&mut resp);
    assert_eq!(v["path"], "/v2/sites/1/devices");
    assert_eq!(
        v["query"],
        json!([["types", "INVERTER"], ["types", "METER"], ["q", "a b,c"]])
    );
}

#[test]
fn post_with_json_body() {
    let srv = echo_server();
    let body = r#"{"grant_type":"refresh_token"}"#;
    let mut resp = agent(None)
        .post(format!("{}/v2/oauth2/token", srv.url()))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let v = body_json(&mut resp);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body"], body);
    assert_eq!(v["content_type"], "application/json");
}

#[test]
fn keep_alive_reuses_the_connection() {
    let srv = echo_server();
    let a = agent(None);
    let mut ports = Vec::new();
    for _ in 0..3 {
        let mut resp = a.get(format!("{}/x", srv.url())).call().unwrap();
        ports.push(body_json(&mut resp)["peer_port"].clone());
    }
    assert_eq!(ports[0], ports[1]);
    assert_eq!(ports[1], ports[2]);
}

#[test]
fn gzip_round_trip_with_ureq() {
    let srv = echo_server();
    let mut resp = agent(None)
        .get(format!("{}/big", srv.url()))
        .call()
        .unwrap();
    let v = body_json(&mut resp);
    assert_eq!(v["pad"].as_str().unwrap().len(), 5_000);
}

/// Raw socket request; returns (status line + headers lowercased, body).
fn raw(addr: SocketAddr, request: &str) -> (Vec<String>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut r = io::BufReader::new(s);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        head.push(line.to_ascii_lowercase());
    }
    let len: usize = head
        .iter()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn gzip_on_the_wire() {
    let srv = echo_server();
    let (head, body) = raw(
        srv.addr,
        "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip\r\nConnection: close\r\n\r\n",
    );
    assert!(
        head.contains(&"content-encoding: gzip".to_string()),
        "{head:?}"
    );
    assert!(head.contains(&"vary: accept-encoding".to_string()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains(&"y".repeat(5_000)));
    // Not asked: identity.
    let (head, body) = raw(srv.addr, "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(!head.iter().any(|l| l.starts_with("content-encoding")));
    assert!(body.starts_with(b"{\"pad\""));
    // q=0 refuses gzip.
    let (head, _) = raw(
        srv.addr,
        "GET /big HTTP/1.1\r\nAccept-Encoding: gzip;q=0\r\nConnection: close\r\n\r\n",
    );
    assert!(!head.iter().any(|l| l.starts_with("content-encoding")));
}

#[test]
fn malformed_request_gets_400() {
    let srv = echo_server();
    for bad in [
        "GET\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
        "GET /%zz HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    ] {
        let (head, body) = raw(srv.addr, bad);
        assert_eq!(head[0], "http/1.1 400 bad request", "{bad:?}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], 400);
    }
}

#[test]
fn problem_shape() {
    let srv = echo_server();
    let mut resp = agent(None)
        .get(format!("{}/problem", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let v = body_json(&mut resp);
    assert_eq!(v["type"], "https://se-api.stoplight.io/docs/monitoring");
    assert_eq!(v["title"], "Not Found");
    assert_eq!(v["detail"], "Unknown endpoint");
    let trace = v["traceId"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    assert!(trace
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}

#[test]
fn truncated_body_is_a_read_error_or_short() {
    let srv = echo_server();
    let result = agent(None)
        .get(format!("{}/fault/truncate", srv.url()))
        .call()
        .and_then(|mut r| r.body_mut().read_to_vec());
    match result {
        Err(_) => {}
        Ok(body) => assert!(body.len() < 10_000, "got the full body"),
    }
}

#[test]
fn drop_is_a_connection_error() {
    let srv = echo_server();
    let err = agent(None)
        .get(format!("{}/fault/drop", srv.url()))
        .call()
        .unwrap_err();
    assert!(!matches!(err, ureq::Error::Timeout(_)), "{err:?}");
}

#[test]
fn hang_is_a_client_timeout_and_the_server_notices_the_close() {
    let srv = echo_server();
    let started = Instant::now();
    let err = agent(Some(Duration::from_millis(300)))
        .get(format!("{}/fault/hang", srv.url()))
        .call()
        .unwrap_err();
    assert!(matches!(err, ureq::Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn slow_answers_after_the_delay() {
    let srv = echo_server();
    let started = Instant::now();
    let resp = agent(None)
        .get(format!("{}/fault/slow", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn handler_panic_is_a_500_and_others_still_served() {
    let srv = echo_server();
    let resp = agent(None)
        .get(format!("{}/fault/panic", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = agent(None).get(format!("{}/ok", srv.url())).call().unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn dead_client_does_not_block_others() {
    let srv = echo_server();
    // Half a request, then silence.
    let mut stalled = TcpStream::connect(srv.addr).unwrap();
    stalled.write_all(b"GET /x HTTP/1.1\r\nHost").unwrap();
    let resp = agent(Some(Duration::from_secs(2)))
        .get(format!("{}/y", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn pipelined_requests_and_connection_close() {
    let srv = echo_server();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap(); // ends because the server closes
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2);
    assert!(all.contains(r#""path":"/b""#) && all.contains(r#""body":"hi""#));
}

#[test]
fn idle_keep_alive_connection_times_out() {
    let mut server = Server::bind("127.0.0.1:0").unwrap();
    server.set_idle_timeout(Duration::from_millis(300));
    let srv = spawn(server, Arc::new(|_r: Request| Reply::Drop));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn head_has_length_but_no_body_and_handler_headers_win() {
    let handler = |_r: Request| {
        Reply::Normal(
            Response::json(200, &json!({"a": 1}))
                .with_header("Date", "Mon, 24 Aug 2026 16:05:44 GMT")
                .with_header("Content-Length", "999"),
        )
    };
    let srv = spawn(Server::bind("127.0.0.1:0").unwrap(), Arc::new(handler));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let lower = all.to_ascii_lowercase();
    assert!(lower.contains("content-length: 7\r\n"), "{all}");
    assert!(lower.contains("date: mon, 24 aug 2026 16:05:44 gmt\r\n"));
    assert_eq!(lower.matches("date:").count(), 1);
    assert!(all.ends_with("\r\n\r\n"));
}

#[test]
fn shutdown_stops_accepting() {
    let srv = echo_server();
    let addr = srv.addr;
    srv.shutdown();
    let refused = agent(Some(Duration::from_millis(500)))
        .get(format!("http://{addr}/x"))
        .call();
    assert!(refused.is_err());
}

#[test]
fn parsing_units() {
    assert_eq!(
        parse_query("a=1&&b=x+y%20z&a=&c").unwrap(),
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "x y z".into()),
            ("a".into(), "".into()),
            ("c".into(), "".into()),
        ]
    );
    assert!(parse_query("a=%4").is_err());
    assert!(parse_query("a=%ff").is_err(), "invalid UTF-8");
    assert_eq!(percent_decode("/a+b%2C", false).unwrap(), "/a+b,");
    assert_eq!(
        find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"),
        Some(24)
    );
    assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nrest"), Some(21));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    let h =
        parse_head(b"GET http://h:1/v2/sites?page=2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap();
    assert_eq!(h.path, "/v2/sites");
    assert!(h.http10 && h.keep_alive());
    let h = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!h.keep_alive());
    let h = parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!h.keep_alive());
    let h = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    assert_eq!(h.body_len().unwrap_err().status, 501);
    let h =
        parse_head(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n").unwrap();
    assert_eq!(h.body_len().unwrap_err().status, 400);
    assert_eq!(
        http_date(chrono::DateTime::from_timestamp(1_787_587_544, 0).unwrap()),
        "Mon, 24 Aug 2026 16:05:44 GMT"
    );
}

#[test]
fn request_helpers() {
    let req = Request {
        method: "GET".into(),
        path: "/".into(),
        query: vec![("t".into(), "A".into()), ("t".into(), "B".into())],
        headers: vec![("accept-encoding".into(), "deflate, GZIP;q=0.5".into())],
        body: b"grant_type=refresh_token&refresh_token=a%2Bb".to_vec(),
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
    };
    assert_eq!(req.query_all("t"), vec!["A", "B"]);
    assert_eq!(req.query_one("t"), Some("A"));
    assert_eq!(req.query_one("u"), None);
    assert_eq!(req.header("Accept-Encoding"), Some("deflate, GZIP;q=0.5"));
    assert!(req.accepts_gzip());
    assert_eq!(req.form().unwrap()[1].1, "a+b");
}
