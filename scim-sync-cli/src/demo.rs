//! `demo`: the whole job with no credentials ([`scim_sync::demo`]): the sample ACTIVATE
//! export (or `--source-file`) synced into an embedded `scim-server`, then a second pass
//! that must have nothing to do.

use std::time::Instant;

use scim_sync::demo::Demo;

use crate::app::finish_early;
use crate::config::Config;
use crate::exit::Outcome;
use crate::stop::Stop;

/// Runs the demo; `Ok` when the first pass applied everything and the second had nothing to
/// do and sent no write (a dry run: sent no write).
pub async fn run(config: &Config, stop: &Stop) -> Outcome {
    let started = Instant::now();
    let demo = Demo {
        policy: config.policy.clone(),
        dry_run: config.opts.dry_run,
        page_size: config.opts.page_size,
        concurrency: config.opts.concurrency,
        user_agent: crate::USER_AGENT.to_owned(),
        stop: stop.clone(),
        progress: crate::logging::progress_style(config),
        plan_text: crate::app::plan_text(config),
        fail_on_conflict: config.opts.fail_on_conflict,
        wording: crate::report::in_operator_terms,
        ..Demo::of_export(
            config.opts.source_file.clone(),
            config.opts.source_file_max_bytes,
        )
    };
    let demo = match demo.run().await {
        Ok(demo) => demo,
        Err(e) => return finish_early(config, "demo", e, Outcome::Failed),
    };
    crate::app::print(config.opts.output, &demo, || demo.render_text());
    demo.log_summary(started.elapsed());
    demo.outcome
}
