//! Reads for `seh report` (`crate::html_report`): one site-local day's quarter-hours of
//! power and battery state of energy, quarter-hour coverage and meter energy per local day
//! of a period, and energy per local month. Everything is aggregated per day or month in
//! SQL, so a year of quarter-hours is never held in memory; only one day's 96 (92, 100)
//! buckets come back row by row.
//!
//! Local dates come from the graphing views (migration 04). Those compute the date per
//! row, so every query also bounds `ts_utc` by the widest offsets there are (UTC-12 to
//! UTC+14), which lets SQLite use the tables' `(site_id, resolution, ts_utc)` keys.

use super::{Context, Error, Store};
use crate::model::SiteId;
use chrono::{Duration, NaiveDate};
use rusqlite::OptionalExtension;

/// One quarter-hour of a site-local day: its wall-clock start (`HH:MM`) and a value that
/// is `None` where the bucket was stored without one.
#[derive(Clone, Debug, PartialEq)]
pub struct QuarterHour {
    pub local_time: String,
    pub value: Option<f64>,
}

/// Quarter-hour energy buckets stored for one site-local day. A bucket stored without a
/// value counts: the API sends night quarter-hours as null, and they are data too.
#[derive(Clone, Debug, PartialEq)]
pub struct DayBuckets {
    pub date: NaiveDate,
    pub buckets: i64,
}

/// Energy of one site-local month in kWh; `partial` for the month still running.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthEnergy {
    pub month: String,
    pub kwh: f64,
    pub partial: bool,
}

/// Meter energy of one site-local day in kWh, summed over the site's meters; `None` where
/// no meter sent that series.
#[derive(Clone, Debug, PartialEq)]
pub struct MeterDay {
    pub date: NaiveDate,
    pub production_kwh: Option<f64>,
    pub consumption_kwh: Option<f64>,
    pub import_kwh: Option<f64>,
    pub export_kwh: Option<f64>,
}

/// `ts_utc` bounds that hold every bucket of the local dates `from..=to` in any zone.
fn utc_bounds(from: NaiveDate, to: NaiveDate) -> (String, String) {
    let fmt = |d: chrono::NaiveDateTime| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let lo = from.and_hms_opt(0, 0, 0).unwrap_or_default() - Duration::hours(15);
    let hi = to.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::hours(24 + 13);
    (fmt(lo), fmt(hi))
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    text.parse().ok()
}

