//! The one request loop of the workspace's API clients: pace, send, read the body within a
//! bound, count, and retry what may be retried, honouring `Retry-After`, within the policy's
//! budget. The SCIM client and the ACTIVATE client both send through a [`Transport`]; what a
//! status *means* (an error of their API) stays theirs.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::{Pacer, RequestStats, RetryPolicy, retry_after};

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
                let _permit = self.pacer.acquire().await;
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                if let Some(b) = &body {
                    request = request.body(b.clone());
                }
                self.attempt(request).await
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
