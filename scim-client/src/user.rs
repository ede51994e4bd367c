//! The SCIM User resource and the CoreWeave user extension.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient;
use crate::resource::{
    META_KEYS, Meta, Resource, canonicalize_child, canonicalize_keys, names_clash,
};
use crate::schemas;

/// A SCIM User (RFC 7643 §4.1).
///
/// Attributes this type does not model, and extensions other than CoreWeave's, are kept in
/// [`User::extra`] and written back unchanged, so a read-modify-write round trip loses
/// nothing. Multi-valued attributes that are absent or `null` read as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
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
    /// Unique login name (case-insensitive on the server).
    #[serde(default)]
    pub user_name: String,
    /// Name parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Email addresses.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub emails: Vec<Email>,
    /// Whether the account is active; `false` deprovisions on CoreWeave.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
    /// Groups the user belongs to (read-only; never sent on writes).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<GroupRef>,
    /// Server metadata (never sent on writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// The CoreWeave extension, under its URN [`schemas::COREWEAVE_USER`].
    #[serde(
        default,
        rename = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser",
        skip_serializing_if = "Option::is_none"
    )]
    pub coreweave: Option<CoreWeaveUser>,
    /// Every other attribute and extension, as sent by the server.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// A new user with the core schema and this `userName`.
    pub fn new(user_name: impl Into<String>) -> Self {
        Self {
            schemas: vec![schemas::USER.to_owned()],
            user_name: user_name.into(),
            ..Self::default()
        }
    }

    /// The primary email, else the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }

    /// The SSH keys from the CoreWeave extension (empty when absent).
    pub fn ssh_keys(&self) -> &[String] {
        self.coreweave
            .as_ref()
            .map(|c| c.sunk_ssh_keys.as_slice())
            .unwrap_or_default()
    }
}

impl Resource for User {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    fn core_schema() -> Option<&'static str> {
        Some(schemas::USER)
    }

    fn read_only_attributes() -> &'static [&'static str] {
        &["groups"]
    }

    fn canonicalize(value: &mut Value) {
        canonicalize_keys(value, USER_KEYS);
        canonicalize_child(value, "name", NAME_KEYS);
        canonicalize_child(value, "emails", EMAIL_KEYS);
        canonicalize_child(value, "groups", GROUP_REF_KEYS);
        canonicalize_child(value, "meta", META_KEYS);
        canonicalize_child(value, schemas::COREWEAVE_USER, COREWEAVE_USER_KEYS);
    }

    fn has_noncanonical_names(&self) -> bool {
        names_clash(&self.extra, USER_KEYS)
            || self
                .name
                .as_ref()
                .is_some_and(|n| names_clash(&n.extra, NAME_KEYS))
            || self
                .emails
                .iter()
                .any(|e| names_clash(&e.extra, EMAIL_KEYS))
            || self
                .groups
                .iter()
                .any(|g| names_clash(&g.extra, GROUP_REF_KEYS))
            || self
                .meta
                .as_ref()
                .is_some_and(|m| names_clash(&m.extra, META_KEYS))
            || self
                .coreweave
                .as_ref()
                .is_some_and(|c| names_clash(&c.extra, COREWEAVE_USER_KEYS))
    }
}

/// The attribute names of [`User`], [`Name`], [`Email`], [`GroupRef`] and
/// [`CoreWeaveUser`], as their fields spell them.
const USER_KEYS: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "userName",
    "name",
    "displayName",
    "emails",
    "active",
    "groups",
    "meta",
    schemas::COREWEAVE_USER,
];
const NAME_KEYS: &[&str] = &["formatted", "givenName", "familyName"];
const EMAIL_KEYS: &[&str] = &["value", "type", "primary"];
const GROUP_REF_KEYS: &[&str] = &["value", "$ref", "display", "type"];
const COREWEAVE_USER_KEYS: &[&str] = &[
    "sunkSshKeys",
    "sunkPosixUsername",
    "sunkPosixUserId",
    "sunkPosixGroupId",
    "sunkLoginShell",
    "sunkPreferredHomeDirectory",
];

/// A user's name (RFC 7643 §4.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Full name, formatted for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Given (first) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family (last) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Other name parts (middleName, honorificPrefix, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One email address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Email {
    /// The address.
    #[serde(default)]
    pub value: String,
    /// `work`, `home`, `other`, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether this is the primary address.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub primary: Option<bool>,
    /// Other sub-attributes (display, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Email {
    /// A primary work address.
    pub fn work(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            kind: Some("work".into()),
            primary: Some(true),
            extra: Map::new(),
        }
    }
}

