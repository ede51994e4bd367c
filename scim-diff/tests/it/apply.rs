//! Tests of `apply()` against the in-memory oracle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scim_diff::memory::{Fault, MemoryTarget};
use scim_diff::{
    ApplyOptions, DesiredUser, Operation, Outcome, Policy, StopReason, Target, TargetError,
    TargetErrorKind, UserChanges, apply, plan,
};

use crate::common::*;

fn source() -> scim_diff::SourceSnapshot {
    snapshot(
        vec![su("ada"), su("bob"), su("carl")],
        vec![sg("g1", "hpc", &["ada", "bob"]), sg("g2", "web", &["carl"])],
    )
}

#[test]
fn applying_a_plan_converges() {
    let target = MemoryTarget::new(observed(vec![ou("u-old", "old")], vec![]));
    let p = plan(&source(), &target.state(), &Policy::default());
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.counts["create_user"].done, 3);
    assert_eq!(report.counts["deactivate_user"].done, 1);
    let again = plan(&source(), &target.state(), &Policy::default());
    assert!(again.is_empty(), "{}", again.render_table());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["operations"][0]["outcome"], "done");
}

#[test]
fn a_refused_plan_writes_nothing() {
    let users: Vec<_> = (0..30)
        .map(|i| ou(&format!("u{i}"), &format!("n{i}")))
        .collect();
    let target = MemoryTarget::new(observed(users, vec![]));
    let p = plan(
        &snapshot(vec![], vec![]),
        &target.state(),
        &Policy::default(),
    );
    assert!(p.is_refused());
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    assert!(target.writes().is_empty());
    assert_eq!(report.stopped, Some(StopReason::Refused));
    assert_eq!(report.totals().skipped, p.operations.len());
}

#[test]
fn failures_are_isolated_and_dependants_skipped() {
    let target = MemoryTarget::new(Default::default());
    target.inject("pw-activate:user:ada", Fault::Fail(TargetErrorKind::Other));
    target.inject("pw-activate:group:g2", Fault::Fail(TargetErrorKind::Other));
    let p = plan(&source(), &target.state(), &Policy::default());
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    let by = |op: &str, ext: &str| {
        report
            .operations
            .iter()
            .find(|r| r.op == op && r.external_id == ext)
            .unwrap()
            .clone()
    };
    assert!(matches!(
        by("create_user", "pw-activate:user:ada").outcome,
        Outcome::Failed { .. }
    ));
    assert_eq!(
        by("create_user", "pw-activate:user:bob").outcome,
        Outcome::Done
    );
    let g1 = by("update_members", "pw-activate:group:g1");
    assert_eq!(g1.outcome, Outcome::Done);
    assert_eq!(g1.notes.len(), 1, "ada left out: {:?}", g1.notes);
    let g2 = by("update_members", "pw-activate:group:g2");
    assert!(matches!(g2.outcome, Outcome::Skipped { .. }), "{g2:?}");
    assert_eq!(report.counts["create_user"].failed, 1);
    assert!(report.stopped.is_none());
    let st = target.state();
    let hpc = st.groups.iter().find(|g| g.display_name == "hpc").unwrap();
    assert_eq!(hpc.members.len(), 1);
}

#[test]
fn an_unknown_outcome_create_is_looked_up_not_resent() {
    let target = MemoryTarget::new(Default::default());
    target.inject("pw-activate:user:ada", Fault::LoseCreateAnswer);
    target.inject("pw-activate:group:g1", Fault::LoseCreateAnswer);
    let p = plan(&source(), &target.state(), &Policy::default());
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    assert!(report.is_success(), "{report:#?}");
    let creates = target
        .writes()
        .iter()
        .filter(|w| w.method == "create_user")
        .count();
    assert_eq!(creates, 3, "no second create for ada");
    let ada = &report.operations[0];
    assert!(
        ada.notes.iter().any(|n| n.contains("had happened")),
        "{ada:?}"
    );
    assert!(plan(&source(), &target.state(), &Policy::default()).is_empty());
}

/// A target whose creates fail with an unknown outcome *before* reaching the store.
struct LostBeforeStore {
    inner: MemoryTarget,
    lost: AtomicBool,
}

