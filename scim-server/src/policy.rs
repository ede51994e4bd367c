//! Who may do what: tokens stored as SHA-256 digests, the tenants each may use, and one
//! allow/deny rule per operation.
//!
//! A server started with [`ScimServerBuilder::bearer_token`](crate::ScimServerBuilder::bearer_token)
//! alone has one token that opens every tenant and every operation. With
//! [`ScimServerBuilder::tokens`](crate::ScimServerBuilder::tokens) (or `tokens_file`, the
//! binary's `--tokens FILE`) it has several, each a [`Grant`]: a name (for logs and
//! errors), the digest of the token, the tenants it may use and its [`Policy`].
//!
//! The tokens file is JSON:
//!
//! ```json
//! {
//!   "tokens": [
//!     {"name": "team-a-readers", "sha256": "<64 hex digits>", "tenants": ["team-a"],
//!      "preset": "read-only"},
//!     {"name": "team-b-sync", "sha256": "<64 hex digits>", "tenants": ["team-b"],
//!      "preset": "read-write", "rules": {"scim:delete_user": "deny"}},
//!     {"name": "ops", "sha256": "<64 hex digits>", "tenants": "*", "preset": "admin"}
//!   ]
//! }
//! ```
//!
//! `sha256` is the lower- or upper-case hex SHA-256 of the token (what
//! [`digest_hex`] and `scim-server token hash` print); the token itself is never stored.
//! `tenants` is a list of tenant names (`""` is the default tenant at `/v2`, `"a/b"` the one
//! at `/a/b/v2`) or `"*"` for every tenant. `preset` (optional; without it every rule is
//! `deny`) is the starting point and `rules` overrides single rules. Unknown fields, unknown
//! rules, malformed digests, a token listed twice and a file without tokens are refused.
//!
//! The decision for a request, in order: no valid credential → 401; a tenant the token does
//! not have → 404, exactly as for a record that does not exist (no existence oracle); a rule
//! that is `deny` → 403 with a SCIM error naming the rule
//! (`urn:parallelworks:params:scim:api:messages:2.0:PolicyError` carries it as data too).
//! Discovery endpoints are public unless `public_discovery(false)`; only then do the three
//! discovery rules take effect.
//!
//! ```
//! use scim_server::policy::{Grant, Policy, Preset, Rule, Tokens};
//! let tokens = Tokens::new()
//!     .grant(Grant::for_token("readers", "a-long-random-token").tenants(["team-a"])
//!         .policy(Policy::preset(Preset::ReadOnly)))
//!     .grant(Grant::for_token("sync", "another-token").tenants(["team-b"])
//!         .policy(Policy::preset(Preset::ReadWrite).deny(Rule::DeleteUser)));
//! assert_eq!(tokens.len(), 2);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One operation a token may be allowed or denied, named like `scim:create_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// `GET /Users`, `POST /Users/.search`
    ListUsers,
    /// `GET /Users/{id}`
    GetUser,
    /// `POST /Users`
    CreateUser,
    /// `PUT` and `PATCH /Users/{id}`
    UpdateUser,
    /// `DELETE /Users/{id}`
    DeleteUser,
    /// `GET /Groups`, `POST /Groups/.search`
    ListGroups,
    /// `GET /Groups/{id}`
    GetGroup,
    /// `POST /Groups`
    CreateGroup,
    /// `PUT` and `PATCH /Groups/{id}`
    UpdateGroup,
    /// `DELETE /Groups/{id}`
    DeleteGroup,
    /// `GET /Roles`, `POST /Roles/.search`
    ListRoles,
    /// `GET /Roles/{id}`
    GetRole,
    /// `POST /Roles`
    CreateRole,
    /// `PUT` and `PATCH /Roles/{id}`
    UpdateRole,
    /// `DELETE /Roles/{id}`
    DeleteRole,
    /// `GET /ServiceProviderConfig` (and the SCIM 1.1 `/ServiceProviderConfigs`)
    GetServiceProviderConfig,
    /// `GET /Schemas[/{id}]`
    GetSchemas,
    /// `GET /ResourceTypes[/{id}]`
    GetResourceTypes,
}

