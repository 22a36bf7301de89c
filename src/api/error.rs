//! What can go wrong with a request and how an answer is judged: the typed [`Error`] the
//! harvester branches on, [`ParseError`] from the family parsers, and the pure
//! classification of an attempt: [`classify`] turns an answered attempt ([`Raw`]: status,
//! headers, body) into a [`Verdict`] (success, retry, wait for the minute, fail), the
//! header parsers (`Retry-After`, `Date`, `x-ratelimit-*`) feed it, and
//! [`may_have_reached_server`] / [`is_transient_transport`] judge a failed transport.
//!
//! Everything here is pure and unit-tested without a server. It must not do IO, sleep or
//! read a clock (callers pass `now`), and no `Display` may contain a secret: texts that
//! could (details, transport messages) are scrubbed by the client through
//! [`Error::map_details`]. Decisions read statuses, headers and OAuth `error` codes, not
//! descriptions, except the documented keyword flags of a 400 or 403.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{oauth, problem, RateInfo, DEFAULT_BASE_URL};

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
    /// The same error with `f` applied to every free text it carries (details, transport
    /// messages, decode descriptions); the client uses it to scrub secrets.
    pub(super) fn map_details(self, f: impl Fn(String) -> String) -> Error {
        match self {
            Error::CreditsExhausted { detail } => Error::CreditsExhausted { detail: f(detail) },
            Error::BadRequest {
                detail,
                window_too_long,
                oauth,
            } => Error::BadRequest {
                detail: f(detail),
                window_too_long,
                oauth,
            },
            Error::Unauthorized { detail, oauth } => Error::Unauthorized {
                detail: f(detail),
                oauth,
            },
            Error::Forbidden {
                detail,
                tier,
                other_site,
            } => Error::Forbidden {
                detail: f(detail),
                tier,
                other_site,
            },
            Error::NotFound { detail } => Error::NotFound { detail: f(detail) },
            Error::Http { status, detail } => Error::Http {
                status,
                detail: f(detail),
            },
            Error::Transport { detail } => Error::Transport { detail: f(detail) },
            Error::Decode { what } => Error::Decode { what: f(what) },
            other => other,
        }
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
// Classification

/// What one attempt produced, before classification.
pub(super) struct Raw {
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    pub(super) retry_after: Option<String>,
    pub(super) rate: RateInfo,
    pub(super) server_date: Option<DateTime<Utc>>,
    pub(super) body: String,
}

/// The decision taken on an answered attempt.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    Success,
    /// 5xx: back off and retry.
    ServerError,
    /// Minute-limit 429: wait this long (`None`: until the next minute) and retry.
    MinuteLimit(Option<Duration>),
    Fail(Error),
}

/// Turns an answered attempt into a decision. Pure, so the status rules are unit-tested
/// without a server.
pub(super) fn classify(raw: &Raw, now: DateTime<Utc>) -> Verdict {
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
pub(super) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
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
pub(super) fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The minute window from the (trimmed) `x-ratelimit-limit-minute` and
/// `x-ratelimit-remaining-minute` values; a value that is not a `u32` counts as absent.
pub(super) fn rate_info(limit: Option<&str>, remaining: Option<&str>) -> RateInfo {
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
pub(super) fn may_have_reached_server(e: &ureq::Error) -> bool {
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

/// Whether a transport failure is worth retrying (network, timeout, protocol, a body that
/// stalled or did not decompress); a request that could not be built is not.
pub(super) fn is_transient_transport(e: &ureq::Error) -> bool {
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
