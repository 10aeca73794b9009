//! Chat timers: the warning and the auto-close fire at the configured times, exactly once,
//! also across a restart. No sleeping: the clock is advanced by hand and the sweeper is run.
#[macro_use]
mod common;

use casework::clock::Clock;
use casework::domain::Role;
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use common::*;

async fn messages(server: &TestServer, room_id: &str) -> Vec<pb::Message> {
    let auth = server.admin().await;
    let mut client = ConversationServiceClient::new(server.channel().await);
    let request = auth.req(pb::ListMessagesRequest {
        room_id: room_id.into(),
        page_size: 100,
        ..Default::default()
    });
    client
        .list_messages(request)
        .await
        .expect("list")
        .into_inner()
        .messages
}

both_backends! {
async fn silence_warns_then_closes_exactly_once_across_a_restart(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let room_id = ticket.metadata.clone().expect("m").room_id;

    // The agent answers: timers start (defaults: warn after 5 min, close after 10).
    let answered_at = server.clock.now();
    say(
        &server,
        AGENT,
        Role::Agent,
        &room_id,
        "Your rider is on the way.",
    )
    .await;
    let timed = admin
        .get(&ticket.id)
        .await
        .expect("ticket")
        .metadata
        .expect("m");
    assert_eq!(
        timed.auto_close_warning_at.expect("warning").seconds,
        answered_at.timestamp() + 300
    );
    assert_eq!(
        timed.auto_close_at.expect("close").seconds,
        answered_at.timestamp() + 600
    );
    assert_eq!(
        timed.first_response_at.expect("first response").seconds,
        answered_at.timestamp()
    );

    // Not yet due.
    server.clock.advance(chrono::Duration::seconds(299));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);

    // The warning is due: one SLA_WARNING event and one system message, however often the
    // sweeper runs.
    server.clock.advance(chrono::Duration::seconds(2));
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaWarning), 1);
    let system: Vec<pb::Message> = messages(&server, &room_id)
        .await
        .into_iter()
        .filter(|m| m.sender_type == pb::SenderType::System as i32)
        .collect();
    assert_eq!(system.len(), 1);
    assert!(
        system[0].body.contains("Are you still there?"),
        "{}",
        system[0].body
    );
    assert!(system[0].visible_to_customer);

    // The server restarts between the warning and the close.
    let server = server.restart().await;
    let mut admin = server.admin().await;
    server.clock.advance(chrono::Duration::seconds(298));
    server.app.sweep_timers().await.expect("sweep");
    assert_eq!(
        admin.get(&ticket.id).await.expect("t").status,
        pb::TicketStatus::Assigned as i32,
        "one second before the close nothing happens"
    );
    server.clock.advance(chrono::Duration::seconds(1));
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let closed = admin.get(&ticket.id).await.expect("ticket");
    assert_eq!(closed.status, pb::TicketStatus::Closed as i32);
    assert_eq!(
        closed.resolution.expect("resolution").status,
        pb::ResolutionStatus::CustomerLeftChat as i32
    );
    let metadata = closed.metadata.expect("m");
    assert!(metadata.chat_room_closed);
    assert!(metadata.auto_close_at.is_none());
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaWarning), 1);
    assert_eq!(count(&events, pb::TicketEventType::AutoClosed), 1);
    let system = messages(&server, &room_id)
        .await
        .into_iter()
        .filter(|m| m.sender_type == pb::SenderType::System as i32)
        .count();
    assert_eq!(system, 2, "one warning and one closing message");
    // The closing notice went in with the close, while the room was still open: its
    // MESSAGE_ADDED comes right before AUTO_CLOSED.
    let kinds: Vec<i32> = events.iter().map(|e| e.r#type).collect();
    let closed_at = kinds
        .iter()
        .position(|k| *k == pb::TicketEventType::AutoClosed as i32)
        .expect("closed");
    assert_eq!(kinds[closed_at - 1], pb::TicketEventType::MessageAdded as i32, "{kinds:?}");
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn a_customer_reply_stops_the_timers_and_email_has_none(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let chat = admin.create(new_ticket("cust-1")).await.expect("chat");
    admin.assign(&chat.id, AGENT).await.expect("assign");
    let room_id = chat.metadata.clone().expect("m").room_id;
    say(&server, AGENT, Role::Agent, &room_id, "Anything else?").await;
    server.clock.advance(chrono::Duration::seconds(200));
    say(
        &server,
        "cust-1",
        Role::Customer,
        &room_id,
        "Yes, one more thing",
    )
    .await;
    let metadata = admin.get(&chat.id).await.expect("t").metadata.expect("m");
    assert!(metadata.auto_close_warning_at.is_none() && metadata.auto_close_at.is_none());
    server.clock.advance(chrono::Duration::hours(1));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);

    // Timers run only while an agent holds the chat: a transfer stops them.
    say(
        &server,
        AGENT,
        Role::Agent,
        &room_id,
        "Let me transfer you.",
    )
    .await;
    let request = admin.req(pb::TransferTicketRequest {
        ticket_id: chat.id.clone(),
        queue_id: OTHER_QUEUE.into(),
        reason: "billing question".into(),
        expected_version: 0,
    });
    let moved = admin
        .client
        .transfer_ticket(request)
        .await
        .expect("transfer")
        .into_inner();
    assert!(
        moved
            .ticket
            .expect("t")
            .metadata
            .expect("m")
            .auto_close_at
            .is_none()
    );
    server.clock.advance(chrono::Duration::hours(1));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);

    let mut email = new_ticket("cust-2");
    email.channel = "email".into();
    let email = admin.create(email).await.expect("email");
    admin.assign(&email.id, AGENT).await.expect("assign");
    let email_room = email.metadata.clone().expect("m").room_id;
    say(
        &server,
        AGENT,
        Role::Agent,
        &email_room,
        "We are looking into it.",
    )
    .await;
    let metadata = admin.get(&email.id).await.expect("t").metadata.expect("m");
    assert!(metadata.auto_close_at.is_none(), "only chats time out");
    assert!(metadata.first_response_at.is_some());
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn due_dates_drive_the_overdue_and_due_today_filters(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    // 09:00; the queue's default SLA is 15 minutes; one ticket gets 2 days.
    let soon = admin.create(new_ticket("c1")).await.expect("soon");
    let mut later = new_ticket("c2");
    later.metadata = Some(pb::TicketMetadata {
        sla_seconds: 2 * 86_400,
        ..Default::default()
    });
    let later = admin.create(later).await.expect("later");
    let list = |filter: pb::TicketFilter| pb::ListTicketsRequest {
        filter: Some(filter),
        ..Default::default()
    };
    let ids = |response: pb::ListTicketsResponse| -> Vec<String> {
        response.tickets.into_iter().map(|t| t.id).collect()
    };
    let request = admin.req(list(pb::TicketFilter {
        due_today: true,
        ..Default::default()
    }));
    let due_today = ids(admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner());
    assert_eq!(due_today, vec![soon.id.clone()]);
    let request = admin.req(list(pb::TicketFilter {
        overdue: true,
        ..Default::default()
    }));
    assert!(
        ids(admin
            .client
            .list_tickets(request)
            .await
            .expect("list")
            .into_inner())
        .is_empty()
    );

    server.clock.advance(chrono::Duration::minutes(16));
    let request = admin.req(list(pb::TicketFilter {
        overdue: true,
        ..Default::default()
    }));
    let overdue = ids(admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner());
    assert_eq!(overdue, vec![soon.id.clone()]);
    assert!(
        !overdue.contains(&later.id),
        "a two-day SLA is not overdue after 16 minutes"
    );
    admin.close(&soon.id).await.expect("close");
    let request = admin.req(list(pb::TicketFilter {
        overdue: true,
        ..Default::default()
    }));
    assert!(
        ids(admin
            .client
            .list_tickets(request)
            .await
            .expect("list")
            .into_inner())
        .is_empty(),
        "closed tickets are not overdue"
    );
    server.stop().await;
}
}

