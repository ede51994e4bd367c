//! Every request's way in: the fault plan, the credential (checked before the body is
//! read), the bounded body read, the handler on the blocking pool, the request log.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ScimError;
use crate::faults::{Fault, Fired, RetryAfter};
use crate::policy::Rule;
use crate::{App, PolicyDecision, RequestRecord};

use super::*;

pub(super) fn retry_after_value(r: RetryAfter) -> String {
    match r {
        RetryAfter::Seconds(s) => s.to_string(),
        RetryAfter::HttpDate(s) => {
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s))
        }
    }
}

/// The answer to a token whose policy denies `rule`: 403, a SCIM error naming the rule,
/// and the rule and the token's name as data (never the token).
pub(super) fn forbidden(rule: Rule, token: &str) -> Response {
    let ext = crate::schema::POLICY_ERROR;
    let body = serde_json::json!({
        "schemas": [crate::schema::ERROR, ext],
        "status": "403",
        "detail": format!("policy rule {rule} denies this operation to token '{token}'"),
        ext: {"rule": rule.name(), "token": token},
    });
    scim_json(StatusCode::FORBIDDEN, &body)
}

/// The answer on a tenant the token does not have: what the same request gets where
/// nothing exists (an unknown record, an unknown endpoint), whatever the tenant holds.
pub(super) fn foreign_tenant(route: &Route, path: &str) -> Response {
    match route {
        Route::Resource(kind, id) => ScimError::not_found(kind.name(), id).into_response(),
        _ => ScimError::status(404, format!("no SCIM endpoint at '{path}'")).into_response(),
    }
}

pub(super) async fn dispatch(
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
        Route::ServiceProviderConfig
            | Route::ServiceProviderConfigs
            | Route::ResourceTypes(_)
            | Route::Schemas(_)
    );
    let public = discovery && app.config.public_discovery;
    let credentials = &app.config.credentials;
    // The credential, its tenants and its rules are checked before a byte of the body is
    // read: without them, a request costs the server its headers and a short log entry.
    let mut caller = None;
    if credentials.required() && !public {
        let Some(i) = credentials.authenticate(&headers, &tenant_name) else {
            record.forget_query();
            let r = ScimError::status(401, "a valid bearer token is required").into_response();
            return finish(&app, record, r);
        };
        let grant = &credentials.grants[i];
        if !grant.tenants.contains(&tenant_name) {
            record.forget_query();
            return finish(&app, record, foreign_tenant(&route, &path));
        }
        for rule in rules_of(&route, &method) {
            let allowed = grant.policy.allows(rule);
            record.policy = Some(PolicyDecision {
                token: grant.name.clone(),
                rule,
                allowed,
            });
            if !allowed {
                return finish(&app, record, forbidden(rule, &grant.name));
            }
        }
        caller = Some(i);
    } else if credentials.declared
        && matches!(
            route,
            Route::ServiceProviderConfig | Route::ServiceProviderConfigs
        )
    {
        // public discovery: the token, if any, only decides whether the answer tells the
        // caller its own rules
        caller = credentials
            .authenticate(&headers, &tenant_name)
            .filter(|i| credentials.grants[*i].tenants.contains(&tenant_name));
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
                caller,
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
pub(super) async fn read_body(body: Body, limits: &crate::Limits) -> Result<Bytes, ScimError> {
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

pub(super) fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

pub(super) fn finish(app: &App, mut record: RequestRecord, r: Response) -> Response {
    record.status = Some(r.status().as_u16());
    tracing::debug!(
        method = %record.method,
        path = %record.path,
        status = ?record.status,
        rule = ?record.policy.as_ref().map(|p| (p.rule.name(), p.allowed)),
        "request"
    );
    app.log.lock().expect("log lock").push(record);
    r
}

pub(super) async fn drop_connection(
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
