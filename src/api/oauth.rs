//! OAuth 2.0 (Site Access) token endpoint bodies and responses; no IO.
//!
//! `POST /v2/oauth2/token` takes JSON: `{"grant_type":"authorization_code",code,client_id,
//! client_secret}` or `{"grant_type":"refresh_token",refresh_token,client_id,client_secret}`
//! and answers `{access_token, token_type, expires_in, refresh_token}`. The refresh token
//! rotates on every use, so the caller must persist the new one before using the access token.
//! Errors are RFC 6749 `{error, error_description}`, usually with HTTP 400. The request goes
//! through `Client::post_json`, which sends no credential header.
//!
//! What a refusal means is decided by [`refusal`] from the status and the `error` code,
//! never from the description: servers word it differently and other clients saw
//! `invalid_request` where RFC 6749 says `invalid_grant` (reference §6.1).
//!
//! Tokens are wrapped in [`Secret`] at once, and parse errors never quote the body.

use serde_json::{json, Value};

use super::json::{from_body, object, opt_i64, opt_str};
use super::{Error, ParseError, Secret};

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

/// The `error` code of an RFC 6749 (token endpoint) or RFC 6750 (bearer token) error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 6750: the access token is invalid, expired or revoked.
    InvalidToken,
    InsufficientScope,
    /// A code neither RFC defines (the text stays in the error's detail).
    Other,
}

impl OAuthCode {
    pub fn parse(code: &str) -> OAuthCode {
        match code.trim() {
            "invalid_request" => OAuthCode::InvalidRequest,
            "invalid_client" => OAuthCode::InvalidClient,
            "invalid_grant" => OAuthCode::InvalidGrant,
            "unauthorized_client" => OAuthCode::UnauthorizedClient,
            "unsupported_grant_type" => OAuthCode::UnsupportedGrantType,
            "invalid_scope" => OAuthCode::InvalidScope,
            "invalid_token" => OAuthCode::InvalidToken,
            "insufficient_scope" => OAuthCode::InsufficientScope,
            _ => OAuthCode::Other,
        }
    }
}

/// An RFC 6749 error body (`invalid_client`, `invalid_grant`, `unsupported_grant_type`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` field as sent.
    pub error: String,
    pub code: OAuthCode,
    pub description: Option<String>,
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
    Some(OAuthError {
        code: OAuthCode::parse(&error),
        error,
        description,
    })
}

/// What a refusal of the token endpoint means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The code or refresh token is used up, expired or revoked: only a new consent helps.
    /// 400 with `invalid_grant` (RFC 6749) or `invalid_request` (what another client saw
    /// for a dead refresh token and an expired code, reference §6.1).
    Grant,
    /// The application's id or secret was refused (`invalid_client`,
    /// `unauthorized_client`; 400 as seen, or 401 as RFC 6749 allows): a configuration
    /// problem.
    Client,
}

/// What the token endpoint's answer `e` means for the request that was sent (a code
/// exchange or a refresh): decided by the status and the `error` code only, never by the
/// description. `None` for anything else (network, 5xx, an unknown code).
pub fn refusal(e: &Error) -> Option<Refusal> {
    use OAuthCode as C;
    match e {
        Error::BadRequest {
            oauth: Some(C::InvalidGrant | C::InvalidRequest),
            ..
        } => Some(Refusal::Grant),
        Error::BadRequest {
            oauth: Some(C::InvalidClient | C::UnauthorizedClient),
            ..
        }
        | Error::Unauthorized {
            oauth: Some(C::InvalidClient | C::UnauthorizedClient),
            ..
        } => Some(Refusal::Client),
        _ => None,
    }
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
        assert_eq!(
            (e.error.as_str(), e.code),
            ("invalid_client", OAuthCode::InvalidClient)
        );
        assert_eq!(
            e.to_string(),
            "invalid_client: Client authentication failed"
        );
        let e = parse_error(r#"{"error":"invalid_request","error_description":"invalid code"}"#)
            .unwrap();
        assert_eq!(e.code, OAuthCode::InvalidRequest);
        assert_eq!(
            parse_error(r#"{"error":"slow_down"}"#).unwrap().code,
            OAuthCode::Other
        );
        assert_eq!(
            parse_error(r#"{"error":"unsupported_grant_type"}"#)
                .unwrap()
                .description,
            None
        );
        assert_eq!(parse_error(r#"{"title":"Bad Request"}"#), None);
        assert_eq!(parse_error("<html>"), None);
    }

    /// Status and code decide, whatever the description says (reference §6.1).
    #[test]
    fn refusals_by_status_and_code() {
        let bad = |code| Error::BadRequest {
            detail: "anything at all".into(),
            window_too_long: false,
            oauth: Some(code),
        };
        let unauthorized = |code| Error::Unauthorized {
            detail: "invalid refresh_token".into(),
            oauth: Some(code),
        };
        use OAuthCode as C;
        assert_eq!(refusal(&bad(C::InvalidGrant)), Some(Refusal::Grant));
        assert_eq!(refusal(&bad(C::InvalidRequest)), Some(Refusal::Grant));
        assert_eq!(refusal(&bad(C::InvalidClient)), Some(Refusal::Client));
        assert_eq!(refusal(&bad(C::UnauthorizedClient)), Some(Refusal::Client));
        assert_eq!(
            refusal(&unauthorized(C::InvalidClient)),
            Some(Refusal::Client)
        );
        // A 401 is never a dead grant, whatever its description; nor is an unknown code.
        assert_eq!(refusal(&unauthorized(C::InvalidGrant)), None);
        assert_eq!(refusal(&unauthorized(C::InvalidToken)), None);
        assert_eq!(refusal(&bad(C::UnsupportedGrantType)), None);
        assert_eq!(refusal(&bad(C::Other)), None);
        // A description alone decides nothing.
        let text_only = Error::BadRequest {
            detail: "invalid_grant: invalid refresh_token".into(),
            window_too_long: false,
            oauth: None,
        };
        assert_eq!(refusal(&text_only), None);
        assert_eq!(refusal(&Error::Server { status: 502 }), None);
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
