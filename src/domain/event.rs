//! The immutable audit trail: every change writes one or more events.
use crate::clock::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;

macro_rules! event_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The stored and REST spelling (seed 001's `TicketStatus` words first).
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    Created => "CREATED",
    WorkflowPending => "WORKFLOW_PENDING",
    WorkflowDone => "WORKFLOW_DONE",
    Assigned => "ASSIGNED",
    Reassigned => "REASSIGNED",
    Escalated => "ESCALATED",
    Closed => "CLOSED",
    ChatClosed => "CHAT_CLOSED",
    UpdateField => "UPDATE_FIELD",
    RefundCreated => "REFUND_CREATED",
    Error => "ERROR",
    Transferred => "TRANSFERRED",
    Held => "HELD",
    Resumed => "RESUMED",
    HandedOff => "HANDED_OFF",
    Requeued => "REQUEUED",
    Picked => "PICKED",
    MessageAdded => "MESSAGE_ADDED",
    Reopened => "REOPENED",
    Rated => "RATED",
    Linked => "LINKED",
    SlaWarning => "SLA_WARNING",
    AutoClosed => "AUTO_CLOSED",
    SlaBreachWarning => "SLA_BREACH_WARNING",
    SlaBreached => "SLA_BREACHED",
}

/// An event about to be written, in the same transaction as its change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub payload: Value,
    /// Ticket version after the change; set by `lifecycle::apply`.
    pub version: i64,
}

impl NewEvent {
    pub fn new(event_type: EventType, payload: Value) -> Self {
        NewEvent {
            event_type,
            payload,
            version: 0,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    pub id: i64,
    pub ticket_id: String,
    pub event_type: EventType,
    pub actor: String,
    pub at: Time,
    pub version: i64,
    pub payload: Value,
}

/// The event types `RecordWorkflowEvent` may record.
pub const WORKFLOW_EVENT_TYPES: [EventType; 3] = [
    EventType::WorkflowPending,
    EventType::WorkflowDone,
    EventType::Error,
];
