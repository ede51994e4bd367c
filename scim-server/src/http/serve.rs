//! The accept loop: hyper connections serving the router, at most `max_connections` at
//! once, each closed after the idle (header read) timeout, and an accept that backs off when
//! the process is out of descriptors.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Notify, Semaphore, watch};
use tower_service::Service;

use crate::App;

use super::*;

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
pub(super) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
pub(super) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
