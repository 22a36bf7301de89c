//! The Measurements envelope `{period{from,to}, unit, resolution, values[{timestamp,value}]}`
//! of `/sites/{id}/energy` and `/sites/{id}/power`. seh does not call the per-device
//! single-metric paths (`/sites/{id}/inverters/{sn}/{metric}`, ...); bulk `telemetry` covers
//! them.
//!
//! Values are scaled to W / Wh (the unit the API sent is kept), `null` stays `None` (not
//! reported ≠ zero), missing `values` is an empty series, and every bucket timestamp keeps its
//! UTC offset so the repeated autumn hour gives distinct instants. The series wire types
//! here are shared with `telemetry`. Pure, no IO.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::json::from_body;
use super::time::{format_local, parse_ts};
use super::{units, ParseError};
use crate::model::{Point, Resolution, Series, SiteId, SiteSeries, TelemetryKind};

/// Which site-level series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteMetric {
    Energy,
    Power,
}

impl SiteMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteMetric::Energy => "energy",
            SiteMetric::Power => "power",
        }
    }
}

/// `period` of a response: the span the server actually covered (`to` echoes "now" with up
/// to nine fraction digits when the window reaches the present).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `/sites/{id}/energy` or `/sites/{id}/power`.
pub fn path(site_id: SiteId, metric: SiteMetric) -> String {
    format!("/sites/{site_id}/{}", metric.as_str())
}

/// `from`, `to` (offset-qualified whole seconds in the site zone), `resolution`, and `unit`
/// when given (`WH`, `W`, ...; the server may answer in another unit, which we read back).
pub fn query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resolution: Resolution,
    tz: Tz,
    unit: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut q = vec![
        ("from", format_local(from, tz)),
        ("to", format_local(to, tz)),
        ("resolution", resolution.as_str().to_string()),
    ];
    if let Some(unit) = unit {
        q.push(("unit", unit.to_string()));
    }
    q
}

/// Parses a site-level energy or power response. `requested` is used when the body does not
/// say which resolution it holds.
pub fn parse(
    site_id: SiteId,
    body: &str,
    requested: Resolution,
) -> Result<(SiteSeries, Option<Period>), ParseError> {
    let env: WireEnvelope = from_body("series", body)?;
    let resolution = resolution_of(env.series.resolution.as_deref(), None, requested)?;
    let series = convert("series", &env.series, None)?;
    let period = env.period.as_ref().map(|p| p.parse()).transpose()?;
    Ok((
        SiteSeries {
            site_id,
            resolution,
            series,
        },
        period,
    ))
}

pub(crate) fn family_segment(kind: TelemetryKind) -> &'static str {
    match kind {
        TelemetryKind::Inverter => "inverters",
        TelemetryKind::Meter => "meters",
        TelemetryKind::Storage => "storage",
    }
}

// ---------------------------------------------------------------------------------------------
// Wire types, shared with `telemetry`.

#[derive(Deserialize)]
pub(crate) struct WirePoint {
    timestamp: Option<String>,
    value: Option<f64>,
}

/// One series `{unit, [resolution], values}`.
#[derive(Deserialize)]
pub(crate) struct WireSeries {
    pub(crate) unit: Option<String>,
    pub(crate) resolution: Option<String>,
    values: Option<Vec<WirePoint>>,
}

#[derive(Deserialize)]
pub(crate) struct WirePeriod {
    from: Option<String>,
    to: Option<String>,
}

impl WirePeriod {
    pub(crate) fn parse(&self) -> Result<Period, ParseError> {
        let ts = |s: &Option<String>, name: &str| {
            s.as_deref()
                .map(|s| {
                    parse_ts(s)
                        .map(|(t, _)| t)
                        .map_err(|e| ParseError::new(format!("period.{name}: {e}")))
                })
                .transpose()
        };
        Ok(Period {
            from: ts(&self.from, "from")?,
            to: ts(&self.to, "to")?,
        })
    }
}

