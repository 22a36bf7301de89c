//! Notifications: tell the owner when something is wrong, once, and again when it is
//! fixed. After every `seh sync` the notifier derives the open events ([`events`]) from
//! the run's typed report and the store, compares them with what it told before
//! ([`state`], kept in the database through `store::NotifyRow`), and sends the due ones as
//! one message through every channel ([`email`], [`webhook`]).
//!
//! A notification never fails the harvest: trouble here is a warning and the exit code of
//! the sync stays as it was. A message counts as delivered only when every channel
//! accepted it; otherwise the state is left as it was and the next run tries again (a
//! channel that did accept it gets it again then: a duplicate rather than a loss).
//! It must not decide anything from text: events come from `FailureKind`s, flags and
//! exit codes.

pub mod config;
mod email;
pub mod events;
pub mod state;
mod webhook;

pub use config::NotifyConfig;

use crate::store::{self, Store};
use chrono::{DateTime, Duration, Utc};
use events::{Facts, Thresholds};
use state::{Item, Phase};

/// One message, whatever the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    /// 1 (min) to 5 (max), ntfy's and Gotify's scale: 4 for problems, 3 for good news.
    pub priority: u8,
}

/// Every due item in one message: problems first, then reminders, then resolved ones.
pub fn compose(items: &[Item]) -> Message {
    let count = |p: Phase| items.iter().filter(|i| i.phase == p).count();
    let (new, remind, resolved) = (
        count(Phase::New),
        count(Phase::Reminder),
        count(Phase::Resolved),
    );
    let label = |i: &Item| match i.phase {
        Phase::New => "",
        Phase::Reminder => "still open: ",
        Phase::Resolved => "resolved: ",
    };
    let subject = match items {
        [one] => format!("seh: {}{}", label(one), one.subject),
        _ => {
            let mut parts = Vec::new();
            if new + remind > 0 {
                parts.push(format!("{} open", new + remind));
            }
            if resolved > 0 {
                parts.push(format!("{resolved} resolved"));
            }
            format!("seh: {} ({})", parts.join(", "), items[0].subject)
        }
    };
    let mut body = String::new();
    for i in items {
        let head = match i.phase {
            Phase::New => "PROBLEM",
            Phase::Reminder => "STILL OPEN",
            Phase::Resolved => "RESOLVED",
        };
        body += &format!("{head}: {}\n", i.subject);
        body += &format!("since {}\n", i.opened_at.format("%Y-%m-%d %H:%M UTC"));
        if i.phase == Phase::Resolved {
            body += "This is no longer the case.\n\n";
        } else {
            body += &format!("{}\n\n", i.body);
        }
    }
    body += "-- \nseh (SolarEdge Harvest); `seh notify status` lists what is open.\n";
    Message {
        subject,
        body,
        priority: if new + remind > 0 { 4 } else { 3 },
    }
}

/// The outcome of one channel.
#[derive(Clone, Debug)]
pub struct Sent {
    /// What the channel is, without secrets (`email smtp.example.org:587`).
    pub channel: String,
    pub result: Result<(), String>,
}

/// Sends `m` through every channel of `cfg`.
pub fn send_all(cfg: &NotifyConfig, m: &Message, now: DateTime<Utc>) -> Vec<Sent> {
    let mut out = Vec::new();
    for c in &cfg.email {
        out.push(Sent {
            channel: format!("email {}:{} to {}", c.host, c.port, c.to.join(", ")),
            result: email::send(c, m, now),
        });
    }
    for c in &cfg.webhook {
        out.push(Sent {
            channel: format!("webhook {}", c.shown),
            result: webhook::send(c, m),
        });
    }
    out
}

/// What one run of the notifier did, for the log.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Events open now.
    pub open: usize,
    /// Items in the message (0: nothing due).
    pub due: usize,
    /// The message was held back by `max_per_hour`.
    pub capped: bool,
    /// Channels that failed, with why.
    pub failed: Vec<Sent>,
}

