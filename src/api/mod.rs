//! SolarEdge Monitoring API V2 client: the only module that talks HTTP.
//!
//! [`Client`] sends every request through one blocking `ureq::Agent`, the minute
//! [`Limiter`], and a retry loop, and turns HTTP statuses into a typed [`Error`] the harvester
//! can branch on (minute limit vs credits exhausted, auth rejected, transient, bad JSON).
//! Every HTTP attempt is reported to a caller-supplied observer as a [`CallRecord`], so the
//! caller can keep the credit ledger without `api` knowing about storage.
//!
//! The family modules (`sites`, `devices`, `series`, ...) own their paths, query parameters,
//! private serde wire types and a pure `parse` into `crate::model` rows; they do no IO.
//!
//! Invariants: `api` never imports `store`; no secret ever reaches a log line, an error, a
//! [`CallRecord`] or a URL (credentials travel in headers only); waits are done in slices so
//! Ctrl-C is honoured within 200 ms, but a request in flight is allowed to complete.

pub mod alerts;
pub mod benefits;
pub mod devices;
mod json;
pub mod limiter;
pub mod oauth;
pub mod overview;
pub mod power_flow;
pub mod problem;
pub mod series;
pub mod sites;
pub mod telemetry;
pub mod time;
pub mod units;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

pub use limiter::Limiter;

use crate::clock::{self, Anchor};
use crate::model::SiteId;

/// The V2 base URL; configurable so tests and the simulator can stand in for it.
pub const DEFAULT_BASE_URL: &str = "https://monitoringapi.solaredge.com/v2";

const USER_AGENT: &str = concat!("seh/", env!("CARGO_PKG_VERSION"));

/// Telemetry for many devices over long windows can be large; ureq's default cap is 10 MB.
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Longest single sleep, so a stop request is noticed quickly.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// Extra wait after a minute boundary when the server gave no usable `Retry-After`.
const MINUTE_MARGIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Secrets and credentials

/// A secret string (API key, token). `Debug` and `Display` print `****`; only
/// [`Secret::expose`] gives the value, and only the request builder calls it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// How data requests authenticate.
#[derive(Clone, Debug)]
pub enum Credential {
    /// Fleet Access: `X-API-Key`, plus the legacy `X-Account-Key` when the user has one.
    ApiKey {
        key: Secret,
        account_key: Option<Secret>,
    },
    /// Site Access (OAuth): `Authorization: Bearer`. One grant covers one site, whose id
    /// names the credential in the ledger.
    Bearer { token: Secret, site_id: SiteId },
    /// No credential, for a client that only talks to the OAuth token endpoint.
    None,
}

impl Credential {
    /// A non-secret name for the ledger: `key`, `oauth:site<ID>` or `none`. Never contains
    /// any part of a key or token.
    pub fn label(&self) -> String {
        match self {
            Credential::ApiKey { .. } => "key".to_string(),
            Credential::Bearer { site_id, .. } => format!("oauth:site{site_id}"),
            Credential::None => "none".to_string(),
        }
    }

    fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::ApiKey { key, account_key } => {
                let mut v = vec![key.expose()];
                v.extend(account_key.as_ref().map(Secret::expose));
                v
            }
            Credential::Bearer { token, .. } => vec![token.expose()],
            Credential::None => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// The minute window as reported by `x-ratelimit-limit-minute` / `x-ratelimit-remaining-minute`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
}

/// A successful (2xx) response. The body is returned as-is, even when empty or not JSON:
/// the family parsers report that as a decode error.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub status: u16,
    pub body: String,
    pub fetched_at: DateTime<Utc>,
    pub path: String,
    /// The encoded query string without `?` (no secrets: credentials are headers).
    pub query_string: String,
    pub rate: RateInfo,
    /// The server's `Date` header: its clock, for callers that should not trust the local
    /// one (a Raspberry Pi has no RTC; the simulator runs on virtual time).
    pub server_date: Option<DateTime<Utc>>,
}

