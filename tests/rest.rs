//! The REST shim over real HTTP: every route's success body field by field against the seeds'
//! structures, every error status a route can give in the blueprint error shape with nothing
//! written, REST and gRPC telling the same story, CORS for grpc-web and REST.
#[macro_use]
mod common;

use casework::app::AppConfig;
use casework::config::ServerOptions;
use casework::domain::Role;
use casework::pb;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tokio_stream::StreamExt;

/// A REST caller with its headers.
struct Rest {
    http: reqwest::Client,
    base: String,
    headers: Vec<(String, String)>,
}

impl Rest {
    fn new(server: &TestServer, token: Option<String>) -> Rest {
        Rest {
            http: reqwest::Client::new(),
            base: server.url(),
            headers: token
                .map(|t| vec![("authorization".to_string(), format!("bearer {t}"))])
                .unwrap_or_default(),
        }
    }

    fn as_role(server: &TestServer, sub: &str, role: Role) -> Rest {
        Rest::new(server, Some(server.token(sub, role)))
    }

    fn with_header(mut self, name: &str, value: &str) -> Rest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(path, request).await
    }

    /// A body sent as is, with its content type.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> (u16, Value) {
        let request = self
            .request(method, path)
            .header("content-type", content_type)
            .body(body);
        Self::answer(path, request).await
    }

    async fn answer(path: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("http");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{path}: not JSON ({status}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    /// A call that must succeed; its body.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send(method, path, body).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The blueprint error body, exactly: one error with the status and its title.
#[track_caller]
fn assert_error(status: u16, body: &Value, expected: u16, title: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(keys(body), set(&["errors"]), "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let error = &errors[0];
    assert_eq!(error["status"], json!(expected.to_string()), "{body}");
    assert_eq!(error["title"], json!(title), "{body}");
    let allowed = set(&["status", "title", "detail"]);
    assert!(keys(error).is_subset(&allowed), "{body}");
}

fn unix(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().map_or(0, |t| t.seconds)
}

/// Seed 000's Ticket, field by field, against the same ticket read over gRPC.
#[track_caller]
fn assert_ticket_000(rest: &Value, grpc: &pb::Ticket) {
    assert_eq!(
        keys(rest),
        set(&[
            "id",
            "Assignee",
            "UpdatedAt",
            "createdAt",
            "queue",
            "channel",
            "content",
            "metadata",
            "status",
            "statusReason",
            "priority",
            "customer",
            "vendor",
            "source",
            "type",
        ]),
        "{rest}"
    );
    assert_eq!(rest["id"], json!(grpc.id));
    assert_eq!(rest["Assignee"], json!(grpc.assignee));
    assert_eq!(rest["UpdatedAt"], json!(unix(&grpc.status_changed_at)));
    assert_eq!(rest["createdAt"], json!(unix(&grpc.created_at)));
    assert_eq!(
        rest["queue"],
        json!(queue_name(&grpc.queue)),
        "the queue's name"
    );
    assert_eq!(rest["channel"], json!(grpc.channel));
    assert!(rest["content"].is_object());
    let status = pb::TicketStatus::try_from(grpc.status).expect("status");
    let (word, reason) = match status {
        pb::TicketStatus::OnHold => ("ASSIGNED", "on hold".to_string()),
        other => (
            other.as_str_name().trim_start_matches("TICKET_STATUS_"),
            grpc.status_reason.clone(),
        ),
    };
    assert_eq!(rest["status"], json!(word));
    assert_eq!(rest["statusReason"], json!(reason));
    assert_eq!(rest["priority"], json!(grpc.priority));
    assert_eq!(rest["source"], json!(grpc.source));
    assert_eq!(rest["type"], json!(grpc.r#type));
    let customer = grpc.customer.as_ref().expect("customer");
    assert_eq!(
        rest["customer"],
        json!({
            "id": customer.id,
            "firstName": customer.first_name,
            "lastName": customer.last_name,
            "name": customer.name,
            "email": customer.email,
        })
    );
    let vendor = grpc.vendor.as_ref().map(|vendor| {
        let vertical = pb::VerticalType::try_from(vendor.vertical)
            .expect("vertical")
            .as_str_name()
            .trim_start_matches("VERTICAL_TYPE_")
            .to_lowercase();
        json!({ "id": vendor.id, "vertical": vertical })
    });
    assert_eq!(rest["vendor"], json!(vendor));
    let m = grpc.metadata.as_ref().expect("metadata");
    let links: Vec<Value> = m
        .children_links
        .iter()
        .map(|l| {
            json!({
                "ticketId": l.ticket_id,
                "ticketIdType": pb::TicketLinkIdType::try_from(l.id_type).expect("t").as_str_name().trim_start_matches("TICKET_LINK_ID_TYPE_"),
                "ticketCategory": pb::TicketLinkCategory::try_from(l.category).expect("c").as_str_name().trim_start_matches("TICKET_LINK_CATEGORY_"),
                "creator": l.creator,
                "createdAt": unix(&l.created_at),
                "reason": l.reason,
            })
        })
        .collect();
    assert_eq!(
        rest["metadata"],
        json!({
            "ccr": m.ccr,
            "country": m.country,
            "language": m.language,
            "orderId": m.order_id,
            "sla": m.sla_seconds,
            "tags": m.tags,
            "entityId": m.entity_id,
            "childrenLinks": links,
            "localCcr": m.local_ccr,
        })
    );
}

/// The names `start` gives the seeded queues (ids differ, so REST must show names).
fn queue_name(id: &str) -> &'static str {
    match id {
        QUEUE => "Chat Singapore",
        OTHER_QUEUE => "Email Singapore",
        other => panic!("no such queue {other}"),
    }
}

async fn start(backend: Backend) -> TestServer {
    let server = TestServer::start_configured_on(
        backend,
        AppConfig {
            default_escalation_department: Some(DEPARTMENT.into()),
            ..AppConfig::default()
        },
        ServerOptions::default(),
    )
    .await;
    let nodes = casework::transport::ccr_file::parse(casework::demo::CCR_TAXONOMY).expect("ccr");
    server
        .app
        .replace_taxonomy(nodes, false)
        .await
        .expect("taxonomy");
    let mut admin = server.admin().await;
    for id in [QUEUE, OTHER_QUEUE] {
        let request = admin.req(pb::UpsertQueueRequest {
            queue: Some(pb::Queue {
                id: id.into(),
                name: queue_name(id).into(),
                language: "en".into(),
                default_sla_seconds: 900,
            }),
        });
        admin.client.upsert_queue(request).await.expect("queue");
    }
    server
}

/// A rich ticket (vendor, metadata, a link) assigned to AGENT, with an external id.
async fn rich_ticket(server: &TestServer, external_id: &str) -> pb::Ticket {
    let mut admin = server.admin().await;
    let mut request = new_ticket("cust-1");
    request.external_id = external_id.into();
    request.r#type = "chat".into();
    request.customer = Some(pb::Customer {
        id: "cust-1".into(),
        first_name: "hugo".into(),
        last_name: "dan".into(),
        name: "hugo dan".into(),
        email: "test@email.com".into(),
        ..Default::default()
    });
    request.vendor = Some(pb::Vendor {
        id: "bgaj".into(),
        vertical: pb::VerticalType::HealthSupplements as i32,
    });
    request.metadata = Some(pb::TicketMetadata {
        ccr: "1A.1".into(),
        local_ccr: "late rider".into(),
        country: "sg".into(),
        language: "en".into(),
        order_id: "sdw-srr".into(),
        entity_id: "FP_SG".into(),
        tags: vec!["vip".into()],
        ..Default::default()
    });
    request.content = Some(prost_types::Struct::default());
    let ticket = admin.create(request).await.expect("create");
    let link = pb::LinkTicketRequest {
        ticket_id: ticket.id.clone(),
        link: Some(pb::TicketLink {
            ticket_id: "absmw0dbma".into(),
            id_type: pb::TicketLinkIdType::Salesforce as i32,
            category: pb::TicketLinkCategory::Refunded as i32,
            reason: "insufficient money".into(),
            ..Default::default()
        }),
        expected_version: 0,
    };
    let request = admin.req(link);
    admin.client.link_ticket(request).await.expect("link");
    admin.assign(&ticket.id, AGENT).await.expect("assign")
}

/// Everything a failed call must leave alone: every ticket's version and the audit trail's
/// length, and every agent's status.
async fn snapshot(server: &TestServer) -> (Vec<(String, i64)>, i64, Vec<(String, String)>) {
    let mut admin = server.admin().await;
    let request = admin.req(pb::ListTicketsRequest {
        page_size: 500,
        ..Default::default()
    });
    let tickets = admin
        .client
        .list_tickets(request)
        .await
        .expect("list")
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| (t.id, t.version))
        .collect();
    let last_event = server
        .scalar("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
        .await;
    let mut agents = pb::agent_service_client::AgentServiceClient::new(server.channel().await);
    let request = admin.req(pb::ListAgentsRequest {
        page_size: 100,
        ..Default::default()
    });
    let statuses = agents
        .list_agents(request)
        .await
        .expect("agents")
        .into_inner()
        .agents
        .into_iter()
        .map(|a| (a.id, a.status))
        .collect();
    (tickets, last_event, statuses)
}

both_backends! {
#[tokio::test]
async fn ticket_detail_routes_match_seed_000_and_grpc(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "vsba-nhas").await;
    let mut admin = server.admin().await;
    let agent = Rest::as_role(&server, AGENT, Role::Agent);

    // GET by id, by external id, and under both base paths: the same ticket.
    for path in [
        format!("/v1/tickets/{}", ticket.id),
        "/v1/tickets/vsba-nhas".to_string(),
        "/ticket-detail/v1/tickets/vsba-nhas".to_string(),
        format!("/cs-chat-ticket/v1/tickets/{}", ticket.id),
    ] {
        let body = agent.ok(Method::GET, &path, None).await;
        assert_ticket_000(&body, &ticket);
    }
    let body = agent.ok(Method::GET, "/v1/tickets/vsba-nhas", None).await;
    assert_eq!(body["status"], json!("ASSIGNED"));
    assert_eq!(
        body["metadata"]["childrenLinks"][0]["ticketIdType"],
        json!("SALESFORCE")
    );
    assert_eq!(
        body["metadata"]["childrenLinks"][0]["ticketCategory"],
        json!("REFUNDED")
    );
    assert_eq!(body["vendor"]["vertical"], json!("health_supplements"));

    // PUT /v1/tickets/{id}: each update type, answered with the ticket as gRPC sees it.
    let updated = agent
        .ok(
            Method::PUT,
            "/v1/tickets/vsba-nhas",
            Some(json!({"type": "UPDATE_CCR", "ccr": "1B.1"})),
        )
        .await;
    let now = admin.get(&ticket.id).await.expect("get");
    assert_eq!(now.metadata.as_ref().expect("m").ccr, "1B.1");
    assert_ticket_000(&updated, &now);
    let updated = agent
        .ok(
            Method::PUT,
            "/v1/tickets/vsba-nhas",
            Some(json!({"type": "UPDATE_ORDER_ID", "orderId": "abc-123", "geid": "FP_TW"})),
        )
        .await;
    assert_eq!(updated["metadata"]["orderId"], json!("abc-123"));
    assert_eq!(updated["metadata"]["entityId"], json!("FP_TW"));
    let removed = agent
        .ok(
            Method::PUT,
            "/v1/tickets/vsba-nhas",
            Some(json!({"type": "UPDATE_ORDER_ID", "orderId": ""})),
        )
        .await;
    assert_eq!(removed["metadata"]["orderId"], json!(""));
    assert_eq!(removed["metadata"]["entityId"], json!(""));
    for update in ["UPDATE_CHAT_RESPONSE_TIME", "UPDATE_PICKED_TIME"] {
        agent
            .ok(
                Method::PUT,
                "/v1/tickets/vsba-nhas",
                Some(json!({ "type": update })),
            )
            .await;
    }
    let now = admin.get(&ticket.id).await.expect("get");
    let m = now.metadata.as_ref().expect("m");
    let clock = common::now(&server).timestamp();
    assert_eq!(unix(&m.first_response_at), clock, "server's time");
    assert_eq!(unix(&m.picked_at), clock, "server's time");
    let closed_room = agent
        .ok(
            Method::PUT,
            "/v1/tickets/vsba-nhas",
            Some(json!({"type": "CLOSE_CHAT_ROOM"})),
        )
        .await;
    let now = admin.get(&ticket.id).await.expect("get");
    assert!(now.metadata.as_ref().expect("m").chat_room_closed);
    assert_ticket_000(&closed_room, &now);

    // History of the ticket's customer: TicketHistoryResponse.
    let other = admin.create(new_ticket("cust-1")).await.expect("second");
    let history = Rest::as_role(&server, SUPERVISOR, Role::Supervisor)
        .ok(
            Method::GET,
            "/v1/tickets/vsba-nhas/history?page=1&pageSize=1",
            None,
        )
        .await;
    assert_eq!(keys(&history), set(&["list", "page", "pageSize"]));
    assert_eq!(history["page"], json!(1));
    assert_eq!(history["pageSize"], json!(1));
    assert_eq!(history["list"].as_array().expect("list").len(), 1);
    assert_ticket_000(
        &history["list"][0],
        &admin.get(&other.id).await.expect("get"),
    );

    // Reassign, escalate (v1 to the default department, v2 to a named one), transfer, close.
    let reassigned = agent
        .ok(
            Method::POST,
            "/v1/tickets/vsba-nhas/reassign",
            Some(json!({"reason": "agent overtime", "assignee": OTHER_AGENT})),
        )
        .await;
    assert_eq!(reassigned["Assignee"], json!(OTHER_AGENT));
    let other_agent = Rest::as_role(&server, OTHER_AGENT, Role::Agent);
    let escalated = other_agent
        .ok(
            Method::POST,
            "/v1/tickets/vsba-nhas/escalate",
            Some(json!({"statusReason": "needs partner", "resolutionReason": "refund"})),
        )
        .await;
    assert_eq!(escalated["status"], json!("ESCALATED"));
    assert_eq!(escalated["statusReason"], json!("needs partner"));
    let now = admin.get(&ticket.id).await.expect("get");
    assert_eq!(now.escalation.as_ref().expect("e").department, DEPARTMENT);
    assert_ticket_000(&escalated, &now);
    let transferred = admin_rest(&server)
        .ok(
            Method::POST,
            &format!("/v1/tickets/{}/transfer", ticket.id),
            Some(json!({"queueId": OTHER_QUEUE})),
        )
        .await;
    assert_eq!(transferred["status"], json!("CREATED"));
    assert_eq!(transferred["queue"], json!("Email Singapore"));
    assert_eq!(transferred["Assignee"], json!(""));
    admin.assign(&ticket.id, SUPERVISOR).await.expect("assign");
    let supervisor = Rest::as_role(&server, SUPERVISOR, Role::Supervisor);
    let (status, refused) = supervisor
        .send(
            Method::POST,
            "/ticket-detail/v2/tickets/vsba-nhas/escalate",
            Some(json!({"statusReason": "close by postman", "resolutionReason": "x", "department": "corporate"})),
        )
        .await;
    assert_error(status, &refused, 400, "bad request");
    assert!(
        refused
            .to_string()
            .contains("unknown escalation department")
    );
    upsert_department(&server, "corporate", "Corporate").await;
    let escalated = supervisor
        .ok(
            Method::POST,
            "/ticket-detail/v2/tickets/vsba-nhas/escalate",
            Some(json!({"statusReason": "close by postman", "resolutionReason": "x", "department": "corporate"})),
        )
        .await;
    assert_eq!(escalated["status"], json!("ESCALATED"));
    let now = admin.get(&ticket.id).await.expect("get");
    assert_eq!(now.escalation.as_ref().expect("e").department, "corporate");
    let closed = admin_rest(&server)
        .ok(
            Method::POST,
            "/v1/tickets/vsba-nhas/close",
            Some(json!({"statusReason": "close by postman", "resolutionStatus": "REFUNDED", "resolutionReason": "refunded"})),
        )
        .await;
    assert_eq!(closed["status"], json!("CLOSED"));
    assert_eq!(closed["statusReason"], json!("close by postman"));
    let now = admin.get(&ticket.id).await.expect("get");
    let resolution = now.resolution.as_ref().expect("resolution");
    assert_eq!(resolution.status, pb::ResolutionStatus::Refunded as i32);
    assert_ticket_000(&closed, &now);
    // Without a body at all (old clients send none): NO_ACTION.
    let closed = admin_rest(&server)
        .ok(
            Method::POST,
            &format!("/v1/tickets/{}/close", other.id),
            None,
        )
        .await;
    assert_eq!(closed["status"], json!("CLOSED"));
    let now = admin.get(&other.id).await.expect("get");
    assert_eq!(
        now.resolution.expect("r").status,
        pb::ResolutionStatus::NoAction as i32
    );
}
}

both_backends! {
#[tokio::test]
/// A status shown as ON_HOLD over gRPC is ASSIGNED with statusReason `on hold` over REST.
async fn on_hold_reads_as_assigned_on_hold(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "hold-1").await;
    let mut admin = server.admin().await;
    let request = admin.req(pb::HoldTicketRequest {
        ticket_id: ticket.id.clone(),
        reason: "waiting for the rider".into(),
        expected_version: 0,
    });
    admin.client.hold_ticket(request).await.expect("hold");
    let body = admin_rest(&server)
        .ok(Method::GET, "/v1/tickets/hold-1", None)
        .await;
    assert_eq!(body["status"], json!("ASSIGNED"));
    assert_eq!(body["statusReason"], json!("on hold"));
    assert_ticket_000(&body, &admin.get(&ticket.id).await.expect("get"));
}
}

fn admin_rest(server: &TestServer) -> Rest {
    Rest::as_role(server, ADMIN, Role::Admin)
}

async fn upsert_department(server: &TestServer, id: &str, label: &str) {
    let mut admin = server.admin().await;
    let request = admin.req(pb::UpsertEscalationDepartmentRequest {
        department: Some(pb::EscalationDepartment {
            id: id.into(),
            label: label.into(),
        }),
    });
    admin
        .client
        .upsert_escalation_department(request)
        .await
        .expect("department");
}

both_backends! {
#[tokio::test]
async fn reference_routes_match_seed_000(backend: Backend) {
    let server = start(backend).await;
    let agent = Rest::as_role(&server, AGENT, Role::Agent);

    let departments = agent
        .ok(
            Method::GET,
            "/ticket-detail/v2/escalation/departments",
            None,
        )
        .await;
    assert_eq!(
        departments,
        json!([{"id": DEPARTMENT, "label": "Partner Service"}])
    );

    let queues = agent.ok(Method::GET, "/v1/transfer/queues", None).await;
    assert_eq!(
        queues,
        json!({"list": [
            {"id": QUEUE, "name": "Chat Singapore", "language": "en"},
            {"id": OTHER_QUEUE, "name": "Email Singapore", "language": "en"},
        ]})
    );

    let resolutions = agent.ok(Method::GET, "/v1/resolution-statuses", None).await;
    assert_eq!(
        resolutions,
        json!({"list": ["NO_ACTION", "REFUNDED", "CUSTOMER_LEFT_CHAT"]})
    );

    // CcrListResponse: tiers keyed by code, each with translations and children.
    let tree = agent.ok(Method::GET, "/v1/ccr?lang=en", None).await;
    assert_eq!(keys(&tree), set(&["status_code", "data"]));
    assert_eq!(tree["status_code"], json!(200));
    let delivery = &tree["data"]["1"];
    assert_eq!(keys(delivery), set(&["translations", "child"]));
    assert_eq!(
        delivery["translations"],
        json!([{"language": "en", "translation": "Delivery"}])
    );
    let late = &delivery["child"]["1A"];
    assert_eq!(
        late["translations"][0]["translation"],
        json!("Late delivery")
    );
    assert_eq!(
        late["child"]["1A.1"],
        json!({"translations": [{"language": "en", "translation": "Rider is late"}], "child": {}})
    );
    let all = agent.ok(Method::GET, "/v1/ccr", None).await;
    assert_eq!(
        all["data"]["1"]["translations"]
            .as_array()
            .expect("t")
            .len(),
        3,
        "en, de, fr"
    );

    // SearchableCcrResponse: leaves with their parents, level 1 first.
    let found = agent
        .ok(Method::GET, "/v1/ccr/search?q=rider%20late&lang=en", None)
        .await;
    assert_eq!(keys(&found), set(&["list"]));
    let first = &found["list"][0];
    assert_eq!(keys(first), set(&["data", "parents"]));
    assert_eq!(
        first["data"],
        json!({"translation": "Rider is late", "language": "en", "code": "1A.1", "level": 3})
    );
    assert_eq!(
        first["parents"],
        json!([
            {"translation": "Delivery", "language": "en", "code": "1", "level": 1},
            {"translation": "Late delivery", "language": "en", "code": "1A", "level": 2},
        ])
    );
}
}

both_backends! {
#[tokio::test]
async fn chat_ticket_routes_match_seed_001(backend: Backend) {
    let server = start(backend).await;
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    let mut admin = server.admin().await;

    // AgentInfo before and after going online.
    let info = agent.ok(Method::GET, "/cs-chat-ticket/v1/info", None).await;
    assert_eq!(
        info,
        json!({
            "id": AGENT,
            "name": AGENT,
            "status": "offline",
            "statusAlias": "Offline",
            "lastLoginTime": "0001-01-01 00:00:00 +0000 UTC",
            "updatedAt": "0001-01-01 00:00:00 +0000 UTC",
            "agentTimeInStatus": 0,
        })
    );
    let online = agent.ok(Method::PUT, "/v1/online", None).await;
    assert_eq!(online, json!({"id": AGENT, "status": "online"}));
    server.clock.advance(chrono::Duration::seconds(90));
    let info = agent.ok(Method::GET, "/v1/info", None).await;
    let went_online = (common::now(&server) - chrono::Duration::seconds(90))
        .format("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string();
    assert_eq!(info["status"], json!("online"));
    assert_eq!(info["statusAlias"], json!("Online"));
    assert_eq!(info["lastLoginTime"], json!(went_online));
    assert_eq!(info["updatedAt"], json!(went_online));
    assert_eq!(info["agentTimeInStatus"], json!(90));

    // Statuses, and PUT /v1/status with one of them.
    let statuses = agent.ok(Method::GET, "/v1/statuses", None).await;
    assert_eq!(
        statuses,
        json!({"data": ["break", "busy", "offline", "online"]})
    );
    let on_break = agent
        .ok(Method::PUT, "/v1/status", Some(json!({"status": "break"})))
        .await;
    assert_eq!(on_break, json!({"id": AGENT, "status": "break"}));
    agent.ok(Method::PUT, "/v1/online", None).await;

    // My tickets: seed 001's chat Ticket, routed to me while online.
    let ticket = admin.create(new_ticket("cust-9")).await.expect("create");
    let mine = agent.ok(Method::GET, "/v1/tickets", None).await;
    let list = mine.as_array().expect("array");
    assert_eq!(list.len(), 1);
    let chat = &list[0];
    assert_eq!(keys(chat), set(&["id", "content", "metadata", "customer"]));
    assert_eq!(chat["id"], json!(ticket.id));
    assert_eq!(
        chat["customer"],
        json!({"id": "cust-9", "firstName": "", "lastName": "", "name": "Hugo Dan"})
    );
    let grpc = admin.get(&ticket.id).await.expect("get");
    let m = grpc.metadata.as_ref().expect("m");
    assert_eq!(
        chat["metadata"],
        json!({
            "ccr": "",
            "roomId": m.room_id,
            "orderId": "",
            "pickedTimestamp": 0,
            "assignedTimestamp": unix(&m.assigned_at),
            "autoCloseWarningTimestamp": 0,
            "autoCloseTimestamp": 0,
            "currentTimestamp": common::now(&server).timestamp(),
            "entityId": "",
            "isChatRoomClosed": false,
            "language": "",
        })
    );
    assert!(unix(&m.assigned_at) > 0);

    // pickedTime stamps the server's time; 200 with an empty object.
    server.clock.advance(chrono::Duration::seconds(5));
    let picked = agent
        .ok(
            Method::PUT,
            &format!("/v1/tickets/{}/pickedTime", ticket.id),
            None,
        )
        .await;
    assert_eq!(picked, json!({}));
    let mine = agent.ok(Method::GET, "/v1/tickets", None).await;
    assert_eq!(
        mine[0]["metadata"]["pickedTimestamp"],
        json!(common::now(&server).timestamp())
    );

    // DELETE /v1/rooms/{roomID} closes the room; again is 200 too.
    for _ in 0..2 {
        let closed = agent
            .ok(Method::DELETE, &format!("/v1/rooms/{}", m.room_id), None)
            .await;
        assert_eq!(closed, json!({}));
    }
    let mine = agent.ok(Method::GET, "/v1/tickets", None).await;
    assert_eq!(mine[0]["metadata"]["isChatRoomClosed"], json!(true));
    let events = admin.events(&ticket.id).await.expect("events");
    let chat_closed = events
        .iter()
        .filter(|e| e.r#type == pb::TicketEventType::ChatClosed as i32)
        .count();
    assert_eq!(chat_closed, 1, "closing twice writes one CHAT_CLOSED");

    // Oldest first; closed tickets leave the list.
    server.clock.advance(chrono::Duration::seconds(1));
    let newer = admin.create(new_ticket("cust-10")).await.expect("create");
    let mine = agent.ok(Method::GET, "/v1/tickets", None).await;
    let ids: Vec<&str> = mine
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![ticket.id.as_str(), newer.id.as_str()]);
    admin.close(&ticket.id).await.expect("close");
    admin.close(&newer.id).await.expect("close");
    assert_eq!(agent.ok(Method::GET, "/v1/tickets", None).await, json!([]));
    let offline = agent.ok(Method::PUT, "/v1/offline", None).await;
    assert_eq!(offline, json!({"id": AGENT, "status": "offline"}));
}
}

both_backends! {
#[tokio::test]
/// The acting-for headers: a service token acts for the agent named by X-Agent-User-ID or
/// X-Agent-ID; an agent's own token may name only itself.
async fn acting_for_an_agent(backend: Backend) {
    let server = start(backend).await;
    let service = server.token("svc-oneview", Role::Service);
    for header in ["X-Agent-User-ID", "X-Agent-ID"] {
        let info = Rest::new(&server, Some(service.clone()))
            .with_header(header, AGENT)
            .ok(Method::GET, "/v1/info", None)
            .await;
        assert_eq!(info["id"], json!(AGENT));
    }
    let own = Rest::as_role(&server, AGENT, Role::Agent).with_header("X-Agent-User-ID", AGENT);
    assert_eq!(
        own.ok(Method::GET, "/v1/info", None).await["id"],
        json!(AGENT)
    );
    let (status, body) = Rest::as_role(&server, AGENT, Role::Agent)
        .with_header("X-Agent-ID", OTHER_AGENT)
        .get("/v1/info")
        .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = Rest::new(&server, Some(service.clone()))
        .with_header("X-Agent-User-ID", AGENT)
        .with_header("X-Agent-ID", OTHER_AGENT)
        .get("/v1/info")
        .await;
    assert_error(status, &body, 400, "bad request");
    // Without a token, 401 comes first whatever the other headers say.
    let (status, body) = Rest::new(&server, None)
        .with_header("X-Agent-User-ID", AGENT)
        .with_header("X-Agent-ID", OTHER_AGENT)
        .get("/v1/info")
        .await;
    assert_error(status, &body, 401, "not authorize");

    // A plain service token acts for agents, never for supervisors or admins...
    for (who, role) in [(SUPERVISOR, "supervisor"), (ADMIN, "admin")] {
        let (status, body) = Rest::new(&server, Some(service.clone()))
            .with_header("X-Agent-ID", who)
            .get("/v1/info")
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert!(body.to_string().contains(role), "{body}");
    }
    // ...unless its token lists them (`casework token --act supervisor,admin`).
    let trusted = server
        .auth
        .mint_acting(
            "svc-trusted",
            Role::Service,
            &[Role::Supervisor, Role::Admin],
            chrono::Utc::now().timestamp(),
            3600,
        )
        .expect("token");
    for who in [SUPERVISOR, ADMIN] {
        let info = Rest::new(&server, Some(trusted.clone()))
            .with_header("X-Agent-ID", who)
            .ok(Method::GET, "/v1/info", None)
            .await;
        assert_eq!(info["id"], json!(who));
    }
    let only_supervisors = server
        .auth
        .mint_acting(
            "svc-floor",
            Role::Service,
            &[Role::Supervisor],
            chrono::Utc::now().timestamp(),
            3600,
        )
        .expect("token");
    let (status, body) = Rest::new(&server, Some(only_supervisors))
        .with_header("X-Agent-ID", ADMIN)
        .get("/v1/info")
        .await;
    assert_error(status, &body, 403, "forbidden");
}
}

both_backends! {
#[tokio::test]
/// A ticket or room the caller may not see reads exactly like a missing one, naming only what
/// the caller sent; customers read no reference data.
async fn hidden_reads_like_missing(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "cust1-ext").await;
    let room = ticket.metadata.as_ref().expect("m").room_id.clone();
    let stranger = Rest::as_role(&server, "cust-2", Role::Customer);
    for (path, named) in [
        ("/v1/tickets/cust1-ext".to_string(), "cust1-ext"),
        (format!("/v1/tickets/{}", ticket.id), ticket.id.as_str()),
        ("/v1/tickets/no-such-ticket".to_string(), "no-such-ticket"),
    ] {
        let (status, body) = stranger.get(&path).await;
        assert_error(status, &body, 404, "not found");
        assert_eq!(
            body["errors"][0]["detail"],
            json!(format!("ticket {named} not found"))
        );
    }
    let (status, body) = stranger
        .send(Method::DELETE, &format!("/v1/rooms/{room}"), None)
        .await;
    assert_error(status, &body, 404, "not found");
    assert_eq!(
        body["errors"][0]["detail"],
        json!(format!("room {room} not found"))
    );
    assert!(!body.to_string().contains(&ticket.id), "{body}");

    // An agent outside the ticket's queue: the very 404 of a missing ticket, worded from
    // what it sent (never the ticket's id), for reads and writes alike; the write changes
    // nothing.
    server
        .app
        .store()
        .upsert_agent(&casework::domain::Agent {
            id: "outsider@example.com".into(),
            name: "Outsider".into(),
            role: casework::domain::AgentRole::Agent,
            status: "offline".into(),
            status_alias: "Offline".into(),
            last_login_at: None,
            status_updated_at: None,
            queues: vec![OTHER_QUEUE.into()],
            languages: vec![],
            max_concurrent: 5,
        })
        .await
        .expect("agent");
    let outsider = Rest::as_role(&server, "outsider@example.com", Role::Agent);
    let mut admin = server.admin().await;
    let before = admin.get(&ticket.id).await.expect("ticket");
    let (status, body) = outsider.get("/v1/tickets/cust1-ext").await;
    assert_error(status, &body, 404, "not found");
    assert_eq!(
        body,
        json!({"errors": [{"status": "404", "title": "not found",
            "detail": "ticket cust1-ext not found"}]})
    );
    let (_, missing) = outsider.get("/v1/tickets/no-such-ext").await;
    assert_eq!(
        body.to_string().replace("cust1-ext", "KEY"),
        missing.to_string().replace("no-such-ext", "KEY")
    );
    let close = json!({"statusReason": "done", "resolutionStatus": "NO_ACTION"});
    let (status, body) = outsider
        .send(Method::POST, "/v1/tickets/cust1-ext/close", Some(close.clone()))
        .await;
    assert_error(status, &body, 404, "not found");
    let (_, missing) = outsider
        .send(Method::POST, "/v1/tickets/no-such-ext/close", Some(close))
        .await;
    assert_eq!(
        body.to_string().replace("cust1-ext", "KEY"),
        missing.to_string().replace("no-such-ext", "KEY")
    );
    let (status, body) = outsider
        .send(Method::DELETE, &format!("/v1/rooms/{room}"), None)
        .await;
    assert_error(status, &body, 404, "not found");
    assert_eq!(
        body["errors"][0]["detail"],
        json!(format!("room {room} not found"))
    );
    assert!(!body.to_string().contains(&ticket.id), "{body}");
    assert_eq!(admin.get(&ticket.id).await.expect("ticket"), before);

    // The ticket's own customer reads it; reference data is not for customers.
    let owner = Rest::as_role(&server, "cust-1", Role::Customer);
    owner.ok(Method::GET, "/v1/tickets/cust1-ext", None).await;
    for path in [
        "/v1/transfer/queues",
        "/v2/escalation/departments",
        "/v1/statuses",
        "/v1/resolution-statuses",
        "/v1/ccr?lang=en",
        "/v1/ccr/search?q=late",
    ] {
        let (status, body) = owner.get(path).await;
        assert_error(status, &body, 403, "forbidden");
    }
}
}

both_backends! {
#[tokio::test]
/// Retries racing each other: two DELETEs of one room both succeed, one CHAT_CLOSED.
async fn racing_room_closes_are_both_200(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "race-1").await;
    let room = ticket.metadata.as_ref().expect("m").room_id.clone();
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    let path = format!("/v1/rooms/{room}");
    let closes: Vec<_> = (0..8)
        .map(|_| agent.send(Method::DELETE, &path, None))
        .collect();
    for (status, body) in futures::future::join_all(closes).await {
        assert_eq!((status, body), (200, json!({})));
    }
    let mut admin = server.admin().await;
    let events = admin.events(&ticket.id).await.expect("events");
    let closed = events
        .iter()
        .filter(|e| e.r#type == pb::TicketEventType::ChatClosed as i32)
        .count();
    assert_eq!(closed, 1);
}
}

both_backends! {
#[tokio::test]
/// Every route: 401 without a token, 405 with a wrong method; body routes: 415 and 413.
/// Then each route's own 400, 403, 404 and 409. Nothing is written by any of them.
async fn every_error_status_in_the_blueprint_shape_and_nothing_written(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "err-1").await;
    let room = ticket.metadata.as_ref().expect("m").room_id.clone();
    let id = ticket.id.clone();
    let before = snapshot(&server).await;

    // (method, path, body routes have Some(valid body))
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("/v2/tickets/{id}/escalate"),
            Some(json!({"department": DEPARTMENT})),
        ),
        (Method::GET, "/v2/escalation/departments".into(), None),
        (Method::GET, "/v1/info".into(), None),
        (Method::GET, "/v1/tickets".into(), None),
        (Method::PUT, "/v1/online".into(), None),
        (Method::PUT, "/v1/offline".into(), None),
        (
            Method::PUT,
            "/v1/status".into(),
            Some(json!({"status": "online"})),
        ),
        (Method::DELETE, format!("/v1/rooms/{room}"), None),
        (Method::PUT, format!("/v1/tickets/{id}/pickedTime"), None),
        (Method::GET, "/v1/statuses".into(), None),
        (Method::GET, format!("/v1/tickets/{id}"), None),
        (Method::GET, format!("/v1/tickets/{id}/history"), None),
        (
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/tickets/{id}/escalate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/tickets/{id}/reassign"),
            Some(json!({"assignee": OTHER_AGENT})),
        ),
        (
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_PICKED_TIME"})),
        ),
        (
            Method::POST,
            format!("/v1/tickets/{id}/transfer"),
            Some(json!({"queueId": OTHER_QUEUE})),
        ),
        (Method::GET, "/v1/transfer/queues".into(), None),
        (Method::GET, "/v1/resolution-statuses".into(), None),
        (Method::GET, "/v1/ccr?lang=en".into(), None),
        (Method::GET, "/v1/ccr/search?q=late&lang=en".into(), None),
    ];
    let anonymous = Rest::new(&server, None);
    let bad_token = Rest::new(&server, Some("not-a-jwt".into()));
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    for (method, path, body) in &routes {
        for base in ["", "/ticket-detail", "/cs-chat-ticket"] {
            let path = format!("{base}{path}");
            for caller in [&anonymous, &bad_token] {
                let (status, response) = caller.send(method.clone(), &path, body.clone()).await;
                assert_error(status, &response, 401, "not authorize");
            }
            let (status, response) = agent.send(Method::PATCH, &path, body.clone()).await;
            assert_error(status, &response, 405, "method not allowed");
        }
        if body.is_some() {
            // Another content type: 415.
            let (status, response) = agent.raw(method.clone(), path, "text/plain", "{}").await;
            assert_error(status, &response, 415, "unsupported media type");
            // Over the 1 MiB limit: 413.
            let huge = json!({ "statusReason": "x".repeat(1024 * 1024 + 1) });
            let (status, response) = agent.send(method.clone(), path, Some(huge)).await;
            assert_error(status, &response, 413, "payload too large");
            // Malformed JSON: 400.
            let (status, response) = agent
                .raw(method.clone(), path, "application/json", "{\"status\": ")
                .await;
            assert_error(status, &response, 400, "bad request");
        }
    }
    let (status, body) = agent.get("/v1/no-such-route").await;
    assert_error(status, &body, 404, "not found");
    let (status, body) = agent.get("/ticket-detail/v9/tickets").await;
    assert_error(status, &body, 404, "not found");
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let (status, body) = agent.send(method, "/anything", None).await;
        assert_error(status, &body, 404, "not found");
    }

    // Route-specific failures: (caller, method, path, body, status, title, detail naming).
    let customer = Rest::as_role(&server, "cust-1", Role::Customer);
    let supervisor = Rest::as_role(&server, SUPERVISOR, Role::Supervisor);
    let stranger = Rest::as_role(&server, "nobody@example.com", Role::Agent);
    /// (caller, method, path, body, status, title, a word the detail must contain)
    type Case<'a> = (
        &'a Rest,
        Method,
        String,
        Option<Value>,
        u16,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        // 400: wrong types, unknown enum values, missing fields, bad values, naming the field.
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({"resolutionStatus": "MAYBE"})),
            400,
            "bad request",
            "resolutionStatus",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({"statusReason": 5})),
            400,
            "bad request",
            "statusReason",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({"statusReason": "r".repeat(3000)})),
            400,
            "bad request",
            "statusReason",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_EVERYTHING"})),
            400,
            "bad request",
            "type",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"ccr": "1A.1"})),
            400,
            "bad request",
            "type",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_CCR"})),
            400,
            "bad request",
            "ccr",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_CCR", "ccr": "1A"})),
            400,
            "bad request",
            "ccr",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_ORDER_ID", "orderId": "abc"})),
            400,
            "bad request",
            "geid",
        ),
        (
            &agent,
            Method::PUT,
            format!("/v1/tickets/{id}"),
            Some(json!({"type": "UPDATE_ORDER_ID"})),
            400,
            "bad request",
            "orderId",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/reassign"),
            Some(json!({"assignee": ""})),
            400,
            "bad request",
            "assignee",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/reassign"),
            Some(json!({"assignee": "ghost@example.com"})),
            400,
            "bad request",
            "assignee",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/transfer"),
            Some(json!({})),
            400,
            "bad request",
            "queueId",
        ),
        (
            &agent,
            Method::POST,
            format!("/v1/tickets/{id}/transfer"),
            Some(json!({"queueId": "nowhere"})),
            400,
            "bad request",
            "queueId",
        ),
        (
            &agent,
            Method::POST,
            format!("/v2/tickets/{id}/escalate"),
            Some(json!({"department": "nowhere"})),
            400,
            "bad request",
            "department",
        ),
        (
            &agent,
            Method::POST,
            format!("/v2/tickets/{id}/escalate"),
            Some(json!("escalate!")),
            400,
            "bad request",
            "body",
        ),
        (
            &agent,
            Method::PUT,
            "/v1/status".into(),
            Some(json!({"status": "dancing"})),
            400,
            "bad request",
            "status",
        ),
        (
            &agent,
            Method::PUT,
            "/v1/status".into(),
            Some(json!({})),
            400,
            "bad request",
            "status",
        ),
        (
            &agent,
            Method::GET,
            format!("/v1/tickets/{id}/history?page=first"),
            None,
            400,
            "bad request",
            "page",
        ),
        (
            &agent,
            Method::GET,
            format!("/v1/tickets/{id}/history?pageSize=5000"),
            None,
            400,
            "bad request",
            "pageSize",
        ),
        (
            &agent,
            Method::GET,
            "/v1/ccr/search?lang=en".into(),
            None,
            400,
            "bad request",
            "q:",
        ),
        (
            &agent,
            Method::GET,
            "/v1/ccr?lang=e%20n".into(),
            None,
            400,
            "bad request",
            "lang:",
        ),
        (
            &agent,
            Method::GET,
            "/v1/tickets/%FF%FE".into(),
            None,
            400,
            "bad request",
            "",
        ),
        // 403: a customer may not act on its ticket or have an agent profile; a stranger
        // with an agent token has no profile to change.
        (
            &customer,
            Method::POST,
            format!("/v1/tickets/{id}/close"),
            Some(json!({})),
            403,
            "forbidden",
            "",
        ),
        (
            &customer,
            Method::GET,
            "/v1/info".into(),
            None,
            403,
            "forbidden",
            "",
        ),
        (
            &customer,
            Method::GET,
            "/v1/tickets".into(),
            None,
            403,
            "forbidden",
            "",
        ),
        (
            &customer,
            Method::PUT,
            "/v1/online".into(),
            None,
            403,
            "forbidden",
            "",
        ),
        (
            &customer,
            Method::DELETE,
            format!("/v1/rooms/{room}"),
            None,
            403,
            "forbidden",
            "",
        ),
        // 404: unknown tickets, rooms and agents.
        (
            &agent,
            Method::GET,
            "/v1/tickets/no-such-ticket".into(),
            None,
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::POST,
            "/v1/tickets/no-such-ticket/close".into(),
            Some(json!({})),
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::POST,
            "/v2/tickets/no-such-ticket/escalate".into(),
            Some(json!({"department": DEPARTMENT})),
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::PUT,
            "/v1/tickets/no-such-ticket/pickedTime".into(),
            None,
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::PUT,
            "/v1/tickets/no-such-ticket".into(),
            Some(json!({"type": "UPDATE_PICKED_TIME"})),
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::GET,
            "/v1/tickets/no-such-ticket/history".into(),
            None,
            404,
            "not found",
            "",
        ),
        (
            &agent,
            Method::DELETE,
            "/v1/rooms/no-such-room".into(),
            None,
            404,
            "not found",
            "",
        ),
        (
            &stranger,
            Method::GET,
            "/v1/info".into(),
            None,
            404,
            "not found",
            "",
        ),
        (
            &stranger,
            Method::PUT,
            "/v1/online".into(),
            None,
            404,
            "not found",
            "",
        ),
        // 409: illegal transitions.
        (
            &supervisor,
            Method::POST,
            format!("/v1/tickets/{id}/reassign"),
            Some(json!({"assignee": AGENT})),
            409,
            "conflict",
            "",
        ),
    ];
    for (caller, method, path, body, status, title, field) in cases {
        let (got, response) = caller.send(method.clone(), &path, body.clone()).await;
        assert_error(got, &response, status, title);
        if !field.is_empty() {
            let detail = response["errors"][0]["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(field),
                "{method} {path} {body:?}: detail {detail:?} should name {field}"
            );
        }
    }
    assert_eq!(snapshot(&server).await, before, "no 4xx wrote anything");
}
}

