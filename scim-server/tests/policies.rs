//! Tokens with tenants and per-operation rules, black-box over real HTTP on loopback: every
//! rule allowed and denied, tenant isolation both ways, `X-Auth-Token`, SCIM 1.1 discovery,
//! and a server with one bearer token behaving as it always has.

use reqwest::{Client, Method, StatusCode};
use scim_server::policy::{Grant, Policy, Preset, Rule, Tokens};
use scim_server::schema::{POLICY_ERROR, TOKEN_POLICY};
use scim_server::{PolicyDecision, ResourceKind, ScimServer, ServerHandle, TenantHandle};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// One request: method, path below the tenant's base URL, body, the status it gets when
/// allowed.
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    ok: StatusCode,
}

fn req(method: Method, path: impl Into<String>, body: Option<Value>, ok: StatusCode) -> Req {
    Req {
        method,
        path: path.into(),
        body,
        ok,
    }
}

async fn send(c: &Client, base: &str, token: &str, r: &Req) -> (StatusCode, Value) {
    let mut b = c
        .request(r.method.clone(), format!("{base}{}", r.path))
        .bearer_auth(token);
    if let Some(body) = &r.body {
        b = b
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let resp = b.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v)
}

/// A record of `kind` seeded into `t`, with a name no other has; returns its id.
fn fixture(t: &TenantHandle, kind: ResourceKind, n: &mut u32) -> String {
    *n += 1;
    let rec = match kind {
        ResourceKind::User => json!({"userName": format!("user-{n}")}),
        ResourceKind::Group => json!({"displayName": format!("group-{n}")}),
    };
    t.seed(kind, rec).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn create_body(kind: ResourceKind, n: &mut u32) -> Value {
    *n += 1;
    match kind {
        ResourceKind::User => json!({"schemas": [USER], "userName": format!("new-{n}")}),
        ResourceKind::Group => json!({"schemas": [GROUP], "displayName": format!("new-{n}")}),
    }
}

/// The kind and the operation (0 list, 1 get, 2 create, 3 update, 4 delete) of a resource
/// rule; `None` for discovery rules.
fn resource_rule(rule: Rule) -> Option<(ResourceKind, usize)> {
    let ops = |k| {
        [
            (Rule::ListUsers, Rule::ListGroups),
            (Rule::GetUser, Rule::GetGroup),
            (Rule::CreateUser, Rule::CreateGroup),
            (Rule::UpdateUser, Rule::UpdateGroup),
            (Rule::DeleteUser, Rule::DeleteGroup),
        ]
        .iter()
        .position(|(u, g)| match k {
            ResourceKind::User => *u == rule,
            _ => *g == rule,
        })
    };
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find_map(|k| ops(k).map(|op| (k, op)))
}

/// Every request that needs `rule` (and no other rule), on fresh fixtures in `t`.
fn requests_for(rule: Rule, t: &TenantHandle, n: &mut u32) -> Vec<Req> {
    let ok = StatusCode::OK;
    match rule {
        Rule::GetServiceProviderConfig => vec![
            req(Method::GET, "/ServiceProviderConfig", None, ok),
            req(Method::GET, "/ServiceProviderConfigs", None, ok),
        ],
        Rule::GetSchemas => vec![
            req(Method::GET, "/Schemas", None, ok),
            req(Method::GET, format!("/Schemas/{USER}"), None, ok),
        ],
        Rule::GetResourceTypes => vec![
            req(Method::GET, "/ResourceTypes", None, ok),
            req(Method::GET, "/ResourceTypes/User", None, ok),
        ],
        _ => {
            let (kind, op) = resource_rule(rule).expect("a resource rule");
            let ep = kind.endpoint();
            match op {
                0 => vec![
                    req(Method::GET, format!("/{ep}?count=1"), None, ok),
                    req(
                        Method::POST,
                        format!("/{ep}/.search"),
                        Some(json!({"schemas": [SEARCH], "count": 1})),
                        ok,
                    ),
                ],
                1 => vec![req(
                    Method::GET,
                    format!("/{ep}/{}", fixture(t, kind, n)),
                    None,
                    ok,
                )],
                2 => vec![req(
                    Method::POST,
                    format!("/{ep}"),
                    Some(create_body(kind, n)),
                    StatusCode::CREATED,
                )],
                3 => {
                    let put = fixture(t, kind, n);
                    let patch = fixture(t, kind, n);
                    vec![
                        req(
                            Method::PUT,
                            format!("/{ep}/{put}"),
                            Some(create_body(kind, n)),
                            ok,
                        ),
                        req(
                            Method::PATCH,
                            format!("/{ep}/{patch}"),
                            Some(json!({"schemas": [PATCH], "Operations": [
                                {"op": "replace", "path": "externalId", "value": "x"}]})),
                            ok,
                        ),
                    ]
                }
                _ => vec![req(
                    Method::DELETE,
                    format!("/{ep}/{}", fixture(t, kind, n)),
                    None,
                    StatusCode::NO_CONTENT,
                )],
            }
        }
    }
}

/// The rules this server version serves requests for.
fn served_rules() -> Vec<Rule> {
    Rule::ALL
        .into_iter()
        .filter(|r| {
            !matches!(
                r,
                Rule::ListRoles
                    | Rule::GetRole
                    | Rule::CreateRole
                    | Rule::UpdateRole
                    | Rule::DeleteRole
            )
        })
        .collect()
}

fn only(rule: Rule) -> String {
    format!("only-{rule}")
}
fn all_but(rule: Rule) -> String {
    format!("all-but-{rule}")
}
fn secret(name: &str) -> String {
    format!("{name}-secret-value")
}

/// A server with private discovery and, for every rule, a token allowed that rule only and
/// a token allowed every rule but that one, all on tenant `a`.
async fn rule_server() -> ServerHandle {
    let mut tokens = Tokens::new();
    for r in Rule::ALL {
        tokens = tokens
            .grant(
                Grant::for_token(only(r), &secret(&only(r)))
                    .tenants(["a"])
                    .policy(Policy::deny_all().allow(r)),
            )
            .grant(
                Grant::for_token(all_but(r), &secret(&all_but(r)))
                    .tenants(["a"])
                    .policy(Policy::allow_all().deny(r)),
            );
    }
    ScimServer::builder()
        .tokens(tokens)
        .public_discovery(false)
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

fn last_decision(s: &ServerHandle) -> Option<PolicyDecision> {
    s.requests().last().unwrap().policy.clone()
}

#[tokio::test]
async fn every_rule_is_allowed_to_its_token_and_denied_to_the_others() {
    let server = rule_server().await;
    let c = Client::new();
    let base = server.tenant_url("a");
    let t = server.tenant("a");
    let mut n = 0;
    for rule in served_rules() {
        for r in requests_for(rule, &t, &mut n) {
            // allowed: the token whose only rule this is
            let (status, body) = send(&c, &base, &secret(&only(rule)), &r).await;
            assert_eq!(status, r.ok, "{rule}: {} {}: {body}", r.method, r.path);
            let d = last_decision(&server).unwrap();
            assert_eq!(
                (d.token.as_str(), d.rule, d.allowed),
                (only(rule).as_str(), rule, true)
            );
        }
        for r in requests_for(rule, &t, &mut n) {
            // denied: the token with every rule but this one; nothing changes
            let before = [ResourceKind::User, ResourceKind::Group].map(|k| t.all(k));
            let (status, body) = send(&c, &base, &secret(&all_but(rule)), &r).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{rule}: {} {}",
                r.method,
                r.path
            );
            assert_eq!(body["status"], "403");
            assert_eq!(body[POLICY_ERROR]["rule"], rule.name(), "{body}");
            assert_eq!(body[POLICY_ERROR]["token"], all_but(rule).as_str());
            assert!(body["detail"].as_str().unwrap().contains(rule.name()));
            let schemas = body["schemas"].as_array().unwrap();
            assert!(schemas.contains(&json!("urn:ietf:params:scim:api:messages:2.0:Error")));
            assert_eq!(
                [ResourceKind::User, ResourceKind::Group].map(|k| t.all(k)),
                before
            );
            let d = last_decision(&server).unwrap();
            assert_eq!(
                (d.token.as_str(), d.rule, d.allowed),
                (all_but(rule).as_str(), rule, false)
            );
        }
    }
    // the log names tokens and rules, never a token's value
    let log = format!("{:?}", server.requests());
    assert!(!log.contains("secret-value"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_search_of_every_type_needs_every_list_rule() {
    let server = rule_server().await;
    let c = Client::new();
    let base = server.tenant_url("a");
    let search = req(
        Method::POST,
        "/.search",
        Some(json!({"schemas": [SEARCH]})),
        StatusCode::OK,
    );
    let (s, body) = send(&c, &base, &secret(&only(Rule::ListUsers)), &search).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_ne!(body[POLICY_ERROR]["rule"], "scim:list_users");
    let (s, body) = send(&c, &base, &secret(&all_but(Rule::CreateUser)), &search).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_token_never_sees_a_tenant_it_does_not_have_either_way() {
    let tokens = Tokens::new()
        .grant(
            Grant::for_token("team-a", "token-a")
                .tenants(["a"])
                .policy(Policy::preset(Preset::Admin)),
        )
        .grant(
            Grant::for_token("team-b", "token-b")
                .tenants(["b"])
                .policy(Policy::preset(Preset::Admin)),
        );
    let server = ScimServer::builder()
        .tokens(tokens)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let mut n = 0;
    for (mine, theirs, my_token, their_token) in [
        ("a", "b", "token-a", "token-b"),
        ("b", "a", "token-b", "token-a"),
    ] {
        let their = server.tenant(theirs);
        let their_base = server.tenant_url(theirs);
        let user = fixture(&their, ResourceKind::User, &mut n);
        let group = fixture(&their, ResourceKind::Group, &mut n);
        let before = [ResourceKind::User, ResourceKind::Group].map(|k| their.all(k));
        // every operation on the other tenant is a 404, and changes nothing there
        let mut reqs = vec![
            req(Method::GET, "/Users", None, StatusCode::NOT_FOUND),
            req(Method::GET, "/Groups", None, StatusCode::NOT_FOUND),
            req(
                Method::POST,
                "/.search",
                Some(json!({"schemas": [SEARCH]})),
                StatusCode::NOT_FOUND,
            ),
            req(
                Method::POST,
                "/Users",
                Some(create_body(ResourceKind::User, &mut n)),
                StatusCode::NOT_FOUND,
            ),
        ];
        for (ep, id, kind) in [
            ("Users", &user, ResourceKind::User),
            ("Groups", &group, ResourceKind::Group),
        ] {
            reqs.push(req(
                Method::GET,
                format!("/{ep}/{id}"),
                None,
                StatusCode::NOT_FOUND,
            ));
            reqs.push(req(
                Method::PUT,
                format!("/{ep}/{id}"),
                Some(create_body(kind, &mut n)),
                StatusCode::NOT_FOUND,
            ));
            reqs.push(req(Method::PATCH, format!("/{ep}/{id}"),
                Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "externalId", "value": "x"}]})),
                StatusCode::NOT_FOUND));
            reqs.push(req(
                Method::DELETE,
                format!("/{ep}/{id}"),
                None,
                StatusCode::NOT_FOUND,
            ));
        }
        for r in &reqs {
            let (s, _) = send(&c, &their_base, my_token, r).await;
            assert_eq!(s, r.ok, "{mine} → {theirs}: {} {}", r.method, r.path);
        }
        assert_eq!(
            [ResourceKind::User, ResourceKind::Group].map(|k| their.all(k)),
            before
        );
        // no existence oracle: their existing record answers as a missing one does to them
        let (_, existing) = send(
            &c,
            &their_base,
            my_token,
            &req(Method::GET, format!("/Users/{user}"), None, StatusCode::OK),
        )
        .await;
        let (s, missing) = send(
            &c,
            &their_base,
            their_token,
            &req(
                Method::GET,
                "/Users/00000000-0000-4000-8000-000000000000",
                None,
                StatusCode::OK,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let strip = |v: &Value, id: &str| v.to_string().replace(id, "ID");
        assert_eq!(
            strip(&existing, &user),
            strip(&missing, "00000000-0000-4000-8000-000000000000")
        );
        // and on their own tenant each sees its own records only
        let (s, list) = send(
            &c,
            &server.tenant_url(mine),
            my_token,
            &req(Method::GET, "/Users", None, StatusCode::OK),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(!list.to_string().contains(&user));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_service_provider_config_tells_a_token_its_own_rules() {
    let tokens = Tokens::new().grant(
        Grant::for_token("readers", "ro-token")
            .tenants(["a"])
            .policy(Policy::preset(Preset::ReadOnly)),
    );
    let server = ScimServer::builder()
        .tokens(tokens)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let spc = |tenant: &str, token: Option<&str>| {
        let mut r = c.get(format!(
            "{}/ServiceProviderConfig",
            server.tenant_url(tenant)
        ));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mine = spc("a", Some("ro-token")).await;
    let p = &mine[TOKEN_POLICY];
    assert_eq!(p["token"], "readers");
    assert_eq!(p["tenant"], "a");
    let allow: Vec<&str> = p["allow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let deny: Vec<&str> = p["deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for r in Rule::ALL {
        assert_eq!(allow.contains(&r.name()), r.is_read(), "{r}");
        assert_eq!(deny.contains(&r.name()), !r.is_read(), "{r}");
    }
    assert!(
        mine["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(TOKEN_POLICY))
    );
    // anonymous, a wrong token, a tenant the token does not have: the plain document
    for v in [
        spc("a", None).await,
        spc("a", Some("wrong")).await,
        spc("b", Some("ro-token")).await,
    ] {
        assert!(v.get(TOKEN_POLICY).is_none(), "{v}");
        assert_eq!(v["patch"]["supported"], true);
    }
    // the same read-only token: reads work, a write is refused naming its rule
    let (s, _) = send(
        &c,
        &server.tenant_url("a"),
        "ro-token",
        &req(Method::GET, "/Users?count=0", None, StatusCode::OK),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn x_auth_token_is_accepted_where_a_tenant_is_configured_for_it() {
    let server = ScimServer::builder()
        .tokens(
            Tokens::new().grant(
                Grant::for_token("keystone", "ks-token")
                    .all_tenants()
                    .policy(Policy::preset(Preset::ReadOnly)),
            ),
        )
        .accept_x_auth_token("ks")
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let get = |tenant: &str, headers: &[(&str, &str)]| {
        let mut r = c.get(format!("{}/Users", server.tenant_url(tenant)));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        async move { r.send().await.unwrap().status() }
    };
    assert_eq!(
        get("ks", &[("x-auth-token", "ks-token")]).await,
        StatusCode::OK
    );
    assert_eq!(
        get("ks", &[("authorization", "Bearer ks-token")]).await,
        StatusCode::OK
    );
    assert_eq!(
        get("ks", &[("x-auth-token", "wrong")]).await,
        StatusCode::UNAUTHORIZED
    );
    // a tenant not configured for it
    assert_eq!(
        get("a", &[("x-auth-token", "ks-token")]).await,
        StatusCode::UNAUTHORIZED
    );
    // the Authorization header, when sent, decides
    assert_eq!(
        get(
            "ks",
            &[
                ("authorization", "Bearer wrong"),
                ("x-auth-token", "ks-token")
            ]
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // the 1.1 document names the scheme on that tenant only
    let spc1 = |tenant: &str| {
        let r = c.get(format!(
            "{}/ServiceProviderConfigs",
            server.tenant_url(tenant)
        ));
        async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let names = |v: &Value| -> Vec<String> {
        v["authenticationSchemes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&spc1("ks").await).contains(&"X-Auth-Token".to_string()));
    assert!(!names(&spc1("a").await).contains(&"X-Auth-Token".to_string()));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn service_provider_configs_answers_in_the_scim_1_1_shape() {
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .max_page_size(77)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let v1: Value = c
        .get(format!("{}/ServiceProviderConfigs", server.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v2: Value = c
        .get(format!("{}/ServiceProviderConfig", server.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v1["schemas"], json!(["urn:scim:schemas:core:1.0"]));
    assert_eq!(
        v2["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    // the same capabilities
    for cap in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert_eq!(v1[cap], v2[cap], "{cap}");
    }
    assert_eq!(v1["filter"]["maxResults"], 77);
    assert_eq!(v1["xmlDataFormat"]["supported"], false);
    assert!(v1["documentationUrl"].is_string() && v1.get("documentationUri").is_none());
    let scheme = &v1["authenticationSchemes"][0];
    assert!(scheme["specUrl"].is_string() && scheme.get("type").is_none());
    assert!(
        v1["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with("/v2/ServiceProviderConfigs")
    );
    server.shutdown().await.unwrap();
}

/// A server started with one bearer token: that token opens every tenant and every
/// operation, nothing else does, discovery is public and says nothing of tokens.
#[tokio::test]
async fn a_bearer_token_alone_opens_every_tenant_and_operation_as_before() {
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let mut n = 0;
    for tenant in ["", "a", "x/y"] {
        let base = server.tenant_url(tenant);
        let t = server.tenant(tenant);
        for rule in served_rules() {
            for r in requests_for(rule, &t, &mut n) {
                let (s, body) = send(&c, &base, "tok", &r).await;
                assert_eq!(s, r.ok, "{tenant}: {} {}: {body}", r.method, r.path);
                if let Some(d) = last_decision(&server) {
                    assert_eq!(
                        (d.token.as_str(), d.rule, d.allowed),
                        ("bearer", rule, true)
                    );
                }
                let (s, _) = send(&c, &base, "other", &r).await;
                let public = resource_rule(rule).is_none();
                if !public {
                    assert_eq!(s, StatusCode::UNAUTHORIZED, "{} {}", r.method, r.path);
                }
            }
        }
        let (s, _) = c
            .get(format!("{base}/Users"))
            .header("x-auth-token", "tok")
            .send()
            .await
            .map(|r| (r.status(), ()))
            .unwrap();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let spc: Value = c
            .get(format!("{base}/ServiceProviderConfig"))
            .bearer_auth("tok")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(spc.get(TOKEN_POLICY).is_none());
        assert_eq!(spc["schemas"].as_array().unwrap().len(), 1);
    }
    server.shutdown().await.unwrap();
}
