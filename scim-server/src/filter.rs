//! SCIM filters (RFC 7644 §3.4.2.2): a hand-written recursive-descent parser for the whole
//! grammar (`eq ne co sw ew gt ge lt le pr`, `and`/`or`/`not(..)`, grouping, value paths,
//! URN-qualified attributes) and an evaluator that applies the schema's case rules
//! (`userName` case-insensitive, `externalId` case-exact, unknown attributes
//! case-insensitive as RFC 7643 §2.2 defaults).
//!
//! ```
//! use scim_server::filter::Filter;
//! use scim_server::ResourceKind;
//! let f = Filter::parse(r#"userName eq "ALICE" and emails[type eq "work"]"#).unwrap();
//! let user = serde_json::json!({"userName": "alice", "emails": [{"type": "work", "value": "a@x"}]});
//! assert!(f.matches(&user, ResourceKind::User));
//! assert!(Filter::parse("userName eq").is_err());
//! ```

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use crate::error::ScimError;
use crate::schema::{Attr, ResourceKind, Returned, Ty};

/// An attribute path: optional schema URN, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN prefix, if the path was URN-qualified.
    pub urn: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name.
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        write!(f, "{}", self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

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
    /// greater or equal
    Ge,
    /// less than
    Lt,
    /// less or equal
    Le,
}

impl CompareOp {
    fn from_word(w: &str) -> Option<Self> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
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

/// A parsed filter expression.
///
/// Chains are flat: `a or b or c` is one `Or` of three terms, not a tree three levels deep,
/// so the depth of a parsed filter is bounded by its nesting (parentheses, `not`, value
/// paths; at most [`MAX_DEPTH`] levels), never by its length, and every walk over it
/// (validation, evaluation, printing, dropping) recurses at most that deep.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b and …` (two or more terms)
    And(Vec<Filter>),
    /// `a or b or …` (two or more terms)
    Or(Vec<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attrPath op value`
    Compare(AttrPath, CompareOp, Value),
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath[valFilter]`: some element of the multi-valued attribute matches the inner
    /// filter, whose paths are relative to the element.
    ValuePath(AttrPath, Box<Filter>),
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(terms) => write_chain(f, terms, " and "),
            Filter::Or(terms) => write_chain(f, terms, " or "),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

/// `(a<sep>b<sep>…)`
fn write_chain(f: &mut fmt::Formatter<'_>, terms: &[Filter], sep: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{t}")?;
    }
    f.write_str(")")
}

/// A filter that could not be parsed; maps to `400 invalidFilter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at offset {offset}: {message}")]
pub struct FilterError {
    /// Byte offset in the filter text.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::bad_request("invalidFilter", e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
    Num(serde_json::Number),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn err(&self, offset: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            offset,
            message: message.into(),
        }
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, FilterError> {
        let bytes = self.src.as_bytes();
        let mut out = Vec::new();
        while self.pos < bytes.len() {
            let start = self.pos;
            // a filter of MAX_TERMS expressions has far fewer tokens than this; stop before
            // a 2 MiB body becomes a million of them
            if out.len() >= MAX_TOKENS {
                return Err(self.err(start, "the filter is too long"));
            }
            let b = bytes[self.pos];
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    out.push((start, Tok::LParen));
                    self.pos += 1;
                }
                b')' => {
                    out.push((start, Tok::RParen));
                    self.pos += 1;
                }
                b'[' => {
                    out.push((start, Tok::LBracket));
                    self.pos += 1;
                }
                b']' => {
                    out.push((start, Tok::RBracket));
                    self.pos += 1;
                }
                b'"' => {
                    // a JSON string: find the closing quote, honouring backslash escapes
                    let mut i = self.pos + 1;
                    loop {
                        match bytes.get(i) {
                            None => return Err(self.err(start, "unterminated string")),
                            Some(b'\\') => i += 2,
                            Some(b'"') => break,
                            Some(_) => i += 1,
                        }
                    }
                    let lit = &self.src[start..=i];
                    let s: String = serde_json::from_str(lit)
                        .map_err(|e| self.err(start, format!("bad string literal: {e}")))?;
                    out.push((start, Tok::Str(s)));
                    self.pos = i + 1;
                }
                b'-' | b'0'..=b'9' => {
                    let mut i = self.pos;
                    while i < bytes.len()
                        && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        i += 1;
                    }
                    let lit = &self.src[start..i];
                    let n: serde_json::Number = serde_json::from_str(lit)
                        .map_err(|_| self.err(start, format!("bad number '{lit}'")))?;
                    out.push((start, Tok::Num(n)));
                    self.pos = i;
                }
                _ if is_word_byte(b) => {
                    let mut i = self.pos;
                    while i < bytes.len() && is_word_byte(bytes[i]) {
                        i += 1;
                    }
                    out.push((start, Tok::Word(self.src[start..i].to_string())));
                    self.pos = i;
                }
                _ => {
                    let ch = self.src[start..].chars().next().unwrap_or('?');
                    return Err(self.err(start, format!("unexpected character '{ch}'")));
                }
            }
        }
        Ok(out)
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.' | b'$')
}

fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        Some('$') => return s == "$ref",
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parse an attribute path (`userName`, `name.givenName`,
/// `urn:...:CoreWeaveUser:sunkSshKeys`, `urn:...:User:name.givenName`).
pub fn parse_attr_path(s: &str) -> Option<AttrPath> {
    let (urn, rest) = if crate::schema::strip_prefix_ci(s, "urn:").is_some_and(|r| !r.is_empty()) {
        let idx = s.rfind(':')?;
        (Some(s[..idx].to_string()), &s[idx + 1..])
    } else {
        (None, s)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    if !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) {
        return None;
    }
    if let Some(u) = &urn
        && (u.len() <= 4 || u.ends_with(':'))
    {
        return None;
    }
    Some(AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
    depth: usize,
    /// attribute expressions read so far
    terms: usize,
}

/// The deepest nesting of parentheses, `not (…)` and value paths a filter may have.
pub const MAX_DEPTH: usize = 64;

/// The most attribute expressions (`attr op value`, `attr pr`) one filter may hold. Far
/// above what a client asks for (a batched lookup of a few dozen names), far below what
/// would make one request expensive to evaluate against every record.
pub const MAX_TERMS: usize = 1000;

/// The most tokens the lexer reads: room for [`MAX_TERMS`] expressions with their values,
/// operators, `and`/`or` and parentheses.
const MAX_TOKENS: usize = 16 * MAX_TERMS;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(o, _)| *o)
    }
    fn err(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            offset: self.offset(),
            message: message.into(),
        }
    }
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&t) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}")))
        }
    }

    fn or(&mut self, in_value_path: bool) -> Result<Filter, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("filter nested too deeply"));
        }
        let mut terms = vec![self.and(in_value_path)?];
        while self.peek_word("or") {
            self.i += 1;
            terms.push(self.and(in_value_path)?);
        }
        self.depth -= 1;
        Ok(chain(terms, Filter::Or))
    }

    fn and(&mut self, in_value_path: bool) -> Result<Filter, FilterError> {
        let mut terms = vec![self.unary(in_value_path)?];
        while self.peek_word("and") {
            self.i += 1;
            terms.push(self.unary(in_value_path)?);
        }
        Ok(chain(terms, Filter::And))
    }

    fn unary(&mut self, in_value_path: bool) -> Result<Filter, FilterError> {
        if self.peek_word("not") && matches!(self.toks.get(self.i + 1), Some((_, Tok::LParen))) {
            self.i += 2;
            let inner = self.or(in_value_path)?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let inner = self.or(in_value_path)?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(inner);
        }
        self.attr_exp(in_value_path)
    }

    fn attr_exp(&mut self, in_value_path: bool) -> Result<Filter, FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.err(format!(
                "the filter has more than {MAX_TERMS} attribute expressions"
            )));
        }
        let Some(Tok::Word(w)) = self.peek().cloned() else {
            return Err(self.err("expected an attribute path"));
        };
        let path =
            parse_attr_path(&w).ok_or_else(|| self.err(format!("invalid attribute path '{w}'")))?;
        self.i += 1;
        if self.peek() == Some(&Tok::LBracket) {
            if in_value_path {
                return Err(self.err("value paths cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(self.err("a value path cannot follow a sub-attribute"));
            }
            self.i += 1;
            let inner = self.or(true)?;
            self.expect(Tok::RBracket, "']'")?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let Some(Tok::Word(op)) = self.peek().cloned() else {
            return Err(self.err("expected an operator"));
        };
        if op.eq_ignore_ascii_case("pr") {
            self.i += 1;
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::from_word(&op)
            .ok_or_else(|| self.err(format!("unknown operator '{op}'")))?;
        self.i += 1;
        let value = match self.peek().cloned() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Num(n)) => Value::Number(n),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => return Err(self.err("expected a comparison value")),
        };
        match (&value, op) {
            (Value::String(_), _) => {}
            (Value::Number(_), CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                return Err(self.err(format!("'{}' needs a string value", op.as_str())));
            }
            (Value::Bool(_) | Value::Null, CompareOp::Eq | CompareOp::Ne) => {}
            (Value::Bool(_) | Value::Null, _) => {
                return Err(self.err(format!("'{}' is not defined for {value}", op.as_str())));
            }
            _ => {}
        }
        self.i += 1;
        Ok(Filter::Compare(path, op, value))
    }
}