both_backends! {
#[tokio::test]
/// 409 on a closed ticket, and v1 escalate on a server without a default department is 400.
async fn conflicts_and_an_unconfigured_default_department(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    let before = snapshot(&server).await;
    let (status, body) = agent
        .send(
            Method::POST,
            &format!("/v1/tickets/{}/escalate", ticket.id),
            Some(json!({"statusReason": "x"})),
        )
        .await;
    assert_error(status, &body, 400, "bad request");
    assert!(body.to_string().contains("default-escalation-department"));
    assert_eq!(snapshot(&server).await, before);

    admin.close(&ticket.id).await.expect("close");
    let before = snapshot(&server).await;
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/tickets/{}/close", ticket.id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v2/tickets/{}/escalate", ticket.id),
            Some(json!({"department": DEPARTMENT})),
        ),
        (
            Method::PUT,
            format!("/v1/tickets/{}", ticket.id),
            Some(json!({"type": "UPDATE_ORDER_ID", "orderId": ""})),
        ),
        (
            Method::PUT,
            format!("/v1/tickets/{}/pickedTime", ticket.id),
            None,
        ),
    ] {
        let (status, response) = admin_rest(&server).send(method, &path, body).await;
        assert_error(status, &response, 409, "conflict");
    }
    assert_eq!(snapshot(&server).await, before);
}
}

