//! The load generator: the requests a syncer run sends, sent by a plain reqwest client,
//! unordered, a fixed number in flight, to the same server. What it takes is the ceiling the
//! syncer is compared with.
//!
//! Requests run unordered, `in_flight` at a time, as the syncer's apply runs them: a slow
//! request holds one lane, not all of them. (An ordered buffer let one stalled request hold
//! up the seven behind it; against scim2-server, whose 5-deep listen backlog drops a burst of
//! connects and so delays one of them by the 1 s SYN retransmit, that made the "ceiling" a
//! tenth of the syncer's own rate.)

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::org::{Org, user_body};

/// Members named by one member PATCH.
const PER_PATCH: usize = 20;

/// Creates every user and group of `org` at `base` (users first, then groups), then sends
/// `patches` member PATCHes of 20 ids each: the kinds and numbers of writes of an initial
/// sync, with bodies of the same shape. With `patches == 0` the groups are created with
/// their members (as a syncer does that creates a group in one write). Returns the time the
/// writes took.
pub(crate) async fn create_all(
    base: &str,
    token: &str,
    org: &Org,
    patches: u64,
    in_flight: usize,
) -> Duration {
    let in_flight = in_flight.max(1);
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let post = |url: String, body: Value| {
        let request = http
            .post(url)
            .header("authorization", &auth)
            .header("content-type", "application/scim+json")
            .json(&body);
        async move {
            let r = request.send().await.expect("create");
            assert!(r.status().is_success(), "create answered {}", r.status());
            let v: Value = r.json().await.expect("created resource");
            v["id"].as_str().unwrap_or_default().to_string()
        }
    };
    let start = Instant::now();
    let ids: Vec<String> = futures_util::stream::iter(&org.users)
        .map(|u| post(format!("{base}/Users"), user_body(u)))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let groups: Vec<String> = futures_util::stream::iter(org.groups.iter().enumerate())
        .map(|(i, g)| {
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": g.name,
                "externalId": format!("pw-activate:group:{}", g.id),
            });
            if patches == 0 && !ids.is_empty() {
                body["members"] = members(&ids, i, g.members.len());
            }
            post(format!("{base}/Groups"), body)
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    futures_util::stream::iter(0..patches as usize)
        .map(|i| {
            let group = &groups[i % groups.len().max(1)];
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": members(&ids, i, PER_PATCH)}],
            });
            let request = http
                .patch(format!("{base}/Groups/{group}"))
                .header("authorization", &auth)
                .header("content-type", "application/scim+json")
                .json(&body);
            async move {
                let r = request.send().await.expect("patch members");
                assert!(r.status().is_success(), "PATCH answered {}", r.status());
                r.bytes().await.expect("PATCH answer");
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
    start.elapsed()
}

/// `n` member references for the `i`-th group or PATCH, taken round-robin from `ids`.
fn members(ids: &[String], i: usize, n: usize) -> Value {
    (0..n)
        .map(|k| json!({"value": ids[(i * PER_PATCH + k) % ids.len()]}))
        .collect()
}

/// One request to send again.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    /// `GET` or `PATCH`.
    pub(crate) method: &'static str,
    /// The whole URL, query included.
    pub(crate) url: String,
    /// The JSON body (PATCH).
    pub(crate) body: Option<Value>,
}

impl Replay {
    pub(crate) fn get(url: String) -> Self {
        Self {
            method: "GET",
            url,
            body: None,
        }
    }
}

/// Sends `requests` unordered, `in_flight` at a time, with `auth` (an `Authorization`
/// value) if given; returns the time they took. Every answer must be a success.
pub(crate) async fn replay(
    http: &reqwest::Client,
    requests: Vec<Replay>,
    auth: Option<&str>,
    in_flight: usize,
) -> Duration {
    let start = Instant::now();
    futures_util::stream::iter(requests)
        .map(|r| {
            let mut request = match r.method {
                "PATCH" => http
                    .patch(&r.url)
                    .header("content-type", "application/scim+json"),
                _ => http.get(&r.url),
            };
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            if let Some(body) = &r.body {
                request = request.json(body);
            }
            async move {
                let answer = request.send().await.expect("replayed request");
                let status = answer.status();
                answer.bytes().await.expect("replayed answer");
                assert!(
                    status.is_success(),
                    "{} {} answered {status}",
                    r.method,
                    r.url
                );
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<()>>()
        .await;
    start.elapsed()
}
