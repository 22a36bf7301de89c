//! `seh-sim`: command-line entry of the simulator. Parses flags into `SimOptions`, starts
//! the server and prints the bound address as the first line on stdout, so scripts and
//! tests can start it on port 0 and read where it listens.

use argh::FromArgs;
use chrono::{DateTime, Utc};
use seh_sim::app::{
    RateLimitBody, SimOptions, SitesCount, SitesShape, SoeScale, StatusCase, TelemetryStamp,
};
use seh_sim::oauth::{Client as OAuthClient, Variants};
use seh_sim::ratelimit::CreditMode;
use seh_sim::scenario::{Scenario, DEFAULT_SCENARIO};
use seh_sim::windows::{Profile, WindowLimits};
use std::io::Write;
use std::process::ExitCode;

/// A faithful simulator of the SolarEdge Monitoring API V2 (see sim/README.md).
#[derive(FromArgs)]
struct Args {
    /// address to listen on; port 0 picks a free one (default 127.0.0.1:8787)
    #[argh(option, default = "String::from(\"127.0.0.1:8787\")")]
    listen: String,
    /// a Fleet Access API key the simulator accepts (repeatable; default sim-fleet-key)
    #[argh(option)]
    api_key: Vec<String>,
    /// a site the API keys can read (repeatable; default: every site); the others answer a
    /// key with 403, as sites outside the key's account do
    #[argh(option)]
    key_site: Vec<i64>,
    /// seed of all generated data and tokens (default 1)
    #[argh(option, default = "1")]
    seed: u64,
    /// TOML scenario describing sites and devices (default: the built-in fleet)
    #[argh(option)]
    scenario: Option<String>,
    /// serve N generated sites instead (varied zones, ages, meters and batteries; made from
    /// --seed, so the same N and seed give the same fleet)
    #[argh(option)]
    fleet: Option<usize>,
    /// virtual clock start, RFC 3339 (default: the real time now)
    #[argh(option)]
    now: Option<String>,
    /// virtual seconds per real second; 0 freezes the clock (default 1)
    #[argh(option, default = "1.0")]
    speed: f64,
    /// window-limit profile: documented (default) or observed
    #[argh(option, default = "String::from(\"documented\")")]
    limits: String,
    /// override one window limit, e.g. QUARTER_HOUR=7d or MONTH=none (repeatable)
    #[argh(option)]
    window: Vec<String>,
    /// calls allowed per clock minute (default 10, the Free tier)
    #[argh(option, default = "10")]
    per_minute: u32,
    /// credits per monthly cycle (default 2000, the Free tier)
    #[argh(option, default = "2000")]
    monthly_credits: u64,
    /// what happens past the allowance: hard (429, default) or soft (keep serving)
    #[argh(option, default = "String::from(\"hard\")")]
    credit_mode: String,
    /// day of month (1-28, UTC) on which credits renew (default 1)
    #[argh(option, default = "1")]
    billing_day: u32,
    /// OAuth client id of the registered Site Access app (default sim-client)
    #[argh(option, default = "String::from(\"sim-client\")")]
    oauth_client_id: String,
    /// OAuth client secret (default sim-secret)
    #[argh(option, default = "String::from(\"sim-secret\")")]
    oauth_client_secret: String,
    /// the app's registered redirect URL (default https://localhost/callback)
    #[argh(option, default = "String::from(\"https://localhost/callback\")")]
    oauth_redirect_url: String,
    /// approve this site at once on /authorize, without the consent page
    #[argh(option)]
    oauth_auto_approve: Option<i64>,
    /// do not echo `state` on the OAuth redirect (the reference is unsure it is echoed)
    #[argh(switch)]
    no_state_echo: bool,
    /// enable the Advanced tier (power-flow); default off: 403 with a tier detail
    #[argh(switch)]
    advanced: bool,
    /// inject a fault, PATTERN=KIND[,nth=N][,every=N][,p=P][,times=K] (repeatable)
    #[argh(option)]
    fault: Vec<String>,
    /// each quarter-hour arrives up to this many minutes after it ends (default 45)
    #[argh(option, default = "45")]
    late_minutes: u32,
    /// shape of /sites: wrapped (2026, default) or bare (array, 2023-2025)
    #[argh(option, default = "String::from(\"wrapped\")")]
    sites_shape: String,
    /// meaning of the /sites count: total (default) or page
    #[argh(option, default = "String::from(\"total\")")]
    sites_count: String,
    /// stateOfEnergy scale: fraction (0-1, observed live, default) or percent (0-100, documented)
    #[argh(option, default = "String::from(\"fraction\")")]
    soe_scale: String,
    /// leave location.timezone out of /sites/{id} (/sites never has it), as the 2025 live
    /// site list did; data is still generated in each site's zone
    #[argh(switch)]
    omit_timezone: bool,
    /// spelling of activationStatus: upper (ACTIVE, live, default) or title (Active, as in
    /// other clients' hand-written bodies)
    #[argh(option, default = "String::from(\"upper\")")]
    status_case: String,
    /// where inverter voltage, current and frequency are stamped: end (documented, default)
    /// or start (like power, as in a body that looks captured live)
    #[argh(option, default = "String::from(\"end\")")]
    telemetry_stamp: String,
    /// add consumedAcPower (W) and consumedAcEnergy (WH) to inverter telemetry, as a body
    /// that looks captured live has them (default off: the documented shape has not)
    #[argh(switch)]
    inverter_consumption: bool,
    /// body of the 429s: problem (problem+json, default) or gateway
    /// ({"message":"API rate limit exceeded"} for the minute limit and the credits alike)
    #[argh(option, default = "String::from(\"problem\")")]
    rate_limit_body: String,
    /// refused bearer tokens: distinct (a description per cause, default) or uniform (one
    /// text for every cause, as another client quotes it)
    #[argh(option, default = "String::from(\"distinct\")")]
    bearer_401: String,
    /// error code for a dead refresh token or a used code: invalid_grant (default) or
    /// invalid_request
    #[argh(option, default = "String::from(\"invalid_grant\")")]
    dead_grant_error: String,
    /// HTTP status of invalid_client from the token endpoint: 400 (default) or 401
    #[argh(option, default = "400")]
    invalid_client_status: u16,
    /// print the built-in scenario as TOML and exit
    #[argh(switch)]
    print_scenario: bool,
}

