//! Per-minute cap and monthly credit accounting for one developer account.
//!
//! Reference §5: every call costs one credit; the Free tier has 2,000 credits
//! a month and 10 calls a minute; the limits are shared by every application
//! (and so every credential) of the developer account; the minute window is a
//! fixed window per clock minute (remaining 9→8→7, back to 9 right after
//! hh:mm:00); the monthly cycle resets on the billing anniversary, not the
//! calendar 1st. This module is pure bookkeeping driven by the virtual clock's
//! `now`; the HTTP layer turns an [`Admission`] into headers and statuses.
//!
//! Choices where the reference is silent, made so clients can tell the two
//! kinds of 429 apart exactly as §5 describes them:
//! - a minute-limit 429 consumes neither a credit nor a minute slot;
//! - a credits-exhausted 429 does not consume a minute slot either, so it is
//!   always seen with `x-ratelimit-remaining-minute` > 0 and no `Retry-After`;
//! - every admitted call consumes one credit whatever status the handler
//!   later gives it (a 404 decremented the live minute counter, S3).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{json, Value};

/// What happens once the monthly allowance is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditMode {
    /// Documented behaviour: 429 "credits exhausted" until the cycle resets.
    Hard,
    /// Observed in August 2026 (S5): keep answering, only count the excess.
    Soft,
}

impl CreditMode {
    /// Parses `hard` / `soft` (CLI and scenario files).
    pub fn parse(s: &str) -> Result<CreditMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hard" => Ok(CreditMode::Hard),
            "soft" => Ok(CreditMode::Soft),
            other => Err(format!(
                "unknown credit mode `{other}` (expected `hard` or `soft`)"
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            CreditMode::Hard => "hard",
            CreditMode::Soft => "soft",
        }
    }
}

/// The limits of a developer account's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Calls per clock minute (≥ 1).
    pub per_minute: u32,
    /// Credits per billing cycle.
    pub monthly_credits: u64,
    pub credit_mode: CreditMode,
    /// Day of month (1..=28, UTC) on which the cycle resets at 00:00.
    pub billing_day: u32,
}

impl Limits {
    /// The documented Free tier: 10/min, 2,000 credits, hard stop, cycle on
    /// the 1st.
    pub fn free_tier() -> Limits {
        Limits {
            per_minute: 10,
            monthly_credits: 2_000,
            credit_mode: CreditMode::Hard,
            billing_day: 1,
        }
    }

    /// Checks the ranges; use it where limits come from user input.
    pub fn validate(&self) -> Result<(), String> {
        if self.per_minute == 0 {
            return Err("per_minute must be at least 1".into());
        }
        if !(1..=28).contains(&self.billing_day) {
            return Err(format!(
                "billing_day must be 1..=28 (every month has it), got {}",
                self.billing_day
            ));
        }
        Ok(())
    }

    /// Forces out-of-range values into range so accounting never panics.
    fn clamped(mut self) -> Limits {
        self.per_minute = self.per_minute.max(1);
        self.billing_day = self.billing_day.clamp(1, 28);
        self
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::free_tier()
    }
}

/// The verdict on one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Serve it; `remaining` is the minute counter after this call.
    Allowed { limit: u32, remaining: u32 },
    /// 429 with `x-ratelimit-remaining-minute: 0` and `Retry-After`
    /// (convert `retry_after_virtual` with `Clock::real_secs_for`).
    MinuteExceeded {
        limit: u32,
        retry_after_virtual: Duration,
    },
    /// 429 credits exhausted: remaining-minute > 0, no `Retry-After`.
    CreditsExhausted { limit: u32, remaining: u32 },
}

impl Admission {
    pub fn limit(&self) -> u32 {
        match *self {
            Admission::Allowed { limit, .. }
            | Admission::MinuteExceeded { limit, .. }
            | Admission::CreditsExhausted { limit, .. } => limit,
        }
    }

    pub fn remaining(&self) -> u32 {
        match *self {
            Admission::Allowed { remaining, .. }
            | Admission::CreditsExhausted { remaining, .. } => remaining,
            Admission::MinuteExceeded { .. } => 0,
        }
    }

    /// The two `x-ratelimit-*-minute` headers for this verdict.
    pub fn headers(&self) -> Vec<(String, String)> {
        rate_headers(self.limit(), self.remaining())
    }
}

/// `x-ratelimit-limit-minute` and `x-ratelimit-remaining-minute`, sent on
/// every response (200 and 404 alike, §3).
pub fn rate_headers(limit: u32, remaining: u32) -> Vec<(String, String)> {
    vec![
        ("x-ratelimit-limit-minute".to_string(), limit.to_string()),
        (
            "x-ratelimit-remaining-minute".to_string(),
            remaining.to_string(),
        ),
    ]
}

