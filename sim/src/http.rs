//! A minimal blocking HTTP/1.1 server on `std::net::TcpListener`.
//!
//! We write our own instead of using tiny_http so the simulator controls the
//! socket completely: fault injection needs to truncate a body after a full
//! `Content-Length`, drop a connection without a byte, or hold it open
//! without answering ([`Reply`]). Everything else is deliberately plain:
//! one thread per connection (a slow or dead client only ever blocks its own
//! thread), keep-alive, `Content-Length` request bodies (chunked request
//! bodies get 501), gzip responses when asked, and the gateway headers the
//! real API sends (reference §3: Cloudflare in front of Kong).
//!
//! Sockets are read with a short poll timeout so that an idle keep-alive
//! connection notices both its idle timeout (30 s by default) and a server
//! shutdown without any extra machinery.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rng::SplitMix64;

/// Largest request head (request line + headers) accepted; beyond → 431.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted; beyond → 413. Token and admin requests
/// are tiny; this only guards memory.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Granularity at which blocked reads look at the idle deadline and the stop
/// flag.
const POLL: Duration = Duration::from_millis(200);
/// Default keep-alive idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path, without the query.
    pub path: String,
    /// Percent-decoded query pairs in order; repeated keys kept; `+` = space.
    pub query: Vec<(String, String)>,
    /// Header names lowercased; repeated headers kept in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Request {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query key, in order (`types=A&types=B`).
    pub fn query_all(&self, k: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// First value of a query key.
    pub fn query_one(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero q.
    pub fn accepts_gzip(&self) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k == "accept-encoding")
            .flat_map(|(_, v)| v.split(','))
            .any(coding_accepts_gzip)
    }

    /// The body parsed as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Result<Vec<(String, String)>, String> {
        let text = std::str::from_utf8(&self.body).map_err(|_| "form body is not UTF-8")?;
        parse_query(text)
    }
}

fn coding_accepts_gzip(item: &str) -> bool {
    let mut parts = item.split(';');
    let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(coding.as_str(), "gzip" | "x-gzip" | "*") {
        return false;
    }
    let q = parts
        .filter_map(|p| p.trim().strip_prefix("q="))
        .filter_map(|q| q.trim().parse::<f64>().ok())
        .next()
        .unwrap_or(1.0);
    q > 0.0
}

/// A response before gateway headers, compression and framing are added.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// `application/json` body.
    pub fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            // Serializing a Value cannot fail (all keys are strings).
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// The gateway's RFC 7807 error shape (§6): `type` is always the docs
    /// URL, `traceId` 32 lowercase hex.
    pub fn problem(status: u16, title: &str, detail: &str) -> Response {
        let body = json!({
            "type": "https://se-api.stoplight.io/docs/monitoring",
            "title": title,
            "status": status,
            "detail": detail,
            "traceId": random_hex(32),
        });
        let mut r = Response::json(status, &body);
        r.headers[0].1 = "application/problem+json".into();
        r
    }

    /// Sets a header, replacing any with the same (case-insensitive) name.
    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_ascii_lowercase(), v.to_string()));
        self
    }

    /// Adds several headers (e.g. rate-limit headers) with [`Response::with_header`].
    pub fn with_headers(self, headers: Vec<(String, String)>) -> Response {
        headers
            .into_iter()
            .fold(self, |r, (k, v)| r.with_header(&k, &v))
    }

    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with a request: answer, or misbehave on purpose.
#[derive(Debug, Clone)]
pub enum Reply {
    Normal(Response),
    /// Headers with the full Content-Length, then only the first half of the
    /// (possibly gzipped) body, then close.
    Truncated(Response),
    /// Close the connection without writing anything.
    Drop,
    /// Wait this long (or until the client goes away), then close without
    /// answering.
    Hang(Duration),
    /// Wait, then answer normally.
    Slow(Duration, Response),
}

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    idle_timeout: Duration,
}

impl Server {
    /// Binds `addr` (e.g. `127.0.0.1:0` for an ephemeral port).
    pub fn bind(addr: &str) -> io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr)?,
            idle_timeout: IDLE_TIMEOUT,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Changes the keep-alive idle timeout (also bounds a stalled request).
    pub fn set_idle_timeout(&mut self, d: Duration) {
        self.idle_timeout = d;
    }

    /// Accepts connections until `stop` is set, one thread per connection.
    /// Blocks. `accept` is blocking, so whoever sets `stop` must also open
    /// one connection to wake it ([`wake`]; [`ServerHandle::shutdown`]
    /// does both).
    pub fn serve<H>(self, handler: Arc<H>, stop: Arc<AtomicBool>)
    where
        H: Fn(Request) -> Reply + Send + Sync + 'static,
    {
        for incoming in self.listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match incoming {
                Ok(s) => s,
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let conn = Connection::new(stream, stop.clone(), self.idle_timeout);
            let handler = handler.clone();
            // If the thread cannot be spawned the stream is dropped (closed).
            let _ = thread::Builder::new()
                .name("sim-http-conn".into())
                .spawn(move || conn.run(&*handler));
        }
    }
}

