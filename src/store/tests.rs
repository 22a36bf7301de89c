//! Unit tests of the store, on in-memory or temporary-file databases.
//!
//! Each family has a small builder for model rows and one reader returning the stored
//! values with their `change_seq`, so every test reads as "write, write again, compare".

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::OpenFlags;

use super::*;
use crate::model::{
    Alert, Device, EnvironmentalBenefits, FlowNode, Location, Overview, OverviewBlock, Point,
    PowerFlow, Resolution, Series, Site, SiteSeries, Telemetry, TelemetryKind,
};

// ---------------------------------------------------------------------------------------
// Builders and readers
// ---------------------------------------------------------------------------------------

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A point from a site-local RFC 3339 stamp, as `api` would build it.
fn pt(local: &str, value: Option<f64>) -> Point {
    let t = DateTime::parse_from_rfc3339(local).unwrap();
    Point {
        ts_utc: t.with_timezone(&Utc),
        utc_offset_min: t.offset().local_minus_utc() / 60,
        value,
    }
}

fn series(unit: &str, api_unit: &str, points: Vec<Point>) -> Series {
    Series {
        api_unit: Some(api_unit.to_owned()),
        unit: unit.to_owned(),
        points,
    }
}

fn energy(site_id: i64, resolution: Resolution, points: Vec<Point>) -> SiteSeries {
    SiteSeries {
        site_id,
        resolution,
        series: series("Wh", "WH", points),
    }
}

fn power(site_id: i64, points: Vec<Point>) -> SiteSeries {
    SiteSeries {
        site_id,
        resolution: Resolution::QuarterHour,
        series: series("W", "W", points),
    }
}

fn write<T>(store: &mut Store, f: impl FnOnce(&mut Tx<'_>) -> Result<T, Error>) -> T {
    store.transaction(f).unwrap()
}

/// `(value, change_seq)` of one row of a table, selected by a WHERE clause.
fn value_seq(store: &Store, table: &str, column: &str, filter: &str) -> (Option<f64>, i64) {
    store
        .conn
        .query_row(
            &format!("SELECT {column}, change_seq FROM {table} WHERE {filter}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn text(store: &Store, sql: &str) -> Option<String> {
    store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .row_counts()
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == table)
        .unwrap()
        .1
}

fn site(site_id: i64) -> Site {
    Site {
        site_id,
        name: Some("Home".to_owned()),
        account_id: None,
        peak_power_kw: Some(9.8),
        installation_date: Some("2021-04-01T00:00:00Z".to_owned()),
        last_update_time: None,
        activation_status: Some("ACTIVE".to_owned()),
        note: None,
        location: Location {
            timezone: Some("Europe/Berlin".to_owned()),
            ..Location::default()
        },
    }
}

fn device(site_id: i64, device_type: &str, serial: Option<&str>, name: &str) -> Device {
    Device {
        site_id,
        device_type: device_type.to_owned(),
        serial_number: serial.map(str::to_owned),
        name: Some(name.to_owned()),
        manufacturer: Some("SolarEdge".to_owned()),
        model: None,
        part_number: None,
        firmware_version: Some("4.25.13".to_owned()),
        connected_to: None,
        connected_to_name: None,
        active: Some(true),
        communication_type: None,
        meter_type: None,
        created_at: None,
        raw_json: "{}".to_owned(),
    }
}

fn raw(body: &[u8]) -> RawResponse {
    RawResponse {
        fetched_at: utc("2026-08-24T16:05:44Z"),
        path: "/sites/1/energy".to_owned(),
        query: canonical_query(&[("resolution", "QUARTER_HOUR"), ("from", "2026-08-24")]),
        status: 200,
        site_id: Some(1),
        family: "energy".to_owned(),
        body: body.to_vec(),
        unreadable: None,
    }
}

// ---------------------------------------------------------------------------------------
// Opening, errors, transactions
// ---------------------------------------------------------------------------------------

#[test]
fn error_size() {
    // Most of it is `rusqlite::Error` (72 bytes). Keep `Result<T, Error>` from growing
    // further; box a field rather than raise the bound.
    assert!(
        std::mem::size_of::<Error>() <= 88,
        "{}",
        std::mem::size_of::<Error>()
    );
}

#[test]
fn error_display_is_lowercase_without_period() {
    let errors = [
        classify(
            "upsert energy rows",
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(ffi::SQLITE_BUSY), None),
        ),
        Error::TooNew { found: 3, known: 1 },
        Error::Outdated { found: 1, known: 3 },
        Error::UnreadableWal {
            wal: "/card/seh.db-wal".into(),
        },
        Error::Invalid {
            what: "power series is not in W",
        },
    ];
    for e in errors {
        let s = e.to_string();
        assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
        assert!(!s.ends_with('.'), "{s}");
    }
}

#[test]
fn classify_by_result_code() {
    let err = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
    assert!(matches!(
        classify("q", err(ffi::SQLITE_BUSY)),
        Error::Locked { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_LOCKED)),
        Error::Locked { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_BUSY_SNAPSHOT)),
        Error::Locked { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_READONLY)),
        Error::ReadOnly { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_FULL)),
        Error::DiskFull { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_CORRUPT)),
        Error::Corrupt { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_NOTADB)),
        Error::Corrupt { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_CANTOPEN)),
        Error::Io { .. }
    ));
    assert!(matches!(
        classify("q", err(ffi::SQLITE_CONSTRAINT)),
        Error::Sql { .. }
    ));
    assert!(matches!(
        classify("q", rusqlite::Error::QueryReturnedNoRows),
        Error::Sql { .. }
    ));
}

