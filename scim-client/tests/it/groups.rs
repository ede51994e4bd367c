//! `/Groups`: create, list, members PATCH shapes.

use scim_client::{Group, ListQuery, Member, PatchOp, schemas};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{client, list, p};

#[tokio::test]
async fn create_and_list_groups() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(p("/Groups")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "schemas": [schemas::GROUP], "id": "g1", "displayName": "research",
            "externalId": "pw-activate:group:7"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Groups")))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            1,
            1,
            vec![json!({"id": "g1", "displayName": "research", "members": null})],
        )))
        .mount(&server)
        .await;
    let groups = client(&server).groups();
    let g = Group {
        external_id: Some("pw-activate:group:7".into()),
        members: vec![Member::new("u1")],
        ..Group::new("research")
    };
    let created = groups.create(&g).await.unwrap();
    assert_eq!(created.id.as_deref(), Some("g1"));
    assert!(created.members.is_empty(), "absent members read as empty");
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"schemas": [schemas::GROUP], "externalId": "pw-activate:group:7",
               "displayName": "research", "members": [{"value": "u1"}]})
    );
    let all = groups.list(&ListQuery::new()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].members.is_empty(), "null members read as empty");
}

#[tokio::test]
async fn member_patches_have_the_rfc_shape() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(p("/Groups/g1")))
        .and(body_json(json!({
            "schemas": [schemas::PATCH_OP],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]},
                {"op": "remove", "path": "members[value eq \"u\\\"1\"]"},
                {"op": "replace", "path": "displayName", "value": "research-2"}
            ]
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let op = PatchOp::builder()
        .add_members(["u2", "u3"])
        .remove_member("u\"1")
        .replace("displayName", "research-2")
        .build();
    assert_eq!(
        client(&server).groups().patch("g1", &op).await.unwrap(),
        None
    );
}
