//! Why a step of a sync failed, and the one mapping from an API error to an exit code.
//!
//! Every command that calls the API (`sync`, `check`, `auth`) asks [`exit_for`] what an
//! [`api::Error`] means for its exit code, so the same answer never earns two codes. The
//! decision is taken on the error's variant and typed fields, never on its text.

use super::family;
use crate::api;
use crate::exit::Exit;
use crate::store;

/// How much of a command a failed call stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One family of one site inside a sync: only what ends every further call (a rejected
    /// key, a V1 URL, exhausted credits, Ctrl-C) is more than a failed family.
    Family,
    /// A call that proves the configuration (`seh check`, a grant's check): a refused
    /// site, an unknown path or a retired URL are configuration errors too.
    Check,
}

/// The exit code an API error earns; [`Exit::Partial`] when it fails only its part.
pub fn exit_for(e: &api::Error, scope: Scope) -> Exit {
    use api::Error as E;
    match (e, scope) {
        (E::Interrupted, _) => Exit::Interrupted,
        (E::CreditsExhausted { .. }, _) => Exit::Credits,
        (E::Unauthorized { .. } | E::Gone, _) => Exit::Config,
        (E::Forbidden { .. } | E::NotFound { .. }, Scope::Check) => Exit::Config,
        _ => Exit::Partial,
    }
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
    /// Several calls in a row got no answer at all: the run ends (exit 1).
    Unreachable {
        host: String,
        detail: String,
    },
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
            StepError::Unreachable { host, detail } => write!(
                f,
                "cannot reach {host} ({detail}); stopping this run, the next run tries again"
            ),
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
            StepError::Api(e) => match exit_for(e, Scope::Family) {
                Exit::Partial => None,
                exit => Some(exit),
            },
            StepError::CreditsBlocked => Some(Exit::Credits),
            StepError::Unreachable { .. } => Some(Exit::Partial),
            StepError::Store(e) => match e {
                store::Error::Invalid { .. } => None,
                _ => Some(Exit::Database),
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_one_exit_code() {
        let forbidden = api::Error::Forbidden {
            detail: String::new(),
            tier: false,
            other_site: false,
        };
        assert_eq!(exit_for(&forbidden, Scope::Family), Exit::Partial);
        assert_eq!(exit_for(&forbidden, Scope::Check), Exit::Config);
        for scope in [Scope::Family, Scope::Check] {
            assert_eq!(exit_for(&api::Error::Gone, scope), Exit::Config);
            assert_eq!(exit_for(&api::Error::Interrupted, scope), Exit::Interrupted);
            let credits = api::Error::CreditsExhausted {
                detail: String::new(),
            };
            assert_eq!(exit_for(&credits, scope), Exit::Credits);
            assert_eq!(
                exit_for(&api::Error::Server { status: 502 }, scope),
                Exit::Partial
            );
        }
        assert_eq!(
            StepError::Api(api::Error::Server { status: 503 }).fatal(),
            None
        );
        assert_eq!(StepError::CreditsBlocked.fatal(), Some(Exit::Credits));
    }
}