/// One HTTP attempt, reported to the observer whether it succeeded or not.
#[derive(Clone, Debug)]
pub struct CallRecord<'a> {
    /// When the attempt started.
    pub at: DateTime<Utc>,
    /// [`Credential::label`] of the credential sent (`none` for the token endpoint).
    pub credential: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// HTTP status, or 0 when no response arrived.
    pub status: u16,
    /// The worst case: 1 whenever the request may have reached the server (any answer, and
    /// a timeout, reset or truncated body after connecting, which the server may have
    /// charged), 0 only when it certainly did not (DNS failure, connection refused,
    /// connect timeout).
    pub credits: u32,
    pub duration: Duration,
    /// Why the attempt did not succeed, if it did not; never contains a secret.
    pub error: Option<&'a str>,
}

/// Receives every [`CallRecord`].
pub type CallObserver = Box<dyn FnMut(&CallRecord<'_>)>;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a request failed. The harvester branches on the variant; `Display` is for people.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The stop flag was set (Ctrl-C) before or between attempts.
    Interrupted,
    /// 429 meaning the monthly credits are used up: stop until the billing cycle resets.
    CreditsExhausted { detail: String },
    /// Minute-limit 429s persisted, or `Retry-After` asked for longer than we wait.
    RateLimited { retry_after_s: u64 },
    /// 400; `window_too_long` when the detail talks about the time span; `oauth` the
    /// `error` code of an RFC 6749 body (the token endpoint's refusals).
    BadRequest {
        detail: String,
        window_too_long: bool,
        oauth: Option<oauth::OAuthCode>,
    },
    /// 401: missing, invalid, expired or revoked credential; `oauth` the `error` code of an
    /// OAuth body (`invalid_token` for a bearer token, `invalid_client` from the token
    /// endpoint).
    Unauthorized {
        detail: String,
        oauth: Option<oauth::OAuthCode>,
    },
    /// 403; `tier` when the operation needs a higher API tier, `other_site` when an OAuth
    /// grant does not cover the site.
    Forbidden {
        detail: String,
        tier: bool,
        other_site: bool,
    },
    /// 404 (unknown endpoint or site).
    NotFound { detail: String },
    /// 410: a Monitoring API V1 URL or credential.
    Gone,
    /// Any other non-success status (other 4xx, unexpected 3xx).
    Http { status: u16, detail: String },
    /// 5xx that persisted through the retries.
    Server { status: u16 },
    /// Network failure (connect, timeout, TLS, truncated body) after retries.
    Transport { detail: String },
    /// A response we cannot use (unexpected content type, or a body the parsers reject).
    Decode { what: String },
}

impl Error {
    /// Worth trying again later in the same or the next run.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::Server { .. } | Error::Transport { .. }
        )
    }
}

