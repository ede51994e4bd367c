//! Logging setup: `tracing` to stderr, human-readable on a terminal, JSON lines otherwise (or as
//! `LOG_FORMAT` says). stdout is reserved for the run's output (the plan, the report).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use scim_sync::progress::{ClearingStderr, LOG_EVERY, ProgressStyle};

use crate::config::{Config, LogFormat, OutputFormat};

/// Checks that `LOG_LEVEL` is a valid filter (e.g. `info`, `debug,hyper=info`). A directive
/// with an empty level (`nonsense=`) is refused: it parses, and silently turns every other log
/// line off.
pub fn check_filter(directives: &str) -> Result<(), String> {
    if let Some(bad) = directives
        .split(',')
        .map(str::trim)
        .find(|d| d.ends_with('='))
    {
        return Err(format!(
            "`{bad}` names no level; write e.g. `{bad}debug`, or `info` for everything"
        ));
    }
    EnvFilter::builder()
        .parse(directives)
        .map(|_| ())
        .map_err(|e| format!("`{directives}` is not a log filter: {e}"))
}

/// Whether logs go out as JSON lines for this format and this stderr.
pub fn use_json(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    }
}

/// How this run shows progress: a line on a terminal (text output, text logs), log lines
/// anywhere else.
pub fn progress_style(config: &Config) -> ProgressStyle {
    let terminal = config.opts.output == OutputFormat::Text
        && !use_json(config.opts.log_format)
        && std::io::stderr().is_terminal();
    if terminal {
        ProgressStyle::Terminal
    } else {
        ProgressStyle::LogLines(LOG_EVERY)
    }
}

/// Installs the global subscriber. Call once, before any log line.
pub fn init(format: LogFormat, directives: &str) {
    let filter = EnvFilter::builder()
        .parse(directives)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if use_json(format) {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .with_writer(|| ClearingStderr)
            .try_init()
    };
    // a second init (tests calling in-process) keeps the first subscriber
    let _ = result;
}
