//! `seh status`: per site and family the covered range, last success, last error and rows,
//! plus calls and credits this billing cycle and the table sizes. Reads only; never shows a
//! credential (the config's secrets are not even consulted).

use super::{db_fatal, print_out, Outcome};
use crate::clock;
use crate::config::Config;
use crate::exit::Exit;
use crate::oauth::store::TokenStore;
use crate::store;
use chrono::{DateTime, Utc};
use serde_json::json;

pub fn run(config: &Config, as_json: bool) -> Outcome {
    let path = &config.database;
    let (store, _lock) = super::open_existing(path, super::Schema::Current)?;
    let states = store.sync_states().map_err(|e| db_fatal(path, e))?;
    let sites = store.site_rows().map_err(|e| db_fatal(path, e))?;
    let counts = store.row_counts().map_err(|e| db_fatal(path, e))?;
    // The server's clock as the last run saw it, advanced by the local clock (a Pi may
    // have no RTC), never earlier than the last server time seen.
    let anchor = store.clock_anchor().map_err(|e| db_fatal(path, e))?;
    let now = clock::estimate(anchor, Utc::now(), config.time_scale);
    let clock_note = anchor.and_then(|a| a.notable_offset()).map(|off| {
        format!(
            "clock: at the last answer {}; seh follows SolarEdge's time",
            clock::describe_offset(off)
        )
    });
    let view = crate::harvest::Harvester::budget_view(&store, config.budget, now)
        .map_err(|e| db_fatal(path, e))?;
    let cycle = view.cycle_start;
    let (calls, credits) = store.calls_since(cycle).map_err(|e| db_fatal(path, e))?;
    let blocked = store
        .credits_blocked_until()
        .map_err(|e| db_fatal(path, e))?
        .filter(|u| *u > now);
    let last_run = store.last_run().map_err(|e| db_fatal(path, e))?;
    let unlisted = unlisted_sites(config, &store, &sites).map_err(|e| db_fatal(path, e))?;
    let (unreadable, newest_unreadable) = store
        .unreadable_responses()
        .map_err(|e| db_fatal(path, e))?;

    let name_of = |id: i64| {
        sites
            .iter()
            .find(|s| s.site_id == id)
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| {
                if id == store::FLEET_SITE_ID {
                    "(fleet)".into()
                } else {
                    "-".into()
                }
            })
    };
    let ts = |t: Option<DateTime<Utc>>| t.map(|t| store::fmt_ts(&t));
    let mut out = String::new();

    if as_json {
        let families: Vec<_> = states
            .iter()
            .map(|s| {
                json!({
                    "site_id": s.site_id,
                    "site_name": name_of(s.site_id),
                    "family": s.family,
                    "resolution": s.resolution.map(|r| r.as_str()),
                    "covered_from": ts(s.covered_from),
                    "covered_to": ts(s.covered_to),
                    "last_success": ts(s.last_success),
                    "last_error": s.last_error,
                    "last_error_at": ts(s.last_error_at),
                    "rows_last_run": s.rows_last_run,
                    "gaps": gaps(s),
                })
            })
            .collect();
        let tables: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(t, n)| ((*t).to_string(), json!(n)))
            .collect();
        let doc = json!({
            "database": path.display().to_string(),
            "cycle_start": store::fmt_ts(&cycle),
            "calls_this_cycle": calls,
            "credits_this_cycle": credits,
            "budget": {
                "monthly_credits": view.budget.monthly_credits,
                "reserve": view.budget.reserve,
                "used": view.used,
                "left": view.left(),
                "line": view.line(),
                "next_reset": store::fmt_ts(&view.next_reset),
                "blocked_until": blocked.map(|b| store::fmt_ts(&b)),
            },
            "clock": {
                "server_now_estimate": store::fmt_ts(&now),
                "local_offset_secs": anchor.map(|a| -a.offset().num_seconds()),
            },
            "unlisted_sites": unlisted,
            "sites_without_timezone": sites
                .iter()
                .filter(|s| zoneless(config, &states, s))
                .map(|s| s.site_id)
                .collect::<Vec<_>>(),
            "unreadable_responses": unreadable,
            "last_run": last_run.as_ref().and_then(|r| r.finished.as_ref()).map(|f| f.summary.clone()),
            "families": families,
            "tables": tables,
        });
        outln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
        print_out(&out);
        return Ok(Exit::Ok);
    }

    outln!(out, "database {}", path.display());
    outln!(
        out,
        "this cycle (since {}): {calls} calls, {credits} credits",
        store::fmt_ts(&cycle)
    );
    outln!(
        out,
        "budget: {} used of {} ({} reserve), {} left, line at {}; renews {}",
        view.used,
        view.budget.monthly_credits,
        view.budget.reserve,
        view.left(),
        view.line(),
        store::fmt_ts(&view.next_reset)
    );
    if let Some(b) = blocked {
        outln!(
            out,
            "SolarEdge refused calls for exhausted credits; no calls until {}",
            store::fmt_ts(&b)
        );
    }
    if let Some(note) = &clock_note {
        outln!(out, "{note}");
    }
    if unreadable > 0 {
        outln!(
            out,
            "{unreadable} archived responses seh could not read (kept; `seh reprocess` retries \
             them after an update)"
        );
        if let Some(newest) = &newest_unreadable {
            outln!(out, "  newest: {newest}");
        }
    }
    for s in sites.iter().filter(|s| zoneless(config, &states, s)) {
        outln!(
            out,
            "site {} ({}): no time zone from SolarEdge, so nothing is fetched; set [sites] \
             timezone = {{ {} = \"Area/City\" }}",
            s.site_id,
            name_of(s.site_id),
            s.site_id
        );
    }
    for id in &unlisted {
        outln!(
            out,
            "site {id} ({}) is not in the Fleet key's site list: data kept, nothing fetched",
            name_of(*id)
        );
    }
    match last_run {
        Some(r) => match r.finished {
            Some(f) => outln!(out, "last run: {}", f.summary),
            None => outln!(
                out,
                "last run: started {} and did not finish",
                store::fmt_ts(&r.started_at)
            ),
        },
        None => outln!(out, "last run: none yet"),
    }
    outln!(out);
    outln!(
        out,
        "{:>10}  {:<20}  {:<18}  {:<12}  {:<20}  {:<20}  {:<20}  {:>6}  {:>4}  last error",
        "site",
        "name",
        "family",
        "resolution",
        "from",
        "to",
        "last success",
        "rows",
        "gaps"
    );
    for s in &states {
        if s.is_internal() {
            continue;
        }
        let mut name = name_of(s.site_id);
        name.truncate(20);
        outln!(
            out,
            "{:>10}  {:<20}  {:<18}  {:<12}  {:<20}  {:<20}  {:<20}  {:>6}  {:>4}  {}",
            s.site_id,
            name,
            s.family,
            s.resolution.map_or("", |r| r.as_str()),
            ts(s.covered_from).unwrap_or_default(),
            ts(s.covered_to).unwrap_or_default(),
            ts(s.last_success).unwrap_or_default(),
            s.rows_last_run.map_or(String::new(), |r| r.to_string()),
            gaps(s).len(),
            s.last_error.as_deref().unwrap_or(""),
        );
    }
    outln!(out);
    outln!(out, "rows per table:");
    for (table, n) in counts {
        outln!(out, "  {table:<28} {n:>10}");
    }
    print_out(&out);
    Ok(Exit::Ok)
}

