//! Exit codes: one enum, documented in `--help`, the README and ARCHITECTURE.md.
//!
//! A run carries on after per-family errors, records them, and computes the code at the
//! end, so a failure in one family never hides the data saved for the others.

use std::fmt;

/// What a run ended with. The numeric values are a public contract (systemd units and
/// scripts read them); never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// Some families or sites failed; everything else was saved. The timer tries again.
    Partial = 1,
    /// Configuration, usage or credential problem (bad config, key rejected, V1 URL).
    Config = 2,
    /// Another seh run holds the database lock.
    Busy = 3,
    /// The database cannot be opened or written (locked, read-only, full, corrupt, newer).
    Database = 4,
    /// The monthly API credits are exhausted; nothing more is fetched until the cycle resets.
    Credits = 5,
    /// An OAuth grant is dead (refresh token expired or revoked, grant ended, or it does not
    /// cover its site): `seh auth login` for the named site. The other sites carried on.
    GrantDead = 6,
    /// Interrupted (Ctrl-C or SIGTERM) after saving the last completed response.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Combine two outcomes of parts of a run: the more serious wins. `Ok` < `Partial` <
    /// everything else, and among the fatal ones the first to be set is kept by callers.
    pub fn merge(self, other: Exit) -> Exit {
        self.max(other)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The table printed by `--help` (after argh's text, which has no room for aligned tables)
/// and copied into the README; the one place `--help` lists the codes.
pub const TABLE: &str = "\
Exit codes:
  0    everything asked for was done
  1    some families or sites failed; everything else was saved
  2    configuration, usage or credential error
  3    another seh run holds the database lock
  4    the database cannot be opened or written (locked, read-only, full, corrupt)
  5    the monthly API credits are exhausted; fetching resumes after the reset
  6    an OAuth grant is dead; run `seh auth login` for the named site
  130  interrupted (Ctrl-C/SIGTERM); the last completed response was saved";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_more_serious() {
        assert_eq!(Exit::Ok.merge(Exit::Partial), Exit::Partial);
        assert_eq!(Exit::Partial.merge(Exit::Ok), Exit::Partial);
        assert_eq!(Exit::Partial.merge(Exit::Credits), Exit::Credits);
        assert_eq!(Exit::Interrupted.merge(Exit::Partial), Exit::Interrupted);
    }

    #[test]
    fn table_lists_every_code() {
        for e in [
            Exit::Ok,
            Exit::Partial,
            Exit::Config,
            Exit::Busy,
            Exit::Database,
            Exit::Credits,
            Exit::GrantDead,
            Exit::Interrupted,
        ] {
            assert!(TABLE.contains(&format!("  {} ", e.code())), "{e:?}");
        }
    }
}
