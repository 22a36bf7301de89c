//! Time handling for the API: parsing response timestamps, formatting request parameters,
//! and cutting a time range into request windows aligned to bucket starts.
//!
//! V2 stamps buckets in site-local time with an offset (`2026-10-25T02:15:00+01:00`) and
//! echoes "now" with up to nine fraction digits; we keep the UTC instant and the offset, so
//! the repeated autumn hour stays distinguishable. Requests carry offset-qualified whole
//! seconds in the site's zone (open question Q2 in the API notes: the safe choice).
//!
//! Bucket alignment follows the site's zone: quarter-hours are 15-minute UTC boundaries (all
//! real offsets are multiples of 15 minutes), days start at local midnight, which makes a
//! DST day 23 or 25 hours long, and in zones that skip midnight a day starts at the first
//! local time that exists. Everything here is pure.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::ParseError;
use crate::model::Resolution;

/// Parses an RFC 3339 timestamp with 0–9 fraction digits and an offset (`Z` or `±hh:mm`).
/// Returns the UTC instant and the offset in minutes east of UTC.
///
/// The instant must fall into the UTC years 0000–9999: a local year 9999 or 0000 with a
/// large offset can leave them, and the store writes instants as fixed-width four-digit-year
/// text, whose order is time order only inside that range (and which it reads back as
/// RFC 3339, which has no other years).
pub fn parse_ts(s: &str) -> Result<(DateTime<Utc>, i32), ParseError> {
    let dt = DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| ParseError::new(format!("timestamp {:?}: {e}", shorten(s))))?;
    let offset_min = dt.offset().local_minus_utc() / 60;
    let utc = dt.with_timezone(&Utc);
    if !(0..=9999).contains(&utc.year()) {
        return Err(ParseError::new(format!(
            "timestamp {:?}: outside the UTC years 0000-9999",
            shorten(s)
        )));
    }
    Ok((utc, offset_min))
}

/// Formats an instant as offset-qualified whole seconds in `tz`: `2026-03-29T03:00:00+02:00`.
/// Sub-second parts are truncated.
pub fn format_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The site-local calendar day an instant falls on.
pub fn local_day_of(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The first instant of a site-local day: local midnight, the earlier one when midnight
/// repeats, or the first local time that exists when the zone skips midnight.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    first_existing(date.and_time(chrono::NaiveTime::MIN), tz)
}

/// The start of the bucket of resolution `res` that contains `t`, in the site's zone.
///
/// `WEEK` buckets are assumed to start on Monday (ISO), which the API notes do not confirm.
/// `TOTAL` has no buckets: `t` is returned unchanged.
pub fn start_of_bucket(t: DateTime<Utc>, res: Resolution, tz: Tz) -> DateTime<Utc> {
    match res {
        Resolution::QuarterHour => {
            let secs = t.timestamp().div_euclid(900) * 900;
            DateTime::from_timestamp(secs, 0).unwrap_or(t)
        }
        Resolution::Hour => {
            // Subtract the local minutes and seconds: this keeps the offset of `t`, so the two
            // copies of a repeated autumn hour are two distinct buckets.
            let local = t.with_timezone(&tz);
            let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
            let trunc = t - Duration::seconds(into_hour);
            trunc
                .with_nanosecond(0)
                .expect("zero nanoseconds are always valid")
        }
        Resolution::Day => local_midnight(local_day_of(t, tz), tz),
        Resolution::Week => {
            let day = local_day_of(t, tz);
            let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            local_midnight(monday, tz)
        }
        Resolution::Month => {
            let day = local_day_of(t, tz);
            local_midnight(day.with_day(1).expect("day 1 exists"), tz)
        }
        Resolution::Year => {
            let day = local_day_of(t, tz);
            local_midnight(
                NaiveDate::from_ymd_opt(day.year(), 1, 1).expect("Jan 1 exists"),
                tz,
            )
        }
        Resolution::Total => t,
    }
}

