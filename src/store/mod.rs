//! The storage seam: what the application needs from storage, in domain types. One
//! implementation per database, chosen by URL scheme in [`connect`]; the app never knows which.
mod filter;
mod pg_commits;
pub mod postgres;
mod sql;
mod sql_conversations;
mod sql_reports;
pub mod sqlite;

use crate::clock::Time;
use crate::domain::ccr::Ccr;
use crate::domain::conversation::{Attachment, AttachmentInfo, AttachmentUsage, Message, Room};
use crate::domain::query::{
    Agents, CustomerKey, QueueStats, Reader, RoomKey, Scope, TicketFilter, TicketKey, TicketQuery,
    WatchFilter, Watched,
};
use crate::domain::report::{BucketFigures, GroupBy, ReportDelta, RowRange};
use crate::domain::routing::AgentLoad;
use crate::domain::sla::SlaPolicy;
use crate::domain::{
    Agent, AgentStatus, EscalationDepartment, NewEvent, Queue, ResolutionStatus, Ticket,
    TicketEvent,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

tokio::task_local! {
    /// Cancelled once the caller a write is for has gone (its deadline passed, it hung up).
    /// A write that has not begun by then is not run, and on PostgreSQL one still waiting
    /// for the database is rolled back; a write that reached its commit finishes.
    pub static CALLER_GONE: tokio_util::sync::CancellationToken;
}

/// The current task's [`CALLER_GONE`], if it runs for a caller who may leave.
pub(crate) fn caller_gone() -> Option<tokio_util::sync::CancellationToken> {
    CALLER_GONE.try_with(|gone| gone.clone()).ok()
}

/// The error of a write dropped because its caller left (nobody hears it).
pub(crate) fn caller_left() -> Error {
    Error::Unavailable("the caller left before the write was done".into())
}

/// An idempotency key for CreateTicket, scoped to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    /// Hash of the request; the same key with another request is refused.
    pub fingerprint: String,
}

/// Who held a ticket and where it was before a change: stored on its events, so streams judge
/// each event by where the ticket was then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Before {
    pub assignee: Option<String>,
    pub queue: String,
}

impl Before {
    pub fn unchanged(ticket: &Ticket) -> Before {
        Before {
            assignee: ticket.assignee.clone(),
            queue: ticket.queue.clone(),
        }
    }
}

