//! Per-resource handlers: list (all pages), get, create, replace, patch, delete.

use std::marker::PhantomData;

use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;

use crate::client::ScimClient;
use crate::error::Error;
use crate::filter::Filter;
use crate::list::{CursorWalk, ListQuery, ListResponse, PageWalk, WalkError, next_cursor};
use crate::patch::PatchOp;
use crate::resource::{Resource, write_body};

/// Operations on one resource endpoint (`/Users`, `/Groups`, ...); from
/// [`ScimClient::users`], [`ScimClient::groups`] or [`ScimClient::resource`].
#[derive(Debug)]
pub struct Resources<T> {
    client: ScimClient,
    endpoint: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Resources<T> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            endpoint: self.endpoint.clone(),
            _type: PhantomData,
        }
    }
}

/// A page requested ahead of the walk: its `startIndex` and the answer.
type PageAhead<T> = (u64, Result<ListResponse<T>, Error>);

struct Walk<T> {
    handler: Resources<T>,
    query: ListQuery,
    count: u32,
    walk: PageWalk,
    /// The pages after the first, requested concurrently, in order.
    ahead: Option<BoxStream<'static, PageAhead<T>>>,
    /// Set once the walk pages by cursor (RFC 9865) instead.
    cursor: Option<CursorWalk>,
}

/// A failed walk check as the client's error, naming the page's URL.
fn walk_error(url: &url::Url, e: WalkError) -> Error {
    match e {
        WalkError::Inconsistent(message) => Error::Paging {
            url: url.to_string(),
            message,
        },
        WalkError::TooLarge(limit, message) => Error::LimitExceeded {
            url: url.to_string(),
            limit,
            message,
        },
    }
}

impl<T: Resource> Walk<T> {
    /// The next page of a cursor walk, checked: its resources.
    async fn cursor_page(&mut self) -> Result<Vec<T>, Error> {
        let walk = self.cursor.as_mut().expect("a cursor walk");
        let cursor = walk.next.clone();
        let page = self
            .handler
            .list_cursor_page(&self.query, &cursor, self.count)
            .await?;
        let url = self.handler.cursor_url(&self.query, &cursor, self.count);
        let next =
            next_cursor(&page.extra).map_err(|m| walk_error(&url, WalkError::Inconsistent(m)))?;
        walk.accept(
            page.total_results,
            page.resources.iter().map(Resource::id),
            next,
        )
        .map_err(|e| walk_error(&url, e))?;
        tracing::debug!(endpoint = %self.handler.endpoint, read = walk.collected(), total = ?page.total_results, "cursor page");
        Ok(page.resources)
    }

    /// After a first page of `read` records out of `total`: every other page, requested
    /// concurrently in `startIndex` order (bounded by the client's in-flight limit and the
    /// pages a walk may take), none past `total`. `None` without a total to go by.
    fn pages_ahead(
        &self,
        total: Option<u64>,
        read: u64,
    ) -> Option<BoxStream<'static, PageAhead<T>>> {
        let (total, step) = (total?, read);
        if step == 0 || total <= step {
            return None;
        }
        let limits = self.handler.client.limits();
        let pages = (total - step)
            .div_ceil(step)
            .min(limits.max_list_pages.saturating_sub(1));
        let in_flight = self.handler.client.max_in_flight().max(1);
        let handler = self.handler.clone();
        let query = self.query.clone();
        let count = self.count;
        let starts = (1..=pages).map(move |k| 1 + k * step);
        Some(
            stream::iter(starts)
                .map(move |start| {
                    let handler = handler.clone();
                    let query = query.clone();
                    async move { (start, handler.list_page(&query, start, count).await) }
                })
                .buffered(in_flight)
                .boxed(),
        )
    }
}

impl<T: Resource> Resources<T> {
    pub(crate) fn new(client: ScimClient, endpoint: String) -> Self {
        Self {
            client,
            endpoint,
            _type: PhantomData,
        }
    }

