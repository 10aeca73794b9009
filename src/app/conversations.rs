//! Conversation use cases: messages in a ticket's room (idempotent by `client_message_id`),
//! read positions, internal notes, closing rooms, live room streams and attachments.
use super::access::Access;
use super::validate::{
    MAX_ID_LEN, MAX_MESSAGE_LEN, MAX_NAME_LEN, MAX_TEXT_LEN, Violations, non_empty,
};
use super::view::shown_message;
use super::write::{self, MessageAdded};
use super::{App, paging};
use crate::domain::conversation::{
    self, Attachment, AttachmentQuota, AttachmentRef, Button, Message, Room, SenderType,
    render_with_buttons,
};
use crate::domain::query::{Cursor, CustomerKey, Reader, RoomKey, TicketKey};
use crate::domain::{Principal, Role, Ticket, Transition};
use crate::error::{Error, Result};
use tokio_stream::wrappers::ReceiverStream;

pub const MAX_BUTTONS: usize = 20;
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;
/// Longest attachment name accepted, in characters (the stored name is also cut to
/// `conversation::MAX_FILE_NAME_BYTES` bytes).
pub const MAX_FILE_NAME_LEN: usize = 255;

/// SendMessage's input.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub room_id: String,
    pub ticket_id: String,
    pub client_message_id: Option<String>,
    /// `None`: derived from the principal.
    pub sender_type: Option<SenderType>,
    pub sender_id: String,
    pub sender_name: String,
    pub body: String,
    pub internal_note: bool,
    pub buttons: Vec<Button>,
    pub attachment_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub next_page_token: String,
}

#[derive(Debug, Clone)]
pub struct RoomPage {
    pub rooms: Vec<Room>,
    pub next_page_token: String,
}

/// Whether the principal reads internal notes.
fn sees_internal(access: &Access) -> bool {
    access.role != Role::Customer
}

fn reader(access: &Access) -> Reader {
    Reader {
        id: access.id().to_string(),
        sees_internal: sees_internal(access),
    }
}

fn room_not_found(key: &RoomKey) -> Error {
    Error::NotFound(match key {
        RoomKey::Id(id) => format!("room {id}"),
        RoomKey::TicketId(id) => format!("room of ticket {id}"),
    })
}

/// A visible message the server writes itself in the ticket's room, keyed so that writing
/// it again is a no-op.
pub(crate) fn server_message(
    ticket: &Ticket,
    (sender_type, sender_id, sender_name): (SenderType, &str, &str),
    key: String,
    body: String,
    at: crate::clock::Time,
) -> Message {
    Message {
        id: uuid::Uuid::now_v7().to_string(),
        seq: 0,
        room_id: ticket.metadata.room_id.clone(),
        ticket_id: ticket.id.clone(),
        sender_type,
        sender_id: sender_id.to_string(),
        sender_name: sender_name.to_string(),
        body,
        visible_to_customer: true,
        attachments: Vec::new(),
        buttons: Vec::new(),
        created_at: at,
        client_message_id: Some(key),
    }
}

impl App {
    /// The room and its ticket, if the principal may see the ticket.
    async fn room_for(&self, access: &Access, key: RoomKey) -> Result<(Room, Ticket)> {
        let room = self
            .store
            .get_room(&key, &reader(access))
            .await?
            .ok_or_else(|| room_not_found(&key))?;
        // A room whose ticket is hidden from the caller reads exactly like a missing room.
        let ticket = self
            .load(access, &TicketKey::Id(room.ticket_id.clone()))
            .await
            .map_err(|error| match error {
                Error::NotFound(_) => room_not_found(&key),
                other => other,
            })?;
        Ok((room, ticket))
    }

    fn room_key(room_id: &str, ticket_id: &str) -> Result<RoomKey> {
        let mut v = Violations::new();
        v.optional_id("room_id", room_id);
        v.optional_id("ticket_id", ticket_id);
        if room_id.is_empty() && ticket_id.is_empty() {
            v.add("room_id", "room_id or ticket_id is required");
        }
        v.finish()?;
        Ok(match non_empty(room_id) {
            Some(id) => RoomKey::Id(id),
            None => RoomKey::TicketId(ticket_id.to_string()),
        })
    }

    pub async fn get_room(
        &self,
        principal: &Principal,
        room_id: &str,
        ticket_id: &str,
    ) -> Result<Room> {
        let key = Self::room_key(room_id, ticket_id)?;
        let access = self.access(principal).await?;
        let (room, _) = self.room_for(&access, key).await?;
        Ok(room)
    }