both_backends! {
#[tokio::test]
/// A change made over REST reaches a gRPC WatchTickets client, and the ticket read both ways
/// tells the same story.
async fn a_rest_change_reaches_a_grpc_watcher(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "watch-1").await;
    let mut admin = server.admin().await;
    let request = admin.req(pb::WatchTicketsRequest {
        ticket_id: ticket.id.clone(),
        ..Default::default()
    });
    let mut stream = admin
        .client
        .watch_tickets(request)
        .await
        .expect("watch")
        .into_inner();
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    let closed = agent
        .ok(
            Method::POST,
            "/v1/tickets/watch-1/close",
            Some(json!({"resolutionStatus": "CUSTOMER_LEFT_CHAT", "statusReason": "gone"})),
        )
        .await;
    let item = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("event");
    let event = item.event.expect("event");
    assert_eq!(event.r#type, pb::TicketEventType::Closed as i32);
    assert_eq!(event.actor, AGENT);
    let watched = item.ticket.expect("ticket");
    assert_eq!(watched.status, pb::TicketStatus::Closed as i32);
    assert_ticket_000(&closed, &watched);
    assert_ticket_000(&closed, &admin.get(&ticket.id).await.expect("get"));
}
}

both_backends! {
#[tokio::test]
/// REST calls are counted per route template, never per id.
async fn metrics_label_rest_routes_by_template(backend: Backend) {
    let server = start(backend).await;
    let ticket = rich_ticket(&server, "metrics-1").await;
    let agent = Rest::as_role(&server, AGENT, Role::Agent);
    agent
        .ok(Method::GET, &format!("/v1/tickets/{}", ticket.id), None)
        .await;
    agent
        .ok(Method::GET, "/ticket-detail/v1/tickets/metrics-1", None)
        .await;
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"method="GET /v1/tickets/{ticketID}""#),
        "{text}"
    );
    assert!(
        text.contains(r#"method="GET /ticket-detail/v1/tickets/{ticketID}""#),
        "{text}"
    );
    assert!(!text.contains("metrics-1"), "no ids in labels");
    assert!(!text.contains(&ticket.id), "no ids in labels");
}
}

