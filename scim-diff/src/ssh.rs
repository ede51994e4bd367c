//! SSH public key normalisation (parsed with the `ssh-key` crate, never with a regex).

use std::borrow::Cow;
use std::str::FromStr;

/// One parsed OpenSSH public key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NormalizedKey {
    /// `"<type> <base64>"`: what two keys are compared by.
    pub key: String,
    /// The comment (kept when writing, never compared); may be empty.
    pub comment: String,
}

/// A parsed key borrowing from the line it was read from (the common, plain line borrows
/// entirely): what the planner keeps for every source user without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRef<'a> {
    /// `"<type> <base64>"`.
    pub(crate) key: Cow<'a, str>,
    /// The comment, trimmed; may be empty.
    pub(crate) comment: Cow<'a, str>,
}

impl AsRef<str> for KeyRef<'_> {
    /// The comparison form, `"<type> <base64>"` (what [`keys_match`] compares).
    fn as_ref(&self) -> &str {
        &self.key
    }
}

impl<'a> KeyRef<'a> {
    /// Parses one `authorized_keys` line (options, if any, are dropped).
    pub(crate) fn parse(line: &'a str) -> Result<Self, String> {
        let line = line.trim();
        if let Some(k) = Self::parse_plain(line) {
            return Ok(k);
        }
        Self::parse_full(line)
    }

    /// [`parse`](Self::parse) without the fast path.
    fn parse_full(line: &'a str) -> Result<Self, String> {
        let line = line.trim();
        // A plain "<type> <base64> [comment]" line parses as a key directly; `Entry` (which
        // also accepts options) is the fallback and gives the error message.
        let parsed = match ssh_key::PublicKey::from_openssh(line) {
            Ok(k) if line.contains(' ') => k,
            _ => ssh_key::authorized_keys::Entry::from_str(line)
                .map_err(|e| e.to_string())?
                .public_key()
                .clone(),
        };
        // The common, plain line that parsed: its first two tokens are the normal form and
        // the rest is the comment. Anything else (options, odd spacing) is re-encoded.
        let mut tokens = line.splitn(3, char::is_whitespace);
        if let (Some(t), Some(b64)) = (tokens.next(), tokens.next())
            && t == parsed.algorithm().as_str()
            && !b64.is_empty()
        {
            let comment = tokens.next().unwrap_or("").trim();
            if comment == parsed.comment().trim() {
                return Ok(Self {
                    key: Cow::Borrowed(&line[..t.len() + 1 + b64.len()]),
                    comment: Cow::Borrowed(comment),
                });
            }
        }
        let comment = parsed.comment().trim().to_owned();
        let mut key = parsed;
        key.set_comment("");
        let bare = key.to_openssh().map_err(|e| e.to_string())?;
        Ok(Self {
            key: Cow::Owned(bare.trim().to_owned()),
            comment: Cow::Owned(comment),
        })
    }

    /// The common line, `"<type> <base64>[ <comment>]"`, checked as `PublicKey::from_openssh`
    /// checks it (the same binary decoding, the type named in the text must be the key's)
    /// without its streaming decoder and copies: a quarter of the planning time at 100k
    /// users was spent there. `None`: anything else, left to the full parser (which also
    /// gives the error message).
    ///
    /// The Base64 is decoded with the `base64` crate's standard engine, which accepts a
    /// subset of what `ssh-key`'s decoder (`base64ct`, constant-time and two to three times
    /// slower) accepts: canonical, padded text only. Whatever it rejects goes to the full
    /// parser, so both paths accept the same lines (see the tests).
    fn parse_plain(line: &'a str) -> Option<Self> {
        use base64::Engine as _;
        let (t, rest) = line.split_once(' ')?;
        let (b64, comment) = rest.split_once(' ').unwrap_or((rest, ""));
        // on the stack for the usual key (an Ed25519 or ECDSA blob is under 200 bytes, an
        // RSA-2048 one 279)
        let mut small = [0u8; 384];
        let mut large = Vec::new();
        let room = b64.len().div_ceil(4) * 3;
        let buf: &mut [u8] = if room <= small.len() {
            &mut small
        } else {
            large.resize(room, 0);
            &mut large
        };
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(b64, buf)
            .ok()?;
        let key = ssh_key::PublicKey::from_bytes(&buf[..n]).ok()?;
        (!t.is_empty() && key.algorithm().as_str() == t).then(|| Self {
            key: Cow::Borrowed(&line[..t.len() + 1 + b64.len()]),
            comment: Cow::Borrowed(comment.trim()),
        })
    }

