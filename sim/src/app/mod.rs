//! The simulated service: one request pipeline that turns every HTTP request into a reply.
//!
//! Order of work for a data request, as the real gateway appears to do it (reference §3–§6):
//! V1 paths answer 410 before anything else; then the credential is checked (401 without
//! one); then the call is admitted against the minute window and the monthly credits (429
//! otherwise; an admitted call costs a credit whatever its status); then an injected fault
//! may replace the answer; then the operation runs and validates its parameters (400, 403,
//! 404 still cost the credit). Every reply to an authenticated call carries the
//! `x-ratelimit-*-minute` headers.
//!
//! This file owns [`App`] and that pipeline (authentication, admission, faults, routing to
//! an operation, site authorization). It must not implement an operation or render a body:
//! those live in the submodules, which add methods to `App`:
//!
//! - `options`: [`SimOptions`] and the body-variant enums (re-exported here).
//! - `operations`: the site-level and fleet V2 operations.
//! - `telemetry`: device series and the telemetry operations.
//! - `params`: query parameters → typed values or a 400.
//! - `render`: JSON bodies shared by the operations and `/_sim/truth`.
//! - `oauth_endpoints`: `/authorize` and the token and revoke endpoints.
//! - `admin`: the `/_sim/*` control endpoints.

mod admin;
mod oauth_endpoints;
mod operations;
mod options;
mod params;
mod render;
mod telemetry;

pub use crate::gen::TelemetryStamp;
pub use operations::meter_kinds;
pub use options::{RateLimitBody, SimOptions, SitesCount, SitesShape, SoeScale, StatusCase};

use crate::clock::Clock;
use crate::faults::{FaultAction, FaultSet};
use crate::gen::{self, SiteModel};
use crate::http::{Reply, Request, Response};
use crate::oauth::OAuth;
use crate::ratelimit::{Accounting, Admission};
use crate::scenario::SiteSpec;
use crate::time;
use crate::windows::WindowLimits;
use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{json, Value};
use std::sync::Mutex;

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

fn bad_request(detail: impl Into<String>) -> Response {
    Response::problem(400, "Bad Request", &detail.into())
}

fn forbidden(detail: impl Into<String>) -> Response {
    Response::problem(403, "Forbidden", &detail.into())
}

fn not_found() -> Response {
    Response::problem(404, "Not Found", "Unknown endpoint")
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