#[test]
fn open_sets_pragmas_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh.db");
    let store = Store::open(&path).unwrap();
    let pragma = |name: &str| -> String {
        store
            .conn
            .query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
    assert_eq!(pragma("synchronous"), "Integer(1)");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
    assert_eq!(store.schema_version().unwrap(), KNOWN_VERSION);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), KNOWN_VERSION);
}

#[test]
fn not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

#[test]
fn missing_directory_is_io() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path().join("no/such/dir/seh.db")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn read_only_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh.db");
    drop(Store::open(&path).unwrap());
    // Flags first: this is what SQLite does by itself when the file is not writable.
    let err = Store::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");

    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        // Running as root: permissions do not bind, the flag test above has to do.
        eprintln!("read_only_database_is_refused: file permissions not enforced, skipped");
        return;
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
}

#[test]
fn busy_writer_gives_locked_and_readers_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh.db");
    let mut writer = Store::open(&path).unwrap();
    let mut other = Store::open(&path).unwrap();
    other.conn.busy_timeout(Duration::from_millis(50)).unwrap();

    writer
        .transaction(|tx| {
            tx.upsert_site_series(
                &power(1, vec![pt("2026-08-24T12:00:00+02:00", Some(1.0))]),
                SeriesKind::Power,
            )?;
            // WAL: the other connection reads the last committed state meanwhile, and a
            // third process can open (and so migrate-check) the file.
            assert_eq!(count(&other, "seh_power"), 0);
            let third = Store::open(&path)?;
            assert_eq!(count(&third, "seh_power"), 0);
            let err = other
                .transaction(|tx| tx.upsert_benefits(&benefits(1, Some(1.0))))
                .unwrap_err();
            assert!(matches!(err, Error::Locked { .. }), "{err:?}");
            let err = other
                .record_call(&call("2026-08-24T12:00:00Z", 1))
                .unwrap_err();
            assert!(matches!(err, Error::Locked { .. }), "{err:?}");
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(count(&other, "seh_power"), 1);
}

#[test]
fn rolled_back_transaction_leaves_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let seq_before = store.change_seq().unwrap();
    let result: Result<(), Error> = store.transaction(|tx| {
        tx.archive_raw(&raw(b"{}"))?;
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::Day,
                vec![pt("2026-08-24T00:00:00+02:00", Some(5.0))],
            ),
            SeriesKind::Energy,
        )?;
        tx.set_sync_state(&SyncState {
            covered_to: Some(utc("2026-08-24T00:00:00Z")),
            ..SyncState::new(1, "energy", Some(Resolution::Day))
        })?;
        Err(Error::Invalid { what: "test abort" })
    });
    assert!(result.is_err());
    for (table, n) in store.row_counts().unwrap() {
        // The counter and the source id are single rows made by the migrations.
        let expected = if matches!(table, "seh_change_counter" | "seh_source") {
            1
        } else {
            0
        };
        assert_eq!(n, expected, "{table}");
    }
    assert_eq!(store.change_seq().unwrap(), seq_before);
}

#[test]
fn change_counter_bumps_once_per_writing_transaction() {
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(store.change_seq().unwrap(), 0);
    // A transaction that writes no data row does not consume a marker.
    write(&mut store, |tx| tx.get_sync_state(1, "energy", None));
    assert_eq!(store.change_seq().unwrap(), 0);
    write(&mut store, |tx| {
        tx.upsert_benefits(&benefits(1, Some(1.0)))?;
        tx.upsert_benefits(&benefits(2, Some(1.0)))
    });
    assert_eq!(store.change_seq().unwrap(), 1);
    assert_eq!(
        value_seq(
            &store,
            "seh_environmental_benefits",
            "co2_kg",
            "site_id = 2"
        )
        .1,
        1
    );
    write(&mut store, |tx| tx.upsert_benefits(&benefits(3, Some(1.0))));
    assert_eq!(store.change_seq().unwrap(), 2);
}

#[test]
fn row_counts_cover_every_table() {
    let store = Store::open_in_memory().unwrap();
    let mut listed: Vec<&str> = store
        .row_counts()
        .unwrap()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let mut stmt = store
        .conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let actual: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, actual);
}

#[test]
fn upsert_sql_applies_null_rule() {
    assert_eq!(
        upsert_sql("t", &["k"], &["a"]),
        "INSERT INTO t (k, a, updated_at, change_seq) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (k) DO UPDATE SET a = COALESCE(excluded.a, t.a), \
         updated_at = excluded.updated_at, change_seq = excluded.change_seq \
         WHERE (excluded.a IS NOT NULL AND excluded.a IS NOT t.a)"
    );
}

// ---------------------------------------------------------------------------------------
// Series
// ---------------------------------------------------------------------------------------

