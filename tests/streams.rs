//! WatchTickets: live events from the event log, resumable with `after_event_id`.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use common::*;
use tokio_stream::StreamExt;

async fn watch(
    client: &mut Tickets,
    request: pb::WatchTicketsRequest,
) -> tonic::Streaming<pb::WatchTicketsResponse> {
    let request = client.req(request);
    client
        .client
        .watch_tickets(request)
        .await
        .expect("watch")
        .into_inner()
}

async fn next_event(stream: &mut tonic::Streaming<pb::WatchTicketsResponse>) -> pb::TicketEvent {
    stream
        .next()
        .await
        .expect("stream ended")
        .expect("stream error")
        .event
        .expect("event")
}

both_backends! {
#[tokio::test]
async fn a_watcher_resumes_without_missing_or_repeating(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut watcher = admin.clone();
    let mut stream = watch(&mut watcher, pb::WatchTicketsRequest::default()).await;

    let ticket = admin.create(new_ticket("cust-w")).await.expect("create");
    let created = next_event(&mut stream).await;
    assert_eq!(created.r#type, pb::TicketEventType::Created as i32);
    assert_eq!(created.ticket_id, ticket.id);

    // The watcher goes away; changes happen meanwhile.
    drop(stream);
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    admin.close(&ticket.id).await.expect("close");
    let other = admin.create(new_ticket("cust-w2")).await.expect("other");

    let mut resumed = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            after_event_id: created.id,
            ..Default::default()
        },
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_event(&mut resumed).await);
    }
    let types: Vec<i32> = got.iter().map(|e| e.r#type).collect();
    assert_eq!(
        types,
        vec![
            pb::TicketEventType::Assigned as i32,
            pb::TicketEventType::Closed as i32,
            pb::TicketEventType::Created as i32,
        ]
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(got[2].ticket_id, other.id);

    // And live again after catching up.
    admin
        .assign(&other.id, OTHER_AGENT)
        .await
        .expect("assign other");
    let live = next_event(&mut resumed).await;
    assert_eq!(live.r#type, pb::TicketEventType::Assigned as i32);
    assert_eq!(live.id, got[2].id + 1);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn watchers_hear_of_what_their_scope_covered_at_each_event(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;

    // Customers follow WatchRoom; the audit trail is not theirs.
    let mut customer = server.tickets("cust-a", Role::Customer).await;
    let request = customer.req(pb::WatchTicketsRequest::default());
    let refused = customer.client.watch_tickets(request).await;
    assert_code(refused, tonic::Code::PermissionDenied);

    // A queue watcher sees a ticket arrive and also leave its queue.
    let mut watcher = admin.clone();
    let mut other_queue = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            queues: vec![OTHER_QUEUE.into()],
            ..Default::default()
        },
    )
    .await;
    // An agent hears of waiting tickets of its queue, and of a colleague taking one.
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let mut agent_stream = watch(&mut agent, pb::WatchTicketsRequest::default()).await;

    let mut elsewhere = new_ticket("cust-c");
    elsewhere.queue = OTHER_QUEUE.into();
    let elsewhere = admin.create(elsewhere).await.expect("other queue");
    let waiting = admin.create(new_ticket("cust-b")).await.expect("waiting");
    let event = next_event(&mut other_queue).await;
    assert_eq!(
        event.ticket_id, elsewhere.id,
        "only the watched queue is streamed"
    );
    let request = admin.req(pb::TransferTicketRequest {
        ticket_id: elsewhere.id.clone(),
        queue_id: QUEUE.into(),
        reason: "wrong queue".into(),
        expected_version: 0,
    });
    admin
        .client
        .transfer_ticket(request)
        .await
        .expect("transfer");
    let event = next_event(&mut other_queue).await;
    assert_eq!(event.r#type, pb::TicketEventType::Transferred as i32);
    assert_eq!(
        event.ticket_id, elsewhere.id,
        "the ticket leaving the queue is streamed"
    );

    let first = agent_stream.next().await.expect("item").expect("ok");
    assert_eq!(
        first.event.expect("event").ticket_id,
        waiting.id,
        "the other queue's ticket is not streamed"
    );
    assert_eq!(
        first.ticket.expect("waiting ticket is visible").id,
        waiting.id
    );
    // Then the transfer into its queue, then a colleague takes the waiting ticket.
    let arrived = agent_stream.next().await.expect("item").expect("ok");
    assert_eq!(arrived.event.expect("event").ticket_id, elsewhere.id);
    admin
        .assign(&waiting.id, OTHER_AGENT)
        .await
        .expect("colleague takes it");
    let taken = agent_stream.next().await.expect("item").expect("ok");
    let event = taken.event.expect("event");
    assert_eq!(
        (event.r#type, event.ticket_id),
        (pb::TicketEventType::Assigned as i32, waiting.id.clone())
    );
    assert!(
        taken.ticket.is_none(),
        "the colleague's ticket itself is no longer shown"
    );
    // What happens to the colleague's ticket from then on is not the agent's to hear.
    admin.close(&waiting.id).await.expect("close");
    let next = admin.create(new_ticket("cust-d")).await.expect("next");
    let event = next_event(&mut agent_stream).await;
    assert_eq!(
        event.ticket_id, next.id,
        "the close of the colleague's ticket was not streamed"
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watcher_delays_neither_writers_nor_other_watchers(backend: Backend) {
    let config = casework::app::AppConfig {
        stream_buffer: 4,
        ..casework::app::AppConfig::default()
    };
    let server =
        TestServer::start_configured_on(backend, config, casework::config::ServerOptions::default()).await;
    let mut admin = server.admin().await;
    // The stalled watcher opens its stream and then reads nothing.
    let mut stalled_client = admin.clone();
    let mut stalled = watch(&mut stalled_client, pb::WatchTicketsRequest::default()).await;
    let mut live_client = admin.clone();
    let mut live = watch(&mut live_client, pb::WatchTicketsRequest::default()).await;

    // Far more events than the buffers hold: writers never wait for the stalled one...
    let mut created = Vec::new();
    for i in 0..300 {
        created.push(
            admin
                .create(new_ticket(&format!("flood-{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    // ...and the other watcher gets every one of them, in order.
    let mut seen = Vec::new();
    while seen.len() < created.len() {
        seen.push(next_event(&mut live).await.ticket_id);
    }
    assert_eq!(seen, created);

    // The stalled watcher, once it reads, catches up from the store: all, once, in order.
    let mut caught_up = Vec::new();
    while caught_up.len() < created.len() {
        caught_up.push(next_event(&mut stalled).await.ticket_id);
    }
    assert_eq!(caught_up, created);
    server.stop().await;
}
}

/// A raw PostgreSQL transaction holding the ticket's row, as a write does before it takes
/// event ids.
async fn begin_holding(url: &str, ticket_id: &str) -> sqlx::PgConnection {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    conn.execute("BEGIN").await.expect("begin");
    sqlx::query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
        .bind(ticket_id)
        .execute(&mut conn)
        .await
        .expect("lock");
    conn
}

/// An event of the ticket inserted in that transaction; its id.
async fn insert_event(conn: &mut sqlx::PgConnection, ticket_id: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO ticket_events (ticket_id, event_type, actor, at, version, payload, queue, \
         previous_queue, customer_id) SELECT id, 'UPDATE_FIELD', 'test', 0, version, '{}', \
         queue, queue, customer_id FROM tickets WHERE id = $1 RETURNING id",
    )
    .bind(ticket_id)
    .fetch_one(conn)
    .await
    .expect("event")
}

/// Two interleaved PostgreSQL transactions take event ids N and N+1 and commit N+1 first. A
/// stream must not hand out N+1 before N (its client would resume after N+1 and never hear
/// of N): it waits for N's transaction, then delivers both in order; a stream resumed between
/// the two commits misses nothing either.
#[tokio::test]
async fn an_event_committed_after_a_later_one_is_not_skipped() {
    use sqlx::Executor;
    if !postgres_ready().await {
        return;
    }
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = server.admin().await;
    let held = admin.create(new_ticket("cust-held")).await.expect("create");
    let other = admin
        .create(new_ticket("cust-other"))
        .await
        .expect("create");
    let before = admin.events(&other.id).await.expect("events");
    let last_before = before.last().expect("created").id;
    let mut watcher = admin.clone();
    let mut live = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            after_event_id: last_before,
            ..Default::default()
        },
    )
    .await;

    // Transaction 1 locks its ticket and takes an event id, and stays open.
    let mut slow = begin_holding(&server.database_url, &held.id).await;
    let early = insert_event(&mut slow, &held.id).await;

    // Transaction 2 (a real call) takes a later id and commits first.
    admin.assign(&other.id, AGENT).await.expect("assign");
    let late = admin
        .events(&other.id)
        .await
        .expect("events")
        .last()
        .expect("assigned")
        .id;
    assert!(late > early, "ids {early} then {late}");
    // A client resuming now, between the two commits.
    let mut resumed = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            after_event_id: last_before,
            ..Default::default()
        },
    )
    .await;

    slow.execute("COMMIT").await.expect("commit");
    for stream in [&mut live, &mut resumed] {
        let first = next_event(stream).await;
        let second = next_event(stream).await;
        assert_eq!(
            (first.id, second.id),
            (early, late),
            "the earlier id first, none skipped"
        );
    }
}

/// The other interleaving: the transaction that holds the *older* transaction id takes the
/// *later* event id and commits first, while the younger one still holds the earlier event
/// id. The committed position stays below the earlier id until its transaction is over, and
/// a stream then delivers both, in order.
#[tokio::test]
async fn a_younger_transaction_holding_an_earlier_id_holds_the_position() {
    use sqlx::Executor;
    if !postgres_ready().await {
        return;
    }
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = server.admin().await;
    let first = admin.create(new_ticket("cust-a")).await.expect("create");
    let second = admin.create(new_ticket("cust-b")).await.expect("create");
    let last_before = admin
        .events(&second.id)
        .await
        .expect("events")
        .last()
        .expect("created")
        .id;
    let mut watcher = admin.clone();
    let mut stream = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            after_event_id: last_before,
            ..Default::default()
        },
    )
    .await;

    // Older transaction id, later event id.
    let mut older = begin_holding(&server.database_url, &first.id).await;
    let mut younger = begin_holding(&server.database_url, &second.id).await;
    let earlier = insert_event(&mut younger, &second.id).await;
    let later = insert_event(&mut older, &first.id).await;
    assert!(later > earlier);
    older.execute("COMMIT").await.expect("commit older");

    // Twice: once to see the gap, once more to judge it.
    for _ in 0..2 {
        let position = server.app.store().committed_now().await.expect("position");
        assert!(
            position < earlier,
            "the position {position} passed {earlier}, still uncommitted"
        );
    }
    younger.execute("COMMIT").await.expect("commit younger");
    let got = (
        next_event(&mut stream).await.id,
        next_event(&mut stream).await.id,
    );
    assert_eq!(got, (earlier, later), "both, in order");
}

/// A gap in the event log (a transaction holding an event id, open) holds event streams, but
/// not a room: its messages commit in order under the ticket's lock and reach the watcher at
/// once.
#[tokio::test]
async fn a_gap_in_the_event_log_does_not_hold_a_room() {
    use casework::pb::conversation_service_client::ConversationServiceClient;
    use sqlx::Executor;
    if !postgres_ready().await {
        return;
    }
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = server.admin().await;
    let chat = admin.create(new_ticket("cust-room")).await.expect("create");
    let other = admin.create(new_ticket("cust-gap")).await.expect("create");
    let room_id = chat.metadata.expect("metadata").room_id;
    let mut rooms = ConversationServiceClient::new(server.channel().await);
    let request = admin.req(pb::WatchRoomRequest {
        room_id: room_id.clone(),
        after_message_id: String::new(),
    });
    let mut stream = rooms.watch_room(request).await.expect("watch").into_inner();

    let mut open = begin_holding(&server.database_url, &other.id).await;
    insert_event(&mut open, &other.id).await;
    let request = admin.req(pb::SendMessageRequest {
        room_id,
        body: "still there?".into(),
        ..Default::default()
    });
    rooms.send_message(request).await.expect("send");
    // Bounded so that a regression fails instead of hanging; it does not time anything.
    let message = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
        .await
        .expect("the room waited on the event log's gap")
        .expect("item")
        .expect("ok")
        .message
        .expect("message");
    assert_eq!(message.body, "still there?");
    open.execute("ROLLBACK").await.expect("rollback");
}

both_backends! {
#[tokio::test]
async fn live_streams_filter_the_shared_feed_as_the_store_does(backend: Backend) {
    // Every live stream of a process is fed by one reader of the event log and filters its
    // batches in memory; what each delivers must be exactly what the store's own query for
    // its filter and scope returns.
    use casework::domain::query::{Scope, WatchFilter};
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let mut supervisor = server.tickets(SUPERVISOR, Role::Supervisor).await;
    let marker = admin.create(new_ticket("cust-0")).await.expect("marker");
    let start = admin.events(&marker.id).await.expect("events")[0].id;
    let resume = |mut request: pb::WatchTicketsRequest| {
        request.after_event_id = start;
        request
    };
    let queue_of = |queue: &str| pb::WatchTicketsRequest {
        queues: vec![queue.into()],
        ..Default::default()
    };
    let agent_scope = Scope::Agent {
        id: AGENT.into(),
        queues: vec![QUEUE.into()],
        queue_wide: false,
    };
    let mut watched = [
        (
            watch(&mut admin, resume(queue_of(OTHER_QUEUE))).await,
            WatchFilter {
                queues: vec![OTHER_QUEUE.into()],
                ..WatchFilter::default()
            },
            Scope::All,
        ),
        (
            watch(&mut agent, resume(pb::WatchTicketsRequest::default())).await,
            WatchFilter::default(),
            agent_scope.clone(),
        ),
        (
            watch(&mut supervisor, resume(queue_of(QUEUE))).await,
            WatchFilter {
                queues: vec![QUEUE.into()],
                ..WatchFilter::default()
            },
            Scope::Agent {
                id: SUPERVISOR.into(),
                queues: vec![QUEUE.into(), OTHER_QUEUE.into()],
                queue_wide: true,
            },
        ),
        (
            watch(
                &mut admin,
                resume(pb::WatchTicketsRequest {
                    assignee: AGENT.into(),
                    ..Default::default()
                }),
            )
            .await,
            WatchFilter {
                assignee: Some(AGENT.into()),
                ..WatchFilter::default()
            },
            Scope::All,
        ),
    ];

    // Tickets arrive in both queues, are taken, handed over, moved and closed.
    let mut ids = Vec::new();
    for (i, queue) in [QUEUE, OTHER_QUEUE, QUEUE, OTHER_QUEUE].into_iter().enumerate() {
        let mut request = new_ticket(&format!("cust-{i}"));
        request.queue = queue.into();
        ids.push(admin.create(request).await.expect("create").id);
    }
    admin.assign(&ids[0], AGENT).await.expect("assign");
    admin.assign(&ids[1], OTHER_AGENT).await.expect("assign");
    admin.assign(&ids[2], OTHER_AGENT).await.expect("assign");
    let request = admin.req(pb::ReassignTicketRequest {
        ticket_id: ids[2].clone(),
        agent_id: AGENT.into(),
        ..Default::default()
    });
    admin.client.reassign_ticket(request).await.expect("reassign");
    let request = admin.req(pb::TransferTicketRequest {
        ticket_id: ids[3].clone(),
        queue_id: QUEUE.into(),
        reason: "wrong queue".into(),
        expected_version: 0,
    });
    admin.client.transfer_ticket(request).await.expect("transfer");
    admin.close(&ids[0]).await.expect("close");
    admin.close(&ids[1]).await.expect("close");

    let upto = server.app.store().committed_now().await.expect("position");
    // Then one change every watcher hears of: where each stream's delivery must go on.
    let mut last = new_ticket("cust-last");
    last.queue = OTHER_QUEUE.into();
    let last = admin.create(last).await.expect("last");
    admin.assign(&last.id, AGENT).await.expect("assign last");
    let request = admin.req(pb::TransferTicketRequest {
        ticket_id: last.id.clone(),
        queue_id: QUEUE.into(),
        reason: "ours".into(),
        expected_version: 0,
    });
    admin.client.transfer_ticket(request).await.expect("transfer last");

    for (i, (stream, filter, scope)) in watched.iter_mut().enumerate() {
        let expected: Vec<i64> = server
            .app
            .store()
            .watch_events(start, upto, filter, scope, 1000)
            .await
            .expect("store's answer")
            .iter()
            .map(|w| w.event.id)
            .collect();
        assert!(!expected.is_empty(), "watcher {i} has something to hear");
        let mut got = Vec::new();
        for _ in &expected {
            got.push(next_event(stream).await.id);
        }
        assert_eq!(got, expected, "watcher {i} heard what the store says it should");
        let next = next_event(stream).await;
        assert_eq!(
            next.ticket_id, last.id,
            "watcher {i} heard nothing more before the last ticket"
        );
    }
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn an_event_the_feed_cannot_read_holds_only_the_streams_it_concerns(backend: Backend) {
    // A row the shared feed cannot decode (say, an event type a newer replica wrote) must
    // not hold streams whose filter never matches it: they read from the store themselves.
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut elsewhere = new_ticket("cust-x");
    elsewhere.queue = OTHER_QUEUE.into();
    let elsewhere = admin.create(elsewhere).await.expect("other queue");
    let mut watcher = admin.clone();
    let mut stream = watch(
        &mut watcher,
        pb::WatchTicketsRequest {
            queues: vec![QUEUE.into()],
            ..Default::default()
        },
    )
    .await;
    server
        .scalar(&format!(
            "INSERT INTO ticket_events (ticket_id, event_type, actor, at, version, payload, \
             queue, customer_id) VALUES ('{}', 'NOT_A_TYPE', 'newer-replica', 0, 1, '{{}}', \
             '{OTHER_QUEUE}', 'cust-x') RETURNING id",
            elsewhere.id
        ))
        .await;
    let ticket = admin.create(new_ticket("cust-y")).await.expect("create");
    let event = next_event(&mut stream).await;
    assert_eq!(
        (event.ticket_id, event.r#type),
        (ticket.id, pb::TicketEventType::Created as i32)
    );
    server.stop().await;
}
}

/// Events of the resume test (`CASEWORK_STREAM_EVENTS`, 10,000 by default).
fn stream_events() -> usize {
    std::env::var("CASEWORK_STREAM_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Every event id in the log after `after`, in order, read straight from the database.
async fn logged_ids(server: &TestServer, after: i64) -> Vec<i64> {
    use sqlx::Connection;
    const SQL: &str = "SELECT id FROM ticket_events WHERE id > $1 ORDER BY id";
    if server.database.is_some() {
        let mut raw = sqlx::PgConnection::connect(&server.database_url)
            .await
            .expect("raw");
        sqlx::query_scalar(SQL)
            .bind(after)
            .fetch_all(&mut raw)
            .await
            .expect("ids")
    } else {
        let mut raw = sqlx::SqliteConnection::connect(&server.database_url)
            .await
            .expect("raw");
        sqlx::query_scalar(SQL)
            .bind(after)
            .fetch_all(&mut raw)
            .await
            .expect("ids")
    }
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_dropped_at_random_and_resumed_miss_and_repeat_nothing(backend: Backend) {
    use rand::Rng;
    let server = std::sync::Arc::new(TestServer::start_on(backend).await);
    let admin = server.admin().await;
    let events = stream_events();
    let (last_tx, last_rx) = tokio::sync::watch::channel(i64::MAX);

    // Four watchers, each subscribed before the first write, then dropped after a random
    // number of events (sometimes with its whole connection) and resumed from its last id.
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let mut client = server.admin().await;
        let mut stream = watch(&mut client, pb::WatchTicketsRequest::default()).await;
        let (server, mut last_rx) = (server.clone(), last_rx.clone());
        watchers.push(tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut resumes = 0;
            loop {
                let budget = rand::rng().random_range(1..=400);
                for _ in 0..budget {
                    let event = tokio::select! {
                        event = next_event(&mut stream) => event,
                        // Caught up with the last write: done.
                        _ = last_rx.wait_for(|last| seen.last() >= Some(last)) => return (seen, resumes),
                    };
                    seen.push(event.id);
                }
                drop(stream);
                if rand::rng().random_bool(0.3) {
                    client = server.admin().await;
                }
                resumes += 1;
                // Never 0 here (that would mean "from now on"): each turn heard something.
                let after = *seen.last().expect("heard at least one event");
                stream = watch(
                    &mut client,
                    pb::WatchTicketsRequest {
                        after_event_id: after,
                        ..Default::default()
                    },
                )
                .await;
            }
        }));
    }

    let mut writers = Vec::new();
    for w in 0..8 {
        let mut admin = admin.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..events).step_by(8) {
                admin
                    .create(new_ticket(&format!("resume-{i}")))
                    .await
                    .expect("create");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let logged = logged_ids(&server, 0).await;
    assert_eq!(logged.len(), events, "one event per create");
    last_tx.send(*logged.last().expect("events")).expect("watchers listen");
    for watcher in watchers {
        let (seen, resumes) = watcher.await.expect("watcher");
        assert!(resumes > 0, "the watcher was dropped and resumed");
        assert_eq!(seen.len(), logged.len(), "no gap, no repeat ({resumes} resumes)");
        assert_eq!(seen, logged, "in the log's order");
    }
}
}
