//! End to end, as a user runs it: the real binary, ACTIVATE served by wiremock on loopback,
//! and a real SCIM server — the embedded `scim-server` (in this process) and, in the ignored
//! `scim2_server` variants, the independent scim2-server (`cargo xtask ci` runs them).

use scim_server::ResourceKind;
use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RouteMatch};
use serde_json::{Value, json};

use crate::fake_activate::Org;
use crate::harness::{API_KEY, Env, member_ids, ssh_keys};
use crate::targets::Target;

against_both!(
    initial_sync_then_a_second_run_writes_nothing,
    removed_user_is_deactivated_and_reactivated_with_the_same_id,
    key_change_is_synced,
    group_rename_keeps_the_scim_id,
    scope_with_an_unknown_name_warns_and_syncs_the_rest,
    users_outside_the_scope_are_deactivated,
    unmanaged_records_are_untouched_byte_for_byte,
    dry_run_writes_nothing,
    source_read_failure_exits_4_and_writes_nothing,
    mass_deactivation_is_refused_then_let_through_by_the_override,
    invalid_key_is_skipped_and_the_other_keys_are_synced,
    secrets_never_appear_in_the_output_or_logs,
    check_probes_without_writing,
    an_existing_account_is_adopted_only_when_asked_and_allowed,
    an_existing_group_is_adopted_and_gets_the_source_members,
);

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("a record has an id").to_owned()
}

/// The SCIM ids the active members of an ACTIVATE group should have.
async fn expected_member_ids(env: &Env, org: &Org, group: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for m in org.members(group) {
        let active = org.users.iter().any(|u| u.username == m && u.active);
        if active {
            ids.push(id(&env
                .user(&m)
                .await
                .unwrap_or_else(|| panic!("{m} synced"))));
        }
    }
    ids.sort();
    ids
}

async fn initial_sync_then_a_second_run_writes_nothing(t: Target) {
    let env = Env::sample(t).await;
    let first = env.sync_ok(&[], &[]).await;
    let org = env.fake.org();
    let summary = &first.report["summary"];
    assert_eq!(summary["failed"], 0, "{}", first.all());
    assert_eq!(summary["done"], summary["planned"], "{}", first.all());

    let active: Vec<_> = org.users.iter().filter(|u| u.active).collect();
    assert_eq!(env.managed_users().await.len(), active.len());
    for u in &active {
        let rec = env.user(&u.username).await.unwrap();
        assert_eq!(rec["active"], true, "{rec}");
        let expected = u.email.clone().unwrap_or_else(|| u.username.clone());
        assert!(
            rec["userName"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&expected),
            "{rec}"
        );
    }
    for u in org.users.iter().filter(|u| !u.active) {
        assert!(
            env.user(&u.username).await.is_none(),
            "inactive {} created",
            u.username
        );
    }
    assert_eq!(env.managed_groups().await.len(), org.groups.len());
    for g in &org.groups {
        let rec = env.group_by_id(&g.id).await.unwrap();
        assert_eq!(rec["displayName"], g.name.as_str());
        assert_eq!(
            member_ids(&rec),
            expected_member_ids(&env, &org, &g.name).await,
            "{}",
            g.name
        );
    }
    assert_eq!(ssh_keys(&env.user("ada").await.unwrap()).len(), 2);

    let users_before = env.target.users().await;
    let groups_before = env.target.groups().await;
    env.target.mark();
    let second = env.sync_ok(&[], &[]).await;
    assert!(second.ops().is_empty(), "{}", second.all());
    assert_eq!(second.report["requests"]["scim"]["writes"], 0);
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0, "the server saw writes on a no-op run");
    }
    assert_eq!(
        env.target.users().await,
        users_before,
        "a no-op run changed users"
    );
    assert_eq!(
        env.target.groups().await,
        groups_before,
        "a no-op run changed groups"
    );
}

