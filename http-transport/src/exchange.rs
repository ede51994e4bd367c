//! The one request loop of the workspace's API clients: pace, send, read the body within a
//! bound, count, and retry what may be retried, honouring `Retry-After`, within the policy's
//! budget. The SCIM client and the ACTIVATE client both send through a [`Transport`]; what a
//! status *means* (an error of their API) stays theirs.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::{Pacer, RequestStats, RetryPolicy, StatsSnapshot, retry_after};

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Idempotent (GET, PUT, DELETE, a PATCH that converges): retried on any transient
    /// failure.
    Always,
    /// Not idempotent (a POST that creates): retried only when it certainly had no effect (the
    /// connection was never established, or the server answered 429 or 503). After a timeout,
    /// a dropped connection or a gateway's 502/504, the outcome is [`SendError::OutcomeUnknown`].
    IfUnsent,
}

/// One request to send.
#[derive(Debug)]
pub struct Exchange {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: Url,
    /// Headers, the credential included (mark it sensitive).
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Whether it may be sent again.
    pub replay: Replay,
}

/// A response, its body read whole (within the transport's bound).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
}

/// Why no response came back (a response with an error status is a [`Response`]).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer within the timeout, retries included.
    #[error("no answer within the timeout")]
    Timeout,
    /// The exchange failed (connection refused, reset, TLS, DNS), retries included; the
    /// error carries no URL (callers name the request their own way).
    #[error("{}", error_chain(.0))]
    Transport(reqwest::Error),
    /// The response body is larger than the transport reads; it was not read further.
    #[error("the response is larger than {limit} bytes, the most this client reads")]
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    /// A request that must not be replayed may or may not have taken effect.
    #[error("{0}")]
    OutcomeUnknown(String),
}

/// Pacing, retries, accounting and the body bound, around one `reqwest::Client`. Cheap to
/// share by reference; its [`Pacer`] and [`RequestStats`] are shared by their clones.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    retry: RetryPolicy,
    pacer: Pacer,
    stats: RequestStats,
    max_response_bytes: u64,
    retryable: fn(u16) -> bool,
    /// Names the peer in log lines (`"scim"`, `"activate"`).
    side: &'static str,
}

impl Transport {
    /// A transport over `http`, with `retry` and `pacer`; `side` names the peer in log lines.
    /// The transient statuses are [`RetryPolicy::is_retryable_status`]'s unless
    /// [`with_retryable_statuses`](Self::with_retryable_statuses) says otherwise.
    pub fn new(
        http: reqwest::Client,
        retry: RetryPolicy,
        pacer: Pacer,
        side: &'static str,
    ) -> Self {
        Self {
            http,
            retry,
            pacer,
            stats: RequestStats::new(),
            max_response_bytes: 32 * 1024 * 1024,
            retryable: RetryPolicy::is_retryable_status,
            side,
        }
    }

    /// The largest response body read (default 32 MiB).
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Which statuses are transient (default [`RetryPolicy::is_retryable_status`]).
    pub fn with_retryable_statuses(mut self, retryable: fn(u16) -> bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The request counters.
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// A copy of the request counters with the pacer's figures filled in: the in-flight
    /// bound now and at its highest, and the time every lane was paused.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut snapshot = self.stats.snapshot();
        snapshot.concurrency = self.pacer.limit() as u64;
        snapshot.concurrency_reached = self.pacer.peak_limit() as u64;
        snapshot.paused_ms =
            u64::try_from(self.pacer.paused_total().as_millis()).unwrap_or(u64::MAX);
        snapshot
    }