/// One term alone, or the chain of them.
fn chain(mut terms: Vec<Filter>, join: fn(Vec<Filter>) -> Filter) -> Filter {
    if terms.len() == 1 {
        terms.pop().expect("one term")
    } else {
        join(terms)
    }
}

impl Filter {
    /// Parse a filter; any syntax error is a [`FilterError`]. A filter nested deeper than
    /// [`MAX_DEPTH`] or longer than [`MAX_TERMS`] expressions is an error too.
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        let toks = Lexer { src, pos: 0 }.tokens()?;
        let mut p = Parser {
            toks,
            i: 0,
            end: src.len(),
            depth: 0,
            terms: 0,
        };
        if p.toks.is_empty() {
            return Err(p.err("empty filter"));
        }
        let f = p.or(false)?;
        if p.i != p.toks.len() {
            return Err(p.err("unexpected trailing input"));
        }
        Ok(f)
    }

    /// Parse a filter found inside a PATCH path's brackets.
    pub(crate) fn parse_value_filter(src: &str) -> Result<Filter, FilterError> {
        let toks = Lexer { src, pos: 0 }.tokens()?;
        let mut p = Parser {
            toks,
            i: 0,
            end: src.len(),
            depth: 0,
            terms: 0,
        };
        let f = p.or(true)?;
        if p.i != p.toks.len() {
            return Err(p.err("unexpected trailing input"));
        }
        Ok(f)
    }

    /// Check the filter against the schema of `kind`: ordering operators on boolean (or
    /// complex) attributes are refused (RFC 7644 §3.4.2.2).
    pub fn validate(&self, kind: ResourceKind) -> Result<(), FilterError> {
        self.validate_in(kind, None)
    }

    fn validate_in(
        &self,
        kind: ResourceKind,
        parent: Option<&'static Attr>,
    ) -> Result<(), FilterError> {
        match self {
            Filter::And(terms) | Filter::Or(terms) => {
                terms.iter().try_for_each(|t| t.validate_in(kind, parent))
            }
            Filter::Not(a) => a.validate_in(kind, parent),
            Filter::Present(p) => readable(kind, parent, p),
            Filter::ValuePath(p, inner) => {
                readable(kind, parent, p)?;
                let def = kind
                    .resolve(p.urn.as_deref(), &p.attr, None)
                    .map(|(d, _)| d);
                inner.validate_in(kind, def)
            }
            Filter::Compare(p, op, _) => {
                readable(kind, parent, p)?;
                if matches!(
                    op,
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
                ) && let Some(def) = leaf_def(kind, parent, p)
                    && matches!(def.ty, Ty::Boolean | Ty::Binary)
                {
                    return Err(FilterError {
                        offset: 0,
                        message: format!(
                            "'{}' is not defined for the {} attribute '{p}'",
                            op.as_str(),
                            def.ty.name_for_error()
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// Does `record` (a resource of type `kind`) match this filter?
    pub fn matches(&self, record: &Value, kind: ResourceKind) -> bool {
        self.eval(record, kind, None)
    }

    /// Evaluate with paths relative to `record`; `parent` is the multi-valued attribute whose
    /// element `record` is (inside a value path).
    pub(crate) fn eval(
        &self,
        record: &Value,
        kind: ResourceKind,
        parent: Option<&'static Attr>,
    ) -> bool {
        match self {
            Filter::And(terms) => terms.iter().all(|t| t.eval(record, kind, parent)),
            Filter::Or(terms) => terms.iter().any(|t| t.eval(record, kind, parent)),
            Filter::Not(a) => !a.eval(record, kind, parent),
            Filter::Present(p) => {
                let mut any = false;
                visit_values(record, kind, parent, p, &mut |v| {
                    any |= is_present(v);
                });
                any
            }
            Filter::Compare(p, op, want) => {
                let def = leaf_def(kind, parent, p);
                let case_exact = def.is_some_and(|d| d.case_exact);
                let ty = def.map(|d| d.ty);
                if want.is_null() {
                    let mut any = false;
                    visit_values(record, kind, parent, p, &mut |v| any |= is_present(v));
                    return match op {
                        CompareOp::Eq => !any,
                        _ => any,
                    };
                }
                if *op == CompareOp::Ne {
                    let mut any = false;
                    visit_values(record, kind, parent, p, &mut |v| {
                        any |= compare(v, CompareOp::Eq, want, case_exact, ty)
                    });
                    return !any;
                }
                let mut any = false;
                visit_values(record, kind, parent, p, &mut |v| {
                    any |= compare(v, *op, want, case_exact, ty)
                });
                any
            }
            Filter::ValuePath(p, inner) => {
                let Some(v) = lookup_attr(record, kind, parent, p) else {
                    return false;
                };
                let def = kind
                    .resolve(p.urn.as_deref(), &p.attr, None)
                    .map(|(d, _)| d);
                match v {
                    Value::Array(items) => items.iter().any(|e| inner.eval(e, kind, def)),
                    other => inner.eval(other, kind, def),
                }
            }
        }
    }
}

impl Ty {
    fn name_for_error(self) -> &'static str {
        match self {
            Ty::Boolean => "boolean",
            Ty::Binary => "binary",
            _ => "complex",
        }
    }
}

/// The definition of the attribute a comparison looks at (the sub-attribute if any).
fn leaf_def(
    kind: ResourceKind,
    parent: Option<&'static Attr>,
    p: &AttrPath,
) -> Option<&'static Attr> {
    if let Some(par) = parent {
        let d = par.sub_attr(&p.attr)?;
        return match &p.sub {
            None => Some(d),
            Some(s) => d.sub_attr(s),
        };
    }
    let (d, sd) = kind.resolve(p.urn.as_deref(), &p.attr, p.sub.as_deref())?;
    match sd {
        Some(sd) => Some(sd),
        // a complex multi-valued attribute compared directly means its `value`
        None if d.ty == Ty::Complex => d.sub_attr("value"),
        None => Some(d),
    }
}

/// An attribute that is never returned (`password`) is not usable in a filter or `sortBy`
/// either: otherwise `password sw "a"`, `password sw "b"`, … reads it back one character at
/// a time (RFC 7643 §7: "never" means never revealed).
fn readable(
    kind: ResourceKind,
    parent: Option<&'static Attr>,
    p: &AttrPath,
) -> Result<(), FilterError> {
    let (def, sub) = match parent {
        Some(par) => match par.sub_attr(&p.attr) {
            Some(d) => (Some(d), p.sub.as_deref().and_then(|s| d.sub_attr(s))),
            None => (None, None),
        },
        None => match kind.resolve(p.urn.as_deref(), &p.attr, None) {
            Some((d, _)) => (Some(d), p.sub.as_deref().and_then(|s| d.sub_attr(s))),
            None => (None, None),
        },
    };
    if [def, sub]
        .into_iter()
        .flatten()
        .any(|d| d.returned == Returned::Never)
    {
        return Err(FilterError {
            offset: 0,
            message: format!("'{p}' is never returned, so it cannot be filtered or sorted by"),
        });
    }
    Ok(())
}

/// Checks that `sortBy` names an attribute that may be sorted by (see [`readable`]).
pub(crate) fn check_sortable(kind: ResourceKind, p: &AttrPath) -> Result<(), FilterError> {
    readable(kind, None, p)
}

/// Case-insensitive object lookup.
pub(crate) fn get_ci<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    let m = obj.as_object()?;
    if let Some(v) = m.get(key) {
        return Some(v);
    }
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn lookup_attr<'v>(
    record: &'v Value,
    kind: ResourceKind,
    parent: Option<&'static Attr>,
    p: &AttrPath,
) -> Option<&'v Value> {
    match (&p.urn, parent) {
        (Some(urn), None) if !urn.eq_ignore_ascii_case(kind.core().id) => {
            get_ci(get_ci(record, urn)?, &p.attr)
        }
        _ => get_ci(record, &p.attr),
    }
}

/// Call `f` with every value the path designates (multi-valued attributes flattened; a
/// complex attribute without sub-attribute yields its elements' `value`).
fn visit_values(
    record: &Value,
    kind: ResourceKind,
    parent: Option<&'static Attr>,
    p: &AttrPath,
    f: &mut dyn FnMut(&Value),
) {
    let Some(v) = lookup_attr(record, kind, parent, p) else {
        return;
    };
    let mut leaf = |x: &Value| match &p.sub {
        Some(s) => {
            if let Some(sv) = get_ci(x, s) {
                match sv {
                    Value::Array(a) => a.iter().for_each(&mut *f),
                    o => f(o),
                }
            }
        }
        None => match x {
            Value::Object(_) => {
                if let Some(sv) = get_ci(x, "value") {
                    f(sv)
                } else {
                    f(x)
                }
            }
            o => f(o),
        },
    };
    match v {
        Value::Array(items) => items.iter().for_each(&mut leaf),
        o => leaf(o),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Compare an attribute value with a filter value.
pub(crate) fn compare(
    have: &Value,
    op: CompareOp,
    want: &Value,
    case_exact: bool,
    ty: Option<Ty>,
) -> bool {
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            if ty == Some(Ty::DateTime)
                && let (Ok(a), Ok(b)) = (
                    humantime::parse_rfc3339_weak(h),
                    humantime::parse_rfc3339_weak(w),
                )
            {
                return ordered(a.cmp(&b), op);
            }
            if case_exact {
                str_op(h, w, op)
            } else {
                str_op(&h.to_lowercase(), &w.to_lowercase(), op)
            }
        }
        (Value::Number(h), Value::Number(w)) => {
            let (Some(a), Some(b)) = (h.as_f64(), w.as_f64()) else {
                return false;
            };
            match a.partial_cmp(&b) {
                Some(o) => ordered(o, op),
                None => false,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => matches!(op, CompareOp::Eq) && h == w,
        _ => false,
    }
}

fn str_op(h: &str, w: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Co => h.contains(w),
        CompareOp::Sw => h.starts_with(w),
        CompareOp::Ew => h.ends_with(w),
        _ => ordered(h.cmp(w), op),
    }
}

fn ordered(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// The first value of `path` in `record`, for sorting.
pub(crate) fn sort_key<'v>(
    record: &'v Value,
    kind: ResourceKind,
    path: &AttrPath,
) -> Option<&'v Value> {
    let mut first: Option<&'v Value> = None;
    let v = lookup_attr(record, kind, None, path)?;
    let pick = |x: &'v Value| -> Option<&'v Value> {
        match &path.sub {
            Some(s) => get_ci(x, s),
            None => match x {
                Value::Object(_) => get_ci(x, "value"),
                o => Some(o),
            },
        }
    };
    match v {
        Value::Array(items) => {
            // prefer the primary element, as RFC 7644 §3.4.2.3 asks
            let primary = items
                .iter()
                .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)));
            if let Some(p) = primary.or(items.first()) {
                first = pick(p);
            }
        }
        o => first = pick(o),
    }
    first
}