/// Opens (and drops) a connection to `addr` to wake a blocking `accept`.
/// An unspecified address (0.0.0.0 / ::) is reached through loopback.
pub fn wake(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => [127, 0, 0, 1].into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(2));
}

/// A server running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://ADDR` for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits for the accept loop to end. Open connections
    /// finish their current request and then close.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            wake(self.addr);
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Runs `server.serve(handler)` on a new thread.
pub fn spawn<H>(server: Server, handler: Arc<H>) -> ServerHandle
where
    H: Fn(Request) -> Reply + Send + Sync + 'static,
{
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = thread::Builder::new()
        .name("sim-http-accept".into())
        .spawn(move || server.serve(handler, flag))
        .expect("spawn the accept thread");
    ServerHandle {
        addr,
        stop,
        thread: Some(thread),
    }
}

// ---------------------------------------------------------------------------
// Request parsing (pure functions, unit-tested without sockets)

/// Request line and headers.
#[derive(Debug, PartialEq)]
struct Head {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    http10: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after this exchange.
    fn keep_alive(&self) -> bool {
        let tokens: Vec<String> = self
            .headers
            .iter()
            .filter(|(k, _)| k == "connection")
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if tokens.iter().any(|t| t == "close") {
            return false;
        }
        !self.http10 || tokens.iter().any(|t| t == "keep-alive")
    }

    /// Body length from `Content-Length`; errors are final responses.
    fn body_len(&self) -> Result<usize, Response> {
        if self.header("transfer-encoding").is_some() {
            return Err(Response::problem(
                501,
                "Not Implemented",
                "Transfer-Encoding request bodies are not supported; send Content-Length",
            ));
        }
        let mut len: Option<usize> = None;
        for (_, v) in self.headers.iter().filter(|(k, _)| k == "content-length") {
            let n = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|_| v.trim().bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad_request("invalid Content-Length"))?;
            if len.is_some_and(|l| l != n) {
                return Err(bad_request("conflicting Content-Length headers"));
            }
            len = Some(n);
        }
        let len = len.unwrap_or(0);
        if len > MAX_BODY {
            return Err(Response::problem(
                413,
                "Payload Too Large",
                "request body too large",
            ));
        }
        Ok(len)
    }
}

fn bad_request(detail: &str) -> Response {
    Response::problem(400, "Bad Request", detail)
}

/// End of the head: index just past the blank line (CRLF or bare LF).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    // Scan each line end; a line that is empty (or just "\r") ends the head.
    let mut line_start = 0;
    let mut i = nl;
    loop {
        let line = &buf[line_start..i];
        if (line.is_empty() || line == b"\r") && line_start > 0 {
            return Some(i + 1);
        }
        line_start = i + 1;
        i = line_start + buf[line_start..].iter().position(|&b| b == b'\n')?;
    }
}

/// Bytes of leading empty lines, which RFC 9112 §2.2 says to ignore.
fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while i < buf.len() && (buf[i] == b'\r' || buf[i] == b'\n') {
        i += 1;
    }
    i
}

fn parse_head(raw: &[u8]) -> Result<Head, Response> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(bad_request("malformed request line")),
    };
    if !method.bytes().all(is_token_char) {
        return Err(bad_request("malformed method"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad_request("unsupported HTTP version")),
    };
    let (path, query) = split_target(target)?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        headers.push(parse_header_line(line)?);
    }
    Ok(Head {
        method: method.to_string(),
        path,
        query,
        http10,
        headers,
    })
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_header_line(line: &str) -> Result<(String, String), Response> {
    if line.starts_with([' ', '\t']) {
        return Err(bad_request("obsolete header line folding"));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| bad_request("header line without ':'"))?;
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(bad_request("malformed header name"));
    }
    Ok((
        name.to_ascii_lowercase(),
        value.trim_matches([' ', '\t']).to_string(),
    ))
}

/// Splits origin-form (`/p?q`) or absolute-form (`http://h/p?q`) targets.
fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), Response> {
    let target = target.split('#').next().unwrap_or("");
    let origin = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if origin != "*" && !origin.starts_with('/') {
        return Err(bad_request("request target must start with '/'"));
    }
    let (raw_path, raw_query) = origin.split_once('?').unwrap_or((origin, ""));
    let path = percent_decode(raw_path, false).map_err(|e| bad_request(&e))?;
    let query = parse_query(raw_query).map_err(|e| bad_request(&e))?;
    Ok((path, query))
}

