//! `activate-client`: reads a Parallel Works ACTIVATE organization as a complete snapshot.
//!
//! Built by issue #4; nothing here works yet.
