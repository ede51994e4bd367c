//! HTTP: the accept loop (hyper connections serving an axum router, so a fault can drop a
//! connection), path-based tenant routing, authentication, fault application and the
//! SCIM handlers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore, watch};
use tower_service::Service;

use crate::error::ScimError;
use crate::faults::{Fault, Fired, Op, RetryAfter};
use crate::filter::{self, AttrPath, Filter};
use crate::schema::{self, ResourceKind};
use crate::store::ListQuery;
use crate::{App, RequestRecord, Tenant};

/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// Per-connection context: lets a handler close its connection without answering.
#[derive(Clone)]
pub(crate) struct Conn {
    kill: Arc<Notify>,
}

/// Every request goes to [`dispatch`], which routes by path (tenants are path prefixes).
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = app.config.limits.clone();
    let router = router(app);
    let mut tasks = tokio::task::JoinSet::new();
    // One slot per open connection: at the cap, nothing more is accepted (new connections
    // wait in the kernel's backlog) until one closes.
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut backoff = Duration::ZERO;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => {
                        backoff = Duration::ZERO;
                        stream
                    }
                    Err(e) => {
                        // Out of file descriptors (or buffers): the pending connection stays
                        // queued and accept fails again at once. Wait instead of spinning.
                        backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                        tracing::warn!(error = %e, ?backoff, "accept failed; waiting before the next");
                        drop(slot);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
                        }
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let kill = Arc::new(Notify::new());
                let conn_ctx = Conn { kill: kill.clone() };
                let router = router.clone();
                let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(conn_ctx.clone());
                    let mut r = router.clone();
                    async move { r.call(req.map(Body::new)).await }
                });
                let mut stop = shutdown.clone();
                let idle_timeout = limits.idle_timeout;
                tasks.spawn(async move {
                    let _slot = slot;
                    // The header read timeout runs from the moment the connection waits for a
                    // request, so it is also the idle timeout of a kept-alive connection: a
                    // client that connects and sends nothing (or trickles its headers) is
                    // closed after it.
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(idle_timeout)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = kill.notified() => {} // dropping the connection closes it
                        _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                        }
                    }
                });
                while tasks.try_join_next().is_some() {}
            }
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

/// The first wait after a failed accept; it doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What a request asks for.
#[derive(Debug, Clone)]
enum Route {
    ServiceProviderConfig,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
    Collection(ResourceKind),
    Search(Option<ResourceKind>),
    Resource(ResourceKind, String),
    NotImplemented(&'static str),
}

fn parse_route(segs: &[String]) -> Option<Route> {
    let kind = |s: &str| match s {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    };
    Some(match segs {
        [s] if s == "ServiceProviderConfig" || s == "ServiceProviderConfigs" => {
            Route::ServiceProviderConfig
        }
        [s] if s == "ResourceTypes" => Route::ResourceTypes(None),
        [s, id] if s == "ResourceTypes" => Route::ResourceTypes(Some(id.clone())),
        [s] if s == "Schemas" => Route::Schemas(None),
        [s, id] if s == "Schemas" => Route::Schemas(Some(id.clone())),
        [s] if s == ".search" => Route::Search(None),
        [s] if s == "Bulk" => Route::NotImplemented("bulk operations are not supported"),
        [s] if s == "Me" => Route::NotImplemented("/Me is not supported"),
        [s] => Route::Collection(kind(s)?),
        [s, x] if x == ".search" => Route::Search(Some(kind(s)?)),
        [s, id] => Route::Resource(kind(s)?, id.clone()),
        _ => return None,
    })
}

fn op_of(route: &Route, method: &Method) -> (Option<ResourceKind>, Op) {
    match route {
        Route::Collection(k) if method == Method::POST => (Some(*k), Op::Create),
        Route::Collection(k) => (Some(*k), Op::List),
        Route::Search(k) => (*k, Op::Search),
        Route::Resource(k, _) => (
            Some(*k),
            match *method {
                Method::PUT => Op::Replace,
                Method::PATCH => Op::Patch,
                Method::DELETE => Op::Delete,
                _ => Op::Get,
            },
        ),
        _ => (None, Op::Discovery),
    }
}

/// Split `/a/b/v2/Users/x` into tenant `a/b` and `["Users", "x"]`.
fn split_path(path: &str) -> Option<(String, Vec<String>)> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let i = segs.iter().position(|s| s == "v2")?;
    Some((segs[..i].join("/"), segs[i + 1..].to_vec()))
}

fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn scim_json(status: StatusCode, v: &Value) -> Response {
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, v).expect("a JSON value serialises");
    let mut r = (status, buf).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

fn retry_after_value(r: RetryAfter) -> String {
    match r {
        RetryAfter::Seconds(s) => s.to_string(),
        RetryAfter::HttpDate(s) => {
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s))
        }
    }
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.config.token else {
        return true;
    };
    let Some(h) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = h.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    // Compared in constant time, as digests, so that neither the token's bytes nor its
    // length show in the time an answer takes.
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    let want = sha2::Sha256::digest(token.expose_secret().as_bytes());
    let given = sha2::Sha256::digest(given.trim().as_bytes());
    bool::from(want.ct_eq(&given))
}

async fn dispatch(
    State(app): State<Arc<App>>,
    conn: Option<Extension<Conn>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().map(str::to_string);
    let mut record = RequestRecord::summary(&method, &path, query.as_deref());
    let Some((tenant_name, segs)) = split_path(&path) else {
        let r = ScimError::status(
            404,
            format!("no SCIM endpoint at '{path}' (expected .../v2/...)"),
        )
        .into_response();
        return finish(&app, record, r);
    };
    record.tenant = crate::truncated(&tenant_name, crate::LOGGED_PATH_BYTES);
    let Some(route) = parse_route(&segs) else {
        let r = ScimError::status(404, format!("no SCIM endpoint at '{path}'")).into_response();
        return finish(&app, record, r);
    };
    let (resource, op) = op_of(&route, &method);

    // faults
    let fired: Vec<Fired> = if app.faults.is_empty() {
        Vec::new()
    } else {
        app.faults.decide(&tenant_name, resource, op)
    };
    let mut ignore_filter = false;
    let mut shift = 0i64;
    let mut lost: Option<Duration> = None;
    for f in &fired {
        match &f.fault {
            Fault::Latency(d) => tokio::time::sleep(*d).await,
            Fault::IgnoreFilter => ignore_filter = true,
            Fault::ShiftPages { by } => {
                shift += by * (f.previous_firings as i64 + 1);
            }
            Fault::ResponseLost { stall } => lost = Some(*stall),
            _ => {}
        }
    }
    if let Some(f) = fired.iter().find(|f| f.fault.is_terminal()) {
        record.fault = Some(format!("{:?}", f.fault));
        let r = match &f.fault {
            Fault::TooManyRequests { retry_after } | Fault::Status { retry_after, .. } => {
                let status = match &f.fault {
                    Fault::Status { status, .. } => *status,
                    _ => 429,
                };
                let mut r = ScimError::status(status, "injected fault").into_response();
                if let Some(ra) = retry_after
                    && let Ok(v) = HeaderValue::from_str(&retry_after_value(*ra))
                {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Fault::Unauthorized => {
                ScimError::status(401, "the bearer token is not valid (injected)").into_response()
            }
            Fault::GarbageJson => {
                let mut r = (
                    StatusCode::OK,
                    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"totalResults\":3,\"Resources\":[{\"id\":",
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
                r
            }
            _ => {
                // DropConnection
                return drop_connection(&app, record, conn).await;
            }
        };
        return finish(&app, record, r);
    }

    let discovery = matches!(
        route,
        Route::ServiceProviderConfig | Route::ResourceTypes(_) | Route::Schemas(_)
    );
    let public = discovery && app.config.public_discovery;
    // The credential is checked before a byte of the body is read: without it, a request
    // costs the server its headers and a short log entry, nothing more.
    if !public && !authorized(&app, &headers) {
        record.forget_query();
        let r = ScimError::status(401, "a valid bearer token is required").into_response();
        return finish(&app, record, r);
    }
    let body = match read_body(body, &app.config.limits).await {
        Ok(b) => b,
        Err(e) => return finish(&app, record, e.into_response()),
    };

    // Handlers run on the blocking pool: a large PATCH or a filter over every record holds
    // a thread there (and its tenant's lock), never one of the runtime's few workers, so
    // requests to other tenants keep being answered.
    let params = query_params(query.as_deref());
    let handled = {
        let app = app.clone();
        let route = route.clone();
        let method = method.clone();
        tokio::task::spawn_blocking(move || {
            let ctx = Ctx {
                app: &app,
                tenant_name: &tenant_name,
                headers: &headers,
                params,
                ignore_filter,
                shift,
            };
            handle(&ctx, &route, &method, &body).unwrap_or_else(IntoResponse::into_response)
        })
        .await
    };
    let r = handled.unwrap_or_else(|_| {
        ScimError::status(500, "the request could not be handled").into_response()
    });
    if let Some(stall) = lost {
        record.fault = Some("ResponseLost".into());
        tokio::time::sleep(stall).await;
        return drop_connection(&app, record, conn).await;
    }
    finish(&app, record, r)
}

/// Reads a request body: at most `max_body_bytes` (413 beyond), within `body_timeout` (408
/// when a client stalls its upload).
async fn read_body(body: Body, limits: &crate::Limits) -> Result<Bytes, ScimError> {
    match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(ScimError::status(
            413,
            format!(
                "the request body is larger than {} bytes",
                limits.max_body_bytes
            ),
        )),
        Ok(Err(e)) => Err(ScimError::bad_request(
            "invalidSyntax",
            format!("the request body could not be read: {e}"),
        )),
        Err(_) => Err(ScimError::status(
            408,
            format!(
                "the request body did not arrive within {}",
                humantime::format_duration(limits.body_timeout)
            ),
        )),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn finish(app: &App, mut record: RequestRecord, r: Response) -> Response {
    record.status = Some(r.status().as_u16());
    tracing::debug!(method = %record.method, path = %record.path, status = ?record.status, "request");
    app.log.lock().expect("log lock").push(record);
    r
}

async fn drop_connection(
    app: &App,
    record: RequestRecord,
    conn: Option<Extension<Conn>>,
) -> Response {
    app.log.lock().expect("log lock").push(record);
    if let Some(Extension(c)) = conn {
        c.kill.notify_one();
        // the connection task drops this future with the connection
        std::future::pending::<()>().await;
    }
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

struct Ctx<'a> {
    app: &'a App,
    tenant_name: &'a str,
    headers: &'a HeaderMap,
    params: Vec<(String, String)>,
    ignore_filter: bool,
    shift: i64,
}

impl Ctx<'_> {
    fn base(&self) -> String {
        self.app.tenant_base(self.tenant_name)
    }
    fn tenant(&self) -> Arc<Tenant> {
        self.app.tenant(self.tenant_name)
    }
    fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    if body.is_empty() {
        return Err(ScimError::bad_request(
            "invalidSyntax",
            "the request needs a JSON body".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ScimError::bad_request("invalidSyntax", format!("the body is not valid JSON: {e}"))
    })
}

fn method_not_allowed(method: &Method) -> ScimError {
    ScimError::status(405, format!("method {method} is not allowed here"))
}

fn handle(
    ctx: &Ctx<'_>,
    route: &Route,
    method: &Method,
    body: &Bytes,
) -> Result<Response, ScimError> {
    let base = ctx.base();
    match route {
        Route::NotImplemented(what) => Err(ScimError::status(501, *what)),
        Route::ServiceProviderConfig | Route::ResourceTypes(_) | Route::Schemas(_) => {
            if method != Method::GET {
                return Err(method_not_allowed(method));
            }
            if param(&ctx.params, "filter").is_some() {
                return Err(ScimError::status(
                    403,
                    "filtering is not supported on discovery endpoints (RFC 7644 §4)",
                ));
            }
            discovery(ctx, route, &base)
        }
        Route::Collection(kind) => match *method {
            Method::GET => {
                let q = list_query_from_params(ctx, *kind)?;
                let proj = Projection::from_params(&ctx.params, *kind);
                list_response(ctx, &[*kind], &q, &proj)
            }
            Method::POST => {
                let v = parse_body(body)?;
                let tenant = ctx.tenant();
                let rec = tenant.data.write().expect("store lock").create(
                    *kind,
                    v,
                    ctx.app.config.profile,
                )?;
                let proj = Projection::from_params(&ctx.params, *kind);
                let out = render(ctx, *kind, &rec, &proj);
                let mut r = scim_json(StatusCode::CREATED, &out);
                set_location_etag(&mut r, &out);
                Ok(r)
            }
            _ => Err(method_not_allowed(method)),
        },
        Route::Search(kind) => {
            if method != Method::POST {
                return Err(method_not_allowed(method));
            }
            let v = parse_body(body)?;
            let kinds: Vec<ResourceKind> = match kind {
                Some(k) => vec![*k],
                None => vec![ResourceKind::User, ResourceKind::Group],
            };
            let (q, proj) = search_request(ctx, &v, kinds[0])?;
            list_response(ctx, &kinds, &q, &proj)
        }
        Route::Resource(kind, id) => {
            let tenant = ctx.tenant();
            let proj = Projection::from_params(&ctx.params, *kind);
            let profile = ctx.app.config.profile;
            match *method {
                Method::GET => {
                    let data = tenant.data.read().expect("store lock");
                    let rec = data
                        .get(*kind, id)
                        .ok_or_else(|| ScimError::not_found(kind.name(), id))?;
                    if let Some(inm) = ctx
                        .headers
                        .get(header::IF_NONE_MATCH)
                        .and_then(|v| v.to_str().ok())
                        && rec["meta"]["version"].as_str().is_some_and(|v| {
                            inm.split(',').any(|x| x.trim() == v || x.trim() == "*")
                        })
                    {
                        let mut r = StatusCode::NOT_MODIFIED.into_response();
                        if let Ok(h) =
                            HeaderValue::from_str(rec["meta"]["version"].as_str().unwrap_or(""))
                        {
                            r.headers_mut().insert(header::ETAG, h);
                        }
                        return Ok(r);
                    }
                    let out = render_with(ctx, *kind, rec, &proj, &data);
                    let mut r = scim_json(StatusCode::OK, &out);
                    set_etag(&mut r, &out);
                    Ok(r)
                }
                Method::PUT => {
                    let v = parse_body(body)?;
                    let rec = tenant.data.write().expect("store lock").replace(
                        *kind,
                        id,
                        v,
                        ctx.if_match(),
                        profile,
                    )?;
                    let out = render(ctx, *kind, &rec, &proj);
                    let mut r = scim_json(StatusCode::OK, &out);
                    set_location_etag(&mut r, &out);
                    Ok(r)
                }
                Method::PATCH => {
                    let v = parse_body(body)?;
                    let rec = tenant.data.write().expect("store lock").patch(
                        *kind,
                        id,
                        &v,
                        ctx.if_match(),
                        profile,
                    )?;
                    let out = render(ctx, *kind, &rec, &proj);
                    let mut r = if ctx.app.config.patch_no_content {
                        StatusCode::NO_CONTENT.into_response()
                    } else {
                        scim_json(StatusCode::OK, &out)
                    };
                    set_location_etag(&mut r, &out);
                    Ok(r)
                }
                Method::DELETE => {
                    tenant
                        .data
                        .write()
                        .expect("store lock")
                        .delete(*kind, id, ctx.if_match())?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(method_not_allowed(method)),
            }
        }
    }
}

fn set_etag(r: &mut Response, out: &Value) {
    if let Some(v) = out["meta"]["version"].as_str()
        && let Ok(h) = HeaderValue::from_str(v)
    {
        r.headers_mut().insert(header::ETAG, h);
    }
}

fn set_location_etag(r: &mut Response, out: &Value) {
    set_etag(r, out);
    if let Some(l) = out["meta"]["location"].as_str()
        && let Ok(h) = HeaderValue::from_str(l)
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
}

fn parse_usize(v: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
    match v {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            ScimError::bad_request(
                "invalidValue",
                format!("'{name}' must be an integer, got '{s}'"),
            )
        }),
    }
}

fn build_query(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    filter_text: Option<&str>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    start: Option<i64>,
    count: Option<i64>,
) -> Result<ListQuery, ScimError> {
    let filter = match filter_text {
        Some(t) if !t.trim().is_empty() && !ctx.ignore_filter => {
            let f = Filter::parse(t)?;
            f.validate(kind)?;
            Some(f)
        }
        _ => None,
    };
    let sort_by = match sort_by {
        Some(s) if !s.trim().is_empty() => {
            let path = filter::parse_attr_path(s.trim()).ok_or_else(|| {
                ScimError::bad_request("invalidPath", format!("invalid sortBy '{s}'"))
            })?;
            filter::check_sortable(kind, &path)?;
            Some(path)
        }
        _ => None,
    };
    let descending = match sort_order {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") || o.is_empty() => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => {
            return Err(ScimError::bad_request(
                "invalidValue",
                format!("sortOrder must be 'ascending' or 'descending', got '{o}'"),
            ));
        }
    };
    let max = ctx.app.config.max_page_size;
    let count = count.map_or(max, |c| (c.max(0) as usize).min(max));
    Ok(ListQuery {
        filter_text: filter.as_ref().map(ToString::to_string),
        filter,
        sort_by,
        descending,
        start_index: start.unwrap_or(1).max(1) as usize,
        count,
    })
}

fn list_query_from_params(ctx: &Ctx<'_>, kind: ResourceKind) -> Result<ListQuery, ScimError> {
    let p = &ctx.params;
    build_query(
        ctx,
        kind,
        param(p, "filter"),
        param(p, "sortBy"),
        param(p, "sortOrder"),
        parse_usize(param(p, "startIndex"), "startIndex")?,
        parse_usize(param(p, "count"), "count")?,
    )
}

fn search_request(
    ctx: &Ctx<'_>,
    v: &Value,
    kind: ResourceKind,
) -> Result<(ListQuery, Projection), ScimError> {
    let get = |k: &str| filter::get_ci(v, k);
    let s = |k: &str| -> Result<Option<&str>, ScimError> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(x)) => Ok(Some(x.as_str())),
            Some(_) => Err(ScimError::bad_request(
                "invalidValue",
                format!("'{k}' must be a string"),
            )),
        }
    };
    let n = |k: &str| -> Result<Option<i64>, ScimError> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x.as_i64().map(Some).ok_or_else(|| {
                ScimError::bad_request("invalidValue", format!("'{k}' must be an integer"))
            }),
        }
    };
    let q = build_query(
        ctx,
        kind,
        s("filter")?,
        s("sortBy")?,
        s("sortOrder")?,
        n("startIndex")?,
        n("count")?,
    )?;
    let list = |k: &str| -> Vec<String> {
        match get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(x)) => x.split(',').map(|s| s.trim().to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let proj = Projection::new(&list("attributes"), &list("excludedAttributes"), kind);
    Ok((q, proj))
}