    /// Runs to completion even if the caller goes away, so a committed change is always
    /// routed and announced.
    pub async fn send_message(
        &self,
        principal: &Principal,
        new: NewMessage,
    ) -> Result<(Message, bool)> {
        let (app, principal) = (self.clone(), principal.clone());
        self.detached(async move { app.send_message_attached(&principal, new).await })
            .await
    }

    #[tracing::instrument(skip_all, fields(room_id = %new.room_id, ticket_id = %new.ticket_id))]
    async fn send_message_attached(
        &self,
        principal: &Principal,
        new: NewMessage,
    ) -> Result<(Message, bool)> {
        let key = Self::room_key(&new.room_id, &new.ticket_id)?;
        let mut v = Violations::new();
        if let Some(id) = &new.client_message_id {
            v.optional_id("client_message_id", id);
        }
        v.optional_id("sender_id", &new.sender_id);
        v.text("sender_name", &new.sender_name, MAX_NAME_LEN);
        v.text("body", &new.body, MAX_MESSAGE_LEN);
        if new.body.trim().is_empty() && new.buttons.is_empty() && new.attachment_ids.is_empty() {
            v.add("body", "must not be empty without buttons or attachments");
        }
        if new.buttons.len() > MAX_BUTTONS {
            v.add(
                "buttons",
                format!("must have at most {MAX_BUTTONS} buttons"),
            );
        }
        for (i, button) in new.buttons.iter().enumerate() {
            v.required_text(&format!("buttons[{i}].label"), &button.label, 100);
            v.text(&format!("buttons[{i}].payload"), &button.payload, 1000);
        }
        if new.attachment_ids.len() > MAX_ATTACHMENTS_PER_MESSAGE {
            v.add(
                "attachment_ids",
                format!("must have at most {MAX_ATTACHMENTS_PER_MESSAGE} items"),
            );
        }
        v.list("attachment_ids", &new.attachment_ids, MAX_ID_LEN);
        v.finish()?;

        let access = self.access(principal).await?;
        let (sender_type, sender_id) = match (&access.principal, new.sender_type) {
            (Principal::Customer { id, .. }, None | Some(SenderType::Customer)) => {
                (SenderType::Customer, id.clone())
            }
            (Principal::Agent { id, .. }, None | Some(SenderType::Agent)) => {
                (SenderType::Agent, id.clone())
            }
            (Principal::Service { name }, None | Some(SenderType::Bot)) => (
                SenderType::Bot,
                non_empty(&new.sender_id).unwrap_or_else(|| name.clone()),
            ),
            (Principal::Service { name }, Some(SenderType::System)) => (
                SenderType::System,
                non_empty(&new.sender_id).unwrap_or_else(|| name.clone()),
            ),
            (_, Some(other)) => {
                return Err(Error::invalid(
                    "sender_type",
                    format!(
                        "{} messages cannot be sent by this principal",
                        other.as_str()
                    ),
                ));
            }
        };
        if new.internal_note && !matches!(sender_type, SenderType::Agent | SenderType::System) {
            return Err(Error::invalid(
                "internal_note",
                "only agents and the system write internal notes",
            ));
        }
        // A closed room takes no messages: checked inside the write (`write::add_message`),
        // so a close cannot slip in between.
        let (room, ticket) = self.room_for(&access, key).await?;
        let mut attachments = Vec::with_capacity(new.attachment_ids.len());
        for (i, id) in new.attachment_ids.iter().enumerate() {
            match self.store.attachment_info(id).await? {
                Some(attachment) if attachment.room_id == room.id => {
                    attachments.push(attachment.meta)
                }
                _ => {
                    return Err(Error::invalid(
                        format!("attachment_ids[{i}]"),
                        "no such attachment in this room",
                    ));
                }
            }
        }
        let sender_name = match (non_empty(&new.sender_name), sender_type) {
            (Some(name), _) => name,
            (None, SenderType::Agent) => self
                .agent(&sender_id)
                .await?
                .map(|a| a.name)
                .unwrap_or_default(),
            (None, SenderType::Customer) => ticket.customer.name.clone(),
            (None, _) => String::new(),
        };
        let message = Message {
            id: uuid::Uuid::now_v7().to_string(),
            seq: 0,
            room_id: room.id.clone(),
            ticket_id: ticket.id.clone(),
            sender_type,
            sender_id,
            sender_name,
            body: render_with_buttons(&new.body, &new.buttons),
            visible_to_customer: !new.internal_note,
            attachments,
            buttons: new.buttons,
            created_at: self.clock.now(),
            client_message_id: new.client_message_id,
        };
        match self.add_message(message, principal.actor()).await? {
            MessageAdded::Duplicate(message) => Ok((shown_message(principal, message), true)),
            MessageAdded::New(message, _) => Ok((shown_message(principal, message), false)),
        }
    }

