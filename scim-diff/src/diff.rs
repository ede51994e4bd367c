//! The diff itself: [`plan()`] compares the projection with the observed state.
//!
//! Written for large organisations: one pass over each side; a projection and indexes that
//! borrow from the inputs (values are copied only into operations); the big lookups through
//! [`StrIndex`]; group members as indexes of projected users; the per-user and per-group
//! passes on every core ([`par`]), merged in input order, and every decision that could
//! depend on order (which record keeps a contested name, which reports a rename cycle) taken
//! in `externalId` order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use rustc_hash::FxBuildHasher;

use crate::observed::{ObservedGroup, ObservedState, ObservedUser};
use crate::par::{self, Parallelism};
use crate::plan::{
    Conflict, ConflictKind, MemberRef, Operation, Plan, Refusal, RefusalKind, RefusalReason,
    UserChanges, blast_radius,
};
use crate::policy::Policy;
use crate::projection::{Projection, Row, Status, project_groups, project_users};
use crate::source::SourceSnapshot;
use crate::ssh::{KeyRef, keys_match};
use crate::strindex::StrIndex;

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

/// One or several records under one key (several is the rare, conflicting case).
enum Slot<'a, T> {
    One(&'a T),
    Many(Vec<&'a T>),
}

impl<'a, T> Slot<'a, T> {
    fn push(&mut self, v: &'a T) {
        match self {
            Slot::One(first) => *self = Slot::Many(vec![*first, v]),
            Slot::Many(all) => all.push(v),
        }
    }

    fn one(&self) -> Option<&'a T> {
        match self {
            Slot::One(v) => Some(v),
            Slot::Many(_) => None,
        }
    }

    fn all(&self) -> Vec<&'a T> {
        match self {
            Slot::One(v) => vec![*v],
            Slot::Many(all) => all.clone(),
        }
    }
}

fn insert<'a, K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Slot<'a, T>, FxBuildHasher>,
    k: K,
    v: &'a T,
) {
    match map.entry(k) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(v),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Slot::One(v));
        }
    }
}

fn managed_ext<'a>(policy: &Policy, e: &'a Option<String>) -> Option<&'a str> {
    e.as_deref().filter(|e| policy.is_managed(Some(e)))
}

/// The index in `all` of `item`, a reference into `all`.
fn index_of<T>(all: &[T], item: &T) -> usize {
    let offset = (item as *const T as usize) - (all.as_ptr() as usize);
    let i = offset / std::mem::size_of::<T>().max(1);
    debug_assert!(std::ptr::eq(&all[i], item));
    i
}

/// One record holding a (lowercased) name in the target.
struct Holder<'a> {
    id: &'a str,
    managed_ext: Option<&'a str>,
}

/// A desired record's name: its own SCIM id (if it exists), the lowercased name it should
/// have, and whether that is a change.
struct Want<'a> {
    own_id: Option<&'a str>,
    lower_new: Cow<'a, str>,
    needs: bool,
}

/// Decides whether a record may take its desired name in this plan, and in which wave: a
/// name held only by managed records that give it up in this plan (in earlier waves) is
/// free; any other holder is a conflict, and so is a cycle of renames.
struct NameResolver<'a, 'f> {
    kind: &'static str,
    holders: &'f dyn Fn(&str) -> Vec<Holder<'a>>,
    want: &'f dyn Fn(&str) -> Option<Want<'a>>,
    /// `None` while being resolved (cycle detection).
    memo: HashMap<String, Option<Result<u32, String>>>,
}

impl NameResolver<'_, '_> {
    fn describe(&self, h: &Holder<'_>) -> String {
        match h.managed_ext {
            Some(e) => format!("managed {} {} (id {})", self.kind, e, h.id),
            None => format!("unmanaged {} id {}", self.kind, h.id),
        }
    }

