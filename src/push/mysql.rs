//! The MySQL/MariaDB pusher (feature `mysql`): the `mysql` crate (blocking), TLS through
//! rustls with ring. A chunk goes in as multi-row `INSERT ... ON DUPLICATE KEY UPDATE`
//! statements of up to [`ROWS_PER_STATEMENT`] rows, with the values written as literals
//! (the text protocol: no prepared statement per batch size kept in the client, which
//! measured 23 MB of RSS, and one round trip per statement); `ts` is computed by the
//! server from the text key. The session runs with `NO_BACKSLASH_ESCAPES`, so quoting a
//! string is doubling its `'`, whatever the server's default mode.

use super::{
    statements, update_columns, Error, PushConfig, Remote, Tls, MYSQL_MIGRATIONS, REMOTE_VERSION,
};
use crate::store::catalogue::Table;
use crate::store::{feed_columns, Chunk, Value};
use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, OptsBuilder, SslOpts};
use std::time::Duration;

/// Rows per INSERT statement: large enough to amortise the round trip, small enough to
/// stay far below `max_allowed_packet` (about 150 bytes a row).
const ROWS_PER_STATEMENT: usize = 1000;

/// ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR.
const ACCESS_DENIED: [u16; 2] = [1045, 1044];
/// ER_BAD_DB_ERROR.
const BAD_DB: u16 = 1049;

pub(super) struct My {
    conn: Conn,
    /// The statement being built, reused.
    sql: String,
}

fn remote(what: impl Into<String>) -> impl FnOnce(mysql::Error) -> Error {
    let what = what.into();
    move |e| Error::Remote {
        what,
        detail: e.to_string().replace('\n', " "),
    }
}

fn classify(e: mysql::Error) -> Error {
    let detail = e.to_string().replace('\n', " ");
    match &e {
        mysql::Error::MySqlError(m) if ACCESS_DENIED.contains(&m.code) => Error::Auth { detail },
        mysql::Error::MySqlError(m) if m.code == BAD_DB => Error::NoDatabase { detail },
        mysql::Error::TlsError(_) | mysql::Error::DriverError(DriverError::TlsNotSupported) => {
            Error::Tls { detail }
        }
        _ => Error::Connect { detail },
    }
}

impl My {
    pub(super) fn connect(cfg: &PushConfig) -> Result<My, Error> {
        let base = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .user(Some(cfg.user.clone()))
            .pass(cfg.password.as_ref().map(|p| p.expose().to_string()))
            .db_name(Some(cfg.database.clone()))
            // Keep to the configured TCP address: a switch to the local socket would
            // also bypass TLS.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(15)));
        let unverified = SslOpts::default()
            .with_danger_accept_invalid_certs(true)
            .with_danger_skip_domain_validation(true);
        let conn = match cfg.tls {
            Tls::Disable => Conn::new(base),
            Tls::Require => Conn::new(base.ssl_opts(unverified)),
            Tls::VerifyFull => {
                let ssl = SslOpts::default()
                    .with_root_cert_path(cfg.ca_file.clone().map(std::borrow::Cow::Owned));
                Conn::new(base.ssl_opts(ssl))
            }
            Tls::Prefer => match Conn::new(base.clone().ssl_opts(unverified)) {
                // The one typed answer that means "no TLS here": try again in plain.
                Err(mysql::Error::DriverError(DriverError::TlsNotSupported)) => Conn::new(base),
                other => other,
            },
        }
        .map_err(classify)?;
        let mut my = My {
            conn,
            sql: String::new(),
        };
        my.conn
            .query_drop(
                "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')",
            )
            .map_err(remote("set the session's SQL mode"))?;
        Ok(my)
    }
}

/// Appends one value as an SQL literal (under `NO_BACKSLASH_ESCAPES`).
fn literal(out: &mut String, v: &Value) {
    use std::fmt::Write as _;
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        // `{:e}` is the shortest text that reads back to the same double, and the exponent
        // makes MySQL read it as a DOUBLE, not a DECIMAL. MySQL has no NaN or infinity;
        // SQLite turns NaN into NULL, and no API value is infinite.
        Value::Real(x) if x.is_finite() => {
            let _ = write!(out, "{x:e}");
        }
        Value::Real(_) => out.push_str("NULL"),
        Value::Text(t) => {
            out.push('\'');
            for ch in t.chars() {
                if ch == '\'' {
                    out.push('\'');
                }
                out.push(ch);
            }
            out.push('\'');
        }
    }
}

