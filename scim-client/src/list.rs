//! List responses, list queries and the paging walk that refuses to return a short list.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::filter::Filter;
use crate::lenient;

/// A SCIM list response (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct ListResponse<T> {
    /// Normally `["urn:ietf:params:scim:api:messages:2.0:ListResponse"]`.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub schemas: Vec<String>,
    /// Total matching resources, over all pages.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub total_results: Option<u64>,
    /// What the server claims this page holds (not trusted: the client counts `Resources`).
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub items_per_page: Option<u64>,
    /// 1-based index of the first resource of this page.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub start_index: Option<u64>,
    /// The resources of this page (absent reads as empty).
    #[serde(
        rename = "Resources",
        alias = "resources",
        default = "Vec::new",
        deserialize_with = "lenient::vec"
    )]
    pub resources: Vec<T>,
    /// Other attributes (e.g. `nextCursor` from RFC 9865).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A list response decoded straight from JSON, each resource typed without a
/// [`serde_json::Value`] tree first (the client's fast path; see
/// [`Resource::has_noncanonical_names`](crate::Resource::has_noncanonical_names)).
///
/// Decodes the same fields the same way as [`ListResponse`]'s derived `Deserialize`, but
/// without its catch-all `flatten`, which would buffer the whole page (every resource) before
/// decoding it. A duplicate attribute is an error, so that the careful path decides.
pub(crate) struct DirectPage<T>(pub(crate) ListResponse<T>);

/// One lenient attribute of a list response.
#[derive(Deserialize)]
#[serde(transparent)]
struct LenientCount(#[serde(deserialize_with = "lenient::opt_u64_string_or_number")] Option<u64>);

#[derive(Deserialize)]
#[serde(transparent, bound(deserialize = "T: Deserialize<'de>"))]
struct LenientVec<T>(#[serde(deserialize_with = "lenient::vec")] Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DirectPage<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = DirectPage<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a SCIM list response")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let mut schemas: Option<Vec<String>> = None;
                let mut total: Option<Option<u64>> = None;
                let mut per_page: Option<Option<u64>> = None;
                let mut start: Option<Option<u64>> = None;
                let mut resources: Option<Vec<T>> = None;
                let mut extra = Map::new();
                fn once<V, E: serde::de::Error>(
                    slot: &mut Option<V>,
                    value: V,
                    key: &str,
                ) -> Result<(), E> {
                    if slot.replace(value).is_some() {
                        return Err(E::custom(format!("duplicate field `{key}`")));
                    }
                    Ok(())
                }
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "schemas" => once(
                            &mut schemas,
                            map.next_value::<LenientVec<String>>()?.0,
                            &key,
                        )?,
                        "totalResults" => {
                            once(&mut total, map.next_value::<LenientCount>()?.0, &key)?
                        }
                        "itemsPerPage" => {
                            once(&mut per_page, map.next_value::<LenientCount>()?.0, &key)?
                        }
                        "startIndex" => {
                            once(&mut start, map.next_value::<LenientCount>()?.0, &key)?
                        }
                        "Resources" | "resources" => {
                            once(
                                &mut resources,
                                map.next_value::<LenientVec<T>>()?.0,
                                "Resources",
                            )?;
                        }
                        _ => {
                            let value = map.next_value::<Value>()?;
                            if extra.insert(key, value).is_some() {
                                return Err(A::Error::custom("duplicate attribute"));
                            }
                        }
                    }
                }
                Ok(DirectPage(ListResponse {
                    schemas: schemas.unwrap_or_default(),
                    total_results: total.flatten(),
                    items_per_page: per_page.flatten(),
                    start_index: start.flatten(),
                    resources: resources.unwrap_or_default(),
                    extra,
                }))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// What to list: a filter, attribute selection and an optional page size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Filter expression.
    pub filter: Option<Filter>,
    /// `attributes=`: only these attributes (plus `id`) come back.
    pub attributes: Vec<String>,
    /// `excludedAttributes=`.
    pub excluded_attributes: Vec<String>,
    /// Page size for this query (overrides the client's).
    pub page_size: Option<u32>,
}