#[test]
fn site_series_insert_noop_update_and_null_rule() {
    let mut store = Store::open_in_memory().unwrap();
    let at = |v| {
        vec![
            pt("2026-08-24T06:45:00+02:00", v),
            pt("2026-08-24T17:00:00+02:00", None),
        ]
    };
    let row = |store: &Store| {
        value_seq(
            store,
            "seh_energy",
            "energy_wh",
            "ts_utc = '2026-08-24T04:45:00Z'",
        )
    };
    let open_bucket = |store: &Store| {
        value_seq(
            store,
            "seh_energy",
            "energy_wh",
            "ts_utc = '2026-08-24T15:00:00Z'",
        )
    };

    // Insert: both buckets, the open one as NULL.
    let n = write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(1, Resolution::QuarterHour, at(Some(10.0))),
            SeriesKind::Energy,
        )
    });
    assert_eq!(n, 2);
    assert_eq!(row(&store), (Some(10.0), 1));
    assert_eq!(open_bucket(&store), (None, 1));

    // Same values again: nothing changes, change_seq stays.
    let n = write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(1, Resolution::QuarterHour, at(Some(10.0))),
            SeriesKind::Energy,
        )
    });
    assert_eq!(n, 0);
    assert_eq!(row(&store), (Some(10.0), 1));

    // A NULL never overwrites a value.
    let n = write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(1, Resolution::QuarterHour, at(None)),
            SeriesKind::Energy,
        )
    });
    assert_eq!(n, 0);
    assert_eq!(row(&store), (Some(10.0), 1));

    // A new value wins, and a late value fills the open bucket.
    let mut points = at(Some(12.5));
    points[1].value = Some(0.0);
    let n = write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(1, Resolution::QuarterHour, points),
            SeriesKind::Energy,
        )
    });
    assert_eq!(n, 2);
    assert_eq!(row(&store), (Some(12.5), 4));
    assert_eq!(open_bucket(&store), (Some(0.0), 4));
    assert_eq!(
        text(&store, "SELECT api_unit FROM seh_energy LIMIT 1").as_deref(),
        Some("WH")
    );
}

#[test]
fn site_series_unit_is_checked() {
    let mut store = Store::open_in_memory().unwrap();
    let mut s = power(1, vec![pt("2026-08-24T06:45:00+02:00", Some(1.0))]);
    s.series.unit = "KW".to_owned();
    let err = store
        .transaction(|tx| tx.upsert_site_series(&s, SeriesKind::Power))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let s = energy(1, Resolution::Day, vec![]);
    let err = store
        .transaction(|tx| tx.upsert_site_series(&s, SeriesKind::Power))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[test]
fn repeated_autumn_hour_does_not_collide() {
    let mut store = Store::open_in_memory().unwrap();
    // 2026-10-25 in Europe/Berlin: 02:00-03:00 happens twice.
    let s = power(
        1,
        vec![
            pt("2026-10-25T02:00:00+02:00", Some(100.0)),
            pt("2026-10-25T02:00:00+01:00", Some(200.0)),
        ],
    );
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_site_series(&s, SeriesKind::Power)),
        2
    );
    let mut stmt = store
        .conn
        .prepare(
            "SELECT ts_utc, utc_offset_min, datetime(ts_utc, utc_offset_min || ' minutes'), \
             power_w FROM seh_power ORDER BY ts_utc",
        )
        .unwrap();
    let rows: Vec<(String, i64, String, f64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            (
                "2026-10-25T00:00:00Z".into(),
                120,
                "2026-10-25 02:00:00".into(),
                100.0
            ),
            (
                "2026-10-25T01:00:00Z".into(),
                60,
                "2026-10-25 02:00:00".into(),
                200.0
            ),
        ]
    );
}

fn telemetry(kind: TelemetryKind, key: &str, metric: &str, v: Option<f64>) -> Telemetry {
    Telemetry {
        kind,
        site_id: 1,
        device_key: key.to_owned(),
        resolution: Resolution::QuarterHour,
        metric: metric.to_owned(),
        series: series("Wh", "WH", vec![pt("2026-08-24T12:00:00+02:00", v)]),
    }
}

#[test]
fn telemetry_goes_to_its_table_with_null_rule() {
    let mut store = Store::open_in_memory().unwrap();
    let batch = |v| {
        vec![
            telemetry(TelemetryKind::Inverter, "7E1", "energy", v),
            telemetry(TelemetryKind::Meter, "606", "importEnergy", v),
            telemetry(TelemetryKind::Meter, "606", "exportEnergy", v),
            telemetry(TelemetryKind::Storage, "BAT1", "stateOfEnergy", v),
        ]
    };
    assert_eq!(
        write(&mut store, |tx| tx.upsert_telemetry(&batch(Some(1.0)))),
        4
    );
    assert_eq!(count(&store, "seh_inverter_telemetry"), 1);
    assert_eq!(count(&store, "seh_meter_telemetry"), 2);
    assert_eq!(count(&store, "seh_storage_telemetry"), 1);
    assert_eq!(
        write(&mut store, |tx| tx.upsert_telemetry(&batch(Some(1.0)))),
        0
    );
    assert_eq!(write(&mut store, |tx| tx.upsert_telemetry(&batch(None))), 0);
    let filter = "device_key = '606' AND metric = 'importEnergy'";
    assert_eq!(
        value_seq(&store, "seh_meter_telemetry", "value", filter),
        (Some(1.0), 1)
    );
    assert_eq!(
        write(&mut store, |tx| tx.upsert_telemetry(&batch(Some(2.0)))),
        4
    );
    assert_eq!(
        value_seq(&store, "seh_meter_telemetry", "value", filter),
        (Some(2.0), 4)
    );
    assert_eq!(
        text(
            &store,
            "SELECT unit || '/' || api_unit FROM seh_storage_telemetry"
        )
        .as_deref(),
        Some("Wh/WH")
    );
}

// ---------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------

