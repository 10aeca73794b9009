//! The SQLite store's conversations: rooms, messages, read positions, attachments.
use super::ConversationStore;
use super::filter::push_scope;
use super::sqlite::SqliteStore;
use crate::clock::{Time, from_micros, to_micros};
use crate::domain::conversation::{Attachment, AttachmentRef, Message, Room, SenderType};
use crate::domain::query::{CustomerKey, Reader, RoomKey, Scope};
use crate::error::{Error, Result};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

const MESSAGE_COLUMNS: &str = "seq, id, room_id, ticket_id, sender_type, sender_id, sender_name, body, \
     visible_to_customer, attachments, buttons, created_at, client_message_id";

fn decode_message(row: &SqliteRow) -> Result<Message> {
    let sender_type: String = row.try_get("sender_type")?;
    let attachments: String = row.try_get("attachments")?;
    let buttons: String = row.try_get("buttons")?;
    Ok(Message {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        ticket_id: row.try_get("ticket_id")?,
        sender_type: SenderType::parse(&sender_type)
            .ok_or_else(|| Error::Internal(format!("unknown sender type {sender_type}")))?,
        sender_id: row.try_get("sender_id")?,
        sender_name: row.try_get("sender_name")?,
        body: row.try_get("body")?,
        visible_to_customer: row.try_get("visible_to_customer")?,
        attachments: serde_json::from_str(&attachments)
            .map_err(|e| Error::Internal(format!("corrupt message attachments: {e}")))?,
        buttons: serde_json::from_str(&buttons)
            .map_err(|e| Error::Internal(format!("corrupt message buttons: {e}")))?,
        created_at: from_micros(row.try_get("created_at")?),
        client_message_id: row.try_get("client_message_id")?,
    })
}

const ROOM_COLUMNS: &str =
    "r.id, r.ticket_id, r.customer_id, r.closed, r.closed_at, r.created_at, r.last_message_at";

fn decode_room(row: &SqliteRow) -> Result<Room> {
    Ok(Room {
        id: row.try_get("id")?,
        ticket_id: row.try_get("ticket_id")?,
        customer_id: row.try_get("customer_id")?,
        closed: row.try_get("closed")?,
        closed_at: row.try_get::<Option<i64>, _>("closed_at")?.map(from_micros),
        created_at: from_micros(row.try_get("created_at")?),
        last_message_at: row
            .try_get::<Option<i64>, _>("last_message_at")?
            .map(from_micros),
        unread_count: row.try_get("unread")?,
    })
}

/// Appends `(…) AS unread`: messages of room `r` from others after the reader's position,
/// internal notes only for readers who see them.
fn push_unread(qb: &mut QueryBuilder<'_, Sqlite>, reader: &Reader) {
    qb.push("(SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.sender_id <> ")
        .push_bind(reader.id.clone());
    if !reader.sees_internal {
        qb.push(" AND m.visible_to_customer = 1");
    }
    qb.push(" AND m.seq > COALESCE((SELECT rp.seq FROM read_positions rp WHERE rp.room_id = r.id AND rp.reader_id = ")
        .push_bind(reader.id.clone())
        .push("), 0)) AS unread");
}

/// The message `sender_id` sent in the room with this client message id, if any (a write
/// primitive: runs on the writer connection).
pub(super) async fn message_by_client_id(
    conn: &mut SqliteConnection,
    room_id: &str,
    sender_id: &str,
    client_message_id: &str,
) -> Result<Option<Message>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND sender_id = ? \
         AND client_message_id = ?"
    ))
    .bind(room_id)
    .bind(sender_id)
    .bind(client_message_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(decode_message).transpose()
}

