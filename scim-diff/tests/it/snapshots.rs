//! insta snapshots of rendered plans (table and JSON) for readable scenarios.

use scim_diff::review::Review;
use scim_diff::{Policy, plan};

use crate::common::*;

fn check(name: &str, p: &scim_diff::Plan, o: &scim_diff::ObservedState) {
    insta::assert_snapshot!(format!("{name}_table"), p.render_table());
    insta::assert_snapshot!(format!("{name}_json"), p.to_json());
    // the review: names, old -> new, keys by fingerprint
    let review = Review::new(p, o);
    insta::assert_snapshot!(format!("{name}_review"), review.render());
    let ops: Vec<_> = p
        .operations
        .iter()
        .map(|op| review.operation_json(op))
        .collect();
    insta::assert_snapshot!(
        format!("{name}_review_json"),
        serde_json::to_string_pretty(&ops).unwrap()
    );
}

#[test]
fn first_run_against_an_empty_target() {
    let mut ada = su("Ada");
    ada.name = Some("Ada King Lovelace".into());
    ada.ssh_keys = Some(vec![key(1, "ada@laptop"), "ssh-rsa garbage".into()]);
    let mut bob = su("bob");
    bob.email = None;
    let mut carl = su("carl");
    carl.active = false;
    let s = snapshot(
        vec![ada, bob, carl],
        vec![
            sg("42", "hpc-users", &["Ada", "bob", "carl"]),
            sg("7", "viewers", &["bob"]),
        ],
    );
    let o = observed(vec![], vec![]);
    check("first_run", &plan(&s, &o, &Policy::default()), &o);
}

#[test]
fn first_run_with_members_sent_on_create() {
    let s = snapshot(
        vec![su("ada"), su("bob")],
        vec![
            sg("42", "hpc-users", &["ada", "bob"]),
            sg("7", "viewers", &["bob"]),
        ],
    );
    let o = observed(vec![ou("u-ada", "ada")], vec![]);
    let policy = Policy {
        group_members_on_create: true,
        ..Policy::default()
    };
    check("members_on_create", &plan(&s, &o, &policy), &o);
}

#[test]
fn drift_renames_returns_leavers_and_conflicts() {
    let mut ada = su("ada");
    ada.email = Some("ada.lovelace@example.org".into());
    ada.ssh_keys = Some(vec![key(1, "ada@laptop")]);
    let s = snapshot(
        vec![ada, su("bob"), su("dan")],
        vec![sg("42", "hpc", &["ada", "bob", "dan"])],
    );
    let mut bob = ou("u-bob", "bob");
    bob.active = false;
    let mut ada_now = ou("u-ada", "ada");
    ada_now.ssh_keys = vec![key(2, "ada@old-laptop")];
    let mut foreign = ou("x-dan", "dan");
    foreign.external_id = Some("okta:00u1".into());
    let o = observed(
        vec![ada_now, bob, ou("u-carl", "carl"), foreign],
        vec![
            og("g-42", "42", "hpc-users", &["u-ada", "u-carl", "x-dan"]),
            og("g-9", "9", "retired", &["u-carl", "x-dan"]),
        ],
    );
    let policy = Policy {
        sync_groups: Some(vec!["hpc".into(), "gpu".into()]),
        ..Policy::default()
    };
    check("drift", &plan(&s, &o, &policy), &o);
}

#[test]
fn a_shrunk_source_is_refused() {
    let users: Vec<_> = (0..40)
        .map(|i| ou(&format!("u{i:02}"), &format!("user{i:02}")))
        .collect();
    let s = snapshot(vec![su("user00"), su("user01")], vec![]);
    let p = plan(&s, &observed(users, vec![]), &Policy::default());
    assert!(p.is_refused());
    insta::assert_snapshot!("refused_table", p.render_table());
    let json = serde_json::to_string_pretty(&p.refusal).unwrap();
    insta::assert_snapshot!("refused_json", json);
}
