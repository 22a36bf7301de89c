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

mod parse;

pub use parse::parse_query;
use parse::{find_head_end, leading_blank_lines, parse_head, Head};

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
mod tests;
