//! The rules every write shares, as steps over the store's transaction primitives: saving a
//! change with its events, creating a ticket, routing, adding a message. Each runs inside a
//! closure given to `Store::write`, so it commits or rolls back with the rest of the write;
//! every store runs the same steps.
use crate::clock::Time;
use crate::domain::conversation::{Attachment, AttachmentQuota, Message};
use crate::domain::query::Agents;
use crate::domain::routing::{self, AgentLoad};
use crate::domain::timers::{self, ChatTimers};
use crate::domain::{EventType, NewEvent, Ticket, TicketEvent, Transition, lifecycle, report};
use crate::error::{Error, Result};
use crate::store::{Before, IdempotencyKey, Tx};

/// The actor recorded on routing's events.
pub const ROUTING_ACTOR: &str = "routing";

/// A routing assignment or requeue, with the events it wrote.
pub type Routed = (Ticket, Vec<TicketEvent>);

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Ticket, Vec<TicketEvent>),
    /// The key was seen before with the same request: the ticket it created.
    Replayed(Ticket),
}

#[derive(Debug, Clone, PartialEq)]
pub enum MessageAdded {
    New(Message, TicketEvent),
    /// The sender's `client_message_id` was seen before: the message it created.
    Duplicate(Message),
}

/// Writes a changed ticket and its events if the stored version is still that of `original`
/// (the ticket as read before the change), with what it adds to the report counters (and,
/// once committed, to the breach counter); `None` when another change won. The room follows
/// the ticket's `chat_room_closed` (closed by CloseRoom or the auto-close, open again on
/// reopen), and an agent getting the ticket is recorded for routing's "longest idle".
pub async fn save_change(
    tx: &mut dyn Tx,
    ticket: &Ticket,
    original: &Ticket,
    actor: &str,
    events: Vec<NewEvent>,
) -> Result<Option<Vec<TicketEvent>>> {
    let Some(before) = tx.save_ticket(ticket, original).await? else {
        return Ok(None);
    };
    if ticket.metadata.chat_room_closed != original.metadata.chat_room_closed {
        tx.set_room_closed(
            &ticket.id,
            ticket.metadata.chat_room_closed,
            ticket.updated_at,
        )
        .await?;
    }
    if let Some(agent) = &ticket.assignee
        && before.assignee.as_ref() != Some(agent)
    {
        tx.record_assignment(agent, ticket.updated_at).await?;
    }
    let at = ticket.updated_at;
    let figures = report::delta(Some(original), ticket, &events, at);
    if !figures.is_empty() {
        tx.add_to_report(figures);
    }
    let stored = tx.insert_events(ticket, &before, actor, at, events).await?;
    super::sla::count_breaches(tx, &ticket.queue, &stored);
    Ok(Some(stored))
}

/// [`save_change`] of a ticket this transaction read for update, which no other change can
/// have won.
pub async fn save_locked_change(
    tx: &mut dyn Tx,
    ticket: &Ticket,
    original: &Ticket,
    actor: &str,
    events: Vec<NewEvent>,
) -> Result<Vec<TicketEvent>> {
    save_change(tx, ticket, original, actor, events)
        .await?
        .ok_or_else(|| Error::Internal("ticket changed inside its own transaction".into()))
}

