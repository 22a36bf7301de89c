//! `seh status`: per site the energy of today, yesterday and the last days, what is stored
//! (in the site's local dates) and what fails; calls and credits this billing cycle; with
//! `-v` every family and table. Reads only; never shows a credential (the config's
//! secrets are not even consulted). The facts and their rendering are `crate::status`.

use super::{db_fatal, print_out, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::oauth::store::TokenStore;
use crate::status::{self, text::Style, Inputs};
use crate::store;
use chrono::Utc;
use std::io::IsTerminal;

pub fn run(config: &Config, as_json: bool, verbose: bool) -> Outcome {
    let path = &config.database;
    let (store, _lock) = super::open_existing(path, super::Schema::Current)?;
    let unlisted = unlisted_sites(config, &store).map_err(|e| db_fatal(path, e))?;
    let inputs = Inputs {
        database: path.clone(),
        budget: config.budget,
        time_scale: config.time_scale,
        timezones: config.timezones.iter().copied().collect(),
        unlisted,
        running: super::run_lock_held(path),
        count_rows: verbose || as_json,
    };
    let facts = status::gather(&store, inputs, Utc::now()).map_err(|e| db_fatal(path, e))?;
    if as_json {
        let doc = status::json::render(&facts);
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else {
        let style = Style {
            verbose,
            tty: std::io::stdout().is_terminal(),
        };
        print_out(&status::text::render(&facts, style));
    }
    Ok(Exit::Ok)
}

/// Stored sites that the key's last listing lacks and no OAuth grant covers: the harvester
/// skips them (with a warning each run).
fn unlisted_sites(config: &Config, store: &store::Store) -> Result<Vec<i64>, store::Error> {
    let Some(listed) = store.last_listing()? else {
        return Ok(Vec::new());
    };
    let tokens = TokenStore::new(&config.token_store);
    let granted: Vec<i64> = match tokens.exists().then(|| tokens.load()) {
        Some(Ok(t)) => t.grants.iter().map(|g| g.site_id).collect(),
        _ => Vec::new(),
    };
    Ok(store
        .site_rows()?
        .iter()
        .map(|s| s.site_id)
        .filter(|id| !listed.contains(id) && !granted.contains(id))
        .collect())
}
