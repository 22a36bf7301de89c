//! The dataset catalogue of `seh export`: each short name a user types (`energy`,
//! `daily-energy`, `devices`, ...) mapped to one table of [`store::catalogue`], the
//! resolution it is fixed to or starts from, and the column its dates are filtered on.
//!
//! Only names live here; the tables and their columns are the store's catalogue, so a
//! column added by a migration appears in the export without touching this file.

use crate::store::catalogue::{self, ColumnType, Table};

/// How a dataset treats `--resolution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The table has no resolution column.
    None,
    /// Always this one (`daily-energy` is DAY); `--resolution` does not apply.
    Fixed(&'static str),
    /// `--resolution` picks one; without it, this one (or every one, if `None`).
    Default(Option<&'static str>),
}

/// One exportable dataset.
#[derive(Debug)]
pub struct Dataset {
    pub name: &'static str,
    /// One line for `seh export --list`.
    pub about: &'static str,
    pub table: &'static Table,
    pub resolution: Resolution,
    /// The column `--from/--to` filter on (`ts_utc`: the bucket's local date), if any.
    pub dates: Option<&'static str>,
    /// Worth a chart in XLSX (one energy value per day or month).
    pub chart: bool,
}

/// Columns never exported: the raw API body (kept for `reprocess`, large, and not a
/// value) and the store's bookkeeping (`updated_at`, `change_seq`).
const SKIPPED: [&str; 3] = ["raw_json", "updated_at", "change_seq"];

/// What an exported column holds, for the formats that type their cells (XLSX, SQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Real,
    Text,
    /// A bucket's instant, printed in local time with its offset or in UTC.
    Time,
    /// A calendar date `YYYY-MM-DD` (the overview's `local_date`).
    Date,
}

impl Dataset {
    /// The stored columns to read, in schema order.
    pub fn columns(&self) -> Vec<&'static str> {
        self.table
            .columns()
            .map(|c| c.name)
            .filter(|n| !SKIPPED.contains(n))
            .collect()
    }

    /// Whether `--wide` pivots it: the long-format telemetry tables (device, metric).
    pub fn pivots(&self) -> bool {
        let has = |n: &str| self.table.key.iter().any(|c| c.name == n);
        has("device_key") && has("metric")
    }

    /// The kind of a stored column of this dataset.
    pub fn kind(&self, column: &str) -> Kind {
        if column == "ts_utc" {
            return Kind::Time;
        }
        if column == "local_date" {
            return Kind::Date;
        }
        match self
            .table
            .columns()
            .find(|c| c.name == column)
            .map(|c| c.ty)
        {
            Some(ColumnType::Integer) => Kind::Int,
            Some(ColumnType::Real) => Kind::Real,
            _ => Kind::Text,
        }
    }
}

const fn series(
    name: &'static str,
    about: &'static str,
    table: &'static Table,
    resolution: Resolution,
    chart: bool,
) -> Dataset {
    Dataset {
        name,
        about,
        table,
        resolution,
        dates: Some("ts_utc"),
        chart,
    }
}

const fn plain(
    name: &'static str,
    about: &'static str,
    table: &'static Table,
    dates: Option<&'static str>,
) -> Dataset {
    Dataset {
        name,
        about,
        table,
        resolution: Resolution::None,
        dates,
        chart: false,
    }
}

const QH: Resolution = Resolution::Default(Some("QUARTER_HOUR"));

/// Every dataset, in the order `--list` prints them.
pub const DATASETS: &[Dataset] = &[
    series(
        "energy",
        "site energy per quarter-hour (Wh); --resolution for others",
        &catalogue::ENERGY,
        QH,
        false,
    ),
    series(
        "daily-energy",
        "site energy per local day (Wh)",
        &catalogue::ENERGY,
        Resolution::Fixed("DAY"),
        true,
    ),
    series(
        "monthly-energy",
        "site energy per local month (Wh)",
        &catalogue::ENERGY,
        Resolution::Fixed("MONTH"),
        true,
    ),
    series(
        "yearly-energy",
        "site energy per local year (Wh)",
        &catalogue::ENERGY,
        Resolution::Fixed("YEAR"),
        true,
    ),
    series(
        "power",
        "site power per quarter-hour (W); --resolution for others",
        &catalogue::POWER,
        QH,
        false,
    ),
    series(
        "inverter-telemetry",
        "inverter metrics, one row per device, metric and bucket",
        &catalogue::INVERTER_TELEMETRY,
        Resolution::Default(None),
        false,
    ),
    series(
        "meter-telemetry",
        "meter metrics, one row per device, metric and bucket",
        &catalogue::METER_TELEMETRY,
        Resolution::Default(None),
        false,
    ),
    series(
        "storage-telemetry",
        "battery metrics, one row per device, metric and bucket",
        &catalogue::STORAGE_TELEMETRY,
        Resolution::Default(None),
        false,
    ),
    plain(
        "overview",
        "daily production and consumption split (Wh) per local date",
        &catalogue::OVERVIEW,
        Some("local_date"),
    ),
    plain(
        "sites",
        "the sites and their facts",
        &catalogue::SITES,
        None,
    ),
    plain(
        "devices",
        "inverters, meters, batteries and more",
        &catalogue::DEVICES,
        None,
    ),
    plain(
        "alerts",
        "alerts as SolarEdge reported them",
        &catalogue::ALERTS,
        None,
    ),
    plain(
        "benefits",
        "environmental benefits per site (CO2 kg, km)",
        &catalogue::BENEFITS,
        None,
    ),
    plain(
        "power-flow",
        "power-flow snapshots (W) as fetched",
        &catalogue::POWER_FLOW,
        None,
    ),
];

/// The dataset of this name.
pub fn find(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name == name)
}

/// `a, b, c`: the valid names, for error messages.
pub fn names() -> String {
    DATASETS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every data table can be exported under some name, and the names are unique.
    #[test]
    fn every_data_table_has_a_dataset() {
        for t in catalogue::DATA_TABLES {
            assert!(
                DATASETS.iter().any(|d| std::ptr::eq(d.table, t)),
                "{}",
                t.name
            );
        }
        let mut names: Vec<&str> = DATASETS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DATASETS.len());
        for d in DATASETS {
            if let Some(c) = d.dates {
                assert!(d.columns().contains(&c), "{}", d.name);
            }
            assert!(
                d.about.len() + d.name.len() < 76,
                "{}: fits 80 columns",
                d.name
            );
        }
    }
}
