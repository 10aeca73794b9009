//! The lifecycle of DESIGN.md §3 as one transition table. `apply` checks the table, changes the
//! ticket, bumps its version once and returns the events to write with the change.
use crate::clock::Time;
use crate::domain::event::{EventType, NewEvent};
use crate::domain::reference::ResolutionStatus;
use crate::domain::sla;
use crate::domain::ticket::TicketStatus::{self, Assigned, Closed, Created, Escalated, OnHold};
use crate::domain::ticket::{
    Escalation, LinkCategory, Rating, Resolution, Severity, Ticket, TicketLink,
};
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};

/// Most links one ticket may carry (`LinkTicket` refuses more).
pub const MAX_LINKS: usize = 100;

/// A field-mask update, already validated: `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketPatch {
    pub subject: Option<String>,
    pub priority: Option<i32>,
    pub severity: Option<Severity>,
    pub ticket_type: Option<String>,
    pub tags: Option<Vec<String>>,
    pub content: Option<Map<String, Value>>,
    pub ccr: Option<String>,
    pub local_ccr: Option<String>,
    /// `(order_id, entity_id)`; an empty order id removes both.
    pub order: Option<(String, String)>,
    pub language: Option<String>,
    pub first_response_at: Option<Stamp>,
    pub picked_at: Option<Stamp>,
}

/// A time a patch sets: given by the client, or the server's clock when the change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Now,
    At(Time),
}

