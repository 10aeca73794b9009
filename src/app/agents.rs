//! Agent use cases: profiles, the configurable status list, status changes (which drive
//! routing), and an agent's own tickets.
use super::App;
use super::validate::{MAX_ID_LEN, MAX_NAME_LEN, Violations};
use crate::clock::Time;
use crate::domain::query::{Scope, WatchFilter};
use crate::domain::{Agent, AgentStatus, Principal, Role};
use crate::error::{Error, Result};
use tokio_stream::wrappers::ReceiverStream;

/// Most tickets an agent may hold at once.
pub const MAX_CAPACITY: i32 = 100;

/// An agent with what is derived at read time.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub agent: Agent,
    pub active_ticket_count: i64,
    /// Time since the status last changed, as of `now`.
    pub time_in_status: Option<chrono::Duration>,
}

#[derive(Debug, Clone)]
pub struct AgentPage {
    pub agents: Vec<AgentView>,
    pub next_page_token: String,
}

fn check_status_name(v: &mut Violations, field: &str, name: &str) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() {
        v.add(field, "must not be empty");
    } else if name.len() > 64 || !name.chars().all(allowed) {
        v.add(field, "must be up to 64 letters, digits, '-' or '_'");
    }
}

impl App {
    async fn view(&self, agent: Agent, now: Time) -> Result<AgentView> {
        Ok(self.views(vec![agent], now).await?.remove(0))
    }

    /// Agents with their derived fields; one count query for the lot.
    async fn views(&self, agents: Vec<Agent>, now: Time) -> Result<Vec<AgentView>> {
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let counts = self.store.active_ticket_counts(&ids).await?;
        Ok(agents
            .into_iter()
            .map(|agent| AgentView {
                active_ticket_count: counts.get(&agent.id).copied().unwrap_or(0),
                time_in_status: agent.status_updated_at.map(|at| now - at),
                agent,
            })
            .collect())
    }

