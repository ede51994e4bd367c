//! What every SCIM resource has in common.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A resource type the client can list, read and write.
///
/// Implemented for [`User`](crate::User), [`Group`](crate::Group) and for
/// [`serde_json::Value`] (any resource, untyped; use it with
/// [`ScimClient::resource`](crate::ScimClient::resource) for resource types this crate
/// does not model).
pub trait Resource: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The server-assigned `id`, if present.
    fn id(&self) -> Option<&str>;

    /// The client-owned `externalId`, if present.
    fn external_id(&self) -> Option<&str>;

    /// The core schema URN listed in `schemas` of every write, if the type has one.
    fn core_schema() -> Option<&'static str> {
        None
    }

    /// Puts attribute names the server sent in another letter case into the case this type's
    /// fields use (SCIM attribute names and URNs are case-insensitive, RFC 7643 §2.1), before
    /// decoding. The default changes nothing.
    fn canonicalize(_value: &mut Value) {}

    /// Whether this resource, decoded straight from JSON without
    /// [`Resource::canonicalize`], holds an attribute name that `canonicalize` would have
    /// renamed (such names land in a catch-all map instead of their field). The client then
    /// decodes it again the careful way. The default, `true`, always takes the careful way;
    /// a type that overrides `canonicalize` must check the same names here.
    fn has_noncanonical_names(&self) -> bool {
        true
    }

    /// Top-level attributes that are read-only and are left out of writes (besides `meta`).
    fn read_only_attributes() -> &'static [&'static str] {
        &[]
    }
}

impl Resource for Value {
    fn id(&self) -> Option<&str> {
        self.get("id").and_then(Value::as_str)
    }

    fn has_noncanonical_names(&self) -> bool {
        false // nothing is renamed in an untyped resource
    }

    fn external_id(&self) -> Option<&str> {
        self.get("externalId").and_then(Value::as_str)
    }
}

/// Resource metadata (`meta`), set by the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User`, `Group`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Creation time (RFC 3339 text as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last modification time (RFC 3339 text as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// ETag version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Attributes not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Renames keys of `value` (an object) that equal one of `canonical` ignoring ASCII case,
/// unless the canonical spelling is already present.
pub(crate) fn canonicalize_keys(value: &mut Value, canonical: &[&str]) {
    let Value::Object(map) = value else { return };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter(|k| !canonical.contains(&k.as_str()))
        .filter_map(|k| {
            canonical
                .iter()
                .find(|c| c.eq_ignore_ascii_case(k))
                .map(|c| (k.clone(), *c))
        })
        .collect();
    for (from, to) in renames {
        if !map.contains_key(to)
            && let Some(v) = map.remove(&from)
        {
            map.insert(to.to_owned(), v);
        }
    }
}

/// Whether `extra` (the attributes a type does not model) holds a name that equals one of
/// `canonical` ignoring ASCII case, i.e. one [`canonicalize_keys`] may have renamed.
pub(crate) fn names_clash(extra: &Map<String, Value>, canonical: &[&str]) -> bool {
    extra
        .keys()
        .any(|k| canonical.iter().any(|c| c.eq_ignore_ascii_case(k)))
}

/// [`canonicalize_keys`] on `value[key]`, or on each element if it is an array.
pub(crate) fn canonicalize_child(value: &mut Value, key: &str, canonical: &[&str]) {
    match value.get_mut(key) {
        Some(Value::Array(items)) => items
            .iter_mut()
            .for_each(|item| canonicalize_keys(item, canonical)),
        Some(child) => canonicalize_keys(child, canonical),
        None => {}
    }
}

/// Meta's attribute names.
pub(crate) const META_KEYS: &[&str] = &[
    "resourceType",
    "created",
    "lastModified",
    "location",
    "version",
];

/// Turns a resource into the JSON body of a create or replace: drops `meta` and the type's
/// read-only attributes, and makes sure `schemas` lists the core schema and every extension
/// URN present as a top-level key (RFC 7643 §3).
pub(crate) fn write_body<T: Resource>(resource: &T) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(resource)?;
    if let Value::Object(map) = &mut value {
        map.remove("meta");
        for attr in T::read_only_attributes() {
            map.remove(*attr);
        }
        let mut schemas: Vec<String> = match map.get("schemas") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let has =
            |schemas: &[String], urn: &str| schemas.iter().any(|s| s.eq_ignore_ascii_case(urn));
        if let Some(core) = T::core_schema()
            && !has(&schemas, core)
        {
            schemas.insert(0, core.to_owned());
        }
        let extensions: Vec<String> = map
            .keys()
            .filter(|k| k.to_ascii_lowercase().starts_with("urn:"))
            .cloned()
            .collect();
        for urn in &extensions {
            if !has(&schemas, urn) {
                schemas.push(urn.clone());
            }
        }
        // an extension listed in `schemas` whose data is gone (e.g. `coreweave = None`) is
        // dropped from the list, so `schemas` and the body agree
        schemas.retain(|s| {
            T::core_schema().is_some_and(|core| s.eq_ignore_ascii_case(core))
                || extensions.iter().any(|e| e.eq_ignore_ascii_case(s))
                || T::core_schema().is_none()
        });
        if !schemas.is_empty() {
            map.insert(
                "schemas".into(),
                Value::Array(schemas.into_iter().map(Value::String).collect()),
            );
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CoreWeaveUser, User, schemas};
    use serde_json::json;

    #[test]
    fn write_body_keeps_schemas_and_data_in_step() {
        let mut u = User {
            coreweave: Some(CoreWeaveUser::with_ssh_keys(["k"])),
            ..User::new("a")
        };
        u.extra
            .insert(schemas::ENTERPRISE_USER.into(), json!({"department": "x"}));
        let body = write_body(&u).unwrap();
        assert_eq!(
            body["schemas"],
            json!([
                schemas::USER,
                schemas::COREWEAVE_USER,
                schemas::ENTERPRISE_USER
            ])
        );
        u.coreweave = None;
        u.schemas = vec![schemas::USER.into(), schemas::COREWEAVE_USER.into()];
        u.extra.clear();
        u.meta = Some(Meta::default());
        let body = write_body(&u).unwrap();
        assert_eq!(body, json!({"schemas": [schemas::USER], "userName": "a"}));
        // untyped resources keep their schemas as given
        let v = json!({"schemas": ["urn:x:Thing"], "name": "t"});
        assert_eq!(write_body(&v).unwrap(), v);
    }
}
