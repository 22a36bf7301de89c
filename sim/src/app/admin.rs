//! The `/_sim/*` control endpoints tests drive the simulator with: stats, the virtual clock,
//! faults, limits, window profiles, OAuth grants, and `/_sim/truth` (what a harvester
//! should hold after reading the API).
//!
//! Admin calls skip authentication and accounting. They must change V2 answers only through
//! those knobs, and truth must read the same site models and series definitions as the
//! operations (through `telemetry` and `render`), never a copy of their logic.

use super::render::{alert_json, overview_json, wire};
use super::telemetry::Family;
use super::{bad_request, not_found, parse_body, App};
use crate::gen::{self, Metric};
use crate::http::{Request, Response};
use crate::time::{self, Res};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};

impl App {
    pub(super) fn admin(&self, what: &str, req: &Request) -> Response {
        let body = parse_body(req);
        match (req.method.as_str(), what) {
            ("GET", "stats") => {
                let now = self.clock.now();
                let acct = self.accounting.lock().expect("accounting lock");
                let mut v = acct.stats();
                v["credits_used_cycle"] = acct.credits_used(now).into();
                v["next_reset"] = time::fmt_utc(acct.next_reset(now)).into();
                v["now"] = time::fmt_utc(now).into();
                v["oauth"] =
                    json!({"refreshes": self.oauth.lock().expect("oauth lock").count_refreshes()});
                Response::json(200, &v)
            }
            ("GET", "clock") => self.clock_json(),
            ("POST", "clock") => {
                if let Some(t) = body.get("now").and_then(Value::as_str) {
                    match DateTime::parse_from_rfc3339(t) {
                        Ok(t) => self.clock.set(t.with_timezone(&Utc)),
                        Err(e) => return bad_request(format!("now: {e}")),
                    }
                }
                if let Some(s) = body.get("advance_secs").and_then(Value::as_i64) {
                    self.clock.advance(Duration::seconds(s));
                }
                if let Some(s) = body.get("speed").and_then(Value::as_f64) {
                    self.clock.set_speed(s);
                }
                self.clock_json()
            }
            ("GET", "faults") => {
                Response::json(200, &self.faults.lock().expect("faults lock").list())
            }
            ("POST", "faults") => {
                let mut faults = self.faults.lock().expect("faults lock");
                let added = match body.get("spec").and_then(Value::as_str) {
                    Some(spec) => faults.add_spec(spec),
                    None => crate::faults::Fault::from_json(&body).map(|f| faults.add(f)),
                };
                match added {
                    Ok(id) => Response::json(200, &json!({"id": id})),
                    Err(e) => bad_request(e),
                }
            }
            ("DELETE", "faults") => {
                self.faults.lock().expect("faults lock").clear();
                Response::json(200, &json!({}))
            }
            ("POST", "limits") => {
                let mut acct = self.accounting.lock().expect("accounting lock");
                let mut limits = acct.limits().clone();
                if let Some(n) = body.get("per_minute").and_then(Value::as_u64) {
                    limits.per_minute = n as u32;
                }
                if let Some(n) = body.get("monthly_credits").and_then(Value::as_u64) {
                    limits.monthly_credits = n;
                }
                if let Some(m) = body.get("credit_mode").and_then(Value::as_str) {
                    match crate::ratelimit::CreditMode::parse(m) {
                        Ok(m) => limits.credit_mode = m,
                        Err(e) => return bad_request(e),
                    }
                }
                if let Err(e) = limits.validate() {
                    return bad_request(e);
                }
                acct.set_limits(limits);
                Response::json(200, &json!({}))
            }
            ("POST", "windows") => {
                let mut w = self.windows.lock().expect("windows lock");
                if let Some(spec) = body.get("spec").and_then(Value::as_str) {
                    if let Err(e) = w.override_spec(spec) {
                        return bad_request(e);
                    }
                }
                Response::json(200, &w.to_json())
            }
            ("GET", "windows") => {
                Response::json(200, &self.windows.lock().expect("windows lock").to_json())
            }
            ("GET", "oauth/grants") => {
                Response::json(200, &self.oauth.lock().expect("oauth lock").grants_json())
            }
            ("GET", "truth") => match self.truth(req) {
                Ok(v) => Response::json(200, &v),
                Err(e) => e,
            },
            _ => not_found(),
        }
    }

    fn clock_json(&self) -> Response {
        Response::json(
            200,
            &json!({"now": time::fmt_utc(self.clock.now()), "speed": self.clock.speed()}),
        )
    }

