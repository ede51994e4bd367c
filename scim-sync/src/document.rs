//! A run as people and tools read it: the [`Document`], the one JSON object a front end
//! prints (the `pw-activate-scim-sync` binary's `--output json`; the README documents its
//! fields as a contract), and [`Document::render_text`], the same run as text: the plan as a
//! review, then what the run adds (a refusal, an error, conflicts, warnings, failures, the
//! result, the requests and the outcome).
//!
//! A document is built from the typed [`RunReport`] ([`Document::record_run`]). It holds the
//! engine's [`Plan`] itself (shared, never copied) and serializes its operations exactly as
//! `scim-diff` does when printed, so the format follows the engine without a second
//! definition, and a plan of 100k operations is not held twice in memory.
//!
//! Messages are in the library's terms (`raise max_deactivations`); a front end passes its
//! own [`Wording`] to say them in its terms (the binary names the flag and the variable).
//!
//! ```
//! use scim_sync::document::{Document, Outcome};
//! let mut doc = Document::new("reconcile", false);
//! doc.record_run(&scim_sync::RunReport::default(), false);
//! assert_eq!(doc.outcome, Outcome::Ok);
//! assert!(doc.render_text().ends_with("Outcome: ok (exit 0)\n"));
//! assert!(doc.to_json().contains(r#""exit_code":0"#));
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use http_transport::StatsSnapshot;
use scim_client::ReadLimit;
use scim_diff::review::Review;
use scim_diff::{
    Conflict, ObservedState, Operation, Outcome as OpResult, Plan, RefusalKind, RefusalReason,
    StopReason, TargetErrorKind,
};
use serde::{Serialize, Serializer};

use crate::dynamic::EffectiveSettings;
use crate::report::{ApprovalOutcome, ApprovalUse, RunError, RunOutcome, RunReport, Summary};

/// How a front end says the library's messages: the identity for the library's own terms
/// ([`library_terms`]), or a translation into the front end's (flags, variables).
pub type Wording = fn(&str) -> String;

/// The library's own terms, unchanged.
pub fn library_terms(text: &str) -> String {
    text.to_owned()
}

/// How a run ended, in the terms of a process exit code (a contract with operators):
///
/// | code | meaning |
/// |---|---|
/// | 0 | everything planned was done, or there was nothing to do |
/// | 1 | some operations failed (or were not issued before the deadline / a stop signal) |
/// | 2 | usage or configuration error; nothing was read or written |
/// | 3 | refused by a safety check (blast-radius limit); nothing written |
/// | 4 | the source or the target could not be read completely; nothing written |
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

impl From<RunOutcome> for Outcome {
    fn from(outcome: RunOutcome) -> Self {
        match outcome {
            RunOutcome::Ok => Outcome::Ok,
            RunOutcome::Failed => Outcome::Failed,
            RunOutcome::Refused => Outcome::Refused,
            RunOutcome::ReadFailed => Outcome::ReadFailed,
        }
    }
}

impl From<Outcome> for std::process::ExitCode {
    fn from(outcome: Outcome) -> Self {
        std::process::ExitCode::from(outcome.code())
    }
}

