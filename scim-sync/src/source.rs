//! Where a run's snapshot comes from: the ACTIVATE API, ACTIVATE's SCIM API (or any SCIM 2.0
//! directory), an ACTIVATE export file, or an export held in memory. Each gives a complete
//! snapshot or an error, never part of one.

use std::borrow::Cow;
use std::path::PathBuf;

use activate_client::{ActivateClient, Snapshot, SnapshotOptions, StatsSnapshot};

use crate::directory::ScimDirectory;

/// The identity source of a run.
#[derive(Clone)]
pub enum Source {
    /// The ACTIVATE API.
    Activate(ActivateClient),
    /// An ACTIVATE export file, read only if it is a regular file of at most `max_bytes`.
    ExportFile {
        /// The file.
        path: PathBuf,
        /// The largest file read ([`activate_client::DEFAULT_EXPORT_MAX_BYTES`] is 1 GiB).
        max_bytes: u64,
    },
    /// The text of an ACTIVATE export (a sample compiled into a program, say).
    ExportText(Cow<'static, str>),
    /// ACTIVATE's read-only SCIM 2.0 API, or any SCIM 2.0 directory
    /// ([`crate::directory`]: users, groups and SSH keys in a request per page).
    ScimDirectory(ScimDirectory),
}

impl std::fmt::Debug for Source {
    /// What [`describe`](Source::describe) says: never an export's contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Source {
    /// An export file, read up to the default size.
    pub fn export_file(path: impl Into<PathBuf>) -> Source {
        Source::ExportFile {
            path: path.into(),
            max_bytes: activate_client::DEFAULT_EXPORT_MAX_BYTES,
        }
    }

    /// A short description for logs (never a credential).
    pub fn describe(&self) -> String {
        match self {
            Source::Activate(client) => format!("ACTIVATE API at {}", client.base_url()),
            Source::ExportFile { path, .. } => format!("ACTIVATE export {}", path.display()),
            Source::ExportText(_) => "an ACTIVATE export held in memory".to_owned(),
            Source::ScimDirectory(directory) => {
                format!("SCIM directory at {}", directory.client().base_url())
            }
        }
    }

    /// Reads a complete snapshot as `options` say (the groups in scope, whether keys are
    /// read), or fails; the error says what could not be read.
    pub async fn read(&self, options: &SnapshotOptions) -> Result<Snapshot, String> {
        let result = match self {
            Source::Activate(client) => client.snapshot(options).await.map_err(|e| e.to_string()),
            // reading and parsing up to a GiB is blocking work: off the runtime's workers,
            // so that the target's read goes on meanwhile (and a stop is heard)
            Source::ExportFile { path, max_bytes } => {
                let (path, max_bytes) = (path.clone(), *max_bytes);
                blocking(move || {
                    activate_client::read_export_with_limit(&path, max_bytes)
                        .map_err(|e| e.to_string())
                })
                .await
            }
            Source::ExportText(text) => {
                let text = text.clone();
                blocking(move || activate_client::parse_export(&text)).await
            }
            Source::ScimDirectory(directory) => {
                directory.snapshot(options).await.map_err(|e| e.to_string())
            }
        };
        if let Ok(snap) = &result {
            tracing::info!(
                source = %self.describe(),
                users = snap.snapshot.users.len(),
                groups = snap.snapshot.groups.len(),
                warnings = snap.warnings.len(),
                "read the source"
            );
        }
        result
    }

    /// Whether the source is a file or text at hand (read before the target is asked
    /// anything), rather than an API.
    pub fn is_local(&self) -> bool {
        matches!(self, Source::ExportFile { .. } | Source::ExportText(_))
    }

    /// The API client (it shares its counters), when reading the API.
    pub fn activate_client(&self) -> Option<&ActivateClient> {
        match self {
            Source::Activate(client) => Some(client),
            Source::ExportFile { .. } | Source::ExportText(_) | Source::ScimDirectory(_) => None,
        }
    }

    /// Requests made to the source so far, the ACTIVATE API or the SCIM directory (`None`
    /// for an export).
    pub fn stats(&self) -> Option<StatsSnapshot> {
        match self {
            Source::Activate(client) => Some(client.stats()),
            Source::ScimDirectory(directory) => Some(directory.client().stats()),
            Source::ExportFile { .. } | Source::ExportText(_) => None,
        }
    }
}

/// `f` on the blocking pool; its panic, if it panics, goes on in the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
