//! Bulk device telemetry: `/sites/{id}/inverters/telemetry`, `/meters/telemetry`,
//! `/storage/telemetry` (and `/storage/{sn1},{sn2}/telemetry`).
//!
//! Shape: `{[period], [resolution], [unit], "<family>": {"<device key>": {"<metric>": S}}}`
//! with S = `{unit, [resolution], values}`. Every metric present is returned, including names
//! we do not know yet, because the point of seh is an exact copy. A family key that is
//! missing, `null` or `{}` (sites without meters) gives no rows. Non-object entries inside a
//! device are attributes, not series, and are skipped. Pure, no IO.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

use super::json::{from_body, kind as json_kind, object};
use super::series::{convert, family_segment, resolution_of, Period, WirePeriod, WireSeries};
use super::time::format_local;
use super::ParseError;
use crate::model::{Resolution, SiteId, Telemetry, TelemetryKind};

/// `/sites/{id}/{inverters|meters|storage}/telemetry`.
pub fn path(site_id: SiteId, kind: TelemetryKind) -> String {
    format!("/sites/{site_id}/{}/telemetry", family_segment(kind))
}

/// `from`, `to` (offset-qualified, site zone) and `resolution`. No `unit`: meters ignore it
/// and we normalise whatever comes back.
pub fn query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resolution: Resolution,
    tz: Tz,
) -> Vec<(&'static str, String)> {
    vec![
        ("from", format_local(from, tz)),
        ("to", format_local(to, tz)),
        ("resolution", resolution.as_str().to_string()),
    ]
}

/// The JSON key holding the devices of a family.
pub fn family_key(kind: TelemetryKind) -> &'static str {
    match kind {
        TelemetryKind::Inverter => "inverters",
        TelemetryKind::Meter => "meters",
        TelemetryKind::Storage => "storage",
    }
}

