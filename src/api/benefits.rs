//! `GET /sites/{id}/environmental-benefits`: cumulative CO₂ avoided and EV distance.
//!
//! Stored metric: with `unit=METRIC` the API gives kg and km (`evMiles` then holds
//! kilometres, despite the name); with `IMPERIAL` pounds and miles, which are converted. A
//! response without `unit` is read as METRIC, the unit we ask for. Pure, no IO.

use serde_json::Value;

use super::json::{from_body, object, opt_f64, opt_str};
use super::ParseError;
use crate::model::{EnvironmentalBenefits, SiteId};

const KG_PER_LB: f64 = 0.453_592_37;
const KM_PER_MILE: f64 = 1.609_344;

/// `/sites/{id}/environmental-benefits`.
pub fn path(site_id: SiteId) -> String {
    format!("/sites/{site_id}/environmental-benefits")
}

/// `unit=METRIC`.
pub fn query() -> Vec<(&'static str, String)> {
    vec![("unit", "METRIC".to_string())]
}

pub fn parse(site_id: SiteId, body: &str) -> Result<EnvironmentalBenefits, ParseError> {
    let v: Value = from_body("environmental-benefits", body)?;
    let ctx = "environmental-benefits";
    let o = object(ctx, &v)?;
    let api_unit = opt_str(ctx, o, "unit")?;
    let imperial = match api_unit.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("METRIC") => false,
        Some("IMPERIAL") => true,
        Some(_) => return Err(ParseError::new(format!("{ctx}.unit: unknown unit"))),
    };
    let (co2, ev) = if imperial {
        (KG_PER_LB, KM_PER_MILE)
    } else {
        (1.0, 1.0)
    };
    Ok(EnvironmentalBenefits {
        site_id,
        co2_kg: opt_f64(ctx, o, "co2Emissions")?.map(|v| v * co2),
        ev_km: opt_f64(ctx, o, "evMiles")?.map(|v| v * ev),
        api_unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn metric_kept_imperial_converted() {
        let m = parse(
            1,
            r#"{"co2Emissions":392.5,"evMiles":1500,"unit":"METRIC"}"#,
        )
        .unwrap();
        assert_eq!((m.co2_kg, m.ev_km), (Some(392.5), Some(1500.0)));
        assert_eq!(m.api_unit.as_deref(), Some("METRIC"));
        let i = parse(1, r#"{"co2Emissions":100,"evMiles":10,"unit":"IMPERIAL"}"#).unwrap();
        assert!(close(i.co2_kg, 45.359237));
        assert!(close(i.ev_km, 16.09344));
        let none = parse(1, r#"{"co2Emissions":null}"#).unwrap();
        assert_eq!((none.co2_kg, none.ev_km, none.api_unit), (None, None, None));
    }

    #[test]
    fn bad_bodies() {
        let cases = [
            ("", "environmental-benefits: empty body"),
            ("{", "environmental-benefits: EOF"),
            (
                r#"{"unit":"FURLONG"}"#,
                "environmental-benefits.unit: unknown unit",
            ),
            (
                r#"{"co2Emissions":[]}"#,
                "environmental-benefits.co2Emissions: expected a number",
            ),
        ];
        for (body, want) in cases {
            let err = parse(1, body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
        assert_eq!(path(2), "/sites/2/environmental-benefits");
    }
}
