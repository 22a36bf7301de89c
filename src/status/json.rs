//! `seh status --json`: every fact of [`Facts`] for scripts, times in UTC (RFC 3339) with
//! the covered ranges also in the site's local time.

use super::{local_range, Facts, FamilyFacts};
use crate::store::fmt_ts;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

fn ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(fmt_ts(&t)))
}

fn family(site_id: i64, site_name: Option<&str>, f: &FamilyFacts, tz: Option<Tz>) -> Value {
    let s = &f.state;
    let local = local_range(s, tz);
    json!({
        "site_id": site_id,
        "site_name": site_name,
        "family": s.family,
        "resolution": s.resolution.map(|r| r.as_str()),
        "covered_from": ts(s.covered_from),
        "covered_to": ts(s.covered_to),
        "covered_from_local": local.as_ref().map(|l| l.0.clone()),
        "covered_through_local": local.as_ref().map(|l| l.1.clone()),
        "rows_stored": f.rows,
        "rows_last_run": s.rows_last_run,
        "last_success": ts(s.last_success),
        "last_error": s.last_error,
        "last_error_at": ts(s.last_error_at),
        "failing": f.failing(),
        "unavailable": f.unavailable(),
        "gaps": s.gaps().iter().map(|(a, b)| json!([fmt_ts(a), fmt_ts(b)])).collect::<Vec<_>>(),
    })
}

pub fn render(f: &Facts) -> Value {
    let b = &f.budget;
    let mut families: Vec<Value> = f.account.iter().map(|x| family(0, None, x, None)).collect();
    for s in &f.sites {
        families.extend(
            s.families
                .iter()
                .map(|x| family(s.id, s.name.as_deref(), x, s.tz)),
        );
    }
    let sites: Vec<Value> = f
        .sites
        .iter()
        .map(|s| {
            json!({
                "site_id": s.id,
                "name": s.name,
                "timezone": s.tz.map(|t| t.name()),
                "active": s.active,
                "activation_status": s.status,
                "today_kwh": s.today.as_ref().map(|t| t.kwh),
                "today_partial": s.today.as_ref().map(|t| t.partial),
                "yesterday_kwh": s.yesterday,
                "last_days_kwh": s.week.iter().map(|(d, v)| json!({"date": d.to_string(), "kwh": v})).collect::<Vec<_>>(),
                "lifetime_kwh": s.lifetime_kwh,
                "rows_stored": s.families.iter().map(|x| x.rows).sum::<i64>(),
            })
        })
        .collect();
    let run = f.last_run.as_ref();
    json!({
        "database": f.database.display().to_string(),
        "cycle_start": fmt_ts(&b.cycle_start),
        "calls_this_cycle": f.calls,
        "credits_this_cycle": f.credits,
        "budget": {
            "monthly_credits": b.budget.monthly_credits,
            "reserve": b.budget.reserve,
            "used": b.used,
            "left": b.left(),
            "line": b.line(),
            "next_reset": fmt_ts(&b.next_reset),
            "blocked_until": ts(f.blocked_until),
        },
        "clock": {
            "server_now_estimate": fmt_ts(&f.now),
            "local_offset_secs": f.clock_offset.map(|o| -o.num_seconds()),
        },
        "running": f.running,
        "last_run": run.and_then(|r| r.finished.as_ref()).map(|x| x.summary.clone()),
        "last_run_started": run.map(|r| fmt_ts(&r.started_at)),
        "last_run_finished": ts(run.and_then(|r| r.finished.as_ref()).map(|x| x.finished_at)),
        "unlisted_sites": f.unlisted,
        "sites_without_timezone": f.sites.iter().filter(|s| s.zoneless).map(|s| s.id).collect::<Vec<_>>(),
        "unreadable_responses": f.unreadable,
        "sites": sites,
        "families": families,
        "tables": f.tables.iter().map(|(t, n)| ((*t).to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
    })
}
