//! Hostile peers and hostile files, through the binary: a target that never stops paging,
//! a deadline that passes while reading, files that are not files (or are too large), and
//! source text made to inject key lines or terminal control sequences. Each ends with a
//! message that names the limit or the record, and nothing is written that should not be.

mod reliability_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reliability_support::*;
use scim_server::faults::FaultPlan;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A SCIM target whose lists never end: fresh ids on every page, claiming `total`.
struct Endless {
    next: AtomicU64,
    total: Option<u64>,
}

impl Respond for Endless {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let first = self.next.fetch_add(10, Ordering::SeqCst);
        let resources: Vec<Value> = (first..first + 10)
            .map(|i| {
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "id": format!("id-{i}"), "userName": format!("u{i}@x"),
                       "externalId": format!("pw-activate:user:u{i}"), "active": true})
            })
            .collect();
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "startIndex": first + 1, "itemsPerPage": 10, "Resources": resources,
        });
        if let Some(t) = self.total {
            body["totalResults"] = json!(t);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn export(dir: &std::path::Path, org: Value) -> std::path::PathBuf {
    let path = dir.join("org.json");
    std::fs::write(&path, serde_json::to_vec(&org).unwrap()).unwrap();
    path
}

fn small_org() -> Value {
    json!({"version": 1, "users": [{"username": "ada", "email": "ada@example.org"}], "groups": []})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_stops_paging_fails_the_read_and_names_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let source = export(dir.path(), small_org());
    // an absurd totalResults: refused on its first page
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Endless {
            next: AtomicU64::new(0),
            total: Some(1_000_000_000),
        })
        .mount(&target)
        .await;
    let env = target_env(&format!("{}/v2", target.uri()), &source);
    let r = run(&env, &[], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    let error = r.report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("1000000000") && error.contains("--max-records"),
        "{error}"
    );
    assert!(error.contains("nothing was written"), "{error}");
    let requests = target.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.method == wiremock::http::Method::GET)
    );

    // no totalResults at all, fresh ids forever: stopped at the configured limit
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Endless {
            next: AtomicU64::new(0),
            total: None,
        })
        .mount(&target)
        .await;
    let env = target_env(&format!("{}/v2", target.uri()), &source);
    let r = run(&env, &[("SYNC_MAX_RECORDS", "200")], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    let error = r.report["error"].as_str().unwrap_or_default();
    assert!(error.contains("200 records"), "{error}");
    // users and groups are both endless here: at most 21 pages of 10 each, the
    // ServiceProviderConfig asked once (whether to page by cursor), and no write
    let requests = target.received_requests().await.unwrap();
    assert!(requests.len() <= 2 * 21 + 1, "{} requests", requests.len());
    assert!(
        requests
            .iter()
            .all(|r| r.method == wiremock::http::Method::GET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_that_passes_while_reading_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let source = export(dir.path(), small_org());
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)))
        .mount(&target)
        .await;
    let env = target_env(&format!("{}/v2", target.uri()), &source);
    let r = run(&env, &[("SYNC_DEADLINE", "1s")], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    let error = r.report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("deadline") && !error.contains("signal"),
        "{error}"
    );
    assert!(error.contains("nothing was written"), "{error}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_files_or_too_large_are_refused_by_name() {
    let server = server(FaultPlan::new(0)).await;
    let dir = tempfile::tempdir().unwrap();
    let source = export(dir.path(), small_org());
    let env = target_env(&server.base_url(), &source);
    let fifo = dir.path().join("token-fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big-token");
    std::fs::write(&big, "x".repeat(300 * 1024)).unwrap();
    let fifo = fifo.display().to_string();
    let big = big.display().to_string();

    // secrets: a FIFO (which used to hang the run forever) and a 300 KB "token"
    for (file, why) in [(&fifo, "not a regular file"), (&big, "more than")] {
        let r = run(
            &env,
            &[
                ("CW_SCIM_BEARER_TOKEN", ""),
                ("CW_SCIM_BEARER_TOKEN_FILE", file),
            ],
            &[],
        )
        .await;
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("CW_SCIM_BEARER_TOKEN_FILE") && r.stderr.contains(why),
            "{}",
            r.all()
        );
    }
    // the export: /dev/zero, a FIFO, and a file above the configured size
    for (file, extra, why) in [
        ("/dev/zero", None, "not a regular file"),
        (fifo.as_str(), None, "not a regular file"),
        (
            source.to_str().unwrap(),
            Some("10"),
            "more than the 10 allowed",
        ),
    ] {
        let mut vars = vec![("ACTIVATE_SOURCE_FILE", file)];
        if let Some(max) = extra {
            vars.push(("ACTIVATE_SOURCE_FILE_MAX_BYTES", max));
        }
        let r = run(&env, &vars, &[]).await;
        assert_eq!(r.code, 4, "{file}: {}", r.all());
        let error = r.report["error"].as_str().unwrap_or_default();
        assert!(error.contains(why) && error.contains(file), "{error}");
    }
    assert!(writes(&server).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_source_text_is_neither_synced_nor_shown_raw() {
    let server = server(FaultPlan::new(0)).await;
    let keys = sample_keys();
    let dir = tempfile::tempdir().unwrap();
    let injected = format!("{} x@y\n{} injected", keys[0], keys[1]);
    let org = json!({
        "version": 1,
        "users": [
            {"username": "ada", "email": "ada@example.org", "sshKeys": [injected, keys[2]]},
            {"username": "esc\u{1b}[2J\u{1b}[31mred", "email": "esc@example.org"},
            {"username": "bidi", "email": "bidi\u{202e}gro.elpmaxe@evil"},
            {"username": "   ", "email": "blank@example.org"},
            {"username": "bob", "email": "bob@example.org", "name": "Bob\nInjected Line"},
        ],
        "groups": [
            {"id": "g1", "name": "team\u{7}bell", "members": ["ada"]},
            {"id": "g2", "name": "fine", "members": ["ada"]},
        ]
    });
    let source = export(dir.path(), org);
    let env = target_env(&server.base_url(), &source);
    let r = run(&env, &[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let users = server.default_tenant().users();
    let managed: Vec<&Value> = users
        .iter()
        .filter(|u| {
            u["externalId"]
                .as_str()
                .is_some_and(|e| e.starts_with(MANAGED))
        })
        .collect();
    // only ada is synced, with her one clean key: no element holds a line break
    assert_eq!(managed.len(), 1, "{managed:?}");
    let ada_keys = managed[0][CW_USER]["sunkSshKeys"].as_array().unwrap();
    assert_eq!(ada_keys.len(), 1);
    assert!(ada_keys.iter().all(|k| !k.as_str().unwrap().contains('\n')));
    let groups = server.default_tenant().groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["displayName"], "fine");
    let warnings = r.warnings();
    for needle in ["user ada", "line break", "is not synced", "group"] {
        assert!(warnings.contains(needle), "{needle}: {warnings}");
    }

    // the text output quotes none of it raw
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = command(dir.path());
        cmd.args(["--dry-run", "--output", "text"]);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for hostile in ['\u{1b}', '\u{7}', '\u{202e}', '\r'] {
        assert!(
            !text.contains(hostile),
            "{hostile:?} reached stdout:\n{text}"
        );
    }
    assert!(
        text.contains("\\u{1b}"),
        "the escape is shown escaped:\n{text}"
    );
}