#[async_trait::async_trait]
impl Target for LostBeforeStore {
    async fn create_user(&self, user: &DesiredUser) -> Result<String, TargetError> {
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(TargetError::outcome_unknown("timeout"));
        }
        self.inner.create_user(user).await
    }
    async fn update_user(&self, id: &str, c: &UserChanges) -> Result<(), TargetError> {
        self.inner.update_user(id, c).await
    }
    async fn set_active(&self, id: &str, a: bool) -> Result<(), TargetError> {
        self.inner.set_active(id, a).await
    }
    async fn create_group(&self, e: &str, n: &str, m: &[String]) -> Result<String, TargetError> {
        self.inner.create_group(e, n, m).await
    }
    async fn rename_group(&self, id: &str, n: &str) -> Result<(), TargetError> {
        self.inner.rename_group(id, n).await
    }
    async fn update_members(&self, g: &str, a: &[String], r: &[String]) -> Result<(), TargetError> {
        self.inner.update_members(g, a, r).await
    }
    async fn find_user_by_external_id(&self, e: &str) -> Result<Option<String>, TargetError> {
        self.inner.find_user_by_external_id(e).await
    }
    async fn find_group_by_external_id(&self, e: &str) -> Result<Option<String>, TargetError> {
        self.inner.find_group_by_external_id(e).await
    }
}

#[test]
fn an_unknown_outcome_create_that_did_not_happen_is_sent_again() {
    let target = LostBeforeStore {
        inner: MemoryTarget::new(Default::default()),
        lost: AtomicBool::new(false),
    };
    let s = snapshot(vec![su("ada")], vec![]);
    let p = plan(&s, &target.inner.state(), &Policy::default());
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    assert!(report.is_success(), "{report:#?}");
    assert!(
        report.operations[0]
            .notes
            .iter()
            .any(|n| n.contains("sent it again"))
    );
    assert_eq!(target.inner.state().users.len(), 1);
}

#[test]
fn a_fatal_error_stops_further_writes() {
    let target = MemoryTarget::new(Default::default());
    target.inject("pw-activate:user:ada", Fault::Fail(TargetErrorKind::Fatal));
    let p = plan(&source(), &target.state(), &Policy::default());
    let opts = ApplyOptions {
        concurrency: 1,
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &opts));
    assert_eq!(
        target.writes().len(),
        1,
        "only the failing write: {:?}",
        target.writes()
    );
    assert!(matches!(report.stopped, Some(StopReason::Fatal { .. })));
    assert_eq!(report.totals().failed, 1);
    assert_eq!(report.totals().skipped, p.operations.len() - 1);
}

#[test]
fn deadline_and_stop_flag_stop_issuing_writes() {
    let target = MemoryTarget::new(Default::default());
    let p = plan(&source(), &target.state(), &Policy::default());
    let past = ApplyOptions {
        deadline: Some(Instant::now() - Duration::from_millis(1)),
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &past));
    assert_eq!(report.stopped, Some(StopReason::Deadline));
    assert_eq!(report.totals().skipped, p.operations.len());
    let stop = Arc::new(AtomicBool::new(true));
    let flagged = ApplyOptions {
        stop: Some(stop),
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &flagged));
    assert_eq!(report.stopped, Some(StopReason::StopRequested));
    assert!(target.writes().is_empty());
}

#[test]
fn operations_without_the_prefix_are_never_applied() {
    let mut foreign = ou("x1", "zed");
    foreign.external_id = Some("okta:zed".into());
    let target = MemoryTarget::new(observed(vec![foreign], vec![]));
    let mut p = scim_diff::Plan::default();
    p.operations.push(Operation::DeactivateUser {
        external_id: "okta:zed".into(),
        id: "x1".into(),
        user_name: "zed".into(),
    });
    let report = block_on(apply(&p, &target, &ApplyOptions::default()));
    assert!(target.writes().is_empty());
    assert_eq!(report.totals().skipped, 1);
}

/// Counts writes in flight around an await point; its lanes ([`Target::write_lanes`]) are a
/// function of the writes done so far, and it can raise a stop flag as a write starts.
struct Counting {
    inner: MemoryTarget,
    now: AtomicUsize,
    max: AtomicUsize,
    /// Writes started and finished.
    started: AtomicUsize,
    done: AtomicUsize,
    /// Writes that started with more in flight than the lanes allowed then.
    over_lanes: AtomicUsize,
    /// The most in flight when a write started after `done` reached the second number.
    max_after: (AtomicUsize, usize),
    lanes: fn(usize) -> Option<usize>,
    /// Raise this flag as the write with this number (from 1) starts.
    raise: Option<(usize, Arc<AtomicBool>)>,
}

impl Counting {
    fn new(lanes: fn(usize) -> Option<usize>) -> Self {
        Counting {
            inner: MemoryTarget::new(Default::default()),
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            over_lanes: AtomicUsize::new(0),
            max_after: (AtomicUsize::new(0), usize::MAX),
            lanes,
            raise: None,
        }
    }

