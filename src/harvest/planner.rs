//! The budget planner: given the stored state, "now", the credit budget and the window
//! limits, decide what this run fetches and at which cadences, in order of value:
//!
//! 1. **fresh**: the newest quarter-hours of every series each site has, at a cadence
//!    derived from the budget and the number of series (or pinned per family), including
//!    the settle-window re-read.
//! 2. **history**: the whole life of the site at DAY, MONTH and YEAR (energy) and DAY
//!    (telemetry energies), plus lifetime TOTAL and any detected gaps: few calls, fetched
//!    on the first run.
//! 3. **backfill**: quarter-hour windows back to installation, newest first, paid only
//!    from credits below the budget line so the allowance lasts until the reset.
//! 4. **slow**: site list, details, devices, benefits, overview, rollup updates
//!    (daily) and alerts (hourly), stretched when the budget is tight.
//!
//! Pure: no IO and no clock; `plan` is a function of its input, so every rule has a unit
//! test, including cycle boundaries, billing days, DST days and learned limits.

use super::windows::{self, SeriesInput, Window};
use super::Family;
use crate::api::time as t;
use crate::model::{Resolution, SiteId};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

pub use super::plan_model::{Cursor, Plan, PlanInput, Priority, SiteInput, Task};

/// Calls discovery makes for a site it has not read yet (details and devices), outside
/// the plan.
pub const DISCOVERY_PER_SITE: u64 = 2;

/// What a first run costs at least for each site seh has not seen yet: discovery plus the
/// plan for a new site with only the two series every site has (energy and power), in
/// UTC and without an installation date. Telemetry families and a known installation only
/// add to it. The site list and the fleet alerts, one call each for all sites, are not in
/// it.
pub(crate) fn first_run_per_site(input: &PlanInput) -> u64 {
    let mut one = input.clone();
    one.sites = vec![SiteInput {
        id: 0,
        tz: chrono_tz::UTC,
        install: None,
        series: vec![Family::Energy, Family::Power],
        cursors: BTreeMap::new(),
        last: BTreeMap::new(),
        overview_to: None,
        power_flow: true,
    }];
    let per_site = plan(&one)
        .tasks
        .iter()
        .filter(|t| !matches!(t, Task::SiteList | Task::FleetAlerts))
        .count() as u64;
    DISCOVERY_PER_SITE + per_site
}

/// Freshness cadences to choose from, in minutes, shortest first.
const LADDER_MIN: [i64; 16] = [
    15, 30, 60, 120, 180, 240, 360, 480, 660, 720, 1380, 1440, 2820, 10_080, 20_160, 43_200,
];

/// Build the plan: each builder below decides one part of it, and the parts are joined in
/// order of value (freshness, cheap history, deep history, slow families) and cut to the
/// credits left this cycle.
pub(crate) fn plan(input: &PlanInput) -> Plan {
    let mut out = Plan::default();
    let mut cheap = cheap_history(input);
    let pace = pace_cheap(input, cheap.len() as u64, &mut out.notes);
    let deep = deep_history(input);
    let cadence = cadences(input, pace.left_after, deep.estimate > 0, &mut out);
    let mut lagging = Vec::new();
    let fresh = freshness(input, &out.cadence, cadence.fresh, &mut lagging);
    out.lagging = lagging;
    let slow = slow_families(input, out.slow_every, out.alerts_every);
    let reserved = (fresh.len() + cheap.len() + slow.len()) as u64;
    let take = deep_now(input, &deep, reserved, cadence.per_cycle_deep, &mut out);
    if pace.paced {
        // Paced cheap history spends only below the budget line, after freshness.
        let allow = input.budget.below_line().saturating_sub(fresh.len() as u64);
        cheap.truncate(allow as usize);
    }
    let deep = deep.tasks.into_iter().take(take).collect();
    let tasks = [fresh, cheap, deep, slow].into_iter().flatten().collect();
    out.tasks = fit(input, tasks, &mut out.notes);
    out
}

/// Decides the cheap history: the never-fetched part of every rollup series (energy DAY,
/// MONTH and YEAR, telemetry DAY) back to installation, the first lifetime TOTAL, and
/// every recorded quarter-hour gap. Few calls cover a site's whole life.
fn cheap_history(input: &PlanInput) -> Vec<Task> {
    let mut cheap = Vec::new();
    for s in &input.sites {
        for (family, res) in rollups(s) {
            let c = cursor(s, family, res);
            let si = series_input(input, s, res, &c, true);
            // Only the part never fetched is cheap history; forward updates are slow work.
            for w in windows::series_windows(&si) {
                if w.backfill || c.covered_to.is_none() {
                    cheap.push(Task::Window {
                        site: s.id,
                        family,
                        res,
                        window: w,
                        priority: Priority::Cheap,
                    });
                }
            }
        }
        let total = s.cursors.get(&(Family::Energy, Resolution::Total));
        let energy = s.series.contains(&Family::Energy);
        if energy && total.is_none_or(|c| c.last_success.is_none()) {
            cheap.push(Task::Total {
                site: s.id,
                priority: Priority::Cheap,
            });
        }
        cheap.extend(gaps(input, s));
    }
    cheap
}

/// Decides the refetch of gaps: quarter-hour windows over every range of a site's series
/// where the API returned fewer buckets than expected.
fn gaps(input: &PlanInput, s: &SiteInput) -> Vec<Task> {
    let qh = Resolution::QuarterHour;
    let mut out = Vec::new();
    for f in &s.series {
        let Some(c) = s.cursors.get(&(*f, qh)) else {
            continue;
        };
        for (from, to) in &c.gaps {
            for (a, b) in t::windows(*from, *to, span(input, qh), qh, s.tz) {
                out.push(Task::Window {
                    site: s.id,
                    family: *f,
                    res: qh,
                    window: Window {
                        from: a,
                        to: b,
                        backfill: true,
                    },
                    priority: Priority::Cheap,
                });
            }
        }
    }
    out
}

