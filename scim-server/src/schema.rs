//! The schemas the server knows (RFC 7643 §4, §8.7 and the CoreWeave extensions), the
//! type checks and key normalisation they drive, and their discovery representation.

use serde_json::{Map, Value, json};

use crate::error::ScimError;

/// URN of the core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// URN of the enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the CoreWeave User extension (`sunkSshKeys` and the SUNK POSIX fields).
pub const COREWEAVE_USER: &str =
    "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";
/// URN of the CoreWeave Group extension.
pub const COREWEAVE_GROUP: &str =
    "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveGroup";
/// URN of the Role resource (this project's namespace): a named role in one tenant, which
/// users hold through their core `roles` attribute (`value` = the role's `name`).
pub const ROLE: &str = "urn:parallelworks:params:scim:schemas:core:2.0:Role";
/// URN of the SCIM 1.1 core schema (the 1.1 `ServiceProviderConfigs` lists it).
pub const SCIM1_CORE: &str = "urn:scim:schemas:core:1.0";
/// URN of list responses.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// URN of PATCH requests.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// URN of search requests.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// URN of error responses.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// URN of the part of a 403 error that names the policy rule that denied the request
/// (`{"rule": "scim:create_user", "token": "<the token's name>"}`).
pub const POLICY_ERROR: &str = "urn:parallelworks:params:scim:api:messages:2.0:PolicyError";
/// URN of the part of a `ServiceProviderConfig` that tells a token its own rules (served
/// when the server has [tokens](crate::policy::Tokens)).
pub const TOKEN_POLICY: &str = "urn:parallelworks:params:scim:schemas:extension:2.0:TokenPolicy";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Boolean,
    #[allow(dead_code)] // part of the RFC 7643 vocabulary; no built-in attribute uses it
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Boolean => "boolean",
            Ty::Decimal => "decimal",
            Ty::Integer => "integer",
            Ty::DateTime => "dateTime",
            Ty::Reference => "reference",
            Ty::Binary => "binary",
            Ty::Complex => "complex",
        }
    }
}

/// Attribute mutability (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    Always,
    Default,
    #[allow(dead_code)] // part of the RFC 7643 vocabulary; no built-in attribute uses it
    Request,
    Never,
}

/// One attribute definition.
#[derive(Debug)]
pub(crate) struct Attr {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) multi: bool,
    pub(crate) required: bool,
    pub(crate) case_exact: bool,
    pub(crate) mutability: Mutability,
    pub(crate) returned: Returned,
    pub(crate) uniqueness: &'static str,
    pub(crate) sub: &'static [Attr],
    pub(crate) canonical: &'static [&'static str],
    pub(crate) reference_types: &'static [&'static str],
    pub(crate) description: &'static str,
}

const fn a(name: &'static str, ty: Ty) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: "none",
        sub: &[],
        canonical: &[],
        reference_types: &[],
        description: "",
    }
}
const fn s(name: &'static str) -> Attr {
    a(name, Ty::String)
}
const fn c(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        sub,
        ..a(name, Ty::Complex)
    }
}

impl Attr {
    const fn multi(self) -> Self {
        Self {
            multi: true,
            ..self
        }
    }
    const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }
    const fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }
    const fn ro(self) -> Self {
        Self {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    const fn immutable(self) -> Self {
        Self {
            mutability: Mutability::Immutable,
            ..self
        }
    }
    const fn write_only(self) -> Self {
        Self {
            mutability: Mutability::WriteOnly,
            returned: Returned::Never,
            ..self
        }
    }
    const fn always(self) -> Self {
        Self {
            returned: Returned::Always,
            ..self
        }
    }
    const fn unique(self, u: &'static str) -> Self {
        Self {
            uniqueness: u,
            ..self
        }
    }
    const fn canon(self, canonical: &'static [&'static str]) -> Self {
        Self { canonical, ..self }
    }
    const fn refs(self, reference_types: &'static [&'static str]) -> Self {
        Self {
            reference_types,
            ..self
        }
    }
    const fn doc(self, description: &'static str) -> Self {
        Self {
            description,
            ..self
        }
    }

    /// The sub-attribute named `name` (case-insensitive).
    pub(crate) fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

const TYPE_WORK_HOME: &[&str] = &["work", "home", "other"];

