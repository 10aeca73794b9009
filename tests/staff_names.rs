//! A customer sees the staff working on its tickets by display name, never by id: an agent's
//! id is its staff e-mail address. Over gRPC (tickets, history, its own changes, messages,
//! live messages) and REST; agents, supervisors and admins still see ids.
#[macro_use]
mod common;

use casework::domain::{AgentRole, Role};
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use common::*;
use tokio_stream::StreamExt;

/// Every seeded staff id ends with this; no answer to a customer may contain it.
const STAFF_DOMAIN: &str = "@example.com";

async fn name_staff(server: &TestServer) {
    for (id, name, role, queues) in [
        (AGENT, "Ana", AgentRole::Agent, vec![QUEUE]),
        (
            SUPERVISOR,
            "Sam Super",
            AgentRole::Supervisor,
            vec![QUEUE, OTHER_QUEUE],
        ),
        (ADMIN, "Ada Admin", AgentRole::Admin, vec![]),
    ] {
        server
            .app
            .store()
            .upsert_agent(&agent(id, name, role, &queues))
            .await
            .expect("agent");
    }
}

#[track_caller]
fn no_staff_ids(what: &str, shown: &impl std::fmt::Debug) {
    let text = format!("{shown:?}");
    assert!(
        !text.contains(STAFF_DOMAIN),
        "{what} shows a staff id: {text}"
    );
}