/// After a sync: derive, compare, send what is due, remember.
pub fn after_run(
    cfg: &NotifyConfig,
    store: &mut Store,
    facts: &Facts,
) -> Result<Summary, store::Error> {
    let open = events::derive(
        facts,
        Thresholds {
            credits_low_percent: cfg.credits_low_percent,
            offline_hours: cfg.offline_hours,
            grant_idle_days: cfg.grant_idle_days,
            stale_hours: cfg.stale_hours,
            disk_free_mb: cfg.disk_free_mb,
        },
    );
    let now = facts.now;
    let stored = store.notify_rows()?;
    let plan = state::plan(
        now,
        &stored,
        &open,
        Duration::hours(i64::from(cfg.remind_hours)),
    );
    let mut summary = Summary {
        open: open.len(),
        due: plan.items.len(),
        ..Summary::default()
    };
    if plan.items.is_empty() {
        store.set_notify_rows(&plan.rows)?;
        return Ok(summary);
    }
    if store.notify_messages_since(now - Duration::hours(1))? >= cfg.max_per_hour {
        summary.capped = true;
        store.set_notify_rows(&plan.rows)?;
        return Ok(summary);
    }
    let message = compose(&plan.items);
    let sent = send_all(cfg, &message, now);
    summary.failed = sent.into_iter().filter(|s| s.result.is_err()).collect();
    let delivered = summary.failed.is_empty();
    let error = summary.failed.first().map(|s| {
        format!(
            "{}: {}",
            s.channel,
            s.result.as_ref().err().map_or("", |e| e.as_str())
        )
    });
    store.record_notify_message(now, plan.items.len(), delivered, error.as_deref())?;
    store.set_notify_rows(&if delivered { plan.after() } else { plan.rows })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(key: &str, phase: Phase) -> Item {
        Item {
            key: key.into(),
            phase,
            subject: format!("{key} broke"),
            body: format!("{key} details\nFix: do x"),
            opened_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
        }
    }

    fn facts(now: DateTime<Utc>, exit: u8) -> Facts {
        Facts {
            now,
            run: events::RunFacts {
                exit,
                failures: vec![(1, "energy".into(), "server error 502".into())],
                ..events::RunFacts::default()
            },
            credits: None,
            alerts: Vec::new(),
            sites: Vec::new(),
            production: Vec::new(),
            grants: Vec::new(),
            disk: None,
        }
    }

    #[test]
    fn the_hourly_cap_holds_messages_back_and_an_undelivered_one_stays_due() {
        let mut store = Store::open_in_memory().unwrap();
        // Nothing listens on port 9 of localhost: every send fails at once.
        let cfg = NotifyConfig {
            webhook: vec![config::WebhookChannel {
                url: crate::api::Secret::new("http://127.0.0.1:9/"),
                shown: "http://127.0.0.1:9".into(),
                headers: Vec::new(),
                topic: None,
            }],
            max_per_hour: 2,
            ..NotifyConfig::default()
        };
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        for minutes in [0, 15] {
            let s =
                after_run(&cfg, &mut store, &facts(t0 + Duration::minutes(minutes), 1)).unwrap();
            assert_eq!((s.due, s.capped, s.failed.len()), (1, false, 1));
        }
        // Two tries this hour: the third run holds back, the event stays open and untold.
        let s = after_run(&cfg, &mut store, &facts(t0 + Duration::minutes(30), 1)).unwrap();
        assert!(s.capped && s.failed.is_empty(), "{s:?}");
        let rows = store.notify_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].opened_at, rows[0].notified_at), (t0, None));
        // An hour later it is tried again.
        let s = after_run(&cfg, &mut store, &facts(t0 + Duration::minutes(61), 1)).unwrap();
        assert!(!s.capped && s.due == 1, "{s:?}");
        let last = store.last_notify_message().unwrap().unwrap();
        assert!(!last.delivered);
        assert!(last
            .error
            .unwrap()
            .starts_with("webhook http://127.0.0.1:9: "));
    }

    #[test]
    fn one_message_for_several_events() {
        let m = compose(&[item("a", Phase::New)]);
        assert_eq!(m.subject, "seh: a broke");
        assert_eq!(m.priority, 4);
        let m = compose(&[item("b", Phase::Resolved)]);
        assert_eq!(m.subject, "seh: resolved: b broke");
        assert_eq!(m.priority, 3);
        let m = compose(&[
            item("a", Phase::New),
            item("c", Phase::Reminder),
            item("b", Phase::Resolved),
        ]);
        assert_eq!(m.subject, "seh: 2 open, 1 resolved (a broke)");
        let order: Vec<usize> = ["PROBLEM: a", "STILL OPEN: c", "RESOLVED: b"]
            .iter()
            .map(|h| m.body.find(h).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", m.body);
        assert!(m.body.contains("a details\nFix: do x"));
    }
}
