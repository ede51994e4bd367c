//! One integration-test binary (linking is the slow part): wiremock tests per resource and
//! behaviour, cursor walks against the embedded `scim-server` over loopback, and the tests
//! against the real scim2-server (ignored unless
//! `SCIM2_SERVER_URL` is provided by `cargo xtask ci`).

mod cursor;
mod discovery;
mod groups;
mod hostile;
mod paging;
mod retries;
mod scim2_server;
mod security;
mod support;
mod users;
