//! The crate's error type and the SCIM error response body.

use serde::{Deserialize, Serialize};

use crate::lenient;

/// Everything that can go wrong talking to a SCIM service provider.
///
/// No variant ever carries the bearer token: URLs are the request URLs (the token travels in
/// a header), and server bodies are quoted only as the SCIM `detail` or a short excerpt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (other than 401/403).
    #[error(
        "{method} {url}: server answered {status}{}{}",
        fmt_scim_type(scim_type),
        fmt_detail(detail)
    )]
    Api {
        /// HTTP status.
        status: u16,
        /// SCIM `scimType` (e.g. `uniqueness`, `invalidFilter`), if the body was a SCIM error.
        scim_type: Option<String>,
        /// SCIM `detail`, or an excerpt of a non-SCIM body (e.g. an HTML error page).
        detail: Option<String>,
        /// HTTP method of the request.
        method: String,
        /// Request URL.
        url: String,
    },
    /// 401 or 403: the token is missing, wrong, revoked or lacks permission. Retrying the same
    /// request will not help; check the token.
    #[error(
        "{method} {url}: not authorized ({status}){}; check the SCIM bearer token",
        fmt_detail(detail)
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// SCIM `detail`, if any.
        detail: Option<String>,
        /// HTTP method of the request.
        method: String,
        /// Request URL.
        url: String,
    },
    /// A create (POST) was sent but no answer arrived (timeout, dropped connection, gateway
    /// error): it may or may not have taken effect. It is deliberately not resent; look the
    /// record up (e.g. by `externalId`) before trying again.
    #[error("{method} {url}: outcome unknown ({reason}); look the record up before retrying")]
    OutcomeUnknown {
        /// HTTP method of the request.
        method: String,
        /// Request URL.
        url: String,
        /// What happened instead of an answer.
        reason: String,
    },
    /// The request could not be completed (connection refused, TLS, reset), retries included.
    #[error("{method} {url}: transport error: {}", error_chain(source))]
    Transport {
        /// HTTP method of the request.
        method: String,
        /// Request URL.
        url: String,
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the configured timeout, retries included.
    #[error("{method} {url}: timed out")]
    Timeout {
        /// HTTP method of the request.
        method: String,
        /// Request URL.
        url: String,
    },
    /// A response body did not have the expected shape.
    #[error("{url}: could not decode the response at `{path}`: {message}")]
    Decode {
        /// Request URL.
        url: String,
        /// JSON path of the value that failed (`.` for the document itself).
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A list could not be read completely and consistently (repeated ids, a count that
    /// disagrees with `totalResults`, ...). Never returned as a short result instead.
    #[error("{url}: incomplete list: {message}")]
    Paging {
        /// Request URL of the list.
        url: String,
        /// What was inconsistent.
        message: String,
    },
    /// The server sent more than the client is configured to read: a response above
    /// `max_response_bytes`, or a list above `max_list_records` / `max_list_pages` (or whose
    /// `totalResults` says it would be). Nothing of it is returned.
    #[error("{url}: {message}")]
    LimitExceeded {
        /// Request URL.
        url: String,
        /// Which limit.
        limit: ReadLimit,
        /// What went past it, and by how much.
        message: String,
    },
    /// A plain `http://` URL to a non-loopback host, without `allow_insecure_http(true)`.
    #[error(
        "refusing plain http to {url}: the token would travel in clear text; use https or allow insecure http explicitly"
    )]
    InsecureUrl {
        /// The refused URL.
        url: String,
    },
    /// Invalid configuration or request input (bad URL, bad filter attribute, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
}

use http_transport::error_chain;

fn fmt_scim_type(scim_type: &Option<String>) -> String {
    scim_type
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default()
}

fn fmt_detail(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl Error {
    /// The HTTP status, for errors that came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Unauthorized { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The SCIM `scimType`, if the server sent one.
    pub fn scim_type(&self) -> Option<&str> {
        match self {
            Self::Api { scim_type, .. } => scim_type.as_deref(),
            _ => None,
        }
    }

    /// A uniqueness conflict: 409, with `scimType` `uniqueness` or none at all.
    pub fn is_uniqueness(&self) -> bool {
        matches!(self, Self::Api { status: 409, scim_type, .. }
            if scim_type.as_deref().is_none_or(|t| t.eq_ignore_ascii_case("uniqueness")))
    }

    /// 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The server sent more than the client reads (see [`Error::LimitExceeded`]).
    pub fn is_limit_exceeded(&self) -> bool {
        self.exceeded_limit().is_some()
    }

    /// The limit the server's answer ran into (see [`Error::LimitExceeded`]).
    pub fn exceeded_limit(&self) -> Option<ReadLimit> {
        match self {
            Self::LimitExceeded { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// A write whose outcome is unknown (see [`Error::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. })
    }
}

/// The limit an [`Error::LimitExceeded`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadLimit {
    /// `max_response_bytes`: one response body.
    ResponseBytes,
    /// `max_list_records` (also an absurd `totalResults`).
    ListRecords,
    /// `max_list_pages`.
    ListPages,
}

/// The SCIM error response body (RFC 7644 §3.12).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimErrorBody {
    /// Normally `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub schemas: Vec<String>,
    /// HTTP status; parsed from a JSON string (as the RFC says) or a number (as some servers
    /// send).
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<u64>,
    /// `scimType`, e.g. `uniqueness`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_status_string_or_number() {
        let a: ScimErrorBody =
            serde_json::from_str(r#"{"status":"409","scimType":"uniqueness","detail":"taken"}"#)
                .unwrap();
        let b: ScimErrorBody = serde_json::from_str(r#"{"status":409}"#).unwrap();
        assert_eq!(a.status, Some(409));
        assert_eq!(b.status, Some(409));
        assert_eq!(a.scim_type.as_deref(), Some("uniqueness"));
    }

    #[test]
    fn uniqueness_and_messages() {
        let e = Error::Api {
            status: 409,
            scim_type: Some("uniqueness".into()),
            detail: Some("userName taken".into()),
            method: "POST".into(),
            url: "https://x/Users".into(),
        };
        assert!(e.is_uniqueness());
        assert_eq!(
            e.to_string(),
            "POST https://x/Users: server answered 409 (uniqueness): userName taken"
        );
        let e = Error::Api {
            status: 400,
            scim_type: Some("invalidFilter".into()),
            detail: None,
            method: "GET".into(),
            url: "u".into(),
        };
        assert!(!e.is_uniqueness());
        assert_eq!(e.scim_type(), Some("invalidFilter"));
    }
}
