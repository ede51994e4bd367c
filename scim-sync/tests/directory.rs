//! A SCIM 2.0 directory as the source: ACTIVATE's read-only SCIM API, stood in for by the
//! embedded server holding an ACTIVATE-shaped tenant (the CoreWeave extensions, POSIX
//! attributes, attributes nobody knows yet) over real loopback HTTP; the same organization
//! read through the REST API (wiremock) gives the same snapshot, in far fewer requests.

use std::sync::{Arc, Mutex};

use activate_client::{ActivateClient, Snapshot, SnapshotOptions};
use scim_client::ScimClient;
use scim_client::schemas::{COREWEAVE_GROUP, COREWEAVE_USER, GROUP, USER};
use scim_diff::source::{SourceGroup, SourceSnapshot, SourceUser};
use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RouteMatch};
use scim_server::{Profile, ResourceKind, ScimServer, ServerHandle, TenantHandle};
use scim_sync::directory::DirectoryError;
use scim_sync::{Reconciler, RunOutcome, ScimDirectory, Source};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// ACTIVATE's SCIM API lives under the organization: the embedded server serves it as the
/// tenant of that path.
const TENANT: &str = "api/organizations/acme/scim";
const TOKEN: &str = "activate-scim-token-7d1e";

const ED1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5 ada@laptop";
const ED2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxN0eIOmIbRIZ6uP61sMFLYWqbMoHf1QcWIDBalS7pX bob@desk";
const BROKEN: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7notARealKey grace@old";

/// An organization of `n` users (every tenth inactive, two keys each but for the first, who
/// also has a broken one) in `n / 10` groups of about twenty.
fn org(n: usize) -> SourceSnapshot {
    let users = (0..n)
        .map(|i| SourceUser {
            username: format!("user{i:05}"),
            email: Some(format!("user{i:05}@example.org")),
            name: (i % 3 != 0).then(|| format!("User Number {i}")),
            active: i % 10 != 9,
            ssh_keys: Some(if i == 0 {
                vec![ED1.into(), BROKEN.into()]
            } else {
                vec![ED1.into(), ED2.into()]
            }),
        })
        .collect();
    let groups = (0..(n / 10).max(1))
        .map(|g| SourceGroup {
            id: format!("{:024x}", 0xa000 + g),
            name: format!("Group {g}"),
            members: (0..20)
                .map(|k| (g * 10 + k) % n)
                .map(|i| format!("user{i:05}"))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        })
        .collect();
    SourceSnapshot {
        version: 1,
        organization: Some("acme".into()),
        users,
        groups,
    }
}

fn user_id(i: usize) -> String {
    format!("{:024x}", 0x1000 + i)
}