/// The result of one run (a front end's JSON output prints exactly this, as one object).
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// `reconcile`, `check`, `demo`, `plan` or `apply`.
    pub command: &'static str,
    /// Whether the run wrote nothing by request.
    pub dry_run: bool,
    /// How the run ended.
    pub outcome: Outcome,
    /// The process exit code ([`Outcome::code`]).
    pub exit_code: u8,
    /// The planned operations, each with at least `op` and `externalId`, and `from`/`to` where
    /// it changes a value.
    pub plan: PlannedOps,
    /// The plan in one sentence of counts ("Plan: 3 users to create, ..."), once planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_header: Option<String>,
    /// Counts per operation kind and per outcome.
    pub summary: Summary,
    /// The operations that failed, with their errors.
    pub failed: Vec<FailedOp>,
    /// Warnings from the source, the engine and the run (never fatal).
    pub warnings: Vec<String>,
    /// How many warnings of each kind (`no_email`, `invalid_ssh_key`, ..., `source`,
    /// `target`, `run`).
    pub warning_counts: BTreeMap<String, usize>,
    /// Records the engine would not touch (e.g. a userName taken by an unmanaged user).
    pub conflicts: Vec<Conflict>,
    /// The safety check that refused the run, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<RefusalNotice>,
    /// The error that ended the run early (configuration, read failure), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Requests made, per side.
    pub requests: Requests,
    /// The effective value of every run-time setting and where it came from (`static` or
    /// `dynamic`), and how the `SCIMConfig` lookup went (`null` before they were resolved).
    pub settings: Option<EffectiveSettings>,
    /// The plan file saved (`plan`) or applied (`apply`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_file: Option<String>,
    /// What became of the `SCIMConfig`'s one-shot `allowMassChanges` approval, when the run
    /// had one and got as far as planning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_change_approval: Option<ApprovalUse>,
    /// Wall-clock duration of the run.
    pub duration_ms: u64,
    /// Wall-clock duration of each phase of a reconcile that got that far.
    pub phases_ms: Phases,
    /// How the text shows the plan.
    #[serde(skip)]
    pub plan_text: PlanText,
    /// Whether the plan was printed before the first write (the text then does not repeat
    /// it).
    #[serde(skip)]
    pub plan_shown: bool,
    /// How messages are worded (see [`Wording`]).
    #[serde(skip)]
    pub wording: Wording,
}

/// A refusal as the document carries it: every reason, and their messages in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalNotice {
    /// The reasons' messages, joined with `; `.
    pub message: String,
    /// Every limit or check that refused the run.
    pub reasons: Vec<RefusalReason>,
}

/// How the text rendering shows the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PlanText {
    /// Every operation (the review), then the findings.
    #[default]
    Full,
    /// The header, the conflicts and the warnings counted by kind.
    Summary,
}

impl PlanText {
    /// The plan as the text shows it: every operation and the findings, or the header alone.
    pub fn render(self, review: &Review<'_>, dry_run: bool, wording: Wording) -> String {
        let mut text = String::new();
        if dry_run {
            text.push_str("Dry run: nothing is written.\n");
        }
        match self {
            Self::Full => text.push_str(&wording(&review.render())),
            Self::Summary => {
                text.push_str(&review.header());
                text.push('\n');
            }
        }
        text
    }
}

/// Milliseconds spent in each phase of a reconcile (zero for a phase not reached).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Phases {
    /// Reading both ends completely.
    pub read: u64,
    /// Planning.
    pub plan: u64,
    /// Writing (applying the plan).
    pub apply: u64,
}

/// The engine's plan as the document carries it, with the state it was planned against:
/// serialized as the list of its operations (each as [`Review::operation_json`] gives it),
/// rendered as the review in text.
#[derive(Debug, Clone, Default)]
pub struct PlannedOps {
    planned: Option<(Arc<Plan>, Arc<ObservedState>)>,
}

impl PlannedOps {
    /// The planned operations (none before planning).
    pub fn operations(&self) -> &[Operation] {
        self.planned
            .as_ref()
            .map_or(&[], |(p, _)| p.operations.as_slice())
    }

    /// How many operations are planned.
    pub fn len(&self) -> usize {
        self.operations().len()
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.operations().is_empty()
    }

    /// The plan joined to the state it was planned against, if the run got as far as
    /// planning.
    pub fn review(&self) -> Option<Review<'_>> {
        self.planned.as_ref().map(|(p, o)| Review::new(p, o))
    }

    /// The plan, if the run got as far as planning.
    pub fn plan(&self) -> Option<&Plan> {
        self.planned.as_ref().map(|(p, _)| p.as_ref())
    }
}

impl Serialize for PlannedOps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.review() {
            Some(review) => {
                s.collect_seq(self.operations().iter().map(|op| review.operation_json(op)))
            }
            None => s.collect_seq(self.operations()),
        }
    }
}

