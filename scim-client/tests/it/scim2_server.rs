//! Against the real, independent scim2-server (python-scim) with the CoreWeave extension.
//!
//! Ignored by default; `cargo xtask ci` starts the server and sets `SCIM2_SERVER_URL` and
//! `SCIM2_SERVER_TOKEN`. Every test uses its own tenant (`{URL}/{unique}/v2`).

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt, stream};
use scim_client::{
    CoreWeaveUser, Email, Error, Filter, Group, ListQuery, Name, PatchOp, ScimClient, User, schemas,
};
use secrecy::SecretString;

fn tenant(name: &str) -> ScimClient {
    let base = std::env::var("SCIM2_SERVER_URL").expect(
        "SCIM2_SERVER_URL is not set: start xtask/scim2/scim2-server.sh or run cargo xtask ci",
    );
    let token = std::env::var("SCIM2_SERVER_TOKEN").expect("SCIM2_SERVER_TOKEN is not set");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let url = format!(
        "{}/{name}-{}-{nanos}/v2",
        base.trim_end_matches('/'),
        std::process::id()
    );
    ScimClient::builder(&url)
        .bearer_token(SecretString::from(token))
        .max_in_flight(8)
        .build()
        .unwrap()
}

fn managed_user(name: &str) -> User {
    User {
        external_id: Some(format!("pw-activate:user:{name}")),
        display_name: Some(format!("User {name}")),
        name: Some(Name {
            given_name: Some("Test".into()),
            family_name: Some(name.into()),
            ..Name::default()
        }),
        emails: vec![Email::work(format!("{name}@example.org"))],
        active: Some(true),
        ..User::new(name)
    }
}

