//! The ticket aggregate as stored and as every transport sees it.
use crate::clock::Time;
use crate::domain::reference::ResolutionStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatus {
    Created,
    Assigned,
    OnHold,
    Escalated,
    Closed,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 5] = [
        TicketStatus::Created,
        TicketStatus::Assigned,
        TicketStatus::OnHold,
        TicketStatus::Escalated,
        TicketStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Created => "CREATED",
            TicketStatus::Assigned => "ASSIGNED",
            TicketStatus::OnHold => "ON_HOLD",
            TicketStatus::Escalated => "ESCALATED",
            TicketStatus::Closed => "CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Statuses in which a ticket counts against its assignee's capacity.
    pub const ACTIVE: [TicketStatus; 3] = [
        TicketStatus::Assigned,
        TicketStatus::OnHold,
        TicketStatus::Escalated,
    ];

    pub fn is_open(self) -> bool {
        self != TicketStatus::Closed
    }

    /// Counts against its assignee's capacity.
    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }
}

/// How badly the customer is affected; picks the SLA policy (seed 002's `severity`). Separate
/// from the numeric priority, which orders the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    #[default]
    NotSet,
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::NotSet,
        Severity::Low,
        Severity::Medium,
        Severity::High,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::NotSet => "NOT_SET",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerIdentity {
    pub channel: String,
    pub social_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub identities: Vec<CustomerIdentity>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vendor {
    pub id: String,
    /// One of seed 000's `VerticalType` words, lower-case (`restaurants`, …); empty if unknown.
    pub vertical: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkIdType {
    Salesforce,
    Pandacare,
}

impl LinkIdType {
    pub const ALL: [LinkIdType; 2] = [LinkIdType::Salesforce, LinkIdType::Pandacare];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkIdType::Salesforce => "SALESFORCE",
            LinkIdType::Pandacare => "PANDACARE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkCategory {
    Escalated,
    Refunded,
    RefundPartial,
}

impl LinkCategory {
    pub const ALL: [LinkCategory; 3] = [
        LinkCategory::Escalated,
        LinkCategory::Refunded,
        LinkCategory::RefundPartial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkCategory::Escalated => "ESCALATED",
            LinkCategory::Refunded => "REFUNDED",
            LinkCategory::RefundPartial => "REFUND_PARTIAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketLink {
    pub ticket_id: String,
    pub id_type: LinkIdType,
    pub category: LinkCategory,
    pub creator: String,
    pub created_at: Time,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub ccr: String,
    pub local_ccr: String,
    pub country: String,
    pub language: String,
    pub order_id: String,
    pub entity_id: String,
    pub sla_seconds: i64,
    pub due_at: Option<Time>,
    pub tags: Vec<String>,
    pub children_links: Vec<TicketLink>,
    pub room_id: String,
    pub assigned_at: Option<Time>,
    pub picked_at: Option<Time>,
    pub first_response_at: Option<Time>,
    pub auto_close_warning_at: Option<Time>,
    pub auto_close_at: Option<Time>,
    pub chat_room_closed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub department: String,
    pub from_agent: String,
    pub to_agent: String,
    pub at: Option<Time>,
    pub status_reason: String,
    pub resolution_reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub status: ResolutionStatus,
    pub reason: String,
    pub closed_by: String,
    pub closed_at: Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub score: i32,
    pub comment: String,
    pub rated_at: Time,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub number: i64,
    pub external_id: Option<String>,
    pub subject: String,
    pub status: TicketStatus,
    pub status_reason: String,
    pub status_changed_at: Time,
    pub priority: i32,
    #[serde(default)]
    pub severity: Severity,
    pub queue: String,
    pub channel: String,
    pub ticket_type: String,
    pub source: String,
    pub assignee: Option<String>,
    /// The agent who last held the ticket (for reopen with `keep_assignee`).
    pub last_assignee: Option<String>,
    pub bot_id: Option<String>,
    pub customer: Customer,
    pub vendor: Option<Vendor>,
    pub content: Map<String, Value>,
    pub metadata: Metadata,
    pub escalation: Option<Escalation>,
    pub resolution: Option<Resolution>,
    pub rating: Option<Rating>,
    /// Live state of the SLA targets of its queue's policy.
    #[serde(default)]
    pub sla: crate::domain::sla::TicketSla,
    /// Durations and counts of its life so far, kept with every change.
    #[serde(default)]
    pub metrics: crate::domain::sla::TicketMetrics,
    pub created_at: Time,
    pub updated_at: Time,
    pub version: i64,
    /// Messages in the room its assignee has not read; derived when read, never stored.
    #[serde(skip)]
    pub unread_count: i64,
}

impl Ticket {
    /// Waiting for an agent in its queue: created, unassigned and not held by a bot.
    pub fn is_waiting(&self) -> bool {
        self.status == TicketStatus::Created && self.assignee.is_none() && self.bot_id.is_none()
    }

    /// The people the ticket names by id besides its customer: its assignee, the agents of
    /// its escalation, and whoever closed it or linked it (actors, `via/id` when a service
    /// acted for someone: the id after the last `/`).
    pub fn staff_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .assignee
            .iter()
            .chain(self.last_assignee.iter())
            .cloned()
            .collect();
        if let Some(escalation) = &self.escalation {
            ids.extend([escalation.from_agent.clone(), escalation.to_agent.clone()]);
        }
        if let Some(resolution) = &self.resolution {
            ids.push(actor_id(&resolution.closed_by).to_string());
        }
        for link in &self.metadata.children_links {
            ids.push(actor_id(&link.creator).to_string());
        }
        ids.retain(|id| !id.is_empty() && *id != self.customer.id);
        ids.sort();
        ids.dedup();
        ids
    }

    /// The ticket as its customer sees it, without its SLA state and metrics: every agent it
    /// names appears by display name (`names`: agent id → name), never by id — an agent's id
    /// is its staff e-mail address.
    /// Anyone without a display name (a service, an agent without a profile) appears as an
    /// empty name; the customer itself stays as it is.
    pub fn shown_to_customer(mut self, names: &HashMap<String, String>) -> Ticket {
        // How the floor handled it (SLA clocks, handle times, transfers) is staff's to read,
        // like the audit trail.
        self.sla = crate::domain::sla::TicketSla::default();
        self.metrics = crate::domain::sla::TicketMetrics::default();
        let customer = self.customer.id.clone();
        let shown = |actor: &str| -> String {
            let id = actor_id(actor);
            if id.is_empty() || id == customer {
                id.to_string()
            } else {
                names.get(id).cloned().unwrap_or_default()
            }
        };
        self.assignee = self.assignee.as_deref().map(shown);
        self.last_assignee = None;
        if let Some(escalation) = &mut self.escalation {
            escalation.from_agent = shown(&escalation.from_agent);
            escalation.to_agent = shown(&escalation.to_agent);
        }
        if let Some(resolution) = &mut self.resolution {
            resolution.closed_by = shown(&resolution.closed_by);
        }
        for link in &mut self.metadata.children_links {
            link.creator = shown(&link.creator);
        }
        self
    }
}

/// Who an actor is: `svc-bot/agent@example.com` (a service acting for an agent) is the agent.
pub(crate) fn actor_id(actor: &str) -> &str {
    actor.rsplit('/').next().unwrap_or(actor)
}
