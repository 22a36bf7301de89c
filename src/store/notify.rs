//! The notifier's memory (`seh_notify_events`, `seh_notify_messages`): which events are
//! open and what the owner has been told about them, and the messages sent, for the
//! hourly cap. The rules that read and write it live in `crate::notify::state`; this file
//! only moves rows. It also answers the few questions the notifier asks of the data
//! (open SolarEdge alerts, sites' last communication), so no SQL leaves the store.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{fmt_ts, parse_ts, Context, Error, Store};
use crate::model::SiteId;

/// One row of `seh_notify_events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyRow {
    pub key: String,
    pub subject: String,
    pub body: String,
    pub opened_at: DateTime<Utc>,
    /// When the last message about it (first or reminder) reached every channel.
    pub notified_at: Option<DateTime<Utc>>,
    pub reminders: i64,
    /// Set when the event is gone and its "resolved" message is still to be delivered.
    pub cleared_at: Option<DateTime<Utc>>,
}

/// One row of `seh_notify_messages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyMessage {
    pub sent_at: DateTime<Utc>,
    /// Every channel accepted it.
    pub delivered: bool,
    /// The first channel's failure, when not delivered.
    pub error: Option<String>,
}

/// An open SolarEdge alert as the notifier needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAlert {
    pub alert_id: i64,
    pub site_id: SiteId,
    pub site_name: Option<String>,
    pub alert_type: Option<String>,
    pub impact: Option<i64>,
    pub first_trigger: Option<String>,
    pub component: Option<String>,
}

/// A site's name, the `lastUpdateTime` its details last reported (site-local text with
/// offset) and when those details were read (they are read about daily, so the silence
/// that counts is the one at the time of reading).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteContact {
    pub site_id: SiteId,
    pub name: Option<String>,
    pub last_update_time: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
}

/// How a site's production data stands: the newest quarter-hour with energy above zero,
/// the end of the newest quarter-hour stored at all (the API answers null for those it
/// has no value for, so this is how far seh has asked), and how many quarter-hours had production the day
/// before over the same hours of the day (the sun was up then; a site that sent nothing in
/// those hours is silent, not in the dark).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Production {
    pub site_id: SiteId,
    pub last: DateTime<Utc>,
    pub covered_to: DateTime<Utc>,
    /// Quarter-hours with production in `[last - 24 h, min(covered_to - 24 h, last))`.
    pub sunny_quarters_since: i64,
}

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(parse_ts)
}

