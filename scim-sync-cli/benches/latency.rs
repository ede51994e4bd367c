//! Whole-binary latency benchmark (issue 18, item 1): the real `pw-activate-scim-sync`
//! binary with a fixed round-trip time added to every request at both ends, as over the
//! internet, where a request costs tens of milliseconds and the requests on the critical path
//! decide the run time.
//!
//! - Target: the embedded `scim-server`, its latency fault on every request.
//! - Source: an ACTIVATE REST stand-in (a small axum app on loopback that sleeps the same
//!   round-trip time before answering), or ACTIVATE's SCIM API: a second embedded server
//!   holding the organization ACTIVATE-shaped (users with the CoreWeave extension's
//!   `sunkSshKeys`, groups with members), the same latency fault.
//!
//! For each source: the initial sync, a no-op, and a 5% churn (the same churn for both, each
//! into its own target tenant). Every figure is printed beside its floor — the requests on
//! the critical path × RTT ÷ requests in flight, from the requests the servers logged and the
//! in-flight bound the binary reached (its report's `requests.*.concurrency_reached`) — and
//! beside the load generator's ceiling: the same requests sent by a plain reqwest client,
//! unordered, with the same in-flight bound per end, to the same delayed servers, measured in
//! the same run (both ends' reads at once, then the writes: no syncer can write before it
//! has read).
//!
//! Prints figures; asserts nothing about time, only request counts (a no-op writes nothing,
//! an initial sync creates every user, each run reads only its own source). The binary runs
//! with the CLI's defaults for concurrency and page size.
//!
//! `BENCH_LATENCY_USERS` (default 10000), `BENCH_RTT_MS` (default 50); `BENCH_SMOKE=1`
//! runs 200 users at 5 ms (CI). `BENCH_SYNC_CONCURRENCY` runs the binary with that
//! `--concurrency` (`SYNC_CONCURRENCY`) instead of the default.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use scim_client::schemas::{COREWEAVE_USER, GROUP, PATCH_OP, USER};
use scim_server::faults::{Fault, FaultRule};
use scim_server::{FaultPlan, Profile, RequestRecord, ResourceKind, ScimServer, ServerHandle};
use serde_json::{Value, json};
use support::binary::{BIN, binary_mib, env_usize, kind, machine, phases, run_binary};
use support::load::{Replay, create_all, replay};
use support::org::Org;

/// The target's bearer token.
const TOKEN: &str = "bench-target-token";
/// ACTIVATE's SCIM API token.
const SCIM_TOKEN: &str = "bench-activate-scim-token";
/// An ACTIVATE API key whose host part is `127.0.0.1` (ACTIVATE_API_URL points at the
/// stand-in anyway).
const API_KEY: &str = "pwt_MTI3LjAuMC4x.bench-activate-secret";
/// The organization's name in every ACTIVATE URL.
const ORG_NAME: &str = "bench";
/// Where ACTIVATE's SCIM API is on the directory server.
const DIRECTORY_TENANT: &str = "api/organizations/bench/scim";

/// The CLI's defaults, which the binary runs with (printed beside the figures).
const CLI_CONCURRENCY: usize = 4;
const CLI_KEY_CONCURRENCY: usize = 8;
const CLI_MAX_CONCURRENCY: usize = 64;
const CLI_PAGE_SIZE: usize = 100;
const REST_PAGE_SIZE: usize = 500;