impl Remote for My {
    fn migrate(&mut self) -> Result<(), Error> {
        let c = &mut self.conn;
        // One migrator at a time per server (MySQL has no transactional DDL).
        c.query_drop("SELECT GET_LOCK('seh_push_migrate', 60)")
            .map_err(remote("lock the remote schema"))?;
        let result = (|| {
            c.query_drop("CREATE TABLE IF NOT EXISTS seh_push_schema (version INT NOT NULL)")
                .map_err(remote("read the remote schema version"))?;
            let found: Option<i64> = c
                .query_first(
                    "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM seh_push_schema",
                )
                .map_err(remote("read the remote schema version"))?;
            let found = found.unwrap_or(0);
            if found > REMOTE_VERSION {
                return Err(Error::TooNew {
                    found,
                    known: REMOTE_VERSION,
                });
            }
            for (i, m) in MYSQL_MIGRATIONS.iter().enumerate().skip(found as usize) {
                for stmt in statements(m.up) {
                    c.query_drop(&stmt)
                        .map_err(remote(format!("apply remote migration {}", m.name)))?;
                }
                c.query_drop("DELETE FROM seh_push_schema")
                    .map_err(remote("record the remote schema version"))?;
                c.exec_drop(
                    "INSERT INTO seh_push_schema (version) VALUES (?)",
                    (i as i64 + 1,),
                )
                .map_err(remote("record the remote schema version"))?;
                log::info!("applied remote migration {}", m.name);
            }
            Ok(())
        })();
        let _ = c.query_drop("SELECT RELEASE_LOCK('seh_push_migrate')");
        result
    }

    fn cursor(&mut self, source: &str, table: &Table) -> Result<i64, Error> {
        let seq: Option<i64> = self
            .conn
            .exec_first(
                "SELECT last_change_seq FROM seh_push_cursor \
                 WHERE source_id = ? AND table_name = ?",
                (source, table.name),
            )
            .map_err(remote("read the push cursor"))?;
        Ok(seq.unwrap_or(0))
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.conn
            .query_drop("START TRANSACTION")
            .map_err(remote("begin a transaction"))
    }

    fn write(&mut self, table: &'static Table, chunk: &Chunk<'_>) -> Result<(), Error> {
        let ts_index = table.key.iter().position(|c| c.name == "ts_utc");
        let cols: Vec<&str> = feed_columns(table).iter().map(|c| c.name).collect();
        let mut names = cols.join(", ");
        if ts_index.is_some() {
            names.push_str(", ts");
        }
        let head = format!("INSERT INTO {} ({names}) VALUES ", table.name);
        let set: Vec<String> = update_columns(table)
            .iter()
            .map(|&(c, null_rule)| {
                if null_rule {
                    format!("{c} = COALESCE(VALUES({c}), {c})")
                } else {
                    format!("{c} = VALUES({c})")
                }
            })
            .collect();
        let tail = format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "));
        let rows: Vec<&[Value]> = chunk.rows().collect();
        let mut sql = std::mem::take(&mut self.sql);
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            sql.clear();
            sql.push_str(&head);
            for (r, row) in part.iter().enumerate() {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    literal(&mut sql, v);
                }
                if let Some(i) = ts_index {
                    sql.push_str(", STR_TO_DATE(");
                    literal(&mut sql, &row[i]);
                    sql.push_str(", '%Y-%m-%dT%H:%i:%sZ')");
                }
                sql.push(')');
            }
            sql.push_str(&tail);
            self.conn
                .query_drop(&sql)
                .map_err(remote(format!("upsert rows into {}", table.name)))?;
        }
        self.sql = sql;
        Ok(())
    }

    fn commit(&mut self, source: &str, table: &Table, seq: i64) -> Result<(), Error> {
        self.conn
            .exec_drop(
                "INSERT INTO seh_push_cursor (source_id, table_name, last_change_seq) \
                 VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \
                 last_change_seq = GREATEST(last_change_seq, VALUES(last_change_seq)), \
                 pushed_at = CURRENT_TIMESTAMP",
                (source, table.name, seq),
            )
            .map_err(remote("advance the push cursor"))?;
        self.conn
            .query_drop("COMMIT")
            .map_err(remote("commit pushed rows"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_quote_and_keep_doubles_exact() {
        let mut s = String::new();
        for v in [
            Value::Null,
            Value::Integer(-7),
            Value::Real(0.1),
            Value::Real(1e300),
            Value::Real(f64::INFINITY),
            Value::Text("it's a \\ path".into()),
        ] {
            literal(&mut s, &v);
            s.push('|');
        }
        assert_eq!(s, "NULL|-7|1e-1|1e300|NULL|'it''s a \\ path'|");
    }
}
