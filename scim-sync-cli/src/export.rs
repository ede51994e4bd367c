//! `export --out FILE`: the organization as an ACTIVATE export (the format `--source-file`
//! reads, `examples/activate-export.schema.json`), read completely or not written at all.
//!
//! Exit code: 0 when written, 4 when the source could not be read completely, 2 for a
//! configuration problem (or a file that cannot be created), 1 when writing failed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use scim_sync::SnapshotOptions;
use serde_json::json;

use crate::app::{check_writable, elapsed_ms};
use crate::config::{Config, OutputFormat};
use crate::exit::Outcome;

/// Reads the source and writes the export.
pub async fn run(config: &Config, out: &Path) -> Outcome {
    let started = Instant::now();
    let Some(source_config) = &config.source else {
        unreachable!("an export configuration always names the source");
    };
    let source = match check_writable(out)
        .and_then(|()| crate::source::from_config(source_config, config))
    {
        Ok(source) => source,
        Err(e) => return finish(config, out, Outcome::Usage, Err(e), started),
    };
    let options = SnapshotOptions {
        sync_groups: config.policy.sync_groups.clone(),
        without_ssh_keys: !config.policy.sync_ssh_keys,
    };
    let read = source.read(&options).await;
    let requests = source.stats().map_or(0, |s| s.requests);
    let (outcome, result) = match read {
        Err(e) => (
            Outcome::ReadFailed,
            Err(format!(
                "could not read the source completely: {e}; nothing was written"
            )),
        ),
        Ok(read) => match activate_client::write_export(out, &read.snapshot) {
            Ok(()) => (Outcome::Ok, Ok((read, requests))),
            Err(e) => (Outcome::Failed, Err(e.to_string())),
        },
    };
    finish(config, out, outcome, result, started)
}

/// Prints what was written (or why nothing was) and logs the `run finished` line.
fn finish(
    config: &Config,
    out: &Path,
    outcome: Outcome,
    result: Result<(activate_client::Snapshot, u64), String>,
    started: Instant,
) -> Outcome {
    let file = out.display().to_string();
    let (users, active, groups, warnings, requests, error) = match &result {
        Ok((read, requests)) => {
            let users = &read.snapshot.users;
            let active = users.iter().filter(|u| u.active).count();
            let groups = read.snapshot.groups.len();
            (
                users.len(),
                active,
                groups,
                read.warnings.clone(),
                *requests,
                None,
            )
        }
        Err(e) => (0, 0, 0, Vec::new(), 0, Some(e.clone())),
    };
    match config.opts.output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "command": "export",
                "out": file,
                "users": users,
                "active_users": active,
                "groups": groups,
                "warnings": warnings,
                "error": error,
                "outcome": outcome,
                "exit_code": outcome.code(),
                "requests": {"activate": {"count": requests}},
                "duration_ms": elapsed_ms(started),
            })
        ),
        OutputFormat::Text => {
            let mut text = String::new();
            match &error {
                None => {
                    let _ = writeln!(
                        text,
                        "Exported {users} users ({active} active) and {groups} groups to {file}"
                    );
                }
                Some(e) => {
                    let _ = writeln!(text, "ERROR: {e}");
                }
            }
            for w in &warnings {
                let _ = writeln!(text, "  - {w}");
            }
            let _ = writeln!(
                text,
                "Outcome: {} (exit {})",
                outcome.as_str(),
                outcome.code()
            );
            // the warnings quote ACTIVATE's text
            print!("{}", scim_client::transport::escape_controls(&text, true));
        }
    }
    tracing::info!(
        command = "export",
        outcome = outcome.as_str(),
        exit_code = outcome.code(),
        users,
        groups,
        activate_requests = requests,
        duration_ms = elapsed_ms(started),
        error = error.as_deref().unwrap_or(""),
        "run finished"
    );
    outcome
}