fn main() {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let users = env_usize("BENCH_LATENCY_USERS", if smoke { 200 } else { 10_000 });
    let rtt = Duration::from_millis(env_usize("BENCH_RTT_MS", if smoke { 5 } else { 50 }) as u64);
    let concurrency = std::env::var("BENCH_SYNC_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "# latency bench — {} — binary {} ({:.1} MiB)",
        machine(),
        BIN,
        binary_mib()
    );
    println!(
        "# {users} users, {} groups of ~20, two ed25519 keys each; {} ms added to every \
         request at both ends",
        (users / 10).max(1),
        rtt.as_millis()
    );
    println!(
        "# the binary runs with {}: --concurrency {}, --key-concurrency \
         {CLI_KEY_CONCURRENCY}, --max-concurrency {CLI_MAX_CONCURRENCY} (the in-flight bound \
         adapts between them), --page-size {CLI_PAGE_SIZE} (SCIM), {REST_PAGE_SIZE} users per \
         REST page",
        if concurrency.is_some() {
            "SYNC_CONCURRENCY set, the rest the CLI's defaults"
        } else {
            "the CLI's defaults"
        },
        concurrency.unwrap_or(CLI_CONCURRENCY)
    );
    println!(
        "# floor = requests on the critical path × RTT ÷ requests in flight (the bound the \
         binary reached per end); ceiling = the same requests from a plain load generator, \
         unordered, the same bound per end, the same delayed servers: both ends' reads at \
         once, then the writes\n"
    );

    let mut org = Org::generate(users, 42);
    let target = rt.block_on(start_delayed(TOKEN, rtt));
    let directory = rt.block_on(start_delayed(SCIM_TOKEN, rtt));
    seed_directory(&directory, &org);
    let rest = rt.block_on(RestStandIn::start(&org, rtt));
    let ends = Ends {
        target: &target,
        directory: &directory,
        rest: &rest,
        rtt,
        concurrency,
        http: reqwest::Client::new(),
    };

    let mut rows = Vec::new();
    for source in [SourceKind::Scim, SourceKind::Rest] {
        let tenant = source.tenant();
        let initial = ends.run(&format!("initial sync, {source}"), source, tenant);
        assert_eq!(
            initial.target_count("POST Users"),
            users as u64,
            "the initial sync creates every user"
        );
        let ceiling = rt.block_on(ends.initial_ceiling(&initial, &org));
        rows.push(initial.print(ceiling));
        let noop = ends.run(&format!("no-op, {source}"), source, tenant);
        assert_eq!(noop.writes(), 0, "a no-op writes nothing");
        assert_eq!(
            noop.report_count("scim", "writes"),
            0,
            "a no-op writes nothing"
        );
        let ceiling = rt.block_on(ends.replay_ceiling(&noop));
        rows.push(noop.print(ceiling));
    }

    let changes = org.churn(0.05, 7);
    seed_directory(&directory, &org);
    rest.set(&org);
    println!(
        "\n# churn: {} changes to users ({} key, {} name, {} removed, {} moved to another \
         group), in both sources",
        changes.total(),
        changes.keys,
        changes.names,
        changes.removed,
        changes.moved
    );
    for source in [SourceKind::Scim, SourceKind::Rest] {
        let churn = ends.run(&format!("5% churn, {source}"), source, source.tenant());
        assert!(churn.writes() > 0, "the churn writes");
        let ceiling = rt.block_on(ends.replay_ceiling(&churn));
        rows.push(churn.print(ceiling));
    }

    print_table(&rows, users, rtt);
    rt.block_on(async {
        target.shutdown().await.expect("shutdown");
        directory.shutdown().await.expect("shutdown");
    });
}

/// The embedded server with `rtt` added to every request, before it is handled.
async fn start_delayed(token: &str, rtt: Duration) -> ServerHandle {
    ScimServer::builder()
        .bearer_token(Some(token))
        .profile(Profile::Rfc)
        .request_log_capacity(2_000_000)
        .faults(FaultPlan::new(1).rule(FaultRule::new(Fault::Latency(rtt))))
        .start("127.0.0.1:0")
        .await
        .expect("embedded server starts")
}

/// The SCIM id of a user in ACTIVATE's SCIM API (group members name users by it).
fn directory_id(username: &str) -> String {
    format!("id-{username}")
}

/// Puts `org` into the directory server as ACTIVATE's SCIM API holds it, replacing what was
/// there.
fn seed_directory(directory: &ServerHandle, org: &Org) {
    let tenant = directory.tenant(DIRECTORY_TENANT);
    tenant.clear();
    for u in &org.users {
        let user = json!({
            "schemas": [USER, COREWEAVE_USER],
            "id": directory_id(&u.username),
            "userName": u.username,
            "active": true,
            "name": {"formatted": u.name},
            "emails": [{"value": u.email, "primary": true}],
            COREWEAVE_USER: {"sunkSshKeys": u.keys, "sunkPosixUsername": u.username},
        });
        tenant.seed(ResourceKind::User, user).expect("seeded user");
    }
    for g in &org.groups {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| json!({"value": directory_id(m), "type": "User"}))
            .collect();
        let group =
            json!({"schemas": [GROUP], "id": g.id, "displayName": g.name, "members": members});
        tenant
            .seed(ResourceKind::Group, group)
            .expect("seeded group");
    }
}

