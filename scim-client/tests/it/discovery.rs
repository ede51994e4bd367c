//! Discovery endpoints and the raw escape hatch.

use scim_client::{Method, schemas};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{client, p};

#[tokio::test]
async fn not_offered_is_none_not_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.service_provider_config().await.unwrap(), None);
    assert_eq!(c.resource_types().await.unwrap(), None);
    assert_eq!(c.schemas().await.unwrap(), None);
}

#[tokio::test]
async fn service_provider_config_is_decoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/ServiceProviderConfig")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "schemas": [schemas::SERVICE_PROVIDER_CONFIG],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": "1048576"},
            "filter": {"supported": true, "maxResults": 200},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": "true"},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token"}],
            "x-vendor": 1
        })))
        .mount(&server)
        .await;
    let spc = client(&server)
        .service_provider_config()
        .await
        .unwrap()
        .unwrap();
    assert!(spc.patch.is_supported());
    assert!(spc.etag.is_supported());
    assert!(!spc.sort.is_supported());
    assert_eq!(spc.filter.max_results, Some(200));
    assert_eq!(spc.bulk.max_payload_size, Some(1_048_576));
    assert_eq!(spc.extra["x-vendor"], 1);
}

#[tokio::test]
async fn resource_types_as_list_response_or_bare_array() {
    let rt = json!({
        "id": "User", "name": "User", "endpoint": "/Users",
        "schema": schemas::USER,
        "schemaExtensions": [{"schema": schemas::COREWEAVE_USER, "required": false}]
    });
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/ResourceTypes")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "schemas": [schemas::LIST_RESPONSE], "totalResults": 1, "Resources": [rt.clone()]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Schemas")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "id": schemas::COREWEAVE_USER, "name": "CoreWeaveUser",
            "attributes": [{"name": "sunkSshKeys", "type": "string", "multiValued": true,
                            "mutability": "readWrite", "returned": "default"}]
        }])))
        .mount(&server)
        .await;
    let c = client(&server);
    let types = c.resource_types().await.unwrap().unwrap();
    assert_eq!(types[0].endpoint, "/Users");
    assert_eq!(
        types[0].schema_extensions[0].schema,
        schemas::COREWEAVE_USER
    );
    let s = c.schemas().await.unwrap().unwrap();
    assert_eq!(s[0].attributes[0].name, "sunkSshKeys");
    assert_eq!(s[0].attributes[0].multi_valued, Some(true));
}

#[tokio::test]
async fn discovery_errors_other_than_404_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"status": "400"})))
        .mount(&server)
        .await;
    assert_eq!(
        client(&server)
            .service_provider_config()
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
}

#[tokio::test]
async fn raw_requests_reach_the_prefixed_path_and_return_any_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(p("/Users/.search")))
        .respond_with(ResponseTemplate::new(418).set_body_json(json!({"teapot": true})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users/u1")))
        .and(query_param("attributes", "userName"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u1"})))
        .mount(&server)
        .await;
    let c = client(&server);
    let r = c
        .raw(
            Method::POST,
            "/Users/.search",
            Some(&json!({"filter": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 418);
    assert!(!r.is_success());
    assert_eq!(r.json::<serde_json::Value>().unwrap()["teapot"], true);
    let r = c
        .raw(Method::GET, "Users/u1?attributes=userName", None)
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().unwrap()["id"], "u1");
    assert_eq!(c.stats().count("POST", 418), 1);
}
