//! Starts and stops the real, independent scim2-server (python-scim) through
//! `xtask/scim2/scim2-server.sh`, which installs it into a virtualenv on first use.

use std::net::TcpListener;
use std::process::Command;

use crate::project_root;

/// The launcher, part of this repository (a fresh clone needs nothing beside it).
fn script() -> std::path::PathBuf {
    project_root().join("xtask/scim2/scim2-server.sh")
}

/// A running scim2-server; stopped when dropped.
pub(crate) struct Scim2Server {
    port: u16,
    /// Base URL without a tenant, e.g. `http://127.0.0.1:41234`.
    pub(crate) url: String,
    /// The bearer token the server accepts.
    pub(crate) token: String,
}

/// Which schemas the server is started with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// RFC 7643's defaults and the CoreWeave user extension (a CoreWeave stand-in).
    CoreWeave,
    /// RFC 7643's defaults only: a SCIM server that is not CoreWeave (it refuses the extension).
    Plain,
}

impl Scim2Server {
    pub(crate) fn start(flavour: Flavour) -> Result<Self, String> {
        let script = script();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let token = format!("xtask-{}", std::process::id());
        eprintln!("\n$ {} start {port}", script.display());
        let out = Command::new("bash")
            .arg(&script)
            .args(["start", &port.to_string(), &token])
            .args((flavour == Flavour::Plain).then_some("plain"))
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "scim2-server did not start: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!("scim2-server is up at {url}");
        Ok(Self { port, url, token })
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.port.to_string()])
            .status();
    }
}
