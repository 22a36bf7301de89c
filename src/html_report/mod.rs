//! `seh report`: one self-contained HTML file a person opens from a USB stick, per site
//! the last complete day's power curve (and battery state of energy), daily energy of a
//! period, monthly energy over the whole history, the lifetime total, quarter-hour
//! coverage per day, and meter energy where meters exist.
//!
//! [`gather`] reads the facts through one read transaction of the store (aggregated per
//! day and month in SQL, so memory stays bounded by the period, not the history);
//! [`page::render`] turns them into HTML with inline SVG ([`svg`]). Both are free of IO
//! besides the store; writing the file is the command's job.

pub mod page;
pub mod svg;

use crate::model::SiteId;
use crate::store::{self, DayEnergy, MeterDay, MonthEnergy, QuarterHour};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Days in the period when neither `--from` nor `--to` is given.
pub const DEFAULT_DAYS: i64 = 30;

/// What to report on.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only these sites (all when empty).
    pub sites: Vec<SiteId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub sites: Vec<SiteReport>,
}

/// One site's facts.
#[derive(Clone, Debug)]
pub struct SiteReport {
    pub site_id: SiteId,
    pub name: Option<String>,
    pub timezone: Option<String>,
    /// The period of the daily figures; `None` when the site has no energy stored.
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub lifetime_kwh: Option<f64>,
    pub days: Vec<DayEnergy>,
    /// Every day of the period, oldest first.
    pub coverage: Vec<Coverage>,
    pub curve: Option<DayCurve>,
    pub months: Vec<MonthEnergy>,
    pub meters: Vec<MeterDay>,
}

/// Quarter-hour energy buckets of one day against the day's length in quarter-hours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    pub date: NaiveDate,
    pub buckets: i64,
    pub expected: i64,
}

impl Coverage {
    pub fn complete(&self) -> bool {
        self.buckets >= self.expected
    }
}

/// The quarter-hours of the day the curve shows.
#[derive(Clone, Debug)]
pub struct DayCurve {
    pub date: NaiveDate,
    /// Whether every quarter-hour of energy is stored; else the newest day with data.
    pub complete: bool,
    pub slots: i64,
    pub power: Vec<QuarterHour>,
    /// Per battery: its device key and state of energy in percent.
    pub batteries: Vec<(String, Vec<QuarterHour>)>,
}

/// Quarter-hours in a site-local day: 96, or 92 and 100 on the days the clock changes.
/// Without a known zone every day has 96.
pub fn quarter_hours_in(zone: Option<Tz>, date: NaiveDate) -> i64 {
    let Some(tz) = zone else { return 96 };
    let start = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0)?;
        // A zone whose clock skips midnight starts the day at the first instant after.
        (0..4).find_map(|h| {
            tz.from_local_datetime(&(midnight + Duration::hours(h)))
                .earliest()
        })
    };
    match (start(date), date.succ_opt().and_then(start)) {
        (Some(a), Some(b)) => (b - a).num_minutes() / 15,
        _ => 96,
    }
}

/// The period of the daily figures: as given, else ending on the newest day with energy
/// and [`DEFAULT_DAYS`] long.
fn period(opts: &Options, newest: Option<NaiveDate>) -> Option<(NaiveDate, NaiveDate)> {
    let span = Duration::days(DEFAULT_DAYS - 1);
    match (opts.from, opts.to) {
        (Some(f), Some(t)) => Some((f, t)),
        (Some(f), None) => Some((f, newest.unwrap_or(f).max(f))),
        (None, Some(t)) => Some((t - span, t)),
        (None, None) => newest.map(|t| (t - span, t)),
    }
}

/// Reads the report for the chosen sites in one read transaction.
pub fn gather(
    store: &store::Store,
    opts: &Options,
    generated_at: DateTime<Utc>,
) -> Result<Report, store::Error> {
    store.read_snapshot(|s| {
        let mut sites = Vec::new();
        for row in s.site_rows()? {
            if !opts.sites.is_empty() && !opts.sites.contains(&row.site_id) {
                continue;
            }
            sites.push(site(s, opts, row, generated_at)?);
        }
        Ok(Report {
            generated_at,
            sites,
        })
    })
}

