//! Token endpoint use: exchanging a code, refreshing without ever losing the rotated refresh
//! token, revoking.
//!
//! The refresh protocol ([`access_token`]):
//! 1. read the store (no lock) and decide with [`needs_refresh`]; nothing to do → done;
//! 2. take the store lock (a concurrent refresher makes us wait here) and read the store
//!    again: if another process refreshed meanwhile, decide again on its tokens, usually
//!    reusing them without a call;
//! 3. POST the refresh; on success write the new refresh token and access token to the
//!    store (atomic, fsynced) **before** returning the access token to the caller, then
//!    release the lock;
//! 4. a dead refresh token (rotated, expired after 30 idle days, revoked, grant ended:
//!    400 `invalid_grant`, or `invalid_request` as another client saw it) marks the grant
//!    dead in the store: only a new consent helps, and no later run retries it. What a
//!    refusal means comes from `api::oauth::refusal` (status and `error` code), never
//!    from its description.
//!
//! The one unavoidable window: the process dies after the server rotated the token and
//! before the rename reached the disk. Then the store still holds the previous refresh
//! token, which the server no longer accepts, and the new access token was never used
//! (step 3 returns it only after the write). Nothing seh has used is ever newer than the
//! store.

use super::store::{Dead, Grant, StoreError, TokenStore, Tokens};
use crate::api::oauth::{self as wire, Refusal};
use crate::api::{self, Client, Secret};
use crate::exit::Exit;
use crate::model::SiteId;
use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// The registered Site Access application.
#[derive(Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: Secret,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("client_secret", &"****")
            .finish()
    }
}

/// When to refresh.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Refresh an access token that expires within this margin.
    pub margin: Duration,
    /// Refresh a grant whose refresh token is older than this (keep-alive).
    pub idle: Duration,
}

impl Policy {
    pub fn new(idle_days: u32) -> Policy {
        Policy {
            margin: Duration::minutes(5),
            idle: Duration::days(i64::from(idle_days)),
        }
    }
}

/// Why a refresh is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The server rejected this access token (401).
    Rejected,
    /// The access token expires within the margin (or has expired).
    Expiring,
    /// The refresh token has been idle longer than the keep-alive period.
    Idle,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Why::Rejected => "the access token was rejected",
            Why::Expiring => "the access token expires",
            Why::Idle => "keep-alive of an idle refresh token",
        })
    }
}

/// Pure decision: is a refresh due for `g` at `now`? `rejected` is the access token the
/// server answered 401 to, if any (it only counts while it is still the stored one).
pub fn needs_refresh(
    g: &Grant,
    now: DateTime<Utc>,
    policy: &Policy,
    rejected: Option<&Secret>,
) -> Option<Why> {
    if rejected.is_some_and(|r| *r == g.access_token) {
        Some(Why::Rejected)
    } else if g.access_expires - policy.margin <= now {
        Some(Why::Expiring)
    } else if now - g.refreshed_at >= policy.idle {
        Some(Why::Idle)
    } else {
        None
    }
}

/// Why no usable token could be had.
#[derive(Debug)]
pub enum TokenError {
    /// The store has no grant for the site.
    NoGrant {
        site: SiteId,
    },
    /// The grant is dead: the homeowner must consent again.
    Dead {
        site: SiteId,
        reason: String,
    },
    /// The application's credentials were refused (`invalid_client`): a config problem.
    Client {
        detail: String,
    },
    /// The token endpoint failed otherwise (network, 5xx, unexpected answer); the grant is
    /// unchanged and the next run tries again.
    Api(api::Error),
    Store(StoreError),
}

