//! A run's metrics, the way a Kubernetes batch job reports them: gauges in the Prometheus
//! exposition format ([`RunMetrics::encode`]), pushed at the end of the run to a Pushgateway
//! with push-add semantics ([`Pushgateway::push_add`]), grouped by job, organization and
//! target host, never by pod.
//!
//! Every name starts with [`PREFIX`]. `last_success_timestamp_seconds` is only in the metrics
//! of a run that succeeded, so that a failed run, pushed with `POST` (which replaces only the
//! metrics it carries), leaves the last success where it was.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use secrecy::{ExposeSecret, SecretString};

use crate::report::RunReport;

/// The prefix of every metric name.
pub const PREFIX: &str = "pw_activate_scim_sync";

/// The Pushgateway `job` label.
pub const JOB: &str = "pw-activate-scim-sync";

/// How long a push may take; the run never waits longer for it.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

type Value = Gauge<f64, AtomicU64>;
type Labelled = Family<Vec<(String, String)>, Value>;

/// How a run ended, as the front end that ran it saw it (its exit code may be stricter than
/// the report's outcome, e.g. with a fail-on-conflict setting).
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// When it ended.
    pub at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The process exit code (0: success).
    pub exit_code: u8,
    /// The `externalId` prefix of the managed records (to count them in the state read).
    pub external_id_prefix: String,
}

/// The gauges of one run, ready to encode.
pub struct RunMetrics {
    registry: Registry,
}

impl std::fmt::Debug for RunMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunMetrics").finish_non_exhaustive()
    }
}

impl RunMetrics {
    /// The metrics of `report`, a run that ended as `end` says.
    pub fn new(report: &RunReport, end: &RunEnd) -> RunMetrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let seconds = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        };
        let mut gauge = |name: &str, help: &str, value: f64| {
            let g = Value::default();
            g.set(value);
            registry.register(name, help, g);
        };
        gauge(
            "last_run_timestamp_seconds",
            "When the last run ended (Unix time)",
            seconds(end.at),
        );
        if end.exit_code == 0 {
            gauge(
                "last_success_timestamp_seconds",
                "When the last successful run (exit 0) ended (Unix time)",
                seconds(end.at),
            );
        }
        gauge(
            "last_exit_code",
            "The exit code of the last run",
            f64::from(end.exit_code),
        );
        gauge(
            "run_duration_seconds",
            "How long the last run took",
            end.duration.as_secs_f64(),
        );
        gauge(
            "conflicts",
            "Records the last run would not touch (a name held by a record it does not manage)",
            report.all_conflicts().len() as f64,
        );
        gauge(
            "warnings",
            "Warnings of the last run",
            report.warnings.len() as f64,
        );
        gauge(
            "refused",
            "1 when a safety check refused the last run's plan, else 0",
            if report.refusal().is_some() { 1.0 } else { 0.0 },
        );
        gauge(
            "dry_run",
            "1 when the last run wrote nothing by request, else 0",
            if report.dry_run { 1.0 } else { 0.0 },
        );
        let approved = report
            .mass_change_approval
            .as_ref()
            .is_some_and(|a| a.outcome.is_used());
        gauge(
            "mass_change_approved",
            "1 when a one-shot SCIMConfig approval lifted the last run's safety limits, else 0",
            if approved { 1.0 } else { 0.0 },
        );
        if let Some(observed) = report.observed.as_deref() {
            let start = format!("{}user:", end.external_id_prefix);
            let managed = observed.users.iter().filter(|u| {
                u.external_id
                    .as_deref()
                    .is_some_and(|e| e.starts_with(&start))
            });
            let (active, inactive) =
                managed.fold(
                    (0, 0),
                    |(a, i), u| {
                        if u.active { (a + 1, i) } else { (a, i + 1) }
                    },
                );
            let family = Labelled::default();
            set(&family, &[("state", "active")], f64::from(active));
            set(&family, &[("state", "inactive")], f64::from(inactive));
            registry.register(
                "managed_users",
                "Managed users in the target as the last run read them",
                family,
            );
            let start = format!("{}group:", end.external_id_prefix);
            let groups = observed
                .groups
                .iter()
                .filter(|g| {
                    g.external_id
                        .as_deref()
                        .is_some_and(|e| e.starts_with(&start))
                })
                .count();
            let g = Value::default();
            g.set(groups as f64);
            registry.register(
                "managed_groups",
                "Managed groups in the target as the last run read them",
                g,
            );
        }
        if let Some(users) = report.source_users {
            let family = Labelled::default();
            set(&family, &[("state", "active")], users.active as f64);
            set(&family, &[("state", "inactive")], users.inactive as f64);
            registry.register("source_users", "Users in the ACTIVATE organization", family);
        }

        let phases = Labelled::default();
        for (phase, took) in [
            ("read", report.phases.read),
            ("plan", report.phases.plan),
            ("apply", report.phases.apply),
        ] {
            set(&phases, &[("phase", phase)], took.as_secs_f64());
        }
        registry.register(
            "phase_duration_seconds",
            "How long each phase of the last run took",
            phases,
        );

        let operations = Labelled::default();
        for (op, counts) in &report.summary().by_op {
            for (outcome, n) in [
                ("planned", counts.planned),
                ("done", counts.done),
                ("failed", counts.failed),
                ("skipped", counts.skipped),
            ] {
                set(&operations, &[("op", op), ("outcome", outcome)], n as f64);
            }
        }
        registry.register(
            "operations",
            "Operations of the last run by kind and outcome",
            operations,
        );

        let requests = Labelled::default();
        let retries = Labelled::default();
        let throttled = Labelled::default();
        let waited = Labelled::default();
        let sides = [
            ("activate", report.requests.source.as_ref()),
            ("scim", Some(&report.requests.target)),
        ];
        for (side, stats) in sides {
            let Some(stats) = stats else { continue };
            for (method, statuses) in &stats.by_method {
                for (status, n) in statuses {
                    let status = status.to_string();
                    let labels = [("side", side), ("method", method), ("status", &status)];
                    set(&requests, &labels, *n as f64);
                }
            }
            for (method, n) in &stats.failures_by_method {
                let labels = [("side", side), ("method", method), ("status", "none")];
                set(&requests, &labels, *n as f64);
            }
            set(&retries, &[("side", side)], stats.retries as f64);
            set(&throttled, &[("side", side)], stats.throttled as f64);
            let wait = Duration::from_millis(stats.retry_after_wait_ms);
            set(&waited, &[("side", side)], wait.as_secs_f64());
        }
        registry.register(
            "requests",
            "HTTP requests of the last run by side, method and status (`none`: no answer)",
            requests,
        );
        registry.register("retries", "Retries of the last run by side", retries);
        registry.register(
            "throttled",
            "429 answers the last run got by side",
            throttled,
        );
        registry.register(
            "retry_after_wait_seconds",
            "Time the last run waited because a server's Retry-After asked for it",
            waited,
        );
        RunMetrics { registry }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String never fails");
        text
    }
}