#[test]
fn sites_list_does_not_erase_details() {
    let mut store = Store::open_in_memory().unwrap();
    let mut details = site(7);
    details.account_id = Some(42);
    details.last_update_time = Some("2026-08-24T16:00:00+02:00".to_owned());
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_sites([(&details, Some(r#"{"siteId":7}"#))])),
        1
    );
    // The list entry lacks account and last update: nothing changes.
    let list = site(7);
    assert_eq!(write(&mut store, |tx| tx.upsert_sites([(&list, None)])), 0);
    assert_eq!(
        value_seq(&store, "seh_sites", "account_id", "site_id = 7"),
        (Some(42.0), 1)
    );
    // A renamed site changes.
    let mut renamed = site(7);
    renamed.name = Some("Barn".to_owned());
    assert_eq!(
        write(&mut store, |tx| tx.upsert_sites([(&renamed, None)])),
        1
    );
    assert_eq!(
        text(&store, "SELECT name FROM seh_sites").as_deref(),
        Some("Barn")
    );
    assert_eq!(
        text(&store, "SELECT raw_json FROM seh_sites").as_deref(),
        Some(r#"{"siteId":7}"#)
    );
}

#[test]
fn devices_are_replaced_and_removed_ones_marked() {
    let mut store = Store::open_in_memory().unwrap();
    let inv = device(1, "INVERTER", Some("7E1"), "Inverter 1");
    let import = device(1, "METER", Some("606"), "Import");
    let export = device(1, "METER", Some("606"), "Export");
    let virtual_meter = device(1, "METER", None, "Consumption");
    let all = [
        inv.clone(),
        import.clone(),
        export.clone(),
        virtual_meter.clone(),
    ];

    assert_eq!(write(&mut store, |tx| tx.replace_devices(1, &all)), 4);
    assert_eq!(count(&store, "seh_devices"), 4);
    assert_eq!(write(&mut store, |tx| tx.replace_devices(1, &all)), 0);

    // The export meter disappears: kept, marked removed.
    let without = [inv.clone(), import.clone(), virtual_meter.clone()];
    assert_eq!(write(&mut store, |tx| tx.replace_devices(1, &without)), 1);
    let removed = "SELECT removed_at FROM seh_devices WHERE device_key = 'METER|606|Export'";
    assert!(text(&store, removed).is_some());
    assert_eq!(write(&mut store, |tx| tx.replace_devices(1, &without)), 0);
    assert_eq!(
        store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM v_seh_equipment_list WHERE in_inventory",
                [],
                |r| { r.get::<_, i64>(0) }
            )
            .unwrap(),
        3
    );

    // It comes back: removed_at cleared, change_seq bumped.
    assert_eq!(write(&mut store, |tx| tx.replace_devices(1, &all)), 1);
    assert_eq!(text(&store, removed), None);
    assert_eq!(
        value_seq(
            &store,
            "seh_devices",
            "NULL",
            "device_key = 'METER|606|Export'"
        )
        .1,
        store.change_seq().unwrap()
    );

    // Firmware update counts as a change; a NULL firmware does not erase it.
    let mut updated = inv.clone();
    updated.firmware_version = Some("4.26.1".to_owned());
    assert_eq!(
        write(&mut store, |tx| tx.replace_devices(
            1,
            &[
                updated,
                import.clone(),
                export.clone(),
                virtual_meter.clone()
            ]
        )),
        1
    );
    let mut unknown = inv.clone();
    unknown.firmware_version = None;
    assert_eq!(
        write(&mut store, |tx| tx
            .replace_devices(1, &[unknown, import, export, virtual_meter])),
        0
    );
    assert_eq!(
        text(
            &store,
            "SELECT firmware_version FROM seh_devices WHERE device_type = 'INVERTER'"
        )
        .as_deref(),
        Some("4.26.1")
    );

    let err = store
        .transaction(|tx| tx.replace_devices(2, &[inv]))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

fn alert(status: &str, last: Option<&str>) -> Alert {
    Alert {
        alert_id: 99,
        site_id: 1,
        alert_type: Some("SITE_COMMUNICATION_FAULT".to_owned()),
        category: None,
        impact: Some(7),
        status: Some(status.to_owned()),
        first_trigger: Some("2026-08-24T10:00:00Z".to_owned()),
        last_trigger: last.map(str::to_owned),
        component_name: None,
        component_serial: None,
        raw_json: "{}".to_owned(),
    }
}

#[test]
fn alerts_upsert() {
    let mut store = Store::open_in_memory().unwrap();
    let open = alert("OPEN", Some("2026-08-24T11:00:00Z"));
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_alerts(std::slice::from_ref(&open))),
        1
    );
    assert_eq!(write(&mut store, |tx| tx.upsert_alerts(&[open])), 0);
    assert_eq!(
        write(&mut store, |tx| tx.upsert_alerts(&[alert("OPEN", None)])),
        0
    );
    assert_eq!(
        write(&mut store, |tx| tx.upsert_alerts(&[alert("CLOSED", None)])),
        1
    );
    assert_eq!(
        text(
            &store,
            "SELECT status || ' ' || last_trigger FROM seh_alerts"
        )
        .as_deref(),
        Some("CLOSED 2026-08-24T11:00:00Z")
    );
    assert_eq!(write(&mut store, |tx| tx.upsert_alerts(&[])), 0);
}

fn overview(total: Option<f64>, from_grid: Option<f64>) -> Overview {
    Overview {
        site_id: 1,
        local_date: NaiveDate::from_ymd_opt(2026, 8, 24).unwrap(),
        production: OverviewBlock {
            api_unit: Some("WH".to_owned()),
            total_wh: total,
            ..OverviewBlock::default()
        },
        consumption: OverviewBlock {
            api_unit: Some("KWH".to_owned()),
            grid_wh: from_grid,
            ..OverviewBlock::default()
        },
    }
}

#[test]
fn overview_upsert() {
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_overview(&overview(Some(100.0), None))),
        1
    );
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_overview(&overview(Some(100.0), None))),
        0
    );
    assert_eq!(
        write(&mut store, |tx| tx
            .upsert_overview(&overview(None, Some(5.0)))),
        1
    );
    assert_eq!(
        value_seq(
            &store,
            "seh_overview",
            "production_wh",
            "local_date = '2026-08-24'"
        ),
        (Some(100.0), 3)
    );
    assert_eq!(
        value_seq(&store, "seh_overview", "consumption_grid_wh", "site_id = 1").0,
        Some(5.0)
    );
}

