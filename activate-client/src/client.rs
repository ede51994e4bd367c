//! The client and its builder.

use std::sync::Arc;
use std::time::Duration;

use http_transport::{Pacer, RetryPolicy, StatsSnapshot, Transport};
use secrecy::SecretString;
use tokio::sync::OnceCell;
use url::{Host, Url};

use crate::api::{ACCEPT_TEXT, Api, is_dot_segment};
use crate::model::{Group, GroupList, Member, OrgUser, UsersPage, WhoamiOrganization};
use crate::ssh_keys::{KeySource, parse_rest_listing, pw_listing};
use crate::{Error, api_key};

/// The most users an organization listing may hold (far above any real organization): a
/// `total` above it is refused on the first page rather than walked.
pub const MAX_USERS: u64 = 2_000_000;

/// The largest page the users route serves.
pub const MAX_PAGE_SIZE: u32 = 500;

/// A client for one ACTIVATE organization. Cheap to clone (the state is shared, including
/// the request counters).
#[derive(Debug, Clone)]
pub struct ActivateClient {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) api: Api,
    pub(crate) org: OnceCell<String>,
    pub(crate) key_source: KeySource,
    pub(crate) concurrency: usize,
    pub(crate) page_size: u32,
    pub(crate) default_options: crate::SnapshotOptions,
}

/// Configures an [`ActivateClient`]; see [`ActivateClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    api_key: SecretString,
    base_url: Option<String>,
    allow_insecure_http: bool,
    org_name: Option<String>,
    timeout: Duration,
    retry_policy: RetryPolicy,
    concurrency: usize,
    max_concurrency: Option<usize>,
    requests_per_second: Option<f64>,
    key_source: KeySource,
    page_size: u32,
    user_agent: String,
    sync_groups: Option<Vec<String>>,
}

impl ActivateClient {
    /// Starts configuring a client that authenticates with `api_key` (`ACTIVATE_API_KEY`).
    pub fn builder(api_key: SecretString) -> ClientBuilder {
        ClientBuilder {
            api_key,
            base_url: None,
            allow_insecure_http: false,
            org_name: None,
            timeout: Duration::from_secs(30),
            retry_policy: RetryPolicy::default(),
            concurrency: 8,
            max_concurrency: None,
            requests_per_second: None,
            key_source: KeySource::Rest,
            page_size: MAX_PAGE_SIZE,
            user_agent: concat!("pw-activate-scim-sync/", env!("CARGO_PKG_VERSION")).to_owned(),
            sync_groups: None,
        }
    }

    /// The platform's base URL in use (derived from the key or overridden).
    pub fn base_url(&self) -> &Url {
        &self.inner.api.base
    }

