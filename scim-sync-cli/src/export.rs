//! `export --out FILE`: the organization as an ACTIVATE export ([`scim_sync::export`]), read
//! completely or not written at all.
//!
//! Exit code: 0 when written, 4 when the source could not be read completely, 2 for a
//! configuration problem (or a file that cannot be created), 1 when writing failed.

use std::path::Path;
use std::time::Instant;

use scim_sync::SnapshotOptions;
use scim_sync::export::ExportDocument;

use crate::app::check_writable;
use crate::config::Config;
use crate::exit::Outcome;

/// Reads the source and writes the export.
pub async fn run(config: &Config, out: &Path) -> Outcome {
    let started = Instant::now();
    let Some(source_config) = &config.source else {
        unreachable!("an export configuration always names the source");
    };
    let source = check_writable(out).and_then(|()| config.connection.source(source_config));
    let mut doc = match source {
        Ok(source) => {
            let options = SnapshotOptions {
                sync_groups: config.policy.sync_groups.clone(),
                without_ssh_keys: !config.policy.sync_ssh_keys,
            };
            scim_sync::export::export(&source, &options, out).await
        }
        Err(e) => ExportDocument::failed(out, Outcome::Usage, Some(e)),
    };
    doc.duration_ms = scim_sync::document::millis(started.elapsed());
    crate::app::print(config.opts.output, &doc, || doc.render_text());
    doc.log_summary();
    doc.outcome
}
