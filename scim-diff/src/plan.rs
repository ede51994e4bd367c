//! The [`Plan`]: what must change, as a value, and [`plan()`] that computes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::observed::{Name, ObservedState};
pub use crate::par::Parallelism;
pub use crate::planner::{plan, plan_with};
use crate::policy::{DEACTIVATION_PERCENT_GRACE, Policy};
use crate::projection::DesiredUser;

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
    /// Take over an existing user that the syncer did not manage and that holds the
    /// `userName` a source user wants (only when the policy allows it, see
    /// [`Policy::may_adopt_user`](crate::Policy::may_adopt_user)): one write gives it the
    /// managed `externalId`, `active: true` and every desired attribute. Its SCIM id, its
    /// memberships elsewhere and the attributes the syncer does not manage are kept.
    #[serde(rename_all = "camelCase")]
    AdoptUser {
        /// The managed `externalId` it gets.
        external_id: String,
        /// The user's SCIM id.
        id: String,
        /// Its `externalId` until now (none, or one with an allowed prefix); the write is
        /// only made if the record still has it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_external_id: Option<String>,
        /// Every desired attribute.
        changes: UserChanges,
    },
    /// Take over an existing group that the syncer did not manage and that has the name of a
    /// source group (only when the policy allows it, see
    /// [`Policy::may_adopt_group`](crate::Policy::may_adopt_group)): one write gives it the
    /// managed `externalId` (and the source's spelling of the name); its members are then set
    /// by the following `update_members`. Its SCIM id is kept.
    #[serde(rename_all = "camelCase")]
    AdoptGroup {
        /// The managed `externalId` it gets.
        external_id: String,
        /// The group's SCIM id.
        id: String,
        /// Its `externalId` until now; the write is only made if the record still has it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_external_id: Option<String>,
        /// `displayName`, as the source spells it.
        display_name: String,
    },
    /// Create a group, with its first members when the policy sends them in the create
    /// ([`Policy::group_members_on_create`](crate::Policy::group_members_on_create)); the
    /// other members are added by the following `update_members`.
    #[serde(rename_all = "camelCase")]
    CreateGroup {
        /// The group's `externalId`.
        external_id: String,
        /// `displayName`.
        display_name: String,
        /// Members sent in the create (at most `max_members_per_patch`; an entry whose `id`
        /// is `None` waits for the create of that user, and is left out if it failed).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<MemberRef>,
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
            Self::AdoptUser { .. } => "adopt_user",
            Self::AdoptGroup { .. } => "adopt_group",
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
            | Self::UpdateMembers { external_id, .. }
            | Self::AdoptUser { external_id, .. }
            | Self::AdoptGroup { external_id, .. } => external_id,
        }
    }

    /// The execution phase: 0 user creates/reactivations/updates, 1 group creates/renames,
    /// 2 membership changes, 3 deactivations.
    pub fn phase(&self) -> u8 {
        match self {
            Self::CreateUser { .. }
            | Self::ReactivateUser { .. }
            | Self::UpdateUser { .. }
            | Self::AdoptUser { .. } => 0,
            Self::CreateGroup { .. } | Self::RenameGroup { .. } | Self::AdoptGroup { .. } => 1,
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
            Self::AdoptUser {
                id,
                previous_external_id,
                changes,
                ..
            } => format!(
                "id={id} externalId {} -> managed, active=true, set {}",
                previous_external_id
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), |e| format!("{e:?}")),
                changes.attributes().join(", ")
            ),
            Self::CreateGroup {
                display_name,
                members,
                ..
            } if !members.is_empty() => {
                format!("displayName={display_name} members +{}", members.len())
            }
            Self::CreateGroup { display_name, .. } => format!("displayName={display_name}"),
            Self::AdoptGroup {
                id,
                previous_external_id,
                display_name,
                ..
            } => format!(
                "id={id} displayName={display_name} externalId {} -> managed",
                previous_external_id
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), |e| format!("{e:?}")),
            ),
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

