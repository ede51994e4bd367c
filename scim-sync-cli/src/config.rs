//! The validated configuration: [`Config::from_cli`] turns the raw clap values into typed
//! settings, reads secret files, and rejects anything inconsistent with a message that names
//! the flag and the environment variable (the binary exits with code 2 on such an error).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::cli::{Command, Opts};

/// The CoreWeave SCIM endpoint, completed with `CW_SCIM_ORG_USERID`.
pub const COREWEAVE_SCIM_BASE: &str = "https://api.coreweave.com/scim/";

/// A usage or configuration error: the run never started (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// What the binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A full reconcile (no subcommand).
    Reconcile,
    /// `check`: probe both ends, write nothing.
    Check,
    /// `demo`: the sample org against the embedded server.
    Demo,
}

impl Mode {
    /// The mode's name as it appears in logs and the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Reconcile => "reconcile",
            Mode::Check => "check",
            Mode::Demo => "demo",
        }
    }
}

/// How the run's result is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A plan table and a summary.
    Text,
    /// Exactly one JSON object.
    Json,
}

/// Log format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the user's SCIM `userName` comes from: the engine's own setting.
pub use scim_diff::UsernameFrom;

/// Where SSH public keys are read from: the ACTIVATE client's own setting.
pub use activate_client::KeySource;

/// How long one `pw ssh-public-keys` invocation may run.
const PW_CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reading ACTIVATE through its API.
#[derive(Debug, Clone)]
pub struct ActivateConfig {
    /// The API key (never printed).
    pub api_key: SecretString,
    /// Base URL override (default: derived from the key).
    pub api_url: Option<String>,
    /// Organization name (default: the key's organization).
    pub org_name: Option<String>,
    /// Where SSH keys come from.
    pub key_source: KeySource,
    /// Users whose keys are fetched at once.
    pub key_concurrency: usize,
}

/// The source of the snapshot.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// An ACTIVATE export file (JSON).
    File(PathBuf),
    /// The ACTIVATE API.
    Api(ActivateConfig),
}

/// The SCIM target.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// SCIM base URL (no trailing slash).
    pub base_url: String,
    /// Bearer token (never printed).
    pub token: SecretString,
}

/// The engine's policy knobs as configured statically (flags, env, ConfigMap); `None` means
/// "the engine's default". Run-time settings may override some of them.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// userName from email or username.
    pub username_from: UsernameFrom,
    /// ACTIVATE group names in scope (a hard scope), or every group.
    pub sync_groups: Option<Vec<String>>,
    /// Users are created/updated/deactivated.
    pub enable_user_sync: bool,
    /// Groups are created/renamed/have their members set.
    pub enable_group_sync: bool,
    /// Unmanaged members of managed groups are kept.
    pub allow_non_provisioned_users: bool,
    /// Most deactivations per run.
    pub max_deactivations: Limit<usize>,
    /// Most deactivations per run as a percentage of the active managed users.
    pub max_deactivation_percent: Limit<u32>,
    /// Most membership removals per run.
    pub max_membership_removals: Limit<usize>,
    /// One-run override of the limits above.
    pub allow_mass_changes: bool,
    /// Most members per membership PATCH.
    pub max_members_per_patch: Option<usize>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            username_from: UsernameFrom::Email,
            sync_groups: None,
            enable_user_sync: true,
            enable_group_sync: true,
            allow_non_provisioned_users: false,
            max_deactivations: Limit::Default,
            max_deactivation_percent: Limit::Default,
            max_membership_removals: Limit::Default,
            allow_mass_changes: false,
            max_members_per_patch: None,
        }
    }
}

/// A blast-radius limit as configured: unset (the engine's default), `none`, or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    /// Not configured: the engine's default applies.
    Default,
    /// `none` / `off` / `unlimited`: no limit.
    Unlimited,
    /// At most this many.
    At(T),
}

impl<T: Copy> Limit<T> {
    /// The limit to use, given the engine's default.
    pub fn resolve(self, default: Option<T>) -> Option<T> {
        match self {
            Limit::Default => default,
            Limit::Unlimited => None,
            Limit::At(n) => Some(n),
        }
    }
}

