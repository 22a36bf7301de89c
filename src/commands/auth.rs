//! `seh auth login|status|logout` (homeowners' OAuth Site Access), the grants' part of
//! `seh check`, and building [`Grants`] from the configuration for `seh sync` (whose
//! per-grant harvests live in `harvest::grants`).
//!
//! Token calls go through their own `api::Client` (no credential, no ledger: the token
//! endpoint is not known to cost credits). Token times are taken on the server clock the
//! harvester plans with (`Client::server_now`, seeded with the stored clock anchor).

use super::{print_out, Fatal, Outcome};
use crate::api::{Client, Credential};
use crate::cli::{AuthArgs, AuthCommand, AuthLoginArgs};
use crate::config::{Config, OAuthConfig};
use crate::exit::Exit;
use crate::harvest::grants::Grants;
use crate::model::SiteId;
use crate::oauth::login::{self, Callback};
use crate::oauth::store::{Pending, StoreError, TokenStore, Tokens};
use crate::oauth::token::{self, App, Policy, TokenError};
use crate::oauth::{listen, REFRESH_IDLE_LIMIT_DAYS};
use crate::store::Store;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How long `--listen` waits for the browser (codes live about 10 minutes anyway).
const LISTEN_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Pending logins older than this are forgotten.
const PENDING_TTL_HOURS: i64 = 24;

pub fn run(config: &Config, args: &AuthArgs) -> Outcome {
    match &args.command {
        AuthCommand::Login(a) => login(config, a),
        AuthCommand::Status(a) => status(config, a.json),
        AuthCommand::Logout(a) => logout(config, a.site),
    }
}

fn oauth_config(config: &Config) -> Result<&OAuthConfig, Fatal> {
    config.oauth.as_ref().ok_or_else(|| {
        Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "no OAuth application configured: set [oauth] client_id and client_secret in {} \
                 (README, \"Homeowners: OAuth Site Access\")",
                config.source.as_ref().map_or_else(
                    || "the config file".to_string(),
                    |p| p.display().to_string()
                )
            ),
        )
    })
}

fn app(o: &OAuthConfig) -> App {
    App {
        client_id: o.client_id.clone(),
        client_secret: o.client_secret.clone(),
    }
}

fn store_fatal(e: StoreError) -> Fatal {
    Fatal::new(Exit::Database, e)
}

/// A client for the token and revoke endpoints only.
pub(super) fn token_client(config: &Config, stop: Arc<AtomicBool>) -> Client {
    super::build_client_with(config, Credential::None, stop)
}

