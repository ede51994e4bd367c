//! Target faults, end to end: the real binary against the embedded SCIM server (CoreWeave
//! profile) with a seeded [`FaultPlan`], the source an ACTIVATE export file. For each fault:
//! run, run again where the fault is transient, then check the server's store against the
//! projection of the source, the unmanaged records byte for byte, duplicates, deactivations,
//! and what the exit code and the JSON report say.

mod reliability_support;

use std::time::Duration;

use reliability_support::*;
use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RetryAfter, RouteMatch};
use scim_server::{ResourceKind, ScimServer, ServerHandle};
use tempfile::TempDir;

/// One scenario: an org, a server (possibly restarted with another fault plan over the same
/// store), the unmanaged records seeded at the start.
struct Scenario {
    org: Org,
    dir: TempDir,
    server: Option<ServerHandle>,
    unmanaged: Vec<serde_json::Value>,
    restarts: u64,
}

impl Scenario {
    async fn new(users: usize, groups: usize, plan: FaultPlan) -> Scenario {
        let org = Org::generate(users, groups);
        let dir = tempfile::tempdir().unwrap();
        org.write(dir.path());
        let server = ScimServer::builder()
            .bearer_token(Some(TOKEN))
            .profile(scim_server::Profile::CoreWeave)
            .faults(plan)
            .persist(dir.path().join("store.json"))
            .start("127.0.0.1:0")
            .await
            .unwrap();
        let unmanaged = seed_unmanaged(&server.default_tenant());
        Scenario {
            org,
            dir,
            server: Some(server),
            unmanaged,
            restarts: 0,
        }
    }

    fn server(&self) -> &ServerHandle {
        self.server.as_ref().unwrap()
    }

    fn env(&self) -> Vec<(String, String)> {
        target_env(&self.server().base_url(), &self.dir.path().join("org.json"))
    }

    async fn run(&self, extra: &[(&str, &str)], args: &[&str]) -> Run {
        run(&self.env(), extra, args).await
    }

    /// Writes a changed source.
    fn set_org(&mut self, org: Org) {
        org.write(self.dir.path());
        self.org = org;
    }

    /// Stops the server (its store saved) and starts another on the same store with `plan`.
    async fn restart(&mut self, plan: FaultPlan) {
        self.server.take().unwrap().shutdown().await.unwrap();
        self.restarts += 1;
        let server = ScimServer::builder()
            .bearer_token(Some(TOKEN))
            .profile(scim_server::Profile::CoreWeave)
            .faults(plan)
            .persist(self.dir.path().join("store.json"))
            // new ids must not collide with the loaded ones
            .seed(0xfeed + self.restarts)
            .start("127.0.0.1:0")
            .await
            .unwrap();
        self.server = Some(server);
    }

    /// The oracle: converged, unmanaged records untouched, and a dry run plans nothing.
    async fn assert_converged(&self) -> Checked {
        let t = self.server().default_tenant();
        assert_unmanaged_untouched(&t, &self.unmanaged);
        let checked = assert_converged(&t, &self.org);
        let before = writes(self.server()).len();
        let dry = self.run(&[], &["--dry-run"]).await;
        assert_eq!(dry.code, 0, "{}", dry.all());
        assert_eq!(
            dry.planned(),
            0,
            "a converged target plans nothing: {}",
            dry.all()
        );
        assert_eq!(writes(self.server()).len(), before, "a dry run wrote");
        checked
    }

    /// Runs until a clean exit (at most `max` runs), returning every run.
    async fn converge(&self, max: usize) -> Vec<Run> {
        let mut runs = Vec::new();
        for _ in 0..max {
            let r = self.run(&[], &[]).await;
            let code = r.code;
            runs.push(r);
            if code == 0 {
                break;
            }
            assert!(
                matches!(code, 1 | 4),
                "a transient fault ends in 1 or 4: {}",
                runs.last().unwrap().all()
            );
        }
        assert_eq!(
            runs.last().unwrap().code,
            0,
            "did not converge in {max} runs: {}",
            runs.last().unwrap().all()
        );
        runs
    }
}

fn rule(fault: Fault, op: Op) -> FaultRule {
    FaultRule::new(fault).route(RouteMatch::any().op(op))
}