impl Rule {
    /// Every rule, in a fixed order.
    pub const ALL: [Rule; 18] = [
        Rule::ListUsers,
        Rule::GetUser,
        Rule::CreateUser,
        Rule::UpdateUser,
        Rule::DeleteUser,
        Rule::ListGroups,
        Rule::GetGroup,
        Rule::CreateGroup,
        Rule::UpdateGroup,
        Rule::DeleteGroup,
        Rule::ListRoles,
        Rule::GetRole,
        Rule::CreateRole,
        Rule::UpdateRole,
        Rule::DeleteRole,
        Rule::GetServiceProviderConfig,
        Rule::GetSchemas,
        Rule::GetResourceTypes,
    ];

    /// The rule's name, e.g. `scim:create_user`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ListUsers => "scim:list_users",
            Rule::GetUser => "scim:get_user",
            Rule::CreateUser => "scim:create_user",
            Rule::UpdateUser => "scim:update_user",
            Rule::DeleteUser => "scim:delete_user",
            Rule::ListGroups => "scim:list_groups",
            Rule::GetGroup => "scim:get_group",
            Rule::CreateGroup => "scim:create_group",
            Rule::UpdateGroup => "scim:update_group",
            Rule::DeleteGroup => "scim:delete_group",
            Rule::ListRoles => "scim:list_roles",
            Rule::GetRole => "scim:get_role",
            Rule::CreateRole => "scim:create_role",
            Rule::UpdateRole => "scim:update_role",
            Rule::DeleteRole => "scim:delete_role",
            Rule::GetServiceProviderConfig => "scim:get_service_provider_config",
            Rule::GetSchemas => "scim:get_schemas",
            Rule::GetResourceTypes => "scim:get_resource_types",
        }
    }

    /// The rule named `name` (exactly as [`name`](Self::name) spells it).
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// True for the rules of requests that change nothing (lists, reads, discovery).
    pub fn is_read(self) -> bool {
        !matches!(
            self,
            Rule::CreateUser
                | Rule::UpdateUser
                | Rule::DeleteUser
                | Rule::CreateGroup
                | Rule::UpdateGroup
                | Rule::DeleteGroup
                | Rule::CreateRole
                | Rule::UpdateRole
                | Rule::DeleteRole
        )
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// The operation is allowed.
    Allow,
    /// The operation is refused with 403.
    Deny,
}

/// A named set of rules to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Preset {
    /// Every list and read (users, groups, roles) and discovery; no writes.
    ReadOnly,
    /// `read-only`, and creating, updating and deleting users and groups (what a syncer
    /// needs); roles are read, not managed.
    ReadWrite,
    /// Every rule.
    Admin,
}

impl Preset {
    /// The preset's name in the tokens file (`read-only`, `read-write`, `admin`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::ReadOnly => "read-only",
            Preset::ReadWrite => "read-write",
            Preset::Admin => "admin",
        }
    }

    fn allows(self, rule: Rule) -> bool {
        match self {
            Preset::ReadOnly => rule.is_read(),
            Preset::ReadWrite => {
                rule.is_read()
                    || !matches!(rule, Rule::CreateRole | Rule::UpdateRole | Rule::DeleteRole)
            }
            Preset::Admin => true,
        }
    }
}

/// The allow/deny setting of every [`Rule`] for one token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    allowed: u32,
}

impl Policy {
    /// Every rule denied.
    pub fn deny_all() -> Self {
        Self { allowed: 0 }
    }
    /// Every rule allowed (what a `bearer_token` has).
    pub fn allow_all() -> Self {
        Self::preset(Preset::Admin)
    }
    /// The rules of a preset.
    pub fn preset(p: Preset) -> Self {
        let allowed = Rule::ALL
            .into_iter()
            .filter(|r| p.allows(*r))
            .fold(0, |acc, r| acc | r.bit());
        Self { allowed }
    }
    /// This policy with `rule` set to `access`.
    pub fn set(mut self, rule: Rule, access: Access) -> Self {
        match access {
            Access::Allow => self.allowed |= rule.bit(),
            Access::Deny => self.allowed &= !rule.bit(),
        }
        self
    }
    /// This policy with `rule` allowed.
    pub fn allow(self, rule: Rule) -> Self {
        self.set(rule, Access::Allow)
    }
    /// This policy with `rule` denied.
    pub fn deny(self, rule: Rule) -> Self {
        self.set(rule, Access::Deny)
    }
    /// Whether `rule` is allowed.
    pub fn allows(&self, rule: Rule) -> bool {
        self.allowed & rule.bit() != 0
    }
    /// Every rule with its setting, in [`Rule::ALL`] order.
    pub fn rules(&self) -> impl Iterator<Item = (Rule, Access)> + '_ {
        Rule::ALL.into_iter().map(|r| {
            (
                r,
                if self.allows(r) {
                    Access::Allow
                } else {
                    Access::Deny
                },
            )
        })
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                Rule::ALL
                    .into_iter()
                    .filter(|r| self.allows(*r))
                    .map(Rule::name),
            )
            .finish()
    }
}

