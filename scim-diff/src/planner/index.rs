//! The first pass: the target's records indexed for the plan (borrowing from the observed
//! state) and joined to the projection, and the index types that name which list a number
//! points into.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;

use rustc_hash::FxBuildHasher;

use super::fold;
use crate::observed::{ObservedGroup, ObservedState, ObservedUser};
use crate::par;
use crate::policy::Policy;
use crate::projection::Projection;
use crate::strindex::StrIndex;

/// A projected user: an index in `Projection::users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ProjectedUser(pub(super) u32);

impl ProjectedUser {
    pub(super) fn at(i: usize) -> Self {
        Self(u32::try_from(i).expect("fewer than 4 billion users"))
    }

    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

/// A target user: an index in `ObservedState::users`. Stored off by one in a `NonZeroU32`,
/// so that an `Option<TargetUser>` takes four bytes (the group member lists hold millions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TargetUser(NonZeroU32);

impl TargetUser {
    pub(super) fn at(i: usize) -> Self {
        let n = u32::try_from(i + 1).expect("fewer than 4 billion users");
        Self(NonZeroU32::new(n).expect("i + 1 is not zero"))
    }

    pub(super) fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// This user's record.
    pub(super) fn of(self, observed: &ObservedState) -> &ObservedUser {
        &observed.users[self.index()]
    }
}

/// One or several records under one key (several is the rare, conflicting case).
pub(super) enum Slot<'a, T> {
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

    pub(super) fn one(&self) -> Option<&'a T> {
        match self {
            Slot::One(v) => Some(v),
            Slot::Many(_) => None,
        }
    }

    pub(super) fn all(&self) -> Vec<&'a T> {
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

/// The `externalId`, if the record is managed.
pub(super) fn managed_ext<'a>(policy: &Policy, e: &'a Option<String>) -> Option<&'a str> {
    e.as_deref().filter(|e| policy.is_managed(Some(e)))
}

/// The index in `all` of `item`, a reference into `all`.
pub(super) fn index_of<T>(all: &[T], item: &T) -> usize {
    let offset = (item as *const T as usize) - (all.as_ptr() as usize);
    let i = offset / std::mem::size_of::<T>().max(1);
    debug_assert!(std::ptr::eq(&all[i], item));
    i
}

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

/// The target's groups by `externalId` (managed ones) and by lowercased name (all).
pub(super) struct TargetIndex<'a> {
    pub(super) managed_groups: HashMap<&'a str, Slot<'a, ObservedGroup>, FxBuildHasher>,
    pub(super) group_name_holders: HashMap<Cow<'a, str>, Slot<'a, ObservedGroup>, FxBuildHasher>,
}

impl<'a> TargetIndex<'a> {
    pub(super) fn new(observed: &'a ObservedState, policy: &Policy) -> Self {
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

    /// The one managed target group with this `externalId`.
    pub(super) fn managed_group(&self, ext: &str) -> Option<&'a ObservedGroup> {
        self.managed_groups.get(ext).and_then(Slot::one)
    }
}

/// The members of each target group (by index in `observed.groups`), as the managed target
/// user with that SCIM id, if there is one. Built apart
/// from the group pass, on another thread for a large organisation, so that pass compares
/// integers.
pub(super) struct GroupMembers<'a> {
    members: Vec<Option<TargetUser>>,
    start: Vec<u32>,
    /// SCIM ids that several managed users have (a broken target): their memberships are
    /// left alone.
    pub(super) shared_ids: Vec<&'a str>,
}

impl<'a> GroupMembers<'a> {
    pub(super) fn new(observed: &'a ObservedState, policy: &Policy) -> Self {
        // SCIM ids of managed users, and the target user of each
        let n = observed.users.len();
        let (mut ids, mut users) = (StrIndex::with_capacity(n, 36), Vec::with_capacity(n));
        let mut shared_ids = Vec::new();
        for (k, u) in observed.users.iter().enumerate() {
            if managed_ext(policy, &u.external_id).is_some() {
                if ids.insert(&u.id).is_ok() {
                    users.push(TargetUser::at(k));
                } else {
                    shared_ids.push(u.id.as_str());
                }
            }
        }
        let mut gm = Self {
            members: Vec::new(),
            start: Vec::with_capacity(observed.groups.len() + 1),
            shared_ids,
        };
        let offset = |gm: &Self| u32::try_from(gm.members.len()).expect("under 4 billion");
        // every group: a group the plan adopts is compared by its members too (the read
        // lists managed groups only, besides the holders of names the plan takes)
        for g in &observed.groups {
            gm.start.push(offset(&gm));
            gm.members.extend(
                g.members
                    .iter()
                    .map(|id| ids.get(id).map(|n| users[n as usize])),
            );
        }
        gm.start.push(offset(&gm));
        gm
    }

