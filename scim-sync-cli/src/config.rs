//! The validated configuration: [`Config::from_cli`] turns the typed flags into the settings
//! of a run: it reads secret files, checks URLs, composes the two ends and the engine's policy,
//! and rejects anything inconsistent with a message that names the flag and the environment
//! variable (the binary exits with code 2 on such an error). Each value's own syntax was
//! checked when it was parsed ([`crate::values`]).

use std::fmt;
use std::path::{Path, PathBuf};

use scim_diff::{Adoption, Policy};
use scim_sync::dynamic::LookupOptions;
use secrecy::SecretString;

use crate::cli::{Command, MembersOnCreate, SshKeysAttribute};
pub use crate::cli::{LogFormat, Opts, OutputFormat};
use crate::values::Limit;

/// Where SSH public keys are read from: the ACTIVATE client's own setting.
pub use activate_client::KeySource;
/// Where the user's SCIM `userName` comes from: the engine's own setting.
pub use scim_diff::UsernameFrom;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A full reconcile (no subcommand).
    Reconcile,
    /// `check`: probe both ends, write nothing.
    Check,
    /// `demo`: the sample org against the embedded server.
    Demo,
    /// `plan --out FILE`: read both ends, plan, save the plan; write nothing to the target.
    Plan {
        /// Where the plan is saved.
        out: PathBuf,
    },
    /// `apply FILE`: apply a saved plan if it still holds (reads the target only).
    Apply {
        /// The plan file.
        plan: PathBuf,
    },
    /// `export --out FILE`: write an ACTIVATE export (reads the source only).
    Export {
        /// Where the export is written.
        out: PathBuf,
    },
    /// `completions SHELL`: print a completion script (reads nothing).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Mode {
    /// The mode's name as it appears in logs and the JSON report.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Reconcile => "reconcile",
            Mode::Check => "check",
            Mode::Demo => "demo",
            Mode::Plan { .. } => "plan",
            Mode::Apply { .. } => "apply",
            Mode::Export { .. } => "export",
            Mode::Completions { .. } => "completions",
        }
    }
}

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

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// Where the snapshot comes from (`None` for `demo`).
    pub source: Option<SourceConfig>,
    /// The SCIM target (`None` for `demo`).
    pub target: Option<TargetConfig>,
    /// The engine's policy as statically configured; run-time settings may override some of
    /// it ([`scim_sync::dynamic::resolve`]).
    pub policy: Policy,
    /// The run-time settings lookup.
    pub dynamic: LookupOptions,
    /// Environment variables that look like ours but are not (probably typos); warned about.
    pub unknown_env: Vec<String>,
    /// Where the run's metrics are pushed, if anywhere.
    pub metrics: Option<MetricsConfig>,
    /// The flags as parsed: the run's options (page size, timeouts, output...).
    pub opts: Opts,
}

/// The Pushgateway the metrics go to.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Its URL (checked).
    pub url: String,
    /// Basic authentication: the user name and the password (never printed).
    pub basic_auth: Option<(String, SecretString)>,
}

impl MetricsConfig {
    fn from_opts(opts: &Opts) -> Result<Option<MetricsConfig>, ConfigError> {
        let Some(url) = &opts.metrics_pushgateway else {
            return Ok(None);
        };
        scim_sync::metrics::Pushgateway::new(url).map_err(|e| {
            ConfigError(format!(
                "--metrics-pushgateway (SYNC_METRICS_PUSHGATEWAY_URL): {e}"
            ))
        })?;
        let password = load_secret(
            None,
            opts.metrics_pushgateway_password_file.as_deref(),
            "",
            "--metrics-pushgateway-password-file (SYNC_METRICS_PUSHGATEWAY_PASSWORD_FILE)",
        )?;
        let basic_auth = match (&opts.metrics_pushgateway_username, password) {
            (Some(user), Some(password)) => Some((user.clone(), password)),
            (None, None) => None,
            _ => {
                return err("the Pushgateway's basic authentication needs both \
                     --metrics-pushgateway-username (SYNC_METRICS_PUSHGATEWAY_USERNAME) and \
                     --metrics-pushgateway-password-file (SYNC_METRICS_PUSHGATEWAY_PASSWORD_FILE)");
            }
        };
        Ok(Some(MetricsConfig {
            url: url.clone(),
            basic_auth,
        }))
    }
}

/// Both results, or every error of the two in one message.
fn all_of<A, B>(
    a: Result<A, ConfigError>,
    b: Result<B, ConfigError>,
) -> Result<(A, B), ConfigError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(ConfigError(format!("{a}; {b}"))),
    }
}

