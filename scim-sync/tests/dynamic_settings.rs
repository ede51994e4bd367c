//! The run-time `SCIMConfig` lookup against a fake Kubernetes API server: a wiremock server
//! behind a kubeconfig written to a tempdir (passed through `LookupOptions::kubeconfig`, so no
//! test touches the process environment).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scim_sync::dynamic::{
    DynamicOverrides, EffectiveSettings, Lookup, LookupOptions, SettingSource, StaticSettings,
    lookup, merge,
};
use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NS: &str = "pw-scim";
const TOKEN: &str = "test-token";

fn resource_path(ns: &str, name: &str) -> String {
    format!("/apis/scim.parallel.works/v1alpha1/namespaces/{ns}/scimconfigs/{name}")
}

/// A kubeconfig whose current context points at `server`, with a bearer token and the
/// context namespace `ctx-ns`.
fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let file = dir.join("kubeconfig");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {server}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: ctx-ns
current-context: fake
users:
- name: fake
  user:
    token: {TOKEN}
"
        ),
    )
    .unwrap();
    file
}

struct FakeApi {
    server: MockServer,
    kubeconfig: PathBuf,
    _dir: TempDir,
}

impl FakeApi {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = write_kubeconfig(dir.path(), &server.uri());
        FakeApi {
            server,
            kubeconfig,
            _dir: dir,
        }
    }

    fn options(&self) -> LookupOptions {
        LookupOptions {
            enabled: true,
            namespace: Some(NS.to_owned()),
            name: "default".to_owned(),
            timeout: Duration::from_secs(5),
            kubeconfig: Some(self.kubeconfig.clone()),
        }
    }

    /// Answers the exact GET of `pw-scim/default` (with the kubeconfig's token) once.
    async fn answer(&self, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(resource_path(NS, "default")))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(response)
            .expect(1)
            .mount(&self.server)
            .await;
    }
}

fn scimconfig(spec: Value) -> Value {
    json!({
        "apiVersion": "scim.parallel.works/v1alpha1",
        "kind": "SCIMConfig",
        "metadata": {
            "name": "default",
            "namespace": NS,
            "resourceVersion": "4711",
            "uid": "0b4c0c1e-5a57-4a51-9a3a-7d3c0a2f1e11"
        },
        "spec": spec
    })
}

fn k8s_status(code: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": "default", "group": "scim.parallel.works", "kind": "scimconfigs"},
        "code": code
    }))
}

fn static_settings() -> StaticSettings {
    StaticSettings {
        enable_user_sync: true,
        enable_group_sync: true,
        allow_non_provisioned_users: false,
        sync_groups: Some(vec!["static-group".to_owned()]),
        max_deactivations: Some(10),
        adopt_existing_users: false,
        adopt_existing_groups: false,
        dry_run: false,
        allow_mass_changes: false,
    }
}

/// Runs the lookup with a capturing subscriber; returns the outcome and the log text.
async fn logged_lookup(opts: &LookupOptions) -> (Lookup, String) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    // tokio::test runs on the current thread, so a thread-local default sees every event
    let _guard = tracing::subscriber::set_default(subscriber);
    let outcome = lookup(opts).await;
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (outcome, text)
}

fn assert_all_static(effective: &EffectiveSettings) {
    let s = static_settings();
    assert_eq!(effective.enable_user_sync.value, s.enable_user_sync);
    assert_eq!(effective.enable_group_sync.value, s.enable_group_sync);
    assert_eq!(
        effective.allow_non_provisioned_users.value,
        s.allow_non_provisioned_users
    );
    assert_eq!(effective.sync_groups.value, s.sync_groups);
    assert_eq!(effective.max_deactivations.value, s.max_deactivations);
    assert_eq!(effective.adopt_existing_users.value, s.adopt_existing_users);
    assert_eq!(
        effective.adopt_existing_groups.value,
        s.adopt_existing_groups
    );
    for line in effective.describe() {
        assert!(line.ends_with("(static)"), "{line}");
    }
}

/// A fallback: static settings everywhere, the reason contains `expect`, and it was logged
/// as a warning.
fn assert_fallback(outcome: &Lookup, logs: &str, expect: &str) -> String {
    let Lookup::Fallback { reason } = outcome else {
        panic!("expected a fallback, got {outcome:?}");
    };
    eprintln!("fallback reason: {reason}");
    assert!(
        reason.contains(expect),
        "reason {reason:?} lacks {expect:?}"
    );
    assert!(reason.contains("using the static settings"), "{reason}");
    assert!(
        logs.lines().any(|l| l.contains("WARN")
            && l.contains("dynamic settings unavailable")
            && l.contains(expect)),
        "no warning with {expect:?} logged: {logs}"
    );
    assert_all_static(&merge(&static_settings(), outcome));
    reason.clone()
}