const MULTI_SUB: &[Attr] = &[
    s("value"),
    s("display"),
    s("type"),
    a("primary", Ty::Boolean),
];
const EMAIL_SUB: &[Attr] = &[
    s("value").doc("Email address"),
    s("display"),
    s("type").canon(TYPE_WORK_HOME),
    a("primary", Ty::Boolean),
];
const PHONE_SUB: &[Attr] = &[
    s("value"),
    s("display"),
    s("type").canon(&["work", "home", "mobile", "fax", "pager", "other"]),
    a("primary", Ty::Boolean),
];
const PHOTO_SUB: &[Attr] = &[
    a("value", Ty::Reference).refs(&["external"]),
    s("display"),
    s("type").canon(&["photo", "thumbnail"]),
    a("primary", Ty::Boolean),
];
const ADDRESS_SUB: &[Attr] = &[
    s("formatted"),
    s("streetAddress"),
    s("locality"),
    s("region"),
    s("postalCode"),
    s("country"),
    s("type").canon(TYPE_WORK_HOME),
    a("primary", Ty::Boolean),
];
const USER_GROUPS_SUB: &[Attr] = &[
    s("value").ro(),
    a("$ref", Ty::Reference).refs(&["User", "Group"]).ro(),
    s("display").ro(),
    s("type").canon(&["direct", "indirect"]).ro(),
];
const CERT_SUB: &[Attr] = &[
    a("value", Ty::Binary),
    s("display"),
    s("type"),
    a("primary", Ty::Boolean),
];
const NAME_SUB: &[Attr] = &[
    s("formatted"),
    s("familyName"),
    s("givenName"),
    s("middleName"),
    s("honorificPrefix"),
    s("honorificSuffix"),
];

/// Core User attributes (RFC 7643 §4.1), `id` and `externalId` included.
pub(crate) const USER_ATTRS: &[Attr] = &[
    s("id").exact().ro().always().unique("server"),
    s("externalId").exact(),
    s("userName")
        .required()
        .unique("server")
        .doc("Unique identifier for the User"),
    c("name", NAME_SUB),
    s("displayName"),
    s("nickName"),
    a("profileUrl", Ty::Reference).refs(&["external"]),
    s("title"),
    s("userType"),
    s("preferredLanguage"),
    s("locale"),
    s("timezone"),
    a("active", Ty::Boolean),
    s("password").write_only(),
    c("emails", EMAIL_SUB).multi(),
    c("phoneNumbers", PHONE_SUB).multi(),
    c("ims", MULTI_SUB).multi(),
    c("photos", PHOTO_SUB).multi(),
    c("addresses", ADDRESS_SUB).multi(),
    c("groups", USER_GROUPS_SUB).multi().ro(),
    c("entitlements", MULTI_SUB).multi(),
    c("roles", MULTI_SUB).multi(),
    c("x509Certificates", CERT_SUB).multi(),
];

const MEMBER_SUB: &[Attr] = &[
    s("value").immutable(),
    a("$ref", Ty::Reference)
        .refs(&["User", "Group"])
        .immutable(),
    s("display"),
    s("type").canon(&["User", "Group"]).immutable(),
];

/// Core Group attributes (RFC 7643 §4.2).
pub(crate) const GROUP_ATTRS: &[Attr] = &[
    s("id").exact().ro().always().unique("server"),
    s("externalId").exact(),
    s("displayName").required(),
    c("members", MEMBER_SUB).multi(),
];

/// Role attributes: a name unique in the tenant (case-insensitive), a description.
pub(crate) const ROLE_ATTRS: &[Attr] = &[
    s("id").exact().ro().always().unique("server"),
    s("externalId").exact(),
    s("name")
        .required()
        .unique("server")
        .doc("The role's name, unique in its tenant (case-insensitive); users hold it by this name in their roles"),
    s("description"),
];

const MANAGER_SUB: &[Attr] = &[
    s("value"),
    a("$ref", Ty::Reference).refs(&["User"]),
    s("displayName").ro(),
];

/// Enterprise User extension attributes (RFC 7643 §4.3).
pub(crate) const ENTERPRISE_ATTRS: &[Attr] = &[
    s("employeeNumber"),
    s("costCenter"),
    s("organization"),
    s("division"),
    s("department"),
    c("manager", MANAGER_SUB),
];

