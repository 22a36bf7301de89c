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
pub mod plan;
pub mod planner;
pub mod report;

use crate::api::{self, Client, Fetched};
use crate::exit::Exit;
use crate::model::{Resolution, SiteId};
use crate::store::{self, RawResponse, Store, SyncState, FLEET_SITE_ID};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
pub use family::Family;
use report::Report;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a sync behaves; built by `commands::sync` from the configuration and flags.
#[derive(Clone, Debug)]
pub struct Settings {
    pub full: bool,
    /// `None`: every family.
    pub only: Option<Vec<Family>>,
    /// `None`: every site the credential sees (after include/exclude).
    pub sites: Option<Vec<SiteId>>,
    pub include: Vec<SiteId>,
    pub exclude: Vec<SiteId>,
    pub initial_days: u32,
    pub settle: Duration,
    /// Cadence of site details, devices, environmental benefits and lifetime totals.
    pub slow_every: Duration,
    /// Cadence of alerts.
    pub alerts_every: Duration,
    /// Fleet `/alerts` (one call) instead of one `/sites/{id}/alerts` per site.
    pub fleet_alerts: bool,
    /// The credential is a Fleet key (may call `/sites` and fleet `/alerts`).
    pub fleet: bool,
    /// Window overrides per resolution.
    pub max_span: BTreeMap<Resolution, Duration>,
    /// Changes when the credential or base URL changes; a recorded tier refusal is retried
    /// then.
    pub fingerprint: String,
}

/// Why a single fetch-and-store step failed.
#[derive(Debug)]
pub enum StepError {
    Api(api::Error),
    Apply(family::ApplyError),
    Store(store::Error),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Api(e) => e.fmt(f),
            StepError::Apply(e) => e.fmt(f),
            StepError::Store(e) => e.fmt(f),
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
            StepError::Api(api::Error::CreditsExhausted { .. }) => Some(Exit::Credits),
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

/// One sync run.
pub struct Harvester<'a> {
    client: &'a mut Client,
    store: &'a mut Store,
    settings: Settings,
    stop: Arc<AtomicBool>,
    pub report: Report,
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
            report: Report::default(),
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
    pub fn run(mut self) -> Report {
        if let Err(exit) = self.run_inner() {
            self.report.fatal(exit);
        }
        self.report
    }

    fn run_inner(&mut self) -> Result<(), Exit> {
        if let Ok(Some(offset)) = self.store.clock_offset() {
            self.client.set_clock_hint(Duration::seconds(offset));
        }
        let result = self.run_sites();
        let offset = (self.client.server_now() - Utc::now()).num_seconds();
        if let Err(e) = self.store.set_clock_offset(offset) {
            log::debug!("could not store the server clock offset: {e}");
        }
        result
    }

    fn run_sites(&mut self) -> Result<(), Exit> {
        let sites = self.discover_sites()?;
        for site in sites {
            self.check_stop()?;
            self.harvest_site(site)?;
        }
        if self.settings.fleet && self.settings.fleet_alerts && self.wants(Family::FleetAlerts) {
            self.fleet_alerts()?;
        }
        Ok(())
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
        if let Some(exit) = e.fatal() {
            if exit != Exit::Interrupted {
                log::error!("site {site} {}: {e}", fam.name());
            }
            self.report.error(site, fam, e.to_string());
            return Err(exit);
        }
        log::warn!("site {site} {}: {e}", fam.name());
        let now = self.now();
        let msg = e.to_string();
        if let Err(se) = self.store.record_error(site, fam.name(), res, &msg, now) {
            return Err(StepError::Store(se).fatal().unwrap_or(Exit::Database));
        }
        self.report.error(site, fam, msg);
        Ok(())
    }

