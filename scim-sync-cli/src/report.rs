//! What a run tells the operator: the [`Report`] (serialized as the one JSON object of
//! `--output json`) and its text rendering (the plan as a review, and a summary).
//!
//! The report holds the engine's [`Plan`] itself (shared, never copied) and serializes its
//! operations exactly as `scim-diff` does (each with `op` and `externalId`) when the report is
//! printed, so the report format follows the engine without a second definition here, and a
//! plan of 100k operations is not held twice (once as JSON values) in memory.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use scim_diff::review::Review;
use scim_diff::{ObservedState, Operation, Plan};
pub use scim_sync::{OpCounts, Summary};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::exit::Outcome;

/// The result of one run (`--output json` prints exactly this, as one object).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `reconcile`, `check`, `demo`, `plan` or `apply`.
    pub command: &'static str,
    /// Whether the run wrote nothing by request.
    pub dry_run: bool,
    /// How the run ended.
    pub outcome: Outcome,
    /// The process exit code (see the README).
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
    pub conflicts: Vec<Value>,
    /// The safety check that refused the run, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Value>,
    /// The error that ended the run early (configuration, read failure), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Requests made, per side.
    pub requests: Requests,
    /// The effective value of every run-time setting and where it came from (`static` or
    /// `dynamic`), and how the `SCIMConfig` lookup went.
    pub settings: Value,
    /// The plan file saved (`plan`) or applied (`apply`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_file: Option<String>,
    /// What became of the `SCIMConfig`'s one-shot `allowMassChanges` approval, when the run
    /// had one and got as far as planning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_change_approval: Option<Value>,
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
}

/// How the text rendering shows the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PlanText {
    /// Every operation (the review), then the findings.
    #[default]
    Full,
    /// The header, the conflicts and the warnings counted by kind (`--summary`).
    Summary,
}

impl PlanText {
    /// The plan as the text shows it, in the operator's terms: every operation and the
    /// findings, or the header alone.
    pub fn render(self, review: &Review<'_>, dry_run: bool) -> String {
        let mut text = String::new();
        if dry_run {
            text.push_str("Dry run: nothing is written.\n");
        }
        match self {
            Self::Full => text.push_str(&in_operator_terms(&review.render())),
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

/// The engine's plan as the report carries it, with the state it was planned against:
/// serialized as the list of its operations (each as [`Review::operation_json`] gives it),
/// rendered as the review in text output.
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
    /// The ACTIVATE API (zero with `--source-file`).
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
}

impl Report {
    /// An empty report for a run of this kind.
    pub fn new(command: &'static str, dry_run: bool) -> Report {
        Report {
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
            settings: Value::Null,
            plan_file: None,
            mass_change_approval: None,
            duration_ms: 0,
            phases_ms: Phases::default(),
            plan_text: PlanText::Full,
            plan_shown: false,
        }
    }

    /// Records the plan and the state it was planned against (its operations are serialized
    /// when the report is printed).
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

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// The text rendering: the plan as [`PlanText`] shows it (unless it was printed before the
    /// first write), then what the run adds: the refusal, the error, conflicts and warnings
    /// the review did not show, failures, the result, requests and the outcome.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(review) = self.plan.review().filter(|_| !self.plan_shown) {
            out.push_str(&self.plan_text.render(&review, self.dry_run));
        }
        // what the review shows (now, or before the first write) is not repeated here
        let reviewed = self
            .plan
            .plan()
            .filter(|_| self.plan_text != PlanText::Summary);
        if let Some(refusal) = &self.refusal {
            if reviewed.is_none_or(|p| p.refusal.is_none()) {
                let _ = writeln!(out, "REFUSED: {}", refusal_text(refusal));
            }
            out.push_str(advice(refusal));
        }
        if let Some(line) = self.mass_change_approval.as_ref().and_then(approval_line) {
            let _ = writeln!(out, "{line}");
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "ERROR: {error}");
        }
        let planned_conflicts: HashSet<(&str, &str)> = reviewed
            .iter()
            .flat_map(|p| &p.conflicts)
            .map(|c| (c.external_id.as_str(), c.message.as_str()))
            .collect();
        let conflicts: Vec<String> = self
            .conflicts
            .iter()
            .filter(|c| {
                let key = (field(c, "externalId"), field(c, "message"));
                !planned_conflicts.contains(&key)
            })
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
        out
    }
}

