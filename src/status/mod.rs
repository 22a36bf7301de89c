//! What `seh status` shows: [`Facts`] read from the store (only reads), rendered by `text`
//! for people (80 columns, site-local dates, a sparkline on a terminal) or by `json` for
//! scripts. The command gathers what the store cannot know (the run lock, the OAuth grants)
//! and passes it in [`Inputs`].

pub mod json;
pub mod text;

use crate::budget::{Budget, BudgetView};
use crate::clock;
use crate::model::{Resolution, SiteId};
use crate::store::{self, DayEnergy, Run, Store, SyncState};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Days of production the sparkline shows (ending yesterday, the last whole day).
pub const WEEK_DAYS: i64 = 7;

/// What the command knows that the store does not.
pub struct Inputs {
    pub database: PathBuf,
    pub budget: Budget,
    pub time_scale: f64,
    /// `[sites] timezone` from the config.
    pub timezones: BTreeMap<SiteId, Tz>,
    /// Stored sites the key's last listing lacks and no grant covers.
    pub unlisted: Vec<SiteId>,
    /// Another process holds the run lock: a sync (or reprocess) is running.
    pub running: bool,
    /// Count the rows stored per family and table (`-v`, `--json`): a scan of every table,
    /// seconds on a large database on a Pi, so the short view leaves it out.
    pub count_rows: bool,
}

/// One harvest family of one site (or of the account) with what is stored for it.
#[derive(Clone, Debug)]
pub struct FamilyFacts {
    pub state: SyncState,
    /// Rows stored now for this site, family and resolution (not the last run's count).
    pub rows: i64,
}

impl FamilyFacts {
    /// The last attempt failed and nothing succeeded since (a tier refusal is not a
    /// failure: the family is unavailable).
    pub fn failing(&self) -> bool {
        let s = &self.state;
        s.last_error_at.is_some()
            && s.last_success.is_none_or(|ok| s.last_error_at > Some(ok))
            && !self.unavailable()
    }

    /// The API tier does not offer this family (power flow below Business Pro).
    pub fn unavailable(&self) -> bool {
        self.state
            .extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .is_some_and(|v| v.get("tier_denied").is_some())
    }
}

#[derive(Clone, Debug)]
pub struct SiteFacts {
    pub id: SiteId,
    pub name: Option<String>,
    /// The zone seh uses for this site (SolarEdge's, else the configured one).
    pub tz: Option<Tz>,
    /// Active (or of unknown status), with its details read, yet without a zone: nothing
    /// of it can be fetched.
    pub zoneless: bool,
    /// Active, or of unknown status (SolarEdge's `activationStatus` as sent otherwise).
    pub active: bool,
    pub status: Option<String>,
    pub today: Option<DayEnergy>,
    pub yesterday: Option<f64>,
    /// The [`WEEK_DAYS`] days ending yesterday, oldest first; `None` where nothing is
    /// stored.
    pub week: Vec<(NaiveDate, Option<f64>)>,
    pub lifetime_kwh: Option<f64>,
    pub families: Vec<FamilyFacts>,
}

