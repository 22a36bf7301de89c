//! The planner's view of the stored state: cursors, last successes and learned window
//! limits of every site and family the run wants, turned into a [`PlanInput`].

use super::planner::{Cursor, PlanInput, SiteInput};
use super::*;

impl Harvester<'_> {
    pub(super) fn max_span(&self, res: Resolution) -> Duration {
        if let Some(d) = self.settings.max_span.get(&res) {
            return *d;
        }
        match self.store.learned_window(res) {
            Ok(Some(secs)) => Duration::seconds(secs),
            _ => windows::default_max_span(res),
        }
    }

    /// The planner's view of the stored state.
    pub(super) fn plan_input(&self) -> Result<PlanInput, Exit> {
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
                        gaps: st.gaps(),
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
            priority: self.settings.priority.clone(),
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
}
