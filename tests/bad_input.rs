//! DESIGN.md §7: bad input is INVALID_ARGUMENT naming the field, for every field of
//! TicketService, and nothing is written. Also invalid UTF-8 and oversized messages.
#[macro_use]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casework::domain::Role;
use casework::pb;
use common::*;
use prost_types::value::Kind;
use tonic::{Code, Status};

/// One request of TicketService. Rows are built once and sent once, so variant sizes don't
/// matter here.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Call {
    Create(pb::CreateTicketRequest),
    Get(pb::GetTicketRequest),
    List(pb::ListTicketsRequest),
    Update(pb::UpdateTicketRequest),
    Assign(pb::AssignTicketRequest),
    Reassign(pb::ReassignTicketRequest),
    Transfer(pb::TransferTicketRequest),
    Escalate(pb::EscalateTicketRequest),
    Hold(pb::HoldTicketRequest),
    Resume(pb::ResumeTicketRequest),
    Handoff(pb::HandoffTicketRequest),
    Close(pb::CloseTicketRequest),
    Reopen(pb::ReopenTicketRequest),
    Rate(pb::RateTicketRequest),
    Link(pb::LinkTicketRequest),
    Workflow(pb::RecordWorkflowEventRequest),
    Events(pb::ListTicketEventsRequest),
    History(pb::GetCustomerHistoryRequest),
    UpsertDepartment(pb::UpsertEscalationDepartmentRequest),
    UpsertQueue(pb::UpsertQueueRequest),
    QueueStats(pb::GetQueueStatsRequest),
    Watch(pb::WatchTicketsRequest),
}

/// Who sends a row: most rows as admin; service-only RPCs (and "empty agent_id", which an
/// agent may send for itself) as a service.
#[derive(Debug, Clone, Copy)]
enum Who {
    Admin,
    Service,
}

impl Call {
    async fn send(self, c: &mut Tickets) -> Result<(), Status> {
        let with_headers = c.clone();
        let client = &mut c.client;
        macro_rules! req {
            ($body:expr) => {
                with_headers.req($body)
            };
        }
        match self {
            Call::Create(r) => client.create_ticket(req!(r)).await.map(drop),
            Call::Get(r) => client.get_ticket(req!(r)).await.map(drop),
            Call::List(r) => client.list_tickets(req!(r)).await.map(drop),
            Call::Update(r) => client.update_ticket(req!(r)).await.map(drop),
            Call::Assign(r) => client.assign_ticket(req!(r)).await.map(drop),
            Call::Reassign(r) => client.reassign_ticket(req!(r)).await.map(drop),
            Call::Transfer(r) => client.transfer_ticket(req!(r)).await.map(drop),
            Call::Escalate(r) => client.escalate_ticket(req!(r)).await.map(drop),
            Call::Hold(r) => client.hold_ticket(req!(r)).await.map(drop),
            Call::Resume(r) => client.resume_ticket(req!(r)).await.map(drop),
            Call::Handoff(r) => client.handoff_ticket(req!(r)).await.map(drop),
            Call::Close(r) => client.close_ticket(req!(r)).await.map(drop),
            Call::Reopen(r) => client.reopen_ticket(req!(r)).await.map(drop),
            Call::Rate(r) => client.rate_ticket(req!(r)).await.map(drop),
            Call::Link(r) => client.link_ticket(req!(r)).await.map(drop),
            Call::Workflow(r) => client.record_workflow_event(req!(r)).await.map(drop),
            Call::Events(r) => client.list_ticket_events(req!(r)).await.map(drop),
            Call::History(r) => client.get_customer_history(req!(r)).await.map(drop),
            Call::UpsertDepartment(r) => {
                client.upsert_escalation_department(req!(r)).await.map(drop)
            }
            Call::UpsertQueue(r) => client.upsert_queue(req!(r)).await.map(drop),
            Call::QueueStats(r) => client.get_queue_stats(req!(r)).await.map(drop),
            Call::Watch(r) => client.watch_tickets(req!(r)).await.map(drop),
        }
    }
}

/// A valid request `base` with one thing spoiled by `edit`.
fn with<T>(mut base: T, edit: impl FnOnce(&mut T)) -> T {
    edit(&mut base);
    base
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn bad_nanos(nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_772_442_000,
        nanos,
    })
}

/// 10000-01-01T00:00:00Z, past what the server stores.
fn year_10000() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 253_402_300_800,
        nanos: 0,
    })
}

fn value(kind: Kind) -> prost_types::Value {
    prost_types::Value { kind: Some(kind) }
}

fn json_struct(key: &str, kind: Kind) -> Option<prost_types::Struct> {
    Some(prost_types::Struct {
        fields: [(key.to_string(), value(kind))].into(),
    })
}

/// JSON of more than 64 KiB.
fn huge_struct() -> Option<prost_types::Struct> {
    json_struct("k", Kind::StringValue(long(70_000)))
}

fn nan_struct() -> Option<prost_types::Struct> {
    json_struct("k", Kind::NumberValue(f64::NAN))
}

/// Lists nested 40 deep: deeper than the server accepts, shallower than prost's limit.
fn deep_struct() -> Option<prost_types::Struct> {
    let mut kind = Kind::NullValue(0);
    for _ in 0..40 {
        kind = Kind::ListValue(prost_types::ListValue {
            values: vec![value(kind)],
        });
    }
    json_struct("k", kind)
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

const UNKNOWN_AGENT: &str = "nobody@example.com";
const UNKNOWN_QUEUE: &str = "no-such-queue";

struct Row {
    name: String,
    who: Who,
    call: Call,
    fields: &'static [&'static str],
}

