//! The clap surface: every flag, its environment variable, its help text and its typed value
//! ([`crate::values`] parses and names the setting in errors). [`parse`] applies the one rule
//! clap has no switch for: a blank value, from the environment or the command line, counts as
//! unset.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{Resettable, ValueParser};
use clap::{Arg, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::values::{
    Limit, above_zero, at_least, boolish, checked, choice, duration, limit, one_of, secret, text,
};
use activate_client::KeySource;
use scim_client::CoreWeaveUser;
use scim_diff::UsernameFrom;

/// Reconciles Parallel Works ACTIVATE users, groups and SSH keys into a SCIM 2.0 target
/// (CoreWeave IAM).
///
/// Without a subcommand it runs one full reconcile: read ACTIVATE, list what it manages in the
/// target, plan, apply. Every flag can also be set by the environment variable shown, or in a
/// `.env` file. A blank value (an empty variable, `--flag=`) counts as unset.
#[derive(Parser)]
#[command(name = "pw-activate-scim-sync", version = crate::VERSION, about, long_about)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do (default: a full reconcile).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options shared by every subcommand.
    #[command(flatten)]
    pub opts: Opts,
}

/// The subcommands, and [`Command::Reconcile`], what runs without one.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A full reconcile: what runs without a subcommand (not one of its own).
    #[command(skip)]
    Reconcile,
    /// Probe both ends without writing: credentials, organization, the target's
    /// ServiceProviderConfig, `externalId sw` filtering and echo, page size.
    Check,
    /// Run the whole job with no credentials: the sample ACTIVATE export against an embedded
    /// SCIM server; shows the plan, applies it, and shows that a second pass has nothing to do.
    Demo,
    /// Read both ends and plan; save the plan to a file for review and a later `apply`.
    /// Writes nothing to the target. Exit 3 if a safety limit refuses the plan (it is saved
    /// all the same).
    Plan {
        /// Where the plan is saved (JSON, readable by its owner only).
        #[arg(long, short = 'o', value_name = "PLAN.json")]
        out: PathBuf,
    },
    /// Write an ACTIVATE export of the organization (the users, the groups in scope with
    /// their members, the SSH keys): for support, or to replay with `--source-file`. Reads
    /// ACTIVATE only; the SCIM target is not contacted.
    Export {
        /// Where the export is written (JSON, readable by its owner only).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a shell completion script, e.g. `pw-activate-scim-sync completions bash >
    /// ~/.local/share/bash-completion/completions/pw-activate-scim-sync`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Apply a plan saved by `plan --out`: read the target again and apply exactly the plan's
    /// operations if it still holds (the records it touches unchanged, nothing it creates
    /// existing, the limits in force met); otherwise exit 3 and write nothing.
    Apply {
        /// The plan file.
        #[arg(value_name = "PLAN.json")]
        plan: PathBuf,
    },
}

