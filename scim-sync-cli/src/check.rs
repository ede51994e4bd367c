//! `check`: probes both ends without writing ([`scim_sync::check::probe`]: only `GET`s) and
//! prints a verdict per item. Exit code: 0 when nothing failed (warnings allowed), 4 when an
//! end could not be read.

use std::time::Instant;

use scim_sync::check::CheckDocument;

use crate::app::finish_early;
use crate::config::Config;
use crate::exit::Outcome;

/// Runs every probe and prints the verdicts.
pub async fn run(config: &Config) -> Outcome {
    let started = Instant::now();
    let (source, scim) = match crate::app::both_ends(config) {
        Ok(ends) => ends,
        Err(e) => return finish_early(config, "check", e, Outcome::Usage),
    };
    let mut items =
        scim_sync::check::probe(&source, &scim, config.opts.page_size, &config.policy).await;
    for item in &mut items {
        item.detail = crate::report::in_operator_terms(&item.detail);
    }
    let doc = CheckDocument::new(&source, &scim, items);
    crate::app::print(config.opts.output, &doc, || doc.render_text());
    doc.log_summary(started.elapsed());
    doc.outcome
}