/// How cheap history is paid for this run.
struct CheapPace {
    /// Spread over the cycle below the budget line instead of fetched at once.
    paced: bool,
    /// Credits left this cycle after cheap history, for freshness and slow families.
    left_after: u64,
}

/// Decides whether cheap history all comes now. When it would take more than half of what
/// is left this cycle (a tight budget, many sites), it is paced like deep history, below
/// the budget line, so the cycle's freshness is not spent on day one.
fn pace_cheap(input: &PlanInput, cost: u64, notes: &mut Vec<String>) -> CheapPace {
    let left = input.budget.left();
    let paced = cost * 2 > left;
    let left_after = if paced {
        left - left / 2
    } else {
        left.saturating_sub(cost)
    };
    if paced && cost > 0 {
        notes.push(format!(
            "{cost} calls of day/month/year history exceed half of the {left} credits left; they are spread over the cycle"
        ));
    }
    CheapPace { paced, left_after }
}

/// Quarter-hour history still to fetch.
struct Deep {
    /// The newest backfill windows across all started series, newest first: as many as
    /// one run could pay for, never the whole history.
    tasks: Vec<Task>,
    /// Windows still needed back to installation, including the whole life of the series
    /// that have not started yet.
    estimate: u64,
}

/// Decides the deep-history candidates: quarter-hour backfill windows of every started
/// series back to installation, interleaved newest first so every site and family
/// advances together. Only the windows a run could pay for are made (a k-way merge of
/// each series' windows, newest first); the rest are counted. How many run now is
/// `deep_now`'s decision.
fn deep_history(input: &PlanInput) -> Deep {
    let qh = Resolution::QuarterHour;
    let cap = input.max_deep_per_run.min(input.budget.left()) as usize;
    let mut series = Vec::new();
    let mut estimate = 0;
    for s in &input.sites {
        for f in &s.series {
            let c = cursor(s, *f, qh);
            if c.covered_from.is_none() {
                // Freshness starts the series and history follows from there; until then
                // its whole life counts toward the estimate.
                if let Some(inst) = s.install {
                    estimate += ceil_div(
                        (input.now - inst).num_seconds(),
                        span(input, qh).num_seconds(),
                    );
                }
                continue;
            }
            let back = windows::Backfill::of(&series_input(input, s, qh, &c, true));
            estimate += back.remaining();
            series.push((s.id, *f, back));
        }
    }
    // Newest end first; among equal ends, the series planned first.
    let mut heap = std::collections::BinaryHeap::new();
    for (k, (_, _, back)) in series.iter_mut().enumerate() {
        if let Some(w) = back.next() {
            heap.push((w.to, std::cmp::Reverse(k), w));
        }
    }
    let mut tasks = Vec::with_capacity(cap.min(estimate as usize));
    while tasks.len() < cap {
        let Some((_, std::cmp::Reverse(k), window)) = heap.pop() else {
            break;
        };
        let (site, family, back) = &mut series[k];
        tasks.push(Task::Window {
            site: *site,
            family: *family,
            res: qh,
            window,
            priority: Priority::Deep,
        });
        if let Some(w) = back.next() {
            heap.push((w.to, std::cmp::Reverse(k), w));
        }
    }
    Deep { tasks, estimate }
}

/// The cadences `cadences` chose that the later builders need.
struct Cadences {
    /// Derived freshness cadence (before per-family pins); power flow follows it.
    fresh: Duration,
    /// Credits a whole future cycle leaves for deep history after freshness and slow
    /// families.
    per_cycle_deep: u64,
}

/// Decides the cadences: the shortest freshness cadence on the ladder that fits its share
/// of `credits` (what cheap history leaves this cycle), per family unless pinned, and how
/// far daily families and alerts stretch to fit the rest (see `split`). Records them,
/// their projected costs and notes on a tight budget in `out`.
fn cadences(input: &PlanInput, credits: u64, deep_remains: bool, out: &mut Plan) -> Cadences {
    let rest = input.budget.time_left();
    let n_series: u64 = input.sites.iter().map(|s| s.series.len() as u64).sum();
    let now_split = split(input, credits, rest, deep_remains);
    // What a whole future cycle leaves for history, for the completion estimate.
    let usable = input.budget.budget.usable();
    let full_split = split(input, usable, input.budget.cycle_len(), deep_remains);
    let cadence = match now_split.cadence {
        Some(c) => c,
        None => {
            out.notes.push(format!(
                "the budget cannot keep {n_series} quarter-hour series fresh even once a month; quarter-hour data will have gaps until the next cycle"
            ));
            Duration::minutes(*LADDER_MIN.last().expect("ladder"))
        }
    };
    let mut fresh_total = 0;
    for s in &input.sites {
        for f in &s.series {
            let c = input.pinned.get(f).copied().unwrap_or(cadence);
            out.cadence.insert(*f, c);
            out.max_lag.insert(*f, c + Duration::minutes(15));
            fresh_total += fresh_cost(1, c, input, rest);
        }
    }
    out.fresh_cycle_cost = fresh_total;
    let k = now_split.stretch;
    if k > 1 {
        out.notes.push(format!(
            "slow families stretched to every {k} days and alerts to every {} to fit the budget",
            crate::clock::human(now_split.alerts_every)
        ));
    }
    out.slow_every = Duration::days(k);
    out.alerts_every = now_split.alerts_every;
    out.slow_cycle_cost = slow_cost(input, k, now_split.alerts_every, rest);
    Cadences {
        fresh: cadence,
        per_cycle_deep: usable.saturating_sub(full_split.fresh + full_split.slow),
    }
}

/// How `credits` over `period` divide between freshness and slow families.
struct Split {
    /// Smallest freshness cadence that fits, if any does.
    cadence: Option<Duration>,
    fresh: u64,
    /// Stretch factor of the daily families (1 = daily).
    stretch: i64,
    alerts_every: Duration,
    slow: u64,
}

