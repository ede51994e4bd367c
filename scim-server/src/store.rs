//! The in-memory store of one tenant: users, groups and roles as JSON records in creation
//! order, with the indexes the protocol needs (case-insensitive `userName` and role `name`,
//! `externalId`, group membership for `User.groups`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::Profile;
use crate::error::ScimError;
use crate::filter::{self, AttrPath, Filter};
use crate::patch;
use crate::schema::{self, ReadOnly, ResourceKind};

/// The legacy default group names of older CoreWeave organisations.
pub(crate) const COREWEAVE_RESERVED_GROUPS: &[&str] =
    &["admin", "metrics", "read", "write", "billing_viewer"];

#[derive(Debug, Default)]
pub(crate) struct Collection {
    records: HashMap<String, (u64, Value)>,
    order: BTreeMap<u64, String>,
    by_external_id: HashMap<String, BTreeSet<u64>>,
    /// lower-cased unique name (`userName`, a role's `name`) → id
    by_name: HashMap<String, String>,
}

impl Collection {
    fn get(&self, id: &str) -> Option<&Value> {
        self.records.get(id).map(|(_, v)| v)
    }
    fn ext_id(v: &Value) -> Option<&str> {
        v.get("externalId").and_then(Value::as_str)
    }
    fn insert(&mut self, seq: u64, id: String, v: Value) {
        if let Some(e) = Self::ext_id(&v) {
            self.by_external_id
                .entry(e.to_string())
                .or_default()
                .insert(seq);
        }
        self.order.insert(seq, id.clone());
        self.records.insert(id, (seq, v));
    }
    fn remove(&mut self, id: &str) -> Option<(u64, Value)> {
        let (seq, v) = self.records.remove(id)?;
        self.order.remove(&seq);
        if let Some(e) = Self::ext_id(&v)
            && let Some(set) = self.by_external_id.get_mut(e)
        {
            set.remove(&seq);
            if set.is_empty() {
                self.by_external_id.remove(e);
            }
        }
        Some((seq, v))
    }
    fn iter(&self) -> impl Iterator<Item = &Value> {
        self.order.values().map(|id| &self.records[id].1)
    }
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// Query of a list or search.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub(crate) filter: Option<Filter>,
    pub(crate) filter_text: Option<String>,
    pub(crate) sort_by: Option<AttrPath>,
    pub(crate) descending: bool,
    pub(crate) start_index: usize,
    pub(crate) count: usize,
    /// An RFC 9865 cursor walk: the records after this position (`0` for the first page).
    pub(crate) after: Option<u64>,
}

/// A cursor (RFC 9865) names a position in a collection's creation order: the records
/// after the one with this sequence number. Records keep their sequence number for life
/// (a replace or PATCH keeps it; a new record gets a higher one), so a walk that follows
/// cursors returns every record that exists throughout exactly once, whatever is created or
/// removed meanwhile, and the server keeps nothing per cursor. Opaque to clients: the
/// kind's letter and the number in hexadecimal (RFC 3986 unreserved characters only).
pub(crate) fn encode_cursor(kind: ResourceKind, seq: u64) -> String {
    let tag = match kind {
        ResourceKind::User => 'u',
        ResourceKind::Group => 'g',
        ResourceKind::Role => 'r',
    };
    format!("{tag}{seq:x}")
}

/// One tenant's data.
#[derive(Debug)]
pub(crate) struct TenantData {
    pub(crate) users: Collection,
    pub(crate) groups: Collection,
    pub(crate) roles: Collection,
    /// member id → ids of the groups listing it
    member_of: HashMap<String, BTreeSet<String>>,
    next_seq: u64,
    next_version: u64,
    generation: u64,
    rng: fastrand::Rng,
    /// the ids of the last few lists (kind, query key, generation): later pages of the
    /// same query cost O(page). More than one entry, so that walks of users and groups that
    /// interleave (a client listing both at once) do not evict each other and rescan every
    /// record for every page.
    list_cache: Mutex<Vec<ListCache>>,
}

type ListCache = (ResourceKind, String, u64, Arc<Vec<String>>);

/// How many list results [`TenantData`] keeps (walks in flight at once).
const LIST_CACHE_ENTRIES: usize = 4;

