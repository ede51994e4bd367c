//! The users pass: per projected user, its target record and what differs; the new
//! `userName`s decided together (a name may be free only once another user gives it up);
//! and the deactivation of managed users the source no longer has.

use std::collections::HashSet;

use crate::observed::ObservedUser;
use crate::par;
use crate::plan::{Conflict, ConflictKind, Operation, UserChanges};
use crate::projection::{Row, Status};
use crate::ssh::{KeyRef, keys_match};
use crate::strindex::StrIndex;

use super::index::{ProjectedUser, TargetUser, index_of, managed_ext};
use super::names::{Holder, NameResolver, Want};
use super::{Context, eq_ci, fold};

/// Whether a projected user is, or will be after this plan, an active synced user: a
/// possible group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Member {
    /// Not a member of any group (not synced, or inactive with user sync off).
    No,
    /// This target user.
    Existing(TargetUser),
    /// Created by this plan.
    Created,
}

impl Member {
    /// The member's SCIM id, when it already has one.
    pub(super) fn scim_id<'a>(self, cx: &Context<'a>) -> Option<&'a str> {
        match self {
            Member::Existing(k) => Some(k.of(cx.observed).id.as_str()),
            Member::No | Member::Created => None,
        }
    }
}

/// What the users pass decided.
pub(super) struct Users {
    /// Creates, updates and reactivations.
    pub(super) ops: Vec<Operation>,
    /// Deactivations of managed users the source no longer has.
    pub(super) deactivations: Vec<Operation>,
    /// Users that cannot take their `userName`.
    pub(super) conflicts: Vec<Conflict>,
    /// Per projected user: whether it is a possible group member.
    pub(super) member: Vec<Member>,
    /// Per target user: the projected user it is, if any.
    pub(super) row_of_target: Vec<Option<ProjectedUser>>,
    /// Managed users that are active in the target (for the deactivation percentage).
    pub(super) active_managed: usize,
    /// The users adopted by this plan: their SCIM id and the projected user they become.
    pub(super) adopted: Vec<(String, ProjectedUser)>,
}

/// Which attributes of a managed user differ from its projection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Changed {
    user_name: bool,
    display_name: bool,
    name: bool,
    emails: bool,
    keys: bool,
}

impl Changed {
    fn any(self) -> bool {
        self != Changed::default()
    }
}

/// A projected user and the target.
#[derive(Clone, Copy)]
enum Match {
    /// Not a user to plan for (not synced, or its target record is frozen).
    Skip,
    /// No target user has its `externalId`.
    Unmatched,
    /// This target user has its `externalId`; these attributes differ.
    Matched(TargetUser, Changed),
}

/// A user that needs a new `userName`: its `externalId`, projected user, and (for an
/// existing user) its target record and the other changes.
type Pending<'o> = (
    String,
    ProjectedUser,
    Option<(&'o ObservedUser, UserChanges)>,
);

pub(super) fn plan_users(cx: &Context<'_>) -> Users {
    let (observed, policy, desired) = (cx.observed, cx.policy, cx.desired);
    let mut out = Users {
        ops: Vec::new(),
        deactivations: Vec::new(),
        conflicts: Vec::new(),
        member: vec![Member::No; desired.users.len()],
        row_of_target: vec![None; observed.users.len()],
        active_managed: 0,
        adopted: Vec::new(),
    };
    let matches = match_users(cx);
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for (i, (r, m)) in desired.users.iter().zip(matches).enumerate() {
        let row = ProjectedUser::at(i);
        let (k, changed) = match m {
            Match::Skip => continue,
            Match::Unmatched => {
                if policy.enable_user_sync {
                    let ext = policy.user_external_id(&r.src.username);
                    pending.push((ext, row, None));
                }
                continue;
            }
            Match::Matched(k, changed) => (k, changed),
        };
        let o = k.of(observed);
        out.row_of_target[k.index()] = Some(row);
        if !policy.enable_user_sync {
            if o.active {
                out.member[i] = Member::Existing(k);
            }
            continue;
        }
        out.member[i] = Member::Existing(k);
        if !changed.any() && o.active {
            continue;
        }
        let ch = UserChanges {
            user_name: None, // decided with the other new userNames, below
            display_name: changed.display_name.then(|| r.display_name().to_owned()),
            name: changed.name.then(|| r.name()),
            emails: changed.emails.then(|| r.emails()),
            ssh_keys: if changed.keys {
                desired.key_lines(r)
            } else {
                None
            },
        };
        let ext = policy.user_external_id(&r.src.username);
        if changed.user_name {
            pending.push((ext, row, Some((o, ch))));
        } else {
            out.ops.extend(user_op(&ext, o, ch, 0));
        }
    }
    take_new_user_names(cx, pending, &mut out);
    deactivate_the_gone(cx, &mut out);
    out
}