/// Decides the budget split: freshness may take half of `credits` while quarter-hour
/// history remains (so history always advances with at least 30 %), four fifths
/// otherwise, at the shortest cadence of the ladder that fits; slow families are
/// stretched until they fit what is left.
fn split(input: &PlanInput, credits: u64, period: Duration, deep_remains: bool) -> Split {
    let n: u64 = input.sites.iter().map(|s| s.series.len() as u64).sum();
    let (fresh_share, deep_share) = if deep_remains { (0.5, 0.3) } else { (0.8, 0.0) };
    let fresh_budget = (credits as f64 * fresh_share) as u64;
    let cadence = LADDER_MIN
        .iter()
        .map(|m| Duration::minutes(*m))
        .find(|c| fresh_cost(n, *c, input, period) <= fresh_budget);
    let c = cadence.unwrap_or_else(|| Duration::minutes(*LADDER_MIN.last().expect("ladder")));
    let fresh = fresh_cost(n, c, input, period);
    let slow_budget = credits
        .saturating_sub(fresh)
        .saturating_sub((credits as f64 * deep_share) as u64);
    let nominal = input.alerts_every.unwrap_or(Duration::hours(1));
    let mut stretch = 1i64;
    let mut alerts_every = nominal;
    while slow_cost(input, stretch, alerts_every, period) > slow_budget && stretch < 30 {
        stretch += 1;
        alerts_every = nominal * (stretch as i32);
    }
    Split {
        cadence,
        fresh,
        stretch,
        alerts_every,
        slow: slow_cost(input, stretch, alerts_every, period),
    }
}

/// Decides freshness: the forward quarter-hour windows, up to the bucket running now, of
/// every series whose `cadence` came due or whose cursor an interrupted run left behind,
/// and power flow every `power_flow_every` where the tier allows it.
fn freshness(
    input: &PlanInput,
    cadence: &BTreeMap<Family, Duration>,
    power_flow_every: Duration,
    lagging: &mut Vec<(SiteId, Duration)>,
) -> Vec<Task> {
    let qh = Resolution::QuarterHour;
    // Per due series: (not a priority site, newest data, its tasks). When the credits
    // left cannot pay for all, `fit` cuts from the end: the series fetched most recently
    // wait, so no site starves while others are fetched every run.
    let mut due_series: Vec<(bool, Option<DateTime<Utc>>, Vec<Task>)> = Vec::new();
    let mut lag_of: BTreeMap<SiteId, Duration> = BTreeMap::new();
    for s in &input.sites {
        let favoured = input.priority.contains(&s.id);
        for f in &s.series {
            let c = cursor(s, *f, qh);
            let every = cadence[f];
            if let Some(to) = c.covered_to {
                let lag = input.now - to - input.settle;
                if lag > every + Duration::minutes(15) {
                    let worst = lag_of.entry(s.id).or_insert(lag);
                    *worst = (*worst).max(lag);
                }
            }
            if due(input, c.last_success, every)
                || behind(c.covered_to, qh, every, input.settle, input.now, s.tz)
            {
                let tasks = forward(input, s, *f, qh, &c, Priority::Fresh);
                due_series.push((!favoured, c.covered_to, tasks));
            }
        }
        if s.power_flow && due(input, last(s, Family::PowerFlow), power_flow_every) {
            due_series.push((
                !favoured,
                last(s, Family::PowerFlow),
                vec![Task::Site {
                    site: s.id,
                    family: Family::PowerFlow,
                    priority: Priority::Fresh,
                }],
            ));
        }
    }
    // Stable: equal keys keep the order of the sites.
    due_series.sort_by_key(|(later, newest, _)| (*later, *newest));
    let mut worst: Vec<(SiteId, Duration)> = lag_of.into_iter().collect();
    worst.sort_by_key(|(site, lag)| (std::cmp::Reverse(*lag), *site));
    *lagging = worst;
    due_series.into_iter().flat_map(|(_, _, t)| t).collect()
}

/// Decides the slow families: the site list (Fleet key), details, devices, benefits,
/// rollup updates, lifetime TOTAL and the final overview days of each site every
/// `slow_every` (daily unless stretched), and alerts, per site or one fleet call, every
/// `alerts_every`.
fn slow_families(input: &PlanInput, slow_every: Duration, alerts_every: Duration) -> Vec<Task> {
    let mut slow = Vec::new();
    if input.fleet && due(input, input.site_list_last, slow_every) {
        slow.push(Task::SiteList);
    }
    for s in &input.sites {
        for fam in [Family::Details, Family::Devices, Family::Benefits] {
            if due(input, last(s, fam), slow_every) {
                slow.push(Task::Site {
                    site: s.id,
                    family: fam,
                    priority: Priority::Slow,
                });
            }
        }
        if !input.fleet_alerts && due(input, last(s, Family::Alerts), alerts_every) {
            slow.push(Task::Site {
                site: s.id,
                family: Family::Alerts,
                priority: Priority::Slow,
            });
        }
        slow.extend(rollup_updates(input, s, slow_every));
        let total = s.cursors.get(&(Family::Energy, Resolution::Total));
        let energy = s.series.contains(&Family::Energy);
        if energy
            && total
                .is_some_and(|c| c.last_success.is_some() && due(input, c.last_success, slow_every))
        {
            slow.push(Task::Total {
                site: s.id,
                priority: Priority::Slow,
            });
        }
        let lagging = behind(
            s.overview_to,
            Resolution::Day,
            slow_every,
            input.settle,
            input.now,
            s.tz,
        );
        if due(input, last(s, Family::Overview), slow_every) || lagging {
            for day in overview_days(s, input) {
                slow.push(Task::Overview { site: s.id, day });
            }
        }
    }
    if input.fleet_alerts && due(input, input.fleet_alerts_last, alerts_every) {
        slow.push(Task::FleetAlerts);
    }
    slow
}