/// Which source a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    /// ACTIVATE's REST API (the stand-in): pages of users, the groups, a request per group
    /// for its members and one per user for the keys.
    Rest,
    /// ACTIVATE's SCIM API: pages of users and groups, keys and members within.
    Scim,
}

impl SourceKind {
    /// The target tenant the runs with this source sync into.
    fn tenant(self) -> &'static str {
        match self {
            SourceKind::Rest => "via-rest",
            SourceKind::Scim => "via-scim",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Rest => "REST source",
            SourceKind::Scim => "SCIM source",
        })
    }
}

/// The ACTIVATE REST API stand-in: the routes the ACTIVATE client calls, each answered
/// after the round-trip time, every request logged (path and query).
struct RestStandIn {
    url: String,
    state: Arc<RestState>,
}

struct RestState {
    rtt: Duration,
    org: RwLock<RestOrg>,
    log: Mutex<Vec<String>>,
}

/// The organization with its lookups by name.
struct RestOrg {
    org: Org,
    users: HashMap<String, usize>,
    groups: HashMap<String, usize>,
}

impl RestOrg {
    fn new(org: &Org) -> Self {
        Self {
            users: org
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| (u.username.clone(), i))
                .collect(),
            groups: org
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.clone(), i))
                .collect(),
            org: org.clone(),
        }
    }
}