/// A stored password is an Argon2id hash (PHC string, salted per record), never the text a
/// client sent: the password is write-only (`returned: never`), and neither the store, its
/// persistence file nor a filter can give it back. A value equal to the stored one (a PATCH
/// that did not touch it), or that the stored hash verifies (a PUT sending it again), keeps
/// the stored hash, so that an unchanged record keeps its version.
fn protect_password(rec: &mut Value, cur: Option<&Value>) -> Result<(), ScimError> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Some(Value::String(given)) = rec.get("password") else {
        return Ok(());
    };
    if let Some(stored) = cur.and_then(|c| c.get("password")).and_then(Value::as_str) {
        let unchanged = stored == given
            || PasswordHash::new(stored).is_ok_and(|h| {
                password_hasher()
                    .verify_password(given.as_bytes(), &h)
                    .is_ok()
            });
        if unchanged {
            rec["password"] = Value::String(stored.to_owned());
            return Ok(());
        }
    }
    let hash = hash_password(given)?;
    rec["password"] = Value::String(hash);
    Ok(())
}

/// A seeded or loaded record's password, hashed unless it already is a hash (a store saved
/// before passwords were hashed is not kept in clear either).
fn protect_seeded_password(rec: &mut Value) -> Result<(), ScimError> {
    if let Some(Value::String(p)) = rec.get("password")
        && !p.starts_with("$argon2")
    {
        let hash = hash_password(p)?;
        rec["password"] = Value::String(hash);
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, ScimError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(password_hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ScimError::status(500, format!("the password could not be hashed: {e}")))?
        .to_string())
}

