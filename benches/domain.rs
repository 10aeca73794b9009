//! Criterion micro-benchmarks of the hot domain paths (issue 9): the lifecycle transition
//! table, the routing choice and the REST shim's ticket JSON. No store, no server: each
//! measures the pure code every call of its kind runs. `cargo bench --bench domain`.
use casework::clock::{Time, from_micros};
use casework::domain::lifecycle::{self, Stamp, TicketPatch};
use casework::domain::routing::{self, AgentLoad};
use casework::domain::{
    Agent, AgentRole, Customer, CustomerIdentity, LinkCategory, LinkIdType, Metadata,
    ResolutionStatus, Ticket, TicketLink, TicketStatus, Transition, Vendor,
};
use casework::transport::rest::types;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::collections::HashMap;
use std::hint::black_box;

/// 2026-01-01T00:00:00Z, the start of every bench's timeline.
const EPOCH_MICROS: i64 = 1_767_225_600_000_000;
const QUEUES: [&str; 4] = ["chat-sg-en", "chat-de-de", "email-sg-en", "vendor-sg-en"];

fn at(seconds: i64) -> Time {
    from_micros(EPOCH_MICROS + seconds * 1_000_000)
}

/// A waiting chat ticket as `create_ticket` stores it, with the fields a busy floor fills in.
fn ticket() -> Ticket {
    let created = at(0);
    Ticket {
        id: "019b7a3c-5e00-7000-8000-00000000c0de".into(),
        number: 48_213,
        external_id: Some("vsba-nhas".into()),
        subject: "Order arrived cold and two items missing".into(),
        status: TicketStatus::Created,
        status_reason: "created".into(),
        status_changed_at: created,
        priority: 3,
        severity: Default::default(),
        queue: "chat-sg-en".into(),
        channel: "chat".into(),
        ticket_type: "order_issue".into(),
        source: "fp-sg".into(),
        assignee: None,
        last_assignee: None,
        bot_id: None,
        customer: Customer {
            id: "customer-7781".into(),
            first_name: "Mei".into(),
            last_name: "Tan".into(),
            name: "Mei Tan".into(),
            email: "mei.tan@example.com".into(),
            phone: "+6591234567".into(),
            identities: vec![CustomerIdentity {
                channel: "chat".into(),
                social_id: "fp-sg:7781".into(),
            }],
        },
        vendor: Some(Vendor {
            id: "vendor-x1y2".into(),
            vertical: "restaurants".into(),
        }),
        content: json!({
            "order": { "code": "x1y2-z3w4", "total": 42.5, "currency": "SGD" },
            "items": ["laksa", "chicken rice", "teh tarik"],
            "rider": { "id": "rider-19", "late_minutes": 24 },
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        metadata: Metadata {
            ccr: "1A.1".into(),
            local_ccr: "SG-FOOD-COLD".into(),
            country: "SG".into(),
            language: "en".into(),
            order_id: "x1y2-z3w4".into(),
            entity_id: "FP_SG".into(),
            sla_seconds: 900,
            due_at: Some(at(900)),
            tags: vec!["cold-food".into(), "missing-item".into(), "vip".into()],
            children_links: vec![TicketLink {
                ticket_id: "5003X00002abcDE".into(),
                id_type: LinkIdType::Salesforce,
                category: LinkCategory::Escalated,
                creator: "agent@example.com".into(),
                created_at: at(60),
                reason: "partner follow-up".into(),
            }],
            room_id: "019b7a3c-5e00-7000-8000-0000000000aa".into(),
            ..Metadata::default()
        },
        escalation: None,
        resolution: None,
        rating: None,
        sla: Default::default(),
        metrics: Default::default(),
        created_at: created,
        updated_at: created,
        version: 1,
        unread_count: 0,
    }
}

/// One of every transition, for the table lookup.
fn every_transition() -> Vec<Transition> {
    let reason = || "bench".to_string();
    vec![
        Transition::Assign { agent: "a".into() },
        Transition::Reassign {
            agent: "b".into(),
            reason: reason(),
        },
        Transition::Transfer {
            queue: "q".into(),
            reason: reason(),
        },
        Transition::Escalate {
            department: "payments".into(),
            to_agent: String::new(),
            status_reason: reason(),
            resolution_reason: reason(),
        },
        Transition::Hold { reason: reason() },
        Transition::Resume,
        Transition::CloseRoom { reason: reason() },
        Transition::SlaWarning { close_at: at(0) },
        Transition::AutoClose { close_at: at(0) },
        Transition::Requeue { reason: reason() },
        Transition::Handoff {
            queue: None,
            agent: None,
            reason: reason(),
        },
        Transition::Close {
            resolution: None,
            resolution_reason: reason(),
            status_reason: reason(),
        },
        Transition::Reopen {
            reason: reason(),
            keep_assignee: true,
        },
        Transition::Rate {
            score: 5,
            comment: reason(),
        },
        Transition::Workflow {
            event_type: casework::domain::EventType::WorkflowDone,
            workflow: "refund".into(),
            details: Default::default(),
        },
        Transition::Update(TicketPatch::default()),
    ]
}

/// A ticket's life on a busy floor, every step allowed from where the previous one left it:
/// triaged, assigned, picked up, held, resumed, escalated, reassigned, refunded, closed,
/// rated, reopened and transferred.
fn ticket_life() -> Vec<Transition> {
    vec![
        Transition::Update(TicketPatch {
            priority: Some(4),
            tags: Some(vec![
                "cold-food".into(),
                "missing-item".into(),
                "urgent".into(),
            ]),
            ..TicketPatch::default()
        }),
        Transition::Assign {
            agent: "agent@example.com".into(),
        },
        Transition::Update(TicketPatch {
            picked_at: Some(Stamp::Now),
            ..TicketPatch::default()
        }),
        Transition::Hold {
            reason: "waiting for the restaurant".into(),
        },
        Transition::Resume,
        Transition::Escalate {
            department: "payments".into(),
            to_agent: "supervisor@example.com".into(),
            status_reason: "refund above agent limit".into(),
            resolution_reason: String::new(),
        },
        Transition::Reassign {
            agent: "payments@example.com".into(),
            reason: "payments desk".into(),
        },
        Transition::Link {
            link: TicketLink {
                ticket_id: "5003X00002refUND".into(),
                id_type: LinkIdType::Salesforce,
                category: LinkCategory::RefundPartial,
                creator: String::new(),
                created_at: at(0),
                reason: "two items missing".into(),
            },
        },
        Transition::Close {
            resolution: Some(ResolutionStatus::Refunded),
            resolution_reason: "partial refund".into(),
            status_reason: "resolved".into(),
        },
        Transition::Rate {
            score: 4,
            comment: "quick, thanks".into(),
        },
        Transition::Reopen {
            reason: "refund not received".into(),
            keep_assignee: true,
        },
        Transition::Transfer {
            queue: "email-sg-en".into(),
            reason: "follow up by email".into(),
        },
    ]
}

/// Applies `life` in order, a minute apart; returns the number of events written.
fn live(ticket: &mut Ticket, life: impl IntoIterator<Item = Transition>) -> usize {
    let mut events = 0;
    for (step, transition) in life.into_iter().enumerate() {
        let now = at(60 * (step as i64 + 1));
        match lifecycle::apply(ticket, transition, "agent@example.com", now) {
            Ok(written) => events += written.len(),
            Err(error) => panic!("step {step} of the ticket's life refused: {error}"),
        }
    }
    events
}

fn bench_lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("lifecycle");
    let transitions = every_transition();
    group.bench_function("table_every_transition_and_status", |b| {
        b.iter(|| {
            let mut allowed = 0usize;
            for transition in black_box(&transitions) {
                for status in TicketStatus::ALL {
                    allowed += usize::from(transition.allowed_from().contains(&black_box(status)));
                }
            }
            allowed
        })
    });

    // Checked once outside the timing, so the bench cannot quietly measure refusals.
    live(&mut ticket(), ticket_life());
    group.bench_function("apply_ticket_life_12_steps", |b| {
        b.iter_batched(
            || (ticket(), ticket_life()),
            |(mut ticket, life)| live(black_box(&mut ticket), black_box(life)),
            BatchSize::SmallInput,
        )
    });

    let mut waiting = ticket();
    group.bench_function("apply_refused", |b| {
        b.iter(|| {
            let rate = Transition::Rate {
                score: 5,
                comment: String::new(),
            };
            lifecycle::apply(black_box(&mut waiting), black_box(rate), "customer", at(0)).is_err()
        })
    });
    group.finish();
}

/// `count` agents spread over the demo queues and languages, some away, some full, with
/// different loads and idle times, so every tie-break of `choose_agent` is exercised.
fn loads(count: usize) -> Vec<AgentLoad> {
    (0..count)
        .map(|i| {
            let languages = match i % 3 {
                0 => vec!["en".to_string()],
                1 => vec!["de".to_string(), "en".to_string()],
                _ => Vec::new(),
            };
            AgentLoad {
                agent: Agent {
                    id: format!("agent{i:04}@example.com"),
                    name: format!("Agent {i}"),
                    role: AgentRole::Agent,
                    status: "online".into(),
                    status_alias: "Online".into(),
                    last_login_at: Some(at(-3_600)),
                    status_updated_at: Some(at(-3_600)),
                    queues: vec![
                        QUEUES[i % QUEUES.len()].to_string(),
                        QUEUES[(i + 2) % QUEUES.len()].to_string(),
                    ],
                    languages,
                    max_concurrent: 3,
                },
                receiving: i % 5 != 4,
                active: (i % 4) as i64,
                last_assigned_at: (i % 7 != 0).then(|| at(-((i * 37 % 600) as i64))),
            }
        })
        .collect()
}

fn bench_routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    let ticket = ticket();
    for count in [10, 200] {
        let loads = loads(count);
        assert!(
            routing::choose_agent(&ticket, &loads, None).is_some(),
            "{count} agents: someone must fit"
        );
        group.bench_with_input(
            BenchmarkId::new("choose_agent", count),
            &loads,
            |b, loads| b.iter(|| routing::choose_agent(black_box(&ticket), black_box(loads), None)),
        );
    }
    group.finish();
}

fn bench_rest_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("rest_json");
    let queues: HashMap<String, String> = QUEUES
        .iter()
        .map(|queue| (queue.to_string(), queue.to_string()))
        .collect();
    // Escalated, as most open tickets the shim serves are; tags and a link by now.
    let mut escalated = ticket();
    live(&mut escalated, ticket_life().into_iter().take(6));
    // What `GET /v1/tickets/{id}` does after the store read: convert, then serialise.
    group.bench_function("get_ticket_body", |b| {
        b.iter_batched(
            || escalated.clone(),
            |ticket| {
                serde_json::to_string(&types::Ticket::of(black_box(ticket), &queues))
                    .unwrap_or_default()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_lifecycle, bench_routing, bench_rest_json);
criterion_main!(benches);
