//! Shared fixtures for the wiremock tests.

use std::time::Duration;

use scim_client::transport::RetryPolicy;
use scim_client::{ClientBuilder, Paging, ScimClient};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::MockServer;

/// A token that must never show up in any output.
pub(crate) const TOKEN: &str = "tok-3f9c1e-never-print-me";

/// The path prefix every mock base URL carries.
pub(crate) const PREFIX: &str = "/scim/org1";

/// A builder pointed at the mock server's `PREFIX`, with fast retries and index paging (so
/// that no walk asks for `/ServiceProviderConfig`; `cursor.rs` tests the other ways).
pub(crate) fn builder(server: &MockServer) -> ClientBuilder {
    ScimClient::builder(&format!("{}{PREFIX}", server.uri()))
        .bearer_token(SecretString::from(TOKEN))
        .retry_policy(fast_retry())
        .paging(Paging::Index)
}

/// A client pointed at the mock server with fast retries.
pub(crate) fn client(server: &MockServer) -> ScimClient {
    builder(server).build().expect("client builds")
}

/// Retries with millisecond waits so tests stay quick.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_base_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
        .with_total_budget(Duration::from_secs(20))
}

/// `PREFIX` + `rest`.
pub(crate) fn p(rest: &str) -> String {
    format!("{PREFIX}{rest}")
}

/// A minimal user resource.
pub(crate) fn user(id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": format!("user-{id}"),
        "externalId": format!("pw-activate:user:{id}"),
        "active": true
    })
}

/// A list response.
pub(crate) fn list(total: u64, start: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources
    })
}
