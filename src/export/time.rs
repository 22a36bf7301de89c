//! A bucket's instant as the export prints it: the stored UTC text moved by the stored
//! offset (`2026-10-25T02:45:00+02:00`, then `2026-10-25T02:00:00+01:00` for the repeated
//! hour), or the UTC text as stored. Pure.
//!
//! The offset is the one the API reported with the bucket (`utc_offset_min`), so the
//! export shows exactly what was stored; only a bucket stored without one falls back to
//! the site's IANA zone. Parsing and printing are by hand: they run once per exported row,
//! and chrono's format machinery would be the slowest part of a CSV export.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

/// Whether instants are printed in the site's local time (with offset) or in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    Local,
    Utc,
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (the store's one format for instants).
pub fn parse_utc(ts: &str) -> Option<NaiveDateTime> {
    let b = ts.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// Two digits of `v` (0..=99).
fn two(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// `+HH:MM` or `-HH:MM`.
fn write_offset(out: &mut String, m: i64) {
    out.push(if m < 0 { '-' } else { '+' });
    let m = m.unsigned_abs() as u32;
    two(out, m / 60);
    out.push(':');
    two(out, m % 60);
}

/// Writes `t` as `YYYY-MM-DDTHH:MM:SS` followed by the offset (`+HH:MM`, or `Z` for none).
pub fn write(out: &mut String, t: NaiveDateTime, offset_min: Option<i64>) {
    let y = t.year().clamp(0, 9999) as u32;
    two(out, y / 100);
    two(out, y % 100);
    out.push('-');
    two(out, t.month());
    out.push('-');
    two(out, t.day());
    out.push('T');
    two(out, t.hour());
    out.push(':');
    two(out, t.minute());
    out.push(':');
    two(out, t.second());
    match offset_min {
        None => out.push('Z'),
        Some(m) => write_offset(out, m),
    }
}

/// Writes the text of one bucket into `out` (cleared first) and returns whether `ts` was
/// an instant of the store's format; if not, the caller prints it unchanged. `zone` is
/// asked only when the bucket has no stored offset.
///
/// Most buckets stay on their UTC date when moved by their offset: their text is the
/// stored date with the minutes of the day shifted, done on bytes. Only the few that
/// cross midnight take chrono's calendar arithmetic.
pub fn bucket(
    out: &mut String,
    ts: &str,
    offset_min: Option<i64>,
    zone: impl FnOnce() -> Option<Tz>,
    mode: TimeMode,
) -> bool {
    let Some(utc) = parse_utc(ts) else {
        return false;
    };
    out.clear();
    let offset = match (mode, offset_min) {
        (TimeMode::Utc, _) => None,
        (_, Some(o)) => Some(o),
        (_, None) => {
            zone().map(|z| i64::from(z.offset_from_utc_datetime(&utc).fix().local_minus_utc() / 60))
        }
    };
    let Some(offset) = offset else {
        out.push_str(ts);
        return true;
    };
    let minute = i64::from(utc.hour() * 60 + utc.minute()) + offset;
    if (0..24 * 60).contains(&minute) {
        // Same date: `YYYY-MM-DDT` as stored, then the shifted `HH:MM`, then `:SS`.
        out.push_str(&ts[..11]);
        two(out, (minute / 60) as u32);
        out.push(':');
        two(out, (minute % 60) as u32);
        out.push_str(&ts[16..19]);
        write_offset(out, offset);
    } else {
        write(out, utc + Duration::minutes(offset), Some(offset));
    }
    true
}

/// The wall-clock time of a printed bucket (its first 19 characters), for formats with a
/// date-time type.
pub fn wall(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.get(..19)?, "%Y-%m-%dT%H:%M:%S").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(ts: &str, off: Option<i64>, zone: Option<Tz>) -> String {
        let mut s = String::new();
        assert!(bucket(&mut s, ts, off, || zone, TimeMode::Local));
        s
    }

    /// The autumn night in Berlin: the repeated hour prints twice with its two offsets.
    #[test]
    fn the_repeated_hour_keeps_its_offsets() {
        assert_eq!(
            local("2026-10-25T00:45:00Z", Some(120), None),
            "2026-10-25T02:45:00+02:00"
        );
        assert_eq!(
            local("2026-10-25T01:00:00Z", Some(60), None),
            "2026-10-25T02:00:00+01:00"
        );
        // No stored offset: the site's zone says it; none known: UTC, marked as such.
        assert_eq!(
            local(
                "2026-10-25T01:00:00Z",
                None,
                Some(chrono_tz::Europe::Berlin)
            ),
            "2026-10-25T02:00:00+01:00"
        );
        assert_eq!(
            local("2026-10-25T01:00:00Z", None, None),
            "2026-10-25T01:00:00Z"
        );
        assert_eq!(
            local("2026-06-01T12:00:00Z", Some(-390), None),
            "2026-06-01T05:30:00-06:30"
        );
        // Across midnight either way, and a month's end.
        assert_eq!(
            local("2026-10-31T23:30:00Z", Some(60), None),
            "2026-11-01T00:30:00+01:00"
        );
        assert_eq!(
            local("2026-03-01T03:00:00Z", Some(-420), None),
            "2026-02-28T20:00:00-07:00"
        );
        let mut s = String::new();
        assert!(!bucket(
            &mut s,
            "2026-10-25 01:00",
            None,
            || None,
            TimeMode::Utc
        ));
        assert!(bucket(
            &mut s,
            "2026-10-25T01:00:00Z",
            Some(60),
            || None,
            TimeMode::Utc
        ));
        assert_eq!(s, "2026-10-25T01:00:00Z");
        assert_eq!(
            wall("2026-10-25T02:00:00+01:00").unwrap().to_string(),
            "2026-10-25 02:00:00"
        );
    }
}
