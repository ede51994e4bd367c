//! Assembling a complete [`SourceSnapshot`] from the API.

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt as _, TryStreamExt as _};
use scim_diff::source::{SourceGroup, SourceSnapshot, SourceUser};

use crate::model::{Group, Member, OrgUser};
use crate::{ActivateClient, Error};

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Only these groups (exact names, `ACTIVATE_SYNC_GROUPS`); `None` reads every group.
    /// Names that match no group are reported as warnings; if none matches, the snapshot
    /// fails rather than describe an empty scope.
    pub sync_groups: Option<Vec<String>>,
    /// Read no SSH keys (every user's keys are unknown, `ssh_keys: None`): for a target that
    /// takes none, this saves one request per user.
    pub without_ssh_keys: bool,
}

/// A complete snapshot and what was noticed while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The directory, complete.
    pub snapshot: SourceSnapshot,
    /// Non-fatal findings: unknown scope names, members that are not users of the
    /// organization (left out), users whose keys could not be read (keys unknown).
    pub warnings: Vec<String>,
}

/// Resolves usernames (as a group member list spells them) to users: exact first, then
/// case-insensitively when that is unambiguous.
pub(crate) struct UserIndex<'a> {
    exact: HashMap<&'a str, usize>,
    folded: HashMap<String, Option<usize>>,
}

/// Why a member could not be joined.
pub(crate) enum JoinMiss {
    Unknown,
    Ambiguous,
}

impl<'a> UserIndex<'a> {
    pub(crate) fn new(usernames: impl Iterator<Item = &'a str>) -> Self {
        let mut exact = HashMap::new();
        let mut folded: HashMap<String, Option<usize>> = HashMap::new();
        for (i, name) in usernames.enumerate() {
            exact.insert(name, i);
            folded
                .entry(name.to_lowercase())
                .and_modify(|slot| *slot = None)
                .or_insert(Some(i));
        }
        Self { exact, folded }
    }

    pub(crate) fn find(&self, username: &str) -> Result<usize, JoinMiss> {
        if let Some(&i) = self.exact.get(username) {
            return Ok(i);
        }
        match self.folded.get(&username.to_lowercase()) {
            Some(Some(i)) => Ok(*i),
            Some(None) => Err(JoinMiss::Ambiguous),
            None => Err(JoinMiss::Unknown),
        }
    }
}

/// Joins one group's member list to the users; unknown members are reported and left out.
pub(crate) fn join_members(
    group_name: &str,
    members: impl IntoIterator<Item = String>,
    users: &[String],
    index: &UserIndex<'_>,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut joined = Vec::new();
    for member in members {
        match index.find(&member) {
            Ok(i) => {
                if seen.insert(i) {
                    joined.push(users[i].clone());
                }
            }
            Err(JoinMiss::Unknown) => warnings.push(format!(
                "group {group_name:?}: member {member:?} is not a user of the organization; left out"
            )),
            Err(JoinMiss::Ambiguous) => warnings.push(format!(
                "group {group_name:?}: member {member:?} matches several users that differ only \
                 in letter case; left out"
            )),
        }
    }
    joined
}

impl ActivateClient {
    /// Reads the organization completely: users (all pages), groups, the members of each
    /// group in scope and the SSH keys of the active users in scope.
    ///
    /// Requests made, without retries: one whoami (only if no org name was configured),
    /// `max(1, ceil(N / page_size))` user pages, one group list, one member list per group in
    /// scope and one key listing per active user in scope (none with the `pw` key source, or
    /// [`SnapshotOptions::without_ssh_keys`]).
    ///
    /// Any failure to read users, groups or members fails the whole snapshot. A key listing
    /// that fails for one user makes that user's keys unknown (`ssh_keys: None`) and adds a
    /// warning; only a 401 during key fetching (the key stopped working) fails the snapshot.
    pub async fn snapshot(&self, options: &SnapshotOptions) -> Result<Snapshot, Error> {
        let mut warnings = Vec::new();
        let org = self.organization().await?;
        let org_users = self.users().await?;
        let groups = self.groups().await?;
        let scoped = scope_groups(&groups, options.sync_groups.as_deref(), &mut warnings)?;

        let concurrency = self.concurrency();
        let names: Vec<String> = scoped.iter().map(|g| g.name.clone()).collect();
        let member_lists: Vec<Vec<Member>> = futures_util::stream::iter(names)
            .map(|name| async move { self.group_members(&name).await })
            .buffered(concurrency)
            .try_collect()
            .await?;

        let usernames: Vec<String> = org_users.iter().map(|u| u.username.clone()).collect();
        let index = UserIndex::new(usernames.iter().map(String::as_str));
        let mut source_groups = Vec::with_capacity(scoped.len());
        let mut in_scope = vec![options.sync_groups.is_none(); org_users.len()];
        for (group, members) in scoped.iter().zip(member_lists) {
            let members = join_members(
                &group.name,
                members.into_iter().map(|m| m.username),
                &usernames,
                &index,
                &mut warnings,
            );
            for member in &members {
                if let Ok(i) = index.find(member) {
                    in_scope[i] = true;
                }
            }
            source_groups.push(SourceGroup {
                id: group.id.clone().unwrap_or_default(),
                name: group.name.clone(),
                members,
            });
        }

        let wanted: Vec<usize> = (0..org_users.len())
            .filter(|&i| !options.without_ssh_keys && in_scope[i] && org_users[i].active)
            .collect();
        let fetched: Vec<(usize, Result<Vec<String>, Error>)> =
            futures_util::stream::iter(wanted.into_iter().map(|i| {
                let username = org_users[i].username.clone();
                async move { (i, self.ssh_keys(&username).await) }
            }))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut keys: Vec<Option<Vec<String>>> = vec![None; org_users.len()];
        let mut failed = Vec::new();
        for (i, result) in fetched {
            match result {
                Ok(lines) => keys[i] = Some(lines),
                Err(error @ Error::Unauthorized { status: 401, .. }) => return Err(error),
                Err(error) => failed.push((i, error)),
            }
        }
        failed.sort_by_key(|(i, _)| *i);
        for (i, error) in failed {
            warnings.push(format!(
                "SSH keys of {:?} are unknown and stay unchanged downstream: {error}",
                org_users[i].username
            ));
        }

        let users = org_users
            .into_iter()
            .zip(keys)
            .map(|(user, ssh_keys)| source_user(user, ssh_keys))
            .collect();
        Ok(Snapshot {
            snapshot: SourceSnapshot {
                version: 1,
                organization: Some(org),
                users,
                groups: source_groups,
            },
            warnings,
        })
    }
}