#[tokio::test]
async fn found_resource_overrides_every_static_setting() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(200).set_body_json(scimconfig(json!({
        "enableUserSync": false,
        "enableGroupSync": false,
        "allowNonProvisionedUsers": true,
        "syncGroups": ["hpc-users", "Data Science"],
        "maxDeactivations": 3,
        "adoptExistingUsers": true,
        "dryRun": true,
        "allowMassChanges": true
    }))))
    .await;

    let (outcome, logs) = logged_lookup(&api.options()).await;
    assert_eq!(
        outcome,
        Lookup::Found(DynamicOverrides {
            enable_user_sync: Some(false),
            enable_group_sync: Some(false),
            allow_non_provisioned_users: Some(true),
            reject_non_provisioned_users: None,
            sync_groups: Some(vec!["hpc-users".into(), "Data Science".into()]),
            max_deactivations: Some(3),
            adopt_existing_users: Some(true),
            adopt_existing_groups: None,
            dry_run: Some(true),
            allow_mass_changes: Some(true),
        })
    );
    assert!(!logs.contains("WARN"), "{logs}");

    let effective = merge(&static_settings(), &outcome);
    assert_eq!(
        effective.describe(),
        vec![
            "enable_user_sync=false (dynamic)",
            "enable_group_sync=false (dynamic)",
            "allow_non_provisioned_users=true (dynamic)",
            r#"sync_groups=["hpc-users", "Data Science"] (dynamic)"#,
            "max_deactivations=3 (dynamic)",
            "adopt_existing_users=true (dynamic)",
            "adopt_existing_groups=false (static)",
            "dry_run=true (dynamic)",
            "allow_mass_changes=true (dynamic, a one-shot approval)",
        ]
    );
    assert_eq!(
        serde_json::to_value(&effective).unwrap(),
        json!({
            "enable_user_sync": {"value": false, "source": "dynamic"},
            "enable_group_sync": {"value": false, "source": "dynamic"},
            "allow_non_provisioned_users": {"value": true, "source": "dynamic"},
            "sync_groups": {"value": ["hpc-users", "Data Science"], "source": "dynamic"},
            "max_deactivations": {"value": 3, "source": "dynamic"},
            "adopt_existing_users": {"value": true, "source": "dynamic"},
            "adopt_existing_groups": {"value": false, "source": "static"},
            "dry_run": {"value": true, "source": "dynamic"},
            "allow_mass_changes": {"value": true, "source": "dynamic"},
            "lookup": {
                "outcome": "found",
                "enable_user_sync": false,
                "enable_group_sync": false,
                "allow_non_provisioned_users": true,
                "sync_groups": ["hpc-users", "Data Science"],
                "max_deactivations": 3,
                "adopt_existing_users": true,
                "dry_run": true,
                "allow_mass_changes": true
            }
        })
    );
    // exactly one request, on the exact path (the mock's expect(1) is verified on drop)
    let requests = api.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), resource_path(NS, "default"));
}

#[tokio::test]
async fn partially_set_resource_overrides_only_what_it_sets() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(200).set_body_json(scimconfig(json!({
        "enableGroupSync": false,
        "allowNonProvisionedUsers": null
    }))))
    .await;

    let (outcome, _) = logged_lookup(&api.options()).await;
    let effective = merge(&static_settings(), &outcome);
    assert!(!effective.enable_group_sync.value);
    assert_eq!(effective.enable_group_sync.source, SettingSource::Dynamic);
    assert_eq!(effective.enable_user_sync.source, SettingSource::Static);
    assert_eq!(
        effective.allow_non_provisioned_users.source,
        SettingSource::Static
    );
    assert!(effective.enable_user_sync.value);
    assert!(!effective.allow_non_provisioned_users.value);
    assert_eq!(
        effective.sync_groups.value,
        Some(vec!["static-group".to_owned()])
    );
    assert_eq!(effective.sync_groups.source, SettingSource::Static);
    assert_eq!(effective.max_deactivations.value, Some(10));
    assert_eq!(effective.max_deactivations.source, SettingSource::Static);
    assert_eq!(
        effective.to_string(),
        "enable_user_sync=true (static), enable_group_sync=false (dynamic), \
         allow_non_provisioned_users=false (static), sync_groups=[\"static-group\"] (static), \
         max_deactivations=10 (static), adopt_existing_users=false (static), \
         adopt_existing_groups=false (static), dry_run=false (static), \
         allow_mass_changes=false (static)"
    );
}

