//! ACTIVATE on wiremock: serves an [`Org`] and misbehaves on demand ([`SourceFault`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::Org;

/// The organization's name.
pub const ORG_NAME: &str = "acme";
/// An API key whose host part is `127.0.0.1` (ACTIVATE_API_URL points at the fake anyway).
pub const API_KEY: &str = "pwt_MTI3LjAuMC4x.rel-activate-secret-51d2e0";

/// How the fake misbehaves.
#[derive(Debug, Clone, Default)]
pub enum SourceFault {
    /// Serve normally.
    #[default]
    None,
    /// Every users page answers this status.
    UsersStatus(u16),
    /// The members of this group answer after this long.
    SlowMembers(String, Duration),
    /// The group list is truncated JSON.
    MalformedGroups,
    /// The users list is a proxy's HTML error page (502).
    HtmlUsers,
    /// The users list is empty.
    NoUsers,
    /// Only the first `n` users are served (the rest vanished), and groups lose them too.
    KeepUsers(usize),
    /// Every error answer echoes the request's Authorization header.
    EchoAuthorization(u16),
}

/// The running fake.
pub struct FakeActivate {
    pub server: MockServer,
    state: Arc<Mutex<(Org, SourceFault)>>,
}

impl FakeActivate {
    /// Starts serving `org`.
    pub async fn start(org: Org) -> FakeActivate {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new((org, SourceFault::None)));
        Mock::given(any())
            .respond_with(Responder(Arc::clone(&state)))
            .mount(&server)
            .await;
        FakeActivate { server, state }
    }
    /// Sets the fault for the next requests.
    pub fn fault(&self, f: SourceFault) {
        self.state.lock().unwrap().1 = f;
    }
    /// The base URL.
    pub fn url(&self) -> String {
        self.server.uri()
    }
    /// Requests received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
    /// The environment pointing the binary at this fake and at `scim_base`.
    pub fn env(&self, scim_base: &str) -> Vec<(String, String)> {
        vec![
            ("ACTIVATE_API_KEY".into(), API_KEY.into()),
            ("ACTIVATE_API_URL".into(), self.url()),
            ("ACTIVATE_ORG_NAME".into(), ORG_NAME.into()),
            ("CW_SCIM_BASE_URL".into(), scim_base.into()),
            ("CW_SCIM_BEARER_TOKEN".into(), super::TOKEN.into()),
            ("SYNC_NO_DYNAMIC_SETTINGS".into(), "true".into()),
            ("LOG_FORMAT".into(), "json".into()),
            ("SCIM_PAGE_SIZE".into(), "10".into()),
        ]
    }
}

struct Responder(Arc<Mutex<(Org, SourceFault)>>);

fn object_id(i: usize) -> String {
    format!("{:024x}", i + 1)
}

fn error(status: u16, req: &Request, fault: &SourceFault) -> ResponseTemplate {
    let mut body = json!({"error": true, "message": "unavailable"});
    if let SourceFault::EchoAuthorization(_) = fault {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        body["message"] = json!(format!("bad request; you sent Authorization: {auth}"));
        body["headers"] = json!({"authorization": auth});
    }
    ResponseTemplate::new(status).set_body_json(body)
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let (org, fault) = self.0.lock().unwrap().clone();
        let segs: Vec<String> = req
            .url
            .path_segments()
            .map(|s| s.map(percent_decode).collect())
            .unwrap_or_default();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let q = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        if let SourceFault::EchoAuthorization(status) = fault {
            return error(status, req, &fault);
        }
        let users: Vec<_> = match fault {
            SourceFault::NoUsers => vec![],
            SourceFault::KeepUsers(n) => org.users.iter().take(n).cloned().collect(),
            _ => org.users.clone(),
        };
        match segs.as_slice() {
            ["api", "auth", "whoami", "organization"] => {
                ResponseTemplate::new(200).set_body_json(ORG_NAME)
            }
            ["api", "organizations", ORG_NAME, "users"] => {
                match fault {
                    SourceFault::UsersStatus(s) => return error(s, req, &fault),
                    SourceFault::HtmlUsers => {
                        return ResponseTemplate::new(502)
                            .insert_header("content-type", "text/html")
                            .set_body_string(
                                "<html><head><title>502 Bad Gateway</title></head><body>\
                                 <center><h1>502 Bad Gateway</h1></center><hr>\
                                 <center>nginx</center></body></html>",
                            );
                    }
                    _ => {}
                }
                let skip = q("skip").unwrap_or(0);
                let limit = q("limit").unwrap_or(50);
                let page: Vec<Value> = users
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .take(limit)
                    .map(|(i, u)| {
                        json!({"id": object_id(i), "username": u.username, "email": u.email,
                               "name": u.name, "active": u.active, "admin": false,
                               "billingAdmin": false, "complimentary": false,
                               "licenseStatus": if u.active { "active" } else { "inactive" }})
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": users.len(), "users": page}))
            }
            ["api", "organizations", ORG_NAME, "groups"] => {
                if let SourceFault::MalformedGroups = fault {
                    return ResponseTemplate::new(200)
                        .insert_header("content-type", "application/json")
                        .set_body_string("[{\"id\": \"g00\", \"name\": \"team-00\", \"memb");
                }
                let groups: Vec<Value> = org
                    .groups
                    .iter()
                    .map(|g| {
                        json!({"id": g.id, "name": g.name, "members": g.members.len(),
                                    "organization": ORG_NAME, "roles": ["org:users"]})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(groups)
            }
            ["api", "organizations", ORG_NAME, "groups", name, "members"] => {
                let Some(g) = org.groups.iter().find(|g| g.name == *name) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"error": true, "message": "group not found"}));
                };
                let members: Vec<Value> = g
                    .members
                    .iter()
                    .filter_map(|m| users.iter().enumerate().find(|(_, u)| &u.username == m))
                    .map(|(i, u)| {
                        json!({"id": object_id(i), "username": u.username,
                                          "email": u.email.clone().unwrap_or_default()})
                    })
                    .collect();
                let t = ResponseTemplate::new(200).set_body_json(members);
                match fault {
                    SourceFault::SlowMembers(slow, d) if slow == *name => t.set_delay(d),
                    _ => t,
                }
            }
            ["api", "users", username, "ssh-public-keys"] => {
                match org.users.iter().find(|u| u.username == *username) {
                    Some(u) => ResponseTemplate::new(200)
                        .insert_header("content-type", "text/plain")
                        .set_body_string(u.keys.join("\n")),
                    None => ResponseTemplate::new(404),
                }
            }
            _ => ResponseTemplate::new(404)
                .set_body_json(json!({"error": true, "message": "no route"})),
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
