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
//! let config = Config::from_cli(cli.command, &cli.opts).unwrap();
//! assert_eq!(config.mode, Mode::Reconcile);
//! assert_eq!(config.target.as_ref().unwrap().base_url, "https://api.coreweave.com/scim/abc123");
//! assert!(config.dry_run);
//! assert!(!format!("{config:?}").contains("s3cr3t"), "secrets never print");
//! assert_eq!(scim_sync_cli::exit::Outcome::Refused.code(), 3);
//! ```

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod env_file;
pub mod exit;
pub mod logging;
pub mod progress;
pub mod report;
pub mod settings;
pub mod source;
pub mod stop;

/// The `User-Agent` of every request this binary sends.
pub const USER_AGENT: &str = concat!("pw-activate-scim-sync/", env!("CARGO_PKG_VERSION"));

/// Runs the binary with these arguments (the first is the program name).
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    if let Err(e) = env_file::load(cli::env_file_arg(&args).as_deref()) {
        eprintln!("error: {e}");
        return exit::Outcome::Usage.into();
    }
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // help and version exit 0, usage errors exit 2
        Err(e) => e.exit(),
    };
    let config = match config::Config::from_cli(cli.command, &cli.opts) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            // `--output json` promises one JSON object on stdout, errors included
            let json = cli.opts.output.as_deref().map(str::trim) == Some("json");
            if json {
                let command = match cli.command {
                    None => "reconcile",
                    Some(cli::Command::Check) => "check",
                    Some(cli::Command::Demo) => "demo",
                };
                let mut report = report::Report::new(command, false);
                report.error = Some(e.to_string());
                report.finish(exit::Outcome::Usage);
                println!("{}", report.to_json());
            }
            return exit::Outcome::Usage.into();
        }
    };
    logging::init(config.log_format, &config.log_level);
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