/// The site-local month of `now` (`YYYY-MM`), in UTC without a known zone.
fn this_month(zone: Option<Tz>, now: DateTime<Utc>) -> String {
    match zone {
        Some(tz) => now.with_timezone(&tz).format("%Y-%m").to_string(),
        None => now.format("%Y-%m").to_string(),
    }
}

fn site(
    s: &store::Store,
    opts: &Options,
    row: store::SiteRow,
    generated_at: DateTime<Utc>,
) -> Result<SiteReport, store::Error> {
    let id = row.site_id;
    let zone: Option<Tz> = row.timezone.as_deref().and_then(|z| z.parse().ok());
    let period = period(opts, s.newest_energy_date(id)?);
    let mut report = SiteReport {
        site_id: id,
        name: row.name,
        timezone: row.timezone,
        period,
        lifetime_kwh: s.lifetime_energy_kwh(id)?,
        days: Vec::new(),
        coverage: Vec::new(),
        curve: None,
        months: s.monthly_energy(id, &this_month(zone, generated_at))?,
        meters: Vec::new(),
    };
    let Some((from, to)) = period else {
        return Ok(report);
    };
    report.days = s.daily_energy(id, from, to)?;
    report.meters = s.meter_days(id, from, to)?;
    let mut stored = s
        .energy_buckets_per_day(id, from, to)?
        .into_iter()
        .peekable();
    let mut day = from;
    while day <= to {
        let buckets = match stored.peek() {
            Some(d) if d.date == day => stored.next().map_or(0, |d| d.buckets),
            _ => 0,
        };
        report.coverage.push(Coverage {
            date: day,
            buckets,
            expected: quarter_hours_in(zone, day),
        });
        day += Duration::days(1);
    }
    let day = report
        .coverage
        .iter()
        .rev()
        .find(|c| c.complete())
        .or_else(|| report.coverage.iter().rev().find(|c| c.buckets > 0))
        .copied();
    if let Some(day) = day {
        let batteries = s
            .batteries_of_day(id, day.date)?
            .into_iter()
            .map(|key| {
                let soe = s.state_of_energy_of_day(id, &key, day.date)?;
                Ok((key, soe))
            })
            .collect::<Result<_, store::Error>>()?;
        report.curve = Some(DayCurve {
            date: day.date,
            complete: day.complete(),
            slots: day.expected,
            power: s.power_of_day(id, day.date)?,
            batteries,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn days_have_92_96_or_100_quarter_hours() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        assert_eq!(quarter_hours_in(Some(berlin), d(2026, 3, 29)), 92);
        assert_eq!(quarter_hours_in(Some(berlin), d(2026, 10, 25)), 100);
        assert_eq!(quarter_hours_in(Some(berlin), d(2026, 11, 25)), 96);
        assert_eq!(quarter_hours_in(Some(sydney), d(2026, 10, 4)), 92);
        assert_eq!(quarter_hours_in(None, d(2026, 3, 29)), 96);
    }

    #[test]
    fn the_period_defaults_to_thirty_days_up_to_the_newest() {
        let newest = Some(d(2026, 11, 26));
        let none = Options::default();
        assert_eq!(
            period(&none, newest),
            Some((d(2026, 10, 28), d(2026, 11, 26)))
        );
        assert_eq!(period(&none, None), None);
        let from = Options {
            from: Some(d(2026, 11, 1)),
            ..Options::default()
        };
        assert_eq!(
            period(&from, newest),
            Some((d(2026, 11, 1), d(2026, 11, 26)))
        );
        let to = Options {
            to: Some(d(2026, 11, 10)),
            ..Options::default()
        };
        assert_eq!(period(&to, None), Some((d(2026, 10, 12), d(2026, 11, 10))));
    }
}
