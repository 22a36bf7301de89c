//! The events a run leaves open, derived purely from facts: the run's typed report
//! ([`RunFacts`], from `harvest::report::Report`) and what the store knows (credits used,
//! open SolarEdge alerts, sites' last communication). Each event has a stable key (the
//! same problem in the next run has the same key, so it is told once), a short subject and
//! a body saying what happened and the fix. Nothing here reads text to decide: failures
//! are judged on their `FailureKind` and the exit code.

use crate::exit::Exit;
use crate::harvest::report::{Event, FailureKind, Outcome, Report};
use crate::model::SiteId;
use crate::store::{OpenAlert, Production, SiteContact};
use chrono::{DateTime, Duration, Utc};

/// One open event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub key: String,
    pub subject: String,
    pub body: String,
}

/// What the run itself says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFacts {
    pub exit: u8,
    /// The Fleet key was answered 401.
    pub rejected: bool,
    pub credits_exhausted_until: Option<DateTime<Utc>>,
    pub dead_grants: Vec<SiteId>,
    /// (site, family name or "site", message) of every failed family, in run order.
    pub failures: Vec<(SiteId, String, String)>,
}

impl RunFacts {
    /// The facts of a finished sync.
    pub fn of(report: &Report) -> RunFacts {
        let mut f = RunFacts {
            exit: report.exit().code(),
            rejected: report.rejected,
            ..RunFacts::default()
        };
        for e in &report.events {
            match e {
                Event::CreditsExhausted { until } => f.credits_exhausted_until = Some(*until),
                Event::GrantDead { site } if !f.dead_grants.contains(site) => {
                    f.dead_grants.push(*site)
                }
                Event::GrantDead { .. } | Event::GapFound { .. } => {}
            }
        }
        for (site, fam, o) in &report.outcomes {
            if let Outcome::Failed { kind, message } = o {
                // A dead grant and exhausted credits are events of their own.
                if matches!(kind, FailureKind::Token | FailureKind::CreditsBlocked) {
                    continue;
                }
                let fam = fam.map_or("site", |f| f.name()).to_string();
                f.failures.push((*site, fam, message.clone()));
            }
        }
        f
    }
}

/// Credits of the current cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Credits {
    pub left: u64,
    pub usable: u64,
    pub next_reset: DateTime<Utc>,
}

/// An OAuth grant as the token store has it (no token).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrantFacts {
    pub site: SiteId,
    /// When its refresh token dies unused (30 days after the last refresh).
    pub idle_expiry: DateTime<Utc>,
    pub grant_ends: DateTime<Utc>,
    pub dead: bool,
}

/// The file system of the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disk {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    pub total: u64,
    /// The database file itself (without `-wal`).
    pub database: u64,
}

/// Everything the events are derived from.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The server's time at the end of the run.
    pub now: DateTime<Utc>,
    pub run: RunFacts,
    pub credits: Option<Credits>,
    pub alerts: Vec<OpenAlert>,
    pub sites: Vec<SiteContact>,
    pub production: Vec<Production>,
    pub grants: Vec<GrantFacts>,
    pub disk: Option<Disk>,
}

/// The thresholds of `[notify]` that events use.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub credits_low_percent: u32,
    pub offline_hours: u32,
    /// A refresh token that would die unused within this many days is an event.
    pub grant_idle_days: u32,
    /// Hours of daylight without a quarter-hour of production that make a site stale.
    pub stale_hours: u32,
    /// Less free space than this on the database's disk is an event.
    pub disk_free_mb: u64,
}

/// A grant's end this close is an event (the owner must log in again before it).
const GRANT_ENDING_DAYS: i64 = 30;

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn days_until(now: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    ((t - now).num_hours() + 23).max(0) / 24
}

fn site_name(sites: &[SiteContact], id: SiteId) -> String {
    match sites
        .iter()
        .find(|s| s.site_id == id)
        .and_then(|s| s.name.as_deref())
    {
        Some(n) => format!("site {id} ({n})"),
        None => format!("site {id}"),
    }
}