/// Every option (all global: they may be given before or after the subcommand).
#[derive(Args, Debug, Clone)]
#[command(mut_args = global_or_switch)]
pub struct Opts {
    // ---- ACTIVATE (the source) ----
    /// ACTIVATE API key (pwt_...). Prefer ACTIVATE_API_KEY_FILE: a flag shows in `ps`.
    #[arg(long, env = "ACTIVATE_API_KEY", hide_env_values = true, value_parser = secret(),
          help_heading = SOURCE)]
    pub activate_api_key: Option<SecretString>,
    /// File holding the ACTIVATE API key (surrounding whitespace is ignored). The key or this
    /// file is required unless --source-file or ACTIVATE_SCIM_TOKEN(_FILE) is given.
    #[arg(long, env = "ACTIVATE_API_KEY_FILE", help_heading = SOURCE)]
    pub activate_api_key_file: Option<PathBuf>,
    /// ACTIVATE base URL, e.g. https://activate.parallel.works [default: derived from the key].
    #[arg(long, env = "ACTIVATE_API_URL", value_parser = text(), help_heading = SOURCE)]
    pub activate_api_url: Option<String>,
    /// ACTIVATE organization name [default: the API key's organization].
    #[arg(long, env = "ACTIVATE_ORG_NAME", value_parser = text(), help_heading = SOURCE)]
    pub activate_org_name: Option<String>,
    /// Comma-separated ACTIVATE group names: a hard scope. Users in none of them are treated
    /// as gone [default: every group].
    #[arg(long, env = "ACTIVATE_SYNC_GROUPS", value_delimiter = ',', value_parser = text(),
          help_heading = SOURCE)]
    pub sync_groups: Vec<String>,
    /// Read the snapshot from an ACTIVATE export file (JSON) instead of the API.
    #[arg(long, env = "ACTIVATE_SOURCE_FILE", help_heading = SOURCE)]
    pub source_file: Option<PathBuf>,
    /// The largest export file read, in bytes (1 GiB).
    #[arg(long, env = "ACTIVATE_SOURCE_FILE_MAX_BYTES", default_value = "1073741824",
          value_parser = at_least(1u64), help_heading = SOURCE)]
    pub source_file_max_bytes: u64,
    /// Where SSH public keys come from: `rest` (the API) or `pw-cli` (`pw ssh-public-keys`).
    #[arg(long, env = "SYNC_SSH_KEY_SOURCE", default_value = "rest",
          value_parser = one_of(&["rest", "pw-cli"], |name| match name {
              "rest" => Some(KeySource::Rest),
              "pw-cli" => Some(KeySource::pw_cli()),
              _ => None,
          }), help_heading = SOURCE)]
    pub ssh_key_source: KeySource,
    /// Path of the `pw` CLI for `--ssh-key-source pw-cli`.
    #[arg(long, env = "PW_CLI_PATH", default_value = "pw", help_heading = SOURCE)]
    pub pw_cli_path: PathBuf,
    /// How many users' SSH keys are fetched at once.
    #[arg(long, env = "ACTIVATE_KEY_CONCURRENCY", default_value = "8",
          value_parser = at_least(1usize), help_heading = SOURCE)]
    pub key_concurrency: usize,
    /// ACTIVATE's SCIM API token (organization-scoped, not the API key): setting it (or its
    /// file) reads ACTIVATE through its read-only SCIM 2.0 API, users, groups and SSH keys in a
    /// request per page. Prefer ACTIVATE_SCIM_TOKEN_FILE: a flag shows in `ps`.
    #[arg(long, env = "ACTIVATE_SCIM_TOKEN", hide_env_values = true, value_parser = secret(),
          help_heading = SOURCE)]
    pub activate_scim_token: Option<SecretString>,
    /// File holding ACTIVATE's SCIM API token (surrounding whitespace is ignored).
    #[arg(long, env = "ACTIVATE_SCIM_TOKEN_FILE", help_heading = SOURCE)]
    pub activate_scim_token_file: Option<PathBuf>,
    /// ACTIVATE's SCIM API base URL [default: <ACTIVATE base URL>/api/organizations/<org>/scim/v2].
    #[arg(long, env = "ACTIVATE_SCIM_URL", value_parser = text(), help_heading = SOURCE)]
    pub activate_scim_url: Option<String>,

    // ---- SCIM (the target) ----
    /// SCIM bearer token. Prefer CW_SCIM_BEARER_TOKEN_FILE: a flag shows in `ps`.
    #[arg(long, env = "CW_SCIM_BEARER_TOKEN", hide_env_values = true, value_parser = secret(),
          help_heading = TARGET)]
    pub scim_bearer_token: Option<SecretString>,
    /// File holding the SCIM bearer token (surrounding whitespace is ignored).
    #[arg(long, env = "CW_SCIM_BEARER_TOKEN_FILE", help_heading = TARGET)]
    pub scim_bearer_token_file: Option<PathBuf>,
    /// CoreWeave org user id: the target is https://api.coreweave.com/scim/<id>.
    #[arg(long, env = "CW_SCIM_ORG_USERID", value_parser = text(), help_heading = TARGET)]
    pub cw_org_userid: Option<String>,
    /// Any SCIM base URL (overrides CW_SCIM_ORG_USERID).
    #[arg(long, env = "CW_SCIM_BASE_URL", value_parser = text(), help_heading = TARGET)]
    pub scim_base_url: Option<String>,
    /// Largest page requested when listing.
    #[arg(long, env = "SCIM_PAGE_SIZE", default_value = "100", value_parser = at_least(1u32),
          help_heading = TARGET)]
    pub page_size: u32,
    /// Most members added or removed by one PATCH [default: 100].
    #[arg(long, env = "SCIM_MAX_MEMBERS_PER_PATCH", value_parser = at_least(1usize),
          help_heading = TARGET)]
    pub max_members_per_patch: Option<usize>,
    /// Send a new group's first members in the POST that creates it, one write instead of a
    /// create and a PATCH: `auto` does for every target but CoreWeave's, which is not known to
    /// accept members on create.
    #[arg(long, env = "SCIM_GROUP_MEMBERS_ON_CREATE", default_value = "auto",
          value_parser = choice::<MembersOnCreate>(), help_heading = TARGET)]
    pub group_members_on_create: MembersOnCreate,
    /// Where SSH keys go: the CoreWeave user extension's `sunkSshKeys`, or `none` for a target
    /// without that extension (users and groups are synced without keys, none is read).
    #[arg(long, env = "SCIM_SSH_KEYS_ATTRIBUTE",
          default_value = CoreWeaveUser::SSH_KEYS_PATH,
          value_parser = choice::<SshKeysAttribute>(), help_heading = TARGET)]
    pub ssh_keys_attribute: SshKeysAttribute,
    /// Client-side rate limit for the target, requests per second [default: none].
    #[arg(long, env = "SCIM_REQUESTS_PER_SECOND", value_parser = above_zero(),
          help_heading = TARGET)]
    pub requests_per_second: Option<f64>,
    /// Allow http:// URLs to a host that is not loopback, for the target and ACTIVATE (loopback
    /// needs no opt-in).
    #[arg(long, env = "SYNC_ALLOW_INSECURE_HTTP", default_value = "false", value_parser = boolish(),
          help_heading = TARGET)]
    pub allow_insecure_http: bool,

    // ---- policy ----
    /// SCIM userName from the user's `email` or ACTIVATE `username`.
    #[arg(long, env = "SYNC_USERNAME_FROM", default_value = "email",
          value_parser = one_of(&["email", "username"], |name| match name {
              "email" => Some(UsernameFrom::Email),
              "username" => Some(UsernameFrom::Username),
              _ => None,
          }), help_heading = POLICY)]
    pub username_from: UsernameFrom,
    /// Create, update, deactivate and reactivate users.
    #[arg(long, env = "SYNC_ENABLE_USER_SYNC", default_value = "true", value_parser = boolish(),
          help_heading = POLICY)]
    pub enable_user_sync: bool,
    /// Create and rename groups and set their members.
    #[arg(long, env = "SYNC_ENABLE_GROUP_SYNC", default_value = "true", value_parser = boolish(),
          help_heading = POLICY)]
    pub enable_group_sync: bool,
    /// Keep members of managed groups that this tool does not manage.
    #[arg(long, env = "SYNC_ALLOW_NON_PROVISIONED_USERS", default_value = "false",
          value_parser = boolish(), help_heading = POLICY)]
    pub allow_non_provisioned_users: bool,
    /// Refuse a run that would deactivate more users than this, or `none` [default: 25].
    #[arg(long, env = "SYNC_MAX_DEACTIVATIONS", value_parser = limit::<usize>(None),
          help_heading = POLICY)]
    pub max_deactivations: Option<Limit<usize>>,
    /// Refuse a run that would deactivate more than this percentage of the active managed
    /// users (only above 3 deactivations), or `none` [default: 20].
    #[arg(long, env = "SYNC_MAX_DEACTIVATION_PERCENT", value_parser = limit(Some(100u32)),
          help_heading = POLICY)]
    pub max_deactivation_percent: Option<Limit<u32>>,
    /// Refuse a run that would remove more group memberships than this, or `none`
    /// [default: 250].
    #[arg(long, env = "SYNC_MAX_MEMBERSHIP_REMOVALS", value_parser = limit::<usize>(None),
          help_heading = POLICY)]
    pub max_membership_removals: Option<Limit<usize>>,
    /// Let this one run exceed every blast-radius limit (deactivations, membership removals,
    /// adoptions) and the empty-source refusal; flag only, never from the environment.
    #[arg(long, help_heading = POLICY)]
    pub allow_mass_changes: bool,
    /// Exit 1 when a run's only problems are conflicts (a userName or group name held by a
    /// record this tool does not manage); by default they are reported and the run exits 0.
    #[arg(long, env = "SYNC_FAIL_ON_CONFLICT", default_value = "false", value_parser = boolish(),
          help_heading = POLICY)]
    pub fail_on_conflict: bool,
    /// Take over an existing account that holds the userName a source user wants and has no
    /// externalId (or one allowed by --adopt-external-id-prefix): it keeps its SCIM id and is
    /// managed from then on.
    #[arg(long, env = "SYNC_ADOPT_EXISTING_USERS", default_value = "false",
          value_parser = boolish(), help_heading = POLICY)]
    pub adopt_existing_users: bool,
    /// Take over an existing group that has a source group's name and no externalId (or one
    /// allowed by --adopt-external-id-prefix): its members become the source group's.
    #[arg(long, env = "SYNC_ADOPT_EXISTING_GROUPS", default_value = "false",
          value_parser = boolish(), help_heading = POLICY)]
    pub adopt_existing_groups: bool,
    /// Comma-separated externalId prefixes (an earlier provisioning source's, e.g. `okta:`)
    /// whose accounts --adopt-existing-users may take over too [default: none].
    #[arg(long, env = "SYNC_ADOPT_EXTERNAL_ID_PREFIX", value_delimiter = ',',
          value_parser = text(), help_heading = POLICY)]
    pub adopt_external_id_prefix: Vec<String>,
    /// Refuse a run that would adopt more accounts than this, or `none` [default: 25].
    #[arg(long, env = "SYNC_MAX_ADOPTIONS", value_parser = limit::<usize>(None),
          help_heading = POLICY)]
    pub max_adoptions: Option<Limit<usize>>,

    // ---- the run ----
    /// Plan and report, write nothing.
    #[arg(long, env = "SYNC_DRY_RUN", default_value = "false", value_parser = boolish(),
          help_heading = RUN)]
    pub dry_run: bool,
    /// The SCIM target's requests in flight at the start, writes included (the bound adapts:
    /// see --max-concurrency).
    #[arg(long, env = "SYNC_CONCURRENCY", default_value = "4", value_parser = at_least(1usize),
          help_heading = RUN)]
    pub concurrency: usize,
    /// The most requests in flight the bound may grow to, from --concurrency (SCIM reads and
    /// writes) and --key-concurrency (ACTIVATE key reads), while no 429/503 arrives and
    /// latency holds; it halves on a 429/503. Equal to --concurrency: a fixed bound
    /// [default: 64, or --concurrency when that is larger].
    #[arg(long, env = "SYNC_MAX_CONCURRENCY", value_parser = at_least(1usize), help_heading = RUN)]
    pub max_concurrency: Option<usize>,
    /// The most records one list of the SCIM target may hold; a longer or endless list
    /// fails the read, with nothing written.
    #[arg(long, env = "SYNC_MAX_RECORDS", default_value = "2000000", value_parser = at_least(1u64),
          help_heading = RUN)]
    pub max_records: u64,
    /// The largest response the SCIM target may send, in bytes (128 MiB); a larger one fails
    /// the read, with nothing written.
    #[arg(long, env = "SYNC_MAX_RESPONSE_BYTES", default_value = "134217728",
          value_parser = at_least(1024u64), help_heading = RUN)]
    pub max_response_bytes: u64,
    /// `apply` refuses a plan made longer ago than this, e.g. `30m`.
    #[arg(long, env = "SYNC_MAX_PLAN_AGE", default_value = "1h", value_parser = duration(),
          help_heading = RUN)]
    pub max_plan_age: Duration,
    /// Stop issuing new writes after this long, e.g. `7m`; writes in flight finish. A deadline
    /// that passes while reading ends the run with exit 4, nothing written [default: none].
    #[arg(long, env = "SYNC_DEADLINE", value_parser = duration(), help_heading = RUN)]
    pub deadline: Option<Duration>,
    /// How long one HTTP request (to ACTIVATE or to the SCIM target) may take before it is
    /// abandoned and, within the retry budget, retried, e.g. `45s`.
    #[arg(long, env = "SYNC_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration(),
          help_heading = RUN)]
    pub request_timeout: Duration,
    /// How long one request may keep being retried, waits included, before the run gives up
    /// on it, e.g. `2m`.
    #[arg(long, env = "SYNC_RETRY_BUDGET", default_value = "60s", value_parser = duration(),
          help_heading = RUN)]
    pub retry_budget: Duration,
    /// `text` (a plan table and a summary) or `json` (one JSON object on stdout).
    #[arg(long, env = "SYNC_OUTPUT", default_value = "text",
          value_parser = choice::<OutputFormat>(), help_heading = RUN)]
    pub output: OutputFormat,
    /// Text output shows the plan's header, its conflicts and its warnings counted by kind,
    /// without one line per operation.
    #[arg(long, env = "SYNC_SUMMARY", default_value = "false", value_parser = boolish(),
          help_heading = RUN)]
    pub summary: bool,
    /// Log format on stderr: `auto` (text on a terminal, JSON lines otherwise), `text`, `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "auto",
          value_parser = choice::<LogFormat>(), help_heading = RUN)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `scim_client=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_filter(),
          help_heading = RUN)]
    pub log_level: String,
    /// Load environment variables from this file (default: `.env` in the working directory,
    /// if present). Variables already set win.
    #[arg(long, help_heading = RUN)]
    pub env_file: Option<PathBuf>,

    // ---- metrics ----
    /// Push the run's metrics to this Prometheus Pushgateway when it ends, e.g.
    /// `http://pushgateway.monitoring:9091` [default: no metrics].
    #[arg(long, env = "SYNC_METRICS_PUSHGATEWAY_URL", value_parser = text(),
          help_heading = METRICS)]
    pub metrics_pushgateway: Option<String>,
    /// User name for the Pushgateway's basic authentication (with the password file).
    #[arg(long, env = "SYNC_METRICS_PUSHGATEWAY_USERNAME", value_parser = text(),
          help_heading = METRICS)]
    pub metrics_pushgateway_username: Option<String>,
    /// File holding the Pushgateway's basic-authentication password.
    #[arg(long, env = "SYNC_METRICS_PUSHGATEWAY_PASSWORD_FILE", help_heading = METRICS)]
    pub metrics_pushgateway_password_file: Option<PathBuf>,

    // ---- run-time settings (Kubernetes) ----
    /// Do not read the SCIMConfig settings resource from the cluster.
    #[arg(long, env = "SYNC_NO_DYNAMIC_SETTINGS", default_value = "false", value_parser = boolish(),
          help_heading = SETTINGS)]
    pub no_dynamic_settings: bool,
    /// Name of the SCIMConfig resource.
    #[arg(long, env = "SYNC_SETTINGS_NAME", default_value = "default", value_parser = text(),
          help_heading = SETTINGS)]
    pub settings_name: String,
    /// Namespace of the SCIMConfig resource [default: the pod's namespace].
    #[arg(long, env = "POD_NAMESPACE", value_parser = text(), help_heading = SETTINGS)]
    pub namespace: Option<String>,

    /// The ids of the options given on the command line (not from the environment): what a
    /// subcommand that cannot honour some of them refuses.
    #[arg(skip)]
    pub on_command_line: Vec<String>,
}