#[derive(Deserialize)]
struct WireEnvelope {
    period: Option<WirePeriod>,
    #[serde(flatten)]
    series: WireSeries,
}

/// Converts a wire series, scaling values by its unit (or `fallback_unit` when it has none).
pub(crate) fn convert(
    context: &str,
    wire: &WireSeries,
    fallback_unit: Option<&str>,
) -> Result<Series, ParseError> {
    let api_unit = wire.unit.as_deref().or(fallback_unit);
    let (factor, unit) = units::normalise_opt(api_unit);
    let values = wire.values.as_deref().unwrap_or_default();
    let mut points = Vec::with_capacity(values.len());
    for (i, p) in values.iter().enumerate() {
        let raw = p
            .timestamp
            .as_deref()
            .ok_or_else(|| ParseError::new(format!("{context}.values[{i}].timestamp: missing")))?;
        let (ts_utc, utc_offset_min) =
            parse_ts(raw).map_err(|e| ParseError::new(format!("{context}.values[{i}]: {e}")))?;
        points.push(Point {
            ts_utc,
            utc_offset_min,
            value: p.value.map(|v| v * factor),
        });
    }
    Ok(Series {
        api_unit: api_unit.map(str::to_string),
        unit,
        points,
    })
}

/// The first resolution given (series, then envelope), else the requested one.
pub(crate) fn resolution_of(
    series: Option<&str>,
    envelope: Option<&str>,
    requested: Resolution,
) -> Result<Resolution, ParseError> {
    match series.or(envelope) {
        None => Ok(requested),
        Some(s) => Resolution::parse(s.trim())
            .ok_or_else(|| ParseError::new(format!("unknown resolution {:?}", short(s)))),
    }
}

