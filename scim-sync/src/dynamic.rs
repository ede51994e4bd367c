//! Settings read at run time from the `SCIMConfig` Kubernetes resource, with the static
//! configuration (flags, environment, ConfigMap) as the fallback.
//!
//! At the start of a run the syncer reads the namespaced custom resource
//! `scimconfigs.scim.parallel.works/v1alpha1` named [`LookupOptions::name`] (`default`) with
//! [`lookup`]. Each field set in its `spec` overrides the static value; absent (or `null`)
//! fields keep it. [`merge`] combines the two into [`EffectiveSettings`], where every setting
//! carries its [`SettingSource`] for the log and the JSON report.
//!
//! The lookup never fails the run:
//! - turned off (`--no-dynamic-settings`), or outside a cluster with no kubeconfig →
//!   [`Lookup::Skipped`] (logged at debug only);
//! - RBAC denied, resource not found, a network error, a timeout, an unreadable kubeconfig or
//!   a malformed spec → [`Lookup::Fallback`] with the reason, logged as a warning.
//!
//! A malformed spec falls back as a whole (no field of it is used) and the reason names every
//! malformed field, so a half-applied resource never surprises an operator.
//!
//! The resource's type is [`DynamicOverrides`] (a kube `CustomResource`): the CRD in `k8s/` is
//! generated from it ([`crd`]) and read through it, after a check that names every malformed
//! field.
//!
//! On the wire: one `GET /apis/scim.parallel.works/v1alpha1/namespaces/{ns}/scimconfigs/{name}`
//! (the Role in `k8s/rbac.yaml` allows exactly that) through the workspace's one request loop
//! ([`http_transport::Transport`]): at most three attempts on 429, 503, 504 or no answer, with
//! its backoff and `Retry-After`, the answer bounded to 1 MiB. The configuration comes from
//! [`kube::Config::infer`] (`KUBECONFIG` or `~/.kube/config` when present, else the in-cluster
//! service account), or from [`LookupOptions::kubeconfig`]: the cluster's CA, a bearer token
//! (inline or its file, which a pod's rotates), basic auth or a client certificate, and
//! impersonation. A user that authenticates through an exec plugin or an auth provider falls
//! back with a message saying so: the syncer runs no plugin. A kubeconfig YAML error is
//! reported without its text, which quotes the file (credentials included).
//!
//! ```no_run
//! # async fn run() {
//! use scim_sync::Policy;
//! use scim_sync::dynamic::{LookupOptions, resolve};
//! let configured = Policy { max_deactivations: Some(25), ..Policy::default() };
//! let opts = LookupOptions {
//!     namespace: std::env::var("POD_NAMESPACE").ok(),
//!     ..LookupOptions::default()
//! };
//! // logs every effective setting and its source; never fails
//! let effective = resolve(&configured, false, &opts).await;
//! println!("{}", effective.settings);
//! let policy = effective.policy; // for the Reconciler
//! # let _ = policy;
//! # }
//! ```

use std::error::Error as StdError;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Config, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use http_transport::{
    Exchange, Pacer, Replay, Response, RetryPolicy, SendError, Transport, error_chain,
    escape_controls,
};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use scim_diff::Policy;
use secrecy::ExposeSecret;

/// API group of the settings resource.
pub const GROUP: &str = "scim.parallel.works";
/// API version of the settings resource.
pub const VERSION: &str = "v1alpha1";
/// Kind of the settings resource.
pub const KIND: &str = "SCIMConfig";
/// Plural (URL path segment) of the settings resource.
pub const PLURAL: &str = "scimconfigs";
/// Name of the settings resource read by default.
pub const DEFAULT_NAME: &str = "default";
/// Default bound on the whole lookup (configuration, connection, request and answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `spec` of the `SCIMConfig` resource: run-time overrides of the syncer's static
/// settings. `None` means the field is absent and the static value is kept.
///
/// This type is the resource's definition: `cargo xtask k8s` writes the CRD in `k8s/` from it
/// ([`crd`]), and CI fails when the checked-in YAML differs. The resource is read with the
/// CRD's camelCase names; the run's report writes the snake_case names of its other fields.
#[derive(
    CustomResource, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "scim.parallel.works",
    version = "v1alpha1",
    kind = "SCIMConfig",
    root = "ScimConfig",
    plural = "scimconfigs",
    shortname = "scimcfg",
    namespaced,
    doc = "Settings that operators can flip at run time, without redeploying the syncer.",
    printcolumn = r#"{"name": "Users", "type": "boolean", "jsonPath": ".spec.enableUserSync"}"#,
    printcolumn = r#"{"name": "Groups", "type": "boolean", "jsonPath": ".spec.enableGroupSync"}"#,
    printcolumn = r#"{"name": "Dry-run", "type": "boolean", "jsonPath": ".spec.dryRun"}"#,
    printcolumn = r#"{"name": "Approved", "type": "boolean", "jsonPath": ".spec.allowMassChanges"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all(serialize = "snake_case", deserialize = "camelCase"))]
