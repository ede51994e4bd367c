//! `export --out FILE` and the export format as `--source-file` reads it: strict, validated
//! before any request, and the same organization as the API.

use serde_json::Value;

use crate::harness::Env;
use crate::targets::Target;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_replays_as_the_same_plan_as_the_api() {
    let env = Env::sample(Target::embedded().await).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org.json");
    let file = file.to_str().unwrap();

    env.target.mark();
    let run = env
        .run_raw(
            vec![
                "export".into(),
                "--out".into(),
                file.into(),
                "--output".into(),
                "json".into(),
            ],
            &[],
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["command"], "export");
    assert_eq!(report["users"], 36, "{report}");
    assert_eq!(env.target.writes_seen(), Some(0));
    assert!(
        env.target.users().await.is_empty(),
        "the target is not contacted"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "an export names people: owner only");
    }
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        !text.contains(crate::harness::API_KEY),
        "no secret in the export"
    );
    scim_diff::SourceSnapshot::from_json(&text).expect("a valid export");

    let from_api = env.sync_ok(&["--dry-run"], &[]).await;
    let from_file = env
        .sync_ok(&["--dry-run", "--source-file", file], &[])
        .await;
    assert_eq!(from_file.report["plan"], from_api.report["plan"]);
    assert_eq!(from_file.report["requests"]["activate"]["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_export_is_refused_with_its_path_and_line_before_any_request() {
    let env = Env::sample(Target::embedded().await).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("array.json", "[]", "an ACTIVATE export: a JSON object"),
        ("empty.json", "{}", "missing field `version`"),
        (
            "typo.json",
            "{\"version\": 1,\n \"user\": []}",
            "unknown field `user`",
        ),
        (
            "field.json",
            "{\"version\": 1,\n \"users\": [\n  {\"username\": \"a\", \"emial\": \"a@x\"}]}",
            "users[0].emial",
        ),
        (
            "future.json",
            "{\"version\": 7, \"users\": []}",
            "version 7",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        env.target.mark();
        let s = env
            .sync(&["--dry-run", "--source-file", path.to_str().unwrap()], &[])
            .await;
        assert_eq!(s.code(), 4, "{name}: {}", s.all());
        let error = s.report["error"].as_str().unwrap();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            !error.contains("SourceSnapshot"),
            "{name}: no Rust type names: {error}"
        );
        if name == "typo.json" || name == "field.json" {
            assert!(
                error.contains("line "),
                "{name}: the line is named: {error}"
            );
        }
        assert_eq!(
            s.report["requests"]["scim"]["count"], 0,
            "{name}: read before any request"
        );
        assert_eq!(env.target.writes_seen(), Some(0));
    }
}
