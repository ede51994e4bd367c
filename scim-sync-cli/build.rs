//! The version `--version` prints: the crate's, the git commit it was built from and the
//! build date, e.g. `0.1.0 (commit 1a2b3c4, built 2026-12-03)`. Without git (a source archive,
//! a container build without `.git`) the commit is `PW_BUILD_COMMIT` if set, else `unknown`;
//! `SOURCE_DATE_EPOCH`, when set, is the build date (reproducible builds).

use std::process::Command;
use std::time::{Duration, SystemTime};

fn main() {
    let commit = std::env::var("PW_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |secs| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        });
    let date = humantime::format_rfc3339_seconds(built).to_string();
    let date = date.get(..10).unwrap_or(&date);
    println!(
        "cargo:rustc-env=PW_BUILD_VERSION={} (commit {commit}, built {date})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=PW_BUILD_COMMIT");
    // a new commit changes what HEAD points to (or the ref it names); nothing else reruns this
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/packed-refs");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
}

/// What `git args` prints, trimmed, if it runs and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
