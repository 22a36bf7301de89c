//! What a sync did: calls, rows, per-family outcomes, and the exit code they earn.

use super::Family;
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
}