/// The tenants a token may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant.
    All,
    /// These tenants only (`""` is the default tenant).
    Only(BTreeSet<String>),
}

impl TenantScope {
    /// Whether `tenant` is in scope.
    pub fn contains(&self, tenant: &str) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Only(set) => set.contains(tenant),
        }
    }
}

/// One token: its name, the SHA-256 digest of its value, its tenants and its policy.
#[derive(Clone)]
pub struct Grant {
    pub(crate) name: String,
    pub(crate) digest: [u8; 32],
    pub(crate) tenants: TenantScope,
    pub(crate) policy: Policy,
}

impl fmt::Debug for Grant {
    /// The name, tenants and policy; never the digest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("name", &self.name)
            .field("tenants", &self.tenants)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// A token known by its digest (64 hex digits, as [`digest_hex`] prints it), with no
    /// tenant and every rule denied until [`tenants`](Self::tenants) and
    /// [`policy`](Self::policy) say otherwise.
    pub fn new(name: impl Into<String>, sha256_hex: &str) -> Result<Self, TokensError> {
        let name = name.into();
        let digest = parse_digest(sha256_hex).ok_or_else(|| TokensError::Invalid {
            token: name.clone(),
            detail: "'sha256' must be 64 hex digits: the digest `scim-server token hash` \
                     prints, never the token itself"
                .into(),
        })?;
        Ok(Self {
            name,
            digest,
            tenants: TenantScope::Only(BTreeSet::new()),
            policy: Policy::deny_all(),
        })
    }
    /// A token given in clear (an embedder's or a test's): only its digest is kept.
    pub fn for_token(name: impl Into<String>, token: &str) -> Self {
        Self {
            name: name.into(),
            digest: digest(token),
            tenants: TenantScope::Only(BTreeSet::new()),
            policy: Policy::deny_all(),
        }
    }
    /// The tenants the token may use (`""` is the default tenant).
    pub fn tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = TenantScope::Only(tenants.into_iter().map(Into::into).collect());
        self
    }
    /// The token may use every tenant.
    pub fn all_tenants(mut self) -> Self {
        self.tenants = TenantScope::All;
        self
    }
    /// The token's rules.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// The token's name (as logged).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The tenants it may use.
    pub fn tenant_scope(&self) -> &TenantScope {
        &self.tenants
    }
    /// Its rules.
    pub fn rules(&self) -> &Policy {
        &self.policy
    }
}

/// The tokens of a server (see the [module docs](self) for the file format).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub(crate) grants: Vec<Grant>,
}

/// The largest tokens file read (a list of tokens is a few KiB).
pub const MAX_TOKENS_FILE_BYTES: u64 = 1024 * 1024;