#[tokio::test]
async fn resource_without_spec_keeps_everything_static_but_is_found() {
    let api = FakeApi::start().await;
    let mut body = scimconfig(json!({}));
    body.as_object_mut().unwrap().remove("spec");
    api.answer(ResponseTemplate::new(200).set_body_json(body))
        .await;
    let (outcome, _) = logged_lookup(&api.options()).await;
    assert_eq!(outcome, Lookup::Found(DynamicOverrides::default()));
    assert_all_static(&merge(&static_settings(), &outcome));
}

#[tokio::test]
async fn empty_sync_groups_means_every_group() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(200).set_body_json(scimconfig(json!({"syncGroups": []}))))
        .await;
    let (outcome, _) = logged_lookup(&api.options()).await;
    let effective = merge(&static_settings(), &outcome);
    assert_eq!(effective.sync_groups.value, None);
    assert_eq!(effective.sync_groups.source, SettingSource::Dynamic);
    assert!(
        effective
            .describe()
            .contains(&"sync_groups=all groups (dynamic)".to_owned())
    );
}

#[tokio::test]
async fn not_found_falls_back_to_static() {
    let api = FakeApi::start().await;
    api.answer(k8s_status(
        404,
        "NotFound",
        r#"scimconfigs.scim.parallel.works "default" not found"#,
    ))
    .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    let reason = assert_fallback(
        &outcome,
        &logs,
        "SCIMConfig pw-scim/default not found (HTTP 404)",
    );
    assert!(reason.contains(r#""default" not found"#), "{reason}");
}

#[tokio::test]
async fn forbidden_falls_back_to_static() {
    let api = FakeApi::start().await;
    api.answer(k8s_status(
        403,
        "Forbidden",
        r#"scimconfigs.scim.parallel.works "default" is forbidden: User "system:serviceaccount:pw-scim:pw-activate-scim-sync" cannot get resource "scimconfigs" in API group "scim.parallel.works" in the namespace "pw-scim""#,
    ))
    .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    let reason = assert_fallback(
        &outcome,
        &logs,
        "not allowed to get SCIMConfig pw-scim/default (HTTP 403",
    );
    assert!(reason.contains("cannot get resource"), "{reason}");
}

#[tokio::test]
async fn malformed_spec_falls_back_and_names_the_fields() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(200).set_body_json(scimconfig(json!({
        "enableUserSync": "false",
        "enableGroupSync": false,
        "maxDeactivations": -5
    }))))
    .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    let reason = assert_fallback(&outcome, &logs, "malformed spec");
    assert!(
        reason.contains("enableUserSync: expected a boolean, got a string"),
        "{reason}"
    );
    assert!(
        reason.contains("maxDeactivations: expected a whole number"),
        "{reason}"
    );
    // the well-formed field is not applied either: the resource is used whole or not at all
    assert!(!reason.contains("enableGroupSync"), "{reason}");
}

#[tokio::test]
async fn an_answer_that_is_not_json_falls_back() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(200).set_body_string("<html>proxy says hi</html>"))
        .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    assert_fallback(&outcome, &logs, "the answer is not a resource");
}

#[tokio::test]
async fn server_error_falls_back() {
    let api = FakeApi::start().await;
    api.answer(ResponseTemplate::new(500).set_body_string("etcd is sad"))
        .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    assert_fallback(&outcome, &logs, "(HTTP 500): etcd is sad");
}

#[tokio::test]
async fn unauthenticated_falls_back() {
    let api = FakeApi::start().await;
    api.answer(k8s_status(401, "Unauthorized", "Unauthorized"))
        .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    assert_fallback(
        &outcome,
        &logs,
        "unauthenticated reading SCIMConfig pw-scim/default (HTTP 401): Unauthorized",
    );
}