async fn removed_user_is_deactivated_and_reactivated_with_the_same_id(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let original = env.fake.org();
    let ada_id = id(&env.user("ada").await.unwrap());
    let groups_with_ada: Vec<String> = env
        .managed_groups()
        .await
        .iter()
        .filter(|g| member_ids(g).contains(&ada_id))
        .map(id)
        .collect();
    assert!(
        !groups_with_ada.is_empty(),
        "ada is in a group of the sample org"
    );

    env.fake.edit(|o| {
        o.remove_user("ada");
    });
    let gone = env.sync_ok(&[], &[]).await;
    let ops = gone.ops();
    assert!(ops.contains(&"deactivate_user".to_owned()), "{ops:?}");
    assert!(ops.contains(&"update_members".to_owned()), "{ops:?}");
    let ada = env.user("ada").await.expect("deactivated, never deleted");
    assert_eq!(id(&ada), ada_id);
    assert_eq!(ada["active"], false, "{ada}");
    for g in env.managed_groups().await {
        assert!(
            !member_ids(&g).contains(&ada_id),
            "ada still in {}",
            g["displayName"]
        );
    }

    env.fake.edit(|o| *o = original.clone());
    let back = env.sync_ok(&[], &[]).await;
    assert!(
        back.ops().contains(&"reactivate_user".to_owned()),
        "{:?}",
        back.ops()
    );
    let ada = env.user("ada").await.unwrap();
    assert_eq!(id(&ada), ada_id, "reactivated with the same SCIM id");
    assert_eq!(ada["active"], true);
    let mut now_with_ada: Vec<String> = env
        .managed_groups()
        .await
        .iter()
        .filter(|g| member_ids(g).contains(&ada_id))
        .map(id)
        .collect();
    let mut expected = groups_with_ada.clone();
    now_with_ada.sort();
    expected.sort();
    assert_eq!(now_with_ada, expected);
}

async fn key_change_is_synced(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let alan_id = id(&env.user("alan").await.unwrap());
    let new_key = format!("{ED25519} alan@new-laptop");
    env.fake
        .edit(|o| o.user_mut("alan").keys = vec![new_key.clone()]);
    let s = env.sync_ok(&[], &[]).await;
    assert_eq!(s.ops(), ["update_user"], "{}", s.all());
    let alan = env.user("alan").await.unwrap();
    assert_eq!(id(&alan), alan_id);
    let keys = ssh_keys(&alan);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(ED25519), "{keys:?}");
}

async fn group_rename_keeps_the_scim_id(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let gid = env
        .fake
        .org()
        .groups
        .iter()
        .find(|g| g.name == "HPC Users")
        .unwrap()
        .id
        .clone();
    let before = env.group_by_id(&gid).await.unwrap();
    env.fake
        .edit(|o| o.group_mut("HPC Users").name = "HPC Cluster Users".into());
    let s = env.sync_ok(&[], &[]).await;
    assert_eq!(s.ops(), ["rename_group"], "{}", s.all());
    let after = env.group_by_id(&gid).await.unwrap();
    assert_eq!(id(&after), id(&before));
    assert_eq!(after["displayName"], "HPC Cluster Users");
    assert_eq!(member_ids(&after), member_ids(&before));
}

async fn scope_with_an_unknown_name_warns_and_syncs_the_rest(t: Target) {
    let env = Env::sample(t).await;
    let scope = [("ACTIVATE_SYNC_GROUPS", "Data Science, No Such Group")];
    let s = env.sync_ok(&[], &scope).await;
    assert!(s.warnings().contains("No Such Group"), "{}", s.all());
    let groups = env.managed_groups().await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["displayName"], "Data Science");
    let org = env.fake.org();
    let mut expected: Vec<String> = org
        .members("Data Science")
        .into_iter()
        .filter(|m| org.users.iter().any(|u| &u.username == m && u.active))
        .map(|m| format!("pw-activate:user:{}", m.to_lowercase()))
        .collect();
    expected.sort();
    let mut synced: Vec<String> = env
        .managed_users()
        .await
        .iter()
        .map(|u| u["externalId"].as_str().unwrap().to_owned())
        .collect();
    synced.sort();
    assert_eq!(synced, expected);
}

async fn users_outside_the_scope_are_deactivated(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let scope = [("ACTIVATE_SYNC_GROUPS", "Data Science")];
    let org = env.fake.org();
    let in_scope: Vec<String> = org.members("Data Science");
    // most of the org leaves the scope: the percentage limit refuses it...
    env.target.mark();
    let refused = env.sync(&[], &scope).await;
    assert_eq!(refused.code(), 3, "{}", refused.all());
    // ...and the operator confirms it once
    let s = env.sync_ok(&["--allow-mass-changes"], &scope).await;
    assert!(
        s.ops().contains(&"deactivate_user".to_owned()),
        "{}",
        s.all()
    );
    for u in env.managed_users().await {
        let username = u["externalId"]
            .as_str()
            .unwrap()
            .trim_start_matches("pw-activate:user:");
        let expected = in_scope.iter().any(|m| m.eq_ignore_ascii_case(username));
        assert_eq!(u["active"], expected, "{username}: {u}");
    }
}