    /// The pacer.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends `exchange` until it gets an answer that is not transient, the retry budget is
    /// spent (then the last answer, or the last failure), or a non-replayable request's
    /// outcome becomes unknown.
    pub async fn send(&self, exchange: Exchange) -> Result<Response, SendError> {
        let Exchange {
            method,
            url,
            headers,
            body,
            replay,
        } = exchange;
        let sent = body.as_ref().map_or(0, |b| b.len() as u64);
        let mut budget = self.retry.start();
        loop {
            let attempt = {
                let permit = self.pacer.acquire().await;
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                if let Some(b) = &body {
                    request = request.body(b.clone());
                }
                let attempt = self.attempt(request).await;
                // what the adaptive bound learns: an overload shrinks it, an answer grows it,
                // a gateway's error or a failure says nothing either way
                match &attempt {
                    Ok(r) if overload(r.status) => permit.overloaded(),
                    Ok(r) if !matches!(r.status, 502 | 504) => permit.succeeded(),
                    _ => drop(permit),
                }
                attempt
            };
            match attempt {
                Ok(response) => {
                    self.stats.record_response(
                        method.as_str(),
                        response.status,
                        sent,
                        response.body.len() as u64,
                    );
                    tracing::debug!(side = self.side, %method, %url, status = response.status, retry = budget.retries(), "{} response", self.side);
                    if !(self.retryable)(response.status) {
                        return Ok(response);
                    }
                    if replay == Replay::IfUnsent && !matches!(response.status, 429 | 503) {
                        let who = if matches!(response.status, 502 | 504) {
                            "a gateway"
                        } else {
                            "the server"
                        };
                        return Err(SendError::OutcomeUnknown(format!(
                            "{who} answered {}",
                            response.status
                        )));
                    }
                    let asked = retry_after(&response.headers);
                    match budget.next_delay(asked) {
                        Some(delay) => {
                            if asked.is_some() {
                                self.stats.record_retry_after_wait(delay);
                            }
                            if overload(response.status) {
                                // the server is overloaded, not this request: every lane waits
                                self.pacer.pause(delay);
                            }
                            self.pause(&method, &url, Transient::Status(response.status), delay)
                                .await
                        }
                        None => return Ok(response),
                    }
                }
                Err(Failure::TooLarge) => {
                    self.stats.record_failure(method.as_str(), sent);
                    return Err(SendError::TooLarge {
                        limit: self.max_response_bytes,
                    });
                }
                Err(Failure::Http(e)) => {
                    self.stats.record_failure(method.as_str(), sent);
                    let e = e.without_url();
                    let chain = error_chain(&e);
                    tracing::debug!(%method, %url, error = %chain, "{} request failed", self.side);
                    if replay == Replay::IfUnsent && !e.is_connect() {
                        return Err(SendError::OutcomeUnknown(if e.is_timeout() {
                            "no answer within the timeout".to_owned()
                        } else {
                            format!("the exchange failed after sending: {chain}")
                        }));
                    }
                    let delay = if e.is_builder() {
                        None
                    } else {
                        budget.next_delay(None)
                    };
                    match delay {
                        Some(delay) => {
                            self.pause(&method, &url, Transient::Failure(&chain), delay)
                                .await
                        }
                        None if e.is_timeout() => return Err(SendError::Timeout),
                        None => return Err(SendError::Transport(e)),
                    }
                }
            }
        }
    }

    /// Counts a retry, says so, and waits `delay`.
    async fn pause(&self, method: &Method, url: &Url, why: Transient<'_>, delay: Duration) {
        self.stats.record_retry();
        match why {
            Transient::Status(status) => {
                tracing::info!(side = self.side, %method, %url, status, ?delay, "retrying after a transient status")
            }
            Transient::Failure(error) => {
                tracing::info!(side = self.side, %method, %url, error, ?delay, "retrying after a transport failure")
            }
        }
        tokio::time::sleep(delay).await;
    }

    /// One attempt: the answer with its body read whole, up to the bound.
    async fn attempt(&self, request: reqwest::RequestBuilder) -> Result<Response, Failure> {
        let mut response = request.send().await.map_err(Failure::Http)?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes)
        {
            return Err(Failure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::Http)? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(Failure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status: StatusCode::as_u16(&status),
            headers,
            body,
        })
    }
}

