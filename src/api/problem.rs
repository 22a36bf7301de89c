//! Extracting a short human-readable detail from an error response body.
//!
//! The gateway answers errors with RFC 7807 problem+json (`{type,title,status,detail,traceId}`)
//! and the OAuth endpoints with RFC 6749 (`{error,error_description}`); a 5xx may be an HTML
//! page. We only need one short line for the error and the ledger, never the whole body.
//! Pure, no IO.

use serde::Deserialize;

/// Longest detail we keep, in characters.
const MAX_DETAIL: usize = 240;

#[derive(Deserialize)]
struct WireProblem {
    title: Option<serde_json::Value>,
    detail: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    error_description: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
}

/// A short detail for an error body: problem `detail` (else `title`), OAuth
/// `error: error_description`, a `message`, or the start of a plain-text body. HTML pages and
/// empty bodies give an empty string.
pub fn detail(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    if let Ok(p) = serde_json::from_str::<WireProblem>(body) {
        let text = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            _ => None,
        };
        let found = match (text(&p.error), text(&p.error_description)) {
            (Some(e), Some(d)) => Some(format!("{e}: {d}")),
            (Some(e), None) => Some(e),
            (None, _) => text(&p.detail)
                .or_else(|| text(&p.message))
                .or_else(|| text(&p.title))
                .or_else(|| text(&p.error_description)),
        };
        return shorten(&found.unwrap_or_default());
    }
    if body.starts_with('<') || body.starts_with('{') || body.starts_with('[') {
        // HTML from a proxy, or JSON we could not read: nothing useful to quote.
        return String::new();
    }
    shorten(body)
}

/// Collapses whitespace and cuts to [`MAX_DETAIL`] characters.
fn shorten(s: &str) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_DETAIL {
        return collapsed;
    }
    let mut out: String = collapsed.chars().take(MAX_DETAIL).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_detail_then_title() {
        let body = r#"{"type":"https://example.invalid/docs","title":"Not Found","status":404,
            "detail":"Unknown endpoint","traceId":"0123456789abcdef0123456789abcdef"}"#;
        assert_eq!(detail(body), "Unknown endpoint");
        assert_eq!(
            detail(r#"{"title":"Too Many Requests","status":429}"#),
            "Too Many Requests"
        );
        assert_eq!(detail(r#"{"title":"T","detail":null}"#), "T");
    }

    #[test]
    fn oauth_error_with_and_without_description() {
        assert_eq!(
            detail(r#"{"error":"invalid_grant","error_description":"invalid refresh_token"}"#),
            "invalid_grant: invalid refresh_token"
        );
        assert_eq!(detail(r#"{"error":"invalid_client"}"#), "invalid_client");
    }

    #[test]
    fn non_json_bodies() {
        assert_eq!(detail(""), "");
        assert_eq!(detail("<html><body>502 Bad Gateway</body></html>"), "");
        assert_eq!(detail("{\"detail\": \"trunc"), "");
        assert_eq!(
            detail("upstream   connect\nerror"),
            "upstream connect error"
        );
        let long = "x".repeat(1000);
        assert_eq!(detail(&long).chars().count(), MAX_DETAIL + 1);
    }
}
