//! A plan as a person reviews it: a header of counts, groups by `displayName`, members by
//! `userName`, attribute changes as old → new, SSH keys by type and SHA256 fingerprint.
//!
//! A [`Plan`] holds what to write (new values, SCIM ids); what the records hold now is in the
//! [`ObservedState`] it was planned against. [`Review`] joins the two, for the text a person
//! reads ([`Review::render`], [`Review::header`]) and for the JSON a tool reads
//! ([`Review::operation_json`]: the engine's operation with `from`/`to` and names).
//!
//! ```
//! use scim_diff::{plan, ObservedState, Policy, SourceSnapshot, review::Review};
//! let source = SourceSnapshot::from_json(
//!     r#"{"version":1,"users":[{"username":"ada","email":"ada@example.org"}],
//!         "groups":[{"id":"g1","name":"hpc","members":["ada"]}]}"#,
//! ).unwrap();
//! let observed = ObservedState::default();
//! let plan = plan(&source, &observed, &Policy::default());
//! let review = Review::new(&plan, &observed);
//! assert_eq!(
//!     review.header(),
//!     "Plan: 1 user to create; 1 group to create; 1 membership change (1 added, 0 removed, in 1 group)."
//! );
//! assert!(review.render().contains("+ ada"));
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::observed::{Name, ObservedGroup, ObservedState, ObservedUser};
use crate::plan::{MemberRef, Operation, Plan, UserChanges, one_line};

/// How many member names a membership line shows before "and N more".
pub const MEMBERS_SHOWN: usize = 5;

/// A plan joined to the state it was planned against, for people and for tools.
#[derive(Debug)]
pub struct Review<'a> {
    plan: &'a Plan,
    users: HashMap<&'a str, &'a ObservedUser>,
    users_by_external_id: HashMap<&'a str, &'a str>,
    groups: HashMap<&'a str, &'a ObservedGroup>,
    group_names: HashMap<&'a str, &'a str>,
}

impl<'a> Review<'a> {
    /// Joins `plan` to `observed`, the state it was planned against.
    pub fn new(plan: &'a Plan, observed: &'a ObservedState) -> Self {
        let users = observed.users.iter().map(|u| (u.id.as_str(), u)).collect();
        let mut users_by_external_id: HashMap<&str, &str> = observed
            .users
            .iter()
            .filter_map(|u| Some((u.external_id.as_deref()?, u.user_name.as_str())))
            .collect();
        let groups = observed.groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let mut group_names: HashMap<&str, &str> = observed
            .groups
            .iter()
            .filter_map(|g| Some((g.external_id.as_deref()?, g.display_name.as_str())))
            .collect();
        // what the plan itself creates, renames or adopts is named as it will be
        for op in &plan.operations {
            match op {
                Operation::CreateUser { user, .. } => {
                    users_by_external_id.insert(&user.external_id, &user.user_name);
                }
                Operation::CreateGroup {
                    external_id,
                    display_name,
                    ..
                }
                | Operation::AdoptGroup {
                    external_id,
                    display_name,
                    ..
                } => {
                    group_names.insert(external_id, display_name);
                }
                Operation::RenameGroup {
                    external_id, to, ..
                } => {
                    group_names.insert(external_id, to);
                }
                _ => {}
            }
        }
        Self {
            plan,
            users,
            users_by_external_id,
            groups,
            group_names,
        }
    }

