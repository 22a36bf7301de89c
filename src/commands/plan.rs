//! `seh plan`: what the next `seh sync` will fetch and what it will cost, the freshness
//! cadence per family, credits used and left this cycle, and when quarter-hour history
//! will be complete. Makes no API call.

use super::{build_client_with, print_out, sync, Fatal, Outcome};
use crate::cli::{PlanArgs, SyncArgs};
use crate::clock::human;
use crate::config::Config;
use crate::display::{thousands, wrap, WIDTH};
use crate::exit::Exit;
use crate::harvest::planner::{Priority, Task};
use crate::harvest::Harvester;
use crate::store;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn run(config: &Config, args: &PlanArgs) -> Outcome {
    let path = &config.database;
    let sync_args = SyncArgs {
        sites: args.sites.clone(),
        only: args.only.clone(),
        full: args.full,
    };
    let settings = sync::settings(config, &sync_args)?;
    // Without a credential the next run fetches nothing: say so rather than plan for it.
    let grants = super::auth::prepare(config)?;
    if config.api_key.is_none() && grants.is_none_or(|g| g.sites.is_empty()) {
        return Err(super::no_credential(config));
    }
    let (mut store, _lock) = super::open_existing(path, super::Schema::Current)?;
    // No call is made: a client without a credential serves as the clock, so OAuth-only
    // installations can plan too.
    let mut client = build_client_with(
        config,
        crate::api::Credential::None,
        Arc::new(AtomicBool::new(false)),
    );
    let (input, plan) = Harvester::new(
        &mut client,
        &mut store,
        settings,
        Arc::new(AtomicBool::new(false)),
    )
    .preview()
    .map_err(|e| Fatal::new(e, anyhow::anyhow!("cannot plan from {}", path.display())))?;
    let b = &input.budget;
    let sites_known = !input.sites.is_empty() || (input.fleet && input.site_list_last.is_some());
    let first_run_per_site =
        (!sites_known).then(|| crate::harvest::planner::first_run_per_site(&input));
    let by = |p: Priority| plan.tasks.iter().filter(|t| t.priority() == p).count();
    let describe = |t: &Task| {
        let what = match t {
            Task::Window {
                site,
                family,
                res,
                window,
                ..
            } => format!(
                "{site} {} {} {}..{}",
                family.name(),
                res.as_str(),
                store::fmt_ts(&window.from),
                store::fmt_ts(&window.to),
            ),
            Task::Total { site, .. } => format!("{site} energy TOTAL"),
            Task::Overview { site, day } => format!("{site} overview {day}"),
            Task::Site { site, family, .. } => format!("{site} {}", family.name()),
            Task::FleetAlerts => "fleet alerts".into(),
            Task::SiteList => "site list".into(),
        };
        format!("{what} ({})", t.priority().name())
    };
    if args.json {
        let doc = json!({
            "now": store::fmt_ts(&input.now),
            "sites_known": sites_known,
            "first_run_calls_per_site_at_least": first_run_per_site,
            "cycle_start": store::fmt_ts(&b.cycle_start),
            "next_reset": store::fmt_ts(&b.next_reset),
            "monthly_credits": b.budget.monthly_credits,
            "reserve": b.budget.reserve,
            "used": b.used,
            "left": b.left(),
            "budget_line": b.line(),
            "next_run": {
                "calls": plan.cost(),
                "fresh": by(Priority::Fresh),
                "history": by(Priority::Cheap),
                "backfill": by(Priority::Deep),
                "slow": by(Priority::Slow),
                "tasks": plan.tasks.iter().map(describe).collect::<Vec<_>>(),
            },
            "cadence_minutes": plan.cadence.iter().map(|(f, c)| (f.name().to_string(), json!(c.num_minutes()))).collect::<serde_json::Map<_, _>>(),
            "max_lag_minutes": plan.max_lag.iter().map(|(f, c)| (f.name().to_string(), json!(c.num_minutes()))).collect::<serde_json::Map<_, _>>(),
            "daily_families_every_days": plan.slow_every.num_days(),
            "alerts_every_minutes": plan.alerts_every.num_minutes(),
            "projected_fresh_credits": plan.fresh_cycle_cost,
            "projected_slow_credits": plan.slow_cycle_cost,
            "backfill_calls_remaining": plan.deep_remaining,
            "backfill_complete_by": plan.deep_completion.map(|t| store::fmt_ts(&t)),
            "notes": plan.notes,
            "lagging_sites": plan.lagging.iter().map(|(site, lag)| json!({"site_id": site, "lag_minutes": lag.num_minutes()})).collect::<Vec<_>>(),
        });
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    out.push_str(&crate::status::text::credits(b));
    if let Some(per_site) = first_run_per_site {
        let fleet_calls = if input.fleet { 1 } else { 0 } + u64::from(input.fleet_alerts);
        outln!(
            out,
            "{}",
            wrap(
                &format!(
                    "sites: not known yet. The first `seh sync` reads {}for every site its \
                     details and devices, the days and months back to \
                     installation (history), the last {} days of quarter-hours (fresh) and \
                     the slow families: at least {per_site} calls per site and {fleet_calls} \
                     for the account, more for sites with meters or batteries. Run \
                     `seh plan` again after it for the schedule.",
                    if input.fleet {
                        "the site list, then "
                    } else {
                        ""
                    },
                    input.initial.num_days()
                ),
                WIDTH,
                "  "
            )
        );
        print_out(&out);
        return Ok(Exit::Ok);
    }
    outln!(out, "next run: {}", plan.calls_by_kind());
    if !plan.cadence.is_empty() {
        outln!(out, "fresh data, per quarter-hour series:");
    }
    for (f, c) in &plan.cadence {
        outln!(
            out,
            "  {:<20} every {:<12} (at most {} old)",
            f.name(),
            human(*c),
            human(plan.max_lag[f])
        );
    }
    outln!(
        out,
        "{}",
        wrap(
            &format!(
                "slow families: details, devices, benefits, overview every {}; alerts \
                 every {}",
                human(plan.slow_every),
                human(plan.alerts_every)
            ),
            WIDTH,
            "  "
        )
    );
    outln!(
        out,
        "until the reset: {} credits for fresh data, {} for slow families",
        thousands(plan.fresh_cycle_cost as i64),
        thousands(plan.slow_cycle_cost as i64)
    );
    match plan.deep_completion {
        Some(_) if plan.deep_remaining == 0 => {
            outln!(out, "backfill: quarter-hour history is complete")
        }
        Some(t) => outln!(
            out,
            "backfill: {} calls of quarter-hour history to go, done by about {}",
            thousands(plan.deep_remaining as i64),
            t.format("%Y-%m-%d")
        ),
        None => outln!(
            out,
            "backfill: {} calls of quarter-hour history to go, never at this budget",
            thousands(plan.deep_remaining as i64)
        ),
    }
    if !plan.lagging.is_empty() {
        let worst: Vec<String> = plan
            .lagging
            .iter()
            .take(5)
            .map(|(site, lag)| format!("{site} by {}", human(*lag)))
            .collect();
        outln!(
            out,
            "{}",
            wrap(
                &format!(
                    "lagging: {} sites have quarter-hours older than their cadence allows; \
                     most behind: {}{}. The longest waiting come first in each run \
                     ([sites] priority puts chosen sites before them).",
                    thousands(plan.lagging.len() as i64),
                    worst.join(", "),
                    if plan.lagging.len() > 5 { ", …" } else { "" }
                ),
                WIDTH,
                "  "
            )
        );
    }
    for n in &plan.notes {
        outln!(out, "{}", wrap(&format!("note: {n}"), WIDTH, "  "));
    }
    if args.verbose_tasks {
        outln!(out, "tasks:");
        for t in &plan.tasks {
            outln!(out, "  {}", describe(t));
        }
    }
    print_out(&out);
    Ok(Exit::Ok)
}
