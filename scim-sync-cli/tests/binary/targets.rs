//! The SCIM targets the end-to-end tests run against: the embedded `scim-server` started in
//! the test process, or the independent scim2-server (`SCIM2_SERVER_URL`, a tenant per test).

use scim_client::{Method, ScimClient};
use scim_server::faults::FaultPlan;
use scim_server::{Profile, ResourceKind, ScimServer, ServerHandle};
use secrecy::SecretString;
use serde_json::Value;

const EMBEDDED_TOKEN: &str = "embedded-e2e-token-51c0";

pub(crate) enum Target {
    Embedded(ServerHandle),
    Scim2 {
        base: String,
        token: String,
        client: ScimClient,
    },
}

impl Target {
    /// The embedded server, CoreWeave profile (pages capped at 50).
    pub(crate) async fn embedded() -> Target {
        Self::embedded_with(FaultPlan::new(7)).await
    }

    /// The embedded server with injected faults.
    pub(crate) async fn embedded_with(faults: FaultPlan) -> Target {
        let server = ScimServer::builder()
            .bearer_token(Some(EMBEDDED_TOKEN))
            .profile(Profile::CoreWeave)
            .faults(faults)
            .start("127.0.0.1:0")
            .await
            .expect("the embedded server starts");
        Target::Embedded(server)
    }

    /// The scim2-server named by the environment, on a tenant of its own.
    pub(crate) async fn scim2(test: &str) -> Target {
        Self::scim2_at("SCIM2_SERVER", test)
    }

    /// The scim2-server without the CoreWeave extension (`SCIM2_PLAIN_SERVER_URL`): a target
    /// that is not CoreWeave.
    pub(crate) async fn scim2_plain(test: &str) -> Target {
        Self::scim2_at("SCIM2_PLAIN_SERVER", test)
    }

    fn scim2_at(variables: &str, test: &str) -> Target {
        let url = std::env::var(format!("{variables}_URL")).unwrap_or_else(|_| {
            panic!("{variables}_URL names a running scim2-server (cargo xtask ci starts one)")
        });
        let token = std::env::var(format!("{variables}_TOKEN")).expect("its token");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let base = format!(
            "{}/cli-{test}-{}-{nanos:x}/v2",
            url.trim_end_matches('/'),
            std::process::id()
        );
        let client = ScimClient::builder(&base)
            .bearer_token(SecretString::from(token.clone()))
            .build()
            .expect("a client for scim2-server");
        Target::Scim2 {
            base,
            token,
            client,
        }
    }

    pub(crate) fn base_url(&self) -> String {
        match self {
            Target::Embedded(s) => s.base_url(),
            Target::Scim2 { base, .. } => base.clone(),
        }
    }

    pub(crate) fn token(&self) -> String {
        match self {
            Target::Embedded(_) => EMBEDDED_TOKEN.to_owned(),
            Target::Scim2 { token, .. } => token.clone(),
        }
    }

    async fn list(&self, kind: ResourceKind) -> Vec<Value> {
        match self {
            Target::Embedded(s) => {
                let mut all = s.default_tenant().all(kind);
                all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                all
            }
            Target::Scim2 { client, .. } => {
                let endpoint = match kind {
                    ResourceKind::User => "Users",
                    _ => "Groups",
                };
                let resp = client
                    .raw(Method::GET, &format!("{endpoint}?count=1000"), None)
                    .await
                    .expect("list from scim2-server");
                assert!(resp.is_success(), "list {endpoint}: {}", resp.status);
                let page: Value = resp.json().expect("a list response");
                let mut all = page["Resources"].as_array().cloned().unwrap_or_default();
                all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                all
            }
        }
    }

    /// Every user the target holds (full records, sorted by id).
    pub(crate) async fn users(&self) -> Vec<Value> {
        self.list(ResourceKind::User).await
    }

    /// Every group the target holds (full records, sorted by id).
    pub(crate) async fn groups(&self) -> Vec<Value> {
        self.list(ResourceKind::Group).await
    }

    /// Creates a record directly (a record the syncer does not manage); returns it as stored.
    pub(crate) async fn seed(&self, kind: ResourceKind, record: Value) -> Value {
        match self {
            Target::Embedded(s) => s.default_tenant().seed(kind, record).expect("seeded"),
            Target::Scim2 { client, .. } => {
                let endpoint = match kind {
                    ResourceKind::User => "Users",
                    _ => "Groups",
                };
                let resp = client
                    .raw(Method::POST, endpoint, Some(&record))
                    .await
                    .expect("seed into scim2-server");
                assert!(resp.is_success(), "seed {endpoint}: {}", resp.status);
                resp.json().expect("the created record")
            }
        }
    }

    /// Changes a record directly (as another admin would): a PATCH of `operations`.
    pub(crate) async fn patch(&self, kind: ResourceKind, id: &str, operations: Value) {
        let client = ScimClient::builder(&self.base_url())
            .bearer_token(SecretString::from(self.token()))
            .build()
            .expect("a client for the target");
        let endpoint = match kind {
            ResourceKind::User => "Users",
            _ => "Groups",
        };
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        let resp = client
            .raw(Method::PATCH, &format!("{endpoint}/{id}"), Some(&body))
            .await
            .expect("the PATCH is answered");
        assert!(resp.is_success(), "PATCH {endpoint}/{id}: {}", resp.status);
    }

    /// Forgets the requests seen so far (embedded only; scim2-server keeps no log).
    pub(crate) fn mark(&self) {
        if let Target::Embedded(s) = self {
            s.clear_requests();
        }
    }

    /// Writes the server saw since the last [`Target::mark`] (embedded only).
    pub(crate) fn writes_seen(&self) -> Option<usize> {
        match self {
            Target::Embedded(s) => Some(s.requests().iter().filter(|r| r.method != "GET").count()),
            Target::Scim2 { .. } => None,
        }
    }
}