    /// The request counters so far (every HTTP attempt, retries included), with the
    /// in-flight bound reached and the time paused for `Retry-After`.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.api.transport.snapshot()
    }

    /// The organization name: the configured one, else `GET /api/auth/whoami/organization`
    /// (asked once, then remembered).
    pub async fn organization(&self) -> Result<String, Error> {
        self.inner
            .org
            .get_or_try_init(|| async {
                let url = self
                    .inner
                    .api
                    .url(&["auth", "whoami", "organization"], None);
                let path = crate::api::shown_path(&url);
                let name = match self.inner.api.get_json::<WhoamiOrganization>(url).await? {
                    WhoamiOrganization::Name(name) | WhoamiOrganization::Object { name } => name,
                };
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err(Error::Decode {
                        path,
                        json_path: ".".to_owned(),
                        message: "the organization name is empty; set ACTIVATE_ORG_NAME".to_owned(),
                    });
                }
                Ok(name)
            })
            .await
            .cloned()
    }

    /// Every user of the organization, active or not, read page by page
    /// (`limit=<page size>&skip=N&active=all`).
    ///
    /// The walk must be consistent: `total` may not change between pages, a page may not come
    /// back short before `total` users were read, and no user may appear twice. Anything
    /// else is [`Error::Inconsistent`] — the list changed while it was read, so it is not
    /// reported at all rather than reported wrong.
    ///
    /// A server that caps the page size below the `limit` asked for is followed: the first
    /// page's length (when it is short of both `limit` and `total`) becomes the page size
    /// every later page but the last must fill.
    ///
    /// Once the first page gives `total`, the other pages are requested at once (within the
    /// client's in-flight bound), never past the end, and checked in order: at 50 ms a round
    /// trip, 20 pages cost two round trips instead of twenty.
    pub async fn users(&self) -> Result<Vec<OrgUser>, Error> {
        use futures_util::StreamExt;
        let org = self.organization().await?;
        let limit = u64::from(self.inner.page_size);
        let first = self.users_page(&org, 0).await?;
        let mut walk = UsersWalk::new(first.total)?;
        let returned = walk.take(0, first)?;
        if walk.is_complete() {
            return Ok(walk.users);
        }
        // the server's page size: `limit`, or less if the first page shows a cap
        let page = returned.min(limit);
        if page == 0 {
            return Err(walk.short_page(0, returned, limit));
        }
        // the other pages at once, never past the end, checked in order as a walk would be
        let total = walk.total;
        let skips = (1..)
            .map(|k| k * page)
            .take_while(move |&skip| skip < total);
        let mut pages = futures_util::stream::iter(skips)
            .map(|skip| {
                let org = &org;
                async move { (skip, self.users_page(org, skip).await) }
            })
            .buffered(self.concurrency());
        while let Some((skip, result)) = pages.next().await {
            let returned = walk.take(skip, result?)?;
            if returned < page && !walk.is_complete() {
                return Err(walk.short_page(skip, returned, page));
            }
        }
        if walk.is_complete() {
            Ok(walk.users)
        } else {
            Err(Error::Inconsistent(format!(
                "read {} users but total says {}: the list changed while it was read; run again",
                walk.users.len(),
                walk.total
            )))
        }
    }

    /// One page of users, from `skip`.
    async fn users_page(&self, org: &str, skip: u64) -> Result<UsersPage, Error> {
        let limit = self.inner.page_size;
        let query = format!("limit={limit}&skip={skip}&active=all");
        let url = self
            .inner
            .api
            .url(&["organizations", org, "users"], Some(&query));
        self.inner.api.get_json(url).await
    }

    /// Every group of the organization (`GET /api/organizations/{org}/groups`, a bare array).
    pub async fn groups(&self) -> Result<Vec<Group>, Error> {
        let org = self.organization().await?;
        let url = self.inner.api.url(&["organizations", &org, "groups"], None);
        Ok(self.inner.api.get_json::<GroupList>(url).await?.into_vec())
    }

    /// The members of one group, addressed by name (percent-encoded as one path segment).
    pub async fn group_members(&self, group_name: &str) -> Result<Vec<Member>, Error> {
        if is_dot_segment(group_name) {
            return Err(Error::Config(format!(
                "the group {group_name:?} cannot be addressed in a URL; rename it in ACTIVATE \
                 or leave it out of ACTIVATE_SYNC_GROUPS"
            )));
        }
        let org = self.organization().await?;
        let url = self.inner.api.url(
            &["organizations", &org, "groups", group_name, "members"],
            None,
        );
        let members: Option<Vec<Member>> = self.inner.api.get_json(url).await?;
        Ok(members.unwrap_or_default())
    }

    /// One user's SSH public keys from the configured [`KeySource`], as listing lines (see
    /// [`crate::parse_key_listing`]). Fails with [`Error::KeyFetch`] when the listing is
    /// unusable, or with the HTTP error of the REST route.
    pub async fn ssh_keys(&self, username: &str) -> Result<Vec<String>, Error> {
        let key_fetch = |message: String| Error::KeyFetch {
            username: username.to_owned(),
            message,
        };
        match &self.inner.key_source {
            KeySource::Rest if is_dot_segment(username) => Err(key_fetch(
                "this username cannot be addressed in a URL".to_owned(),
            )),
            KeySource::Rest => {
                let url = self
                    .inner
                    .api
                    .url(&["users", username, "ssh-public-keys"], None);
                let fetched = self.inner.api.get(url, ACCEPT_TEXT).await?;
                parse_rest_listing(fetched.content_type.as_deref(), &fetched.body)
                    .map_err(|m| key_fetch(self.inner.api.redact(&m)))
            }
            KeySource::PwCli { path, timeout } => pw_listing(path, username, *timeout)
                .await
                .map_err(|m| key_fetch(self.inner.api.redact(&m))),
        }
    }

    /// Lists and key listings started at once: over REST as many as the (adaptive) bound may
    /// reach, since the pacer holds them to the bound; `pw` processes as configured.
    pub(crate) fn concurrency(&self) -> usize {
        match self.inner.key_source {
            KeySource::Rest => self.inner.api.transport.pacer().max_in_flight(),
            KeySource::PwCli { .. } => self.inner.concurrency,
        }
    }
}

