//! The access-control matrix: reading and closing a ticket, by every kind of caller, over
//! gRPC, grpc-web and REST. For each cell: the three transports agree; callers who may not
//! know the ticket get exactly the answer of a ticket that does not exist; callers without a
//! valid token are UNAUTHENTICATED; a refused close changed nothing.
#[macro_use]
mod common;

use casework::domain::{AgentRole, Role};
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use common::*;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::{Code, Status};
use tower::Layer;

const QUEUE_AGENT: &str = "queue-agent@example.com";
const LEAD: &str = "lead@example.com";
const DEMOTED: &str = "demoted@example.com";
const OWNER: &str = "cust-owner";

type GrpcWeb = TicketServiceClient<
    tonic_web::GrpcWebClientService<
        hyper_util::client::legacy::Client<
            HttpConnector,
            tonic_web::GrpcWebCall<tonic::body::Body>,
        >,
    >,
>;

/// What a call came to, in terms every transport shares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    Unauthenticated,
    Denied,
    /// Not found, with the message (the ticket id replaced by `{id}`).
    Missing(String),
    Other(String),
}

fn from_grpc<T>(result: Result<T, Status>, id: &str) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(status) => match status.code() {
            Code::Unauthenticated => Outcome::Unauthenticated,
            Code::PermissionDenied => Outcome::Denied,
            Code::NotFound => Outcome::Missing(status.message().replace(id, "{id}")),
            other => Outcome::Other(format!("{other:?}")),
        },
    }
}

/// REST's answer, its 404 reduced to the class (its body is the blueprint's, not gRPC's).
fn from_rest(status: u16) -> Outcome {
    match status {
        200 | 201 => Outcome::Ok,
        401 => Outcome::Unauthenticated,
        403 => Outcome::Denied,
        404 => Outcome::Missing(String::new()),
        other => Outcome::Other(other.to_string()),
    }
}

/// The class of an outcome, for comparing a REST answer with a gRPC one.
fn class(outcome: &Outcome) -> Outcome {
    match outcome {
        Outcome::Missing(_) => Outcome::Missing(String::new()),
        other => other.clone(),
    }
}

/// What a caller's read and close must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Right {
    Allowed,
    /// No valid token.
    Unauthenticated,
    /// Knows the ticket, may not do this.
    Denied,
    /// May not know the ticket: reads exactly like a missing one.
    Hidden,
}
use Right::*;

struct Caller {
    label: &'static str,
    headers: Vec<(&'static str, String)>,
    /// The read's and the close's expected outcome.
    rights: (Right, Right),
}

fn callers(server: &TestServer) -> Vec<Caller> {
    let bearer = |sub: &str, role| format!("bearer {}", server.token(sub, role));
    let service = bearer("svc-bot", Role::Service);
    let caller = |label, headers: Vec<(&'static str, String)>, rights| Caller {
        label,
        headers,
        rights,
    };
    vec![
        caller("none", vec![], (Unauthenticated, Unauthenticated)),
        caller(
            "garbage token",
            vec![("authorization", "bearer not.a.jwt".into())],
            (Unauthenticated, Unauthenticated),
        ),
        caller(
            "customer",
            vec![("authorization", bearer(OWNER, Role::Customer))],
            (Allowed, Denied),
        ),
        caller(
            "other customer",
            vec![("authorization", bearer("cust-other", Role::Customer))],
            (Hidden, Hidden),
        ),
        caller(
            "agent of the queue",
            vec![("authorization", bearer(QUEUE_AGENT, Role::Agent))],
            (Allowed, Allowed),
        ),
        caller(
            "agent of another queue",
            vec![("authorization", bearer(AGENT, Role::Agent))],
            (Hidden, Hidden),
        ),
        caller(
            "supervisor of another queue",
            vec![("authorization", bearer(LEAD, Role::Supervisor))],
            (Hidden, Hidden),
        ),
        caller(
            "supervisor",
            vec![("authorization", bearer(SUPERVISOR, Role::Supervisor))],
            (Allowed, Allowed),
        ),
        caller(
            "admin",
            vec![("authorization", bearer(ADMIN, Role::Admin))],
            (Allowed, Allowed),
        ),
        caller(
            "demoted supervisor",
            vec![("authorization", bearer(DEMOTED, Role::Supervisor))],
            (Hidden, Hidden),
        ),
        caller(
            "service",
            vec![("authorization", service.clone())],
            (Allowed, Allowed),
        ),
        caller(
            "service for the queue's agent",
            vec![
                ("authorization", service.clone()),
                ("x-agent-user-id", QUEUE_AGENT.into()),
            ],
            (Allowed, Allowed),
        ),
        caller(
            "service for another queue's agent",
            vec![
                ("authorization", service.clone()),
                ("x-agent-user-id", AGENT.into()),
            ],
            (Hidden, Hidden),
        ),
        caller(
            "service for the customer",
            vec![("authorization", service), ("x-customer-id", OWNER.into())],
            (Allowed, Denied),
        ),
    ]
}

fn request<T>(caller: &Caller, body: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    for (name, value) in &caller.headers {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("header"));
    }
    request
}

