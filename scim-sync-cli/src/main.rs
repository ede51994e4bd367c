//! `pw-activate-scim-sync`: the glue binary. Built by issue #6.

fn main() {
    eprintln!("pw-activate-scim-sync is not built yet (issue #6); see README.md");
    std::process::exit(2);
}