/// Parses `a=1&b=x+y&a=2` (query strings and form bodies): order and
/// repeated keys kept, `+` = space, percent-decoded, empty pieces skipped.
pub fn parse_query(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Decodes `%XX` (and `+` as space when `plus_space`); bad escapes or
/// invalid UTF-8 are errors, as a strict server would treat them.
fn percent_decode(s: &str, plus_space: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-escape in `{s}`"))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-decoded `{s}` is not UTF-8"))
}

// ---------------------------------------------------------------------------
// Response framing

/// Standard reason phrases for the statuses the simulator uses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Headers the server owns; a handler's values for them are ignored.
const FRAMING_HEADERS: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "content-encoding",
];

/// The gateway headers of §3, each sent unless the handler set it.
fn gateway_headers(upstream_ms: u128) -> Vec<(&'static str, String)> {
    vec![
        ("date", http_date(chrono::Utc::now())),
        (
            "cache-control",
            "no-cache, no-store, max-age=0, must-revalidate".into(),
        ),
        ("pragma", "no-cache".into()),
        ("expires", "0".into()),
        (
            "strict-transport-security",
            "max-age=31536000 ; includeSubDomains".into(),
        ),
        ("x-frame-options", "DENY".into()),
        ("x-content-type-options", "nosniff".into()),
        ("x-xss-protection", "0".into()),
        ("referrer-policy", "no-referrer".into()),
        ("access-control-allow-origin", "*".into()),
        ("access-control-expose-headers", "*".into()),
        ("vary", "accept-encoding".into()),
        ("via", "kong/3.7.1".into()),
        ("x-kong-request-id", random_hex(32)),
        ("x-kong-upstream-latency", upstream_ms.to_string()),
        ("x-kong-proxy-latency", "1".into()),
        ("cf-cache-status", "DYNAMIC".into()),
        ("cf-ray", format!("{}-FRA", random_hex(16))),
        ("server", "cloudflare".into()),
    ]
}

/// IMF-fixdate (RFC 9110 §5.6.7).
pub fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Serialized head and body of a response, ready to write.
struct Wire {
    head: Vec<u8>,
    body: Vec<u8>,
}

fn encode(resp: Response, keep_alive: bool, gzip: bool, upstream_ms: u128) -> Wire {
    let Response {
        status,
        headers,
        mut body,
    } = resp;
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
        body.clear();
    }
    let compressed = gzip && !body.is_empty();
    if compressed {
        body = gzip_bytes(&body);
    }
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    let mut push = |k: &str, v: &str| {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    };
    let own: Vec<&(String, String)> = headers
        .iter()
        .filter(|(k, _)| !FRAMING_HEADERS.iter().any(|f| k.eq_ignore_ascii_case(f)))
        .collect();
    for (k, v) in gateway_headers(upstream_ms) {
        if !own.iter().any(|(name, _)| name.eq_ignore_ascii_case(k)) {
            push(k, &v);
        }
    }
    for (k, v) in &own {
        push(k, v);
    }
    if compressed {
        push("content-encoding", "gzip");
    }
    if status != 204 {
        push("content-length", &body.len().to_string());
    }
    push(
        "connection",
        if keep_alive { "keep-alive" } else { "close" },
    );
    head.push_str("\r\n");
    Wire {
        head: head.into_bytes(),
        body,
    }
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// `n` lowercase hex digits, unpredictable enough for ids (not crypto).
pub fn random_hex(n: usize) -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    let mut rng = SplitMix64::new(
        seed ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(&format!("{:016x}", rng.next_u64()));
    }
    s.truncate(n);
    s
}

// ---------------------------------------------------------------------------
// Connections

/// Result of waiting for more bytes.
enum Fill {
    Data,
    /// Client closed, idle timeout passed, server stopping, or socket error.
    Closed,
}

struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
    idle: Duration,
}

/// What reading the next request produced.
enum Incoming {
    Request(Request, bool),
    /// A final error response; the connection closes after it.
    Reject(Response),
    Closed,
}

