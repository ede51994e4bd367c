//! What the library's tests share: the sample organization and the embedded server.

use scim_client::ScimClient;
use scim_server::{Profile, ScimServer, ServerHandle};

/// The sample organization's export.
pub(crate) const ORG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample-org.json");

/// The embedded server (CoreWeave profile) on loopback, and a client for it.
pub(crate) async fn server() -> (ServerHandle, ScimClient) {
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let scim = ScimClient::builder(&server.base_url())
        .bearer_token("tok".into())
        .build()
        .unwrap();
    (server, scim)
}

/// The writes the server has seen.
pub(crate) fn writes(server: &ServerHandle) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}
