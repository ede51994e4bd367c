//! Exit codes, a contract with the operator (and the README): the library's [`Outcome`],
//! whose [`Outcome::code`] is the process exit code; its documentation has the table.

pub use scim_sync::document::Outcome;
