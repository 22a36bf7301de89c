//! Query parameters of the V2 operations, turned into typed values or a 400 problem: the
//! `from`/`to` window in the site's zone, `resolution` and the window limits of the active
//! profile, paging integers, energy and power units, kebab-case metric names.
//!
//! It must not read a site model or build any body other than the 400 itself: what a valid
//! request answers is the operations' business.

use super::{bad_request, App};
use crate::http::{Request, Response};
use crate::time::{self, Res};
use chrono::{DateTime, Utc};

impl App {
    /// `from`/`to` in the site's zone; both omitted = today from local midnight to now.
    /// Returns (from, to, explicit).
    pub(super) fn window(
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

    pub(super) fn resolution(req: &Request, allowed: &[Res]) -> Result<Res, Response> {
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

    pub(super) fn check_window(
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
}

pub(super) fn parse_int(
    req: &Request,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, Response> {
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

pub(super) fn energy_unit(u: &str) -> Result<(&'static str, f64), Response> {
    match u {
        "WH" => Ok(("WH", 1.0)),
        "KWH" => Ok(("KWH", 1e3)),
        "MWH" => Ok(("MWH", 1e6)),
        "GWH" => Ok(("GWH", 1e9)),
        other => Err(bad_request(format!("Invalid unit '{other}'"))),
    }
}

pub(super) fn power_unit(u: &str) -> Result<(&'static str, f64), Response> {
    match u {
        "W" => Ok(("W", 1.0)),
        "KW" => Ok(("KW", 1e3)),
        "MW" => Ok(("MW", 1e6)),
        other => Err(bad_request(format!("Invalid unit '{other}'"))),
    }
}

pub(super) fn kebab_to_camel(s: &str) -> String {
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
