//! Wire behaviour of every ACTIVATE route the client uses, and every failure rule, against
//! wiremock; plus the `pw` CLI key source with fake executables.

use std::time::{Duration, Instant};

use activate_client::{ActivateClient, Error, KeySource, RetryPolicy, SnapshotOptions};
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, headers, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "pwt_bG9jYWxob3N0.TOPSECRETPART42";
const ED: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5 ada@laptop";
const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPOdKjlXFaNYwT3cgVsif3S8+e8anDdcu99e9l6TmGvCse8VNH205Rh+WDrtKAeLjUq1jbliTw88IwvT88Wwo+s= grace@hpc-login";

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_base_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
}

fn builder(server: &MockServer) -> activate_client::ClientBuilder {
    ActivateClient::builder(SecretString::from(KEY))
        .base_url(server.uri())
        .org_name(Some("acme".into()))
        .retry_policy(fast_retries())
        .timeout(Duration::from_secs(5))
}

fn client(server: &MockServer) -> ActivateClient {
    builder(server).build().unwrap()
}

fn user(name: &str, active: bool) -> Value {
    let id = format!(
        "{:0>24x}",
        name.bytes().fold(0u64, |a, b| a * 131 + u64::from(b))
    );
    json!({"id": id, "username": name, "active": active, "admin": false, "billingAdmin": false,
           "complimentary": false, "licenseStatus": "active",
           "email": format!("{name}@example.org"), "name": format!("{name} Example")})
}

fn users_page(total: usize, users: &[Value]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"total": total, "users": users}))
}

/// A server answering the users list at each `(skip, total, users)` page.
async fn users_server(pages: &[(usize, usize, &[Value])]) -> MockServer {
    let server = MockServer::start().await;
    for &(skip, total, users) in pages {
        Mock::given(query_param("skip", skip.to_string().as_str()))
            .respond_with(users_page(total, users))
            .mount(&server)
            .await;
    }
    server
}

fn group(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "members": 0, "gid": 1000, "organization": "acme"})
}

fn member(username: &str) -> Value {
    json!({"id": "x", "username": username, "email": format!("{username}@example.org")})
}

fn keys(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/plain; charset=utf-8")
}

async fn mount_users(server: &MockServer, users: &[Value]) {
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/users"))
        .and(query_param("limit", "500"))
        .and(query_param("skip", "0"))
        .and(query_param("active", "all"))
        .respond_with(users_page(users.len(), users))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_groups(server: &MockServer, groups: Value) {
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(groups))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_keys(server: &MockServer, username: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/users/{username}/ssh-public-keys")))
        .respond_with(response)
        .mount(server)
        .await;
}

fn all() -> SnapshotOptions {
    SnapshotOptions::default()
}

fn scope(names: &[&str]) -> SnapshotOptions {
    SnapshotOptions {
        sync_groups: Some(names.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- auth and discovery

#[tokio::test]
async fn sends_basic_auth_with_empty_password_and_json_accept() {
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/groups"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(headers(
            "accept",
            vec!["application/json", "application/problem+json"],
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn organization_comes_from_whoami_once_when_not_configured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/auth/whoami/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json("acme"))
        .expect(1)
        .mount(&server)
        .await;
    mount_users(&server, &[]).await;
    mount_groups(&server, json!([])).await;
    let client = builder(&server).org_name(None).build().unwrap();
    let snap = client.snapshot(&all()).await.unwrap();
    assert_eq!(snap.snapshot.organization.as_deref(), Some("acme"));
    assert_eq!(client.organization().await.unwrap(), "acme");
}

#[tokio::test]
async fn a_configured_organization_skips_whoami_and_is_percent_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme%20labs/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .org_name(Some("acme labs".into()))
        .build()
        .unwrap();
    client.groups().await.unwrap();
    assert_eq!(client.stats().requests, 1);
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_and_api_suffix_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/proxy/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .base_url(format!("{}/proxy/api/", server.uri()))
        .build()
        .unwrap();
    client.groups().await.unwrap();
}

#[tokio::test]
async fn unauthorized_and_forbidden_name_the_credential_and_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/users"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": true, "message": "invalid api key"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "not an org admin"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.users().await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ACTIVATE_API_KEY") && text.contains("invalid api key"),
        "{text}"
    );
    let err = client.groups().await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    let text = err.to_string();
    assert!(
        text.contains("ACTIVATE_ORG_NAME") && text.contains("not an org admin"),
        "{text}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_for_remote_hosts_unless_allowed() {
    let key = SecretString::from(KEY);
    let err = ActivateClient::builder(key.clone())
        .base_url("http://activate.example.com")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InsecureUrl { .. }), "{err:?}");
    ActivateClient::builder(key.clone())
        .base_url("http://activate.example.com")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    // derived from the key: always https
    let derived = ActivateClient::builder(key).build().unwrap();
    assert_eq!(derived.base_url().as_str(), "https://localhost/");
}