    /// The line to write: `"<type> <base64> <comment>"` (no trailing space without a comment).
    pub(crate) fn line(&self) -> String {
        let mut line = String::with_capacity(self.key.len() + 1 + self.comment.len());
        line.push_str(&self.key);
        if !self.comment.is_empty() {
            line.push(' ');
            line.push_str(&self.comment);
        }
        line
    }
}

impl NormalizedKey {
    /// Parses one `authorized_keys` line (options, if any, are dropped).
    pub fn parse(line: &str) -> Result<Self, String> {
        KeyRef::parse(line).map(|k| Self {
            key: k.key.into_owned(),
            comment: k.comment.into_owned(),
        })
    }

    /// The line to write: `"<type> <base64> <comment>"` (no trailing space without a comment).
    pub fn line(&self) -> String {
        self.clone().into_line()
    }

    #[cfg(test)]
    fn parse_full(line: &str) -> Result<Self, String> {
        KeyRef::parse_full(line).map(|k| Self {
            key: k.key.into_owned(),
            comment: k.comment.into_owned(),
        })
    }

    /// [`line`](Self::line), reusing this key's buffer.
    pub fn into_line(self) -> String {
        let mut line = self.key;
        if !self.comment.is_empty() {
            line.push(' ');
            line.push_str(&self.comment);
        }
        line
    }
}

/// [`normalize_keys`], borrowing from `lines`.
pub(crate) fn normalize_key_refs(lines: &[String]) -> (Vec<KeyRef<'_>>, Vec<(usize, String)>) {
    let mut keys = Vec::with_capacity(lines.len());
    let mut invalid = Vec::new();
    normalize_key_refs_into(lines, &mut keys, |line, e| invalid.push((line, e)));
    (keys, invalid)
}

/// [`normalize_key_refs`], appending the keys to `keys` (de-duplicated and sorted among
/// themselves) and handing each invalid line to `invalid`.
pub(crate) fn normalize_key_refs_into<'l>(
    lines: &'l [String],
    keys: &mut Vec<KeyRef<'l>>,
    mut invalid: impl FnMut(usize, String),
) {
    let start = keys.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // the plain fast path has decoded the type and the Base64 (neither can hold a
        // control byte), so only its comment needs a look; a line left to the full parser is
        // looked at whole, before it is parsed
        let parsed = match KeyRef::parse_plain(t) {
            Some(k) => (!has_control_bytes(&k.comment)).then_some(Ok(k)),
            None => (!has_control_bytes(t)).then(|| KeyRef::parse_full(t)),
        };
        let Some(parsed) = parsed else {
            invalid(
                i + 1,
                "it holds a line break or another control character, so it is not one \
                 authorized_keys line"
                    .to_owned(),
            );
            continue;
        };
        match parsed {
            Ok(k) => {
                if !keys[start..].iter().any(|seen| seen.key == k.key) {
                    keys.push(k);
                }
            }
            Err(e) => invalid(i + 1, e),
        }
    }
    keys[start..].sort_by(|a, b| a.key.cmp(&b.key));
}

