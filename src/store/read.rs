//! Reads the harvester and the commands need (site facts, device types, learned window
//! limits), and single-statement conveniences that wrap one [`super::Tx`] call in its own
//! transaction.

use super::{catalogue, Context, Error, Store, SyncState};
use crate::clock::Anchor;
use crate::model::{Resolution, SiteId};
use chrono::{DateTime, Utc};

/// The stored facts about a site that planning needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteRow {
    pub site_id: SiteId,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub installation_date: Option<String>,
    pub activation_status: Option<String>,
}

/// Family name under which learned window limits are kept (site 0, one row per resolution).
const WINDOW_FAMILY: &str = "window_limit";

/// Family name of the credit block recorded after a credits-exhausted 429 (site 0).
const BUDGET_FAMILY: &str = "budget";

/// Family name of the stored server clock offset (site 0).
const CLOCK_FAMILY: &str = "clock";

/// Family name of the site list's cursor (site 0), the harvest family `sites`.
const SITE_LIST_FAMILY: &str = "sites";

impl SyncState {
    /// Whether this row is the store's own bookkeeping (learned window limits, the credit
    /// block, the clock anchor) rather than the cursor of a harvest family.
    pub fn is_internal(&self) -> bool {
        matches!(
            self.family.as_str(),
            WINDOW_FAMILY | BUDGET_FAMILY | CLOCK_FAMILY
        )
    }

    /// The gaps recorded on a series cursor: bucket ranges the API left out, to be fetched
    /// again (kept in `extra` as `{"gaps": [[from, to], ...]}`).
    pub fn gaps(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .and_then(|v| v.get("gaps").cloned())
            .and_then(|g| serde_json::from_value::<Vec<(String, String)>>(g).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(a, b)| Some((super::parse_ts(&a)?, super::parse_ts(&b)?)))
            .collect()
    }

    /// Replaces the recorded gaps (none: `extra` is cleared).
    pub fn set_gaps(&mut self, gaps: &[(DateTime<Utc>, DateTime<Utc>)]) {
        self.extra = if gaps.is_empty() {
            None
        } else {
            let list: Vec<(String, String)> = gaps
                .iter()
                .map(|(a, b)| (super::fmt_ts(a), super::fmt_ts(b)))
                .collect();
            Some(serde_json::json!({ "gaps": list }).to_string())
        };
    }
}

/// The `extra` of the site list's cursor: the ids the listing held and a tag of the key
/// that listed them (never the key itself), read back by [`Store::fleet_listing`].
pub fn fleet_listing_extra(site_ids: &[SiteId], key_tag: &str) -> String {
    serde_json::json!({ "site_ids": site_ids, "key": key_tag }).to_string()
}