// ---------------------------------------------------------------- users paging

#[tokio::test]
async fn users_are_paged_by_total_with_a_short_last_page() {
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..5).map(|i| user(&format!("u{i}"), true)).collect();
    for (skip, range) in [(0, 0..2), (2, 2..4), (4, 4..5)] {
        Mock::given(method("GET"))
            .and(path("/api/organizations/acme/users"))
            .and(query_param("limit", "2"))
            .and(query_param("skip", skip.to_string().as_str()))
            .and(query_param("active", "all"))
            .respond_with(users_page(5, &users[range]))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = builder(&server).page_size(2).build().unwrap();
    let read = client.users().await.unwrap();
    let names: Vec<&str> = read.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4"]);
}

#[tokio::test]
async fn a_total_that_fills_the_last_page_needs_no_extra_request() {
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..4).map(|i| user(&format!("u{i}"), true)).collect();
    for (skip, range) in [(0, 0..2), (2, 2..4)] {
        Mock::given(method("GET"))
            .and(query_param("skip", skip.to_string().as_str()))
            .respond_with(users_page(4, &users[range]))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = builder(&server).page_size(2).build().unwrap();
    assert_eq!(client.users().await.unwrap().len(), 4);
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn an_empty_organization_and_a_null_users_array_are_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/organizations/acme/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0, "users": null})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(client(&server).users().await.unwrap().is_empty());
}

#[tokio::test]
async fn users_list_changing_length_mid_walk_is_an_error() {
    let users: Vec<Value> = (0..5).map(|i| user(&format!("u{i}"), true)).collect();
    let server = users_server(&[(0, 4, &users[0..2]), (2, 5, &users[2..4])]).await;
    let client = builder(&server).page_size(2).build().unwrap();
    let err = client.users().await.unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("changed"), "{err}");
}

#[tokio::test]
async fn an_absurd_total_is_refused_on_the_first_page() {
    let users: Vec<Value> = (0..2).map(|i| user(&format!("u{i}"), true)).collect();
    let server = users_server(&[(0, 1_000_000_000, &users[..])]).await;
    let client = builder(&server).page_size(2).build().unwrap();
    let err = client.users().await.unwrap_err();
    assert!(err.to_string().contains("1000000000 users"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_short_page_before_total_is_an_error() {
    let users: Vec<Value> = (0..5).map(|i| user(&format!("u{i}"), true)).collect();
    let server = users_server(&[(0, 5, &users[0..2]), (2, 5, &users[2..3])]).await;
    let client = builder(&server).page_size(2).build().unwrap();
    let err = client.users().await.unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    // an empty page before total is the same error
    let server = users_server(&[(0, 3, &users[0..2]), (2, 3, &[])]).await;
    let client = builder(&server).page_size(2).build().unwrap();
    assert!(matches!(client.users().await, Err(Error::Inconsistent(_))));
}

#[tokio::test]
async fn a_server_that_caps_the_page_size_is_followed_and_still_checked() {
    // asked for 5 per page, the server gives 2
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..5).map(|i| user(&format!("u{i}"), true)).collect();
    for (skip, range) in [(0, 0..2), (2, 2..4), (4, 4..5)] {
        Mock::given(query_param("limit", "5"))
            .and(query_param("skip", skip.to_string().as_str()))
            .respond_with(users_page(5, &users[range]))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = builder(&server).page_size(5).build().unwrap();
    let names: Vec<String> = client
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4"]);
    assert_eq!(client.stats().requests, 3);

    // a page short of the cap before total is still an error
    let server = users_server(&[(0, 5, &users[0..2]), (2, 5, &users[2..3])]).await;
    let client = builder(&server).page_size(5).build().unwrap();
    let err = client.users().await.unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("pages hold 2"), "{err}");

    // and so is an empty first page when total says there are users
    let server = users_server(&[(0, 5, &[])]).await;
    let client = builder(&server).page_size(5).build().unwrap();
    assert!(matches!(client.users().await, Err(Error::Inconsistent(_))));
}

#[tokio::test]
async fn a_user_repeated_across_pages_is_an_error() {
    let users: Vec<Value> = (0..4).map(|i| user(&format!("u{i}"), true)).collect();
    let server = users_server(&[(0, 4, &users[0..2]), (2, 4, &users[1..3])]).await;
    let client = builder(&server).page_size(2).build().unwrap();
    let err = client.users().await.unwrap_err();
    assert!(err.to_string().contains("appeared twice"), "{err}");
}

#[tokio::test]
async fn a_500_on_page_two_fails_the_snapshot_after_retries() {
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..3).map(|i| user(&format!("u{i}"), true)).collect();
    Mock::given(query_param("skip", "0"))
        .respond_with(users_page(3, &users[0..2]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(query_param("skip", "2"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": true, "message": "database unavailable", "code": "internal"}),
        ))
        .expect(3) // the retry policy allows 3 attempts
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0) // nothing after a failed users read
        .mount(&server)
        .await;
    let client = builder(&server).page_size(2).build().unwrap();
    let err = client.snapshot(&all()).await.unwrap_err();
    match &err {
        Error::Api {
            status,
            code,
            message,
            path,
        } => {
            assert_eq!(*status, 500);
            assert_eq!(code.as_deref(), Some("internal"));
            assert_eq!(message, "database unavailable");
            assert!(path.contains("skip=2"), "{path}");
        }
        other => panic!("{other:?}"),
    }
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (4, 2));
    assert_eq!(stats.count("GET", 500), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = MockServer::start().await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([group("g1", "a")])))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let started = Instant::now();
    assert_eq!(client.groups().await.unwrap().len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries, stats.throttled), (2, 1, 1));
}

