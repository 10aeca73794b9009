//! Timer maths of DESIGN.md §3: what a message does to its ticket's chat timers, and which
//! timer of a ticket is due.
use crate::clock::Time;
use crate::domain::conversation::SenderType;
use crate::domain::{NewEvent, Ticket, TicketStatus, sla};

/// Delays of the chat auto-close: after an agent's message, the customer is warned after
/// `warning_after` of silence and the chat closes after `close_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatTimers {
    pub warning_after: chrono::Duration,
    pub close_after: chrono::Duration,
}

impl Default for ChatTimers {
    fn default() -> Self {
        ChatTimers {
            warning_after: chrono::Duration::minutes(5),
            close_after: chrono::Duration::minutes(10),
        }
    }
}

/// Applies a new message to its ticket: an agent's visible message sets `first_response_at`
/// (once) and, on an open chat, starts the auto-close timers; a customer's message stops them.
/// The message also moves the ticket's reply metrics and SLA clocks. Returns `None` when the
/// ticket did not change, else the SLA events the message brought (the caller then bumps its
/// version).
pub fn on_message(
    ticket: &mut Ticket,
    sender: SenderType,
    visible: bool,
    now: Time,
    timers: &ChatTimers,
) -> Option<Vec<NewEvent>> {
    let mut changed = chat_timers(ticket, sender, visible, now, timers);
    let from_agent = sender == SenderType::Agent && visible;
    changed |= sla::on_message(ticket, sender == SenderType::Customer, from_agent, now);
    let events = sla::observe(ticket, now);
    if !changed && events.is_empty() {
        return None;
    }
    sla::track(ticket, &[], "", now);
    Some(events)
}

fn chat_timers(
    ticket: &mut Ticket,
    sender: SenderType,
    visible: bool,
    now: Time,
    timers: &ChatTimers,
) -> bool {
    let metadata = &mut ticket.metadata;
    match sender {
        SenderType::Agent if visible => {
            // A note on a closed ticket answers nobody waiting.
            if metadata.first_response_at.is_none() && ticket.status != TicketStatus::Closed {
                metadata.first_response_at = Some(now);
            }
            if ticket.channel == "chat"
                && ticket.status != TicketStatus::Closed
                && !metadata.chat_room_closed
            {
                metadata.auto_close_warning_at = Some(now + timers.warning_after);
                metadata.auto_close_at = Some(now + timers.close_after);
            }
            true
        }
        SenderType::Customer
            if metadata.auto_close_warning_at.is_some() || metadata.auto_close_at.is_some() =>
        {
            metadata.auto_close_warning_at = None;
            metadata.auto_close_at = None;
            true
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueTimer {
    /// Warn the silent customer.
    Warning,
    /// Close the chat.
    Close,
}

/// The timer of `ticket` due at `now`, closing first.
pub fn due(ticket: &Ticket, now: Time) -> Option<DueTimer> {
    if ticket.metadata.auto_close_at.is_some_and(|at| at <= now) {
        Some(DueTimer::Close)
    } else if ticket
        .metadata
        .auto_close_warning_at
        .is_some_and(|at| at <= now)
    {
        Some(DueTimer::Warning)
    } else {
        None
    }
}
