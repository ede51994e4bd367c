//! Shared by the `reliability_*` and `bad_input*` tests: a generated organization written as an
//! ACTIVATE export, the embedded SCIM server (CoreWeave profile, fault plan, unmanaged records
//! seeded), runs of the real binary, and the convergence oracle that compares the server's
//! store with the projection of the source.
#![allow(dead_code, unreachable_pub)]

pub mod activate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use scim_server::faults::FaultPlan;
use scim_server::{Profile, ResourceKind, ScimServer, ServerHandle, TenantHandle};
use serde_json::{Value, json};

/// The SCIM bearer token of the test server.
pub const TOKEN: &str = "rel-scim-token-3f9a1c";
/// The ownership prefix of the syncer's records.
pub const MANAGED: &str = "pw-activate:";
/// The CoreWeave user extension.
pub const CW_USER: &str = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pw-activate-scim-sync"))
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Valid SSH public keys (from the sample org), one per line.
pub fn sample_keys() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("examples/sample-org.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["users"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["sshKeys"].as_array().cloned().unwrap_or_default())
        .filter_map(|k| k.as_str().map(str::to_owned))
        .filter(|k| ssh_key::PublicKey::from_openssh(k).is_ok())
        .collect()
}

/// One source user.
#[derive(Debug, Clone)]
pub struct U {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub active: bool,
    pub keys: Vec<String>,
}

/// One source group.
#[derive(Debug, Clone)]
pub struct G {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// A source organization.
#[derive(Debug, Clone, Default)]
pub struct Org {
    pub users: Vec<U>,
    pub groups: Vec<G>,
}

impl Org {
    /// `n` users (`user000`…, every 7th inactive, one key each) in `g` groups (user i in
    /// group i % g, and everyone in group 0).
    pub fn generate(n: usize, g: usize) -> Org {
        let keys = sample_keys();
        let users: Vec<U> = (0..n)
            .map(|i| U {
                username: format!("user{i:03}"),
                email: Some(format!("user{i:03}@example.org")),
                name: Some(format!("User Number {i}")),
                active: i % 7 != 3,
                keys: vec![keys[i % keys.len()].clone()],
            })
            .collect();
        let groups = (0..g)
            .map(|j| G {
                id: format!("g{j:02}"),
                name: format!("team-{j:02}"),
                members: users
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| j == 0 || i % g == j)
                    .map(|(_, u)| u.username.clone())
                    .collect(),
            })
            .collect();
        Org { users, groups }
    }

    /// The ACTIVATE export document.
    pub fn to_export(&self) -> Value {
        json!({
            "version": 1,
            "organization": "acme",
            "users": self.users.iter().map(|u| json!({
                "username": u.username, "email": u.email, "name": u.name,
                "active": u.active, "sshKeys": u.keys,
            })).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(|g| json!({
                "id": g.id, "name": g.name, "members": g.members,
            })).collect::<Vec<_>>(),
        })
    }

    /// Writes the export into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("org.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&self.to_export()).unwrap()).unwrap();
        path
    }
}

/// The embedded server with the CoreWeave profile, a token and a fault plan.
pub async fn server(plan: FaultPlan) -> ServerHandle {
    ScimServer::builder()
        .bearer_token(Some(TOKEN))
        .profile(Profile::CoreWeave)
        .faults(plan)
        .start("127.0.0.1:0")
        .await
        .expect("server starts")
}

/// Seeds records the syncer does not own (another IdP's users, a hand-made one, a group of
/// them) and returns them as stored, to compare byte for byte at the end.
pub fn seed_unmanaged(t: &TenantHandle) -> Vec<Value> {
    let a = t
        .seed(
            ResourceKind::User,
            json!({"userName": "legacy-admin@example.org", "externalId": "okta:00u1", "active": true,
               "emails": [{"value": "legacy-admin@example.org", "primary": true}]}),
        )
        .unwrap();
    let b = t
        .seed(
            ResourceKind::User,
            json!({"userName": "handmade@example.org", "active": true}),
        )
        .unwrap();
    // shares a would-be managed username's shape but not the prefix
    let c = t
        .seed(
            ResourceKind::User,
            json!({"userName": "ghost@example.org", "externalId": "pw-activatex:user:ghost", "active": true}),
        )
        .unwrap();
    let g = t
        .seed(
            ResourceKind::Group,
            json!({"displayName": "okta-admins", "externalId": "okta:g1",
               "members": [{"value": a["id"], "type": "User"}, {"value": b["id"], "type": "User"}]}),
        )
        .unwrap();
    vec![a, b, c, g]
}

/// The unmanaged records, as currently stored, in the order of `before`.
pub fn current(t: &TenantHandle, before: &[Value]) -> Vec<Value> {
    before
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap();
            t.get(ResourceKind::User, id)
                .or_else(|| t.get(ResourceKind::Group, id))
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// Asserts the unmanaged records are byte-for-byte what they were.
pub fn assert_unmanaged_untouched(t: &TenantHandle, before: &[Value]) {
    let now = current(t, before);
    for (b, n) in before.iter().zip(&now) {
        assert_eq!(
            serde_json::to_string(b).unwrap(),
            serde_json::to_string(n).unwrap(),
            "an unmanaged record changed"
        );
    }
}

fn is_managed(r: &Value) -> bool {
    r["externalId"]
        .as_str()
        .is_some_and(|e| e.starts_with(MANAGED))
}

/// What a check of the target found (figures for RELIABILITY.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
}