/// The open events, in a stable order.
pub fn derive(f: &Facts, t: Thresholds) -> Vec<Open> {
    let mut out = Vec::new();
    let run = &f.run;
    let credits_out = run.credits_exhausted_until.is_some();
    if run.rejected && run.exit == Exit::Config.code() {
        out.push(Open {
            key: "key-rejected".into(),
            subject: "SolarEdge rejects the API key".into(),
            body: "SolarEdge answered 401 to the Fleet API key: it was revoked, expired or \
                   mistyped, and nothing is harvested.\nFix: create a new key in the \
                   SolarEdge monitoring portal and set [api] key (or key_file, or \
                   SEH_API_KEY); `seh check` tests it."
                .into(),
        });
    }
    if let Some(until) = run.credits_exhausted_until {
        out.push(Open {
            key: "credits-exhausted".into(),
            subject: "SolarEdge API credits exhausted".into(),
            body: format!(
                "SolarEdge refuses calls: the monthly credits are used up until {} \
                 ({} days). seh makes one probe call every 3 hours and resumes by itself; \
                 nothing is lost, the data is fetched after the reset.\nFix: none needed; \
                 to avoid it, lower [budget] monthly_credits or raise the reserve.",
                day(until),
                days_until(f.now, until)
            ),
        });
    }
    if let (Some(c), false) = (f.credits, credits_out) {
        let pct = u64::from(t.credits_low_percent);
        if pct > 0 && c.usable > 0 && c.left * 100 < c.usable * pct {
            out.push(Open {
                key: "credits-low".into(),
                subject: format!("SolarEdge API credits low: {} left", c.left),
                body: format!(
                    "{} of {} usable credits are left this cycle; they renew on {} (in {} \
                     days). seh slows down its history calls on its own.\nFix: none \
                     needed unless other programs use the same key; [notify] \
                     credits_low_percent sets this warning.",
                    c.left,
                    c.usable,
                    day(c.next_reset),
                    days_until(f.now, c.next_reset)
                ),
            });
        }
    }
    if let Some(d) = f.disk {
        let mb = |b: u64| b / 1_000_000;
        if t.disk_free_mb > 0 && mb(d.free) < t.disk_free_mb {
            out.push(Open {
                key: "disk-full".into(),
                subject: format!("database disk nearly full: {} MB free", mb(d.free)),
                body: format!(
                    "The disk of the database has {} MB free of {} MB; the database is \
                     {} MB. When it is full, syncs end with exit 4 and fetch nothing until \
                     there is room (nothing stored is lost).\nFix: free space on that disk, \
                     or move the database to a larger one ([database] path); [notify] \
                     disk_free_mb sets this warning.",
                    mb(d.free),
                    mb(d.total),
                    mb(d.database)
                ),
            });
        }
    }
    // A grant is dead when this run found it so or the token store says so (a dead
    // grant's site is not tried again, so later runs report nothing about it).
    let mut dead: Vec<SiteId> = run.dead_grants.clone();
    for g in f.grants.iter().filter(|g| g.dead) {
        if !dead.contains(&g.site) {
            dead.push(g.site);
        }
    }
    for site in &dead {
        out.push(Open {
            key: format!("grant-dead:{site}"),
            subject: format!("OAuth grant dead for {}", site_name(&f.sites, *site)),
            body: format!(
                "The SolarEdge Site Access grant of {} no longer works (revoked, or its \
                 refresh token expired); the site is not harvested.\nFix: run `seh auth \
                 login` for the site again.",
                site_name(&f.sites, *site)
            ),
        });
    }
    for g in f.grants.iter().filter(|g| !dead.contains(&g.site)) {
        let name = site_name(&f.sites, g.site);
        let idle = g.idle_expiry - f.now;
        if idle < Duration::days(i64::from(t.grant_idle_days)) {
            out.push(Open {
                key: format!("grant-idle:{}", g.site),
                subject: format!(
                    "OAuth grant of {name} dies unused in {} days",
                    idle.num_days().max(0)
                ),
                body: format!(
                    "The refresh token of {name} was last used {} days ago and dies on {} \
                     if no seh run refreshes it; then the site needs a new login.\nFix: \
                     make sure `seh sync` runs (the timer: `systemctl status seh.timer`); \
                     any run refreshes it.",
                    crate::oauth::REFRESH_IDLE_LIMIT_DAYS - idle.num_days().max(0),
                    day(g.idle_expiry)
                ),
            });
        }
        let left = g.grant_ends - f.now;
        if left < Duration::days(GRANT_ENDING_DAYS) {
            out.push(Open {
                key: format!("grant-ending:{}", g.site),
                subject: format!(
                    "OAuth grant of {name} ends in {} days",
                    left.num_days().max(0)
                ),
                body: format!(
                    "The Site Access grant of {name} ends on {}; after that seh cannot \
                     read the site.\nFix: run `seh auth login` for the site before then.",
                    day(g.grant_ends)
                ),
            });
        }
    }
    // A run whose only trouble is told by an event of its own is not told twice.
    let told = match run.exit {
        0 => true,
        c if c == Exit::Partial.code() => run.failures.is_empty(),
        c if c == Exit::Config.code() => run.rejected,
        c if c == Exit::Credits.code() => credits_out,
        c if c == Exit::GrantDead.code() => !run.dead_grants.is_empty(),
        c => c == Exit::Interrupted.code(),
    };
    if !told {
        out.push(run_failed(f));
    }
    for a in &f.alerts {
        out.push(alert(a, &f.sites));
    }
    if t.stale_hours > 0 {
        for p in &f.production {
            let sunny = Duration::minutes(15 * p.sunny_quarters_since);
            if sunny < Duration::hours(i64::from(t.stale_hours)) {
                continue;
            }
            let name = site_name(&f.sites, p.site_id);
            out.push(Open {
                key: format!("stale:{}", p.site_id),
                subject: format!("{name} sends no production since {}", day(p.last)),
                body: format!(
                    "The newest quarter-hour with production of {name} is from {}. seh has \
                     asked up to {}, and the day before the site produced for {:.1} hours \
                     at those times of day: the sun is up, but no data comes. The inverter \
                     or its link may be down, or SolarEdge is late.\nFix: check the \
                     inverter's display and network; [notify] stale_hours sets this \
                     warning.",
                    day(p.last),
                    day(p.covered_to),
                    sunny.num_minutes() as f64 / 60.0
                ),
            });
        }
    }
    if t.offline_hours > 0 {
        for s in &f.sites {
            let last = s.last_update_time.as_deref().and_then(parse_local);
            let (Some(last), Some(read_at)) = (last, s.read_at) else {
                continue;
            };
            // The details are read about daily: what counts is how long the site had been
            // silent when they were read, not how old the reading is.
            let quiet = read_at - last;
            if quiet > Duration::hours(i64::from(t.offline_hours)) {
                out.push(Open {
                    key: format!("offline:{}", s.site_id),
                    subject: format!(
                        "{} has not reported for {} hours",
                        site_name(&f.sites, s.site_id),
                        quiet.num_hours()
                    ),
                    body: format!(
                        "SolarEdge said on {} that {} last communicated at {} ({} hours \
                         before): the inverter or its internet connection is probably \
                         down, and no new data arrives.\nFix: check the inverter's display \
                         and network (LAN, Wi-Fi or cellular); [notify] offline_hours sets \
                         this warning.",
                        day(read_at),
                        site_name(&f.sites, s.site_id),
                        day(last),
                        quiet.num_hours()
                    ),
                });
            }
        }
    }
    out
}

