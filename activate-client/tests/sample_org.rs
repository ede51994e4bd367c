//! The sample organization shipped in `examples/sample-org.json` (used by the CLI demo) is a
//! valid ACTIVATE export with real OpenSSH keys.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use ssh_key::authorized_keys::Entry;

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sample-org.json")
}

#[test]
fn sample_org_parses_and_its_keys_are_real_openssh_keys() {
    let read = activate_client::read_export(&sample_path()).unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    let snap = read.snapshot;
    assert_eq!(snap.version, 1);
    assert!(snap.users.len() >= 30, "a few dozen users");
    assert!(
        snap.users.iter().filter(|u| !u.active).count() >= 2,
        "some disabled"
    );
    assert!(
        snap.groups.iter().any(|g| g.name.contains(' ')),
        "group names with spaces"
    );

    let mut memberships: BTreeMap<&str, usize> = BTreeMap::new();
    for group in &snap.groups {
        for member in &group.members {
            *memberships.entry(member.as_str()).or_default() += 1;
        }
    }
    assert!(
        memberships.values().filter(|&&n| n >= 2).count() >= 5,
        "users in several groups"
    );

    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid = Vec::new();
    let mut without_keys = 0;
    for user in &snap.users {
        let keys = user
            .ssh_keys
            .as_ref()
            .expect("every sample user has known keys");
        let content: Vec<&String> = keys
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        if content.is_empty() {
            without_keys += 1;
        }
        for line in content {
            match Entry::from_str(line) {
                Ok(entry) => {
                    *types
                        .entry(entry.public_key().algorithm().as_str().to_owned())
                        .or_default() += 1
                }
                Err(_) => invalid.push((user.username.clone(), line.clone())),
            }
        }
    }
    assert_eq!(
        invalid.len(),
        1,
        "exactly one deliberately invalid key: {invalid:?}"
    );
    assert!(without_keys >= 1, "a user with no keys");
    for algorithm in [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ] {
        assert!(
            types.get(algorithm).copied().unwrap_or(0) >= 2,
            "{algorithm}: {types:?}"
        );
    }
}

#[test]
fn sample_org_round_trips_through_write_export() {
    let read = activate_client::read_export(&sample_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    activate_client::write_export(&path, &read.snapshot).unwrap();
    assert_eq!(
        activate_client::read_export(&path).unwrap().snapshot,
        read.snapshot
    );
}

#[test]
fn export_problems_are_reported_with_the_json_path_or_as_warnings() {
    let err =
        activate_client::parse_export(r#"{"version":1,"users":[{"username":"a","active":"yes"}]}"#)
            .unwrap_err();
    assert!(err.contains("users[0].active"), "{err}");
    let read = activate_client::parse_export(
        r#"{"version":1,"users":[{"username":"Ada"}],"groups":[{"id":"1","name":"g","members":["ada","ghost"]}]}"#,
    )
    .unwrap();
    assert_eq!(read.snapshot.groups[0].members, vec!["Ada"]);
    assert_eq!(read.warnings.len(), 1);
    assert!(read.warnings[0].contains("ghost"));
    let missing = activate_client::read_export(std::path::Path::new("/nonexistent/x.json"));
    assert!(matches!(
        missing,
        Err(activate_client::Error::Export { .. })
    ));
}