    fn resolve(&mut self, ext: &str) -> Result<u32, String> {
        match self.memo.get(ext) {
            Some(Some(r)) => return r.clone(),
            Some(None) => return Err(format!("a cycle of {} renames", self.kind)),
            None => {}
        }
        let Some(want) = (self.want)(ext) else {
            return Err(format!("{ext}, which is not synced"));
        };
        if !want.needs {
            return Ok(0);
        }
        let others: Vec<Holder<'_>> = (self.holders)(&want.lower_new)
            .into_iter()
            .filter(|h| Some(h.id) != want.own_id)
            .collect();
        if others.is_empty() {
            return Ok(0);
        }
        self.memo.insert(ext.to_owned(), None);
        let mut wave = 0;
        let mut blockers: Vec<String> = Vec::new();
        for h in &others {
            let leaving = h.managed_ext.filter(|e| {
                (self.want)(e).is_some_and(|w| {
                    w.own_id == Some(h.id) && w.needs && w.lower_new != want.lower_new
                })
            });
            match leaving {
                Some(e) => match self.resolve(e) {
                    Ok(w) => wave = wave.max(w + 1),
                    Err(why) => blockers.push(format!("{} ({why})", self.describe(h))),
                },
                None => blockers.push(self.describe(h)),
            }
        }
        blockers.sort();
        let result = if blockers.is_empty() {
            Ok(wave)
        } else {
            Err(blockers.join(", "))
        };
        self.memo.insert(ext.to_owned(), Some(result.clone()));
        result
    }
}

fn phase_rank(op: &Operation) -> u8 {
    match op {
        Operation::CreateUser { .. } | Operation::CreateGroup { .. } => 0,
        Operation::ReactivateUser { .. } | Operation::RenameGroup { .. } => 1,
        _ => 2,
    }
}

