//! The OAuth side of a sync: one harvest per live grant with its own bearer credential
//! (after the Fleet key's, which keeps the sites of its listing), keep-alive refreshes of
//! the grants a run did not use, and exit 6 with a clear message for a dead grant while
//! the other sites carry on.
//!
//! Token calls go through their own `api::Client` (no credential, no ledger: the token
//! endpoint is not known to cost credits), so the harvest client's server clock is only
//! ever set by data responses. Token times are taken on that clock (`Client::server_now`,
//! seeded with the stored clock anchor), the one the harvester plans with. Prints nothing
//! but log records; `commands::sync` builds [`Grants`] from the configuration.

use super::report::{Event, FailureKind, Outcome as FamilyOutcome, Report};
use super::{Harvester, Settings};
use crate::api::{Client, Credential};
use crate::exit::Exit;
use crate::model::SiteId;
use crate::oauth::store::TokenStore;
use crate::oauth::token::{self, App, Policy, TokenError};
use crate::store::Store;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The OAuth side of a sync, ready to run.
pub struct Grants {
    pub store: TokenStore,
    pub app: App,
    pub policy: Policy,
    /// Sites with a grant (dead ones included), at the start of the run.
    pub sites: Vec<SiteId>,
}

/// The tag of (base URL, application, site) for recorded tier refusals.
fn fingerprint(base_url: &str, client_id: &str, site: SiteId) -> String {
    super::tag(&format!("{base_url}\0oauth:{client_id}\0{site}"))
}

fn failed(kind: FailureKind, message: String) -> FamilyOutcome {
    FamilyOutcome::Failed { kind, message }
}

fn absorb(into: &mut Report, r: Report) {
    into.calls += r.calls;
    into.rows += r.rows;
    into.rejected |= r.rejected;
    into.other_site |= r.other_site;
    into.outcomes.extend(r.outcomes);
    into.events.extend(r.events);
    for (k, n) in r.rows_by {
        *into.rows_by.entry(k).or_default() += n;
    }
    if let Some(f) = r.fatal {
        into.fatal(f);
    }
}

/// Records a token problem of one site; the other sites carry on.
fn token_failure(report: &mut Report, site: SiteId, e: &TokenError) {
    let msg = e.to_string();
    match e {
        TokenError::NoGrant { .. } => {
            log::warn!("site {site}: {msg}");
            return;
        }
        TokenError::Api(crate::api::Error::Interrupted) => {}
        TokenError::Api(_) => {
            log::warn!(
                "site {site}: could not refresh the OAuth tokens ({msg}); the next run tries again"
            )
        }
        _ => log::error!("site {site}: {msg}"),
    }
    report
        .outcomes
        .push((site, None, failed(FailureKind::Token, msg)));
    if matches!(e, TokenError::Dead { .. }) || e.exit() == Exit::GrantDead {
        report.event(Event::GrantDead { site });
    }
    report.fatal(e.exit());
}

