//! JSON rendering of V2 bodies: wire rounding, the `period` and `values` of a series, and
//! the overview, alert and device objects, shared by the operations and `/_sim/truth`.
//!
//! It decides shapes and field names, not outcomes: it must not validate parameters or
//! choose a status code.

use super::App;
use crate::gen::{self, Metric};
use crate::scenario::SiteSpec;
use crate::time::{self, Res};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// Round for the wire: energy and power carry float noise in the real API, but a stable
/// representation keeps responses reproducible.
pub(super) fn wire(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

impl App {
    /// The `period` object: the request's window, `to` clipped to now (then with nine
    /// fraction digits). For TOTAL it is the span actually covered, from the installation
    /// at the earliest: the V1 `dataPeriod` replacement (reference §7.4, §10).
    pub(super) fn period(&self, idx: usize, res: Res, span: Span) -> Value {
        let Span { from, to, now } = span;
        let tz = self.spec(idx).tz();
        let from = match res {
            Res::Total => {
                let lo = from.max(self.models[idx].lock().expect("model lock").install);
                if lo < to.min(now) {
                    lo
                } else {
                    from
                }
            }
            _ => from,
        };
        let to_s = if to >= now {
            time::fmt_local_nanos(now, tz)
        } else {
            time::fmt_local(to, tz)
        };
        json!({"from": time::fmt_local(from, tz), "to": to_s})
    }

    /// The `values` array of one series, scaled by `factor` (base units per wire unit).
    pub(super) fn values(
        &self,
        idx: usize,
        metric: Metric,
        res: Res,
        span: Span,
        factor: f64,
    ) -> Value {
        let Span { from, to, now } = span;
        let tz = self.spec(idx).tz();
        let mut model = self.models[idx].lock().expect("model lock");
        if res == Res::Total {
            let (lo, hi, v) = model.total(metric, from, to, now);
            // No data, or a window entirely before installation or after now: no bucket.
            if !model.spec.has_data() || lo >= hi {
                return json!([]);
            }
            return json!([{"timestamp": time::fmt_local(time::trunc_secs(lo), tz), "value": v.map(|v| wire(v / factor))}]);
        }
        let buckets = model.series(metric, res, from, to, now);
        Value::Array(
            buckets
                .into_iter()
                .map(|b| json!({"timestamp": time::fmt_local(b.stamp, tz), "value": b.value.map(|v| wire(v / factor))}))
                .collect(),
        )
    }
}

/// A request window answered at `now`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    pub(super) now: DateTime<Utc>,
}

pub(super) fn overview_json(s: &SiteSpec, sums: &gen::OverviewSums) -> Value {
    let metered = s.has_consumption_meter();
    let battery = s.battery.is_some();
    let opt = |cond: bool, v: f64| {
        if cond && sums.any {
            json!(wire(v))
        } else {
            Value::Null
        }
    };
    json!({
        "siteId": s.id,
        "production": {
            "total": opt(true, sums.production / 1000.0),
            "unit": "KWH",
            "toSelfConsumption": opt(metered, sums.self_use / 1000.0),
            "toStorage": opt(metered && battery, sums.to_storage / 1000.0),
            "toGrid": opt(metered, sums.export / 1000.0),
        },
        "consumption": {
            "total": opt(metered, sums.load),
            "unit": "WH",
            "fromPv": opt(metered, sums.self_use),
            "fromStorage": opt(metered && battery, sums.from_storage),
            "fromGrid": opt(metered, sums.import),
        },
    })
}

pub(super) fn alert_json(a: &gen::AlertRec) -> Value {
    json!({
        "alertId": a.alert_id,
        "siteId": a.site_id,
        "type": a.alert_type,
        "category": a.category,
        "impact": a.impact,
        "status": if a.open { "OPEN" } else { "CLOSED" },
        "firstTrigger": time::fmt_utc(a.first),
        "lastTrigger": time::fmt_utc(a.last),
        "component": {"name": a.component_name, "serialNumber": a.component_serial},
        "errorCodes": a.error_codes,
    })
}

/// Every device of a site, all eight types, in the union of fields seen live (§8.8).
pub(super) fn device_list(s: &SiteSpec, start: DateTime<Utc>) -> Vec<Value> {
    let tz = s.tz();
    let created = time::fmt_local(s.installation(start) + Duration::hours(10), tz);
    let mut out = Vec::new();
    for (j, inv) in s.inverters.iter().enumerate() {
        out.push(json!({
            "type": "INVERTER", "serialNumber": inv.serial, "name": format!("Inverter {}", j + 1),
            "manufacturer": "SolarEdge", "model": inv.model, "partNumber": inv.part_number,
            "firmwareVersion": "4.25.13", "firmware": "CPU 0004.0025.0013 DSP1 0001.0210.0014",
            "createdAt": created, "connectedTo": null, "connectedToName": null, "active": true,
            "communicationType": inv.communication, "nameplate": null, "form": null,
            "connectedOptimizers": inv.optimizers,
        }));
        for k in 0..inv.optimizers {
            out.push(json!({
                "type": "OPTIMIZER", "serialNumber": format!("{}-OP{:02}", inv.serial.split('-').next().unwrap_or("OPT"), k + 1),
                "name": format!("Optimizer {}.{}", j + 1, k + 1), "manufacturer": "SolarEdge", "model": "S440",
                "partNumber": "S440-1GM4MRM", "firmwareVersion": null, "createdAt": created,
                "connectedTo": inv.serial, "connectedToName": format!("Inverter {}", j + 1), "active": true,
                "communicationType": null, "nameplate": 440, "form": null,
            }));
        }
    }
    if let Some(b) = &s.battery {
        out.push(json!({
            "type": "BATTERY", "serialNumber": b.serial, "name": "Battery 1", "manufacturer": "SolarEdge",
            "model": b.model, "partNumber": null, "firmwareVersion": "2.1.7", "createdAt": created,
            "connectedTo": b.connected_to, "connectedToName": "Inverter 1", "active": true,
            "communicationType": "RS485", "nameplate": b.capacity_kwh * 1000.0, "form": null,
        }));
        for k in 0..b.modules {
            out.push(json!({
                "type": "BATTERY_MODULE", "serialNumber": format!("{}-M{}", b.serial, k + 1),
                "name": format!("Battery Module {}", k + 1), "manufacturer": "SolarEdge", "model": "BAT-M-4.6",
                "createdAt": created, "connectedTo": b.serial, "connectedToName": "Battery 1", "active": true,
            }));
        }
    }
    for m in &s.meters {
        out.push(json!({
            "type": "METER", "serialNumber": m.serial, "name": m.name, "manufacturer": if m.serial.is_some() { json!("SolarEdge") } else { Value::Null },
            "model": m.model, "createdAt": created, "connectedTo": m.connected_to,
            "connectedToName": m.connected_to.as_ref().map(|_| "Inverter 1"), "active": true,
            "communicationType": if m.serial.is_some() { json!("RS485") } else { Value::Null },
            "meterType": m.kind.wire(),
        }));
    }
    for d in &s.extra_devices {
        out.push(json!({
            "type": d.device_type, "serialNumber": d.serial, "name": d.name, "manufacturer": "SolarEdge",
            "model": d.model, "createdAt": created, "connectedTo": d.connected_to, "active": true,
        }));
    }
    out
}
