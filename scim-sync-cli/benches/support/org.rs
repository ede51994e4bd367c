//! A generated ACTIVATE organization, its churn, and its forms: the export file, the SCIM
//! bodies a syncer creates from it.

use std::path::Path;

use serde_json::{Value, json};

/// A generated organization: `n` users with two ed25519 keys each, `n / 10` groups of about
/// 20 members each.
#[derive(Clone)]
pub(crate) struct Org {
    pub(crate) users: Vec<User>,
    pub(crate) groups: Vec<Group>,
}

#[derive(Clone)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) keys: Vec<String>,
}

#[derive(Clone)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) members: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Changes {
    pub(crate) keys: usize,
    pub(crate) names: usize,
    pub(crate) removed: usize,
    pub(crate) moved: usize,
}

impl Changes {
    pub(crate) fn total(&self) -> usize {
        self.keys + self.names + self.removed + self.moved
    }
}

pub(crate) fn ed25519_line(rng: &mut fastrand::Rng, comment: &str) -> String {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let key = ssh_key::PublicKey::new(
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(bytes)),
        comment,
    );
    key.to_openssh().expect("openssh encoding")
}

impl Org {
    pub(crate) fn generate(n: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let users: Vec<User> = (0..n)
            .map(|i| {
                let username = format!("user{i:07}");
                User {
                    email: format!("{username}@example.com"),
                    name: format!("Given{i} Family{}", i % 977),
                    keys: vec![
                        ed25519_line(&mut rng, &format!("{username}@laptop")),
                        ed25519_line(&mut rng, &format!("{username}@desktop")),
                    ],
                    username,
                }
            })
            .collect();
        let group_count = (n / 10).max(1);
        let groups = (0..group_count)
            .map(|g| Group {
                id: format!("g{g:06}"),
                name: format!("team {g}"),
                members: (0..20)
                    .map(|_| users[rng.usize(..n)].username.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            })
            .collect();
        Self { users, groups }
    }

    /// Changes a `fraction` of users: new key, new name, removal, or a move to another group.
    pub(crate) fn churn(&mut self, fraction: f64, seed: u64) -> Changes {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut changes = Changes::default();
        let n = self.users.len();
        let count = ((n as f64) * fraction).round() as usize;
        let mut picked: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut picked);
        let mut removed = std::collections::HashSet::new();
        for (k, &i) in picked.iter().take(count).enumerate() {
            match k % 4 {
                0 => {
                    let user = &mut self.users[i];
                    user.keys[1] = ed25519_line(&mut rng, "rotated");
                    changes.keys += 1;
                }
                1 => {
                    self.users[i].name.push_str(" Jr");
                    changes.names += 1;
                }
                2 => {
                    removed.insert(self.users[i].username.clone());
                    changes.removed += 1;
                }
                _ => {
                    let username = self.users[i].username.clone();
                    let groups = self.groups.len();
                    if let Some(from) = self
                        .groups
                        .iter()
                        .position(|g| g.members.contains(&username))
                    {
                        self.groups[from].members.retain(|m| *m != username);
                        let to = (from + 1 + rng.usize(..groups.max(2) - 1)) % groups;
                        if !self.groups[to].members.contains(&username) {
                            self.groups[to].members.push(username);
                        }
                    } else {
                        self.groups[rng.usize(..groups)].members.push(username);
                    }
                    changes.moved += 1;
                }
            }
        }
        self.users.retain(|u| !removed.contains(&u.username));
        for g in &mut self.groups {
            g.members.retain(|m| !removed.contains(m));
        }
        changes
    }

    pub(crate) fn write(&self, path: &Path) {
        let doc = json!({
            "version": 1,
            "organization": "bench",
            "users": self.users.iter().map(|u| json!({
                "username": u.username,
                "email": u.email,
                "name": u.name,
                "active": true,
                "sshKeys": u.keys,
            })).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(|g| json!({
                "id": g.id,
                "name": g.name,
                "members": g.members,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec(&doc).expect("json")).expect("write export");
    }
}
pub(crate) fn user_body(u: &User) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser"
        ],
        "userName": u.email,
        "externalId": format!("pw-activate:user:{}", u.username),
        "displayName": u.name,
        "name": {"formatted": u.name},
        "emails": [{"value": u.email, "type": "work", "primary": true}],
        "active": true,
        "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser": {
            "sunkSshKeys": u.keys,
        },
    })
}
