//! One run: read both ends completely, plan, apply unless refused or a dry run.

use std::sync::Arc;
use std::time::Instant;

use scim_client::ScimClient;
use std::collections::HashSet;

use scim_diff::{
    ApplyOptions, ObservedState, Plan, Policy, Refusal, RefusalKind, RefusalReason, SourceSnapshot,
};

use activate_client::SnapshotOptions;

use crate::dynamic::MassChangeApproval;
use crate::report::{
    ApprovalOutcome, ApprovalUse, RunError, RunOutcome, RunReport, RunWarning, SourceUsers,
    WarningOrigin,
};
use crate::saved::SavedPlan;
use crate::source::Source;
use crate::stop::StopHandle;
use crate::target::{self, ExtensionSupport, ScimTarget};

/// The phases of a run, as an [`Observer`] sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading both ends.
    Reading,
    /// Applying a plan of this many operations.
    Applying {
        /// Operations in the plan.
        operations: usize,
    },
}

/// Told when a phase starts and ends (progress lines, metrics); every method has a default
/// that does nothing.
#[async_trait::async_trait]
pub trait Observer: Send + Sync {
    /// `phase` begins.
    async fn phase_started(&self, _phase: Phase) {}
    /// `phase` is over.
    async fn phase_finished(&self, _phase: Phase) {}
    /// The plan is made, against `observed`; told before the first write (and for a dry
    /// run or a refused plan too), so that it can be shown before anything changes.
    async fn planned(&self, _plan: &Plan, _observed: &ObservedState) {}
}

/// Syncs one identity source into one SCIM target under a [`Policy`].
///
/// ```no_run
/// # async fn example(scim: scim_client::ScimClient) {
/// use scim_sync::{Reconciler, RunOutcome, Source};
/// let report = Reconciler::new(Source::export_file("org.json"), scim, Default::default())
///     .dry_run(true)
///     .run()
///     .await;
/// assert_eq!(report.outcome, RunOutcome::Ok);
/// # }
/// ```
pub struct Reconciler {
    source: Source,
    scim: ScimClient,
    policy: Policy,
    dry_run: bool,
    concurrency: usize,
    stop: StopHandle,
    observer: Option<Arc<dyn Observer>>,
    approval: Option<MassChangeApproval>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("source", &self.source.describe())
            .field("scim", &self.scim)
            .field("dry_run", &self.dry_run)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A run of `source` into `scim` under `policy`: not a dry run, 4 writes in flight, no
    /// deadline.
    pub fn new(source: Source, scim: ScimClient, policy: Policy) -> Self {
        Self {
            source,
            scim,
            policy,
            dry_run: false,
            concurrency: 4,
            stop: StopHandle::default(),
            observer: None,
            approval: None,
        }
    }

    /// A one-shot approval of a plan that the safety limits refuse (from the `SCIMConfig`
    /// resource, [`Effective::approval`](crate::dynamic::Effective::approval)). A run that is
    /// not a dry run withdraws it before its first write, whether its plan needs it or not,
    /// and uses it only once withdrawn; [`RunReport::mass_change_approval`] says what became
    /// of it.
    pub fn mass_change_approval(mut self, approval: Option<MassChangeApproval>) -> Self {
        self.approval = approval;
        self
    }

