//! Usage and configuration errors exit 2 with a message that names the setting, and never
//! echo a secret.

use crate::support::{run, run_in};

const SECRET: &str = "pwt_c2VjcmV0.do-not-print-me-7f3a";

#[test]
fn unknown_flag_exits_2() {
    let r = run(&["--no-such-flag"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.all());
}

#[test]
fn help_and_version_exit_0() {
    let r = run(&["--help"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("check"), "{}", r.all());
    assert!(r.stdout.contains("demo"), "{}", r.all());
    let r = run(&["--version"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let version = r.stdout.trim();
    assert!(
        version.starts_with(concat!(
            "pw-activate-scim-sync ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )) && version.contains(", built 20"),
        "the version names the commit and the build date: {version}"
    );
}

#[test]
fn completions_are_printed_for_each_shell_without_any_configuration() {
    for (shell, marker) in [
        ("bash", "complete -F _pw__activate__scim__sync"),
        ("zsh", "#compdef pw-activate-scim-sync"),
        ("fish", "complete -c pw-activate-scim-sync"),
        ("elvish", "pw-activate-scim-sync"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let r = run(&["completions", shell], &[]);
        assert_eq!(r.code, 0, "{shell}: {}", r.all());
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("dry-run"), "{shell}: the flags complete");
        assert!(
            r.stdout.contains("apply"),
            "{shell}: the subcommands complete"
        );
    }
    let r = run(&["completions", "tcsh"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("bash"),
        "names the shells it knows: {}",
        r.all()
    );
}

#[test]
fn no_target_or_source_exits_2_with_what_to_set() {
    let r = run(&[], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("ACTIVATE_API_KEY"), "{}", r.all());
    let r = run(
        &["--source-file", "org.json"],
        &[("CW_SCIM_BEARER_TOKEN", "t")],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("CW_SCIM_ORG_USERID"), "{}", r.all());
}

#[test]
fn invalid_values_from_env_exit_2_naming_the_variable() {
    let base = [
        ("ACTIVATE_SOURCE_FILE", "org.json"),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_ORG_USERID", "abc"),
    ];
    for (name, value) in [
        ("SCIM_PAGE_SIZE", "0"),
        ("SYNC_CONCURRENCY", "lots"),
        ("SYNC_OUTPUT", "yaml"),
        ("LOG_FORMAT", "xml"),
        ("SYNC_DEADLINE", "whenever"),
        ("SYNC_USERNAME_FROM", "uid"),
        ("SYNC_SSH_KEY_SOURCE", "ldap"),
        ("SYNC_DRY_RUN", "perhaps"),
        ("SYNC_MAX_DEACTIVATIONS", "-1"),
        ("CW_SCIM_BASE_URL", "ftp://x"),
    ] {
        let mut env = base.to_vec();
        env.push((name, value));
        // ACTIVATE_SOURCE_FILE wins over a key, so SYNC_SSH_KEY_SOURCE needs the API source
        if name == "SYNC_SSH_KEY_SOURCE" {
            env.retain(|(k, _)| *k != "ACTIVATE_SOURCE_FILE");
            env.push(("ACTIVATE_API_KEY", SECRET));
        }
        let r = run(&[], &env);
        assert_eq!(r.code, 2, "{name}={value}: {}", r.all());
        assert!(r.stderr.contains(name), "{name}={value}: {}", r.all());
        assert!(
            !r.all().contains(SECRET),
            "{name}: the key leaked: {}",
            r.all()
        );
    }
}

#[test]
fn plain_http_target_needs_the_opt_in() {
    let env = [
        ("ACTIVATE_SOURCE_FILE", "org.json"),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_BASE_URL", "http://scim.internal:9/v2"),
    ];
    let r = run(&[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("SYNC_ALLOW_INSECURE_HTTP"), "{}", r.all());
}

#[test]
fn secret_given_twice_is_an_error_that_does_not_echo_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, SECRET).unwrap();
    let env = [
        ("ACTIVATE_API_KEY", SECRET),
        ("ACTIVATE_API_KEY_FILE", file.to_str().unwrap()),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_ORG_USERID", "abc"),
        ("LOG_LEVEL", "trace"),
    ];
    let r = run(&["--help"], &env);
    assert_eq!(r.code, 0);
    assert!(
        !r.all().contains(SECRET),
        "--help shows the key: {}",
        r.all()
    );
    let r = run(&[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("not both"), "{}", r.all());
    assert!(!r.all().contains(SECRET), "{}", r.all());
}

#[test]
fn missing_secret_file_exits_2() {
    let env = [
        ("ACTIVATE_API_KEY_FILE", "/nonexistent/key"),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_ORG_USERID", "abc"),
    ];
    let r = run(&[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("ACTIVATE_API_KEY_FILE"), "{}", r.all());
}

#[test]
fn env_file_is_loaded_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sync.env"),
        "# local settings\nSYNC_OUTPUT=yaml\nCW_SCIM_BEARER_TOKEN=t\n",
    )
    .unwrap();
    let base = [
        ("ACTIVATE_SOURCE_FILE", "org.json"),
        ("CW_SCIM_ORG_USERID", "abc"),
    ];
    // the file's bad SYNC_OUTPUT is seen...
    let r = run_in(dir.path(), &["--env-file", "sync.env"], &base);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("SYNC_OUTPUT"), "{}", r.all());
    // ...and `.env` is read by default
    std::fs::rename(dir.path().join("sync.env"), dir.path().join(".env")).unwrap();
    let r = run_in(dir.path(), &[], &base);
    assert!(r.stderr.contains("SYNC_OUTPUT"), "{}", r.all());
    // a variable set in the environment wins over the file
    let mut env = base.to_vec();
    env.push(("SYNC_OUTPUT", "yaml-from-env"));
    let r = run_in(dir.path(), &[], &env);
    assert!(r.stderr.contains("yaml-from-env"), "{}", r.all());
}

#[test]
fn missing_env_file_exits_2() {
    let r = run(&["--env-file", "nope.env", "demo"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("nope.env"), "{}", r.all());
}

#[test]
fn a_configuration_error_with_json_output_is_still_one_json_object() {
    let r = run(&["--output", "json", "--page-size", "0"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["outcome"], "usage");
    assert!(
        v["error"].as_str().unwrap().contains("SCIM_PAGE_SIZE"),
        "{v}"
    );
}

#[test]
fn empty_variables_count_as_unset() {
    // CW_SCIM_BASE_URL="" must not hide CW_SCIM_ORG_USERID; SYNC_OUTPUT="" is the default
    let env = [
        ("ACTIVATE_SOURCE_FILE", "/nonexistent/org.json"),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_BASE_URL", ""),
        ("CW_SCIM_ORG_USERID", ""),
        ("SYNC_OUTPUT", ""),
    ];
    let r = run(&[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("no SCIM target"), "{}", r.all());
}

#[test]
fn blank_flags_count_as_unset_like_blank_variables() {
    // `--flag=$(VAR)` in a manifest with an empty VAR, or a Kubernetes `value: ""`
    let r = run(
        &[
            "demo",
            "--page-size=",
            "--concurrency",
            "",
            "--dry-run=",
            "--output=",
        ],
        &[
            ("SYNC_OUTPUT", " "),
            ("SCIM_PAGE_SIZE", ""),
            ("LOG_LEVEL", ""),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("== Pass 2"), "text output: {}", r.all());
    // a blank value does not swallow the next flag
    let r = run(&["demo", "--page-size", "", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(v["command"], "demo");
}

#[test]
fn a_bad_value_is_one_json_error_even_when_clap_rejects_it() {
    let r = run(&["check", "--concurrency", "0"], &[("SYNC_OUTPUT", "json")]);
    assert_eq!(r.code, 2, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(v["command"], "check");
    assert_eq!(
        v["error"],
        "--concurrency (SYNC_CONCURRENCY): must be at least 1, got `0`"
    );
    assert!(r.stderr.contains("SYNC_CONCURRENCY"), "{}", r.all());
}

#[test]
fn a_misspelled_variable_is_a_usage_error_naming_the_one_meant() {
    let base = [
        ("ACTIVATE_SOURCE_FILE", "/nonexistent/org.json"),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_ORG_USERID", "abc"),
    ];
    // `SYNC_DRYRUN=true` must not run a real sync
    let mut env = base.to_vec();
    env.push(("SYNC_DRYRUN", "true"));
    let r = run(&[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("SYNC_DRYRUN is not a setting; did you mean SYNC_DRY_RUN?"),
        "{}",
        r.all()
    );
    // every one of them at once, in a .env file too
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "CW_SCIM_BEARER_TOKN=x\n").unwrap();
    let mut env = base.to_vec();
    env.push(("sync_max_deactivations", "3"));
    env.push(("SYNC_MAX_DEACTIVATION", "3"));
    let r = run_in(dir.path(), &[], &env);
    assert_eq!(r.code, 2, "{}", r.all());
    for meant in ["CW_SCIM_BEARER_TOKEN", "SYNC_MAX_DEACTIVATIONS"] {
        assert!(r.stderr.contains(meant), "{meant}: {}", r.all());
    }
    // with the other configuration problems, in one message
    let r = run(&[], &[("SYNC_DRYRUN", "true")]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("no source") && r.stderr.contains("SYNC_DRY_RUN"),
        "{}",
        r.all()
    );
}

#[test]
fn other_unknown_variables_are_warnings_in_the_report_and_service_links_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("org.json");
    std::fs::write(&export, r#"{"version": 1, "users": [], "groups": []}"#).unwrap();
    let env = [
        ("ACTIVATE_SOURCE_FILE", export.to_str().unwrap()),
        ("CW_SCIM_BEARER_TOKEN", "t"),
        ("CW_SCIM_BASE_URL", "http://127.0.0.1:9/v2"),
        ("SYNC_RETRY_BUDGET", "1s"),
        ("SYNC_SOMETHING_ELSE_ENTIRELY", "1"),
        ("SCIM_SERVICE_HOST", "10.0.0.1"),
        ("SYNC_PORT_443_TCP", "tcp://10.0.0.1:443"),
    ];
    let r = run(&["--output", "json", "--no-dynamic-settings"], &env);
    assert_ne!(r.code, 2, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("SYNC_SOMETHING_ELSE_ENTIRELY"), "{v}");
    assert!(
        !warnings.contains("SERVICE_HOST") && !warnings.contains("PORT_443"),
        "{v}"
    );
}

#[test]
fn demo_honours_dry_run_and_source_file_and_refuses_what_it_cannot_honour() {
    // a dry run plans the sample organization and writes nothing to the embedded server
    let r = run(&["demo", "--dry-run", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["passes"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        !v["passes"][0]["plan"].as_array().unwrap().is_empty(),
        "{v}"
    );
    assert_eq!(v["second_pass_writes"], 0, "{v}");
    let r = run(&["demo", "--dry-run"], &[]);
    assert!(r.stdout.contains("nothing was written"), "{}", r.all());

    // --source-file: that export, not the sample
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("org.json");
    std::fs::write(
        &export,
        r#"{"version": 1, "users": [{"username": "zed", "email": "zed@example.org"}], "groups": []}"#,
    )
    .unwrap();
    let r = run(
        &[
            "demo",
            "--output",
            "json",
            "--source-file",
            export.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    let plan = v["passes"][0]["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{v}");
    assert_eq!(plan[0]["externalId"], "pw-activate:user:zed");

    // a real target cannot be given to it
    let r = run(&["demo", "--scim-base-url", "https://scim.example/v2"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("--scim-base-url cannot be used"),
        "{}",
        r.all()
    );
}

#[test]
fn a_switch_given_its_value_apart_says_how_to_write_it() {
    let r = run(&["demo", "--dry-run", "false"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("write --dry-run=false"), "{}", r.all());
    let r = run(&["demo", "--dry-run=false", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn a_log_filter_without_a_level_is_refused() {
    let r = run(&["demo", "--log-level", "nonsense="], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("`nonsense=` names no level"),
        "{}",
        r.all()
    );
}

#[test]
fn an_env_file_error_names_the_line_and_never_quotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.env");
    std::fs::write(
        &file,
        "SYNC_DRY_RUN=true\n# a comment\nCW_SCIM_BEARER_TOKEN s3cr3t\n",
    )
    .unwrap();
    let r = run(&["--env-file", file.to_str().unwrap(), "demo"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("line 3"), "{}", r.all());
    assert!(!r.stderr.contains("s3cr3t"), "{}", r.all());
}

#[test]
fn a_reader_that_goes_away_ends_the_output_not_the_run() {
    // `pw-activate-scim-sync demo | head -1`: the pipe is closed before the report is written
    for output in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = crate::support::command(dir.path())
            .args(["demo", "--output", output])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    }
}
