//! The last pass: the operations in the order they are applied, the conflicts and warnings
//! sorted, and the blast-radius check.

use crate::plan::{Conflict, Operation, Plan, blast_radius};
use crate::projection::Status;

use super::Context;
use super::groups::Groups;
use super::users::Users;

/// Within one phase and wave, and for one `externalId`: creates, then reactivations and
/// renames, then the rest.
fn phase_rank(op: &Operation) -> u8 {
    match op {
        Operation::CreateUser { .. } | Operation::CreateGroup { .. } => 0,
        Operation::ReactivateUser { .. } | Operation::RenameGroup { .. } => 1,
        _ => 2,
    }
}

/// The plan from what the passes decided.
pub(super) fn assemble(
    cx: &Context<'_>,
    users: Users,
    groups: Groups,
    mut conflicts: Vec<Conflict>,
) -> Plan {
    let mut ops = users.ops;
    ops.reserve(groups.ops.len() + groups.member_ops.len() + users.deactivations.len());
    ops.extend(groups.ops);
    ops.extend(groups.member_ops);
    ops.extend(users.deactivations);
    // Stable sort: by phase, wave, externalId; chunks of one group keep their order.
    ops.sort_by(|a, b| {
        (a.phase(), a.wave(), a.external_id(), phase_rank(a)).cmp(&(
            b.phase(),
            b.wave(),
            b.external_id(),
            phase_rank(b),
        ))
    });
    conflicts.extend(users.conflicts);
    conflicts.extend(groups.conflicts);
    conflicts.extend(cx.desired.conflicts.iter().cloned());
    conflicts.sort();
    conflicts.dedup();
    let mut warnings = cx.desired.warnings.clone();
    warnings.sort();
    warnings.dedup();
    let synced_users = cx
        .desired
        .users
        .iter()
        .filter(|r| r.status == Status::Synced)
        .count();
    let mut plan = Plan {
        operations: ops,
        conflicts,
        warnings,
        refusal: None,
    };
    plan.refusal = blast_radius(&plan, cx.policy, synced_users == 0, users.active_managed);
    plan
}