fn run_failed(f: &Facts) -> Open {
    let run = &f.run;
    let partly = run.exit == Exit::Partial.code();
    let mut body = format!(
        "The last `seh sync` ended with exit code {}{}.\n",
        run.exit,
        if partly {
            " (some families failed, the rest is stored)"
        } else {
            ""
        }
    );
    const SHOWN: usize = 10;
    for (site, fam, msg) in run.failures.iter().take(SHOWN) {
        body += &format!("- {} {fam}: {msg}\n", site_name(&f.sites, *site));
    }
    if run.failures.len() > SHOWN {
        body += &format!("- and {} more\n", run.failures.len() - SHOWN);
    }
    body += "Fix: `seh status` shows each family's last error; failed windows are \
             fetched again by the next run.";
    Open {
        key: "run".into(),
        subject: if partly {
            format!("sync partly failed ({} families)", run.failures.len())
        } else {
            format!("sync failed (exit {})", run.exit)
        },
        body,
    }
}

fn alert(a: &OpenAlert, sites: &[SiteContact]) -> Open {
    let kind = a.alert_type.as_deref().unwrap_or("alert");
    let impact = a.impact.map_or(String::new(), |i| format!(", impact {i}"));
    let site = match &a.site_name {
        Some(n) => format!("site {} ({n})", a.site_id),
        None => site_name(sites, a.site_id),
    };
    Open {
        key: format!("alert:{}", a.alert_id),
        subject: format!("SolarEdge alert {} on {site}: {kind}{impact}", a.alert_id),
        body: format!(
            "SolarEdge raised alert {} on {site}: {kind}{impact} (the impact is \
             SolarEdge's severity){}{}.\nFix: see the alert in the SolarEdge monitoring \
             app; this message is resolved when SolarEdge closes the alert.",
            a.alert_id,
            a.component
                .as_deref()
                .map_or(String::new(), |c| format!(", component {c}")),
            a.first_trigger
                .as_deref()
                .map_or(String::new(), |t| format!(", since {t}")),
        ),
    }
}

