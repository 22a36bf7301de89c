//! Plain domain rows shared by `api` (which produces them), `harvest` (which moves them) and
//! `store` (which writes them).
//!
//! Nothing here does IO or knows about serde wire types: `api` converts the JSON it receives
//! into these types, `store` converts them into SQL rows. Values are already normalised to
//! W and Wh where the API sent a multiple (kW, MWh, ...); the unit the API sent is kept
//! beside the value so nothing is lost.

use chrono::{DateTime, NaiveDate, Utc};

/// A SolarEdge site id (`siteId`).
pub type SiteId = i64;

/// The time resolutions V2 knows. `QUARTER_HOUR` is the finest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    QuarterHour,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Total,
}

impl Resolution {
    pub const ALL: [Resolution; 7] = [
        Resolution::QuarterHour,
        Resolution::Hour,
        Resolution::Day,
        Resolution::Week,
        Resolution::Month,
        Resolution::Year,
        Resolution::Total,
    ];

    /// The spelling used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::QuarterHour => "QUARTER_HOUR",
            Resolution::Hour => "HOUR",
            Resolution::Day => "DAY",
            Resolution::Week => "WEEK",
            Resolution::Month => "MONTH",
            Resolution::Year => "YEAR",
            Resolution::Total => "TOTAL",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One bucket of a time series as the API reported it.
///
/// `ts_utc` is the bucket timestamp converted to UTC; `utc_offset_min` is the offset the API
/// stamped on it (site-local), which keeps the repeated autumn hour distinguishable and lets
/// views recover the local time without a time-zone database.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub ts_utc: DateTime<Utc>,
    pub utc_offset_min: i32,
    /// Normalised value (W, Wh, V, A, Hz, or the raw ratio); `None` when the API said `null`.
    pub value: Option<f64>,
}

/// A series of buckets with the unit the API sent and the normalised unit of `Point::value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Unit as sent by the API (`KW`, `WH`, `PERCENTAGE`, ...), if it sent one.
    pub api_unit: Option<String>,
    /// Unit of the normalised values (`W`, `Wh`, `V`, `A`, `Hz`, or the API unit when no
    /// normalisation applies).
    pub unit: String,
    pub points: Vec<Point>,
}

/// Site-level energy (`/energy`) or power (`/power`) series.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteSeries {
    pub site_id: SiteId,
    pub resolution: Resolution,
    pub series: Series,
}

/// Which bulk telemetry family a [`Telemetry`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TelemetryKind {
    Inverter,
    Meter,
    Storage,
}

/// One metric series of one device from a bulk telemetry response.
///
/// `device_key` is the key the response used for the device (a serial number; for virtual
/// meters whatever key the API chose), `metric` the series name exactly as sent
/// (`power`, `importEnergy`, `stateOfEnergy`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Telemetry {
    pub kind: TelemetryKind,
    pub site_id: SiteId,
    pub device_key: String,
    pub resolution: Resolution,
    pub metric: String,
    pub series: Series,
}

/// Location block of a site.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub timezone: Option<String>,
}

/// A site from `/sites` or `/sites/{id}` (details have more fields filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub site_id: SiteId,
    pub name: Option<String>,
    pub account_id: Option<i64>,
    pub peak_power_kw: Option<f64>,
    /// Timestamps are kept as the API sent them (RFC 3339) and also parsed where useful.
    pub installation_date: Option<String>,
    pub last_update_time: Option<String>,
    pub activation_status: Option<String>,
    pub note: Option<String>,
    pub location: Location,
}

/// One device from `/sites/{id}/devices`.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub site_id: SiteId,
    /// `INVERTER`, `BATTERY`, `BATTERY_MODULE`, `OPTIMIZER`, `METER`, `EV_CHARGER`, `BUI`, `GATEWAY`.
    pub device_type: String,
    /// `None` for virtual meters.
    pub serial_number: Option<String>,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub part_number: Option<String>,
    pub firmware_version: Option<String>,
    pub connected_to: Option<String>,
    pub connected_to_name: Option<String>,
    pub active: Option<bool>,
    pub communication_type: Option<String>,
    pub meter_type: Option<String>,
    pub created_at: Option<String>,
    /// The whole device object as JSON, so fields not modelled here are kept.
    pub raw_json: String,
}

impl Device {
    /// A key unique within a site even for virtual meters (null serial) and for two logical
    /// meters sharing one serial: type, serial (or `-`) and name.
    pub fn device_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.device_type,
            self.serial_number.as_deref().unwrap_or("-"),
            self.name.as_deref().unwrap_or("-")
        )
    }
}

/// Production or consumption block of `/overview`, normalised to Wh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverviewBlock {
    pub api_unit: Option<String>,
    pub total_wh: Option<f64>,
    /// production: toSelfConsumption / consumption: fromPv
    pub self_wh: Option<f64>,
    /// production: toStorage / consumption: fromStorage
    pub storage_wh: Option<f64>,
    /// production: toGrid / consumption: fromGrid
    pub grid_wh: Option<f64>,
}

/// `/overview` for one site-local day.
#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    pub site_id: SiteId,
    pub local_date: NaiveDate,
    pub production: OverviewBlock,
    pub consumption: OverviewBlock,
}

/// `/environmental-benefits`, normalised to metric.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentalBenefits {
    pub site_id: SiteId,
    pub co2_kg: Option<f64>,
    pub ev_km: Option<f64>,
    pub api_unit: Option<String>,
}

/// One alert from site or fleet `/alerts`.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub alert_id: i64,
    pub site_id: SiteId,
    pub alert_type: Option<String>,
    pub category: Option<String>,
    pub impact: Option<i64>,
    pub status: Option<String>,
    pub first_trigger: Option<String>,
    pub last_trigger: Option<String>,
    pub component_name: Option<String>,
    pub component_serial: Option<String>,
    pub raw_json: String,
}

/// One node (`pv`, `load`, `storage`, `grid`) of `/power-flow`, normalised to W.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowNode {
    pub active: Option<bool>,
    pub power_w: Option<f64>,
    pub status: Option<String>,
    pub charge_level: Option<f64>,
}

/// A `/power-flow` snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerFlow {
    pub site_id: SiteId,
    pub updated_at: Option<String>,
    pub api_unit: Option<String>,
    pub pv: FlowNode,
    pub load: FlowNode,
    pub storage: FlowNode,
    pub grid: FlowNode,
}