/// An active site whose zone neither SolarEdge nor `[sites] timezone` gives: its series
/// cannot be asked for.
fn zoneless(config: &Config, states: &[store::SyncState], s: &store::SiteRow) -> bool {
    // Only the details are authoritative; a site list without zones is no verdict.
    let details_read = states
        .iter()
        .any(|st| st.site_id == s.site_id && st.family == "details" && st.last_success.is_some());
    let active = s
        .activation_status
        .as_deref()
        .is_none_or(crate::harvest::is_active);
    let zone = s
        .timezone
        .as_deref()
        .is_some_and(|z| z.parse::<chrono_tz::Tz>().is_ok())
        || config.timezones.iter().any(|(id, _)| *id == s.site_id);
    details_read && active && !zone
}

/// Stored sites that the key's last listing lacks and no OAuth grant covers: the harvester
/// skips them (with a warning each run).
fn unlisted_sites(
    config: &Config,
    store: &store::Store,
    sites: &[store::SiteRow],
) -> Result<Vec<i64>, store::Error> {
    let Some(listed) = store.last_listing()? else {
        return Ok(Vec::new());
    };
    let tokens = TokenStore::new(&config.token_store);
    let granted: Vec<i64> = match tokens.exists().then(|| tokens.load()) {
        Some(Ok(t)) => t.grants.iter().map(|g| g.site_id).collect(),
        _ => Vec::new(),
    };
    Ok(sites
        .iter()
        .map(|s| s.site_id)
        .filter(|id| !listed.contains(id) && !granted.contains(id))
        .collect())
}

/// Gaps recorded on a series cursor (ranges the API returned no buckets for).
fn gaps(s: &store::SyncState) -> Vec<serde_json::Value> {
    s.gaps()
        .iter()
        .map(|(a, b)| json!([store::fmt_ts(a), store::fmt_ts(b)]))
        .collect()
}
