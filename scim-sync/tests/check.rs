//! `check` learns what its token may do from the target's discovery, with reads only: a
//! read-only token is "can plan, cannot apply", not a failure at a run's first write.

use scim_client::ScimClient;
use scim_server::policy::{Grant, Policy as TokenPolicy, Preset, Rule, Tokens};
use scim_server::{Profile, ScimServer, ServerHandle};
use scim_sync::Source;
use scim_sync::check::{Item, Verdict, probe};

const EMPTY_ORG: &str = r#"{"version": 1, "users": [], "groups": []}"#;

fn grant(name: &str, policy: TokenPolicy) -> Grant {
    Grant::for_token(name, &format!("{name}-secret"))
        .all_tenants()
        .policy(policy)
}

/// The `token permissions` item of a check with `token`, and whether it sent only reads.
async fn permissions(server: &ServerHandle, token: &str) -> (Item, bool) {
    let scim = ScimClient::builder(&server.base_url())
        .bearer_token(token.to_owned().into())
        .build()
        .unwrap();
    server.clear_requests();
    let source = Source::ExportText(EMPTY_ORG.into());
    let items = probe(&source, &scim, 100, &Default::default()).await;
    let item = items
        .into_iter()
        .find(|i| i.item == "token permissions")
        .expect("the check reports the token's permissions");
    let reads_only = server.requests().iter().all(|r| r.method == "GET");
    (item, reads_only)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_can_plan_but_not_apply_and_check_writes_nothing() {
    let tokens = Tokens::new()
        .grant(grant("ro", TokenPolicy::preset(Preset::ReadOnly)))
        .grant(grant("rw", TokenPolicy::preset(Preset::ReadWrite)))
        .grant(grant(
            "blind",
            TokenPolicy::deny_all().allow(Rule::GetServiceProviderConfig),
        ))
        .grant(grant(
            "no-groups",
            TokenPolicy::preset(Preset::ReadWrite).deny(Rule::UpdateGroup),
        ));
    let server = ScimServer::builder()
        .tokens(tokens)
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
        .unwrap();

    let (ro, reads_only) = permissions(&server, "ro-secret").await;
    assert_eq!(ro.verdict, Verdict::Warn, "{ro:?}");
    assert!(ro.detail.starts_with("can plan, cannot apply"), "{ro:?}");
    assert!(ro.detail.contains("scim:create_user"), "{ro:?}");
    assert!(reads_only, "check sends no write");

    let (rw, _) = permissions(&server, "rw-secret").await;
    assert_eq!(rw.verdict, Verdict::Ok, "{rw:?}");
    assert!(rw.detail.starts_with("can plan and apply"), "{rw:?}");

    let (partial, _) = permissions(&server, "no-groups-secret").await;
    assert_eq!(partial.verdict, Verdict::Warn, "{partial:?}");
    assert!(partial.detail.contains("scim:update_group"), "{partial:?}");
    assert!(!partial.detail.contains("scim:create_user"), "{partial:?}");

    let (blind, reads_only) = permissions(&server, "blind-secret").await;
    assert_eq!(blind.verdict, Verdict::Fail, "{blind:?}");
    assert!(blind.detail.starts_with("cannot plan"), "{blind:?}");
    assert!(blind.detail.contains("scim:list_users"), "{blind:?}");
    assert!(reads_only);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_declares_no_policy_is_not_second_guessed() {
    let server = ScimServer::builder()
        .bearer_token(Some("one-token"))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let (item, reads_only) = permissions(&server, "one-token").await;
    assert_eq!(item.verdict, Verdict::Ok, "{item:?}");
    assert!(
        item.detail.contains("declares no per-token policy"),
        "{item:?}"
    );
    assert!(reads_only);
    server.shutdown().await.unwrap();
}
