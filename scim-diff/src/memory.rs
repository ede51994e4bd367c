//! [`MemoryTarget`]: an in-memory SCIM target, the oracle of the property tests (and of the
//! CLI's tests). It enforces what a strict server enforces: unique `userName` and group
//! `displayName` (case-insensitive), unique `externalId`, members that exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::apply::{Target, TargetError, TargetErrorKind};
use crate::observed::{ObservedGroup, ObservedState, ObservedUser};
use crate::plan::UserChanges;
use crate::projection::DesiredUser;

/// One write the target accepted or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    /// Which [`Target`] method.
    pub method: &'static str,
    /// The SCIM id written (for creates: the id assigned, or the `externalId` when refused).
    pub id: String,
    /// Whether the write changed the state.
    pub applied: bool,
}

/// A fault to inject, matched by SCIM id or `externalId` of the record written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every write to the record fails with this kind (nothing changes).
    Fail(TargetErrorKind),
    /// The first create of the record happens but answers "outcome unknown".
    LoseCreateAnswer,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, ObservedUser>,
    groups: BTreeMap<String, ObservedGroup>,
    next_id: u64,
    writes: Vec<WriteRecord>,
    faults: HashMap<String, Fault>,
}

/// An in-memory [`Target`] holding an [`ObservedState`].
#[derive(Debug, Default)]
pub struct MemoryTarget {
    state: Mutex<State>,
}

impl MemoryTarget {
    /// A target holding `initial` (records with or without the managed prefix).
    pub fn new(initial: ObservedState) -> Self {
        let mut s = State::default();
        for u in initial.users {
            s.users.insert(u.id.clone(), u);
        }
        for g in initial.groups {
            s.groups.insert(g.id.clone(), g);
        }
        Self {
            state: Mutex::new(s),
        }
    }

    /// Injects a fault for writes to the record with this SCIM id or `externalId`.
    pub fn inject(&self, key: impl Into<String>, fault: Fault) {
        self.lock().faults.insert(key.into(), fault);
    }

    /// What the target holds now (users and groups in SCIM id order).
    pub fn state(&self) -> ObservedState {
        let s = self.lock();
        ObservedState {
            users: s.users.values().cloned().collect(),
            groups: s.groups.values().cloned().collect(),
        }
    }

    /// Every write attempted so far, in order.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.lock().writes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory target lock")
    }
}

impl State {
    fn fault(&mut self, keys: &[&str]) -> Option<Fault> {
        keys.iter().find_map(|k| self.faults.get(*k).copied())
    }

    fn fail_if_faulty(&mut self, method: &'static str, id: &str) -> Result<(), TargetError> {
        let ext = self
            .users
            .get(id)
            .and_then(|u| u.external_id.clone())
            .or_else(|| self.groups.get(id).and_then(|g| g.external_id.clone()))
            .unwrap_or_default();
        if let Some(Fault::Fail(kind)) = self.fault(&[id, &ext]) {
            self.log(method, id, false);
            return Err(TargetError {
                kind,
                message: format!("injected fault on {id}"),
            });
        }
        Ok(())
    }

    fn log(&mut self, method: &'static str, id: &str, applied: bool) {
        self.writes.push(WriteRecord {
            method,
            id: id.to_owned(),
            applied,
        });
    }

    fn user_name_taken(&self, name: &str, except: Option<&str>) -> bool {
        let lower = name.to_lowercase();
        self.users
            .values()
            .any(|u| Some(u.id.as_str()) != except && u.user_name.to_lowercase() == lower)
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:06}", self.next_id)
    }

    fn user(&mut self, method: &'static str, id: &str) -> Result<&mut ObservedUser, TargetError> {
        if !self.users.contains_key(id) {
            self.log(method, id, false);
            return Err(TargetError::other(format!("user {id} not found")));
        }
        Ok(self.users.get_mut(id).expect("checked"))
    }
}