fn benefits(site_id: i64, co2: Option<f64>) -> EnvironmentalBenefits {
    EnvironmentalBenefits {
        site_id,
        co2_kg: co2,
        ev_km: Some(10.0),
        api_unit: Some("METRIC".to_owned()),
    }
}

#[test]
fn benefits_upsert() {
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(
        write(&mut store, |tx| tx.upsert_benefits(&benefits(1, Some(3.0)))),
        1
    );
    assert_eq!(
        write(&mut store, |tx| tx.upsert_benefits(&benefits(1, Some(3.0)))),
        0
    );
    assert_eq!(
        write(&mut store, |tx| tx.upsert_benefits(&benefits(1, None))),
        0
    );
    assert_eq!(
        write(&mut store, |tx| tx.upsert_benefits(&benefits(1, Some(3.5)))),
        1
    );
    assert_eq!(
        value_seq(
            &store,
            "seh_environmental_benefits",
            "co2_kg",
            "site_id = 1"
        ),
        (Some(3.5), 4)
    );
}

fn flow(updated_at: Option<&str>, pv: Option<f64>) -> PowerFlow {
    PowerFlow {
        site_id: 1,
        updated_at: updated_at.map(str::to_owned),
        api_unit: Some("KW".to_owned()),
        pv: FlowNode {
            active: Some(true),
            power_w: pv,
            ..FlowNode::default()
        },
        load: FlowNode::default(),
        storage: FlowNode {
            status: Some("DISCHARGE".to_owned()),
            charge_level: Some(65.0),
            ..FlowNode::default()
        },
        grid: FlowNode::default(),
    }
}

#[test]
fn power_flow_snapshots() {
    let mut store = Store::open_in_memory().unwrap();
    let fetched = utc("2026-08-24T10:00:07Z");
    let f1 = flow(Some("2026-08-24T12:00:00+02:00"), Some(1500.0));
    assert_eq!(
        write(&mut store, |tx| tx.insert_power_flow(&f1, fetched)),
        1
    );
    // Same snapshot polled again, stamped in UTC this time: same key, no change.
    let f1_utc = flow(Some("2026-08-24T10:00:00Z"), Some(1500.0));
    assert_eq!(
        write(&mut store, |tx| tx.insert_power_flow(&f1_utc, fetched)),
        0
    );
    // A NULL power does not erase the stored one.
    let f1_null = flow(Some("2026-08-24T10:00:00Z"), None);
    assert_eq!(
        write(&mut store, |tx| tx.insert_power_flow(&f1_null, fetched)),
        0
    );
    assert_eq!(
        value_seq(&store, "seh_power_flow", "pv_power_w", "site_id = 1").0,
        Some(1500.0)
    );
    let f2 = flow(None, Some(1600.0));
    assert_eq!(
        write(&mut store, |tx| tx.insert_power_flow(&f2, fetched)),
        1
    );
    assert_eq!(count(&store, "seh_power_flow"), 2);
    assert_eq!(
        text(
            &store,
            "SELECT updated_at_api FROM v_seh_power_flow_current"
        )
        .as_deref(),
        Some("2026-08-24T10:00:07Z")
    );
}

// ---------------------------------------------------------------------------------------
// Raw archive, sync state, ledger, runs
// ---------------------------------------------------------------------------------------

#[test]
fn canonical_query_sorts_keys_and_keeps_repeats() {
    assert_eq!(
        canonical_query(&[("types", "METER"), ("page", "1"), ("types", "BATTERY")]),
        "page=1&types=METER&types=BATTERY"
    );
    assert_eq!(canonical_query(&[]), "");
}

