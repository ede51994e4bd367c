//! `scim-sync`: one reconcile of an ACTIVATE organization into a SCIM 2.0 service provider,
//! as a library. Every front door (the `pw-activate-scim-sync` binary, other Parallel Works
//! tools) runs the same [`Reconciler`]: read both ends completely, plan with `scim-diff`,
//! apply through `scim-client` unless refused or a dry run, and return a typed
//! [`RunReport`].
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use scim_sync::{Reconciler, RunOutcome, Source};
//! let scim = scim_client::ScimClient::builder("https://api.coreweave.com/scim/abc123")
//!     .bearer_token("token-from-a-secret".into())
//!     .build()?;
//! let report = Reconciler::new(Source::export_file("org.json"), scim, Default::default())
//!     .run()
//!     .await;
//! match report.outcome {
//!     RunOutcome::Ok => println!("{} operations", report.plan.map_or(0, |p| p.operations.len())),
//!     other => eprintln!("{other:?}: {:?}", report.error),
//! }
//! # Ok(()) }
//! ```
//!
//! Guarantees, whatever the peers do:
//! - **Nothing is written unless both ends were read completely** and the plan was not
//!   refused by a blast-radius limit ([`RunOutcome::ReadFailed`], [`RunOutcome::Refused`]).
//! - **A stop or the deadline** ([`StopHandle`]) stops the issuing of writes, never one in
//!   flight; while reading, it ends the run with nothing written.
//! - **Planning runs on the blocking pool**, not on the async runtime's workers.
//! - **The source** ([`Source`]) is the ACTIVATE API, ACTIVATE's read-only SCIM API or any
//!   SCIM 2.0 directory ([`directory`], in a request per page), or an export; each gives a
//!   complete snapshot or an error.
//! - Run-time settings ([`dynamic`]): the `SCIMConfig` Kubernetes resource overrides the
//!   static ones; any problem with it falls back to them, never fails the run.
//! - The SCIM adapter ([`target`]) lists only the managed prefix (falling back to an
//!   unfiltered list, with a warning, when the target refuses the filter:
//!   [`target::refused_filter`]), and never writes to a record without the prefix.
//! - **A saved plan** ([`Reconciler::plan_to_save`], [`SavedPlan`]) is applied
//!   ([`ApplySaved`]) exactly as saved, or not at all: only while every record it depends on
//!   is as it was planned against, and its limits still hold.

mod apply_saved;
pub mod check;
pub mod connect;
#[cfg(feature = "demo")]
pub mod demo;
pub mod directory;
pub mod document;
pub mod dynamic;
pub mod export;
pub mod metrics;
pub mod progress;
mod reconciler;
mod report;
pub mod saved;
mod source;
mod stop;
pub mod target;

pub use apply_saved::{ApplySaved, DEFAULT_MAX_PLAN_AGE};
pub use directory::ScimDirectory;
pub use reconciler::{Observer, Phase, Reconciler};
pub use report::{
    ApprovalOutcome, ApprovalUse, OpCounts, PhaseTimings, RequestCounts, RunError, RunOutcome,
    RunReport, RunWarning, SourceUsers, Summary, WarningOrigin,
};
pub use saved::SavedPlan;
pub use source::Source;
pub use stop::StopHandle;

// what an embedder names to build and read a run, without depending on every crate
pub use activate_client::{ActivateClient, SnapshotOptions};
pub use scim_client::ScimClient;
pub use scim_diff::{ApplyReport, Plan, Policy, StopReason};