/// Decides the rollup updates: forward windows of the rollup series that already started,
/// every `slow_every` or at once when an interrupted run left them behind.
fn rollup_updates(input: &PlanInput, s: &SiteInput, slow_every: Duration) -> Vec<Task> {
    let mut out = Vec::new();
    for (family, res) in rollups(s) {
        let c = cursor(s, family, res);
        let lagging = behind(c.covered_to, res, slow_every, input.settle, input.now, s.tz);
        if c.covered_to.is_some() && (due(input, c.last_success, slow_every) || lagging) {
            out.extend(forward(input, s, family, res, &c, Priority::Slow));
        }
    }
    out
}

/// Decides how much deep history runs now: what the budget line allows, after the work
/// already planned this run and the freshness and slow work projected until the reset,
/// capped per run. Records the windows remaining and when they will be done.
fn deep_now(
    input: &PlanInput,
    deep: &Deep,
    reserved: u64,
    per_cycle_deep: u64,
    out: &mut Plan,
) -> usize {
    let future = out.fresh_cycle_cost + out.slow_cycle_cost;
    let allowed = input
        .budget
        .below_line()
        .min(
            input
                .budget
                .left()
                .saturating_sub(reserved)
                .saturating_sub(future),
        )
        .min(input.max_deep_per_run);
    let take = (allowed as usize).min(deep.tasks.len());
    let deep_after = deep.estimate.saturating_sub(take as u64);
    out.deep_remaining = deep.estimate;
    // Later cycles pay history with what a whole cycle leaves after freshness and slow work.
    out.deep_completion = if deep_after == 0 {
        Some(input.now)
    } else if per_cycle_deep == 0 {
        None
    } else {
        let per_sec = per_cycle_deep as f64 / input.budget.cycle_len().num_seconds().max(1) as f64;
        Some(input.now + Duration::seconds((deep_after as f64 / per_sec) as i64))
    };
    if out.deep_completion.is_none() {
        out.notes.push("no credits are left for quarter-hour history at this budget; it will not be backfilled".into());
    }
    take
}

/// Decides what is deferred: `tasks`, in order of value, cut to the credits left this
/// cycle.
fn fit(input: &PlanInput, mut tasks: Vec<Task>, notes: &mut Vec<String>) -> Vec<Task> {
    let left = input.budget.left();
    if tasks.len() as u64 > left {
        notes.push(format!(
            "only {left} credits left until {}; {} planned calls deferred",
            input.budget.next_reset.format("%Y-%m-%d %H:%M UTC"),
            tasks.len() as u64 - left
        ));
        tasks.truncate(left as usize);
    }
    tasks
}

/// Largest window of `res`: learned or configured, else the documented default.
fn span(input: &PlanInput, res: Resolution) -> Duration {
    input
        .max_span
        .get(&res)
        .copied()
        .unwrap_or_else(|| windows::default_max_span(res))
}

fn ceil_div(a: i64, b: i64) -> u64 {
    if b <= 0 {
        return 0;
    }
    ((a + b - 1) / b).max(0) as u64
}

/// Calls one freshness fetch costs at cadence `c`: the span since the last fetch plus the
/// settle window, cut into windows.
fn calls_per_fetch(c: Duration, settle: Duration, max_span: Duration) -> u64 {
    ceil_div((c + settle).num_seconds(), max_span.num_seconds()).max(1)
}

/// Freshness cost over `period` for `n` series at cadence `c`.
fn fresh_cost(n: u64, c: Duration, input: &PlanInput, period: Duration) -> u64 {
    let fetches = ceil_div(period.num_seconds(), c.num_seconds().max(1));
    n * fetches * calls_per_fetch(c, input.settle, span(input, Resolution::QuarterHour))
}

/// Calls over `period` of the slow families at a stretch factor `k` (1 = nominal cadences).
fn slow_cost(input: &PlanInput, k: i64, alerts_every: Duration, period: Duration) -> u64 {
    let left = period.num_seconds();
    let day = Duration::days(k).num_seconds();
    let per_day: u64 = input
        .sites
        .iter()
        .map(|s| {
            // details, devices, benefits, overview, TOTAL, DAY/MONTH/YEAR energy updates,
            // DAY telemetry updates.
            7 + s
                .series
                .iter()
                .filter(|f| f.telemetry_kind().is_some())
                .count() as u64
        })
        .sum::<u64>()
        + u64::from(input.fleet);
    let alerts = if input.fleet_alerts {
        1
    } else {
        input.sites.len() as u64
    };
    per_day * ceil_div(left, day) + alerts * ceil_div(left, alerts_every.num_seconds().max(1))
}

/// Rollup series of a site: energy DAY/MONTH/YEAR and the telemetry families at DAY.
fn rollups(site: &SiteInput) -> Vec<(Family, Resolution)> {
    let mut v = Vec::new();
    // `series` holds only the families the run wants (`--only`): no energy, no rollups.
    if site.series.contains(&Family::Energy) {
        v.extend([
            (Family::Energy, Resolution::Day),
            (Family::Energy, Resolution::Month),
            (Family::Energy, Resolution::Year),
        ]);
    }
    for f in &site.series {
        if f.telemetry_kind().is_some() {
            v.push((*f, Resolution::Day));
        }
    }
    v
}

/// The stored cursor of a series of `s`, empty if it was never fetched.
fn cursor(s: &SiteInput, family: Family, res: Resolution) -> Cursor {
    s.cursors.get(&(family, res)).cloned().unwrap_or_default()
}

/// The last success of an unwindowed family (or the overview) of `s`.
fn last(s: &SiteInput, family: Family) -> Option<DateTime<Utc>> {
    s.last.get(&family).copied().flatten()
}

