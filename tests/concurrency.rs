//! Concurrency is tested, not assumed: racing lifecycle changes, racing idempotent creates,
//! and keyset paging while others insert.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use common::*;
use std::collections::HashMap;
use tonic::Code;

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_assigns_and_closes_apply_exactly_the_legal_changes(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    for round in 0..3 {
        let ticket = admin
            .create(new_ticket(&format!("race-{round}")))
            .await
            .expect("create");
        let mut calls = Vec::new();
        for i in 0..50 {
            let mut client = admin.clone();
            let id = ticket.id.clone();
            calls.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    let agent = if i % 4 == 0 { AGENT } else { OTHER_AGENT };
                    ("assign", client.assign(&id, agent).await)
                } else {
                    ("close", client.close(&id).await)
                }
            }));
        }
        let mut wins: HashMap<&str, usize> = HashMap::new();
        for call in calls {
            let (kind, result) = call.await.expect("task");
            match result {
                Ok(_) => *wins.entry(kind).or_default() += 1,
                Err(status) => assert_eq!(
                    status.code(),
                    Code::FailedPrecondition,
                    "losers are refused as illegal, never lost or aborted: {status:?}"
                ),
            }
        }
        let assigns = wins.get("assign").copied().unwrap_or(0);
        let closes = wins.get("close").copied().unwrap_or(0);
        assert_eq!(closes, 1, "exactly one close wins");
        assert!(assigns <= 1, "at most one assign wins, got {assigns}");

        let events = admin.events(&ticket.id).await.expect("events");
        let types: Vec<i32> = events.iter().map(|e| e.r#type).collect();
        let mut expected = vec![pb::TicketEventType::Created as i32];
        if assigns == 1 {
            expected.push(pb::TicketEventType::Assigned as i32);
        }
        expected.push(pb::TicketEventType::Closed as i32);
        assert_eq!(
            types, expected,
            "one event per applied change, assign before close"
        );
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        let gapless: Vec<i64> = (1..=events.len() as i64).collect();
        assert_eq!(versions, gapless, "versions have no gaps");
        let final_ticket = admin.get(&ticket.id).await.expect("get");
        assert_eq!(final_ticket.version, events.len() as i64);
        assert_eq!(final_ticket.status, pb::TicketStatus::Closed as i32);
    }
    server.stop().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_retries_of_one_request_id_create_one_ticket(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut service = server.tickets("checkout-service", Role::Service).await;
    let mut request = new_ticket("cust-retry");
    request.request_id = "order-42-complaint".into();
    let mut calls = Vec::new();
    for _ in 0..20 {
        let mut client = service.clone();
        let request = request.clone();
        calls.push(tokio::spawn(async move { client.create(request).await }));
    }
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.expect("task").expect("create").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same ticket");
    let list = service
        .client
        .list_tickets(service.req(pb::ListTicketsRequest {
            filter: Some(pb::TicketFilter {
                customer_id: "cust-retry".into(),
                ..Default::default()
            }),
            include_total_size: true,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(list.total_size, 1);
    assert_eq!(
        service.events(&ids[0]).await.expect("events").len(),
        1,
        "one CREATED event"
    );
    server.stop().await;
}
}

async fn page_through(client: &mut Tickets, order: pb::TicketOrder) -> Vec<String> {
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .client
            .list_tickets(client.req(pb::ListTicketsRequest {
                order_by: order as i32,
                page_size: 25,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.tickets.into_iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            return seen;
        }
        token = page.next_page_token;
    }
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_never_skips_or_repeats_while_others_insert(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut existing = Vec::new();
    for i in 0..200 {
        let mut request = new_ticket(&format!("existing-{i}"));
        request.priority = i % 5;
        existing.push(admin.create(request).await.expect("create").id);
    }
    let mut writer = admin.clone();
    let inserts = tokio::spawn(async move {
        for i in 0..1000 {
            let mut request = new_ticket(&format!("new-{i}"));
            request.priority = i % 5;
            writer.create(request).await.expect("insert");
        }
    });
    for order in [
        pb::TicketOrder::CreatedDesc,
        pb::TicketOrder::CreatedAsc,
        pb::TicketOrder::PriorityDesc,
    ] {
        let seen = page_through(&mut admin, order).await;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &seen {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        assert!(
            counts.values().all(|&n| n == 1),
            "{order:?}: a ticket was repeated"
        );
        for id in &existing {
            assert_eq!(
                counts.get(id.as_str()),
                Some(&1),
                "{order:?}: {id} was skipped"
            );
        }
    }
    inserts.await.expect("inserter");
    let all = page_through(&mut admin, pb::TicketOrder::CreatedAsc).await;
    assert_eq!(all.len(), 1200);
    server.stop().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_self_assigns_stay_within_capacity(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            admin
                .create(new_ticket(&format!("cap-{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    // AGENT's capacity is 5 (tests/common); everyone is offline, so nothing was routed.
    let agent = server.tickets(AGENT, Role::Agent).await;
    let mut calls = Vec::new();
    for id in ids {
        let mut client = agent.clone();
        calls.push(tokio::spawn(async move { client.assign(&id, "").await }));
    }
    let mut taken = 0;
    for call in calls {
        match call.await.expect("task") {
            Ok(_) => taken += 1,
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    assert_eq!(taken, 5, "exactly the capacity");
    let request = admin.req(pb::ListTicketsRequest {
        filter: Some(pb::TicketFilter {
            assignee: AGENT.into(),
            ..Default::default()
        }),
        include_total_size: true,
        ..Default::default()
    });
    let held = admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner();
    assert_eq!(held.total_size, 5);
    server.stop().await;
}
}

/// Rounds of the hundred-claim race (`CASEWORK_RACE_ROUNDS`; 50 by default, 1,000 in the
/// documented long run).
fn race_rounds() -> usize {
    std::env::var("CASEWORK_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_racing_claims_of_one_ticket_have_exactly_one_winner(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    // Each claimant on a connection of its own, so the calls really arrive together.
    let mut claimants = Vec::new();
    for (sub, role) in [
        (AGENT, Role::Agent),
        (OTHER_AGENT, Role::Agent),
        (SUPERVISOR, Role::Supervisor),
        (ADMIN, Role::Admin),
    ] {
        claimants.push((sub, server.tickets(sub, role).await));
    }
    for round in 0..race_rounds() {
        let ticket = admin
            .create(new_ticket(&format!("claim-{round}")))
            .await
            .expect("create");
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(100));
        let mut calls = Vec::new();
        for i in 0..100 {
            let (sub, client) = &claimants[i % claimants.len()];
            let (mut client, sub, id, start) =
                (client.clone(), *sub, ticket.id.clone(), start.clone());
            calls.push(tokio::spawn(async move {
                // Agents and the supervisor claim it for themselves; the admin assigns it
                // to one of the agents.
                let to = match sub {
                    ADMIN if i % 2 == 0 => AGENT,
                    ADMIN => OTHER_AGENT,
                    _ => "",
                };
                start.wait().await;
                let result = client.assign(&id, to).await;
                (if to.is_empty() { sub } else { to }, result)
            }));
        }
        let mut winners = Vec::new();
        for call in calls {
            let (agent, result) = call.await.expect("task");
            match result {
                Ok(ticket) => winners.push((agent, ticket)),
                // Refused, never lost or aborted: the ticket is taken, or (to another agent)
                // no longer in sight.
                Err(status) => assert!(
                    matches!(
                        status.code(),
                        Code::FailedPrecondition | Code::PermissionDenied | Code::NotFound
                    ),
                    "round {round}: {status:?}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one winner, got {}", winners.len());
        let (agent, won) = &winners[0];
        assert_eq!(won.assignee, *agent, "round {round}");
        let types: Vec<i32> = admin
            .events(&ticket.id)
            .await
            .expect("events")
            .iter()
            .map(|e| e.r#type)
            .collect();
        assert_eq!(
            types,
            vec![
                pb::TicketEventType::Created as i32,
                pb::TicketEventType::Assigned as i32
            ],
            "round {round}: one assignment event"
        );
        // Closed again, so nobody's capacity runs out over the rounds.
        admin.close(&ticket.id).await.expect("close");
    }
    server.stop().await;
}
}
