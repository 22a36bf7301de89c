//! Webhooks: one JSON POST per message to a receiver the owner configured. The one place
//! besides `api::client` that speaks HTTP (ARCHITECTURE.md says why): it shares nothing
//! with the SolarEdge client, which books every call as credits in the ledger and paces it
//! by SolarEdge's limits.
//!
//! One body suits the common receivers: ntfy (JSON publishing at its root URL: `topic`,
//! `title`, `message`, `priority`, `tags`), Gotify (`title`, `message`, `priority`), Slack
//! and Mattermost-style incoming webhooks (`text`) and Home Assistant webhook automations
//! (any field, as `trigger.json.*`). Receivers ignore the fields they do not know.
//!
//! The URL and header values are secrets (tokens live there): no error or log shows them,
//! only `scheme://host`. Redirects are not followed, so a header never reaches another host.

use super::config::WebhookChannel;
use super::Message;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The JSON body for `m`.
pub fn body(c: &WebhookChannel, m: &Message) -> String {
    let mut v = serde_json::json!({
        "title": m.subject,
        "message": m.body,
        "text": format!("*{}*\n{}", m.subject, m.body),
        "priority": m.priority,
        "tags": ["seh"],
    });
    if let Some(topic) = &c.topic {
        v["topic"] = topic.clone().into();
    }
    v.to_string()
}

/// POSTs `m`; a 2xx answer is delivery.
pub fn send(c: &WebhookChannel, m: &Message) -> Result<(), String> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        .user_agent(concat!("seh/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent
        .post(c.url.expose())
        .header("Content-Type", "application/json");
    for (k, v) in &c.headers {
        req = req.header(k.as_str(), v.expose());
    }
    match req.send(body(c, m)) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
        Err(e) => Err(describe(&e).to_string()),
    }
}

/// A short cause without the URL (ureq's own text may quote it).
fn describe(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::HostNotFound => "host not found",
        ureq::Error::ConnectionFailed => "connection refused",
        ureq::Error::Timeout(_) => "timed out",
        ureq::Error::Io(_) => "connection failed",
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => "invalid URL or header",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "TLS failed",
        _ => "request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Secret;

    #[test]
    fn one_body_for_ntfy_gotify_slack_and_home_assistant() {
        let c = WebhookChannel {
            url: Secret::new("https://ntfy.sh/"),
            shown: "https://ntfy.sh".into(),
            headers: Vec::new(),
            topic: Some("my-solar".into()),
        };
        let m = Message {
            subject: "s".into(),
            body: "b".into(),
            priority: 4,
        };
        let v: serde_json::Value = serde_json::from_str(&body(&c, &m)).unwrap();
        assert_eq!(v["topic"], "my-solar");
        assert_eq!(v["title"], "s");
        assert_eq!(v["message"], "b");
        assert_eq!(v["text"], "*s*\nb");
        assert_eq!(v["priority"], 4);
    }
}
