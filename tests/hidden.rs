//! DESIGN.md §6: a ticket an agent or supervisor may not see (outside its queues, or held by
//! someone else) reads exactly like one that does not exist — the same code and the same
//! words, from the caller's own key — for every way of naming it (id, number, external id,
//! room, attachment), for reads and writes alike, and a refused write changes nothing. What
//! a caller may see but not do stays PERMISSION_DENIED.
#[macro_use]
mod common;

use casework::domain::{Agent, AgentRole, Role};
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use common::*;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// An id no ticket, room or attachment has.
const MISSING: &str = "01900000-0000-7000-8000-000000000000";
/// A supervisor of OTHER_QUEUE only.
const OUTSIDE_SUPERVISOR: &str = "outside-supervisor@example.com";

/// A refused call's code and message, with the key the caller sent written as `KEY`.
fn refusal(status: &Status, key: &str) -> (Code, String) {
    (status.code(), status.message().replace(key, "KEY"))
}

/// `hidden` (asked with `key`) is refused exactly like `missing` (asked with `missing_key`):
/// NOT_FOUND in the same words, with the same details, naming nothing but the key sent.
#[track_caller]
fn same_as_missing(
    what: &str,
    hidden: Result<impl std::fmt::Debug, Status>,
    key: &str,
    missing: Result<impl std::fmt::Debug, Status>,
    missing_key: &str,
    not_named: &[&str],
) {
    let hidden = hidden.expect_err(what);
    let missing = missing.expect_err(what);
    assert_eq!(hidden.code(), Code::NotFound, "{what}: {hidden:?}");
    assert_eq!(
        refusal(&hidden, key),
        refusal(&missing, missing_key),
        "{what}"
    );
    // The same google.rpc details (ErrorInfo NOT_FOUND).
    use tonic_types::StatusExt;
    assert_eq!(
        format!("{:?}", hidden.get_error_details()),
        format!("{:?}", missing.get_error_details()),
        "{what}"
    );
    assert!(hidden.message().contains(key), "{what}: {hidden:?}");
    for id in not_named {
        if *id != key {
            assert!(
                !hidden.message().contains(id),
                "{what} names {id}: {hidden:?}"
            );
        }
    }
}

/// One caller's ticket and conversation clients.
struct Caller {
    tickets: Tickets,
    rooms: ConversationServiceClient<Channel>,
}

impl Caller {
    async fn new(server: &TestServer, sub: &str, role: Role) -> Caller {
        Caller {
            tickets: server.tickets(sub, role).await,
            rooms: ConversationServiceClient::new(server.channel().await),
        }
    }

    async fn get(&mut self, key: pb::get_ticket_request::Key) -> Result<pb::Ticket, Status> {
        let request = self.tickets.req(pb::GetTicketRequest { key: Some(key) });
        let response = self.tickets.client.get_ticket(request).await?;
        Ok(response.into_inner().ticket.expect("ticket"))
    }

    async fn room(&mut self, room_id: &str, ticket_id: &str) -> Result<pb::Room, Status> {
        let request = self.tickets.req(pb::GetRoomRequest {
            room_id: room_id.into(),
            ticket_id: ticket_id.into(),
        });
        let response = self.rooms.get_room(request).await?;
        Ok(response.into_inner().room.expect("room"))
    }

    async fn attachment(&mut self, id: &str) -> Result<pb::GetAttachmentResponse, Status> {
        let request = self.tickets.req(pb::GetAttachmentRequest {
            attachment_id: id.into(),
        });
        Ok(self.rooms.get_attachment(request).await?.into_inner())
    }

    /// Every write and read that names a ticket by id, refused or answered.
    async fn ticket_calls(&mut self, id: &str) -> Vec<(&'static str, Result<(), Status>)> {
        let t = &mut self.tickets;
        let c = &mut t.client.clone();
        let mut out = Vec::new();
        macro_rules! call {
            ($name:literal, $method:ident, $request:expr) => {
                out.push(($name, c.$method(t.req($request)).await.map(drop)));
            };
        }
        call!(
            "update",
            update_ticket,
            pb::UpdateTicketRequest {
                ticket_id: id.into(),
                ticket: Some(pb::Ticket {
                    subject: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["subject".into()],
                }),
                expected_version: 0,
            }
        );
        call!(
            "assign",
            assign_ticket,
            pb::AssignTicketRequest {
                ticket_id: id.into(),
                agent_id: String::new(),
                expected_version: 0,
            }
        );
        call!(
            "reassign",
            reassign_ticket,
            pb::ReassignTicketRequest {
                ticket_id: id.into(),
                agent_id: AGENT.into(),
                reason: "mine now".into(),
                expected_version: 0,
            }
        );
        call!(
            "transfer",
            transfer_ticket,
            pb::TransferTicketRequest {
                ticket_id: id.into(),
                queue_id: QUEUE.into(),
                reason: "moving".into(),
                expected_version: 0,
            }
        );
        call!(
            "escalate",
            escalate_ticket,
            pb::EscalateTicketRequest {
                ticket_id: id.into(),
                department: DEPARTMENT.into(),
                ..Default::default()
            }
        );
        call!(
            "hold",
            hold_ticket,
            pb::HoldTicketRequest {
                ticket_id: id.into(),
                reason: "wait".into(),
                expected_version: 0,
            }
        );
        call!(
            "close",
            close_ticket,
            pb::CloseTicketRequest {
                ticket_id: id.into(),
                ..Default::default()
            }
        );
        call!(
            "reopen",
            reopen_ticket,
            pb::ReopenTicketRequest {
                ticket_id: id.into(),
                reason: "again".into(),
                ..Default::default()
            }
        );
        call!(
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
            "events",
            list_ticket_events,
            pb::ListTicketEventsRequest {
                ticket_id: id.into(),
                page_size: 0,
                page_token: String::new(),
            }
        );
        call!(
            "history",
            get_customer_history,
            pb::GetCustomerHistoryRequest {
                ticket_id: id.into(),
                ..Default::default()
            }
        );
        call!(
            "queue stats",
            get_queue_stats,
            pb::GetQueueStatsRequest {
                queue_id: OTHER_QUEUE.into(),
                ticket_id: id.into(),
            }
        );
        out
    }