#[schemars(
    description = "Run-time overrides of the syncer's static settings. Every field is \
                          optional; an absent field keeps the static value."
)]
pub struct DynamicOverrides {
    /// Create, update, deactivate and reactivate users. false skips the user half entirely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_user_sync: Option<bool>,
    /// Create and rename groups and manage their members. false skips the group half entirely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_group_sync: Option<bool>,
    /// Keep members the syncer does not manage in the groups it manages (default: remove them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_non_provisioned_users: Option<bool>,
    /// The inverse of allowNonProvisionedUsers, under the name Grafana's SCIM settings use
    /// (true: remove the members the syncer does not manage). allowNonProvisionedUsers wins
    /// when both are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_non_provisioned_users: Option<bool>,
    /// Hard scope by ACTIVATE group name (exact match). Empty means every group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_groups: Option<Vec<String>>,
    /// Refuse a run that would deactivate more users than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "count_schema")]
    pub max_deactivations: Option<u32>,
    /// Take over existing accounts that hold a wanted userName and have no externalId (or an allowed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt_existing_users: Option<bool>,
    /// Take over existing groups that have a source group's name and no externalId (or an allowed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt_existing_groups: Option<bool>,
    /// Plan only, write nothing, for as long as it is true (a pause switch). false does not
    /// turn a run started with --dry-run into a real one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// A one-shot approval of a change that a safety limit refuses: the next run that plans
    /// and is not a dry run applies it and removes this field, whether it needed it or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_mass_changes: Option<bool>,
}

/// A count in the CRD: a whole number from 0 to `u32::MAX` (the API server refuses anything
/// else before the syncer sees it).
fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": 0,
        "maximum": u32::MAX,
        "nullable": true,
    })
}

/// The `SCIMConfig` CustomResourceDefinition, from [`DynamicOverrides`].
pub fn crd() -> CustomResourceDefinition {
    ScimConfig::crd()
}

/// A `spec` that could not be used, naming every malformed field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedSpec {
    /// One entry per problem, each starting with the field name (e.g.
    /// `enableUserSync: expected a boolean, got a string`).
    pub problems: Vec<String>,
}

impl fmt::Display for MalformedSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed spec: {}", self.problems.join("; "))
    }
}

impl StdError for MalformedSpec {}

impl DynamicOverrides {
    /// Reads the overrides from a resource's `spec` (`None` or `null`: nothing set).
    /// Field names are those of the CRD (`enableUserSync`, ...); unknown fields are ignored
    /// (the API server prunes them anyway). A malformed spec names every malformed field.
    pub fn from_spec(spec: Option<&Value>) -> Result<Self, MalformedSpec> {
        let map = match spec {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(MalformedSpec {
                    problems: vec![format!("spec: expected an object, got {}", kind_of(other))],
                });
            }
        };
        let problems = problems_in(map);
        if !problems.is_empty() {
            return Err(MalformedSpec { problems });
        }
        // the checks above name each field; the type itself is the parser
        Self::deserialize(&Value::Object(map.clone())).map_err(|e| MalformedSpec {
            problems: vec![format!("spec: {e}")],
        })
    }
}

/// The boolean fields of a spec.
const BOOLEAN_FIELDS: &[&str] = &[
    "enableUserSync",
    "enableGroupSync",
    "allowNonProvisionedUsers",
    "rejectNonProvisionedUsers",
    "adoptExistingUsers",
    "adoptExistingGroups",
    "dryRun",
    "allowMassChanges",
];

/// What is wrong with each field of a spec, one entry per problem, each naming its field.
fn problems_in(map: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        match (name.as_str(), value) {
            (field, Value::Bool(_)) if BOOLEAN_FIELDS.contains(&field) => {}
            (field, other) if BOOLEAN_FIELDS.contains(&field) => {
                problems.push(format!(
                    "{name}: expected a boolean, got {}",
                    kind_of(other)
                ));
            }
            ("syncGroups", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate().filter(|(_, v)| !v.is_string()) {
                    problems.push(format!(
                        "syncGroups[{i}]: expected a string, got {}",
                        kind_of(item)
                    ));
                }
            }
            ("syncGroups", other) => problems.push(format!(
                "syncGroups: expected a list of strings, got {}",
                kind_of(other)
            )),
            ("maxDeactivations", Value::Number(n))
                if n.as_u64().is_none_or(|v| u32::try_from(v).is_err()) =>
            {
                problems.push(format!(
                    "maxDeactivations: expected a whole number from 0 to {}, got {n}",
                    u32::MAX
                ));
            }
            ("maxDeactivations", Value::Number(_)) => {}
            ("maxDeactivations", other) => problems.push(format!(
                "maxDeactivations: expected a whole number, got {}",
                kind_of(other)
            )),
            _ => {}
        }
    }
    problems
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// How to look the settings resource up.
#[derive(Debug, Clone)]
pub struct LookupOptions {
    /// `false` (`--no-dynamic-settings`) skips the lookup without touching the network.
    pub enabled: bool,
    /// Namespace of the resource (e.g. from `POD_NAMESPACE`). `None` or empty: the
    /// in-cluster service account's namespace, or the kubeconfig context's (else `default`).
    pub namespace: Option<String>,
    /// Name of the resource ([`DEFAULT_NAME`]).
    pub name: String,
    /// Bound on the whole lookup; past it the static settings are used.
    pub timeout: Duration,
    /// Read this kubeconfig file instead of inferring the configuration (tests, or an
    /// operator running the syncer outside the cluster). `None`: [`kube::Config::infer`]
    /// (`KUBECONFIG` or `~/.kube/config` if present, else the in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
}

impl Default for LookupOptions {
    /// Enabled, namespace inferred, name `default`, [`DEFAULT_TIMEOUT`], config inferred.
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: None,
            name: DEFAULT_NAME.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            kubeconfig: None,
        }
    }
}

