//! The groups pass: per desired group, on every core, its target record and the members to
//! add and remove; then, in order, creates and renames (names decided together, like
//! `userName`s), and the emptying of managed groups the source no longer has.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;

use crate::observed::ObservedGroup;
use crate::par;
use crate::plan::{Conflict, ConflictKind, MemberRef, Operation};

use super::index::{GroupMembers, ProjectedUser, TargetUser, index_of, managed_ext};
use super::names::{Holder, NameResolver, Want};
use super::users::{Member, Users};
use super::{Context, fold};

/// What the groups pass decided.
#[derive(Default)]
pub(super) struct Groups {
    /// Creates and renames.
    pub(super) ops: Vec<Operation>,
    /// Membership changes.
    pub(super) member_ops: Vec<Operation>,
    /// Groups that cannot take their name.
    pub(super) conflicts: Vec<Conflict>,
}

/// What a desired group needs (computed on every core, applied in order).
enum GroupDiff<'o> {
    /// Its `externalId` is shared by several target groups: left alone.
    Frozen,
    /// Not in the target: created, with these members.
    New { add: Vec<ProjectedUser> },
    /// In the target as `o`.
    Existing {
        o: &'o ObservedGroup,
        /// Its membership operations.
        ops: Vec<Operation>,
    },
}

/// A member to add: a managed user's `externalId`, and its SCIM id when it is known.
fn member_ref((external_id, id): &(String, Option<&str>)) -> MemberRef {
    MemberRef {
        id: id.map(str::to_owned),
        external_id: Some(external_id.clone()),
    }
}

/// A member to remove: its SCIM id, and the managed target user it is, if it is one.
type Removal<'a> = (&'a str, Option<TargetUser>);

/// The pieces of the pass that every group uses.
struct Pass<'c, 'a> {
    cx: &'c Context<'a>,
    users: &'c Users,
    /// SCIM ids whose group memberships are left alone.
    protected: &'c HashSet<&'a str, FxBuildHasher>,
    /// The most member changes in one operation.
    chunk: usize,
    /// Users adopted by this plan (not managed in the target yet), by SCIM id.
    adopted: HashMap<&'c str, ProjectedUser>,
}