/// `text` on one line: a line break inside (from a target's `userName`, say) is shown as
/// `\n`, so that no record can add a line of its own to the plan table.
pub(crate) fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        std::borrow::Cow::Owned(text.replace('\n', "\\n").replace('\r', "\\r"))
    } else {
        std::borrow::Cow::Borrowed(text)
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

/// What kind of thing a [`Warning`] reports (what a summary counts them by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The group scope names a group the source does not have.
    UnknownScopeGroup,
    /// A user is not synced: an identifier it needs is unusable.
    UserNotSynced,
    /// A user has no email; its `userName` falls back to the username.
    NoEmail,
    /// An SSH key is not a valid OpenSSH public key; it is skipped.
    InvalidSshKey,
    /// A group is not synced: an identifier it needs is unusable.
    GroupNotSynced,
    /// A group has a name the target reserves for its own groups.
    ReservedGroupName,
    /// A group lists a member that is no source user.
    UnknownMember,
}

impl ConflictKind {
    /// The kind as serialized (`user_name_taken`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateExternalId => "duplicate_external_id",
            Self::DuplicateUserName => "duplicate_user_name",
            Self::DuplicateDisplayName => "duplicate_display_name",
            Self::UserNameTaken => "user_name_taken",
            Self::DisplayNameTaken => "display_name_taken",
        }
    }
}

impl WarningKind {
    /// The kind as serialized (`no_email`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownScopeGroup => "unknown_scope_group",
            Self::UserNotSynced => "user_not_synced",
            Self::NoEmail => "no_email",
            Self::InvalidSshKey => "invalid_ssh_key",
            Self::GroupNotSynced => "group_not_synced",
            Self::ReservedGroupName => "reserved_group_name",
            Self::UnknownMember => "unknown_member",
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
    /// What kind of warning.
    pub kind: WarningKind,
}

impl Warning {
    pub(crate) fn new(kind: WarningKind, record: String, message: String) -> Self {
        Self {
            record,
            message,
            kind,
        }
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
    /// More adoptions than `max_adoptions`.
    TooManyAdoptions,
    /// The policy cannot be used (e.g. an empty `externalId` prefix).
    InvalidPolicy,
    /// The plan writes SSH keys to the CoreWeave user extension, which the target does not
    /// declare (it would refuse those writes).
    ExtensionNotDeclared,
    /// A saved plan no longer holds: a record it touches, or a name it takes, changed in the
    /// target since it was made.
    StalePlan,
    /// A saved plan is older than the age a front end accepts.
    ExpiredPlan,
    /// A saved plan was made for another target (or another `externalId` prefix).
    OtherTarget,
    /// A saved plan asks for a write the syncer never makes (a record it does not manage, an
    /// adoption the policy does not allow): it was edited, or made under other settings.
    InvalidPlan,
}

impl RefusalKind {
    /// Whether this is a blast-radius limit (which the mass-change override lifts), rather
    /// than a reason no setting can lift.
    pub fn is_a_limit(self) -> bool {
        matches!(
            self,
            Self::TooManyDeactivations
                | Self::DeactivationPercent
                | Self::TooManyMembershipRemovals
                | Self::EmptySource
                | Self::TooManyAdoptions
        )
    }
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

/// See [`Plan::names_to_take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamesToTake {
    /// `userName`s, sorted.
    pub user_names: Vec<String>,
    /// Group `displayName`s, sorted.
    pub group_names: Vec<String>,
}

impl NamesToTake {
    /// Whether the plan takes no new name.
    pub fn is_empty(&self) -> bool {
        self.user_names.is_empty() && self.group_names.is_empty()
    }
}

impl Plan {
    /// The `userName`s and group `displayName`s this plan would newly take (creates and
    /// renames), each once: what a caller must look up in the target, when its read showed
    /// only managed records, to learn who holds them before trusting the plan.
    pub fn names_to_take(&self) -> NamesToTake {
        let mut names = NamesToTake::default();
        for op in &self.operations {
            match op {
                Operation::CreateUser { user, .. } => names.user_names.push(user.user_name.clone()),
                Operation::UpdateUser { changes, .. }
                | Operation::ReactivateUser { changes, .. } => {
                    names.user_names.extend(changes.user_name.clone());
                }
                Operation::CreateGroup { display_name, .. } => {
                    names.group_names.push(display_name.clone());
                }
                Operation::RenameGroup { to, .. } => names.group_names.push(to.clone()),
                Operation::DeactivateUser { .. }
                | Operation::UpdateMembers { .. }
                | Operation::AdoptUser { .. }
                | Operation::AdoptGroup { .. } => {}
            }
        }
        for list in [&mut names.user_names, &mut names.group_names] {
            list.sort_unstable();
            list.dedup();
        }
        names
    }

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

