//! The SQLite store: WAL, `synchronous=FULL`, one writer connection (so no caller ever sees
//! `database is locked`) and a separate read pool. Migrations from `migrations/sqlite`.
use super::filter::{
    push_event_scope, push_filter, push_order, push_scope, push_values, push_watch,
};
use super::{
    AgentStore, Before, CcrStore, EventStore, IdempotencyKey, ReferenceStore, Store, TicketStore,
    Tx, Work,
};
use crate::clock::{Time, from_micros, to_micros};
use crate::domain::ccr::Ccr;
use crate::domain::conversation::Message;
use crate::domain::query::{QueueStats, Scope, TicketFilter, TicketKey, TicketQuery, WatchFilter};
use crate::domain::routing::AgentLoad;
use crate::domain::{
    Agent, AgentRole, AgentStatus, EscalationDepartment, EventType, NewEvent, Queue,
    ResolutionStatus, Ticket, TicketEvent,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most writes committed together by one `COMMIT`.
const MAX_BATCH: usize = 128;
/// How often the writer checkpoints the WAL (PASSIVE: never waits for readers) so it cannot
/// grow without bound under constant readers.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// What the writer hands back after COMMIT: delivers the job's result, or the commit error.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write: runs on the writer connection inside the batch's transaction, in its own
/// savepoint; says whether it succeeded (else its savepoint is rolled back).
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;

pub struct SqliteStore {
    /// Queued writes for the one writer connection (group commit).
    jobs: mpsc::Sender<Job>,
    writer: CancellationToken,
    read: SqlitePool,
}

impl SqliteStore {
    /// The read pool.
    pub(super) fn reader(&self) -> &SqlitePool {
        &self.read
    }

    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let mut writer = SqliteConnection::connect_with(&options).await?;
        MIGRATOR.run(&mut writer).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let stop = CancellationToken::new();
        tokio::spawn(run_writer(writer, queue, stop.clone()));
        Ok(SqliteStore {
            jobs,
            writer: stop,
            read,
        })
    }

    /// Runs `work` on the writer connection as part of the next group commit and returns its
    /// result once that commit is durable.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, result) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let outcome = work(conn).await;
                let ok = outcome.is_ok();
                let completion: Completion = Box::new(move |commit_error| {
                    let _ = reply.send(match commit_error {
                        None => outcome,
                        // The writer logs the detail; the caller hears it may retry.
                        Some(_) => Err(Error::Unavailable(
                            "the write could not be committed; retry".into(),
                        )),
                    });
                });
                (ok, completion)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the store is closed".into()))?;
        result
            .await
            .map_err(|_| Error::Unavailable("the store writer stopped".into()))?
    }
}

/// The writer: takes every queued write (up to `MAX_BATCH`), runs them in one
/// `BEGIN IMMEDIATE` transaction, each in a savepoint, and answers them all after `COMMIT`.
async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Job>,
    stop: CancellationToken,
) {
    let mut checkpoint = tokio::time::interval(CHECKPOINT_EVERY);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            job = queue.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = checkpoint.tick() => {
                if let Err(error) = exec(&mut conn, "PRAGMA wal_checkpoint(PASSIVE)").await {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
                continue;
            }
            _ = stop.cancelled() => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let error = run_batch(&mut conn, batch).await;
        if let Some(error) = error {
            tracing::error!(%error, "group commit failed");
        }
    }
    let _ = conn.close().await;
}

/// Runs `sql` on the writer. A named, boxed future so rustc checks sqlx's executor lifetimes
/// with the connection's lifetime concrete (rust-lang/rust#102211 otherwise bites at spawn).
fn exec<'c>(
    conn: &'c mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move { sqlx::query(sql).execute(conn).await.map(drop) })
}

