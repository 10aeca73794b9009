//! Ticket use cases: create, read, list, every lifecycle change, the audit trail, customer
//! history, reference data, queue depth and the live event stream.
use super::access::Access;
use super::conversations::server_message;
use super::feed::Batch;
use super::validate::{
    self, MAX_ID_LEN, MAX_NAME_LEN, MAX_SUBJECT_LEN, MAX_TEXT_LEN, Violations, non_empty,
};
use super::write::{self, Created};
use super::{App, paging};
use crate::domain::conversation::SenderType;
use crate::domain::lifecycle::{self, TicketPatch};
use crate::domain::query::{
    QueueStats, TicketFilter, TicketKey, TicketOrder, TicketQuery, WatchFilter, Watched,
};
use crate::domain::sla::{self, TicketMetrics, TicketSla};
use crate::domain::{
    Customer, EscalationDepartment, EventType, Metadata, NewEvent, Principal, Queue,
    ResolutionStatus, Role, Severity, Ticket, TicketEvent, TicketStatus, Transition, Vendor,
};
use crate::error::{Error, Result};
use crate::store::IdempotencyKey;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::ReceiverStream;

/// Attempts of an optimistic change before giving up under contention.
const MAX_ATTEMPTS: usize = 64;

/// Most tickets `my_open_tickets` returns in its one response.
pub const MY_OPEN_TICKETS_CAP: i64 = 500;

/// How far back `customer_history` pages: the rows one page may skip.
const MAX_HISTORY_SKIP: i64 = 10_000;

/// CreateTicket's input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewTicket {
    pub request_id: Option<String>,
    pub external_id: Option<String>,
    pub subject: String,
    pub priority: i32,
    pub severity: Severity,
    pub queue: String,
    pub channel: String,
    pub ticket_type: String,
    pub source: String,
    pub bot_id: Option<String>,
    pub customer: Customer,
    pub vendor: Option<Vendor>,
    pub content: Map<String, Value>,
    pub ccr: String,
    pub local_ccr: String,
    pub country: String,
    pub language: String,
    pub order_id: String,
    pub entity_id: String,
    pub sla_seconds: i64,
    pub tags: Vec<String>,
    pub initial_message: Option<String>,
    pub close_immediately: bool,
    pub resolution: Option<ResolutionStatus>,
    /// Refused when given: it is computed from the SLA.
    pub due_at: Option<crate::clock::Time>,
}

/// ListTickets' input.
#[derive(Debug, Clone, Default)]
pub struct ListTickets {
    pub filter: TicketFilter,
    pub order: TicketOrder,
    pub page_size: i64,
    pub page_token: String,
    pub include_total_size: bool,
}

#[derive(Debug, Clone)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub next_page_token: String,
    pub total_size: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<TicketEvent>,
    pub next_page_token: String,
}

#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub tickets: Vec<Ticket>,
    pub page: i64,
    pub page_size: i64,
    pub total_size: i64,
}

fn check_priority(v: &mut Violations, field: &str, priority: i32) {
    if !(0..=4).contains(&priority) {
        v.add(field, "must be between 0 (not set) and 4 (urgent)");
    }
}

fn check_tags(v: &mut Violations, field: &str, tags: &[String]) {
    if tags.len() > validate::MAX_TAGS {
        v.add(
            field,
            format!("must have at most {} tags", validate::MAX_TAGS),
        );
    }
    v.list(field, tags, MAX_NAME_LEN);
}

fn check_content(v: &mut Violations, field: &str, content: &Map<String, Value>) {
    if serde_json::to_vec(content).map_or(0, |bytes| bytes.len()) > validate::MAX_CONTENT_BYTES {
        v.add(
            field,
            format!(
                "must encode to at most {} bytes",
                validate::MAX_CONTENT_BYTES
            ),
        );
    }
}

fn check_new_ticket(new: &NewTicket) -> Result<()> {
    let mut v = Violations::new();
    if let Some(request_id) = &new.request_id {
        v.optional_id("request_id", request_id);
    }
    if let Some(external_id) = &new.external_id {
        v.optional_id("external_id", external_id);
    }
    v.text("subject", &new.subject, MAX_SUBJECT_LEN);
    check_priority(&mut v, "priority", new.priority);
    v.id("queue", &new.queue);
    v.id("channel", &new.channel);
    v.optional_id("type", &new.ticket_type);
    v.optional_id("source", &new.source);
    if let Some(bot_id) = &new.bot_id {
        v.optional_id("bot_id", bot_id);
    }
    v.id("customer.id", &new.customer.id);
    for (field, value) in [
        ("customer.first_name", &new.customer.first_name),
        ("customer.last_name", &new.customer.last_name),
        ("customer.name", &new.customer.name),
        ("customer.email", &new.customer.email),
        ("customer.phone", &new.customer.phone),
    ] {
        v.text(field, value, MAX_NAME_LEN);
    }
    for (i, identity) in new.customer.identities.iter().enumerate() {
        v.id(
            &format!("customer.identities[{i}].channel"),
            &identity.channel,
        );
        v.id(
            &format!("customer.identities[{i}].social_id"),
            &identity.social_id,
        );
    }
    if let Some(vendor) = &new.vendor {
        v.optional_id("vendor.id", &vendor.id);
    }
    check_content(&mut v, "content", &new.content);
    v.optional_id("metadata.ccr", &new.ccr);
    v.text("metadata.local_ccr", &new.local_ccr, MAX_NAME_LEN);
    v.optional_id("metadata.country", &new.country);
    v.optional_id("metadata.language", &new.language);
    v.optional_id("metadata.order_id", &new.order_id);
    v.optional_id("metadata.entity_id", &new.entity_id);
    if !new.order_id.is_empty() && new.entity_id.is_empty() {
        v.add("metadata.entity_id", "is required with metadata.order_id");
    }
    if !(0..=365 * 24 * 3600).contains(&new.sla_seconds) {
        v.add("metadata.sla_seconds", "must be between 0 and one year");
    }
    check_tags(&mut v, "metadata.tags", &new.tags);
    if let Some(message) = &new.initial_message {
        v.text("initial_message", message, validate::MAX_MESSAGE_LEN);
    }
    if new.due_at.is_some() {
        v.add(
            "metadata.due_at",
            "is computed from sla_seconds; leave it unset",
        );
    }
    if new.resolution.is_some() && !new.close_immediately {
        v.add(
            "resolution_status",
            "is only allowed with close_immediately",
        );
    }
    v.finish()
}

