//! An export: the source read completely and written as an ACTIVATE export file (the format
//! [`Source::ExportFile`] reads, `examples/activate-export.schema.json`), or nothing written.
//! [`export`] does it and returns an [`ExportDocument`]: the one JSON object of
//! `export --output json`, and its text.

use std::fmt::Write as _;
use std::path::Path;

use activate_client::SnapshotOptions;
use serde::Serialize;

use crate::Source;
use crate::check::SourceRequests;
use crate::document::Outcome;

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportDocument {
    /// Always `export`.
    pub command: &'static str,
    /// The file written (or not).
    pub out: String,
    /// Users exported.
    pub users: usize,
    /// Among them, those who may sign in.
    pub active_users: usize,
    /// Groups exported.
    pub groups: usize,
    /// The source's warnings (never fatal).
    pub warnings: Vec<String>,
    /// Why nothing was written, if nothing was.
    pub error: Option<String>,
    /// `ok`, `read_failed` (the source could not be read completely) or `failed` (the file
    /// could not be written).
    pub outcome: Outcome,
    /// The process exit code of the outcome.
    pub exit_code: u8,
    /// Requests made to the source.
    pub requests: ExportRequests,
    /// Wall-clock duration, set by the caller.
    pub duration_ms: u64,
}

/// Requests an export made.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ExportRequests {
    /// To the source's API (zero for an export file).
    pub activate: SourceRequests,
}

/// Reads `source` completely and writes it to `out` (readable by its owner only, atomically);
/// nothing is written unless the read was complete.
pub async fn export(source: &Source, options: &SnapshotOptions, out: &Path) -> ExportDocument {
    let mut doc = ExportDocument::failed(out, Outcome::Ok, None);
    let read = source.read(options).await;
    doc.requests.activate.count = source.stats().map_or(0, |s| s.requests);
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            doc.error = Some(format!(
                "could not read the source completely: {e}; nothing was written"
            ));
            doc.finish(Outcome::ReadFailed);
            return doc;
        }
    };
    if let Err(e) = activate_client::write_export(out, &read.snapshot) {
        doc.error = Some(e.to_string());
        doc.finish(Outcome::Failed);
        return doc;
    }
    let users = &read.snapshot.users;
    doc.users = users.len();
    doc.active_users = users.iter().filter(|u| u.active).count();
    doc.groups = read.snapshot.groups.len();
    doc.warnings = read.warnings;
    doc
}

impl ExportDocument {
    /// An export to `out` that ended with `outcome` before anything was read.
    pub fn failed(out: &Path, outcome: Outcome, error: Option<String>) -> Self {
        ExportDocument {
            command: "export",
            out: out.display().to_string(),
            users: 0,
            active_users: 0,
            groups: 0,
            warnings: Vec::new(),
            error,
            outcome,
            exit_code: outcome.code(),
            requests: ExportRequests::default(),
            duration_ms: 0,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.exit_code = outcome.code();
    }

    /// Logs the line an export ends with (`run finished`: the outcome, the counts, the
    /// requests).
    pub fn log_summary(&self) {
        tracing::info!(
            command = "export",
            outcome = self.outcome.as_str(),
            exit_code = self.exit_code,
            users = self.users,
            groups = self.groups,
            activate_requests = self.requests.activate.count,
            duration_ms = self.duration_ms,
            error = self.error.as_deref().unwrap_or(""),
            "run finished"
        );
    }

    /// What was written (or why nothing was), the warnings and the outcome. The warnings
    /// quote the source's text: escape it before it reaches a terminal.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        let _ = match &self.error {
            None => writeln!(
                text,
                "Exported {} users ({} active) and {} groups to {}",
                self.users, self.active_users, self.groups, self.out
            ),
            Some(e) => writeln!(text, "ERROR: {e}"),
        };
        for w in &self.warnings {
            let _ = writeln!(text, "  - {w}");
        }
        let _ = writeln!(
            text,
            "Outcome: {} (exit {})",
            self.outcome.as_str(),
            self.exit_code
        );
        text
    }
}
