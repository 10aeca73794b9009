//! What a caller is shown of tickets and messages: customers see the staff who work on their
//! tickets by display name, never by id (an agent's id is its staff e-mail address).
use super::App;
use crate::domain::conversation::Message;
use crate::domain::{Principal, Ticket};
use crate::error::Result;
use std::collections::HashMap;

/// Whether the caller sees tickets as their customer does.
fn is_customer(principal: &Principal) -> bool {
    matches!(principal, Principal::Customer { .. })
}

impl App {
    /// `ticket` as `principal` may be shown it.
    pub(crate) async fn shown(&self, principal: &Principal, ticket: Ticket) -> Result<Ticket> {
        self.shown_all(principal, vec![ticket])
            .await?
            .pop()
            .ok_or_else(|| crate::error::Error::Internal("a shown ticket went missing".into()))
    }

    /// `tickets` as `principal` may be shown them; agents' names are read once for the lot.
    pub(crate) async fn shown_all(
        &self,
        principal: &Principal,
        tickets: Vec<Ticket>,
    ) -> Result<Vec<Ticket>> {
        if !is_customer(principal) {
            return Ok(tickets);
        }
        let mut names = HashMap::new();
        for ticket in &tickets {
            for id in ticket.staff_ids() {
                if let std::collections::hash_map::Entry::Vacant(entry) = names.entry(id) {
                    // An id without a profile is looked up again by the next ticket naming
                    // it; the memo answers that from memory.
                    if let Some(agent) = self.agent(entry.key()).await? {
                        entry.insert(agent.name);
                    }
                }
            }
        }
        Ok(tickets
            .into_iter()
            .map(|ticket| ticket.shown_to_customer(&names))
            .collect())
    }
}

/// `message` as `principal` may be shown it.
pub(crate) fn shown_message(principal: &Principal, message: Message) -> Message {
    if is_customer(principal) {
        message.shown_to_customer()
    } else {
        message
    }
}