/// Whether a key value holds a control character (C0 but tab, DEL, C1): a value with a line
/// break inside would become two `authorized_keys` lines downstream, the second never
/// checked. Sources that give keys as array elements (an export file, a SCIM directory)
/// cannot be trusted to have split them.
fn has_control_bytes(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        (b < 0x20 && b != b'\t')
            || b == 0x7f
            // C1 controls, U+0080..U+009F, are 0xC2 0x80..=0x9F in UTF-8
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// Parses, normalises, de-duplicates (by type and base64, keeping the first comment seen)
/// and sorts a user's key lines. Blank and `#` lines are skipped; each invalid line is
/// returned as `(line number, error)` (1-based).
pub fn normalize_keys(lines: &[String]) -> (Vec<NormalizedKey>, Vec<(usize, String)>) {
    let (keys, invalid) = normalize_key_refs(lines);
    let keys = keys
        .into_iter()
        .map(|k| NormalizedKey {
            key: k.key.into_owned(),
            comment: k.comment.into_owned(),
        })
        .collect();
    (keys, invalid)
}

/// The byte range of `"<type> <base64>"` at the start of a key line (after any leading
/// whitespace, as `char::is_whitespace` defines it); `None` without a second token.
fn bare(l: &str) -> Option<(usize, usize)> {
    if !l.is_ascii() {
        return bare_chars(l);
    }
    // the same on bytes: the ASCII characters `char::is_whitespace` accepts
    let b = l.as_bytes();
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let start = b.iter().position(|c| !ws(c))?;
    let first = start + b[start..].iter().position(ws)?;
    let b64_start = first
        + b[first..]
            .iter()
            .position(|c| !ws(c))
            .unwrap_or(b.len() - first);
    let b64_end = b64_start
        + b[b64_start..]
            .iter()
            .position(ws)
            .unwrap_or(b.len() - b64_start);
    Some((start, b64_end))
}

/// [`bare`] on any text, by characters.
fn bare_chars(l: &str) -> Option<(usize, usize)> {
    let t = l.trim_start();
    let start = l.len() - t.len();
    let first = t.find(char::is_whitespace)?;
    let rest = &t[first..];
    let b64_start = first + (rest.len() - rest.trim_start().len());
    let b64_len = t[b64_start..]
        .find(char::is_whitespace)
        .unwrap_or(t.len() - b64_start);
    Some((start, start + b64_start + b64_len))
}

/// Whether the keys a target holds equal `desired` (normalised lines, as produced by
/// [`normalize_keys`], or their `"<type> <base64>"` part), comparing type and base64 only.
/// A cheap textual comparison decides the common case; only when it differs are the
/// target's lines parsed.
pub fn keys_match<S: AsRef<str>>(target: &[String], desired: &[S]) -> bool {
    // fast path: the same lines in the same order (what this syncer writes)
    if target.len() == desired.len()
        && target
            .iter()
            .zip(desired)
            .all(|(t, d)| match (bare(t), bare(d.as_ref())) {
                (Some((a, b)), Some((c, e))) => t[a..b] == d.as_ref()[c..e],
                _ => false,
            })
    {
        return true;
    }
    let mut want: Vec<&str> = desired
        .iter()
        .map(AsRef::as_ref)
        .filter_map(|l| bare(l).map(|(a, b)| &l[a..b]))
        .collect();
    want.sort_unstable();
    want.dedup();
    let mut have: Vec<&str> = Vec::with_capacity(target.len());
    for l in target {
        match bare(l) {
            Some((a, b)) => have.push(&l[a..b]),
            None => return comparable_target_keys(target) == comparable_target_keys(desired),
        }
    }
    have.sort_unstable();
    have.dedup();
    if have == want {
        // the desired lines are canonical and valid, so equal text is an equal key set
        return true;
    }
    comparable_target_keys(target) == comparable_target_keys(desired)
}

/// The comparison form of keys the target holds: the `"<type> <base64>"` of each line that
/// parses (a line that does not parse is compared as written), sorted and de-duplicated.
pub fn comparable_target_keys<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .map(AsRef::as_ref)
        .map(|l| {
            NormalizedKey::parse(l)
                .map(|k| k.key)
                .unwrap_or_else(|_| l.trim().to_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bare_on_bytes_agrees_with_bare_on_chars() {
        let parts = [
            "",
            " ",
            "\t",
            "\x0B",
            "\x0C",
            "\r\n",
            "\x1C",
            "a",
            "ssh-ed25519",
            "AAAA+/=",
            "c",
        ];
        let mut n = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in parts {
                        let line = format!("{a}{b}{c}{d}");
                        assert_eq!(super::bare(&line), super::bare_chars(&line), "{line:?}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 11 * 11 * 11 * 11);
        // not ASCII: the character version decides (U+2003 EM SPACE is whitespace)
        assert_eq!(super::bare("t\u{2003}k c"), Some((0, 5)));
    }

    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn comment_is_kept_but_not_compared_and_duplicates_collapse() {
        let lines = vec![
            format!("{ED} ada@laptop"),
            String::new(),
            "# a comment line".into(),
            format!("  {ED}   other-comment  "),
            "ssh-rsa not-base64!!".into(),
        ];
        let (keys, invalid) = normalize_keys(&lines);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key, ED);
        assert_eq!(keys[0].line(), format!("{ED} ada@laptop"));
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].0, 5, "line numbers are 1-based");
        assert_eq!(
            comparable_target_keys(&[format!("{ED} x")]),
            vec![ED.to_owned()]
        );
    }

    /// The fast path for plain lines accepts exactly what the full parser accepts, and gives
    /// the same normal form, for every key type in the sample organisation and for broken
    /// variants of each.
    #[test]
    fn the_plain_line_fast_path_agrees_with_the_full_parser() {
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/sample-org.json")).unwrap();
        let mut lines: Vec<String> = sample["users"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|u| u["sshKeys"].as_array().cloned().unwrap_or_default())
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let types: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.split(' ').next()).collect();
        assert!(types.len() >= 5, "every key type is covered: {types:?}");
        for l in lines.clone() {
            let Some((t, rest)) = l.split_once(' ') else {
                continue; // the sample's deliberately broken lines are in `lines` already
            };
            let (b64, _) = rest.split_once(' ').unwrap_or((rest, ""));
            lines.push(format!("{t} {b64}")); // no comment
            lines.push(format!("{t} {b64}   spaced  comment ")); // odd spacing
            lines.push(format!("ssh-dss {b64} wrong type"));
            lines.push(format!("{t} {}", &b64[..b64.len().saturating_sub(4)])); // truncated
            lines.push(format!("{t} {b64}A")); // trailing data
            lines.push(format!("{t}  {b64}")); // two spaces
            lines.push(format!("no-pty {t} {b64} with options"));
            if let Some(data) = b64.strip_suffix('=') {
                let data = data.trim_end_matches('=');
                lines.push(format!("{t} {data}")); // padding dropped
                lines.push(format!("{t} {b64}=")); // padding added
                // the last symbol's unused bits set: decodes, but not canonically
                lines.push(format!(
                    "{t} {}/{} c",
                    &data[..data.len() - 1],
                    &b64[data.len()..]
                ));
            }
        }
        let mut fast_accepted = 0;
        for l in &lines {
            let full = NormalizedKey::parse_full(l);
            let fast = KeyRef::parse_plain(l.trim());
            fast_accepted += usize::from(fast.is_some());
            match (&full, &fast) {
                (Ok(f), Some(k)) => {
                    assert_eq!(
                        (f.key.as_str(), f.comment.as_str()),
                        (&*k.key, &*k.comment),
                        "{l}"
                    );
                }
                (_, None) => {} // left to the full parser
                (Err(e), Some(_)) => panic!("the fast path accepts {l:?}, the parser says {e}"),
            }
            assert_eq!(NormalizedKey::parse(l), full, "{l}");
        }
        // the sample's valid keys, each bare and with odd spacing in the comment
        assert!(
            fast_accepted >= 3 * 40,
            "the fast path takes the common lines: {fast_accepted}"
        );
    }

    proptest::proptest! {
        /// The fast path's Base64 decoder never accepts what `ssh-key`'s rejects, and both
        /// give the same bytes.
        #[test]
        fn the_fast_base64_decoder_accepts_a_subset(text in "[A-Za-z0-9+/=_ -]{0,16}") {
            use base64::Engine as _;
            use base64ct::Encoding as _;
            if let Ok(fast) = base64::engine::general_purpose::STANDARD.decode(&text) {
                let reference = base64ct::Base64::decode_vec(&text);
                proptest::prop_assert_eq!(Ok(fast), reference, "{:?}", text);
            }
        }
    }

    #[test]
    fn options_are_dropped() {
        let k = NormalizedKey::parse(&format!("no-pty {ED} c")).unwrap();
        assert_eq!(k.key, ED);
        assert_eq!(k.comment, "c");
    }
}
