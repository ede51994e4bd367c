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

/// The library's words for its settings, as an operator sets them: the flag and the
/// variable. Longer phrases come first: a shorter one may be part of them.
pub fn in_operator_terms(text: &str) -> String {
    const TERMS: &[(&str, &str)] = &[
        (
            "raise max_deactivations",
            "raise --max-deactivations, SYNC_MAX_DEACTIVATIONS",
        ),
        (
            "raise max_membership_removals",
            "raise --max-membership-removals, SYNC_MAX_MEMBERSHIP_REMOVALS",
        ),
        (
            "raise max_adoptions",
            "raise --max-adoptions, SYNC_MAX_ADOPTIONS",
        ),
        (
            "raise max_response_bytes",
            "raise --max-response-bytes, SYNC_MAX_RESPONSE_BYTES",
        ),
        ("raise max_records", "raise --max-records, SYNC_MAX_RECORDS"),
        ("raise page_size", "raise --page-size, SCIM_PAGE_SIZE"),
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
    TERMS
        .iter()
        .fold(text.to_owned(), |text, (engine, operator)| {
            text.replace(engine, operator)
        })
}