impl Connection {
    fn new(stream: TcpStream, stop: Arc<AtomicBool>, idle: Duration) -> Connection {
        let _ = stream.set_read_timeout(Some(POLL));
        // A client that stops reading must not pin the thread forever.
        let _ = stream.set_write_timeout(Some(idle));
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            buf: Vec::new(),
            stop,
            idle,
        }
    }

    fn run<H: Fn(Request) -> Reply>(mut self, handler: &H) {
        let Ok(peer) = self.stream.peer_addr() else {
            return;
        };
        loop {
            let (req, keep_alive) = match self.next_request(peer) {
                Incoming::Request(r, k) => (r, k),
                Incoming::Reject(resp) => {
                    let _ = self.write(encode(resp, false, false, 0), None);
                    break;
                }
                Incoming::Closed => break,
            };
            let gzip = req.accepts_gzip();
            let head_only = req.method == "HEAD";
            let started = Instant::now();
            let reply = catch_unwind(AssertUnwindSafe(|| handler(req))).unwrap_or_else(|_| {
                Reply::Normal(Response::problem(
                    500,
                    "Internal Server Error",
                    "simulator handler panicked",
                ))
            });
            let ms = started.elapsed().as_millis();
            let stopping = self.stop.load(Ordering::SeqCst);
            let keep = keep_alive && !stopping;
            let go_on = self.send(reply, keep, gzip, head_only, ms);
            if !go_on || !keep {
                break;
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Writes the reply; returns whether the connection may be reused.
    fn send(&mut self, reply: Reply, keep: bool, gzip: bool, head_only: bool, ms: u128) -> bool {
        match reply {
            Reply::Normal(r) => self.write_full(r, keep, gzip, head_only, ms),
            Reply::Slow(d, r) => {
                thread::sleep(d);
                let ms = ms + d.as_millis();
                self.write_full(r, keep, gzip, head_only, ms)
            }
            Reply::Truncated(r) => {
                let wire = encode(r, false, gzip, ms);
                let half = wire.body.len() / 2;
                let _ = self.write(wire, Some(half));
                false
            }
            Reply::Drop => false,
            Reply::Hang(d) => {
                self.hang(d);
                false
            }
        }
    }

    fn write_full(
        &mut self,
        r: Response,
        keep: bool,
        gzip: bool,
        head_only: bool,
        ms: u128,
    ) -> bool {
        let wire = encode(r, keep, gzip, ms);
        let limit = head_only.then_some(0);
        self.write(wire, limit).is_ok() && keep
    }

    /// Writes the head and the first `body_limit` bytes (all if `None`).
    fn write(&mut self, wire: Wire, body_limit: Option<usize>) -> io::Result<()> {
        let n = body_limit.unwrap_or(wire.body.len()).min(wire.body.len());
        let mut out = wire.head;
        out.extend_from_slice(&wire.body[..n]);
        self.stream.write_all(&out)?;
        self.stream.flush()
    }

    /// Holds the connection for `d`, returning early if the client closes it
    /// or the server stops.
    fn hang(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut probe = [0u8; 1];
        while Instant::now() < deadline && !self.stop.load(Ordering::SeqCst) {
            match self.stream.peek(&mut probe) {
                Ok(0) => return,
                // The client sent more (pipelined); keep ignoring it.
                Ok(_) => thread::sleep(POLL),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads more bytes into `buf`, waiting up to the idle timeout. The stop
    /// flag only ends the wait between requests (`between` = buffer empty),
    /// so a request already arriving is still answered.
    fn fill(&mut self) -> Fill {
        let deadline = Instant::now() + self.idle;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Fill::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Fill::Data;
                }
                Err(e) if is_timeout(&e) => {
                    let between = self.buf.is_empty();
                    if Instant::now() >= deadline || (between && self.stop.load(Ordering::SeqCst)) {
                        return Fill::Closed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Fill::Closed,
            }
        }
    }

    fn next_request(&mut self, peer: SocketAddr) -> Incoming {
        let head_end = loop {
            let skip = leading_blank_lines(&self.buf);
            self.buf.drain(..skip);
            if let Some(end) = find_head_end(&self.buf) {
                break end;
            }
            if self.buf.len() > MAX_HEAD {
                return Incoming::Reject(Response::problem(
                    431,
                    "Request Header Fields Too Large",
                    "request head too large",
                ));
            }
            if let Fill::Closed = self.fill() {
                return Incoming::Closed;
            }
        };
        if head_end > MAX_HEAD {
            return Incoming::Reject(Response::problem(
                431,
                "Request Header Fields Too Large",
                "request head too large",
            ));
        }
        let head = match parse_head(&self.buf[..head_end]) {
            Ok(h) => h,
            Err(resp) => return Incoming::Reject(resp),
        };
        let body_len = match head.body_len() {
            Ok(n) => n,
            Err(resp) => return Incoming::Reject(resp),
        };
        let total = head_end + body_len;
        if self.buf.len() < total && expects_continue(&head) {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        while self.buf.len() < total {
            if let Fill::Closed = self.fill() {
                return Incoming::Closed;
            }
        }
        let body = self.buf[head_end..total].to_vec();
        self.buf.drain(..total);
        let keep_alive = head.keep_alive();
        let req = Request {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            body,
            peer,
        };
        Incoming::Request(req, keep_alive)
    }
}

fn expects_continue(head: &Head) -> bool {
    !head.http10
        && head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
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
                "/problem" => {
                    Reply::Normal(Response::problem(404, "Not Found", "Unknown endpoint"))
                }
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
        let h = parse_head(
            b"GET http://h:1/v2/sites?page=2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.path, "/v2/sites");
        assert!(h.http10 && h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(h.body_len().unwrap_err().status, 501);
        let h = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
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
}
