//! `/Users`: get, create, replace, patch, delete, error bodies, decoding.

use scim_client::{CoreWeaveUser, Email, Error, Name, PatchOp, User, schemas};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TOKEN, client, p, user};

#[tokio::test]
async fn get_sends_token_and_accept_and_decodes_extension() {
    let server = MockServer::start().await;
    let mut body = user("u1");
    body[schemas::COREWEAVE_USER] =
        json!({"sunkSshKeys": ["ssh-ed25519 AAAA k1"], "sunkPosixUserId": 1001});
    Mock::given(method("GET"))
        .and(path(p("/Users/u1")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let u = client(&server).users().get("u1").await.unwrap();
    assert_eq!(u.user_name, "user-u1");
    assert_eq!(u.ssh_keys(), ["ssh-ed25519 AAAA k1"]);
    assert_eq!(u.coreweave.unwrap().sunk_posix_user_id, Some(1001));
    let req = &server.received_requests().await.unwrap()[0];
    let accept = req.headers.get("accept").unwrap().to_str().unwrap();
    assert!(accept.contains("application/scim+json"), "{accept}");
}

#[tokio::test]
async fn ids_are_encoded_as_one_path_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users/a%2Fb%20c%3F")))
        .respond_with(ResponseTemplate::new(200).set_body_json(user("a/b c?")))
        .expect(1)
        .mount(&server)
        .await;
    let u = client(&server).users().get("a/b c?").await.unwrap();
    assert_eq!(u.id.as_deref(), Some("a/b c?"));
}

#[tokio::test]
async fn missing_user_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users/nope")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "schemas": [schemas::ERROR], "status": "404", "detail": "Resource nope not found"
        })))
        .mount(&server)
        .await;
    let err = client(&server).users().get("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("Resource nope not found"), "{err}");
}

