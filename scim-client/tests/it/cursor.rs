//! RFC 9865 cursor walks: the exact wire on wiremock, the choice between cursor and index
//! paging from `/ServiceProviderConfig`, and a walk against the embedded server while
//! records come and go.

use futures_util::StreamExt;
use scim_client::{Error, ListQuery, Paging, ReadLimit, ScimClient, User};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{builder, p, user};

/// A cursor page: `ids`, `nextCursor` when given, `totalResults` when given.
fn cursor_page(total: Option<u64>, ids: &[&str], next: Option<&str>) -> Value {
    let resources: Vec<Value> = ids.iter().map(|id| user(id)).collect();
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(total) = total {
        body["totalResults"] = json!(total);
    }
    if let Some(next) = next {
        body["nextCursor"] = json!(next);
    }
    body
}

/// Answers `GET /Users?cursor=<cursor>` with `body`.
async fn at_cursor(server: &MockServer, cursor: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param("cursor", cursor))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// The `/Users` requests as `(startIndex, cursor)`, and how many asked for the
/// `ServiceProviderConfig`, in the order received.
async fn walk_requests(server: &MockServer) -> (Vec<(Option<String>, Option<String>)>, usize) {
    let requests = server.received_requests().await.unwrap();
    let param = |r: &Request, name: &str| {
        r.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let lists = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/Users"))
        .map(|r| (param(r, "startIndex"), param(r, "cursor")))
        .collect();
    let spc = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/ServiceProviderConfig"))
        .count();
    (lists, spc)
}

fn by_cursor(c: &str) -> (Option<String>, Option<String>) {
    (None, Some(c.to_owned()))
}

fn by_index(i: u64) -> (Option<String>, Option<String>) {
    (Some(i.to_string()), None)
}

fn ids(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u.id.clone().unwrap()).collect()
}

