//! The validated configuration, from flags (no environment influence).
use std::ffi::OsString;
use std::time::Duration;

use scim_sync_cli::config::{Config, ConfigError, Mode, OutputFormat, SourceConfig};
use secrecy::ExposeSecret;

/// Parses arguments with no environment influence: every option given as a flag.
fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let mut argv = vec![OsString::from("pw-activate-scim-sync")];
    argv.extend(args.iter().map(OsString::from));
    let cli = scim_sync_cli::cli::parse(&argv).map_err(|e| ConfigError(e.to_string()))?;
    Config::from_cli(cli.command.as_ref(), &cli.opts)
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
    assert!(cfg.opts.allow_insecure_http);
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
    assert_eq!(cfg.opts.output, OutputFormat::Text);
    assert_eq!(cfg.opts.page_size, 100);
    assert!(!cfg.opts.dry_run);
    assert_eq!(cfg.opts.request_timeout, Duration::from_secs(30));
    assert_eq!(cfg.opts.retry_budget, Duration::from_secs(60));
}

#[test]
fn timeouts_are_durations() {
    let cfg = parse(&with(&["--request-timeout", "45s", "--retry-budget", "2m"])).unwrap();
    assert_eq!(cfg.opts.request_timeout, Duration::from_secs(45));
    assert_eq!(cfg.opts.retry_budget, Duration::from_secs(120));
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
    let cfg = parse(&[
        "--source-file",
        "org.json",
        "--cw-org-userid",
        "abc",
        "--scim-bearer-token-file",
        &path,
    ])
    .unwrap();
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
    assert_eq!(cfg.policy.max_deactivations, None, "none: no limit");
    assert_eq!(cfg.policy.max_membership_removals, Some(7));
    let engine = scim_diff::Policy::default();
    assert_eq!(
        cfg.policy.max_deactivation_percent, engine.max_deactivation_percent,
        "unset: the engine's default"
    );
    assert_eq!(
        parse(MIN).unwrap().policy.max_deactivations,
        engine.max_deactivations
    );
}

#[test]
fn sync_groups_split_on_commas() {
    let cfg = parse(&with(&["--sync-groups", " a , b c ,,"])).unwrap();
    assert_eq!(
        cfg.policy.sync_groups,
        Some(vec!["a".to_owned(), "b c".to_owned()])
    );
}

#[test]
fn filters_are_validated() {
    use scim_sync_cli::logging::check_filter;
    assert!(check_filter("info").is_ok());
    assert!(check_filter("warn,scim_client=debug").is_ok());
    assert!(check_filter("info,=[bad").is_err());
}

#[test]
fn alternatives_read_as_a_sentence() {
    let error = |args: &[&str]| {
        let mut all = vec!["pw-activate-scim-sync"];
        all.extend_from_slice(args);
        let args: Vec<std::ffi::OsString> = all.into_iter().map(Into::into).collect();
        scim_sync_cli::cli::parse(&args).err().unwrap().to_string()
    };
    assert!(error(&["--output", "xml"]).contains("expected text or json"));
    assert!(error(&["--log-format", "xml"]).contains("expected auto, text or json"));
}

#[test]
fn an_activate_scim_token_chooses_the_scim_api_at_a_url_derived_or_given() {
    const TARGET: &[&str] = &["--scim-bearer-token", "tok", "--cw-org-userid", "abc123"];
    let scim = |extra: &[&str]| {
        let mut args = TARGET.to_vec();
        args.extend_from_slice(extra);
        parse(&args).map(|cfg| match cfg.source {
            Some(SourceConfig::Scim(scim)) => scim,
            other => panic!("not the SCIM source: {other:?}"),
        })
    };
    let token = ["--activate-scim-token", "scim-secret"];
    // the platform URL and the organization, one percent-encoded path segment
    let from_url = [
        &token[..],
        &[
            "--activate-api-url",
            "https://pw.example/",
            "--activate-org-name",
            "acme labs/x",
        ],
    ]
    .concat();
    let cfg = scim(&from_url).unwrap();
    assert_eq!(
        cfg.url,
        "https://pw.example/api/organizations/acme%20labs%2Fx/scim/v2"
    );
    assert_eq!(cfg.token.expose_secret(), "scim-secret");
    assert_eq!(cfg.org_name.as_deref(), Some("acme labs/x"));
    // the platform host from the API key; the token wins over the key as the source
    let from_key = [
        &token[..],
        &[
            "--activate-api-key",
            "pwt_YWN0aXZhdGUucGFyYWxsZWwud29ya3M.s3cr3t",
            "--activate-org-name",
            "acme",
        ],
    ]
    .concat();
    assert_eq!(
        scim(&from_key).unwrap().url,
        "https://activate.parallel.works/api/organizations/acme/scim/v2"
    );
    // the URL given wins over a derived one
    let given = [
        &from_key[..],
        &[
            "--activate-scim-url",
            "https://scim.pw.example/orgs/acme/v2/",
        ],
    ]
    .concat();
    assert_eq!(
        scim(&given).unwrap().url,
        "https://scim.pw.example/orgs/acme/v2"
    );
    // from a file
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, " from-a-file \n").unwrap();
    let path = file.to_str().unwrap();
    let from_file = scim(&[
        "--activate-scim-token-file",
        path,
        "--activate-scim-url",
        "https://scim.pw.example/v2",
    ])
    .unwrap();
    assert_eq!(from_file.token.expose_secret(), "from-a-file");
}

