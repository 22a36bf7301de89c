//! Orchestration of a sync: which sites, which families, which windows, in what order, and
//! what to do when something fails. Knows `api` and `store`; writes no SQL and opens no
//! socket itself.
//!
//! Every successful response is stored in one transaction together with the rows derived
//! from it ([`family::apply`]) and the advanced cursor, so a crash (or `kill -9`) can never
//! leave rows without their cursor or a cursor without its rows; the next run resumes from
//! the last committed window.
//!
//! Failure policy: an error in one family of one site is recorded and the run carries on
//! with the rest (exit 1). Errors that make every further call pointless or harmful end
//! the run at once: a rejected credential or a V1 URL (exit 2), a database that cannot be
//! written (exit 4), exhausted monthly credits (exit 5), Ctrl-C (exit 130).

pub mod family;
pub mod planner;
pub mod report;
pub mod windows;

use planner::{Cursor, Plan, PlanInput, Priority, SiteInput, Task};

use crate::api::{self, Client, Fetched};
use crate::budget::{Budget, BudgetView};
use crate::clock;
use crate::exit::Exit;
use crate::model::{Resolution, SiteId};
use crate::store::{self, RawResponse, Store, SyncState, FLEET_SITE_ID};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
pub use family::Family;
use report::Report;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a sync behaves; built by `commands::sync` from the configuration and flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Plan as if no cadence limited freshness this run (still within the budget), and
    /// retry families skipped for tier reasons.
    pub full: bool,
    /// `None`: every family.
    pub only: Option<Vec<Family>>,
    /// `None`: every site the credential sees (after include/exclude).
    pub sites: Option<Vec<SiteId>>,
    pub include: Vec<SiteId>,
    pub exclude: Vec<SiteId>,
    /// `[sites] timezone`: zones for sites the API sends none for.
    pub timezones: BTreeMap<SiteId, Tz>,
    /// How far back a new series starts (history then reaches installation in the
    /// background, paced by the budget); also the overview days of a first run.
    pub initial_days: u32,
    pub settle: Duration,
    /// Fleet `/alerts` (one call) instead of one `/sites/{id}/alerts` per site.
    pub fleet_alerts: bool,
    /// The credential is a Fleet key (may call `/sites` and fleet `/alerts`).
    pub fleet: bool,
    /// Sites with an OAuth grant. A Fleet-key harvest leaves those outside its own listing
    /// to their grants.
    pub grant_sites: Vec<SiteId>,
    /// Window overrides per resolution.
    pub max_span: BTreeMap<Resolution, Duration>,
    /// Changes when the credential or base URL changes; a recorded tier refusal is retried
    /// then.
    pub fingerprint: String,
    pub budget: Budget,
    /// Freshness cadence pinned per family, and an alerts cadence.
    pub pinned: BTreeMap<Family, Duration>,
    pub alerts_every: Option<Duration>,
    /// Most quarter-hour history calls one run makes.
    pub max_deep_per_run: u64,
}

/// Why a single fetch-and-store step failed.
#[derive(Debug)]
pub enum StepError {
    Api(api::Error),
    Apply(family::ApplyError),
    Store(store::Error),
    /// The one call allowed while the credits are blocked was made and did not lift the
    /// block: no further call this run.
    CreditsBlocked,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Api(e) => e.fmt(f),
            StepError::Apply(e) => e.fmt(f),
            StepError::Store(e) => e.fmt(f),
            StepError::CreditsBlocked => {
                f.write_str("no further calls while the monthly credits are blocked")
            }
        }
    }
}

impl From<store::Error> for StepError {
    fn from(e: store::Error) -> Self {
        StepError::Store(e)
    }
}

impl From<family::ApplyError> for StepError {
    fn from(e: family::ApplyError) -> Self {
        match e {
            family::ApplyError::Store(s) => StepError::Store(s),
            other => StepError::Apply(other),
        }
    }
}

impl StepError {
    /// The exit code when this error must end the whole run; `None` when only the current
    /// family failed.
    pub fn fatal(&self) -> Option<Exit> {
        match self {
            StepError::Api(api::Error::Interrupted) => Some(Exit::Interrupted),
            StepError::Api(api::Error::CreditsExhausted { .. }) | StepError::CreditsBlocked => {
                Some(Exit::Credits)
            }
            StepError::Api(api::Error::Unauthorized { .. } | api::Error::Gone) => {
                Some(Exit::Config)
            }
            StepError::Store(e) => match e {
                store::Error::Invalid { .. } => None,
                _ => Some(Exit::Database),
            },
            _ => None,
        }
    }
}

/// What the harvester reads about a site before planning it.
#[derive(Clone, Debug)]
struct SiteFacts {
    id: SiteId,
    tz: Option<Tz>,
    install: Option<DateTime<Utc>>,
    active: bool,
    device_types: Vec<String>,
}

