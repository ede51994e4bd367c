//! A SCIM 2.0 directory as the identity source: ACTIVATE's own read-only SCIM API
//! (`https://<platform-host>/api/organizations/<org>/scim/v2`, an organization-scoped bearer
//! token), or any SCIM 2.0 service provider that holds the organization.
//!
//! [`ScimDirectory::snapshot`] lists every user and every group with the generic
//! [`ScimClient`] (all pages; the two lists at once) and maps them to the engine's
//! [`SourceSnapshot`]. Users, members and SSH keys come in the pages themselves, so a
//! snapshot costs `max(1, ceil(U / P)) + max(1, ceil(G / P))` requests without retries for
//! `U` users and `G` groups at page size `P`, however many keys there are: never one per
//! user (the REST source asks once per active user in scope for the keys, and once per group
//! for its members).
//!
//! # The mapping
//!
//! | snapshot | from the directory | rule |
//! |---|---|---|
//! | `organization` | — | the organization given to `ScimDirectory::organization` (the CLI's `ACTIVATE_ORG_NAME`); the directory does not say it |
//! | user `username` | User `userName` | required, unique (exactly); assumed to be the ACTIVATE username, as the REST API's `username` is |
//! | user `email` | `emails`: the `primary` one, else the first | blank is none |
//! | user `name` | `name.formatted`, else `displayName`, else `name.givenName` and `name.familyName` | blank is none |
//! | user `active` | `active` | `false` is inactive; absent is active (RFC 7643 sets no default, ACTIVATE always sends it) |
//! | user `sshKeys` | `urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser:sunkSshKeys` | one key per element, as read; an absent extension or attribute is no keys (RFC 7643: an absent multi-valued attribute is empty); read only for active users in scope, unknown (`None`) for the others, as the REST source does; elements none of which is a key make them unknown with a warning, as a REST listing that is all garbage does (`activate_client::parse_key_listing`); an invalid element among valid ones is dropped with a warning by the engine, which validates every source's keys |
//! | group `id` | Group `id` | required, non-blank; assumed to be ACTIVATE's group id, as the REST API gives it (the target's `externalId` is built from it) |
//! | group `name` | `displayName` | the scope (`sync_groups`) matches it exactly, as for the REST source |
//! | group `members` | `members[].value`, joined to the users by their SCIM `id` | a member that is a group (`type: Group`) or no user of the directory is left out with a warning |
//! | — | user `id` | required (members name users by it), unique |
//! | — | everything else: `externalId`, `meta`, `groups`, `sunkPosixUsername`, `sunkPosixUserId`, `sunkPosixGroupId`, `sunkLoginShell`, `sunkPreferredHomeDirectory`, the `CoreWeaveGroup` extension, any other attribute or extension | ignored; absent is fine |
//!
//! # Guarantees
//!
//! The same as the REST source's ([`activate_client::ActivateClient::snapshot`]): a snapshot
//! is complete or an error (a list that cannot be read completely and consistently fails it,
//! as do a user without an id or `userName`, a group in scope without an id, two users with
//! one `userName` and two groups with one name); inactive users are inactive; the scope is
//! applied by [`activate_client::groups_in_scope`], the same function the REST source uses.

use std::collections::{HashMap, HashSet};

use activate_client::{Snapshot, SnapshotOptions};
use scim_client::{Group, ListQuery, ScimClient, User};
use scim_diff::source::{SourceGroup, SourceSnapshot, SourceUser};

/// Why a directory could not be read into a complete snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// A list could not be read completely and consistently (a request failed after its
    /// retries, the token was refused, the pages contradicted each other).
    #[error("could not list the source directory's {what}: {error}")]
    List {
        /// `users` or `groups`.
        what: &'static str,
        /// The client's error.
        error: scim_client::Error,
    },
    /// The records read lack what a snapshot needs, or contradict each other.
    #[error("the source directory cannot be read as a snapshot: {0}")]
    Invalid(String),
    /// The sync scope cannot be applied (no group in scope exists, two groups share a name).
    #[error("{0}")]
    Scope(activate_client::Error),
}

/// A SCIM 2.0 directory read as the identity source (see the [module](self) for the
/// mapping).
#[derive(Clone)]
pub struct ScimDirectory {
    client: ScimClient,
    organization: Option<String>,
}

