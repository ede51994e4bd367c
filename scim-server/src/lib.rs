//! `scim-server`: an embeddable in-memory SCIM 2.0 service provider (RFC 7643/7644) on
//! axum and tokio — the embedded default target, a CoreWeave stand-in, and a fault
//! injector for tests.
//!
//! Start it on any address (port 0 in tests), talk to it over real HTTP, inspect what it
//! saw, and stop it:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), scim_server::Error> {
//! use scim_server::{Profile, ResourceKind, ScimServer};
//! let server = ScimServer::builder()
//!     .bearer_token(Some("secret"))
//!     .profile(Profile::CoreWeave)
//!     .start("127.0.0.1:0")
//!     .await?;
//! let base = server.base_url(); // http://127.0.0.1:PORT/v2 (the default tenant)
//! let isolated = server.tenant_url("test-42"); // http://127.0.0.1:PORT/test-42/v2
//! // seed a record the syncer does not manage, then read the store directly
//! server.tenant("test-42").seed(ResourceKind::User, serde_json::json!({"userName": "legacy"}))?;
//! assert_eq!(server.tenant("test-42").users().len(), 1);
//! assert!(server.requests().is_empty());
//! # let _ = (base, isolated);
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Layout: [`schema`] (attribute definitions, type checks), [`filter`] (the full filter
//! grammar), `patch` (PATCH engine), `store` (one tenant's records and indexes),
//! [`faults`] (seeded fault injection), [`policy`] (tokens, their tenants and their
//! per-operation rules), `http` (routing and handlers).
//!
//! Resources: `/Users`, `/Groups` and `/Roles` (schema [`schema::ROLE`]; users hold roles by
//! name in their core `roles` attribute, and a held role is deleted only with
//! `?force=true`).
//!
//! Tenants: `/v2/...` is the default tenant (`""`), `/{name}/v2/...` (any number of path
//! segments before `v2`) is tenant `name`; tenants are created on first use, each with its
//! own store.

mod error;
pub mod faults;
pub mod filter;
mod http;
mod patch;
pub mod policy;
pub mod schema;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{Error, ScimError};

/// The parsers that read untrusted request text, callable without a running server: the
/// entry points of the fuzz targets (`scim-server/fuzz`) and of their corpus-replay tests.
/// Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::{Map, Value};

    use crate::ResourceKind;

    /// Parses a PATCH `path` the way `PATCH /Users/{id}` does.
    pub fn patch_path(kind: ResourceKind, path: &str) -> Result<(), crate::ScimError> {
        crate::patch::parse_path(kind, path).map(|_| ())
    }

    /// Parses a PATCH request body and applies it to `record` the way `PATCH` does; returns
    /// the number of operations applied.
    pub fn patch_apply(
        kind: ResourceKind,
        body: &Value,
        record: &mut Map<String, Value>,
    ) -> Result<usize, crate::ScimError> {
        let ops = crate::patch::parse_request(kind, body)?;
        crate::patch::apply(kind, record, &ops)?;
        Ok(ops.len())
    }
}
pub use faults::FaultPlan;
pub use schema::ResourceKind;

use store::TenantData;

/// Which service provider to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Plain RFC 7643/7644 behaviour (nested groups allowed).
    #[default]
    Rfc,
    /// What is known of CoreWeave IAM: groups may not contain groups (400), the legacy
    /// default group names (`admin`, `metrics`, `read`, `write`, `billing_viewer`) are
    /// refused (409), pages are capped at 50 unless [`ScimServerBuilder::max_page_size`]
    /// says otherwise.
    CoreWeave,
}

/// Configuration of a server (see [`ScimServer::builder`]).
#[derive(Debug)]
pub struct ScimServerBuilder {
    token: Option<SecretString>,
    tokens: Option<policy::Tokens>,
    tokens_file: Option<PathBuf>,
    x_auth_token_tenants: BTreeSet<String>,
    profile: Profile,
    max_page_size: Option<usize>,
    cursor_paging: Option<bool>,
    patch_no_content: bool,
    public_discovery: bool,
    faults: FaultPlan,
    persist: Option<PathBuf>,
    seed: u64,
    log_capacity: usize,
    limits: Limits,
}