/// One failed operation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedOp {
    /// The operation kind.
    pub op: String,
    /// The record it was about.
    #[serde(rename = "externalId")]
    pub external_id: String,
    /// What went wrong.
    pub error: String,
}

/// Requests per side.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Requests {
    /// The ACTIVATE API (zero for an export file).
    pub activate: SideRequests,
    /// The SCIM target.
    pub scim: SideRequests,
}

/// Request counts for one side.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SideRequests {
    /// HTTP requests sent (retries included).
    pub count: u64,
    /// Retries among them.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Answered requests that were not `GET`s (the writes; zero for ACTIVATE).
    pub writes: u64,
    /// The highest bound on requests in flight the side reached (its start at least; zero
    /// when the side was not asked).
    pub concurrency_reached: u64,
    /// Milliseconds during which every request to the side was held because it answered 429
    /// or 503 (its `Retry-After`, or a backoff), overlapping pauses counted once.
    pub retry_after_wait_ms: u64,
}

impl From<&StatsSnapshot> for SideRequests {
    fn from(stats: &StatsSnapshot) -> Self {
        SideRequests {
            count: stats.requests,
            retries: stats.retries,
            throttled: stats.throttled,
            writes: stats.writes(),
            concurrency_reached: stats.concurrency_reached,
            retry_after_wait_ms: stats.paused_ms,
        }
    }
}

impl Document {
    /// An empty document for a run of this kind, worded in the library's terms.
    pub fn new(command: &'static str, dry_run: bool) -> Document {
        Document {
            command,
            dry_run,
            outcome: Outcome::Ok,
            exit_code: 0,
            plan: PlannedOps::default(),
            plan_header: None,
            summary: Summary::default(),
            failed: Vec::new(),
            warnings: Vec::new(),
            warning_counts: BTreeMap::new(),
            conflicts: Vec::new(),
            refusal: None,
            error: None,
            requests: Requests::default(),
            settings: None,
            plan_file: None,
            mass_change_approval: None,
            duration_ms: 0,
            phases_ms: Phases::default(),
            plan_text: PlanText::Full,
            plan_shown: false,
            wording: library_terms,
        }
    }

    /// Records the run-time settings in effect (and warns when they fell back to the static
    /// ones).
    pub fn record_settings(&mut self, settings: &EffectiveSettings) {
        self.settings = Some(settings.clone());
        if let Some(warning) = settings.fallback_warning() {
            self.warn(warning);
        }
    }

    /// Records what a run did: its phases, requests, warnings, error, conflicts, refusal,
    /// plan, failures and outcome. With `fail_on_conflict`, a run whose only problems are
    /// conflicts fails.
    pub fn record_run(&mut self, run: &RunReport, fail_on_conflict: bool) {
        let wording = self.wording;
        self.phases_ms = Phases {
            read: millis(run.phases.read),
            plan: millis(run.phases.plan),
            apply: millis(run.phases.apply),
        };
        self.requests.scim = SideRequests::from(&run.requests.target);
        if let Some(stats) = &run.requests.source {
            self.requests.activate = SideRequests::from(stats);
        }
        let warnings = run.warnings.iter().map(|w| wording(&w.to_string()));
        self.warnings.extend(warnings);
        for (label, n) in run.warning_counts() {
            *self.warning_counts.entry(label.to_owned()).or_insert(0) += n;
        }
        if let Some(error) = &run.error {
            self.error = Some(wording(&read_error_message(error)));
        }
        self.conflicts = run.all_conflicts();
        self.mass_change_approval = run.mass_change_approval.clone();
        if let (Some(plan), Some(observed)) = (&run.plan, &run.observed) {
            self.set_plan(Arc::clone(plan), Arc::clone(observed));
        }
        if let Some(refusal) = run.refusal() {
            let mut reasons = refusal.reasons.clone();
            for reason in &mut reasons {
                reason.message = wording(&reason.message);
            }
            let message: Vec<&str> = reasons.iter().map(|r| r.message.as_str()).collect();
            self.refusal = Some(RefusalNotice {
                message: message.join("; "),
                reasons,
            });
        }
        self.summary = run.summary();
        self.record_failures(run);
        if let Some(stopped) = run.stopped() {
            let why = match stopped {
                StopReason::Refused => "the plan was refused".to_owned(),
                StopReason::Fatal { error } => format!("a systemic target error: {error}"),
                StopReason::Deadline => wording("the deadline passed"),
                StopReason::StopRequested => "a stop signal arrived".to_owned(),
            };
            let skipped = self.summary.skipped;
            self.warn(format!(
                "writes stopped early ({why}); {skipped} operation(s) not attempted, the next \
                 run picks them up"
            ));
        }
        self.finish(run.outcome.into());
        if fail_on_conflict && self.outcome == Outcome::Ok && !self.conflicts.is_empty() {
            self.finish(Outcome::Failed);
        }
    }

