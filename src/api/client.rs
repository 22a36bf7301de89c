//! The blocking HTTP client: [`Client`] sends every request through one `ureq::Agent`, the
//! minute [`Limiter`] and a retry loop (jittered backoff for transient failures,
//! `Retry-After` for minute-limit 429s), reports every attempt to the observer as a
//! [`CallRecord`], and keeps the server's clock (its `Date` header, or the stored
//! [`Anchor`] until the first answer).
//!
//! This is the only file in seh that performs HTTP (apart from the OAuth login's loopback
//! listener) and the only one in `api` that sleeps or reads the clock. It must not judge
//! answers itself (that is [`super::error::classify`]), parse bodies (the family modules)
//! or know about storage: the ledger is the caller's observer. No secret may reach a log
//! line, an error, a [`CallRecord`] or a URL: credentials travel in headers only, and every
//! error text is scrubbed of the credential and of secrets in a posted body. Waits are
//! slept in slices so Ctrl-C is honoured within 200 ms; a request in flight completes.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use super::credential::secret_values;
use super::error::{
    classify, is_transient_transport, may_have_reached_server, parse_http_date, rate_info, Raw,
    Verdict,
};
use super::{encode_query, limiter, Credential, Error, Limiter};
use crate::clock::{self, Anchor};

const USER_AGENT: &str = concat!("seh/", env!("CARGO_PKG_VERSION"));

/// Telemetry for many devices over long windows can be large; ureq's default cap is 10 MB.
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Longest single sleep, so a stop request is noticed quickly.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// Extra wait after a minute boundary when the server gave no usable `Retry-After`.
const MINUTE_MARGIN: Duration = Duration::from_secs(1);

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

/// An attempt that failed in transport; `status` is set when headers arrived but the body
/// did not.
struct AttemptError {
    status: u16,
    err: ureq::Error,
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
    pub(crate) fn set_observer(&mut self, observer: CallObserver) {
        self.observer = Some(observer);
    }

    /// Replaces the credential, e.g. after an OAuth refresh.
    pub fn set_credential(&mut self, credential: Credential) {
        self.label = credential.label();
        self.credential = credential;
    }

    /// The base URL requests go to, without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// "Now" on the server's clock: its last `Date` header plus the time since, or before
    /// any answer the estimate from the stored anchor (see [`crate::clock`]), or the local
    /// clock when there is neither. A Raspberry Pi has no real-time clock and may run with
    /// a wrong time; planning and the ledger follow the server instead.
    pub(crate) fn server_now(&self) -> DateTime<Utc> {
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
    pub(crate) fn has_server_time(&self) -> bool {
        self.last_server.is_some()
    }

    /// How far the first answer's `Date` was from the estimate before it (server minus
    /// estimate); `None` until a server answered with a `Date`.
    pub(crate) fn clock_correction(&self) -> Option<chrono::Duration> {
        self.correction
    }

    /// The server and local clocks as they read now, for the next run to estimate from.
    pub(crate) fn anchor_now(&self) -> Anchor {
        Anchor {
            server: self.server_now(),
            local: Utc::now(),
        }
    }

    /// The scale between local and server time (`[api] time_scale`; 1 outside tests).
    pub(crate) fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Clocks read together earlier (e.g. stored by the previous run): until the server's
    /// own `Date` header arrives, its clock is estimated from them.
    pub(crate) fn set_clock_anchor(&mut self, anchor: Anchor) {
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

    /// `GET base_url + path ? query`. Keys may repeat (`types=INVERTER&types=METER`).
    pub fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Fetched, Error> {
        self.execute(Method::Get, path, &encode_query(query), None)
    }

    /// `POST` a JSON body without any credential header (the OAuth token and revoke
    /// endpoints authenticate with the client id and secret inside the body).
    pub(crate) fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Fetched, Error> {
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
    pub(super) fn backoff(&mut self, failures: u32) -> Duration {
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
        e.map_details(|d| self.scrub(d, extra))
    }
}

/// Seconds to the next minute boundary of the server's clock: from its `Date` header when
/// it sent one (whole seconds, so this errs long by up to 1 s), else from our clock.
pub(super) fn secs_to_minute_boundary(server_date: Option<DateTime<Utc>>, now: SystemTime) -> f64 {
    match server_date {
        Some(d) => f64::from(60 - chrono::Timelike::second(&d).min(59)),
        None => secs_to_next_minute(now),
    }
}

/// Seconds from `now` to the next wall-clock minute boundary, in (0, 60].
pub(super) fn secs_to_next_minute(now: SystemTime) -> f64 {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() % 60_000)
        .unwrap_or(0);
    (60_000 - ms) as f64 / 1000.0
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