impl<'a> Pass<'_, 'a> {
    /// The `externalId` of this managed target user (unless it is shared).
    fn target_ext(&self, k: TargetUser) -> Option<&'a str> {
        let u = k.of(self.cx.observed);
        u.external_id
            .as_deref()
            .filter(|e| self.cx.managed_user(e).is_some_and(|m| m.id == u.id))
    }

    /// Whether member `id` is managed after this plan: a managed target user (`k`), or one
    /// this plan adopts.
    fn is_managed_member(&self, id: &str, k: Option<TargetUser>) -> bool {
        k.is_some() || (!self.adopted.is_empty() && self.adopted.contains_key(id))
    }

    /// Whether member `id` (a managed target user, or not) may be removed from a managed
    /// group.
    fn removable(&self, id: &str, k: Option<TargetUser>) -> bool {
        (self.protected.is_empty() || !self.protected.contains(id))
            && (self.is_managed_member(id, k) || !self.cx.policy.allow_non_provisioned_users)
    }

    /// (externalId, SCIM id if known) of the given projected users, sorted by externalId.
    fn adds(&self, rows: &[ProjectedUser]) -> Vec<(String, Option<&str>)> {
        let desired = self.cx.desired;
        let mut v: Vec<(String, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    self.cx
                        .policy
                        .user_external_id(&desired.users[r.index()].src.username),
                    self.users.member[r.index()].scim_id(self.cx),
                )
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The membership operations of one group: removals first, then adds, at most `chunk`
    /// changes per operation.
    fn member_ops(
        &self,
        ext: &str,
        id: Option<&str>,
        add: &[(String, Option<&str>)],
        remove: &[Removal<'_>],
    ) -> Vec<Operation> {
        let chunk = self.chunk;
        let total = add.len() + remove.len();
        let mut out = Vec::with_capacity(total.div_ceil(chunk));
        let mut start = 0;
        while start < total {
            let end = (start + chunk).min(total);
            let r = &remove[start.min(remove.len())..end.min(remove.len())];
            let a = &add[start.saturating_sub(remove.len())..end.saturating_sub(remove.len())];
            out.push(Operation::UpdateMembers {
                external_id: ext.to_owned(),
                id: id.map(str::to_owned),
                add: a.iter().map(member_ref).collect(),
                remove: r
                    .iter()
                    .map(|&(id, k)| MemberRef {
                        id: Some(id.to_owned()),
                        external_id: k.and_then(|k| self.target_ext(k)).map(str::to_owned),
                    })
                    .collect(),
            });
            start = end;
        }
        out
    }

    /// What one desired group needs.
    fn diff(
        &self,
        members: &GroupMembers<'_>,
        current: &mut Vec<ProjectedUser>,
        ext: &str,
        group_members: &[u32],
    ) -> GroupDiff<'a> {
        let (cx, users) = (self.cx, self.users);
        if cx.frozen.contains(ext) {
            return GroupDiff::Frozen;
        }
        // the projected users that should be members (sorted): the possible members
        let wanted: Vec<ProjectedUser> = group_members
            .iter()
            .map(|&m| ProjectedUser(m))
            .filter(|m| users.member[m.index()] != Member::No)
            .collect();
        let Some(o) = cx.managed_group(ext) else {
            return GroupDiff::New { add: wanted };
        };
        let ops = self.membership(members, current, ext, o, wanted);
        GroupDiff::Existing { o, ops }
    }

    /// The membership operations that make the target group `o` have the `wanted` members:
    /// the wanted ones (by projected user) stay, the others go if the syncer may remove them.
    fn membership(
        &self,
        members: &GroupMembers<'_>,
        current: &mut Vec<ProjectedUser>,
        ext: &str,
        o: &ObservedGroup,
        wanted: Vec<ProjectedUser>,
    ) -> Vec<Operation> {
        let (cx, users) = (self.cx, self.users);
        current.clear();
        let mut remove: Vec<Removal<'_>> = Vec::new();
        let target_members = members.of(index_of(&cx.observed.groups, o));
        for (id, &k) in o.members.iter().zip(target_members) {
            let row = match k {
                Some(k) => users.row_of_target[k.index()],
                None if self.adopted.is_empty() => None,
                None => self.adopted.get(id.as_str()).copied(),
            };
            let row = row.filter(|r| wanted.binary_search(r).is_ok());
            match row {
                Some(r) => current.push(r),
                None if self.removable(id, k) => remove.push((id, k)),
                None => {}
            }
        }
        remove.sort_unstable_by(|a, b| a.0.cmp(b.0));
        remove.dedup_by(|a, b| a.0 == b.0);
        current.sort_unstable();
        current.dedup();
        let add = if current.len() == wanted.len() {
            Vec::new() // every wanted member is there (current ⊆ wanted)
        } else {
            wanted
                .into_iter()
                .filter(|r| {
                    users.member[r.index()] == Member::Created || current.binary_search(r).is_err()
                })
                .collect()
        };
        // built here, on every core: most of a large plan's operations
        self.member_ops(ext, Some(&o.id), &self.adds(&add), &remove)
    }

    /// The one target group holding this (lowercased) name that the policy lets the syncer
    /// adopt, if there is exactly one holder and it may be adopted.
    fn adoptable_group(&self, lower: &str) -> Option<&'a ObservedGroup> {
        let slot = self.cx.groups.group_name_holders.get(lower)?;
        let holder = slot.one()?;
        (self
            .cx
            .policy
            .may_adopt_group(holder.external_id.as_deref()))
        .then_some(holder)
    }
}