/// The outcome of [`lookup`]. Serialized as `{"outcome": "found", ...overrides}`,
/// `{"outcome": "skipped", "reason": ..}` or `{"outcome": "fallback", "reason": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Lookup {
    /// The resource was read; its set fields override the static settings.
    Found(DynamicOverrides),
    /// No lookup was attempted (turned off, or not in a cluster and no kubeconfig).
    Skipped {
        /// Why, for the debug log and the report.
        reason: String,
    },
    /// The lookup failed; the static settings are used and a warning was logged.
    Fallback {
        /// Why, for the warning and the report.
        reason: String,
    },
}

impl Lookup {
    /// The reason of a skip or fallback; `None` when found.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Lookup::Found(_) => None,
            Lookup::Skipped { reason } | Lookup::Fallback { reason } => Some(reason),
        }
    }
}

/// Reads the `SCIMConfig` resource described by `opts`. Never fails: problems become
/// [`Lookup::Fallback`] (logged with `tracing::warn!`), an intentional or environmental skip
/// becomes [`Lookup::Skipped`] (logged at debug). The whole lookup is bounded by
/// [`LookupOptions::timeout`].
pub async fn lookup(opts: &LookupOptions) -> Lookup {
    lookup_resource(opts).await.0
}

/// [`lookup`], and the one-shot approval the resource holds, if it holds one.
async fn lookup_resource(opts: &LookupOptions) -> (Lookup, Option<MassChangeApproval>) {
    let (outcome, approval) = if !opts.enabled {
        let reason = "dynamic settings are turned off (--no-dynamic-settings)".to_owned();
        (Lookup::Skipped { reason }, None)
    } else {
        match tokio::time::timeout(opts.timeout, fetch(opts)).await {
            Ok(found) => found,
            Err(_) => {
                let reason = format!(
                    "reading {} timed out after {}; using the static settings",
                    describe_target(opts.namespace.as_deref(), &opts.name),
                    humantime::format_duration(opts.timeout)
                );
                (Lookup::Fallback { reason }, None)
            }
        }
    };
    match &outcome {
        Lookup::Found(overrides) => tracing::debug!(?overrides, "dynamic settings found"),
        Lookup::Skipped { reason } => tracing::debug!(%reason, "dynamic settings skipped"),
        Lookup::Fallback { reason } => tracing::warn!(%reason, "dynamic settings unavailable"),
    }
    (outcome, approval)
}

fn describe_target(namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{KIND} {ns}/{name}"),
        None => format!("{KIND} {name}"),
    }
}

async fn fetch(opts: &LookupOptions) -> (Lookup, Option<MassChangeApproval>) {
    let fallback = |reason: String| {
        let reason = format!("{reason}; using the static settings");
        (Lookup::Fallback { reason }, None)
    };
    let config = match &opts.kubeconfig {
        Some(path) => match config_from_file(path).await {
            Ok(config) => config,
            Err(reason) => return fallback(reason),
        },
        None => {
            if !cluster_evident(
                std::env::var_os("KUBERNETES_SERVICE_HOST"),
                std::env::var_os("KUBECONFIG"),
                std::env::var_os("HOME").map(PathBuf::from),
            ) {
                let reason = "not running in a Kubernetes cluster and no kubeconfig found";
                return (
                    Lookup::Skipped {
                        reason: reason.to_owned(),
                    },
                    None,
                );
            }
            match Config::infer().await {
                Ok(config) => config,
                Err(e) => {
                    let hint = if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
                        " (in a pod: mount the service account token with \
                         automountServiceAccountToken: true, or pass --no-dynamic-settings)"
                    } else {
                        ""
                    };
                    return fallback(format!(
                        "no usable Kubernetes configuration: {}{hint}",
                        config_error(&e)
                    ));
                }
            }
        }
    };
    let namespace = opts
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| config.default_namespace.clone());
    let target = describe_target(Some(&namespace), &opts.name);
    let api = match KubeApi::new(&config, opts.timeout) {
        Ok(api) => api,
        Err(reason) => return fallback(format!("cannot read {target}: {reason}")),
    };
    let response = match api.get(&namespace, &opts.name).await {
        Ok(response) => response,
        Err(e) => {
            return fallback(format!(
                "cannot reach the Kubernetes API for {target}: {}",
                error_chain(&e)
            ));
        }
    };
    let attempts = api.transport.stats().snapshot().requests;
    if response.status != 200 {
        let mut why = status_error(response.status, &response.body, &target);
        if attempts > 1 {
            why.push_str(&format!(" (after {attempts} attempts)"));
        }
        return fallback(why);
    }
    let object: Value = match serde_json::from_slice(&response.body) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => {
            return fallback(format!(
                "{target}: the answer is not a resource but {}",
                kind_of(&other)
            ));
        }
        Err(e) => return fallback(format!("{target}: the answer is not a resource: {e}")),
    };
    let overrides = match DynamicOverrides::from_spec(object.get("spec")) {
        Ok(overrides) => overrides,
        Err(malformed) => return fallback(format!("{target} has a {malformed}")),
    };
    let approval = (overrides.allow_mass_changes == Some(true)).then(|| MassChangeApproval {
        api: Arc::new(api),
        namespace,
        name: opts.name.clone(),
        resource_version: object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
    });
    (Lookup::Found(overrides), approval)
}

