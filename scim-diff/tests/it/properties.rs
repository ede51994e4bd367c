//! The seven properties of issue #3, checked against the in-memory oracle target.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use scim_diff::memory::MemoryTarget;
use scim_diff::projection::project;
use scim_diff::ssh::comparable_target_keys;
use scim_diff::{
    Adoption, ApplyOptions, ObservedGroup, ObservedState, ObservedUser, Policy, SourceGroup,
    SourceSnapshot, SourceUser, UsernameFrom, apply, plan,
};

use crate::common::{block_on, key};

const NAMES: &[&str] = &["ada", "Ada", "bob", "carl", "dan", "eve", "fay", "gus"];
const GROUP_IDS: &[&str] = &["g1", "g2", "g3", "g4"];
const GROUP_NAMES: &[&str] = &["hpc", "HPC", "web", "admin", "ml"];
const PREFIX: &str = "pw-activate:";

fn key_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u8..5, prop::sample::select(vec!["", "laptop", "work"]))
            .prop_map(|(seed, c)| key(seed, c)),
        Just("not a key".to_owned()),
        Just("# comment".to_owned()),
        Just(String::new()),
    ]
}

fn keys() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(key_line(), 0..4))
}

fn email() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("shared@x.org".to_owned())),
        prop::sample::select(NAMES).prop_map(|n| Some(format!("{}@x.org", n.to_lowercase()))),
    ]
}

fn full_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "Ada Lovelace",
        "Bob",
        "Carl F Gauss",
    ]))
    .prop_map(|n| n.map(str::to_owned))
}

fn source_user() -> impl Strategy<Value = SourceUser> {
    (
        prop::sample::select(NAMES),
        email(),
        full_name(),
        prop::bool::weighted(0.8),
        keys(),
    )
        .prop_map(|(u, email, name, active, ssh_keys)| SourceUser {
            username: u.to_owned(),
            email,
            name,
            active,
            ssh_keys,
        })
}

fn source_group() -> impl Strategy<Value = SourceGroup> {
    (
        prop::sample::select(GROUP_IDS),
        prop::sample::select(GROUP_NAMES),
        prop::sample::subsequence(NAMES, 0..5),
    )
        .prop_map(|(id, name, members)| SourceGroup {
            id: id.to_owned(),
            name: name.to_owned(),
            members: members.into_iter().map(str::to_owned).collect(),
        })
}

fn source() -> impl Strategy<Value = SourceSnapshot> {
    (
        prop::collection::vec(source_user(), 0..8),
        prop::collection::vec(source_group(), 0..4),
    )
        .prop_map(|(mut users, groups)| {
            // ACTIVATE usernames are unique (case-sensitively): keep the first of each
            let mut seen = BTreeSet::new();
            users.retain(|u| seen.insert(u.username.clone()));
            SourceSnapshot {
                version: 1,
                organization: None,
                users,
                groups,
            }
        })
}

/// An observed user template; ids are assigned by position.
fn observed_user() -> impl Strategy<Value = (ObservedUser, u8)> {
    (
        prop::sample::select(NAMES),
        0u8..10, // ownership: <6 managed, 6..8 unmanaged (foreign prefix), else none
        email(),
        full_name(),
        prop::bool::weighted(0.7),
        prop::collection::vec(key_line(), 0..3),
    )
        .prop_map(|(n, own, email, name, active, ssh_keys)| {
            let external_id = match own {
                0..6 => Some(format!("{PREFIX}user:{}", n.to_lowercase())),
                6..8 => Some(format!("okta:{n}")),
                _ => None,
            };
            let user_name = email.clone().unwrap_or_else(|| n.to_owned());
            (
                ObservedUser {
                    id: String::new(),
                    version: None,
                    external_id,
                    user_name,
                    display_name: name.clone().or(Some(n.to_owned())),
                    name: Default::default(),
                    emails: email.into_iter().collect(),
                    active,
                    ssh_keys: ssh_keys.into_iter().filter(|k| !k.is_empty()).collect(),
                },
                own,
            )
        })
}

fn observed_group() -> impl Strategy<Value = (ObservedGroup, Vec<usize>)> {
    (
        prop::sample::select(GROUP_IDS),
        prop::bool::weighted(0.75),
        prop::sample::select(GROUP_NAMES),
        prop::collection::vec(0usize..12, 0..5),
    )
        .prop_map(|(gid, managed, name, members)| {
            (
                ObservedGroup {
                    id: String::new(),
                    version: None,
                    external_id: managed.then(|| format!("{PREFIX}group:{gid}")),
                    display_name: name.to_owned(),
                    members: Vec::new(),
                },
                members,
            )
        })
}