    /// Adds a message in one write (see `write::add_message`).
    async fn add_message(&self, message: Message, actor: String) -> Result<MessageAdded> {
        let timers = self.config.chat_timers;
        self.store
            .write(move |tx| {
                let (message, actor) = (message.clone(), actor.clone());
                Box::pin(async move { write::add_message(tx, message, &actor, &timers).await })
            })
            .await
    }

    pub async fn list_messages(
        &self,
        principal: &Principal,
        room_id: &str,
        page_size: i64,
        page_token: &str,
        newest_first: bool,
    ) -> Result<MessagePage> {
        let mut v = Violations::new();
        v.id("room_id", room_id);
        v.page_size("page_size", page_size);
        v.finish()?;
        let access = self.access(principal).await?;
        let (room, _) = self
            .room_for(&access, RoomKey::Id(room_id.to_string()))
            .await?;
        let query = format!("messages|{}|{newest_first}", room.id);
        let cursor = paging::decode(page_token, &query, "page_token")?.map(|c| c.number);
        let limit = if page_size == 0 { 50 } else { page_size };
        let mut messages = self
            .store
            .list_messages(
                &room.id,
                cursor,
                newest_first,
                sees_internal(&access),
                limit + 1,
            )
            .await?;
        let next_page_token = if messages.len() as i64 > limit {
            messages.truncate(limit as usize);
            let last = messages.last().map_or(0, |m| m.seq);
            paging::encode(
                Cursor {
                    sort_value: 0,
                    number: last,
                },
                &query,
            )
        } else {
            String::new()
        };
        Ok(MessagePage {
            messages: messages
                .into_iter()
                .map(|message| shown_message(principal, message))
                .collect(),
            next_page_token,
        })
    }

    /// Moves the caller's read position to `message_id` (empty: the latest message).
    pub async fn mark_read(
        &self,
        principal: &Principal,
        room_id: &str,
        message_id: &str,
    ) -> Result<Room> {
        let mut v = Violations::new();
        v.id("room_id", room_id);
        v.optional_id("message_id", message_id);
        v.finish()?;
        let access = self.access(principal).await?;
        let (room, _) = self
            .room_for(&access, RoomKey::Id(room_id.to_string()))
            .await?;
        let seq = match non_empty(message_id) {
            Some(id) => self
                .store
                .message_seq(&room.id, &id)
                .await?
                .ok_or_else(|| Error::invalid("message_id", "no such message in this room"))?,
            None => self.store.latest_seq(&room.id).await?,
        };
        self.store.mark_read(&room.id, access.id(), seq).await?;
        self.get_room(principal, &room.id, "").await
    }

    /// Closes the room (CHAT_CLOSED); the ticket keeps its status. Closing a closed room
    /// again changes nothing and succeeds, so a retry is safe.
    pub async fn close_room(
        &self,
        principal: &Principal,
        room_id: &str,
        reason: &str,
    ) -> Result<Room> {
        let mut v = Violations::new();
        v.id("room_id", room_id);
        v.text("reason", reason, MAX_TEXT_LEN);
        v.finish()?;
        let access = self.access(principal).await?;
        let (room, ticket) = self
            .room_for(&access, RoomKey::Id(room_id.to_string()))
            .await?;
        let transition = Transition::CloseRoom {
            reason: reason.to_string(),
        };
        self.change_ticket(principal, TicketKey::Id(ticket.id), 0, transition)
            .await?;
        self.get_room(principal, &room.id, "").await
    }

    /// Closes the room of a ticket (the blueprints' `CLOSE_CHAT_ROOM` update); returns the
    /// ticket.
    pub async fn close_ticket_room(
        &self,
        principal: &Principal,
        key: TicketKey,
        reason: &str,
    ) -> Result<Ticket> {
        let transition = Transition::CloseRoom {
            reason: reason.to_string(),
        };
        self.change_ticket(principal, key, 0, transition).await
    }