fn options(a: Args) -> Result<(SimOptions, String), String> {
    let start: DateTime<Utc> = match &a.now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map_err(|e| format!("--now {t}: {e}"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let mut o = SimOptions::new(start);
    o.seed = a.seed;
    o.speed = a.speed;
    if a.speed < 0.0 || !a.speed.is_finite() {
        return Err("--speed must be a finite number >= 0".into());
    }
    if !a.api_key.is_empty() {
        o.api_keys = a.api_key;
    }
    if !a.key_site.is_empty() {
        o.key_sites = Some(a.key_site);
    }
    if let Some(path) = &a.scenario {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--scenario {path}: {e}"))?;
        o.scenario = Scenario::from_toml(&text).map_err(|e| format!("{path}: {e}"))?;
    }
    match (a.fleet, &a.scenario) {
        (Some(_), Some(_)) => return Err("--fleet and --scenario exclude each other".into()),
        (Some(0), None) => return Err("--fleet needs at least one site".into()),
        (Some(n), None) => o.scenario = Scenario::generated(n, a.seed),
        (None, _) => {}
    }
    o.windows = WindowLimits::profile(Profile::parse(&a.limits)?);
    for w in &a.window {
        o.windows.override_spec(w)?;
    }
    o.limits.per_minute = a.per_minute;
    o.limits.monthly_credits = a.monthly_credits;
    o.limits.credit_mode = CreditMode::parse(&a.credit_mode)?;
    o.limits.billing_day = a.billing_day;
    o.limits.validate()?;
    o.oauth_clients = vec![OAuthClient::new(
        &a.oauth_client_id,
        &a.oauth_client_secret,
        &a.oauth_redirect_url,
    )];
    o.oauth_auto_approve = a.oauth_auto_approve;
    o.oauth_echo_state = !a.no_state_echo;
    o.advanced = a.advanced;
    o.faults = a.fault;
    o.late_max_minutes = a.late_minutes;
    o.sites_shape = match a.sites_shape.as_str() {
        "wrapped" => SitesShape::Wrapped,
        "bare" => SitesShape::Bare,
        s => return Err(format!("--sites-shape {s}: expected wrapped or bare")),
    };
    o.sites_count = match a.sites_count.as_str() {
        "total" => SitesCount::Total,
        "page" => SitesCount::Page,
        s => return Err(format!("--sites-count {s}: expected total or page")),
    };
    o.soe_scale = match a.soe_scale.as_str() {
        "fraction" => SoeScale::Fraction,
        "percent" => SoeScale::Percent,
        s => return Err(format!("--soe-scale {s}: expected fraction or percent")),
    };
    o.omit_timezone = a.omit_timezone;
    o.status_case = match a.status_case.as_str() {
        "upper" => StatusCase::Upper,
        "title" => StatusCase::Title,
        s => return Err(format!("--status-case {s}: expected upper or title")),
    };
    o.telemetry_stamp = match a.telemetry_stamp.as_str() {
        "end" => TelemetryStamp::End,
        "start" => TelemetryStamp::Start,
        s => return Err(format!("--telemetry-stamp {s}: expected end or start")),
    };
    o.inverter_consumption = a.inverter_consumption;
    o.rate_limit_body = match a.rate_limit_body.as_str() {
        "problem" => RateLimitBody::Problem,
        "gateway" => RateLimitBody::Gateway,
        s => {
            return Err(format!(
                "--rate-limit-body {s}: expected problem or gateway"
            ))
        }
    };
    o.oauth_variants = Variants {
        uniform_bearer: match a.bearer_401.as_str() {
            "distinct" => false,
            "uniform" => true,
            s => return Err(format!("--bearer-401 {s}: expected distinct or uniform")),
        },
        dead_grant_invalid_request: match a.dead_grant_error.as_str() {
            "invalid_grant" => false,
            "invalid_request" => true,
            s => {
                return Err(format!(
                    "--dead-grant-error {s}: expected invalid_grant or invalid_request"
                ))
            }
        },
        invalid_client_status: match a.invalid_client_status {
            n @ (400 | 401) => n,
            n => return Err(format!("--invalid-client-status {n}: expected 400 or 401")),
        },
    };
    Ok((o, a.listen))
}

/// Writes to stdout, ignoring a closed pipe (`seh-sim --help | head` must not panic).
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    // As `argh::from_env`, but printing the help through `out`.
    let args = match Args::from_args(&["seh-sim"], strs.get(1..).unwrap_or(&[])) {
        Ok(a) => a,
        Err(early) if early.status.is_ok() => {
            out(&early.output);
            return ExitCode::SUCCESS;
        }
        Err(early) => {
            eprintln!(
                "{}\nRun seh-sim --help for more information.",
                early.output.trim_end()
            );
            return ExitCode::from(1);
        }
    };
    if args.print_scenario {
        out(DEFAULT_SCENARIO);
        return ExitCode::SUCCESS;
    }
    let (opts, listen) = match options(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("seh-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match seh_sim::start(opts, &listen) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seh-sim: {e}");
            return ExitCode::from(2);
        }
    };
    out(&format!("listening on {}\n", running.url));
    running.wait();
    ExitCode::SUCCESS
}
