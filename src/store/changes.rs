//! The change feed the pushers read: the rows of one catalogue table whose `change_seq` is
//! above a cursor, in `change_seq` order, handed out in bounded chunks, and the stable id
//! of this database as a push source (`seh_source`).
//!
//! One SQLite statement streams the rows, so a year of backlog never sits in memory: at
//! most one chunk (plus the one row read ahead) does. Many rows share a `change_seq` (one
//! per write transaction), so a chunk may end inside such a group; [`Chunk::complete`]
//! says whether every row up to [`Chunk::last_seq`] has been handed out, i.e. whether a
//! remote cursor may now be set to it.

use super::catalogue::{ColumnType, Table};
use super::{Context, Error, Store};

/// One value of a row, as SQLite stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl Value {
    /// The text of a text value (a timestamp key, say).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A run of rows of one table in `change_seq` order, `width` values per row, in the
/// column order of [`feed_columns`].
#[derive(Debug)]
pub struct Chunk<'a> {
    pub values: &'a [Value],
    pub width: usize,
    /// The `change_seq` of the last row of the chunk.
    pub last_seq: i64,
    /// Every row with `change_seq <= last_seq` has now been handed out: a cursor set to
    /// `last_seq` is exact. False when the next chunk continues the same `change_seq`.
    pub complete: bool,
}

impl Chunk<'_> {
    /// The rows, each a slice of `width` values.
    pub fn rows(&self) -> impl Iterator<Item = &[Value]> {
        self.values.chunks(self.width)
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The columns the feed hands out, in order: key, values, other, then `updated_at`
/// (`change_seq` is the feed's own order, not data).
pub fn feed_columns(table: &Table) -> Vec<super::catalogue::Column> {
    table.columns().filter(|c| c.name != "change_seq").collect()
}

impl Store {
    /// The stable id of this database as a push source (made by its migration).
    pub fn source_id(&self) -> Result<String, Error> {
        self.conn
            .query_row("SELECT source_id FROM seh_source WHERE id = 1", [], |r| {
                r.get(0)
            })
            .ctx("read the source id")
    }

    /// Hands `f` the rows of `table` with `change_seq > after`, in `change_seq` order, in
    /// chunks of at most `chunk_rows` rows. Stops at the first error of `f`. Returns the
    /// number of rows handed out.
    pub fn stream_changes<E: From<Error>>(
        &self,
        table: &Table,
        after: i64,
        chunk_rows: usize,
        mut f: impl FnMut(Chunk<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let columns = feed_columns(table);
        let width = columns.len();
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        let sql = format!(
            "SELECT {}, change_seq FROM {} WHERE change_seq > ?1 ORDER BY change_seq",
            names.join(", "),
            table.name
        );
        let mut stmt = self.conn.prepare(&sql).ctx("read changed rows")?;
        let mut rows = stmt.query([after]).ctx("read changed rows")?;
        let chunk_rows = chunk_rows.max(1);
        let mut values: Vec<Value> = Vec::with_capacity(chunk_rows * width);
        let mut last_seq = after;
        let mut total = 0u64;
        while let Some(row) = rows.next().ctx("read changed rows")? {
            let seq: i64 = row.get(width).ctx("read changed rows")?;
            if values.len() >= chunk_rows * width {
                // The row read ahead tells whether the full chunk ends a change_seq group.
                f(Chunk {
                    values: &values,
                    width,
                    last_seq,
                    complete: seq != last_seq,
                })?;
                values.clear();
            }
            for (i, c) in columns.iter().enumerate() {
                values.push(read_value(row, i, c.ty)?);
            }
            last_seq = seq;
            total += 1;
        }
        if !values.is_empty() {
            f(Chunk {
                values: &values,
                width,
                last_seq,
                complete: true,
            })?;
        }
        Ok(total)
    }
}

fn read_value(row: &rusqlite::Row<'_>, i: usize, ty: ColumnType) -> Result<Value, Error> {
    use rusqlite::types::ValueRef;
    // The declared type decides; SQLite may hand back an integer for a REAL column
    // holding a whole number, which the remote must still receive as a float.
    let v = row.get_ref(i).ctx("read changed rows")?;
    Ok(match (v, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(n), ColumnType::Real) => Value::Real(n as f64),
        (ValueRef::Integer(n), _) => Value::Integer(n),
        (ValueRef::Real(x), _) => Value::Real(x),
        (ValueRef::Text(t), _) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(_), _) => {
            return Err(Error::Invalid {
                what: "a data table holds a blob",
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::catalogue::ENERGY;

    /// Nine energy rows in three change groups: 3 rows at seq 1, 1 at seq 2, 5 at seq 3.
    fn store() -> Store {
        let store = Store::open_in_memory().unwrap();
        for (i, seq) in [1, 1, 1, 2, 3, 3, 3, 3, 3].into_iter().enumerate() {
            store
                .conn
                .execute(
                    "INSERT INTO seh_energy (site_id, resolution, ts_utc, utc_offset_min, \
                     energy_wh, api_unit, updated_at, change_seq) \
                     VALUES (1, 'QUARTER_HOUR', ?1, 60, ?2, NULL, '2026-01-01T00:00:00Z', ?3)",
                    rusqlite::params![format!("2026-01-01T00:{:02}:00Z", i), i as i64, seq],
                )
                .unwrap();
        }
        store
    }

    fn chunks(store: &Store, after: i64, size: usize) -> Vec<(usize, i64, bool)> {
        let mut seen = Vec::new();
        store
            .stream_changes::<Error>(&ENERGY, after, size, |c| {
                seen.push((c.len(), c.last_seq, c.complete));
                Ok(())
            })
            .unwrap();
        seen
    }

    #[test]
    fn chunks_are_bounded_and_say_where_a_group_ends() {
        let store = store();
        assert_eq!(
            chunks(&store, 0, 2),
            [
                (2, 1, false),
                (2, 2, true),
                (2, 3, false),
                (2, 3, false),
                (1, 3, true)
            ]
        );
        assert_eq!(chunks(&store, 0, 100), [(9, 3, true)]);
        assert_eq!(chunks(&store, 2, 4), [(4, 3, false), (1, 3, true)]);
        assert_eq!(chunks(&store, 3, 4), []);
    }

    #[test]
    fn values_follow_the_declared_types() {
        let store = store();
        let mut first = Vec::new();
        store
            .stream_changes::<Error>(&ENERGY, 0, 1, |c| {
                if first.is_empty() {
                    first = c.values.to_vec();
                }
                Ok(())
            })
            .unwrap();
        let names: Vec<&str> = feed_columns(&ENERGY).iter().map(|c| c.name).collect();
        assert_eq!(names.last(), Some(&"updated_at"));
        assert_eq!(first[0], Value::Integer(1));
        assert_eq!(first[2].as_text(), Some("2026-01-01T00:00:00Z"));
        // energy_wh is REAL: a whole number stored as integer still arrives as a float.
        assert_eq!(first[4], Value::Real(0.0));
        assert_eq!(first[5], Value::Null);
        assert_eq!(store.source_id().unwrap().len(), 32);
    }
}
