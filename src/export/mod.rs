//! `seh export`: datasets of the database written as CSV, JSON, NDJSON, SQL or XLSX,
//! streaming from one read transaction to one [`Sink`] per format without collecting rows,
//! so memory does not grow with the data and a sync may write meanwhile.
//!
//! `datasets` names what can be exported (on top of `store::catalogue`), `time` prints a
//! bucket's instant in local time or UTC, `wide` pivots telemetry (`--wide`), and `csv`,
//! `json`, `sql`, `xlsx` are the sinks.
//! The module reads the store through [`Store::snapshot`] only and never writes it; where
//! the output goes (stdout, a temporary file renamed into place) is the command's job.

mod csv;
pub mod datasets;
mod json;
mod sql;
pub mod time;
mod wide;
mod xlsx;

use std::collections::HashMap;
use std::fmt;
use std::io::Write;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::model::Resolution;
use crate::store::{self, Cell, Dates, Selection, Store};
pub use datasets::{Dataset, Kind};
pub use time::TimeMode;

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    Sql,
    Xlsx,
}

impl Format {
    pub const ALL: [(&'static str, Format); 5] = [
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("ndjson", Format::Ndjson),
        ("sql", Format::Sql),
        ("xlsx", Format::Xlsx),
    ];

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }

    /// Whether one output can hold several datasets (SQL tables, XLSX sheets).
    pub fn takes_several(self) -> bool {
        matches!(self, Format::Sql | Format::Xlsx)
    }
}

/// The SQL a dump is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }
}

/// What to export, already validated (the command parses the flags into this).
#[derive(Clone, Debug)]
pub struct Request {
    pub format: Format,
    pub datasets: Vec<&'static Dataset>,
    /// Only these sites (all when empty).
    pub sites: Vec<i64>,
    /// Site-local calendar dates, inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// For the datasets whose resolution is not fixed.
    pub resolution: Option<Resolution>,
    pub time: TimeMode,
    /// Telemetry pivoted to one column per device and metric.
    pub wide: bool,
    /// CSV field separator.
    pub delimiter: u8,
    pub dialect: Dialect,
}

