//! Execution of a plan's tasks: series windows, lifetime totals, overview days and the
//! unwindowed families, each fetched, stored with its rows and cursor in one transaction,
//! and recorded in the report. Stops before a call the ledger says the budget cannot pay,
//! and hands back a re-plan when a window limit was learned or the clock was corrected.

use super::planner::{PlanInput, Task};
use super::report::Event;
use super::*;

impl Harvester<'_> {
    pub(super) fn execute(&mut self, tasks: &[Task], input: &PlanInput) -> Result<Next, Exit> {
        let usable = input.budget.budget.usable();
        let cycle_start = input.budget.cycle_start;
        for task in tasks {
            self.check_stop()?;
            // The ledger, not the plan, is the truth: retries cost credits too.
            let (_, used) = self.store.calls_since(cycle_start).map_err(Self::db)?;
            if u64::try_from(used).unwrap_or(0) >= usable {
                log::warn!("this cycle's usable credits are spent; the rest waits for the reset");
                return Ok(Next::Continue);
            }
            if self.given_up.contains(&task_family(task)) {
                continue;
            }
            match task {
                Task::Window {
                    site,
                    family,
                    res,
                    window,
                    ..
                } => {
                    if self.failed_series.contains(&(*site, *family, *res)) {
                        continue;
                    }
                    if let Next::Replan = self.window_task(*site, *family, *res, *window)? {
                        return Ok(Next::Replan);
                    }
                }
                Task::Total { site, .. } => self.total_task(*site)?,
                Task::Overview { site, day } => self.overview_task(*site, *day)?,
                Task::Site { site, family, .. } => self.unwindowed(*site, *family)?,
                Task::FleetAlerts => self.fleet_alerts_task()?,
                Task::SiteList => {
                    if let Err(e) = self.fetch_site_list() {
                        self.failed(FLEET_SITE_ID, Family::Sites, None, e)?;
                    }
                }
            }
            if self.clock_jumped {
                return Ok(Next::Replan);
            }
        }
        Ok(Next::Continue)
    }

    pub(super) fn tz(&self, site: SiteId) -> Option<Tz> {
        self.facts.get(&site).and_then(|f| f.tz)
    }

    /// One window of a windowed series, committed with its cursor.
    pub(super) fn window_task(
        &mut self,
        id: SiteId,
        fam: Family,
        res: Resolution,
        w: windows::Window,
    ) -> Result<Next, Exit> {
        let Some(tz) = self.tz(id) else {
            return Ok(Next::Continue);
        };
        let mut st = self.state(id, fam, Some(res))?;
        match self.series_window(fam, id, res, tz, w, &mut st) {
            Ok(_) => {
                self.succeeded(id, fam);
                Ok(Next::Continue)
            }
            Err(StepError::Api(api::Error::BadRequest {
                window_too_long: true,
                ..
            })) if w.to - w.from > Duration::minutes(15) => {
                // Halve and remember, so the same mistake is never paid twice.
                let half = (w.to - w.from).num_seconds() / 2;
                log::warn!(
                    "the API refused a {} window of {} s; using {} s from now on",
                    res.as_str(),
                    (w.to - w.from).num_seconds(),
                    half
                );
                self.store.set_learned_window(res, half).map_err(Self::db)?;
                self.settings.max_span.remove(&res);
                Ok(Next::Replan)
            }
            Err(e) => {
                self.failed_series.insert((id, fam, res));
                self.failed(id, fam, Some(res), e)?;
                Ok(Next::Continue)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn series_window(
        &mut self,
        fam: Family,
        id: SiteId,
        res: Resolution,
        tz: Tz,
        w: windows::Window,
        st: &mut SyncState,
    ) -> Result<usize, StepError> {
        let (path, query) = match fam.telemetry_kind() {
            Some(kind) => (
                api::telemetry::path(id, kind),
                api::telemetry::query(w.from, w.to, res, tz),
            ),
            None => {
                let metric = if fam == Family::Energy {
                    api::series::SiteMetric::Energy
                } else {
                    api::series::SiteMetric::Power
                };
                (
                    api::series::path(id, metric),
                    api::series::query(w.from, w.to, res, tz, None),
                )
            }
        };
        let f = self.get(&path, &query)?;
        let now = self.now();
        if w.to > now + clock::TOLERANCE {
            // Planned on a clock estimate that the answer showed to be ahead: the window
            // reaches into what does not exist yet. Its rows are fetched again by the plan
            // made on the server's time; none of it may look fetched.
            log::debug!(
                "site {id} {}: window {}..{} lies after the server's time; not stored",
                fam.name(),
                store::fmt_ts(&w.from),
                store::fmt_ts(&w.to)
            );
            return Ok(0);
        }
        // The settle boundary from the server's clock as known after this answer, not from
        // the plan: a plan made before the first answer of a run rests on an extrapolated
        // clock (stored anchor or local time) and may be hours ahead; a cursor moved past
        // the real boundary would never re-read late or still-running buckets.
        let settled = windows::settled_limit(res, now, self.settings.settle, tz);
        let mut next = st.clone();
        // A window inside the covered range refills a gap: the cursor stays, the gap goes.
        let refill = matches!((st.covered_from, st.covered_to), (Some(a), Some(b)) if w.from >= a && w.to <= b);
        let mut gaps = st.gaps();
        if refill {
            gaps.retain(|(a, b)| !(*a >= w.from && *b <= w.to));
        } else {
            let (cf, ct) = windows::advance(st.covered_from, st.covered_to, w, settled);
            next.covered_from = cf;
            next.covered_to = ct;
        }
        if res == Resolution::QuarterHour && !refill {
            if let Some(gap) = missing_range(fam, id, &f.body, w, now, tz) {
                log::warn!(
                    "site {id} {}: the API returned no buckets for {}..{}; scheduled again",
                    fam.name(),
                    store::fmt_ts(&gap.0),
                    store::fmt_ts(&gap.1)
                );
                self.report.event(Event::GapFound {
                    site: id,
                    family: fam,
                    from: gap.0,
                    to: gap.1,
                });
                gaps.push(gap);
            }
        }
        next.set_gaps(&gaps);
        // A window planned on a clock estimate that this answer corrected does not make
        // the series fresh: the plan made on the server's time fetches up to its now.
        if !self.clock_jumped {
            next.last_success = Some(now);
        }
        let rows = self.store(fam, Some(id), &query, &f, |tx, rows| {
            next.rows_last_run = Some(rows as i64);
            tx.set_sync_state(&next)
        })?;
        *st = next;
        Ok(rows)
    }

    /// Lifetime energy (`resolution=TOTAL` from installation).
    pub(super) fn total_task(&mut self, id: SiteId) -> Result<(), Exit> {
        let Some(tz) = self.tz(id) else { return Ok(()) };
        let st = self.state(id, Family::Energy, Some(Resolution::Total))?;
        let now = self.now();
        let install = self.facts.get(&id).and_then(|f| f.install);
        let from = install.unwrap_or(now - Duration::days(365 * 30));
        let to = api::time::start_of_bucket(now, Resolution::QuarterHour, tz);
        let query = api::series::query(from, to, Resolution::Total, tz, None);
        let result = self
            .get(
                &api::series::path(id, api::series::SiteMetric::Energy),
                &query,
            )
            .and_then(|f| {
                if to > self.now() + clock::TOLERANCE {
                    // Planned on a clock estimate that the answer showed to be ahead.
                    log::debug!("site {id} lifetime energy: asked up to {to}, after the server's time; not stored");
                    return Ok(0);
                }
                let mut s = st.clone();
                s.covered_from = Some(from);
                s.covered_to = Some(to);
                s.last_success = Some(now);
                self.store(Family::Energy, Some(id), &query, &f, |tx, rows| {
                    s.rows_last_run = Some(rows as i64);
                    tx.set_sync_state(&s)
                })
            });
        match result {
            Ok(_) => Ok(()),
            Err(e) => self.failed(id, Family::Energy, Some(Resolution::Total), e),
        }
    }

    /// `/overview` of one final site-local day.
    pub(super) fn overview_task(&mut self, id: SiteId, day: chrono::NaiveDate) -> Result<(), Exit> {
        let Some(tz) = self.tz(id) else { return Ok(()) };
        let st = self.state(id, Family::Overview, None)?;
        let query = api::overview::day_query(day, tz);
        let result = self.get(&api::overview::path(id), &query).and_then(|f| {
            let now = self.now();
            if day > api::time::local_day_of(now, tz) {
                // Planned on a clock estimate that was ahead: the day has not begun.
                log::debug!("site {id} overview: {day} has not begun on the server; not stored");
                return Ok(0);
            }
            let mut s = st.clone();
            s.covered_to =
                windows::overview_advance(st.covered_to, day, now, self.settings.settle, tz);
            if s.covered_from.is_none() {
                s.covered_from = Some(api::time::local_midnight(day, tz));
            }
            s.last_success = Some(now);
            self.store(Family::Overview, Some(id), &query, &f, |tx, rows| {
                s.rows_last_run = Some(rows as i64);
                tx.set_sync_state(&s)
            })
        });
        match result {
            Ok(_) => {
                self.succeeded(id, Family::Overview);
                Ok(())
            }
            Err(e) => self.failed(id, Family::Overview, None, e),
        }
    }

    /// Details, devices, benefits, site alerts or power flow: fetch, store, record.
    pub(super) fn unwindowed(&mut self, id: SiteId, fam: Family) -> Result<(), Exit> {
        let mut st = self.state(id, fam, None)?;
        let (path, query) = match fam {
            Family::Details => (api::sites::details_path(id), Vec::new()),
            Family::Devices => (api::devices::path(id), api::devices::query()),
            Family::Benefits => (api::benefits::path(id), api::benefits::query()),
            Family::PowerFlow => (api::power_flow::path(id), Vec::new()),
            Family::Alerts => (String::new(), Vec::new()),
            other => unreachable!("{} is not an unwindowed site family", other.name()),
        };
        let result = match fam {
            Family::Alerts => self.site_alerts(id, &st),
            _ => match self.get(&path, &query) {
                Ok(f) => {
                    // The cursor commits with the rows (one transaction, as for series).
                    let cursor = done(&st, self.now(), fam == Family::PowerFlow);
                    self.store(fam, Some(id), &query, &f, cursor)
                }
                Err(StepError::Api(api::Error::Forbidden { tier: true, .. }))
                    if fam == Family::PowerFlow =>
                {
                    log::info!("site {id}: power flow needs a higher API tier; skipped until `seh sync --full` or a new key");
                    st.extra = Some(
                        serde_json::json!({ "tier_denied": self.settings.fingerprint }).to_string(),
                    );
                    st.last_error = Some("power flow needs a higher API tier".into());
                    st.last_error_at = Some(self.now());
                    self.store.set_sync_state(&st).map_err(Self::db)?;
                    self.report.skip(id, "power_flow: tier");
                    return Ok(());
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(_) => {
                if fam == Family::Devices || fam == Family::Details {
                    // Planning depends on these; refresh the cached facts.
                    if let Some(f) = self.facts.get(&id).cloned() {
                        let mut fresh = self.read_facts(id)?;
                        fresh.id = f.id;
                        self.facts.insert(id, fresh);
                    }
                }
                self.succeeded(id, fam);
                Ok(())
            }
            Err(e) => self.failed(id, fam, None, e),
        }
    }

    /// Every page of a site's alerts; the cursor commits with the last page.
    pub(super) fn site_alerts(&mut self, id: SiteId, st: &SyncState) -> Result<usize, StepError> {
        const PAGE: u32 = 100;
        let mut rows = 0;
        for page in 1.. {
            let query = api::alerts::query(page, PAGE, None);
            let f = self.get(&api::alerts::path(id), &query)?;
            let n = self
                .parse_or_keep(Family::Alerts, Some(id), &query, &f, |b| {
                    api::alerts::parse(Some(id), b)
                })?
                .len();
            let last = api::alerts::is_last_page(n, PAGE);
            let cursor = done(st, self.now(), false);
            let before = rows;
            rows += self.store(Family::Alerts, Some(id), &query, &f, |tx, r| {
                if last {
                    cursor(tx, before + r)
                } else {
                    Ok(())
                }
            })?;
            if last {
                break;
            }
        }
        Ok(rows)
    }

    pub(super) fn fleet_alerts_task(&mut self) -> Result<(), Exit> {
        const PAGE: u32 = 100;
        let st = self.state(FLEET_SITE_ID, Family::FleetAlerts, None)?;
        let mut rows = 0;
        let mut result = Ok(());
        for page in 1.. {
            let query = api::alerts::query(page, PAGE, None);
            let step = self.get(api::alerts::fleet_path(), &query).and_then(|f| {
                let n = self
                    .parse_or_keep(Family::FleetAlerts, None, &query, &f, |b| {
                        api::alerts::parse(None, b)
                    })?
                    .len();
                // The cursor commits with the last page (one transaction).
                let last = api::alerts::is_last_page(n, PAGE);
                let cursor = done(&st, self.now(), false);
                let before = rows;
                rows += self.store(Family::FleetAlerts, None, &query, &f, |tx, r| {
                    if last {
                        cursor(tx, before + r)
                    } else {
                        Ok(())
                    }
                })?;
                Ok(last)
            });
            match step {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        match result {
            Ok(()) => {
                self.succeeded(FLEET_SITE_ID, Family::FleetAlerts);
                Ok(())
            }
            Err(e) => self.failed(FLEET_SITE_ID, Family::FleetAlerts, None, e),
        }
    }
}

/// The cursor of an unwindowed family after a complete fetch at `now` of `rows` rows,
/// written inside the transaction that stores them. Power flow forgets a tier refusal.
fn done(
    st: &SyncState,
    now: DateTime<Utc>,
    clear_extra: bool,
) -> impl FnOnce(&mut store::Tx<'_>, usize) -> Result<(), store::Error> {
    let mut next = st.clone();
    move |tx, rows| {
        next.last_success = Some(now);
        next.rows_last_run = Some(rows as i64);
        if clear_extra {
            next.extra = None;
        }
        tx.set_sync_state(&next)
    }
}

/// The family a task fetches.
fn task_family(task: &Task) -> Family {
    match task {
        Task::Window { family, .. } | Task::Site { family, .. } => *family,
        Task::Total { .. } => Family::Energy,
        Task::Overview { .. } => Family::Overview,
        Task::FleetAlerts => Family::FleetAlerts,
        Task::SiteList => Family::Sites,
    }
}

/// The range of quarter-hour buckets a response should have had but did not (the API
/// answers `null` for buckets without data, so a missing bucket is a gap, not a night).
fn missing_range(
    fam: Family,
    site: SiteId,
    body: &str,
    w: windows::Window,
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let stamps: BTreeSet<DateTime<Utc>> = match fam.telemetry_kind() {
        None => api::series::parse(site, body, Resolution::QuarterHour)
            .ok()?
            .0
            .series
            .points
            .iter()
            .map(|p| p.ts_utc)
            .collect(),
        Some(kind) => {
            let (items, _) =
                api::telemetry::parse(site, kind, body, Resolution::QuarterHour).ok()?;
            if items.is_empty() {
                return None; // no devices reported at all: nothing to compare
            }
            items
                .iter()
                // Voltage, current and frequency are stamped at the bucket end.
                .filter(|t| !matches!(t.metric.as_str(), "voltage" | "current" | "frequency"))
                .flat_map(|t| t.series.points.iter().map(|p| p.ts_utc))
                .collect()
        }
    };
    if stamps.is_empty() {
        return None; // an empty answer (no data yet, e.g. a new site) is not a gap
    }
    let first = *stamps.iter().next()?;
    let end =
        w.to.min(api::time::start_of_bucket(now, Resolution::QuarterHour, tz));
    let missing: Vec<DateTime<Utc>> =
        api::time::bucket_starts(first, end, Resolution::QuarterHour, tz)
            .into_iter()
            .filter(|b| !stamps.contains(b))
            .collect();
    let a = *missing.first()?;
    let b = *missing.last()? + Duration::minutes(15);
    Some((a, b))
}