both_backends! {
#[tokio::test]
async fn customers_see_staff_by_display_name_only(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    name_staff(&server).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let room_id = ticket.metadata.clone().expect("metadata").room_id;

    // The agent answers, then escalates to the supervisor, who closes; the admin links it.
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let mut rooms = ConversationServiceClient::new(server.channel().await);
    let request = agent.req(pb::SendMessageRequest {
        room_id: room_id.clone(),
        body: "On it!".into(),
        ..Default::default()
    });
    rooms.send_message(request).await.expect("agent message");
    let request = agent.req(pb::EscalateTicketRequest {
        ticket_id: ticket.id.clone(),
        department: DEPARTMENT.into(),
        to_agent: SUPERVISOR.into(),
        ..Default::default()
    });
    agent.client.escalate_ticket(request).await.expect("escalate");
    let request = admin.req(pb::LinkTicketRequest {
        ticket_id: ticket.id.clone(),
        link: Some(pb::TicketLink {
            ticket_id: "SF-1".into(),
            id_type: pb::TicketLinkIdType::Salesforce as i32,
            category: pb::TicketLinkCategory::Escalated as i32,
            reason: "escalated".into(),
            ..Default::default()
        }),
        expected_version: 0,
    });
    admin.client.link_ticket(request).await.expect("link");
    let mut supervisor = server.tickets(SUPERVISOR, Role::Supervisor).await;
    supervisor.close(&ticket.id).await.expect("close");

    // Staff see ids.
    let staff_view = admin.get(&ticket.id).await.expect("admin view");
    assert_eq!(staff_view.assignee, SUPERVISOR);
    let escalation = staff_view.escalation.clone().expect("escalation");
    assert_eq!((escalation.from_agent.as_str(), escalation.to_agent.as_str()), (AGENT, SUPERVISOR));
    assert_eq!(staff_view.resolution.clone().expect("resolution").closed_by, SUPERVISOR);

    // The customer sees names, in every answer that carries the ticket.
    let mut customer = server.tickets("cust-1", Role::Customer).await;
    let check = |what: &str, shown: &pb::Ticket| {
        no_staff_ids(what, shown);
        assert_eq!(shown.assignee, "Sam Super", "{what}");
        let escalation = shown.escalation.clone().expect("escalation");
        assert_eq!(escalation.from_agent, "Ana", "{what}");
        assert_eq!(escalation.to_agent, "Sam Super", "{what}");
        assert_eq!(escalation.department, DEPARTMENT, "{what}");
        assert_eq!(shown.resolution.clone().expect("resolution").closed_by, "Sam Super", "{what}");
        let links = &shown.metadata.as_ref().expect("metadata").children_links;
        assert_eq!(links[0].creator, "Ada Admin", "{what}");
        assert_eq!(shown.customer.as_ref().expect("customer").id, "cust-1", "{what}");
    };
    check("GetTicket", &customer.get(&ticket.id).await.expect("get"));
    let request = customer.req(pb::ListTicketsRequest::default());
    let listed = customer.client.list_tickets(request).await.expect("list").into_inner();
    check("ListTickets", &listed.tickets[0]);
    let request = customer.req(pb::GetCustomerHistoryRequest {
        customer_id: "cust-1".into(),
        ..Default::default()
    });
    let history = customer
        .client
        .get_customer_history(request)
        .await
        .expect("history")
        .into_inner();
    no_staff_ids("GetCustomerHistory", &history);
    let request = customer.req(pb::RateTicketRequest {
        ticket_id: ticket.id.clone(),
        score: 5,
        comment: "thanks".into(),
        expected_version: 0,
    });
    let rated = customer.client.rate_ticket(request).await.expect("rate").into_inner();
    check("RateTicket", &rated.ticket.expect("ticket"));

    // Messages: the agent by name, without its id, listed and live.
    let request = customer.req(pb::ListMessagesRequest {
        room_id: room_id.clone(),
        page_size: 100,
        ..Default::default()
    });
    let messages = rooms.list_messages(request).await.expect("messages").into_inner().messages;
    no_staff_ids("ListMessages", &messages);
    let from_agent = messages
        .iter()
        .find(|m| m.sender_type == pb::SenderType::Agent as i32)
        .expect("the agent's message");
    assert_eq!((from_agent.sender_id.as_str(), from_agent.sender_name.as_str()), ("", "Ana"));
    // Staff still see who wrote.
    let request = admin.req(pb::ListMessagesRequest {
        room_id: room_id.clone(),
        page_size: 100,
        ..Default::default()
    });
    let seen_by_staff = rooms.list_messages(request).await.expect("messages").into_inner().messages;
    assert!(seen_by_staff.iter().any(|m| m.sender_id == AGENT));

    // Reopened, back with the supervisor; its next message reaches the customer live.
    let request = customer.req(pb::ReopenTicketRequest {
        ticket_id: ticket.id.clone(),
        reason: "not solved".into(),
        ..Default::default()
    });
    let reopened = customer.client.reopen_ticket(request).await.expect("reopen").into_inner();
    no_staff_ids("ReopenTicket", &reopened);
    admin.assign(&ticket.id, SUPERVISOR).await.expect("assign");
    let request = customer.req(pb::WatchRoomRequest {
        room_id: room_id.clone(),
        after_message_id: from_agent.id.clone(),
    });
    let mut live = rooms.watch_room(request).await.expect("watch").into_inner();
    let request = supervisor.req(pb::SendMessageRequest {
        room_id: room_id.clone(),
        body: "Looking again.".into(),
        ..Default::default()
    });
    rooms.send_message(request).await.expect("supervisor message");
    let message = loop {
        let item = tokio::time::timeout(std::time::Duration::from_secs(10), live.next())
            .await
            .expect("a live message")
            .expect("stream open")
            .expect("message");
        let message = item.message.expect("message");
        if message.sender_type == pb::SenderType::Agent as i32 {
            break message;
        }
    };
    assert_eq!((message.sender_id.as_str(), message.sender_name.as_str()), ("", "Sam Super"));
    let shown = customer.get(&ticket.id).await.expect("get");
    no_staff_ids("GetTicket after reopen", &shown);
    assert_eq!(shown.assignee, "Sam Super");
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn rest_customers_see_staff_by_display_name_only(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    name_staff(&server).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let request = admin.req(pb::LinkTicketRequest {
        ticket_id: ticket.id.clone(),
        link: Some(pb::TicketLink {
            ticket_id: "SF-2".into(),
            id_type: pb::TicketLinkIdType::Salesforce as i32,
            category: pb::TicketLinkCategory::Refunded as i32,
            reason: "refund".into(),
            ..Default::default()
        }),
        expected_version: 0,
    });
    admin.client.link_ticket(request).await.expect("link");

    let get = |role: Role, sub: &str, path: String| {
        let token = server.token(sub, role);
        let url = format!("{}{path}", server.url());
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .header("authorization", format!("bearer {token}"))
                .send()
                .await
                .expect("http");
            assert_eq!(response.status().as_u16(), 200);
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let shown = get(Role::Customer, "cust-1", format!("/v1/tickets/{}", ticket.id)).await;
    no_staff_ids("REST ticket", &shown.to_string());
    assert_eq!(shown["Assignee"], "Ana");
    assert_eq!(shown["metadata"]["childrenLinks"][0]["creator"], "Ada Admin");
    let history = get(
        Role::Customer,
        "cust-1",
        format!("/v1/tickets/{}/history", ticket.id),
    )
    .await;
    no_staff_ids("REST history", &history.to_string());
    assert_eq!(history["list"][0]["Assignee"], "Ana");
    // An agent reads the id.
    let staff = get(Role::Agent, AGENT, format!("/v1/tickets/{}", ticket.id)).await;
    assert_eq!(staff["Assignee"], AGENT);
    server.stop().await;
}
}