fn source_user(user: OrgUser, ssh_keys: Option<Vec<String>>) -> SourceUser {
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    SourceUser {
        username: user.username,
        email: nonempty(user.email),
        name: nonempty(user.name),
        active: user.active,
        ssh_keys,
    }
}

/// The groups to read members of, in API order. Groups without an id (no stable identity)
/// in scope fail the snapshot.
fn scope_groups<'g>(
    groups: &'g [Group],
    sync_groups: Option<&[String]>,
    warnings: &mut Vec<String>,
) -> Result<Vec<&'g Group>, Error> {
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let scoped: Vec<&Group> = groups_in_scope(&names, sync_groups, warnings)?
        .into_iter()
        .map(|i| &groups[i])
        .collect();
    for group in &scoped {
        if group.id.as_deref().is_none_or(|id| id.trim().is_empty()) {
            return Err(Error::Inconsistent(format!(
                "group {:?} has no id; a stable id is needed to follow renames",
                group.name
            )));
        }
    }
    Ok(scoped)
}

/// The sync scope applied to a directory's groups, by name: the indexes (into `names`, in
/// order) of the groups in scope, every group when `sync_groups` is `None`. Every source
/// scopes with it, so a scope means the same whatever the snapshot is read from.
///
/// Names match exactly. A scope name that matches no group is a warning; a scope that
/// matches none at all is an error ([`Error::Config`]) rather than an empty snapshot, and
/// two groups with one name are an error ([`Error::Inconsistent`]): a scope, member lists
/// and the target's group names all tell groups apart by name.
///
/// ```
/// let names = ["HPC Users", "Data Science", "Admins"];
/// let mut warnings = Vec::new();
/// let scope = ["Admins".to_owned(), "Nobody".to_owned()];
/// let wanted = activate_client::groups_in_scope(&names, Some(&scope), &mut warnings).unwrap();
/// assert_eq!(wanted, [2]);
/// assert_eq!(warnings.len(), 1, "Nobody matches no group");
/// ```
pub fn groups_in_scope(
    names: &[&str],
    sync_groups: Option<&[String]>,
    warnings: &mut Vec<String>,
) -> Result<Vec<usize>, Error> {
    let mut by_name: HashSet<&str> = HashSet::with_capacity(names.len());
    for name in names {
        if !by_name.insert(name) {
            return Err(Error::Inconsistent(format!(
                "two groups are named {name:?}; member lists are addressed by name, so they \
                 cannot be told apart"
            )));
        }
    }
    let Some(scope) = sync_groups else {
        return Ok((0..names.len()).collect());
    };
    let wanted: HashSet<&str> = scope.iter().map(|n| n.as_str()).collect();
    let mut unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|n| !by_name.contains(n))
        .collect();
    unknown.sort_unstable();
    for name in &unknown {
        warnings.push(format!(
            "group {name:?} in the sync scope does not exist in ACTIVATE (names match exactly)"
        ));
    }
    if wanted.len() == unknown.len() {
        return Err(Error::Config(format!(
            "none of the groups in the sync scope exists in ACTIVATE ({}): refusing to \
             describe an empty scope; check ACTIVATE_SYNC_GROUPS",
            scope.join(", ")
        )));
    }
    Ok((0..names.len())
        .filter(|&i| wanted.contains(names[i]))
        .collect())
}

/// The engine's view: a complete snapshot or an error, with the scope from
/// [`crate::ClientBuilder::sync_groups`]. Warnings are logged (`tracing::warn!`), since the
/// trait has no place for them; call [`ActivateClient::snapshot`] to get them as values.
#[async_trait::async_trait]
impl scim_diff::source::Source for ActivateClient {
    async fn snapshot(&self) -> Result<SourceSnapshot, scim_diff::source::SourceError> {
        let options = self.inner.default_options.clone();
        match ActivateClient::snapshot(self, &options).await {
            Ok(read) => {
                for warning in &read.warnings {
                    tracing::warn!(%warning, "ACTIVATE snapshot");
                }
                Ok(read.snapshot)
            }
            Err(error) => Err(scim_diff::source::SourceError::with_cause(
                "reading ACTIVATE failed",
                error,
            )),
        }
    }
}
