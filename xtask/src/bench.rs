//! `cargo xtask bench`: every benchmark of the workspace, in one run, printing its figures.
//!
//! Benchmarks are `harness = false` bench targets that print what they measure; none of them
//! asserts a timing. `--smoke` runs each one at a tiny size in the test profile, so CI keeps
//! them compiling and working without spending minutes on a release build.

use crate::run;
use crate::scim2::{Flavour, Scim2Server};

/// (package, bench target): the suite, in the order it prints.
const BENCHES: &[(&str, &str)] = &[
    ("scim-diff", "plan"),
    ("scim-server", "throughput"),
    ("scim-sync-cli", "sync"),
    ("scim-sync-cli", "latency"),
];

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    if let Some(unknown) = args.iter().find(|a| *a != "--smoke") {
        return Err(format!(
            "unknown bench option `{unknown}` (expected: --smoke)"
        ));
    }
    // Some benchmarks measure the real scim2-server side by side with ours.
    let server = Scim2Server::start(Flavour::CoreWeave)?;
    let mut envs = vec![
        ("SCIM2_SERVER_URL", server.url.as_str()),
        ("SCIM2_SERVER_TOKEN", server.token.as_str()),
    ];
    if smoke {
        envs.extend([
            ("BENCH_SMOKE", "1"),
            ("BENCH_USERS", "200"),
            ("BENCH_PEER_USERS", "20"),
            ("PLAN_BENCH_SIZES", "2000"),
            ("BENCH_LATENCY_USERS", "200"),
            ("BENCH_RTT_MS", "5"),
        ]);
    }
    if smoke {
        // one `cargo test` over the whole workspace: the same feature set as the test build
        // that ran before it, so nothing is compiled twice
        let mut args = vec!["test", "--workspace"];
        for (_, target) in BENCHES {
            args.extend(["--bench", target]);
        }
        return run("cargo", &args, &envs);
    }
    for (package, target) in BENCHES {
        run("cargo", &["bench", "-p", package, "--bench", target], &envs)?;
    }
    Ok(())
}
