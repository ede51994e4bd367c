//! Who holds the names a plan takes: batched `eq ... or ...` lookups, and one name per request
//! on a server that refuses `or` (exact wire behaviour, so a mock server).

use scim_sync::ScimClient;
use scim_sync::target::{NAMES_PER_LOOKUP, read_holders};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn list_of(users: &[(&str, &str)]) -> serde_json::Value {
    let resources: Vec<_> = users
        .iter()
        .map(|(id, name)| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "id": id, "userName": name, "active": true})
        })
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.len(), "startIndex": 1, "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn client(server: &MockServer) -> ScimClient {
    ScimClient::builder(&server.uri())
        .bearer_token("tok".to_owned().into())
        .allow_insecure_http(true)
        .build()
        .unwrap()
}

fn filter_of(r: &Request) -> String {
    r.url
        .query_pairs()
        .find(|(k, _)| k == "filter")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn names_are_looked_up_in_batches_with_their_values_escaped() {
    let server = MockServer::start().await;
    // a large target: batches are cheaper than a walk
    let mut large = list_of(&[]);
    large["totalResults"] = json!(100_000);
    Mock::given(method("GET"))
        .and(path("/Users"))
        .and(query_param("count", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(large))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/Users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_of(&[("x1", "n7@x")])))
        .mount(&server)
        .await;
    let mut names: Vec<String> = (0..NAMES_PER_LOOKUP + 5)
        .map(|i| format!("n{i}@x"))
        .collect();
    names.push(r#"quo"te\@x"#.to_owned());
    let holders = read_holders(&client(&server), &names, &[]).await.unwrap();
    assert_eq!(holders.requests, 3, "the size probe and two batches");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let first = filter_of(&requests[1]);
    assert_eq!(
        first.matches(" or ").count(),
        NAMES_PER_LOOKUP - 1,
        "{first}"
    );
    assert!(filter_of(&requests[2]).contains(r#"userName eq "quo\"te\\@x""#));
    assert_eq!(holders.users.len(), 2, "the holder, once per answer");
}

#[tokio::test]
async fn a_server_that_refuses_or_gets_one_name_per_request() {
    let server = MockServer::start().await;
    let refused = ResponseTemplate::new(400).set_body_json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400", "scimType": "invalidFilter", "detail": "or is not supported"
    }));
    Mock::given(method("GET"))
        .and(path("/Users"))
        .and(query_param(
            "filter",
            r#"userName eq "a@x" or userName eq "b@x""#,
        ))
        .respond_with(refused)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/Users"))
        .and(query_param("filter", r#"userName eq "b@x""#))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_of(&[("x2", "b@x")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/Users"))
        .and(query_param("filter", r#"userName eq "a@x""#))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_of(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let names = vec!["a@x".to_owned(), "b@x".to_owned()];
    let holders = read_holders(&client(&server), &names, &[]).await.unwrap();
    assert_eq!(holders.requests, 3);
    assert_eq!(holders.users.len(), 1);
    assert_eq!(holders.users[0].id, "x2");
}

#[tokio::test]
async fn a_failed_lookup_is_an_error_not_an_empty_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/Users"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let err = read_holders(&client(&server), &["a@x".to_owned()], &[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn a_small_target_is_walked_once_instead_of_batched() {
    let server = MockServer::start().await;
    let users: Vec<(String, String)> = (0..30)
        .map(|i| (format!("x{i}"), format!("N{i}@X")))
        .collect();
    let users: Vec<(&str, &str)> = users
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Mock::given(method("GET"))
        .and(path("/Users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_of(&users)))
        .mount(&server)
        .await;
    // 100 names would take three batches; the 30 records fit in one page
    let names: Vec<String> = (0..100).map(|i| format!("n{i}@x")).collect();
    let holders = read_holders(&client(&server), &names, &[]).await.unwrap();
    assert_eq!(holders.requests, 2, "the size probe and one page");
    assert_eq!(
        holders.users.len(),
        30,
        "every holder, names compared without case"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| filter_of(r).is_empty()),
        "no filter on a walk"
    );
}

#[tokio::test]
async fn an_empty_target_costs_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/Users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_of(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let names: Vec<String> = (0..1000).map(|i| format!("n{i}@x")).collect();
    let holders = read_holders(&client(&server), &names, &[]).await.unwrap();
    assert_eq!(holders.requests, 1);
    assert!(holders.users.is_empty());
}
