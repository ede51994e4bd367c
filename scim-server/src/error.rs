//! Errors: the SCIM protocol error a request answers with ([`ScimError`]) and the error of
//! starting or persisting the server ([`Error`]).

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A SCIM error response (RFC 7644 §3.12): HTTP status, optional `scimType`, `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.unwrap_or("-"))]
pub struct ScimError {
    /// HTTP status code.
    pub status: u16,
    /// The RFC 7644 `scimType` (`invalidFilter`, `uniqueness`, `noTarget`, ...).
    pub scim_type: Option<&'static str>,
    /// Human-readable detail.
    pub detail: String,
}

impl ScimError {
    /// A 400 with a `scimType`.
    pub fn bad_request(scim_type: &'static str, detail: String) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail,
        }
    }
    /// An error with a status and no `scimType`.
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }
    /// 404 for a resource id.
    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::status(404, format!("{what} '{id}' not found"))
    }
    /// 409 uniqueness.
    pub(crate) fn uniqueness(detail: String) -> Self {
        Self {
            status: 409,
            scim_type: Some("uniqueness"),
            detail,
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        let mut v = json!({
            "schemas": [crate::schema::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            v["scimType"] = t.into();
        }
        v
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = (status, self.body().to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::http::SCIM_JSON),
        );
        if self.status == 401 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        r
    }
}

/// Errors of starting, stopping or persisting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The persistence file could not be read or written.
    #[error("cannot use the store file {path}: {source}")]
    PersistIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The persistence file is not a store this server wrote.
    #[error("the store file {path} is not valid: {source}")]
    PersistFormat {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The tokens (file) could not be used.
    #[error(transparent)]
    Tokens(#[from] crate::policy::TokensError),
    /// A record given to the store is not usable.
    #[error("invalid record: {0}")]
    Record(#[from] ScimError),
}
