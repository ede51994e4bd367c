//! Scenario tests of `plan()`.

use scim_diff::{
    ConflictKind, MemberRef, ObservedState, Operation, Policy, RefusalKind, SourceSnapshot,
    UsernameFrom, plan,
};

use crate::common::*;

fn kinds(p: &scim_diff::Plan) -> Vec<(&'static str, String)> {
    p.operations
        .iter()
        .map(|o| (o.kind(), o.external_id().to_owned()))
        .collect()
}

#[test]
fn fresh_target_creates_users_groups_and_members_in_order() {
    let mut ada = su("Ada");
    ada.name = Some("Ada King Lovelace".into());
    let mut bob = su("bob");
    bob.email = None;
    let mut carl = su("carl");
    carl.active = false;
    let s = snapshot(
        vec![carl, bob, ada],
        vec![sg("g1", "hpc", &["Ada", "bob", "carl"])],
    );
    let p = plan(&s, &observed(vec![], vec![]), &Policy::default());
    assert_eq!(
        kinds(&p),
        vec![
            ("create_user", "pw-activate:user:ada".to_owned()),
            ("create_user", "pw-activate:user:bob".to_owned()),
            ("create_group", "pw-activate:group:g1".to_owned()),
            ("update_members", "pw-activate:group:g1".to_owned()),
        ]
    );
    let Operation::CreateUser { user: u, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(u.user_name, "ada@example.org");
    assert_eq!(u.display_name, "Ada King Lovelace");
    assert_eq!(u.name.given_name.as_deref(), Some("Ada King"));
    assert_eq!(u.name.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(u.name.formatted.as_deref(), Some("Ada King Lovelace"));
    assert_eq!(u.emails, vec!["ada@example.org".to_owned()]);
    let Operation::CreateUser { user: b, .. } = &p.operations[1] else {
        panic!()
    };
    assert_eq!(b.user_name, "bob", "no email: falls back to the username");
    assert_eq!(b.display_name, "bob");
    assert!(b.emails.is_empty());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.record == "pw-activate:user:bob")
    );
    let Operation::UpdateMembers {
        id, add, remove, ..
    } = &p.operations[3]
    else {
        panic!()
    };
    assert_eq!(id, &None);
    assert!(remove.is_empty());
    assert_eq!(
        add,
        &vec![
            MemberRef {
                id: None,
                external_id: Some("pw-activate:user:ada".into())
            },
            MemberRef {
                id: None,
                external_id: Some("pw-activate:user:bob".into())
            },
        ],
        "inactive carl is not a member"
    );
    assert!(p.conflicts.is_empty() && p.refusal.is_none());
}

#[test]
fn members_on_create_put_the_first_chunk_in_the_create() {
    let users: Vec<_> = ["a", "b", "c", "d", "e"].into_iter().map(su).collect();
    let s = snapshot(users, vec![sg("g1", "hpc", &["a", "b", "c", "d", "e"])]);
    // u1 (a) is in the target already: its id is known when planning
    let o = observed(vec![ou("u1", "a")], vec![]);
    let policy = Policy {
        max_members_per_patch: 2,
        ..Policy::default()
    };
    let two_steps = plan(&s, &o, &policy);
    let one_step = plan(
        &s,
        &o,
        &Policy {
            group_members_on_create: true,
            ..policy
        },
    );
    let group_ops = |p: &scim_diff::Plan| -> Vec<&'static str> {
        p.operations
            .iter()
            .filter(|op| op.external_id() == "pw-activate:group:g1")
            .map(Operation::kind)
            .collect()
    };
    assert_eq!(
        group_ops(&two_steps),
        [
            "create_group",
            "update_members",
            "update_members",
            "update_members"
        ]
    );
    assert_eq!(
        group_ops(&one_step),
        ["create_group", "update_members", "update_members"],
        "the first chunk goes with the create"
    );
    let Operation::CreateGroup { members, .. } = &one_step.operations[4] else {
        panic!("{}", one_step.render_table())
    };
    let added = |p: &scim_diff::Plan| -> Vec<MemberRef> {
        p.operations
            .iter()
            .flat_map(|op| match op {
                Operation::CreateGroup { members, .. } => members.clone(),
                Operation::UpdateMembers { add, .. } => add.clone(),
                _ => Vec::new(),
            })
            .collect()
    };
    assert_eq!(members.len(), 2);
    assert_eq!(
        members[0],
        MemberRef {
            id: Some("u1".into()),
            external_id: Some("pw-activate:user:a".into())
        }
    );
    assert_eq!(
        added(&one_step),
        added(&two_steps),
        "the same members, fewer writes"
    );
    // what a plan shows says what the create sends
    assert!(one_step.render_table().contains("members +2"));
    // a group without members is created alone either way
    let empty = snapshot(vec![], vec![sg("g2", "web", &[])]);
    let p = plan(
        &empty,
        &observed(vec![], vec![]),
        &Policy {
            group_members_on_create: true,
            allow_mass_changes: true,
            ..Policy::default()
        },
    );
    assert_eq!(
        kinds(&p),
        [("create_group", "pw-activate:group:g2".to_owned())]
    );
}