fn parse_limit<T>(raw: &Option<String>, what: &str, max: Option<T>) -> Result<Limit<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = present(raw) else {
        return Ok(Limit::Default);
    };
    if matches!(
        text.to_ascii_lowercase().as_str(),
        "none" | "off" | "unlimited"
    ) {
        return Ok(Limit::Unlimited);
    }
    match text.parse::<T>() {
        Ok(n) if max.is_some_and(|m| n > m) => err(format!(
            "{what}: must be at most {}, got `{text}`",
            max.expect("checked")
        )),
        Ok(n) => Ok(Limit::At(n)),
        Err(_) => err(format!(
            "{what}: expected a whole number or `none`, got `{text}`"
        )),
    }
}

/// The run-time settings lookup (the `SCIMConfig` resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicConfig {
    /// Whether to look the resource up at all.
    pub enabled: bool,
    /// The resource's name.
    pub name: String,
    /// Its namespace (default: the in-cluster namespace).
    pub namespace: Option<String>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// Where the snapshot comes from (`None` for `demo`).
    pub source: Option<SourceConfig>,
    /// The SCIM target (`None` for `demo`).
    pub target: Option<TargetConfig>,
    /// Allow `http://` URLs.
    pub allow_insecure_http: bool,
    /// Largest page requested when listing.
    pub page_size: u32,
    /// Client-side request rate limit for the target.
    pub requests_per_second: Option<f64>,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// The engine's policy (static values).
    pub policy: PolicyConfig,
    /// Plan only.
    pub dry_run: bool,
    /// Stop issuing writes after this long (and stop reading: nothing written).
    pub deadline: Option<Duration>,
    /// The most records one list may hold (`--max-records`).
    pub max_records: u64,
    /// The largest response read from the target (`--max-response-bytes`).
    pub max_response_bytes: u64,
    /// The largest export file read (`--source-file-max-bytes`).
    pub source_file_max_bytes: u64,
    /// How long one HTTP request may take (both ends).
    pub request_timeout: Duration,
    /// How long one request may keep being retried (both ends).
    pub retry_budget: Duration,
    /// stdout format.
    pub output: OutputFormat,
    /// stderr log format.
    pub log_format: LogFormat,
    /// Log filter directives.
    pub log_level: String,
    /// The run-time settings lookup.
    pub dynamic: DynamicConfig,
    /// Environment variables that look like ours but are not (probably typos); warned about.
    pub unknown_env: Vec<String>,
}

/// Default page size when listing the target.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most records one list may hold (far above any real organization).
pub const DEFAULT_MAX_RECORDS: u64 = 2_000_000;
/// The largest response read from the target (a page of groups with very large ones).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 128 * 1024 * 1024;
/// Default number of writes in flight.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default number of users whose SSH keys are fetched at once.
pub const DEFAULT_KEY_CONCURRENCY: usize = 8;
/// Default time one HTTP request may take.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time one request may keep being retried.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// Trims a raw value; an empty value means "unset".
fn present(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_bool(raw: &Option<String>, what: &str, default: bool) -> Result<bool, ConfigError> {
    match present(raw).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on" | "y") => Ok(true),
        Some("false" | "0" | "no" | "off" | "n") => Ok(false),
        Some(other) => err(format!("{what}: expected true or false, got `{other}`")),
    }
}

/// A duration such as `90s` or `7m`, longer than zero; unset is `None`.
fn parse_duration(raw: &Option<String>, what: &str) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = present(raw) else {
        return Ok(None);
    };
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        Ok(_) => err(format!("{what}: must be longer than zero")),
        Err(e) => err(format!(
            "{what}: `{text}` is not a duration like `7m` or `90s`: {e}"
        )),
    }
}

fn parse_number<T>(raw: &Option<String>, what: &str, min: T) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = present(raw) else {
        return Ok(None);
    };
    match text.parse::<T>() {
        Ok(n) if n >= min => Ok(Some(n)),
        Ok(_) => err(format!("{what}: must be at least {min}, got `{text}`")),
        Err(_) => err(format!("{what}: expected a number, got `{text}`")),
    }
}

