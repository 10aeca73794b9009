//! Every ticket list a client can ask for is served by an index on both stores: the store's
//! own query plan (`Store::list_plan`, the very query `list_tickets` runs) is checked over
//! 50,000 stored tickets, with the statistics each store keeps (SQLite's `PRAGMA optimize` at
//! start-up, PostgreSQL's ANALYZE), for a full scan of `tickets` and, on SQLite where the
//! index gives the page's order, for a sort (PostgreSQL may rightly sort a set its statistics
//! say is small). A customer's conversations, by customer id or by channel identity
//! (`Store::customer_rooms_plan`), are checked the same way for a full scan of `tickets`,
//! `rooms` or `ticket_identities`.
#[macro_use]
mod common;

use casework::clock::from_micros;
use casework::domain::query::{Scope, TicketFilter, TicketOrder, TicketQuery};
use casework::domain::{Severity, TicketStatus};
use common::{Backend, PostgresDatabase};

const TICKETS: i64 = 50_000;

/// 50,000 tickets in 8 queues, 70% closed, 10% each waiting, assigned (50 agents) and on
/// hold, 5,000 customers, one order each, every ticket tagged with one of 1,000 topics and every
/// tenth also `vip`; a quarter of each severity; one in twenty breached its SLA, the other open
/// ones have a target due days after the lists' "now".
const FILL: &str = "
    INSERT INTO tickets (id, number, status, priority, queue, channel, ticket_type, source,
        assignee, customer_id, language, country, ccr, order_id, subject, created_at, updated_at,
        due_at, version, doc, severity, sla_state, sla_due_at)
    SELECT 't' || i, i,
        CASE i % 10 WHEN 7 THEN 'CREATED' WHEN 8 THEN 'ASSIGNED' WHEN 9 THEN 'ON_HOLD'
            ELSE 'CLOSED' END,
        i % 5, 'q' || (i % 8), 'chat', '', '',
        CASE WHEN i % 10 IN (8, 9) THEN 'agent' || (i % 50) END,
        'c' || (i % 5000), 'en', 'SG', '', 'o' || i, 'subject', i, i,
        CASE WHEN i % 10 >= 7 THEN i END, 1, '{}',
        CASE i % 4 WHEN 0 THEN 'NOT_SET' WHEN 1 THEN 'LOW' WHEN 2 THEN 'MEDIUM' ELSE 'HIGH' END,
        CASE WHEN i % 20 = 7 THEN 'BREACHED' WHEN i % 10 < 7 THEN 'WITHIN_SLA' ELSE 'ONGOING' END,
        CASE WHEN i % 10 >= 7 AND i % 20 <> 7 THEN 1000000000000 + i * 1000000 END
    FROM series;
    INSERT INTO ticket_tags (tag, ticket_id) SELECT 'vip', 't' || i FROM series WHERE i % 10 = 0;
    INSERT INTO ticket_tags (tag, ticket_id) SELECT 'topic' || (i % 1000), 't' || i FROM series;
";

struct Case {
    name: &'static str,
    filter: TicketFilter,
    scope: Scope,
    order: TicketOrder,
    /// The index gives the page's order: no sort.
    ordered: bool,
}