/// One harvest per live grant (after the Fleet-key harvest, if any), then keep-alive
/// refreshes of the grants this run did not use. Results go into `report`.
#[allow(clippy::too_many_arguments)]
pub fn harvest_grants(
    base_url: &str,
    grants: &Grants,
    base: &Settings,
    http: &mut Client,
    client: &mut Client,
    store: &mut Store,
    report: &mut Report,
    stop: Arc<AtomicBool>,
) {
    if matches!(report.fatal, Some(Exit::Interrupted | Exit::Database)) {
        return;
    }
    // Exhausted credits stop the harvests, not the (free) keep-alive refreshes.
    let harvest = report.fatal != Some(Exit::Credits);
    if !base.fleet {
        if let Ok(Some(anchor)) = store.clock_anchor() {
            client.set_clock_anchor(anchor);
        }
    }
    let tokens = match grants.store.load() {
        Ok(t) => t,
        Err(e) => {
            log::error!("{e}");
            report.fatal(Exit::Database);
            return;
        }
    };
    if !base.fleet {
        // Without a Fleet key only granted sites can be harvested.
        for site in base.sites.iter().flatten() {
            if tokens.grant(*site).is_none() {
                let msg = format!(
                    "no credential for site {site}: no Fleet key and no OAuth grant; run `seh auth login` and approve site {site}"
                );
                log::error!("{msg}");
                report
                    .outcomes
                    .push((*site, None, failed(FailureKind::Token, msg)));
                report.fatal(Exit::Config);
            }
        }
    }
    // With a Fleet key, the sites of its listing were harvested with the key; their grants
    // are only kept alive (below), so no site is harvested twice.
    let by_key = if base.fleet {
        (store.fleet_listing(&base.fingerprint))
            .ok()
            .flatten()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut used = Vec::new();
    for g in &tokens.grants {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            report.fatal(Exit::Interrupted);
            return;
        }
        let site = g.site_id;
        if let Some(d) = &g.dead {
            token_failure(
                report,
                site,
                &TokenError::Dead {
                    site,
                    reason: d.reason.clone(),
                },
            );
            continue;
        }
        let wanted = harvest && !by_key.contains(&site) && base.wants_site(site);
        if !wanted {
            continue;
        }
        used.push(site);
        let mut settings = base.clone();
        settings.fleet = false;
        settings.fleet_alerts = false;
        settings.sites = Some(vec![site]);
        settings.fingerprint = fingerprint(base_url, &grants.app.client_id, site);
        let r = harvest_one(grants, http, client, store, settings, site, &stop);
        let fatal = matches!(
            r.fatal,
            Some(Exit::Interrupted | Exit::Database | Exit::Credits)
        );
        absorb(report, r);
        if fatal {
            return;
        }
    }
    // Keep-alive: the clock is best known now, after the harvests.
    for g in tokens.grants.iter().filter(|g| g.dead.is_none()) {
        if used.contains(&g.site_id) || stop.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        let now = client.server_now();
        if now - g.refreshed_at < grants.policy.idle {
            continue;
        }
        match token::access_token(
            &grants.store,
            &grants.app,
            http,
            g.site_id,
            now,
            &grants.policy,
            None,
        ) {
            Ok(f) => {
                if let Some(why) = f.refreshed {
                    log::info!("site {}: OAuth grant refreshed ({why})", g.site_id);
                }
            }
            Err(e) => token_failure(report, g.site_id, &e),
        }
    }
}

/// Harvests one granted site; refreshes the access token once if it is rejected.
fn harvest_one(
    grants: &Grants,
    http: &mut Client,
    client: &mut Client,
    store: &mut Store,
    settings: Settings,
    site: SiteId,
    stop: &Arc<AtomicBool>,
) -> Report {
    let mut report = Report::default();
    let mut rejected_token = None;
    for attempt in 0..2 {
        let now = client.server_now();
        let fresh = match token::access_token(
            &grants.store,
            &grants.app,
            http,
            site,
            now,
            &grants.policy,
            rejected_token.as_ref(),
        ) {
            Ok(f) => f,
            Err(e) => {
                token_failure(&mut report, site, &e);
                return report;
            }
        };
        if let Some(why) = fresh.refreshed {
            log::debug!("site {site}: OAuth tokens refreshed ({why})");
        }
        client.set_credential(Credential::Bearer {
            token: fresh.access_token.clone(),
            site_id: site,
        });
        let anchor = store.clock_anchor().ok().flatten();
        let (r, _) = Harvester::new(client, store, settings.clone(), stop.clone()).run();
        if attempt == 0 && r.rejected {
            // Only the 401 is dropped; its answer need not carry the server's clock.
            if let Some(anchor) = anchor {
                let _ = store.set_clock_anchor(anchor);
            }
            log::info!("site {site}: SolarEdge rejected the access token; refreshing it once");
            rejected_token = Some(fresh.access_token);
            continue;
        }
        report = r;
        break;
    }
    if report.rejected {
        log::error!(
            "site {site}: SolarEdge rejects even a freshly refreshed access token; run `seh auth login` and approve site {site}"
        );
        report.fatal(Exit::GrantDead);
        report.event(Event::GrantDead { site });
    }
    if report.other_site {
        log::error!(
            "site {site}: the OAuth grant stored for site {site} does not cover it (consent was given for another site); run `seh auth login` and approve site {site}"
        );
        report.fatal(Exit::GrantDead);
        report.event(Event::GrantDead { site });
    }
    report
}
