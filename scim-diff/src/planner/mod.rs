//! The planner: [`plan()`] compares the projection with the observed state, in passes that
//! each have their module: [`index`] (the target indexed and joined to the projection),
//! [`users`], [`names`] (who may take a contested name, and in which wave), [`groups`], and
//! [`order`] (the operations in the order they are applied, and the blast-radius check).
//!
//! Written for large organisations: one pass over each side; a projection and indexes that
//! borrow from the inputs (values are copied only into operations); the big lookups through
//! [`StrIndex`](crate::strindex::StrIndex); group members as projected users; the per-user and
//! per-group passes on every core ([`par`]), merged in input order, and every decision that
//! could depend on order (which record keeps a contested name, which reports a rename cycle)
//! taken in `externalId` order.

mod groups;
mod index;
mod names;
mod order;
mod users;

use std::borrow::Cow;
use std::collections::HashSet;

use rustc_hash::FxBuildHasher;

use crate::observed::{ObservedGroup, ObservedState, ObservedUser};
use crate::par::{self, Parallelism};
use crate::plan::{Conflict, ConflictKind, Plan, Refusal, RefusalKind, RefusalReason};
use crate::policy::Policy;
use crate::projection::{Projection, project_groups, project_users};
use crate::source::SourceSnapshot;

use index::{GroupMembers, ManagedUsers, ProjectedUser, Slot, TargetIndex, join_or};

/// Lowercases without allocating when there is nothing to lowercase.
pub(crate) fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Case-insensitive equality (Unicode lowercase), allocation-free for ASCII.
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Computes the plan that makes `observed` match the projection of `source` under `policy`.
///
/// Pure and deterministic: the same inputs, in any order, give the same plan. Records whose
/// `externalId` lacks the policy prefix are never the subject of an operation; they only
/// cause conflicts (e.g. a `userName` they hold).
pub fn plan(source: &SourceSnapshot, observed: &ObservedState, policy: &Policy) -> Plan {
    plan_with(source, observed, policy, Parallelism::Auto)
}

/// [`plan`], spreading the work over threads as `parallelism` says; the plan is the same
/// whatever it says.
pub fn plan_with(
    source: &SourceSnapshot,
    observed: &ObservedState,
    policy: &Policy,
    parallelism: Parallelism,
) -> Plan {
    par::with_mode(parallelism, || {
        plan_on_this_thread(source, observed, policy)
    })
}

fn plan_on_this_thread(source: &SourceSnapshot, observed: &ObservedState, policy: &Policy) -> Plan {
    if policy.external_id_prefix.is_empty() {
        return Plan {
            refusal: Some(Refusal {
                reasons: vec![RefusalReason {
                    kind: RefusalKind::InvalidPolicy,
                    message: "the externalId prefix is empty, so ownership cannot be decided; \
                              set a prefix"
                        .into(),
                }],
            }),
            ..Plan::default()
        };
    }
    std::thread::scope(|s| plan_in(s, source, observed, policy))
}

/// What every pass reads: the inputs, the projection, the target's indexes, and the records
/// left alone.
struct Context<'a> {
    observed: &'a ObservedState,
    policy: &'a Policy,
    desired: &'a Projection<'a>,
    users: &'a ManagedUsers<'a>,
    groups: &'a TargetIndex<'a>,
    /// `externalId`s that several managed target records share: none of them is touched.
    frozen: &'a HashSet<&'a str, FxBuildHasher>,
    /// Records the source has in conflict, or with identifiers that cannot be synced: not
    /// synced, and their target records (and memberships) left as they are.
    source_conflicted: &'a HashSet<&'a str, FxBuildHasher>,
}

impl<'a> Context<'a> {
    /// The one managed target user with this `externalId`.
    fn managed_user(&self, ext: &str) -> Option<&'a ObservedUser> {
        self.users.one(&self.desired.by_key, ext)
    }

    /// The one managed target group with this `externalId`.
    fn managed_group(&self, ext: &str) -> Option<&'a ObservedGroup> {
        self.groups.managed_group(ext)
    }
}

