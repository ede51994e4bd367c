//! What a base URL must be before a client sends a credential to it: absolute `http(s)` with
//! a host, and `https` unless the host is loopback or plain http was allowed (a test server).

/// Why a base URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Not `http://` or `https://`.
    #[error("`{0}` is not an http(s) URL (expected e.g. https://host/path)")]
    NotHttp(String),
    /// Plain `http://` to a host that is not loopback, not allowed.
    #[error("`{0}` is plain http; use https")]
    PlainHttp(String),
    /// No host, or a host with whitespace in it.
    #[error("`{0}` has no valid host")]
    NoHost(String),
}

/// Checks `url` as a client's base URL and returns it without its trailing `/`.
///
/// ```
/// use http_transport::{BaseUrlError, check_base_url};
/// assert_eq!(check_base_url("https://h/scim/", false).unwrap(), "https://h/scim");
/// assert_eq!(check_base_url("http://127.0.0.1:8080", false).unwrap(), "http://127.0.0.1:8080");
/// assert!(matches!(check_base_url("http://h", false), Err(BaseUrlError::PlainHttp(_))));
/// assert!(check_base_url("http://h", true).is_ok());
/// assert!(matches!(check_base_url("ftp://h", true), Err(BaseUrlError::NotHttp(_))));
/// ```
pub fn check_base_url(url: &str, allow_insecure_http: bool) -> Result<String, BaseUrlError> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_insecure_http && !is_loopback(rest) {
            return Err(BaseUrlError::PlainHttp(url.to_owned()));
        }
        rest
    } else {
        return Err(BaseUrlError::NotHttp(url.to_owned()));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(BaseUrlError::NoHost(url.to_owned()));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whether the authority at the start of `rest` (what follows `http://`) is a loopback host.
fn is_loopback(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
