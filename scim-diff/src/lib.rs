//! `scim-diff`: the reconciler core of `pw-activate-scim-sync`.
//!
//! It turns what the identity source says ([`SourceSnapshot`]) and what the SCIM target holds
//! ([`ObservedState`]) into a [`Plan`] of changes under a [`Policy`], and applies a plan
//! through the [`Target`] trait. It performs no I/O and depends on no HTTP client and no async
//! runtime: fetching and applying happen at the edges, behind traits.
//!
//! ```
//! use scim_diff::{plan, ObservedState, Policy, SourceSnapshot};
//!
//! let source = SourceSnapshot::from_json(
//!     r#"{"version":1,"users":[{"username":"Ada","email":"ada@example.org","name":"Ada Lovelace"}],
//!         "groups":[{"id":"g1","name":"hpc","members":["Ada"]}]}"#,
//! ).unwrap();
//! let plan = plan(&source, &ObservedState::default(), &Policy::default());
//! assert!(plan.refusal.is_none());
//! let kinds: Vec<&str> = plan.operations.iter().map(|op| op.kind()).collect();
//! assert_eq!(kinds, ["create_user", "create_group", "update_members"]);
//! assert_eq!(plan.operations[0].external_id(), "pw-activate:user:ada");
//! println!("{}", plan.render_table());
//! ```
//!
//! The pieces:
//! - [`Policy`]: prefix, userName source, group scope, sync switches, blast-radius limits
//!   (defaults in [`policy`]), membership chunk size.
//! - [`projection::project`]: the desired state; [`ObservedState`]: what the target holds.
//! - [`plan()`] → [`Plan`] (`operations`, `conflicts`, `warnings`, `refusal`), serde JSON with
//!   `op` + `externalId` per operation, [`Plan::render_table`].
//! - [`Target`] (async, implemented at the edge over `scim-client`), [`apply()`] with
//!   [`ApplyOptions`] (concurrency, deadline, stop flag) → [`ApplyReport`].
//! - [`memory::MemoryTarget`]: the in-memory oracle target for tests; [`Source`]: where
//!   snapshots come from.
//!
//! Invariants: a record whose `externalId` lacks [`Policy::external_id_prefix`] is never
//! written, except by the [`Operation::AdoptUser`] / [`Operation::AdoptGroup`] that gives it
//! the prefix, planned only when
//! [`Policy::adoption`] allows that record and checked again by [`apply()`]; users are never deleted (deactivated, and reactivated with the same SCIM id);
//! plans are deterministic; a plan exceeding a blast-radius limit is refused as a value
//! ([`Plan::refusal`]) and [`apply()`] performs no write for it.

pub mod apply;
pub mod memory;
pub mod observed;
mod par;
pub mod plan;
mod planner;
pub mod policy;
pub mod projection;
pub mod review;
pub mod source;
pub mod ssh;
mod strindex;

pub use apply::{
    ApplyOptions, ApplyReport, OperationReport, Outcome, OutcomeCounts, StopReason, Target,
    TargetError, TargetErrorKind, apply,
};
pub use observed::{Name, ObservedGroup, ObservedState, ObservedUser};
pub use plan::{
    Conflict, ConflictKind, MemberRef, NamesToTake, Operation, Parallelism, Plan, Refusal,
    RefusalKind, RefusalReason, UserChanges, Warning, WarningKind, plan, plan_with,
};
pub use policy::{Adoption, Policy, UsernameFrom};
pub use projection::{DesiredGroup, DesiredUser};
pub use source::{Source, SourceError, SourceGroup, SourceSnapshot, SourceUser};
