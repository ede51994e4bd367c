//! `cargo xtask ci`: the whole gate, as `.ci/run` runs it.

use crate::run;
use crate::scim2::Scim2Server;

pub(crate) fn ci() -> Result<(), String> {
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

    // Tests that need the independent server are `#[ignore]`d for a plain `cargo test`; here
    // they run, against a server of their own (each test picks its own tenant).
    let server = Scim2Server::start()?;
    let envs = [
        ("SCIM2_SERVER_URL", server.url.as_str()),
        ("SCIM2_SERVER_TOKEN", server.token.as_str()),
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
    // the embedder's starting point runs, not only builds
    run(
        "cargo",
        &["run", "--quiet", "-p", "scim-sync", "--example", "embed"],
        &[],
    )?;
    drop(server);
    // the embedded server against the independent checkers (scim2-tester, scim-sanity)
    run("bash", &["scim-server/tests/conformance.sh"], &[])?;
    crate::k8s::validate()?;
    // every benchmark at a tiny size, so none of them rots
    crate::bench::bench(&["--smoke".to_string()])
}