    /// The operations whose write failed; a conflict met while applying is reported with the
    /// others, not as a failure.
    fn record_failures(&mut self, run: &RunReport) {
        for op in run.applied.iter().flat_map(|a| &a.operations) {
            if let OpResult::Failed { error, kind } = &op.outcome
                && *kind != TargetErrorKind::Conflict
            {
                self.failed.push(FailedOp {
                    op: op.op.clone(),
                    external_id: op.external_id.clone(),
                    error: error.clone(),
                });
            }
        }
    }

    /// Records the plan and the state it was planned against (its operations are serialized
    /// when the document is printed).
    pub fn set_plan(&mut self, plan: Arc<Plan>, observed: Arc<ObservedState>) {
        self.plan_header = Some(Review::new(&plan, &observed).header());
        self.plan = PlannedOps {
            planned: Some((plan, observed)),
        };
    }

    /// Adds a warning of the run's own (a setting, a variable), counted as `run`.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
        *self.warning_counts.entry("run".to_owned()).or_insert(0) += 1;
    }

    /// Sets the outcome (and the exit code with it).
    pub fn finish(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.exit_code = outcome.code();
    }

    /// Logs the one line every run ends with (`run finished`: the outcome and the counts),
    /// at info when it succeeded, warn when some writes failed, error otherwise.
    pub fn log_summary(&self) {
        let s = &self.summary;
        let r = &self.requests;
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    command = self.command,
                    outcome = self.outcome.as_str(),
                    exit_code = self.exit_code,
                    dry_run = self.dry_run,
                    planned = s.planned,
                    done = s.done,
                    failed = s.failed,
                    skipped = s.skipped,
                    conflicts = self.conflicts.len(),
                    warnings = self.warnings.len(),
                    activate_requests = r.activate.count,
                    scim_requests = r.scim.count,
                    scim_retries = r.scim.retries,
                    scim_throttled = r.scim.throttled,
                    scim_writes = r.scim.writes,
                    duration_ms = self.duration_ms,
                    error = self.error.as_deref().unwrap_or(""),
                    "run finished"
                )
            };
        }
        match self.outcome {
            Outcome::Ok => line!(info),
            Outcome::Failed => line!(warn),
            Outcome::Usage | Outcome::Refused | Outcome::ReadFailed => line!(error),
        }
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a document always serializes")
    }

    /// The text rendering: the plan as [`PlanText`] shows it (unless it was printed before the
    /// first write), then what the run adds: the refusal, the error, conflicts and warnings
    /// the review did not show, failures, the result, requests and the outcome. The text
    /// quotes the peers' text: escape it before it reaches a terminal.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(review) = self.plan.review().filter(|_| !self.plan_shown) {
            out.push_str(&self.plan_text.render(&review, self.dry_run, self.wording));
        }
        // what the review shows (now, or before the first write) is not repeated here
        let reviewed = self
            .plan
            .plan()
            .filter(|_| self.plan_text != PlanText::Summary);
        if let Some(refusal) = &self.refusal {
            if reviewed.is_none_or(|p| p.refusal.is_none()) {
                let _ = writeln!(out, "REFUSED: {}", refusal.message);
            }
            out.push_str(advice(refusal));
        }
        if let Some(line) = self
            .mass_change_approval
            .as_ref()
            .and_then(|a| approval_line(a, self.wording))
        {
            let _ = writeln!(out, "{line}");
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "ERROR: {error}");
        }
        self.render_findings(&mut out, reviewed);
        self.render_result(&mut out);
        out
    }

    /// The conflicts and warnings the review did not show, and the failures.
    fn render_findings(&self, out: &mut String, reviewed: Option<&Plan>) {
        let planned_conflicts: HashSet<(&str, &str)> = reviewed
            .iter()
            .flat_map(|p| &p.conflicts)
            .map(|c| (c.external_id.as_str(), c.message.as_str()))
            .collect();
        let conflicts: Vec<String> = self
            .conflicts
            .iter()
            .filter(|c| !planned_conflicts.contains(&(c.external_id.as_str(), c.message.as_str())))
            .map(conflict_line)
            .collect();
        if !conflicts.is_empty() {
            let _ = writeln!(out, "Conflicts ({}):", conflicts.len());
            for c in &conflicts {
                let _ = writeln!(out, "  - {c}");
            }
        }
        let planned_warnings: HashSet<String> = reviewed
            .iter()
            .flat_map(|p| &p.warnings)
            .map(|w| format!("{}: {}", w.record, w.message))
            .collect();
        let warnings: Vec<&String> = self
            .warnings
            .iter()
            .filter(|w| !planned_warnings.contains(*w))
            .collect();
        if self.plan_text == PlanText::Summary {
            if !self.warning_counts.is_empty() {
                let counts: Vec<String> = self
                    .warning_counts
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect();
                let total: usize = self.warning_counts.values().sum();
                let _ = writeln!(out, "Warnings ({total}): {}", counts.join(", "));
            }
        } else if !warnings.is_empty() {
            let _ = writeln!(out, "Warnings ({}):", warnings.len());
            for w in warnings {
                let _ = writeln!(out, "  - {w}");
            }
        }
        if !self.failed.is_empty() {
            let _ = writeln!(out, "Failed ({}):", self.failed.len());
            for f in &self.failed {
                let _ = writeln!(out, "  - {} {}: {}", f.op, f.external_id, f.error);
            }
        }
    }

    /// What was done, the plan file, the requests and the outcome.
    fn render_result(&self, out: &mut String) {
        if !self.plan.is_empty() && !self.dry_run && self.refusal.is_none() {
            let by_op: Vec<String> = self
                .summary
                .by_op
                .iter()
                .filter(|(_, c)| c.done > 0)
                .map(|(op, c)| format!("{op} {}", c.done))
                .collect();
            let _ = writeln!(
                out,
                "Result: {} done, {} failed, {} skipped{}",
                self.summary.done,
                self.summary.failed,
                self.summary.skipped,
                if by_op.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", by_op.join(", "))
                }
            );
        }
        if let (Some(file), "plan") = (&self.plan_file, self.command) {
            let _ = writeln!(
                out,
                "Plan saved to {file}; after review, apply it with `pw-activate-scim-sync apply {file}`"
            );
        }
        let r = &self.requests;
        let _ = writeln!(
            out,
            "Requests: ACTIVATE {} ({} retries, {} throttled); SCIM {} ({} writes, {} retries, \
             {} throttled)",
            r.activate.count,
            r.activate.retries,
            r.activate.throttled,
            r.scim.count,
            r.scim.writes,
            r.scim.retries,
            r.scim.throttled
        );
        let _ = writeln!(
            out,
            "Outcome: {} (exit {})",
            self.outcome.as_str(),
            self.exit_code
        );
    }
}

