//! Throughput and latency of scim-server over real HTTP on loopback.
//!
//! `cargo bench -p scim-server --bench throughput` seeds BENCH_USERS users (default 100 000)
//! into a tenant, then drives create, get, PATCH, list-page and filtered-list-page
//! requests with BENCH_CONCURRENCY (default 16) concurrent clients and prints requests per
//! second and p50/p99/max latency for each. With SCIM2_SERVER_URL (and SCIM2_SERVER_TOKEN)
//! set, the same load runs against that server too (seeded with BENCH_PEER_USERS users,
//! default 1000, through its API), for a side-by-side figure. BENCH_ONLY=Get,Patch runs
//! only the named request kinds (Create, Get, Patch, ListPage, FilteredPage).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use scim_server::{Profile, ResourceKind, ScimServer};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CW: &str = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
struct Target {
    name: String,
    base: String,
    token: String,
    ids: Arc<Vec<String>>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Create,
    Get,
    Patch,
    ListPage,
    FilteredPage,
}

async fn one(c: &Client, t: &Target, kind: Kind, i: usize, run: &str) -> bool {
    let n = t.ids.len().max(1);
    let req = match kind {
        Kind::Create => c.post(format!("{}/Users", t.base)).json(&json!({
            "schemas": [USER], "userName": format!("bench-{run}-{i}"),
            "externalId": format!("pw-activate:bench-{run}-{i}"), "active": true,
            "name": {"givenName": "B", "familyName": format!("{i}")},
            "emails": [{"value": format!("bench-{run}-{i}@example.com"), "type": "work", "primary": true}]
        })),
        Kind::Get => c.get(format!("{}/Users/{}", t.base, t.ids[(i * 7919) % n])),
        Kind::Patch => c
            .patch(format!("{}/Users/{}", t.base, t.ids[(i * 104_729) % n]))
            .json(&json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "active", "value": i.is_multiple_of(2)},
                {"op": "replace", "path": "displayName", "value": format!("patched {i}")}
            ]})),
        Kind::ListPage => {
            let start = (i * 7907) % n + 1;
            c.get(format!("{}/Users?startIndex={start}&count=100", t.base))
        }
        Kind::FilteredPage => {
            let start = (i * 31) % n.min(5000) + 1;
            c.get(format!(
                "{}/Users?filter=externalId%20sw%20%22pw-activate%3A%22&startIndex={start}&count=100",
                t.base
            ))
        }
    };
    let req = if t.token.is_empty() {
        req
    } else {
        req.bearer_auth(&t.token)
    };
    match req
        .header("content-type", "application/scim+json")
        .send()
        .await
    {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

struct Figures {
    rps: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
}

async fn drive(c: &Client, t: &Target, kind: Kind, total: usize, conc: usize) -> Figures {
    let run = format!("{:?}{}", kind, fastrand::u32(..));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (c, t, next, run) = (c.clone(), t.clone(), next.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                if !one(&c, &t, kind, i, &run).await {
                    errors += 1;
                }
                lat.push(t0.elapsed());
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("load task");
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Figures {
        rps: total as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        max: *lat.last().expect("latencies"),
        errors,
    }
}

async fn run_all(c: &Client, t: &Target, scale: usize, conc: usize) -> Vec<(Kind, Figures)> {
    let mut out = Vec::new();
    for (kind, n) in [
        (Kind::Create, 2000 / scale),
        (Kind::Get, 10_000 / scale),
        (Kind::Patch, 5000 / scale),
        (Kind::ListPage, 2000 / scale),
        (Kind::FilteredPage, 2000 / scale),
    ] {
        if let Ok(only) = std::env::var("BENCH_ONLY")
            && !only
                .split(',')
                .any(|k| k.eq_ignore_ascii_case(&format!("{kind:?}")))
        {
            continue;
        }
        let f = drive(c, t, kind, n.max(20), conc).await;
        println!(
            "{:<10} {:<13} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   errors {}",
            t.name,
            format!("{kind:?}"),
            f.rps,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.max.as_secs_f64() * 1e3,
            f.errors
        );
        out.push((kind, f));
    }
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let users = env_usize("BENCH_USERS", 100_000);
        let conc = env_usize("BENCH_CONCURRENCY", 16);
        let server = ScimServer::builder()
            .bearer_token(Some("bench"))
            .profile(Profile::Rfc)
            .request_log_capacity(0)
            .start("127.0.0.1:0")
            .await
            .expect("start");
        let t0 = Instant::now();
        let tenant = server.tenant("bench");
        let mut ids = Vec::with_capacity(users);
        for i in 0..users {
            let rec = tenant
                .create(
                    ResourceKind::User,
                    json!({"schemas": [USER, CW], "userName": format!("user{i:06}"),
                           "externalId": format!("pw-activate:{i:06}"), "active": true,
                           "name": {"givenName": "U", "familyName": format!("{i}")},
                           "emails": [{"value": format!("user{i}@example.com"), "type": "work", "primary": true}],
                           CW: {"sunkSshKeys": [format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:06} user{i}")]}}),
                    Profile::Rfc,
                )
                .expect("seed");
            ids.push(rec["id"].as_str().expect("id").to_string());
        }
        println!(
            "scim-server: seeded {users} users in {:.1} s; concurrency {conc}",
            t0.elapsed().as_secs_f64()
        );
        let c = Client::builder()
            .pool_max_idle_per_host(conc)
            .build()
            .expect("client");
        let ours = Target {
            name: "scim-server".into(),
            base: server.tenant_url("bench"),
            token: "bench".into(),
            ids: Arc::new(ids),
        };
        let mine = run_all(&c, &ours, 1, conc).await;

        if let Ok(peer) = std::env::var("SCIM2_SERVER_URL") {
            let token = std::env::var("SCIM2_SERVER_TOKEN").unwrap_or_default();
            let base = format!(
                "{}/bench-{}/v2",
                peer.trim_end_matches('/'),
                fastrand::u32(..)
            );
            let n = env_usize("BENCH_PEER_USERS", 1000);
            let mut ids = Vec::new();
            for i in 0..n {
                let mut r = c.post(format!("{base}/Users")).json(&json!({
                    "schemas": [USER], "userName": format!("user{i:06}"),
                    "externalId": format!("pw-activate:{i:06}"), "active": true}));
                if !token.is_empty() {
                    r = r.bearer_auth(&token);
                }
                let v: Value = r
                    .send()
                    .await
                    .expect("peer")
                    .json()
                    .await
                    .expect("peer json");
                ids.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            println!("scim2-server: seeded {n} users through its API");
            let theirs = Target {
                name: "scim2".into(),
                base,
                token,
                ids: Arc::new(ids),
            };
            let peer_figs = run_all(&c, &theirs, 10, conc).await;
            for ((k, a), (_, b)) in mine.iter().zip(peer_figs.iter()) {
                println!(
                    "ratio {:<13} {:>6.1}x  (scim-server {:.0} req/s at {users} users vs scim2-server {:.0} req/s at {n} users)",
                    format!("{k:?}"),
                    a.rps / b.rps,
                    a.rps,
                    b.rps
                );
            }
        }
        server.shutdown().await.expect("shutdown");
    });
}
