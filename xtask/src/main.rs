//! Project automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! One module per task; every task shells out to cargo and the project's own scripts, so what CI does
//! is exactly what a developer can run.

mod bench;
mod ci;
mod k8s;
mod scim2;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      everything .ci/run checks: fmt, clippy, tests (nextest + doctests), and the
          integration tests against the real scim2-server, and the k8s validation
  bench   every benchmark, printing its figures (--smoke: tiny sizes, test profile)
  k8s     regenerates the SCIMConfig CRD from its type (in CI: fails if it differs), validates
          k8s/ against the Kubernetes schemas and renders the kustomization
  man     writes the man pages of pw-activate-scim-sync (one per subcommand) to target/man/
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::ci(),
        // CI checks the generated CRD; a developer's run regenerates it
        Some("k8s") if std::env::var_os("CI").is_some() => k8s::validate(k8s::Generated::Check),
        Some("k8s") => k8s::validate(k8s::Generated::Write),
        Some("bench") => bench::bench(&args[1..]),
        Some("man") => man(),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The man pages, generated from the clap definitions into `target/man/`.
fn man() -> Result<(), String> {
    let dir = project_root().join("target").join("man");
    let dir = dir.to_string_lossy().into_owned();
    run(
        env!("CARGO"),
        &[
            "run",
            "--quiet",
            "-p",
            "scim-sync-cli",
            "--example",
            "man",
            "--",
            &dir,
        ],
        &[],
    )
}

/// `tool --version` works, or Debian's `package` is installed to make it work (as root, or
/// with `sudo -n`): the Pushgateway and promtool the checks run come from Debian's packages.
fn ensure_debian_tool(tool: &str, package: &str) -> Result<(), String> {
    let present = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present(tool) {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let (program, prefix): (&str, &[&str]) = if root {
        ("apt-get", &[])
    } else {
        ("sudo", &["-n", "apt-get"])
    };
    let apt = |args: &[&str]| {
        let mut all = prefix.to_vec();
        all.extend_from_slice(args);
        run(program, &all, &[("DEBIAN_FRONTEND", "noninteractive")])
    };
    let install = ["install", "-y", "-q", "--no-install-recommends", package];
    if apt(&install).is_err() {
        apt(&["update", "-q"])?;
        apt(&install)?;
    }
    if present(tool) {
        Ok(())
    } else {
        Err(format!(
            "{tool} is still missing after installing Debian's {package}"
        ))
    }
}

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs a command in the project root, echoing it; an unsuccessful exit is an error.
fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("\n$ {program} {}", short(args));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", short(args)))
    }
}

/// The arguments as echoed: an inline script shows as its first line only.
fn short(args: &[&str]) -> String {
    args.iter()
        .map(|a| match a.trim().lines().next() {
            Some(first) if a.contains('\n') => format!("'{first} …'"),
            _ => (*a).to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
