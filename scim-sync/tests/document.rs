//! The document of a run: its JSON fields (a contract) and its text rendering.

use std::sync::Arc;

use scim_diff::{Operation, Plan};
use scim_sync::document::{Document as Report, FailedOp, Outcome};
use scim_sync::{OpCounts, Summary};
use serde_json::{Value, json};

fn op(v: Value) -> Operation {
    serde_json::from_value(v).unwrap()
}

fn user(name: &str) -> Operation {
    op(json!({
        "op": "create_user",
        "externalId": format!("pw-activate:user:{name}"),
        "userName": format!("{name}@x"),
        "displayName": name,
        "name": {"formatted": name},
        "emails": [format!("{name}@x")],
    }))
}

fn sample_plan() -> Plan {
    Plan {
        operations: vec![
            user("ada"),
            user("bob"),
            op(json!({
                "op": "create_group",
                "externalId": "pw-activate:group:g1",
                "displayName": "g1",
            })),
        ],
        ..Plan::default()
    }
}

fn sample() -> Report {
    let mut r = Report::new("reconcile", false);
    r.set_plan(Arc::new(sample_plan()), Arc::default());
    let counts = |planned, done, failed, skipped| OpCounts {
        planned,
        done,
        failed,
        skipped,
    };
    r.summary = Summary {
        planned: 3,
        done: 1,
        failed: 1,
        skipped: 1,
        by_op: [
            ("create_user".to_owned(), counts(2, 1, 1, 0)),
            ("create_group".to_owned(), counts(1, 0, 0, 1)),
        ]
        .into(),
    };
    r.failed.push(FailedOp {
        op: "create_user".into(),
        external_id: "pw-activate:user:bob".into(),
        error: "409 uniqueness".into(),
    });
    r.finish(Outcome::Failed);
    r
}

#[test]
fn json_has_the_documented_fields() {
    let v: Value = serde_json::from_str(&sample().to_json()).unwrap();
    for key in [
        "dry_run",
        "plan",
        "summary",
        "failed",
        "warnings",
        "requests",
        "phases_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["outcome"], "failed");
    assert_eq!(v["summary"]["planned"], 3);
    assert_eq!(v["summary"]["by_op"]["create_user"]["planned"], 2);
    assert_eq!(v["summary"]["by_op"]["create_user"]["failed"], 1);
    assert_eq!(v["summary"]["by_op"]["create_group"]["skipped"], 1);
    assert_eq!(v["summary"]["done"], 1);
    assert_eq!(v["failed"][0]["externalId"], "pw-activate:user:bob");
    assert_eq!(v["requests"]["scim"]["throttled"], 0);
}

#[test]
fn plan_serializes_as_the_engine_serializes_its_operations() {
    let report: Value = serde_json::from_str(&sample().to_json()).unwrap();
    let engine: Vec<Value> = sample_plan()
        .operations
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    assert_eq!(report["plan"], Value::Array(engine));
    assert_eq!(report["plan"][0]["op"], "create_user");
    assert_eq!(report["plan"][0]["userName"], "ada@x");
    assert_eq!(report["plan"][2]["externalId"], "pw-activate:group:g1");
    let empty: Value = serde_json::from_str(&Report::new("check", true).to_json()).unwrap();
    assert_eq!(empty["plan"], json!([]));
}

#[test]
fn text_shows_plan_failures_and_outcome() {
    let text = sample().render_text();
    assert!(
        text.starts_with("Plan: 2 users to create; 1 group to create.\n"),
        "{text}"
    );
    assert!(text.contains("pw-activate:user:ada"), "{text}");
    assert!(text.contains("Total: 3 operation(s)"), "{text}");
    let mut plan = sample_plan();
    plan.warnings = vec![scim_diff::Warning {
        record: "g".into(),
        message: "shown".into(),
        kind: scim_diff::WarningKind::NoEmail,
    }];
    let mut with_table = sample();
    with_table.set_plan(Arc::new(plan), Arc::default());
    with_table.warnings = vec!["g: shown".into(), "source: not shown".into()];
    let t = with_table.render_text();
    assert_eq!(t.matches("g: shown").count(), 1, "{t}");
    assert!(t.contains("  - source: not shown"), "{t}");
    assert!(
        text.contains("Result: 1 done, 1 failed, 1 skipped (create_user 1)"),
        "{text}"
    );
    assert!(text.contains("create_user pw-activate:user:bob: 409 uniqueness"));
    assert!(text.contains("Outcome: failed (exit 1)"), "{text}");
}

#[test]
fn empty_report_renders_its_outcome() {
    let mut r = Report::new("reconcile", false);
    r.finish(Outcome::Ok);
    let text = r.render_text();
    assert!(text.contains("Outcome: ok (exit 0)"));
    assert!(!text.contains("Plan"), "{text}");
}
