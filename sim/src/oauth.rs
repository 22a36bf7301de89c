//! OAuth 2.0 Site Access ("SolarEdge Connect") state machine, reference §4.2.
//!
//! Pure: every operation takes the virtual clock's `now`, so tests can age
//! tokens by moving the clock. It owns registered clients, authorization
//! codes, and grants (one site each) with their access and refresh tokens.
//!
//! Rules enforced, as strict as the reference describes the real service:
//! - codes are single use and live 10 minutes;
//! - access tokens live 7,200 s;
//! - refresh tokens rotate on every use: the old one dies at once, and a
//!   refresh token dies 30 days after it was issued if not used;
//! - the grant ends `access_duration` months (1..=24) after consent;
//! - `client_credentials` and any other grant → `unsupported_grant_type`.
//!
//! Choices where the reference is silent (documented so tests can rely on
//! them):
//! - every token-endpoint error is HTTP 400, `invalid_client` included
//!   (§4.2 item 8 lists it under "HTTP 400"; RFC 6749 would allow 401);
//! - a refresh invalidates the previous access token too (stricter than most
//!   servers; a correct client switches to the new token at once);
//! - grant type is checked before client authentication;
//! - `access_duration` omitted = 24 months; `scope` omitted = every
//!   permission the client has enabled;
//! - `redirect_uri` in the token request, when present, must equal the
//!   registered Redirect URL (S4 saw rejections otherwise).
//!
//! [`Variants`] switches to what other V2 clients saw instead (reference
//! §6.1): one bearer 401 text for every cause, `invalid_request` for a dead
//! refresh token or a used code, `invalid_client` with HTTP 401.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{json, Value};

use crate::http::Response;
use crate::rng::SplitMix64;

pub const CODE_TTL_SECS: i64 = 600;
pub const ACCESS_TTL_SECS: i64 = 7_200;
pub const REFRESH_IDLE_DAYS: i64 = 30;
pub const MAX_ACCESS_MONTHS: u32 = 24;
/// The two permissions a Site Access application can enable.
pub const ALL_SCOPES: [&str; 2] = ["SITE_DATA", "DEVICE_DATA"];

/// A registered Site Access application.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    /// The app's default Redirect URL; Connect always redirects there (S4).
    pub redirect_url: String,
    /// Permissions enabled in the developer console.
    pub scopes: Vec<String>,
}

impl Client {
    /// A client with both permissions enabled (the reference's setup step).
    pub fn new(client_id: &str, client_secret: &str, redirect_url: &str) -> Client {
        Client {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_url: redirect_url.into(),
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Where other V2 clients saw the OAuth side answer differently (reference §6.1).
/// The default is the behaviour described in the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// Every refused bearer token answers 401 `{"error_description":"The access token is
    /// invalid or has expired","error":"invalid_token"}`, whatever the cause (one quote of
    /// a production client). Off: a description per cause.
    pub uniform_bearer: bool,
    /// A dead refresh token or a used or expired code answers 400 `invalid_request` with a
    /// description that names neither (a production client's handling). Off:
    /// `invalid_grant` with `invalid refresh_token: …` / `invalid code`.
    pub dead_grant_invalid_request: bool,
    /// HTTP status of `invalid_client` from the token endpoint: 400 (default, §4.2 item 8)
    /// or 401 (RFC 6749 §5.2 allows it).
    pub invalid_client_status: u16,
}

impl Default for Variants {
    fn default() -> Variants {
        Variants {
            uniform_bearer: false,
            dead_grant_invalid_request: false,
            invalid_client_status: 400,
        }
    }
}

/// The one bearer 401 description of the uniform variant (§6.1).
pub const UNIFORM_BEARER_DESCRIPTION: &str = "The access token is invalid or has expired";

/// What died, for the `invalid_request` variant's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadGrant {
    Code,
    Refresh,
}

/// RFC 6749 error, rendered as `{"error","error_description"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    status: u16,
    dead: Option<DeadGrant>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            error,
            description: description.into(),
            status: 400,
            dead: None,
        }
    }

    fn invalid_code() -> OAuthError {
        OAuthError {
            dead: Some(DeadGrant::Code),
            ..OAuthError::new("invalid_grant", "invalid code")
        }
    }

    fn invalid_refresh(why: &str) -> OAuthError {
        OAuthError {
            dead: Some(DeadGrant::Refresh),
            ..OAuthError::new("invalid_grant", format!("invalid refresh_token: {why}"))
        }
    }

    /// The same error as the service answers it under `variants`.
    fn varied(mut self, variants: &Variants) -> OAuthError {
        if variants.dead_grant_invalid_request {
            if let Some(dead) = self.dead {
                self.error = "invalid_request";
                self.description = match dead {
                    DeadGrant::Code => "The authorization code is invalid or has expired",
                    DeadGrant::Refresh => "The refresh token is invalid or has expired",
                }
                .into();
            }
        }
        if self.error == "invalid_client" {
            self.status = variants.invalid_client_status;
        }
        self
    }

    /// 400, or the configured status of `invalid_client` (see [`Variants`]).
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn to_json(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }

    pub fn to_response(&self) -> Response {
        Response::json(self.status(), &self.to_json())
    }
}

