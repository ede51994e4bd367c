//! What a run tells the operator: the library's [`Document`] (serialized as the one JSON
//! object of `--output json`, rendered as text), worded in the operator's terms
//! ([`in_operator_terms`]: the flag and the variable to set).

pub use scim_sync::document::{
    Document as Report, FailedOp, Phases, PlanText, PlannedOps, RefusalNotice, Requests,
    SideRequests,
};
pub use scim_sync::{OpCounts, Summary};

/// A report for a run of this kind, worded for the operator.
pub fn new(command: &'static str, dry_run: bool) -> Report {
    Report {
        wording: in_operator_terms,
        ..Report::new(command, dry_run)
    }
}

/// The library's words for its settings, as an operator sets them: `raise max_records`
/// names the flag and the variable of the setting (`raise --max-records, SYNC_MAX_RECORDS`,
/// from the clap definitions, so the two cannot drift), and a few phrases are the flag's.
pub fn in_operator_terms(text: &str) -> String {
    const TERMS: &[(&str, &str)] = &[
        (
            "the deadline passed while reading",
            "the deadline (--deadline, SYNC_DEADLINE) passed while reading",
        ),
        ("the deadline passed", "the deadline (--deadline) passed"),
        ("the mass-change override", "--allow-mass-changes"),
        (
            "turn SSH key sync off (sync_ssh_keys = false)",
            "set --ssh-keys-attribute none (SCIM_SSH_KEYS_ATTRIBUTE=none)",
        ),
        ("the maximum plan age", "--max-plan-age (SYNC_MAX_PLAN_AGE)"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("raise ") {
        let (before, after) = rest.split_at(at + "raise ".len());
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let (setting, tail) = after.split_at(end);
        out.push_str(before);
        out.push_str(&flag_and_variable(setting).unwrap_or_else(|| setting.to_owned()));
        rest = tail;
    }
    out.push_str(rest);
    TERMS.iter().fold(out, |text, (library, operator)| {
        text.replace(library, operator)
    })
}

/// `--flag, VARIABLE` for the option whose id is `setting` (the library's name for it).
fn flag_and_variable(setting: &str) -> Option<String> {
    static FLAGS: std::sync::OnceLock<clap::Command> = std::sync::OnceLock::new();
    let command = FLAGS.get_or_init(<crate::cli::Cli as clap::CommandFactory>::command);
    let arg = command.get_arguments().find(|a| a.get_id() == setting)?;
    let env = arg.get_env()?.to_string_lossy();
    Some(format!("--{}, {env}", arg.get_long()?))
}