/// The options `demo` cannot honour (it reads an export and writes to its own embedded
/// server), when given on its command line: an error naming them, rather than silently
/// ignoring what the operator asked for.
fn refuse_for_demo(opts: &Opts) -> Result<(), ConfigError> {
    const ELSEWHERE: &[&str] = &[
        "activate_api_key",
        "activate_api_key_file",
        "activate_api_url",
        "activate_org_name",
        "scim_bearer_token",
        "scim_bearer_token_file",
        "cw_org_userid",
        "scim_base_url",
    ];
    let refused: Vec<String> = opts
        .on_command_line
        .iter()
        .filter(|id| ELSEWHERE.contains(&id.as_str()))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        err(format!(
            "demo runs against its own embedded SCIM server, from the sample organization or \
             --source-file: {} cannot be used with it (run without `demo` for a real target)",
            refused.join(", ")
        ))
    }
}

/// The variables with one of our prefixes that we do not read (warned about), or an error
/// naming every one that is probably a misspelling of one we do read: `SYNC_DRYRUN=true`
/// must not run a real sync with one warning in the log.
fn unknown_variables() -> Result<Vec<String>, ConfigError> {
    let names = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned());
    let unknown = crate::cli::unknown_env_vars(names);
    let known = crate::cli::known_env_vars();
    let misspelled: Vec<String> = unknown
        .iter()
        .filter_map(|name| {
            crate::cli::probably_meant(name, &known)
                .map(|meant| format!("{name} is not a setting; did you mean {meant}?"))
        })
        .collect();
    if misspelled.is_empty() {
        Ok(unknown)
    } else {
        err(format!(
            "{} (rename the variable, or unset it)",
            misspelled.join("; ")
        ))
    }
}