fn sorted_ids<T>(items: &[&T], id: impl Fn(&T) -> &str) -> String {
    let mut ids: Vec<&str> = items.iter().map(|t| id(t)).collect();
    ids.sort_unstable();
    ids.join(", ")
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

/// [`plan`], with `s` to run jobs on other threads.
fn plan_in<'s, 'e: 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    source: &'e SourceSnapshot,
    observed: &'e ObservedState,
    policy: &'e Policy,
) -> Plan {
    let mut conflicts: Vec<Conflict> = Vec::new();

    // ---- index the target, and project the users meanwhile ----
    // For a large organisation, two jobs on other threads: the target's groups by
    // `externalId` and name (needed next), and their members by SCIM id (needed last, so it
    // may go on while the users are matched). Target users are joined to the projection
    // once it exists.
    let threads = par::worth_threads(observed.users.len().max(source.users.len()));
    let members_job = (threads && policy.enable_group_sync)
        .then(|| s.spawn(move || GroupMembers::new(observed, policy)));
    let index_job = threads.then(|| s.spawn(move || TargetIndex::new(observed, policy)));
    let mut desired = project_users(source, policy);
    let ix = join_or(index_job, || TargetIndex::new(observed, policy));
    let TargetIndex {
        managed_groups,
        group_name_holders,
    } = ix;
    // SCIM ids whose group memberships are left alone
    let mut protected_member_ids: HashSet<&str, FxBuildHasher> = HashSet::default();
    let managed_users = ManagedUsers::new(observed, policy, &desired);
    let managed_group = |ext: &str| managed_groups.get(ext).and_then(Slot::one);

    // Managed records sharing an externalId are left alone (and so are their memberships).
    let mut frozen: HashSet<&str, FxBuildHasher> = HashSet::default();
    for (ext, us) in managed_users.shared() {
        frozen.insert(ext);
        protected_member_ids.extend(us.iter().map(|u| u.id.as_str()));
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
        for (ext, slot) in &managed_groups {
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

    // ---- the rest of the projection ----
    // Among source records that would share a name, the one whose own target record has
    // that name keeps it (so the choice does not flip from run to run).
    let holds_user_name = |row: u32, _: &str, lower: &str| {
        managed_users
            .of_row(row)
            .is_some_and(|o| fold(&o.user_name) == lower)
    };
    let holds_group_name =
        |ext: &str, lower: &str| managed_group(ext).is_some_and(|o| fold(&o.display_name) == lower);
    project_groups(
        &mut desired,
        source,
        policy,
        &holds_user_name,
        &holds_group_name,
    );
    let desired = desired; // the projection is complete
    let managed_user = |ext: &str| managed_users.one(&desired.by_key, ext);
    let source_conflicts = &desired.conflicts;
    let mut warnings = desired.warnings.clone();
    // records the source has in conflict, or with identifiers that cannot be synced: not
    // synced, and their target records (and memberships) left as they are
    let source_conflicted: HashSet<&str, FxBuildHasher> = source_conflicts
        .iter()
        .map(|c| c.external_id.as_str())
        .chain(desired.held.iter().map(String::as_str))
        .collect();
    for ext in &source_conflicted {
        if let Some(u) = managed_user(ext) {
            protected_member_ids.insert(u.id.as_str());
        }
    }

    let mut ops: Vec<Operation> = Vec::new();
    // Per projected user (by index), if it is, or will be, an active synced user (a possible
    // group member): its index in `observed.users`, or `CREATED` by this plan; else
    // `NOT_MEMBER`.
    let mut member: Vec<u32> = vec![NOT_MEMBER; desired.users.len()];
    let member_scim_id = |m: u32| (m < CREATED).then(|| observed.users[m as usize].id.as_str());
    // Per observed user (by index): the projected user it is (`NO_ROW`: none); the others
    // may be deactivated.
    let mut row_of_obs: Vec<u32> = vec![NO_ROW; observed.users.len()];

    // ---- users ----
    // Per projected user, on every core: its target record (index in `observed.users`) and
    // which attributes differ. The externalId is built in one buffer per thread.
    let ext_start = format!("{}user:", policy.external_id_prefix);
    let matches: Vec<(u32, u8)> = par::map(
        &desired.users,
        desired.users.len(),
        || ext_start.clone(),
        |buf, i, r| {
            if r.status != Status::Synced {
                return (NO_ROW, SKIP);
            }
            if !frozen.is_empty() {
                buf.truncate(ext_start.len());
                buf.push_str(desired.by_key.key(i as u32)); // the lowercased username
                if frozen.contains(buf.as_str()) {
                    return (NO_ROW, SKIP);
                }
            }
            match managed_users.of_row(i as u32) {
                None => (NO_ROW, 0),
                Some(o) if !policy.enable_user_sync => (index_of(&observed.users, o) as u32, 0),
                Some(o) => (
                    index_of(&observed.users, o) as u32,
                    differences(r, desired.keys(r), o),
                ),
            }
        },
    );
    // (externalId, projected user, its target record and the other changes) of users that
    // need a new userName
    type Pending<'o> = (String, u32, Option<(&'o ObservedUser, UserChanges)>);
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for (i, (r, &(k, diff))) in desired.users.iter().zip(&matches).enumerate() {
        if diff == SKIP {
            continue;
        }
        if k == NO_ROW {
            if policy.enable_user_sync {
                let ext = policy.user_external_id(&r.src.username);
                pending.push((ext, i as u32, None));
            }
            continue;
        }
        let o = &observed.users[k as usize];
        row_of_obs[k as usize] = i as u32;
        if !policy.enable_user_sync {
            if o.active {
                member[i] = k;
            }
            continue;
        }
        member[i] = k;
        if diff == 0 && o.active {
            continue;
        }
        let ch = UserChanges {
            user_name: None, // decided with the other new userNames, below
            display_name: (diff & DIFF_DISPLAY_NAME != 0).then(|| r.display_name().to_owned()),
            name: (diff & DIFF_NAME != 0).then(|| r.name()),
            emails: (diff & DIFF_EMAILS != 0).then(|| r.emails()),
            ssh_keys: if diff & DIFF_KEYS != 0 {
                desired.key_lines(r)
            } else {
                None
            },
        };
        let ext = policy.user_external_id(&r.src.username);
        if diff & DIFF_USER_NAME != 0 {
            pending.push((ext, i as u32, Some((o, ch))));
        } else {
            ops.extend(user_op(&ext, o, ch, 0));
        }
    }
    drop(matches);
    // Who holds each userName that a user is about to take: the only names the resolver
    // asks about (a rename it follows is itself one of these users). One pass over the
    // target instead of an index of every userName.
    let mut wanted_names = StrIndex::with_capacity(pending.len(), 24);
    for (_, i, _) in &pending {
        let _ = wanted_names.insert(&fold(desired.users[*i as usize].user_name));
    }
    let mut holders: Vec<Vec<&ObservedUser>> = vec![Vec::new(); wanted_names.len()];
    if !pending.is_empty() {
        // on every core: the names each target user holds, as numbers in `wanted_names`
        let held = par::map(
            &observed.users,
            observed.users.len(),
            || (),
            |(), _, u| wanted_names.get(&fold(&u.user_name)).unwrap_or(u32::MAX),
        );
        for (u, n) in observed.users.iter().zip(held) {
            if n != u32::MAX {
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
            })
            .collect()
    };
    let user_want = |ext: &str| -> Option<Want<'_>> {
        if !policy.enable_user_sync || frozen.contains(ext) {
            return None;
        }
        let r = &desired.users[desired.user_by_external_id(policy, ext)? as usize];
        let own = managed_user(ext);
        Some(Want {
            own_id: own.map(|o| o.id.as_str()),
            lower_new: fold(r.user_name),
            needs: own.is_none_or(|o| !eq_ci(&o.user_name, r.user_name)),
        })
    };
    let mut user_names = NameResolver {
        kind: "user",
        holders: &user_holders,
        want: &user_want,
        memo: HashMap::new(),
    };
    // Users taking a new userName (creates and renames), in externalId order: which one of
    // a cycle of renames reports the cycle must not depend on the order of the inputs.
    pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (ext, i, existing) in pending {
        let r = &desired.users[i as usize];
        let resolved = user_names.resolve(&ext);
        match (existing, resolved) {
            (None, Ok(wave)) => {
                member[i as usize] = CREATED;
                let user = desired.to_desired(r, ext);
                ops.push(Operation::CreateUser { user, wave });
            }
            (None, Err(who)) => conflicts.push(Conflict::new(
                ext,
                ConflictKind::UserNameTaken,
                format!(
                    "userName {:?} is held by {who}; the user is not created",
                    r.user_name
                ),
            )),
            (Some((o, mut ch)), Ok(wave)) => {
                ch.user_name = Some(r.user_name.to_owned());
                ops.extend(user_op(&ext, o, ch, wave));
            }
            (Some((o, ch)), Err(who)) => {
                conflicts.push(Conflict::new(
                    ext.clone(),
                    ConflictKind::UserNameTaken,
                    format!(
                        "userName {:?} is held by {who}; the user keeps {:?}",
                        r.user_name, o.user_name
                    ),
                ));
                ops.extend(user_op(&ext, o, ch, 0));
            }
        }
    }
    drop(user_names);
    let mut active_managed = 0usize;
    let mut deactivations: Vec<Operation> = Vec::new();
    for (ext, o) in managed_users.unshared() {
        if o.active {
            active_managed += 1;
        }
        if policy.enable_user_sync
            && o.active
            && row_of_obs[index_of(&observed.users, o)] == NO_ROW
            && (source_conflicted.is_empty() || !source_conflicted.contains(ext))
        {
            deactivations.push(Operation::DeactivateUser {
                external_id: ext.to_owned(),
                id: o.id.clone(),
                user_name: o.user_name.clone(),
            });
        }
    }

    // ---- groups ----
    let mut member_ops: Vec<Operation> = Vec::new();
    if policy.enable_group_sync {
        let group_members = join_or(members_job, || GroupMembers::new(observed, policy));
        protected_member_ids.extend(group_members.shared_ids.iter().copied());
        let group_holders = |lower: &str| -> Vec<Holder<'_>> {
            group_name_holders.get(lower).map_or_else(Vec::new, |slot| {
                slot.all()
                    .into_iter()
                    .map(|g| Holder {
                        id: &g.id,
                        managed_ext: managed_ext(policy, &g.external_id),
                    })
                    .collect()
            })
        };
        let group_want = |ext: &str| -> Option<Want<'_>> {
            if frozen.contains(ext) {
                return None;
            }
            let dg = desired.group_by_external_id(ext)?;
            let own = managed_group(ext);
            Some(Want {
                own_id: own.map(|o| o.id.as_str()),
                lower_new: fold(&dg.src.name),
                needs: own.is_none_or(|o| o.display_name != dg.src.name),
            })
        };
        let mut group_names = NameResolver {
            kind: "group",
            holders: &group_holders,
            want: &group_want,
            memo: HashMap::new(),
        };
        let chunk = policy.max_members_per_patch.max(1);
        // the externalId of the managed user `observed.users[k]` (unless it is shared)
        let obs_ext = |k: u32| -> Option<&str> {
            let u = &observed.users[k as usize];
            u.external_id
                .as_deref()
                .filter(|e| managed_user(e).is_some_and(|m| m.id == u.id))
        };
        // the membership operations of one group: removals first, then adds, at most `chunk`
        // changes per operation
        let members_ops = |ext: &str,
                           id: Option<&str>,
                           add: &[(String, Option<&str>)],
                           remove: &[(&str, u32)]| {
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
                    add: a
                        .iter()
                        .map(|(e, id)| MemberRef {
                            id: id.map(str::to_owned),
                            external_id: Some(e.clone()),
                        })
                        .collect(),
                    remove: r
                        .iter()
                        .map(|&(id, k)| MemberRef {
                            id: Some(id.to_owned()),
                            external_id: (k != NOT_MANAGED)
                                .then(|| obs_ext(k))
                                .flatten()
                                .map(str::to_owned),
                        })
                        .collect(),
                });
                start = end;
            }
            out
        };
        // whether member `id` (the managed user `observed.users[k]`, or `NOT_MANAGED`) may
        // be removed from a managed group
        let removable = |id: &str, k: u32| -> bool {
            (protected_member_ids.is_empty() || !protected_member_ids.contains(id))
                && (k != NOT_MANAGED || !policy.allow_non_provisioned_users)
        };
        // (externalId, SCIM id if known) of the given projected users, sorted by externalId
        let adds = |rows: &[u32]| -> Vec<(String, Option<&str>)> {
            let mut v: Vec<(String, Option<&str>)> = rows
                .iter()
                .map(|&r| {
                    (
                        policy.user_external_id(&desired.users[r as usize].src.username),
                        member_scim_id(member[r as usize]),
                    )
                })
                .collect();
            v.sort_unstable();
            v
        };
        // Per desired group, on every core: its target record and the members to add
        // (projected users) and remove (SCIM ids).
        let work = desired.groups.iter().map(|g| g.members.len()).sum();
        let diffs = par::map(&desired.groups, work, Vec::new, |cur_rows, _, dg| {
            let ext = dg.external_id.as_str();
            if frozen.contains(ext) {
                return GroupDiff::Frozen;
            }
            // the projected users that should be members, by index (sorted): synced ones
            // (`member` is `NOT_MEMBER` for the others)
            let wanted: Vec<u32> = dg
                .members
                .iter()
                .copied()
                .filter(|&m| member[m as usize] != NOT_MEMBER)
                .collect();
            let Some(o) = managed_group(ext) else {
                return GroupDiff::New { add: wanted };
            };
            // current members: the wanted ones (by projected user) stay, the others go if
            // the syncer may remove them
            cur_rows.clear();
            let mut remove: Vec<(&str, u32)> = Vec::new();
            let obs_members = group_members.of(index_of(&observed.groups, o));
            for (id, &k) in o.members.iter().zip(obs_members) {
                let row = (k != NOT_MANAGED)
                    .then(|| row_of_obs[k as usize])
                    .filter(|&r| r != NO_ROW && wanted.binary_search(&r).is_ok());
                match row {
                    Some(r) => cur_rows.push(r),
                    None if removable(id, k) => remove.push((id, k)),
                    None => {}
                }
            }
            remove.sort_unstable_by(|a, b| a.0.cmp(b.0));
            remove.dedup_by(|a, b| a.0 == b.0);
            cur_rows.sort_unstable();
            cur_rows.dedup();
            let add = if cur_rows.len() == wanted.len() {
                Vec::new() // every wanted member is there (cur_rows ⊆ wanted)
            } else {
                wanted
                    .into_iter()
                    .filter(|r| {
                        member[*r as usize] == CREATED || cur_rows.binary_search(r).is_err()
                    })
                    .collect()
            };
            // built here, on every core: most of a large plan's operations
            let ops = members_ops(ext, Some(&o.id), &adds(&add), &remove);
            GroupDiff::Existing { o, ops }
        });
        // target groups a desired group is (the others may have to be emptied)
        let mut matched_groups = vec![false; observed.groups.len()];
        // room for every group's operations at once: at 1M users they are 20 MB
        member_ops.reserve(
            diffs
                .iter()
                .map(|d| match d {
                    GroupDiff::Existing { ops, .. } => ops.len(),
                    GroupDiff::New { add } => add.len().div_ceil(chunk),
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
                        ops.push(Operation::CreateGroup {
                            external_id: dg.external_id.clone(),
                            display_name: dg.src.name.clone(),
                            wave,
                        });
                        member_ops.extend(members_ops(ext, None, &adds(&add), &[]));
                    }
                    Err(who) => conflicts.push(Conflict::new(
                        dg.external_id.clone(),
                        ConflictKind::DisplayNameTaken,
                        format!(
                            "group name {:?} is held by {who}; the group is not created",
                            dg.src.name
                        ),
                    )),
                },
                GroupDiff::Existing { o, ops: group_ops } => {
                    matched_groups[index_of(&observed.groups, o)] = true;
                    if o.display_name != dg.src.name {
                        match group_names.resolve(ext) {
                            Ok(wave) => ops.push(Operation::RenameGroup {
                                external_id: dg.external_id.clone(),
                                id: o.id.clone(),
                                from: o.display_name.clone(),
                                to: dg.src.name.clone(),
                                wave,
                            }),
                            Err(who) => conflicts.push(Conflict::new(
                                dg.external_id.clone(),
                                ConflictKind::DisplayNameTaken,
                                format!(
                                    "group name {:?} is held by {who}; the group keeps {:?}",
                                    dg.src.name, o.display_name
                                ),
                            )),
                        }
                    }
                    member_ops.extend(group_ops);
                }
            }
        }
        // Managed groups whose ACTIVATE group vanished or left the scope: empty them of the
        // members the syncer manages (never delete the group).
        let mut gone: Vec<(&str, &ObservedGroup)> = managed_groups
            .iter()
            .filter_map(|(ext, slot)| slot.one().map(|g| (*ext, g)))
            .filter(|(ext, g)| {
                !matched_groups[index_of(&observed.groups, g)] && !source_conflicted.contains(ext)
            })
            .collect();
        gone.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (ext, o) in gone {
            let obs_members = group_members.of(index_of(&observed.groups, o));
            let mut remove: Vec<(&str, u32)> = o
                .members
                .iter()
                .map(String::as_str)
                .zip(obs_members.iter().copied())
                .filter(|&(id, k)| k != NOT_MANAGED && !protected_member_ids.contains(id))
                .collect();
            remove.sort_unstable_by(|a, b| a.0.cmp(b.0));
            remove.dedup_by(|a, b| a.0 == b.0);
            member_ops.extend(members_ops(ext, Some(&o.id), &[], &remove));
        }
    }

    // ---- order ----
    ops.reserve(member_ops.len() + deactivations.len());
    ops.extend(member_ops);
    ops.extend(deactivations);
    // Stable sort: by phase, wave, externalId; chunks of one group keep their order.
    ops.sort_by(|a, b| {
        (a.phase(), a.wave(), a.external_id(), phase_rank(a)).cmp(&(
            b.phase(),
            b.wave(),
            b.external_id(),
            phase_rank(b),
        ))
    });
    conflicts.extend(source_conflicts.iter().cloned());
    conflicts.sort();
    conflicts.dedup();
    warnings.sort();
    warnings.dedup();
    let synced_users = desired
        .users
        .iter()
        .filter(|r| r.status == Status::Synced)
        .count();
    let mut plan = Plan {
        operations: ops,
        conflicts,
        warnings,
        refusal: None,
    };
    plan.refusal = blast_radius(&plan, policy, synced_users == 0, active_managed);
    plan
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

