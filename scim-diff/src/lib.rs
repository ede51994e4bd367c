//! `scim-diff`: the reconciler core of `pw-activate-scim-sync`.
//!
//! It turns what the identity source says ([`source::SourceSnapshot`]) and what the SCIM
//! target holds into a plan of changes. It performs no I/O: fetching and applying happen at
//! the edges, behind traits.
//!
//! The planning engine arrives with issue #3; today this crate defines the source snapshot
//! that `activate-client` produces and that the ACTIVATE export file stores.

pub mod source;