    /// Every call that names a room by id, refused or answered.
    async fn room_calls(&mut self, room_id: &str) -> Vec<(&'static str, Result<(), Status>)> {
        let t = &self.tickets;
        let c = &mut self.rooms;
        let mut out = Vec::new();
        macro_rules! call {
            ($name:literal, $method:ident, $request:expr) => {
                out.push(($name, c.$method(t.req($request)).await.map(drop)));
            };
        }
        call!(
            "send",
            send_message,
            pb::SendMessageRequest {
                room_id: room_id.into(),
                body: "hello".into(),
                ..Default::default()
            }
        );
        call!(
            "list messages",
            list_messages,
            pb::ListMessagesRequest {
                room_id: room_id.into(),
                ..Default::default()
            }
        );
        call!(
            "mark read",
            mark_read,
            pb::MarkReadRequest {
                room_id: room_id.into(),
                message_id: String::new(),
            }
        );
        call!(
            "close room",
            close_room,
            pb::CloseRoomRequest {
                room_id: room_id.into(),
                reason: String::new(),
            }
        );
        call!(
            "watch room",
            watch_room,
            pb::WatchRoomRequest {
                room_id: room_id.into(),
                after_message_id: String::new(),
            }
        );
        call!(
            "upload",
            upload_attachment,
            pb::UploadAttachmentRequest {
                room_id: room_id.into(),
                name: "a.txt".into(),
                content_type: "text/plain".into(),
                data: b"hi".to_vec(),
            }
        );
        out
    }
}

/// The ticket, its events and its messages as the admin sees them.
async fn snapshot(
    server: &TestServer,
    id: &str,
    room_id: &str,
) -> (pb::Ticket, Vec<pb::TicketEvent>, Vec<pb::Message>) {
    let mut admin = server.admin().await;
    let ticket = admin.get(id).await.expect("ticket");
    let events = admin.events(id).await.expect("events");
    let mut rooms = ConversationServiceClient::new(server.channel().await);
    let request = admin.req(pb::ListMessagesRequest {
        room_id: room_id.into(),
        page_size: 500,
        ..Default::default()
    });
    let messages = rooms.list_messages(request).await.expect("messages");
    (ticket, events, messages.into_inner().messages)
}