#[tokio::test]
async fn busy_api_server_is_retried_then_found() {
    let api = FakeApi::start().await;
    Mock::given(method("GET"))
        .and(path(resource_path(NS, "default")))
        .respond_with(k8s_status(503, "ServiceUnavailable", "try again"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&api.server)
        .await;
    api.answer(
        ResponseTemplate::new(200).set_body_json(scimconfig(json!({"enableUserSync": false}))),
    )
    .await;
    let (outcome, logs) = logged_lookup(&api.options()).await;
    let effective = merge(&static_settings(), &outcome);
    assert!(!effective.enable_user_sync.value);
    assert_eq!(effective.enable_user_sync.source, SettingSource::Dynamic);
    assert!(!logs.contains("WARN"), "{logs}");
}

#[tokio::test]
async fn persistently_busy_api_server_falls_back_after_three_attempts() {
    let api = FakeApi::start().await;
    Mock::given(method("GET"))
        .and(path(resource_path(NS, "default")))
        .respond_with(k8s_status(429, "TooManyRequests", "slow down"))
        .expect(3)
        .mount(&api.server)
        .await;
    let started = Instant::now();
    let (outcome, logs) = logged_lookup(&api.options()).await;
    assert_fallback(
        &outcome,
        &logs,
        "reading SCIMConfig pw-scim/default failed (HTTP 429): slow down (after 3 attempts)",
    );
    // the shared retry loop's full-jitter pauses (at most 250 ms, then 500 ms), well inside
    // the 5 s timeout
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn a_broken_kubeconfig_falls_back_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // `user` must be a mapping; a YAML error could quote the token
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users:
- name: u
  user: s3cr3t-t0ken-value
",
    )
    .unwrap();
    let opts = LookupOptions {
        kubeconfig: Some(kubeconfig),
        ..LookupOptions::default()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    let reason = assert_fallback(&outcome, &logs, "not a valid kubeconfig");
    assert!(!reason.contains("s3cr3t"), "{reason}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
    // dropped here: nothing listens on the port any more
}

#[tokio::test]
async fn unreachable_api_server_falls_back_quickly() {
    for scheme in ["http", "https"] {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = write_kubeconfig(
            dir.path(),
            &format!("{scheme}://127.0.0.1:{}", closed_port()),
        );
        let opts = LookupOptions {
            namespace: Some(NS.to_owned()),
            timeout: Duration::from_secs(5),
            kubeconfig: Some(kubeconfig),
            ..LookupOptions::default()
        };
        let started = Instant::now();
        let (outcome, logs) = logged_lookup(&opts).await;
        let reason = assert_fallback(&outcome, &logs, "cannot reach the Kubernetes API");
        assert!(reason.contains("SCIMConfig pw-scim/default"), "{reason}");
        assert!(
            reason.to_lowercase().contains("connect"),
            "{scheme}: the cause is named: {reason}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{scheme}: refused connections fail fast, took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn slow_api_server_falls_back_at_the_timeout() {
    let api = FakeApi::start().await;
    api.answer(
        ResponseTemplate::new(200)
            .set_body_json(scimconfig(json!({"enableUserSync": false})))
            .set_delay(Duration::from_secs(10)),
    )
    .await;
    let opts = LookupOptions {
        timeout: Duration::from_millis(300),
        ..api.options()
    };
    let started = Instant::now();
    let (outcome, logs) = logged_lookup(&opts).await;
    let elapsed = started.elapsed();
    assert_fallback(
        &outcome,
        &logs,
        "reading SCIMConfig pw-scim/default timed out after 300ms",
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "gave up after {elapsed:?}"
    );
}

#[tokio::test]
async fn namespace_defaults_to_the_kubeconfig_context() {
    let api = FakeApi::start().await;
    Mock::given(method("GET"))
        .and(path(resource_path("ctx-ns", "custom")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(scimconfig(json!({"maxDeactivations": 0}))),
        )
        .expect(2)
        .mount(&api.server)
        .await;
    for namespace in [None, Some(String::new())] {
        let opts = LookupOptions {
            namespace,
            name: "custom".to_owned(),
            ..api.options()
        };
        let effective = merge(&static_settings(), &lookup(&opts).await);
        assert_eq!(effective.max_deactivations.value, Some(0));
        assert_eq!(effective.max_deactivations.source, SettingSource::Dynamic);
    }
}

#[tokio::test]
async fn unreadable_kubeconfig_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let opts = LookupOptions {
        kubeconfig: Some(missing),
        ..LookupOptions::default()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    assert_fallback(&outcome, &logs, "cannot read kubeconfig");
}

#[tokio::test]
async fn turned_off_is_skipped_without_a_request() {
    let api = FakeApi::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&api.server)
        .await;
    let opts = LookupOptions {
        enabled: false,
        ..api.options()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    let Lookup::Skipped { reason } = &outcome else {
        panic!("expected a skip, got {outcome:?}");
    };
    assert!(reason.contains("--no-dynamic-settings"), "{reason}");
    assert!(!logs.contains("WARN"), "a skip is quiet: {logs}");
    let effective = merge(&static_settings(), &outcome);
    assert_all_static(&effective);
    assert_eq!(
        serde_json::to_value(&effective).unwrap()["lookup"],
        json!({"outcome": "skipped", "reason": reason})
    );
}

/// Runs [`child_lookup_from_environment`] in a child process with a controlled environment
/// (the lookup reads `KUBERNETES_SERVICE_HOST`, `KUBECONFIG` and `HOME`; tests never change
/// their own process environment). Returns the child's output.
fn lookup_in_child(env: &[(&str, &str)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_lookup_from_environment", "--nocapture"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("KUBECONFIG")
        .env("HOME", home.path())
        .env("DYNAMIC_SETTINGS_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed: {text}");
    assert!(
        text.contains("CHILD LOOKUP:"),
        "the child did not run: {text}"
    );
    text
}

/// Not a test on its own: the child half of the environment tests below, which run it in a
/// process of its own. Without `DYNAMIC_SETTINGS_CHILD` it does nothing.
#[tokio::test]
async fn child_lookup_from_environment() {
    if std::env::var_os("DYNAMIC_SETTINGS_CHILD").is_none() {
        return;
    }
    let opts = LookupOptions {
        timeout: Duration::from_secs(3),
        ..LookupOptions::default()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    println!("CHILD LOOKUP: {outcome:?}");
    println!("CHILD LOGS: {logs}");
}

#[test]
fn outside_a_cluster_without_kubeconfig_is_skipped_quietly() {
    let text = lookup_in_child(&[]);
    assert!(
        text.contains(
            r#"CHILD LOOKUP: Skipped { reason: "not running in a Kubernetes cluster and no kubeconfig found" }"#
        ),
        "{text}"
    );
    assert!(!text.contains("WARN"), "{text}");
}

#[test]
fn in_a_pod_without_a_service_account_token_falls_back() {
    // KUBERNETES_SERVICE_HOST says "in a pod", but nothing is mounted at
    // /var/run/secrets/kubernetes.io/serviceaccount (automountServiceAccountToken: false)
    let text = lookup_in_child(&[
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", "1"),
    ]);
    assert!(
        text.contains("CHILD LOOKUP: Fallback { reason: \"no usable Kubernetes configuration"),
        "{text}"
    );
    assert!(
        text.contains("automountServiceAccountToken: true"),
        "{text}"
    );
    assert!(text.contains("WARN"), "{text}");
}

#[test]
fn merge_keeps_static_when_skipped_or_fallen_back() {
    for outcome in [
        Lookup::Skipped {
            reason: "not running in a Kubernetes cluster and no kubeconfig found".into(),
        },
        Lookup::Fallback {
            reason: "boom".into(),
        },
    ] {
        let effective = merge(&static_settings(), &outcome);
        assert_all_static(&effective);
        assert_eq!(effective.enable_user_sync.source, SettingSource::Static);
        assert_eq!(effective.lookup, outcome);
    }
}

#[test]
fn static_empty_sync_groups_is_every_group() {
    let static_ = StaticSettings {
        sync_groups: Some(vec![]),
        ..static_settings()
    };
    let effective = merge(&static_, &Lookup::Found(DynamicOverrides::default()));
    assert_eq!(effective.sync_groups.value, None);
    assert_eq!(effective.sync_groups.source, SettingSource::Static);
}

/// A kubeconfig for `server` whose user is `user_yaml` (indented under `user:`).
fn kubeconfig_with_user(dir: &Path, server: &str, user_yaml: &str) -> PathBuf {
    let file = dir.join("kubeconfig");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: '{server}'}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u, namespace: {NS}}}}}]
current-context: c
users:
- name: u
  user:
{user_yaml}
"
        ),
    )
    .unwrap();
    file
}