    /// One sentence of counts, in the manner of `terraform plan`: "Plan: 3 users to create,
    /// 1 to update, 2 to deactivate; 1 group to create; 4 membership changes (3 added, 1
    /// removed, in 2 groups)." or "Plan: no changes."
    pub fn header(&self) -> String {
        let counts = self.plan.counts();
        let n = |kind: &str| counts.get(kind).copied().unwrap_or(0);
        let users = phrases(
            "user",
            "users",
            &[
                (n("create_user"), "to create"),
                (n("update_user"), "to update"),
                (n("reactivate_user"), "to reactivate"),
                (n("adopt_user"), "to adopt"),
                (n("deactivate_user"), "to deactivate"),
            ],
        );
        let groups = phrases(
            "group",
            "groups",
            &[
                (n("create_group"), "to create"),
                (n("rename_group"), "to rename"),
                (n("adopt_group"), "to adopt"),
            ],
        );
        let (mut added, mut removed) = (0, 0);
        let mut touched = BTreeSet::new();
        for op in &self.plan.operations {
            match op {
                Operation::UpdateMembers {
                    external_id,
                    add,
                    remove,
                    ..
                } => {
                    added += add.len();
                    removed += remove.len();
                    touched.insert(external_id.as_str());
                }
                // members sent with the create are membership changes all the same
                Operation::CreateGroup {
                    external_id,
                    members,
                    ..
                } if !members.is_empty() => {
                    added += members.len();
                    touched.insert(external_id.as_str());
                }
                _ => {}
            }
        }
        let memberships = (added + removed > 0).then(|| {
            format!(
                "{} ({added} added, {removed} removed, in {})",
                plural(added + removed, "membership change", "membership changes"),
                plural(touched.len(), "group", "groups")
            )
        });
        let parts: Vec<String> = [users, groups, memberships].into_iter().flatten().collect();
        if parts.is_empty() {
            "Plan: no changes.".to_owned()
        } else {
            format!("Plan: {}.", parts.join("; "))
        }
    }