    /// Streams messages of the room after `after_message_id` (empty: from now on).
    pub async fn watch_room(
        &self,
        principal: &Principal,
        room_id: &str,
        after_message_id: &str,
    ) -> Result<ReceiverStream<Result<Message>>> {
        let mut v = Violations::new();
        v.id("room_id", room_id);
        v.optional_id("after_message_id", after_message_id);
        v.finish()?;
        let access = self.access(principal).await?;
        let (room, _) = self
            .room_for(&access, RoomKey::Id(room_id.to_string()))
            .await?;
        let last = match non_empty(after_message_id) {
            Some(id) => self
                .store
                .message_seq(&room.id, &id)
                .await?
                .ok_or_else(|| {
                    Error::invalid("after_message_id", "no such message in this room")
                })?,
            None => self.store.latest_seq(&room.id).await?,
        };
        let include_internal = sees_internal(&access);
        let (app, principal) = (self.clone(), principal.clone());
        // Messages of a room are added under its ticket's lock, so their sequence numbers
        // commit in order: the room needs no committed position, only word of commits that
        // wrote events of its ticket (`TicketWake`).
        let wake = super::feed::TicketWake::new(
            &self.feed,
            &self.store,
            &self.shutdown,
            room.ticket_id.clone(),
        );
        Ok(self.follow(wake, last, move |after| {
            let (app, room_id, ticket_id) = (app.clone(), room.id.clone(), room.ticket_id.clone());
            let (access, principal) = (access.clone(), principal.clone());
            async move {
                // Access is re-checked on every read: an agent who loses the ticket stops
                // hearing its room.
                // Refused in the words of the room the caller named, like a missing room.
                let gone = || Error::NotFound(format!("room {room_id}"));
                match app.store.get_ticket(&TicketKey::Id(ticket_id)).await? {
                    Some(ticket) => access.can_see(&ticket).map_err(|_| gone())?,
                    None => return Err(gone()),
                }
                let messages = app
                    .store
                    .list_messages(
                        &room_id,
                        Some(after),
                        false,
                        include_internal,
                        super::FOLLOW_BATCH as i64,
                    )
                    .await?;
                Ok(messages
                    .into_iter()
                    .map(|m| (m.seq, shown_message(&principal, m)))
                    .collect())
            }
        }))
    }

    /// The customer a conversation listing names: by id, or by channel and social id.
    pub fn customer_key(customer_id: &str, channel: &str, social_id: &str) -> Result<CustomerKey> {
        match (
            non_empty(customer_id),
            non_empty(channel),
            non_empty(social_id),
        ) {
            (Some(id), None, None) => Ok(CustomerKey::Id(id)),
            (None, Some(channel), Some(social_id)) => {
                Ok(CustomerKey::Identity { channel, social_id })
            }
            (None, None, None) => Err(Error::invalid(
                "customer_id",
                "customer_id or channel + social_id is required",
            )),
            (Some(_), _, _) => Err(Error::invalid(
                "customer_id",
                "give customer_id or channel + social_id, not both",
            )),
            (None, None, Some(_)) => Err(Error::invalid("channel", "is required with social_id")),
            (None, Some(_), None) => Err(Error::invalid("social_id", "is required with channel")),
        }
    }

