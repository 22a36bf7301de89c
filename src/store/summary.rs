//! Reads for people: rows stored per site, family and resolution, energy per local day and
//! the lifetime total, for `seh status` and the demo. Counting goes through the table
//! catalogue, so a new table is counted without a change here.

use super::{catalogue, Context, Error, Store};
use crate::model::{Resolution, SiteId};
use chrono::NaiveDate;
use rusqlite::OptionalExtension;

/// Rows stored for one site and family (and resolution, for time series).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRows {
    pub site_id: SiteId,
    pub family: &'static str,
    pub resolution: Option<Resolution>,
    pub rows: i64,
}

/// Energy of one site-local day; `partial` for the day still running.
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

    /// Energy per site-local day in `[from, to]` (`v_seh_daily_energy`), oldest first;
    /// days without data are missing.
    pub fn daily_energy(
        &self,
        site: SiteId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayEnergy>, Error> {
        let query = "read daily energy";
        let mut st = self
            .conn
            .prepare(
                "SELECT local_date, energy_kwh, partial FROM v_seh_daily_energy \
                 WHERE site_id = ?1 AND local_date BETWEEN ?2 AND ?3 \
                 AND energy_kwh IS NOT NULL ORDER BY local_date",
            )
            .ctx(query)?;
        let rows = st
            .query_map(
                rusqlite::params![site, from.to_string(), to.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, f64>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                },
            )
            .ctx(query)?;
        let mut out = Vec::new();
        for row in rows {
            let (date, kwh, partial) = row.ctx(query)?;
            if let Ok(date) = date.parse() {
                out.push(DayEnergy { date, kwh, partial });
            }
        }
        Ok(out)
    }

    /// The lifetime energy of a site in kWh (`v_seh_site_summary`: the TOTAL bucket, else
    /// the sum of the years).
    pub fn lifetime_kwh(&self, site: SiteId) -> Result<Option<f64>, Error> {
        self.conn
            .query_row(
                "SELECT lifetime_energy_kwh FROM v_seh_site_summary WHERE site_id = ?1",
                [site],
                |r| r.get(0),
            )
            .optional()
            .ctx("read lifetime energy")
            .map(Option::flatten)
    }
}