/// The largest secret file read: a token or key is well under 1 KiB.
const SECRET_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Reads a secret from its value or its file; both set is an error, an empty result is unset.
fn load_secret(
    value: &Option<SecretString>,
    file: &Option<String>,
    what: &str,
    file_what: &str,
) -> Result<Option<SecretString>, ConfigError> {
    let value = value
        .as_ref()
        .filter(|s| !s.expose_secret().trim().is_empty());
    match (value, present(file)) {
        (Some(_), Some(_)) => err(format!("set either {what} or {file_what}, not both")),
        (Some(secret), None) => Ok(Some(SecretString::from(secret.expose_secret().trim()))),
        (None, Some(path)) => {
            let text = activate_client::read_text_file(Path::new(path), SECRET_FILE_MAX_BYTES)
                .map_err(|e| ConfigError(format!("{file_what}: cannot read `{path}`: {e}")))?;
            let text = text.trim();
            if text.is_empty() {
                return err(format!("{file_what}: `{path}` is empty"));
            }
            Ok(Some(SecretString::from(text)))
        }
        (None, None) => Ok(None),
    }
}

/// Whether the authority at the start of `rest` (what follows `http://`) is a loopback host.
fn is_loopback(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks that a URL is absolute http(s) with a host; `http` to anything but loopback needs
/// the insecure opt-in.
fn check_url(url: &str, what: &str, allow_insecure: bool) -> Result<String, ConfigError> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_insecure && !is_loopback(rest) {
            return err(format!(
                "{what}: `{url}` is plain http; use https, or set SYNC_ALLOW_INSECURE_HTTP=true \
                 (--allow-insecure-http) for a test server"
            ));
        }
        rest
    } else {
        return err(format!(
            "{what}: `{url}` is not an http(s) URL (expected e.g. https://host/path)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return err(format!("{what}: `{url}` has no valid host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl Config {
    /// Validates the raw options for the given subcommand.
    pub fn from_cli(command: Option<Command>, opts: &Opts) -> Result<Config, ConfigError> {
        let mode = match command {
            None => Mode::Reconcile,
            Some(Command::Check) => Mode::Check,
            Some(Command::Demo) => Mode::Demo,
        };
        let output = match present(&opts.output)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => OutputFormat::Text,
            Some("json") => OutputFormat::Json,
            Some(other) => {
                return err(format!(
                    "--output (SYNC_OUTPUT): expected text or json, got `{other}`"
                ));
            }
        };
        let log_format = match present(&opts.log_format)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => LogFormat::Auto,
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return err(format!(
                    "--log-format (LOG_FORMAT): expected auto, text or json, got `{other}`"
                ));
            }
        };
        let log_level = present(&opts.log_level).unwrap_or("info").to_owned();
        crate::logging::check_filter(&log_level)
            .map_err(|e| ConfigError(format!("--log-level (LOG_LEVEL): {e}")))?;

        let allow_insecure_http = parse_bool(
            &opts.allow_insecure_http,
            "--allow-insecure-http (SYNC_ALLOW_INSECURE_HTTP)",
            false,
        )?;
        let dry_run = parse_bool(&opts.dry_run, "--dry-run (SYNC_DRY_RUN)", false)?;
        let deadline = parse_duration(&opts.deadline, "--deadline (SYNC_DEADLINE)")?;
        let request_timeout = parse_duration(
            &opts.request_timeout,
            "--request-timeout (SYNC_REQUEST_TIMEOUT)",
        )?
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let retry_budget =
            parse_duration(&opts.retry_budget, "--retry-budget (SYNC_RETRY_BUDGET)")?
                .unwrap_or(DEFAULT_RETRY_BUDGET);
        let max_records =
            parse_number::<u64>(&opts.max_records, "--max-records (SYNC_MAX_RECORDS)", 1)?
                .unwrap_or(DEFAULT_MAX_RECORDS);
        let max_response_bytes = parse_number::<u64>(
            &opts.max_response_bytes,
            "--max-response-bytes (SYNC_MAX_RESPONSE_BYTES)",
            1024,
        )?
        .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        let source_file_max_bytes = parse_number::<u64>(
            &opts.source_file_max_bytes,
            "--source-file-max-bytes (ACTIVATE_SOURCE_FILE_MAX_BYTES)",
            1,
        )?
        .unwrap_or(activate_client::DEFAULT_EXPORT_MAX_BYTES);
        let page_size = parse_number::<u32>(&opts.page_size, "--page-size (SCIM_PAGE_SIZE)", 1)?
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let concurrency =
            parse_number::<usize>(&opts.concurrency, "--concurrency (SYNC_CONCURRENCY)", 1)?
                .unwrap_or(DEFAULT_CONCURRENCY);
        let requests_per_second = parse_number::<f64>(
            &opts.requests_per_second,
            "--requests-per-second (SCIM_REQUESTS_PER_SECOND)",
            0.0,
        )?;
        if requests_per_second == Some(0.0) {
            return err("--requests-per-second (SCIM_REQUESTS_PER_SECOND): must be above zero");
        }

        let policy = Self::policy(opts)?;
        let dynamic = DynamicConfig {
            enabled: !parse_bool(
                &opts.no_dynamic_settings,
                "--no-dynamic-settings (SYNC_NO_DYNAMIC_SETTINGS)",
                false,
            )?,
            name: present(&opts.settings_name).unwrap_or("default").to_owned(),
            namespace: present(&opts.namespace).map(str::to_owned),
        };

        let (source, target) = match mode {
            Mode::Demo => (None, None),
            Mode::Reconcile | Mode::Check => (
                Some(Self::source(opts, allow_insecure_http)?),
                Some(Self::target(opts, allow_insecure_http)?),
            ),
        };

        Ok(Config {
            mode,
            source,
            target,
            allow_insecure_http,
            page_size,
            requests_per_second,
            concurrency,
            policy,
            dry_run,
            deadline,
            max_records,
            max_response_bytes,
            source_file_max_bytes,
            request_timeout,
            retry_budget,
            output,
            log_format,
            log_level,
            dynamic,
            unknown_env: crate::cli::unknown_env_vars(
                std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()),
            ),
        })
    }

    fn policy(opts: &Opts) -> Result<PolicyConfig, ConfigError> {
        let username_from = match present(&opts.username_from)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("email") => UsernameFrom::Email,
            Some("username") => UsernameFrom::Username,
            Some(other) => {
                return err(format!(
                    "--username-from (SYNC_USERNAME_FROM): expected email or username, got \
                     `{other}`"
                ));
            }
        };
        let sync_groups = match present(&opts.sync_groups) {
            None => None,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() { None } else { Some(names) }
            }
        };
        let max_deactivation_percent = parse_limit::<u32>(
            &opts.max_deactivation_percent,
            "--max-deactivation-percent (SYNC_MAX_DEACTIVATION_PERCENT)",
            Some(100),
        )?;
        Ok(PolicyConfig {
            username_from,
            sync_groups,
            enable_user_sync: parse_bool(
                &opts.enable_user_sync,
                "--enable-user-sync (SYNC_ENABLE_USER_SYNC)",
                true,
            )?,
            enable_group_sync: parse_bool(
                &opts.enable_group_sync,
                "--enable-group-sync (SYNC_ENABLE_GROUP_SYNC)",
                true,
            )?,
            allow_non_provisioned_users: parse_bool(
                &opts.allow_non_provisioned_users,
                "--allow-non-provisioned-users (SYNC_ALLOW_NON_PROVISIONED_USERS)",
                false,
            )?,
            max_deactivations: parse_limit::<usize>(
                &opts.max_deactivations,
                "--max-deactivations (SYNC_MAX_DEACTIVATIONS)",
                None,
            )?,
            max_deactivation_percent,
            max_membership_removals: parse_limit::<usize>(
                &opts.max_membership_removals,
                "--max-membership-removals (SYNC_MAX_MEMBERSHIP_REMOVALS)",
                None,
            )?,
            allow_mass_changes: opts.allow_mass_changes,
            max_members_per_patch: parse_number::<usize>(
                &opts.max_members_per_patch,
                "--max-members-per-patch (SCIM_MAX_MEMBERS_PER_PATCH)",
                1,
            )?,
        })
    }

    fn source(opts: &Opts, allow_insecure: bool) -> Result<SourceConfig, ConfigError> {
        let api_key = load_secret(
            &opts.activate_api_key,
            &opts.activate_api_key_file,
            "ACTIVATE_API_KEY (--activate-api-key)",
            "ACTIVATE_API_KEY_FILE (--activate-api-key-file)",
        )?;
        if let Some(path) = present(&opts.source_file) {
            if api_key.is_some() {
                tracing::debug!("an ACTIVATE API key is set but --source-file wins");
            }
            return Ok(SourceConfig::File(PathBuf::from(path)));
        }
        let Some(api_key) = api_key else {
            return err(
                "no source: set ACTIVATE_API_KEY or ACTIVATE_API_KEY_FILE (or --source-file \
                 PATH for an ACTIVATE export)",
            );
        };
        let api_url = present(&opts.activate_api_url)
            .map(|u| check_url(u, "ACTIVATE_API_URL (--activate-api-url)", allow_insecure))
            .transpose()?;
        let key_source = match present(&opts.ssh_key_source)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("rest") => KeySource::Rest,
            Some("pw-cli") => KeySource::PwCli {
                path: PathBuf::from(present(&opts.pw_cli_path).unwrap_or("pw")),
                timeout: PW_CLI_TIMEOUT,
            },
            Some(other) => {
                return err(format!(
                    "--ssh-key-source (SYNC_SSH_KEY_SOURCE): expected rest or pw-cli, got \
                     `{other}`"
                ));
            }
        };
        Ok(SourceConfig::Api(ActivateConfig {
            api_key,
            api_url,
            org_name: present(&opts.activate_org_name).map(str::to_owned),
            key_source,
            key_concurrency: parse_number::<usize>(
                &opts.key_concurrency,
                "--key-concurrency (ACTIVATE_KEY_CONCURRENCY)",
                1,
            )?
            .unwrap_or(DEFAULT_KEY_CONCURRENCY),
        }))
    }

    fn target(opts: &Opts, allow_insecure: bool) -> Result<TargetConfig, ConfigError> {
        let base_url = match (present(&opts.scim_base_url), present(&opts.cw_org_userid)) {
            (Some(url), _) => check_url(url, "CW_SCIM_BASE_URL (--scim-base-url)", allow_insecure)?,
            (None, Some(id)) => {
                if !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return err(format!(
                        "CW_SCIM_ORG_USERID (--cw-org-userid): `{id}` is not an org user id \
                         (letters, digits, `-` and `_` only; copy it from the CoreWeave Console)"
                    ));
                }
                format!("{COREWEAVE_SCIM_BASE}{id}")
            }
            (None, None) => {
                return err(
                    "no SCIM target: set CW_SCIM_ORG_USERID (CoreWeave) or CW_SCIM_BASE_URL",
                );
            }
        };
        let token = load_secret(
            &opts.scim_bearer_token,
            &opts.scim_bearer_token_file,
            "CW_SCIM_BEARER_TOKEN (--scim-bearer-token)",
            "CW_SCIM_BEARER_TOKEN_FILE (--scim-bearer-token-file)",
        )?
        .ok_or_else(|| {
            ConfigError(
                "no SCIM token: set CW_SCIM_BEARER_TOKEN or CW_SCIM_BEARER_TOKEN_FILE".to_owned(),
            )
        })?;
        Ok(TargetConfig { base_url, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    /// Parses arguments with no environment influence: every option given as a flag.
    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["pw-activate-scim-sync"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).expect("clap accepts the arguments");
        Config::from_cli(cli.command, &cli.opts)
    }

    const MIN: &[&str] = &[
        "--source-file",
        "org.json",
        "--scim-bearer-token",
        "tok",
        "--cw-org-userid",
        "abc123",
    ];

    fn with(extra: &[&'static str]) -> Vec<&'static str> {
        let mut v = MIN.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn org_userid_gives_the_coreweave_url_and_base_url_overrides_it() {
        let cfg = parse(MIN).unwrap();
        assert_eq!(
            cfg.target.unwrap().base_url,
            "https://api.coreweave.com/scim/abc123"
        );
        let cfg = parse(&with(&["--scim-base-url", "https://scim.example/v2/"])).unwrap();
        assert_eq!(cfg.target.unwrap().base_url, "https://scim.example/v2");
    }

    #[test]
    fn plain_http_needs_the_opt_in() {
        let e = parse(&with(&["--scim-base-url", "http://scim.internal/v2"])).unwrap_err();
        assert!(e.0.contains("SYNC_ALLOW_INSECURE_HTTP"), "{e}");
        let cfg = parse(&with(&[
            "--scim-base-url",
            "http://scim.internal/v2",
            "--allow-insecure-http",
        ]))
        .unwrap();
        assert!(cfg.allow_insecure_http);
        // loopback needs no opt-in: the token never leaves the machine
        for url in [
            "http://127.0.0.1:1/v2",
            "http://localhost:8080",
            "http://[::1]:9/v2",
        ] {
            assert!(parse(&with(&["--scim-base-url", url])).is_ok(), "{url}");
        }
    }

    #[test]
    fn empty_values_are_unset() {
        let cfg = parse(&with(&["--output=", "--page-size", "", "--dry-run="])).unwrap();
        assert_eq!(cfg.output, OutputFormat::Text);
        assert_eq!(cfg.page_size, DEFAULT_PAGE_SIZE);
        assert!(!cfg.dry_run);
        assert_eq!(cfg.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(cfg.retry_budget, DEFAULT_RETRY_BUDGET);
    }

    #[test]
    fn timeouts_are_durations() {
        let cfg = parse(&with(&["--request-timeout", "45s", "--retry-budget", "2m"])).unwrap();
        assert_eq!(cfg.request_timeout, Duration::from_secs(45));
        assert_eq!(cfg.retry_budget, Duration::from_secs(120));
    }

    #[test]
    fn bad_values_name_flag_and_env() {
        for (args, needle) in [
            (vec!["--page-size", "0"], "SCIM_PAGE_SIZE"),
            (vec!["--concurrency", "many"], "SYNC_CONCURRENCY"),
            (vec!["--deadline", "soon"], "SYNC_DEADLINE"),
            (vec!["--request-timeout", "0s"], "SYNC_REQUEST_TIMEOUT"),
            (vec!["--retry-budget", "a while"], "SYNC_RETRY_BUDGET"),
            (vec!["--output", "yaml"], "SYNC_OUTPUT"),
            (vec!["--username-from", "uid"], "SYNC_USERNAME_FROM"),
            (vec!["--enable-user-sync=maybe"], "SYNC_ENABLE_USER_SYNC"),
            (
                vec!["--max-deactivation-percent", "120"],
                "SYNC_MAX_DEACTIVATION_PERCENT",
            ),
            (vec!["--log-level", "info,=[bad"], "LOG_LEVEL"),
        ] {
            let extra: Vec<&'static str> = args;
            let e = parse(&with(&extra)).unwrap_err();
            assert!(e.0.contains(needle), "{extra:?}: {e}");
        }
    }

    #[test]
    fn missing_ends_are_reported_but_demo_needs_none() {
        let e = parse(&["--cw-org-userid", "x", "--scim-bearer-token", "t"]).unwrap_err();
        assert!(e.0.contains("ACTIVATE_API_KEY"), "{e}");
        let e = parse(&["--source-file", "f.json"]).unwrap_err();
        assert!(e.0.contains("CW_SCIM_ORG_USERID"), "{e}");
        let cfg = parse(&["demo"]).unwrap();
        assert_eq!(cfg.mode, Mode::Demo);
        assert!(cfg.target.is_none());
    }

    #[test]
    fn secret_files_are_read_and_trimmed_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-token\n").unwrap();
        let path = path.to_string_lossy().into_owned();
        let mut args = vec!["--source-file", "org.json", "--cw-org-userid", "abc"];
        args.extend(["--scim-bearer-token-file", path.as_str()]);
        let mut argv = vec!["pw-activate-scim-sync"];
        argv.extend_from_slice(&args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let cfg = Config::from_cli(cli.command, &cli.opts).unwrap();
        let target = cfg.target.clone().unwrap();
        assert_eq!(target.token.expose_secret(), "s3cr3t-token");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }

    #[test]
    fn both_secret_and_file_is_an_error() {
        let e = parse(&with(&["--scim-bearer-token-file", "/nonexistent"])).unwrap_err();
        assert!(e.0.contains("not both"), "{e}");
    }

    #[test]
    fn limits_take_numbers_or_none() {
        let cfg = parse(&with(&[
            "--max-deactivations",
            "none",
            "--max-membership-removals",
            "7",
        ]))
        .unwrap();
        assert_eq!(cfg.policy.max_deactivations, Limit::Unlimited);
        assert_eq!(cfg.policy.max_membership_removals, Limit::At(7));
        assert_eq!(cfg.policy.max_deactivation_percent, Limit::Default);
        assert_eq!(Limit::<usize>::Default.resolve(Some(25)), Some(25));
        assert_eq!(Limit::<usize>::Unlimited.resolve(Some(25)), None);
    }

    #[test]
    fn sync_groups_split_on_commas() {
        let cfg = parse(&with(&["--sync-groups", " a , b c ,,"])).unwrap();
        assert_eq!(
            cfg.policy.sync_groups,
            Some(vec!["a".to_owned(), "b c".to_owned()])
        );
    }
}
