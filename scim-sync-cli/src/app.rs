//! Running a subcommand. The reconcile ([`reconcile`]) reads both ends completely, plans,
//! and applies unless refused or a dry run; `check` and `demo` live in [`crate::check`] and
//! [`crate::demo`]. Every run prints its result on stdout (text, or one JSON object) and ends
//! with one summary log line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use scim_client::transport::{RetryPolicy, escape_controls};
use scim_client::{ReadLimit, ScimClient};
use scim_diff::review::Review;
use scim_diff::{ObservedState, Outcome as OpResult, Plan, StopReason, TargetErrorKind};
use scim_sync::{
    ApplySaved, Observer, Phase, Reconciler, RunError, RunOutcome, RunReport, SavedPlan, Source,
};
use serde_json::{Value, json};

use crate::config::{Config, Mode, OutputFormat, TargetConfig};
use crate::exit::Outcome;
use crate::progress::{Progress, ProgressStyle};
use crate::report::{FailedOp, Phases, PlanText, Report, SideRequests};
use crate::stop::Stop;
use scim_sync::dynamic::Effective;

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

/// How one reconcile pass runs.
#[derive(Debug, Clone)]
pub struct PassOptions {
    /// Plan only.
    pub dry_run: bool,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// The stop flag and deadline.
    pub stop: Stop,
    /// How progress is shown.
    pub progress: ProgressStyle,
    /// A run whose only problems are conflicts fails (exit 1) instead of succeeding.
    pub fail_on_conflict: bool,
    /// How the text shows the plan.
    pub plan_text: PlanText,
    /// Print the plan on stdout as soon as it is made, before the first write (text output
    /// of a command that prints one report).
    pub print_plan_early: bool,
}

/// The SCIM client for a target, configured from the run's settings.
pub fn scim_client(target: &TargetConfig, config: &Config) -> Result<ScimClient, String> {
    ScimClient::builder(&target.base_url)
        .bearer_token(target.token.clone())
        .allow_insecure_http(config.opts.allow_insecure_http)
        .page_size(config.opts.page_size)
        .max_in_flight(config.opts.concurrency)
        .requests_per_second(config.opts.requests_per_second)
        .timeout(config.opts.request_timeout)
        .retry_policy(RetryPolicy::default().with_total_budget(config.opts.retry_budget))
        .max_list_records(config.opts.max_records)
        .max_response_bytes(config.opts.max_response_bytes)
        .user_agent(crate::USER_AGENT)
        .build()
        .map_err(|e| format!("SCIM client: {e}"))
}

/// Both ends of a reconcile or a plan, as configured.
fn both_ends(config: &Config) -> Result<(Source, ScimClient), String> {
    let (Some(source_config), Some(target_config)) = (&config.source, &config.target) else {
        unreachable!("a reconcile configuration always names both ends");
    };
    let source = crate::source::from_config(source_config, config)?;
    let scim = scim_client(target_config, config)?;
    tracing::info!(
        command = config.mode.as_str(),
        source = %source.describe(),
        scim_url = %target_config.base_url,
        dry_run = config.opts.dry_run,
        "starting"
    );
    Ok((source, scim))
}

/// How a pass of `config` runs.
fn pass_options(config: &Config, stop: &Stop, dry_run: bool) -> PassOptions {
    PassOptions {
        dry_run,
        concurrency: config.opts.concurrency,
        stop: stop.clone(),
        progress: crate::progress::wanted(config),
        fail_on_conflict: config.opts.fail_on_conflict,
        plan_text: plan_text(config),
        print_plan_early: config.opts.output == OutputFormat::Text,
    }
}

async fn reconcile_command(config: &Config, stop: &Stop) -> Outcome {
    let started = Instant::now();
    let (source, scim) = match both_ends(config) {
        Ok(ends) => ends,
        Err(e) => return finish_early(config, "reconcile", e, Outcome::Usage),
    };
    let effective =
        scim_sync::dynamic::resolve(&config.policy, config.opts.dry_run, &config.dynamic).await;
    let options = pass_options(config, stop, effective.dry_run());
    let (mut report, run) = reconcile(&source, &scim, &effective, &options, "reconcile").await;
    finish_command(config, &mut report, &run, started).await;
    report.outcome
}

