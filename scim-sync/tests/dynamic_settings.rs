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
        "adoptExistingUsers": true
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
            "lookup": {
                "outcome": "found",
                "enable_user_sync": false,
                "enable_group_sync": false,
                "allow_non_provisioned_users": true,
                "sync_groups": ["hpc-users", "Data Science"],
                "max_deactivations": 3,
                "adopt_existing_users": true
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
         adopt_existing_groups=false (static)"
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
            "allowNonProvisionedUsers",
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
        "maxDeactivations": "x", "rejectNonProvisionedUsers": "x", "syncGroups": "x"
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
    let static_ = StaticSettings::from_policy(&scim_sync::Policy::default());
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
