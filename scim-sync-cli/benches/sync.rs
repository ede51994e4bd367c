//! Whole-system benchmark: the real `pw-activate-scim-sync` binary syncing a generated
//! ACTIVATE export into the embedded `scim-server` over loopback HTTP, side by side with a
//! plain load generator's ceiling for the same requests, and the same against the real
//! scim2-server when `SCIM2_SERVER_URL` is set (`cargo xtask bench` sets it).
//!
//! Prints figures; asserts nothing about time. `BENCH_SMOKE=1` runs tiny sizes (CI).
//! Sizes can be overridden: `BENCH_USERS` (initial/no-op/churn, default 10000),
//! `BENCH_BIG_USERS` (whole-binary run, default 100000, 0 to skip), `BENCH_SCIM2_USERS`
//! (default 1000).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scim_server::{Profile, ScimServer, ServerHandle};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pw-activate-scim-sync");
const TOKEN: &str = "bench-token";
/// The concurrency both the syncer and the load generator use.
const CONCURRENCY: usize = 8;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
        std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
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

fn machine() -> String {
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

fn phases(report: &Value) -> [Duration; 3] {
    ["read", "plan", "apply"].map(|p| {
        Duration::from_millis(
            report
                .pointer(&format!("/phases_ms/{p}"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
        )
    })
}

/// `GET Users`, `POST Groups`, `PATCH Users`… from a request path.
fn kind(method: &str, path: &str) -> String {
    let resource = path
        .split('/')
        .skip_while(|s| *s != "v2")
        .nth(1)
        .unwrap_or("?");
    format!("{method} {resource}")
}

fn run_sync(label: &str, base: &str, export: &Path, server: &ServerHandle) -> RunFigures {
    server.clear_requests();
    let (wall, peak, report) = run_binary(base, TOKEN, export);
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
    let (wall, peak, report) = run_binary(base, token, export);
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

/// Runs the binary once; returns wall time, its peak RSS (KiB, sampled from /proc) and its
/// JSON report.
fn run_binary(base: &str, token: &str, export: &Path) -> (Duration, u64, Value) {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "--output",
            "json",
            "--no-dynamic-settings",
            "--allow-mass-changes",
        ])
        .arg("--source-file")
        .arg(export)
        .env_clear()
        .env("CW_SCIM_BASE_URL", base)
        .env("CW_SCIM_BEARER_TOKEN", token)
        .env("SYNC_CONCURRENCY", CONCURRENCY.to_string())
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

/// List pages a no-op run needs at best: users and groups, at `page` records per page (at
/// least one page each).
fn list_pages(users: usize, groups: usize, page: usize) -> u64 {
    (users.div_ceil(page).max(1) + groups.div_ceil(page).max(1)) as u64
}

/// The ceiling: a plain load generator sending the same kinds and numbers of writes as the
/// syncer's initial sync, with bodies of the same shape (every user and group of `org`
/// created, then `patches` member PATCHes of 20 ids each), at [`CONCURRENCY`]; returns writes
/// per second.
///
/// Requests run unordered, [`CONCURRENCY`] in flight, as the syncer's apply runs them: a slow
/// request holds one lane, not all of them. (An ordered buffer let one stalled request hold
/// up the seven behind it; against scim2-server, whose 5-deep listen backlog drops a burst of
/// connects and so delays one of them by the 1 s SYN retransmit, that made the "ceiling" a
/// tenth of the syncer's own rate.)
async fn ceiling(base: &str, token: &str, org: &Org, patches: u64) -> f64 {
    use futures_util::StreamExt;
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let post = |url: String, body: Value| {
        let request = http
            .post(url)
            .header("authorization", &auth)
            .header("content-type", "application/scim+json")
            .json(&body);
        async move {
            let r = request.send().await.expect("create");
            assert!(r.status().is_success(), "create answered {}", r.status());
            let v: Value = r.json().await.expect("created resource");
            v["id"].as_str().unwrap_or_default().to_string()
        }
    };
    let start = Instant::now();
    let ids: Vec<String> = futures_util::stream::iter(&org.users)
        .map(|u| post(format!("{base}/Users"), user_body(u)))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let groups: Vec<String> = futures_util::stream::iter(&org.groups)
        .map(|g| {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": g.name,
                "externalId": format!("pw-activate:group:{}", g.id),
            });
            post(format!("{base}/Groups"), body)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let per_patch = 20usize;
    futures_util::stream::iter(0..patches as usize)
        .map(|i| {
            let group = &groups[i % groups.len().max(1)];
            let members: Vec<Value> = (0..per_patch)
                .map(|k| json!({"value": ids[(i * per_patch + k) % ids.len()]}))
                .collect();
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": members}],
            });
            let request = http
                .patch(format!("{base}/Groups/{group}"))
                .header("authorization", &auth)
                .header("content-type", "application/scim+json")
                .json(&body);
            async move {
                let r = request.send().await.expect("patch members");
                assert!(r.status().is_success(), "PATCH answered {}", r.status());
                r.bytes().await.expect("PATCH answer");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let writes = org.users.len() + org.groups.len() + patches as usize;
    writes as f64 / start.elapsed().as_secs_f64()
}

fn user_body(u: &User) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser"
        ],
        "userName": u.email,
        "externalId": format!("pw-activate:user:{}", u.username),
        "displayName": u.name,
        "name": {"formatted": u.name},
        "emails": [{"value": u.email, "type": "work", "primary": true}],
        "active": true,
        "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser": {
            "sunkSshKeys": u.keys,
        },
    })
}