fn short(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap().0
    }

    /// Parses a site series and returns `(utc, offset, value)` per point.
    fn check(body: &str, requested: Resolution) -> (SiteSeries, Vec<(String, i32, Option<f64>)>) {
        let (s, _) = parse(7, body, requested).unwrap();
        let pts = s
            .series
            .points
            .iter()
            .map(|p| (p.ts_utc.to_rfc3339(), p.utc_offset_min, p.value))
            .collect();
        (s, pts)
    }

    #[test]
    fn kw_power_is_scaled_to_w_and_nulls_stay_none() {
        let body = r#"{"period":{"from":"2026-06-01T00:00:00+02:00","to":"2026-06-01T12:00:00+02:00"},
            "unit":"KW","resolution":"QUARTER_HOUR","values":[
              {"timestamp":"2026-06-01T05:45:00+02:00","value":null},
              {"timestamp":"2026-06-01T06:00:00+02:00","value":0.0},
              {"timestamp":"2026-06-01T06:15:00+02:00","value":1.5},
              {"timestamp":"2026-06-01T06:30:00+02:00"}]}"#;
        let (s, pts) = check(body, Resolution::Hour);
        assert_eq!(s.site_id, 7);
        assert_eq!(
            s.resolution,
            Resolution::QuarterHour,
            "body wins over request"
        );
        assert_eq!(s.series.api_unit.as_deref(), Some("KW"));
        assert_eq!(s.series.unit, "W");
        let values: Vec<_> = pts.iter().map(|p| p.2).collect();
        assert_eq!(values, [None, Some(0.0), Some(1500.0), None]);
        assert_eq!(pts[0].0, "2026-06-01T03:45:00+00:00");
        assert_eq!(pts[0].1, 120);
    }

    #[test]
    fn mwh_energy_is_scaled_to_wh() {
        let body = r#"{"unit":"MWH","resolution":"YEAR","values":[
            {"timestamp":"2025-01-01T00:00:00-07:00","value":9.5},
            {"timestamp":"2026-01-01T00:00:00-07:00","value":null}]}"#;
        let (s, pts) = check(body, Resolution::Year);
        assert_eq!(s.series.unit, "Wh");
        assert_eq!(pts[0].2, Some(9_500_000.0));
        assert_eq!(pts[1].2, None);
    }

    #[test]
    fn berlin_autumn_repeated_hour_gives_distinct_instants() {
        let mut values = Vec::new();
        for off in ["+02:00", "+01:00"] {
            for m in ["00", "15", "30", "45"] {
                values.push(format!(
                    r#"{{"timestamp":"2026-10-25T02:{m}:00{off}","value":1}}"#
                ));
            }
        }
        let body = format!(
            r#"{{"unit":"WH","resolution":"QUARTER_HOUR","values":[{}]}}"#,
            values.join(",")
        );
        let (_, pts) = check(&body, Resolution::QuarterHour);
        let mut instants: Vec<_> = pts.iter().map(|p| p.0.clone()).collect();
        assert_eq!(instants[0], "2026-10-25T00:00:00+00:00");
        assert_eq!(instants[4], "2026-10-25T01:00:00+00:00");
        assert_eq!(pts[3].1, 120);
        assert_eq!(pts[4].1, 60);
        instants.dedup();
        assert_eq!(instants.len(), 8);
    }

    #[test]
    fn period_with_nine_fraction_digits() {
        let body = r#"{"period":{"from":"2026-08-24T00:00:00+01:00",
            "to":"2026-08-24T17:05:45.016061916+01:00"},"unit":"WH","values":[]}"#;
        let (s, period) = parse(1, body, Resolution::QuarterHour).unwrap();
        assert!(s.series.points.is_empty());
        assert_eq!(
            s.resolution,
            Resolution::QuarterHour,
            "requested when absent"
        );
        let period = period.unwrap();
        assert_eq!(period.from, Some(utc("2026-08-23T23:00:00Z")));
        assert_eq!(
            period.to,
            Some(utc("2026-08-24T16:05:45.016061916Z")),
            "fraction kept"
        );
    }

    #[test]
    fn missing_values_and_unit() {
        let (s, period) = parse(1, r#"{"resolution":"DAY"}"#, Resolution::Hour).unwrap();
        assert!(s.series.points.is_empty());
        assert_eq!(s.series.api_unit, None);
        assert_eq!(s.series.unit, "");
        assert_eq!(s.resolution, Resolution::Day);
        assert_eq!(period, None);
        let (s, _) = parse(1, r#"{"values":null}"#, Resolution::Hour).unwrap();
        assert!(s.series.points.is_empty());
    }

    #[test]
    fn bad_bodies_are_parse_errors() {
        let cases = [
            ("", "series: empty body"),
            ("{\"unit\":\"W\",\"values\":[{\"timest", "series: EOF"),
            ("<html>", "series: expected value"),
            ("[]", "series: invalid type"),
            (
                r#"{"values":[{"value":1}]}"#,
                "series.values[0].timestamp: missing",
            ),
            (
                r#"{"values":[{"timestamp":"2026-01-01T00:00:00","value":1}]}"#,
                "series.values[0]: timestamp",
            ),
            (
                r#"{"values":[{"timestamp":"2026-01-01T00:00:00Z","value":"x"}]}"#,
                "series: invalid type",
            ),
            (r#"{"resolution":"FORTNIGHT"}"#, "unknown resolution"),
            (r#"{"period":{"from":"nope"}}"#, "period.from: timestamp"),
        ];
        for (body, want) in cases {
            let err = parse(1, body, Resolution::Day).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn path_and_query() {
        assert_eq!(path(5, SiteMetric::Energy), "/sites/5/energy");
        let q = query(
            utc("2026-03-28T23:00:00Z"),
            utc("2026-03-29T11:00:00Z"),
            Resolution::QuarterHour,
            Berlin,
            Some("WH"),
        );
        assert_eq!(
            q,
            [
                ("from", "2026-03-29T00:00:00+01:00".to_string()),
                ("to", "2026-03-29T13:00:00+02:00".to_string()),
                ("resolution", "QUARTER_HOUR".to_string()),
                ("unit", "WH".to_string()),
            ]
        );
    }
}