const DIFF_USER_NAME: u8 = 1;
const DIFF_DISPLAY_NAME: u8 = 2;
const DIFF_NAME: u8 = 4;
const DIFF_EMAILS: u8 = 8;
const DIFF_KEYS: u8 = 16;
/// Not a user to plan for (not synced, or its target record is frozen).
const SKIP: u8 = 128;

/// Which attributes of a managed user differ from its projection (`DIFF_*` bits).
fn differences(r: &Row<'_>, keys: Option<&[KeyRef<'_>]>, o: &ObservedUser) -> u8 {
    let mut diff = 0;
    if !eq_ci(&o.user_name, r.user_name) {
        diff |= DIFF_USER_NAME;
    }
    if o.display_name.as_deref() != Some(r.display_name()) {
        diff |= DIFF_DISPLAY_NAME;
    }
    if !r.name_matches(&o.name) {
        diff |= DIFF_NAME;
    }
    let emails_match = match (o.emails.as_slice(), r.email()) {
        ([], None) => true,
        ([have], Some(want)) => eq_ci(have, want),
        _ => false,
    };
    if !emails_match {
        diff |= DIFF_EMAILS;
    }
    if let Some(keys) = keys
        && !keys_match(&o.ssh_keys, keys)
    {
        diff |= DIFF_KEYS;
    }
    diff
}