/// `plan --out FILE`: read both ends, plan, save the plan (a refused one too); nothing is
/// written to the target.
async fn plan_command(config: &Config, stop: &Stop, out: &Path) -> Outcome {
    let started = Instant::now();
    // a file that cannot be written is found before both ends are read, not after
    if let Err(e) = check_writable(out) {
        return finish_early(config, "plan", e, Outcome::Usage);
    }
    let (source, scim) = match both_ends(config) {
        Ok(ends) => ends,
        Err(e) => return finish_early(config, "plan", e, Outcome::Usage),
    };
    let effective = scim_sync::dynamic::resolve(&config.policy, true, &config.dynamic).await;
    let options = pass_options(config, stop, true);
    let mut report = new_report("plan", &options, &effective);
    let (run, saved) = reconciler(&source, &scim, &effective, &options)
        .plan_to_save()
        .await;
    fill_report(&mut report, &run, &options);
    if let Some(saved) = saved {
        match saved.write(out) {
            Ok(()) => report.plan_file = Some(out.display().to_string()),
            Err(e) => {
                report.error = Some(format!("cannot write the plan file {}: {e}", out.display()));
                report.finish(Outcome::Failed);
            }
        }
    }
    finish_command(config, &mut report, &run, started).await;
    report.outcome
}

