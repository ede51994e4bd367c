//! The source side of a reconcile: what the identity source (ACTIVATE) says.
//!
//! A [`SourceSnapshot`] is plain data. `activate-client` produces it from the ACTIVATE API,
//! and it is also the on-disk "ACTIVATE export" format (JSON), so tests, demos and air-gapped
//! users can run the engine without the API. A snapshot is always *complete*: a producer that
//! could not read everything must return an error instead of a partial snapshot.

use serde::{Deserialize, Serialize};

/// Everything the engine needs to know about the identity source, read completely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSnapshot {
    /// Format version of the export file; currently `1`.
    #[serde(default = "default_version")]
    pub version: u32,
    /// The ACTIVATE organization the snapshot was read from, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Every user of the organization, active or not.
    #[serde(default)]
    pub users: Vec<SourceUser>,
    /// The groups whose members were read (with a group scope, only the groups in scope).
    #[serde(default)]
    pub groups: Vec<SourceGroup>,
}

fn default_version() -> u32 {
    1
}

/// One ACTIVATE user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
#[serde(rename_all = "camelCase")]
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
        let text = r#"{"users":[{"username":"ada","email":null}],
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
        let err = SourceSnapshot::from_json(r#"{"users":[{"username":1}]}"#).unwrap_err();
        assert_eq!(err.path().to_string(), "users[0].username");
    }
}
