//! `seh plan`: what the next `seh sync` will fetch and what it will cost, the freshness
//! cadence per family, credits used and left this cycle, and when quarter-hour history
//! will be complete. Makes no API call.

use super::{build_client_with, print_out, sync, Fatal, Outcome};
use crate::cli::{PlanArgs, SyncArgs};
use crate::config::Config;
use crate::exit::Exit;
use crate::harvest::planner::{human, Priority, Task};
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
    let by = |p: Priority| plan.tasks.iter().filter(|t| t.priority() == p).count();
    let describe = |t: &Task| match t {
        Task::Window {
            site,
            family,
            res,
            window,
            priority,
        } => format!(
            "{site} {} {} {}..{} ({:?})",
            family.name(),
            res.as_str(),
            store::fmt_ts(&window.from),
            store::fmt_ts(&window.to),
            priority
        ),
        Task::Total { site, .. } => format!("{site} energy TOTAL"),
        Task::Overview { site, day } => format!("{site} overview {day}"),
        Task::Site { site, family, .. } => format!("{site} {}", family.name()),
        Task::FleetAlerts => "fleet alerts".into(),
        Task::SiteList => "site list".into(),
    };
    if args.json {
        let doc = json!({
            "now": store::fmt_ts(&input.now),
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
                "deep": by(Priority::Deep),
                "slow": by(Priority::Slow),
                "tasks": plan.tasks.iter().map(describe).collect::<Vec<_>>(),
            },
            "cadence_minutes": plan.cadence.iter().map(|(f, c)| (f.name().to_string(), json!(c.num_minutes()))).collect::<serde_json::Map<_, _>>(),
            "max_lag_minutes": plan.max_lag.iter().map(|(f, c)| (f.name().to_string(), json!(c.num_minutes()))).collect::<serde_json::Map<_, _>>(),
            "daily_families_every_days": plan.slow_every.num_days(),
            "alerts_every_minutes": plan.alerts_every.num_minutes(),
            "projected_fresh_credits": plan.fresh_cycle_cost,
            "projected_slow_credits": plan.slow_cycle_cost,
            "history_calls_remaining": plan.deep_remaining,
            "history_complete_by": plan.deep_completion.map(|t| store::fmt_ts(&t)),
            "notes": plan.notes,
        });
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    outln!(
        out,
        "budget: {} of {} credits used this cycle ({} kept in reserve), {} left; renews {}",
        b.used,
        b.budget.monthly_credits,
        b.budget.reserve,
        b.left(),
        store::fmt_ts(&b.next_reset)
    );
    outln!(out, "budget line: {} credits may be spent by now", b.line());
    outln!(
        out,
        "next run: {} calls ({} fresh, {} history, {} quarter-hour backfill, {} slow)",
        plan.cost(),
        by(Priority::Fresh),
        by(Priority::Cheap),
        by(Priority::Deep),
        by(Priority::Slow)
    );
    outln!(out, "cadence:");
    for (f, c) in &plan.cadence {
        outln!(
            out,
            "  {:<20} every {:<8} (data at most {} old)",
            f.name(),
            human(*c),
            human(plan.max_lag[f])
        );
    }
    outln!(
        out,
        "  {:<20} every {}",
        "details/devices/…",
        human(plan.slow_every)
    );
    outln!(out, "  {:<20} every {}", "alerts", human(plan.alerts_every));
    outln!(
        out,
        "projected until the reset: {} credits for freshness, {} for slow families",
        plan.fresh_cycle_cost,
        plan.slow_cycle_cost
    );
    match plan.deep_completion {
        Some(t) if plan.deep_remaining == 0 => outln!(
            out,
            "quarter-hour history: complete ({})",
            store::fmt_ts(&t)
        ),
        Some(t) => outln!(
            out,
            "quarter-hour history: {} calls to go, complete by about {}",
            plan.deep_remaining,
            t.format("%Y-%m-%d")
        ),
        None => outln!(
            out,
            "quarter-hour history: {} calls to go, never at this budget",
            plan.deep_remaining
        ),
    }
    for n in &plan.notes {
        outln!(out, "note: {n}");
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