async fn run_batch(conn: &mut SqliteConnection, batch: Vec<Job>) -> Option<String> {
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE").await {
        // Dropping the jobs drops their replies: callers get `Unavailable`.
        return Some(error.to_string());
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut failure = None;
    // A lone job needs no savepoint: if it fails, the whole transaction is rolled back.
    let isolate = batch.len() > 1;
    let mut lone_failed = false;
    for job in batch {
        if isolate && let Err(error) = exec(conn, "SAVEPOINT job").await {
            failure = Some(error.to_string());
            break;
        }
        // A panicking job must not take the writer down with it: roll back its savepoint
        // and keep serving (its caller sees the store as unavailable).
        let (ok, completion) = match std::panic::AssertUnwindSafe(job(conn)).catch_unwind().await {
            Ok(done) => done,
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                (false, Box::new(|_: Option<&str>| {}) as Completion)
            }
        };
        completions.push(completion);
        if !isolate {
            lone_failed = !ok;
            continue;
        }
        let rolled_back = if ok {
            Ok(())
        } else {
            exec(conn, "ROLLBACK TO job").await
        };
        if let Err(error) = rolled_back.and(exec(conn, "RELEASE job").await) {
            failure = Some(error.to_string());
            break;
        }
    }
    if failure.is_none()
        && !lone_failed
        && let Err(error) = exec(conn, "COMMIT").await
    {
        failure = Some(error.to_string());
    }
    if failure.is_some() || lone_failed {
        // A lone failed job answers with its own error; its changes go with the rollback.
        let _ = exec(conn, "ROLLBACK").await;
    }
    for completion in completions {
        completion(failure.as_deref());
    }
    failure
}

fn decode_ticket(doc: &str) -> Result<Ticket> {
    serde_json::from_str(doc).map_err(|e| Error::Internal(format!("corrupt ticket document: {e}")))
}

/// Messages in a ticket's room that its assignee has not read (SQL over `t`).
const UNREAD: &str = "(SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.id AND t.assignee IS NOT NULL \
     AND m.sender_id <> t.assignee AND m.seq > COALESCE((SELECT rp.seq FROM read_positions rp \
     JOIN rooms r ON r.id = rp.room_id WHERE r.ticket_id = t.id AND rp.reader_id = t.assignee), 0))";

fn decode_ticket_row(row: &SqliteRow) -> Result<Ticket> {
    let mut ticket = decode_ticket(row.try_get("doc")?)?;
    ticket.unread_count = row.try_get("unread")?;
    Ok(ticket)
}

fn encode_ticket(ticket: &Ticket) -> Result<String> {
    serde_json::to_string(ticket).map_err(|e| Error::Internal(format!("ticket encoding: {e}")))
}

fn decode_event(row: &SqliteRow) -> Result<TicketEvent> {
    let event_type: String = row.try_get("event_type")?;
    let payload: String = row.try_get("payload")?;
    Ok(TicketEvent {
        id: row.try_get("id")?,
        ticket_id: row.try_get("ticket_id")?,
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| Error::Internal(format!("unknown event type {event_type}")))?,
        actor: row.try_get("actor")?,
        at: from_micros(row.try_get("at")?),
        version: row.try_get("version")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| Error::Internal(format!("corrupt event payload: {e}")))?,
    })
}

/// Turns a unique-constraint violation on `external_id` into `AlreadyExists`.
fn on_constraint(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
        && db.message().contains("external_id")
    {
        return Error::AlreadyExists("a ticket with this external_id already exists".into());
    }
    error.into()
}

/// Binds the indexed columns of `ticket` in table order after `id`.
fn ticket_columns<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ticket: &Ticket,
    doc: String,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query
        .bind(ticket.external_id.clone())
        .bind(ticket.status.as_str())
        .bind(ticket.priority)
        .bind(ticket.queue.clone())
        .bind(ticket.channel.clone())
        .bind(ticket.ticket_type.clone())
        .bind(ticket.source.clone())
        .bind(ticket.assignee.clone())
        .bind(ticket.bot_id.clone())
        .bind(ticket.customer.id.clone())
        .bind(ticket.metadata.language.clone())
        .bind(ticket.metadata.country.clone())
        .bind(
            ticket
                .escalation
                .as_ref()
                .map(|e| e.department.clone())
                .filter(|d| !d.is_empty()),
        )
        .bind(ticket.metadata.ccr.clone())
        .bind(ticket.metadata.order_id.clone())
        .bind(ticket.subject.clone())
        .bind(to_micros(ticket.created_at))
        .bind(to_micros(ticket.updated_at))
        .bind(ticket.metadata.due_at.map(to_micros))
        .bind(ticket.metadata.auto_close_warning_at.map(to_micros))
        .bind(ticket.metadata.auto_close_at.map(to_micros))
        .bind(ticket.version)
        .bind(doc)
}

