//! Hostile clients: every probe of the security review, kept so that none comes back. Each
//! test drives the server over real HTTP on loopback (or the binary, for the file-descriptor
//! limit) and asserts the bound, never a time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use scim_server::{ResourceKind, ScimServer, ServerHandle};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn start() -> ServerHandle {
    ScimServer::builder()
        .bearer_token(Some("tok"))
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

async fn send(m: reqwest::Method, url: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut r = Client::new().request(m, url).bearer_auth("tok");
    if let Some(b) = body {
        r = r
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `term joiner term joiner … term`, `n` terms.
fn chain(term: &str, joiner: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (term.len() + joiner.len()));
    for i in 0..n {
        if i > 0 {
            s.push_str(joiner);
        }
        s.push_str(term);
    }
    s
}

fn assert_invalid_filter(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["scimType"], "invalidFilter", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_term_chains_are_refused_everywhere_a_filter_is_accepted() {
    let s = start().await;
    let base = s.base_url();
    let (_, user) = send(
        reqwest::Method::POST,
        &format!("{base}/Users"),
        Some(json!({"schemas": [USER], "userName": "ada"})),
    )
    .await;
    let (_, group) = send(
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        Some(json!({"schemas": [GROUP], "displayName": "g",
                    "members": [{"value": user["id"]}]})),
    )
    .await;
    let gid = group["id"].as_str().unwrap();

    for (joiner, what) in [(" or ", "or"), (" and ", "and")] {
        let filter = chain("userName pr", joiner, 100_000);
        // POST /.search, for one resource type and for all
        for endpoint in ["Users/.search", ".search"] {
            let (status, body) = send(
                reqwest::Method::POST,
                &format!("{base}/{endpoint}"),
                Some(json!({"schemas": [SEARCH], "filter": filter})),
            )
            .await;
            assert_invalid_filter(status, &body, &format!("{what} chain on {endpoint}"));
        }
        // PATCH value filters: 100,000 terms in the brackets of a path
        let path = format!("members[{}]", chain("value eq \"1\"", joiner, 100_000));
        let (status, body) = send(
            reqwest::Method::PATCH,
            &format!("{base}/Groups/{gid}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": path}]})),
        )
        .await;
        assert_invalid_filter(status, &body, &format!("{what} chain in a PATCH path"));
        // GET ?filter=: the HTTP layer takes request targets up to 64 KiB (7,000 terms
        // here) and refuses longer ones (414) before they reach the parser; these go over a
        // raw connection, as the client library refuses such URLs itself
        let addr = s.addr();
        for (terms, endpoint) in [(7_000, "Users"), (100_000, "Groups")] {
            let query = chain("a+pr", &joiner.replace(' ', "+"), terms);
            let head = format!(
                "GET /v2/{endpoint}?filter={query} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer tok\r\n\r\n"
            );
            let answer = tokio::task::spawn_blocking(move || {
                raw_exchange(addr, head.as_bytes(), Duration::from_secs(20))
            })
            .await
            .unwrap();
            let status_line = answer.lines().next().unwrap_or("").to_string();
            if terms == 7_000 {
                assert!(
                    status_line.starts_with("HTTP/1.1 400"),
                    "{what}: {status_line}"
                );
            } else {
                assert!(
                    status_line.starts_with("HTTP/1.1 4") || answer.is_empty(),
                    "{what}: {status_line}"
                );
            }
        }
    }
    // still serving, and the data is there
    let (status, body) = send(reqwest::Method::GET, &format!("{base}/Users"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totalResults"], 1);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_password_is_never_filterable_sortable_or_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.json");
    let s = ScimServer::builder()
        .bearer_token(Some("tok"))
        .persist(&store)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let base = s.base_url();
    let (status, created) = send(
        reqwest::Method::POST,
        &format!("{base}/Users"),
        Some(json!({"schemas": [USER], "userName": "ada", "password": "hunter2-secret"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(created.get("password").is_none());
    for filter in [
        "password sw \"h\"",
        "password pr",
        "userName pr and not (password eq \"x\")",
        "urn:ietf:params:scim:schemas:core:2.0:User:password co \"e\"",
    ] {
        let (status, body) = send(
            reqwest::Method::GET,
            &format!("{base}/Users?filter={}", urlencode(filter)),
            None,
        )
        .await;
        assert_invalid_filter(status, &body, filter);
        let (status, body) = send(
            reqwest::Method::POST,
            &format!("{base}/.search"),
            Some(json!({"schemas": [SEARCH], "filter": filter})),
        )
        .await;
        assert_invalid_filter(status, &body, filter);
    }
    let (status, body) = send(
        reqwest::Method::GET,
        &format!("{base}/Users?sortBy=password"),
        None,
    )
    .await;
    assert_invalid_filter(status, &body, "sortBy=password");

    // stored as a salted Argon2id hash, in memory and in the persistence file
    let stored = s.default_tenant().users()[0]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("hunter2"));
    // a PATCH that does not touch it keeps the hash; one that sets it hashes again
    let id = created["id"].as_str().unwrap();
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    send(
        reqwest::Method::PATCH,
        &format!("{base}/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await;
    assert_eq!(s.default_tenant().users()[0]["password"], stored.as_str());
    send(
        reqwest::Method::PATCH,
        &format!("{base}/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "path": "password", "value": "other-secret"}]),
        )),
    )
    .await;
    let rehashed = s.default_tenant().users()[0]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rehashed.starts_with("$argon2id$") && rehashed != stored);
    // a PUT sending the same password again changes nothing: same hash, same version
    let before = s.default_tenant().users()[0].clone();
    let (status, _) = send(
        reqwest::Method::PUT,
        &format!("{base}/Users/{id}"),
        Some(
            json!({"schemas": [USER], "userName": "ada", "active": false,
                    "password": "other-secret"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.default_tenant().users()[0], before);
    // and a seeded clear-text password is stored hashed
    let seeded = s
        .default_tenant()
        .seed(
            ResourceKind::User,
            json!({"userName": "old", "password": "from-an-old-store"}),
        )
        .unwrap();
    assert!(
        seeded["password"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );
    s.shutdown().await.unwrap();
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(!text.contains("secret"), "the store holds a clear password");
    assert!(text.contains("$argon2id$"));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes `head` on a fresh connection and returns what the server answered before it
/// closed the connection or `wait` passed.
fn raw_exchange(addr: std::net::SocketAddr, head: &[u8], wait: Duration) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(head).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_token_cost_a_bounded_log_entry_and_no_body() {
    let s = ScimServer::builder()
        .bearer_token(Some("tok"))
        .body_timeout(Duration::from_millis(500))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = s.addr();
    // a 60 KB query without a token: logged as its method, status and a cut path only
    let long = "x".repeat(30_000);
    let head = format!("GET /v2/Users/{long}?filter={long} HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, head.as_bytes(), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // an invented method is counted as OTHER, whatever its name
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"FROBNICATE /v2/Users HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
            Duration::from_secs(5),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let log = s.requests();
    assert_eq!(log.len(), 2);
    for r in &log {
        assert!(r.path.len() <= 520, "path of {} bytes logged", r.path.len());
        assert_eq!(r.query, None);
        assert_eq!(r.status, Some(401));
    }
    assert_eq!(log[1].method, "OTHER");
    assert_eq!(s.count("OTHER", Some(401)), 1);

    // a body announced but never sent, without a token: answered at once, not waited for
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"POST /v2/Users HTTP/1.1\r\nhost: x\r\ncontent-type: application/scim+json\r\ncontent-length: 1048576\r\n\r\n{",
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // with a token, a stalled upload is cut off by the body timeout (408)
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"POST /v2/Users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer tok\r\ncontent-type: application/scim+json\r\ncontent-length: 1000\r\n\r\n{\"sch",
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // and a body above the limit is 413, with a SCIM error
    let (status, body) = send(
        reqwest::Method::POST,
        &format!("{}/Users", s.base_url()),
        Some(json!({"schemas": [USER], "userName": "x".repeat(3 * 1024 * 1024)})),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["status"], "413");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_capped() {
    let s = ScimServer::builder()
        .bearer_token(Some("tok"))
        .max_connections(4)
        .idle_timeout(Duration::from_millis(300))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = s.addr();
    // four connections that never send a byte take every slot …
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // … until the idle timeout closes them: each reads end-of-stream
    let closed = tokio::task::spawn_blocking(move || {
        idle.into_iter()
            .map(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut buf = [0u8; 64];
                matches!(c.read(&mut buf), Ok(0))
            })
            .filter(|closed| *closed)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 4, "every idle connection is closed by the server");
    // and a real client is served afterwards
    let (status, _) = send(
        reqwest::Method::GET,
        &format!("{}/Users", s.base_url()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // a client that trickles its headers is closed too
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(b"GET /v2/Users HTTP/1.1\r\nhost: x\r\n")
            .unwrap();
        let mut buf = [0u8; 256];
        c.read(&mut buf)
            .map(|n| n == 0 || buf.starts_with(b"HTTP/1.1 408"))
    })
    .await
    .unwrap();
    assert!(matches!(answer, Ok(true)), "{answer:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_are_linear_and_bounded() {
    let s = start().await;
    let base = s.base_url();
    let tenant = s.default_tenant();
    // a group of 100,000 members (RFC profile: member ids are not checked)
    let members: Vec<Value> = (0..100_000)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let g = tenant
        .seed(
            ResourceKind::Group,
            json!({"schemas": [GROUP], "displayName": "big", "members": members}),
        )
        .unwrap();
    let gid = g["id"].as_str().unwrap();
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    let values = |from: usize, n: usize| -> Value {
        (from..from + n)
            .map(|i| json!({"value": format!("m{i}")}))
            .collect()
    };
    // 1,000 new members (and 1,000 already there) added to it: one linear pass
    let (status, body) = send(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{gid}?excludedAttributes=members"),
        Some(patch(
            json!([{"op": "add", "path": "members", "value": values(99_000, 2_000)}]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = tenant.get(ResourceKind::Group, gid).unwrap();
    assert_eq!(stored["members"].as_array().unwrap().len(), 101_000);
    // removing 10,000 by value
    let (status, _) = send(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{gid}?excludedAttributes=members"),
        Some(patch(
            json!([{"op": "remove", "path": "members", "value": values(0, 10_000)}]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored = tenant.get(ResourceKind::Group, gid).unwrap();
    assert_eq!(stored["members"].as_array().unwrap().len(), 91_000);

    // 40,000 values in one operation: refused with tooMany, nothing changed
    let (status, body) = send(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{gid}"),
        Some(patch(
            json!([{"op": "add", "path": "members", "value": values(200_000, 40_000)}]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["scimType"], "tooMany");
    // so are 1,001 operations
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "add", "path": "members", "value": [{"value": format!("n{i}")}]}))
        .collect();
    let (status, body) = send(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{gid}"),
        Some(patch(Value::Array(many))),
    )
    .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tooMany"))
    );
    // and an attribute growing past the cap
    let cap = scim_server::schema::MAX_VALUES;
    let big: Vec<Value> = (0..=cap)
        .map(|i| json!({"value": format!("c{i}")}))
        .collect();
    let g2 = tenant
        .seed(
            ResourceKind::Group,
            json!({"schemas": [GROUP], "displayName": "full", "members": big}),
        )
        .unwrap();
    let (status, body) = send(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{}", g2["id"].as_str().unwrap()),
        Some(patch(
            json!([{"op": "add", "path": "members", "value": [{"value": "one-more"}]}]),
        )),
    )
    .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tooMany"))
    );
    assert_eq!(
        tenant.get(ResourceKind::Group, gid).unwrap()["members"]
            .as_array()
            .unwrap()
            .len(),
        91_000
    );

    // a `schemas` array of 40,000 URNs: refused, not compared pairwise
    let urns: Vec<String> = (0..40_000).map(|i| format!("urn:x:{i}")).collect();
    let mut body = json!({"userName": "ada"});
    body["schemas"] = json!([USER]);
    body["schemas"]
        .as_array_mut()
        .unwrap()
        .extend(urns.into_iter().map(Value::String));
    let (status, body) = send(reqwest::Method::POST, &format!("{base}/Users"), Some(body)).await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tooMany"))
    );
    s.shutdown().await.unwrap();
}

#[cfg(unix)]
#[test]
fn persisting_never_follows_a_symlink_and_keeps_the_store_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.json");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    // the temporary name the server used to write through, pointing at someone else's file
    std::os::unix::fs::symlink(&victim, dir.path().join("store.tmp")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = ScimServer::builder()
            .persist(&store)
            .start("127.0.0.1:0")
            .await
            .unwrap();
        s.default_tenant()
            .seed(ResourceKind::User, json!({"userName": "ada"}))
            .unwrap();
        // planted while the server runs: saving must replace the link, not write through it
        std::os::unix::fs::symlink(&victim, &store).unwrap();
        s.shutdown().await.unwrap();
    });
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&store).unwrap();
    assert!(meta.file_type().is_file(), "the store replaced the link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&store).unwrap().contains("ada"));
}
