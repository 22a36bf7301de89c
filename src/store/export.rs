//! Streaming reads for `seh export`: one read transaction ([`Snapshot`]) in which any number
//! of [`Selection`]s run, each handing its rows one at a time to a callback as borrowed
//! [`Cell`]s. Nothing is collected, so an export's memory does not grow with the data, and
//! the snapshot sees one consistent state of the database while a sync goes on writing.
//!
//! The tables and columns come from [`super::catalogue`] only; a selection naming a column
//! its table does not have is refused before any SQL is built. This module never writes.

use chrono::NaiveDate;
use rusqlite::types::ValueRef;

use super::catalogue::Table;
use super::{Context, Error, Store};

/// Columns of a row held without allocating (the widest catalogue table has 19).
pub const ROW_CELLS: usize = 32;

/// One value of a row, borrowed from SQLite's row buffer for the length of the callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

/// Which site-local calendar dates a selection keeps (both ends inclusive, either open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dates {
    /// `ts_utc` (a time series: the bucket's local date is `ts_utc + utc_offset_min`) or a
    /// column that holds the local date itself (`local_date`).
    pub column: &'static str,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// What to read from one table: these columns, of these sites (all if empty), of one
/// resolution (if given), within the dates (if given), in key order unless `order` says
/// otherwise, and only distinct rows if `distinct`.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    pub table: &'static Table,
    pub columns: &'a [&'static str],
    pub sites: &'a [i64],
    pub resolution: Option<&'a str>,
    pub dates: Option<Dates>,
    /// Another order than the primary key's (a pivot needs one; SQLite then sorts, in
    /// bounded memory, spilling to temporary files).
    pub order: Option<&'a [&'static str]>,
    pub distinct: bool,
}

impl Selection<'_> {
    /// The one SELECT of this selection and its parameters (all text or integers).
    fn sql(&self) -> Result<(String, Vec<rusqlite::types::Value>), Error> {
        use rusqlite::types::Value;
        let has = |name: &str| self.table.columns().any(|c| c.name == name);
        let order = self.order.unwrap_or(&[]);
        if let Some(bad) = self.columns.iter().chain(order).find(|c| !has(c)) {
            log::debug!("export: {} has no column {bad}", self.table.name);
            return Err(Error::Invalid {
                what: "an export selected a column its table does not have",
            });
        }
        let mut filters: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if !self.sites.is_empty() {
            let marks = vec!["?"; self.sites.len()].join(", ");
            filters.push(format!("site_id IN ({marks})"));
            params.extend(self.sites.iter().map(|s| Value::Integer(*s)));
        }
        if let Some(r) = self.resolution {
            if !has("resolution") {
                return Err(Error::Invalid {
                    what: "an export filtered by resolution a table that has none",
                });
            }
            filters.push("resolution = ?".into());
            params.push(Value::Text(r.to_owned()));
        }
        if let Some(d) = self.dates {
            if !has(d.column) {
                return Err(Error::Invalid {
                    what: "an export filtered by dates a table without that column",
                });
            }
            let day = |d: NaiveDate| Value::Text(d.format("%Y-%m-%d").to_string());
            if d.column == "ts_utc" {
                // The local date is the stored instant moved by the stored offset, exactly
                // as the export prints it. The coarse UTC bounds (a day either side, more
                // than any offset) let the primary key's index narrow the scan first.
                let local = "date(ts_utc, COALESCE(utc_offset_min, 0) || ' minutes')";
                if let Some(from) = d.from {
                    filters.push("ts_utc >= ?".into());
                    params.push(day(from.pred_opt().unwrap_or(from)));
                    filters.push(format!("{local} >= ?"));
                    params.push(day(from));
                }
                if let Some(to) = d.to {
                    filters.push("ts_utc < ?".into());
                    params.push(day(to.succ_opt().and_then(|t| t.succ_opt()).unwrap_or(to)));
                    filters.push(format!("{local} <= ?"));
                    params.push(day(to));
                }
            } else {
                if let Some(from) = d.from {
                    filters.push(format!("{} >= ?", d.column));
                    params.push(day(from));
                }
                if let Some(to) = d.to {
                    filters.push(format!("{} <= ?", d.column));
                    params.push(day(to));
                }
            }
        }
        let key: Vec<&str> = match self.order {
            Some(o) => o.to_vec(),
            None => self.table.key.iter().map(|c| c.name).collect(),
        };
        let mut sql = format!(
            "SELECT {}{} FROM {}",
            if self.distinct { "DISTINCT " } else { "" },
            self.columns.join(", "),
            self.table.name
        );
        if !filters.is_empty() {
            sql += " WHERE ";
            sql += &filters.join(" AND ");
        }
        // Key order is the primary key's index order: no sort, no temporary table.
        if !key.is_empty() {
            sql += " ORDER BY ";
        }
        sql += &key.join(", ");
        Ok((sql, params))
    }
}