fn set(family: &Labelled, labels: &[(&str, &str)], value: f64) {
    let labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    family.get_or_create(&labels).set(value);
}

/// A Prometheus Pushgateway the metrics are pushed to.
#[derive(Clone)]
pub struct Pushgateway {
    url: url::Url,
    basic_auth: Option<(String, SecretString)>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &self.url.as_str())
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| user),
            )
            .finish_non_exhaustive()
    }
}

impl Pushgateway {
    /// The Pushgateway at `url` (`http://pushgateway:9091`); pushes time out after
    /// [`PUSH_TIMEOUT`].
    pub fn new(url: &str) -> Result<Pushgateway, String> {
        let url = url::Url::parse(url)
            .map_err(|e| format!("the Pushgateway URL `{url}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
            return Err(format!(
                "the Pushgateway URL must be http(s) without credentials in it, not `{}://…`",
                url.scheme()
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .connect_timeout(PUSH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client for the Pushgateway: {e}"))?;
        Ok(Pushgateway {
            url,
            basic_auth: None,
            client,
        })
    }

    /// Basic authentication for every push.
    pub fn basic_auth(mut self, username: String, password: SecretString) -> Pushgateway {
        self.basic_auth = Some((username, password));
        self
    }

    /// Pushes a run's metrics with [`push_add`](Self::push_add), grouped by `org` (the
    /// run's organization, else `fallback_org`, else `unknown`) and `target` (the host and
    /// port of the SCIM base URL, else `unknown`).
    pub async fn push_run(
        &self,
        run: &RunReport,
        end: &RunEnd,
        fallback_org: Option<&str>,
        target_url: Option<&str>,
    ) -> Result<(), String> {
        let org = run
            .organization
            .as_deref()
            .or(fallback_org)
            .unwrap_or("unknown");
        let target = target_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let grouping = [("org", org), ("target", target.as_str())];
        self.push_add(&grouping, &RunMetrics::new(run, end)).await
    }

    /// Pushes `metrics` with push-add semantics (`POST`: the metrics of the group with these
    /// names are replaced, the others kept) into the group `job` = [`JOB`], then `grouping`
    /// (label, value) pairs in order. The error says what failed; it never holds the password.
    pub async fn push_add(
        &self,
        grouping: &[(&str, &str)],
        metrics: &RunMetrics,
    ) -> Result<(), String> {
        let url = self.group_url(grouping)?;
        let mut request = self
            .client
            .post(url.clone())
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .body(metrics.encode());
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password.expose_secret()));
        }
        let response = request.send().await.map_err(|e| {
            format!(
                "pushing the metrics to {} failed: {}",
                self.url,
                http_transport::error_chain(&e.without_url())
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(format!(
            "the Pushgateway at {} answered {status}: {}",
            self.url,
            http_transport::escape_controls(body.trim(), true)
        ))
    }

    /// `<url>/metrics/job/<job>/<label>@base64/<value>…`: every value base64url-encoded, so
    /// that a `/` in it (or an empty one) cannot break the path.
    fn group_url(&self, grouping: &[(&str, &str)]) -> Result<url::Url, String> {
        let mut url = self.url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| format!("the Pushgateway URL {} cannot take a path", self.url))?;
            path.pop_if_empty().extend(["metrics", "job", JOB]);
            for (label, value) in grouping {
                let encoded = if value.is_empty() {
                    "=".to_owned()
                } else {
                    base64::engine::general_purpose::URL_SAFE.encode(value)
                };
                path.extend([format!("{label}@base64"), encoded]);
            }
        }
        Ok(url)
    }
}
