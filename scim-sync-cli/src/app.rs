//! Running a subcommand: the reconcile, `check` and `demo`, each producing a
//! [`Report`] that is printed on stdout (text or JSON) and summarized in one log line.

use std::time::Instant;

use crate::config::{Config, Mode, OutputFormat};
use crate::exit::Outcome;
use crate::report::Report;
use crate::stop::Stop;

/// Runs the configured subcommand to its end and returns how it ended.
pub async fn run(config: Config) -> Outcome {
    let started = Instant::now();
    for name in &config.unknown_env {
        tracing::warn!(variable = %name, "unknown environment variable ignored (a typo?)");
    }
    let stop = Stop::new(config.deadline);
    stop.listen_for_signals();
    let (mut report, table) = match config.mode {
        Mode::Reconcile | Mode::Check | Mode::Demo => not_wired(&config),
    };
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    emit(&config, &report, table.as_deref());
    report.outcome
}

/// Placeholder until the libraries land: says so and exits 1.
fn not_wired(config: &Config) -> (Report, Option<String>) {
    let mut report = Report::new(config.mode.as_str(), config.dry_run);
    report.error = Some(format!("`{}` is not wired yet", config.mode.as_str()));
    report.finish(Outcome::Failed);
    (report, None)
}

/// Prints the report on stdout and the run's one summary log line.
fn emit(config: &Config, report: &Report, table: Option<&str>) {
    match config.output {
        OutputFormat::Json => println!("{}", report.to_json()),
        OutputFormat::Text => print!("{}", report.render_text(table)),
    }
    summary_line(report);
}

/// The one log line every run ends with.
fn summary_line(report: &Report) {
    let s = &report.summary;
    let r = &report.requests;
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                command = report.command,
                outcome = report.outcome.as_str(),
                exit_code = report.exit_code,
                dry_run = report.dry_run,
                planned = s.planned,
                done = s.done,
                failed = s.failed,
                skipped = s.skipped,
                warnings = report.warnings.len(),
                activate_requests = r.activate.count,
                scim_requests = r.scim.count,
                scim_retries = r.scim.retries,
                scim_throttled = r.scim.throttled,
                duration_ms = report.duration_ms,
                "run finished"
            )
        };
    }
    match report.outcome {
        Outcome::Ok => line!(info),
        Outcome::Failed => line!(warn),
        Outcome::Usage | Outcome::Refused | Outcome::ReadFailed => line!(error),
    }
}
