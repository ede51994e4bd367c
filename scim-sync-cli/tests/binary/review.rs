//! The plan as an operator reads it: the review of the sample organization (an insta
//! snapshot), and `--summary`.

use crate::support::run;

/// The demo's output with the embedded server's random port taken out.
fn without_port(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(before);
        out.push_str("PORT");
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
fn the_sample_organizations_plan_reads_as_a_review() {
    let r = run(&["demo", "--dry-run"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    insta::assert_snapshot!("sample_org_dry_run", without_port(&r.stdout));
}

#[test]
fn summary_shows_the_header_and_counts_without_a_line_per_operation() {
    let r = run(&["demo", "--dry-run", "--summary"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains(
            "Plan: 32 users to create; 8 groups to create; 59 membership changes (59 added, 0 \
             removed, in 7 groups)."
        ),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("create_user"), "{}", r.all());
    // the warnings, counted by kind
    let counts = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Warnings ("))
        .unwrap_or_else(|| panic!("a warnings line: {}", r.all()));
    assert!(counts.contains("invalid_ssh_key 1"), "{counts}");
    assert!(counts.contains("no_email 1"), "{counts}");

    // the JSON report has the header too, and the counts
    let r = run(&["demo", "--dry-run", "--output", "json"], &[]);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    let pass = &v["passes"][0];
    assert!(
        pass["plan_header"]
            .as_str()
            .is_some_and(|h| h.starts_with("Plan: 32 users to create")),
        "{pass}"
    );
    assert_eq!(pass["warning_counts"]["no_email"], 1, "{pass}");
    let members = pass["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["op"] == "update_members")
        .expect("a membership change");
    assert!(members["displayName"].is_string(), "{members}");
    assert!(members["addUserNames"].is_array(), "{members}");
}
