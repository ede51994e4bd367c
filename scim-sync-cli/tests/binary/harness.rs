//! One end-to-end setup: a fake ACTIVATE, a SCIM target, and runs of the real binary between
//! them (in a blocking thread, so both servers keep serving from the test's runtime).

use serde_json::Value;

use crate::fake_activate::{FakeActivate, ORG, Org};
use crate::support::{Run, command};
use crate::targets::Target;

/// An API key that decodes to a loopback host (`127.0.0.1`); `ACTIVATE_API_URL` points at
/// the fake. Unique so that a leak is unmistakable.
pub(crate) const API_KEY: &str = "pwt_MTI3LjAuMC4x.e2e-activate-secret-9f27c1";
pub(crate) const MANAGED: &str = "pw-activate:";

pub(crate) struct Env {
    pub(crate) fake: FakeActivate,
    pub(crate) target: Target,
}

/// A finished run: exit code, the JSON report (when `--output json` printed one), the output.
pub(crate) struct Sync {
    pub(crate) run: Run,
    pub(crate) report: Value,
}

impl Sync {
    pub(crate) fn code(&self) -> i32 {
        self.run.code
    }

    /// The `op` names of the plan.
    pub(crate) fn ops(&self) -> Vec<String> {
        self.report["plan"]
            .as_array()
            .map(|ops| {
                ops.iter()
                    .map(|o| o["op"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn warnings(&self) -> String {
        self.report["warnings"].to_string()
    }

    pub(crate) fn all(&self) -> String {
        self.run.all()
    }
}

impl Env {
    pub(crate) async fn new(org: Org, target: Target) -> Env {
        Env {
            fake: FakeActivate::start(org).await,
            target,
        }
    }

    pub(crate) async fn sample(target: Target) -> Env {
        Self::new(Org::sample(), target).await
    }

    /// The environment a deployment would give the binary, pointed at the two fakes.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ACTIVATE_API_KEY".into(), API_KEY.into()),
            ("ACTIVATE_API_URL".into(), self.fake.url()),
            ("ACTIVATE_ORG_NAME".into(), ORG.into()),
            ("CW_SCIM_BASE_URL".into(), self.target.base_url()),
            ("CW_SCIM_BEARER_TOKEN".into(), self.target.token()),
            ("SYNC_NO_DYNAMIC_SETTINGS".into(), "true".into()),
            ("LOG_FORMAT".into(), "json".into()),
        ]
    }

    /// Runs the binary with `--output json` plus `args`, the deployment env plus `env`.
    pub(crate) async fn sync(&self, args: &[&str], env: &[(&str, &str)]) -> Sync {
        let mut full_args: Vec<String> = vec!["--output".into(), "json".into()];
        full_args.extend(args.iter().map(|a| a.to_string()));
        let run = self.run_raw(full_args, env).await;
        let report = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout is not exactly one JSON object ({e}): {}", run.all())
        });
        Sync { run, report }
    }

    /// Starts the binary with exactly these arguments, stdout and stderr piped.
    pub(crate) fn spawn_raw(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = command(dir.path());
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in self.env() {
            if !env.iter().any(|(name, _)| *name == k) {
                cmd.env(k, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the binary starts");
        // the directory only has to exist while the binary starts (nothing is written there)
        std::mem::forget(dir);
        child
    }

    /// Runs the binary with exactly these arguments.
    pub(crate) async fn run_raw(&self, args: Vec<String>, env: &[(&str, &str)]) -> Run {
        let mut vars = self.env();
        for (k, v) in env {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = command(dir.path());
            cmd.args(&args);
            for (k, v) in &vars {
                cmd.env(k, v);
            }
            Run::from_output(cmd.output().expect("the binary runs"))
        })
        .await
        .unwrap()
    }

    /// A successful run (exit 0), or a panic showing everything it printed.
    pub(crate) async fn sync_ok(&self, args: &[&str], env: &[(&str, &str)]) -> Sync {
        let s = self.sync(args, env).await;
        assert_eq!(s.code(), 0, "expected success: {}", s.all());
        s
    }

    /// The managed user with this ACTIVATE username.
    pub(crate) async fn user(&self, username: &str) -> Option<Value> {
        let ext = format!("{MANAGED}user:{}", username.to_lowercase());
        self.target
            .users()
            .await
            .into_iter()
            .find(|u| u["externalId"] == ext.as_str())
    }

    /// The managed group with this ACTIVATE id.
    pub(crate) async fn group_by_id(&self, id: &str) -> Option<Value> {
        let ext = format!("{MANAGED}group:{id}");
        self.target
            .groups()
            .await
            .into_iter()
            .find(|g| g["externalId"] == ext.as_str())
    }

    /// Managed users in the target.
    pub(crate) async fn managed_users(&self) -> Vec<Value> {
        self.target
            .users()
            .await
            .into_iter()
            .filter(|u| {
                u["externalId"]
                    .as_str()
                    .is_some_and(|e| e.starts_with(MANAGED))
            })
            .collect()
    }

    /// Managed groups in the target.
    pub(crate) async fn managed_groups(&self) -> Vec<Value> {
        self.target
            .groups()
            .await
            .into_iter()
            .filter(|g| {
                g["externalId"]
                    .as_str()
                    .is_some_and(|e| e.starts_with(MANAGED))
            })
            .collect()
    }
}

/// The SCIM ids of a group's members.
pub(crate) fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The SSH keys of a user record.
pub(crate) fn ssh_keys(user: &Value) -> Vec<String> {
    user["urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser"]["sunkSshKeys"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
