//! Harvest cursors (`seh_sync_state`): per site, family and resolution, the contiguous
//! range fully fetched, the last success and the last error.
//!
//! The store only keeps these rows; deciding what to fetch next is `harvest`'s job. The
//! cursor is written in the same transaction as the rows it covers, so it can never claim
//! data that did not commit.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{fmt_ts, parse_ts, Context, Error, Store, Tx};
use crate::model::{Resolution, SiteId};

/// `site_id` of fleet-level families (fleet alerts, the site list).
pub const FLEET_SITE_ID: SiteId = 0;

/// One row of `seh_sync_state`.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncState {
    /// [`FLEET_SITE_ID`] for fleet-level families.
    pub site_id: SiteId,
    /// Harvest family name (`energy`, `inverter_telemetry`, `devices`, ...).
    pub family: String,
    /// `None` for families without a resolution (stored as `''`).
    pub resolution: Option<Resolution>,
    /// The contiguous range of instants fully fetched, if any.
    pub covered_from: Option<DateTime<Utc>>,
    pub covered_to: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Rows inserted or changed by the last successful run.
    pub rows_last_run: Option<i64>,
    /// Family-specific JSON (for example a recorded tier refusal).
    pub extra: Option<String>,
}

impl SyncState {
    /// A state that has seen nothing yet.
    pub fn new(site_id: SiteId, family: &str, resolution: Option<Resolution>) -> SyncState {
        SyncState {
            site_id,
            family: family.to_owned(),
            resolution,
            covered_from: None,
            covered_to: None,
            last_success: None,
            last_error: None,
            last_error_at: None,
            rows_last_run: None,
            extra: None,
        }
    }
}

fn resolution_text(r: Option<Resolution>) -> &'static str {
    r.map_or("", Resolution::as_str)
}

fn ts_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(fmt_ts)
}

const SELECT: &str = "SELECT site_id, family, resolution, covered_from, covered_to, \
     last_success, last_error, last_error_at, rows_last_run, extra FROM seh_sync_state";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncState> {
    // Instants are only ever written by `fmt_ts`; anything else reads as a conversion
    // failure rather than silently becoming "never".
    let ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        match r.get::<_, Option<String>>(i)? {
            None => Ok(None),
            Some(s) => parse_ts(&s).map(Some).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Text,
                    "not an instant".into(),
                )
            }),
        }
    };
    let resolution: String = r.get(2)?;
    Ok(SyncState {
        site_id: r.get(0)?,
        family: r.get(1)?,
        resolution: Resolution::parse(&resolution),
        covered_from: ts(3)?,
        covered_to: ts(4)?,
        last_success: ts(5)?,
        last_error: r.get(6)?,
        last_error_at: ts(7)?,
        rows_last_run: r.get(8)?,
        extra: r.get(9)?,
    })
}

fn get(
    conn: &Connection,
    site_id: SiteId,
    family: &str,
    resolution: Option<Resolution>,
) -> Result<Option<SyncState>, Error> {
    let query = "read sync state";
    conn.prepare_cached(&format!(
        "{SELECT} WHERE site_id = ?1 AND family = ?2 AND resolution = ?3"
    ))
    .ctx(query)?
    .query_row(
        params![site_id, family, resolution_text(resolution)],
        from_row,
    )
    .optional()
    .ctx(query)
}

impl Store {
    /// Every cursor, ordered by site, family and resolution.
    pub fn sync_states(&self) -> Result<Vec<SyncState>, Error> {
        let query = "read sync states";
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT} ORDER BY site_id, family, resolution"))
            .ctx(query)?;
        let rows = stmt.query_map([], from_row).ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// One cursor, if it exists.
    pub fn get_sync_state(
        &self,
        site_id: SiteId,
        family: &str,
        resolution: Option<Resolution>,
    ) -> Result<Option<SyncState>, Error> {
        get(&self.conn, site_id, family, resolution)
    }
}

impl Tx<'_> {
    /// One cursor as seen inside this transaction.
    pub fn get_sync_state(
        &self,
        site_id: SiteId,
        family: &str,
        resolution: Option<Resolution>,
    ) -> Result<Option<SyncState>, Error> {
        get(&self.tx, site_id, family, resolution)
    }

    /// Writes a cursor, replacing every field of the stored one.
    pub fn set_sync_state(&mut self, s: &SyncState) -> Result<(), Error> {
        let query = "write sync state";
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO seh_sync_state (site_id, family, resolution, \
                 covered_from, covered_to, last_success, last_error, last_error_at, \
                 rows_last_run, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .ctx(query)?
            .execute(params![
                s.site_id,
                s.family,
                resolution_text(s.resolution),
                ts_text(s.covered_from),
                ts_text(s.covered_to),
                ts_text(s.last_success),
                s.last_error,
                ts_text(s.last_error_at),
                s.rows_last_run,
                s.extra,
            ])
            .ctx(query)?;
        Ok(())
    }

    /// Records a failure on a cursor (creating it if needed) without touching its range or
    /// last success. `message` is stored as given: it must not contain secrets.
    pub fn record_error(
        &mut self,
        site_id: SiteId,
        family: &str,
        resolution: Option<Resolution>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let query = "record sync error";
        self.tx
            .prepare_cached(
                "INSERT INTO seh_sync_state (site_id, family, resolution, last_error, \
                 last_error_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (site_id, family, resolution) DO UPDATE SET \
                 last_error = excluded.last_error, last_error_at = excluded.last_error_at",
            )
            .ctx(query)?
            .execute(params![
                site_id,
                family,
                resolution_text(resolution),
                message,
                fmt_ts(&at),
            ])
            .ctx(query)?;
        Ok(())
    }
}
