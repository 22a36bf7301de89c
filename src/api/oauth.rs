//! OAuth 2.0 (Site Access) token endpoint bodies and responses; no IO.
//!
//! `POST /v2/oauth2/token` takes JSON: `{"grant_type":"authorization_code",code,client_id,
//! client_secret}` or `{"grant_type":"refresh_token",refresh_token,client_id,client_secret}`
//! and answers `{access_token, token_type, expires_in, refresh_token}`. The refresh token
//! rotates on every use, so the caller must persist the new one before using the access token.
//! Errors are RFC 6749 `{error, error_description}` with HTTP 400. The request goes through
//! `Client::post_json`, which sends no credential header.
//!
//! Tokens are wrapped in [`Secret`] at once, and parse errors never quote the body.

use serde_json::{json, Value};

use super::json::{from_body, object, opt_i64, opt_str};
use super::{ParseError, Secret};

/// Token endpoint, relative to the V2 base URL.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// Revoke endpoint, relative to the V2 base URL (documented, not verified live).
pub const REVOKE_PATH: &str = "/oauth2/revoke-token";

/// Exchange an authorization code (single use, short-lived) for tokens.
pub fn authorization_code_body(code: &Secret, client_id: &str, client_secret: &Secret) -> Value {
    json!({
        "grant_type": "authorization_code",
        "code": code.expose(),
        "client_id": client_id,
        "client_secret": client_secret.expose(),
    })
}

/// Refresh: returns a new access token and a new refresh token; the old one dies at once.
pub fn refresh_body(refresh_token: &Secret, client_id: &str, client_secret: &Secret) -> Value {
    json!({
        "grant_type": "refresh_token",
        "refresh_token": refresh_token.expose(),
        "client_id": client_id,
        "client_secret": client_secret.expose(),
    })
}

/// Revoke a refresh or access token.
pub fn revoke_body(token: &Secret) -> Value {
    json!({ "token": token.expose() })
}

/// A successful token response. `Debug` shows `****` for the tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: Option<String>,
    /// Lifetime of the access token in seconds (7200 seen).
    pub expires_in: Option<i64>,
    /// The rotated refresh token; `None` if the server sent none.
    pub refresh_token: Option<Secret>,
}

/// Parses a token response. An OAuth error body answered with 200 is reported as an error.
pub fn parse_token(body: &str) -> Result<TokenResponse, ParseError> {
    let ctx = "token response";
    let v: Value = from_body(ctx, body)?;
    let o = object(ctx, &v)?;
    let secret = |key: &str| match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(Secret::new(s.clone()))),
        // Never quote the value: it may be a token.
        Some(_) => Err(ParseError::new(format!(
            "{ctx}.{key}: expected a non-empty string"
        ))),
    };
    let Some(access_token) = secret("access_token")? else {
        return Err(match parse_error(body) {
            Some(e) => ParseError::new(format!("{ctx}: {e}")),
            None => ParseError::new(format!("{ctx}.access_token: missing")),
        });
    };
    Ok(TokenResponse {
        access_token,
        token_type: opt_str(ctx, o, "token_type")?,
        expires_in: opt_i64(ctx, o, "expires_in")?,
        refresh_token: secret("refresh_token")?,
    })
}

/// An RFC 6749 error (`invalid_client`, `invalid_grant`, `unsupported_grant_type`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub error: String,
    pub description: Option<String>,
}

impl OAuthError {
    /// The code or refresh token is used up or expired: only a new consent helps.
    pub fn needs_reconsent(&self) -> bool {
        let d = self
            .description
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        self.error == "invalid_grant"
            || d.contains("invalid code")
            || d.contains("invalid refresh_token")
            || d.contains("invalid refresh token")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.error),
            None => f.write_str(&self.error),
        }
    }
}

/// Reads an RFC 6749 error body; `None` when the body is not one.
pub fn parse_error(body: &str) -> Option<OAuthError> {
    let v: Value = serde_json::from_str(body).ok()?;
    let o = v.as_object()?;
    let error = o.get("error")?.as_str()?.trim().to_string();
    if error.is_empty() {
        return None;
    }
    let description = o
        .get("error_description")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Some(OAuthError { error, description })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response() {
        let body = r#"{"access_token":"acc-111","token_type":"Bearer","expires_in":7200,"refresh_token":"ref-222"}"#;
        let t = parse_token(body).unwrap();
        assert_eq!(t.access_token.expose(), "acc-111");
        assert_eq!(
            t.refresh_token.as_ref().map(Secret::expose),
            Some("ref-222")
        );
        assert_eq!(t.expires_in, Some(7200));
        assert_eq!(t.token_type.as_deref(), Some("Bearer"));
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("acc-111") && !dbg.contains("ref-222"),
            "{dbg}"
        );
        let minimal = parse_token(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!((minimal.refresh_token, minimal.expires_in), (None, None));
    }

    #[test]
    fn token_errors_never_quote_tokens() {
        let cases = [
            ("", "token response: empty body"),
            ("{\"access_token\":\"abc", "token response: EOF"),
            (
                r#"{"token_type":"Bearer"}"#,
                "token response.access_token: missing",
            ),
            (
                r#"{"access_token":12345678}"#,
                "token response.access_token: expected a non-empty string",
            ),
            (
                r#"{"access_token":"ok","refresh_token":["secret-xyz"]}"#,
                "token response.refresh_token",
            ),
            (
                r#"{"error":"invalid_grant","error_description":"invalid refresh_token"}"#,
                "token response: invalid_grant: invalid refresh_token",
            ),
        ];
        for (body, want) in cases {
            let err = parse_token(body).unwrap_err().to_string();
            assert!(err.starts_with(want), "{body}: {err}");
            assert!(
                !err.contains("12345678") && !err.contains("secret-xyz"),
                "{err}"
            );
        }
    }

    #[test]
    fn rfc6749_errors() {
        let e = parse_error(
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        )
        .unwrap();
        assert_eq!(e.error, "invalid_client");
        assert!(!e.needs_reconsent());
        assert_eq!(
            e.to_string(),
            "invalid_client: Client authentication failed"
        );
        let e = parse_error(r#"{"error":"invalid_request","error_description":"invalid code"}"#)
            .unwrap();
        assert!(e.needs_reconsent());
        assert_eq!(
            parse_error(r#"{"error":"unsupported_grant_type"}"#)
                .unwrap()
                .description,
            None
        );
        assert_eq!(parse_error(r#"{"title":"Bad Request"}"#), None);
        assert_eq!(parse_error("<html>"), None);
    }

    #[test]
    fn request_bodies() {
        let s = Secret::new("shh");
        let b = refresh_body(&Secret::new("r1"), "cid", &s);
        assert_eq!(b["grant_type"], "refresh_token");
        assert_eq!(b["refresh_token"], "r1");
        assert_eq!(b["client_secret"], "shh");
        let b = authorization_code_body(&Secret::new("c1"), "cid", &s);
        assert_eq!(b["grant_type"], "authorization_code");
        assert_eq!(b["code"], "c1");
        assert_eq!(revoke_body(&Secret::new("t")), json!({"token":"t"}));
    }
}