/// The server's clock as the last sync saw it, advanced by the local clock since (a Pi may
/// have no RTC; a simulator runs on virtual time); the local clock without a database.
fn estimated_now(config: &Config) -> DateTime<Utc> {
    let mut client = token_client(config, Arc::new(AtomicBool::new(false)));
    if config.database.exists() {
        if let Ok(store) = Store::open(&config.database) {
            if let Ok(Some(anchor)) = store.clock_anchor() {
                client.set_clock_anchor(anchor);
            }
        }
    }
    client.server_now()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ----- login ------------------------------------------------------------------------------

fn login(config: &Config, args: &AuthLoginArgs) -> Outcome {
    let o = oauth_config(config)?;
    let store = TokenStore::new(&config.token_store);
    let stop = Arc::new(AtomicBool::new(false));
    let mut http = token_client(config, stop.clone());

    if args.redirect_url.is_some() && args.listen.is_some() {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!("give either --redirect-url or --listen, not both"),
        ));
    }
    if let Some(url) = &args.redirect_url {
        // The second half of a login started earlier: its state must be one we issued.
        let tokens = store.load().map_err(store_fatal)?;
        let cb = Callback::parse(url).map_err(|e| Fatal::new(Exit::Config, e))?;
        let pending: Vec<&str> = tokens.pending.iter().map(|p| p.state.as_str()).collect();
        return finish(config, o, &store, &mut http, &cb, &pending).map(|(exit, _)| exit);
    }

    let state = login::random_state();
    remember(&store, &state, estimated_now(config))?;
    let url = login::authorize_url(&o.authorize_url, &o.client_id, &state);

    if let Some(addr) = &args.listen {
        let listener = listen::bind(addr).map_err(|e| {
            Fatal::new(
                Exit::Config,
                anyhow::anyhow!("cannot listen on {addr}: {e}"),
            )
        })?;
        let local = listener
            .local_addr()
            .map_or_else(|_| addr.clone(), |a| a.to_string());
        print_out(&format!("{url}\n"));
        eprintln!(
            "Open the address above in a browser on this computer, sign in to SolarEdge and \
             approve one site.\nseh waits up to {} minutes for the redirect to \
             http://{local}/callback (that must be the application's registered Redirect URL).",
            LISTEN_FOR.as_secs() / 60
        );
        let deadline = std::time::Instant::now() + LISTEN_FOR;
        let caught = listen::wait(&listener, deadline, &stop)
            .map_err(|e| Fatal::new(Exit::Config, anyhow::anyhow!("listening on {local}: {e}")))?;
        let Some((stream, target)) = caught else {
            return Err(Fatal::new(
                Exit::Config,
                anyhow::anyhow!(
                    "no redirect arrived at http://{local}/callback within {} minutes; run `seh auth login` again",
                    LISTEN_FOR.as_secs() / 60
                ),
            ));
        };
        let result = Callback::parse(&format!("http://{local}{target}"))
            .map_err(|e| Fatal::new(Exit::Config, e))
            .and_then(|cb| finish(config, o, &store, &mut http, &cb, &[&state]));
        match &result {
            Ok((_, site)) => {
                listen::respond(stream, true, &format!("seh has access to site {site} now."))
            }
            Err(f) => listen::respond(stream, false, &format!("seh: login failed: {:#}", f.error)),
        }
        return result.map(|(exit, _)| exit);
    }

    print_out(&format!("{url}\n"));
    let redirect = o
        .redirect_url
        .as_deref()
        .unwrap_or("the application's Redirect URL");
    eprintln!(
        "1. Open the address above in any browser (phone or laptop), sign in to SolarEdge and \
         approve one site.\n\
         2. The browser then goes to {redirect}?code=… which may fail to load: that is fine.\n\
         3. Copy the whole address from the address bar, paste it here and press Enter \
         (within about 10 minutes: codes expire).\n\
         Or finish later with: seh auth login --redirect-url 'ADDRESS'"
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if matches!(read, Ok(0)) || line.trim().is_empty() {
        eprintln!(
            "seh: no address read. To finish this login run: seh auth login --redirect-url 'ADDRESS'"
        );
        return Ok(Exit::Ok);
    }
    if let Err(e) = read {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!("cannot read the address: {e}"),
        ));
    }
    let cb = Callback::parse(&line).map_err(|e| Fatal::new(Exit::Config, e))?;
    finish(config, o, &store, &mut http, &cb, &[&state]).map(|(exit, _)| exit)
}

/// Records a started login's `state` (and forgets day-old ones).
fn remember(store: &TokenStore, state: &str, now: DateTime<Utc>) -> Result<(), Fatal> {
    let lock = store.lock().map_err(store_fatal)?;
    let mut tokens = store.load().map_err(store_fatal)?;
    tokens
        .pending
        .retain(|p| now - p.created < Duration::hours(PENDING_TTL_HOURS));
    tokens.pending.push(Pending {
        state: state.to_string(),
        created: now,
    });
    store.save(&tokens, &lock).map_err(store_fatal)
}

/// Checks the redirect, exchanges the code at once and stores the grant.
fn finish(
    config: &Config,
    o: &OAuthConfig,
    store: &TokenStore,
    http: &mut Client,
    cb: &Callback,
    expected: &[&str],
) -> Result<(Exit, SiteId), Fatal> {
    let (code, site) = cb
        .check(expected)
        .map_err(|e| Fatal::new(Exit::Config, e))?;
    if !cb.echoes() {
        log::warn!(
            "the redirect URL echoes neither state nor external_id; accepting it (SolarEdge Connect may not echo them)"
        );
    }
    let now = estimated_now(config);
    let grant = token::grant_from_code(&app(o), http, &code, site, cb.external_id.clone(), now)
        .map_err(|e| match e {
            TokenError::Api(api) => Fatal::new(
                Exit::Config,
                anyhow::anyhow!(
                    "exchanging the code for site {site} failed ({api}); codes are single use and \
                     expire after about 10 minutes: run `seh auth login` again"
                ),
            ),
            other => Fatal::new(other.exit(), other),
        })?;
    let ends = grant.grant_ends;
    token::store_grant(
        store,
        grant,
        cb.state.as_deref().or(cb.external_id.as_deref()),
    )
    .map_err(store_fatal)?;
    print_out(&format!(
        "logged in: site {site} (SITE_DATA DEVICE_DATA, until about {}); grant saved in {}\n\
         `seh sync` harvests it; run `seh auth login` again for another site.\n",
        ends.format("%Y-%m-%d"),
        store.path().display()
    ));
    Ok((Exit::Ok, site))
}