fn fingerprint(new: &NewTicket) -> String {
    let encoded = serde_json::to_vec(new).unwrap_or_default();
    Sha256::digest(&encoded)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl App {
    /// The server's time (the injectable clock).
    pub fn now(&self) -> crate::clock::Time {
        self.clock.now()
    }

    /// The ticket `key` names, if the caller may see it. A ticket it may not see is refused
    /// exactly like a missing one, worded from `key` (see `ticket_not_found`).
    pub(crate) async fn load(&self, access: &Access, key: &TicketKey) -> Result<Ticket> {
        let not_found = || ticket_not_found(key);
        let ticket = match key {
            // An id wins over another ticket's equal external id.
            TicketKey::Reference(reference) => match self
                .store
                .get_ticket(&TicketKey::Id(reference.clone()))
                .await?
            {
                Some(ticket) => Some(ticket),
                None => {
                    self.store
                        .get_ticket(&TicketKey::ExternalId(reference.clone()))
                        .await?
                }
            },
            key => self.store.get_ticket(key).await?,
        };
        let ticket = ticket.ok_or_else(not_found)?;
        // A ticket hidden from the caller reads exactly like a missing one.
        access.can_see(&ticket).map_err(|error| match error {
            Error::NotFound(_) => not_found(),
            other => other,
        })?;
        Ok(ticket)
    }

    async fn check_ccr(&self, field: &str, code: &str) -> Result<()> {
        if !code.is_empty() && !self.store.is_ccr_leaf(code).await? {
            return Err(Error::invalid(
                field,
                format!("{code} is not a level-3 CCR code"),
            ));
        }
        Ok(())
    }

    async fn check_agent(&self, field: &str, agent_id: &str) -> Result<()> {
        if self.agent(agent_id).await?.is_none() {
            return Err(Error::invalid(field, format!("unknown agent {agent_id}")));
        }
        Ok(())
    }

    pub(crate) async fn check_queue(&self, field: &str, queue_id: &str) -> Result<Queue> {
        self.queue(queue_id)
            .await?
            .ok_or_else(|| Error::invalid(field, format!("unknown queue {queue_id}")))
    }

    #[tracing::instrument(skip_all, fields(queue = %new.queue))]
    /// Runs to completion even if the caller goes away, so a committed change is always
    /// routed and announced.
    pub async fn create_ticket(&self, principal: &Principal, new: NewTicket) -> Result<Ticket> {
        let (app, principal) = (self.clone(), principal.clone());
        self.detached(async move { app.create_ticket_attached(&principal, new).await })
            .await
    }

    async fn create_ticket_attached(
        &self,
        principal: &Principal,
        new: NewTicket,
    ) -> Result<Ticket> {
        let access = self.access(principal).await?;
        // Customers reach support through a channel (a bot or a service acting for them
        // creates the ticket); they do not pick queues, priorities or legacy ids themselves.
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "create tickets",
        )?;
        check_new_ticket(&new)?;
        let queue = self.check_queue("queue", &new.queue).await?;
        self.check_ccr("metadata.ccr", &new.ccr).await?;

        let now = self.now();
        let actor = principal.actor();
        let idempotency = new.request_id.clone().map(|key| IdempotencyKey {
            scope: actor.clone(),
            key,
            fingerprint: fingerprint(&new),
        });
        let sla_seconds = match new.sla_seconds {
            0 if queue.default_sla_seconds > 0 => queue.default_sla_seconds,
            0 => self.config.default_sla_seconds,
            given => given,
        };
        let mut ticket = Ticket {
            id: uuid::Uuid::now_v7().to_string(),
            number: 0,
            external_id: new.external_id.clone(),
            subject: new.subject.clone(),
            status: TicketStatus::Created,
            status_reason: "created".into(),
            status_changed_at: now,
            priority: new.priority,
            severity: new.severity,
            queue: new.queue.clone(),
            channel: new.channel.clone(),
            ticket_type: new.ticket_type.clone(),
            source: new.source.clone(),
            assignee: None,
            last_assignee: None,
            bot_id: new.bot_id.clone(),
            customer: new.customer.clone(),
            vendor: new.vendor.clone(),
            content: new.content.clone(),
            metadata: Metadata {
                ccr: new.ccr.clone(),
                local_ccr: new.local_ccr.clone(),
                country: new.country.clone(),
                language: new.language.clone(),
                order_id: new.order_id.clone(),
                entity_id: new.entity_id.clone(),
                sla_seconds,
                due_at: Some(now + chrono::Duration::seconds(sla_seconds)),
                tags: new.tags.clone(),
                room_id: uuid::Uuid::now_v7().to_string(),
                ..Metadata::default()
            },
            escalation: None,
            resolution: None,
            rating: None,
            sla: TicketSla {
                targets: self.sla_targets(&new.queue, new.severity).await?,
                ..TicketSla::default()
            },
            metrics: TicketMetrics::default(),
            created_at: now,
            updated_at: now,
            version: 1,
            unread_count: 0,
        };
        sla::track(&mut ticket, &[], &actor, now);
        sla::observe(&mut ticket, now);
        let mut created = NewEvent::new(
            EventType::Created,
            json!({ "queue": ticket.queue, "channel": ticket.channel, "bot_id": ticket.bot_id }),
        );
        created.version = 1;
        let mut events = vec![created];
        if new.close_immediately {
            events.extend(lifecycle::apply(
                &mut ticket,
                Transition::Close {
                    resolution: new.resolution,
                    resolution_reason: String::new(),
                    status_reason: "raised and closed".into(),
                },
                &actor,
                now,
            )?);
        }
        let (initial_message, chat_timers) = (new.initial_message, self.config.chat_timers);
        let created = self
            .store
            .write(move |tx| {
                let (ticket, actor) = (ticket.clone(), actor.clone());
                let (events, idempotency) = (events.clone(), idempotency.clone());
                let initial_message = initial_message.clone();
                Box::pin(async move {
                    let created =
                        write::insert_new(tx, ticket, &actor, events, idempotency.as_ref()).await?;
                    // The initial message and routing in the same transaction: a new ticket
                    // never lacks its first message nor waits while a fitting agent has room,
                    // and costs one commit.
                    let Created::New(mut ticket, mut events) = created else {
                        return Ok(created);
                    };
                    if let Some(body) = initial_message {
                        let customer = ticket.customer.clone();
                        let message = server_message(
                            &ticket,
                            (SenderType::Customer, &customer.id, &customer.name),
                            format!("initial-{}", ticket.id),
                            body,
                            ticket.created_at,
                        );
                        let (now, _, event) =
                            write::append_message(tx, ticket, message, &customer.id, &chat_timers)
                                .await?;
                        ticket = now;
                        events.push(event);
                    }
                    let now = ticket.created_at;
                    Ok(match write::route(tx, ticket.clone(), None, now).await? {
                        Some((routed, assigned)) => {
                            events.extend(assigned);
                            Created::New(routed, events)
                        }
                        None => Created::New(ticket, events),
                    })
                })
            })
            .await?;
        let (ticket, created) = match created {
            Created::New(ticket, _) => (ticket, true),
            Created::Replayed(ticket) => (ticket, false),
        };
        // A new ticket was routed with its insert; a replayed one may still wait if the first
        // attempt's caller went away.
        if !created && ticket.is_waiting() {
            return Ok(self.after_change(None, ticket, None).await);
        }
        Ok(ticket)
    }

    pub async fn get_ticket(&self, principal: &Principal, key: TicketKey) -> Result<Ticket> {
        let mut v = Violations::new();
        check_key(&mut v, "id", &key);
        v.finish()?;
        let access = self.access(principal).await?;
        let ticket = self.load(&access, &key).await?;
        self.shown(principal, ticket).await
    }

    pub async fn list_tickets(
        &self,
        principal: &Principal,
        list: ListTickets,
    ) -> Result<TicketPage> {
        let access = self.access(principal).await?;
        let mut page = self.list_in_scope(access.scope, list).await?;
        page.tickets = self.shown_all(principal, page.tickets).await?;
        Ok(page)
    }

    /// Tickets assigned to the calling agent (AgentService.ListMyTickets, REST /v1/tickets).
    pub async fn list_my_tickets(
        &self,
        principal: &Principal,
        mut list: ListTickets,
    ) -> Result<TicketPage> {
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin],
            "list own tickets",
        )?;
        // Mine by definition: the assignee fields of the filter do not apply.
        list.filter.assignee = Some(access.id().to_string());
        list.filter.unassigned = false;
        self.list_in_scope(access.scope, list).await
    }

    /// The calling agent's open tickets (assigned, on hold, or escalated to it), oldest
    /// first, in one response of at most `MY_OPEN_TICKETS_CAP` (the blueprints' GET
    /// /v1/tickets, which has no paging).
    pub async fn my_open_tickets(&self, principal: &Principal) -> Result<Vec<Ticket>> {
        let list = ListTickets {
            filter: TicketFilter {
                statuses: TicketStatus::ALL
                    .into_iter()
                    .filter(|status| status.is_open())
                    .collect(),
                ..TicketFilter::default()
            },
            order: TicketOrder::CreatedAsc,
            page_size: MY_OPEN_TICKETS_CAP,
            ..ListTickets::default()
        };
        Ok(self.list_my_tickets(principal, list).await?.tickets)
    }

    /// Start-up check: the configured default escalation department exists.
    pub async fn check_default_escalation_department(&self) -> Result<()> {
        match &self.config.default_escalation_department {
            Some(department) if self.department(department).await?.is_none() => {
                Err(Error::invalid(
                    "default_escalation_department",
                    format!("unknown escalation department {department}"),
                ))
            }
            _ => Ok(()),
        }
    }

    async fn list_in_scope(
        &self,
        scope: crate::domain::query::Scope,
        list: ListTickets,
    ) -> Result<TicketPage> {
        let mut v = Violations::new();
        v.page_size("page_size", list.page_size);
        check_filter(&mut v, &list.filter);
        v.finish()?;
        let query_key = format!("{:?}|{:?}|{:?}", list.filter, list.order, scope);
        let after = paging::decode(&list.page_token, &query_key, "page_token")?;
        let limit = if list.page_size == 0 {
            50
        } else {
            list.page_size
        };
        let now = self.now();
        let mut query = TicketQuery {
            filter: list.filter,
            scope,
            order: list.order,
            after,
            limit: limit + 1,
            offset: 0,
            now,
        };
        let mut tickets = self.store.list_tickets(&query).await?;
        let next_page_token = if tickets.len() as i64 > limit {
            tickets.truncate(limit as usize);
            tickets
                .last()
                .map(|last| paging::encode(query.order.cursor_of(last), &query_key))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let total_size = if list.include_total_size {
            query.after = None;
            Some(
                self.store
                    .count_tickets(&query.filter, &query.scope, now)
                    .await?,
            )
        } else {
            None
        };
        Ok(TicketPage {
            tickets,
            next_page_token,
            total_size,
        })
    }

    /// Validates and applies one lifecycle change with optimistic concurrency: reload and
    /// retry when another change won, unless the caller pinned `expected_version`.
    /// Runs to completion even if the caller goes away, so a committed change is always
    /// routed and announced.
    pub async fn change_ticket(
        &self,
        principal: &Principal,
        key: TicketKey,
        expected_version: i64,
        transition: Transition,
    ) -> Result<Ticket> {
        let (ticket, _) = self
            .change_ticket_with_events(principal, key, expected_version, transition)
            .await?;
        self.shown(principal, ticket).await
    }

    /// `change_ticket`, also returning the events its change wrote.
    async fn change_ticket_with_events(
        &self,
        principal: &Principal,
        key: TicketKey,
        expected_version: i64,
        transition: Transition,
    ) -> Result<(Ticket, Vec<TicketEvent>)> {
        let (app, principal) = (self.clone(), principal.clone());
        self.detached(async move {
            app.change_ticket_attached(&principal, key, expected_version, transition)
                .await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(ticket_id, transition = transition.name()))]
    async fn change_ticket_attached(
        &self,
        principal: &Principal,
        mut key: TicketKey,
        expected_version: i64,
        mut transition: Transition,
    ) -> Result<(Ticket, Vec<TicketEvent>)> {
        match (&mut transition, principal) {
            // An agent assigning without naming anyone takes the ticket itself.
            (Transition::Assign { agent }, Principal::Agent { id, .. }) if agent.is_empty() => {
                agent.clone_from(id);
            }
            // An escalation naming neither department nor person goes to the default
            // department (the blueprints' v1 escalate names none).
            (
                Transition::Escalate {
                    department,
                    to_agent,
                    ..
                },
                _,
            ) if department.is_empty() && to_agent.is_empty() => {
                if let Some(default) = &self.config.default_escalation_department {
                    department.clone_from(default);
                }
            }
            _ => {}
        }
        let mut v = Violations::new();
        check_key(&mut v, "ticket_id", &key);
        if expected_version < 0 {
            v.add("expected_version", "must not be negative");
        }
        check_transition(&mut v, &transition);
        v.finish()?;
        let access = self.access(principal).await?;
        // Agents taking tickets themselves stay within their capacity (supervisors, admins and
        // services assigning by hand may override it); checked inside the write.
        let capacity_of = match (access.role, &transition) {
            (Role::Agent, Transition::Assign { agent }) => Some(agent.clone()),
            _ => None,
        };
        let actor = principal.actor();
        // Retries reload by id; a ticket that meanwhile left the caller's sight is still
        // refused in the words of the key the caller sent.
        let asked = key.clone();
        for attempt in 0..MAX_ATTEMPTS {
            let mut ticket = self
                .load(&access, &key)
                .await
                .map_err(|error| match error {
                    Error::NotFound(_) => ticket_not_found(&asked),
                    other => other,
                })?;
            // Retries reload by id: the ticket named first is the one changed.
            key = TicketKey::Id(ticket.id.clone());
            tracing::Span::current().record("ticket_id", ticket.id.as_str());
            access.can_apply(&ticket, &transition)?;
            if attempt == 0 {
                // Only once the caller may act on the ticket: names it gives (agents, queues,
                // departments) are not an oracle for strangers.
                self.check_references(&transition).await?;
            }
            if expected_version > 0 && ticket.version != expected_version {
                return Err(version_mismatch(&ticket, expected_version));
            }
            let original = ticket.clone();
            let holder = ticket.assignee.clone();
            let now = self.now();
            let events = lifecycle::apply(&mut ticket, transition.clone(), &actor, now)?;
            if events.is_empty() {
                // Nothing to change (e.g. closing a closed room): the ticket as it is.
                return Ok((ticket, Vec::new()));
            }
            if ticket.queue != original.queue || ticket.severity != original.severity {
                // Another queue or severity: the policy that applies to it now.
                let targets = self.sla_targets(&ticket.queue, ticket.severity).await?;
                sla::rebase(&mut ticket, targets, now);
            }
            let saved = {
                let (changed, original, actor, capacity_of) = (
                    ticket.clone(),
                    original.clone(),
                    actor.clone(),
                    capacity_of.clone(),
                );
                self.store
                    .write(move |tx| {
                        let (ticket, original, actor) =
                            (changed.clone(), original.clone(), actor.clone());
                        let (events, capacity_of) = (events.clone(), capacity_of.clone());
                        Box::pin(async move {
                            if let Some(agent) = &capacity_of {
                                // The ticket first, then the agent: every write takes rows in
                                // that order, so two writes never wait on each other.
                                tx.ticket_for_update(&ticket.id).await?;
                                write::check_capacity(tx, agent).await?;
                            }
                            write::save_change(tx, &ticket, &original, &actor, events).await
                        })
                    })
                    .await?
            };
            match saved {
                Some(events) => {
                    let preferred = match &transition {
                        Transition::Reopen {
                            keep_assignee: true,
                            ..
                        } => ticket.last_assignee.clone(),
                        _ => None,
                    };
                    let ticket = self.after_change(holder, ticket, preferred).await;
                    return Ok((ticket, events));
                }
                None if expected_version > 0 => {
                    return Err(Error::Aborted(format!(
                        "ticket {} changed concurrently; expected version {expected_version}",
                        ticket.id
                    )));
                }
                None => continue,
            }
        }
        Err(Error::Aborted(
            "the ticket is changing too often; retry".into(),
        ))
    }

    /// References a transition names must exist.
    async fn check_references(&self, transition: &Transition) -> Result<()> {
        match transition {
            Transition::Assign { agent } => self.check_agent("agent_id", agent).await,
            Transition::Reassign { agent, .. } => self.check_agent("agent_id", agent).await,
            Transition::Transfer { queue, .. } => {
                self.check_queue("queue_id", queue).await.map(drop)
            }
            Transition::Escalate {
                department,
                to_agent,
                ..
            } => {
                if !department.is_empty() && self.department(department).await?.is_none() {
                    return Err(Error::invalid(
                        "department",
                        format!("unknown escalation department {department}"),
                    ));
                }
                if !to_agent.is_empty() {
                    self.check_agent("to_agent", to_agent).await?;
                }
                Ok(())
            }
            Transition::Handoff { queue, agent, .. } => {
                if let Some(queue) = queue {
                    self.check_queue("queue_id", queue).await?;
                }
                if let Some(agent) = agent {
                    self.check_agent("agent_id", agent).await?;
                }
                Ok(())
            }
            Transition::Update(patch) => match &patch.ccr {
                Some(ccr) => self.check_ccr("ticket.metadata.ccr", ccr).await,
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Records an external workflow's progress; returns the event.
    pub async fn record_workflow_event(
        &self,
        principal: &Principal,
        key: TicketKey,
        expected_version: i64,
        transition: Transition,
    ) -> Result<TicketEvent> {
        let (_, events) = self
            .change_ticket_with_events(principal, key, expected_version, transition)
            .await?;
        events
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("the workflow change wrote no event".into()))
    }

    pub async fn list_ticket_events(
        &self,
        principal: &Principal,
        key: TicketKey,
        page_size: i64,
        page_token: &str,
    ) -> Result<EventPage> {
        let mut v = Violations::new();
        check_key(&mut v, "ticket_id", &key);
        v.page_size("page_size", page_size);
        v.finish()?;
        let access = self.access(principal).await?;
        if access.role == Role::Customer {
            return Err(Error::PermissionDenied(
                "customers may not read the audit trail".into(),
            ));
        }
        let ticket = self.load(&access, &key).await?;
        let after = paging::decode(page_token, &ticket.id, "page_token")?.map_or(0, |c| c.number);
        let limit = if page_size == 0 { 100 } else { page_size };
        let mut events = self.store.list_events(&ticket.id, after, limit + 1).await?;
        let next_page_token = if events.len() as i64 > limit {
            events.truncate(limit as usize);
            let last = events.last().map_or(0, |e| e.id);
            paging::encode(
                crate::domain::query::Cursor {
                    sort_value: 0,
                    number: last,
                },
                &ticket.id,
            )
        } else {
            String::new()
        };
        Ok(EventPage {
            events,
            next_page_token,
        })
    }

    /// A customer's tickets, newest first (seed 000's `TicketHistoryResponse`).
    /// `ticket`, when given, names a ticket whose customer's history is read.
    pub async fn customer_history(
        &self,
        principal: &Principal,
        customer_id: &str,
        ticket: Option<TicketKey>,
        page: i64,
        page_size: i64,
    ) -> Result<HistoryPage> {
        let mut v = Violations::new();
        v.optional_id("customer_id", customer_id);
        if let Some(key) = &ticket {
            check_key(&mut v, "ticket_id", key);
        }
        if customer_id.is_empty() && ticket.is_none() {
            v.add("customer_id", "customer_id or ticket_id is required");
        }
        v.page_size("page_size", page_size);
        let page_size = if page_size == 0 { 10 } else { page_size };
        // Each page skips the rows before it: bounded, so no call makes the store walk
        // millions of rows (a customer's older tickets page on with ListTickets).
        if page < 0 || page.max(1).saturating_sub(1).saturating_mul(page_size) > MAX_HISTORY_SKIP {
            v.add(
                "page",
                format!(
                    "must be from 0 to {}: history pages reach back {MAX_HISTORY_SKIP} tickets",
                    MAX_HISTORY_SKIP / page_size.max(1) + 1
                ),
            );
        }
        v.finish()?;
        let access = self.access(principal).await?;
        let customer_id = if let Some(key) = &ticket {
            self.load(&access, key).await?.customer.id
        } else {
            // Without a ticket to anchor it, only principals who see every queue may browse.
            let browses_all = matches!(access.role, Role::Admin | Role::Service | Role::Supervisor);
            let own = access.role == Role::Customer && access.id() == customer_id;
            if !browses_all && !own {
                return Err(Error::PermissionDenied(
                    "give a ticket_id you can see to read its customer's history".into(),
                ));
            }
            customer_id.to_string()
        };
        let page = page.max(1);
        let filter = TicketFilter {
            customer_id: Some(customer_id),
            ..TicketFilter::default()
        };
        let scope = access.scope.clone();
        let now = self.now();
        let query = TicketQuery {
            filter,
            scope,
            order: TicketOrder::CreatedDesc,
            after: None,
            limit: page_size,
            offset: (page - 1) * page_size,
            now,
        };
        let tickets = self.store.list_tickets(&query).await?;
        let total_size = self
            .store
            .count_tickets(&query.filter, &query.scope, now)
            .await?;
        Ok(HistoryPage {
            tickets: self.shown_all(principal, tickets).await?,
            page,
            page_size,
            total_size,
        })
    }

    pub async fn list_resolution_statuses(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ResolutionStatus>> {
        self.reference_access(principal).await?;
        self.store.list_resolution_statuses().await
    }

    pub async fn list_departments(
        &self,
        principal: &Principal,
    ) -> Result<Vec<EscalationDepartment>> {
        self.reference_access(principal).await?;
        self.store.list_departments().await
    }

    pub async fn upsert_department(
        &self,
        principal: &Principal,
        department: EscalationDepartment,
    ) -> Result<EscalationDepartment> {
        let mut v = Violations::new();
        v.id("department.id", &department.id);
        v.required_text("department.label", &department.label, MAX_NAME_LEN);
        v.finish()?;
        self.access(principal)
            .await?
            .require(&[Role::Admin], "manage departments")?;
        // Finished even if the caller goes away: in-memory copies are dropped after it.
        let app = self.clone();
        self.detached(async move {
            app.store
                .upsert_department(&department)
                .await
                .map(|()| department)
        })
        .await
    }

    /// Queue ids to names, for showing a ticket's queue by name (the REST shim). Reference
    /// data only, so no access check; answered after a change has committed, so a failure
    /// leaves the names out (callers show the id) rather than failing the call.
    pub async fn queue_names(&self) -> std::collections::HashMap<String, String> {
        match self.store.list_queues().await {
            Ok(queues) => queues.into_iter().map(|q| (q.id, q.name)).collect(),
            Err(error) => {
                tracing::warn!(%error, "queue names unavailable; showing queue ids");
                Default::default()
            }
        }
    }

    pub async fn list_queues(&self, principal: &Principal) -> Result<Vec<Queue>> {
        self.reference_access(principal).await?;
        self.store.list_queues().await
    }

    pub async fn upsert_queue(&self, principal: &Principal, queue: Queue) -> Result<Queue> {
        let mut v = Violations::new();
        v.id("queue.id", &queue.id);
        v.required_text("queue.name", &queue.name, MAX_NAME_LEN);
        v.text("queue.language", &queue.language, MAX_ID_LEN);
        if !(0..=365 * 24 * 3600).contains(&queue.default_sla_seconds) {
            v.add(
                "queue.default_sla_seconds",
                "must be between 0 and one year",
            );
        }
        v.finish()?;
        self.access(principal)
            .await?
            .require(&[Role::Admin], "manage queues")?;
        // Finished even if the caller goes away: in-memory copies are dropped after it.
        let app = self.clone();
        self.detached(async move { app.store.upsert_queue(&queue).await.map(|()| queue) })
            .await
    }

    pub async fn queue_stats(
        &self,
        principal: &Principal,
        queue_id: &str,
        ticket_id: &str,
    ) -> Result<QueueStats> {
        let mut v = Violations::new();
        v.id("queue_id", queue_id);
        v.optional_id("ticket_id", ticket_id);
        v.finish()?;
        let access = self.access(principal).await?;
        self.check_queue("queue_id", queue_id).await?;
        let ticket_id = non_empty(ticket_id);
        if let Some(ticket_id) = &ticket_id {
            self.load(&access, &TicketKey::Id(ticket_id.clone()))
                .await?;
        } else if access.role == Role::Customer {
            return Err(Error::PermissionDenied(
                "customers may only ask for their own ticket's position".into(),
            ));
        }
        self.store.queue_stats(queue_id, ticket_id.as_deref()).await
    }

    /// Streams events after `after_event_id` (0: from now on) matching `watch` that the
    /// principal may hear of. Customers follow their conversations with WatchRoom instead:
    /// the audit trail is not theirs to read.
    pub async fn watch_tickets(
        &self,
        principal: &Principal,
        watch: WatchFilter,
        after_event_id: i64,
    ) -> Result<ReceiverStream<Result<WatchItem>>> {
        let mut v = Violations::new();
        v.list("queues", &watch.queues, MAX_ID_LEN);
        if let Some(assignee) = &watch.assignee {
            v.optional_id("assignee", assignee);
        }
        if let Some(ticket_id) = &watch.ticket_id {
            v.optional_id("ticket_id", ticket_id);
        }
        v.finish()?;
        let access = self.access(principal).await?;
        access.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "watch ticket events",
        )?;
        self.stream_events(watch, access.scope.clone(), access.scope, after_event_id)
            .await
    }

    /// Streams events after `after_event_id` (0: from now on) matching `watch` within
    /// `events` (judged at each event); each carries the ticket as it is now when `visible`
    /// covers it. Live events come from the process's one feed (`feed.rs`), filtered here;
    /// what the stream is behind (a resume, a slow client) it reads from the store.
    pub(crate) async fn stream_events(
        &self,
        watch: WatchFilter,
        events: crate::domain::query::Scope,
        visible: crate::domain::query::Scope,
        after_event_id: i64,
    ) -> Result<ReceiverStream<Result<WatchItem>>> {
        if after_event_id < 0 {
            return Err(Error::invalid("after_event_id", "must not be negative"));
        }
        // Subscribed before the start is read: every batch after it reaches the stream.
        let mut feed = self.feed.subscribe(&self.store, &self.shutdown);
        let last = if after_event_id == 0 {
            self.store.committed_now().await?
        } else {
            after_event_id
        };
        let (tx, rx) = tokio::sync::mpsc::channel(self.config.stream_buffer);
        let mut stream = EventStream {
            app: self.clone(),
            tx,
            watch,
            events,
            visible,
            last,
        };
        let (shutdown, lifetime) = (self.shutdown.clone(), self.config.stream_max_lifetime);
        tokio::spawn(async move {
            let ended = tokio::time::sleep(lifetime);
            tokio::pin!(ended);
            // What was committed before the first batch (a resume's backlog) comes at once.
            let upto = *stream.app.store.commits().borrow();
            if !stream.catch_up(upto).await {
                return;
            }
            loop {
                let batch = tokio::select! {
                    batch = feed.recv() => batch,
                    _ = stream.tx.closed() => return,
                    _ = shutdown.cancelled() => return,
                    _ = &mut ended => return,
                };
                let delivered = match batch {
                    Ok(batch) => stream.deliver(&batch).await,
                    // Fell behind the feed: read what it missed from the store.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let upto = *stream.app.store.commits().borrow();
                        stream.catch_up(upto).await
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => false,
                };
                if !delivered {
                    return;
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}

/// One event of a live ticket stream, with the ticket as it is now when the watcher may see
/// it. Boxed: a stream's queue then holds a pointer per item, not a ticket of over a kilobyte
/// per slot (tokio's channel allocates its slots 32 at a time, so 1,000 streams held 40 MB).
pub type WatchItem = Box<(TicketEvent, Option<Ticket>)>;

/// One live event stream: what it follows and how far it got.
struct EventStream {
    app: App,
    tx: tokio::sync::mpsc::Sender<Result<WatchItem>>,
    watch: WatchFilter,
    events: crate::domain::query::Scope,
    visible: crate::domain::query::Scope,
    /// The last event id delivered or passed over.
    last: i64,
}

impl EventStream {
    /// Sends one item; false once the client left, stalled (took nothing for
    /// `stream_stall`) or the server is shutting down.
    async fn send(&self, item: Result<WatchItem>) -> bool {
        tokio::select! {
            sent = self.tx.send_timeout(item, self.app.config.stream_stall) => super::sent(sent),
            _ = self.app.shutdown.cancelled() => false,
        }
    }

    fn item(&self, watched: Watched) -> WatchItem {
        let ticket =
            super::access::in_scope(&self.visible, &watched.ticket).then_some(watched.ticket);
        Box::new((watched.event, ticket))
    }

    /// Delivers the feed's batch, first reading from the store what lies between the
    /// stream's position and the batch.
    async fn deliver(&mut self, batch: &Batch) -> bool {
        if batch.stalled {
            let upto = *self.app.store.commits().borrow();
            return self.catch_up(upto).await;
        }
        if batch.after > self.last && !self.catch_up(batch.after).await {
            return false;
        }
        for watched in &batch.items {
            let (id, snapshot) = (watched.event.id, &watched.snapshot);
            if id <= self.last
                || !self.watch.matches(&watched.event.ticket_id, snapshot)
                || !self.events.hears(snapshot)
            {
                continue;
            }
            if !self.send(Ok(self.item(watched.clone()))).await {
                return false;
            }
            self.last = id;
        }
        self.last = self.last.max(batch.upto);
        true
    }

    /// Reads and delivers the matching events after the stream's position up to `upto`
    /// from the store.
    async fn catch_up(&mut self, upto: i64) -> bool {
        while self.last < upto {
            let read = self
                .app
                .store
                .watch_events(
                    self.last,
                    upto,
                    &self.watch,
                    &self.events,
                    super::FOLLOW_BATCH as i64,
                )
                .await;
            let batch = match read {
                Ok(batch) => batch,
                Err(error) => {
                    self.send(Err(error)).await;
                    return false;
                }
            };
            // A short batch is everything up to `upto`.
            let full = batch.len() >= super::FOLLOW_BATCH;
            for watched in batch {
                let id = watched.event.id;
                if !self.send(Ok(self.item(watched))).await {
                    return false;
                }
                self.last = id;
            }
            if !full {
                self.last = upto;
            }
        }
        true
    }
}

/// The refusal of a ticket that does not exist or that the caller may not see: the same
/// words for both, from the caller's own key, so neither the answer nor its wording tells
/// them apart (DESIGN.md §6).
pub(crate) fn ticket_not_found(key: &TicketKey) -> Error {
    Error::NotFound(match key {
        TicketKey::Id(id) => format!("ticket {id}"),
        TicketKey::Number(number) => format!("ticket number {number}"),
        TicketKey::ExternalId(id) => format!("ticket with external id {id}"),
        TicketKey::Reference(reference) => format!("ticket {reference}"),
    })
}

/// A ticket key's own checks; `field` names it when it is an id.
pub(super) fn check_key(v: &mut Violations, field: &str, key: &TicketKey) {
    match key {
        TicketKey::Id(id) | TicketKey::Reference(id) => v.id(field, id),
        TicketKey::ExternalId(id) => v.id("external_id", id),
        TicketKey::Number(number) if *number <= 0 => v.add("number", "must be positive"),
        TicketKey::Number(_) => {}
    }
}

fn version_mismatch(ticket: &Ticket, expected: i64) -> Error {
    Error::Aborted(format!(
        "ticket {} is at version {}, not {expected}",
        ticket.id, ticket.version
    ))
}

fn check_filter(v: &mut Violations, filter: &TicketFilter) {
    v.list("filter.queues", &filter.queues, MAX_ID_LEN);
    v.list("filter.channels", &filter.channels, MAX_ID_LEN);
    v.list("filter.types", &filter.types, MAX_ID_LEN);
    v.list("filter.sources", &filter.sources, MAX_ID_LEN);
    v.list("filter.languages", &filter.languages, MAX_ID_LEN);
    for (field, value) in [
        ("filter.assignee", &filter.assignee),
        ("filter.customer_id", &filter.customer_id),
        ("filter.country", &filter.country),
        ("filter.department", &filter.department),
        ("filter.ccr", &filter.ccr),
        ("filter.order_id", &filter.order_id),
        ("filter.tag", &filter.tag),
    ] {
        if let Some(value) = value {
            v.optional_id(field, value);
        }
    }
    if let Some(text) = &filter.text {
        v.text("filter.text", text, MAX_NAME_LEN);
    }
    if filter.min_priority.is_some_and(|p| !(0..=4).contains(&p)) {
        v.add("filter.min_priority", "must be between 0 and 4");
    }
    if filter.number.is_some_and(|n| n <= 0) {
        v.add("filter.number", "must be positive");
    }
    if filter.unassigned && filter.assignee.is_some() {
        v.add(
            "filter.unassigned",
            "cannot be combined with filter.assignee",
        );
    }
}

/// Field checks of each transition's input, named as in the gRPC requests.
fn check_transition(v: &mut Violations, transition: &Transition) {
    match transition {
        Transition::Assign { agent } => v.id("agent_id", agent),
        Transition::Reassign { agent, reason } => {
            v.id("agent_id", agent);
            v.text("reason", reason, MAX_TEXT_LEN);
        }
        Transition::Transfer { queue, reason } => {
            v.id("queue_id", queue);
            v.text("reason", reason, MAX_TEXT_LEN);
        }
        Transition::Escalate {
            department,
            to_agent,
            status_reason,
            resolution_reason,
        } => {
            v.optional_id("department", department);
            v.optional_id("to_agent", to_agent);
            if department.is_empty() && to_agent.is_empty() {
                v.add(
                    "department",
                    "department or to_agent is required (this server has no \
                     --default-escalation-department)",
                );
            }
            v.text("status_reason", status_reason, MAX_TEXT_LEN);
            v.text("resolution_reason", resolution_reason, MAX_TEXT_LEN);
        }
        Transition::Hold { reason } => v.text("reason", reason, MAX_TEXT_LEN),
        Transition::Resume => {}
        Transition::SlaWarning { .. } | Transition::AutoClose { .. } | Transition::SlaCheck => {}
        Transition::CloseRoom { reason } => v.text("reason", reason, MAX_TEXT_LEN),
        Transition::Requeue { reason } => v.text("reason", reason, MAX_TEXT_LEN),
        Transition::Handoff {
            queue,
            agent,
            reason,
        } => {
            if let Some(queue) = queue {
                v.optional_id("queue_id", queue);
            }
            if let Some(agent) = agent {
                v.optional_id("agent_id", agent);
            }
            v.text("reason", reason, MAX_TEXT_LEN);
        }
        Transition::Close {
            resolution_reason,
            status_reason,
            ..
        } => {
            v.text("resolution_reason", resolution_reason, MAX_TEXT_LEN);
            v.text("status_reason", status_reason, MAX_TEXT_LEN);
        }
        Transition::Reopen { reason, .. } => v.text("reason", reason, MAX_TEXT_LEN),
        Transition::Rate { score, comment } => {
            if !(1..=5).contains(score) {
                v.add("score", "must be between 1 and 5");
            }
            v.text("comment", comment, MAX_TEXT_LEN);
        }
        Transition::Link { link } => {
            v.id("link.ticket_id", &link.ticket_id);
            v.text("link.reason", &link.reason, MAX_TEXT_LEN);
        }
        Transition::Workflow {
            event_type,
            workflow,
            details,
        } => {
            if !crate::domain::event::WORKFLOW_EVENT_TYPES.contains(event_type) {
                v.add("type", "must be WORKFLOW_PENDING, WORKFLOW_DONE or ERROR");
            }
            v.id("workflow", workflow);
            check_content(v, "details", details);
        }
        Transition::Update(patch) => check_patch(v, patch),
    }
}

fn check_patch(v: &mut Violations, patch: &TicketPatch) {
    if patch == &TicketPatch::default() {
        v.add("update_mask", "must name at least one field");
    }
    if let Some(subject) = &patch.subject {
        v.text("ticket.subject", subject, MAX_SUBJECT_LEN);
    }
    if let Some(priority) = patch.priority {
        check_priority(v, "ticket.priority", priority);
    }
    if let Some(ticket_type) = &patch.ticket_type {
        v.optional_id("ticket.type", ticket_type);
    }
    if let Some(tags) = &patch.tags {
        check_tags(v, "ticket.metadata.tags", tags);
    }
    if let Some(content) = &patch.content {
        check_content(v, "ticket.content", content);
    }
    if let Some(ccr) = &patch.ccr {
        v.id("ticket.metadata.ccr", ccr);
    }
    if let Some(local_ccr) = &patch.local_ccr {
        v.text("ticket.metadata.local_ccr", local_ccr, MAX_NAME_LEN);
    }
    if let Some((order_id, entity_id)) = &patch.order {
        v.optional_id("ticket.metadata.order_id", order_id);
        v.optional_id("ticket.metadata.entity_id", entity_id);
        if !order_id.is_empty() && entity_id.is_empty() {
            v.add(
                "ticket.metadata.entity_id",
                "is required when setting an order id",
            );
        }
    }
    if let Some(language) = &patch.language {
        v.id("ticket.metadata.language", language);
    }
}