/// Every option is global, and a `bool` one that a variable can set (to `false` too) is a
/// switch: `--flag` alone means true, and a value follows `=` (`--flag=false`), so `--flag`
/// never swallows the next argument.
fn global_or_switch(arg: Arg) -> Arg {
    let arg = arg.global(true);
    let boolean = arg.get_value_parser().type_id() == ValueParser::bool().type_id();
    if boolean && arg.get_env().is_some() {
        arg.num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
    } else {
        arg
    }
}

const SOURCE: &str = "ACTIVATE (source)";
const TARGET: &str = "SCIM (target)";
const POLICY: &str = "Policy";
const RUN: &str = "Run";
const SETTINGS: &str = "Run-time settings";
const METRICS: &str = "Metrics";

/// Where the target takes SSH keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SshKeysAttribute {
    /// The CoreWeave user extension's `sunkSshKeys`.
    #[value(name = CoreWeaveUser::SSH_KEYS_PATH)]
    SunkSshKeys,
    /// Nowhere: keys are neither read nor written.
    None,
}

/// Whether a new group's members go in the POST that creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MembersOnCreate {
    /// For every target but CoreWeave's.
    Auto,
    /// Always.
    #[value(name = "true")]
    Yes,
    /// Never: a create, then a membership PATCH.
    #[value(name = "false")]
    No,
}

