//! What a run did, typed: the [`RunReport`] a [`Reconciler`](crate::Reconciler) returns.
//! Front ends render it (the CLI as text or one JSON object); nothing here is formatted for
//! one of them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_transport::StatsSnapshot;
use scim_diff::review::Review;
use scim_diff::{
    ApplyReport, Conflict, ConflictKind, ObservedState, Plan, Refusal, StopReason, TargetErrorKind,
    Warning, WarningKind,
};
use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Everything planned was done (or nothing was to do, or it was a dry run).
    Ok,
    /// Some operations failed or were not issued (a stop, the deadline, a systemic error).
    Failed,
    /// A safety limit refused the plan: nothing was written.
    Refused,
    /// An end could not be read completely: nothing was written.
    ReadFailed,
}

/// Where a warning comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningOrigin {
    /// The identity source (a member that is no user, keys that could not be read).
    Source,
    /// The SCIM target (a refused filter, a record without an id, a note from a write).
    Target,
    /// The planner (an invalid key, a record not synced and why).
    Engine,
    /// The run-time settings (a `SCIMConfig` approval that could not be withdrawn).
    Settings,
}

/// Something an operator should know; never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunWarning {
    /// Where it comes from.
    pub origin: WarningOrigin,
    /// The record it is about, if one (an `externalId`, a group scope name).
    pub record: Option<String>,
    /// What happened.
    pub message: String,
    /// The planner's kind of warning (`None` for the source's and the target's).
    pub kind: Option<WarningKind>,
}

impl RunWarning {
    pub(crate) fn new(origin: WarningOrigin, message: impl Into<String>) -> Self {
        Self {
            origin,
            record: None,
            message: message.into(),
            kind: None,
        }
    }

    pub(crate) fn about(origin: WarningOrigin, record: &str, message: impl Into<String>) -> Self {
        Self {
            record: Some(record.to_owned()),
            ..Self::new(origin, message)
        }
    }

    pub(crate) fn from_engine(warning: &Warning) -> Self {
        Self {
            kind: Some(warning.kind),
            ..Self::about(
                WarningOrigin::Engine,
                &warning.record,
                warning.message.clone(),
            )
        }
    }

    /// What a summary counts it under: the planner's kind (`no_email`, ...), or `source` /
    /// `target` for the warnings of either end.
    pub fn label(&self) -> &'static str {
        match (self.kind, self.origin) {
            (Some(kind), _) => kind.as_str(),
            (None, WarningOrigin::Source) => "source",
            (None, WarningOrigin::Target) => "target",
            (None, WarningOrigin::Engine) => "engine",
            (None, WarningOrigin::Settings) => "settings",
        }
    }
}

impl fmt::Display for RunWarning {
    /// `record: message`, or the message alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.record {
            Some(record) => write!(f, "{record}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a run ended before planning.
#[derive(Debug)]
pub enum RunError {
    /// The stop handle was raised while reading.
    StoppedWhileReading,
    /// The deadline passed while reading.
    DeadlineWhileReading,
    /// One end, or both, could not be read completely.
    Read {
        /// Why the source could not be read, if it could not.
        source: Option<String>,
        /// Why the target could not be read, if it could not.
        target: Option<scim_client::Error>,
    },
}

impl RunError {
    /// The target could not be read completely.
    pub(crate) fn target(e: scim_client::Error) -> RunError {
        RunError::Read {
            source: None,
            target: Some(e),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::StoppedWhileReading => {
                f.write_str("stopped while reading; nothing was written")
            }
            RunError::DeadlineWhileReading => {
                f.write_str("the deadline passed while reading; nothing was written")
            }
            RunError::Read { source, target } => {
                let mut parts = Vec::new();
                if let Some(e) = source {
                    parts.push(format!("could not read the source completely: {e}"));
                }
                if let Some(e) = target {
                    parts.push(format!("could not read the SCIM target completely: {e}"));
                }
                write!(f, "{}; nothing was written", parts.join("; "))
            }
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Read {
                target: Some(e), ..
            } => Some(e),
            _ => None,
        }
    }
}

/// Requests made to each end: the clients' counters (since each client was built, so a
/// client shared by several runs counts them all).
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    /// The ACTIVATE API (`None` for an export).
    pub source: Option<StatsSnapshot>,
    /// The SCIM target.
    pub target: StatsSnapshot,
}

/// Wall-clock time of each phase (zero for a phase not reached).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimings {
    /// Reading both ends completely.
    pub read: Duration,
    /// Planning.
    pub plan: Duration,
    /// Applying the plan.
    pub apply: Duration,
}

/// Everything a run did.
#[derive(Debug)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Whether it wrote nothing by request.
    pub dry_run: bool,
    /// The plan, if the run got as far as planning (with its conflicts, warnings, refusal).
    pub plan: Option<Arc<Plan>>,
    /// The target as the plan was made against it: the managed records read, and the holders
    /// of the names the plan takes (what [`RunReport::review`] names records by).
    pub observed: Option<Arc<ObservedState>>,
    /// Each planned operation with how it ended, in plan order, and why writes stopped
    /// early if they did (`None`: nothing was applied: a dry run, a refusal, an empty plan,
    /// a failed read).
    pub applied: Option<ApplyReport>,
    /// What ended the run before planning, if anything did.
    pub error: Option<RunError>,
    /// Warnings, in the order they arose: source, target (reading), engine, target (writing).
    pub warnings: Vec<RunWarning>,
    /// Requests made to each end.
    pub requests: RequestCounts,
    /// Time spent in each phase.
    pub phases: PhaseTimings,
    /// The ACTIVATE organization, when known (read from the source, or saved with a plan).
    pub organization: Option<String>,
    /// The source's users, once read (`None` for a saved plan, which reads no source).
    pub source_users: Option<SourceUsers>,
    /// What became of the one-shot mass-change approval the run was given, if it was given
    /// one and got as far as planning.
    pub mass_change_approval: Option<ApprovalUse>,
}