/// Argon2id with 8 MiB and two passes: a few milliseconds per hash, since it runs under the
/// tenant's write lock of a simulator, and still a memory-hard salted hash.
fn password_hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(8 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl TenantData {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            users: Collection::default(),
            groups: Collection::default(),
            roles: Collection::default(),
            member_of: HashMap::new(),
            next_seq: 1,
            next_version: 1,
            generation: 0,
            rng: fastrand::Rng::with_seed(seed),
            list_cache: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn coll(&self, kind: ResourceKind) -> &Collection {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
            ResourceKind::Role => &self.roles,
        }
    }
    fn coll_mut(&mut self, kind: ResourceKind) -> &mut Collection {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
            ResourceKind::Role => &mut self.roles,
        }
    }

    fn new_id(&mut self) -> String {
        let a = self.rng.u64(..);
        let b = self.rng.u64(..);
        // a version-4 UUID layout
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    fn bump(&mut self) -> String {
        self.generation += 1;
        self.next_version += 1;
        format!("W/\"{}\"", self.next_version - 1)
    }

    /// The record `id`.
    pub(crate) fn get(&self, kind: ResourceKind, id: &str) -> Option<&Value> {
        self.coll(kind).get(id)
    }

    /// The ids of the groups `member` belongs to.
    pub(crate) fn groups_of(&self, member: &str) -> Option<&BTreeSet<String>> {
        self.member_of.get(member)
    }

    fn index_members(&mut self, group_id: &str, rec: &Value, add: bool) {
        let Some(members) = rec.get("members").and_then(Value::as_array) else {
            return;
        };
        for m in members {
            let Some(v) = m.get("value").and_then(Value::as_str) else {
                continue;
            };
            if add {
                self.member_of
                    .entry(v.to_string())
                    .or_default()
                    .insert(group_id.to_string());
            } else if let Some(set) = self.member_of.get_mut(v) {
                set.remove(group_id);
                if set.is_empty() {
                    self.member_of.remove(v);
                }
            }
        }
    }

    fn check_unique(
        &self,
        kind: ResourceKind,
        rec: &Value,
        id: Option<&str>,
    ) -> Result<(), ScimError> {
        let Some(attr) = kind.unique_name() else {
            return Ok(());
        };
        let Some(name) = rec.get(attr).and_then(Value::as_str) else {
            return Ok(());
        };
        if let Some(other) = self.coll(kind).by_name.get(&name.to_lowercase())
            && Some(other.as_str()) != id
        {
            return Err(ScimError::uniqueness(format!(
                "{attr} '{name}' is already taken"
            )));
        }
        Ok(())
    }

    /// Profile and referential checks of a group's members and name; fills member `type`.
    fn check_group(
        &self,
        rec: &mut Value,
        own_id: Option<&str>,
        profile: Profile,
        old_name: Option<&str>,
    ) -> Result<(), ScimError> {
        if profile == Profile::CoreWeave
            && let Some(name) = rec.get("displayName").and_then(Value::as_str)
            && COREWEAVE_RESERVED_GROUPS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            && old_name.is_none_or(|o| !o.eq_ignore_ascii_case(name))
        {
            return Err(ScimError::uniqueness(format!(
                "group name '{name}' is reserved: it collides with a default group of the organization"
            )));
        }
        let Some(members) = rec.get_mut("members").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for m in members.iter_mut() {
            let Some(v) = m.get("value").and_then(Value::as_str).map(str::to_string) else {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    "every member needs a 'value' (the member's id)".into(),
                ));
            };
            let ty = if self.users.get(&v).is_some() {
                "User"
            } else if self.groups.get(&v).is_some() {
                if Some(v.as_str()) == own_id {
                    return Err(ScimError::bad_request(
                        "invalidValue",
                        "a group cannot be a member of itself".into(),
                    ));
                }
                if profile == Profile::CoreWeave {
                    return Err(ScimError::bad_request(
                        "invalidValue",
                        format!("member '{v}' is a group: groups may not contain groups"),
                    ));
                }
                "Group"
            } else if profile == Profile::CoreWeave {
                // without knowing what the id is, the flat-group rule cannot be checked
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("member '{v}' is not a known user or group id"),
                ));
            } else {
                // RFC 7644 does not require referential integrity of member ids
                continue;
            };
            if let Some(o) = m.as_object_mut() {
                o.insert("type".into(), Value::String(ty.into()));
            }
        }
        Ok(())
    }

    fn check_if_match(cur: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
        let Some(want) = if_match else { return Ok(()) };
        let have = cur["meta"]["version"].as_str().unwrap_or_default();
        let ok = want.split(',').map(str::trim).any(|w| {
            w == "*" || w == have || w.trim_start_matches("W/") == have.trim_start_matches("W/")
        });
        if ok {
            Ok(())
        } else {
            Err(ScimError::status(
                412,
                format!("the resource changed: its version is {have}, not {want}"),
            ))
        }
    }

    fn store_new(&mut self, kind: ResourceKind, mut rec: Value) -> Value {
        let id = self.new_id();
        let version = self.bump();
        let ts = now();
        let o = rec.as_object_mut().expect("normalised record is an object");
        o.insert("id".into(), Value::String(id.clone()));
        o.insert(
            "meta".into(),
            json!({"resourceType": kind.name(), "created": ts, "lastModified": ts, "version": version}),
        );
        self.put(kind, id, rec, None)
    }

    /// Insert or replace record `id` (with its seq), keeping every index right.
    fn put(&mut self, kind: ResourceKind, id: String, rec: Value, seq: Option<u64>) -> Value {
        let seq = seq.unwrap_or_else(|| {
            self.next_seq += 1;
            self.next_seq - 1
        });
        if let Some(n) = kind
            .unique_name()
            .and_then(|attr| rec.get(attr))
            .and_then(Value::as_str)
        {
            let n = n.to_lowercase();
            self.coll_mut(kind).by_name.insert(n, id.clone());
        }
        if kind == ResourceKind::Group {
            self.index_members(&id, &rec, true);
        }
        self.coll_mut(kind).insert(seq, id, rec.clone());
        rec
    }

    fn take(&mut self, kind: ResourceKind, id: &str) -> Option<(u64, Value)> {
        let coll = self.coll_mut(kind);
        let (seq, rec) = coll.remove(id)?;
        if let Some(n) = kind
            .unique_name()
            .and_then(|attr| rec.get(attr))
            .and_then(Value::as_str)
            && coll.by_name.get(&n.to_lowercase()).map(String::as_str) == Some(id)
        {
            coll.by_name.remove(&n.to_lowercase());
        }
        if kind == ResourceKind::Group {
            self.index_members(id, &rec, false);
        }
        Some((seq, rec))
    }

    /// POST: create from a client body.
    pub(crate) fn create(
        &mut self,
        kind: ResourceKind,
        body: Value,
        profile: Profile,
    ) -> Result<Value, ScimError> {
        let mut rec = schema::normalize(kind, body, ReadOnly::Ignore)?;
        protect_password(&mut rec, None)?;
        self.check_unique(kind, &rec, None)?;
        if kind == ResourceKind::Group {
            self.check_group(&mut rec, None, profile, None)?;
        }
        Ok(self.store_new(kind, rec))
    }

    /// PUT: replace from a client body.
    pub(crate) fn replace(
        &mut self,
        kind: ResourceKind,
        id: &str,
        body: Value,
        if_match: Option<&str>,
        profile: Profile,
    ) -> Result<Value, ScimError> {
        let cur = self
            .get(kind, id)
            .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        Self::check_if_match(cur, if_match)?;
        let mut rec = schema::normalize(kind, body, ReadOnly::Ignore)?;
        let cur = cur.clone();
        self.finish_update(kind, id, cur, &mut rec, profile)
    }

    fn finish_update(
        &mut self,
        kind: ResourceKind,
        id: &str,
        cur: Value,
        rec: &mut Value,
        profile: Profile,
    ) -> Result<Value, ScimError> {
        protect_password(rec, Some(&cur))?;
        self.check_unique(kind, rec, Some(id))?;
        if kind == ResourceKind::Group {
            let old = cur.get("displayName").and_then(Value::as_str);
            self.check_group(rec, Some(id), profile, old)?;
        }
        if kind == ResourceKind::Role
            && let Some(old) = cur.get("name").and_then(Value::as_str)
            && !rec
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|new| new.eq_ignore_ascii_case(old))
        {
            let held = self.role_holders(old).len();
            if held > 0 {
                return Err(ScimError::status(
                    409,
                    format!(
                        "role '{old}' is held by {held} user(s), who hold it by name: \
                         remove it from them before renaming it"
                    ),
                ));
            }
        }
        let o = rec.as_object_mut().expect("object");
        o.insert("id".into(), Value::String(id.to_string()));
        o.insert("meta".into(), cur["meta"].clone());
        if *rec == cur {
            return Ok(cur); // nothing changed: same version
        }
        let version = self.bump();
        let meta = rec["meta"].as_object_mut().expect("meta");
        meta.insert("lastModified".into(), Value::String(now()));
        meta.insert("version".into(), Value::String(version));
        let (seq, _) = self.take(kind, id).expect("present");
        Ok(self.put(kind, id.to_string(), rec.clone(), Some(seq)))
    }

    /// PATCH: apply operations atomically.
    pub(crate) fn patch(
        &mut self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        profile: Profile,
    ) -> Result<Value, ScimError> {
        let cur = self
            .get(kind, id)
            .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        Self::check_if_match(cur, if_match)?;
        let ops = patch::parse_request(kind, body)?;
        let cur = cur.clone();
        let mut work = cur.as_object().expect("object").clone();
        patch::apply(kind, &mut work, &ops)?;
        let meta = work.remove("meta");
        let mut rec = schema::normalize(kind, Value::Object(work), ReadOnly::Keep)?;
        if let Some(m) = meta {
            rec["meta"] = m;
        }
        self.finish_update(kind, id, cur, &mut rec, profile)
    }

    /// The ids of the users holding role `name` (in `roles`, by `value`, case-insensitively).
    fn role_holders(&self, name: &str) -> Vec<String> {
        self.users
            .iter()
            .filter(|u| {
                u.get("roles")
                    .and_then(Value::as_array)
                    .is_some_and(|roles| {
                        roles.iter().any(|r| {
                            r.get("value")
                                .and_then(Value::as_str)
                                .is_some_and(|v| v.eq_ignore_ascii_case(name))
                        })
                    })
            })
            .filter_map(|u| u.get("id").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// DELETE; a deleted user or group leaves every group it was a member of. A role that
    /// users hold is deleted only with `force` (409 otherwise), and leaves their `roles`.
    pub(crate) fn delete(
        &mut self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        force: bool,
    ) -> Result<(), ScimError> {
        let cur = self
            .get(kind, id)
            .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
        Self::check_if_match(cur, if_match)?;
        if kind == ResourceKind::Role {
            let name = cur
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let holders = self.role_holders(&name);
            if !holders.is_empty() && !force {
                return Err(ScimError::status(
                    409,
                    format!(
                        "role '{name}' is held by {} user(s): remove it from them first, \
                         or delete with ?force=true to remove it from them too",
                        holders.len()
                    ),
                ));
            }
            self.take(kind, id);
            self.generation += 1;
            for uid in holders {
                let Some((seq, mut u)) = self.take(ResourceKind::User, &uid) else {
                    continue;
                };
                let o = u.as_object_mut().expect("object");
                if let Some(Value::Array(roles)) = o.get_mut("roles") {
                    roles.retain(|r| {
                        !r.get("value")
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.eq_ignore_ascii_case(&name))
                    });
                    if roles.is_empty() {
                        o.remove("roles");
                    }
                }
                let version = self.bump();
                u["meta"]["version"] = Value::String(version);
                u["meta"]["lastModified"] = Value::String(now());
                self.put(ResourceKind::User, uid, u, Some(seq));
            }
            return Ok(());
        }
        self.take(kind, id);
        self.generation += 1;
        let holders: Vec<String> = self
            .member_of
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for gid in holders {
            let Some((seq, mut g)) = self.take(ResourceKind::Group, &gid) else {
                continue;
            };
            if let Some(arr) = g.get_mut("members").and_then(Value::as_array_mut) {
                arr.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
                if arr.is_empty() {
                    g.as_object_mut().expect("object").remove("members");
                }
            }
            let version = self.bump();
            g["meta"]["version"] = Value::String(version);
            g["meta"]["lastModified"] = Value::String(now());
            self.put(ResourceKind::Group, gid, g, Some(seq));
        }
        self.member_of.remove(id);
        Ok(())
    }

    /// Insert a record as given (tests seeding unmanaged or odd records): `id` and `meta`
    /// are assigned when missing, nothing else is checked.
    pub(crate) fn seed(&mut self, kind: ResourceKind, mut rec: Value) -> Result<Value, ScimError> {
        let Some(o) = rec.as_object_mut() else {
            return Err(ScimError::bad_request(
                "invalidSyntax",
                "a record must be a JSON object".into(),
            ));
        };
        let id = match o.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => {
                let id = self.new_id();
                rec["id"] = Value::String(id.clone());
                id
            }
        };
        let o = rec.as_object_mut().expect("object");
        if !o.contains_key("schemas") {
            o.insert("schemas".into(), json!([kind.core().id]));
        }
        if !o.get("meta").is_some_and(Value::is_object) {
            let ts = now();
            o.insert(
                "meta".into(),
                json!({"resourceType": kind.name(), "created": ts, "lastModified": ts}),
            );
        }
        let version = self.bump();
        if rec["meta"].get("version").is_none() {
            rec["meta"]["version"] = Value::String(version);
        }
        protect_seeded_password(&mut rec)?;
        let seq = self.take(kind, &id).map(|(s, _)| s);
        Ok(self.put(kind, id, rec, seq))
    }

    /// Every record of `kind`, in creation order.
    pub(crate) fn all(&self, kind: ResourceKind) -> Vec<Value> {
        self.coll(kind).iter().cloned().collect()
    }

    /// The position a cursor names, if it is one this tenant could have issued for `kind`.
    pub(crate) fn decode_cursor(&self, kind: ResourceKind, cursor: &str) -> Option<u64> {
        let tag = match kind {
            ResourceKind::User => "u",
            ResourceKind::Group => "g",
            ResourceKind::Role => "r",
        };
        let hex = cursor.strip_prefix(tag)?;
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let seq = u64::from_str_radix(hex, 16).ok()?;
        (seq > 0 && seq < self.next_seq).then_some(seq)
    }

    /// A cursor walk's page (RFC 9865): the records matching `q` after position `after` in
    /// creation order, at most `q.count`. Returns the total, the page, and the position of
    /// its last record when more records follow it (the next cursor).
    pub(crate) fn list_after(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        after: u64,
    ) -> (usize, Vec<&Value>, Option<u64>) {
        debug_assert!(q.sort_by.is_none(), "cursor walks follow creation order");
        let ids = self.matching_ids(kind, q);
        let coll = self.coll(kind);
        let seq = |id: &String| coll.records.get(id).map_or(0, |(s, _)| *s);
        // matching ids are in creation order (no sortBy), so their positions ascend
        let start = ids.partition_point(|id| seq(id) <= after);
        let end = start.saturating_add(q.count).min(ids.len());
        let page: Vec<&Value> = ids[start..end]
            .iter()
            .filter_map(|id| coll.get(id))
            .collect();
        let next = (end < ids.len() && end > start).then(|| seq(&ids[end - 1]));
        (ids.len(), page, next)
    }

    /// Filter, sort and page. Returns the total and the page.
    pub(crate) fn list(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        shift: i64,
    ) -> (usize, Vec<&Value>) {
        let ids = self.matching_ids(kind, q);
        let total = ids.len();
        let start = (q.start_index.max(1) as i64 - 1 + shift).clamp(0, total as i64) as usize;
        let coll = self.coll(kind);
        let page = ids
            .iter()
            .skip(start)
            .take(q.count)
            .filter_map(|id| coll.get(id))
            .collect();
        (total, page)
    }

    fn matching_ids(&self, kind: ResourceKind, q: &ListQuery) -> Arc<Vec<String>> {
        let key = format!(
            "{}|{:?}|{}",
            q.filter_text.as_deref().unwrap_or(""),
            q.sort_by.as_ref().map(ToString::to_string),
            q.descending
        );
        {
            let mut cache = self.list_cache.lock().expect("cache lock");
            cache.retain(|(_, _, generation, _)| *generation == self.generation);
            if let Some((_, _, _, ids)) = cache
                .iter()
                .find(|(k, text, _, _)| *k == kind && *text == key)
            {
                return ids.clone();
            }
        }
        let coll = self.coll(kind);
        let mut ids: Vec<String> = match &q.filter {
            None => coll.order.values().cloned().collect(),
            Some(f) => match filter::indexed_eq(f, kind) {
                Some(("id", v)) => coll.get(v).map(|_| v.to_string()).into_iter().collect(),
                Some(("userName" | "name", v)) => coll
                    .by_name
                    .get(&v.to_lowercase())
                    .cloned()
                    .into_iter()
                    .collect(),
                Some(("externalId", v)) => coll
                    .by_external_id
                    .get(v)
                    .map(|s| s.iter().map(|seq| coll.order[seq].clone()).collect())
                    .unwrap_or_default(),
                _ => coll
                    .order
                    .values()
                    .filter(|id| f.matches(&coll.records[*id].1, kind))
                    .cloned()
                    .collect(),
            },
        };
        if let Some(path) = &q.sort_by {
            let exact = filter::case_exact(kind, path);
            ids.sort_by(|a, b| {
                let ka = filter::sort_key(&coll.records[a].1, kind, path);
                let kb = filter::sort_key(&coll.records[b].1, kind, path);
                let o = filter::cmp_sort_values(ka, kb, exact);
                if q.descending { o.reverse() } else { o }
            });
        }
        let ids = Arc::new(ids);
        let mut cache = self.list_cache.lock().expect("cache lock");
        if cache.len() >= LIST_CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((kind, key, self.generation, ids.clone()));
        ids
    }

    /// Serialise for persistence.
    pub(crate) fn to_json(&self) -> Value {
        json!({"users": self.all(ResourceKind::User), "groups": self.all(ResourceKind::Group),
               "roles": self.all(ResourceKind::Role)})
    }

    /// Load persisted records (users first, so group membership indexes resolve).
    pub(crate) fn load_json(&mut self, v: &Value) -> Result<(), ScimError> {
        for (key, kind) in [
            ("users", ResourceKind::User),
            ("groups", ResourceKind::Group),
            ("roles", ResourceKind::Role),
        ] {
            for rec in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                self.seed(kind, rec.clone())?;
            }
        }
        Ok(())
    }

    /// Remove every record.
    pub(crate) fn clear(&mut self) {
        self.users = Collection::default();
        self.groups = Collection::default();
        self.roles = Collection::default();
        self.member_of.clear();
        self.generation += 1;
        self.list_cache.lock().expect("cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_walks_of_users_and_groups_keep_their_cached_ids() {
        let mut data = TenantData::new(1);
        for i in 0..3 {
            let user = json!({"userName": format!("u{i}"), "externalId": format!("p:u{i}")});
            data.seed(ResourceKind::User, user).unwrap();
            let group = json!({"displayName": format!("g{i}"), "externalId": format!("p:g{i}")});
            data.seed(ResourceKind::Group, group).unwrap();
        }
        let filter = Filter::parse("externalId sw \"p:\"").unwrap();
        let q = ListQuery {
            filter_text: Some(filter.to_string()),
            filter: Some(filter),
            start_index: 1,
            count: 2,
            ..ListQuery::default()
        };
        let users = data.matching_ids(ResourceKind::User, &q);
        let groups = data.matching_ids(ResourceKind::Group, &q);
        assert_eq!((users.len(), groups.len()), (3, 3));
        // the second page of each walk reuses the first page's ids, not a new scan
        assert!(Arc::ptr_eq(
            &users,
            &data.matching_ids(ResourceKind::User, &q)
        ));
        assert!(Arc::ptr_eq(
            &groups,
            &data.matching_ids(ResourceKind::Group, &q)
        ));
        // a write invalidates every cached list
        data.seed(
            ResourceKind::User,
            json!({"userName": "u9", "externalId": "p:u9"}),
        )
        .unwrap();
        assert_eq!(data.matching_ids(ResourceKind::User, &q).len(), 4);
        assert_eq!(data.list_cache.lock().unwrap().len(), 1);
    }
}
