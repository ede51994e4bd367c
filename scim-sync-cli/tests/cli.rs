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

/// The README's flag table, as the clap definitions give it: flag, variable, default, help.
fn flag_table() -> String {
    let mut table =
        String::from("| flag | environment variable | default | meaning |\n|---|---|---|---|\n");
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || matches!(long, "help" | "version") {
            continue;
        }
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        // a default clap cannot show (derived, "every group") is written `[default: ...]`
        let (help, stated_default) = match help.rsplit_once(" [default: ") {
            Some((text, default)) => (
                text.to_owned(),
                Some(default.trim_end_matches(']').to_owned()),
            ),
            None => (help, None),
        };
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = match (defaults.is_empty(), stated_default) {
            (false, _) => format!("`{}`", defaults.join(",")),
            (true, Some(stated)) => stated,
            (true, None) => "—".to_owned(),
        };
        let env = arg
            .get_env()
            .map_or("—".to_owned(), |e| format!("`{}`", e.to_string_lossy()));
        table.push_str(&format!(
            "| `--{long}` | {env} | {default} | {} |\n",
            help.replace('|', "\\|")
        ));
    }
    table
}

#[test]
fn the_readme_flag_table_is_generated_from_the_clap_definitions() {
    const START: &str = "<!-- flags: generated from the clap definitions -->\n";
    const END: &str = "<!-- end of flags -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find(START).expect("the README marks its flag table") + START.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("the table's end is marked");
    let generated = flag_table();
    if readme[start..end] != generated {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{generated}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!(
                "README.md's flag table is not what the clap definitions give; run \
                 `UPDATE_README=1 cargo test -p scim-sync-cli --test cli readme` and commit it"
            );
        }
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let version = scim_sync_cli::VERSION;
    assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{version}");
    assert!(
        version.contains("(commit ") && version.contains(", built 20"),
        "{version}"
    );
}

#[test]
fn the_defaults_stated_in_the_help_are_the_engines() {
    let table = flag_table();
    let policy = scim_diff::policy::Policy::default();
    for (flag, default) in [
        ("--max-deactivations", policy.max_deactivations),
        ("--max-membership-removals", policy.max_membership_removals),
        ("--max-adoptions", policy.max_adoptions),
        (
            "--max-deactivation-percent",
            policy.max_deactivation_percent.map(|p| p as usize),
        ),
        (
            "--max-members-per-patch",
            Some(policy.max_members_per_patch),
        ),
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{flag}` |")))
            .unwrap_or_else(|| panic!("no row for {flag}"));
        let stated: Vec<&str> = row.split(" | ").collect();
        assert_eq!(
            stated[2].trim_matches('`'),
            default.unwrap().to_string(),
            "{flag}: {row}"
        );
    }
}
