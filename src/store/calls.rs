//! The API call ledger (`seh_api_calls`) and the run log (`seh_runs`).
//!
//! Calls are written outside the data transactions, each in its own autocommit statement:
//! a credit spent stays counted even when the rows from that response roll back. The
//! ledger holds credential *labels* (`key:…1a2b`, `oauth:site123`), never a key or token;
//! building the label is the caller's job.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{fmt_ts, parse_ts, Context, Error, Store};

/// One HTTP request made (or attempted) against the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    pub at: DateTime<Utc>,
    /// A non-secret label for the credential used.
    pub credential: String,
    pub method: String,
    pub path: String,
    /// HTTP status; 0 when no HTTP response arrived.
    pub status: u16,
    /// Credits the call is believed to have cost.
    pub credits: i64,
    pub duration_ms: i64,
    /// Short error description, without secrets.
    pub error: Option<String>,
}

/// What a finished sync reports into `seh_runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub finished_at: DateTime<Utc>,
    pub exit_code: i32,
    pub calls: i64,
    pub credits: i64,
    pub rows: i64,
    pub summary: String,
}

/// One row of `seh_runs`; the summary fields are `None` while the run is going (or after
/// it died without finishing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub run_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished: Option<RunSummary>,
}

impl Store {
    /// Appends a call to the ledger; returns its id.
    pub fn record_call(&mut self, call: &ApiCall) -> Result<i64, Error> {
        let query = "record api call";
        self.conn
            .prepare_cached(
                "INSERT INTO seh_api_calls \
                 (at, credential, method, path, status, credits, duration_ms, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .ctx(query)?
            .execute(params![
                fmt_ts(&call.at),
                call.credential,
                call.method,
                call.path,
                call.status,
                call.credits,
                call.duration_ms,
                call.error,
            ])
            .ctx(query)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Number of calls and credits spent at or after `since`.
    pub fn calls_since(&self, since: DateTime<Utc>) -> Result<(i64, i64), Error> {
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(credits), 0) FROM seh_api_calls WHERE at >= ?1",
                [fmt_ts(&since)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("sum api calls")
    }

    /// Records on the latest successful call to `path` that its body could not be parsed
    /// (the ledger row was written when it arrived, before parsing).
    pub fn note_call_unreadable(&mut self, path: &str, why: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE seh_api_calls SET error = ?2 WHERE id = (SELECT MAX(id) FROM \
                 seh_api_calls WHERE path = ?1 AND status BETWEEN 200 AND 299)",
                params![path, format!("unreadable: {why}")],
            )
            .ctx("note unreadable call")?;
        Ok(())
    }

    /// When the latest call of the ledger was made (server time), if any.
    pub fn last_call_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let at: Option<String> = self
            .conn
            .query_row("SELECT MAX(at) FROM seh_api_calls", [], |r| r.get(0))
            .ctx("read the last api call")?;
        Ok(at.as_deref().and_then(super::parse_ts))
    }

    /// Opens a run; returns its id for [`Store::finish_run`].
    pub fn begin_run(&mut self, started_at: DateTime<Utc>) -> Result<i64, Error> {
        self.conn
            .execute(
                "INSERT INTO seh_runs (started_at) VALUES (?1)",
                [fmt_ts(&started_at)],
            )
            .ctx("begin run")?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Moves a run's start: the estimate it began with may have been corrected by the
    /// server's clock since (see [`crate::clock`]).
    pub fn restamp_run(&mut self, run_id: i64, started_at: DateTime<Utc>) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE seh_runs SET started_at = ?2 WHERE run_id = ?1",
                params![run_id, fmt_ts(&started_at)],
            )
            .ctx("restamp run")?;
        Ok(())
    }

    /// Closes a run with its outcome.
    pub fn finish_run(&mut self, run_id: i64, s: &RunSummary) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE seh_runs SET finished_at = ?2, exit_code = ?3, calls = ?4, \
                 credits = ?5, rows = ?6, summary = ?7 WHERE run_id = ?1",
                params![
                    run_id,
                    fmt_ts(&s.finished_at),
                    s.exit_code,
                    s.calls,
                    s.credits,
                    s.rows,
                    s.summary,
                ],
            )
            .ctx("finish run")?;
        Ok(())
    }

    /// The most recent run, finished or not.
    pub fn last_run(&self) -> Result<Option<Run>, Error> {
        let query = "read last run";
        let row = self
            .conn
            .query_row(
                "SELECT run_id, started_at, finished_at, exit_code, calls, credits, rows, \
                 summary FROM seh_runs ORDER BY run_id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<i32>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .optional()
            .ctx(query)?;
        let Some((run_id, started, finished, exit_code, calls, credits, rows, summary)) = row
        else {
            return Ok(None);
        };
        let bad = || Error::Io {
            what: query,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "run time is not an instant",
            ),
        };
        let started_at = parse_ts(&started).ok_or_else(bad)?;
        let finished = match finished {
            None => None,
            Some(f) => Some(RunSummary {
                finished_at: parse_ts(&f).ok_or_else(bad)?,
                exit_code: exit_code.unwrap_or_default(),
                calls: calls.unwrap_or_default(),
                credits: credits.unwrap_or_default(),
                rows: rows.unwrap_or_default(),
                summary: summary.unwrap_or_default(),
            }),
        };
        Ok(Some(Run {
            run_id,
            started_at,
            finished,
        }))
    }
}
