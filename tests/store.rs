//! Each store on a real database: concurrent writes keep their outcomes their own (SQLite's
//! group commit, PostgreSQL's row locks and retried transactions), and what was acknowledged
//! survives a reopen.
#[macro_use]
mod common;

use casework::app::write::{self, Created};
use casework::clock::from_micros;
use casework::domain::query::{CustomerKey, Reader, Scope, TicketKey};
use casework::domain::{
    Agent, AgentRole, Customer, CustomerIdentity, EventType, Metadata, NewEvent, Ticket,
    TicketStatus,
};
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
    count(backend, url, "SELECT COUNT(*) FROM ticket_events").await
}

/// The number `sql` (a `SELECT COUNT(*) …`) answers, read behind the store's back.
async fn count(backend: Backend, url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut raw = sqlx::SqliteConnection::connect(url).await.expect("raw");
            sqlx::query_scalar(sql)
                .fetch_one(&mut raw)
                .await
                .expect("count")
        }
        Backend::Postgres => {
            let mut raw = sqlx::PgConnection::connect(url).await.expect("raw");
            sqlx::query_scalar(sql)
                .fetch_one(&mut raw)
                .await
                .expect("count")
        }
    }
}

/// Brings a fresh database to migration `version` (and no further), as an older build left it.
async fn migrate_to(backend: Backend, url: &str, version: i64) {
    use sqlx::Connection;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let older = tempfile::tempdir().expect("dir");
    for entry in std::fs::read_dir(&all).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let number: i64 = name
            .split('_')
            .next()
            .unwrap_or_default()
            .parse()
            .expect("NNNN_");
        if number <= version {
            std::fs::copy(&path, older.path().join(name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(older.path().to_path_buf())
        .await
        .expect("migrator");
    match backend {
        Backend::Sqlite => {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .expect("url")
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("connect");
            migrator.run(&mut conn).await.expect("migrate");
            conn.close().await.expect("close");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            migrator.run(&mut conn).await.expect("migrate");
            conn.close().await.expect("close");
        }
    }
}

fn agent(id: &str, queues: &[&str], languages: &[&str]) -> Agent {
    Agent {
        id: id.into(),
        name: id.into(),
        role: AgentRole::Agent,
        status: "online".into(),
        status_alias: "Online".into(),
        last_login_at: None,
        status_updated_at: None,
        queues: queues.iter().map(|q| q.to_string()).collect(),
        languages: languages.iter().map(|l| l.to_string()).collect(),
        max_concurrent: 3,
    }
}

fn identity(channel: &str, social_id: &str) -> CustomerIdentity {
    CustomerIdentity {
        channel: channel.into(),
        social_id: social_id.into(),
    }
}

/// The ids of the rooms of the customer with this identity.
async fn rooms_of(
    store: &std::sync::Arc<dyn Store>,
    channel: &str,
    social_id: &str,
) -> Vec<String> {
    let key = CustomerKey::Identity {
        channel: channel.into(),
        social_id: social_id.into(),
    };
    let reader = Reader {
        id: "tester".into(),
        sees_internal: true,
    };
    let rooms = store
        .customer_rooms(&key, &reader, &Scope::All, None, 10)
        .await
        .expect("rooms");
    rooms.into_iter().map(|room| room.id).collect()
}

/// The ids of the agents `list_agents` gives for `queue`.
async fn agents_of(store: &std::sync::Arc<dyn Store>, queue: &str) -> Vec<String> {
    let agents = store
        .list_agents(Some(queue), None, None, 10)
        .await
        .expect("agents");
    agents.into_iter().map(|agent| agent.id).collect()
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
        severity: Default::default(),
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
        sla: Default::default(),
        metrics: Default::default(),
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

/// One generated change of the report test below: slot, shard, group and duration from `n`.
fn report_change(n: i64) -> casework::domain::report::ReportDelta {
    use casework::domain::report::{Counts, DurationKind, GroupKey, ReportDelta, SHARDS};
    let group = GroupKey {
        queue: format!("q{}", n % 2),
        agent: format!("a{}", n % 3),
        channel: format!("c{}", n % 5 % 2),
    };
    ReportDelta {
        slot: 100 + n % 4,
        shard: n % SHARDS,
        counts: vec![(
            group.clone(),
            Counts {
                created: 1,
                backlog: 1,
                ..Counts::default()
            },
        )],
        durations: vec![(group, DurationKind::Resolution, n)],
    }
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

/// Requeueing an agent's tickets when it goes offline runs after its status change commits;
/// if the agent is receiving again by then (a later status change won), it keeps its tickets,
/// or waiting tickets would wait beside an agent with room that nothing refills.
async fn a_requeue_that_lost_to_a_return_online_keeps_the_tickets(backend: Backend) {
    let database = database(backend).await;
    let store = store::connect(&database.url).await.expect("store");
    let mut ana = agent("ana@example.com", &["q"], &[]);
    store.upsert_agent(&ana).await.expect("agent");
    let Created::New(waiting, _) = create(&store, ticket(None)).await.expect("create") else {
        panic!("a new ticket");
    };
    let now = waiting.created_at;
    let requeue = || {
        store.write(move |tx| {
            Box::pin(async move { write::requeue(tx, "ana@example.com", &["chat".into()], now).await })
        })
    };
    let routed = store
        .write(move |tx| Box::pin(async move { write::fill(tx, "ana@example.com", now).await }))
        .await
        .expect("fill");
    assert_eq!(routed.len(), 1, "ana takes the waiting ticket");
    assert!(requeue().await.expect("requeue").is_empty(), "ana is online: nothing requeued");
    ana.status = "offline".into();
    store
        .set_agent_status(&ana, "online", "tester")
        .await
        .expect("offline");
    let requeued = requeue().await.expect("requeue");
    assert_eq!(requeued.len(), 1, "offline: the ticket goes back");
    assert_eq!(requeued[0].0.status, TicketStatus::Created);
    store.close().await;
}

/// An agent's queues and languages live in tables of their own: they come back in the order
/// given, `list_agents` filters on them, routing reads them, and an upsert replaces them.
async fn agent_lists_round_trip_and_filter_through_their_tables(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
    let store = store::connect(&url).await.expect("store");
    let ann = agent("ann@example.com", &["billing", "auth"], &["en", "de"]);
    let bob = agent("bob@example.com", &["auth"], &[]);
    for agent in [&ann, &bob] {
        store.upsert_agent(agent).await.expect("agent");
    }
    assert_eq!(store.get_agent(&ann.id).await.expect("read"), Some(ann.clone()));
    assert_eq!(store.get_agent(&bob.id).await.expect("read"), Some(bob.clone()));
    let listed = store.list_agents(None, None, None, 10).await.expect("agents");
    assert_eq!(listed, [ann.clone(), bob.clone()]);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM agent_queues").await, 3);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM agent_languages").await, 2);
    assert_eq!(agents_of(&store, "auth").await, ["ann@example.com", "bob@example.com"]);
    assert_eq!(agents_of(&store, "billing").await, ["ann@example.com"]);
    assert!(agents_of(&store, "sales").await.is_empty());

    // Routing reads the lists from the tables: of these, Ann takes only the German billing
    // ticket (the French one is older, the sales one more urgent); Bob, who lists no
    // languages, takes an auth ticket in any language.
    let waiting = |queue: &str, language: &str, priority: i32| {
        let mut ticket = ticket(None);
        ticket.queue = queue.into();
        ticket.metadata.language = language.into();
        ticket.priority = priority;
        ticket
    };
    let french = waiting("billing", "fr", 1);
    let german = waiting("billing", "de", 1);
    let sales = waiting("sales", "de", 3);
    let auth = waiting("auth", "fr", 1);
    for ticket in [&french, &german, &sales, &auth] {
        create(&store, ticket.clone()).await.expect("ticket");
    }
    let next = |agent_id: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        let load = tx.agent_loads_for_update(casework::domain::query::Agents::One(agent_id)).await?.pop();
                        let load = load.expect("the agent's load");
                        let next = tx.next_waiting_ticket(&load).await?;
                        Ok((load.agent, next.map(|ticket| ticket.id)))
                    })
                })
                .await
                .expect("route")
        }
    };
    assert_eq!(next("ann@example.com").await, (ann.clone(), Some(german.id.clone())));
    assert_eq!(next("bob@example.com").await, (bob.clone(), Some(auth.id.clone())));

    // An upsert replaces the lists, order and all.
    let moved = agent("ann@example.com", &["sales", "billing"], &[]);
    store.upsert_agent(&moved).await.expect("agent");
    assert_eq!(store.get_agent(&ann.id).await.expect("read"), Some(moved.clone()));
    assert_eq!(agents_of(&store, "auth").await, ["bob@example.com"]);
    assert_eq!(agents_of(&store, "sales").await, ["ann@example.com"]);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM agent_queues").await, 3);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM agent_languages").await, 0);
    assert_eq!(next("ann@example.com").await, (moved, Some(sales.id.clone())));
    store.close().await;
}