/// The start of the bucket after the one starting at (or containing) `t`; `None` for `TOTAL`.
pub fn next_bucket_start(t: DateTime<Utc>, res: Resolution, tz: Tz) -> Option<DateTime<Utc>> {
    let start = start_of_bucket(t, res, tz);
    let day = local_day_of(start, tz);
    Some(match res {
        Resolution::QuarterHour => start + Duration::minutes(15),
        Resolution::Hour => start + Duration::hours(1),
        Resolution::Day => local_midnight(day.succ_opt()?, tz),
        Resolution::Week => local_midnight(day + Duration::days(7), tz),
        Resolution::Month => {
            let (y, m) = if day.month() == 12 {
                (day.year() + 1, 1)
            } else {
                (day.year(), day.month() + 1)
            };
            local_midnight(NaiveDate::from_ymd_opt(y, m, 1)?, tz)
        }
        Resolution::Year => local_midnight(NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)?, tz),
        Resolution::Total => return None,
    })
}

/// Every bucket start of resolution `res` in `[from, to)`, beginning with the bucket that
/// contains `from`. Empty for `TOTAL`.
pub fn bucket_starts(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: Resolution,
    tz: Tz,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if res == Resolution::Total {
        return out;
    }
    let mut cur = start_of_bucket(from, res, tz);
    while cur < to {
        out.push(cur);
        match next_bucket_start(cur, res, tz) {
            Some(next) if next > cur => cur = next,
            _ => break,
        }
    }
    out
}

/// Cuts `[from, to)` into consecutive half-open windows, none longer than `max_span`, whose
/// inner boundaries are bucket starts of `align` in `tz`.
///
/// The windows cover exactly `[from, to)`: the first starts at `from`, the last ends at
/// `to`, each starts where the previous ended. When no bucket start of `align` fits into a
/// window (a span shorter than one bucket, e.g. 24 h with DAY alignment on a 25-hour day, or
/// 31 days with MONTH alignment for a 31-day month that gains an hour), that boundary is
/// aligned to the next finer resolution (MONTH → DAY → HOUR → QUARTER_HOUR) rather than
/// exceeding `max_span`.
pub fn windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_span: Duration,
    align: Resolution,
    tz: Tz,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    if from >= to || max_span <= Duration::zero() {
        return out;
    }
    let mut cur = from;
    while cur < to {
        let limit = cur + max_span;
        let end = if limit >= to {
            to
        } else {
            aligned_end(cur, limit, align, tz)
        };
        out.push((cur, end));
        cur = end;
    }
    out
}

/// The latest bucket start in `(cur, limit]`, trying ever finer resolutions when no bucket
/// of `align` starts there, and `limit` itself when none does.
fn aligned_end(
    cur: DateTime<Utc>,
    limit: DateTime<Utc>,
    align: Resolution,
    tz: Tz,
) -> DateTime<Utc> {
    let mut res = Some(align);
    while let Some(r) = res {
        let aligned = start_of_bucket(limit, r, tz);
        if aligned > cur {
            return aligned;
        }
        res = match r {
            Resolution::Year => Some(Resolution::Month),
            Resolution::Month | Resolution::Week => Some(Resolution::Day),
            Resolution::Day => Some(Resolution::Hour),
            Resolution::Hour => Some(Resolution::QuarterHour),
            Resolution::QuarterHour | Resolution::Total => None,
        };
    }
    limit
}

