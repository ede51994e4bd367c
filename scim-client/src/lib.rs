//! `scim-client`: a generic SCIM 2.0 client (RFC 7643/7644) with CoreWeave extension types.
//!
//! Work in progress (issue #2): the [`transport`] module (retries, pacing, accounting) is
//! ready; the SCIM client itself lands next.

pub mod transport;
