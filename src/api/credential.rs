//! Credentials and the secrets inside them: [`Secret`] (a string that never prints),
//! [`Credential`] (how data requests authenticate: Fleet API key, Site Access bearer token,
//! or none) and the rule for which values of a posted JSON body count as secrets.
//!
//! This file owns what a secret is and the non-secret name a credential has in the ledger.
//! It must not do IO, build requests or log anything; a secret's value leaves through
//! [`Secret::expose`] only (see there for who calls it).

use std::fmt;

use crate::model::SiteId;

/// A secret string (API key, account key, access or refresh token, authorization code,
/// client secret). `Debug` and `Display` print `****`; only [`Secret::expose`] gives the
/// value, and equality compares values without showing them.
///
/// `expose` has four kinds of callers, each of which sends or keeps the value only where
/// it belongs: the client's request builder (credential headers, never the URL) and its
/// scrubbing of error texts (to find the value and replace it with `****`); `api::oauth`
/// (the token endpoint's JSON bodies, which the client also scrubs from its errors);
/// `oauth::store` (the token file, written 0600); and `commands::sync` (a one-way hash of
/// the API key in the plan fingerprint, never the key itself). None formats the value into
/// a log line, an error or `Debug`; a new caller must keep to the same rule.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// How data requests authenticate.
#[derive(Clone, Debug)]
pub enum Credential {
    /// Fleet Access: `X-API-Key`, plus the legacy `X-Account-Key` when the user has one.
    ApiKey {
        key: Secret,
        account_key: Option<Secret>,
    },
    /// Site Access (OAuth): `Authorization: Bearer`. One grant covers one site, whose id
    /// names the credential in the ledger.
    Bearer { token: Secret, site_id: SiteId },
    /// No credential, for a client that only talks to the OAuth token endpoint.
    None,
}

impl Credential {
    /// A non-secret name for the ledger: `key`, `oauth:site<ID>` or `none`. Never contains
    /// any part of a key or token.
    pub(crate) fn label(&self) -> String {
        match self {
            Credential::ApiKey { .. } => "key".to_string(),
            Credential::Bearer { site_id, .. } => format!("oauth:site{site_id}"),
            Credential::None => "none".to_string(),
        }
    }

    /// Every secret value this credential sends, for scrubbing error texts.
    pub(super) fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::ApiKey { key, account_key } => {
                let mut v = vec![key.expose()];
                v.extend(account_key.as_ref().map(Secret::expose));
                v
            }
            Credential::Bearer { token, .. } => vec![token.expose()],
            Credential::None => Vec::new(),
        }
    }
}

/// String values under secret-looking keys of a JSON body (`client_secret`,
/// `refresh_token`, `code`, `token`, ...), for scrubbing error texts.
pub(super) fn secret_values(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = v {
        for (k, v) in map {
            let k = k.to_ascii_lowercase();
            let secret_key = ["secret", "token", "code", "password"]
                .iter()
                .any(|w| k.contains(w));
            if let (true, serde_json::Value::String(s)) = (secret_key, v) {
                out.push(s.clone());
            }
        }
    }
    out
}
