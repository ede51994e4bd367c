//! Running the real `pw-activate-scim-sync` binary once and reading its JSON report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The release binary the bench runs (built by cargo for the bench).
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_pw-activate-scim-sync");

/// The environment variable `name` as a number, else `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `<cpus> cpus, <model>`, for the heading of a bench's output.
pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("{cpus} cpus, {model}")
}

/// The binary's size in MiB.
pub(crate) fn binary_mib() -> f64 {
    std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
}

/// Runs the binary once (`reconcile`, JSON output, no dynamic settings, mass changes
/// allowed) with `args` and only the environment `envs`; returns its wall time, its peak RSS
/// (KiB, sampled from /proc) and its JSON report.
pub(crate) fn run_binary(args: &[&str], envs: &[(&str, String)]) -> (Duration, u64, Value) {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "--output",
            "json",
            "--no-dynamic-settings",
            "--allow-mass-changes",
        ])
        .args(args)
        .env_clear()
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env("LOG_LEVEL", "warn")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let pid = child.id();
    let status_path = PathBuf::from(format!("/proc/{pid}/status"));
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stdout), &mut out).ok();
        out
    });
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut out).ok();
        out
    });
    let mut peak = 0;
    loop {
        if let Some(hwm) = vm_hwm(&status_path) {
            peak = peak.max(hwm);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = start.elapsed();
    let out = reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("the binary's report is not JSON ({e}); stdout: {out:.400}; stderr: {err:.2000}")
    });
    (wall, peak, report)
}

/// VmHWM (peak resident set) of a live process, in KiB.
fn vm_hwm(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The binary's own timing of its phases (`phases_ms` in its report): read, plan, apply.
pub(crate) fn phases(report: &Value) -> [Duration; 3] {
    ["read", "plan", "apply"].map(|p| {
        Duration::from_millis(
            report
                .pointer(&format!("/phases_ms/{p}"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
        )
    })
}

/// `GET Users`, `POST Groups`, `PATCH Users`… from a SCIM request path.
pub(crate) fn kind(method: &str, path: &str) -> String {
    let resource = path
        .split('/')
        .skip_while(|s| *s != "v2")
        .nth(1)
        .unwrap_or("?");
    format!("{method} {resource}")
}