/// CoreWeave User extension attributes.
pub(crate) const COREWEAVE_USER_ATTRS: &[Attr] = &[
    s("sunkSshKeys")
        .multi()
        .exact()
        .doc("SSH public keys (OpenSSH authorized_keys format) provisioned on SUNK clusters."),
    s("sunkPosixUsername").exact(),
    a("sunkPosixUserId", Ty::Integer),
    a("sunkPosixGroupId", Ty::Integer),
    s("sunkLoginShell").exact(),
    s("sunkPreferredHomeDirectory").exact(),
];

/// CoreWeave Group extension attributes.
pub(crate) const COREWEAVE_GROUP_ATTRS: &[Attr] = &[
    a("sunkPosixGroupId", Ty::Integer),
    s("sunkPosixGroupName").exact(),
];

/// A schema: id, name and attributes.
#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) attrs: &'static [Attr],
}

impl Schema {
    /// The attribute named `name` (case-insensitive).
    pub(crate) fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

pub(crate) static USER_SCHEMA: Schema = Schema {
    id: USER,
    name: "User",
    description: "User Account",
    attrs: USER_ATTRS,
};
pub(crate) static GROUP_SCHEMA: Schema = Schema {
    id: GROUP,
    name: "Group",
    description: "Group",
    attrs: GROUP_ATTRS,
};
pub(crate) static ROLE_SCHEMA: Schema = Schema {
    id: ROLE,
    name: "Role",
    description: "Role",
    attrs: ROLE_ATTRS,
};
pub(crate) static ENTERPRISE_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attrs: ENTERPRISE_ATTRS,
};
pub(crate) static COREWEAVE_USER_SCHEMA: Schema = Schema {
    id: COREWEAVE_USER,
    name: "CoreWeaveUser",
    description: "CoreWeave user extension (SUNK SSH public keys)",
    attrs: COREWEAVE_USER_ATTRS,
};
pub(crate) static COREWEAVE_GROUP_SCHEMA: Schema = Schema {
    id: COREWEAVE_GROUP,
    name: "CoreWeaveGroup",
    description: "CoreWeave group extension (SUNK POSIX group)",
    attrs: COREWEAVE_GROUP_ATTRS,
};

/// All schemas, in discovery order.
pub(crate) static ALL_SCHEMAS: [&Schema; 6] = [
    &USER_SCHEMA,
    &GROUP_SCHEMA,
    &ROLE_SCHEMA,
    &ENTERPRISE_SCHEMA,
    &COREWEAVE_USER_SCHEMA,
    &COREWEAVE_GROUP_SCHEMA,
];

/// The resource types the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ResourceKind {
    /// `/Users`
    User,
    /// `/Groups`
    Group,
    /// `/Roles` (schema [`ROLE`])
    Role,
}

impl ResourceKind {
    /// Every resource type, in discovery order.
    pub const ALL: [ResourceKind; 3] =
        [ResourceKind::User, ResourceKind::Group, ResourceKind::Role];

    /// The core schema of this resource type.
    pub(crate) fn core(self) -> &'static Schema {
        match self {
            ResourceKind::User => &USER_SCHEMA,
            ResourceKind::Group => &GROUP_SCHEMA,
            ResourceKind::Role => &ROLE_SCHEMA,
        }
    }
    /// The extension schemas of this resource type.
    pub(crate) fn extensions(self) -> &'static [&'static Schema] {
        static U: [&Schema; 2] = [&ENTERPRISE_SCHEMA, &COREWEAVE_USER_SCHEMA];
        static G: [&Schema; 1] = [&COREWEAVE_GROUP_SCHEMA];
        match self {
            ResourceKind::User => &U,
            ResourceKind::Group => &G,
            ResourceKind::Role => &[],
        }
    }
    /// The extension whose URN is `urn` (case-insensitive).
    pub(crate) fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extensions()
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
    /// The endpoint name (`Users` / `Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
            ResourceKind::Role => "Roles",
        }
    }
    /// The resource type name (`User` / `Group`).
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
            ResourceKind::Role => "Role",
        }
    }
    /// The attribute unique in a tenant, case-insensitively (`userName`, a role's `name`).
    pub(crate) fn unique_name(self) -> Option<&'static str> {
        match self {
            ResourceKind::User => Some("userName"),
            ResourceKind::Group => None,
            ResourceKind::Role => Some("name"),
        }
    }

    /// Resolve an attribute path (optional URN, attribute, optional sub-attribute) to its
    /// definitions. `None` when the attribute is unknown.
    pub(crate) fn resolve(
        self,
        urn: Option<&str>,
        attr: &str,
        sub: Option<&str>,
    ) -> Option<(&'static Attr, Option<&'static Attr>)> {
        let schema = match urn {
            None => self.core(),
            Some(u) if u.eq_ignore_ascii_case(self.core().id) => self.core(),
            Some(u) => self.extension(u)?,
        };
        let def = match schema.attr(attr) {
            Some(d) => d,
            // `meta` is common to every resource (RFC 7643 §3.1)
            None if urn.is_none() && attr.eq_ignore_ascii_case("meta") => &META,
            None => return None,
        };
        match sub {
            None => Some((def, None)),
            Some(sn) => def.sub_attr(sn).map(|sd| (def, Some(sd))),
        }
    }
}

