//! Running a subcommand. The reconcile ([`reconcile`]) reads both ends completely, plans,
//! and applies unless refused or a dry run; `check` and `demo` live in [`crate::check`] and
//! [`crate::demo`]. Every run prints its result on stdout (text, or one JSON object) and ends
//! with one summary log line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use scim_client::ScimClient;
use scim_client::transport::escape_controls;
use scim_diff::review::Review;
use scim_sync::document::millis;
use scim_sync::dynamic::Effective;
use scim_sync::progress::ProgressObserver;
use scim_sync::{ApplySaved, Reconciler, RunReport, SavedPlan, Source};

use crate::config::{Config, Mode, OutputFormat};
use crate::exit::Outcome;
use crate::report::{PlanText, Report};
use crate::stop::Stop;

/// Runs the configured subcommand to its end and returns how it ended.
pub async fn run(config: Config) -> Outcome {
    for name in &config.unknown_env {
        tracing::warn!(variable = %name, "unknown environment variable ignored (a typo?)");
    }
    let stop = Stop::new(config.opts.deadline);
    crate::stop::listen_for_signals(&stop);
    match &config.mode {
        Mode::Reconcile => reconcile_command(&config, &stop).await,
        Mode::Check => crate::check::run(&config).await,
        Mode::Demo => crate::demo::run(&config, &stop).await,
        Mode::Plan { out } => plan_command(&config, &stop, out).await,
        Mode::Apply { plan } => apply_command(&config, &stop, plan).await,
        Mode::Export { out } => crate::export::run(&config, out).await,
        Mode::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            let name = command.get_name().to_owned();
            clap_complete::generate(*shell, &mut command, name, &mut std::io::stdout());
            Outcome::Ok
        }
    }
}

/// Both ends of a reconcile, a plan or a check, as configured.
pub fn both_ends(config: &Config) -> Result<(Source, ScimClient), String> {
    let (Some(source_config), Some(target_config)) = (&config.source, &config.target) else {
        unreachable!("a reconcile configuration always names both ends");
    };
    let source = config.connection.source(source_config)?;
    let scim = config.connection.target(target_config)?;
    tracing::info!(
        command = config.mode.name(),
        source = %source.describe(),
        scim_url = %target_config.base_url,
        dry_run = config.opts.dry_run,
        "starting"
    );
    Ok((source, scim))
}

async fn reconcile_command(config: &Config, stop: &Stop) -> Outcome {
    let started = Instant::now();
    let (source, scim) = match both_ends(config) {
        Ok(ends) => ends,
        Err(e) => return finish_early(config, "reconcile", e, Outcome::Usage),
    };
    let effective =
        scim_sync::dynamic::resolve(&config.policy, config.opts.dry_run, &config.dynamic).await;
    let mut report = new_report(config, "reconcile", &effective, effective.dry_run());
    let run = reconciler(config, stop, &report, &source, &scim, &effective)
        .run()
        .await;
    report.record_run(&run, config.opts.fail_on_conflict);
    finish_command(config, report, &run, started).await
}

/// `plan --out FILE`: read both ends, plan, save the plan (a refused one too); nothing is
/// written to the target.
async fn plan_command(config: &Config, stop: &Stop, out: &Path) -> Outcome {
    let started = Instant::now();
    // a file that cannot be written is found before both ends are read, not after
    let ends = check_writable(out).and_then(|()| both_ends(config));
    let (source, scim) = match ends {
        Ok(ends) => ends,
        Err(e) => return finish_early(config, "plan", e, Outcome::Usage),
    };
    let effective = scim_sync::dynamic::resolve(&config.policy, true, &config.dynamic).await;
    let mut report = new_report(config, "plan", &effective, true);
    let (run, saved) = reconciler(config, stop, &report, &source, &scim, &effective)
        .plan_to_save()
        .await;
    report.record_run(&run, config.opts.fail_on_conflict);
    match saved.map(|saved| saved.write(out)) {
        Some(Ok(())) => report.plan_file = Some(out.display().to_string()),
        Some(Err(e)) => {
            report.error = Some(format!("cannot write the plan file {}: {e}", out.display()));
            report.finish(Outcome::Failed);
        }
        None => {}
    }
    finish_command(config, report, &run, started).await
}

/// `apply FILE`: apply a saved plan if it still holds against the target as it is now.
async fn apply_command(config: &Config, stop: &Stop, path: &Path) -> Outcome {
    let started = Instant::now();
    let Some(target_config) = &config.target else {
        unreachable!("an apply configuration always names the target");
    };
    // the file is read, and checked, before any request
    let ready = SavedPlan::read(path)
        .and_then(|saved| Ok((saved, config.connection.target(target_config)?)));
    let (saved, scim) = match ready {
        Ok(ready) => ready,
        Err(e) => return finish_early(config, "apply", e, Outcome::Usage),
    };
    tracing::info!(
        plan = %path.display(),
        made = %humantime::format_rfc3339_seconds(saved.created_at),
        operations = saved.plan.operations.len(),
        scim_url = %target_config.base_url,
        dry_run = config.opts.dry_run,
        "apply starting"
    );
    let effective =
        scim_sync::dynamic::resolve(&config.policy, config.opts.dry_run, &config.dynamic).await;
    let mut report = new_report(config, "apply", &effective, effective.dry_run());
    report.plan_file = Some(path.display().to_string());
    let run = ApplySaved::new(saved, scim.clone(), effective.policy.clone())
        .dry_run(report.dry_run)
        .concurrency(config.opts.concurrency)
        .max_age(config.opts.max_plan_age)
        .mass_change_approval(effective.approval.clone())
        .stop_handle(stop.clone())
        .observer(observer(config, &report, &scim, None))
        .run()
        .await;
    report.record_run(&run, config.opts.fail_on_conflict);
    finish_command(config, report, &run, started).await
}