impl SiteFacts {
    /// Quarter-hour series the site has: energy and power always, telemetry only for
    /// device types in the inventory (no battery, no storage call).
    fn series(&self) -> Vec<Family> {
        // Words compared without regard to case: hand-written bodies say "Inverter".
        let has = |t: &str| self.device_types.iter().any(|d| d.eq_ignore_ascii_case(t));
        let mut v = vec![Family::Energy, Family::Power];
        if has("INVERTER") {
            v.push(Family::InverterTelemetry);
        }
        if has("METER") {
            v.push(Family::MeterTelemetry);
        }
        if has("BATTERY") {
            v.push(Family::StorageTelemetry);
        }
        v
    }
}

/// What the executor does after a task.
enum Next {
    Continue,
    /// A window limit was learned: plan again with it.
    Replan,
}

/// While credits are blocked, at most one call every this long checks whether SolarEdge
/// still refuses (a misread 429 would otherwise mean a month of silence).
pub const PROBE_EVERY: Duration = Duration::hours(3);

/// A family whose calls fail on the server's side this many times in a row (each after
/// the client's own retries) is left alone for the rest of the run: an outage of one
/// endpoint must not be paid for window by window.
pub const SERVER_ERRORS_IN_A_ROW: u32 = 3;

/// The state of the one call that tests a credit block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// No block, or it was lifted.
    None,
    /// The next call tests the block.
    Pending,
    /// It was made and did not lift the block.
    Spent,
}

/// Stored JSON of `seh_sync_state.extra` for series: detected gaps.
fn gaps_of(st: &SyncState) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    st.extra
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .and_then(|v| v.get("gaps").cloned())
        .and_then(|g| serde_json::from_value::<Vec<(String, String)>>(g).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(a, b)| {
            Some((
                api::time::parse_ts(&a).ok()?.0,
                api::time::parse_ts(&b).ok()?.0,
            ))
        })
        .collect()
}

fn set_gaps(st: &mut SyncState, gaps: &[(DateTime<Utc>, DateTime<Utc>)]) {
    st.extra = if gaps.is_empty() {
        None
    } else {
        let list: Vec<(String, String)> = gaps
            .iter()
            .map(|(a, b)| (store::fmt_ts(a), store::fmt_ts(b)))
            .collect();
        Some(serde_json::json!({ "gaps": list }).to_string())
    };
}

/// One sync run.
pub struct Harvester<'a> {
    client: &'a mut Client,
    store: &'a mut Store,
    settings: Settings,
    stop: Arc<AtomicBool>,
    facts: BTreeMap<SiteId, SiteFacts>,
    /// Series that failed this run: their remaining windows are skipped so the cursor
    /// stays contiguous.
    failed_series: BTreeSet<(SiteId, Family, Resolution)>,
    /// Whether this run learned the server's clock yet (see `note_server_clock`).
    clock_stored: bool,
    /// The server's first answer showed that the current plan rests on a clock estimate
    /// that is more than [`clock::TOLERANCE`] off: plan again before the next call.
    clock_jumped: bool,
    /// A credit block is being tested with one call (see `credit_block`).
    probe: Probe,
    /// The run started from a stored clock anchor (not a first run).
    had_anchor: bool,
    /// Activation status words already warned about this run.
    unknown_words: BTreeSet<String>,
    /// Server-side failures (5xx, network) in a row per family, and the families given up
    /// for the rest of the run after [`SERVER_ERRORS_IN_A_ROW`] of them.
    server_errors: BTreeMap<Family, u32>,
    given_up: BTreeSet<Family>,
    pub report: Report,
    /// The plan of the last planning round, for the summary.
    pub plan: Option<Plan>,
}

impl<'a> Harvester<'a> {
    pub fn new(
        client: &'a mut Client,
        store: &'a mut Store,
        settings: Settings,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Harvester {
            client,
            store,
            settings,
            stop,
            facts: BTreeMap::new(),
            failed_series: BTreeSet::new(),
            clock_stored: false,
            clock_jumped: false,
            probe: Probe::None,
            had_anchor: false,
            unknown_words: BTreeSet::new(),
            server_errors: BTreeMap::new(),
            given_up: BTreeSet::new(),
            report: Report::default(),
            plan: None,
        }
    }

    /// The server's "now" (from its `Date` header): a Raspberry Pi has no real-time clock
    /// and may boot with a wrong time, and a simulator runs on virtual time; planning on the
    /// server's clock is right in both cases.
    fn now(&self) -> DateTime<Utc> {
        self.client.server_now()
    }

    fn wants(&self, f: Family) -> bool {
        self.settings.only.as_ref().is_none_or(|o| o.contains(&f))
    }

    fn wants_site(&self, id: SiteId) -> bool {
        let s = &self.settings;
        s.sites.as_ref().is_none_or(|v| v.contains(&id))
            && (s.include.is_empty() || s.include.contains(&id))
            && !s.exclude.contains(&id)
    }

    /// Runs the whole sync; the report says what happened and which exit code it earns.
    pub fn run(mut self) -> (Report, Option<Plan>) {
        if let Err(exit) = self.run_inner() {
            self.report.fatal(exit);
        }
        (self.report, self.plan)
    }