fn get(id: &str) -> pb::GetTicketRequest {
    pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::Id(id.into())),
    }
}

fn close(id: &str) -> pb::CloseTicketRequest {
    pb::CloseTicketRequest {
        ticket_id: id.into(),
        ..Default::default()
    }
}

/// The caller's read and close of `id` over one transport.
async fn grpc_cell(
    client: &mut TicketServiceClient<tonic::transport::Channel>,
    caller: &Caller,
    id: &str,
) -> (Outcome, Outcome) {
    let read = from_grpc(client.get_ticket(request(caller, get(id))).await, id);
    let write = from_grpc(client.close_ticket(request(caller, close(id))).await, id);
    (read, write)
}

async fn grpc_web_cell(client: &mut GrpcWeb, caller: &Caller, id: &str) -> (Outcome, Outcome) {
    let read = from_grpc(client.get_ticket(request(caller, get(id))).await, id);
    let write = from_grpc(client.close_ticket(request(caller, close(id))).await, id);
    (read, write)
}

async fn rest_cell(server: &TestServer, caller: &Caller, id: &str) -> (Outcome, Outcome) {
    let http = reqwest::Client::new();
    let with = |mut builder: reqwest::RequestBuilder| {
        for (name, value) in &caller.headers {
            builder = builder.header(*name, value);
        }
        builder
    };
    let read = with(http.get(format!("{}/v1/tickets/{id}", server.url())))
        .send()
        .await
        .expect("rest get")
        .status()
        .as_u16();
    let write = with(http.post(format!("{}/v1/tickets/{id}/close", server.url())))
        .json(&serde_json::json!({"statusReason": "matrix", "resolutionReason": "matrix"}))
        .send()
        .await
        .expect("rest close")
        .status()
        .as_u16();
    (from_rest(read), from_rest(write))
}