#[test]
fn username_policy_switch() {
    let s = snapshot(vec![su("Ada")], vec![]);
    let policy = Policy {
        username_from: UsernameFrom::Username,
        ..Policy::default()
    };
    let p = plan(&s, &observed(vec![], vec![]), &policy);
    let Operation::CreateUser { user: u, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(u.user_name, "Ada");
    assert_eq!(u.external_id, "pw-activate:user:ada");
}

#[test]
fn in_sync_target_gives_an_empty_plan_and_user_name_case_is_not_a_change() {
    let s = snapshot(vec![su("ada")], vec![sg("g1", "hpc", &["ada"])]);
    let mut o = ou("u1", "ada");
    o.user_name = "ADA@example.org".into();
    let p = plan(
        &s,
        &observed(vec![o], vec![og("G1", "g1", "hpc", &["u1"])]),
        &Policy::default(),
    );
    assert!(p.is_empty(), "{}", p.render_table());
}

#[test]
fn removed_and_disabled_users_are_deactivated_last_and_returning_users_reactivated() {
    let mut bob = su("bob");
    bob.active = false;
    let mut ada = su("ada");
    ada.name = Some("Ada".into());
    let s = snapshot(vec![ada, bob, su("dan")], vec![]);
    let mut inactive_ada = ou("u1", "ada");
    inactive_ada.active = false;
    let o = observed(
        vec![
            inactive_ada,
            ou("u2", "bob"),
            ou("u3", "carl"),
            ou("u4", "dan"),
        ],
        vec![],
    );
    let p = plan(&s, &o, &Policy::default());
    assert_eq!(
        kinds(&p),
        vec![
            ("reactivate_user", "pw-activate:user:ada".to_owned()),
            ("deactivate_user", "pw-activate:user:bob".to_owned()),
            ("deactivate_user", "pw-activate:user:carl".to_owned()),
        ]
    );
    let Operation::ReactivateUser { id, changes, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(id, "u1", "same SCIM id");
    assert_eq!(changes.attributes(), vec!["displayName", "name"]);
    let Operation::DeactivateUser { id, .. } = &p.operations[2] else {
        panic!()
    };
    assert_eq!(id, "u3");
}

#[test]
fn unmanaged_records_are_never_written_and_their_user_name_is_a_conflict() {
    let s = snapshot(vec![su("ada"), su("bob")], vec![sg("g1", "ops", &["ada"])]);
    let mut foreign = ou("x1", "ada");
    foreign.external_id = Some("okta:ada".into());
    let mut no_ext = ou("x2", "zed");
    no_ext.external_id = None;
    no_ext.active = true;
    let mut foreign_group = og("xg", "g1", "ops", &["x1", "x2"]);
    foreign_group.external_id = None;
    let p = plan(
        &s,
        &observed(vec![foreign, no_ext], vec![foreign_group]),
        &Policy::default(),
    );
    assert_eq!(
        kinds(&p),
        vec![("create_user", "pw-activate:user:bob".to_owned())],
        "no create for ada (userName held), nothing on x1/x2/xg, ops group name held"
    );
    let kinds_c: Vec<_> = p
        .conflicts
        .iter()
        .map(|c| (c.external_id.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds_c,
        vec![
            ("pw-activate:group:g1", ConflictKind::DisplayNameTaken),
            ("pw-activate:user:ada", ConflictKind::UserNameTaken),
        ]
    );
    assert!(p.conflicts[1].message.contains("unmanaged user id x1"));
}

#[test]
fn a_record_with_the_right_external_id_shape_but_no_prefix_is_ignored() {
    let s = snapshot(vec![], vec![]);
    let mut o = ou("u1", "ada");
    o.external_id = Some("other:user:ada".into());
    let p = plan(&s, &observed(vec![o], vec![]), &Policy::default());
    assert!(p.is_empty() && p.refusal.is_none());
}

#[test]
fn duplicate_managed_external_ids_are_left_alone() {
    let s = snapshot(vec![su("ada")], vec![]);
    let mut twin = ou("u2", "ada");
    twin.user_name = "ada2@example.org".into();
    twin.display_name = Some("other".into());
    let p = plan(
        &s,
        &observed(vec![twin, ou("u1", "ada")], vec![]),
        &Policy::default(),
    );
    assert!(p.is_empty());
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].kind, ConflictKind::DuplicateExternalId);
    assert!(p.conflicts[0].message.contains("u1, u2"));
}

#[test]
fn duplicate_emails_in_the_source_sync_one_user_and_report_the_other() {
    let mut a = su("ann");
    a.email = Some("shared@example.org".into());
    let mut b = su("bea");
    b.email = Some("SHARED@example.org".into());
    let s = snapshot(vec![b.clone(), a.clone()], vec![]);
    let p = plan(&s, &observed(vec![], vec![]), &Policy::default());
    assert_eq!(
        kinds(&p),
        vec![("create_user", "pw-activate:user:ann".to_owned())]
    );
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].external_id, "pw-activate:user:bea");
    assert_eq!(p.conflicts[0].kind, ConflictKind::DuplicateUserName);

    // when bea already holds the userName in the target, bea wins and ann is the conflict
    let mut held = ou("u9", "bea");
    held.user_name = "shared@example.org".into();
    held.emails = vec!["SHARED@example.org".into()];
    let p = plan(&s, &observed(vec![held], vec![]), &Policy::default());
    assert!(p.is_empty(), "{}", p.render_table());
    assert_eq!(p.conflicts[0].external_id, "pw-activate:user:ann");
}

