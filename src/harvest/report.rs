//! What a sync did: calls, rows, per-family outcomes, and the exit code they earn; and what
//! the API said about the credential, typed, for the caller that owns it (an OAuth grant is
//! refreshed or declared dead on these flags, never on the text of an outcome).

use super::Family;
use crate::api;
use crate::exit::Exit;
use crate::model::SiteId;

/// Outcome of one family of one site.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    Skipped(String),
    Failed(String),
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub calls: u64,
    pub rows: u64,
    pub outcomes: Vec<(SiteId, Option<Family>, Outcome)>,
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

    pub fn error(&mut self, site: SiteId, fam: Family, msg: String) {
        self.outcomes.push((site, Some(fam), Outcome::Failed(msg)));
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
            .filter(|(_, _, o)| matches!(o, Outcome::Failed(_)))
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
        r.error(1, Family::Energy, "boom".into());
        assert_eq!(r.exit(), Exit::Partial);
        r.fatal(Exit::Credits);
        assert_eq!(r.exit(), Exit::Credits);
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