/// Inserts a new ticket with its room and events, honouring the idempotency key: the same
/// key with the same request is the ticket it created, with another request a conflict.
pub async fn insert_new(
    tx: &mut dyn Tx,
    mut ticket: Ticket,
    actor: &str,
    events: Vec<NewEvent>,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Created> {
    if let Some(key) = idempotency
        && let Some((fingerprint, earlier)) = tx.ticket_by_idempotency_key(key).await?
    {
        if fingerprint != key.fingerprint {
            return Err(Error::AlreadyExists(
                "request_id was already used for a different request".into(),
            ));
        }
        return Ok(Created::Replayed(earlier));
    }
    ticket.number = tx.insert_ticket(&ticket, idempotency).await?;
    if !ticket.metadata.room_id.is_empty() {
        tx.insert_room(&ticket.metadata.room_id, &ticket).await?;
    }
    let before = Before {
        assignee: None,
        queue: ticket.queue.clone(),
    };
    let at = ticket.updated_at;
    tx.add_to_report(report::delta(None, &ticket, &events, at));
    let stored = tx
        .insert_events(&ticket, &before, actor, at, events)
        .await?;
    Ok(Created::New(ticket, stored))
}

/// Applies `transition` as routing and saves it.
async fn apply_and_save(
    tx: &mut dyn Tx,
    mut ticket: Ticket,
    transition: Transition,
    now: Time,
) -> Result<Routed> {
    let original = ticket.clone();
    let events = lifecycle::apply(&mut ticket, transition, ROUTING_ACTOR, now)?;
    let stored = save_locked_change(tx, &ticket, &original, ROUTING_ACTOR, events).await?;
    Ok((ticket, stored))
}

/// Gives a waiting ticket to the agent `routing::choose_agent` picks.
pub async fn route(
    tx: &mut dyn Tx,
    ticket: Ticket,
    preferred: Option<&str>,
    now: Time,
) -> Result<Option<Routed>> {
    if !ticket.is_waiting() {
        return Ok(None);
    }
    let loads = tx
        .agent_loads_for_update(Agents::Serving(&ticket.queue))
        .await?;
    let Some(load) = routing::choose_agent(&ticket, &loads, preferred) else {
        return Ok(None);
    };
    let agent = load.agent.id.clone();
    Ok(Some(
        apply_and_save(tx, ticket, Transition::Assign { agent }, now).await?,
    ))
}

/// While the agent receives and has room, gives it the best waiting ticket it fits.
pub async fn fill(tx: &mut dyn Tx, agent_id: &str, now: Time) -> Result<Vec<Routed>> {
    let mut routed = Vec::new();
    loop {
        let Some(load) = tx
            .agent_loads_for_update(Agents::One(agent_id))
            .await?
            .pop()
        else {
            return Ok(routed);
        };
        if !load.has_room() || load.agent.queues.is_empty() {
            return Ok(routed);
        }
        let waiting: Vec<Ticket> = tx.next_waiting_ticket(&load).await?.into_iter().collect();
        let Some(ticket) = routing::choose_ticket(&load, &waiting) else {
            return Ok(routed);
        };
        let agent = load.agent.id.clone();
        routed.push(apply_and_save(tx, ticket.clone(), Transition::Assign { agent }, now).await?);
    }
}

/// Puts the agent's assigned tickets of `channels` back in their queues (REQUEUED), unless
/// the agent is receiving again by now (a later status change won the race): it keeps them.
pub async fn requeue(
    tx: &mut dyn Tx,
    agent_id: &str,
    channels: &[String],
    now: Time,
) -> Result<Vec<Routed>> {
    let mut routed = Vec::new();
    // The tickets first, then the agent: the order every write takes rows in.
    let tickets = tx.assigned_tickets(agent_id).await?;
    let load = tx
        .agent_loads_for_update(Agents::One(agent_id))
        .await?
        .pop();
    if load.is_some_and(|load| load.receiving) {
        return Ok(routed);
    }
    for ticket in tickets {
        if channels.contains(&ticket.channel) {
            let transition = Transition::Requeue {
                reason: format!("{agent_id} went offline"),
            };
            routed.push(apply_and_save(tx, ticket, transition, now).await?);
        }
    }
    Ok(routed)
}

/// Whether the agent can take one more ticket itself: refused when it already holds its
/// capacity (supervisors, admins and services assigning by hand may override it).
pub async fn check_capacity(tx: &mut dyn Tx, agent_id: &str) -> Result<()> {
    let load: Option<AgentLoad> = tx
        .agent_loads_for_update(Agents::One(agent_id))
        .await?
        .pop();
    let capacity = load
        .as_ref()
        .map_or(0, |l| i64::from(l.agent.max_concurrent));
    if load.is_none_or(|l| l.active >= capacity) {
        return Err(Error::FailedPrecondition(format!(
            "{agent_id} already holds {capacity} tickets, its capacity"
        )));
    }
    Ok(())
}

/// Appends a message to its room, honouring its `client_message_id` (the same id with the
/// same message is that message, with another message a conflict); see [`append_message`].
pub async fn add_message(
    tx: &mut dyn Tx,
    message: Message,
    actor: &str,
    chat_timers: &ChatTimers,
) -> Result<MessageAdded> {
    if let Some(key) = &message.client_message_id
        && let Some(earlier) = tx
            .message_by_client_id(&message.room_id, &message.sender_id, key)
            .await?
    {
        if earlier.body != message.body
            || earlier.visible_to_customer != message.visible_to_customer
        {
            return Err(Error::AlreadyExists(
                "client_message_id was already used for a different message".into(),
            ));
        }
        return Ok(MessageAdded::Duplicate(earlier));
    }
    let ticket = tx
        .ticket_for_update(&message.ticket_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("ticket {}", message.ticket_id)))?;
    let (_, message, event) = append_message(tx, ticket, message, actor, chat_timers).await?;
    Ok(MessageAdded::New(message, event))
}

