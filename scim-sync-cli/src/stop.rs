//! Stopping a run cleanly: SIGTERM / Ctrl-C and `--deadline` both stop the issuing of new
//! writes (writes in flight finish), so a CronJob's own deadline never kills a run mid-write.
//! Before the first write, a stop aborts the run with nothing written.

/// The run's stop flag and deadline: the library's handle.
pub use scim_sync::StopHandle as Stop;

/// The first SIGTERM or Ctrl-C raises the flag ([`Stop::raise_on_signals`]); a second one
/// exits at once with code 130 (the operator insisted).
pub fn listen_for_signals(stop: &Stop) {
    let second = stop.raise_on_signals();
    tokio::spawn(async move {
        if second.await.is_ok() {
            tracing::error!("second stop signal: exiting now");
            std::process::exit(130);
        }
    });
}