async fn create_users(c: &ScimClient, users: Vec<User>) -> Vec<User> {
    stream::iter(users)
        .map(|u| {
            let c = c.clone();
            async move { c.users().create(&u).await }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn lists_more_than_1000_managed_users_with_sw_filter() {
    let c = tenant("sw1000");
    let mut users: Vec<User> = (0..1050)
        .map(|i| managed_user(&format!("u{i:04}")))
        .collect();
    for i in 0..7 {
        // unmanaged records the filter must leave out
        users.push(User {
            external_id: Some(format!("other:{i}")),
            ..User::new(format!("other{i}"))
        });
    }
    let t0 = Instant::now();
    create_users(&c, users).await;
    let created = t0.elapsed();
    let q = ListQuery::new().filter(Filter::sw("externalId", "pw-activate:"));
    for page_size in [100, 1000, 5000] {
        let t0 = Instant::now();
        let found = c
            .users()
            .list(&q.clone().page_size(page_size))
            .await
            .unwrap();
        let ids: BTreeSet<_> = found.iter().map(|u| u.id.clone().unwrap()).collect();
        assert_eq!(found.len(), 1050, "page size {page_size}");
        assert_eq!(ids.len(), 1050);
        assert!(found.iter().all(|u| {
            u.external_id
                .as_deref()
                .unwrap()
                .starts_with("pw-activate:user:")
        }));
        eprintln!(
            "listed 1050 of 1057 users with page size {page_size} in {:?}",
            t0.elapsed()
        );
    }
    eprintln!("created 1057 users in {created:?}; stats {:?}", c.stats());
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn ssh_keys_and_active_by_patch() {
    let c = tenant("keys");
    let users = c.users();
    let mut u = managed_user("alice");
    u.coreweave = Some(CoreWeaveUser::with_ssh_keys([
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1 alice@a",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2 alice@b",
    ]));
    let created = users.create(&u).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(created.ssh_keys().len(), 2);
    assert!(created.schemas.iter().any(|s| s == schemas::COREWEAVE_USER));

    let k3 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK3 alice@c";
    let op = PatchOp::builder()
        .replace(CoreWeaveUser::SSH_KEYS_PATH, vec![k3])
        .build();
    users.patch(&id, &op).await.unwrap();
    assert_eq!(users.get(&id).await.unwrap().ssh_keys(), [k3]);

    let k4 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ alice@d";
    let op = PatchOp::builder()
        .add(CoreWeaveUser::SSH_KEYS_PATH, vec![k4])
        .build();
    users.patch(&id, &op).await.unwrap();
    assert_eq!(users.get(&id).await.unwrap().ssh_keys(), [k3, k4]);

    for active in [false, true] {
        let op = PatchOp::builder().replace("active", active).build();
        users.patch(&id, &op).await.unwrap();
        let got = users.get(&id).await.unwrap();
        assert_eq!(got.active, Some(active));
        assert_eq!(got.ssh_keys(), [k3, k4], "keys survive an active change");
    }

    let op = PatchOp::builder()
        .remove(CoreWeaveUser::SSH_KEYS_PATH)
        .build();
    users.patch(&id, &op).await.unwrap();
    assert!(users.get(&id).await.unwrap().ssh_keys().is_empty());

    // replacing with an empty list clears them too (the server then drops the extension)
    let op = PatchOp::builder()
        .replace(CoreWeaveUser::SSH_KEYS_PATH, vec![k3])
        .build();
    users.patch(&id, &op).await.unwrap();
    let op = PatchOp::builder()
        .replace(CoreWeaveUser::SSH_KEYS_PATH, Vec::<String>::new())
        .build();
    users.patch(&id, &op).await.unwrap();
    assert!(users.get(&id).await.unwrap().ssh_keys().is_empty());
}

/// The client retries PATCH after a timeout or a gateway error; that is only safe because
/// the member PATCHes it builds converge when applied twice. Check that on a real server.
#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn member_patches_converge_when_applied_twice() {
    let c = tenant("twice");
    let u = c.users().create(&managed_user("dup")).await.unwrap();
    let uid = u.id.unwrap();
    let gid = c
        .groups()
        .create(&Group::new("g"))
        .await
        .unwrap()
        .id
        .unwrap();
    let add = PatchOp::builder().add_members([&uid]).build();
    c.groups().patch(&gid, &add).await.unwrap();
    c.groups().patch(&gid, &add).await.unwrap();
    let got = c.groups().get(&gid).await.unwrap();
    assert_eq!(got.member_ids().collect::<Vec<_>>(), [uid.as_str()]);
    let remove = PatchOp::builder().remove_member(&uid).build();
    c.groups().patch(&gid, &remove).await.unwrap();
    c.groups().patch(&gid, &remove).await.unwrap();
    assert!(c.groups().get(&gid).await.unwrap().members.is_empty());
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn group_members_replace_add_remove() {
    let c = tenant("members");
    let made = create_users(
        &c,
        ["m1", "m2", "m3"].iter().map(|n| managed_user(n)).collect(),
    )
    .await;
    let mut ids: Vec<String> = made.iter().map(|u| u.id.clone().unwrap()).collect();
    ids.sort();
    let (u1, u2, u3) = (&ids[0], &ids[1], &ids[2]);
    let groups = c.groups();
    let g = groups
        .create(&Group {
            external_id: Some("pw-activate:group:1".into()),
            ..Group::new("research")
        })
        .await
        .unwrap();
    let gid = g.id.clone().unwrap();
    assert!(g.members.is_empty());
    let members = |g: Group| g.member_ids().map(str::to_owned).collect::<BTreeSet<_>>();
    let set = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    let op = PatchOp::builder().replace_members([u1, u2]).build();
    groups.patch(&gid, &op).await.unwrap();
    assert_eq!(members(groups.get(&gid).await.unwrap()), set(&[u1, u2]));

    let op = PatchOp::builder().add_members([u3]).build();
    groups.patch(&gid, &op).await.unwrap();
    assert_eq!(members(groups.get(&gid).await.unwrap()), set(&[u1, u2, u3]));

    let op = PatchOp::builder()
        .remove_member(u1)
        .replace("displayName", "research-renamed")
        .build();
    groups.patch(&gid, &op).await.unwrap();
    let got = groups.get(&gid).await.unwrap();
    assert_eq!(got.display_name, "research-renamed");
    assert_eq!(members(got), set(&[u2, u3]));

    let found = groups
        .find_by_external_id("pw-activate:group:1")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn duplicate_user_name_is_a_uniqueness_error() {
    let c = tenant("unique");
    c.users().create(&managed_user("bob")).await.unwrap();
    let e = c.users().create(&managed_user("bob")).await.unwrap_err();
    assert!(e.is_uniqueness(), "{e:?}");
    assert!(matches!(e, Error::Api { status: 409, .. }));
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn filter_values_with_quotes_and_backslashes_match_exactly() {
    let c = tenant("escape");
    let tricky = r#"o"neil\x"#;
    create_users(&c, vec![managed_user(tricky), managed_user("oneil")]).await;
    let q = ListQuery::new().filter(Filter::eq("userName", tricky));
    let found = c.users().list(&q).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user_name, tricky);
}

#[tokio::test]
#[ignore = "needs scim2-server: run by cargo xtask ci"]
async fn replace_round_trip_get_delete_and_discovery() {
    let c = tenant("crud");
    let mut u = managed_user("carol");
    u.coreweave = Some(CoreWeaveUser::with_ssh_keys(["ssh-ed25519 AAAA carol@x"]));
    let id = c.users().create(&u).await.unwrap().id.unwrap();
    let mut got = c.users().get(&id).await.unwrap();
    got.display_name = Some("Carol C".into());
    let replaced = c.users().replace(&id, &got).await.unwrap();
    assert_eq!(replaced.display_name.as_deref(), Some("Carol C"));
    assert_eq!(replaced.ssh_keys(), ["ssh-ed25519 AAAA carol@x"]);
    c.users().delete(&id).await.unwrap();
    assert!(c.users().get(&id).await.unwrap_err().is_not_found());

    let spc = c.service_provider_config().await.unwrap().expect("offered");
    assert!(spc.patch.is_supported());
    let types = c.resource_types().await.unwrap().expect("offered");
    let user_type = types.iter().find(|t| t.name == "User").unwrap();
    assert!(
        user_type
            .schema_extensions
            .iter()
            .any(|e| e.schema == schemas::COREWEAVE_USER)
    );
    let all = c.schemas().await.unwrap().expect("offered");
    assert!(all.iter().any(|s| s.id == schemas::COREWEAVE_USER));
}
