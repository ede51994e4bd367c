//! The [`Policy`]: every knob that changes what the engine plans.

use serde::{Deserialize, Serialize};

/// The default `externalId` prefix that marks a SCIM record as owned by this syncer.
pub const DEFAULT_EXTERNAL_ID_PREFIX: &str = "pw-activate:";

/// Default for [`Policy::max_deactivations`]: more deactivations than this in one run are refused.
pub const DEFAULT_MAX_DEACTIVATIONS: usize = 25;

/// Default for [`Policy::max_deactivation_percent`]: deactivating more than this percentage of
/// the active managed users in one run is refused (once more than
/// [`DEACTIVATION_PERCENT_GRACE`] users would be deactivated).
pub const DEFAULT_MAX_DEACTIVATION_PERCENT: u32 = 20;

/// The percentage limit only applies when a plan deactivates more than this many users, so a
/// small organisation can still lose a member or two without an override.
pub const DEACTIVATION_PERCENT_GRACE: usize = 3;

/// Default for [`Policy::max_membership_removals`]: more membership removals than this in one
/// run are refused.
pub const DEFAULT_MAX_MEMBERSHIP_REMOVALS: usize = 250;

/// Default for [`Policy::max_members_per_patch`] (AWS caps a membership PATCH at 100 changes).
pub const DEFAULT_MAX_MEMBERS_PER_PATCH: usize = 100;

/// Group names the target reserves: CoreWeave's older organizations have default groups with
/// these names, and a pushed group with one of them collides (`scim-target.md`). Such source
/// groups are not synced; a warning names them.
pub const DEFAULT_RESERVED_GROUP_NAMES: &[&str] =
    &["admin", "metrics", "read", "write", "billing_viewer"];

/// Where a SCIM `userName` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernameFrom {
    /// The user's email address (default: CoreWeave matches SCIM users to SAML logins by
    /// email). A user without an email falls back to the ACTIVATE username, with a warning.
    #[default]
    Email,
    /// The ACTIVATE username.
    Username,
}

/// Everything that changes what [`plan`](crate::plan()) decides. `Policy::default()` is the
/// documented, safe configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Policy {
    /// Records whose `externalId` starts with this prefix are owned by the syncer; every other
    /// record is never written. Default [`DEFAULT_EXTERNAL_ID_PREFIX`].
    pub external_id_prefix: String,
    /// Where `userName` comes from. Default [`UsernameFrom::Email`].
    pub username_from: UsernameFrom,
    /// Group scope (`ACTIVATE_SYNC_GROUPS`): `None` syncs every group and every active user;
    /// `Some(names)` syncs only the groups with exactly these names and only the users who are
    /// members of at least one of them. Names matching no group produce a warning.
    pub sync_groups: Option<Vec<String>>,
    /// Plan user creates, updates, reactivations and deactivations. Default `true`.
    pub enable_user_sync: bool,
    /// Plan group creates, renames and membership changes. Default `true`.
    pub enable_group_sync: bool,
    /// Keep members of managed groups that the syncer does not manage (default `false`:
    /// they are removed).
    pub allow_non_provisioned_users: bool,
    /// Refuse a plan with more deactivations than this (`None`: no count limit).
    /// Default [`DEFAULT_MAX_DEACTIVATIONS`].
    pub max_deactivations: Option<usize>,
    /// Refuse a plan deactivating more than this percentage of the active managed users
    /// (`None`: no percentage limit). Default [`DEFAULT_MAX_DEACTIVATION_PERCENT`]; only
    /// applies above [`DEACTIVATION_PERCENT_GRACE`] deactivations.
    pub max_deactivation_percent: Option<u32>,
    /// Refuse a plan with more membership removals than this (`None`: no limit).
    /// Default [`DEFAULT_MAX_MEMBERSHIP_REMOVALS`].
    pub max_membership_removals: Option<usize>,
    /// One-run override of every blast-radius limit (and of the empty-source refusal).
    /// Default `false`.
    pub allow_mass_changes: bool,
    /// Most membership changes (adds + removes) in one operation. Default
    /// [`DEFAULT_MAX_MEMBERS_PER_PATCH`]; `0` is treated as `1`.
    pub max_members_per_patch: usize,
    /// Group names the target reserves, compared case-insensitively: a source group with one
    /// of them is not synced (a warning names it) instead of failing on every run. Default
    /// [`DEFAULT_RESERVED_GROUP_NAMES`] (CoreWeave's); empty for a target without any.
    pub reserved_group_names: Vec<String>,
    /// Taking over existing records that hold a name the source wants (see [`Adoption`]).
    /// Default: off.
    pub adoption: Adoption,
    /// Refuse a plan with more adoptions than this (`None`: no limit). Default
    /// [`DEFAULT_MAX_ADOPTIONS`].
    pub max_adoptions: Option<usize>,
    /// Send a new group's first members (up to `max_members_per_patch`) in the POST that
    /// creates it: one write per new group instead of a create and a membership PATCH.
    /// Default `false`, for targets not known to accept members on create (CoreWeave's);
    /// RFC 7643 makes `members` writable on create, so a target that follows it can take it.
    pub group_members_on_create: bool,
    /// Sync SSH keys to the CoreWeave extension's `sunkSshKeys`. Default `true`; `false` for a
    /// target without that extension: no key is written or compared (the source's keys count
    /// as unknown), so no write carries the extension.
    pub sync_ssh_keys: bool,
}