pub(super) async fn insert_events(
    conn: &mut SqliteConnection,
    ticket: &Ticket,
    before: &Before,
    actor: &str,
    at: Time,
    events: Vec<NewEvent>,
) -> Result<Vec<TicketEvent>> {
    let mut stored = Vec::with_capacity(events.len());
    for event in events {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_events (ticket_id, event_type, actor, at, version, payload, assignee, \
             previous_assignee, queue, previous_queue, customer_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&ticket.id)
        .bind(event.event_type.as_str())
        .bind(actor)
        .bind(to_micros(at))
        .bind(event.version)
        .bind(event.payload.to_string())
        .bind(ticket.assignee.as_deref())
        .bind(before.assignee.as_deref())
        .bind(&ticket.queue)
        .bind(&before.queue)
        .bind(&ticket.customer.id)
        .fetch_one(&mut *conn)
        .await?;
        stored.push(TicketEvent {
            id,
            ticket_id: ticket.id.clone(),
            event_type: event.event_type,
            actor: actor.to_string(),
            at,
            version: event.version,
            payload: event.payload,
        });
    }
    Ok(stored)
}

/// Replaces a ticket's tags.
async fn write_tags(conn: &mut SqliteConnection, ticket: &Ticket) -> Result<()> {
    sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = ?")
        .bind(&ticket.id)
        .execute(&mut *conn)
        .await?;
    insert_tags(conn, ticket).await
}