    /// A customer's rooms, newest first, by customer id or by channel and social id.
    pub async fn customer_conversations(
        &self,
        principal: &Principal,
        customer: CustomerKey,
        page_size: i64,
        page_token: &str,
    ) -> Result<RoomPage> {
        let mut v = Violations::new();
        match &customer {
            CustomerKey::Id(id) => v.id("customer_id", id),
            CustomerKey::Identity { channel, social_id } => {
                v.id("channel", channel);
                v.id("social_id", social_id);
            }
        }
        v.page_size("page_size", page_size);
        v.finish()?;
        let access = self.access(principal).await?;
        if access.role == Role::Customer && customer != CustomerKey::Id(access.id().to_string()) {
            return Err(Error::PermissionDenied(
                "customers may list only their own conversations".into(),
            ));
        }
        let query = format!("rooms|{customer:?}");
        let after = if page_token.is_empty() {
            None
        } else {
            let raw = paging::decode_text(page_token, &query, "page_token")?;
            let (created_at, id) = raw
                .split_once('|')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| {
                    Error::invalid("page_token", "is not a token returned by this listing")
                })?;
            Some((created_at, id))
        };
        let limit = if page_size == 0 { 20 } else { page_size };
        let mut rooms = self
            .store
            .customer_rooms(&customer, &reader(&access), &access.scope, after, limit + 1)
            .await?;
        let next_page_token = if rooms.len() as i64 > limit {
            rooms.truncate(limit as usize);
            rooms
                .last()
                .map(|r| {
                    paging::encode_text(
                        &format!("{}|{}", r.created_at.timestamp_micros(), r.id),
                        &query,
                    )
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(RoomPage {
            rooms,
            next_page_token,
        })
    }

    /// Stores a file for the room. Its name is kept as a base name only
    /// (`conversation::file_name`); the room's quota (`max_room_attachments`,
    /// `max_room_attachment_bytes`) is checked in the same write that stores it.
    pub async fn upload_attachment(
        &self,
        principal: &Principal,
        room_id: &str,
        name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Result<AttachmentRef> {
        let (app, principal) = (self.clone(), principal.clone());
        let (room_id, name, content_type) = (
            room_id.to_string(),
            name.to_string(),
            content_type.to_string(),
        );
        self.detached(async move {
            app.upload_attachment_attached(&principal, &room_id, &name, &content_type, data)
                .await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(room_id = %room_id))]
    async fn upload_attachment_attached(
        &self,
        principal: &Principal,
        room_id: &str,
        name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Result<AttachmentRef> {
        let mut v = Violations::new();
        v.id("room_id", room_id);
        // Control characters in a name are dropped rather than refused (`file_name`).
        if name.chars().count() > MAX_FILE_NAME_LEN {
            v.add(
                "name",
                format!("must be at most {MAX_FILE_NAME_LEN} characters"),
            );
        }
        let stored_name = conversation::file_name(name);
        if stored_name.is_none() {
            v.add(
                "name",
                "must name a file: empty, \".\", \"..\" or a name that is only a path or \
                 control characters is not one",
            );
        }
        v.required_text("content_type", content_type, 128);
        if !content_type.contains('/') || content_type.chars().any(char::is_whitespace) {
            v.add("content_type", "must be a MIME type such as image/png");
        }
        if data.is_empty() {
            v.add("data", "must not be empty");
        }
        if data.len() > self.config.max_attachment_bytes {
            v.add(
                "data",
                format!("must be at most {} bytes", self.config.max_attachment_bytes),
            );
        }
        v.finish()?;
        let access = self.access(principal).await?;
        let (room, ticket) = self
            .room_for(&access, RoomKey::Id(room_id.to_string()))
            .await?;
        if room.closed {
            return Err(Error::FailedPrecondition(format!(
                "room {} is closed",
                room.id
            )));
        }
        let meta = AttachmentRef {
            id: uuid::Uuid::now_v7().to_string(),
            name: stored_name.unwrap_or_default(),
            content_type: content_type.to_string(),
            size: data.len() as i64,
        };
        let attachment = std::sync::Arc::new(Attachment {
            meta: meta.clone(),
            room_id: room.id,
            data,
            created_at: self.clock.now(),
        });
        let quota = AttachmentQuota {
            max_count: i64::try_from(self.config.max_room_attachments).unwrap_or(i64::MAX),
            max_bytes: i64::try_from(self.config.max_room_attachment_bytes).unwrap_or(i64::MAX),
        };
        self.store
            .write(move |tx| {
                let (attachment, ticket_id) = (attachment.clone(), ticket.id.clone());
                Box::pin(
                    async move { write::add_attachment(tx, &ticket_id, &attachment, &quota).await },
                )
            })
            .await?;
        Ok(meta)
    }

    /// An attachment with its content. Access is decided on its description and room before
    /// the content is read; one the caller may not see is refused exactly like a missing one.
    pub async fn get_attachment(
        &self,
        principal: &Principal,
        attachment_id: &str,
    ) -> Result<Attachment> {
        let mut v = Violations::new();
        v.id("attachment_id", attachment_id);
        v.finish()?;
        let not_found = || Error::NotFound(format!("attachment {attachment_id}"));
        let access = self.access(principal).await?;
        let info = self
            .store
            .attachment_info(attachment_id)
            .await?
            .ok_or_else(not_found)?;
        self.room_for(&access, RoomKey::Id(info.room_id.clone()))
            .await
            .map_err(|error| match error {
                Error::NotFound(_) => not_found(),
                other => other,
            })?;
        let data = self
            .store
            .attachment_data(attachment_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(Attachment {
            meta: info.meta,
            room_id: info.room_id,
            data,
            created_at: info.created_at,
        })
    }
}
