//! The image builds from the workspace: no Docker engine runs in CI, so this checks what a
//! `docker build` needs of the Dockerfile, that every workspace member is copied in (cargo
//! refuses a workspace with a member missing).

use std::path::Path;

#[test]
fn the_dockerfile_copies_every_workspace_member() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("a members list");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let mut checked = 0;
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        assert!(
            dockerfile
                .lines()
                .any(|l| l.trim() == format!("COPY {member} {member}")),
            "the Dockerfile does not copy the workspace member {member}"
        );
        checked += 1;
    }
    assert!(checked >= 9, "{checked} members");
}
