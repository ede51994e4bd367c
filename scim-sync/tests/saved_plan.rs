//! Saved plans through the library, against the embedded server over real HTTP: the file
//! round trip, the limits checked again when applied, and plans edited by hand.

use scim_client::ScimClient;
use scim_diff::{Operation, Policy, RefusalKind};
use scim_server::{ResourceKind, ServerHandle};
use scim_sync::{ApplySaved, Reconciler, RunOutcome, SavedPlan, Source};
use serde_json::{Value, json};

mod support;

use support::{ORG, server, writes};

/// The sample organization without its first `n` users.
fn sample_without_first(n: usize) -> Source {
    let mut org: Value = serde_json::from_str(&std::fs::read_to_string(ORG).unwrap()).unwrap();
    let users = org["users"].as_array_mut().unwrap();
    let gone: Vec<Value> = users.drain(..n).map(|u| u["username"].clone()).collect();
    for group in org["groups"].as_array_mut().unwrap() {
        group["members"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !gone.contains(m));
    }
    Source::ExportText(org.to_string().into())
}

fn kinds(report: &scim_sync::RunReport) -> Vec<RefusalKind> {
    report
        .refusal()
        .map(|r| r.reasons.iter().map(|r| r.kind).collect())
        .unwrap_or_default()
}

async fn synced() -> (ServerHandle, ScimClient) {
    let (server, scim) = server().await;
    let run = Reconciler::new(Source::export_file(ORG), scim.clone(), Policy::default())
        .run()
        .await;
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.error);
    server.clear_requests();
    (server, scim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_survives_its_file_and_applies_to_what_a_fresh_run_would_do() {
    let (server, scim) = server().await;
    let (planned, saved) =
        Reconciler::new(Source::export_file(ORG), scim.clone(), Policy::default())
            .plan_to_save()
            .await;
    assert_eq!(planned.outcome, RunOutcome::Ok);
    let saved = saved.expect("planned");
    assert_eq!(
        saved.basis.source_users,
        36 - 4,
        "the sample's active users"
    );
    let reread = SavedPlan::from_json(&saved.to_json()).unwrap();
    assert_eq!(reread, saved, "the file holds the whole plan");
    assert_eq!(writes(&server), 0);

    let applied = ApplySaved::new(reread, scim.clone(), Policy::default())
        .run()
        .await;
    assert_eq!(applied.outcome, RunOutcome::Ok, "{:?}", applied.refusal());
    assert_eq!(
        applied.applied.as_ref().unwrap().totals().done,
        saved.plan.operations.len()
    );
    let again = Reconciler::new(Source::export_file(ORG), scim, Policy::default())
        .plan()
        .await;
    assert!(again.plan.unwrap().is_empty(), "the saved plan converged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_in_force_when_applied_decide_not_those_of_the_plan() {
    let (server, scim) = synced().await;
    let lenient = Policy {
        allow_mass_changes: true,
        ..Policy::default()
    };
    // 30 users leave: more deactivations than the default limit of 25
    let (planned, saved) = Reconciler::new(sample_without_first(30), scim.clone(), lenient.clone())
        .plan_to_save()
        .await;
    assert_eq!(
        planned.outcome,
        RunOutcome::Ok,
        "the override let it through"
    );
    let saved = saved.unwrap();
    assert!(saved.plan.deactivations() > 25);

    let strict = ApplySaved::new(saved.clone(), scim.clone(), Policy::default())
        .run()
        .await;
    assert_eq!(strict.outcome, RunOutcome::Refused);
    assert!(
        kinds(&strict).contains(&RefusalKind::TooManyDeactivations),
        "{:?}",
        strict.refusal()
    );
    assert_eq!(writes(&server), 0);

    let with_override = ApplySaved::new(saved, scim, lenient).run().await;
    assert_eq!(with_override.outcome, RunOutcome::Ok);
    assert!(writes(&server) > 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_edited_to_write_a_record_it_does_not_manage_writes_nothing() {
    let (server, scim) = synced().await;
    let outsider = server
        .default_tenant()
        .seed(
            ResourceKind::User,
            json!({"userName": "outsider@example.org", "externalId": "okta:42", "active": true}),
        )
        .unwrap();
    let outsider_id = outsider["id"].as_str().unwrap().to_owned();
    let (_, saved) = Reconciler::new(sample_without_first(1), scim.clone(), Policy::default())
        .plan_to_save()
        .await;
    let saved = saved.unwrap();

    // the deactivation pointed at the outsider's id
    let mut edited = saved.clone();
    for op in &mut edited.plan.operations {
        if let Operation::DeactivateUser { id, .. } = op {
            *id = outsider_id.clone();
        }
    }
    let report = ApplySaved::new(edited, scim.clone(), Policy::default())
        .run()
        .await;
    assert_eq!(report.outcome, RunOutcome::Refused);
    assert!(
        kinds(&report).contains(&RefusalKind::InvalidPlan),
        "{:?}",
        report.refusal()
    );

    // an operation outside the managed prefix is refused before the target is read
    let mut edited = saved.clone();
    for op in &mut edited.plan.operations {
        if let Operation::DeactivateUser { external_id, .. } = op {
            *external_id = "okta:42".to_owned();
        }
    }
    server.clear_requests();
    let report = ApplySaved::new(edited, scim.clone(), Policy::default())
        .run()
        .await;
    assert_eq!(kinds(&report), [RefusalKind::InvalidPlan]);
    assert_eq!(server.request_total(), 0, "nothing was asked of the target");
    assert_eq!(writes(&server), 0);
    let outsider_now = server
        .default_tenant()
        .get(ResourceKind::User, &outsider_id)
        .unwrap();
    assert_eq!(outsider_now["active"], true);

    // the plan as saved applies
    let report = ApplySaved::new(saved, scim, Policy::default()).run().await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.refusal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_meanwhile_makes_a_membership_plan_stale() {
    let (server, scim) = synced().await;
    // a user leaves: the plan deactivates them and takes them out of their groups
    let (_, saved) = Reconciler::new(sample_without_first(1), scim.clone(), Policy::default())
        .plan_to_save()
        .await;
    let saved = saved.unwrap();
    let group_id = saved
        .plan
        .operations
        .iter()
        .find_map(|op| match op {
            Operation::UpdateMembers { id: Some(id), .. } => Some(id.clone()),
            _ => None,
        })
        .expect("a membership change");
    // someone adds a member to that group by hand
    let tenant = server.default_tenant();
    let someone = tenant
        .seed(
            ResourceKind::User,
            json!({"userName": "someone@example.org", "active": true}),
        )
        .unwrap();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": someone["id"]}]}],
    });
    let answer = scim
        .raw(
            scim_client::Method::PATCH,
            &format!("Groups/{group_id}"),
            Some(&patch),
        )
        .await
        .unwrap();
    assert!(answer.is_success(), "{}", answer.status);
    server.clear_requests();

    let report = ApplySaved::new(saved, scim, Policy::default()).run().await;
    assert_eq!(report.outcome, RunOutcome::Refused);
    assert_eq!(kinds(&report), [RefusalKind::StalePlan]);
    let message = &report.refusal().unwrap().reasons[0].message;
    assert!(message.contains(&group_id), "{message}");
    assert_eq!(writes(&server), 0);
}