const META_SUB: &[Attr] = &[
    s("resourceType").exact().ro(),
    a("created", Ty::DateTime).ro(),
    a("lastModified", Ty::DateTime).ro(),
    a("location", Ty::Reference).ro(),
    s("version").exact().ro(),
];
pub(crate) static META: Attr = c("meta", META_SUB).ro();

fn invalid(detail: String) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

fn check_scalar(def: &Attr, v: &Value, at: &str) -> Result<(), ScimError> {
    let ok = match def.ty {
        Ty::String | Ty::Reference | Ty::Binary => v.is_string(),
        Ty::DateTime => v
            .as_str()
            .is_some_and(|s| humantime::parse_rfc3339_weak(s).is_ok() || s.contains('T')),
        Ty::Boolean => v.is_boolean(),
        Ty::Integer => v.is_i64() || v.is_u64(),
        Ty::Decimal => v.is_number(),
        Ty::Complex => v.is_object(),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "attribute '{at}' must be of type {}{}, got {}",
            def.ty.name(),
            if def.multi { " (one element)" } else { "" },
            kind_of(v)
        )))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The most values one multi-valued attribute holds (a group's `members`, say): far above
/// any real organization's largest group, and low enough that no one record makes every
/// request to its tenant wait.
pub const MAX_VALUES: usize = 250_000;

/// The most URNs a resource's `schemas` may list (a resource has two or three).
pub const MAX_SCHEMAS: usize = 64;

/// Normalise a PATCH value for a whole attribute (read-only sub-attributes dropped).
pub(crate) fn normalize_attr(
    def: &'static Attr,
    v: Value,
    at: &str,
) -> Result<Option<Value>, ScimError> {
    normalize_value(def, v, at, ReadOnly::Ignore)
}

/// Normalise a PATCH value for one element of a multi-valued attribute.
pub(crate) fn normalize_element(
    def: &'static Attr,
    v: Value,
    at: &str,
) -> Result<Option<Value>, ScimError> {
    normalize_single(def, v, at, ReadOnly::Ignore)
}

/// What to do with read-only attributes found in client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOnly {
    /// Drop them silently (POST/PUT, RFC 7644 §3.5.1).
    Ignore,
    /// Keep them (records produced by the server itself, PATCH results).
    Keep,
}

