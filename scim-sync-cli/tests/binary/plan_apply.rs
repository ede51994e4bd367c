//! `plan --out FILE` and `apply FILE`, as an operator uses them: the plan saved and applied
//! exactly, and every way a saved plan can stop holding refused with nothing written.

use scim_server::ResourceKind;
use serde_json::{Value, json};

use crate::harness::Env;
use crate::targets::Target;

against_both!(
    a_saved_plan_is_applied_exactly_and_then_there_is_nothing_to_do,
    a_plan_whose_records_changed_is_refused_with_nothing_written,
    a_plan_for_another_target_or_too_old_is_refused_before_any_request,
);

fn file(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_owned()
}

fn refusal_kinds(report: &Value) -> Vec<String> {
    report["refusal"]["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["kind"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_saved_plan_is_applied_exactly_and_then_there_is_nothing_to_do(t: Target) {
    let env = Env::sample(t).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = file(&dir, "plan.json");

    env.target.mark();
    let planned = env.sync_ok(&["plan", "--out", &plan], &[]).await;
    assert_eq!(planned.report["command"], "plan");
    assert_eq!(planned.report["plan_file"], plan.as_str());
    let ops = planned.ops();
    assert!(
        ops.len() > 30,
        "the whole org is planned: {}",
        planned.all()
    );
    assert_eq!(planned.report["requests"]["scim"]["writes"], 0);
    assert!(env.target.users().await.is_empty(), "plan writes nothing");
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&plan).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the plan names people: owner only");
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["kind"], "pw-activate-scim-sync/plan");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["target"], env.target.base_url().trim_end_matches('/'));
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        !text.contains(&env.target.token()),
        "the plan file holds no secret"
    );

    // the source changes after the plan: apply does what the plan says, not what the source
    // says now
    env.fake.edit(|o| {
        o.remove_user("ada");
    });
    let applied = env.sync_ok(&["apply", &plan], &[]).await;
    assert_eq!(applied.report["command"], "apply");
    assert_eq!(applied.ops(), ops, "exactly the saved operations");
    assert_eq!(
        applied.report["summary"]["done"].as_u64(),
        Some(ops.len() as u64),
        "{}",
        applied.all()
    );
    assert_eq!(
        applied.report["requests"]["activate"]["count"], 0,
        "apply reads no source"
    );
    let ada = env.user("ada").await.expect("ada was created as planned");
    assert_eq!(ada["active"], true);

    // applied once, the same file no longer holds: what it creates exists now
    let again = env.sync(&["apply", &plan], &[]).await;
    assert_eq!(again.code(), 3, "{}", again.all());
    assert_eq!(refusal_kinds(&again.report), ["stale_plan"]);

    // and a reconcile now only does what changed in the source since
    let after = env.sync_ok(&["--dry-run"], &[]).await;
    assert!(
        after.ops().contains(&"deactivate_user".to_owned())
            && !after.ops().contains(&"create_user".to_owned()),
        "{}",
        after.all()
    );
}

