//! The validated configuration: [`Config::from_cli`] turns the typed flags into the settings
//! of a run: it reads secret files, checks URLs, composes the two ends and the engine's policy,
//! and rejects anything inconsistent with a message that names the flag and the environment
//! variable (the binary exits with code 2 on such an error). Each value's own syntax was
//! checked when it was parsed ([`crate::values`]).

use std::path::Path;

use scim_diff::{Adoption, Policy};
use scim_sync::connect::Connection;
use scim_sync::dynamic::LookupOptions;
use scim_sync::metrics::Pushgateway;
use secrecy::SecretString;

use crate::cli::{Command, MembersOnCreate, SshKeysAttribute};
pub use crate::cli::{LogFormat, Opts, OutputFormat};
use crate::values::Limit;

/// Where SSH public keys are read from: the ACTIVATE client's own setting.
pub use activate_client::KeySource;
/// Where the user's SCIM `userName` comes from: the engine's own setting.
pub use scim_diff::UsernameFrom;

/// A usage or configuration error: the run never started (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// What the binary was asked to do: a subcommand, or a reconcile without one.
pub use crate::cli::Command as Mode;

pub use scim_sync::connect::{
    ActivateSettings as ActivateConfig, ScimSourceSettings as ScimSourceConfig,
    SourceSettings as SourceConfig, TargetSettings as TargetConfig,
};

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
    pub metrics: Option<Pushgateway>,
    /// What the clients of both ends share (timeouts, bounds, the `User-Agent`).
    pub connection: Connection,
    /// The flags as parsed: the run's options (page size, timeouts, output...).
    pub opts: Opts,
}

