//! SQL dumps that `sqlite3`, `psql` and `mysql` load as they are: per dataset one
//! `CREATE TABLE IF NOT EXISTS` named after it (`daily-energy` → `daily_energy`) and
//! `INSERT`s of [`BATCH`] rows each, all in one transaction.
//!
//! Instants stay text (`2026-10-25T02:00:00+01:00`): a server's timestamp type would
//! re-render them in its own zone or drop the offset. Dates are `DATE` where the dialect
//! has one. No primary key is declared, so a dump loads into an existing table as well.

use std::io::{BufWriter, Write};

use super::{fmt_int, fmt_real, Column, Dataset, Dialect, Error, Kind, Out, Sink, Value};

/// Rows per `INSERT`: few statements, yet far below any server's packet limit.
const BATCH: usize = 500;

pub struct Sql<'a> {
    out: BufWriter<Out<'a>>,
    dialect: Dialect,
    /// `INSERT INTO t (a, b) VALUES`, for the current dataset.
    insert: String,
    in_batch: usize,
    buf: String,
}

impl<'a> Sql<'a> {
    pub fn new(out: Out<'a>, dialect: Dialect) -> Result<Sql<'a>, Error> {
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        let start = match dialect {
            Dialect::Sqlite => "BEGIN;\n",
            Dialect::Postgres => "SET client_encoding = 'UTF8';\nBEGIN;\n",
            Dialect::Mysql => "SET NAMES utf8mb4;\nSTART TRANSACTION;\n",
        };
        out.write_all(b"-- seh export\n")?;
        out.write_all(start.as_bytes())?;
        Ok(Sql {
            out,
            dialect,
            insert: String::new(),
            in_batch: 0,
            buf: String::with_capacity(256),
        })
    }

    fn ident(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    fn ty(&self, kind: Kind) -> &'static str {
        match (self.dialect, kind) {
            (Dialect::Sqlite, Kind::Int) => "INTEGER",
            (Dialect::Sqlite, Kind::Real) => "REAL",
            (Dialect::Sqlite, _) => "TEXT",
            (_, Kind::Int) => "BIGINT",
            (Dialect::Postgres, Kind::Real) => "DOUBLE PRECISION",
            (_, Kind::Real) => "DOUBLE",
            (_, Kind::Date) => "DATE",
            // An instant with offset is at most 25 characters; a key column of MySQL
            // cannot be TEXT, so the short ones get a length.
            (Dialect::Mysql, Kind::Time) => "VARCHAR(32)",
            (_, Kind::Time | Kind::Text) => "TEXT",
        }
    }

    /// `s` as a string literal of the dialect.
    fn literal(&self, out: &mut String, s: &str) {
        out.push('\'');
        for c in s.chars() {
            match c {
                '\'' => out.push_str("''"),
                // MySQL reads a backslash as an escape unless NO_BACKSLASH_ESCAPES is set.
                '\\' if self.dialect == Dialect::Mysql => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }

    fn close_batch(&mut self) -> Result<(), Error> {
        if self.in_batch > 0 {
            self.out.write_all(b";\n")?;
            self.in_batch = 0;
        }
        Ok(())
    }
}

impl Sink for Sql<'_> {
    fn begin(&mut self, dataset: &Dataset, columns: &[Column]) -> Result<(), Error> {
        let table = self.ident(&dataset.name.replace('-', "_"));
        let defs: Vec<String> = columns
            .iter()
            .map(|c| format!("  {} {}", self.ident(&c.name), self.ty(c.kind)))
            .collect();
        writeln!(
            self.out,
            "CREATE TABLE IF NOT EXISTS {table} (\n{}\n);",
            defs.join(",\n")
        )?;
        let names: Vec<String> = columns.iter().map(|c| self.ident(&c.name)).collect();
        self.insert = format!("INSERT INTO {table} ({}) VALUES\n", names.join(", "));
        Ok(())
    }

    fn row(&mut self, values: &[Value<'_>]) -> Result<(), Error> {
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        if self.in_batch == 0 {
            b.push_str(&self.insert);
        } else {
            b.push_str(",\n");
        }
        b.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                b.push_str(", ");
            }
            match *v {
                Value::Null => b.push_str("NULL"),
                Value::Int(n) => fmt_int(&mut b, n),
                Value::Real(r) => {
                    if fmt_real(&mut b, r).is_none() {
                        b.push_str("NULL");
                    }
                }
                Value::Text(t) | Value::Date(t) | Value::Time(t) => self.literal(&mut b, t),
            }
        }
        b.push(')');
        self.out.write_all(b.as_bytes())?;
        self.buf = b;
        self.in_batch += 1;
        if self.in_batch == BATCH {
            self.close_batch()?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        self.close_batch()
    }

    fn finish(mut self: Box<Self>) -> Result<(), Error> {
        self.out.write_all(b"COMMIT;\n")?;
        self.out.flush()?;
        Ok(())
    }
}
