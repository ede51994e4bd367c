//! The library's run, against the embedded server over real HTTP: what `plan` and `run`
//! promise, as an embedder relies on it.

use scim_server::{ResourceKind, ServerHandle};
use scim_sync::{Reconciler, RunError, RunOutcome, Source, StopHandle, WarningOrigin};

mod support;

use support::{ORG, server, writes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_writes_nothing_run_converges_and_a_second_run_plans_nothing() {
    let (server, scim) = server().await;
    let reconciler = Reconciler::new(Source::export_file(ORG), scim, Default::default());

    let planned = reconciler.plan().await;
    assert_eq!(planned.outcome, RunOutcome::Ok);
    assert!(planned.dry_run);
    let operations = planned.plan.as_ref().unwrap().operations.len();
    assert!(operations > 40, "{operations}");
    assert!(planned.applied.is_none());
    assert_eq!(writes(&server), 0);
    // the sample's invalid key and user without email, named by the engine
    assert!(
        planned
            .warnings
            .iter()
            .any(|w| w.origin == WarningOrigin::Engine && w.to_string().contains("leslie"))
    );

    let run = reconciler.run().await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    let applied = run.applied.as_ref().unwrap();
    assert_eq!(applied.operations.len(), operations);
    assert_eq!(applied.totals().done, operations);
    assert_eq!(
        run.requests.target.requests as usize,
        server.request_total() as usize
    );
    assert!(run.requests.source.is_none());
    assert!(server.default_tenant().len(ResourceKind::User) > 30);

    let again = reconciler.run().await;
    assert!(again.plan.as_ref().unwrap().is_empty());
    assert!(again.applied.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_before_the_end_of_the_read_writes_nothing_and_says_why() {
    let (server, scim) = server().await;
    let stop = StopHandle::new(None);
    stop.raise();
    let run = Reconciler::new(Source::export_file(ORG), scim.clone(), Default::default())
        .stop_handle(stop)
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::ReadFailed);
    assert!(matches!(run.error, Some(RunError::StoppedWhileReading)));
    assert_eq!(writes(&server), 0);

    // an unreadable source is a read failure too, with the source's error
    let run = Reconciler::new(
        Source::export_file("/nonexistent.json"),
        scim,
        Default::default(),
    )
    .run()
    .await;
    assert_eq!(run.outcome, RunOutcome::ReadFailed);
    let Some(RunError::Read {
        source: Some(e),
        target: None,
    }) = &run.error
    else {
        panic!("{:?}", run.error)
    };
    assert!(e.contains("nonexistent"), "{e}");
    assert!(run.plan.is_none());
    assert_eq!(writes(&server), 0);
}

/// Counts the target's writes when the plan is announced.
struct WritesWhenPlanned {
    server: std::sync::Arc<ServerHandle>,
    seen: std::sync::Mutex<Option<(usize, String)>>,
}

#[async_trait::async_trait]
impl scim_sync::Observer for WritesWhenPlanned {
    async fn planned(&self, plan: &scim_diff::Plan, observed: &scim_diff::ObservedState) {
        let header = scim_diff::review::Review::new(plan, observed).header();
        *self.seen.lock().unwrap() = Some((writes(&self.server), header));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_is_announced_before_the_first_write_and_the_report_can_review_it() {
    let (server, scim) = server().await;
    let server = std::sync::Arc::new(server);
    let observer = std::sync::Arc::new(WritesWhenPlanned {
        server: server.clone(),
        seen: std::sync::Mutex::new(None),
    });
    let run = Reconciler::new(Source::export_file(ORG), scim, Default::default())
        .observer(observer.clone())
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    assert!(writes(&server) > 40);
    let (writes_then, header) = observer.seen.lock().unwrap().clone().expect("announced");
    assert_eq!(writes_then, 0, "the plan came after {writes_then} write(s)");
    assert!(header.starts_with("Plan: 32 users to create"), "{header}");
    // the report keeps what the plan was made against, for a review after the run
    let review = run.review().expect("planned");
    assert_eq!(review.header(), header);
    assert_eq!(run.warning_counts().get("no_email"), Some(&1));
}

/// The writes to `/Groups` the server has seen: (POST, PATCH).
fn group_writes(server: &ServerHandle) -> (usize, usize) {
    let requests = server.requests();
    let to_groups = |method: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path.contains("/Groups"))
            .count()
    };
    (to_groups("POST"), to_groups("PATCH"))
}

/// The groups of the target as (displayName, sorted member userNames).
fn memberships(server: &ServerHandle) -> Vec<(String, Vec<String>)> {
    let tenant = server.default_tenant();
    let names: std::collections::HashMap<String, String> = tenant
        .users()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_owned(),
                u["userName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut groups: Vec<(String, Vec<String>)> = tenant
        .groups()
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| names[m["value"].as_str().unwrap()].clone())
                .collect();
            members.sort();
            (g["displayName"].as_str().unwrap().to_owned(), members)
        })
        .collect();
    groups.sort();
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_groups_with_members_cost_one_write_each_where_the_target_takes_members_on_create() {
    // a generic target that takes members on create: one POST per group, no PATCH
    let generic = scim_server::ScimServer::builder()
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let scim = scim_sync::ScimClient::builder(&generic.base_url())
        .build()
        .unwrap();
    let one_write = scim_sync::Policy {
        group_members_on_create: true,
        ..Default::default()
    };
    let reconciler = Reconciler::new(Source::export_file(ORG), scim, one_write);
    let planned = reconciler.plan().await;
    let plan = planned.plan.as_ref().unwrap();
    let with_members = plan
        .operations
        .iter()
        .filter(|op| matches!(op, scim_diff::Operation::CreateGroup { members, .. } if !members.is_empty()))
        .count();
    let creates = plan.counts()["create_group"];
    assert!(
        with_members >= 3,
        "{with_members} of {creates} groups have members"
    );
    assert!(
        !plan.counts().contains_key("update_members"),
        "{}",
        plan.render_table()
    );
    let run = reconciler.run().await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    assert_eq!(group_writes(&generic), (creates, 0), "N groups, N writes");
    assert!(reconciler.run().await.plan.unwrap().is_empty());

    // the CoreWeave profile, with the default policy: a create, then the members
    let (coreweave, scim) = server().await;
    let reconciler = Reconciler::new(Source::export_file(ORG), scim, Default::default());
    let run = reconciler.run().await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    assert_eq!(
        group_writes(&coreweave),
        (creates, with_members),
        "two steps"
    );
    assert!(reconciler.run().await.plan.unwrap().is_empty());

    // and both end with the same groups and members
    assert_eq!(memberships(&generic), memberships(&coreweave));
    generic.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_gives_the_concurrency_reached_and_the_time_held_by_retry_after() {
    use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RetryAfter, RouteMatch};
    let server = scim_server::ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(scim_server::Profile::CoreWeave)
        .faults(
            FaultPlan::new(7).rule(
                FaultRule::new(Fault::TooManyRequests {
                    retry_after: Some(RetryAfter::Seconds(1)),
                })
                .route(RouteMatch::any().op(Op::Create))
                .after(3)
                .times(1),
            ),
        )
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let scim = scim_client::ScimClient::builder(&server.base_url())
        .bearer_token("tok".into())
        .max_in_flight(2)
        .max_concurrency(Some(16))
        .build()
        .unwrap();
    let run = Reconciler::new(Source::export_file(ORG), scim, Default::default())
        .concurrency(2)
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    let mut doc = scim_sync::document::Document::new("sync", false);
    doc.record_run(&run, false);
    let scim = doc.requests.scim;
    assert_eq!(scim.throttled, 1);
    // every lane held for the server's Retry-After, counted once
    assert!(scim.retry_after_wait_ms >= 1000, "{scim:?}");
    assert!((2..=16).contains(&scim.concurrency_reached), "{scim:?}");
    let json: serde_json::Value = serde_json::from_str(&doc.to_json()).unwrap();
    assert_eq!(
        json["requests"]["scim"]["concurrency_reached"],
        scim.concurrency_reached
    );
    assert_eq!(
        json["requests"]["scim"]["retry_after_wait_ms"],
        scim.retry_after_wait_ms
    );
}

#[test]
fn a_connection_gives_its_target_an_adaptive_bound_up_to_max_concurrency() {
    use scim_sync::connect::{Connection, TargetSettings};
    let target = TargetSettings {
        base_url: "http://127.0.0.1:9/scim".into(),
        token: "tok".into(),
    };
    let connection = Connection {
        concurrency: 4,
        max_concurrency: 16,
        ..Connection::default()
    };
    let pacer = connection.target(&target).unwrap().pacer().clone();
    assert_eq!((pacer.limit(), pacer.max_in_flight()), (4, 16));
    // equal, or below the start: fixed
    for max_concurrency in [4, 2] {
        let connection = Connection {
            concurrency: 4,
            max_concurrency,
            ..Connection::default()
        };
        let client = connection.target(&target).unwrap();
        assert!(!client.pacer().is_adaptive());
        assert_eq!(client.pacer().max_in_flight(), 4);
    }
}

#[tokio::test]
async fn the_scim_target_gives_writes_the_clients_bound_when_it_adapts() {
    use scim_diff::Target;
    use scim_sync::target::ScimTarget;
    let client = |max| {
        scim_client::ScimClient::builder("http://127.0.0.1:9/scim")
            .bearer_token("tok".into())
            .max_in_flight(4)
            .max_concurrency(max)
            .build()
            .unwrap()
    };
    let adaptive = client(Some(16));
    assert_eq!(ScimTarget::new(adaptive.clone()).write_lanes(), Some(4));
    // an overload halves the client's bound, and the writes' with it
    adaptive.pacer().acquire().await.overloaded();
    assert_eq!(ScimTarget::new(adaptive).write_lanes(), Some(2));
    // a fixed bound: the run's own concurrency decides
    assert_eq!(ScimTarget::new(client(None)).write_lanes(), None);
}