/// Adds a new ticket's tags.
async fn insert_tags(conn: &mut SqliteConnection, ticket: &Ticket) -> Result<()> {
    for tag in &ticket.metadata.tags {
        sqlx::query("INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) VALUES (?, ?)")
            .bind(tag)
            .bind(&ticket.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The transaction primitives on the writer connection, inside the group commit's
/// `BEGIN IMMEDIATE` (which already holds every row, so "for update" reads are plain reads).
struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn ticket_for_update(&mut self, id: &str) -> Result<Option<Ticket>> {
        load_ticket(self.conn, id).await
    }

    async fn ticket_by_idempotency_key(
        &mut self,
        key: &IdempotencyKey,
    ) -> Result<Option<(String, Ticket)>> {
        let seen: Option<(String, String)> = sqlx::query_as(
            "SELECT i.fingerprint, t.doc FROM idempotency_keys i JOIN tickets t ON t.id = i.ticket_id \
             WHERE i.scope = ? AND i.key = ?",
        )
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_optional(&mut *self.conn)
        .await?;
        seen.map(|(fingerprint, doc)| Ok((fingerprint, decode_ticket(&doc)?)))
            .transpose()
    }

    async fn insert_ticket(
        &mut self,
        ticket: &Ticket,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<i64> {
        let conn = &mut *self.conn;
        let number: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM tickets")
            .fetch_one(&mut *conn)
            .await?;
        let numbered = Ticket {
            number,
            ..ticket.clone()
        };
        let doc = encode_ticket(&numbered)?;
        ticket_columns(
            sqlx::query(
                "INSERT INTO tickets (id, number, external_id, status, priority, queue, channel, \
                 ticket_type, source, assignee, bot_id, customer_id, language, country, department, \
                 ccr, order_id, subject, created_at, updated_at, due_at, auto_close_warning_at, \
                 auto_close_at, version, doc) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(numbered.id.clone())
            .bind(number),
            &numbered,
            doc,
        )
        .execute(&mut *conn)
        .await
        .map_err(on_constraint)?;
        insert_tags(conn, &numbered).await?;
        if let Some(key) = idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, ticket_id, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(&numbered.id)
            .bind(to_micros(numbered.created_at))
            .execute(&mut *conn)
            .await?;
        }
        Ok(number)
    }

    async fn save_ticket(
        &mut self,
        ticket: &Ticket,
        previous_version: i64,
    ) -> Result<Option<Before>> {
        save_ticket(self.conn, ticket, previous_version).await
    }

    async fn insert_events(
        &mut self,
        ticket: &Ticket,
        before: &Before,
        actor: &str,
        at: Time,
        events: Vec<NewEvent>,
    ) -> Result<Vec<TicketEvent>> {
        insert_events(self.conn, ticket, before, actor, at, events).await
    }

    async fn insert_room(&mut self, room_id: &str, ticket: &Ticket) -> Result<()> {
        sqlx::query(
            "INSERT INTO rooms (id, ticket_id, customer_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(room_id)
        .bind(&ticket.id)
        .bind(&ticket.customer.id)
        .bind(to_micros(ticket.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn set_room_closed(&mut self, ticket_id: &str, closed: bool, at: Time) -> Result<()> {
        sqlx::query(
            "UPDATE rooms SET closed = ?1, closed_at = CASE WHEN ?1 THEN ?2 END \
             WHERE ticket_id = ?3 AND closed <> ?1",
        )
        .bind(closed)
        .bind(to_micros(at))
        .bind(ticket_id)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn record_assignment(&mut self, agent_id: &str, at: Time) -> Result<()> {
        sqlx::query("UPDATE agents SET last_assigned_at = ? WHERE id = ?")
            .bind(to_micros(at))
            .bind(agent_id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn agent_loads_for_update(&mut self, agent_id: Option<&str>) -> Result<Vec<AgentLoad>> {
        agent_loads(self.conn, agent_id).await
    }

    async fn next_waiting_ticket(&mut self, load: &AgentLoad) -> Result<Option<Ticket>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT doc FROM tickets WHERE status = 'CREATED' AND assignee IS NULL \
             AND bot_id IS NULL AND queue IN ",
        );
        push_values(&mut qb, &load.agent.queues);
        if !load.agent.languages.is_empty() {
            qb.push(" AND (language = '' OR language IN ");
            push_values(&mut qb, &load.agent.languages);
            qb.push(")");
        }
        qb.push(" ORDER BY priority DESC, number ASC LIMIT 1");
        let doc: Option<String> = qb
            .build_query_scalar()
            .fetch_optional(&mut *self.conn)
            .await?;
        doc.as_deref().map(decode_ticket).transpose()
    }

    async fn assigned_tickets(&mut self, agent_id: &str) -> Result<Vec<Ticket>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM tickets WHERE assignee = ? AND status = 'ASSIGNED' ORDER BY number",
        )
        .bind(agent_id)
        .fetch_all(&mut *self.conn)
        .await?;
        docs.iter().map(|doc| decode_ticket(doc)).collect()
    }

    async fn message_by_client_id(
        &mut self,
        room_id: &str,
        sender_id: &str,
        client_message_id: &str,
    ) -> Result<Option<Message>> {
        super::sqlite_conversations::message_by_client_id(
            self.conn,
            room_id,
            sender_id,
            client_message_id,
        )
        .await
    }

    async fn insert_message(&mut self, message: &Message) -> Result<i64> {
        super::sqlite_conversations::insert_message(self.conn, message).await
    }
}

/// Writes a ticket's row and tags if the stored version is still `previous_version`: who
/// held it and where it was before, or `None` when another change won.
async fn save_ticket(
    conn: &mut SqliteConnection,
    ticket: &Ticket,
    previous_version: i64,
) -> Result<Option<Before>> {
    let before: Option<(Option<String>, String)> =
        sqlx::query_as("SELECT assignee, queue FROM tickets WHERE id = ? AND version = ?")
            .bind(&ticket.id)
            .bind(previous_version)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((assignee, queue)) = before else {
        return Ok(None);
    };
    let doc = encode_ticket(ticket)?;
    let updated = ticket_columns(
        sqlx::query(
            "UPDATE tickets SET external_id = ?, status = ?, priority = ?, queue = ?, channel = ?, \
             ticket_type = ?, source = ?, assignee = ?, bot_id = ?, customer_id = ?, language = ?, \
             country = ?, department = ?, ccr = ?, order_id = ?, subject = ?, created_at = ?, \
             updated_at = ?, due_at = ?, auto_close_warning_at = ?, auto_close_at = ?, version = ?, \
             doc = ? WHERE id = ? AND version = ?",
        ),
        ticket,
        doc,
    )
    .bind(&ticket.id)
    .bind(previous_version)
    .execute(&mut *conn)
    .await
    .map_err(on_constraint)?;
    if updated.rows_affected() != 1 {
        return Ok(None);
    }
    write_tags(conn, ticket).await?;
    Ok(Some(Before { assignee, queue }))
}

#[async_trait]
impl TicketStore for SqliteStore {
    async fn get_ticket(&self, key: &TicketKey) -> Result<Option<Ticket>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT t.doc, {UNREAD} AS unread FROM tickets t WHERE "
        ));
        match key {
            TicketKey::Id(id) => qb.push("t.id = ").push_bind(id.clone()),
            TicketKey::Number(number) => qb.push("t.number = ").push_bind(*number),
            TicketKey::ExternalId(id) => qb.push("t.external_id = ").push_bind(id.clone()),
            TicketKey::Reference(_) => {
                return Err(Error::Internal(
                    "the app resolves references to an id or an external id".into(),
                ));
            }
        };
        let row = qb.build().fetch_optional(&self.read).await?;
        row.as_ref().map(decode_ticket_row).transpose()
    }

    async fn list_tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT t.doc, {UNREAD} AS unread FROM tickets t WHERE 1 = 1"
        ));
        push_filter(&mut qb, &query.filter, query.now);
        push_scope(&mut qb, &query.scope);
        push_order(&mut qb, query.order, query.after);
        qb.push(" LIMIT ").push_bind(query.limit);
        qb.push(" OFFSET ").push_bind(query.offset);
        let rows = qb.build().fetch_all(&self.read).await?;
        rows.iter().map(decode_ticket_row).collect()
    }

    async fn count_tickets(
        &self,
        filter: &TicketFilter,
        scope: &Scope,
        now: crate::clock::Time,
    ) -> Result<i64> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM tickets t WHERE 1 = 1");
        push_filter(&mut qb, filter, now);
        push_scope(&mut qb, scope);
        Ok(qb.build_query_scalar().fetch_one(&self.read).await?)
    }

    async fn queue_stats(&self, queue_id: &str, ticket_id: Option<&str>) -> Result<QueueStats> {
        const WAITING: &str =
            "queue = ? AND status = 'CREATED' AND assignee IS NULL AND bot_id IS NULL";
        let (waiting_count, oldest): (i64, Option<i64>) = sqlx::query_as(&format!(
            "SELECT COUNT(*), MIN(created_at) FROM tickets WHERE {WAITING}"
        ))
        .bind(queue_id)
        .fetch_one(&self.read)
        .await?;
        let mut position = 0;
        if let Some(ticket_id) = ticket_id {
            let key: Option<(i64, i64)> = sqlx::query_as(&format!(
                "SELECT priority, number FROM tickets WHERE id = ? AND {WAITING}"
            ))
            .bind(ticket_id)
            .bind(queue_id)
            .fetch_optional(&self.read)
            .await?;
            if let Some((priority, number)) = key {
                let ahead: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM tickets WHERE {WAITING} \
                     AND (priority > ? OR (priority = ? AND number < ?))"
                ))
                .bind(queue_id)
                .bind(priority)
                .bind(priority)
                .bind(number)
                .fetch_one(&self.read)
                .await?;
                position = ahead + 1;
            }
        }
        Ok(QueueStats {
            waiting_count,
            oldest_waiting_since: oldest.map(from_micros),
            position,
        })
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(
        &self,
        ticket_id: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<TicketEvent>> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, event_type, actor, at, version, payload FROM ticket_events \
             WHERE ticket_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(ticket_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn watch_events(
        &self,
        after_id: i64,
        watch: &WatchFilter,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<(TicketEvent, Ticket)>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT e.id, e.ticket_id, e.event_type, e.actor, e.at, e.version, e.payload, t.doc, \
             {UNREAD} AS unread FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE e.id > "
        ));
        qb.push_bind(after_id);
        push_watch(&mut qb, watch);
        push_event_scope(&mut qb, scope);
        qb.push(" ORDER BY e.id LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| Ok((decode_event(row)?, decode_ticket_row(row)?)))
            .collect()
    }

    async fn last_event_id(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
                .fetch_one(&self.read)
                .await?,
        )
    }
}

