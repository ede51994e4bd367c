//! Sentinel secrets: every subcommand at `LOG_LEVEL=trace` (JSON and text logs), with sentinel
//! values for both tokens (in env and in `*_FILE`), across success and failure paths —
//! including servers that echo the `Authorization` header back in their error bodies. The
//! sentinels, and every encoded form a client could send (Basic auth's base64), must appear
//! nowhere in stdout, stderr or the report. Also: `http://` refused for non-loopback targets
//! unless allowed, TLS failures fatal with a clear message, and redirects never carry a
//! credential to another host.

mod reliability_support;

use reliability_support::activate::{FakeActivate, SourceFault};
use reliability_support::*;
use scim_server::faults::FaultPlan;
use scim_server::{Profile, ScimServer};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SCIM_SENTINEL: &str = "SENTINELscimQ7w2e9r4t1";
const KEY_SECRET: &str = "SENTINELactivateZ3x8c5v6b0";

fn activate_key() -> String {
    format!("pwt_MTI3LjAuMC4x.{KEY_SECRET}")
}

/// Every form a secret could leak in.
fn forbidden() -> Vec<String> {
    let key = activate_key();
    let b64 = |s: &str| {
        let std = base64(s.as_bytes());
        let url = std
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned();
        [std, url]
    };
    let mut out = vec![
        SCIM_SENTINEL.to_owned(),
        KEY_SECRET.to_owned(),
        key.clone(),
        "SENTINEL".to_owned(),
    ];
    for s in [format!("{key}:"), key.clone(), SCIM_SENTINEL.to_owned()] {
        out.extend(b64(&s));
    }
    out
}

/// Standard base64 with padding (a dev-dependency is not worth it for a test oracle).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

fn assert_clean(what: &str, r: &Run) {
    for f in forbidden() {
        assert!(
            !r.stdout.contains(&f) && !r.stderr.contains(&f),
            "{what}: a secret form `{f}` leaked:\n{}",
            r.all()
        );
    }
    assert!(!r.stderr.is_empty(), "{what}: trace logs were written");
}

/// A SCIM target that answers every request `status`, echoing the request's headers.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        ResponseTemplate::new(self.0)
            .insert_header("www-authenticate", format!("Bearer error=\"{auth}\""))
            .set_body_json(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": self.0.to_string(),
                "detail": format!("rejected request with Authorization: {auth}"),
                "echo": {"authorization": auth},
            }))
    }
}

async fn echo_target(status: u16) -> MockServer {
    let m = MockServer::start().await;
    Mock::given(any())
        .respond_with(Echo(status))
        .mount(&m)
        .await;
    m
}

/// Sentinel credentials as plain env, or as files.
fn creds(dir: &std::path::Path, files: bool) -> Vec<(String, String)> {
    if files {
        let k = dir.join("activate.key");
        let t = dir.join("scim.token");
        std::fs::write(&k, format!("{}\n", activate_key())).unwrap();
        std::fs::write(&t, format!("  {SCIM_SENTINEL}\n")).unwrap();
        vec![
            ("ACTIVATE_API_KEY".into(), String::new()),
            ("CW_SCIM_BEARER_TOKEN".into(), String::new()),
            ("ACTIVATE_API_KEY_FILE".into(), k.display().to_string()),
            ("CW_SCIM_BEARER_TOKEN_FILE".into(), t.display().to_string()),
        ]
    } else {
        vec![
            ("ACTIVATE_API_KEY".into(), activate_key()),
            ("CW_SCIM_BEARER_TOKEN".into(), SCIM_SENTINEL.into()),
        ]
    }
}

