//! `scim-client`: a generic SCIM 2.0 client (RFC 7643/7644) with first-class CoreWeave types.
//!
//! # Guide
//!
//! Build a [`ScimClient`] with [`ScimClient::builder`] from the service provider's base URL
//! (any path prefix works: `https://api.coreweave.com/scim/<org>`,
//! `http://127.0.0.1:8080/tenant-1/v2`) and a bearer token held as a
//! [`secrecy::SecretString`]. Then use a per-resource handler — [`ScimClient::users`],
//! [`ScimClient::groups`], or [`ScimClient::resource`] for anything else — to
//! [`list`](Resources::list) (all pages, or [`list_stream`](Resources::list_stream)),
//! [`get`](Resources::get), [`create`](Resources::create), [`replace`](Resources::replace),
//! [`patch`](Resources::patch) and [`delete`](Resources::delete).
//!
//! - **Models** ([`User`], [`Group`], [`ListResponse`], [`PatchOp`], discovery documents)
//!   keep every attribute they do not model in an `extra` map, so a read-modify-write round
//!   trip loses nothing. The CoreWeave extensions are typed ([`CoreWeaveUser`],
//!   [`CoreWeaveGroup`]) and keyed by their URNs ([`schemas`]). Absent or `null`
//!   multi-valued attributes read as empty; attribute names are matched case-insensitively;
//!   numbers and booleans sent as strings are accepted. Writes leave out `meta` and
//!   read-only attributes and keep `schemas` in step with the extensions present.
//! - **Filters** are built with [`Filter`], which quotes and escapes values; never format
//!   user input into a filter string.
//! - **Paging cannot lie**: a walk that repeats ids, sees `totalResults` change, or reads a
//!   count that disagrees with `totalResults` fails with [`Error::Paging`]; an incomplete
//!   list never looks complete. Once the first page gives `totalResults`, the other pages are
//!   requested concurrently (within [`ClientBuilder::max_in_flight`], never past the end) and
//!   checked in order, as a sequential walk would. A server that advertises RFC 9865 cursor
//!   paging in `/ServiceProviderConfig` is walked by cursor instead ([`Paging`]): one page
//!   after another, immune to records created or removed meanwhile; an id seen twice or a
//!   cursor followed twice ends the walk with [`Error::Paging`].
//! - **Retries** (429, 502, 503, 504, connection failures) use full-jitter exponential
//!   backoff and honour `Retry-After`, bounded by attempts and a time budget
//!   ([`transport::RetryPolicy`]). A create (POST) that may have reached the server is
//!   never resent: it fails with [`Error::OutcomeUnknown`] and the caller looks the record up
//!   ([`Resources::find_by_external_id`]). PUT, PATCH and DELETE are retried (the PATCHes
//!   built here converge when applied twice).
//! - **Pacing and accounting**: a bound on requests in flight and an optional rate, shared by
//!   all clones; counters per method and status ([`ScimClient::stats`]). The generic pieces
//!   live in the public [`transport`] module for other clients to reuse.
//! - **Discovery**: [`ScimClient::service_provider_config`], [`ScimClient::resource_types`],
//!   [`ScimClient::schemas`] return `None` when the server does not offer them (404).
//! - **Escape hatch**: [`ScimClient::raw`] for vendor quirks, [`Resources::list_page`] for
//!   one unchecked page, [`ScimClient::resource`] for resource types not modelled here.
//! - **Errors**: one [`Error`] enum; [`Error::Api`] carries status, `scimType` and `detail`
//!   (or an excerpt of a non-SCIM body such as an HTML error page), with helpers
//!   [`Error::is_uniqueness`], [`Error::is_not_found`], [`Error::is_outcome_unknown`];
//!   401/403 are [`Error::Unauthorized`]; decode errors name the JSON path.
//! - **Security**: plain `http://` is refused unless the host is loopback or
//!   [`ClientBuilder::allow_insecure_http`] is set; the token appears in no `Debug`,
//!   `Display`, error or log line.
//!
//! # Example
//!
//! Runs against a local mock server standing in for a SCIM service provider.
//!
//! ```
//! use scim_client::{CoreWeaveUser, Filter, ListQuery, PatchOp, ScimClient, User};
//! use secrecy::SecretString;
//! use serde_json::json;
//! use wiremock::matchers::{method, path, query_param};
//! use wiremock::{Mock, MockServer, ResponseTemplate};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), scim_client::Error> {
//! let server = MockServer::start().await;
//! Mock::given(method("GET"))
//!     .and(path("/scim/org1/Users"))
//!     .and(query_param("filter", r#"externalId sw "pw-activate:""#))
//!     .respond_with(ResponseTemplate::new(200).set_body_json(json!({
//!         "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
//!         "totalResults": 1, "startIndex": 1, "itemsPerPage": 1,
//!         "Resources": [{"id": "u1", "userName": "alice", "externalId": "pw-activate:user:alice",
//!                        "active": true}]
//!     })))
//!     .mount(&server)
//!     .await;
//! Mock::given(method("PATCH"))
//!     .and(path("/scim/org1/Users/u1"))
//!     .respond_with(ResponseTemplate::new(204))
//!     .mount(&server)
//!     .await;
//!
//! let client = ScimClient::builder(&format!("{}/scim/org1", server.uri()))
//!     .bearer_token(SecretString::from("not-a-real-token"))
//!     .page_size(200)
//!     .build()?;
//!
//! let managed: Vec<User> = client
//!     .users()
//!     .list(&ListQuery::new().filter(Filter::sw("externalId", "pw-activate:")))
//!     .await?;
//! assert_eq!(managed[0].user_name, "alice");
//!
//! let patch = PatchOp::builder()
//!     .replace(CoreWeaveUser::SSH_KEYS_PATH, vec!["ssh-ed25519 AAAAC3Nz alice@laptop"])
//!     .replace("active", false)
//!     .build();
//! let answer = client.users().patch("u1", &patch).await?;
//! assert!(answer.is_none()); // 204 No Content
//! assert_eq!(client.stats().count("PATCH", 204), 1);
//! # Ok(())
//! # }
//! ```

mod client;
mod discovery;
mod error;
mod filter;
mod group;
mod handler;
mod lenient;
mod list;
mod patch;
mod resource;
pub mod schemas;
/// The workspace's shared HTTP plumbing ([`http_transport`]), re-exported.
pub use http_transport as transport;
mod user;

pub use client::{
    COREWEAVE_SCIM_BASE, ClientBuilder, Paging, RawResponse, ScimClient, coreweave_base_url,
    is_coreweave_url,
};
pub use discovery::{
    BulkConfig, FilterConfig, PaginationConfig, ResourceType, Schema, SchemaAttribute,
    SchemaExtension, ServiceProviderConfig, Supported,
};
pub use error::{Error, ReadLimit, ScimErrorBody};
pub use filter::{CompareOp, Filter, member_value_path};
pub use group::{CoreWeaveGroup, Group, Member};
pub use handler::Resources;
pub use list::{ListQuery, ListResponse};
pub use patch::{PatchKind, PatchOp, PatchOpBuilder, PatchOperation};
pub use reqwest::Method;
pub use resource::{Meta, Resource};
pub use user::{CoreWeaveUser, Email, GroupRef, Name, User};
