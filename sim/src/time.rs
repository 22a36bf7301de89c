//! Site-local time as V2 speaks it: bucket boundaries per resolution, timestamp formatting
//! with the offset valid at each instant, and parsing of `from`/`to` parameters.
//!
//! Everything internal is a UTC instant; local time appears only at the edges (bucket
//! boundaries and the strings on the wire). That is what keeps the repeated autumn hour
//! apart: its two 02:15 buckets are different UTC instants and print with different offsets.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    SecondsFormat, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// The V2 resolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Res {
    QuarterHour,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Total,
}

impl Res {
    pub const ALL: [Res; 7] = [
        Res::QuarterHour,
        Res::Hour,
        Res::Day,
        Res::Week,
        Res::Month,
        Res::Year,
        Res::Total,
    ];

    pub fn parse(s: &str) -> Option<Res> {
        Res::ALL.into_iter().find(|r| r.wire() == s)
    }

    pub fn wire(self) -> &'static str {
        match self {
            Res::QuarterHour => "QUARTER_HOUR",
            Res::Hour => "HOUR",
            Res::Day => "DAY",
            Res::Week => "WEEK",
            Res::Month => "MONTH",
            Res::Year => "YEAR",
            Res::Total => "TOTAL",
        }
    }
}

/// The UTC instant of local midnight starting `date`. Where midnight does not exist (a DST
/// jump at 00:00) the day starts at the first valid local instant.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut naive = date.and_hms_opt(0, 0, 0).expect("midnight is valid");
    for _ in 0..8 {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => naive += Duration::minutes(15),
        }
    }
    panic!("no valid local time near midnight of {date} in {tz}")
}

/// Offset in minutes east of UTC valid at `t` in `tz`.
pub fn offset_minutes(t: DateTime<Utc>, tz: Tz) -> i32 {
    t.with_timezone(&tz).offset().fix().local_minus_utc() / 60
}

/// Start of the bucket of resolution `res` containing `t`. `Total` has no buckets; it
/// returns `t` unchanged.
pub fn floor(t: DateTime<Utc>, res: Res, tz: Tz) -> DateTime<Utc> {
    match res {
        Res::QuarterHour => {
            // Every zone offset in use is a multiple of 15 minutes, so local and UTC
            // quarter-hours coincide.
            let secs = t.timestamp().div_euclid(900) * 900;
            DateTime::from_timestamp(secs, 0).expect("in range")
        }
        Res::Hour => {
            let off = i64::from(offset_minutes(t, tz)) * 60;
            let local = t.timestamp() + off;
            let floored = local.div_euclid(3600) * 3600 - off;
            DateTime::from_timestamp(floored, 0).expect("in range")
        }
        Res::Day => local_midnight(t.with_timezone(&tz).date_naive(), tz),
        Res::Week => {
            let d = t.with_timezone(&tz).date_naive();
            let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
            local_midnight(monday, tz)
        }
        Res::Month => {
            let d = t.with_timezone(&tz).date_naive();
            local_midnight(d.with_day(1).expect("day 1"), tz)
        }
        Res::Year => {
            let d = t.with_timezone(&tz).date_naive();
            local_midnight(NaiveDate::from_ymd_opt(d.year(), 1, 1).expect("jan 1"), tz)
        }
        Res::Total => t,
    }
}

/// Start of the bucket after the one starting at `start`.
pub fn next(start: DateTime<Utc>, res: Res, tz: Tz) -> DateTime<Utc> {
    let local = start.with_timezone(&tz).date_naive();
    match res {
        Res::QuarterHour => start + Duration::minutes(15),
        Res::Hour => {
            floor(start + Duration::hours(1), Res::Hour, tz).max(start + Duration::minutes(15))
        }
        Res::Day => local_midnight(local + Duration::days(1), tz),
        Res::Week => local_midnight(local + Duration::days(7), tz),
        Res::Month => {
            let (y, m) = if local.month() == 12 {
                (local.year() + 1, 1)
            } else {
                (local.year(), local.month() + 1)
            };
            local_midnight(NaiveDate::from_ymd_opt(y, m, 1).expect("valid"), tz)
        }
        Res::Year => local_midnight(
            NaiveDate::from_ymd_opt(local.year() + 1, 1, 1).expect("valid"),
            tz,
        ),
        Res::Total => DateTime::<Utc>::MAX_UTC,
    }
}

