//! URL policy and the token's absence from every output.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scim_client::{Error, ScimClient, User};
use secrecy::SecretString;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TOKEN, builder, client, fast_retry, p};

fn build(url: &str, allow: bool) -> Result<ScimClient, Error> {
    ScimClient::builder(url)
        .bearer_token(SecretString::from(TOKEN))
        .allow_insecure_http(allow)
        .build()
}

#[test]
fn plain_http_is_refused_unless_loopback_or_allowed() {
    let e = build("http://scim.example.com/scim/org", false).unwrap_err();
    assert!(matches!(e, Error::InsecureUrl { .. }), "{e:?}");
    assert!(e.to_string().contains("allow insecure http"), "{e}");
    build("http://scim.example.com/scim/org", true).unwrap();
    build("https://api.coreweave.com/scim/abc123", false).unwrap();
    for loopback in [
        "http://127.0.0.1:8080/t/v2",
        "http://127.9.9.9/v2",
        "http://localhost:1/x",
        "http://[::1]:8080/v2",
    ] {
        build(loopback, false).unwrap_or_else(|e| panic!("{loopback}: {e}"));
    }
    assert!(matches!(build("ftp://x/y", true), Err(Error::Config(_))));
    assert!(matches!(build("not a url", true), Err(Error::Config(_))));
    assert!(matches!(
        build("https://user:pw@x/y", true),
        Err(Error::Config(_))
    ));
}

#[test]
fn invalid_settings_are_config_errors() {
    let b = || ScimClient::builder("https://x/scim");
    assert!(matches!(b().page_size(0).build(), Err(Error::Config(_))));
    assert!(matches!(
        b().max_in_flight(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        b().requests_per_second(Some(-1.0)).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        b().bearer_token(SecretString::from("a\nb")).build(),
        Err(Error::Config(_))
    ));
}

#[test]
fn base_url_keeps_its_path_prefix() {
    let c = build("https://api.coreweave.com/scim/abc123", false).unwrap();
    assert_eq!(
        c.base_url().as_str(),
        "https://api.coreweave.com/scim/abc123/"
    );
}

/// Collects log output in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_is_never_printed() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // a hostile server that echoes the token back in its error bodies
    Mock::given(method("GET"))
        .and(path(p("/Users/echo")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": 401, "detail": format!("token {TOKEN} is revoked")
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users/html")))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            format!("<html><body>Authorization: Bearer {TOKEN}</body></html>"),
            "text/html",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users/bad")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"userName": 5})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/Users/throttled")))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;

    let c = client(&server);
    let slow = builder(&server)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let refused = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ScimClient::builder(&format!("http://127.0.0.1:{port}"))
            .bearer_token(SecretString::from(TOKEN))
            .retry_policy(fast_retry())
            .build()
            .unwrap()
    };
    let mut outputs = vec![
        format!("{c:?}"),
        format!(
            "{:?}",
            ScimClient::builder("https://x").bearer_token(SecretString::from(TOKEN))
        ),
    ];
    let errors = [
        c.users().get("echo").await.unwrap_err(),
        c.users().get("html").await.unwrap_err(),
        c.users().get("bad").await.unwrap_err(),
        c.users().get("throttled").await.unwrap_err(),
        slow.users().create(&User::new("x")).await.unwrap_err(),
        refused.users().get("x").await.unwrap_err(),
        build("http://example.com", false).unwrap_err(),
    ];
    for e in &errors {
        outputs.push(format!("{e}"));
        outputs.push(format!("{e:?}"));
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            outputs.push(format!("{s} {s:?}"));
            source = s.source();
        }
    }
    outputs.push(String::from_utf8(logs.0.lock().unwrap().clone()).unwrap());
    for out in &outputs {
        assert!(!out.contains(TOKEN), "token leaked: {out}");
    }
    // the checks above saw real output: errors of every kind and debug logs
    assert!(matches!(errors[0], Error::Unauthorized { .. }));
    assert!(outputs.iter().any(|o| o.contains("[redacted]")));
    assert!(outputs.last().unwrap().contains("scim response"));
    // and the token did reach the server, in the header only
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        req.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {TOKEN}")
    );
}
