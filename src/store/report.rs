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

/// A CTE `keys(key)` of the distinct device keys of site `?1` in `table`, found by
/// stepping through the primary key (`site_id, device_key, ...`) from one key to the
/// next, so no telemetry row is read; its one NULL row ends the walk.
fn device_keys(table: &str) -> String {
    format!(
        "WITH RECURSIVE keys(key) AS ( \
         SELECT (SELECT MIN(device_key) FROM {table} WHERE site_id = ?1) \
         UNION ALL \
         SELECT (SELECT MIN(device_key) FROM {table} WHERE site_id = ?1 AND device_key > key) \
         FROM keys WHERE key IS NOT NULL)"
    )
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

    /// The newest site-local date with energy: the newest quarter-hour bucket or DAY value,
    /// as `v_seh_daily_energy` counts days, read from the newest rows by the key.
    pub fn newest_energy_date(&self, site: SiteId) -> Result<Option<NaiveDate>, Error> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT MAX(d) FROM ( \
                 SELECT * FROM (SELECT date(ts_utc, utc_offset_min || ' minutes') AS d \
                   FROM seh_energy WHERE site_id = ?1 AND resolution = 'QUARTER_HOUR' \
                   ORDER BY ts_utc DESC LIMIT 1) \
                 UNION ALL \
                 SELECT * FROM (SELECT date(ts_utc, utc_offset_min || ' minutes') AS d \
                   FROM seh_energy WHERE site_id = ?1 AND resolution = 'DAY' \
                   AND energy_wh IS NOT NULL ORDER BY ts_utc DESC LIMIT 1))",
                [site],
                |r| r.get(0),
            )
            .optional()
            .ctx("read newest energy date")?
            .flatten();
        Ok(text.as_deref().and_then(parse_date))
    }

    /// The lifetime energy in kWh by `v_seh_site_summary`'s rule (the newest non-null
    /// TOTAL bucket, else the sum of the YEAR buckets), without the view's row counts.
    pub fn lifetime_energy_kwh(&self, site: SiteId) -> Result<Option<f64>, Error> {
        self.conn
            .query_row(
                "SELECT COALESCE( \
                   (SELECT energy_wh FROM seh_energy WHERE site_id = ?1 \
                    AND resolution = 'TOTAL' AND energy_wh IS NOT NULL \
                    ORDER BY ts_utc DESC LIMIT 1), \
                   (SELECT SUM(energy_wh) FROM seh_energy WHERE site_id = ?1 \
                    AND resolution = 'YEAR')) / 1000.0",
                [site],
                |r| r.get(0),
            )
            .ctx("read lifetime energy")
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

    /// The batteries of a site with a quarter-hour state of energy on one site-local day.
    pub fn batteries_of_day(&self, site: SiteId, date: NaiveDate) -> Result<Vec<String>, Error> {
        let query = "read batteries";
        let (lo, hi) = utc_bounds(date, date);
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "{} SELECT key FROM keys WHERE key IS NOT NULL AND EXISTS ( \
                 SELECT 1 FROM seh_storage_telemetry WHERE site_id = ?1 AND device_key = key \
                 AND resolution = 'QUARTER_HOUR' AND metric = 'stateOfEnergy' \
                 AND ts_utc >= ?2 AND ts_utc < ?3 \
                 AND date(ts_utc, utc_offset_min || ' minutes') = ?4) ORDER BY key",
                device_keys("seh_storage_telemetry")
            ))
            .ctx(query)?;
        let rows = st
            .query_map(rusqlite::params![site, lo, hi, date.to_string()], |r| {
                r.get(0)
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// One battery's state of energy in percent over one site-local day, oldest first, by
    /// the rule of `v_seh_state_of_energy` (PERCENTAGE values that never exceed 1 are
    /// fractions), its scale found once per unit instead of once per row.
    pub fn state_of_energy_of_day(
        &self,
        site: SiteId,
        device_key: &str,
        date: NaiveDate,
    ) -> Result<Vec<QuarterHour>, Error> {
        let (lo, hi) = utc_bounds(date, date);
        self.quarter_hours(
            "read state of energy of a day",
            "WITH scale AS (SELECT unit, MAX(value) AS top FROM seh_storage_telemetry \
               WHERE site_id = ?1 AND device_key = ?5 AND metric = 'stateOfEnergy' \
               GROUP BY unit) \
             SELECT substr(datetime(t.ts_utc, t.utc_offset_min || ' minutes'), 12, 5), \
               CASE WHEN t.value IS NULL OR s.top IS NULL THEN NULL \
                    WHEN upper(t.unit) = 'PERCENTAGE_100' THEN t.value \
                    WHEN s.top <= 1.0 THEN round(t.value * 100.0, 9) \
                    ELSE t.value END \
             FROM seh_storage_telemetry AS t LEFT JOIN scale AS s ON s.unit = t.unit \
             WHERE t.site_id = ?1 AND t.device_key = ?5 AND t.resolution = 'QUARTER_HOUR' \
             AND t.metric = 'stateOfEnergy' AND t.ts_utc >= ?2 AND t.ts_utc < ?3 \
             AND date(t.ts_utc, t.utc_offset_min || ' minutes') = ?4 ORDER BY t.ts_utc",
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

    /// Energy per site-local month over the whole history by the rule of
    /// `v_seh_energy_monthly` (MONTH values, else the month's days: DAY values, else the
    /// sum of the day's quarter-hours), each step read by the key rather than through the
    /// nested views. `partial` for `current_month` (`YYYY-MM`) and later.
    pub fn monthly_energy(
        &self,
        site: SiteId,
        current_month: &str,
    ) -> Result<Vec<MonthEnergy>, Error> {
        let query = "read monthly energy";
        let mut st = self
            .conn
            .prepare_cached(
                "WITH m AS ( \
                   SELECT strftime('%Y-%m', ts_utc, utc_offset_min || ' minutes') AS month, \
                     energy_wh / 1000.0 AS kwh FROM seh_energy \
                   WHERE site_id = ?1 AND resolution = 'MONTH' AND energy_wh IS NOT NULL), \
                 d AS ( \
                   SELECT date(ts_utc, utc_offset_min || ' minutes') AS day, energy_wh \
                   FROM seh_energy \
                   WHERE site_id = ?1 AND resolution = 'DAY' AND energy_wh IS NOT NULL), \
                 q AS ( \
                   SELECT date(ts_utc, utc_offset_min || ' minutes') AS day, \
                     SUM(energy_wh) AS energy_wh FROM seh_energy \
                   WHERE site_id = ?1 AND resolution = 'QUARTER_HOUR' GROUP BY day), \
                 days AS ( \
                   SELECT day, energy_wh FROM d \
                   UNION ALL SELECT day, energy_wh FROM q WHERE day NOT IN (SELECT day FROM d)), \
                 dm AS ( \
                   SELECT substr(day, 1, 7) AS month, SUM(energy_wh) / 1000.0 AS kwh \
                   FROM days GROUP BY month) \
                 SELECT month, kwh, month >= ?2 FROM m \
                 UNION ALL \
                 SELECT month, kwh, month >= ?2 FROM dm \
                 WHERE kwh IS NOT NULL AND month NOT IN (SELECT month FROM m) \
                 ORDER BY 1",
            )
            .ctx(query)?;
        let rows = st
            .query_map(rusqlite::params![site, current_month], |r| {
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
            .prepare_cached(&format!(
                "{} SELECT date(ts_utc, utc_offset_min || ' minutes') AS d, \
                 SUM(CASE WHEN metric = 'productionEnergy' THEN value END) / 1000.0, \
                 SUM(CASE WHEN metric = 'consumptionEnergy' THEN value END) / 1000.0, \
                 SUM(CASE WHEN metric = 'importEnergy' THEN value END) / 1000.0, \
                 SUM(CASE WHEN metric = 'exportEnergy' THEN value END) / 1000.0 \
                 FROM seh_meter_telemetry \
                 WHERE site_id = ?1 AND device_key IN (SELECT key FROM keys) \
                 AND resolution = 'QUARTER_HOUR' AND metric IN ('productionEnergy', \
                 'consumptionEnergy', 'importEnergy', 'exportEnergy') \
                 AND ts_utc >= ?2 AND ts_utc < ?3 \
                 GROUP BY d HAVING d BETWEEN ?4 AND ?5 ORDER BY d",
                device_keys("seh_meter_telemetry")
            ))
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
                    s.lifetime_energy_kwh(1)?,
                    s.energy_buckets_per_day(1, d, d)?,
                    s.power_of_day(1, d)?,
                    s.monthly_energy(1, "2026-11")?,
                    s.meter_days(1, d, d)?,
                    s.batteries_of_day(1, d)?,
                ))
            })
            .unwrap();
        assert_eq!(got, (None, None, vec![], vec![], vec![], vec![], vec![]));
    }
}
