//! Retries, Retry-After, unknown outcomes, pacing and accounting.

use std::time::{Duration, Instant, SystemTime};

use scim_client::{Error, PatchOp, ScimClient, User};
use secrecy::SecretString;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{builder, client, fast_retry, p, user};

async fn fail_once_then_ok(
    server: &MockServer,
    verb: &str,
    first: ResponseTemplate,
    ok: ResponseTemplate,
) {
    Mock::given(method(verb))
        .respond_with(first)
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method(verb))
        .respond_with(ok)
        .mount(server)
        .await;
}

#[tokio::test]
async fn honours_retry_after_seconds() {
    let server = MockServer::start().await;
    fail_once_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ResponseTemplate::new(200).set_body_json(user("u")),
    )
    .await;
    let c = client(&server);
    let t0 = Instant::now();
    c.users().get("u").await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    let s = c.stats();
    assert_eq!((s.requests, s.retries, s.throttled), (2, 1, 1));
    assert_eq!(s.count("GET", 429), 1);
    assert_eq!(s.count("GET", 200), 1);
}

#[tokio::test]
async fn honours_retry_after_http_date() {
    let server = MockServer::start().await;
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    fail_once_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(503).insert_header("retry-after", when.as_str()),
        ResponseTemplate::new(200).set_body_json(user("u")),
    )
    .await;
    let t0 = Instant::now();
    client(&server).users().get("u").await.unwrap();
    // the date has one-second resolution: the wait is between 1 and 2 s
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn retry_exhaustion_returns_the_last_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let c = client(&server);
    let e = c.users().get("u").await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(c.stats().retries, 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let t0 = Instant::now();
    let e = client(&server).users().get("u").await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_post_that_timed_out_is_not_resent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(p("/Users")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(user("x"))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let c = builder(&server)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c.users().create(&User::new("x")).await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert!(e.to_string().contains("look the record up"), "{e}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(c.stats().retries, 0);
}

#[tokio::test]
async fn a_post_answered_by_a_gateway_error_is_not_resent() {
    for status in [502, 504] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let e = client(&server)
            .users()
            .create(&User::new("x"))
            .await
            .unwrap_err();
        assert!(e.is_outcome_unknown(), "{status}: {e:?}");
    }
}

#[tokio::test]
async fn a_post_refused_with_429_or_503_is_retried() {
    for status in [429, 503] {
        let server = MockServer::start().await;
        fail_once_then_ok(
            &server,
            "POST",
            ResponseTemplate::new(status),
            ResponseTemplate::new(201).set_body_json(user("x")),
        )
        .await;
        let u = client(&server)
            .users()
            .create(&User::new("x"))
            .await
            .unwrap();
        assert_eq!(u.id.as_deref(), Some("x"));
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn patch_put_delete_are_retried() {
    let server = MockServer::start().await;
    for verb in ["PATCH", "PUT", "DELETE"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user("u")))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let users = client(&server).users();
    users
        .patch("u", &PatchOp::builder().replace("active", true).build())
        .await
        .unwrap();
    users.replace("u", &User::new("u")).await.unwrap();
    users.delete("u").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_get_that_timed_out_is_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(user("u"))
                .set_delay(Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user("u")))
        .mount(&server)
        .await;
    let c = builder(&server)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    c.users().get("u").await.unwrap();
    assert_eq!(c.stats().failures, 1);

    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&slow)
        .await;
    let c = builder(&slow)
        .timeout(Duration::from_millis(200))
        .retry_policy(fast_retry().with_max_attempts(2))
        .build()
        .unwrap();
    let e = c.users().get("u").await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("/scim/org1/Users/u"), "{e}");
}

#[tokio::test]
async fn connection_failures_are_retried_even_for_post() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ScimClient::builder(&format!("http://127.0.0.1:{port}/v2"))
        .bearer_token(SecretString::from("t"))
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let e = c.users().create(&User::new("x")).await.unwrap_err();
    assert!(
        matches!(e, Error::Transport { .. }),
        "never connected, so not unknown: {e:?}"
    );
    let s = c.stats();
    assert_eq!((s.requests, s.failures, s.retries), (4, 4, 3));
}

#[tokio::test]
async fn in_flight_bound_is_shared_by_clones() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(user("u"))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&server)
        .await;
    let c = builder(&server).max_in_flight(2).build().unwrap();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.users().get("u").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 6 requests of 200 ms, 2 at a time: at least 3 rounds
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(c.stats().count("GET", 200), 6);
}

#[tokio::test]
async fn requests_per_second_spaces_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user("u")))
        .mount(&server)
        .await;
    let c = builder(&server)
        .requests_per_second(Some(20.0))
        .build()
        .unwrap();
    let t0 = Instant::now();
    for _ in 0..6 {
        c.users().get("u").await.unwrap();
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn stats_count_bytes_both_ways() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(user("b")))
        .mount(&server)
        .await;
    let c = client(&server);
    c.users().create(&User::new("b")).await.unwrap();
    let s = c.stats();
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(s.bytes_sent, req.body.len() as u64);
    assert_eq!(
        s.bytes_received,
        serde_json::to_vec(&user("b")).unwrap().len() as u64
    );
    assert_eq!(s.count("POST", 201), 1);
}

#[tokio::test]
async fn max_concurrency_lets_the_bound_grow_and_a_429_halves_it() {
    let server = MockServer::start().await;
    // a steady latency, so that every window's latency holds
    let ok = ResponseTemplate::new(200)
        .set_body_json(user("u"))
        .set_delay(Duration::from_millis(20));
    Mock::given(method("GET"))
        .respond_with(ok.clone())
        .mount(&server)
        .await;
    let c = builder(&server)
        .retry_policy(fast_retry())
        .max_in_flight(2)
        .max_concurrency(Some(4))
        .build()
        .unwrap();
    assert_eq!(
        (c.stats().concurrency, c.stats().concurrency_reached),
        (2, 2)
    );
    // a window of 2 answers doubles it to 4, and it goes no further
    for _ in 0..30 {
        c.users().get("u").await.unwrap();
    }
    let s = c.stats();
    assert_eq!((s.concurrency, s.concurrency_reached), (4, 4));

    server.reset().await;
    fail_once_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(429).insert_header("Retry-After", "0"),
        ok,
    )
    .await;
    c.users().get("u").await.unwrap();
    let s = c.stats();
    assert_eq!(s.throttled, 1);
    assert_eq!((s.concurrency, s.concurrency_reached), (2, 4));
}

#[tokio::test]
async fn max_concurrency_below_the_start_is_refused() {
    let server = MockServer::start().await;
    let err = builder(&server)
        .max_in_flight(8)
        .max_concurrency(Some(4))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let fixed = builder(&server)
        .max_in_flight(8)
        .max_concurrency(Some(8))
        .build()
        .unwrap();
    assert!(!fixed.pacer().is_adaptive());
}
