//! The clap surface: every flag, its environment variable and its help text. Values are kept
//! as raw strings here (an empty environment variable must mean "unset", which clap does not
//! do by itself); [`crate::config`] validates them into a typed [`crate::config::Config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

/// Reconciles Parallel Works ACTIVATE users, groups and SSH keys into a SCIM 2.0 target
/// (CoreWeave IAM).
///
/// Without a subcommand it runs one full reconcile: read ACTIVATE, list what it manages in the
/// target, plan, apply. Every flag can also be set by the environment variable shown, or in a
/// `.env` file. An empty environment variable counts as unset.
#[derive(Parser)]
#[command(name = "pw-activate-scim-sync", version, about, long_about)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do (default: a full reconcile).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options shared by every subcommand.
    #[command(flatten)]
    pub opts: Opts,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Probe both ends without writing: credentials, organization, the target's
    /// ServiceProviderConfig, `externalId sw` filtering and echo, page size.
    Check,
    /// Run the whole job with no credentials: the sample ACTIVATE export against an embedded
    /// SCIM server; shows the plan, applies it, and shows that a second pass has nothing to do.
    Demo,
}

/// Every option (all global: they may be given before or after the subcommand).
#[derive(Args)]
pub struct Opts {
    // ---- ACTIVATE (the source) ----
    /// ACTIVATE API key (pwt_...). Prefer ACTIVATE_API_KEY_FILE: a flag shows in `ps`.
    #[arg(long, env = "ACTIVATE_API_KEY", hide_env_values = true, global = true,
          value_parser = secret, help_heading = "ACTIVATE (source)")]
    pub activate_api_key: Option<SecretString>,
    /// File holding the ACTIVATE API key (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "ACTIVATE_API_KEY_FILE",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub activate_api_key_file: Option<String>,
    /// ACTIVATE base URL, e.g. https://activate.parallel.works [default: derived from the key].
    #[arg(
        long,
        env = "ACTIVATE_API_URL",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub activate_api_url: Option<String>,
    /// ACTIVATE organization name [default: the API key's organization].
    #[arg(
        long,
        env = "ACTIVATE_ORG_NAME",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub activate_org_name: Option<String>,
    /// Comma-separated ACTIVATE group names: a hard scope. Users in none of them are treated
    /// as gone [default: every group].
    #[arg(
        long,
        env = "ACTIVATE_SYNC_GROUPS",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub sync_groups: Option<String>,
    /// Read the snapshot from an ACTIVATE export file (JSON) instead of the API.
    #[arg(
        long,
        env = "ACTIVATE_SOURCE_FILE",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub source_file: Option<String>,
    /// The largest export file read, in bytes [default: 1073741824, 1 GiB].
    #[arg(
        long,
        env = "ACTIVATE_SOURCE_FILE_MAX_BYTES",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub source_file_max_bytes: Option<String>,
    /// Where SSH public keys come from: `rest` (the API) or `pw-cli` (`pw ssh-public-keys`)
    /// [default: rest].
    #[arg(
        long,
        env = "SYNC_SSH_KEY_SOURCE",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub ssh_key_source: Option<String>,
    /// Path of the `pw` CLI for `--ssh-key-source pw-cli` [default: pw].
    #[arg(
        long,
        env = "PW_CLI_PATH",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub pw_cli_path: Option<String>,
    /// How many users' SSH keys are fetched at once [default: 8].
    #[arg(
        long,
        env = "ACTIVATE_KEY_CONCURRENCY",
        global = true,
        help_heading = "ACTIVATE (source)"
    )]
    pub key_concurrency: Option<String>,

    // ---- SCIM (the target) ----
    /// SCIM bearer token. Prefer CW_SCIM_BEARER_TOKEN_FILE: a flag shows in `ps`.
    #[arg(long, env = "CW_SCIM_BEARER_TOKEN", hide_env_values = true, global = true,
          value_parser = secret, help_heading = "SCIM (target)")]
    pub scim_bearer_token: Option<SecretString>,
    /// File holding the SCIM bearer token (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "CW_SCIM_BEARER_TOKEN_FILE",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub scim_bearer_token_file: Option<String>,
    /// CoreWeave org user id: the target is https://api.coreweave.com/scim/<id>.
    #[arg(
        long,
        env = "CW_SCIM_ORG_USERID",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub cw_org_userid: Option<String>,
    /// Any SCIM base URL (overrides CW_SCIM_ORG_USERID).
    #[arg(
        long,
        env = "CW_SCIM_BASE_URL",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub scim_base_url: Option<String>,
    /// Largest page requested when listing [default: 100].
    #[arg(
        long,
        env = "SCIM_PAGE_SIZE",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub page_size: Option<String>,
    /// Most members added or removed by one PATCH [default: 100].
    #[arg(
        long,
        env = "SCIM_MAX_MEMBERS_PER_PATCH",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub max_members_per_patch: Option<String>,
    /// Client-side rate limit for the target, requests per second [default: none].
    #[arg(
        long,
        env = "SCIM_REQUESTS_PER_SECOND",
        global = true,
        help_heading = "SCIM (target)"
    )]
    pub requests_per_second: Option<String>,
    /// Allow http:// URLs for the target and ACTIVATE (tests, loopback) [default: false].
    #[arg(long, env = "SYNC_ALLOW_INSECURE_HTTP", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", help_heading = "SCIM (target)")]
    pub allow_insecure_http: Option<String>,

    // ---- policy ----
    /// SCIM userName from the user's `email` or ACTIVATE `username` [default: email].
    #[arg(
        long,
        env = "SYNC_USERNAME_FROM",
        global = true,
        help_heading = "Policy"
    )]
    pub username_from: Option<String>,
    /// Create, update, deactivate and reactivate users [default: true].
    #[arg(long, env = "SYNC_ENABLE_USER_SYNC", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", help_heading = "Policy")]
    pub enable_user_sync: Option<String>,
    /// Create and rename groups and set their members [default: true].
    #[arg(long, env = "SYNC_ENABLE_GROUP_SYNC", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", help_heading = "Policy")]
    pub enable_group_sync: Option<String>,
    /// Keep members of managed groups that this tool does not manage [default: false].
    #[arg(long, env = "SYNC_ALLOW_NON_PROVISIONED_USERS", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", help_heading = "Policy")]
    pub allow_non_provisioned_users: Option<String>,
    /// Refuse a run that would deactivate more users than this [default: the engine's].
    #[arg(
        long,
        env = "SYNC_MAX_DEACTIVATIONS",
        global = true,
        help_heading = "Policy"
    )]
    pub max_deactivations: Option<String>,
    /// Refuse a run that would deactivate more than this percentage of managed users
    /// [default: the engine's].
    #[arg(
        long,
        env = "SYNC_MAX_DEACTIVATION_PERCENT",
        global = true,
        help_heading = "Policy"
    )]
    pub max_deactivation_percent: Option<String>,
    /// Refuse a run that would remove more group memberships than this [default: the engine's].
    #[arg(
        long,
        env = "SYNC_MAX_MEMBERSHIP_REMOVALS",
        global = true,
        help_heading = "Policy"
    )]
    pub max_membership_removals: Option<String>,
    /// Let this one run exceed the deactivation and membership-removal limits.
    #[arg(long, global = true, help_heading = "Policy")]
    pub allow_mass_changes: bool,

    // ---- the run ----
    /// Plan and report, write nothing [default: false].
    #[arg(long, env = "SYNC_DRY_RUN", global = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", help_heading = "Run")]
    pub dry_run: Option<String>,
    /// Writes issued at once [default: 4].
    #[arg(long, env = "SYNC_CONCURRENCY", global = true, help_heading = "Run")]
    pub concurrency: Option<String>,
    /// The most records one list of the SCIM target may hold; a longer or endless list
    /// fails the read, with nothing written [default: 2000000].
    #[arg(long, env = "SYNC_MAX_RECORDS", global = true, help_heading = "Run")]
    pub max_records: Option<String>,
    /// The largest response the SCIM target may send, in bytes; a larger one fails the read,
    /// with nothing written [default: 134217728, 128 MiB].
    #[arg(
        long,
        env = "SYNC_MAX_RESPONSE_BYTES",
        global = true,
        help_heading = "Run"
    )]
    pub max_response_bytes: Option<String>,
    /// Stop issuing new writes after this long, e.g. `7m` [default: none].
    #[arg(long, env = "SYNC_DEADLINE", global = true, help_heading = "Run")]
    pub deadline: Option<String>,
    /// How long one HTTP request (to ACTIVATE or to the SCIM target) may take before it is
    /// abandoned and, within the retry budget, retried, e.g. `45s` [default: 30s].
    #[arg(
        long,
        env = "SYNC_REQUEST_TIMEOUT",
        global = true,
        help_heading = "Run"
    )]
    pub request_timeout: Option<String>,
    /// How long one request may keep being retried, waits included, before the run gives up
    /// on it, e.g. `2m` [default: 60s].
    #[arg(long, env = "SYNC_RETRY_BUDGET", global = true, help_heading = "Run")]
    pub retry_budget: Option<String>,
    /// `text` (a plan table and a summary) or `json` (one JSON object on stdout)
    /// [default: text].
    #[arg(long, env = "SYNC_OUTPUT", global = true, help_heading = "Run")]
    pub output: Option<String>,
    /// Log format on stderr: `auto` (text on a terminal, JSON lines otherwise), `text`, `json`
    /// [default: auto].
    #[arg(long, env = "LOG_FORMAT", global = true, help_heading = "Run")]
    pub log_format: Option<String>,
    /// Log filter, e.g. `info`, `debug`, `scim_client=debug` [default: info].
    #[arg(long, env = "LOG_LEVEL", global = true, help_heading = "Run")]
    pub log_level: Option<String>,
    /// Load environment variables from this file (default: `.env` in the working directory,
    /// if present). Variables already set win.
    #[arg(long, global = true, help_heading = "Run")]
    pub env_file: Option<PathBuf>,

    // ---- run-time settings (Kubernetes) ----
    /// Do not read the SCIMConfig settings resource from the cluster [default: false].
    #[arg(long, env = "SYNC_NO_DYNAMIC_SETTINGS", global = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", help_heading = "Run-time settings")]
    pub no_dynamic_settings: Option<String>,
    /// Name of the SCIMConfig resource [default: default].
    #[arg(
        long,
        env = "SYNC_SETTINGS_NAME",
        global = true,
        help_heading = "Run-time settings"
    )]
    pub settings_name: Option<String>,
    /// Namespace of the SCIMConfig resource [default: the pod's namespace].
    #[arg(
        long,
        env = "POD_NAMESPACE",
        global = true,
        help_heading = "Run-time settings"
    )]
    pub namespace: Option<String>,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// Finds `--env-file PATH` / `--env-file=PATH` in the raw arguments, before clap runs (the file
