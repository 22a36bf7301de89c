//! Request parsing for `http`: the request line and headers ([`Head`]), the target's path
//! and query, percent-decoding. Pure functions over bytes, unit-tested without sockets.
//!
//! It must not touch a socket, keep connection state or build any response other than
//! the 400 it refuses a malformed request with; reading and framing live in `http`.

use super::{Response, MAX_BODY};

/// Request line and headers.
#[derive(Debug, PartialEq)]
pub(super) struct Head {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) http10: bool,
    pub(super) headers: Vec<(String, String)>,
}

impl Head {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after this exchange.
    pub(super) fn keep_alive(&self) -> bool {
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
    pub(super) fn body_len(&self) -> Result<usize, Response> {
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

pub(super) fn bad_request(detail: &str) -> Response {
    Response::problem(400, "Bad Request", detail)
}

/// End of the head: index just past the blank line (CRLF or bare LF).
pub(super) fn find_head_end(buf: &[u8]) -> Option<usize> {
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
pub(super) fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while i < buf.len() && (buf[i] == b'\r' || buf[i] == b'\n') {
        i += 1;
    }
    i
}

pub(super) fn parse_head(raw: &[u8]) -> Result<Head, Response> {
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

pub(super) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn parse_header_line(line: &str) -> Result<(String, String), Response> {
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
pub(super) fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), Response> {
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
pub(super) fn percent_decode(s: &str, plus_space: bool) -> Result<String, String> {
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