impl ClientBuilder {
    /// Overrides the platform URL derived from the key (`ACTIVATE_API_URL`), e.g.
    /// `https://activate.example.com`. A trailing `/api` is accepted and ignored.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Allows plain `http://` to a host that is not loopback (default: refused).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The organization name (`ACTIVATE_ORG_NAME`); `None` asks
    /// `GET /api/auth/whoami/organization`.
    pub fn org_name(mut self, name: Option<String>) -> Self {
        self.org_name = name;
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries of failed requests (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// How many member lists and key listings are fetched at once, and how many requests
    /// may be in flight (default 8; `0` is treated as `1`).
    pub fn key_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The most requests in flight the bound may grow to from
    /// [`key_concurrency`](Self::key_concurrency) while the API answers without 429/503 and
    /// latency holds (it halves on a 429/503). Default, or a value not above the start: a fixed
    /// bound. Key reads with the `pw` CLI stay at `key_concurrency`.
    pub fn max_key_concurrency(mut self, n: Option<usize>) -> Self {
        self.max_concurrency = n;
        self
    }

    /// At most this many requests started per second (default: unlimited).
    pub fn requests_per_second(mut self, rps: Option<f64>) -> Self {
        self.requests_per_second = rps;
        self
    }

    /// Where SSH keys come from (default [`KeySource::Rest`]).
    pub fn key_source(mut self, source: KeySource) -> Self {
        self.key_source = source;
        self
    }

    /// Users per page, 1..=500 (default 500, the API's maximum).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// The group scope used when the client is read through the [`scim_diff::source::Source`]
    /// trait (which takes no options); [`ActivateClient::snapshot`] takes its own.
    pub fn sync_groups(mut self, groups: Option<Vec<String>>) -> Self {
        self.sync_groups = groups;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Validates the configuration and builds the client. No request is made.
    ///
    /// Errors: [`Error::Config`] (malformed key, bad URL or option; never quoting the key)
    /// and [`Error::InsecureUrl`].
    pub fn build(self) -> Result<ActivateClient, Error> {
        let auth = api_key::basic_auth_header(&self.api_key)?;
        let base = match &self.base_url {
            Some(url) => normalise_base_url(url, self.allow_insecure_http)?,
            None => api_key::base_url_from_api_key(&self.api_key)?,
        };
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::Config(format!(
                "page size {} is outside 1..={MAX_PAGE_SIZE}",
                self.page_size
            )));
        }
        if let Some(rps) = self.requests_per_second
            && !(rps.is_finite() && rps > 0.0)
        {
            return Err(Error::Config(format!(
                "requests per second must be a positive number, not {rps}"
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::Config(
                "the request timeout must not be zero".to_owned(),
            ));
        }
        if let KeySource::PwCli { path, timeout } = &self.key_source {
            if path.as_os_str().is_empty() {
                return Err(Error::Config("the pw CLI path is empty".to_owned()));
            }
            if timeout.is_zero() {
                return Err(Error::Config(
                    "the pw CLI timeout must not be zero".to_owned(),
                ));
            }
        }
        let org = OnceCell::new();
        if let Some(name) = self.org_name.as_deref().map(str::trim) {
            if name.is_empty() {
                return Err(Error::Config(
                    "the organization name is empty: set ACTIVATE_ORG_NAME or leave it unset"
                        .to_owned(),
                ));
            }
            org.set(name.to_owned()).expect("a fresh cell is empty");
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        let transport = Transport::new(
            http,
            self.retry_policy,
            Pacer::adaptive(
                self.concurrency,
                self.max_concurrency.unwrap_or(self.concurrency),
                self.requests_per_second,
            ),
            "activate",
        )
        .with_retryable_statuses(crate::api::is_retryable)
        .with_max_response_bytes(crate::api::MAX_RESPONSE_BYTES);
        let api = Api {
            transport,
            base,
            auth,
            secrets: api_key::secret_forms(&self.api_key),
            timeout: self.timeout,
        };
        Ok(ActivateClient {
            inner: Arc::new(Inner {
                api,
                org,
                key_source: self.key_source,
                concurrency: self.concurrency,
                page_size: self.page_size,
                default_options: crate::SnapshotOptions {
                    sync_groups: self.sync_groups,
                    ..Default::default()
                },
            }),
        })
    }
}

/// Parses an `ACTIVATE_API_URL`: http(s) only, no credentials, no query; `http://` only for
/// loopback unless allowed; a trailing `/api` segment is dropped (routes add it).
fn normalise_base_url(text: &str, allow_insecure_http: bool) -> Result<Url, Error> {
    let mut url = Url::parse(text.trim())
        .map_err(|e| Error::Config(format!("ACTIVATE_API_URL {text:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(Host::Ipv4(ip)) => ip.is_loopback(),
                Some(Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback && !allow_insecure_http {
                return Err(Error::InsecureUrl {
                    host: url.host_str().unwrap_or_default().to_owned(),
                });
            }
        }
        other => {
            return Err(Error::Config(format!(
                "ACTIVATE_API_URL must be http(s), not {other}:"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config("ACTIVATE_API_URL has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "ACTIVATE_API_URL must not carry credentials; the API key is sent separately"
                .to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(
            "ACTIVATE_API_URL must not have a query or fragment".to_owned(),
        ));
    }
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let keep = match segments.last() {
        Some(last) if last == "api" => &segments[..segments.len() - 1],
        _ => &segments[..],
    };
    url.path_segments_mut()
        .expect("http(s) URLs have a path")
        .clear()
        .extend(keep)
        .push("");
    Ok(url)
}

/// A walk of the users list: every page must say the same `total`, and no user may appear
/// twice (by id or by username).
struct UsersWalk {
    total: u64,
    users: Vec<OrgUser>,
    ids: std::collections::HashSet<String>,
    names: std::collections::HashSet<String>,
}

impl UsersWalk {
    fn new(total: u64) -> Result<Self, Error> {
        if total > MAX_USERS {
            return Err(Error::Inconsistent(format!(
                "the organization says it has {total} users, more than the {MAX_USERS} \
                 this client reads; nothing was read"
            )));
        }
        Ok(UsersWalk {
            total,
            users: Vec::new(),
            ids: std::collections::HashSet::new(),
            names: std::collections::HashSet::new(),
        })
    }

    fn is_complete(&self) -> bool {
        self.users.len() as u64 == self.total
    }

    /// Takes the page read at `skip`; returns how many users it held.
    fn take(&mut self, skip: u64, page: UsersPage) -> Result<u64, Error> {
        if page.total != self.total {
            return Err(Error::Inconsistent(format!(
                "the users list changed while it was read: total was {}, then {} at \
                 skip={skip}; run again",
                self.total, page.total
            )));
        }
        let returned = page.users.len() as u64;
        for user in page.users {
            if !self.ids.insert(user.id.clone()) {
                return Err(Error::Inconsistent(format!(
                    "user id {} appeared twice while paging (at skip={skip}): the list \
                     shifted during the walk; run again",
                    user.id
                )));
            }
            if !self.names.insert(user.username.clone()) {
                return Err(Error::Inconsistent(format!(
                    "username {:?} appeared twice with different ids (at skip={skip})",
                    user.username
                )));
            }
            self.users.push(user);
        }
        let read = self.users.len() as u64;
        if read > self.total {
            return Err(Error::Inconsistent(format!(
                "read {read} users but total says {}",
                self.total
            )));
        }
        Ok(returned)
    }

    /// The error of a page that held fewer users than pages hold, before the end.
    fn short_page(&self, skip: u64, returned: u64, page: u64) -> Error {
        Error::Inconsistent(format!(
            "the users page at skip={skip} held {returned} users (pages hold {page}) although \
             total says {} and only {} were read: the list changed while it was read; run again",
            self.total,
            self.users.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_override_rules() {
        let ok = |s: &str| normalise_base_url(s, false).unwrap().to_string();
        assert_eq!(ok("https://act.example.com"), "https://act.example.com/");
        assert_eq!(
            ok("https://act.example.com/api/"),
            "https://act.example.com/"
        );
        assert_eq!(
            ok("https://x.example/proxy/activate/api"),
            "https://x.example/proxy/activate/"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(ok("http://localhost:1/"), "http://localhost:1/");
        assert_eq!(ok("http://[::1]:9/"), "http://[::1]:9/");
        assert!(matches!(
            normalise_base_url("http://act.example.com", false),
            Err(Error::InsecureUrl { .. })
        ));
        assert_eq!(
            normalise_base_url("http://act.example.com", true)
                .unwrap()
                .as_str(),
            "http://act.example.com/"
        );
        for bad in [
            "ftp://x",
            "not a url",
            "https://u:p@x.example",
            "https://x.example/?a=1",
        ] {
            assert!(
                matches!(normalise_base_url(bad, true), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
