//! Stopping a run cleanly: SIGTERM / Ctrl-C and `--deadline` both stop the issuing of new
//! writes (writes in flight finish), so a CronJob's own deadline never kills a run mid-write.
//! Before the first write, a stop aborts the run with nothing written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A shared stop flag, raised by a signal; plus the run's deadline.
#[derive(Clone, Debug)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
    deadline: Option<Instant>,
}

impl Stop {
    /// A stop flag for a run that started now, with an optional deadline from now.
    pub fn new(deadline: Option<Duration>) -> Stop {
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
            notify: Arc::new(Notify::new()),
            deadline: deadline.map(|d| Instant::now() + d),
        }
    }

    /// The flag the apply loop polls before each new write.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// The instant after which no new write is issued.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Raises the flag.
    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether a signal asked the run to stop.
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

    /// Listens for SIGTERM and Ctrl-C: the first raises the flag, a second one exits at once
    /// with code 130 (the operator insisted).
    pub fn listen_for_signals(&self) {
        let stop = self.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                wait_for_signal().await;
                seen += 1;
                if seen > 1 {
                    tracing::error!("second stop signal: exiting now");
                    std::process::exit(130);
                }
                tracing::warn!(
                    "stop signal received: no new writes will be issued; writes in flight finish"
                );
                stop.raise();
            }
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn raising_wakes_waiters_and_sets_the_flag() {
        let stop = Stop::new(None);
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
        let stop = Stop::new(Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(stop.past_deadline());
    }
}
