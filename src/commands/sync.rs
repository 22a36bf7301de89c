//! `seh sync`: lock, open the database, build the client with the call ledger attached,
//! run the harvester, record the run and print one summary line.

use super::{build_client, db_fatal, lock_run, open_store, Fatal, Outcome};
use crate::api::CallRecord;
use crate::cli::SyncArgs;
use crate::clock;
use crate::config::{AlertSource, Config};
use crate::display::thousands;
use crate::exit::Exit;
use crate::harvest::{Family, Harvester, Settings};
use crate::model::Resolution;
use crate::store::{ApiCall, RunSummary, Store};
use chrono::{Duration, Utc};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub fn run(config: &Config, args: &SyncArgs) -> Outcome {
    let settings = settings(config, args)?;
    let stop = Arc::new(AtomicBool::new(false));
    install_interrupt_handler(stop.clone());
    let _lock = lock_run(&config.database)?;
    let mut store = open_store(&config.database)?;
    // OAuth grants (issue 5): harvested after the Fleet key, or alone when there is none.
    let grants = super::auth::prepare(config)?;
    let oauth_only =
        config.api_key.is_none() && grants.as_ref().is_some_and(|g| !g.sites.is_empty());
    let mut client = if oauth_only {
        super::build_client_with(config, crate::api::Credential::None, stop.clone())
    } else {
        build_client(config, stop.clone())?
    };

    // The ledger has its own connection and commits every call at once, so a credit spent
    // is counted even when the data of that call is rolled back or the process dies.
    let mut ledger = Store::open(&config.database).map_err(|e| db_fatal(&config.database, e))?;
    // Calls and credits of this run, for the summary line.
    let spent = Rc::new(Cell::new((0i64, 0i64)));
    let spent_in_observer = spent.clone();
    client.set_observer(Box::new(move |c: &CallRecord<'_>| {
        let (calls, credits) = spent_in_observer.get();
        spent_in_observer.set((calls + 1, credits + i64::from(c.credits)));
        let call = ApiCall {
            at: c.at,
            credential: c.credential.to_string(),
            method: c.method.to_string(),
            path: c.path.to_string(),
            status: c.status,
            credits: i64::from(c.credits),
            duration_ms: i64::try_from(c.duration.as_millis()).unwrap_or(i64::MAX),
            error: c.error.map(str::to_string),
        };
        if let Err(e) = ledger.record_call(&call) {
            log::warn!("could not record an API call in the ledger: {e}");
        }
    }));

    // Run times follow the server's clock like the ledger (a Pi may have no RTC): the
    // estimate from the last run now, restamped at the end with what the server said.
    let anchor = store
        .clock_anchor()
        .map_err(|e| db_fatal(&config.database, e))?;
    let started_local = Instant::now();
    let run_id = store
        .begin_run(clock::estimate(anchor, Utc::now(), config.time_scale))
        .map_err(|e| db_fatal(&config.database, e))?;
    let (mut report, plan) = if oauth_only {
        (crate::harvest::report::Report::default(), None)
    } else {
        let mut fleet = settings.clone();
        fleet.grant_sites = grants.as_ref().map(|g| g.sites.clone()).unwrap_or_default();
        Harvester::new(&mut client, &mut store, fleet, stop.clone()).run()
    };
    if let Some(grants) = &grants {
        let (c, s) = (&mut client, &mut store);
        let mut http = super::auth::token_client(config, stop.clone());
        crate::harvest::grants::harvest_grants(
            &config.base_url,
            grants,
            &settings,
            &mut http,
            c,
            s,
            &mut report,
            stop.clone(),
        );
    }
    if let Some(plan) = &plan {
        log::debug!(
            "freshness cadence {:?}; quarter-hour history left: {} calls",
            plan.cadence,
            plan.deep_remaining
        );
    }
    let exit = report.exit();
    let (calls, credits) = spent.get();
    let elapsed = started_local.elapsed();
    let secs = elapsed.as_secs_f64();
    let finished_at = client.server_now();
    let started_at =
        finished_at - Duration::milliseconds((secs * 1000.0 * client.time_scale()).round() as i64);
    let summary = format!(
        "sync: {} calls, {} credits, {} rows in {secs:.1} s; {} failed, exit {}",
        thousands(calls),
        thousands(credits),
        thousands(report.rows as i64),
        report.failures(),
        exit.code()
    );
    let finished = RunSummary {
        finished_at,
        exit_code: i32::from(exit.code()),
        calls,
        credits,
        rows: report.rows as i64,
        summary: summary.clone(),
    };
    if let Err(e) = store
        .restamp_run(run_id, started_at)
        .and_then(|()| store.finish_run(run_id, &finished))
    {
        log::warn!("could not record the run: {e}");
    }
    match exit {
        Exit::Ok => log::info!("{summary}"),
        Exit::Interrupted => log::warn!("interrupted; progress is saved. {summary}"),
        _ => log::warn!("{summary}"),
    }
    // Notifications (issue 15) after the run is recorded; never change the exit code.
    if !stop.load(Ordering::SeqCst) {
        super::notify::after_sync(config, &mut store, &report, finished_at);
    }
    if stop.load(Ordering::SeqCst) && exit != Exit::Interrupted {
        return Ok(Exit::Interrupted);
    }
    // The harvest is committed; the pushers copy it out (issue 13). Not after an
    // interruption or a database failure: the next run pushes what is here now.
    let exit = if matches!(exit, Exit::Interrupted | Exit::Database) {
        exit
    } else {
        exit.merge(super::push::after_sync(config, &store))
    };
    // A card the kernel remounted read-only mid-run fails a commit with an I/O error (the
    // harvester logged it); the closing line says what it was and what to do.
    if exit == Exit::Database && super::on_read_only_fs(&config.database) {
        return Err(super::read_only_fatal(&config.database));
    }
    Ok(exit)
}