/// Default for [`Policy::max_adoptions`].
pub const DEFAULT_MAX_ADOPTIONS: usize = 25;

/// Which existing records that the syncer does not manage it may take over (adopt) when one
/// holds the `userName` a source user wants: it keeps its SCIM id, gets the managed
/// `externalId` and the desired attributes, and is managed from then on. Only records with no
/// `externalId`, or one starting with one of [`Adoption::external_id_prefixes`] (an earlier
/// provisioning source's), are ever adopted; any other record stays a conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Adoption {
    /// Adopt users. Default `false`.
    pub users: bool,
    /// Adopt groups: a group whose `displayName` is a source group's name (CoreWeave's SUNK
    /// provisioning grants access by exact group name). Its members become the source
    /// group's, so its removals count against the membership-removal limit. Default `false`.
    pub groups: bool,
    /// `externalId` prefixes whose records may be adopted too (besides those with none).
    pub external_id_prefixes: Vec<String>,
}

impl Adoption {
    /// Whether a record with this `externalId` matches the rule, for a syncer whose own
    /// records carry `managed_prefix`: it is not one of them, and it has no `externalId` or
    /// one starting with an allowed prefix.
    pub fn matches(&self, managed_prefix: &str, external_id: Option<&str>) -> bool {
        match external_id {
            None => true,
            Some(e) if !managed_prefix.is_empty() && e.starts_with(managed_prefix) => false,
            Some(e) => self
                .external_id_prefixes
                .iter()
                .any(|p| !p.is_empty() && e.starts_with(p.as_str())),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            external_id_prefix: DEFAULT_EXTERNAL_ID_PREFIX.to_owned(),
            username_from: UsernameFrom::Email,
            sync_groups: None,
            enable_user_sync: true,
            enable_group_sync: true,
            allow_non_provisioned_users: false,
            max_deactivations: Some(DEFAULT_MAX_DEACTIVATIONS),
            max_deactivation_percent: Some(DEFAULT_MAX_DEACTIVATION_PERCENT),
            max_membership_removals: Some(DEFAULT_MAX_MEMBERSHIP_REMOVALS),
            allow_mass_changes: false,
            max_members_per_patch: DEFAULT_MAX_MEMBERS_PER_PATCH,
            reserved_group_names: DEFAULT_RESERVED_GROUP_NAMES
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            adoption: Adoption::default(),
            max_adoptions: Some(DEFAULT_MAX_ADOPTIONS),
            group_members_on_create: false,
            sync_ssh_keys: true,
        }
    }
}

impl Policy {
    /// Whether an `externalId` marks a record this syncer owns.
    pub fn is_managed(&self, external_id: Option<&str>) -> bool {
        // An empty prefix would claim every record; never treat that as ownership.
        !self.external_id_prefix.is_empty()
            && external_id.is_some_and(|e| e.starts_with(&self.external_id_prefix))
    }

    /// Whether a user with this `externalId`, holding a name a source user wants, may be
    /// adopted: adoption of users is on, the record is not managed, and it has no
    /// `externalId` or one with an allowed prefix.
    pub fn may_adopt_user(&self, external_id: Option<&str>) -> bool {
        self.adoption.users && self.adoption.matches(&self.external_id_prefix, external_id)
    }

    /// [`Policy::may_adopt_user`] for a group holding a source group's name.
    pub fn may_adopt_group(&self, external_id: Option<&str>) -> bool {
        self.adoption.groups && self.adoption.matches(&self.external_id_prefix, external_id)
    }

    /// The `externalId` of an ACTIVATE user: `<prefix>user:<username lowercased>`.
    pub fn user_external_id(&self, username: &str) -> String {
        let mut s =
            String::with_capacity(self.external_id_prefix.len() + "user:".len() + username.len());
        s.push_str(&self.external_id_prefix);
        s.push_str("user:");
        if username.is_ascii() {
            s.extend(username.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            s.push_str(&username.to_lowercase());
        }
        s
    }

    /// The `externalId` of an ACTIVATE group: `<prefix>group:<id>`.
    pub fn group_external_id(&self, group_id: &str) -> String {
        let mut s =
            String::with_capacity(self.external_id_prefix.len() + "group:".len() + group_id.len());
        s.push_str(&self.external_id_prefix);
        s.push_str("group:");
        s.push_str(group_id);
        s
    }
}
