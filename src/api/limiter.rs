//! Client-side minute rate limiter, pure: the caller passes every clock reading in.
//!
//! SolarEdge counts calls per developer account in fixed windows per clock minute and tells
//! us about the current window in `x-ratelimit-limit-minute` / `x-ratelimit-remaining-minute`.
//! We cannot see the server's window exactly (clock skew, other applications of the same
//! account), so we keep a token bucket that refills `limit / 60` tokens per second, never
//! hold more tokens than the server says remain, and after `remaining: 0` stay quiet until
//! the next wall-clock minute boundary (plus a margin for skew). The goal is to never earn a
//! minute 429 in normal operation; the 429 handling in `api::Client` is the backstop.
//!
//! This module never sleeps and never reads a clock: `api::Client` does both.

use std::time::{Duration, Instant};

/// The Free tier's documented calls per minute, used until a response tells us otherwise.
pub const DEFAULT_PER_MINUTE: u32 = 10;

/// Extra wait after the minute boundary, because our clock and the server's differ a little.
const BOUNDARY_MARGIN: Duration = Duration::from_millis(1_000);

/// A bucket this close to a whole token counts as holding it.
const TOKEN_EPSILON: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct Limiter {
    /// Bucket capacity and refill rate, in calls per minute.
    per_minute: u32,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    refilled_at: Option<Instant>,
    /// No call before this instant (set when the server said `remaining: 0`).
    blocked_until: Option<Instant>,
}

impl Limiter {
    /// A full bucket of `per_minute` tokens (0 is treated as 1).
    pub fn new(per_minute: u32) -> Limiter {
        let per_minute = per_minute.max(1);
        Limiter {
            per_minute,
            tokens: f64::from(per_minute),
            refilled_at: None,
            blocked_until: None,
        }
    }

