//! A typed SCIM filter builder (RFC 7644 §3.4.2.2) that quotes and escapes values itself.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Characters escaped in a query value: everything except RFC 3986 unreserved characters,
/// so spaces become `%20` (never `+`) and `"`, `\`, `&`, `=`, `#`, `+` are always encoded.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A SCIM filter expression. Build it with the constructors and combinators; its `Display`
/// is the filter text with every value rendered as a JSON literal (strings quoted, `"` and
/// `\` escaped), so user input can never change the filter's structure.
///
/// ```
/// use scim_client::Filter;
/// let f = Filter::sw("externalId", "pw-activate:").and(Filter::eq("active", true));
/// assert_eq!(f.to_string(), r#"externalId sw "pw-activate:" and active eq true"#);
/// let tricky = Filter::eq("userName", r#"a"b\c"#);
/// assert_eq!(tricky.to_string(), r#"userName eq "a\"b\\c""#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`
    Compare {
        /// Attribute path, e.g. `userName`, `name.familyName`, `urn:...:User:employeeNumber`.
        attr: String,
        /// Operator.
        op: CompareOp,
        /// Value (string, number, boolean or null).
        value: Value,
    },
    /// `attr pr`
    Present(String),
    /// `left and right`
    And(Box<Filter>, Box<Filter>),
    /// `left or right`
    Or(Box<Filter>, Box<Filter>),
    /// `not (inner)`
    Not(Box<Filter>),
}

impl Filter {
    /// `attr op value`.
    pub fn compare(attr: impl Into<String>, op: CompareOp, value: impl Into<Value>) -> Self {
        Self::Compare {
            attr: attr.into(),
            op,
            value: value.into(),
        }
    }

    /// `attr eq value`.
    pub fn eq(attr: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::compare(attr, CompareOp::Eq, value)
    }

    /// `attr ne value`.
    pub fn ne(attr: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::compare(attr, CompareOp::Ne, value)
    }

    /// `attr co value`.
    pub fn co(attr: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::compare(attr, CompareOp::Co, value)
    }

    /// `attr sw value`.
    pub fn sw(attr: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::compare(attr, CompareOp::Sw, value)
    }

    /// `attr ew value`.
    pub fn ew(attr: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::compare(attr, CompareOp::Ew, value)
    }

    /// `attr pr`.
    pub fn present(attr: impl Into<String>) -> Self {
        Self::Present(attr.into())
    }

    /// `self and other`.
    pub fn and(self, other: Filter) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }

    /// `self or other`.
    pub fn or(self, other: Filter) -> Self {
        Self::Or(Box::new(self), Box::new(other))
    }

    /// `not (self)`. (Named `negate` so it does not shadow `std::ops::Not`.)
    pub fn negate(self) -> Self {
        Self::Not(Box::new(self))
    }

    /// The filter text, percent-encoded for a query string (spaces as `%20`).
    pub fn url_encoded(&self) -> String {
        utf8_percent_encode(&self.to_string(), QUERY_VALUE).to_string()
    }

    /// Checks that every attribute path is well formed (letters, digits, `_`, `-`, `$`, dots
    /// between sub-attributes, an optional `urn:...:` prefix), so that a caller-supplied
    /// attribute name cannot inject filter syntax.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Compare { attr, value, .. } => {
                check_attr_path(attr)?;
                if value.is_array() || value.is_object() {
                    return Err(format!("filter value for {attr} must be a scalar"));
                }
                Ok(())
            }
            Self::Present(attr) => check_attr_path(attr),
            Self::And(a, b) | Self::Or(a, b) => {
                a.validate()?;
                b.validate()
            }
            Self::Not(a) => a.validate(),
        }
    }
}

fn check_attr_path(path: &str) -> Result<(), String> {
    // an optional URN prefix ending in ':', then attr(.subAttr)?
    let (urn, rest) = match path.rfind(':') {
        Some(i) if path[..i].to_ascii_lowercase().starts_with("urn:") => {
            (&path[..i], &path[i + 1..])
        }
        _ => ("", path),
    };
    let urn_ok = urn
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_'));
    let name_ok = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    };
    let parts: Vec<&str> = rest.split('.').collect();
    if urn_ok && parts.len() <= 2 && parts.iter().all(|p| name_ok(p)) {
        Ok(())
    } else {
        Err(format!("invalid attribute path in filter: {path:?}"))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { attr, op, value } => {
                // serde_json renders strings as JSON literals: quotes, `\`, control
                // characters are escaped as SCIM (RFC 7644 §3.4.2.2) requires
                write!(f, "{attr} {} {value}", op.as_str())
            }
            Self::Present(attr) => write!(f, "{attr} pr"),
            Self::And(a, b) => {
                write_operand(f, a, true)?;
                f.write_str(" and ")?;
                write_operand(f, b, true)
            }
            Self::Or(a, b) => {
                write_operand(f, a, false)?;
                f.write_str(" or ")?;
                write_operand(f, b, false)
            }
            Self::Not(a) => write!(f, "not ({a})"),
        }
    }
}

/// Parenthesises an `or` inside an `and` (and an `and` inside an `or`, for readability).
fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, in_and: bool) -> fmt::Result {
    match operand {
        Filter::Or(..) if in_and => write!(f, "({operand})"),
        Filter::And(..) if !in_and => write!(f, "({operand})"),
        _ => write!(f, "{operand}"),
    }
}

/// The value-filter path selecting one member by id, for PATCH `remove`:
/// `members[value eq "<id>"]`, with the id escaped.
pub fn member_value_path(id: &str) -> String {
    format!("members[{}]", Filter::eq("value", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_backslashes() {
        let f = Filter::eq("userName", "a\"b\\c");
        assert_eq!(f.to_string(), r#"userName eq "a\"b\\c""#);
        assert_eq!(f.url_encoded(), "userName%20eq%20%22a%5C%22b%5C%5Cc%22");
        let injection = Filter::eq("userName", "x\" or userName pr or userName eq \"y");
        assert_eq!(
            injection.to_string(),
            r#"userName eq "x\" or userName pr or userName eq \"y""#
        );
    }

    #[test]
    fn precedence_is_explicit() {
        let f = Filter::eq("a", 1)
            .or(Filter::eq("b", true))
            .and(Filter::present("c"));
        assert_eq!(f.to_string(), "(a eq 1 or b eq true) and c pr");
        let g = Filter::eq("a", "x")
            .and(Filter::eq("b", "y"))
            .or(Filter::ne("c", Value::Null));
        assert_eq!(g.to_string(), r#"(a eq "x" and b eq "y") or c ne null"#);
        assert_eq!(
            Filter::sw("externalId", "p").negate().to_string(),
            r#"not (externalId sw "p")"#
        );
    }

    #[test]
    fn plus_and_ampersand_are_encoded() {
        assert_eq!(
            Filter::eq("emails.value", "a+b&c=d#").url_encoded(),
            "emails.value%20eq%20%22a%2Bb%26c%3Dd%23%22"
        );
    }

    #[test]
    fn attribute_paths_are_validated() {
        assert!(Filter::eq("userName", "x").validate().is_ok());
        assert!(Filter::eq("name.familyName", "x").validate().is_ok());
        assert!(
            Filter::eq(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "7"
            )
            .validate()
            .is_ok()
        );
        assert!(Filter::eq("userName pr or x", "x").validate().is_err());
        assert!(Filter::eq("a\"", "x").validate().is_err());
        assert!(Filter::eq("", "x").validate().is_err());
    }

    #[test]
    fn member_path() {
        assert_eq!(member_value_path("a\"1"), r#"members[value eq "a\"1"]"#);
    }
}