impl SiteFacts {
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.id),
            None => format!("site {}", self.id),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Facts {
    pub database: PathBuf,
    /// The server's time as estimated now (stored anchor plus local time elapsed).
    pub now: DateTime<Utc>,
    /// How far the local clock was off at the last answer, when more than the tolerance.
    pub clock_offset: Option<Duration>,
    pub budget: BudgetView,
    pub calls: i64,
    pub credits: i64,
    pub blocked_until: Option<DateTime<Utc>>,
    pub last_run: Option<Run>,
    pub running: bool,
    pub unreadable: i64,
    pub newest_unreadable: Option<String>,
    pub unlisted: Vec<SiteId>,
    pub sites: Vec<SiteFacts>,
    /// The account's own families (site list, fleet alerts).
    pub account: Vec<FamilyFacts>,
    pub tables: Vec<(&'static str, i64)>,
    /// Whether `rows` and `tables` were counted (see [`Inputs::count_rows`]).
    pub rows_counted: bool,
}

/// Reads everything `status` shows. Never writes.
pub fn gather(
    store: &Store,
    inputs: Inputs,
    local_now: DateTime<Utc>,
) -> Result<Facts, store::Error> {
    let anchor = store.clock_anchor()?;
    let now = clock::estimate(anchor, local_now, inputs.time_scale);
    let budget = crate::harvest::Harvester::budget_view(store, inputs.budget, now)?;
    let (calls, credits) = store.calls_since(budget.cycle_start)?;
    let blocked_until = store.credits_blocked_until()?.filter(|u| *u > now);
    let (unreadable, newest_unreadable) = store.unreadable_responses()?;
    let stored = if inputs.count_rows {
        store.stored_rows()?
    } else {
        Vec::new()
    };
    let rows_of = |site: SiteId, family: &str, res: Option<Resolution>| {
        stored
            .iter()
            .filter(|r| r.site_id == site && r.family == family && r.resolution == res)
            .map(|r| r.rows)
            .sum::<i64>()
    };
    let states: Vec<SyncState> = store
        .sync_states()?
        .into_iter()
        .filter(|s| !s.is_internal())
        .collect();
    let family_facts = |site: SiteId| -> Vec<FamilyFacts> {
        let mut out: Vec<FamilyFacts> = states
            .iter()
            .filter(|s| s.site_id == site)
            .map(|s| FamilyFacts {
                rows: rows_of(site, &s.family, s.resolution),
                state: s.clone(),
            })
            .collect();
        // Families by name, each from the finest resolution to the coarsest.
        out.sort_by(|a, b| {
            (&a.state.family, a.state.resolution).cmp(&(&b.state.family, b.state.resolution))
        });
        out
    };
    let mut sites = Vec::new();
    for row in store.site_rows()? {
        let configured = inputs.timezones.get(&row.site_id).copied();
        let tz = row
            .timezone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
            .or(configured);
        let families = family_facts(row.site_id);
        let details_read = families
            .iter()
            .any(|f| f.state.family == "details" && f.state.last_success.is_some());
        let active = row
            .activation_status
            .as_deref()
            .is_none_or(crate::harvest::is_active);
        let today = tz.map(|tz| now.with_timezone(&tz).date_naive());
        let (mut today_energy, mut yesterday, mut week) = (None, None, Vec::new());
        if let (Some(today), Some(tz)) = (today, tz) {
            let first = today - Duration::days(WEEK_DAYS);
            let days = store.daily_energy(row.site_id, first, today)?;
            let on = |d: NaiveDate| days.iter().find(|e| e.date == d);
            // Today is running on the server's clock, whatever the database host's clock
            // (which `v_seh_daily_energy.partial` follows) says; a day whose quarter-hours
            // are all still empty (before sunrise) has produced nothing yet.
            let started = families.iter().any(|f| {
                f.state.family == "energy"
                    && f.state.resolution == Some(Resolution::QuarterHour)
                    && f.state
                        .covered_to
                        .is_some_and(|t| t.with_timezone(&tz).date_naive() >= today)
            });
            today_energy = on(today)
                .map(|e| DayEnergy {
                    partial: true,
                    ..e.clone()
                })
                .or(started.then_some(DayEnergy {
                    date: today,
                    kwh: 0.0,
                    partial: true,
                }));
            yesterday = on(today - Duration::days(1)).map(|e| e.kwh);
            week = (1..=WEEK_DAYS)
                .rev()
                .map(|back| {
                    let d = today - Duration::days(back);
                    (d, on(d).map(|e| e.kwh))
                })
                .collect();
        }
        sites.push(SiteFacts {
            id: row.site_id,
            name: row.name.clone(),
            tz,
            zoneless: details_read && active && tz.is_none(),
            active,
            status: row.activation_status.clone(),
            today: today_energy,
            yesterday,
            week,
            lifetime_kwh: store.lifetime_kwh(row.site_id)?,
            families,
        });
    }
    Ok(Facts {
        database: inputs.database,
        now,
        clock_offset: anchor.and_then(|a| a.notable_offset()),
        budget,
        calls,
        credits,
        blocked_until,
        last_run: store.last_run()?,
        running: inputs.running,
        unreadable,
        newest_unreadable,
        unlisted: inputs.unlisted,
        account: family_facts(store::FLEET_SITE_ID),
        sites,
        tables: if inputs.count_rows {
            store.row_counts()?
        } else {
            Vec::new()
        },
        rows_counted: inputs.count_rows,
    })
}

/// A short name for a resolution in a table column.
pub fn short_resolution(r: Option<Resolution>) -> &'static str {
    match r {
        None => "-",
        Some(Resolution::QuarterHour) => "15min",
        Some(Resolution::Hour) => "hour",
        Some(Resolution::Day) => "day",
        Some(Resolution::Week) => "week",
        Some(Resolution::Month) => "month",
        Some(Resolution::Year) => "year",
        Some(Resolution::Total) => "total",
    }
}

/// The covered range of a cursor in the site's local time, both ends inclusive: the
/// first and the last bucket's start for quarter-hours (`YYYY-MM-DD HH:MM`), the first
/// and the last day otherwise (`YYYY-MM-DD`).
pub fn local_range(s: &SyncState, tz: Option<Tz>) -> Option<(String, String)> {
    let (from, to) = (s.covered_from?, s.covered_to?);
    let tz = tz.unwrap_or(chrono_tz::UTC);
    let last = match s.resolution {
        Some(Resolution::QuarterHour) => to - Duration::minutes(15),
        Some(Resolution::Hour) => to - Duration::hours(1),
        _ => to - Duration::seconds(1),
    };
    if last < from {
        return None;
    }
    let fmt = match s.resolution {
        Some(Resolution::QuarterHour | Resolution::Hour) => "%Y-%m-%d %H:%M",
        _ => "%Y-%m-%d",
    };
    Some((
        from.with_timezone(&tz).format(fmt).to_string(),
        last.with_timezone(&tz).format(fmt).to_string(),
    ))
}