/// Whether the file `--out` names can be created (see [`scim_sync::saved::check_writable`]).
pub fn check_writable(path: &Path) -> Result<(), String> {
    scim_sync::saved::check_writable(path).map_err(|e| format!("--out {e}"))
}

/// The end of every reconcile-like command: the run's own warnings, its duration, its
/// metrics pushed, the report on stdout and the summary log line.
async fn finish_command(
    config: &Config,
    mut report: Report,
    run: &RunReport,
    started: Instant,
) -> Outcome {
    for name in &config.unknown_env {
        report.warn(format!(
            "environment variable {name} is not a setting this tool reads; it was ignored"
        ));
    }
    report.duration_ms = millis(started.elapsed());
    if let Some(gateway) = &config.metrics
        && let Err(e) = push_metrics(config, gateway, &report, run, started).await
    {
        tracing::warn!(error = %e, "the run's metrics were not pushed");
        report.warn(format!("the run's metrics were not pushed: {e}"));
    }
    print(config.opts.output, &report, || report.render_text());
    report.log_summary();
    report.outcome
}

/// Pushes the run's metrics, grouped by organization and target host.
async fn push_metrics(
    config: &Config,
    gateway: &scim_sync::metrics::Pushgateway,
    report: &Report,
    run: &RunReport,
    started: Instant,
) -> Result<(), String> {
    let end = scim_sync::metrics::RunEnd {
        at: std::time::SystemTime::now(),
        duration: started.elapsed(),
        exit_code: report.exit_code,
        external_id_prefix: config.policy.external_id_prefix.clone(),
    };
    let org = config.opts.activate_org_name.as_deref();
    let target = config.target.as_ref().map(|t| t.base_url.as_str());
    gateway.push_run(run, &end, org, target).await
}

/// How the text shows the plan: `--summary`, or every operation.
pub fn plan_text(config: &Config) -> PlanText {
    if config.opts.summary {
        PlanText::Summary
    } else {
        PlanText::Full
    }
}

/// A run that ended before it started (e.g. a client that cannot be built): reported like
/// any other run.
pub fn finish_early(
    config: &Config,
    command: &'static str,
    error: String,
    outcome: Outcome,
) -> Outcome {
    let mut report = crate::report::new(command, config.opts.dry_run);
    report.error = Some(error);
    report.finish(outcome);
    print(config.opts.output, &report, || report.render_text());
    report.log_summary();
    outcome
}

/// The report of a command that reads and plans, before it runs.
fn new_report(
    config: &Config,
    command: &'static str,
    effective: &Effective,
    dry_run: bool,
) -> Report {
    let mut report = crate::report::new(command, dry_run);
    report.plan_text = plan_text(config);
    // text output shows the plan as soon as it is made, before the first write
    report.plan_shown = config.opts.output == OutputFormat::Text;
    report.record_settings(&effective.settings);
    report
}

fn reconciler(
    config: &Config,
    stop: &Stop,
    report: &Report,
    source: &Source,
    scim: &ScimClient,
    effective: &Effective,
) -> Reconciler {
    Reconciler::new(source.clone(), scim.clone(), effective.policy.clone())
        .dry_run(report.dry_run)
        .concurrency(config.opts.concurrency)
        .mass_change_approval(effective.approval.clone())
        .stop_handle(stop.clone())
        .observer(observer(config, report, scim, Some(source)))
}

/// Progress lines, and the plan printed before the first write when `report` is to show it
/// then.
fn observer(
    config: &Config,
    report: &Report,
    scim: &ScimClient,
    source: Option<&Source>,
) -> Arc<ProgressObserver> {
    let style = crate::logging::progress_style(config);
    let observer = ProgressObserver::new(style, scim.clone(), source);
    if !report.plan_shown {
        return Arc::new(observer);
    }
    let (text, dry_run, wording) = (report.plan_text, report.dry_run, report.wording);
    Arc::new(observer.on_planned(Box::new(move |plan, observed| {
        let text = text.render(&Review::new(plan, observed), dry_run, wording);
        // the plan quotes ACTIVATE's and the target's text: no control sequence passes
        stdout(&escape_controls(&text, true));
    })))
}

/// Prints a command's document on stdout: one JSON object, or its text. The text quotes
/// ACTIVATE's and the target's text: nothing in it may reach the terminal as a control
/// sequence.
pub fn print<T: serde::Serialize>(output: OutputFormat, doc: &T, text: impl FnOnce() -> String) {
    match output {
        OutputFormat::Json => stdout(&format!(
            "{}\n",
            serde_json::to_string(doc).unwrap_or_default()
        )),
        OutputFormat::Text => stdout(&escape_controls(&text(), true)),
    }
}

/// Writes on stdout, now. A reader that went away (`| head`) ends the output, not the run:
/// the exit code still says how the run went.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
