//! What the whole-binary benchmarks share: a generated organization ([`org`]), running the
//! release binary and reading its report ([`binary`]), and the load generator that measures
//! what the same requests cost without the syncer ([`load`]).
//!
//! Each bench includes this directory with `mod support;`; a bench uses only part of it.
#![allow(dead_code)]

pub(crate) mod binary;
pub(crate) mod load;
pub(crate) mod org;