/// A ticket's customer identities are kept in `ticket_identities`: conversations are found
/// by identity (channel and social id together), and a save that changes the customer's
/// identities moves them.
async fn customer_identities_filter_through_their_table(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
    let store = store::connect(&url).await.expect("store");
    let mut first = ticket(None);
    first.metadata.room_id = "room-1".into();
    first.customer.identities = vec![
        identity("whatsapp", "+49 1"),
        identity("telegram", "tg-1"),
        identity("whatsapp", "+49 1"),
    ];
    let mut second = ticket(None);
    second.metadata.room_id = "room-2".into();
    second.customer.identities = vec![identity("whatsapp", "+49 2")];
    for ticket in [&first, &second] {
        create(&store, ticket.clone()).await.expect("ticket");
    }
    assert_eq!(rooms_of(&store, "whatsapp", "+49 1").await, ["room-1"]);
    assert_eq!(rooms_of(&store, "telegram", "tg-1").await, ["room-1"]);
    assert_eq!(rooms_of(&store, "whatsapp", "+49 2").await, ["room-2"]);
    assert!(rooms_of(&store, "telegram", "+49 1").await.is_empty());
    assert_eq!(
        count(backend, &url, "SELECT COUNT(*) FROM ticket_identities").await,
        3,
        "an identity given twice is stored once"
    );
    let stored = store
        .get_ticket(&TicketKey::Id(first.id.clone()))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(stored.customer, first.customer, "the document keeps them as given");

    let first_id = first.id.clone();
    store
        .write(move |tx| {
            let first_id = first_id.clone();
            Box::pin(async move {
                let original = tx.ticket_for_update(&first_id).await?.expect("ticket");
                let mut ticket = original.clone();
                ticket.version += 1;
                ticket.customer.identities = vec![identity("email", "c@example.com")];
                assert!(tx.save_ticket(&ticket, &original).await?.is_some());
                Ok(())
            })
        })
        .await
        .expect("save");
    assert!(rooms_of(&store, "whatsapp", "+49 1").await.is_empty());
    assert_eq!(rooms_of(&store, "email", "c@example.com").await, ["room-1"]);
    assert_eq!(rooms_of(&store, "whatsapp", "+49 2").await, ["room-2"]);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM ticket_identities").await, 2);
    store.close().await;
}