impl std::fmt::Debug for ScimDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimDirectory")
            .field("base_url", &self.client.base_url().as_str())
            .field("organization", &self.organization)
            .finish()
    }
}

impl ScimDirectory {
    /// The directory `client` reads (its base URL, token, page size and limits).
    pub fn new(client: ScimClient) -> Self {
        Self {
            client,
            organization: None,
        }
    }

    /// The organization the directory holds, for the snapshot and the report.
    pub fn organization(mut self, organization: Option<String>) -> Self {
        self.organization = organization;
        self
    }

    /// The client (it shares its counters with every clone).
    pub fn client(&self) -> &ScimClient {
        &self.client
    }

    /// The organization, if one was given.
    pub fn organization_name(&self) -> Option<&str> {
        self.organization.as_deref()
    }

    /// Reads every user and every group (both lists at once, all pages) and maps them to a
    /// complete snapshot as `options` say, or fails.
    pub async fn snapshot(&self, options: &SnapshotOptions) -> Result<Snapshot, DirectoryError> {
        let (users, groups) = futures_util::future::try_join(
            self.list::<User>("users", "Users"),
            self.list::<Group>("groups", "Groups"),
        )
        .await?;
        let (options, organization) = (options.clone(), self.organization.clone());
        // mapping a million users is blocking work: off the runtime's workers
        let mapped = tokio::task::spawn_blocking(move || {
            map_directory(&users, &groups, &options, organization)
        })
        .await;
        match mapped {
            Ok(snapshot) => snapshot,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn list<T: scim_client::Resource>(
        &self,
        what: &'static str,
        endpoint: &str,
    ) -> Result<Vec<T>, DirectoryError> {
        self.client
            .resource::<T>(endpoint)
            .list(&ListQuery::new())
            .await
            .map_err(|error| DirectoryError::List { what, error })
    }
}

/// Maps a directory's users and groups to a snapshot (see the [module](self) for the
/// mapping): the pure half of [`ScimDirectory::snapshot`].
pub fn map_directory(
    users: &[User],
    groups: &[Group],
    options: &SnapshotOptions,
    organization: Option<String>,
) -> Result<Snapshot, DirectoryError> {
    let invalid = |message: String| Err(DirectoryError::Invalid(message));
    let mut warnings = Vec::new();

    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(users.len());
    let mut usernames: HashSet<&str> = HashSet::with_capacity(users.len());
    for (i, user) in users.iter().enumerate() {
        let Some(id) = nonblank(user.id.as_deref()) else {
            return invalid(format!(
                "user {:?} has no id; group members name users by id",
                user.user_name
            ));
        };
        if user.user_name.trim().is_empty() {
            return invalid(format!("the user with id {id:?} has no userName"));
        }
        if by_id.insert(id, i).is_some() {
            return invalid(format!("two users have the id {id:?}"));
        }
        if !usernames.insert(user.user_name.as_str()) {
            return invalid(format!("two users have the userName {:?}", user.user_name));
        }
    }

    let names: Vec<&str> = groups.iter().map(|g| g.display_name.as_str()).collect();
    let scoped =
        activate_client::groups_in_scope(&names, options.sync_groups.as_deref(), &mut warnings)
            .map_err(DirectoryError::Scope)?;
    let mut in_scope = vec![options.sync_groups.is_none(); users.len()];
    let mut source_groups = Vec::with_capacity(scoped.len());
    for group in scoped.into_iter().map(|i| &groups[i]) {
        let name = &group.display_name;
        let Some(id) = nonblank(group.id.as_deref()) else {
            return invalid(format!(
                "group {name:?} has no id; a stable id is needed to follow renames"
            ));
        };
        let mut seen = HashSet::new();
        let mut members = Vec::new();
        for member in &group.members {
            let value = &member.value;
            if member
                .kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("Group"))
            {
                warnings.push(format!(
                    "group {name:?}: member {value:?} is a group; nested groups are not \
                     synced, left out"
                ));
                continue;
            }
            match by_id.get(value.as_str()) {
                Some(&i) => {
                    in_scope[i] = true;
                    if seen.insert(i) {
                        members.push(users[i].user_name.clone());
                    }
                }
                None => warnings.push(format!(
                    "group {name:?}: member {value:?} is not a user of the directory; left out"
                )),
            }
        }
        source_groups.push(SourceGroup {
            id: id.to_owned(),
            name: name.clone(),
            members,
        });
    }

    let users = users
        .iter()
        .zip(in_scope)
        .map(|(user, in_scope)| {
            source_user(user, in_scope && !options.without_ssh_keys, &mut warnings)
        })
        .collect();
    Ok(Snapshot {
        snapshot: SourceSnapshot {
            version: scim_diff::source::EXPORT_VERSION,
            organization,
            users,
            groups: source_groups,
        },
        warnings,
    })
}

/// One user; its keys are read when `keys_wanted` (in scope, keys synced) and it is active.
fn source_user(user: &User, keys_wanted: bool, warnings: &mut Vec<String>) -> SourceUser {
    let text = |s: Option<&str>| nonblank(s).map(str::to_owned);
    let name = user.name.as_ref();
    let full_name = text(name.and_then(|n| n.formatted.as_deref()))
        .or_else(|| text(user.display_name.as_deref()))
        .or_else(|| {
            let parts = [
                name.and_then(|n| n.given_name.as_deref()),
                name.and_then(|n| n.family_name.as_deref()),
            ];
            let joined: Vec<&str> = parts.into_iter().flatten().map(str::trim).collect();
            text(Some(&joined.join(" ")))
        });
    let active = user.active.unwrap_or(true);
    let ssh_keys = (keys_wanted && active)
        .then(|| {
            let keys = user.ssh_keys();
            // judged as the REST source judges a listing: garbage is unknown, never "no keys";
            // the elements themselves go to the engine as read, one key each
            match activate_client::parse_key_listing(&keys.join("\n")) {
                Ok(_) => Some(keys.to_vec()),
                Err(e) => {
                    warnings.push(format!(
                        "SSH keys of {:?} are unknown and stay unchanged downstream: {e}",
                        user.user_name
                    ));
                    None
                }
            }
        })
        .flatten();
    SourceUser {
        username: user.user_name.clone(),
        email: text(user.primary_email()),
        name: full_name,
        active,
        ssh_keys,
    }
}

/// The text trimmed, unless it is blank.
fn nonblank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_client::{CoreWeaveUser, Email, Member, Name};

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5 ada@laptop";

