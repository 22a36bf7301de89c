//! `GET /sites/{id}/overview`: production and consumption breakdown for a window (default
//! today, site local).
//!
//! Each block carries its own energy unit and is scaled to Wh on its own. Breakdown fields are
//! `null` without a consumption meter or battery and stay `None`. The 2023 generation also had
//! a `performance` block (`specificYield`, `performanceRatio`); it is tolerated but not kept,
//! because `model::Overview` has no place for it. Pure, no IO.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::json::{from_body, object, opt_f64, opt_str};
use super::time::{format_local, local_midnight};
use super::{units, ParseError};
use crate::model::{Overview, OverviewBlock, SiteId};

/// `/sites/{id}/overview`.
pub fn path(site_id: SiteId) -> String {
    format!("/sites/{site_id}/overview")
}

/// `from` and `to`, offset-qualified in the site zone.
pub fn query(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Vec<(&'static str, String)> {
    vec![
        ("from", format_local(from, tz)),
        ("to", format_local(to, tz)),
    ]
}

/// One site-local day: local midnight to the next local midnight (23 or 25 h on DST days).
pub fn day_query(date: NaiveDate, tz: Tz) -> Vec<(&'static str, String)> {
    let next = date.succ_opt().unwrap_or(date);
    query(local_midnight(date, tz), local_midnight(next, tz), tz)
}

/// Parses an overview for the site-local day `local_date` the caller asked for.
pub fn parse(site_id: SiteId, local_date: NaiveDate, body: &str) -> Result<Overview, ParseError> {
    let v: Value = from_body("overview", body)?;
    let o = object("overview", &v)?;
    Ok(Overview {
        site_id,
        local_date,
        production: block(
            "production",
            o,
            ["toSelfConsumption", "toStorage", "toGrid"],
        )?,
        consumption: block("consumption", o, ["fromPv", "fromStorage", "fromGrid"])?,
    })
}

/// A block with `total`, `unit` and three breakdown fields (self, storage, grid).
fn block(
    key: &str,
    parent: &Map<String, Value>,
    fields: [&str; 3],
) -> Result<OverviewBlock, ParseError> {
    let ctx = format!("overview.{key}");
    let o = match parent.get(key) {
        None | Some(Value::Null) => return Ok(OverviewBlock::default()),
        Some(v) => object(&ctx, v)?,
    };
    let api_unit = opt_str(&ctx, o, "unit")?;
    let (factor, _) = units::normalise_opt(api_unit.as_deref());
    let wh = |field: &str| opt_f64(&ctx, o, field).map(|v| v.map(|v| v * factor));
    Ok(OverviewBlock {
        total_wh: wh("total")?,
        self_wh: wh(fields[0])?,
        storage_wh: wh(fields[1])?,
        grid_wh: wh(fields[2])?,
        api_unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
    }

    #[test]
    fn blocks_scaled_each_by_its_own_unit() {
        let body = r#"{"siteId":4,
            "production":{"total":18.5,"unit":"KWH","toSelfConsumption":10,"toStorage":8,"toGrid":0.5},
            "consumption":{"total":20410,"unit":"WH","fromPv":9980,"fromStorage":null,"fromGrid":420}}"#;
        let o = parse(4, day(), body).unwrap();
        assert_eq!(o.local_date, day());
        assert_eq!(o.production.api_unit.as_deref(), Some("KWH"));
        assert_eq!(o.production.total_wh, Some(18_500.0));
        assert_eq!(o.production.self_wh, Some(10_000.0));
        assert_eq!(o.production.storage_wh, Some(8_000.0));
        assert_eq!(o.production.grid_wh, Some(500.0));
        assert_eq!(o.consumption.total_wh, Some(20_410.0));
        assert_eq!(o.consumption.storage_wh, None, "null stays None");
        assert_eq!(o.consumption.grid_wh, Some(420.0));
    }

    #[test]
    fn performance_block_and_missing_blocks_tolerated() {
        let body = r#"{"siteId":4,"production":{"total":1000,"unit":"WH"},
            "performance":{"specificYield":1405.8,"performanceRatio":null}}"#;
        let o = parse(4, day(), body).unwrap();
        assert_eq!(o.production.total_wh, Some(1000.0));
        assert_eq!(o.production.self_wh, None);
        assert_eq!(o.consumption, OverviewBlock::default());
    }

    #[test]
    fn bad_bodies() {
        let cases = [
            ("", "overview: empty body"),
            ("{\"production\":", "overview: EOF"),
            ("[]", "overview: expected an object"),
            (
                r#"{"production":5}"#,
                "overview.production: expected an object",
            ),
            (
                r#"{"production":{"total":"lots"}}"#,
                "overview.production.total: expected a number",
            ),
        ];
        for (body, want) in cases {
            let err = parse(1, day(), body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
    }

    #[test]
    fn day_query_spans_the_local_day() {
        assert_eq!(
            day_query(day(), Berlin),
            [
                ("from", "2026-10-25T00:00:00+02:00".to_string()),
                ("to", "2026-10-26T00:00:00+01:00".to_string()),
            ]
        );
        assert_eq!(path(4), "/sites/4/overview");
    }
}
