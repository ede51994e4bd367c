//! The SCIM handlers: CRUD, lists and searches, discovery.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ScimError;
use crate::filter::{self, Filter};
use crate::schema::{self, ResourceKind};
use crate::store::ListQuery;
use crate::{App, Tenant};

use super::*;

pub(super) struct Ctx<'a> {
    pub(super) app: &'a App,
    pub(super) tenant_name: &'a str,
    pub(super) headers: &'a HeaderMap,
    pub(super) params: Vec<(String, String)>,
    /// The grant (index into the credentials) that authenticated the request, if any.
    pub(super) caller: Option<usize>,
    pub(super) ignore_filter: bool,
    pub(super) shift: i64,
}

impl Ctx<'_> {
    pub(super) fn base(&self) -> String {
        self.app.tenant_base(self.tenant_name)
    }
    pub(super) fn tenant(&self) -> Arc<Tenant> {
        self.app.tenant(self.tenant_name)
    }
    pub(super) fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
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

pub(super) fn method_not_allowed(method: &Method) -> ScimError {
    ScimError::status(405, format!("method {method} is not allowed here"))
}

pub(super) fn handle(
    ctx: &Ctx<'_>,
    route: &Route,
    method: &Method,
    body: &Bytes,
) -> Result<Response, ScimError> {
    let base = ctx.base();
    match route {
        Route::NotImplemented(what) => Err(ScimError::status(501, *what)),
        Route::ServiceProviderConfig
        | Route::ServiceProviderConfigs
        | Route::ResourceTypes(_)
        | Route::Schemas(_) => {
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
                None => ResourceKind::ALL.to_vec(),
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
                    // `?force=true` deletes a role that users still hold
                    let force = match param(&ctx.params, "force") {
                        _ if *kind != ResourceKind::Role => false,
                        None => false,
                        Some(v) if v.eq_ignore_ascii_case("true") => true,
                        Some(v) if v.eq_ignore_ascii_case("false") => false,
                        Some(v) => {
                            return Err(ScimError::bad_request(
                                "invalidValue",
                                format!("'force' must be true or false, got '{v}'"),
                            ));
                        }
                    };
                    tenant.data.write().expect("store lock").delete(
                        *kind,
                        id,
                        ctx.if_match(),
                        force,
                    )?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(method_not_allowed(method)),
            }
        }
    }
}

pub(super) fn set_etag(r: &mut Response, out: &Value) {
    if let Some(v) = out["meta"]["version"].as_str()
        && let Ok(h) = HeaderValue::from_str(v)
    {
        r.headers_mut().insert(header::ETAG, h);
    }
}

pub(super) fn set_location_etag(r: &mut Response, out: &Value) {
    set_etag(r, out);
    if let Some(l) = out["meta"]["location"].as_str()
        && let Ok(h) = HeaderValue::from_str(l)
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
}

pub(super) fn parse_usize(v: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
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

/// Where a list starts and how much it returns: `startIndex`, `count`, `cursor`.
pub(super) struct PageParams<'a> {
    pub(super) start: Option<i64>,
    pub(super) count: Option<i64>,
    pub(super) cursor: Option<&'a str>,
}

pub(super) fn build_query(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    filter_text: Option<&str>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    page: PageParams<'_>,
) -> Result<ListQuery, ScimError> {
    let PageParams {
        start,
        count,
        cursor,
    } = page;
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
    // RFC 9865: `cursor` (empty for the first page) asks for a cursor walk; without cursor
    // paging the parameter is ignored, as unknown parameters are
    let after = match cursor {
        Some(c) if ctx.app.config.cursor_paging => Some(cursor_position(
            ctx,
            kind,
            c,
            start,
            count,
            sort_by.is_some(),
        )?),
        _ => None,
    };
    Ok(ListQuery {
        filter_text: filter.as_ref().map(ToString::to_string),
        filter,
        sort_by,
        descending,
        start_index: start.unwrap_or(1).max(1) as usize,
        count,
        after,
    })
}

/// The position a `cursor` parameter names (`0`: the first page), or why it cannot be used.
fn cursor_position(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
    cursor: &str,
    start: Option<i64>,
    count: usize,
    sorted: bool,
) -> Result<u64, ScimError> {
    if start.is_some() {
        return Err(ScimError::bad_request(
            "invalidValue",
            "'startIndex' and 'cursor' cannot be used together: ask for one kind of paging".into(),
        ));
    }
    if sorted {
        return Err(ScimError::bad_request(
            "invalidValue",
            "'sortBy' is not supported with 'cursor': cursor walks follow creation order".into(),
        ));
    }
    if count == 0 {
        return Err(ScimError::bad_request(
            "invalidCount",
            format!(
                "'count' must be between 1 and {} with 'cursor'",
                ctx.app.config.max_page_size
            ),
        ));
    }
    let cursor = cursor.trim();
    if cursor.is_empty() {
        return Ok(0);
    }
    let tenant = ctx.tenant();
    let data = tenant.data.read().expect("store lock");
    data.decode_cursor(kind, cursor).ok_or_else(|| {
        ScimError::bad_request(
            "invalidCursor",
            "the cursor is not one this server issued for this resource type; start again with an empty cursor".into(),
        )
    })
}

pub(super) fn list_query_from_params(
    ctx: &Ctx<'_>,
    kind: ResourceKind,
) -> Result<ListQuery, ScimError> {
    let p = &ctx.params;
    build_query(
        ctx,
        kind,
        param(p, "filter"),
        param(p, "sortBy"),
        param(p, "sortOrder"),
        PageParams {
            start: parse_usize(param(p, "startIndex"), "startIndex")?,
            count: parse_usize(param(p, "count"), "count")?,
            cursor: param(p, "cursor"),
        },
    )
}