/// `2026-08-24T06:45:00+01:00`: whole seconds, the offset valid at `t`, never `Z`.
pub fn fmt_local(t: DateTime<Utc>, tz: Tz) -> String {
    fixed(t, tz).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `period.to` as seen live: nine fraction digits.
pub fn fmt_local_nanos(t: DateTime<Utc>, tz: Tz) -> String {
    fixed(t, tz).to_rfc3339_opts(SecondsFormat::Nanos, false)
}

/// UTC with `Z`, whole seconds (alert triggers, the site list's installation date).
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn fixed(t: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    let off = FixedOffset::east_opt(offset_minutes(t, tz) * 60).expect("valid offset");
    t.with_timezone(&off)
}

/// Parse a `from`/`to` parameter: RFC 3339 with `Z` or an offset (fractions allowed), or a
/// naive date-time read as site-local time. A date alone, a local time that does not exist
/// (spring gap) and anything else are refused with a message for the 400 body.
pub fn parse_param(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("Invalid date-time value '{s}'. Expected ISO-8601 date-time"))?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Ok(a.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "Invalid date-time value '{s}': the local time does not exist in {tz}"
        )),
    }
}

/// Whole seconds only (drops sub-second parts), used where the wire shows whole seconds.
pub fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).expect("valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_qh(date: NaiveDate, tz: Tz) -> usize {
        let start = local_midnight(date, tz);
        let end = next(start, Res::Day, tz);
        ((end - start).num_minutes() / 15) as usize
    }

    #[test]
    fn dst_days_have_92_and_100_quarter_hours_in_both_hemispheres() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        let denver: Tz = "America/Denver".parse().unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(count_qh(d(2026, 3, 29), berlin), 92);
        assert_eq!(count_qh(d(2026, 10, 25), berlin), 100);
        assert_eq!(count_qh(d(2026, 6, 1), berlin), 96);
        assert_eq!(count_qh(d(2026, 10, 4), sydney), 92);
        assert_eq!(count_qh(d(2026, 4, 5), sydney), 100);
        assert_eq!(count_qh(d(2026, 3, 8), denver), 92);
        assert_eq!(count_qh(d(2026, 11, 1), denver), 100);
    }

    #[test]
    fn repeated_autumn_hour_prints_with_two_offsets() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let start = local_midnight(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), berlin);
        let stamps: Vec<String> = (0..100)
            .map(|i| fmt_local(start + Duration::minutes(15 * i), berlin))
            .collect();
        assert!(stamps.contains(&"2026-10-25T02:15:00+02:00".to_string()));
        assert!(stamps.contains(&"2026-10-25T02:15:00+01:00".to_string()));
        let mut dedup = stamps.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 100);
    }

    #[test]
    fn hour_buckets_across_autumn_change_are_25() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let start = local_midnight(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), berlin);
        let end = next(start, Res::Day, berlin);
        let mut t = start;
        let mut n = 0;
        while t < end {
            assert_eq!(floor(t, Res::Hour, berlin), t);
            t = next(t, Res::Hour, berlin);
            n += 1;
        }
        assert_eq!(n, 25);
    }

    #[test]
    fn params_accept_z_offset_and_naive_local() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let a = parse_param("2026-05-01T00:00:00Z", berlin).unwrap();
        let b = parse_param("2026-05-01T02:00:00+02:00", berlin).unwrap();
        let c = parse_param("2026-05-01T02:00:00", berlin).unwrap();
        let d = parse_param("2026-05-01T02:00:00.123456789+02:00", berlin).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(trunc_secs(d), a);
        assert!(parse_param("2026-05-01", berlin).is_err());
        assert!(parse_param("2026-03-29T02:30:00", berlin).is_err());
        assert!(parse_param("yesterday", berlin).is_err());
    }

    #[test]
    fn month_and_year_floors_are_local() {
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        let t = parse_param("2026-01-31T20:00:00Z", sydney).unwrap(); // Feb 1 07:00 local
        assert_eq!(
            fmt_local(floor(t, Res::Month, sydney), sydney),
            "2026-02-01T00:00:00+11:00"
        );
        assert_eq!(
            fmt_local(floor(t, Res::Year, sydney), sydney),
            "2026-01-01T00:00:00+11:00"
        );
        assert_eq!(
            fmt_local(floor(t, Res::Week, sydney), sydney),
            "2026-01-26T00:00:00+11:00"
        );
    }
}