/// What one client can make the server spend: connections, time and bytes.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Entry point: `ScimServer::builder()...start(addr)`.
#[derive(Debug)]
pub struct ScimServer;

impl ScimServer {
    /// A builder with the defaults: no authentication, RFC profile, pages of at most 1000,
    /// PATCH answers 200, discovery endpoints public, no faults, no persistence.
    pub fn builder() -> ScimServerBuilder {
        ScimServerBuilder {
            token: None,
            tokens: None,
            tokens_file: None,
            x_auth_token_tenants: BTreeSet::new(),
            profile: Profile::Rfc,
            max_page_size: None,
            cursor_paging: None,
            patch_no_content: false,
            public_discovery: true,
            faults: FaultPlan::default(),
            persist: None,
            seed: 0x5c1a_5e7e,
            log_capacity: 100_000,
            limits: Limits::default(),
        }
    }
}

impl ScimServerBuilder {
    /// Require `Authorization: Bearer <token>` (`None`: no authentication). This token
    /// opens every tenant and every operation; [`tokens`](Self::tokens) adds scoped ones.
    pub fn bearer_token<T: Into<SecretString>>(mut self, token: Option<T>) -> Self {
        self.token = token.map(Into::into);
        self
    }
    /// Tokens with tenants and per-operation rules (see [`policy`]), beside the
    /// [`bearer_token`](Self::bearer_token) if there is one. With tokens, the
    /// `ServiceProviderConfig` a token reads also tells it its own rules.
    pub fn tokens(mut self, tokens: policy::Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }
    /// Read the tokens from this JSON file when the server starts (the binary's
    /// `--tokens FILE`; the format is in [`policy`]). A file that cannot be read or is not
    /// valid fails [`start`](Self::start) with [`Error::Tokens`].
    pub fn tokens_file(mut self, path: impl AsRef<Path>) -> Self {
        self.tokens_file = Some(path.as_ref().to_path_buf());
        self
    }
    /// Accept the token in an `X-Auth-Token` header (the SCIM 1.1 / OpenStack Keystone
    /// way) as well as in `Authorization: Bearer`, on tenant `name` (`""`: the default
    /// tenant). May be called for several tenants.
    pub fn accept_x_auth_token(mut self, tenant: impl Into<String>) -> Self {
        self.x_auth_token_tenants.insert(tenant.into());
        self
    }
    /// The profile to imitate.
    pub fn profile(mut self, p: Profile) -> Self {
        self.profile = p;
        self
    }
    /// The largest page a list returns (`count` above it is capped).
    pub fn max_page_size(mut self, n: usize) -> Self {
        self.max_page_size = Some(n.max(1));
        self
    }
    /// Whether lists are served by RFC 9865 cursor (`cursor`, `nextCursor`) besides
    /// `startIndex`, and `/ServiceProviderConfig` says so in `pagination`. Default: on for
    /// [`Profile::Rfc`]; off for [`Profile::CoreWeave`], whose target is not known to serve
    /// cursors (without it, a `cursor` parameter is ignored, as unknown parameters are).
    pub fn cursor_paging(mut self, yes: bool) -> Self {
        self.cursor_paging = Some(yes);
        self
    }
    /// Answer successful PATCH requests with 204 and no body instead of 200.
    pub fn patch_returns_no_content(mut self, yes: bool) -> Self {
        self.patch_no_content = yes;
        self
    }
    /// Whether discovery endpoints answer without a token (default true).
    pub fn public_discovery(mut self, yes: bool) -> Self {
        self.public_discovery = yes;
        self
    }
    /// Fault injection plan.
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }
    /// Load the store from this JSON file at start (if it exists) and save it there at
    /// shutdown (and on [`ServerHandle::save`]).
    pub fn persist(mut self, path: impl AsRef<Path>) -> Self {
        self.persist = Some(path.as_ref().to_path_buf());
        self
    }
    /// Seed of the id generator (ids are deterministic per tenant for a seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// How many requests the request log keeps (oldest dropped first; default 100 000).
    /// Each entry is bounded (method, status, path and query cut to a few KiB).
    pub fn request_log_capacity(mut self, n: usize) -> Self {
        self.log_capacity = n;
        self
    }
    /// The most connections served at once (default 1024); more wait to be accepted.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }
    /// How long a connection may wait for a request's headers, kept-alive connections
    /// between requests included, before it is closed (default 60 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        // zero would close every connection before its first request
        self.limits.idle_timeout = d.max(Duration::from_millis(100));
        self
    }
    /// How long a request body may take to arrive (default 30 s; then 408).
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.limits.body_timeout = d;
        self
    }
    /// The largest request body accepted (default 2 MiB; larger is 413).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.limits.max_body_bytes = n;
        self
    }

    /// Bind `addr` (e.g. `"127.0.0.1:0"`) and serve until [`ServerHandle::shutdown`].
    pub async fn start(self, addr: &str) -> Result<ServerHandle, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let app = self.app(format!("http://{local}"))?;
        let (tx, rx) = watch::channel(false);
        let join = tokio::spawn(http::serve(listener, app.clone(), rx));
        tracing::info!(%local, "scim-server listening");
        Ok(ServerHandle {
            state: ServerState { app },
            addr: local,
            shutdown: tx,
            join,
        })
    }

    /// The server as an axum [`Router`](axum::Router), without a socket: to mount in another
    /// axum application, or to drive request by request (it is a `tower` service).
    /// `origin` is where clients reach the router's root (scheme, authority and the path it
    /// is mounted at: `http://host:port/scim`), for `meta.location`; below it, tenants are
    /// routed by path as in [`start`](Self::start). Loads the
    /// persistence file, if any; saving is the caller's ([`ServerState::save`]). Connection
    /// limits and timeouts are the hosting server's, and without a connection to drop, the
    /// `DropConnection` and `ResponseLost` faults answer 500.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), scim_server::Error> {
    /// let (router, state) =
    ///     scim_server::ScimServer::builder().router("http://scim.internal/scim")?;
    /// let app = axum::Router::new().nest("/scim", router);
    /// assert!(state.requests().is_empty());
    /// # let _ = app;
    /// # Ok(()) }
    /// ```
    pub fn router(self, origin: &str) -> Result<(axum::Router, ServerState), Error> {
        let app = self.app(origin.trim_end_matches('/').to_string())?;
        Ok((http::router(app.clone()), ServerState { app }))
    }

    fn app(self, origin: String) -> Result<Arc<App>, Error> {
        let mut credentials = policy::Credentials {
            x_auth_token_tenants: self.x_auth_token_tenants,
            ..policy::Credentials::default()
        };
        if let Some(t) = &self.token {
            use secrecy::ExposeSecret as _;
            credentials.grants.push(
                policy::Grant::for_token("bearer", t.expose_secret())
                    .all_tenants()
                    .policy(policy::Policy::allow_all()),
            );
        }
        let mut declared = self.tokens.into_iter().collect::<Vec<_>>();
        if let Some(path) = &self.tokens_file {
            declared.push(policy::Tokens::load(path)?);
        }
        for t in declared {
            credentials.declared = true;
            for g in t.grants {
                if credentials.grants.iter().any(|h| h.digest == g.digest) {
                    return Err(policy::TokensError::Invalid {
                        token: g.name,
                        detail:
                            "the same token is given twice (in the tokens or as the bearer token)"
                                .into(),
                    }
                    .into());
                }
                credentials.grants.push(g);
            }
        }
        let max_page_size = self.max_page_size.unwrap_or(match self.profile {
            Profile::Rfc => 1000,
            Profile::CoreWeave => 50,
        });
        let app = Arc::new(App {
            config: Config {
                credentials,
                profile: self.profile,
                max_page_size,
                cursor_paging: self.cursor_paging.unwrap_or(self.profile == Profile::Rfc),
                patch_no_content: self.patch_no_content,
                public_discovery: self.public_discovery,
                seed: self.seed,
                limits: self.limits,
            },
            faults: self.faults,
            tenants: RwLock::new(HashMap::new()),
            log: Mutex::new(RequestLog {
                capacity: self.log_capacity,
                ..RequestLog::default()
            }),
            origin,
            persist: self.persist,
        });
        if let Some(path) = &app.persist {
            app.load(path)?;
        }
        Ok(app)
    }
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) credentials: policy::Credentials,
    pub(crate) profile: Profile,
    pub(crate) max_page_size: usize,
    /// RFC 9865 cursor paging served and advertised.
    pub(crate) cursor_paging: bool,
    pub(crate) patch_no_content: bool,
    pub(crate) public_discovery: bool,
    pub(crate) seed: u64,
    pub(crate) limits: Limits,
}

