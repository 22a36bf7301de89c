//! Device telemetry: which series each inverter, meter and battery offers
//! (`telemetry_devices`, also read by `/_sim/truth`), the bulk `/{family}/telemetry`
//! operations and the per-device `/{family}/{sn}/{metric}` ones.
//!
//! Like the other operations these run after authentication and accounting: they must not
//! check credentials or spend credits, and they leave parameters to `params` and the series
//! bodies to `render`.

use super::params::{energy_unit, kebab_to_camel, power_unit};
use super::render::Span;
use super::{bad_request, not_found, App, Handled, SoeScale};
use crate::gen::{self, Metric};
use crate::http::{Request, Response};
use crate::time::Res;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One series a device offers: (wire name, metric, wire unit, base units per wire unit).
type SeriesDef = (String, Metric, &'static str, f64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Inverters,
    Meters,
    Storage,
}

impl App {
    /// Bulk telemetry of one family (optionally a subset of batteries).
    pub(super) fn telemetry(
        &self,
        idx: usize,
        req: &Request,
        now: DateTime<Utc>,
        family: Family,
        subset: Option<&str>,
    ) -> Handled {
        let allowed: &[Res] = match family {
            Family::Inverters => &Res::ALL,
            _ => &[
                Res::QuarterHour,
                Res::Hour,
                Res::Day,
                Res::Week,
                Res::Month,
                Res::Year,
            ],
        };
        let res = Self::resolution(req, allowed)?;
        let (from, to, explicit) = self.window(idx, req, now)?;
        self.check_window(idx, res, from, to, explicit)?;
        let mut devices = serde_json::Map::new();
        for (key, metrics) in self.telemetry_devices(idx, family) {
            if let Some(sns) = subset {
                if !sns.split(',').any(|s| s == key) {
                    continue;
                }
            }
            let mut series = serde_json::Map::new();
            for (name, metric, unit, factor) in metrics {
                if !metric.supports(res)
                    || (res == Res::Total && !matches!(metric, Metric::InverterEnergy(_)))
                {
                    continue;
                }
                series.insert(
                    name,
                    json!({"unit": unit, "resolution": res.wire(), "values": self.values(idx, metric, res, Span { from, to, now }, factor)}),
                );
            }
            devices.insert(key, Value::Object(series));
        }
        if let Some(sns) = subset {
            if devices.len() != sns.split(',').count() {
                return Err(Response::problem(
                    404,
                    "Not Found",
                    "Unknown storage serial number",
                ));
            }
        }
        let name = match family {
            Family::Inverters => "inverters",
            Family::Meters => "meters",
            Family::Storage => "storage",
        };
        Ok(Response::json(
            200,
            &json!({"period": self.period(idx, res, Span { from, to, now }), "resolution": res.wire(), name: devices}),
        ))
    }