/// Why a bearer token was refused; all render as `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Unknown,
    Expired,
    Revoked,
    GrantEnded,
}

impl BearerError {
    pub fn description(self) -> &'static str {
        match self {
            BearerError::Unknown => "The access token is invalid",
            BearerError::Expired => "The access token expired",
            BearerError::Revoked => "The access token was revoked",
            BearerError::GrantEnded => "The site access grant has ended",
        }
    }

    /// 401 with the OAuth error body seen for bearer probes (S4).
    pub fn to_response(self) -> Response {
        bearer_401(self.description())
    }

    /// 401 with the one text of §6.1 for every cause.
    pub fn to_uniform_response(self) -> Response {
        bearer_401(UNIFORM_BEARER_DESCRIPTION)
    }
}

fn bearer_401(description: &str) -> Response {
    Response::json(
        401,
        &json!({"error": "invalid_token", "error_description": description}),
    )
    .with_header(
        "www-authenticate",
        &format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
    )
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// What a valid bearer token grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub grant_id: u64,
    pub client_id: String,
    pub site_id: u64,
    pub scopes: Vec<String>,
}

impl Grant {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Fields of a token request, from a JSON body or a form body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
}

impl TokenRequest {
    /// From the documented JSON body. Non-string values are refused.
    pub fn from_json(body: &Value) -> Result<TokenRequest, OAuthError> {
        let obj = body
            .as_object()
            .ok_or_else(|| OAuthError::new("invalid_request", "body must be a JSON object"))?;
        let mut req = TokenRequest::default();
        for (k, v) in obj {
            let s = v.as_str().ok_or_else(|| {
                OAuthError::new("invalid_request", format!("`{k}` must be a string"))
            })?;
            req.set(k, s);
        }
        Ok(req)
    }

    /// From `application/x-www-form-urlencoded` pairs (already decoded).
    pub fn from_form(pairs: &[(String, String)]) -> TokenRequest {
        let mut req = TokenRequest::default();
        for (k, v) in pairs {
            req.set(k, v);
        }
        req
    }

    fn set(&mut self, key: &str, value: &str) {
        let slot = match key {
            "grant_type" => &mut self.grant_type,
            "code" => &mut self.code,
            "refresh_token" => &mut self.refresh_token,
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            "redirect_uri" => &mut self.redirect_uri,
            _ => return,
        };
        *slot = Some(value.to_string());
    }
}

#[derive(Debug)]
struct CodeEntry {
    client_id: String,
    site_id: u64,
    scopes: Vec<String>,
    months: u32,
    external_id: Option<String>,
    expires: DateTime<Utc>,
}

#[derive(Debug)]
struct GrantState {
    id: u64,
    client_id: String,
    site_id: u64,
    scopes: Vec<String>,
    external_id: Option<String>,
    created: DateTime<Utc>,
    ends: DateTime<Utc>,
    access_token: String,
    access_expires: DateTime<Utc>,
    refresh_token: String,
    refresh_expires: DateTime<Utc>,
    last_used: Option<DateTime<Utc>>,
    refreshes: u64,
    revoked: bool,
}

impl GrantState {
    fn public(&self) -> Grant {
        Grant {
            grant_id: self.id,
            client_id: self.client_id.clone(),
            site_id: self.site_id,
            scopes: self.scopes.clone(),
        }
    }

