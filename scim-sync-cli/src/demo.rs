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
    // the sample organization, or the operator's own export
    let (source, what) = match &config.opts.source_file {
        Some(path) => (
            Source::ExportFile {
                path: path.clone(),
                max_bytes: config.opts.source_file_max_bytes,
            },
            format!("the ACTIVATE export {}", path.display()),
        ),
        None => (
            Source::ExportText(SAMPLE_ORG.into()),
            "the sample ACTIVATE organization".to_owned(),
        ),
    };
    // the demo never reads cluster settings: it must behave the same everywhere
    let no_lookup = scim_sync::dynamic::LookupOptions {
        enabled: false,
        ..config.dynamic.clone()
    };
    let effective =
        scim_sync::dynamic::resolve(&config.policy, config.opts.dry_run, &no_lookup).await;
    let dry_run = config.opts.dry_run;
    let options = PassOptions {
        dry_run,
        concurrency: config.opts.concurrency,
        stop: stop.clone(),
        progress: crate::progress::wanted(config),
        fail_on_conflict: config.opts.fail_on_conflict,
        plan_text: crate::app::plan_text(config),
        // the passes are printed one after the other, each under its heading
        print_plan_early: false,
    };

    // a dry run plans once and writes nothing; otherwise a second pass shows there is
    // nothing left to do
    let mut passes: Vec<Report> = Vec::new();
    let mut writes: Vec<usize> = Vec::new();
    for _ in 0..if dry_run { 1 } else { 2 } {
        let scim = match client() {
            Ok(c) => c,
            Err(e) => {
                let _ = server.shutdown().await;
                return finish_early(config, "demo", format!("SCIM client: {e}"), Outcome::Failed);
            }
        };
        server.clear_requests();
        let pass_started = Instant::now();
        let (mut report, _) = reconcile(&source, &scim, &effective, &options, "demo").await;
        report.duration_ms = elapsed_ms(pass_started);
        writes.push(
            server
                .requests()
                .iter()
                .filter(|r| r.method != "GET")
                .count(),
        );
        passes.push(report);
    }
    let _ = server.shutdown().await;

    let first_ok = passes[0].outcome == Outcome::Ok;
    let (idempotent, outcome) = match &passes[..] {
        [_] => {
            let wrote_nothing = writes[0] == 0;
            let ok = first_ok && wrote_nothing;
            (
                wrote_nothing,
                if ok { Outcome::Ok } else { Outcome::Failed },
            )
        }
        [_, second, ..] => {
            let idempotent = second.plan.is_empty() && writes[1] == 0;
            let ok = first_ok && idempotent && second.outcome == Outcome::Ok;
            (idempotent, if ok { Outcome::Ok } else { Outcome::Failed })
        }
        [] => unreachable!("at least one pass runs"),
    };
    let last_writes = writes.last().copied().unwrap_or_default();
    match config.opts.output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "command": "demo",
                "target": base,
                "dry_run": dry_run,
                "passes": passes,
                // the writes of the last pass: the second one's, or the dry run's
                "second_pass_writes": last_writes,
                "outcome": outcome,
                "exit_code": outcome.code(),
            })
        ),
        OutputFormat::Text => print_text(&passes, &what, &base, idempotent, last_writes),
    }
    let first = &passes[0];
    tracing::info!(
        command = "demo",
        outcome = outcome.as_str(),
        exit_code = outcome.code(),
        first_pass_done = first.summary.done,
        first_pass_failed = first.summary.failed,
        second_pass_planned = passes.last().map_or(0, |p| p.plan.len()),
        second_pass_writes = last_writes,
        duration_ms = elapsed_ms(started),
        "run finished"
    );
    outcome
}

/// The demo's text: each pass's report, then what it showed.
fn print_text(passes: &[Report], what: &str, base: &str, idempotent: bool, last_writes: usize) {
    let render = |r: &Report| escape_controls(&r.render_text(), true).into_owned();
    match passes {
        [only] => {
            println!("== Dry run: {what} against an empty SCIM server ({base})\n");
            print!("{}", render(only));
            println!();
            if idempotent {
                println!("Dry run: the plan above was not applied; nothing was written.");
            } else {
                println!("UNEXPECTED: the dry run sent {last_writes} write(s).");
            }
        }
        [first, second, ..] => {
            println!("== Pass 1: {what} into an empty SCIM server ({base})\n");
            print!("{}", render(first));
            println!("\n== Pass 2: the same source again\n");
            print!("{}", render(second));
            println!();
            if idempotent {
                println!(
                    "The second pass planned nothing and sent no write: the sync is idempotent."
                );
            } else {
                println!(
                    "UNEXPECTED: the second pass planned {} operation(s) and sent {last_writes} \
                     write(s).",
                    second.plan.len()
                );
            }
        }
        [] => {}
    }
    println!(
        "Next: point it at a real SCIM server and ACTIVATE org (see the README), and try \
         --dry-run first."
    );
}
