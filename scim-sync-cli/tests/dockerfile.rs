//! The image builds from the workspace: no Docker engine runs in CI, so this checks what a
//! `docker build` needs of the Dockerfile: every workspace member in the build context (cargo
//! refuses a workspace with a member missing), base images pinned by digest, the dependencies
//! cooked before the sources arrive, the OCI labels, and no credential in the context.

use std::path::Path;

#[test]
fn the_build_context_holds_every_workspace_member() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("a members list");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert_eq!(
        dockerfile
            .lines()
            .filter(|l| l.trim() == "COPY . .")
            .count(),
        2,
        "the planner and the build stage copy the whole context"
    );
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let mut checked = 0;
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        assert!(root.join(member).join("Cargo.toml").is_file(), "{member}");
        assert!(
            !ignored
                .lines()
                .map(|l| l.trim().trim_end_matches('/'))
                .any(|l| l == member || l == "*" || l == "**"),
            ".dockerignore leaves the workspace member {member} out"
        );
        checked += 1;
    }
    assert!(checked >= 9, "{checked} members");
}

#[test]
fn the_image_builds_from_pinned_bases_caches_dependencies_and_carries_its_labels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    // every base image is an ARG default pinned by digest, or an earlier stage
    let pinned = |value: &str| {
        value.split_once("@sha256:").is_some_and(|(_, digest)| {
            digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit())
        })
    };
    let mut stages = Vec::new();
    for line in lines.iter().filter(|l| l.starts_with("FROM ")) {
        let mut words = line.split_whitespace().skip(1);
        let base = words.next().unwrap();
        let ok = match base.strip_prefix("${").and_then(|b| b.strip_suffix('}')) {
            Some(arg) => lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("ARG {arg}=")))
                .is_some_and(pinned),
            None => pinned(base) || stages.contains(&base),
        };
        assert!(ok, "{line}: not pinned by digest");
        if let (Some("AS"), Some(name)) = (words.next(), words.next()) {
            stages.push(name);
        }
    }
    // the dependencies are built before the sources are copied into the build stage
    let build = dockerfile.find("AS build").unwrap();
    let cook = dockerfile[build..]
        .find("cargo chef cook")
        .expect("a cook step");
    let sources = dockerfile[build..]
        .find("COPY . .")
        .expect("the sources copied");
    assert!(
        cook < sources,
        "dependencies cooked before the sources arrive"
    );
    for label in ["source", "revision", "version"] {
        assert!(
            dockerfile.contains(&format!("org.opencontainers.image.{label}=")),
            "label {label}"
        );
    }
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for secret in ["k8s/secrets", "k8s/config.env", "target"] {
        assert!(
            ignored.lines().any(|l| l.trim() == secret),
            "{secret} in the build context"
        );
    }
    // no manifest names an image that is not the operator's own
    for file in [
        "k8s/cronjob.yaml",
        "k8s/jobs/check.yaml",
        "k8s/jobs/dry-run.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.lines()
                .filter(|l| l.trim_start().starts_with("image:"))
                .all(|l| l.trim_start().starts_with("image: pw-activate-scim-sync ")),
            "{file}"
        );
    }
}