/// The one-shot approval of a refused change that a `SCIMConfig` holds (`allowMassChanges:
/// true`), and the means to withdraw it so that no later run uses it again.
///
/// A run uses it only after [`MassChangeApproval::withdraw`] succeeded: an approval that
/// cannot be withdrawn (no `patch` permission, the resource changed since it was read) is
/// not used, so it approves one run at most.
#[derive(Clone)]
pub struct MassChangeApproval {
    api: Arc<KubeApi>,
    namespace: String,
    name: String,
    resource_version: Option<String>,
}

impl fmt::Debug for MassChangeApproval {
    // the API's headers hold the credential: name the resource only
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MassChangeApproval")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("resource_version", &self.resource_version)
            .finish_non_exhaustive()
    }
}

impl MassChangeApproval {
    /// The resource that holds it, e.g. `SCIMConfig pw-scim/default`.
    pub fn resource(&self) -> String {
        describe_target(Some(&self.namespace), &self.name)
    }

    /// Removes `allowMassChanges` from the resource, on condition that it is unchanged since
    /// it was read (its `resourceVersion`): an operator who withdrew or re-granted the approval
    /// meanwhile decides, not this run. Sent once: a PATCH whose answer was lost is not
    /// repeated (the repeat would meet the new version and fail anyway).
    pub async fn withdraw(&self) -> Result<(), String> {
        let target = self.resource();
        let mut patch = serde_json::json!({"spec": {"allowMassChanges": null}});
        if let Some(version) = &self.resource_version {
            patch["metadata"] = serde_json::json!({ "resourceVersion": version });
        }
        let response = self
            .api
            .send(
                Method::PATCH,
                &self.namespace,
                &self.name,
                Some(patch.to_string().into_bytes()),
            )
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the Kubernetes API for {target}: {}",
                    error_chain(&e)
                )
            })?;
        match response.status {
            200 => {
                tracing::info!(resource = %target, "one-shot mass-change approval withdrawn");
                Ok(())
            }
            409 => Err(format!(
                "{target} changed since this run read it; the approval it held is not used"
            )),
            403 => Err(format!(
                "not allowed to patch {target} (HTTP 403; the Role in k8s/rbac.yaml must grant \
                 patch), so its one-shot approval cannot be withdrawn and is not used"
            )),
            status => Err(format!(
                "{}; its one-shot approval is not used",
                status_error(status, &response.body, &target)
            )),
        }
    }
}

/// Attempts at the GET when the API server answers 429, 503 or 504, or cannot be reached.
const ATTEMPTS: u32 = 3;
/// Pause before the second attempt (the backoff's base).
const RETRY_DELAY: Duration = Duration::from_millis(250);
/// The largest answer read: a `SCIMConfig` is a few hundred bytes.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// The Kubernetes API server as the kubeconfig or the pod's service account describes it,
/// behind the workspace's one request loop (retries, accounting, the answer's size bound).
struct KubeApi {
    base: url::Url,
    headers: HeaderMap,
    transport: Transport,
}

impl KubeApi {
    fn new(config: &Config, timeout: Duration) -> Result<Self, String> {
        let base = url::Url::parse(&config.cluster_url.to_string())
            .map_err(|e| format!("the cluster URL is not a URL: {e}"))?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("scim-sync/", env!("CARGO_PKG_VERSION")));
        // the cluster's own CA, when there is one, is the only one trusted
        let roots = cluster_roots(config)?;
        if !roots.is_empty() {
            http = http.tls_built_in_root_certs(false);
        }
        for root in roots {
            http = http.add_root_certificate(root);
        }
        if config.accept_invalid_certs {
            http = http.danger_accept_invalid_certs(true);
        }
        http = match &config.proxy_url {
            Some(proxy) => http.proxy(
                reqwest::Proxy::all(proxy.to_string())
                    .map_err(|e| format!("the kubeconfig's proxy-url: {}", error_chain(&e)))?,
            ),
            None => http.no_proxy(),
        };
        if let Some(identity) = client_identity(&config.auth_info)? {
            http = http.identity(identity);
        }
        let http = http
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", error_chain(&e)))?;
        let retry = RetryPolicy::default()
            .with_max_attempts(ATTEMPTS)
            .with_base_delay(RETRY_DELAY)
            .with_total_budget(timeout);
        let transport = Transport::new(http, retry, Pacer::unlimited(), "kubernetes")
            .with_retryable_statuses(|status| matches!(status, 429 | 503 | 504))
            .with_max_response_bytes(MAX_ANSWER_BYTES);
        Ok(KubeApi {
            base,
            headers: auth_headers(config)?,
            transport,
        })
    }

    /// `GET /apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}`.
    async fn get(&self, namespace: &str, name: &str) -> Result<Response, SendError> {
        self.send(Method::GET, namespace, name, None).await
    }

    /// `method` on the resource; a body is a JSON merge patch, sent once (see
    /// [`MassChangeApproval::withdraw`]).
    async fn send(
        &self,
        method: Method,
        namespace: &str,
        name: &str,
        patch: Option<Vec<u8>>,
    ) -> Result<Response, SendError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend([
                "apis",
                GROUP,
                VERSION,
                "namespaces",
                namespace,
                PLURAL,
                name,
            ]);
        let mut headers = self.headers.clone();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let replay = if patch.is_some() {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/merge-patch+json"),
            );
            Replay::IfUnsent
        } else {
            Replay::Always
        };
        self.transport
            .send(Exchange {
                method,
                url,
                headers,
                body: patch,
                replay,
            })
            .await
    }
}