    fn user(id: &str, name: &str) -> User {
        User {
            id: Some(id.into()),
            active: Some(true),
            ..User::new(name)
        }
    }

    fn group(id: &str, name: &str, members: &[&str]) -> Group {
        Group {
            id: Some(id.into()),
            members: members.iter().map(|m| Member::new(*m)).collect(),
            ..Group::new(name)
        }
    }

    fn all() -> SnapshotOptions {
        SnapshotOptions::default()
    }

    #[test]
    fn users_map_with_fallbacks_for_name_and_email() {
        let mut ada = user("u1", "ada");
        ada.emails = vec![
            Email {
                value: "second@x.org".into(),
                ..Email::default()
            },
            Email::work("ada@x.org"),
        ];
        ada.name = Some(Name {
            given_name: Some("Ada".into()),
            family_name: Some(" Lovelace ".into()),
            ..Name::default()
        });
        ada.coreweave = Some(CoreWeaveUser::with_ssh_keys([ED, "not a key"]));
        let mut bob = user("u2", "bob");
        bob.display_name = Some("Bob B".into());
        bob.name = Some(Name {
            formatted: Some("  ".into()),
            ..Name::default()
        });
        bob.emails = vec![Email {
            value: " ".into(),
            ..Email::default()
        }];
        let mut cy = user("u3", "cy");
        cy.active = None;
        let snap = map_directory(&[ada, bob, cy], &[], &all(), Some("acme".into())).unwrap();
        let [ada, bob, cy] = &snap.snapshot.users[..] else {
            panic!("three users")
        };
        assert_eq!(ada.email.as_deref(), Some("ada@x.org"), "the primary one");
        assert_eq!(ada.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            ada.ssh_keys,
            Some(vec![ED.into(), "not a key".into()]),
            "as read: the engine drops the invalid one"
        );
        assert_eq!(bob.name.as_deref(), Some("Bob B"));
        assert_eq!(bob.email, None, "blank is none");
        assert_eq!(
            bob.ssh_keys,
            Some(vec![]),
            "no extension: no keys, not unknown"
        );
        assert!(cy.active, "absent `active` is active");
        assert_eq!(snap.snapshot.organization.as_deref(), Some("acme"));
    }