/// A group the user belongs to, as listed in `User.groups` (read-only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group's id.
    #[serde(default)]
    pub value: String,
    /// The group's URI.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The group's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// `direct` or `indirect`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Other sub-attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The CoreWeave user extension ([`schemas::COREWEAVE_USER`]).
///
/// CoreWeave's SUNK provisioning reads `sunkSshKeys`; the POSIX attributes are optional and
/// normally assigned by SUNK itself. Integer attributes accept numbers or numeric strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreWeaveUser {
    /// OpenSSH public keys, one per element (empty when absent).
    #[serde(default, deserialize_with = "lenient::vec")]
    pub sunk_ssh_keys: Vec<String>,
    /// POSIX user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunk_posix_username: Option<String>,
    /// POSIX uid.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub sunk_posix_user_id: Option<i64>,
    /// POSIX primary gid.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub sunk_posix_group_id: Option<i64>,
    /// Login shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunk_login_shell: Option<String>,
    /// Preferred home directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunk_preferred_home_directory: Option<String>,
    /// Other attributes of the extension.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CoreWeaveUser {
    /// The extension with just these SSH keys.
    pub fn with_ssh_keys(keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            sunk_ssh_keys: keys.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The PATCH path of `sunkSshKeys`, URN-qualified.
    pub const SSH_KEYS_PATH: &'static str =
        "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser:sunkSshKeys";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urn_constants_match_the_serde_keys() {
        let u = User {
            coreweave: Some(CoreWeaveUser::with_ssh_keys(["ssh-ed25519 AAAA a@b"])),
            ..User::new("alice")
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v[schemas::COREWEAVE_USER]["sunkSshKeys"][0],
            "ssh-ed25519 AAAA a@b"
        );
        assert_eq!(
            CoreWeaveUser::SSH_KEYS_PATH,
            format!("{}:sunkSshKeys", schemas::COREWEAVE_USER)
        );
    }

    #[test]
    fn unknown_attributes_and_extensions_round_trip() {
        let input = json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER, schemas::COREWEAVE_USER],
            "id": "42",
            "externalId": "pw-activate:user:alice",
            "userName": "alice",
            "nickName": "Al",
            "name": {"givenName": "Alice", "familyName": "Liddell", "middleName": "P"},
            "emails": [{"value": "a@x.org", "type": "work", "primary": true, "display": "A"}],
            "active": true,
            "x-vendor": {"nested": [1, 2, 3]},
            schemas::ENTERPRISE_USER: {"employeeNumber": "7", "manager": {"value": "9"}},
            schemas::COREWEAVE_USER: {"sunkSshKeys": ["k1", "k2"], "sunkPosixUserId": "1001", "futureAttr": 5}
        });
        let user: User = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(user.ssh_keys(), ["k1", "k2"]);
        assert_eq!(
            user.coreweave.as_ref().unwrap().sunk_posix_user_id,
            Some(1001)
        );
        assert_eq!(user.primary_email(), Some("a@x.org"));
        let mut back = serde_json::to_value(&user).unwrap();
        // the numeric string is normalised to a number; everything else is unchanged
        back[schemas::COREWEAVE_USER]["sunkPosixUserId"] = json!("1001");
        assert_eq!(back, input);
    }

    #[test]
    fn absent_or_null_multi_valued_reads_empty() {
        let u: User = serde_json::from_value(json!({
            "userName": "bob", "emails": null,
            schemas::COREWEAVE_USER: {}
        }))
        .unwrap();
        assert!(u.emails.is_empty() && u.groups.is_empty());
        assert!(u.ssh_keys().is_empty());
        let u: User = serde_json::from_value(json!({"userName": "bob"})).unwrap();
        assert!(u.ssh_keys().is_empty());
        assert_eq!(u.active, None);
    }

    #[test]
    fn attribute_names_are_case_insensitive() {
        let mut v = json!({
            "UserName": "carol", "ID": "7", "Active": false,
            "emails": [{"Value": "c@x", "Primary": true}],
            "URN:COREWEAVE:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser":
                {"SunkSshKeys": ["k"]}
        });
        User::canonicalize(&mut v);
        let u: User = serde_json::from_value(v).unwrap();
        assert_eq!(u.user_name, "carol");
        assert_eq!(u.id.as_deref(), Some("7"));
        assert_eq!(u.active, Some(false));
        assert_eq!(u.primary_email(), Some("c@x"));
        assert_eq!(u.ssh_keys(), ["k"]);
        assert!(u.extra.is_empty(), "{:?}", u.extra);
    }

    #[test]
    fn active_as_string() {
        let u: User = serde_json::from_value(json!({"userName": "b", "active": "False"})).unwrap();
        assert_eq!(u.active, Some(false));
    }
}