/// The CA certificates of the cluster: inline (`certificate-authority-data`) or in a file
/// (`certificate-authority`, the pod's `ca.crt`).
fn cluster_roots(config: &Config) -> Result<Vec<reqwest::Certificate>, String> {
    let mut roots = Vec::new();
    for der in config.root_cert.iter().flatten() {
        roots.push(
            reqwest::Certificate::from_der(der)
                .map_err(|e| format!("the cluster's CA certificate: {}", error_chain(&e)))?,
        );
    }
    if let Some(path) = &config.root_cert_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the cluster's CA {}: {e}", path.display()))?;
        roots
            .extend(reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!("the cluster's CA {}: {}", path.display(), error_chain(&e))
            })?);
    }
    Ok(roots)
}

/// A client certificate and key, when the kubeconfig's user authenticates with one.
fn client_identity(auth: &AuthInfo) -> Result<Option<reqwest::Identity>, String> {
    let cert = pem_of(
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_deref(),
        "client certificate",
    )?;
    let key = pem_of(
        auth.client_key_data
            .as_ref()
            .map(ExposeSecret::expose_secret),
        auth.client_key.as_deref(),
        "client key",
    )?;
    match (cert, key) {
        (Some(mut pem), Some(key)) => {
            pem.push(b'\n');
            pem.extend(key);
            reqwest::Identity::from_pem(&pem)
                .map(Some)
                // the error would describe the key: say which part is unusable, nothing more
                .map_err(|_| "the kubeconfig's client certificate or key is unusable".to_owned())
        }
        (None, None) => Ok(None),
        _ => Err(
            "the kubeconfig has a client certificate without its key, or a key \
                  without its certificate"
                .to_owned(),
        ),
    }
}

/// PEM from a kubeconfig's `*-data` (base64) or file field.
fn pem_of(data: Option<&str>, file: Option<&str>, what: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine as _;
    match (data, file) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map(Some)
            .map_err(|_| format!("the kubeconfig's {what} data is not base64")),
        (None, Some(path)) => std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("cannot read the kubeconfig's {what} {path}: {e}")),
        (None, None) => Ok(None),
    }
}

/// The credential headers: a bearer token (inline or from its file, re-read every run as
/// the pod's token rotates) or basic auth, plus impersonation and the configured headers.
fn auth_headers(config: &Config) -> Result<HeaderMap, String> {
    let auth = &config.auth_info;
    if auth.exec.is_some() || auth.auth_provider.is_some() {
        return Err(
            "the kubeconfig's user authenticates through an exec plugin or an auth \
                    provider, which the syncer does not run; use a token or a client \
                    certificate (a service account in the cluster), or pass \
                    --no-dynamic-settings"
                .to_owned(),
        );
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        headers.insert(name.clone(), value.clone());
    }
    let token = match (&auth.token, &auth.token_file) {
        (Some(token), _) => Some(token.expose_secret().trim().to_owned()),
        (None, Some(file)) => Some(
            activate_client::read_text_file(Path::new(file), TOKEN_FILE_MAX_BYTES)
                .map_err(|e| format!("cannot read the token file {file}: {e}"))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let credential = match (token, &auth.username, &auth.password) {
        (Some(token), _, _) => Some(format!("Bearer {token}")),
        (None, Some(user), Some(password)) => {
            use base64::Engine as _;
            let pair = format!("{user}:{}", password.expose_secret());
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
        _ => None,
    };
    if let Some(credential) = credential {
        let mut value = HeaderValue::from_str(&credential)
            .map_err(|_| "the kubeconfig's credential is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    if let Some(user) = &auth.impersonate {
        let value = HeaderValue::from_str(user)
            .map_err(|_| "the kubeconfig's `as` user is not a valid header value".to_owned())?;
        headers.insert("Impersonate-User", value);
    }
    for group in auth.impersonate_groups.iter().flatten() {
        let value = HeaderValue::from_str(group)
            .map_err(|_| "the kubeconfig's `as-groups` is not a valid header value".to_owned())?;
        headers.append("Impersonate-Group", value);
    }
    Ok(headers)
}

/// The largest service-account token file read.
const TOKEN_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Why the GET was answered with an error, in an operator's words: the API server's own
/// `Status` message when it sent one, else the start of the body.
fn status_error(status: u16, body: &[u8], target: &str) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            text.trim().chars().take(300).collect()
        });
    let message = escape_controls(&message, false);
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    match status {
        404 => format!("{target} not found (HTTP 404){detail}"),
        403 => format!(
            "not allowed to get {target} (HTTP 403; check the Role in k8s/rbac.yaml){detail}"
        ),
        401 => format!("unauthenticated reading {target} (HTTP 401){detail}"),
        code => format!("reading {target} failed (HTTP {code}){detail}"),
    }
}

async fn config_from_file(path: &Path) -> Result<Config, String> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
        format!(
            "cannot read kubeconfig {}: {}",
            path.display(),
            config_error(&e)
        )
    })?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| {
            format!(
                "unusable kubeconfig {}: {}",
                path.display(),
                config_error(&e)
            )
        })
}

/// Whether a Kubernetes API could be configured at all: in a pod
/// (`KUBERNETES_SERVICE_HOST` set), or with a kubeconfig (`KUBECONFIG` set, or
/// `$HOME/.kube/config` exists). Without either the lookup is skipped quietly.
fn cluster_evident(
    service_host: Option<OsString>,
    kubeconfig_env: Option<OsString>,
    home: Option<PathBuf>,
) -> bool {
    let set = |v: &Option<OsString>| v.as_ref().is_some_and(|v| !v.is_empty());
    set(&service_host)
        || set(&kubeconfig_env)
        || home.is_some_and(|h| h.join(".kube").join("config").is_file())
}

