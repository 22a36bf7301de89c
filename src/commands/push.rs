//! `seh push [--to NAME] [--full] [--init]`, and the pushers that run at the end of
//! `seh sync` ([`after_sync`]). Each pusher's failure is one line naming it and its target
//! (never the password); the others still run, and the harvest is already committed.

use super::{lock_run, open_store, Fatal, Outcome};
use crate::cli::PushArgs;
use crate::config::Config;
use crate::exit::Exit;
use crate::push::{self, Options, PushConfig};
use crate::store::Store;
use std::time::Instant;

pub fn run(config: &Config, args: &PushArgs) -> Outcome {
    if config.push.is_empty() {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "no [[push]] entry in the configuration: add one (see `seh init`'s example \
                 and the README, \"Send the data to PostgreSQL or MariaDB\")"
            ),
        ));
    }
    let chosen: Vec<&PushConfig> = match &args.to {
        Some(name) => match config.push.iter().find(|p| &p.name == name) {
            Some(p) => vec![p],
            None => {
                let names: Vec<&str> = config.push.iter().map(|p| p.name.as_str()).collect();
                return Err(Fatal::new(
                    Exit::Config,
                    anyhow::anyhow!(
                        "--to {name}: no [[push]] entry has that name (configured: {})",
                        names.join(", ")
                    ),
                ));
            }
        },
        None => config.push.iter().filter(|p| p.enabled).collect(),
    };
    let _lock = lock_run(&config.database)?;
    let store = open_store(&config.database)?;
    let opts = Options {
        full: args.full,
        init_only: args.init,
    };
    let mut out = String::new();
    let mut exit = Exit::Ok;
    for p in chosen {
        let started = Instant::now();
        match push::push(&store, p, opts) {
            Ok(done) if args.init => {
                outln!(
                    out,
                    "push {}: remote schema ready at {}",
                    p.name,
                    p.display_url()
                );
                let _ = done;
            }
            Ok(done) => outln!(
                out,
                "push {}: {} rows of {} tables in {:.1} s",
                p.name,
                done.rows,
                done.tables,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => exit = exit.merge(report_failure(p, &e)),
        }
    }
    super::print_out(&out);
    Ok(exit)
}

/// The pushers of a finished `seh sync` (every enabled one with `after_sync`); the exit
/// code to merge into the sync's.
pub fn after_sync(config: &Config, store: &Store) -> Exit {
    let mut exit = Exit::Ok;
    for p in config.push.iter().filter(|p| p.enabled && p.after_sync) {
        let started = Instant::now();
        match push::push(store, p, Options::default()) {
            Ok(done) => log::info!(
                "push {}: {} rows of {} tables in {:.1} s",
                p.name,
                done.rows,
                done.tables,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => exit = exit.merge(report_failure(p, &e)),
        }
    }
    exit
}

/// Prints the one line of a failed pusher and says which exit code it means.
fn report_failure(p: &PushConfig, e: &push::Error) -> Exit {
    eprintln!("seh: pusher {} ({}): {e}", p.name, p.display_url());
    match e {
        push::Error::NotBuilt { .. } | push::Error::CaFile { .. } => Exit::Config,
        push::Error::Store(_) => Exit::Database,
        _ => Exit::Partial,
    }
}
