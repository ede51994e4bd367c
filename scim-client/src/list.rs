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

/// The state of one paging walk: checks every page and says where to go next.
#[derive(Debug)]
pub(crate) struct PageWalk {
    /// 1-based index to ask for next.
    pub(crate) next_start: u64,
    seen: HashSet<String>,
    total: Option<u64>,
    done: bool,
    pages: u64,
    max_records: u64,
    max_pages: u64,
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
            max_records,
            max_pages,
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
        if let Some(total) = total_results
            && total > self.max_records
        {
            return Err(WalkError::TooLarge(
                crate::ReadLimit::ListRecords,
                format!(
                    "the list says it holds {total} records, more than the {} this client reads",
                    self.max_records
                ),
            ));
        }
        self.check(total_results, ids)
            .map_err(WalkError::Inconsistent)?;
        if self.collected() > self.max_records {
            return Err(WalkError::TooLarge(
                crate::ReadLimit::ListRecords,
                format!(
                    "the list goes on past {} records, the most this client reads",
                    self.max_records
                ),
            ));
        }
        if !self.done && self.pages >= self.max_pages {
            return Err(WalkError::TooLarge(
                crate::ReadLimit::ListPages,
                format!(
                    "the list goes on past {} pages, the most this client requests",
                    self.max_pages
                ),
            ));
        }
        Ok(())
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
}
