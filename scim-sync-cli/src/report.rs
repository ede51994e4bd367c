//! What a run tells the operator: the [`Report`] (serialized as the one JSON object of
//! `--output json`) and its text rendering (a plan table and a summary).
//!
//! The report holds the engine's [`Plan`] itself (shared, never copied) and serializes its
//! operations exactly as `scim-diff` does (each with `op` and `externalId`) when the report is
//! printed, so the report format follows the engine without a second definition here, and a
//! plan of 100k operations is not held twice (once as JSON values) in memory.

use std::fmt::Write as _;
use std::sync::Arc;

use scim_diff::{Operation, Plan};
pub use scim_sync::{OpCounts, Summary};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::exit::Outcome;

/// The result of one run (`--output json` prints exactly this, as one object).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `reconcile`, `check` or `demo`.
    pub command: &'static str,
    /// Whether the run wrote nothing by request.
    pub dry_run: bool,
    /// How the run ended.
    pub outcome: Outcome,
    /// The process exit code (see the README).
    pub exit_code: u8,
    /// The planned operations, each with at least `op` and `externalId`.
    pub plan: PlannedOps,
    /// Counts per operation kind and per outcome.
    pub summary: Summary,
    /// The operations that failed, with their errors.
    pub failed: Vec<FailedOp>,
    /// Warnings from the source, the engine and the run (never fatal).
    pub warnings: Vec<String>,
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
    /// Wall-clock duration of the run.
    pub duration_ms: u64,
    /// Wall-clock duration of each phase of a reconcile that got that far.
    pub phases_ms: Phases,
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

/// The engine's plan as the report carries it: serialized as the list of its operations,
/// rendered as the engine's table in text output.
#[derive(Debug, Clone, Default)]
pub struct PlannedOps {
    plan: Option<Arc<Plan>>,
}

impl PlannedOps {
    /// The planned operations (none before planning).
    pub fn operations(&self) -> &[Operation] {
        self.plan
            .as_deref()
            .map_or(&[], |p| p.operations.as_slice())
    }

    /// How many operations are planned.
    pub fn len(&self) -> usize {
        self.operations().len()
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.operations().is_empty()
    }

    /// The plan as the engine renders it for people (with its conflicts, warnings and
    /// refusal), if the run got as far as planning.
    pub fn table(&self) -> Option<String> {
        self.plan.as_deref().map(Plan::render_table)
    }
}

impl Serialize for PlannedOps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.operations())
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
            summary: Summary::default(),
            failed: Vec::new(),
            warnings: Vec::new(),
            conflicts: Vec::new(),
            refusal: None,
            error: None,
            requests: Requests::default(),
            settings: Value::Null,
            duration_ms: 0,
            phases_ms: Phases::default(),
        }
    }

    /// Records the plan (its operations are serialized when the report is printed).
    pub fn set_plan(&mut self, plan: Arc<Plan>) {
        self.plan = PlannedOps { plan: Some(plan) };
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

    /// The text rendering: the plan table (as the engine renders it, with its conflicts,
    /// warnings and refusal), then what the run adds: other warnings, failures, the result, requests and the outcome.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let plan_table = self.plan.table().map(|t| in_operator_terms(&t));
        if let Some(table) = &plan_table {
            let _ = writeln!(
                out,
                "Plan{}:",
                if self.dry_run {
                    " (dry run: nothing is written)"
                } else {
                    ""
                }
            );
            out.push_str(table);
            if !table.ends_with('\n') {
                out.push('\n');
            }
        }
        let in_table = |text: &str| plan_table.as_deref().is_some_and(|t| t.contains(text));
        if let Some(refusal) = &self.refusal {
            if !in_table(&refusal_text(refusal)) {
                let _ = writeln!(out, "REFUSED: {}", refusal_text(refusal));
            }
            out.push_str(
                "Nothing was written. Check the source; if the change is intended, run once \
                 with --allow-mass-changes.\n",
            );
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "ERROR: {error}");
        }
        let conflicts: Vec<String> = self
            .conflicts
            .iter()
            .map(one_line)
            .filter(|c| !in_table(c))
            .collect();
        if !conflicts.is_empty() && plan_table.is_none() {
            let _ = writeln!(out, "Conflicts ({}):", conflicts.len());
            for c in &conflicts {
                let _ = writeln!(out, "  - {c}");
            }
        }
        let warnings: Vec<&String> = self.warnings.iter().filter(|w| !in_table(w)).collect();
        if !warnings.is_empty() {
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

fn refusal_text(refusal: &Value) -> String {
    refusal
        .get("message")
        .or_else(|| refusal.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| one_line(refusal))
}