/// Seeds `tenant` with `org` as ACTIVATE's SCIM API shapes it: the CoreWeave extensions with
/// their POSIX attributes, and an attribute of each extension no table lists.
fn seed(tenant: &TenantHandle, org: &SourceSnapshot) {
    for (i, u) in org.users.iter().enumerate() {
        let mut user = json!({
            "schemas": [USER, COREWEAVE_USER],
            "id": user_id(i),
            "userName": u.username,
            "active": u.active,
            COREWEAVE_USER: {
                "sunkSshKeys": u.ssh_keys.clone().unwrap_or_default(),
                "sunkPosixUsername": u.username,
                "sunkPosixUserId": 10_000 + i,
                "sunkPosixGroupId": "10000",
                "sunkLoginShell": "/bin/bash",
                "sunkPreferredHomeDirectory": format!("/home/{}", u.username),
                "sunkSomethingNew": {"nested": [1, 2]},
            },
            "urn:example:params:scim:schemas:extension:other:2.0:User": {"costCenter": 7},
        });
        if let Some(email) = &u.email {
            user["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
        }
        if let Some(name) = &u.name {
            user["name"] = json!({"formatted": name});
            user["displayName"] = json!(name);
        }
        tenant.seed(ResourceKind::User, user).unwrap();
    }
    for (g, group) in org.groups.iter().enumerate() {
        let members: Vec<Value> = group
            .members
            .iter()
            .map(|m| {
                let i = org.users.iter().position(|u| &u.username == m).unwrap();
                json!({"value": user_id(i), "type": "User", "display": m})
            })
            .collect();
        tenant
            .seed(
                ResourceKind::Group,
                json!({
                    "schemas": [GROUP, COREWEAVE_GROUP],
                    "id": group.id,
                    "displayName": group.name,
                    "members": members,
                    COREWEAVE_GROUP: {"sunkPosixGroupId": 20_000 + g, "sunkPosixGroupName": group.name},
                }),
            )
            .unwrap();
    }
}

/// The embedded server holding `org` as ACTIVATE's SCIM API, and a directory reading it.
async fn directory(
    org: &SourceSnapshot,
    page_size: u32,
    faults: FaultPlan,
) -> (ServerHandle, ScimDirectory) {
    let server = ScimServer::builder()
        .bearer_token(Some(TOKEN))
        .profile(Profile::Rfc)
        .faults(faults)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    seed(&server.tenant(TENANT), org);
    let client = ScimClient::builder(&server.tenant_url(TENANT))
        .bearer_token(TOKEN.into())
        .page_size(page_size)
        .build()
        .unwrap();
    (
        server,
        ScimDirectory::new(client).organization(Some("acme".into())),
    )
}

fn pages(records: usize, page_size: usize) -> usize {
    records.div_ceil(page_size).max(1)
}

/// What the REST source reads from `org`: the keys of the active users only.
fn expected(org: &SourceSnapshot) -> SourceSnapshot {
    let mut want = org.clone();
    for user in &mut want.users {
        if !user.active {
            user.ssh_keys = None;
        }
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activate_shaped_directory_is_read_completely_in_a_request_per_page() {
    let org = org(95);
    let (server, dir) = directory(&org, 20, FaultPlan::default()).await;

    let read = dir.snapshot(&SnapshotOptions::default()).await.unwrap();
    assert_eq!(read.snapshot, expected(&org));
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert!(!read.snapshot.users[9].active, "inactive stays inactive");
    assert_eq!(
        read.snapshot.users[0].ssh_keys.as_deref(),
        Some(&[ED1.to_owned(), BROKEN.to_owned()][..]),
        "keys as read: the engine validates them"
    );

    // O(pages): 5 pages of users and 1 of groups, nothing per user or per group, and the
    // one ServiceProviderConfig a client asks, once a walk needs a second page, to learn
    // how the server pages
    let want = pages(95, 20) + pages(9, 20) + 1;
    assert_eq!(dir.client().stats().requests as usize, want);
    let requests = server.requests();
    assert_eq!(requests.len(), want);
    assert!(requests.iter().all(|r| r.method == "GET"), "read-only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_and_the_key_option_mean_what_they_mean_for_the_rest_source() {
    let org = org(40);
    let (_server, dir) = directory(&org, 100, FaultPlan::default()).await;
    let scoped = SnapshotOptions {
        sync_groups: Some(vec!["Group 1".into(), "Group 9".into()]),
        without_ssh_keys: false,
    };
    let read = dir.snapshot(&scoped).await.unwrap();
    let names: Vec<&str> = read
        .snapshot
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["Group 1"]);
    assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
    assert!(read.warnings[0].contains("\"Group 9\""));
    assert_eq!(
        read.snapshot.users.len(),
        40,
        "every user, as the REST source"
    );
    let members = &read.snapshot.groups[0].members;
    for user in &read.snapshot.users {
        let in_scope = members.contains(&user.username);
        assert_eq!(
            user.ssh_keys.is_some(),
            in_scope && user.active,
            "keys of the active users in scope only: {}",
            user.username
        );
    }

    let nowhere = SnapshotOptions {
        sync_groups: Some(vec!["Nobody".into()]),
        without_ssh_keys: false,
    };
    let e = dir.snapshot(&nowhere).await.unwrap_err();
    assert!(matches!(e, DirectoryError::Scope(_)), "{e}");

    let without = SnapshotOptions {
        without_ssh_keys: true,
        ..SnapshotOptions::default()
    };
    let read = dir.snapshot(&without).await.unwrap();
    assert!(read.snapshot.users.iter().all(|u| u.ssh_keys.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_cannot_be_read_completely_is_an_error_not_a_smaller_snapshot() {
    let org = org(30);
    // the pages shift under the walk (a user added meanwhile): repeated records
    let shifting = FaultPlan::new(7).rule(
        FaultRule::new(Fault::ShiftPages { by: -3 })
            .route(RouteMatch::any().resource(ResourceKind::User).op(Op::List))
            .after(1)
            .times(1),
    );
    let (_server, dir) = directory(&org, 10, shifting).await;
    let e = dir.snapshot(&SnapshotOptions::default()).await.unwrap_err();
    assert!(
        matches!(e, DirectoryError::List { what: "users", .. }),
        "{e}"
    );

    let refused = FaultPlan::new(7).rule(
        FaultRule::new(Fault::Unauthorized)
            .route(RouteMatch::any().resource(ResourceKind::Group).op(Op::List)),
    );
    let (_server, dir) = directory(&org, 10, refused).await;
    let e = dir.snapshot(&SnapshotOptions::default()).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("groups") && text.contains("not authorized"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "no token in errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_from_the_directory_plans_like_any_source_and_drops_the_invalid_key() {
    let org = org(30);
    let (_source_server, dir) = directory(&org, 100, FaultPlan::default()).await;
    let target_server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let target = ScimClient::builder(&target_server.base_url())
        .bearer_token("tok".into())
        .build()
        .unwrap();

    let report = Reconciler::new(
        Source::ScimDirectory(dir.clone()),
        target,
        Default::default(),
    )
    .dry_run(true)
    .run()
    .await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(report.organization.as_deref(), Some("acme"));
    let users = report.source_users.unwrap();
    assert_eq!((users.active, users.inactive), (27, 3));
    let warnings: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("user00000") && w.contains("line 2")),
        "the invalid key is dropped with a warning: {warnings:?}"
    );
    let plan = report.plan.unwrap();
    assert!(!plan.operations.is_empty());
    assert_eq!(
        report.requests.source.map(|s| s.requests),
        Some(2),
        "one page of users, one of groups"
    );
    assert!(
        target_server.requests().iter().all(|r| r.method == "GET"),
        "a dry run writes nothing"
    );
}

// ---- the same organization through the REST API ----

/// ACTIVATE's REST API on wiremock, serving `org` (users by pages of `limit`, groups, members
/// by group name, keys by username), counting the requests.
struct Rest {
    org: SourceSnapshot,
    seen: Arc<Mutex<usize>>,
}

impl Respond for Rest {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        *self.seen.lock().unwrap() += 1;
        let segments: Vec<String> = req
            .url
            .path_segments()
            .unwrap()
            .map(decode_segment)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let org = &self.org;
        match segments.as_slice() {
            ["api", "organizations", "acme", "users"] => {
                let (skip, limit) = (query("skip").unwrap_or(0), query("limit").unwrap_or(50));
                let page: Vec<Value> = org
                    .users
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .take(limit)
                    .map(|(i, u)| {
                        json!({"id": user_id(i), "username": u.username, "email": u.email,
                               "name": u.name, "active": u.active, "admin": false,
                               "billingAdmin": false, "complimentary": false,
                               "licenseStatus": "active"})
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": org.users.len(), "users": page}))
            }
            ["api", "organizations", "acme", "groups"] => ResponseTemplate::new(200).set_body_json(
                org.groups
                    .iter()
                    .map(|g| json!({"id": g.id, "name": g.name, "members": g.members.len()}))
                    .collect::<Vec<_>>(),
            ),
            ["api", "organizations", "acme", "groups", name, "members"] => {
                let group = org.groups.iter().find(|g| g.name == *name).unwrap();
                ResponseTemplate::new(200).set_body_json(
                    group
                        .members
                        .iter()
                        .map(|m| json!({"id": "x", "username": m, "email": ""}))
                        .collect::<Vec<_>>(),
                )
            }
            ["api", "users", username, "ssh-public-keys"] => {
                let user = org.users.iter().find(|u| u.username == *username).unwrap();
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/plain")
                    .set_body_string(user.ssh_keys.clone().unwrap_or_default().join("\n"))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

fn decode_segment(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn rest(org: &SourceSnapshot) -> (MockServer, ActivateClient, Arc<Mutex<usize>>) {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(0));
    Mock::given(any())
        .respond_with(Rest {
            org: org.clone(),
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    let client = ActivateClient::builder("pwt_MTI3LjAuMC4x.rest-secret".into())
        .base_url(server.uri())
        .org_name(Some("acme".into()))
        .build()
        .unwrap();
    (server, client, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_and_the_scim_source_give_the_same_snapshot_of_one_organization() {
    const N: usize = 1_000;
    let org = org(N);
    let (_rest_server, rest_client, rest_seen) = rest(&org).await;
    let (_scim_server, dir) = directory(&org, 100, FaultPlan::default()).await;

    for options in [
        SnapshotOptions::default(),
        SnapshotOptions {
            sync_groups: Some(vec!["Group 3".into(), "Group 70".into()]),
            without_ssh_keys: false,
        },
        SnapshotOptions {
            sync_groups: None,
            without_ssh_keys: true,
        },
    ] {
        let from_rest: Snapshot = rest_client.snapshot(&options).await.unwrap();
        let from_scim = dir.snapshot(&options).await.unwrap();
        assert_eq!(from_scim.snapshot, from_rest.snapshot, "{options:?}");
        assert_eq!(from_scim.warnings, from_rest.warnings, "{options:?}");
    }

    // the requests of the first (whole) read, from each side's own counter
    let rest_requests = |options: SnapshotOptions| {
        let client = rest_client.clone();
        let seen = Arc::clone(&rest_seen);
        async move {
            let before = *seen.lock().unwrap();
            client.snapshot(&options).await.unwrap();
            *seen.lock().unwrap() - before
        }
    };
    let rest_n = rest_requests(SnapshotOptions::default()).await;
    let before = dir.client().stats().requests;
    dir.snapshot(&SnapshotOptions::default()).await.unwrap();
    let scim_n = (dir.client().stats().requests - before) as usize;
    let groups = N / 10;
    let active = N - N / 10;
    // REST: users in pages of 500, the group list, a member list per group, keys per active user
    assert_eq!(rest_n, pages(N, 500) + 1 + groups + active);
    // SCIM: pages of users and groups, nothing per record
    assert_eq!(scim_n, pages(N, 100) + pages(groups, 100));
    println!("{N} users, {groups} groups: REST {rest_n} requests, SCIM {scim_n} requests");
}

/// The mapping is documented in one table, shown in the module's documentation and in the
/// README: the two are the same.
#[test]
fn the_mapping_table_of_the_readme_is_the_modules() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let module = std::fs::read_to_string(format!("{root}/scim-sync/src/directory.rs")).unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let in_module: Vec<&str> = module
        .lines()
        .filter_map(|l| l.strip_prefix("//! "))
        .filter(|l| l.starts_with('|'))
        .collect();
    let marker = "<!-- the mapping: the same table as scim-sync/src/directory.rs -->\n";
    let start = readme.find(marker).expect("the README marks the table") + marker.len();
    let in_readme: Vec<&str> = readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(in_module.len() > 5, "{in_module:?}");
    assert_eq!(in_readme, in_module);
}

/// The organization, with its users, groups and members in a canonical order (a server
/// that is not ours may list them in another).
fn sorted(mut snapshot: SourceSnapshot) -> SourceSnapshot {
    snapshot.users.sort_by(|a, b| a.username.cmp(&b.username));
    snapshot.groups.sort_by(|a, b| a.name.cmp(&b.name));
    for group in &mut snapshot.groups {
        group.members.sort();
    }
    snapshot
}

/// The same directory held by the independent scim2-server (with the CoreWeave extension),
/// which assigns its own ids: the snapshot is the organization, groups under those ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn a_directory_held_by_scim2_server_reads_as_the_organization() {
    use scim_client::{CoreWeaveUser, Email, Group, Member, Name, User};
    let url = std::env::var("SCIM2_SERVER_URL")
        .expect("SCIM2_SERVER_URL names a running scim2-server (cargo xtask ci starts one)");
    let token = std::env::var("SCIM2_SERVER_TOKEN").expect("SCIM2_SERVER_TOKEN");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let base = format!(
        "{}/directory-{}-{nanos:x}/v2",
        url.trim_end_matches('/'),
        std::process::id()
    );
    let client = ScimClient::builder(&base)
        .bearer_token(token.into())
        .page_size(7)
        .build()
        .unwrap();

    let mut org = org(30);
    let mut ids = std::collections::HashMap::new();
    for u in &org.users {
        let created = client
            .users()
            .create(&User {
                active: Some(u.active),
                emails: u.email.iter().map(Email::work).collect(),
                name: u.name.as_ref().map(|n| Name {
                    formatted: Some(n.clone()),
                    ..Name::default()
                }),
                coreweave: Some(CoreWeaveUser {
                    sunk_posix_username: Some(u.username.clone()),
                    ..CoreWeaveUser::with_ssh_keys(u.ssh_keys.clone().unwrap_or_default())
                }),
                ..User::new(&u.username)
            })
            .await
            .unwrap();
        ids.insert(u.username.clone(), created.id.unwrap());
    }
    for g in &mut org.groups {
        let created = client
            .groups()
            .create(&Group {
                members: g.members.iter().map(|m| Member::new(&ids[m])).collect(),
                ..Group::new(&g.name)
            })
            .await
            .unwrap();
        g.id = created.id.unwrap();
    }

    let dir = ScimDirectory::new(client).organization(Some("acme".into()));
    let read = dir.snapshot(&SnapshotOptions::default()).await.unwrap();
    assert_eq!(sorted(read.snapshot), sorted(expected(&org)));
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
}

/// What a directory may send that no table lists: attribute names in another letter case,
/// attributes and extensions nobody knows, optional attributes and whole extensions absent,
/// numbers as strings. None of it stops the read; only what the mapping names is taken.
#[tokio::test]
async fn unknown_attributes_are_ignored_and_absent_optional_ones_tolerated() {
    use wiremock::matchers::{method, path};
    let server = MockServer::start().await;
    let list = |resources: Value| {
        let n = resources.as_array().unwrap().len();
        ResponseTemplate::new(200).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": n, "startIndex": 1, "itemsPerPage": n, "Resources": resources,
        }))
    };
    Mock::given(method("GET"))
        .and(path("/scim/v2/Users"))
        .respond_with(list(json!([
            {"ID": "u1", "UserName": "ada", "Active": "true",
             "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:coreweaveuser":
                 {"SunkSshKeys": [ED1], "sunkPosixUserId": "1001", "sunkPosixGroupId": "",
                  "sunkFutureThing": [{"a": 1}]},
             "x-activate-internal": {"tier": 3}, "licenseStatus": "active"},
            {"id": "u2", "userName": "bob", "active": true,
             COREWEAVE_USER: {"sunkPosixUsername": "bob"}},
            {"id": "u3", "userName": "cy", "emails": null, "name": {"givenName": "Cy"}},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .respond_with(list(json!([
            {"id": "g1", "displayName": "HPC", "members": [{"value": "u1"}, {"value": "u3", "display": "cy"}],
             COREWEAVE_GROUP: {"sunkPosixGroupId": "20001", "somethingElse": true}},
            {"id": "g2", "displayName": "Empty"},
        ])))
        .mount(&server)
        .await;
    let client = ScimClient::builder(&format!("{}/scim/v2", server.uri()))
        .bearer_token(TOKEN.into())
        .build()
        .unwrap();
    let read = ScimDirectory::new(client)
        .snapshot(&SnapshotOptions::default())
        .await
        .unwrap();
    let user = |username: &str, name: Option<&str>, keys: &[&str]| SourceUser {
        username: username.into(),
        email: None,
        name: name.map(Into::into),
        active: true,
        ssh_keys: Some(keys.iter().map(|k| k.to_string()).collect()),
    };
    assert_eq!(
        read.snapshot,
        SourceSnapshot {
            version: 1,
            organization: None,
            users: vec![
                user("ada", None, &[ED1]),
                user("bob", None, &[]),
                user("cy", Some("Cy"), &[]),
            ],
            groups: vec![
                SourceGroup {
                    id: "g1".into(),
                    name: "HPC".into(),
                    members: vec!["ada".into(), "cy".into()],
                },
                SourceGroup {
                    id: "g2".into(),
                    name: "Empty".into(),
                    members: vec![],
                },
            ],
        }
    );
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
}
