//! Reference data: queues, escalation departments, resolution statuses, agents.
use crate::clock::Time;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub language: String,
    pub default_sla_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationDepartment {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResolutionStatus {
    NoAction,
    Refunded,
    CustomerLeftChat,
}

impl ResolutionStatus {
    pub const ALL: [ResolutionStatus; 3] = [
        ResolutionStatus::NoAction,
        ResolutionStatus::Refunded,
        ResolutionStatus::CustomerLeftChat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStatus::NoAction => "NO_ACTION",
            ResolutionStatus::Refunded => "REFUNDED",
            ResolutionStatus::CustomerLeftChat => "CUSTOMER_LEFT_CHAT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentRole {
    Agent,
    Supervisor,
    Admin,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Agent => "AGENT",
            AgentRole::Supervisor => "SUPERVISOR",
            AgentRole::Admin => "ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AGENT" => Some(AgentRole::Agent),
            "SUPERVISOR" => Some(AgentRole::Supervisor),
            "ADMIN" => Some(AgentRole::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub role: AgentRole,
    pub status: String,
    pub status_alias: String,
    pub last_login_at: Option<Time>,
    pub status_updated_at: Option<Time>,
    pub queues: Vec<String>,
    pub languages: Vec<String>,
    pub max_concurrent: i32,
}

/// A configured agent status and whether agents in it receive tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    pub name: String,
    pub alias: String,
    pub receives_tickets: bool,
}