    /// Plan only, write nothing.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Writes in flight at once (at least 1). With a SCIM client whose bound adapts
    /// (`ClientBuilder::max_concurrency`), writes follow that bound instead, up to its ceiling.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The handle that stops the run, with its deadline. A handle is for one run: its
    /// deadline counts from when it was made, and once raised it stays raised, so a
    /// reconciler that runs again wants a new one.
    pub fn stop_handle(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// Who is told about the phases.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The SCIM client.
    pub fn scim(&self) -> &ScimClient {
        &self.scim
    }

    /// Reads both ends completely and plans; writes nothing, whatever `dry_run` says.
    pub async fn plan(&self) -> RunReport {
        self.reconcile(true).await
    }

    /// Reads both ends completely, plans, and applies the plan unless it is refused (or this
    /// is a dry run).
    pub async fn run(&self) -> RunReport {
        self.reconcile(self.dry_run).await
    }

    /// Reads both ends completely and plans, like [`Reconciler::plan`], and returns the plan
    /// as a [`SavedPlan`] to be reviewed and applied later ([`ApplySaved`](crate::ApplySaved)),
    /// if the run got as far as planning (a refused plan is saved too: applied with the
    /// mass-change override, the limits are checked again).
    pub async fn plan_to_save(&self) -> (RunReport, Option<SavedPlan>) {
        let mut report = RunReport::new(true);
        let snapshot = self.pass(true, &mut report).await;
        report.requests.source = self.source.stats();
        report.requests.target = self.scim.stats();
        let (Some(snapshot), Some(plan), Some(observed)) =
            (snapshot, &report.plan, &report.observed)
        else {
            return (report, None);
        };
        let policy = self.policy.clone();
        let source_users = blocking(move || {
            let nobody = |_: &str, _: &str| false;
            scim_diff::projection::project(&snapshot, &policy, &nobody, &nobody)
                .users
                .len()
        })
        .await;
        let mut saved = SavedPlan::new(
            Plan::clone(plan),
            observed,
            self.policy.clone(),
            self.source.describe(),
            self.scim.base_url(),
            source_users,
        );
        saved.organization = report.organization.clone();
        (report, Some(saved))
    }

    async fn reconcile(&self, dry_run: bool) -> RunReport {
        let mut report = RunReport::new(dry_run);
        self.pass(dry_run, &mut report).await;
        report.requests.source = self.source.stats();
        report.requests.target = self.scim.stats();
        report
    }

    /// One run into `report`; the source snapshot, if it got as far as planning.
    async fn pass(&self, dry_run: bool, report: &mut RunReport) -> Option<SourceSnapshot> {
        let prefix = self.policy.external_id_prefix.clone();

        // 1. read both ends completely; a stop here ends the run with nothing written
        let phase = Instant::now();
        notify_started(&self.observer, Phase::Reading).await;
        let options = SnapshotOptions {
            sync_groups: self.policy.sync_groups.clone(),
            without_ssh_keys: !self.policy.sync_ssh_keys,
        };
        let reading = async {
            if self.source.is_local() {
                // a file is read and checked before the target is asked anything: a bad file
                // costs no request
                match self.source.read(&options).await {
                    Ok(snapshot) => (
                        Ok(snapshot),
                        Some(target::read_observed(&self.scim, &prefix).await),
                    ),
                    Err(e) => (Err(e), None),
                }
            } else {
                let (snapshot, observed) = tokio::join!(
                    self.source.read(&options),
                    target::read_observed(&self.scim, &prefix)
                );
                (snapshot, Some(observed))
            }
        };
        let read = unless_stopped(&self.stop, reading).await;
        notify_finished(&self.observer, Phase::Reading).await;
        report.phases.read = phase.elapsed();
        let (snapshot, observed) = match read {
            Ok((Ok(snapshot), Some(Ok(observed)))) => (snapshot, observed),
            Ok((snapshot, observed)) => {
                report.read_failed(RunError::Read {
                    source: snapshot.err(),
                    target: observed.and_then(Result::err),
                });
                return None;
            }
            Err(stopped) => {
                report.read_failed(stopped);
                return None;
            }
        };
        let (observed, notes) = observed;
        let active = snapshot.snapshot.users.iter().filter(|u| u.active).count();
        report.source_users = Some(SourceUsers {
            active,
            inactive: snapshot.snapshot.users.len() - active,
        });
        report.organization = snapshot.snapshot.organization.clone();
        let source_warnings = snapshot.warnings.into_iter();
        report
            .warnings
            .extend(source_warnings.map(|w| RunWarning::new(WarningOrigin::Source, w)));
        let target_warnings = notes.warnings.into_iter();
        report
            .warnings
            .extend(target_warnings.map(|w| RunWarning::new(WarningOrigin::Target, w)));

        // 2. plan, on the blocking pool (it is CPU-bound and spreads over threads). The read
        // showed managed records only; when the plan would take names (creates, renames),
        // who holds them is looked up and the plan made again with the holders, so that the
        // plan, and a dry run, already meet every conflict the writes would.
        let phase = Instant::now();
        let (plan, source, mut observed) =
            plan_blocking(snapshot.snapshot, observed, self.policy.clone()).await;
        let names = plan.names_to_take();
        let mut plan_time = phase.elapsed();
        let (plan, source, observed) = if names.is_empty() {
            (plan, source, observed)
        } else {
            let looking = Instant::now();
            let lookup = unless_stopped(
                &self.stop,
                target::read_holders(&self.scim, &names.user_names, &names.group_names),
            )
            .await;
            report.phases.read += looking.elapsed();
            let holders = match lookup {
                Ok(Ok(holders)) => holders,
                Ok(Err(error)) => {
                    report.read_failed(RunError::target(error));
                    return None;
                }
                Err(stopped) => {
                    report.read_failed(stopped);
                    return None;
                }
            };
            let added = add_holders(&mut observed, holders);
            tracing::info!(
                names = names.user_names.len() + names.group_names.len(),
                holders = added,
                "looked up who holds the names the plan takes"
            );
            if added == 0 {
                (plan, source, observed)
            } else {
                let again = Instant::now();
                let (plan, source, observed) =
                    plan_blocking(source, observed, self.policy.clone()).await;
                plan_time += again.elapsed();
                (plan, source, observed)
            }
        };
        report.phases.plan = plan_time;
        report
            .warnings
            .extend(plan.warnings.iter().map(RunWarning::from_engine));
        let mut plan = plan;
        if let Err(stopped) =
            refuse_without_extension(&self.scim, &self.stop, &self.policy, &mut plan, report).await
        {
            report.read_failed(stopped);
            return None;
        }
        if let Err(stopped) = use_approval(
            self.approval.as_ref(),
            &self.stop,
            dry_run,
            &mut plan,
            report,
        )
        .await
        {
            report.read_failed(stopped);
            return None;
        }

        // 3. apply, unless refused or a dry run
        let writes = Writes {
            scim: &self.scim,
            policy: &self.policy,
            concurrency: self.concurrency,
            stop: &self.stop,
            observer: &self.observer,
        };
        writes.apply(plan, observed, dry_run, report).await;
        Some(source)
    }
}

/// How a plan is applied, by a [`Reconciler`] and by [`ApplySaved`](crate::ApplySaved) alike.
pub(crate) struct Writes<'a> {
    pub(crate) scim: &'a ScimClient,
    /// The `externalId` prefix and the adoption rule that the writes re-check.
    pub(crate) policy: &'a Policy,
    pub(crate) concurrency: usize,
    pub(crate) stop: &'a StopHandle,
    pub(crate) observer: &'a Option<Arc<dyn Observer>>,
}

