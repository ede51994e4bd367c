//! Pacing: a bound on requests in flight and an optional requests-per-second limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Limits concurrency and rate of outgoing requests.
///
/// Clones share the same limits: a `Pacer` cloned into many tasks (or held by all clones of
/// a client) bounds the requests in flight across all of them. Hold the [`PacerPermit`]
/// from [`Pacer::acquire`] for the duration of one HTTP exchange; the slot is released when
/// it is dropped.
///
/// With a requests-per-second limit, request starts are spaced at least `1/rps` apart
/// (no bursts), across all clones.
#[derive(Debug, Clone)]
pub struct Pacer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_in_flight: usize,
    slots: Arc<Semaphore>,
    interval: Option<Duration>,
    next_start: Mutex<Option<Instant>>,
}

/// One request slot from [`Pacer::acquire`]; dropping it frees the slot.
#[derive(Debug)]
pub struct PacerPermit {
    _permit: OwnedSemaphorePermit,
}

impl Pacer {
    /// A pacer allowing `max_in_flight` concurrent requests (`0` is treated as `1`) and, if
    /// given, at most `requests_per_second` request starts per second. A rate that is not
    /// a positive finite number means "no rate limit"; callers that take the rate from
    /// configuration should validate it first.
    pub fn new(max_in_flight: usize, requests_per_second: Option<f64>) -> Self {
        let max_in_flight = max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        let interval = requests_per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Self {
            inner: Arc::new(Inner {
                max_in_flight,
                slots: Arc::new(Semaphore::new(max_in_flight)),
                interval,
                next_start: Mutex::new(None),
            }),
        }
    }

    /// A pacer with no practical limit (for tests and one-off tools).
    pub fn unlimited() -> Self {
        Self::new(Semaphore::MAX_PERMITS, None)
    }

    /// Waits for a free slot (and, with a rate limit, for the next start time) and returns
    /// the permit to hold while the request runs.
    pub async fn acquire(&self) -> PacerPermit {
        let permit = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .expect("the pacer's semaphore is never closed");
        if let Some(interval) = self.inner.interval {
            let start = {
                let mut next = self
                    .inner
                    .next_start
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                let start = next.map_or(now, |n| n.max(now));
                *next = Some(start + interval);
                start
            };
            tokio::time::sleep_until(start).await;
        }
        PacerPermit { _permit: permit }
    }

    /// The configured bound on requests in flight.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    /// Requests in flight right now (permits held).
    pub fn in_flight(&self) -> usize {
        self.inner.max_in_flight - self.inner.slots.available_permits()
    }

    /// The minimum spacing between request starts, if a rate limit is set.
    pub fn interval(&self) -> Option<Duration> {
        self.inner.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn clones_share_the_in_flight_bound() {
        let pacer = Pacer::new(3, None);
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let pacer = pacer.clone();
            let current = Arc::clone(&current);
            let peak = Arc::clone(&peak);
            tasks.push(tokio::spawn(async move {
                let _p = pacer.acquire().await;
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                current.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(pacer.in_flight(), 0);
    }

    #[tokio::test]
    async fn permit_release_on_drop() {
        let pacer = Pacer::new(1, None);
        let p = pacer.acquire().await;
        assert_eq!(pacer.in_flight(), 1);
        let other = pacer.clone();
        let waiting = tokio::spawn(async move { other.acquire().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(p);
        let _p2 = waiting.await.unwrap();
        assert_eq!(pacer.in_flight(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_spaces_starts() {
        let pacer = Pacer::new(100, Some(10.0));
        assert_eq!(pacer.interval(), Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let _p = pacer.acquire().await;
            starts.push(t0.elapsed());
        }
        assert_eq!(starts[0], Duration::ZERO);
        for pair in starts.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(100),
                "{starts:?}"
            );
        }
        assert!(starts[4] < Duration::from_millis(450));
    }

    #[test]
    fn invalid_settings_are_clamped() {
        assert_eq!(Pacer::new(0, None).max_in_flight(), 1);
        assert_eq!(Pacer::new(1, Some(0.0)).interval(), None);
        assert_eq!(Pacer::new(1, Some(f64::NAN)).interval(), None);
        assert_eq!(Pacer::new(1, Some(-3.0)).interval(), None);
    }
}
