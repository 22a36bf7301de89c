//! `seh notify test|status`, and the notifier's turn after every `seh sync`: gather the
//! facts (the run's report, credits, open alerts, sites' last contact) and hand them to
//! `notify::after_run`. Nothing here fails a sync: trouble is a warning.

use super::{db_fatal, Fatal, Outcome};
use crate::cli::{NotifyArgs, NotifyCommand};
use crate::config::Config;
use crate::exit::Exit;
use crate::harvest::report::Report;
use crate::notify::{self, events, Message};
use crate::store::{self, Store};
use chrono::{DateTime, Utc};

pub fn run(config: &Config, args: &NotifyArgs) -> Outcome {
    match args.command {
        NotifyCommand::Test(_) => test(config),
        NotifyCommand::Status(_) => status(config),
    }
}

fn no_channel(config: &Config) -> Fatal {
    let file = config.source.as_ref().map_or_else(
        || "the configuration".to_string(),
        |p| p.display().to_string(),
    );
    Fatal::new(
        Exit::Config,
        anyhow::anyhow!(
            "no notification channel: add [[notify.email]] or [[notify.webhook]] to {file} \
             (README, \"Notifications\")"
        ),
    )
}

fn test(config: &Config) -> Outcome {
    if !config.notify.any() {
        return Err(no_channel(config));
    }
    let message = Message {
        subject: "seh: test message".into(),
        body: "This is a test of seh's notifications (`seh notify test`). When something \
               goes wrong with the harvest, messages like this one say what and how to \
               fix it, once, and again when it is resolved.\n"
            .into(),
        priority: 3,
    };
    let sent = notify::send_all(&config.notify, &message, Utc::now());
    let mut out = String::new();
    for s in &sent {
        match &s.result {
            Ok(()) => out += &wrap(&format!("sent    {}", s.channel)),
            Err(e) => out += &wrap(&format!("FAILED  {}: {e}", s.channel)),
        }
    }
    print!("{out}");
    Ok(if sent.iter().all(|s| s.result.is_ok()) {
        Exit::Ok
    } else {
        Exit::Partial
    })
}

fn status(config: &Config) -> Outcome {
    let path = &config.database;
    let (store, _lock) = super::open_existing(path, super::Schema::Current)?;
    let rows = store.notify_rows().map_err(|e| db_fatal(path, e))?;
    let last = store.last_notify_message().map_err(|e| db_fatal(path, e))?;
    let n = &config.notify;
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    outln!(
        out,
        "channels: {} email, {} webhook; remind after {} h; at most {} per hour",
        n.email.len(),
        n.webhook.len(),
        n.remind_hours,
        n.max_per_hour
    );
    if rows.is_empty() {
        outln!(out, "no open events");
    }
    for r in &rows {
        let told = match (r.cleared_at, r.notified_at) {
            (Some(c), _) => format!("cleared {}, resolved message pending", fmt(c)),
            (None, Some(t)) if r.reminders > 0 => {
                format!("told, last reminder {}", fmt(t))
            }
            (None, Some(t)) => format!("told {}", fmt(t)),
            (None, None) => "not told yet".to_string(),
        };
        out += &wrap(&format!(
            "{}  since {}; {}",
            r.subject,
            fmt(r.opened_at),
            told
        ));
    }
    match last {
        None => outln!(out, "no message sent yet"),
        Some(m) if m.delivered => {
            outln!(out, "last message: {} UTC, delivered", fmt(m.sent_at))
        }
        Some(m) => {
            out += &wrap(&format!(
                "last message: {} UTC, NOT delivered ({}); retried next run",
                fmt(m.sent_at),
                m.error.unwrap_or_default()
            ))
        }
    }
    print!("{out}");
    Ok(Exit::Ok)
}

/// `text` as lines of at most 80 columns, broken at spaces; later lines indented by 4.
fn wrap(text: &str) -> String {
    const WIDTH: usize = 80;
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 4 && len + 1 + word.chars().count() > WIDTH {
            out += line.trim_end();
            out.push('\n');
            line = "    ".to_string();
        } else if !line.is_empty() && !line.ends_with("    ") {
            line.push(' ');
        }
        line += word;
    }
    out += line.trim_end();
    out.push('\n');
    out
}