/// Per projected user, on every core: its target record and which attributes differ. The
/// `externalId` is built in one buffer per thread.
fn match_users(cx: &Context<'_>) -> Vec<Match> {
    let (observed, policy, desired) = (cx.observed, cx.policy, cx.desired);
    let ext_start = format!("{}user:", policy.external_id_prefix);
    par::map(
        &desired.users,
        desired.users.len(),
        || ext_start.clone(),
        |buf, i, r| {
            if r.status != Status::Synced {
                return Match::Skip;
            }
            if !cx.frozen.is_empty() {
                buf.truncate(ext_start.len());
                buf.push_str(desired.by_key.key(i as u32)); // the lowercased username
                if cx.frozen.contains(buf.as_str()) {
                    return Match::Skip;
                }
            }
            match cx.users.of_row(ProjectedUser::at(i)) {
                None => Match::Unmatched,
                Some(o) => {
                    let k = TargetUser::at(index_of(&observed.users, o));
                    let changed = if policy.enable_user_sync {
                        differences(r, desired.keys(r), o)
                    } else {
                        Changed::default()
                    };
                    Match::Matched(k, changed)
                }
            }
        },
    )
}

/// The users taking a new `userName` (creates and renames): who may, in which wave, and who
/// may not because another record holds the name.
fn take_new_user_names(cx: &Context<'_>, mut pending: Vec<Pending<'_>>, out: &mut Users) {
    let (observed, policy, desired) = (cx.observed, cx.policy, cx.desired);
    // Who holds each userName that a user is about to take: the only names the resolver
    // asks about (a rename it follows is itself one of these users). One pass over the
    // target instead of an index of every userName.
    let mut wanted_names = StrIndex::with_capacity(pending.len(), 24);
    for (_, row, _) in &pending {
        let _ = wanted_names.insert(&fold(desired.users[row.index()].user_name));
    }
    let mut holders: Vec<Vec<&ObservedUser>> = vec![Vec::new(); wanted_names.len()];
    if !pending.is_empty() {
        // on every core: the wanted name each target user holds, if it holds one
        let held = par::map(
            &observed.users,
            observed.users.len(),
            || (),
            |(), _, u| wanted_names.get(&fold(&u.user_name)),
        );
        for (u, n) in observed.users.iter().zip(held) {
            if let Some(n) = n {
                holders[n as usize].push(u);
            }
        }
    }
    let user_holders = |lower: &str| -> Vec<Holder<'_>> {
        let n = wanted_names.get(lower);
        debug_assert!(n.is_some(), "the resolver asked about {lower:?}");
        n.map_or(&[][..], |n| &holders[n as usize])
            .iter()
            .map(|u| Holder {
                id: &u.id,
                managed_ext: managed_ext(policy, &u.external_id),
                external_id: u.external_id.as_deref(),
            })
            .collect()
    };
    let user_want = |ext: &str| -> Option<Want<'_>> {
        if !policy.enable_user_sync || cx.frozen.contains(ext) {
            return None;
        }
        let r = &desired.users[desired.user_by_external_id(policy, ext)? as usize];
        let own = cx.managed_user(ext);
        Some(Want {
            own_id: own.map(|o| o.id.as_str()),
            lower_new: fold(r.user_name),
            needs: own.is_none_or(|o| !eq_ci(&o.user_name, r.user_name)),
        })
    };
    let mut user_names = NameResolver::new("user", &user_holders, &user_want);
    let holders_of = |lower: &str| -> Vec<&ObservedUser> {
        wanted_names
            .get(lower)
            .map_or_else(Vec::new, |n| holders[n as usize].clone())
    };
    // the SCIM ids adopted so far: a record is adopted once
    let mut adopted: HashSet<&str> = HashSet::new();
    // in externalId order: which one of a cycle of renames reports the cycle must not
    // depend on the order of the inputs
    pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (ext, row, existing) in pending {
        let r = &desired.users[row.index()];
        let resolved = user_names.resolve(&ext);
        match (existing, resolved) {
            (None, Ok(wave)) => {
                out.member[row.index()] = Member::Created;
                let user = desired.to_desired(r, ext);
                out.ops.push(Operation::CreateUser { user, wave });
            }
            (None, Err(who)) => match adoptable(cx, &holders_of(&fold(r.user_name)), &adopted) {
                Some(holder) => {
                    let k = TargetUser::at(index_of(&observed.users, holder));
                    out.member[row.index()] = Member::Existing(k);
                    out.row_of_target[k.index()] = Some(row);
                    adopted.insert(holder.id.as_str());
                    out.adopted.push((holder.id.clone(), row));
                    out.ops.push(Operation::AdoptUser {
                        external_id: ext,
                        id: holder.id.clone(),
                        previous_external_id: holder.external_id.clone(),
                        changes: UserChanges {
                            user_name: Some(r.user_name.to_owned()),
                            display_name: Some(r.display_name().to_owned()),
                            name: Some(r.name()),
                            emails: Some(r.emails()),
                            ssh_keys: desired.key_lines(r),
                        },
                    });
                }
                None => {
                    let message = format!(
                        "userName {:?} is held by {who}; the user is not created (rename or \
                         remove that account, or give it externalId {ext:?} to hand it over)",
                        r.user_name
                    );
                    out.conflicts
                        .push(Conflict::new(ext, ConflictKind::UserNameTaken, message));
                }
            },
            (Some((o, mut ch)), Ok(wave)) => {
                ch.user_name = Some(r.user_name.to_owned());
                out.ops.extend(user_op(&ext, o, ch, wave));
            }
            (Some((o, ch)), Err(who)) => {
                out.conflicts.push(Conflict::new(
                    ext.clone(),
                    ConflictKind::UserNameTaken,
                    format!(
                        "userName {:?} is held by {who}; the user keeps {:?}",
                        r.user_name, o.user_name
                    ),
                ));
                out.ops.extend(user_op(&ext, o, ch, 0));
            }
        }
    }
}