    fn token_response(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_SECS,
            "refresh_token": self.refresh_token,
        })
    }
}

/// The whole OAuth service state.
#[derive(Debug)]
pub struct OAuth {
    clients: Vec<Client>,
    codes: HashMap<String, CodeEntry>,
    grants: Vec<GrantState>,
    /// token → index in `grants`, for current tokens only.
    by_access: HashMap<String, usize>,
    by_refresh: HashMap<String, usize>,
    /// Tokens of revoked grants, to tell "revoked" from "unknown".
    revoked_access: HashMap<String, usize>,
    rng: SplitMix64,
    echo_state: bool,
    variants: Variants,
    refreshes: u64,
}

impl OAuth {
    /// Empty service (add clients with [`OAuth::register_client`]); tokens
    /// are derived from `seed` (same seed, same calls → same tokens).
    pub fn new(seed: u64) -> OAuth {
        OAuth {
            clients: Vec::new(),
            codes: HashMap::new(),
            grants: Vec::new(),
            by_access: HashMap::new(),
            by_refresh: HashMap::new(),
            revoked_access: HashMap::new(),
            rng: SplitMix64::new(seed),
            echo_state: true,
            variants: Variants::default(),
            refreshes: 0,
        }
    }

    /// Registers (or replaces, by client_id) an application.
    pub fn register_client(&mut self, client: Client) {
        self.clients.retain(|c| c.client_id != client.client_id);
        self.clients.push(client);
    }

    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Whether the callback echoes `state` (on by default; the reference
    /// only has the homeowner guide's example for it).
    pub fn set_echo_state(&mut self, on: bool) {
        self.echo_state = on;
    }

    /// Answer as other V2 clients saw the service answer (reference §6.1).
    pub fn set_variants(&mut self, variants: Variants) {
        self.variants = variants;
    }

    /// The 401 for a refused bearer token, in the configured variant.
    pub fn bearer_response(&self, e: BearerError) -> Response {
        if self.variants.uniform_bearer {
            e.to_uniform_response()
        } else {
            e.to_response()
        }
    }

    /// Random-looking url-safe token of `len` chars (6 bits per char).
    fn new_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = String::with_capacity(len);
        let mut bits = 0u64;
        let mut left = 0;
        for _ in 0..len {
            if left == 0 {
                bits = self.rng.next_u64();
                left = 10;
            }
            s.push(ALPHABET[(bits & 63) as usize] as char);
            bits >>= 6;
            left -= 1;
        }
        s
    }

    /// Consent by the site owner: issues a single-use code and returns the
    /// callback URL `<redirect_url>?code=…&site_id=…[&external_id=…][&state=…]`.
    #[allow(clippy::too_many_arguments)]
    pub fn authorize(
        &mut self,
        client_id: &str,
        site_id: u64,
        scopes: &[String],
        access_duration_months: Option<u32>,
        external_id: Option<&str>,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let client = self
            .client(client_id)
            .ok_or_else(|| OAuthError::new("invalid_client", "unknown client_id"))?
            .clone();
        let scopes = granted_scopes(&client, scopes)?;
        let months = access_duration_months.unwrap_or(MAX_ACCESS_MONTHS);
        if !(1..=MAX_ACCESS_MONTHS).contains(&months) {
            return Err(OAuthError::new(
                "invalid_request",
                format!("access_duration must be 1..={MAX_ACCESS_MONTHS} months, got {months}"),
            ));
        }
        self.codes.retain(|_, c| c.expires > now);
        let code = self.new_token(32);
        self.codes.insert(
            code.clone(),
            CodeEntry {
                client_id: client_id.into(),
                site_id,
                scopes,
                months,
                external_id: external_id.map(str::to_string),
                expires: now + Duration::seconds(CODE_TTL_SECS),
            },
        );
        let mut params = vec![("code", code), ("site_id", site_id.to_string())];
        if let Some(e) = external_id {
            params.push(("external_id", e.to_string()));
        }
        if let (Some(s), true) = (state, self.echo_state) {
            params.push(("state", s.to_string()));
        }
        Ok(with_query(&client.redirect_url, &params))
    }

    /// [`OAuth::token`] for a JSON body (or a form body turned into a JSON
    /// object of strings).
    pub fn token_json(&mut self, body: &Value, now: DateTime<Utc>) -> Result<Value, OAuthError> {
        let req = TokenRequest::from_json(body)?;
        self.token(&req, now)
    }

