//! The source side of a reconcile: what the identity source (ACTIVATE) says.
//!
//! A [`SourceSnapshot`] is plain data. `activate-client` produces it from the ACTIVATE API,
//! and it is also the on-disk "ACTIVATE export" format (JSON), so tests, demos and air-gapped
//! users can run the engine without the API. A snapshot is always *complete*: a producer that
//! could not read everything must return an error instead of a partial snapshot.

use serde::{Deserialize, Serialize};

/// The export format version this build reads and writes.
pub const EXPORT_VERSION: u32 = 1;

/// Everything the engine needs to know about the identity source, read completely.
///
/// As an export file it is strict: `version` and `users` are required, and a field that is
/// not one of these (a typo such as `user`) is an error, never ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "json-schema", schemars(title = "ACTIVATE export"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(expecting = "an ACTIVATE export: a JSON object with `version`, `users` and `groups`")]
pub struct SourceSnapshot {
    /// Format version of the export file: `1`.
    #[serde(deserialize_with = "export_version")]
    #[cfg_attr(feature = "json-schema", schemars(range(min = 1, max = 1)))]
    pub version: u32,
    /// The ACTIVATE organization the snapshot was read from, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Every user of the organization, active or not.
    pub users: Vec<SourceUser>,
    /// The groups whose members were read (with a group scope, only the groups in scope).
    #[serde(default)]
    pub groups: Vec<SourceGroup>,
}

impl Default for SourceSnapshot {
    fn default() -> Self {
        Self {
            version: EXPORT_VERSION,
            organization: None,
            users: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// `version`, which must be [`EXPORT_VERSION`].
fn export_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(d)?;
    if version == EXPORT_VERSION {
        Ok(version)
    } else {
        Err(serde::de::Error::custom(format!(
            "export format version {version} is not one this build reads (it reads \
             {EXPORT_VERSION}); write the export again with this build (`export --out FILE`)"
        )))
    }
}

/// One ACTIVATE user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(
    expecting = "a user: an object with `username` and optionally `email`, `name`, `active`, `sshKeys`"
)]
pub struct SourceUser {
    /// The ACTIVATE username: the stable identity the `externalId` is built from.
    pub username: String,
    /// Email address, if the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Full name as one string (ACTIVATE has no given/family split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the user may sign in. Inactive users must have no access downstream.
    #[serde(default = "default_true")]
    pub active: bool,
    /// The user's SSH public keys as `authorized_keys` lines, in the order read (blank and
    /// `#` comment lines may be present; line numbers in warnings are `index + 1`).
    ///
    /// `None` means "could not be read": the engine leaves the user's keys in the target
    /// untouched. `Some(vec![])` means "has no keys".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys: Option<Vec<String>>,
}

fn default_true() -> bool {
    true
}

/// One ACTIVATE group, with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(expecting = "a group: an object with `id`, `name` and `members`")]
pub struct SourceGroup {
    /// The group's stable ACTIVATE id: the `externalId` is built from it, so a rename keeps
    /// the SCIM record.
    pub id: String,
    /// The group's display name (what `ACTIVATE_SYNC_GROUPS` matches, exactly).
    pub name: String,
    /// Usernames of the members. Every entry names a user in [`SourceSnapshot::users`]
    /// (producers report and drop members they cannot join to a user).
    #[serde(default)]
    pub members: Vec<String>,
}

impl SourceSnapshot {
    /// Parses an ACTIVATE export (JSON); the error names the JSON path that failed.
    pub fn from_json(text: &str) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de)
    }

    /// Renders the snapshot as a pretty-printed ACTIVATE export.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serialises")
    }
}

/// Why a [`Source`] could not produce a complete snapshot. Any such error must abort the run
/// before any write.
#[derive(Debug, thiserror::Error)]
#[error("reading the identity source failed: {message}")]
pub struct SourceError {
    message: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SourceError {
    /// An error with a message (lower-case, no trailing period).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            cause: None,
        }
    }

    /// An error with a message and the underlying cause.
    pub fn with_cause(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An identity source that can be read completely (e.g. `activate_client::ActivateClient`,
/// or an export file). Implementations return an error rather than a partial snapshot.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// Reads everything the engine needs.
    async fn snapshot(&self) -> Result<SourceSnapshot, SourceError>;
}

#[async_trait::async_trait]
impl Source for SourceSnapshot {
    async fn snapshot(&self) -> Result<SourceSnapshot, SourceError> {
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_round_trips_and_defaults_optional_fields() {
        let text = r#"{"version":1,"users":[{"username":"ada","email":null}],
                       "groups":[{"id":"g1","name":"Data Science","members":["ada"]}]}"#;
        let snap = SourceSnapshot::from_json(text).unwrap();
        assert_eq!(snap.version, 1);
        assert!(
            snap.users[0].active,
            "a user is active unless the export says otherwise"
        );
        assert_eq!(
            snap.users[0].ssh_keys, None,
            "absent keys mean unknown, not none"
        );
        assert_eq!(SourceSnapshot::from_json(&snap.to_json()).unwrap(), snap);
    }

    #[test]
    fn decode_error_names_the_path() {
        let err =
            SourceSnapshot::from_json(r#"{"version":1,"users":[{"username":1}]}"#).unwrap_err();
        assert_eq!(err.path().to_string(), "users[0].username");
    }

    #[test]
    fn an_export_is_strict_and_says_where_it_is_wrong() {
        let error = |text: &str| {
            let e = SourceSnapshot::from_json(text).unwrap_err();
            format!("{}: {}", e.path(), e.inner())
        };
        let e = error("[]");
        assert!(
            e.contains("expected an ACTIVATE export: a JSON object"),
            "{e}"
        );
        assert!(!e.contains("SourceSnapshot"), "no Rust type names: {e}");
        assert!(error("{}").contains("missing field `version`"));
        assert!(error(r#"{"version":1}"#).contains("missing field `users`"));
        let e = error("{\"version\":1,\n\"user\":[]}");
        assert!(
            e.contains("unknown field `user`") && e.contains("line 2"),
            "{e}"
        );
        let e = error(r#"{"version":1,"users":[{"username":"a","emial":"x"}]}"#);
        assert!(
            e.starts_with("users[0].emial") && e.contains("unknown field `emial`"),
            "{e}"
        );
        let e = error(r#"{"version":2,"users":[]}"#);
        assert!(e.starts_with("version") && e.contains("version 2"), "{e}");
        assert!(SourceSnapshot::from_json(r#"{"version":1,"users":[]}"#).is_ok());
    }
}
