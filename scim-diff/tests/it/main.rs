//! The integration tests of `scim-diff`, in one binary (one link).
#![allow(missing_docs, unreachable_pub)]

mod apply;
mod common;
mod plan;
mod properties;
mod snapshots;
