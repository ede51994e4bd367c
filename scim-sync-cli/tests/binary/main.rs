//! Tests of the binary `pw-activate-scim-sync` as a user runs it: one test binary (link time),
//! one module per concern.

/// Runs a scenario against the embedded server, and (ignored) against scim2-server.
macro_rules! against_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name(crate::targets::Target::embedded().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs scim2-server: run by cargo xtask ci"]
            async fn scim2_server() {
                super::$name(crate::targets::Target::scim2(stringify!($name)).await).await
            }
        }
    )*};
}

mod approval;
mod e2e;
mod export;
mod extension;
mod fake_activate;
mod harness;
mod manifests;
mod metrics;
mod plan_apply;
mod review;
mod scim_source;
mod support;
mod targets;
mod usage;