/// Normalise one attribute value against its definition: canonical sub-attribute names,
/// nulls dropped, types checked. Returns `None` when the value is unassigned.
fn normalize_value(
    def: &'static Attr,
    v: Value,
    at: &str,
    ro: ReadOnly,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if def.multi {
        let Value::Array(items) = v else {
            return Err(invalid(format!(
                "attribute '{at}' is multi-valued and must be an array, got {}",
                kind_of(&v)
            )));
        };
        if items.len() > MAX_VALUES {
            return Err(ScimError::bad_request(
                "tooMany",
                format!(
                    "attribute '{at}' would hold {} values; at most {MAX_VALUES} are kept",
                    items.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(n) = normalize_single(def, item, at, ro)? {
                out.push(n);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Value::Array(out)));
    }
    normalize_single(def, v, at, ro)
}

fn normalize_single(
    def: &'static Attr,
    v: Value,
    at: &str,
    ro: ReadOnly,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    check_scalar(def, &v, at)?;
    if def.ty != Ty::Complex {
        return Ok(Some(v));
    }
    let Value::Object(map) = v else {
        unreachable!("checked complex")
    };
    let mut out = Map::new();
    for (k, sv) in map {
        match def.sub_attr(&k) {
            Some(sd) => {
                if ro == ReadOnly::Ignore && sd.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(n) = normalize_single(sd, sv, &format!("{at}.{}", sd.name), ro)? {
                    out.insert(sd.name.to_string(), n);
                }
            }
            None => {
                if !sv.is_null() {
                    out.insert(k, sv);
                }
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Object(out)))
}

/// Normalise a resource body: canonical attribute names (attribute names are
/// case-insensitive), type checks against the schema, read-only attributes handled per `ro`,
/// extension URNs canonicalised and listed in `schemas`, required attributes checked.
/// Unknown attributes are kept as sent.
pub(crate) fn normalize(kind: ResourceKind, body: Value, ro: ReadOnly) -> Result<Value, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::bad_request(
            "invalidSyntax",
            "the request body must be a JSON object".into(),
        ));
    };
    let core = kind.core();
    let mut out = Map::new();
    let mut schemas: Vec<String> = Vec::new();
    let mut saw_schemas = false;
    for (k, v) in map {
        if k.eq_ignore_ascii_case("schemas") {
            saw_schemas = true;
            let Value::Array(items) = v else {
                return Err(ScimError::bad_request(
                    "invalidSyntax",
                    "'schemas' must be an array of URNs".into(),
                ));
            };
            if items.len() > MAX_SCHEMAS {
                return Err(ScimError::bad_request(
                    "tooMany",
                    format!(
                        "'schemas' lists {} URNs; at most {MAX_SCHEMAS} are accepted",
                        items.len()
                    ),
                ));
            }
            for i in items {
                let Value::String(u) = i else {
                    return Err(ScimError::bad_request(
                        "invalidSyntax",
                        "'schemas' must be an array of URNs".into(),
                    ));
                };
                let canon = if u.eq_ignore_ascii_case(core.id) {
                    core.id.to_string()
                } else if let Some(e) = kind.extension(&u) {
                    e.id.to_string()
                } else {
                    u
                };
                if !schemas.contains(&canon) {
                    schemas.push(canon);
                }
            }
            continue;
        }
        if let Some(def) = core.attr(&k) {
            if def.mutability == Mutability::ReadOnly && ro == ReadOnly::Ignore {
                continue;
            }
            if let Some(n) = normalize_value(def, v, def.name, ro)? {
                out.insert(def.name.to_string(), n);
            }
            continue;
        }
        if k.eq_ignore_ascii_case("meta") {
            if ro == ReadOnly::Keep && v.is_object() {
                out.insert("meta".into(), v);
            }
            continue;
        }
        if let Some(ext) = kind.extension(&k) {
            if v.is_null() {
                continue;
            }
            let Value::Object(em) = v else {
                return Err(invalid(format!(
                    "extension '{}' must be a JSON object",
                    ext.id
                )));
            };
            let mut eo = Map::new();
            for (ek, ev) in em {
                if ek.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                match ext.attr(&ek) {
                    Some(d) => {
                        if d.mutability == Mutability::ReadOnly && ro == ReadOnly::Ignore {
                            continue;
                        }
                        if let Some(n) =
                            normalize_value(d, ev, &format!("{}:{}", ext.id, d.name), ro)?
                        {
                            eo.insert(d.name.to_string(), n);
                        }
                    }
                    None => {
                        if !ev.is_null() {
                            eo.insert(ek, ev);
                        }
                    }
                }
            }
            if !eo.is_empty() {
                if !schemas.iter().any(|s| s == ext.id) {
                    schemas.push(ext.id.to_string());
                }
                out.insert(ext.id.to_string(), Value::Object(eo));
            }
            continue;
        }
        // URN-qualified core attribute at top level, e.g. "urn:...:core:2.0:User:userName"
        if let Some(rest) = strip_prefix_ci(&k, core.id).and_then(|r| r.strip_prefix(':'))
            && let Some(def) = core.attr(rest)
        {
            if def.mutability == Mutability::ReadOnly && ro == ReadOnly::Ignore {
                continue;
            }
            if let Some(n) = normalize_value(def, v, def.name, ro)? {
                out.insert(def.name.to_string(), n);
            }
            continue;
        }
        if !v.is_null() {
            out.insert(k, v);
        }
    }
    if !saw_schemas && ro == ReadOnly::Ignore {
        return Err(ScimError::bad_request(
            "invalidSyntax",
            format!(
                "the request must list its schemas (expected \"{}\")",
                core.id
            ),
        ));
    }
    if !schemas.iter().any(|s| s == core.id) {
        if ro == ReadOnly::Ignore {
            return Err(ScimError::bad_request(
                "invalidSyntax",
                format!("'schemas' must contain \"{}\"", core.id),
            ));
        }
        schemas.insert(0, core.id.to_string());
    }
    // drop extension URNs that carry no data and are not known; keep known ones listed
    for def in core.attrs {
        if def.required && !out.contains_key(def.name) {
            return Err(invalid(format!(
                "required attribute '{}' is missing",
                def.name
            )));
        }
    }
    out.insert(
        "schemas".into(),
        Value::Array(schemas.into_iter().map(Value::String).collect()),
    );
    Ok(Value::Object(out))
}

/// `s` without the case-insensitive prefix `p`.
pub(crate) fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    if s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p) {
        Some(&s[p.len()..])
    } else {
        None
    }
}

