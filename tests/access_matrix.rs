//! The access-control matrix: every RPC and every REST route, by every kind of caller, over
//! gRPC, grpc-web and REST. For each cell: the caller's rights decide the answer; the
//! transports agree; callers who may not know a ticket, room or attachment get exactly the
//! answer of one that does not exist; callers without a valid token are UNAUTHENTICATED;
//! callers refused a ticket's changes wrote nothing to it (REST: every refused route), a
//! refused create stored nothing.
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

/// A grpc-web client's transport (HTTP/1.1, as a browser's).
type Web = tonic_web::GrpcWebClientService<
    hyper_util::client::legacy::Client<HttpConnector, tonic_web::GrpcWebCall<tonic::body::Body>>,
>;

fn web() -> Web {
    tonic_web::GrpcWebClientLayer::new().layer(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build(HttpConnector::new()),
    )
}

/// A kind of caller: its name in the matrix and the headers it sends.
struct Caller {
    label: &'static str,
    headers: Vec<(&'static str, String)>,
}

fn callers(server: &TestServer) -> Vec<Caller> {
    let bearer = |sub: &str, role| format!("bearer {}", server.token(sub, role));
    let service = bearer("svc-bot", Role::Service);
    let caller = |label, headers: Vec<(&'static str, String)>| Caller { label, headers };
    vec![
        caller("none", vec![]),
        caller(
            "garbage token",
            vec![("authorization", "bearer not.a.jwt".into())],
        ),
        caller(
            "customer",
            vec![("authorization", bearer(OWNER, Role::Customer))],
        ),
        caller(
            "other customer",
            vec![("authorization", bearer("cust-other", Role::Customer))],
        ),
        caller(
            "agent of the queue",
            vec![("authorization", bearer(QUEUE_AGENT, Role::Agent))],
        ),
        caller(
            "agent of another queue",
            vec![("authorization", bearer(AGENT, Role::Agent))],
        ),
        caller(
            "supervisor of another queue",
            vec![("authorization", bearer(LEAD, Role::Supervisor))],
        ),
        caller(
            "supervisor",
            vec![("authorization", bearer(SUPERVISOR, Role::Supervisor))],
        ),
        caller("admin", vec![("authorization", bearer(ADMIN, Role::Admin))]),
        caller(
            "demoted supervisor",
            vec![("authorization", bearer(DEMOTED, Role::Supervisor))],
        ),
        caller("service", vec![("authorization", service.clone())]),
        caller(
            "service for the queue's agent",
            vec![
                ("authorization", service.clone()),
                ("x-agent-user-id", QUEUE_AGENT.into()),
            ],
        ),
        caller(
            "service for another queue's agent",
            vec![
                ("authorization", service.clone()),
                ("x-agent-user-id", AGENT.into()),
            ],
        ),
        caller(
            "service for the customer",
            vec![("authorization", service), ("x-customer-id", OWNER.into())],
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

/// What a call came to: passed the access check (answered, or refused for the ticket's state),
/// refused for the caller, hidden (exactly what a missing key gets) or unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Denied,
    Hidden,
    Unauthenticated,
}

/// An answer as the caller sees it, the keys it named replaced by `KEY`: what two transports,
/// or a hidden and a missing key, must answer alike.
type Said = Result<(), (Code, String)>;

fn said(outcome: &Result<(), Status>, keys: &[&str]) -> Said {
    outcome.as_ref().map(drop).map_err(|status| {
        let words = keys
            .iter()
            .fold(status.message().to_string(), |words, key| {
                words.replace(key, "KEY")
            });
        (status.code(), words)
    })
}

/// The verdict of a gRPC answer. A server error fails the test; a code that is neither the
/// caller's nor the ticket's state (a bad input of the test's own) goes to `wrong`.
fn verdict(label: &str, name: &str, said: &Said, wrong: &mut Vec<String>) -> Verdict {
    match said {
        Ok(()) => Verdict::Passed,
        Err((code, message)) => match code {
            Code::Unauthenticated => Verdict::Unauthenticated,
            Code::PermissionDenied => Verdict::Denied,
            Code::NotFound => Verdict::Hidden,
            Code::Internal | Code::Unknown => panic!("{label} {name}: server error {message}"),
            // The access check passed and the ticket's state refused it.
            Code::FailedPrecondition => Verdict::Passed,
            other => {
                wrong.push(format!("{label} {name}: {other:?} {message}"));
                Verdict::Passed
            }
        },
    }
}

/// The calls that name a ticket, its room or an attachment in it, made by one caller with
/// `clients` (ticket, conversation and report service).
macro_rules! calls {
    ($caller:expr, $clients:expr, $id:expr, $room:expr, $attachment:expr) => {{
        let (caller, id, room, attachment): (&Caller, &str, &str, &str) =
            ($caller, $id, $room, $attachment);
        let (t, r, m) = (&mut $clients.0, &mut $clients.1, &mut $clients.2);
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
            m,
            "metrics",
            get_ticket_metrics,
            pb::GetTicketMetricsRequest {
                ticket_id: id.into()
            }
        );
        call!(
            r,
            "get room",
            get_room,
            pb::GetRoomRequest {
                room_id: room.into(),
                ticket_id: String::new(),
            }
        );
        call!(
            r,
            "watch room",
            watch_room,
            pb::WatchRoomRequest {
                room_id: room.into(),
                after_message_id: String::new(),
            }
        );
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
            t,
            "workflow",
            record_workflow_event,
            pb::RecordWorkflowEventRequest {
                ticket_id: id.into(),
                r#type: pb::TicketEventType::WorkflowPending as i32,
                workflow: "refund".into(),
                details: None,
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
        call!(r, "upload", upload_attachment, upload(room));
        call!(
            r,
            "get attachment",
            get_attachment,
            pb::GetAttachmentRequest {
                attachment_id: attachment.into(),
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
        // On hold: a hand-off (of a ticket no one has picked up yet) is refused by the state.
        call!(
            t,
            "handoff",
            handoff_ticket,
            pb::HandoffTicketRequest {
                ticket_id: id.into(),
                reason: "to the queue".into(),
                ..Default::default()
            }
        );
        call!(
            t,
            "resume",
            resume_ticket,
            pb::ResumeTicketRequest {
                ticket_id: id.into(),
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
            "rate",
            rate_ticket,
            pb::RateTicketRequest {
                ticket_id: id.into(),
                score: 5,
                comment: "thanks".into(),
                expected_version: 0,
            }
        );
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

fn upload(room: &str) -> pb::UploadAttachmentRequest {
    pb::UploadAttachmentRequest {
        room_id: room.into(),
        name: "a.txt".into(),
        content_type: "text/plain".into(),
        data: b"hi".to_vec(),
    }
}

/// What each kind of caller may do with a ticket of OTHER_QUEUE (waiting, then assigned by
/// the calls themselves), its room and an attachment in it. Customers and services acting for
/// them read their ticket and history, use the conversation, rate and may reopen; the ticket's
/// staff do everything but record a service's workflow events (and rate: the customer's);
/// everyone else sees nothing — except that a customer's role refuses audit trails and
/// metrics before any ticket is looked up, whatever the id.
fn rights(label: &str, call: &str) -> Verdict {
    use Verdict::*;
    match label {
        "none" | "garbage token" => Unauthenticated,
        "customer" | "service for the customer" => match call {
            "get" | "get room" | "watch room" | "history" | "list messages" | "send"
            | "mark read" | "upload" | "get attachment" | "rate" | "reopen" => Passed,
            _ => Denied,
        },
        "other customer" if matches!(call, "events" | "metrics") => Denied,
        // An agent sees the tickets it holds and the waiting ones of its queues: once it has
        // closed the ticket (waiting again after the transfer), it no longer sees it.
        "agent of the queue" | "service for the queue's agent" => match call {
            "workflow" | "handoff" => Denied,
            "rate" | "reopen" | "close room" | "escalate" | "reassign" => Hidden,
            _ => Passed,
        },
        "supervisor" | "admin" => match call {
            "workflow" | "rate" => Denied,
            _ => Passed,
        },
        "service" => Passed,
        _ => Hidden,
    }
}

/// `rights` on a fresh ticket (waiting in OTHER_QUEUE), which the queue's agent sees.
fn fresh_rights(label: &str, call: &str) -> Verdict {
    match (label, rights(label, call)) {
        ("agent of the queue" | "service for the queue's agent", Verdict::Hidden) => {
            Verdict::Passed
        }
        (_, right) => right,
    }
}

/// The agents of the matrix besides the seeded ones: an agent of both queues, a supervisor of
/// the other queue, and a supervisor (as its token says) since demoted and moved.
async fn add_agents(server: &TestServer) {
    for (id, role, queues) in [
        (QUEUE_AGENT, AgentRole::Agent, vec![OTHER_QUEUE, QUEUE]),
        (LEAD, AgentRole::Supervisor, vec![QUEUE]),
        (DEMOTED, AgentRole::Agent, vec![QUEUE]),
    ] {
        server
            .app
            .store()
            .upsert_agent(&agent(id, id, role, &queues))
            .await
            .expect("agent");
    }
}

fn admin_of(callers: &[Caller]) -> &Caller {
    callers.iter().find(|c| c.label == "admin").expect("admin")
}

both_backends! {
#[tokio::test]
/// Every call that names a ticket, a room or an attachment, by every kind of caller, over gRPC
/// and grpc-web: its verdict is the caller's right; grpc-web answers exactly as gRPC; a hidden
/// ticket reads exactly like a missing one for every call; a caller refused the ticket's
/// changes wrote nothing to it.
async fn every_caller_on_every_ticket_and_room_call(backend: Backend) {
    use casework::pb::conversation_service_client::ConversationServiceClient;
    use casework::pb::report_service_client::ReportServiceClient;
    let server = TestServer::start_on(backend).await;
    add_agents(&server).await;
    let mut admin = server.admin().await;
    let origin: tonic::codegen::http::Uri = server.url().parse().expect("uri");
    let channel = server.channel().await;
    let mut grpc = (
        TicketServiceClient::new(channel.clone()),
        ConversationServiceClient::new(channel.clone()),
        ReportServiceClient::new(channel),
    );
    let mut grpc_web = (
        TicketServiceClient::with_origin(web(), origin.clone()),
        ConversationServiceClient::with_origin(web(), origin.clone()),
        ReportServiceClient::with_origin(web(), origin),
    );
    let all = callers(&server);
    let admin_caller = admin_of(&all);
    // What each call answers for a ticket, room and attachment that do not exist.
    let missing = [(); 3].map(|()| uuid::Uuid::now_v7().to_string());
    let absent = calls!(admin_caller, grpc, &missing[0], &missing[1], &missing[2]);
    let missing_keys = missing.each_ref().map(String::as_str);
    let absent: Vec<(&str, Said)> =
        absent.iter().map(|(name, o)| (*name, said(o, &missing_keys))).collect();
    let (mut matrix, mut wrong) = (String::new(), Vec::new());
    // The calls some caller got an answer to (not only past the access check).
    let mut answered = std::collections::BTreeSet::new();
    for caller in &all {
        let mut transports = Vec::new();
        for over_web in [false, true] {
            // A fresh ticket per caller and transport, with a room and an attachment in it.
            let mut ticket = new_ticket(OWNER);
            ticket.queue = OTHER_QUEUE.into();
            let ticket = admin.create(ticket).await.expect("create");
            let room = ticket.metadata.clone().expect("metadata").room_id;
            let attachment = grpc
                .1
                .upload_attachment(request(admin_caller, upload(&room)))
                .await
                .expect("upload")
                .into_inner()
                .attachment
                .expect("attachment")
                .id;
            let before = admin.events(&ticket.id).await.expect("events").len();
            let outcomes = match over_web {
                false => calls!(caller, grpc, &ticket.id, &room, &attachment),
                true => calls!(caller, grpc_web, &ticket.id, &room, &attachment),
            };
            if rights(caller.label, "close") != Verdict::Passed {
                // A caller refused the ticket's changes wrote nothing (but the messages of
                // a caller who may send, which are events).
                let sends = rights(caller.label, "send") == Verdict::Passed;
                let after = admin.events(&ticket.id).await.expect("events");
                let written: Vec<_> = after[before..]
                    .iter()
                    .filter(|e| !sends || e.r#type != pb::TicketEventType::MessageAdded as i32)
                    .collect();
                assert!(written.is_empty(), "{}: refused calls wrote {written:?}", caller.label);
            }
            let keys = [ticket.id.as_str(), room.as_str(), attachment.as_str()];
            let outcomes: Vec<(&str, Said)> =
                outcomes.iter().map(|(name, o)| (*name, said(o, &keys))).collect();
            transports.push(outcomes);
        }
        assert_eq!(transports[0], transports[1], "{}: grpc-web answered otherwise than gRPC", caller.label);
        let mut line = format!("{:35}", caller.label);
        for ((name, outcome), (_, missing)) in transports[0].iter().zip(&absent) {
            let verdict = verdict(caller.label, name, outcome, &mut wrong);
            match verdict {
                Verdict::Passed if outcome.is_ok() => {
                    answered.insert(*name);
                }
                // Exactly the missing key's answer, worded from the caller's key.
                Verdict::Hidden => assert_eq!(outcome, missing, "{} {name}: hidden differs from missing", caller.label),
                _ => {}
            }
            line.push_str(&format!(" {name}:{verdict:?}"));
            if verdict != rights(caller.label, name) {
                wrong.push(format!("{} {name}: {verdict:?} ({outcome:?})", caller.label));
            }
        }
        matrix.push_str(&line);
        matrix.push('\n');
    }
    eprintln!("{matrix}");
    assert!(wrong.is_empty(), "not as the rights say:\n{}", wrong.join("\n"));
    // Each call works for someone, except three the state refuses here: the hand-off comes
    // while the ticket is on hold, the last two after the reopen, on a waiting ticket
    // (tests/lifecycle.rs and tests/routing.rs have them succeed).
    let never: Vec<&str> = absent
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !answered.contains(name) && !["handoff", "escalate", "reassign"].contains(name))
        .collect();
    assert!(never.is_empty(), "no caller was answered by {never:?}");
    server.stop().await;
}
}

/// Valid inputs for the calls that name no ticket: what is upserted is what is there already.
#[derive(Clone)]
struct Inputs {
    department: pb::EscalationDepartment,
    queue: pb::Queue,
    agent: pb::Agent,
    status: pb::AgentStatus,
    ccr: Vec<pb::Ccr>,
    policy: pb::SlaPolicy,
    report: pb::GetReportRequest,
}

/// Every call that names no ticket, room or attachment, made by one caller.
macro_rules! other_calls {
    ($caller:expr, $tickets:expr, $rooms:expr, $agents:expr, $ccr:expr, $reports:expr, $inputs:expr) => {{
        let (caller, inputs): (&Caller, &Inputs) = ($caller, $inputs);
        let (t, r, a, c, p) = (
            &mut $tickets,
            &mut $rooms,
            &mut $agents,
            &mut $ccr,
            &mut $reports,
        );
        let mut out: Vec<(&'static str, Result<(), Status>)> = Vec::new();
        macro_rules! call {
            ($client:ident, $name:literal, $method:ident, $request:expr) => {
                out.push((
                    $name,
                    $client.$method(request(caller, $request)).await.map(drop),
                ))
            };
        }
        let mut ticket = new_ticket(OWNER);
        ticket.queue = OTHER_QUEUE.into();
        call!(t, "create", create_ticket, ticket);
        call!(
            t,
            "list tickets",
            list_tickets,
            pb::ListTicketsRequest::default()
        );
        call!(
            t,
            "resolutions",
            list_resolution_statuses,
            pb::ListResolutionStatusesRequest {}
        );
        call!(
            t,
            "departments",
            list_escalation_departments,
            pb::ListEscalationDepartmentsRequest {}
        );
        call!(
            t,
            "upsert department",
            upsert_escalation_department,
            pb::UpsertEscalationDepartmentRequest {
                department: Some(inputs.department.clone())
            }
        );
        call!(t, "queues", list_queues, pb::ListQueuesRequest {});
        call!(
            t,
            "upsert queue",
            upsert_queue,
            pb::UpsertQueueRequest {
                queue: Some(inputs.queue.clone())
            }
        );
        call!(
            t,
            "queue stats",
            get_queue_stats,
            pb::GetQueueStatsRequest {
                queue_id: OTHER_QUEUE.into(),
                ticket_id: String::new(),
            }
        );
        call!(
            t,
            "watch tickets",
            watch_tickets,
            pb::WatchTicketsRequest::default()
        );
        call!(a, "get me", get_me, pb::GetMeRequest {});
        call!(
            a,
            "get agent",
            get_agent,
            pb::GetAgentRequest {
                agent_id: AGENT.into()
            }
        );
        call!(
            a,
            "list agents",
            list_agents,
            pb::ListAgentsRequest::default()
        );
        call!(
            a,
            "upsert agent",
            upsert_agent,
            pb::UpsertAgentRequest {
                agent: Some(inputs.agent.clone())
            }
        );
        call!(
            a,
            "set status",
            set_status,
            pb::SetStatusRequest {
                agent_id: String::new(),
                status: "offline".into(),
            }
        );
        call!(a, "statuses", list_statuses, pb::ListStatusesRequest {});
        call!(
            a,
            "upsert status",
            upsert_status,
            pb::UpsertStatusRequest {
                status: Some(inputs.status.clone())
            }
        );
        call!(
            a,
            "my tickets",
            list_my_tickets,
            pb::ListMyTicketsRequest::default()
        );
        call!(
            a,
            "watch my tickets",
            watch_my_tickets,
            pb::WatchMyTicketsRequest::default()
        );
        call!(
            c,
            "ccr tree",
            list_ccr_tree,
            pb::ListCcrTreeRequest {
                language: "en".into()
            }
        );
        call!(
            c,
            "search ccr",
            search_ccr,
            pb::SearchCcrRequest {
                query: "late".into(),
                language: "en".into(),
                page_size: 0,
            }
        );
        call!(
            c,
            "get ccr",
            get_ccr,
            pb::GetCcrRequest {
                code: inputs.ccr[2].code.clone()
            }
        );
        call!(
            c,
            "import ccr",
            import_ccr,
            pb::ImportCcrRequest {
                nodes: inputs.ccr.clone(),
                validate_only: true,
            }
        );
        call!(
            r,
            "conversations",
            list_customer_conversations,
            pb::ListCustomerConversationsRequest {
                customer_id: OWNER.into(),
                ..Default::default()
            }
        );
        call!(
            p,
            "sla policies",
            list_sla_policies,
            pb::ListSlaPoliciesRequest::default()
        );
        call!(
            p,
            "upsert sla policy",
            upsert_sla_policy,
            pb::UpsertSlaPolicyRequest {
                policy: Some(inputs.policy.clone())
            }
        );
        call!(p, "report", get_report, inputs.report.clone());
        call!(
            p,
            "export report",
            export_report,
            pb::ExportReportRequest {
                report: Some(inputs.report.clone())
            }
        );
        out
    }};
}

/// What each kind of caller may do beyond tickets, by the role it acts in: customers list
/// their own tickets and conversations; staff and services read reference data, agents and
/// queues; people (not services) have a status and tickets of their own; supervisors, admins
/// and services read reports; only admins change reference data, agents and policies.
fn role_rights(label: &str, call: &str) -> Verdict {
    use Verdict::*;
    let role = match label {
        "none" | "garbage token" => return Unauthenticated,
        "other customer" if call == "conversations" => return Denied,
        "customer" | "other customer" | "service for the customer" => "customer",
        "supervisor" | "supervisor of another queue" => "supervisor",
        "admin" => "admin",
        "service" => "service",
        _ => "agent",
    };
    let allowed: &[&str] = match call {
        "list tickets" | "conversations" => {
            &["customer", "agent", "supervisor", "admin", "service"]
        }
        "upsert department" | "upsert queue" | "upsert agent" | "upsert status" | "import ccr"
        | "upsert sla policy" => &["admin"],
        "get me" | "set status" | "my tickets" | "watch my tickets" => {
            &["agent", "supervisor", "admin"]
        }
        "report" | "export report" => &["supervisor", "admin", "service"],
        _ => &["agent", "supervisor", "admin", "service"],
    };
    match allowed.contains(&role) {
        true => Passed,
        false => Denied,
    }
}

both_backends! {
#[tokio::test]
/// Every call that names no ticket, by every kind of caller, over gRPC and grpc-web: its
/// verdict is the role's right, grpc-web answers exactly as gRPC, a refused create stored
/// nothing, and every call is answered for someone.
async fn every_caller_on_every_other_call(backend: Backend) {
    use casework::pb::agent_service_client::AgentServiceClient;
    use casework::pb::ccr_service_client::CcrServiceClient;
    use casework::pb::conversation_service_client::ConversationServiceClient;
    use casework::pb::report_service_client::ReportServiceClient;
    let server = TestServer::start_on(backend).await;
    add_agents(&server).await;
    let all = callers(&server);
    let admin = admin_of(&all);
    let channel = server.channel().await;
    let origin: tonic::codegen::http::Uri = server.url().parse().expect("uri");
    let (mut tickets, mut rooms, mut agents, mut ccr, mut reports) = (
        TicketServiceClient::new(channel.clone()),
        ConversationServiceClient::new(channel.clone()),
        AgentServiceClient::new(channel.clone()),
        CcrServiceClient::new(channel.clone()),
        ReportServiceClient::new(channel),
    );
    let (mut web_tickets, mut web_rooms, mut web_agents, mut web_ccr, mut web_reports) = (
        TicketServiceClient::with_origin(web(), origin.clone()),
        ConversationServiceClient::with_origin(web(), origin.clone()),
        AgentServiceClient::with_origin(web(), origin.clone()),
        CcrServiceClient::with_origin(web(), origin.clone()),
        ReportServiceClient::with_origin(web(), origin),
    );
    // The inputs: what is there already (a contact reason's three levels, imported first).
    let node = |code: &str, level, parent: &str| pb::Ccr {
        code: code.into(),
        level,
        parent_code: parent.into(),
        translations: vec![pb::CcrTranslation {
            language: "en".into(),
            text: format!("Rider late {code}"),
        }],
    };
    let tree = vec![node("1", 1, ""), node("1B", 2, "1"), node("1B.1", 3, "1B")];
    ccr.import_ccr(request(
        admin,
        pb::ImportCcrRequest {
            nodes: tree.clone(),
            validate_only: false,
        },
    ))
    .await
    .expect("import");
    let policy = pb::SlaPolicy {
        queue: OTHER_QUEUE.into(),
        first_reply_seconds: 3600,
        next_reply_seconds: 3600,
        resolution_seconds: 86_400,
        warn_before_seconds: 600,
        ..Default::default()
    };
    reports
        .upsert_sla_policy(request(admin, pb::UpsertSlaPolicyRequest { policy: Some(policy.clone()) }))
        .await
        .expect("policy");
    let queues = tickets.list_queues(request(admin, pb::ListQueuesRequest {})).await.expect("queues");
    let statuses = agents.list_statuses(request(admin, pb::ListStatusesRequest {})).await.expect("statuses");
    let departments = tickets
        .list_escalation_departments(request(admin, pb::ListEscalationDepartmentsRequest {}))
        .await
        .expect("departments");
    let agent = agents
        .get_agent(request(admin, pb::GetAgentRequest { agent_id: OTHER_AGENT.into() }))
        .await
        .expect("agent");
    let now = now(&server);
    let stamp = |time: chrono::DateTime<chrono::Utc>| Some(prost_types::Timestamp { seconds: time.timestamp(), nanos: 0 });
    let inputs = Inputs {
        department: departments.into_inner().departments.remove(0),
        queue: queues.into_inner().queues.into_iter().find(|q| q.id == OTHER_QUEUE).expect("queue"),
        agent: agent.into_inner().agent.expect("agent"),
        status: statuses.into_inner().statuses.remove(0),
        ccr: tree,
        policy,
        report: pb::GetReportRequest {
            start_time: stamp(now - chrono::Duration::days(1)),
            end_time: stamp(now),
            time_zone: "UTC".into(),
            bucket: pb::ReportBucket::Day as i32,
            group_by: pb::ReportGroupBy::Queue as i32,
            queues: vec![],
        },
    };
    let tickets_stored = || server.scalar("SELECT COUNT(*) FROM tickets");
    let (mut matrix, mut wrong) = (String::new(), Vec::new());
    let mut answered = std::collections::BTreeSet::new();
    let mut names = Vec::new();
    for caller in &all {
        let mut transports = Vec::new();
        for over_web in [false, true] {
            let before = tickets_stored().await;
            let outcomes = match over_web {
                false => other_calls!(caller, tickets, rooms, agents, ccr, reports, &inputs),
                true => other_calls!(caller, web_tickets, web_rooms, web_agents, web_ccr, web_reports, &inputs),
            };
            if role_rights(caller.label, "create") != Verdict::Passed {
                assert_eq!(tickets_stored().await, before, "{}: a refused create wrote", caller.label);
            }
            transports.push(outcomes.iter().map(|(name, o)| (*name, said(o, &[]))).collect::<Vec<_>>());
        }
        assert_eq!(transports[0], transports[1], "{}: grpc-web answered otherwise than gRPC", caller.label);
        let mut line = format!("{:35}", caller.label);
        for (name, outcome) in &transports[0] {
            let verdict = verdict(caller.label, name, outcome, &mut wrong);
            if outcome.is_ok() {
                answered.insert(*name);
            }
            line.push_str(&format!(" {name}:{verdict:?}"));
            if verdict != role_rights(caller.label, name) {
                wrong.push(format!("{} {name}: {verdict:?} ({outcome:?})", caller.label));
            }
        }
        names = transports[0].iter().map(|(name, _)| *name).collect();
        matrix.push_str(&line);
        matrix.push('\n');
    }
    eprintln!("{matrix}");
    assert!(wrong.is_empty(), "not as the rights say:\n{}", wrong.join("\n"));
    let never: Vec<&str> = names.into_iter().filter(|name| !answered.contains(name)).collect();
    assert!(never.is_empty(), "no caller was answered by {never:?}");
    server.stop().await;
}
}

/// A REST route of the matrix: the call whose rights it has, its method, path and body.
struct Route {
    call: &'static str,
    method: reqwest::Method,
    path: String,
    body: Option<serde_json::Value>,
}

/// Every REST route: those that name a ticket or its room (`id`, `room`), then the rest.
fn rest_routes(id: &str, room: &str) -> (Vec<Route>, Vec<Route>) {
    use reqwest::Method;
    use serde_json::json;
    let route = |call, method, path: String, body| Route {
        call,
        method,
        path,
        body,
    };
    let ticket = vec![
        route("get", Method::GET, format!("/v1/tickets/{id}"), None),
        route(
            "update",
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_ORDER_ID", "orderId": "abc-123", "geid": "FP_TW"})),
        ),
        route(
            "update",
            Method::PUT,
            format!("/v1/tickets/{id}/pickedTime"),
            None,
        ),
        route(
            "history",
            Method::GET,
            format!("/v1/tickets/{id}/history"),
            None,
        ),
        route(
            "transfer",
            Method::POST,
            format!("/v1/tickets/{id}/transfer"),
            Some(json!({"queueId": QUEUE})),
        ),
        route(
            "reassign",
            Method::POST,
            format!("/v1/tickets/{id}/reassign"),
            Some(json!({"assignee": SUPERVISOR, "reason": "over to you"})),
        ),
        route(
            "escalate",
            Method::POST,
            format!("/v1/tickets/{id}/escalate"),
            Some(json!({"statusReason": "partner", "resolutionReason": "partner"})),
        ),
        route(
            "escalate",
            Method::POST,
            format!("/v2/tickets/{id}/escalate"),
            Some(
                json!({"statusReason": "partner", "resolutionReason": "partner", "department": DEPARTMENT}),
            ),
        ),
        route(
            "close",
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({"statusReason": "matrix", "resolutionReason": "matrix"})),
        ),
        route(
            "close room",
            Method::DELETE,
            format!("/v1/rooms/{room}"),
            None,
        ),
    ];
    let other = vec![
        route("get me", Method::GET, "/v1/info".into(), None),
        route("my tickets", Method::GET, "/v1/tickets".into(), None),
        route("set status", Method::PUT, "/v1/online".into(), None),
        route("set status", Method::PUT, "/v1/offline".into(), None),
        route(
            "set status",
            Method::PUT,
            "/v1/status".into(),
            Some(json!({"status": "offline"})),
        ),
        route("statuses", Method::GET, "/v1/statuses".into(), None),
        route(
            "departments",
            Method::GET,
            "/v2/escalation/departments".into(),
            None,
        ),
        route("queues", Method::GET, "/v1/transfer/queues".into(), None),
        route(
            "resolutions",
            Method::GET,
            "/v1/resolution-statuses".into(),
            None,
        ),
        route("ccr tree", Method::GET, "/v1/ccr?lang=en".into(), None),
        route(
            "search ccr",
            Method::GET,
            "/v1/ccr/search?q=late&lang=en".into(),
            None,
        ),
    ];
    (ticket, other)
}

/// One REST call by `caller`: its status and body.
async fn rest_call(server: &TestServer, caller: &Caller, route: &Route) -> (u16, String) {
    let mut builder = reqwest::Client::new().request(
        route.method.clone(),
        format!("{}{}", server.url(), route.path),
    );
    for (name, value) in &caller.headers {
        builder = builder.header(*name, value);
    }
    if let Some(body) = &route.body {
        builder = builder.json(body);
    }
    let response = builder.send().await.expect("rest");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The verdict of a REST answer: 409 is the ticket's state refusing a caller who passed.
fn rest_verdict(
    label: &str,
    path: &str,
    status: u16,
    body: &str,
    wrong: &mut Vec<String>,
) -> Verdict {
    match status {
        200..=299 | 409 => Verdict::Passed,
        401 => Verdict::Unauthenticated,
        403 => Verdict::Denied,
        404 => Verdict::Hidden,
        500.. => panic!("{label} {path}: server error {status} {body}"),
        _ => {
            wrong.push(format!("{label} {path}: {status} {body}"));
            Verdict::Passed
        }
    }
}

both_backends! {
#[tokio::test]
/// Every REST route, by every kind of caller, each on a fresh ticket: its verdict is the right
/// of the gRPC call it stands for; a hidden ticket or room answers exactly as a missing one;
/// a refused route changed nothing.
async fn every_caller_on_every_rest_route(backend: Backend) {
    // The blueprints' v1 escalate names no department: the configured default.
    let server = TestServer::start_configured_on(
        backend,
        casework::app::AppConfig {
            default_escalation_department: Some(DEPARTMENT.into()),
            ..Default::default()
        },
        Default::default(),
    )
    .await;
    add_agents(&server).await;
    let all = callers(&server);
    let mut admin = server.admin().await;
    let admin_caller = admin_of(&all);
    let (missing, missing_room) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let mut absent = Vec::new();
    for route in rest_routes(&missing, &missing_room).0 {
        let (status, body) = rest_call(&server, admin_caller, &route).await;
        assert_eq!(status, 404, "{}: a missing key", route.path);
        absent.push(body.replace(&missing, "KEY").replace(&missing_room, "KEY"));
    }
    let (mut matrix, mut wrong) = (String::new(), Vec::new());
    let mut answered = std::collections::BTreeSet::new();
    for caller in &all {
        let label = caller.label;
        let mut line = format!("{label:35}");
        for (index, missing) in absent.iter().enumerate() {
            // A fresh ticket per route: what one route did does not colour the next.
            let mut ticket = new_ticket(OWNER);
            ticket.queue = OTHER_QUEUE.into();
            let ticket = admin.create(ticket).await.expect("create");
            let room = ticket.metadata.clone().expect("metadata").room_id;
            let route = rest_routes(&ticket.id, &room).0.remove(index);
            let before = admin.events(&ticket.id).await.expect("events").len();
            let (status, body) = rest_call(&server, caller, &route).await;
            let verdict = rest_verdict(label, &route.path, status, &body, &mut wrong);
            match verdict {
                Verdict::Passed if status < 300 => {
                    answered.insert(index);
                }
                Verdict::Hidden => assert_eq!(
                    &body.replace(&ticket.id, "KEY").replace(&room, "KEY"),
                    missing,
                    "{label} {}: hidden differs from missing",
                    route.path
                ),
                _ => {}
            }
            if verdict != Verdict::Passed {
                let after = admin.events(&ticket.id).await.expect("events").len();
                assert_eq!(before, after, "{label} {}: a refused route wrote", route.path);
            }
            if verdict != fresh_rights(label, route.call) {
                wrong.push(format!("{label} {} {}: {verdict:?} ({status} {body})", route.method, route.path));
            }
            line.push_str(&format!(" {}:{verdict:?}", route.call));
        }
        for route in rest_routes("", "").1 {
            let (status, body) = rest_call(&server, caller, &route).await;
            let verdict = rest_verdict(label, &route.path, status, &body, &mut wrong);
            if verdict != role_rights(label, route.call) {
                wrong.push(format!("{label} {} {}: {verdict:?} ({status} {body})", route.method, route.path));
            }
            line.push_str(&format!(" {}:{verdict:?}", route.call));
        }
        matrix.push_str(&line);
        matrix.push('\n');
    }
    eprintln!("{matrix}");
    assert!(wrong.is_empty(), "not as the rights say:\n{}", wrong.join("\n"));
    // Each ticket route answered someone, but the two the state refuses on a waiting ticket.
    let routes = rest_routes("", "").0;
    let never: Vec<String> = (0..routes.len())
        .filter(|index| !answered.contains(index) && !["reassign", "escalate"].contains(&routes[*index].call))
        .map(|index| routes[index].path.clone())
        .collect();
    assert!(never.is_empty(), "no caller was answered by {never:?}");
    server.stop().await;
}
}
