//! Entity writes: sites, the device inventory, alerts, daily overview, environmental
//! benefits and power-flow snapshots.
//!
//! All of them follow the null rule and the change_seq contract of `upsert_sql`. The one
//! write that is not a plain upsert is [`Tx::replace_devices`]: a device missing from a
//! new inventory is kept and stamped with `removed_at` rather than deleted, because a
//! deletion would be invisible to pushers following `change_seq` and would lose the
//! device's history (serial, firmware, dates).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{catalogue, fmt_ts, parse_ts, Context, Error, Tx};
use crate::model::{Alert, Device, EnvironmentalBenefits, Overview, PowerFlow, Site, SiteId};

impl Tx<'_> {
    /// Upserts sites, each with the JSON object it came from (`None` keeps the stored
    /// one); returns the number of rows inserted or changed.
    ///
    /// The site list carries fewer fields than site details; thanks to the null rule a
    /// list entry never erases what details filled in.
    pub fn upsert_sites<'s>(
        &mut self,
        sites: impl IntoIterator<Item = (&'s Site, Option<&'s str>)>,
    ) -> Result<usize, Error> {
        let seq = self.change_seq()?;
        let query = "upsert sites";
        let sql = catalogue::SITES.upsert_sql();
        let mut stmt = self.tx.prepare_cached(&sql).ctx(query)?;
        let mut changed = 0;
        for (site, raw_json) in sites {
            let loc = &site.location;
            changed += stmt
                .execute(params![
                    site.site_id,
                    site.name,
                    site.account_id,
                    site.peak_power_kw,
                    site.installation_date,
                    site.last_update_time,
                    site.activation_status,
                    site.note,
                    loc.address,
                    loc.city,
                    loc.state,
                    loc.zip,
                    loc.country,
                    loc.timezone,
                    raw_json,
                    self.now,
                    seq,
                ])
                .ctx(query)?;
        }
        Ok(changed)
    }

    /// Makes `devices` the inventory of `site_id`: upserts each device (keyed by
    /// [`Device::device_key`]), clears `removed_at` of devices that came back, and sets
    /// `removed_at` on stored devices absent from `devices`. Returns the number of rows
    /// inserted, changed or marked removed.
    ///
    /// `devices` must be the complete inventory (every device type); a partial list would
    /// mark the missing types as removed.
    pub fn replace_devices(&mut self, site_id: SiteId, devices: &[Device]) -> Result<usize, Error> {
        if devices.iter().any(|d| d.site_id != site_id) {
            return Err(Error::Invalid {
                what: "device list mixes sites",
            });
        }
        let seq = self.change_seq()?;
        let query = "replace devices";
        let mut changed = 0;
        let mut present = HashSet::with_capacity(devices.len());
        {
            let sql = catalogue::DEVICES.upsert_sql();
            let mut upsert = self.tx.prepare_cached(&sql).ctx(query)?;
            let mut revive = self
                .tx
                .prepare_cached(&format!(
                    "UPDATE {} SET removed_at = NULL, updated_at = ?3, change_seq = ?4 \
                     WHERE site_id = ?1 AND device_key = ?2 AND removed_at IS NOT NULL",
                    catalogue::DEVICES.name
                ))
                .ctx(query)?;
            for d in devices {
                let key = d.device_key();
                let upserted = upsert
                    .execute(params![
                        site_id,
                        key,
                        d.device_type,
                        d.serial_number,
                        d.name,
                        d.manufacturer,
                        d.model,
                        d.part_number,
                        d.firmware_version,
                        d.connected_to,
                        d.connected_to_name,
                        d.active,
                        d.communication_type,
                        d.meter_type,
                        d.created_at,
                        d.raw_json,
                        self.now,
                        seq,
                    ])
                    .ctx(query)?;
                let revived = revive
                    .execute(params![site_id, key, self.now, seq])
                    .ctx(query)?;
                // A device counts once even when both statements touched it.
                changed += (upserted + revived).min(1);
                present.insert(key);
            }
        }
        let listed: Vec<String> = {
            let mut stmt = self
                .tx
                .prepare_cached(&format!(
                    "SELECT device_key FROM {} WHERE site_id = ?1 AND removed_at IS NULL",
                    catalogue::DEVICES.name
                ))
                .ctx(query)?;
            let rows = stmt
                .query_map([site_id], |r| r.get(0))
                .ctx(query)?
                .collect::<rusqlite::Result<_>>()
                .ctx(query)?;
            rows
        };
        let mut remove = self
            .tx
            .prepare_cached(&format!(
                "UPDATE {} SET removed_at = ?3, updated_at = ?3, change_seq = ?4 \
                 WHERE site_id = ?1 AND device_key = ?2",
                catalogue::DEVICES.name
            ))
            .ctx(query)?;
        for key in listed.iter().filter(|k| !present.contains(*k)) {
            changed += remove
                .execute(params![site_id, key, self.now, seq])
                .ctx(query)?;
        }
        Ok(changed)
    }

    /// Upserts alerts (site or fleet); returns the number of rows inserted or changed.
    pub fn upsert_alerts(&mut self, alerts: &[Alert]) -> Result<usize, Error> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let seq = self.change_seq()?;
        let query = "upsert alerts";
        let sql = catalogue::ALERTS.upsert_sql();
        let mut stmt = self.tx.prepare_cached(&sql).ctx(query)?;
        let mut changed = 0;
        for a in alerts {
            changed += stmt
                .execute(params![
                    a.alert_id,
                    a.site_id,
                    a.alert_type,
                    a.category,
                    a.impact,
                    a.status,
                    a.first_trigger,
                    a.last_trigger,
                    a.component_name,
                    a.component_serial,
                    a.raw_json,
                    self.now,
                    seq,
                ])
                .ctx(query)?;
        }
        Ok(changed)
    }

    /// Upserts one site-local day of `/overview`; returns 1 when the row was inserted or
    /// changed, else 0.
    pub fn upsert_overview(&mut self, o: &Overview) -> Result<usize, Error> {
        let seq = self.change_seq()?;
        let query = "upsert overview";
        let sql = catalogue::OVERVIEW.upsert_sql();
        let (p, c) = (&o.production, &o.consumption);
        self.tx
            .prepare_cached(&sql)
            .ctx(query)?
            .execute(params![
                o.site_id,
                o.local_date.format("%Y-%m-%d").to_string(),
                p.total_wh,
                p.self_wh,
                p.storage_wh,
                p.grid_wh,
                c.total_wh,
                c.self_wh,
                c.storage_wh,
                c.grid_wh,
                p.api_unit,
                c.api_unit,
                self.now,
                seq,
            ])
            .ctx(query)
    }

    /// Upserts the latest environmental benefits of a site; returns 1 when the row was
    /// inserted or changed, else 0.
    pub fn upsert_benefits(&mut self, b: &EnvironmentalBenefits) -> Result<usize, Error> {
        let seq = self.change_seq()?;
        let query = "upsert environmental benefits";
        let sql = catalogue::BENEFITS.upsert_sql();
        self.tx
            .prepare_cached(&sql)
            .ctx(query)?
            .execute(params![
                b.site_id, b.co2_kg, b.ev_km, b.api_unit, self.now, seq
            ])
            .ctx(query)
    }

    /// Stores a power-flow snapshot keyed by its `updatedAt`, normalised to UTC text; when
    /// the API sent none, `fetched_at` (the time of the request) is the key. Returns 1 when
    /// the row was inserted or changed, else 0.
    pub fn insert_power_flow(
        &mut self,
        f: &PowerFlow,
        fetched_at: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let seq = self.change_seq()?;
        let query = "insert power flow";
        let key = match f.updated_at.as_deref() {
            // An unparsable stamp is kept verbatim rather than dropped.
            Some(s) => parse_ts(s).map_or_else(|| s.to_owned(), |t| fmt_ts(&t)),
            None => fmt_ts(&fetched_at),
        };
        let sql = catalogue::POWER_FLOW.upsert_sql();
        self.tx
            .prepare_cached(&sql)
            .ctx(query)?
            .execute(params![
                f.site_id,
                key,
                f.pv.active,
                f.pv.power_w,
                f.load.active,
                f.load.power_w,
                f.storage.active,
                f.storage.power_w,
                f.storage.status,
                f.storage.charge_level,
                f.grid.active,
                f.grid.power_w,
                f.grid.status,
                f.api_unit,
                self.now,
                seq,
            ])
            .ctx(query)
    }
}