impl Stamp {
    fn at(self, now: Time) -> Time {
        match self {
            Stamp::Now => now,
            Stamp::At(time) => time,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Assign {
        agent: String,
    },
    Reassign {
        agent: String,
        reason: String,
    },
    Transfer {
        queue: String,
        reason: String,
    },
    Escalate {
        department: String,
        to_agent: String,
        status_reason: String,
        resolution_reason: String,
    },
    Hold {
        reason: String,
    },
    Resume,
    /// Closes the ticket's chat room (the ticket itself may stay open).
    CloseRoom {
        reason: String,
    },
    /// The silent customer is warned the chat will close (the warning timer is consumed).
    /// `close_at` names the timer the sweeper saw; a timer moved since is not this one.
    SlaWarning {
        close_at: Time,
    },
    /// The chat closes for customer silence: room and ticket, `CUSTOMER_LEFT_CHAT`.
    AutoClose {
        close_at: Time,
    },
    /// Back to the queue, unassigned (the agent went offline).
    Requeue {
        reason: String,
    },
    Handoff {
        queue: Option<String>,
        agent: Option<String>,
        reason: String,
    },
    Close {
        /// `NO_ACTION` when none is given.
        resolution: Option<ResolutionStatus>,
        resolution_reason: String,
        status_reason: String,
    },
    Reopen {
        reason: String,
        keep_assignee: bool,
    },
    Rate {
        score: i32,
        comment: String,
    },
    Link {
        link: TicketLink,
    },
    Workflow {
        event_type: EventType,
        workflow: String,
        details: Map<String, Value>,
    },
    Update(TicketPatch),
    /// Fires the SLA warnings and breaches due now (the sweeper); refused when none is.
    SlaCheck,
}

const OPEN: &[TicketStatus] = &[Created, Assigned, OnHold, Escalated];
const ANY: &[TicketStatus] = &[Created, Assigned, OnHold, Escalated, Closed];

impl Transition {
    /// The transition table: the statuses each transition may start from.
    pub fn allowed_from(&self) -> &'static [TicketStatus] {
        match self {
            Transition::Assign { .. } => &[Created],
            Transition::Reassign { .. } => &TicketStatus::ACTIVE,
            Transition::Transfer { .. } => OPEN,
            Transition::Escalate { .. } => &[Assigned, OnHold],
            Transition::Hold { .. } => &[Assigned],
            Transition::Resume => &[OnHold],
            Transition::Requeue { .. } => &[Assigned],
            Transition::CloseRoom { .. } => ANY,
            // Timers run only while an agent holds the chat.
            Transition::SlaWarning { .. } | Transition::AutoClose { .. } => &[Assigned],
            Transition::Handoff { .. } => &[Created],
            Transition::Close { .. } => OPEN,
            Transition::Reopen { .. } => &[Closed],
            Transition::Rate { .. } => &[Closed],
            Transition::Link { .. } | Transition::Workflow { .. } => ANY,
            Transition::Update(_) => OPEN,
            Transition::SlaCheck => ANY,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transition::Assign { .. } => "assign",
            Transition::Reassign { .. } => "reassign",
            Transition::Transfer { .. } => "transfer",
            Transition::Escalate { .. } => "escalate",
            Transition::Hold { .. } => "hold",
            Transition::Resume => "resume",
            Transition::Requeue { .. } => "requeue",
            Transition::CloseRoom { .. } => "close the room of",
            Transition::SlaWarning { .. } => "warn about",
            Transition::AutoClose { .. } => "auto-close",
            Transition::Handoff { .. } => "hand off",
            Transition::Close { .. } => "close",
            Transition::Reopen { .. } => "reopen",
            Transition::Rate { .. } => "rate",
            Transition::Link { .. } => "link",
            Transition::Workflow { .. } => "record a workflow event on",
            Transition::Update(_) => "update",
            Transition::SlaCheck => "check the SLA of",
        }
    }
}

fn refuse(ticket: &Ticket, why: &str) -> Error {
    Error::FailedPrecondition(format!("ticket {} {why}", ticket.id))
}

/// Applies `transition` to `ticket` at `now`, or refuses it with `FailedPrecondition`.
pub fn apply(
    ticket: &mut Ticket,
    transition: Transition,
    actor: &str,
    now: Time,
) -> Result<Vec<NewEvent>> {
    if !transition.allowed_from().contains(&ticket.status) {
        return Err(refuse(
            ticket,
            &format!(
                "is {}: cannot {} it",
                ticket.status.as_str(),
                transition.name()
            ),
        ));
    }
    let bot_held = ticket.bot_id.is_some();
    let mut events = match transition {
        Transition::Assign { agent } => {
            if bot_held {
                return Err(refuse(ticket, "is held by a bot: hand it off first"));
            }
            set_status(ticket, Assigned, "assigned", now);
            assign_to(ticket, &agent, now);
            vec![NewEvent::new(
                EventType::Assigned,
                json!({ "assignee": agent }),
            )]
        }
        Transition::Reassign { agent, reason } => {
            let from = ticket.assignee.clone().unwrap_or_default();
            if from == agent {
                return Err(refuse(ticket, "is already assigned to that agent"));
            }
            if let (Escalated, Some(escalation)) = (ticket.status, ticket.escalation.as_mut()) {
                escalation.to_agent = agent.clone();
            }
            assign_to(ticket, &agent, now);
            ticket.status_reason = reason.clone();
            vec![NewEvent::new(
                EventType::Reassigned,
                json!({ "from": from, "assignee": agent, "reason": reason }),
            )]
        }
        Transition::Transfer { queue, reason } => {
            if queue == ticket.queue && ticket.status == Created {
                return Err(refuse(ticket, "is already waiting in that queue"));
            }
            let from = std::mem::replace(&mut ticket.queue, queue.clone());
            unassign(ticket);
            ticket.escalation = None;
            set_status(ticket, Created, &reason, now);
            vec![NewEvent::new(
                EventType::Transferred,
                json!({ "from_queue": from, "queue": queue, "reason": reason }),
            )]
        }
        Transition::Escalate {
            department,
            to_agent,
            status_reason,
            resolution_reason,
        } => {
            let from_agent = ticket.assignee.clone().unwrap_or_default();
            if to_agent.is_empty() {
                unassign(ticket);
            } else {
                assign_to(ticket, &to_agent, now);
            }
            ticket.escalation = Some(Escalation {
                department: department.clone(),
                from_agent: from_agent.clone(),
                to_agent: to_agent.clone(),
                at: Some(now),
                status_reason: status_reason.clone(),
                resolution_reason,
            });
            set_status(ticket, Escalated, &status_reason, now);
            vec![NewEvent::new(
                EventType::Escalated,
                json!({ "department": department, "from_agent": from_agent, "to_agent": to_agent }),
            )]
        }
        Transition::Hold { reason } => {
            set_status(ticket, OnHold, &reason, now);
            vec![NewEvent::new(EventType::Held, json!({ "reason": reason }))]
        }
        Transition::Resume => {
            set_status(ticket, Assigned, "resumed", now);
            vec![NewEvent::new(EventType::Resumed, json!({}))]
        }
        Transition::SlaWarning { close_at } => {
            let due = ticket
                .metadata
                .auto_close_warning_at
                .is_some_and(|at| at <= now);
            if ticket.metadata.auto_close_at != Some(close_at) || !due {
                return Err(refuse(ticket, "has no warning due"));
            }
            ticket.metadata.auto_close_warning_at = None;
            vec![NewEvent::new(
                EventType::SlaWarning,
                json!({ "auto_close_at": close_at }),
            )]
        }
        Transition::AutoClose { close_at } => {
            if ticket.metadata.auto_close_at != Some(close_at) || close_at > now {
                return Err(refuse(ticket, "has no auto-close due"));
            }
            if let Some(agent) = &ticket.assignee {
                ticket.last_assignee = Some(agent.clone());
            }
            ticket.resolution = Some(Resolution {
                status: ResolutionStatus::CustomerLeftChat,
                reason: "the customer stopped answering".into(),
                closed_by: actor.to_string(),
                closed_at: now,
            });
            ticket.metadata.chat_room_closed = true;
            clear_chat_timers(ticket);
            set_status(ticket, Closed, "auto-closed", now);
            vec![NewEvent::new(
                EventType::AutoClosed,
                json!({ "resolution_status": ResolutionStatus::CustomerLeftChat.as_str() }),
            )]
        }
        Transition::CloseRoom { reason } => {
            if ticket.metadata.chat_room_closed {
                // Closing a closed room again changes nothing (a retry after a lost reply).
                return Ok(Vec::new());
            }
            ticket.metadata.chat_room_closed = true;
            clear_chat_timers(ticket);
            vec![NewEvent::new(
                EventType::ChatClosed,
                json!({ "room_id": ticket.metadata.room_id, "reason": reason }),
            )]
        }
        Transition::Requeue { reason } => {
            let from = ticket.assignee.clone().unwrap_or_default();
            unassign(ticket);
            set_status(ticket, Created, &reason, now);
            vec![NewEvent::new(
                EventType::Requeued,
                json!({ "from": from, "reason": reason }),
            )]
        }
        Transition::Handoff {
            queue,
            agent,
            reason,
        } => {
            let Some(bot) = ticket.bot_id.take() else {
                return Err(refuse(ticket, "is not held by a bot"));
            };
            if let Some(queue) = &queue {
                ticket.queue = queue.clone();
            }
            let mut payload = json!({ "bot_id": bot, "queue": ticket.queue, "reason": reason });
            if let Some(agent) = &agent {
                assign_to(ticket, agent, now);
                set_status(ticket, Assigned, &reason, now);
                payload["assignee"] = json!(agent);
            } else {
                ticket.status_reason = reason;
            }
            vec![NewEvent::new(EventType::HandedOff, payload)]
        }
        Transition::Close {
            resolution,
            resolution_reason,
            status_reason,
        } => {
            let resolution = resolution.unwrap_or(ResolutionStatus::NoAction);
            ticket.resolution = Some(Resolution {
                status: resolution,
                reason: resolution_reason.clone(),
                closed_by: actor.to_string(),
                closed_at: now,
            });
            if let Some(agent) = &ticket.assignee {
                ticket.last_assignee = Some(agent.clone());
            }
            clear_chat_timers(ticket);
            set_status(ticket, Closed, &status_reason, now);
            vec![NewEvent::new(
                EventType::Closed,
                json!({ "resolution_status": resolution.as_str(), "resolution_reason": resolution_reason }),
            )]
        }
        Transition::Reopen {
            reason,
            keep_assignee,
        } => {
            // Back to the queue; routing asks for `last_assignee` first when `keep_assignee`.
            unassign(ticket);
            ticket.resolution = None;
            ticket.rating = None;
            ticket.escalation = None;
            // The conversation goes on in the same room.
            ticket.metadata.chat_room_closed = false;
            set_status(ticket, Created, &reason, now);
            vec![NewEvent::new(
                EventType::Reopened,
                json!({ "reason": reason, "keep_assignee": keep_assignee }),
            )]
        }
        Transition::Rate { score, comment } => {
            if ticket.rating.is_some() {
                return Err(refuse(ticket, "is already rated"));
            }
            ticket.rating = Some(Rating {
                score,
                comment: comment.clone(),
                rated_at: now,
            });
            vec![NewEvent::new(
                EventType::Rated,
                json!({ "score": score, "comment": comment }),
            )]
        }
        Transition::Link { mut link } => {
            link.creator = actor.to_string();
            link.created_at = now;
            if ticket.metadata.children_links.len() >= MAX_LINKS {
                return Err(Error::ResourceExhausted(format!(
                    "ticket {} has {MAX_LINKS} links, the most a ticket may have",
                    ticket.id
                )));
            }
            if ticket.metadata.children_links.iter().any(|existing| {
                existing.ticket_id == link.ticket_id && existing.id_type == link.id_type
            }) {
                return Err(Error::AlreadyExists(format!(
                    "ticket {} is already linked to {}",
                    ticket.id, link.ticket_id
                )));
            }
            let payload = serde_json::to_value(&link).unwrap_or(Value::Null);
            let refund = matches!(
                link.category,
                LinkCategory::Refunded | LinkCategory::RefundPartial
            );
            ticket.metadata.children_links.push(link);
            let mut events = vec![NewEvent::new(EventType::Linked, payload.clone())];
            if refund {
                events.push(NewEvent::new(EventType::RefundCreated, payload));
            }
            events
        }
        Transition::Workflow {
            event_type,
            workflow,
            details,
        } => vec![NewEvent::new(
            event_type,
            json!({ "workflow": workflow, "details": details }),
        )],
        Transition::Update(patch) => {
            // Setting only the picked time is the agent picking the ticket up (seed 000's
            // UPDATE_PICKED_TIME): a PICKED event rather than a field update.
            let picked = patch.picked_at.is_some()
                && TicketPatch {
                    picked_at: None,
                    ..patch.clone()
                } == TicketPatch::default();
            let kind = if picked {
                EventType::Picked
            } else {
                EventType::UpdateField
            };
            vec![NewEvent::new(kind, apply_patch(ticket, patch, now))]
        }
        Transition::SlaCheck => Vec::new(),
    };
    if ticket.status != Assigned {
        // Chat timers run only while an agent holds the chat (not on hold, escalated,
        // transferred, requeued or closed).
        clear_chat_timers(ticket);
    }
    sla::track(ticket, &events, actor, now);
    events.extend(sla::observe(ticket, now));
    if events.is_empty() {
        return Err(refuse(ticket, "has no SLA warning or breach due"));
    }
    ticket.updated_at = now;
    ticket.version += 1;
    for event in &mut events {
        event.version = ticket.version;
    }
    Ok(events)
}

fn clear_chat_timers(ticket: &mut Ticket) {
    ticket.metadata.auto_close_warning_at = None;
    ticket.metadata.auto_close_at = None;
}

fn set_status(ticket: &mut Ticket, status: TicketStatus, reason: &str, now: Time) {
    ticket.status = status;
    ticket.status_reason = reason.to_string();
    ticket.status_changed_at = now;
}

fn assign_to(ticket: &mut Ticket, agent: &str, now: Time) {
    ticket.assignee = Some(agent.to_string());
    ticket.last_assignee = Some(agent.to_string());
    ticket.metadata.assigned_at = Some(now);
    ticket.metadata.picked_at = None;
}

fn unassign(ticket: &mut Ticket) {
    if let Some(agent) = ticket.assignee.take() {
        ticket.last_assignee = Some(agent);
    }
    ticket.metadata.assigned_at = None;
    ticket.metadata.picked_at = None;
}

/// Applies a patch and returns the names of the changed fields with their new values.
fn apply_patch(ticket: &mut Ticket, patch: TicketPatch, now: Time) -> Value {
    let mut changed = Map::new();
    if let Some(subject) = patch.subject {
        changed.insert("subject".into(), json!(subject));
        ticket.subject = subject;
    }
    if let Some(priority) = patch.priority {
        changed.insert("priority".into(), json!(priority));
        ticket.priority = priority;
    }
    if let Some(severity) = patch.severity {
        changed.insert("severity".into(), json!(severity.as_str()));
        ticket.severity = severity;
    }
    if let Some(ticket_type) = patch.ticket_type {
        changed.insert("type".into(), json!(ticket_type));
        ticket.ticket_type = ticket_type;
    }
    if let Some(tags) = patch.tags {
        changed.insert("tags".into(), json!(tags));
        ticket.metadata.tags = tags;
    }
    if let Some(content) = patch.content {
        changed.insert("content".into(), Value::Object(content.clone()));
        ticket.content = content;
    }
    if let Some(ccr) = patch.ccr {
        changed.insert("ccr".into(), json!(ccr));
        ticket.metadata.ccr = ccr;
    }
    if let Some(local_ccr) = patch.local_ccr {
        changed.insert("local_ccr".into(), json!(local_ccr));
        ticket.metadata.local_ccr = local_ccr;
    }
    if let Some((order_id, entity_id)) = patch.order {
        changed.insert("order_id".into(), json!(order_id));
        changed.insert("entity_id".into(), json!(entity_id));
        ticket.metadata.order_id = order_id;
        ticket.metadata.entity_id = entity_id;
    }
    if let Some(language) = patch.language {
        changed.insert("language".into(), json!(language));
        ticket.metadata.language = language;
    }
    if let Some(at) = patch.first_response_at.map(|stamp| stamp.at(now)) {
        changed.insert("first_response_at".into(), json!(at));
        ticket.metadata.first_response_at = Some(at);
    }
    if let Some(at) = patch.picked_at.map(|stamp| stamp.at(now)) {
        changed.insert("picked_at".into(), json!(at));
        ticket.metadata.picked_at = Some(at);
    }
    Value::Object(changed)
}
