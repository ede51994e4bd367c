//! Builders shared by the integration tests.

use scim_diff::{
    ObservedGroup, ObservedState, ObservedUser, SourceGroup, SourceSnapshot, SourceUser,
};

/// A valid ed25519 OpenSSH line built from a seed byte (optionally with a comment).
pub fn key(seed: u8, comment: &str) -> String {
    let data = ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey([seed; 32]));
    ssh_key::PublicKey::new(data, comment).to_openssh().unwrap()
}

pub fn su(username: &str) -> SourceUser {
    SourceUser {
        username: username.into(),
        email: Some(format!("{}@example.org", username.to_lowercase())),
        name: None,
        active: true,
        ssh_keys: None,
    }
}

pub fn sg(id: &str, name: &str, members: &[&str]) -> SourceGroup {
    SourceGroup {
        id: id.into(),
        name: name.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

pub fn snapshot(users: Vec<SourceUser>, groups: Vec<SourceGroup>) -> SourceSnapshot {
    SourceSnapshot {
        version: 1,
        organization: None,
        users,
        groups,
    }
}

/// A managed observed user matching `su(username)` exactly (display name = username).
pub fn ou(id: &str, username: &str) -> ObservedUser {
    ObservedUser {
        id: id.into(),
        version: None,
        external_id: Some(format!("pw-activate:user:{}", username.to_lowercase())),
        user_name: format!("{}@example.org", username.to_lowercase()),
        display_name: Some(username.into()),
        name: Default::default(),
        emails: vec![format!("{}@example.org", username.to_lowercase())],
        active: true,
        ssh_keys: vec![],
    }
}

pub fn og(id: &str, group_id: &str, name: &str, members: &[&str]) -> ObservedGroup {
    ObservedGroup {
        id: id.into(),
        version: None,
        external_id: Some(format!("pw-activate:group:{group_id}")),
        display_name: name.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

pub fn observed(users: Vec<ObservedUser>, groups: Vec<ObservedGroup>) -> ObservedState {
    ObservedState { users, groups }
}

struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor for the tests (scim-diff depends on no runtime).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker: std::task::Waker = std::sync::Arc::new(ThreadWaker(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => return v,
            std::task::Poll::Pending => std::thread::park(),
        }
    }
}

/// A future that is pending once (waking itself), so concurrent futures interleave.
pub struct YieldOnce(pub bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}
