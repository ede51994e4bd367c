//! Planning benchmark: `cargo bench -p scim-diff --bench plan [-- SIZE...]`.
//!
//! For each size N (default 10k, 100k, 1M users; `PLAN_BENCH_SIZES=2000` or arguments pick
//! others, e.g. the CI smoke size), builds a source of N users and N/10 groups of ~20 members
//! (every user with one SSH key), a target that matches it except for ~1% drift in each
//! direction, and measures:
//! - the time of `plan()` (wall and CPU: planning uses every core; the best of
//!   `PLAN_BENCH_RUNS` runs, default 5 up to 100k users and 1 above, as the machine may be
//!   busy),
//! - memory: the inputs' resident size, the peak resident size while planning (VmHWM, reset
//!   through `/proc/self/clear_refs` before the first run; Linux only; it includes the
//!   inputs), and their difference: what planning itself needed at its peak,
//! - the time to deserialize the same observed state from SCIM JSON with `serde_json`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use scim_diff::{
    Name, ObservedGroup, ObservedState, ObservedUser, Policy, SourceGroup, SourceSnapshot,
    SourceUser, plan,
};
use serde::Deserialize;
use serde_json::{Value, json};

fn key_line(i: usize) -> String {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let data = ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(bytes));
    ssh_key::PublicKey::new(data, format!("user{i}@host"))
        .to_openssh()
        .expect("encodes")
}

pub(crate) fn build(n: usize) -> (SourceSnapshot, ObservedState) {
    let with_keys = std::env::var("PLAN_BENCH_KEYS").map_or(true, |v| v != "0");
    let groups = (n / 10).max(1);
    let mut users = Vec::with_capacity(n);
    let mut ousers = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("user{i:07}");
        let email = format!("{username}@example.org");
        let name = format!("Given{i} Family{i}");
        let key = if with_keys {
            key_line(i)
        } else {
            String::new()
        };
        users.push(SourceUser {
            username: username.clone(),
            email: Some(email.clone()),
            name: Some(name.clone()),
            active: true,
            ssh_keys: with_keys.then(|| vec![key.clone()]),
        });
        // ~1% of the source is new (not in the target); ~1% changed their email
        if i % 100 == 7 {
            continue;
        }
        let email = if i % 100 == 11 {
            format!("old-{email}")
        } else {
            email
        };
        ousers.push(ObservedUser {
            id: format!("scim-u-{i}"),
            version: None,
            external_id: Some(format!("pw-activate:user:{username}")),
            user_name: email.clone(),
            display_name: Some(name.clone()),
            name: Name {
                formatted: Some(name),
                given_name: Some(format!("Given{i}")),
                family_name: Some(format!("Family{i}")),
            },
            emails: vec![email],
            active: true,
            ssh_keys: if with_keys { vec![key] } else { vec![] },
        });
    }
    // ~1% of the target is gone from the source (deactivations)
    for i in 0..n / 100 {
        ousers.push(ObservedUser {
            id: format!("scim-gone-{i}"),
            version: None,
            external_id: Some(format!("pw-activate:user:gone{i}")),
            user_name: format!("gone{i}@example.org"),
            display_name: None,
            name: Name::default(),
            emails: vec![],
            active: true,
            ssh_keys: vec![],
        });
    }
    let mut sgroups = Vec::with_capacity(groups);
    let mut ogroups = Vec::with_capacity(groups);
    for g in 0..groups {
        let members: Vec<usize> = (0..20).map(|k| (g * 7919 + k * 104_729) % n).collect();
        sgroups.push(SourceGroup {
            id: format!("grp{g}"),
            name: format!("group-{g}"),
            members: members.iter().map(|i| format!("user{i:07}")).collect(),
        });
        // the target has all but the first member, plus one stale one
        let mut om: Vec<String> = members[1..]
            .iter()
            .filter(|i| *i % 100 != 7)
            .map(|i| format!("scim-u-{i}"))
            .collect();
        om.push(format!("scim-u-{}", (g * 31 + 5) % n));
        ogroups.push(ObservedGroup {
            id: format!("scim-g-{g}"),
            version: None,
            external_id: Some(format!("pw-activate:group:grp{g}")),
            display_name: format!("group-{g}"),
            members: om,
        });
    }
    (
        SourceSnapshot {
            version: 1,
            organization: None,
            users,
            groups: sgroups,
        },
        ObservedState {
            users: ousers,
            groups: ogroups,
        },
    )
}