#[tokio::test]
async fn the_token_is_read_from_its_file_as_a_pod_mounts_it() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let kubeconfig = kubeconfig_with_user(
        dir.path(),
        &api.server.uri(),
        &format!("    tokenFile: {}", token_file.display()),
    );
    api.answer(
        ResponseTemplate::new(200).set_body_json(scimconfig(json!({"enableUserSync": false}))),
    )
    .await;
    let opts = LookupOptions {
        kubeconfig: Some(kubeconfig),
        ..api.options()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    assert_eq!(
        outcome,
        Lookup::Found(DynamicOverrides {
            enable_user_sync: Some(false),
            ..DynamicOverrides::default()
        }),
        "{logs}"
    );
    assert!(!logs.contains(TOKEN), "the token is never logged: {logs}");
}

#[tokio::test]
async fn an_exec_plugin_user_falls_back_without_running_it_or_calling_the_api() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let kubeconfig = kubeconfig_with_user(
        dir.path(),
        &api.server.uri(),
        &format!(
            "    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: touch
      args: ['{}']",
            marker.display()
        ),
    );
    let opts = LookupOptions {
        kubeconfig: Some(kubeconfig),
        ..api.options()
    };
    let (outcome, logs) = logged_lookup(&opts).await;
    let reason = assert_fallback(&outcome, &logs, "exec plugin");
    assert!(reason.contains("--no-dynamic-settings"), "{reason}");
    assert!(!marker.exists(), "the plugin never runs");
    assert!(api.server.received_requests().await.unwrap().is_empty());
}