fn expect_paging(result: Result<Vec<User>, Error>, needle: &str) {
    match result {
        Err(Error::Paging { message, .. }) => assert!(message.contains(needle), "{message}"),
        other => panic!("expected a paging error containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cursor_walk_starts_empty_follows_next_cursor_and_stops_without_one() {
    let server = MockServer::start().await;
    at_cursor(&server, "", cursor_page(Some(5), &["a", "b"], Some("p2"))).await;
    at_cursor(&server, "p2", cursor_page(Some(5), &["c", "d"], Some("p3"))).await;
    at_cursor(&server, "p3", cursor_page(Some(5), &["e"], None)).await;
    let c = builder(&server)
        .page_size(2)
        .paging(Paging::Cursor)
        .build()
        .unwrap();
    let users = c.users().list(&ListQuery::new()).await.unwrap();
    assert_eq!(ids(&users), ["a", "b", "c", "d", "e"]);
    let requests = server.received_requests().await.unwrap();
    let queries: Vec<&str> = requests.iter().map(|r| r.url.query().unwrap()).collect();
    assert_eq!(
        queries,
        ["cursor=&count=2", "cursor=p2&count=2", "cursor=p3&count=2"],
        "the first page asks with an empty cursor, then each nextCursor, never startIndex"
    );
}

#[tokio::test]
async fn cursor_pages_keep_the_query_and_escape_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param("cursor", ""))
        .and(query_param("filter", r#"externalId sw "pw-activate:""#))
        .and(query_param("attributes", "userName,externalId"))
        .and(query_param_is_missing("startIndex"))
        .respond_with(ResponseTemplate::new(200).set_body_json(cursor_page(
            None,
            &["a"],
            Some("a b&c=d"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param("cursor", "a b&c=d"))
        .and(query_param("filter", r#"externalId sw "pw-activate:""#))
        .respond_with(ResponseTemplate::new(200).set_body_json(cursor_page(None, &["b"], None)))
        .expect(1)
        .mount(&server)
        .await;
    let c = builder(&server).paging(Paging::Cursor).build().unwrap();
    let q = ListQuery::new()
        .filter(scim_client::Filter::sw("externalId", "pw-activate:"))
        .attributes(["userName", "externalId"]);
    let users = c.users().list(&q).await.unwrap();
    assert_eq!(ids(&users), ["a", "b"]);
}

#[tokio::test]
async fn a_cursor_given_twice_is_a_loop_and_ends_the_walk() {
    let server = MockServer::start().await;
    at_cursor(&server, "", cursor_page(Some(9), &["a"], Some("x"))).await;
    at_cursor(&server, "x", cursor_page(Some(9), &["b"], Some("y"))).await;
    at_cursor(&server, "y", cursor_page(Some(9), &["c"], Some("x"))).await;
    let c = builder(&server).paging(Paging::Cursor).build().unwrap();
    expect_paging(c.users().list(&ListQuery::new()).await, "already followed");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn records_given_twice_end_the_walk() {
    let server = MockServer::start().await;
    at_cursor(&server, "", cursor_page(Some(4), &["a", "b"], Some("x"))).await;
    at_cursor(&server, "x", cursor_page(Some(4), &["b", "c"], Some("y"))).await;
    let c = builder(&server).paging(Paging::Cursor).build().unwrap();
    expect_paging(c.users().list(&ListQuery::new()).await, "repeats id");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // the records before the repeat are handed out, then the error
    let items: Vec<_> = c.users().list_stream(&ListQuery::new()).collect().await;
    assert_eq!(items.len(), 3);
    assert!(matches!(items[2], Err(Error::Paging { .. })));
}

#[tokio::test]
async fn a_server_ignoring_the_cursor_is_caught_on_the_first_page() {
    let server = MockServer::start().await;
    // an index page: 2 of 5 records and no nextCursor
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(crate::support::list(
                5,
                1,
                vec![user("a"), user("b")],
            )),
        )
        .mount(&server)
        .await;
    let c = builder(&server).paging(Paging::Cursor).build().unwrap();
    expect_paging(
        c.users().list(&ListQuery::new()).await,
        "may ignore `cursor`",
    );
}

/// A server whose cursors never end: each page names a new one.
async fn endless(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(|r: &Request| {
            let cursor = r
                .url
                .query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let next = format!("{cursor}n");
            ResponseTemplate::new(200).set_body_json(cursor_page(
                None,
                &[&format!("id-{}", next.len())],
                Some(&next),
            ))
        })
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_endless_cursor_walk_stops_at_the_page_and_record_limits() {
    let server = MockServer::start().await;
    endless(&server).await;
    let c = builder(&server)
        .paging(Paging::Cursor)
        .max_list_pages(5)
        .build()
        .unwrap();
    let e = c.users().list(&ListQuery::new()).await.unwrap_err();
    assert_eq!(e.exceeded_limit(), Some(ReadLimit::ListPages), "{e}");
    assert_eq!(server.received_requests().await.unwrap().len(), 5);

    let server = MockServer::start().await;
    endless(&server).await;
    let c = builder(&server)
        .paging(Paging::Cursor)
        .max_list_records(3)
        .build()
        .unwrap();
    let e = c.users().list(&ListQuery::new()).await.unwrap_err();
    assert_eq!(e.exceeded_limit(), Some(ReadLimit::ListRecords), "{e}");
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn an_invalid_cursor_answer_is_the_servers_error() {
    let server = MockServer::start().await;
    at_cursor(&server, "", cursor_page(Some(3), &["a"], Some("x"))).await;
    Mock::given(method("GET"))
        .and(query_param("cursor", "x"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "400", "scimType": "expiredCursor", "detail": "too late"
        })))
        .mount(&server)
        .await;
    let c = builder(&server).paging(Paging::Cursor).build().unwrap();
    match c.users().list(&ListQuery::new()).await {
        Err(Error::Api {
            status: 400,
            scim_type: Some(t),
            ..
        }) => assert_eq!(t, "expiredCursor"),
        other => panic!("{other:?}"),
    }
}

async fn service_provider_config(server: &MockServer, pagination: Option<Value>) {
    let mut spc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "filter": {"supported": true, "maxResults": 200},
    });
    if let Some(p) = pagination {
        spc["pagination"] = p;
    }
    Mock::given(method("GET"))
        .and(path(p("/ServiceProviderConfig")))
        .respond_with(ResponseTemplate::new(200).set_body_json(spc))
        .mount(server)
        .await;
}

/// Index pages of 2 over `a`..`e`.
async fn index_pages(server: &MockServer) {
    for (start, ids) in [(1u64, &["a", "b"][..]), (3, &["c", "d"]), (5, &["e"])] {
        let resources = ids.iter().map(|id| user(id)).collect();
        Mock::given(method("GET"))
            .and(path(p("/Users")))
            .and(query_param("startIndex", start.to_string().as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(crate::support::list(5, start, resources)),
            )
            .mount(server)
            .await;
    }
}

fn auto(server: &MockServer) -> ScimClient {
    builder(server)
        .page_size(2)
        .paging(Paging::Auto)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_advertised_cursor_is_used_after_one_discovery_request_per_client() {
    let server = MockServer::start().await;
    service_provider_config(
        &server,
        Some(json!({"cursor": true, "index": true, "defaultPaginationMethod": "cursor"})),
    )
    .await;
    index_pages(&server).await;
    at_cursor(&server, "", cursor_page(Some(5), &["a", "b"], Some("p2"))).await;
    at_cursor(&server, "p2", cursor_page(Some(5), &["c", "d"], Some("p3"))).await;
    at_cursor(&server, "p3", cursor_page(Some(5), &["e"], None)).await;
    let c = auto(&server);
    assert_eq!(
        ids(&c.users().list(&ListQuery::new()).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    // a clone shares what the first walk learnt: it starts by cursor at once
    let clone = c.clone();
    assert_eq!(
        clone.users().list(&ListQuery::new()).await.unwrap().len(),
        5
    );
    let (lists, spc) = walk_requests(&server).await;
    assert_eq!(spc, 1, "asked once per client");
    assert_eq!(
        lists,
        [
            by_index(1),
            by_cursor(""),
            by_cursor("p2"),
            by_cursor("p3"),
            by_cursor(""),
            by_cursor("p2"),
            by_cursor("p3"),
        ],
        "the first walk starts again by cursor once it knows; nothing of its index page is kept"
    );
}

#[tokio::test]
async fn a_list_of_one_page_asks_nothing_more() {
    let server = MockServer::start().await;
    service_provider_config(&server, Some(json!({"cursor": true, "index": true}))).await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .and(query_param("startIndex", "1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(crate::support::list(1, 1, vec![user("a")])),
        )
        .mount(&server)
        .await;
    let c = auto(&server);
    assert_eq!(c.users().list(&ListQuery::new()).await.unwrap().len(), 1);
    assert_eq!(walk_requests(&server).await, (vec![by_index(1)], 0));
}

#[tokio::test]
async fn without_an_advertised_cursor_the_walk_goes_on_by_index() {
    for pagination in [
        None,
        Some(json!({"cursor": false, "index": true})),
        // cursors served, but index paging offered and preferred: the faster walk
        Some(json!({"cursor": true, "index": true, "defaultPaginationMethod": "index"})),
        Some(json!({"cursor": true, "index": true})),
        Some(json!("nonsense")), // a document that does not decode: index
    ] {
        let server = MockServer::start().await;
        service_provider_config(&server, pagination.clone()).await;
        index_pages(&server).await;
        let c = auto(&server);
        let users = c.users().list(&ListQuery::new()).await.unwrap();
        assert_eq!(ids(&users), ["a", "b", "c", "d", "e"], "{pagination:?}");
        c.users().list(&ListQuery::new()).await.unwrap();
        let (mut lists, spc) = walk_requests(&server).await;
        assert_eq!(spc, 1, "{pagination:?}");
        lists.sort();
        assert_eq!(
            lists,
            [
                by_index(1),
                by_index(1),
                by_index(3),
                by_index(3),
                by_index(5),
                by_index(5)
            ],
            "{pagination:?}"
        );
    }
    // no ServiceProviderConfig at all (404)
    let server = MockServer::start().await;
    index_pages(&server).await;
    let c = auto(&server);
    assert_eq!(c.users().list(&ListQuery::new()).await.unwrap().len(), 5);
    assert!(!c.uses_cursor_paging().await);
}

/// Against the embedded server over loopback: a cursor walk while users are created and
/// removed between its pages returns every user that existed throughout exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_walk_is_immune_to_records_coming_and_going() {
    let server = scim_server::ScimServer::builder()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let tenant = server.default_tenant();
    let mut ids = Vec::new();
    for i in 0..60 {
        let rec = tenant
            .seed(
                scim_server::ResourceKind::User,
                json!({"userName": format!("u{i:03}"), "externalId": format!("pw-activate:user:u{i:03}")}),
            )
            .unwrap();
        ids.push(rec["id"].as_str().unwrap().to_owned());
    }
    // the server serves cursors but prefers index paging: a client that wants the
    // shift-proof walk asks for it
    let client = ScimClient::builder(&server.base_url())
        .page_size(7)
        .paging(Paging::Cursor)
        .build()
        .unwrap();
    let writer = client.clone();
    let auto = ScimClient::builder(&server.base_url()).build().unwrap();
    assert!(
        !auto.uses_cursor_paging().await,
        "the server offers both and prefers index"
    );

    let mut walk = client.users().list_stream(&ListQuery::new());
    let mut read: Vec<String> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut created = 0;
    while let Some(user) = walk.next().await {
        read.push(user.unwrap().id.unwrap());
        if !read.len().is_multiple_of(7) {
            continue;
        }
        // between pages: remove one record already read and one not yet read (from the
        // front, which shifts every index page), and create two
        let seen = read.len();
        let last = ids.len() - 1;
        for id in [
            ids[(seen / 2).min(last)].clone(),
            ids[(seen + 3).min(last)].clone(),
        ] {
            if !removed.contains(&id) && writer.users().delete(&id).await.is_ok() {
                removed.push(id);
            }
        }
        for _ in 0..2 {
            created += 1;
            let mut u = User::new(format!("new{created:03}"));
            u.external_id = Some(format!("pw-activate:user:new{created:03}"));
            writer.users().create(&u).await.unwrap();
        }
    }
    let mut unique = read.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), read.len(), "no record twice");
    for id in ids.iter().filter(|id| !removed.contains(id)) {
        assert!(
            read.contains(id),
            "{id} existed throughout but was not read"
        );
    }
    assert!(removed.len() >= 5, "records were removed during the walk");
    assert!(created >= 5, "records were created during the walk");
    let cursor_pages = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.query.as_deref().is_some_and(|q| q.contains("cursor=")))
        .count();
    assert!(cursor_pages > 8, "paged by cursor: {cursor_pages} pages");

    // the same changes make an index walk fail rather than skip or repeat records
    let index = ScimClient::builder(&server.base_url())
        .page_size(7)
        .paging(Paging::Index)
        .max_in_flight(1)
        .build()
        .unwrap();
    let mut walk = index.users().list_stream(&ListQuery::new());
    let mut n = 0;
    let mut outcome = Ok(());
    while let Some(user) = walk.next().await {
        if let Err(e) = user {
            outcome = Err(e);
            break;
        }
        n += 1;
        if n == 7 {
            let victim = tenant.users()[0]["id"].as_str().unwrap().to_owned();
            writer.users().delete(&victim).await.unwrap();
        }
    }
    assert!(
        matches!(outcome, Err(Error::Paging { .. })),
        "an index walk cannot be trusted here: {outcome:?}"
    );
    server.shutdown().await.unwrap();
}
