//! The internals of `pw-activate-scim-sync`, as a library so the binary's tests can reach
//! them. This is not a stable API: embedders use `scim-client`, `scim-diff` and
//! `activate-client` directly.

pub mod dynamic;
