//! Object-level rules of DESIGN.md §6: who may see and change which ticket.
use super::App;
use crate::domain::query::Scope;
use crate::domain::{AgentRole, Principal, Role, Ticket, Transition};
use crate::error::{Error, Result};

/// What a principal is allowed, resolved once per call.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub principal: Principal,
    pub role: Role,
    pub scope: Scope,
}

impl App {
    /// Resolves the principal's effective role and visibility. A service acting for an agent
    /// gets that agent's role and queues; never more.
    pub(crate) async fn access(&self, principal: &Principal) -> Result<Access> {
        let (role, scope) = match principal {
            Principal::Service { .. } => (Role::Service, Scope::All),
            Principal::Customer { id, .. } => (Role::Customer, Scope::Customer(id.clone())),
            Principal::Agent { id, role, via } => {
                let agent = self.agent(id).await?;
                // The stored agent's current role decides on every call, so a demotion takes
                // effect at once; an agent without a record keeps its token's role (and,
                // with no queues, sees nothing but what is assigned to it).
                let stored = agent.as_ref().map(|agent| match agent.role {
                    AgentRole::Agent => Role::Agent,
                    AgentRole::Supervisor => Role::Supervisor,
                    AgentRole::Admin => Role::Admin,
                });
                let role = match (via, stored) {
                    (None, stored) => stored.unwrap_or(*role),
                    // A service acts for supervisors and admins only if its token says so.
                    (Some(_), Some(stored)) if rank(stored) > rank(*role) => {
                        return Err(Error::PermissionDenied(format!(
                            "this service token may not act for a {}",
                            stored.as_str()
                        )));
                    }
                    (Some(_), stored) => stored.unwrap_or(Role::Agent),
                };
                let scope = if role == Role::Admin {
                    Scope::All
                } else {
                    Scope::Agent {
                        id: id.clone(),
                        queues: agent.map(|a| a.queues).unwrap_or_default(),
                        queue_wide: role == Role::Supervisor,
                    }
                };
                (role, scope)
            }
        };
        Ok(Access {
            principal: principal.clone(),
            role,
            scope,
        })
    }

    /// `access` for reading reference data (queues, departments, statuses, resolutions,
    /// contact reasons): everyone but customers, who see only their own tickets and rooms.
    pub(crate) async fn reference_access(&self, principal: &Principal) -> Result<Access> {
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "read reference data",
        )?;
        Ok(access)
    }
}

/// Agent roles in order of what they may do.
fn rank(role: Role) -> u8 {
    match role {
        Role::Supervisor => 2,
        Role::Admin => 3,
        _ => 1,
    }
}

/// Whether `scope` covers `ticket` (the same rule as the SQL in `store::filter::push_scope`).
pub(crate) fn in_scope(scope: &Scope, ticket: &Ticket) -> bool {
    match scope {
        Scope::All => true,
        Scope::Customer(id) => &ticket.customer.id == id,
        Scope::Agent {
            id,
            queues,
            queue_wide,
        } => {
            ticket.assignee.as_deref() == Some(id.as_str())
                || (queues.contains(&ticket.queue) && (*queue_wide || ticket.is_waiting()))
        }
    }
}

impl Access {
    pub fn id(&self) -> &str {
        match &self.principal {
            Principal::Agent { id, .. } | Principal::Customer { id, .. } => id,
            Principal::Service { name } => name,
        }
    }

    pub fn require(&self, allowed: &[Role], what: &str) -> Result<()> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "role {} may not {what}",
                self.role.as_str()
            )))
        }
    }

    /// Refuses a ticket outside the principal's scope with `NotFound`, whoever asks: to a
    /// customer, an agent or a supervisor outside the ticket's queues, a ticket it may not see
    /// reads exactly like one that does not exist (DESIGN.md §6), so ids, numbers and
    /// external ids are no oracle of what exists elsewhere. What it may see but not do stays
    /// `PermissionDenied` (`can_apply`).
    pub fn can_see(&self, ticket: &Ticket) -> Result<()> {
        if in_scope(&self.scope, ticket) {
            return Ok(());
        }
        // Worded without the ticket's id: the caller may have named it another way, and the
        // caller's own key goes into the message where it is mapped (`App::load`).
        Err(Error::NotFound("ticket".into()))
    }

    /// May this principal apply `transition` to `ticket`?
    pub fn can_apply(&self, ticket: &Ticket, transition: &Transition) -> Result<()> {
        self.can_see(ticket)?;
        use Role::*;
        match transition {
            Transition::Rate { .. } => self.require(&[Customer, Service], "rate tickets"),
            Transition::Reopen { .. } => Ok(()),
            Transition::Workflow { .. } => self.require(&[Service], "record workflow events"),
            Transition::Handoff { .. } => {
                self.require(&[Service, Supervisor, Admin], "hand off bot tickets")
            }
            Transition::Assign { agent } => {
                self.require(&[Agent, Supervisor, Admin, Service], "assign tickets")?;
                if self.role == Agent && agent != self.id() {
                    return Err(Error::PermissionDenied(
                        "an agent may only assign tickets to itself".into(),
                    ));
                }
                Ok(())
            }
            _ => self.require(&[Agent, Supervisor, Admin, Service], "change tickets"),
        }
    }
}
