//! The [`Plan`]: what must change, as a value, and [`plan()`] that computes it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::observed::{Name, ObservedGroup, ObservedState, ObservedUser};
use crate::policy::{DEACTIVATION_PERCENT_GRACE, Policy};
use crate::projection::{DesiredUser, project};
use crate::source::SourceSnapshot;
use crate::ssh::keys_match;

/// A member of a group in a membership change: the SCIM id when it is known when planning,
/// and the `externalId` when the member is a managed user (an add whose `id` is `None` waits
/// for the create of that user).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    /// SCIM id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `externalId` of the member, when it is a managed user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The attributes of a user that an update or reactivation changes (only those that differ).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChanges {
    /// New `userName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// New `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New `name` (the whole complex attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// New `emails` (the whole set; empty clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// New SSH keys (the whole set; empty clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys: Option<Vec<String>>,
}

impl UserChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Names of the changed attributes, in SCIM spelling.
    pub fn attributes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.user_name.is_some() {
            v.push("userName");
        }
        if self.display_name.is_some() {
            v.push("displayName");
        }
        if self.name.is_some() {
            v.push("name");
        }
        if self.emails.is_some() {
            v.push("emails");
        }
        if self.ssh_keys.is_some() {
            v.push("sunkSshKeys");
        }
        v
    }
}