both_backends! {
#[tokio::test]
/// The OpenAPI document lists every route with the seeds' schema names.
async fn openapi_describes_every_route(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (status, doc) = Rest::new(&server, None).get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], json!("3.1.0"));
    // Every route of DESIGN.md §5 with exactly its methods.
    let expected: Vec<(&str, &[&str])> = vec![
        ("/v2/tickets/{ticketID}/escalate", &["post"]),
        ("/v2/escalation/departments", &["get"]),
        ("/v1/info", &["get"]),
        ("/v1/tickets", &["get"]),
        ("/v1/online", &["put"]),
        ("/v1/offline", &["put"]),
        ("/v1/status", &["put"]),
        ("/v1/rooms/{roomID}", &["delete"]),
        ("/v1/tickets/{ticketID}/pickedTime", &["put"]),
        ("/v1/statuses", &["get"]),
        ("/v1/tickets/{ticketID}", &["get", "put"]),
        ("/v1/tickets/{ticketID}/history", &["get"]),
        ("/v1/tickets/{ticketID}/close", &["post"]),
        ("/v1/tickets/{ticketID}/escalate", &["post"]),
        ("/v1/tickets/{ticketID}/reassign", &["post"]),
        ("/v1/tickets/{ticketID}/transfer", &["post"]),
        ("/v1/transfer/queues", &["get"]),
        ("/v1/resolution-statuses", &["get"]),
        ("/v1/ccr", &["get"]),
        ("/v1/ccr/search", &["get"]),
    ];
    assert_eq!(
        keys(&doc["paths"]),
        expected.iter().map(|(p, _)| p.to_string()).collect()
    );
    for (path, methods) in &expected {
        assert_eq!(keys(&doc["paths"][path]), set(methods), "{path}");
    }
    // The same document under the seeds' base paths.
    for base in ["/ticket-detail", "/cs-chat-ticket"] {
        let (status, again) = Rest::new(&server, None)
            .get(&format!("{base}/openapi.json"))
            .await;
        assert_eq!((status, &again), (200, &doc));
    }
    let schemas = keys(&doc["components"]["schemas"]);
    for name in [
        "Ticket",
        "Metadata",
        "TicketLink",
        "Customer",
        "Vendor",
        "VerticalType",
        "TicketHistoryResponse",
        "TicketCloseParam",
        "TicketEscalateParam",
        "TicketEscalateV2Param",
        "TicketReassignParam",
        "TicketUpdateParam",
        "TicketUpdateType",
        "TicketTransferParam",
        "TransferQueueResponse",
        "EscalationDepartments",
        "ResolutionStatusList",
        "ResolutionStatus",
        "CcrListResponse",
        "SearchableCcrResponse",
        "SearchableCCR",
        "SearchableCCRChild",
        "AgentInfo",
        "AgentStatusInfo",
        "UpdateAgentStatusParam",
        "AgentStatusList",
        "ChatTicket",
        "Error",
        "error_object",
    ] {
        assert!(schemas.contains(name), "schema {name} missing: {schemas:?}");
    }
}
}

both_backends! {
#[tokio::test]
/// The default escalation department applies to every escalation that names neither a
/// department nor a person (gRPC too), and an unknown one stops the server from starting.
async fn the_default_escalation_department(backend: Backend) {
    let server = start(backend).await;
    server
        .app
        .check_default_escalation_department()
        .await
        .expect("the configured department exists");
    let ticket = rich_ticket(&server, "esc-1").await;
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let request = agent.req(pb::EscalateTicketRequest {
        ticket_id: ticket.id.clone(),
        status_reason: "partner issue".into(),
        ..Default::default()
    });
    let escalated = agent
        .client
        .escalate_ticket(request)
        .await
        .expect("escalate")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(escalated.escalation.expect("e").department, DEPARTMENT);

    let misconfigured = TestServer::start_configured_on(backend,
        AppConfig {
            default_escalation_department: Some("nowhere".into()),
            ..AppConfig::default()
        },
        ServerOptions::default(),
    )
    .await;
    let error = misconfigured
        .app
        .check_default_escalation_department()
        .await
        .expect_err("unknown department");
    assert!(error.to_string().contains("default_escalation_department"));
}
}