// ---- SCIM JSON, as a server returns it (a subset of RFC 7643 plus the CoreWeave extension)

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScimEmail {
    value: String,
    #[serde(default)]
    primary: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScimName {
    formatted: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

#[derive(Deserialize)]
struct CoreWeaveUser {
    #[serde(rename = "sunkSshKeys", default)]
    sunk_ssh_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScimUser {
    id: String,
    external_id: Option<String>,
    user_name: String,
    display_name: Option<String>,
    name: Option<ScimName>,
    #[serde(default)]
    emails: Vec<ScimEmail>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(rename = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser")]
    coreweave: Option<CoreWeaveUser>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct ScimMember {
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScimGroup {
    id: String,
    external_id: Option<String>,
    display_name: String,
    #[serde(default)]
    members: Vec<ScimMember>,
}

#[derive(Deserialize)]
struct ListResponse<T> {
    #[serde(rename = "Resources")]
    resources: Vec<T>,
}

/// A SCIM list response of `items`, each rendered by `resource`, as JSON text. Written one
/// resource at a time: a `Value` tree of 1M users would need gigabytes.
fn list_json<T>(items: &[T], bytes_each: usize, resource: impl Fn(&T) -> Value) -> String {
    let mut out = String::with_capacity(items.len() * bytes_each);
    out.push_str(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"#);
    out.push_str(&format!(
        r#""totalResults":{n},"startIndex":1,"itemsPerPage":{n},"Resources":["#,
        n = items.len()
    ));
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&resource(item).to_string());
    }
    out.push_str("]}");
    out
}

fn to_scim_json(o: &ObservedState) -> (String, String) {
    let users = list_json(&o.users, 900, |u| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser"],
            "id": u.id, "externalId": u.external_id, "userName": u.user_name,
            "displayName": u.display_name,
            "name": {"formatted": u.name.formatted, "givenName": u.name.given_name,
                     "familyName": u.name.family_name},
            "emails": u.emails.iter().map(|e| json!({"value": e, "type": "work", "primary": true})).collect::<Vec<_>>(),
            "active": u.active,
            "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser":
                {"sunkSshKeys": u.ssh_keys},
            "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                     "lastModified": "2026-01-01T00:00:00Z",
                     "location": format!("https://scim.example/v2/Users/{}", u.id)}
        })
    });
    let groups = list_json(&o.groups, 1200, |g| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": g.id, "externalId": g.external_id, "displayName": g.display_name,
            "members": g.members.iter().map(|m| json!({"value": m, "type": "User"})).collect::<Vec<_>>(),
            "meta": {"resourceType": "Group"}
        })
    });
    (users, groups)
}

fn from_scim_json(users: &str, groups: &str) -> ObservedState {
    let u: ListResponse<ScimUser> = serde_json::from_str(users).expect("users decode");
    let g: ListResponse<ScimGroup> = serde_json::from_str(groups).expect("groups decode");
    ObservedState {
        users: u
            .resources
            .into_iter()
            .map(|u| {
                let mut emails: Vec<ScimEmail> = u.emails;
                emails.sort_by_key(|e| !e.primary);
                ObservedUser {
                    id: u.id,
                    version: None,
                    external_id: u.external_id,
                    user_name: u.user_name,
                    display_name: u.display_name,
                    name: u
                        .name
                        .map(|n| Name {
                            formatted: n.formatted,
                            given_name: n.given_name,
                            family_name: n.family_name,
                        })
                        .unwrap_or_default(),
                    emails: emails.into_iter().map(|e| e.value).collect(),
                    active: u.active,
                    ssh_keys: u.coreweave.map(|c| c.sunk_ssh_keys).unwrap_or_default(),
                }
            })
            .collect(),
        groups: g
            .resources
            .into_iter()
            .map(|g| ObservedGroup {
                id: g.id,
                version: None,
                external_id: g.external_id,
                display_name: g.display_name,
                members: g.members.into_iter().map(|m| m.value).collect(),
            })
            .collect(),
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of this process in seconds, from `/proc/self/stat` (ticks of
/// 1/100 s): on a busy machine wall time overstates the cost.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = std::env::var("PLAN_BENCH_SIZES")
            .ok()
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    }
    let policy = Policy {
        allow_mass_changes: true,
        ..Policy::default()
    };
    println!(
        "{:>9}  {:>10}  {:>9}  {:>7}  {:>8}  {:>10}  {:>10}  {:>12}  {:>10}",
        "users",
        "plan",
        "plan cpu",
        "ops",
        "inputs",
        "peak rss",
        "planning",
        "json decode",
        "json size"
    );
    for n in sizes {
        let (source, observed) = build(n);
        let runs = std::env::var("PLAN_BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if n <= 100_000 { 5 } else { 1 })
            .max(1);
        let inputs = status_kib("VmRSS:");
        let mut best: Option<(Duration, Option<f64>)> = None;
        let mut peak = None;
        let mut p = None;
        for run in 0..runs {
            drop(p.take());
            let peak_ok = reset_peak();
            let cpu0 = cpu_seconds();
            let t = Instant::now();
            p = Some(plan(&source, &observed, &policy));
            let time = t.elapsed();
            let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
            if run == 0 {
                peak = if peak_ok { status_kib("VmHWM:") } else { None };
            }
            if best.is_none_or(|(b, _)| time < b) {
                best = Some((time, cpu));
            }
        }
        let (plan_time, plan_cpu) = best.expect("at least one run");
        let p = p.expect("at least one run");
        assert!(p.conflicts.is_empty(), "{:?}", &p.conflicts[..1]);
        let ops = p.operations.len();
        drop(p);

        let (uj, gj) = to_scim_json(&observed);
        let size = uj.len() + gj.len();
        let t = Instant::now();
        let decoded = from_scim_json(&uj, &gj);
        let decode_time = t.elapsed();
        assert_eq!(decoded, observed, "the SCIM JSON round-trips");
        drop((uj, gj, decoded));

        println!(
            "{:>9}  {:>8.1}ms  {:>9}  {:>7}  {:>8}  {:>10}  {:>10}  {:>10.1}ms  {:>6.0} MiB",
            n,
            plan_time.as_secs_f64() * 1e3,
            plan_cpu.map_or("n/a".into(), |c| format!("{:.0}ms", c * 1e3)),
            ops,
            mib(inputs),
            mib(peak),
            mib(peak.zip(inputs).map(|(p, i)| p.saturating_sub(i))),
            decode_time.as_secs_f64() * 1e3,
            size as f64 / 1048576.0
        );
    }
}