/// [`plan`], with `s` to run jobs on other threads.
fn plan_in<'s, 'e: 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    source: &'e SourceSnapshot,
    observed: &'e ObservedState,
    policy: &'e Policy,
) -> Plan {
    // For a large organisation, two jobs on other threads: the target's groups by
    // `externalId` and name (needed next), and their members by SCIM id (needed last, so it
    // may go on while the users are matched). Target users are joined to the projection
    // once it exists.
    let threads = par::worth_threads(observed.users.len().max(source.users.len()));
    let members_job = (threads && policy.enable_group_sync)
        .then(|| s.spawn(move || GroupMembers::new(observed, policy)));
    let index_job = threads.then(|| s.spawn(move || TargetIndex::new(observed, policy)));
    let mut desired = project_users(source, policy);
    let target_groups = join_or(index_job, || TargetIndex::new(observed, policy));
    let managed_users = ManagedUsers::new(observed, policy, &desired);

    let mut conflicts: Vec<Conflict> = Vec::new();
    // SCIM ids whose group memberships are left alone
    let mut protected: HashSet<&str, FxBuildHasher> = HashSet::default();
    let frozen = frozen_records(
        &managed_users,
        &target_groups,
        policy,
        &mut protected,
        &mut conflicts,
    );

    // The rest of the projection. Among source records that would share a name, the one
    // whose own target record has that name keeps it (so the choice does not flip from run
    // to run).
    let holds_user_name = |row: u32, _: &str, lower: &str| {
        managed_users
            .of_row(ProjectedUser(row))
            .is_some_and(|o| fold(&o.user_name) == lower)
    };
    let holds_group_name = |ext: &str, lower: &str| {
        target_groups
            .managed_group(ext)
            .is_some_and(|o| fold(&o.display_name) == lower)
    };
    project_groups(
        &mut desired,
        source,
        policy,
        &holds_user_name,
        &holds_group_name,
    );
    let desired = desired; // the projection is complete
    let source_conflicted: HashSet<&str, FxBuildHasher> = desired
        .conflicts
        .iter()
        .map(|c| c.external_id.as_str())
        .chain(desired.held.iter().map(String::as_str))
        .collect();
    let cx = Context {
        observed,
        policy,
        desired: &desired,
        users: &managed_users,
        groups: &target_groups,
        frozen: &frozen,
        source_conflicted: &source_conflicted,
    };
    for ext in &source_conflicted {
        if let Some(u) = cx.managed_user(ext) {
            protected.insert(u.id.as_str());
        }
    }

    let users = users::plan_users(&cx);
    let groups = if policy.enable_group_sync {
        let members = join_or(members_job, || GroupMembers::new(observed, policy));
        groups::plan_groups(&cx, &users, &members, protected)
    } else {
        groups::Groups::default()
    };
    order::assemble(&cx, users, groups, conflicts)
}

/// The `externalId`s that several managed target records share (a conflict each): none of
/// those records is touched, and the memberships of such users are protected.
fn frozen_records<'a>(
    users: &'a ManagedUsers<'a>,
    groups: &TargetIndex<'a>,
    policy: &Policy,
    protected: &mut HashSet<&'a str, FxBuildHasher>,
    conflicts: &mut Vec<Conflict>,
) -> HashSet<&'a str, FxBuildHasher> {
    let mut frozen: HashSet<&str, FxBuildHasher> = HashSet::default();
    for (ext, us) in users.shared() {
        frozen.insert(ext);
        protected.extend(us.iter().map(|u| u.id.as_str()));
        conflicts.push(Conflict::new(
            ext.to_owned(),
            ConflictKind::DuplicateExternalId,
            format!(
                "target users {} share this externalId; none of them is touched",
                sorted_ids(&us, |u| &u.id)
            ),
        ));
    }
    if policy.enable_group_sync {
        for (ext, slot) in &groups.managed_groups {
            if let Slot::Many(gs) = slot {
                frozen.insert(ext);
                conflicts.push(Conflict::new(
                    (*ext).to_owned(),
                    ConflictKind::DuplicateExternalId,
                    format!(
                        "target groups {} share this externalId; none of them is touched",
                        sorted_ids(gs, |g| &g.id)
                    ),
                ));
            }
        }
    }
    frozen
}

fn sorted_ids<T>(items: &[&T], id: impl Fn(&T) -> &str) -> String {
    let mut ids: Vec<&str> = items.iter().map(|t| id(t)).collect();
    ids.sort_unstable();
    ids.join(", ")
}