#[async_trait::async_trait]
impl Target for MemoryTarget {
    async fn create_user(&self, user: &DesiredUser) -> Result<String, TargetError> {
        let mut s = self.lock();
        let fault = s.fault(&[&user.external_id]);
        if let Some(Fault::Fail(kind)) = fault {
            s.log("create_user", &user.external_id, false);
            return Err(TargetError {
                kind,
                message: format!("injected fault on {}", user.external_id),
            });
        }
        if s.user_name_taken(&user.user_name, None)
            || s.users
                .values()
                .any(|u| u.external_id.as_deref() == Some(user.external_id.as_str()))
        {
            s.log("create_user", &user.external_id, false);
            return Err(TargetError::other(format!(
                "uniqueness: userName {:?} or externalId {} exists",
                user.user_name, user.external_id
            )));
        }
        let id = s.new_id("u");
        s.users.insert(
            id.clone(),
            ObservedUser {
                id: id.clone(),
                version: None,
                external_id: Some(user.external_id.clone()),
                user_name: user.user_name.clone(),
                display_name: Some(user.display_name.clone()),
                name: user.name.clone(),
                emails: user.emails.clone(),
                active: true,
                ssh_keys: user.ssh_keys.clone().unwrap_or_default(),
            },
        );
        s.log("create_user", &id, true);
        if fault == Some(Fault::LoseCreateAnswer) {
            s.faults.remove(&user.external_id);
            return Err(TargetError::outcome_unknown("connection reset after POST"));
        }
        Ok(id)
    }