fn write_requests(s: &Scenario) -> usize {
    writes(s.server()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_with_retry_after_seconds_then_http_date() {
    for retry_after in [RetryAfter::Seconds(1), RetryAfter::HttpDate(1)] {
        let plan = FaultPlan::new(1)
            .rule(
                rule(
                    Fault::TooManyRequests {
                        retry_after: Some(retry_after),
                    },
                    Op::List,
                )
                .times(2),
            )
            .rule(
                rule(
                    Fault::TooManyRequests {
                        retry_after: Some(retry_after),
                    },
                    Op::Create,
                )
                .times(3),
            )
            .rule(
                rule(
                    Fault::TooManyRequests {
                        retry_after: Some(retry_after),
                    },
                    Op::Patch,
                )
                .times(2),
            );
        let s = Scenario::new(20, 3, plan).await;
        // members in PATCHes after the creates, so that PATCHes are throttled too
        let two_steps = [("SCIM_GROUP_MEMBERS_ON_CREATE", "false")];
        let r = s.run(&two_steps, &[]).await;
        assert_eq!(r.code, 0, "429s are retried to success: {}", r.all());
        assert_eq!(s.server().count("GET", Some(429)), 2);
        assert_eq!(s.server().count("POST", Some(429)), 3);
        let throttled = r.report["requests"]["scim"]["throttled"].as_u64().unwrap();
        let retries = r.report["requests"]["scim"]["retries"].as_u64().unwrap();
        assert!(
            throttled >= 7 && retries >= 7,
            "{retry_after:?}: {}",
            r.report["requests"]
        );
        assert_eq!(r.report["failed"].as_array().unwrap().len(), 0);
        s.assert_converged().await;
        let again = s.run(&[], &[]).await;
        assert_eq!(again.code, 0);
        assert_eq!(again.planned(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_503_are_retried_and_500s_fail_only_their_records() {
    // 503 with Retry-After on every kind of request, half of them, for a while
    let plan = FaultPlan::new(7).rule(
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(RetryAfter::Seconds(0)),
        })
        .probability(0.5)
        .times(12),
    );
    let s = Scenario::new(20, 3, plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.report["requests"]["scim"]["retries"].as_u64().unwrap() >= 12);
    s.assert_converged().await;

    // 500 is not transient: the three creates it hits fail (and what depends on them is
    // skipped), everything else is done, exit 1; the next run converges
    let plan = FaultPlan::new(8).rule(
        rule(
            Fault::Status {
                status: 500,
                retry_after: None,
            },
            Op::Create,
        )
        .after(2)
        .times(3),
    );
    let s = Scenario::new(20, 3, plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let failed = r.report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 3, "{}", r.report["failed"]);
    assert!(
        failed
            .iter()
            .all(|f| f["error"].as_str().unwrap().contains("500"))
    );
    assert_eq!(r.report["outcome"], "failed");
    let runs = s.converge(2).await;
    assert_eq!(runs.len(), 1);
    s.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_a_list_page_reads_incompletely_and_writes_nothing() {
    let plan = FaultPlan::new(9).rule(
        rule(
            Fault::Status {
                status: 500,
                retry_after: None,
            },
            Op::List,
        )
        .after(1)
        .times(1),
    );
    let s = Scenario::new(20, 3, plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(write_requests(&s), 0, "nothing written after a failed read");
    assert!(
        r.report["error"]
            .as_str()
            .unwrap()
            .contains("nothing was written")
    );
    s.converge(1).await;
    s.assert_converged().await;
}

/// One list request stalls past the request timeout (`--request-timeout 2s`), is abandoned
/// and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_past_the_request_timeout_is_retried() {
    let plan = FaultPlan::new(3).rule(
        rule(Fault::Latency(Duration::from_secs(4)), Op::List)
            .after(1)
            .times(1),
    );
    let s = Scenario::new(10, 2, plan).await;
    let r = s.run(&[], &["--request-timeout", "2s"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.report["requests"]["scim"]["retries"].as_u64().unwrap() >= 1);
    s.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_mid_apply() {
    let s = Scenario::new(30, 3, FaultPlan::new(0)).await;
    // first a clean sync, then a churn applied while connections drop
    s.converge(1).await;
    let mut s = s;
    let mut org = s.org.clone();
    for (i, u) in org.users.iter_mut().enumerate() {
        if i % 5 == 0 {
            u.name = Some(format!("Renamed {i}"));
        }
        if i % 9 == 1 {
            u.active = false;
        }
    }
    for i in 30..36 {
        org.users.push(U {
            username: format!("new{i}"),
            email: Some(format!("new{i}@example.org")),
            name: None,
            active: true,
            keys: vec![],
        });
        org.groups[1].members.push(format!("new{i}"));
    }
    s.set_org(org);
    let plan = FaultPlan::new(11).rule(
        FaultRule::new(Fault::DropConnection)
            .route(RouteMatch::any())
            .after(8)
            .probability(0.5)
            .times(8),
    );
    s.restart(plan).await;
    let runs = s.converge(3).await;
    let dropped: u64 = ["GET", "POST", "PATCH", "PUT"]
        .iter()
        .map(|m| s.server().count(m, None))
        .sum();
    assert!(dropped >= 4, "connections dropped: {dropped}");
    let c = s.assert_converged().await;
    assert_eq!(c.users, 32, "26 provisioned at first + 6 new");
    eprintln!("dropped connections: converged in {} run(s)", runs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_response_was_lost_is_not_duplicated() {
    let plan = FaultPlan::new(5).rule(
        rule(
            Fault::ResponseLost {
                stall: Duration::from_millis(20),
            },
            Op::Create,
        )
        .after(1)
        .probability(0.5)
        .times(4),
    );
    let s = Scenario::new(20, 3, plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(fired(s.server()), 4);
    assert_eq!(
        s.server().count("POST", Some(409)),
        0,
        "no 409 loop: {}",
        r.all()
    );
    let runs = s.converge(2).await;
    assert!(runs.len() <= 2);
    s.assert_converged().await;
    assert_eq!(s.server().count("POST", Some(409)), 0);
    // every create that the server performed is exactly one record
    assert_eq!(
        s.server().default_tenant().len(ResourceKind::User),
        17 + 3,
        "17 active managed users + 3 unmanaged, no duplicates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_ignoring_the_filter_touches_no_unmanaged_record() {
    let plan = FaultPlan::new(2).rule(rule(Fault::IgnoreFilter, Op::List));
    let mut s = Scenario::new(20, 3, plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(s.server().faults().rules()[0].fired() > 0);
    s.assert_converged().await;
    // and when everyone is gone from the source, only managed users are deactivated
    let mut org = s.org.clone();
    for u in &mut org.users[..3] {
        u.active = false;
    }
    s.set_org(org);
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    s.assert_converged().await;
    for w in writes(s.server()) {
        for u in &s.unmanaged {
            assert!(!w.path.ends_with(u["id"].as_str().unwrap()), "wrote {w:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_shift_while_walked() {
    for by in [-3_i64, 3] {
        let mut s = Scenario::new(40, 3, FaultPlan::new(0)).await;
        s.converge(1).await;
        let mut org = s.org.clone();
        org.users[5].name = Some("Changed".into());
        s.set_org(org);
        // the second page of the users walk shifts
        let plan = FaultPlan::new(4).rule(
            FaultRule::new(Fault::ShiftPages { by })
                .route(RouteMatch::any().resource(ResourceKind::User).op(Op::List))
                .after(1)
                .times(1),
        );
        s.restart(plan).await;
        let users_before = s.server().default_tenant().users();
        let r = s.run(&[], &[]).await;
        assert_eq!(fired(s.server()), 1);
        // a repeated or skipped record is an inconsistent walk: a read failure
        assert_eq!(r.code, 4, "shift {by}: {}", r.all());
        assert_eq!(write_requests(&s), 0, "shift {by}: nothing written");
        assert!(
            r.report["error"]
                .as_str()
                .unwrap()
                .contains("nothing was written")
        );
        // never a deactivation nor a duplicate because of the walk
        let after = s.server().default_tenant().users();
        assert_eq!(
            after.len(),
            users_before.len(),
            "shift {by}: no record created"
        );
        for (b, a) in users_before.iter().zip(&after) {
            assert_eq!(b["active"], a["active"], "shift {by}: {}", a["userName"]);
        }
        eprintln!("page shift {by}: exit {}", r.code);
        s.converge(2).await;
        s.assert_converged().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_garbage_json_writes_nothing() {
    let mut s = Scenario::new(30, 3, FaultPlan::new(0)).await;
    s.converge(1).await;
    let mut org = s.org.clone();
    org.users.truncate(28);
    s.set_org(org);
    let plan = FaultPlan::new(6).rule(rule(Fault::GarbageJson, Op::List).after(1).times(1));
    s.restart(plan).await;
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(write_requests(&s), 0);
    let err = r.report["error"].as_str().unwrap();
    assert!(err.contains("SCIM target"), "{err}");
    s.converge(1).await;
    let c = s.assert_converged().await;
    assert_eq!(
        c.users, 26,
        "the two who left the source are deactivated, kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_mid_run_stops_at_once_with_a_clear_message() {
    let plan = FaultPlan::new(12).rule(rule(Fault::Unauthorized, Op::Create).after(4).times(1));
    let s = Scenario::new(20, 3, plan).await;
    // one write at a time, fixed: none in flight beside the one that gets the 401
    let one = [("SYNC_CONCURRENCY", "1"), ("SYNC_MAX_CONCURRENCY", "1")];
    let r = s.run(&one, &[]).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let log = s.server().requests();
    let at = log
        .iter()
        .position(|q| q.status == Some(401))
        .expect("the 401 was served");
    let later: Vec<_> = log[at + 1..].iter().filter(|q| q.method != "GET").collect();
    assert!(later.is_empty(), "writes after the 401: {later:?}");
    let text = format!("{} {}", r.warnings(), r.report["failed"]);
    assert!(
        text.contains("401") || text.to_lowercase().contains("unauthori"),
        "{text}"
    );
    assert!(
        r.warnings().contains("writes stopped early"),
        "{}",
        r.warnings()
    );
    assert!(r.report["summary"]["skipped"].as_u64().unwrap() > 0);
    s.converge(1).await;
    s.assert_converged().await;
}

/// The largest run: 50 users, 5 groups, every transient fault at once, until converged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_everything_at_once_converges() {
    let plan = FaultPlan::new(2026)
        .rule(
            FaultRule::new(Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(1)),
            })
            .probability(0.08)
            .times(10),
        )
        .rule(
            FaultRule::new(Fault::Status {
                status: 503,
                retry_after: None,
            })
            .probability(0.08)
            .times(10),
        )
        .rule(
            FaultRule::new(Fault::Status {
                status: 502,
                retry_after: None,
            })
            .probability(0.04)
            .times(4),
        )
        .rule(
            FaultRule::new(Fault::DropConnection)
                .probability(0.04)
                .times(6),
        )
        .rule(
            rule(
                Fault::ResponseLost {
                    stall: Duration::from_millis(10),
                },
                Op::Create,
            )
            .probability(0.1)
            .times(5),
        )
        .rule(
            FaultRule::new(Fault::Latency(Duration::from_millis(300)))
                .probability(0.1)
                .times(10),
        )
        .rule(rule(Fault::IgnoreFilter, Op::List));
    let s = Scenario::new(50, 5, plan).await;
    let runs = s.converge(4).await;
    for r in &runs {
        eprintln!(
            "run: exit {} failed {} warnings {}",
            r.code,
            r.report["failed"],
            r.warnings()
        );
    }
    let c = s.assert_converged().await;
    assert_eq!(s.server().count("POST", Some(409)), 0);
    let retried: u64 = runs
        .iter()
        .map(|r| {
            r.report["requests"]["scim"]["retries"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    let requests = s.server().request_total();
    eprintln!(
        "FIGURES chaos: runs={} faults_injected={} requests_served={} retried={} \
         records_checked={} users, {} groups, {} memberships, {} unmanaged",
        runs.len(),
        fired(s.server()),
        requests,
        retried,
        c.users,
        c.groups,
        c.memberships,
        s.unmanaged.len()
    );
    assert!(fired(s.server()) >= 20);
}

/// Regression: a name that loses its family name ("User Number 5" -> "Changed") used to be
/// PATCHed with `replace name {formatted, givenName}`, which (RFC 7644 §3.5.2.3) leaves
/// `familyName` in place, so the update was planned again on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_losing_its_family_name_converges() {
    let mut s = Scenario::new(10, 2, FaultPlan::new(0)).await;
    s.converge(1).await;
    let mut org = s.org.clone();
    org.users[5].name = Some("Changed".into());
    s.set_org(org);
    let r = s.run(&[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.by_op("update_user", "done"), 1);
    s.assert_converged().await;
    let u = s
        .server()
        .default_tenant()
        .users()
        .into_iter()
        .find(|u| u["externalId"] == "pw-activate:user:user005")
        .unwrap();
    assert_eq!(u["name"]["givenName"], "Changed");
    assert!(u["name"].get("familyName").is_none(), "{}", u["name"]);
}