/// [`error_chain`] for configuration errors, except that a kubeconfig YAML error is not
/// repeated: its text can quote the file, and a kubeconfig holds credentials.
fn config_error(e: &(dyn StdError + 'static)) -> String {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(kube::config::KubeconfigError::Parse(_)) =
            err.downcast_ref::<kube::config::KubeconfigError>()
        {
            return "the kubeconfig is not a valid kubeconfig (YAML details withheld: the file \
                    holds credentials)"
                .to_owned();
        }
        current = err.source();
    }
    error_chain(e)
}

/// Where an effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// Flags, environment or ConfigMap.
    Static,
    /// The `SCIMConfig` resource.
    Dynamic,
}

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SettingSource::Static => "static",
            SettingSource::Dynamic => "dynamic",
        })
    }
}

/// An effective value and its source. Serialized as `{"value": .., "source": "static"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    /// The value in effect for this run.
    pub value: T,
    /// Where it came from.
    pub source: SettingSource,
}

impl<T> Setting<T> {
    fn pick(static_: &T, dynamic: Option<T>) -> Self
    where
        T: Clone,
    {
        match dynamic {
            Some(value) => Setting {
                value,
                source: SettingSource::Dynamic,
            },
            None => Setting {
                value: static_.clone(),
                source: SettingSource::Static,
            },
        }
    }
}

/// The settings that can change at run time, as the static configuration sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSettings {
    /// Create, update, deactivate and reactivate users.
    pub enable_user_sync: bool,
    /// Create and rename groups and manage their members.
    pub enable_group_sync: bool,
    /// Keep members the syncer does not manage in the groups it manages.
    pub allow_non_provisioned_users: bool,
    /// Hard scope by ACTIVATE group name; `None`: every group.
    pub sync_groups: Option<Vec<String>>,
    /// Refuse a run that would deactivate more users than this; `None`: no limit.
    pub max_deactivations: Option<u32>,
    /// Take over unmanaged accounts holding a wanted `userName`.
    pub adopt_existing_users: bool,
    /// Take over unmanaged groups holding a source group's name.
    pub adopt_existing_groups: bool,
    /// Plan only (`--dry-run`).
    pub dry_run: bool,
    /// Apply a plan that exceeds the safety limits (`--allow-mass-changes`), every run.
    pub allow_mass_changes: bool,
}

impl StaticSettings {
    /// The switchable settings of a statically configured policy, for a run that is a dry
    /// run or not.
    pub fn from_policy(policy: &Policy, dry_run: bool) -> Self {
        StaticSettings {
            enable_user_sync: policy.enable_user_sync,
            enable_group_sync: policy.enable_group_sync,
            allow_non_provisioned_users: policy.allow_non_provisioned_users,
            sync_groups: policy.sync_groups.clone(),
            max_deactivations: policy
                .max_deactivations
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            adopt_existing_users: policy.adoption.users,
            adopt_existing_groups: policy.adoption.groups,
            dry_run,
            allow_mass_changes: policy.allow_mass_changes,
        }
    }
}

/// The settings in effect for this run, each with its source, plus the lookup outcome.
/// Serializes for the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveSettings {
    /// See [`StaticSettings::enable_user_sync`].
    pub enable_user_sync: Setting<bool>,
    /// See [`StaticSettings::enable_group_sync`].
    pub enable_group_sync: Setting<bool>,
    /// See [`StaticSettings::allow_non_provisioned_users`].
    pub allow_non_provisioned_users: Setting<bool>,
    /// See [`StaticSettings::sync_groups`]; never `Some(vec![])` (normalized to `None`).
    pub sync_groups: Setting<Option<Vec<String>>>,
    /// See [`StaticSettings::max_deactivations`].
    pub max_deactivations: Setting<Option<u32>>,
    /// See [`StaticSettings::adopt_existing_users`].
    pub adopt_existing_users: Setting<bool>,
    /// See [`StaticSettings::adopt_existing_groups`].
    pub adopt_existing_groups: Setting<bool>,
    /// Plan only: the static `--dry-run`, or the resource's `dryRun: true` (which can make a
    /// run a dry run, never the reverse).
    pub dry_run: Setting<bool>,
    /// The static `--allow-mass-changes`, or (dynamic) the resource's one-shot approval, which
    /// the policy does not carry: a run uses it through a [`MassChangeApproval`] only.
    pub allow_mass_changes: Setting<bool>,
    /// How the dynamic settings were looked up (found, skipped or fallback, with the reason).
    pub lookup: Lookup,
}

