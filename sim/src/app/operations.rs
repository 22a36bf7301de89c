//! The site-level V2 operations, dispatched by `site_route` from the tail of a
//! `/v2/sites/{id}/...` path, plus the fleet ones `route` sends here: `/sites`, site
//! details, energy and power, overview, environmental benefits, lifetime energy, devices,
//! alerts (site and fleet) and power flow. Device telemetry lives in `telemetry`.
//!
//! The caller is already authenticated, admitted and authorized for the site when these
//! run. They must not check credentials or spend credits, and they leave parameter parsing
//! to `params` and body shapes shared with `/_sim/truth` to `render`.

use super::params::{energy_unit, parse_int, power_unit};
use super::render::{alert_json, device_list, overview_json, wire, Span};
use super::telemetry::Family;
use super::{bad_request, forbidden, not_found, App, Handled, SitesCount, SitesShape};
use crate::gen::{self, Metric};
use crate::http::{Request, Response};
use crate::scenario::{MeterKind, SiteSpec};
use crate::time::{self, Res};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

impl App {
    pub(super) fn site_route(
        &self,
        idx: usize,
        tail: &[&str],
        req: &Request,
        now: DateTime<Utc>,
    ) -> Handled {
        match tail {
            [] => Ok(self.site_details(idx, now)),
            ["overview"] => self.overview(idx, req, now),
            ["energy"] => self.site_series(idx, req, now, true),
            ["power"] => self.site_series(idx, req, now, false),
            ["environmental-benefits"] => self.benefits(idx, req, now),
            ["lifetime-energy"] => Ok(self.lifetime(idx, now)),
            ["devices"] => self.devices(idx, req),
            ["alerts"] => self.site_alerts(idx, req, now),
            ["power-flow"] => self.power_flow(idx, now),
            ["inverters", "telemetry"] => self.telemetry(idx, req, now, Family::Inverters, None),
            ["meters", "telemetry"] => self.telemetry(idx, req, now, Family::Meters, None),
            ["storage", "telemetry"] => self.telemetry(idx, req, now, Family::Storage, None),
            ["storage", sns, "telemetry"] => {
                self.telemetry(idx, req, now, Family::Storage, Some(sns))
            }
            ["inverters", sn, metric] => {
                self.device_metric(idx, req, now, Family::Inverters, sn, metric)
            }
            ["meters", sn, metric] => self.device_metric(idx, req, now, Family::Meters, sn, metric),
            ["storage", sn, metric] => {
                self.device_metric(idx, req, now, Family::Storage, sn, metric)
            }
            _ => Err(not_found()),
        }
    }

    /// Whether the API keys may read site `id` (see [`super::SimOptions::key_sites`]).
    pub(super) fn key_sees(&self, id: i64) -> bool {
        self.opts.key_sites.as_ref().is_none_or(|v| v.contains(&id))
    }

    pub(super) fn sites_list(&self, req: &Request) -> Handled {
        let page = parse_int(req, "page", 1, 1, i64::MAX)?;
        let size = parse_int(req, "sites-in-page", 50, 1, 1000)?;
        let sites: Vec<&SiteSpec> = (self.opts.scenario.sites.iter())
            .filter(|s| self.key_sees(s.id))
            .collect();
        let start = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
        let items: Vec<Value> = sites
            .iter()
            .skip(start)
            .take(size as usize)
            .map(|s| {
                json!({
                    "siteId": s.id,
                    "name": s.name,
                    "peakPower": s.peak_kw,
                    "installationDate": time::fmt_utc(s.installation(self.opts.start)),
                    "location": {"address": s.address, "city": s.city, "state": s.state, "zip": s.zip, "country": s.country},
                    "activationStatus": self.opts.status_case.spell(&s.activation_status),
                    "note": s.note,
                })
            })
            .collect();
        let body = match self.opts.sites_shape {
            SitesShape::Bare => Value::Array(items),
            SitesShape::Wrapped => {
                let count = match self.opts.sites_count {
                    SitesCount::Total => sites.len(),
                    SitesCount::Page => items.len(),
                };
                json!({"sites": {"count": count, "site": items}})
            }
        };
        Ok(Response::json(200, &body))
    }

