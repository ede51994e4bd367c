//! ACTIVATE served by wiremock on loopback, from a mutable model of an organization, so a
//! test can change the org between two runs of the binary.

use std::sync::{Arc, Mutex};

use scim_diff::SourceSnapshot;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The organization's name in every URL.
pub(crate) const ORG: &str = "acme";

/// One ACTIVATE user.
#[derive(Debug, Clone)]
pub(crate) struct FakeUser {
    pub(crate) username: String,
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) active: bool,
    /// The `authorized_keys` lines served for the user.
    pub(crate) keys: Vec<String>,
}

/// One ACTIVATE group.
#[derive(Debug, Clone)]
pub(crate) struct FakeGroup {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) members: Vec<String>,
}

/// The organization the fake serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Org {
    pub(crate) users: Vec<FakeUser>,
    pub(crate) groups: Vec<FakeGroup>,
    /// Answer the group list with this status (a source outage).
    pub(crate) fail_groups: Option<u16>,
}

impl Org {
    /// The sample organization of `examples/sample-org.json`.
    pub(crate) fn sample() -> Org {
        let text =
            std::fs::read_to_string(crate::support::repo_root().join("examples/sample-org.json"))
                .expect("the sample org exists");
        let snap = SourceSnapshot::from_json(&text).expect("the sample org parses");
        Org {
            users: snap
                .users
                .into_iter()
                .map(|u| FakeUser {
                    username: u.username,
                    email: u.email,
                    name: u.name,
                    active: u.active,
                    keys: u.ssh_keys.unwrap_or_default(),
                })
                .collect(),
            groups: snap
                .groups
                .into_iter()
                .map(|g| FakeGroup {
                    id: g.id,
                    name: g.name,
                    members: g.members,
                })
                .collect(),
            fail_groups: None,
        }
    }

    pub(crate) fn user_mut(&mut self, username: &str) -> &mut FakeUser {
        self.users
            .iter_mut()
            .find(|u| u.username == username)
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    pub(crate) fn group_mut(&mut self, name: &str) -> &mut FakeGroup {
        self.groups
            .iter_mut()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no group {name}"))
    }

    /// Removes a user from the org and from every group.
    pub(crate) fn remove_user(&mut self, username: &str) -> FakeUser {
        let i = self
            .users
            .iter()
            .position(|u| u.username == username)
            .unwrap_or_else(|| panic!("no user {username}"));
        for g in &mut self.groups {
            g.members.retain(|m| m != username);
        }
        self.users.remove(i)
    }

    /// Removes every user but these (most of the organization leaving at once).
    pub(crate) fn keep_only(&mut self, keep: &[&str]) {
        let gone: Vec<String> = self
            .users
            .iter()
            .filter(|u| !keep.contains(&u.username.as_str()))
            .map(|u| u.username.clone())
            .collect();
        for u in gone {
            self.remove_user(&u);
        }
    }

    /// Usernames of the members of a group.
    pub(crate) fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .iter()
            .find(|g| g.name == group)
            .map(|g| g.members.clone())
            .unwrap_or_default()
    }
}

/// The running fake.
pub(crate) struct FakeActivate {
    pub(crate) server: MockServer,
    org: Arc<Mutex<Org>>,
}

impl FakeActivate {
    pub(crate) async fn start(org: Org) -> FakeActivate {
        let server = MockServer::start().await;
        let org = Arc::new(Mutex::new(org));
        Mock::given(any())
            .respond_with(Responder(Arc::clone(&org)))
            .mount(&server)
            .await;
        FakeActivate { server, org }
    }

    /// Changes the organization for the next run.
    pub(crate) fn edit(&self, f: impl FnOnce(&mut Org)) {
        f(&mut self.org.lock().unwrap());
    }

    pub(crate) fn org(&self) -> Org {
        self.org.lock().unwrap().clone()
    }

    pub(crate) fn url(&self) -> String {
        self.server.uri()
    }
}

struct Responder(Arc<Mutex<Org>>);

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .expect("utf-8 path")
        .into_owned()
}

fn object_id(kind: u8, i: usize) -> String {
    format!("{kind:02x}{i:022x}")
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let org = self.0.lock().unwrap();
        let segs: Vec<String> = req
            .url
            .path_segments()
            .map(|s| s.map(decode).collect())
            .unwrap_or_default();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let query = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        match segs.as_slice() {
            ["api", "auth", "whoami", "organization"] => {
                ResponseTemplate::new(200).set_body_json(ORG)
            }
            ["api", "organizations", ORG, "users"] => {
                let skip = query("skip").unwrap_or(0);
                let limit = query("limit").unwrap_or(50);
                let page: Vec<Value> = org
                    .users
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .take(limit)
                    .map(|(i, u)| {
                        json!({
                            "id": object_id(1, i), "username": u.username, "email": u.email,
                            "name": u.name, "active": u.active, "admin": false,
                            "billingAdmin": false, "complimentary": false,
                            "licenseStatus": if u.active { "active" } else { "inactive" },
                        })
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": org.users.len(), "users": page}))
            }
            ["api", "organizations", ORG, "groups"] => {
                if let Some(status) = org.fail_groups {
                    return ResponseTemplate::new(status)
                        .set_body_json(json!({"error": true, "message": "unavailable"}));
                }
                let groups: Vec<Value> = org
                    .groups
                    .iter()
                    .map(|g| {
                        json!({"id": g.id, "name": g.name, "members": g.members.len(),
                               "organization": ORG, "roles": ["org:users"]})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(groups)
            }
            ["api", "organizations", ORG, "groups", name, "members"] => {
                match org.groups.iter().find(|g| g.name == *name) {
                    Some(g) => {
                        let members: Vec<Value> = g
                            .members
                            .iter()
                            .map(|m| {
                                let (i, u) = org
                                    .users
                                    .iter()
                                    .enumerate()
                                    .find(|(_, u)| &u.username == m)
                                    .expect("members are users");
                                json!({"id": object_id(1, i), "username": u.username,
                                       "email": u.email.clone().unwrap_or_default()})
                            })
                            .collect();
                        ResponseTemplate::new(200).set_body_json(members)
                    }
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"error": true, "message": "group not found"})),
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