    /// The header, one block per operation (what it does to whom, old → new, keys by
    /// fingerprint), then conflicts, warnings, a refusal and the totals. Every value is on one
    /// line of its own making: no record can add a line to the review.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header());
        if !self.plan.operations.is_empty() {
            out.push('\n');
        }
        for op in &self.plan.operations {
            self.render_operation(&mut out, op);
        }
        self.plan.render_findings(&mut out);
        out
    }

    fn render_operation(&self, out: &mut String, op: &Operation) {
        let ext = one_line(op.external_id());
        match op {
            Operation::CreateUser { user, .. } => {
                let _ = writeln!(out, "+ create_user {} ({ext})", q(&user.user_name));
                let _ = writeln!(out, "    displayName: {}", q(&user.display_name));
                if !user.emails.is_empty() {
                    let _ = writeln!(out, "    emails: {}", list(&user.emails));
                }
                for key in user.ssh_keys.iter().flatten() {
                    let _ = writeln!(out, "    + {}", key_label(key));
                }
            }
            Operation::UpdateUser { id, changes, .. } => {
                let _ = writeln!(
                    out,
                    "~ update_user {} ({ext}, id {})",
                    self.user_label(id),
                    q(id)
                );
                self.render_changes(out, id, changes);
            }
            Operation::ReactivateUser { id, changes, .. } => {
                let _ = writeln!(
                    out,
                    "~ reactivate_user {} ({ext}, id {})",
                    self.user_label(id),
                    q(id)
                );
                let _ = writeln!(out, "    active: false -> true");
                self.render_changes(out, id, changes);
            }
            Operation::AdoptUser {
                id,
                previous_external_id,
                changes,
                ..
            } => {
                let _ = writeln!(out, "~ adopt_user {} (id {})", self.user_label(id), q(id));
                adopted_external_id(out, previous_external_id.as_deref(), op.external_id());
                if self.users.get(id.as_str()).is_none_or(|u| !u.active) {
                    let _ = writeln!(out, "    active: false -> true");
                }
                self.render_changes(out, id, changes);
            }
            Operation::DeactivateUser { id, user_name, .. } => {
                let _ = writeln!(
                    out,
                    "- deactivate_user {} ({ext}, id {})",
                    q(user_name),
                    q(id)
                );
                let _ = writeln!(out, "    active: true -> false");
            }
            Operation::CreateGroup {
                display_name,
                members,
                ..
            } => {
                let _ = writeln!(out, "+ create_group {} ({ext})", q(display_name));
                if !members.is_empty() {
                    let _ = writeln!(out, "    members: + {}", self.member_names(members));
                }
            }
            Operation::RenameGroup { id, from, to, .. } => {
                let _ = writeln!(out, "~ rename_group {} ({ext}, id {})", q(to), q(id));
                let _ = writeln!(out, "    displayName: {} -> {}", q(from), q(to));
            }
            Operation::AdoptGroup {
                id,
                previous_external_id,
                display_name,
                ..
            } => {
                let _ = writeln!(out, "~ adopt_group {} (id {})", q(display_name), q(id));
                adopted_external_id(out, previous_external_id.as_deref(), op.external_id());
                if let Some(now) = self.groups.get(id.as_str())
                    && now.display_name != *display_name
                {
                    let _ = writeln!(
                        out,
                        "    displayName: {} -> {}",
                        q(&now.display_name),
                        q(display_name)
                    );
                }
            }
            Operation::UpdateMembers {
                id, add, remove, ..
            } => {
                let group = self.group_name(op.external_id(), id.as_deref());
                let _ = writeln!(
                    out,
                    "~ update_members {group} ({ext}{}): +{} -{}",
                    id.as_deref()
                        .map_or_else(String::new, |id| format!(", id {}", q(id))),
                    add.len(),
                    remove.len()
                );
                if !add.is_empty() {
                    let _ = writeln!(out, "    + {}", self.member_names(add));
                }
                if !remove.is_empty() {
                    let _ = writeln!(out, "    - {}", self.member_names(remove));
                }
            }
        }
    }

    /// `attribute: old -> new` for each changed attribute; SSH keys as the keys added and
    /// removed, by fingerprint.
    fn render_changes(&self, out: &mut String, id: &str, changes: &UserChanges) {
        let now = self.users.get(id).copied();
        for (attribute, from, to) in value_changes(now, changes) {
            let _ = writeln!(out, "    {attribute}: {from} -> {to}");
        }
        if let Some(keys) = &changes.ssh_keys {
            let before = now.map_or(&[][..], |u| u.ssh_keys.as_slice());
            let (added, removed) = key_difference(before, keys);
            let _ = writeln!(
                out,
                "    sunkSshKeys: {} -> {}",
                plural(before.len(), "key", "keys"),
                plural(keys.len(), "key", "keys")
            );
            for key in added {
                let _ = writeln!(out, "      + {key}");
            }
            for key in removed {
                let _ = writeln!(out, "      - {key}");
            }
        }
    }

    /// One operation as the engine serializes it, with what a reviewing tool needs beside
    /// it: `from` and `to` (the old and new value of each attribute it changes), the
    /// `userName` or `displayName` it is about, and members by `userName`.
    pub fn operation_json(&self, op: &Operation) -> Value {
        let mut value = serde_json::to_value(op).unwrap_or(Value::Null);
        let Some(object) = value.as_object_mut() else {
            return value;
        };
        match op {
            Operation::UpdateUser { id, changes, .. }
            | Operation::ReactivateUser { id, changes, .. }
            | Operation::AdoptUser { id, changes, .. } => {
                let now = self.users.get(id.as_str()).copied();
                if let Some(user) = now {
                    object.insert("userName".into(), json!(user.user_name));
                }
                let (mut from, mut to) = user_change_values(now, changes);
                if !matches!(op, Operation::UpdateUser { .. }) && now.is_none_or(|u| !u.active) {
                    from.insert("active".into(), json!(false));
                    to.insert("active".into(), json!(true));
                }
                if let Operation::AdoptUser {
                    previous_external_id,
                    external_id,
                    ..
                } = op
                {
                    from.insert("externalId".into(), json!(previous_external_id));
                    to.insert("externalId".into(), json!(external_id));
                }
                object.insert("from".into(), Value::Object(from));
                object.insert("to".into(), Value::Object(to));
            }
            Operation::DeactivateUser { .. } => {
                object.insert("from".into(), json!({"active": true}));
                object.insert("to".into(), json!({"active": false}));
            }
            Operation::AdoptGroup {
                id,
                previous_external_id,
                external_id,
                display_name,
                ..
            } => {
                let mut from = Map::new();
                let mut to = Map::new();
                from.insert("externalId".into(), json!(previous_external_id));
                to.insert("externalId".into(), json!(external_id));
                if let Some(now) = self.groups.get(id.as_str())
                    && now.display_name != *display_name
                {
                    from.insert("displayName".into(), json!(now.display_name));
                    to.insert("displayName".into(), json!(display_name));
                }
                object.insert("from".into(), Value::Object(from));
                object.insert("to".into(), Value::Object(to));
            }
            Operation::UpdateMembers {
                id, add, remove, ..
            } => {
                if let Some(name) = self.group_display_name(op.external_id(), id.as_deref()) {
                    object.insert("displayName".into(), json!(name));
                }
                let names = |members: &[MemberRef]| -> Vec<Value> {
                    members.iter().map(|m| json!(self.member_name(m))).collect()
                };
                if !add.is_empty() {
                    object.insert("addUserNames".into(), Value::Array(names(add)));
                }
                if !remove.is_empty() {
                    object.insert("removeUserNames".into(), Value::Array(names(remove)));
                }
            }
            Operation::CreateGroup { members, .. } if !members.is_empty() => {
                let names = members.iter().map(|m| json!(self.member_name(m))).collect();
                object.insert("addUserNames".into(), Value::Array(names));
            }
            // creates carry their values; a rename has `from` and `to` of its own
            Operation::CreateUser { .. }
            | Operation::CreateGroup { .. }
            | Operation::RenameGroup { .. } => {}
        }
        value
    }

    fn user_label(&self, id: &str) -> String {
        self.users
            .get(id)
            .map_or_else(|| "(unknown user)".to_owned(), |u| q(&u.user_name))
    }

    fn group_display_name(&self, external_id: &str, id: Option<&str>) -> Option<&'a str> {
        self.group_names.get(external_id).copied().or_else(|| {
            id.and_then(|id| self.groups.get(id))
                .map(|g| g.display_name.as_str())
        })
    }

    fn group_name(&self, external_id: &str, id: Option<&str>) -> String {
        self.group_display_name(external_id, id)
            .map_or_else(|| "(unknown group)".to_owned(), q)
    }

    /// A member's `userName`, or what identifies it when the plan and the read do not know it.
    fn member_name(&self, member: &MemberRef) -> String {
        let by_id = member
            .id
            .as_deref()
            .and_then(|id| self.users.get(id))
            .map(|u| u.user_name.as_str());
        let by_external_id = || {
            member
                .external_id
                .as_deref()
                .and_then(|e| self.users_by_external_id.get(e).copied())
        };
        match by_id.or_else(by_external_id) {
            Some(name) => name.to_owned(),
            None => member
                .id
                .as_deref()
                .or(member.external_id.as_deref())
                .map_or_else(|| "(unknown)".to_owned(), |v| format!("(id {v})")),
        }
    }

    /// The first [`MEMBERS_SHOWN`] members by `userName`, then "and N more".
    fn member_names(&self, members: &[MemberRef]) -> String {
        let shown: Vec<String> = members
            .iter()
            .take(MEMBERS_SHOWN)
            .map(|m| one_line(&self.member_name(m)).into_owned())
            .collect();
        let rest = members.len().saturating_sub(MEMBERS_SHOWN);
        if rest == 0 {
            shown.join(", ")
        } else {
            format!("{} and {rest} more", shown.join(", "))
        }
    }
}

