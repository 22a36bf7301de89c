//! The one description of every table: name, key columns, value columns with their types,
//! and which tables hold time series. Upserts (`upsert_sql`), `reprocess`'s clearing,
//! `status`'s row counts and, next, the pushers and exporters read the tables from here,
//! so no data-table name appears as a string literal anywhere else outside the
//! migrations. A test checks the catalogue against the migrated schema column by column.
//!
//! Every data table also has `updated_at` (TEXT, when seh last changed the row) and
//! `change_seq` (INTEGER, the change counter of that write), which the catalogue does not
//! repeat per table: see [`BOOKKEEPING_COLUMNS`].

/// The SQLite storage class of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Text,
}

impl ColumnType {
    /// The declared type in the schema.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
        }
    }
}

/// One column of a data table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

const fn int(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Integer,
    }
}

const fn real(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Real,
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Text,
    }
}

/// A table whose rows are derived from API responses (and so rebuilt by `reprocess`).
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// The primary key, in key order.
    pub key: &'static [Column],
    /// Columns written by the upsert under the null rule, in the order the store binds them.
    pub values: &'static [Column],
    /// Columns the store maintains by other statements (a device's `removed_at`).
    pub other: &'static [Column],
    /// Rows are buckets of a time series (`ts_utc` and `utc_offset_min` in the key/values).
    pub time_series: bool,
}

impl Table {
    /// The upsert of this table: key and value columns, then `updated_at` and `change_seq`
    /// (see `store::upsert_sql` for the null rule).
    pub fn upsert_sql(&self) -> String {
        let key: Vec<&str> = self.key.iter().map(|c| c.name).collect();
        let values: Vec<&str> = self.values.iter().map(|c| c.name).collect();
        super::upsert_sql(self.name, &key, &values)
    }

    /// Every column of the table in schema order, bookkeeping columns included.
    pub fn columns(&self) -> impl Iterator<Item = Column> + '_ {
        (self
            .key
            .iter()
            .chain(self.values)
            .chain(self.other)
            .copied())
        .chain(BOOKKEEPING_COLUMNS)
    }
}

/// The columns every data table ends with.
pub const BOOKKEEPING_COLUMNS: [Column; 2] = [text("updated_at"), int("change_seq")];

pub const SITES: Table = Table {
    name: "seh_sites",
    key: &[int("site_id")],
    values: &[
        text("name"),
        int("account_id"),
        real("peak_power_kw"),
        text("installation_date"),
        text("last_update_time"),
        text("activation_status"),
        text("note"),
        text("address"),
        text("city"),
        text("state"),
        text("zip"),
        text("country"),
        text("timezone"),
        text("raw_json"),
    ],
    other: &[],
    time_series: false,
};

pub const DEVICES: Table = Table {
    name: "seh_devices",
    key: &[int("site_id"), text("device_key")],
    values: &[
        text("device_type"),
        text("serial_number"),
        text("name"),
        text("manufacturer"),
        text("model"),
        text("part_number"),
        text("firmware_version"),
        text("connected_to"),
        text("connected_to_name"),
        int("active"),
        text("communication_type"),
        text("meter_type"),
        text("created_at"),
        text("raw_json"),
    ],
    other: &[text("removed_at")],
    time_series: false,
};

pub const OVERVIEW: Table = Table {
    name: "seh_overview",
    key: &[int("site_id"), text("local_date")],
    values: &[
        real("production_wh"),
        real("production_self_wh"),
        real("production_storage_wh"),
        real("production_grid_wh"),
        real("consumption_wh"),
        real("consumption_pv_wh"),
        real("consumption_storage_wh"),
        real("consumption_grid_wh"),
        text("production_api_unit"),
        text("consumption_api_unit"),
    ],
    other: &[],
    time_series: false,
};

pub const BENEFITS: Table = Table {
    name: "seh_environmental_benefits",
    key: &[int("site_id")],
    values: &[real("co2_kg"), real("ev_km"), text("api_unit")],
    other: &[],
    time_series: false,
};

pub const ALERTS: Table = Table {
    name: "seh_alerts",
    key: &[int("alert_id")],
    values: &[
        int("site_id"),
        text("type"),
        text("category"),
        int("impact"),
        text("status"),
        text("first_trigger"),
        text("last_trigger"),
        text("component_name"),
        text("component_serial"),
        text("raw_json"),
    ],
    other: &[],
    time_series: false,
};

pub const POWER_FLOW: Table = Table {
    name: "seh_power_flow",
    key: &[int("site_id"), text("updated_at_api")],
    values: &[
        int("pv_active"),
        real("pv_power_w"),
        int("load_active"),
        real("load_power_w"),
        int("storage_active"),
        real("storage_power_w"),
        text("storage_status"),
        real("storage_charge_level"),
        int("grid_active"),
        real("grid_power_w"),
        text("grid_status"),
        text("api_unit"),
    ],
    other: &[],
    time_series: false,
};