impl ListQuery {
    /// Everything, default page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only resources matching `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Ask for these attributes only.
    pub fn attributes(mut self, attrs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.attributes = attrs.into_iter().map(Into::into).collect();
        self
    }

    /// Leave these attributes out.
    pub fn excluded_attributes(
        mut self,
        attrs: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.excluded_attributes = attrs.into_iter().map(Into::into).collect();
        self
    }

    /// Page size (`count`) for this query.
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }
}

/// Why a walk cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The pages contradict each other: the list cannot be trusted.
    Inconsistent(String),
    /// The list is larger than the client reads (records, or pages).
    TooLarge(crate::ReadLimit, String),
}

/// The bounds of one walk, index or cursor: records announced or read, pages requested.
#[derive(Debug, Clone, Copy)]
struct WalkLimits {
    max_records: u64,
    max_pages: u64,
}

impl WalkLimits {
    /// A list that says it holds more records than the client reads.
    fn announced(self, total_results: Option<u64>) -> Result<(), WalkError> {
        match total_results {
            Some(total) if total > self.max_records => Err(WalkError::TooLarge(
                crate::ReadLimit::ListRecords,
                format!(
                    "the list says it holds {total} records, more than the {} this client reads",
                    self.max_records
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A list whose pages held more records than the client reads.
    fn read(self, records: u64) -> Result<(), WalkError> {
        if records <= self.max_records {
            return Ok(());
        }
        Err(WalkError::TooLarge(
            crate::ReadLimit::ListRecords,
            format!(
                "the list goes on past {} records, the most this client reads",
                self.max_records
            ),
        ))
    }

    /// A list that goes on after `pages` pages, as many as the client requests.
    fn requested(self, pages: u64) -> Result<(), WalkError> {
        if pages < self.max_pages {
            return Ok(());
        }
        Err(WalkError::TooLarge(
            crate::ReadLimit::ListPages,
            format!(
                "the list goes on past {} pages, the most this client requests",
                self.max_pages
            ),
        ))
    }
}

/// The state of one paging walk: checks every page and says where to go next.
#[derive(Debug)]
pub(crate) struct PageWalk {
    /// 1-based index to ask for next.
    pub(crate) next_start: u64,
    seen: HashSet<String>,
    total: Option<u64>,
    done: bool,
    pages: u64,
    limits: WalkLimits,
}

impl PageWalk {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_limits(u64::MAX, u64::MAX)
    }

    /// A walk that reads at most `max_records` records in at most `max_pages` pages.
    pub(crate) fn with_limits(max_records: u64, max_pages: u64) -> Self {
        Self {
            next_start: 1,
            seen: HashSet::new(),
            total: None,
            done: false,
            pages: 0,
            limits: WalkLimits {
                max_records,
                max_pages,
            },
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn collected(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Checks a page; `ids` are the ids of its resources in order. Errors describe why the
    /// walk cannot be trusted.
    pub(crate) fn accept<'a>(
        &mut self,
        total_results: Option<u64>,
        ids: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), WalkError> {
        self.pages += 1;
        self.limits.announced(total_results)?;
        self.check(total_results, ids)
            .map_err(WalkError::Inconsistent)?;
        self.limits.read(self.collected())?;
        if self.done {
            return Ok(());
        }
        self.limits.requested(self.pages)
    }

    /// The consistency checks of [`accept`](Self::accept).
    fn check<'a>(
        &mut self,
        total_results: Option<u64>,
        ids: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), String> {
        let start = self.next_start;
        match (self.total, total_results) {
            (Some(before), Some(now)) if before != now => {
                return Err(format!(
                    "totalResults changed from {before} to {now} during the walk (at startIndex {start}); the data changed while it was read, try again"
                ));
            }
            (None, Some(now)) if start == 1 => self.total = Some(now),
            (Some(_), None) => {
                return Err(format!(
                    "the page at startIndex {start} has no totalResults"
                ));
            }
            _ => {}
        }
        let mut n = 0u64;
        for id in ids {
            let id = id.ok_or_else(|| format!("a resource at startIndex {start} has no id"))?;
            if !self.seen.insert(id.to_owned()) {
                return Err(format!(
                    "the page at startIndex {start} repeats id {id:?}; the server may ignore startIndex"
                ));
            }
            n += 1;
        }
        let collected = self.collected();
        match self.total {
            Some(total) if collected > total => Err(format!(
                "{collected} resources read but totalResults is {total}"
            )),
            Some(total) if n == 0 && collected < total => Err(format!(
                "empty page at startIndex {start} after {collected} of {total} resources"
            )),
            Some(total) => {
                self.done = collected == total;
                self.next_start = start + n;
                Ok(())
            }
            // no totalResults at all: read until an empty page
            None => {
                self.done = n == 0;
                self.next_start = start + n;
                Ok(())
            }
        }
    }
}

/// The longest `nextCursor` a walk follows: cursors travel in URLs, and a walk keeps every
/// one it followed to see a loop.
pub(crate) const MAX_CURSOR_BYTES: usize = 4096;

/// The `nextCursor` of a page (RFC 9865): `None` on the last page. Attribute names are
/// matched case-insensitively, as everywhere in SCIM.
pub(crate) fn next_cursor(extra: &Map<String, Value>) -> Result<Option<&str>, String> {
    let found = extra
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("nextCursor"))
        .map(|(_, v)| v);
    match found {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(c)) => Ok(Some(c.as_str())),
        Some(other) => Err(format!(
            "nextCursor is not a string but {}",
            match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::Array(_) => "an array",
                _ => "an object",
            }
        )),
    }
}

/// The state of one cursor walk (RFC 9865): checks every page and holds the cursor to
/// follow next.
///
/// A cursor walk is immune to records created or removed while it runs, so the checks of an
/// index walk that such changes trip (a changing `totalResults`, a count that ends up
/// different from it) do not apply. What does: no id twice, no cursor followed twice (a
/// loop), no empty cursor, a first page that is not the whole list has a `nextCursor` (else
/// the server ignored `cursor`), and the record and page limits.
#[derive(Debug)]
pub(crate) struct CursorWalk {
    /// The cursor to send next (empty for the first page).
    pub(crate) next: String,
    seen: HashSet<String>,
    followed: HashSet<String>,
    done: bool,
    pages: u64,
    limits: WalkLimits,
}

impl CursorWalk {
    /// A walk that reads at most `max_records` records in at most `max_pages` pages.
    pub(crate) fn with_limits(max_records: u64, max_pages: u64) -> Self {
        Self {
            next: String::new(),
            seen: HashSet::new(),
            followed: HashSet::new(),
            done: false,
            pages: 0,
            limits: WalkLimits {
                max_records,
                max_pages,
            },
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn collected(&self) -> u64 {
        self.seen.len() as u64
    }

    /// Checks the page answered to [`next`](Self::next); `ids` are its resources' ids in
    /// order, `next_cursor` its `nextCursor`.
    pub(crate) fn accept<'a>(
        &mut self,
        total_results: Option<u64>,
        ids: impl IntoIterator<Item = Option<&'a str>>,
        next_cursor: Option<&str>,
    ) -> Result<(), WalkError> {
        self.pages += 1;
        let first = self.next.is_empty();
        self.limits.announced(total_results)?;
        let mut n = 0u64;
        for id in ids {
            let id = id.ok_or_else(|| {
                WalkError::Inconsistent(format!("a resource of page {} has no id", self.pages))
            })?;
            if !self.seen.insert(id.to_owned()) {
                return Err(WalkError::Inconsistent(format!(
                    "page {} of the cursor walk repeats id {id:?}; the server's cursors cannot be trusted",
                    self.pages
                )));
            }
            n += 1;
        }
        self.limits.read(self.collected())?;
        match next_cursor {
            None => {
                if first && total_results.is_some_and(|total| total > n) {
                    return Err(WalkError::Inconsistent(format!(
                        "the first page of a cursor walk holds {n} of {} records but no nextCursor; the server may ignore `cursor`",
                        total_results.unwrap_or_default()
                    )));
                }
                self.done = true;
                return Ok(());
            }
            Some("") => {
                return Err(WalkError::Inconsistent(format!(
                    "page {} has an empty nextCursor",
                    self.pages
                )));
            }
            Some(c) if c.len() > MAX_CURSOR_BYTES => {
                return Err(WalkError::Inconsistent(format!(
                    "page {} has a nextCursor of {} bytes, more than the {MAX_CURSOR_BYTES} this client follows",
                    self.pages,
                    c.len()
                )));
            }
            Some(c) => {
                if c == self.next || !self.followed.insert(c.to_owned()) {
                    return Err(WalkError::Inconsistent(format!(
                        "page {} gives a nextCursor that was already followed; the walk would loop",
                        self.pages
                    )));
                }
                self.next = c.to_owned();
            }
        }
        self.limits.requested(self.pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&'static str]) -> Vec<Option<&'static str>> {
        v.iter().map(|s| Some(*s)).collect()
    }

    #[test]
    fn walk_with_short_pages_stops_at_total() {
        let mut w = PageWalk::new();
        w.accept(Some(5), ids(&["a", "b"])).unwrap();
        assert_eq!(w.next_start, 3);
        assert!(!w.is_done());
        w.accept(Some(5), ids(&["c"])).unwrap(); // short page: fine
        w.accept(Some(5), ids(&["d", "e"])).unwrap();
        assert!(w.is_done());
    }

    #[test]
    fn repeated_ids_are_an_error() {
        let mut w = PageWalk::new();
        w.accept(Some(4), ids(&["a", "b"])).unwrap();
        let e = w.accept(Some(4), ids(&["a", "b"])).unwrap_err();
        assert!(
            matches!(&e, WalkError::Inconsistent(m) if m.contains("repeats id")),
            "{e:?}"
        );
    }

    #[test]
    fn growing_total_is_an_error() {
        let mut w = PageWalk::new();
        w.accept(Some(4), ids(&["a", "b"])).unwrap();
        assert!(w.accept(Some(5), ids(&["c", "d"])).is_err());
    }

    #[test]
    fn early_empty_page_is_an_error_and_empty_list_is_fine() {
        let mut w = PageWalk::new();
        w.accept(Some(3), ids(&["a"])).unwrap();
        assert!(w.accept(Some(3), ids(&[])).is_err());
        let mut w = PageWalk::new();
        w.accept(Some(0), ids(&[])).unwrap();
        assert!(w.is_done());
    }

    #[test]
    fn more_than_total_is_an_error() {
        let mut w = PageWalk::new();
        assert!(w.accept(Some(1), ids(&["a", "b"])).is_err());
    }

    #[test]
    fn missing_total_reads_until_empty_page() {
        let mut w = PageWalk::new();
        w.accept(None, ids(&["a"])).unwrap();
        assert!(!w.is_done());
        w.accept(None, ids(&[])).unwrap();
        assert!(w.is_done());
    }

    #[test]
    fn walks_stop_at_their_limits() {
        // an absurd totalResults is refused on the first page
        let mut w = PageWalk::with_limits(10, 100);
        let e = w.accept(Some(1_000_000_000), ids(&["a"])).unwrap_err();
        assert!(
            matches!(&e, WalkError::TooLarge(_, m) if m.contains("1000000000")),
            "{e:?}"
        );
        // without a total, records past the limit end the walk
        let mut w = PageWalk::with_limits(3, 100);
        w.accept(None, ids(&["a", "b"])).unwrap();
        assert!(matches!(
            w.accept(None, ids(&["c", "d"])),
            Err(WalkError::TooLarge(..))
        ));
        // and so do pages past the page limit
        let mut w = PageWalk::with_limits(100, 2);
        w.accept(None, ids(&["a"])).unwrap();
        assert!(matches!(
            w.accept(None, ids(&["b"])),
            Err(WalkError::TooLarge(..))
        ));
        // a walk that ends on its last allowed page is fine
        let mut w = PageWalk::with_limits(2, 1);
        w.accept(Some(2), ids(&["a", "b"])).unwrap();
        assert!(w.is_done());
    }

    #[test]
    fn list_response_tolerates_shapes() {
        let r: ListResponse<Value> =
            serde_json::from_str(r#"{"totalResults":"2","resources":[{"id":"a"},{"id":"b"}]}"#)
                .unwrap();
        assert_eq!(r.total_results, Some(2));
        assert_eq!(r.resources.len(), 2);
        let r: ListResponse<Value> = serde_json::from_str(r#"{"totalResults":0}"#).unwrap();
        assert!(r.resources.is_empty());
    }

    #[test]
    fn cursor_walk_follows_until_no_next_cursor() {
        let mut w = CursorWalk::with_limits(100, 100);
        assert_eq!(w.next, "");
        w.accept(Some(3), ids(&["a", "b"]), Some("c1")).unwrap();
        assert_eq!(w.next, "c1");
        assert!(!w.is_done());
        // totals may change under a cursor walk: records come and go
        w.accept(Some(5), ids(&["c"]), Some("c2")).unwrap();
        w.accept(Some(2), ids(&[]), Some("c3")).unwrap(); // an empty page in the middle
        w.accept(None, ids(&["d"]), None).unwrap();
        assert!(w.is_done());
        assert_eq!(w.collected(), 4);
    }

    #[test]
    fn cursor_walks_refuse_loops_repeats_and_ignored_cursors() {
        let inconsistent = |r: Result<(), WalkError>, needle: &str| match r {
            Err(WalkError::Inconsistent(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected {needle:?}, got {other:?}"),
        };
        let mut w = CursorWalk::with_limits(100, 100);
        w.accept(Some(9), ids(&["a"]), Some("x")).unwrap();
        inconsistent(
            w.accept(Some(9), ids(&["b"]), Some("x")),
            "already followed",
        );
        let mut w = CursorWalk::with_limits(100, 100);
        w.accept(Some(9), ids(&["a"]), Some("x")).unwrap();
        w.accept(Some(9), ids(&["b"]), Some("y")).unwrap();
        inconsistent(
            w.accept(Some(9), ids(&["c"]), Some("x")),
            "already followed",
        );
        let mut w = CursorWalk::with_limits(100, 100);
        w.accept(Some(9), ids(&["a"]), Some("x")).unwrap();
        inconsistent(w.accept(Some(9), ids(&["a"]), Some("y")), "repeats id");
        let mut w = CursorWalk::with_limits(100, 100);
        inconsistent(w.accept(Some(9), ids(&["a"]), Some("")), "empty nextCursor");
        let mut w = CursorWalk::with_limits(100, 100);
        inconsistent(w.accept(Some(3), ids(&["a"]), None), "may ignore `cursor`");
        let mut w = CursorWalk::with_limits(100, 100);
        let long = "k".repeat(MAX_CURSOR_BYTES + 1);
        inconsistent(w.accept(None, ids(&["a"]), Some(&long)), "bytes");
        // the limits hold as for index walks
        let mut w = CursorWalk::with_limits(10, 100);
        assert!(matches!(
            w.accept(Some(11), ids(&["a"]), Some("x")),
            Err(WalkError::TooLarge(..))
        ));
        let mut w = CursorWalk::with_limits(100, 2);
        w.accept(None, ids(&["a"]), Some("x")).unwrap();
        assert!(matches!(
            w.accept(None, ids(&["b"]), Some("y")),
            Err(WalkError::TooLarge(..))
        ));
        let mut w = CursorWalk::with_limits(100, 2);
        w.accept(None, ids(&["a"]), Some("x")).unwrap();
        w.accept(None, ids(&["b"]), None).unwrap();
        assert!(
            w.is_done(),
            "a walk that ends on its last allowed page is fine"
        );
    }

    #[test]
    fn next_cursor_is_read_leniently_and_checked() {
        let extra = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(next_cursor(&extra(serde_json::json!({}))), Ok(None));
        assert_eq!(
            next_cursor(&extra(serde_json::json!({"nextCursor": null}))),
            Ok(None)
        );
        assert_eq!(
            next_cursor(&extra(serde_json::json!({"NextCursor": "a"}))),
            Ok(Some("a"))
        );
        assert!(next_cursor(&extra(serde_json::json!({"nextCursor": 7}))).is_err());
    }
}