/// Why a run ended before planning, with the setting to change where one would help.
fn read_error_message(error: &RunError) -> String {
    match error {
        RunError::StoppedWhileReading => {
            "stopped by a signal while reading; nothing was written".to_owned()
        }
        RunError::DeadlineWhileReading => {
            "the deadline passed while reading; nothing was written".to_owned()
        }
        RunError::Read { source, target } => {
            let mut errors = Vec::new();
            if let Some(e) = source {
                errors.push(format!("could not read the source completely: {e}"));
            }
            if let Some(e) = target {
                let hint = match e.exceeded_limit() {
                    Some(ReadLimit::ResponseBytes) => {
                        " (raise max_response_bytes, if the target's pages are that large)"
                    }
                    Some(ReadLimit::ListPages) => {
                        " (the target pages very small: raise page_size, if it allows)"
                    }
                    Some(_) => " (raise max_records, if the target really holds that many)",
                    None => "",
                };
                errors.push(format!(
                    "could not read the SCIM target completely: {e}{hint}"
                ));
            }
            format!("{}; nothing was written", errors.join("; "))
        }
    }
}

/// What to do about a refusal: make a saved plan again, change the setting its message
/// names, or (a limit) check the source and approve once.
fn advice(refusal: &RefusalNotice) -> &'static str {
    use RefusalKind::{
        ExpiredPlan, ExtensionNotDeclared, InvalidPlan, InvalidPolicy, OtherTarget, StalePlan,
    };
    let any = |kinds: &[RefusalKind]| refusal.reasons.iter().any(|r| kinds.contains(&r.kind));
    if any(&[StalePlan, ExpiredPlan, OtherTarget, InvalidPlan]) {
        "Nothing was written. Make the plan again (`plan --out FILE`), review it, and apply the \
         new file.\n"
    } else if any(&[ExtensionNotDeclared, InvalidPolicy]) {
        "Nothing was written. Change the setting named above, then run again.\n"
    } else {
        "Nothing was written. Check the source; if the change is intended, run once with \
         --allow-mass-changes (in a cluster: set allowMassChanges: true in the SCIMConfig, a \
         one-shot approval that the next run uses and removes).\n"
    }
}