/// The Pushgateway the metrics go to, if one is set (its URL checked, its basic
/// authentication both or neither).
fn pushgateway(opts: &Opts) -> Result<Option<Pushgateway>, ConfigError> {
    let Some(url) = &opts.metrics_pushgateway else {
        return Ok(None);
    };
    let gateway = Pushgateway::new(url).map_err(|e| {
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
    match (&opts.metrics_pushgateway_username, password) {
        (Some(user), Some(password)) => Ok(Some(gateway.basic_auth(user.clone(), password))),
        (None, None) => Ok(Some(gateway)),
        _ => err("the Pushgateway's basic authentication needs both \
             --metrics-pushgateway-username (SYNC_METRICS_PUSHGATEWAY_USERNAME) and \
             --metrics-pushgateway-password-file (SYNC_METRICS_PUSHGATEWAY_PASSWORD_FILE)"),
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
    // ACTIVATE's credentials and URLs (every `activate_*` flag), and the target's
    const TARGET: &[&str] = &[
        "scim_bearer_token",
        "scim_bearer_token_file",
        "cw_org_userid",
    ];
    let refused: Vec<String> = opts
        .on_command_line
        .iter()
        .filter(|id| {
            id.starts_with("activate_") || TARGET.contains(&id.as_str()) || *id == "scim_base_url"
        })
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
        (None, Some(path)) => activate_client::read_secret_file(path)
            .map(Some)
            .map_err(|e| {
                ConfigError(format!(
                    "{file_what}: cannot read `{}`: {e}",
                    path.display()
                ))
            }),
        (None, None) => Ok(None),
    }
}

/// Checks a URL setting ([`check_base_url`](scim_client::transport::check_base_url));
/// `http` to anything but loopback needs the insecure opt-in.
fn check_url(url: &str, what: &str, allow_insecure: bool) -> Result<String, ConfigError> {
    use scim_client::transport::{BaseUrlError, check_base_url};
    check_base_url(url, allow_insecure).map_err(|e| match e {
        BaseUrlError::PlainHttp(_) => ConfigError(format!(
            "{what}: {e}, or set SYNC_ALLOW_INSECURE_HTTP=true (--allow-insecure-http) for a \
             test server"
        )),
        e => ConfigError(format!("{what}: {e}")),
    })
}

/// The ACTIVATE base URL, if given, checked.
fn api_url(opts: &Opts) -> Result<Option<String>, ConfigError> {
    let what = "ACTIVATE_API_URL (--activate-api-url)";
    let check = |url: &String| check_url(url, what, opts.allow_insecure_http);
    opts.activate_api_url.as_ref().map(check).transpose()
}

impl Config {
    /// Validates the typed options for the given subcommand.
    pub fn from_cli(command: Option<&Command>, opts: &Opts) -> Result<Config, ConfigError> {
        let mode = command.cloned().unwrap_or(Mode::Reconcile);
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
        let metrics = pushgateway(opts)?;
        // a --concurrency above the default ceiling raises the ceiling, unless one is set
        let max_concurrency = opts.max_concurrency.unwrap_or(opts.concurrency.max(64));
        if max_concurrency < opts.concurrency {
            return err(format!(
                "--max-concurrency (SYNC_MAX_CONCURRENCY) is {max_concurrency}, below \
                 --concurrency (SYNC_CONCURRENCY) {}; set it to at least --concurrency",
                opts.concurrency
            ));
        }
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
            connection: Connection {
                allow_insecure_http: opts.allow_insecure_http,
                page_size: opts.page_size,
                concurrency: opts.concurrency,
                max_concurrency,
                requests_per_second: opts.requests_per_second,
                request_timeout: opts.request_timeout,
                retry_budget: opts.retry_budget,
                max_records: opts.max_records,
                max_response_bytes: opts.max_response_bytes,
                source_file_max_bytes: opts.source_file_max_bytes,
                user_agent: crate::USER_AGENT.to_owned(),
            },
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
                // CoreWeave's target (the org user id; or `demo`, whose server imitates it)
                // takes members in a PATCH after the create, until it is known to take both
                MembersOnCreate::Auto => opts
                    .scim_base_url
                    .as_deref()
                    .is_some_and(|url| !scim_client::is_coreweave_url(url)),
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
        let scim_token = load_secret(
            opts.activate_scim_token.as_ref(),
            opts.activate_scim_token_file.as_deref(),
            "ACTIVATE_SCIM_TOKEN (--activate-scim-token)",
            "ACTIVATE_SCIM_TOKEN_FILE (--activate-scim-token-file)",
        )?;
        if let Some(token) = scim_token {
            return Self::scim_source(opts, token, api_key.as_ref());
        }
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
        let api_url = api_url(opts)?;
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

    /// ACTIVATE's SCIM API as the source: its URL given, or derived from the ACTIVATE base
    /// URL (given, or from the API key) and the organization.
    fn scim_source(
        opts: &Opts,
        token: SecretString,
        api_key: Option<&SecretString>,
    ) -> Result<SourceConfig, ConfigError> {
        if opts.source_file.is_some() {
            return err("set either ACTIVATE_SCIM_TOKEN / ACTIVATE_SCIM_TOKEN_FILE \
                 (--activate-scim-token / --activate-scim-token-file) or ACTIVATE_SOURCE_FILE \
                 (--source-file), not both: each chooses the source");
        }
        const WHAT: &str = "ACTIVATE_SCIM_URL (--activate-scim-url)";
        let url = match &opts.activate_scim_url {
            Some(url) => url.clone(),
            None => ScimSourceConfig::derived_url(
                api_url(opts)?.as_deref(),
                api_key,
                opts.activate_org_name.as_deref(),
            )
            .map_err(|e| {
                ConfigError(format!(
                    "{WHAT} is not set and cannot be derived: {e}; set it, or ACTIVATE_ORG_NAME \
                     (--activate-org-name) with ACTIVATE_API_URL or the API key"
                ))
            })?,
        };
        if api_key.is_some() {
            tracing::debug!(
                "an ACTIVATE API key is set but ACTIVATE_SCIM_TOKEN chooses the source"
            );
        }
        Ok(SourceConfig::Scim(ScimSourceConfig {
            url: check_url(&url, WHAT, opts.allow_insecure_http)?,
            token,
            org_name: opts.activate_org_name.clone(),
        }))
    }

    fn target(opts: &Opts) -> Result<TargetConfig, ConfigError> {
        let base_url = match (&opts.scim_base_url, &opts.cw_org_userid) {
            (Some(url), _) => check_url(
                url,
                "CW_SCIM_BASE_URL (--scim-base-url)",
                opts.allow_insecure_http,
            )?,
            (None, Some(id)) => scim_client::coreweave_base_url(id).ok_or_else(|| {
                ConfigError(format!(
                    "CW_SCIM_ORG_USERID (--cw-org-userid): `{id}` is not an org user id \
                     (letters, digits, `-` and `_` only; copy it from the CoreWeave Console)"
                ))
            })?,
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