/// A site-local timestamp with its offset (as the site details carry it).
fn parse_local(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn facts() -> Facts {
        Facts {
            now: now(),
            run: RunFacts::default(),
            credits: None,
            alerts: Vec::new(),
            grants: Vec::new(),
            production: Vec::new(),
            disk: None,
            sites: vec![SiteContact {
                site_id: 7,
                name: Some("Roof".into()),
                last_update_time: Some("2026-11-26T12:45:00+01:00".into()),
                read_at: Some(now()),
            }],
        }
    }

    const T: Thresholds = Thresholds {
        credits_low_percent: 10,
        offline_hours: 24,
        grant_idle_days: 7,
        stale_hours: 3,
        disk_free_mb: 200,
    };

    fn keys(f: &Facts) -> Vec<String> {
        derive(f, T).into_iter().map(|o| o.key).collect()
    }

    #[test]
    fn a_clean_run_leaves_nothing_open() {
        assert!(keys(&facts()).is_empty());
    }

    #[test]
    fn a_partial_run_is_one_event_with_its_families() {
        let mut f = facts();
        f.run.exit = 1;
        f.run.failures = vec![(7, "energy".into(), "server error 502".into())];
        let open = derive(&f, T);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].key, "run");
        assert!(open[0].subject.contains("partly"), "{}", open[0].subject);
        assert!(open[0]
            .body
            .contains("site 7 (Roof) energy: server error 502"));
    }

    #[test]
    fn a_rejected_key_or_exhausted_credits_are_their_own_events() {
        let mut f = facts();
        f.run.exit = Exit::Config.code();
        f.run.rejected = true;
        assert_eq!(keys(&f), ["key-rejected"]);
        let mut f = facts();
        f.run.exit = Exit::Credits.code();
        f.run.credits_exhausted_until = Some(now() + Duration::days(4));
        f.credits = Some(Credits {
            left: 0,
            usable: 100,
            next_reset: now() + Duration::days(4),
        });
        let open = derive(&f, T);
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(open[0].body.contains("(4 days)"), "{}", open[0].body);
    }

    #[test]
    fn credits_below_the_threshold() {
        let mut f = facts();
        f.credits = Some(Credits {
            left: 9,
            usable: 100,
            next_reset: now() + Duration::days(2),
        });
        assert_eq!(keys(&f), ["credits-low"]);
        f.credits.as_mut().unwrap().left = 10;
        assert!(keys(&f).is_empty());
    }

    #[test]
    fn alerts_and_silent_sites() {
        let mut f = facts();
        f.alerts.push(OpenAlert {
            alert_id: 42,
            site_id: 7,
            site_name: Some("Roof".into()),
            alert_type: Some("DC_ISOLATION".into()),
            impact: Some(7),
            first_trigger: None,
            component: None,
        });
        // Read a day after its last contact, the site is silent; a reading that is
        // merely old is not.
        f.sites[0].last_update_time = Some("2026-11-25T10:00:00+01:00".into());
        assert_eq!(keys(&f), ["alert:42", "offline:7"]);
        let mut stale_reading = f.clone();
        stale_reading.sites[0].read_at = Some(now() - Duration::hours(20));
        assert_eq!(keys(&stale_reading), ["alert:42"]);
        let open = derive(&f, T);
        assert!(open[0].subject.contains("impact 7"), "{}", open[0].subject);
        assert!(open[1].subject.contains("27 hours"), "{}", open[1].subject);
    }

    #[test]
    fn a_nearly_full_disk() {
        let mut f = facts();
        f.disk = Some(Disk {
            free: 200_000_000,
            total: 8_000_000_000,
            database: 900_000_000,
        });
        assert!(keys(&f).is_empty());
        f.disk.as_mut().unwrap().free = 199_999_999;
        assert_eq!(keys(&f), ["disk-full"]);
        assert!(derive(&f, T)[0].subject.contains("199 MB free"));
    }

    #[test]
    fn no_production_while_the_sun_was_up() {
        let mut f = facts();
        let p = Production {
            site_id: 7,
            last: now() - Duration::hours(4),
            covered_to: now(),
            sunny_quarters_since: 11,
        };
        f.production = vec![p.clone()];
        assert!(
            keys(&f).is_empty(),
            "under 3 h of sun: night, or not long enough"
        );
        f.production[0].sunny_quarters_since = 12;
        assert_eq!(keys(&f), ["stale:7"]);
        assert!(derive(&f, T)[0].body.contains("for 3.0 hours"));
    }

    #[test]
    fn grants_dying_unused_ending_or_dead() {
        let mut f = facts();
        let grant = GrantFacts {
            site: 7,
            idle_expiry: now() + Duration::days(20),
            grant_ends: now() + Duration::days(300),
            dead: false,
        };
        f.grants = vec![grant];
        assert!(keys(&f).is_empty());
        f.grants[0].idle_expiry = now() + Duration::days(6);
        f.grants[0].grant_ends = now() + Duration::days(29);
        assert_eq!(keys(&f), ["grant-idle:7", "grant-ending:7"]);
        // Dead in the token store though this run said nothing: dead, and nothing else.
        f.grants[0].dead = true;
        assert_eq!(keys(&f), ["grant-dead:7"]);
    }

    #[test]
    fn a_dead_grant_names_its_site_once() {
        let mut r = Report::default();
        r.event(Event::GrantDead { site: 7 });
        r.event(Event::GrantDead { site: 7 });
        r.error(7, None, FailureKind::Token, "dead".into());
        let mut f = facts();
        f.run = RunFacts::of(&r);
        assert_eq!(f.run.dead_grants, [7]);
        assert!(f.run.failures.is_empty());
        assert_eq!(keys(&f)[0], "grant-dead:7");
    }
}