#[tokio::test]
async fn a_slow_server_times_out_after_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let client = builder(&server)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.groups().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(client.stats().failures, 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = ActivateClient::builder(SecretString::from(KEY))
        .base_url(format!("http://127.0.0.1:{port}"))
        .org_name(Some("acme".into()))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let err = client.groups().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(!err.to_string().contains("TOPSECRET"));
}

// ---------------------------------------------------------------- error bodies

#[tokio::test]
async fn an_html_502_is_reported_by_status_and_first_bytes() {
    let server = MockServer::start().await;
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(502).set_body_raw(html, "text/html"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).groups().await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    let text = err.to_string();
    assert!(text.contains("HTTP 502"), "{text}");
    assert!(
        text.contains("<head><title>502 Bad Gateway</title>"),
        "{text}"
    );
}

#[tokio::test]
async fn legacy_and_problem_json_errors_are_parsed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/organizations/acme/users"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!(
            {"error": true, "message": "organization acme not found", "code": "not_found", "errors": [], "params": {}}
        )))
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_raw(
                    r#"{"type":"https://example/bad","title":"Bad Request","status":400,"detail":"limit must be <= 500","code":"invalid_param"}"#,
                    "application/problem+json",
                ),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.users().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ACTIVATE answered /api/organizations/acme/users?limit=500&skip=0&active=all with HTTP 404 (not_found): organization acme not found"
    );
    let err = client.groups().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ACTIVATE answered /api/organizations/acme/groups with HTTP 400 (invalid_param): limit must be <= 500"
    );
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_names_the_json_path() {
    let server = MockServer::start().await;
    Mock::given(path("/api/organizations/acme/users"))
        .respond_with(users_page(1, &[json!({"id": "1", "username": "a"})]))
        .mount(&server)
        .await;
    let err = client(&server).users().await.unwrap_err();
    match err {
        Error::Decode { json_path, .. } => assert_eq!(json_path, "users[0]"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_is_an_error_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "https://login.example/"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).groups().await.unwrap_err();
    assert!(err.to_string().contains("https://login.example/"), "{err}");
}

// ---------------------------------------------------------------- groups and members

#[tokio::test]
async fn group_names_are_percent_encoded_in_member_routes() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    mount_groups(
        &server,
        json!([
            group("g1", "HPC / GPU users"),
            group("g2", "100% fun"),
            group("g3", "Données")
        ]),
    )
    .await;
    for encoded in ["HPC%20%2F%20GPU%20users", "100%25%20fun", "Donn%C3%A9es"] {
        Mock::given(method("GET"))
            .and(path(format!(
                "/api/organizations/acme/groups/{encoded}/members"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([member("ada")])))
            .expect(1)
            .mount(&server)
            .await;
    }
    mount_keys(&server, "ada", keys(ED)).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    let names: Vec<&str> = snap
        .snapshot
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["HPC / GPU users", "100% fun", "Données"]);
    assert!(snap.snapshot.groups.iter().all(|g| g.members == ["ada"]));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[tokio::test]
async fn members_join_case_insensitively_and_unknown_members_are_reported_not_invented() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("Ada", true), user("grace", true)]).await;
    mount_groups(&server, json!([group("g1", "Data Science")])).await;
    Mock::given(path(
        "/api/organizations/acme/groups/Data%20Science/members",
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(json!([
        member("ada"),
        member("GRACE"),
        member("ghost"),
        member("Ada")
    ])))
    .mount(&server)
    .await;
    mount_keys(&server, "Ada", keys("")).await;
    mount_keys(&server, "grace", keys("")).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    assert_eq!(snap.snapshot.groups[0].members, ["Ada", "grace"]);
    assert_eq!(
        snap.snapshot.users.len(),
        2,
        "no user is invented for `ghost`"
    );
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
    assert!(
        snap.warnings[0].contains("\"ghost\""),
        "{}",
        snap.warnings[0]
    );
}

