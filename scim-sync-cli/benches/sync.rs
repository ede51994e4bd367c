//! Whole-system benchmark: the real `pw-activate-scim-sync` binary syncing a generated
//! ACTIVATE export into the embedded `scim-server` over loopback HTTP, side by side with a
//! plain load generator's ceiling for the same requests, and the same against the real
//! scim2-server when `SCIM2_SERVER_URL` is set (`cargo xtask bench` sets it).
//!
//! Prints figures; asserts nothing about time. `BENCH_SMOKE=1` runs tiny sizes (CI).
//! Sizes can be overridden: `BENCH_USERS` (initial/no-op/churn, default 10000),
//! `BENCH_BIG_USERS` (whole-binary run, default 100000, 0 to skip), `BENCH_SCIM2_USERS`
//! (default 1000).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use scim_server::{Profile, ScimServer, ServerHandle};
use serde_json::Value;
use support::binary::{BIN, binary_mib, env_usize, kind, machine, phases, run_binary};
use support::load::create_all;
use support::org::Org;

const TOKEN: &str = "bench-token";
/// The concurrency both the syncer and the load generator use.
const CONCURRENCY: usize = 8;

fn main() {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let users = env_usize("BENCH_USERS", if smoke { 200 } else { 10_000 });
    let big = env_usize("BENCH_BIG_USERS", if smoke { 500 } else { 100_000 });
    let scim2_users = env_usize("BENCH_SCIM2_USERS", if smoke { 40 } else { 1_000 });
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "# sync bench — {} — binary {} ({:.1} MiB)",
        machine(),
        BIN,
        binary_mib()
    );
    println!("# concurrency {CONCURRENCY} (syncer and load generator alike)\n");

    // 2–4: initial, no-op and churn against the embedded server
    let org = Org::generate(users, 42);
    let export = dir.path().join("org.json");
    org.write(&export);
    let server = rt.block_on(start_embedded());
    let base = server.tenant_url("bench");
    let initial = run_sync("embedded initial", &base, &export, &server);
    let embedded_ceiling = rt.block_on(ceiling(
        &server.tenant_url("ceiling"),
        TOKEN,
        &org,
        initial.member_patches(),
    ));
    print_ratios(&initial, embedded_ceiling);
    let noop = run_sync("embedded no-op", &base, &export, &server);
    let minimum = list_pages(users, org.groups.len(), 100);
    println!(
        "  no-op minimum (list pages at page size 100, file source): {minimum}; measured {} ({} writes)",
        noop.total,
        noop.writes()
    );
    let mut churned = org.clone();
    let changes = churned.churn(0.05, 7);
    churned.write(&export);
    let churn = run_sync("embedded churn 5%", &base, &export, &server);
    println!(
        "  churn: {} changes to users ({} key, {} name, {} removed, {} moved); writes {} (list pages {})",
        changes.total(),
        changes.keys,
        changes.names,
        changes.removed,
        changes.moved,
        churn.writes(),
        churn.total - churn.writes()
    );
    rt.block_on(server.shutdown()).expect("shutdown");

    // 5: the real scim2-server, its own ceiling measured the same way
    match (
        std::env::var("SCIM2_SERVER_URL"),
        std::env::var("SCIM2_SERVER_TOKEN"),
    ) {
        (Ok(url), Ok(token)) => {
            let org = Org::generate(scim2_users, 43);
            let export = dir.path().join("org-scim2.json");
            org.write(&export);
            let tenant = format!("{url}/bench-{}/v2", std::process::id());
            let initial = run_external("scim2-server initial", &tenant, &token, &export);
            let ceiling_tenant = format!("{url}/ceiling-{}/v2", std::process::id());
            let scim2_ceiling = rt.block_on(ceiling(
                &ceiling_tenant,
                &token,
                &org,
                initial.member_patches(),
            ));
            print_ratios(&initial, scim2_ceiling);
            run_external("scim2-server no-op", &tenant, &token, &export);
        }
        _ => println!(
            "\n## scim2-server: skipped (SCIM2_SERVER_URL not set; `cargo xtask bench` sets it)"
        ),
    }

    // 6: the whole binary at a large size
    if big > 0 {
        let org = Org::generate(big, 44);
        let export = dir.path().join("org-big.json");
        org.write(&export);
        let server = rt.block_on(start_embedded());
        let base = server.tenant_url("big");
        run_sync(
            &format!("embedded initial, {big} users"),
            &base,
            &export,
            &server,
        );
        run_sync(
            &format!("embedded no-op, {big} users"),
            &base,
            &export,
            &server,
        );
        rt.block_on(server.shutdown()).expect("shutdown");
    }
}

async fn start_embedded() -> ServerHandle {
    ScimServer::builder()
        .bearer_token(Some(TOKEN))
        .profile(Profile::Rfc)
        .request_log_capacity(2_000_000)
        .start("127.0.0.1:0")
        .await
        .expect("embedded server starts")
}

/// What one run of the binary cost.
struct RunFigures {
    wall: Duration,
    total: u64,
    /// Requests by kind, e.g. `POST Users` → n.
    requests: BTreeMap<String, u64>,
    peak_rss_kib: u64,
    /// The binary's own timing of its phases (`phases_ms` in its report).
    read: Duration,
    plan: Duration,
    apply: Duration,
}

