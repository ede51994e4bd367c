//! `scim-client`: a generic SCIM 2.0 client (RFC 7643/7644) with CoreWeave extension types.
//!
//! Built by issue #2; nothing here works yet.
