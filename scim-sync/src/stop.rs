//! Stopping a run from outside: a [`StopHandle`] raised by a signal handler (or any other
//! part of an embedding program), and the run's deadline. Both stop the issuing of new
//! writes (writes in flight finish); before the first write, they end the run with nothing
//! written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A shared stop flag, and the run's deadline. Cheap to clone; clones share the flag.
#[derive(Clone, Debug)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
    deadline: Option<Instant>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self::new(None)
    }
}

impl StopHandle {
    /// A handle for a run that starts now, with an optional deadline from now.
    pub fn new(deadline: Option<Duration>) -> StopHandle {
        StopHandle {
            flag: Arc::new(AtomicBool::new(false)),
            notify: Arc::new(Notify::new()),
            deadline: deadline.map(|d| Instant::now() + d),
        }
    }

    /// Raises the handle at the first SIGTERM or Ctrl-C (what a CronJob's deadline, a pod's
    /// eviction or an operator sends): writes in flight finish, no new one is issued. The
    /// task returned ends at the second signal, for a program that then gives up at once.
    pub fn raise_on_signals(&self) -> tokio::task::JoinHandle<()> {
        let stop = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::warn!(
                "stop signal received: no new writes will be issued; writes in flight finish"
            );
            stop.raise();
            wait_for_signal().await;
        })
    }

    /// The flag the apply loop polls before each new write.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// The instant after which no new write is issued.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Asks the run to stop.
    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the run was asked to stop.
    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Whether the deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Resolves when the deadline passes (never, without one).
    pub async fn deadline_passed(&self) {
        match self.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    }

    /// Resolves when the flag is raised.
    pub async fn raised(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

/// The next SIGTERM or Ctrl-C (Ctrl-C only where there is no SIGTERM).
async fn wait_for_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn raising_wakes_waiters_and_sets_the_flag() {
        let stop = StopHandle::new(None);
        let flag = stop.flag();
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.raised().await })
        };
        tokio::task::yield_now().await;
        assert!(!flag.load(Ordering::SeqCst));
        stop.raise();
        waiter.await.unwrap();
        assert!(flag.load(Ordering::SeqCst));
        assert!(!stop.past_deadline());
    }

    #[test]
    fn deadline_passes() {
        let stop = StopHandle::new(Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(stop.past_deadline());
    }
}