    fn site_details(&self, idx: usize, now: DateTime<Utc>) -> Response {
        let s = self.spec(idx);
        let tz = s.tz();
        let last = self.models[idx]
            .lock()
            .expect("model lock")
            .last_update(now);
        let mut location = json!({"address": s.address, "city": s.city, "state": s.state, "zip": s.zip, "country": s.country});
        if !self.opts.omit_timezone {
            location["timezone"] = s.timezone.clone().into();
        }
        Response::json(
            200,
            &json!({
                "siteId": s.id,
                "name": s.name,
                "accountId": s.account_id,
                "peakPower": s.peak_kw,
                "installationDate": time::fmt_local(s.installation(self.opts.start), tz),
                "lastUpdateTime": last.map(|t| time::fmt_local(t, tz)),
                "location": location,
                "activationStatus": self.opts.status_case.spell(&s.activation_status),
                "note": s.note,
            }),
        )
    }

    fn site_series(&self, idx: usize, req: &Request, now: DateTime<Utc>, energy: bool) -> Handled {
        let allowed: &[Res] = if energy {
            &Res::ALL
        } else {
            &[Res::QuarterHour, Res::Hour]
        };
        let res = Self::resolution(req, allowed)?;
        let (from, to, explicit) = self.window(idx, req, now)?;
        self.check_window(idx, res, from, to, explicit)?;
        let (unit, factor) = if energy {
            energy_unit(req.query_one("unit").unwrap_or("WH"))?
        } else {
            power_unit(req.query_one("unit").unwrap_or("W"))?
        };
        let metric = if energy {
            Metric::SiteEnergy
        } else {
            Metric::SitePower
        };
        Ok(Response::json(
            200,
            &json!({
                "period": self.period(idx, res, Span { from, to, now }),
                "unit": unit,
                "resolution": res.wire(),
                "values": self.values(idx, metric, res, Span { from, to, now }, factor),
            }),
        ))
    }

    fn overview(&self, idx: usize, req: &Request, now: DateTime<Utc>) -> Handled {
        let (from, to, _) = self.window(idx, req, now)?;
        let s = self.spec(idx);
        let sums = self.models[idx]
            .lock()
            .expect("model lock")
            .overview(from, to, now);
        Ok(Response::json(200, &overview_json(s, &sums)))
    }

    fn benefits(&self, idx: usize, req: &Request, now: DateTime<Utc>) -> Handled {
        let unit = req.query_one("unit").unwrap_or("METRIC");
        if unit != "METRIC" && unit != "IMPERIAL" {
            return Err(bad_request(format!("Invalid unit '{unit}'")));
        }
        let (kg, km) = self.benefits_metric(idx, now);
        let (co2, ev) = if unit == "METRIC" {
            (kg, km)
        } else {
            (kg * 2.204_62, km / 1.609_344)
        };
        Ok(Response::json(
            200,
            &json!({"co2Emissions": wire(co2), "evMiles": wire(ev), "unit": unit}),
        ))
    }

    /// Lifetime CO2 avoided (kg) and EV distance (km) from lifetime production.
    pub fn benefits_metric(&self, idx: usize, now: DateTime<Utc>) -> (f64, f64) {
        let install = self.models[idx].lock().expect("model lock").install;
        let (_, _, wh) = self.models[idx].lock().expect("model lock").total(
            Metric::SiteEnergy,
            install,
            now,
            now,
        );
        let kwh = wh.unwrap_or(0.0) / 1000.0;
        (kwh * 0.392, kwh * 6.0)
    }

    fn lifetime(&self, idx: usize, now: DateTime<Utc>) -> Response {
        let mut m = self.models[idx].lock().expect("model lock");
        let install = m.install;
        let (_, _, wh) = m.total(Metric::SiteEnergy, install, now, now);
        Response::json(
            200,
            &json!({"energy": wh.map(wire).unwrap_or(0.0), "unit": "WH"}),
        )
    }

