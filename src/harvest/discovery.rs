//! Discovery: which sites a sync harvests (the Fleet key's listing, the database, `--sites`,
//! grants) and the facts planning needs about each (zone, installation, activity,
//! inventory), reading site details and devices where they are missing. Names every site
//! it cannot harvest (left the key's list, no zone, unknown status) instead of skipping it
//! in silence.

use super::report::{ApiErrorKind, FailureKind};
use super::*;

/// Calls a run may always spend on sites not read yet (their details and devices), however
/// early in the cycle: 25 sites.
pub const DISCOVERY_MIN_CALLS: u64 = 50;

impl Harvester<'_> {
    /// Sites to harvest and their facts. The site list is read when none is known (later
    /// it is a slow task of the plan); details and devices of a site are read when missing,
    /// because planning needs its time zone, installation date and inventory.
    pub(super) fn discover(&mut self) -> Result<(), Exit> {
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
                    self.report.error(
                        FLEET_SITE_ID,
                        Some(Family::Sites),
                        FailureKind::Api(ApiErrorKind::NotFound),
                        msg,
                    );
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
                let granted = self.settings.grant_sites.contains(id);
                match &listing {
                    // The key's listing lacks it: every call would be a paid 403. Named,
                    // never called (a grant, if any, harvests it).
                    Some(listed) if !listed.contains(id) && !granted => log::warn!(
                        "site {id} of --sites is not in the Fleet key's site list and has \
                         no OAuth grant; it is not harvested"
                    ),
                    // Without a listing (no Fleet key, or `--only` left the list out) the
                    // site is tried with the credential there is.
                    None if !ids.contains(id) => ids.push(*id),
                    _ => {}
                }
            }
        }
        ids.retain(|id| self.wants_site(*id));
        ids.sort_unstable();
        let n_sites = ids.len();
        // A site not read yet costs its details and devices before anything else. A large
        // fleet is read over several runs, so that one run never spends the cycle on it:
        // at most half of what may be spent by now (below the budget line), at least
        // DISCOVERY_MIN_CALLS, never more than is left.
        let view =
            Self::budget_view(self.store, self.settings.budget, self.now()).map_err(Self::db)?;
        let mut allowance = (view.below_line() / 2)
            .max(DISCOVERY_MIN_CALLS)
            .min(view.left());
        let mut deferred = 0usize;
        let mut left_out = Vec::new();
        for id in ids {
            let mut missing = Vec::new();
            for fam in [Family::Details, Family::Devices] {
                if self.state(id, fam, None)?.last_success.is_none() {
                    if self.wants(fam) {
                        missing.push(fam);
                    } else {
                        left_out.push((id, fam));
                    }
                }
            }
            if missing.len() as u64 > allowance {
                deferred += 1;
                continue;
            }
            allowance -= missing.len() as u64;
            for fam in missing {
                self.check_stop()?;
                self.unwindowed(id, fam)?;
            }
            let facts = self.read_facts(id)?;
            self.note_unknown_status(&facts);
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
                self.report
                    .error(id, Some(Family::Details), FailureKind::NoTimezone, msg);
            }
            self.facts.insert(id, facts);
        }
        if deferred > 0 {
            log::info!(
                "{deferred} of {n_sites} sites not read yet: a run spends at most half of the \
                 credits below the budget line (at least {DISCOVERY_MIN_CALLS}) on new sites; \
                 the next runs go on"
            );
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
    pub(super) fn note_unknown_status(&mut self, facts: &SiteFacts) {
        let word = (facts.status.as_deref())
            .filter(|w| !KNOWN_STATUSES.iter().any(|k| k.eq_ignore_ascii_case(w)));
        if let Some(w) = word {
            if self.unknown_words.insert(w.to_ascii_uppercase()) {
                log::warn!(
                    "site {}: unknown activation status {w:?}; harvested as if ACTIVE",
                    facts.id
                );
            }
        }
    }

    /// The site ids of this Fleet key's last complete `/sites` listing, if one is recorded.
    pub(super) fn fleet_listing(&self) -> Result<Option<Vec<SiteId>>, Exit> {
        (self.store)
            .fleet_listing(&self.settings.fingerprint)
            .map_err(Self::db)
    }

    pub(super) fn known_sites(&self) -> Result<Vec<SiteId>, Exit> {
        self.store
            .site_rows()
            .map(|v| v.into_iter().map(|s| s.site_id).collect())
            .map_err(Self::db)
    }

    pub(super) fn fetch_site_list(&mut self) -> Result<usize, StepError> {
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

    pub(super) fn read_facts(&self, id: SiteId) -> Result<SiteFacts, Exit> {
        let row = self
            .store
            .site_rows()
            .map_err(Self::db)?
            .into_iter()
            .find(|s| s.site_id == id);
        let device_types = self.store.device_types(id).map_err(Self::db)?;
        let configured = self.settings.timezones.get(&id).copied();
        let status = row.as_ref().and_then(|r| r.activation_status.clone());
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
            status,
            device_types,
        })
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