#[derive(Deserialize)]
struct WireBulk {
    period: Option<WirePeriod>,
    resolution: Option<String>,
    unit: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// Parses a bulk telemetry body into one [`Telemetry`] per (device, metric), sorted by device
/// key then metric. Resolution comes from the series, else the envelope, else `requested`;
/// the unit from the series, else the envelope.
pub fn parse(
    site_id: SiteId,
    kind: TelemetryKind,
    body: &str,
    requested: Resolution,
) -> Result<(Vec<Telemetry>, Option<Period>), ParseError> {
    let key = family_key(kind);
    let bulk: WireBulk = from_body(key, body)?;
    let period = bulk.period.as_ref().map(WirePeriod::parse).transpose()?;
    let devices = match bulk.rest.get(key) {
        None | Some(Value::Null) => return Ok((Vec::new(), period)),
        Some(v) => object(key, v)?,
    };
    let mut out = Vec::new();
    for (device_key, metrics) in devices {
        let ctx = format!("{key}.{device_key}");
        let metrics = match metrics {
            Value::Null => continue,
            v => object(&ctx, v)?,
        };
        for (metric, series) in metrics {
            let ctx = format!("{ctx}.{metric}");
            if !series.is_object() {
                // A scalar attribute or null: not a series.
                if !series.is_null() {
                    log::debug!("{ctx}: skipping {} (not a series)", json_kind(series));
                }
                continue;
            }
            let wire = WireSeries::deserialize(series).map_err(|e| ParseError::json(&ctx, &e))?;
            let resolution = resolution_of(
                wire.resolution.as_deref(),
                bulk.resolution.as_deref(),
                requested,
            )?;
            out.push(Telemetry {
                kind,
                site_id,
                device_key: device_key.clone(),
                resolution,
                metric: metric.clone(),
                series: convert(&ctx, &wire, bulk.unit.as_deref())?,
            });
        }
    }
    Ok((out, period))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::time::parse_ts;

    /// `(device, metric, resolution, normalised unit, values)`.
    type Row = (String, String, Resolution, String, Vec<Option<f64>>);

    /// Parses and flattens to rows.
    fn check(kind: TelemetryKind, body: &str, requested: Resolution) -> Vec<Row> {
        let (rows, _) = parse(9, kind, body, requested).unwrap();
        rows.into_iter()
            .map(|t| {
                assert_eq!(t.site_id, 9);
                assert_eq!(t.kind, kind);
                (
                    t.device_key,
                    t.metric,
                    t.resolution,
                    t.series.unit,
                    t.series.points.iter().map(|p| p.value).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn inverter_metrics_all_kept_and_normalised() {
        let body = r#"{"inverters":{"INV-A":{
            "power":{"unit":"KW","resolution":"HOUR","values":[{"timestamp":"2026-01-05T10:00:00+01:00","value":2.5}]},
            "energy":{"unit":"KWH","values":[{"timestamp":"2026-01-05T10:00:00+01:00","value":0.25}]},
            "voltage":{"unit":"VOLT","values":[{"timestamp":"2026-01-05T11:00:00+01:00","value":231.5}]},
            "current":{"unit":"AMPERE","values":[]},
            "frequency":{"unit":"HERTZ","values":[{"timestamp":"2026-01-05T11:00:00+01:00","value":null}]},
            "dcVoltage":{"unit":"VOLT","values":[{"timestamp":"2026-01-05T11:00:00+01:00","value":380}]},
            "name":"Inverter 1"
        }}}"#;
        let rows = check(TelemetryKind::Inverter, body, Resolution::QuarterHour);
        let metrics: Vec<_> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(
            metrics,
            [
                "current",
                "dcVoltage",
                "energy",
                "frequency",
                "power",
                "voltage"
            ]
        );
        let power = rows.iter().find(|r| r.1 == "power").unwrap();
        assert_eq!(power.2, Resolution::Hour, "series resolution wins");
        assert_eq!(
            (power.3.as_str(), power.4.clone()),
            ("W", vec![Some(2500.0)])
        );
        let energy = rows.iter().find(|r| r.1 == "energy").unwrap();
        assert_eq!(
            energy.2,
            Resolution::QuarterHour,
            "requested as last resort"
        );
        assert_eq!(
            (energy.3.as_str(), energy.4.clone()),
            ("Wh", vec![Some(250.0)])
        );
        let freq = rows.iter().find(|r| r.1 == "frequency").unwrap();
        assert_eq!((freq.3.as_str(), freq.4.clone()), ("Hz", vec![None]));
    }

    #[test]
    fn meters_with_envelope_resolution_and_unit() {
        let body = r#"{"period":{"from":"2026-02-01T00:00:00-07:00","to":"2026-02-02T00:00:00-07:00"},
          "resolution":"DAY","unit":"KWH","meters":{
            "5118719":{"importEnergy":{"unit":"WH","values":[{"timestamp":"2026-02-01T00:00:00-07:00","value":314.5}]},
                       "exportEnergy":{"values":[{"timestamp":"2026-02-01T00:00:00-07:00","value":2}]}},
            "virtual-1":{"consumptionPower":{"unit":"W","values":[]}}}}"#;
        let (rows, period) = parse(9, TelemetryKind::Meter, body, Resolution::Hour).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.resolution == Resolution::Day));
        let export = &rows[0];
        assert_eq!(
            (export.device_key.as_str(), export.metric.as_str()),
            ("5118719", "exportEnergy")
        );
        assert_eq!(
            export.series.api_unit.as_deref(),
            Some("KWH"),
            "envelope unit"
        );
        assert_eq!(export.series.points[0].value, Some(2000.0));
        let import = &rows[1];
        assert_eq!(
            import.series.api_unit.as_deref(),
            Some("WH"),
            "series unit wins"
        );
        assert_eq!(import.series.points[0].value, Some(314.5));
        assert_eq!(
            period.unwrap().to,
            Some(parse_ts("2026-02-02T07:00:00Z").unwrap().0)
        );
    }

    #[test]
    fn empty_meter_responses() {
        for body in [
            r#"{}"#,
            r#"{"meters":{}}"#,
            r#"{"meters":null}"#,
            r#"{"meters":{"M":null}}"#,
        ] {
            assert!(
                check(TelemetryKind::Meter, body, Resolution::Day).is_empty(),
                "{body}"
            );
        }
    }

    #[test]
    fn storage_ratios_stay_raw() {
        let body = r#"{"storage":{"BATT-1":{
            "stateOfEnergy":{"unit":"PERCENTAGE","values":[{"timestamp":"2026-05-01T12:00:00+02:00","value":0.678}]},
            "remainingEnergy":{"unit":"KWH","values":[{"timestamp":"2026-05-01T12:00:00+02:00","value":6.5}]},
            "chargePower":{"unit":"W","values":[{"timestamp":"2026-05-01T12:00:00+02:00","value":-0.0}]}}}}"#;
        let rows = check(TelemetryKind::Storage, body, Resolution::QuarterHour);
        let soe = rows.iter().find(|r| r.1 == "stateOfEnergy").unwrap();
        assert_eq!(
            (soe.3.as_str(), soe.4.clone()),
            ("PERCENTAGE", vec![Some(0.678)])
        );
        let rem = rows.iter().find(|r| r.1 == "remainingEnergy").unwrap();
        assert_eq!(rem.4, vec![Some(6500.0)]);
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let cases = [
            ("", TelemetryKind::Inverter, "inverters: empty body"),
            (
                "{\"inverters\":{",
                TelemetryKind::Inverter,
                "inverters: EOF",
            ),
            (
                r#"{"inverters":[]}"#,
                TelemetryKind::Inverter,
                "inverters: expected an object",
            ),
            (
                r#"{"storage":{"B":5}}"#,
                TelemetryKind::Storage,
                "storage.B: expected an object",
            ),
            (
                r#"{"storage":{"B":{"chargePower":{"values":{}}}}}"#,
                TelemetryKind::Storage,
                "storage.B.chargePower: invalid type",
            ),
            (
                r#"{"meters":{"M":{"importPower":{"values":[{"timestamp":"x"}]}}}}"#,
                TelemetryKind::Meter,
                "meters.M.importPower.values[0]: timestamp",
            ),
        ];
        for (body, kind, want) in cases {
            let err = parse(1, kind, body, Resolution::Day)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
    }

    #[test]
    fn paths_and_query() {
        assert_eq!(path(4, TelemetryKind::Meter), "/sites/4/meters/telemetry");
        let q = query(
            parse_ts("2026-01-01T00:00:00Z").unwrap().0,
            parse_ts("2026-01-01T12:00:00Z").unwrap().0,
            Resolution::QuarterHour,
            chrono_tz::UTC,
        );
        assert_eq!(q[0], ("from", "2026-01-01T00:00:00+00:00".to_string()));
        assert_eq!(q.len(), 3);
    }
}
