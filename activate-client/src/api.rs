//! The HTTP exchange with ACTIVATE: authentication, retries, pacing, accounting and error
//! parsing. Everything above this module sees typed values or an [`Error`].

use std::time::Duration;

use http_transport::{Exchange, Replay, SendError, Transport, error_chain};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::Error;

/// The `Accept` header for JSON routes.
const ACCEPT_JSON: &str = "application/json, application/problem+json";
/// The `Accept` header for the SSH key route (a text body; errors may still be JSON).
pub(crate) const ACCEPT_TEXT: &str = "text/plain, application/json;q=0.5, */*;q=0.1";
/// How many bytes of a non-JSON error body an error message quotes.
const SNIPPET_BYTES: usize = 200;

/// A successful response, read completely.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// The shared HTTP state of an [`crate::ActivateClient`].
#[derive(Debug)]
pub(crate) struct Api {
    /// Pacing, retries, accounting and the body bound (the workspace's one request loop).
    pub(crate) transport: Transport,
    pub(crate) base: Url,
    pub(crate) auth: HeaderValue,
    /// Every form of the credential, redacted from anything shown.
    pub(crate) secrets: Vec<SecretString>,
    pub(crate) timeout: Duration,
}

/// The largest response body read from ACTIVATE: a page of users, or the members of a very
/// large group, is far below it.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Everything but the RFC 3986 unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, percent-encoded.
pub(crate) fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// `.` and `..` (also empty): names no URL can address, since URL parsers resolve dot
/// segments even when percent-encoded (`%2E%2E`).
pub(crate) fn is_dot_segment(segment: &str) -> bool {
    matches!(segment, "" | "." | "..")
}

/// Statuses retried: 429 and the transient 5xx (the official SDK's set).
pub(crate) fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

impl Api {
    /// `base` + `api/<segments...>` + `?query`. Each segment is percent-encoded on its own
    /// (everything but RFC 3986 unreserved characters). Callers reject the dot segments `.`
    /// and `..` first (see [`is_dot_segment`]): URLs cannot carry them, not even encoded.
    pub(crate) fn url(&self, segments: &[&str], query: Option<&str>) -> Url {
        let mut url = self.base.clone();
        let mut path = url.path().trim_end_matches('/').to_owned();
        path.push_str("/api");
        for segment in segments {
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        url.set_path(&path);
        url.set_query(query);
        url
    }

    /// A GET decoded as JSON; decode errors name the JSON path.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, Error> {
        let path = shown_path(&url);
        let fetched = self.get(url, ACCEPT_JSON).await?;
        let de = &mut serde_json::Deserializer::from_slice(&fetched.body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let json_path = e.path().to_string();
            Error::Decode {
                path,
                json_path,
                message: self.redact(&e.inner().to_string()),
            }
        })
    }

    /// A GET with retries on connection errors, timeouts, 429 and transient 5xx (honouring
    /// `Retry-After`), bounded by the retry policy. All GETs are idempotent.
    pub(crate) async fn get(&self, url: Url, accept: &'static str) -> Result<Fetched, Error> {
        let path = shown_path(&url);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        let exchange = Exchange {
            method: Method::GET,
            url,
            headers,
            body: None,
            replay: Replay::Always,
        };
        match self.transport.send(exchange).await {
            Ok(response) if (200..300).contains(&response.status) => {
                let content_type = response
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(Fetched {
                    content_type,
                    body: response.body,
                })
            }
            Ok(response) => {
                Err(self.status_error(response.status, &path, &response.headers, &response.body))
            }
            Err(SendError::Timeout) => Err(Error::Timeout {
                path,
                timeout: self.timeout,
            }),
            Err(SendError::TooLarge { limit }) => Err(Error::Transport {
                path,
                message: format!("the response is larger than {limit} bytes, the most read"),
            }),
            Err(SendError::Transport(e)) => Err(Error::Transport {
                path,
                message: self.redact(&error_chain(&e)),
            }),
            Err(SendError::OutcomeUnknown(reason)) => Err(Error::Transport {
                path,
                message: self.redact(&reason),
            }),
        }
    }

    /// The error for a non-2xx response.
    fn status_error(&self, status: u16, path: &str, headers: &HeaderMap, body: &[u8]) -> Error {
        let parsed = parse_error_body(status, body);
        let message = self.redact(&parsed.message);
        let code = parsed.code.map(|c| self.redact(&c));
        match status {
            401 => Error::Unauthorized {
                status,
                path: path.to_owned(),
                message: format!(
                    "ACTIVATE rejected the API key (HTTP 401 on {path}: {message}): check \
                     ACTIVATE_API_KEY (expired, revoked, or issued by another platform than \
                     {host}; ACTIVATE_API_URL overrides the platform)",
                    host = self.base.host_str().unwrap_or("the configured one"),
                ),
            },
            403 => Error::Unauthorized {
                status,
                path: path.to_owned(),
                message: format!(
                    "ACTIVATE refused {path} (HTTP 403: {message}): the API key is valid but \
                     its user may not read this; check that ACTIVATE_API_KEY belongs to an \
                     administrator of the organization and that ACTIVATE_ORG_NAME names it"
                ),
            },
            300..=399 => Error::Api {
                status,
                path: path.to_owned(),
                code,
                message: format!(
                    "unexpected redirect to {}; set ACTIVATE_API_URL to the platform's final URL",
                    headers
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(|l| self.redact(l))
                        .unwrap_or_else(|| "(no Location)".to_owned())
                ),
            },
            _ => Error::Api {
                status,
                path: path.to_owned(),
                code,
                message,
            },
        }
    }

    /// Replaces every form of the credential in `text`.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }
}