    async fn agent_or_not_found(&self, agent_id: &str) -> Result<Agent> {
        self.store
            .get_agent(agent_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("agent {agent_id}")))
    }

    pub async fn get_me(&self, principal: &Principal) -> Result<AgentView> {
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin],
            "have an agent profile",
        )?;
        let agent = self.agent_or_not_found(access.id()).await?;
        self.view(agent, self.clock.now()).await
    }

    pub async fn get_agent(&self, principal: &Principal, agent_id: &str) -> Result<AgentView> {
        let mut v = Violations::new();
        v.id("agent_id", agent_id);
        v.finish()?;
        self.access(principal).await?.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "read agents",
        )?;
        let agent = self.agent_or_not_found(agent_id).await?;
        self.view(agent, self.clock.now()).await
    }

    pub async fn list_agents(
        &self,
        principal: &Principal,
        queue: &str,
        status: &str,
        page_size: i64,
        page_token: &str,
    ) -> Result<AgentPage> {
        let mut v = Violations::new();
        v.optional_id("queue", queue);
        v.optional_id("status", status);
        v.page_size("page_size", page_size);
        v.finish()?;
        self.access(principal).await?.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "list agents",
        )?;
        let query = format!("agents|{queue}|{status}");
        let after = if page_token.is_empty() {
            None
        } else {
            let raw = super::paging::decode_text(page_token, &query, "page_token")?;
            Some(raw)
        };
        let limit = if page_size == 0 { 50 } else { page_size };
        let mut agents = self
            .store
            .list_agents(
                Some(queue).filter(|q| !q.is_empty()),
                Some(status).filter(|s| !s.is_empty()),
                after.as_deref(),
                limit + 1,
            )
            .await?;
        let next_page_token = if agents.len() as i64 > limit {
            agents.truncate(limit as usize);
            agents
                .last()
                .map(|a| super::paging::encode_text(&a.id, &query))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let now = self.clock.now();
        Ok(AgentPage {
            agents: self.views(agents, now).await?,
            next_page_token,
        })
    }

    /// Creates or replaces an agent's profile (admin). Status and its times are kept; a new
    /// agent starts `offline`. Then routing refills the agent.
    pub async fn upsert_agent(&self, principal: &Principal, agent: Agent) -> Result<AgentView> {
        let (app, principal) = (self.clone(), principal.clone());
        self.detached(async move { app.upsert_agent_attached(&principal, agent).await })
            .await
    }

    async fn upsert_agent_attached(
        &self,
        principal: &Principal,
        mut agent: Agent,
    ) -> Result<AgentView> {
        let mut v = Violations::new();
        v.id("agent.id", &agent.id);
        v.required_text("agent.name", &agent.name, MAX_NAME_LEN);
        v.list("agent.queues", &agent.queues, MAX_ID_LEN);
        v.list("agent.languages", &agent.languages, 16);
        if !(0..=MAX_CAPACITY).contains(&agent.max_concurrent) {
            v.add(
                "agent.max_concurrent",
                format!("must be between 0 and {MAX_CAPACITY}"),
            );
        }
        v.finish()?;
        self.access(principal)
            .await?
            .require(&[Role::Admin], "manage agents")?;
        for (i, queue) in agent.queues.iter().enumerate() {
            self.check_queue(&format!("agent.queues[{i}]"), queue)
                .await?;
        }
        agent.queues.sort();
        agent.queues.dedup();
        agent.languages.sort();
        agent.languages.dedup();
        match self.store.get_agent(&agent.id).await? {
            Some(existing) => {
                agent.status = existing.status;
                agent.status_alias = existing.status_alias;
                agent.last_login_at = existing.last_login_at;
                agent.status_updated_at = existing.status_updated_at;
            }
            None => {
                let offline = self.store.get_agent_status("offline").await?;
                agent.status = "offline".into();
                agent.status_alias = offline.map(|s| s.alias).unwrap_or_else(|| "Offline".into());
                agent.last_login_at = None;
                agent.status_updated_at = Some(self.clock.now());
            }
        }
        self.store.upsert_agent(&agent).await?;
        self.fill(&agent.id).await?;
        self.view(agent, self.clock.now()).await
    }

    /// Changes an agent's status (its own, or anyone's for supervisors and admins). Going
    /// to a receiving status records the login and routes waiting tickets to it; going
    /// offline puts its open chats back in their queues.
    pub async fn set_status(
        &self,
        principal: &Principal,
        agent_id: &str,
        status: &str,
    ) -> Result<AgentView> {
        let (app, principal) = (self.clone(), principal.clone());
        let (agent_id, status) = (agent_id.to_string(), status.to_string());
        self.detached(async move {
            app.set_status_attached(&principal, &agent_id, &status)
                .await
        })
        .await
    }

    async fn set_status_attached(
        &self,
        principal: &Principal,
        agent_id: &str,
        status: &str,
    ) -> Result<AgentView> {
        let mut v = Violations::new();
        v.optional_id("agent_id", agent_id);
        check_status_name(&mut v, "status", status);
        v.finish()?;
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin],
            "change agent statuses",
        )?;
        let agent_id = if agent_id.is_empty() {
            access.id()
        } else {
            agent_id
        };
        let mut agent = self.agent_or_not_found(agent_id).await?;
        if agent_id != access.id() {
            access.require(
                &[Role::Supervisor, Role::Admin],
                "change another agent's status",
            )?;
            // A supervisor manages the agents of its queues.
            if let crate::domain::query::Scope::Agent { queues, .. } = &access.scope
                && !agent.queues.iter().any(|q| queues.contains(q))
            {
                return Err(Error::PermissionDenied(format!(
                    "{agent_id} serves none of your queues"
                )));
            }
        }
        let configured = self
            .store
            .get_agent_status(status)
            .await?
            .ok_or_else(|| Error::invalid("status", format!("unknown status {status:?}")))?;
        let now = self.clock.now();
        let was_receiving = match self.store.get_agent_status(&agent.status).await? {
            Some(previous) => previous.receives_tickets,
            None => false,
        };
        if agent.status != configured.name {
            agent.status_updated_at = Some(now);
        }
        if configured.receives_tickets && !was_receiving {
            agent.last_login_at = Some(now);
        }
        let previous_status = std::mem::replace(&mut agent.status, configured.name.clone());
        agent.status_alias = configured.alias.clone();
        self.store
            .set_agent_status(&agent, &previous_status, &principal.actor())
            .await?;
        tracing::info!(agent = %agent.id, status = %agent.status, "agent status changed");
        if configured.receives_tickets {
            self.fill(&agent.id).await?;
        } else if configured.name == "offline" {
            self.requeue(&agent.id).await?;
        }
        self.view(agent, now).await
    }

    pub async fn list_statuses(&self, principal: &Principal) -> Result<Vec<AgentStatus>> {
        self.reference_access(principal).await?;
        self.store.list_agent_statuses().await
    }

    /// Creates or changes a status (admin). A status that starts receiving tickets routes
    /// waiting tickets to the agents in it.
    pub async fn upsert_status(
        &self,
        principal: &Principal,
        status: AgentStatus,
    ) -> Result<AgentStatus> {
        let (app, principal) = (self.clone(), principal.clone());
        self.detached(async move { app.upsert_status_attached(&principal, status).await })
            .await
    }

    async fn upsert_status_attached(
        &self,
        principal: &Principal,
        status: AgentStatus,
    ) -> Result<AgentStatus> {
        let mut v = Violations::new();
        check_status_name(&mut v, "status.name", &status.name);
        v.required_text("status.alias", &status.alias, MAX_NAME_LEN);
        v.finish()?;
        self.access(principal)
            .await?
            .require(&[Role::Admin], "manage statuses")?;
        if status.name == "offline" && status.receives_tickets {
            return Err(Error::invalid(
                "status.receives_tickets",
                "offline never receives tickets",
            ));
        }
        self.store.upsert_agent_status(&status).await?;
        if status.receives_tickets {
            self.reconcile_routing().await?;
        }
        Ok(status)
    }

    /// Events of tickets the calling agent holds or held, resumable after an event id.
    pub async fn watch_my_tickets(
        &self,
        principal: &Principal,
        after_event_id: i64,
    ) -> Result<ReceiverStream<Result<super::tickets::WatchItem>>> {
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin],
            "watch own tickets",
        )?;
        let watch = WatchFilter {
            involving: Some(access.id().to_string()),
            ..WatchFilter::default()
        };
        // Having held the ticket is the right to hear about it, even once it moved on; the
        // ticket itself comes along only while it is still in the agent's scope.
        self.stream_events(watch, Scope::All, access.scope, after_event_id)
            .await
    }
}
