//! `cargo xtask ci`: the whole gate, as `.ci/run` runs it.

use crate::run;
use crate::scim2::{Flavour, Scim2Server};

pub(crate) fn ci() -> Result<(), String> {
    // what the gate runs, installed when missing, so that a fresh machine with only Rust and
    // Python needs nothing else (the Python tools install into virtualenvs on first use)
    let _ = std::process::Command::new("rustup")
        .args(["component", "add", "rustfmt", "clippy"])
        .output();
    ensure_cargo_tool("nextest", "cargo-nextest")?;
    ensure_cargo_tool("deny", "cargo-deny")?;
    run("cargo", &["fmt", "--all", "--check"], &[])?;
    // dependency policy (deny.toml); advisories need the network, so they are not checked here
    run(
        "cargo",
        &["deny", "check", "bans", "licenses", "sources"],
        &[],
    )?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;

    // the metrics tests push to a real Pushgateway, which each of them starts
    crate::ensure_debian_tool("prometheus-pushgateway", "prometheus-pushgateway")?;

    // Tests that need the independent server are `#[ignore]`d for a plain `cargo test`; here
    // they run, against a server of their own (each test picks its own tenant).
    let server = Scim2Server::start(Flavour::CoreWeave)?;
    // and one without the CoreWeave extension, for the runs against a target that is not CoreWeave
    let plain = Scim2Server::start(Flavour::Plain)?;
    let envs = [
        ("SCIM2_SERVER_URL", server.url.as_str()),
        ("SCIM2_SERVER_TOKEN", server.token.as_str()),
        ("SCIM2_PLAIN_SERVER_URL", plain.url.as_str()),
        ("SCIM2_PLAIN_SERVER_TOKEN", plain.token.as_str()),
    ];
    run(
        "cargo",
        &[
            "nextest",
            "run",
            "--workspace",
            "--profile",
            "ci",
            "--run-ignored",
            "all",
        ],
        &envs,
    )?;
    run("cargo", &["test", "--workspace", "--doc"], &envs)?;
    // the man pages generate (from the same clap definitions the binary parses)
    crate::man()?;
    // the embedder's starting point runs, not only builds
    run(
        "cargo",
        &["run", "--quiet", "-p", "scim-sync", "--example", "embed"],
        &[],
    )?;
    drop(server);
    // the embedded server against the independent checkers (scim2-tester, scim-sanity)
    run("bash", &["scim-server/tests/conformance.sh"], &[])?;
    crate::k8s::validate(crate::k8s::Generated::Check)?;
    // every benchmark at a tiny size, so none of them rots
    crate::bench::bench(&["--smoke".to_string()])
}

/// `cargo <subcommand>` works, or `cargo install <krate> --locked` makes it work.
fn ensure_cargo_tool(subcommand: &str, krate: &str) -> Result<(), String> {
    let present = std::process::Command::new("cargo")
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    run("cargo", &["install", krate, "--locked"], &[])
}