/// The notifier after a sync; `now` is the server's time at its end. Logs, never fails.
pub fn after_sync(config: &Config, store: &mut Store, report: &Report, now: DateTime<Utc>) {
    if !config.notify.any() {
        return;
    }
    let result = facts(config, store, report, now)
        .and_then(|facts| notify::after_run(&config.notify, store, &facts));
    match result {
        Err(e) => log::warn!("notifications: {e}; the next run tries again"),
        Ok(s) if s.capped => log::warn!(
            "notifications: {} events due but notify.max_per_hour ({}) is reached; the \
             next run tries again",
            s.due,
            config.notify.max_per_hour
        ),
        Ok(s) => {
            for f in &s.failed {
                let why = f.result.as_ref().err().map_or("", |e| e.as_str());
                log::warn!(
                    "notification not delivered through {}: {why}; the next run tries again",
                    f.channel
                );
            }
            if s.due > 0 && s.failed.is_empty() {
                log::info!("notified: {} events ({} open)", s.due, s.open);
            }
        }
    }
}

fn facts(
    config: &Config,
    store: &Store,
    report: &Report,
    now: DateTime<Utc>,
) -> Result<events::Facts, store::Error> {
    let view = crate::harvest::Harvester::budget_view(store, config.budget, now)?;
    let sites = store
        .site_contacts()?
        .into_iter()
        .filter(|s| config.wants_site(s.site_id))
        .collect();
    let mut run = events::RunFacts::of(report);
    // While credits are blocked most runs make no call and report nothing: the stored
    // block keeps the event open until it is lifted.
    if run.credits_exhausted_until.is_none() {
        run.credits_exhausted_until = store.credits_blocked_until()?.filter(|u| *u > now);
    }
    Ok(events::Facts {
        now,
        run,
        credits: config.api_key.is_some().then(|| events::Credits {
            left: view.left(),
            usable: config.budget.usable(),
            next_reset: view.next_reset,
        }),
        alerts: store
            .open_alerts()?
            .into_iter()
            .filter(|a| config.wants_site(a.site_id))
            .collect(),
        sites,
        production: store
            .production()?
            .into_iter()
            .filter(|p| config.wants_site(p.site_id))
            .collect(),
        grants: grants(config),
        disk: disk(&config.database),
    })
}

/// Free space on the database's file system; `None` when it cannot be read.
fn disk(db: &std::path::Path) -> Option<events::Disk> {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let v = rustix::fs::statvfs(dir).ok()?;
    Some(events::Disk {
        free: v.f_bavail.saturating_mul(v.f_frsize),
        total: v.f_blocks.saturating_mul(v.f_frsize),
        database: std::fs::metadata(db).map_or(0, |m| m.len()),
    })
}

/// The grants of the token store, without tokens; none when it cannot be read (the
/// harvest has said why).
fn grants(config: &Config) -> Vec<events::GrantFacts> {
    let store = crate::oauth::store::TokenStore::new(&config.token_store);
    if config.oauth.is_none() || !store.exists() {
        return Vec::new();
    }
    let Ok(tokens) = store.load() else {
        return Vec::new();
    };
    let idle = chrono::Duration::days(crate::oauth::REFRESH_IDLE_LIMIT_DAYS);
    tokens
        .grants
        .iter()
        .filter(|g| config.wants_site(g.site_id))
        .map(|g| events::GrantFacts {
            site: g.site_id,
            idle_expiry: g.refreshed_at + idle,
            grant_ends: g.grant_ends,
            dead: g.dead.is_some(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn long_lines_wrap_at_80_columns() {
        let text = format!("{} end", "word ".repeat(30).trim_end());
        let w = wrap(&text);
        assert!(w.lines().all(|l| l.chars().count() <= 80), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("    ")), "{w}");
        assert_eq!(w.split_whitespace().count(), 31);
        assert_eq!(wrap("short  two"), "short  two\n");
    }
}