/// How the run's result is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A plan table and a summary.
    Text,
    /// Exactly one JSON object.
    Json,
}

/// Log format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `tracing` filter, checked when parsed.
fn log_filter() -> impl clap::builder::TypedValueParser<Value = String> {
    checked(|filter: &str| crate::logging::check_filter(filter).map(|()| filter.to_owned()))
}

/// Parses the arguments (the first is the program name). A blank value counts as unset
/// wherever it comes from: an empty environment variable (a Kubernetes `value: ""`), and
/// `--flag=` or `--flag ""` (an argument built from an empty variable).
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let mut command = Cli::command().mut_args(|arg| {
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| is_blank(&v));
        if blank {
            arg.env(Resettable::Reset)
        } else {
            arg
        }
    });
    command.build();
    if let Some(message) = detached_boolean_value(&command, args) {
        return Err(
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).with_cmd(&command),
        );
    }
    let args = without_blank_values(&command, args);
    let ids: Vec<String> = command
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .collect();
    let matches = command.try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    // global options are recorded on the subcommand's matches when given after it
    let sub = matches.subcommand().map(|(_, m)| m);
    cli.opts.on_command_line = ids
        .into_iter()
        .filter(|id| {
            [Some(&matches), sub].into_iter().flatten().any(|m| {
                matches!(m.try_get_raw(id), Ok(Some(_)))
                    && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            })
        })
        .collect();
    Ok(cli)
}

