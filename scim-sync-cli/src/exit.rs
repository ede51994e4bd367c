//! Exit codes, a contract with the operator (and the README):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything planned was done, or there was nothing to do |
//! | 1 | some operations failed (or were not issued before the deadline / a stop signal) |
//! | 2 | usage or configuration error; nothing was read or written |
//! | 3 | refused by a safety check (blast-radius limit); nothing written |
//! | 4 | the source or the target could not be read completely; nothing written |

use serde::Serialize;

/// How a run ended, in the terms of the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything planned was done (or nothing to do).
    Ok,
    /// Some operations failed or were not issued.
    Failed,
    /// Usage or configuration error.
    Usage,
    /// Refused by a safety check; nothing written.
    Refused,
    /// A side could not be read completely; nothing written.
    ReadFailed,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed => 1,
            Outcome::Usage => 2,
            Outcome::Refused => 3,
            Outcome::ReadFailed => 4,
        }
    }

    /// The outcome's name in logs and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Usage => "usage",
            Outcome::Refused => "refused",
            Outcome::ReadFailed => "read_failed",
        }
    }
}

impl From<Outcome> for std::process::ExitCode {
    fn from(outcome: Outcome) -> Self {
        std::process::ExitCode::from(outcome.code())
    }
}
