//! The whole job with no credentials (feature `demo`): an organization (the sample ACTIVATE
//! export, [`SAMPLE_ORG`], unless another source is given) synced into an embedded
//! `scim-server` on `127.0.0.1:0` (CoreWeave profile); then a second pass shows that there
//! is nothing left to do, counted from the server's own request log. A dry run plans once
//! and must send no write. A smoke test of every piece, end to end.
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use scim_sync::demo::{Demo, SAMPLE_ORG};
//! let demo = Demo::of_export(None, 1 << 20).run().await?;
//! assert!(demo.idempotent);
//! print!("{}", demo.render_text());
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use scim_client::ScimClient;
use scim_diff::Policy;
use scim_server::{Profile, ScimServer, ServerHandle};
use serde::Serialize;

use crate::document::{Document, Outcome, PlanText, Wording, library_terms};
use crate::dynamic::LookupOptions;
use crate::progress::{ProgressObserver, ProgressStyle};
use crate::{Reconciler, Source, StopHandle};

/// The sample organization (an ACTIVATE export), compiled in.
pub const SAMPLE_ORG: &str = include_str!("../../examples/sample-org.json");

/// A demo to run: a source and how each pass runs.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The organization synced.
    pub source: Source,
    /// How the text names the organization (`the sample ACTIVATE organization`).
    pub organization: String,
    /// The engine's policy.
    pub policy: Policy,
    /// Plan once and write nothing.
    pub dry_run: bool,
    /// The page size the client asks for.
    pub page_size: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// Stops the passes (see [`StopHandle`]).
    pub stop: StopHandle,
    /// How each pass shows its progress.
    pub progress: ProgressStyle,
    /// How each pass's text shows its plan.
    pub plan_text: PlanText,
    /// A pass whose only problems are conflicts fails.
    pub fail_on_conflict: bool,
    /// How messages are worded.
    pub wording: Wording,
}

/// What the demo did: each pass's [`Document`], and whether the second pass (or the dry run)
/// wrote nothing.
#[derive(Debug, Clone, Serialize)]
pub struct DemoDocument {
    /// Always `demo`.
    pub command: &'static str,
    /// The embedded server's base URL (gone once the demo is over).
    pub target: String,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The passes: two, or the dry run's one.
    pub passes: Vec<Document>,
    /// The writes of the last pass: the second one's, or the dry run's (0 when idempotent).
    pub second_pass_writes: usize,
    /// `ok` when the first pass succeeded and the last wrote nothing, else `failed`.
    pub outcome: Outcome,
    /// The process exit code of the outcome.
    pub exit_code: u8,
    /// Whether the last pass planned nothing (a dry run: nothing was written).
    #[serde(skip)]
    pub idempotent: bool,
    /// How the text names the organization.
    #[serde(skip)]
    pub organization: String,
}

impl Demo {
    /// A demo of `source` with the engine's default policy, 8 requests in flight, pages of
    /// 100, no progress shown.
    pub fn new(source: Source) -> Self {
        Self {
            organization: format!("the {}", source.describe()),
            source,
            policy: Policy::default(),
            dry_run: false,
            page_size: 100,
            concurrency: 8,
            user_agent: concat!("scim-sync/", env!("CARGO_PKG_VERSION")).to_owned(),
            stop: StopHandle::default(),
            progress: ProgressStyle::Off,
            plan_text: PlanText::Full,
            fail_on_conflict: false,
            wording: library_terms,
        }
    }

    /// A demo of the ACTIVATE export at `path` (read up to `max_bytes`), or of the sample
    /// organization ([`SAMPLE_ORG`]) without one.
    pub fn of_export(path: Option<std::path::PathBuf>, max_bytes: u64) -> Self {
        match path {
            Some(path) => Self::new(Source::ExportFile { path, max_bytes }),
            None => Self {
                organization: "the sample ACTIVATE organization".to_owned(),
                ..Self::new(Source::ExportText(SAMPLE_ORG.into()))
            },
        }
    }

