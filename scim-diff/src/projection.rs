//! The projection: a [`SourceSnapshot`] under a [`Policy`] becomes the desired SCIM state.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::diff::fold;
use crate::observed::Name;
use crate::plan::{Conflict, ConflictKind, Warning};
use crate::policy::{Policy, UsernameFrom};
use crate::source::SourceSnapshot;
use crate::ssh::{NormalizedKey, normalize_keys};

/// A user as the target should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredUser {
    /// `<prefix>user:<username lowercased>`.
    pub external_id: String,
    /// `userName` (the email by default, or the ACTIVATE username).
    pub user_name: String,
    /// `displayName`: the name, or the username when there is none.
    pub display_name: String,
    /// `name` (formatted, given/family split best-effort).
    #[serde(default)]
    pub name: Name,
    /// `emails`: zero or one value, written as primary, type work.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Normalised SSH key lines, sorted; `None`: unknown, leave the target's keys alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys: Option<Vec<String>>,
}

/// A group as the target should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredGroup {
    /// `<prefix>group:<ACTIVATE group id>`.
    pub external_id: String,
    /// `displayName`: the ACTIVATE group name, exactly.
    pub display_name: String,
    /// `externalId`s of the members (synced, active users), sorted.
    pub members: Vec<String>,
}

/// The projected source: desired users and groups, sorted by `externalId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Desired users, sorted by `externalId`, unique `externalId` and `userName`.
    pub users: Vec<DesiredUser>,
    /// Desired groups, sorted by `externalId`, unique `externalId` and `displayName`.
    pub groups: Vec<DesiredGroup>,
    /// Source records that cannot be synced as they are.
    pub conflicts: Vec<Conflict>,
    /// Things an operator should know.
    pub warnings: Vec<Warning>,
}