    fn devices(&self, idx: usize, req: &Request) -> Handled {
        const TYPES: [&str; 8] = [
            "INVERTER",
            "BATTERY",
            "BATTERY_MODULE",
            "OPTIMIZER",
            "METER",
            "EV_CHARGER",
            "BUI",
            "GATEWAY",
        ];
        let mut wanted: Vec<&str> = req.query_all("types");
        if wanted.is_empty() {
            wanted.push("INVERTER");
        }
        for t in &wanted {
            if !TYPES.contains(t) {
                return Err(bad_request(format!("Invalid device type '{t}'")));
            }
        }
        let all = device_list(self.spec(idx), self.opts.start);
        let out: Vec<Value> = all
            .into_iter()
            .filter(|d| wanted.contains(&d["type"].as_str().unwrap_or("")))
            .collect();
        Ok(Response::json(200, &Value::Array(out)))
    }

    fn alert_params(req: &Request) -> Result<(bool, i64, i64), Response> {
        let only_open = match req.query_one("only-open") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(bad_request(format!(
                    "Invalid value '{other}' for only-open"
                )))
            }
        };
        let page = parse_int(req, "page", 1, 1, i64::MAX)?;
        let size = parse_int(req, "alerts-in-page", 50, 1, 100)?;
        Ok((only_open, page, size))
    }

    fn alert_page(
        &self,
        mut all: Vec<gen::AlertRec>,
        only_open: bool,
        page: i64,
        size: i64,
    ) -> Response {
        if only_open {
            all.retain(|a| a.open);
        }
        let items: Vec<Value> = all
            .iter()
            .skip(usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX))
            .take(size as usize)
            .map(alert_json)
            .collect();
        Response::json(200, &Value::Array(items))
    }

    fn site_alerts(&self, idx: usize, req: &Request, now: DateTime<Utc>) -> Handled {
        let (only_open, page, size) = Self::alert_params(req)?;
        let all = gen::alerts(&self.models[idx].lock().expect("model lock"), now);
        Ok(self.alert_page(all, only_open, page, size))
    }

    pub(super) fn fleet_alerts(&self, req: &Request, now: DateTime<Utc>) -> Handled {
        let (only_open, page, size) = Self::alert_params(req)?;
        let mut all: Vec<gen::AlertRec> = (self.models.iter())
            .zip(&self.opts.scenario.sites)
            .filter(|(_, s)| self.key_sees(s.id))
            .flat_map(|(m, _)| gen::alerts(&m.lock().expect("model lock"), now))
            .collect();
        all.sort_by(|a, b| b.first.cmp(&a.first).then(a.alert_id.cmp(&b.alert_id)));
        Ok(self.alert_page(all, only_open, page, size))
    }

    fn power_flow(&self, idx: usize, now: DateTime<Utc>) -> Handled {
        if !self.opts.advanced {
            return Err(forbidden(
                "This operation is not available in your API tier. Upgrade to Business Pro or Enterprise",
            ));
        }
        let s = self.spec(idx);
        let live = self.models[idx].lock().expect("model lock").live(now);
        let q = live.unwrap_or_default();
        let pv = q.pv.unwrap_or(0.0) * 4.0;
        let load = q.load * 4.0;
        let charge = (q.to_storage - q.from_storage) * 4.0;
        let grid = (q.import - q.export) * 4.0;
        let storage = match &s.battery {
            None => json!({"active": false, "power": 0.0, "status": "IDLE", "chargeLevel": null}),
            Some(b) => json!({
                "active": live.is_some(),
                "power": wire(charge.abs()),
                "status": if charge > 0.0 { "CHARGE" } else if charge < 0.0 { "DISCHARGE" } else { "IDLE" },
                "chargeLevel": (q.remaining / (b.capacity_kwh * 10.0)).round(),
            }),
        };
        Ok(Response::json(
            200,
            &json!({
                "updatedAt": time::fmt_local(time::trunc_secs(now), s.tz()),
                "unit": "W",
                "pv": {"active": pv > 0.0, "power": wire(pv)},
                "load": {"active": live.is_some(), "power": wire(load)},
                "storage": storage,
                "grid": {"active": live.is_some(), "power": wire(grid.abs()), "status": if grid > 0.0 { "IMPORT" } else if grid < 0.0 { "EXPORT" } else { "IDLE" }},
            }),
        ))
    }
}

/// Site-level meter kinds that have a series, used by tests.
pub fn meter_kinds(s: &SiteSpec) -> Vec<MeterKind> {
    s.meters.iter().map(|m| m.kind).collect()
}