/// Appends a new message to the room of `ticket` (locked or written by this transaction),
/// applies `timers::on_message` to the ticket (first response, chat timers, reply metrics and
/// SLA clocks; a change bumps the version) and writes MESSAGE_ADDED after any SLA events the
/// message brought; returns the ticket as it is now. A ticket created
/// in the same transaction goes straight here: its room is new, so no earlier message can
/// share the key.
pub async fn append_message(
    tx: &mut dyn Tx,
    mut ticket: Ticket,
    mut message: Message,
    actor: &str,
    chat_timers: &ChatTimers,
) -> Result<(Ticket, Message, TicketEvent)> {
    if ticket.metadata.chat_room_closed {
        return Err(Error::FailedPrecondition(format!(
            "room {} is closed",
            message.room_id
        )));
    }
    message.seq = tx.insert_message(&message).await?;
    let original = ticket.clone();
    let sla_events = timers::on_message(
        &mut ticket,
        message.sender_type,
        message.visible_to_customer,
        message.created_at,
        chat_timers,
    );
    let changed = sla_events.is_some();
    if changed {
        ticket.version += 1;
        ticket.updated_at = message.created_at;
    }
    // The payload never carries the body: customers may watch their tickets' events, and
    // internal notes are not theirs to read.
    let added = NewEvent::new(
        EventType::MessageAdded,
        serde_json::json!({
            "message_id": message.id,
            "sender_type": message.sender_type.as_str(),
            "visible_to_customer": message.visible_to_customer,
        }),
    );
    // MESSAGE_ADDED last: it is the event this returns.
    let mut events: Vec<NewEvent> = sla_events.unwrap_or_default();
    events.push(added);
    for event in &mut events {
        event.version = ticket.version;
    }
    let mut stored = if changed {
        save_locked_change(tx, &ticket, &original, actor, events).await?
    } else {
        let before = Before::unchanged(&ticket);
        tx.insert_events(&ticket, &before, actor, message.created_at, events)
            .await?
    };
    let event = stored
        .pop()
        .ok_or_else(|| Error::Internal("no MESSAGE_ADDED event".into()))?;
    Ok((ticket, message, event))
}

/// Stores an attachment in the room of ticket `ticket_id` if the room is open and within its
/// quota. The ticket is locked first, so uploads to one room are counted one at a time (also
/// across replicas) and a close cannot slip in between.
pub async fn add_attachment(
    tx: &mut dyn Tx,
    ticket_id: &str,
    attachment: &Attachment,
    quota: &AttachmentQuota,
) -> Result<()> {
    let ticket = tx
        .ticket_for_update(ticket_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("room {}", attachment.room_id)))?;
    if ticket.metadata.chat_room_closed {
        return Err(Error::FailedPrecondition(format!(
            "room {} is closed",
            attachment.room_id
        )));
    }
    let usage = tx.attachment_usage(&attachment.room_id).await?;
    quota.admit(&attachment.room_id, usage, attachment.meta.size)?;
    tx.insert_attachment(attachment).await
}
