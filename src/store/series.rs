//! Time-series writes: site energy and power (`seh_energy`, `seh_power`) and the three
//! long-format telemetry tables (`seh_inverter_telemetry`, `seh_meter_telemetry`,
//! `seh_storage_telemetry`).
//!
//! One bucket is one row keyed by its UTC instant, so the repeated autumn hour never
//! collides. Writes go through one cached prepared statement per table, inside the
//! caller's transaction: a year of quarter-hours (35,040 rows) is one `execute` per row and
//! no re-preparation. The values arrive already normalised by `api` (Wh, W, ...); this
//! module checks the unit of site series but never converts anything.

use rusqlite::params;

use super::{catalogue, fmt_ts, Context, Error, Tx};
use crate::model::{SiteSeries, Telemetry, TelemetryKind};

/// Which site-level table a [`SiteSeries`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// `/energy`, stored in `seh_energy.energy_wh`.
    Energy,
    /// `/power`, stored in `seh_power.power_w`.
    Power,
}

impl SeriesKind {
    fn table(self) -> &'static catalogue::Table {
        match self {
            SeriesKind::Energy => &catalogue::ENERGY,
            SeriesKind::Power => &catalogue::POWER,
        }
    }

    /// The normalised unit the column holds; anything else is refused.
    fn unit(self) -> &'static str {
        match self {
            SeriesKind::Energy => "Wh",
            SeriesKind::Power => "W",
        }
    }
}

fn telemetry_table(kind: TelemetryKind) -> &'static catalogue::Table {
    match kind {
        TelemetryKind::Inverter => &catalogue::INVERTER_TELEMETRY,
        TelemetryKind::Meter => &catalogue::METER_TELEMETRY,
        TelemetryKind::Storage => &catalogue::STORAGE_TELEMETRY,
    }
}

impl Tx<'_> {
    /// Upserts every bucket of a site energy or power series; returns the number of rows
    /// inserted or changed.
    ///
    /// Fails with [`Error::Invalid`] when the series is not in the table's unit (Wh for
    /// energy, W for power), which would mean `api` did not normalise it.
    pub fn upsert_site_series(
        &mut self,
        series: &SiteSeries,
        kind: SeriesKind,
    ) -> Result<usize, Error> {
        if series.series.unit != kind.unit() {
            return Err(Error::Invalid {
                what: match kind {
                    SeriesKind::Energy => "energy series is not in Wh",
                    SeriesKind::Power => "power series is not in W",
                },
            });
        }
        let seq = self.change_seq()?;
        let sql = kind.table().upsert_sql();
        let query = match kind {
            SeriesKind::Energy => "upsert energy rows",
            SeriesKind::Power => "upsert power rows",
        };
        let mut stmt = self.tx.prepare_cached(&sql).ctx(query)?;
        let resolution = series.resolution.as_str();
        let api_unit = series.series.api_unit.as_deref();
        let mut changed = 0;
        for point in &series.series.points {
            changed += stmt
                .execute(params![
                    series.site_id,
                    resolution,
                    fmt_ts(&point.ts_utc),
                    point.utc_offset_min,
                    point.value,
                    api_unit,
                    self.now,
                    seq,
                ])
                .ctx(query)?;
        }
        Ok(changed)
    }

    /// Upserts every bucket of every telemetry series (any mix of inverter, meter and
    /// storage); returns the number of rows inserted or changed.
    pub fn upsert_telemetry(&mut self, items: &[Telemetry]) -> Result<usize, Error> {
        if items.is_empty() {
            return Ok(0);
        }
        let seq = self.change_seq()?;
        let query = "upsert telemetry rows";
        let mut changed = 0;
        for item in items {
            let sql = telemetry_table(item.kind).upsert_sql();
            let mut stmt = self.tx.prepare_cached(&sql).ctx(query)?;
            let resolution = item.resolution.as_str();
            let api_unit = item.series.api_unit.as_deref();
            for point in &item.series.points {
                changed += stmt
                    .execute(params![
                        item.site_id,
                        item.device_key,
                        resolution,
                        item.metric,
                        fmt_ts(&point.ts_utc),
                        point.utc_offset_min,
                        point.value,
                        item.series.unit,
                        api_unit,
                        self.now,
                        seq,
                    ])
                    .ctx(query)?;
            }
        }
        Ok(changed)
    }
}