fn with(base: &[(String, String)], over: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .cloned()
        .collect();
    v.extend(over.iter().cloned());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_never_appear_in_any_output() {
    let org = Org::generate(12, 2);
    let fake = FakeActivate::start(org.clone()).await;
    let good = ScimServer::builder()
        .bearer_token(Some(SCIM_SENTINEL))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let wrong_token = server(FaultPlan::new(0)).await; // expects another token: 401
    let echo401 = echo_target(401).await;
    let echo500 = echo_target(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut runs = 0;

    for files in [false, true] {
        for log_format in ["json", "text"] {
            let base = with(
                &fake.env(&good.base_url()),
                &[
                    ("LOG_LEVEL".into(), "trace".into()),
                    ("LOG_FORMAT".into(), log_format.into()),
                ],
            );
            let base = with(&base, &creds(dir.path(), files));
            let tag = |s: &str| format!("{s} (files={files}, log={log_format})");

            // success paths: reconcile, dry run, check
            fake.fault(SourceFault::None);
            for args in [&["--dry-run"][..], &[][..]] {
                let r = run(&base, &[], args).await;
                assert_eq!(r.code, 0, "{}", r.all());
                assert_clean(&tag(&format!("reconcile {args:?}")), &r);
                runs += 1;
            }
            let r = run(&base, &[], &["check"]).await;
            assert_clean(&tag("check"), &r);
            runs += 1;

            // ACTIVATE echoing the Basic credential in 401 and 500 error bodies
            for status in [401, 500] {
                fake.fault(SourceFault::EchoAuthorization(status));
                for args in [&[][..], &["--dry-run"][..], &["check"][..]] {
                    let r = run(&base, &[], args).await;
                    assert_ne!(r.code, 0, "{}", r.all());
                    assert!(
                        r.all().contains(&status.to_string()),
                        "the failure says what happened: {}",
                        r.all()
                    );
                    assert_clean(&tag(&format!("activate echo {status} {args:?}")), &r);
                    runs += 1;
                }
            }
            fake.fault(SourceFault::None);

            // SCIM targets that refuse the token, or echo it in 401/500 errors
            for url in [
                wrong_token.base_url(),
                format!("{}/v2", echo401.uri()),
                format!("{}/v2", echo500.uri()),
            ] {
                let env = with(&base, &[("CW_SCIM_BASE_URL".into(), url.clone())]);
                for args in [&[][..], &["--dry-run"][..], &["check"][..]] {
                    let r = run(&env, &[], args).await;
                    assert_ne!(r.code, 0, "{url}: {}", r.all());
                    assert_clean(&tag(&format!("scim {url} {args:?}")), &r);
                    runs += 1;
                }
            }

            // configuration errors with the secrets set
            let env = with(
                &base,
                &[(
                    "CW_SCIM_BASE_URL".into(),
                    "http://scim.example.com/v2".into(),
                )],
            );
            let r = run(&env, &[], &[]).await;
            assert_eq!(r.code, 2, "{}", r.all());
            assert_clean(&tag("usage error"), &r);

            // the demo, with the secrets in its environment
            let r = run(&base, &[], &["demo"]).await;
            assert_eq!(r.code, 0, "{}", r.all());
            assert_clean(&tag("demo"), &r);
            runs += 2;
        }
    }
    // the echoing servers really did receive the credentials they could echo
    let seen = echo401.received_requests().await.unwrap();
    assert!(seen.iter().any(|r| {
        r.headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().contains(SCIM_SENTINEL))
    }));
    eprintln!(
        "FIGURES sentinel runs: {runs}, forbidden forms: {}",
        forbidden().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_for_non_loopback_targets_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let source = Org::generate(3, 1).write(dir.path());
    for (var, url) in [
        ("CW_SCIM_BASE_URL", "http://scim.example.com/v2"),
        ("CW_SCIM_BASE_URL", "http://10.1.2.3/scim/v2"),
    ] {
        let env = target_env("https://unused.example/v2", &source);
        let r = run(&env, &[(var, url)], &["--dry-run"]).await;
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.all().contains(var) && r.all().contains("http"),
            "{}",
            r.all()
        );
        // allowed explicitly: no longer a configuration error (the host does not resolve)
        let r = run(
            &env,
            &[
                (var, url),
                ("SYNC_ALLOW_INSECURE_HTTP", "true"),
                ("CW_SCIM_BASE_URL", "http://scim.invalid/v2"),
            ],
            &["--dry-run"],
        )
        .await;
        assert_eq!(r.code, 4, "{}", r.all());
    }
    // ACTIVATE too
    let org = Org::generate(3, 1);
    let fake = FakeActivate::start(org).await;
    let s = server(FaultPlan::new(0)).await;
    let r = run(
        &fake.env(&s.base_url()),
        &[("ACTIVATE_API_URL", "http://activate.example.com")],
        &["--dry-run"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.all().contains("ACTIVATE_API_URL"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_fatal_with_a_clear_message() {
    // an https URL to a server that speaks plain http: the handshake fails
    let plain = MockServer::start().await;
    let port = plain.address().port();
    let dir = tempfile::tempdir().unwrap();
    let source = Org::generate(3, 1).write(dir.path());
    let env = target_env(&format!("https://localhost:{port}/v2"), &source);
    let r = run(&env, &[], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    let err = r.report["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    // the rustls failure is quoted (it does not say "TLS" in so many words; see RELIABILITY.md)
    assert!(
        err.contains("corrupt message") && err.contains("connect"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(writes_of(&plain).await == 0);
}

async fn writes_of(m: &MockServer) -> usize {
    m.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .count()
}

/// Answers every request with a 307 to the same path on `to`.
struct RedirectTo(String);

impl Respond for RedirectTo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut loc = format!("{}{}", self.0, req.url.path());
        if let Some(q) = req.url.query() {
            loc.push('?');
            loc.push_str(q);
        }
        ResponseTemplate::new(307).insert_header("location", loc)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_never_carry_a_credential_to_another_host() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": []})))
        .mount(&elsewhere)
        .await;
    // another host name for the same machine: `localhost` instead of `127.0.0.1`
    let other = format!("http://localhost:{}", elsewhere.address().port());
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(RedirectTo(other.clone()))
        .mount(&redirector)
        .await;

    let org = Org::generate(5, 1);
    let fake = FakeActivate::start(org.clone()).await;
    // the SCIM target redirects
    let env = with(
        &fake.env(&format!("{}/v2", redirector.uri())),
        &creds(tempfile::tempdir().unwrap().path(), false),
    );
    for args in [&["--dry-run"][..], &["check"][..]] {
        let r = run(&env, &[("LOG_LEVEL", "trace")], args).await;
        assert_clean(&format!("scim redirect {args:?}"), &r);
    }
    // ACTIVATE redirects
    let env = with(
        &with(
            &fake.env(&format!("{}/v2", redirector.uri())),
            &creds(tempfile::tempdir().unwrap().path(), false),
        ),
        &[("ACTIVATE_API_URL".into(), redirector.uri())],
    );
    let r = run(&env, &[("LOG_LEVEL", "trace")], &["--dry-run"]).await;
    assert_clean("activate redirect", &r);

    let seen = elsewhere.received_requests().await.unwrap();
    for req in &seen {
        assert!(
            req.headers.get("authorization").is_none(),
            "a credential followed a redirect to another host: {} {}",
            req.method,
            req.url
        );
    }
    let sent = redirector.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .any(|r| r.headers.get("authorization").is_some()),
        "the first host did get the credential"
    );
    eprintln!(
        "redirects: {} requests to the redirecting host, {} followed to the other host, none with a credential",
        sent.len(),
        seen.len()
    );
}