    /// Ground truth: what a harvester should hold for `site`, `family`, `resolution` and
    /// [`from`, `to`) if it read the API at `as_of` (default now), in normalised units
    /// (W, Wh, V, A, Hz; `stateOfEnergy` on the wire scale), keyed like the wire.
    fn truth(&self, req: &Request) -> Result<Value, Response> {
        let site: i64 = req
            .query_one("site")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_request("site=ID is required"))?;
        let idx = self
            .site_index(site)
            .ok_or_else(|| bad_request("unknown site"))?;
        let now = match req.query_one("as_of") {
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map_err(|e| bad_request(format!("as_of: {e}")))?
                .with_timezone(&Utc),
            None => self.clock.now(),
        };
        let tz = self.spec(idx).tz();
        let install = self.models[idx].lock().expect("model lock").install;
        let from = match req.query_one("from") {
            Some(f) => time::parse_param(f, tz).map_err(bad_request)?,
            None => install,
        };
        let to = match req.query_one("to") {
            Some(t) => time::parse_param(t, tz).map_err(bad_request)?,
            None => now,
        };
        let family = req.query_one("family").unwrap_or("energy");
        let res = match req.query_one("resolution") {
            Some(r) => Res::parse(r).ok_or_else(|| bad_request("bad resolution"))?,
            None => Res::QuarterHour,
        };
        let mut rows = Vec::new();
        let push_series =
            |key: &str, name: &str, metric: Metric, factor_soe: f64, rows: &mut Vec<Value>| {
                if !metric.supports(res) {
                    return;
                }
                let mut model = self.models[idx].lock().expect("model lock");
                let buckets = if res == Res::Total {
                    let (lo, hi, v) = model.total(metric, from, to, now);
                    if model.spec.has_data() && lo < hi {
                        vec![gen::Bucket {
                            start: lo,
                            stamp: time::trunc_secs(lo),
                            value: v,
                        }]
                    } else {
                        Vec::new()
                    }
                } else {
                    model.series(metric, res, from, to, now)
                };
                for b in buckets {
                    rows.push(json!({
                        "device_key": key,
                        "metric": name,
                        "resolution": res.wire(),
                        "ts_utc": time::fmt_utc(b.stamp),
                        "utc_offset_min": time::offset_minutes(b.stamp, tz),
                        "value": b.value.map(|v| wire(v / factor_soe)),
                    }));
                }
            };
        match family {
            "energy" => push_series("", "energy", Metric::SiteEnergy, 1.0, &mut rows),
            "power" => push_series("", "power", Metric::SitePower, 1.0, &mut rows),
            "inverters" | "meters" | "storage" => {
                let fam = match family {
                    "inverters" => Family::Inverters,
                    "meters" => Family::Meters,
                    _ => Family::Storage,
                };
                for (key, metrics) in self.telemetry_devices(idx, fam) {
                    for (name, metric, _unit, factor) in metrics {
                        if res == Res::Total && !matches!(metric, Metric::InverterEnergy(_)) {
                            continue;
                        }
                        // Normalised units: only the ratio keeps its wire scale.
                        let f = if metric == Metric::StateOfEnergy {
                            factor
                        } else {
                            1.0
                        };
                        push_series(&key, &name, metric, f, &mut rows);
                    }
                }
            }
            "overview" => {
                let mut day = from.with_timezone(&tz).date_naive();
                let last: NaiveDate = (to - Duration::seconds(1)).with_timezone(&tz).date_naive();
                while day <= last {
                    let a = time::local_midnight(day, tz);
                    let b = time::local_midnight(day + Duration::days(1), tz);
                    let sums =
                        self.models[idx]
                            .lock()
                            .expect("model lock")
                            .overview(a, b.min(now), now);
                    let mut v = overview_json(self.spec(idx), &sums);
                    v["local_date"] = day.to_string().into();
                    rows.push(v);
                    day += Duration::days(1);
                }
            }
            "alerts" => {
                let model = self.models[idx].lock().expect("model lock");
                rows = gen::alerts(&model, now).iter().map(alert_json).collect();
            }
            "benefits" => {
                let (kg, km) = self.benefits_metric(idx, now);
                rows.push(json!({"co2_kg": wire(kg), "ev_km": wire(km)}));
            }
            other => return Err(bad_request(format!("unknown family {other}"))),
        }
        Ok(json!({"site": site, "family": family, "as_of": time::fmt_utc(now), "rows": rows}))
    }
}