#[tokio::test]
async fn create_lists_the_extension_schema_and_omits_read_only() {
    let server = MockServer::start().await;
    let mut created = user("new1");
    created[schemas::COREWEAVE_USER] = json!({"sunkSshKeys": ["k1", "k2"]});
    Mock::given(method("POST"))
        .and(path(p("/Users")))
        .and(header("content-type", "application/scim+json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created))
        .expect(1)
        .mount(&server)
        .await;
    let new = User {
        external_id: Some("pw-activate:user:new1".into()),
        name: Some(Name {
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            ..Name::default()
        }),
        emails: vec![Email::work("ada@example.org")],
        active: Some(true),
        coreweave: Some(CoreWeaveUser::with_ssh_keys(["k1", "k2"])),
        ..User::new("ada")
    };
    let back = client(&server).users().create(&new).await.unwrap();
    assert_eq!(back.id.as_deref(), Some("new1"));
    let req = &server.received_requests().await.unwrap()[0];
    let sent: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        sent,
        json!({
            "schemas": [schemas::USER, schemas::COREWEAVE_USER],
            "externalId": "pw-activate:user:new1",
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.org", "type": "work", "primary": true}],
            "active": true,
            schemas::COREWEAVE_USER: {"sunkSshKeys": ["k1", "k2"]}
        })
    );
}

#[tokio::test]
async fn replace_keeps_unknown_attributes_and_drops_meta_and_groups() {
    let server = MockServer::start().await;
    let stored = json!({
        "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
        "id": "u7",
        "userName": "grace",
        "nickName": "amazing",
        "x-vendor": {"tier": 3},
        "groups": [{"value": "g1", "display": "admins"}],
        "meta": {"resourceType": "User", "version": "W/\"3\""},
        schemas::ENTERPRISE_USER: {"employeeNumber": "42"}
    });
    Mock::given(method("GET"))
        .and(path(p("/Users/u7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(stored.clone()))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(p("/Users/u7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(stored))
        .expect(1)
        .mount(&server)
        .await;
    let users = client(&server).users();
    let mut u = users.get("u7").await.unwrap();
    assert_eq!(u.groups.len(), 1);
    u.display_name = Some("Grace Hopper".into());
    users.replace("u7", &u).await.unwrap();
    let put = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    let sent: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(
        sent,
        json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
            "id": "u7",
            "userName": "grace",
            "displayName": "Grace Hopper",
            "nickName": "amazing",
            "x-vendor": {"tier": 3},
            schemas::ENTERPRISE_USER: {"employeeNumber": "42"}
        })
    );
}

#[tokio::test]
async fn patch_accepts_204_and_200() {
    let server = MockServer::start().await;
    let op = PatchOp::builder()
        .replace(CoreWeaveUser::SSH_KEYS_PATH, vec!["k9"])
        .replace("active", false)
        .build();
    Mock::given(method("PATCH"))
        .and(path(p("/Users/a")))
        .and(body_json(json!({
            "schemas": [schemas::PATCH_OP],
            "Operations": [
                {"op": "replace", "path": CoreWeaveUser::SSH_KEYS_PATH, "value": ["k9"]},
                {"op": "replace", "path": "active", "value": false}
            ]
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let mut after = user("b");
    after["active"] = json!(false);
    Mock::given(method("PATCH"))
        .and(path(p("/Users/b")))
        .respond_with(ResponseTemplate::new(200).set_body_json(after))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(p("/Users/c")))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let users = client(&server).users();
    assert_eq!(users.patch("a", &op).await.unwrap(), None);
    let b = users
        .patch("b", &op)
        .await
        .unwrap()
        .expect("200 carries the user");
    assert_eq!(b.active, Some(false));
    assert_eq!(
        users.patch("c", &op).await.unwrap(),
        None,
        "200 with no body"
    );
}

#[tokio::test]
async fn delete_accepts_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(p("/Users/d")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).users().delete("d").await.unwrap();
}

#[tokio::test]
async fn error_status_as_string_or_number() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(p("/Users")))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "schemas": [schemas::ERROR], "status": "409", "scimType": "uniqueness",
            "detail": "userName taken"
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(p("/Users")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "schemas": [schemas::ERROR], "status": 400, "scimType": "invalidValue",
            "detail": "bad email"
        })))
        .mount(&server)
        .await;
    let users = client(&server).users();
    let e = users.create(&User::new("x")).await.unwrap_err();
    assert!(e.is_uniqueness(), "{e:?}");
    assert_eq!(e.status(), Some(409));
    let e = users.create(&User::new("x")).await.unwrap_err();
    match &e {
        Error::Api {
            status,
            scim_type,
            detail,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(scim_type.as_deref(), Some("invalidValue"));
            assert_eq!(detail.as_deref(), Some("bad email"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn html_error_page_becomes_an_api_error_with_an_excerpt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users/h")))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            "<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Oops</h1></body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let e = client(&server).users().get("h").await.unwrap_err();
    match &e {
        Error::Api {
            status,
            scim_type,
            detail,
            ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(*scim_type, None);
            let d = detail.as_deref().unwrap();
            assert!(
                d.contains("text/html") && d.contains("500 Internal Server Error Oops"),
                "{d}"
            );
            assert!(!d.contains('<'), "{d}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_is_its_own_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"status": "401", "detail": "bad token"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server).users().get("u").await.unwrap_err();
    assert!(
        matches!(e, Error::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("check the SCIM bearer token"), "{e}");
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users/bad")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bad", "userName": "x",
            "emails": [{"value": "a@b"}, {"value": "c@d", "primary": "maybe"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users/html")))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&server)
        .await;
    let users = client(&server).users();
    match users.get("bad").await.unwrap_err() {
        Error::Decode { path, .. } => assert_eq!(path, "emails[1].primary"),
        other => panic!("unexpected {other:?}"),
    }
    match users.get("html").await.unwrap_err() {
        Error::Decode { message, .. } => assert!(message.contains("expected JSON"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn find_by_external_id_rechecks_on_the_client() {
    let server = MockServer::start().await;
    // a server that ignores the filter and returns everything
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(crate::support::list(
                2,
                1,
                vec![user("a"), user("b")],
            )),
        )
        .mount(&server)
        .await;
    let found = client(&server)
        .users()
        .find_by_external_id("pw-activate:user:b")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_deref(), Some("b"));
    let req = &server.received_requests().await.unwrap()[0];
    assert!(
        req.url
            .query()
            .unwrap()
            .contains("filter=externalId%20eq%20%22pw-activate%3Auser%3Ab%22"),
        "{}",
        req.url
    );
}

#[tokio::test]
async fn sends_the_configured_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(header("user-agent", "pw-activate-scim-sync/9.9"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let c = crate::support::builder(&server)
        .user_agent("pw-activate-scim-sync/9.9")
        .build()
        .unwrap();
    c.users().delete("x").await.unwrap();
}