both_backends! {
#[tokio::test]
async fn every_caller_over_every_transport_reads_and_closes_as_its_rights_say(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let store = server.app.store();
    for (id, role, queues) in [
        (QUEUE_AGENT, AgentRole::Agent, vec![OTHER_QUEUE]),
        (LEAD, AgentRole::Supervisor, vec![QUEUE]),
        // Minted as a supervisor of the ticket's queue, since demoted and moved.
        (DEMOTED, AgentRole::Agent, vec![QUEUE]),
    ] {
        store
            .upsert_agent(&agent(id, id, role, &queues))
            .await
            .expect("agent");
    }
    let mut admin = server.admin().await;
    let mut grpc = TicketServiceClient::new(server.channel().await);
    let mut grpc_web: GrpcWeb = TicketServiceClient::with_origin(
        tonic_web::GrpcWebClientLayer::new().layer(
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(HttpConnector::new()),
        ),
        server.url().parse().expect("uri"),
    );
    let new = || {
        let mut ticket = new_ticket(OWNER);
        ticket.queue = OTHER_QUEUE.into();
        ticket
    };
    // What a ticket that does not exist reads like (its id in place of the real one).
    let missing = uuid::Uuid::now_v7().to_string();
    let admin_caller = &callers(&server)[8];
    assert_eq!(admin_caller.label, "admin");
    let (absent, _) = grpc_cell(&mut grpc, admin_caller, &missing).await;
    assert!(matches!(absent, Outcome::Missing(_)), "{absent:?}");

    for caller in callers(&server) {
        let mut cells = Vec::new();
        for transport in ["gRPC", "grpc-web", "REST"] {
            // A fresh ticket per cell: a close that was allowed does not colour the next.
            let ticket = admin.create(new()).await.expect("create");
            let before = admin.events(&ticket.id).await.expect("events").len();
            let (read, write) = match transport {
                "gRPC" => grpc_cell(&mut grpc, &caller, &ticket.id).await,
                "grpc-web" => grpc_web_cell(&mut grpc_web, &caller, &ticket.id).await,
                _ => rest_cell(&server, &caller, &ticket.id).await,
            };
            if write != Outcome::Ok {
                let after = admin.events(&ticket.id).await.expect("events").len();
                assert_eq!(before, after, "{} over {transport}: a refused close wrote", caller.label);
            }
            cells.push((transport, read, write));
        }
        // The transports agree (REST by class: its bodies are the blueprints').
        let (_, grpc_read, grpc_write) = cells[0].clone();
        assert_eq!((&cells[1].1, &cells[1].2), (&grpc_read, &grpc_write), "{}: grpc-web", caller.label);
        assert_eq!(
            (class(&cells[2].1), class(&cells[2].2)),
            (class(&grpc_read), class(&grpc_write)),
            "{}: REST",
            caller.label
        );
        let label = caller.label;
        let expected = |right: Right| match right {
            Allowed => Outcome::Ok,
            Unauthenticated => Outcome::Unauthenticated,
            Denied => Outcome::Denied,
            // Exactly a missing ticket: same code, same words.
            Hidden => absent.clone(),
        };
        assert_eq!(grpc_read, expected(caller.rights.0), "{label}: read");
        assert_eq!(grpc_write, expected(caller.rights.1), "{label}: close");
        // No cell is ever an error of the server.
        for (transport, read, write) in &cells {
            for outcome in [read, write] {
                assert!(
                    !matches!(outcome, Outcome::Other(code) if code == "Internal" || code.starts_with('5')),
                    "{label} over {transport}: {outcome:?}"
                );
            }
        }
        eprintln!("{label:35} read {grpc_read:?}, close {grpc_write:?}");
    }
    server.stop().await;
}
}

/// What a call came to: passed the access check (answered, or refused for the ticket's state
/// or the input), refused for the caller, hidden (exactly what a missing key gets) or
/// unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Denied,
    Hidden,
    Unauthenticated,
}

