//! `activate-client`: reads a Parallel Works ACTIVATE organization — users, groups, group
//! members and SSH public keys — into a [`SourceSnapshot`] that is complete or an error.
//!
//! # Guide
//!
//! Build an [`ActivateClient`] from the API key (`ACTIVATE_API_KEY`, a [`SecretString`]).
//! The platform URL is derived from the key (`pwt_<base64url host>.<secret>`), or overridden
//! with [`ClientBuilder::base_url`] (`ACTIVATE_API_URL`). The organization comes from
//! [`ClientBuilder::org_name`] (`ACTIVATE_ORG_NAME`) or from
//! `GET /api/auth/whoami/organization`. Then call [`ActivateClient::snapshot`]:
//!
//! 1. users: `GET /api/organizations/{org}/users?limit=500&skip=N&active=all`, every page,
//!    checked for consistency (a list that changes while it is read is an error); a server
//!    that caps the page size lower is followed, its first page setting the page size;
//! 2. groups: `GET /api/organizations/{org}/groups`, then the members of each group in
//!    scope, `GET /api/organizations/{org}/groups/{name}/members` (name percent-encoded);
//!    members are joined to users by username, case-insensitively, and members that are not
//!    users are left out with a warning;
//! 3. SSH keys of the active users in scope, with bounded concurrency, from
//!    [`KeySource::Rest`] (`GET /api/users/{username}/ssh-public-keys`) or
//!    [`KeySource::PwCli`] (`pw ssh-public-keys <username>`).
//!
//! **Never partial.** Any failure to read users, groups or members fails the snapshot
//! (after bounded retries on 429, 500, 502, 503, 504, timeouts and connection errors, with
//! full-jitter backoff honouring `Retry-After`; [`RetryPolicy`] from
//! `http_transport`). Only a per-user key fetch may fail softly: that user's
//! `ssh_keys` is `None` ("unknown": the engine leaves the keys downstream untouched) and
//! [`Snapshot::warnings`] says why. Key listings are kept line by line as read (comments and
//! blank lines included, for the engine's line numbers); a listing with no valid key line
//! at all (an error page, a usage message) is a failed fetch, never "no keys".
//!
//! **Cost.** A snapshot of N users and G groups in scope, K of the users active and in
//! scope, costs `[1 whoami] + max(1, ceil(N / 500)) + 1 + G + K` requests without retries
//! (`K` is 0 with the `pw` source, which runs `pw` K times instead; a server capping pages at
//! P < 500 makes the second term `ceil(N / P)`). [`ActivateClient::stats`]
//! counts every attempt, retries included.
//!
//! **Secrets.** The key is sent as HTTP Basic (`<key>:`), marked sensitive; it never
//! appears in `Debug`, errors or logs, and server bodies quoted in errors are redacted.
//!
//! **Errors.** One [`Error`] enum. API errors carry the status, the body's `code` and its
//! `detail`/`message` (legacy `{error, message}` and `application/problem+json` alike), or
//! the first bytes of a non-JSON body (an HTML page from a proxy); 401 and 403 say which
//! setting to check.
//!
//! **Sources.** The client implements the engine's [`scim_diff::source::Source`] trait
//! (scope from [`ClientBuilder::sync_groups`], warnings logged). The same snapshot is the
//! on-disk "ACTIVATE export" ([`read_export`], [`parse_export`], [`write_export`]);
//! `examples/sample-org.json` at the repository root is a sample organization.
//!
//! # Example
//!
//! ```
//! use activate_client::{ActivateClient, SnapshotOptions};
//! use secrecy::SecretString;
//!
//! // the platform URL comes from the key: base64url("activate.parallel.works")
//! let key = SecretString::from("pwt_YWN0aXZhdGUucGFyYWxsZWwud29ya3M.s3cr3t");
//! let client = ActivateClient::builder(key.clone())
//!     .org_name(Some("acme".into()))
//!     .build()
//!     .unwrap();
//! assert_eq!(client.base_url().as_str(), "https://activate.parallel.works/");
//! assert!(!format!("{client:?}").contains("s3cr3t"));
//!
//! // a malformed key is a configuration error that does not quote it
//! let err = ActivateClient::builder(SecretString::from("pwt_s3cr3t")).build().unwrap_err();
//! assert!(!err.to_string().contains("s3cr3t"));
//!
//! # async fn run(client: ActivateClient) -> Result<(), activate_client::Error> {
//! let snap = client.snapshot(&SnapshotOptions::default()).await?;
//! for warning in &snap.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! println!("{} users, {} groups", snap.snapshot.users.len(), snap.snapshot.groups.len());
//! println!("{} requests", client.stats().requests);
//! # Ok(()) }
//! ```

mod api;
mod api_key;
mod client;
mod error;
mod export;
pub mod model;
mod snapshot;
mod ssh_keys;

pub use api_key::{API_KEY_PREFIX, base_url_from_api_key, scim_api_url};
pub use client::{ActivateClient, ClientBuilder, MAX_PAGE_SIZE, MAX_USERS};
pub use error::Error;
pub use export::{
    DEFAULT_EXPORT_MAX_BYTES, SECRET_FILE_MAX_BYTES, parse_export, read_export,
    read_export_with_limit, read_secret_file, read_text_file, write_export, write_private_file,
};
pub use http_transport::{RetryPolicy, StatsSnapshot};
pub use scim_diff::source::{SourceGroup, SourceSnapshot, SourceUser};
pub use secrecy::SecretString;
pub use snapshot::{Snapshot, SnapshotOptions, groups_in_scope};
pub use ssh_keys::{KeySource, parse_key_listing};
