//! `scim-server`: an embeddable in-memory SCIM 2.0 service provider.
//!
//! Built by issue #5; nothing here works yet.
