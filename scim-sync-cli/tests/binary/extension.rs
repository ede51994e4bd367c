//! Targets with and without the CoreWeave user extension: `check` says whether the keys can
//! be written, a run that would write them into a target that does not declare it stops
//! before its first write, and `--ssh-keys-attribute none` syncs users and groups without keys.

use serde_json::Value;

use crate::harness::{Env, ssh_keys};
use crate::targets::Target;

fn item<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == name)
        .unwrap_or_else(|| panic!("no item {name}: {report}"))
}

async fn check(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut full: Vec<String> = vec!["check".into(), "--output".into(), "json".into()];
    full.extend(args.iter().map(|a| a.to_string()));
    let run = env.run_raw(full, &[]).await;
    let report = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON object ({e}): {}", run.all()));
    (run.code, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scim2-server without the extension: run by cargo xtask ci"]
async fn a_target_without_the_extension_fails_check_and_stops_the_run_before_any_write() {
    let env = Env::sample(Target::scim2_plain("no-extension").await).await;

    let (code, report) = check(&env, &[]).await;
    assert_eq!(code, 4, "{report}");
    let extension = item(&report, "CoreWeave user extension");
    assert_eq!(extension["verdict"], "fail", "{report}");
    let detail = extension["detail"].as_str().unwrap();
    assert!(
        detail.contains("--ssh-keys-attribute none") && detail.contains("SCIM_SSH_KEYS_ATTRIBUTE"),
        "names the option to set: {detail}"
    );

    // the run plans (the dry run says the same) and stops before its first write
    let dry = env.sync(&["--dry-run"], &[]).await;
    assert_eq!(dry.code(), 3, "{}", dry.all());
    let run = env.sync(&[], &[]).await;
    assert_eq!(run.code(), 3, "{}", run.all());
    assert_eq!(
        run.report["refusal"]["reasons"][0]["kind"],
        "extension_not_declared"
    );
    let message = run.report["refusal"]["message"].as_str().unwrap();
    assert!(message.contains("--ssh-keys-attribute none"), "{message}");
    assert_eq!(run.report["requests"]["scim"]["writes"], 0);
    assert!(env.target.users().await.is_empty());

    // without keys, the same target takes users and groups, and a second run is a no-op
    let (code, report) = check(&env, &["--ssh-keys-attribute", "none"]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(item(&report, "CoreWeave user extension")["verdict"], "ok");
    let run = env.sync_ok(&["--ssh-keys-attribute", "none"], &[]).await;
    assert_eq!(run.report["summary"]["failed"], 0, "{}", run.all());
    let users = env.target.users().await;
    assert!(users.len() > 30);
    assert!(users.iter().all(|u| ssh_keys(u).is_empty()));
    assert!(!env.target.groups().await.is_empty());
    let again = env
        .sync_ok(&["--ssh-keys-attribute", "none"], &[("SYNC_DRY_RUN", "1")])
        .await;
    assert!(again.ops().is_empty(), "{}", again.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_none_is_read_and_none_is_written() {
    let env = Env::sample(Target::embedded().await).await;
    let with_keys = env.sync_ok(&["--dry-run"], &[]).await;
    let without = env
        .sync_ok(&[], &[("SCIM_SSH_KEYS_ATTRIBUTE", "none")])
        .await;
    let requests =
        |s: &crate::harness::Sync| s.report["requests"]["activate"]["count"].as_u64().unwrap();
    assert!(
        requests(&without) + 30 <= requests(&with_keys),
        "no key listing per user: {} vs {}",
        requests(&without),
        requests(&with_keys)
    );
    let ada = env.user("ada").await.unwrap();
    assert!(ssh_keys(&ada).is_empty(), "{ada}");
    // keys already in the target are left as they are, never removed
    let with = env.sync_ok(&[], &[]).await;
    assert!(
        with.ops().iter().all(|op| op == "update_user"),
        "{}",
        with.all()
    );
    assert!(!ssh_keys(&env.user("ada").await.unwrap()).is_empty());
    let again = env
        .sync_ok(&["--ssh-keys-attribute=none", "--dry-run"], &[])
        .await;
    assert!(
        again.ops().is_empty(),
        "keys present are not removed: {}",
        again.all()
    );

    // a value that is neither is a usage error naming both
    let bad = env
        .sync(&["--dry-run"], &[("SCIM_SSH_KEYS_ATTRIBUTE", "sshKeys")])
        .await;
    assert_eq!(bad.code(), 2, "{}", bad.all());
    let error = bad.report["error"].as_str().unwrap();
    assert!(
        error.contains("none") && error.contains("sunkSshKeys"),
        "{error}"
    );
}