/// The largest secret file read: a token or key is well under 1 KiB.
const SECRET_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Reads a secret from its value or its file; both set is an error.
fn load_secret(
    value: Option<&SecretString>,
    file: Option<&Path>,
    what: &str,
    file_what: &str,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => err(format!("set either {what} or {file_what}, not both")),
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => {
            let shown = path.display();
            let text = activate_client::read_text_file(path, SECRET_FILE_MAX_BYTES)
                .map_err(|e| ConfigError(format!("{file_what}: cannot read `{shown}`: {e}")))?;
            let text = text.trim();
            if text.is_empty() {
                return err(format!("{file_what}: `{shown}` is empty"));
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

/// Whether the target may be CoreWeave's: no other base URL is configured (the org user id,
/// or no target at all, as in `demo`, whose embedded server imitates CoreWeave), or the base
/// URL's host is CoreWeave's. Such a target gets a new group's members in a PATCH after its
/// create until it is known to accept them in the create; any other target gets them in the
/// create (RFC 7643 makes `members` writable there).
fn targets_coreweave(opts: &Opts) -> bool {
    let Some(url) = &opts.scim_base_url else {
        return true;
    };
    match url::Url::parse(url.trim()) {
        Ok(url) => url.host_str().is_none_or(|host| {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "coreweave.com" || host.ends_with(".coreweave.com")
        }),
        Err(_) => true,
    }
}

impl Config {
    /// Validates the typed options for the given subcommand.
    pub fn from_cli(command: Option<&Command>, opts: &Opts) -> Result<Config, ConfigError> {
        let mode = match command {
            None => Mode::Reconcile,
            Some(Command::Check) => Mode::Check,
            Some(Command::Demo) => Mode::Demo,
            Some(Command::Plan { out }) => Mode::Plan { out: out.clone() },
            Some(Command::Apply { plan }) => Mode::Apply { plan: plan.clone() },
            Some(Command::Export { out }) => Mode::Export { out: out.clone() },
            Some(Command::Completions { shell }) => Mode::Completions { shell: *shell },
        };
        // every problem at once, not one per attempt
        let unknown_env = unknown_variables();
        let (source, target, unknown_env) = match mode {
            Mode::Demo => {
                let ((), unknown_env) = all_of(refuse_for_demo(opts), unknown_env)?;
                (None, None, unknown_env)
            }
            Mode::Completions { .. } => (None, None, Vec::new()),
            Mode::Reconcile | Mode::Check | Mode::Plan { .. } => {
                let ends = all_of(Self::source(opts), Self::target(opts));
                let ((source, target), unknown_env) = all_of(ends, unknown_env)?;
                (Some(source), Some(target), unknown_env)
            }
            // a saved plan needs no source: only the target it is applied to
            Mode::Apply { .. } => {
                let (target, unknown_env) = all_of(Self::target(opts), unknown_env)?;
                (None, Some(target), unknown_env)
            }
            Mode::Export { .. } => {
                let (source, unknown_env) = all_of(Self::source(opts), unknown_env)?;
                (Some(source), None, unknown_env)
            }
        };
        let metrics = MetricsConfig::from_opts(opts)?;
        Ok(Config {
            mode,
            source,
            target,
            metrics,
            policy: Self::policy(opts),
            dynamic: LookupOptions {
                enabled: !opts.no_dynamic_settings,
                name: opts.settings_name.clone(),
                namespace: opts.namespace.clone(),
                ..LookupOptions::default()
            },
            unknown_env,
            opts: opts.clone(),
        })
    }

    /// The engine's policy: its defaults, with what the flags set.
    fn policy(opts: &Opts) -> Policy {
        let engine = Policy::default();
        let groups: Vec<String> = opts
            .sync_groups
            .iter()
            .filter(|name| !name.is_empty())
            .cloned()
            .collect();
        Policy {
            username_from: opts.username_from,
            sync_groups: (!groups.is_empty()).then_some(groups),
            enable_user_sync: opts.enable_user_sync,
            enable_group_sync: opts.enable_group_sync,
            allow_non_provisioned_users: opts.allow_non_provisioned_users,
            max_deactivations: Limit::resolve(opts.max_deactivations, engine.max_deactivations),
            max_deactivation_percent: Limit::resolve(
                opts.max_deactivation_percent,
                engine.max_deactivation_percent,
            ),
            max_membership_removals: Limit::resolve(
                opts.max_membership_removals,
                engine.max_membership_removals,
            ),
            allow_mass_changes: opts.allow_mass_changes,
            max_members_per_patch: opts
                .max_members_per_patch
                .unwrap_or(engine.max_members_per_patch),
            adoption: Adoption {
                users: opts.adopt_existing_users,
                groups: opts.adopt_existing_groups,
                external_id_prefixes: opts
                    .adopt_external_id_prefix
                    .iter()
                    .filter(|p| !p.is_empty())
                    .cloned()
                    .collect(),
            },
            max_adoptions: Limit::resolve(opts.max_adoptions, engine.max_adoptions),
            sync_ssh_keys: opts.ssh_keys_attribute == SshKeysAttribute::SunkSshKeys,
            group_members_on_create: match opts.group_members_on_create {
                MembersOnCreate::Auto => !targets_coreweave(opts),
                MembersOnCreate::Yes => true,
                MembersOnCreate::No => false,
            },
            ..engine
        }
    }

    fn source(opts: &Opts) -> Result<SourceConfig, ConfigError> {
        let api_key = load_secret(
            opts.activate_api_key.as_ref(),
            opts.activate_api_key_file.as_deref(),
            "ACTIVATE_API_KEY (--activate-api-key)",
            "ACTIVATE_API_KEY_FILE (--activate-api-key-file)",
        )?;
        if let Some(path) = &opts.source_file {
            if api_key.is_some() {
                tracing::debug!("an ACTIVATE API key is set but --source-file wins");
            }
            return Ok(SourceConfig::File(path.clone()));
        }
        let Some(api_key) = api_key else {
            return err(
                "no source: set ACTIVATE_API_KEY or ACTIVATE_API_KEY_FILE (or --source-file \
                 PATH for an ACTIVATE export)",
            );
        };
        let api_url = opts
            .activate_api_url
            .as_deref()
            .map(|u| {
                check_url(
                    u,
                    "ACTIVATE_API_URL (--activate-api-url)",
                    opts.allow_insecure_http,
                )
            })
            .transpose()?;
        let key_source = match &opts.ssh_key_source {
            KeySource::PwCli { timeout, .. } => KeySource::PwCli {
                path: opts.pw_cli_path.clone(),
                timeout: *timeout,
            },
            other => other.clone(),
        };
        Ok(SourceConfig::Api(ActivateConfig {
            api_key,
            api_url,
            org_name: opts.activate_org_name.clone(),
            key_source,
            key_concurrency: opts.key_concurrency,
        }))
    }

    fn target(opts: &Opts) -> Result<TargetConfig, ConfigError> {
        let base_url = match (&opts.scim_base_url, &opts.cw_org_userid) {
            (Some(url), _) => check_url(
                url,
                "CW_SCIM_BASE_URL (--scim-base-url)",
                opts.allow_insecure_http,
            )?,
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
            opts.scim_bearer_token.as_ref(),
            opts.scim_bearer_token_file.as_deref(),
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
