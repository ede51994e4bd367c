//! The bad-input corpus (`tests/corpus/`): hostile SSH keys, awkward names, a CoreWeave
//! reserved group name, duplicate emails, users without email, nulls where ACTIVATE marks
//! fields optional, and a 10,000-member group. Each record gets a clear message naming it and
//! saying what was done with it; everything else is synced.

mod reliability_support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use reliability_support::*;
use scim_server::faults::FaultPlan;
use scim_server::{Profile, ResourceKind, ScimServer};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The corpus org as an ACTIVATE export: `sshKeysFile` is replaced by the file's lines (split
/// on `\n` only, so CRLF lines keep their `\r`).
fn corpus_export() -> Value {
    let text = std::fs::read_to_string(corpus().join("org.json")).unwrap();
    let mut org: Value = serde_json::from_str(&text).unwrap();
    for u in org["users"].as_array_mut().unwrap() {
        if let Some(file) = u.as_object_mut().unwrap().remove("sshKeysFile") {
            let body = std::fs::read(corpus().join("keys").join(file.as_str().unwrap())).unwrap();
            let lines: Vec<String> = String::from_utf8(body)
                .unwrap()
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            u["sshKeys"] = json!(lines);
        }
    }
    org
}

fn user<'a>(users: &'a [Value], username: &str) -> Option<&'a Value> {
    let ext = format!("{MANAGED}user:{username}");
    users.iter().find(|u| u["externalId"] == ext.as_str())
}

fn keys(u: &Value) -> Vec<String> {
    u[CW_USER]["sunkSshKeys"]
        .as_array()
        .map(|k| k.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Every warning that names `needle`.
fn warnings_naming(r: &Run, needle: &str) -> Vec<String> {
    let mut all: Vec<String> = r.report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    all.extend(
        r.report["conflicts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string),
    );
    all.extend(
        r.report["failed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string),
    );
    all.into_iter().filter(|w| w.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_is_synced_with_a_message_per_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("org.json");
    std::fs::write(&source, serde_json::to_vec(&corpus_export()).unwrap()).unwrap();
    let server = server(FaultPlan::new(0)).await;
    let unmanaged = seed_unmanaged(&server.default_tenant());
    let env = target_env(&server.base_url(), &source);

    let r = run(&env, &[], &[]).await;
    let t = server.default_tenant();
    let users = t.users();
    let groups = t.groups();

    // awkward usernames are synced as they are (userName is the email)
    for name in [
        "quote\"user",
        "back\\slash",
        "per%cent",
        "sla/sh",
        "with space",
        "ünïcødé-用户",
        "  padded  ",
    ] {
        let u = user(&users, name).unwrap_or_else(|| panic!("{name} synced"));
        assert_eq!(u["active"], true, "{name}");
    }
    // awkward group names too, members resolved
    for (id, name) in [
        ("g-quote", "team \"quoted\""),
        ("g-back", "back\\slash group"),
        ("g-pct", "100% done"),
        ("g-slash", "a/b"),
        ("g-uni", "日本語チーム ünï"),
        ("g-pad", "  padded group  "),
    ] {
        let ext = format!("{MANAGED}group:{id}");
        let g = groups
            .iter()
            .find(|g| g["externalId"] == ext.as_str())
            .unwrap_or_else(|| panic!("group {name} synced"));
        assert_eq!(g["displayName"], name);
        assert!(!g["members"].as_array().unwrap().is_empty(), "{name}");
    }
    // the CoreWeave reserved names are not created, and the report says so by name
    for (id, name) in [("g-admin", "admin"), ("g-billing", "billing_viewer")] {
        let ext = format!("{MANAGED}group:{id}");
        assert!(
            !groups.iter().any(|g| g["externalId"] == ext.as_str()),
            "reserved {name} created"
        );
        assert!(
            !warnings_naming(&r, name).is_empty(),
            "no message names reserved group {name}: {}",
            r.all()
        );
    }
    // duplicate emails (case-insensitive): one is synced, the other is a conflict, named
    let one = user(&users, "dup-one").is_some();
    let two = user(&users, "dup-two").is_some();
    assert!(
        one ^ two,
        "exactly one of the duplicate-email users is synced"
    );
    let loser = if one { "dup-two" } else { "dup-one" };
    assert!(
        !warnings_naming(&r, loser).is_empty(),
        "the duplicate {loser} is named: {}",
        r.all()
    );
    // users without an email / with nulls: named, and what was done said
    for name in ["noemail", "nullfields"] {
        assert!(
            !warnings_naming(&r, name).is_empty() || user(&users, name).is_some(),
            "{name}: {}",
            r.all()
        );
    }

    // SSH keys: the bad lines are dropped with a message naming the user, good keys kept
    let expect_kept = [
        ("keys-truncated", 1),
        ("keys-unknown-type", 1),
        ("keys-huge-64k", 1),
        ("keys-crlf", 2),
        ("keys-duplicate-comments", 1),
    ];
    for (name, kept) in expect_kept {
        let u = user(&users, name).unwrap_or_else(|| panic!("{name} synced"));
        let k = keys(u);
        assert_eq!(k.len(), kept, "{name}: {k:?}");
        assert!(k.iter().all(|k| !k.contains('\r')), "{name}: CR kept");
    }
    for name in ["keys-truncated", "keys-unknown-type", "keys-huge-64k"] {
        assert!(
            !warnings_naming(&r, name).is_empty(),
            "{name} has no message: {}",
            r.warnings()
        );
    }
    // options prefixes: the key is synced without its options (or refused, with a message)
    let opts = keys(user(&users, "keys-options-prefix").unwrap());
    assert!(
        opts.iter()
            .all(|k| !k.contains("command=") && !k.starts_with("restrict")),
        "{opts:?}"
    );
    assert!(
        opts.len() == 2 || !warnings_naming(&r, "keys-options-prefix").is_empty(),
        "{opts:?}"
    );
    // never a 64 KiB attribute in the target
    assert!(users.iter().all(|u| u.to_string().len() < 16 * 1024));

    assert_unmanaged_untouched(&t, &unmanaged);
    // the reserved names are skipped by the engine (scim-diff's `reserved_group_names`, CoreWeave's
    // by default) with a warning, so nothing fails and no request is wasted on them
    assert_eq!(r.report["failed"], serde_json::json!([]), "{}", r.all());
    assert!(
        r.report["warnings"]
            .to_string()
            .contains("reserves this name"),
        "{}",
        r.all()
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // the second run has nothing to do: the bad records are stable
    let again = run(&env, &[], &[]).await;
    assert_eq!(
        again.report["plan"],
        serde_json::json!([]),
        "{}",
        again.all()
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_unmanaged_untouched(&t, &unmanaged);
}

/// ACTIVATE's API marks `email`, `name`, `uid`, `lastLogin`, a group's `description`, and the
/// users array itself as optional: nulls everywhere must be read as "absent".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_where_the_api_marks_fields_optional() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let m = MockServer::start().await;
    let base = "/api/organizations/acme";
    let api_user = |i: u32, email: Value| {
        json!({"id": format!("{i:024x}"), "username": format!("n{i}"), "email": email,
               "name": null, "active": true, "admin": false, "billingAdmin": false,
               "complimentary": false, "licenseStatus": "active", "organization": null,
               "uid": null, "createdAt": null, "lastLogin": null})
    };
    Mock::given(method("GET"))
        .and(path(format!("{base}/users")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 3,
            "users": [api_user(1, json!("n1@example.org")), api_user(2, Value::Null), api_user(3, json!("n3@example.org"))],
        })))
        .mount(&m)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/groups")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "g1", "name": "g1", "description": null, "gid": null, "members": 2,
             "organization": "acme", "roles": null, "createdAt": null}])))
        .mount(&m)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/groups/g1/members")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": format!("{:024x}", 1), "username": "n1", "email": "n1@example.org"},
            {"id": format!("{:024x}", 2), "username": "n2", "email": ""}])))
        .mount(&m)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(""))
        .mount(&m)
        .await;
    let server = server(FaultPlan::new(0)).await;
    let env = vec![
        (
            "ACTIVATE_API_KEY".to_owned(),
            reliability_support::activate::API_KEY.to_owned(),
        ),
        ("ACTIVATE_API_URL".into(), m.uri()),
        ("ACTIVATE_ORG_NAME".into(), "acme".into()),
        ("CW_SCIM_BASE_URL".into(), server.base_url()),
        ("CW_SCIM_BEARER_TOKEN".into(), TOKEN.into()),
        ("SYNC_NO_DYNAMIC_SETTINGS".into(), "true".into()),
        ("LOG_FORMAT".into(), "json".into()),
    ];
    let r = run(&env, &[], &[]).await;
    eprintln!("{}", serde_json::to_string_pretty(&r.report).unwrap());
    assert!(matches!(r.code, 0 | 1), "{}", r.all());
    let users = server.default_tenant().users();
    assert!(user(&users, "n1").is_some() && user(&users, "n3").is_some());
    assert!(
        user(&users, "n2").is_some() || !warnings_naming(&r, "n2").is_empty(),
        "n2 (no email) is synced or named: {}",
        r.all()
    );
}

