//! Baseline for BENCHMARKS.md: copy every time-series row of a harvested seh database into
//! a fresh SQLite file with a plain rusqlite insert loop (one prepared statement, one
//! transaction per table, no upsert logic, no change markers, no raw archive), and print
//! rows per second. `scripts/bench-sync` runs it on the database a real sync produced, so
//! both numbers come from the same rows in the same run.
//!
//!     cargo run --release --example bench_insert -- SEH_DB OUT_DB

use rusqlite::{params, Connection};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = match args.as_slice() {
        [_, s, d] => (s.clone(), d.clone()),
        _ => {
            eprintln!("usage: bench_insert SEH_DB OUT_DB");
            std::process::exit(2);
        }
    };
    let _ = std::fs::remove_file(&dst);
    let src = Connection::open(&src).expect("open source");
    let mut out = Connection::open(&dst).expect("open output");
    out.pragma_update(None, "journal_mode", "WAL").unwrap();
    out.pragma_update(None, "synchronous", "NORMAL").unwrap();
    out.execute_batch(
        "CREATE TABLE site_series (kind TEXT, site_id INTEGER, resolution TEXT, ts_utc TEXT, off INTEGER, value REAL, PRIMARY KEY (kind, site_id, resolution, ts_utc));
         CREATE TABLE telemetry (site_id INTEGER, device_key TEXT, resolution TEXT, metric TEXT, ts_utc TEXT, off INTEGER, value REAL, unit TEXT, PRIMARY KEY (site_id, device_key, resolution, metric, ts_utc));",
    )
    .unwrap();
    // Read everything first so only the inserts are timed.
    type SeriesRow<'a> = (&'a str, i64, String, String, i64, Option<f64>);
    let mut series: Vec<SeriesRow> = Vec::new();
    for (table, col) in [("seh_energy", "energy_wh"), ("seh_power", "power_w")] {
        let mut st = src
            .prepare(&format!(
                "SELECT site_id, resolution, ts_utc, utc_offset_min, {col} FROM {table}"
            ))
            .unwrap();
        series.extend(
            st.query_map([], |r| {
                Ok((table, r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(Result::unwrap),
        );
    }
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        Option<f64>,
        String,
    );
    let mut tele: Vec<Row> = Vec::new();
    for table in [
        "seh_inverter_telemetry",
        "seh_meter_telemetry",
        "seh_storage_telemetry",
    ] {
        let mut st = src
            .prepare(&format!(
                "SELECT site_id, device_key, resolution, metric, ts_utc, utc_offset_min, value, unit FROM {table}"
            ))
            .unwrap();
        tele.extend(
            st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap),
        );
    }
    let rows = series.len() + tele.len();
    let t = Instant::now();
    let tx = out.transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO site_series VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .unwrap();
        for (kind, site, res, ts, off, v) in &series {
            ins.execute(params![kind, site, res, ts, off, v]).unwrap();
        }
        let mut ins = tx
            .prepare("INSERT INTO telemetry VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .unwrap();
        for (site, dev, res, metric, ts, off, v, unit) in &tele {
            ins.execute(params![site, dev, res, metric, ts, off, v, unit])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "plain insert loop: {rows} rows in {secs:.2} s = {:.0} rows/s",
        rows as f64 / secs
    );
}