    /// What the next run would do, without any call: for `seh plan`.
    pub fn preview(mut self) -> Result<(PlanInput, Plan), Exit> {
        if let Ok(Some(anchor)) = self.store.clock_anchor() {
            self.client.set_clock_anchor(anchor);
        }
        let mut ids = self.known_sites()?;
        ids.retain(|id| self.wants_site(*id));
        for id in ids {
            let facts = self.read_facts(id)?;
            self.facts.insert(id, facts);
        }
        let input = self.plan_input()?;
        let plan = planner::plan(&input);
        Ok((input, plan))
    }

    fn run_inner(&mut self) -> Result<(), Exit> {
        if let Ok(Some(anchor)) = self.store.clock_anchor() {
            self.client.set_clock_anchor(anchor);
            self.had_anchor = true;
            if let Some(off) = anchor.notable_offset() {
                log::debug!("clock: at the last answer {}", clock::describe_offset(off));
            }
        }
        self.store
            .set_clock(self.client.anchor_now(), self.client.time_scale());
        let result = self.run_planned();
        // Without an answer this run, this keeps the estimate (never earlier than the last
        // known server time) for the next run.
        if let Err(e) = self.store.set_clock_anchor(self.client.anchor_now()) {
            log::debug!("could not store the server clock: {e}");
        }
        result
    }

    fn db(e: store::Error) -> Exit {
        StepError::Store(e).fatal().unwrap_or(Exit::Database)
    }

    /// Credits used this cycle, from the ledger (the single truth shared by every process).
    pub fn budget_view(
        store: &Store,
        budget: Budget,
        now: DateTime<Utc>,
    ) -> Result<BudgetView, store::Error> {
        let start = budget.cycle_start(now);
        let (_, credits) = store.calls_since(start)?;
        Ok(BudgetView::new(
            budget,
            now,
            u64::try_from(credits).unwrap_or(0),
        ))
    }

    fn run_planned(&mut self) -> Result<(), Exit> {
        self.credit_block()?;
        self.discover()?;
        for _round in 0..8 {
            // This plan rests on the best clock known now; only a later first answer can
            // show that it was a wrong estimate.
            self.clock_jumped = false;
            let input = self.plan_input()?;
            let plan = planner::plan(&input);
            log::info!(
                "plan: {} calls ({} fresh, {} history, {} deep, {} slow); {} credits left this cycle; freshness every {}",
                plan.cost(),
                plan.tasks.iter().filter(|t| t.priority() == Priority::Fresh).count(),
                plan.tasks.iter().filter(|t| t.priority() == Priority::Cheap).count(),
                plan.tasks.iter().filter(|t| t.priority() == Priority::Deep).count(),
                plan.tasks.iter().filter(|t| t.priority() == Priority::Slow).count(),
                input.budget.left(),
                plan.cadence.values().next().map_or("-".to_string(), |c| planner::human(*c)),
            );
            for note in &plan.notes {
                log::info!("plan: {note}");
            }
            if input.budget.left() == 0 {
                log::warn!(
                    "this cycle's budget ({} credits, {} kept in reserve) is used up; fetching resumes at {}",
                    input.budget.budget.monthly_credits,
                    input.budget.budget.reserve,
                    store::fmt_ts(&input.budget.next_reset)
                );
            }
            let tasks = plan.tasks.clone();
            self.plan = Some(plan);
            match self.execute(&tasks, &input)? {
                Next::Continue => return Ok(()),
                Next::Replan => continue,
            }
        }
        Ok(())
    }

    /// Whether a recorded credit block still holds, judged on the server's clock (the
    /// estimate until the first answer). A block whose renewal has passed is lifted. A
    /// block can also be wrong (a 429 misread, or a server that changed its mind), so
    /// while it holds one call is allowed every [`PROBE_EVERY`]: an answer lifts it.
    fn credit_block(&mut self) -> Result<(), Exit> {
        let Some(until) = self.store.credits_blocked_until().map_err(Self::db)? else {
            return Ok(());
        };
        let now = self.now();
        if now >= until {
            log::info!(
                "the monthly API credits renewed at {}; fetching resumes",
                store::fmt_ts(&until)
            );
            return self.store.clear_credits_block().map_err(Self::db);
        }
        let last = self.store.last_call_at().map_err(Self::db)?;
        if let Some(next) = last.map(|l| l + PROBE_EVERY).filter(|p| now < *p) {
            log::error!(
                "the monthly API credits are exhausted; seh makes no calls until they renew at {} \
                 (one call at {} checks whether SolarEdge still refuses)",
                store::fmt_ts(&until),
                store::fmt_ts(&next)
            );
            return Err(Exit::Credits);
        }
        log::warn!(
            "the monthly API credits were exhausted until {}; one call checks whether SolarEdge \
             still refuses",
            store::fmt_ts(&until)
        );
        self.probe = Probe::Pending;
        Ok(())
    }