/// The convergence oracle: the store holds exactly the projection of `org` (one managed user
/// per source user with userName = email, the right `active`, the keys; one managed group per
/// source group with the members' SCIM ids), no duplicates, nobody active who should not be.
pub fn assert_converged(t: &TenantHandle, org: &Org) -> Checked {
    let users: Vec<Value> = t.users().into_iter().filter(is_managed).collect();
    let groups: Vec<Value> = t.groups().into_iter().filter(is_managed).collect();
    let mut by_ext: BTreeMap<String, &Value> = BTreeMap::new();
    for u in &users {
        let ext = u["externalId"].as_str().unwrap().to_owned();
        assert!(
            by_ext.insert(ext.clone(), u).is_none(),
            "duplicate user {ext}"
        );
    }
    let names: BTreeSet<&str> = users
        .iter()
        .filter_map(|u| u["userName"].as_str())
        .collect();
    assert_eq!(names.len(), users.len(), "duplicate userName");
    let must_exist = org.users.iter().filter(|u| u.active).count();
    assert!(
        users.len() >= must_exist,
        "managed users: {:?}",
        by_ext.keys().collect::<Vec<_>>()
    );
    // a managed user the source no longer has is deactivated, never deleted
    for (ext, u) in &by_ext {
        let known = org
            .users
            .iter()
            .any(|s| ext == &format!("{MANAGED}user:{}", s.username));
        if !known {
            assert_eq!(
                u["active"],
                json!(false),
                "{ext} left the source but is active"
            );
        }
    }
    let mut id_of = BTreeMap::new();
    for s in &org.users {
        let ext = format!("{MANAGED}user:{}", s.username);
        // an inactive user who was never provisioned is not created
        let Some(u) = by_ext.get(&ext) else {
            assert!(!s.active, "missing user {ext}");
            continue;
        };
        assert_eq!(u["active"], json!(s.active), "active of {ext}");
        if let Some(e) = &s.email {
            assert_eq!(u["userName"], json!(e), "userName of {ext}");
        }
        let keys: Vec<String> = u[CW_USER]["sunkSshKeys"]
            .as_array()
            .map(|k| {
                k.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let want: Vec<String> = s.keys.iter().map(|k| k.trim().to_owned()).collect();
        assert_eq!(keys, want, "keys of {ext}");
        id_of.insert(s.username.clone(), u["id"].as_str().unwrap().to_owned());
    }
    let mut gext = BTreeMap::new();
    for g in &groups {
        let ext = g["externalId"].as_str().unwrap().to_owned();
        assert!(
            gext.insert(ext.clone(), g).is_none(),
            "duplicate group {ext}"
        );
    }
    assert_eq!(groups.len(), org.groups.len(), "managed groups");
    let mut memberships = 0;
    for s in &org.groups {
        let ext = format!("{MANAGED}group:{}", s.id);
        let g = gext
            .get(&ext)
            .unwrap_or_else(|| panic!("missing group {ext}"));
        assert_eq!(g["displayName"], json!(s.name), "name of {ext}");
        let got: BTreeSet<String> = g["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["value"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // inactive users are removed from groups; active members are there
        let want: BTreeSet<String> = s
            .members
            .iter()
            .filter(|m| org.users.iter().any(|u| &u.username == *m && u.active))
            .map(|m| id_of[m].clone())
            .collect();
        assert_eq!(got, want, "members of {ext}");
        memberships += got.len();
    }
    Checked {
        users: users.len(),
        groups: groups.len(),
        memberships,
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Value,
}

impl Run {
    /// Everything printed, for failure messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
    /// The report's warnings as one string.
    pub fn warnings(&self) -> String {
        self.report["warnings"].to_string()
    }
    /// `summary.by_op[op][what]`.
    pub fn by_op(&self, op: &str, what: &str) -> u64 {
        self.report["summary"]["by_op"][op][what]
            .as_u64()
            .unwrap_or(0)
    }
    /// The number of planned operations.
    pub fn planned(&self) -> usize {
        self.report["plan"].as_array().map_or(0, Vec::len)
    }
}

/// A command for the binary with a clean environment (PATH only), in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear().current_dir(dir);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// The environment of a run against `base_url` with the export at `source`.
pub fn target_env(base_url: &str, source: &Path) -> Vec<(String, String)> {
    vec![
        ("CW_SCIM_BASE_URL".into(), base_url.into()),
        ("CW_SCIM_BEARER_TOKEN".into(), TOKEN.into()),
        ("ACTIVATE_SOURCE_FILE".into(), source.display().to_string()),
        ("SYNC_NO_DYNAMIC_SETTINGS".into(), "true".into()),
        ("LOG_FORMAT".into(), "json".into()),
        ("SCIM_PAGE_SIZE".into(), "10".into()),
    ]
}

/// Runs the binary (blocking) with `--output json`, `env` then `extra` (later wins).
pub fn run_blocking(
    dir: &Path,
    env: &[(String, String)],
    extra: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut cmd = command(dir);
    cmd.args(["--output", "json"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        report,
    }
}

/// Runs the binary from async code (servers keep serving on the test runtime).
pub async fn run(env: &[(String, String)], extra: &[(&str, &str)], args: &[&str]) -> Run {
    let env = env.to_vec();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_blocking(dir.path(), &env, &extra, &args)
    })
    .await
    .unwrap()
}

/// Requests that write (anything but GET, and not a `.search` POST).
pub fn writes(server: &ServerHandle) -> Vec<scim_server::RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/.search"))
        .collect()
}

/// Requests whose answer was shaped by an injected fault.
pub fn faulted(server: &ServerHandle) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count()
}

/// Total firings of the plan's rules.
pub fn fired(server: &ServerHandle) -> u64 {
    server.faults().rules().iter().map(|r| r.fired()).sum()
}
