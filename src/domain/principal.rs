//! Who is calling, after the token (and any `x-agent-user-id` / `x-customer-id`) is resolved.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
    Service,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Service => "service",
            Role::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An agent, supervisor or admin — directly, or through a service acting for it
    /// (`via` names the service). The stored agent's role decides; `role` is the token's
    /// role, or for a service the highest agent role its token may act for.
    Agent {
        id: String,
        role: Role,
        via: Option<String>,
    },
    /// A customer — directly, or through a service acting for it.
    Customer { id: String, via: Option<String> },
    /// A service acting as itself (bots, workflows).
    Service { name: String },
}

impl Principal {
    /// The actor recorded in events: `agent@x`, or `svc-bot/agent@x` when acting through a service.
    pub fn actor(&self) -> String {
        match self {
            Principal::Agent { id, via: None, .. } | Principal::Customer { id, via: None } => {
                id.clone()
            }
            Principal::Agent {
                id, via: Some(via), ..
            }
            | Principal::Customer { id, via: Some(via) } => format!("{via}/{id}"),
            Principal::Service { name } => name.clone(),
        }
    }
}