#[test]
fn usernames_differing_only_in_case_are_one_conflict_and_the_record_is_left_alone() {
    let s = snapshot(vec![su("ada"), su("ADA")], vec![]);
    let p = plan(
        &s,
        &observed(vec![ou("u1", "ada")], vec![]),
        &Policy::default(),
    );
    assert!(
        p.is_empty(),
        "the existing record is neither updated nor deactivated"
    );
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].kind, ConflictKind::DuplicateExternalId);
}

#[test]
fn group_scope_limits_groups_and_users_and_warns_on_unknown_names() {
    let s = snapshot(
        vec![su("ada"), su("bob"), su("carl")],
        vec![sg("g1", "hpc", &["ada"]), sg("g2", "web", &["bob"])],
    );
    let policy = Policy {
        sync_groups: Some(vec!["hpc".into(), "HPC".into(), "nope".into()]),
        ..Policy::default()
    };
    let p = plan(&s, &observed(vec![ou("u3", "carl")], vec![]), &policy);
    assert_eq!(
        kinds(&p),
        vec![
            ("create_user", "pw-activate:user:ada".to_owned()),
            ("create_group", "pw-activate:group:g1".to_owned()),
            ("update_members", "pw-activate:group:g1".to_owned()),
            ("deactivate_user", "pw-activate:user:carl".to_owned()),
        ]
    );
    let records: Vec<&str> = p.warnings.iter().map(|w| w.record.as_str()).collect();
    assert_eq!(records, vec!["group-scope:HPC", "group-scope:nope"]);
}