both_backends! {
/// A message already under a timer's key (a service can write system messages) cannot jam the
/// timer: the chat still closes, once.
async fn a_squatted_notice_key_does_not_jam_the_timer(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let room_id = ticket.metadata.clone().expect("m").room_id;
    say(&server, AGENT, Role::Agent, &room_id, "Anything else?").await;
    let close_at = admin
        .get(&ticket.id)
        .await
        .expect("ticket")
        .metadata
        .expect("m")
        .auto_close_at
        .expect("timer");
    let micros = close_at.seconds * 1_000_000 + i64::from(close_at.nanos) / 1_000;
    let service = server.tickets("svc-bot", Role::Service).await;
    let mut client = ConversationServiceClient::new(server.channel().await);
    for key in [
        format!("sla-warning-{micros}"),
        format!("auto-close-{micros}"),
    ] {
        let request = service.req(pb::SendMessageRequest {
            room_id: room_id.clone(),
            sender_type: pb::SenderType::System as i32,
            sender_id: "casework".into(),
            client_message_id: key,
            body: "squatting".into(),
            ..Default::default()
        });
        client.send_message(request).await.expect("send");
    }
    server.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 1);
    server.clock.advance(chrono::Duration::seconds(300));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 1);
    let closed = admin.get(&ticket.id).await.expect("ticket");
    assert_eq!(closed.status, pb::TicketStatus::Closed as i32);
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaWarning), 1);
    assert_eq!(count(&events, pb::TicketEventType::AutoClosed), 1);
}
}

/// Two replicas on one PostgreSQL database sweep the same due timer at the same moment: it
/// fires once — one warning event, one notice.
#[tokio::test]
async fn a_due_timer_fires_once_when_two_replicas_sweep_together() {
    if !postgres_ready().await {
        return;
    }
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-2r")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let room_id = ticket.metadata.clone().expect("m").room_id;
    say(&server, AGENT, Role::Agent, &room_id, "Anything else?").await;

    let store = casework::store::connect(&server.database_url)
        .await
        .expect("second store");
    let replica = casework::app::App::new(
        store,
        std::sync::Arc::new(server.clock.clone()),
        server.config.clone(),
    )
    .await
    .expect("second replica");
    server.clock.advance(chrono::Duration::seconds(301));
    let (one, two) = tokio::join!(server.app.sweep_timers(), replica.sweep_timers());
    assert_eq!(one.expect("sweep") + two.expect("sweep"), 1, "fired once");
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaWarning), 1);
    let notices = messages(&server, &room_id)
        .await
        .into_iter()
        .filter(|m| m.sender_type == pb::SenderType::System as i32)
        .count();
    assert_eq!(notices, 1, "one notice");
}
