//! Request accounting: counters per method and status, retries, throttling and bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Counters for the requests a client made, shared by all its clones and readable at any
/// time with [`RequestStats::snapshot`].
///
/// Record every HTTP exchange (each attempt, retries included) with
/// [`RequestStats::record_response`] or [`RequestStats::record_failure`], and each retry
/// scheduled with [`RequestStats::record_retry`].
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    inner: Arc<Mutex<StatsSnapshot>>,
}

/// A point-in-time copy of [`RequestStats`]; serialisable for run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// HTTP exchanges attempted (responses plus failures without a response).
    pub requests: u64,
    /// Retries scheduled (each is also counted in `requests` when it is sent).
    pub retries: u64,
    /// Responses with status 429 Too Many Requests.
    pub throttled: u64,
    /// Attempts that got no response at all (connection failure, timeout).
    pub failures: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// Responses by method, then by status code.
    pub by_method: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Failures without a response, by method.
    pub failures_by_method: BTreeMap<String, u64>,
    /// Milliseconds waited before retries because a server's `Retry-After` asked for it.
    pub retry_after_wait_ms: u64,
    /// The pacer's bound on requests in flight now (filled by [`Transport::snapshot`];
    /// zero in [`RequestStats::snapshot`]).
    ///
    /// [`Transport::snapshot`]: crate::Transport::snapshot
    pub concurrency: u64,
    /// The highest bound on requests in flight reached, the starting one at least (filled by
    /// [`Transport::snapshot`]).
    ///
    /// [`Transport::snapshot`]: crate::Transport::snapshot
    pub concurrency_reached: u64,
    /// Milliseconds during which every lane was paused because the server answered 429 or
    /// 503 (for its `Retry-After`, or a backoff), overlapping pauses counted once (filled by
    /// [`Transport::snapshot`]).
    ///
    /// [`Transport::snapshot`]: crate::Transport::snapshot
    pub paused_ms: u64,
}

impl StatsSnapshot {
    /// Answered requests that were not `GET`s: the writes.
    pub fn writes(&self) -> u64 {
        self.by_method
            .iter()
            .filter(|(method, _)| method.as_str() != "GET")
            .map(|(_, statuses)| statuses.values().sum::<u64>())
            .sum()
    }

    /// Responses with this method (case-sensitive, e.g. `"GET"`) and status.
    pub fn count(&self, method: &str, status: u16) -> u64 {
        self.by_method
            .get(method)
            .and_then(|s| s.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Responses with this method, any status.
    pub fn count_method(&self, method: &str) -> u64 {
        self.by_method
            .get(method)
            .map(|s| s.values().sum())
            .unwrap_or(0)
    }
}

impl RequestStats {
    /// Fresh, zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, f: impl FnOnce(&mut StatsSnapshot)) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    /// Records one response: its method, status and the body sizes in each direction.
    pub fn record_response(&self, method: &str, status: u16, bytes_sent: u64, bytes_received: u64) {
        self.update(|s| {
            s.requests += 1;
            if status == 429 {
                s.throttled += 1;
            }
            s.bytes_sent += bytes_sent;
            s.bytes_received += bytes_received;
            *s.by_method
                .entry(method.to_owned())
                .or_default()
                .entry(status)
                .or_default() += 1;
        });
    }

    /// Records one attempt that got no response (connection failure, timeout).
    pub fn record_failure(&self, method: &str, bytes_sent: u64) {
        self.update(|s| {
            s.requests += 1;
            s.failures += 1;
            s.bytes_sent += bytes_sent;
            *s.failures_by_method.entry(method.to_owned()).or_default() += 1;
        });
    }

    /// Records one retry scheduled.
    pub fn record_retry(&self) {
        self.update(|s| s.retries += 1);
    }

    /// Records a wait before a retry that a server's `Retry-After` asked for.
    pub fn record_retry_after_wait(&self, waited: std::time::Duration) {
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        self.update(|s| s.retry_after_wait_ms = s.retry_after_wait_ms.saturating_add(ms));
    }

    /// A copy of the counters as they are now.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets every counter back to zero (for example between benchmark phases).
    pub fn reset(&self) {
        self.update(|s| *s = StatsSnapshot::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_status() {
        let stats = RequestStats::new();
        let clone = stats.clone();
        stats.record_response("GET", 200, 0, 100);
        clone.record_response("GET", 200, 0, 50);
        stats.record_response("GET", 429, 0, 10);
        stats.record_response("POST", 201, 300, 400);
        stats.record_failure("PATCH", 80);
        stats.record_retry();
        let s = stats.snapshot();
        assert_eq!(s.requests, 5);
        assert_eq!(s.throttled, 1);
        assert_eq!(s.retries, 1);
        assert_eq!(s.failures, 1);
        assert_eq!(s.bytes_sent, 380);
        assert_eq!(s.bytes_received, 560);
        assert_eq!(s.count("GET", 200), 2);
        assert_eq!(s.count("GET", 429), 1);
        assert_eq!(s.count("POST", 201), 1);
        assert_eq!(s.count("DELETE", 204), 0);
        assert_eq!(s.count_method("GET"), 3);
        assert_eq!(s.failures_by_method["PATCH"], 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["by_method"]["GET"]["200"], 2);
        stats.reset();
        assert_eq!(clone.snapshot(), StatsSnapshot::default());
    }
}