/// What a desired group needs (computed on every core, applied in order).
enum GroupDiff<'o> {
    /// Its `externalId` is shared by several target groups: left alone.
    Frozen,
    /// Not in the target: created, with these members (projected users).
    New { add: Vec<u32> },
    /// In the target as `o`.
    Existing {
        o: &'o ObservedGroup,
        /// Its membership operations.
        ops: Vec<Operation>,
    },
}

/// See `member` in [`plan`].
const NOT_MEMBER: u32 = u32::MAX;
const CREATED: u32 = u32::MAX - 1;

/// Projected user index meaning "none".
const NO_ROW: u32 = u32::MAX;

/// Records by a string key (one or several per key), for the large indexes.
struct Keyed<'a, T> {
    keys: StrIndex,
    slots: Vec<Slot<'a, T>>,
}

impl<'a, T> Keyed<'a, T> {
    fn with_capacity(n: usize, avg_len: usize) -> Self {
        Self {
            keys: StrIndex::with_capacity(n, avg_len),
            slots: Vec::with_capacity(n),
        }
    }

    fn insert(&mut self, k: &str, v: &'a T) {
        match self.keys.insert(k) {
            Ok(_) => self.slots.push(Slot::One(v)),
            Err(n) => self.slots[n as usize].push(v),
        }
    }

