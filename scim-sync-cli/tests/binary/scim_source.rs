//! ACTIVATE's read-only SCIM API as the source (`ACTIVATE_SCIM_TOKEN`): the same organization
//! the REST API serves, read in a request per page, by `export`, `check` and a dry run.

use scim_client::schemas::{COREWEAVE_GROUP, COREWEAVE_USER, GROUP, USER};
use scim_server::{Profile, ResourceKind, ScimServer, ServerHandle};
use serde_json::{Value, json};

use crate::fake_activate::{ORG, Org};
use crate::harness::{API_KEY, Env};
use crate::targets::Target;

const SCIM_TOKEN: &str = "activate-scim-token-e2e-51c0";

/// ACTIVATE's SCIM API for `org`: the embedded server holding the same users and groups
/// (ids, names, members, keys) where the API is, `/api/organizations/<org>/scim/v2`.
async fn activate_scim(org: &Org) -> ServerHandle {
    let server = ScimServer::builder()
        .bearer_token(Some(SCIM_TOKEN))
        .profile(Profile::Rfc)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let tenant = server.tenant(&format!("api/organizations/{ORG}/scim"));
    let id = |i: usize| format!("{i:024x}");
    for (i, u) in org.users.iter().enumerate() {
        let mut user = json!({
            "schemas": [USER, COREWEAVE_USER],
            "id": id(i),
            "userName": u.username,
            "active": u.active,
            COREWEAVE_USER: {"sunkSshKeys": u.keys, "sunkPosixUsername": u.username,
                             "sunkPosixUserId": 5000 + i, "sunkLoginShell": "/bin/bash"},
        });
        if let Some(email) = &u.email {
            user["emails"] = json!([{"value": email, "primary": true}]);
        }
        if let Some(name) = &u.name {
            user["name"] = json!({"formatted": name});
        }
        tenant.seed(ResourceKind::User, user).unwrap();
    }
    for g in &org.groups {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                let i = org.users.iter().position(|u| &u.username == m).unwrap();
                json!({"value": id(i), "type": "User"})
            })
            .collect();
        tenant
            .seed(
                ResourceKind::Group,
                json!({"schemas": [GROUP, COREWEAVE_GROUP], "id": g.id, "displayName": g.name,
                       "members": members, COREWEAVE_GROUP: {"sunkPosixGroupName": g.name}}),
            )
            .unwrap();
    }
    server
}

/// The variables that choose the SCIM API: its token, and the platform URL it is derived
/// from (with `ACTIVATE_ORG_NAME`, which the deployment sets).
fn scim_vars(server: &ServerHandle) -> [(&'static str, String); 2] {
    [
        ("ACTIVATE_SCIM_TOKEN", SCIM_TOKEN.to_owned()),
        ("ACTIVATE_API_URL", format!("http://{}", server.addr())),
    ]
}

fn vars<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim_api_exports_the_organization_the_rest_api_exports_in_two_requests() {
    let env = Env::sample(Target::embedded().await).await;
    let scim = activate_scim(&env.fake.org()).await;
    let dir = tempfile::tempdir().unwrap();
    let export = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let args = |out: &str| -> Vec<String> {
        ["export", "--out", out, "--output", "json"]
            .map(str::to_owned)
            .to_vec()
    };

    let rest = env.run_raw(args(&export("rest.json")), &[]).await;
    assert_eq!(rest.code, 0, "{}", rest.all());
    let rest_report: Value = serde_json::from_str(rest.stdout.trim()).unwrap();
    let before = env.fake.server.received_requests().await.unwrap().len();
    let from_scim = env
        .run_raw(args(&export("scim.json")), &vars(&scim_vars(&scim)))
        .await;
    assert_eq!(from_scim.code, 0, "{}", from_scim.all());
    let scim_report: Value = serde_json::from_str(from_scim.stdout.trim()).unwrap();

    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(export(name)).unwrap()).unwrap()
    };
    assert_eq!(read("scim.json"), read("rest.json"), "the same snapshot");
    assert_eq!(scim_report["warnings"], rest_report["warnings"]);
    // one page of 36 users and one of 8 groups, against a request per group and per user
    assert_eq!(scim_report["requests"]["activate"]["count"], 2);
    let org = env.fake.org();
    let active = org.users.iter().filter(|u| u.active).count();
    // a page of users, the group list, a member list per group, a key listing per active user
    let rest_count = 1 + 1 + org.groups.len() + active;
    assert_eq!(
        rest_report["requests"]["activate"]["count"], rest_count,
        "{rest_report}"
    );
    println!("36 users, 8 groups: REST {rest_count} requests, SCIM 2");
    assert_eq!(
        env.fake.server.received_requests().await.unwrap().len(),
        before,
        "the REST API is not asked when the SCIM token is set"
    );
    assert!(scim.requests().iter().all(|r| r.method == "GET"));
    let out = from_scim.all();
    assert!(!out.contains(SCIM_TOKEN) && !out.contains(API_KEY), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_a_dry_run_read_activate_through_its_scim_api() {
    let env = Env::sample(Target::embedded().await).await;
    let scim = activate_scim(&env.fake.org()).await;
    let scim_env = scim_vars(&scim);

    let check = env
        .run_raw(
            vec!["check".into(), "--output".into(), "json".into()],
            &vars(&scim_env),
        )
        .await;
    assert_eq!(check.code, 0, "{}", check.all());
    let report: Value = serde_json::from_str(check.stdout.trim()).unwrap();
    let items = report["items"].as_array().unwrap();
    let item = |name: &str| {
        items
            .iter()
            .find(|i| i["item"] == name && i["side"] == "activate")
            .unwrap_or_else(|| panic!("no item {name}: {report}"))
            .clone()
    };
    assert_eq!(
        item("SCIM directory credentials")["verdict"],
        "ok",
        "{report}"
    );
    let users = item("users");
    assert_eq!(users["verdict"], "ok");
    assert!(
        users["detail"].as_str().unwrap().starts_with("36 users"),
        "{users}"
    );
    assert_eq!(item("groups")["verdict"], "ok", "{report}");
    assert!(scim.requests().iter().all(|r| r.method == "GET"));

    let from_rest = env.sync_ok(&["--dry-run"], &[]).await;
    scim.clear_requests();
    let from_scim = env.sync_ok(&["--dry-run"], &vars(&scim_env)).await;
    assert_eq!(from_scim.report["plan"], from_rest.report["plan"]);
    assert!(
        !from_scim.ops().is_empty(),
        "the target is empty: a plan to create"
    );
    assert_eq!(from_scim.report["requests"]["activate"]["count"], 2);
    assert_eq!(
        scim.requests().len(),
        2,
        "a page of users, a page of groups"
    );
    assert!(
        from_scim.warnings().contains("leslie"),
        "the invalid key is dropped with a warning: {}",
        from_scim.warnings()
    );
    assert_eq!(env.target.writes_seen(), Some(0));
    assert!(env.target.users().await.is_empty(), "a dry run");

    let wrong = env
        .sync(
            &["--dry-run"],
            &[
                ("ACTIVATE_SCIM_TOKEN", "wrong-scim-token-e2e-77aa"),
                ("ACTIVATE_API_URL", &scim_env[1].1),
            ],
        )
        .await;
    assert_eq!(
        wrong.code(),
        4,
        "a source that cannot be read: {}",
        wrong.all()
    );
    assert!(
        wrong.report["error"]
            .as_str()
            .unwrap()
            .contains("not authorized")
    );
    assert!(!wrong.all().contains("wrong-scim-token-e2e-77aa"));
}
