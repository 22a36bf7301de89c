//! The window and cursor rules: which request windows a time-series family needs this run,
//! how its cursor moves after each window, and which overview days are due. The planner
//! decides what to fetch with them; the harvester advances the cursors with them.
//!
//! No IO and no clock here: every function takes `now` and the stored state, so each rule is
//! unit-tested exactly, including DST days in both hemispheres.
//!
//! The cursor of a series is the contiguous range `[covered_from, covered_to)` known to be
//! final. `covered_to` never passes the start of the bucket that contains `now - settle`,
//! so the next run re-reads that settle window: late quarter-hours and still-null buckets
//! get their values, and closed history before it is never fetched again.

use crate::api::time as t;
use crate::model::Resolution;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// What the window rules know about one series of one site.
#[derive(Clone, Debug)]
pub(crate) struct SeriesInput {
    pub resolution: Resolution,
    pub tz: Tz,
    /// Installation instant, if the site details gave one.
    pub install: Option<DateTime<Utc>>,
    pub covered_from: Option<DateTime<Utc>>,
    pub covered_to: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// How far back a new series starts when `full` is false (never before installation).
    pub initial: Duration,
    /// Plan history too: a new series starts at installation, and backfill windows fill in
    /// below `covered_from`. The planner sets it for history, not from `--full`.
    pub full: bool,
    pub max_span: Duration,
}

/// A planned request window and whether it extends the cursor forward or backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub backfill: bool,
}

/// The boundary the cursor may not pass this run: start of the bucket containing
/// `now - settle`.
pub(crate) fn settled_limit(
    res: Resolution,
    now: DateTime<Utc>,
    settle: Duration,
    tz: Tz,
) -> DateTime<Utc> {
    t::start_of_bucket(now - settle, res, tz)
}

/// The windows to fetch, in order: forward windows oldest first (each extends
/// `covered_to`) up to the start of the bucket running at `now`, then backfill windows
/// newest first (each extends `covered_from` down).
pub(crate) fn series_windows(i: &SeriesInput) -> Vec<Window> {
    let floor = |x: DateTime<Utc>| t::start_of_bucket(x, i.resolution, i.tz);
    let recent = i.now - i.initial;
    let earliest = match (i.full, i.install) {
        (true, Some(inst)) => inst,
        (false, Some(inst)) => inst.max(recent),
        (_, None) => recent,
    };
    let mut out = Vec::new();
    let start = match i.covered_to {
        Some(c) => c,
        None => floor(earliest),
    };
    let start = floor(start);
    // Only completed buckets are asked for: the bucket still running is always null.
    let end = floor(i.now);
    if start < end {
        for (from, to) in t::windows(start, end, i.max_span, i.resolution, i.tz) {
            out.push(Window {
                from,
                to,
                backfill: false,
            });
        }
    }
    if i.full {
        if let Some(cf) = i.covered_from {
            let lo = floor(earliest);
            if lo < cf {
                let mut back = t::windows(lo, cf, i.max_span, i.resolution, i.tz);
                back.reverse();
                out.extend(back.into_iter().map(|(from, to)| Window {
                    from,
                    to,
                    backfill: true,
                }));
            }
        }
    }
    out
}

/// The backfill windows of a series newest first, as [`series_windows`] plans them, made
/// one at a time: a fleet's quarter-hour history is millions of windows, and a run pays
/// for a few hundred. Quarter-hour windows of a whole number of quarter-hours are computed
/// from their index; any other series is planned whole (they are few and short).
pub(crate) struct Backfill {
    kind: BackfillKind,
}

enum BackfillKind {
    /// Windows `[lo + k·span, min(lo + (k+1)·span, cf))` for `k` from `next` down to 0.
    Arithmetic {
        lo: DateTime<Utc>,
        cf: DateTime<Utc>,
        span: Duration,
        /// Windows not yet handed out; the next is number `left - 1`.
        left: u64,
    },
    Listed(std::vec::IntoIter<Window>),
}

impl Backfill {
    pub(crate) fn of(i: &SeriesInput) -> Backfill {
        let quarter = Duration::minutes(15);
        let aligned = i.resolution == Resolution::QuarterHour
            && i.max_span >= quarter
            && i.max_span.num_seconds() % quarter.num_seconds() == 0;
        match (aligned && i.full, i.covered_from, i.install) {
            (true, Some(cf), Some(inst)) => {
                let lo = t::start_of_bucket(inst, i.resolution, i.tz);
                let left = if lo < cf {
                    let span = i.max_span.num_seconds();
                    ((cf - lo).num_seconds() + span - 1) as u64 / span as u64
                } else {
                    0
                };
                Backfill {
                    kind: BackfillKind::Arithmetic {
                        lo,
                        cf,
                        span: i.max_span,
                        left,
                    },
                }
            }
            _ => {
                let back: Vec<Window> = series_windows(i)
                    .into_iter()
                    .filter(|w| w.backfill)
                    .collect();
                Backfill {
                    kind: BackfillKind::Listed(back.into_iter()),
                }
            }
        }
    }