    fn get(&self, k: &str) -> Option<&Slot<'a, T>> {
        self.keys.get(k).map(|n| &self.slots[n as usize])
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Slot<'a, T>)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(n, slot)| (self.keys.key(n as u32), slot))
    }
}

/// Index in `observed.users` meaning "no managed user".
const NOT_MANAGED: u32 = u32::MAX;

/// The members of each managed target group (by index in `observed.groups`), as the index
/// in `observed.users` of the managed user with that SCIM id (`NOT_MANAGED`: none); empty
/// for an unmanaged group. Built apart from the group pass, on another thread for a large
/// organisation, so that pass compares integers.
struct GroupMembers<'a> {
    obs: Vec<u32>,
    start: Vec<u32>,
    /// SCIM ids that several managed users have (a broken target): their memberships are
    /// left alone.
    shared_ids: Vec<&'a str>,
}

impl<'a> GroupMembers<'a> {
    fn new(observed: &'a ObservedState, policy: &Policy) -> Self {
        // SCIM ids of managed users, and the index in `observed.users` of each
        let n = observed.users.len();
        let (mut ids, mut obs) = (StrIndex::with_capacity(n, 36), Vec::with_capacity(n));
        let mut shared_ids = Vec::new();
        for (k, u) in observed.users.iter().enumerate() {
            if managed_ext(policy, &u.external_id).is_some() {
                if ids.insert(&u.id).is_ok() {
                    obs.push(k as u32);
                } else {
                    shared_ids.push(u.id.as_str());
                }
            }
        }
        let mut gm = Self {
            obs: Vec::new(),
            start: Vec::with_capacity(observed.groups.len() + 1),
            shared_ids,
        };
        for g in &observed.groups {
            gm.start.push(gm.obs.len() as u32);
            if managed_ext(policy, &g.external_id).is_some() {
                gm.obs.extend(
                    g.members
                        .iter()
                        .map(|id| ids.get(id).map_or(NOT_MANAGED, |n| obs[n as usize])),
                );
            }
        }
        gm.start.push(gm.obs.len() as u32);
        gm
    }