async fn a_plan_whose_records_changed_is_refused_with_nothing_written(t: Target) {
    let env = Env::sample(t).await;
    env.sync_ok(&[], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = file(&dir, "plan.json");
    env.fake.edit(|o| {
        o.remove_user("grace");
        o.user_mut("alan").email = Some("alan.turing@bletchley.example".into());
    });
    let planned = env.sync_ok(&["plan", "--out", &plan], &[]).await;
    let ops = planned.ops();
    assert!(
        ops.contains(&"deactivate_user".to_owned()) && ops.contains(&"update_user".to_owned()),
        "{}",
        planned.all()
    );

    // another admin changes a record the plan touches
    let grace = env.user("grace").await.unwrap();
    env.target
        .patch(
            ResourceKind::User,
            grace["id"].as_str().unwrap(),
            json!([{"op": "replace", "path": "displayName", "value": "Rear Admiral Hopper"}]),
        )
        .await;
    let users = env.target.users().await;
    let groups = env.target.groups().await;
    env.target.mark();
    let stale = env.sync(&["apply", &plan], &[]).await;
    assert_eq!(stale.code(), 3, "{}", stale.all());
    assert_eq!(refusal_kinds(&stale.report), ["stale_plan"]);
    let message = stale.report["refusal"]["message"].as_str().unwrap();
    assert!(
        message.contains("Rear Admiral Hopper") || message.contains("grace"),
        "the changed record is named: {message}"
    );
    assert!(
        !message.contains("alan"),
        "records that did not change are not named: {message}"
    );
    assert_eq!(stale.report["requests"]["scim"]["writes"], 0);
    if let Some(writes) = env.target.writes_seen() {
        assert_eq!(writes, 0);
    }
    assert_eq!(env.target.users().await, users, "nothing was written");
    assert_eq!(env.target.groups().await, groups);

    // the text says what to do
    let text = env.run_raw(vec!["apply".into(), plan.clone()], &[]).await;
    assert_eq!(text.code, 3);
    assert!(
        text.stdout.contains("Make the plan again"),
        "{}",
        text.all()
    );

    // planned again, it holds
    let plan2 = file(&dir, "plan2.json");
    env.sync_ok(&["plan", "--out", &plan2], &[]).await;
    env.sync_ok(&["apply", &plan2], &[]).await;
    assert_eq!(env.user("grace").await.unwrap()["active"], false);
}

async fn a_plan_for_another_target_or_too_old_is_refused_before_any_request(t: Target) {
    let env = Env::sample(t).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = file(&dir, "plan.json");
    env.sync_ok(&["plan", "--out", &plan], &[]).await;

    // another target: nothing is asked of it
    let elsewhere = env
        .sync(
            &["apply", &plan],
            &[("CW_SCIM_BASE_URL", "http://127.0.0.1:9/scim/other")],
        )
        .await;
    assert_eq!(elsewhere.code(), 3, "{}", elsewhere.all());
    assert_eq!(refusal_kinds(&elsewhere.report), ["other_target"]);
    assert_eq!(elsewhere.report["requests"]["scim"]["count"], 0);

    // older than --max-plan-age (the file says when it was made)
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    saved["createdAt"] = json!(humantime::format_rfc3339_seconds(two_hours_ago).to_string());
    let old = file(&dir, "old.json");
    std::fs::write(&old, serde_json::to_string(&saved).unwrap()).unwrap();
    let expired = env.sync(&["apply", &old], &[]).await;
    assert_eq!(expired.code(), 3, "{}", expired.all());
    assert_eq!(refusal_kinds(&expired.report), ["expired_plan"]);
    assert_eq!(expired.report["requests"]["scim"]["count"], 0);
    assert!(env.target.users().await.is_empty());
    // a longer age lets it through
    env.sync_ok(&["apply", &old, "--max-plan-age", "3h"], &[])
        .await;
    assert!(!env.target.users().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_no_plan_is_a_usage_error_before_any_request() {
    let env = Env::sample(Target::embedded().await).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty-object.json", "{}", "not a plan file"),
        ("array.json", "[]", "not a plan file"),
        (
            "future.json",
            r#"{"kind": "pw-activate-scim-sync/plan", "version": 99}"#,
            "format version 99",
        ),
        (
            "unknown-field.json",
            r#"{"kind": "pw-activate-scim-sync/plan", "version": 1, "planz": []}"#,
            "unknown field `planz`",
        ),
    ];
    for (name, text, expected) in cases {
        let path = file(&dir, name);
        std::fs::write(&path, text).unwrap();
        env.target.mark();
        let s = env.sync(&["apply", &path], &[]).await;
        assert_eq!(s.code(), 2, "{name}: {}", s.all());
        let error = s.report["error"].as_str().unwrap();
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(env.target.writes_seen(), Some(0));
        assert_eq!(s.report["requests"]["scim"]["count"], 0);
    }
    let missing = env.sync(&["apply", &file(&dir, "missing.json")], &[]).await;
    assert_eq!(missing.code(), 2, "{}", missing.all());

    // `plan --out` into a directory that does not exist fails before reading either end
    let s = env
        .sync(
            &["plan", "--out", &file(&dir, "no/such/dir/plan.json")],
            &[],
        )
        .await;
    assert_eq!(s.code(), 2, "{}", s.all());
    assert!(
        s.report["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(s.report["requests"]["scim"]["count"], 0);
}