impl Store {
    /// Every stored site, by id.
    pub fn site_rows(&self) -> Result<Vec<SiteRow>, Error> {
        let query = "read sites";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT site_id, name, timezone, installation_date, activation_status \
                 FROM {} ORDER BY site_id",
                catalogue::SITES.name
            ))
            .ctx(query)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SiteRow {
                    site_id: r.get(0)?,
                    name: r.get(1)?,
                    timezone: r.get(2)?,
                    installation_date: r.get(3)?,
                    activation_status: r.get(4)?,
                })
            })
            .ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// The distinct device types currently in a site's inventory.
    pub fn device_types(&self, site_id: SiteId) -> Result<Vec<String>, Error> {
        let query = "read device types";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT DISTINCT device_type FROM {} \
                 WHERE site_id = ?1 AND removed_at IS NULL ORDER BY device_type",
                catalogue::DEVICES.name
            ))
            .ctx(query)?;
        let rows = stmt.query_map([site_id], |r| r.get(0)).ctx(query)?;
        rows.collect::<rusqlite::Result<_>>().ctx(query)
    }

    /// A window limit (seconds) learned from a 400 "span too long", if any.
    pub fn learned_window(&self, res: Resolution) -> Result<Option<i64>, Error> {
        let st = self.get_sync_state(super::FLEET_SITE_ID, WINDOW_FAMILY, Some(res))?;
        Ok(st
            .and_then(|s| s.extra)
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
            .and_then(|v| v.get("max_secs").and_then(serde_json::Value::as_i64)))
    }

    /// Remember that windows of `res` must not be longer than `secs`.
    pub fn set_learned_window(&mut self, res: Resolution, secs: i64) -> Result<(), Error> {
        let mut st = SyncState::new(super::FLEET_SITE_ID, WINDOW_FAMILY, Some(res));
        st.extra = Some(serde_json::json!({ "max_secs": secs }).to_string());
        st.last_success = Some(self.now());
        self.set_sync_state(&st)
    }

    /// The server's time and the local time at the same moment, as last seen.
    pub fn clock_anchor(&self) -> Result<Option<Anchor>, Error> {
        let st = self.get_sync_state(super::FLEET_SITE_ID, CLOCK_FAMILY, None)?;
        let v = st
            .and_then(|s| s.extra)
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok());
        let get = |k: &str| {
            v.as_ref()
                .and_then(|v| v.get(k))
                .and_then(|x| x.as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Ok(get("server")
            .zip(get("local"))
            .map(|(server, local)| Anchor { server, local }))
    }

    pub fn set_clock_anchor(&mut self, anchor: Anchor) -> Result<(), Error> {
        let mut st = SyncState::new(super::FLEET_SITE_ID, CLOCK_FAMILY, None);
        // Milliseconds: a sped-up test server would otherwise drift by whole seconds.
        let f = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        st.extra = Some(
            serde_json::json!({ "server": f(anchor.server), "local": f(anchor.local) }).to_string(),
        );
        st.last_success = Some(anchor.server);
        self.set_sync_state(&st)
    }

    /// Forgets a credit block: its renewal date passed on the server's clock, or SolarEdge
    /// answered again.
    pub fn clear_credits_block(&mut self) -> Result<(), Error> {
        let mut st = SyncState::new(super::FLEET_SITE_ID, BUDGET_FAMILY, None);
        st.last_success = Some(self.now());
        self.set_sync_state(&st)
    }

    /// Until when SolarEdge refused calls for exhausted credits, if it did this cycle.
    pub fn credits_blocked_until(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let st = self.get_sync_state(super::FLEET_SITE_ID, BUDGET_FAMILY, None)?;
        Ok(st
            .and_then(|s| s.extra)
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
            .and_then(|v| {
                v.get("blocked_until")
                    .and_then(|b| b.as_str().map(String::from))
            })
            .and_then(|b| super::parse_ts(&b)))
    }

    pub fn set_credits_blocked_until(&mut self, until: DateTime<Utc>) -> Result<(), Error> {
        let mut st = SyncState::new(super::FLEET_SITE_ID, BUDGET_FAMILY, None);
        st.extra = Some(serde_json::json!({ "blocked_until": super::fmt_ts(&until) }).to_string());
        st.last_error = Some("monthly API credits exhausted".into());
        st.last_error_at = Some(self.now());
        self.set_sync_state(&st)
    }

    /// The site ids of the last complete `/sites` listing by the key tagged `key_tag` (kept
    /// in the `extra` of the site list's cursor); `None` when none is recorded, or when
    /// another key made it: a new key may belong to another account.
    pub fn fleet_listing(&self, key_tag: &str) -> Result<Option<Vec<SiteId>>, Error> {
        let extra = self
            .get_sync_state(super::FLEET_SITE_ID, SITE_LIST_FAMILY, None)?
            .and_then(|s| s.extra);
        Ok(extra.and_then(|e| {
            let v: serde_json::Value = serde_json::from_str(&e).ok()?;
            if v.get("key")?.as_str()? != key_tag {
                return None;
            }
            (v.get("site_ids")?.as_array()?.iter())
                .map(serde_json::Value::as_i64)
                .collect()
        }))
    }

    /// The site ids of the last complete `/sites` listing, whichever key made it; for
    /// `status`, which shows what the harvester skips without consulting the key.
    pub fn last_listing(&self) -> Result<Option<Vec<SiteId>>, Error> {
        let extra = self
            .get_sync_state(super::FLEET_SITE_ID, SITE_LIST_FAMILY, None)?
            .and_then(|s| s.extra);
        Ok(extra.and_then(|e| {
            let v: serde_json::Value = serde_json::from_str(&e).ok()?;
            (v.get("site_ids")?.as_array()?.iter())
                .map(serde_json::Value::as_i64)
                .collect()
        }))
    }

    /// [`super::Tx::set_sync_state`] in its own transaction.
    pub fn set_sync_state(&mut self, s: &SyncState) -> Result<(), Error> {
        self.transaction(|tx| tx.set_sync_state(s))
    }

    /// [`super::Tx::record_error`] in its own transaction.
    pub fn record_error(
        &mut self,
        site_id: SiteId,
        family: &str,
        resolution: Option<Resolution>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.transaction(|tx| tx.record_error(site_id, family, resolution, message, at))
    }
}