/// Combines the static settings with a lookup: each field the resource sets overrides the
/// static value; everything else (and everything when skipped or fallen back) stays static.
/// An empty `syncGroups` in the resource means every group (effective `None`, dynamic).
pub fn merge(static_: &StaticSettings, lookup: &Lookup) -> EffectiveSettings {
    let empty = DynamicOverrides::default();
    let o = match lookup {
        Lookup::Found(o) => o,
        Lookup::Skipped { .. } | Lookup::Fallback { .. } => &empty,
    };
    let static_groups = static_.sync_groups.clone().filter(|g| !g.is_empty());
    let dynamic_groups = o
        .sync_groups
        .clone()
        .map(|g| if g.is_empty() { None } else { Some(g) });
    EffectiveSettings {
        enable_user_sync: Setting::pick(&static_.enable_user_sync, o.enable_user_sync),
        enable_group_sync: Setting::pick(&static_.enable_group_sync, o.enable_group_sync),
        allow_non_provisioned_users: Setting::pick(
            &static_.allow_non_provisioned_users,
            o.allow_non_provisioned_users
                .or(o.reject_non_provisioned_users.map(|reject| !reject)),
        ),
        sync_groups: Setting::pick(&static_groups, dynamic_groups),
        max_deactivations: Setting::pick(&static_.max_deactivations, o.max_deactivations.map(Some)),
        adopt_existing_users: Setting::pick(&static_.adopt_existing_users, o.adopt_existing_users),
        adopt_existing_groups: Setting::pick(
            &static_.adopt_existing_groups,
            o.adopt_existing_groups,
        ),
        // the resource can only add caution to a dry run, and approval to a refused run
        dry_run: Setting::pick(
            &static_.dry_run,
            o.dry_run.filter(|&dry| dry && !static_.dry_run),
        ),
        allow_mass_changes: Setting::pick(
            &static_.allow_mass_changes,
            o.allow_mass_changes
                .filter(|&allow| allow && !static_.allow_mass_changes),
        ),
        lookup: lookup.clone(),
    }
}

impl EffectiveSettings {
    /// One line per setting, e.g. `enable_user_sync=false (dynamic)`, for the caller to log at
    /// info. Setting names are those of the CLI's configuration.
    pub fn describe(&self) -> Vec<String> {
        fn line<T: fmt::Display>(name: &str, value: T, source: SettingSource) -> String {
            format!("{name}={value} ({source})")
        }
        let groups = match &self.sync_groups.value {
            None => "all groups".to_owned(),
            Some(g) => format!("{g:?}"),
        };
        let max = match self.max_deactivations.value {
            None => "no limit".to_owned(),
            Some(n) => n.to_string(),
        };
        vec![
            line(
                "enable_user_sync",
                self.enable_user_sync.value,
                self.enable_user_sync.source,
            ),
            line(
                "enable_group_sync",
                self.enable_group_sync.value,
                self.enable_group_sync.source,
            ),
            line(
                "allow_non_provisioned_users",
                self.allow_non_provisioned_users.value,
                self.allow_non_provisioned_users.source,
            ),
            line("sync_groups", groups, self.sync_groups.source),
            line("max_deactivations", max, self.max_deactivations.source),
            line(
                "adopt_existing_users",
                self.adopt_existing_users.value,
                self.adopt_existing_users.source,
            ),
            line(
                "adopt_existing_groups",
                self.adopt_existing_groups.value,
                self.adopt_existing_groups.source,
            ),
            line("dry_run", self.dry_run.value, self.dry_run.source),
            match self.allow_mass_changes.source {
                SettingSource::Static => line(
                    "allow_mass_changes",
                    self.allow_mass_changes.value,
                    SettingSource::Static,
                ),
                SettingSource::Dynamic => {
                    "allow_mass_changes=true (dynamic, a one-shot approval)".to_owned()
                }
            },
        ]
    }
}

impl EffectiveSettings {
    /// `policy` with the switchable settings replaced by their effective values.
    pub fn apply_to(&self, policy: &Policy) -> Policy {
        Policy {
            sync_groups: self.sync_groups.value.clone(),
            enable_user_sync: self.enable_user_sync.value,
            enable_group_sync: self.enable_group_sync.value,
            allow_non_provisioned_users: self.allow_non_provisioned_users.value,
            max_deactivations: self
                .max_deactivations
                .value
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            adoption: scim_diff::Adoption {
                users: self.adopt_existing_users.value,
                groups: self.adopt_existing_groups.value,
                ..policy.adoption.clone()
            },
            ..policy.clone()
        }
    }

    /// A warning for the run's report when the lookup fell back to the static settings.
    pub fn fallback_warning(&self) -> Option<String> {
        match &self.lookup {
            Lookup::Fallback { reason } => Some(format!(
                "run-time settings not used, static configuration in effect: {reason}"
            )),
            Lookup::Found(_) | Lookup::Skipped { .. } => None,
        }
    }
}

/// A run's policy after the run-time settings: the static policy, the lookup's overrides
/// applied, and where each switchable setting came from.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The engine's policy for this run.
    pub policy: Policy,
    /// The resource's one-shot approval, for the [`Reconciler`](crate::Reconciler) (or
    /// [`ApplySaved`](crate::ApplySaved)) to use and withdraw; `None` when the resource holds
    /// none, or `--allow-mass-changes` makes it moot.
    pub approval: Option<MassChangeApproval>,
    /// The switchable settings with their sources (for the log and the report).
    pub settings: EffectiveSettings,
}

/// Looks the `SCIMConfig` resource up (see [`lookup`]) and applies it over the statically
/// configured `policy` and `dry_run`; logs every effective setting at info.
pub async fn resolve(policy: &Policy, dry_run: bool, options: &LookupOptions) -> Effective {
    let (found, approval) = lookup_resource(options).await;
    let settings = merge(&StaticSettings::from_policy(policy, dry_run), &found);
    for line in settings.describe() {
        tracing::info!(setting = %line, "effective setting");
    }
    let policy = settings.apply_to(policy);
    tracing::debug!(?policy, "policy");
    let approval =
        approval.filter(|_| settings.allow_mass_changes.source == SettingSource::Dynamic);
    Effective {
        policy,
        approval,
        settings,
    }
}