/// One tenant: its own store.
#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) data: RwLock<TenantData>,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, including the tenant prefix (e.g. `/t1/v2/Users/abc`).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Tenant name (`""` for the default tenant).
    pub tenant: String,
    /// Status answered; `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// The injected fault that shaped the answer, if any (its `Debug` form).
    pub fault: Option<String>,
    /// The policy rule that decided the request, for a request that carried a valid
    /// token (`None` without authentication, or for public discovery).
    pub policy: Option<PolicyDecision>,
}

/// Which token (by its name, never its value) a policy rule allowed or denied a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyDecision {
    /// The token's name (`bearer` for the [`ScimServerBuilder::bearer_token`]).
    pub token: String,
    /// The rule that decided.
    pub rule: policy::Rule,
    /// Whether it allowed the request.
    pub allowed: bool,
}

/// How much of a request's path and query the log keeps: enough to tell requests apart,
/// never so much that a client can fill the server's memory through the log.
pub(crate) const LOGGED_PATH_BYTES: usize = 512;
const LOGGED_QUERY_BYTES: usize = 2048;

impl RequestRecord {
    /// A bounded summary of a request: the method from a fixed set (anything else is
    /// `OTHER`), the path and query cut to a few KiB.
    pub(crate) fn summary(method: &axum::http::Method, path: &str, query: Option<&str>) -> Self {
        Self {
            method: method_label(method).to_string(),
            path: truncated(path, LOGGED_PATH_BYTES),
            query: query.map(|q| truncated(q, LOGGED_QUERY_BYTES)),
            tenant: String::new(),
            status: None,
            fault: None,
            policy: None,
        }
    }