// ----- status and logout ------------------------------------------------------------------

fn status(config: &Config, as_json: bool) -> Outcome {
    let store = TokenStore::new(&config.token_store);
    let tokens = store.load().map_err(store_fatal)?;
    let now = estimated_now(config);
    let idle_days = config.oauth.as_ref().map_or(7, |o| o.refresh_idle_days);
    let mut out = String::new();
    if as_json {
        let grants: Vec<_> = tokens
            .grants
            .iter()
            .map(|g| {
                let idle_expiry = g.refreshed_at + Duration::days(REFRESH_IDLE_LIMIT_DAYS);
                json!({
                    "site_id": g.site_id,
                    "client_id": g.client_id,
                    "scopes": g.scopes,
                    "access_expires": ts(g.access_expires),
                    "access_valid": g.access_expires > now,
                    "last_refresh": ts(g.refreshed_at),
                    "refreshes": g.refreshes,
                    "refresh_idle_expires": ts(idle_expiry),
                    "days_until_idle_expiry": (idle_expiry - now).num_days(),
                    "granted_at": ts(g.granted_at),
                    "grant_ends": ts(g.grant_ends),
                    "dead": g.dead.as_ref().map(|d| json!({"at": ts(d.at), "reason": d.reason})),
                })
            })
            .collect();
        let v = json!({
            "token_store": store.path().display().to_string(),
            "now": ts(now),
            "refresh_idle_days": idle_days,
            "grants": grants,
        });
        outln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        print_out(&out);
        return Ok(Exit::Ok);
    }
    if tokens.grants.is_empty() {
        outln!(
            out,
            "no OAuth grants in {}; run `seh auth login` to add one",
            store.path().display()
        );
        print_out(&out);
        return Ok(Exit::Ok);
    }
    outln!(
        out,
        "OAuth grants in {} (now {}):",
        store.path().display(),
        ts(now)
    );
    let mut dead = false;
    for g in &tokens.grants {
        outln!(out);
        outln!(out, "site {}  ({})", g.site_id, g.scopes.join(" "));
        let access = if g.access_expires > now {
            format!(
                "valid until {} (for {})",
                ts(g.access_expires),
                crate::clock::human(g.access_expires - now)
            )
        } else {
            format!(
                "expired at {} (refreshed when next used)",
                ts(g.access_expires)
            )
        };
        outln!(out, "  access token   {access}");
        outln!(
            out,
            "  last refresh   {} ({} ago; {} refreshes since consent on {})",
            ts(g.refreshed_at),
            crate::clock::human(now - g.refreshed_at),
            g.refreshes,
            g.granted_at.format("%Y-%m-%d")
        );
        let idle_expiry = g.refreshed_at + Duration::days(REFRESH_IDLE_LIMIT_DAYS);
        outln!(
            out,
            "  refresh token  would expire unused in {} days ({}); any seh run refreshes it after {idle_days} days",
            (idle_expiry - now).num_days(),
            idle_expiry.format("%Y-%m-%d")
        );
        outln!(
            out,
            "  grant ends     {} (24 months after consent)",
            g.grant_ends.format("%Y-%m-%d")
        );
        match &g.dead {
            None => outln!(out, "  state          ok"),
            Some(d) => {
                dead = true;
                outln!(
                    out,
                    "  state          DEAD since {} ({}): run `seh auth login` and approve site {}",
                    ts(d.at),
                    d.reason,
                    g.site_id
                );
            }
        }
    }
    print_out(&out);
    Ok(if dead { Exit::GrantDead } else { Exit::Ok })
}

