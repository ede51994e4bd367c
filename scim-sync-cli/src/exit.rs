//! Exit codes, a contract with the operator (and the README): the library's
//! [`Outcome`], whose [`Outcome::code`] is the process exit code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything planned was done, or there was nothing to do |
//! | 1 | some operations failed (or were not issued before the deadline / a stop signal) |
//! | 2 | usage or configuration error; nothing was read or written |
//! | 3 | refused by a safety check (blast-radius limit); nothing written |
//! | 4 | the source or the target could not be read completely; nothing written |

pub use scim_sync::document::Outcome;