pub(super) fn search_request(
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
        PageParams {
            start: n("startIndex")?,
            count: n("count")?,
            cursor: s("cursor")?,
        },
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

pub(super) fn list_response(
    ctx: &Ctx<'_>,
    kinds: &[ResourceKind],
    q: &ListQuery,
    proj: &Projection,
) -> Result<Response, ScimError> {
    if q.after.is_some() && kinds.len() != 1 {
        return Err(ScimError::bad_request(
            "invalidValue",
            "'cursor' pages one resource type: search /Users or /Groups".into(),
        ));
    }
    let tenant = ctx.tenant();
    let data = tenant.data.read().expect("store lock");
    let mut next_cursor = None;
    let (total, page) = if let Some(after) = q.after {
        let (t, p, next) = data.list_after(kinds[0], q, after);
        next_cursor = next.map(|seq| crate::store::encode_cursor(kinds[0], seq));
        (t, p.into_iter().map(|r| (kinds[0], r)).collect::<Vec<_>>())
    } else if kinds.len() == 1 {
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
                    ResourceKind::Group | ResourceKind::Role => None,
                },
            })
            .collect();
        let body = ListBody {
            schemas: [schema::LIST_RESPONSE],
            total_results: total,
            start_index: q.after.is_none().then_some(q.start_index.max(1)),
            items_per_page: resources.len(),
            next_cursor,
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
    let mut out = json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if q.after.is_none() {
        out["startIndex"] = json!(q.start_index.max(1));
    }
    if let Some(next) = next_cursor {
        out["nextCursor"] = json!(next);
    }
    Ok(scim_json(StatusCode::OK, &out))
}

/// With tokens, a `ServiceProviderConfig` read with a valid token on one of its tenants
/// tells that token its own rules, so that a client can learn what it may do with reads
/// only.
fn add_token_policy(ctx: &Ctx<'_>, spc: &mut Value) {
    let credentials = &ctx.app.config.credentials;
    let Some(grant) = ctx.caller.map(|i| &credentials.grants[i]) else {
        return;
    };
    if !credentials.declared {
        return;
    }
    let (allow, deny): (Vec<_>, Vec<_>) = grant
        .policy
        .rules()
        .partition(|(_, a)| *a == crate::policy::Access::Allow);
    let names =
        |v: Vec<(crate::policy::Rule, _)>| v.into_iter().map(|(r, _)| r.name()).collect::<Vec<_>>();
    if let Some(s) = spc.get_mut("schemas").and_then(Value::as_array_mut) {
        s.push(Value::String(schema::TOKEN_POLICY.into()));
    }
    spc[schema::TOKEN_POLICY] = json!({
        "token": grant.name,
        "tenant": ctx.tenant_name,
        "allow": names(allow),
        "deny": names(deny),
    });
}

pub(super) fn discovery(ctx: &Ctx<'_>, route: &Route, base: &str) -> Result<Response, ScimError> {
    let list = |items: Vec<Value>| {
        json!({"schemas":[schema::LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1,
               "itemsPerPage": items.len(), "Resources": items})
    };
    // what both discovery documents say alike (2.0 and the 1.1 `ServiceProviderConfigs`)
    let capabilities = |mut spc: Value| {
        spc["patch"] = json!({"supported": true});
        spc["bulk"] = json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0});
        spc["filter"] = json!({"supported": true, "maxResults": ctx.app.config.max_page_size});
        spc["changePassword"] = json!({"supported": false});
        spc["sort"] = json!({"supported": true});
        spc["etag"] = json!({"supported": true});
        spc
    };
    let out = match route {
        Route::ServiceProviderConfig => {
            let mut spc = capabilities(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
                "authenticationSchemes": [{
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication with a bearer token",
                    "specUri": "https://www.rfc-editor.org/info/rfc6750",
                    "primary": true
                }],
                "meta": {"resourceType": "ServiceProviderConfig",
                         "location": format!("{base}/ServiceProviderConfig")},
            }));
            add_token_policy(ctx, &mut spc);
            spc
        }
        Route::ServiceProviderConfigs => {
            // SCIM 1.1 (draft-scim-core-schema-01 §5): the same capabilities, 1.1 names
            let mut schemes = vec![json!({
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token (Authorization: Bearer)",
                "specUrl": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true,
            })];
            if ctx
                .app
                .config
                .credentials
                .x_auth_token_tenants
                .contains(ctx.tenant_name)
            {
                schemes.push(json!({
                    "name": "X-Auth-Token",
                    "description": "The same token in an X-Auth-Token header",
                    "primary": false,
                }));
            }
            let mut spc = capabilities(json!({
                "schemas": [schema::SCIM1_CORE],
                "documentationUrl": "https://datatracker.ietf.org/doc/html/rfc7644",
                "xmlDataFormat": {"supported": false},
                "authenticationSchemes": schemes,
                "meta": {"location": format!("{base}/ServiceProviderConfigs")},
            }));
            add_token_policy(ctx, &mut spc);
            spc
        }
        Route::ResourceTypes(None) => list(
            ResourceKind::ALL
                .iter()
                .map(|k| schema::resource_type_json(*k, base))
                .collect(),
        ),
        Route::ResourceTypes(Some(id)) => {
            let k = ResourceKind::ALL
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
    let mut out = out;
    if matches!(route, Route::ServiceProviderConfig) && ctx.app.config.cursor_paging {
        // RFC 9865 §4; no cursorTimeout: a cursor is a position and never expires
        out["pagination"] = json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": ctx.app.config.max_page_size,
            "maxPageSize": ctx.app.config.max_page_size,
        });
    }
    Ok(scim_json(StatusCode::OK, &out))
}