/// One change to the target. Serialised with `op` (snake_case kind) and `externalId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a user.
    #[serde(rename_all = "camelCase")]
    CreateUser {
        /// The user as it is created.
        #[serde(flatten)]
        user: DesiredUser,
        /// Ordering inside the phase (see [`Operation::wave`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        wave: u32,
    },
    /// Change attributes of an active managed user.
    #[serde(rename_all = "camelCase")]
    UpdateUser {
        /// The user's `externalId`.
        external_id: String,
        /// The user's SCIM id.
        id: String,
        /// What changes.
        changes: UserChanges,
        /// Ordering inside the phase (see [`Operation::wave`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        wave: u32,
    },
    /// Deactivate a managed user (`active: false`); never a delete.
    #[serde(rename_all = "camelCase")]
    DeactivateUser {
        /// The user's `externalId`.
        external_id: String,
        /// The user's SCIM id.
        id: String,
        /// The user's `userName` (for people reading the plan).
        user_name: String,
    },
    /// Reactivate an inactive managed user (same SCIM id), with any attribute changes.
    #[serde(rename_all = "camelCase")]
    ReactivateUser {
        /// The user's `externalId`.
        external_id: String,
        /// The user's SCIM id.
        id: String,
        /// What changes besides `active`.
        changes: UserChanges,
        /// Ordering inside the phase (see [`Operation::wave`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        wave: u32,
    },
    /// Create a group (members are added by the following `update_members`).
    #[serde(rename_all = "camelCase")]
    CreateGroup {
        /// The group's `externalId`.
        external_id: String,
        /// `displayName`.
        display_name: String,
        /// Ordering inside the phase (see [`Operation::wave`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        wave: u32,
    },
    /// Rename a managed group (same SCIM id).
    #[serde(rename_all = "camelCase")]
    RenameGroup {
        /// The group's `externalId`.
        external_id: String,
        /// The group's SCIM id.
        id: String,
        /// Current `displayName`.
        from: String,
        /// New `displayName`.
        to: String,
        /// Ordering inside the phase (see [`Operation::wave`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        wave: u32,
    },
    /// Add and remove members of a managed group (one chunk of at most
    /// `max_members_per_patch` changes).
    #[serde(rename_all = "camelCase")]
    UpdateMembers {
        /// The group's `externalId`.
        external_id: String,
        /// The group's SCIM id; `None` when the group is created by this plan.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Members to add.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<MemberRef>,
        /// Members to remove (always with an id).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<MemberRef>,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Operation {
    /// Ordering inside a phase: an operation of wave `n > 0` takes a `userName` (or group
    /// name) that an operation of wave `n - 1` of the same phase gives up, so it runs after
    /// it. Most operations are wave 0.
    pub fn wave(&self) -> u32 {
        match self {
            Self::CreateUser { wave, .. }
            | Self::UpdateUser { wave, .. }
            | Self::ReactivateUser { wave, .. }
            | Self::CreateGroup { wave, .. }
            | Self::RenameGroup { wave, .. } => *wave,
            _ => 0,
        }
    }

    /// The `op` name, as serialised.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateUser { .. } => "create_user",
            Self::UpdateUser { .. } => "update_user",
            Self::DeactivateUser { .. } => "deactivate_user",
            Self::ReactivateUser { .. } => "reactivate_user",
            Self::CreateGroup { .. } => "create_group",
            Self::RenameGroup { .. } => "rename_group",
            Self::UpdateMembers { .. } => "update_members",
        }
    }

    /// The `externalId` of the record the operation writes.
    pub fn external_id(&self) -> &str {
        match self {
            Self::CreateUser { user, .. } => &user.external_id,
            Self::UpdateUser { external_id, .. }
            | Self::DeactivateUser { external_id, .. }
            | Self::ReactivateUser { external_id, .. }
            | Self::CreateGroup { external_id, .. }
            | Self::RenameGroup { external_id, .. }
            | Self::UpdateMembers { external_id, .. } => external_id,
        }
    }

    /// The execution phase: 0 user creates/reactivations/updates, 1 group creates/renames,
    /// 2 membership changes, 3 deactivations.
    pub fn phase(&self) -> u8 {
        match self {
            Self::CreateUser { .. } | Self::ReactivateUser { .. } | Self::UpdateUser { .. } => 0,
            Self::CreateGroup { .. } | Self::RenameGroup { .. } => 1,
            Self::UpdateMembers { .. } => 2,
            Self::DeactivateUser { .. } => 3,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::CreateUser { user: u, .. } => {
                let keys = match &u.ssh_keys {
                    Some(k) => format!(", {} ssh key(s)", k.len()),
                    None => String::new(),
                };
                format!("userName={}{}", u.user_name, keys)
            }
            Self::UpdateUser { id, changes, .. } => {
                format!("id={id} set {}", changes.attributes().join(", "))
            }
            Self::ReactivateUser { id, changes, .. } => {
                let attrs = changes.attributes();
                if attrs.is_empty() {
                    format!("id={id} active=true")
                } else {
                    format!("id={id} active=true, set {}", attrs.join(", "))
                }
            }
            Self::DeactivateUser { id, user_name, .. } => {
                format!("id={id} userName={user_name} active=false")
            }
            Self::CreateGroup { display_name, .. } => format!("displayName={display_name}"),
            Self::RenameGroup { id, from, to, .. } => format!("id={id} {from:?} -> {to:?}"),
            Self::UpdateMembers {
                id, add, remove, ..
            } => format!(
                "id={} +{} -{}",
                id.as_deref().unwrap_or("(new)"),
                add.len(),
                remove.len()
            ),
        }
    }
}

/// What kind of conflict a [`Conflict`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Several records (source or target) share one `externalId`; none of them is touched.
    DuplicateExternalId,
    /// Several source users would get one `userName`; one is synced, the others not.
    DuplicateUserName,
    /// Several source groups would get one `displayName`; one is synced, the others not.
    DuplicateDisplayName,
    /// The `userName` is held by another target record (unmanaged, or managed and not
    /// giving it up in this plan).
    UserNameTaken,
    /// The group `displayName` is held by another target group.
    DisplayNameTaken,
}

/// A record the plan cannot sync as it is; an operator must resolve it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The `externalId` of the record that is not synced.
    pub external_id: String,
    /// What kind of conflict.
    pub kind: ConflictKind,
    /// A sentence naming the records involved.
    pub message: String,
}

impl Conflict {
    pub(crate) fn new(external_id: String, kind: ConflictKind, message: String) -> Self {
        Self {
            external_id,
            kind,
            message,
        }
    }
}

/// Something an operator should know; never stops the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Warning {
    /// The record (an `externalId`, or e.g. `group-scope:<name>`).
    pub record: String,
    /// A sentence.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(record: String, message: String) -> Self {
        Self { record, message }
    }
}

