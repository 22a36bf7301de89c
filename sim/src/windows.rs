//! Maximum request window per resolution, the most uncertain fact about V2 (reference §7.4,
//! open question Q3).
//!
//! Two profiles play both sides: `documented` (what SolarEdge's docs say: 12 h of
//! quarter-hours, 24 h of hours, one month of days, unlimited years) and `observed` (what
//! clients got away with live: a week of quarter-hours, and long DAY and MONTH windows).
//! `documented` is the default because it is the stricter one: a harvester that works
//! against it works against both, one tuned to `observed` would fail against the docs.
//! Each limit can be overridden (`--window QUARTER_HOUR=2d`). Limits apply only to
//! explicit windows; the default "today" window is always accepted, as seen live.

use crate::time::Res;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Documented,
    Observed,
}

impl Profile {
    pub fn parse(s: &str) -> Result<Profile, String> {
        match s {
            "documented" => Ok(Profile::Documented),
            "observed" => Ok(Profile::Observed),
            other => Err(format!(
                "unknown window profile `{other}` (expected documented or observed)"
            )),
        }
    }
}

/// Per-resolution maximum span; `None` means unlimited.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowLimits {
    limits: BTreeMap<Res, Option<Duration>>,
}

impl WindowLimits {
    pub fn profile(p: Profile) -> WindowLimits {
        let d = Duration::days;
        let table: [(Res, Option<Duration>); 7] = match p {
            Profile::Documented => [
                (Res::QuarterHour, Some(Duration::hours(12))),
                (Res::Hour, Some(Duration::hours(24))),
                (Res::Day, Some(d(31))),
                (Res::Week, Some(d(366))),
                (Res::Month, Some(d(366))),
                (Res::Year, None),
                (Res::Total, None),
            ],
            Profile::Observed => [
                (Res::QuarterHour, Some(d(7))),
                (Res::Hour, Some(d(31))),
                (Res::Day, Some(d(366))),
                (Res::Week, None),
                (Res::Month, None),
                (Res::Year, None),
                (Res::Total, None),
            ],
        };
        WindowLimits {
            limits: table.into_iter().collect(),
        }
    }

    /// Apply `RESOLUTION=SPAN` where SPAN is `none` or a number with `m`, `h` or `d`.
    pub fn override_spec(&mut self, spec: &str) -> Result<(), String> {
        let (res, span) = spec
            .split_once('=')
            .ok_or_else(|| format!("window override `{spec}` must look like QUARTER_HOUR=7d"))?;
        let res = Res::parse(res.trim())
            .ok_or_else(|| format!("window override `{spec}`: unknown resolution"))?;
        let span = span.trim();
        let value = if span == "none" {
            None
        } else {
            let (num, unit) = span.split_at(span.len().saturating_sub(1));
            let n: i64 = num.parse().map_err(|_| {
                format!("window override `{spec}`: span must be like 12h, 7d, 90m or none")
            })?;
            Some(match unit {
                "m" => Duration::minutes(n),
                "h" => Duration::hours(n),
                "d" => Duration::days(n),
                _ => return Err(format!("window override `{spec}`: unit must be m, h or d")),
            })
        };
        self.limits.insert(res, value);
        Ok(())
    }

    pub fn get(&self, res: Res) -> Option<Duration> {
        self.limits.get(&res).copied().flatten()
    }

    /// `Err(detail)` for the 400 body when [from, to) is longer than allowed.
    ///
    /// QUARTER_HOUR and HOUR windows are measured in real time: under the documented
    /// profile the 25-hour autumn day needs two HOUR windows. DAY and coarser windows are
    /// measured in the site's local calendar, so "one month" of days (31 d) accepts a
    /// whole October although, with the autumn change, it lasts 31 days and an hour.
    pub fn check(
        &self,
        res: Res,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
    ) -> Result<(), String> {
        let Some(max) = self.get(res) else {
            return Ok(());
        };
        let span = if !matches!(res, Res::QuarterHour | Res::Hour) {
            to.with_timezone(&tz).naive_local() - from.with_timezone(&tz).naive_local()
        } else {
            to - from
        };
        if span > max {
            Err(format!(
                "The requested time span exceeds the maximum allowed for resolution {} ({})",
                res.wire(),
                describe(max)
            ))
        } else {
            Ok(())
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .limits
            .iter()
            .map(|(r, d)| {
                let v = d.map_or(serde_json::Value::Null, |d| d.num_seconds().into());
                (r.wire().to_string(), v)
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

fn describe(d: Duration) -> String {
    if d.num_seconds() % 86_400 == 0 {
        format!("{} days", d.num_days())
    } else if d.num_seconds() % 3600 == 0 {
        format!("{} hours", d.num_hours())
    } else {
        format!("{} minutes", d.num_minutes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::UTC;

    #[test]
    fn documented_profile_refuses_13_hours_of_quarter_hours() {
        let w = WindowLimits::profile(Profile::Documented);
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert!(w
            .check(Res::QuarterHour, a, a + Duration::hours(12), UTC)
            .is_ok());
        let e = w
            .check(Res::QuarterHour, a, a + Duration::hours(13), UTC)
            .unwrap_err();
        assert!(e.contains("exceeds") && e.contains("12 hours"), "{e}");
        assert!(w.check(Res::Year, a, a + Duration::days(4000), UTC).is_ok());
    }

    #[test]
    fn observed_profile_and_overrides() {
        let mut w = WindowLimits::profile(Profile::Observed);
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert!(w
            .check(Res::QuarterHour, a, a + Duration::days(7), UTC)
            .is_ok());
        assert!(w
            .check(Res::QuarterHour, a, a + Duration::days(8), UTC)
            .is_err());
        w.override_spec("QUARTER_HOUR=2d").unwrap();
        assert!(w
            .check(Res::QuarterHour, a, a + Duration::days(3), UTC)
            .is_err());
        w.override_spec("QUARTER_HOUR=none").unwrap();
        assert!(w
            .check(Res::QuarterHour, a, a + Duration::days(300), UTC)
            .is_ok());
        assert!(w.override_spec("FORTNIGHT=2d").is_err());
        assert!(w.override_spec("DAY=2w").is_err());
    }

    #[test]
    fn day_limits_are_calendar_spans_hour_limits_real_durations() {
        let w = WindowLimits::profile(Profile::Documented);
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let m = |d: NaiveDate| crate::time::local_midnight(d, berlin);
        let d = |y, mo, da| NaiveDate::from_ymd_opt(y, mo, da).unwrap();
        // October 2026 lasts 31 days and one hour in Berlin: still one month of days.
        let (oct, nov) = (m(d(2026, 10, 1)), m(d(2026, 11, 1)));
        assert_eq!(nov - oct, Duration::days(31) + Duration::hours(1));
        assert!(w.check(Res::Day, oct, nov, berlin).is_ok());
        assert!(w
            .check(Res::Day, oct, nov + Duration::hours(1), berlin)
            .is_err());
        // The autumn day is 25 real hours: more than 24 h of hours.
        let (a, b) = (m(d(2026, 10, 25)), m(d(2026, 10, 26)));
        assert!(w.check(Res::Hour, a, b, berlin).is_err());
        assert!(w
            .check(Res::Hour, a, b - Duration::hours(1), berlin)
            .is_ok());
    }
}