impl Effective {
    /// Whether the run is a dry run: `--dry-run`, or the resource's `dryRun: true`.
    pub fn dry_run(&self) -> bool {
        self.settings.dry_run.value
    }
}

impl fmt::Display for EffectiveSettings {
    /// All of [`EffectiveSettings::describe`] on one line, separated by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_replace_only_the_switchable_settings_of_the_policy() {
        let configured = Policy {
            sync_groups: Some(vec!["hpc".into()]),
            max_membership_removals: Some(9),
            max_deactivation_percent: None,
            ..Policy::default()
        };
        let found = Lookup::Found(DynamicOverrides {
            enable_group_sync: Some(false),
            max_deactivations: Some(3),
            ..DynamicOverrides::default()
        });
        let settings = merge(&StaticSettings::from_policy(&configured, false), &found);
        let p = settings.apply_to(&configured);
        assert_eq!(p.max_deactivations, Some(3));
        assert_eq!(settings.max_deactivations.source, SettingSource::Dynamic);
        assert!(!p.enable_group_sync);
        assert!(p.enable_user_sync);
        assert_eq!(settings.enable_user_sync.source, SettingSource::Static);
        assert_eq!(p.sync_groups, Some(vec!["hpc".to_owned()]));
        assert_eq!(p.max_membership_removals, Some(9));
        assert_eq!(p.max_deactivation_percent, None);
        assert_eq!(
            p.max_members_per_patch,
            Policy::default().max_members_per_patch
        );
        assert_eq!(settings.fallback_warning(), None);
        let unlimited = Policy {
            max_deactivations: None,
            ..Policy::default()
        };
        assert_eq!(
            StaticSettings::from_policy(&unlimited, false).max_deactivations,
            None
        );
    }

    #[test]
    fn spec_fields_are_read_by_their_crd_names() {
        let spec = json!({
            "enableUserSync": false,
            "enableGroupSync": true,
            "allowNonProvisionedUsers": true,
            "syncGroups": ["hpc", "Data Science"],
            "maxDeactivations": 7,
            "adoptExistingUsers": true,
            "unknown": "ignored"
        });
        let o = DynamicOverrides::from_spec(Some(&spec)).unwrap();
        assert_eq!(
            o,
            DynamicOverrides {
                enable_user_sync: Some(false),
                enable_group_sync: Some(true),
                allow_non_provisioned_users: Some(true),
                reject_non_provisioned_users: None,
                sync_groups: Some(vec!["hpc".into(), "Data Science".into()]),
                max_deactivations: Some(7),
                adopt_existing_users: Some(true),
                adopt_existing_groups: None,
                dry_run: None,
                allow_mass_changes: None,
            }
        );
    }

    #[test]
    fn absent_or_null_fields_and_spec_are_unset() {
        assert_eq!(
            DynamicOverrides::from_spec(None).unwrap(),
            DynamicOverrides::default()
        );
        assert_eq!(
            DynamicOverrides::from_spec(Some(&Value::Null)).unwrap(),
            DynamicOverrides::default()
        );
        let spec = json!({"enableUserSync": null, "syncGroups": null});
        assert_eq!(
            DynamicOverrides::from_spec(Some(&spec)).unwrap(),
            DynamicOverrides::default()
        );
    }

    #[test]
    fn every_malformed_field_is_named() {
        let spec = json!({
            "enableUserSync": "yes",
            "enableGroupSync": true,
            "allowNonProvisionedUsers": 1,
            "syncGroups": ["ok", 3],
            "maxDeactivations": -1
        });
        let err = DynamicOverrides::from_spec(Some(&spec)).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let text = err.to_string();
        for field in [
            "enableUserSync: expected a boolean, got a string",
            "allowNonProvisionedUsers: expected a boolean, got a number",
            "syncGroups[1]: expected a string",
            "maxDeactivations: expected a whole number",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert!(!text.contains("enableGroupSync"), "{text}");
    }

    #[test]
    fn out_of_range_and_fractional_limits_are_malformed() {
        for bad in [json!(4294967296u64), json!(2.5), json!("10"), json!([1])] {
            let spec = json!({ "maxDeactivations": bad });
            let err = DynamicOverrides::from_spec(Some(&spec)).unwrap_err();
            assert!(err.problems[0].starts_with("maxDeactivations:"), "{err}");
        }
        let spec = json!({ "maxDeactivations": 4294967295u64 });
        assert_eq!(
            DynamicOverrides::from_spec(Some(&spec))
                .unwrap()
                .max_deactivations,
            Some(u32::MAX)
        );
    }

    #[test]
    fn a_spec_that_is_not_an_object_is_malformed() {
        let err = DynamicOverrides::from_spec(Some(&json!("enableUserSync: true"))).unwrap_err();
        assert_eq!(
            err.problems,
            vec!["spec: expected an object, got a string".to_owned()]
        );
    }

    #[test]
    fn cluster_is_evident_from_service_host_kubeconfig_or_home_config() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        assert!(!cluster_evident(None, None, None));
        assert!(!cluster_evident(
            Some("".into()),
            Some("".into()),
            Some(home.clone())
        ));
        assert!(cluster_evident(Some("10.0.0.1".into()), None, None));
        assert!(cluster_evident(None, Some("/tmp/kc".into()), None));
        std::fs::create_dir_all(home.join(".kube")).unwrap();
        assert!(!cluster_evident(None, None, Some(home.clone())));
        std::fs::write(home.join(".kube/config"), "").unwrap();
        assert!(cluster_evident(None, None, Some(home)));
    }
}
