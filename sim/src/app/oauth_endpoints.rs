//! The OAuth flow as HTTP: `/authorize` (a minimal consent page, or the approval redirect
//! once a site is chosen) and `/v2/oauth2/token`, `/v2/oauth2/revoke-token`.
//!
//! It turns requests into calls on [`crate::oauth::OAuth`] and their results into redirects
//! or JSON. Grants, tokens and their error bodies belong to `crate::oauth`; these endpoints
//! must not hold that logic, and must not touch accounting (they cost no credit).

use super::{parse_body, App};
use crate::http::{Request, Response};
use crate::oauth::TokenRequest;
use serde_json::{json, Value};

impl App {
    pub(super) fn authorize(&self, req: &Request, approve: bool) -> Response {
        let client_id = req.query_one("client_id").unwrap_or("");
        let scopes: Vec<String> = req
            .query_one("scope")
            .unwrap_or("SITE_DATA")
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let duration: Option<u32> = req
            .query_one("access_duration")
            .and_then(|d| d.parse().ok());
        let site = req
            .query_one("site_id")
            .or_else(|| req.query_one("sim_site"))
            .and_then(|s| s.parse::<i64>().ok())
            .or(self.opts.oauth_auto_approve);
        let site = match (approve || site.is_some(), site) {
            (true, Some(site)) => site,
            _ => return self.consent_page(req),
        };
        if self.site_index(site).is_none() {
            return Response::problem(400, "Bad Request", "Unknown site");
        }
        let now = self.clock.now();
        let result = self.oauth.lock().expect("oauth lock").authorize(
            client_id,
            site as u64,
            &scopes,
            duration,
            req.query_one("external_id"),
            req.query_one("state"),
            now,
        );
        match result {
            Ok(location) => Response {
                status: 302,
                headers: vec![("location".into(), location)],
                body: Vec::new(),
            },
            Err(e) => e.to_response(),
        }
    }

    /// A minimal consent page: one link per site, each approving that site.
    fn consent_page(&self, req: &Request) -> Response {
        let query: String = req
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect::<Vec<_>>()
            .join("&");
        let links: String = self
            .opts
            .scenario
            .sites
            .iter()
            .map(|s| {
                format!(
                    "<li><a href=\"/authorize/approve?{query}&amp;site_id={}\">Allow access to {} ({})</a></li>",
                    s.id, s.name, s.id
                )
            })
            .collect();
        Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=UTF-8".into())],
            body: format!(
                "<html><body><h1>SolarEdge Connect (simulated)</h1><ul>{links}</ul></body></html>"
            )
            .into_bytes(),
        }
    }

    pub(super) fn oauth_endpoint(&self, rest: &str, req: &Request) -> Response {
        if req.method != "POST" {
            return Response::problem(405, "Method Not Allowed", "Method not allowed");
        }
        let body = parse_body(req);
        let now = self.clock.now();
        let mut oauth = self.oauth.lock().expect("oauth lock");
        if rest == "/oauth2/token" {
            // A form body arrives here already turned into a JSON object of strings.
            let result = TokenRequest::from_json(&body).and_then(|t| oauth.token(&t, now));
            match result {
                Ok(v) => Response::json(200, &v),
                Err(e) => e.to_response(),
            }
        } else {
            let token = body.get("token").and_then(Value::as_str).unwrap_or("");
            oauth.revoke(token);
            Response::json(200, &json!({}))
        }
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