    /// Windows not yet handed out.
    pub(crate) fn remaining(&self) -> u64 {
        match &self.kind {
            BackfillKind::Arithmetic { left, .. } => *left,
            BackfillKind::Listed(it) => it.len() as u64,
        }
    }
}

impl Iterator for Backfill {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        match &mut self.kind {
            BackfillKind::Arithmetic { lo, cf, span, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let from = *lo + *span * i32::try_from(*left).unwrap_or(i32::MAX);
                Some(Window {
                    from,
                    to: (from + *span).min(*cf),
                    backfill: true,
                })
            }
            BackfillKind::Listed(it) => it.next(),
        }
    }
}

/// The cursor after `w` was fetched and stored.
pub(crate) fn advance(
    covered_from: Option<DateTime<Utc>>,
    covered_to: Option<DateTime<Utc>>,
    w: Window,
    settled: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if w.backfill {
        // Backfill windows end exactly at covered_from; extend it down.
        return (Some(w.from), covered_to);
    }
    let to = w.to.min(settled);
    let new_to = match covered_to {
        Some(c) => c.max(to),
        None => to.max(w.from),
    };
    let new_from = match covered_from {
        Some(f) => Some(f.min(w.from)),
        None => Some(w.from),
    };
    (new_from, Some(new_to))
}

/// Local days whose overview is due: from the cursor day (or `initial_days` back, never
/// before installation) through today.
pub(crate) fn overview_days(
    covered_to: Option<DateTime<Utc>>,
    install: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    initial_days: u32,
    tz: Tz,
) -> Vec<NaiveDate> {
    let today = t::local_day_of(now, tz);
    let first = match covered_to {
        Some(c) => t::local_day_of(c, tz),
        None => {
            let back = today - Duration::days(i64::from(initial_days));
            match install {
                Some(i) => back.max(t::local_day_of(i, tz)),
                None => back,
            }
        }
    };
    first.iter_days().take_while(|d| *d <= today).collect()
}

/// The overview cursor after day `d` was stored: the next day's midnight once `d` ended
/// more than `settle` ago (its numbers are final), else unchanged.
pub(crate) fn overview_advance(
    covered_to: Option<DateTime<Utc>>,
    d: NaiveDate,
    now: DateTime<Utc>,
    settle: Duration,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let next = t::local_midnight(d + Duration::days(1), tz);
    if next <= now - settle {
        Some(covered_to.map_or(next, |c| c.max(next)))
    } else {
        covered_to
    }
}

