//! The fleet the simulator serves: sites, their devices and how they behave.
//!
//! A scenario is plain data, read from TOML (`--scenario FILE`) or taken from the built-in
//! default. The default is chosen to exercise everything a harvester meets in the field:
//! both hemispheres and three continents (so both DST directions and a US zone), a
//! three-phase site with two inverters, optimizers, a battery and four meters (a virtual
//! meter with a null serial, two logical meters sharing one serial), a plain site with no
//! meter and no battery, every one of the eight device types, and a site that never
//! communicated (`PENDING`), which has no data at all.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub sites: Vec<SiteSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub id: i64,
    pub name: String,
    #[serde(default = "default_account")]
    pub account_id: i64,
    /// IANA zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub latitude: f64,
    pub longitude: f64,
    pub peak_kw: f64,
    /// Installation is this many days before the simulator's start time, at local midnight.
    pub installed_days_ago: u32,
    #[serde(default = "default_active")]
    pub activation_status: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub zip: String,
    #[serde(default)]
    pub country: String,
    /// Mains voltage and frequency, used for inverter telemetry.
    #[serde(default = "default_voltage")]
    pub grid_voltage: f64,
    #[serde(default = "default_frequency")]
    pub grid_frequency: f64,
    /// Average household consumption.
    #[serde(default = "default_consumption")]
    pub consumption_kwh_per_day: f64,
    #[serde(default)]
    pub inverters: Vec<InverterSpec>,
    #[serde(default)]
    pub battery: Option<BatterySpec>,
    #[serde(default)]
    pub meters: Vec<MeterSpec>,
    /// Devices without telemetry (`EV_CHARGER`, `BUI`, `GATEWAY`).
    #[serde(default)]
    pub extra_devices: Vec<ExtraDevice>,
    /// Roughly how many days apart alerts are raised.
    #[serde(default = "default_alert_days")]
    pub alert_every_days: u32,
    /// The site stops reporting this many hours after the simulator's start (an inverter
    /// or its internet link that died): its production is null from then on and
    /// `lastUpdateTime` stays where it was. For the notification tests.
    #[serde(default)]
    pub silent_after_hours: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverterSpec {
    pub serial: String,
    pub model: String,
    #[serde(default)]
    pub part_number: String,
    /// Share of the site's production, relative to the other inverters.
    #[serde(default = "one")]
    pub share: f64,
    #[serde(default)]
    pub optimizers: u32,
    #[serde(default = "default_comm")]
    pub communication: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatterySpec {
    pub serial: String,
    pub model: String,
    /// Usable capacity; `stateOfEnergy` is remaining ÷ this.
    pub capacity_kwh: f64,
    pub max_power_kw: f64,
    #[serde(default)]
    pub modules: u32,
    /// Serial of the inverter the battery hangs off.
    #[serde(default)]
    pub connected_to: Option<String>,
}

/// What a meter measures, spelled as V2 spells `meterType` (V1-style casing, as in the
/// public examples).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum MeterKind {
    Production,
    Consumption,
    FeedIn,
    Purchased,
    SelfConsumption,
}