impl Writes<'_> {
    /// Records `plan` (made against `observed`) in the report, tells the observer, and
    /// applies it unless it is refused, empty or `dry_run`.
    pub(crate) async fn apply(
        &self,
        plan: Plan,
        observed: ObservedState,
        dry_run: bool,
        report: &mut RunReport,
    ) {
        let plan = Arc::new(plan);
        let observed = Arc::new(observed);
        report.plan = Some(Arc::clone(&plan));
        report.observed = Some(Arc::clone(&observed));
        if let Some(o) = self.observer {
            o.planned(&plan, &observed).await;
        }
        tracing::info!(
            operations = plan.operations.len(),
            conflicts = plan.conflicts.len(),
            warnings = plan.warnings.len(),
            refused = plan.is_refused(),
            "planned"
        );
        if plan.is_refused() {
            report.outcome = RunOutcome::Refused;
            return;
        }
        if dry_run || plan.is_empty() {
            return;
        }
        let phase = Instant::now();
        let applying = Phase::Applying {
            operations: plan.operations.len(),
        };
        notify_started(self.observer, applying).await;
        // an adaptive client lets writes grow past the configured number, to its ceiling
        let pacer = self.scim.pacer();
        let ceiling = pacer.is_adaptive().then(|| pacer.max_in_flight());
        let options = ApplyOptions {
            concurrency: ceiling.unwrap_or(self.concurrency).max(self.concurrency),
            deadline: self.stop.deadline(),
            stop: Some(self.stop.flag()),
            external_id_prefix: self.policy.external_id_prefix.clone(),
            adoption: self.policy.adoption.clone(),
        };
        let target = ScimTarget::new(self.scim.clone());
        let applied = scim_diff::apply(&plan, &target, &options).await;
        notify_finished(self.observer, applying).await;
        report.phases.apply = phase.elapsed();
        for op in &applied.operations {
            report.warnings.extend(
                op.notes
                    .iter()
                    .map(|n| RunWarning::about(WarningOrigin::Target, &op.external_id, n.clone())),
            );
        }
        // names taken by records created since the read are conflicts, as when planning
        report.outcome = if applied.is_success() || applied.only_conflicts() {
            RunOutcome::Ok
        } else {
            RunOutcome::Failed
        };
        report.applied = Some(applied);
    }
}

/// Decides what a one-shot mass-change approval does for `plan`, before the first write:
/// - a plan refused by the safety limits only: a dry run shows it lifted (and leaves the
///   approval in place); a real run withdraws the approval and, once it is withdrawn, lifts
///   the refusal; an approval that cannot be withdrawn is not used;
/// - a plan that exceeds no limit: a real run withdraws the approval all the same, so that it
///   cannot approve a later change nobody reviewed;
/// - a plan refused for another reason too: the approval stays for a later run.
pub(crate) async fn use_approval(
    approval: Option<&MassChangeApproval>,
    stop: &StopHandle,
    dry_run: bool,
    plan: &mut Plan,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let Some(approval) = approval else {
        return Ok(());
    };
    let only_limits = plan
        .refusal
        .as_ref()
        .map(|r| r.reasons.iter().all(|reason| reason.kind.is_a_limit()));
    let outcome = match (only_limits, dry_run) {
        (Some(false), _) => ApprovalOutcome::Kept,
        (Some(true), true) => ApprovalOutcome::WouldBeUsed {
            lifted: plan.refusal.take().expect("a refused plan"),
        },
        (None, true) => ApprovalOutcome::NotNeeded,
        (refused, false) => match unless_stopped(stop, approval.withdraw()).await? {
            Ok(()) => match refused {
                Some(_) => ApprovalOutcome::Used {
                    lifted: plan.refusal.take().expect("a refused plan"),
                },
                None => ApprovalOutcome::Withdrawn,
            },
            Err(reason) => {
                report
                    .warnings
                    .push(RunWarning::new(WarningOrigin::Settings, reason.clone()));
                ApprovalOutcome::NotWithdrawn { reason }
            }
        },
    };
    if let ApprovalOutcome::Used { lifted } | ApprovalOutcome::WouldBeUsed { lifted } = &outcome {
        tracing::warn!(
            resource = %approval.resource(),
            limits = lifted.reasons.len(),
            dry_run,
            "a one-shot approval lifts the safety limits for this run"
        );
    }
    report.mass_change_approval = Some(ApprovalUse {
        resource: approval.resource(),
        outcome,
    });
    Ok(())
}