    #[test]
    fn keys_only_for_active_users_in_scope() {
        let mut off = user("u2", "off");
        off.active = Some(false);
        off.coreweave = Some(CoreWeaveUser::with_ssh_keys(["k"]));
        let users = [user("u1", "in"), off, user("u3", "out")];
        let groups = [group("g1", "A", &["u1", "u2"]), group("g2", "B", &["u3"])];
        let scoped = SnapshotOptions {
            sync_groups: Some(vec!["A".into()]),
            ..all()
        };
        let snap = map_directory(&users, &groups, &scoped, None).unwrap();
        let keys: Vec<_> = snap.snapshot.users.iter().map(|u| &u.ssh_keys).collect();
        assert_eq!(keys, [&Some(vec![]), &None, &None]);
        assert!(!snap.snapshot.users[1].active);
        assert_eq!(
            snap.snapshot.users.len(),
            3,
            "every user, as the REST source"
        );
        assert_eq!(snap.snapshot.groups.len(), 1);
        assert_eq!(snap.snapshot.groups[0].members, ["in", "off"]);

        let without = SnapshotOptions {
            without_ssh_keys: true,
            ..all()
        };
        let snap = map_directory(&users, &groups, &without, None).unwrap();
        assert!(snap.snapshot.users.iter().all(|u| u.ssh_keys.is_none()));
    }

    #[test]
    fn keys_that_are_all_garbage_are_unknown_not_none() {
        let mut garbage = user("u1", "ada");
        garbage.coreweave = Some(CoreWeaveUser::with_ssh_keys(["<html>Bad Gateway</html>"]));
        let snap = map_directory(&[garbage], &[], &all(), None).unwrap();
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert_eq!(snap.warnings.len(), 1);
        assert!(
            snap.warnings[0].contains("\"ada\" are unknown"),
            "{:?}",
            snap.warnings
        );
    }

    #[test]
    fn members_that_are_no_users_are_left_out_with_a_warning() {
        let mut nested = Member::new("g1");
        nested.kind = Some("Group".into());
        let mut g2 = group("g2", "Outer", &["u1", "nobody", "u1"]);
        g2.members.push(nested);
        let snap = map_directory(
            &[user("u1", "ada")],
            &[group("g1", "Inner", &[]), g2],
            &all(),
            None,
        )
        .unwrap();
        assert_eq!(snap.snapshot.groups[1].members, ["ada"], "once");
        assert_eq!(snap.warnings.len(), 2, "{:?}", snap.warnings);
        assert!(snap.warnings[0].contains("\"nobody\" is not a user"));
        assert!(snap.warnings[1].contains("is a group"));
    }

    #[test]
    fn an_incomplete_or_contradictory_directory_is_an_error() {
        let err = |users: &[User], groups: &[Group], options: &SnapshotOptions| {
            map_directory(users, groups, options, None)
                .unwrap_err()
                .to_string()
        };
        let mut no_id = user("x", "ada");
        no_id.id = None;
        assert!(err(&[no_id], &[], &all()).contains("has no id"));
        assert!(err(&[user("u1", " ")], &[], &all()).contains("no userName"));
        assert!(err(&[user("u1", "a"), user("u1", "b")], &[], &all()).contains("the id"));
        assert!(err(&[user("u1", "a"), user("u2", "a")], &[], &all()).contains("userName"));
        let mut g = group("g", "A", &[]);
        g.id = Some(" ".into());
        assert!(err(&[], &[g], &all()).contains("has no id"));
        let twins = [group("g1", "A", &[]), group("g2", "A", &[])];
        assert!(err(&[], &twins, &all()).contains("two groups are named"));
        let nowhere = SnapshotOptions {
            sync_groups: Some(vec!["Z".into()]),
            ..all()
        };
        assert!(err(&[], &[group("g1", "A", &[])], &nowhere).contains("empty scope"));
    }
}
