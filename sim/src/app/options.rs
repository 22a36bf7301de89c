//! What a simulator can be configured to do: [`SimOptions`] and the small enums that choose
//! between body variants the real API has been seen to serve (reference §6.1, Q4, Q5).
//!
//! Plain data with defaults. It must not read the environment or the command line (`main`
//! does that), nor act on an option: the pipeline and the operations read these fields.

use crate::gen::TelemetryStamp;
use crate::oauth;
use crate::ratelimit::Limits;
use crate::scenario::Scenario;
use crate::windows::WindowLimits;
use chrono::{DateTime, Utc};

/// How `/sites` is shaped (reference Q5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitesShape {
    /// `{"sites":{"count":N,"site":[...]}}`, seen live in 2026 (default).
    Wrapped,
    /// A bare array, the 2023 documentation and 2025 generation.
    Bare,
}

/// What `count` in the wrapped `/sites` shape means (reference Q5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitesCount {
    Total,
    Page,
}

/// Scale of `stateOfEnergy` (reference Q4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoeScale {
    /// 0–1 with unit `PERCENTAGE`, as observed live in 2025 and 2026 (default).
    Fraction,
    /// 0–100 with unit `PERCENTAGE`, as documented.
    Percent,
}

/// Spelling of site status words such as `activationStatus` (reference §6.1 "Status
/// spelling").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCase {
    /// `ACTIVE`, `PENDING`, `INACTIVE`: what live bodies say (default).
    Upper,
    /// `Active`, `Pending`, `Inactive`: what hand-written bodies in other clients say.
    Title,
}

impl StatusCase {
    /// `word` spelled this way.
    pub fn spell(self, word: &str) -> String {
        match self {
            StatusCase::Upper => word.to_ascii_uppercase(),
            StatusCase::Title => {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        }
    }
}

/// Body of the 429s (reference §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitBody {
    /// problem+json with a `detail` (the documented shape, default).
    Problem,
    /// The API gateway's own rate-limiting body, `{"message":"API rate limit exceeded"}`
    /// as `application/json`, for the minute limit and the exhausted credits alike: only
    /// the headers tell the two apart.
    Gateway,
}

/// Everything configurable about a running simulator.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub speed: f64,
    pub api_keys: Vec<String>,
    /// The sites the API keys can read (their account's sites); `None`: every site. Other
    /// sites answer a key with 403 and are missing from `/sites` and fleet `/alerts`, as a
    /// homeowner's site outside an installer's account does.
    pub key_sites: Option<Vec<i64>>,
    pub windows: WindowLimits,
    pub limits: Limits,
    pub oauth_clients: Vec<oauth::Client>,
    pub oauth_echo_state: bool,
    /// When set, `/authorize` approves this site at once (no consent page).
    pub oauth_auto_approve: Option<i64>,
    pub advanced: bool,
    pub faults: Vec<String>,
    pub late_max_minutes: u32,
    pub sites_shape: SitesShape,
    pub sites_count: SitesCount,
    pub soe_scale: SoeScale,
    /// Leave `location.timezone` out of `/sites/{id}` (`/sites` never carries it), as the
    /// 2025 live list did (reference §6.1). Data is still generated in each site's zone.
    pub omit_timezone: bool,
    /// Spelling of `activationStatus` in `/sites` and `/sites/{id}`.
    pub status_case: StatusCase,
    /// Where inverter voltage, current and frequency are stamped.
    pub telemetry_stamp: TelemetryStamp,
    /// Serve `consumedAcPower` (W) and `consumedAcEnergy` (WH) in inverter telemetry, as a
    /// body that looks captured live does (reference §6.1); the documented shape has not.
    pub inverter_consumption: bool,
    pub rate_limit_body: RateLimitBody,
    /// OAuth answers as other V2 clients saw them (reference §6.1).
    pub oauth_variants: oauth::Variants,
    pub scenario: Scenario,
}

impl SimOptions {
    /// Defaults matching the Free tier and the built-in fleet, starting at `start`.
    pub fn new(start: DateTime<Utc>) -> SimOptions {
        SimOptions {
            seed: 1,
            start,
            speed: 1.0,
            api_keys: vec!["sim-fleet-key".into()],
            key_sites: None,
            windows: WindowLimits::profile(crate::windows::Profile::Documented),
            limits: Limits::free_tier(),
            oauth_clients: vec![oauth::Client::new(
                "sim-client",
                "sim-secret",
                "https://localhost/callback",
            )],
            oauth_echo_state: true,
            oauth_auto_approve: None,
            advanced: false,
            faults: Vec::new(),
            late_max_minutes: 45,
            sites_shape: SitesShape::Wrapped,
            sites_count: SitesCount::Total,
            soe_scale: SoeScale::Fraction,
            omit_timezone: false,
            status_case: StatusCase::Upper,
            telemetry_stamp: TelemetryStamp::End,
            inverter_consumption: false,
            rate_limit_body: RateLimitBody::Problem,
            oauth_variants: oauth::Variants::default(),
            scenario: Scenario::default_fleet(),
        }
    }
}
