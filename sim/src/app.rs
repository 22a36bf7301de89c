//! The simulated service: authentication, accounting, faults and every V2 operation, turned
//! into HTTP replies.
//!
//! Order of work for a data request, as the real gateway appears to do it (reference §3–§6):
//! V1 paths answer 410 before anything else; then the credential is checked (401 without
//! one); then the call is admitted against the minute window and the monthly credits (429
//! otherwise; an admitted call costs a credit whatever its status); then an injected fault
//! may replace the answer; then the operation runs and validates its parameters (400, 403,
//! 404 still cost the credit). Every reply to an authenticated call carries the
//! `x-ratelimit-*-minute` headers.

use crate::clock::Clock;
use crate::faults::{FaultAction, FaultSet};
pub use crate::gen::TelemetryStamp;
use crate::gen::{self, Metric, SiteModel};
use crate::http::{Reply, Request, Response};
use crate::oauth::{self, OAuth, TokenRequest};
use crate::ratelimit::{Accounting, Admission, Limits};
use crate::scenario::{MeterKind, Scenario, SiteSpec};
use crate::time::{self, Res};
use crate::windows::WindowLimits;
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde_json::{json, Value};
use std::sync::Mutex;

/// How `/sites` is shaped (reference Q5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitesShape {
    /// `{"sites":{"count":N,"site":[...]}}`, seen live in 2026 (default).
    Wrapped,
    /// A bare array, the 2023 documentation and 2025 generation.
    Bare,
}

/// What `count` in the wrapped `/sites` shape means (reference Q5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SitesCount {
    Total,
    Page,
}

/// Scale of `stateOfEnergy` (reference Q4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoeScale {
    /// 0–1 with unit `PERCENTAGE`, as observed live in 2025 and 2026 (default).
    Fraction,
    /// 0–100 with unit `PERCENTAGE`, as documented.
    Percent,
}

/// Spelling of site status words such as `activationStatus` (reference §6.1 "Status
/// spelling").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCase {
    /// `ACTIVE`, `PENDING`, `INACTIVE`: what live bodies say (default).
    Upper,
    /// `Active`, `Pending`, `Inactive`: what hand-written bodies in other clients say.
    Title,
}

impl StatusCase {
    /// `word` spelled this way.
    pub fn spell(self, word: &str) -> String {
        match self {
            StatusCase::Upper => word.to_ascii_uppercase(),
            StatusCase::Title => {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        }
    }
}

/// Body of the 429s (reference §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitBody {
    /// problem+json with a `detail` (the documented shape, default).
    Problem,
    /// The API gateway's own rate-limiting body, `{"message":"API rate limit exceeded"}`
    /// as `application/json`, for the minute limit and the exhausted credits alike: only
    /// the headers tell the two apart.
    Gateway,
}

/// Everything configurable about a running simulator.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub speed: f64,
    pub api_keys: Vec<String>,
    /// The sites the API keys can read (their account's sites); `None`: every site. Other
    /// sites answer a key with 403 and are missing from `/sites` and fleet `/alerts`, as a
    /// homeowner's site outside an installer's account does.
    pub key_sites: Option<Vec<i64>>,
    pub windows: WindowLimits,
    pub limits: Limits,
    pub oauth_clients: Vec<oauth::Client>,
    pub oauth_echo_state: bool,
    /// When set, `/authorize` approves this site at once (no consent page).
    pub oauth_auto_approve: Option<i64>,
    pub advanced: bool,
    pub faults: Vec<String>,
    pub late_max_minutes: u32,
    pub sites_shape: SitesShape,
    pub sites_count: SitesCount,
    pub soe_scale: SoeScale,
    /// Leave `location.timezone` out of `/sites/{id}` (`/sites` never carries it), as the
    /// 2025 live list did (reference §6.1). Data is still generated in each site's zone.
    pub omit_timezone: bool,
    /// Spelling of `activationStatus` in `/sites` and `/sites/{id}`.
    pub status_case: StatusCase,
    /// Where inverter voltage, current and frequency are stamped.
    pub telemetry_stamp: TelemetryStamp,
    /// Serve `consumedAcPower` (W) and `consumedAcEnergy` (WH) in inverter telemetry, as a
    /// body that looks captured live does (reference §6.1); the documented shape has not.
    pub inverter_consumption: bool,
    pub rate_limit_body: RateLimitBody,
    /// OAuth answers as other V2 clients saw them (reference §6.1).
    pub oauth_variants: oauth::Variants,
    pub scenario: Scenario,
}