    async fn update_user(&self, id: &str, changes: &UserChanges) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.fail_if_faulty("update_user", id)?;
        if let Some(n) = &changes.user_name
            && s.user_name_taken(n, Some(id))
        {
            s.log("update_user", id, false);
            return Err(TargetError::other(format!(
                "uniqueness: userName {n:?} exists"
            )));
        }
        let u = s.user("update_user", id)?;
        if let Some(v) = &changes.user_name {
            u.user_name = v.clone();
        }
        if let Some(v) = &changes.display_name {
            u.display_name = Some(v.clone());
        }
        if let Some(v) = &changes.name {
            u.name = v.clone();
        }
        if let Some(v) = &changes.emails {
            u.emails = v.clone();
        }
        if let Some(v) = &changes.ssh_keys {
            u.ssh_keys = v.clone();
        }
        s.log("update_user", id, true);
        Ok(())
    }

    async fn adopt_user(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        changes: &UserChanges,
    ) -> Result<(), TargetError> {
        {
            let mut s = self.lock();
            s.fail_if_faulty("adopt_user", id)?;
            let now = s.user("adopt_user", id)?.external_id.clone();
            if now.as_deref() != previous {
                s.log("adopt_user", id, false);
                return Err(TargetError::other(format!(
                    "not adopted: its externalId is now {now:?}, not {previous:?}"
                )));
            }
            if s.users
                .values()
                .any(|u| u.id != id && u.external_id.as_deref() == Some(external_id))
            {
                s.log("adopt_user", id, false);
                return Err(TargetError::other(format!(
                    "uniqueness: externalId {external_id:?} exists"
                )));
            }
        }
        self.update_user(id, changes).await?;
        let mut s = self.lock();
        let u = s.user("adopt_user", id)?;
        u.external_id = Some(external_id.to_owned());
        u.active = true;
        s.log("adopt_user", id, true);
        Ok(())
    }

    async fn adopt_group(
        &self,
        id: &str,
        previous: Option<&str>,
        external_id: &str,
        display_name: &str,
    ) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.fail_if_faulty("adopt_group", id)?;
        let Some(now) = s.groups.get(id).map(|g| g.external_id.clone()) else {
            s.log("adopt_group", id, false);
            return Err(TargetError::other(format!("group {id} not found")));
        };
        let taken = s.groups.values().any(|g| {
            g.id != id
                && (g.external_id.as_deref() == Some(external_id)
                    || g.display_name.to_lowercase() == display_name.to_lowercase())
        });
        if now.as_deref() != previous || taken {
            s.log("adopt_group", id, false);
            return Err(TargetError::other(format!(
                "not adopted: its externalId is now {now:?}, not {previous:?}, or the name or \
                 externalId is taken"
            )));
        }
        let g = s.groups.get_mut(id).expect("checked above");
        g.external_id = Some(external_id.to_owned());
        g.display_name = display_name.to_owned();
        s.log("adopt_group", id, true);
        Ok(())
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.fail_if_faulty("set_active", id)?;
        s.user("set_active", id)?.active = active;
        s.log("set_active", id, true);
        Ok(())
    }

    async fn create_group(
        &self,
        external_id: &str,
        display_name: &str,
        members: &[String],
    ) -> Result<String, TargetError> {
        let mut s = self.lock();
        let fault = s.fault(&[external_id]);
        if let Some(Fault::Fail(kind)) = fault {
            s.log("create_group", external_id, false);
            return Err(TargetError {
                kind,
                message: format!("injected fault on {external_id}"),
            });
        }
        let lower = display_name.to_lowercase();
        if s.groups.values().any(|g| {
            g.display_name.to_lowercase() == lower || g.external_id.as_deref() == Some(external_id)
        }) {
            s.log("create_group", external_id, false);
            return Err(TargetError::other(format!(
                "uniqueness: group {display_name:?} or externalId {external_id} exists"
            )));
        }
        if let Some(missing) = members.iter().find(|m| !s.users.contains_key(*m)) {
            let msg = format!("noTarget: member {missing} is not a user");
            s.log("create_group", external_id, false);
            return Err(TargetError::other(msg));
        }
        let mut unique: Vec<String> = Vec::with_capacity(members.len());
        for m in members {
            if !unique.contains(m) {
                unique.push(m.clone());
            }
        }
        let id = s.new_id("g");
        s.groups.insert(
            id.clone(),
            ObservedGroup {
                id: id.clone(),
                version: None,
                external_id: Some(external_id.to_owned()),
                display_name: display_name.to_owned(),
                members: unique,
            },
        );
        s.log("create_group", &id, true);
        if fault == Some(Fault::LoseCreateAnswer) {
            s.faults.remove(external_id);
            return Err(TargetError::outcome_unknown("connection reset after POST"));
        }
        Ok(id)
    }

    async fn rename_group(&self, id: &str, display_name: &str) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.fail_if_faulty("rename_group", id)?;
        let lower = display_name.to_lowercase();
        if s.groups
            .values()
            .any(|g| g.id != id && g.display_name.to_lowercase() == lower)
        {
            s.log("rename_group", id, false);
            return Err(TargetError::other(format!(
                "uniqueness: group {display_name:?} exists"
            )));
        }
        match s.groups.get_mut(id) {
            Some(g) => g.display_name = display_name.to_owned(),
            None => {
                s.log("rename_group", id, false);
                return Err(TargetError::other(format!("group {id} not found")));
            }
        }
        s.log("rename_group", id, true);
        Ok(())
    }

    async fn update_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.fail_if_faulty("update_members", group_id)?;
        if let Some(missing) = add.iter().find(|m| !s.users.contains_key(*m)) {
            let msg = format!("noTarget: member {missing} is not a user");
            s.log("update_members", group_id, false);
            return Err(TargetError::other(msg));
        }
        let Some(g) = s.groups.get_mut(group_id) else {
            s.log("update_members", group_id, false);
            return Err(TargetError::other(format!("group {group_id} not found")));
        };
        g.members.retain(|m| !remove.contains(m));
        for a in add {
            if !g.members.contains(a) {
                g.members.push(a.clone());
            }
        }
        s.log("update_members", group_id, true);
        Ok(())
    }

    async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError> {
        let s = self.lock();
        Ok(s.users
            .values()
            .find(|u| u.external_id.as_deref() == Some(external_id))
            .map(|u| u.id.clone()))
    }

    async fn find_group_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<String>, TargetError> {
        let s = self.lock();
        Ok(s.groups
            .values()
            .find(|g| g.external_id.as_deref() == Some(external_id))
            .map(|g| g.id.clone()))
    }
}