/// The calls that name a ticket by id (`T`) or a room by id (`R`), made by one caller.
macro_rules! calls {
    ($caller:expr, $tickets:expr, $rooms:expr, $id:expr, $room:expr) => {{
        let (caller, id, room): (&Caller, &str, &str) = ($caller, $id, $room);
        let (t, r) = (&mut $tickets, &mut $rooms);
        let mut out: Vec<(&'static str, Result<(), Status>)> = Vec::new();
        macro_rules! call {
            ($client:ident, $name:literal, $method:ident, $request:expr) => {
                out.push((
                    $name,
                    $client.$method(request(caller, $request)).await.map(drop),
                ))
            };
        }
        call!(t, "get", get_ticket, get(id));
        call!(
            t,
            "update",
            update_ticket,
            pb::UpdateTicketRequest {
                ticket_id: id.into(),
                ticket: Some(pb::Ticket {
                    subject: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["subject".into()]
                }),
                expected_version: 0,
            }
        );
        call!(
            t,
            "events",
            list_ticket_events,
            pb::ListTicketEventsRequest {
                ticket_id: id.into(),
                page_size: 0,
                page_token: String::new(),
            }
        );
        call!(
            t,
            "history",
            get_customer_history,
            pb::GetCustomerHistoryRequest {
                ticket_id: id.into(),
                ..Default::default()
            }
        );
        call!(
            t,
            "link",
            link_ticket,
            pb::LinkTicketRequest {
                ticket_id: id.into(),
                link: Some(pb::TicketLink {
                    ticket_id: "SF-1".into(),
                    id_type: pb::TicketLinkIdType::Salesforce as i32,
                    category: pb::TicketLinkCategory::Escalated as i32,
                    reason: "escalated".into(),
                    ..Default::default()
                }),
                expected_version: 0,
            }
        );
        call!(
            r,
            "list messages",
            list_messages,
            pb::ListMessagesRequest {
                room_id: room.into(),
                ..Default::default()
            }
        );
        call!(
            r,
            "send",
            send_message,
            pb::SendMessageRequest {
                room_id: room.into(),
                body: "hello".into(),
                ..Default::default()
            }
        );
        call!(
            r,
            "mark read",
            mark_read,
            pb::MarkReadRequest {
                room_id: room.into(),
                message_id: String::new(),
            }
        );
        call!(
            r,
            "upload",
            upload_attachment,
            pb::UploadAttachmentRequest {
                room_id: room.into(),
                name: "a.txt".into(),
                content_type: "text/plain".into(),
                data: b"hi".to_vec(),
            }
        );
        call!(
            t,
            "assign",
            assign_ticket,
            pb::AssignTicketRequest {
                ticket_id: id.into(),
                agent_id: QUEUE_AGENT.into(),
                expected_version: 0,
            }
        );
        call!(
            t,
            "hold",
            hold_ticket,
            pb::HoldTicketRequest {
                ticket_id: id.into(),
                reason: "wait".into(),
                expected_version: 0,
            }
        );
        call!(
            t,
            "transfer",
            transfer_ticket,
            pb::TransferTicketRequest {
                ticket_id: id.into(),
                queue_id: QUEUE.into(),
                reason: "moving".into(),
                expected_version: 0,
            }
        );
        call!(t, "close", close_ticket, close(id));
        call!(
            t,
            "reopen",
            reopen_ticket,
            pb::ReopenTicketRequest {
                ticket_id: id.into(),
                reason: "again".into(),
                ..Default::default()
            }
        );
        call!(
            r,
            "close room",
            close_room,
            pb::CloseRoomRequest {
                room_id: room.into(),
                reason: String::new(),
            }
        );
        // Last: an agent who hands the ticket on or gives it away no longer sees it.
        call!(
            t,
            "escalate",
            escalate_ticket,
            pb::EscalateTicketRequest {
                ticket_id: id.into(),
                department: DEPARTMENT.into(),
                ..Default::default()
            }
        );
        call!(
            t,
            "reassign",
            reassign_ticket,
            pb::ReassignTicketRequest {
                ticket_id: id.into(),
                agent_id: SUPERVISOR.into(),
                reason: "over to you".into(),
                expected_version: 0,
            }
        );
        out
    }};
}

/// What each kind of caller may do with a ticket of OTHER_QUEUE (waiting, then assigned by
/// the calls themselves) and its room. Customers and services acting for them read their
/// ticket and history, use the conversation and may reopen; the ticket's staff do everything;
/// everyone else sees nothing — except that no customer reads an audit trail, whatever the id.
fn rights(label: &str, call: &str) -> Verdict {
    use Verdict::*;
    match label {
        "none" | "garbage token" => Unauthenticated,
        "customer" | "service for the customer" => match call {
            "get" | "history" | "list messages" | "send" | "mark read" | "upload" | "reopen" => {
                Passed
            }
            _ => Denied,
        },
        "other customer" if call == "events" => Denied,
        // An agent sees the tickets it holds and the waiting ones of its queues: once it has
        // closed the ticket (waiting again after the transfer), it no longer sees it.
        "agent of the queue" | "service for the queue's agent" => match call {
            "reopen" | "close room" | "escalate" | "reassign" => Hidden,
            _ => Passed,
        },
        "supervisor" | "admin" | "service" => Passed,
        _ => Hidden,
    }
}

both_backends! {
#[tokio::test]
/// Every call that names a ticket or a room, by every kind of caller (gRPC): its verdict is
/// the caller's right; a hidden ticket reads exactly like a missing one for every call; a
/// refused caller changed nothing.
async fn every_caller_on_every_ticket_and_room_call(backend: Backend) {
    use casework::pb::conversation_service_client::ConversationServiceClient;
    let server = TestServer::start_on(backend).await;
    let store = server.app.store();
    for (id, role, queues) in [
        (QUEUE_AGENT, AgentRole::Agent, vec![OTHER_QUEUE, QUEUE]),
        (LEAD, AgentRole::Supervisor, vec![QUEUE]),
        (DEMOTED, AgentRole::Agent, vec![QUEUE]),
    ] {
        store
            .upsert_agent(&agent(id, id, role, &queues))
            .await
            .expect("agent");
    }
    let mut admin = server.admin().await;
    let mut tickets = TicketServiceClient::new(server.channel().await);
    let mut rooms = ConversationServiceClient::new(server.channel().await);
    let all = callers(&server);
    let admin_caller = all.iter().find(|c| c.label == "admin").expect("admin");
    // What each call answers for a ticket and a room that do not exist.
    let (missing, missing_room) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let absent: Vec<(&str, Result<(), Status>)> =
        calls!(admin_caller, tickets, rooms, &missing, &missing_room);
    let words = |status: &Status| {
        status.message().replace(&missing, "KEY").replace(&missing_room, "KEY")
    };
    let (mut matrix, mut wrong) = (String::new(), Vec::new());
    // The calls some caller got an answer to (not only past the access check).
    let mut answered = std::collections::BTreeSet::new();
    for caller in &all {
        let mut ticket = new_ticket(OWNER);
        ticket.queue = OTHER_QUEUE.into();
        let ticket = admin.create(ticket).await.expect("create");
        let room = ticket.metadata.clone().expect("metadata").room_id;
        let before = admin.events(&ticket.id).await.expect("events").len();
        let outcomes = calls!(caller, tickets, rooms, &ticket.id, &room);
        let mut line = format!("{:35}", caller.label);
        for ((name, outcome), (_, missing)) in outcomes.iter().zip(&absent) {
            let verdict = match outcome {
                Ok(()) => {
                    answered.insert(*name);
                    Verdict::Passed
                }
                Err(status) => match status.code() {
                    Code::Unauthenticated => Verdict::Unauthenticated,
                    Code::PermissionDenied => Verdict::Denied,
                    Code::NotFound => {
                        // Exactly the missing key's answer, worded from the caller's key.
                        let missing = missing.as_ref().expect_err("missing key refused");
                        let key_words = status
                            .message()
                            .replace(&ticket.id, "KEY")
                            .replace(&room, "KEY");
                        assert_eq!(
                            (status.code(), key_words),
                            (missing.code(), words(missing)),
                            "{} {name}: hidden differs from missing",
                            caller.label
                        );
                        Verdict::Hidden
                    }
                    Code::Internal | Code::Unknown => {
                        panic!("{} {name}: server error {status:?}", caller.label)
                    }
                    // The access check passed and the ticket's state refused it (the inputs
                    // are valid: anything else would be a call that never works).
                    Code::FailedPrecondition => Verdict::Passed,
                    other => {
                        wrong.push(format!("{} {name}: {other:?} {status:?}", caller.label));
                        Verdict::Passed
                    }
                },
            };
            line.push_str(&format!(" {name}:{verdict:?}"));
            if verdict != rights(caller.label, name) {
                wrong.push(format!("{} {name}: {verdict:?} ({outcome:?})", caller.label));
            }
        }
        if rights(caller.label, "close") != Verdict::Passed {
            // Refused staff calls wrote nothing (the customer's own messages are events).
            let after = admin.events(&ticket.id).await.expect("events");
            let written: Vec<_> = after[before..]
                .iter()
                .filter(|e| e.r#type != pb::TicketEventType::MessageAdded as i32)
                .collect();
            assert!(written.is_empty(), "{}: refused calls wrote {written:?}", caller.label);
        }
        matrix.push_str(&line);
        matrix.push('\n');
    }
    eprintln!("{matrix}");
    assert!(wrong.is_empty(), "not as the rights say:\n{}", wrong.join("\n"));
    // Each call works for someone, except the last two: they come after the reopen, on a
    // waiting ticket, where the state refuses them (tests/lifecycle.rs has them succeed).
    let never: Vec<&str> = absent
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !answered.contains(name) && !["escalate", "reassign"].contains(name))
        .collect();
    assert!(never.is_empty(), "no caller was answered by {never:?}");
    server.stop().await;
}
}