/// What to do about a refusal: make a saved plan again, set the option its message names, or
/// (a limit) check the source and override once.
fn advice(refusal: &Value) -> &'static str {
    const SAVED_PLAN: [&str; 4] = ["stale_plan", "expired_plan", "other_target", "invalid_plan"];
    const SETTINGS: [&str; 2] = ["extension_not_declared", "invalid_policy"];
    let kinds: Vec<&str> = refusal["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    if kinds.iter().any(|k| SAVED_PLAN.contains(k)) {
        "Nothing was written. Make the plan again (`plan --out FILE`), review it, and apply the \
         new file.\n"
    } else if kinds.iter().any(|k| SETTINGS.contains(k)) {
        "Nothing was written. Change the setting named above, then run again.\n"
    } else {
        "Nothing was written. Check the source; if the change is intended, run once with \
         --allow-mass-changes (in a cluster: set allowMassChanges: true in the SCIMConfig, a \
         one-shot approval that the next run uses and removes).\n"
    }
}

/// The text line for what became of a one-shot approval (see
/// [`scim_sync::ApprovalOutcome`]); `None` for the outcomes a warning already tells.
fn approval_line(approval: &Value) -> Option<String> {
    let resource = approval["resource"].as_str().unwrap_or("SCIMConfig");
    let lifted = || {
        let reasons: Vec<String> = approval["lifted"]["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["message"].as_str())
            .map(in_operator_terms)
            .collect();
        reasons.join("; ")
    };
    Some(match approval["outcome"].as_str()? {
        "used" => format!(
            "APPROVED: the one-shot approval in {resource} lifted the safety limits ({}); it \
             has been removed from the resource",
            lifted()
        ),
        "would_be_used" => format!(
            "APPROVED (dry run): the one-shot approval in {resource} would lift the safety \
             limits ({}); it stays until a run that writes uses it",
            lifted()
        ),
        "withdrawn" => format!(
            "Note: {resource} held a one-shot approval that this run did not need; it has \
             been removed, so it cannot approve a later change"
        ),
        "not_needed" => format!(
            "Note: {resource} holds a one-shot approval that this plan does not need; the \
             next run that writes removes it"
        ),
        "kept" => format!(
            "Note: {resource} holds a one-shot approval, which does not lift this refusal; \
             it stays for a later run"
        ),
        _ => return None,
    })
}

/// The engine's words for its limits, as an operator sets them: the flag and the variable.
pub fn in_operator_terms(text: &str) -> String {
    const TERMS: &[(&str, &str)] = &[
        (
            "raise max_deactivations",
            "raise --max-deactivations, SYNC_MAX_DEACTIVATIONS",
        ),
        (
            "raise max_membership_removals",
            "raise --max-membership-removals, SYNC_MAX_MEMBERSHIP_REMOVALS",
        ),
        (
            "raise max_adoptions",
            "raise --max-adoptions, SYNC_MAX_ADOPTIONS",
        ),
        ("the mass-change override", "--allow-mass-changes"),
        (
            "turn SSH key sync off (sync_ssh_keys = false)",
            "set --ssh-keys-attribute none (SCIM_SSH_KEYS_ATTRIBUTE=none)",
        ),
        ("the maximum plan age", "--max-plan-age (SYNC_MAX_PLAN_AGE)"),
    ];
    TERMS
        .iter()
        .fold(text.to_owned(), |text, (engine, operator)| {
            text.replace(engine, operator)
        })
}

fn one_line(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A string field of a JSON object, or "".
fn field<'v>(value: &'v Value, name: &str) -> &'v str {
    value.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// A conflict as one line: `externalId [kind] message`.
fn conflict_line(conflict: &Value) -> String {
    if conflict.is_object() {
        format!(
            "{} [{}] {}",
            field(conflict, "externalId"),
            field(conflict, "kind"),
            field(conflict, "message")
        )
        .replace(['\n', '\r'], " ")
    } else {
        one_line(conflict)
    }
}

fn refusal_text(refusal: &Value) -> String {
    refusal
        .get("message")
        .or_else(|| refusal.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| one_line(refusal))
}