/// Why a plan was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// More deactivations than `max_deactivations`.
    TooManyDeactivations,
    /// More than `max_deactivation_percent` of the active managed users.
    DeactivationPercent,
    /// More membership removals than `max_membership_removals`.
    TooManyMembershipRemovals,
    /// The source projects to no user while the target has active managed users.
    EmptySource,
    /// The policy cannot be used (e.g. an empty `externalId` prefix).
    InvalidPolicy,
}

/// One reason a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalReason {
    /// Which limit.
    pub kind: RefusalKind,
    /// A sentence with the figures and what to do.
    pub message: String,
}

/// A refused plan: it is shown, never applied (unless re-planned with `allow_mass_changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Every limit the plan exceeds.
    pub reasons: Vec<RefusalReason>,
}

/// The result of [`plan()`]: ordered operations plus conflicts, warnings and an optional
/// refusal. Equal inputs (in any order) give equal plans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Operations in execution order: user creates/reactivations/updates, then group
    /// creates/renames, then membership changes, then deactivations.
    pub operations: Vec<Operation>,
    /// Records that are not synced, sorted.
    pub conflicts: Vec<Conflict>,
    /// Things an operator should know, sorted.
    pub warnings: Vec<Warning>,
    /// `Some` when a blast-radius limit refuses the plan: then it must not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Whether a blast-radius limit refused the plan.
    pub fn is_refused(&self) -> bool {
        self.refusal.is_some()
    }

    /// Number of operations per `op` name.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for op in &self.operations {
            *m.entry(op.kind()).or_insert(0) += 1;
        }
        m
    }

    /// Number of deactivations.
    pub fn deactivations(&self) -> usize {
        self.operations
            .iter()
            .filter(|o| matches!(o, Operation::DeactivateUser { .. }))
            .count()
    }

    /// Number of membership removals over all membership changes.
    pub fn membership_removals(&self) -> usize {
        self.operations
            .iter()
            .map(|o| match o {
                Operation::UpdateMembers { remove, .. } => remove.len(),
                _ => 0,
            })
            .sum()
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serialises")
    }

    /// A human table: one line per operation, then conflicts, warnings, refusal and totals.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let w_op = self
            .operations
            .iter()
            .map(|o| o.kind().len())
            .max()
            .unwrap_or(0)
            .max(2);
        let w_ext = self
            .operations
            .iter()
            .map(|o| o.external_id().chars().count())
            .max()
            .unwrap_or(0)
            .max(10);
        if self.operations.is_empty() {
            out.push_str("No changes.\n");
        } else {
            let _ = writeln!(out, "{:w_op$}  {:w_ext$}  DETAIL", "OP", "EXTERNALID");
            for op in &self.operations {
                let _ = writeln!(
                    out,
                    "{:w_op$}  {:w_ext$}  {}",
                    op.kind(),
                    op.external_id(),
                    op.detail()
                );
            }
        }
        if !self.conflicts.is_empty() {
            let _ = writeln!(out, "\nConflicts ({}):", self.conflicts.len());
            for c in &self.conflicts {
                let kind = serde_json::to_value(c.kind).expect("kind serialises");
                let _ = writeln!(
                    out,
                    "  {} [{}] {}",
                    c.external_id,
                    kind.as_str().unwrap_or_default(),
                    c.message
                );
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings ({}):", self.warnings.len());
            for w in &self.warnings {
                let _ = writeln!(out, "  {}: {}", w.record, w.message);
            }
        }
        if let Some(r) = &self.refusal {
            let _ = writeln!(out, "\nREFUSED: this plan will not be applied:");
            for reason in &r.reasons {
                let _ = writeln!(out, "  - {}", reason.message);
            }
        }
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "\nTotal: {} operation(s){}{}; {} conflict(s), {} warning(s)",
            self.operations.len(),
            if counts.is_empty() { "" } else { ": " },
            counts.join(" "),
            self.conflicts.len(),
            self.warnings.len()
        );
        out
    }
}

fn eq_ci_lists(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_lowercase() == y.to_lowercase())
}

fn sorted_ids(users: &[&ObservedUser]) -> String {
    let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    ids.join(", ")
}

