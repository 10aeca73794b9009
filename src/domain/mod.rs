//! Plain-Rust domain: tickets, events, the lifecycle transition table, principals and
//! reference data. Nothing here knows about tonic, sqlx, axum or tokio.
pub mod ccr;
pub mod conversation;
pub mod event;
pub mod hours;
pub mod lifecycle;
pub mod principal;
pub mod query;
pub mod reference;
pub mod report;
pub mod routing;
pub mod sla;
pub mod ticket;
pub mod timers;

pub use event::{EventType, NewEvent, TicketEvent};
pub use lifecycle::Transition;
pub use principal::{Principal, Role};
pub use reference::{Agent, AgentRole, AgentStatus, EscalationDepartment, Queue, ResolutionStatus};
pub use ticket::{
    Customer, CustomerIdentity, Escalation, LinkCategory, LinkIdType, Metadata, Rating, Resolution,
    Severity, Ticket, TicketLink, TicketStatus, Vendor,
};
