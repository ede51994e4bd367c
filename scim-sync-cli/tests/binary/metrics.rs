//! The run's metrics, pushed to a real Pushgateway (Debian's `prometheus-pushgateway`, started
//! on loopback by each test; `cargo xtask ci` installs it) and read back from its `/metrics`
//! the way Prometheus scrapes it: after a success, a dry run, a refusal, a read failure and an
//! `apply`; and an unreachable Pushgateway is a warning, never the run's failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fake_activate::ORG;
use crate::harness::Env;
use crate::targets::Target;

/// A Pushgateway of the test's own, stopped when dropped.
struct Pushgateway {
    child: Child,
    url: String,
}

impl Pushgateway {
    async fn start() -> Pushgateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let program =
            std::env::var("PUSHGATEWAY_BIN").unwrap_or_else(|_| "prometheus-pushgateway".into());
        let child = Command::new(&program)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} does not start ({e}); `cargo xtask ci` installs it")
            });
        // owned at once, so that it is stopped (and waited for) however the test ends
        let gateway = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            let ready = reqwest::get(format!("{}/-/ready", gateway.url)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the Pushgateway at {} did not become ready", gateway.url);
    }

    /// What Prometheus would scrape.
    async fn scrape(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `name` whose labels include every one of `labels` (`None` if no such line).
fn value(scraped: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scraped
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn metric(scraped: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let full = format!("pw_activate_scim_sync_{name}");
    let mut all = vec![("job", "pw-activate-scim-sync"), ("org", ORG)];
    all.extend_from_slice(labels);
    value(scraped, &full, &all).unwrap_or_else(|| panic!("no {full}{labels:?} in:\n{scraped}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus-pushgateway: run by cargo xtask ci"]
async fn every_kind_of_run_pushes_its_metrics_and_a_failure_keeps_the_last_success() {
    let gateway = Pushgateway::start().await;
    let env = Env::sample(Target::embedded().await).await;
    let push = [("SYNC_METRICS_PUSHGATEWAY_URL", gateway.url.as_str())];

    // a successful first sync
    let run = env.sync_ok(&[], &push).await;
    assert!(!run.warnings().contains("metrics"), "{}", run.all());
    let scraped = gateway.scrape().await;
    let target = env.target.base_url();
    let host = target
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        scraped.contains(&format!("target=\"{host}\"")),
        "grouped by the target host: {scraped}"
    );
    assert!(
        !scraped.contains("instance=\"pw"),
        "no per-pod instance label"
    );
    assert_eq!(metric(&scraped, "last_exit_code", &[]), 0.0);
    let success = metric(&scraped, "last_success_timestamp_seconds", &[]);
    assert!(success > 1.7e9, "{success}");
    assert_eq!(metric(&scraped, "refused", &[]), 0.0);
    assert_eq!(
        metric(
            &scraped,
            "operations",
            &[("op", "create_user"), ("outcome", "done")]
        ),
        32.0
    );
    assert_eq!(
        metric(
            &scraped,
            "requests",
            &[("side", "scim"), ("method", "POST"), ("status", "201")]
        ),
        40.0,
        "32 users and 8 groups created"
    );
    assert!(
        metric(
            &scraped,
            "requests",
            &[("side", "activate"), ("method", "GET"), ("status", "200")]
        ) > 30.0
    );
    assert_eq!(
        metric(&scraped, "source_users", &[("state", "active")]),
        32.0
    );
    assert_eq!(
        metric(&scraped, "managed_users", &[("state", "active")]),
        0.0,
        "as read: empty"
    );
    assert!(metric(&scraped, "phase_duration_seconds", &[("phase", "apply")]) > 0.0);
    assert_eq!(metric(&scraped, "retries", &[("side", "scim")]), 0.0);

    // a dry run: exit 0, a success, writes nothing
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.sync_ok(&["--dry-run"], &push).await;
    let scraped = gateway.scrape().await;
    assert_eq!(metric(&scraped, "dry_run", &[]), 1.0);
    assert_eq!(
        metric(&scraped, "managed_users", &[("state", "active")]),
        32.0
    );
    let success = metric(&scraped, "last_success_timestamp_seconds", &[]);

    // a refused run (most users leave): exit 3, and the last success stays
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let keep = ["ada", "alan", "grace", "linus", "ken", "radia"];
    env.fake.edit(|o| o.keep_only(&keep));
    let refused = env.sync(&[], &push).await;
    assert_eq!(refused.code(), 3, "{}", refused.all());
    let scraped = gateway.scrape().await;
    assert_eq!(metric(&scraped, "last_exit_code", &[]), 3.0);
    assert_eq!(metric(&scraped, "refused", &[]), 1.0);
    assert_eq!(
        metric(&scraped, "last_success_timestamp_seconds", &[]),
        success
    );
    assert!(metric(&scraped, "last_run_timestamp_seconds", &[]) > success);
    assert!(
        metric(
            &scraped,
            "operations",
            &[("op", "deactivate_user"), ("outcome", "planned")]
        ) > 25.0
    );
    assert_eq!(
        metric(
            &scraped,
            "operations",
            &[("op", "deactivate_user"), ("outcome", "done")]
        ),
        0.0
    );

    // a read failure: exit 4, the last success stays
    env.fake.edit(|o| o.fail_groups = Some(503));
    let failed = env.sync(&[], &push).await;
    assert_eq!(failed.code(), 4, "{}", failed.all());
    let scraped = gateway.scrape().await;
    assert_eq!(metric(&scraped, "last_exit_code", &[]), 4.0);
    assert_eq!(
        metric(&scraped, "last_success_timestamp_seconds", &[]),
        success
    );
    assert!(
        metric(
            &scraped,
            "requests",
            &[("side", "activate"), ("status", "503")]
        ) >= 1.0,
        "{scraped}"
    );

    // apply of a saved plan pushes too
    env.fake.edit(|o| o.fail_groups = None);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    let planned = env
        .sync(&["plan", "--out", plan, "--allow-mass-changes"], &[])
        .await;
    assert_eq!(planned.code(), 0, "{}", planned.all());
    env.sync_ok(&["apply", plan, "--allow-mass-changes"], &push)
        .await;
    let scraped = gateway.scrape().await;
    assert_eq!(metric(&scraped, "last_exit_code", &[]), 0.0);
    assert!(metric(&scraped, "last_success_timestamp_seconds", &[]) > success);
    assert!(
        metric(
            &scraped,
            "operations",
            &[("op", "deactivate_user"), ("outcome", "done")]
        ) > 25.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_pushgateway_is_a_warning_and_the_run_keeps_its_exit_code() {
    let env = Env::sample(Target::embedded().await).await;
    // a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let started = std::time::Instant::now();
    let run = env
        .sync_ok(&["--dry-run"], &[("SYNC_METRICS_PUSHGATEWAY_URL", &url)])
        .await;
    assert!(
        run.warnings().contains("metrics were not pushed"),
        "{}",
        run.all()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the push never holds the run"
    );

    // a URL that is none is a usage error, before anything is read
    let bad = env
        .sync(
            &["--dry-run"],
            &[("SYNC_METRICS_PUSHGATEWAY_URL", "pushgateway:9091")],
        )
        .await;
    assert_eq!(bad.code(), 2, "{}", bad.all());
    assert!(
        bad.report["error"]
            .as_str()
            .unwrap()
            .contains("SYNC_METRICS_PUSHGATEWAY_URL")
    );
}