    /// Drops the query (a request without a valid credential keeps its path only).
    pub(crate) fn forget_query(&mut self) {
        self.query = None;
    }
}

/// The method as logged and counted: one of a fixed set, so that the per-method counters
/// cannot grow with whatever methods clients invent.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    capacity: usize,
    entries: std::collections::VecDeque<RequestRecord>,
    total: u64,
    counts: HashMap<(String, Option<u16>), u64>,
}

impl RequestLog {
    pub(crate) fn push(&mut self, r: RequestRecord) {
        self.total += 1;
        *self.counts.entry((r.method.clone(), r.status)).or_default() += 1;
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(r);
    }
}

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) faults: FaultPlan,
    pub(crate) tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    pub(crate) log: Mutex<RequestLog>,
    /// `http://host:port`
    pub(crate) origin: String,
    persist: Option<PathBuf>,
}

impl App {
    pub(crate) fn tenant(&self, name: &str) -> Arc<Tenant> {
        if let Some(t) = self.tenants.read().expect("tenants lock").get(name) {
            return t.clone();
        }
        let mut map = self.tenants.write().expect("tenants lock");
        map.entry(name.to_string())
            .or_insert_with(|| {
                let mut h = self.config.seed;
                for b in name.bytes() {
                    h = h.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(b));
                }
                Arc::new(Tenant {
                    data: RwLock::new(TenantData::new(h)),
                })
            })
            .clone()
    }

    /// `http://host:port[/tenant]/v2`
    pub(crate) fn tenant_base(&self, name: &str) -> String {
        if name.is_empty() {
            format!("{}/v2", self.origin)
        } else {
            format!("{}/{name}/v2", self.origin)
        }
    }

    fn load(&self, path: &Path) -> Result<(), Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::PersistIo {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::PersistFormat {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(tenants) = v.get("tenants").and_then(Value::as_object) {
            for (name, data) in tenants {
                let t = self.tenant(name);
                t.data.write().expect("store lock").load_json(data)?;
            }
        }
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<(), Error> {
        let tenants: serde_json::Map<String, Value> = self
            .tenants
            .read()
            .expect("tenants lock")
            .iter()
            .map(|(k, t)| (k.clone(), t.data.read().expect("store lock").to_json()))
            .collect();
        let doc = serde_json::json!({"version": 1, "tenants": tenants});
        let io = |source| Error::PersistIo {
            path: path.to_path_buf(),
            source,
        };
        // A fresh temporary file beside the store, created exclusively (never through a
        // symlink someone left in the way) and readable by its owner only (mode 0600), then
        // renamed over the store: a crash leaves the old store or the new one, whole.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".store-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        serde_json::to_writer_pretty(&mut tmp, &doc).map_err(|e| io(e.into()))?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    state: ServerState,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// What the server holds and saw: its tenants, its request log.
    pub fn state(&self) -> &ServerState {
        &self.state
    }
    /// Base URL of the default tenant, e.g. `http://127.0.0.1:PORT/v2`.
    pub fn base_url(&self) -> String {
        self.state.base_url()
    }
    /// Base URL of tenant `name`, e.g. `http://127.0.0.1:PORT/name/v2`.
    pub fn tenant_url(&self, name: &str) -> String {
        self.state.tenant_url(name)
    }
    /// Direct access to the store of tenant `name` (`""` is the default tenant).
    pub fn tenant(&self, name: &str) -> TenantHandle {
        self.state.tenant(name)
    }
    /// Direct access to the default tenant's store.
    pub fn default_tenant(&self) -> TenantHandle {
        self.state.default_tenant()
    }
    /// The request log (oldest first, bounded by the log capacity).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }
    /// Forget the logged requests (counters too).
    pub fn clear_requests(&self) {
        self.state.clear_requests()
    }
    /// Requests served since start (or the last clear), whatever the log capacity.
    pub fn request_total(&self) -> u64 {
        self.state.request_total()
    }
    /// How many requests had this method and status (`None`: dropped connection).
    pub fn count(&self, method: &str, status: Option<u16>) -> u64 {
        self.state.count(method, status)
    }
    /// The fault plan (with firing counts per rule).
    pub fn faults(&self) -> &FaultPlan {
        self.state.faults()
    }
    /// Save the store to the persistence file now (no-op without one).
    pub fn save(&self) -> Result<(), Error> {
        self.state.save()
    }
    /// Stop accepting, let in-flight requests finish (at most 5 s), save if persisting.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.join).await;
        self.state.save()
    }
}

/// A server's state, with or without a socket (see [`ScimServerBuilder::router`]): its
/// tenants' stores and its request log. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    app: Arc<App>,
}

