//! Executing a [`Plan`] through a [`Target`]: bounded concurrency, dependency-aware,
//! failure-isolating, with a deadline and a stop flag.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::plan::{MemberRef, Operation, Plan, UserChanges};
use crate::policy::{Adoption, DEFAULT_EXTERNAL_ID_PREFIX};
use crate::projection::DesiredUser;

/// How a [`TargetError`] should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// The write was sent but no answer came back: it may or may not have happened.
    OutcomeUnknown,
    /// A systemic failure (e.g. 401/403): no further write is issued.
    Fatal,
    /// The record's name is taken by a record the plan did not know of (409 `uniqueness`,
    /// e.g. created between planning and applying): a conflict, as if found when planning.
    /// Recorded; the others go on.
    Conflict,
    /// Any other per-record failure (e.g. 404, 400): recorded, others go on.
    Other,
}

/// An error from a [`Target`] write or lookup. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct TargetError {
    /// How to treat it.
    pub kind: TargetErrorKind,
    /// What happened (lower-case, no trailing period).
    pub message: String,
}

impl TargetError {
    /// A [`TargetErrorKind::Other`] error.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: TargetErrorKind::Other,
            message: message.into(),
        }
    }

    /// A [`TargetErrorKind::Conflict`] error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: TargetErrorKind::Conflict,
            message: message.into(),
        }
    }

    /// A [`TargetErrorKind::Fatal`] error.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            kind: TargetErrorKind::Fatal,
            message: message.into(),
        }
    }

    /// A [`TargetErrorKind::OutcomeUnknown`] error.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        Self {
            kind: TargetErrorKind::OutcomeUnknown,
            message: message.into(),
        }
    }
}

/// The SCIM target as [`apply()`] sees it. The CLI implements it over `scim-client`;
/// [`crate::memory::MemoryTarget`] is the in-memory oracle.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    /// How many writes the target takes at once now, when it knows better than the run's
    /// fixed [`ApplyOptions::concurrency`]: an adaptive bound that grows while the target
    /// keeps up and shrinks when it pushes back. [`apply()`] reads it whenever a write ends
    /// and keeps at most `min(ApplyOptions::concurrency, this)` in flight. Default: no
    /// opinion.
    fn write_lanes(&self) -> Option<usize> {
        None
    }

    /// Creates a user (active, with every attribute of `user`); returns its SCIM id.
    async fn create_user(&self, user: &DesiredUser) -> Result<String, TargetError>;
    /// Changes the attributes named in `changes` (the others stay as they are).
    async fn update_user(&self, id: &str, changes: &UserChanges) -> Result<(), TargetError>;
    /// Sets `active`.
    async fn set_active(&self, id: &str, active: bool) -> Result<(), TargetError>;
    /// Reactivates a user with attribute changes. The default calls
    /// [`update_user`](Self::update_user) (when something changes), then
    /// [`set_active`](Self::set_active); override it to send one PATCH.
    async fn reactivate_user(&self, id: &str, changes: &UserChanges) -> Result<(), TargetError> {
        if !changes.is_empty() {
            self.update_user(id, changes).await?;
        }
        self.set_active(id, true).await
    }
    /// Takes over the user `id` (see [`Operation::AdoptUser`]): sets its `externalId` to
    /// `external_id`, `active` to true and the attributes in `changes`, but only if its
    /// `externalId` is still `previous` (checked against the record as it is now). The
    /// default refuses: a target has to implement adoption to allow it.
    async fn adopt_user(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        changes: &UserChanges,
    ) -> Result<(), TargetError> {
        let _ = (id, previous, external_id, changes);
        Err(TargetError::other(
            "this target does not implement adoption",
        ))
    }
    /// Takes over the group `id` (see [`Operation::AdoptGroup`]): sets its `externalId` to
    /// `external_id` and its `displayName`, only if its `externalId` is still `previous`.
    /// The default refuses.
    async fn adopt_group(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        display_name: &str,
    ) -> Result<(), TargetError> {
        let _ = (id, previous, external_id, display_name);
        Err(TargetError::other(
            "this target does not implement adoption",
        ))
    }
    /// Creates a group with these members (SCIM ids; empty unless the plan sends members
    /// on create, see [`Operation::CreateGroup`]); returns its SCIM id. The group and its
    /// members are one write: when the group exists, so do its members.
    async fn create_group(
        &self,
        external_id: &str,
        display_name: &str,
        members: &[String],
    ) -> Result<String, TargetError>;
    /// Renames a group (same SCIM id).
    async fn rename_group(&self, id: &str, display_name: &str) -> Result<(), TargetError>;
    /// Adds and removes members (SCIM ids) of a group in one request.
    async fn update_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), TargetError>;
    /// The SCIM id of the user with this `externalId`, if any (resolves unknown outcomes).
    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError>;
    /// The SCIM id of the group with this `externalId`, if any (resolves unknown outcomes).
    async fn find_group_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError>;
}