    /// The members of the observed group with this index, in the order of its `members`.
    fn of(&self, g: usize) -> &[u32] {
        &self.obs[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// The result of `job`, or of `here()` on this thread if there is no job.
fn join_or<T>(job: Option<std::thread::ScopedJoinHandle<'_, T>>, here: impl FnOnce() -> T) -> T {
    match job {
        Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
        None => here(),
    }
}

/// The managed target users by `externalId`, joined to the projection: a projected user's
/// `externalId` is found through the projection's index of usernames (the target's
/// `externalId`s are not indexed a second time), any other in a small index of its own.
struct ManagedUsers<'a> {
    observed: &'a ObservedState,
    /// `"<prefix>user:"`.
    user_start: String,
    /// Per projected user: the index in `observed.users` of the target user with its
    /// `externalId`, `NO_OBS` (none) or `SHARED` (several, in `shared`).
    by_row: Vec<u32>,
    shared: BTreeMap<u32, Vec<&'a ObservedUser>>,
    /// Managed target users whose `externalId` is no projected user's.
    others: Keyed<'a, ObservedUser>,
}

/// See [`ManagedUsers::by_row`].
const NO_OBS: u32 = u32::MAX;
const SHARED: u32 = u32::MAX - 1;

impl<'a> ManagedUsers<'a> {
    fn new(observed: &'a ObservedState, policy: &Policy, p: &Projection<'_>) -> Self {
        let user_start = format!("{}user:", policy.external_id_prefix);
        const UNMANAGED: u32 = u32::MAX;
        const OTHER: u32 = u32::MAX - 1;
        // per target user, on every core: the projected user whose externalId it has
        let rows = par::map(
            &observed.users,
            observed.users.len(),
            || (),
            |(), _, u| match managed_ext(policy, &u.external_id) {
                None => UNMANAGED,
                Some(ext) => ext
                    .strip_prefix(user_start.as_str())
                    .and_then(|key| p.by_key.get(key))
                    .unwrap_or(OTHER),
            },
        );
        let mut by_row = vec![NO_OBS; p.users.len()];
        let mut shared: BTreeMap<u32, Vec<&ObservedUser>> = BTreeMap::new();
        let mut others = Keyed::with_capacity(0, 32);
        for (k, (u, &row)) in observed.users.iter().zip(&rows).enumerate() {
            match row {
                UNMANAGED => {}
                OTHER => others.insert(u.external_id.as_deref().unwrap_or_default(), u),
                row => {
                    let slot = &mut by_row[row as usize];
                    if *slot == NO_OBS {
                        *slot = k as u32;
                        continue;
                    }
                    if *slot != SHARED {
                        shared.insert(row, vec![&observed.users[*slot as usize]]);
                        *slot = SHARED;
                    }
                    shared.entry(row).or_default().push(u);
                }
            }
        }
        Self {
            observed,
            user_start,
            by_row,
            shared,
            others,
        }
    }

    /// The one target user with the `externalId` of projected user `row`.
    fn of_row(&self, row: u32) -> Option<&'a ObservedUser> {
        match self.by_row[row as usize] {
            NO_OBS | SHARED => None,
            k => Some(&self.observed.users[k as usize]),
        }
    }

    /// The one managed target user with this `externalId` (`by_key`: the projection's).
    fn one(&self, by_key: &StrIndex, ext: &str) -> Option<&'a ObservedUser> {
        match ext
            .strip_prefix(self.user_start.as_str())
            .and_then(|key| by_key.get(key))
        {
            Some(row) => self.of_row(row),
            None => self.others.get(ext).and_then(Slot::one),
        }
    }

