//! `check`: probes both ends without writing and prints a verdict per item: ACTIVATE
//! credentials and organization (or the export file), the SCIM token, the target's
//! `ServiceProviderConfig`, whether the `externalId sw` filter is honoured and `externalId`
//! echoed back, the page size the target really serves, and the CoreWeave user extension.
//! Only `GET` requests are sent.
//!
//! Exit code: 0 when nothing failed (warnings allowed), 4 when an end could not be read.

use std::fmt::Write as _;
use std::time::Instant;

use scim_sync::check::{Item, Verdict};
use serde_json::json;

use crate::app::{elapsed_ms, finish_early, scim_client};
use crate::config::{Config, OutputFormat};
use crate::exit::Outcome;

/// Runs every probe and prints the verdicts.
pub async fn run(config: &Config) -> Outcome {
    let started = Instant::now();
    let (Some(source_config), Some(target_config)) = (&config.source, &config.target) else {
        unreachable!("a check configuration always names both ends");
    };
    let source = match crate::source::from_config(source_config, config) {
        Ok(s) => s,
        Err(e) => return finish_early(config, "check", e, Outcome::Usage),
    };
    let scim = match scim_client(target_config, config) {
        Ok(c) => c,
        Err(e) => return finish_early(config, "check", e, Outcome::Usage),
    };
    let mut items =
        scim_sync::check::probe(&source, &scim, config.opts.page_size, &config.policy).await;
    for item in &mut items {
        item.detail = crate::report::in_operator_terms(&item.detail);
    }

    let failed = items.iter().any(|i| i.verdict == Verdict::Fail);
    let outcome = if failed {
        Outcome::ReadFailed
    } else {
        Outcome::Ok
    };
    let scim_stats = scim.stats();
    let activate_requests = source.stats().map_or(0, |s| s.requests);
    match config.opts.output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "command": "check",
                "target": target_config.base_url,
                "source": source.describe(),
                "items": items,
                "outcome": outcome,
                "exit_code": outcome.code(),
                "requests": {
                    "activate": {"count": activate_requests},
                    "scim": {"count": scim_stats.requests, "retries": scim_stats.retries,
                             "throttled": scim_stats.throttled},
                },
            })
        ),
        OutputFormat::Text => print!(
            "{}",
            scim_client::transport::escape_controls(&render(&items, outcome), true)
        ),
    }
    let count = |v: Verdict| items.iter().filter(|i| i.verdict == v).count();
    tracing::info!(
        command = "check",
        outcome = outcome.as_str(),
        exit_code = outcome.code(),
        ok = count(Verdict::Ok),
        warn = count(Verdict::Warn),
        fail = count(Verdict::Fail),
        activate_requests,
        scim_requests = scim_stats.requests,
        duration_ms = elapsed_ms(started),
        "run finished"
    );
    outcome
}

fn render(items: &[Item], outcome: Outcome) -> String {
    let width = items
        .iter()
        .map(|i| i.item.len() + i.side.as_str().len() + 1)
        .max()
        .unwrap_or(10);
    let mut out = String::new();
    for i in items {
        let name = format!("{}/{}", i.side.as_str(), i.item);
        let _ = writeln!(out, "{:4}  {name:width$}  {}", i.verdict.as_str(), i.detail);
    }
    let _ = writeln!(
        out,
        "\n{}",
        match outcome {
            Outcome::Ok =>
                "Both ends can be read; a sync can run (warnings above, if any, say \
                            what to watch). Nothing was written.",
            _ => "At least one end cannot be used: fix the FAIL items above. Nothing was written.",
        }
    );
    out
}