fn decode_agent(row: &SqliteRow) -> Result<Agent> {
    let role: String = row.try_get("role")?;
    let queues: String = row.try_get("queues")?;
    let languages: String = row.try_get("languages")?;
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        // A corrupt role is an error, never quietly `agent` (or anything else).
        role: AgentRole::parse(&role)
            .ok_or_else(|| Error::Internal(format!("corrupt agent role {role:?}")))?,
        status: row.try_get("status")?,
        status_alias: row.try_get("status_alias")?,
        last_login_at: row
            .try_get::<Option<i64>, _>("last_login_at")?
            .map(from_micros),
        status_updated_at: row
            .try_get::<Option<i64>, _>("status_updated_at")?
            .map(from_micros),
        queues: serde_json::from_str(&queues)
            .map_err(|e| Error::Internal(format!("corrupt agent queues: {e}")))?,
        languages: serde_json::from_str(&languages)
            .map_err(|e| Error::Internal(format!("corrupt agent languages: {e}")))?,
        max_concurrent: row.try_get("max_concurrent")?,
    })
}

/// Rows of the reference tables; the domain types stay free of sqlx.
#[derive(sqlx::FromRow)]
struct QueueRow {
    id: String,
    name: String,
    language: String,
    default_sla_seconds: i64,
}