    /// Every `externalId` that several managed target users share, with those users.
    fn shared(&self) -> impl Iterator<Item = (&str, Vec<&'a ObservedUser>)> {
        let joined = self.shared.values().map(|us| {
            let ext = us[0].external_id.as_deref().unwrap_or_default();
            (ext, us.clone())
        });
        let others = self.others.iter().filter_map(|(ext, slot)| match slot {
            Slot::Many(us) => Some((ext, us.clone())),
            Slot::One(_) => None,
        });
        joined.chain(others)
    }

    /// Every managed target user whose `externalId` is its own, with that `externalId`.
    fn unshared(&self) -> impl Iterator<Item = (&str, &'a ObservedUser)> {
        let joined = self.by_row.iter().filter_map(|&k| match k {
            NO_OBS | SHARED => None,
            k => Some(&self.observed.users[k as usize]),
        });
        let joined = joined.map(|u| (u.external_id.as_deref().unwrap_or_default(), u));
        joined.chain(
            self.others
                .iter()
                .filter_map(|(ext, slot)| slot.one().map(|u| (ext, u))),
        )
    }
}

/// The target's groups, indexed for the plan (borrowing from the observed state).
struct TargetIndex<'a> {
    managed_groups: HashMap<&'a str, Slot<'a, ObservedGroup>, FxBuildHasher>,
    group_name_holders: HashMap<Cow<'a, str>, Slot<'a, ObservedGroup>, FxBuildHasher>,
}

impl<'a> TargetIndex<'a> {
    fn new(observed: &'a ObservedState, policy: &Policy) -> Self {
        // FxHash: keys are ids and names from the two systems being reconciled, not from an
        // adversary, and the default SipHash was a tenth of the planning time at 100k users.
        let mut ix = Self {
            managed_groups: HashMap::default(),
            group_name_holders: HashMap::default(),
        };
        for g in &observed.groups {
            insert(&mut ix.group_name_holders, fold(&g.display_name), g);
            if let Some(ext) = managed_ext(policy, &g.external_id) {
                insert(&mut ix.managed_groups, ext, g);
            }
        }
        ix
    }
}
