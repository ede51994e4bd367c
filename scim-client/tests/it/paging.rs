//! Paging that cannot lie: every page checked, every inconsistency an error.

use futures_util::StreamExt;
use scim_client::{Error, Filter, ListQuery, User};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{builder, client, list, p, user};

async fn page(server: &MockServer, start: u64, total: u64, ids: &[&str]) {
    let resources = ids.iter().map(|id| user(id)).collect();
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param("startIndex", start.to_string().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(total, start, resources)))
        .mount(server)
        .await;
}

fn expect_paging(result: Result<Vec<User>, Error>, needle: &str) {
    match result {
        Err(Error::Paging { message, .. }) => assert!(message.contains(needle), "{message}"),
        other => panic!("expected a paging error containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn reads_all_pages_including_a_short_one() {
    let server = MockServer::start().await;
    page(&server, 1, 5, &["a", "b"]).await;
    page(&server, 3, 5, &["c"]).await; // fewer than count: the next page starts at 4
    page(&server, 4, 5, &["d", "e"]).await;
    let c = builder(&server).page_size(2).build().unwrap();
    let users = c.users().list(&ListQuery::new()).await.unwrap();
    let ids: Vec<_> = users.iter().map(|u| u.id.clone().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter()
            .all(|r| r.url.query().unwrap().contains("count=2"))
    );
}

#[tokio::test]
async fn does_not_trust_items_per_page() {
    let server = MockServer::start().await;
    let mut body = list(3, 1, vec![user("a"), user("b")]);
    body["itemsPerPage"] = json!(100); // a lie
    Mock::given(method("GET"))
        .and(query_param("startIndex", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    page(&server, 3, 3, &["c"]).await;
    let users = client(&server)
        .users()
        .list(&ListQuery::new())
        .await
        .unwrap();
    assert_eq!(users.len(), 3);
}

#[tokio::test]
async fn a_server_ignoring_start_index_is_caught() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            4,
            1,
            vec![user("a"), user("b")],
        )))
        .mount(&server)
        .await;
    let c = builder(&server).page_size(2).build().unwrap();
    expect_paging(c.users().list(&ListQuery::new()).await, "repeats id");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "stops at once"
    );
}

#[tokio::test]
async fn total_results_growing_mid_walk_is_an_error() {
    let server = MockServer::start().await;
    page(&server, 1, 4, &["a", "b"]).await;
    page(&server, 3, 5, &["c", "d"]).await;
    let c = builder(&server).page_size(2).build().unwrap();
    expect_paging(
        c.users().list(&ListQuery::new()).await,
        "totalResults changed",
    );
}

#[tokio::test]
async fn an_early_empty_page_is_an_error() {
    let server = MockServer::start().await;
    page(&server, 1, 4, &["a", "b"]).await;
    page(&server, 3, 4, &[]).await;
    let c = builder(&server).page_size(2).build().unwrap();
    expect_paging(c.users().list(&ListQuery::new()).await, "empty page");
}

#[tokio::test]
async fn more_resources_than_total_is_an_error() {
    let server = MockServer::start().await;
    page(&server, 1, 1, &["a", "b"]).await;
    expect_paging(
        client(&server).users().list(&ListQuery::new()).await,
        "totalResults is 1",
    );
}

#[tokio::test]
async fn empty_result_is_one_request() {
    let server = MockServer::start().await;
    page(&server, 1, 0, &[]).await;
    let users = client(&server)
        .users()
        .list(&ListQuery::new())
        .await
        .unwrap();
    assert!(users.is_empty());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn stream_yields_before_the_walk_ends_and_errors_last() {
    let server = MockServer::start().await;
    page(&server, 1, 4, &["a", "b"]).await;
    page(&server, 3, 4, &["a", "x"]).await;
    let c = builder(&server).page_size(2).build().unwrap();
    let items: Vec<_> = c.users().list_stream(&ListQuery::new()).collect().await;
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    assert!(matches!(items[2], Err(Error::Paging { .. })));
}

#[tokio::test]
async fn filter_with_quote_and_backslash_is_escaped_on_the_wire() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param(
            "filter",
            r#"userName eq "o\"neil\\x" and active eq true"#,
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(0, 1, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let q = ListQuery::new()
        .filter(Filter::eq("userName", r#"o"neil\x"#).and(Filter::eq("active", true)))
        .attributes(["userName", "externalId"]);
    client(&server).users().list(&q).await.unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    let query = req.url.query().unwrap();
    assert!(
        query.starts_with(
            "filter=userName%20eq%20%22o%5C%22neil%5C%5Cx%22%20and%20active%20eq%20true&attributes=userName%2CexternalId&startIndex=1&count=100"
        ),
        "{query}"
    );
}

#[tokio::test]
async fn an_invalid_attribute_path_is_refused_before_sending() {
    let server = MockServer::start().await;
    let q = ListQuery::new().filter(Filter::eq("userName pr or userName", "x"));
    let e = client(&server).users().list(&q).await.unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_resource_in_a_page_is_named_by_its_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            2,
            1,
            vec![
                user("a"),
                json!({"id": "b", "userName": ["not", "a", "string"]}),
            ],
        )))
        .mount(&server)
        .await;
    match client(&server).users().list(&ListQuery::new()).await {
        Err(Error::Decode { path, .. }) => assert_eq!(path, "Resources[1].userName"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn attribute_name_case_is_normalised() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalResults": 1,
            "Resources": [{"ID": "a", "USERNAME": "shouty", "externalid": "pw-activate:user:a"}]
        })))
        .mount(&server)
        .await;
    let users = client(&server)
        .users()
        .list(&ListQuery::new())
        .await
        .unwrap();
    assert_eq!(users[0].id.as_deref(), Some("a"));
    assert_eq!(users[0].user_name, "shouty");
    assert_eq!(users[0].external_id.as_deref(), Some("pw-activate:user:a"));
}
