//! The storage seam: what the application needs from storage, in domain types. One
//! implementation per database, chosen by URL scheme in [`connect`]; the app never knows which.
mod filter;
pub mod sqlite;
mod sqlite_conversations;

use crate::clock::Time;
use crate::domain::ccr::Ccr;
use crate::domain::conversation::{Attachment, Message, Room};
use crate::domain::query::{
    CustomerKey, QueueStats, Reader, RoomKey, Scope, TicketFilter, TicketKey, TicketQuery,
    WatchFilter,
};
use crate::domain::timers::ChatTimers;
use crate::domain::{
    Agent, AgentStatus, EscalationDepartment, NewEvent, Queue, ResolutionStatus, Ticket,
    TicketEvent,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// An idempotency key for CreateTicket, scoped to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    /// Hash of the request; the same key with another request is refused.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Ticket, Vec<TicketEvent>),
    /// The key was seen before with the same request: the ticket it created.
    Replayed(Ticket),
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Inserts a new ticket (its `number` is assigned here) with its events and routes it if
    /// it waits, in one transaction; honours the idempotency key.
    async fn create_ticket(
        &self,
        ticket: Ticket,
        actor: &str,
        events: Vec<NewEvent>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Created>;
    async fn get_ticket(&self, key: &TicketKey) -> Result<Option<Ticket>>;
    /// Writes `ticket` and its events in one transaction if the stored version is still
    /// `previous_version`; `Ok(None)` when another change won.
    async fn update_ticket(
        &self,
        ticket: &Ticket,
        previous_version: i64,
        actor: &str,
        events: Vec<NewEvent>,
    ) -> Result<Option<Vec<TicketEvent>>>;
    /// `update_ticket` for an agent taking a ticket itself: refused with `FailedPrecondition`,
    /// inside the same transaction, when `agent` already holds its capacity.
    async fn update_ticket_within_capacity(
        &self,
        ticket: &Ticket,
        previous_version: i64,
        actor: &str,
        events: Vec<NewEvent>,
        agent: &str,
    ) -> Result<Option<Vec<TicketEvent>>>;
    async fn list_tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>>;
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
    /// Events after `after_id` matching `watch` that `scope` may hear of (both judged on the
    /// ticket's holder and queue before and after each event), with the ticket as it is now.
    async fn watch_events(
        &self,
        after_id: i64,
        watch: &WatchFilter,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<(TicketEvent, Ticket)>>;
    async fn last_event_id(&self) -> Result<i64>;
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
    async fn is_empty(&self) -> Result<bool>;
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

/// A routing assignment or requeue, written with its events.
pub type Routed = (Ticket, Vec<TicketEvent>);

/// Routing runs inside one write transaction per call, so the choice and the change cannot
/// race with other writers (DESIGN.md §3: never two agents on a ticket, never over capacity).
#[async_trait]
pub trait RoutingStore: Send + Sync {
    /// If the ticket still waits, gives it to the agent `routing::choose_agent` picks.
    async fn route_ticket(
        &self,
        ticket_id: &str,
        preferred: Option<String>,
        now: Time,
    ) -> Result<Option<Routed>>;
    /// While the agent receives and has room, gives it the best waiting ticket it fits.
    async fn fill_agent(&self, agent_id: &str, now: Time) -> Result<Vec<Routed>>;
    /// Puts the agent's assigned tickets of `channels` back in their queues (REQUEUED).
    async fn requeue_agent(
        &self,
        agent_id: &str,
        channels: Vec<String>,
        now: Time,
    ) -> Result<Vec<Routed>>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum MessageAdded {
    New(Message, TicketEvent),
    /// The sender's `client_message_id` was seen before: the message it created.
    Duplicate(Message),
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The room, with `unread_count` for `reader`.
    async fn get_room(&self, key: &RoomKey, reader: &Reader) -> Result<Option<Room>>;
    /// Appends a message (its `seq` is assigned here), applies `timers::on_message` to its
    /// ticket (first response, chat timers; a change bumps the version) and writes the
    /// MESSAGE_ADDED event, in one transaction; honours `client_message_id`.
    async fn add_message(
        &self,
        message: Message,
        actor: &str,
        chat_timers: ChatTimers,
    ) -> Result<MessageAdded>;
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
    async fn save_attachment(&self, attachment: Attachment) -> Result<()>;
    async fn get_attachment(&self, id: &str) -> Result<Option<Attachment>>;
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
    TicketStore + EventStore + ReferenceStore + AgentStore + RoutingStore + ConversationStore + CcrStore
{
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<()>;
    async fn close(&self);
}

/// Opens the store named by `url` (`sqlite://…`; `postgres://…` follows) and migrates it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Err(Error::Unavailable(
            "the PostgreSQL store is not built yet; use a sqlite:// URL".into(),
        ))
    } else {
        Err(Error::invalid(
            "database_url",
            "must start with sqlite: or postgres:",
        ))
    }
}
