//! `demo`: the whole job with no credentials. The sample ACTIVATE export
//! (`examples/sample-org.json`, compiled in) is synced into an embedded `scim-server` on
//! `127.0.0.1:0` (CoreWeave profile); then a second pass shows that there is nothing left to
//! do, counted from the server's own request log.

use scim_client::transport::escape_controls;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use scim_client::ScimClient;
use scim_server::{Profile, ScimServer};
use secrecy::SecretString;
use serde_json::json;

use crate::app::{PassOptions, elapsed_ms, finish_early, reconcile};
use crate::config::{Config, OutputFormat};
use crate::exit::Outcome;
use crate::report::Report;
use crate::stop::Stop;
use scim_sync::Source;

/// The sample organization (an ACTIVATE export), compiled into the binary.
pub const SAMPLE_ORG: &str = include_str!("../../examples/sample-org.json");

/// Runs the demo; `Ok` when the first pass applied everything and the second had nothing to
/// do and sent no write.
pub async fn run(config: &Config, stop: &Stop) -> Outcome {
    let started = Instant::now();
    // a throwaway token for a server that lives as long as this process, on loopback only
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let token = format!("demo-{}-{nanos:x}", std::process::id());
    let server = match ScimServer::builder()
        .bearer_token(Some(token.clone()))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await
    {
        Ok(server) => server,
        Err(e) => {
            return finish_early(
                config,
                "demo",
                format!("cannot start the embedded SCIM server: {e}"),
                Outcome::Failed,
            );
        }
    };
    let base = server.base_url();
    tracing::info!(url = %base, "embedded SCIM server started");
    let client = || {
        ScimClient::builder(&base)
            .bearer_token(SecretString::from(token.clone()))
            .allow_insecure_http(true)
            .page_size(config.opts.page_size)
            .max_in_flight(config.opts.concurrency)
            .user_agent(crate::USER_AGENT)
            .build()
    };
    let source = Source::ExportText(SAMPLE_ORG.into());
    // the demo never reads cluster settings: it must behave the same everywhere
    let no_lookup = scim_sync::dynamic::LookupOptions {
        enabled: false,
        ..config.dynamic.clone()
    };
    let effective = scim_sync::dynamic::resolve(&config.policy, &no_lookup).await;
    let options = PassOptions {
        dry_run: false,
        concurrency: config.opts.concurrency,
        stop: stop.clone(),
        progress: crate::progress::wanted(config),
        fail_on_conflict: config.opts.fail_on_conflict,
    };

    let mut passes: Vec<Report> = Vec::new();
    let mut second_pass_writes = 0;
    for pass in 1..=2 {
        let scim = match client() {
            Ok(c) => c,
            Err(e) => {
                let _ = server.shutdown().await;
                return finish_early(config, "demo", format!("SCIM client: {e}"), Outcome::Failed);
            }
        };
        server.clear_requests();
        let pass_started = Instant::now();
        let mut report = reconcile(&source, &scim, &effective, &options, "demo").await;
        report.duration_ms = elapsed_ms(pass_started);
        if pass == 2 {
            second_pass_writes = server
                .requests()
                .iter()
                .filter(|r| r.method != "GET")
                .count();
        }
        passes.push(report);
    }
    let _ = server.shutdown().await;

    let first_ok = passes[0].outcome == Outcome::Ok;
    let idempotent = passes[1].plan.is_empty() && second_pass_writes == 0;
    let outcome = if first_ok && idempotent && passes[1].outcome == Outcome::Ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    match config.opts.output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "command": "demo",
                "target": base,
                "passes": passes,
                "second_pass_writes": second_pass_writes,
                "outcome": outcome,
                "exit_code": outcome.code(),
            })
        ),
        OutputFormat::Text => {
            println!(
                "== Pass 1: the sample ACTIVATE organization into an empty SCIM server ({base})\n"
            );
            print!("{}", escape_controls(&passes[0].render_text(), true));
            println!("\n== Pass 2: the same source again\n");
            print!("{}", escape_controls(&passes[1].render_text(), true));
            println!();
            if idempotent {
                println!(
                    "The second pass planned nothing and sent no write: the sync is idempotent."
                );
            } else {
                println!(
                    "UNEXPECTED: the second pass planned {} operation(s) and sent {} write(s).",
                    passes[1].plan.len(),
                    second_pass_writes
                );
            }
            println!(
                "Next: point it at a real SCIM server and ACTIVATE org (see the README), and \
                 try --dry-run first."
            );
        }
    }
    let first = &passes[0];
    tracing::info!(
        command = "demo",
        outcome = outcome.as_str(),
        exit_code = outcome.code(),
        first_pass_done = first.summary.done,
        first_pass_failed = first.summary.failed,
        second_pass_planned = passes[1].plan.len(),
        second_pass_writes,
        duration_ms = elapsed_ms(started),
        "run finished"
    );
    outcome
}