/// The instant of a local date-time; the earlier of two when it repeats, the first existing
/// local time after it when it falls into a gap.
fn first_existing(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    // Gaps are at most a few hours (usually one, 30 minutes on Lord Howe), so a minute-wise
    // scan is short and exact for every zone in the database.
    for minutes in 0..=(24 * 60) {
        let candidate = local + Duration::minutes(minutes);
        if let Some(t) = tz.from_local_datetime(&candidate).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // Unreachable with real zone data; fall back to reading the local time as UTC.
    Utc.from_utc_datetime(&local)
}

fn shorten(s: &str) -> String {
    s.chars().take(48).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Denver, Havana, Sao_Paulo};
    use chrono_tz::Australia::Sydney;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap().0
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Quarter-hours in one site-local day.
    fn quarter_hours(day: NaiveDate, tz: Tz) -> usize {
        let from = local_midnight(day, tz);
        let to = local_midnight(day.succ_opt().unwrap(), tz);
        bucket_starts(from, to, Resolution::QuarterHour, tz).len()
    }

    /// Checks the invariants of `windows` and returns the windows.
    fn check_windows(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        span: Duration,
        align: Resolution,
        tz: Tz,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let ws = windows(from, to, span, align, tz);
        assert!(!ws.is_empty());
        assert_eq!(ws.first().unwrap().0, from, "starts at from");
        assert_eq!(ws.last().unwrap().1, to, "ends at to");
        for w in &ws {
            assert!(w.0 < w.1, "non-empty window {w:?}");
            assert!(w.1 - w.0 <= span, "window {w:?} exceeds {span}");
        }
        for pair in ws.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "no gap and no overlap");
        }
        ws
    }

    #[test]
    fn parse_ts_fraction_digits_and_offsets() {
        let cases = [
            ("2026-08-24T06:45:00+01:00", "2026-08-24T05:45:00Z", 60, 0),
            ("2026-08-24T06:45:00Z", "2026-08-24T06:45:00Z", 0, 0),
            (
                "2026-08-24T06:45:00.5-05:00",
                "2026-08-24T11:45:00Z",
                -300,
                500_000_000,
            ),
            (
                "2026-08-24T17:05:45.016+01:00",
                "2026-08-24T16:05:45Z",
                60,
                16_000_000,
            ),
            (
                "2026-08-24T17:05:45.016061+01:00",
                "2026-08-24T16:05:45Z",
                60,
                16_061_000,
            ),
            (
                "2026-08-24T17:05:45.016061916+01:00",
                "2026-08-24T16:05:45Z",
                60,
                16_061_916,
            ),
            (
                "2026-08-24T17:05:45.123456789Z",
                "2026-08-24T17:05:45Z",
                0,
                123_456_789,
            ),
            ("2026-01-01T00:00:00+05:45", "2025-12-31T18:15:00Z", 345, 0),
        ];
        for (input, want_utc, want_off, want_ns) in cases {
            let (t, off) = parse_ts(input).unwrap();
            assert_eq!(t.with_nanosecond(0).unwrap(), utc(want_utc), "{input}");
            assert_eq!(t.nanosecond(), want_ns, "{input}");
            assert_eq!(off, want_off, "{input}");
        }
    }

    #[test]
    fn parse_ts_rejects_garbage_and_naive() {
        for bad in [
            "",
            "yesterday",
            "2026-08-24T06:45:00",
            "2026-08-24",
            "2026-13-01T00:00:00Z",
        ] {
            let err = parse_ts(bad).unwrap_err();
            assert!(err.to_string().contains("timestamp"), "{err}");
        }
    }

    #[test]
    fn parse_ts_rejects_instants_outside_four_digit_utc_years() {
        // Found by the fuzz tests: valid RFC 3339 whose UTC instant is in year 10000 or -1,
        // which the store would write as `+10000-…`/`-0001-…` text that sorts before every
        // other timestamp and that it cannot read back.
        for bad in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+00:01"] {
            let err = parse_ts(bad).unwrap_err().to_string();
            assert!(err.contains("outside the UTC years"), "{bad}: {err}");
        }
        assert_eq!(
            parse_ts("9999-12-31T23:59:59+23:59").unwrap().1,
            23 * 60 + 59,
            "the same local time east of UTC stays inside"
        );
        assert!(parse_ts("0000-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn format_local_whole_seconds_with_offset() {
        let t = utc("2026-03-29T01:00:00.987Z");
        assert_eq!(format_local(t, Berlin), "2026-03-29T03:00:00+02:00");
        assert_eq!(
            format_local(utc("2026-03-29T00:59:59Z"), Berlin),
            "2026-03-29T01:59:59+01:00"
        );
        assert_eq!(
            format_local(utc("2026-07-01T06:00:00Z"), Denver),
            "2026-07-01T00:00:00-06:00"
        );
    }

    #[test]
    fn quarter_hours_per_day_across_dst() {
        assert_eq!(quarter_hours(date(2026, 3, 28), Berlin), 96);
        assert_eq!(quarter_hours(date(2026, 3, 29), Berlin), 92);
        assert_eq!(quarter_hours(date(2026, 10, 25), Berlin), 100);
        // Southern hemisphere: the opposite months.
        assert_eq!(quarter_hours(date(2026, 10, 4), Sydney), 92);
        assert_eq!(quarter_hours(date(2026, 4, 5), Sydney), 100);
        assert_eq!(quarter_hours(date(2026, 3, 8), Denver), 92);
        assert_eq!(quarter_hours(date(2026, 11, 1), Denver), 100);
        assert_eq!(quarter_hours(date(2026, 6, 1), Denver), 96);
    }

    #[test]
    fn local_midnight_regular_and_dst_days() {
        assert_eq!(
            local_midnight(date(2026, 3, 29), Berlin),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            local_midnight(date(2026, 3, 30), Berlin),
            utc("2026-03-29T22:00:00Z")
        );
        assert_eq!(
            local_midnight(date(2026, 10, 4), Sydney),
            utc("2026-10-03T14:00:00Z")
        );
        assert_eq!(
            local_midnight(date(2026, 10, 5), Sydney),
            utc("2026-10-04T13:00:00Z")
        );
    }

    #[test]
    fn local_midnight_where_midnight_does_not_exist() {
        // Brazil (2018) and Cuba (2026) spring forward at 00:00: the day starts at 01:00.
        let sp = local_midnight(date(2018, 11, 4), Sao_Paulo);
        assert_eq!(sp, utc("2018-11-04T03:00:00Z"));
        assert_eq!(format_local(sp, Sao_Paulo), "2018-11-04T01:00:00-02:00");
        let hv = local_midnight(date(2026, 3, 8), Havana);
        assert_eq!(format_local(hv, Havana), "2026-03-08T01:00:00-04:00");
        // That day is 23 hours long.
        let next = local_midnight(date(2026, 3, 9), Havana);
        assert_eq!(next - hv, Duration::hours(23));
    }

    #[test]
    fn local_day_of_uses_site_zone() {
        let t = utc("2026-06-30T22:30:00Z");
        assert_eq!(local_day_of(t, Berlin), date(2026, 7, 1));
        assert_eq!(local_day_of(t, Denver), date(2026, 6, 30));
    }

    #[test]
    fn start_of_bucket_each_resolution() {
        let t = utc("2026-10-25T01:20:31.5Z"); // 02:20:31+01:00 in Berlin, second 02:xx
        let at = |r| start_of_bucket(t, r, Berlin);
        assert_eq!(at(Resolution::QuarterHour), utc("2026-10-25T01:15:00Z"));
        assert_eq!(at(Resolution::Hour), utc("2026-10-25T01:00:00Z"));
        assert_eq!(at(Resolution::Day), utc("2026-10-24T22:00:00Z"));
        assert_eq!(at(Resolution::Week), utc("2026-10-18T22:00:00Z")); // Monday 19th
        assert_eq!(at(Resolution::Month), utc("2026-09-30T22:00:00Z"));
        assert_eq!(at(Resolution::Year), utc("2025-12-31T23:00:00Z"));
        assert_eq!(at(Resolution::Total), t);
        // The first 02:20 (+02:00) falls into its own hour bucket.
        let first = utc("2026-10-25T00:20:00Z");
        assert_eq!(
            start_of_bucket(first, Resolution::Hour, Berlin),
            utc("2026-10-25T00:00:00Z")
        );
        // A half-hour zone: local hours are not UTC hours.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            start_of_bucket(utc("2026-01-01T10:10:00Z"), Resolution::Hour, kolkata),
            utc("2026-01-01T09:30:00Z")
        );
    }

    #[test]
    fn next_bucket_start_month_and_year_rollover() {
        let dec = utc("2026-12-15T12:00:00Z");
        assert_eq!(
            next_bucket_start(dec, Resolution::Month, Berlin),
            Some(utc("2026-12-31T23:00:00Z"))
        );
        assert_eq!(
            next_bucket_start(dec, Resolution::Year, Berlin),
            Some(utc("2026-12-31T23:00:00Z"))
        );
        assert_eq!(next_bucket_start(dec, Resolution::Total, Berlin), None);
        let days: Vec<_> = bucket_starts(
            local_midnight(date(2026, 10, 24), Berlin),
            local_midnight(date(2026, 10, 27), Berlin),
            Resolution::Day,
            Berlin,
        );
        assert_eq!(days.len(), 3);
        assert_eq!(days[2] - days[1], Duration::hours(25));
    }

    #[test]
    fn twelve_hour_windows_across_dst_in_both_hemispheres() {
        let span = Duration::hours(12);
        for (tz, from_day, to_day) in [
            (Berlin, date(2026, 3, 27), date(2026, 3, 31)),
            (Berlin, date(2026, 10, 23), date(2026, 10, 27)),
            (Sydney, date(2026, 4, 3), date(2026, 4, 7)),
            (Sydney, date(2026, 10, 2), date(2026, 10, 6)),
            (Denver, date(2026, 3, 6), date(2026, 3, 10)),
            (Denver, date(2026, 10, 30), date(2026, 11, 3)),
        ] {
            let from = local_midnight(from_day, tz);
            let to = local_midnight(to_day, tz);
            let ws = check_windows(from, to, span, Resolution::QuarterHour, tz);
            for (a, b) in &ws {
                assert_eq!(a.timestamp() % 900, 0);
                assert_eq!(b.timestamp() % 900, 0);
            }
            // Total covered equals the real duration (92 or 100 quarter-hours on DST days).
            let total: Duration = ws.iter().map(|(a, b)| *b - *a).sum();
            assert_eq!(total, to - from);
        }
    }

    #[test]
    fn windows_from_unaligned_start_and_end() {
        let from = utc("2026-10-25T00:07:13Z");
        let to = utc("2026-10-26T05:01:00Z");
        let ws = check_windows(
            from,
            to,
            Duration::hours(12),
            Resolution::QuarterHour,
            Berlin,
        );
        // Inner boundaries are aligned even though from/to are not.
        for (_, b) in &ws[..ws.len() - 1] {
            assert_eq!(b.timestamp() % 900, 0);
        }
    }

    #[test]
    fn day_aligned_windows_of_31_days() {
        let span = Duration::days(31);
        for tz in [Berlin, Sydney, Denver] {
            let from = local_midnight(date(2026, 1, 15), tz);
            let to = local_midnight(date(2026, 12, 1), tz);
            let ws = check_windows(from, to, span, Resolution::Day, tz);
            for (a, _) in &ws {
                assert_eq!(
                    start_of_bucket(*a, Resolution::Day, tz),
                    *a,
                    "local midnight"
                );
            }
        }
        // February then March in Berlin: 31 days from Feb 1 ends at local midnight Mar 4.
        let ws = check_windows(
            local_midnight(date(2026, 2, 1), Berlin),
            local_midnight(date(2026, 4, 1), Berlin),
            span,
            Resolution::Day,
            Berlin,
        );
        assert_eq!(ws[0].1, local_midnight(date(2026, 3, 4), Berlin));
        // March loses an hour to DST, so the second window is 28 days minus one hour.
        assert_eq!(ws[1].1 - ws[1].0, Duration::days(28) - Duration::hours(1));
        assert_eq!(ws.len(), 2);
    }

    #[test]
    fn month_aligned_windows_fall_back_when_a_month_exceeds_the_span() {
        // October in Berlin is 31 days + 1 hour: a 31-day span cannot reach Nov 1.
        let from = local_midnight(date(2026, 10, 1), Berlin);
        let to = local_midnight(date(2026, 12, 1), Berlin);
        let ws = check_windows(from, to, Duration::days(31), Resolution::Month, Berlin);
        // The boundary falls back to the last local midnight that fits: Oct 31.
        assert_eq!(ws[0].1, local_midnight(date(2026, 10, 31), Berlin));
        assert_eq!(ws.len(), 2);
        // 24-hour windows with DAY alignment over a 25-hour day fall back to an hour.
        let day = date(2026, 10, 25);
        let ws = check_windows(
            local_midnight(day, Berlin),
            local_midnight(date(2026, 10, 27), Berlin),
            Duration::hours(24),
            Resolution::Day,
            Berlin,
        );
        assert_eq!(format_local(ws[0].1, Berlin), "2026-10-25T23:00:00+01:00");
        assert_eq!(ws[1].1, local_midnight(date(2026, 10, 26), Berlin));
    }

    #[test]
    fn windows_of_empty_or_reversed_range() {
        let t = utc("2026-01-01T00:00:00Z");
        assert!(windows(t, t, Duration::hours(1), Resolution::Hour, Berlin).is_empty());
        assert!(windows(
            t,
            t - Duration::hours(1),
            Duration::hours(1),
            Resolution::Hour,
            Berlin
        )
        .is_empty());
    }

    #[test]
    fn year_windows_align_to_local_new_year() {
        let from = local_midnight(date(2021, 4, 1), Denver);
        let to = local_midnight(date(2026, 9, 29), Denver);
        let ws = check_windows(from, to, Duration::days(366), Resolution::Year, Denver);
        assert_eq!(ws[0].1, local_midnight(date(2022, 1, 1), Denver));
        assert_eq!(format_local(ws[1].0, Denver), "2022-01-01T00:00:00-07:00");
    }
}