/// Every field of every TicketService request, spoiled one at a time. `id` is a real ticket
/// and `token` a valid page token of the default listing with page_size 1.
fn table(id: &str, token: &str) -> Vec<Row> {
    let id = id.to_string();
    let t = || id.clone();
    let create = || new_ticket("cust-1");
    let update = || pb::UpdateTicketRequest {
        ticket_id: t(),
        ticket: Some(pb::Ticket {
            subject: "New subject".into(),
            ..Default::default()
        }),
        update_mask: mask(&["subject"]),
        expected_version: 0,
    };
    let meta = |m: pb::TicketMetadata| pb::Ticket {
        metadata: Some(m),
        ..Default::default()
    };
    let assign = || pb::AssignTicketRequest {
        ticket_id: t(),
        agent_id: AGENT.into(),
        expected_version: 0,
    };
    let reassign = || pb::ReassignTicketRequest {
        ticket_id: t(),
        agent_id: AGENT.into(),
        reason: "shift change".into(),
        expected_version: 0,
    };
    let transfer = || pb::TransferTicketRequest {
        ticket_id: t(),
        queue_id: OTHER_QUEUE.into(),
        reason: "wrong queue".into(),
        expected_version: 0,
    };
    let escalate = || pb::EscalateTicketRequest {
        ticket_id: t(),
        department: DEPARTMENT.into(),
        to_agent: SUPERVISOR.into(),
        status_reason: "needs partner".into(),
        resolution_reason: "pending".into(),
        expected_version: 0,
    };
    let hold = || pb::HoldTicketRequest {
        ticket_id: t(),
        reason: "waiting".into(),
        expected_version: 0,
    };
    let resume = || pb::ResumeTicketRequest {
        ticket_id: t(),
        expected_version: 0,
    };
    let handoff = || pb::HandoffTicketRequest {
        ticket_id: t(),
        queue_id: QUEUE.into(),
        agent_id: String::new(),
        reason: "bot gave up".into(),
        expected_version: 0,
    };
    let close = || pb::CloseTicketRequest {
        ticket_id: t(),
        resolution_status: pb::ResolutionStatus::NoAction as i32,
        resolution_reason: "done".into(),
        status_reason: "solved".into(),
        expected_version: 0,
    };
    let reopen = || pb::ReopenTicketRequest {
        ticket_id: t(),
        reason: "came back".into(),
        keep_assignee: false,
        expected_version: 0,
    };
    let rate = || pb::RateTicketRequest {
        ticket_id: t(),
        score: 5,
        comment: "thanks".into(),
        expected_version: 0,
    };
    let link = || pb::LinkTicketRequest {
        ticket_id: t(),
        link: Some(pb::TicketLink {
            ticket_id: "SF-1".into(),
            id_type: pb::TicketLinkIdType::Salesforce as i32,
            category: pb::TicketLinkCategory::Escalated as i32,
            reason: "partner case".into(),
            ..Default::default()
        }),
        expected_version: 0,
    };
    let workflow = || pb::RecordWorkflowEventRequest {
        ticket_id: t(),
        r#type: pb::TicketEventType::WorkflowDone as i32,
        workflow: "refund".into(),
        details: None,
        expected_version: 0,
    };
    let events = || pb::ListTicketEventsRequest {
        ticket_id: t(),
        page_size: 10,
        page_token: String::new(),
    };
    let history = || pb::GetCustomerHistoryRequest {
        customer_id: "cust-1".into(),
        ticket_id: String::new(),
        page: 1,
        page_size: 10,
    };
    let department = || pb::EscalationDepartment {
        id: "new-department".into(),
        label: "New".into(),
    };
    let queue = || pb::Queue {
        id: "new-queue".into(),
        name: "New".into(),
        language: "en".into(),
        default_sla_seconds: 60,
    };
    let stats = || pb::GetQueueStatsRequest {
        queue_id: QUEUE.into(),
        ticket_id: t(),
    };
    let filtered = |f: pb::TicketFilter| {
        Call::List(pb::ListTicketsRequest {
            filter: Some(f),
            ..Default::default()
        })
    };
    let get = |key| Call::Get(pb::GetTicketRequest { key: Some(key) });
    use pb::get_ticket_request::Key;

    let rows: Vec<(&str, Who, Call, &'static [&'static str])> = vec![
        // ---- CreateTicket
        (
            "create: request_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.request_id = long(129))),
            &["request_id"],
        ),
        (
            "create: external_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.external_id = long(129))),
            &["external_id"],
        ),
        (
            "create: external_id with spaces",
            Who::Admin,
            Call::Create(with(create(), |r| r.external_id = "a b".into())),
            &["external_id"],
        ),
        (
            "create: subject too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.subject = long(501))),
            &["subject"],
        ),
        (
            "create: subject control char",
            Who::Admin,
            Call::Create(with(create(), |r| r.subject = "bell\u{7}".into())),
            &["subject"],
        ),
        (
            "create: priority 5",
            Who::Admin,
            Call::Create(with(create(), |r| r.priority = 5)),
            &["priority"],
        ),
        (
            "create: priority -1",
            Who::Admin,
            Call::Create(with(create(), |r| r.priority = -1)),
            &["priority"],
        ),
        (
            "create: queue empty",
            Who::Admin,
            Call::Create(with(create(), |r| r.queue.clear())),
            &["queue"],
        ),
        (
            "create: queue too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.queue = long(129))),
            &["queue"],
        ),
        (
            "create: queue unknown",
            Who::Admin,
            Call::Create(with(create(), |r| r.queue = UNKNOWN_QUEUE.into())),
            &["queue"],
        ),
        (
            "create: channel empty",
            Who::Admin,
            Call::Create(with(create(), |r| r.channel.clear())),
            &["channel"],
        ),
        (
            "create: channel too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.channel = long(129))),
            &["channel"],
        ),
        (
            "create: type too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.r#type = long(129))),
            &["type"],
        ),
        (
            "create: source too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.source = long(129))),
            &["source"],
        ),
        (
            "create: bot_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.bot_id = long(129))),
            &["bot_id"],
        ),
        (
            "create: customer missing",
            Who::Admin,
            Call::Create(with(create(), |r| r.customer = None)),
            &["customer.id"],
        ),
        (
            "create: customer.id empty",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer = Some(pb::Customer::default())
            })),
            &["customer.id"],
        ),
        (
            "create: customer.id too long",
            Who::Admin,
            Call::Create(new_ticket(&long(129))),
            &["customer.id"],
        ),
        (
            "create: customer.first_name too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().first_name = long(201)
            })),
            &["customer.first_name"],
        ),
        (
            "create: customer.last_name too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().last_name = long(201)
            })),
            &["customer.last_name"],
        ),
        (
            "create: customer.name too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().name = long(201)
            })),
            &["customer.name"],
        ),
        (
            "create: customer.email too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().email = long(201)
            })),
            &["customer.email"],
        ),
        (
            "create: customer.phone too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().phone = long(201)
            })),
            &["customer.phone"],
        ),
        (
            "create: identity channel empty",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().identities = vec![pb::CustomerIdentity {
                    channel: String::new(),
                    social_id: "s-1".into(),
                }]
            })),
            &["customer.identities[0].channel"],
        ),
        (
            "create: identity social_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.customer.as_mut().unwrap().identities = vec![pb::CustomerIdentity {
                    channel: "chat".into(),
                    social_id: long(129),
                }]
            })),
            &["customer.identities[0].social_id"],
        ),
        (
            "create: vendor.id too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.vendor = Some(pb::Vendor {
                    id: long(129),
                    vertical: 1,
                })
            })),
            &["vendor.id"],
        ),
        (
            "create: vendor.vertical 99",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.vendor = Some(pb::Vendor {
                    id: "v-1".into(),
                    vertical: 99,
                })
            })),
            &["vendor.vertical"],
        ),
        (
            "create: content too large",
            Who::Admin,
            Call::Create(with(create(), |r| r.content = huge_struct())),
            &["content"],
        ),
        (
            "create: content not finite",
            Who::Admin,
            Call::Create(with(create(), |r| r.content = nan_struct())),
            &["content"],
        ),
        (
            "create: content too deep",
            Who::Admin,
            Call::Create(with(create(), |r| r.content = deep_struct())),
            &["content"],
        ),
        (
            "create: metadata.ccr too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    ccr: long(129),
                    ..Default::default()
                })
            })),
            &["metadata.ccr"],
        ),
        (
            "create: metadata.ccr unknown",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    ccr: "no-such-ccr".into(),
                    ..Default::default()
                })
            })),
            &["metadata.ccr"],
        ),
        (
            "create: metadata.local_ccr too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    local_ccr: long(201),
                    ..Default::default()
                })
            })),
            &["metadata.local_ccr"],
        ),
        (
            "create: metadata.country too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    country: long(129),
                    ..Default::default()
                })
            })),
            &["metadata.country"],
        ),
        (
            "create: metadata.language too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    language: long(129),
                    ..Default::default()
                })
            })),
            &["metadata.language"],
        ),
        (
            "create: metadata.order_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    order_id: long(129),
                    entity_id: "FP_SG".into(),
                    ..Default::default()
                })
            })),
            &["metadata.order_id"],
        ),
        (
            "create: metadata.entity_id too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    order_id: "o-1".into(),
                    entity_id: long(129),
                    ..Default::default()
                })
            })),
            &["metadata.entity_id"],
        ),
        (
            "create: metadata.order_id without entity_id",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    order_id: "o-1".into(),
                    ..Default::default()
                })
            })),
            &["metadata.entity_id"],
        ),
        (
            "create: metadata.sla_seconds -1",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    sla_seconds: -1,
                    ..Default::default()
                })
            })),
            &["metadata.sla_seconds"],
        ),
        (
            "create: metadata.sla_seconds over a year",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    sla_seconds: 365 * 24 * 3600 + 1,
                    ..Default::default()
                })
            })),
            &["metadata.sla_seconds"],
        ),
        (
            "create: metadata.tags too many",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    tags: (0..51).map(|i| format!("t{i}")).collect(),
                    ..Default::default()
                })
            })),
            &["metadata.tags"],
        ),
        (
            "create: metadata.tags[0] empty",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    tags: vec![String::new()],
                    ..Default::default()
                })
            })),
            &["metadata.tags[0]"],
        ),
        (
            "create: metadata.tags[1] too long",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    tags: vec!["vip".into(), long(201)],
                    ..Default::default()
                })
            })),
            &["metadata.tags[1]"],
        ),
        (
            "create: metadata.due_at set",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.metadata = Some(pb::TicketMetadata {
                    due_at: bad_nanos(0),
                    ..Default::default()
                })
            })),
            &["metadata.due_at"],
        ),
        (
            "create: initial_message too long",
            Who::Admin,
            Call::Create(with(create(), |r| r.initial_message = long(16 * 1024 + 1))),
            &["initial_message"],
        ),
        (
            "create: resolution_status 99",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.close_immediately = true;
                r.resolution_status = 99
            })),
            &["resolution_status"],
        ),
        (
            "create: resolution_status without close_immediately",
            Who::Admin,
            Call::Create(with(create(), |r| {
                r.resolution_status = pb::ResolutionStatus::Refunded as i32
            })),
            &["resolution_status"],
        ),
        // ---- GetTicket
        (
            "get: key missing",
            Who::Admin,
            Call::Get(pb::GetTicketRequest { key: None }),
            &["key"],
        ),
        (
            "get: id empty",
            Who::Admin,
            get(Key::Id(String::new())),
            &["id"],
        ),
        (
            "get: id too long",
            Who::Admin,
            get(Key::Id(long(129))),
            &["id"],
        ),
        (
            "get: number 0",
            Who::Admin,
            get(Key::Number(0)),
            &["number"],
        ),
        (
            "get: number -1",
            Who::Admin,
            get(Key::Number(-1)),
            &["number"],
        ),
        (
            "get: external_id empty",
            Who::Admin,
            get(Key::ExternalId(String::new())),
            &["external_id"],
        ),
        (
            "get: external_id too long",
            Who::Admin,
            get(Key::ExternalId(long(129))),
            &["external_id"],
        ),
        // ---- ListTickets
        (
            "list: statuses[0] 99",
            Who::Admin,
            filtered(pb::TicketFilter {
                statuses: vec![99],
                ..Default::default()
            }),
            &["filter.statuses[0]"],
        ),
        (
            "list: statuses[0] unspecified",
            Who::Admin,
            filtered(pb::TicketFilter {
                statuses: vec![0],
                ..Default::default()
            }),
            &["filter.statuses[0]"],
        ),
        (
            "list: statuses[1] -3",
            Who::Admin,
            filtered(pb::TicketFilter {
                statuses: vec![1, -3],
                ..Default::default()
            }),
            &["filter.statuses[1]"],
        ),
        (
            "list: queues[0] empty",
            Who::Admin,
            filtered(pb::TicketFilter {
                queues: vec![String::new()],
                ..Default::default()
            }),
            &["filter.queues[0]"],
        ),
        (
            "list: queues too many",
            Who::Admin,
            filtered(pb::TicketFilter {
                queues: (0..101).map(|i| format!("q{i}")).collect(),
                ..Default::default()
            }),
            &["filter.queues"],
        ),
        (
            "list: queues[0] too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                queues: vec![long(129)],
                ..Default::default()
            }),
            &["filter.queues[0]"],
        ),
        (
            "list: channels[0] too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                channels: vec![long(129)],
                ..Default::default()
            }),
            &["filter.channels[0]"],
        ),
        (
            "list: types[0] too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                types: vec![long(129)],
                ..Default::default()
            }),
            &["filter.types[0]"],
        ),
        (
            "list: sources[0] too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                sources: vec![long(129)],
                ..Default::default()
            }),
            &["filter.sources[0]"],
        ),
        (
            "list: languages[0] too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                languages: vec![long(129)],
                ..Default::default()
            }),
            &["filter.languages[0]"],
        ),
        (
            "list: assignee too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                assignee: long(129),
                ..Default::default()
            }),
            &["filter.assignee"],
        ),
        (
            "list: customer_id too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                customer_id: long(129),
                ..Default::default()
            }),
            &["filter.customer_id"],
        ),
        (
            "list: country too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                country: long(129),
                ..Default::default()
            }),
            &["filter.country"],
        ),
        (
            "list: department too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                department: long(129),
                ..Default::default()
            }),
            &["filter.department"],
        ),
        (
            "list: ccr too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                ccr: long(129),
                ..Default::default()
            }),
            &["filter.ccr"],
        ),
        (
            "list: order_id too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                order_id: long(129),
                ..Default::default()
            }),
            &["filter.order_id"],
        ),
        (
            "list: tag too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                tag: long(129),
                ..Default::default()
            }),
            &["filter.tag"],
        ),
        (
            "list: text too long",
            Who::Admin,
            filtered(pb::TicketFilter {
                text: long(201),
                ..Default::default()
            }),
            &["filter.text"],
        ),
        (
            "list: min_priority 5",
            Who::Admin,
            filtered(pb::TicketFilter {
                min_priority: 5,
                ..Default::default()
            }),
            &["filter.min_priority"],
        ),
        (
            "list: min_priority -1",
            Who::Admin,
            filtered(pb::TicketFilter {
                min_priority: -1,
                ..Default::default()
            }),
            &["filter.min_priority"],
        ),
        (
            "list: number -1",
            Who::Admin,
            filtered(pb::TicketFilter {
                number: -1,
                ..Default::default()
            }),
            &["filter.number"],
        ),
        (
            "list: unassigned with assignee",
            Who::Admin,
            filtered(pb::TicketFilter {
                unassigned: true,
                assignee: AGENT.into(),
                ..Default::default()
            }),
            &["filter.unassigned"],
        ),
        (
            "list: created_after nanos -1",
            Who::Admin,
            filtered(pb::TicketFilter {
                created_after: bad_nanos(-1),
                ..Default::default()
            }),
            &["filter.created_after"],
        ),
        (
            "list: created_before nanos 1e9",
            Who::Admin,
            filtered(pb::TicketFilter {
                created_before: bad_nanos(1_000_000_000),
                ..Default::default()
            }),
            &["filter.created_before"],
        ),
        (
            "list: updated_after nanos -1",
            Who::Admin,
            filtered(pb::TicketFilter {
                updated_after: bad_nanos(-1),
                ..Default::default()
            }),
            &["filter.updated_after"],
        ),
        (
            "list: updated_before year 10000",
            Who::Admin,
            filtered(pb::TicketFilter {
                updated_before: year_10000(),
                ..Default::default()
            }),
            &["filter.updated_before"],
        ),
        (
            "list: order_by 99",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                order_by: 99,
                ..Default::default()
            }),
            &["order_by"],
        ),
        (
            "list: page_size -1",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                page_size: -1,
                ..Default::default()
            }),
            &["page_size"],
        ),
        (
            "list: page_size 501",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                page_size: 501,
                ..Default::default()
            }),
            &["page_size"],
        ),
        (
            "list: page_token garbage",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                page_token: "not a token!".into(),
                ..Default::default()
            }),
            &["page_token"],
        ),
        (
            "list: page_token malformed",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                page_token: URL_SAFE_NO_PAD.encode("a:b:c"),
                ..Default::default()
            }),
            &["page_token"],
        ),
        (
            "list: page_token of another order",
            Who::Admin,
            Call::List(pb::ListTicketsRequest {
                page_size: 1,
                order_by: pb::TicketOrder::CreatedAsc as i32,
                page_token: token.into(),
                ..Default::default()
            }),
            &["page_token"],
        ),
        // ---- UpdateTicket
        (
            "update: ticket_id empty",
            Who::Admin,
            Call::Update(with(update(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "update: ticket_id too long",
            Who::Admin,
            Call::Update(with(update(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "update: expected_version -1",
            Who::Admin,
            Call::Update(with(update(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        (
            "update: update_mask missing",
            Who::Admin,
            Call::Update(with(update(), |r| r.update_mask = None)),
            &["update_mask"],
        ),
        (
            "update: update_mask empty",
            Who::Admin,
            Call::Update(with(update(), |r| r.update_mask = mask(&[]))),
            &["update_mask"],
        ),
        (
            "update: update_mask status",
            Who::Admin,
            Call::Update(with(update(), |r| r.update_mask = mask(&["status"]))),
            &["update_mask"],
        ),
        (
            "update: update_mask unknown path",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.update_mask = mask(&["subject", "no_such_field"])
            })),
            &["update_mask"],
        ),
        (
            "update: subject too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket.as_mut().unwrap().subject = long(501)
            })),
            &["ticket.subject"],
        ),
        (
            "update: priority 5",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(pb::Ticket {
                    priority: 5,
                    ..Default::default()
                });
                r.update_mask = mask(&["priority"])
            })),
            &["ticket.priority"],
        ),
        (
            "update: type too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(pb::Ticket {
                    r#type: long(129),
                    ..Default::default()
                });
                r.update_mask = mask(&["type"])
            })),
            &["ticket.type"],
        ),
        (
            "update: tags too many",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    tags: (0..51).map(|i| format!("t{i}")).collect(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["tags"])
            })),
            &["ticket.metadata.tags"],
        ),
        (
            "update: metadata.tags[0] empty",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    tags: vec![String::new()],
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.tags"])
            })),
            &["ticket.metadata.tags[0]"],
        ),
        (
            "update: content too large",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(pb::Ticket {
                    content: huge_struct(),
                    ..Default::default()
                });
                r.update_mask = mask(&["content"])
            })),
            &["ticket.content"],
        ),
        (
            "update: content not finite",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(pb::Ticket {
                    content: nan_struct(),
                    ..Default::default()
                });
                r.update_mask = mask(&["content"])
            })),
            &["ticket.content"],
        ),
        (
            "update: metadata.ccr empty",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata::default()));
                r.update_mask = mask(&["metadata.ccr"])
            })),
            &["ticket.metadata.ccr"],
        ),
        (
            "update: metadata.ccr too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    ccr: long(129),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.ccr"])
            })),
            &["ticket.metadata.ccr"],
        ),
        (
            "update: metadata.ccr unknown",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    ccr: "no-such-ccr".into(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.ccr"])
            })),
            &["ticket.metadata.ccr"],
        ),
        (
            "update: metadata.local_ccr too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    local_ccr: long(201),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.local_ccr"])
            })),
            &["ticket.metadata.local_ccr"],
        ),
        (
            "update: metadata.order_id too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    order_id: long(129),
                    entity_id: "FP_SG".into(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.order_id"])
            })),
            &["ticket.metadata.order_id"],
        ),
        (
            "update: metadata.entity_id too long",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    order_id: "o-1".into(),
                    entity_id: long(129),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.order_id", "metadata.entity_id"])
            })),
            &["ticket.metadata.entity_id"],
        ),
        (
            "update: metadata.entity_id without metadata.order_id",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    entity_id: "FP_SG".into(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.entity_id"])
            })),
            &["update_mask"],
        ),
        (
            "update: metadata.order_id without entity_id",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    order_id: "o-1".into(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.order_id"])
            })),
            &["ticket.metadata.entity_id"],
        ),
        (
            "update: metadata.language empty",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata::default()));
                r.update_mask = mask(&["metadata.language"])
            })),
            &["ticket.metadata.language"],
        ),
        (
            "update: metadata.first_response_at nanos -1",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    first_response_at: bad_nanos(-1),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.first_response_at"])
            })),
            &["ticket.metadata.first_response_at"],
        ),
        (
            "update: metadata.picked_at nanos 1e9",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    picked_at: bad_nanos(1_000_000_000),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.picked_at"])
            })),
            &["ticket.metadata.picked_at"],
        ),
        (
            "update: metadata.picked_at year 10000",
            Who::Admin,
            Call::Update(with(update(), |r| {
                r.ticket = Some(meta(pb::TicketMetadata {
                    picked_at: year_10000(),
                    ..Default::default()
                }));
                r.update_mask = mask(&["metadata.picked_at"])
            })),
            &["ticket.metadata.picked_at"],
        ),
        // ---- AssignTicket
        (
            "assign: ticket_id empty",
            Who::Admin,
            Call::Assign(with(assign(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "assign: ticket_id too long",
            Who::Admin,
            Call::Assign(with(assign(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "assign: agent_id empty (service)",
            Who::Service,
            Call::Assign(with(assign(), |r| r.agent_id.clear())),
            &["agent_id"],
        ),
        (
            "assign: agent_id too long",
            Who::Admin,
            Call::Assign(with(assign(), |r| r.agent_id = long(129))),
            &["agent_id"],
        ),
        (
            "assign: agent_id unknown",
            Who::Admin,
            Call::Assign(with(assign(), |r| r.agent_id = UNKNOWN_AGENT.into())),
            &["agent_id"],
        ),
        (
            "assign: expected_version -1",
            Who::Admin,
            Call::Assign(with(assign(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- ReassignTicket
        (
            "reassign: ticket_id empty",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "reassign: agent_id empty",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.agent_id.clear())),
            &["agent_id"],
        ),
        (
            "reassign: agent_id too long",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.agent_id = long(129))),
            &["agent_id"],
        ),
        (
            "reassign: agent_id unknown",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.agent_id = UNKNOWN_AGENT.into())),
            &["agent_id"],
        ),
        (
            "reassign: reason too long",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.reason = long(2001))),
            &["reason"],
        ),
        (
            "reassign: expected_version -1",
            Who::Admin,
            Call::Reassign(with(reassign(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- TransferTicket
        (
            "transfer: ticket_id empty",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "transfer: queue_id empty",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.queue_id.clear())),
            &["queue_id"],
        ),
        (
            "transfer: queue_id too long",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.queue_id = long(129))),
            &["queue_id"],
        ),
        (
            "transfer: queue_id unknown",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.queue_id = UNKNOWN_QUEUE.into())),
            &["queue_id"],
        ),
        (
            "transfer: reason too long",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.reason = long(2001))),
            &["reason"],
        ),
        (
            "transfer: expected_version -1",
            Who::Admin,
            Call::Transfer(with(transfer(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- EscalateTicket
        (
            "escalate: ticket_id empty",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "escalate: department too long",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.department = long(129))),
            &["department"],
        ),
        (
            "escalate: department unknown",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| {
                r.department = "no-such-department".into()
            })),
            &["department"],
        ),
        (
            "escalate: to_agent too long",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.to_agent = long(129))),
            &["to_agent"],
        ),
        (
            "escalate: to_agent unknown",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.to_agent = UNKNOWN_AGENT.into())),
            &["to_agent"],
        ),
        (
            "escalate: neither department nor to_agent",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| {
                r.department.clear();
                r.to_agent.clear()
            })),
            &["department"],
        ),
        (
            "escalate: status_reason too long",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.status_reason = long(2001))),
            &["status_reason"],
        ),
        (
            "escalate: resolution_reason too long",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.resolution_reason = long(2001))),
            &["resolution_reason"],
        ),
        (
            "escalate: expected_version -1",
            Who::Admin,
            Call::Escalate(with(escalate(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- HoldTicket
        (
            "hold: ticket_id empty",
            Who::Admin,
            Call::Hold(with(hold(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "hold: ticket_id too long",
            Who::Admin,
            Call::Hold(with(hold(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "hold: reason too long",
            Who::Admin,
            Call::Hold(with(hold(), |r| r.reason = long(2001))),
            &["reason"],
        ),
        (
            "hold: expected_version -1",
            Who::Admin,
            Call::Hold(with(hold(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- ResumeTicket
        (
            "resume: ticket_id empty",
            Who::Admin,
            Call::Resume(with(resume(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "resume: ticket_id too long",
            Who::Admin,
            Call::Resume(with(resume(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "resume: expected_version -1",
            Who::Admin,
            Call::Resume(with(resume(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- HandoffTicket
        (
            "handoff: ticket_id empty",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "handoff: queue_id too long",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.queue_id = long(129))),
            &["queue_id"],
        ),
        (
            "handoff: queue_id unknown",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.queue_id = UNKNOWN_QUEUE.into())),
            &["queue_id"],
        ),
        (
            "handoff: agent_id too long",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.agent_id = long(129))),
            &["agent_id"],
        ),
        (
            "handoff: agent_id unknown",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.agent_id = UNKNOWN_AGENT.into())),
            &["agent_id"],
        ),
        (
            "handoff: reason too long",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.reason = long(2001))),
            &["reason"],
        ),
        (
            "handoff: expected_version -1",
            Who::Admin,
            Call::Handoff(with(handoff(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- CloseTicket
        (
            "close: ticket_id empty",
            Who::Admin,
            Call::Close(with(close(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "close: ticket_id too long",
            Who::Admin,
            Call::Close(with(close(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "close: resolution_status 99",
            Who::Admin,
            Call::Close(with(close(), |r| r.resolution_status = 99)),
            &["resolution_status"],
        ),
        (
            "close: resolution_reason too long",
            Who::Admin,
            Call::Close(with(close(), |r| r.resolution_reason = long(2001))),
            &["resolution_reason"],
        ),
        (
            "close: status_reason too long",
            Who::Admin,
            Call::Close(with(close(), |r| r.status_reason = long(2001))),
            &["status_reason"],
        ),
        (
            "close: expected_version -1",
            Who::Admin,
            Call::Close(with(close(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- ReopenTicket
        (
            "reopen: ticket_id empty",
            Who::Admin,
            Call::Reopen(with(reopen(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "reopen: reason too long",
            Who::Admin,
            Call::Reopen(with(reopen(), |r| r.reason = long(2001))),
            &["reason"],
        ),
        (
            "reopen: expected_version -1",
            Who::Admin,
            Call::Reopen(with(reopen(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- RateTicket
        (
            "rate: ticket_id empty",
            Who::Service,
            Call::Rate(with(rate(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "rate: score 0",
            Who::Service,
            Call::Rate(with(rate(), |r| r.score = 0)),
            &["score"],
        ),
        (
            "rate: score 6",
            Who::Service,
            Call::Rate(with(rate(), |r| r.score = 6)),
            &["score"],
        ),
        (
            "rate: comment too long",
            Who::Service,
            Call::Rate(with(rate(), |r| r.comment = long(2001))),
            &["comment"],
        ),
        (
            "rate: expected_version -1",
            Who::Service,
            Call::Rate(with(rate(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- LinkTicket
        (
            "link: ticket_id empty",
            Who::Admin,
            Call::Link(with(link(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "link: link missing",
            Who::Admin,
            Call::Link(with(link(), |r| r.link = None)),
            &["link"],
        ),
        (
            "link: link.ticket_id empty",
            Who::Admin,
            Call::Link(with(link(), |r| r.link.as_mut().unwrap().ticket_id.clear())),
            &["link.ticket_id"],
        ),
        (
            "link: link.ticket_id too long",
            Who::Admin,
            Call::Link(with(link(), |r| {
                r.link.as_mut().unwrap().ticket_id = long(129)
            })),
            &["link.ticket_id"],
        ),
        (
            "link: link.id_type 99",
            Who::Admin,
            Call::Link(with(link(), |r| r.link.as_mut().unwrap().id_type = 99)),
            &["link.id_type"],
        ),
        (
            "link: link.id_type unspecified",
            Who::Admin,
            Call::Link(with(link(), |r| r.link.as_mut().unwrap().id_type = 0)),
            &["link.id_type"],
        ),
        (
            "link: link.category 99",
            Who::Admin,
            Call::Link(with(link(), |r| r.link.as_mut().unwrap().category = 99)),
            &["link.category"],
        ),
        (
            "link: link.category unspecified",
            Who::Admin,
            Call::Link(with(link(), |r| r.link.as_mut().unwrap().category = 0)),
            &["link.category"],
        ),
        (
            "link: link.reason too long",
            Who::Admin,
            Call::Link(with(link(), |r| {
                r.link.as_mut().unwrap().reason = long(2001)
            })),
            &["link.reason"],
        ),
        (
            "link: expected_version -1",
            Who::Admin,
            Call::Link(with(link(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- RecordWorkflowEvent
        (
            "workflow: ticket_id empty",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "workflow: ticket_id too long",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "workflow: type 99",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.r#type = 99)),
            &["type"],
        ),
        (
            "workflow: type unspecified",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.r#type = 0)),
            &["type"],
        ),
        (
            "workflow: type not a workflow type",
            Who::Service,
            Call::Workflow(with(workflow(), |r| {
                r.r#type = pb::TicketEventType::Closed as i32
            })),
            &["type"],
        ),
        (
            "workflow: workflow empty",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.workflow.clear())),
            &["workflow"],
        ),
        (
            "workflow: workflow too long",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.workflow = long(129))),
            &["workflow"],
        ),
        (
            "workflow: details too large",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.details = huge_struct())),
            &["details"],
        ),
        (
            "workflow: details not finite",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.details = nan_struct())),
            &["details"],
        ),
        (
            "workflow: details too deep",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.details = deep_struct())),
            &["details"],
        ),
        (
            "workflow: expected_version -1",
            Who::Service,
            Call::Workflow(with(workflow(), |r| r.expected_version = -1)),
            &["expected_version"],
        ),
        // ---- ListTicketEvents
        (
            "events: ticket_id empty",
            Who::Admin,
            Call::Events(with(events(), |r| r.ticket_id.clear())),
            &["ticket_id"],
        ),
        (
            "events: ticket_id too long",
            Who::Admin,
            Call::Events(with(events(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        (
            "events: page_size -1",
            Who::Admin,
            Call::Events(with(events(), |r| r.page_size = -1)),
            &["page_size"],
        ),
        (
            "events: page_size 501",
            Who::Admin,
            Call::Events(with(events(), |r| r.page_size = 501)),
            &["page_size"],
        ),
        (
            "events: page_token garbage",
            Who::Admin,
            Call::Events(with(events(), |r| r.page_token = "not a token!".into())),
            &["page_token"],
        ),
        (
            "events: page_token of a listing",
            Who::Admin,
            Call::Events(with(events(), |r| r.page_token = token.into())),
            &["page_token"],
        ),
        // ---- GetCustomerHistory
        (
            "history: neither customer_id nor ticket_id",
            Who::Admin,
            Call::History(with(history(), |r| r.customer_id.clear())),
            &["customer_id"],
        ),
        (
            "history: customer_id too long",
            Who::Admin,
            Call::History(with(history(), |r| r.customer_id = long(129))),
            &["customer_id"],
        ),
        (
            "history: ticket_id too long",
            Who::Admin,
            Call::History(with(history(), |r| {
                r.customer_id.clear();
                r.ticket_id = long(129)
            })),
            &["ticket_id"],
        ),
        (
            "history: page -1",
            Who::Admin,
            Call::History(with(history(), |r| r.page = -1)),
            &["page"],
        ),
        (
            "history: page too large",
            Who::Admin,
            Call::History(with(history(), |r| r.page = 1_000_001)),
            &["page"],
        ),
        (
            "history: a page deeper than 10,000 tickets",
            Who::Admin,
            Call::History(with(history(), |r| {
                r.page = 22;
                r.page_size = 500
            })),
            &["page"],
        ),
        (
            "history: page_size -1",
            Who::Admin,
            Call::History(with(history(), |r| r.page_size = -1)),
            &["page_size"],
        ),
        (
            "history: page_size 501",
            Who::Admin,
            Call::History(with(history(), |r| r.page_size = 501)),
            &["page_size"],
        ),
        // ---- UpsertEscalationDepartment
        (
            "department: missing",
            Who::Admin,
            Call::UpsertDepartment(pb::UpsertEscalationDepartmentRequest { department: None }),
            &["department.id", "department.label"],
        ),
        (
            "department: id empty",
            Who::Admin,
            Call::UpsertDepartment(pb::UpsertEscalationDepartmentRequest {
                department: Some(with(department(), |d| d.id.clear())),
            }),
            &["department.id"],
        ),
        (
            "department: id too long",
            Who::Admin,
            Call::UpsertDepartment(pb::UpsertEscalationDepartmentRequest {
                department: Some(with(department(), |d| d.id = long(129))),
            }),
            &["department.id"],
        ),
        (
            "department: label empty",
            Who::Admin,
            Call::UpsertDepartment(pb::UpsertEscalationDepartmentRequest {
                department: Some(with(department(), |d| d.label.clear())),
            }),
            &["department.label"],
        ),
        (
            "department: label too long",
            Who::Admin,
            Call::UpsertDepartment(pb::UpsertEscalationDepartmentRequest {
                department: Some(with(department(), |d| d.label = long(201))),
            }),
            &["department.label"],
        ),
        // ---- UpsertQueue
        (
            "queue: missing",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest { queue: None }),
            &["queue.id", "queue.name"],
        ),
        (
            "queue: id empty",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.id.clear())),
            }),
            &["queue.id"],
        ),
        (
            "queue: id too long",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.id = long(129))),
            }),
            &["queue.id"],
        ),
        (
            "queue: name empty",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.name.clear())),
            }),
            &["queue.name"],
        ),
        (
            "queue: name too long",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.name = long(201))),
            }),
            &["queue.name"],
        ),
        (
            "queue: language too long",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.language = long(129))),
            }),
            &["queue.language"],
        ),
        (
            "queue: default_sla_seconds -1",
            Who::Admin,
            Call::UpsertQueue(pb::UpsertQueueRequest {
                queue: Some(with(queue(), |q| q.default_sla_seconds = -1)),
            }),
            &["queue.default_sla_seconds"],
        ),
        // ---- GetQueueStats
        (
            "stats: queue_id empty",
            Who::Admin,
            Call::QueueStats(with(stats(), |r| r.queue_id.clear())),
            &["queue_id"],
        ),
        (
            "stats: queue_id too long",
            Who::Admin,
            Call::QueueStats(with(stats(), |r| r.queue_id = long(129))),
            &["queue_id"],
        ),
        (
            "stats: queue_id unknown",
            Who::Admin,
            Call::QueueStats(with(stats(), |r| r.queue_id = UNKNOWN_QUEUE.into())),
            &["queue_id"],
        ),
        (
            "stats: ticket_id too long",
            Who::Admin,
            Call::QueueStats(with(stats(), |r| r.ticket_id = long(129))),
            &["ticket_id"],
        ),
        // ---- WatchTickets
        (
            "watch: queues[0] empty",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                queues: vec![String::new()],
                ..Default::default()
            }),
            &["queues[0]"],
        ),
        (
            "watch: queues[1] too long",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                queues: vec![QUEUE.into(), long(129)],
                ..Default::default()
            }),
            &["queues[1]"],
        ),
        (
            "watch: queues too many",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                queues: (0..101).map(|i| format!("q{i}")).collect(),
                ..Default::default()
            }),
            &["queues"],
        ),
        (
            "watch: assignee too long",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                assignee: long(129),
                ..Default::default()
            }),
            &["assignee"],
        ),
        (
            "watch: ticket_id too long",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                ticket_id: long(129),
                ..Default::default()
            }),
            &["ticket_id"],
        ),
        (
            "watch: after_event_id -1",
            Who::Admin,
            Call::Watch(pb::WatchTicketsRequest {
                after_event_id: -1,
                ..Default::default()
            }),
            &["after_event_id"],
        ),
    ];
    rows.into_iter()
        .map(|(name, who, call, fields)| Row {
            name: name.to_string(),
            who,
            call,
            fields,
        })
        .collect()
}

async fn total_size(admin: &mut Tickets) -> i64 {
    let request = admin.req(pb::ListTicketsRequest {
        include_total_size: true,
        ..Default::default()
    });
    admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner()
        .total_size
}

both_backends! {
#[tokio::test]
async fn every_bad_field_is_invalid_argument_naming_it_and_writes_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut service = server.tickets("svc-workflows", Role::Service).await;
    let target = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.create(new_ticket("cust-2")).await.expect("create");
    let request = admin.req(pb::ListTicketsRequest {
        page_size: 1,
        ..Default::default()
    });
    let token = admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner()
        .next_page_token;
    assert!(!token.is_empty(), "two tickets give a second page");

    let total_before = total_size(&mut admin).await;
    let events_before = admin.events(&target.id).await.expect("events");
    let request = admin.req(pb::ListQueuesRequest {});
    let queues_before = admin.client.list_queues(request).await.expect("queues");
    let request = admin.req(pb::ListEscalationDepartmentsRequest {});
    let departments_before = admin
        .client
        .list_escalation_departments(request)
        .await
        .expect("departments");

    let rows = table(&target.id, &token);
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let client = match row.who {
            Who::Admin => &mut admin,
            Who::Service => &mut service,
        };
        match row.call.send(client).await {
            Ok(()) => failures.push(format!("{}: succeeded", row.name)),
            Err(status) if status.code() != Code::InvalidArgument => failures.push(format!(
                "{}: {:?} {}",
                row.name,
                status.code(),
                status.message()
            )),
            Err(status) => {
                let mut got = violated_fields(&status);
                got.sort();
                got.dedup();
                let mut want: Vec<String> = row.fields.iter().map(|f| f.to_string()).collect();
                want.sort();
                if got != want {
                    failures.push(format!(
                        "{}: fields {got:?}, want {want:?} ({})",
                        row.name,
                        status.message()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing was written.
    assert_eq!(total_size(&mut admin).await, total_before);
    let after = admin.get(&target.id).await.expect("get");
    assert_eq!(after, target);
    assert_eq!(
        admin.events(&target.id).await.expect("events"),
        events_before
    );
    let request = admin.req(pb::ListQueuesRequest {});
    let queues_after = admin.client.list_queues(request).await.expect("queues");
    assert_eq!(queues_after.into_inner(), queues_before.into_inner());
    let request = admin.req(pb::ListEscalationDepartmentsRequest {});
    let departments_after = admin
        .client
        .list_escalation_departments(request)
        .await
        .expect("departments");
    assert_eq!(
        departments_after.into_inner(),
        departments_before.into_inner()
    );
    server.stop().await;
}
}

/// CreateTicketRequest as the wire sees it, except that `subject` (field 3) is raw bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RawCreateTicketRequest {
    #[prost(bytes = "vec", tag = "3")]
    subject: Vec<u8>,
    #[prost(string, tag = "5")]
    queue: String,
    #[prost(string, tag = "6")]
    channel: String,
    #[prost(message, optional, tag = "10")]
    customer: Option<pb::Customer>,
}

both_backends! {
#[tokio::test]
async fn invalid_utf8_is_invalid_argument(backend: Backend) {
    use tonic::codegen::http::uri::PathAndQuery;

    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let before = total_size(&mut admin).await;

    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    let path = PathAndQuery::from_static("/casework.v1.TicketService/CreateTicket");
    let auth = admin.clone();
    let send = |subject: Vec<u8>| {
        auth.req(RawCreateTicketRequest {
            subject,
            queue: QUEUE.into(),
            channel: "chat".into(),
            customer: Some(pb::Customer {
                id: "cust-1".into(),
                ..Default::default()
            }),
        })
    };

    grpc.ready().await.expect("ready");
    let codec =
        tonic_prost::ProstCodec::<RawCreateTicketRequest, pb::CreateTicketResponse>::default();
    let result = grpc
        .unary(send(vec![0xff, 0xfe]), path.clone(), codec)
        .await;
    let status = assert_code(result, Code::InvalidArgument);
    assert!(
        !status.message().to_lowercase().contains("internal"),
        "{status:?}"
    );
    assert_eq!(
        violated_fields(&status),
        vec!["subject".to_string()],
        "{status:?}"
    );
    assert_eq!(total_size(&mut admin).await, before);

    // Positive control: the same hand-made message with valid UTF-8 creates a ticket, so the
    // refusal above is about the bytes.
    grpc.ready().await.expect("ready");
    let codec =
        tonic_prost::ProstCodec::<RawCreateTicketRequest, pb::CreateTicketResponse>::default();
    let created = grpc
        .unary(
            send("Où est ma commande ?".as_bytes().to_vec()),
            path,
            codec,
        )
        .await
        .expect("valid UTF-8 is accepted")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(created.subject, "Où est ma commande ?");
    assert_eq!(total_size(&mut admin).await, before + 1);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn a_message_over_4_mib_is_resource_exhausted(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let before = total_size(&mut admin).await;
    let mut big = admin.clone();
    big.client = big.client.max_encoding_message_size(usize::MAX);
    let request = big.req(pb::CreateTicketRequest {
        subject: long(5 * 1024 * 1024),
        ..new_ticket("cust-1")
    });
    let status = assert_code(
        big.client.create_ticket(request).await,
        Code::ResourceExhausted,
    );
    assert!(!status.message().is_empty());
    assert_eq!(total_size(&mut admin).await, before);

    // The server is still serving on the same connection.
    let created = big.create(new_ticket("cust-1")).await.expect("create");
    assert_eq!(created.number, 1);
    server.stop().await;
}
}

/// A refusal lists at most ten violations and clips what it echoes, so it fits the 16 KiB of
/// headers a plain HTTP/2 client accepts: here 500 too-long filter values, each of 2,000
/// two-byte characters (every one percent-encoded in `grpc-message`).
#[tokio::test]
async fn a_refusal_of_a_huge_request_fits_in_a_clients_headers() {
    use prost::Message;
    let server = TestServer::start().await;
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    let long = vec!["é".repeat(2_000); 100];
    let request = pb::ListTicketsRequest {
        filter: Some(pb::TicketFilter {
            queues: long.clone(),
            channels: long.clone(),
            types: long.clone(),
            sources: long.clone(),
            languages: long,
            ..Default::default()
        }),
        ..Default::default()
    };
    let headers = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", token.as_str()),
    ];
    let (http, status) = raw_grpc(
        &server,
        "/casework.v1.TicketService/ListTickets",
        &headers,
        grpc_frame(0, &request.encode_to_vec()),
    )
    .await;
    assert_eq!(http, 200);
    let status = status.expect("a gRPC status");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violated_fields(&status);
    assert_eq!(fields.len(), 10, "{fields:?}");
    assert!(
        fields.iter().all(|f| f.starts_with("filter.")),
        "{fields:?}"
    );
    assert!(
        status.message().ends_with("and 490 more"),
        "{}",
        status.message()
    );
    server.stop().await;
}
