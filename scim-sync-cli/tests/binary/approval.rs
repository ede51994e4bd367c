//! Approving a refused change through the `SCIMConfig` resource, as an operator does in a
//! cluster: a refused run, a dry run that shows what the approval lifts, `dryRun` pausing
//! writes, the run that uses the approval and removes it, and the next refusal that it no
//! longer approves. The Kubernetes API is a small stateful fake (GET, and a merge PATCH with
//! the `resourceVersion` precondition the API server applies).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::harness::{Env, Sync};
use crate::targets::Target;

const RESOURCE: &str = "/apis/scim.parallel.works/v1alpha1/namespaces/pw-scim/scimconfigs/default";
const KUBE_TOKEN: &str = "kube-approval-token-5521";

/// The resource as the API server holds it.
#[derive(Clone)]
struct Stored(Arc<Mutex<Value>>);

impl Stored {
    fn spec(&self) -> Value {
        self.0.lock().unwrap()["spec"].clone()
    }

    /// What `kubectl patch --type merge` does.
    fn set(&self, field: &str, value: Value) {
        let mut resource = self.0.lock().unwrap();
        resource["spec"][field] = value;
        bump(&mut resource);
    }
}

fn bump(resource: &mut Value) {
    let version: u64 = resource["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    resource["metadata"]["resourceVersion"] = json!((version + 1).to_string());
}

impl Respond for Stored {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorized = request
            .headers
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == format!("Bearer {KUBE_TOKEN}").as_bytes());
        if !authorized {
            return ResponseTemplate::new(401);
        }
        let mut resource = self.0.lock().unwrap();
        match request.method.as_str() {
            "GET" => ResponseTemplate::new(200).set_body_json(resource.clone()),
            "PATCH" => {
                let content_type = request.headers.get("content-type");
                if content_type.is_none_or(|v| v.as_bytes() != b"application/merge-patch+json") {
                    return ResponseTemplate::new(415);
                }
                let patch: Value = serde_json::from_slice(&request.body).unwrap();
                if let Some(version) = patch.pointer("/metadata/resourceVersion")
                    && *version != resource["metadata"]["resourceVersion"]
                {
                    return ResponseTemplate::new(409).set_body_json(json!({
                        "kind": "Status", "status": "Failure", "reason": "Conflict",
                        "message": "the object has been modified", "code": 409
                    }));
                }
                for (field, value) in patch["spec"].as_object().unwrap() {
                    let spec = resource["spec"].as_object_mut().unwrap();
                    if value.is_null() {
                        spec.remove(field);
                    } else {
                        spec.insert(field.clone(), value.clone());
                    }
                }
                bump(&mut resource);
                ResponseTemplate::new(200).set_body_json(resource.clone())
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

struct FakeKube {
    server: MockServer,
    stored: Stored,
    _dir: tempfile::TempDir,
    kubeconfig: String,
}

impl FakeKube {
    async fn start() -> FakeKube {
        let server = MockServer::start().await;
        let stored = Stored(Arc::new(Mutex::new(json!({
            "apiVersion": "scim.parallel.works/v1alpha1",
            "kind": "SCIMConfig",
            "metadata": {"name": "default", "namespace": "pw-scim", "resourceVersion": "100"},
            "spec": {}
        }))));
        Mock::given(path(RESOURCE))
            .respond_with(stored.clone())
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n\
                 contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
                 current-context: c\nusers:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\n",
                server.uri()
            ),
        )
        .unwrap();
        FakeKube {
            server,
            stored,
            kubeconfig: kubeconfig.display().to_string(),
            _dir: dir,
        }
    }

    fn env(&self) -> [(&str, &str); 3] {
        [
            ("SYNC_NO_DYNAMIC_SETTINGS", "false"),
            ("KUBECONFIG", self.kubeconfig.as_str()),
            ("POD_NAMESPACE", "pw-scim"),
        ]
    }

    async fn patches(&self) -> usize {
        let requests = self.server.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PATCH")
            .count()
    }
}

fn approval(run: &Sync) -> &Value {
    &run.report["mass_change_approval"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_is_approved_once_through_the_scimconfig() {
    let kube = FakeKube::start().await;
    let env = Env::sample(Target::embedded().await).await;
    env.sync_ok(&[], &kube.env()).await;

    // most users leave: refused, nothing written, and the advice names the approval
    env.fake
        .edit(|o| o.keep_only(&["ada", "alan", "grace", "linus", "ken", "radia"]));
    let refused = env.sync(&[], &kube.env()).await;
    assert_eq!(refused.code(), 3, "{}", refused.all());
    assert!(approval(&refused).is_null());
    let text = env.run_raw(vec![], &kube.env()).await;
    assert_eq!(text.code, 3);
    assert!(
        text.stdout.contains("allowMassChanges: true"),
        "{}",
        text.stdout
    );

    // the operator approves; a dry run shows what the approval lifts and leaves it
    kube.stored.set("allowMassChanges", json!(true));
    let preview = env.sync(&["--dry-run"], &kube.env()).await;
    assert_eq!(preview.code(), 0, "{}", preview.all());
    assert_eq!(approval(&preview)["outcome"], "would_be_used");
    assert_eq!(
        approval(&preview)["lifted"]["reasons"][0]["kind"],
        "too_many_deactivations"
    );
    assert_eq!(preview.report["refusal"], Value::Null);
    let text = env.run_raw(vec!["--dry-run".into()], &kube.env()).await;
    assert!(
        text.stdout
            .contains("APPROVED (dry run): the one-shot approval in SCIMConfig pw-scim/default"),
        "{}",
        text.stdout
    );
    assert_eq!(kube.stored.spec()["allowMassChanges"], true);

    // dryRun pauses writes: the scheduled run is a dry run, the approval still waits
    kube.stored.set("dryRun", json!(true));
    let paused = env.sync(&[], &kube.env()).await;
    assert_eq!(paused.code(), 0, "{}", paused.all());
    assert_eq!(paused.report["dry_run"], true);
    assert_eq!(paused.report["settings"]["dry_run"]["source"], "dynamic");
    assert_eq!(approval(&paused)["outcome"], "would_be_used");
    assert_eq!(kube.patches().await, 0);
    assert_eq!(
        env.managed_users()
            .await
            .iter()
            .filter(|u| u["active"] == true)
            .count(),
        32
    );
    kube.stored.set("dryRun", Value::Null);

    // the next run uses the approval, removes it, and applies the change
    let approved = env.sync(&[], &kube.env()).await;
    assert_eq!(approved.code(), 0, "{}", approved.all());
    assert_eq!(approval(&approved)["outcome"], "used");
    assert_eq!(
        approval(&approved)["resource"],
        "SCIMConfig pw-scim/default"
    );
    assert_eq!(kube.patches().await, 1);
    assert!(
        kube.stored.spec().get("allowMassChanges").is_none(),
        "{}",
        kube.stored.spec()
    );
    let active = env.managed_users().await;
    assert_eq!(active.iter().filter(|u| u["active"] == true).count(), 6);

    // the approval was for one run: the next mass change is refused again
    env.fake.edit(|o| o.keep_only(&["ada"]));
    let again = env.sync(&["--max-deactivations", "1"], &kube.env()).await;
    assert_eq!(again.code(), 3, "{}", again.all());
    assert!(approval(&again).is_null());
    assert!(!again.all().contains(KUBE_TOKEN));
    assert!(!approved.all().contains(KUBE_TOKEN));
}