/// Whether a cursor lags further than a complete fetch `every` ago would have left it: an
/// interrupted or killed run stores only its first windows (or days), each stamping
/// `last_success`, and the rest must follow in the next run, not a whole cadence later.
/// After a complete fetch at `t` the cursor is the start of the bucket holding
/// `t - settle`.
fn behind(
    covered_to: Option<DateTime<Utc>>,
    res: Resolution,
    every: Duration,
    settle: Duration,
    now: DateTime<Utc>,
    tz: Tz,
) -> bool {
    covered_to.is_some_and(|ct| ct < windows::settled_limit(res, now - every, settle, tz))
}

/// Whether work last done at `last` is due again at cadence `every`: with `--full`, when
/// it never succeeded, when `every` has passed since, or when its last success lies in
/// the future (the clock went back).
fn due(input: &PlanInput, last: Option<DateTime<Utc>>, every: Duration) -> bool {
    let now = input.now;
    // Two minutes of slack: timer runs drift by seconds, and a run that comes a little
    // early must not skip a whole period.
    input.full || last.is_none_or(|l| l > now || now - l + Duration::minutes(2) >= every)
}

/// The forward windows of series `(family, res)` of site `s` as tasks of `priority`.
fn forward(
    input: &PlanInput,
    s: &SiteInput,
    family: Family,
    res: Resolution,
    c: &Cursor,
    priority: Priority,
) -> Vec<Task> {
    // Without `full`, `series_windows` plans forward windows only.
    let si = series_input(input, s, res, c, false);
    windows::series_windows(&si)
        .into_iter()
        .map(|window| Task::Window {
            site: s.id,
            family,
            res,
            window,
            priority,
        })
        .collect()
}

/// The window rules' view of one series; `full` adds history back to installation.
fn series_input(
    input: &PlanInput,
    s: &SiteInput,
    res: Resolution,
    c: &Cursor,
    full: bool,
) -> SeriesInput {
    SeriesInput {
        resolution: res,
        tz: s.tz,
        install: s.install,
        covered_from: c.covered_from,
        covered_to: c.covered_to,
        now: input.now,
        // A new series starts `initial` back; deep history does the rest.
        initial: input.initial,
        full,
        max_span: span(input, res),
    }
}

