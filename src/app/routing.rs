//! Routing's one entry point. Every use case that may leave a ticket waiting or free an
//! agent's capacity ends in [`App::after_change`]; status changes call [`App::fill`]. The
//! choice itself is `domain::routing`, applied by `write::route` / `write::fill` inside one write.
use super::{App, write};
use crate::domain::Ticket;
use crate::error::Result;

impl App {
    /// After a committed change: route the ticket if it waits, and refill the agent that
    /// held it if the change freed that agent's capacity. Returns the ticket as it now is.
    /// Routing failures are logged, not returned: the caller's change is already durable, and
    /// the next trigger routes again.
    pub(crate) async fn after_change(
        &self,
        holder: Option<String>,
        ticket: Ticket,
        preferred: Option<String>,
    ) -> Ticket {
        let mut current = ticket;
        if current.is_waiting() {
            let (ticket_id, now) = (current.id.clone(), self.clock.now());
            let routed = self
                .store
                .write(move |tx| {
                    let (ticket_id, preferred) = (ticket_id.clone(), preferred.clone());
                    Box::pin(async move {
                        let Some(ticket) = tx.ticket_for_update(&ticket_id).await? else {
                            return Ok(None);
                        };
                        write::route(tx, ticket, preferred.as_deref(), now).await
                    })
                })
                .await;
            match routed {
                Ok(Some((routed, _))) => current = routed,
                Ok(None) => {}
                Err(error) => tracing::error!(%error, ticket_id = %current.id, "routing failed"),
            }
        }
        let still_holds = current.assignee == holder && current.status.is_active();
        if let Some(agent) = holder.filter(|_| !still_holds)
            && let Err(error) = self.fill(&agent).await
        {
            tracing::error!(%error, agent, "refilling an agent failed");
        }
        current
    }

    /// Gives `agent_id` waiting tickets while it receives and has room.
    pub(crate) async fn fill(&self, agent_id: &str) -> Result<Vec<Ticket>> {
        let (agent_id, now) = (agent_id.to_string(), self.clock.now());
        let routed = self
            .store
            .write(move |tx| {
                let agent_id = agent_id.clone();
                Box::pin(async move { write::fill(tx, &agent_id, now).await })
            })
            .await?;
        Ok(routed.into_iter().map(|(ticket, _)| ticket).collect())
    }

    /// Refills every agent in a receiving status: the safety net for triggers a crash or a
    /// restart swallowed. Run at start-up and now and then by the sweeper.
    pub async fn reconcile_routing(&self) -> Result<()> {
        for status in self.store.list_agent_statuses().await? {
            if !status.receives_tickets {
                continue;
            }
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .list_agents(None, Some(&status.name), after.as_deref(), 200)
                    .await?;
                for agent in &page {
                    self.fill(&agent.id).await?;
                }
                match page.last() {
                    Some(last) if page.len() == 200 => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Puts the agent's open tickets of the configured channels back in their queues and
    /// routes them to others.
    pub(crate) async fn requeue(&self, agent_id: &str) -> Result<()> {
        let (agent_id, now) = (agent_id.to_string(), self.clock.now());
        let channels = self.config.requeue_channels.clone();
        let routed = self
            .store
            .write(move |tx| {
                let (agent_id, channels) = (agent_id.clone(), channels.clone());
                Box::pin(async move { write::requeue(tx, &agent_id, &channels, now).await })
            })
            .await?;
        for (ticket, _) in routed {
            self.after_change(None, ticket, None).await;
        }
        Ok(())
    }
}