/// Records the syncer does not own: no externalId, a foreign one, one that only looks like
/// ours, a userName a source user wants, and groups holding them.
async fn seed_unmanaged(target: &Target) -> Vec<String> {
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let a = target
        .seed(
            ResourceKind::User,
            json!({"schemas": [core], "userName": "legacy.admin@example.org",
              "displayName": "Legacy Admin", "active": true}),
        )
        .await;
    let b = target
        .seed(
            ResourceKind::User,
            json!({"schemas": [core], "userName": "grace@example.org",
              "externalId": "okta:00u1grace", "active": true}),
        )
        .await;
    let c = target
        .seed(
            ResourceKind::User,
            json!({"schemas": [core], "userName": "ops-bot",
              "externalId": "pw-activatex:user:ops-bot", "active": false}),
        )
        .await;
    let gcore = "urn:ietf:params:scim:schemas:core:2.0:Group";
    let g = target
        .seed(
            ResourceKind::Group,
            json!({"schemas": [gcore], "displayName": "ops-team",
              "members": [{"value": id(&a)}, {"value": id(&b)}]}),
        )
        .await;
    let h = target
        .seed(
            ResourceKind::Group,
            json!({"schemas": [gcore], "displayName": "okta-admins",
              "externalId": "okta:g1", "members": [{"value": id(&c)}]}),
        )
        .await;
    vec![id(&a), id(&b), id(&c), id(&g), id(&h)]
}

async fn unmanaged_snapshot(target: &Target, ids: &[String]) -> Vec<Value> {
    let mut all = target.users().await;
    all.extend(target.groups().await);
    all.into_iter().filter(|r| ids.contains(&id(r))).collect()
}

async fn unmanaged_untouched(env: Env) {
    let ids = seed_unmanaged(&env.target).await;
    let before = unmanaged_snapshot(&env.target, &ids).await;
    assert_eq!(before.len(), 5);
    // grace's userName is held by an unmanaged record. Whether or not the server honours the
    // filter (and so shows the holder in the managed read), the run looks the names it would
    // take up first: a conflict in the plan, no create sent, exit 0.
    let grace_blocked = |s: &crate::harness::Sync| {
        let failed = s.report["failed"].as_array().unwrap();
        let conflicts = s.report["conflicts"].to_string();
        s.code() == 0 && failed.is_empty() && conflicts.contains("grace")
    };
    for run in 1..=2 {
        let s = env.sync(&[], &[]).await;
        assert!(grace_blocked(&s), "run {run}: {}", s.all());
        if run == 2 {
            // grace's create is a conflict, not an operation: the second run has nothing to do
            let plan = s.report["plan"].as_array().unwrap();
            assert!(plan.is_empty(), "run 2 planned something: {plan:?}");
        }
    }
    assert!(env.user("grace").await.is_none());
    assert_eq!(
        unmanaged_snapshot(&env.target, &ids).await,
        before,
        "an unmanaged record changed"
    );
}

