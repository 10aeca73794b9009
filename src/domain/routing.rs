//! The routing choice of DESIGN.md §3, as pure functions over loads. `app::write` runs them
//! inside one write transaction, so the choice and the assignment cannot race.
use crate::clock::Time;
use crate::domain::{Agent, Ticket};

/// An agent as routing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentLoad {
    pub agent: Agent,
    /// Whether its status receives tickets.
    pub receiving: bool,
    /// Open tickets it holds (assigned, on hold, escalated to it).
    pub active: i64,
    pub last_assigned_at: Option<Time>,
}

impl AgentLoad {
    pub fn has_room(&self) -> bool {
        self.receiving && self.active < i64::from(self.agent.max_concurrent)
    }

    /// Serves the ticket's queue and speaks its language (when the agent lists languages).
    pub fn fits(&self, ticket: &Ticket) -> bool {
        self.agent.queues.contains(&ticket.queue)
            && (self.agent.languages.is_empty()
                || ticket.metadata.language.is_empty()
                || self.agent.languages.contains(&ticket.metadata.language))
    }
}

/// The agent a waiting ticket goes to: fitting and with room; least loaded first, then longest
/// since its last assignment, then by id (so the choice is deterministic). `preferred` (the
/// last agent, on reopen) wins when it fits and has room.
pub fn choose_agent<'a>(
    ticket: &Ticket,
    loads: &'a [AgentLoad],
    preferred: Option<&str>,
) -> Option<&'a AgentLoad> {
    let candidates = loads
        .iter()
        .filter(|load| load.has_room() && load.fits(ticket));
    if let Some(preferred) = preferred
        && let Some(load) = loads
            .iter()
            .find(|load| load.agent.id == preferred && load.has_room() && load.fits(ticket))
    {
        return Some(load);
    }
    candidates.min_by(|a, b| {
        a.active
            .cmp(&b.active)
            .then_with(|| a.last_assigned_at.cmp(&b.last_assigned_at))
            .then_with(|| a.agent.id.cmp(&b.agent.id))
    })
}

/// The order waiting tickets are taken in: the highest priority, then the oldest (lowest
/// number). The store's SQL reads them in this order; where it merges reads (one per queue)
/// it compares with this key.
pub fn waiting_order(ticket: &Ticket) -> (std::cmp::Reverse<i32>, i64) {
    (std::cmp::Reverse(ticket.priority), ticket.number)
}

/// The ticket an agent with room takes next: among waiting tickets it fits, the first in
/// [`waiting_order`] (`waiting` must be in that order already).
pub fn choose_ticket<'a>(load: &AgentLoad, waiting: &'a [Ticket]) -> Option<&'a Ticket> {
    if !load.has_room() {
        return None;
    }
    waiting
        .iter()
        .find(|ticket| ticket.is_waiting() && load.fits(ticket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentRole;

    fn load(id: &str, active: i64, last: Option<i64>) -> AgentLoad {
        AgentLoad {
            agent: Agent {
                id: id.into(),
                name: id.into(),
                role: AgentRole::Agent,
                status: "online".into(),
                status_alias: String::new(),
                last_login_at: None,
                status_updated_at: None,
                queues: vec!["q".into()],
                languages: vec!["en".into()],
                max_concurrent: 2,
            },
            receiving: true,
            active,
            last_assigned_at: last.map(crate::clock::from_micros),
        }
    }

    #[test]
    fn least_loaded_then_longest_idle() {
        let ticket: Ticket = serde_json::from_value(serde_json::json!({
            "id": "t", "number": 1, "external_id": null, "subject": "", "status": "CREATED",
            "status_reason": "", "status_changed_at": "2026-01-01T00:00:00Z", "priority": 0,
            "queue": "q", "channel": "chat", "ticket_type": "", "source": "", "assignee": null,
            "last_assignee": null, "bot_id": null, "customer": {"id": "c", "first_name": "",
            "last_name": "", "name": "", "email": "", "phone": "", "identities": []},
            "vendor": null, "content": {}, "metadata": {"ccr": "", "local_ccr": "", "country": "",
            "language": "en", "order_id": "", "entity_id": "", "sla_seconds": 0, "due_at": null,
            "tags": [], "children_links": [], "room_id": "", "assigned_at": null, "picked_at": null,
            "first_response_at": null, "auto_close_warning_at": null, "auto_close_at": null,
            "chat_room_closed": false}, "escalation": null, "resolution": null, "rating": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": 1
        }))
        .expect("ticket");
        let loads = vec![
            load("a", 1, None),
            load("b", 0, Some(20)),
            load("c", 0, Some(10)),
            load("d", 2, None),
        ];
        assert_eq!(
            choose_agent(&ticket, &loads, None).map(|l| l.agent.id.as_str()),
            Some("c")
        );
        assert_eq!(
            choose_agent(&ticket, &loads, Some("a")).map(|l| l.agent.id.as_str()),
            Some("a")
        );
        assert_eq!(
            choose_agent(&ticket, &loads, Some("d")).map(|l| l.agent.id.as_str()),
            Some("c"),
            "d is full"
        );
        let mut german = ticket.clone();
        german.metadata.language = "de".into();
        assert!(choose_agent(&german, &loads, None).is_none());
    }
}