    /// The token endpoint: `authorization_code` and `refresh_token` grants.
    /// Returns the 200 body `{access_token, token_type, expires_in, refresh_token}`;
    /// errors as the configured [`Variants`] answer them.
    pub fn token(&mut self, req: &TokenRequest, now: DateTime<Utc>) -> Result<Value, OAuthError> {
        let variants = self.variants;
        self.token_documented(req, now)
            .map_err(|e| e.varied(&variants))
    }

    fn token_documented(
        &mut self,
        req: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let grant_type = req
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::new("invalid_request", "missing grant_type"))?;
        if grant_type != "authorization_code" && grant_type != "refresh_token" {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type `{grant_type}` is not supported"),
            ));
        }
        let client = self.authenticate(req)?;
        if grant_type == "authorization_code" {
            self.exchange_code(&client, req, now)
        } else {
            self.refresh(&client, req, now)
        }
    }

    fn authenticate(&self, req: &TokenRequest) -> Result<Client, OAuthError> {
        let bad = || OAuthError::new("invalid_client", "client authentication failed");
        let id = req.client_id.as_deref().ok_or_else(bad)?;
        let secret = req.client_secret.as_deref().ok_or_else(bad)?;
        match self.client(id) {
            Some(c) if c.client_secret == secret => Ok(c.clone()),
            _ => Err(bad()),
        }
    }

    fn exchange_code(
        &mut self,
        client: &Client,
        req: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::new("invalid_request", "missing code"))?;
        if let Some(uri) = &req.redirect_uri {
            if *uri != client.redirect_url {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "redirect_uri does not match the registered Redirect URL",
                ));
            }
        }
        // Remove first: a code is single use even when this attempt fails
        // because it belonged to another client or expired.
        let entry = self
            .codes
            .remove(code)
            .ok_or_else(OAuthError::invalid_code)?;
        if entry.client_id != client.client_id || entry.expires <= now {
            return Err(OAuthError::invalid_code());
        }
        let idx = self.new_grant(entry, now);
        Ok(self.grants[idx].token_response())
    }

    fn new_grant(&mut self, entry: CodeEntry, now: DateTime<Utc>) -> usize {
        let access = self.new_token(43);
        let refresh = self.new_token(43);
        let idx = self.grants.len();
        self.grants.push(GrantState {
            id: idx as u64 + 1,
            client_id: entry.client_id,
            site_id: entry.site_id,
            scopes: entry.scopes,
            external_id: entry.external_id,
            created: now,
            ends: now + Months::new(entry.months),
            access_token: access.clone(),
            access_expires: now + Duration::seconds(ACCESS_TTL_SECS),
            refresh_token: refresh.clone(),
            refresh_expires: now + Duration::days(REFRESH_IDLE_DAYS),
            last_used: None,
            refreshes: 0,
            revoked: false,
        });
        self.by_access.insert(access, idx);
        self.by_refresh.insert(refresh, idx);
        idx
    }

    fn refresh(
        &mut self,
        client: &Client,
        req: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::new("invalid_request", "missing refresh_token"))?;
        let idx = *self
            .by_refresh
            .get(token)
            .ok_or_else(|| OAuthError::invalid_refresh("unknown, rotated or revoked"))?;
        let g = &self.grants[idx];
        if g.client_id != client.client_id {
            return Err(OAuthError::invalid_refresh("issued to another client"));
        }
        if now >= g.ends {
            return Err(OAuthError::invalid_refresh("site access grant has ended"));
        }
        if now >= g.refresh_expires {
            return Err(OAuthError::invalid_refresh(
                "expired after 30 days without use",
            ));
        }
        let access = self.new_token(43);
        let refresh = self.new_token(43);
        let g = &mut self.grants[idx];
        let old_access = std::mem::replace(&mut g.access_token, access.clone());
        let old_refresh = std::mem::replace(&mut g.refresh_token, refresh.clone());
        g.access_expires = now + Duration::seconds(ACCESS_TTL_SECS);
        g.refresh_expires = now + Duration::days(REFRESH_IDLE_DAYS);
        g.refreshes += 1;
        self.refreshes += 1;
        self.by_access.remove(&old_access);
        self.by_refresh.remove(&old_refresh);
        self.by_access.insert(access, idx);
        self.by_refresh.insert(refresh, idx);
        Ok(self.grants[idx].token_response())
    }

    /// Kills the grant owning `token` (access or refresh). Returns whether a
    /// live grant was found; the endpoint answers 200 either way (RFC 7009).
    pub fn revoke(&mut self, token: &str) -> bool {
        let idx = self
            .by_access
            .get(token)
            .or_else(|| self.by_refresh.get(token))
            .copied();
        let Some(idx) = idx else { return false };
        let g = &mut self.grants[idx];
        g.revoked = true;
        self.by_access.remove(&g.access_token);
        self.by_refresh.remove(&g.refresh_token);
        self.revoked_access.insert(g.access_token.clone(), idx);
        true
    }

    /// Validates `Authorization: Bearer <token>` and records its use.
    pub fn check_bearer(&mut self, token: &str, now: DateTime<Utc>) -> Result<Grant, BearerError> {
        let Some(&idx) = self.by_access.get(token) else {
            return Err(if self.revoked_access.contains_key(token) {
                BearerError::Revoked
            } else {
                BearerError::Unknown
            });
        };
        let g = &mut self.grants[idx];
        if now >= g.ends {
            return Err(BearerError::GrantEnded);
        }
        if now >= g.access_expires {
            return Err(BearerError::Expired);
        }
        g.last_used = Some(now);
        Ok(g.public())
    }

    /// Creates a grant without the browser step, as if consent happened at
    /// `now` (the "seeded refresh token" recipe, §4.3). Returns the token
    /// response.
    pub fn seed_grant(
        &mut self,
        client_id: &str,
        site_id: u64,
        scopes: &[String],
        months: u32,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let client = self
            .client(client_id)
            .ok_or_else(|| OAuthError::new("invalid_client", "unknown client_id"))?
            .clone();
        let entry = CodeEntry {
            client_id: client.client_id.clone(),
            site_id,
            scopes: granted_scopes(&client, scopes)?,
            months: months.clamp(1, MAX_ACCESS_MONTHS),
            external_id: None,
            expires: now,
        };
        let idx = self.new_grant(entry, now);
        Ok(self.grants[idx].token_response())
    }

    /// Total successful refreshes over all grants.
    pub fn count_refreshes(&self) -> u64 {
        self.refreshes
    }

    /// Summary for the admin stats endpoint.
    pub fn stats(&self) -> Value {
        json!({
            "clients": self.clients.iter().map(|c| &c.client_id).collect::<Vec<_>>(),
            "pending_codes": self.codes.len(),
            "refreshes": self.refreshes,
            "grants": self.grants_json(),
        })
    }

    /// Every grant with its tokens and expiries (a test tool: tokens shown).
    pub fn grants_json(&self) -> Value {
        let ts = |t: DateTime<Utc>| t.to_rfc3339();
        Value::Array(
            self.grants
                .iter()
                .map(|g| {
                    json!({
                        "grant_id": g.id,
                        "client_id": g.client_id,
                        "site_id": g.site_id,
                        "scopes": g.scopes,
                        "external_id": g.external_id,
                        "created": ts(g.created),
                        "ends": ts(g.ends),
                        "access_token": g.access_token,
                        "access_expires": ts(g.access_expires),
                        "refresh_token": g.refresh_token,
                        "refresh_expires": ts(g.refresh_expires),
                        "last_used": g.last_used.map(ts),
                        "refreshes": g.refreshes,
                        "revoked": g.revoked,
                    })
                })
                .collect(),
        )
    }
}

/// Splits an OAuth `scope` parameter (space separated; `+` already decoded).
pub fn parse_scope(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_string).collect()
}

/// Requested scopes checked against the client's permissions; none
/// requested = all the client has.
fn granted_scopes(client: &Client, requested: &[String]) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(client.scopes.clone());
    }
    let mut out: Vec<String> = Vec::new();
    for s in requested {
        if !client.scopes.contains(s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("scope `{s}` is not enabled for this application"),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Appends query parameters to a URL that may already have a query.
fn with_query(base: &str, params: &[(&str, String)]) -> String {
    let mut url = base.to_string();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
        sep = '&';
    }
    url
}

/// RFC 3986 unreserved characters kept, everything else `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