    /// After every answer: the first one of the run gives the server's clock. Stored at
    /// once (a run killed later must still leave the next one a clock to plan on), used
    /// for the times seh writes, and compared with the estimate the plan was made on.
    fn note_server_clock(&mut self) {
        if self.clock_stored || !self.client.has_server_time() {
            return;
        }
        self.clock_stored = true;
        let anchor = self.client.anchor_now();
        self.store.set_clock(anchor, self.client.time_scale());
        if let Err(e) = self.store.set_clock_anchor(anchor) {
            log::debug!("could not store the server clock: {e}");
        }
        if let Some(c) = self.client.clock_correction() {
            if c.abs() > clock::TOLERANCE && !self.had_anchor {
                // A first run planned nothing before this answer: only worth a note.
                log::info!(
                    "the local clock is {} {} SolarEdge's; seh follows SolarEdge's time",
                    clock::human(c),
                    if c > Duration::zero() {
                        "behind"
                    } else {
                        "ahead of"
                    }
                );
            } else if c.abs() > clock::TOLERANCE {
                let way = if c > Duration::zero() {
                    "behind"
                } else {
                    "ahead of"
                };
                log::warn!(
                    "seh's clock estimate was {} {way} SolarEdge's (the local clock changed since \
                     the last run); planning on SolarEdge's time",
                    clock::human(c)
                );
                self.clock_jumped = true;
            }
        }
    }

    /// A family of a site succeeded: record it, and its server failures in a row end.
    fn succeeded(&mut self, site: SiteId, fam: Family) {
        self.server_errors.remove(&fam);
        self.report.ok(site, fam);
    }

