//! The server as several teams share it, black-box over real HTTP on loopback: tokens with
//! tenants and per-operation rules (every rule allowed and denied), tenant isolation both
//! ways, Roles (CRUD, PATCH, filters, paging, held roles, one domain per tenant),
//! `X-Auth-Token`, SCIM 1.1 discovery, and a server with one bearer token behaving as it
//! always has.

use reqwest::{Client, Method, StatusCode};
use scim_server::policy::{Grant, Policy, Preset, Rule, Tokens};
use scim_server::schema::{POLICY_ERROR, TOKEN_POLICY};
use scim_server::{PolicyDecision, ResourceKind, ScimServer, ServerHandle, TenantHandle};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const ROLE: &str = scim_server::schema::ROLE;

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
        ResourceKind::Role => json!({"name": format!("role-{n}")}),
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
        ResourceKind::Role => json!({"schemas": [ROLE], "name": format!("new-{n}")}),
    }
}

/// The kind and the operation (0 list, 1 get, 2 create, 3 update, 4 delete) of a resource
/// rule; `None` for discovery rules.
fn resource_rule(rule: Rule) -> Option<(ResourceKind, usize)> {
    let ops = |k| {
        [
            (Rule::ListUsers, Rule::ListGroups, Rule::ListRoles),
            (Rule::GetUser, Rule::GetGroup, Rule::GetRole),
            (Rule::CreateUser, Rule::CreateGroup, Rule::CreateRole),
            (Rule::UpdateUser, Rule::UpdateGroup, Rule::UpdateRole),
            (Rule::DeleteUser, Rule::DeleteGroup, Rule::DeleteRole),
        ]
        .iter()
        .position(|(u, g, r)| match k {
            ResourceKind::User => *u == rule,
            ResourceKind::Group => *g == rule,
            ResourceKind::Role => *r == rule,
        })
    };
    ResourceKind::ALL
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
    for rule in Rule::ALL {
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
            let before = ResourceKind::ALL.map(|k| t.all(k));
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
            assert_eq!(ResourceKind::ALL.map(|k| t.all(k)), before);
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
        let role = fixture(&their, ResourceKind::Role, &mut n);
        let before = ResourceKind::ALL.map(|k| their.all(k));
        // every operation on the other tenant is a 404, and changes nothing there
        let mut reqs = vec![
            req(Method::GET, "/Users", None, StatusCode::NOT_FOUND),
            req(Method::GET, "/Groups", None, StatusCode::NOT_FOUND),
            req(Method::GET, "/Roles", None, StatusCode::NOT_FOUND),
            req(
                Method::POST,
                "/Roles",
                Some(create_body(ResourceKind::Role, &mut n)),
                StatusCode::NOT_FOUND,
            ),
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
            ("Roles", &role, ResourceKind::Role),
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
        assert_eq!(ResourceKind::ALL.map(|k| their.all(k)), before);
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
        for rule in Rule::ALL {
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

/// A tenant's base URL and a token, for the Roles tests.
struct Api<'a> {
    c: &'a Client,
    base: String,
    token: &'a str,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        send(
            self.c,
            &self.base,
            self.token,
            &req(method, path, body, StatusCode::OK),
        )
        .await
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    async fn role(&self, name: &str, extra: Value) -> String {
        let mut body = json!({"schemas": [ROLE], "name": name});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = self.call(Method::POST, "/Roles", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
    async fn names(&self, query: &str) -> Vec<String> {
        let (s, v) = self.get(&format!("/Roles{query}")).await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn bearer_server() -> ServerHandle {
    ScimServer::builder()
        .bearer_token(Some("tok"))
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn roles_have_crud_patch_filters_and_paging_like_users_and_groups() {
    let server = bearer_server().await;
    let c = Client::new();
    let api = Api {
        c: &c,
        base: server.tenant_url("a"),
        token: "tok",
    };
    let (s, created) = api
        .call(
            Method::POST,
            "/Roles",
            Some(
                json!({"schemas": [ROLE], "NAME": "Admin", "description": "all of it",
                        "externalId": "pw-activate:r1"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "Admin");
    assert_eq!(created["schemas"], json!([ROLE]));
    assert_eq!(created["meta"]["resourceType"], "Role");
    assert_eq!(
        created["meta"]["location"],
        format!("{}/Roles/{id}", api.base)
    );
    // the name is required, and unique in the tenant whatever its case
    let (s, e) = api
        .call(
            Method::POST,
            "/Roles",
            Some(json!({"schemas": [ROLE], "name": "ADMIN"})),
        )
        .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    let (s, e) = api
        .call(
            Method::POST,
            "/Roles",
            Some(json!({"schemas": [ROLE], "description": "x"})),
        )
        .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    let (s, _) = api
        .call(Method::POST, "/Roles", Some(json!({"name": "no-schemas"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    api.role("viewer", json!({"externalId": "pw-activate:r2"}))
        .await;
    api.role("editor", json!({})).await;

    let (s, got) = api.get(&format!("/Roles/{id}")).await;
    assert_eq!((s, &got), (StatusCode::OK, &created));
    // filters: the name is case-insensitive, externalId exact, the indexes agree with scans
    assert_eq!(
        api.names("?filter=name%20eq%20%22aDmIn%22").await,
        ["Admin"]
    );
    assert_eq!(api.names("?filter=name%20sw%20%22e%22").await, ["editor"]);
    assert_eq!(
        api.names("?filter=externalId%20sw%20%22pw-activate%3A%22")
            .await,
        ["Admin", "viewer"]
    );
    assert_eq!(api.names("?filter=description%20pr").await, ["Admin"]);
    assert_eq!(
        api.names("?filter=name%20eq%20%22viewer%22%20or%20name%20eq%20%22editor%22")
            .await,
        ["viewer", "editor"]
    );
    let (s, e) = api.get("/Roles?filter=name%20eq").await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidFilter"))
    );
    // paging and sorting
    let (_, page) = api.get("/Roles?startIndex=2&count=1").await;
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["Resources"][0]["name"], "viewer");
    assert_eq!(
        api.names("?sortBy=name&sortOrder=descending").await,
        ["viewer", "editor", "Admin"]
    );
    // projection and searches
    let (_, slim) = api.get(&format!("/Roles/{id}?attributes=name")).await;
    assert!(
        slim.get("description").is_none() && slim["name"] == "Admin" && slim["id"] == id.as_str()
    );
    let (s, found) = api
        .call(
            Method::POST,
            "/Roles/.search",
            Some(json!({"schemas": [SEARCH], "filter": "name eq \"editor\""})),
        )
        .await;
    assert_eq!(
        (s, found["totalResults"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (_, everywhere) = api
        .call(
            Method::POST,
            "/.search",
            Some(json!({"schemas": [SEARCH], "filter": "externalId eq \"pw-activate:r2\""})),
        )
        .await;
    assert_eq!(everywhere["totalResults"], 1);
    assert_eq!(everywhere["Resources"][0]["meta"]["resourceType"], "Role");
    // PUT and PATCH, renames included while no one holds the role
    let (s, put) = api
        .call(
            Method::PUT,
            &format!("/Roles/{id}"),
            Some(json!({"schemas": [ROLE], "name": "Admin", "externalId": "pw-activate:r1"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(put.get("description").is_none());
    assert_ne!(put["meta"]["version"], created["meta"]["version"]);
    let patch = |ops: Value| {
        let path = format!("/Roles/{id}");
        let api = &api;
        async move {
            api.call(
                Method::PATCH,
                &path,
                Some(json!({"schemas": [PATCH], "Operations": ops})),
            )
            .await
        }
    };
    let (s, v) = patch(
        json!([{"op": "add", "path": "description", "value": "back"},
                              {"op": "replace", "path": "name", "value": "administrator"}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["description"].as_str()),
        (Some("administrator"), Some("back"))
    );
    let (s, e) = patch(json!([{"op": "replace", "path": "name", "value": "VIEWER"}])).await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    let (s, e) = patch(json!([{"op": "remove", "path": "name"}])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        api.names("?filter=name%20eq%20%22admin%22").await,
        Vec::<String>::new()
    );
    assert_eq!(
        api.names("?filter=name%20eq%20%22Administrator%22").await,
        ["administrator"]
    );
    // DELETE
    let (s, _) = api
        .call(Method::DELETE, &format!("/Roles/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&format!("/Roles/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(server.tenant("a").roles().len(), 2);
    assert!(server.default_tenant().is_empty());

    // discovery lists the type and its schema
    let (_, types) = api.get("/ResourceTypes").await;
    let role_type = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "Role")
        .unwrap()
        .clone();
    assert_eq!(
        (role_type["endpoint"].as_str(), role_type["schema"].as_str()),
        (Some("/Roles"), Some(ROLE))
    );
    let (s, one) = api.get("/ResourceTypes/Role").await;
    assert_eq!((s, one), (StatusCode::OK, role_type));
    let (s, schema) = api.get(&format!("/Schemas/{ROLE}")).await;
    assert_eq!(s, StatusCode::OK);
    let name = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "name")
        .unwrap();
    assert_eq!(
        (&name["required"], &name["uniqueness"], &name["caseExact"]),
        (&json!(true), &json!("server"), &json!(false))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_role_users_hold_is_deleted_only_when_forced() {
    let server = bearer_server().await;
    let c = Client::new();
    let api = Api {
        c: &c,
        base: server.base_url(),
        token: "tok",
    };
    let ops = api.role("ops", json!({})).await;
    let free = api.role("free", json!({})).await;
    let user = |name: &str, roles: Value| {
        let api = &api;
        let body = json!({"schemas": [USER], "userName": name, "roles": roles});
        async move {
            let (s, v) = api.call(Method::POST, "/Users", Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v
        }
    };
    let u1 = user(
        "u1",
        json!([{"value": "OPS", "type": "tenant", "primary": true}]),
    )
    .await;
    let u2 = user("u2", json!([{"value": "ops"}, {"value": "dev"}])).await;
    assert_eq!(u1["roles"][0]["primary"], true);

    let (s, e) = api
        .call(Method::DELETE, &format!("/Roles/{ops}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(e["detail"].as_str().unwrap().contains("force=true"), "{e}");
    assert_eq!(server.default_tenant().roles().len(), 2);
    // held by name: a rename is refused, a change of case is not
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("/Roles/{ops}"),
            Some(json!({"schemas": [ROLE], "name": "ops2"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("/Roles/{ops}"),
            Some(json!({"schemas": [ROLE], "name": "Ops"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .call(Method::DELETE, &format!("/Roles/{ops}?force=maybe"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // a role no one holds goes without force
    let (s, _) = api
        .call(Method::DELETE, &format!("/Roles/{free}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // forced: gone, and gone from its holders (a new version of each)
    let (s, _) = api
        .call(Method::DELETE, &format!("/Roles/{ops}?force=true"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(server.default_tenant().roles().is_empty());
    let (_, u1_after) = api
        .get(&format!("/Users/{}", u1["id"].as_str().unwrap()))
        .await;
    assert!(u1_after.get("roles").is_none(), "{u1_after}");
    assert_ne!(u1_after["meta"]["version"], u1["meta"]["version"]);
    let (_, u2_after) = api
        .get(&format!("/Users/{}", u2["id"].as_str().unwrap()))
        .await;
    assert_eq!(u2_after["roles"], json!([{"value": "dev"}]));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_role_belongs_to_its_tenant() {
    let tokens = Tokens::new()
        .grant(
            Grant::for_token("team-a", "token-a")
                .tenants(["a"])
                .policy(Policy::allow_all()),
        )
        .grant(
            Grant::for_token("team-b", "token-b")
                .tenants(["b"])
                .policy(Policy::allow_all()),
        );
    let server = ScimServer::builder()
        .tokens(tokens)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let a = Api {
        c: &c,
        base: server.tenant_url("a"),
        token: "token-a",
    };
    let b = Api {
        c: &c,
        base: server.tenant_url("b"),
        token: "token-b",
    };
    // the same name in two tenants: two records
    let in_a = a.role("admin", json!({})).await;
    let in_b = b.role("admin", json!({})).await;
    assert_ne!(in_a, in_b);
    assert_eq!(a.names("?filter=name%20eq%20%22admin%22").await, ["admin"]);
    let (_, la) = a.get("/Roles").await;
    assert_eq!(
        (
            la["totalResults"].as_u64(),
            la["Resources"][0]["id"].as_str()
        ),
        (Some(1), Some(in_a.as_str()))
    );
    // a user of b holding "admin" holds b's, not a's
    let (s, _) = b
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "x", "roles": [{"value": "admin"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = b
        .call(Method::DELETE, &format!("/Roles/{in_b}"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = a
        .call(Method::DELETE, &format!("/Roles/{in_a}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // and neither token reaches the other's roles
    let cross = Api {
        c: &c,
        base: server.tenant_url("b"),
        token: "token-a",
    };
    let (s, _) = cross.get(&format!("/Roles/{in_b}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = cross.get("/Roles").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(server.tenant("b").roles().len(), 1);
    server.shutdown().await.unwrap();
}

/// Writes `head` on a fresh connection and returns the answer's status line, or `""` when
/// none came within a generous wait.
fn status_line(addr: std::net::SocketAddr, head: String) -> String {
    use std::io::{BufRead as _, Write as _};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    let _ = std::io::BufReader::new(c).read_line(&mut line);
    line.trim_end().to_string()
}

/// A denied rule and a foreign tenant are answered from the headers: a body announced and
/// never sent is not waited for (the body timeout is an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_costs_no_body() {
    let server = ScimServer::builder()
        .tokens(
            Tokens::new().grant(
                Grant::for_token("readers", "ro-token")
                    .tenants(["a"])
                    .policy(Policy::preset(Preset::ReadOnly)),
            ),
        )
        .body_timeout(std::time::Duration::from_secs(3600))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.addr();
    for (tenant, want) in [("a", "HTTP/1.1 403"), ("b", "HTTP/1.1 404")] {
        let head = format!(
            "POST /{tenant}/v2/Users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ro-token\r\n\
             content-type: application/scim+json\r\ncontent-length: 1048576\r\n\r\n{{"
        );
        let line = tokio::task::spawn_blocking(move || status_line(addr, head))
            .await
            .unwrap();
        assert!(line.starts_with(want), "{tenant}: {line:?}");
    }
    assert!(server.tenant("a").is_empty());
    server.shutdown().await.unwrap();
}

/// Tokens that are an empty set let no one in (not everyone).
#[tokio::test]
async fn an_empty_set_of_tokens_lets_no_one_in() {
    let server = ScimServer::builder()
        .tokens(Tokens::new())
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    for token in ["", "anything"] {
        let r = req(Method::GET, "/Users", None, StatusCode::OK);
        let (s, _) = send(&c, &server.base_url(), token, &r).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    server.shutdown().await.unwrap();
}

/// Roles are persisted with the rest of a tenant, and their names stay unique after a load.
#[tokio::test]
async fn roles_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store.json");
    let start = || {
        ScimServer::builder()
            .bearer_token(Some("tok"))
            .persist(&file)
            .start("127.0.0.1:0")
    };
    let c = Client::new();
    let server = start().await.unwrap();
    let api = Api {
        c: &c,
        base: server.tenant_url("a"),
        token: "tok",
    };
    let id = api
        .role("auditor", json!({"description": "reads logs"}))
        .await;
    server.shutdown().await.unwrap();

    let server = start().await.unwrap();
    let api = Api {
        c: &c,
        base: server.tenant_url("a"),
        token: "tok",
    };
    let (s, role) = api.get(&format!("/Roles/{id}")).await;
    assert_eq!(
        (s, role["description"].as_str()),
        (StatusCode::OK, Some("reads logs"))
    );
    assert_eq!(
        api.names("?filter=name%20eq%20%22AUDITOR%22").await,
        ["auditor"]
    );
    let (s, _) = api
        .call(
            Method::POST,
            "/Roles",
            Some(json!({"schemas": [ROLE], "name": "Auditor"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    server.shutdown().await.unwrap();
}