/// How [`apply()`] runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Most writes in flight at once (`0` is treated as `1`); a target with an adaptive
    /// bound ([`Target::write_lanes`]) keeps fewer while its bound is lower. Default 4.
    pub concurrency: usize,
    /// No new write is issued at or after this instant; the rest are skipped.
    pub deadline: Option<Instant>,
    /// When set to `true` (e.g. on SIGTERM), no new write is issued; the rest are skipped.
    pub stop: Option<Arc<AtomicBool>>,
    /// Defence in depth: an operation whose `externalId` lacks this prefix is skipped (a plan
    /// may have been edited by hand). Default [`DEFAULT_EXTERNAL_ID_PREFIX`]; use the policy's.
    pub external_id_prefix: String,
    /// Defence in depth for adoptions: an `adopt_user` that this rule does not allow (for its
    /// previous `externalId`) is skipped. Default: no adoption; use the policy's.
    pub adoption: Adoption,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            deadline: None,
            stop: None,
            external_id_prefix: DEFAULT_EXTERNAL_ID_PREFIX.to_owned(),
            adoption: Adoption::default(),
        }
    }
}

impl ApplyOptions {
    /// Whether the adoption rule lets a user whose `externalId` is `previous` be adopted.
    fn may_adopt_user(&self, previous: Option<&str>) -> bool {
        self.adoption.users && self.adoption.matches(&self.external_id_prefix, previous)
    }

    /// Whether the adoption rule lets a group whose `externalId` is `previous` be adopted.
    fn may_adopt_group(&self, previous: Option<&str>) -> bool {
        self.adoption.groups && self.adoption.matches(&self.external_id_prefix, previous)
    }
}

/// What happened to one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The write happened.
    Done,
    /// The write failed.
    Failed {
        /// How the target classified the error.
        kind: TargetErrorKind,
        /// The error.
        error: String,
    },
    /// The write was not attempted.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// The outcome of one operation of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    /// Index of the operation in [`Plan::operations`].
    pub index: usize,
    /// The `op` name.
    pub op: String,
    /// The record's `externalId`.
    pub external_id: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// SCIM id assigned by a create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_id: Option<String>,
    /// Details (e.g. members left out because their create failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Counts of outcomes for one kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Done.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
}

/// Runs the futures, at most `lanes()` at once, asking again whenever one ends (an adaptive
/// target's bound moves while a step runs). A write first runs, and so first checks whether
/// the run may still write, once it has a lane: one that waited for a lane never goes out
/// after a stop.
async fn in_lanes<F: std::future::Future>(
    mut futures: impl Iterator<Item = F>,
    lanes: impl Fn() -> usize,
) -> Vec<F::Output> {
    let mut running = FuturesUnordered::new();
    let mut done = Vec::new();
    loop {
        while running.len() < lanes() {
            let Some(future) = futures.next() else { break };
            running.push(future);
        }
        match running.next().await {
            Some(output) => done.push(output),
            None => return done,
        }
    }
}

/// Why [`apply()`] stopped issuing writes early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// The plan was refused by a blast-radius limit: nothing was written.
    Refused,
    /// A fatal target error.
    Fatal {
        /// The error.
        error: String,
    },
    /// The deadline passed.
    Deadline,
    /// The stop flag was raised.
    StopRequested,
}

/// The outcome of [`apply()`], per operation and counted per `op`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// One entry per plan operation, in plan order.
    pub operations: Vec<OperationReport>,
    /// Outcome counts per `op` name.
    pub counts: BTreeMap<String, OutcomeCounts>,
    /// Set when writes stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
}

impl ApplyReport {
    /// Totals over every operation.
    pub fn totals(&self) -> OutcomeCounts {
        let mut t = OutcomeCounts::default();
        for c in self.counts.values() {
            t.done += c.done;
            t.failed += c.failed;
            t.skipped += c.skipped;
        }
        t
    }

    /// Whether every operation was done.
    pub fn is_success(&self) -> bool {
        let t = self.totals();
        t.failed == 0 && t.skipped == 0 && self.stopped.is_none()
    }

