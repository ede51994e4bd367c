//! Source faults, end to end: ACTIVATE on wiremock misbehaves after a clean first sync into
//! the embedded SCIM server. None of these may cause a single write (asserted on the server's
//! request log); the exit code is 4 (the source could not be read) or 3 (refused by a safety
//! check); once the source is healthy again the next run converges.

mod reliability_support;

use std::time::Duration;

use reliability_support::activate::{FakeActivate, SourceFault};
use reliability_support::*;
use scim_server::ServerHandle;
use scim_server::faults::FaultPlan;

struct Setup {
    fake: FakeActivate,
    server: ServerHandle,
    org: Org,
    unmanaged: Vec<serde_json::Value>,
}

/// A clean first sync of 30 users in 3 groups, then the request log cleared.
async fn synced() -> Setup {
    let org = Org::generate(30, 3);
    let fake = FakeActivate::start(org.clone()).await;
    let server = server(FaultPlan::new(0)).await;
    let unmanaged = seed_unmanaged(&server.default_tenant());
    let s = Setup {
        fake,
        server,
        org,
        unmanaged,
    };
    let r = s.run().await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_converged(&s.server.default_tenant(), &s.org);
    s.server.clear_requests();
    s
}

impl Setup {
    async fn run(&self) -> Run {
        self.run_with(&[]).await
    }

    async fn run_with(&self, extra: &[(&str, &str)]) -> Run {
        run(&self.fake.env(&self.server.base_url()), extra, &[]).await
    }

    /// The run under `fault` writes nothing and exits `code`; then the source heals and
    /// the next run converges with nothing to do.
    async fn assert_no_write(&self, fault: SourceFault, code: i32) -> Run {
        self.assert_no_write_with(fault, code, &[]).await
    }

    /// [`Self::assert_no_write`], the faulty run with `extra` environment variables.
    async fn assert_no_write_with(
        &self,
        fault: SourceFault,
        code: i32,
        extra: &[(&str, &str)],
    ) -> Run {
        self.fake.fault(fault.clone());
        let r = self.run_with(extra).await;
        assert_eq!(r.code, code, "{fault:?}: {}", r.all());
        let w = writes(&self.server);
        assert!(w.is_empty(), "{fault:?} caused writes: {w:?}");
        assert_eq!(r.report["requests"]["scim"]["writes"], 0);
        assert_unmanaged_untouched(&self.server.default_tenant(), &self.unmanaged);
        assert_converged(&self.server.default_tenant(), &self.org);
        self.fake.fault(SourceFault::None);
        let healed = self.run().await;
        assert_eq!(healed.code, 0, "{}", healed.all());
        assert_eq!(healed.planned(), 0, "nothing changed in the source");
        self.server.clear_requests();
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_on_the_users_pages_after_retries_writes_nothing() {
    let s = synced().await;
    for status in [500, 503] {
        let r = s.assert_no_write(SourceFault::UsersStatus(status), 4).await;
        let err = r.report["error"].as_str().unwrap();
        assert!(
            err.contains("source") && err.contains(&status.to_string()),
            "{err}"
        );
        assert!(
            r.report["requests"]["activate"]["retries"]
                .as_u64()
                .unwrap()
                >= 1,
            "retried before giving up: {}",
            r.report["requests"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_an_html_proxy_page_write_nothing() {
    let s = synced().await;
    let r = s.assert_no_write(SourceFault::MalformedGroups, 4).await;
    assert!(
        r.report["error"].as_str().unwrap().contains("source"),
        "{}",
        r.all()
    );
    let r = s.assert_no_write(SourceFault::HtmlUsers, 4).await;
    let err = r.report["error"].as_str().unwrap();
    assert!(err.contains("502"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_user_list_or_a_mass_shrink_is_refused() {
    let s = synced().await;
    let r = s.assert_no_write(SourceFault::NoUsers, 3).await;
    assert!(r.report["refusal"]["message"].is_string(), "{}", r.all());
    let r = s.assert_no_write(SourceFault::KeepUsers(4), 3).await;
    let msg = r.report["refusal"]["message"].as_str().unwrap();
    assert!(msg.contains("deactivat"), "{msg}");
}

/// The members of one group never arrive within the request timeout (`SYNC_REQUEST_TIMEOUT`
/// 1 s): every retry times out too, and once the retry budget (`SYNC_RETRY_BUDGET` 3 s) is
/// spent the run gives up and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_on_one_groups_members_writes_nothing() {
    let s = synced().await;
    let started = std::time::Instant::now();
    let r = s
        .assert_no_write_with(
            SourceFault::SlowMembers("team-01".into(), Duration::from_secs(30)),
            4,
            &[("SYNC_REQUEST_TIMEOUT", "1s"), ("SYNC_RETRY_BUDGET", "3s")],
        )
        .await;
    // not a timing assertion on speed: the run must not have waited for the 30 s answer
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the flags did not shorten the wait: {:?}",
        started.elapsed()
    );
    let err = r.report["error"].as_str().unwrap();
    assert!(err.contains("team-01") || err.contains("members"), "{err}");
}