/// The one record holding a wanted name that the policy lets the syncer adopt, if there is
/// exactly one holder and it may be adopted (and is not adopted for another user already).
fn adoptable<'o>(
    cx: &Context<'_>,
    holders: &[&'o ObservedUser],
    adopted: &HashSet<&str>,
) -> Option<&'o ObservedUser> {
    match holders {
        [holder]
            if cx.policy.may_adopt_user(holder.external_id.as_deref())
                && !adopted.contains(holder.id.as_str()) =>
        {
            Some(holder)
        }
        _ => None,
    }
}

/// Deactivates the active managed users that are no projected user (unless the source has
/// them in conflict), and counts the active managed users.
fn deactivate_the_gone(cx: &Context<'_>, out: &mut Users) {
    for (ext, o) in cx.users.unshared() {
        if o.active {
            out.active_managed += 1;
        }
        let in_source = out.row_of_target[index_of(&cx.observed.users, o)].is_some();
        if cx.policy.enable_user_sync
            && o.active
            && !in_source
            && (cx.source_conflicted.is_empty() || !cx.source_conflicted.contains(ext))
        {
            out.deactivations.push(Operation::DeactivateUser {
                external_id: ext.to_owned(),
                id: o.id.clone(),
                user_name: o.user_name.clone(),
            });
        }
    }
}

/// The operation for an existing managed user: a reactivation if it is inactive, else an
/// update if anything changes.
fn user_op(
    external_id: &str,
    o: &ObservedUser,
    changes: UserChanges,
    wave: u32,
) -> Option<Operation> {
    if !o.active {
        Some(Operation::ReactivateUser {
            external_id: external_id.to_owned(),
            id: o.id.clone(),
            changes,
            wave,
        })
    } else if !changes.is_empty() {
        Some(Operation::UpdateUser {
            external_id: external_id.to_owned(),
            id: o.id.clone(),
            changes,
            wave,
        })
    } else {
        None
    }
}

/// Which attributes of a managed user differ from its projection.
fn differences(r: &Row<'_>, keys: Option<&[KeyRef<'_>]>, o: &ObservedUser) -> Changed {
    let emails_match = match (o.emails.as_slice(), r.email()) {
        ([], None) => true,
        ([have], Some(want)) => eq_ci(have, want),
        _ => false,
    };
    Changed {
        user_name: !eq_ci(&o.user_name, r.user_name),
        display_name: o.display_name.as_deref() != Some(r.display_name()),
        name: !r.name_matches(&o.name),
        emails: !emails_match,
        keys: keys.is_some_and(|keys| !keys_match(&o.ssh_keys, keys)),
    }
}