/// One exported value, borrowed for the length of one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    /// `YYYY-MM-DD`.
    Date(&'a str),
    /// A bucket's printed text (local with offset, or UTC); `time::wall` reads its
    /// wall-clock time back.
    Time(&'a str),
}

/// One exported column: its header and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

/// A format's writer. `begin` and `end` bracket each dataset; `finish` completes the
/// output (an XLSX file is only written then).
pub trait Sink {
    fn begin(&mut self, dataset: &Dataset, columns: &[Column]) -> Result<(), Error>;
    fn row(&mut self, values: &[Value<'_>]) -> Result<(), Error>;
    fn end(&mut self) -> Result<(), Error>;
    fn finish(self: Box<Self>) -> Result<(), Error>;
}

/// Why an export failed. The command decides the exit code by variant.
#[derive(Debug)]
pub enum Error {
    /// Reading the database failed.
    Store(store::Error),
    /// Writing the output failed (a full disk, a closed pipe).
    Write(std::io::Error),
    /// The XLSX writer refused (its text says why).
    Xlsx(String),
    /// A dataset has more rows than one XLSX sheet holds.
    SheetFull { dataset: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(e) => write!(f, "{e}"),
            Error::Write(e) => write!(f, "{e}"),
            Error::Xlsx(e) => write!(f, "XLSX: {e}"),
            Error::SheetFull { dataset } => write!(
                f,
                "{dataset} has more rows than an XLSX sheet holds ({}); narrow it with \
                 --from/--to or --site, or export csv",
                xlsx::MAX_ROWS
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        Error::Store(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Write(e)
    }
}

/// Where the output goes: any writer for the text formats.
pub type Out<'a> = Box<dyn Write + Send + 'a>;

/// Rows written per dataset, for the command's summary line.
pub type Summary = Vec<(&'static str, u64)>;

/// Runs `req` against `store`, writing to `out`.
pub fn run(store: &Store, req: &Request, out: Out<'_>) -> Result<Summary, Error> {
    let zones: HashMap<i64, Tz> = store
        .site_rows()?
        .into_iter()
        .filter_map(|s| Some((s.site_id, s.timezone?.parse::<Tz>().ok()?)))
        .collect();
    let mut sink: Box<dyn Sink + '_> = match req.format {
        Format::Csv => Box::new(csv::Csv::new(out, req.delimiter)),
        Format::Json => Box::new(json::Json::new(out, false)),
        Format::Ndjson => Box::new(json::Json::new(out, true)),
        Format::Sql => Box::new(sql::Sql::new(out, req.dialect)?),
        Format::Xlsx => Box::new(xlsx::Xlsx::new(out)),
    };
    let summary = store.snapshot(|snap| {
        let mut summary = Summary::new();
        for ds in &req.datasets {
            let n = export_one(snap, req, ds, &zones, sink.as_mut())?;
            summary.push((ds.name, n));
        }
        Ok::<_, Error>(summary)
    })?;
    sink.finish()?;
    Ok(summary)
}

/// The header of a stored column: the instant is `ts_local` in local time.
fn header(stored: &'static str, time: TimeMode) -> &'static str {
    match (stored, time) {
        ("ts_utc", TimeMode::Local) => "ts_local",
        _ => stored,
    }
}

/// The resolution a dataset is read at under this request.
fn resolution_of(ds: &Dataset, req: &Request) -> Option<&'static str> {
    match ds.resolution {
        datasets::Resolution::None => None,
        datasets::Resolution::Fixed(r) => Some(r),
        datasets::Resolution::Default(r) => req.resolution.map(Resolution::as_str).or(r),
    }
}

/// Streams one dataset into the sink.
fn export_one(
    snap: &store::Snapshot<'_>,
    req: &Request,
    ds: &'static Dataset,
    zones: &HashMap<i64, Tz>,
    sink: &mut dyn Sink,
) -> Result<u64, Error> {
    let stored = ds.columns();
    let columns: Vec<Column> = stored
        .iter()
        .map(|&name| Column {
            name: header(name, req.time).to_string(),
            kind: ds.kind(name),
        })
        .collect();
    let at = |c: &str| stored.iter().position(|n| *n == c);
    let (ts_at, offset_at, site_at) = (at("ts_utc"), at("utc_offset_min"), at("site_id"));
    if req.wide && ds.pivots() {
        return wide::export(snap, req, ds, zones, sink);
    }
    let resolution = resolution_of(ds, req);
    let sel = Selection {
        table: ds.table,
        columns: &stored,
        sites: &req.sites,
        resolution,
        dates: ds.dates.map(|column| Dates {
            column,
            from: req.from,
            to: req.to,
        }),
        order: None,
        distinct: false,
    };
    sink.begin(ds, &columns)?;
    let mut stamp = String::with_capacity(32);
    let n = snap.each_row(&sel, |cells| {
        // Whether the instant was printed into `stamp` (else it goes out as stored).
        let timed = ts_at.is_some_and(|i| match cells[i] {
            Cell::Text(ts) => {
                let offset = offset_at.and_then(|o| match cells[o] {
                    Cell::Int(m) => Some(m),
                    _ => None,
                });
                let zone = || {
                    site_at.and_then(|s| match cells[s] {
                        Cell::Int(id) => zones.get(&id).copied(),
                        _ => None,
                    })
                };
                time::bucket(&mut stamp, ts, offset, zone, req.time)
            }
            _ => false,
        });
        // Borrows of this row's cells and stamp, on the stack like the cells themselves.
        let mut stack = [Value::Null; store::ROW_CELLS];
        let mut heap = Vec::new();
        let values: &mut [Value<'_>] = if cells.len() <= store::ROW_CELLS {
            &mut stack[..cells.len()]
        } else {
            heap.resize(cells.len(), Value::Null);
            &mut heap
        };
        for (i, c) in cells.iter().enumerate() {
            values[i] = match (*c, columns[i].kind) {
                (Cell::Null, _) => Value::Null,
                (Cell::Text(_), Kind::Time) if timed && Some(i) == ts_at => Value::Time(&stamp),
                (Cell::Text(t), Kind::Time) => Value::Text(t),
                (Cell::Text(t), Kind::Date) => Value::Date(t),
                (Cell::Text(t), _) => Value::Text(t),
                (Cell::Int(v), _) => Value::Int(v),
                (Cell::Real(v), _) => Value::Real(v),
            };
        }
        sink.row(values)
    })?;
    sink.end()?;
    Ok(n)
}

/// Writes `v` the shortest way that reads back as the same number (`4.64344`, `5`), with
/// no exponent; `None` for infinities and NaN, which no format here can hold.
///
/// Ryū finds the digits (several times faster than `{}` on the export's hot path); its
/// `5.0` loses the `.0`, and the rare exponent form (below 1e-5, from 1e16 on) is left
/// to `{}`, which never uses one. Both print the same shortest round-trip digits.
pub fn fmt_real(out: &mut String, v: f64) -> Option<()> {
    if !v.is_finite() {
        return None;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if s.contains('e') {
        use std::fmt::Write as _;
        let _ = write!(out, "{v}");
    } else {
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
    }
    Some(())
}

/// Writes an integer.
pub fn fmt_int(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_print_without_float_noise() {
        for (v, s) in [
            (4.64344, "4.64344"),
            (5.0, "5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1250.5, "-1250.5"),
            (1e-7, "0.0000001"),
        ] {
            let mut out = String::new();
            fmt_real(&mut out, v).unwrap();
            assert_eq!(out, s);
            assert_eq!(out.parse::<f64>().unwrap(), v, "round trip");
        }
        assert!(fmt_real(&mut String::new(), f64::INFINITY).is_none());
        // The fast path reads back as the same number, as short as `{}` prints it (the two
        // may pick different last digits where two shortest forms round-trip), for
        // numbers of every magnitude; ordinary values print exactly as `{}` does.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let mut out = String::new();
            fmt_real(&mut out, v).unwrap();
            assert_eq!(out.parse::<f64>().unwrap(), v, "{out}");
            assert!(
                !out.contains('e') && out.len() <= format!("{v}").len(),
                "{out}"
            );
            let small = (x % 10_000_000) as f64 / 1000.0;
            out.clear();
            fmt_real(&mut out, small).unwrap();
            assert_eq!(out, format!("{small}"));
        }
    }
}