impl MeterKind {
    pub fn wire(self) -> &'static str {
        match self {
            MeterKind::Production => "Production",
            MeterKind::Consumption => "Consumption",
            MeterKind::FeedIn => "FeedIn",
            MeterKind::Purchased => "Purchased",
            MeterKind::SelfConsumption => "SelfConsumption",
        }
    }

    /// The bulk-telemetry metric prefix this meter contributes, if any. A self-consumption
    /// meter has no metric of its own in `meters/telemetry`.
    pub fn metric_prefix(self) -> Option<&'static str> {
        match self {
            MeterKind::Production => Some("production"),
            MeterKind::Consumption => Some("consumption"),
            MeterKind::FeedIn => Some("export"),
            MeterKind::Purchased => Some("import"),
            MeterKind::SelfConsumption => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterSpec {
    /// `None` for a virtual meter. Two meters may share one serial.
    #[serde(default)]
    pub serial: Option<String>,
    pub name: String,
    pub kind: MeterKind,
    #[serde(default)]
    pub connected_to: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

impl MeterSpec {
    /// The key this meter's series appear under in `meters/telemetry`: its serial, or for a
    /// virtual meter (no serial) its name. The reference leaves this open (Q12); a harvester
    /// must key rows by whatever key the response uses.
    pub fn telemetry_key(&self) -> String {
        self.serial.clone().unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraDevice {
    /// `EV_CHARGER`, `BUI` or `GATEWAY`.
    pub device_type: String,
    pub serial: String,
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub connected_to: Option<String>,
}

fn default_account() -> i64 {
    10_001
}
fn default_active() -> String {
    "ACTIVE".into()
}
fn default_voltage() -> f64 {
    230.0
}
fn default_frequency() -> f64 {
    50.0
}
fn default_consumption() -> f64 {
    11.0
}
fn default_alert_days() -> u32 {
    75
}
fn one() -> f64 {
    1.0
}
fn default_comm() -> String {
    "ETHERNET".into()
}

impl SiteSpec {
    /// The installation instant: local midnight `installed_days_ago` days before `start`.
    pub fn installation(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        let tz = self.tz();
        let day = (start - Duration::days(i64::from(self.installed_days_ago)))
            .with_timezone(&tz)
            .date_naive();
        crate::time::local_midnight(day, tz)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone
            .parse()
            .expect("scenario time zones are validated on load")
    }

    /// A site whose inverter never communicated reports no data at all. The status is
    /// compared without regard to case, as the API layer may respell it (`--status-case`).
    pub fn has_data(&self) -> bool {
        self.activation_status.eq_ignore_ascii_case("ACTIVE") && !self.inverters.is_empty()
    }

    pub fn has_consumption_meter(&self) -> bool {
        self.meters.iter().any(|m| m.kind == MeterKind::Consumption)
    }
}

impl Scenario {
    /// Parse and validate a scenario file's text.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| format!("scenario: {e}"))?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.sites.is_empty() {
            return Err("scenario: no sites".into());
        }
        let mut ids = std::collections::HashSet::new();
        for site in &self.sites {
            if !ids.insert(site.id) {
                return Err(format!("scenario: site id {} appears twice", site.id));
            }
            if site.timezone.parse::<chrono_tz::Tz>().is_err() {
                return Err(format!(
                    "scenario: site {}: unknown time zone {:?}",
                    site.id, site.timezone
                ));
            }
            if !(-90.0..=90.0).contains(&site.latitude) {
                return Err(format!("scenario: site {}: latitude out of range", site.id));
            }
            for extra in &site.extra_devices {
                if !["EV_CHARGER", "BUI", "GATEWAY"].contains(&extra.device_type.as_str()) {
                    return Err(format!(
                        "scenario: site {}: extra device type {:?} must be EV_CHARGER, BUI or GATEWAY",
                        site.id, extra.device_type
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn site(&self, id: i64) -> Option<&SiteSpec> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// The built-in default fleet (see the module docs for why it looks like this).
    pub fn default_fleet() -> Scenario {
        Scenario::from_toml(DEFAULT_SCENARIO).expect("the built-in scenario is valid")
    }
}

/// The default scenario, also shipped as `sim/scenarios/default.toml` for users to copy.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fleet_covers_every_device_type_and_both_hemispheres() {
        let s = Scenario::default_fleet();
        assert!(s.sites.iter().any(|x| x.latitude < 0.0));
        assert!(s.sites.iter().any(|x| x.timezone.starts_with("Europe/")));
        assert!(s.sites.iter().any(|x| x.timezone.starts_with("America/")));
        assert!(s.sites.iter().any(|x| x.activation_status == "PENDING"));
        let big = &s.sites[0];
        assert_eq!(big.inverters.len(), 2);
        assert!(big.battery.is_some());
        assert!(big.meters.iter().any(|m| m.serial.is_none()));
        let serials: Vec<_> = big.meters.iter().filter_map(|m| m.serial.clone()).collect();
        let mut dedup = serials.clone();
        dedup.sort();
        dedup.dedup();
        assert!(
            dedup.len() < serials.len(),
            "two meters must share a serial"
        );
        assert!(s
            .sites
            .iter()
            .any(|x| x.inverters.len() == 1 && x.meters.is_empty() && x.battery.is_none()));
        let extra: Vec<_> = s
            .sites
            .iter()
            .flat_map(|x| x.extra_devices.iter().map(|d| d.device_type.clone()))
            .collect();
        for t in ["EV_CHARGER", "BUI", "GATEWAY"] {
            assert!(extra.iter().any(|e| e == t), "missing {t}");
        }
    }

    #[test]
    fn bad_scenarios_are_refused_with_a_reason() {
        let e = Scenario::from_toml("sites = []").unwrap_err();
        assert!(e.contains("no sites"));
        let e = Scenario::from_toml(
            "[[sites]]\nid=1\nname='x'\ntimezone='Mars/Olympus'\nlatitude=1.0\nlongitude=1.0\npeak_kw=1.0\ninstalled_days_ago=3\n",
        )
        .unwrap_err();
        assert!(e.contains("time zone"), "{e}");
        let e = Scenario::from_toml("[[sites]]\nbogus=1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }
}
