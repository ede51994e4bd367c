//! The ACTIVATE API key: where it points and how it is sent.
//!
//! An API key looks like `pwt_<base64url(platform host)>.<secret>`. The host part is base64url
//! (padding optional), with standard base64 accepted as a fallback, so the platform's base URL
//! can be derived from the key alone. The key is sent as HTTP Basic with the key as user name
//! and an empty password.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::Error;

/// The prefix of an ACTIVATE API key.
pub const API_KEY_PREFIX: &str = "pwt_";

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// Derives the platform's base URL (`https://<host>/`) from an API key.
///
/// Errors are [`Error::Config`] and never contain any part of the key.
///
/// ```
/// use secrecy::SecretString;
/// // base64url("activate.parallel.works") without padding
/// let key = SecretString::from("pwt_YWN0aXZhdGUucGFyYWxsZWwud29ya3M.s3cr3t");
/// let url = activate_client::base_url_from_api_key(&key).unwrap();
/// assert_eq!(url.as_str(), "https://activate.parallel.works/");
/// ```
pub fn base_url_from_api_key(key: &SecretString) -> Result<Url, Error> {
    let host = host_from_api_key(key.expose_secret().trim())?;
    Url::parse(&format!("https://{host}/"))
        .map_err(|_| malformed("the encoded host is not a valid host name"))
}

/// The base URL of the organization's read-only SCIM 2.0 API on the platform at `platform`
/// (`https://<host>/api/organizations/<org>/scim/v2`; the organization is one
/// percent-encoded path segment, whatever it holds).
///
/// ```
/// let platform = url::Url::parse("https://pw.example/").unwrap();
/// let url = activate_client::scim_api_url(&platform, "acme labs/x").unwrap();
/// assert_eq!(url.as_str(), "https://pw.example/api/organizations/acme%20labs%2Fx/scim/v2");
/// ```
pub fn scim_api_url(platform: &Url, org: &str) -> Result<Url, Error> {
    let mut url = platform.clone();
    url.path_segments_mut()
        .map_err(|()| Error::Config(format!("`{platform}` cannot be a base URL")))?
        .pop_if_empty()
        .extend(["api", "organizations", org, "scim", "v2"]);
    Ok(url)
}

fn malformed(why: &str) -> Error {
    Error::Config(format!(
        "the ACTIVATE API key is malformed ({why}); expected `pwt_<base64url host>.<secret>`: \
         check ACTIVATE_API_KEY, or set ACTIVATE_API_URL to the platform URL"
    ))
}

fn host_from_api_key(key: &str) -> Result<String, Error> {
    let rest = key
        .strip_prefix(API_KEY_PREFIX)
        .ok_or_else(|| malformed("it does not start with `pwt_`"))?;
    let (encoded, secret) = rest
        .split_once('.')
        .ok_or_else(|| malformed("there is no `.` between the host and the secret"))?;
    if secret.is_empty() {
        return Err(malformed("the secret after the `.` is empty"));
    }
    if encoded.is_empty() {
        return Err(malformed("the host part between `pwt_` and `.` is empty"));
    }
    let bytes = URL_SAFE_LENIENT
        .decode(encoded)
        .or_else(|_| STANDARD_LENIENT.decode(encoded))
        .map_err(|_| malformed("the host part is neither base64url nor base64"))?;
    let host =
        String::from_utf8(bytes).map_err(|_| malformed("the decoded host is not UTF-8 text"))?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']' | '_'));
    if !valid {
        return Err(malformed("the decoded host is not a valid host name"));
    }
    let url = Url::parse(&format!("https://{host}/"))
        .map_err(|_| malformed("the decoded host is not a valid host name"))?;
    if url.host_str().is_none_or(str::is_empty) || url.path() != "/" {
        return Err(malformed("the decoded host is not a valid host name"));
    }
    Ok(host)
}

/// The `Authorization: Basic base64("<key>:")` header value, marked sensitive so that it is
/// never shown by `Debug`.
pub(crate) fn basic_auth_header(key: &SecretString) -> Result<HeaderValue, Error> {
    let key = key.expose_secret().trim();
    if key.is_empty() {
        return Err(Error::Config(
            "the ACTIVATE API key is empty: set ACTIVATE_API_KEY".to_owned(),
        ));
    }
    if key.contains(':') || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(malformed(
            "it contains `:`, whitespace or control characters",
        ));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| malformed("it cannot be sent in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Strings that must never appear in anything this crate shows: the key, its secret part
/// and the Basic credential.
pub(crate) fn secret_forms(key: &SecretString) -> Vec<SecretString> {
    let key = key.expose_secret().trim();
    let mut forms = vec![SecretString::from(key.to_owned())];
    if let Some((_, secret)) = key.split_once('.')
        && secret.len() >= 4
    {
        forms.push(SecretString::from(secret.to_owned()));
    }
    forms.push(SecretString::from(
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:")),
    ));
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn b64url(host: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(host)
    }

    #[test]
    fn derives_host_from_base64url_with_or_without_padding() {
        // "cloud.parallel.works" is 20 bytes: base64 needs one `=` of padding
        let unpadded = b64url("cloud.parallel.works");
        assert!(!unpadded.ends_with('='));
        for encoded in [unpadded.clone(), format!("{unpadded}=")] {
            let url = base_url_from_api_key(&key(&format!("pwt_{encoded}.abc"))).unwrap();
            assert_eq!(url.as_str(), "https://cloud.parallel.works/");
        }
    }

    #[test]
    fn falls_back_to_standard_base64() {
        // an internationalised host whose standard encoding contains `+`, which base64url lacks
        let std = base64::engine::general_purpose::STANDARD.encode("c中.example.com");
        assert!(std.contains('+'), "{std}");
        let url = base_url_from_api_key(&key(&format!("pwt_{std}.abc"))).unwrap();
        assert_eq!(url.host_str(), Some("xn--c-lq6a.example.com"));
        let std = base64::engine::general_purpose::STANDARD.encode("platform-1.example.com:8443");
        let url = base_url_from_api_key(&key(&format!("pwt_{std}.abc"))).unwrap();
        assert_eq!(url.as_str(), "https://platform-1.example.com:8443/");
    }

    #[test]
    fn malformed_keys_are_config_errors_without_the_secret() {
        let host = b64url("activate.parallel.works");
        let cases = [
            "SUPERSECRETVALUE".to_owned(),
            "pwt_SUPERSECRETVALUE".to_owned(),
            format!("pwt_{host}."),
            "pwt_.SUPERSECRETVALUE".to_owned(),
            "pwt_!!!notbase64!!!.SUPERSECRETVALUE".to_owned(),
            format!("pwt_{}.SUPERSECRETVALUE", b64url("bad host/with path")),
        ];
        for case in cases {
            let err = base_url_from_api_key(&key(&case)).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{case}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("SUPERSECRETVALUE"), "{shown}");
            assert!(!shown.contains(&host), "{shown}");
            assert!(shown.contains("ACTIVATE_API_KEY"), "{shown}");
        }
    }

    #[test]
    fn basic_header_is_key_colon_empty_password_and_sensitive() {
        let value = basic_auth_header(&key(" pwt_abc.def\n")).unwrap();
        assert!(value.is_sensitive());
        let expected = base64::engine::general_purpose::STANDARD.encode("pwt_abc.def:");
        assert_eq!(value.to_str().unwrap(), format!("Basic {expected}"));
        assert!(!format!("{value:?}").contains(&expected));
        assert!(basic_auth_header(&key("  ")).is_err());
        assert!(basic_auth_header(&key("a:b")).is_err());
    }
}
