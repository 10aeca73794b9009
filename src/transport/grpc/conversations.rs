//! ConversationService: decode → app → encode.
use super::{convert, principal};
use crate::app::App;
use crate::app::conversations::NewMessage;
use crate::app::validate::non_empty;
use crate::domain::conversation::{AttachmentRef, Button, Message, Room, SenderType};
use crate::error::{Error, Result};
use crate::pb::{self, conversation_service_server::ConversationService};
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct ConversationApi {
    app: App,
}

impl ConversationApi {
    pub fn new(app: App) -> Self {
        ConversationApi { app }
    }
}

fn sender_type(raw: i32) -> Result<Option<SenderType>> {
    Ok(match pb::SenderType::try_from(raw) {
        Ok(pb::SenderType::Unspecified) => None,
        Ok(pb::SenderType::Customer) => Some(SenderType::Customer),
        Ok(pb::SenderType::Agent) => Some(SenderType::Agent),
        Ok(pb::SenderType::Bot) => Some(SenderType::Bot),
        Ok(pb::SenderType::System) => Some(SenderType::System),
        Err(_) => {
            return Err(Error::invalid(
                "sender_type",
                format!("unknown enum value {raw}"),
            ));
        }
    })
}

fn sender_type_pb(t: SenderType) -> pb::SenderType {
    match t {
        SenderType::Customer => pb::SenderType::Customer,
        SenderType::Agent => pb::SenderType::Agent,
        SenderType::Bot => pb::SenderType::Bot,
        SenderType::System => pb::SenderType::System,
    }
}

fn attachment_pb(a: AttachmentRef) -> pb::Attachment {
    pb::Attachment {
        id: a.id,
        name: a.name,
        content_type: a.content_type,
        size: a.size,
    }
}

impl From<Message> for pb::Message {
    fn from(m: Message) -> Self {
        pb::Message {
            id: m.id,
            room_id: m.room_id,
            ticket_id: m.ticket_id,
            sender_type: sender_type_pb(m.sender_type) as i32,
            sender_id: m.sender_id,
            sender_name: m.sender_name,
            body: m.body,
            visible_to_customer: m.visible_to_customer,
            attachments: m.attachments.into_iter().map(attachment_pb).collect(),
            buttons: m
                .buttons
                .into_iter()
                .map(|b| pb::Button {
                    label: b.label,
                    payload: b.payload,
                })
                .collect(),
            created_at: Some(convert::timestamp(m.created_at)),
            client_message_id: m.client_message_id.unwrap_or_default(),
        }
    }
}

impl From<Room> for pb::Room {
    fn from(r: Room) -> Self {
        pb::Room {
            id: r.id,
            ticket_id: r.ticket_id,
            customer_id: r.customer_id,
            closed: r.closed,
            closed_at: convert::opt_timestamp(r.closed_at),
            created_at: Some(convert::timestamp(r.created_at)),
            unread_count: i32::try_from(r.unread_count).unwrap_or(i32::MAX),
            last_message_at: convert::opt_timestamp(r.last_message_at),
        }
    }
}

type MessageStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchRoomResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ConversationService for ConversationApi {
    type WatchRoomStream = MessageStream;

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let new = NewMessage {
            sender_type: sender_type(r.sender_type)?,
            room_id: r.room_id,
            ticket_id: r.ticket_id,
            client_message_id: non_empty(&r.client_message_id),
            sender_id: r.sender_id,
            sender_name: r.sender_name,
            body: r.body,
            internal_note: r.internal_note,
            buttons: r
                .buttons
                .into_iter()
                .map(|b| Button {
                    label: b.label,
                    payload: b.payload,
                })
                .collect(),
            attachment_ids: r.attachment_ids,
        };
        let (message, duplicate) = self.app.send_message(&principal, new).await?;
        Ok(Response::new(pb::SendMessageResponse {
            message: Some(message.into()),
            duplicate,
        }))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let page = self
            .app
            .list_messages(
                &principal,
                &r.room_id,
                i64::from(r.page_size),
                &r.page_token,
                r.newest_first,
            )
            .await?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: page.messages.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let room = self
            .app
            .mark_read(&principal, &r.room_id, &r.message_id)
            .await?;
        Ok(Response::new(pb::MarkReadResponse {
            room: Some(room.into()),
        }))
    }

    async fn get_room(
        &self,
        request: Request<pb::GetRoomRequest>,
    ) -> Result<Response<pb::GetRoomResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let room = self
            .app
            .get_room(&principal, &r.room_id, &r.ticket_id)
            .await?;
        Ok(Response::new(pb::GetRoomResponse {
            room: Some(room.into()),
        }))
    }

    async fn close_room(
        &self,
        request: Request<pb::CloseRoomRequest>,
    ) -> Result<Response<pb::CloseRoomResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let room = self
            .app
            .close_room(&principal, &r.room_id, &r.reason)
            .await?;
        Ok(Response::new(pb::CloseRoomResponse {
            room: Some(room.into()),
        }))
    }

    async fn watch_room(
        &self,
        request: Request<pb::WatchRoomRequest>,
    ) -> Result<Response<Self::WatchRoomStream>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let stream = self
            .app
            .watch_room(&principal, &r.room_id, &r.after_message_id)
            .await?
            .map(|item| {
                item.map(|message| pb::WatchRoomResponse {
                    message: Some(message.into()),
                })
                .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_customer_conversations(
        &self,
        request: Request<pb::ListCustomerConversationsRequest>,
    ) -> Result<Response<pb::ListCustomerConversationsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let customer = App::customer_key(&r.customer_id, &r.channel, &r.social_id)?;
        let page = self
            .app
            .customer_conversations(&principal, customer, i64::from(r.page_size), &r.page_token)
            .await?;
        Ok(Response::new(pb::ListCustomerConversationsResponse {
            rooms: page.rooms.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn upload_attachment(
        &self,
        request: Request<pb::UploadAttachmentRequest>,
    ) -> Result<Response<pb::UploadAttachmentResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let attachment = self
            .app
            .upload_attachment(&principal, &r.room_id, &r.name, &r.content_type, r.data)
            .await?;
        Ok(Response::new(pb::UploadAttachmentResponse {
            attachment: Some(attachment_pb(attachment)),
        }))
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::GetAttachmentResponse>, Status> {
        let principal = principal(&request)?;
        let attachment = self
            .app
            .get_attachment(&principal, &request.into_inner().attachment_id)
            .await?;
        Ok(Response::new(pb::GetAttachmentResponse {
            download_content_type: attachment.download_content_type(),
            attachment: Some(attachment_pb(attachment.meta)),
            room_id: attachment.room_id,
            data: attachment.data,
        }))
    }
}