impl SimOptions {
    /// Defaults matching the Free tier and the built-in fleet, starting at `start`.
    pub fn new(start: DateTime<Utc>) -> SimOptions {
        SimOptions {
            seed: 1,
            start,
            speed: 1.0,
            api_keys: vec!["sim-fleet-key".into()],
            key_sites: None,
            windows: WindowLimits::profile(crate::windows::Profile::Documented),
            limits: Limits::free_tier(),
            oauth_clients: vec![oauth::Client::new(
                "sim-client",
                "sim-secret",
                "https://localhost/callback",
            )],
            oauth_echo_state: true,
            oauth_auto_approve: None,
            advanced: false,
            faults: Vec::new(),
            late_max_minutes: 45,
            sites_shape: SitesShape::Wrapped,
            sites_count: SitesCount::Total,
            soe_scale: SoeScale::Fraction,
            omit_timezone: false,
            status_case: StatusCase::Upper,
            telemetry_stamp: TelemetryStamp::End,
            inverter_consumption: false,
            rate_limit_body: RateLimitBody::Problem,
            oauth_variants: oauth::Variants::default(),
            scenario: Scenario::default_fleet(),
        }
    }
}

/// Who is calling.
enum Caller {
    Key(String),
    Bearer { site_id: i64, scopes: Vec<String> },
}

impl Caller {
    fn label(&self) -> String {
        match self {
            Caller::Key(k) => format!("key:{k}"),
            Caller::Bearer { site_id, .. } => format!("oauth:site{site_id}"),
        }
    }
}

pub struct App {
    opts: SimOptions,
    pub clock: Clock,
    models: Vec<Mutex<SiteModel>>,
    accounting: Mutex<Accounting>,
    faults: Mutex<FaultSet>,
    oauth: Mutex<OAuth>,
    windows: Mutex<WindowLimits>,
}

type Handled = Result<Response, Response>;