    /// The capacity currently in force (configured, or adopted from response headers).
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Tokens in the bucket as of the last [`Limiter::wait_before_call`] or
    /// [`Limiter::observe`], for trace logs.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// Either takes a token and returns `None` (call now), or returns how long to wait before
    /// asking again. The caller sleeps and asks again; nothing is taken while waiting.
    pub fn wait_before_call(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            // The block ended in a fresh server window: at least this call may go.
            self.blocked_until = None;
            self.tokens = self.tokens.max(1.0);
        }
        // The epsilon absorbs float noise from the refill arithmetic.
        if self.tokens >= 1.0 - TOKEN_EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return None;
        }
        let missing = 1.0 - self.tokens;
        let millis = (missing * 60_000.0 / f64::from(self.per_minute)).round() as u64;
        Some(Duration::from_millis(millis.max(1)))
    }

    /// Feeds the rate headers of an answered call back in.
    ///
    /// `secs_to_next_minute` is the time from `now` to the next wall-clock minute boundary
    /// (the caller computes it from `SystemTime`), used only when `remaining` is 0.
    pub fn observe(
        &mut self,
        now: Instant,
        limit: Option<u32>,
        remaining: Option<u32>,
        secs_to_next_minute: f64,
    ) {
        self.refill(now);
        if let Some(limit) = limit.filter(|&l| l > 0) {
            // Adopt the server's limit, higher or lower: it knows the account's tier. Tokens
            // keep their count (clamped), so a raised limit only speeds up the refill.
            self.per_minute = limit;
            self.tokens = self.tokens.min(f64::from(limit));
        }
        let Some(remaining) = remaining else { return };
        // Other applications of the account share the window: never believe we have more
        // than the server says. We do not raise tokens to `remaining` either, to stay
        // conservative about the window we cannot see.
        self.tokens = self.tokens.min(f64::from(remaining));
        if remaining == 0 {
            let refill_one = Duration::from_secs_f64(60.0 / f64::from(self.per_minute));
            let to_boundary =
                Duration::from_secs_f64(secs_to_next_minute.clamp(0.0, 60.0)) + BOUNDARY_MARGIN;
            let until = now + refill_one.max(to_boundary);
            self.blocked_until = Some(match self.blocked_until {
                Some(prev) if prev > until => prev,
                _ => until,
            });
        }
    }

    /// The server told us when to come back (`Retry-After` on a minute-limit 429): no call
    /// before `until`, one call right then. Replaces our own estimate of the boundary, since
    /// the server knows its window better than we do.
    pub fn hold_until(&mut self, until: Instant) {
        self.blocked_until = Some(until);
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.refilled_at {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            let cap = f64::from(self.per_minute);
            self.tokens = (self.tokens + elapsed * cap / 60.0).min(cap);
        }
        self.refilled_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn ten_calls_pass_then_the_eleventh_waits() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        for _ in 0..10 {
            assert_eq!(l.wait_before_call(t0), None);
        }
        let wait = l.wait_before_call(t0).expect("11th call must wait");
        assert_eq!(wait, Duration::from_secs(6));
        // Waiting takes nothing: after the wait, exactly one call passes.
        assert_eq!(l.wait_before_call(t0 + wait), None);
        assert!(l.wait_before_call(t0 + wait).is_some());
    }

    #[test]
    fn refill_is_limit_per_minute() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        for _ in 0..10 {
            assert_eq!(l.wait_before_call(t0), None);
        }
        // After a whole minute the bucket is full again, not overfull.
        let t1 = t0 + secs(600.0);
        for _ in 0..10 {
            assert_eq!(l.wait_before_call(t1), None);
        }
        assert!(l.wait_before_call(t1).is_some());
    }

    #[test]
    fn remaining_zero_waits_for_the_minute_boundary() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        assert_eq!(l.wait_before_call(t0), None);
        l.observe(t0, Some(10), Some(0), 40.0);
        assert_eq!(l.wait_before_call(t0), Some(secs(41.0)));
        assert_eq!(l.wait_before_call(t0 + secs(20.0)), Some(secs(21.0)));
        assert_eq!(l.wait_before_call(t0 + secs(41.0)), None);
    }

    #[test]
    fn remaining_zero_near_the_boundary_still_waits_one_refill() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        l.observe(t0, Some(10), Some(0), 0.5);
        // 1.5 s to the boundary (with margin) but a token takes 6 s to come back.
        assert_eq!(l.wait_before_call(t0), Some(secs(6.0)));
    }

    #[test]
    fn retry_after_replaces_the_boundary_estimate() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        l.observe(t0, Some(10), Some(0), 40.0);
        l.hold_until(t0 + secs(1.0));
        assert_eq!(l.wait_before_call(t0), Some(secs(1.0)));
        // One call right at the end of the hold, then the bucket's pace.
        assert_eq!(l.wait_before_call(t0 + secs(1.0)), None);
        assert!(l.wait_before_call(t0 + secs(1.0)).is_some());
    }

    #[test]
    fn remaining_clamps_tokens() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        assert_eq!(l.wait_before_call(t0), None);
        // Someone else used the window: only 2 left.
        l.observe(t0, Some(10), Some(2), 30.0);
        assert_eq!(l.wait_before_call(t0), None);
        assert_eq!(l.wait_before_call(t0), None);
        assert!(l.wait_before_call(t0).is_some());
    }

    #[test]
    fn higher_limit_from_headers_is_adopted() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        assert_eq!(l.wait_before_call(t0), None);
        l.observe(t0, Some(50), Some(49), 30.0);
        assert_eq!(l.per_minute(), 50);
        // 9 tokens left now; after 60 s the bucket holds 50.
        let t1 = t0 + secs(60.0);
        for _ in 0..50 {
            assert_eq!(l.wait_before_call(t1), None);
        }
        assert_eq!(l.wait_before_call(t1), Some(secs(1.2)));
    }

    #[test]
    fn lower_limit_from_headers_is_adopted() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        l.observe(t0, Some(5), None, 30.0);
        for _ in 0..5 {
            assert_eq!(l.wait_before_call(t0), None);
        }
        assert_eq!(l.wait_before_call(t0), Some(secs(12.0)));
    }

    #[test]
    fn missing_headers_change_nothing() {
        let t0 = Instant::now();
        let mut l = Limiter::new(10);
        l.observe(t0, None, None, 30.0);
        for _ in 0..10 {
            assert_eq!(l.wait_before_call(t0), None);
        }
        assert!(l.wait_before_call(t0).is_some());
    }
}