impl From<QueueRow> for Queue {
    fn from(r: QueueRow) -> Self {
        Queue {
            id: r.id,
            name: r.name,
            language: r.language,
            default_sla_seconds: r.default_sla_seconds,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DepartmentRow {
    id: String,
    label: String,
}

impl From<DepartmentRow> for EscalationDepartment {
    fn from(r: DepartmentRow) -> Self {
        EscalationDepartment {
            id: r.id,
            label: r.label,
        }
    }
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    name: String,
    alias: String,
    receives_tickets: bool,
}

impl From<StatusRow> for AgentStatus {
    fn from(r: StatusRow) -> Self {
        AgentStatus {
            name: r.name,
            alias: r.alias,
            receives_tickets: r.receives_tickets,
        }
    }
}

#[async_trait]
impl ReferenceStore for SqliteStore {
    async fn list_queues(&self) -> Result<Vec<Queue>> {
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT id, name, language, default_sla_seconds FROM queues ORDER BY name, id",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_queue(&self, id: &str) -> Result<Option<Queue>> {
        let row: Option<QueueRow> = sqlx::query_as(
            "SELECT id, name, language, default_sla_seconds FROM queues WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn upsert_queue(&self, queue: &Queue) -> Result<()> {
        let queue = queue.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO queues (id, name, language, default_sla_seconds) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, language = excluded.language, \
                     default_sla_seconds = excluded.default_sla_seconds",
                )
                .bind(&queue.id)
                .bind(&queue.name)
                .bind(&queue.language)
                .bind(queue.default_sla_seconds)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list_departments(&self) -> Result<Vec<EscalationDepartment>> {
        let rows: Vec<DepartmentRow> =
            sqlx::query_as("SELECT id, label FROM escalation_departments ORDER BY label, id")
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_department(&self, id: &str) -> Result<Option<EscalationDepartment>> {
        let row: Option<DepartmentRow> =
            sqlx::query_as("SELECT id, label FROM escalation_departments WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn upsert_department(&self, department: &EscalationDepartment) -> Result<()> {
        let department = department.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO escalation_departments (id, label) VALUES (?, ?) \
                     ON CONFLICT (id) DO UPDATE SET label = excluded.label",
                )
                .bind(&department.id)
                .bind(&department.label)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list_resolution_statuses(&self) -> Result<Vec<ResolutionStatus>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM resolution_statuses ORDER BY position")
                .fetch_all(&self.read)
                .await?;
        Ok(names
            .iter()
            .filter_map(|name| ResolutionStatus::parse(name))
            .collect())
    }

    async fn is_empty(&self) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM queues) + (SELECT COUNT(*) FROM agents) + (SELECT COUNT(*) FROM tickets)",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(count == 0)
    }
}

fn decode_ccr(
    (code, level, parent_code, translations): (String, i64, Option<String>, String),
) -> Result<Ccr> {
    Ok(Ccr {
        code,
        level: level as i32,
        parent_code: parent_code.unwrap_or_default(),
        translations: serde_json::from_str(&translations)
            .map_err(|e| Error::Internal(format!("corrupt CCR translations: {e}")))?,
    })
}

#[async_trait]
impl CcrStore for SqliteStore {
    async fn list_ccr(&self) -> Result<Vec<Ccr>> {
        let rows: Vec<(String, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT code, level, parent_code, translations FROM ccr_nodes ORDER BY code",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(decode_ccr).collect()
    }

    async fn get_ccr(&self, code: &str) -> Result<Option<Ccr>> {
        let row: Option<(String, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT code, level, parent_code, translations FROM ccr_nodes WHERE code = ?",
        )
        .bind(code)
        .fetch_optional(&self.read)
        .await?;
        row.map(decode_ccr).transpose()
    }

    async fn is_ccr_leaf(&self, code: &str) -> Result<bool> {
        let level: Option<i64> = sqlx::query_scalar("SELECT level FROM ccr_nodes WHERE code = ?")
            .bind(code)
            .fetch_optional(&self.read)
            .await?;
        Ok(level == Some(3))
    }

    async fn replace_ccr(&self, nodes: Vec<Ccr>) -> Result<i64> {
        self.write(move |conn| {
            Box::pin(async move {
                let old: Vec<String> = sqlx::query_scalar("SELECT code FROM ccr_nodes")
                    .fetch_all(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM ccr_nodes").execute(&mut *conn).await?;
                for node in &nodes {
                    sqlx::query(
                        "INSERT INTO ccr_nodes (code, level, parent_code, translations) VALUES (?, ?, ?, ?)",
                    )
                    .bind(&node.code)
                    .bind(node.level)
                    .bind(Some(node.parent_code.as_str()).filter(|p| !p.is_empty()))
                    .bind(serde_json::json!(node.translations).to_string())
                    .execute(&mut *conn)
                    .await?;
                }
                let kept: std::collections::HashSet<&str> = nodes.iter().map(|n| n.code.as_str()).collect();
                Ok(old.iter().filter(|code| !kept.contains(code.as_str())).count() as i64)
            })
        })
        .await
    }
}

const AGENT_COLUMNS: &str = "id, name, role, status, status_alias, last_login_at, status_updated_at, \
     queues, languages, max_concurrent";

#[async_trait]
impl AgentStore for SqliteStore {
    async fn get_agent(&self, id: &str) -> Result<Option<Agent>> {
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(decode_agent).transpose()
    }

    async fn upsert_agent(&self, agent: &Agent) -> Result<()> {
        let agent = agent.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO agents (id, name, role, status, status_alias, last_login_at, status_updated_at, \
                     queues, languages, max_concurrent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                     queues = excluded.queues, languages = excluded.languages, max_concurrent = excluded.max_concurrent",
                )
                .bind(&agent.id)
                .bind(&agent.name)
                .bind(agent.role.as_str())
                .bind(&agent.status)
                .bind(&agent.status_alias)
                .bind(agent.last_login_at.map(to_micros))
                .bind(agent.status_updated_at.map(to_micros))
                .bind(serde_json::json!(agent.queues).to_string())
                .bind(serde_json::json!(agent.languages).to_string())
                .bind(agent.max_concurrent)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn set_agent_status(
        &self,
        agent: &Agent,
        previous_status: &str,
        actor: &str,
    ) -> Result<()> {
        let (agent, previous_status, actor) = (
            agent.clone(),
            previous_status.to_string(),
            actor.to_string(),
        );
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO agent_status_events (agent_id, status, previous_status, actor, at) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&agent.id)
                .bind(&agent.status)
                .bind(&previous_status)
                .bind(&actor)
                .bind(agent.status_updated_at.map(to_micros).unwrap_or_default())
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE agents SET status = ?, status_alias = ?, status_updated_at = ?, last_login_at = ? \
                     WHERE id = ?",
                )
                .bind(&agent.status)
                .bind(&agent.status_alias)
                .bind(agent.status_updated_at.map(to_micros))
                .bind(agent.last_login_at.map(to_micros))
                .bind(&agent.id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn agent_status_history(
        &self,
        agent_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, String, Time)>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT status, previous_status, actor, at FROM agent_status_events WHERE agent_id = ? \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(status, previous, actor, at)| (status, previous, actor, from_micros(at)))
            .collect())
    }

    async fn list_agents(
        &self,
        queue: Option<&str>,
        status: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Agent>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {AGENT_COLUMNS} FROM agents WHERE 1 = 1"));
        if let Some(queue) = queue {
            qb.push(" AND EXISTS (SELECT 1 FROM json_each(agents.queues) WHERE json_each.value = ")
                .push_bind(queue.to_string())
                .push(")");
        }
        if let Some(status) = status {
            qb.push(" AND status = ").push_bind(status.to_string());
        }
        if let Some(after_id) = after_id {
            qb.push(" AND id > ").push_bind(after_id.to_string());
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(&self.read).await?;
        rows.iter().map(decode_agent).collect()
    }

    async fn active_ticket_counts(
        &self,
        agent_ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>> {
        if agent_ids.is_empty() {
            return Ok(Default::default());
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT assignee, COUNT(*) FROM tickets WHERE assignee IN ",
        );
        push_values(&mut qb, agent_ids);
        qb.push(format!(" AND status IN {ACTIVE} GROUP BY assignee"));
        let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&self.read).await?;
        Ok(rows.into_iter().collect())
    }

    async fn list_agent_statuses(&self) -> Result<Vec<AgentStatus>> {
        let rows: Vec<StatusRow> = sqlx::query_as(
            "SELECT name, alias, receives_tickets FROM agent_statuses ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_agent_status(&self, name: &str) -> Result<Option<AgentStatus>> {
        let row: Option<StatusRow> = sqlx::query_as(
            "SELECT name, alias, receives_tickets FROM agent_statuses WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn upsert_agent_status(&self, status: &AgentStatus) -> Result<()> {
        let status = status.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO agent_statuses (name, alias, receives_tickets) VALUES (?, ?, ?) \
                     ON CONFLICT (name) DO UPDATE SET alias = excluded.alias, \
                     receives_tickets = excluded.receives_tickets",
                )
                .bind(&status.name)
                .bind(&status.alias)
                .bind(status.receives_tickets)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }
}

/// Statuses in which a ticket counts against its assignee's capacity.
const ACTIVE: &str = "('ASSIGNED', 'ON_HOLD', 'ESCALATED')";

/// Routing's view of agents (all, or one), read inside the write transaction.
async fn agent_loads(
    conn: &mut SqliteConnection,
    agent_id: Option<&str>,
) -> Result<Vec<AgentLoad>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT a.id, a.name, a.role, a.status, a.status_alias, a.last_login_at, a.status_updated_at, \
         a.queues, a.languages, a.max_concurrent, a.last_assigned_at, \
         COALESCE(s.receives_tickets, 0) AS receiving, \
         (SELECT COUNT(*) FROM tickets t WHERE t.assignee = a.id AND t.status IN {ACTIVE}) AS active \
         FROM agents a LEFT JOIN agent_statuses s ON s.name = a.status WHERE 1 = 1"
    ));
    if let Some(agent_id) = agent_id {
        qb.push(" AND a.id = ").push_bind(agent_id.to_string());
    }
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(AgentLoad {
                agent: decode_agent(row)?,
                receiving: row.try_get("receiving")?,
                active: row.try_get("active")?,
                last_assigned_at: row
                    .try_get::<Option<i64>, _>("last_assigned_at")?
                    .map(from_micros),
            })
        })
        .collect()
}

pub(super) async fn load_ticket(
    conn: &mut SqliteConnection,
    ticket_id: &str,
) -> Result<Option<Ticket>> {
    let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM tickets WHERE id = ?")
        .bind(ticket_id)
        .fetch_optional(&mut *conn)
        .await?;
    doc.as_deref().map(decode_ticket).transpose()
}

#[async_trait]
impl Store for SqliteStore {
    async fn run_write(&self, work: Work) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx { conn };
                work(&mut tx).await
            })
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        if self.jobs.is_closed() {
            return Err(Error::Unavailable("the store writer stopped".into()));
        }
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.cancel();
        self.read.close().await;
    }
}
