//! The internals of `pw-activate-scim-sync`, as a library so the binary's tests can reach
//! them. This is not a stable API: embedders use `scim-client`, `scim-diff` and
//! `activate-client` directly.
//!
//! The flow of [`main_with_args`]: load the `.env` file, parse the flags ([`cli`]), validate
//! them ([`config`]), set up logging ([`logging`]), then run the subcommand ([`app`]) and map
//! its [`exit::Outcome`] to the process exit code.
//!
//! ```
//! use clap::Parser;
//! use scim_sync_cli::cli::Cli;
//! use scim_sync_cli::config::{Config, Mode};
//!
//! let cli = Cli::try_parse_from([
//!     "pw-activate-scim-sync", "--source-file", "org.json",
//!     "--cw-org-userid", "abc123", "--scim-bearer-token", "s3cr3t", "--dry-run",
//! ])
//! .unwrap();
//! let config = Config::from_cli(cli.command.as_ref(), &cli.opts).unwrap();
//! assert_eq!(config.mode, Mode::Reconcile);
//! assert_eq!(config.target.as_ref().unwrap().base_url, "https://api.coreweave.com/scim/abc123");
//! assert!(config.opts.dry_run);
//! assert!(!format!("{config:?}").contains("s3cr3t"), "secrets never print");
//! assert_eq!(scim_sync_cli::exit::Outcome::Refused.code(), 3);
//! ```

use std::ffi::OsString;
use std::process::ExitCode;

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod env_file;
pub mod exit;
pub mod export;
pub mod logging;
pub mod report;
pub mod stop;
pub mod values;

/// The `User-Agent` of every request this binary sends.
pub const USER_AGENT: &str = concat!("pw-activate-scim-sync/", env!("CARGO_PKG_VERSION"));

/// What `--version` prints after the name: the version, the git commit and the build date.
pub const VERSION: &str = env!("PW_BUILD_VERSION");

/// Runs the binary with these arguments (the first is the program name).
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    if let Err(e) = env_file::load(cli::env_file_arg(&args).as_deref()) {
        eprintln!("error: {e}");
        return exit::Outcome::Usage.into();
    }
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help and --version exit 0
        Err(e) => return usage_error(cli::json_requested(&args), &e.to_string()),
    };
    let config = match config::Config::from_cli(cli.command.as_ref(), &cli.opts) {
        Ok(config) => config,
        Err(e) => {
            let json = cli.opts.output == cli::OutputFormat::Json;
            let command = cli.command.as_ref().map_or("reconcile", cli::Command::name);
            return usage_error(json.then_some(command), &format!("error: {e}"));
        }
    };
    logging::init(config.opts.log_format, &config.opts.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::Outcome::Failed.into();
        }
    };
    let outcome = runtime.block_on(app::run(config));
    outcome.into()
}

/// A usage or configuration error: printed on stderr and, when `--output json` was asked
/// for (`json_for` names the command), as the one JSON object on stdout: that promise holds
/// for errors too. Exit code 2.
fn usage_error(json_for: Option<&'static str>, rendered: &str) -> ExitCode {
    eprint!("{}", rendered.trim_end());
    eprintln!();
    if let Some(command) = json_for {
        // the first line is the message; clap adds usage and a hint below it
        let message = rendered.lines().next().unwrap_or_default();
        let mut report = report::new(command, false);
        report.error = Some(message.trim_start_matches("error: ").to_owned());
        report.finish(exit::Outcome::Usage);
        app::stdout(&format!("{}\n", report.to_json()));
    }
    exit::Outcome::Usage.into()
}