impl RestStandIn {
    async fn start(org: &Org, rtt: Duration) -> Self {
        let state = Arc::new(RestState {
            rtt,
            org: RwLock::new(RestOrg::new(org)),
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(rest_answer)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the stand-in binds");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    /// Serves `org` from now on.
    fn set(&self, org: &Org) {
        *self.state.org.write().expect("org lock") = RestOrg::new(org);
    }

    /// The requests logged since the last call (paths with their queries).
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.state.log.lock().expect("log lock"))
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

async fn rest_answer(State(state): State<Arc<RestState>>, uri: Uri) -> Response {
    tokio::time::sleep(state.rtt).await;
    let logged = uri.path_and_query().map_or("", |p| p.as_str()).to_owned();
    state.log.lock().expect("log lock").push(logged);
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = |name: &str| {
        uri.query()
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let data = state.org.read().expect("org lock");
    let org = &data.org;
    let user_json = |i: usize| {
        let u = &org.users[i];
        json!({"id": directory_id(&u.username), "username": u.username, "email": u.email,
               "name": u.name, "active": true, "admin": false, "licenseStatus": "active"})
    };
    match segments.as_slice() {
        ["api", "auth", "whoami", "organization"] => axum::Json(json!(ORG_NAME)).into_response(),
        ["api", "organizations", ORG_NAME, "users"] => {
            let skip = query("skip").unwrap_or(0);
            let limit = query("limit").unwrap_or(50);
            let page: Vec<Value> = (skip..org.users.len()).take(limit).map(user_json).collect();
            axum::Json(json!({"total": org.users.len(), "users": page})).into_response()
        }
        ["api", "organizations", ORG_NAME, "groups"] => {
            let groups: Vec<Value> = org
                .groups
                .iter()
                .map(|g| json!({"id": g.id, "name": g.name, "members": g.members.len()}))
                .collect();
            axum::Json(Value::Array(groups)).into_response()
        }
        ["api", "organizations", ORG_NAME, "groups", name, "members"] => {
            let Some(&g) = data.groups.get(*name) else {
                return (StatusCode::NOT_FOUND, "no such group").into_response();
            };
            let members: Vec<Value> = org.groups[g]
                .members
                .iter()
                .filter_map(|m| data.users.get(m))
                .map(|&i| {
                    let u = &org.users[i];
                    json!({"id": directory_id(&u.username), "username": u.username, "email": u.email})
                })
                .collect();
            axum::Json(Value::Array(members)).into_response()
        }
        ["api", "users", username, "ssh-public-keys"] => match data.users.get(*username) {
            Some(&i) => (
                [(header::CONTENT_TYPE, "text/plain")],
                org.users[i].keys.join("\n"),
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, "no such user").into_response(),
        },
        _ => (StatusCode::NOT_FOUND, "no route").into_response(),
    }
}

/// Both ends of a run and what runs against them.
struct Ends<'a> {
    target: &'a ServerHandle,
    directory: &'a ServerHandle,
    rest: &'a RestStandIn,
    rtt: Duration,
    /// `SYNC_CONCURRENCY` for the binary (`None`: the CLI's default).
    concurrency: Option<usize>,
    http: reqwest::Client,
}

impl Ends<'_> {
    /// Runs the binary once from `source` into the target's `tenant` and collects what each
    /// end saw.
    fn run(&self, label: &str, source: SourceKind, tenant: &str) -> Measured {
        self.target.clear_requests();
        self.directory.clear_requests();
        self.rest.take_log();
        let mut envs = vec![
            ("CW_SCIM_BASE_URL", self.target.tenant_url(tenant)),
            ("CW_SCIM_BEARER_TOKEN", TOKEN.to_owned()),
            ("ACTIVATE_ORG_NAME", ORG_NAME.to_owned()),
        ];
        if let Some(n) = self.concurrency {
            envs.push(("SYNC_CONCURRENCY", n.to_string()));
        }
        match source {
            SourceKind::Rest => envs.extend([
                ("ACTIVATE_API_KEY", API_KEY.to_owned()),
                ("ACTIVATE_API_URL", self.rest.url.clone()),
            ]),
            SourceKind::Scim => envs.extend([
                ("ACTIVATE_SCIM_TOKEN", SCIM_TOKEN.to_owned()),
                (
                    "ACTIVATE_SCIM_URL",
                    self.directory.tenant_url(DIRECTORY_TENANT),
                ),
            ]),
        }
        let (wall, peak_rss_kib, report) = run_binary(&[], &envs);
        assert_eq!(
            report["outcome"], "ok",
            "{label}: the run succeeds; report: {report:.2000}"
        );
        let target: Vec<RequestRecord> = self
            .target
            .requests()
            .into_iter()
            .filter(|r| r.tenant == tenant)
            .collect();
        let directory = self.directory.requests();
        let rest = self.rest.take_log();
        let source_urls: Vec<String> = match source {
            SourceKind::Rest => {
                assert!(directory.is_empty(), "{label}: the SCIM API is not asked");
                rest.iter()
                    .map(|p| format!("{}{p}", self.rest.url))
                    .collect()
            }
            SourceKind::Scim => {
                assert!(rest.is_empty(), "{label}: the REST API is not asked");
                assert!(
                    directory.iter().all(|r| r.method == "GET"),
                    "{label}: the source is only read"
                );
                directory
                    .iter()
                    .map(|r| self.record_url(self.directory, r))
                    .collect()
            }
        };
        Measured {
            label: label.to_owned(),
            source,
            tenant: tenant.to_owned(),
            rtt: self.rtt,
            start_concurrency: self.concurrency.unwrap_or(CLI_CONCURRENCY),
            wall,
            peak_rss_kib,
            report,
            target,
            source_urls,
        }
    }

    /// The whole URL of a logged request.
    fn record_url(&self, server: &ServerHandle, r: &RequestRecord) -> String {
        match &r.query {
            Some(q) => format!("http://{}{}?{q}", server.addr(), r.path),
            None => format!("http://{}{}", server.addr(), r.path),
        }
    }

    /// The source's requests, replayed at the bound the binary reached on that end.
    fn source_replays(&self, run: &Measured) -> (Vec<Replay>, Option<String>, usize) {
        let auth = match run.source {
            SourceKind::Scim => Some(format!("Bearer {SCIM_TOKEN}")),
            SourceKind::Rest => None,
        };
        let replays = run.source_urls.iter().cloned().map(Replay::get).collect();
        (replays, auth, run.bound("activate"))
    }

    /// The target's reads of `run`, sent to `tenant`.
    fn target_reads(&self, run: &Measured, tenant: &str) -> Vec<Replay> {
        let (from, to) = (format!("/{}/v2/", run.tenant), format!("/{tenant}/v2/"));
        run.target
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| Replay::get(self.record_url(self.target, r).replacen(&from, &to, 1)))
            .collect()
    }

    /// Both ends' reads at once, each end at its bound, as the binary reads them.
    async fn replay_reads(&self, run: &Measured, target: Vec<Replay>) {
        let (source, auth, source_bound) = self.source_replays(run);
        let target_auth = format!("Bearer {TOKEN}");
        tokio::join!(
            replay(&self.http, source, auth.as_deref(), source_bound),
            replay(&self.http, target, Some(&target_auth), run.bound("scim")),
        );
    }

    /// The initial sync's ceiling: both ends' reads (the target's against a fresh tenant),
    /// then the same writes as the binary's (every user, every group, the member PATCHes)
    /// into that tenant.
    async fn initial_ceiling(&self, run: &Measured, org: &Org) -> Duration {
        let tenant = format!("ceiling-{}", run.tenant);
        let started = std::time::Instant::now();
        self.replay_reads(run, self.target_reads(run, &tenant))
            .await;
        create_all(
            &self.target.tenant_url(&tenant),
            TOKEN,
            org,
            run.target_count("PATCH Groups"),
            run.bound("scim"),
        )
        .await;
        started.elapsed()
    }

    /// The ceiling of a run into a populated tenant: both ends' reads as they were, then
    /// each write as a PATCH of the same record that sets a value it already holds (`active`
    /// of a user, `displayName` of a group), so that the target's state stays the run's.
    async fn replay_ceiling(&self, run: &Measured) -> Duration {
        let store = self.target.tenant(&run.tenant);
        let writes: Vec<Replay> = run
            .target
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| {
                let url = self.record_url(self.target, r);
                let (kind, attribute) = if r.path.contains("/Users/") {
                    (ResourceKind::User, "active")
                } else {
                    (ResourceKind::Group, "displayName")
                };
                let id = r.path.rsplit('/').next().unwrap_or_default();
                let record = store
                    .get(kind, id)
                    .unwrap_or_else(|| panic!("{} {} names no record", r.method, r.path));
                Replay {
                    method: "PATCH",
                    url,
                    body: Some(json!({
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "replace", "path": attribute, "value": record[attribute]}],
                    })),
                }
            })
            .collect();
        let target_auth = format!("Bearer {TOKEN}");
        let started = std::time::Instant::now();
        self.replay_reads(run, self.target_reads(run, &run.tenant))
            .await;
        replay(&self.http, writes, Some(&target_auth), run.bound("scim")).await;
        started.elapsed()
    }
}

