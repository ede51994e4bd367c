//! Text from a peer (a server's error detail, a record's name) made safe to show: control
//! characters and bidirectional formatting characters become visible escapes, so that no
//! peer can move the cursor, recolour or rewrite the operator's screen, or forge a line.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1), line and paragraph separator and
/// bidirectional formatting character written as `\u{…}` (`\n`, `\r` and `\t` as themselves
/// escaped), except the newlines when `keep_newlines` (text whose lines are the caller's own).
pub fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let hostile = |c: char| is_hostile(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if !hostile(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// The same set `scim-diff` refuses in identifiers (the engine cannot depend on this crate).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_plain_text_is_not_copied() {
        assert!(matches!(
            escape_controls("ada@example.org", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\nc\u{202e}d\0", false),
            "a\\u{1b}[2Jb\\nc\\u{202e}d\\u{0}"
        );
        assert_eq!(escape_controls("line\nnext\r", true), "line\nnext\\r");
    }
}