#[test]
fn an_activate_scim_token_without_a_url_or_beside_another_source_is_refused() {
    let parse_with = |extra: &[&str]| {
        let mut args = vec!["--scim-bearer-token", "tok", "--cw-org-userid", "abc123"];
        args.extend_from_slice(extra);
        let e = parse(&args).map(|_| ()).unwrap_err().0;
        assert!(!e.contains("scim-secret"), "no secret in errors: {e}");
        e
    };
    let e = parse_with(&["--activate-scim-token", "scim-secret"]);
    assert!(
        e.contains("ACTIVATE_SCIM_URL") && e.contains("ACTIVATE_ORG_NAME"),
        "{e}"
    );
    let e = parse_with(&[
        "--activate-scim-token",
        "scim-secret",
        "--activate-org-name",
        "acme",
    ]);
    assert!(e.contains("ACTIVATE_API_URL"), "{e}");
    let e = parse_with(&[
        "--activate-scim-token",
        "scim-secret",
        "--source-file",
        "org.json",
    ]);
    assert!(
        e.contains("ACTIVATE_SCIM_TOKEN") && e.contains("--source-file") && e.contains("not both"),
        "{e}"
    );
    let e = parse_with(&[
        "--activate-scim-token",
        "scim-secret",
        "--activate-scim-token-file",
        "/nonexistent",
    ]);
    assert!(
        e.contains("ACTIVATE_SCIM_TOKEN_FILE") && e.contains("not both"),
        "{e}"
    );
    let e = parse_with(&[
        "--activate-scim-token",
        "scim-secret",
        "--activate-scim-url",
        "http://scim.pw.example/v2",
    ]);
    assert!(
        e.contains("ACTIVATE_SCIM_URL") && e.contains("SYNC_ALLOW_INSECURE_HTTP"),
        "{e}"
    );
}

#[test]
fn new_groups_get_their_members_in_the_create_except_on_coreweave() {
    // CoreWeave's target: a create, then a membership PATCH, until it is known to take both
    assert!(!parse(MIN).unwrap().policy.group_members_on_create);
    for url in [
        "https://api.coreweave.com/scim/abc123",
        "https://API.CoreWeave.com./scim/x",
    ] {
        let cfg = parse(&with(&["--scim-base-url", url])).unwrap();
        assert!(!cfg.policy.group_members_on_create, "{url}");
    }
    // any other target: one write per new group
    for url in ["https://scim.example/v2", "http://127.0.0.1:9/v2"] {
        let cfg = parse(&with(&["--scim-base-url", url])).unwrap();
        assert!(cfg.policy.group_members_on_create, "{url}");
    }
    // unless the operator says otherwise, either way
    let cfg = parse(&with(&["--group-members-on-create", "true"])).unwrap();
    assert!(cfg.policy.group_members_on_create);
    let cfg = parse(&with(&[
        "--scim-base-url",
        "https://scim.example/v2",
        "--group-members-on-create",
        "false",
    ]))
    .unwrap();
    assert!(!cfg.policy.group_members_on_create);
    let e = parse(&with(&["--group-members-on-create", "sometimes"])).unwrap_err();
    assert!(e.0.contains("auto, true or false"), "{e}");
}

#[test]
fn max_concurrency_is_the_ceiling_of_the_adaptive_bound_and_not_below_the_start() {
    let cfg = parse(&with(&[])).unwrap();
    assert_eq!(
        (cfg.connection.concurrency, cfg.connection.max_concurrency),
        (4, 64)
    );
    let cfg = parse(&with(&["--concurrency", "8", "--max-concurrency", "8"])).unwrap();
    assert_eq!(cfg.connection.max_concurrency, 8);
    // a start above the default ceiling raises it: an existing setting keeps working
    let cfg = parse(&with(&["--concurrency", "100"])).unwrap();
    assert_eq!(cfg.connection.max_concurrency, 100);
    let e = parse(&with(&["--concurrency", "8", "--max-concurrency", "4"])).unwrap_err();
    assert!(
        e.0.contains("--max-concurrency") && e.0.contains("--concurrency (SYNC_CONCURRENCY) 8"),
        "{e}"
    );
}
