//! `--wide`: a telemetry dataset pivoted to one row per site, resolution and bucket and
//! one column per device and metric (`7E1A0001-1B.power_w`: device key, metric, unit).
//!
//! Two reads in the same snapshot: the distinct device/metric/unit triples make the
//! header, then the rows come sorted by site, resolution and bucket (SQLite sorts in
//! bounded memory) and each bucket's values are gathered into one output row, written as
//! soon as the next bucket begins. Only one wide row is held at a time.

use std::collections::HashMap;

use chrono_tz::Tz;

use super::{time, Column, Dataset, Error, Kind, Request, Sink, Value};
use crate::store::{Cell, Dates, Selection, Snapshot};

/// The columns of the pivot's main read, in this order.
const READ: [&str; 7] = [
    "site_id",
    "resolution",
    "ts_utc",
    "utc_offset_min",
    "device_key",
    "metric",
    "value",
];
const ORDER: [&str; 5] = ["site_id", "resolution", "ts_utc", "device_key", "metric"];

/// The bucket being gathered: its key, offset and one value per pivoted column.
struct Bucket {
    site: i64,
    resolution: String,
    ts: String,
    offset: Option<i64>,
    values: Vec<Option<f64>>,
}

pub fn export(
    snap: &Snapshot<'_>,
    req: &Request,
    ds: &'static Dataset,
    zones: &HashMap<i64, Tz>,
    sink: &mut dyn Sink,
) -> Result<u64, Error> {
    let resolution = super::resolution_of(ds, req);
    let base = |columns: &'static [&'static str], order: &'static [&'static str]| Selection {
        table: ds.table,
        columns,
        sites: &req.sites,
        resolution,
        dates: ds.dates.map(|column| Dates {
            column,
            from: req.from,
            to: req.to,
        }),
        order: Some(order),
        distinct: false,
    };
    // The header: every device and metric present in the selection, with its unit.
    // device → metric → index among the pivoted columns (looked up by &str per row).
    let mut slots: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut columns: Vec<Column> = [
        ("site_id", Kind::Int),
        ("resolution", Kind::Text),
        (super::header("ts_utc", req.time), Kind::Time),
        ("utc_offset_min", Kind::Int),
    ]
    .into_iter()
    .map(|(n, kind)| Column {
        name: n.to_string(),
        kind,
    })
    .collect();
    const TRIPLE: [&str; 3] = ["device_key", "metric", "unit"];
    let mut distinct = base(&TRIPLE, &TRIPLE);
    distinct.distinct = true;
    snap.each_row(&distinct, |cells| {
        let text = |c: Cell<'_>| match c {
            Cell::Text(t) => t.to_string(),
            _ => String::new(),
        };
        let (device, metric) = (text(cells[0]), text(cells[1]));
        let metrics = slots.entry(device.clone()).or_default();
        // A metric whose unit changed over time keeps the first unit in its name.
        if let std::collections::hash_map::Entry::Vacant(slot) = metrics.entry(metric) {
            let unit = text(cells[2]).to_ascii_lowercase();
            let name = match unit.as_str() {
                "" => format!("{device}.{}", slot.key()),
                u => format!("{device}.{}_{u}", slot.key()),
            };
            slot.insert(columns.len() - 4);
            columns.push(Column {
                name,
                kind: Kind::Real,
            });
        }
        Ok::<(), Error>(())
    })?;
    sink.begin(ds, &columns)?;

    let mut current: Option<Bucket> = None;
    let mut rows = 0u64;
    let mut stamp = String::with_capacity(32);
    let width = columns.len() - 4;
    let mut flush = |b: &Bucket, sink: &mut dyn Sink| -> Result<(), Error> {
        let zone = || zones.get(&b.site).copied();
        let timed = time::bucket(&mut stamp, &b.ts, b.offset, zone, req.time);
        let mut values = Vec::with_capacity(width + 4);
        values.push(Value::Int(b.site));
        values.push(Value::Text(&b.resolution));
        values.push(if timed {
            Value::Time(&stamp)
        } else {
            Value::Text(&b.ts)
        });
        values.push(b.offset.map_or(Value::Null, Value::Int));
        values.extend(b.values.iter().map(|v| v.map_or(Value::Null, Value::Real)));
        rows += 1;
        sink.row(&values)
    };
    snap.each_row(&base(&READ, &ORDER), |cells| {
        let (Cell::Int(site), Cell::Text(res), Cell::Text(ts)) = (cells[0], cells[1], cells[2])
        else {
            return Ok(());
        };
        let same = current
            .as_ref()
            .is_some_and(|b| b.site == site && b.ts == ts && b.resolution == res);
        if !same {
            if let Some(b) = current.take() {
                flush(&b, sink)?;
            }
            current = Some(Bucket {
                site,
                resolution: res.to_string(),
                ts: ts.to_string(),
                offset: None,
                values: vec![None; width],
            });
        }
        let b = current.as_mut().expect("set above");
        if let Cell::Int(o) = cells[3] {
            b.offset = Some(o);
        }
        let (Cell::Text(device), Cell::Text(metric)) = (cells[4], cells[5]) else {
            return Ok(());
        };
        let slot = slots.get(device).and_then(|m| m.get(metric));
        if let (Some(&i), Cell::Real(v)) = (slot, cells[6]) {
            b.values[i] = Some(v);
        }
        Ok::<(), Error>(())
    })?;
    if let Some(b) = current.take() {
        flush(&b, sink)?;
    }
    sink.end()?;
    Ok(rows)
}
