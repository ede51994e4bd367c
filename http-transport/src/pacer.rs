//! Pacing: a bound on requests in flight, fixed or adaptive, an optional requests-per-second
//! limit, and a pause shared by every lane when the server says to slow down.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A window's mean latency may be at most this many times the best window's for the bound to
/// grow: more lanes than the server can serve only queue up there.
const LATENCY_FACTOR: u32 = 2;

/// Limits concurrency and rate of outgoing requests.
///
/// Clones share the same limits: a `Pacer` cloned into many tasks (or held by all clones of
/// a client) bounds the requests in flight across all of them. Hold the [`PacerPermit`]
/// from [`Pacer::acquire`] for the duration of one HTTP exchange; the slot is released when
/// it is dropped. Slots are granted first come, first served.
///
/// With a requests-per-second limit, request starts are spaced at least `1/rps` apart
/// (no bursts), across all clones.
///
/// **Adaptive bound** ([`Pacer::adaptive`]): the bound starts at a given value and moves
/// within `[1, max]`. Each window of as many answered requests as the bound (reported with
/// [`PacerPermit::succeeded`]) raises it, unless the window's mean latency is more than twice
/// the best window's: at first it doubles (a slow start, as TCP's: a run at 50 ms round trips
/// reaches 64 lanes from 4 in four windows, not in two thousand answers), and once an overload
/// or a latency rise has been seen it grows by one (additive increase). An overload answer
/// (429 or 503, reported with [`PacerPermit::overloaded`]) halves it (multiplicative
/// decrease), once for all the requests that were sent under the same bound. [`Pacer::new`]
/// keeps a fixed bound.
///
/// **Pause** ([`Pacer::pause`]): no new request starts, on any clone, until the pause ends
/// (a server's `Retry-After` is about the server, not about one request).
#[derive(Debug, Clone)]
pub struct Pacer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_in_flight: usize,
    start_in_flight: usize,
    slots: Arc<Semaphore>,
    interval: Option<Duration>,
    state: Mutex<State>,
}

/// What changes as requests come and go.
#[derive(Debug)]
struct State {
    /// The bound now.
    limit: usize,
    /// The highest bound so far.
    peak: usize,
    /// Slots to take out of circulation as permits come back (the bound fell below the
    /// permits held).
    debt: usize,
    /// Bumped by every decrease: answers to requests sent before it neither shrink the bound
    /// again nor count towards growing it.
    epoch: u64,
    /// Answers in the current window, and their summed latency.
    window: usize,
    window_latency: Duration,
    /// The lowest mean latency of a full window.
    best_latency: Option<Duration>,
    /// The bound doubles per window until the first overload or latency rise.
    slow_start: bool,
    /// With a rate limit: when the next request may start.
    next_start: Option<Instant>,
    /// No request starts before this.
    paused_until: Option<Instant>,
    /// Time spent paused, overlapping pauses counted once.
    paused_total: Duration,
}

/// One request slot from [`Pacer::acquire`]; dropping it frees the slot. Report how the
/// request went with [`succeeded`](Self::succeeded) or [`overloaded`](Self::overloaded)
/// (both free the slot too); an adaptive pacer learns from that.
#[derive(Debug)]
pub struct PacerPermit {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<Inner>,
    epoch: u64,
    started: Instant,
}

impl Pacer {
    /// A pacer allowing `max_in_flight` concurrent requests (`0` is treated as `1`) and, if
    /// given, at most `requests_per_second` request starts per second. A rate that is not
    /// a positive finite number means "no rate limit"; callers that take the rate from
    /// configuration should validate it first.
    pub fn new(max_in_flight: usize, requests_per_second: Option<f64>) -> Self {
        Self::adaptive(max_in_flight, max_in_flight, requests_per_second)
    }