/// Whether the attribute at `path` compares case-exactly.
pub(crate) fn case_exact(kind: ResourceKind, path: &AttrPath) -> bool {
    leaf_def(kind, None, path).is_some_and(|d| d.case_exact)
}

/// Order two sort keys (missing values last).
pub(crate) fn cmp_sort_values(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::String(x)), Some(Value::String(y))) => {
            if case_exact {
                x.cmp(y)
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// A filter of the form `attr eq "literal"` on an indexed attribute, for fast lookups.
pub(crate) fn indexed_eq(f: &Filter, kind: ResourceKind) -> Option<(&'static str, &str)> {
    let Filter::Compare(p, CompareOp::Eq, Value::String(v)) = f else {
        return None;
    };
    if p.sub.is_some() {
        return None;
    }
    if let Some(u) = &p.urn
        && !u.eq_ignore_ascii_case(kind.core().id)
    {
        return None;
    }
    for name in ["id", "externalId", "userName", "name"] {
        let indexed = match name {
            "userName" | "name" => kind.unique_name() == Some(name),
            _ => true,
        };
        if indexed && p.attr.eq_ignore_ascii_case(name) {
            return Some((name, v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [crate::schema::USER, crate::schema::COREWEAVE_USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "pw-activate:Alice",
            "userName": "Alice@Example.com",
            "displayName": "Alice Smith",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "active": true,
            "emails": [{"value": "alice@work.example", "type": "work", "primary": true},
                       {"value": "alice@home.example", "type": "home"}],
            "meta": {"lastModified": "2026-01-02T03:04:05Z", "created": "2026-01-01T00:00:00Z"},
            crate::schema::COREWEAVE_USER: {"sunkSshKeys": ["ssh-ed25519 AAAA alice"], "sunkPosixUserId": 1001}
        })
    }

    fn m(f: &str) -> bool {
        let f = Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        f.validate(ResourceKind::User).unwrap();
        f.matches(&user(), ResourceKind::User)
    }

    #[test]
    fn case_rules_follow_the_schema() {
        assert!(m(r#"userName eq "alice@example.com""#));
        assert!(m(r#"USERNAME EQ "ALICE@EXAMPLE.COM""#));
        assert!(m(r#"externalId eq "pw-activate:Alice""#));
        assert!(!m(r#"externalId eq "pw-activate:alice""#));
        assert!(m(r#"externalId sw "pw-activate:""#));
        assert!(!m(r#"externalId sw "PW-ACTIVATE:""#));
        assert!(m(r#"displayName co "SMITH""#));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    }

    #[test]
    fn every_operator() {
        assert!(m(r#"userName ne "bob""#));
        assert!(!m(r#"userName ne "alice@example.com""#));
        assert!(m(r#"userName ew "EXAMPLE.com""#));
        assert!(m(r#"name.givenName sw "al""#));
        assert!(m(r#"userName gt "a""#));
        assert!(m(r#"userName ge "alice@example.com""#));
        assert!(m(r#"userName lt "b""#));
        assert!(m(r#"userName le "alice@example.com""#));
        assert!(!m("title pr"));
        assert!(m("emails pr"));
        assert!(m(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#));
        assert!(m(r#"meta.lastModified le "2026-01-02T03:04:05.000Z""#));
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("title eq null"));
        assert!(m(
            "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser:sunkPosixUserId ge 1001"
        ));
        assert!(m(
            r#"urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser:sunkSshKeys co "alice""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ali""#
        ));
    }

    #[test]
    fn logic_grouping_and_value_paths() {
        assert!(m(r#"userName eq "x" or externalId sw "pw-activate:""#));
        assert!(!m(r#"userName eq "x" and externalId sw "pw-activate:""#));
        assert!(m(r#"not (userName eq "x")"#));
        assert!(m(
            r#"(userName eq "x" or active eq true) and not(title pr)"#
        ));
        assert!(m(r#"emails[type eq "work" and value co "@work"]"#));
        assert!(!m(r#"emails[type eq "work" and value co "@home"]"#));
        assert!(m(r#"emails co "home.example""#));
        assert!(m(r#"emails.type eq "home""#));
        // and binds tighter than or
        assert!(m(r#"userName eq "x" and active eq true or active eq true"#));
        assert!(!m(
            r#"userName eq "x" and (active eq true or active eq true)"#
        ));
    }

    #[test]
    fn bad_filters_are_errors() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a" and"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"userName eq "unterminated"#,
            r#"emails[type eq "work""#,
            r#"emails[type[value eq "x"]]"#,
            "active gt true",
            r#"userName co 5"#,
            r#"1abc eq "x""#,
            r#"userName eq 'x'"#,
            r#"not userName eq "x""#,
        ] {
            assert!(Filter::parse(bad).is_err(), "accepted {bad:?}");
        }
        let f = Filter::parse("active gt \"x\"").unwrap();
        assert!(f.validate(ResourceKind::User).is_err());
    }

    #[test]
    fn escaped_strings() {
        let f = Filter::parse(r#"displayName eq "a \"quoted\" \\ name""#).unwrap();
        let rec = json!({"displayName": "A \"Quoted\" \\ Name"});
        assert!(f.matches(&rec, ResourceKind::User));
    }

    /// A tiny oracle: a filter built from `userName`/`externalId` comparisons evaluated
    /// directly in Rust.
    #[derive(Debug, Clone)]
    enum Model {
        Eq(bool, String),
        Sw(bool, String),
        And(Box<Model>, Box<Model>),
        Or(Box<Model>, Box<Model>),
        Not(Box<Model>),
    }

    fn model() -> impl Strategy<Value = Model> {
        let leaf = prop_oneof![
            (any::<bool>(), "[a-cA-C\"\\\\]{0,3}").prop_map(|(u, s)| Model::Eq(u, s)),
            (any::<bool>(), "[a-cA-C\"\\\\]{0,3}").prop_map(|(u, s)| Model::Sw(u, s)),
        ];
        leaf.prop_recursive(4, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Model::And(a.into(), b.into())),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Model::Or(a.into(), b.into())),
                inner.prop_map(|a| Model::Not(a.into())),
            ]
        })
    }

    fn render(m: &Model) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let attr = |u: bool| if u { "userName" } else { "externalId" };
        match m {
            Model::Eq(u, s) => format!("{} eq {}", attr(*u), q(s)),
            Model::Sw(u, s) => format!("{} sw {}", attr(*u), q(s)),
            Model::And(a, b) => format!("({} and {})", render(a), render(b)),
            Model::Or(a, b) => format!("({} or {})", render(a), render(b)),
            Model::Not(a) => format!("not ({})", render(a)),
        }
    }

    fn oracle(m: &Model, user_name: &str, ext: &str) -> bool {
        let field = |u: bool| -> (String, bool) {
            if u {
                (user_name.to_lowercase(), true)
            } else {
                (ext.to_string(), false)
            }
        };
        match m {
            Model::Eq(u, s) => {
                let (f, ci) = field(*u);
                if ci { f == s.to_lowercase() } else { f == *s }
            }
            Model::Sw(u, s) => {
                let (f, ci) = field(*u);
                if ci {
                    f.starts_with(&s.to_lowercase())
                } else {
                    f.starts_with(s.as_str())
                }
            }
            Model::And(a, b) => oracle(a, user_name, ext) && oracle(b, user_name, ext),
            Model::Or(a, b) => oracle(a, user_name, ext) || oracle(b, user_name, ext),
            Model::Not(a) => !oracle(a, user_name, ext),
        }
    }

    proptest! {
        #[test]
        fn parse_then_evaluate_agrees_with_the_model(
            m in model(), un in "[a-cA-C\"\\\\]{0,3}", ext in "[a-cA-C\"\\\\]{0,3}"
        ) {
            let text = render(&m);
            let f = Filter::parse(&text).unwrap();
            let rec = json!({"userName": un, "externalId": ext});
            prop_assert_eq!(f.matches(&rec, ResourceKind::User), oracle(&m, &un, &ext), "{}", text);
            // the Display form parses back to the same tree
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,64}") {
            let _ = Filter::parse(&s);
        }

        #[test]
        fn never_panics_on_filter_like_input(
            s in r#"(userName|emails|not|and|or|pr|eq|sw|\(|\)|\[|\]|"a"|"|\\| |1|-|\.|urn:x:y|true|null){0,24}"#
        ) {
            if let Ok(f) = Filter::parse(&s) {
                let _ = f.validate(ResourceKind::User);
                let _ = f.matches(&user(), ResourceKind::User);
            }
        }
    }
}
