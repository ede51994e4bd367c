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
    assert!(
        reqs.iter()
            .all(|r| r.url.query().unwrap().contains("count=2"))
    );
    // after the first page, 3 and 5 are asked at once; 3 is short, so the page at 5 is
    // dropped and the walk goes on from 4
    let mut starts = start_indexes(&reqs);
    starts.sort_unstable();
    assert_eq!(starts, [1, 3, 4, 5]);
}

fn start_indexes(requests: &[wiremock::Request]) -> Vec<u64> {
    requests
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "startIndex")
                .unwrap()
                .1
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_after_the_first_are_asked_at_once_and_never_past_the_end() {
    let server = MockServer::start().await;
    let ids: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    for start in [1u64, 7, 10] {
        let chunk: Vec<&str> = ids[(start - 1) as usize..][..3.min(11 - start as usize)]
            .iter()
            .map(String::as_str)
            .collect();
        page(&server, start, 10, &chunk).await;
    }
    // the page at 4 is answered late: the pages after it are asked before its answer comes
    let resources = ids[3..6].iter().map(|id| user(id)).collect();
    Mock::given(method("GET"))
        .and(query_param("startIndex", "4"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(10, 4, resources))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let c = builder(&server)
        .page_size(3)
        .max_in_flight(4)
        .build()
        .unwrap();
    let walk = tokio::spawn(async move { c.users().list(&ListQuery::new()).await });
    let mut asked = Vec::new();
    for _ in 0..250 {
        asked = start_indexes(&server.received_requests().await.unwrap());
        if asked.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!walk.is_finished(), "the page at 4 is still unanswered");
    asked.sort_unstable();
    assert_eq!(
        asked,
        [1, 4, 7, 10],
        "every page asked while 4 is in flight"
    );
    let users = walk.await.unwrap().unwrap();
    let read: Vec<_> = users.iter().map(|u| u.id.clone().unwrap()).collect();
    assert_eq!(read, ids, "in order");
    let mut all = start_indexes(&server.received_requests().await.unwrap());
    all.sort_unstable();
    assert_eq!(all, [1, 4, 7, 10], "each page once, none past totalResults");
}

#[tokio::test]
async fn pages_ahead_stay_within_the_in_flight_bound_of_one() {
    let server = MockServer::start().await;
    page(&server, 1, 5, &["a", "b"]).await;
    page(&server, 3, 5, &["c", "d"]).await;
    page(&server, 5, 5, &["e"]).await;
    let c = builder(&server)
        .page_size(2)
        .max_in_flight(1)
        .build()
        .unwrap();
    let users = c.users().list(&ListQuery::new()).await.unwrap();
    assert_eq!(users.len(), 5);
    assert_eq!(
        start_indexes(&server.received_requests().await.unwrap()),
        [1, 3, 5],
        "one after another, in order"
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