impl RunFigures {
    fn writes(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| !k.starts_with("GET"))
            .map(|(_, n)| n)
            .sum()
    }
    /// Writes per second of wall time, process start to exit.
    fn writes_per_sec(&self) -> f64 {
        self.writes() as f64 / self.wall.as_secs_f64()
    }
    /// Writes per second of the apply phase alone (the writes, as the load generator does
    /// them).
    fn apply_writes_per_sec(&self) -> f64 {
        self.writes() as f64 / self.apply.as_secs_f64().max(1e-3)
    }
    /// Member PATCHes sent (counted by the server, or by the binary's report).
    fn member_patches(&self) -> u64 {
        ["PATCH Groups", "WRITE update_members"]
            .iter()
            .filter_map(|k| self.requests.get(*k))
            .sum()
    }
}

/// The syncer's rate as a ratio of the load generator's, for the writes alone (apply phase)
/// and end to end (the wall time also holds process start, reading the export and both
/// listings, and planning, which the load generator does not do).
fn print_ratios(syncer: &RunFigures, ceiling: f64) {
    println!("  ceiling (load generator, same requests, same concurrency): {ceiling:.0} writes/s");
    println!(
        "  syncer vs ceiling: apply phase {:.0} writes/s = {:.2}; end to end {:.0} writes/s = {:.2}",
        syncer.apply_writes_per_sec(),
        syncer.apply_writes_per_sec() / ceiling,
        syncer.writes_per_sec(),
        syncer.writes_per_sec() / ceiling
    );
}

fn run_sync(label: &str, base: &str, export: &Path, server: &ServerHandle) -> RunFigures {
    server.clear_requests();
    let (wall, peak, report) = run(base, TOKEN, export);
    let mut requests = BTreeMap::new();
    for r in server.requests() {
        *requests.entry(kind(&r.method, &r.path)).or_insert(0) += 1;
    }
    let [read, plan, apply] = phases(&report);
    let figures = RunFigures {
        wall,
        total: server.request_total(),
        requests,
        peak_rss_kib: peak,
        read,
        plan,
        apply,
    };
    print_run(label, &figures, &report);
    figures
}

/// A run against a server we cannot see into: requests come from the binary's own report.
fn run_external(label: &str, base: &str, token: &str, export: &Path) -> RunFigures {
    let (wall, peak, report) = run(base, token, export);
    let count = report
        .pointer("/requests/scim/count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut requests = BTreeMap::new();
    if let Some(by_op) = report.pointer("/summary/by_op").and_then(Value::as_object) {
        for (op, n) in by_op {
            requests.insert(format!("WRITE {op}"), n["done"].as_u64().unwrap_or(0));
        }
    }
    let [read, plan, apply] = phases(&report);
    let figures = RunFigures {
        wall,
        total: count,
        requests,
        peak_rss_kib: peak,
        read,
        plan,
        apply,
    };
    print_run(label, &figures, &report);
    figures
}

fn print_run(label: &str, f: &RunFigures, report: &Value) {
    println!("\n## {label}");
    println!(
        "  wall {:.2} s, {} requests, {} writes ({:.0} writes/s), peak RSS {:.1} MiB, exit outcome {}",
        f.wall.as_secs_f64(),
        f.total,
        f.writes(),
        f.writes_per_sec(),
        f.peak_rss_kib as f64 / 1024.0,
        report.get("outcome").unwrap_or(&Value::Null)
    );
    let kinds: Vec<String> = f
        .requests
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    println!("  by kind: {}", kinds.join(", "));
    println!(
        "  phases (the binary's own timing): read {} ms, plan {} ms, apply {} ms; the rest of \
         the wall time is process start, exit and the report",
        f.read.as_millis(),
        f.plan.as_millis(),
        f.apply.as_millis()
    );
}

/// Runs the binary on the export file `export` into `base`, at [`CONCURRENCY`].
fn run(base: &str, token: &str, export: &Path) -> (Duration, u64, Value) {
    let export = export.to_str().expect("a UTF-8 temporary path");
    run_binary(
        &["--source-file", export],
        &[
            ("CW_SCIM_BASE_URL", base.to_owned()),
            ("CW_SCIM_BEARER_TOKEN", token.to_owned()),
            ("SYNC_CONCURRENCY", CONCURRENCY.to_string()),
        ],
    )
}

/// The ceiling: the load generator sending the same kinds and numbers of writes as the
/// syncer's initial sync ([`create_all`]) at [`CONCURRENCY`]; returns writes per second.
async fn ceiling(base: &str, token: &str, org: &Org, patches: u64) -> f64 {
    let took = create_all(base, token, org, patches, CONCURRENCY).await;
    let writes = org.users.len() + org.groups.len() + patches as usize;
    writes as f64 / took.as_secs_f64()
}

/// List pages a no-op run needs at best: users and groups, at `page` records per page (at
/// least one page each).
fn list_pages(users: usize, groups: usize, page: usize) -> u64 {
    (users.div_ceil(page).max(1) + groups.div_ceil(page).max(1)) as u64
}
