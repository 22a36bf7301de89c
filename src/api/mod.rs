//! SolarEdge Monitoring API V2: the only module that talks HTTP.
//!
//! `client` holds the [`Client`]: one blocking `ureq::Agent`, the minute `Limiter`, the
//! retry loop, the observer that receives a `CallRecord` for every attempt (so the caller
//! can keep the credit ledger without `api` knowing about storage) and the server's clock.
//! `error` holds the typed [`Error`] the harvester branches on (minute limit vs credits
//! exhausted, auth rejected, transient, bad JSON), `ParseError` and the pure
//! classification of an answer. `credential` holds [`Credential`] and [`Secret`].
//!
//! The family modules (`sites`, `devices`, `series`, ...) own their paths, query parameters,
//! private serde wire types and a pure `parse` into `crate::model` rows; they do no IO.
//! This file only declares the modules, re-exports their public items under `api::`, and
//! holds the base URL and the percent-encoding the families share; it must not grow logic.
//!
//! Invariants: `api` never imports `store`; no secret ever reaches a log line, an error, a
//! `CallRecord` or a URL (credentials travel in headers only); waits are done in slices so
//! Ctrl-C is honoured within 200 ms, but a request in flight is allowed to complete.

pub(crate) mod alerts;
pub(crate) mod benefits;
mod client;
mod credential;
pub(crate) mod devices;
mod error;
mod json;
pub(crate) mod limiter;
pub(crate) mod oauth;
pub(crate) mod overview;
pub(crate) mod power_flow;
pub(crate) mod problem;
pub(crate) mod series;
pub(crate) mod sites;
pub(crate) mod telemetry;
pub(crate) mod time;
pub(crate) mod units;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

// Public: what the integration tests (and any other user of the library) need.
pub use client::{Client, ClientConfig, Fetched, RateInfo, RetryPolicy};
pub use credential::{Credential, Secret};
pub use error::Error;
// Crate-wide only.
pub(crate) use client::CallRecord;
pub(crate) use error::ParseError;
pub(crate) use limiter::Limiter;

/// The V2 base URL; configurable so tests and the simulator can stand in for it.
pub const DEFAULT_BASE_URL: &str = "https://monitoringapi.solaredge.com/v2";

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
