//! Mail through SMTP with lettre's blocking transport (rustls; STARTTLS that must succeed,
//! implicit TLS, or plain for a local relay; AUTH when a user is set). The message carries
//! Date, a Message-ID in the sender's domain and a UTF-8 subject (RFC 2047), so it is not
//! marked as spam for formal reasons. Errors are short texts without the password.

use super::config::{EmailChannel, Security};
use super::Message;
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How long one SMTP conversation may take: a dead server must not hold up the timer.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `m` to every recipient of `c`.
pub fn send(c: &EmailChannel, m: &Message, now: DateTime<Utc>) -> Result<(), String> {
    let mail = build(c, m, now)?;
    let transport = transport(c)?;
    transport.send(&mail).map(|_| ()).map_err(|e| {
        // lettre's text names the step and the server's answer, never the credentials.
        format!("{e}")
    })
}

fn build(c: &EmailChannel, m: &Message, now: DateTime<Utc>) -> Result<lettre::Message, String> {
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|e| format!("from {:?}: {e}", c.from))?;
    let mut b = lettre::Message::builder()
        .from(from.clone())
        .subject(m.subject.clone())
        .date(std::time::SystemTime::from(now))
        .message_id(Some(message_id(&from, now)))
        .header(ContentType::TEXT_PLAIN);
    for to in &c.to {
        b = b.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    b.body(m.body.clone()).map_err(|e| format!("message: {e}"))
}

/// `<time.random@sender-domain>`: unique, and in a domain the sender owns.
fn message_id(from: &Mailbox, now: DateTime<Utc>) -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "<{}.{random:016x}.seh@{}>",
        now.timestamp(),
        from.email.domain()
    )
}

fn transport(c: &EmailChannel) -> Result<SmtpTransport, String> {
    let mut b = SmtpTransport::builder_dangerous(c.host.as_str())
        .port(c.port)
        .timeout(Some(TIMEOUT));
    if c.security != Security::None {
        let mut params = TlsParameters::builder(c.host.clone());
        if let Some(pem) = &c.ca_pem {
            let cert = Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        let params = params.build_rustls().map_err(|e| format!("tls: {e}"))?;
        b = b.tls(match c.security {
            Security::StartTls => Tls::Required(params),
            _ => Tls::Wrapper(params),
        });
    }
    if let Some((user, password)) = &c.login {
        b = b.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_message_has_date_message_id_and_an_encoded_subject() {
        let c = EmailChannel {
            host: "h".into(),
            port: 25,
            security: Security::None,
            login: None,
            from: "seh <seh@example.org>".into(),
            to: vec!["owner@example.net".into()],
            ca_pem: None,
        };
        let m = Message {
            subject: "Wechselrichter schweigt: Dachfläche".into(),
            body: "Grüße\n".into(),
            priority: 4,
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let text = String::from_utf8(build(&c, &m, now).unwrap().formatted()).unwrap();
        assert!(
            text.contains("Date: Thu, 26 Nov 2026 12:00:00 +0000"),
            "{text}"
        );
        assert!(text.contains("Message-ID: <1795694400."), "{text}");
        assert!(text.contains("@example.org>"), "{text}");
        assert!(
            text.contains("Subject: Wechselrichter schweigt: =?utf-8?b?"),
            "{text}"
        );
        assert!(text.contains("charset=utf-8"), "{text}");
    }
}