    /// The members of the observed group with this index, in the order of its `members`.
    pub(super) fn of(&self, g: usize) -> &[Option<TargetUser>] {
        &self.members[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// The result of `job`, or of `here()` on this thread if there is no job.
pub(super) fn join_or<T>(
    job: Option<std::thread::ScopedJoinHandle<'_, T>>,
    here: impl FnOnce() -> T,
) -> T {
    match job {
        Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
        None => here(),
    }
}

/// Which target users have a projected user's `externalId`.
#[derive(Clone, Copy)]
enum Joined {
    None,
    One(TargetUser),
    /// Several: they are listed in [`ManagedUsers::shared`].
    Shared,
}

/// Whose `externalId` a target user has.
#[derive(Clone, Copy)]
enum Owner {
    /// Not a managed record.
    Unmanaged,
    /// A projected user's.
    Projected(ProjectedUser),
    /// A managed `externalId` that is no projected user's.
    Other,
}

/// The managed target users by `externalId`, joined to the projection: a projected user's
/// `externalId` is found through the projection's index of usernames (the target's
/// `externalId`s are not indexed a second time), any other in a small index of its own.
pub(super) struct ManagedUsers<'a> {
    observed: &'a ObservedState,
    /// `"<prefix>user:"`.
    user_start: String,
    /// Per projected user: the target users with its `externalId`.
    by_row: Vec<Joined>,
    shared: BTreeMap<ProjectedUser, Vec<&'a ObservedUser>>,
    /// Managed target users whose `externalId` is no projected user's.
    others: Keyed<'a, ObservedUser>,
}

impl<'a> ManagedUsers<'a> {
    pub(super) fn new(observed: &'a ObservedState, policy: &Policy, p: &Projection<'_>) -> Self {
        let user_start = format!("{}user:", policy.external_id_prefix);
        // per target user, on every core: whose externalId it has
        let owners = par::map(
            &observed.users,
            observed.users.len(),
            || (),
            |(), _, u| match managed_ext(policy, &u.external_id) {
                None => Owner::Unmanaged,
                Some(ext) => ext
                    .strip_prefix(user_start.as_str())
                    .and_then(|key| p.by_key.get(key))
                    .map_or(Owner::Other, |row| Owner::Projected(ProjectedUser(row))),
            },
        );
        let mut by_row = vec![Joined::None; p.users.len()];
        let mut shared: BTreeMap<ProjectedUser, Vec<&ObservedUser>> = BTreeMap::new();
        let mut others = Keyed::with_capacity(0, 32);
        for (k, (u, owner)) in observed.users.iter().zip(owners).enumerate() {
            match owner {
                Owner::Unmanaged => {}
                Owner::Other => others.insert(u.external_id.as_deref().unwrap_or_default(), u),
                Owner::Projected(row) => match by_row[row.index()] {
                    Joined::None => by_row[row.index()] = Joined::One(TargetUser::at(k)),
                    Joined::One(first) => {
                        shared.insert(row, vec![first.of(observed), u]);
                        by_row[row.index()] = Joined::Shared;
                    }
                    Joined::Shared => shared.entry(row).or_default().push(u),
                },
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

    /// The one target user with the `externalId` of this projected user.
    pub(super) fn of_row(&self, row: ProjectedUser) -> Option<&'a ObservedUser> {
        match self.by_row[row.index()] {
            Joined::One(k) => Some(k.of(self.observed)),
            Joined::None | Joined::Shared => None,
        }
    }

    /// The one managed target user with this `externalId` (`by_key`: the projection's).
    pub(super) fn one(&self, by_key: &StrIndex, ext: &str) -> Option<&'a ObservedUser> {
        match ext
            .strip_prefix(self.user_start.as_str())
            .and_then(|key| by_key.get(key))
        {
            Some(row) => self.of_row(ProjectedUser(row)),
            None => self.others.get(ext).and_then(Slot::one),
        }
    }

    /// Every `externalId` that several managed target users share, with those users.
    pub(super) fn shared(&self) -> impl Iterator<Item = (&str, Vec<&'a ObservedUser>)> {
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
    pub(super) fn unshared(&self) -> impl Iterator<Item = (&str, &'a ObservedUser)> {
        let joined = self.by_row.iter().filter_map(|joined| match joined {
            Joined::One(k) => Some(k.of(self.observed)),
            Joined::None | Joined::Shared => None,
        });
        let joined = joined.map(|u| (u.external_id.as_deref().unwrap_or_default(), u));
        joined.chain(
            self.others
                .iter()
                .filter_map(|(ext, slot)| slot.one().map(|u| (ext, u))),
        )
    }
}