fn list_response(
    ctx: &Ctx<'_>,
    kinds: &[ResourceKind],
    q: &ListQuery,
    proj: &Projection,
) -> Result<Response, ScimError> {
    let tenant = ctx.tenant();
    let data = tenant.data.read().expect("store lock");
    let (total, page) = if kinds.len() == 1 {
        let (t, p) = data.list(kinds[0], q, ctx.shift);
        (t, p.into_iter().map(|r| (kinds[0], r)).collect::<Vec<_>>())
    } else {
        let mut all = Vec::new();
        for k in kinds {
            let mut kq = q.clone();
            if let Some(f) = &q.filter
                && f.validate(*k).is_err()
            {
                continue;
            }
            kq.start_index = 1;
            kq.count = usize::MAX;
            let (_, p) = data.list(*k, &kq, 0);
            all.extend(p.into_iter().map(|r| (*k, r)));
        }
        let total = all.len();
        let start = q.start_index.max(1) - 1;
        (total, all.into_iter().skip(start).take(q.count).collect())
    };
    if proj.is_empty() {
        // fast path: serialise straight from the stored records, no copies
        let base = ctx.base();
        let resources: Vec<Rendered<'_>> = page
            .iter()
            .map(|(k, r)| Rendered {
                kind: *k,
                rec: r,
                base: &base,
                groups: match k {
                    ResourceKind::User => user_groups(&data, r, &base),
                    ResourceKind::Group => None,
                },
            })
            .collect();
        let body = ListBody {
            schemas: [schema::LIST_RESPONSE],
            total_results: total,
            start_index: q.start_index.max(1),
            items_per_page: resources.len(),
            resources,
        };
        let mut buf = Vec::with_capacity(512 * (body.items_per_page + 1));
        serde_json::to_writer(&mut buf, &body).expect("a list serialises");
        drop(body);
        drop(data);
        let mut r = (StatusCode::OK, buf).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        return Ok(r);
    }
    let resources: Vec<Value> = page
        .iter()
        .map(|(k, r)| render_with(ctx, *k, r, proj, &data))
        .collect();
    drop(data);
    let out = json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": q.start_index.max(1),
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    Ok(scim_json(StatusCode::OK, &out))
}