/// The `externalId` line of an adoption: the old one (or none) -> the managed one.
fn adopted_external_id(out: &mut String, previous: Option<&str>, managed: &str) {
    let previous = previous.map_or_else(none, q);
    let _ = writeln!(out, "    externalId: {previous} -> {}", q(managed));
}

/// `(attribute, old, new)` as text, for every changed attribute but the keys.
fn value_changes(
    now: Option<&ObservedUser>,
    c: &UserChanges,
) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    if let Some(new) = &c.user_name {
        out.push((
            "userName",
            now.map_or_else(unknown, |u| q(&u.user_name)),
            q(new),
        ));
    }
    if let Some(new) = &c.display_name {
        let old = now.map_or_else(unknown, |u| u.display_name.as_deref().map_or_else(none, q));
        out.push(("displayName", old, q(new)));
    }
    if let Some(new) = &c.name {
        out.push((
            "name",
            now.map_or_else(unknown, |u| name_text(&u.name)),
            name_text(new),
        ));
    }
    if let Some(new) = &c.emails {
        out.push((
            "emails",
            now.map_or_else(unknown, |u| list(&u.emails)),
            list(new),
        ));
    }
    out
}

/// The old and new values of each changed attribute, as JSON objects keyed by attribute.
fn user_change_values(
    now: Option<&ObservedUser>,
    c: &UserChanges,
) -> (Map<String, Value>, Map<String, Value>) {
    let (mut from, mut to) = (Map::new(), Map::new());
    let mut pair = |attribute: &str, old: Option<Value>, new: Value| {
        from.insert(attribute.to_owned(), old.unwrap_or(Value::Null));
        to.insert(attribute.to_owned(), new);
    };
    if let Some(new) = &c.user_name {
        pair("userName", now.map(|u| json!(u.user_name)), json!(new));
    }
    if let Some(new) = &c.display_name {
        pair(
            "displayName",
            now.map(|u| json!(u.display_name)),
            json!(new),
        );
    }
    if let Some(new) = &c.name {
        pair("name", now.map(|u| json!(u.name)), json!(new));
    }
    if let Some(new) = &c.emails {
        pair("emails", now.map(|u| json!(u.emails)), json!(new));
    }
    if let Some(new) = &c.ssh_keys {
        let fingerprints =
            |keys: &[String]| -> Value { keys.iter().map(|k| key_label(k)).collect() };
        pair(
            "sunkSshKeys",
            now.map(|u| fingerprints(&u.ssh_keys)),
            fingerprints(new),
        );
    }
    (from, to)
}

