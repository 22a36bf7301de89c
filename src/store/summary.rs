//! Reads for people: rows stored per site, family and resolution, energy per local day and
//! the lifetime total, for `seh status` and the demo. Counting goes through the table
//! catalogue, so a new table is counted without a change here.

use super::{catalogue, Context, Error, Store};
use crate::model::{Resolution, SiteId};
use chrono::NaiveDate;

/// Rows stored for one site and family (and resolution, for time series).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRows {
    pub site_id: SiteId,
    pub family: &'static str,
    pub resolution: Option<Resolution>,
    pub rows: i64,
}

/// Energy of one site-local day; `partial` for the day still running (set by the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct DayEnergy {
    pub date: NaiveDate,
    pub kwh: f64,
    pub partial: bool,
}

impl Store {
    /// Rows per site, family and resolution, over every data table of the catalogue.
    pub fn stored_rows(&self) -> Result<Vec<StoredRows>, Error> {
        let query = "count stored rows";
        let mut out = Vec::new();
        for (family, table) in catalogue::FAMILY_TABLES {
            let sql = if table.time_series {
                format!(
                    "SELECT site_id, resolution, COUNT(*) FROM {} GROUP BY 1, 2",
                    table.name
                )
            } else {
                format!(
                    "SELECT site_id, NULL, COUNT(*) FROM {} GROUP BY 1",
                    table.name
                )
            };
            let mut st = self.conn.prepare(&sql).ctx(query)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, SiteId>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .ctx(query)?;
            for row in rows {
                let (site_id, res, rows) = row.ctx(query)?;
                out.push(StoredRows {
                    site_id,
                    family,
                    resolution: res.as_deref().and_then(Resolution::parse),
                    rows,
                });
            }
        }
        Ok(out)
    }

    /// Energy per site-local day in `[from, to]`, oldest first, by the rule of
    /// `v_seh_daily_energy` (the DAY bucket when it holds a value, else the sum of the
    /// day's quarter-hours); days without a value are missing. Read by key range, not
    /// through the view, which would group the whole table first. `partial` is left false:
    /// the caller knows which day is still running.
    pub fn daily_energy(
        &self,
        site: SiteId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayEnergy>, Error> {
        let query = "read daily energy";
        // Local days lie within a day of the UTC ones (offsets are under 15 hours).
        let lo = format!("{}T00:00:00Z", from - chrono::Duration::days(1));
        let hi = format!("{}T00:00:00Z", to + chrono::Duration::days(2));
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT date(ts_utc, utc_offset_min || ' minutes') AS d, resolution, \
                 SUM(energy_wh) FROM seh_energy \
                 WHERE site_id = ?1 AND resolution IN ('DAY', 'QUARTER_HOUR') \
                 AND ts_utc >= ?2 AND ts_utc < ?3 GROUP BY d, resolution",
            )
            .ctx(query)?;
        let rows = st
            .query_map(rusqlite::params![site, lo, hi], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                ))
            })
            .ctx(query)?;
        let mut days: std::collections::BTreeMap<NaiveDate, (Option<f64>, Option<f64>)> =
            std::collections::BTreeMap::new();
        for row in rows {
            let (date, res, wh) = row.ctx(query)?;
            let Ok(date) = date.parse::<NaiveDate>() else {
                continue;
            };
            if date < from || date > to {
                continue;
            }
            let entry = days.entry(date).or_default();
            match res.as_str() {
                "DAY" => entry.0 = wh,
                _ => entry.1 = wh,
            }
        }
        Ok(days
            .into_iter()
            .filter_map(|(date, (day, quarters))| {
                day.or(quarters).map(|wh| DayEnergy {
                    date,
                    kwh: wh / 1000.0,
                    partial: false,
                })
            })
            .collect())
    }

    /// The lifetime energy of a site in kWh, by the rule of `v_seh_site_summary`: the
    /// newest non-null TOTAL bucket, else the sum of the years.
    pub fn lifetime_kwh(&self, site: SiteId) -> Result<Option<f64>, Error> {
        self.conn
            .query_row(
                "SELECT COALESCE(\
                   (SELECT energy_wh FROM seh_energy WHERE site_id = ?1 AND resolution = 'TOTAL' \
                    AND energy_wh IS NOT NULL ORDER BY ts_utc DESC LIMIT 1), \
                   (SELECT SUM(energy_wh) FROM seh_energy WHERE site_id = ?1 \
                    AND resolution = 'YEAR')) / 1000.0",
                [site],
                |r| r.get(0),
            )
            .ctx("read lifetime energy")
    }
}