fn discovery(ctx: &Ctx<'_>, route: &Route, base: &str) -> Result<Response, ScimError> {
    let list = |items: Vec<Value>| {
        json!({"schemas":[schema::LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1,
               "itemsPerPage": items.len(), "Resources": items})
    };
    let out = match route {
        Route::ServiceProviderConfig => json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": ctx.app.config.max_page_size},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig",
                     "location": format!("{base}/ServiceProviderConfig")},
        }),
        Route::ResourceTypes(None) => list(
            [ResourceKind::User, ResourceKind::Group]
                .iter()
                .map(|k| schema::resource_type_json(*k, base))
                .collect(),
        ),
        Route::ResourceTypes(Some(id)) => {
            let k = [ResourceKind::User, ResourceKind::Group]
                .into_iter()
                .find(|k| k.name() == id)
                .ok_or_else(|| ScimError::not_found("ResourceType", id))?;
            schema::resource_type_json(k, base)
        }
        Route::Schemas(None) => list(
            schema::ALL_SCHEMAS
                .iter()
                .map(|s| schema::schema_json(s, base))
                .collect(),
        ),
        Route::Schemas(Some(id)) => {
            let s = schema::ALL_SCHEMAS
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .ok_or_else(|| ScimError::not_found("Schema", id))?;
            schema::schema_json(s, base)
        }
        _ => unreachable!("discovery routes only"),
    };
    Ok(scim_json(StatusCode::OK, &out))
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).
#[derive(Debug, Default)]
struct Projection {
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
}