pub(crate) fn redact(text: &str, secrets: &[SecretString]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() && out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

/// The path and query of a URL, for messages (never the host's credentials: there are none).
pub(crate) fn shown_path(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// What an error body says.
#[derive(Debug, PartialEq)]
pub(crate) struct ParsedError {
    pub(crate) message: String,
    pub(crate) code: Option<String>,
}

/// Reads an error body of either documented shape — legacy `{error, message, code, errors}`
/// or RFC 9457 problem+json `{type, title, status, detail, code, errors}` — or, failing that,
/// quotes the first bytes of the raw body (an HTML page from a proxy, plain text).
pub(crate) fn parse_error_body(status: u16, body: &[u8]) -> ParsedError {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |key: &str| {
            map.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let code = match map.get("code") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let main = text("detail")
            .or_else(|| text("message"))
            .or_else(|| text("title"))
            .or_else(|| text("error"));
        let details: Vec<String> = map
            .get("errors")
            .and_then(serde_json::Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| match e {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Object(o) => ["detail", "message"]
                            .iter()
                            .find_map(|k| o.get(*k).and_then(serde_json::Value::as_str))
                            .map(str::to_owned),
                        _ => None,
                    })
                    .take(3)
                    .collect()
            })
            .unwrap_or_default();
        if main.is_some() || !details.is_empty() {
            let mut message = main.unwrap_or_else(|| reason(status).to_owned());
            if !details.is_empty() {
                message.push_str(" (");
                message.push_str(&details.join("; "));
                message.push(')');
            }
            return ParsedError { message, code };
        }
    }
    ParsedError {
        message: snippet(status, body),
        code: None,
    }
}

/// `<reason>: <first bytes of the body, whitespace collapsed>`.
fn snippet(status: u16, body: &[u8]) -> String {
    let cut = &body[..body.len().min(SNIPPET_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        format!("{} (empty body)", reason(status))
    } else if body.len() > SNIPPET_BYTES {
        format!("{}: body starts with {collapsed:?}…", reason(status))
    } else {
        format!("{}: body {collapsed:?}", reason(status))
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_error_shape() {
        let parsed = parse_error_body(
            404,
            br#"{"error":true,"message":"organization not found","code":"not_found","errors":[],"params":{}}"#,
        );
        assert_eq!(parsed.message, "organization not found");
        assert_eq!(parsed.code.as_deref(), Some("not_found"));
    }

    #[test]
    fn problem_json_prefers_detail_and_lists_errors() {
        let parsed = parse_error_body(
            422,
            br#"{"type":"about:blank","title":"Unprocessable","status":422,"detail":"bad skip",
                 "code":"invalid","errors":[{"message":"skip must be >= 0"},"limit too big"]}"#,
        );
        assert_eq!(
            parsed.message,
            "bad skip (skip must be >= 0; limit too big)"
        );
        assert_eq!(parsed.code.as_deref(), Some("invalid"));
        let parsed = parse_error_body(500, br#"{"title":"Internal Server Error","status":500}"#);
        assert_eq!(parsed.message, "Internal Server Error");
    }

    #[test]
    fn html_and_empty_bodies_are_quoted_by_first_bytes() {
        let html = format!(
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>{}</body></html>",
            "x".repeat(500)
        );
        let parsed = parse_error_body(502, html.as_bytes());
        assert!(
            parsed.message.starts_with(
                "Bad Gateway: body starts with \"<html> <head><title>502 Bad Gateway</title>"
            ),
            "{}",
            parsed.message
        );
        assert!(parsed.message.len() < 300);
        assert_eq!(
            parse_error_body(503, b"").message,
            "Service Unavailable (empty body)"
        );
        // JSON that is not an object, or an object without any message field
        assert_eq!(
            parse_error_body(500, b"\"oops\"").message,
            "Internal Server Error: body \"\\\"oops\\\"\""
        );
        assert!(
            parse_error_body(500, b"{\"foo\":1}")
                .message
                .starts_with("Internal Server Error: body")
        );
        // invalid UTF-8 is survived
        assert!(
            parse_error_body(500, &[0xff, 0xfe, b'a'])
                .message
                .contains('a')
        );
    }

    #[test]
    fn segments_are_encoded_alone() {
        assert_eq!(encode_segment("HPC / GPU users"), "HPC%20%2F%20GPU%20users");
        assert_eq!(encode_segment("100% fun?#"), "100%25%20fun%3F%23");
        assert_eq!(encode_segment("Données"), "Donn%C3%A9es");
        assert_eq!(encode_segment("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(encode_segment("..."), "...");
        assert!(is_dot_segment("..") && is_dot_segment(".") && !is_dot_segment("..."));
    }

    #[test]
    fn redaction_replaces_every_form() {
        let secrets = vec![
            SecretString::from("pwt_abc.SECRET"),
            SecretString::from("SECRET"),
        ];
        assert_eq!(
            redact("key pwt_abc.SECRET and SECRET", &secrets),
            "key [redacted] and [redacted]"
        );
    }
}