fn attr_json(d: &Attr) -> Value {
    let mut m = json!({
        "name": d.name,
        "type": d.ty.name(),
        "multiValued": d.multi,
        "description": d.description,
        "required": d.required,
        "mutability": match d.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match d.returned {
            Returned::Always => "always",
            Returned::Default => "default",
            Returned::Request => "request",
            Returned::Never => "never",
        },
        "uniqueness": d.uniqueness,
    });
    let o = m.as_object_mut().expect("object");
    if matches!(d.ty, Ty::String | Ty::Reference | Ty::Binary) {
        o.insert("caseExact".into(), Value::Bool(d.case_exact));
    }
    if !d.canonical.is_empty() {
        o.insert("canonicalValues".into(), json!(d.canonical));
    }
    if d.ty == Ty::Reference {
        let refs: &[&str] = if d.reference_types.is_empty() {
            &["external"]
        } else {
            d.reference_types
        };
        o.insert("referenceTypes".into(), json!(refs));
    }
    if d.ty == Ty::Complex {
        o.insert(
            "subAttributes".into(),
            Value::Array(d.sub.iter().map(attr_json).collect()),
        );
    }
    m
}

/// The discovery representation of a schema (RFC 7643 §7).
pub(crate) fn schema_json(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attrs.iter().filter(|a| a.name != "id").map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)},
    })
}

/// The discovery representation of a resource type (RFC 7643 §6).
pub(crate) fn resource_type_json(kind: ResourceKind, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": kind.core().description,
        "schema": kind.core().id,
        "schemaExtensions": kind.extensions().iter().map(|e| json!({"schema": e.id, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_canonicalises_names_and_checks_types() {
        let v = normalize(
            ResourceKind::User,
            json!({"schemas":[USER], "USERNAME":"a", "Active": true, "id":"x",
                   "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:coreweaveuser": {"SUNKSSHKEYS":["k1"]}}),
            ReadOnly::Ignore,
        )
        .unwrap();
        assert_eq!(v["userName"], "a");
        assert_eq!(v["active"], true);
        assert!(v.get("id").is_none());
        assert_eq!(v[COREWEAVE_USER]["sunkSshKeys"], json!(["k1"]));
        assert!(
            v["schemas"]
                .as_array()
                .unwrap()
                .contains(&json!(COREWEAVE_USER))
        );
    }

    #[test]
    fn ssh_keys_must_be_an_array_of_strings() {
        for bad in [json!("k1"), json!([1]), json!({"a":1})] {
            let e = normalize(
                ResourceKind::User,
                json!({"schemas":[USER], "userName":"a", COREWEAVE_USER: {"sunkSshKeys": bad}}),
                ReadOnly::Ignore,
            )
            .unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"));
        }
    }

    #[test]
    fn required_and_schemas_are_enforced() {
        let e = normalize(
            ResourceKind::User,
            json!({"schemas":[USER]}),
            ReadOnly::Ignore,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        let e = normalize(
            ResourceKind::User,
            json!({"userName":"x"}),
            ReadOnly::Ignore,
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        let e = normalize(
            ResourceKind::User,
            json!({"schemas":[USER],"userName":"x","active":"true"}),
            ReadOnly::Ignore,
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("invalidValue"));
    }
}
