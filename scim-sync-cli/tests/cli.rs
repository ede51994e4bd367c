//! The clap surface: its definition, the environment variables it knows, `--env-file`.

use std::path::PathBuf;

use clap::CommandFactory;
use scim_sync_cli::cli::{Cli, env_file_arg, known_env_vars, unknown_env_vars};

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
