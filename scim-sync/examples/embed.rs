//! Sync the sample organization into an embedded SCIM server, twice, and print what each
//! run did: `cargo run -p scim-sync --example embed`.

use scim_client::ScimClient;
use scim_server::{Profile, ScimServer};
use scim_sync::{Reconciler, RunOutcome, Source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = ScimServer::builder()
        .bearer_token(Some("demo-token"))
        .profile(Profile::CoreWeave)
        .start("127.0.0.1:0")
        .await?;
    let scim = ScimClient::builder(&server.base_url())
        .bearer_token("demo-token".into())
        .build()?;
    let org = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample-org.json");
    for pass in 1..=2 {
        let report = Reconciler::new(Source::export_file(org), scim.clone(), Default::default())
            .run()
            .await;
        let plan = report
            .plan
            .as_deref()
            .ok_or("the run did not get to planning")?;
        println!(
            "pass {pass}: {:?}, {} operations",
            report.outcome,
            plan.operations.len()
        );
        print!("{}", plan.render_table());
        for warning in &report.warnings {
            println!("  warning: {warning}");
        }
        if report.outcome != RunOutcome::Ok {
            return Err(format!("pass {pass} ended {:?}", report.outcome).into());
        }
    }
    server.shutdown().await?;
    Ok(())
}