/// `--dry-run false`: a switch whose value must follow `=`, given its value as the next
/// argument (clap would call it an unknown subcommand).
fn detached_boolean_value(command: &clap::Command, args: &[OsString]) -> Option<String> {
    let switches: Vec<&str> = command
        .get_arguments()
        .filter(|a| a.is_require_equals_set())
        .filter_map(|a| a.get_long())
        .collect();
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str().unwrap_or(""))
        .collect();
    let end = words.iter().position(|w| *w == "--").unwrap_or(words.len());
    words[..end].windows(2).find_map(|pair| {
        let flag = pair[0].strip_prefix("--")?;
        let boolish = [
            "true", "false", "yes", "no", "on", "off", "1", "0", "y", "n",
        ];
        (switches.contains(&flag) && boolish.contains(&pair[1].to_ascii_lowercase().as_str())).then(
            || {
                format!(
                    "--{flag} takes its value after `=`: write --{flag}={} (a bare --{flag} \
                     means true)\n",
                    pair[1]
                )
            },
        )
    })
}

fn is_blank(value: &std::ffi::OsStr) -> bool {
    value.to_str().is_some_and(|v| v.trim().is_empty())
}

/// The arguments without the options whose value is blank (`--flag=`, `--flag ""`).
fn without_blank_values(command: &clap::Command, args: &[OsString]) -> Vec<OsString> {
    // options that take their value from the next argument when written `--flag value`
    let takes_next = |long: &str| {
        command.get_arguments().any(|a| {
            a.get_long() == Some(long)
                && !a.is_require_equals_set()
                && a.get_num_args().is_some_and(|n| n.min_values() > 0)
        })
    };
    let mut kept = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.to_str().and_then(|a| a.strip_prefix("--")) else {
            kept.push(arg.clone());
            continue;
        };
        if flag.is_empty() {
            // `--`: everything after it is positional
            kept.push(arg.clone());
            kept.extend(rest.cloned());
            break;
        }
        match flag.split_once('=') {
            Some((_, value)) if value.trim().is_empty() => {}
            Some(_) => kept.push(arg.clone()),
            None if takes_next(flag) => match rest.next() {
                Some(value) if is_blank(value) => {}
                Some(value) => kept.extend([arg.clone(), value.clone()]),
                None => kept.push(arg.clone()),
            },
            None => kept.push(arg.clone()),
        }
    }
    kept
}

