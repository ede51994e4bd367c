//! Prints the man page of `pw-activate-scim-sync` (roff), from the clap definitions, and one
//! page per subcommand after it when given a directory: `cargo xtask man` writes them under
//! `target/man/`.
//!
//! ```sh
//! cargo run -q -p scim-sync-cli --example man -- target/man
//! man target/man/pw-activate-scim-sync.1
//! ```

use clap::CommandFactory;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::path::PathBuf::from("target/man"), Into::into);
    std::fs::create_dir_all(&dir)?;
    let command = scim_sync_cli::cli::Cli::command().version(scim_sync_cli::VERSION);
    clap_mangen::generate_to(command, &dir)?;
    for entry in std::fs::read_dir(&dir)? {
        println!("{}", entry?.path().display());
    }
    Ok(())
}