/// Writes `": detail"` when there is one.
fn with_detail(f: &mut fmt::Formatter<'_>, detail: &str) -> fmt::Result {
    if detail.is_empty() {
        Ok(())
    } else {
        write!(f, ": {detail}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Interrupted => f.write_str("interrupted"),
            Error::CreditsExhausted { detail } => {
                f.write_str("monthly api credits exhausted (429)")?;
                with_detail(f, detail)
            }
            Error::RateLimited { retry_after_s } => write!(
                f,
                "minute rate limit still exceeded (429, retry after {retry_after_s} s)"
            ),
            Error::BadRequest {
                detail,
                window_too_long,
                ..
            } => {
                f.write_str("bad request (400)")?;
                if *window_too_long {
                    f.write_str(", time window too long")?;
                }
                with_detail(f, detail)
            }
            Error::Unauthorized { detail, .. } => {
                f.write_str("credential rejected (401)")?;
                with_detail(f, detail)
            }
            Error::Forbidden {
                detail,
                tier,
                other_site,
            } => {
                f.write_str("access denied (403)")?;
                if *tier {
                    f.write_str(", needs a higher api tier")?;
                }
                if *other_site {
                    f.write_str(", the oauth grant does not cover this site")?;
                }
                with_detail(f, detail)
            }
            Error::NotFound { detail } => {
                f.write_str("not found (404)")?;
                with_detail(f, detail)
            }
            Error::Gone => write!(
                f,
                "gone (410): monitoring api v1 was retired on 2026-11-03, \
                 use v2 credentials and the v2 base url {DEFAULT_BASE_URL}"
            ),
            Error::Http { status, detail } => {
                write!(f, "http status {status}")?;
                with_detail(f, detail)
            }
            Error::Server { status } => write!(f, "server error {status} persisted after retries"),
            Error::Transport { detail } => write!(f, "network error: {detail}"),
            Error::Decode { what } => write!(f, "cannot decode response: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// A body the family parsers could not turn into model rows. Carries a short description
/// (which field, what was wrong), never the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: String,
}

impl ParseError {
    pub fn new(what: impl Into<String>) -> ParseError {
        ParseError { what: what.into() }
    }

    /// From a serde_json error, prefixed with what was being read. serde_json messages quote
    /// at most one offending token, so this stays short.
    pub(crate) fn json(context: &str, e: &serde_json::Error) -> ParseError {
        let mut msg = e.to_string();
        if msg.chars().count() > 200 {
            msg = msg.chars().take(200).collect::<String>() + "…";
        }
        ParseError::new(format!("{context}: {msg}"))
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Decode { what: e.what }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Retries for transient failures (5xx, timeouts, connection errors) and minute-limit 429s.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after transient failures of one request: `max_retries + 1` attempts in all
    /// (0 = no retry). `[api] max_retries` in the config.
    pub max_retries: u32,
    /// First backoff; doubled per failure, jittered into [d/2, d].
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
    /// A minute-limit 429 asking to wait longer than this fails as [`Error::RateLimited`].
    pub max_retry_after: Duration,
    /// How many minute-limit 429s one request may wait out.
    pub max_rate_limit_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            max_rate_limit_retries: 3,
        }
    }
}

/// Everything [`Client::new`] needs; `ClientConfig::new` fills in the defaults.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: String,
    pub credential: Credential,
    /// Calls per minute until the response headers say otherwise (Free tier: 10).
    pub per_minute: u32,
    pub retry: RetryPolicy,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Server seconds per real second. 1 for SolarEdge; larger only when testing against a
    /// simulator whose clock runs faster, so minute-window waits shrink accordingly.
    pub time_scale: f64,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, credential: Credential) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            credential,
            per_minute: limiter::DEFAULT_PER_MINUTE,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            time_scale: 1.0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// A blocking SolarEdge V2 client. One per credential; not shared between threads.
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    credential: Credential,
    label: String,
    limiter: Limiter,
    retry: RetryPolicy,
    stop: Arc<AtomicBool>,
    observer: Option<CallObserver>,
    rng: XorShift,
    last_rate: RateInfo,
    /// The server's `Date` of the last answer and when it arrived: the basis of
    /// [`Client::server_now`].
    last_server: Option<(DateTime<Utc>, Instant)>,
    time_scale: f64,
    /// The server and local clocks read together earlier (e.g. by the previous run), from
    /// which the server's clock is estimated until its own `Date` header arrives.
    clock_anchor: Option<Anchor>,
    /// The server's first `Date` minus the estimate it replaced: how wrong the clock was
    /// that anything before the first answer was planned on.
    correction: Option<chrono::Duration>,
    /// Origin of the limiter's clock, which runs at `time_scale` (server time).
    epoch: Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("credential", &self.label)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What one attempt produced, before classification.
struct Raw {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    rate: RateInfo,
    server_date: Option<DateTime<Utc>>,
    body: String,
}

/// An attempt that failed in transport; `status` is set when headers arrived but the body
/// did not.
struct AttemptError {
    status: u16,
    err: ureq::Error,
}

/// The decision taken on an answered attempt.
#[derive(Debug, PartialEq)]
enum Verdict {
    Success,
    /// 5xx: back off and retry.
    ServerError,
    /// Minute-limit 429: wait this long (`None`: until the next minute) and retry.
    MinuteLimit(Option<Duration>),
    Fail(Error),
}

impl Client {
    /// Builds the agent (rustls, gzip, timeouts, `Accept: application/json`, our
    /// `User-Agent`, no redirects, HTTP error statuses returned as responses).
    pub fn new(config: ClientConfig, stop: Arc<AtomicBool>) -> Client {
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(USER_AGENT)
            .accept("application/json")
            // A redirect could carry our custom key header to another host; SolarEdge does
            // not redirect API calls, so a 3xx is reported as an error instead.
            .max_redirects(0)
            .build();
        let label = config.credential.label();
        Client {
            agent: ureq::Agent::new_with_config(agent_config),
            base_url: config.base_url.trim_end_matches('/').to_string(),
            credential: config.credential,
            label,
            limiter: Limiter::new(config.per_minute),
            retry: config.retry,
            stop,
            observer: None,
            rng: XorShift::from_clock(),
            last_rate: RateInfo::default(),
            last_server: None,
            time_scale: if config.time_scale.is_finite() && config.time_scale > 0.0 {
                config.time_scale
            } else {
                1.0
            },
            epoch: Instant::now(),
            clock_anchor: None,
            correction: None,
        }
    }

    /// Installs the observer that receives a [`CallRecord`] for every HTTP attempt.
    pub fn set_observer(&mut self, observer: CallObserver) {
        self.observer = Some(observer);
    }

    /// Replaces the credential, e.g. after an OAuth refresh.
    pub fn set_credential(&mut self, credential: Credential) {
        self.label = credential.label();
        self.credential = credential;
    }

    /// The ledger name of the current credential.
    pub fn credential_label(&self) -> &str {
        &self.label
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// "Now" on the server's clock: its last `Date` header plus the time since, or before
    /// any answer the estimate from the stored anchor (see [`crate::clock`]), or the local
    /// clock when there is neither. A Raspberry Pi has no real-time clock and may run with
    /// a wrong time; planning and the ledger follow the server instead.
    pub fn server_now(&self) -> DateTime<Utc> {
        match self.last_server {
            Some((date, seen)) => {
                let elapsed = seen.elapsed().as_secs_f64() * self.time_scale;
                date + chrono::Duration::milliseconds((elapsed * 1000.0) as i64)
            }
            None => clock::estimate(self.clock_anchor, Utc::now(), self.time_scale),
        }
    }

    /// Whether a server answered this client yet, so [`Client::server_now`] is the
    /// server's own clock rather than an estimate.
    pub fn has_server_time(&self) -> bool {
        self.last_server.is_some()
    }

    /// How far the first answer's `Date` was from the estimate before it (server minus
    /// estimate); `None` until a server answered with a `Date`.
    pub fn clock_correction(&self) -> Option<chrono::Duration> {
        self.correction
    }

    /// The server and local clocks as they read now, for the next run to estimate from.
    pub fn anchor_now(&self) -> Anchor {
        Anchor {
            server: self.server_now(),
            local: Utc::now(),
        }
    }

    /// The scale between local and server time (`[api] time_scale`; 1 outside tests).
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Clocks read together earlier (e.g. stored by the previous run): until the server's
    /// own `Date` header arrives, its clock is estimated from them.
    pub fn set_clock_anchor(&mut self, anchor: Anchor) {
        self.clock_anchor = Some(anchor);
    }

    /// The limiter's clock: real time sped up by `time_scale`.
    fn limiter_now(&self) -> Instant {
        self.epoch + self.epoch.elapsed().mul_f64(self.time_scale)
    }

    /// A wait on the limiter's clock converted to real time.
    fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.time_scale)
    }

    /// The rate headers of the last answered call.
    pub fn last_rate(&self) -> RateInfo {
        self.last_rate
    }

    /// `GET base_url + path ? query`. Keys may repeat (`types=INVERTER&types=METER`).
    pub fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Fetched, Error> {
        self.execute(Method::Get, path, &encode_query(query), None)
    }

    /// `POST` a JSON body without any credential header (the OAuth token and revoke
    /// endpoints authenticate with the client id and secret inside the body).
    pub fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Result<Fetched, Error> {
        self.execute(Method::Post, path, "", Some(body))
    }

    fn execute(
        &mut self,
        method: Method,
        path: &str,
        query_string: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Fetched, Error> {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let mut url = format!("{}{}", self.base_url, path);
        if !query_string.is_empty() {
            url.push('?');
            url.push_str(query_string);
        }
        let body_text = json.map(|v| v.to_string());
        // Secrets inside a posted body (client secret, refresh token, code) must not come
        // back in an error text either.
        let body_secrets = json.map(secret_values).unwrap_or_default();
        let label = match method {
            Method::Get => self.label.clone(),
            Method::Post => Credential::None.label(),
        };

        let mut transient_failures = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            self.check_stop()?;
            self.wait_for_limiter()?;
            self.check_stop()?;

            let at = self.server_now();
            let started = Instant::now();
            // Trace (-vv): path and query only; credentials travel in headers, never here.
            let sep = if query_string.is_empty() { "" } else { "?" };
            log::trace!("{} {path}{sep}{query_string}: sending", method.as_str());
            let outcome = self.attempt(method, &url, body_text.as_deref());
            let duration = started.elapsed();

            let raw = match outcome {
                Ok(raw) => raw,
                Err(AttemptError { status, err }) => {
                    let transient = is_transient_transport(&err);
                    // Headers arrived, or the request may have reached the server before the
                    // failure: it may have been charged, so the ledger books the credit.
                    let charged = status != 0 || may_have_reached_server(&err);
                    let detail = self.scrub(err.to_string(), &body_secrets);
                    self.record(&CallRecord {
                        at,
                        credential: &label,
                        method: method.as_str(),
                        path: &path,
                        query: query_string,
                        status,
                        credits: u32::from(charged),
                        duration,
                        error: Some(&detail),
                    });
                    transient_failures += 1;
                    if transient && transient_failures <= self.retry.max_retries {
                        let wait = self.backoff(transient_failures);
                        log::warn!(
                            "{} {path}: {detail}; retry {transient_failures} of {} in {} ms",
                            method.as_str(),
                            self.retry.max_retries,
                            wait.as_millis()
                        );
                        self.sleep(wait)?;
                        continue;
                    }
                    return Err(Error::Transport { detail });
                }
            };

            self.last_rate = raw.rate;
            if let Some(d) = raw.server_date {
                if self.last_server.is_none() {
                    self.correction = Some(d - self.server_now());
                }
                self.last_server = Some((d, Instant::now()));
            }
            let to_boundary = secs_to_minute_boundary(raw.server_date, SystemTime::now());
            let limiter_now = self.limiter_now();
            self.limiter
                .observe(limiter_now, raw.rate.limit, raw.rate.remaining, to_boundary);
            log::trace!(
                "{} {path}: status {}, content-type {}, {} bytes, rate limit {}/minute with {} \
                 left, server date {}, retry-after {}; limiter holds {:.1} of {} tokens",
                method.as_str(),
                raw.status,
                raw.content_type.as_deref().unwrap_or("-"),
                raw.body.len(),
                raw.rate.limit.map_or("-".into(), |n| n.to_string()),
                raw.rate.remaining.map_or("-".into(), |n| n.to_string()),
                raw.server_date.map_or("-".into(), |d| d.to_rfc3339()),
                raw.retry_after.as_deref().unwrap_or("-"),
                self.limiter.tokens(),
                self.limiter.per_minute()
            );
            let verdict = classify(&raw, Utc::now());
            let verdict = match verdict {
                Verdict::Fail(e) => Verdict::Fail(self.scrub_error(e, &body_secrets)),
                v => v,
            };
            let error_text = match &verdict {
                Verdict::Success => None,
                Verdict::ServerError => Some(format!("server error {}", raw.status)),
                Verdict::MinuteLimit(_) => Some("minute rate limit (429)".to_string()),
                Verdict::Fail(e) => Some(e.to_string()),
            };
            // The ledger counts against the server's billing cycle: stamp answered calls
            // with the server's own clock when it sent one.
            let at = raw.server_date.unwrap_or(at);
            self.record(&CallRecord {
                at,
                credential: &label,
                method: method.as_str(),
                path: &path,
                query: query_string,
                status: raw.status,
                credits: 1,
                duration,
                error: error_text.as_deref(),
            });
            log::debug!(
                "{} {path}{}{query_string} -> {} in {} ms",
                method.as_str(),
                if query_string.is_empty() { "" } else { "?" },
                raw.status,
                duration.as_millis()
            );

            match verdict {
                Verdict::Success => {
                    return Ok(Fetched {
                        status: raw.status,
                        body: raw.body,
                        fetched_at: at,
                        path,
                        query_string: query_string.to_string(),
                        rate: raw.rate,
                        server_date: raw.server_date,
                    })
                }
                Verdict::Fail(e) => return Err(e),
                Verdict::ServerError => {
                    transient_failures += 1;
                    if transient_failures > self.retry.max_retries {
                        return Err(Error::Server { status: raw.status });
                    }
                    let wait = self.backoff(transient_failures);
                    log::warn!(
                        "{} {path}: server error {}; retry {transient_failures} of {} in {} ms",
                        method.as_str(),
                        raw.status,
                        self.retry.max_retries,
                        wait.as_millis()
                    );
                    self.sleep(wait)?;
                }
                Verdict::MinuteLimit(retry_after) => {
                    // Retry-After is in real seconds; the boundary is on the server's clock.
                    let wait = retry_after.unwrap_or_else(|| {
                        self.real(Duration::from_secs_f64(to_boundary) + MINUTE_MARGIN)
                    });
                    rate_limit_waits += 1;
                    if wait > self.retry.max_retry_after
                        || rate_limit_waits > self.retry.max_rate_limit_retries
                    {
                        return Err(Error::RateLimited {
                            retry_after_s: wait.as_secs_f64().ceil() as u64,
                        });
                    }
                    log::warn!(
                        "{} {path}: minute rate limit; waiting {} ms",
                        method.as_str(),
                        wait.as_millis()
                    );
                    // The limiter does the waiting at the top of the loop.
                    let until = self.limiter_now() + wait.mul_f64(self.time_scale);
                    self.limiter.hold_until(until);
                }
            }
        }
    }

    /// One HTTP exchange: send, then read the whole body.
    fn attempt(&self, method: Method, url: &str, json: Option<&str>) -> Result<Raw, AttemptError> {
        let no_status = |err| AttemptError { status: 0, err };
        let response = match (method, json) {
            (Method::Post, body) => self
                .agent
                .post(url)
                .content_type("application/json")
                .send(body.unwrap_or("{}"))
                .map_err(no_status)?,
            (Method::Get, _) => {
                let mut req = self.agent.get(url);
                match &self.credential {
                    Credential::ApiKey { key, account_key } => {
                        req = req.header("X-API-Key", key.expose());
                        if let Some(account_key) = account_key {
                            req = req.header("X-Account-Key", account_key.expose());
                        }
                    }
                    Credential::Bearer { token, .. } => {
                        req = req.header("Authorization", format!("Bearer {}", token.expose()));
                    }
                    Credential::None => {}
                }
                req.call().map_err(no_status)?
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
        };
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let server_date = header("date").and_then(|d| parse_http_date(&d));
        let rate = rate_info(
            header("x-ratelimit-limit-minute").as_deref(),
            header("x-ratelimit-remaining-minute").as_deref(),
        );
        let body = response
            .into_body()
            .into_with_config()
            .limit(MAX_BODY_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|err| AttemptError { status, err })?;
        Ok(Raw {
            status,
            content_type,
            retry_after,
            rate,
            server_date,
            body,
        })
    }

    fn record(&mut self, record: &CallRecord<'_>) {
        if let Some(observer) = self.observer.as_mut() {
            observer(record);
        }
    }

    fn check_stop(&self) -> Result<(), Error> {
        if self.stop.load(Ordering::SeqCst) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps in slices of at most [`WAIT_SLICE`], returning early when the stop flag is set.
    fn sleep(&self, total: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + total;
        loop {
            self.check_stop()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            std::thread::sleep((deadline - now).min(WAIT_SLICE));
        }
    }

    fn wait_for_limiter(&mut self) -> Result<(), Error> {
        while let Some(wait) = self.limiter.wait_before_call(self.limiter_now()) {
            let wait = self.real(wait);
            log::debug!("minute limiter: waiting {} ms", wait.as_millis());
            self.sleep(wait)?;
        }
        log::trace!(
            "minute limiter: call allowed, {:.1} of {} tokens left",
            self.limiter.tokens(),
            self.limiter.per_minute()
        );
        Ok(())
    }

    /// Exponential backoff with "equal jitter": `d = min(cap, base·2^(n-1))`, wait in
    /// `[d/2, d]`, so retries of several clients do not line up.
    fn backoff(&mut self, failures: u32) -> Duration {
        let exp = 2f64.powi(failures.saturating_sub(1).min(30) as i32);
        let d = self.retry.base_delay.mul_f64(exp).min(self.retry.max_delay);
        d / 2 + (d / 2).mul_f64(self.rng.next_unit())
    }

    /// Replaces every secret we know of with `****`.
    fn scrub(&self, mut text: String, extra: &[String]) -> String {
        let known = self.credential.secrets();
        for secret in known.into_iter().chain(extra.iter().map(String::as_str)) {
            if secret.len() >= 4 && text.contains(secret) {
                text = text.replace(secret, "****");
            }
        }
        text
    }

    fn scrub_error(&self, e: Error, extra: &[String]) -> Error {
        let s = |d: String| self.scrub(d, extra);
        match e {
            Error::CreditsExhausted { detail } => Error::CreditsExhausted { detail: s(detail) },
            Error::BadRequest {
                detail,
                window_too_long,
                oauth,
            } => Error::BadRequest {
                detail: s(detail),
                window_too_long,
                oauth,
            },
            Error::Unauthorized { detail, oauth } => Error::Unauthorized {
                detail: s(detail),
                oauth,
            },
            Error::Forbidden {
                detail,
                tier,
                other_site,
            } => Error::Forbidden {
                detail: s(detail),
                tier,
                other_site,
            },
            Error::NotFound { detail } => Error::NotFound { detail: s(detail) },
            Error::Http { status, detail } => Error::Http {
                status,
                detail: s(detail),
            },
            Error::Transport { detail } => Error::Transport { detail: s(detail) },
            Error::Decode { what } => Error::Decode { what: s(what) },
            other => other,
        }
    }
}

/// Turns an answered attempt into a decision. Pure, so the status rules are unit-tested
/// without a server.
fn classify(raw: &Raw, now: DateTime<Utc>) -> Verdict {
    let status = raw.status;
    if (200..300).contains(&status) {
        if let Some(ct) = raw.content_type.as_deref() {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !mime.is_empty() && !mime.contains("json") {
                return Verdict::Fail(Error::Decode {
                    what: format!("unexpected content type {mime}"),
                });
            }
        }
        return Verdict::Success;
    }
    if status >= 500 {
        return Verdict::ServerError;
    }
    let detail = problem::detail(&raw.body);
    let lower = detail.to_ascii_lowercase();
    let mentions = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    // The `error` field of an OAuth body, where the token endpoint and bearer checks put
    // the reason; descriptions differ between servers (reference §6.1).
    let oauth = || oauth::parse_error(&raw.body).map(|e| e.code);
    Verdict::Fail(match status {
        // The headers tell the two 429s apart, never the body: the gateway's own minute
        // limit answers `{"message":"API rate limit exceeded"}` (reference §6.1), and a body
        // that happens to mention credits must not stop the harvest until the billing date.
        429 => match (raw.rate.remaining, raw.retry_after.as_deref()) {
            // The minute window is empty: wait for Retry-After, or the next minute.
            (Some(0), retry_after) => {
                return Verdict::MinuteLimit(retry_after.and_then(|v| parse_retry_after(v, now)))
            }
            // A server that says when to come back is not out of credits for a month;
            // misreading a minute limit as credits would stop all calls until the renewal.
            (_, Some(value)) => return Verdict::MinuteLimit(parse_retry_after(value, now)),
            // Calls left this minute and no Retry-After: the credits are exhausted.
            (_, None) => Error::CreditsExhausted { detail },
        },
        400 => Error::BadRequest {
            window_too_long: mentions(&["span", "window", "range", "period", "exceed", "too long"]),
            oauth: oauth(),
            detail,
        },
        401 => Error::Unauthorized {
            oauth: oauth(),
            detail,
        },
        403 => Error::Forbidden {
            tier: mentions(&["tier"]),
            other_site: mentions(&["grant", "include this site", "other site", "another site"]),
            detail,
        },
        404 => Error::NotFound { detail },
        410 => Error::Gone,
        _ => Error::Http { status, detail },
    })
}

/// `Retry-After` as delta-seconds (fractions tolerated) or an HTTP date; `None` when
/// unreadable, which the caller treats as "until the next minute". More seconds than a
/// `Duration` holds (`1e20`) saturate: a wait that long is refused like any too long one.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date (`Date` header), RFC 2822 style as HTTP sends it; `None` when unreadable.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The minute window from the (trimmed) `x-ratelimit-limit-minute` and
/// `x-ratelimit-remaining-minute` values; a value that is not a `u32` counts as absent.
fn rate_info(limit: Option<&str>, remaining: Option<&str>) -> RateInfo {
    RateInfo {
        limit: limit.and_then(|s| s.parse().ok()),
        remaining: remaining.and_then(|s| s.parse().ok()),
    }
}

/// Whether a failed attempt may have reached the server, which may then have charged a
/// credit. Decided on ureq's error kinds: only failures before the request could be sent
/// (name resolution, a refused or unreachable connection, the connect timeout, a request
/// that could not be built) are certainly free; anything later (a timeout while waiting
/// for the answer, a reset or closed connection, a truncated body, a protocol error), and
/// any kind not known here, is booked as charged.
fn may_have_reached_server(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::TlsRequired => false,
        ureq::Error::Timeout(t) => !matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable
        ),
        _ => true,
    }
}