impl Tokens {
    /// No tokens.
    pub fn new() -> Self {
        Self::default()
    }
    /// These tokens and `grant`.
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grants.push(grant);
        self
    }
    /// How many tokens.
    pub fn len(&self) -> usize {
        self.grants.len()
    }
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
    /// The tokens, in file order.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Reads a tokens file: a regular file of at most [`MAX_TOKENS_FILE_BYTES`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TokensError> {
        let path = path.as_ref();
        let io = |source| TokensError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        if meta.len() > MAX_TOKENS_FILE_BYTES {
            return Err(TokensError::TooLarge {
                path: path.to_path_buf(),
                limit: MAX_TOKENS_FILE_BYTES,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::from_json(&text)
    }

    /// Parses the JSON of a tokens file.
    pub fn from_json(text: &str) -> Result<Self, TokensError> {
        let file: File = serde_json::from_str(text).map_err(TokensError::Syntax)?;
        let mut out = Tokens::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
            let label = if t.name.trim().is_empty() {
                format!("#{}", i + 1)
            } else {
                t.name.clone()
            };
            let invalid = |detail: String| TokensError::Invalid {
                token: label.clone(),
                detail,
            };
            if t.name.trim().is_empty() {
                return Err(invalid("every token needs a 'name'".into()));
            }
            if out.grants.iter().any(|g| g.name == t.name) {
                return Err(invalid("the name is used by another token".into()));
            }
            let mut grant = Grant::new(t.name.clone(), &t.sha256)?;
            if out.grants.iter().any(|g| g.digest == grant.digest) {
                return Err(invalid("the same token is listed twice".into()));
            }
            grant.tenants = match t.tenants {
                TenantsField::All(s) if s == "*" => TenantScope::All,
                TenantsField::All(_) => {
                    return Err(invalid(
                        "'tenants' must be a list of tenant names or \"*\"".into(),
                    ));
                }
                TenantsField::Only(list) => {
                    for name in &list {
                        if !valid_tenant(name) {
                            return Err(invalid(format!(
                                "tenant '{}' cannot be addressed: a tenant is \"\" or \
                                 path segments joined by '/', none empty or 'v2'",
                                name.escape_debug()
                            )));
                        }
                    }
                    TenantScope::Only(list.into_iter().collect())
                }
            };
            let mut policy = t.preset.map_or(Policy::deny_all(), Policy::preset);
            for (name, access) in t.rules {
                let rule = Rule::from_name(&name).ok_or_else(|| {
                    invalid(format!(
                        "unknown rule '{}' (rules are named like scim:list_users)",
                        name.escape_debug()
                    ))
                })?;
                policy = policy.set(rule, access);
            }
            grant.policy = policy;
            out.grants.push(grant);
        }
        if out.grants.is_empty() {
            return Err(TokensError::Invalid {
                token: "-".into(),
                detail: "the file lists no token".into(),
            });
        }
        Ok(out)
    }
}

fn valid_tenant(name: &str) -> bool {
    name.is_empty()
        || name
            .split('/')
            .all(|s| !s.is_empty() && s != "v2" && !s.chars().any(char::is_control))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    tenants: TenantsField,
    #[serde(default)]
    preset: Option<Preset>,
    #[serde(default)]
    rules: std::collections::BTreeMap<String, Access>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TenantsField {
    All(String),
    Only(Vec<String>),
}

/// Errors of reading a tokens file. They name the token by its `name`, never quote a
/// digest or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokensError {
    /// The file could not be read.
    #[error("cannot read the tokens file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than a tokens file can be.
    #[error("the tokens file {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The file is not JSON of the documented shape.
    #[error("the tokens file is not valid: {0}")]
    Syntax(#[source] serde_json::Error),
    /// One token's entry is not usable.
    #[error("token '{token}' in the tokens file: {detail}")]
    Invalid {
        /// The token's name (or `#n`, its place in the file).
        token: String,
        /// What is wrong.
        detail: String,
    },
}

/// The SHA-256 digest of a token as the server compares it: surrounding whitespace is not
/// part of a token (a header value's is not either).
pub(crate) fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.trim().as_bytes()).into()
}

/// The lower-case hex SHA-256 of `token` (surrounding whitespace removed): the `sha256`
/// of a tokens file entry.
pub fn digest_hex(token: &str) -> String {
    use std::fmt::Write as _;
    digest(token)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The credentials of a running server: the `bearer_token` as a grant of every tenant and
/// rule, the tokens file's grants, and the tenants that accept `X-Auth-Token`.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    pub(crate) grants: Vec<Grant>,
    /// A tokens file (or `tokens`) was given: discovery reports the caller's own rules.
    pub(crate) declared: bool,
    pub(crate) x_auth_token_tenants: BTreeSet<String>,
}

impl Credentials {
    /// Whether requests need a credential at all: with a bearer token or with tokens, even
    /// an empty set of them (which lets no one in rather than everyone).
    pub(crate) fn required(&self) -> bool {
        self.declared || !self.grants.is_empty()
    }