    /// Whether the only failures are conflicts ([`TargetErrorKind::Conflict`]) and their
    /// consequences (operations skipped after them), with nothing stopped early: a run whose
    /// only problems are names taken by records the plan did not know of.
    pub fn only_conflicts(&self) -> bool {
        self.stopped.is_none()
            && self.operations.iter().all(|r| match &r.outcome {
                Outcome::Failed { kind, .. } => *kind == TargetErrorKind::Conflict,
                Outcome::Done | Outcome::Skipped { .. } => true,
            })
            && self
                .operations
                .iter()
                .any(|r| matches!(r.outcome, Outcome::Failed { .. }))
    }

    fn finish(mut self) -> Self {
        self.counts.clear();
        for r in &self.operations {
            let c = self.counts.entry(r.op.clone()).or_default();
            match r.outcome {
                Outcome::Done => c.done += 1,
                Outcome::Failed { .. } => c.failed += 1,
                Outcome::Skipped { .. } => c.skipped += 1,
            }
        }
        self
    }
}

struct Run<'a, T: ?Sized> {
    target: &'a T,
    opts: &'a ApplyOptions,
    fatal: AtomicBool,
    fatal_error: std::sync::Mutex<Option<String>>,
    early: std::sync::Mutex<Option<StopReason>>,
}

impl<T: Target + ?Sized> Run<'_, T> {
    /// Why a new write must not be issued now, if it must not.
    fn halt(&self) -> Option<String> {
        if self.fatal.load(Ordering::SeqCst) {
            let e = self.fatal_error.lock().expect("not poisoned").clone();
            return Some(format!(
                "not attempted: an earlier fatal error stopped all writes ({})",
                e.unwrap_or_default()
            ));
        }
        let mut early = self.early.lock().expect("not poisoned");
        if self
            .opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
        {
            early.get_or_insert(StopReason::StopRequested);
            return Some("not attempted: a stop was requested".into());
        }
        if self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
            early.get_or_insert(StopReason::Deadline);
            return Some("not attempted: the run deadline was reached".into());
        }
        None
    }

    fn record_error(&self, e: &TargetError) -> Outcome {
        if e.kind == TargetErrorKind::Fatal && !self.fatal.swap(true, Ordering::SeqCst) {
            *self.fatal_error.lock().expect("not poisoned") = Some(e.message.clone());
        }
        Outcome::Failed {
            kind: e.kind,
            error: e.message.clone(),
        }
    }

    /// Runs a create; on an unknown outcome, looks the record up before retrying once.
    async fn create<F, Fut, L, LFut>(
        &self,
        ext: &str,
        mut create: F,
        lookup: L,
    ) -> (Outcome, Option<String>, Vec<String>)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<String, TargetError>>,
        L: Fn() -> LFut,
        LFut: Future<Output = Result<Option<String>, TargetError>>,
    {
        let mut notes = Vec::new();
        match create().await {
            Ok(id) => (Outcome::Done, Some(id), notes),
            Err(e) if e.kind == TargetErrorKind::OutcomeUnknown => {
                notes.push(format!(
                    "create outcome unknown ({}); looked up {ext}",
                    e.message
                ));
                match lookup().await {
                    Ok(Some(id)) => {
                        notes.push("the create had happened".into());
                        (Outcome::Done, Some(id), notes)
                    }
                    Ok(None) => {
                        if let Some(reason) = self.halt() {
                            return (Outcome::Skipped { reason }, None, notes);
                        }
                        notes.push("the create had not happened; sent it again".into());
                        match create().await {
                            Ok(id) => (Outcome::Done, Some(id), notes),
                            Err(e) => (self.record_error(&e), None, notes),
                        }
                    }
                    Err(le) => {
                        notes.push(format!("lookup failed: {}", le.message));
                        (self.record_error(&e), None, notes)
                    }
                }
            }
            Err(e) => (self.record_error(&e), None, notes),
        }
    }
}

