//! Tests of the binary `pw-activate-scim-sync` as a user runs it: one test binary (link time),
//! one module per concern.

mod manifests;
mod support;
mod usage;
