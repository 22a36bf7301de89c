//! The harvest families and how a raw response of each becomes rows.
//!
//! [`apply`] is the single place that turns an archived body into table rows. `sync` calls
//! it right after a fetch, inside the transaction that archives the body; `reprocess` calls
//! it for every archived body to rebuild the tables with zero API calls. Because both go
//! through the same function, a rebuilt database equals a harvested one by construction.

use crate::api::{self, ParseError};
use crate::model::{Resolution, SiteId, TelemetryKind};
use crate::store::{SeriesKind, Tx};
use chrono::{DateTime, NaiveDate, Utc};

/// What seh harvests. The names are used in `seh_sync_state.family`, in the raw archive,
/// in `--only` and in `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Sites,
    Details,
    Devices,
    Energy,
    Power,
    InverterTelemetry,
    MeterTelemetry,
    StorageTelemetry,
    Overview,
    Benefits,
    Alerts,
    FleetAlerts,
    PowerFlow,
}

impl Family {
    pub const ALL: [Family; 13] = [
        Family::Sites,
        Family::Details,
        Family::Devices,
        Family::Energy,
        Family::Power,
        Family::InverterTelemetry,
        Family::MeterTelemetry,
        Family::StorageTelemetry,
        Family::Overview,
        Family::Benefits,
        Family::Alerts,
        Family::FleetAlerts,
        Family::PowerFlow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Sites => "sites",
            Family::Details => "details",
            Family::Devices => "devices",
            Family::Energy => "energy",
            Family::Power => "power",
            Family::InverterTelemetry => "inverter_telemetry",
            Family::MeterTelemetry => "meter_telemetry",
            Family::StorageTelemetry => "storage_telemetry",
            Family::Overview => "overview",
            Family::Benefits => "benefits",
            Family::Alerts => "alerts",
            Family::FleetAlerts => "fleet_alerts",
            Family::PowerFlow => "power_flow",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The telemetry kind of a telemetry family.
    pub fn telemetry_kind(self) -> Option<TelemetryKind> {
        match self {
            Family::InverterTelemetry => Some(TelemetryKind::Inverter),
            Family::MeterTelemetry => Some(TelemetryKind::Meter),
            Family::StorageTelemetry => Some(TelemetryKind::Storage),
            _ => None,
        }
    }
}

/// Why a body could not become rows.
#[derive(Debug)]
pub enum ApplyError {
    Parse(ParseError),
    Store(crate::store::Error),
    /// The archived request lacks what the parser needs (a resolution, a site, a date).
    Request(&'static str),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Parse(e) => write!(f, "unusable response: {e}"),
            ApplyError::Store(e) => e.fmt(f),
            ApplyError::Request(what) => write!(f, "archived request lacks {what}"),
        }
    }
}

impl From<ParseError> for ApplyError {
    fn from(e: ParseError) -> Self {
        ApplyError::Parse(e)
    }
}

impl From<crate::store::Error> for ApplyError {
    fn from(e: crate::store::Error) -> Self {
        ApplyError::Store(e)
    }
}

/// One value of a canonical query string (`k=v&k=v`, values not percent-encoded).
pub fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn resolution_of(query: &str) -> Result<Resolution, ApplyError> {
    query_value(query, "resolution")
        .and_then(Resolution::parse)
        .ok_or(ApplyError::Request("a resolution"))
}

/// The site-local date a `from=2026-11-26T00:00:00+01:00` parameter names. The parameter
/// is written in site-local time, so its date part is the local date.
fn local_date_of(query: &str) -> Result<NaiveDate, ApplyError> {
    query_value(query, "from")
        .and_then(|f| f.get(..10))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or(ApplyError::Request("a from date"))
}

/// Parse `body` (a response of `family` to `query`) and write its rows; returns the number
/// of rows inserted or changed.
pub fn apply(
    tx: &mut Tx<'_>,
    family: Family,
    site_id: Option<SiteId>,
    query: &str,
    body: &str,
    fetched_at: DateTime<Utc>,
) -> Result<usize, ApplyError> {
    let site = || site_id.ok_or(ApplyError::Request("a site id"));
    Ok(match family {
        Family::Sites => {
            let (mut sites, _) = api::sites::parse_list(body)?;
            // The list sends `installationDate` in another form than the details (UTC `Z`
            // vs site-local offset). Stored "as sent", the two would overwrite each other
            // on every daily refresh and give every site row a new change_seq for nothing
            // (pushers would re-push unchanged sites). Details own the field; the list
            // leaves it alone (the null rule keeps the stored value).
            for s in &mut sites {
                s.installation_date = None;
            }
            tx.upsert_sites(sites.iter().map(|s| (s, None)))?
        }
        Family::Details => {
            let s = api::sites::parse_details(site()?, body)?;
            tx.upsert_sites([(&s, Some(body))])?
        }
        Family::Devices => {
            let devices = api::devices::parse(site()?, body)?;
            tx.replace_devices(site()?, &devices)?
        }
        Family::Energy | Family::Power => {
            let (series, _) = api::series::parse(site()?, body, resolution_of(query)?)?;
            let kind = if family == Family::Energy {
                SeriesKind::Energy
            } else {
                SeriesKind::Power
            };
            tx.upsert_site_series(&series, kind)?
        }
        Family::InverterTelemetry | Family::MeterTelemetry | Family::StorageTelemetry => {
            let kind = family.telemetry_kind().expect("telemetry family");
            let (items, _) = api::telemetry::parse(site()?, kind, body, resolution_of(query)?)?;
            tx.upsert_telemetry(&items)?
        }
        Family::Overview => {
            let o = api::overview::parse(site()?, local_date_of(query)?, body)?;
            tx.upsert_overview(&o)?
        }
        Family::Benefits => {
            let b = api::benefits::parse(site()?, body)?;
            tx.upsert_benefits(&b)?
        }
        Family::Alerts => {
            let alerts = api::alerts::parse(Some(site()?), body)?;
            tx.upsert_alerts(&alerts)?
        }
        Family::FleetAlerts => {
            let alerts = api::alerts::parse(None, body)?;
            tx.upsert_alerts(&alerts)?
        }
        Family::PowerFlow => {
            let flow = api::power_flow::parse(site()?, body)?;
            tx.insert_power_flow(&flow, fetched_at)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Family::ALL {
            assert_eq!(Family::parse(f.name()), Some(f));
        }
        assert_eq!(Family::parse("nope"), None);
    }

    #[test]
    fn query_values_and_local_dates() {
        let q = "from=2026-11-26T00:00:00+01:00&resolution=DAY&to=2026-11-27T00:00:00+01:00";
        assert_eq!(query_value(q, "resolution"), Some("DAY"));
        assert_eq!(resolution_of(q).unwrap(), Resolution::Day);
        assert_eq!(
            local_date_of(q).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
        );
        assert!(resolution_of("from=x").is_err());
    }
}
