//! The target side of a reconcile: what the SCIM server holds, as plain data.
//!
//! The CLI builds an [`ObservedState`] from `scim-client` models. It may contain records the
//! syncer does not own (a server may ignore the list filter): the engine never writes them and
//! only uses them to detect conflicts.

use serde::{Deserialize, Serialize};

/// A SCIM `name` complex attribute (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// `name.formatted`: the full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// `name.givenName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `name.familyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

impl Name {
    /// Whether no part is set.
    pub fn is_empty(&self) -> bool {
        self.formatted.is_none() && self.given_name.is_none() && self.family_name.is_none()
    }
}

/// Everything the target holds, read completely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedState {
    /// SCIM users (managed and, possibly, unmanaged).
    #[serde(default)]
    pub users: Vec<ObservedUser>,
    /// SCIM groups (managed and, possibly, unmanaged).
    #[serde(default)]
    pub groups: Vec<ObservedGroup>,
}

/// One SCIM user as the target holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedUser {
    /// Server-assigned SCIM id.
    pub id: String,
    /// `meta.version` (an entity tag), when the target gives one: what tells that a record
    /// changed since it was read. The planner ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `externalId`, if any (ownership is decided by its prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `userName` (unique, case-insensitive on the server).
    pub user_name: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: Name,
    /// Email values, the primary one first.
    #[serde(default)]
    pub emails: Vec<String>,
    /// `active`.
    #[serde(default = "yes")]
    pub active: bool,
    /// CoreWeave `sunkSshKeys` (OpenSSH public key lines).
    #[serde(default)]
    pub ssh_keys: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One SCIM group as the target holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedGroup {
    /// Server-assigned SCIM id.
    pub id: String,
    /// `meta.version` (an entity tag), when the target gives one: what tells that a record
    /// changed since it was read. The planner ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `externalId`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `displayName`.
    pub display_name: String,
    /// SCIM ids of the members (`members[].value`).
    #[serde(default)]
    pub members: Vec<String>,
}
