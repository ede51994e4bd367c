//! A `userName` already held by a record the syncer does not manage, on a server that honours
//! the `externalId sw` filter (so the engine never sees the holder): the create is refused with
//! 409, the holder is left alone, and the report names it and says what to do.

use std::process::Command;

use scim_server::{Profile, ResourceKind, ScimServer};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pw-activate-scim-sync");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_user_name_is_reported_with_its_holder_and_left_alone() {
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
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--output", "json", "--no-dynamic-settings", "--source-file"])
            .arg(&export)
            .env("CW_SCIM_BASE_URL", base)
            .env("CW_SCIM_BEARER_TOKEN", "tok")
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(out.status.code(), Some(1), "report: {report:#}");
    let failed = report["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "report: {report:#}");
    let error = failed[0]["error"].as_str().expect("error text");
    let holder_id = holder["id"].as_str().expect("holder id");
    assert!(
        error.contains(holder_id)
            && error.contains("hr-system:4711")
            && error.contains("does not manage"),
        "the error should name the holder and what to do: {error}"
    );
    // bob was synced; the holder is byte for byte what it was
    let users = tenant.users();
    assert_eq!(users.len(), 2);
    assert_eq!(tenant.get(ResourceKind::User, holder_id), Some(holder));
    server.shutdown().await.expect("shutdown");
}
