//! Reads a 10,000-user list from the embedded server with 50 ms added to every request, by
//! index one page after another (1 in flight) and with the pages after the first in parallel
//! (8 in flight), then by RFC 9865 cursor as a client that discovers it does (the first page
//! by index, `/ServiceProviderConfig`, then every page by cursor, one after another), and
//! prints each time beside its floor (`requests on the critical path × RTT`).
//!
//! `cargo run --release -p scim-sync --example paging_latency` (figures in BENCHMARKS.md).

use std::time::{Duration, Instant};

use scim_client::{ListQuery, Paging, ScimClient};
use scim_server::faults::{Fault, FaultRule};
use scim_server::{FaultPlan, ResourceKind, ScimServer};

const USERS: usize = 10_000;
const PAGE: u32 = 100;
const RTT: Duration = Duration::from_millis(50);

#[tokio::main]
async fn main() {
    let latency = FaultPlan::new(1).rule(FaultRule::new(Fault::Latency(RTT)));
    let server = ScimServer::builder()
        .bearer_token(Some("tok"))
        .faults(latency)
        .start("127.0.0.1:0")
        .await
        .expect("the embedded server starts");
    let tenant = server.default_tenant();
    for i in 0..USERS {
        let user = serde_json::json!({"userName": format!("u{i}"), "externalId": format!("x:{i}")});
        tenant.seed(ResourceKind::User, user).expect("seeded");
    }
    let pages = USERS.div_ceil(PAGE as usize) as u32;
    for (paging, in_flight) in [(Paging::Index, 1u32), (Paging::Index, 8), (Paging::Auto, 8)] {
        let scim = ScimClient::builder(&server.base_url())
            .bearer_token("tok".into())
            .page_size(PAGE)
            .max_in_flight(in_flight as usize)
            .paging(paging)
            .build()
            .expect("a client");
        let started = Instant::now();
        let read = scim.users().list(&ListQuery::new()).await.expect("listed");
        let took = started.elapsed();
        let floor = if scim.uses_cursor_paging().await {
            // the index page, the discovery, then every page by cursor
            RTT * (2 + pages)
        } else {
            // the first page alone, then the others `in_flight` at a time
            RTT + RTT * (pages - 1).div_ceil(in_flight)
        };
        println!(
            "{paging:?}, {in_flight} in flight: {} users in {} requests, {:.2} s (floor {:.2} s, {:.2}x)",
            read.len(),
            scim.stats().requests,
            took.as_secs_f64(),
            floor.as_secs_f64(),
            took.as_secs_f64() / floor.as_secs_f64()
        );
    }
}