/// Overview days of `s` that are due and final: a day's overview is read once it ended
/// more than `settle` ago.
fn overview_days(s: &SiteInput, input: &PlanInput) -> Vec<NaiveDate> {
    let last_final = t::local_day_of(input.now - input.settle, s.tz) - Duration::days(1);
    windows::overview_days(
        s.overview_to,
        s.install,
        input.now,
        input.overview_days,
        s.tz,
    )
    .into_iter()
    .filter(|d| *d <= last_final)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{Budget, BudgetView};
    use crate::model::SiteId;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn site(id: SiteId, zone: &str, install: DateTime<Utc>, series: &[Family]) -> SiteInput {
        SiteInput {
            id,
            tz: zone.parse().unwrap(),
            install: Some(install),
            series: series.to_vec(),
            cursors: BTreeMap::new(),
            last: BTreeMap::new(),
            overview_to: None,
            power_flow: false,
        }
    }

    fn fleet(now: DateTime<Utc>) -> Vec<SiteInput> {
        use Family::*;
        vec![
            site(
                1,
                "Europe/Berlin",
                now - Duration::days(1100),
                &[
                    Energy,
                    Power,
                    InverterTelemetry,
                    MeterTelemetry,
                    StorageTelemetry,
                ],
            ),
            site(
                2,
                "Australia/Sydney",
                now - Duration::days(400),
                &[Energy, Power, InverterTelemetry, MeterTelemetry],
            ),
            site(
                3,
                "America/Denver",
                now - Duration::days(2190),
                &[Energy, Power, InverterTelemetry],
            ),
        ]
    }

    fn input(now: DateTime<Utc>, budget: Budget, used: u64) -> PlanInput {
        PlanInput {
            now,
            budget: BudgetView::new(budget, now, used),
            settle: Duration::hours(1),
            full: false,
            initial: Duration::days(1),
            overview_days: 7,
            sites: fleet(now),
            max_span: BTreeMap::new(),
            pinned: BTreeMap::new(),
            priority: Vec::new(),
            alerts_every: None,
            fleet_alerts: true,
            fleet_alerts_last: None,
            fleet: true,
            site_list_last: None,
            max_deep_per_run: 100,
        }
    }

    #[test]
    fn a_short_budget_serves_the_longest_waiting_sites_and_the_favoured_first() {
        let now = at(2026, 11, 26, 12, 0);
        // 6 credits left: less than the fresh windows of three sites.
        let budget = Budget {
            monthly_credits: 2000,
            reserve: 0,
            ..Budget::default()
        };
        let mut i = input(now, budget, 1994);
        // Every site last fetched 35 days ago: due, and later than the month-long cadence
        // this budget allows.
        started(&mut i, 60, now - Duration::days(35));
        i.site_list_last = Some(now);
        i.fleet_alerts_last = Some(now);
        // Site 3 waited longest.
        for c in i.sites[2].cursors.values_mut() {
            c.covered_to = c.covered_to.map(|t| t - Duration::days(5));
        }
        let first_site = |p: &Plan| match p.tasks.first() {
            Some(Task::Window { site, .. }) => *site,
            other => panic!("{other:?}"),
        };
        let p = plan(&i);
        assert_eq!(first_site(&p), 3, "{:?}", p.tasks);
        assert_eq!(p.lagging.len(), i.sites.len(), "{:?}", p.lagging);
        assert_eq!(p.lagging[0].0, 3);
        assert!(p.lagging[0].1 >= Duration::days(40), "{:?}", p.lagging);
        // A favoured site comes first whatever its lag.
        i.priority = vec![2];
        let p = plan(&i);
        assert_eq!(first_site(&p), 2, "{:?}", p.tasks);
    }

    #[test]
    fn the_first_run_estimate_is_a_lower_bound_per_site() {
        let now = at(2026, 11, 26, 12, 0);
        let mut i = input(now, Budget::default(), 0);
        let per_site = first_run_per_site(&i);
        assert!(per_site > DISCOVERY_PER_SITE + 2, "{per_site}");
        // New sites with the test fleet's series (more than energy and power) cost more.
        for s in &mut i.sites {
            s.cursors.clear();
            s.last.clear();
            s.overview_to = None;
        }
        let n = i.sites.len() as u64;
        let planned = plan(&i)
            .tasks
            .iter()
            .filter(|t| !matches!(t, Task::SiteList | Task::FleetAlerts))
            .count() as u64;
        assert!(
            planned + n * DISCOVERY_PER_SITE >= n * per_site,
            "{planned} planned for {n} sites, estimate {per_site} each"
        );
    }

    /// The tasks of `p` that `keep` selects, in plan order.
    fn select(p: &Plan, keep: impl Fn(&Task) -> bool) -> Vec<&Task> {
        p.tasks.iter().filter(|t| keep(t)).collect()
    }

    /// The windows of the window tasks of `p` that `keep` selects, in plan order.
    fn windows_of(p: &Plan, keep: impl Fn(&Task) -> bool) -> Vec<Window> {
        select(p, keep)
            .into_iter()
            .filter_map(|t| match t {
                Task::Window { window, .. } => Some(*window),
                _ => None,
            })
            .collect()
    }

    fn count(p: &Plan, pr: Priority) -> usize {
        select(p, |t| t.priority() == pr).len()
    }

    /// Mark every series of every site as fetched up to `now - settle`, with history
    /// reaching `from`, last fetched at `last`.
    fn started(i: &mut PlanInput, from_days_back: i64, last: DateTime<Utc>) {
        let now = i.now;
        for s in &mut i.sites {
            for f in s.series.clone() {
                s.cursors.insert(
                    (f, Resolution::QuarterHour),
                    Cursor {
                        covered_from: Some(t::start_of_bucket(
                            now - Duration::days(from_days_back),
                            Resolution::QuarterHour,
                            s.tz,
                        )),
                        covered_to: Some(t::start_of_bucket(
                            last - Duration::hours(1),
                            Resolution::QuarterHour,
                            s.tz,
                        )),
                        last_success: Some(last),
                        gaps: Vec::new(),
                    },
                );
            }
            for (f, r) in rollups(s) {
                let inst = s.install.unwrap();
                s.cursors.insert(
                    (f, r),
                    Cursor {
                        covered_from: Some(t::start_of_bucket(inst, r, s.tz)),
                        covered_to: Some(t::start_of_bucket(now, r, s.tz)),
                        last_success: Some(last),
                        gaps: Vec::new(),
                    },
                );
            }
            s.cursors.insert(
                (Family::Energy, Resolution::Total),
                Cursor {
                    last_success: Some(last),
                    ..Cursor::default()
                },
            );
            for f in [
                Family::Details,
                Family::Devices,
                Family::Benefits,
                Family::Overview,
            ] {
                s.last.insert(f, Some(last));
            }
            s.overview_to = Some(t::local_midnight(t::local_day_of(now, s.tz), s.tz));
        }
        i.fleet_alerts_last = Some(last);
        i.site_list_last = Some(last);
    }

    #[test]
    fn first_run_fetches_all_day_history_and_starts_every_series() {
        let now = at(2026, 11, 26, 12, 7);
        let p = plan(&input(now, Budget::default(), 0));
        // Cheap history: DAY/MONTH/YEAR energy and DAY telemetry from installation, TOTAL.
        let day_windows = windows_of(&p, |t| {
            matches!(
                t,
                Task::Window {
                    site: 3,
                    family: Family::Energy,
                    res: Resolution::Day,
                    ..
                }
            )
        });
        assert!(!day_windows.is_empty());
        let tz: Tz = "America/Denver".parse().unwrap();
        let inst = now - Duration::days(2190);
        let earliest = day_windows.iter().map(|w| w.from).min().unwrap();
        assert_eq!(earliest, t::start_of_bucket(inst, Resolution::Day, tz));
        assert!(p
            .tasks
            .iter()
            .any(|t| matches!(t, Task::Total { site: 1, .. })));
        // Every quarter-hour series gets a freshness window; no deep history yet.
        assert_eq!(count(&p, Priority::Deep), 0);
        let fresh_series: std::collections::BTreeSet<_> = p
            .tasks
            .iter()
            .filter_map(|t| match t {
                Task::Window {
                    site,
                    family,
                    priority: Priority::Fresh,
                    ..
                } => Some((*site, *family)),
                _ => None,
            })
            .collect();
        assert_eq!(fresh_series.len(), 12);
        assert!(p.tasks.len() as u64 <= Budget::default().usable());
        assert!(p.deep_remaining > 0);
    }

    #[test]
    fn free_tier_cadence_fits_the_cycle_and_a_tight_budget_stretches_it() {
        let now = at(2026, 11, 1, 6, 0);
        let mut i = input(now, Budget::default(), 0);
        started(&mut i, 1, now - Duration::minutes(15));
        let p = plan(&i);
        let c = p.cadence[&Family::Energy];
        assert!(
            p.fresh_cycle_cost + p.slow_cycle_cost <= Budget::default().usable(),
            "{p:?}"
        );
        assert!(
            c >= Duration::hours(1) && c <= Duration::days(1),
            "{}",
            crate::clock::human(c)
        );
        let tight = Budget {
            monthly_credits: 300,
            reserve: 30,
            ..Budget::default()
        };
        let mut j = input(now, tight, 0);
        started(&mut j, 1, now - Duration::minutes(15));
        let q = plan(&j);
        assert!(
            q.cadence[&Family::Energy] > c,
            "tight {} vs {}",
            crate::clock::human(q.cadence[&Family::Energy]),
            crate::clock::human(c)
        );
        assert!(q.fresh_cycle_cost + q.slow_cycle_cost <= tight.usable() || !q.notes.is_empty());
        assert!(!q.notes.is_empty(), "a tight budget is explained");
        assert!(q.slow_every >= p.slow_every);
    }

    #[test]
    fn nothing_is_fetched_before_its_cadence_and_full_ignores_cadence() {
        let now = at(2026, 11, 10, 12, 0);
        let mut i = input(now, Budget::default(), 200);
        started(&mut i, 1, now - Duration::minutes(10));
        let p = plan(&i);
        assert_eq!(count(&p, Priority::Fresh), 0, "{:?}", p.tasks);
        i.full = true;
        let q = plan(&i);
        assert!(count(&q, Priority::Fresh) >= 12);
        // A pinned cadence wins over the derived one.
        i.full = false;
        i.pinned.insert(Family::Energy, Duration::minutes(5));
        let r = plan(&i);
        assert_eq!(r.cadence[&Family::Energy], Duration::minutes(5));
        let energy_fresh = select(&r, |t| {
            matches!(
                t,
                Task::Window {
                    family: Family::Energy,
                    priority: Priority::Fresh,
                    ..
                }
            )
        });
        assert_eq!(energy_fresh.len(), 3);
    }

    #[test]
    fn deep_history_spends_only_below_the_line_newest_first_and_capped() {
        // Cycle start: the line is at zero, no deep history yet.
        let start = at(2026, 11, 1, 0, 30);
        let mut i = input(start, Budget::default(), 0);
        started(&mut i, 2, start - Duration::minutes(20));
        // Half an hour into the cycle the line allows a credit or so.
        assert!(count(&plan(&i), Priority::Deep) <= 2);
        // Mid-cycle with little spent: deep history, capped per run, newest first.
        let mid = at(2026, 11, 16, 0, 0);
        let mut j = input(mid, Budget::default(), 300);
        started(&mut j, 2, mid - Duration::minutes(20));
        let p = plan(&j);
        let deep = windows_of(&p, |t| t.priority() == Priority::Deep);
        assert_eq!(deep.len(), 100);
        assert!(deep.windows(2).all(|w| w[0].to >= w[1].to));
        assert!(deep
            .iter()
            .all(|w| w.backfill && w.to - w.from <= Duration::hours(12)));
        assert!(
            p.deep_completion.unwrap_or_else(|| panic!(
                "{:?} {:?} fresh {} slow {} deep {}",
                p.notes,
                p.cadence
                    .get(&Family::Energy)
                    .map(|c| crate::clock::human(*c)),
                p.fresh_cycle_cost,
                p.slow_cycle_cost,
                p.deep_remaining
            )) > mid
        );
        // Over the line: nothing deep.
        let mut k = input(mid, Budget::default(), 1500);
        started(&mut k, 2, mid - Duration::minutes(20));
        assert_eq!(count(&plan(&k), Priority::Deep), 0);
    }

    #[test]
    fn the_end_of_the_cycle_truncates_to_what_is_left() {
        let now = at(2026, 11, 30, 20, 0);
        let b = Budget::default();
        let p = plan(&input(now, b, b.usable() - 5));
        assert_eq!(p.tasks.len(), 5);
        assert!(
            p.notes.iter().any(|n| n.contains("2026-12-01")),
            "{:?}",
            p.notes
        );
        let q = plan(&input(now, b, b.usable()));
        assert!(q.tasks.is_empty());
    }

    #[test]
    fn billing_day_moves_the_cycle() {
        // On the 14th with billing day 15 the cycle is almost over: the line is high.
        let now = at(2026, 11, 14, 12, 0);
        let b = Budget {
            billing_day: 15,
            ..Budget::default()
        };
        let mut i = input(now, b, 1000);
        started(&mut i, 2, now - Duration::minutes(20));
        let p = plan(&i);
        assert_eq!(i.budget.next_reset, at(2026, 11, 15, 0, 0));
        assert!(count(&p, Priority::Deep) > 0);
        // A day later a new cycle began: the line is back at zero.
        let mut j = input(at(2026, 11, 15, 1, 0), b, 0);
        started(&mut j, 2, at(2026, 11, 15, 0, 40));
        assert!(count(&plan(&j), Priority::Deep) <= 3);
    }

    #[test]
    fn learned_limits_shorten_every_window() {
        let now = at(2026, 11, 16, 0, 0);
        let mut i = input(now, Budget::default(), 0);
        i.max_span
            .insert(Resolution::QuarterHour, Duration::hours(6));
        i.max_span.insert(Resolution::Day, Duration::days(10));
        let p = plan(&i);
        for t in &p.tasks {
            if let Task::Window { res, window, .. } = t {
                let max = i
                    .max_span
                    .get(res)
                    .copied()
                    .unwrap_or_else(|| windows::default_max_span(*res));
                assert!(window.to - window.from <= max, "{t:?}");
            }
        }
    }

    #[test]
    fn windows_on_dst_days_are_contiguous_in_both_hemispheres() {
        for (zone, now) in [
            ("Europe/Berlin", at(2026, 10, 25, 23, 30)),
            ("Australia/Sydney", at(2026, 10, 4, 14, 0)),
        ] {
            let tz: Tz = zone.parse().unwrap();
            let mut i = input(now, Budget::default(), 0);
            i.sites = vec![site(9, zone, now - Duration::days(30), &[Family::Energy])];
            let from = t::local_midnight(t::local_day_of(now, tz), tz) - Duration::hours(1);
            i.sites[0].cursors.insert(
                (Family::Energy, Resolution::QuarterHour),
                Cursor {
                    covered_from: Some(now - Duration::days(2)),
                    covered_to: Some(from),
                    last_success: Some(from),
                    gaps: vec![],
                },
            );
            let p = plan(&i);
            let w = windows_of(&p, |t| t.priority() == Priority::Fresh);
            assert_eq!(w.first().unwrap().from, from, "{zone}");
            for pair in w.windows(2) {
                assert_eq!(pair[0].to, pair[1].from, "{zone}");
            }
            assert_eq!(
                w.last().unwrap().to,
                t::start_of_bucket(now, Resolution::QuarterHour, tz)
            );
        }
    }

    #[test]
    fn gaps_are_scheduled_as_cheap_work() {
        let now = at(2026, 11, 16, 0, 0);
        let mut i = input(now, Budget::default(), 0);
        started(&mut i, 2, now - Duration::minutes(5));
        let gap = (at(2026, 11, 15, 3, 0), at(2026, 11, 15, 4, 0));
        i.sites[0]
            .cursors
            .get_mut(&(Family::Power, Resolution::QuarterHour))
            .unwrap()
            .gaps = vec![gap];
        let p = plan(&i);
        assert!(p.tasks.iter().any(|t| matches!(t, Task::Window { site: 1, family: Family::Power, priority: Priority::Cheap, window, .. } if window.from == gap.0 && window.to == gap.1)));
    }

    #[test]
    fn alerts_are_one_fleet_call_or_one_per_site_and_power_flow_only_when_allowed() {
        let now = at(2026, 11, 16, 0, 0);
        let mut i = input(now, Budget::default(), 0);
        let p = plan(&i);
        assert_eq!(select(&p, |t| matches!(t, Task::FleetAlerts)).len(), 1);
        assert!(!p.tasks.iter().any(|t| matches!(
            t,
            Task::Site {
                family: Family::Alerts,
                ..
            } | Task::Site {
                family: Family::PowerFlow,
                ..
            }
        )));
        i.fleet_alerts = false;
        i.sites[0].power_flow = true;
        let q = plan(&i);
        let site_family = |f: Family| {
            select(
                &q,
                |t| matches!(t, Task::Site { family, .. } if *family == f),
            )
            .len()
        };
        assert_eq!(site_family(Family::Alerts), 3);
        assert_eq!(site_family(Family::PowerFlow), 1);
    }

    #[test]
    fn a_tight_budget_spreads_day_history_over_the_cycle() {
        let now = at(2026, 11, 1, 0, 5);
        let tight = Budget {
            monthly_credits: 300,
            reserve: 30,
            ..Budget::default()
        };
        let p = plan(&input(now, tight, 0));
        // At the start of the cycle the line allows next to nothing: freshness only.
        assert!(count(&p, Priority::Cheap) <= 1, "{:?}", p.notes);
        assert!(p.notes.iter().any(|n| n.contains("spread over the cycle")));
        // Half-way through, history proceeds below the line.
        let mid = at(2026, 11, 16, 0, 0);
        let q = plan(&input(mid, tight, 20));
        let cheap = count(&q, Priority::Cheap) as u64;
        assert!(cheap > 0 && cheap <= BudgetView::new(tight, mid, 20).below_line());
        // The Free tier takes all of it at once.
        let r = plan(&input(now, Budget::default(), 0));
        assert!(count(&r, Priority::Cheap) > 100);
    }

    #[test]
    fn work_is_due_by_age_or_full() {
        let now = at(2026, 11, 26, 12, 0);
        let mut i = input(now, Budget::default(), 0);
        let day = Duration::hours(24);
        assert!(due(&i, None, day));
        assert!(!due(&i, Some(now - Duration::hours(2)), day));
        assert!(due(&i, Some(now - Duration::hours(25)), day));
        // A last success in the future (clock went back) does not block forever.
        assert!(due(&i, Some(now + Duration::hours(5)), day));
        i.full = true;
        assert!(due(&i, Some(now - Duration::hours(2)), day));
    }

    #[test]
    fn work_an_interrupted_run_left_undone_is_due_at_once() {
        let now = at(2026, 11, 26, 12, 0);
        let budget = Budget {
            monthly_credits: 1_000_000,
            ..Budget::default()
        };
        let mut i = input(now, budget, 0);
        i.max_deep_per_run = 0;
        // Everything complete a minute ago: nothing is due.
        started(&mut i, 3, now - Duration::minutes(1));
        assert!(plan(&i).tasks.is_empty(), "{:?}", plan(&i).tasks);
        // A run stopped after the first windows of a series, of a rollup and of the
        // overview days: each stamped `last_success`, and the rest comes next run anyway.
        let s = &mut i.sites[0];
        let tz = s.tz;
        let qh = s
            .cursors
            .get_mut(&(Family::Power, Resolution::QuarterHour))
            .unwrap();
        qh.covered_to = Some(now - Duration::days(2));
        let day = s
            .cursors
            .get_mut(&(Family::Energy, Resolution::Day))
            .unwrap();
        day.covered_to = Some(t::start_of_bucket(
            now - Duration::days(300),
            Resolution::Day,
            tz,
        ));
        s.overview_to = Some(t::local_midnight(
            t::local_day_of(now - Duration::days(2), tz),
            tz,
        ));
        let p = plan(&i);
        let has = |f: Family, r: Resolution| {
            p.tasks.iter().any(|t| {
                matches!(t, Task::Window { site: 1, family, res, .. } if *family == f && *res == r)
            })
        };
        assert!(has(Family::Power, Resolution::QuarterHour), "{:?}", p.tasks);
        assert!(has(Family::Energy, Resolution::Day), "{:?}", p.tasks);
        assert!(p
            .tasks
            .iter()
            .any(|t| matches!(t, Task::Overview { site: 1, .. })));
        // Nothing else: the other series are not behind.
        assert!(!has(Family::Energy, Resolution::QuarterHour));
        assert!(p
            .tasks
            .iter()
            .all(|t| !matches!(t, Task::Window { site: 2 | 3, .. })));
    }

    #[test]
    fn only_wanted_series_bring_their_rollups() {
        let now = at(2026, 11, 26, 12, 0);
        let mut i = input(now, Budget::default(), 0);
        // `--only power`: the harvester passes only the wanted series.
        for s in &mut i.sites {
            s.series = vec![Family::Power];
        }
        let p = plan(&i);
        assert!(p.tasks.iter().all(|t| !matches!(
            t,
            Task::Total { .. }
                | Task::Window {
                    family: Family::Energy,
                    ..
                }
        )));
    }
}
