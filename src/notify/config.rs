//! `[notify]`, `[[notify.email]]` and `[[notify.webhook]]`: the file format and its
//! validation into [`NotifyConfig`]. `crate::config` calls [`build`] with the parsed table
//! and the environment's SMTP password; nothing here reads the environment. Passwords and
//! webhook URLs/headers are [`Secret`]s, and every `Debug` here is hand-written.

use crate::api::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// `[notify]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNotify {
    remind_hours: Option<u32>,
    max_per_hour: Option<u32>,
    credits_low_percent: Option<u32>,
    offline_hours: Option<u32>,
    grant_idle_days: Option<u32>,
    stale_hours: Option<u32>,
    disk_free_mb: Option<u64>,
    #[serde(default)]
    email: Vec<FileEmail>,
    #[serde(default)]
    webhook: Vec<FileWebhook>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEmail {
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for FileEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileEmail")
            .field("host", &self.host)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    topic: Option<String>,
}

impl fmt::Debug for FileWebhook {
    // The URL and header values may carry tokens (Gotify's `?token=`, Slack's path).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileWebhook")
            .field("url", &"****")
            .finish_non_exhaustive()
    }
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all (a relay on localhost only).
    None,
}

/// One mail channel.
#[derive(Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Login and password, when the server wants AUTH.
    pub login: Option<(String, Secret)>,
    pub from: String,
    pub to: Vec<String>,
    /// PEM certificates to trust besides the public roots (a private mail server).
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.login.as_ref().map(|(u, _)| u))
            .field("password", &self.login.as_ref().map(|_| "****"))
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

/// One webhook channel.
#[derive(Clone)]
pub struct WebhookChannel {
    /// The whole URL, a secret: receivers put tokens in paths and queries.
    pub url: Secret,
    /// `scheme://host[:port]`, safe to show.
    pub shown: String,
    pub headers: Vec<(String, Secret)>,
    /// ntfy's topic, sent in the body (ntfy takes JSON at its root URL).
    pub topic: Option<String>,
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("WebhookChannel")
            .field("url", &format_args!("{}/****", self.shown))
            .field("headers", &names)
            .field("topic", &self.topic)
            .finish()
    }
}

/// `[notify]`, validated, with defaults.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    pub email: Vec<EmailChannel>,
    pub webhook: Vec<WebhookChannel>,
    /// A still-open event is told again after this many hours (default 24).
    pub remind_hours: u32,
    /// At most this many messages per hour; the rest wait for a later run (default 6).
    pub max_per_hour: u32,
    /// Credits left below this percentage of the month's usable credits is an event
    /// (default 10; 0 turns it off).
    pub credits_low_percent: u32,
    /// A site whose details say it last communicated longer ago than this is offline
    /// (default 24; 0 turns it off).
    pub offline_hours: u32,
    /// An OAuth refresh token that would die unused within this many days (default 7).
    pub grant_idle_days: u32,
    /// A site whose quarter-hours show no production for this many hours in which it
    /// produced the day before is stale (default 3; 0 turns it off).
    pub stale_hours: u32,
    /// Less free space than this (MB) on the database's disk is an event (default 200;
    /// 0 turns it off).
    pub disk_free_mb: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            email: Vec::new(),
            webhook: Vec::new(),
            remind_hours: 24,
            max_per_hour: 6,
            credits_low_percent: 10,
            offline_hours: 24,
            grant_idle_days: 7,
            stale_hours: 3,
            disk_free_mb: 200,
        }
    }
}

impl NotifyConfig {
    /// Whether any channel is configured (without one, the notifier does nothing).
    pub fn any(&self) -> bool {
        !(self.email.is_empty() && self.webhook.is_empty())
    }
}

/// Validates `[notify]`. `smtp_password` is `SEH_SMTP_PASSWORD`, which wins over
/// `password_file` for every mail channel with a `user`. Errors are `(key, message)`.
pub fn build(
    file: FileNotify,
    smtp_password: Option<&str>,
) -> Result<NotifyConfig, (String, String)> {
    let d = NotifyConfig::default();
    let bad = |k: &str, m: &str| (k.to_string(), m.to_string());
    let remind_hours = file.remind_hours.unwrap_or(d.remind_hours);
    if remind_hours == 0 {
        return Err(bad("notify.remind_hours", "must be at least 1"));
    }
    let max_per_hour = file.max_per_hour.unwrap_or(d.max_per_hour);
    if max_per_hour == 0 {
        return Err(bad("notify.max_per_hour", "must be at least 1"));
    }
    let credits_low_percent = file.credits_low_percent.unwrap_or(d.credits_low_percent);
    if credits_low_percent > 100 {
        return Err(bad("notify.credits_low_percent", "must be 0..100"));
    }
    let mut email = Vec::new();
    for (i, e) in file.email.into_iter().enumerate() {
        email.push(
            build_email(e, smtp_password)
                .map_err(|(k, m)| (format!("notify.email[{i}].{k}"), m))?,
        );
    }
    let mut webhook = Vec::new();
    for (i, w) in file.webhook.into_iter().enumerate() {
        webhook.push(build_webhook(w).map_err(|(k, m)| (format!("notify.webhook[{i}].{k}"), m))?);
    }
    Ok(NotifyConfig {
        email,
        webhook,
        remind_hours,
        max_per_hour,
        credits_low_percent,
        offline_hours: file.offline_hours.unwrap_or(d.offline_hours),
        grant_idle_days: file.grant_idle_days.unwrap_or(d.grant_idle_days),
        stale_hours: file.stale_hours.unwrap_or(d.stale_hours),
        disk_free_mb: file.disk_free_mb.unwrap_or(d.disk_free_mb),
    })
}

