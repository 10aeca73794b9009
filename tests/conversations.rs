//! ConversationService: messages, idempotency, internal notes, unread counts, closing rooms,
//! live rooms, customer conversations and attachments.
#[macro_use]
mod common;

use casework::app::AppConfig;
use casework::config::ServerOptions;
use casework::domain::Role;
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use common::*;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

#[derive(Clone)]
struct Rooms {
    client: ConversationServiceClient<Channel>,
    auth: Tickets,
}

impl Rooms {
    async fn new(server: &TestServer, sub: &str, role: Role) -> Rooms {
        Rooms {
            client: ConversationServiceClient::new(server.channel().await)
                .max_encoding_message_size(usize::MAX),
            auth: server.tickets(sub, role).await,
        }
    }

    async fn send(
        &mut self,
        body: pb::SendMessageRequest,
    ) -> Result<pb::SendMessageResponse, tonic::Status> {
        let request = self.auth.req(body);
        Ok(self.client.send_message(request).await?.into_inner())
    }

    async fn say(&mut self, room_id: &str, body: &str) -> pb::Message {
        self.send(pb::SendMessageRequest {
            room_id: room_id.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .expect("send")
        .message
        .expect("message")
    }

    async fn messages(&mut self, room_id: &str) -> Vec<pb::Message> {
        let request = self.auth.req(pb::ListMessagesRequest {
            room_id: room_id.into(),
            page_size: 500,
            ..Default::default()
        });
        self.client
            .list_messages(request)
            .await
            .expect("list")
            .into_inner()
            .messages
    }

    async fn room(&mut self, ticket_id: &str) -> Result<pb::Room, tonic::Status> {
        let request = self.auth.req(pb::GetRoomRequest {
            ticket_id: ticket_id.into(),
            ..Default::default()
        });
        Ok(self
            .client
            .get_room(request)
            .await?
            .into_inner()
            .room
            .expect("room"))
    }
}

/// A chat ticket of cust-1 assigned to AGENT, and its room id.
async fn assigned_chat(server: &TestServer) -> (pb::Ticket, String) {
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let ticket = admin.assign(&ticket.id, AGENT).await.expect("assign");
    let room_id = ticket.metadata.clone().expect("metadata").room_id;
    assert!(!room_id.is_empty(), "every ticket has a room");
    (ticket, room_id)
}

both_backends! {
#[tokio::test]
async fn a_conversation_with_notes_reads_and_a_closed_room(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (ticket, room_id) = assigned_chat(&server).await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let mut admin = server.admin().await;

    // The customer writes; a retry with the same client_message_id is the same message.
    let hello = pb::SendMessageRequest {
        room_id: room_id.clone(),
        client_message_id: "m-1".into(),
        body: "Where is my food?".into(),
        ..Default::default()
    };
    let first = customer.send(hello.clone()).await.expect("send");
    let retry = customer.send(hello.clone()).await.expect("retry");
    assert!(!first.duplicate);
    assert!(retry.duplicate);
    assert_eq!(
        first.message.as_ref().expect("m").id,
        retry.message.as_ref().expect("m").id
    );
    let mut changed = hello.clone();
    changed.body = "something else".into();
    assert_code(customer.send(changed).await, Code::AlreadyExists);
    let first = first.message.expect("message");
    assert_eq!(first.sender_type, pb::SenderType::Customer as i32);
    assert_eq!(first.sender_id, "cust-1");
    assert_eq!(first.sender_name, "Hugo Dan");

    // The assignee sees one unread message, on the room and on the ticket.
    assert_eq!(agent.room(&ticket.id).await.expect("room").unread_count, 1);
    assert_eq!(admin.get(&ticket.id).await.expect("ticket").unread_count, 1);
    // And so do the tickets live streams carry.
    let request = admin.req(pb::WatchTicketsRequest {
        ticket_id: ticket.id.clone(),
        after_event_id: 1,
        ..Default::default()
    });
    let mut stream = admin
        .client
        .watch_tickets(request)
        .await
        .expect("watch")
        .into_inner();
    loop {
        let item = stream.next().await.expect("open").expect("event");
        if item.event.expect("event").r#type == pb::TicketEventType::MessageAdded as i32 {
            assert_eq!(item.ticket.expect("ticket").unread_count, 1);
            break;
        }
    }
    drop(stream);

    // An internal note: agents see it, the customer never does.
    let note = agent
        .send(pb::SendMessageRequest {
            room_id: room_id.clone(),
            body: "customer sounds upset, offer a voucher".into(),
            internal_note: true,
            ..Default::default()
        })
        .await
        .expect("note")
        .message
        .expect("note");
    assert!(!note.visible_to_customer);
    assert!(
        admin
            .get(&ticket.id)
            .await
            .expect("t")
            .metadata
            .expect("m")
            .first_response_at
            .is_none(),
        "a note is not a response"
    );
    let reply = agent.say(&room_id, "Your rider is 5 minutes away.").await;
    assert_eq!(reply.sender_type, pb::SenderType::Agent as i32);
    assert_eq!(reply.sender_name, AGENT);
    let after_reply = admin.get(&ticket.id).await.expect("ticket");
    assert_eq!(
        after_reply.metadata.expect("m").first_response_at,
        reply.created_at,
        "the first agent message sets first_response_at"
    );
    let seen_by_customer: Vec<String> = customer
        .messages(&room_id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(seen_by_customer, vec![first.id.clone(), reply.id.clone()]);
    assert_eq!(agent.messages(&room_id).await.len(), 3);
    assert_code(
        customer
            .send(pb::SendMessageRequest {
                room_id: room_id.clone(),
                body: "sneaky".into(),
                internal_note: true,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );

    // Buttons: the body carries their plain-text rendering.
    let mut bot = Rooms::new(&server, "support-bot", Role::Service).await;
    let question = bot
        .send(pb::SendMessageRequest {
            room_id: room_id.clone(),
            body: "Did your order arrive?".into(),
            buttons: vec![
                pb::Button {
                    label: "Yes".into(),
                    payload: "arrived".into(),
                },
                pb::Button {
                    label: "No".into(),
                    payload: "missing".into(),
                },
            ],
            ..Default::default()
        })
        .await
        .expect("bot")
        .message
        .expect("message");
    assert_eq!(question.sender_type, pb::SenderType::Bot as i32);
    assert_eq!(question.body, "Did your order arrive?\n1. Yes\n2. No");
    assert_eq!(question.buttons.len(), 2);

    // Reading moves the position; unread drops to zero.
    assert_eq!(agent.room(&ticket.id).await.expect("room").unread_count, 2);
    let request = agent.auth.req(pb::MarkReadRequest {
        room_id: room_id.clone(),
        message_id: String::new(),
    });
    let room = agent
        .client
        .mark_read(request)
        .await
        .expect("read")
        .into_inner()
        .room
        .expect("room");
    assert_eq!(room.unread_count, 0);
    assert_eq!(admin.get(&ticket.id).await.expect("ticket").unread_count, 0);

    // Closing the room: CHAT_CLOSED, no more messages.
    let request = agent.auth.req(pb::CloseRoomRequest {
        room_id: room_id.clone(),
        reason: "resolved in chat".into(),
    });
    let closed = agent
        .client
        .close_room(request)
        .await
        .expect("close")
        .into_inner()
        .room
        .expect("room");
    assert!(closed.closed);
    assert!(closed.closed_at.is_some());
    let ticket_now = admin.get(&ticket.id).await.expect("ticket");
    assert!(ticket_now.metadata.expect("m").chat_room_closed);
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(
        events.last().expect("event").r#type,
        pb::TicketEventType::ChatClosed as i32
    );
    assert_code(
        customer
            .send(pb::SendMessageRequest {
                room_id: room_id.clone(),
                body: "hello?".into(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    // Closing it again is a safe retry: the room, still closed, and no second event.
    let events_before = admin.events(&ticket.id).await.expect("events").len();
    let request = agent.auth.req(pb::CloseRoomRequest {
        room_id: room_id.clone(),
        reason: String::new(),
    });
    let again = agent
        .client
        .close_room(request)
        .await
        .expect("close again")
        .into_inner()
        .room
        .expect("room");
    assert!(again.closed);
    assert_eq!(
        admin.events(&ticket.id).await.expect("events").len(),
        events_before
    );
    let request = customer.auth.req(pb::CloseRoomRequest {
        room_id: room_id.clone(),
        reason: String::new(),
    });
    assert_code(
        customer.client.close_room(request).await,
        Code::PermissionDenied,
    );

    // Reopening the ticket reopens its conversation.
    admin.close(&ticket.id).await.expect("close ticket");
    let request = admin.req(pb::ReopenTicketRequest {
        ticket_id: ticket.id.clone(),
        reason: "customer came back".into(),
        ..Default::default()
    });
    admin.client.reopen_ticket(request).await.expect("reopen");
    assert!(!customer.room(&ticket.id).await.expect("room").closed);
    customer.say(&room_id, "Me again").await;
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn a_customers_unread_count_never_counts_notes(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (ticket, room_id) = assigned_chat(&server).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    for body in ["note one", "note two"] {
        agent
            .send(pb::SendMessageRequest {
                room_id: room_id.clone(),
                body: body.into(),
                internal_note: true,
                ..Default::default()
            })
            .await
            .expect("note");
    }
    assert_eq!(
        customer.room(&ticket.id).await.expect("room").unread_count,
        0
    );
    agent.say(&room_id, "Hello!").await;
    assert_eq!(
        customer.room(&ticket.id).await.expect("room").unread_count,
        1
    );
    let request = customer.auth.req(pb::ListCustomerConversationsRequest {
        customer_id: "cust-1".into(),
        ..Default::default()
    });
    let rooms = customer
        .client
        .list_customer_conversations(request)
        .await
        .expect("rooms")
        .into_inner();
    assert_eq!(rooms.rooms[0].unread_count, 1);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn rooms_are_private_and_stream_live(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (ticket, room_id) = assigned_chat(&server).await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    let mut stranger = Rooms::new(&server, "cust-2", Role::Customer).await;
    let mut other_agent = Rooms::new(&server, OTHER_AGENT, Role::Agent).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    assert_code(stranger.room(&ticket.id).await, Code::NotFound);
    assert_code(
        stranger
            .send(pb::SendMessageRequest {
                room_id: room_id.clone(),
                body: "hi".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(other_agent.room(&ticket.id).await, Code::NotFound);

    // The customer watches; an internal note never reaches it.
    let request = customer.auth.req(pb::WatchRoomRequest {
        room_id: room_id.clone(),
        after_message_id: String::new(),
    });
    let mut stream = customer
        .client
        .watch_room(request)
        .await
        .expect("watch")
        .into_inner();
    agent
        .send(pb::SendMessageRequest {
            room_id: room_id.clone(),
            body: "internal".into(),
            internal_note: true,
            ..Default::default()
        })
        .await
        .expect("note");
    let visible = agent.say(&room_id, "Hello, how can I help?").await;
    let got = stream
        .next()
        .await
        .expect("item")
        .expect("ok")
        .message
        .expect("message");
    assert_eq!(got.id, visible.id, "the note was skipped");
    drop(stream);

    // Resume after a message: exactly the later ones, in order.
    let second = customer.say(&room_id, "My order is late").await;
    let third = agent.say(&room_id, "Checking").await;
    let request = customer.auth.req(pb::WatchRoomRequest {
        room_id: room_id.clone(),
        after_message_id: visible.id.clone(),
    });
    let mut resumed = customer
        .client
        .watch_room(request)
        .await
        .expect("resume")
        .into_inner();
    let a = resumed
        .next()
        .await
        .expect("item")
        .expect("ok")
        .message
        .expect("m");
    let b = resumed
        .next()
        .await
        .expect("item")
        .expect("ok")
        .message
        .expect("m");
    assert_eq!((a.id, b.id), (second.id, third.id));
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn customer_conversations_by_id_and_by_channel_identity(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut with_identity = new_ticket("cust-9");
    with_identity
        .customer
        .as_mut()
        .expect("customer")
        .identities = vec![pb::CustomerIdentity {
        channel: "whatsapp".into(),
        social_id: "+6590000000".into(),
    }];
    let first = admin.create(with_identity).await.expect("first");
    server.clock.advance(chrono::Duration::minutes(5));
    let second = admin.create(new_ticket("cust-9")).await.expect("second");
    admin
        .create(new_ticket("cust-10"))
        .await
        .expect("someone else");
    let mut rooms = Rooms::new(&server, ADMIN, Role::Admin).await;
    let request = rooms.auth.req(pb::ListCustomerConversationsRequest {
        customer_id: "cust-9".into(),
        page_size: 1,
        ..Default::default()
    });
    let page = rooms
        .client
        .list_customer_conversations(request)
        .await
        .expect("page")
        .into_inner();
    assert_eq!(page.rooms.len(), 1);
    assert_eq!(page.rooms[0].ticket_id, second.id, "newest first");
    let request = rooms.auth.req(pb::ListCustomerConversationsRequest {
        customer_id: "cust-9".into(),
        page_size: 1,
        page_token: page.next_page_token,
        ..Default::default()
    });
    let next = rooms
        .client
        .list_customer_conversations(request)
        .await
        .expect("next")
        .into_inner();
    assert_eq!(next.rooms[0].ticket_id, first.id);
    let request = rooms.auth.req(pb::ListCustomerConversationsRequest {
        channel: "whatsapp".into(),
        social_id: "+6590000000".into(),
        ..Default::default()
    });
    let by_identity = rooms
        .client
        .list_customer_conversations(request)
        .await
        .expect("identity")
        .into_inner();
    let ids: Vec<&str> = by_identity
        .rooms
        .iter()
        .map(|r| r.ticket_id.as_str())
        .collect();
    assert_eq!(ids, vec![first.id.as_str()]);
    let mut customer = Rooms::new(&server, "cust-10", Role::Customer).await;
    let request = customer.auth.req(pb::ListCustomerConversationsRequest {
        customer_id: "cust-9".into(),
        ..Default::default()
    });
    assert_code(
        customer.client.list_customer_conversations(request).await,
        Code::PermissionDenied,
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn attachments_are_stored_limited_and_attached(backend: Backend) {
    let config = AppConfig {
        max_attachment_bytes: 1024,
        ..AppConfig::default()
    };
    let server = TestServer::start_configured_on(backend, config, ServerOptions::default()).await;
    let (_, room_id) = assigned_chat(&server).await;
    let mut customer = Rooms::new(&server, "cust-1", Role::Customer).await;
    let upload = |data: Vec<u8>| pb::UploadAttachmentRequest {
        room_id: room_id.clone(),
        name: "receipt.png".into(),
        content_type: "image/png".into(),
        data,
    };
    let request = customer.auth.req(upload(vec![7u8; 1024]));
    let attachment = customer
        .client
        .upload_attachment(request)
        .await
        .expect("upload")
        .into_inner()
        .attachment
        .expect("attachment");
    assert_eq!(attachment.size, 1024);
    let request = customer.auth.req(upload(vec![7u8; 1025]));
    let status = assert_code(
        customer.client.upload_attachment(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["data".to_string()]);
    // Past the transport limit the request is refused before it is buffered whole.
    let request = customer.auth.req(upload(vec![7u8; 5 * 1024 * 1024]));
    assert_code(
        customer.client.upload_attachment(request).await,
        Code::ResourceExhausted,
    );

    let sent = customer
        .send(pb::SendMessageRequest {
            room_id: room_id.clone(),
            attachment_ids: vec![attachment.id.clone()],
            ..Default::default()
        })
        .await
        .expect("send with attachment")
        .message
        .expect("message");
    assert_eq!(sent.attachments, vec![attachment.clone()]);
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let request = agent.auth.req(pb::GetAttachmentRequest {
        attachment_id: attachment.id.clone(),
    });
    let fetched = agent
        .client
        .get_attachment(request)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched.data, vec![7u8; 1024]);
    assert_eq!(fetched.room_id, room_id);
    let mut stranger = Rooms::new(&server, "cust-2", Role::Customer).await;
    let request = stranger.auth.req(pb::GetAttachmentRequest {
        attachment_id: attachment.id.clone(),
    });
    assert_code(
        stranger.client.get_attachment(request).await,
        Code::NotFound,
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn bad_conversation_input_names_the_field_and_writes_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (_, room_id) = assigned_chat(&server).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let long = "x".repeat(129);
    let send = |f: &dyn Fn(&mut pb::SendMessageRequest)| {
        let mut request = pb::SendMessageRequest {
            room_id: room_id.clone(),
            body: "hello".into(),
            ..Default::default()
        };
        f(&mut request);
        request
    };
    let cases: Vec<(pb::SendMessageRequest, &str)> = vec![
        (send(&|r| r.room_id.clear()), "room_id"),
        (send(&|r| r.room_id = long.clone()), "room_id"),
        (send(&|r| r.ticket_id = long.clone()), "ticket_id"),
        (
            send(&|r| r.client_message_id = long.clone()),
            "client_message_id",
        ),
        (send(&|r| r.sender_type = 42), "sender_type"),
        (
            send(&|r| r.sender_type = pb::SenderType::Customer as i32),
            "sender_type",
        ),
        (send(&|r| r.sender_name = "n".repeat(201)), "sender_name"),
        (send(&|r| r.body.clear()), "body"),
        (send(&|r| r.body = "b".repeat(16 * 1024 + 1)), "body"),
        (
            send(&|r| {
                r.buttons = vec![pb::Button {
                    label: String::new(),
                    payload: "p".into(),
                }]
            }),
            "buttons[0].label",
        ),
        (
            send(&|r| {
                r.buttons = vec![pb::Button {
                    label: "l".into(),
                    payload: "p".repeat(1001),
                }]
            }),
            "buttons[0].payload",
        ),
        (
            send(&|r| {
                r.buttons = (0..21)
                    .map(|i| pb::Button {
                        label: format!("b{i}"),
                        payload: String::new(),
                    })
                    .collect()
            }),
            "buttons",
        ),
        (
            send(&|r| r.attachment_ids = vec!["nope".into()]),
            "attachment_ids[0]",
        ),
        (
            send(&|r| r.attachment_ids = vec![String::new()]),
            "attachment_ids[0]",
        ),
    ];
    for (request, field) in cases {
        let status = assert_code(agent.send(request).await, Code::InvalidArgument);
        assert!(
            violated_fields(&status).contains(&field.to_string()),
            "{field}: {status:?}"
        );
    }
    let request = agent.auth.req(pb::ListMessagesRequest {
        room_id: room_id.clone(),
        page_size: 501,
        ..Default::default()
    });
    let status = assert_code(
        agent.client.list_messages(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["page_size".to_string()]);
    let request = agent.auth.req(pb::ListMessagesRequest {
        room_id: room_id.clone(),
        page_token: "garbage".into(),
        ..Default::default()
    });
    let status = assert_code(
        agent.client.list_messages(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["page_token".to_string()]);
    let request = agent.auth.req(pb::MarkReadRequest {
        room_id: room_id.clone(),
        message_id: "nope".into(),
    });
    let status = assert_code(agent.client.mark_read(request).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["message_id".to_string()]);
    let request = agent.auth.req(pb::WatchRoomRequest {
        room_id: String::new(),
        after_message_id: String::new(),
    });
    let status = assert_code(
        agent.client.watch_room(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["room_id".to_string()]);
    let request = agent.auth.req(pb::UploadAttachmentRequest {
        room_id: room_id.clone(),
        name: String::new(),
        content_type: "not a type".into(),
        data: Vec::new(),
    });
    let status = assert_code(
        agent.client.upload_attachment(request).await,
        Code::InvalidArgument,
    );
    let fields = violated_fields(&status);
    for field in ["name", "content_type", "data"] {
        assert!(fields.contains(&field.to_string()), "{field}: {fields:?}");
    }
    let request = agent.auth.req(pb::ListCustomerConversationsRequest {
        channel: "whatsapp".into(),
        ..Default::default()
    });
    let status = assert_code(
        agent.client.list_customer_conversations(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["social_id".to_string()]);
    let request = agent.auth.req(pb::GetAttachmentRequest {
        attachment_id: String::new(),
    });
    let status = assert_code(
        agent.client.get_attachment(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["attachment_id".to_string()]);
    assert!(
        agent.messages(&room_id).await.is_empty(),
        "nothing was written"
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn every_other_conversation_field_refuses_bad_input_by_name(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let (_, room_id) = assigned_chat(&server).await;
    let mut agent = Rooms::new(&server, AGENT, Role::Agent).await;
    let long = "x".repeat(129);
    for (request, field) in [
        (pb::GetRoomRequest::default(), "room_id"),
        (
            pb::GetRoomRequest {
                room_id: long.clone(),
                ticket_id: String::new(),
            },
            "room_id",
        ),
        (
            pb::GetRoomRequest {
                room_id: String::new(),
                ticket_id: long.clone(),
            },
            "ticket_id",
        ),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(agent.client.get_room(request).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    for (request, field) in [
        (
            pb::CloseRoomRequest {
                room_id: String::new(),
                reason: String::new(),
            },
            "room_id",
        ),
        (
            pb::CloseRoomRequest {
                room_id: room_id.clone(),
                reason: "r".repeat(2001),
            },
            "reason",
        ),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(
            agent.client.close_room(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    for (request, field) in [
        (
            pb::MarkReadRequest {
                room_id: String::new(),
                message_id: String::new(),
            },
            "room_id",
        ),
        (
            pb::MarkReadRequest {
                room_id: room_id.clone(),
                message_id: long.clone(),
            },
            "message_id",
        ),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(agent.client.mark_read(request).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let request = agent.auth.req(pb::WatchRoomRequest {
        room_id: room_id.clone(),
        after_message_id: "not-a-message".into(),
    });
    let status = assert_code(
        agent.client.watch_room(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        vec!["after_message_id".to_string()]
    );
    let conversations = |f: &dyn Fn(&mut pb::ListCustomerConversationsRequest)| {
        let mut request = pb::ListCustomerConversationsRequest {
            customer_id: "cust-1".into(),
            ..Default::default()
        };
        f(&mut request);
        request
    };
    for (request, field) in [
        (
            conversations(&|r| r.customer_id = long.clone()),
            "customer_id",
        ),
        (conversations(&|r| r.page_size = 501), "page_size"),
        (
            conversations(&|r| r.page_token = "garbage".into()),
            "page_token",
        ),
        (
            conversations(&|r| r.channel = "whatsapp".into()),
            "customer_id",
        ),
        (
            conversations(&|r| {
                r.customer_id.clear();
                r.channel = long.clone();
                r.social_id = "x".into();
            }),
            "channel",
        ),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(
            agent.client.list_customer_conversations(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let request = agent.auth.req(pb::UploadAttachmentRequest {
        room_id: room_id.clone(),
        name: "n".repeat(256),
        content_type: "c/".repeat(65),
        data: vec![1],
    });
    let status = assert_code(
        agent.client.upload_attachment(request).await,
        Code::InvalidArgument,
    );
    let fields = violated_fields(&status);
    assert!(
        fields.contains(&"name".to_string()) && fields.contains(&"content_type".to_string()),
        "{fields:?}"
    );
    assert!(
        agent.messages(&room_id).await.is_empty(),
        "nothing was written"
    );
    server.stop().await;
}
}