fn observed() -> impl Strategy<Value = ObservedState> {
    (
        prop::collection::vec(observed_user(), 0..8),
        prop::collection::vec(observed_group(), 0..4),
    )
        .prop_map(|(users, groups)| {
            let users: Vec<ObservedUser> = users
                .into_iter()
                .enumerate()
                .map(|(i, (mut u, _))| {
                    u.id = format!("t-u{i}");
                    u
                })
                .collect();
            let groups = groups
                .into_iter()
                .enumerate()
                .map(|(i, (mut g, members))| {
                    g.id = format!("t-g{i}");
                    // members: existing users by index, or ids the target does not know
                    g.members = members
                        .into_iter()
                        .map(|m| users.get(m).map_or(format!("ghost{m}"), |u| u.id.clone()))
                        .collect();
                    g.members.sort();
                    g.members.dedup();
                    g
                })
                .collect();
            ObservedState { users, groups }
        })
}

fn policy(mass: bool) -> impl Strategy<Value = Policy> {
    (
        prop::bool::ANY,
        prop::option::weighted(
            0.3,
            prop::sample::subsequence(vec!["hpc", "HPC", "web", "nope"], 0..3),
        ),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::ANY,
        1usize..4,
        (0usize..3, 0u32..50, 0usize..4, prop::bool::ANY),
    )
        .prop_map(
            move |(by_name, scope, users, groups, keep, chunk, (md, mp, mr, on_create))| Policy {
                username_from: if by_name {
                    UsernameFrom::Username
                } else {
                    UsernameFrom::Email
                },
                sync_groups: scope.map(|s| s.into_iter().map(str::to_owned).collect()),
                enable_user_sync: users,
                enable_group_sync: groups,
                allow_non_provisioned_users: keep,
                max_members_per_patch: chunk,
                allow_mass_changes: mass,
                max_deactivations: Some(md),
                max_deactivation_percent: Some(mp),
                max_membership_removals: Some(mr),
                group_members_on_create: on_create,
                ..Policy::default()
            },
        )
}

/// A policy that adopts users: with no `externalId`, and sometimes with `okta:` ones.
fn adopting_policy() -> impl Strategy<Value = Policy> {
    (policy(true), prop::bool::ANY, prop::bool::ANY).prop_map(|(p, okta, groups)| Policy {
        adoption: Adoption {
            users: true,
            groups,
            external_id_prefixes: if okta { vec!["okta:".into()] } else { vec![] },
        },
        max_adoptions: None,
        ..p
    })
}

fn managed(ext: &Option<String>) -> bool {
    ext.as_deref().is_some_and(|e| e.starts_with(PREFIX))
}

fn run(
    s: &SourceSnapshot,
    o: &ObservedState,
    p: &Policy,
) -> (scim_diff::Plan, MemoryTarget, scim_diff::ApplyReport) {
    let pl = plan(s, o, p);
    let target = MemoryTarget::new(o.clone());
    let options = ApplyOptions {
        adoption: p.adoption.clone(),
        ..ApplyOptions::default()
    };
    let report = block_on(apply(&pl, &target, &options));
    (pl, target, report)
}

fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let j = (*seed % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/properties.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// 1. convergence: after apply(plan(s, o)), planning again yields no operation.
    #[test]
    fn convergence(s in source(), o in observed(), p in policy(true)) {
        let (pl, target, report) = run(&s, &o, &p);
        prop_assert!(report.is_success(), "{}\n{report:#?}", pl.render_table());
        let again = plan(&s, &target.state(), &p);
        prop_assert!(again.is_empty(), "first:\n{}\nsecond:\n{}", pl.render_table(), again.render_table());
    }

    /// 2. the end state matches the projection of the source exactly (for every record
    ///    that is not reported as a conflict).
    #[test]
    fn end_state_matches_projection(s in source(), o in observed(), p in policy(true)) {
        let (pl, target, _) = run(&s, &o, &p);
        let end = target.state();
        let conflicted: BTreeSet<&str> = pl.conflicts.iter().map(|c| c.external_id.as_str()).collect();
        let holder = |ext: &str, lower: &str| -> bool {
            let hs: Vec<&ObservedUser> = o.users.iter().filter(|u| u.external_id.as_deref() == Some(ext)).collect();
            hs.len() == 1 && hs[0].user_name.to_lowercase() == lower
        };
        let gholder = |ext: &str, lower: &str| -> bool {
            let hs: Vec<&ObservedGroup> = o.groups.iter().filter(|g| g.external_id.as_deref() == Some(ext)).collect();
            hs.len() == 1 && hs[0].display_name.to_lowercase() == lower
        };
        let desired = project(&s, &p, &holder, &gholder);
        let by_ext = |ext: &str| -> Vec<&ObservedUser> {
            end.users.iter().filter(|u| u.external_id.as_deref() == Some(ext)).collect()
        };
        if p.enable_user_sync {
            for d in desired.users.iter().filter(|d| !conflicted.contains(d.external_id.as_str())) {
                let found = by_ext(&d.external_id);
                prop_assert_eq!(found.len(), 1, "{}", d.external_id);
                let u = found[0];
                prop_assert!(u.active);
                prop_assert_eq!(u.user_name.to_lowercase(), d.user_name.to_lowercase());
                prop_assert_eq!(u.display_name.as_deref(), Some(d.display_name.as_str()));
                prop_assert_eq!(&u.name, &d.name);
                prop_assert_eq!(
                    u.emails.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>(),
                    d.emails.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>()
                );
                if let Some(k) = &d.ssh_keys {
                    prop_assert_eq!(comparable_target_keys(&u.ssh_keys), comparable_target_keys(k));
                }
            }
            let wanted: BTreeSet<&str> = desired.users.iter().map(|d| d.external_id.as_str()).collect();
            let mut count: BTreeMap<&str, usize> = BTreeMap::new();
            for u in end.users.iter().filter(|u| managed(&u.external_id)) {
                *count.entry(u.external_id.as_deref().unwrap()).or_default() += 1;
            }
            for u in end.users.iter().filter(|u| managed(&u.external_id)) {
                let ext = u.external_id.as_deref().unwrap();
                if !wanted.contains(ext) && !conflicted.contains(ext) && count[ext] == 1 {
                    prop_assert!(!u.active, "{ext} should be inactive");
                }
            }
        }
        if p.enable_group_sync {
            let active_ids: BTreeMap<&str, &str> = end
                .users
                .iter()
                .filter(|u| u.active && managed(&u.external_id))
                .map(|u| (u.external_id.as_deref().unwrap(), u.id.as_str()))
                .collect();
            let managed_ids: BTreeSet<&str> = end.users.iter().filter(|u| managed(&u.external_id)).map(|u| u.id.as_str()).collect();
            for dg in desired.groups.iter().filter(|g| !conflicted.contains(g.external_id.as_str())) {
                let found: Vec<&ObservedGroup> = end.groups.iter().filter(|g| g.external_id.as_deref() == Some(dg.external_id.as_str())).collect();
                prop_assert_eq!(found.len(), 1);
                let g = found[0];
                prop_assert_eq!(&g.display_name, &dg.display_name);
                let expected: BTreeSet<&str> = dg
                    .members
                    .iter()
                    .filter(|m| !conflicted.contains(m.as_str()))
                    .filter_map(|m| active_ids.get(m.as_str()).copied())
                    .collect();
                let has_managed: BTreeSet<&str> = g
                    .members
                    .iter()
                    .map(String::as_str)
                    .filter(|m| managed_ids.contains(m))
                    .filter(|m| {
                        let ext = end.users.iter().find(|u| u.id == *m).and_then(|u| u.external_id.as_deref()).unwrap();
                        !conflicted.contains(ext) && count_ext(&end, ext) == 1
                    })
                    .collect();
                prop_assert_eq!(has_managed, expected, "members of {}", dg.external_id);
                let foreign: Vec<&String> = g.members.iter().filter(|m| !managed_ids.contains(m.as_str())).collect();
                if !p.allow_non_provisioned_users {
                    prop_assert!(foreign.is_empty(), "non-provisioned members kept: {:?}", foreign);
                }
            }
        }
    }

    /// 3. records without the prefix are never written, whatever the input.
    #[test]
    fn unmanaged_records_are_never_written(s in source(), o in observed(), p in policy(false), mass in any::<bool>()) {
        let p = Policy { allow_mass_changes: mass, ..p };
        let (_, target, _) = run(&s, &o, &p);
        let foreign: BTreeSet<&str> = o.users.iter().filter(|u| !managed(&u.external_id)).map(|u| u.id.as_str())
            .chain(o.groups.iter().filter(|g| !managed(&g.external_id)).map(|g| g.id.as_str()))
            .collect();
        for w in target.writes() {
            prop_assert!(!foreign.contains(w.id.as_str()), "write to foreign record {w:?}");
        }
        let end = target.state();
        for u in o.users.iter().filter(|u| !managed(&u.external_id)) {
            prop_assert_eq!(Some(u), end.users.iter().find(|e| e.id == u.id));
        }
        for g in o.groups.iter().filter(|g| !managed(&g.external_id)) {
            prop_assert_eq!(Some(g), end.groups.iter().find(|e| e.id == g.id));
        }
    }

    /// 4. nothing is ever deleted; removed users end inactive with the same SCIM id.
    #[test]
    fn nothing_is_deleted(s in source(), o in observed(), p in policy(true)) {
        let (pl, target, _) = run(&s, &o, &p);
        let end = target.state();
        for u in &o.users {
            prop_assert!(end.users.iter().any(|e| e.id == u.id), "user {} deleted", u.id);
        }
        for g in &o.groups {
            prop_assert!(end.groups.iter().any(|e| e.id == g.id), "group {} deleted", g.id);
        }
        if p.enable_user_sync {
            let wanted: BTreeSet<String> = s.users.iter().filter(|u| u.active).map(|u| format!("{PREFIX}user:{}", u.username.to_lowercase())).collect();
            let conflicted: BTreeSet<&str> = pl.conflicts.iter().map(|c| c.external_id.as_str()).collect();
            for u in o.users.iter().filter(|u| managed(&u.external_id)) {
                let ext = u.external_id.as_deref().unwrap();
                if p.sync_groups.is_none() && !wanted.contains(ext) && !conflicted.contains(ext) && count_ext(&o, ext) == 1 {
                    let e = end.users.iter().find(|e| e.id == u.id).unwrap();
                    prop_assert!(!e.active, "{} removed from the source but active", ext);
                }
            }
        }
    }

    /// 5. plans are independent of input order.
    #[test]
    fn plans_are_the_same_on_one_thread_and_on_several(s in source(), o in observed(), p in policy(true)) {
        // the inputs here are far below the threading threshold: forcing threads makes the
        // threaded passes (and their merge of per-thread results) run on them
        let sequential = scim_diff::plan_with(&s, &o, &p, scim_diff::Parallelism::Sequential);
        let threaded = scim_diff::plan_with(&s, &o, &p, scim_diff::Parallelism::Threaded);
        prop_assert_eq!(&sequential, &threaded);
        prop_assert_eq!(&sequential, &plan(&s, &o, &p));
    }

    #[test]
    fn plans_are_independent_of_input_order(s in source(), o in observed(), p in policy(false), seed in 1u64..u64::MAX) {
        let expected = plan(&s, &o, &p);
        let (mut s2, mut o2, mut seed) = (s.clone(), o.clone(), seed);
        shuffle(&mut s2.users, &mut seed);
        shuffle(&mut s2.groups, &mut seed);
        for g in &mut s2.groups { shuffle(&mut g.members, &mut seed); }
        shuffle(&mut o2.users, &mut seed);
        shuffle(&mut o2.groups, &mut seed);
        for g in &mut o2.groups { shuffle(&mut g.members, &mut seed); }
        prop_assert_eq!(plan(&s2, &o2, &p), expected);
    }

    /// 6. a refused plan performs no write.
    #[test]
    fn a_refused_plan_performs_no_write(s in source(), o in observed(), p in policy(false)) {
        let (pl, target, report) = run(&s, &o, &p);
        if pl.is_refused() {
            prop_assert!(target.writes().is_empty());
            prop_assert_eq!(target.state(), { let mut o = o.clone(); o.users.sort_by(|a, b| a.id.cmp(&b.id)); o.groups.sort_by(|a, b| a.id.cmp(&b.id)); o });
            prop_assert_eq!(report.totals().skipped, pl.operations.len());
        }
    }

    /// 8. with adoption on, only records the rule allows are taken over, each at most once
    ///    and only by adopting it; the run converges; with it off (property 3), no
    ///    unmanaged record is written at all.
    #[test]
    fn adoption_touches_only_what_the_rule_allows_once(s in source(), o in observed(), p in adopting_policy()) {
        // a target that keeps userNames and group names unique
        let o = with_unique_names(o);
        let (pl, target, report) = run(&s, &o, &p);
        prop_assert!(report.is_success(), "{}\n{report:#?}", pl.render_table());
        let allowed = |e: &Option<String>| match e.as_deref() {
            None => true,
            Some(e) => p.adoption.external_id_prefixes.iter().any(|x| e.starts_with(x.as_str())),
        };
        let adoptable: BTreeSet<&str> = o.users.iter()
            .filter(|u| !managed(&u.external_id) && allowed(&u.external_id))
            .map(|u| u.id.as_str())
            .chain(o.groups.iter()
                .filter(|g| p.adoption.groups && !managed(&g.external_id) && allowed(&g.external_id))
                .map(|g| g.id.as_str()))
            .collect();
        let foreign: BTreeSet<&str> = o.users.iter().filter(|u| !managed(&u.external_id)).map(|u| u.id.as_str())
            .chain(o.groups.iter().filter(|g| !managed(&g.external_id)).map(|g| g.id.as_str()))
            .collect();
        let writes = target.writes();
        let mut adoptions: BTreeMap<&str, usize> = BTreeMap::new();
        for w in writes.iter().filter(|w| foreign.contains(w.id.as_str())) {
            prop_assert!(adoptable.contains(w.id.as_str()), "write to a record the rule does not allow: {w:?}");
            if (w.method == "adopt_user" || w.method == "adopt_group") && w.applied {
                *adoptions.entry(w.id.as_str()).or_default() += 1;
            }
        }
        prop_assert!(adoptions.values().all(|&n| n == 1), "{adoptions:?}");
        // every foreign record written was adopted (the first write to it is its adoption)
        for w in writes.iter().filter(|w| foreign.contains(w.id.as_str()) && w.applied) {
            prop_assert!(adoptions.contains_key(w.id.as_str()), "{w:?} without an adoption");
        }
        let again = plan(&s, &target.state(), &p);
        prop_assert!(again.is_empty(), "first:\n{}\nsecond:\n{}", pl.render_table(), again.render_table());
    }

    /// 7. a user whose keys are unknown keeps the keys the target has.
    #[test]
    fn unknown_keys_are_left_alone(s in source(), o in observed(), p in policy(true)) {
        let (_, target, _) = run(&s, &o, &p);
        let end = target.state();
        for su in s.users.iter().filter(|u| u.ssh_keys.is_none()) {
            let ext = format!("{PREFIX}user:{}", su.username.to_lowercase());
            for before in o.users.iter().filter(|u| u.external_id.as_deref() == Some(ext.as_str())) {
                let after = end.users.iter().find(|u| u.id == before.id).unwrap();
                // another source user with the same externalId (case variant) may carry keys
                let twin_with_keys = s.users.iter().any(|t| t.username != su.username && t.username.to_lowercase() == su.username.to_lowercase() && t.ssh_keys.is_some());
                if !twin_with_keys {
                    prop_assert_eq!(&after.ssh_keys, &before.ssh_keys, "{}", ext);
                }
            }
        }
    }
}

/// `state` without the users whose `userName` (case-insensitively) an earlier user has, and
/// without the memberships of those users; and without the groups whose `displayName` an
/// earlier group has (the in-memory target keeps both unique, as CoreWeave's does).
fn with_unique_names(mut state: ObservedState) -> ObservedState {
    let mut seen = BTreeSet::new();
    state
        .users
        .retain(|u| seen.insert(u.user_name.to_lowercase()));
    let mut seen = BTreeSet::new();
    state
        .groups
        .retain(|g| seen.insert(g.display_name.to_lowercase()));
    let ids: BTreeSet<String> = state.users.iter().map(|u| u.id.clone()).collect();
    for g in &mut state.groups {
        g.members
            .retain(|m| ids.contains(m) || !m.starts_with("t-u"));
    }
    state
}

fn count_ext(state: &ObservedState, ext: &str) -> usize {
    state
        .users
        .iter()
        .filter(|u| u.external_id.as_deref() == Some(ext))
        .count()
}