/// A group of 10,000 members: membership changes are chunked (SCIM_MAX_MEMBERS_PER_PATCH,
/// default 100; the first chunk goes with the create, as the target is not CoreWeave's URL),
/// counted on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_member_group_is_patched_in_chunks() {
    const N: usize = 10_000;
    let mut org = Org::generate(N, 1);
    for u in &mut org.users {
        u.active = true;
        u.keys.clear();
    }
    org.groups[0].members = org.users.iter().map(|u| u.username.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let source = org.write(dir.path());
    let server = ScimServer::builder()
        .bearer_token(Some(TOKEN))
        .profile(Profile::CoreWeave)
        .max_page_size(1000)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let env = target_env(&server.base_url(), &source);
    let started = std::time::Instant::now();
    let r = run(
        &env,
        &[("SYNC_CONCURRENCY", "16"), ("SCIM_PAGE_SIZE", "1000")],
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.all());
    let patches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|q| q.method == "PATCH" && q.path.contains("/Groups/"))
        .collect();
    assert_eq!(
        patches.len(),
        N / 100 - 1,
        "10,000 members: 100 in the create, the others in PATCHes of 100"
    );
    let g = &server.default_tenant().groups()[0];
    let ids: BTreeSet<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), N);
    assert_eq!(server.default_tenant().len(ResourceKind::User), N);
    eprintln!(
        "FIGURES 10k group: {} requests, {} membership PATCHes, {:?}",
        server.request_total(),
        patches.len(),
        started.elapsed()
    );
    let c = assert_converged(&server.default_tenant(), &org);
    assert_eq!(c.memberships, N);
}
