//! Stopping a run cleanly: SIGTERM / Ctrl-C and `--deadline` both stop the issuing of new
//! writes (writes in flight finish), so a CronJob's own deadline never kills a run mid-write.
//! Before the first write, a stop aborts the run with nothing written.

/// The run's stop flag and deadline: the library's handle.
pub use scim_sync::StopHandle as Stop;

/// Listens for SIGTERM and Ctrl-C: the first raises the flag, a second one exits at once
/// with code 130 (the operator insisted).
pub fn listen_for_signals(stop: &Stop) {
    let stop = stop.clone();
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            wait_for_signal().await;
            seen += 1;
            if seen > 1 {
                tracing::error!("second stop signal: exiting now");
                std::process::exit(130);
            }
            tracing::warn!(
                "stop signal received: no new writes will be issued; writes in flight finish"
            );
            stop.raise();
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