/// Executes `plan` through `target` and reports every operation's outcome.
///
/// - A refused plan performs no write: every operation is skipped.
/// - Phases run in plan order (user creates/updates/reactivations, group creates/renames,
///   membership changes, deactivations), each in [`Operation::wave`] order; inside a wave at
///   most `opts.concurrency` writes are in flight. Membership changes therefore wait for the creates whose SCIM ids they need;
///   when such a create failed, the dependent change is skipped (a group) or leaves that member
///   out (a user, noted in the report).
/// - One failed operation never stops the others, except a [`TargetErrorKind::Fatal`] error,
///   the deadline or the stop flag, after which no new write is issued (the rest are skipped).
/// - A create whose outcome is unknown is looked up by `externalId` before it is re-sent once.
pub async fn apply<T: Target + ?Sized>(
    plan: &Plan,
    target: &T,
    opts: &ApplyOptions,
) -> ApplyReport {
    let mut slots: Vec<Option<OperationReport>> = vec![None; plan.operations.len()];
    let report = |i: usize, op: &Operation, outcome: Outcome| OperationReport {
        index: i,
        op: op.kind().to_owned(),
        external_id: op.external_id().to_owned(),
        outcome,
        created_id: None,
        notes: Vec::new(),
    };
    if let Some(refusal) = &plan.refusal {
        let why: Vec<&str> = refusal.reasons.iter().map(|r| r.message.as_str()).collect();
        let reason = format!("not attempted: the plan was refused ({})", why.join("; "));
        let ops = plan
            .operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                report(
                    i,
                    op,
                    Outcome::Skipped {
                        reason: reason.clone(),
                    },
                )
            })
            .collect();
        return ApplyReport {
            operations: ops,
            stopped: Some(StopReason::Refused),
            ..ApplyReport::default()
        }
        .finish();
    }
    let run = Run {
        target,
        opts,
        fatal: AtomicBool::new(false),
        fatal_error: std::sync::Mutex::new(None),
        early: std::sync::Mutex::new(None),
    };
    let concurrency = opts.concurrency.max(1);
    let mut user_ids: HashMap<String, String> = HashMap::new();
    let mut group_ids: HashMap<String, String> = HashMap::new();
    let mut failed_creates: HashMap<String, String> = HashMap::new();

    let mut steps: Vec<(u8, u32)> = plan
        .operations
        .iter()
        .map(|op| (op.phase(), op.wave()))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    for step in steps {
        let indices: Vec<usize> = plan
            .operations
            .iter()
            .enumerate()
            .filter(|(_, op)| (op.phase(), op.wave()) == step)
            .map(|(i, _)| i)
            .collect();
        let (user_ids_ref, group_ids_ref, failed_ref) = (&user_ids, &group_ids, &failed_creates);
        let run_ref = &run;
        let lanes = || {
            let adaptive = target.write_lanes().unwrap_or(concurrency);
            adaptive.clamp(1, concurrency)
        };
        let writes = indices.into_iter().map(|i| {
            let op = &plan.operations[i];
            async move {
                let mut r = report(i, op, Outcome::Done);
                if !op
                    .external_id()
                    .starts_with(&run_ref.opts.external_id_prefix)
                    || run_ref.opts.external_id_prefix.is_empty()
                {
                    r.outcome = Outcome::Skipped {
                        reason: "not attempted: the externalId lacks the managed prefix".into(),
                    };
                    return r;
                }
                if let Some(reason) = run_ref.halt() {
                    r.outcome = Outcome::Skipped { reason };
                    return r;
                }
                let t = run_ref.target;
                let (outcome, created, notes) = match op {
                    Operation::CreateUser { user: u, .. } => {
                        run_ref
                            .create(
                                &u.external_id,
                                || t.create_user(u),
                                || t.find_user_by_external_id(&u.external_id),
                            )
                            .await
                    }
                    Operation::CreateGroup {
                        external_id,
                        display_name,
                        members,
                        ..
                    } => {
                        let (member_ids, mut left_out) = resolve_members(members, user_ids_ref);
                        let (outcome, id, mut notes) = run_ref
                            .create(
                                external_id,
                                || t.create_group(external_id, display_name, &member_ids),
                                || t.find_group_by_external_id(external_id),
                            )
                            .await;
                        notes.append(&mut left_out);
                        (outcome, id, notes)
                    }
                    Operation::UpdateUser { id, changes, .. } => (
                        done(t.update_user(id, changes).await, run_ref),
                        None,
                        vec![],
                    ),
                    Operation::ReactivateUser { id, changes, .. } => (
                        done(t.reactivate_user(id, changes).await, run_ref),
                        None,
                        vec![],
                    ),
                    Operation::DeactivateUser { id, .. } => {
                        (done(t.set_active(id, false).await, run_ref), None, vec![])
                    }
                    Operation::AdoptUser {
                        external_id,
                        id,
                        previous_external_id,
                        changes,
                    } => {
                        let previous = previous_external_id.as_deref();
                        if !run_ref.opts.may_adopt_user(previous) {
                            r.outcome = Outcome::Skipped {
                                reason: "not attempted: adoption of this record is not allowed"
                                    .into(),
                            };
                            return r;
                        }
                        let adopted = t.adopt_user(id, previous, external_id, changes).await;
                        (done(adopted, run_ref), None, vec![])
                    }
                    Operation::AdoptGroup {
                        external_id,
                        id,
                        previous_external_id,
                        display_name,
                    } => {
                        let previous = previous_external_id.as_deref();
                        if !run_ref.opts.may_adopt_group(previous) {
                            r.outcome = Outcome::Skipped {
                                reason: "not attempted: adoption of this record is not allowed"
                                    .into(),
                            };
                            return r;
                        }
                        let adopted = t.adopt_group(id, previous, external_id, display_name).await;
                        (done(adopted, run_ref), None, vec![])
                    }
                    Operation::RenameGroup { id, to, .. } => {
                        (done(t.rename_group(id, to).await, run_ref), None, vec![])
                    }
                    Operation::UpdateMembers {
                        external_id,
                        id,
                        add,
                        remove,
                    } => {
                        let gid = match id {
                            Some(id) => id.clone(),
                            None => match group_ids_ref.get(external_id) {
                                Some(id) => id.clone(),
                                None => {
                                    r.outcome = Outcome::Skipped {
                                        reason: format!(
                                            "not attempted: the group create did not succeed ({})",
                                            failed_ref
                                                .get(external_id)
                                                .map(String::as_str)
                                                .unwrap_or("not done")
                                        ),
                                    };
                                    return r;
                                }
                            },
                        };
                        let (add_ids, notes) = resolve_members(add, user_ids_ref);
                        let remove_ids: Vec<String> =
                            remove.iter().filter_map(|m| m.id.clone()).collect();
                        if add_ids.is_empty() && remove_ids.is_empty() {
                            r.outcome = Outcome::Skipped {
                                reason: "not attempted: every member it adds failed to be created"
                                    .into(),
                            };
                            r.notes = notes;
                            return r;
                        }
                        let out =
                            done(t.update_members(&gid, &add_ids, &remove_ids).await, run_ref);
                        (out, None, notes)
                    }
                };
                r.outcome = outcome;
                r.created_id = created;
                r.notes = notes;
                r
            }
        });
        let results = in_lanes(writes, lanes).await;
        for r in results {
            let op = &plan.operations[r.index];
            match (op, &r.created_id, &r.outcome) {
                (Operation::CreateUser { user: u, .. }, Some(id), _) => {
                    user_ids.insert(u.external_id.clone(), id.clone());
                }
                (Operation::CreateGroup { external_id, .. }, Some(id), _) => {
                    group_ids.insert(external_id.clone(), id.clone());
                }
                (_, None, Outcome::Failed { error, .. }) => {
                    failed_creates.insert(op.external_id().to_owned(), error.clone());
                }
                _ => {}
            }
            let i = r.index;
            slots[i] = Some(r);
        }
    }
    let fatal = run.fatal_error.lock().expect("not poisoned").clone();
    let stopped = match fatal {
        Some(error) => Some(StopReason::Fatal { error }),
        None => run.early.lock().expect("not poisoned").clone(),
    };
    ApplyReport {
        operations: slots
            .into_iter()
            .map(|r| r.expect("every op reported"))
            .collect(),
        counts: BTreeMap::new(),
        stopped,
    }
    .finish()
}

/// The SCIM ids of members to add: known when planning, or assigned by this run's user
/// creates; a member whose create did not succeed is left out, with a note.
fn resolve_members(
    members: &[MemberRef],
    user_ids: &HashMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let mut ids = Vec::with_capacity(members.len());
    let mut notes = Vec::new();
    for m in members {
        let resolved = m.id.clone().or_else(|| {
            m.external_id
                .as_ref()
                .and_then(|e| user_ids.get(e).cloned())
        });
        match resolved {
            Some(id) => ids.push(id),
            None => notes.push(format!(
                "member {} left out: its create did not succeed",
                m.external_id.as_deref().unwrap_or("?")
            )),
        }
    }
    (ids, notes)
}

fn done<T: Target + ?Sized>(r: Result<(), TargetError>, run: &Run<'_, T>) -> Outcome {
    match r {
        Ok(()) => Outcome::Done,
        Err(e) => run.record_error(&e),
    }
}
