//! The PostgreSQL pusher (feature `postgres`): the `postgres` crate (blocking), TLS through
//! rustls with ring. A chunk goes in with `COPY ... FROM STDIN` (text format) into a
//! temporary staging table, then one `INSERT ... SELECT ... ON CONFLICT DO UPDATE` moves it
//! into the data table, computing the native `ts` from the text key.

use super::{update_columns, Error, PushConfig, Remote, Tls, POSTGRES_MIGRATIONS, REMOTE_VERSION};
use crate::store::catalogue::Table;
use crate::store::{feed_columns, Chunk, Value};
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Pg {
    client: Client,
    schema: String,
    /// Tables whose staging table exists on this connection.
    staged: HashSet<&'static str>,
    line: String,
}

/// `"name"`, with quotes doubled.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn remote(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> Error {
    let what = what.into();
    move |e| Error::Remote {
        what,
        detail: one_line(&e),
    }
}

fn one_line(e: &postgres::Error) -> String {
    // The server's message is the useful part; the crate's Display adds only "db error:".
    let text = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    text.replace('\n', " ")
}

/// Sorts a connection failure by what the caller must fix.
fn classify(e: postgres::Error) -> Error {
    let detail = one_line(&e);
    if let Some(code) = e.code() {
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Error::Auth { detail };
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return Error::NoDatabase { detail };
        }
    }
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        // io::Error hides its inner error from `source()`: look inside it too.
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn std::error::Error + 'static));
        if s.is::<rustls::Error>() || inner.is_some_and(|e| e.is::<rustls::Error>()) {
            return Error::Tls { detail };
        }
        source = s.source();
    }
    Error::Connect { detail }
}

impl Pg {
    pub(super) fn connect(cfg: &PushConfig) -> Result<Pg, Error> {
        let mut c = postgres::Config::new();
        c.host(&cfg.host)
            .port(cfg.port)
            .user(&cfg.user)
            .dbname(&cfg.database)
            .application_name("seh")
            .connect_timeout(Duration::from_secs(15));
        if let Some(p) = &cfg.password {
            c.password(p.expose());
        }
        let client = match cfg.tls {
            Tls::Disable => c.ssl_mode(SslMode::Disable).connect(NoTls),
            Tls::Prefer => c.ssl_mode(SslMode::Prefer).connect(tls::unverified()),
            Tls::Require => c.ssl_mode(SslMode::Require).connect(tls::unverified()),
            Tls::VerifyFull => c
                .ssl_mode(SslMode::Require)
                .connect(tls::verified(cfg.ca_file.as_deref())?),
        }
        .map_err(classify)?;
        Ok(Pg {
            client,
            schema: cfg.schema.clone(),
            staged: HashSet::new(),
            line: String::new(),
        })
    }

    fn stage(&mut self, table: &'static Table) -> Result<String, Error> {
        let stage = format!("seh_stage_{}", table.name);
        if self.staged.insert(table.name) {
            let cols: Vec<&str> = feed_columns(table).iter().map(|c| c.name).collect();
            self.client
                .batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {} FROM {} WITH NO DATA",
                    cols.join(", "),
                    table.name
                ))
                .map_err(remote(format!("create a staging table for {}", table.name)))?;
        }
        Ok(stage)
    }
}

