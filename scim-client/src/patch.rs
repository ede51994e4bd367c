//! PATCH requests (RFC 7644 §3.5.2) and their builder.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::filter::member_value_path;
use crate::schemas;

/// A PATCH request body: a list of operations applied atomically.
///
/// ```
/// use scim_client::{PatchOp, CoreWeaveUser};
/// let op = PatchOp::builder()
///     .replace("active", false)
///     .replace(CoreWeaveUser::SSH_KEYS_PATH, vec!["ssh-ed25519 AAAA a@b"])
///     .remove_member("user-id-1")
///     .build();
/// assert_eq!(op.operations.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    /// `["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`.
    pub schemas: Vec<String>,
    /// The operations, in order.
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

/// The kind of one PATCH operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchKind {
    /// Add (appends to multi-valued attributes).
    #[serde(alias = "Add", alias = "ADD")]
    Add,
    /// Replace (a path to a multi-valued attribute without filter replaces the whole set).
    #[serde(alias = "Replace", alias = "REPLACE")]
    Replace,
    /// Remove.
    #[serde(alias = "Remove", alias = "REMOVE")]
    Remove,
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// add, replace or remove.
    pub op: PatchKind,
    /// Attribute path (optional for add/replace, required for remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value (absent for remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// Starts an empty builder.
    pub fn builder() -> PatchOpBuilder {
        PatchOpBuilder::default()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// Builds a [`PatchOp`] operation by operation.
#[derive(Debug, Clone, Default)]
pub struct PatchOpBuilder {
    operations: Vec<PatchOperation>,
}

impl PatchOpBuilder {
    fn push(mut self, op: PatchKind, path: Option<String>, value: Option<Value>) -> Self {
        self.operations.push(PatchOperation { op, path, value });
        self
    }

    /// `add` at `path`.
    pub fn add(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.push(PatchKind::Add, Some(path.into()), Some(value.into()))
    }

    /// `replace` at `path`.
    pub fn replace(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.push(PatchKind::Replace, Some(path.into()), Some(value.into()))
    }

    /// `replace` without a path: `value` is an object of attributes to replace.
    pub fn replace_attributes(self, value: impl Into<Value>) -> Self {
        self.push(PatchKind::Replace, None, Some(value.into()))
    }

    /// `remove` at `path`.
    pub fn remove(self, path: impl Into<String>) -> Self {
        self.push(PatchKind::Remove, Some(path.into()), None)
    }

    /// `add` of members by SCIM id (one operation for all of them; nothing if empty).
    pub fn add_members<I, S>(self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let members: Vec<Value> = ids
            .into_iter()
            .map(|id| json!({ "value": id.as_ref() }))
            .collect();
        if members.is_empty() {
            return self;
        }
        self.add("members", members)
    }

    /// `remove` of one member by SCIM id: path `members[value eq "<id>"]`, escaped.
    pub fn remove_member(self, id: &str) -> Self {
        self.remove(member_value_path(id))
    }

    /// `replace` of the whole member set by SCIM ids.
    pub fn replace_members<I, S>(self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let members: Vec<Value> = ids
            .into_iter()
            .map(|id| json!({ "value": id.as_ref() }))
            .collect();
        self.replace("members", members)
    }

    /// Operations so far.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// Whether no operation was added.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// The finished request body.
    pub fn build(self) -> PatchOp {
        PatchOp {
            schemas: vec![schemas::PATCH_OP.to_owned()],
            operations: self.operations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let op = PatchOp::builder()
            .replace("active", false)
            .add_members(["u1", "u2"])
            .remove_member("u3")
            .add_members(Vec::<String>::new())
            .build();
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            json!({
                "schemas": [schemas::PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": "active", "value": false},
                    {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
                    {"op": "remove", "path": "members[value eq \"u3\"]"}
                ]
            })
        );
        let back: PatchOp = serde_json::from_value(serde_json::to_value(&op).unwrap()).unwrap();
        assert_eq!(back, op);
    }
}