    /// The endpoint, relative to the base URL (e.g. `Users`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every resource matching `query`, all pages, collected. Fails with
    /// [`Error::Paging`] rather than return a list that may be incomplete.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<T>, Error> {
        self.list_stream(query).try_collect().await
    }

    /// Every resource matching `query`, as a stream of the pages in order. Every page is
    /// checked: ids never repeat, `totalResults` never changes, the count read matches
    /// `totalResults` (the server's `itemsPerPage` is not trusted). A failed check ends the
    /// stream with [`Error::Paging`].
    ///
    /// Once the first page gives `totalResults` and the page size the server honours, the
    /// other pages are requested at once, as many in flight as the client allows, and never
    /// past the end. They are checked in order like a sequential walk; if one does not start
    /// where the records read so far end (a short page in the middle), the pages requested
    /// after it are dropped and the walk goes on one page after another from there.
    ///
    /// A server that serves RFC 9865 cursors is walked by cursor instead (see [`Paging`]):
    /// one page after another, following `nextCursor` until a page has none. Records
    /// created or removed meanwhile do not shift the pages, so a changing `totalResults` is
    /// no error there; an id seen twice, a cursor followed twice, or a first page that is not
    /// the whole list yet has no `nextCursor` is.
    ///
    /// [`Paging`]: crate::Paging
    pub fn list_stream(&self, query: &ListQuery) -> BoxStream<'static, Result<T, Error>> {
        let limits = self.client.limits();
        let cursor = (self.client.known_cursor_paging() == Some(true))
            .then(|| CursorWalk::with_limits(limits.max_list_records, limits.max_list_pages));
        let state = Walk {
            handler: self.clone(),
            query: query.clone(),
            count: query.page_size.unwrap_or(self.client.page_size()).max(1),
            walk: PageWalk::with_limits(limits.max_list_records, limits.max_list_pages),
            ahead: None,
            cursor,
        };
        stream::try_unfold(state, |mut st| async move {
            if let Some(walk) = &st.cursor {
                if walk.is_done() {
                    return Ok(None);
                }
                let page = st.cursor_page().await?;
                return Ok(Some((page, st)));
            }
            if st.walk.is_done() {
                return Ok(None);
            }
            let start = st.walk.next_start;
            let page = match st.ahead.as_mut() {
                Some(ahead) => match ahead.next().await {
                    Some((at, page)) if at == start => page?,
                    // a page that does not start where the walk is, or no page left
                    _ => {
                        st.ahead = None;
                        st.handler.list_page(&st.query, start, st.count).await?
                    }
                },
                None => st.handler.list_page(&st.query, start, st.count).await?,
            };
            let url = st.handler.list_url(&st.query, start, st.count);
            st.walk
                .accept(page.total_results, page.resources.iter().map(Resource::id))
                .map_err(|e| walk_error(&url, e))?;
            tracing::debug!(endpoint = %st.handler.endpoint, start, read = st.walk.collected(), total = ?page.total_results, "page");
            if start == 1 && !st.walk.is_done() {
                // more than one page: the first time, ask whether the server pages by cursor
                if st.handler.client.uses_cursor_paging().await {
                    // cursors are opaque: the walk starts again, by cursor, and nothing of
                    // the index page is handed out
                    let limits = st.handler.client.limits();
                    st.cursor = Some(CursorWalk::with_limits(
                        limits.max_list_records,
                        limits.max_list_pages,
                    ));
                    return Ok(Some((Vec::new(), st)));
                }
                st.ahead = st.pages_ahead(page.total_results, page.resources.len() as u64);
            }
            Ok(Some((page.resources, st)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn list_url(&self, query: &ListQuery, start_index: u64, count: u32) -> url::Url {
        self.query_url(query, ("startIndex", start_index.to_string()), count)
    }

    fn cursor_url(&self, query: &ListQuery, cursor: &str, count: u32) -> url::Url {
        self.query_url(query, ("cursor", cursor.to_owned()), count)
    }

    /// The URL of a list request: the query's parameters, where to start, and `count`.
    fn query_url(&self, query: &ListQuery, at: (&'static str, String), count: u32) -> url::Url {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(f) = &query.filter {
            pairs.push(("filter", f.to_string()));
        }
        if !query.attributes.is_empty() {
            pairs.push(("attributes", query.attributes.join(",")));
        }
        if !query.excluded_attributes.is_empty() {
            pairs.push(("excludedAttributes", query.excluded_attributes.join(",")));
        }
        pairs.push(at);
        pairs.push(("count", count.to_string()));
        self.client.url(&[&self.endpoint], &pairs)
    }

    /// One page: `startIndex` (1-based) and `count`, unchecked. Prefer
    /// [`Resources::list`] / [`Resources::list_stream`], which check the walk.
    pub async fn list_page(
        &self,
        query: &ListQuery,
        start_index: u64,
        count: u32,
    ) -> Result<ListResponse<T>, Error> {
        if let Some(f) = &query.filter {
            f.validate().map_err(Error::Config)?;
        }
        let url = self.list_url(query, start_index, count);
        let resp = self.client.execute(Method::GET, url, None).await?;
        self.client.check(&Method::GET, resp)?.resource_list()
    }

    /// One page of a cursor walk (RFC 9865): `cursor` is empty for the first page, else the
    /// `nextCursor` of the page before; unchecked. Prefer [`Resources::list`] /
    /// [`Resources::list_stream`], which check the walk.
    pub async fn list_cursor_page(
        &self,
        query: &ListQuery,
        cursor: &str,
        count: u32,
    ) -> Result<ListResponse<T>, Error> {
        if let Some(f) = &query.filter {
            f.validate().map_err(Error::Config)?;
        }
        let url = self.cursor_url(query, cursor, count);
        let resp = self.client.execute(Method::GET, url, None).await?;
        self.client.check(&Method::GET, resp)?.resource_list()
    }

    /// The resources whose `externalId` equals `external_id` (filter `externalId eq`, and
    /// checked again on the client in case the server ignores the filter). Use it to
    /// reconcile after [`Error::OutcomeUnknown`].
    pub async fn find_by_external_id(&self, external_id: &str) -> Result<Vec<T>, Error> {
        let query = ListQuery::new().filter(Filter::eq("externalId", external_id));
        let all = self.list(&query).await?;
        Ok(all
            .into_iter()
            .filter(|r| r.external_id() == Some(external_id))
            .collect())
    }

    /// The resource with this id (a missing one is [`Error::Api`] with status 404; see
    /// [`Error::is_not_found`]).
    pub async fn get(&self, id: &str) -> Result<T, Error> {
        addressable_id(id)?;
        let url = self.client.url(&[&self.endpoint, id], &[]);
        let resp = self.client.execute(Method::GET, url, None).await?;
        self.client.check(&Method::GET, resp)?.resource()
    }

    /// Creates a resource (POST) and returns it as stored. Never resent after it may have
    /// reached the server: see [`Error::OutcomeUnknown`].
    pub async fn create(&self, resource: &T) -> Result<T, Error> {
        let url = self.client.url(&[&self.endpoint], &[]);
        let body = encode(resource)?;
        let resp = self.client.execute(Method::POST, url, Some(body)).await?;
        self.client.check(&Method::POST, resp)?.resource()
    }

    /// Replaces a resource (PUT) and returns it as stored. `meta` and read-only attributes
    /// are not sent; unknown attributes and extensions are.
    pub async fn replace(&self, id: &str, resource: &T) -> Result<T, Error> {
        addressable_id(id)?;
        let url = self.client.url(&[&self.endpoint, id], &[]);
        let body = encode(resource)?;
        let resp = self.client.execute(Method::PUT, url, Some(body)).await?;
        self.client.check(&Method::PUT, resp)?.resource()
    }

    /// Applies a PATCH. `Ok(None)` when the server answered 204 (or 200 without a body),
    /// `Ok(Some(resource))` when it sent the resource back.
    pub async fn patch(&self, id: &str, op: &PatchOp) -> Result<Option<T>, Error> {
        addressable_id(id)?;
        let url = self.client.url(&[&self.endpoint, id], &[]);
        let body = serde_json::to_vec(op)
            .map_err(|e| Error::Config(format!("cannot encode the PATCH: {e}")))?;
        let resp = self.client.execute(Method::PATCH, url, Some(body)).await?;
        let resp = self.client.check(&Method::PATCH, resp)?;
        if resp.status == 204 || resp.body.trim_ascii().is_empty() {
            return Ok(None);
        }
        resp.resource().map(Some)
    }

    /// Deletes a resource.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        addressable_id(id)?;
        let url = self.client.url(&[&self.endpoint, id], &[]);
        let resp = self.client.execute(Method::DELETE, url, None).await?;
        self.client.check(&Method::DELETE, resp).map(|_| ())
    }
}

/// An id a request may name: not empty, `.` or `..`, which as a path segment would make
/// `/Users/{id}` the collection itself (or its parent); URLs cannot carry them, not even
/// percent-encoded.
fn addressable_id(id: &str) -> Result<(), Error> {
    if matches!(id.trim(), "" | "." | "..") {
        return Err(Error::Config(format!(
            "refusing a request for the resource id {id:?}: it does not name one resource"
        )));
    }
    Ok(())
}

fn encode<T: Resource>(resource: &T) -> Result<Vec<u8>, Error> {
    let value = write_body(resource)
        .map_err(|e| Error::Config(format!("cannot encode the resource: {e}")))?;
    serde_json::to_vec(&value)
        .map_err(|e| Error::Config(format!("cannot encode the resource: {e}")))
}