    /// The devices of a family with their series: (key, [(wire name, metric, unit, factor)]).
    pub(super) fn telemetry_devices(
        &self,
        idx: usize,
        family: Family,
    ) -> Vec<(String, Vec<SeriesDef>)> {
        let s = self.spec(idx);
        let soe = match self.opts.soe_scale {
            SoeScale::Fraction => 1.0,
            SoeScale::Percent => 0.01,
        };
        match family {
            Family::Inverters => s
                .inverters
                .iter()
                .enumerate()
                .map(|(j, inv)| {
                    let mut series: Vec<SeriesDef> = vec![
                        ("power".into(), Metric::InverterPower(j), "KW", 1000.0),
                        ("energy".into(), Metric::InverterEnergy(j), "WH", 1.0),
                        ("voltage".into(), Metric::InverterVoltage(j), "VOLT", 1.0),
                        ("current".into(), Metric::InverterCurrent(j), "AMPERE", 1.0),
                        (
                            "frequency".into(),
                            Metric::InverterFrequency(j),
                            "HERTZ",
                            1.0,
                        ),
                    ];
                    if self.opts.inverter_consumption {
                        // Units as in the live-looking body: W, not the KW of `power`.
                        series.push((
                            "consumedAcPower".into(),
                            Metric::InverterConsumedPower(j),
                            "W",
                            1.0,
                        ));
                        series.push((
                            "consumedAcEnergy".into(),
                            Metric::InverterConsumedEnergy(j),
                            "WH",
                            1.0,
                        ));
                    }
                    (inv.serial.clone(), series)
                })
                .collect(),
            Family::Meters => {
                let mut out: Vec<(String, Vec<SeriesDef>)> = Vec::new();
                for m in &s.meters {
                    let Some(prefix) = m.kind.metric_prefix() else {
                        continue;
                    };
                    let key = m.telemetry_key();
                    let entry = match out.iter().position(|(k, _)| *k == key) {
                        Some(p) => &mut out[p].1,
                        None => {
                            out.push((key, Vec::new()));
                            &mut out.last_mut().expect("just pushed").1
                        }
                    };
                    entry.push((
                        format!("{prefix}Power"),
                        Metric::MeterPower(m.kind),
                        "W",
                        1.0,
                    ));
                    entry.push((
                        format!("{prefix}Energy"),
                        Metric::MeterEnergy(m.kind),
                        "WH",
                        1.0,
                    ));
                }
                out
            }
            Family::Storage => s
                .battery
                .iter()
                .map(|b| {
                    (
                        b.serial.clone(),
                        vec![
                            ("chargePower".into(), Metric::ChargePower, "W", 1.0),
                            ("dischargePower".into(), Metric::DischargePower, "W", 1.0),
                            ("chargeEnergy".into(), Metric::ChargeEnergy, "WH", 1.0),
                            ("dischargeEnergy".into(), Metric::DischargeEnergy, "WH", 1.0),
                            (
                                "remainingEnergy".into(),
                                Metric::RemainingEnergy,
                                "KWH",
                                1000.0,
                            ),
                            (
                                "stateOfEnergy".into(),
                                Metric::StateOfEnergy,
                                "PERCENTAGE",
                                soe,
                            ),
                        ],
                    )
                })
                .collect(),
        }
    }

    /// `/inverters/{sn}/{metric}`, `/meters/{sn}/{metric}`, `/storage/{sn}/{metric}`.
    pub(super) fn device_metric(
        &self,
        idx: usize,
        req: &Request,
        now: DateTime<Utc>,
        family: Family,
        sn: &str,
        metric: &str,
    ) -> Handled {
        // Map the kebab-case path metric to the bulk series name.
        let wanted = kebab_to_camel(metric);
        let devices = self.telemetry_devices(idx, family);
        let Some((_, series)) = devices.iter().find(|(k, _)| k == sn) else {
            return Err(Response::problem(404, "Not Found", "Unknown serial number"));
        };
        let Some((_, m, unit, factor)) = series.iter().find(|(n, ..)| *n == wanted) else {
            return Err(not_found());
        };
        let res = Self::resolution(req, &Res::ALL)?;
        if !m.supports(res) || res == Res::Total && !matches!(m, Metric::InverterEnergy(_)) {
            return Err(bad_request(format!(
                "Resolution {} is not supported for {metric}",
                res.wire()
            )));
        }
        let (from, to, explicit) = self.window(idx, req, now)?;
        self.check_window(idx, res, from, to, explicit)?;
        let (unit, factor) = match (req.query_one("unit"), m.agg()) {
            (Some(u), gen::Agg::Sum) if *unit == "WH" || *unit == "KWH" => energy_unit(u)?,
            (Some(u), gen::Agg::Mean) if *unit == "KW" || *unit == "W" => power_unit(u)?,
            _ => (*unit, *factor),
        };
        Ok(Response::json(
            200,
            &json!({
                "period": self.period(idx, res, Span { from, to, now }),
                "unit": unit,
                "resolution": res.wire(),
                "values": self.values(idx, *m, res, Span { from, to, now }, factor),
            }),
        ))
    }
}
