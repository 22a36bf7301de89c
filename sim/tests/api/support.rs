//! Test harness: an in-process simulator with a frozen clock, and small HTTP helpers on
//! ureq that never turn a 4xx/5xx into an error.

#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use seh_sim::app::SimOptions;
use seh_sim::Running;
use serde_json::{json, Value};

pub const KEY: &str = "sim-fleet-key";
pub const BERLIN: i64 = 2_150_001;
pub const SYDNEY: i64 = 3_150_002;
pub const DENVER: i64 = 4_150_003;
pub const LISBON: i64 = 5_150_004;
pub const PROBLEM_TYPE: &str = "https://se-api.stoplight.io/docs/monitoring";

/// The fixed start of every test simulator: 2026-11-26T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

pub fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

pub fn berlin() -> Tz {
    tz("Europe/Berlin")
}

pub fn sydney() -> Tz {
    tz("Australia/Sydney")
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Local midnight of `d` in `zone` as a UTC instant.
pub fn midnight(d: NaiveDate, zone: Tz) -> DateTime<Utc> {
    seh_sim::time::local_midnight(d, zone)
}

/// Options for a deterministic simulator: fixed start, frozen clock, and limits high
/// enough that only the tests about limits meet them.
pub fn options() -> SimOptions {
    let mut o = SimOptions::new(t0());
    o.speed = 0.0;
    o.limits.per_minute = 1_000_000;
    o.limits.monthly_credits = 1_000_000_000;
    o
}

pub fn agent(timeout: Option<std::time::Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(timeout)
        .build()
        .into()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    /// Asserts the RFC 7807 shape of the reference §6 and returns the body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let v = self.json();
        assert_eq!(v["type"], PROBLEM_TYPE);
        assert_eq!(v["status"], status);
        assert!(v["title"].is_string());
        assert!(v["detail"].is_string());
        let trace = v["traceId"].as_str().expect("traceId");
        assert_eq!(trace.len(), 32, "{trace}");
        assert!(
            trace
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{trace}"
        );
        v
    }

    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or("").to_string()
    }
}

/// Turns a ureq result into a [`Resp`] (panics on a transport error).
pub fn read(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    try_read(r).unwrap_or_else(|e| panic!("transport error: {e}"))
}

pub fn try_read(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Resp, ureq::Error> {
    let mut r = r?;
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(200_000_000)
        .read_to_vec()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// Percent-encodes a query value (keeps RFC 3986 unreserved characters).
pub fn q(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// RFC 3339 UTC with `Z`, whole seconds.
pub fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses a wire timestamp (any offset) to UTC.
pub fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// A running simulator plus an agent.
pub struct Sim {
    pub running: Running,
    pub agent: ureq::Agent,
}

impl Sim {
    pub fn start(opts: SimOptions) -> Sim {
        let running = seh_sim::start(opts, "127.0.0.1:0").expect("simulator starts");
        Sim {
            running,
            agent: agent(Some(std::time::Duration::from_secs(30))),
        }
    }

    pub fn default() -> Sim {
        Sim::start(options())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.url, path)
    }

    /// GET with the fleet key.
    pub fn get(&self, path: &str) -> Resp {
        self.get_h(path, &[("X-API-Key", KEY)])
    }

    /// GET with exactly these headers.
    pub fn get_h(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.call())
    }

    pub fn bearer(&self, path: &str, token: &str) -> Resp {
        self.get_h(path, &[("Authorization", &format!("Bearer {token}"))])
    }

    /// GET with the fleet key, asserting 200 and returning the JSON body.
    pub fn ok(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        read(
            self.agent
                .post(self.url(path))
                .header("content-type", "application/json")
                .send(body.to_string()),
        )
    }

    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", q(k), q(v)))
            .collect();
        read(
            self.agent
                .post(self.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .send(body.join("&")),
        )
    }

    pub fn delete(&self, path: &str) -> Resp {
        read(self.agent.delete(self.url(path)).call())
    }

    pub fn stats(&self) -> Value {
        let r = self.get_h("/_sim/stats", &[]);
        assert_eq!(r.status, 200);
        r.json()
    }

    /// Moves the frozen virtual clock.
    pub fn advance(&self, d: Duration) {
        self.running.app.clock.advance(d);
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        self.running.app.clock.set(t);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.running.app.clock.now()
    }

    /// `GET {path}?{params}&from=..&to=..` with UTC `Z` parameters.
    pub fn window(
        &self,
        path: &str,
        params: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Value {
        let sep = if params.is_empty() { "" } else { "&" };
        self.ok(&format!(
            "{path}?{params}{sep}from={}&to={}",
            q(&z(from)),
            q(&z(to))
        ))
    }

    /// The `values` of a series endpoint over [from, to), fetched in consecutive windows
    /// of at most `step` (the documented limits force this for quarter-hours and hours).
    pub fn values_windowed(
        &self,
        path: &str,
        params: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Duration,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let mut a = from;
        while a < to {
            let b = (a + step).min(to);
            let v = self.window(path, params, a, b);
            out.extend(v["values"].as_array().expect("values").iter().cloned());
            a = b;
        }
        out
    }

    /// OAuth: consent for `site` with `scope`, exchange the code; returns the token body.
    pub fn login(&self, site: i64, scope: &str) -> Value {
        let loc = self.authorize(&format!(
            "client_id=sim-client&scope={}&sim_site={site}",
            q(scope)
        ));
        let code = query_param(&loc, "code").expect("code");
        let r = self.post_json(
            "/v2/oauth2/token",
            &json!({"grant_type": "authorization_code", "code": code,
                    "client_id": "sim-client", "client_secret": "sim-secret"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// GET /authorize?{query}, asserting a 302, returning the Location.
    pub fn authorize(&self, query: &str) -> String {
        let r = self.get_h(&format!("/authorize?{query}"), &[]);
        assert_eq!(r.status, 302, "{}", r.text());
        r.header("location").expect("location").to_string()
    }
}

/// A query parameter of a URL, percent-decoded.
pub fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| pct_decode(v))
    })
}

pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
            out.push(h);
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Values of a series as numbers (`None` for null).
pub fn nums(values: &[Value]) -> Vec<Option<f64>> {
    values.iter().map(|v| v["value"].as_f64()).collect()
}

pub fn stamps(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v["timestamp"].as_str().expect("timestamp").to_string())
        .collect()
}

pub fn sum(values: &[Value]) -> f64 {
    values.iter().filter_map(|v| v["value"].as_f64()).sum()
}

pub fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

/// `|a - b| <= tol`, with a readable message.
#[track_caller]
pub fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tol {tol})");
}
