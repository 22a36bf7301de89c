//! The simulator's virtual clock.
//!
//! Everything time-dependent in the simulator (data generation, "now" for
//! default windows, the rate-limit minute window, the credit cycle, OAuth
//! expiries) reads this clock instead of the wall clock, so a test can run a
//! month of harvesting in seconds (speed > 1) or step time exactly (speed 0,
//! frozen: time moves only through [`Clock::set`] and [`Clock::advance`]).
//!
//! The clock is a line through one anchor point: `now = anchor_virtual +
//! (real elapsed since anchor_real) × speed`. Every mutation re-anchors at
//! the current instant first, so changing the speed never makes time jump.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// Thread-safe virtual clock; share it behind an `Arc`.
#[derive(Debug)]
pub struct Clock {
    inner: Mutex<Anchor>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    virtual_at: DateTime<Utc>,
    real_at: Instant,
    speed: f64,
}

impl Anchor {
    fn now(&self) -> DateTime<Utc> {
        self.virtual_at + scaled(self.real_at.elapsed(), self.speed)
    }

    /// Moves the anchor to the present so later changes apply from now on.
    fn rebase(&mut self) {
        self.virtual_at = self.now();
        self.real_at = Instant::now();
    }
}

/// Real elapsed time × speed as a chrono duration (nanosecond resolution,
/// saturating instead of overflowing on absurd speeds).
fn scaled(real: std::time::Duration, speed: f64) -> Duration {
    if speed == 0.0 {
        return Duration::zero();
    }
    let nanos = real.as_secs_f64() * speed * 1e9;
    // `as` saturates for out-of-range floats, which is what we want here.
    Duration::nanoseconds(nanos as i64)
}

/// Negative or NaN speeds make no sense (time would run backwards or become
/// undefined); treat them as frozen.
fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        0.0
    }
}

impl Clock {
    /// A clock reading `start` now and running at `speed` virtual seconds
    /// per real second (0 = frozen).
    pub fn new(start: DateTime<Utc>, speed: f64) -> Clock {
        Clock {
            inner: Mutex::new(Anchor {
                virtual_at: start,
                real_at: Instant::now(),
                speed: sanitize_speed(speed),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Anchor> {
        // A panic while holding this tiny lock cannot leave the anchor
        // half-written, so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current virtual time.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Jumps to `t` (forwards or backwards); the speed is kept.
    pub fn set(&self, t: DateTime<Utc>) {
        let mut a = self.lock();
        a.virtual_at = t;
        a.real_at = Instant::now();
    }

    /// Moves virtual time by `d` (may be negative).
    pub fn advance(&self, d: Duration) {
        let mut a = self.lock();
        a.rebase();
        a.virtual_at += d;
    }

    /// Virtual seconds per real second.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    /// Changes the speed from this instant on; negative/NaN means frozen.
    pub fn set_speed(&self, speed: f64) {
        let mut a = self.lock();
        a.rebase();
        a.speed = sanitize_speed(speed);
    }

    /// Whole real seconds a client must wait for `virtual_d` of virtual time
    /// to pass, rounded up, at least 1 when `virtual_d > 0` (HTTP
    /// `Retry-After` has whole-second resolution and 0 would invite a busy
    /// loop). When frozen, real waiting never moves time, so the virtual
    /// seconds are returned unchanged (rounded up) and the test drives the
    /// clock itself.
    pub fn real_secs_for(&self, virtual_d: Duration) -> u64 {
        real_secs_at_speed(virtual_d, self.speed())
    }
}

fn real_secs_at_speed(virtual_d: Duration, speed: f64) -> u64 {
    if virtual_d <= Duration::zero() {
        return 0;
    }
    let secs = virtual_d
        .num_nanoseconds()
        .map_or_else(|| virtual_d.num_seconds() as f64, |n| n as f64 / 1e9);
    let real = if speed > 0.0 { secs / speed } else { secs };
    (real.ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 8, 24, 16, 5, 44).unwrap()
    }

    #[test]
    fn frozen_clock_only_moves_when_told() {
        let c = Clock::new(t0(), 0.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(c.now(), t0());
        c.advance(Duration::seconds(90));
        assert_eq!(c.now(), t0() + Duration::seconds(90));
        c.set(t0() - Duration::days(1));
        assert_eq!(c.now(), t0() - Duration::days(1));
    }

    #[test]
    fn running_clock_scales_real_time() {
        let c = Clock::new(t0(), 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let elapsed = c.now() - t0();
        // 50 ms real × 1000 = 50 s virtual; allow scheduler slack.
        assert!(elapsed >= Duration::seconds(50), "{elapsed}");
        assert!(elapsed < Duration::seconds(600), "{elapsed}");
    }

    #[test]
    fn set_speed_does_not_jump() {
        let c = Clock::new(t0(), 0.0);
        c.set_speed(1.0);
        let before = c.now();
        c.set_speed(0.0);
        let after = c.now();
        assert!(after >= before);
        assert!(after - before < Duration::seconds(1));
        assert_eq!(c.speed(), 0.0);
    }

    #[test]
    fn bad_speeds_freeze() {
        assert_eq!(Clock::new(t0(), -3.0).speed(), 0.0);
        assert_eq!(Clock::new(t0(), f64::NAN).speed(), 0.0);
    }

    #[test]
    fn real_secs_rounds_up() {
        assert_eq!(real_secs_at_speed(Duration::seconds(60), 1.0), 60);
        assert_eq!(real_secs_at_speed(Duration::seconds(60), 60.0), 1);
        assert_eq!(real_secs_at_speed(Duration::seconds(60), 7.0), 9);
        assert_eq!(real_secs_at_speed(Duration::milliseconds(1), 1.0), 1);
        assert_eq!(real_secs_at_speed(Duration::seconds(16), 1000.0), 1);
        assert_eq!(real_secs_at_speed(Duration::zero(), 1.0), 0);
        assert_eq!(real_secs_at_speed(Duration::seconds(-5), 1.0), 0);
    }

    #[test]
    fn real_secs_when_frozen_is_virtual() {
        let c = Clock::new(t0(), 0.0);
        assert_eq!(c.real_secs_for(Duration::seconds(16)), 16);
        assert_eq!(c.real_secs_for(Duration::milliseconds(1500)), 2);
    }
}