#[tokio::test]
async fn a_failing_member_list_fails_the_snapshot() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    mount_groups(&server, json!([group("g1", "a"), group("g2", "b")])).await;
    Mock::given(path("/api/organizations/acme/groups/a/members"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups/b/members"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).snapshot(&all()).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
}

#[tokio::test]
async fn a_failing_group_list_fails_the_snapshot() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&server)
        .await;
    let err = client(&server).snapshot(&all()).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn duplicate_group_names_and_groups_without_id_fail_the_snapshot() {
    let server = MockServer::start().await;
    mount_users(&server, &[]).await;
    mount_groups(&server, json!([group("g1", "a"), group("g2", "a")])).await;
    let err = client(&server).snapshot(&all()).await.unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");

    let server = MockServer::start().await;
    mount_users(&server, &[]).await;
    mount_groups(&server, json!([{"name": "no id"}])).await;
    let err = client(&server).snapshot(&all()).await.unwrap_err();
    assert!(err.to_string().contains("no id"), "{err}");
}

#[tokio::test]
async fn a_group_scope_limits_member_lists_and_key_fetches() {
    let server = MockServer::start().await;
    mount_users(
        &server,
        &[
            user("ada", true),
            user("bob", true),
            user("cy", false),
            user("dee", true),
        ],
    )
    .await;
    mount_groups(
        &server,
        json!([group("g1", "in scope"), group("g2", "other")]),
    )
    .await;
    Mock::given(path("/api/organizations/acme/groups/in%20scope/members"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([member("ada"), member("cy")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups/other/members"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(&server)
        .await;
    mount_keys(&server, "ada", keys(ED)).await;
    for other in ["bob", "cy", "dee"] {
        Mock::given(path(format!("/api/users/{other}/ssh-public-keys")))
            .respond_with(keys(ED))
            .expect(0)
            .mount(&server)
            .await;
    }
    let snap = client(&server)
        .snapshot(&scope(&["in scope", "typo"]))
        .await
        .unwrap();
    assert_eq!(snap.snapshot.groups.len(), 1);
    assert_eq!(snap.snapshot.groups[0].members, ["ada", "cy"]);
    assert_eq!(snap.snapshot.users.len(), 4, "every user, in scope or not");
    let keys: Vec<bool> = snap
        .snapshot
        .users
        .iter()
        .map(|u| u.ssh_keys.is_some())
        .collect();
    assert_eq!(
        keys,
        [true, false, false, false],
        "keys only for active users in scope"
    );
    assert_eq!(snap.warnings.len(), 1);
    assert!(snap.warnings[0].contains("\"typo\""), "{:?}", snap.warnings);
}

#[tokio::test]
async fn a_scope_matching_no_group_is_an_error() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    mount_groups(&server, json!([group("g1", "a")])).await;
    let err = client(&server)
        .snapshot(&scope(&["A", "b"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("ACTIVATE_SYNC_GROUPS"));
}

// ---------------------------------------------------------------- SSH keys (REST)

#[tokio::test]
async fn key_bodies_keep_comments_and_blank_lines_and_empty_means_no_keys() {
    let server = MockServer::start().await;
    mount_users(
        &server,
        &[user("ada", true), user("bob", true), user("cy", true)],
    )
    .await;
    mount_groups(&server, json!([])).await;
    Mock::given(path("/api/users/ada/ssh-public-keys"))
        .and(headers(
            "accept",
            vec!["text/plain", "application/json;q=0.5", "*/*;q=0.1"],
        ))
        .respond_with(keys(&format!(
            "# laptop\r\n{ED}\r\n\r\n# old key below\n{ECDSA}\n"
        )))
        .expect(1)
        .mount(&server)
        .await;
    mount_keys(&server, "bob", keys("")).await;
    mount_keys(&server, "cy", keys("\n\n")).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    let users = &snap.snapshot.users;
    assert_eq!(
        users[0].ssh_keys.as_deref().unwrap(),
        ["# laptop", ED, "", "# old key below", ECDSA]
    );
    assert_eq!(
        users[1].ssh_keys,
        Some(vec![]),
        "an empty body means no keys"
    );
    assert_eq!(users[2].ssh_keys, Some(vec![]));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[tokio::test]
async fn a_key_fetch_failing_for_one_user_makes_only_that_users_keys_unknown() {
    let server = MockServer::start().await;
    mount_users(
        &server,
        &[
            user("ada", true),
            user("bob", true),
            user("cy", true),
            user("dee", true),
        ],
    )
    .await;
    mount_groups(&server, json!([])).await;
    mount_keys(&server, "ada", keys(ED)).await;
    Mock::given(path("/api/users/bob/ssh-public-keys"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(3)
        .mount(&server)
        .await;
    mount_keys(
        &server,
        "cy",
        ResponseTemplate::new(200).set_body_raw("<html>sign in</html>", "text/html"),
    )
    .await;
    mount_keys(&server, "dee", keys("Error: user not found")).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    let keys: Vec<Option<usize>> = snap
        .snapshot
        .users
        .iter()
        .map(|u| u.ssh_keys.as_ref().map(Vec::len))
        .collect();
    assert_eq!(keys, [Some(1), None, None, None]);
    assert_eq!(snap.warnings.len(), 3, "{:?}", snap.warnings);
    assert!(snap.warnings[0].contains("\"bob\"") && snap.warnings[0].contains("HTTP 500"));
    assert!(snap.warnings[1].contains("\"cy\"") && snap.warnings[1].contains("HTML"));
    assert!(snap.warnings[2].contains("\"dee\"") && snap.warnings[2].contains("no valid"));
}

#[tokio::test]
async fn a_401_during_key_fetching_fails_the_snapshot() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    mount_groups(&server, json!([])).await;
    mount_keys(&server, "ada", ResponseTemplate::new(401)).await;
    let err = client(&server).snapshot(&all()).await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn usernames_are_percent_encoded_in_the_key_route() {
    let server = MockServer::start().await;
    Mock::given(path("/api/users/j%C3%BCrgen%20m/ssh-public-keys"))
        .respond_with(keys(ED))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client(&server).ssh_keys("jürgen m").await.unwrap(), [ED]);
}

#[tokio::test]
async fn key_fetches_run_with_bounded_concurrency() {
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..8).map(|i| user(&format!("u{i}"), true)).collect();
    mount_users(&server, &users).await;
    mount_groups(&server, json!([])).await;
    Mock::given(path_regex_keys())
        .respond_with(keys(ED).set_delay(Duration::from_millis(200)))
        .expect(8)
        .mount(&server)
        .await;
    let started = Instant::now();
    builder(&server)
        .key_concurrency(2)
        .build()
        .unwrap()
        .snapshot(&all())
        .await
        .unwrap();
    // 8 fetches of 200 ms, 2 at a time: at least 4 rounds
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

fn path_regex_keys() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex(r"^/api/users/[^/]+/ssh-public-keys$")
}

// ---------------------------------------------------------------- accounting

/// N users, G groups, page size P, no org configured, every user active:
/// requests = 1 (whoami) + ceil(N / P) (user pages) + 1 (group list) + G (member lists)
///          + N (key listings).
#[tokio::test]
async fn a_snapshot_of_n_users_and_g_groups_costs_an_exact_number_of_requests() {
    let (n, g, p) = (7usize, 3usize, 3u32);
    let server = MockServer::start().await;
    Mock::given(path("/api/auth/whoami/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json("acme"))
        .mount(&server)
        .await;
    let users: Vec<Value> = (0..n).map(|i| user(&format!("u{i}"), true)).collect();
    for (page, chunk) in users.chunks(p as usize).enumerate() {
        Mock::given(path("/api/organizations/acme/users"))
            .and(query_param(
                "skip",
                (page * p as usize).to_string().as_str(),
            ))
            .respond_with(users_page(n, chunk))
            .mount(&server)
            .await;
    }
    let groups: Vec<Value> = (0..g)
        .map(|i| group(&format!("id{i}"), &format!("g{i}")))
        .collect();
    mount_groups(&server, Value::Array(groups)).await;
    Mock::given(wiremock::matchers::path_regex(
        r"^/api/organizations/acme/groups/[^/]+/members$",
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(json!([member("u0"), member("u1")])))
    .mount(&server)
    .await;
    Mock::given(path_regex_keys())
        .respond_with(keys(ED))
        .mount(&server)
        .await;
    let client = builder(&server)
        .org_name(None)
        .page_size(p)
        .build()
        .unwrap();
    let snap = client.snapshot(&all()).await.unwrap();
    assert_eq!(snap.snapshot.users.len(), n);
    let expected = 1 + n.div_ceil(p as usize) + 1 + g + n;
    assert_eq!(expected, 15);
    let stats = client.stats();
    assert_eq!(stats.requests, expected as u64);
    assert_eq!(stats.count("GET", 200), expected as u64);
    assert_eq!(server.received_requests().await.unwrap().len(), expected);
}

// ---------------------------------------------------------------- the API key never leaks

#[tokio::test]
async fn the_api_key_never_appears_in_errors_debug_or_warnings() {
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let echo = format!("you sent {KEY} (Basic {basic}); secret TOPSECRETPART42");
    Mock::given(path("/api/organizations/acme/users"))
        .respond_with(ResponseTemplate::new(401).set_body_string(echo.clone()))
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": echo.clone(), "code": KEY})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/organizations/acme/groups/x/members"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("https://x/?k={KEY}").as_str()),
        )
        .mount(&server)
        .await;
    mount_keys(&server, "ada", keys(&format!("echo {KEY}"))).await;
    let client = client(&server);
    let mut shown = vec![format!("{client:?}"), format!("{:?}", builder(&server))];
    for err in [
        client.users().await.unwrap_err(),
        client.groups().await.unwrap_err(),
        client.group_members("x").await.unwrap_err(),
        client.ssh_keys("ada").await.unwrap_err(),
        ActivateClient::builder(SecretString::from("pwt_TOPSECRETPART42"))
            .build()
            .unwrap_err(),
        ActivateClient::builder(SecretString::from("pwt_!!.TOPSECRETPART42"))
            .build()
            .unwrap_err(),
    ] {
        shown.push(err.to_string());
        shown.push(format!("{err:?}"));
    }
    for text in &shown {
        assert!(!text.contains("TOPSECRETPART42"), "{text}");
        assert!(!text.contains(&basic), "{text}");
    }
    assert!(shown.iter().any(|t| t.contains("[redacted]")));
}

// ---------------------------------------------------------------- the pw CLI key source

#[cfg(unix)]
mod pw {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::{Path, PathBuf};

    fn fake_pw(dir: &Path, script: &str) -> PathBuf {
        let path = dir.join("pw");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    async fn pw_snapshot(script: &str, timeout: Duration) -> (activate_client::Snapshot, u64) {
        let dir = tempfile::tempdir().unwrap();
        let pw = fake_pw(dir.path(), script);
        let server = MockServer::start().await;
        mount_users(
            &server,
            &[user("ada", true), user("bob", true), user("cy", false)],
        )
        .await;
        mount_groups(&server, json!([])).await;
        let client = builder(&server)
            .key_source(KeySource::PwCli { path: pw, timeout })
            .build()
            .unwrap();
        let snap = client.snapshot(&all()).await.unwrap();
        (snap, client.stats().requests)
    }

    #[tokio::test]
    async fn success_prints_keys_per_user_and_makes_no_key_requests() {
        let script = format!(
            r#"[ "$1" = ssh-public-keys ] || {{ echo "usage" >&2; exit 64; }}
case "$2" in
  ada) printf '# from pw\n{ED}\n\n' ;;
  bob) printf '' ;;
  *) echo "unexpected user $2" >&2; exit 1 ;;
esac"#
        );
        let (snap, requests) = pw_snapshot(&script, Duration::from_secs(10)).await;
        let users = &snap.snapshot.users;
        assert_eq!(users[0].ssh_keys.as_deref().unwrap(), ["# from pw", ED, ""]);
        assert_eq!(users[1].ssh_keys, Some(vec![]));
        assert_eq!(users[2].ssh_keys, None, "inactive users are not asked");
        assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
        assert_eq!(requests, 2, "users page and group list only");
    }

    #[tokio::test]
    async fn a_non_zero_exit_is_a_failure_for_that_user_with_stderr() {
        let script = format!(
            r#"if [ "$2" = bob ]; then echo "error: not logged in; run pw auth" >&2; exit 3; fi
echo '{ED}'"#
        );
        let (snap, _) = pw_snapshot(&script, Duration::from_secs(10)).await;
        assert!(snap.snapshot.users[0].ssh_keys.is_some());
        assert_eq!(snap.snapshot.users[1].ssh_keys, None);
        assert_eq!(snap.warnings.len(), 1);
        let warning = &snap.warnings[0];
        assert!(
            warning.contains("\"bob\"") && warning.contains("status 3"),
            "{warning}"
        );
        assert!(warning.contains("not logged in"), "{warning}");
    }

    #[tokio::test]
    async fn a_hang_past_the_timeout_is_killed_and_a_failure() {
        let script = format!(
            r#"if [ "$2" = ada ]; then exec sleep 30; fi
echo '{ED}'"#
        );
        let started = Instant::now();
        let (snap, _) = pw_snapshot(&script, Duration::from_millis(300)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert!(snap.snapshot.users[1].ssh_keys.is_some());
        assert!(snap.warnings[0].contains("killed"), "{:?}", snap.warnings);
    }

    #[tokio::test]
    async fn endless_output_is_cut_off_and_a_failure() {
        // `yes` prints forever: the read stops past 1 MiB instead of growing without end
        let script = format!(
            r#"if [ "$2" = ada ]; then exec yes '{ED}'; fi
echo '{ED}'"#
        );
        let (snap, _) = pw_snapshot(&script, Duration::from_secs(20)).await;
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert!(snap.snapshot.users[1].ssh_keys.is_some());
        assert!(
            snap.warnings[0].contains("more than 1048576 bytes"),
            "{:?}",
            snap.warnings
        );
    }

    #[tokio::test]
    async fn garbage_output_is_a_failure_not_an_empty_key_list() {
        let script = r#"echo "Welcome to pw 1.2.3"; echo "Usage: pw [command]""#;
        let (snap, _) = pw_snapshot(script, Duration::from_secs(10)).await;
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert_eq!(snap.snapshot.users[1].ssh_keys, None);
        assert_eq!(snap.warnings.len(), 2);
        assert!(
            snap.warnings[0].contains("no valid authorized_keys entry"),
            "{:?}",
            snap.warnings
        );
    }

    #[tokio::test]
    async fn a_username_that_looks_like_an_option_is_not_passed_to_pw() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let pw = fake_pw(
            dir.path(),
            &format!("touch {}; echo '{ED}'", marker.display()),
        );
        let server = MockServer::start().await;
        mount_users(&server, &[user("--help", true)]).await;
        mount_groups(&server, json!([])).await;
        let client = builder(&server)
            .key_source(KeySource::PwCli {
                path: pw,
                timeout: Duration::from_secs(5),
            })
            .build()
            .unwrap();
        let snap = client.snapshot(&all()).await.unwrap();
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert!(snap.warnings[0].contains("option"), "{:?}", snap.warnings);
        assert!(!marker.exists(), "pw was not run");
    }

    #[tokio::test]
    async fn a_missing_binary_is_a_failure_per_user() {
        let server = MockServer::start().await;
        mount_users(&server, &[user("ada", true)]).await;
        mount_groups(&server, json!([])).await;
        let client = builder(&server)
            .key_source(KeySource::PwCli {
                path: PathBuf::from("/nonexistent/pw"),
                timeout: Duration::from_secs(1),
            })
            .build()
            .unwrap();
        let snap = client.snapshot(&all()).await.unwrap();
        assert_eq!(snap.snapshot.users[0].ssh_keys, None);
        assert!(
            snap.warnings[0].contains("could not run"),
            "{:?}",
            snap.warnings
        );
    }
}

// ---------------------------------------------------------------- the engine's Source trait

#[tokio::test]
async fn the_client_is_a_scim_diff_source_with_its_configured_scope() {
    use scim_diff::source::Source;
    let server = MockServer::start().await;
    mount_users(&server, &[user("ada", true)]).await;
    mount_groups(&server, json!([group("g1", "a"), group("g2", "b")])).await;
    Mock::given(path("/api/organizations/acme/groups/b/members"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([member("ada")])))
        .expect(1)
        .mount(&server)
        .await;
    mount_keys(&server, "ada", keys(ED)).await;
    let client = builder(&server)
        .sync_groups(Some(vec!["b".into()]))
        .build()
        .unwrap();
    let source: &dyn Source = &client;
    let snap = source.snapshot().await.unwrap();
    assert_eq!(snap.groups.len(), 1);
    assert_eq!(snap.groups[0].id, "g2");

    let failing = MockServer::start().await;
    let err = Source::snapshot(&client_for_failing(&failing))
        .await
        .unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "{err}");
}

fn client_for_failing(server: &MockServer) -> ActivateClient {
    // nothing is mounted: every route answers 404
    client(server)
}

#[tokio::test]
async fn dot_segment_names_are_refused_instead_of_changing_the_route() {
    let server = MockServer::start().await;
    let client = client(&server);
    let err = client.group_members("..").await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = client.ssh_keys(".").await.unwrap_err();
    assert!(matches!(err, Error::KeyFetch { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn user_fields_map_to_the_snapshot() {
    let server = MockServer::start().await;
    let mut quiet = user("svc", false);
    quiet["email"] = Value::Null;
    quiet["name"] = json!("  ");
    mount_users(&server, &[user("ada", true), quiet]).await;
    mount_groups(&server, json!([])).await;
    mount_keys(&server, "ada", keys(ED)).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    let ada = &snap.snapshot.users[0];
    assert_eq!(
        (
            ada.username.as_str(),
            ada.email.as_deref(),
            ada.name.as_deref(),
            ada.active
        ),
        ("ada", Some("ada@example.org"), Some("ada Example"), true)
    );
    let svc = &snap.snapshot.users[1];
    assert_eq!(
        (svc.email.as_deref(), svc.name.as_deref(), svc.active),
        (None, None, false)
    );
    assert_eq!(svc.ssh_keys, None, "keys of inactive users are not read");
    // the snapshot is the export format
    let again = activate_client::parse_export(&snap.snapshot.to_json()).unwrap();
    assert_eq!(again.snapshot, snap.snapshot);
}

#[tokio::test]
async fn whoami_accepts_an_object_and_rejects_an_empty_name() {
    let server = MockServer::start().await;
    Mock::given(path("/api/auth/whoami/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "acme"})))
        .mount(&server)
        .await;
    let client = builder(&server).org_name(None).build().unwrap();
    assert_eq!(client.organization().await.unwrap(), "acme");

    let server = MockServer::start().await;
    Mock::given(path("/api/auth/whoami/organization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(""))
        .mount(&server)
        .await;
    let client = builder(&server).org_name(None).build().unwrap();
    let err = client.organization().await.unwrap_err();
    assert!(err.to_string().contains("ACTIVATE_ORG_NAME"), "{err}");
}

#[tokio::test]
async fn usernames_differing_only_in_case_are_not_guessed_between() {
    let server = MockServer::start().await;
    mount_users(&server, &[user("Ada", true), user("ADA", true)]).await;
    mount_groups(&server, json!([group("g1", "g")])).await;
    Mock::given(path("/api/organizations/acme/groups/g/members"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([member("ADA"), member("ada")])),
        )
        .mount(&server)
        .await;
    mount_keys(&server, "Ada", keys("")).await;
    mount_keys(&server, "ADA", keys("")).await;
    let snap = client(&server).snapshot(&all()).await.unwrap();
    assert_eq!(
        snap.snapshot.groups[0].members,
        ["ADA"],
        "the exact match wins"
    );
    assert_eq!(snap.warnings.len(), 1);
    assert!(
        snap.warnings[0].contains("differ only in letter case"),
        "{:?}",
        snap.warnings
    );
}

#[tokio::test]
async fn the_pages_after_the_first_are_requested_together_and_none_past_the_end() {
    const DELAY: Duration = Duration::from_millis(400);
    let server = MockServer::start().await;
    let users: Vec<Value> = (0..9).map(|i| user(&format!("u{i}"), true)).collect();
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for skip in (0..9).step_by(2) {
        let page = users[skip..(skip + 2).min(9)].to_vec();
        let arrivals = arrivals.clone();
        Mock::given(query_param("skip", skip.to_string().as_str()))
            .respond_with(move |_: &wiremock::Request| {
                arrivals.lock().unwrap().push((skip, Instant::now()));
                users_page(9, &page).set_delay(DELAY)
            })
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = builder(&server).page_size(2).build().unwrap();
    let read = client.users().await.unwrap();
    let names: Vec<&str> = read.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"]
    );
    // five pages, each once (the mocks expect it): nothing past skip=8
    assert_eq!(client.stats().requests, 5);
    let arrivals = arrivals.lock().unwrap().clone();
    let (first, later) = arrivals.split_first().unwrap();
    assert_eq!(first.0, 0, "the first page first: it gives the total");
    // every later page was asked for before any of them was answered
    let earliest = later.iter().map(|(_, at)| *at).min().unwrap();
    let latest = later.iter().map(|(_, at)| *at).max().unwrap();
    assert!(latest < earliest + DELAY, "{arrivals:?}");
}