/// must be loaded before clap reads the environment).
pub fn env_file_arg(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--env-file" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--env-file=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// Prefixes of the environment variables this binary reads; a variable with one of them that
/// the binary does not know is probably a typo, and is warned about.
pub const ENV_PREFIXES: &[&str] = &["ACTIVATE_", "CW_SCIM_", "SCIM_", "SYNC_"];

/// Every environment variable the binary reads.
pub fn known_env_vars() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// The environment variables with one of [`ENV_PREFIXES`] that the binary does not read
/// (names only, never values).
pub fn unknown_env_vars(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let known = known_env_vars();
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| ENV_PREFIXES.iter().any(|p| n.starts_with(p)))
        // Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_...` for every Service
        .filter(|n| !n.contains("_SERVICE_") && !n.contains("_PORT"))
        .filter(|n| !known.contains(n))
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn unknown_prefixed_variables_are_found() {
        let names = [
            "SYNC_MAX_DEACTIVATION",
            "SYNC_DRY_RUN",
            "HOME",
            "SCIM2_SERVER_URL",
        ];
        assert_eq!(
            unknown_env_vars(names.iter().map(|s| s.to_string())),
            vec!["SYNC_MAX_DEACTIVATION".to_owned()]
        );
        assert!(known_env_vars().contains(&"POD_NAMESPACE".to_owned()));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn env_file_is_found_in_both_spellings() {
        let args = |v: &[&str]| {
            v.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            env_file_arg(&args(&["x", "--dry-run", "--env-file", "a.env"])),
            Some(PathBuf::from("a.env"))
        );
        assert_eq!(
            env_file_arg(&args(&["x", "check", "--env-file=b.env"])),
            Some(PathBuf::from("b.env"))
        );
        assert_eq!(env_file_arg(&args(&["x", "--", "--env-file=c"])), None);
    }
}