impl TokenError {
    pub fn exit(&self) -> Exit {
        match self {
            TokenError::NoGrant { .. } | TokenError::Client { .. } => Exit::Config,
            TokenError::Dead { .. } => Exit::GrantDead,
            TokenError::Api(api::Error::Interrupted) => Exit::Interrupted,
            TokenError::Api(_) => Exit::Partial,
            TokenError::Store(_) => Exit::Database,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::NoGrant { site } => write!(
                f,
                "no OAuth grant for site {site}; run `seh auth login` and approve site {site}"
            ),
            TokenError::Dead { site, reason } => write!(
                f,
                "the OAuth grant of site {site} is dead ({reason}); run `seh auth login` and approve site {site} again"
            ),
            TokenError::Client { detail } => write!(
                f,
                "SolarEdge refused the OAuth application ({detail}); check [oauth] client_id and client_secret"
            ),
            TokenError::Api(e) => write!(f, "token endpoint: {e}"),
            TokenError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Store(e)
    }
}

/// A usable access token, and why it was refreshed (if it was).
#[derive(Debug)]
pub struct Fresh {
    pub access_token: Secret,
    pub refreshed: Option<Why>,
}

fn live(tokens: &Tokens, site: SiteId) -> Result<&Grant, TokenError> {
    let g = tokens.grant(site).ok_or(TokenError::NoGrant { site })?;
    if let Some(d) = &g.dead {
        return Err(TokenError::Dead {
            site,
            reason: d.reason.clone(),
        });
    }
    Ok(g)
}

/// The detail of a token endpoint refusal (`error: description`), for messages.
fn refusal_detail(e: &api::Error) -> String {
    match e {
        api::Error::BadRequest { detail, .. } | api::Error::Unauthorized { detail, .. } => {
            detail.clone()
        }
        other => other.to_string(),
    }
}

/// A usable access token for `site`, refreshed when [`needs_refresh`] says so (see the
/// module doc for the protocol). `now` is the server-clock estimate; `http` talks to the
/// token endpoint only.
pub fn access_token(
    store: &TokenStore,
    app: &App,
    http: &mut Client,
    site: SiteId,
    now: DateTime<Utc>,
    policy: &Policy,
    rejected: Option<&Secret>,
) -> Result<Fresh, TokenError> {
    let tokens = store.load()?;
    let g = live(&tokens, site)?;
    if needs_refresh(g, now, policy, rejected).is_none() {
        return Ok(Fresh {
            access_token: g.access_token.clone(),
            refreshed: None,
        });
    }
    let lock = store.lock()?;
    // Another process may have refreshed while we waited: decide again on what is stored.
    let mut tokens = store.load()?;
    let g = live(&tokens, site)?;
    let Some(why) = needs_refresh(g, now, policy, rejected) else {
        log::debug!("site {site}: another process refreshed the OAuth tokens; using theirs");
        return Ok(Fresh {
            access_token: g.access_token.clone(),
            refreshed: None,
        });
    };
    log::debug!("site {site}: refreshing the OAuth tokens ({why})");
    // Room for the rotated token first: once the server has answered, the old refresh
    // token is dead, and a new one that cannot be saved would cost a new consent.
    let reservation = store.reserve(&tokens, &lock)?;
    let body = wire::refresh_body(&g.refresh_token, &app.client_id, &app.client_secret);
    let answer =
        http.post_json(wire::TOKEN_PATH, &body)
            .and_then(|f| match wire::parse_token(&f.body) {
                Ok(t) => Ok(t),
                // An OAuth error answered with 200 is still an OAuth error.
                Err(pe) => Err(match wire::parse_error(&f.body) {
                    Some(oe) => api::Error::BadRequest {
                        detail: oe.to_string(),
                        window_too_long: false,
                        oauth: Some(oe.code),
                    },
                    None => api::Error::from(pe),
                }),
            });
    match answer {
        Ok(t) => {
            let g = tokens.grant_mut(site).expect("checked above");
            g.access_token = t.access_token.clone();
            if let Some(r) = t.refresh_token {
                g.refresh_token = r;
            }
            g.access_expires = now + Duration::seconds(t.expires_in.unwrap_or(7_200).max(60));
            g.refreshed_at = now;
            g.refreshes += 1;
            // The rotated refresh token reaches the disk before anyone uses the new access
            // token: a crash from here on loses nothing that was used.
            store.commit(reservation, &tokens)?;
            drop(lock);
            Ok(Fresh {
                access_token: t.access_token,
                refreshed: Some(why),
            })
        }
        Err(e) => match wire::refusal(&e) {
            Some(Refusal::Grant) => {
                let reason = refusal_detail(&e);
                let g = tokens.grant_mut(site).expect("checked above");
                g.dead = Some(Dead {
                    at: now,
                    reason: reason.clone(),
                });
                store.commit(reservation, &tokens)?;
                Err(TokenError::Dead { site, reason })
            }
            Some(Refusal::Client) => Err(TokenError::Client {
                detail: refusal_detail(&e),
            }),
            // A keep-alive that failed for a passing reason: the access token still works.
            _ if why == Why::Idle => {
                log::warn!(
                    "site {site}: keep-alive refresh failed ({e}); the next run tries again"
                );
                Ok(Fresh {
                    access_token: tokens
                        .grant(site)
                        .expect("checked above")
                        .access_token
                        .clone(),
                    refreshed: None,
                })
            }
            _ => Err(TokenError::Api(e)),
        },
    }
}

/// What a successful code exchange gives.
pub fn grant_from_code(
    app: &App,
    http: &mut Client,
    code: &Secret,
    site: SiteId,
    external_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Grant, TokenError> {
    let body = wire::authorization_code_body(code, &app.client_id, &app.client_secret);
    let t = http
        .post_json(wire::TOKEN_PATH, &body)
        .and_then(|f| wire::parse_token(&f.body).map_err(api::Error::from))
        .map_err(|e| match wire::refusal(&e) {
            Some(Refusal::Client) => TokenError::Client {
                detail: refusal_detail(&e),
            },
            _ => TokenError::Api(e),
        })?;
    let Some(refresh_token) = t.refresh_token else {
        return Err(TokenError::Api(api::Error::Decode {
            what: "token response without a refresh_token".into(),
        }));
    };
    Ok(Grant {
        site_id: site,
        client_id: app.client_id.clone(),
        scopes: super::SCOPES.iter().map(|s| s.to_string()).collect(),
        external_id,
        access_token: t.access_token,
        access_expires: now + Duration::seconds(t.expires_in.unwrap_or(7_200).max(60)),
        refresh_token,
        refreshed_at: now,
        granted_at: now,
        grant_ends: now + chrono::Months::new(super::ACCESS_MONTHS),
        refreshes: 0,
        dead: None,
    })
}

/// Stores a new grant (replacing the site's old one) and forgets the login's `state`.
pub fn store_grant(
    store: &TokenStore,
    grant: Grant,
    state: Option<&str>,
) -> Result<(), StoreError> {
    let lock = store.lock()?;
    let mut tokens = store.load()?;
    if let Some(s) = state {
        tokens.pending.retain(|p| p.state != s);
    }
    tokens.upsert(grant);
    store.save(&tokens, &lock)
}

/// `POST /oauth2/revoke-token` (the server ends the whole grant).
pub fn revoke(http: &mut Client, token: &Secret) -> Result<(), api::Error> {
    http.post_json(wire::REVOKE_PATH, &wire::revoke_body(token))
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn grant(now: DateTime<Utc>) -> Grant {
        Grant {
            site_id: 1,
            client_id: "c".into(),
            scopes: vec![],
            external_id: None,
            access_token: Secret::new("A1"),
            access_expires: now + Duration::hours(2),
            refresh_token: Secret::new("R1"),
            refreshed_at: now,
            granted_at: now,
            grant_ends: now + chrono::Months::new(24),
            refreshes: 0,
            dead: None,
        }
    }

    #[test]
    fn refresh_decisions() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let p = Policy::new(7);
        let g = grant(t0);
        assert_eq!(needs_refresh(&g, t0, &p, None), None);
        let m = Duration::minutes(1);
        assert_eq!(
            needs_refresh(&g, t0 + Duration::minutes(114) - m, &p, None),
            None
        );
        assert_eq!(
            needs_refresh(&g, t0 + Duration::minutes(115), &p, None),
            Some(Why::Expiring)
        );
        assert_eq!(
            needs_refresh(&g, t0, &p, Some(&Secret::new("A1"))),
            Some(Why::Rejected)
        );
        // A rejected token that is no longer the stored one: someone refreshed already.
        assert_eq!(needs_refresh(&g, t0, &p, Some(&Secret::new("A0"))), None);
        // Idle keep-alive, even with an access token that (by a skewed clock) looks valid.
        let mut g = grant(t0);
        g.access_expires = t0 + Duration::days(30);
        assert_eq!(needs_refresh(&g, t0 + Duration::days(6), &p, None), None);
        assert_eq!(
            needs_refresh(&g, t0 + Duration::days(7), &p, None),
            Some(Why::Idle)
        );
    }

    #[test]
    fn refusal_details_and_app_debug() {
        let bad = api::Error::BadRequest {
            detail: "invalid_request: The refresh token is invalid or has expired".into(),
            window_too_long: false,
            oauth: Some(wire::OAuthCode::InvalidRequest),
        };
        assert_eq!(wire::refusal(&bad), Some(Refusal::Grant));
        assert_eq!(
            refusal_detail(&bad),
            "invalid_request: The refresh token is invalid or has expired"
        );
        let dbg = format!(
            "{:?}",
            App {
                client_id: "c".into(),
                client_secret: Secret::new("SHH")
            }
        );
        assert!(!dbg.contains("SHH"));
    }
}