    /// GET and learn the server clock.
    fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Fetched, StepError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(StepError::Api(api::Error::Interrupted));
        }
        let f = self.client.get(path, query).map_err(StepError::Api)?;
        self.report.calls += 1;
        Ok(f)
    }

    /// Archive `f`, derive its rows and run `cursor` (which updates sync state) in one
    /// transaction. Returns rows inserted or changed.
    fn store(
        &mut self,
        fam: Family,
        site: Option<SiteId>,
        query: &[(&str, String)],
        f: &Fetched,
        cursor: impl FnOnce(&mut store::Tx<'_>, usize) -> Result<(), store::Error>,
    ) -> Result<usize, StepError> {
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let canonical = store::canonical_query(&pairs);
        let raw = RawResponse {
            fetched_at: f.fetched_at,
            path: f.path.clone(),
            query: canonical.clone(),
            status: f.status,
            site_id: site,
            family: fam.name().to_string(),
            body: f.body.as_bytes().to_vec(),
        };
        let rows = self.store.transaction(|tx| -> Result<usize, StepError> {
            let rows = family::apply(tx, fam, site, &canonical, &f.body, f.fetched_at)?;
            tx.archive_raw(&raw)?;
            cursor(tx, rows)?;
            Ok(rows)
        })?;
        self.report.rows += rows as u64;
        Ok(rows)
    }

    fn state(&self, site: SiteId, fam: Family, res: Option<Resolution>) -> Result<SyncState, Exit> {
        self.store
            .get_sync_state(site, fam.name(), res)
            .map(|s| s.unwrap_or_else(|| SyncState::new(site, fam.name(), res)))
            .map_err(|e| StepError::Store(e).fatal().unwrap_or(Exit::Database))
    }

    // ----- discovery ----------------------------------------------------------------------

    /// The sites to harvest: from `/sites` for a Fleet key (daily, or when none is known),
    /// else the ones already stored or named with `--sites`.
    fn discover_sites(&mut self) -> Result<Vec<SiteId>, Exit> {
        let known = self.known_sites()?;
        let st = self.state(FLEET_SITE_ID, Family::Sites, None)?;
        let due = plan::due(
            st.last_success,
            self.settings.slow_every,
            self.now(),
            self.settings.full,
        );
        if self.settings.fleet && self.wants(Family::Sites) && (due || known.is_empty()) {
            if let Err(e) = self.fetch_site_list() {
                self.failed(FLEET_SITE_ID, Family::Sites, None, e)?;
            }
        }
        let mut ids = self.known_sites()?;
        if let Some(explicit) = &self.settings.sites {
            for id in explicit {
                if !ids.contains(id) {
                    ids.push(*id);
                }
            }
        }
        ids.retain(|id| self.wants_site(*id));
        ids.sort_unstable();
        Ok(ids)
    }

    fn known_sites(&self) -> Result<Vec<SiteId>, Exit> {
        self.store
            .site_rows()
            .map(|v| v.into_iter().map(|s| s.site_id).collect())
            .map_err(|e| StepError::Store(e).fatal().unwrap_or(Exit::Database))
    }

    fn fetch_site_list(&mut self) -> Result<(), StepError> {
        const PAGE: u32 = 1000;
        let mut page = 1;
        loop {
            let query = api::sites::list_query(page, PAGE);
            let f = self.get(api::sites::list_path(), &query)?;
            let (_, len) = api::sites::parse_list(&f.body)
                .map_err(|e| StepError::Apply(family::ApplyError::Parse(e)))?;
            let last = api::sites::is_last_page(len, PAGE);
            let now = self.now();
            self.store(Family::Sites, None, &query, &f, |tx, rows| {
                if last {
                    let mut s = SyncState::new(FLEET_SITE_ID, Family::Sites.name(), None);
                    s.last_success = Some(now);
                    s.rows_last_run = Some(rows as i64);
                    tx.set_sync_state(&s)?;
                }
                Ok(())
            })?;
            if last {
                return Ok(());
            }
            page += 1;
        }
    }

    // ----- one site -------------------------------------------------------------------------

    fn facts(&self, id: SiteId) -> Result<SiteFacts, Exit> {
        let map_err = |e| StepError::Store(e).fatal().unwrap_or(Exit::Database);
        let row = self
            .store
            .site_rows()
            .map_err(map_err)?
            .into_iter()
            .find(|s| s.site_id == id);
        let device_types = self.store.device_types(id).map_err(map_err)?;
        let (tz, install, active) = match row {
            Some(r) => (
                r.timezone.as_deref().and_then(|z| z.parse::<Tz>().ok()),
                r.installation_date
                    .as_deref()
                    .and_then(|d| api::time::parse_ts(d).ok())
                    .map(|(t, _)| t),
                // Unknown status counts as active: better one wasted call than a silent gap.
                r.activation_status.as_deref().is_none_or(|s| s == "ACTIVE"),
            ),
            None => (None, None, true),
        };
        Ok(SiteFacts {
            id,
            tz,
            install,
            active,
            device_types,
        })
    }

    fn harvest_site(&mut self, id: SiteId) -> Result<(), Exit> {
        let slow = self.settings.slow_every;
        self.slow_family(id, Family::Details, slow, |h| {
            let path = api::sites::details_path(id);
            let f = h.get(&path, &[])?;
            h.store(Family::Details, Some(id), &[], &f, |_, _| Ok(()))
        })?;
        self.slow_family(id, Family::Devices, slow, |h| {
            let path = api::devices::path(id);
            let query = api::devices::query();
            let f = h.get(&path, &query)?;
            h.store(Family::Devices, Some(id), &query, &f, |_, _| Ok(()))
        })?;
        let facts = self.facts(id)?;
        if !facts.active {
            log::info!("site {id} is not active yet; only its details and devices are read");
            self.report.skip(id, "not active");
            return Ok(());
        }
        let Some(tz) = facts.tz else {
            let e = StepError::Apply(family::ApplyError::Request(
                "the site's time zone (details failed)",
            ));
            return self.failed(id, Family::Energy, None, e);
        };

        // Quarter-hour series first: they are what the user cannot get back once the API
        // stops keeping them.
        self.series(&facts, tz, Family::Energy, Resolution::QuarterHour)?;
        self.series(&facts, tz, Family::Power, Resolution::QuarterHour)?;
        let has = |t: &str| facts.device_types.iter().any(|d| d == t);
        if has("INVERTER") {
            self.series(
                &facts,
                tz,
                Family::InverterTelemetry,
                Resolution::QuarterHour,
            )?;
        }
        if has("METER") {
            self.series(&facts, tz, Family::MeterTelemetry, Resolution::QuarterHour)?;
        }
        if has("BATTERY") {
            self.series(
                &facts,
                tz,
                Family::StorageTelemetry,
                Resolution::QuarterHour,
            )?;
        }
        for res in [Resolution::Day, Resolution::Month, Resolution::Year] {
            self.series(&facts, tz, Family::Energy, res)?;
        }
        self.lifetime_total(&facts, tz)?;
        self.overview(&facts, tz)?;
        self.slow_family(id, Family::Benefits, slow, |h| {
            let path = api::benefits::path(id);
            let query = api::benefits::query();
            let f = h.get(&path, &query)?;
            h.store(Family::Benefits, Some(id), &query, &f, |_, _| Ok(()))
        })?;
        if !(self.settings.fleet && self.settings.fleet_alerts) {
            let every = self.settings.alerts_every;
            self.slow_family(id, Family::Alerts, every, |h| h.site_alerts(id))?;
        }
        self.power_flow(id)?;
        Ok(())
    }

    /// Run `fetch` for a family on a cadence, recording success or failure.
    fn slow_family(
        &mut self,
        site: SiteId,
        fam: Family,
        every: Duration,
        fetch: impl FnOnce(&mut Self) -> Result<usize, StepError>,
    ) -> Result<(), Exit> {
        if !self.wants(fam) {
            return Ok(());
        }
        let st = self.state(site, fam, None)?;
        if !plan::due(st.last_success, every, self.now(), self.settings.full) {
            return Ok(());
        }
        self.check_stop()?;
        match fetch(self) {
            Ok(rows) => {
                let mut s = st;
                s.last_success = Some(self.now());
                s.rows_last_run = Some(rows as i64);
                self.store
                    .set_sync_state(&s)
                    .map_err(|e| StepError::Store(e).fatal().unwrap_or(Exit::Database))?;
                self.report.ok(site, fam);
                Ok(())
            }
            Err(e) => self.failed(site, fam, None, e),
        }
    }

    fn max_span(&self, res: Resolution) -> Duration {
        if let Some(d) = self.settings.max_span.get(&res) {
            return *d;
        }
        match self.store.learned_window(res) {
            Ok(Some(secs)) => Duration::seconds(secs),
            _ => plan::default_max_span(res),
        }
    }

    /// A windowed series: fetch every planned window, each committed with its cursor.
    fn series(
        &mut self,
        facts: &SiteFacts,
        tz: Tz,
        fam: Family,
        res: Resolution,
    ) -> Result<(), Exit> {
        if !self.wants(fam) {
            return Ok(());
        }
        let id = facts.id;
        let mut st = self.state(id, fam, Some(res))?;
        let mut rows_total = 0usize;
        loop {
            let now = self.now();
            let input = plan::SeriesInput {
                resolution: res,
                tz,
                install: facts.install,
                covered_from: st.covered_from,
                covered_to: st.covered_to,
                now,
                settle: self.settings.settle,
                initial: Duration::days(i64::from(self.settings.initial_days)),
                full: self.settings.full,
                max_span: self.max_span(res),
            };
            let settled = plan::settled_limit(res, now, self.settings.settle, tz);
            let windows = plan::series_windows(&input);
            let mut retry_with_smaller = false;
            for w in windows {
                self.check_stop()?;
                match self.series_window(fam, id, res, tz, w, settled, &mut st) {
                    Ok(rows) => rows_total += rows,
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
                        self.store
                            .set_learned_window(res, half)
                            .map_err(|e| StepError::Store(e).fatal().unwrap_or(Exit::Database))?;
                        self.settings.max_span.remove(&res);
                        retry_with_smaller = true;
                        break;
                    }
                    Err(e) => return self.failed(id, fam, Some(res), e),
                }
            }
            if !retry_with_smaller {
                break;
            }
        }
        let _ = rows_total;
        self.report.ok(id, fam);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn series_window(
        &mut self,
        fam: Family,
        id: SiteId,
        res: Resolution,
        tz: Tz,
        w: plan::Window,
        settled: DateTime<Utc>,
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
        let (cf, ct) = plan::advance(st.covered_from, st.covered_to, w, settled);
        let mut next = st.clone();
        next.covered_from = cf;
        next.covered_to = ct;
        next.last_success = Some(now);
        let rows = self.store(fam, Some(id), &query, &f, |tx, rows| {
            next.rows_last_run = Some(rows as i64);
            tx.set_sync_state(&next)
        })?;
        *st = next;
        Ok(rows)
    }

    /// Lifetime energy (`resolution=TOTAL` from installation), refreshed on the slow cadence.
    fn lifetime_total(&mut self, facts: &SiteFacts, tz: Tz) -> Result<(), Exit> {
        if !self.wants(Family::Energy) {
            return Ok(());
        }
        let id = facts.id;
        let st = self.state(id, Family::Energy, Some(Resolution::Total))?;
        let now = self.now();
        if !plan::due(
            st.last_success,
            self.settings.slow_every,
            now,
            self.settings.full,
        ) {
            return Ok(());
        }
        let from = facts.install.unwrap_or(now - Duration::days(365 * 30));
        let query = api::series::query(from, now, Resolution::Total, tz, None);
        let result = self
            .get(
                &api::series::path(id, api::series::SiteMetric::Energy),
                &query,
            )
            .and_then(|f| {
                let mut s = st.clone();
                s.covered_from = Some(from);
                s.covered_to = Some(api::time::start_of_bucket(now, Resolution::QuarterHour, tz));
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

    /// One `/overview` call per site-local day not yet final.
    fn overview(&mut self, facts: &SiteFacts, tz: Tz) -> Result<(), Exit> {
        if !self.wants(Family::Overview) {
            return Ok(());
        }
        let id = facts.id;
        let mut st = self.state(id, Family::Overview, None)?;
        // Even with --full, overview history is limited to the initial span: it costs a
        // call per day and the energy rollups already answer per-day questions.
        let days = plan::overview_days(
            st.covered_to,
            facts.install,
            self.now(),
            self.settings.initial_days,
            tz,
        );
        for day in days {
            self.check_stop()?;
            let query = api::overview::day_query(day, tz);
            let result = self.get(&api::overview::path(id), &query).and_then(|f| {
                let now = self.now();
                let mut s = st.clone();
                s.covered_to =
                    plan::overview_advance(st.covered_to, day, now, self.settings.settle, tz);
                if s.covered_from.is_none() {
                    s.covered_from = Some(api::time::local_midnight(day, tz));
                }
                s.last_success = Some(now);
                let rows = self.store(Family::Overview, Some(id), &query, &f, |tx, rows| {
                    s.rows_last_run = Some(rows as i64);
                    tx.set_sync_state(&s)
                })?;
                st = s;
                Ok(rows)
            });
            if let Err(e) = result {
                return self.failed(id, Family::Overview, None, e);
            }
        }
        self.report.ok(id, Family::Overview);
        Ok(())
    }

    fn site_alerts(&mut self, id: SiteId) -> Result<usize, StepError> {
        const PAGE: u32 = 100;
        let mut rows = 0;
        for page in 1.. {
            let query = api::alerts::query(page, PAGE, None);
            let f = self.get(&api::alerts::path(id), &query)?;
            let n = api::alerts::parse(Some(id), &f.body)
                .map_err(|e| StepError::Apply(family::ApplyError::Parse(e)))?
                .len();
            rows += self.store(Family::Alerts, Some(id), &query, &f, |_, _| Ok(()))?;
            if api::alerts::is_last_page(n, PAGE) {
                break;
            }
        }
        Ok(rows)
    }

    fn fleet_alerts(&mut self) -> Result<(), Exit> {
        let every = self.settings.alerts_every;
        self.slow_family(FLEET_SITE_ID, Family::FleetAlerts, every, |h| {
            const PAGE: u32 = 100;
            let mut rows = 0;
            for page in 1.. {
                let query = api::alerts::query(page, PAGE, None);
                let f = h.get(api::alerts::fleet_path(), &query)?;
                let n = api::alerts::parse(None, &f.body)
                    .map_err(|e| StepError::Apply(family::ApplyError::Parse(e)))?
                    .len();
                rows += h.store(Family::FleetAlerts, None, &query, &f, |_, _| Ok(()))?;
                if api::alerts::is_last_page(n, PAGE) {
                    break;
                }
            }
            Ok(rows)
        })
    }

    /// Power flow (Advanced tier). A tier refusal is recorded once and the family skipped
    /// until `--full` or a change of credential or base URL.
    fn power_flow(&mut self, id: SiteId) -> Result<(), Exit> {
        if !self.wants(Family::PowerFlow) {
            return Ok(());
        }
        let mut st = self.state(id, Family::PowerFlow, None)?;
        let denied_for = st
            .extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .and_then(|v| {
                v.get("tier_denied")
                    .and_then(|f| f.as_str())
                    .map(String::from)
            });
        if denied_for.as_deref() == Some(self.settings.fingerprint.as_str()) && !self.settings.full
        {
            self.report.skip(id, "power_flow: tier");
            return Ok(());
        }
        self.check_stop()?;
        let path = api::power_flow::path(id);
        match self.get(&path, &[]) {
            Ok(f) => {
                let now = self.now();
                st.extra = None;
                st.last_success = Some(now);
                let result = self.store(Family::PowerFlow, Some(id), &[], &f, |tx, rows| {
                    st.rows_last_run = Some(rows as i64);
                    tx.set_sync_state(&st)
                });
                match result {
                    Ok(_) => {
                        self.report.ok(id, Family::PowerFlow);
                        Ok(())
                    }
                    Err(e) => self.failed(id, Family::PowerFlow, None, e),
                }
            }
            Err(StepError::Api(api::Error::Forbidden { tier: true, .. })) => {
                log::info!("site {id}: power flow needs a higher API tier; skipped until `seh sync --full` or a new key");
                st.extra = Some(
                    serde_json::json!({ "tier_denied": self.settings.fingerprint }).to_string(),
                );
                st.last_error = Some("power flow needs a higher API tier".into());
                st.last_error_at = Some(self.now());
                self.store
                    .set_sync_state(&st)
                    .map_err(|e| StepError::Store(e).fatal().unwrap_or(Exit::Database))?;
                self.report.skip(id, "power_flow: tier");
                Ok(())
            }
            Err(e) => self.failed(id, Family::PowerFlow, None, e),
        }
    }
}