#[derive(Debug)]
enum Target {
    /// A whole extension object.
    Extension(&'static str),
    /// (container: None = top level, or an extension URN; attribute; sub-attribute)
    Attr(Option<String>, String, Option<String>),
}

impl Projection {
    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    fn from_params(params: &[(String, String)], kind: ResourceKind) -> Self {
        let split = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        Self::new(
            &split(param(params, "attributes")),
            &split(param(params, "excludedAttributes")),
            kind,
        )
    }

    fn new(include: &[String], exclude: &[String], kind: ResourceKind) -> Self {
        let targets = |list: &[String]| -> Vec<Target> {
            list.iter()
                .filter_map(|s| {
                    if let Some(e) = kind.extension(s) {
                        return Some(Target::Extension(e.id));
                    }
                    let p: AttrPath = filter::parse_attr_path(s)?;
                    let container = match &p.urn {
                        Some(u) if u.eq_ignore_ascii_case(kind.core().id) => None,
                        Some(u) => Some(kind.extension(u).map_or(u.clone(), |e| e.id.to_string())),
                        None => None,
                    };
                    Some(Target::Attr(container, p.attr, p.sub))
                })
                .collect()
        };
        let include = targets(include);
        Self {
            include: if include.is_empty() {
                None
            } else {
                Some(include)
            },
            exclude: targets(exclude),
        }
    }

