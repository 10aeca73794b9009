//! DESIGN.md §6: every refused caller gets the right code and changes nothing.
#[macro_use]
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casework::domain::Role;
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tonic::Code;

/// Tickets in every position an access rule cares about.
struct Fixture {
    server: TestServer,
    admin: Tickets,
    /// In QUEUE, assigned to OTHER_AGENT, customer cust-2.
    others: String,
    /// In QUEUE, assigned to AGENT, customer cust-1.
    mine: String,
    /// In QUEUE, waiting, customer cust-1.
    waiting: String,
    /// In OTHER_QUEUE, waiting, customer cust-2.
    elsewhere: String,
}

async fn fixture(backend: Backend) -> Fixture {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let others = admin.create(new_ticket("cust-2")).await.expect("create").id;
    admin.assign(&others, OTHER_AGENT).await.expect("assign");
    let mine = admin.create(new_ticket("cust-1")).await.expect("create").id;
    admin.assign(&mine, AGENT).await.expect("assign");
    let waiting = admin.create(new_ticket("cust-1")).await.expect("create").id;
    let elsewhere = admin
        .create(pb::CreateTicketRequest {
            queue: OTHER_QUEUE.into(),
            ..new_ticket("cust-2")
        })
        .await
        .expect("create")
        .id;
    Fixture {
        server,
        admin,
        others,
        mine,
        waiting,
        elsewhere,
    }
}

/// The ticket and its audit trail as the admin sees them: equal snapshots mean nothing changed.
async fn snapshot(admin: &mut Tickets, id: &str) -> (pb::Ticket, Vec<pb::TicketEvent>) {
    let ticket = admin.get(id).await.expect("admin get");
    let events = admin.events(id).await.expect("admin events");
    (ticket, events)
}

/// A client that sends `authorization` verbatim (or nothing).
async fn client_with(server: &TestServer, authorization: Option<String>) -> Tickets {
    Tickets {
        client: TicketServiceClient::new(server.channel().await),
        headers: authorization
            .map(|value| vec![("authorization", value)])
            .unwrap_or_default(),
    }
}

fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

fn hold(id: &str) -> pb::HoldTicketRequest {
    pb::HoldTicketRequest {
        ticket_id: id.into(),
        reason: "waiting for the vendor".into(),
        expected_version: 0,
    }
}