/// Computes the plan that makes `observed` match the projection of `source` under `policy`.
///
/// Pure and deterministic. Records whose `externalId` lacks the policy prefix are never the
/// subject of an operation; they only cause conflicts (e.g. a `userName` they hold).
pub fn plan(source: &SourceSnapshot, observed: &ObservedState, policy: &Policy) -> Plan {
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
    let mut conflicts: Vec<Conflict> = Vec::new();

    // ---- index the target ----
    let mut managed_users: HashMap<&str, Vec<&ObservedUser>> = HashMap::new();
    let mut user_name_holders: HashMap<String, Vec<&ObservedUser>> =
        HashMap::with_capacity(observed.users.len());
    let mut managed_user_ids: HashSet<&str> = HashSet::new();
    for u in &observed.users {
        user_name_holders
            .entry(u.user_name.to_lowercase())
            .or_default()
            .push(u);
        if policy.is_managed(u.external_id.as_deref()) {
            managed_users
                .entry(u.external_id.as_deref().unwrap_or_default())
                .or_default()
                .push(u);
            managed_user_ids.insert(u.id.as_str());
        }
    }
    // Managed users sharing an externalId are left alone (and so are their memberships).
    let mut protected_member_ids: HashSet<&str> = HashSet::new();
    let mut frozen_users: HashSet<&str> = HashSet::new();
    for (ext, us) in &managed_users {
        if us.len() > 1 {
            frozen_users.insert(ext);
            protected_member_ids.extend(us.iter().map(|u| u.id.as_str()));
            conflicts.push(Conflict::new(
                (*ext).to_owned(),
                ConflictKind::DuplicateExternalId,
                format!(
                    "target users {} share this externalId; none of them is touched",
                    sorted_ids(us)
                ),
            ));
        }
    }
    let managed_user = |ext: &str| -> Option<&ObservedUser> {
        match managed_users.get(ext) {
            Some(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    };

    // ---- project the source ----
    let mut group_name_holders: HashMap<String, Vec<&ObservedGroup>> = HashMap::new();
    let mut managed_groups: HashMap<&str, Vec<&ObservedGroup>> = HashMap::new();
    for g in &observed.groups {
        group_name_holders
            .entry(g.display_name.to_lowercase())
            .or_default()
            .push(g);
        if policy.is_managed(g.external_id.as_deref()) {
            managed_groups
                .entry(g.external_id.as_deref().unwrap_or_default())
                .or_default()
                .push(g);
        }
    }
    // Among source records that would share a name, the one whose own target record has
    // that name keeps it (so the choice does not flip from run to run).
    let holds_user_name = |ext: &str, lower: &str| -> bool {
        managed_user(ext).is_some_and(|o| o.user_name.to_lowercase() == lower)
    };
    let holds_group_name = |ext: &str, lower: &str| -> bool {
        matches!(managed_groups.get(ext), Some(v) if v.len() == 1 && v[0].display_name.to_lowercase() == lower)
    };
    let desired = project(source, policy, &holds_user_name, &holds_group_name);
    conflicts.extend(desired.conflicts.iter().cloned());
    let mut warnings = desired.warnings.clone();
    let source_conflicted: HashSet<&str> = desired
        .conflicts
        .iter()
        .map(|c| c.external_id.as_str())
        .collect();
    for ext in &source_conflicted {
        if let Some(u) = managed_user(ext) {
            protected_member_ids.insert(u.id.as_str());
        }
    }

    let mut ops: Vec<Operation> = Vec::new();
    // externalId -> member reference, for users that are (or will be) active and synced.
    let mut member_refs: HashMap<&str, MemberRef> = HashMap::with_capacity(desired.users.len());

    // ---- users ----
    let user_holders: HashMap<&str, Vec<Holder<'_>>> = user_name_holders
        .iter()
        .map(|(k, v)| {
            let hs = v
                .iter()
                .map(|u| Holder {
                    id: &u.id,
                    managed_ext: u
                        .external_id
                        .as_deref()
                        .filter(|e| policy.is_managed(Some(e))),
                })
                .collect();
            (k.as_str(), hs)
        })
        .collect();
    let mut user_wants: HashMap<&str, Want<'_>> = HashMap::new();
    if policy.enable_user_sync {
        for d in &desired.users {
            if frozen_users.contains(d.external_id.as_str()) {
                continue;
            }
            let own = managed_user(&d.external_id);
            let lower_new = d.user_name.to_lowercase();
            let needs = own.is_none_or(|o| o.user_name.to_lowercase() != lower_new);
            user_wants.insert(
                &d.external_id,
                Want {
                    own_id: own.map(|o| o.id.as_str()),
                    lower_new,
                    needs,
                },
            );
        }
    }
    let mut user_names = NameResolver {
        kind: "user",
        holders: &user_holders,
        wants: &user_wants,
        memo: HashMap::new(),
    };
    for d in &desired.users {
        if frozen_users.contains(d.external_id.as_str()) {
            continue;
        }
        match managed_user(&d.external_id) {
            None => {
                if !policy.enable_user_sync {
                    continue;
                }
                let wave = match user_names.resolve(&d.external_id) {
                    Ok(w) => w,
                    Err(who) => {
                        conflicts.push(Conflict::new(
                            d.external_id.clone(),
                            ConflictKind::UserNameTaken,
                            format!(
                                "userName {:?} is held by {who}; the user is not created",
                                d.user_name
                            ),
                        ));
                        continue;
                    }
                };
                member_refs.insert(
                    &d.external_id,
                    MemberRef {
                        id: None,
                        external_id: Some(d.external_id.clone()),
                    },
                );
                ops.push(Operation::CreateUser {
                    user: d.clone(),
                    wave,
                });
            }
            Some(o) => {
                if !policy.enable_user_sync {
                    if o.active {
                        member_refs.insert(
                            &d.external_id,
                            MemberRef {
                                id: Some(o.id.clone()),
                                external_id: Some(d.external_id.clone()),
                            },
                        );
                    }
                    continue;
                }
                member_refs.insert(
                    &d.external_id,
                    MemberRef {
                        id: Some(o.id.clone()),
                        external_id: Some(d.external_id.clone()),
                    },
                );
                let mut ch = UserChanges::default();
                let mut wave = 0;
                if o.user_name.to_lowercase() != d.user_name.to_lowercase() {
                    match user_names.resolve(&d.external_id) {
                        Err(who) => conflicts.push(Conflict::new(
                            d.external_id.clone(),
                            ConflictKind::UserNameTaken,
                            format!(
                                "userName {:?} is held by {who}; the user keeps {:?}",
                                d.user_name, o.user_name
                            ),
                        )),
                        Ok(w) => {
                            wave = w;
                            ch.user_name = Some(d.user_name.clone());
                        }
                    }
                }
                if o.display_name.as_deref() != Some(d.display_name.as_str()) {
                    ch.display_name = Some(d.display_name.clone());
                }
                if o.name != d.name {
                    ch.name = Some(d.name.clone());
                }
                if !eq_ci_lists(&o.emails, &d.emails) {
                    ch.emails = Some(d.emails.clone());
                }
                if let Some(keys) = &d.ssh_keys
                    && !keys_match(&o.ssh_keys, keys)
                {
                    ch.ssh_keys = Some(keys.clone());
                }
                if !o.active {
                    ops.push(Operation::ReactivateUser {
                        external_id: d.external_id.clone(),
                        id: o.id.clone(),
                        changes: ch,
                        wave,
                    });
                } else if !ch.is_empty() {
                    ops.push(Operation::UpdateUser {
                        external_id: d.external_id.clone(),
                        id: o.id.clone(),
                        changes: ch,
                        wave,
                    });
                }
            }
        }
    }
    let desired_user_ext: HashSet<&str> = desired
        .users
        .iter()
        .map(|u| u.external_id.as_str())
        .collect();
    let mut active_managed = 0usize;
    let mut deactivations: Vec<Operation> = Vec::new();
    for (ext, us) in &managed_users {
        if us.len() != 1 {
            continue;
        }
        let o = us[0];
        if o.active {
            active_managed += 1;
        }
        if policy.enable_user_sync
            && o.active
            && !desired_user_ext.contains(ext)
            && !source_conflicted.contains(ext)
        {
            deactivations.push(Operation::DeactivateUser {
                external_id: (*ext).to_owned(),
                id: o.id.clone(),
                user_name: o.user_name.clone(),
            });
        }
    }

    // ---- groups ----
    let mut member_ops: Vec<Operation> = Vec::new();
    if policy.enable_group_sync {
        let name_holders = &group_name_holders;
        let mut frozen_groups: HashSet<&str> = HashSet::new();
        for (ext, gs) in &managed_groups {
            if gs.len() > 1 {
                frozen_groups.insert(ext);
                let mut ids: Vec<&str> = gs.iter().map(|g| g.id.as_str()).collect();
                ids.sort_unstable();
                conflicts.push(Conflict::new(
                    (*ext).to_owned(),
                    ConflictKind::DuplicateExternalId,
                    format!(
                        "target groups {} share this externalId; none of them is touched",
                        ids.join(", ")
                    ),
                ));
            }
        }
        let group_holders: HashMap<&str, Vec<Holder<'_>>> = name_holders
            .iter()
            .map(|(k, v)| {
                let hs = v
                    .iter()
                    .map(|g| Holder {
                        id: &g.id,
                        managed_ext: g
                            .external_id
                            .as_deref()
                            .filter(|e| policy.is_managed(Some(e))),
                    })
                    .collect();
                (k.as_str(), hs)
            })
            .collect();
        let mut group_wants: HashMap<&str, Want<'_>> = HashMap::new();
        for dg in &desired.groups {
            if frozen_groups.contains(dg.external_id.as_str()) {
                continue;
            }
            let own = managed_groups.get(dg.external_id.as_str()).map(|v| v[0]);
            group_wants.insert(
                &dg.external_id,
                Want {
                    own_id: own.map(|o| o.id.as_str()),
                    lower_new: dg.display_name.to_lowercase(),
                    needs: own.is_none_or(|o| o.display_name != dg.display_name),
                },
            );
        }
        let mut group_names = NameResolver {
            kind: "group",
            holders: &group_holders,
            wants: &group_wants,
            memo: HashMap::new(),
        };
        let chunk = policy.max_members_per_patch.max(1);
        let mut push_members =
            |ext: &str, id: Option<&str>, add: Vec<MemberRef>, remove: Vec<MemberRef>| {
                let all: Vec<(bool, MemberRef)> = remove
                    .into_iter()
                    .map(|m| (false, m))
                    .chain(add.into_iter().map(|m| (true, m)))
                    .collect();
                for part in all.chunks(chunk) {
                    let (a, r): (Vec<_>, Vec<_>) =
                        part.iter().cloned().partition(|(is_add, _)| *is_add);
                    member_ops.push(Operation::UpdateMembers {
                        external_id: ext.to_owned(),
                        id: id.map(str::to_owned),
                        add: a.into_iter().map(|(_, m)| m).collect(),
                        remove: r.into_iter().map(|(_, m)| m).collect(),
                    });
                }
            };
        let desired_group_ext: HashSet<&str> = desired
            .groups
            .iter()
            .map(|g| g.external_id.as_str())
            .collect();
        let removable = |id: &str| -> bool {
            !protected_member_ids.contains(id)
                && (managed_user_ids.contains(id) || !policy.allow_non_provisioned_users)
        };
        let id_to_ext: HashMap<&str, &str> = managed_users
            .iter()
            .filter(|(_, v)| v.len() == 1)
            .map(|(e, v)| (v[0].id.as_str(), *e))
            .collect();
        let remove_ref = |id: &str| MemberRef {
            id: Some(id.to_owned()),
            external_id: id_to_ext.get(id).map(|e| (*e).to_owned()),
        };
        for dg in &desired.groups {
            if frozen_groups.contains(dg.external_id.as_str()) {
                continue;
            }
            let wanted: Vec<MemberRef> = dg
                .members
                .iter()
                .filter_map(|m| member_refs.get(m.as_str()).cloned())
                .collect();
            match managed_groups.get(dg.external_id.as_str()).map(|v| v[0]) {
                None => {
                    let wave = match group_names.resolve(&dg.external_id) {
                        Ok(w) => w,
                        Err(who) => {
                            conflicts.push(Conflict::new(
                                dg.external_id.clone(),
                                ConflictKind::DisplayNameTaken,
                                format!(
                                    "group name {:?} is held by {who}; the group is not created",
                                    dg.display_name
                                ),
                            ));
                            continue;
                        }
                    };
                    ops.push(Operation::CreateGroup {
                        external_id: dg.external_id.clone(),
                        display_name: dg.display_name.clone(),
                        wave,
                    });
                    let mut add = wanted;
                    add.sort_by(|a, b| a.external_id.cmp(&b.external_id));
                    push_members(&dg.external_id, None, add, Vec::new());
                }
                Some(o) => {
                    if o.display_name != dg.display_name {
                        match group_names.resolve(&dg.external_id) {
                            Err(who) => conflicts.push(Conflict::new(
                                dg.external_id.clone(),
                                ConflictKind::DisplayNameTaken,
                                format!(
                                    "group name {:?} is held by {who}; the group keeps {:?}",
                                    dg.display_name, o.display_name
                                ),
                            )),
                            Ok(wave) => ops.push(Operation::RenameGroup {
                                external_id: dg.external_id.clone(),
                                id: o.id.clone(),
                                from: o.display_name.clone(),
                                to: dg.display_name.clone(),
                                wave,
                            }),
                        }
                    }
                    let current: HashSet<&str> = o.members.iter().map(String::as_str).collect();
                    let wanted_ids: HashSet<&str> =
                        wanted.iter().filter_map(|m| m.id.as_deref()).collect();
                    let mut remove: Vec<&str> = current
                        .iter()
                        .copied()
                        .filter(|id| !wanted_ids.contains(id) && removable(id))
                        .collect();
                    remove.sort_unstable();
                    drop(wanted_ids);
                    let mut add: Vec<MemberRef> = wanted
                        .into_iter()
                        .filter(|m| m.id.as_deref().is_none_or(|id| !current.contains(id)))
                        .collect();
                    add.sort_by(|a, b| a.external_id.cmp(&b.external_id));
                    let remove = remove.into_iter().map(remove_ref).collect();
                    push_members(&dg.external_id, Some(&o.id), add, remove);
                }
            }
        }
        // Managed groups whose ACTIVATE group vanished or left the scope: empty them of the
        // members the syncer manages (never delete the group).
        let mut gone: Vec<(&&str, &Vec<&ObservedGroup>)> = managed_groups
            .iter()
            .filter(|(ext, gs)| {
                gs.len() == 1
                    && !desired_group_ext.contains(**ext)
                    && !source_conflicted.contains(**ext)
            })
            .collect();
        gone.sort_by(|a, b| a.0.cmp(b.0));
        for (ext, gs) in gone {
            let o = gs[0];
            let mut remove: Vec<&str> = o
                .members
                .iter()
                .map(String::as_str)
                .filter(|id| managed_user_ids.contains(id) && !protected_member_ids.contains(id))
                .collect();
            remove.sort_unstable();
            remove.dedup();
            let remove = remove.into_iter().map(remove_ref).collect();
            push_members(ext, Some(&o.id), Vec::new(), remove);
        }
    }

    // ---- order ----
    ops.extend(member_ops);
    ops.extend(deactivations);
    // Stable sort: within a phase by externalId; chunks of one group keep their order.
    ops.sort_by(|a, b| {
        (a.phase(), a.external_id(), phase_rank(a)).cmp(&(
            b.phase(),
            b.external_id(),
            phase_rank(b),
        ))
    });

    conflicts.sort();
    conflicts.dedup();
    warnings.sort();
    warnings.dedup();
    let mut plan = Plan {
        operations: ops,
        conflicts,
        warnings,
        refusal: None,
    };
    plan.refusal = blast_radius(&plan, policy, &desired.users, active_managed);
    plan
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
    lower_new: String,
    needs: bool,
}

/// Decides whether a record may take its desired name in this plan, and in which wave: a
/// name held by a managed record that gives it up in this plan (an earlier wave) is free;
/// any other holder is a conflict, and so is a cycle of renames.
struct NameResolver<'a, 'm> {
    kind: &'static str,
    holders: &'m HashMap<&'a str, Vec<Holder<'a>>>,
    wants: &'m HashMap<&'a str, Want<'a>>,
    /// `None` while being resolved (cycle detection).
    memo: HashMap<&'a str, Option<Result<u32, String>>>,
}

impl<'a> NameResolver<'a, '_> {
    fn describe(&self, h: &Holder<'_>) -> String {
        match h.managed_ext {
            Some(e) => format!("managed {} {} (id {})", self.kind, e, h.id),
            None => format!("unmanaged {} id {}", self.kind, h.id),
        }
    }

    fn resolve(&mut self, ext: &'a str) -> Result<u32, String> {
        match self.memo.get(ext) {
            Some(Some(r)) => return r.clone(),
            Some(None) => return Err(format!("a cycle of {} renames", self.kind)),
            None => {}
        }
        let Some(want) = self.wants.get(ext) else {
            return Err(format!("{ext}, which is not synced"));
        };
        if !want.needs {
            return Ok(0);
        }
        self.memo.insert(ext, None);
        let others: Vec<&Holder<'a>> = self
            .holders
            .get(want.lower_new.as_str())
            .map(|hs| hs.iter().filter(|h| Some(h.id) != want.own_id).collect())
            .unwrap_or_default();
        // Free when nobody else holds it, or when every holder is a managed record that
        // gives the name up in this plan (then this runs one wave after the last of them).
        let mut wave = 0;
        let mut blockers: Vec<String> = Vec::new();
        for h in &others {
            let leaving = h.managed_ext.and_then(|e| {
                self.wants.get_key_value(e).filter(|(_, w)| {
                    w.own_id == Some(h.id) && w.needs && w.lower_new != want.lower_new
                })
            });
            match leaving {
                Some((e, _)) => match self.resolve(e) {
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
        self.memo.insert(ext, Some(result.clone()));
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

fn blast_radius(
    plan: &Plan,
    policy: &Policy,
    desired_users: &[DesiredUser],
    active_managed: usize,
) -> Option<Refusal> {
    if policy.allow_mass_changes {
        return None;
    }
    let mut reasons = Vec::new();
    let deact = plan.deactivations();
    let removals = plan.membership_removals();
    if let Some(max) = policy.max_deactivations
        && deact > max
    {
        reasons.push(RefusalReason {
            kind: RefusalKind::TooManyDeactivations,
            message: format!(
                "{deact} deactivations exceed the limit of {max}; check the source, then \
                     re-run with the mass-change override (or raise max_deactivations)"
            ),
        });
    }
    if let Some(pct) = policy.max_deactivation_percent
        && deact > DEACTIVATION_PERCENT_GRACE
        && active_managed > 0
        && (deact as u128) * 100 > (pct as u128) * (active_managed as u128)
    {
        reasons.push(RefusalReason {
            kind: RefusalKind::DeactivationPercent,
            message: format!(
                "{deact} deactivations are more than {pct}% of the {active_managed} active \
                     managed users; check the source, then re-run with the mass-change override"
            ),
        });
    }
    if let Some(max) = policy.max_membership_removals
        && removals > max
    {
        reasons.push(RefusalReason {
            kind: RefusalKind::TooManyMembershipRemovals,
            message: format!(
                "{removals} membership removals exceed the limit of {max}; check the source, \
                     then re-run with the mass-change override (or raise max_membership_removals)"
            ),
        });
    }
    if desired_users.is_empty() && active_managed > 0 && (deact > 0 || removals > 0) {
        reasons.push(RefusalReason {
            kind: RefusalKind::EmptySource,
            message: format!(
                "the source has no user to sync but the target has {active_managed} active \
                 managed users; an empty source is refused unless the mass-change override is given"
            ),
        });
    }
    (!reasons.is_empty()).then_some(Refusal { reasons })
}
