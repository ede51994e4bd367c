//! Tests of the binary `pw-activate-scim-sync` as a user runs it: one test binary (link time),
//! one module per concern.

mod e2e;
mod fake_activate;
mod harness;
mod manifests;
mod review;
mod support;
mod targets;
mod usage;
