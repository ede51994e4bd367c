//! Both ends as a front end configures them, connected: [`SourceSettings`] and
//! [`TargetSettings`] turned into a [`Source`] and a [`ScimClient`] by a [`Connection`], which
//! holds what the two clients share (timeouts, the retry budget, the read bounds, plain-http
//! consent, the `User-Agent`), so that every front end builds them with the same defaults.
//!
//! ```
//! use scim_sync::connect::{Connection, SourceSettings, TargetSettings};
//! let connection = Connection::default();
//! let target = TargetSettings {
//!     base_url: "https://api.coreweave.com/scim/abc123".into(),
//!     token: "token-from-a-secret".into(),
//! };
//! let scim = connection.target(&target).unwrap();
//! let source = connection.source(&SourceSettings::File("org.json".into())).unwrap();
//! assert!(source.is_local());
//! # let _ = scim;
//! ```

use std::path::PathBuf;
use std::time::Duration;

use activate_client::{ActivateClient, KeySource};
use http_transport::RetryPolicy;
use scim_client::ScimClient;
use secrecy::SecretString;

use crate::Source;
use crate::directory::ScimDirectory;

/// The SCIM target.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// SCIM base URL (no trailing slash).
    pub base_url: String,
    /// Bearer token (never printed).
    pub token: SecretString,
}

/// Reading ACTIVATE through its API.
#[derive(Debug, Clone)]
pub struct ActivateSettings {
    /// The API key (never printed).
    pub api_key: SecretString,
    /// Base URL override (default: derived from the key).
    pub api_url: Option<String>,
    /// Organization name (default: the key's organization).
    pub org_name: Option<String>,
    /// Where SSH keys come from.
    pub key_source: KeySource,
    /// Users whose keys are fetched at once.
    pub key_concurrency: usize,
}

/// Reading ACTIVATE through its read-only SCIM 2.0 API (or any SCIM 2.0 directory).
#[derive(Debug, Clone)]
pub struct ScimSourceSettings {
    /// The API's base URL (checked, no trailing slash).
    pub url: String,
    /// The organization-scoped SCIM token (never printed).
    pub token: SecretString,
    /// The organization, when known (for the report).
    pub org_name: Option<String>,
}

impl ScimSourceSettings {
    /// Where ACTIVATE's SCIM API is when its URL is not given:
    /// `<platform>/api/organizations/<org>/scim/v2`, with the platform's base URL given, or
    /// else read from the API key.
    ///
    /// ```
    /// use scim_sync::connect::ScimSourceSettings;
    /// let url = ScimSourceSettings::derived_url(Some("https://activate.example"), None, Some("acme"));
    /// assert_eq!(url.unwrap(), "https://activate.example/api/organizations/acme/scim/v2");
    /// assert!(ScimSourceSettings::derived_url(None, None, Some("acme")).is_err());
    /// ```
    pub fn derived_url(
        platform: Option<&str>,
        api_key: Option<&SecretString>,
        org: Option<&str>,
    ) -> Result<String, DerivedUrlError> {
        let org = org.ok_or(DerivedUrlError::NoOrganization)?;
        let platform = match (platform, api_key) {
            (Some(url), _) => url::Url::parse(url)
                .map_err(|e| DerivedUrlError::Platform(format!("the ACTIVATE base URL: {e}")))?,
            (None, Some(key)) => activate_client::base_url_from_api_key(key)
                .map_err(|e| DerivedUrlError::Platform(format!("the API key: {e}")))?,
            (None, None) => return Err(DerivedUrlError::NoPlatform),
        };
        activate_client::scim_api_url(&platform, org)
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .map_err(|e| DerivedUrlError::Platform(e.to_string()))
    }
}

/// Why ACTIVATE's SCIM API URL cannot be derived ([`ScimSourceSettings::derived_url`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DerivedUrlError {
    /// The URL names the organization, and none is known.
    #[error("no organization to derive it from")]
    NoOrganization,
    /// Neither the platform's base URL nor an API key (which encodes the host) is known.
    #[error("no ACTIVATE base URL or API key to derive it from")]
    NoPlatform,
    /// The platform's base URL, or the host the API key names, is not usable.
    #[error("{0}")]
    Platform(String),
}

/// Requests in flight to the SCIM directory source at the start (the SCIM client's default).
const DIRECTORY_IN_FLIGHT: usize = 8;

/// Where the snapshot comes from.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// An ACTIVATE export file (JSON).
    File(PathBuf),
    /// The ACTIVATE API.
    Api(ActivateSettings),
    /// ACTIVATE's SCIM API.
    Scim(ScimSourceSettings),
}

