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

mod discovery;
pub mod errors;
pub mod family;
pub mod grants;
mod plan_input;
pub mod plan_model;
pub mod planner;
pub mod report;
mod tasks;
pub mod windows;

use planner::{Plan, PlanInput};

use crate::api::{self, Client, Fetched};
use crate::budget::{Budget, BudgetView};
use crate::clock;
use crate::exit::Exit;
use crate::model::{Resolution, SiteId};
use crate::store::{self, RawResponse, Store, SyncState, FLEET_SITE_ID};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
pub use discovery::is_active;
pub use errors::{exit_for, Scope, StepError};
pub use family::Family;
use report::{Event, FailureKind, Report};
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
    /// `[sites] priority`: their fresh data comes first when the budget is short.
    pub priority: Vec<SiteId>,
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

impl Settings {
    /// Whether site `id` passes `--sites` and `[sites] include`/`exclude`.
    pub fn wants_site(&self, id: SiteId) -> bool {
        self.sites.as_ref().is_none_or(|v| v.contains(&id))
            && crate::config::passes_site_filters(&self.include, &self.exclude, id)
    }
}

/// What the harvester reads about a site before planning it.
#[derive(Clone, Debug)]
struct SiteFacts {
    id: SiteId,
    tz: Option<Tz>,
    install: Option<DateTime<Utc>>,
    active: bool,
    /// The activation status as SolarEdge spelled it.
    status: Option<String>,
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

/// After this many calls in a row without any answer (each after the client's retries),
/// the server is taken to be unreachable and the run ends with exit 1: the timer's next
/// run tries again, instead of this one paying minutes of retries for every task.
pub const UNANSWERED_IN_A_ROW: u32 = 3;

/// The host of a base URL, for messages (`https://host:port/v2` → `host:port`).
fn host_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

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
    /// Calls in a row that got no answer at all (see [`UNANSWERED_IN_A_ROW`]).
    unanswered: u32,
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
            unanswered: 0,
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
        self.settings.wants_site(id)
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
        for round in 0..8 {
            // This plan rests on the best clock known now; only a later first answer can
            // show that it was a wrong estimate.
            self.clock_jumped = false;
            let input = self.plan_input()?;
            let plan = planner::plan(&input);
            // One line per plan, in the words of `seh plan` and the README: fresh, history,
            // backfill, slow.
            log::info!(
                "{}: {}; {} credits left this cycle; fresh data every {}",
                if round == 0 { "plan" } else { "plan again" },
                plan.calls_by_kind(),
                crate::display::thousands(input.budget.left() as i64),
                plan.cadence
                    .values()
                    .next()
                    .map_or("-".to_string(), |c| clock::human(*c)),
            );
            for note in &plan.notes {
                log::info!("note: {note}");
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
            self.report.event(Event::CreditsExhausted { until });
            if let Err(se) = self.store.set_credits_blocked_until(until) {
                log::warn!("could not record the credit block: {se}");
            }
        }
        if let Some(exit) = e.fatal() {
            if let StepError::Unreachable { .. } = e {
                log::error!("{e}");
            } else if exit != Exit::Interrupted {
                log::error!("site {site} {}: {e}", fam.name());
            }
            self.report
                .error(site, Some(fam), FailureKind::of(&e), e.to_string());
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
        self.report.error(site, Some(fam), FailureKind::of(&e), msg);
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
        // Calls that got no answer at all (every retry included): after a few in a row the
        // server is unreachable, and the rest of the run would only repeat that.
        match &result {
            Err(api::Error::Transport { detail }) => {
                self.unanswered += 1;
                if self.unanswered >= UNANSWERED_IN_A_ROW {
                    return Err(StepError::Unreachable {
                        host: host_of(self.client.base_url()),
                        detail: detail.clone(),
                    });
                }
            }
            Err(api::Error::Interrupted) => {}
            _ => self.unanswered = 0,
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
                if rows > 0 {
                    *self.report.rows_by.entry((site, fam)).or_default() += rows as u64;
                }
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

/// A non-reversible 64-bit tag (FNV-1a) of `text`: recorded tier refusals and site lists
/// carry the tag of the credential that earned them, never the credential.
pub fn tag(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_base_url() {
        assert_eq!(
            host_of("https://monitoringapi.solaredge.com/v2"),
            "monitoringapi.solaredge.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/v2"), "127.0.0.1:8080");
        assert_eq!(host_of("odd"), "odd");
    }

    #[test]
    fn tags_are_stable_across_versions() {
        // The tag of (base URL, key) as the first versions computed it byte by byte: a
        // changed tag would make every database forget its recorded site list.
        assert_eq!(
            tag("https://monitoringapi.solaredge.com/v2\0sim-fleet-key"),
            "0d4a1f68b3a05746"
        );
    }

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
            status: None,
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
