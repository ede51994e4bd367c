//! A target that never stops: endless lists, absurd totals, enormous pages, and ids that
//! would make a write land on the collection. Each ends in an error that names the limit,
//! after a bounded number of requests.

use std::sync::atomic::{AtomicU64, Ordering};

use scim_client::{Error, ListQuery, PatchOp, User};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{builder, client, list, p, user};

/// Every page holds fresh ids, forever; `total` is what it claims.
struct Endless {
    next: AtomicU64,
    total: Option<u64>,
}

impl Respond for Endless {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let first = self.next.fetch_add(2, Ordering::SeqCst);
        let resources = vec![user(&format!("u{first}")), user(&format!("u{}", first + 1))];
        let mut body = list(self.total.unwrap_or(0), first + 1, resources);
        if self.total.is_none() {
            body.as_object_mut().unwrap().remove("totalResults");
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

async fn endless(total: Option<u64>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(Endless {
            next: AtomicU64::new(0),
            total,
        })
        .mount(&server)
        .await;
    server
}

fn expect_limit(result: Result<Vec<User>, Error>, needle: &str) {
    match result {
        Err(e @ Error::LimitExceeded { .. }) => {
            assert!(e.to_string().contains(needle), "{e}")
        }
        other => panic!("expected a limit error containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_absurd_total_is_refused_on_the_first_page() {
    let server = endless(Some(1_000_000_000)).await;
    let c = client(&server); // the default limit: 2,000,000 records
    expect_limit(c.users().list(&ListQuery::new()).await, "1000000000");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_list_without_end_stops_at_the_record_limit() {
    let server = endless(None).await;
    let c = builder(&server).max_list_records(100).build().unwrap();
    expect_limit(c.users().list(&ListQuery::new()).await, "100 records");
    // 2 records a page: the 51st page goes past 100
    assert_eq!(server.received_requests().await.unwrap().len(), 51);

    let server = endless(None).await;
    let c = builder(&server).max_list_pages(7).build().unwrap();
    expect_limit(c.users().list(&ListQuery::new()).await, "7 pages");
    assert_eq!(server.received_requests().await.unwrap().len(), 7);
}

#[tokio::test]
async fn an_enormous_page_is_not_read() {
    let server = MockServer::start().await;
    let resources = (0..2_000).map(|i| user(&format!("u{i}"))).collect();
    let body = list(2_000, 1, resources);
    let size = body.to_string().len() as u64;
    Mock::given(method("GET"))
        .and(path(p("/Users")))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let c = builder(&server)
        .max_response_bytes(size / 4)
        .build()
        .unwrap();
    expect_limit(c.users().list(&ListQuery::new()).await, "larger than");
    // one request: the limit is not a transient failure to retry
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // the same page under a limit it fits in is read
    let c = builder(&server).max_response_bytes(size).build().unwrap();
    assert_eq!(
        c.users().list(&ListQuery::new()).await.unwrap().len(),
        2_000
    );
}

#[tokio::test]
async fn dot_ids_never_reach_the_collection() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(user("x")))
        .mount(&server)
        .await;
    let c = client(&server);
    let op = PatchOp::builder().replace("active", json!(false)).build();
    for id in ["", ".", "..", " .. "] {
        let e = c.users().patch(id, &op).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{id:?}: {e}");
        let e = c.users().delete(id).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{id:?}: {e}");
    }
    // nor a read: a URL cannot name such an id
    for id in ["", ".", ".."] {
        let e = c.users().get(id).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{id:?}: {e}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