impl std::fmt::Debug for ServerState {
    /// Where it serves and how many tenants it holds; never their records.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("origin", &self.app.origin)
            .field("tenants", &self.app.tenants.read().map_or(0, |t| t.len()))
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// Base URL of the default tenant, e.g. `http://127.0.0.1:PORT/v2`.
    pub fn base_url(&self) -> String {
        self.app.tenant_base("")
    }
    /// Base URL of tenant `name`, e.g. `http://127.0.0.1:PORT/name/v2`.
    pub fn tenant_url(&self, name: &str) -> String {
        self.app.tenant_base(name)
    }
    /// Direct access to the store of tenant `name` (`""` is the default tenant).
    pub fn tenant(&self, name: &str) -> TenantHandle {
        TenantHandle {
            tenant: self.app.tenant(name),
        }
    }
    /// Direct access to the default tenant's store.
    pub fn default_tenant(&self) -> TenantHandle {
        self.tenant("")
    }
    /// The request log (oldest first, bounded by the log capacity).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app
            .log
            .lock()
            .expect("log lock")
            .entries
            .iter()
            .cloned()
            .collect()
    }
    /// Forget the logged requests (counters too).
    pub fn clear_requests(&self) {
        let mut log = self.app.log.lock().expect("log lock");
        log.entries.clear();
        log.counts.clear();
        log.total = 0;
    }
    /// Requests served since start (or the last clear), whatever the log capacity.
    pub fn request_total(&self) -> u64 {
        self.app.log.lock().expect("log lock").total
    }
    /// How many requests had this method and status (`None`: dropped connection).
    pub fn count(&self, method: &str, status: Option<u16>) -> u64 {
        self.app
            .log
            .lock()
            .expect("log lock")
            .counts
            .get(&(method.to_ascii_uppercase(), status))
            .copied()
            .unwrap_or(0)
    }
    /// The fault plan (with firing counts per rule).
    pub fn faults(&self) -> &FaultPlan {
        &self.app.faults
    }
    /// Save the store to the persistence file now (no-op without one).
    pub fn save(&self) -> Result<(), Error> {
        match &self.app.persist {
            Some(p) => self.app.save(p),
            None => Ok(()),
        }
    }
}