#[test]
fn raw_archive_round_trip() {
    let mut store = Store::open_in_memory().unwrap();
    let big: Vec<u8> = br#"{"values":["#
        .iter()
        .copied()
        .chain((0..5000).flat_map(|i| format!("{{\"v\":{i}}},").into_bytes()))
        .chain(*b"{}]}")
        .collect();
    let bodies: Vec<Vec<u8>> = (0..150)
        .map(|i| match i {
            0 => Vec::new(),
            1 => vec![0xff, 0xfe, b'<', b'h'], // not UTF-8: kept byte for byte
            2 => big.clone(),
            _ => format!("{{\"n\":{i}}}").into_bytes(),
        })
        .collect();
    let ids: Vec<i64> = write(&mut store, |tx| {
        bodies.iter().map(|b| tx.archive_raw(&raw(b))).collect()
    });
    let (gz_len, len): (i64, i64) = store
        .conn
        .query_row(
            "SELECT length(body_gz), body_len FROM seh_raw_responses WHERE id = ?1",
            [ids[2]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(len as usize, big.len());
    assert!(
        gz_len * 4 < len,
        "gzip should shrink JSON: {gz_len} of {len}"
    );

    // Walk the archive, writing from inside the callback as `reprocess` does.
    let mut seen = Vec::new();
    let visited = store
        .raw_responses_iter(|store, id, r| {
            assert_eq!(r.query, "from=2026-08-24&resolution=QUARTER_HOUR");
            assert_eq!(r.fetched_at, utc("2026-08-24T16:05:44Z"));
            store.transaction(|tx| tx.upsert_benefits(&benefits(id, Some(1.0))))?;
            seen.push((id, r.body));
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(visited, bodies.len());
    assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    assert_eq!(seen.into_iter().map(|(_, b)| b).collect::<Vec<_>>(), bodies);
    assert_eq!(count(&store, "seh_environmental_benefits"), 150);

    // An error from the callback stops the walk.
    let mut calls = 0;
    let err = store
        .raw_responses_iter(|_, _, _| {
            calls += 1;
            Err(Error::Invalid { what: "stop" })
        })
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    assert_eq!(calls, 1);
}

#[test]
fn damaged_raw_body_is_reported() {
    let mut store = Store::open_in_memory().unwrap();
    write(&mut store, |tx| tx.archive_raw(&raw(b"{\"a\":1}")));
    store
        .conn
        .execute("UPDATE seh_raw_responses SET body_len = 3", [])
        .unwrap();
    let err = store
        .raw_responses_iter(|_, _, _| Ok::<_, Error>(()))
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn sync_state_round_trip_and_errors() {
    let mut store = Store::open_in_memory().unwrap();
    let state = SyncState {
        covered_from: Some(utc("2026-01-01T00:00:00Z")),
        covered_to: Some(utc("2026-08-24T00:00:00Z")),
        last_success: Some(utc("2026-08-24T16:05:44Z")),
        rows_last_run: Some(96),
        extra: Some(r#"{"tier403":true}"#.to_owned()),
        ..SyncState::new(1, "energy", Some(Resolution::QuarterHour))
    };
    write(&mut store, |tx| tx.set_sync_state(&state));
    assert_eq!(
        store
            .get_sync_state(1, "energy", Some(Resolution::QuarterHour))
            .unwrap(),
        Some(state.clone())
    );
    assert_eq!(store.get_sync_state(1, "energy", None).unwrap(), None);

    // An error keeps the range; a fleet family without resolution is created on the fly.
    let at = utc("2026-08-25T00:00:00Z");
    write(&mut store, |tx| {
        tx.record_error(1, "energy", Some(Resolution::QuarterHour), "http 500", at)?;
        tx.record_error(FLEET_SITE_ID, "alerts", None, "http 429", at)
    });
    let states = store.sync_states().unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].family, "alerts");
    assert_eq!(states[0].resolution, None);
    assert_eq!(states[1].covered_to, state.covered_to);
    assert_eq!(states[1].last_error.as_deref(), Some("http 500"));
    assert_eq!(states[1].last_error_at, Some(at));
    let failing: i64 = store
        .conn
        .query_row(
            "SELECT failing FROM v_seh_sync_status WHERE family = 'energy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failing, 1);
    // A family the API tier does not offer is unavailable, not failing.
    let mut pf = SyncState::new(1, "power_flow", None);
    pf.last_error = Some("power flow needs a higher API tier".into());
    pf.last_error_at = Some(at);
    pf.extra = Some(r#"{"tier_denied":"0123456789abcdef"}"#.into());
    store.set_sync_state(&pf).unwrap();
    let (failing, unavailable): (i64, i64) = store
        .conn
        .query_row(
            "SELECT failing, unavailable FROM v_seh_sync_status WHERE family = 'power_flow'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((failing, unavailable), (0, 1));

    // Inside a transaction the cursor is read back as written so far.
    write(&mut store, |tx| {
        let mut s = tx
            .get_sync_state(1, "energy", Some(Resolution::QuarterHour))?
            .unwrap();
        s.covered_to = Some(at);
        tx.set_sync_state(&s)?;
        assert_eq!(
            tx.get_sync_state(1, "energy", Some(Resolution::QuarterHour))?
                .unwrap()
                .covered_to,
            Some(at)
        );
        Ok(())
    });
}

fn call(at: &str, credits: i64) -> ApiCall {
    ApiCall {
        at: utc(at),
        credential: "key:…1a2b".to_owned(),
        method: "GET".to_owned(),
        path: "/sites/1/energy".to_owned(),
        status: 200,
        credits,
        duration_ms: 120,
        error: None,
    }
}

#[test]
fn call_ledger_and_runs() {
    let mut store = Store::open_in_memory().unwrap();
    store.record_call(&call("2026-07-31T23:59:59Z", 1)).unwrap();
    store.record_call(&call("2026-08-01T00:00:00Z", 1)).unwrap();
    store.record_call(&call("2026-08-02T10:00:00Z", 0)).unwrap();
    assert_eq!(
        store.calls_since(utc("2026-08-01T00:00:00Z")).unwrap(),
        (2, 1)
    );
    assert_eq!(
        store.calls_since(utc("2026-09-01T00:00:00Z")).unwrap(),
        (0, 0)
    );

    assert_eq!(store.last_run().unwrap(), None);
    let started = utc("2026-08-24T16:00:00Z");
    let id = store.begin_run(started).unwrap();
    assert_eq!(
        store.last_run().unwrap(),
        Some(Run {
            run_id: id,
            started_at: started,
            finished: None
        })
    );
    let summary = RunSummary {
        finished_at: utc("2026-08-24T16:01:00Z"),
        exit_code: 1,
        calls: 3,
        credits: 3,
        rows: 500,
        summary: "1 job failed".to_owned(),
    };
    store.finish_run(id, &summary).unwrap();
    assert_eq!(store.last_run().unwrap().unwrap().finished, Some(summary));
}

#[test]
fn clear_derived_tables_keeps_archive_ledger_and_cursors() {
    let mut store = Store::open_in_memory().unwrap();
    write(&mut store, |tx| {
        tx.archive_raw(&raw(b"{}"))?;
        tx.upsert_sites([(&site(1), None)])?;
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::Day,
                vec![pt("2026-08-24T00:00:00+02:00", Some(1.0))],
            ),
            SeriesKind::Energy,
        )?;
        tx.set_sync_state(&SyncState::new(1, "energy", Some(Resolution::Day)))
    });
    store.record_call(&call("2026-08-24T00:00:00Z", 1)).unwrap();
    store.begin_run(utc("2026-08-24T00:00:00Z")).unwrap();
    let seq = store.change_seq().unwrap();
    store.clear_derived_tables().unwrap();
    let kept = [
        "seh_raw_responses",
        "seh_sync_state",
        "seh_api_calls",
        "seh_runs",
        "seh_change_counter",
        "seh_source",
    ];
    for (table, n) in store.row_counts().unwrap() {
        assert_eq!(n > 0, kept.contains(&table), "{table}: {n}");
    }
    assert_eq!(store.change_seq().unwrap(), seq);
}

// ---------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------

fn rows(store: &Store, sql: &str) -> Vec<String> {
    let mut stmt = store.conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                rusqlite::types::Value::Null => "NULL".to_owned(),
                rusqlite::types::Value::Integer(v) => v.to_string(),
                rusqlite::types::Value::Real(v) => v.to_string(),
                rusqlite::types::Value::Text(v) => v,
                rusqlite::types::Value::Blob(_) => "BLOB".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" "))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn every_view_is_queryable() {
    let store = Store::open_in_memory().unwrap();
    let views = rows(
        &store,
        "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name",
    );
    assert_eq!(views.len(), 14);
    for v in views {
        rows(&store, &format!("SELECT * FROM {v}"));
    }
}

#[test]
fn energy_views_prefer_day_rows_and_use_local_days() {
    let mut store = Store::open_in_memory().unwrap();
    write(&mut store, |tx| {
        tx.upsert_sites([(&site(1), None)])?;
        // Aug 23 has a DAY bucket; Aug 24 only quarter-hours, one just after local
        // midnight (still Aug 23 in UTC) and the open bucket as NULL.
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::Day,
                vec![pt("2026-08-23T00:00:00+02:00", Some(20_000.0))],
            ),
            SeriesKind::Energy,
        )?;
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::QuarterHour,
                vec![
                    pt("2026-08-23T12:00:00+02:00", Some(999.0)),
                    pt("2026-08-24T00:15:00+02:00", Some(500.0)),
                    pt("2026-08-24T12:00:00+02:00", Some(1500.0)),
                    pt("2026-08-24T12:15:00+02:00", None),
                ],
            ),
            SeriesKind::Energy,
        )?;
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::Year,
                vec![pt("2026-01-01T00:00:00+01:00", Some(3_000_000.0))],
            ),
            SeriesKind::Energy,
        )?;
        tx.upsert_site_series(
            &power(
                1,
                vec![
                    pt("2026-08-24T12:00:00+02:00", Some(4000.0)),
                    pt("2026-08-24T12:15:00+02:00", None),
                ],
            ),
            SeriesKind::Power,
        )
    });
    assert_eq!(
        rows(
            &store,
            "SELECT * FROM v_seh_daily_energy ORDER BY local_date"
        ),
        ["1 2026-08-23 20 DAY 0", "1 2026-08-24 2 QUARTER_HOUR 0"]
    );
    assert_eq!(
        rows(&store, "SELECT * FROM v_seh_energy_monthly"),
        ["1 2026-08 22 DAY 0"]
    );
    assert_eq!(
        rows(&store, "SELECT * FROM v_seh_latest_power"),
        ["1 2026-08-24T10:00:00Z 120 2026-08-24 12:00:00 4000"]
    );
    assert_eq!(
        rows(
            &store,
            "SELECT site_id, name, timezone, lifetime_energy_kwh, last_power_w, energy_rows, \
             power_rows, telemetry_rows FROM v_seh_site_summary"
        ),
        ["1 Home Europe/Berlin 3000 4000 6 2 0"]
    );
    // A TOTAL bucket takes precedence over the sum of years.
    write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::Total,
                vec![pt("2021-04-01T00:00:00+02:00", Some(9_000_000.0))],
            ),
            SeriesKind::Energy,
        )
    });
    assert_eq!(
        rows(&store, "SELECT lifetime_energy_kwh FROM v_seh_site_summary"),
        ["9000"]
    );
}