pub const ENERGY: Table = Table {
    name: "seh_energy",
    key: &[int("site_id"), text("resolution"), text("ts_utc")],
    values: &[int("utc_offset_min"), real("energy_wh"), text("api_unit")],
    other: &[],
    time_series: true,
};

pub const POWER: Table = Table {
    name: "seh_power",
    key: &[int("site_id"), text("resolution"), text("ts_utc")],
    values: &[int("utc_offset_min"), real("power_w"), text("api_unit")],
    other: &[],
    time_series: true,
};

/// Key and values of the three telemetry tables, which share their shape.
const TELEMETRY_KEY: &[Column] = &[
    int("site_id"),
    text("device_key"),
    text("resolution"),
    text("metric"),
    text("ts_utc"),
];
const TELEMETRY_VALUES: &[Column] = &[
    int("utc_offset_min"),
    real("value"),
    text("unit"),
    text("api_unit"),
];

pub const INVERTER_TELEMETRY: Table = Table {
    name: "seh_inverter_telemetry",
    key: TELEMETRY_KEY,
    values: TELEMETRY_VALUES,
    other: &[],
    time_series: true,
};

pub const METER_TELEMETRY: Table = Table {
    name: "seh_meter_telemetry",
    key: TELEMETRY_KEY,
    values: TELEMETRY_VALUES,
    other: &[],
    time_series: true,
};

pub const STORAGE_TELEMETRY: Table = Table {
    name: "seh_storage_telemetry",
    key: TELEMETRY_KEY,
    values: TELEMETRY_VALUES,
    other: &[],
    time_series: true,
};

/// Every data table, in the order `status` reports them.
pub const DATA_TABLES: [&Table; 11] = [
    &SITES,
    &DEVICES,
    &OVERVIEW,
    &BENEFITS,
    &ALERTS,
    &POWER_FLOW,
    &ENERGY,
    &POWER,
    &INVERTER_TELEMETRY,
    &METER_TELEMETRY,
    &STORAGE_TELEMETRY,
];

/// The table each harvest family's rows go to (the family names of `seh_sync_state`);
/// `details` are the site rows. Fleet families (`sites`, `fleet_alerts`) write the same
/// tables as their per-site counterparts.
pub const FAMILY_TABLES: [(&str, &Table); 11] = [
    ("details", &SITES),
    ("devices", &DEVICES),
    ("overview", &OVERVIEW),
    ("benefits", &BENEFITS),
    ("alerts", &ALERTS),
    ("power_flow", &POWER_FLOW),
    ("energy", &ENERGY),
    ("power", &POWER),
    ("inverter_telemetry", &INVERTER_TELEMETRY),
    ("meter_telemetry", &METER_TELEMETRY),
    ("storage_telemetry", &STORAGE_TELEMETRY),
];

/// The tables of seh's own bookkeeping (archive, cursors, ledger, runs, change counter,
/// notification state, the source id): never derived from responses, never cleared by `reprocess`.
pub const BOOKKEEPING_TABLES: [&str; 8] = [
    "seh_raw_responses",
    "seh_sync_state",
    "seh_api_calls",
    "seh_runs",
    "seh_change_counter",
    "seh_notify_events",
    "seh_notify_messages",
    "seh_source",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_catalogue_is_the_schema() {
        let store = Store::open_in_memory().unwrap();
        let conn = &store.conn;
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'seh\\_%' \
                 ESCAPE '\\' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut known: Vec<String> = DATA_TABLES
            .iter()
            .map(|t| t.name.to_string())
            .chain(BOOKKEEPING_TABLES.iter().map(|t| t.to_string()))
            .collect();
        known.sort();
        assert_eq!(
            tables, known,
            "every table is in the catalogue, and no other"
        );
        for t in DATA_TABLES {
            let schema: Vec<(String, String, i64)> = conn
                .prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")
                .unwrap()
                .query_map([t.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let described: Vec<(String, String, i64)> = t
                .columns()
                .map(|c| {
                    let pk = t
                        .key
                        .iter()
                        .position(|k| *k == c)
                        .map_or(0, |i| i as i64 + 1);
                    (c.name.to_string(), c.ty.sql().to_string(), pk)
                })
                .collect();
            assert_eq!(schema, described, "{}", t.name);
            let series = t.key.iter().any(|c| c.name == "ts_utc");
            assert_eq!(series, t.time_series, "{}", t.name);
        }
    }
}
