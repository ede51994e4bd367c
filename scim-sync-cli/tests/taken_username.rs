//! A `userName` already held by a record the syncer does not manage, on a server that honours
//! the `externalId sw` filter (so the managed read never returns the holder): the run looks the
//! names it would take up before planning, so the dry run and the run both report the
//! conflict, no create is sent for it, the holder is left alone, and the run exits 0 (1 with
//! `--fail-on-conflict`).

use std::path::Path;
use std::process::{Command, Output};

use scim_server::{Profile, RequestRecord, ResourceKind, ScimServer};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pw-activate-scim-sync");

/// Runs the binary against `base` with the export `file` and these extra arguments.
async fn sync(base: &str, file: &Path, extra: &[&str]) -> (Output, Value) {
    let (base, file) = (base.to_owned(), file.to_owned());
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--output", "json", "--no-dynamic-settings", "--source-file"])
            .arg(&file)
            .args(&extra)
            .env("CW_SCIM_BASE_URL", base)
            .env("CW_SCIM_BEARER_TOKEN", "tok")
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join");
    let report = serde_json::from_slice(&out.stdout).expect("one JSON report");
    (out, report)
}

fn is_user_post(r: &RequestRecord) -> bool {
    r.method == "POST" && r.path.ends_with("/Users")
}

fn is_name_lookup(r: &RequestRecord) -> bool {
    r.method == "GET" && r.query.as_deref().is_some_and(|q| q.contains("userName"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_user_name_is_a_conflict_when_planning_and_the_holder_is_left_alone() {
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(Profile::Rfc)
        .start("127.0.0.1:0")
        .await
        .expect("server");
    let tenant = server.tenant("taken");
    let holder = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "Ada@Example.com",
        "externalId": "hr-system:4711",
        "active": true,
    });
    let holder = tenant.seed(ResourceKind::User, holder).expect("seed");
    let holder_id = holder["id"].as_str().expect("holder id").to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("org.json");
    std::fs::write(
        &export,
        json!({"version": 1, "users": [
            {"username": "ada", "email": "ada@example.com", "name": "Ada Lovelace", "sshKeys": []},
            {"username": "bob", "email": "bob@example.com", "name": "Bob", "sshKeys": []}
        ], "groups": []})
        .to_string(),
    )
    .expect("write export");
    let base = server.tenant_url("taken");
    let conflict_names_holder = |report: &Value| {
        let conflicts = report["conflicts"].as_array().expect("conflicts");
        conflicts.len() == 1
            && conflicts[0]["externalId"] == "pw-activate:user:ada"
            && conflicts[0]["kind"] == "user_name_taken"
            && conflicts[0]["message"].as_str().is_some_and(|m| {
                m.contains(&holder_id) && m.contains("hr-system:4711") && m.contains("hand it over")
            })
    };

    // the dry run already knows: no create for ada in the plan, the conflict names the holder
    server.clear_requests();
    let (out, report) = sync(&base, &export, &["--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    assert!(conflict_names_holder(&report), "report: {report:#}");
    let creates: Vec<&Value> = report["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["op"] == "create_user")
        .collect();
    assert_eq!(creates.len(), 1, "only bob is created: {report:#}");
    assert_eq!(creates[0]["externalId"], "pw-activate:user:bob");
    // two new names, one lookup request
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|r| is_name_lookup(r)).count(), 1);

    // the run does what the dry run said: bob created, no POST for ada, exit 0
    server.clear_requests();
    let (out, report) = sync(&base, &export, &[]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    assert!(conflict_names_holder(&report), "report: {report:#}");
    assert!(
        report["failed"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    assert_eq!(
        server.requests().iter().filter(|r| is_user_post(r)).count(),
        1
    );
    assert_eq!(tenant.users().len(), 2);
    assert_eq!(tenant.get(ResourceKind::User, &holder_id), Some(holder));

    // an operator who wants a failing Job for it
    let (out, report) = sync(&base, &export, &["--fail-on-conflict"]).await;
    assert_eq!(out.status.code(), Some(1), "report: {report:#}");
    assert!(conflict_names_holder(&report), "report: {report:#}");

    // the lookup costs requests in proportion to the new names: ada's name is still wanted,
    // so one lookup; nothing else
    server.clear_requests();
    let (out, report) = sync(&base, &export, &[]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|r| is_name_lookup(r)).count(), 1);
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_takes_no_new_name_sends_no_lookup_and_many_names_are_batched() {
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(Profile::Rfc)
        .start("127.0.0.1:0")
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("org.json");
    let users: Vec<Value> = (0..100)
        .map(|i| json!({"username": format!("u{i:03}"), "email": format!("u{i:03}@example.com"), "sshKeys": []}))
        .collect();
    std::fs::write(
        &export,
        json!({"version": 1, "users": users, "groups": [{"id": "g1", "name": "hpc", "members": ["u000"]}]})
            .to_string(),
    )
    .expect("write export");
    // an empty target: one request says it holds nothing, no name is looked up
    let empty = server.tenant_url("empty");
    let _ = server.tenant("empty");
    let (out, report) = sync(&empty, &export, &["--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    let requests = server.requests();
    assert_eq!(
        requests.iter().filter(|r| is_name_lookup(r)).count(),
        0,
        "{requests:?}"
    );
    server.clear_requests();
    // a target holding 250 other users: 100 userNames in 40-name batches beat a 3-page walk
    let base = server.tenant_url("batch");
    let tenant = server.tenant("batch");
    for i in 0..250 {
        let other = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                           "userName": format!("other{i}@example.com")});
        tenant.seed(ResourceKind::User, other).expect("seed");
    }
    let (out, report) = sync(&base, &export, &[]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|r| is_name_lookup(r)).count(), 3);
    let group_lookups = requests
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("displayName"))
        })
        .count();
    assert_eq!(group_lookups, 1);
    // the second run plans nothing, so it looks nothing up
    server.clear_requests();
    let (out, report) = sync(&base, &export, &[]).await;
    assert_eq!(out.status.code(), Some(0), "report: {report:#}");
    assert!(report["plan"].as_array().unwrap().is_empty(), "{report:#}");
    let requests = server.requests();
    assert_eq!(
        requests.iter().filter(|r| is_name_lookup(r)).count(),
        0,
        "{requests:?}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_cannot_be_completed_writes_nothing() {
    use scim_server::FaultPlan;
    use scim_server::faults::{Fault, FaultRule, Op, RouteMatch};
    // the managed read (the first list of users) passes; the name lookup (the second) fails
    let faults = FaultPlan::new(7).rule(
        FaultRule::new(Fault::Status {
            status: 400,
            retry_after: None,
        })
        .route(RouteMatch::any().resource(ResourceKind::User).op(Op::List))
        .after(1),
    );
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(Profile::Rfc)
        .faults(faults)
        .start("127.0.0.1:0")
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("org.json");
    std::fs::write(
        &export,
        json!({"version": 1, "users": [{"username": "ada", "email": "ada@example.com"}], "groups": []})
            .to_string(),
    )
    .expect("write export");
    let _ = server.tenant("fail");
    let (out, report) = sync(&server.tenant_url("fail"), &export, &[]).await;
    assert_eq!(out.status.code(), Some(4), "report: {report:#}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{report:#}"
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"));
    server.shutdown().await.expect("shutdown");
}
