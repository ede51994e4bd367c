//! The SCIM Group resource and the CoreWeave group extension.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient;
use crate::resource::{
    META_KEYS, Meta, Resource, canonicalize_child, canonicalize_keys, names_clash,
};
use crate::schemas;

/// A SCIM Group (RFC 7643 §4.2). Unknown attributes and extensions are kept in
/// [`Group::extra`]; an absent `members` reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Schema URNs; filled in on writes when empty.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub schemas: Vec<String>,
    /// Server-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-owned identifier (case-exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The group's name (SUNK matches it against the cluster configuration).
    #[serde(default)]
    pub display_name: String,
    /// Members; `value` is the member's SCIM id.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub members: Vec<Member>,
    /// Server metadata (never sent on writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// The CoreWeave extension, under its URN [`schemas::COREWEAVE_GROUP`].
    #[serde(
        default,
        rename = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveGroup",
        skip_serializing_if = "Option::is_none"
    )]
    pub coreweave: Option<CoreWeaveGroup>,
    /// Every other attribute and extension, as sent by the server.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// A new group with the core schema and this `displayName`.
    pub fn new(display_name: impl Into<String>) -> Self {
        Self {
            schemas: vec![schemas::GROUP.to_owned()],
            display_name: display_name.into(),
            ..Self::default()
        }
    }

    /// The member ids.
    pub fn member_ids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.value.as_str())
    }
}

impl Resource for Group {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    fn core_schema() -> Option<&'static str> {
        Some(schemas::GROUP)
    }

    fn canonicalize(value: &mut Value) {
        canonicalize_keys(value, GROUP_KEYS);
        canonicalize_child(value, "members", MEMBER_KEYS);
        canonicalize_child(value, "meta", META_KEYS);
        canonicalize_child(value, schemas::COREWEAVE_GROUP, COREWEAVE_GROUP_KEYS);
    }

    fn has_noncanonical_names(&self) -> bool {
        names_clash(&self.extra, GROUP_KEYS)
            || self
                .members
                .iter()
                .any(|m| names_clash(&m.extra, MEMBER_KEYS))
            || self
                .meta
                .as_ref()
                .is_some_and(|m| names_clash(&m.extra, META_KEYS))
            || self
                .coreweave
                .as_ref()
                .is_some_and(|c| names_clash(&c.extra, COREWEAVE_GROUP_KEYS))
    }
}

/// The attribute names of [`Group`], [`Member`] and [`CoreWeaveGroup`], as their fields
/// spell them.
const GROUP_KEYS: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "displayName",
    "members",
    "meta",
    schemas::COREWEAVE_GROUP,
];
const MEMBER_KEYS: &[&str] = &["value", "$ref", "type", "display"];
const COREWEAVE_GROUP_KEYS: &[&str] = &["sunkPosixGroupId", "sunkPosixGroupName"];

/// One group member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member's SCIM id (not its externalId or userName).
    #[serde(default)]
    pub value: String,
    /// The member's URI.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `User` or `Group`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Display name of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Other sub-attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Member {
    /// A member given by SCIM id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            value: id.into(),
            ..Self::default()
        }
    }
}

/// The CoreWeave group extension ([`schemas::COREWEAVE_GROUP`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreWeaveGroup {
    /// POSIX gid (number or numeric string on the wire).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub sunk_posix_group_id: Option<i64>,
    /// POSIX group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunk_posix_group_name: Option<String>,
    /// Other attributes of the extension.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_round_trip_and_extension() {
        let input = json!({
            "schemas": [schemas::GROUP, schemas::COREWEAVE_GROUP],
            "id": "g1",
            "displayName": "research",
            "members": [{"value": "u1", "$ref": "https://x/Users/u1", "type": "User", "display": "Alice"}],
            schemas::COREWEAVE_GROUP: {"sunkPosixGroupId": 5000, "sunkPosixGroupName": "research"},
            "urn:example:other": {"k": true}
        });
        let g: Group = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(g.member_ids().collect::<Vec<_>>(), ["u1"]);
        assert_eq!(
            g.coreweave.as_ref().unwrap().sunk_posix_group_id,
            Some(5000)
        );
        assert_eq!(serde_json::to_value(&g).unwrap(), input);
        let empty: Group = serde_json::from_value(json!({"displayName": "x"})).unwrap();
        assert!(empty.members.is_empty());
    }
}