/// The keys in `after` and not `before`, and those in `before` and not `after`, compared and
/// shown by type and fingerprint (a changed comment is no change of key).
fn key_difference(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let before: BTreeSet<String> = before.iter().map(|k| key_label(k)).collect();
    let after: BTreeSet<String> = after.iter().map(|k| key_label(k)).collect();
    (
        after.difference(&before).cloned().collect(),
        before.difference(&after).cloned().collect(),
    )
}

/// `ssh-ed25519 SHA256:…` for an OpenSSH public key line; a line that does not parse is
/// named as such, never printed (it is untrusted text of any length).
pub fn key_label(line: &str) -> String {
    let key = line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    match ssh_key::PublicKey::from_openssh(&key) {
        Ok(key) => format!(
            "{} {}",
            key.algorithm().as_str(),
            key.fingerprint(ssh_key::HashAlg::Sha256)
        ),
        Err(_) => format!("(unreadable key of {} bytes)", line.len()),
    }
}

fn q(text: &str) -> String {
    format!("{:?}", text)
}

fn none() -> String {
    "(none)".to_owned()
}

fn unknown() -> String {
    "(unknown)".to_owned()
}

fn list(values: &[String]) -> String {
    if values.is_empty() {
        "[]".to_owned()
    } else {
        let quoted: Vec<String> = values.iter().map(|v| q(v)).collect();
        format!("[{}]", quoted.join(", "))
    }
}

fn name_text(name: &Name) -> String {
    let parts: Vec<String> = [
        ("formatted", &name.formatted),
        ("givenName", &name.given_name),
        ("familyName", &name.family_name),
    ]
    .into_iter()
    .filter_map(|(part, value)| Some(format!("{part}={}", q(value.as_deref()?))))
    .collect();
    if parts.is_empty() {
        none()
    } else {
        parts.join(" ")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "3 users to create, 1 to update" from the non-zero counts; `None` when all are zero.
fn phrases(one: &str, many: &str, counts: &[(usize, &str)]) -> Option<String> {
    let mut parts = counts.iter().filter(|(n, _)| *n > 0);
    let (n, what) = parts.next()?;
    let mut text = format!("{} {what}", plural(*n, one, many));
    for (n, what) in parts {
        let _ = write!(text, ", {n} {what}");
    }
    Some(text)
}