#[test]
fn the_crd_is_generated_from_the_spec_type_with_the_names_the_lookup_reads() {
    let crd = scim_sync::dynamic::crd();
    assert_eq!(crd.spec.group, scim_sync::dynamic::GROUP);
    assert_eq!(crd.spec.names.kind, scim_sync::dynamic::KIND);
    assert_eq!(crd.spec.names.plural, scim_sync::dynamic::PLURAL);
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, scim_sync::dynamic::VERSION);
    let schema = version
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    let spec = &schema.properties.as_ref().unwrap()["spec"];
    let mut names: Vec<&str> = spec
        .properties
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "adoptExistingGroups",
            "adoptExistingUsers",
            "allowMassChanges",
            "allowNonProvisionedUsers",
            "dryRun",
            "enableGroupSync",
            "enableUserSync",
            "maxDeactivations",
            "rejectNonProvisionedUsers",
            "syncGroups"
        ]
    );
    // every property is read by the lookup: a wrong type in each is named
    let wrong = json!({
        "adoptExistingGroups": "x", "adoptExistingUsers": "x", "allowNonProvisionedUsers": "x", "enableGroupSync": "x", "enableUserSync": "x",
        "maxDeactivations": "x", "rejectNonProvisionedUsers": "x", "syncGroups": "x",
        "dryRun": "x", "allowMassChanges": "x"
    });
    let malformed = DynamicOverrides::from_spec(Some(&wrong)).unwrap_err();
    for name in names {
        assert!(
            malformed.problems.iter().any(|p| p.starts_with(name)),
            "{name}: {malformed}"
        );
    }
}

#[test]
fn grafanas_reject_non_provisioned_users_is_the_inverse_and_yields_to_allow() {
    let static_ = StaticSettings::from_policy(&scim_sync::Policy::default(), false);
    let spec = |v: serde_json::Value| {
        Lookup::Found(DynamicOverrides::from_spec(Some(&v)).expect("a valid spec"))
    };
    let rejecting = merge(&static_, &spec(json!({"rejectNonProvisionedUsers": false})));
    assert!(rejecting.allow_non_provisioned_users.value);
    assert_eq!(
        rejecting.allow_non_provisioned_users.source,
        SettingSource::Dynamic
    );
    let both = merge(
        &static_,
        &spec(json!({"rejectNonProvisionedUsers": false, "allowNonProvisionedUsers": false})),
    );
    assert!(
        !both.allow_non_provisioned_users.value,
        "allowNonProvisionedUsers wins"
    );
    let malformed =
        DynamicOverrides::from_spec(Some(&json!({"rejectNonProvisionedUsers": 1}))).unwrap_err();
    assert!(
        malformed.problems[0].starts_with("rejectNonProvisionedUsers"),
        "{malformed}"
    );
}

// ---- the one-shot mass-change approval, used by a run against the embedded server ----

mod support;

use scim_sync::dynamic::resolve;
use scim_sync::metrics::{RunEnd, RunMetrics};
use scim_sync::{ApprovalOutcome, Policy, Reconciler, RunOutcome, Source};
use wiremock::matchers::body_json;

