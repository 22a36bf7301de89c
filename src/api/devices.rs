//! `GET /sites/{id}/devices`: the inventory (inverters, batteries, meters, optimizers, ...).
//!
//! The response is a bare array of devices. Every device is also kept whole as `raw_json`,
//! so fields we do not model (`firmware`, `nameplate`, `connectedOptimizers`, `form`, and
//! whatever appears later) are not lost. The server defaults to inverters only, so the query
//! always lists all eight types, as repeated `types` keys. Pure, no IO.

use serde_json::Value;

use super::json::{from_body, object, opt_bool, opt_str};
use super::ParseError;
use crate::model::{Device, SiteId};

/// Every device type V2 knows (S2 enum).
pub const ALL_TYPES: [&str; 8] = [
    "INVERTER",
    "BATTERY",
    "BATTERY_MODULE",
    "OPTIMIZER",
    "METER",
    "EV_CHARGER",
    "BUI",
    "GATEWAY",
];

/// `/sites/{id}/devices`.
pub fn path(site_id: SiteId) -> String {
    format!("/sites/{site_id}/devices")
}

/// `types=INVERTER&types=BATTERY&...` for all eight types.
pub fn query() -> Vec<(&'static str, String)> {
    query_types(&ALL_TYPES)
}

/// Repeated `types` keys for the given types.
pub fn query_types(types: &[&str]) -> Vec<(&'static str, String)> {
    types.iter().map(|t| ("types", t.to_string())).collect()
}

/// Parses the device array. `type` is required; everything else is optional.
pub fn parse(site_id: SiteId, body: &str) -> Result<Vec<Device>, ParseError> {
    let items: Vec<Value> = from_body("devices", body)?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| device(site_id, &format!("devices[{i}]"), item))
        .collect()
}

fn device(site_id: SiteId, ctx: &str, v: &Value) -> Result<Device, ParseError> {
    let o = object(ctx, v)?;
    let device_type =
        opt_str(ctx, o, "type")?.ok_or_else(|| ParseError::new(format!("{ctx}.type: missing")))?;
    Ok(Device {
        site_id,
        device_type,
        serial_number: opt_str(ctx, o, "serialNumber")?,
        name: opt_str(ctx, o, "name")?,
        manufacturer: opt_str(ctx, o, "manufacturer")?,
        model: opt_str(ctx, o, "model")?,
        part_number: opt_str(ctx, o, "partNumber")?,
        firmware_version: opt_str(ctx, o, "firmwareVersion")?,
        connected_to: opt_str(ctx, o, "connectedTo")?,
        connected_to_name: opt_str(ctx, o, "connectedToName")?,
        active: opt_bool(ctx, o, "active")?,
        communication_type: opt_str(ctx, o, "communicationType")?,
        meter_type: opt_str(ctx, o, "meterType")?,
        created_at: opt_str(ctx, o, "createdAt")?,
        raw_json: v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_raw_json() {
        let body = r#"[{"type":"INVERTER","serialNumber":"AB12CD34-56","name":"Inverter 1",
            "manufacturer":"SolarEdge","model":"SE8K","partNumber":"SE8K-RW0TEBEN4",
            "firmwareVersion":"4.25.13","firmware":"CPU 4.25.13 DSP1 1.13.2","createdAt":"2022-03-01T09:15:00+01:00",
            "connectedTo":null,"connectedToName":null,"active":true,"communicationType":"ETHERNET",
            "nameplate":8000,"form":null,"connectedOptimizers":22,"futureField":{"x":1}}]"#;
        let d = &parse(3, body).unwrap()[0];
        assert_eq!(d.site_id, 3);
        assert_eq!(d.device_type, "INVERTER");
        assert_eq!(d.serial_number.as_deref(), Some("AB12CD34-56"));
        assert_eq!(d.part_number.as_deref(), Some("SE8K-RW0TEBEN4"));
        assert_eq!(d.firmware_version.as_deref(), Some("4.25.13"));
        assert_eq!(d.created_at.as_deref(), Some("2022-03-01T09:15:00+01:00"));
        assert_eq!(d.active, Some(true));
        assert_eq!(d.communication_type.as_deref(), Some("ETHERNET"));
        assert_eq!(d.connected_to, None);
        let raw: Value = serde_json::from_str(&d.raw_json).unwrap();
        assert_eq!(raw["connectedOptimizers"], 22);
        assert_eq!(raw["futureField"]["x"], 1);
        assert_eq!(raw["firmware"], "CPU 4.25.13 DSP1 1.13.2");
    }

    #[test]
    fn virtual_and_shared_serial_meters() {
        let body = r#"[
            {"type":"METER","serialNumber":null,"name":"Site Consumption","meterType":"Consumption","active":true},
            {"type":"METER","serialNumber":"900123","name":"Grid In","meterType":"Purchased","connectedTo":"AB12CD34-56"},
            {"type":"METER","serialNumber":900123,"name":"Grid Out","meterType":"FeedIn"}]"#;
        let ds = parse(3, body).unwrap();
        assert_eq!(ds[0].serial_number, None);
        assert_eq!(ds[0].device_key(), "METER|-|Site Consumption");
        assert_eq!(
            ds[2].serial_number.as_deref(),
            Some("900123"),
            "numeric serial"
        );
        assert_ne!(ds[1].device_key(), ds[2].device_key());
        assert_eq!(ds[1].connected_to.as_deref(), Some("AB12CD34-56"));
        assert_eq!(ds[1].meter_type.as_deref(), Some("Purchased"));
    }

    #[test]
    fn empty_and_bad() {
        assert!(parse(1, "[]").unwrap().is_empty());
        let cases = [
            ("", "devices: empty body"),
            ("{}", "devices: invalid type"),
            ("[{\"type\":", "devices: EOF"),
            (r#"[{"serialNumber":"x"}]"#, "devices[0].type: missing"),
            (
                r#"[{"type":"METER","active":3}]"#,
                "devices[0].active: expected a boolean",
            ),
            ("[7]", "devices[0]: expected an object"),
        ];
        for (body, want) in cases {
            let err = parse(1, body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
        }
    }

    #[test]
    fn query_repeats_types() {
        let q = query();
        assert_eq!(q.len(), 8);
        assert!(q.iter().all(|(k, _)| *k == "types"));
        assert_eq!(
            crate::api::encode_query(&q[..2]),
            "types=INVERTER&types=BATTERY"
        );
        assert_eq!(path(12), "/sites/12/devices");
    }
}