pub(super) fn plan_groups<'a>(
    cx: &Context<'a>,
    users: &Users,
    members: &GroupMembers<'a>,
    mut protected: HashSet<&'a str, FxBuildHasher>,
) -> Groups {
    let (observed, policy, desired) = (cx.observed, cx.policy, cx.desired);
    protected.extend(members.shared_ids.iter().copied());
    let pass = Pass {
        cx,
        users,
        protected: &protected,
        chunk: policy.max_members_per_patch.max(1),
        adopted: users
            .adopted
            .iter()
            .map(|(id, row)| (id.as_str(), *row))
            .collect(),
    };
    let group_holders = |lower: &str| -> Vec<Holder<'_>> {
        cx.groups
            .group_name_holders
            .get(lower)
            .map_or_else(Vec::new, |slot| {
                slot.all()
                    .into_iter()
                    .map(|g| Holder {
                        id: &g.id,
                        managed_ext: managed_ext(policy, &g.external_id),
                        external_id: g.external_id.as_deref(),
                    })
                    .collect()
            })
    };
    let group_want = |ext: &str| -> Option<Want<'_>> {
        if cx.frozen.contains(ext) {
            return None;
        }
        let dg = desired.group_by_external_id(ext)?;
        let own = cx.managed_group(ext);
        Some(Want {
            own_id: own.map(|o| o.id.as_str()),
            lower_new: fold(&dg.src.name),
            needs: own.is_none_or(|o| o.display_name != dg.src.name),
        })
    };
    let mut group_names = NameResolver::new("group", &group_holders, &group_want);

    let work = desired.groups.iter().map(|g| g.members.len()).sum();
    let diffs = par::map(&desired.groups, work, Vec::new, |current, _, dg| {
        pass.diff(members, current, &dg.external_id, &dg.members)
    });
    let mut out = Groups::default();
    // target groups a desired group is (the others may have to be emptied)
    let mut matched = vec![false; observed.groups.len()];
    // room for every group's operations at once: at 1M users they are 20 MB
    out.member_ops.reserve(
        diffs
            .iter()
            .map(|d| match d {
                GroupDiff::Existing { ops, .. } => ops.len(),
                GroupDiff::New { add } => add.len().div_ceil(pass.chunk),
                GroupDiff::Frozen => 0,
            })
            .sum(),
    );
    for (dg, diff) in desired.groups.iter().zip(diffs) {
        let ext = dg.external_id.as_str();
        match diff {
            GroupDiff::Frozen => {}
            GroupDiff::New { add } => match group_names.resolve(ext) {
                Ok(wave) => {
                    let adds = pass.adds(&add);
                    // the first chunk in the create itself, when the target takes it
                    let first = if policy.group_members_on_create {
                        adds.len().min(pass.chunk)
                    } else {
                        0
                    };
                    out.ops.push(Operation::CreateGroup {
                        external_id: dg.external_id.clone(),
                        display_name: dg.src.name.clone(),
                        members: adds[..first].iter().map(member_ref).collect(),
                        wave,
                    });
                    out.member_ops
                        .extend(pass.member_ops(ext, None, &adds[first..], &[]));
                }
                Err(who) => match pass.adoptable_group(&fold(&dg.src.name)) {
                    Some(holder) => {
                        matched[index_of(&observed.groups, holder)] = true;
                        out.ops.push(Operation::AdoptGroup {
                            external_id: dg.external_id.clone(),
                            id: holder.id.clone(),
                            previous_external_id: holder.external_id.clone(),
                            display_name: dg.src.name.clone(),
                        });
                        out.member_ops.extend(pass.membership(
                            members,
                            &mut Vec::new(),
                            ext,
                            holder,
                            add,
                        ));
                    }
                    None => out.conflicts.push(Conflict::new(
                        dg.external_id.clone(),
                        ConflictKind::DisplayNameTaken,
                        format!(
                            "group name {:?} is held by {who}; the group is not created",
                            dg.src.name
                        ),
                    )),
                },
            },
            GroupDiff::Existing { o, ops: group_ops } => {
                matched[index_of(&observed.groups, o)] = true;
                if o.display_name != dg.src.name {
                    match group_names.resolve(ext) {
                        Ok(wave) => out.ops.push(Operation::RenameGroup {
                            external_id: dg.external_id.clone(),
                            id: o.id.clone(),
                            from: o.display_name.clone(),
                            to: dg.src.name.clone(),
                            wave,
                        }),
                        Err(who) => out.conflicts.push(Conflict::new(
                            dg.external_id.clone(),
                            ConflictKind::DisplayNameTaken,
                            format!(
                                "group name {:?} is held by {who}; the group keeps {:?}",
                                dg.src.name, o.display_name
                            ),
                        )),
                    }
                }
                out.member_ops.extend(group_ops);
            }
        }
    }
    empty_the_gone(&pass, members, &matched, &mut out);
    out
}

/// Managed groups whose ACTIVATE group vanished or left the scope: emptied of the members
/// the syncer manages (never deleted).
fn empty_the_gone(
    pass: &Pass<'_, '_>,
    members: &GroupMembers<'_>,
    matched: &[bool],
    out: &mut Groups,
) {
    let cx = pass.cx;
    let mut gone: Vec<(&str, &ObservedGroup)> = cx
        .groups
        .managed_groups
        .iter()
        .filter_map(|(ext, slot)| slot.one().map(|g| (*ext, g)))
        .filter(|(ext, g)| {
            !matched[index_of(&cx.observed.groups, g)] && !cx.source_conflicted.contains(ext)
        })
        .collect();
    gone.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (ext, o) in gone {
        let target_members = members.of(index_of(&cx.observed.groups, o));
        let mut remove: Vec<Removal<'_>> = o
            .members
            .iter()
            .map(String::as_str)
            .zip(target_members.iter().copied())
            .filter(|&(id, k)| pass.is_managed_member(id, k) && !pass.protected.contains(id))
            .collect();
        remove.sort_unstable_by(|a, b| a.0.cmp(b.0));
        remove.dedup_by(|a, b| a.0 == b.0);
        out.member_ops
            .extend(pass.member_ops(ext, Some(&o.id), &[], &remove));
    }
}
