//! What a sync did, typed: calls, rows, per-family outcomes with the kind of each failure,
//! the events a notifier acts on (credits exhausted until a date, a dead grant, gaps the
//! API left), rows written per family, and the exit code they earn; and what the API said about the credential, for
//! the caller that owns it (an OAuth grant is refreshed or declared dead on these flags,
//! never on the text of an outcome).

use super::errors::StepError;
use super::Family;
use crate::api;
use crate::exit::Exit;
use crate::model::SiteId;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Why a family of a site failed, for consumers that branch (notifications); the message
/// beside it is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The API refused or failed the call; the variant of the `api::Error`.
    Api(ApiErrorKind),
    /// A 2xx body the parser rejected (archived, marked unreadable).
    Unreadable,
    /// The database could not be written.
    Database,
    /// SolarEdge sends no time zone for an active site (see `[sites] timezone`).
    NoTimezone,
    /// The one call allowed while credits are blocked did not lift the block.
    CreditsBlocked,
    /// An OAuth token could not be had (dead grant, refresh failed, no grant).
    Token,
    /// The archived request lacks what its parser needs.
    Request,
}

/// The variant of an [`api::Error`], without its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    Interrupted,
    CreditsExhausted,
    RateLimited,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Gone,
    Http,
    Server,
    Transport,
    Decode,
}

impl ApiErrorKind {
    pub fn of(e: &api::Error) -> ApiErrorKind {
        use api::Error as E;
        match e {
            E::Interrupted => ApiErrorKind::Interrupted,
            E::CreditsExhausted { .. } => ApiErrorKind::CreditsExhausted,
            E::RateLimited { .. } => ApiErrorKind::RateLimited,
            E::BadRequest { .. } => ApiErrorKind::BadRequest,
            E::Unauthorized { .. } => ApiErrorKind::Unauthorized,
            E::Forbidden { .. } => ApiErrorKind::Forbidden,
            E::NotFound { .. } => ApiErrorKind::NotFound,
            E::Gone => ApiErrorKind::Gone,
            E::Http { .. } => ApiErrorKind::Http,
            E::Server { .. } => ApiErrorKind::Server,
            E::Transport { .. } => ApiErrorKind::Transport,
            E::Decode { .. } => ApiErrorKind::Decode,
        }
    }
}

impl FailureKind {
    /// The kind of a failed step.
    pub fn of(e: &StepError) -> FailureKind {
        use super::family::ApplyError;
        match e {
            StepError::Api(a) => FailureKind::Api(ApiErrorKind::of(a)),
            StepError::Apply(ApplyError::Parse(_)) => FailureKind::Unreadable,
            StepError::Apply(ApplyError::Store(_)) | StepError::Store(_) => FailureKind::Database,
            StepError::Apply(ApplyError::Request(_)) => FailureKind::Request,
            StepError::CreditsBlocked => FailureKind::CreditsBlocked,
            StepError::Unreachable { .. } => FailureKind::Api(ApiErrorKind::Transport),
        }
    }
}

/// Outcome of one family of one site.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    Skipped(String),
    Failed { kind: FailureKind, message: String },
}

/// Something a sync found that the owner may need to hear of.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// SolarEdge refused calls for exhausted monthly credits; no calls until `until`.
    CreditsExhausted { until: DateTime<Utc> },
    /// An OAuth grant is dead: `seh auth login` for the site.
    GrantDead { site: SiteId },
    /// The API left out quarter-hours of a series; they are fetched again.
    GapFound {
        site: SiteId,
        family: Family,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub calls: u64,
    pub rows: u64,
    pub outcomes: Vec<(SiteId, Option<Family>, Outcome)>,
    /// Events in the order they happened.
    pub events: Vec<Event>,
    /// Rows inserted or changed per (site, family) this run (`None`: fleet level); one
    /// entry per family, not per response, so a fleet's report stays small.
    pub rows_by: BTreeMap<(Option<SiteId>, Family), u64>,
    /// Set when the run was cut short.
    pub fatal: Option<Exit>,
    /// A call was answered 401: the credential was rejected.
    pub rejected: bool,
    /// A call was answered 403 because an OAuth grant does not cover the site.
    pub other_site: bool,
}

impl Report {
    pub fn ok(&mut self, site: SiteId, fam: Family) {
        self.outcomes.push((site, Some(fam), Outcome::Ok));
    }

    pub fn skip(&mut self, site: SiteId, why: &str) {
        self.outcomes
            .push((site, None, Outcome::Skipped(why.to_string())));
    }

    pub fn error(&mut self, site: SiteId, fam: Option<Family>, kind: FailureKind, msg: String) {
        self.outcomes
            .push((site, fam, Outcome::Failed { kind, message: msg }));
    }

    pub fn event(&mut self, e: Event) {
        self.events.push(e);
    }

    /// Notes what a failed call says about the credential ([`Report::rejected`],
    /// [`Report::other_site`]).
    pub fn api_error(&mut self, e: &api::Error) {
        match e {
            api::Error::Unauthorized { .. } => self.rejected = true,
            api::Error::Forbidden {
                other_site: true, ..
            } => self.other_site = true,
            _ => {}
        }
    }

    pub fn fatal(&mut self, exit: Exit) {
        self.fatal = Some(self.fatal.map_or(exit, |e| e.merge(exit)));
    }

    pub fn failures(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, _, o)| matches!(o, Outcome::Failed { .. }))
            .count()
    }

    /// Fatal code if any, else 1 when a family failed, else 0.
    pub fn exit(&self) -> Exit {
        match self.fatal {
            Some(e) => e,
            None if self.failures() > 0 => Exit::Partial,
            None => Exit::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_outcomes() {
        let mut r = Report::default();
        assert_eq!(r.exit(), Exit::Ok);
        r.skip(1, "not active");
        assert_eq!(r.exit(), Exit::Ok);
        r.error(
            1,
            Some(Family::Energy),
            FailureKind::Api(ApiErrorKind::Server),
            "boom".into(),
        );
        assert_eq!(r.exit(), Exit::Partial);
        r.fatal(Exit::Credits);
        assert_eq!(r.exit(), Exit::Credits);
    }

    #[test]
    fn failures_are_typed_by_their_cause() {
        use crate::harvest::family::ApplyError;
        let parse = api::ParseError::new("energy: no values".to_string());
        assert_eq!(
            FailureKind::of(&StepError::Apply(ApplyError::Parse(parse))),
            FailureKind::Unreadable
        );
        assert_eq!(
            FailureKind::of(&StepError::Api(api::Error::Server { status: 502 })),
            FailureKind::Api(ApiErrorKind::Server)
        );
        assert_eq!(
            FailureKind::of(&StepError::CreditsBlocked),
            FailureKind::CreditsBlocked
        );
        let mut r = Report::default();
        r.error(7, None, FailureKind::NoTimezone, "no zone".into());
        assert!(matches!(
            r.outcomes[0].2,
            Outcome::Failed {
                kind: FailureKind::NoTimezone,
                ..
            }
        ));
    }

    #[test]
    fn credential_flags_come_from_the_error_variant() {
        let mut r = Report::default();
        r.api_error(&api::Error::Server { status: 502 });
        r.api_error(&api::Error::Forbidden {
            detail: "grant".into(),
            tier: false,
            other_site: false,
        });
        assert!(!r.rejected && !r.other_site);
        r.api_error(&api::Error::Unauthorized {
            detail: String::new(),
            oauth: None,
        });
        assert!(r.rejected && !r.other_site);
        r.api_error(&api::Error::Forbidden {
            detail: String::new(),
            tier: false,
            other_site: true,
        });
        assert!(r.other_site);
    }
}