both_backends! {
#[tokio::test]
async fn bad_credentials_are_unauthenticated_and_change_nothing(backend: Backend) {
    let mut f = fixture(backend).await;
    let before = snapshot(&mut f.admin, &f.mine).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |role: &str, exp: i64| json!({ "sub": AGENT, "role": role, "exp": exp });

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("admin", now + 3600).to_string()),
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "expired beyond the leeway",
            Some(format!(
                "bearer {}",
                sign(&claims("agent", now - 60), SECRET)
            )),
        ),
        (
            "signed with another secret",
            Some(format!(
                "bearer {}",
                sign(
                    &claims("agent", now + 3600),
                    b"another-secret-0123456789abcdef"
                )
            )),
        ),
        ("alg none", Some(format!("bearer {alg_none}"))),
        ("garbage", Some("bearer not-a-token".into())),
        ("garbage with dots", Some("bearer a.b.c".into())),
        ("empty bearer", Some("bearer ".into())),
        (
            "wrong scheme",
            Some(format!(
                "Basic {}",
                sign(&claims("agent", now + 3600), SECRET)
            )),
        ),
        (
            "unknown role",
            Some(format!(
                "bearer {}",
                sign(&claims("superuser", now + 3600), SECRET)
            )),
        ),
        (
            "no sub",
            Some(format!(
                "bearer {}",
                sign(&json!({ "role": "admin", "exp": now + 3600 }), SECRET)
            )),
        ),
        (
            "not valid yet",
            Some(format!(
                "bearer {}",
                sign(
                    &json!({ "sub": AGENT, "role": "agent", "exp": now + 3600, "nbf": now + 600 }),
                    SECRET
                )
            )),
        ),
        (
            "signed with another algorithm",
            Some(format!(
                "bearer {}",
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS512),
                    &claims("agent", now + 3600),
                    &EncodingKey::from_secret(SECRET)
                )
                .expect("sign")
            )),
        ),
    ];
    for (name, authorization) in cases {
        let mut client = client_with(&f.server, authorization).await;
        let status = assert_code(client.get(&f.mine).await, Code::Unauthenticated);
        // Our own short words, never the JWT parser's internals.
        let message = status.message();
        assert!(
            ["invalid token: ", "missing authorization", "authorization must be"]
                .iter()
                .any(|start| message.starts_with(start))
                && message.len() < 80
                && !message.contains("Error"),
            "{name}: {message}"
        );
        assert_code(client.close(&f.mine).await, Code::Unauthenticated);
        let request = client.req(hold(&f.mine));
        assert_code(
            client.client.hold_ticket(request).await,
            Code::Unauthenticated,
        );
        let request = client.req(pb::CreateTicketRequest::default());
        let result = client.client.create_ticket(request).await;
        assert_eq!(
            result.map(|_| ()).unwrap_err().code(),
            Code::Unauthenticated,
            "{name}: create must be refused before validation"
        );
    }

    // The same token signed with the right secret is accepted (positive control), whatever
    // the scheme's case.
    for scheme in ["bearer", "Bearer", "BEARER"] {
        let mut good = client_with(
            &f.server,
            Some(format!(
                "{scheme} {}",
                sign(&claims("agent", now + 3600), SECRET)
            )),
        )
        .await;
        good.get(&f.mine).await.expect("valid token reads");
    }

    assert_eq!(snapshot(&mut f.admin, &f.mine).await, before);
    let page = f
        .admin
        .client
        .list_tickets(f.admin.req(pb::ListTicketsRequest {
            include_total_size: true,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.total_size, 4, "no ticket was created");
    f.server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn wrong_role_is_permission_denied_and_changes_nothing(backend: Backend) {
    let mut f = fixture(backend).await;
    let mut agent = f.server.tickets(AGENT, Role::Agent).await;
    let mut customer = f.server.tickets("cust-1", Role::Customer).await;

    // Admin-only reference data.
    let request = agent.req(pb::UpsertQueueRequest {
        queue: Some(pb::Queue {
            id: "new-queue".into(),
            name: "New".into(),
            language: "en".into(),
            default_sla_seconds: 60,
        }),
    });
    assert_code(
        agent.client.upsert_queue(request).await,
        Code::PermissionDenied,
    );
    let request = agent.req(pb::UpsertQueueRequest {
        queue: Some(pb::Queue {
            id: QUEUE.into(),
            name: "renamed".into(),
            language: "de".into(),
            default_sla_seconds: 1,
        }),
    });
    assert_code(
        agent.client.upsert_queue(request).await,
        Code::PermissionDenied,
    );
    let request = agent.req(pb::UpsertEscalationDepartmentRequest {
        department: Some(pb::EscalationDepartment {
            id: "new-department".into(),
            label: "New".into(),
        }),
    });
    assert_code(
        agent.client.upsert_escalation_department(request).await,
        Code::PermissionDenied,
    );
    let request = agent.req(pb::UpsertEscalationDepartmentRequest {
        department: Some(pb::EscalationDepartment {
            id: DEPARTMENT.into(),
            label: "renamed".into(),
        }),
    });
    assert_code(
        agent.client.upsert_escalation_department(request).await,
        Code::PermissionDenied,
    );
    let request = f.admin.req(pb::ListQueuesRequest {});
    let queues = f.admin.client.list_queues(request).await.expect("queues");
    let queues = queues.into_inner().queues;
    assert_eq!(queues.len(), 2, "{queues:?}");
    let seeded = queues.iter().find(|q| q.id == QUEUE).expect("queue");
    assert_eq!(
        (seeded.name.as_str(), seeded.default_sla_seconds),
        (QUEUE, 900)
    );
    let request = f.admin.req(pb::ListEscalationDepartmentsRequest {});
    let departments = f
        .admin
        .client
        .list_escalation_departments(request)
        .await
        .expect("departments")
        .into_inner()
        .departments;
    assert_eq!(
        departments,
        vec![pb::EscalationDepartment {
            id: DEPARTMENT.into(),
            label: "Partner Service".into(),
        }]
    );

    // A customer may not run its own ticket's lifecycle.
    let before = snapshot(&mut f.admin, &f.waiting).await;
    let status = assert_code(
        customer.assign(&f.waiting, AGENT).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("customer"), "{status:?}");
    assert_code(customer.close(&f.waiting).await, Code::PermissionDenied);
    assert_eq!(snapshot(&mut f.admin, &f.waiting).await, before);

    // Workflow events are for services; ratings for customers and services.
    let before = snapshot(&mut f.admin, &f.mine).await;
    let request = agent.req(pb::RecordWorkflowEventRequest {
        ticket_id: f.mine.clone(),
        r#type: pb::TicketEventType::WorkflowDone as i32,
        workflow: "refund".into(),
        details: None,
        expected_version: 0,
    });
    let status = assert_code(
        agent.client.record_workflow_event(request).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("workflow"), "{status:?}");
    let request = agent.req(pb::RateTicketRequest {
        ticket_id: f.mine.clone(),
        score: 5,
        comment: "great".into(),
        expected_version: 0,
    });
    let status = assert_code(
        agent.client.rate_ticket(request).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("rate"), "{status:?}");
    assert_eq!(snapshot(&mut f.admin, &f.mine).await, before);
    f.server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn an_agent_acts_only_on_its_tickets_and_waiting_tickets_of_its_queues(backend: Backend) {
    let mut f = fixture(backend).await;
    let mut agent = f.server.tickets(AGENT, Role::Agent).await;

    // Another agent's ticket reads like a missing one (DESIGN.md §6).
    let before = snapshot(&mut f.admin, &f.others).await;
    assert_code(agent.get(&f.others).await, Code::NotFound);
    assert_code(agent.close(&f.others).await, Code::NotFound);
    let request = agent.req(hold(&f.others));
    assert_code(agent.client.hold_ticket(request).await, Code::NotFound);
    assert_eq!(snapshot(&mut f.admin, &f.others).await, before);

    // A waiting ticket may be taken, but not handed to someone else.
    let before = snapshot(&mut f.admin, &f.waiting).await;
    let status = assert_code(
        agent.assign(&f.waiting, OTHER_AGENT).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("itself"), "{status:?}");
    assert_eq!(snapshot(&mut f.admin, &f.waiting).await, before);

    // Not visible at all outside its queues.
    let before = snapshot(&mut f.admin, &f.elsewhere).await;
    assert_code(agent.get(&f.elsewhere).await, Code::NotFound);
    assert_code(agent.assign(&f.elsewhere, AGENT).await, Code::NotFound);
    assert_eq!(snapshot(&mut f.admin, &f.elsewhere).await, before);

    // Listing shows exactly what it may see.
    let request = agent.req(pb::ListTicketsRequest::default());
    let listed = agent.client.list_tickets(request).await.expect("list");
    let mut ids: Vec<String> = listed
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.sort();
    let mut expected = vec![f.mine.clone(), f.waiting.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // Positive control: it reads its own and the waiting ticket, and takes the waiting one.
    agent.get(&f.mine).await.expect("own ticket");
    let seen = agent.get(&f.waiting).await.expect("waiting ticket");
    let assigned = agent.assign(&f.waiting, AGENT).await.expect("self-assign");
    assert_eq!(assigned.assignee, AGENT);
    assert_eq!(assigned.status, pb::TicketStatus::Assigned as i32);
    assert_eq!(assigned.version, seen.version + 1);
    // Once assigned to itself it may keep acting on it.
    let request = agent.req(hold(&f.waiting));
    let held = agent.client.hold_ticket(request).await.expect("hold");
    let held = held.into_inner().ticket.expect("ticket");
    assert_eq!(held.status, pb::TicketStatus::OnHold as i32);
    f.server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn a_customer_sees_only_its_own_tickets(backend: Backend) {
    let mut f = fixture(backend).await;
    let mut customer = f.server.tickets("cust-1", Role::Customer).await;

    let others_ticket = f.admin.get(&f.others).await.expect("get");
    let status = assert_code(customer.get(&f.others).await, Code::NotFound);
    // Same answer as for a ticket that does not exist: nothing leaks.
    let missing = assert_code(
        customer.get("01900000-0000-7000-8000-000000000000").await,
        Code::NotFound,
    );
    assert_eq!(status.code(), missing.code());
    let request = customer.req(pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::Number(others_ticket.number)),
    });
    assert_code(customer.client.get_ticket(request).await, Code::NotFound);
    assert_code(customer.get(&f.elsewhere).await, Code::NotFound);
    // Customers do not open tickets themselves (a bot or service does it for them).
    let mut own = new_ticket("cust-1");
    own.priority = 4;
    assert_code(customer.create(own).await, Code::PermissionDenied);

    let own = customer.get(&f.waiting).await.expect("own ticket");
    assert_eq!(own.customer.expect("customer").id, "cust-1");

    let request = customer.req(pb::ListTicketsRequest {
        include_total_size: true,
        ..Default::default()
    });
    let page = customer.client.list_tickets(request).await.expect("list");
    let page = page.into_inner();
    let mut ids: Vec<String> = page.tickets.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    let mut expected = vec![f.mine.clone(), f.waiting.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(page.total_size, 2);
    assert!(
        page.tickets
            .iter()
            .all(|t| t.customer.as_ref().is_some_and(|c| c.id == "cust-1"))
    );

    // Asking for another customer's tickets by filter finds nothing.
    let request = customer.req(pb::ListTicketsRequest {
        filter: Some(pb::TicketFilter {
            customer_id: "cust-2".into(),
            ..Default::default()
        }),
        include_total_size: true,
        ..Default::default()
    });
    let page = customer.client.list_tickets(request).await.expect("list");
    let page = page.into_inner();
    assert!(page.tickets.is_empty(), "{:?}", page.tickets);
    assert_eq!(page.total_size, 0);
    f.server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn a_service_acting_for_someone_gets_exactly_their_rights(backend: Backend) {
    let mut f = fixture(backend).await;
    let service = f.server.tickets("svc-bot", Role::Service).await;
    let mut for_agent = service.clone().with_header("x-agent-user-id", AGENT);

    // Outside the agent's rights.
    let before = snapshot(&mut f.admin, &f.others).await;
    assert_code(for_agent.close(&f.others).await, Code::NotFound);
    assert_code(for_agent.get(&f.others).await, Code::NotFound);
    assert_eq!(snapshot(&mut f.admin, &f.others).await, before);

    // Only service tokens may act for someone.
    let before = snapshot(&mut f.admin, &f.mine).await;
    let mut agent_for_agent = f
        .server
        .tickets(OTHER_AGENT, Role::Agent)
        .await
        .with_header("x-agent-user-id", AGENT);
    assert_code(agent_for_agent.get(&f.mine).await, Code::PermissionDenied);
    assert_code(agent_for_agent.close(&f.mine).await, Code::PermissionDenied);
    let mut admin_for_customer = f
        .server
        .admin()
        .await
        .with_header("x-customer-id", "cust-1");
    assert_code(
        admin_for_customer.get(&f.mine).await,
        Code::PermissionDenied,
    );
    let mut customer_for_customer = f
        .server
        .tickets("cust-1", Role::Customer)
        .await
        .with_header("x-customer-id", "cust-2");
    assert_code(
        customer_for_customer.get(&f.others).await,
        Code::PermissionDenied,
    );
    assert_eq!(snapshot(&mut f.admin, &f.mine).await, before);

    // An agent's own token may name that same agent (old clients send the header always).
    let mut agent_naming_self = f
        .server
        .tickets(AGENT, Role::Agent)
        .await
        .with_header("x-agent-user-id", AGENT);
    assert_eq!(
        agent_naming_self.get(&f.mine).await.expect("own ticket").id,
        f.mine
    );

    // The header is matched exactly: with a leading space it names no stored agent (no
    // queues, the plain agent role), even for a token that may act for admins.
    let trusted = f
        .server
        .auth
        .mint_acting(
            "svc-trusted",
            Role::Service,
            &[Role::Admin],
            chrono::Utc::now().timestamp(),
            3600,
        )
        .expect("token");
    let trusted = client_with(&f.server, Some(format!("Bearer {trusted}"))).await;
    let mut spaced = trusted
        .clone()
        .with_header("x-agent-user-id", &format!(" {ADMIN}"));
    assert_code(spaced.get(&f.others).await, Code::NotFound);
    let mut exact = trusted.with_header("x-agent-user-id", ADMIN);
    exact.get(&f.others).await.expect("the admin sees every ticket");

    // Acting for a customer: that customer's view.
    let mut for_customer = service.clone().with_header("x-customer-id", "cust-1");
    assert_code(for_customer.get(&f.others).await, Code::NotFound);
    for_customer.get(&f.waiting).await.expect("own ticket");

    // Within the agent's rights: allowed, and recorded as the service acting for the agent.
    let closed = for_agent.close(&f.mine).await.expect("close own ticket");
    assert_eq!(closed.status, pb::TicketStatus::Closed as i32);
    assert_eq!(closed.version, before.0.version + 1);
    let events = f.admin.events(&f.mine).await.expect("events");
    assert_eq!(events.len(), before.1.len() + 1);
    let last = events.last().expect("event");
    assert_eq!(last.r#type, pb::TicketEventType::Closed as i32);
    assert_eq!(last.actor, format!("svc-bot/{AGENT}"));
    f.server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn health_and_reflection_need_no_token(backend: Backend) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let server = TestServer::start_on(backend).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "casework.v1.TicketService"] {
        let reply = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health without a token")
            .into_inner();
        assert_eq!(reply.status, ServingStatus::Serving as i32, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection without a token")
        .into_inner();
    let reply: ServerReflectionResponse = replies
        .message()
        .await
        .expect("reflection reply")
        .expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply: {reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "casework.v1.TicketService"),
        "{names:?}"
    );

    // The casework services themselves do need one.
    let mut anonymous = client_with(&server, None).await;
    let request = anonymous.req(pb::ListQueuesRequest {});
    assert_code(
        anonymous.client.list_queues(request).await,
        Code::Unauthenticated,
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn malformed_acting_for_headers_are_invalid_argument_and_change_nothing(backend: Backend) {
    let mut f = fixture(backend).await;
    let before = snapshot(&mut f.admin, &f.mine).await;
    let service = f.server.tickets("svc-bot", Role::Service).await;
    let too_long = "x".repeat(129);
    let cases = [
        (
            service.clone().with_header("x-agent-user-id", &too_long),
            "x-agent-user-id",
        ),
        (
            service.clone().with_header("x-customer-id", &too_long),
            "x-customer-id",
        ),
        (
            service
                .clone()
                .with_header("x-agent-user-id", AGENT)
                .with_header("x-customer-id", "cust-1"),
            "x-agent-user-id",
        ),
    ];
    for (mut client, field) in cases {
        let status = assert_code(client.close(&f.mine).await, Code::InvalidArgument);
        assert!(
            violated_fields(&status).contains(&field.to_string()),
            "{field}: {status:?}"
        );
    }
    assert_eq!(snapshot(&mut f.admin, &f.mine).await, before);
    f.server.stop().await;
}
}