impl Store {
    /// Every row of `seh_notify_events`, by key.
    pub fn notify_rows(&self) -> Result<Vec<NotifyRow>, Error> {
        let query = "read notification state";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT event_key, subject, body, opened_at, notified_at, reminders, cleared_at \
                 FROM seh_notify_events ORDER BY event_key",
            )
            .ctx(query)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(NotifyRow {
                    key: r.get(0)?,
                    subject: r.get(1)?,
                    body: r.get(2)?,
                    opened_at: ts(r.get(3)?).unwrap_or_default(),
                    notified_at: ts(r.get(4)?),
                    reminders: r.get(5)?,
                    cleared_at: ts(r.get(6)?),
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// Replaces the notification state with `rows` in one transaction, so a crash leaves
    /// either the old state or the new one.
    pub fn set_notify_rows(&mut self, rows: &[NotifyRow]) -> Result<(), Error> {
        let query = "write notification state";
        let tx = self.conn.transaction().ctx(query)?;
        tx.execute("DELETE FROM seh_notify_events", []).ctx(query)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO seh_notify_events (event_key, subject, body, opened_at, \
                     notified_at, reminders, cleared_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .ctx(query)?;
            for r in rows {
                stmt.execute(params![
                    r.key,
                    r.subject,
                    r.body,
                    fmt_ts(&r.opened_at),
                    r.notified_at.as_ref().map(fmt_ts),
                    r.reminders,
                    r.cleared_at.as_ref().map(fmt_ts),
                ])
                .ctx(query)?;
            }
        }
        tx.commit().ctx(query)
    }

    /// Records a message sent (or tried): `delivered` when every channel accepted it.
    pub fn record_notify_message(
        &mut self,
        at: DateTime<Utc>,
        events: usize,
        delivered: bool,
        error: Option<&str>,
    ) -> Result<(), Error> {
        let query = "record notification";
        self.conn
            .execute(
                "INSERT INTO seh_notify_messages (sent_at, events, delivered, error) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![fmt_ts(&at), events as i64, delivered, error],
            )
            .ctx(query)?;
        // The log only serves the cap and `status`: a week of it is plenty.
        let old = fmt_ts(&(at - chrono::Duration::days(7)));
        self.conn
            .execute("DELETE FROM seh_notify_messages WHERE sent_at < ?1", [old])
            .ctx(query)?;
        Ok(())
    }

    /// Messages tried since `since` (delivered or not): what the hourly cap counts.
    pub fn notify_messages_since(&self, since: DateTime<Utc>) -> Result<u32, Error> {
        self.conn
            .query_row(
                "SELECT count(*) FROM seh_notify_messages WHERE sent_at >= ?1",
                [fmt_ts(&since)],
                |r| r.get(0),
            )
            .ctx("count notifications")
    }

    /// The last message tried.
    pub fn last_notify_message(&self) -> Result<Option<NotifyMessage>, Error> {
        let query = "read last notification";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sent_at, delivered, error FROM seh_notify_messages \
                 ORDER BY sent_at DESC, rowid DESC LIMIT 1",
            )
            .ctx(query)?;
        let mut rows = stmt
            .query_map([], |r| {
                Ok(NotifyMessage {
                    sent_at: ts(r.get(0)?).unwrap_or_default(),
                    delivered: r.get(1)?,
                    error: r.get(2)?,
                })
            })
            .ctx(query)?;
        rows.next().transpose().ctx(query)
    }

    /// SolarEdge alerts whose status is not CLOSED, oldest first.
    pub fn open_alerts(&self) -> Result<Vec<OpenAlert>, Error> {
        let query = "read open alerts";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.alert_id, a.site_id, s.name, a.type, a.impact, a.first_trigger, \
                 a.component_name FROM seh_alerts a LEFT JOIN seh_sites s USING (site_id) \
                 WHERE upper(coalesce(a.status, 'OPEN')) <> 'CLOSED' \
                 ORDER BY a.first_trigger, a.alert_id",
            )
            .ctx(query)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OpenAlert {
                    alert_id: r.get(0)?,
                    site_id: r.get(1)?,
                    site_name: r.get(2)?,
                    alert_type: r.get(3)?,
                    impact: r.get(4)?,
                    first_trigger: r.get(5)?,
                    component: r.get(6)?,
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// Every active site with its name and last reported communication.
    pub fn site_contacts(&self) -> Result<Vec<SiteContact>, Error> {
        let query = "read site contacts";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.site_id, s.name, s.last_update_time, d.last_success \
                 FROM seh_sites s LEFT JOIN seh_sync_state d \
                 ON d.site_id = s.site_id AND d.family = 'details' \
                 WHERE upper(coalesce(s.activation_status, 'ACTIVE')) = 'ACTIVE' \
                 ORDER BY s.site_id",
            )
            .ctx(query)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SiteContact {
                    site_id: r.get(0)?,
                    name: r.get(1)?,
                    last_update_time: r.get(2)?,
                    read_at: ts(r.get(3)?),
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// [`Production`] of every active site with quarter-hour energy.
    pub fn production(&self) -> Result<Vec<Production>, Error> {
        let query = "read production";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.site_id, (SELECT max(e.ts_utc) FROM seh_energy e \
                 WHERE e.site_id = s.site_id AND e.resolution = 'QUARTER_HOUR'), \
                 (SELECT max(e.ts_utc) FROM seh_energy e \
                 WHERE e.site_id = s.site_id AND e.resolution = 'QUARTER_HOUR' \
                 AND e.energy_wh > 0) FROM seh_sites s \
                 WHERE upper(coalesce(s.activation_status, 'ACTIVE')) = 'ACTIVE' \
                 ORDER BY s.site_id",
            )
            .ctx(query)?;
        let rows: Vec<(SiteId, Option<String>, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx(query)?
            .collect::<rusqlite::Result<_>>()
            .ctx(query)?;
        let mut out = Vec::new();
        for (site_id, newest, last) in rows {
            let (Some(newest), Some(last)) = (ts(newest), ts(last)) else {
                continue;
            };
            // The API answers every quarter-hour asked for, null while nothing came.
            let covered_to = newest + chrono::Duration::minutes(15);
            let day = chrono::Duration::hours(24);
            let to = (covered_to - day).min(last);
            let sunny_quarters_since = self
                .conn
                .query_row(
                    "SELECT count(*) FROM seh_energy WHERE site_id = ?1 \
                     AND resolution = 'QUARTER_HOUR' AND energy_wh > 0 \
                     AND ts_utc >= ?2 AND ts_utc < ?3",
                    params![site_id, fmt_ts(&(last - day)), fmt_ts(&to)],
                    |r| r.get(0),
                )
                .ctx(query)?;
            out.push(Production {
                site_id,
                last,
                covered_to,
                sunny_quarters_since,
            });
        }
        Ok(out)
    }
}
