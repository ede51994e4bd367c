//! HTTP: the accept loop (`serve`), path-based tenant routing (`routing`), authentication,
//! fault application and the bounded body read (`dispatch`), the SCIM handlers (`handlers`),
//! attribute projection (`projection`) and rendering (`render`).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

mod dispatch;
mod handlers;
mod projection;
mod render;
mod routing;
mod serve;

use dispatch::*;
use handlers::*;
use projection::*;
use render::*;
use routing::*;
pub(crate) use serve::{router, serve};

/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// Per-connection context: lets a handler close its connection without answering.
#[derive(Clone)]
pub(crate) struct Conn {
    kill: Arc<Notify>,
}

/// A SCIM JSON response.
fn scim_json(status: StatusCode, v: &Value) -> Response {
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, v).expect("a JSON value serialises");
    let mut r = (status, buf).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}
