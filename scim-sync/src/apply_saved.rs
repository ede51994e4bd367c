//! Applying a [`SavedPlan`]: read the target again, check that the plan still holds, and
//! apply exactly its operations.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use scim_client::ScimClient;
use scim_diff::{ObservedState, Policy, Refusal, RefusalReason};

use crate::dynamic::MassChangeApproval;
use crate::reconciler::{
    Observer, Phase, Writes, add_holders, notify_finished, notify_started, unless_stopped,
    use_approval,
};
use crate::report::{RunError, RunReport, RunWarning, WarningOrigin};
use crate::saved::SavedPlan;
use crate::stop::StopHandle;
use crate::target;

/// The default for [`ApplySaved::max_age`]: a plan older than an hour is made again.
pub const DEFAULT_MAX_PLAN_AGE: Duration = Duration::from_secs(3600);

/// Applies a [`SavedPlan`] to the target it was made for, under the policy in force now.
///
/// Nothing is written unless, all checked before the first write:
/// - the plan was made for this target (base URL) and `externalId` prefix, and is not older
///   than [`ApplySaved::max_age`];
/// - the target, read again completely, still holds every record the plan depends on as it
///   was planned (by `meta.version` where the target gives one, else by every attribute the
///   engine reads), and nothing holds an `externalId` or name the plan would take;
/// - every write addresses a record the syncer may write now (its own, or one the adoption
///   rule in force allows);
/// - the blast-radius limits of the policy in force hold (a plan made with the mass-change
///   override needs it again).
///
/// Any failed check is a [`RunOutcome::Refused`](crate::RunOutcome::Refused) whose [`RunReport::refusal`] names what
/// changed; a target that cannot be read is [`RunOutcome::ReadFailed`](crate::RunOutcome::ReadFailed).
///
/// ```no_run
/// # async fn example(scim: scim_client::ScimClient) -> Result<(), String> {
/// use scim_sync::{ApplySaved, RunOutcome, SavedPlan};
/// let saved = SavedPlan::read("plan.json".as_ref())?;
/// let report = ApplySaved::new(saved, scim, Default::default()).run().await;
/// assert_eq!(report.outcome, RunOutcome::Ok);
/// # Ok(()) }
/// ```
pub struct ApplySaved {
    saved: SavedPlan,
    scim: ScimClient,
    policy: Policy,
    dry_run: bool,
    concurrency: usize,
    max_age: Duration,
    stop: StopHandle,
    observer: Option<Arc<dyn Observer>>,
    approval: Option<MassChangeApproval>,
}

impl std::fmt::Debug for ApplySaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplySaved")
            .field("target", &self.saved.target)
            .field("scim", &self.scim)
            .field("dry_run", &self.dry_run)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl ApplySaved {
    /// Applies `saved` through `scim`, with the limits and the adoption rule of `policy` (the
    /// settings in force now; the plan's own settings decided what it contains).
    pub fn new(saved: SavedPlan, scim: ScimClient, policy: Policy) -> Self {
        Self {
            saved,
            scim,
            policy,
            dry_run: false,
            concurrency: 4,
            max_age: DEFAULT_MAX_PLAN_AGE,
            stop: StopHandle::default(),
            observer: None,
            approval: None,
        }
    }

    /// A one-shot approval of a plan that the safety limits in force now refuse; see
    /// [`Reconciler::mass_change_approval`](crate::Reconciler::mass_change_approval).
    pub fn mass_change_approval(mut self, approval: Option<MassChangeApproval>) -> Self {
        self.approval = approval;
        self
    }

    /// Check everything, write nothing.
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

    /// The oldest plan applied (default [`DEFAULT_MAX_PLAN_AGE`]).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The handle that stops the run, with its deadline (see
    /// [`Reconciler::stop_handle`](crate::Reconciler::stop_handle)).
    pub fn stop_handle(mut self, stop: StopHandle) -> Self {
        self.stop = stop;
        self
    }

    /// Who is told about the phases (and shown the plan before the first write).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The plan being applied.
    pub fn saved(&self) -> &SavedPlan {
        &self.saved
    }

    /// Checks the plan against the target as it is now and applies it if it still holds.
    pub async fn run(&self) -> RunReport {
        let mut report = RunReport::new(self.dry_run);
        report.organization = self.saved.organization.clone();
        self.pass(&mut report).await;
        report.requests.target = self.scim.stats();
        report
    }

    async fn pass(&self, report: &mut RunReport) {
        let saved = &self.saved;
        let mut plan = saved.plan.clone();
        // the limits are checked again, under the policy in force now; what does not depend on
        // the policy (a target without the extension, a policy that cannot be used) stays
        let kept: Vec<RefusalReason> = plan
            .refusal
            .take()
            .into_iter()
            .flat_map(|r| r.reasons)
            .filter(|r| !r.kind.is_a_limit())
            .collect();
        let mut reasons = saved.preconditions(
            self.scim.base_url(),
            &self.policy,
            self.max_age,
            SystemTime::now(),
        );
        reasons.extend(kept);
        if !reasons.is_empty() {
            plan.refusal = Some(Refusal { reasons });
            let basis = ObservedState {
                users: saved.basis.users.clone(),
                groups: saved.basis.groups.clone(),
            };
            self.writes().apply(plan, basis, true, report).await;
            return;
        }

        let phase = Instant::now();
        notify_started(&self.observer, Phase::Reading).await;
        let read = unless_stopped(&self.stop, self.read_target()).await;
        notify_finished(&self.observer, Phase::Reading).await;
        report.phases.read = phase.elapsed();
        let (observed, notes) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => return report.read_failed(RunError::target(error)),
            Err(stopped) => return report.read_failed(stopped),
        };
        let warnings = notes.warnings.into_iter();
        report
            .warnings
            .extend(warnings.map(|w| RunWarning::new(WarningOrigin::Target, w)));
        report
            .warnings
            .extend(plan.warnings.iter().map(RunWarning::from_engine));

        let checking = Instant::now();
        let mut reasons = saved.staleness(&observed, &self.policy);
        let limits = plan.check_limits(&self.policy, saved.basis.source_users, &observed);
        reasons.extend(limits.into_iter().flat_map(|r| r.reasons));
        report.phases.plan = checking.elapsed();
        if !reasons.is_empty() {
            tracing::warn!(
                reasons = reasons.len(),
                "the saved plan does not hold; nothing is written"
            );
            plan.refusal = Some(Refusal { reasons });
        }
        let approval = self.approval.as_ref();
        if let Err(stopped) =
            use_approval(approval, &self.stop, self.dry_run, &mut plan, report).await
        {
            return report.read_failed(stopped);
        }
        self.writes()
            .apply(plan, observed, self.dry_run, report)
            .await;
    }

    /// The managed records and the holders of the names the plan takes, as `plan` read them
    /// when the plan was made.
    async fn read_target(&self) -> Result<(ObservedState, target::ReadNotes), scim_client::Error> {
        let prefix = &self.saved.policy.external_id_prefix;
        let (mut observed, notes) = target::read_observed(&self.scim, prefix).await?;
        let names = self.saved.plan.names_to_take();
        if !names.is_empty() {
            let holders =
                target::read_holders(&self.scim, &names.user_names, &names.group_names).await?;
            add_holders(&mut observed, holders);
        }
        Ok((observed, notes))
    }

    fn writes(&self) -> Writes<'_> {
        Writes {
            scim: &self.scim,
            policy: &self.policy,
            concurrency: self.concurrency,
            stop: &self.stop,
            observer: &self.observer,
        }
    }
}
