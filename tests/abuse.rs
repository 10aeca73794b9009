//! HTTP/2 abuse, sent as raw frames: a rapid-reset flood, a CONTINUATION flood and an
//! oversized header list each end in GOAWAY or a closed connection, while a well-behaved
//! client on its own connection keeps being answered. (Its latency during a flood is a
//! benchmark figure, in RELIABILITY.md; here it must simply be served.)
#[macro_use]
mod common;

use common::*;
#[path = "../src/bin/casework-bench/h2raw.rs"]
mod h2raw;
use h2raw::Attack;

/// A well-behaved client on its own connection is answered `calls` times.
async fn well_behaved(server: &TestServer, ticket_id: &str, calls: usize) {
    let mut client = server.admin().await;
    for _ in 0..calls {
        client
            .get(ticket_id)
            .await
            .expect("the well-behaved client is served");
    }
}

/// Whether the server ended `attack` (made on a connection of its own); false, not a hung
/// test, if it has not within a minute.
async fn ended(server: &TestServer, attack: Attack, streams: u32) -> bool {
    let made = h2raw::attack(server.addr, attack, streams);
    match tokio::time::timeout(std::time::Duration::from_secs(60), made).await {
        Ok(ended) => ended.expect("connect"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_rapid_reset_flood_ends_in_goaway() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    // 20,000 streams, each opened and at once cancelled.
    let (ended, ()) = tokio::join!(
        ended(&server, Attack::RapidReset, 20_000),
        well_behaved(&server, &ticket.id, 50)
    );
    assert!(ended, "the flood's connection is ended");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}

#[tokio::test]
async fn a_continuation_flood_ends_the_connection() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION
    // frames of 1 KiB of headers each, 100,000 of them (100 MB) if nobody stops it.
    let (ended, ()) = tokio::join!(
        ended(&server, Attack::Continuation, 100_000),
        well_behaved(&server, &ticket.id, 50)
    );
    assert!(ended, "the flood's connection is ended");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_header_list_is_refused_and_the_server_goes_on() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    // 64 KiB of headers in one complete block, four times the 16 KiB limit. The stream never
    // reaches the service: the connection ends (GOAWAY or closed) or the stream is reset, and
    // no response headers come back for it.
    let refused = ended(&server, Attack::Headers, 1).await;
    assert!(refused, "an oversized header list must not be served");
    well_behaved(&server, &ticket.id, 5).await;
    server.stop().await;
}
