//! The client, its builder, and the request loop (pacing, retries, accounting, errors).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::{Host, Url};

use crate::discovery::{ResourceType, Schema, ServiceProviderConfig};
use crate::error::{Error, ReadLimit, ScimErrorBody};
use crate::filter::QUERY_VALUE;
use crate::group::Group;
use crate::handler::Resources;
use crate::list::{DirectPage, ListResponse};
use crate::resource::Resource;
use crate::transport::{
    Exchange, Pacer, Replay, RequestStats, RetryPolicy, SendError, StatsSnapshot, Transport,
};
use crate::user::User;

const DEFAULT_USER_AGENT: &str = concat!("scim-client/", env!("CARGO_PKG_VERSION"));
const ACCEPT_VALUE: &str = "application/scim+json, application/json;q=0.9";

/// A SCIM 2.0 client. Cheap to clone: clones share the HTTP connection pool, the pacer (the
/// bound on requests in flight) and the request counters.
#[derive(Clone)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    base: Url,
    token: Option<SecretString>,
    page_size: u32,
    limits: ReadLimits,
    paging: Paging,
    /// Whether the server serves cursor paging, once asked (see [`Paging::Auto`]).
    cursor_support: tokio::sync::OnceCell<bool>,
}

/// How list walks page through a server's records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Paging {
    /// RFC 9865 cursor paging when the server advertises it in `/ServiceProviderConfig`
    /// (`pagination.cursor`) and prefers it or offers no index paging
    /// ([`PaginationConfig::prefers_cursor`](crate::PaginationConfig::prefers_cursor)), else
    /// index paging. The document is asked for once per client
    /// (its clones share the answer), and only by the first walk that needs more than one
    /// page: a walk that ends on its first page costs nothing more. That first walk then
    /// starts again by cursor, so a server that serves cursors costs two requests more per
    /// client, one that does not, one.
    #[default]
    Auto,
    /// Index paging only (`startIndex`; the pages after the first requested concurrently).
    Index,
    /// Cursor paging only (`cursor`, `nextCursor`), without asking the server first.
    Cursor,
}

/// How much one response, and one list walk, may hand this client: a target that never
/// stops paging, or answers with one enormous page, is an error, not a process that grows
/// until it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadLimits {
    pub(crate) max_response_bytes: u64,
    pub(crate) max_list_records: u64,
    pub(crate) max_list_pages: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            // a page of 100 groups holding one of 250,000 members is ~40 MB
            max_response_bytes: 128 * 1024 * 1024,
            max_list_records: 2_000_000,
            max_list_pages: 1_000_000,
        }
    }
}

impl fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimClient")
            .field("base_url", &self.inner.base.as_str())
            .field(
                "bearer_token",
                &self.inner.token.as_ref().map(|_| "[redacted]"),
            )
            .field("page_size", &self.inner.page_size)
            .field("paging", &self.inner.paging)
            .field("retry", self.inner.transport.retry_policy())
            .field(
                "max_in_flight",
                &self.inner.transport.pacer().max_in_flight(),
            )
            .finish()
    }
}

/// Configures a [`ScimClient`]; from [`ScimClient::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    token: Option<SecretString>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    allow_insecure_http: bool,
    page_size: u32,
    max_in_flight: usize,
    max_concurrency: Option<usize>,
    requests_per_second: Option<f64>,
    retry: RetryPolicy,
    limits: ReadLimits,
    paging: Paging,
}

impl ClientBuilder {
    /// The bearer token sent as `Authorization: Bearer ...` (kept secret: never in `Debug`,
    /// errors or logs).
    pub fn bearer_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// Timeout of one HTTP exchange, response body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout for establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `scim-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Allow plain `http://` to a non-loopback host (the token then travels unencrypted).
    /// Loopback hosts are always allowed.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Resources asked for per page when listing (`count`, default 100).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Bound on requests in flight, shared by all clones (default 8).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Lets the bound on requests in flight adapt: it starts at
    /// [`max_in_flight`](Self::max_in_flight) and grows up to `n` while the server answers
    /// without 429/503 and latency holds, and halves (at least 1) on a 429/503. `None`
    /// (the default) or `n` equal to the start keeps a fixed bound; below the start is a
    /// configuration error.
    pub fn max_concurrency(mut self, n: Option<usize>) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Optional limit on request starts per second, shared by all clones (default none).
    pub fn requests_per_second(mut self, rps: Option<f64>) -> Self {
        self.requests_per_second = rps;
        self
    }