/// A generated organization: `n` users with two ed25519 keys each, `n / 10` groups of about
/// 20 members each.
#[derive(Clone)]
struct Org {
    users: Vec<User>,
    groups: Vec<Group>,
}

#[derive(Clone)]
struct User {
    username: String,
    email: String,
    name: String,
    keys: Vec<String>,
}

#[derive(Clone)]
struct Group {
    id: String,
    name: String,
    members: Vec<String>,
}

#[derive(Default)]
struct Changes {
    keys: usize,
    names: usize,
    removed: usize,
    moved: usize,
}

impl Changes {
    fn total(&self) -> usize {
        self.keys + self.names + self.removed + self.moved
    }
}

fn ed25519_line(rng: &mut fastrand::Rng, comment: &str) -> String {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let key = ssh_key::PublicKey::new(
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(bytes)),
        comment,
    );
    key.to_openssh().expect("openssh encoding")
}

impl Org {
    fn generate(n: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let users: Vec<User> = (0..n)
            .map(|i| {
                let username = format!("user{i:07}");
                User {
                    email: format!("{username}@example.com"),
                    name: format!("Given{i} Family{}", i % 977),
                    keys: vec![
                        ed25519_line(&mut rng, &format!("{username}@laptop")),
                        ed25519_line(&mut rng, &format!("{username}@desktop")),
                    ],
                    username,
                }
            })
            .collect();
        let group_count = (n / 10).max(1);
        let groups = (0..group_count)
            .map(|g| Group {
                id: format!("g{g:06}"),
                name: format!("team {g}"),
                members: (0..20)
                    .map(|_| users[rng.usize(..n)].username.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            })
            .collect();
        Self { users, groups }
    }

    /// Changes a `fraction` of users: new key, new name, removal, or a move to another group.
    fn churn(&mut self, fraction: f64, seed: u64) -> Changes {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut changes = Changes::default();
        let n = self.users.len();
        let count = ((n as f64) * fraction).round() as usize;
        let mut picked: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut picked);
        let mut removed = std::collections::HashSet::new();
        for (k, &i) in picked.iter().take(count).enumerate() {
            match k % 4 {
                0 => {
                    let user = &mut self.users[i];
                    user.keys[1] = ed25519_line(&mut rng, "rotated");
                    changes.keys += 1;
                }
                1 => {
                    self.users[i].name.push_str(" Jr");
                    changes.names += 1;
                }
                2 => {
                    removed.insert(self.users[i].username.clone());
                    changes.removed += 1;
                }
                _ => {
                    let username = self.users[i].username.clone();
                    let groups = self.groups.len();
                    if let Some(from) = self
                        .groups
                        .iter()
                        .position(|g| g.members.contains(&username))
                    {
                        self.groups[from].members.retain(|m| *m != username);
                        let to = (from + 1 + rng.usize(..groups.max(2) - 1)) % groups;
                        if !self.groups[to].members.contains(&username) {
                            self.groups[to].members.push(username);
                        }
                    } else {
                        self.groups[rng.usize(..groups)].members.push(username);
                    }
                    changes.moved += 1;
                }
            }
        }
        self.users.retain(|u| !removed.contains(&u.username));
        for g in &mut self.groups {
            g.members.retain(|m| !removed.contains(m));
        }
        changes
    }

    fn write(&self, path: &Path) {
        let doc = json!({
            "version": 1,
            "organization": "bench",
            "users": self.users.iter().map(|u| json!({
                "username": u.username,
                "email": u.email,
                "name": u.name,
                "active": true,
                "sshKeys": u.keys,
            })).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(|g| json!({
                "id": g.id,
                "name": g.name,
                "members": g.members,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec(&doc).expect("json")).expect("write export");
    }
}