    fn apply(&self, kind: ResourceKind, rec: Value) -> Value {
        let Value::Object(mut src) = rec else {
            return rec;
        };
        let always = |k: &str| k == "id" || k == "schemas";
        if let Some(include) = &self.include {
            let mut out = Map::new();
            for k in ["schemas", "id"] {
                if let Some(v) = src.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            for t in include {
                match t {
                    Target::Extension(urn) => {
                        if let Some(v) = src.get(*urn) {
                            out.insert((*urn).into(), v.clone());
                        }
                    }
                    Target::Attr(container, attr, sub) => {
                        let from = match container {
                            None => Some(&src),
                            Some(u) => src.get(u.as_str()).and_then(Value::as_object),
                        };
                        let Some(from) = from else { continue };
                        let Some((key, v)) =
                            from.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr))
                        else {
                            continue;
                        };
                        let picked = match sub {
                            None => Some(v.clone()),
                            Some(s) => project_sub(v, s),
                        };
                        let Some(picked) = picked else { continue };
                        let dest = match container {
                            None => &mut out,
                            Some(u) => out
                                .entry(u.clone())
                                .or_insert_with(|| Value::Object(Map::new()))
                                .as_object_mut()
                                .expect("object"),
                        };
                        match (dest.get_mut(key.as_str()), picked) {
                            (Some(Value::Object(d)), Value::Object(p)) => d.extend(p),
                            (_, p) => {
                                dest.insert(key.clone(), p);
                            }
                        }
                    }
                }
            }
            src = out;
        }
        for t in &self.exclude {
            match t {
                Target::Extension(urn) => {
                    src.remove(*urn);
                }
                Target::Attr(container, attr, sub) => {
                    let target = match container {
                        None => Some(&mut src),
                        Some(u) => src.get_mut(u.as_str()).and_then(Value::as_object_mut),
                    };
                    let Some(target) = target else { continue };
                    let Some(key) = target
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(attr))
                        .cloned()
                    else {
                        continue;
                    };
                    if container.is_none() && always(&key) {
                        continue;
                    }
                    match sub {
                        None => {
                            target.remove(&key);
                        }
                        Some(s) => match target.get_mut(&key) {
                            Some(Value::Object(o)) => {
                                o.retain(|k, _| !k.eq_ignore_ascii_case(s));
                            }
                            Some(Value::Array(a)) => {
                                for e in a.iter_mut() {
                                    if let Some(o) = e.as_object_mut() {
                                        o.retain(|k, _| !k.eq_ignore_ascii_case(s));
                                    }
                                }
                            }
                            _ => {}
                        },
                    }
                }
            }
        }
        let _ = kind;
        Value::Object(src)
    }
}