impl Store {
    /// Runs `f` inside one read transaction, so everything it reads is one snapshot even
    /// while a sync commits (WAL readers never block the writer). Writes nothing.
    pub fn read_snapshot<T>(&self, f: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, Error> {
        let tx = self
            .conn
            .unchecked_transaction()
            .ctx("begin read transaction")?;
        let out = f(self)?;
        // Ending a transaction that wrote nothing: nothing to commit but the read lock.
        tx.rollback().ctx("end read transaction")?;
        Ok(out)
    }

    /// The newest site-local date with energy of any resolution (`v_seh_daily_energy`).
    pub fn newest_energy_date(&self, site: SiteId) -> Result<Option<NaiveDate>, Error> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT MAX(local_date) FROM v_seh_daily_energy WHERE site_id = ?1",
                [site],
                |r| r.get(0),
            )
            .optional()
            .ctx("read newest energy date")?
            .flatten();
        Ok(text.as_deref().and_then(parse_date))
    }

    /// Quarter-hour energy buckets stored per site-local day in `[from, to]`; days without
    /// any are missing.
    pub fn energy_buckets_per_day(
        &self,
        site: SiteId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayBuckets>, Error> {
        let query = "read quarter-hour coverage";
        let (lo, hi) = utc_bounds(from, to);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT local_date, COUNT(*) FROM v_seh_energy_15min \
                 WHERE site_id = ?1 AND ts_utc >= ?2 AND ts_utc < ?3 \
                 AND local_date BETWEEN ?4 AND ?5 \
                 GROUP BY local_date ORDER BY local_date",
            )
            .ctx(query)?;
        let rows = st
            .query_map(
                rusqlite::params![site, lo, hi, from.to_string(), to.to_string()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .ctx(query)?;
        let mut out = Vec::new();
        for row in rows {
            let (date, buckets) = row.ctx(query)?;
            if let Some(date) = parse_date(&date) {
                out.push(DayBuckets { date, buckets });
            }
        }
        Ok(out)
    }

    /// The quarter-hour power (W) of one site-local day, oldest first.
    pub fn power_of_day(&self, site: SiteId, date: NaiveDate) -> Result<Vec<QuarterHour>, Error> {
        let (lo, hi) = utc_bounds(date, date);
        self.quarter_hours(
            "read power of a day",
            "SELECT substr(local_time, 12, 5), power_w FROM v_seh_power_15min \
             WHERE site_id = ?1 AND ts_utc >= ?2 AND ts_utc < ?3 AND local_date = ?4 \
             ORDER BY ts_utc",
            rusqlite::params![site, lo, hi, date.to_string()],
        )
    }

    /// The batteries of a site with quarter-hour telemetry on one site-local day.
    pub fn batteries_of_day(&self, site: SiteId, date: NaiveDate) -> Result<Vec<String>, Error> {
        let query = "read batteries";
        let (lo, hi) = utc_bounds(date, date);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT device_key FROM v_seh_storage_15min \
                 WHERE site_id = ?1 AND ts_utc >= ?2 AND ts_utc < ?3 \
                 AND date(local_time) = ?4 ORDER BY device_key",
            )
            .ctx(query)?;
        let rows = st
            .query_map(rusqlite::params![site, lo, hi, date.to_string()], |r| {
                r.get(0)
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// One battery's state of energy (percent, `v_seh_storage_15min`) over one site-local
    /// day, oldest first.
    pub fn state_of_energy_of_day(
        &self,
        site: SiteId,
        device_key: &str,
        date: NaiveDate,
    ) -> Result<Vec<QuarterHour>, Error> {
        let (lo, hi) = utc_bounds(date, date);
        self.quarter_hours(
            "read state of energy of a day",
            "SELECT substr(local_time, 12, 5), state_of_energy_pct FROM v_seh_storage_15min \
             WHERE site_id = ?1 AND device_key = ?5 AND ts_utc >= ?2 AND ts_utc < ?3 \
             AND date(local_time) = ?4 ORDER BY ts_utc",
            rusqlite::params![site, lo, hi, date.to_string(), device_key],
        )
    }

    fn quarter_hours(
        &self,
        query: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<QuarterHour>, Error> {
        let mut st = self.conn.prepare_cached(sql).ctx(query)?;
        let rows = st
            .query_map(params, |r| {
                Ok(QuarterHour {
                    local_time: r.get(0)?,
                    value: r.get(1)?,
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// Energy per site-local month over the whole history (`v_seh_energy_monthly`).
    pub fn monthly_energy(&self, site: SiteId) -> Result<Vec<MonthEnergy>, Error> {
        let query = "read monthly energy";
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT local_month, energy_kwh, partial FROM v_seh_energy_monthly \
                 WHERE site_id = ?1 AND energy_kwh IS NOT NULL ORDER BY local_month",
            )
            .ctx(query)?;
        let rows = st
            .query_map([site], |r| {
                Ok(MonthEnergy {
                    month: r.get(0)?,
                    kwh: r.get(1)?,
                    partial: r.get(2)?,
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// Meter energy per site-local day in `[from, to]`, summed over the site's meters from
    /// their quarter-hours; days without meter data are missing.
    pub fn meter_days(
        &self,
        site: SiteId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<MeterDay>, Error> {
        let query = "read meter energy per day";
        let (lo, hi) = utc_bounds(from, to);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT date(local_time) AS d, SUM(production_energy_wh) / 1000.0, \
                 SUM(consumption_energy_wh) / 1000.0, SUM(import_energy_wh) / 1000.0, \
                 SUM(export_energy_wh) / 1000.0 FROM v_seh_meter_15min \
                 WHERE site_id = ?1 AND ts_utc >= ?2 AND ts_utc < ?3 \
                 AND date(local_time) BETWEEN ?4 AND ?5 GROUP BY d ORDER BY d",
            )
            .ctx(query)?;
        let rows = st
            .query_map(
                rusqlite::params![site, lo, hi, from.to_string(), to.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                },
            )
            .ctx(query)?;
        let mut out = Vec::new();
        for row in rows {
            let (date, production_kwh, consumption_kwh, import_kwh, export_kwh) = row.ctx(query)?;
            if let Some(date) = parse_date(&date) {
                out.push(MeterDay {
                    date,
                    production_kwh,
                    consumption_kwh,
                    import_kwh,
                    export_kwh,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_bounds_cover_every_zone() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let (lo, hi) = utc_bounds(d, d);
        // UTC+14 starts the day at 10:00 the day before; UTC-12 ends it at 12:00 the next.
        assert!(lo.as_str() <= "2026-03-28T10:00:00Z", "{lo}");
        assert!(hi.as_str() >= "2026-03-30T12:00:00Z", "{hi}");
    }

    #[test]
    fn an_empty_database_reads_as_nothing() {
        let store = Store::open_in_memory().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let got = store
            .read_snapshot(|s| {
                Ok((
                    s.newest_energy_date(1)?,
                    s.energy_buckets_per_day(1, d, d)?,
                    s.power_of_day(1, d)?,
                    s.monthly_energy(1)?,
                    s.meter_days(1, d, d)?,
                    s.batteries_of_day(1, d)?,
                ))
            })
            .unwrap();
        assert_eq!(got, (None, vec![], vec![], vec![], vec![], vec![]));
    }
}
