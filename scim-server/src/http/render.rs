//! The representation of stored records: `meta.location`, `User.groups`, member `$ref`s,
//! never-returned attributes removed, and the copy-free list body.

use serde_json::{Value, json};

use crate::schema::ResourceKind;

use super::*;

pub(super) fn render(ctx: &Ctx<'_>, kind: ResourceKind, rec: &Value, proj: &Projection) -> Value {
    let tenant = ctx.tenant();
    let data = tenant.data.read().expect("store lock");
    render_with(ctx, kind, rec, proj, &data)
}

/// The representation of a stored record: `meta.location`, `User.groups` from the
/// membership index, member `$ref`s, `returned: never` attributes removed, projection.
pub(super) fn render_with(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    rec: &Value,
    proj: &Projection,
    data: &crate::store::TenantData,
) -> Value {
    let base = ctx.base();
    let mut out = rec.clone();
    let id = rec
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(o) = out.as_object_mut() else {
        return out;
    };
    o.remove("password");
    if let Some(Value::Object(meta)) = o.get_mut("meta") {
        meta.insert(
            "location".into(),
            Value::String(format!("{base}/{}/{id}", kind.endpoint())),
        );
    }
    match kind {
        ResourceKind::User => {
            if let Some(groups) = user_groups(data, rec, &base) {
                o.insert("groups".into(), Value::Array(groups));
            }
        }
        ResourceKind::Group => {
            if let Some(Value::Array(members)) = o.get_mut("members") {
                for m in members {
                    let (Some(v), Some(t)) = (
                        m.get("value").and_then(Value::as_str).map(str::to_string),
                        m.get("type").and_then(Value::as_str).map(str::to_string),
                    ) else {
                        continue;
                    };
                    let ep = if t == "Group" { "Groups" } else { "Users" };
                    if let Some(mo) = m.as_object_mut() {
                        mo.insert("$ref".into(), Value::String(format!("{base}/{ep}/{v}")));
                    }
                }
            }
        }
        ResourceKind::Role => {}
    }
    proj.apply(kind, out)
}

/// `User.groups`, computed from the membership index (`None` when the user is in none).
pub(super) fn user_groups(
    data: &crate::store::TenantData,
    rec: &Value,
    base: &str,
) -> Option<Vec<Value>> {
    let id = rec.get("id").and_then(Value::as_str)?;
    let groups: Vec<Value> = data
        .groups_of(id)?
        .iter()
        .filter_map(|g| data.get(ResourceKind::Group, g))
        .map(|g| {
            let gid = g["id"].as_str().unwrap_or_default();
            json!({"value": gid, "$ref": format!("{base}/Groups/{gid}"),
                   "display": g.get("displayName").cloned().unwrap_or(Value::Null),
                   "type": "direct"})
        })
        .collect();
    if groups.is_empty() {
        None
    } else {
        Some(groups)
    }
}

/// A list response body for the no-projection fast path.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListBody<'a> {
    pub(super) schemas: [&'static str; 1],
    pub(super) total_results: usize,
    /// Absent in a cursor walk's pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) start_index: Option<usize>,
    pub(super) items_per_page: usize,
    /// RFC 9865: present on every page of a cursor walk but the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_cursor: Option<String>,
    #[serde(rename = "Resources")]
    pub(super) resources: Vec<Rendered<'a>>,
}

/// A stored record serialised as `render_with` would render it without a projection, but
/// without copying it.
pub(super) struct Rendered<'a> {
    pub(super) kind: ResourceKind,
    pub(super) rec: &'a Value,
    pub(super) base: &'a str,
    pub(super) groups: Option<Vec<Value>>,
}

impl serde::Serialize for Rendered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(obj) = self.rec.as_object() else {
            return self.rec.serialize(s);
        };
        let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut m = s.serialize_map(None)?;
        for (k, v) in obj {
            match k.as_str() {
                "password" => {}
                "groups" if self.groups.is_some() => {}
                "meta" if v.is_object() => m.serialize_entry(
                    k,
                    &WithExtra {
                        obj: v,
                        key: "location",
                        extra: format!("{}/{}/{id}", self.base, self.kind.endpoint()),
                    },
                )?,
                "members" if self.kind == ResourceKind::Group && v.is_array() => m
                    .serialize_entry(
                        k,
                        &Members {
                            members: v,
                            base: self.base,
                        },
                    )?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        if let Some(g) = &self.groups {
            m.serialize_entry("groups", g)?;
        }
        m.end()
    }
}

/// An object with one entry set (replacing any entry of that key).
pub(super) struct WithExtra<'a> {
    pub(super) obj: &'a Value,
    pub(super) key: &'static str,
    pub(super) extra: String,
}

impl serde::Serialize for WithExtra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(o) = self.obj.as_object() {
            for (k, v) in o {
                if k != self.key {
                    m.serialize_entry(k, v)?;
                }
            }
        }
        m.serialize_entry(self.key, &self.extra)?;
        m.end()
    }
}

/// Group members with their `$ref`.
pub(super) struct Members<'a> {
    pub(super) members: &'a Value,
    pub(super) base: &'a str,
}

impl serde::Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let items = self
            .members
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for m in items {
            let (Some(v), Some(t)) = (
                m.get("value").and_then(Value::as_str),
                m.get("type").and_then(Value::as_str),
            ) else {
                seq.serialize_element(m)?;
                continue;
            };
            let ep = if t == "Group" { "Groups" } else { "Users" };
            seq.serialize_element(&WithExtra {
                obj: m,
                key: "$ref",
                extra: format!("{}/{ep}/{v}", self.base),
            })?;
        }
        seq.end()
    }
}