fn is_transient_transport(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
            | ureq::Error::Decompress(..)
            | ureq::Error::BodyStalled
    )
}

/// Seconds to the next minute boundary of the server's clock: from its `Date` header when
/// it sent one (whole seconds, so this errs long by up to 1 s), else from our clock.
fn secs_to_minute_boundary(server_date: Option<DateTime<Utc>>, now: SystemTime) -> f64 {
    match server_date {
        Some(d) => f64::from(60 - chrono::Timelike::second(&d).min(59)),
        None => secs_to_next_minute(now),
    }
}

/// Seconds from `now` to the next wall-clock minute boundary, in (0, 60].
fn secs_to_next_minute(now: SystemTime) -> f64 {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() % 60_000)
        .unwrap_or(0);
    (60_000 - ms) as f64 / 1000.0
}

/// String values under secret-looking keys of a JSON body (`client_secret`,
/// `refresh_token`, `code`, `token`, ...), for scrubbing error texts.
fn secret_values(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = v {
        for (k, v) in map {
            let k = k.to_ascii_lowercase();
            let secret_key = ["secret", "token", "code", "password"]
                .iter()
                .any(|w| k.contains(w));
            if let (true, serde_json::Value::String(s)) = (secret_key, v) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// Percent-encodes a query string, keeping key order and repeated keys.
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

/// Percent-encodes one path segment or query component (RFC 3986 unreserved kept), so `+`
/// in an offset becomes `%2B` instead of a space.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A tiny xorshift generator for retry jitter; no need for a `rand` dependency.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn from_clock() -> XorShift {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        XorShift(nanos | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