#[test]
fn battery_status_view_takes_latest_values() {
    let mut store = Store::open_in_memory().unwrap();
    let metric = |metric: &str, unit: &str, points| Telemetry {
        kind: TelemetryKind::Storage,
        site_id: 1,
        device_key: "BAT1".to_owned(),
        resolution: Resolution::QuarterHour,
        metric: metric.to_owned(),
        series: series(unit, unit, points),
    };
    write(&mut store, |tx| {
        tx.upsert_telemetry(&[
            metric(
                "stateOfEnergy",
                "PERCENTAGE",
                vec![
                    pt("2026-08-24T12:00:00+02:00", Some(0.5)),
                    pt("2026-08-24T12:15:00+02:00", Some(0.55)),
                    pt("2026-08-24T12:30:00+02:00", None),
                ],
            ),
            metric(
                "remainingEnergy",
                "Wh",
                vec![pt("2026-08-24T12:15:00+02:00", Some(5000.0))],
            ),
            metric(
                "chargePower",
                "W",
                vec![pt("2026-08-24T12:15:00+02:00", Some(800.0))],
            ),
        ])
    });
    assert_eq!(
        rows(&store, "SELECT * FROM v_seh_battery_status"),
        ["1 BAT1 2026-08-24T10:15:00Z 0.55 PERCENTAGE 5000 800 NULL 55"]
    );
    assert_eq!(
        rows(
            &store,
            "SELECT ts_utc, local_time, state_of_energy_pct, charge_power_w FROM v_seh_storage_15min"
        ),
        [
            "2026-08-24T10:00:00Z 2026-08-24 12:00:00 50 NULL",
            "2026-08-24T10:15:00Z 2026-08-24 12:15:00 55 800",
            "2026-08-24T10:30:00Z 2026-08-24 12:30:00 NULL NULL"
        ]
    );
}

