//! The planner's vocabulary: what it reads (`PlanInput`, `SiteInput`, `Cursor`) and what
//! it decides (`Plan`, `Task`, `Priority`, with the one word users read for each kind of
//! call). Plain data; the rules are in `planner`.

use super::windows::Window;
use super::Family;
use crate::budget::BudgetView;
use crate::model::{Resolution, SiteId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// Stored cursor of one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cursor {
    pub covered_from: Option<DateTime<Utc>>,
    pub covered_to: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// Ranges inside the covered range where the API returned fewer buckets than expected.
    pub gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// What the planner knows about one site.
#[derive(Clone, Debug)]
pub struct SiteInput {
    pub id: SiteId,
    pub tz: Tz,
    pub install: Option<DateTime<Utc>>,
    /// Quarter-hour series families the site has (energy, power, and the telemetry
    /// families its inventory shows).
    pub series: Vec<Family>,
    /// Cursors by (family, resolution); missing means never fetched.
    pub cursors: BTreeMap<(Family, Resolution), Cursor>,
    /// Last success of the unwindowed families (details, devices, benefits, alerts,
    /// power flow) and of the overview.
    pub last: BTreeMap<Family, Option<DateTime<Utc>>>,
    /// Overview cursor (midnight after the last final day stored).
    pub overview_to: Option<DateTime<Utc>>,
    /// False once the power-flow tier refusal was recorded for this credential.
    pub power_flow: bool,
}

/// Everything `plan` needs.
#[derive(Clone, Debug)]
pub struct PlanInput {
    pub now: DateTime<Utc>,
    pub budget: BudgetView,
    pub settle: Duration,
    /// `--full`: plan as if no cadence limited freshness this run (still within budget).
    pub full: bool,
    /// How far back a new quarter-hour series starts; history reaches installation later.
    pub initial: Duration,
    /// How many days of overview a first run reads.
    pub overview_days: u32,
    pub sites: Vec<SiteInput>,
    pub max_span: BTreeMap<Resolution, Duration>,
    /// Freshness cadence pinned per family by the user.
    pub pinned: BTreeMap<Family, Duration>,
    /// Sites served first when the budget cannot keep every series fresh.
    pub priority: Vec<SiteId>,
    /// Alerts cadence pinned by the user.
    pub alerts_every: Option<Duration>,
    /// One fleet `/alerts` call instead of one per site (Fleet key).
    pub fleet_alerts: bool,
    pub fleet_alerts_last: Option<DateTime<Utc>>,
    /// The credential may list sites (Fleet key).
    pub fleet: bool,
    pub site_list_last: Option<DateTime<Utc>>,
    /// Most deep-history calls one run may make (so a run ends well before the next timer).
    pub max_deep_per_run: u64,
}

/// Why a task is in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Fresh = 1,
    Cheap = 2,
    Deep = 3,
    Slow = 4,
}

impl Priority {
    /// The one word users read for this kind of call, in `plan`, the sync's log, `status`
    /// and the README.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Fresh => "fresh",
            Priority::Cheap => "history",
            Priority::Deep => "backfill",
            Priority::Slow => "slow",
        }
    }
}

/// One call (or one paged call) to make.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// A window of a windowed series.
    Window {
        site: SiteId,
        family: Family,
        res: Resolution,
        window: Window,
        priority: Priority,
    },
    /// Lifetime energy, `resolution=TOTAL` from installation.
    Total {
        site: SiteId,
        priority: Priority,
    },
    /// `/overview` of one site-local day.
    Overview {
        site: SiteId,
        day: NaiveDate,
    },
    /// An unwindowed family of a site (details, devices, benefits, alerts, power flow).
    Site {
        site: SiteId,
        family: Family,
        priority: Priority,
    },
    FleetAlerts,
    SiteList,
}

impl Task {
    pub(crate) fn priority(&self) -> Priority {
        match self {
            Task::Window { priority, .. }
            | Task::Total { priority, .. }
            | Task::Site { priority, .. } => *priority,
            Task::Overview { .. } | Task::FleetAlerts | Task::SiteList => Priority::Slow,
        }
    }
}

/// The plan of one run, with the numbers `seh plan` shows.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub tasks: Vec<Task>,
    /// Freshness cadence per quarter-hour family.
    pub cadence: BTreeMap<Family, Duration>,
    /// Longest a family's newest data may be old at the start of a run, given the cadence
    /// and a 15-minute timer: cadence + 15 minutes.
    pub max_lag: BTreeMap<Family, Duration>,
    /// Cadence of daily families after stretching for the budget.
    pub slow_every: Duration,
    pub alerts_every: Duration,
    /// Calls projected until the reset for freshness and slow families.
    pub fresh_cycle_cost: u64,
    pub slow_cycle_cost: u64,
    /// Quarter-hour windows still needed back to installation, and when they will be done.
    pub deep_remaining: u64,
    pub deep_completion: Option<DateTime<Utc>>,
    /// Series whose newest data is older than their cadence allows, by site: the longest
    /// lag of each such site, longest first.
    pub lagging: Vec<(SiteId, Duration)>,
    /// Things the user should know (tight budget, stretched cadences).
    pub notes: Vec<String>,
}

impl Plan {
    pub(crate) fn cost(&self) -> u64 {
        self.tasks.len() as u64
    }

    /// `539 calls (171 fresh, 343 history, 0 backfill, 25 slow)`: the plan in the words
    /// the sync's log and `seh plan` share.
    pub fn calls_by_kind(&self) -> String {
        let kinds: Vec<String> = [
            Priority::Fresh,
            Priority::Cheap,
            Priority::Deep,
            Priority::Slow,
        ]
        .into_iter()
        .map(|p| {
            let n = self.tasks.iter().filter(|t| t.priority() == p).count();
            format!("{} {}", crate::display::thousands(n as i64), p.name())
        })
        .collect();
        format!(
            "{} calls ({})",
            crate::display::thousands(self.cost() as i64),
            kinds.join(", ")
        )
    }
}