/// One series a device offers: (wire name, metric, wire unit, base units per wire unit).
type SeriesDef = (String, Metric, &'static str, f64);

fn bad_request(detail: impl Into<String>) -> Response {
    Response::problem(400, "Bad Request", &detail.into())
}

fn forbidden(detail: impl Into<String>) -> Response {
    Response::problem(403, "Forbidden", &detail.into())
}

fn not_found() -> Response {
    Response::problem(404, "Not Found", "Unknown endpoint")
}

/// Round for the wire: energy and power carry float noise in the real API, but a stable
/// representation keeps responses reproducible.
fn wire(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

impl App {
    pub fn new(opts: SimOptions) -> Result<App, String> {
        opts.scenario.validate()?;
        opts.limits.validate()?;
        let mut faults = FaultSet::new(opts.seed);
        for f in &opts.faults {
            faults.add_spec(f)?;
        }
        let gen_opts = gen::GenOptions {
            seed: opts.seed,
            late_max_minutes: opts.late_max_minutes,
            telemetry_stamp: opts.telemetry_stamp,
        };
        let models = opts
            .scenario
            .sites
            .iter()
            .map(|s| Mutex::new(SiteModel::new(s.clone(), opts.start, gen_opts)))
            .collect();
        let mut oauth = OAuth::new(opts.seed);
        for c in &opts.oauth_clients {
            oauth.register_client(c.clone());
        }
        oauth.set_echo_state(opts.oauth_echo_state);
        oauth.set_variants(opts.oauth_variants);
        Ok(App {
            clock: Clock::new(opts.start, opts.speed),
            models,
            accounting: Mutex::new(Accounting::new(opts.limits.clone())),
            faults: Mutex::new(faults),
            oauth: Mutex::new(oauth),
            windows: Mutex::new(opts.windows.clone()),
            opts,
        })
    }

    fn site_index(&self, id: i64) -> Option<usize> {
        self.opts.scenario.sites.iter().position(|s| s.id == id)
    }

    fn spec(&self, idx: usize) -> &SiteSpec {
        &self.opts.scenario.sites[idx]
    }

    /// Entry point for every HTTP request.
    pub fn handle(&self, req: Request) -> Reply {
        let path = req.path.clone();
        if let Some(admin) = path.strip_prefix("/_sim/") {
            return Reply::Normal(self.admin(admin, &req));
        }
        if path == "/authorize" || path == "/authorize/approve" {
            return Reply::Normal(self.authorize(&req, path.ends_with("/approve")));
        }
        if is_v1_path(&path) {
            return Reply::Normal(Response::problem(
                410,
                "Gone",
                "Monitoring API V1 has been retired. Use Monitoring API V2 (https://monitoringapi.solaredge.com/v2) with V2 credentials",
            ));
        }
        let Some(rest) = path.strip_prefix("/v2") else {
            return Reply::Normal(not_found());
        };
        // Every /v2 answer tells the virtual time in `date`, as a real server's tells the
        // real time; clients that trust the server's clock follow the simulation.
        let vdate = crate::http::http_date(self.clock.now());
        if rest == "/oauth2/token" || rest == "/oauth2/revoke-token" {
            return Reply::Normal(self.oauth_endpoint(rest, &req).with_header("date", &vdate));
        }

        let caller = match self.authenticate(&req) {
            Ok(c) => c,
            Err(resp) => return Reply::Normal(resp.with_header("date", &vdate)),
        };
        let now = self.clock.now();
        let admission =
            self.accounting
                .lock()
                .expect("accounting lock")
                .admit(now, &caller.label(), &path);
        let headers = admission.headers();
        // The `date` header tells the virtual time, as a real server's tells the real time;
        // clients that trust the server's clock (a Pi has no RTC) follow the simulation.
        let date = crate::http::http_date(now);
        let with_rate = |mut r: Response| {
            for (k, v) in &headers {
                r = r.with_header(k, v);
            }
            r.with_header("date", &date)
        };
        match admission {
            Admission::Allowed { .. } => {}
            Admission::MinuteExceeded {
                retry_after_virtual,
                ..
            } => {
                let secs = self.clock.real_secs_for(retry_after_virtual);
                return Reply::Normal(
                    with_rate(self.too_many("API rate limit exceeded"))
                        .with_header("retry-after", &secs.to_string()),
                );
            }
            Admission::CreditsExhausted { .. } => {
                let reset = self
                    .accounting
                    .lock()
                    .expect("accounting lock")
                    .next_reset(now);
                return Reply::Normal(with_rate(self.too_many(&format!(
                    "Monthly API credit limit reached. Credits renew on {}",
                    time::fmt_utc(reset)
                ))));
            }
        }

        let fault = self.faults.lock().expect("faults lock").decide(&path);
        let normal = || with_rate(self.route(rest, &req, &caller, now).unwrap_or_else(|e| e));
        match fault {
            None => Reply::Normal(normal()),
            Some(FaultAction::Burst429) => Reply::Normal(
                with_rate(self.too_many("API rate limit exceeded"))
                    .with_header("x-ratelimit-remaining-minute", "0")
                    .with_header(
                        "retry-after",
                        &self
                            .clock
                            .real_secs_for(Duration::seconds(60 - i64::from(now.second())))
                            .to_string(),
                    ),
            ),
            // The failure comes from behind the gateway, so its answer (an HTML error
            // page, an empty body, …) still carries the minute headers like any other.
            Some(action) => match action.to_reply(normal) {
                Some(Reply::Normal(r)) => Reply::Normal(with_rate(r)),
                Some(Reply::Truncated(r)) => Reply::Truncated(with_rate(r)),
                Some(Reply::Slow(d, r)) => Reply::Slow(d, with_rate(r)),
                Some(other) => other,
                None => Reply::Normal(with_rate(not_found())),
            },
        }
    }

    /// A 429 in the configured body shape; the caller adds the headers that tell the
    /// minute limit from exhausted credits.
    fn too_many(&self, detail: &str) -> Response {
        match self.opts.rate_limit_body {
            RateLimitBody::Problem => Response::problem(429, "Too Many Requests", detail),
            RateLimitBody::Gateway => {
                Response::json(429, &json!({"message": "API rate limit exceeded"}))
            }
        }
    }

    fn authenticate(&self, req: &Request) -> Result<Caller, Response> {
        if let Some(auth) = req.header("authorization") {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .unwrap_or("");
            let now = self.clock.now();
            let mut oauth = self.oauth.lock().expect("oauth lock");
            return match oauth.check_bearer(token, now) {
                Ok(grant) => Ok(Caller::Bearer {
                    site_id: grant.site_id as i64,
                    scopes: grant.scopes,
                }),
                Err(e) => Err(oauth.bearer_response(e)),
            };
        }
        match req.header("x-api-key") {
            None => Err(Response::problem(
                401,
                "Unauthorized - Authentication Failed",
                "API key missing in the request",
            )),
            Some(k) if self.opts.api_keys.iter().any(|x| x == k) => Ok(Caller::Key(k.to_string())),
            Some(_) => Err(Response::problem(
                401,
                "Unauthorized - Authentication Failed",
                "Invalid API key",
            )),
        }
    }

    fn route(&self, rest: &str, req: &Request, caller: &Caller, now: DateTime<Utc>) -> Handled {
        if req.method != "GET" {
            return Err(Response::problem(
                405,
                "Method Not Allowed",
                "Method not allowed",
            ));
        }
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["sites"] => {
                fleet_only(caller)?;
                self.sites_list(req)
            }
            ["alerts"] => {
                fleet_only(caller)?;
                self.fleet_alerts(req, now)
            }
            ["sites", id, tail @ ..] => {
                let id: i64 = id
                    .parse()
                    .map_err(|_| bad_request(format!("Invalid siteId '{id}'")))?;
                let idx = self.authorize_site(caller, id, tail)?;
                self.site_route(idx, tail, req, now)
            }
            _ => Err(not_found()),
        }
    }

    /// Checks that `caller` may read site `id` with the scope the path needs.
    fn authorize_site(&self, caller: &Caller, id: i64, tail: &[&str]) -> Result<usize, Response> {
        let idx = self.site_index(id);
        match caller {
            Caller::Key(_) => idx.filter(|_| self.key_sees(id)).ok_or_else(|| {
                forbidden(format!("The API key is not authorized to access site {id}"))
            }),
            Caller::Bearer { site_id, scopes } => {
                if *site_id != id {
                    return Err(forbidden("site OAuth grant doesn't include this site"));
                }
                let needs_device =
                    matches!(tail.first(), Some(&"inverters" | &"meters" | &"storage"));
                let scope = if needs_device {
                    "DEVICE_DATA"
                } else {
                    "SITE_DATA"
                };
                if !scopes.iter().any(|s| s == scope) {
                    return Err(forbidden(format!(
                        "The OAuth grant lacks the {scope} scope required by this operation"
                    )));
                }
                idx.ok_or_else(|| forbidden("site OAuth grant doesn't include this site"))
            }
        }
    }

    fn site_route(&self, idx: usize, tail: &[&str], req: &Request, now: DateTime<Utc>) -> Handled {
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

    // ----- parameters -----------------------------------------------------------------

    /// `from`/`to` in the site's zone; both omitted = today from local midnight to now.
    /// Returns (from, to, explicit).
    fn window(
        &self,
        idx: usize,
        req: &Request,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>, bool), Response> {
        let tz = self.spec(idx).tz();
        match (req.query_one("from"), req.query_one("to")) {
            (None, None) => {
                let today = now.with_timezone(&tz).date_naive();
                Ok((time::local_midnight(today, tz), now, false))
            }
            (Some(f), Some(t)) => {
                let f = time::parse_param(f, tz).map_err(bad_request)?;
                let t = time::parse_param(t, tz).map_err(bad_request)?;
                if f >= t {
                    return Err(bad_request("'from' must be earlier than 'to'"));
                }
                Ok((f, t, true))
            }
            _ => Err(bad_request(
                "Both 'from' and 'to' must be provided, or neither",
            )),
        }
    }

    fn resolution(req: &Request, allowed: &[Res]) -> Result<Res, Response> {
        let res = match req.query_one("resolution") {
            None => Res::QuarterHour,
            Some(s) => {
                Res::parse(s).ok_or_else(|| bad_request(format!("Invalid resolution '{s}'")))?
            }
        };
        if !allowed.contains(&res) {
            return Err(bad_request(format!(
                "Resolution {} is not supported by this operation",
                res.wire()
            )));
        }
        Ok(res)
    }

    fn check_window(
        &self,
        idx: usize,
        res: Res,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        explicit: bool,
    ) -> Result<(), Response> {
        if !explicit {
            return Ok(());
        }
        self.windows
            .lock()
            .expect("windows lock")
            .check(res, from, to, self.spec(idx).tz())
            .map_err(bad_request)
    }

    /// The `period` object: the request's window, `to` clipped to now (then with nine
    /// fraction digits). For TOTAL it is the span actually covered, from the installation
    /// at the earliest: the V1 `dataPeriod` replacement (reference §7.4, §10).
    fn period(&self, idx: usize, res: Res, span: Span) -> Value {
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
    fn values(&self, idx: usize, metric: Metric, res: Res, span: Span, factor: f64) -> Value {
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

    // ----- operations -----------------------------------------------------------------

    /// Whether the API keys may read site `id` (see [`SimOptions::key_sites`]).
    fn key_sees(&self, id: i64) -> bool {
        self.opts.key_sites.as_ref().is_none_or(|v| v.contains(&id))
    }

    fn sites_list(&self, req: &Request) -> Handled {
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

    fn fleet_alerts(&self, req: &Request, now: DateTime<Utc>) -> Handled {
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

    /// Bulk telemetry of one family (optionally a subset of batteries).
    fn telemetry(
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
    fn telemetry_devices(&self, idx: usize, family: Family) -> Vec<(String, Vec<SeriesDef>)> {
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
    fn device_metric(
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

    // ----- OAuth ----------------------------------------------------------------------

    fn authorize(&self, req: &Request, approve: bool) -> Response {
        let client_id = req.query_one("client_id").unwrap_or("");
        let scopes: Vec<String> = req
            .query_one("scope")
            .unwrap_or("SITE_DATA")
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let duration: Option<u32> = req
            .query_one("access_duration")
            .and_then(|d| d.parse().ok());
        let site = req
            .query_one("site_id")
            .or_else(|| req.query_one("sim_site"))
            .and_then(|s| s.parse::<i64>().ok())
            .or(self.opts.oauth_auto_approve);
        let site = match (approve || site.is_some(), site) {
            (true, Some(site)) => site,
            _ => return self.consent_page(req),
        };
        if self.site_index(site).is_none() {
            return Response::problem(400, "Bad Request", "Unknown site");
        }
        let now = self.clock.now();
        let result = self.oauth.lock().expect("oauth lock").authorize(
            client_id,
            site as u64,
            &scopes,
            duration,
            req.query_one("external_id"),
            req.query_one("state"),
            now,
        );
        match result {
            Ok(location) => Response {
                status: 302,
                headers: vec![("location".into(), location)],
                body: Vec::new(),
            },
            Err(e) => e.to_response(),
        }
    }

    /// A minimal consent page: one link per site, each approving that site.
    fn consent_page(&self, req: &Request) -> Response {
        let query: String = req
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect::<Vec<_>>()
            .join("&");
        let links: String = self
            .opts
            .scenario
            .sites
            .iter()
            .map(|s| {
                format!(
                    "<li><a href=\"/authorize/approve?{query}&amp;site_id={}\">Allow access to {} ({})</a></li>",
                    s.id, s.name, s.id
                )
            })
            .collect();
        Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=UTF-8".into())],
            body: format!(
                "<html><body><h1>SolarEdge Connect (simulated)</h1><ul>{links}</ul></body></html>"
            )
            .into_bytes(),
        }
    }

    fn oauth_endpoint(&self, rest: &str, req: &Request) -> Response {
        if req.method != "POST" {
            return Response::problem(405, "Method Not Allowed", "Method not allowed");
        }
        let body = parse_body(req);
        let now = self.clock.now();
        let mut oauth = self.oauth.lock().expect("oauth lock");
        if rest == "/oauth2/token" {
            // A form body arrives here already turned into a JSON object of strings.
            let result = TokenRequest::from_json(&body).and_then(|t| oauth.token(&t, now));
            match result {
                Ok(v) => Response::json(200, &v),
                Err(e) => e.to_response(),
            }
        } else {
            let token = body.get("token").and_then(Value::as_str).unwrap_or("");
            oauth.revoke(token);
            Response::json(200, &json!({}))
        }
    }

    // ----- admin ----------------------------------------------------------------------

    fn admin(&self, what: &str, req: &Request) -> Response {
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

/// A request window answered at `now`.
#[derive(Clone, Copy, Debug)]
struct Span {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Inverters,
    Meters,
    Storage,
}

fn fleet_only(caller: &Caller) -> Result<(), Response> {
    match caller {
        Caller::Key(_) => Ok(()),
        Caller::Bearer { .. } => Err(forbidden(
            "This operation requires a Fleet Access API key; OAuth site access tokens are not accepted",
        )),
    }
}

/// V1 lived at the root: `/site/{id}/...`, `/sites/list`, `/equipment/...`, `/accounts/list`,
/// `/version/...`.
fn is_v1_path(path: &str) -> bool {
    path.starts_with("/site/")
        || path == "/sites/list"
        || path.starts_with("/equipment/")
        || path.starts_with("/accounts/")
        || path.starts_with("/version/")
}

fn parse_int(req: &Request, key: &str, default: i64, min: i64, max: i64) -> Result<i64, Response> {
    match req.query_one(key) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad_request(format!(
                "Invalid value '{s}' for {key}; allowed {min}..{max}"
            ))),
        },
    }
}

fn energy_unit(u: &str) -> Result<(&'static str, f64), Response> {
    match u {
        "WH" => Ok(("WH", 1.0)),
        "KWH" => Ok(("KWH", 1e3)),
        "MWH" => Ok(("MWH", 1e6)),
        "GWH" => Ok(("GWH", 1e9)),
        other => Err(bad_request(format!("Invalid unit '{other}'"))),
    }
}

fn power_unit(u: &str) -> Result<(&'static str, f64), Response> {
    match u {
        "W" => Ok(("W", 1.0)),
        "KW" => Ok(("KW", 1e3)),
        "MW" => Ok(("MW", 1e6)),
        other => Err(bad_request(format!("Invalid unit '{other}'"))),
    }
}

fn kebab_to_camel(s: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in s.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// JSON body, or a form body turned into a JSON object (the token endpoint "appears to
/// parse" forms too, reference §4.2).
fn parse_body(req: &Request) -> Value {
    if req.body.is_empty() {
        return json!({});
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&req.body) {
        return v;
    }
    let map: serde_json::Map<String, Value> = req
        .form()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Value::Object(map)
}

fn overview_json(s: &SiteSpec, sums: &gen::OverviewSums) -> Value {
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

fn alert_json(a: &gen::AlertRec) -> Value {
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
fn device_list(s: &SiteSpec, start: DateTime<Utc>) -> Vec<Value> {
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

/// Site-level meter kinds that have a series, used by tests.
pub fn meter_kinds(s: &SiteSpec) -> Vec<MeterKind> {
    s.meters.iter().map(|m| m.kind).collect()
}