/// Direct access to one tenant's store, for tests: seed records, read state.
#[derive(Debug, Clone)]
pub struct TenantHandle {
    tenant: Arc<Tenant>,
}

impl TenantHandle {
    /// Insert a record as given, bypassing validation (for unmanaged or odd records):
    /// `id`, `schemas` and `meta` are filled in when missing. Returns the stored record.
    pub fn seed(&self, kind: ResourceKind, record: Value) -> Result<Value, Error> {
        Ok(self
            .tenant
            .data
            .write()
            .expect("store lock")
            .seed(kind, record)?)
    }
    /// Create a record the way `POST` does (validated, profile rules applied).
    pub fn create(
        &self,
        kind: ResourceKind,
        body: Value,
        profile: Profile,
    ) -> Result<Value, Error> {
        Ok(self
            .tenant
            .data
            .write()
            .expect("store lock")
            .create(kind, body, profile)?)
    }
    /// Every stored user, in creation order (as stored: no `meta.location`).
    pub fn users(&self) -> Vec<Value> {
        self.all(ResourceKind::User)
    }
    /// Every stored group, in creation order.
    pub fn groups(&self) -> Vec<Value> {
        self.all(ResourceKind::Group)
    }
    /// Every stored role, in creation order.
    pub fn roles(&self) -> Vec<Value> {
        self.all(ResourceKind::Role)
    }
    /// Every stored record of `kind`.
    pub fn all(&self, kind: ResourceKind) -> Vec<Value> {
        self.tenant.data.read().expect("store lock").all(kind)
    }
    /// The record `id`.
    pub fn get(&self, kind: ResourceKind, id: &str) -> Option<Value> {
        self.tenant
            .data
            .read()
            .expect("store lock")
            .get(kind, id)
            .cloned()
    }
    /// How many records of `kind` are stored.
    pub fn len(&self, kind: ResourceKind) -> usize {
        self.tenant
            .data
            .read()
            .expect("store lock")
            .coll(kind)
            .len()
    }
    /// True when the tenant stores nothing.
    pub fn is_empty(&self) -> bool {
        ResourceKind::ALL.iter().all(|k| self.len(*k) == 0)
    }
    /// Delete everything.
    pub fn clear(&self) {
        self.tenant.data.write().expect("store lock").clear();
    }
}