fn project_sub(v: &Value, sub: &str) -> Option<Value> {
    match v {
        Value::Object(o) => {
            let (k, sv) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub))?;
            let mut m = Map::new();
            m.insert(k.clone(), sv.clone());
            Some(Value::Object(m))
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|e| project_sub(e, sub)).collect();
            if items.is_empty() {
                None
            } else {
                Some(Value::Array(items))
            }
        }
        _ => None,
    }
}

fn render(ctx: &Ctx<'_>, kind: ResourceKind, rec: &Value, proj: &Projection) -> Value {
    let tenant = ctx.tenant();
    let data = tenant.data.read().expect("store lock");
    render_with(ctx, kind, rec, proj, &data)
}

/// The representation of a stored record: `meta.location`, `User.groups` from the
/// membership index, member `$ref`s, `returned: never` attributes removed, projection.
fn render_with(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    rec: &Value,
    proj: &Projection,
    data: &crate::store::TenantData,
) -> Value {
    let base = ctx.base();
    let mut out = rec.clone();
    let id = rec
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(o) = out.as_object_mut() else {
        return out;
    };
    o.remove("password");
    if let Some(Value::Object(meta)) = o.get_mut("meta") {
        meta.insert(
            "location".into(),
            Value::String(format!("{base}/{}/{id}", kind.endpoint())),
        );
    }
    match kind {
        ResourceKind::User => {
            if let Some(groups) = user_groups(data, rec, &base) {
                o.insert("groups".into(), Value::Array(groups));
            }
        }
        ResourceKind::Group => {
            if let Some(Value::Array(members)) = o.get_mut("members") {
                for m in members {
                    let (Some(v), Some(t)) = (
                        m.get("value").and_then(Value::as_str).map(str::to_string),
                        m.get("type").and_then(Value::as_str).map(str::to_string),
                    ) else {
                        continue;
                    };
                    let ep = if t == "Group" { "Groups" } else { "Users" };
                    if let Some(mo) = m.as_object_mut() {
                        mo.insert("$ref".into(), Value::String(format!("{base}/{ep}/{v}")));
                    }
                }
            }
        }
    }
    proj.apply(kind, out)
}