/// Appends a message to its room (its `seq` is assigned here) and notes the room's last
/// message time (a write primitive).
pub(super) async fn insert_message(conn: &mut SqliteConnection, message: &Message) -> Result<i64> {
    let seq = sqlx::query_scalar(
        "INSERT INTO messages (id, room_id, ticket_id, sender_type, sender_id, sender_name, body, \
         visible_to_customer, attachments, buttons, created_at, client_message_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(&message.id)
    .bind(&message.room_id)
    .bind(&message.ticket_id)
    .bind(message.sender_type.as_str())
    .bind(&message.sender_id)
    .bind(&message.sender_name)
    .bind(&message.body)
    .bind(message.visible_to_customer)
    .bind(serde_json::json!(message.attachments).to_string())
    .bind(serde_json::json!(message.buttons).to_string())
    .bind(to_micros(message.created_at))
    .bind(&message.client_message_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE rooms SET last_message_at = ? WHERE id = ?")
        .bind(to_micros(message.created_at))
        .bind(&message.room_id)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn get_room(&self, key: &RoomKey, reader: &Reader) -> Result<Option<Room>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {ROOM_COLUMNS}, "));
        push_unread(&mut qb, reader);
        qb.push(" FROM rooms r WHERE ");
        match key {
            RoomKey::Id(id) => qb.push("r.id = ").push_bind(id.clone()),
            RoomKey::TicketId(id) => qb.push("r.ticket_id = ").push_bind(id.clone()),
        };
        let row = qb.build().fetch_optional(self.reader()).await?;
        row.as_ref().map(decode_room).transpose()
    }

    async fn due_timers(&self, now: Time, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM tickets WHERE auto_close_at <= ?1 OR auto_close_warning_at <= ?1 \
             ORDER BY COALESCE(auto_close_warning_at, auto_close_at) LIMIT ?2",
        )
        .bind(to_micros(now))
        .bind(limit)
        .fetch_all(self.reader())
        .await?)
    }

    async fn list_messages(
        &self,
        room_id: &str,
        cursor: Option<i64>,
        newest_first: bool,
        include_internal: bool,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = "
        ));
        qb.push_bind(room_id.to_string());
        if !include_internal {
            qb.push(" AND visible_to_customer = 1");
        }
        if let Some(cursor) = cursor {
            qb.push(if newest_first {
                " AND seq < "
            } else {
                " AND seq > "
            })
            .push_bind(cursor);
        }
        qb.push(if newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        qb.push(" LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        rows.iter().map(decode_message).collect()
    }

    async fn message_seq(&self, room_id: &str, message_id: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM messages WHERE room_id = ? AND id = ?")
                .bind(room_id)
                .bind(message_id)
                .fetch_optional(self.reader())
                .await?,
        )
    }

    async fn latest_seq(&self, room_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = ?")
                .bind(room_id)
                .fetch_one(self.reader())
                .await?,
        )
    }

    async fn mark_read(&self, room_id: &str, reader: &str, seq: i64) -> Result<()> {
        let (room_id, reader) = (room_id.to_string(), reader.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO read_positions (room_id, reader_id, seq) VALUES (?, ?, ?) \
                     ON CONFLICT (room_id, reader_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                )
                .bind(&room_id)
                .bind(&reader)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn customer_rooms(
        &self,
        customer: &CustomerKey,
        reader: &Reader,
        scope: &Scope,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Room>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {ROOM_COLUMNS}, "));
        push_unread(&mut qb, reader);
        qb.push(" FROM rooms r JOIN tickets t ON t.id = r.ticket_id WHERE 1 = 1");
        push_scope(&mut qb, scope);
        qb.push(" AND ");
        match customer {
            CustomerKey::Id(id) => {
                qb.push("r.customer_id = ").push_bind(id.clone());
            }
            CustomerKey::Identity { channel, social_id } => {
                qb.push(
                    "EXISTS (SELECT 1 FROM json_each(t.doc, '$.customer.identities') i \
                     WHERE json_extract(i.value, '$.channel') = ",
                )
                .push_bind(channel.clone())
                .push(" AND json_extract(i.value, '$.social_id') = ")
                .push_bind(social_id.clone())
                .push(")");
            }
        }
        if let Some((created_at, id)) = after {
            qb.push(" AND (r.created_at < ")
                .push_bind(created_at)
                .push(" OR (r.created_at = ")
                .push_bind(created_at)
                .push(" AND r.id < ")
                .push_bind(id)
                .push("))");
        }
        qb.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
            .push_bind(limit);
        let rows = qb.build().fetch_all(self.reader()).await?;
        rows.iter().map(decode_room).collect()
    }

    async fn save_attachment(&self, attachment: Attachment) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO attachments (id, room_id, name, content_type, size, data, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&attachment.meta.id)
                .bind(&attachment.room_id)
                .bind(&attachment.meta.name)
                .bind(&attachment.meta.content_type)
                .bind(attachment.meta.size)
                .bind(&attachment.data)
                .bind(to_micros(attachment.created_at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_attachment(&self, id: &str) -> Result<Option<Attachment>> {
        let row = sqlx::query(
            "SELECT id, room_id, name, content_type, size, data, created_at FROM attachments WHERE id = ?",
        )
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| {
            Ok(Attachment {
                meta: AttachmentRef {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    content_type: row.try_get("content_type")?,
                    size: row.try_get("size")?,
                },
                room_id: row.try_get("room_id")?,
                data: row.try_get("data")?,
                created_at: from_micros(row.try_get("created_at")?),
            })
        })
        .transpose()
    }
}