/// `apply FILE`: apply a saved plan if it still holds against the target as it is now.
async fn apply_command(config: &Config, stop: &Stop, path: &Path) -> Outcome {
    let started = Instant::now();
    // the file is read, and checked, before any request
    let saved = match SavedPlan::read(path) {
        Ok(saved) => saved,
        Err(e) => return finish_early(config, "apply", e, Outcome::Usage),
    };
    let Some(target_config) = &config.target else {
        unreachable!("an apply configuration always names the target");
    };
    let scim = match scim_client(target_config, config) {
        Ok(scim) => scim,
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
    let options = pass_options(config, stop, effective.dry_run());
    let mut report = new_report("apply", &options, &effective);
    report.plan_file = Some(path.display().to_string());
    let run = ApplySaved::new(saved, scim.clone(), effective.policy.clone())
        .dry_run(options.dry_run)
        .concurrency(options.concurrency)
        .max_age(config.opts.max_plan_age)
        .mass_change_approval(effective.approval.clone())
        .stop_handle(options.stop.clone())
        .observer(observer(&options, &scim, None))
        .run()
        .await;
    fill_report(&mut report, &run, &options);
    finish_command(config, &mut report, &run, started).await;
    report.outcome
}

/// Whether a file can be created at `path`: its directory exists, and it is not a directory.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(format!(
            "--out {}: is a directory; name a file",
            path.display()
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "--out {}: the directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// The end of every reconcile-like command: the run's own warnings, its duration, its
/// metrics pushed, the report on stdout and the summary log line.
async fn finish_command(config: &Config, report: &mut Report, run: &RunReport, started: Instant) {
    for name in &config.unknown_env {
        report.warn(format!(
            "environment variable {name} is not a setting this tool reads; it was ignored"
        ));
    }
    report.duration_ms = elapsed_ms(started);
    if let Some(metrics) = &config.metrics
        && let Err(e) = push_metrics(config, metrics, report, run, started).await
    {
        tracing::warn!(error = %e, "the run's metrics were not pushed");
        report.warn(format!("the run's metrics were not pushed: {e}"));
    }
    emit(config.opts.output, report);
    summary_line(report);
}

/// Pushes the run's metrics, grouped by organization and target host.
async fn push_metrics(
    config: &Config,
    metrics: &crate::config::MetricsConfig,
    report: &Report,
    run: &RunReport,
    started: Instant,
) -> Result<(), String> {
    let mut gateway = scim_sync::metrics::Pushgateway::new(&metrics.url)?;
    if let Some((user, password)) = &metrics.basic_auth {
        gateway = gateway.basic_auth(user.clone(), password.clone());
    }
    let end = scim_sync::metrics::RunEnd {
        at: std::time::SystemTime::now(),
        duration: started.elapsed(),
        exit_code: report.exit_code,
        external_id_prefix: config.policy.external_id_prefix.clone(),
    };
    let org = run
        .organization
        .clone()
        .or_else(|| config.opts.activate_org_name.clone())
        .unwrap_or_else(|| "unknown".to_owned());
    let target = config
        .target
        .as_ref()
        .and_then(|t| url::Url::parse(&t.base_url).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let grouping = [("org", org.as_str()), ("target", target.as_str())];
    let metrics = scim_sync::metrics::RunMetrics::new(run, &end);
    gateway.push_add(&grouping, &metrics).await
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
    let mut report = Report::new(command, config.opts.dry_run);
    report.error = Some(error);
    report.finish(outcome);
    emit(config.opts.output, &report);
    summary_line(&report);
    outcome
}

/// Milliseconds since `started`.
pub fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn side(stats: &scim_client::transport::StatsSnapshot) -> SideRequests {
    SideRequests {
        count: stats.requests,
        retries: stats.retries,
        throttled: stats.throttled,
        writes: stats.writes(),
    }
}

/// One full pass through [`scim_sync::Reconciler`], rendered as the CLI's [`Report`] (and the
/// library's report it was rendered from).
pub async fn reconcile(
    source: &Source,
    scim: &ScimClient,
    effective: &Effective,
    options: &PassOptions,
    command: &'static str,
) -> (Report, RunReport) {
    let mut report = new_report(command, options, effective);
    let run = reconciler(source, scim, effective, options).run().await;
    fill_report(&mut report, &run, options);
    (report, run)
}

/// The report of a command that reads and plans, before it runs.
fn new_report(command: &'static str, options: &PassOptions, effective: &Effective) -> Report {
    let mut report = Report::new(command, options.dry_run);
    report.plan_text = options.plan_text;
    report.plan_shown = options.print_plan_early;
    report.settings = serde_json::to_value(&effective.settings).unwrap_or(Value::Null);
    if let Some(warning) = effective.settings.fallback_warning() {
        report.warn(warning);
    }
    report
}

fn reconciler(
    source: &Source,
    scim: &ScimClient,
    effective: &Effective,
    options: &PassOptions,
) -> Reconciler {
    Reconciler::new(source.clone(), scim.clone(), effective.policy.clone())
        .dry_run(options.dry_run)
        .concurrency(options.concurrency)
        .mass_change_approval(effective.approval.clone())
        .stop_handle(options.stop.clone())
        .observer(observer(options, scim, source.activate_client().cloned()))
}

/// Progress lines and the early plan, as `options` want them.
fn observer(
    options: &PassOptions,
    scim: &ScimClient,
    activate: Option<activate_client::ActivateClient>,
) -> Arc<RunObserver> {
    Arc::new(RunObserver {
        style: options.progress,
        scim: scim.clone(),
        activate,
        current: tokio::sync::Mutex::new(None),
        print_plan: options
            .print_plan_early
            .then_some((options.plan_text, options.dry_run)),
    })
}

/// The CLI's report of a run: the same fields, counts and messages as always, from the
/// library's typed [`RunReport`].
fn fill_report(report: &mut Report, run: &RunReport, options: &PassOptions) {
    report.phases_ms = Phases {
        read: millis(run.phases.read),
        plan: millis(run.phases.plan),
        apply: millis(run.phases.apply),
    };
    report.requests.scim = side(&run.requests.target);
    if let Some(stats) = &run.requests.source {
        report.requests.activate = side(stats);
    }
    let warnings = run.warnings.iter().map(ToString::to_string);
    report
        .warnings
        .extend(warnings.map(|w| crate::report::in_operator_terms(&w)));
    for (label, n) in run.warning_counts() {
        *report.warning_counts.entry(label.to_owned()).or_insert(0) += n;
    }
    if let Some(error) = &run.error {
        report.error = Some(read_error_message(error));
    }
    report.conflicts = run
        .all_conflicts()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
        .collect();
    report.mass_change_approval = run
        .mass_change_approval
        .as_ref()
        .map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
    if let (Some(plan), Some(observed)) = (&run.plan, &run.observed) {
        report.set_plan(Arc::clone(plan), Arc::clone(observed));
    }
    if let Some(refusal) = run.refusal() {
        let mut reasons = refusal.reasons.clone();
        for reason in &mut reasons {
            reason.message = crate::report::in_operator_terms(&reason.message);
        }
        let message: Vec<&str> = reasons.iter().map(|r| r.message.as_str()).collect();
        report.refusal = Some(json!({
            "message": message.join("; "),
            "reasons": reasons,
        }));
    }
    report.summary = run.summary();
    for op in run.applied.iter().flat_map(|a| &a.operations) {
        // a conflict met while applying is reported with the others, not as a failure
        if let OpResult::Failed { error, kind } = &op.outcome
            && *kind != TargetErrorKind::Conflict
        {
            report.failed.push(FailedOp {
                op: op.op.clone(),
                external_id: op.external_id.clone(),
                error: error.clone(),
            });
        }
    }
    if let Some(stopped) = run.stopped() {
        let why = match stopped {
            StopReason::Refused => "the plan was refused".to_owned(),
            StopReason::Fatal { error } => format!("a systemic target error: {error}"),
            StopReason::Deadline => "the deadline (--deadline) passed".to_owned(),
            StopReason::StopRequested => "a stop signal arrived".to_owned(),
        };
        let skipped = report.summary.skipped;
        report.warn(format!(
            "writes stopped early ({why}); {skipped} operation(s) not attempted, the next run \
             picks them up"
        ));
    }
    report.finish(match run.outcome {
        RunOutcome::Ok => Outcome::Ok,
        RunOutcome::Failed => Outcome::Failed,
        RunOutcome::Refused => Outcome::Refused,
        RunOutcome::ReadFailed => Outcome::ReadFailed,
    });
    if options.fail_on_conflict && report.outcome == Outcome::Ok && !report.conflicts.is_empty() {
        report.finish(Outcome::Failed);
    }
}

/// Why a run ended before planning, in the operator's words (the options to set).
fn read_error_message(error: &RunError) -> String {
    match error {
        RunError::StoppedWhileReading => {
            "stopped by a signal while reading; nothing was written".to_owned()
        }
        RunError::DeadlineWhileReading => {
            "the deadline (--deadline, SYNC_DEADLINE) passed while reading; nothing was written"
                .to_owned()
        }
        RunError::Read { source, target } => {
            let mut errors = Vec::new();
            if let Some(e) = source {
                errors.push(format!("could not read the source completely: {e}"));
            }
            if let Some(e) = target {
                let hint = match e.exceeded_limit() {
                    Some(ReadLimit::ResponseBytes) => {
                        " (raise --max-response-bytes, SYNC_MAX_RESPONSE_BYTES, if the target's pages are that large)"
                    }
                    Some(ReadLimit::ListPages) => {
                        " (the target pages very small: raise --page-size, SCIM_PAGE_SIZE, if it allows)"
                    }
                    Some(_) => {
                        " (raise --max-records, SYNC_MAX_RECORDS, if the target really holds that many)"
                    }
                    None => "",
                };
                errors.push(format!(
                    "could not read the SCIM target completely: {e}{hint}"
                ));
            }
            format!("{}; nothing was written", errors.join("; "))
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Progress lines on a terminal while reading (requests so far) and applying (writes), and
/// the plan on stdout before the first write.
struct RunObserver {
    style: ProgressStyle,
    scim: ScimClient,
    activate: Option<activate_client::ActivateClient>,
    current: tokio::sync::Mutex<Option<Progress>>,
    /// How to print the plan once made (and whether it is a dry run), if it is printed early.
    print_plan: Option<(PlanText, bool)>,
}

#[async_trait::async_trait]
impl Observer for RunObserver {
    async fn phase_started(&self, phase: Phase) {
        let progress = match phase {
            Phase::Reading => {
                let (scim, activate) = (self.scim.clone(), self.activate.clone());
                Progress::start(
                    self.style,
                    "reading ACTIVATE and the target",
                    None,
                    move || {
                        scim.stats().requests + activate.as_ref().map_or(0, |a| a.stats().requests)
                    },
                )
            }
            Phase::Applying { operations } => {
                let scim = self.scim.clone();
                let writes_before = scim.stats().writes();
                Progress::start(self.style, "applying", Some(operations as u64), move || {
                    scim.stats().writes().saturating_sub(writes_before)
                })
            }
        };
        *self.current.lock().await = Some(progress);
    }

    async fn phase_finished(&self, _phase: Phase) {
        if let Some(progress) = self.current.lock().await.take() {
            progress.finish().await;
        }
    }

    async fn planned(&self, plan: &Plan, observed: &ObservedState) {
        if let Some((style, dry_run)) = self.print_plan {
            let text = style.render(&Review::new(plan, observed), dry_run);
            // the plan quotes ACTIVATE's and the target's text: no control sequence passes
            print!("{}", escape_controls(&text, true));
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
    }
}

/// Prints a report on stdout in the configured format.
pub fn emit(output: OutputFormat, report: &Report) {
    match output {
        OutputFormat::Json => println!("{}", report.to_json()),
        // the report quotes ACTIVATE's and the target's text: nothing in it may reach the
        // terminal as a control sequence
        OutputFormat::Text => print!("{}", escape_controls(&report.render_text(), true)),
    }
}

/// The one log line every run ends with.
pub fn summary_line(report: &Report) {
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
                conflicts = report.conflicts.len(),
                warnings = report.warnings.len(),
                activate_requests = r.activate.count,
                scim_requests = r.scim.count,
                scim_retries = r.scim.retries,
                scim_throttled = r.scim.throttled,
                scim_writes = r.scim.writes,
                duration_ms = report.duration_ms,
                error = report.error.as_deref().unwrap_or(""),
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
