//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).

use serde_json::{Map, Value};

use crate::filter::{self, AttrPath};
use crate::schema::ResourceKind;

use super::*;

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).
#[derive(Debug, Default)]
pub(super) struct Projection {
    pub(super) include: Option<Vec<Target>>,
    pub(super) exclude: Vec<Target>,
}

#[derive(Debug)]
pub(super) enum Target {
    /// A whole extension object.
    Extension(&'static str),
    /// (container: None = top level, or an extension URN; attribute; sub-attribute)
    Attr(Option<String>, String, Option<String>),
}

impl Projection {
    pub(super) fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    pub(super) fn from_params(params: &[(String, String)], kind: ResourceKind) -> Self {
        let split = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        Self::new(
            &split(param(params, "attributes")),
            &split(param(params, "excludedAttributes")),
            kind,
        )
    }

    pub(super) fn new(include: &[String], exclude: &[String], kind: ResourceKind) -> Self {
        let targets = |list: &[String]| -> Vec<Target> {
            list.iter()
                .filter_map(|s| {
                    if let Some(e) = kind.extension(s) {
                        return Some(Target::Extension(e.id));
                    }
                    let p: AttrPath = filter::parse_attr_path(s)?;
                    let container = match &p.urn {
                        Some(u) if u.eq_ignore_ascii_case(kind.core().id) => None,
                        Some(u) => Some(kind.extension(u).map_or(u.clone(), |e| e.id.to_string())),
                        None => None,
                    };
                    Some(Target::Attr(container, p.attr, p.sub))
                })
                .collect()
        };
        let include = targets(include);
        Self {
            include: if include.is_empty() {
                None
            } else {
                Some(include)
            },
            exclude: targets(exclude),
        }
    }

    pub(super) fn apply(&self, kind: ResourceKind, rec: Value) -> Value {
        let Value::Object(mut src) = rec else {
            return rec;
        };
        let always = |k: &str| k == "id" || k == "schemas";
        if let Some(include) = &self.include {
            let mut out = Map::new();
            for k in ["schemas", "id"] {
                if let Some(v) = src.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            for t in include {
                match t {
                    Target::Extension(urn) => {
                        if let Some(v) = src.get(*urn) {
                            out.insert((*urn).into(), v.clone());
                        }
                    }
                    Target::Attr(container, attr, sub) => {
                        let from = match container {
                            None => Some(&src),
                            Some(u) => src.get(u.as_str()).and_then(Value::as_object),
                        };
                        let Some(from) = from else { continue };
                        let Some((key, v)) =
                            from.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr))
                        else {
                            continue;
                        };
                        let picked = match sub {
                            None => Some(v.clone()),
                            Some(s) => project_sub(v, s),
                        };
                        let Some(picked) = picked else { continue };
                        let dest = match container {
                            None => &mut out,
                            Some(u) => out
                                .entry(u.clone())
                                .or_insert_with(|| Value::Object(Map::new()))
                                .as_object_mut()
                                .expect("object"),
                        };
                        match (dest.get_mut(key.as_str()), picked) {
                            (Some(Value::Object(d)), Value::Object(p)) => d.extend(p),
                            (_, p) => {
                                dest.insert(key.clone(), p);
                            }
                        }
                    }
                }
            }
            src = out;
        }
        for t in &self.exclude {
            match t {
                Target::Extension(urn) => {
                    src.remove(*urn);
                }
                Target::Attr(container, attr, sub) => {
                    let target = match container {
                        None => Some(&mut src),
                        Some(u) => src.get_mut(u.as_str()).and_then(Value::as_object_mut),
                    };
                    let Some(target) = target else { continue };
                    let Some(key) = target
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(attr))
                        .cloned()
                    else {
                        continue;
                    };
                    if container.is_none() && always(&key) {
                        continue;
                    }
                    match sub {
                        None => {
                            target.remove(&key);
                        }
                        Some(s) => match target.get_mut(&key) {
                            Some(Value::Object(o)) => {
                                o.retain(|k, _| !k.eq_ignore_ascii_case(s));
                            }
                            Some(Value::Array(a)) => {
                                for e in a.iter_mut() {
                                    if let Some(o) = e.as_object_mut() {
                                        o.retain(|k, _| !k.eq_ignore_ascii_case(s));
                                    }
                                }
                            }
                            _ => {}
                        },
                    }
                }
            }
        }
        let _ = kind;
        Value::Object(src)
    }
}

pub(super) fn project_sub(v: &Value, sub: &str) -> Option<Value> {
    match v {
        Value::Object(o) => {
            let (k, sv) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub))?;
            let mut m = Map::new();
            m.insert(k.clone(), sv.clone());
            Some(Value::Object(m))
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|e| project_sub(e, sub)).collect();
            if items.is_empty() {
                None
            } else {
                Some(Value::Array(items))
            }
        }
        _ => None,
    }
}
