//! SSH public keys: where they come from and how a key listing is read.
//!
//! A listing is `authorized_keys` text. It is kept line by line, as read (trailing whitespace
//! and `\r` trimmed), so the engine's warnings can cite line numbers; blank and `#` comment
//! lines may therefore remain. A listing whose content lines are *all* unparsable (an error
//! page, a CLI usage message, a login prompt) is a failed fetch, never "this user has no keys":
//! reading garbage as an empty key list would revoke the user's access downstream.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use ssh_key::authorized_keys::Entry;

/// Where SSH public keys are read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeySource {
    /// `GET /api/users/{username}/ssh-public-keys` (the default: needs no `pw` binary).
    #[default]
    Rest,
    /// `<path> ssh-public-keys <username>` — the `pw` CLI, as the reference design did.
    PwCli {
        /// The `pw` binary (a bare name is looked up on `PATH`).
        path: PathBuf,
        /// How long one invocation may run before it is killed.
        timeout: Duration,
    },
}

impl KeySource {
    /// The `pw` CLI found on `PATH`, with a 30 s timeout per user.
    pub fn pw_cli() -> Self {
        KeySource::PwCli {
            path: PathBuf::from("pw"),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The most output a key listing may have (1 MiB); more is treated as garbage.
const MAX_LISTING_BYTES: usize = 1 << 20;

/// Reads an `authorized_keys` listing into lines, or says why it is not one.
///
/// - an empty or whitespace-only listing is `Ok(vec![])` (the user has no keys);
/// - lines are kept as read, trailing whitespace trimmed, blank and comment lines included;
/// - if there are content lines but none of them is a valid key entry, the listing is
///   rejected (`Err` with a short description that quotes at most the first 40 characters).
///
/// ```
/// let lines = activate_client::parse_key_listing(
///     "# laptop\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5 ada@laptop\r\n\n",
/// ).unwrap();
/// assert_eq!(lines.len(), 3);
/// assert!(activate_client::parse_key_listing("<html>Bad Gateway</html>").is_err());
/// assert_eq!(activate_client::parse_key_listing(" \n").unwrap(), Vec::<String>::new());
/// ```
pub fn parse_key_listing(text: &str) -> Result<Vec<String>, String> {
    if text.len() > MAX_LISTING_BYTES {
        return Err(format!(
            "the listing is larger than {MAX_LISTING_BYTES} bytes"
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
    let mut content = lines
        .iter()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let Some(first) = content.peek().copied() else {
        return Ok(lines); // comments only: no keys
    };
    if content.any(|l| Entry::from_str(l).is_ok()) {
        return Ok(lines);
    }
    let quoted: String = first.chars().take(40).collect();
    Err(format!(
        "the listing holds no valid authorized_keys entry (first line starts with {quoted:?})"
    ))
}

/// Reads a REST key listing body by its content type: text (the documented shape), a JSON
/// array of lines or a JSON string (tolerated), never HTML.
pub(crate) fn parse_rest_listing(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, String> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "text/html" || media == "application/xhtml+xml" {
        return Err("the response is an HTML page, not a key listing".to_owned());
    }
    let text = std::str::from_utf8(body).map_err(|_| "the listing is not UTF-8 text".to_owned())?;
    if media.ends_with("json") || media.ends_with("+json") {
        if let Ok(lines) = serde_json::from_str::<Option<Vec<String>>>(text) {
            return parse_key_listing(&lines.unwrap_or_default().join("\n"));
        }
        if let Ok(one) = serde_json::from_str::<String>(text) {
            return parse_key_listing(&one);
        }
        return Err("the JSON response is neither a list of keys nor a string".to_owned());
    }
    parse_key_listing(text)
}

/// The most a `pw ssh-public-keys` may print: a user's keys are a few KiB.
const MAX_PW_STDOUT: u64 = 1024 * 1024;
/// How much of its stderr is read (a message quotes the first 200 characters).
const MAX_PW_STDERR: u64 = 64 * 1024;

/// A child's pipe read to its end, or an error past `max` bytes.
async fn read_bounded(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    max: u64,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    if let Some(pipe) = pipe {
        pipe.take(max + 1).read_to_end(&mut out).await?;
    }
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "it printed more than {max} bytes"
        )));
    }
    Ok(out)
}

/// Runs `<pw> ssh-public-keys <username>` and reads its output.
///
/// A non-zero exit, a timeout (the process is killed), output that is not UTF-8 or not a key
/// listing are failures for this user; the message quotes the start of stderr.
pub(crate) async fn pw_listing(
    pw: &Path,
    username: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    if username.starts_with('-') {
        return Err("the username starts with `-` and would be read as an option by pw".to_owned());
    }
    let mut child = tokio::process::Command::new(pw)
        .arg("ssh-public-keys")
        .arg(username)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", pw.display()))?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async {
        // both pipes at once (a child blocked on a full stderr would never finish stdout),
        // each read up to its bound
        let (stdout, stderr) = futures_util::future::join(
            read_bounded(stdout, MAX_PW_STDOUT),
            read_bounded(stderr, MAX_PW_STDERR),
        )
        .await;
        (stdout, stderr, child.wait().await)
    };
    // dropping the future on timeout drops the child, and kill_on_drop kills it
    let output = match tokio::time::timeout(timeout, run).await {
        Ok((Ok(stdout), Ok(stderr), Ok(status))) => std::process::Output {
            status,
            stdout,
            stderr,
        },
        Ok((Err(e), _, _)) => return Err(format!("{} ssh-public-keys: {e}", pw.display())),
        Ok((_, Err(e), _)) | Ok((_, _, Err(e))) => {
            return Err(format!("waiting for {} failed: {e}", pw.display()));
        }
        Err(_) => {
            return Err(format!(
                "{} ssh-public-keys did not finish within {timeout:?} and was killed",
                pw.display()
            ));
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr: String = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let stderr: String = stderr.chars().take(200).collect();
    if !output.status.success() {
        let status = output.status.code().map_or_else(
            || "was killed by a signal".to_owned(),
            |c| format!("exited with status {c}"),
        );
        return Err(if stderr.is_empty() {
            format!("{} ssh-public-keys {status}", pw.display())
        } else {
            format!("{} ssh-public-keys {status}: {stderr}", pw.display())
        });
    }
    let text = std::str::from_utf8(&output.stdout)
        .map_err(|_| format!("{} ssh-public-keys printed non-UTF-8 output", pw.display()))?;
    parse_key_listing(text).map_err(|e| {
        if stderr.is_empty() {
            format!("{} ssh-public-keys: {e}", pw.display())
        } else {
            format!("{} ssh-public-keys: {e}; stderr: {stderr}", pw.display())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJSt33666bCwesSspq0Nn+AxdWR3/rcTxjtij9AZOzZ5 ada@laptop";

    #[test]
    fn keeps_lines_as_read_with_comments_and_blanks() {
        let text = format!("# work keys\r\n\r\n{ED}   \r\n  # old\nnot-a-key AAAA\n");
        let lines = parse_key_listing(&text).unwrap();
        assert_eq!(
            lines,
            vec!["# work keys", "", ED, "  # old", "not-a-key AAAA"]
        );
    }

    #[test]
    fn empty_and_comment_only_listings_mean_no_keys() {
        assert!(parse_key_listing("").unwrap().is_empty());
        assert!(parse_key_listing("\n\r\n  \n").unwrap().is_empty());
        assert_eq!(
            parse_key_listing("# none yet\n").unwrap(),
            vec!["# none yet"]
        );
    }

    #[test]
    fn garbage_is_rejected_not_read_as_no_keys() {
        for garbage in [
            "Error: not logged in, run `pw auth`",
            "<!DOCTYPE html><html><body>login</body></html>",
            "{\"error\":true}",
            "ssh-ed25519 not-base64!!",
        ] {
            let err = parse_key_listing(garbage).unwrap_err();
            assert!(err.contains("no valid authorized_keys entry"), "{err}");
        }
    }

    #[test]
    fn options_prefixed_entries_are_valid() {
        let line = format!("from=\"10.0.0.0/8\",no-pty {ED}");
        assert_eq!(parse_key_listing(&line).unwrap(), vec![line]);
    }

    #[test]
    fn rest_listing_by_content_type() {
        assert!(parse_rest_listing(Some("text/html; charset=utf-8"), ED.as_bytes()).is_err());
        assert_eq!(
            parse_rest_listing(Some("text/plain"), ED.as_bytes()).unwrap(),
            vec![ED]
        );
        assert_eq!(parse_rest_listing(None, b"").unwrap(), Vec::<String>::new());
        let json = serde_json::to_vec(&vec![ED]).unwrap();
        assert_eq!(
            parse_rest_listing(Some("application/json"), &json).unwrap(),
            vec![ED]
        );
        assert_eq!(
            parse_rest_listing(Some("application/json"), b"null").unwrap(),
            Vec::<String>::new()
        );
        assert!(parse_rest_listing(Some("application/json"), b"{\"keys\":1}").is_err());
        assert!(parse_rest_listing(Some("text/plain"), &[0xff, 0xfe]).is_err());
    }
}
