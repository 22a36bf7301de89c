//! `seh check`: prove the credentials work: the Fleet key (the sites it sees and the
//! rate-limit headers) and every OAuth grant (one call to its site). Writes no database,
//! not even the call ledger; a grant's tokens are refreshed and saved when due, as a sync
//! would.

use super::{build_client, print_out, Fatal, Outcome};
use crate::api;
use crate::config::Config;
use crate::exit::Exit;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn run(config: &Config) -> Outcome {
    // Homeowners without a Fleet key check their grants; a Fleet key is checked first.
    let grants = super::auth::prepare(config)?;
    let mut out = String::new();
    let mut exit = Exit::Ok;
    if config.api_key.is_some() || grants.as_ref().is_none_or(|g| g.sites.is_empty()) {
        exit = check_key(config, &mut out)?;
    }
    if let Some(g) = grants.as_ref().filter(|g| !g.sites.is_empty()) {
        outln!(out, "{} OAuth grant(s):", g.sites.len());
        exit = exit.merge(super::auth::check_grants(config, g, &mut out));
    }
    print_out(&out);
    Ok(exit)
}

/// One `/sites` call with the Fleet key: the key works, the sites it sees, the rate limit.
fn check_key(config: &Config, out: &mut String) -> Result<Exit, Fatal> {
    let mut client = build_client(config, Arc::new(AtomicBool::new(false)))?;
    let query = api::sites::list_query(1, 100);
    let fetched = client
        .get(api::sites::list_path(), &query)
        .map_err(|e| api_fatal(config, e))?;
    let (sites, _) = api::sites::parse_list(&fetched.body).map_err(|e| {
        Fatal::new(
            Exit::Partial,
            anyhow::anyhow!("the site list could not be read: {e}"),
        )
    })?;
    outln!(out, "credential accepted by {}", config.base_url);
    let rate = fetched.rate;
    outln!(
        out,
        "rate limit: {} calls/minute, {} remaining this minute",
        rate.limit.map_or("?".into(), |v| v.to_string()),
        rate.remaining.map_or("?".into(), |v| v.to_string())
    );
    outln!(out, "{} site(s):", sites.len());
    for s in &sites {
        let wanted = if config.wants_site(s.site_id) {
            ""
        } else {
            "  (excluded by [sites])"
        };
        outln!(
            out,
            "  {:>10}  {:<30}  {:<9}  {}{wanted}",
            s.site_id,
            s.name.as_deref().unwrap_or("-"),
            s.activation_status.as_deref().unwrap_or("-"),
            s.peak_power_kw
                .map_or(String::new(), |p| format!("{p} kWp")),
        );
    }
    Ok(Exit::Ok)
}

/// Credential and URL problems are configuration errors (exit 2); the rest are partial.
pub fn api_fatal(config: &Config, e: api::Error) -> Fatal {
    if let api::Error::NotFound { .. } = e {
        return Fatal::new(
            Exit::Config,
            anyhow::anyhow!("{}", api::sites::list_not_found(&config.base_url)),
        );
    }
    let exit = crate::harvest::exit_for(&e, crate::harvest::Scope::Check);
    Fatal::new(exit, anyhow::anyhow!("{}: {e}", config.base_url))
}
