//! The SQLite store on a real file: group commit keeps each write's outcome its own, and what
//! was acknowledged survives a reopen.
use casework::app::write::{self, Created};
use casework::clock::from_micros;
use casework::domain::query::TicketKey;
use casework::domain::{Customer, EventType, Metadata, NewEvent, Ticket, TicketStatus};
use casework::error::Error;
use casework::error::Result;
use casework::store::{self, Store};
use std::collections::HashSet;

fn ticket(external_id: Option<String>) -> Ticket {
    let now = from_micros(1_767_225_600_000_000);
    Ticket {
        id: uuid::Uuid::now_v7().to_string(),
        number: 0,
        external_id,
        subject: "store test".into(),
        status: TicketStatus::Created,
        status_reason: "created".into(),
        status_changed_at: now,
        priority: 1,
        queue: "q".into(),
        channel: "chat".into(),
        ticket_type: String::new(),
        source: String::new(),
        assignee: None,
        last_assignee: None,
        bot_id: None,
        customer: Customer {
            id: "c".into(),
            ..Customer::default()
        },
        vendor: None,
        content: Default::default(),
        metadata: Metadata::default(),
        escalation: None,
        resolution: None,
        rating: None,
        created_at: now,
        updated_at: now,
        version: 1,
        unread_count: 0,
    }
}

/// Inserts a new ticket in a write of its own, as the app's CreateTicket does.
async fn create(store: &std::sync::Arc<dyn Store>, ticket: Ticket) -> Result<Created> {
    store
        .write(move |tx| {
            let ticket = ticket.clone();
            Box::pin(
                async move { write::insert_new(tx, ticket, "tester", created_event(), None).await },
            )
        })
        .await
}

fn created_event() -> Vec<NewEvent> {
    let mut event = NewEvent::new(EventType::Created, serde_json::json!({}));
    event.version = 1;
    vec![event]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_in_a_batch_does_not_take_the_others_down() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = store::connect(&url).await.expect("store");
    let mut writes = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        // Every fifth write reuses external id "dup": only one of them may win.
        let external = if i % 5 == 0 {
            "dup".to_string()
        } else {
            format!("ext-{i}")
        };
        writes.push(tokio::spawn(async move {
            create(&store, ticket(Some(external))).await
        }));
    }
    let (mut ok, mut duplicates) = (Vec::new(), 0);
    for write in writes {
        match write.await.expect("task") {
            Ok(Created::New(ticket, events)) => {
                assert_eq!(events.len(), 1);
                ok.push(ticket);
            }
            Ok(Created::Replayed(_)) => panic!("no idempotency key was given"),
            Err(Error::AlreadyExists(_)) => duplicates += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok.len(), 161);
    assert_eq!(duplicates, 39);
    let numbers: HashSet<i64> = ok.iter().map(|t| t.number).collect();
    assert_eq!(numbers.len(), ok.len(), "numbers are unique");
    assert_eq!(
        store.last_event_id().await.expect("events"),
        161,
        "no event of a failed write"
    );
    for ticket in &ok {
        let stored = store
            .get_ticket(&TicketKey::Id(ticket.id.clone()))
            .await
            .expect("read")
            .expect("present");
        assert_eq!(&stored, ticket);
    }
    store.close().await;

    // Acknowledged means durable: reopen the file and find every ticket.
    let reopened = store::connect(&url).await.expect("reopen");
    for ticket in &ok {
        assert!(
            reopened
                .get_ticket(&TicketKey::Number(ticket.number))
                .await
                .expect("read")
                .is_some()
        );
    }
    reopened.close().await;
}

#[tokio::test]
async fn a_lone_failing_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("lone.db").display());
    let store = store::connect(&url).await.expect("store");
    let first = create(&store, ticket(Some("same".into())))
        .await
        .expect("first");
    assert!(matches!(first, Created::New(..)));
    // Alone in its batch (nothing else is writing), the duplicate fails as a whole.
    let duplicate = create(&store, ticket(Some("same".into()))).await;
    assert!(
        matches!(duplicate, Err(Error::AlreadyExists(_))),
        "{duplicate:?}"
    );
    assert_eq!(
        store.last_event_id().await.expect("events"),
        1,
        "its event was rolled back"
    );
    let next = create(&store, ticket(Some("other".into())))
        .await
        .expect("the writer goes on");
    let Created::New(next, _) = next else {
        panic!("expected a new ticket");
    };
    assert_eq!(next.number, 2, "the failed insert used no number");
    store.close().await;
}

/// A corrupt row is an error, never silently defaulted: a bad role must not become `agent`.
#[tokio::test]
async fn a_corrupt_agent_row_is_an_error() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("corrupt.db").display());
    let store = store::connect(&url).await.expect("store");
    let agent = casework::domain::Agent {
        id: "a@example.com".into(),
        name: "A".into(),
        role: casework::domain::AgentRole::Admin,
        status: "offline".into(),
        status_alias: "Offline".into(),
        last_login_at: None,
        status_updated_at: None,
        queues: vec!["q".into()],
        languages: vec![],
        max_concurrent: 3,
    };
    store.upsert_agent(&agent).await.expect("agent");
    assert_eq!(store.get_agent(&agent.id).await.expect("read"), Some(agent));
    let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
    sqlx::query("UPDATE agents SET role = 'OVERLORD' WHERE id = 'a@example.com'")
        .execute(&mut raw)
        .await
        .expect("corrupt");
    raw.close().await.expect("close");
    let read = store.get_agent("a@example.com").await;
    assert!(
        matches!(&read, Err(Error::Internal(message)) if message.contains("OVERLORD")),
        "{read:?}"
    );
    store.close().await;
}
