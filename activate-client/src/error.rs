//! Errors of the ACTIVATE client.
//!
//! No error ever contains the API key: body excerpts are redacted before they are stored, and
//! URLs never carry credentials.

use std::time::Duration;

/// What went wrong while reading ACTIVATE.
///
/// Any of these fails the whole snapshot; per-user SSH key failures are not errors but
/// warnings in [`crate::Snapshot::warnings`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured (malformed API key, bad URL, bad option).
    #[error("configuration error: {0}")]
    Config(String),

    /// A plain `http://` URL for a host that is not loopback, without explicit permission.
    #[error(
        "refusing plain http:// to {host}: the API key would travel unencrypted; use https:// \
         or allow insecure HTTP explicitly"
    )]
    InsecureUrl {
        /// The host of the refused URL.
        host: String,
    },

    /// 401 or 403: the credentials were rejected; the message says which one to check.
    #[error("{message}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The request path (no host, no credentials).
        path: String,
        /// What to check, plus the server's message.
        message: String,
    },

    /// The API answered with an error status.
    #[error("ACTIVATE answered {path} with HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The request path (no host, no credentials).
        path: String,
        /// The error code from the body (`code`), if any.
        code: Option<String>,
        /// `detail`, else `message`, else `title`, else the first bytes of the raw body.
        message: String,
    },

    /// The request could not be sent or the response could not be read.
    #[error("could not reach ACTIVATE for {path}: {message}")]
    Transport {
        /// The request path.
        path: String,
        /// The underlying error chain.
        message: String,
    },

    /// No response within the configured timeout (after retries).
    #[error("ACTIVATE did not answer {path} within {timeout:?}")]
    Timeout {
        /// The request path.
        path: String,
        /// The per-request timeout.
        timeout: Duration,
    },

    /// A successful response whose body did not have the documented shape.
    #[error("unexpected response body from {path} at `{json_path}`: {message}")]
    Decode {
        /// The request path.
        path: String,
        /// Where in the JSON document decoding failed (`.` for the root).
        json_path: String,
        /// What was wrong.
        message: String,
    },

    /// One user's SSH key listing could not be read (`pw` failed, or the listing was not
    /// `authorized_keys` text). In a snapshot this is a warning, not a failure.
    #[error("could not read the SSH keys of {username}: {message}")]
    KeyFetch {
        /// The user.
        username: String,
        /// Why.
        message: String,
    },

    /// An ACTIVATE export file could not be read or written.
    #[error("ACTIVATE export {path}: {message}")]
    Export {
        /// The file.
        path: String,
        /// Why (for a parse error, with the JSON path).
        message: String,
    },

    /// The directory could not be read consistently (it changed during the walk, pages
    /// disagree, names collide). Retrying later usually helps.
    #[error("inconsistent ACTIVATE listing: {0}")]
    Inconsistent(String),
}

impl Error {
    /// The HTTP status of an API error, if the error came from an HTTP response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. } | Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