    /// Whether an operation writes SSH keys (`sunkSshKeys`, in the CoreWeave extension).
    pub fn writes_ssh_keys(&self) -> bool {
        self.operations.iter().any(|op| match op {
            Operation::CreateUser { user, .. } => {
                user.ssh_keys.as_ref().is_some_and(|k| !k.is_empty())
            }
            Operation::UpdateUser { changes, .. }
            | Operation::ReactivateUser { changes, .. }
            | Operation::AdoptUser { changes, .. } => changes.ssh_keys.is_some(),
            _ => false,
        })
    }

    /// The blast-radius limits of `policy`, checked against this plan as the planner checks
    /// them, for a plan made earlier and applied now (a saved plan): `observed` is the target
    /// as it is now (its active managed users are what the percentage limit counts), and
    /// `source_users` the users the source projected to when the plan was made.
    pub fn check_limits(
        &self,
        policy: &Policy,
        source_users: usize,
        observed: &ObservedState,
    ) -> Option<Refusal> {
        let active_managed = active_managed_users(observed, policy);
        blast_radius(self, policy, source_users == 0, active_managed)
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
                    one_line(op.external_id()),
                    one_line(&op.detail())
                );
            }
        }
        self.render_findings(&mut out);
        out
    }

    /// The conflicts, warnings, refusal and totals that end every rendering of a plan.
    pub(crate) fn render_findings(&self, out: &mut String) {
        if !self.conflicts.is_empty() {
            let _ = writeln!(out, "\nConflicts ({}):", self.conflicts.len());
            for c in &self.conflicts {
                let kind = serde_json::to_value(c.kind).expect("kind serialises");
                let _ = writeln!(
                    out,
                    "  {} [{}] {}",
                    one_line(&c.external_id),
                    kind.as_str().unwrap_or_default(),
                    one_line(&c.message)
                );
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings ({}):", self.warnings.len());
            for w in &self.warnings {
                let _ = writeln!(out, "  {}: {}", one_line(&w.record), one_line(&w.message));
            }
        }
        if let Some(r) = &self.refusal {
            let _ = writeln!(out, "\nREFUSED: this plan will not be applied:");
            for reason in &r.reasons {
                let _ = writeln!(out, "  - {}", one_line(&reason.message));
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
    }
}

/// The active users whose managed `externalId` no other record shares, as the planner
/// counts them.
fn active_managed_users(observed: &ObservedState, policy: &Policy) -> usize {
    let start = format!("{}user:", policy.external_id_prefix);
    let mut holders: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for user in &observed.users {
        if let Some(ext) = user
            .external_id
            .as_deref()
            .filter(|e| e.starts_with(&start))
        {
            let entry = holders.entry(ext).or_insert((0, false));
            entry.0 += 1;
            entry.1 = user.active;
        }
    }
    holders
        .values()
        .filter(|(count, active)| *count == 1 && *active)
        .count()
}

pub(crate) fn blast_radius(
    plan: &Plan,
    policy: &Policy,
    no_desired_users: bool,
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
    let adoptions = plan
        .operations
        .iter()
        .filter(|op| {
            matches!(
                op,
                Operation::AdoptUser { .. } | Operation::AdoptGroup { .. }
            )
        })
        .count();
    if let Some(max) = policy.max_adoptions
        && adoptions > max
    {
        reasons.push(RefusalReason {
            kind: RefusalKind::TooManyAdoptions,
            message: format!(
                "{adoptions} adoptions of existing accounts exceed the limit of {max}; check \
                 them in the plan, then re-run with the mass-change override (or raise \
                 max_adoptions)"
            ),
        });
    }
    if no_desired_users && active_managed > 0 && (deact > 0 || removals > 0) {
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