/// First Ctrl-C/SIGTERM: finish the current response and stop. Second: leave at once (the
/// database is consistent either way; only the response in flight is lost).
fn install_interrupt_handler(stop: Arc<AtomicBool>) {
    let result = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
        eprintln!("seh: stopping after the current response (press Ctrl-C again to quit now)");
    });
    if let Err(e) = result {
        log::debug!("no interrupt handler: {e}");
    }
}

pub(super) fn settings(config: &Config, args: &SyncArgs) -> Result<Settings, Fatal> {
    let only = match &args.only {
        None => None,
        Some(list) => {
            let mut v = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let f = Family::parse(name).ok_or_else(|| {
                    let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                    Fatal::new(
                        Exit::Config,
                        anyhow::anyhow!(
                            "--only: unknown family {name:?} (known: {})",
                            names.join(", ")
                        ),
                    )
                })?;
                v.push(f);
            }
            Some(v)
        }
    };
    let sites = match &args.sites {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>().map_err(|_| {
                        Fatal::new(
                            Exit::Config,
                            anyhow::anyhow!("--sites: {s:?} is not a site id"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mut max_span = BTreeMap::new();
    for (res, hours) in &config.max_window_hours {
        if let Some(r) = Resolution::parse(res) {
            max_span.insert(r, Duration::hours(i64::from(*hours)));
        }
    }
    Ok(Settings {
        full: args.full,
        only,
        sites,
        include: config.include.clone(),
        priority: config.priority.clone(),
        exclude: config.exclude.clone(),
        timezones: config.timezones.iter().copied().collect(),
        initial_days: config.initial_days,
        settle: Duration::hours(i64::from(config.settle_hours)),
        fleet_alerts: config.alerts == AlertSource::Fleet,
        fleet: config.api_key.is_some(),
        grant_sites: Vec::new(),
        max_span,
        fingerprint: fingerprint(
            &config.base_url,
            config.api_key.as_ref().map(|k| k.expose()),
        ),
        budget: config.budget,
        pinned: config
            .cadence_minutes
            .iter()
            .filter_map(|(f, m)| Some((Family::parse(f)?, Duration::minutes(i64::from(*m)))))
            .collect(),
        alerts_every: config
            .alerts_minutes
            .map(|m| Duration::minutes(i64::from(m))),
        max_deep_per_run: config.max_history_calls_per_run,
    })
}

/// A non-reversible tag of (base URL, key) so a recorded tier refusal is retried when
/// either changes; no key material can be recovered from it.
fn fingerprint(base_url: &str, key: Option<&str>) -> String {
    crate::harvest::tag(&format!("{base_url}\0{}", key.unwrap_or("")))
}