/// What one run of the binary cost, and what each end saw.
struct Measured {
    label: String,
    source: SourceKind,
    tenant: String,
    rtt: Duration,
    /// The `--concurrency` the binary ran with (its target bound's start, its writes).
    start_concurrency: usize,
    wall: Duration,
    peak_rss_kib: u64,
    report: Value,
    /// The target's requests of this run.
    target: Vec<RequestRecord>,
    /// The source's requests of this run, as whole URLs.
    source_urls: Vec<String>,
}

/// Requests on the critical path, in round trips, at a given in-flight bound per end.
#[derive(Debug, Clone, Copy)]
struct CriticalPath {
    source: u64,
    target_read: u64,
    lookups: u64,
    writes: u64,
}

impl CriticalPath {
    /// Both ends are read at once; the lookups and then the writes follow.
    fn round_trips(&self) -> u64 {
        self.source.max(self.target_read) + self.lookups + self.writes
    }
}

/// `⌈n ÷ bound⌉`
fn waves(n: u64, bound: usize) -> u64 {
    n.div_ceil(bound.max(1) as u64)
}

/// A walk of index pages: the first pages (users and groups at once), the discovery the
/// client asks before its first second page, then the other pages `bound` at a time.
fn walk(pages: u64, discovery: u64, bound: usize) -> u64 {
    if pages == 0 {
        return discovery;
    }
    1 + discovery + waves(pages.saturating_sub(2), bound)
}

fn is_discovery(path: &str) -> bool {
    ["ServiceProviderConfig", "Schemas", "ResourceTypes"]
        .iter()
        .any(|d| path.contains(d))
}