    fn check_stop(&self) -> Result<(), Exit> {
        if self.stop.load(Ordering::SeqCst) {
            Err(Exit::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Handle a failed step: fatal ones end the run, others are recorded for the family.
    fn failed(
        &mut self,
        site: SiteId,
        fam: Family,
        res: Option<Resolution>,
        e: StepError,
    ) -> Result<(), Exit> {
        if let StepError::Api(a) = &e {
            self.report.api_error(a);
        }
        if let StepError::Api(api::Error::CreditsExhausted { .. }) = &e {
            let until = self.settings.budget.next_reset(self.now());
            log::error!(
                "SolarEdge says the monthly API credits are exhausted; no calls until {}",
                store::fmt_ts(&until)
            );
            if let Err(se) = self.store.set_credits_blocked_until(until) {
                log::warn!("could not record the credit block: {se}");
            }
        }
        if let Some(exit) = e.fatal() {
            if exit != Exit::Interrupted {
                log::error!("site {site} {}: {e}", fam.name());
            }
            self.report.error(site, fam, e.to_string());
            return Err(exit);
        }
        log::warn!("site {site} {}: {e}", fam.name());
        if let StepError::Api(api::Error::Server { .. } | api::Error::Transport { .. }) = &e {
            let n = self.server_errors.entry(fam).or_default();
            *n += 1;
            if *n >= SERVER_ERRORS_IN_A_ROW && self.given_up.insert(fam) {
                log::warn!(
                    "{}: {n} server failures in a row; no more {} calls this run (the next run \
                     tries again)",
                    fam.name(),
                    fam.name()
                );
            }
        }
        let now = self.now();
        let msg = e.to_string();
        self.store
            .record_error(site, fam.name(), res, &msg, now)
            .map_err(Self::db)?;
        self.report.error(site, fam, msg);
        Ok(())
    }

    /// GET (counted in the report).
    fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Fetched, StepError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(StepError::Api(api::Error::Interrupted));
        }
        if self.probe == Probe::Spent {
            return Err(StepError::CreditsBlocked);
        }
        let result = self.client.get(path, query);
        self.note_server_clock();
        if self.probe == Probe::Pending {
            match &result {
                Ok(_) => {
                    log::info!("SolarEdge answered again; the credit block is lifted");
                    self.probe = Probe::None;
                    self.store.clear_credits_block()?;
                }
                // Not an answer either way: the next run asks again.
                Err(api::Error::Interrupted) => {}
                // A new 429 renews the block (`failed`); anything else keeps it.
                Err(_) => self.probe = Probe::Spent,
            }
        }
        let f = result.map_err(StepError::Api)?;
        self.report.calls += 1;
        Ok(f)
    }

    /// Archive `f`, derive its rows and run `cursor` (which updates sync state) in one
    /// transaction. Returns rows inserted or changed. A body the parser rejects is kept
    /// all the same (see [`Harvester::keep_unreadable`]).
    fn store(
        &mut self,
        fam: Family,
        site: Option<SiteId>,
        query: &[(&str, String)],
        f: &Fetched,
        cursor: impl FnOnce(&mut store::Tx<'_>, usize) -> Result<(), store::Error>,
    ) -> Result<usize, StepError> {
        let raw = raw_response(fam, site, query, f);
        let result = self.store.transaction(|tx| -> Result<usize, StepError> {
            let rows = family::apply(tx, fam, site, &raw.query, &f.body, f.fetched_at)?;
            tx.archive_raw(&raw)?;
            cursor(tx, rows)?;
            Ok(rows)
        });
        match result {
            Ok(rows) => {
                self.report.rows += rows as u64;
                Ok(rows)
            }
            Err(StepError::Apply(family::ApplyError::Parse(e))) => {
                Err(self.keep_unreadable(raw, e))
            }
            Err(e) => Err(e),
        }
    }

    /// A 2xx body the parser rejects: its credit is spent and a later seh may read it, so
    /// it is archived (without rows, cursor untouched) marked with the reason, and the
    /// ledger row of its call says so too. `status` shows such bodies; `reprocess` retries
    /// them. Returns the step error for the family.
    fn keep_unreadable(&mut self, mut raw: RawResponse, e: api::ParseError) -> StepError {
        let why = e.to_string();
        raw.unreadable = Some(why.clone());
        if let Err(se) = self.store.transaction(|tx| tx.archive_raw(&raw)) {
            return StepError::Store(se);
        }
        if let Err(se) = self.store.note_call_unreadable(&raw.path, &why) {
            log::warn!("could not note the unreadable body in the ledger: {se}");
        }
        StepError::Apply(family::ApplyError::Parse(e))
    }

    /// Parses `f` with `parse` before storing it (to page or to read the listing); a body
    /// the parser rejects is kept as in [`Harvester::store`].
    fn parse_or_keep<T>(
        &mut self,
        fam: Family,
        site: Option<SiteId>,
        query: &[(&str, String)],
        f: &Fetched,
        parse: impl FnOnce(&str) -> Result<T, api::ParseError>,
    ) -> Result<T, StepError> {
        parse(&f.body).map_err(|e| self.keep_unreadable(raw_response(fam, site, query, f), e))
    }

    fn state(&self, site: SiteId, fam: Family, res: Option<Resolution>) -> Result<SyncState, Exit> {
        self.store
            .get_sync_state(site, fam.name(), res)
            .map(|s| s.unwrap_or_else(|| SyncState::new(site, fam.name(), res)))
            .map_err(Self::db)
    }

    // ----- discovery ----------------------------------------------------------------------

    /// Sites to harvest and their facts. The site list is read when none is known (later
    /// it is a slow task of the plan); details and devices of a site are read when missing,
    /// because planning needs its time zone, installation date and inventory.
    fn discover(&mut self) -> Result<(), Exit> {
        // A Fleet key harvests the sites of its own `/sites` listing, never the others the
        // database knows (a homeowner's granted site outside the key's account would answer
        // 403 to every call). Without a recorded listing (a new database, or one from before
        // listings were recorded) it is fetched first.
        // `--only` bounds discovery too: a family left out is never called for, and what
        // it would have told is taken from the database as far as it is known.
        if self.settings.fleet && self.wants(Family::Sites) && self.fleet_listing()?.is_none() {
            match self.fetch_site_list() {
                Ok(_) => {}
                Err(StepError::Api(api::Error::NotFound { .. })) => {
                    let msg = api::sites::list_not_found(self.client.base_url());
                    log::error!("{msg}");
                    self.report.error(FLEET_SITE_ID, Family::Sites, msg);
                    return Err(Exit::Config);
                }
                Err(e) => self.failed(FLEET_SITE_ID, Family::Sites, None, e)?,
            }
        }
        let listing = if self.settings.fleet {
            self.fleet_listing()?
        } else {
            None
        };
        let mut ids = match &listing {
            Some(listed) => listed.clone(),
            None => self.known_sites()?,
        };
        if let Some(listed) = &listing {
            // A site harvested before that the key no longer lists (moved to another
            // account, or access withdrawn) keeps its data but gets no calls; say so on
            // every run, not only the first, so it cannot go quiet unnoticed.
            for id in self.known_sites()? {
                if !listed.contains(&id)
                    && !self.settings.grant_sites.contains(&id)
                    && self.wants_site(id)
                {
                    log::warn!(
                        "site {id} is no longer in the Fleet key's site list; its data is kept \
                         and nothing new is fetched (add it to [sites] exclude to silence this)"
                    );
                    self.report.skip(id, "not in the key's site list");
                }
            }
            for id in &self.settings.include {
                if !listed.contains(id) && !self.settings.grant_sites.contains(id) {
                    log::warn!(
                        "site {id} of [sites] include is not in the Fleet key's site list and \
                         has no OAuth grant; it is not harvested"
                    );
                }
            }
        }
        if let Some(explicit) = &self.settings.sites {
            for id in explicit {
                // A site named on the command line that the key's listing lacks is tried
                // with the key, unless a grant harvests it.
                let granted_elsewhere = listing.is_some() && self.settings.grant_sites.contains(id);
                if !ids.contains(id) && !granted_elsewhere {
                    ids.push(*id);
                }
            }
        }
        ids.retain(|id| self.wants_site(*id));
        ids.sort_unstable();
        let mut left_out = Vec::new();
        for id in ids {
            for fam in [Family::Details, Family::Devices] {
                if self.state(id, fam, None)?.last_success.is_none() {
                    if !self.wants(fam) {
                        left_out.push((id, fam));
                        continue;
                    }
                    self.check_stop()?;
                    self.unwindowed(id, fam, Priority::Slow)?;
                }
            }
            let facts = self.read_facts(id)?;
            self.note_unknown_status(id)?;
            if !facts.active {
                log::info!("site {id} is not active yet; only its details and devices are read");
                self.report.skip(id, "not active");
            } else if facts.tz.is_none()
                && self
                    .state(id, Family::Details, None)?
                    .last_success
                    .is_some()
            {
                // Windows are whole local days and quarter-hours: without a zone none can
                // be asked for. Never a silent hole: say so, fail the family, offer a way.
                let msg = format!(
                    "SolarEdge sends no time zone for site {id}, so none of its series can be \
                     fetched; set [sites] timezone = {{ {id} = \"Area/City\" }} in seh.toml"
                );
                log::warn!("site {id}: {msg}");
                self.report.error(id, Family::Details, msg);
            }
            self.facts.insert(id, facts);
        }
        if !left_out.is_empty() {
            let names: BTreeSet<&str> = left_out.iter().map(|(_, f)| f.name()).collect();
            let sites: BTreeSet<SiteId> = left_out.iter().map(|(s, _)| *s).collect();
            log::info!(
                "--only leaves out {} of {} site(s) not read yet; their series wait for a sync \
                 that reads them",
                names.into_iter().collect::<Vec<_>>().join(" and "),
                sites.len()
            );
        }
        Ok(())
    }

    /// Warns (once per word and run) about an activation status seh does not know; such a
    /// site is treated as active.
    fn note_unknown_status(&mut self, id: SiteId) -> Result<(), Exit> {
        let rows = self.store.site_rows().map_err(Self::db)?;
        let word = rows
            .into_iter()
            .find(|r| r.site_id == id)
            .and_then(|r| r.activation_status)
            .filter(|w| !KNOWN_STATUSES.iter().any(|k| k.eq_ignore_ascii_case(w)));
        if let Some(w) = word {
            if self.unknown_words.insert(w.to_ascii_uppercase()) {
                log::warn!("site {id}: unknown activation status {w:?}; harvested as if ACTIVE");
            }
        }
        Ok(())
    }

    /// The site ids of this Fleet key's last complete `/sites` listing, if one is recorded.
    fn fleet_listing(&self) -> Result<Option<Vec<SiteId>>, Exit> {
        (self.store)
            .fleet_listing(&self.settings.fingerprint)
            .map_err(Self::db)
    }

    fn known_sites(&self) -> Result<Vec<SiteId>, Exit> {
        self.store
            .site_rows()
            .map(|v| v.into_iter().map(|s| s.site_id).collect())
            .map_err(Self::db)
    }

    fn fetch_site_list(&mut self) -> Result<usize, StepError> {
        const PAGE: u32 = 1000;
        let mut page = 1;
        let mut total = 0;
        let mut listed = Vec::new();
        loop {
            let query = api::sites::list_query(page, PAGE);
            let f = self.get(api::sites::list_path(), &query)?;
            let (sites, len) =
                self.parse_or_keep(Family::Sites, None, &query, &f, api::sites::parse_list)?;
            listed.extend(sites.iter().map(|s| s.site_id));
            let last = api::sites::is_last_page(len, PAGE);
            let now = self.now();
            let extra = store::fleet_listing_extra(&listed, &self.settings.fingerprint);
            total += self.store(Family::Sites, None, &query, &f, |tx, rows| {
                if last {
                    let mut s = SyncState::new(FLEET_SITE_ID, Family::Sites.name(), None);
                    s.last_success = Some(now);
                    s.rows_last_run = Some(rows as i64);
                    s.extra = Some(extra);
                    tx.set_sync_state(&s)?;
                }
                Ok(())
            })?;
            if last {
                return Ok(total);
            }
            page += 1;
        }
    }

    fn read_facts(&self, id: SiteId) -> Result<SiteFacts, Exit> {
        let row = self
            .store
            .site_rows()
            .map_err(Self::db)?
            .into_iter()
            .find(|s| s.site_id == id);
        let device_types = self.store.device_types(id).map_err(Self::db)?;
        let configured = self.settings.timezones.get(&id).copied();
        let (tz, install, active) = match row {
            Some(r) => (
                r.timezone
                    .as_deref()
                    .and_then(|z| z.parse::<Tz>().ok())
                    .or(configured),
                r.installation_date
                    .as_deref()
                    .and_then(|d| api::time::parse_ts(d).ok())
                    .map(|(t, _)| t),
                // Unknown status counts as active: better one wasted call than a silent gap.
                r.activation_status.as_deref().is_none_or(is_active),
            ),
            None => (configured, None, true),
        };
        Ok(SiteFacts {
            id,
            tz,
            install,
            active,
            device_types,
        })
    }

    // ----- planning -----------------------------------------------------------------------

    fn max_span(&self, res: Resolution) -> Duration {
        if let Some(d) = self.settings.max_span.get(&res) {
            return *d;
        }
        match self.store.learned_window(res) {
            Ok(Some(secs)) => Duration::seconds(secs),
            _ => windows::default_max_span(res),
        }
    }

    /// The planner's view of the stored state.
    fn plan_input(&self) -> Result<PlanInput, Exit> {
        let now = self.now();
        let budget = Self::budget_view(self.store, self.settings.budget, now).map_err(Self::db)?;
        let mut sites = Vec::new();
        for f in self.facts.values() {
            let Some(tz) = f.tz else { continue };
            if !f.active {
                continue;
            }
            let mut cursors = BTreeMap::new();
            let mut series: Vec<Family> = f.series();
            series.retain(|fam| self.wants(*fam));
            let mut keys: Vec<(Family, Resolution)> = series
                .iter()
                .map(|s| (*s, Resolution::QuarterHour))
                .collect();
            keys.extend(
                [
                    Resolution::Day,
                    Resolution::Month,
                    Resolution::Year,
                    Resolution::Total,
                ]
                .map(|r| (Family::Energy, r)),
            );
            keys.extend(
                series
                    .iter()
                    .filter(|s| s.telemetry_kind().is_some())
                    .map(|s| (*s, Resolution::Day)),
            );
            for (fam, res) in keys {
                let st = self.state(f.id, fam, Some(res))?;
                cursors.insert(
                    (fam, res),
                    Cursor {
                        covered_from: st.covered_from,
                        covered_to: st.covered_to,
                        last_success: st.last_success,
                        gaps: gaps_of(&st),
                    },
                );
            }
            let mut last = BTreeMap::new();
            for fam in [
                Family::Details,
                Family::Devices,
                Family::Benefits,
                Family::Alerts,
                Family::PowerFlow,
                Family::Overview,
            ] {
                // A family the user left out never looks due.
                let l = if self.wants(fam) {
                    self.state(f.id, fam, None)?.last_success
                } else {
                    Some(now)
                };
                last.insert(fam, l);
            }
            // Left out (`--only`): no cursor, so a lagging one cannot make it due either.
            let overview_to = if self.wants(Family::Overview) {
                self.state(f.id, Family::Overview, None)?.covered_to
            } else {
                None
            };
            let pf = self.state(f.id, Family::PowerFlow, None)?;
            let denied = pf
                .extra
                .as_deref()
                .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
                .and_then(|v| {
                    v.get("tier_denied")
                        .and_then(|x| x.as_str())
                        .map(String::from)
                });
            let power_flow = self.wants(Family::PowerFlow)
                && (self.settings.full
                    || denied.as_deref() != Some(self.settings.fingerprint.as_str()));
            sites.push(SiteInput {
                id: f.id,
                tz,
                install: f.install,
                series,
                cursors,
                last,
                overview_to,
                power_flow,
            });
        }
        let mut max_span = BTreeMap::new();
        for r in Resolution::ALL {
            max_span.insert(r, self.max_span(r));
        }
        let fleet_alerts = self.settings.fleet && self.settings.fleet_alerts;
        Ok(PlanInput {
            now,
            budget,
            settle: self.settings.settle,
            full: self.settings.full,
            initial: Duration::days(i64::from(self.settings.initial_days)),
            overview_days: self.settings.initial_days,
            sites,
            max_span,
            pinned: self.settings.pinned.clone(),
            alerts_every: self.settings.alerts_every,
            fleet_alerts: fleet_alerts && self.wants(Family::FleetAlerts),
            fleet_alerts_last: if fleet_alerts && !self.wants(Family::FleetAlerts) {
                Some(now)
            } else {
                self.state(FLEET_SITE_ID, Family::FleetAlerts, None)?
                    .last_success
            },
            fleet: self.settings.fleet && self.wants(Family::Sites),
            site_list_last: self.state(FLEET_SITE_ID, Family::Sites, None)?.last_success,
            max_deep_per_run: self.settings.max_deep_per_run,
        })
    }

    // ----- execution ----------------------------------------------------------------------

    fn execute(&mut self, tasks: &[Task], input: &PlanInput) -> Result<Next, Exit> {
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
                Task::Site {
                    site,
                    family,
                    priority,
                } => self.unwindowed(*site, *family, *priority)?,
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

    fn tz(&self, site: SiteId) -> Option<Tz> {
        self.facts.get(&site).and_then(|f| f.tz)
    }

    /// One window of a windowed series, committed with its cursor.
    fn window_task(
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
    fn series_window(
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
        let mut gaps = gaps_of(st);
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
                gaps.push(gap);
            }
        }
        set_gaps(&mut next, &gaps);
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
    fn total_task(&mut self, id: SiteId) -> Result<(), Exit> {
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
    fn overview_task(&mut self, id: SiteId, day: chrono::NaiveDate) -> Result<(), Exit> {
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
    fn unwindowed(&mut self, id: SiteId, fam: Family, _priority: Priority) -> Result<(), Exit> {
        let mut st = self.state(id, fam, None)?;
        let result = match fam {
            Family::Details => {
                let path = api::sites::details_path(id);
                self.get(&path, &[])
                    .and_then(|f| self.store(Family::Details, Some(id), &[], &f, |_, _| Ok(())))
            }
            Family::Devices => {
                let path = api::devices::path(id);
                let query = api::devices::query();
                self.get(&path, &query)
                    .and_then(|f| self.store(Family::Devices, Some(id), &query, &f, |_, _| Ok(())))
            }
            Family::Benefits => {
                let path = api::benefits::path(id);
                let query = api::benefits::query();
                self.get(&path, &query)
                    .and_then(|f| self.store(Family::Benefits, Some(id), &query, &f, |_, _| Ok(())))
            }
            Family::Alerts => self.site_alerts(id),
            Family::PowerFlow => {
                let path = api::power_flow::path(id);
                match self.get(&path, &[]) {
                    Ok(f) => self.store(Family::PowerFlow, Some(id), &[], &f, |_, _| Ok(())),
                    Err(StepError::Api(api::Error::Forbidden { tier: true, .. })) => {
                        log::info!("site {id}: power flow needs a higher API tier; skipped until `seh sync --full` or a new key");
                        st.extra = Some(
                            serde_json::json!({ "tier_denied": self.settings.fingerprint })
                                .to_string(),
                        );
                        st.last_error = Some("power flow needs a higher API tier".into());
                        st.last_error_at = Some(self.now());
                        self.store.set_sync_state(&st).map_err(Self::db)?;
                        self.report.skip(id, "power_flow: tier");
                        return Ok(());
                    }
                    Err(e) => Err(e),
                }
            }
            other => unreachable!("{} is not an unwindowed site family", other.name()),
        };
        match result {
            Ok(rows) => {
                let mut st = self.state(id, fam, None)?;
                st.last_success = Some(self.now());
                st.rows_last_run = Some(rows as i64);
                if fam == Family::PowerFlow {
                    st.extra = None;
                }
                self.store.set_sync_state(&st).map_err(Self::db)?;
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

    fn site_alerts(&mut self, id: SiteId) -> Result<usize, StepError> {
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
            rows += self.store(Family::Alerts, Some(id), &query, &f, |_, _| Ok(()))?;
            if api::alerts::is_last_page(n, PAGE) {
                break;
            }
        }
        Ok(rows)
    }

    fn fleet_alerts_task(&mut self) -> Result<(), Exit> {
        const PAGE: u32 = 100;
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
                rows += self.store(Family::FleetAlerts, None, &query, &f, |_, _| Ok(()))?;
                Ok(n)
            });
            match step {
                Ok(n) if api::alerts::is_last_page(n, PAGE) => break,
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        match result {
            Ok(()) => {
                let mut st = self.state(FLEET_SITE_ID, Family::FleetAlerts, None)?;
                st.last_success = Some(self.now());
                st.rows_last_run = Some(rows as i64);
                self.store.set_sync_state(&st).map_err(Self::db)?;
                self.succeeded(FLEET_SITE_ID, Family::FleetAlerts);
                Ok(())
            }
            Err(e) => self.failed(FLEET_SITE_ID, Family::FleetAlerts, None, e),
        }
    }
}

/// Activation statuses of V2 (`/sites`, `/sites/{id}`), compared without regard to case.
const KNOWN_STATUSES: [&str; 3] = ["ACTIVE", "PENDING", "INACTIVE"];

/// Whether an activation status means the site reports data.
pub fn is_active(status: &str) -> bool {
    status.eq_ignore_ascii_case("ACTIVE")
        || !KNOWN_STATUSES
            .iter()
            .any(|k| k.eq_ignore_ascii_case(status))
}

/// The archive row of a response (canonical query, body as received).
fn raw_response(
    fam: Family,
    site: Option<SiteId>,
    query: &[(&str, String)],
    f: &Fetched,
) -> RawResponse {
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    RawResponse {
        fetched_at: f.fetched_at,
        path: f.path.clone(),
        query: store::canonical_query(&pairs),
        status: f.status,
        site_id: site,
        family: fam.name().to_string(),
        body: f.body.as_bytes().to_vec(),
        unreadable: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_words_are_read_without_regard_to_case() {
        for w in ["ACTIVE", "Active", "active"] {
            assert!(is_active(w), "{w}");
        }
        for w in ["PENDING", "Pending", "INACTIVE", "inactive"] {
            assert!(!is_active(w), "{w}");
        }
        // A word seh does not know: harvested (one wasted call beats a silent gap).
        assert!(is_active("COMMISSIONING"));
    }

    #[test]
    fn device_types_are_read_without_regard_to_case() {
        let facts = SiteFacts {
            id: 1,
            tz: None,
            install: None,
            active: true,
            device_types: vec!["Inverter".into(), "meter".into()],
        };
        assert_eq!(
            facts.series(),
            vec![
                Family::Energy,
                Family::Power,
                Family::InverterTelemetry,
                Family::MeterTelemetry
            ]
        );
    }
}