/// Whether a status says the server is overloaded (429 Too Many Requests, 503 Service
/// Unavailable): the adaptive bound shrinks and every lane pauses.
fn overload(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// What a retry follows.
enum Transient<'a> {
    Status(u16),
    Failure(&'a str),
}

enum Failure {
    Http(reqwest::Error),
    TooLarge,
}

/// An error and its causes, `: `-separated, each cause once (reqwest's top-level message
/// alone says little, e.g. "error sending request").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    /// Answers 200 and notes when each request arrived.
    #[derive(Clone, Default)]
    struct Arrivals(Arc<Mutex<Vec<Instant>>>);

    impl Respond for Arrivals {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0.lock().unwrap().push(Instant::now());
            ResponseTemplate::new(200)
        }
    }

    fn get(server: &MockServer, p: &str) -> Exchange {
        Exchange {
            method: Method::GET,
            url: Url::parse(&format!("{}{p}", server.uri())).unwrap(),
            headers: HeaderMap::new(),
            body: None,
            replay: Replay::Always,
        }
    }

    #[tokio::test]
    async fn retry_after_pauses_every_lane_and_shrinks_the_bound() {
        let server = MockServer::start().await;
        let throttled = Arrivals::default();
        let throttled_at = Arc::clone(&throttled.0);
        Mock::given(method("GET"))
            .and(path("/throttle"))
            .respond_with(move |r: &Request| {
                throttled.respond(r);
                ResponseTemplate::new(429).insert_header("Retry-After", "1")
            })
            .up_to_n_times(1)
            .mount(&server)
            .await;
        let others = Arrivals::default();
        Mock::given(method("GET"))
            .respond_with(others.clone())
            .mount(&server)
            .await;
        let retry = RetryPolicy::default().with_base_delay(Duration::from_millis(1));
        let transport = Transport::new(
            reqwest::Client::new(),
            retry,
            Pacer::adaptive(4, 8, None),
            "test",
        );
        let first = {
            let transport = transport.clone();
            let exchange = get(&server, "/throttle");
            tokio::spawn(async move { transport.send(exchange).await })
        };
        // once the 429 is in, lanes that were not sending hold until the pause ends
        while transport.pacer().paused_total().is_zero() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(transport.pacer().limit(), 2, "the 429 halves the bound");
        let mut lanes = Vec::new();
        for i in 0..6 {
            let transport = transport.clone();
            let exchange = get(&server, &format!("/lane/{i}"));
            lanes.push(tokio::spawn(async move { transport.send(exchange).await }));
        }
        assert_eq!(first.await.unwrap().unwrap().status, 200);
        for lane in lanes {
            assert_eq!(lane.await.unwrap().unwrap().status, 200);
        }
        let throttled_at = throttled_at.lock().unwrap()[0];
        let arrivals = others.0.lock().unwrap().clone();
        // the retry and the six other lanes
        assert_eq!(arrivals.len(), 7);
        for at in arrivals {
            assert!(at >= throttled_at + Duration::from_secs(1));
        }
        let snapshot = transport.snapshot();
        assert_eq!((snapshot.requests, snapshot.throttled), (8, 1));
        assert_eq!(snapshot.concurrency_reached, 4);
        assert!(snapshot.concurrency <= 4);
        assert!(snapshot.paused_ms >= 1000, "{}", snapshot.paused_ms);
    }

    #[tokio::test]
    async fn a_fixed_bound_stays_put_after_a_429() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let transport = Transport::new(
            reqwest::Client::new(),
            RetryPolicy::default().with_base_delay(Duration::from_millis(1)),
            Pacer::new(4, None),
            "test",
        );
        for _ in 0..3 {
            assert_eq!(
                transport.send(get(&server, "/x")).await.unwrap().status,
                200
            );
        }
        let snapshot = transport.snapshot();
        assert_eq!((snapshot.requests, snapshot.throttled), (4, 1));
        assert_eq!((snapshot.concurrency, snapshot.concurrency_reached), (4, 4));
    }
}