/// A plan that writes SSH keys into a target whose discovery does not declare the CoreWeave
/// user extension is refused (every such write would fail); a target without discovery, or
/// whose discovery cannot be read, gets a warning. Asked only when the plan writes keys, so
/// that a run with nothing of the kind to write costs no request more.
pub(crate) async fn refuse_without_extension(
    scim: &ScimClient,
    stop: &StopHandle,
    policy: &Policy,
    plan: &mut Plan,
    report: &mut RunReport,
) -> Result<(), RunError> {
    if !policy.sync_ssh_keys || !plan.writes_ssh_keys() {
        return Ok(());
    }
    let warn = |report: &mut RunReport, message: String| {
        report
            .warnings
            .push(RunWarning::new(WarningOrigin::Target, message));
    };
    match unless_stopped(stop, target::extension_support(scim)).await? {
        Ok(ExtensionSupport::Declared) => {}
        Ok(missing @ ExtensionSupport::NotDeclared { .. }) => {
            let reason = RefusalReason {
                kind: RefusalKind::ExtensionNotDeclared,
                message: missing.explain(),
            };
            match &mut plan.refusal {
                Some(refusal) => refusal.reasons.push(reason),
                None => {
                    plan.refusal = Some(Refusal {
                        reasons: vec![reason],
                    });
                }
            }
        }
        Ok(unknown @ ExtensionSupport::NoDiscovery) => warn(report, unknown.explain()),
        Err(e) => warn(
            report,
            format!(
                "could not read the target's discovery to see whether it accepts the CoreWeave \
                 user extension: {e}"
            ),
        ),
    }
    Ok(())
}

/// `read`, unless the stop is raised or the deadline passes first (a stop already raised wins
/// over a read that happens to be done).
pub(crate) async fn unless_stopped<T>(
    stop: &StopHandle,
    read: impl std::future::Future<Output = T>,
) -> Result<T, RunError> {
    tokio::select! {
        biased;
        () = stop.raised() => Err(RunError::StoppedWhileReading),
        () = stop.deadline_passed() => Err(RunError::DeadlineWhileReading),
        read = read => Ok(read),
    }
}

pub(crate) async fn notify_started(observer: &Option<Arc<dyn Observer>>, phase: Phase) {
    if let Some(o) = observer {
        o.phase_started(phase).await;
    }
}

pub(crate) async fn notify_finished(observer: &Option<Arc<dyn Observer>>, phase: Phase) {
    if let Some(o) = observer {
        o.phase_finished(phase).await;
    }
}

/// `f` on the blocking pool; its panic, if it panics, goes on in the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Plans on the blocking pool, and hands the inputs back (for a second plan).
async fn plan_blocking(
    source: SourceSnapshot,
    observed: ObservedState,
    policy: Policy,
) -> (Plan, SourceSnapshot, ObservedState) {
    // a panic in the planner is a bug: it goes on in the caller, as if planned here
    blocking(move || {
        let plan = scim_diff::plan(&source, &observed, &policy);
        (plan, source, observed)
    })
    .await
}

/// Adds the holders the state does not have yet (by SCIM id, each once); returns how many.
pub(crate) fn add_holders(observed: &mut ObservedState, holders: target::Holders) -> usize {
    let mut known: HashSet<String> = observed.users.iter().map(|u| u.id.clone()).collect();
    let before = observed.users.len() + observed.groups.len();
    let users = holders.users.into_iter();
    observed
        .users
        .extend(users.filter(|u| known.insert(u.id.clone())));
    let mut known: HashSet<String> = observed.groups.iter().map(|g| g.id.clone()).collect();
    let groups = holders.groups.into_iter();
    observed
        .groups
        .extend(groups.filter(|g| known.insert(g.id.clone())));
    observed.users.len() + observed.groups.len() - before
}