async fn unmanaged_records_are_untouched_byte_for_byte(t: Target) {
    unmanaged_untouched(Env::sample(t).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_records_are_untouched_when_the_server_ignores_the_filter() {
    let faults = FaultPlan::new(3)
        .rule(FaultRule::new(Fault::IgnoreFilter).route(RouteMatch::any().op(Op::List)));
    unmanaged_untouched(Env::sample(Target::embedded_with(faults).await).await).await;
}

async fn dry_run_writes_nothing(t: Target) {
    let env = Env::sample(t).await;
    env.target.mark();
    let s = env.sync_ok(&["--dry-run"], &[]).await;
    assert_eq!(s.report["dry_run"], true);
    assert!(s.ops().len() > 30, "the whole org is planned: {}", s.all());
    assert_eq!(s.report["requests"]["scim"]["writes"], 0);
    assert!(env.target.users().await.is_empty());
    assert!(env.target.groups().await.is_empty());
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    // the same through the environment
    let s = env.sync_ok(&[], &[("SYNC_DRY_RUN", "1")]).await;
    assert_eq!(s.report["dry_run"], true);
    assert!(env.target.users().await.is_empty());
}

async fn source_read_failure_exits_4_and_writes_nothing(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let users = env.target.users().await;
    let groups = env.target.groups().await;
    env.fake.edit(|o| {
        o.remove_user("ada"); // a change is pending...
        o.fail_groups = Some(503); // ...but the source cannot be read completely
    });
    env.target.mark();
    let s = env.sync(&[], &[]).await;
    assert_eq!(s.code(), 4, "{}", s.all());
    assert!(
        s.report["error"].as_str().unwrap().contains("source"),
        "{}",
        s.all()
    );
    assert!(s.ops().is_empty());
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    assert_eq!(env.target.users().await, users);
    assert_eq!(env.target.groups().await, groups);
}

async fn mass_deactivation_is_refused_then_let_through_by_the_override(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let keep = ["ada", "alan", "grace", "linus", "ken", "radia"];
    env.fake.edit(|o| o.keep_only(&keep));
    let users = env.target.users().await;
    env.target.mark();
    let refused = env.sync(&[], &[]).await;
    assert_eq!(refused.code(), 3, "{}", refused.all());
    assert!(refused.report["refusal"].is_object(), "{}", refused.all());
    // in the words an operator sets: the flag and the variable
    let message = refused.report["refusal"]["message"].as_str().unwrap();
    assert!(
        message.contains("--max-deactivations, SYNC_MAX_DEACTIVATIONS")
            && message.contains("--allow-mass-changes"),
        "{message}"
    );
    assert_eq!(refused.report["requests"]["scim"]["writes"], 0);
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    assert_eq!(env.target.users().await, users, "a refused run wrote");

    let s = env.sync_ok(&["--allow-mass-changes"], &[]).await;
    let deactivated = s.ops().iter().filter(|o| *o == "deactivate_user").count();
    assert_eq!(deactivated, 26, "{}", s.all());
    let inactive = env
        .managed_users()
        .await
        .iter()
        .filter(|u| u["active"] == false)
        .count();
    assert_eq!(inactive, 26);
}

async fn invalid_key_is_skipped_and_the_other_keys_are_synced(t: Target) {
    let env = Env::sample(t).await;
    let s = env.sync_ok(&[], &[]).await;
    let w = s.warnings();
    assert!(w.contains("leslie") && w.contains("line 4"), "{w}");
    let keys = ssh_keys(&env.user("leslie").await.unwrap());
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("ecdsa-sha2-nistp256 AAAAE2VjZHNh"),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains("notARealKey")));
}

async fn secrets_never_appear_in_the_output_or_logs(t: Target) {
    let env = Env::sample(t).await;
    let token = env.target.token();
    let basic = "cHd0X01USTNMakF1TUM0eC5lMmUtYWN0aXZhdGUtc2VjcmV0LTlmMjdjMTo=";
    let secret_part = API_KEY.split('.').nth(1).unwrap();
    let verbose = [("LOG_LEVEL", "trace"), ("LOG_FORMAT", "text")];
    let mut outputs = Vec::new();
    // a text run, a JSON run, check, and a run whose SCIM token is refused
    let text = env.run_raw(vec![], &verbose).await;
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(
        text.stdout.contains("Outcome: ok (exit 0)"),
        "{}",
        text.all()
    );
    outputs.push(text.all());
    outputs.push(env.sync(&[], &[("LOG_LEVEL", "trace")]).await.all());
    outputs.push(env.run_raw(vec!["check".into()], &verbose).await.all());
    let wrong = "wrong-scim-token-e2e-4d1b";
    let refused = env
        .run_raw(
            vec![],
            &[("LOG_LEVEL", "trace"), ("CW_SCIM_BEARER_TOKEN", wrong)],
        )
        .await;
    assert_eq!(refused.code, 4, "{}", refused.all());
    outputs.push(refused.all());
    for out in &outputs {
        assert!(!out.contains(API_KEY), "the API key leaked:\n{out}");
        assert!(
            !out.contains(secret_part),
            "the API key's secret leaked:\n{out}"
        );
        assert!(!out.contains(basic), "the Basic credentials leaked:\n{out}");
        assert!(!out.contains(&token), "the SCIM token leaked:\n{out}");
        assert!(
            !out.contains(wrong),
            "the refused SCIM token leaked:\n{out}"
        );
    }
}