    /// The grant whose token the request carries: `Authorization: Bearer`, or
    /// `X-Auth-Token` on a tenant configured for it. Every grant's digest is compared, in
    /// constant time, whichever matches.
    pub(crate) fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
        tenant: &str,
    ) -> Option<usize> {
        use subtle::{ConditionallySelectable as _, ConstantTimeEq as _};
        let given = match headers.get(axum::http::header::AUTHORIZATION) {
            Some(h) => {
                let (scheme, given) = h.to_str().ok()?.split_once(' ')?;
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return None;
                }
                given
            }
            None if self.x_auth_token_tenants.contains(tenant) => {
                headers.get("x-auth-token")?.to_str().ok()?
            }
            None => return None,
        };
        let given = digest(given);
        let mut found = u32::MAX;
        for (i, g) in self.grants.iter().enumerate() {
            let eq = g.digest.ct_eq(&given);
            found.conditional_assign(&(i as u32), eq);
        }
        (found != u32::MAX).then_some(found as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_round_trip_and_are_distinct() {
        let names: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Rule::ALL.len());
        for r in Rule::ALL {
            assert_eq!(Rule::from_name(r.name()), Some(r));
        }
        assert_eq!(Rule::from_name("scim:list_users"), Some(Rule::ListUsers));
    }

    #[test]
    fn presets_nest_and_differ() {
        let ro = Policy::preset(Preset::ReadOnly);
        let rw = Policy::preset(Preset::ReadWrite);
        let admin = Policy::preset(Preset::Admin);
        for r in Rule::ALL {
            assert_eq!(ro.allows(r), r.is_read(), "{r}");
            assert!(!ro.allows(r) || rw.allows(r), "{r}");
            assert!(admin.allows(r), "{r}");
        }
        assert!(rw.allows(Rule::DeleteUser) && rw.allows(Rule::UpdateGroup));
        assert!(!rw.allows(Rule::CreateRole) && rw.allows(Rule::ListRoles));
    }

    #[test]
    fn a_file_is_parsed_with_presets_and_overrides() {
        let d = digest_hex("t1");
        let d2 = digest_hex("t2").to_uppercase();
        let t = Tokens::from_json(&format!(
            r#"{{"tokens":[
              {{"name":"a","sha256":"{d}","tenants":["a",""],"preset":"read-only",
                "rules":{{"scim:create_user":"allow","scim:get_schemas":"deny"}}}},
              {{"name":"b","sha256":"{d2}","tenants":"*"}}]}}"#
        ))
        .unwrap();
        let a = &t.grants()[0];
        assert!(a.policy.allows(Rule::CreateUser) && !a.policy.allows(Rule::GetSchemas));
        assert!(a.tenants.contains("") && a.tenants.contains("a") && !a.tenants.contains("b"));
        let b = &t.grants()[1];
        assert!(b.tenants.contains("anything"));
        assert!(Rule::ALL.iter().all(|r| !b.policy.allows(*r)));
        assert_eq!(b.digest, digest("t2"));
    }

    #[test]
    fn bad_files_are_refused_without_quoting_the_digest_or_token() {
        let d = digest_hex("t1");
        for (text, needle) in [
            (r#"{"tokens":[]}"#.to_string(), "no token"),
            (
                r#"{"tokens":[{"name":"a","sha256":"my-clear-token","tenants":"*"}]}"#.into(),
                "64 hex digits",
            ),
            (
                format!(
                    r#"{{"tokens":[{{"name":"a","sha256":"{d}","tenants":"*","rules":{{"scim:nope":"allow"}}}}]}}"#
                ),
                "unknown rule",
            ),
            (
                format!(
                    r#"{{"tokens":[{{"name":"a","sha256":"{d}","tenants":"*"}},{{"name":"b","sha256":"{d}","tenants":"*"}}]}}"#
                ),
                "twice",
            ),
            (
                format!(r#"{{"tokens":[{{"name":"a","sha256":"{d}","tenants":["x/v2"]}}]}}"#),
                "cannot be addressed",
            ),
            (
                format!(r#"{{"tokens":[{{"name":"a","sha256":"{d}","tenants":"all"}}]}}"#),
                "\"*\"",
            ),
            (
                format!(r#"{{"tokens":[{{"name":"a","sha256":"{d}","tenants":"*","extra":1}}]}}"#),
                "unknown field",
            ),
        ] {
            let e = Tokens::from_json(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains("my-clear-token") && !e.contains(&d), "{e}");
        }
    }

    #[test]
    fn debug_never_shows_a_digest() {
        let g = Grant::for_token("n", "secret-token").all_tenants();
        let shown = format!("{g:?} {:?}", Tokens::new().grant(g.clone()));
        assert!(!shown.contains("digest"), "{shown}");
        let first = digest("secret-token")[0];
        assert!(!shown.contains(&format!("[{first},")), "{shown}");
        assert!(!shown.contains("secret-token"));
    }
}
