//! The container runs the binary with a read-only root filesystem, no shell, no `HOME` and an
//! almost empty environment (see `k8s/cronjob.yaml` and the `Dockerfile`). No container
//! engine runs on the build machines, so this test recreates those conditions around the real
//! binary: a private mount namespace whose every filesystem is remounted read-only
//! (`unshare -m`, as root — which CI is), and `env -i`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pw-activate-scim-sync");

/// Runs `BIN args…` under a read-only filesystem with an empty environment.
fn run_read_only(args: &str) -> std::process::Output {
    // Remount every mount of the private namespace read-only, prove it, then exec the binary
    // with nothing in its environment (no HOME, no PATH, no TMPDIR).
    let script = format!(
        r#"set -e
for m in $(awk '{{print $2}}' /proc/self/mounts); do
  case "$m" in /proc*|/sys*) continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
if touch /tmp/.rw-probe 2>/dev/null; then echo "root filesystem is still writable" >&2; exit 97; fi
exec env -i '{BIN}' {args}"#
    );
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare runs (util-linux)")
}

#[test]
fn demo_runs_on_a_read_only_filesystem_without_home() {
    let out = run_read_only("demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(97),
        "could not make the filesystem read-only: {stderr}"
    );
    assert!(
        out.status.success(),
        "demo failed under a read-only filesystem ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("The second pass planned nothing and sent no write"),
        "the demo's second pass should report nothing to do; stdout:\n{stdout}"
    );
}

#[test]
fn a_configuration_error_is_reported_not_crashed_on_a_read_only_filesystem() {
    // no source and no target configured: a usage error (exit 2), not a panic about HOME
    let out = run_read_only("--dry-run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "stderr:\n{stderr}");
}