async fn check_probes_without_writing(t: Target) {
    let env = Env::sample(t).await;
    env.target.mark();
    let run = env
        .run_raw(vec!["check".into(), "--output".into(), "json".into()], &[])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let items = report["items"].as_array().unwrap();
    let verdict = |name: &str| {
        items
            .iter()
            .find(|i| i["item"] == name)
            .unwrap_or_else(|| panic!("no item {name}: {report}"))["verdict"]
            .clone()
    };
    assert_eq!(verdict("credentials and organization"), "ok");
    assert_eq!(verdict("credentials"), "ok");
    assert_eq!(verdict("externalId sw filter"), "ok");
    assert_eq!(verdict("CoreWeave user extension"), "ok");
    assert!(items.iter().all(|i| i["verdict"] != "fail"), "{report}");
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    assert!(env.target.users().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_when_the_server_ignores_the_filter() {
    let faults = FaultPlan::new(5)
        .rule(FaultRule::new(Fault::IgnoreFilter).route(RouteMatch::any().op(Op::List)));
    let env = Env::sample(Target::embedded_with(faults).await).await;
    env.target
        .seed(
            ResourceKind::User,
            json!({"userName": "legacy@example.org"}),
        )
        .await;
    let run = env
        .run_raw(vec!["check".into(), "--output".into(), "json".into()], &[])
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let filter = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "externalId sw filter")
        .cloned()
        .unwrap();
    assert_eq!(filter["verdict"], "warn", "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_exits_1_and_the_next_run_repairs_it() {
    let faults = FaultPlan::new(11).rule(
        FaultRule::new(Fault::Status {
            status: 400,
            retry_after: None,
        })
        .route(
            RouteMatch::any()
                .resource(ResourceKind::Group)
                .op(Op::Create),
        )
        .times(1),
    );
    let env = Env::sample(Target::embedded_with(faults).await).await;
    let s = env.sync(&[], &[]).await;
    assert_eq!(s.code(), 1, "{}", s.all());
    let failed = s.report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{}", s.all());
    assert_eq!(failed[0]["op"], "create_group");
    // the sample's users, groups (with their members, one write each) and the other groups
    assert!(s.report["summary"]["done"].as_u64().unwrap() > 30);
    let again = env.sync_ok(&[], &[]).await;
    assert!(
        again.ops().contains(&"create_group".to_owned()),
        "{}",
        again.all()
    );
    assert_eq!(
        env.managed_groups().await.len(),
        env.fake.org().groups.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_issues_no_write() {
    // 1 ms passes while both ends are still being read: the read ends there (exit 4, the
    // deadline named), and nothing is written. A deadline passing mid-apply (exit 1, the
    // rest skipped) is `reliability_process`'s test.
    let env = Env::sample(Target::embedded().await).await;
    env.target.mark();
    let s = env.sync(&["--deadline", "1ms"], &[]).await;
    assert_eq!(s.code(), 4, "{}", s.all());
    assert!(
        s.report["error"]
            .as_str()
            .is_some_and(|e| e.contains("deadline") && e.contains("nothing was written")),
        "{}",
        s.all()
    );
    assert_eq!(s.report["summary"]["done"], 0);
    assert_eq!(env.target.writes_seen(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_configuration_runs_against_the_fakes() {
    // k8s passes `--deadline 7m` and LOG_FORMAT=json; here with the fakes' URLs
    let env = Env::sample(Target::embedded().await).await;
    let run = env
        .run_raw(
            vec!["--deadline".into(), "7m".into()],
            &[("SYNC_MAX_DEACTIVATIONS", "25")],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "run finished")
        .collect();
    assert_eq!(
        finished.len(),
        1,
        "one summary line per run: {}",
        run.stderr
    );
    assert_eq!(finished[0]["outcome"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_new_writes_and_every_write_made_is_reported() {
    // every create takes 200 ms: the initial sync is mid-apply when SIGTERM arrives
    let faults = FaultPlan::new(13).rule(
        FaultRule::new(Fault::Latency(std::time::Duration::from_millis(200)))
            .route(RouteMatch::any().op(Op::Create)),
    );
    let env = Env::sample(Target::embedded_with(faults).await).await;
    let child = env.spawn_raw(&["--output", "json"], &[]);
    let pid = child.id().to_string();
    // wait until the apply has started (the first creates reached the server)
    let started = std::time::Instant::now();
    while env.target.writes_seen().unwrap() < 2 {
        assert!(started.elapsed().as_secs() < 20, "the apply never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let run = crate::support::Run::from_output(out);
    assert_eq!(run.code, 1, "{}", run.all());
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(
        report["warnings"].to_string().contains("stop signal"),
        "{report}"
    );
    let done = report["summary"]["by_op"]["create_user"]["done"]
        .as_u64()
        .unwrap();
    let skipped = report["summary"]["skipped"].as_u64().unwrap();
    assert!(done > 0 && skipped > 0, "stopped mid-apply: {report}");
    // no write was cut off unreported: the server holds exactly the users reported done
    assert_eq!(env.managed_users().await.len() as u64, done, "{report}");
    // and the next run finishes the job
    env.sync_ok(&[], &[]).await;
    assert_eq!(env.managed_users().await.len(), 32);
}

/// grace's account exists already, made by an earlier provisioning source (`okta:...`).
async fn an_existing_account_is_adopted_only_when_asked_and_allowed(t: Target) {
    let env = Env::sample(t).await;
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let holder = env
        .target
        .seed(
            ResourceKind::User,
            json!({"schemas": [core], "userName": "grace@example.org",
                   "externalId": "okta:00u1grace", "displayName": "G. Hopper", "active": false}),
        )
        .await;
    let holder_id = id(&holder);
    let adopt = ["--adopt-existing-users"];
    // asked, but its externalId is another source's: not adopted, a conflict
    let s = env.sync(&adopt, &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(
        s.report["conflicts"].to_string().contains("grace"),
        "{}",
        s.all()
    );
    assert!(!s.ops().iter().any(|op| op == "adopt_user"), "{}", s.all());
    // that source allowed, but above the adoption limit: refused, nothing written
    let okta = [
        "--adopt-existing-users",
        "--adopt-external-id-prefix",
        "okta:",
    ];
    let s = env
        .sync(&[&okta[..], &["--max-adoptions", "0"]].concat(), &[])
        .await;
    assert_eq!(s.code(), 3, "{}", s.all());
    // allowed: adopted, keeping its SCIM id, with the managed externalId and the desired state
    let s = env.sync(&okta, &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(s.ops().iter().any(|op| op == "adopt_user"), "{}", s.all());
    let grace = env.user("grace").await.expect("grace is managed now");
    assert_eq!(id(&grace), holder_id, "the account keeps its SCIM id");
    assert_eq!(grace["active"], true);
    assert_eq!(grace["displayName"], "Grace Hopper");
    // a member of her groups, by that id
    let groups = env.managed_groups().await;
    let hers: Vec<&Value> = groups
        .iter()
        .filter(|g| crate::harness::member_ids(g).contains(&holder_id))
        .collect();
    assert!(!hers.is_empty(), "grace is in no managed group: {groups:?}");
    // and the next run has nothing to do
    let s = env.sync(&okta, &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(s.ops().is_empty(), "{}", s.all());
}

/// A group named like a source group exists already, made by hand, with a stray member.
async fn an_existing_group_is_adopted_and_gets_the_source_members(t: Target) {
    let env = Env::sample(t).await;
    // the sample org's group names: the first one of the managed groups after a sync
    let first = env.sync_ok(&["--dry-run"], &[]).await;
    let (ext, name) = first.report["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["op"] == "create_group")
        .map(|op| {
            (
                op["externalId"].as_str().unwrap().to_owned(),
                op["displayName"].as_str().unwrap().to_owned(),
            )
        })
        .expect("the sample org has groups");
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let stray = env
        .target
        .seed(
            ResourceKind::User,
            json!({"schemas": [core], "userName": "stray@example.org", "active": true}),
        )
        .await;
    let group = env
        .target
        .seed(
            ResourceKind::Group,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": name, "members": [{"value": id(&stray)}]}),
        )
        .await;
    // not asked: the group's name is a conflict, the group is left alone
    let s = env.sync(&[], &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(
        s.report["conflicts"].to_string().contains(&ext),
        "{}",
        s.all()
    );
    assert!(
        env.group_by_id(ext.rsplit(':').next().unwrap())
            .await
            .is_none()
    );
    // asked: adopted, same SCIM id, the source's members, the stray member removed
    let s = env.sync(&["--adopt-existing-groups"], &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(s.ops().iter().any(|op| op == "adopt_group"), "{}", s.all());
    let adopted = env
        .group_by_id(ext.rsplit(':').next().unwrap())
        .await
        .expect("the group is managed now");
    assert_eq!(id(&adopted), id(&group), "the group keeps its SCIM id");
    let members = crate::harness::member_ids(&adopted);
    assert!(
        !members.contains(&id(&stray)),
        "the stray member is removed: {adopted}"
    );
    assert!(
        !members.is_empty(),
        "the source's members are added: {adopted}"
    );
    let s = env.sync(&["--adopt-existing-groups"], &[]).await;
    assert_eq!(s.code(), 0, "{}", s.all());
    assert!(s.ops().is_empty(), "{}", s.all());
}