    /// A pacer whose bound starts at `start` and adapts within `[1, max]` (see the type's
    /// documentation). `0` is treated as `1`, a `max` below `start` as `start`; with
    /// `max == start` the bound is fixed, as with [`Pacer::new`].
    pub fn adaptive(start: usize, max: usize, requests_per_second: Option<f64>) -> Self {
        let start = start.clamp(1, Semaphore::MAX_PERMITS);
        let max = max.clamp(start, Semaphore::MAX_PERMITS);
        let interval = requests_per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Self {
            inner: Arc::new(Inner {
                max_in_flight: max,
                start_in_flight: start,
                slots: Arc::new(Semaphore::new(start)),
                interval,
                state: Mutex::new(State {
                    limit: start,
                    peak: start,
                    debt: 0,
                    epoch: 0,
                    window: 0,
                    window_latency: Duration::ZERO,
                    best_latency: None,
                    slow_start: true,
                    next_start: None,
                    paused_until: None,
                    paused_total: Duration::ZERO,
                }),
            }),
        }
    }

    /// A pacer with no practical limit (for tests and one-off tools).
    pub fn unlimited() -> Self {
        Self::new(Semaphore::MAX_PERMITS, None)
    }

    /// Waits for a free slot, then for any pause to end (and, with a rate limit, for the next
    /// start time), and returns the permit to hold while the request runs.
    pub async fn acquire(&self) -> PacerPermit {
        let permit = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .expect("the pacer's semaphore is never closed");
        loop {
            let paused = self.inner.state().paused_until;
            if let Some(until) = paused.filter(|t| *t > Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Some(interval) = self.inner.interval else {
                break;
            };
            let start = {
                let mut state = self.inner.state();
                let now = Instant::now();
                let start = state.next_start.map_or(now, |n| n.max(now));
                state.next_start = Some(start + interval);
                start
            };
            tokio::time::sleep_until(start).await;
            // a pause that began while this one waited for its turn holds it too
            if self
                .inner
                .state()
                .paused_until
                .is_none_or(|t| t <= Instant::now())
            {
                break;
            }
        }
        PacerPermit {
            permit: Some(permit),
            inner: Arc::clone(&self.inner),
            epoch: self.inner.state().epoch,
            started: Instant::now(),
        }
    }

    /// Holds every new request, on all clones, for `duration` from now (a longer pause already
    /// under way is kept). Requests already sent are not affected.
    pub fn pause(&self, duration: Duration) {
        let now = Instant::now();
        let Some(until) = now.checked_add(duration) else {
            return;
        };
        let mut state = self.inner.state();
        let current = state.paused_until.filter(|t| *t > now).unwrap_or(now);
        if until > current {
            state.paused_total = state.paused_total.saturating_add(until - current);
            state.paused_until = Some(until);
        }
    }

    /// Time new requests were held by [`pause`](Self::pause)s, overlapping pauses counted
    /// once (a pause under way counts whole).
    pub fn paused_total(&self) -> Duration {
        self.inner.state().paused_total
    }

    /// The upper bound on requests in flight: the configured one, or the most an adaptive
    /// bound may reach.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    /// The bound the pacer started with.
    pub fn start_in_flight(&self) -> usize {
        self.inner.start_in_flight
    }

    /// The bound on requests in flight now.
    pub fn limit(&self) -> usize {
        self.inner.state().limit
    }

    /// The highest bound reached so far.
    pub fn peak_limit(&self) -> usize {
        self.inner.state().peak
    }

    /// Whether the bound adapts (its maximum is above its start).
    pub fn is_adaptive(&self) -> bool {
        self.inner.is_adaptive()
    }

    /// Requests in flight right now (permits held).
    pub fn in_flight(&self) -> usize {
        let state = self.inner.state();
        (state.limit + state.debt).saturating_sub(self.inner.slots.available_permits())
    }

    /// The minimum spacing between request starts, if a rate limit is set.
    pub fn interval(&self) -> Option<Duration> {
        self.inner.interval
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_adaptive(&self) -> bool {
        self.max_in_flight > self.start_in_flight
    }
}

impl PacerPermit {
    /// The request got an answer that says nothing against the load (anything but an
    /// overload): counts towards growing an adaptive bound. Frees the slot.
    pub fn succeeded(self) {
        if !self.inner.is_adaptive() {
            return;
        }
        let latency = self.started.elapsed();
        let mut state = self.inner.state();
        if self.epoch != state.epoch {
            return;
        }
        state.window += 1;
        state.window_latency = state.window_latency.saturating_add(latency);
        if state.window < state.limit {
            return;
        }
        let mean = state.window_latency / u32::try_from(state.window).unwrap_or(u32::MAX);
        state.window = 0;
        state.window_latency = Duration::ZERO;
        let best = *state.best_latency.get_or_insert(mean);
        state.best_latency = Some(best.min(mean));
        if mean > best.saturating_mul(LATENCY_FACTOR) {
            state.slow_start = false;
            return;
        }
        let step = if state.slow_start { state.limit } else { 1 };
        let grown = state
            .limit
            .saturating_add(step)
            .min(self.inner.max_in_flight);
        let added = grown.saturating_sub(state.limit);
        state.limit = grown;
        state.peak = state.peak.max(grown);
        // slots owed to an earlier decrease are paid first
        let paid = added.min(state.debt);
        state.debt -= paid;
        self.inner.slots.add_permits(added - paid);
    }

    /// The server answered 429 or 503: an adaptive bound halves (at least 1), once for all
    /// the requests sent under the same bound. Frees the slot.
    pub fn overloaded(self) {
        if !self.inner.is_adaptive() {
            return;
        }
        let mut state = self.inner.state();
        if self.epoch != state.epoch {
            return;
        }
        let lower = (state.limit / 2).max(1);
        let cut = state.limit - lower;
        state.limit = lower;
        state.slow_start = false;
        state.epoch += 1;
        state.window = 0;
        state.window_latency = Duration::ZERO;
        let forgotten = self.inner.slots.forget_permits(cut);
        state.debt += cut - forgotten;
    }
}

impl Drop for PacerPermit {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.inner.state();
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        } else {
            drop(permit);
        }
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

    /// Acquires, lets `latency` pass, reports an answer; returns the bound after it.
    async fn answered(pacer: &Pacer, latency: Duration) -> usize {
        let p = pacer.acquire().await;
        tokio::time::advance(latency).await;
        p.succeeded();
        pacer.limit()
    }

    /// The bound after each of `n` answers of `latency`, and where it changed.
    async fn limits(pacer: &Pacer, n: usize, latency: Duration) -> (Vec<usize>, Vec<usize>) {
        let mut limits = vec![pacer.limit()];
        for _ in 0..n {
            limits.push(answered(pacer, latency).await);
        }
        let changed = (1..limits.len())
            .filter(|&i| limits[i] != limits[i - 1])
            .collect();
        (limits, changed)
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_bound_doubles_per_window_up_to_max() {
        let pacer = Pacer::adaptive(2, 20, None);
        assert_eq!((pacer.limit(), pacer.max_in_flight()), (2, 20));
        // a window is as many answers as the bound: 2 at 2, 4 at 4, 8 at 8, 16 at 16, then
        // the ceiling
        let (limits, changed) = limits(&pacer, 40, Duration::from_millis(10)).await;
        assert_eq!(changed, vec![2, 6, 14, 30], "{limits:?}");
        let grown: Vec<usize> = changed.iter().map(|&i| limits[i]).collect();
        assert_eq!(grown, vec![4, 8, 16, 20]);
        assert_eq!((pacer.limit(), pacer.peak_limit()), (20, 20));
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_overload_the_bound_grows_by_one_per_window() {
        let pacer = Pacer::adaptive(8, 20, None);
        pacer.acquire().await.overloaded();
        assert_eq!(pacer.limit(), 4);
        // windows of 4, 5 and 6 answers
        let (limits, changed) = limits(&pacer, 16, Duration::from_millis(10)).await;
        assert_eq!(changed, vec![4, 9, 15], "{limits:?}");
        assert_eq!(pacer.limit(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_bound_admits_as_many_as_it_says_and_never_more_than_max() {
        let pacer = Pacer::adaptive(1, 4, None);
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let pacer = pacer.clone();
            let current = Arc::clone(&current);
            let peak = Arc::clone(&peak);
            tasks.push(tokio::spawn(async move {
                let p = pacer.acquire().await;
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= pacer.limit().max(pacer.in_flight()));
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                current.fetch_sub(1, Ordering::SeqCst);
                p.succeeded();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        assert_eq!((pacer.limit(), pacer.peak_limit()), (4, 4));
        assert_eq!(pacer.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_bound_holds_while_latency_rises() {
        let pacer = Pacer::adaptive(2, 16, None);
        assert_eq!(answered(&pacer, Duration::from_millis(10)).await, 2);
        assert_eq!(answered(&pacer, Duration::from_millis(10)).await, 4);
        // three times the best window's latency: no growth, and the slow start is over
        for _ in 0..12 {
            assert_eq!(answered(&pacer, Duration::from_millis(30)).await, 4);
        }
        // latency back: grows again, by one
        for _ in 0..3 {
            answered(&pacer, Duration::from_millis(10)).await;
        }
        assert_eq!(answered(&pacer, Duration::from_millis(10)).await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_bound_halves_once_per_overloaded_window() {
        let pacer = Pacer::adaptive(8, 16, None);
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(pacer.acquire().await);
        }
        // every request sent under the bound of 8 comes back 429: one halving, not eight
        for p in held.drain(..) {
            p.overloaded();
        }
        assert_eq!(pacer.limit(), 4);
        assert_eq!(pacer.in_flight(), 0);
        for _ in 0..4 {
            held.push(pacer.acquire().await);
        }
        let fifth = tokio::time::timeout(Duration::from_secs(60), pacer.acquire()).await;
        assert!(
            fifth.is_err(),
            "a fifth request got a slot under a bound of 4"
        );
        held.pop().unwrap().overloaded();
        assert_eq!(pacer.limit(), 2);
        // the three still held pay the debt: only two slots come back
        assert_eq!(pacer.in_flight(), 3);
        held.clear();
        assert_eq!(pacer.in_flight(), 0);
        let (a, b) = (pacer.acquire().await, pacer.acquire().await);
        assert!(
            tokio::time::timeout(Duration::from_secs(60), pacer.acquire())
                .await
                .is_err()
        );
        a.overloaded();
        drop(b);
        assert_eq!(pacer.limit(), 1);
        pacer.acquire().await.overloaded();
        assert_eq!(pacer.limit(), 1, "never below one");
        assert_eq!(pacer.peak_limit(), 8);
        // and it grows back after a window of answers
        assert_eq!(answered(&pacer, Duration::from_millis(10)).await, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_bound_never_moves() {
        for pacer in [Pacer::new(3, None), Pacer::adaptive(3, 3, None)] {
            assert!(!pacer.is_adaptive());
            for _ in 0..50 {
                answered(&pacer, Duration::from_millis(1)).await;
            }
            assert_eq!(pacer.limit(), 3);
            let held: Vec<_> = [pacer.acquire().await, pacer.acquire().await].into();
            for p in held {
                p.overloaded();
            }
            assert_eq!((pacer.limit(), pacer.peak_limit()), (3, 3));
        }
        // a maximum below the start is the start
        assert_eq!(Pacer::adaptive(4, 2, None).max_in_flight(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_lane() {
        let pacer = Pacer::adaptive(4, 8, None);
        let t0 = Instant::now();
        let held: Vec<_> = [
            pacer.acquire().await,
            pacer.acquire().await,
            pacer.acquire().await,
            pacer.acquire().await,
        ]
        .into();
        // lanes already waiting for a slot when the pause begins
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                let p = pacer.acquire().await;
                let at = t0.elapsed();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(p);
                at
            }));
        }
        tokio::task::yield_now().await;
        // one request got 429 Retry-After: 2; the three others are still in flight
        pacer.pause(Duration::from_secs(2));
        for p in held {
            drop(p);
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap());
        }
        assert!(
            starts.iter().all(|at| *at >= Duration::from_secs(2)),
            "{starts:?}"
        );
        // a lane arriving later, while a new pause runs, waits too
        pacer.pause(Duration::from_secs(1));
        let at = Instant::now();
        let _p = pacer.acquire().await;
        assert!(at.elapsed() >= Duration::from_secs(1));
        assert_eq!(pacer.paused_total(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_pauses_count_once() {
        let pacer = Pacer::new(2, Some(10.0));
        pacer.pause(Duration::from_secs(2));
        pacer.pause(Duration::from_secs(1));
        assert_eq!(pacer.paused_total(), Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(1)).await;
        pacer.pause(Duration::from_secs(3));
        assert_eq!(pacer.paused_total(), Duration::from_secs(4));
        let t0 = Instant::now();
        let _p = pacer.acquire().await;
        assert!(t0.elapsed() >= Duration::from_secs(3));
    }
}
