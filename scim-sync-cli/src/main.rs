//! `pw-activate-scim-sync`: reconciles Parallel Works ACTIVATE users, groups and SSH keys into a
//! SCIM 2.0 target. All logic lives in the `scim_sync_cli` library and the crates it glues.

use std::process::ExitCode;

fn main() -> ExitCode {
    scim_sync_cli::main_with_args(std::env::args_os().collect())
}
