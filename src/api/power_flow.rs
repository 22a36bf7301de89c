//! `GET /sites/{id}/power-flow` (Advanced tier; 403 below Business Pro): the one
//! instantaneous reading in V2.
//!
//! Shape `{updatedAt, unit, pv{active,power}, load{…}, storage{active,power,status,chargeLevel},
//! grid{active,power,status}}`; power is scaled by `unit` (W, KW, ...) to W, `chargeLevel` is
//! kept raw (a percentage). Pure, no IO.

use serde_json::{Map, Value};

use super::json::{from_body, object, opt_bool, opt_f64, opt_str};
use super::{units, ParseError};
use crate::model::{FlowNode, PowerFlow, SiteId};

/// `/sites/{id}/power-flow`.
pub fn path(site_id: SiteId) -> String {
    format!("/sites/{site_id}/power-flow")
}

pub fn parse(site_id: SiteId, body: &str) -> Result<PowerFlow, ParseError> {
    let v: Value = from_body("power-flow", body)?;
    let ctx = "power-flow";
    let o = object(ctx, &v)?;
    let api_unit = opt_str(ctx, o, "unit")?;
    let (factor, _) = units::normalise_opt(api_unit.as_deref());
    Ok(PowerFlow {
        site_id,
        updated_at: opt_str(ctx, o, "updatedAt")?,
        pv: node(o, "pv", factor)?,
        load: node(o, "load", factor)?,
        storage: node(o, "storage", factor)?,
        grid: node(o, "grid", factor)?,
        api_unit,
    })
}

fn node(parent: &Map<String, Value>, key: &str, factor: f64) -> Result<FlowNode, ParseError> {
    let ctx = format!("power-flow.{key}");
    let o = match parent.get(key) {
        None | Some(Value::Null) => return Ok(FlowNode::default()),
        Some(v) => object(&ctx, v)?,
    };
    Ok(FlowNode {
        active: opt_bool(&ctx, o, "active")?,
        power_w: opt_f64(&ctx, o, "power")?.map(|p| p * factor),
        status: opt_str(&ctx, o, "status")?,
        charge_level: opt_f64(&ctx, o, "chargeLevel")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kw_flow_scaled_to_w() {
        let body = r#"{"updatedAt":"2026-07-01T12:00:05+02:00","unit":"KW",
            "pv":{"active":true,"power":5.5},"load":{"active":true,"power":1.25},
            "storage":{"active":true,"power":2,"status":"CHARGE","chargeLevel":64},
            "grid":{"active":false,"power":0,"status":"EXPORT"}}"#;
        let f = parse(6, body).unwrap();
        assert_eq!(f.api_unit.as_deref(), Some("KW"));
        assert_eq!(f.updated_at.as_deref(), Some("2026-07-01T12:00:05+02:00"));
        assert_eq!(f.pv.power_w, Some(5500.0));
        assert_eq!(f.load.power_w, Some(1250.0));
        assert_eq!(f.storage.status.as_deref(), Some("CHARGE"));
        assert_eq!(f.storage.charge_level, Some(64.0), "not scaled");
        assert_eq!(f.grid.active, Some(false));
    }

    #[test]
    fn w_flow_with_missing_nodes() {
        let f = parse(
            6,
            r#"{"unit":"W","pv":{"active":true,"power":20},"grid":null}"#,
        )
        .unwrap();
        assert_eq!(f.pv.power_w, Some(20.0));
        assert_eq!(f.storage, FlowNode::default());
        assert_eq!(f.grid, FlowNode::default());
    }

    #[test]
    fn bad_bodies() {
        let cases = [
            ("", "power-flow: empty body"),
            ("{\"pv\":{", "power-flow: EOF"),
            (r#"{"pv":[1]}"#, "power-flow.pv: expected an object"),
            (
                r#"{"pv":{"power":"high"}}"#,
                "power-flow.pv.power: expected a number",
            ),
        ];
        for (body, want) in cases {
            let err = parse(1, body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
        assert_eq!(path(1), "/sites/1/power-flow");
    }
}
