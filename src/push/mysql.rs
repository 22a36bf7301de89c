//! The MySQL/MariaDB pusher (feature `mysql`): the `mysql` crate (blocking), TLS through
//! rustls with ring. A chunk goes in as multi-row prepared `INSERT ... ON DUPLICATE KEY
//! UPDATE` statements of up to [`ROWS_PER_STATEMENT`] rows; `ts` is computed by the
//! server from the text key.

use super::{
    statements, update_columns, Error, PushConfig, Remote, Tls, MYSQL_MIGRATIONS, REMOTE_VERSION,
};
use crate::store::catalogue::Table;
use crate::store::{feed_columns, Chunk, Value};
use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, OptsBuilder, SslOpts};
use std::time::Duration;

/// Rows per INSERT statement: large enough to amortise the round trip, small enough to
/// stay far below the 65535 placeholders and `max_allowed_packet`.
const ROWS_PER_STATEMENT: usize = 500;

/// ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR.
const ACCESS_DENIED: [u16; 2] = [1045, 1044];
/// ER_BAD_DB_ERROR.
const BAD_DB: u16 = 1049;

pub(super) struct My {
    conn: Conn,
    params: Vec<mysql::Value>,
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
        Ok(My {
            conn,
            params: Vec::new(),
        })
    }

    fn insert_sql(table: &Table, rows: usize) -> String {
        let cols: Vec<&str> = feed_columns(table).iter().map(|c| c.name).collect();
        let mut one = vec!["?"; cols.len()].join(", ");
        let mut names = cols.join(", ");
        if table.time_series {
            one.push_str(", STR_TO_DATE(?, '%Y-%m-%dT%H:%i:%sZ')");
            names.push_str(", ts");
        }
        let tuple = format!("({one})");
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
        format!(
            "INSERT INTO {} ({names}) VALUES {} ON DUPLICATE KEY UPDATE {}",
            table.name,
            vec![tuple.as_str(); rows].join(", "),
            set.join(", ")
        )
    }
}

fn to_mysql(v: &Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Integer(n) => mysql::Value::Int(*n),
        Value::Real(x) => mysql::Value::Double(*x),
        Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
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
        let rows: Vec<&[Value]> = chunk.rows().collect();
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            self.params.clear();
            for row in part {
                self.params.extend(row.iter().map(to_mysql));
                if let Some(i) = ts_index {
                    self.params.push(to_mysql(&row[i]));
                }
            }
            let sql = My::insert_sql(table, part.len());
            let params = mysql::Params::Positional(std::mem::take(&mut self.params));
            self.conn
                .exec_drop(&sql, params)
                .map_err(remote(format!("upsert rows into {}", table.name)))?;
        }
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