fn logout(config: &Config, site: SiteId) -> Outcome {
    let store = TokenStore::new(&config.token_store);
    let lock = store.lock().map_err(store_fatal)?;
    let mut tokens = store.load().map_err(store_fatal)?;
    let Some(g) = tokens.grant(site).cloned() else {
        return Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "no OAuth grant for site {site} in {}",
                store.path().display()
            ),
        ));
    };
    let mut exit = Exit::Ok;
    let revoked = if g.dead.is_some() {
        "it was already dead"
    } else {
        let mut http = token_client(config, Arc::new(AtomicBool::new(false)));
        match token::revoke(&mut http, &g.refresh_token) {
            Ok(()) => "revoked at SolarEdge",
            Err(e) => {
                log::warn!("site {site}: revoking the grant at SolarEdge failed: {e}");
                exit = Exit::Partial;
                "NOT revoked at SolarEdge (it lapses after 30 days unused)"
            }
        }
    };
    tokens.grants.retain(|x| x.site_id != site);
    store.save(&tokens, &lock).map_err(store_fatal)?;
    print_out(&format!(
        "logged out of site {site}: grant {revoked} and deleted from {}\n",
        store.path().display()
    ));
    Ok(exit)
}

// ----- sync -------------------------------------------------------------------------------

/// `None` when OAuth plays no part (no `[oauth]` and no grants).
pub(super) fn prepare(config: &Config) -> Result<Option<Grants>, Fatal> {
    let store = TokenStore::new(&config.token_store);
    let tokens = if store.exists() {
        store.load().map_err(store_fatal)?
    } else {
        Tokens::default()
    };
    match &config.oauth {
        None if tokens.grants.is_empty() => Ok(None),
        None => Err(Fatal::new(
            Exit::Config,
            anyhow::anyhow!(
                "{} holds OAuth grants, but [oauth] client_id and client_secret are not configured",
                store.path().display()
            ),
        )),
        Some(o) => Ok(Some(Grants {
            sites: tokens.grants.iter().map(|g| g.site_id).collect(),
            store,
            app: app(o),
            policy: Policy::new(o.refresh_idle_days),
        })),
    }
}

/// `seh check` for the grants: one `/sites/{id}` call per grant with its own access token
/// (refreshed first when due, the rotation saved as in a sync; a rejected token is refreshed
/// once), so a homeowner can prove the setup before the first sync. Writes no database.
pub(super) fn check_grants(config: &Config, grants: &Grants, out: &mut String) -> Exit {
    let stop = Arc::new(AtomicBool::new(false));
    let (mut http, mut client) = (
        token_client(config, stop.clone()),
        token_client(config, stop),
    );
    let tokens = match grants.store.load() {
        Ok(t) => t,
        Err(e) => {
            log::error!("{e}");
            return Exit::Database;
        }
    };
    let now = estimated_now(config);
    let mut exit = Exit::Ok;
    for g in &tokens.grants {
        let site = g.site_id;
        let mut rejected = None;
        let answer = loop {
            let fresh = match token::access_token(
                &grants.store,
                &grants.app,
                &mut http,
                site,
                now,
                &grants.policy,
                rejected.as_ref(),
            ) {
                Ok(f) => f,
                Err(e) => break Err((e.exit(), e.to_string())),
            };
            client.set_credential(Credential::Bearer {
                token: fresh.access_token.clone(),
                site_id: site,
            });
            match client.get(&crate::api::sites::details_path(site), &[]) {
                Ok(f) => break Ok(f),
                Err(crate::api::Error::Unauthorized { .. }) if rejected.is_none() => {
                    rejected = Some(fresh.access_token);
                }
                Err(e @ crate::api::Error::Unauthorized { .. }) => {
                    break Err((
                        Exit::GrantDead,
                        format!("{e}; run `seh auth login` and approve site {site}"),
                    ))
                }
                Err(
                    e @ crate::api::Error::Forbidden {
                        other_site: true, ..
                    },
                ) => {
                    break Err((
                        Exit::GrantDead,
                        format!("{e}; run `seh auth login` and approve site {site}"),
                    ))
                }
                Err(e) => {
                    let code = crate::harvest::exit_for(&e, crate::harvest::Scope::Check);
                    break Err((code, format!("{}: {e}", config.base_url)));
                }
            }
        };
        match answer {
            Ok(f) => {
                let name = crate::api::sites::parse_details(site, &f.body)
                    .ok()
                    .and_then(|s| s.name)
                    .unwrap_or_else(|| "-".into());
                outln!(
                    out,
                    "  {site:>10}  {name:<30}  OAuth grant works ({})",
                    g.scopes.join(" ")
                );
            }
            Err((code, msg)) => {
                log::error!("site {site}: OAuth grant: {msg}");
                outln!(out, "  {site:>10}  OAuth grant failed (exit {code})");
                exit = exit.merge(code);
            }
        }
    }
    exit
}
