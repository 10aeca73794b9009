//! Conversations (rooms, messages, read positions, attachments) in SQL both dialects accept,
//! as a macro each backend expands over its own connection types (see `sql.rs`).

/// Implements [`ConversationStore`](crate::store::ConversationStore) for `$store` over `$db`.
macro_rules! sql_conversations {
    ($store:ident, $db:path) => {
        mod sql_conversations {
            use super::$store;
            use $crate::clock::{Time, to_micros};
            use $crate::domain::conversation::{AttachmentInfo, Message, Room};
            use $crate::domain::query::{CustomerKey, Reader, RoomKey, Scope};
            use $crate::error::Result;
            use $crate::store::ConversationStore;
            use $crate::store::filter::push_scope;
            use super::sql_store::write_one;
            use $crate::store::sql::{
                MESSAGE_COLUMNS, ROOM_COLUMNS, decode_attachment_info, decode_message, decode_room,
                push_identity,
            };
            use sqlx::QueryBuilder;

            /// Appends `(…) AS unread`: messages of room `r` from others after the reader's
            /// position, internal notes only for readers who see them.
            fn push_unread(qb: &mut QueryBuilder<'_, $db>, reader: &Reader) {
                qb.push("(SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.sender_id <> ")
                    .push_bind(reader.id.clone());
                if !reader.sees_internal {
                    qb.push(" AND m.visible_to_customer");
                }
                qb.push(
                    " AND m.seq > COALESCE((SELECT rp.seq FROM read_positions rp \
                     WHERE rp.room_id = r.id AND rp.reader_id = ",
                )
                .push_bind(reader.id.clone())
                .push("), 0)) AS unread");
            }

            /// A page of a customer's rooms, after `prefix` (e.g. an `EXPLAIN`).
            fn rooms_query<'a>(
                prefix: &str,
                customer: &CustomerKey,
                reader: &Reader,
                scope: &Scope,
                after: Option<(i64, String)>,
                limit: i64,
            ) -> QueryBuilder<'a, $db> {
                let mut qb = QueryBuilder::<$db>::new(format!("{prefix}SELECT {ROOM_COLUMNS}, "));
                push_unread(&mut qb, reader);
                qb.push(" FROM rooms r JOIN tickets t ON t.id = r.ticket_id WHERE 1 = 1");
                push_scope(&mut qb, scope);
                match customer {
                    CustomerKey::Id(id) => {
                        qb.push(" AND r.customer_id = ").push_bind(id.clone());
                    }
                    CustomerKey::Identity { channel, social_id } => {
                        push_identity(&mut qb, channel, social_id);
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
                qb
            }

            type Statement<'v> =
                sqlx::query::Query<'v, $db, <$db as sqlx::Database>::Arguments<'v>>;

            /// Moves the reader's position forward (never back).
            fn read_position_upsert((room_id, reader, seq): &(String, String, i64)) -> Statement<'_> {
                sqlx::query(
                    "INSERT INTO read_positions (room_id, reader_id, seq) VALUES ($1, $2, $3) \
                     ON CONFLICT (room_id, reader_id) DO UPDATE SET seq = CASE \
                     WHEN excluded.seq > read_positions.seq THEN excluded.seq \
                     ELSE read_positions.seq END",
                )
                .bind(room_id)
                .bind(reader)
                .bind(*seq)
            }

            #[async_trait::async_trait]
            impl ConversationStore for $store {
                async fn get_room(&self, key: &RoomKey, reader: &Reader) -> Result<Option<Room>> {
                    let mut qb = QueryBuilder::<$db>::new(format!("SELECT {ROOM_COLUMNS}, "));
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
                    // Earliest due first, whichever of its timers is due (one index each).
                    Ok(sqlx::query_scalar(
                        "SELECT id FROM (\
                         SELECT id, auto_close_warning_at AS due FROM tickets \
                         WHERE auto_close_warning_at <= $1 \
                         UNION ALL SELECT id, auto_close_at FROM tickets WHERE auto_close_at <= $1 \
                         UNION ALL SELECT id, sla_timer_at FROM tickets WHERE sla_timer_at <= $1\
                         ) AS due_timers GROUP BY id ORDER BY MIN(due), id LIMIT $2",
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
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = "
                    ));
                    qb.push_bind(room_id.to_string());
                    if !include_internal {
                        qb.push(" AND visible_to_customer");
                    }
                    if let Some(cursor) = cursor {
                        qb.push(if newest_first { " AND seq < " } else { " AND seq > " })
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
                        sqlx::query_scalar("SELECT seq FROM messages WHERE room_id = $1 AND id = $2")
                            .bind(room_id)
                            .bind(message_id)
                            .fetch_optional(self.reader())
                            .await?,
                    )
                }

                async fn latest_seq(&self, room_id: &str) -> Result<i64> {
                    Ok(sqlx::query_scalar(
                        "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = $1",
                    )
                    .bind(room_id)
                    .fetch_one(self.reader())
                    .await?)
                }

                async fn mark_read(&self, room_id: &str, reader: &str, seq: i64) -> Result<()> {
                    let position = (room_id.to_string(), reader.to_string(), seq);
                    write_one(self, position, read_position_upsert).await
                }

                async fn customer_rooms(
                    &self,
                    customer: &CustomerKey,
                    reader: &Reader,
                    scope: &Scope,
                    after: Option<(i64, String)>,
                    limit: i64,
                ) -> Result<Vec<Room>> {
                    let rows = rooms_query("", customer, reader, scope, after, limit)
                        .build()
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(decode_room).collect()
                }

                async fn customer_rooms_plan(
                    &self,
                    customer: &CustomerKey,
                    reader: &Reader,
                    scope: &Scope,
                ) -> Result<Vec<String>> {
                    let rows = rooms_query(super::EXPLAIN, customer, reader, scope, None, 21)
                        .build()
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter()
                        .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, super::EXPLAIN_COLUMN)?))
                        .collect()
                }

                async fn attachment_info(&self, id: &str) -> Result<Option<AttachmentInfo>> {
                    let row = sqlx::query(
                        "SELECT id, room_id, name, content_type, size, created_at \
                         FROM attachments WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                    row.as_ref().map(decode_attachment_info).transpose()
                }

                async fn attachment_data(&self, id: &str) -> Result<Option<Vec<u8>>> {
                    Ok(sqlx::query_scalar("SELECT data FROM attachments WHERE id = $1")
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await?)
                }
            }
        }
    };
}
pub(crate) use sql_conversations;