/// One read transaction: every selection run in it sees the same committed state.
pub struct Snapshot<'s> {
    tx: rusqlite::Transaction<'s>,
}

impl Store {
    /// Runs `f` inside one read transaction and ends it (a read-only connection can begin
    /// and end one; nothing is written).
    pub fn snapshot<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self
            .conn
            .unchecked_transaction()
            .ctx("begin read transaction")?;
        let snap = Snapshot { tx };
        let out = f(&snap)?;
        snap.tx.commit().ctx("end read transaction")?;
        Ok(out)
    }
}

impl Snapshot<'_> {
    /// Hands every row of `sel` to `row`, in key order; returns how many there were. An
    /// error from `row` stops the read and is returned as it is.
    pub fn each_row<E: From<Error>>(
        &self,
        sel: &Selection<'_>,
        mut row: impl FnMut(&[Cell<'_>]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let query = "read rows to export";
        let (sql, params) = sel.sql()?;
        let mut stmt = self.tx.prepare(&sql).ctx(query)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .ctx(query)?;
        let n = sel.columns.len();
        // The cells of a row live on the stack: no allocation per row for any table of
        // the catalogue (a wider selection falls back to one vector per row).
        let mut count = 0u64;
        while let Some(r) = rows.next().ctx(query)? {
            let mut stack = [Cell::Null; ROW_CELLS];
            let mut heap = Vec::new();
            let cells: &mut [Cell<'_>] = if n <= ROW_CELLS {
                &mut stack[..n]
            } else {
                heap.resize(n, Cell::Null);
                &mut heap
            };
            for (i, cell) in cells.iter_mut().enumerate() {
                // `i` is below the statement's column count, which the unchecked read
                // needs; it spares a `Result` per cell on the hot path.
                *cell = match r.get_ref_unwrap(i) {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Real(v),
                    ValueRef::Text(t) => {
                        Cell::Text(std::str::from_utf8(t).map_err(|_| Error::Invalid {
                            what: "a text column holds bytes that are not UTF-8",
                        })?)
                    }
                    ValueRef::Blob(_) => {
                        return Err(Error::Invalid {
                            what: "a data column holds a blob",
                        }
                        .into())
                    }
                };
            }
            row(cells)?;
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::catalogue;

    fn sel(dates: Option<Dates>) -> Selection<'static> {
        Selection {
            table: &catalogue::ENERGY,
            columns: &["site_id", "ts_utc", "energy_wh"],
            sites: &[],
            resolution: Some("QUARTER_HOUR"),
            dates,
            order: None,
            distinct: false,
        }
    }

    /// Rows come in key order with NULL as NULL, the local-date filter uses the stored
    /// offset, and an unknown column is refused before any SQL runs.
    #[test]
    fn streams_rows_filtered_by_local_date() {
        let store = Store::open_in_memory().unwrap();
        let insert = "INSERT INTO seh_energy (site_id, resolution, ts_utc, utc_offset_min, \
                      energy_wh, api_unit, updated_at, change_seq) \
                      VALUES (1, 'QUARTER_HOUR', ?1, 120, ?2, 'Wh', 'x', 1)";
        for (ts, v) in [
            ("2026-10-23T21:45:00Z", Some(1.5)),
            ("2026-10-23T22:00:00Z", None),
            ("2026-10-24T21:45:00Z", Some(4.64344)),
            ("2026-10-24T22:00:00Z", Some(2.0)),
        ] {
            store
                .conn
                .execute(insert, rusqlite::params![ts, v])
                .unwrap();
        }
        let day = NaiveDate::from_ymd_opt(2026, 10, 24);
        let dates = Dates {
            column: "ts_utc",
            from: day,
            to: day,
        };
        let mut seen = Vec::new();
        let n = store
            .snapshot(|s| {
                s.each_row(&sel(Some(dates)), |cells| {
                    seen.push(format!("{cells:?}"));
                    Ok::<(), Error>(())
                })
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            seen,
            [
                r#"[Int(1), Text("2026-10-23T22:00:00Z"), Null]"#,
                r#"[Int(1), Text("2026-10-24T21:45:00Z"), Real(4.64344)]"#,
            ]
        );
        let mut bad = sel(None);
        bad.columns = &["site_id", "nope"];
        let e = store
            .snapshot(|s| s.each_row(&bad, |_| Ok::<(), Error>(())))
            .unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
    }
}
