//! The rules that keep the owner informed without storms or silence, pure: given the
//! stored state (`store::NotifyRow`s), the events open now and the time, which messages
//! are due ([`plan`]) and what the state becomes once they are delivered ([`Plan::after`])
//! or not ([`Plan::rows`]).
//!
//! - a new event is told once; while it stays open it is told again only as a reminder,
//!   `remind` after the last time it reached the owner;
//! - an event that clears after it was told gets one "resolved" message; one that clears
//!   before it was ever told is forgotten silently;
//! - a message that was not delivered leaves the state as if nothing was sent, so the next
//!   run tries again for as long as the event lasts (and the "resolved" until delivered).

use super::events::Open;
use crate::store::NotifyRow;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// Why an event is in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    New,
    Reminder,
    Resolved,
}

/// One event in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: String,
    pub phase: Phase,
    pub subject: String,
    pub body: String,
    pub opened_at: DateTime<Utc>,
}

/// What a run is to send, and the state before and after delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The due items, problems first.
    pub items: Vec<Item>,
    /// The state to keep when the message is not delivered (or nothing is due).
    pub rows: Vec<NotifyRow>,
    now: DateTime<Utc>,
}

impl Plan {
    /// The state once the message reached every channel.
    pub fn after(&self) -> Vec<NotifyRow> {
        let mut rows = Vec::new();
        for r in &self.rows {
            let item = self.items.iter().find(|i| i.key == r.key);
            match item.map(|i| i.phase) {
                Some(Phase::Resolved) => {}
                Some(phase) => {
                    let mut r = r.clone();
                    r.notified_at = Some(self.now);
                    if phase == Phase::Reminder {
                        r.reminders += 1;
                    }
                    rows.push(r);
                }
                None => rows.push(r.clone()),
            }
        }
        rows
    }
}

/// The messages due now and the updated state.
pub fn plan(now: DateTime<Utc>, stored: &[NotifyRow], open: &[Open], remind: Duration) -> Plan {
    let mut old: BTreeMap<&str, &NotifyRow> = stored.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for o in open {
        let row = match old.remove(o.key.as_str()) {
            Some(r) => NotifyRow {
                subject: o.subject.clone(),
                body: o.body.clone(),
                // Back before its "resolved" went out: the same episode goes on.
                cleared_at: None,
                ..r.clone()
            },
            None => NotifyRow {
                key: o.key.clone(),
                subject: o.subject.clone(),
                body: o.body.clone(),
                opened_at: now,
                notified_at: None,
                reminders: 0,
                cleared_at: None,
            },
        };
        let phase = match row.notified_at {
            None => Some(Phase::New),
            Some(t) if now - t >= remind => Some(Phase::Reminder),
            Some(_) => None,
        };
        if let Some(phase) = phase {
            items.push(item(&row, phase));
        }
        rows.push(row);
    }
    for r in old.into_values() {
        if r.notified_at.is_none() {
            // Never told, so nothing to resolve.
            continue;
        }
        let row = NotifyRow {
            cleared_at: r.cleared_at.or(Some(now)),
            ..r.clone()
        };
        items.push(item(&row, Phase::Resolved));
        rows.push(row);
    }
    items.sort_by_key(|i| i.phase == Phase::Resolved);
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Plan { items, rows, now }
}

fn item(r: &NotifyRow, phase: Phase) -> Item {
    Item {
        key: r.key.clone(),
        phase,
        subject: r.subject.clone(),
        body: r.body.clone(),
        opened_at: r.opened_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn open(key: &str) -> Open {
        Open {
            key: key.into(),
            subject: format!("{key} happened"),
            body: "body".into(),
        }
    }

    fn phases(p: &Plan) -> Vec<(String, Phase)> {
        p.items.iter().map(|i| (i.key.clone(), i.phase)).collect()
    }

    const DAY: Duration = Duration::hours(24);

    /// Runs every 15 minutes over `hours`, delivering every message; returns the messages
    /// (hour, key, phase) with the event open while `is_open(hour)`.
    fn story(hours: i64, is_open: impl Fn(f64) -> bool) -> Vec<(f64, Phase)> {
        let mut state = Vec::new();
        let mut sent = Vec::new();
        for q in 0..hours * 4 {
            let now = t(0) + Duration::minutes(q * 15);
            let h = q as f64 / 4.0;
            let events = if is_open(h) {
                vec![open("run")]
            } else {
                vec![]
            };
            let p = plan(now, &state, &events, DAY);
            sent.extend(p.items.iter().map(|i| (h, i.phase)));
            state = p.after();
        }
        sent
    }

    #[test]
    fn told_once_reminded_after_a_day_resolved_once() {
        let sent = story(60, |h| (2.0..50.0).contains(&h));
        assert_eq!(
            sent,
            [
                (2.0, Phase::New),
                (26.0, Phase::Reminder),
                (50.0, Phase::Resolved)
            ]
        );
    }

    #[test]
    fn a_failed_delivery_is_tried_again_while_the_event_lasts() {
        let p = plan(t(0), &[], &[open("a")], DAY);
        assert_eq!(phases(&p), [("a".into(), Phase::New)]);
        // Not delivered: keep `rows`, not `after()`.
        let p2 = plan(t(1), &p.rows, &[open("a")], DAY);
        assert_eq!(phases(&p2), [("a".into(), Phase::New)]);
        assert_eq!(p2.rows[0].opened_at, t(0), "the event keeps its start");
        let told = p2.after();
        // The resolved message fails too: it stays due.
        let p3 = plan(t(2), &told, &[], DAY);
        assert_eq!(phases(&p3), [("a".into(), Phase::Resolved)]);
        let p4 = plan(t(3), &p3.rows, &[], DAY);
        assert_eq!(phases(&p4), [("a".into(), Phase::Resolved)]);
        assert_eq!(p4.rows[0].cleared_at, Some(t(2)));
        assert!(p4.after().is_empty());
    }

    #[test]
    fn an_event_gone_before_it_was_told_is_forgotten() {
        let p = plan(t(0), &[], &[open("a")], DAY);
        let p2 = plan(t(1), &p.rows, &[], DAY);
        assert!(p2.items.is_empty() && p2.rows.is_empty());
    }

    #[test]
    fn an_event_back_before_its_resolved_message_continues() {
        let told = plan(t(0), &[], &[open("a")], DAY).after();
        let cleared = plan(t(1), &told, &[], DAY);
        let back = plan(t(2), &cleared.rows, &[open("a")], DAY);
        assert!(back.items.is_empty(), "{:?}", back.items);
        assert_eq!(back.rows[0].cleared_at, None);
    }

    #[test]
    fn several_events_share_one_plan_problems_first() {
        let told = plan(t(0), &[], &[open("old")], DAY).after();
        let p = plan(t(1), &told, &[open("b"), open("c")], DAY);
        assert_eq!(
            phases(&p),
            [
                ("b".into(), Phase::New),
                ("c".into(), Phase::New),
                ("old".into(), Phase::Resolved)
            ]
        );
    }
}