impl Command {
    /// The command's name in logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Reconcile => "reconcile",
            Command::Check => "check",
            Command::Demo => "demo",
            Command::Plan { .. } => "plan",
            Command::Apply { .. } => "apply",
            Command::Export { .. } => "export",
            Command::Completions { .. } => "completions",
        }
    }
}

/// The subcommands' names, as [`Command::name`] gives them.
const SUBCOMMANDS: [&str; 6] = ["check", "demo", "plan", "apply", "export", "completions"];

/// After a failed parse: whether `--output json` (or `SYNC_OUTPUT=json`) was asked for, and if
/// so the subcommand named, so that the error can still be one JSON object on stdout.
pub fn json_requested(args: &[OsString]) -> Option<&'static str> {
    let mut output = std::env::var("SYNC_OUTPUT").ok();
    let mut command = None;
    let mut rest = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(arg) = rest.next() {
        match arg {
            "--" => break,
            "--output" => output = rest.next().map(str::to_owned),
            name if command.is_none() && SUBCOMMANDS.contains(&name) => {
                command = SUBCOMMANDS.iter().copied().find(|c| *c == name);
            }
            _ => {
                if let Some(value) = arg.strip_prefix("--output=") {
                    output = Some(value.to_owned());
                }
            }
        }
    }
    let json = output.is_some_and(|o| o.trim().eq_ignore_ascii_case("json"));
    json.then(|| command.unwrap_or("reconcile"))
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

/// The variable we read that `unknown` is probably a misspelling of: at most two edits away
/// (`SYNC_DRYRUN`, `CW_SCIM_BEARER_TOKN`), or the same but for underscores and case.
pub fn probably_meant<'k>(unknown: &str, known: &'k [String]) -> Option<&'k str> {
    let squash = |s: &str| s.replace('_', "").to_ascii_uppercase();
    known
        .iter()
        .map(|k| {
            let distance = if squash(k) == squash(unknown) {
                0
            } else {
                strsim::damerau_levenshtein(unknown, k)
            };
            (distance, k.as_str())
        })
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, k)| k)
}