/// Default largest window per resolution, from the documented limits (reference §7.4):
/// QUARTER_HOUR 12 h, HOUR 24 h, DAY one month (31 days), WEEK and MONTH a year, YEAR
/// unlimited. Configuration and learned limits override these.
pub(crate) fn default_max_span(res: Resolution) -> Duration {
    match res {
        Resolution::QuarterHour => Duration::hours(12),
        Resolution::Hour => Duration::hours(24),
        Resolution::Day => Duration::days(31),
        Resolution::Week | Resolution::Month => Duration::days(366),
        Resolution::Year | Resolution::Total => Duration::days(366 * 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The settle window of these tests.
    const SETTLE: Duration = Duration::hours(3);

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn input(now: DateTime<Utc>) -> SeriesInput {
        SeriesInput {
            resolution: Resolution::QuarterHour,
            tz: berlin(),
            install: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            covered_from: None,
            covered_to: None,
            now,
            initial: Duration::days(7),
            full: false,
            max_span: Duration::hours(12),
        }
    }

    fn assert_contiguous(ws: &[Window], from: DateTime<Utc>, to: DateTime<Utc>, max: Duration) {
        assert_eq!(ws.first().unwrap().from, from);
        assert_eq!(ws.last().unwrap().to, to);
        for w in ws.windows(2) {
            assert_eq!(w[0].to, w[1].from);
        }
        for w in ws {
            assert!(w.to - w.from <= max && w.from < w.to);
        }
    }

    #[test]
    fn backfill_made_one_at_a_time_equals_the_whole_plan() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 7, 0).unwrap();
        let zones = [
            "Europe/Berlin",
            "Australia/Sydney",
            "Asia/Kathmandu",
            "America/Denver",
        ];
        for zone in zones {
            for (install, span_min, cf_days) in [
                ((2024, 3, 31, 1, 0), 12 * 60, 3),
                ((2025, 10, 26, 0, 30), 60, 10),
                ((2026, 11, 20, 7, 45), 7 * 24 * 60, 1),
                ((2026, 11, 25, 0, 0), 12 * 60, 1),
                // Not a whole number of quarter-hours: planned whole.
                ((2026, 1, 1, 0, 0), 50, 30),
            ] {
                let (y, mo, d, h, mi) = install;
                let mut i = input(now);
                i.tz = zone.parse().unwrap();
                i.install = Some(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap());
                i.full = true;
                i.max_span = Duration::minutes(span_min);
                let cf = t::start_of_bucket(
                    now - Duration::days(cf_days),
                    Resolution::QuarterHour,
                    i.tz,
                );
                i.covered_from = Some(cf);
                i.covered_to = Some(cf + Duration::days(1));
                let whole: Vec<Window> = series_windows(&i)
                    .into_iter()
                    .filter(|w| w.backfill)
                    .collect();
                let lazy = Backfill::of(&i);
                assert_eq!(lazy.remaining(), whole.len() as u64, "{zone} {install:?}");
                assert_eq!(
                    lazy.collect::<Vec<_>>(),
                    whole,
                    "{zone} {install:?} {span_min}"
                );
            }
        }
    }

    #[test]
    fn first_run_takes_the_initial_span_in_12h_windows() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 7, 0).unwrap();
        let ws = series_windows(&input(now));
        let from = Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        assert_contiguous(&ws, from, end, Duration::hours(12));
        assert_eq!(ws.len(), 14);
    }

    #[test]
    fn cursor_stops_at_the_settle_window_and_the_next_run_rereads_it() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 7, 0).unwrap();
        let i = input(now);
        let settled = settled_limit(i.resolution, now, SETTLE, i.tz);
        assert_eq!(
            settled,
            Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()
        );
        let (mut f, mut c) = (None, None);
        for w in series_windows(&i) {
            (f, c) = advance(f, c, w, settled);
        }
        assert_eq!(c, Some(settled));
        // 15 minutes later: one window from the settle boundary to now.
        let later = now + Duration::minutes(15);
        let mut j = input(later);
        j.covered_from = f;
        j.covered_to = c;
        let ws = series_windows(&j);
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].from, settled);
        assert_eq!(
            ws[0].to,
            Utc.with_ymd_and_hms(2026, 11, 26, 12, 15, 0).unwrap()
        );
    }

    #[test]
    fn full_reaches_installation_with_backfill_newest_first() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let mut i = input(now);
        i.install = Some(Utc.with_ymd_and_hms(2026, 11, 10, 23, 0, 0).unwrap());
        i.covered_from = Some(Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0).unwrap());
        i.covered_to = Some(Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap());
        i.full = true;
        let ws = series_windows(&i);
        let back: Vec<_> = ws.iter().filter(|w| w.backfill).collect();
        assert_eq!(back.first().unwrap().to, i.covered_from.unwrap());
        assert_eq!(back.last().unwrap().from, i.install.unwrap());
        let (mut f, mut c) = (i.covered_from, i.covered_to);
        for w in &ws {
            (f, c) = advance(f, c, *w, settled_limit(i.resolution, now, SETTLE, i.tz));
        }
        assert_eq!(f, i.install);
    }

    #[test]
    fn day_windows_across_dst_in_both_hemispheres() {
        for (zone, y) in [
            ("Europe/Berlin", 2026),
            ("Australia/Sydney", 2026),
            ("America/Denver", 2026),
        ] {
            let tz: Tz = zone.parse().unwrap();
            let now = Utc.with_ymd_and_hms(y, 12, 1, 12, 0, 0).unwrap();
            let mut i = input(now);
            i.tz = tz;
            i.resolution = Resolution::Day;
            i.max_span = default_max_span(Resolution::Day);
            i.initial = Duration::days(400);
            i.install = None;
            let ws = series_windows(&i);
            let start = t::start_of_bucket(now - Duration::days(400), Resolution::Day, tz);
            let end = t::start_of_bucket(now, Resolution::Day, tz);
            assert_contiguous(&ws, start, end, Duration::days(31));
            // Inner boundaries are local midnights.
            for w in &ws[1..] {
                assert_eq!(
                    t::start_of_bucket(w.from, Resolution::Day, tz),
                    w.from,
                    "{zone}"
                );
            }
        }
    }

    #[test]
    fn quarter_hour_windows_on_the_autumn_day_cover_100_buckets() {
        let tz = berlin();
        let day = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        let from = t::local_midnight(day, tz);
        let to = t::local_midnight(day + Duration::days(1), tz);
        let ws = t::windows(from, to, Duration::hours(12), Resolution::QuarterHour, tz);
        let buckets: usize = ws
            .iter()
            .map(|(a, b)| t::bucket_starts(*a, *b, Resolution::QuarterHour, tz).len())
            .sum();
        assert_eq!(buckets, 100);
    }

    #[test]
    fn overview_days_and_cursor() {
        let tz = berlin();
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let days = overview_days(None, None, now, 7, tz);
        assert_eq!(days.len(), 8);
        assert_eq!(
            *days.last().unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
        );
        let settle = Duration::hours(3);
        let mut c = None;
        for d in &days {
            c = overview_advance(c, *d, now, settle, tz);
        }
        // Yesterday is final (ended 13 h ago), today is not.
        assert_eq!(
            c,
            Some(t::local_midnight(
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                tz
            ))
        );
        assert_eq!(overview_days(c, None, now, 7, tz).len(), 1);
        // Installation bounds the first run.
        let inst = Some(Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 0).unwrap());
        assert_eq!(overview_days(None, inst, now, 7, tz).len(), 2);
    }
}
