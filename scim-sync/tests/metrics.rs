//! The push to a Pushgateway on the wire (a mock server): the grouping path with every value
//! base64url-encoded, push-add (`POST`), basic authentication, and a refusal or a silent
//! gateway reported without the password.

use std::time::{Duration, Instant};

use scim_sync::metrics::{Pushgateway, RunEnd, RunMetrics};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn metrics() -> RunMetrics {
    let report = scim_sync::RunReport::default();
    let end = RunEnd {
        at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        duration: Duration::from_millis(1500),
        exit_code: 0,
        external_id_prefix: "pw-activate:".into(),
    };
    RunMetrics::new(&report, &end)
}

#[tokio::test]
async fn a_push_adds_to_the_group_of_the_org_and_target_with_basic_auth() {
    let server = MockServer::start().await;
    // "acme/eu" would break a plain path; base64url("acme/eu") = "YWNtZS9ldQ=="
    Mock::given(method("POST"))
        .and(path(
            "/metrics/job/pw-activate-scim-sync/org@base64/YWNtZS9ldQ==/target@base64/YXBpLmNvcmV3ZWF2ZS5jb20=",
        ))
        .and(header("authorization", "Basic bWV0cmljczpzM2NyZXQ="))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let gateway = Pushgateway::new(&server.uri())
        .unwrap()
        .basic_auth("metrics".into(), "s3cret".to_owned().into());
    assert!(!format!("{gateway:?}").contains("s3cret"));
    gateway
        .push_add(
            &[("org", "acme/eu"), ("target", "api.coreweave.com")],
            &metrics(),
        )
        .await
        .unwrap();
    let body =
        String::from_utf8(server.received_requests().await.unwrap()[0].body.clone()).unwrap();
    assert!(
        body.contains("# TYPE pw_activate_scim_sync_last_success_timestamp_seconds gauge"),
        "{body}"
    );
    assert!(
        body.contains("pw_activate_scim_sync_last_success_timestamp_seconds 1800000000"),
        "{body}"
    );
    assert!(
        body.contains("pw_activate_scim_sync_run_duration_seconds 1.5"),
        "{body}"
    );
}

#[tokio::test]
async fn a_refusal_or_a_silent_gateway_is_an_error_without_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("\u{1b}[31mno"))
        .mount(&server)
        .await;
    let gateway = Pushgateway::new(&server.uri())
        .unwrap()
        .basic_auth("metrics".into(), "s3cret".to_owned().into());
    let e = gateway.push_add(&[], &metrics()).await.unwrap_err();
    assert!(
        e.contains("401") && !e.contains("s3cret") && !e.contains('\u{1b}'),
        "{e}"
    );

    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&slow)
        .await;
    let started = Instant::now();
    let e = Pushgateway::new(&slow.uri())
        .unwrap()
        .push_add(&[], &metrics())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the push timeout: {e}"
    );
    assert!(
        Pushgateway::new("http://user:pw@gateway:9091").is_err(),
        "credentials belong in the password file, not the URL"
    );
}
