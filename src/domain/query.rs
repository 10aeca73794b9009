//! What reads ask for, in domain terms: ticket keys, filters, orders, cursors, scopes, what a
//! stream follows, room and customer keys. The app builds them; the store answers them.
use crate::clock::Time;
use crate::domain::{Severity, Ticket, TicketStatus};

/// How a ticket is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketKey {
    Id(String),
    Number(i64),
    ExternalId(String),
    /// The id, or else the external id (REST's `{ticketID}`, e.g. `vsba-nhas`).
    Reference(String),
}

/// Which tickets a principal may see; added to every listing and stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Customer(String),
    /// Tickets assigned to `id`, plus tickets of `queues`: all of them when `queue_wide`
    /// (supervisors), only the waiting ones otherwise (agents).
    Agent {
        id: String,
        queues: Vec<String>,
        queue_wide: bool,
    },
}

/// ListTickets' filter in domain terms; every set field must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub queues: Vec<String>,
    pub assignee: Option<String>,
    pub unassigned: bool,
    pub bot_held: bool,
    pub customer_id: Option<String>,
    pub channels: Vec<String>,
    pub types: Vec<String>,
    pub sources: Vec<String>,
    pub languages: Vec<String>,
    pub country: Option<String>,
    pub department: Option<String>,
    pub ccr: Option<String>,
    pub order_id: Option<String>,
    pub tag: Option<String>,
    pub min_priority: Option<i32>,
    pub number: Option<i64>,
    pub created_after: Option<Time>,
    pub created_before: Option<Time>,
    pub updated_after: Option<Time>,
    pub updated_before: Option<Time>,
    pub overdue: bool,
    pub due_today: bool,
    pub text: Option<String>,
    pub severities: Vec<Severity>,
    /// Missed an SLA target.
    pub sla_breached: bool,
    /// Open, with a running SLA target due within this long of now (not yet missed).
    pub sla_due_within: Option<chrono::Duration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TicketOrder {
    #[default]
    CreatedDesc,
    CreatedAsc,
    PriorityDesc,
    UpdatedDesc,
    UpdatedAsc,
}

/// Keyset position: the last row's sort value (priority or updated_at micros) and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub sort_value: i64,
    pub number: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TicketQuery {
    pub filter: TicketFilter,
    pub scope: Scope,
    pub order: TicketOrder,
    pub after: Option<Cursor>,
    pub limit: i64,
    /// Rows to skip (page-numbered listings such as customer history); 0 for keyset paging.
    pub offset: i64,
    /// "now" for `overdue` and `due_today`.
    pub now: Time,
}

impl TicketOrder {
    /// The cursor that continues after `ticket` in this order.
    pub fn cursor_of(self, ticket: &Ticket) -> Cursor {
        let sort_value = match self {
            TicketOrder::PriorityDesc => i64::from(ticket.priority),
            TicketOrder::UpdatedDesc | TicketOrder::UpdatedAsc => {
                ticket.updated_at.timestamp_micros()
            }
            TicketOrder::CreatedDesc | TicketOrder::CreatedAsc => 0,
        };
        Cursor {
            sort_value,
            number: ticket.number,
        }
    }
}

/// The agents a routing decision reads and locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agents<'a> {
    /// One agent (filling it, checking its capacity).
    One(&'a str),
    /// Every agent serving the queue (choosing who takes a ticket of it): routing in one
    /// queue does not wait on routing in another.
    Serving(&'a str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub waiting_count: i64,
    pub oldest_waiting_since: Option<Time>,
    /// 1-based position of the asked ticket in routing order; 0 when it is not waiting.
    pub position: i64,
}

/// What a stream follows: events of tickets matching these, visible in the scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchFilter {
    /// Events where this agent held the ticket before or after (WatchMyTickets).
    pub involving: Option<String>,
    pub queues: Vec<String>,
    pub assignee: Option<String>,
    pub ticket_id: Option<String>,
}

/// Where an event's ticket was before and after the event: what live streams filter on.
/// (Events older than the columns that hold it have no queue or customer.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSnapshot {
    pub assignee: Option<String>,
    pub previous_assignee: Option<String>,
    pub queue: Option<String>,
    pub previous_queue: Option<String>,
    pub customer_id: Option<String>,
}

/// An event with where its ticket was, and the ticket as it is now (what streams read).
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub event: crate::domain::TicketEvent,
    pub snapshot: EventSnapshot,
    pub ticket: Ticket,
}

impl EventSnapshot {
    /// Whether `agent` held the ticket before or after the event.
    fn held_by(&self, agent: &str) -> bool {
        self.assignee.as_deref() == Some(agent) || self.previous_assignee.as_deref() == Some(agent)
    }

    /// Whether the ticket was in one of `queues` before or after the event.
    fn in_queues(&self, queues: &[String]) -> bool {
        [&self.queue, &self.previous_queue]
            .into_iter()
            .any(|queue| queue.as_ref().is_some_and(|q| queues.contains(q)))
    }
}

impl WatchFilter {
    /// Whether the event matches: the same rule as the SQL of `store::filter::push_watch`.
    pub fn matches(&self, ticket_id: &str, snapshot: &EventSnapshot) -> bool {
        self.involving
            .as_deref()
            .is_none_or(|a| snapshot.held_by(a))
            && self.assignee.as_deref().is_none_or(|a| snapshot.held_by(a))
            && (self.queues.is_empty() || snapshot.in_queues(&self.queues))
            && self.ticket_id.as_deref().is_none_or(|id| id == ticket_id)
    }
}

impl Scope {
    /// Whether the scope may hear of the event: the same rule as the SQL of
    /// `store::filter::push_event_scope` (a customer's own tickets; for agents, tickets they
    /// held before or after the event, or that were in their queues, for plain agents only
    /// while nobody held them).
    pub fn hears(&self, snapshot: &EventSnapshot) -> bool {
        match self {
            Scope::All => true,
            Scope::Customer(id) => snapshot.customer_id.as_deref() == Some(id.as_str()),
            Scope::Agent {
                id,
                queues,
                queue_wide,
            } => {
                let in_queue = |queue: &Option<String>, holder: &Option<String>| {
                    queue.as_ref().is_some_and(|q| queues.contains(q))
                        && (*queue_wide || holder.is_none())
                };
                snapshot.held_by(id)
                    || in_queue(&snapshot.queue, &snapshot.assignee)
                    || in_queue(&snapshot.previous_queue, &snapshot.previous_assignee)
            }
        }
    }
}

/// How a room is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomKey {
    Id(String),
    TicketId(String),
}

/// Who reads a room: unread counts skip the reader's own messages, and internal notes for
/// readers who never see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub id: String,
    pub sees_internal: bool,
}

/// Whose conversations: by customer id, or by an identity on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    Id(String),
    Identity { channel: String, social_id: String },
}