/// Splits a full name into (given, family), best-effort: the last word is the family name.
pub fn split_name(full: &str) -> (Option<String>, Option<String>) {
    let t = full.trim();
    match t.rsplit_once(char::is_whitespace) {
        None if t.is_empty() => (None, None),
        None => (Some(t.to_owned()), None),
        Some((given, family)) => {
            let given = given.trim_end();
            let given = if given.contains(|c: char| c.is_whitespace() && c != ' ')
                || given.contains("  ")
            {
                given.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                given.to_owned()
            };
            (Some(given), Some(family.to_owned()))
        }
    }
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Projects a snapshot into the desired SCIM state.
///
/// `holds_user_name(externalId, lowercased userName)` answers "does this record hold this
/// name in the target now": among source users that would share a `userName`, the one
/// holding it wins (otherwise the smallest `externalId`) and the others become conflicts.
/// `holds_group_name` does the same for lowercased group names.
pub fn project(
    source: &SourceSnapshot,
    policy: &Policy,
    holds_user_name: &dyn Fn(&str, &str) -> bool,
    holds_group_name: &dyn Fn(&str, &str) -> bool,
) -> Desired {
    let mut out = Desired::default();

    // Groups in scope (exact names).
    let scoped_groups: Vec<&crate::source::SourceGroup> = match &policy.sync_groups {
        None => source.groups.iter().collect(),
        Some(names) => {
            let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
            let present: BTreeSet<&str> = source.groups.iter().map(|g| g.name.as_str()).collect();
            for name in wanted.difference(&present) {
                out.warnings.push(Warning::new(
                    format!("group-scope:{name}"),
                    format!("sync_groups names {name:?}, which matches no ACTIVATE group"),
                ));
            }
            source
                .groups
                .iter()
                .filter(|g| wanted.contains(g.name.as_str()))
                .collect()
        }
    };

    // Active users by external id; duplicates (usernames differing in case) are conflicts.
    let mut by_ext: Vec<(String, &crate::source::SourceUser)> = source
        .users
        .iter()
        .filter(|u| u.active)
        .map(|u| (policy.user_external_id(&u.username), u))
        .collect();
    by_ext.sort_unstable_by(|a, b| (&a.0, &a.1.username).cmp(&(&b.0, &b.1.username)));
    let in_scope: Option<HashSet<String, FxBuildHasher>> = policy.sync_groups.as_ref().map(|_| {
        scoped_groups
            .iter()
            .flat_map(|g| g.members.iter())
            .map(|m| policy.user_external_id(m))
            .collect()
    });

    let mut candidates: Vec<DesiredUser> = Vec::with_capacity(by_ext.len());
    let mut rest = by_ext.as_mut_slice();
    while let Some((ext, _)) = rest.first() {
        let run = rest.iter().take_while(|(e, _)| e == ext).count();
        let (users, tail) = std::mem::take(&mut rest).split_at_mut(run);
        rest = tail;
        // moved out: by_ext is not read again
        let ext = std::mem::take(&mut users[0].0);
        if in_scope.as_ref().is_some_and(|s| !s.contains(&ext)) {
            continue;
        }
        if users.len() > 1 {
            let names: Vec<&str> = users.iter().map(|(_, u)| u.username.as_str()).collect();
            out.conflicts.push(Conflict::new(
                ext,
                ConflictKind::DuplicateExternalId,
                format!(
                    "ACTIVATE usernames {names:?} map to one externalId; none of them is synced"
                ),
            ));
            continue;
        }
        let u = users[0].1;
        let email = non_blank(u.email.as_deref()).map(str::to_owned);
        let user_name = match (policy.username_from, &email) {
            (UsernameFrom::Email, Some(e)) => e.clone(),
            (UsernameFrom::Email, None) => {
                out.warnings.push(Warning::new(
                    ext.clone(),
                    format!(
                        "user {} has no email; userName falls back to the ACTIVATE username",
                        u.username
                    ),
                ));
                u.username.clone()
            }
            (UsernameFrom::Username, _) => u.username.clone(),
        };
        let full = non_blank(u.name.as_deref());
        let (given, family) = full.map(split_name).unwrap_or((None, None));
        let ssh_keys = u.ssh_keys.as_ref().map(|lines| {
            let (keys, invalid) = normalize_keys(lines);
            for (line, err) in invalid {
                out.warnings.push(Warning::new(
                    ext.clone(),
                    format!(
                        "user {}: SSH key on line {line} is not a valid OpenSSH public key ({err}); it is skipped",
                        u.username
                    ),
                ));
            }
            keys.into_iter().map(NormalizedKey::into_line).collect::<Vec<_>>()
        });
        candidates.push(DesiredUser {
            external_id: ext,
            user_name,
            display_name: full.unwrap_or(&u.username).to_owned(),
            name: Name {
                formatted: full.map(str::to_owned),
                given_name: given,
                family_name: family,
            },
            emails: email.into_iter().collect(),
            ssh_keys,
        });
    }

    drop(by_ext);

    // userName uniqueness among source users (case-insensitive, as on the server).
    let mut first_by_name: HashMap<Cow<'_, str>, usize, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(candidates.len(), FxBuildHasher);
    let mut dups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        match first_by_name.entry(fold(&c.user_name)) {
            Entry::Vacant(e) => {
                e.insert(i);
            }
            Entry::Occupied(e) => dups
                .entry(e.key().to_string())
                .or_insert_with(|| vec![*e.get()])
                .push(i),
        }
    }
    drop(first_by_name);
    let mut dropped = vec![false; candidates.len()];
    for (lower, idxs) in &dups {
        let winner = idxs
            .iter()
            .copied()
            .find(|&i| holds_user_name(&candidates[i].external_id, lower))
            .unwrap_or(idxs[0]); // candidates are sorted by externalId
        for &i in idxs {
            if i != winner {
                dropped[i] = true;
                out.conflicts.push(Conflict::new(
                    candidates[i].external_id.clone(),
                    ConflictKind::DuplicateUserName,
                    format!(
                        "userName {:?} is also the userName of {}, which is synced instead",
                        candidates[i].user_name, candidates[winner].external_id
                    ),
                ));
            }
        }
    }
    if !dups.is_empty() {
        let mut i = 0;
        candidates.retain(|_| {
            i += 1;
            !dropped[i - 1]
        });
    }
    out.users = candidates;

    // Groups: members are synced, active users; duplicate ids or names are conflicts.
    let synced: HashSet<&str, FxBuildHasher> = {
        let mut s = HashSet::with_capacity_and_hasher(out.users.len(), FxBuildHasher);
        s.extend(out.users.iter().map(|u| u.external_id.as_str()));
        s
    };
    // built only when a member is not synced (rare)
    let mut unsynced_known: Option<HashSet<String, FxBuildHasher>> = None;
    let mut groups: Vec<(String, &crate::source::SourceGroup)> = scoped_groups
        .into_iter()
        .map(|g| (policy.group_external_id(&g.id), g))
        .collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut desired_groups = Vec::with_capacity(groups.len());
    let mut rest = groups.as_slice();
    while let Some((ext, _)) = rest.first() {
        let run = rest.iter().take_while(|(e, _)| e == ext).count();
        let (gs, tail) = rest.split_at(run);
        rest = tail;
        let ext = ext.clone();
        if gs.len() > 1 {
            out.conflicts.push(Conflict::new(
                ext,
                ConflictKind::DuplicateExternalId,
                format!("{} ACTIVATE groups share this id; none is synced", gs.len()),
            ));
            continue;
        }
        let g = gs[0].1;
        if policy
            .reserved_group_names
            .iter()
            .any(|r| r.eq_ignore_ascii_case(g.name.trim()))
        {
            out.warnings.push(Warning::new(
                ext,
                format!(
                    "group {:?} is not synced: the target reserves this name for its default \
                     groups, so creating it would collide; rename the group in ACTIVATE",
                    g.name
                ),
            ));
            continue;
        }
        let mut members: Vec<String> = Vec::with_capacity(g.members.len());
        for m in &g.members {
            let mext = policy.user_external_id(m);
            if synced.contains(mext.as_str()) {
                members.push(mext);
            } else if !unsynced_known
                .get_or_insert_with(|| {
                    // inactive users and source conflicts are known, just not synced
                    source
                        .users
                        .iter()
                        .filter(|u| !u.active)
                        .map(|u| policy.user_external_id(&u.username))
                        .chain(out.conflicts.iter().map(|c| c.external_id.clone()))
                        .collect()
                })
                .contains(&mext)
            {
                out.warnings.push(Warning::new(
                    ext.clone(),
                    format!(
                        "group {:?}: member {m:?} is not an ACTIVATE user; skipped",
                        g.name
                    ),
                ));
            }
        }
        members.sort_unstable();
        members.dedup();
        desired_groups.push(DesiredGroup {
            external_id: ext,
            display_name: g.name.clone(),
            members,
        });
    }
    // Group names are compared case-insensitively: servers (and CoreWeave's default groups)
    // may treat "HPC" and "hpc" as one name.
    let mut first_by_name: HashMap<Cow<'_, str>, usize, FxBuildHasher> =
        HashMap::with_capacity_and_hasher(desired_groups.len(), FxBuildHasher);
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, g) in desired_groups.iter().enumerate() {
        match first_by_name.entry(fold(&g.display_name)) {
            Entry::Vacant(e) => {
                e.insert(i);
            }
            Entry::Occupied(e) => by_name
                .entry(e.key().to_string())
                .or_insert_with(|| vec![*e.get()])
                .push(i),
        }
    }
    drop(first_by_name);
    let mut gdropped = vec![false; desired_groups.len()];
    for (lower, idxs) in by_name.iter().filter(|(_, v)| v.len() > 1) {
        let winner = idxs
            .iter()
            .copied()
            .find(|&i| holds_group_name(&desired_groups[i].external_id, lower))
            .unwrap_or(idxs[0]);
        for &i in idxs.iter().filter(|&&i| i != winner) {
            gdropped[i] = true;
            out.conflicts.push(Conflict::new(
                desired_groups[i].external_id.clone(),
                ConflictKind::DuplicateDisplayName,
                format!(
                    "group name {:?} is also the name of {}, which is synced instead",
                    desired_groups[i].display_name, desired_groups[winner].external_id
                ),
            ));
        }
    }
    let mut i = 0;
    desired_groups.retain(|_| {
        i += 1;
        !gdropped[i - 1]
    });
    out.groups = desired_groups;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_best_effort() {
        assert_eq!(split_name(""), (None, None));
        assert_eq!(split_name("Ada"), (Some("Ada".into()), None));
        assert_eq!(
            split_name("Ada  King Lovelace"),
            (Some("Ada King".into()), Some("Lovelace".into()))
        );
    }
}