fn build_email(e: FileEmail, env_password: Option<&str>) -> Result<EmailChannel, (String, String)> {
    let bad = |k: &str, m: String| (k.to_string(), m);
    let host = e.host.filter(|h| !h.trim().is_empty()).ok_or_else(|| {
        bad(
            "host",
            "missing (the SMTP server, like \"smtp.gmail.com\")".into(),
        )
    })?;
    let security = match e.security.as_deref() {
        None | Some("starttls") => Security::StartTls,
        Some("tls") => Security::Tls,
        Some("none") => Security::None,
        Some(o) => {
            return Err(bad(
                "security",
                format!("must be \"starttls\", \"tls\" or \"none\", not {o:?}"),
            ))
        }
    };
    let port = e.port.unwrap_or(match security {
        Security::StartTls => 587,
        Security::Tls => 465,
        Security::None => 25,
    });
    let from = e
        .from
        .filter(|f| f.contains('@'))
        .ok_or_else(|| bad("from", "missing or not an address".into()))?;
    if e.to.is_empty() || e.to.iter().any(|t| !t.contains('@')) {
        return Err(bad("to", "must list one or more addresses".into()));
    }
    let login = match (e.user, e.password_file) {
        (None, None) => None,
        (None, Some(_)) => return Err(bad("user", "missing (needed with password_file)".into())),
        (Some(user), file) => {
            let password = match (env_password, file) {
                (Some(p), _) => p.to_string(),
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .map_err(|err| {
                        bad(
                            "password_file",
                            format!("cannot read {}: {err}", f.display()),
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                (None, None) => {
                    return Err(bad(
                        "password_file",
                        "missing: set password_file or SEH_SMTP_PASSWORD with user".into(),
                    ))
                }
            };
            if password.is_empty() {
                return Err(bad("password_file", "the password is empty".into()));
            }
            Some((user, Secret::new(password)))
        }
    };
    let ca_pem = match e.ca_file {
        None => None,
        Some(f) => Some(
            std::fs::read(&f)
                .map_err(|err| bad("ca_file", format!("cannot read {}: {err}", f.display())))?,
        ),
    };
    Ok(EmailChannel {
        host,
        port,
        security,
        login,
        from,
        to: e.to,
        ca_pem,
    })
}

fn build_webhook(w: FileWebhook) -> Result<WebhookChannel, (String, String)> {
    let url = w.url.unwrap_or_default();
    let Some(rest) = url
        .strip_prefix("https://")
        .map(|r| ("https", r))
        .or_else(|| url.strip_prefix("http://").map(|r| ("http", r)))
    else {
        return Err(("url".into(), "must start with https:// or http://".into()));
    };
    let host = rest.1.split(['/', '?', '#']).next().unwrap_or("");
    // user:password@host would print a secret; keep only the part after '@'.
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() {
        return Err(("url".into(), "has no host".into()));
    }
    Ok(WebhookChannel {
        shown: format!("{}://{host}", rest.0),
        url: Secret::new(url.clone()),
        headers: w
            .headers
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        topic: w.topic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, pw: Option<&str>) -> Result<NotifyConfig, (String, String)> {
        #[derive(Deserialize)]
        struct Wrap {
            notify: FileNotify,
        }
        let w: Wrap = toml::from_str(text).unwrap();
        build(w.notify, pw)
    }

    #[test]
    fn defaults_and_channels() {
        let c = parse("[notify]\n", None).unwrap();
        assert!(!c.any());
        assert_eq!((c.remind_hours, c.max_per_hour), (24, 6));
        let c = parse(
            "[notify]\n[[notify.email]]\nhost = \"smtp.example.org\"\nuser = \"me\"\n\
             from = \"seh <me@example.org>\"\nto = [\"a@example.org\"]\n\
             [[notify.webhook]]\nurl = \"https://tok:pw@gotify.example.org/message?token=SECRETTOKEN\"\n\
             headers = { Authorization = \"Bearer HEADERSECRET\" }\n",
            Some("SMTPSECRET"),
        )
        .unwrap();
        assert!(c.any());
        assert_eq!(c.email[0].port, 587);
        assert_eq!(c.email[0].security, Security::StartTls);
        assert_eq!(c.webhook[0].shown, "https://gotify.example.org");
        let dbg = format!("{c:?}");
        for secret in ["SMTPSECRET", "SECRETTOKEN", "HEADERSECRET", "tok:pw"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }

    #[test]
    fn mistakes_name_the_key() {
        for (text, key) in [
            ("[notify]\nremind_hours = 0\n", "notify.remind_hours"),
            ("[notify]\n[[notify.email]]\nfrom = \"a@b\"\nto = [\"c@d\"]\n", "notify.email[0].host"),
            (
                "[notify]\n[[notify.email]]\nhost = \"h\"\nsecurity = \"ssl\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
                "notify.email[0].security",
            ),
            (
                "[notify]\n[[notify.email]]\nhost = \"h\"\nuser = \"u\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
                "notify.email[0].password_file",
            ),
            ("[notify]\n[[notify.webhook]]\nurl = \"ftp://x\"\n", "notify.webhook[0].url"),
        ] {
            let (k, _) = parse(text, None).unwrap_err();
            assert_eq!(k, key, "{text}");
        }
    }
}