/// What a run did with a one-shot mass-change approval
/// ([`MassChangeApproval`](crate::dynamic::MassChangeApproval)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalUse {
    /// The resource that holds it, e.g. `SCIMConfig pw-scim/default`.
    pub resource: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: ApprovalOutcome,
}

/// See [`ApprovalUse`]. Serialized as `{"outcome": "used", "lifted": [...]}`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// It lifted this run's refusal (the limits listed) and was withdrawn.
    Used {
        /// The limits the plan exceeds, which the approval lifted.
        lifted: Refusal,
    },
    /// A dry run: it would lift the refusal (the limits listed); left in place.
    WouldBeUsed {
        /// The limits the plan exceeds.
        lifted: Refusal,
    },
    /// The plan exceeds no limit; withdrawn all the same, so that it cannot approve a later,
    /// unreviewed change.
    Withdrawn,
    /// A dry run whose plan exceeds no limit; left in place (the next real run withdraws it).
    NotNeeded,
    /// The plan is refused for a reason no approval lifts; left in place.
    Kept,
    /// It could not be withdrawn, so it was not used: the run is refused as without it.
    NotWithdrawn {
        /// Why.
        reason: String,
    },
}

impl ApprovalOutcome {
    /// Whether it lifted a refusal of a run that then wrote.
    pub fn is_used(&self) -> bool {
        matches!(self, ApprovalOutcome::Used { .. })
    }
}

/// How many users the source holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceUsers {
    /// Users who may sign in.
    pub active: usize,
    /// Users who may not (deactivated downstream).
    pub inactive: usize,
}

impl Default for RunReport {
    /// A run that did nothing yet: not a dry run, nothing read or planned.
    fn default() -> Self {
        Self::new(false)
    }
}

impl RunReport {
    pub(crate) fn new(dry_run: bool) -> Self {
        Self {
            outcome: RunOutcome::Ok,
            dry_run,
            plan: None,
            observed: None,
            applied: None,
            error: None,
            warnings: Vec::new(),
            requests: RequestCounts::default(),
            phases: PhaseTimings::default(),
            organization: None,
            source_users: None,
            mass_change_approval: None,
        }
    }

    /// Ends the run as a read failure.
    pub(crate) fn read_failed(&mut self, error: RunError) {
        self.error = Some(error);
        self.outcome = RunOutcome::ReadFailed;
    }

    /// The plan as a person reviews it (names, old → new, keys by fingerprint), if the run
    /// got as far as planning.
    pub fn review(&self) -> Option<Review<'_>> {
        Some(Review::new(
            self.plan.as_deref()?,
            self.observed.as_deref()?,
        ))
    }

    /// How many warnings there are of each [`RunWarning::label`].
    pub fn warning_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for w in &self.warnings {
            *counts.entry(w.label()).or_insert(0) += 1;
        }
        counts
    }

    /// The records the plan would not touch.
    pub fn conflicts(&self) -> &[Conflict] {
        self.plan.as_deref().map_or(&[], |p| p.conflicts.as_slice())
    }

    /// The safety limit that refused the plan, if one did.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.plan.as_deref().and_then(|p| p.refusal.as_ref())
    }

    /// Every conflict: those the plan found, then those met while applying (a name taken by
    /// a record the plan did not know of), in plan order.
    pub fn all_conflicts(&self) -> Vec<Conflict> {
        let mut all = self.conflicts().to_vec();
        for op in self.applied.iter().flat_map(|a| &a.operations) {
            if let scim_diff::Outcome::Failed {
                kind: TargetErrorKind::Conflict,
                error,
            } = &op.outcome
            {
                all.push(Conflict {
                    external_id: op.external_id.clone(),
                    kind: if op.op.ends_with("group") {
                        ConflictKind::DisplayNameTaken
                    } else {
                        ConflictKind::UserNameTaken
                    },
                    message: error.clone(),
                });
            }
        }
        all
    }

    /// Why writes stopped before the end, if they did.
    pub fn stopped(&self) -> Option<&StopReason> {
        self.applied.as_ref().and_then(|a| a.stopped.as_ref())
    }

    /// How many operations were planned, done, failed and skipped, overall and per `op`.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        let Some(plan) = &self.plan else {
            return summary;
        };
        summary.planned = plan.operations.len();
        for op in &plan.operations {
            summary
                .by_op
                .entry(op.kind().to_owned())
                .or_default()
                .planned += 1;
        }
        for (op, counts) in self.applied.iter().flat_map(|a| &a.counts) {
            let entry = summary.by_op.entry(op.clone()).or_default();
            entry.done += counts.done;
            entry.failed += counts.failed;
            entry.skipped += counts.skipped;
            summary.done += counts.done;
            summary.failed += counts.failed;
            summary.skipped += counts.skipped;
        }
        summary
    }
}

/// Counts of a run's operations ([`RunReport::summary`]); all zero before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Operations planned.
    pub planned: usize,
    /// Operations written.
    pub done: usize,
    /// Operations whose write failed.
    pub failed: usize,
    /// Operations not attempted (a dry run, a refusal, a stop, a failed prerequisite).
    pub skipped: usize,
    /// The same counts per operation kind (`create_user`, ...).
    pub by_op: BTreeMap<String, OpCounts>,
}

/// Counts for one kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    /// Planned.
    pub planned: usize,
    /// Written.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Not attempted.
    pub skipped: usize,
}
