//! The one rule for time: SolarEdge's clock is the truth, the local clock only measures
//! how much time passed since the server last told us its time.
//!
//! A Raspberry Pi has no real-time clock. Its first run after boot may happen before NTP
//! has set the clock (days or years behind), and a clock may be wrong the other way too.
//! So every run remembers an [`Anchor`] (the server's `Date` and the local clock at the same
//! moment) and estimates the server's "now" from it until the server answers again. The
//! estimate rests on the assumption that the local clock's error did not change since the
//! anchor was taken; when that fails (NTP corrected the clock, or a boot reset it), the
//! first answer of the run shows it and the harvester plans again on the server's time
//! ([`TOLERANCE`]). One bound holds whatever the local clock does: the server's clock never
//! goes back, so an estimate earlier than the anchor's server time is replaced by it.
//!
//! Pure: every function takes the local time it should use.

use chrono::{DateTime, Duration, Utc};

/// How far the local clock, or an estimate, may be from the server's before seh treats
/// them as disagreeing. Larger than ordinary drift and request latency between two runs,
/// far smaller than anything that changes a plan.
pub const TOLERANCE: Duration = Duration::minutes(5);

/// The server's clock and the local clock read at the same moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub server: DateTime<Utc>,
    pub local: DateTime<Utc>,
}

impl Anchor {
    /// Server time minus local time when the anchor was taken: positive when the local
    /// clock was behind.
    pub fn offset(&self) -> Duration {
        self.server - self.local
    }

    /// The offset when it is larger than [`TOLERANCE`], i.e. worth telling the user.
    pub fn notable_offset(&self) -> Option<Duration> {
        let off = self.offset();
        (off.abs() > TOLERANCE).then_some(off)
    }
}

/// The server's "now" estimated at local time `local_now` from `anchor`, with local time
/// running `scale` times slower than the server's (1 outside tests: `[api] time_scale`).
///
/// Without an anchor the local clock is all there is. With one, the server's time is the
/// anchor's plus the local time elapsed since, but never earlier than the anchor's server
/// time: a local clock that went back (a reboot without RTC) must not take the estimate
/// back to a billing cycle or a day that is over.
pub fn estimate(anchor: Option<Anchor>, local_now: DateTime<Utc>, scale: f64) -> DateTime<Utc> {
    let Some(a) = anchor else { return local_now };
    let elapsed_ms = (local_now - a.local).num_milliseconds() as f64 * scale;
    // Saturate instead of overflowing on absurd clocks (year 1970 or 2099 readings).
    let elapsed_ms = elapsed_ms.clamp(-1e15, 1e15) as i64;
    let guess = a
        .server
        .checked_add_signed(Duration::milliseconds(elapsed_ms))
        .unwrap_or(a.server);
    guess.max(a.server)
}

/// "3 days 4 h", "1 h 5 min", "12 min": a duration for people, without sign (clock
/// offsets, token lifetimes).
pub fn human(d: Duration) -> String {
    let m = d.num_minutes().unsigned_abs();
    let (days, hours, mins) = (m / (24 * 60), m / 60 % 24, m % 60);
    let day_s = if days == 1 { "day" } else { "days" };
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) if mins == 0 => format!("{h} h"),
        (0, h) => format!("{h} h {mins} min"),
        (d, 0) => format!("{d} {day_s}"),
        (d, h) => format!("{d} {day_s} {h} h"),
    }
}

/// One line on the local clock's error at the anchor, for `status` and the logs.
pub fn describe_offset(off: Duration) -> String {
    let way = if off > Duration::zero() {
        "behind"
    } else {
        "ahead of"
    };
    format!("the local clock was {} {way} SolarEdge's", human(off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn no_anchor_means_the_local_clock() {
        let now = t("2026-11-26T12:00:00Z");
        assert_eq!(estimate(None, now, 1.0), now);
    }

    #[test]
    fn the_anchor_is_advanced_by_local_time() {
        // The local clock runs a week behind the (virtual) server.
        let a = Anchor {
            server: t("2026-11-26T12:00:00Z"),
            local: t("2026-11-19T12:00:00Z"),
        };
        assert_eq!(
            estimate(Some(a), t("2026-11-19T12:15:00Z"), 1.0),
            t("2026-11-26T12:15:00Z")
        );
        assert_eq!(
            estimate(Some(a), t("2026-11-19T12:15:00Z"), 4.0),
            t("2026-11-26T13:00:00Z")
        );
        assert_eq!(a.notable_offset(), Some(Duration::days(7)));
    }

    #[test]
    fn a_clock_that_went_back_never_takes_the_estimate_before_the_anchor() {
        // The last run had a clock 400 days ahead; NTP has since set it right.
        let a = Anchor {
            server: t("2026-11-26T12:00:00Z"),
            local: t("2027-12-31T12:00:00Z"),
        };
        assert_eq!(estimate(Some(a), t("2026-11-26T12:15:00Z"), 1.0), a.server);
    }

    #[test]
    fn absurd_clocks_do_not_overflow() {
        let a = Anchor {
            server: t("2026-11-26T12:00:00Z"),
            local: DateTime::<Utc>::MIN_UTC,
        };
        assert!(estimate(Some(a), DateTime::<Utc>::MAX_UTC, 1.0) > a.server);
        let b = Anchor {
            server: t("2026-11-26T12:00:00Z"),
            local: DateTime::<Utc>::MAX_UTC,
        };
        assert_eq!(estimate(Some(b), DateTime::<Utc>::MIN_UTC, 1e9), b.server);
    }

    #[test]
    fn small_offsets_are_not_notable() {
        let a = Anchor {
            server: t("2026-11-26T12:00:00Z"),
            local: t("2026-11-26T12:04:00Z"),
        };
        assert_eq!(a.notable_offset(), None);
        assert_eq!(
            describe_offset(Duration::days(400) + Duration::hours(3)),
            "the local clock was 400 days 3 h behind SolarEdge's"
        );
        assert_eq!(
            describe_offset(-Duration::minutes(14)),
            "the local clock was 14 min ahead of SolarEdge's"
        );
    }
}