#[test]
fn ssh_keys_are_normalised_and_invalid_lines_are_warned_about() {
    let mut ada = su("ada");
    ada.ssh_keys = Some(vec![
        key(2, "laptop"),
        "not a key".into(),
        key(1, ""),
        format!("{}  other-comment", key(2, "")),
    ]);
    let mut bob = su("bob");
    bob.ssh_keys = None;
    let mut carl = su("carl");
    carl.ssh_keys = Some(vec![key(3, "new-comment")]);
    let s = snapshot(vec![ada, bob, carl], vec![]);
    let mut ob = ou("u2", "bob");
    ob.ssh_keys = vec![key(9, "kept")];
    let mut oc = ou("u3", "carl");
    oc.ssh_keys = vec![key(3, "old-comment")];
    let p = plan(&s, &observed(vec![ob, oc], vec![]), &Policy::default());
    assert_eq!(
        kinds(&p),
        vec![("create_user", "pw-activate:user:ada".to_owned())]
    );
    let Operation::CreateUser { user: u, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(u.ssh_keys, Some(vec![key(1, ""), key(2, "laptop")]));
    assert_eq!(p.warnings.len(), 1);
    assert!(
        p.warnings[0]
            .message
            .contains("user ada: SSH key on line 2"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn empty_key_list_clears_the_target_keys() {
    let mut ada = su("ada");
    ada.ssh_keys = Some(vec![]);
    let mut o = ou("u1", "ada");
    o.ssh_keys = vec![key(1, "x")];
    let p = plan(
        &snapshot(vec![ada], vec![]),
        &observed(vec![o], vec![]),
        &Policy::default(),
    );
    let Operation::UpdateUser { changes, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(changes.ssh_keys, Some(vec![]));
    assert_eq!(changes.attributes(), vec!["sunkSshKeys"]);
}

#[test]
fn membership_changes_respect_ownership_and_the_non_provisioned_switch() {
    let s = snapshot(
        vec![su("ada"), su("bob")],
        vec![sg("g1", "hpc", &["ada", "bob"])],
    );
    let mut foreign = ou("x1", "zed");
    foreign.external_id = Some("okta:zed".into());
    let users = vec![ou("u1", "ada"), ou("u2", "bob"), ou("u3", "carl"), foreign];
    let groups = vec![og("G1", "g1", "hpc", &["u1", "u3", "x1", "unknown-id"])];
    let p = plan(
        &s,
        &observed(users.clone(), groups.clone()),
        &Policy::default(),
    );
    let Operation::UpdateMembers { add, remove, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(
        add.iter()
            .map(|m| m.id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["u2"]
    );
    assert_eq!(
        remove
            .iter()
            .map(|m| m.id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["u3", "unknown-id", "x1"]
    );
    let keep = Policy {
        allow_non_provisioned_users: true,
        ..Policy::default()
    };
    let p = plan(&s, &observed(users, groups), &keep);
    let Operation::UpdateMembers { remove, .. } = &p.operations[0] else {
        panic!()
    };
    assert_eq!(
        remove
            .iter()
            .map(|m| m.id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["u3"]
    );
}

#[test]
fn a_member_listed_twice_does_not_hide_a_missing_one() {
    // A target may list one member twice (the list is what the server returned); counting
    // the present members must not mistake the repeat for the member that is missing.
    let s = snapshot(
        vec![su("ada"), su("bob"), su("cy")],
        vec![sg("g1", "hpc", &["ada", "bob", "cy", "cy"])],
    );
    let users = vec![ou("u1", "ada"), ou("u2", "bob"), ou("u3", "cy")];
    let groups = vec![og("G1", "g1", "hpc", &["u1", "u3", "u3"])];
    let p = plan(&s, &observed(users, groups), &Policy::default());
    let ops: Vec<_> = p.operations.iter().collect();
    assert_eq!(ops.len(), 1, "{ops:?}");
    let Operation::UpdateMembers { add, remove, .. } = ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        add.iter()
            .map(|m| m.id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["u2"]
    );
    assert!(remove.is_empty(), "{remove:?}");
}

#[test]
fn vanished_groups_are_emptied_of_managed_members_not_deleted() {
    let s = snapshot(vec![su("ada")], vec![]);
    let mut foreign = ou("x1", "zed");
    foreign.external_id = None;
    let p = plan(
        &s,
        &observed(
            vec![ou("u1", "ada"), foreign],
            vec![og("G1", "g1", "old", &["u1", "x1"])],
        ),
        &Policy::default(),
    );
    assert_eq!(
        kinds(&p),
        vec![("update_members", "pw-activate:group:g1".to_owned())]
    );
    let Operation::UpdateMembers {
        add, remove, id, ..
    } = &p.operations[0]
    else {
        panic!()
    };
    assert_eq!(id.as_deref(), Some("G1"));
    assert!(add.is_empty());
    assert_eq!(
        remove,
        &vec![MemberRef {
            id: Some("u1".into()),
            external_id: Some("pw-activate:user:ada".into())
        }]
    );
}

#[test]
fn renames_keep_the_scim_id() {
    let s = snapshot(vec![], vec![sg("g1", "new-name", &[])]);
    let p = plan(
        &s,
        &observed(vec![], vec![og("G1", "g1", "old-name", &[])]),
        &Policy::default(),
    );
    assert_eq!(
        p.operations,
        vec![Operation::RenameGroup {
            external_id: "pw-activate:group:g1".into(),
            id: "G1".into(),
            from: "old-name".into(),
            to: "new-name".into(),
            wave: 0,
        }]
    );
}

#[test]
fn sync_halves_can_be_switched_off() {
    let s = snapshot(
        vec![su("ada"), su("bob")],
        vec![sg("g1", "hpc", &["ada", "bob"])],
    );
    let o = observed(vec![ou("u1", "ada"), ou("u3", "carl")], vec![]);
    let users_off = Policy {
        enable_user_sync: false,
        ..Policy::default()
    };
    let p = plan(&s, &o, &users_off);
    assert_eq!(
        kinds(&p),
        vec![
            ("create_group", "pw-activate:group:g1".to_owned()),
            ("update_members", "pw-activate:group:g1".to_owned()),
        ]
    );
    let Operation::UpdateMembers { add, .. } = &p.operations[1] else {
        panic!()
    };
    assert_eq!(add.len(), 1, "only the existing synced user ada");
    let groups_off = Policy {
        enable_group_sync: false,
        ..Policy::default()
    };
    let p = plan(&s, &o, &groups_off);
    assert_eq!(
        kinds(&p),
        vec![
            ("create_user", "pw-activate:user:bob".to_owned()),
            ("deactivate_user", "pw-activate:user:carl".to_owned()),
        ]
    );
}

#[test]
fn membership_changes_are_chunked() {
    let names: Vec<String> = (0..250).map(|i| format!("u{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let s = snapshot(
        names.iter().map(|n| su(n)).collect(),
        vec![sg("g1", "big", &refs)],
    );
    let p = plan(&s, &observed(vec![], vec![]), &Policy::default());
    let sizes: Vec<usize> = p
        .operations
        .iter()
        .filter_map(|o| match o {
            Operation::UpdateMembers { add, .. } => Some(add.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    let small = Policy {
        max_members_per_patch: 7,
        ..Policy::default()
    };
    let p = plan(&s, &observed(vec![], vec![]), &small);
    assert_eq!(p.counts()["update_members"], 36);
}

#[test]
fn blast_radius_refuses_mass_deactivations_removals_and_empty_sources() {
    let users: Vec<_> = (0..40)
        .map(|i| ou(&format!("u{i}"), &format!("user{i}")))
        .collect();
    let keep: Vec<_> = (0..40).map(|i| su(&format!("user{i}"))).collect();
    // count limit (default 25) and percentage (default 20%)
    let s = snapshot(keep[..10].to_vec(), vec![]);
    let p = plan(&s, &observed(users.clone(), vec![]), &Policy::default());
    let r: Vec<_> = p
        .refusal
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        r,
        vec![
            RefusalKind::TooManyDeactivations,
            RefusalKind::DeactivationPercent
        ]
    );
    assert_eq!(
        p.deactivations(),
        30,
        "the refused plan still shows what it would do"
    );
    // percentage only
    let s = snapshot(keep[..28].to_vec(), vec![]);
    let p = plan(&s, &observed(users.clone(), vec![]), &Policy::default());
    let r: Vec<_> = p
        .refusal
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(r, vec![RefusalKind::DeactivationPercent]);
    // within the grace count: allowed even though it is > 20% of a small org
    let s = snapshot(vec![su("user0")], vec![]);
    let p = plan(
        &s,
        &observed(users[..3].to_vec(), vec![]),
        &Policy::default(),
    );
    assert_eq!(p.deactivations(), 2);
    assert!(p.refusal.is_none());
    // empty source
    let p = plan(
        &snapshot(vec![], vec![]),
        &observed(users[..2].to_vec(), vec![]),
        &Policy::default(),
    );
    let r: Vec<_> = p
        .refusal
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(r, vec![RefusalKind::EmptySource]);
    // one-run override
    let over = Policy {
        allow_mass_changes: true,
        ..Policy::default()
    };
    assert!(
        plan(
            &snapshot(vec![], vec![]),
            &observed(users.clone(), vec![]),
            &over
        )
        .refusal
        .is_none()
    );
    // membership removals
    let ids: Vec<String> = (0..300).map(|i| format!("x{i}")).collect();
    let idr: Vec<&str> = ids.iter().map(String::as_str).collect();
    let s = snapshot(vec![su("user0")], vec![sg("g1", "hpc", &["user0"])]);
    let p = plan(
        &s,
        &observed(users[..1].to_vec(), vec![og("G1", "g1", "hpc", &idr)]),
        &Policy::default(),
    );
    let r: Vec<_> = p
        .refusal
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(r, vec![RefusalKind::TooManyMembershipRemovals]);
    let p = plan(
        &s,
        &observed(users[..1].to_vec(), vec![og("G1", "g1", "hpc", &idr)]),
        &Policy {
            max_membership_removals: None,
            ..Policy::default()
        },
    );
    assert!(p.refusal.is_none());
}

#[test]
fn an_empty_prefix_is_refused() {
    let policy = Policy {
        external_id_prefix: String::new(),
        ..Policy::default()
    };
    let p = plan(
        &snapshot(vec![su("ada")], vec![]),
        &observed(vec![], vec![]),
        &policy,
    );
    assert!(p.is_empty());
    assert_eq!(
        p.refusal.unwrap().reasons[0].kind,
        RefusalKind::InvalidPolicy
    );
}

/// Reverses every list of both inputs (users, groups, and each group's members).
fn reverse_everything(s: &mut SourceSnapshot, o: &mut ObservedState) {
    s.users.reverse();
    s.groups.reverse();
    for g in &mut s.groups {
        g.members.reverse();
    }
    o.users.reverse();
    o.groups.reverse();
    for g in &mut o.groups {
        g.members.reverse();
    }
}

#[test]
fn plans_do_not_depend_on_input_order() {
    let mut s = snapshot(
        vec![su("ada"), su("bob"), su("carl"), su("dan")],
        vec![
            sg("g1", "hpc", &["ada", "bob"]),
            sg("g2", "web", &["carl", "dan", "ada"]),
        ],
    );
    let mut o = observed(
        vec![ou("u1", "ada"), ou("u5", "eve"), ou("u6", "fay")],
        vec![
            og("G1", "g1", "hpc", &["u5", "u1", "u6"]),
            og("G9", "g9", "gone", &["u6", "u5"]),
        ],
    );
    let p1 = plan(&s, &o, &Policy::default());
    reverse_everything(&mut s, &mut o);
    assert_eq!(plan(&s, &o, &Policy::default()), p1);
}

/// An organisation large enough that planning runs on several threads (above 4096 users)
/// gives the same plan in any input order, so the split between threads cannot show: users
/// created, renamed (one into a name another leaves, one into a name an unmanaged record
/// holds), deactivated, groups with members added and removed, a duplicate key.
#[test]
fn a_large_plan_is_the_same_in_any_order() {
    let n = 6000;
    let users: Vec<_> = (0..n)
        .map(|i| {
            let mut u = su(&format!("user{i:05}"));
            u.ssh_keys = Some(vec![key((i % 200) as u8, "c"), key((i % 200) as u8, "dup")]);
            u
        })
        .collect();
    let groups: Vec<_> = (0..n / 10)
        .map(|g| {
            let members: Vec<String> = (0..20)
                .map(|k| format!("user{:05}", (g * 37 + k * 101) % n))
                .collect();
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            sg(&format!("g{g}"), &format!("group {g}"), &members)
        })
        .collect();
    let mut ousers: Vec<_> = (0..n)
        .filter(|i| i % 50 != 1) // created
        .map(|i| {
            let mut u = ou(&format!("id{i}"), &format!("user{i:05}"));
            u.ssh_keys = vec![key((i % 200) as u8, "c")];
            if i % 97 == 0 {
                u.user_name = format!("old{i}@example.org"); // renamed back
            }
            u
        })
        .collect();
    ousers.extend((0..30).map(|i| ou(&format!("gone{i}"), &format!("leaver{i}"))));
    let mut unmanaged = ou("x1", "user00001");
    unmanaged.external_id = None; // holds the name user00001 wants
    ousers.push(unmanaged);
    let ogroups: Vec<_> = (0..n / 10)
        .map(|g| {
            let ids: Vec<String> = (1..21)
                .map(|k| format!("id{}", (g * 37 + k * 101) % n))
                .chain([format!("gone{}", g % 30)])
                .collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            og(
                &format!("G{g}"),
                &format!("g{g}"),
                &format!("group {g}"),
                &ids,
            )
        })
        .collect();
    let mut s = snapshot(users, groups);
    let mut o = observed(ousers, ogroups);
    let policy = Policy {
        allow_mass_changes: true,
        ..Policy::default()
    };
    let p1 = plan(&s, &o, &policy);
    let kinds = p1.counts();
    for kind in [
        "create_user",
        "update_user",
        "deactivate_user",
        "update_members",
    ] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {kinds:?}"
        );
    }
    assert!(
        !p1.conflicts.is_empty(),
        "the unmanaged holder is a conflict"
    );
    reverse_everything(&mut s, &mut o);
    assert_eq!(plan(&s, &o, &policy), p1);
}

#[test]
fn plan_json_has_op_and_external_id_and_round_trips() {
    let s = snapshot(vec![su("ada")], vec![sg("g1", "hpc", &["ada"])]);
    let p = plan(
        &s,
        &observed(vec![ou("u2", "bob")], vec![]),
        &Policy::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    for op in v["operations"].as_array().unwrap() {
        assert!(op["op"].is_string() && op["externalId"].is_string(), "{op}");
    }
    let back: scim_diff::Plan = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(back, p);
    assert!(p.render_table().contains("deactivate_user"));
}

#[test]
fn reserved_group_names_are_not_synced_and_are_named_in_a_warning() {
    let s = snapshot(
        vec![su("ada")],
        vec![
            sg("g1", "Admin ", &["ada"]),
            sg("g2", "billing_viewer", &["ada"]),
            sg("g3", "hpc", &["ada"]),
        ],
    );
    let p = plan(&s, &observed(vec![], vec![]), &Policy::default());
    let groups: Vec<String> = kinds(&p)
        .into_iter()
        .filter(|(k, _)| *k == "create_group")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(groups, ["pw-activate:group:g3"]);
    for (ext, name) in [
        ("pw-activate:group:g1", "Admin "),
        ("pw-activate:group:g2", "billing_viewer"),
    ] {
        assert!(
            p.warnings.iter().any(|w| w.record == ext
                && w.message.contains(name)
                && w.message.contains("reserves")),
            "{ext}: {:?}",
            p.warnings
        );
    }
    // a target without reserved names syncs them
    let open = Policy {
        reserved_group_names: vec![],
        ..Policy::default()
    };
    let p = plan(&s, &observed(vec![], vec![]), &open);
    assert_eq!(
        kinds(&p)
            .iter()
            .filter(|(k, _)| *k == "create_group")
            .count(),
        3
    );
}

#[test]
fn a_key_value_holding_a_line_break_is_rejected_whole() {
    // one array element that would be two authorized_keys lines downstream
    let injected = format!(
        "{}\n{} command=\"/bin/sh\"",
        key(1, "x@y"),
        key(2, "injected")
    );
    for bad in [
        injected,
        format!("{}\r{}", key(1, "a"), key(2, "b")),
        format!("{} comment\u{1b}[2Jwipe", key(3, "")),
        format!("{} nul\0byte", key(4, "")),
        format!("{} c1\u{85}next-line", key(5, "")),
    ] {
        let mut ada = su("ada");
        ada.ssh_keys = Some(vec![bad.clone(), key(7, "good")]);
        let p = plan(
            &snapshot(vec![ada], vec![]),
            &ObservedState::default(),
            &Policy::default(),
        );
        let Operation::CreateUser { user, .. } = &p.operations[0] else {
            panic!("{:?}", p.operations)
        };
        assert_eq!(user.ssh_keys, Some(vec![key(7, "good")]), "{bad:?}");
        assert_eq!(p.warnings.len(), 1, "{bad:?}: {:?}", p.warnings);
        let w = &p.warnings[0];
        assert!(
            w.message.contains("user ada") && w.message.contains("line break"),
            "{w:?}"
        );
    }
}

#[test]
fn records_with_hostile_or_empty_identifiers_are_not_synced_and_their_records_left_alone() {
    let hostile = [
        "a\nb",
        "nul\0",
        "esc\u{1b}[31m",
        "rtl\u{202e}cod.exe",
        "tab\tbed",
        "   ",
        "",
    ];
    for bad in hostile {
        // as the username, the email and the name of a user who is already in the target
        for field in ["username", "email", "name"] {
            let mut u = su("ada");
            match field {
                "username" => u.username = bad.to_owned(),
                "email" => u.email = Some(format!("ada{bad}@example.org")),
                _ => u.name = Some(format!("Ada {bad} King")),
            }
            if field != "username" && bad.trim().is_empty() {
                continue; // a blank email or name is simply absent
            }
            let existing = ou("u1", if field == "username" { bad } else { "ada" });
            let mut managed = ou("u2", "bob");
            managed.active = true;
            let p = plan(
                &snapshot(vec![u, su("bob")], vec![sg("g1", "team", &["ada", "bob"])]),
                &observed(
                    vec![existing, managed],
                    vec![og("gid", "g1", "team", &["u1", "u2"])],
                ),
                &Policy::default(),
            );
            // nothing names the refused user: no create, no update, no deactivation, and it
            // keeps its membership
            let refused = format!(
                "pw-activate:user:{}",
                if field == "username" { bad } else { "ada" }.to_lowercase()
            );
            assert!(
                p.operations.iter().all(|o| o.external_id() != refused
                    && !matches!(o, Operation::DeactivateUser { .. })),
                "{bad:?} as {field}: {:?}",
                p.operations
            );
            assert!(
                p.operations.iter().all(|o| !matches!(
                    o,
                    Operation::UpdateMembers { remove, .. } if !remove.is_empty()
                )),
                "{bad:?} as {field}: {:?}",
                p.operations
            );
            assert!(
                p.warnings
                    .iter()
                    .any(|w| w.message.contains("is not synced") && w.message.contains(field)),
                "{bad:?} as {field}: {:?}",
                p.warnings
            );
        }
        // as a group's name
        let name = if bad.trim().is_empty() {
            bad.to_owned()
        } else {
            format!("team{bad}")
        };
        let p = plan(
            &snapshot(vec![su("ada")], vec![sg("g1", &name, &["ada"])]),
            &ObservedState::default(),
            &Policy::default(),
        );
        assert!(
            p.operations.iter().all(|o| o.kind() != "create_group"),
            "{bad:?}: {:?}",
            p.operations
        );
        assert!(p.warnings.iter().any(|w| w.message.contains("group")));
    }
}

/// Ada's userName held by `x1`, with this `externalId`; the source has ada (in group g1) and bob.
fn ada_held_by(external_id: Option<&str>) -> (SourceSnapshot, ObservedState) {
    let s = snapshot(vec![su("ada"), su("bob")], vec![sg("g1", "ops", &["ada"])]);
    let mut holder = ou("x1", "ada");
    holder.external_id = external_id.map(str::to_owned);
    holder.active = false;
    (s, observed(vec![holder], vec![]))
}

fn adopting(prefixes: &[&str]) -> Policy {
    Policy {
        adoption: scim_diff::Adoption {
            users: true,
            groups: true,
            external_id_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        },
        ..Policy::default()
    }
}

#[test]
fn an_unmanaged_holder_is_adopted_only_when_asked_and_the_rule_allows_it() {
    // off: a conflict, as always
    let (s, o) = ada_held_by(None);
    let p = plan(&s, &o, &Policy::default());
    assert_eq!(p.conflicts.len(), 1, "{}", p.render_table());
    assert!(
        p.conflicts[0].message.contains("(no externalId)"),
        "{:?}",
        p.conflicts
    );

    // on, no externalId: adopted, keeps its id, and becomes a member of g1 by that id
    let p = plan(&s, &o, &adopting(&[]));
    assert!(p.conflicts.is_empty(), "{}", p.render_table());
    let adopt = p
        .operations
        .iter()
        .find(|op| op.kind() == "adopt_user")
        .expect("an adoption");
    let Operation::AdoptUser {
        external_id,
        id,
        previous_external_id,
        changes,
    } = adopt
    else {
        unreachable!()
    };
    assert_eq!(external_id, "pw-activate:user:ada");
    assert_eq!(id, "x1");
    assert_eq!(previous_external_id, &None);
    assert_eq!(changes.user_name.as_deref(), Some("ada@example.org"));
    assert!(changes.emails.is_some() && changes.name.is_some());
    let adds: Vec<&MemberRef> = p
        .operations
        .iter()
        .filter_map(|op| match op {
            Operation::UpdateMembers { add, .. } => Some(add),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].id.as_deref(), Some("x1"));
    assert!(kinds(&p).contains(&("create_user", "pw-activate:user:bob".to_owned())));

    // a foreign externalId: adopted only when its prefix is allowed
    let (s, o) = ada_held_by(Some("okta:00u1"));
    let p = plan(&s, &o, &adopting(&[]));
    assert_eq!(p.conflicts.len(), 1, "{}", p.render_table());
    assert!(!kinds(&p).iter().any(|(k, _)| *k == "adopt_user"));
    let p = plan(&s, &o, &adopting(&["okta:"]));
    assert!(p.conflicts.is_empty(), "{}", p.render_table());
    assert!(kinds(&p).iter().any(|(k, _)| *k == "adopt_user"));
}

#[test]
fn adoptions_above_the_limit_refuse_the_plan() {
    let (s, o) = ada_held_by(None);
    let p = plan(
        &s,
        &o,
        &Policy {
            max_adoptions: Some(0),
            ..adopting(&[])
        },
    );
    let refusal = p.refusal.as_ref().expect("refused");
    assert_eq!(refusal.reasons[0].kind, RefusalKind::TooManyAdoptions);
    let p = plan(
        &s,
        &o,
        &Policy {
            max_adoptions: Some(0),
            allow_mass_changes: true,
            ..adopting(&[])
        },
    );
    assert!(p.refusal.is_none());
}

#[test]
fn a_reserved_group_name_is_never_adopted() {
    let s = snapshot(vec![su("ada")], vec![sg("g1", "admin", &["ada"])]);
    let mut holder = og("x9", "g1", "admin", &[]);
    holder.external_id = None;
    let p = plan(&s, &observed(vec![], vec![holder]), &adopting(&[]));
    assert!(
        !kinds(&p).iter().any(|(k, _)| *k == "adopt_group"),
        "{}",
        p.render_table()
    );
    assert!(!p.warnings.is_empty(), "the reserved name is warned about");
}
