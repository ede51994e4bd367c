//! A group created with its members (exact wire behaviour, so a mock server): one POST that
//! carries them, and a PATCH only for members a target did not keep.

use scim_diff::apply::Target;
use scim_sync::ScimClient;
use scim_sync::target::ScimTarget;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn target(server: &MockServer) -> ScimTarget {
    ScimTarget::new(
        ScimClient::builder(&server.uri())
            .bearer_token("tok".to_owned().into())
            .build()
            .unwrap(),
    )
}

/// Answers a group POST with the group as sent, keeping only the members in `keep`.
fn created(keep: &'static [&'static str]) -> impl Fn(&Request) -> ResponseTemplate {
    move |r: &Request| {
        let mut group: Value = serde_json::from_slice(&r.body).unwrap();
        group["id"] = json!("g1");
        let members: Vec<Value> = group["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| keep.contains(&m["value"].as_str().unwrap()))
            .collect();
        group["members"] = Value::Array(members);
        ResponseTemplate::new(201).set_body_json(group)
    }
}

fn members(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn the_members_travel_in_the_create_and_nothing_follows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/Groups"))
        .respond_with(created(&["u1", "u2"]))
        .expect(1)
        .mount(&server)
        .await;
    let id = target(&server)
        .create_group("pw-activate:group:1", "hpc", &members(&["u1", "u2"]))
        .await
        .unwrap();
    assert_eq!(id, "g1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one write");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["externalId"], "pw-activate:group:1");
    assert_eq!(body["displayName"], "hpc");
    assert_eq!(body["members"], json!([{"value": "u1"}, {"value": "u2"}]));
}

#[tokio::test]
async fn members_a_target_drops_from_the_create_are_added_by_a_patch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/Groups"))
        .respond_with(created(&["u1"]))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/Groups/g1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let t = target(&server);
    let id = t
        .create_group("pw-activate:group:1", "hpc", &members(&["u1", "u2", "u3"]))
        .await
        .unwrap();
    assert_eq!(id, "g1");
    let requests = server.received_requests().await.unwrap();
    let patch: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let added: Vec<&str> = patch["Operations"][0]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["u2", "u3"], "only the members it did not keep");

    // a group without members is one POST without them
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/Groups"))
        .respond_with(created(&[]))
        .expect(1)
        .mount(&server)
        .await;
    target(&server)
        .create_group("pw-activate:group:2", "web", &[])
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        body.get("members").is_none_or(|m| m == &json!([])),
        "{body}"
    );
}

#[tokio::test]
async fn a_failed_patch_after_the_create_names_the_group_created() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/Groups"))
        .respond_with(created(&[]))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "400", "scimType": "invalidValue", "detail": "no such member"
        })))
        .mount(&server)
        .await;
    let e = target(&server)
        .create_group("pw-activate:group:1", "hpc", &members(&["u1"]))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("created group g1") && e.message.contains("no such member"),
        "{}",
        e.message
    );
}