/// The text line for what became of a one-shot approval; `None` for the outcome a warning
/// already tells.
fn approval_line(approval: &ApprovalUse, wording: Wording) -> Option<String> {
    let resource = &approval.resource;
    let lifted = |refusal: &scim_diff::Refusal| {
        let reasons: Vec<String> = refusal
            .reasons
            .iter()
            .map(|r| wording(&r.message))
            .collect();
        reasons.join("; ")
    };
    Some(match &approval.outcome {
        ApprovalOutcome::Used { lifted: refusal } => format!(
            "APPROVED: the one-shot approval in {resource} lifted the safety limits ({}); it \
             has been removed from the resource",
            lifted(refusal)
        ),
        ApprovalOutcome::WouldBeUsed { lifted: refusal } => format!(
            "APPROVED (dry run): the one-shot approval in {resource} would lift the safety \
             limits ({}); it stays until a run that writes uses it",
            lifted(refusal)
        ),
        ApprovalOutcome::Withdrawn => format!(
            "Note: {resource} held a one-shot approval that this run did not need; it has \
             been removed, so it cannot approve a later change"
        ),
        ApprovalOutcome::NotNeeded => format!(
            "Note: {resource} holds a one-shot approval that this plan does not need; the \
             next run that writes removes it"
        ),
        ApprovalOutcome::Kept => format!(
            "Note: {resource} holds a one-shot approval, which does not lift this refusal; \
             it stays for a later run"
        ),
        ApprovalOutcome::NotWithdrawn { .. } => return None,
    })
}

/// A conflict as one line: `externalId [kind] message`.
fn conflict_line(conflict: &Conflict) -> String {
    format!(
        "{} [{}] {}",
        conflict.external_id,
        conflict.kind.as_str(),
        conflict.message
    )
    .replace(['\n', '\r'], " ")
}

/// A duration in whole milliseconds, as the documents give them (`u64::MAX` beyond).
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