impl Measured {
    fn report_count(&self, side: &str, field: &str) -> u64 {
        self.report
            .pointer(&format!("/requests/{side}/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// The highest in-flight bound the binary reached on `side` (`scim`: the target,
    /// `activate`: the source).
    fn bound(&self, side: &str) -> usize {
        (self.report_count(side, "concurrency_reached") as usize).max(1)
    }

    /// The target's requests by kind (`POST Users` → n).
    fn target_kinds(&self) -> BTreeMap<String, u64> {
        let mut kinds = BTreeMap::new();
        for r in &self.target {
            *kinds.entry(kind(&r.method, &r.path)).or_insert(0) += 1;
        }
        kinds
    }

    fn target_count(&self, kind: &str) -> u64 {
        self.target_kinds().get(kind).copied().unwrap_or(0)
    }

    fn writes(&self) -> u64 {
        self.target.iter().filter(|r| r.method != "GET").count() as u64
    }

    /// The source's requests by kind: SCIM list pages and discovery, or the REST routes.
    fn source_kinds(&self) -> BTreeMap<&'static str, u64> {
        let mut kinds = BTreeMap::new();
        for url in &self.source_urls {
            let path = url.split('?').next().unwrap_or_default();
            let kind = match self.source {
                SourceKind::Scim if is_discovery(path) => "discovery",
                SourceKind::Scim => "list pages",
                SourceKind::Rest if path.ends_with("/ssh-public-keys") => "key listings",
                SourceKind::Rest if path.ends_with("/members") => "member lists",
                SourceKind::Rest if path.ends_with("/groups") => "group lists",
                SourceKind::Rest if path.ends_with("/users") => "user pages",
                SourceKind::Rest => "other",
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
        kinds
    }

    /// The target's reads: the managed walk's pages (`externalId sw`), discovery, and the
    /// lookups of who holds a name (one after another).
    fn target_reads(&self) -> (u64, u64, u64) {
        let (mut pages, mut discovery, mut lookups) = (0, 0, 0);
        for r in self.target.iter().filter(|r| r.method == "GET") {
            let query = decode(&r.query.clone().unwrap_or_default().replace('+', " "));
            if is_discovery(&r.path) {
                discovery += 1;
            } else if query.contains(" sw ") {
                pages += 1;
            } else {
                lookups += 1;
            }
        }
        (pages, discovery, lookups)
    }

    /// The critical path at `target_bound` requests in flight to the target and
    /// `source_bound` to the source.
    fn critical_path(&self, target_bound: usize, source_bound: usize) -> CriticalPath {
        let source = self.source_kinds();
        let n = |k: &str| source.get(k).copied().unwrap_or(0);
        let source = match self.source {
            SourceKind::Scim => walk(n("list pages"), n("discovery"), source_bound),
            // the first user page, then the others `source_bound` at a time, the group list,
            // then the member lists, then the key listings, `source_bound` at a time
            SourceKind::Rest => {
                n("user pages").min(1)
                    + waves(n("user pages").saturating_sub(1), source_bound)
                    + n("group lists")
                    + waves(n("member lists"), source_bound)
                    + waves(n("key listings"), source_bound)
            }
        };
        let (pages, discovery, lookups) = self.target_reads();
        // users are created before the groups that name them, groups before their member
        // PATCHes; any other writes are independent of each other
        let kinds = self.target_kinds();
        let k = |name: &str| kinds.get(name).copied().unwrap_or(0);
        let other = self.writes() - k("POST Users") - k("POST Groups");
        let writes = waves(k("POST Users"), target_bound)
            + waves(k("POST Groups"), target_bound)
            + waves(other, target_bound);
        CriticalPath {
            source,
            target_read: walk(pages, discovery, target_bound),
            lookups,
            writes,
        }
    }

    /// Prints the run beside its floor and its ceiling; returns its row of the summary.
    fn print(&self, ceiling: Duration) -> Row {
        let (tb, sb) = (self.bound("scim"), self.bound("activate"));
        let path = self.critical_path(tb, sb);
        let floor = self.rtt * path.round_trips() as u32;
        let start_bound = match self.source {
            SourceKind::Rest => CLI_KEY_CONCURRENCY,
            SourceKind::Scim => 8, // the SCIM directory client starts at 8
        };
        let at_start = self.critical_path(self.start_concurrency, start_bound);
        let [read, plan, apply] = phases(&self.report);
        println!("\n## {}", self.label);
        println!(
            "  wall {:.2} s (read {} ms, plan {} ms, apply {} ms; the rest is process start and \
             exit), peak RSS {:.1} MiB",
            self.wall.as_secs_f64(),
            read.as_millis(),
            plan.as_millis(),
            apply.as_millis(),
            self.peak_rss_kib as f64 / 1024.0
        );
        let show = |m: BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let source_kinds = self
            .source_kinds()
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        println!(
            "  source: {} requests ({})",
            self.source_urls.len(),
            show(source_kinds)
        );
        println!(
            "  target: {} requests ({})",
            self.target.len(),
            show(self.target_kinds())
        );
        for side in ["activate", "scim"] {
            println!(
                "  report requests.{side}: count {}, retries {}, throttled {}, writes {}, \
                 concurrency_reached {}, retry_after_wait_ms {}",
                self.report_count(side, "count"),
                self.report_count(side, "retries"),
                self.report_count(side, "throttled"),
                self.report_count(side, "writes"),
                self.report_count(side, "concurrency_reached"),
                self.report_count(side, "retry_after_wait_ms"),
            );
        }
        println!(
            "  floor {:.2} s = {} round trips × {} ms: max(source {}, target read {}) + \
             lookups {} + writes {}, at the bounds reached (target {tb}, source {sb} in flight)",
            floor.as_secs_f64(),
            path.round_trips(),
            self.rtt.as_millis(),
            path.source,
            path.target_read,
            path.lookups,
            path.writes
        );
        println!(
            "  (at the starting bounds, target {} and source {start_bound} in flight, the floor \
             would be {:.2} s)",
            self.start_concurrency,
            (self.rtt * at_start.round_trips() as u32).as_secs_f64()
        );
        println!(
            "  ceiling {:.2} s: the load generator, the same requests, target {tb} and source \
             {sb} in flight",
            ceiling.as_secs_f64()
        );
        let row = Row {
            label: self.label.clone(),
            requests: (self.source_urls.len(), self.target.len()),
            bounds: (sb, tb),
            wall: self.wall,
            floor,
            ceiling,
            retry_after_ms: self.report_count("activate", "retry_after_wait_ms")
                + self.report_count("scim", "retry_after_wait_ms"),
        };
        println!(
            "  measured ÷ floor {:.2}×, measured ÷ ceiling {:.2}×",
            row.over_floor(),
            row.over_ceiling()
        );
        row
    }
}

/// One line of the summary.
struct Row {
    label: String,
    /// (source, target)
    requests: (usize, usize),
    /// (source, target) in-flight bounds reached
    bounds: (usize, usize),
    wall: Duration,
    floor: Duration,
    ceiling: Duration,
    retry_after_ms: u64,
}

impl Row {
    fn over_floor(&self) -> f64 {
        self.wall.as_secs_f64() / self.floor.as_secs_f64().max(1e-3)
    }
    fn over_ceiling(&self) -> f64 {
        self.wall.as_secs_f64() / self.ceiling.as_secs_f64().max(1e-3)
    }
}

/// The summary as a Markdown table, and the goals against it.
fn print_table(rows: &[Row], users: usize, rtt: Duration) {
    println!("\n## summary ({users} users, {} ms)\n", rtt.as_millis());
    println!(
        "| run | requests (source + target) | in flight reached (source / target) | time | \
         floor | ceiling | ÷ floor | ÷ ceiling | Retry-After wait |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} + {} | {} / {} | {:.2} s | {:.2} s | {:.2} s | {:.2}× | {:.2}× | {} ms |",
            r.label,
            r.requests.0,
            r.requests.1,
            r.bounds.0,
            r.bounds.1,
            r.wall.as_secs_f64(),
            r.floor.as_secs_f64(),
            r.ceiling.as_secs_f64(),
            r.over_floor(),
            r.over_ceiling(),
            r.retry_after_ms
        );
    }
    let find = |label: &str| rows.iter().find(|r| r.label == label);
    let met = |yes: bool| if yes { "met" } else { "not met" };
    println!(
        "\n# the issue's goals (stated for 10,000 users at 50 ms; this run: {users} users at {} ms)",
        rtt.as_millis()
    );
    if let Some(r) = find("no-op, SCIM source") {
        println!(
            "  no-op with the SCIM source under 2 s: {:.2} s, {}",
            r.wall.as_secs_f64(),
            met(r.wall < Duration::from_secs(2))
        );
    }
    if let Some(r) = find("no-op, REST source") {
        println!(
            "  no-op with the REST source under 10 s: {:.2} s, {}",
            r.wall.as_secs_f64(),
            met(r.wall < Duration::from_secs(10))
        );
    }
    for label in ["initial sync, SCIM source", "initial sync, REST source"] {
        if let Some(r) = find(label) {
            println!(
                "  {label} within 1.2× of the load generator: {:.2}×, {}",
                r.over_ceiling(),
                met(r.over_ceiling() <= 1.2)
            );
        }
    }
    for label in ["5% churn, SCIM source", "5% churn, REST source"] {
        if let Some(r) = find(label) {
            println!(
                "  {label} under 3 s: {:.2} s, {}",
                r.wall.as_secs_f64(),
                met(r.wall < Duration::from_secs(3))
            );
        }
    }
}
