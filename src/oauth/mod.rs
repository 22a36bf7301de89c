//! OAuth 2.0 Site Access for homeowners (reference §4.2–4.3): the token store, the login
//! flow (consent URL, pasted or caught redirect, code exchange) and the refresh logic that
//! never loses a rotating refresh token.
//!
//! - [`store`]: one JSON file of grants, mode 0600, replaced atomically (temporary file in
//!   the same directory, fsync, rename, fsync of the directory) under a lock on a sibling
//!   file. A reader always sees a complete version.
//! - [`token`]: [`token::access_token`] hands out a usable access token for a site and
//!   refreshes it when it expires within [`token::Policy::margin`], when the refresh token
//!   has been idle for [`token::Policy::idle`], or when the server rejected it (401). The
//!   refresh runs under the store lock after re-reading the store (a second process waits
//!   and reuses the first one's result), and the rotated refresh token is on disk before
//!   the new access token is returned. `invalid_grant` marks the grant dead.
//! - [`login`]: the authorize URL, the random `state`/`external_id`, parsing and checking
//!   the redirect URL.
//! - [`listen`]: the one-shot loopback listener of `seh auth login --listen` (the only
//!   HTTP server in seh; API traffic still goes through `api::Client` only).
//!
//! Secrets (client secret, codes, tokens) live in [`crate::api::Secret`]; no `Debug`,
//! `Display` or error of this module shows one. The token endpoint's `Date` header is not
//! used: token times are taken on the same server-clock estimate the harvester plans with
//! (`Client::server_now`), so expiry decisions and planning agree.

pub mod listen;
pub mod login;
pub mod store;
pub mod token;

/// The permissions seh asks for: site data and device telemetry.
pub const SCOPES: [&str; 2] = ["SITE_DATA", "DEVICE_DATA"];

/// Months of access requested (the maximum Connect grants).
pub const ACCESS_MONTHS: u32 = 24;

/// Refresh tokens die after this many days without use (reference §4.2 item 5).
pub const REFRESH_IDLE_LIMIT_DAYS: i64 = 30;
