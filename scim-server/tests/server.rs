//! End-to-end tests over real HTTP on loopback.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use scim_server::faults::{Fault, FaultPlan, FaultRule, Op, RetryAfter, RouteMatch};
use scim_server::{Profile, ResourceKind, ScimServer, ServerHandle};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CW: &str = "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";

async fn start(profile: Profile) -> (ServerHandle, Client) {
    let s = ScimServer::builder()
        .bearer_token(Some("tok"))
        .profile(profile)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    (s, Client::new())
}

struct Api<'a> {
    c: &'a Client,
    base: String,
}

impl Api<'_> {
    async fn send(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.base))
            .bearer_auth("tok");
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, v)
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }
    async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .send(
                reqwest::Method::PATCH,
                path,
                Some(json!({"schemas":[PATCH],"Operations":ops})),
            )
            .await;
        (s, v)
    }
    async fn user(&self, name: &str, ext: &str) -> String {
        let (s, v) = self
            .post(
                "/Users",
                json!({"schemas":[USER],"userName":name,"externalId":ext,"active":true}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn crud_list_filter_and_tenants() {
    let (server, c) = start(Profile::Rfc).await;
    assert!(server.base_url().ends_with("/v2"));
    let api = Api {
        c: &c,
        base: server.tenant_url("t1"),
    };

    // create: 201, Location, ETag
    let (status, headers, v) = api
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(json!({"schemas":[USER],"userName":"Alice","externalId":"pw-activate:1",
                        "name":{"givenName":"Alice"},"emails":[{"value":"a@x","type":"work","primary":true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        headers["location"],
        format!("{}/Users/{id}", api.base).as_str()
    );
    assert_eq!(headers["etag"], v["meta"]["version"].as_str().unwrap());
    assert_eq!(v["meta"]["resourceType"], "User");

    // uniqueness is case-insensitive
    let (s, e) = api
        .post("/Users", json!({"schemas":[USER],"userName":"ALICE"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["scimType"], "uniqueness");
    assert_eq!(e["status"], "409");

    api.user("bob", "pw-activate:2").await;
    api.user("carol", "other:3").await;

    // filters the syncer uses
    let (s, l) = api
        .get("/Users?filter=externalId%20sw%20%22pw-activate%3A%22")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(l["totalResults"], 2);
    let (_, l) = api
        .get("/Users?filter=externalId%20sw%20%22PW-ACTIVATE%3A%22")
        .await;
    assert_eq!(l["totalResults"], 0, "externalId is case-exact");
    let (_, l) = api.get("/Users?filter=userName%20eq%20%22alice%22").await;
    assert_eq!(l["totalResults"], 1);
    let (_, l) = api
        .get("/Users?filter=userName%20eq%20%22bob%22%20or%20externalId%20eq%20%22other%3A3%22")
        .await;
    assert_eq!(l["totalResults"], 2);
    let (s, e) = api.get("/Users?filter=userName%20eq").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidFilter");

    // paging
    let (_, l) = api.get("/Users?startIndex=2&count=1").await;
    assert_eq!(l["totalResults"], 3);
    assert_eq!(l["itemsPerPage"], 1);
    assert_eq!(l["startIndex"], 2);
    assert_eq!(l["Resources"][0]["userName"], "bob");

    // get, PUT, DELETE
    let (s, u) = api.get(&format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(u["name"]["givenName"], "Alice");
    let (s, _, u) = api
        .send(reqwest::Method::PUT, &format!("/Users/{id}"),
              Some(json!({"schemas":[USER],"userName":"alice2","externalId":"pw-activate:1","active":false})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(u["userName"], "alice2");
    assert!(u.get("name").is_none());
    let (s, _, _) = api
        .send(reqwest::Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = api.get(&format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["status"], "404");

    // tenants are isolated
    assert_eq!(server.tenant("t1").users().len(), 2);
    assert!(server.default_tenant().is_empty());
    let other = Api {
        c: &c,
        base: server.base_url(),
    };
    let (_, l) = other.get("/Users").await;
    assert_eq!(l["totalResults"], 0);

    // request log
    assert!(server.count("POST", Some(201)) >= 3);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.status == Some(409) && r.tenant == "t1")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_is_required() {
    let (server, c) = start(Profile::Rfc).await;
    let r = c
        .get(format!("{}/Users", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = c
        .get(format!("{}/Users", server.base_url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(format!("{}/ServiceProviderConfig", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn patch_paths_the_syncer_uses() {
    let (server, c) = start(Profile::Rfc).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let u1 = api.user("u1", "pw-activate:u1").await;
    let u2 = api.user("u2", "pw-activate:u2").await;
    let (s, u) = api
        .patch(
            &format!("/Users/{u1}"),
            json!([{"op":"add","path":format!("{CW}:sunkSshKeys"),"value":["ssh-ed25519 AAAA k1"]},
                   {"op":"replace","path":"active","value":false},
                   {"op":"replace","path":"displayName","value":"User One"}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u[CW]["sunkSshKeys"], json!(["ssh-ed25519 AAAA k1"]));
    assert_eq!(u["active"], false);
    assert!(u["schemas"].as_array().unwrap().contains(&json!(CW)));
    let (s, e) = api
        .patch(
            &format!("/Users/{u1}"),
            json!([{"op":"replace","path":format!("{CW}:sunkSshKeys"),"value":"k"}]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidValue");

    let (s, g) = api
        .post(
            "/Groups",
            json!({"schemas":[GROUP],"displayName":"eng","members":[{"value":u1}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let (s, g) = api
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op":"add","path":"members","value":[{"value":u2}]}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    let (_, u) = api.get(&format!("/Users/{u2}")).await;
    assert_eq!(u["groups"][0]["value"], gid.as_str());
    let (s, g) = api
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op":"remove","path":format!("members[value eq \"{u1}\"]")}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        g["members"],
        json!([{"value":u2,"type":"User","$ref":format!("{}/Users/{u2}", api.base)}])
    );
    let (_, l) = api.get("/Groups?filter=displayName%20eq%20%22ENG%22").await;
    assert_eq!(l["totalResults"], 1);
    // a list renders each record exactly as GET does (the list has its own fast path)
    for ep in ["Users", "Groups"] {
        let (_, l) = api.get(&format!("/{ep}")).await;
        for r in l["Resources"].as_array().unwrap() {
            let (_, one) = api
                .get(&format!("/{ep}/{}", r["id"].as_str().unwrap()))
                .await;
            assert_eq!(r, &one);
        }
    }
    // RFC profile: member ids need not exist (RFC 7644 has no referential integrity rule)
    let (s, _) = api
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op":"add","path":"members","value":[{"value":"not-yet-created"}]}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn coreweave_profile_rules() {
    let (server, c) = start(Profile::CoreWeave).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let (s, e) = api
        .post("/Groups", json!({"schemas":[GROUP],"displayName":"Admin"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (_, g1) = api
        .post("/Groups", json!({"schemas":[GROUP],"displayName":"a"}))
        .await;
    let (s, _) = api
        .post(
            "/Groups",
            json!({"schemas":[GROUP],"displayName":"b","members":[{"value":g1["id"]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // unknown member ids are refused: whether they are groups cannot be told
    let (s, e) = api
        .post(
            "/Groups",
            json!({"schemas":[GROUP],"displayName":"c","members":[{"value":"nope"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "invalidValue");
    for i in 0..60 {
        api.user(&format!("u{i}"), &format!("pw-activate:{i}"))
            .await;
    }
    let (_, l) = api.get("/Users?count=500").await;
    assert_eq!(l["itemsPerPage"], 50);
    assert_eq!(l["totalResults"], 60);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn seeded_faults() {
    let plan = FaultPlan::new(1)
        .rule(
            FaultRule::new(Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(2)),
            })
            .route(RouteMatch::any().op(Op::List))
            .times(1),
        )
        .rule(
            FaultRule::new(Fault::ResponseLost {
                stall: Duration::from_millis(10),
            })
            .route(RouteMatch::any().op(Op::Create))
            .times(1),
        )
        .rule(
            FaultRule::new(Fault::Unauthorized)
                .route(RouteMatch::any().op(Op::Get))
                .after(1),
        );
    let server = ScimServer::builder()
        .faults(plan)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let base = server.base_url();
    let r = c.get(format!("{base}/Users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "2");
    let r = c.get(format!("{base}/Users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // the create happens but its answer is lost
    let r = c
        .post(format!("{base}/Users"))
        .body(json!({"schemas":[USER],"userName":"lost"}).to_string())
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(server.default_tenant().users().len(), 1);
    let id = server.default_tenant().users()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.get(format!("{base}/Users/{id}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(format!("{base}/Users/{id}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.count("POST", None), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn seeding_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store.json");
    let server = ScimServer::builder()
        .persist(&file)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let t = server.tenant("demo");
    let u = t
        .seed(
            ResourceKind::User,
            json!({"userName":"legacy","externalId":"someone-else"}),
        )
        .unwrap();
    let id = u["id"].as_str().unwrap().to_string();
    server.shutdown().await.unwrap();
    let server = ScimServer::builder()
        .persist(&file)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let users = server.tenant("demo").users();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], id.as_str());
    let r = Client::new()
        .get(format!(
            "{}/Users?filter=userName%20eq%20%22LEGACY%22",
            server.tenant_url("demo")
        ))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["totalResults"], 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn etags_and_preconditions() {
    let (server, c) = start(Profile::Rfc).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let id = api.user("e1", "x:1").await;
    let url = format!("{}/Users/{id}", api.base);
    let r = c.get(&url).bearer_auth("tok").send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""));
    let r = c
        .get(&url)
        .bearer_auth("tok")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let body =
        json!({"schemas":[PATCH],"Operations":[{"op":"replace","path":"active","value":false}]});
    let r = c
        .patch(&url)
        .bearer_auth("tok")
        .header("if-match", "W/\"999\"")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = c
        .patch(&url)
        .bearer_auth("tok")
        .header("if-match", &etag)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let new_etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    // a PATCH that changes nothing keeps the version
    let r = c
        .patch(&url)
        .bearer_auth("tok")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), new_etag);
    let r = c
        .delete(&url)
        .bearer_auth("tok")
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn search_sort_and_projection() {
    let (server, c) = start(Profile::Rfc).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    for n in ["bravo", "Alpha", "charlie"] {
        api.user(n, &format!("pw-activate:{n}")).await;
    }
    let (s, l) = api
        .post(
            "/Users/.search",
            json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter":"externalId sw \"pw-activate:\"","sortBy":"userName","sortOrder":"descending",
                   "attributes":["userName"],"startIndex":1,"count":2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["totalResults"], 3);
    let names: Vec<&str> = l["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["charlie", "bravo"]);
    let first = l["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let (_, l) = api
        .get("/Users?sortBy=userName&excludedAttributes=externalId,meta")
        .await;
    assert_eq!(
        l["Resources"][0]["userName"], "Alpha",
        "sorting is case-insensitive for userName"
    );
    assert!(l["Resources"][0].get("externalId").is_none());
    assert!(l["Resources"][0].get("meta").is_none());
    assert!(l["Resources"][0].get("id").is_some());
    // root search covers both resource types
    api.post("/Groups", json!({"schemas":[GROUP],"displayName":"g"}))
        .await;
    let (_, l) = api
        .post(
            "/.search",
            json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await;
    assert_eq!(l["totalResults"], 4);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn discovery_endpoints() {
    let (server, c) = start(Profile::Rfc).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let (s, spc) = api.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    let (_, rts) = api.get("/ResourceTypes").await;
    assert_eq!(rts["totalResults"], 3);
    let (_, rt) = api.get("/ResourceTypes/User").await;
    assert!(
        rt["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == CW)
    );
    let (_, schemas) = api.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 6);
    let (s, cw) = api.get(&format!("/Schemas/{CW}")).await;
    assert_eq!(s, StatusCode::OK);
    let keys = cw["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sunkSshKeys")
        .unwrap();
    assert_eq!(keys["multiValued"], true);
    assert_eq!(keys["type"], "string");
    assert_eq!(keys["caseExact"], true);
    let (s, _) = api.get("/Schemas/urn:nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn patch_no_content_and_read_only() {
    let server = ScimServer::builder()
        .patch_returns_no_content(true)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let (s, v) = api
        .post(
            "/Users",
            json!({"schemas":[USER],"userName":"ro","id":"client-chosen","meta":{"version":"x"},
                                "groups":[{"value":"g"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_string();
    assert_ne!(id, "client-chosen");
    assert!(v.get("groups").is_none());
    let (s, v) = api
        .patch(
            &format!("/Users/{id}"),
            json!([{"op":"replace","path":"active","value":true}]),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(v, Value::Null);
    let (s, e) = api
        .patch(
            &format!("/Users/{id}"),
            json!([{"op":"replace","path":"id","value":"x"}]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["scimType"], "mutability");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_faults() {
    let plan = FaultPlan::new(3)
        .rule(FaultRule::new(Fault::IgnoreFilter).route(RouteMatch::any().tenant("ignore")))
        .rule(
            FaultRule::new(Fault::ShiftPages { by: -1 })
                .route(RouteMatch::any().tenant("shift").op(Op::List)),
        )
        .rule(
            FaultRule::new(Fault::GarbageJson)
                .route(RouteMatch::any().tenant("garbage").op(Op::List)),
        )
        .rule(
            FaultRule::new(Fault::Status {
                status: 503,
                retry_after: Some(RetryAfter::HttpDate(5)),
            })
            .route(RouteMatch::any().tenant("busy")),
        )
        .rule(FaultRule::new(Fault::DropConnection).route(RouteMatch::any().tenant("drop")))
        .rule(
            FaultRule::new(Fault::Latency(Duration::from_millis(200)))
                .route(RouteMatch::any().tenant("slow")),
        );
    let server = ScimServer::builder()
        .faults(plan)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let c = Client::new();
    for t in ["ignore", "shift"] {
        for i in 0..4 {
            server
                .tenant(t)
                .seed(
                    ResourceKind::User,
                    json!({"userName": format!("u{i}"), "externalId": format!("x:{i}")}),
                )
                .unwrap();
        }
    }
    let get = |url: String| {
        let c = c.clone();
        async move { c.get(url).send().await }
    };
    let v: Value = get(format!(
        "{}/Users?filter=userName%20eq%20%22u1%22",
        server.tenant_url("ignore")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["totalResults"], 4, "the filter is ignored");
    // pages shift back by one record per request: the second page repeats a record
    let p1: Value = get(format!(
        "{}/Users?startIndex=1&count=2",
        server.tenant_url("shift")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let p2: Value = get(format!(
        "{}/Users?startIndex=3&count=2",
        server.tenant_url("shift")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let ids = |p: &Value| {
        p["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(ids(&p2).iter().any(|id| ids(&p1).contains(id)), "{p1} {p2}");
    let r = get(format!("{}/Users", server.tenant_url("garbage")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.is_err());
    let r = get(format!("{}/Users", server.tenant_url("busy")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let date = r.headers()["retry-after"].to_str().unwrap().to_string();
    assert!(httpdate_like(&date), "{date}");
    assert!(
        get(format!("{}/Users", server.tenant_url("drop")))
            .await
            .is_err()
    );
    // graceful shutdown lets an in-flight (slow) request finish
    let slow = tokio::spawn(get(format!("{}/Users", server.tenant_url("slow"))));
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown().await.unwrap();
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
}

fn httpdate_like(s: &str) -> bool {
    s.ends_with(" GMT") && s.len() == 29
}

#[tokio::test]
async fn the_router_serves_without_a_socket_and_mounted_in_another_app() {
    use tower_service::Service;
    let (router, state) = ScimServer::builder()
        .bearer_token(Some("tok"))
        .router("http://example.test/scim")
        .unwrap();
    let mut app = axum::Router::new().nest("/scim", router);
    let request = |method: &str, path: &str, body: Option<Value>| {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", "Bearer tok")
            .header("content-type", "application/scim+json")
            .body(axum::body::Body::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .unwrap()
    };
    let created = app
        .call(request(
            "POST",
            "/scim/t1/v2/Users",
            Some(json!({"schemas": [USER], "userName": "ada"})),
        ))
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = axum::body::to_bytes(created.into_body(), 1 << 20)
        .await
        .unwrap();
    let user: Value = serde_json::from_slice(&body).unwrap();
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        user["meta"]["location"],
        format!("http://example.test/scim/t1/v2/Users/{id}")
    );
    assert_eq!(state.tenant("t1").users().len(), 1);
    assert_eq!(state.requests().len(), 1);
    let listed = app
        .call(request(
            "GET",
            "/scim/t1/v2/Users?filter=userName%20eq%20%22ada%22",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let mut no_token = request("GET", "/scim/t1/v2/Users", None);
    no_token.headers_mut().remove("authorization");
    assert_eq!(
        app.call(no_token).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The `nextCursor` of a list response, if any.
fn next_cursor(v: &Value) -> Option<&str> {
    v.get("nextCursor").and_then(Value::as_str)
}

#[tokio::test]
async fn cursor_paging() {
    let (server, c) = start(Profile::Rfc).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let (_, spc) = api.get("/ServiceProviderConfig").await;
    assert_eq!(spc["pagination"]["cursor"], true);
    assert_eq!(spc["pagination"]["index"], true);
    assert_eq!(spc["pagination"]["defaultPaginationMethod"], "index");
    assert_eq!(spc["pagination"]["maxPageSize"], 1000);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(api.user(&format!("c{i}"), &format!("p:c{i}")).await);
    }
    // the first page: an empty cursor, then each nextCursor until there is none
    let (s, first) = api.get("/Users?cursor=&count=2").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["totalResults"], 5);
    assert_eq!(first["itemsPerPage"], 2);
    assert!(first.get("startIndex").is_none(), "{first}");
    let page_ids = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut read = page_ids(&first);
    let mut cursor = next_cursor(&first).unwrap().to_owned();
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
        "RFC 3986 unreserved characters only: {cursor}"
    );
    // a record removed behind the walk and one created ahead of it shift no page
    let (s, _, _) = api
        .send(reqwest::Method::DELETE, &format!("/Users/{}", ids[0]), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let late = api.user("c9", "p:c9").await;
    loop {
        let (s, page) = api.get(&format!("/Users?count=2&cursor={cursor}")).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        read.extend(page_ids(&page));
        match next_cursor(&page) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.push(late);
    assert_eq!(read, expected, "every record once, in creation order");
    // a filtered walk, and the same walk through /.search
    let (_, f) = api
        .get("/Users?filter=userName%20sw%20%22c%22&cursor&count=3")
        .await;
    assert_eq!(page_ids(&f), expected[1..4]);
    let next = next_cursor(&f).unwrap().to_owned();
    let (s, rest) = api
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName sw \"c\"", "cursor": next, "count": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rest}");
    assert_eq!(page_ids(&rest), expected[4..]);
    assert!(next_cursor(&rest).is_none());
    // what cannot be a cursor walk
    for (query, scim_type) in [
        ("cursor=nonsense", "invalidCursor"),
        ("cursor=uffffffff", "invalidCursor"), // never issued
        ("cursor=g1", "invalidCursor"),        // a Groups cursor
        ("cursor=&count=0", "invalidCount"),
        ("cursor=&startIndex=1", "invalidValue"),
        ("cursor=&sortBy=userName", "invalidValue"),
    ] {
        let (s, e) = api.get(&format!("/Users?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["scimType"], scim_type, "{query}: {e}");
    }
    server.shutdown().await.unwrap();

    // the CoreWeave stand-in neither advertises nor serves cursors: `cursor` is ignored
    let (server, c) = start(Profile::CoreWeave).await;
    let api = Api {
        c: &c,
        base: server.base_url(),
    };
    let (_, spc) = api.get("/ServiceProviderConfig").await;
    assert!(spc.get("pagination").is_none(), "{spc}");
    for i in 0..3 {
        api.user(&format!("c{i}"), &format!("p:c{i}")).await;
    }
    let (s, page) = api.get("/Users?cursor=&count=2").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["startIndex"], 1);
    assert!(next_cursor(&page).is_none());
    server.shutdown().await.unwrap();
}