/// What the clients of both ends share.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Allow plain `http://` to a host that is not loopback (a credential then travels
    /// unencrypted).
    pub allow_insecure_http: bool,
    /// The page size asked of the target.
    pub page_size: u32,
    /// Requests in flight at once, to the target.
    pub concurrency: usize,
    /// The most requests in flight the bound may grow to, from `concurrency` for the target
    /// and the SCIM directory source and from `key_concurrency` for ACTIVATE's key reads,
    /// while answers come without 429/503 and latency holds (it halves on a 429/503). Equal
    /// to the start, or below it: a fixed bound. Writes to the target follow the bound too
    /// ([`scim_diff::Target::write_lanes`]).
    pub max_concurrency: usize,
    /// At most this many requests per second to the target (`None`: no pacing).
    pub requests_per_second: Option<f64>,
    /// Bound on each request.
    pub request_timeout: Duration,
    /// Bound on the retries of one request, in time.
    pub retry_budget: Duration,
    /// The most records a target list may hold.
    pub max_records: u64,
    /// The largest response body read.
    pub max_response_bytes: u64,
    /// The largest export file read.
    pub source_file_max_bytes: u64,
    /// The `User-Agent` of every request.
    pub user_agent: String,
}

impl Default for Connection {
    /// The SCIM client's and the ACTIVATE client's own defaults, https only.
    fn default() -> Self {
        Self {
            allow_insecure_http: false,
            page_size: 100,
            concurrency: 8,
            max_concurrency: 8,
            requests_per_second: None,
            request_timeout: Duration::from_secs(30),
            retry_budget: Duration::from_secs(60),
            max_records: 2_000_000,
            max_response_bytes: 128 << 20,
            source_file_max_bytes: activate_client::DEFAULT_EXPORT_MAX_BYTES,
            user_agent: concat!("scim-sync/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Connection {
    /// The SCIM client of `target`.
    pub fn target(&self, target: &TargetSettings) -> Result<ScimClient, String> {
        self.scim_client(&target.base_url, &target.token, self.concurrency)
            .requests_per_second(self.requests_per_second)
            .build()
            .map_err(|e| format!("SCIM client: {e}"))
    }

    /// A SCIM client of `base_url` with what both SCIM ends share: the bounds, the page
    /// size, the retries, and an in-flight bound starting at `in_flight`.
    fn scim_client(
        &self,
        base_url: &str,
        token: &SecretString,
        in_flight: usize,
    ) -> scim_client::ClientBuilder {
        ScimClient::builder(base_url)
            .bearer_token(token.clone())
            .allow_insecure_http(self.allow_insecure_http)
            .page_size(self.page_size)
            .max_in_flight(in_flight)
            .max_concurrency(Some(self.max_concurrency.max(in_flight)))
            .timeout(self.request_timeout)
            .retry_policy(self.retry_policy())
            .max_list_records(self.max_records)
            .max_response_bytes(self.max_response_bytes)
            .user_agent(&self.user_agent)
    }

    /// The source `settings` name.
    pub fn source(&self, settings: &SourceSettings) -> Result<Source, String> {
        let api = match settings {
            SourceSettings::File(path) => {
                return Ok(Source::ExportFile {
                    path: path.clone(),
                    max_bytes: self.source_file_max_bytes,
                });
            }
            SourceSettings::Scim(scim) => return self.directory(scim),
            SourceSettings::Api(api) => api,
        };
        let mut builder = ActivateClient::builder(api.api_key.clone())
            .allow_insecure_http(self.allow_insecure_http)
            .timeout(self.request_timeout)
            .retry_policy(self.retry_policy())
            .org_name(api.org_name.clone())
            .key_concurrency(api.key_concurrency)
            .max_key_concurrency(Some(self.max_concurrency))
            .user_agent(&self.user_agent)
            .key_source(api.key_source.clone());
        if let Some(url) = &api.api_url {
            builder = builder.base_url(url.clone());
        }
        builder
            .build()
            .map(Source::Activate)
            .map_err(|e| format!("ACTIVATE client: {e}"))
    }

    /// The SCIM directory source: read with the same bounds as the target (its lists are as
    /// large), a request per page.
    fn directory(&self, settings: &ScimSourceSettings) -> Result<Source, String> {
        self.scim_client(&settings.url, &settings.token, DIRECTORY_IN_FLIGHT)
            .build()
            .map(|client| {
                Source::ScimDirectory(
                    ScimDirectory::new(client).organization(settings.org_name.clone()),
                )
            })
            .map_err(|e| format!("ACTIVATE SCIM client: {e}"))
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default().with_total_budget(self.retry_budget)
    }
}
