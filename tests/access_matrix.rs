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