/// `User.groups`, computed from the membership index (`None` when the user is in none).
fn user_groups(data: &crate::store::TenantData, rec: &Value, base: &str) -> Option<Vec<Value>> {
    let id = rec.get("id").and_then(Value::as_str)?;
    let groups: Vec<Value> = data
        .groups_of(id)?
        .iter()
        .filter_map(|g| data.get(ResourceKind::Group, g))
        .map(|g| {
            let gid = g["id"].as_str().unwrap_or_default();
            json!({"value": gid, "$ref": format!("{base}/Groups/{gid}"),
                   "display": g.get("displayName").cloned().unwrap_or(Value::Null),
                   "type": "direct"})
        })
        .collect();
    if groups.is_empty() {
        None
    } else {
        Some(groups)
    }
}

/// A list response body for the no-projection fast path.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    schemas: [&'static str; 1],
    total_results: usize,
    start_index: usize,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: Vec<Rendered<'a>>,
}

/// A stored record serialised as `render_with` would render it without a projection, but
/// without copying it.
struct Rendered<'a> {
    kind: ResourceKind,
    rec: &'a Value,
    base: &'a str,
    groups: Option<Vec<Value>>,
}

impl serde::Serialize for Rendered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(obj) = self.rec.as_object() else {
            return self.rec.serialize(s);
        };
        let id = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut m = s.serialize_map(None)?;
        for (k, v) in obj {
            match k.as_str() {
                "password" => {}
                "groups" if self.groups.is_some() => {}
                "meta" if v.is_object() => m.serialize_entry(
                    k,
                    &WithExtra {
                        obj: v,
                        key: "location",
                        extra: format!("{}/{}/{id}", self.base, self.kind.endpoint()),
                    },
                )?,
                "members" if self.kind == ResourceKind::Group && v.is_array() => m
                    .serialize_entry(
                        k,
                        &Members {
                            members: v,
                            base: self.base,
                        },
                    )?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        if let Some(g) = &self.groups {
            m.serialize_entry("groups", g)?;
        }
        m.end()
    }
}

/// An object with one entry set (replacing any entry of that key).
struct WithExtra<'a> {
    obj: &'a Value,
    key: &'static str,
    extra: String,
}

impl serde::Serialize for WithExtra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(o) = self.obj.as_object() {
            for (k, v) in o {
                if k != self.key {
                    m.serialize_entry(k, v)?;
                }
            }
        }
        m.serialize_entry(self.key, &self.extra)?;
        m.end()
    }
}

/// Group members with their `$ref`.
struct Members<'a> {
    members: &'a Value,
    base: &'a str,
}

impl serde::Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let items = self
            .members
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for m in items {
            let (Some(v), Some(t)) = (
                m.get("value").and_then(Value::as_str),
                m.get("type").and_then(Value::as_str),
            ) else {
                seq.serialize_element(m)?;
                continue;
            };
            let ep = if t == "Group" { "Groups" } else { "Users" };
            seq.serialize_element(&WithExtra {
                obj: m,
                key: "$ref",
                extra: format!("{}/{ep}/{v}", self.base),
            })?;
        }
        seq.end()
    }
}
