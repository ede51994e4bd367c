//! Retry policy: which failures to retry, how long to wait, and when to give up.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

/// When and how often a failed request is tried again.
///
/// Waits use *full jitter* exponential backoff: before retry `n` (0-based) the wait is a
/// uniformly random duration in `[0, min(max_delay, base_delay * 2^n)]`. A server's
/// `Retry-After` is honoured as a lower bound. Retrying stops when `max_attempts` attempts
/// (the first one included) have been made, or when the next wait would end after
/// `total_budget` has elapsed since [`RetryPolicy::start`].
///
/// Which requests are *safe* to retry is the caller's decision (a POST whose outcome is
/// unknown usually is not); [`RetryPolicy::is_retryable_status`] only says which statuses are
/// transient.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; `1` disables retries.
    pub max_attempts: u32,
    /// Backoff scale: the cap of the first retry's wait.
    pub base_delay: Duration,
    /// Upper bound of any single backoff wait (not of a server's `Retry-After`).
    pub max_delay: Duration,
    /// Time budget for the whole operation, measured from [`RetryPolicy::start`]: no retry
    /// is scheduled whose wait would end after it.
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms base, 10 s cap per wait, 60 s in total.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            total_budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts (the first one included); `0` is treated as `1`.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the backoff scale (the cap of the first retry's wait).
    pub fn with_base_delay(mut self, base: Duration) -> Self {
        self.base_delay = base;
        self
    }

    /// Sets the upper bound of a single backoff wait.
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Sets the total time budget of one operation, waits included.
    pub fn with_total_budget(mut self, budget: Duration) -> Self {
        self.total_budget = budget;
        self
    }

    /// Whether an HTTP status is transient and worth retrying: 429, 502, 503 and 504.
    pub fn is_retryable_status(status: u16) -> bool {
        matches!(status, 429 | 502 | 503 | 504)
    }

    /// The upper bound of the jittered wait before retry `retry` (0-based):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A full-jitter wait before retry `retry` (0-based): uniform in `[0, backoff_cap(retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.backoff_cap(retry);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// Starts the clock for one operation (one logical request and its retries).
    pub fn start(&self) -> RetryBudget {
        RetryBudget {
            policy: self.clone(),
            started: Instant::now(),
            retries: 0,
        }
    }
}

/// The retry state of one operation: attempts made and time spent. Created by
/// [`RetryPolicy::start`].
#[derive(Debug, Clone)]
pub struct RetryBudget {
    policy: RetryPolicy,
    started: Instant,
    retries: u32,
}

impl RetryBudget {
    /// After a failed attempt: how long to wait before the next one, or `None` if the policy
    /// is exhausted (attempts used up, or the wait would overrun the total budget).
    ///
    /// `retry_after` is the server's `Retry-After` (see [`retry_after`]); the wait is never
    /// shorter than it. Each `Some` counts as one retry.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.retries.saturating_add(1) >= self.policy.max_attempts {
            return None;
        }
        let jitter = self.policy.backoff(self.retries);
        let delay = match retry_after {
            Some(server) => server.max(jitter),
            None => jitter,
        };
        if self.elapsed().saturating_add(delay) > self.policy.total_budget {
            return None;
        }
        self.retries += 1;
        Some(delay)
    }

    /// Retries granted so far (attempts made minus one, once the first attempt failed).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Time since [`RetryPolicy::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time left in the total budget (zero once it is spent).
    pub fn remaining(&self) -> Duration {
        self.policy.total_budget.saturating_sub(self.elapsed())
    }
}

/// The `Retry-After` header as a wait, in either form RFC 9110 allows: delay-seconds
/// (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past gives a zero
/// wait; a missing or malformed header gives `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`] with an explicit "now", for HTTP-date values (useful in tests).
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let h = headers("Wed, 21 Oct 2015 07:28:30 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(30)));
        // a date in the past means "now"
        let past = headers("Wed, 21 Oct 2015 07:27:00 GMT");
        assert_eq!(retry_after_at(&past, now), Some(Duration::ZERO));
        // relative to the real clock: a date 1 h ahead is roughly 1 h
        let ahead = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        let wait = retry_after(&headers(&ahead)).unwrap();
        assert!(wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600));
    }

    #[test]
    fn retry_after_malformed_or_missing() {
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-5")), None);
        assert_eq!(retry_after(&headers("1.5")), None);
    }

    #[test]
    fn backoff_cap_grows_and_saturates() {
        let p = RetryPolicy::default()
            .with_base_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1));
        assert_eq!(p.backoff_cap(0), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(1), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(3), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(4), Duration::from_secs(1));
        assert_eq!(p.backoff_cap(200), Duration::from_secs(1));
    }

    #[test]
    fn backoff_is_full_jitter_within_cap() {
        let p = RetryPolicy::default().with_base_delay(Duration::from_millis(100));
        let samples: Vec<Duration> = (0..500).map(|_| p.backoff(2)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        // full jitter: spread over the whole range, not clustered at the cap
        assert!(samples.iter().any(|d| *d < Duration::from_millis(100)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(300)));
    }

    #[test]
    fn budget_stops_after_max_attempts() {
        let mut b = RetryPolicy::default()
            .with_max_attempts(3)
            .with_base_delay(Duration::from_millis(1))
            .start();
        assert!(b.next_delay(None).is_some());
        assert!(b.next_delay(None).is_some());
        assert_eq!(b.next_delay(None), None);
        assert_eq!(b.retries(), 2);
        assert_eq!(RetryPolicy::none().start().next_delay(None), None);
    }

    #[test]
    fn retry_after_is_a_lower_bound_and_budget_caps_it() {
        let p = RetryPolicy::default()
            .with_base_delay(Duration::from_millis(1))
            .with_total_budget(Duration::from_secs(10));
        let mut b = p.start();
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        // a Retry-After beyond the remaining budget ends the retries
        assert_eq!(b.next_delay(Some(Duration::from_secs(11))), None);
        assert!(b.remaining() <= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_counts_elapsed_time() {
        let p = RetryPolicy::default()
            .with_max_attempts(100)
            .with_base_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(1))
            .with_total_budget(Duration::from_secs(5));
        let mut b = p.start();
        assert!(b.next_delay(None).is_some());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.next_delay(None), None);
        assert_eq!(b.remaining(), Duration::ZERO);
    }
}
