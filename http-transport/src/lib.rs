//! The HTTP plumbing of the workspace's API clients (`scim-client`, `activate-client`, and the
//! `SCIMConfig` lookup of `scim-sync`): one request loop, [`Transport::send`], over a retry
//! policy with full-jitter exponential backoff and `Retry-After`, request pacing, request accounting and a bound on response
//! bodies; plus [`error_chain`] and [`escape_controls`] for the messages built from what a
//! peer sent, and [`check_base_url`], what a base URL must be before a credential goes to it.
//!
//! Nothing here knows about SCIM or ACTIVATE: what a status means is the client's. The
//! pieces also work on their own, for a client with a loop of its own:
//!
//! ```
//! use std::time::Duration;
//! use http_transport::{Pacer, RequestStats, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let policy = RetryPolicy::default()
//!     .with_max_attempts(4)
//!     .with_total_budget(Duration::from_secs(30));
//! let pacer = Pacer::new(8, Some(20.0)); // 8 in flight, at most 20 requests per second
//! let stats = RequestStats::new();
//!
//! let mut retry = policy.start();
//! loop {
//!     let _permit = pacer.acquire().await;
//!     // ... send the request here; pretend the server answered 503 once, then 200
//!     let status = if retry.retries() == 0 { 503 } else { 200 };
//!     stats.record_response("GET", status, 0, 120);
//!     if !RetryPolicy::is_retryable_status(status) {
//!         break;
//!     }
//!     match retry.next_delay(None) {
//!         Some(delay) => {
//!             stats.record_retry();
//!             tokio::time::sleep(delay).await;
//!         }
//!         None => break, // attempts or time budget exhausted: report the last error
//!     }
//! }
//! let snap = stats.snapshot();
//! assert_eq!(snap.requests, 2);
//! assert_eq!(snap.retries, 1);
//! assert_eq!(snap.count("GET", 503), 1);
//! # }
//! ```

mod base_url;
mod exchange;
mod pacer;
mod retry;
mod stats;
mod text;

pub use base_url::{BaseUrlError, check_base_url};
pub use exchange::{Exchange, Replay, Response, SendError, Transport, error_chain};
pub use pacer::{Pacer, PacerPermit};
pub use retry::{RetryBudget, RetryPolicy, retry_after, retry_after_at};
pub use stats::{RequestStats, StatsSnapshot};
pub use text::escape_controls;