#[test]
fn state_of_energy_is_a_percentage_whatever_the_scale_sent() {
    let mut store = Store::open_in_memory().unwrap();
    let soe = |key: &str, unit: &str, value: f64| Telemetry {
        kind: TelemetryKind::Storage,
        site_id: 1,
        device_key: key.to_owned(),
        resolution: Resolution::QuarterHour,
        metric: "stateOfEnergy".to_owned(),
        series: series(
            unit,
            unit,
            vec![pt("2026-08-24T12:00:00+02:00", Some(value))],
        ),
    };
    write(&mut store, |tx| {
        tx.upsert_telemetry(&[
            soe("FRACTION", "PERCENTAGE", 0.678),
            soe("HUNDRED", "PERCENTAGE", 67.8),
            soe("HUNDRED_UNIT", "PERCENTAGE_100", 0.5),
        ])
    });
    assert_eq!(
        rows(
            &store,
            "SELECT device_key, value_as_sent, state_of_energy_pct FROM v_seh_state_of_energy \
             ORDER BY device_key"
        ),
        [
            "FRACTION 0.678 67.8",
            "HUNDRED 67.8 67.8",
            "HUNDRED_UNIT 0.5 0.5"
        ]
    );
}

#[test]
fn quarter_hour_views_show_local_time_through_the_autumn_change() {
    let mut store = Store::open_in_memory().unwrap();
    // Berlin, 2026-10-25: 02:45 CEST is followed by 02:00 CET (the repeated hour).
    write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(
                1,
                Resolution::QuarterHour,
                vec![
                    pt("2026-10-25T02:45:00+02:00", Some(10.0)),
                    pt("2026-10-25T02:00:00+01:00", None),
                ],
            ),
            SeriesKind::Energy,
        )?;
        tx.upsert_site_series(
            &power(2, vec![pt("2026-03-08T01:45:00-07:00", Some(1.5))]),
            SeriesKind::Power,
        )
    });
    assert_eq!(
        rows(
            &store,
            "SELECT ts_utc, local_time, local_iso, local_date, energy_wh FROM v_seh_energy_15min"
        ),
        [
            "2026-10-25T00:45:00Z 2026-10-25 02:45:00 2026-10-25T02:45:00+02:00 2026-10-25 10",
            "2026-10-25T01:00:00Z 2026-10-25 02:00:00 2026-10-25T02:00:00+01:00 2026-10-25 NULL"
        ]
    );
    assert_eq!(
        rows(&store, "SELECT local_iso, power_w FROM v_seh_power_15min"),
        ["2026-03-08T01:45:00-07:00 1.5"]
    );
}

#[test]
fn today_and_this_month_are_partial() {
    let mut store = Store::open_in_memory().unwrap();
    let now = Utc::now();
    let at = |days: i64| {
        let t = (now - chrono::Duration::days(days))
            .with_timezone(&chrono::FixedOffset::east_opt(0).unwrap());
        pt(
            &t.format("%Y-%m-%dT%H:%M:00+00:00").to_string(),
            Some(1000.0),
        )
    };
    write(&mut store, |tx| {
        tx.upsert_site_series(
            &energy(1, Resolution::QuarterHour, vec![at(40), at(1), at(0)]),
            SeriesKind::Energy,
        )
    });
    let day = |days: i64| {
        (now - chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let daily = rows(
        &store,
        "SELECT local_date, partial FROM v_seh_daily_energy ORDER BY 1",
    );
    assert_eq!(
        daily,
        [
            format!("{} 0", day(40)),
            format!("{} 0", day(1)),
            format!("{} 1", day(0))
        ]
    );
    let monthly = rows(
        &store,
        "SELECT local_month, partial FROM v_seh_energy_monthly ORDER BY 1",
    );
    assert_eq!(monthly.last().unwrap(), &format!("{} 1", &day(0)[..7]));
    assert!(monthly.first().unwrap().ends_with(" 0"), "{monthly:?}");
}

#[test]
fn fleet_listing_is_read_back_from_the_site_list_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("seh.db")).unwrap();
    assert_eq!(
        store.fleet_listing("k1").unwrap(),
        None,
        "nothing recorded yet"
    );
    // A cursor from before listings were recorded has no `extra`: still unknown.
    let mut st = SyncState::new(FLEET_SITE_ID, "sites", None);
    st.last_success = Some(utc("2026-11-01T00:00:00Z"));
    store.set_sync_state(&st).unwrap();
    assert_eq!(store.fleet_listing("k1").unwrap(), None);
    st.extra = Some(fleet_listing_extra(&[7, 3], "k1"));
    store.set_sync_state(&st).unwrap();
    assert_eq!(store.fleet_listing("k1").unwrap(), Some(vec![7, 3]));
    // Another key's listing is not this key's.
    assert_eq!(store.fleet_listing("k2").unwrap(), None);
    // A failed listing later keeps the last complete one.
    store
        .record_error(
            FLEET_SITE_ID,
            "sites",
            None,
            "timeout",
            utc("2026-11-02T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(store.fleet_listing("k1").unwrap(), Some(vec![7, 3]));
}