fn cases() -> Vec<Case> {
    let case = |name, filter, order, ordered| Case {
        name,
        filter,
        scope: Scope::All,
        order,
        ordered,
    };
    let f = TicketFilter::default;
    vec![
        case(
            "queue and status",
            TicketFilter {
                queues: vec!["q1".into()],
                statuses: vec![TicketStatus::Created],
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "queue",
            TicketFilter {
                queues: vec!["q1".into()],
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "status",
            TicketFilter {
                statuses: vec![TicketStatus::Assigned],
                ..f()
            },
            TicketOrder::CreatedAsc,
            true,
        ),
        case(
            "assignee",
            TicketFilter {
                assignee: Some("agent7".into()),
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "customer",
            TicketFilter {
                customer_id: Some("c42".into()),
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "order id",
            TicketFilter {
                order_id: Some("o77".into()),
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "tag",
            TicketFilter {
                tag: Some("topic7".into()),
                ..f()
            },
            TicketOrder::CreatedDesc,
            false,
        ),
        case(
            "overdue",
            TicketFilter {
                overdue: true,
                ..f()
            },
            TicketOrder::CreatedDesc,
            false,
        ),
        case(
            "severity",
            TicketFilter {
                severities: vec![Severity::High],
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "SLA breached",
            TicketFilter {
                sla_breached: true,
                ..f()
            },
            TicketOrder::CreatedDesc,
            true,
        ),
        case(
            "SLA due within",
            TicketFilter {
                sla_due_within: Some(chrono::Duration::minutes(30)),
                ..f()
            },
            TicketOrder::CreatedDesc,
            false,
        ),
        Case {
            name: "an agent's tickets and its queues' waiting ones",
            filter: f(),
            scope: Scope::Agent {
                id: "agent7".into(),
                queues: vec!["q1".into(), "q2".into()],
                queue_wide: false,
            },
            order: TicketOrder::CreatedDesc,
            ordered: false,
        },
        Case {
            name: "a customer's own tickets",
            filter: f(),
            scope: Scope::Customer("c42".into()),
            order: TicketOrder::CreatedDesc,
            ordered: true,
        },
    ]
}

/// Whether the plan reads every row of `tickets` (or all of one of its indexes).
fn full_scan(backend: Backend, plan: &[String]) -> bool {
    plan.iter().any(|line| match backend {
        Backend::Sqlite => line.trim_start().starts_with("SCAN t"),
        Backend::Postgres => line.contains("Seq Scan on tickets"),
    })
}

fn sorts(backend: Backend, plan: &[String]) -> bool {
    backend == Backend::Sqlite
        && plan
            .iter()
            .any(|line| line.contains("TEMP B-TREE FOR ORDER BY"))
}

both_backends! {
    async fn every_list_filter_uses_an_index(backend: Backend) {
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().expect("dir");
        let postgres;
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("plans.db").display()),
            Backend::Postgres => {
                postgres = PostgresDatabase::create().await;
                postgres.url.clone()
            }
        };
        // Migrated, then filled behind its back, then opened again (as after a restart).
        casework::store::connect(&url).await.expect("store").close().await;
        let series = "CREATE TABLE series (i BIGINT NOT NULL)";
        match backend {
            Backend::Sqlite => {
                let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
                raw.execute(series).await.expect("series");
                raw.execute(
                    format!(
                        "INSERT INTO series WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
                         SELECT i + 1 FROM n WHERE i < {TICKETS}) SELECT i FROM n"
                    )
                    .as_str(),
                )
                .await
                .expect("series");
                raw.execute(FILL).await.expect("fill");
                raw.close().await.expect("close");
            }
            Backend::Postgres => {
                let mut raw = sqlx::PgConnection::connect(&url).await.expect("raw");
                raw.execute(series).await.expect("series");
                raw.execute(
                    format!("INSERT INTO series SELECT generate_series(1, {TICKETS})").as_str(),
                )
                .await
                .expect("series");
                raw.execute(FILL).await.expect("fill");
                raw.execute("ANALYZE").await.expect("analyze");
                raw.close().await.expect("close");
            }
        }
        let store = casework::store::connect(&url).await.expect("store");
        let mut failures = Vec::new();
        for case in cases() {
            let query = TicketQuery {
                filter: case.filter,
                scope: case.scope,
                order: case.order,
                after: None,
                limit: 51,
                offset: 0,
                now: from_micros(100),
            };
            let plan = store.list_plan(&query).await.expect("plan");
            if full_scan(backend, &plan) || (case.ordered && sorts(backend, &plan)) {
                failures.push(format!("{}:\n  {}", case.name, plan.join("\n  ")));
            }
        }
        store.close().await;
        assert!(
            failures.is_empty(),
            "lists without a matching index on {backend:?}:\n{}",
            failures.join("\n")
        );
    }
}

/// 50,000 tickets of 5,000 customers, each with its room and its customer's identity on one
/// of two channels (so every identity has about ten tickets).
const ROOMS_FILL: &str = "
    INSERT INTO tickets (id, number, status, priority, queue, channel, ticket_type, source,
        assignee, customer_id, language, country, ccr, order_id, subject, created_at, updated_at,
        due_at, version, doc, severity, sla_state, sla_due_at)
    SELECT 't' || i, i,
        CASE i % 10 WHEN 7 THEN 'CREATED' WHEN 8 THEN 'ASSIGNED' WHEN 9 THEN 'ON_HOLD'
            ELSE 'CLOSED' END,
        i % 5, 'q' || (i % 8), 'chat', '', '',
        CASE WHEN i % 10 IN (8, 9) THEN 'agent' || (i % 50) END,
        'c' || (i % 5000), 'en', 'SG', '', 'o' || i, 'subject', i, i,
        CASE WHEN i % 10 >= 7 THEN i END, 1, '{}',
        CASE i % 4 WHEN 0 THEN 'NOT_SET' WHEN 1 THEN 'LOW' WHEN 2 THEN 'MEDIUM' ELSE 'HIGH' END,
        CASE WHEN i % 20 = 7 THEN 'BREACHED' WHEN i % 10 < 7 THEN 'WITHIN_SLA' ELSE 'ONGOING' END,
        CASE WHEN i % 10 >= 7 AND i % 20 <> 7 THEN 1000000000000 + i * 1000000 END
    FROM series;
    INSERT INTO rooms (id, ticket_id, customer_id, created_at)
        SELECT 'r' || i, 't' || i, 'c' || (i % 5000), i FROM series;
    INSERT INTO ticket_identities (ticket_id, channel, social_id)
        SELECT 't' || i, CASE WHEN i % 5000 < 2500 THEN 'whatsapp' ELSE 'line' END,
            '+65' || (i % 5000)
        FROM series;
";

/// Whether the plan reads every row of tickets, rooms or identities (or all of an index).
fn rooms_full_scan(backend: Backend, plan: &[String]) -> bool {
    plan.iter().any(|line| match backend {
        // `SCAN t`, `SCAN ti`, `SCAN r` (with or without an index: all of it either way).
        Backend::Sqlite => {
            let line = line.trim_start();
            ["SCAN t", "SCAN ti", "SCAN r"]
                .iter()
                .any(|scan| line == *scan || line.starts_with(&format!("{scan} ")))
        }
        Backend::Postgres => ["tickets", "rooms", "ticket_identities"]
            .iter()
            .any(|table| line.contains(&format!("Seq Scan on {table}"))),
    })
}

both_backends! {
    async fn customer_conversations_use_an_index(backend: Backend) {
        use casework::domain::query::{CustomerKey, Reader};
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().expect("dir");
        let postgres;
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("rooms.db").display()),
            Backend::Postgres => {
                postgres = PostgresDatabase::create().await;
                postgres.url.clone()
            }
        };
        casework::store::connect(&url).await.expect("store").close().await;
        let series = "CREATE TABLE series (i BIGINT NOT NULL)";
        match backend {
            Backend::Sqlite => {
                let mut raw = sqlx::SqliteConnection::connect(&url).await.expect("raw");
                raw.execute(series).await.expect("series");
                raw.execute(
                    format!(
                        "INSERT INTO series WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
                         SELECT i + 1 FROM n WHERE i < {TICKETS}) SELECT i FROM n"
                    )
                    .as_str(),
                )
                .await
                .expect("series");
                raw.execute(ROOMS_FILL).await.expect("fill");
                raw.close().await.expect("close");
            }
            Backend::Postgres => {
                let mut raw = sqlx::PgConnection::connect(&url).await.expect("raw");
                raw.execute(series).await.expect("series");
                raw.execute(
                    format!("INSERT INTO series SELECT generate_series(1, {TICKETS})").as_str(),
                )
                .await
                .expect("series");
                raw.execute(ROOMS_FILL).await.expect("fill");
                raw.execute("ANALYZE").await.expect("analyze");
                raw.close().await.expect("close");
            }
        }
        let store = casework::store::connect(&url).await.expect("store");
        let reader = Reader {
            id: "agent7".into(),
            sees_internal: true,
        };
        let scopes = [
            ("all", Scope::All),
            (
                "an agent's",
                Scope::Agent {
                    id: "agent7".into(),
                    queues: vec!["q1".into(), "q2".into()],
                    queue_wide: false,
                },
            ),
            (
                "a supervisor's",
                Scope::Agent {
                    id: "agent7".into(),
                    queues: vec!["q1".into(), "q2".into()],
                    queue_wide: true,
                },
            ),
        ];
        let keys = [
            (
                "by channel identity",
                CustomerKey::Identity {
                    channel: "whatsapp".into(),
                    social_id: "+6542".into(),
                },
            ),
            ("by customer id", CustomerKey::Id("c42".into())),
        ];
        let mut failures = Vec::new();
        for (key_name, key) in &keys {
            for (scope_name, scope) in &scopes {
                let plan = store
                    .customer_rooms_plan(key, &reader, scope)
                    .await
                    .expect("plan");
                if rooms_full_scan(backend, &plan) {
                    failures.push(format!("{key_name}, {scope_name} scope:\n  {}", plan.join("\n  ")));
                }
            }
        }
        // The plan is the query the listing runs: it finds the identity's rooms.
        let rooms = store
            .customer_rooms(&keys[0].1, &reader, &Scope::All, None, 50)
            .await
            .expect("rooms");
        assert_eq!(rooms.len(), 10, "{rooms:?}");
        assert!(rooms.iter().all(|room| room.customer_id == "c42"), "{rooms:?}");
        store.close().await;
        assert!(
            failures.is_empty(),
            "customer conversations without a matching index on {backend:?}:\n{}",
            failures.join("\n")
        );
    }
}