/// Per-credential counters for the admin stats.
#[derive(Debug, Default, Clone)]
struct CredentialStats {
    calls: u64,
    rate_limited_429: u64,
    credits_429: u64,
}

/// Accounting state of one developer account.
#[derive(Debug)]
pub struct Accounting {
    limits: Limits,
    /// Start of the clock minute the counter belongs to.
    minute_start: Option<DateTime<Utc>>,
    minute_used: u32,
    /// Cycle the credit counter belongs to.
    cycle: Option<DateTime<Utc>>,
    credits_used: u64,
    total_calls: u64,
    admitted: u64,
    rate_limited_429: u64,
    credits_429: u64,
    /// Calls let through in soft mode beyond the allowance.
    over_allowance: u64,
    by_credential: BTreeMap<String, CredentialStats>,
    by_path: BTreeMap<String, u64>,
}

impl Accounting {
    pub fn new(limits: Limits) -> Accounting {
        Accounting {
            limits: limits.clamped(),
            minute_start: None,
            minute_used: 0,
            cycle: None,
            credits_used: 0,
            total_calls: 0,
            admitted: 0,
            rate_limited_429: 0,
            credits_429: 0,
            over_allowance: 0,
            by_credential: BTreeMap::new(),
            by_path: BTreeMap::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the tier at run time (admin endpoint); counters are kept.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits.clamped();
    }

    /// Decides on one call at virtual time `now` and records it. `credential`
    /// is a label for the stats only (all credentials share the limits);
    /// `path` is whatever grouping key the caller wants in the stats.
    pub fn admit(&mut self, now: DateTime<Utc>, credential: &str, path: &str) -> Admission {
        self.roll_windows(now);
        self.total_calls += 1;
        *self.by_path.entry(path.to_string()).or_default() += 1;
        let limit = self.limits.per_minute;
        let cred = self
            .by_credential
            .entry(credential.to_string())
            .or_default();
        cred.calls += 1;

        if self.minute_used >= limit {
            self.rate_limited_429 += 1;
            cred.rate_limited_429 += 1;
            let next_minute = minute_floor(now) + Duration::minutes(1);
            return Admission::MinuteExceeded {
                limit,
                retry_after_virtual: next_minute - now,
            };
        }
        let exhausted = self.credits_used >= self.limits.monthly_credits;
        if exhausted && self.limits.credit_mode == CreditMode::Hard {
            self.credits_429 += 1;
            cred.credits_429 += 1;
            return Admission::CreditsExhausted {
                limit,
                remaining: limit - self.minute_used,
            };
        }
        if exhausted {
            self.over_allowance += 1;
        }
        self.minute_used += 1;
        self.credits_used += 1;
        self.admitted += 1;
        Admission::Allowed {
            limit,
            remaining: limit - self.minute_used,
        }
    }

    /// Resets the minute counter and the credit counter when `now` has left
    /// their window (also when the clock was set backwards).
    fn roll_windows(&mut self, now: DateTime<Utc>) {
        let minute = minute_floor(now);
        if self.minute_start != Some(minute) {
            self.minute_start = Some(minute);
            self.minute_used = 0;
        }
        let cycle = self.cycle_start(now);
        if self.cycle != Some(cycle) {
            self.cycle = Some(cycle);
            self.credits_used = 0;
        }
    }

    /// Credits used in the cycle containing `now`.
    pub fn credits_used(&self, now: DateTime<Utc>) -> u64 {
        if self.cycle == Some(self.cycle_start(now)) {
            self.credits_used
        } else {
            0
        }
    }

    /// Start of the billing cycle containing `now`: the latest billing-day
    /// midnight (UTC) that is ≤ `now`.
    pub fn cycle_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        cycle_start(now, self.limits.billing_day)
    }

    /// When the credits of the cycle containing `now` reset.
    pub fn next_reset(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.cycle_start(now) + Months::new(1)
    }

    /// Counters for the admin endpoint.
    pub fn stats(&self) -> Value {
        let by_credential: serde_json::Map<String, Value> = self
            .by_credential
            .iter()
            .map(|(k, s)| {
                (
                    k.clone(),
                    json!({
                        "calls": s.calls,
                        "rate_limited_429": s.rate_limited_429,
                        "credits_429": s.credits_429,
                    }),
                )
            })
            .collect();
        json!({
            "limits": {
                "per_minute": self.limits.per_minute,
                "monthly_credits": self.limits.monthly_credits,
                "credit_mode": self.limits.credit_mode.as_str(),
                "billing_day": self.limits.billing_day,
            },
            "total_calls": self.total_calls,
            "admitted": self.admitted,
            "credits_used_cycle": self.credits_used,
            "cycle_start": self.cycle.map(|c| c.to_rfc3339()),
            "next_reset": self.cycle.map(|c| (c + Months::new(1)).to_rfc3339()),
            "over_allowance": self.over_allowance,
            "rate_limited_429": self.rate_limited_429,
            "credits_429": self.credits_429,
            "minute": {
                "start": self.minute_start.map(|m| m.to_rfc3339()),
                "used": self.minute_used,
            },
            "by_credential": by_credential,
            "by_path": self.by_path,
        })
    }
}

fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    // with_second/with_nanosecond cannot fail for 0 on a UTC time.
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

/// Latest `billing_day` 00:00 UTC that is ≤ `now` (`billing_day` 1..=28, so
/// it exists in every month).
fn cycle_start(now: DateTime<Utc>, billing_day: u32) -> DateTime<Utc> {
    let day = billing_day.clamp(1, 28);
    let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), day)
        .expect("day 1..=28 exists in every month");
    let candidate = midnight(this_month);
    if candidate <= now {
        candidate
    } else {
        candidate - Months::new(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn limits(mode: CreditMode, billing_day: u32) -> Limits {
        Limits {
            credit_mode: mode,
            billing_day,
            ..Limits::free_tier()
        }
    }

    #[test]
    fn ten_per_minute_then_429_with_retry_after() {
        let mut a = Accounting::new(Limits::free_tier());
        let t = at(2026, 8, 24, 16, 5, 44);
        for i in 0..10u32 {
            assert_eq!(
                a.admit(t, "key", "/v2/sites"),
                Admission::Allowed {
                    limit: 10,
                    remaining: 9 - i
                }
            );
        }
        let eleventh = a.admit(t, "key", "/v2/sites");
        assert_eq!(
            eleventh,
            Admission::MinuteExceeded {
                limit: 10,
                retry_after_virtual: Duration::seconds(16)
            }
        );
        assert_eq!(eleventh.remaining(), 0);
        // The 429 cost no credit.
        assert_eq!(a.credits_used(t), 10);
        assert_eq!(a.stats()["rate_limited_429"], 1);
    }

    #[test]
    fn minute_resets_right_after_the_boundary() {
        let mut a = Accounting::new(Limits::free_tier());
        let t = at(2026, 8, 24, 16, 5, 44);
        a.admit(t, "k", "/p");
        a.admit(t + Duration::seconds(7), "k", "/p");
        let third = a.admit(t + Duration::seconds(13), "k", "/p");
        assert_eq!(third.remaining(), 7);
        // 16:06:03: a fresh window.
        let fourth = a.admit(t + Duration::seconds(19), "k", "/p");
        assert_eq!(fourth.remaining(), 9);
        // Exactly on the boundary counts as the new minute.
        let mut b = Accounting::new(Limits::free_tier());
        for _ in 0..10 {
            b.admit(at(2026, 8, 24, 16, 5, 59), "k", "/p");
        }
        assert!(matches!(
            b.admit(at(2026, 8, 24, 16, 5, 59), "k", "/p"),
            Admission::MinuteExceeded { .. }
        ));
        assert_eq!(
            b.admit(at(2026, 8, 24, 16, 6, 0), "k", "/p"),
            Admission::Allowed {
                limit: 10,
                remaining: 9
            }
        );
    }

    #[test]
    fn credits_exhausted_at_2000_in_hard_mode() {
        let mut a = Accounting::new(Limits::free_tier());
        let mut t = at(2026, 8, 2, 0, 0, 0);
        for _ in 0..2_000 {
            assert!(matches!(a.admit(t, "k", "/p"), Admission::Allowed { .. }));
            t += Duration::seconds(7); // stays under 10/min
        }
        let refused = a.admit(t, "k", "/p");
        assert!(matches!(refused, Admission::CreditsExhausted { .. }));
        assert!(refused.remaining() > 0, "distinguishable from minute 429");
        assert_eq!(a.credits_used(t), 2_000);
        let s = a.stats();
        assert_eq!(s["credits_429"], 1);
        assert_eq!(s["total_calls"], 2_001);
        // Next cycle (1st of September) allows again.
        let sept = at(2026, 9, 1, 0, 0, 0);
        assert!(matches!(
            a.admit(sept, "k", "/p"),
            Admission::Allowed { .. }
        ));
        assert_eq!(a.credits_used(sept), 1);
    }

    #[test]
    fn soft_mode_keeps_allowing_and_counts() {
        let mut a = Accounting::new(Limits {
            monthly_credits: 5,
            ..limits(CreditMode::Soft, 1)
        });
        let mut t = at(2026, 8, 2, 0, 0, 0);
        for _ in 0..8 {
            assert!(matches!(a.admit(t, "k", "/p"), Admission::Allowed { .. }));
            t += Duration::minutes(1);
        }
        let s = a.stats();
        assert_eq!(s["credits_used_cycle"], 8);
        assert_eq!(s["over_allowance"], 3);
        assert_eq!(s["credits_429"], 0);
    }

    #[test]
    fn four_xx_calls_still_cost_a_credit() {
        // The handler decides the status after admission; admission alone
        // consumes the credit.
        let mut a = Accounting::new(Limits::free_tier());
        let t = at(2026, 8, 2, 0, 0, 0);
        a.admit(t, "k", "/v2/sites/1/powerFlow");
        assert_eq!(a.credits_used(t), 1);
    }

    #[test]
    fn cycle_on_day_15_across_month_and_year_ends() {
        let a = Accounting::new(limits(CreditMode::Hard, 15));
        assert_eq!(
            a.cycle_start(at(2026, 8, 24, 16, 0, 0)),
            at(2026, 8, 15, 0, 0, 0)
        );
        assert_eq!(
            a.cycle_start(at(2026, 8, 14, 23, 59, 59)),
            at(2026, 7, 15, 0, 0, 0)
        );
        assert_eq!(
            a.cycle_start(at(2026, 8, 15, 0, 0, 0)),
            at(2026, 8, 15, 0, 0, 0)
        );
        assert_eq!(
            a.cycle_start(at(2027, 1, 3, 0, 0, 0)),
            at(2026, 12, 15, 0, 0, 0)
        );
        assert_eq!(
            a.next_reset(at(2026, 12, 20, 0, 0, 0)),
            at(2027, 1, 15, 0, 0, 0)
        );
    }

    #[test]
    fn credits_reset_on_billing_day() {
        let mut a = Accounting::new(Limits {
            monthly_credits: 2,
            ..limits(CreditMode::Hard, 15)
        });
        let t = at(2026, 12, 14, 23, 58, 0);
        a.admit(t, "k", "/p");
        a.admit(t, "k", "/p");
        assert!(matches!(
            a.admit(t + Duration::minutes(1), "k", "/p"),
            Admission::CreditsExhausted { .. }
        ));
        assert!(matches!(
            a.admit(at(2026, 12, 15, 0, 0, 0), "k", "/p"),
            Admission::Allowed { .. }
        ));
    }

    #[test]
    fn february_with_billing_day_28() {
        let a = Accounting::new(limits(CreditMode::Hard, 28));
        assert_eq!(
            a.cycle_start(at(2027, 3, 1, 12, 0, 0)),
            at(2027, 2, 28, 0, 0, 0)
        );
        assert_eq!(
            a.cycle_start(at(2027, 2, 27, 23, 0, 0)),
            at(2027, 1, 28, 0, 0, 0)
        );
        assert_eq!(
            a.next_reset(at(2027, 2, 28, 0, 0, 0)),
            at(2027, 3, 28, 0, 0, 0)
        );
        assert_eq!(
            a.next_reset(at(2028, 2, 10, 0, 0, 0)),
            at(2028, 2, 28, 0, 0, 0)
        );
    }

    #[test]
    fn stats_count_per_credential_and_path() {
        let mut a = Accounting::new(Limits::free_tier());
        let t = at(2026, 8, 2, 0, 0, 0);
        a.admit(t, "fleet", "/v2/sites");
        a.admit(t, "oauth:1", "/v2/sites/1");
        a.admit(t, "oauth:1", "/v2/sites/1");
        let s = a.stats();
        assert_eq!(s["by_credential"]["fleet"]["calls"], 1);
        assert_eq!(s["by_credential"]["oauth:1"]["calls"], 2);
        assert_eq!(s["by_path"]["/v2/sites/1"], 2);
        assert_eq!(s["minute"]["used"], 3);
    }

    #[test]
    fn headers_and_validation() {
        assert_eq!(
            rate_headers(10, 9),
            vec![
                ("x-ratelimit-limit-minute".to_string(), "10".to_string()),
                ("x-ratelimit-remaining-minute".to_string(), "9".to_string()),
            ]
        );
        assert!(limits(CreditMode::Hard, 29).validate().is_err());
        assert!(limits(CreditMode::Hard, 0).validate().is_err());
        assert!(Limits::free_tier().validate().is_ok());
        assert_eq!(CreditMode::parse("SOFT"), Ok(CreditMode::Soft));
        assert!(CreditMode::parse("maybe").is_err());
    }
}