    async fn around<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        let done = self.done.load(Ordering::SeqCst);
        if (self.lanes)(done).is_some_and(|lanes| n > lanes) {
            self.over_lanes.fetch_add(1, Ordering::SeqCst);
        }
        if done >= self.max_after.1 {
            self.max_after.0.fetch_max(n, Ordering::SeqCst);
        }
        let started = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, flag)) = &self.raise
            && *at == started
        {
            flag.store(true, Ordering::SeqCst);
        }
        YieldOnce(false).await;
        let out = f.await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
        out
    }
}

#[async_trait::async_trait]
impl Target for Counting {
    fn write_lanes(&self) -> Option<usize> {
        (self.lanes)(self.done.load(Ordering::SeqCst))
    }
    async fn create_user(&self, user: &DesiredUser) -> Result<String, TargetError> {
        self.around(self.inner.create_user(user)).await
    }
    async fn update_user(&self, id: &str, c: &UserChanges) -> Result<(), TargetError> {
        self.around(self.inner.update_user(id, c)).await
    }
    async fn set_active(&self, id: &str, a: bool) -> Result<(), TargetError> {
        self.around(self.inner.set_active(id, a)).await
    }
    async fn create_group(&self, e: &str, n: &str, m: &[String]) -> Result<String, TargetError> {
        self.around(self.inner.create_group(e, n, m)).await
    }
    async fn rename_group(&self, id: &str, n: &str) -> Result<(), TargetError> {
        self.around(self.inner.rename_group(id, n)).await
    }
    async fn update_members(&self, g: &str, a: &[String], r: &[String]) -> Result<(), TargetError> {
        self.around(self.inner.update_members(g, a, r)).await
    }
    async fn find_user_by_external_id(&self, e: &str) -> Result<Option<String>, TargetError> {
        self.inner.find_user_by_external_id(e).await
    }
    async fn find_group_by_external_id(&self, e: &str) -> Result<Option<String>, TargetError> {
        self.inner.find_group_by_external_id(e).await
    }
}

#[test]
fn concurrency_is_bounded() {
    let users: Vec<_> = (0..20).map(|i| su(&format!("user{i}"))).collect();
    let s = snapshot(users, vec![]);
    let target = Counting::new(|_| None);
    let p = plan(&s, &target.inner.state(), &Policy::default());
    let opts = ApplyOptions {
        concurrency: 3,
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &opts));
    assert!(report.is_success());
    assert_eq!(target.max.load(Ordering::SeqCst), 3);
}

fn users_plan(n: usize, target: &Counting) -> scim_diff::Plan {
    let users: Vec<_> = (0..n).map(|i| su(&format!("user{i}"))).collect();
    plan(
        &snapshot(users, vec![]),
        &target.inner.state(),
        &Policy::default(),
    )
}

#[test]
fn writes_follow_a_growing_adaptive_bound_up_to_the_configured_ceiling() {
    // one more lane for every 4 writes done, from 1
    let target = Counting::new(|done| Some(1 + done / 4));
    let p = users_plan(80, &target);
    let opts = ApplyOptions {
        concurrency: 6,
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &opts));
    assert!(report.is_success());
    assert_eq!(target.over_lanes.load(Ordering::SeqCst), 0);
    assert_eq!(target.max.load(Ordering::SeqCst), 6, "the ceiling, reached");
}

#[test]
fn writes_back_off_when_the_adaptive_bound_falls() {
    // 8 lanes until 10 writes are done, then 1 (a 429 halved it, and again...)
    let mut target = Counting::new(|done| Some(if done < 10 { 8 } else { 1 }));
    // once the writes that were in flight when it fell have drained
    target.max_after.1 = 10 + 8;
    let p = users_plan(40, &target);
    let opts = ApplyOptions {
        concurrency: 8,
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &opts));
    assert!(report.is_success());
    assert_eq!(target.max.load(Ordering::SeqCst), 8);
    assert_eq!(target.max_after.0.load(Ordering::SeqCst), 1);
}

#[test]
fn a_write_waiting_for_a_lane_is_not_issued_after_a_stop() {
    let flag = Arc::new(AtomicBool::new(false));
    let mut target = Counting::new(|_| Some(1));
    target.raise = Some((3, flag.clone()));
    let p = users_plan(10, &target);
    let opts = ApplyOptions {
        concurrency: 8,
        stop: Some(flag),
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&p, &target, &opts));
    // the third write was in flight when the stop came; it finished, nothing else started
    assert_eq!(target.started.load(Ordering::SeqCst), 3);
    assert_eq!(report.totals().done, 3);
    assert_eq!(report.totals().skipped, 7);
    assert_eq!(report.stopped, Some(StopReason::StopRequested));
}