    /// Retry policy for transient failures (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The largest response body read (default 128 MiB); a larger one is
    /// [`Error::LimitExceeded`], and is not read further.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.limits.max_response_bytes = bytes;
        self
    }

    /// The most records one list walk reads (default 2,000,000, far above any real
    /// directory): a list whose `totalResults` is larger is refused before its second page,
    /// and a walk that goes past it ends with [`Error::LimitExceeded`].
    pub fn max_list_records(mut self, records: u64) -> Self {
        self.limits.max_list_records = records;
        self
    }

    /// The most pages one list walk requests (default 1,000,000).
    pub fn max_list_pages(mut self, pages: u64) -> Self {
        self.limits.max_list_pages = pages;
        self
    }

    /// How list walks page (default [`Paging::Auto`]: by cursor where the server
    /// advertises it).
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// Validates the configuration and builds the client.
    ///
    /// Fails with [`Error::InsecureUrl`] for `http://` to a non-loopback host unless allowed,
    /// and with [`Error::Config`] for an unparsable URL, a zero page size or in-flight bound,
    /// or a rate that is not a positive number.
    pub fn build(self) -> Result<ScimClient, Error> {
        let mut base = Url::parse(self.base_url.trim())
            .map_err(|e| Error::Config(format!("invalid base URL {:?}: {e}", self.base_url)))?;
        match base.scheme() {
            "https" => {}
            "http" => {
                if !self.allow_insecure_http && !is_loopback(&base) {
                    return Err(Error::InsecureUrl {
                        url: base.to_string(),
                    });
                }
            }
            other => {
                return Err(Error::Config(format!(
                    "unsupported URL scheme {other:?} in {base}; use https"
                )));
            }
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(Error::Config(format!("{base} cannot be a base URL")));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(format!(
                "the base URL {base} must not have a query or fragment"
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::Config(
                "the base URL must not carry credentials; use bearer_token".into(),
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if self.page_size == 0 {
            return Err(Error::Config("page size must be at least 1".into()));
        }
        if self.max_in_flight == 0 {
            return Err(Error::Config("max in flight must be at least 1".into()));
        }
        let max_concurrency = self.max_concurrency.unwrap_or(self.max_in_flight);
        if max_concurrency < self.max_in_flight {
            return Err(Error::Config(format!(
                "max concurrency ({max_concurrency}) must be at least max in flight ({})",
                self.max_in_flight
            )));
        }
        if let Some(rps) = self.requests_per_second
            && !(rps.is_finite() && rps > 0.0)
        {
            return Err(Error::Config(format!(
                "requests per second must be a positive number, got {rps}"
            )));
        }
        if let Some(token) = &self.token
            && HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).is_err()
        {
            return Err(Error::Config(
                "the bearer token contains characters not allowed in an HTTP header".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // below the idle timeouts servers and load balancers commonly use (60 s), so that
            // a request is not sent on a connection the server is closing
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(self.user_agent)
            // never follow redirects: a redirect could carry the token elsewhere
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let transport = Transport::new(
            http,
            self.retry,
            Pacer::adaptive(
                self.max_in_flight,
                max_concurrency,
                self.requests_per_second,
            ),
            "scim",
        )
        .with_max_response_bytes(self.limits.max_response_bytes);
        Ok(ScimClient {
            inner: Arc::new(Inner {
                transport,
                base,
                token: self.token,
                page_size: self.page_size,
                limits: self.limits,
                paging: self.paging,
                cursor_support: tokio::sync::OnceCell::new(),
            }),
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A response as received, for the [`ScimClient::raw`] escape hatch.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
    url: String,
}

impl RawResponse {
    /// The request URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Decodes the body as JSON; a failure names the JSON path.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode(&self.url, &self.headers, &self.body)
    }

    /// Decodes one resource, attribute names case-normalised first.
    pub(crate) fn resource<T: Resource>(&self) -> Result<T, Error> {
        // fast path: straight into the type, when no attribute name needed normalising
        if let Ok(resource) = serde_json::from_slice::<T>(&self.body)
            && !resource.has_noncanonical_names()
        {
            return Ok(resource);
        }
        self.resource_careful()
    }

    /// [`RawResponse::resource`] through a JSON value: names normalised, errors with paths.
    fn resource_careful<T: Resource>(&self) -> Result<T, Error> {
        let mut value: Value = self.json()?;
        T::canonicalize(&mut value);
        from_value(&self.url, "", value)
    }

    /// Decodes a list response, each resource's attribute names case-normalised first.
    pub(crate) fn resource_list<T: Resource>(&self) -> Result<ListResponse<T>, Error> {
        // fast path: straight into the types, when no attribute name needed normalising; a
        // page that fails to decode this way is decoded again below, for the error's path
        if let Ok(DirectPage(page)) = serde_json::from_slice::<DirectPage<T>>(&self.body)
            && !page.resources.iter().any(T::has_noncanonical_names)
        {
            return Ok(page);
        }
        self.resource_list_careful()
    }

    /// [`RawResponse::resource_list`] through JSON values: names normalised, errors with
    /// paths.
    fn resource_list_careful<T: Resource>(&self) -> Result<ListResponse<T>, Error> {
        let page: ListResponse<Value> = self.json()?;
        let mut resources = Vec::with_capacity(page.resources.len());
        for (i, mut value) in page.resources.into_iter().enumerate() {
            T::canonicalize(&mut value);
            resources.push(from_value(&self.url, &format!("Resources[{i}]"), value)?);
        }
        Ok(ListResponse {
            schemas: page.schemas,
            total_results: page.total_results,
            items_per_page: page.items_per_page,
            start_index: page.start_index,
            resources,
            extra: page.extra,
        })
    }
}

/// Decodes a JSON value; a failure names the path, under `prefix`.
fn from_value<T: DeserializeOwned>(url: &str, prefix: &str, value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix.is_empty(), inner.as_str()) {
            (true, _) => inner,
            (false, ".") => prefix.to_owned(),
            (false, _) => format!("{prefix}.{inner}"),
        };
        Error::Decode {
            url: url.to_owned(),
            path,
            message: e.inner().to_string(),
        }
    })
}

/// Decodes JSON with `serde_path_to_error`, so a failure names the path that failed.
pub(crate) fn decode<T: DeserializeOwned>(
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Error> {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(Error::Decode {
            url: url.to_owned(),
            path: ".".into(),
            message: "the response has no body".into(),
        });
    }
    if !matches!(trimmed[0], b'{' | b'[') {
        return Err(Error::Decode {
            url: url.to_owned(),
            path: ".".into(),
            message: format!("expected JSON, got {}", describe_body(headers, body)),
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        url: url.to_owned(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A short description of a non-JSON body: its content type and a whitespace-collapsed
/// excerpt (tags of an HTML page removed).
fn describe_body(headers: &HeaderMap, body: &[u8]) -> String {
    let ctype = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    let text = String::from_utf8_lossy(body);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let collapsed: String = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    let excerpt: String = collapsed.chars().take(200).collect();
    if excerpt.is_empty() {
        format!("a {ctype} body")
    } else {
        format!("a {ctype} body: {excerpt}")
    }
}

/// How a request may be retried.
fn post_like(method: &Method) -> bool {
    method == Method::POST
}

/// The SCIM endpoint of CoreWeave IAM, completed with an org user id.
pub const COREWEAVE_SCIM_BASE: &str = "https://api.coreweave.com/scim/";

/// CoreWeave IAM's SCIM base URL for an org user id (as the CoreWeave Console shows it:
/// letters, digits, `-` and `_`), or `None` for anything else.
///
/// ```
/// use scim_client::coreweave_base_url;
/// assert_eq!(coreweave_base_url("abc-123").unwrap(), "https://api.coreweave.com/scim/abc-123");
/// assert_eq!(coreweave_base_url("abc/../x"), None);
/// ```
pub fn coreweave_base_url(org_user_id: &str) -> Option<String> {
    let valid = !org_user_id.is_empty()
        && org_user_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| format!("{COREWEAVE_SCIM_BASE}{org_user_id}"))
}

/// Whether `base_url` may be CoreWeave IAM's SCIM endpoint: its host is `coreweave.com` or
/// one of its subdomains (or it does not parse, which is not known not to be). CoreWeave is
/// not known to take a group's members in the POST that creates it, say.
///
/// ```
/// assert!(scim_client::is_coreweave_url("https://API.CoreWeave.com./scim/x"));
/// assert!(!scim_client::is_coreweave_url("https://scim.example/v2"));
/// ```
pub fn is_coreweave_url(base_url: &str) -> bool {
    match Url::parse(base_url.trim()) {
        Ok(url) => url.host_str().is_none_or(|host| {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "coreweave.com" || host.ends_with(".coreweave.com")
        }),
        Err(_) => true,
    }
}

impl ScimClient {
    /// Starts configuring a client for the service provider at `base_url` (with any path
    /// prefix, e.g. `https://api.coreweave.com/scim/<org>` or
    /// `http://127.0.0.1:8080/tenant-1/v2`).
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            allow_insecure_http: false,
            page_size: 100,
            max_in_flight: 8,
            max_concurrency: None,
            requests_per_second: None,
            retry: RetryPolicy::default(),
            limits: ReadLimits::default(),
            paging: Paging::Auto,
        }
    }

    /// The base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The configured page size.
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// The `/Users` handler.
    pub fn users(&self) -> Resources<User> {
        self.resource("Users")
    }

    /// The `/Groups` handler.
    pub fn groups(&self) -> Resources<Group> {
        self.resource("Groups")
    }

    /// A handler for any resource endpoint (relative to the base URL, e.g. `"Devices"`),
    /// typed or as [`serde_json::Value`].
    pub fn resource<T: Resource>(&self, endpoint: &str) -> Resources<T> {
        Resources::new(self.clone(), endpoint.trim_matches('/').to_owned())
    }

    /// A copy of the request counters, with the in-flight bound reached and the time paused
    /// for `Retry-After`.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.transport.snapshot()
    }

    /// The live request counters (shared with all clones).
    pub fn stats_handle(&self) -> &RequestStats {
        self.inner.transport.stats()
    }

    /// What one response and one list walk may hold.
    pub(crate) fn limits(&self) -> ReadLimits {
        self.inner.limits
    }

    /// The most requests in flight at once (see [`ClientBuilder::max_in_flight`] and
    /// [`ClientBuilder::max_concurrency`]).
    pub(crate) fn max_in_flight(&self) -> usize {
        self.inner.transport.pacer().max_in_flight()
    }

    /// The pacer shared by all clones.
    pub fn pacer(&self) -> &Pacer {
        self.inner.transport.pacer()
    }

    /// Whether list walks page by cursor, if that is known without a request: always for
    /// [`Paging::Index`] and [`Paging::Cursor`], once asked for [`Paging::Auto`].
    pub(crate) fn known_cursor_paging(&self) -> Option<bool> {
        match self.inner.paging {
            Paging::Index => Some(false),
            Paging::Cursor => Some(true),
            Paging::Auto => self.inner.cursor_support.get().copied(),
        }
    }

    /// Whether list walks page by cursor; for [`Paging::Auto`], asks `/ServiceProviderConfig`
    /// the first time (concurrent callers share the one request). A server that does not
    /// answer it usably is paged by index.
    pub async fn uses_cursor_paging(&self) -> bool {
        if let Some(known) = self.known_cursor_paging() {
            return known;
        }
        *self
            .inner
            .cursor_support
            .get_or_init(|| async {
                match self.service_provider_config().await {
                    Ok(spc) => spc
                        .and_then(|spc| spc.pagination)
                        .is_some_and(|p| p.prefers_cursor()),
                    Err(e) => {
                        tracing::debug!(error = %e, "no usable ServiceProviderConfig: paging by index");
                        false
                    }
                }
            })
            .await
    }

    /// `/ServiceProviderConfig`, or `None` if the server does not offer it (404 or 501).
    pub async fn service_provider_config(&self) -> Result<Option<ServiceProviderConfig>, Error> {
        let url = self.url(&["ServiceProviderConfig"], &[]);
        match self.get_optional(url).await? {
            Some(resp) => resp.json().map(Some),
            None => Ok(None),
        }
    }

    /// `/ResourceTypes`, or `None` if not offered. Accepts a list response or a bare array.
    pub async fn resource_types(&self) -> Result<Option<Vec<ResourceType>>, Error> {
        self.discovery_list("ResourceTypes").await
    }

    /// `/Schemas`, or `None` if not offered. Accepts a list response or a bare array.
    pub async fn schemas(&self) -> Result<Option<Vec<Schema>>, Error> {
        self.discovery_list("Schemas").await
    }

    async fn discovery_list<T: DeserializeOwned>(
        &self,
        endpoint: &str,
    ) -> Result<Option<Vec<T>>, Error> {
        let url = self.url(&[endpoint], &[]);
        let Some(resp) = self.get_optional(url).await? else {
            return Ok(None);
        };
        let value: Value = resp.json()?;
        let decoded = if value.is_array() {
            serde_path_to_error::deserialize(value)
        } else {
            serde_path_to_error::deserialize::<_, ListResponse<T>>(value).map(|l| l.resources)
        };
        decoded.map(Some).map_err(|e| Error::Decode {
            url: resp.url.clone(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    async fn get_optional(&self, url: Url) -> Result<Option<RawResponse>, Error> {
        let resp = self.execute(Method::GET, url, None).await?;
        if matches!(resp.status, 404 | 501) {
            return Ok(None);
        }
        self.check(&Method::GET, resp).map(Some)
    }

    /// The escape hatch: sends `method` to `path` (relative to the base URL, may carry a
    /// query string, e.g. `"Users/42?attributes=userName"`) with an optional JSON body, and
    /// returns the response whatever its status. Pacing, retries (POST is never resent
    /// after it may have been received) and accounting apply as for typed calls.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<RawResponse, Error> {
        let url = self
            .inner
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::Config(format!("invalid path {path:?}: {e}")))?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Config(format!("cannot encode the body: {e}")))?;
        self.execute(method, url, body).await
    }

    /// The URL of `segments` (each percent-encoded as one path segment) under the base URL,
    /// with the query pairs percent-encoded.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // `.` and `..` cannot be path segments at all (URL parsers resolve them, encoded
            // or not): the handlers refuse such ids before building a URL
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        k,
                        percent_encoding::utf8_percent_encode(v, QUERY_VALUE)
                    )
                })
                .collect();
            url.set_query(Some(&q.join("&")));
        }
        url
    }

    /// Turns a non-2xx response into an error.
    pub(crate) fn check(&self, method: &Method, resp: RawResponse) -> Result<RawResponse, Error> {
        if resp.is_success() {
            return Ok(resp);
        }
        let body: Option<ScimErrorBody> = serde_json::from_slice(&resp.body).ok();
        let detail = match &body {
            Some(b) => b.detail.clone(),
            None if resp.body.trim_ascii().is_empty() => None,
            None => Some(format!(
                "not a SCIM error: {}",
                describe_body(&resp.headers, &resp.body)
            )),
        }
        .map(|d| self.scrub(d))
        .map(|d| crate::transport::escape_controls(&d, false).into_owned());
        if matches!(resp.status, 401 | 403) {
            return Err(Error::Unauthorized {
                status: resp.status,
                detail,
                method: method.to_string(),
                url: resp.url,
            });
        }
        Err(Error::Api {
            status: resp.status,
            scim_type: body
                .and_then(|b| b.scim_type)
                .map(|t| crate::transport::escape_controls(&self.scrub(t), false).into_owned()),
            detail,
            method: method.to_string(),
            url: resp.url,
        })
    }

    /// Removes the token from server-provided text (in case a server echoes headers).
    fn scrub(&self, text: String) -> String {
        match &self.inner.token {
            Some(t) if !t.expose_secret().is_empty() && text.contains(t.expose_secret()) => {
                text.replace(t.expose_secret(), "[redacted]")
            }
            _ => text,
        }
    }

    /// Sends one logical request: paced, retried per the policy, counted.
    ///
    /// Retries: 429/502/503/504 and transport failures are retried for every method except
    /// POST. A POST is retried only when it certainly had no effect: a connection that was
    /// never established, 429 and 503. After a timeout, a dropped connection, or a 502/504
    /// from a gateway, a POST returns [`Error::OutcomeUnknown`] instead. PUT, PATCH and
    /// DELETE are retried: PUT and DELETE are idempotent, and the PATCHes this crate builds
    /// (replace of attributes, member add/remove by id) converge when applied twice.
    pub(crate) async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, Error> {
        let inner = &self.inner;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
        if let Some(token) = &inner.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    Error::Config("the bearer token is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if body.is_some() {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            );
        }
        let exchange = Exchange {
            replay: if post_like(&method) {
                Replay::IfUnsent
            } else {
                Replay::Always
            },
            method: method.clone(),
            url: url.clone(),
            headers,
            body,
        };
        match inner.transport.send(exchange).await {
            Ok(response) => Ok(RawResponse {
                status: response.status,
                headers: response.headers,
                body: response.body,
                url: url.to_string(),
            }),
            Err(SendError::OutcomeUnknown(reason)) => Err(Error::OutcomeUnknown {
                method: method.to_string(),
                url: url.to_string(),
                reason,
            }),
            Err(SendError::TooLarge { limit }) => Err(Error::LimitExceeded {
                url: url.to_string(),
                limit: ReadLimit::ResponseBytes,
                message: format!(
                    "the response is larger than {limit} bytes, the most this client reads"
                ),
            }),
            Err(SendError::Timeout) => Err(Error::Timeout {
                method: method.to_string(),
                url: url.to_string(),
            }),
            Err(SendError::Transport(source)) => Err(Error::Transport {
                method: method.to_string(),
                url: url.to_string(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<ScimClient>();
        check::<Error>();
        check::<Resources<User>>();
        check::<RawResponse>();
    }

    fn raw(body: Value) -> RawResponse {
        RawResponse {
            status: 200,
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&body).unwrap(),
            url: "http://127.0.0.1:9/v2/Users".into(),
        }
    }

    fn page(resources: Value) -> RawResponse {
        raw(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": "3",
            "itemsPerPage": 2,
            "startIndex": 1,
            "nextCursor": "abc",
            "Resources": resources,
        }))
    }

    /// The direct decode gives exactly what the careful one gives, and falls back to it
    /// whenever a name needs normalising.
    #[test]
    fn direct_decode_equals_the_careful_one() {
        use serde_json::json;
        let user = json!({
            "schemas": [crate::schemas::USER],
            "id": "1", "externalId": "p:a", "userName": "a", "active": "true",
            "name": {"formatted": "A B", "middleName": "M"},
            "emails": [{"value": "a@x", "primary": true, "display": "A"}],
            "groups": [{"value": "g", "$ref": "http://x/Groups/g", "type": "direct"}],
            "meta": {"resourceType": "User", "version": "W/\"1\""},
            crate::schemas::COREWEAVE_USER: {"sunkSshKeys": ["k"], "sunkPosixUserId": "7"},
            "x-other": {"n": [1, 2.5]},
        });
        let odd_cases = [
            json!({"id": "2", "UserName": "b"}),
            json!({"id": "2", "userName": "b", "name": {"GivenName": "B"}}),
            json!({"id": "2", "userName": "b", "emails": [{"VALUE": "b@x"}]}),
            json!({"id": "2", "userName": "b", "groups": [{"Display": "g"}]}),
            json!({"id": "2", "userName": "b", "meta": {"LastModified": "t"}}),
            json!({"id": "2", "userName": "b",
                   crate::schemas::COREWEAVE_USER: {"SunkSshKeys": ["k"]}}),
            json!({"id": "2", "userName": "b",
                   "URN:COREWEAVE:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser":
                       {"sunkSshKeys": ["k"]}}),
        ];
        let plain = page(json!([user, {"id": "3", "userName": "c", "emails": null}]));
        let direct: ListResponse<User> = plain.resource_list().unwrap();
        assert_eq!(direct, plain.resource_list_careful().unwrap());
        assert_eq!(direct.total_results, Some(3));
        assert_eq!(direct.extra["nextCursor"], "abc");
        assert_eq!(direct.resources[0].ssh_keys(), ["k"]);
        for odd in odd_cases {
            let r = page(json!([user, odd]));
            let direct: ListResponse<User> = serde_json::from_slice::<DirectPage<User>>(&r.body)
                .unwrap()
                .0;
            assert!(direct.resources[1].has_noncanonical_names(), "{odd}");
            assert!(!direct.resources[0].has_noncanonical_names());
            let decoded: ListResponse<User> = r.resource_list().unwrap();
            assert_eq!(decoded, r.resource_list_careful().unwrap(), "{odd}");
            assert!(decoded.resources[1].extra.is_empty(), "{odd}");
            let one = raw(odd.clone());
            assert_eq!(
                one.resource::<User>().unwrap(),
                one.resource_careful::<User>().unwrap()
            );
        }
        let group = page(json!([{"id": "g", "displayName": "G",
                                 "members": [{"Value": "1", "type": "User"}]}]));
        let direct: ListResponse<Group> = group.resource_list().unwrap();
        assert_eq!(direct.resources[0].member_ids().collect::<Vec<_>>(), ["1"]);
        assert_eq!(direct, group.resource_list_careful().unwrap());
        // a duplicate attribute, or a resource that does not decode: the careful way decides
        let dup = RawResponse {
            body: br#"{"totalResults":1,"totalResults":2,"Resources":[{"id":"1"}]}"#.to_vec(),
            ..raw(json!({}))
        };
        assert!(serde_json::from_slice::<DirectPage<Value>>(&dup.body).is_err());
        let bad = page(json!([{"id": "1", "userName": "a"}, {"id": "2", "userName": 5}]));
        let e = bad.resource_list::<User>().unwrap_err();
        assert!(e.to_string().contains("Resources[1].userName"), "{e}");
    }

    #[test]
    fn html_is_reduced_to_text() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let d = describe_body(
            &h,
            b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
        );
        assert_eq!(d, "a text/html body: 502 Bad Gateway nginx");
        assert_eq!(
            describe_body(&HeaderMap::new(), b"<p></p>"),
            "a no content type body"
        );
    }

    #[test]
    fn urls_are_built_under_the_prefix() {
        let c = ScimClient::builder("http://127.0.0.1:9/tenant-1/v2")
            .build()
            .unwrap();
        assert_eq!(
            c.url(&["Users", "a b/c"], &[("filter", "x eq \"y\"".into())])
                .as_str(),
            "http://127.0.0.1:9/tenant-1/v2/Users/a%20b%2Fc?filter=x%20eq%20%22y%22"
        );
        assert_eq!(
            c.url(&["ServiceProviderConfig"], &[]).as_str(),
            "http://127.0.0.1:9/tenant-1/v2/ServiceProviderConfig"
        );
    }
}