/// The primitives every write is made of, inside one transaction, in domain types. They hold
/// no rules: the closures in `app/` decide what to read and write (DESIGN.md §8).
#[async_trait]
pub trait Tx: Send {
    /// The ticket, held for the rest of the transaction.
    async fn ticket_for_update(&mut self, id: &str) -> Result<Option<Ticket>>;
    /// The ticket an idempotency key created, with the fingerprint of that request.
    async fn ticket_by_idempotency_key(
        &mut self,
        key: &IdempotencyKey,
    ) -> Result<Option<(String, Ticket)>>;
    /// Inserts a new ticket (and its tags, and the idempotency key); returns the number it
    /// was given. A duplicate `external_id` is `AlreadyExists`.
    async fn insert_ticket(
        &mut self,
        ticket: &Ticket,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<i64>;
    /// Writes the ticket if the stored version is still `original.version` (`original`: the
    /// ticket as read at that version; its tags and identities are rewritten only where they
    /// differ from it): who held it and where it was before, or `None` when another change
    /// won.
    async fn save_ticket(&mut self, ticket: &Ticket, original: &Ticket) -> Result<Option<Before>>;
    /// Appends events of `ticket` (as it is after them) at `at`; returns them with their ids.
    async fn insert_events(
        &mut self,
        ticket: &Ticket,
        before: &Before,
        actor: &str,
        at: Time,
        events: Vec<NewEvent>,
    ) -> Result<Vec<TicketEvent>>;
    async fn insert_room(&mut self, room_id: &str, ticket: &Ticket) -> Result<()>;
    /// Opens or closes the ticket's room (a no-op when it already is).
    async fn set_room_closed(&mut self, ticket_id: &str, closed: bool, at: Time) -> Result<()>;
    /// Records when the agent last got a ticket (routing's "longest idle").
    async fn record_assignment(&mut self, agent_id: &str, at: Time) -> Result<()>;
    /// Adds a change's figures to the report tables. They are written when the work is
    /// done, all of the transaction's at once (`report::ReportRows`), just before the commit.
    fn add_to_report(&mut self, delta: ReportDelta);
    /// Runs `hook` once this transaction is committed, never when it rolls back or is
    /// retried (SQLite runs it on the writer as the commit is done; PostgreSQL on the caller
    /// right after its COMMIT, so a caller that goes away during the COMMIT may miss it).
    fn after_commit(&mut self, hook: CommitHook);
    /// Folds the report rows that lie wholly in the slots `[from, to)` into shard 0 of each
    /// row's slot and group (see `report::SHARDS`, `Grain::inside`); returns how many sharded
    /// rows it took.
    async fn compact_report(&mut self, slots: (i64, i64)) -> Result<u64>;
    /// The agents with their loads, by id, held for the rest of the transaction. Writes
    /// take rows ticket first, then agents (in id order), so none waits on another.
    async fn agent_loads_for_update(&mut self, agents: Agents<'_>) -> Result<Vec<AgentLoad>>;
    /// The waiting ticket of the agent's queues and languages with the highest priority,
    /// then the oldest; held for the rest of the transaction.
    async fn next_waiting_ticket(&mut self, load: &AgentLoad) -> Result<Option<Ticket>>;
    /// Tickets assigned to the agent (status `ASSIGNED`), by number, held for the rest of the
    /// transaction.
    async fn assigned_tickets(&mut self, agent_id: &str) -> Result<Vec<Ticket>>;
    /// The message `sender_id` sent in the room with this client message id, if any.
    async fn message_by_client_id(
        &mut self,
        room_id: &str,
        sender_id: &str,
        client_message_id: &str,
    ) -> Result<Option<Message>>;
    /// Appends a message to its room; returns its sequence number in the room.
    async fn insert_message(&mut self, message: &Message) -> Result<i64>;
    /// What the room's attachments take up (their number and total size).
    async fn attachment_usage(&mut self, room_id: &str) -> Result<AttachmentUsage>;
    async fn insert_attachment(&mut self, attachment: &Attachment) -> Result<()>;
}

/// What a write runs once it is committed (`Tx::after_commit`).
pub type CommitHook = Box<dyn FnOnce() + Send>;

/// A write: a closure over the transaction primitives. `Fn`, so a backend may run it again
/// when its transaction must be retried.
pub type Work = Box<dyn for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<()>> + Send + Sync>;

impl dyn Store {
    /// Runs `work` in one write transaction and returns its result once the commit is
    /// durable; an error rolls back everything it wrote.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<T>> + Send + Sync + 'static,
    {
        let result = Arc::new(Mutex::new(None));
        let slot = result.clone();
        let work = Arc::new(work);
        self.run_write(Box::new(move |tx| {
            let (work, slot) = (work.clone(), slot.clone());
            Box::pin(async move {
                // A retried attempt starts from nothing: only the committed one answers.
                *slot
                    .lock()
                    .map_err(|_| Error::Internal("write result lock".into()))? = None;
                let value = work(tx).await?;
                *slot
                    .lock()
                    .map_err(|_| Error::Internal("write result lock".into()))? = Some(value);
                Ok(())
            })
        }))
        .await?;
        let value = result
            .lock()
            .map_err(|_| Error::Internal("write result lock".into()))?
            .take();
        value.ok_or_else(|| Error::Internal("a write committed without a result".into()))
    }
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    async fn get_ticket(&self, key: &TicketKey) -> Result<Option<Ticket>>;
    async fn list_tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>>;
    /// The database's plan for `list_tickets(query)`, one line per step (which indexes a
    /// list uses; checked by the tests).
    async fn list_plan(&self, query: &TicketQuery) -> Result<Vec<String>>;
    async fn count_tickets(&self, filter: &TicketFilter, scope: &Scope, now: Time) -> Result<i64>;
    async fn queue_stats(&self, queue_id: &str, ticket_id: Option<&str>) -> Result<QueueStats>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    async fn list_events(
        &self,
        ticket_id: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<TicketEvent>>;
    /// Events after `after_id` and up to `upto_id` matching `watch` that `scope` may hear of
    /// (both judged on the ticket's holder and queue before and after each event), with the
    /// ticket as it is now.
    async fn watch_events(
        &self,
        after_id: i64,
        upto_id: i64,
        watch: &WatchFilter,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<Watched>>;
}

#[async_trait]
pub trait ReferenceStore: Send + Sync {
    async fn list_queues(&self) -> Result<Vec<Queue>>;
    async fn get_queue(&self, id: &str) -> Result<Option<Queue>>;
    async fn upsert_queue(&self, queue: &Queue) -> Result<()>;
    async fn list_departments(&self) -> Result<Vec<EscalationDepartment>>;
    async fn get_department(&self, id: &str) -> Result<Option<EscalationDepartment>>;
    async fn upsert_department(&self, department: &EscalationDepartment) -> Result<()>;
    async fn list_resolution_statuses(&self) -> Result<Vec<ResolutionStatus>>;
    /// The SLA policies of `queue` (of every queue when `None`), by queue and severity.
    async fn list_sla_policies(&self, queue: Option<&str>) -> Result<Vec<SlaPolicy>>;
    async fn upsert_sla_policy(&self, policy: &SlaPolicy) -> Result<()>;
    async fn is_empty(&self) -> Result<bool>;
}

/// The report figures (`domain::report`) of the stored rows in `ranges` added up per bucket
/// and group, over the queues given (every queue when `queues` is empty).
#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn report_figures(
        &self,
        ranges: &[RowRange],
        group_by: GroupBy,
        queues: &[String],
    ) -> Result<Vec<BucketFigures>>;
    /// Each group's backlog delta summed over the rows in `ranges` (buckets ignored).
    async fn report_backlog(
        &self,
        ranges: &[RowRange],
        group_by: GroupBy,
        queues: &[String],
    ) -> Result<Vec<(String, i64)>>;
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn get_agent(&self, id: &str) -> Result<Option<Agent>>;
    /// Creates an agent, or changes its profile (name, role, queues, languages, capacity)
    /// leaving its status alone.
    async fn upsert_agent(&self, agent: &Agent) -> Result<()>;
    /// Changes only the status columns (so it cannot undo a concurrent profile change) and
    /// records the change in the agent's status history, in one transaction.
    async fn set_agent_status(
        &self,
        agent: &Agent,
        previous_status: &str,
        actor: &str,
    ) -> Result<()>;
    /// The agent's status changes, newest first: (status, previous status, actor, at).
    async fn agent_status_history(
        &self,
        agent_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, String, Time)>>;
    /// Agents ordered by id, after `after_id`, optionally serving `queue` / in `status`.
    async fn list_agents(
        &self,
        queue: Option<&str>,
        status: Option<&str>,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Agent>>;
    /// Open tickets (assigned, on hold, escalated to them) each of these agents holds, in one
    /// query; agents holding none are absent.
    async fn active_ticket_counts(&self, agent_ids: &[String]) -> Result<HashMap<String, i64>>;
    async fn list_agent_statuses(&self) -> Result<Vec<AgentStatus>>;
    async fn get_agent_status(&self, name: &str) -> Result<Option<AgentStatus>>;
    async fn upsert_agent_status(&self, status: &AgentStatus) -> Result<()>;
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The room, with `unread_count` for `reader`.
    async fn get_room(&self, key: &RoomKey, reader: &Reader) -> Result<Option<Room>>;
    /// Tickets with a chat timer due at `now`, oldest first.
    async fn due_timers(&self, now: Time, limit: i64) -> Result<Vec<String>>;
    /// Messages after (or, newest first, before) `cursor`; internal notes only if asked.
    async fn list_messages(
        &self,
        room_id: &str,
        cursor: Option<i64>,
        newest_first: bool,
        include_internal: bool,
        limit: i64,
    ) -> Result<Vec<Message>>;
    async fn message_seq(&self, room_id: &str, message_id: &str) -> Result<Option<i64>>;
    async fn latest_seq(&self, room_id: &str) -> Result<i64>;
    /// Moves `reader`'s position forward to `seq` (never back).
    async fn mark_read(&self, room_id: &str, reader: &str, seq: i64) -> Result<()>;
    /// Rooms of a customer within `scope`, newest first, after the cursor `(created_at micros,
    /// id)`, with `unread_count` for `reader`.
    async fn customer_rooms(
        &self,
        customer: &CustomerKey,
        reader: &Reader,
        scope: &Scope,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Room>>;
    /// The database's plan for the first page of `customer_rooms` (checked by the tests).
    async fn customer_rooms_plan(
        &self,
        customer: &CustomerKey,
        reader: &Reader,
        scope: &Scope,
    ) -> Result<Vec<String>>;
    /// The attachment's description and room, without reading its content.
    async fn attachment_info(&self, id: &str) -> Result<Option<AttachmentInfo>>;
    /// The attachment's content.
    async fn attachment_data(&self, id: &str) -> Result<Option<Vec<u8>>>;
}

#[async_trait]
pub trait CcrStore: Send + Sync {
    /// The whole taxonomy, ordered by code.
    async fn list_ccr(&self) -> Result<Vec<Ccr>>;
    async fn get_ccr(&self, code: &str) -> Result<Option<Ccr>>;
    /// Whether `code` is a level-3 CCR of the taxonomy.
    async fn is_ccr_leaf(&self, code: &str) -> Result<bool>;
    /// Replaces the taxonomy in one transaction; returns how many old codes are gone.
    async fn replace_ccr(&self, nodes: Vec<Ccr>) -> Result<i64>;
}

/// The whole seam.
#[async_trait]
pub trait Store:
    TicketStore + EventStore + ReferenceStore + AgentStore + ConversationStore + CcrStore + ReportStore
{
    /// Runs `work` in one write transaction, answering after the commit is durable (see
    /// `<dyn Store>::write`, which returns the closure's value).
    async fn run_write(&self, work: Work) -> Result<()>;
    /// The event log's committed position: every event with an id up to it is readable and
    /// final — no event can appear at or below it later, even from a transaction that started
    /// earlier (on PostgreSQL ids are taken in one order and committed in another). It moves
    /// after commits of this process and, on PostgreSQL, of every other replica on the
    /// database; live streams wait on it.
    fn commits(&self) -> watch::Receiver<i64>;
    /// Changes after a commit the committed position could not pass yet (a gap below it:
    /// an older transaction still running; SQLite never has one). Streams over logs that
    /// need no position (a room's messages) hear the other commits from the committed
    /// position's feed and read on these too, so a gap in the event log does not hold them.
    fn commits_behind_gap(&self) -> watch::Receiver<i64>;
    /// Changes after every committed change to agents or reference data (queues,
    /// departments): what the application's in-memory copies are dropped on. On PostgreSQL
    /// it also changes on other replicas' changes, and whenever their announcements may have
    /// been missed.
    fn reference_changed(&self) -> watch::Receiver<u64>;
    /// The committed position brought up to date with everything committed before the call
    /// (where a stream "from now on" starts).
    async fn committed_now(&self) -> Result<i64>;
    /// Whether this process should run the periodic work (timers, routing reconciliation)
    /// now: one process at a time across the replicas on a database.
    async fn lead(&self) -> bool;
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Ends the store's work and closes its connections (and files) before it returns.
    async fn close(&self);
}

/// The store classifies the database's errors: a lost or exhausted connection is
/// `Unavailable` (the caller may retry), anything else `Internal`. Constraint violations a
/// client can cause are classified where they can happen (`on_constraint`).
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => {
                // The detail is for operators; clients hear that they may retry.
                tracing::warn!(%error, "database unavailable");
                Error::Unavailable("the database is unavailable; retry".into())
            }
            sqlx::Error::Database(db) if connection_lost(db.code().as_deref()) => {
                tracing::warn!(%error, "database connection lost");
                Error::Unavailable("the database is unavailable; retry".into())
            }
            sqlx::Error::Database(db) if db.message().contains("database is locked") => {
                tracing::warn!(%error, "database busy");
                Error::Unavailable("the database is busy; retry".into())
            }
            sqlx::Error::Database(db) if let Some(fault) = database_fault(db.as_ref()) => {
                tracing::warn!(%error, "database fault");
                fault
            }
            _ => Error::Internal(format!("database error: {error}")),
        }
    }
}

/// Faults of the database's machine rather than of the call: its disk full, its files
/// read-only or unreadable, a statement cancelled at the statement timeout. The caller hears
/// what happened and that it may retry; nothing was written.
fn database_fault(db: &dyn sqlx::error::DatabaseError) -> Option<Error> {
    let code = db.code()?;
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite's primary result code is the low byte of the extended one.
        return match code.parse::<i32>().ok()? & 0xff {
            13 => Some(Error::ResourceExhausted(
                "the database's disk is full; retry later".into(),
            )),
            8 => Some(Error::Unavailable(
                "the database is read-only; retry later".into(),
            )),
            10 | 14 => Some(Error::Unavailable(
                "the database's files cannot be read or written; retry later".into(),
            )),
            _ => None,
        };
    }
    match code.as_ref() {
        "53100" => Some(Error::ResourceExhausted(
            "the database's disk is full; retry later".into(),
        )),
        "57014" => Some(Error::Unavailable(
            "the statement ran past the database's statement timeout and was cancelled; retry"
                .into(),
        )),
        "25006" => Some(Error::Unavailable(
            "the database is read-only; retry later".into(),
        )),
        _ => None,
    }
}

/// SQLSTATEs of a server going away or refusing connections: connection exceptions (08),
/// operator intervention (57P: terminated, shutting down, cannot connect now) and too many
/// connections (53300). The call may be retried once the database is back.
pub(crate) fn connection_lost(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300")
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Internal(format!("migration failed: {error}"))
    }
}

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`) and migrates it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, &PoolSettings::default()).await
}

/// The PostgreSQL pool's settings (SQLite has its own fixed writer and read pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections per process.
    pub max_connections: u32,
    /// How long a call waits for a free connection before it fails with `Unavailable`.
    pub acquire_timeout: std::time::Duration,
    /// The longest any one statement may run.
    pub statement_timeout: std::time::Duration,
    /// The longest a transaction may sit idle holding its locks.
    pub idle_in_transaction_timeout: std::time::Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(30),
            idle_in_transaction_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// `connect` with the PostgreSQL pool's settings.
pub async fn connect_with(url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url, pool).await?))
    } else {
        Err(Error::invalid(
            "database_url",
            "must start with sqlite: or postgres:",
        ))
    }
}