/// A database an older build left at migration 0006, with agents' lists and customers'
/// identities only in JSON, comes up with them in their tables.
async fn migration_0007_moves_json_lists_into_tables(backend: Backend) {
    let database = database(backend).await;
    let url = database.url.clone();
    migrate_to(backend, &url, 6).await;
    raw(
        backend,
        &url,
        "INSERT INTO agents (id, name, role, status, status_alias, queues, languages, \
         max_concurrent) VALUES ('ann@example.com', 'ann@example.com', 'AGENT', 'online', \
         'Online', '[\"billing\", \"auth\"]', '[\"en\", \"de\"]', 3), ('bob@example.com', \
         'bob@example.com', 'AGENT', 'online', 'Online', '[\"auth\"]', '[]', 3)",
    )
    .await;
    let mut old = ticket(None);
    old.number = 1;
    old.customer.identities = vec![
        identity("whatsapp", "+49 1"),
        identity("telegram", "tg-1"),
        identity("whatsapp", "+49 1"),
    ];
    let doc = serde_json::to_string(&old).expect("json").replace('\'', "''");
    let created_at = casework::clock::to_micros(old.created_at);
    raw(
        backend,
        &url,
        &format!(
            "INSERT INTO tickets (id, number, status, priority, queue, channel, ticket_type, \
             source, customer_id, language, country, ccr, order_id, subject, created_at, \
             updated_at, version, doc) VALUES ('{id}', 1, 'CREATED', 1, 'q', 'chat', '', '', \
             'c', '', '', '', '', 'store test', {created_at}, {created_at}, 1, '{doc}')",
            id = old.id
        ),
    )
    .await;
    raw(
        backend,
        &url,
        &format!(
            "INSERT INTO rooms (id, ticket_id, customer_id, created_at) \
             VALUES ('room-1', '{}', 'c', {created_at})",
            old.id
        ),
    )
    .await;

    let store = store::connect(&url).await.expect("migrated");
    let ann = agent("ann@example.com", &["billing", "auth"], &["en", "de"]);
    let bob = agent("bob@example.com", &["auth"], &[]);
    assert_eq!(store.get_agent(&ann.id).await.expect("read"), Some(ann.clone()));
    assert_eq!(store.get_agent(&bob.id).await.expect("read"), Some(bob.clone()));
    assert_eq!(agents_of(&store, "auth").await, ["ann@example.com", "bob@example.com"]);
    assert_eq!(agents_of(&store, "billing").await, ["ann@example.com"]);
    assert_eq!(rooms_of(&store, "whatsapp", "+49 1").await, ["room-1"]);
    assert_eq!(rooms_of(&store, "telegram", "tg-1").await, ["room-1"]);
    assert_eq!(count(backend, &url, "SELECT COUNT(*) FROM ticket_identities").await, 2);
    // The JSON columns are gone (they were NOT NULL: an agent row without them now inserts).
    let cy = agent("cy@example.com", &["auth"], &["en"]);
    store.upsert_agent(&cy).await.expect("agent");
    assert_eq!(store.get_agent(&cy.id).await.expect("read"), Some(cy));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
/// Report rows written by concurrent changes while two stores (two replicas on PostgreSQL)
/// fold the shards of the same slots again and again add up to exactly what was written, and
/// end as one row per slot or hour and group.
async fn report_rows_add_up_across_concurrent_writes_and_compactions(backend: Backend) {
    use casework::domain::report::{GroupBy, row_ranges};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    const WRITERS: i64 = 8;
    const CHANGES: i64 = 40;
    const SLOTS: (i64, i64) = (100, 104);
    let database = database(backend).await;
    let first = store::connect(&database.url).await.expect("store");
    let second = match backend {
        Backend::Sqlite => first.clone(),
        Backend::Postgres => store::connect(&database.url).await.expect("replica"),
    };
    let writing = std::sync::Arc::new(AtomicBool::new(true));
    let compactors: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|store| {
            let writing = writing.clone();
            tokio::spawn(async move {
                let mut folded = 0;
                while writing.load(Ordering::SeqCst) {
                    folded += store
                        .write(|tx| Box::pin(tx.compact_report(SLOTS)))
                        .await
                        .expect("compact");
                    tokio::task::yield_now().await;
                }
                folded
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = if w % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move {
                for i in 0..CHANGES {
                    let change = report_change(w * CHANGES + i);
                    store
                        .write(move |tx| {
                            tx.add_to_report(change.clone());
                            Box::pin(async { Ok(()) })
                        })
                        .await
                        .expect("write");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    writing.store(false, Ordering::SeqCst);
    let mut folded = 0;
    for compactor in compactors {
        folded += compactor.await.expect("compactor");
    }
    folded += first
        .write(|tx| Box::pin(tx.compact_report(SLOTS)))
        .await
        .expect("compact");
    assert!(folded > 0, "sharded rows were folded");
    for table in ["report_channels", "report_agents"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE shard <> 0");
        assert_eq!(count(backend, &database.url, &sql).await, 0, "{table}");
    }

    // Each slot alone (slot rows), and the four together (one hour, its hour rows).
    let mut buckets: Vec<(i64, i64)> = (SLOTS.0..SLOTS.1).map(|s| (s, s + 1)).collect();
    buckets.push(SLOTS);
    let hour = buckets.len() - 1;
    for group_by in [GroupBy::Queue, GroupBy::Agent, GroupBy::Channel] {
        let mut expected: BTreeMap<(usize, String), (i64, Vec<i64>)> = BTreeMap::new();
        for n in 0..WRITERS * CHANGES {
            let change = report_change(n);
            let (group, _) = &change.counts[0];
            let name = match group_by {
                GroupBy::Queue => &group.queue,
                GroupBy::Agent => &group.agent,
                _ => &group.channel,
            };
            for bucket in [(change.slot - SLOTS.0) as usize, hour] {
                let cell = expected.entry((bucket, name.clone())).or_default();
                cell.0 += 1;
                cell.1.push(n);
            }
        }
        for cell in expected.values_mut() {
            cell.1.sort_unstable();
        }
        let mut stored: BTreeMap<(usize, String), (i64, Vec<i64>)> = BTreeMap::new();
        for cell in second
            .report_figures(&row_ranges(&buckets), group_by, &[])
            .await
            .expect("figures")
        {
            let mut resolution = cell.figures.resolution;
            resolution.sort_unstable();
            assert_eq!(cell.figures.counts.created, cell.figures.counts.backlog);
            stored.insert((cell.bucket, cell.group), (cell.figures.counts.created, resolution));
        }
        assert_eq!(stored, expected, "{group_by:?}");
    }
    first.close().await;
    second.close().await;
}

/// A database an older build left at migration 0011 keeps its report figures in the new
/// tables: counters summed per slot and group, durations one value per ticket; migration 0013
/// adds them up per hour.
async fn migration_0012_keeps_report_figures(backend: Backend) {
    use casework::domain::report::{GroupBy, row_ranges};
    let database = database(backend).await;
    let url = database.url.clone();
    migrate_to(backend, &url, 11).await;
    raw(
        backend,
        &url,
        "INSERT INTO report_slots (slot, shard, queue, agent, channel, created, closed, \
         reopened, backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3, \
         rating_4, rating_5) VALUES (5, 3, 'q', 'ann', 'chat', 2, 1, 0, 1, 0, 1, 1, 0, 0, 0, \
         0, 1), (5, 7, 'q', 'bob', 'chat', 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0), \
         (6, 0, 'q', '', 'email', 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)",
    )
    .await;
    raw(
        backend,
        &url,
        "INSERT INTO report_durations (kind, slot, shard, queue, agent, channel, seconds, \
         tickets) VALUES ('RESOLUTION', 5, 3, 'q', 'ann', 'chat', 300, 2), \
         ('FIRST_REPLY', 5, 3, 'q', 'ann', 'chat', 12, 1), \
         ('FIRST_REPLY', 5, 7, 'q', 'bob', 'chat', 40, 1)",
    )
    .await;

    let store = store::connect(&url).await.expect("migrated");
    let summary = |buckets: &[(i64, i64)], group_by| {
        let store = store.clone();
        let ranges = row_ranges(buckets);
        async move {
            let mut cells: Vec<_> = store
                .report_figures(&ranges, group_by, &[])
                .await
                .expect("figures")
                .into_iter()
                .map(|cell| {
                    let (mut first, mut resolution) =
                        (cell.figures.first_reply, cell.figures.resolution);
                    first.sort_unstable();
                    resolution.sort_unstable();
                    let c = cell.figures.counts;
                    let counts = (c.created, c.closed, c.backlog, c.breaches, c.ratings[4]);
                    (cell.bucket, cell.group, counts, first, resolution)
                })
                .collect();
            cells.sort();
            cells
        }
    };
    let slots = [(5, 6), (6, 7)];
    let chat = (3, 1, 2, 1, 1);
    assert_eq!(
        summary(&slots, GroupBy::Channel).await,
        vec![
            (0, "chat".to_string(), chat, vec![12, 40], vec![300, 300]),
            (1, "email".to_string(), (1, 0, 1, 0, 0), vec![], vec![]),
        ]
    );
    // Slots 4 to 7 are one hour, read from the hour rows.
    assert_eq!(
        summary(&[(4, 8)], GroupBy::Channel).await,
        vec![
            (0, "chat".to_string(), chat, vec![12, 40], vec![300, 300]),
            (0, "email".to_string(), (1, 0, 1, 0, 0), vec![], vec![]),
        ]
    );
    assert_eq!(
        summary(&slots, GroupBy::Agent).await,
        vec![
            (0, "ann".to_string(), (2, 1, 1, 0, 1), vec![12], vec![300, 300]),
            (0, "bob".to_string(), (1, 0, 1, 1, 0), vec![40], vec![]),
            (1, String::new(), (1, 0, 1, 0, 0), vec![], vec![]),
        ]
    );
    store.close().await;
}
}