/// Appends one value in COPY's text format.
fn copy_value(out: &mut String, v: &Value) {
    use std::fmt::Write as _;
    match v {
        Value::Null => out.push_str("\\N"),
        Value::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Real(x) if x.is_nan() => out.push_str("NaN"),
        Value::Real(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        // Display of f64 is the shortest text that reads back to the same double.
        Value::Real(x) => {
            let _ = write!(out, "{x}");
        }
        Value::Text(s) => {
            for ch in s.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

impl Remote for Pg {
    fn migrate(&mut self) -> Result<(), Error> {
        let schema = quote(&self.schema);
        // synchronous_commit off: a server crash may lose the last commits, but rows and
        // their cursor commit together, so the next push simply sends them again; it saves
        // a WAL flush per chunk.
        self.client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}; \
                 SET synchronous_commit TO off"
            ))
            .map_err(remote(format!("create schema {}", self.schema)))?;
        let mut tx = self
            .client
            .transaction()
            .map_err(remote("begin the migration"))?;
        // One migrator at a time per database (the key is arbitrary, fixed).
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7341900013); \
             CREATE TABLE IF NOT EXISTS seh_push_schema (version INTEGER NOT NULL)",
        )
        .map_err(remote("read the remote schema version"))?;
        let found: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM seh_push_schema",
                &[],
            )
            .map_err(remote("read the remote schema version"))?
            .get(0);
        if found > REMOTE_VERSION {
            return Err(Error::TooNew {
                found,
                known: REMOTE_VERSION,
            });
        }
        for (i, m) in POSTGRES_MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(m.up)
                .map_err(remote(format!("apply remote migration {}", m.name)))?;
            tx.execute("DELETE FROM seh_push_schema", &[])
                .map_err(remote("record the remote schema version"))?;
            tx.execute(
                "INSERT INTO seh_push_schema (version) VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .map_err(remote("record the remote schema version"))?;
            log::info!(
                "applied remote migration {} in schema {}",
                m.name,
                self.schema
            );
        }
        tx.commit().map_err(remote("commit the migration"))
    }

    fn cursor(&mut self, source: &str, table: &Table) -> Result<i64, Error> {
        let row = self
            .client
            .query_opt(
                "SELECT last_change_seq FROM seh_push_cursor \
                 WHERE source_id = $1 AND table_name = $2",
                &[&source, &table.name],
            )
            .map_err(remote("read the push cursor"))?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.client
            .batch_execute("BEGIN")
            .map_err(remote("begin a transaction"))
    }

    fn write(&mut self, table: &'static Table, chunk: &Chunk<'_>) -> Result<(), Error> {
        let stage = self.stage(table)?;
        let cols: Vec<&str> = feed_columns(table).iter().map(|c| c.name).collect();
        let list = cols.join(", ");
        let mut line = std::mem::take(&mut self.line);
        let what = || format!("copy rows into {}", table.name);
        let mut w = self
            .client
            .copy_in(&format!("COPY {stage} ({list}) FROM STDIN"))
            .map_err(remote(what()))?;
        for row in chunk.rows() {
            line.clear();
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                copy_value(&mut line, v);
            }
            line.push('\n');
            w.write_all(line.as_bytes()).map_err(|e| Error::Remote {
                what: what(),
                detail: e.to_string(),
            })?;
        }
        w.finish().map_err(remote(what()))?;
        self.line = line;
        let key: Vec<&str> = table.key.iter().map(|c| c.name).collect();
        let set: Vec<String> = update_columns(table)
            .iter()
            .map(|&(c, null_rule)| {
                if null_rule {
                    format!("{c} = COALESCE(EXCLUDED.{c}, {t}.{c})", t = table.name)
                } else {
                    format!("{c} = EXCLUDED.{c}")
                }
            })
            .collect();
        let (ts_col, ts_val) = if table.time_series {
            (", ts", ", ts_utc::timestamptz")
        } else {
            ("", "")
        };
        let sql = format!(
            "INSERT INTO {t} ({list}{ts_col}) SELECT {list}{ts_val} FROM {stage} \
             ON CONFLICT ({key}) DO UPDATE SET {set}; TRUNCATE {stage}",
            t = table.name,
            key = key.join(", "),
            set = set.join(", "),
        );
        self.client
            .batch_execute(&sql)
            .map_err(remote(format!("upsert rows into {}", table.name)))
    }

    fn commit(&mut self, source: &str, table: &Table, seq: i64) -> Result<(), Error> {
        self.client
            .execute(
                "INSERT INTO seh_push_cursor (source_id, table_name, last_change_seq) \
                 VALUES ($1, $2, $3) ON CONFLICT (source_id, table_name) DO UPDATE SET \
                 last_change_seq = GREATEST(seh_push_cursor.last_change_seq, \
                 EXCLUDED.last_change_seq), pushed_at = now()",
                &[&source, &table.name, &seq],
            )
            .map_err(remote("advance the push cursor"))?;
        self.client
            .batch_execute("COMMIT")
            .map_err(remote("commit pushed rows"))
    }
}

/// rustls client configurations for the two TLS policies.
mod tls {
    use super::{Arc, Error};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio_postgres_rustls::MakeRustlsConnect;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(ring::default_provider())
    }

    /// `require`/`prefer`: encrypted, the certificate not checked (libpq's meaning; the
    /// server's signature over the handshake is still verified).
    pub(super) fn unverified() -> MakeRustlsConnect {
        let provider = provider();
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        MakeRustlsConnect::new(config)
    }

    /// `verify-full`: the chain against `ca_file` (else the public roots) and the host name.
    pub(super) fn verified(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect, Error> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let ca_err = |detail: String| Error::CaFile { detail };
                let file = std::fs::File::open(path)
                    .map_err(|e| ca_err(format!("cannot read {}: {e}", path.display())))?;
                let mut reader = std::io::BufReader::new(file);
                for cert in rustls_pemfile::certs(&mut reader) {
                    let cert =
                        cert.map_err(|e| ca_err(format!("{} is not PEM: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| {
                        ca_err(format!("{} holds a bad certificate: {e}", path.display()))
                    })?;
                }
                if roots.is_empty() {
                    return Err(ca_err(format!("{} holds no certificate", path.display())));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    #[derive(Debug)]
    struct NoVerify(Arc<CryptoProvider>);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