/// Limits a deactivation of five users exceeds.
fn strict_policy() -> Policy {
    Policy {
        max_deactivations: Some(1),
        max_deactivation_percent: None,
        ..Policy::default()
    }
}

/// The sample organization with its first five active users gone inactive.
fn five_leave() -> Source {
    let text = std::fs::read_to_string(support::ORG).unwrap();
    let mut org: Value = serde_json::from_str(&text).unwrap();
    for user in org["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|u| u["active"] == json!(true))
        .take(5)
    {
        user["active"] = json!(false);
    }
    Source::ExportText(org.to_string().into())
}

/// The embedded server, synced once with the sample organization.
async fn synced_target() -> (scim_server::ServerHandle, scim_client::ScimClient) {
    let (server, scim) = support::server().await;
    let first = Reconciler::new(
        Source::export_file(support::ORG),
        scim.clone(),
        strict_policy(),
    )
    .run()
    .await;
    assert_eq!(first.outcome, RunOutcome::Ok, "{:?}", first.error);
    (server, scim)
}

impl FakeApi {
    /// Answers every GET with a resource holding the approval.
    async fn holding_approval(&self) {
        Mock::given(method("GET"))
            .and(path(resource_path(NS, "default")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(scimconfig(json!({"allowMassChanges": true}))),
            )
            .mount(&self.server)
            .await;
    }

    /// Answers the conditional withdrawal of the approval (resourceVersion 4711) with
    /// `response`.
    async fn withdrawal_answers(&self, response: ResponseTemplate) {
        Mock::given(method("PATCH"))
            .and(path(resource_path(NS, "default")))
            .and(header("content-type", "application/merge-patch+json"))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(body_json(json!({
                "metadata": {"resourceVersion": "4711"},
                "spec": {"allowMassChanges": null}
            })))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    async fn patches(&self) -> usize {
        let requests = self.server.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PATCH")
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_approval_lifts_the_limits_for_one_run_and_is_withdrawn() {
    let (server, scim) = synced_target().await;
    let api = FakeApi::start().await;
    api.holding_approval().await;
    api.withdrawal_answers(ResponseTemplate::new(200).set_body_json(scimconfig(json!({}))))
        .await;
    // without the approval the change is refused
    let refused = Reconciler::new(five_leave(), scim.clone(), strict_policy())
        .run()
        .await;
    assert_eq!(refused.outcome, RunOutcome::Refused);

    let effective = resolve(&strict_policy(), false, &api.options()).await;
    assert_eq!(
        effective.settings.allow_mass_changes.source,
        SettingSource::Dynamic
    );
    assert!(!effective.policy.allow_mass_changes, "never in the policy");
    let approval = effective.approval.clone().expect("an approval");
    assert_eq!(approval.resource(), "SCIMConfig pw-scim/default");
    assert!(!format!("{approval:?}").contains(TOKEN));
    let writes_before = support::writes(&server);
    let run = Reconciler::new(five_leave(), scim.clone(), effective.policy.clone())
        .mass_change_approval(effective.approval)
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    assert_eq!(run.plan.as_ref().unwrap().deactivations(), 5);
    let applied = run.applied.as_ref().expect("applied");
    assert_eq!(
        applied.totals().done,
        run.plan.as_ref().unwrap().operations.len()
    );
    assert!(support::writes(&server) > writes_before);
    let used = run.mass_change_approval.as_ref().expect("recorded");
    let ApprovalOutcome::Used { lifted } = &used.outcome else {
        panic!("expected the approval used, got {used:?}");
    };
    assert_eq!(
        lifted.reasons[0].kind,
        scim_diff::RefusalKind::TooManyDeactivations
    );
    assert!(run.refusal().is_none());
    assert_eq!(api.patches().await, 1);
    let report = serde_json::to_value(used).unwrap();
    assert_eq!(report["outcome"], "used");
    assert_eq!(report["resource"], "SCIMConfig pw-scim/default");
    let end = RunEnd {
        at: std::time::SystemTime::now(),
        duration: Duration::from_secs(1),
        exit_code: 0,
        external_id_prefix: "pw-activate:".into(),
    };
    let metrics = RunMetrics::new(&run, &end).encode();
    assert!(
        metrics.contains("pw_activate_scim_sync_mass_change_approved 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_that_cannot_be_withdrawn_is_not_used() {
    let cases = [
        (
            k8s_status(409, "Conflict", "the object has been modified"),
            "changed since this run read it",
        ),
        (
            k8s_status(403, "Forbidden", "cannot patch resource"),
            "must grant patch",
        ),
    ];
    for (answer, expect) in cases {
        let (server, scim) = synced_target().await;
        let api = FakeApi::start().await;
        api.holding_approval().await;
        api.withdrawal_answers(answer).await;
        let effective = resolve(&strict_policy(), false, &api.options()).await;
        let writes_before = support::writes(&server);
        let run = Reconciler::new(five_leave(), scim, effective.policy.clone())
            .mass_change_approval(effective.approval)
            .run()
            .await;
        assert_eq!(run.outcome, RunOutcome::Refused, "{expect}");
        assert_eq!(support::writes(&server), writes_before, "nothing written");
        let Some(ApprovalOutcome::NotWithdrawn { reason }) =
            run.mass_change_approval.as_ref().map(|a| &a.outcome)
        else {
            panic!("expected not withdrawn: {:?}", run.mass_change_approval);
        };
        assert!(reason.contains(expect), "{reason}");
        assert!(
            run.warnings.iter().any(|w| w.to_string().contains(expect)),
            "{:?}",
            run.warnings
        );
        assert_eq!(api.patches().await, 1, "sent once, never repeated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_what_the_approval_would_lift_and_leaves_it_in_place() {
    let (server, scim) = synced_target().await;
    let api = FakeApi::start().await;
    api.holding_approval().await;
    let effective = resolve(&strict_policy(), true, &api.options()).await;
    assert!(effective.dry_run());
    let writes_before = support::writes(&server);
    let run = Reconciler::new(five_leave(), scim, effective.policy.clone())
        .dry_run(effective.dry_run())
        .mass_change_approval(effective.approval)
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok);
    assert!(run.refusal().is_none(), "the plan the real run would apply");
    assert!(matches!(
        run.mass_change_approval.as_ref().map(|a| &a.outcome),
        Some(ApprovalOutcome::WouldBeUsed { .. })
    ));
    assert_eq!(run.plan.as_ref().unwrap().deactivations(), 5);
    assert_eq!(support::writes(&server), writes_before);
    assert_eq!(api.patches().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_the_run_does_not_need_is_withdrawn_all_the_same() {
    let (_server, scim) = support::server().await;
    let api = FakeApi::start().await;
    api.holding_approval().await;
    api.withdrawal_answers(ResponseTemplate::new(200).set_body_json(scimconfig(json!({}))))
        .await;
    let effective = resolve(&strict_policy(), false, &api.options()).await;
    let run = Reconciler::new(Source::export_file(support::ORG), scim, effective.policy)
        .mass_change_approval(effective.approval)
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok);
    assert_eq!(
        run.mass_change_approval.map(|a| a.outcome),
        Some(ApprovalOutcome::Withdrawn)
    );
    assert_eq!(api.patches().await, 1);
}

#[tokio::test]
async fn dry_run_in_the_resource_makes_a_run_a_dry_run_and_never_the_reverse() {
    for (static_dry_run, spec, dry_run, source) in [
        (false, json!({"dryRun": true}), true, SettingSource::Dynamic),
        (true, json!({"dryRun": false}), true, SettingSource::Static),
        (
            false,
            json!({"dryRun": false}),
            false,
            SettingSource::Static,
        ),
        (false, json!({}), false, SettingSource::Static),
    ] {
        let api = FakeApi::start().await;
        api.answer(ResponseTemplate::new(200).set_body_json(scimconfig(spec.clone())))
            .await;
        let effective = resolve(&Policy::default(), static_dry_run, &api.options()).await;
        assert_eq!(effective.dry_run(), dry_run, "{spec}");
        assert_eq!(effective.settings.dry_run.source, source, "{spec}");
        assert!(effective.approval.is_none());
    }
}

#[tokio::test]
async fn a_static_override_makes_the_resources_approval_moot() {
    let api = FakeApi::start().await;
    api.holding_approval().await;
    let always = Policy {
        allow_mass_changes: true,
        ..Policy::default()
    };
    let effective = resolve(&always, false, &api.options()).await;
    assert!(effective.approval.is_none(), "nothing to withdraw");
    assert_eq!(
        effective.settings.allow_mass_changes.source,
        SettingSource::Static
    );
}
