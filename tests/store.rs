//! Each store on a real database: concurrent writes keep their outcomes their own (SQLite's
//! group commit, PostgreSQL's row locks and retried transactions), and what was acknowledged
//! survives a reopen.
#[macro_use]
mod common;

use casework::app::write::{self, Created};
use casework::clock::from_micros;
use casework::domain::query::TicketKey;
use casework::domain::{Customer, EventType, Metadata, NewEvent, Ticket, TicketStatus};
use casework::error::Error;
use casework::error::Result;
use casework::store::{self, IdempotencyKey, Store};
use common::{Backend, PostgresDatabase};
use std::collections::HashSet;

/// A fresh, empty database on `backend`: its URL, and what keeps it alive.
struct Database {
    url: String,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresDatabase>,
}

async fn database(backend: Backend) -> Database {
    let dir = tempfile::tempdir().expect("dir");
    match backend {
        Backend::Sqlite => Database {
            url: format!("sqlite://{}", dir.path().join("s.db").display()),
            _dir: dir,
            _postgres: None,
        },
        Backend::Postgres => {
            let postgres = PostgresDatabase::create().await;
            Database {
                url: postgres.url.clone(),
                _dir: dir,
                _postgres: Some(postgres),
            }
        }
    }
}

/// Runs `sql` on a connection of its own, behind the store's back.
async fn raw(backend: Backend, url: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    match backend {
        Backend::Sqlite => {
            let mut raw = sqlx::SqliteConnection::connect(url).await.expect("raw");
            raw.execute(sql).await.expect("raw sql");
            raw.close().await.expect("close");
        }
        Backend::Postgres => {
            let mut raw = sqlx::PgConnection::connect(url).await.expect("raw");
            raw.execute(sql).await.expect("raw sql");
            raw.close().await.expect("close");
        }
    }
}

/// How many events the database holds (not the last id: PostgreSQL may skip ids).
async fn event_count(backend: Backend, url: &str) -> i64 {
    use sqlx::Connection;
    const COUNT: &str = "SELECT COUNT(*) FROM ticket_events";
    match backend {
        Backend::Sqlite => {
            let mut raw = sqlx::SqliteConnection::connect(url).await.expect("raw");
            sqlx::query_scalar(COUNT)
                .fetch_one(&mut raw)
                .await
                .expect("count")
        }
        Backend::Postgres => {
            let mut raw = sqlx::PgConnection::connect(url).await.expect("raw");
            sqlx::query_scalar(COUNT)
                .fetch_one(&mut raw)
                .await
                .expect("count")
        }
    }
}

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

/// Inserts a new ticket in a write of its own (CreateTicket's insert step, without its
/// routing or initial message).
async fn create(store: &std::sync::Arc<dyn Store>, ticket: Ticket) -> Result<Created> {
    create_keyed(store, ticket, None).await
}

async fn create_keyed(
    store: &std::sync::Arc<dyn Store>,
    ticket: Ticket,
    key: Option<IdempotencyKey>,
) -> Result<Created> {
    store
        .write(move |tx| {
            let (ticket, key) = (ticket.clone(), key.clone());
            Box::pin(async move {
                write::insert_new(tx, ticket, "tester", created_event(), key.as_ref()).await
            })
        })
        .await
}

fn created_event() -> Vec<NewEvent> {
    let mut event = NewEvent::new(EventType::Created, serde_json::json!({}));
    event.version = 1;
    vec![event]
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// 200 concurrent creates, every fifth with the same external id: on SQLite they share group
/// commits, on PostgreSQL they race for the unique key. Exactly the others succeed, with
/// unique numbers, and no failed write leaves an event.
async fn a_failing_write_in_a_batch_does_not_take_the_others_down(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
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
        event_count(backend, &url).await,
        161,
        "no event of a failed write"
    );
    if backend == Backend::Sqlite {
        assert_eq!(*store.commits().borrow(), 161, "the committed position");
    }
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

async fn a_lone_failing_write_leaves_nothing_behind(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
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
        event_count(backend, &url).await,
        1,
        "its event was rolled back"
    );
    let next = create(&store, ticket(Some("other".into())))
        .await
        .expect("the writer goes on");
    let Created::New(next, _) = next else {
        panic!("expected a new ticket");
    };
    let Created::New(first, _) = first else {
        unreachable!()
    };
    match backend {
        Backend::Sqlite => assert_eq!(next.number, 2, "the failed insert used no number"),
        // A sequence never hands a number out twice, even one a rolled-back write took.
        Backend::Postgres => assert!(next.number > first.number),
    }
    store.close().await;
}

/// A corrupt row is an error, never silently defaulted: a bad role must not become `agent`.
async fn a_corrupt_agent_row_is_an_error(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
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
    raw(
        backend,
        &url,
        "UPDATE agents SET role = 'OVERLORD' WHERE id = 'a@example.com'",
    )
    .await;
    let read = store.get_agent("a@example.com").await;
    assert!(
        matches!(&read, Err(Error::Internal(message)) if message.contains("OVERLORD")),
        "{read:?}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// Concurrent creates with one idempotency key: one ticket, every other caller gets it back
/// (on PostgreSQL the losers of the race for the key run again and find the winner's ticket).
async fn concurrent_creates_with_one_key_make_one_ticket(backend: Backend) {
    let database = database(backend).await;
    let store = store::connect(&database.url).await.expect("store");
    let key = IdempotencyKey {
        scope: "tester".into(),
        key: "request-1".into(),
        fingerprint: "same request".into(),
    };
    let mut writes = Vec::new();
    for _ in 0..40 {
        let (store, key) = (store.clone(), key.clone());
        writes.push(tokio::spawn(async move {
            create_keyed(&store, ticket(None), Some(key)).await
        }));
    }
    let (mut new, mut replayed) = (Vec::new(), Vec::new());
    for write in writes {
        match write.await.expect("task").expect("create") {
            Created::New(ticket, _) => new.push(ticket.id),
            Created::Replayed(ticket) => replayed.push(ticket.id),
        }
    }
    assert_eq!(new.len(), 1, "one ticket");
    assert_eq!(replayed.len(), 39);
    assert!(replayed.iter().all(|id| id == &new[0]), "every replay is that ticket");
    assert_eq!(event_count(backend, &database.url).await, 1);
    store.close().await;
}
}