both_backends! {
#[tokio::test]
async fn a_ticket_outside_an_agents_sight_reads_like_a_missing_one(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    server
        .app
        .store()
        .upsert_agent(&Agent {
            id: OUTSIDE_SUPERVISOR.into(),
            name: "Outside Supervisor".into(),
            role: AgentRole::Supervisor,
            status: "offline".into(),
            status_alias: "Offline".into(),
            last_login_at: None,
            status_updated_at: None,
            queues: vec![OTHER_QUEUE.into()],
            languages: vec![],
            max_concurrent: 5,
        })
        .await
        .expect("supervisor");
    let mut admin = server.admin().await;
    // In QUEUE, held by OTHER_AGENT: hidden from AGENT (same queue, not its ticket) and from
    // the supervisor of OTHER_QUEUE.
    let hidden = admin
        .create(pb::CreateTicketRequest {
            external_id: "hidden-ext".into(),
            ..new_ticket("cust-2")
        })
        .await
        .expect("create");
    admin.assign(&hidden.id, OTHER_AGENT).await.expect("assign");
    let room_id = hidden.metadata.clone().expect("metadata").room_id;
    let mut owner = Caller::new(&server, OTHER_AGENT, Role::Agent).await;
    let request = owner.tickets.req(pb::UploadAttachmentRequest {
        room_id: room_id.clone(),
        name: "receipt.png".into(),
        content_type: "image/png".into(),
        data: vec![1, 2, 3],
    });
    let attachment = owner
        .rooms
        .upload_attachment(request)
        .await
        .expect("upload")
        .into_inner()
        .attachment
        .expect("attachment");
    let before = snapshot(&server, &hidden.id, &room_id).await;
    let secrets = [
        hidden.id.as_str(),
        room_id.as_str(),
        attachment.id.as_str(),
        "hidden-ext",
    ];

    for (sub, role) in [(AGENT, Role::Agent), (OUTSIDE_SUPERVISOR, Role::Supervisor)] {
        let mut caller = Caller::new(&server, sub, role).await;
        use pb::get_ticket_request::Key;
        same_as_missing(
            "get by id",
            caller.get(Key::Id(hidden.id.clone())).await,
            &hidden.id,
            caller.get(Key::Id(MISSING.into())).await,
            MISSING,
            &secrets,
        );
        let number = hidden.number.to_string();
        same_as_missing(
            "get by number",
            caller.get(Key::Number(hidden.number)).await,
            &number,
            caller.get(Key::Number(999_999)).await,
            "999999",
            &secrets,
        );
        same_as_missing(
            "get by external id",
            caller.get(Key::ExternalId("hidden-ext".into())).await,
            "hidden-ext",
            caller.get(Key::ExternalId("no-such-ext".into())).await,
            "no-such-ext",
            &secrets,
        );
        same_as_missing(
            "room by id",
            caller.room(&room_id, "").await,
            &room_id,
            caller.room(MISSING, "").await,
            MISSING,
            &secrets,
        );
        same_as_missing(
            "room by ticket id",
            caller.room("", &hidden.id).await,
            &hidden.id,
            caller.room("", MISSING).await,
            MISSING,
            &secrets,
        );
        same_as_missing(
            "attachment",
            caller.attachment(&attachment.id).await,
            &attachment.id,
            caller.attachment(MISSING).await,
            MISSING,
            &secrets,
        );
        let hidden_calls = caller.ticket_calls(&hidden.id).await;
        let missing_calls = caller.ticket_calls(MISSING).await;
        for ((name, hidden_call), (_, missing_call)) in hidden_calls.into_iter().zip(missing_calls)
        {
            same_as_missing(name, hidden_call, &hidden.id, missing_call, MISSING, &secrets);
        }
        let hidden_calls = caller.room_calls(&room_id).await;
        let missing_calls = caller.room_calls(MISSING).await;
        for ((name, hidden_call), (_, missing_call)) in hidden_calls.into_iter().zip(missing_calls)
        {
            same_as_missing(name, hidden_call, &room_id, missing_call, MISSING, &secrets);
        }
    }
    // Nothing the refused callers tried changed anything.
    assert_eq!(snapshot(&server, &hidden.id, &room_id).await, before);
    let mut rooms = ConversationServiceClient::new(server.channel().await);
    let request = admin.req(pb::GetAttachmentRequest {
        attachment_id: attachment.id.clone(),
    });
    let stored = rooms.get_attachment(request).await.expect("attachment");
    assert_eq!(stored.into_inner().data, vec![1, 2, 3]);

    // Positive control: the holder reads it by every key.
    owner
        .get(pb::get_ticket_request::Key::ExternalId("hidden-ext".into()))
        .await
        .expect("the holder sees its ticket");
    owner.room(&room_id, "").await.expect("room");
    owner.attachment(&attachment.id).await.expect("attachment");
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn what_a_caller_may_see_but_not_do_stays_permission_denied(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mine = admin.create(new_ticket("cust-1")).await.expect("create");
    let before_mine = admin.assign(&mine.id, AGENT).await.expect("assign");
    let waiting = admin.create(new_ticket("cust-1")).await.expect("create");
    let mut agent = server.tickets(AGENT, Role::Agent).await;

    // Its own ticket: an agent does not rate or record workflows.
    let request = agent.req(pb::RateTicketRequest {
        ticket_id: mine.id.clone(),
        score: 5,
        comment: String::new(),
        expected_version: 0,
    });
    assert_code(agent.client.rate_ticket(request).await, Code::PermissionDenied);
    // A waiting ticket of its queue: it may take it, not hand it to someone else.
    let status = assert_code(
        agent.assign(&waiting.id, OTHER_AGENT).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("itself"), "{status:?}");
    // Admin RPCs are refused by role, whatever exists.
    let request = agent.req(pb::UpsertQueueRequest {
        queue: Some(pb::Queue {
            id: QUEUE.into(),
            name: "renamed".into(),
            language: "en".into(),
            default_sla_seconds: 60,
        }),
    });
    assert_code(agent.client.upsert_queue(request).await, Code::PermissionDenied);
    assert_eq!(admin.get(&mine.id).await.expect("ticket"), before_mine);
    assert_eq!(admin.get(&waiting.id).await.expect("ticket"), waiting);
    server.stop().await;
}
}
