//! How the target's discovery is read for the CoreWeave user extension (exact wire
//! behaviour, so a mock server): declared in `/ResourceTypes` or only in `/Schemas`, not
//! declared, or no discovery at all.

use scim_sync::ScimClient;
use scim_sync::target::{ExtensionSupport, extension_support};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const URN: &str = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";

fn list(resources: Value) -> Value {
    let n = resources.as_array().unwrap().len();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
           "totalResults": n, "Resources": resources})
}

fn user_type(extensions: &[&str]) -> Value {
    let extensions: Vec<Value> = extensions
        .iter()
        .map(|s| json!({"schema": s, "required": false}))
        .collect();
    json!({"id": "User", "name": "User", "endpoint": "/Users",
           "schema": "urn:ietf:params:scim:schemas:core:2.0:User", "schemaExtensions": extensions})
}

async fn target(resource_types: Option<Value>, schemas: Option<Value>) -> (MockServer, ScimClient) {
    let server = MockServer::start().await;
    for (endpoint, body) in [("/ResourceTypes", resource_types), ("/Schemas", schemas)] {
        let response = match body {
            Some(body) => ResponseTemplate::new(200).set_body_json(body),
            None => ResponseTemplate::new(404),
        };
        Mock::given(method("GET"))
            .and(path(endpoint))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    let client = ScimClient::builder(&server.uri())
        .bearer_token("tok".to_owned().into())
        .allow_insecure_http(true)
        .build()
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn declared_in_the_user_type_costs_one_request() {
    let (server, client) = target(Some(list(json!([user_type(&[URN])]))), None).await;
    assert_eq!(
        extension_support(&client).await.unwrap(),
        ExtensionSupport::Declared
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn declared_only_in_schemas_or_in_another_case_counts() {
    let schemas = list(json!([{"id": URN.to_uppercase()}]));
    let (_, client) = target(Some(list(json!([user_type(&[])]))), Some(schemas)).await;
    assert_eq!(
        extension_support(&client).await.unwrap(),
        ExtensionSupport::Declared
    );
}

#[tokio::test]
async fn a_target_that_lists_other_extensions_does_not_declare_it() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let schemas =
        list(json!([{"id": "urn:ietf:params:scim:schemas:core:2.0:User"}, {"id": enterprise}]));
    let (_, client) = target(Some(list(json!([user_type(&[enterprise])]))), Some(schemas)).await;
    let support = extension_support(&client).await.unwrap();
    assert!(
        matches!(support, ExtensionSupport::NotDeclared { .. }),
        "{support:?}"
    );
    let text = support.explain();
    assert!(
        text.contains("/ResourceTypes lists 1 type(s) and /Schemas lists 2"),
        "{text}"
    );
    assert!(text.contains("sync_ssh_keys = false"), "{text}");
}

#[tokio::test]
async fn no_discovery_is_unknown_not_missing() {
    let (_, client) = target(None, None).await;
    assert_eq!(
        extension_support(&client).await.unwrap(),
        ExtensionSupport::NoDiscovery
    );
}