    /// Starts the embedded server, runs the passes, stops the server. An error means the
    /// server or a client could not be started.
    pub async fn run(&self) -> Result<DemoDocument, String> {
        // a throwaway token for a server that lives as long as this call, on loopback only
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let token = format!("demo-{}-{nanos:x}", std::process::id());
        let server = ScimServer::builder()
            .bearer_token(Some(token.clone()))
            .profile(Profile::CoreWeave)
            .start("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot start the embedded SCIM server: {e}"))?;
        let base = server.base_url();
        tracing::info!(url = %base, "embedded SCIM server started");
        let passes = self.passes(&server, &base, &token).await;
        let _ = server.shutdown().await;
        let (passes, writes) = passes?;
        let organization = self.organization.clone();
        Ok(DemoDocument::new(
            base,
            organization,
            self.dry_run,
            passes,
            writes,
        ))
    }

    /// Each pass's document and the writes the server saw during it.
    async fn passes(
        &self,
        server: &ServerHandle,
        base: &str,
        token: &str,
    ) -> Result<(Vec<Document>, Vec<usize>), String> {
        // the demo never reads cluster settings: it must behave the same everywhere
        let no_lookup = LookupOptions {
            enabled: false,
            ..LookupOptions::default()
        };
        let effective = crate::dynamic::resolve(&self.policy, self.dry_run, &no_lookup).await;
        let (mut passes, mut writes) = (Vec::new(), Vec::new());
        for _ in 0..if self.dry_run { 1 } else { 2 } {
            let scim = ScimClient::builder(base)
                .bearer_token(token.to_owned().into())
                .allow_insecure_http(true)
                .page_size(self.page_size)
                .max_in_flight(self.concurrency)
                .user_agent(&self.user_agent)
                .build()
                .map_err(|e| format!("SCIM client: {e}"))?;
            server.clear_requests();
            let started = Instant::now();
            let observer = ProgressObserver::new(self.progress, scim.clone(), None);
            let run = Reconciler::new(self.source.clone(), scim, effective.policy.clone())
                .dry_run(self.dry_run)
                .concurrency(self.concurrency)
                .stop_handle(self.stop.clone())
                .observer(Arc::new(observer))
                .run()
                .await;
            let mut doc = Document {
                wording: self.wording,
                plan_text: self.plan_text,
                ..Document::new("demo", self.dry_run)
            };
            doc.record_settings(&effective.settings);
            doc.record_run(&run, self.fail_on_conflict);
            doc.duration_ms = crate::document::millis(started.elapsed());
            let requests = server.requests();
            writes.push(requests.iter().filter(|r| r.method != "GET").count());
            passes.push(doc);
        }
        Ok((passes, writes))
    }
}

impl DemoDocument {
    fn new(
        target: String,
        organization: String,
        dry_run: bool,
        passes: Vec<Document>,
        writes: Vec<usize>,
    ) -> Self {
        let first_ok = passes.first().is_some_and(|p| p.outcome == Outcome::Ok);
        let last_writes = writes.last().copied().unwrap_or_default();
        let idempotent = match &passes[..] {
            [_, second, ..] => second.plan.is_empty() && last_writes == 0,
            _ => last_writes == 0,
        };
        let last_ok = passes.last().is_some_and(|p| p.outcome == Outcome::Ok);
        let outcome = if first_ok && idempotent && last_ok {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        DemoDocument {
            command: "demo",
            target,
            dry_run,
            passes,
            second_pass_writes: last_writes,
            outcome,
            exit_code: outcome.code(),
            idempotent,
            organization,
        }
    }

    /// Logs the line a demo ends with (`run finished`: the outcome, what the first pass did,
    /// what the last one planned and wrote), after `duration`.
    pub fn log_summary(&self, duration: std::time::Duration) {
        let first = self.passes.first();
        tracing::info!(
            command = "demo",
            outcome = self.outcome.as_str(),
            exit_code = self.exit_code,
            first_pass_done = first.map_or(0, |p| p.summary.done),
            first_pass_failed = first.map_or(0, |p| p.summary.failed),
            second_pass_planned = self.passes.last().map_or(0, |p| p.plan.len()),
            second_pass_writes = self.second_pass_writes,
            duration_ms = crate::document::millis(duration),
            "run finished"
        );
    }

    /// Each pass's text under its heading, then what the passes showed. The text quotes the
    /// source's text: escape it before it reaches a terminal.
    pub fn render_text(&self) -> String {
        let (base, what) = (&self.target, &self.organization);
        let mut out = String::new();
        let last_writes = self.second_pass_writes;
        match &self.passes[..] {
            [only] => {
                let _ = writeln!(
                    out,
                    "== Dry run: {what} against an empty SCIM server ({base})\n"
                );
                out.push_str(&only.render_text());
                out.push('\n');
                if self.idempotent {
                    out.push_str("Dry run: the plan above was not applied; nothing was written.\n");
                } else {
                    let _ = writeln!(out, "UNEXPECTED: the dry run sent {last_writes} write(s).");
                }
            }
            [first, second, ..] => {
                let _ = writeln!(
                    out,
                    "== Pass 1: {what} into an empty SCIM server ({base})\n"
                );
                out.push_str(&first.render_text());
                out.push_str("\n== Pass 2: the same source again\n\n");
                out.push_str(&second.render_text());
                out.push('\n');
                if self.idempotent {
                    out.push_str(
                        "The second pass planned nothing and sent no write: the sync is \
                         idempotent.\n",
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "UNEXPECTED: the second pass planned {} operation(s) and sent \
                         {last_writes} write(s).",
                        second.plan.len()
                    );
                }
            }
            [] => {}
        }
        out.push_str(
            "Next: point it at a real SCIM server and ACTIVATE org (see the README), and try \
             --dry-run first.\n",
        );
        out
    }
}
