//! Conversions between the generated proto types and the domain. Input conversions name the
//! field of every bad value (`ticket.metadata.ccr`), so decoding errors are `INVALID_ARGUMENT`.
use crate::app::tickets::{ListTickets, NewTicket};
use crate::app::validate::non_empty;
use crate::clock::Time;
use crate::domain::query::{TicketFilter, TicketOrder};
use crate::domain::sla::{Closure, SlaState, Target, TicketMetrics, TicketSla};
use crate::domain::{
    self, EventType, LinkCategory, LinkIdType, ResolutionStatus, Severity, TicketStatus,
};
use crate::error::{Error, Result};
use crate::pb;
use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

// ---- times ----------------------------------------------------------------------------

pub fn timestamp(time: Time) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub fn opt_timestamp(time: Option<Time>) -> Option<prost_types::Timestamp> {
    time.map(timestamp)
}

pub fn time(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<Option<Time>> {
    ts.map(|ts| {
        if !(0..1_000_000_000).contains(&ts.nanos) {
            return Err(Error::invalid(
                field,
                "nanos must be between 0 and 999999999",
            ));
        }
        chrono::DateTime::from_timestamp(ts.seconds, ts.nanos as u32)
            .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
            .ok_or_else(|| Error::invalid(field, "is out of range"))
    })
    .transpose()
}

// ---- JSON <-> google.protobuf.Struct ----------------------------------------------------

fn to_value(kind: Option<&Kind>, field: &str, depth: usize) -> Result<Value> {
    if depth > 32 {
        return Err(Error::invalid(field, "is nested too deeply"));
    }
    Ok(match kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => Value::Number(
            Number::from_f64(*n).ok_or_else(|| Error::invalid(field, "numbers must be finite"))?,
        ),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .iter()
                .map(|v| to_value(v.kind.as_ref(), field, depth + 1))
                .collect::<Result<_>>()?,
        ),
        Some(Kind::StructValue(s)) => Value::Object(to_map(s, field, depth + 1)?),
    })
}

fn to_map(s: &prost_types::Struct, field: &str, depth: usize) -> Result<Map<String, Value>> {
    s.fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), to_value(v.kind.as_ref(), field, depth)?)))
        .collect()
}

pub fn json_object(field: &str, s: Option<&prost_types::Struct>) -> Result<Map<String, Value>> {
    s.map_or_else(|| Ok(Map::new()), |s| to_map(s, field, 0))
}

fn from_value(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(from_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(struct_of(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

pub fn struct_of(map: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    }
}

fn struct_of_value(value: &Value) -> Option<prost_types::Struct> {
    match value {
        Value::Object(map) => Some(struct_of(map)),
        _ => None,
    }
}

// ---- enums ------------------------------------------------------------------------------

fn enum_value<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E> {
    E::try_from(raw).map_err(|_| Error::invalid(field, format!("unknown enum value {raw}")))
}

pub fn ticket_status(field: &str, raw: i32) -> Result<TicketStatus> {
    Ok(match enum_value::<pb::TicketStatus>(field, raw)? {
        pb::TicketStatus::Unspecified => return Err(Error::invalid(field, "must be set")),
        pb::TicketStatus::Created => TicketStatus::Created,
        pb::TicketStatus::Assigned => TicketStatus::Assigned,
        pb::TicketStatus::OnHold => TicketStatus::OnHold,
        pb::TicketStatus::Escalated => TicketStatus::Escalated,
        pb::TicketStatus::Closed => TicketStatus::Closed,
    })
}

/// UNSPECIFIED is "not set".
pub fn severity(field: &str, raw: i32) -> Result<Severity> {
    Ok(match enum_value::<pb::Severity>(field, raw)? {
        pb::Severity::Unspecified => Severity::NotSet,
        pb::Severity::Low => Severity::Low,
        pb::Severity::Medium => Severity::Medium,
        pb::Severity::High => Severity::High,
    })
}

pub fn severity_pb(severity: Severity) -> pb::Severity {
    match severity {
        Severity::NotSet => pb::Severity::Unspecified,
        Severity::Low => pb::Severity::Low,
        Severity::Medium => pb::Severity::Medium,
        Severity::High => pb::Severity::High,
    }
}

fn ticket_status_pb(status: TicketStatus) -> pb::TicketStatus {
    match status {
        TicketStatus::Created => pb::TicketStatus::Created,
        TicketStatus::Assigned => pb::TicketStatus::Assigned,
        TicketStatus::OnHold => pb::TicketStatus::OnHold,
        TicketStatus::Escalated => pb::TicketStatus::Escalated,
        TicketStatus::Closed => pb::TicketStatus::Closed,
    }
}

/// `None` for UNSPECIFIED.
pub fn resolution_status(field: &str, raw: i32) -> Result<Option<ResolutionStatus>> {
    Ok(match enum_value::<pb::ResolutionStatus>(field, raw)? {
        pb::ResolutionStatus::Unspecified => None,
        pb::ResolutionStatus::NoAction => Some(ResolutionStatus::NoAction),
        pb::ResolutionStatus::Refunded => Some(ResolutionStatus::Refunded),
        pb::ResolutionStatus::CustomerLeftChat => Some(ResolutionStatus::CustomerLeftChat),
    })
}

pub fn resolution_status_pb(status: ResolutionStatus) -> pb::ResolutionStatus {
    match status {
        ResolutionStatus::NoAction => pb::ResolutionStatus::NoAction,
        ResolutionStatus::Refunded => pb::ResolutionStatus::Refunded,
        ResolutionStatus::CustomerLeftChat => pb::ResolutionStatus::CustomerLeftChat,
    }
}

pub fn event_type(field: &str, raw: i32) -> Result<EventType> {
    let value = enum_value::<pb::TicketEventType>(field, raw)?;
    EventType::parse(value.as_str_name().trim_start_matches("TICKET_EVENT_TYPE_"))
        .ok_or_else(|| Error::invalid(field, "must be set"))
}

fn event_type_pb(event_type: EventType) -> i32 {
    pb::TicketEventType::from_str_name(&format!("TICKET_EVENT_TYPE_{}", event_type.as_str()))
        .map_or(0, |t| t as i32)
}

fn link_id_type(field: &str, raw: i32) -> Result<LinkIdType> {
    Ok(match enum_value::<pb::TicketLinkIdType>(field, raw)? {
        pb::TicketLinkIdType::Unspecified => return Err(Error::invalid(field, "must be set")),
        pb::TicketLinkIdType::Salesforce => LinkIdType::Salesforce,
        pb::TicketLinkIdType::Pandacare => LinkIdType::Pandacare,
    })
}

fn link_category(field: &str, raw: i32) -> Result<LinkCategory> {
    Ok(match enum_value::<pb::TicketLinkCategory>(field, raw)? {
        pb::TicketLinkCategory::Unspecified => return Err(Error::invalid(field, "must be set")),
        pb::TicketLinkCategory::Escalated => LinkCategory::Escalated,
        pb::TicketLinkCategory::Refunded => LinkCategory::Refunded,
        pb::TicketLinkCategory::RefundPartial => LinkCategory::RefundPartial,
    })
}

/// Vertical words as seed 000 spells them (lower-case).
fn vertical(field: &str, raw: i32) -> Result<String> {
    let value = enum_value::<pb::VerticalType>(field, raw)?;
    Ok(match value {
        pb::VerticalType::Unspecified => String::new(),
        other => other
            .as_str_name()
            .trim_start_matches("VERTICAL_TYPE_")
            .to_lowercase(),
    })
}

fn vertical_pb(word: &str) -> i32 {
    pb::VerticalType::from_str_name(&format!("VERTICAL_TYPE_{}", word.to_uppercase()))
        .map_or(0, |v| v as i32)
}

pub fn order(field: &str, raw: i32) -> Result<TicketOrder> {
    Ok(match enum_value::<pb::TicketOrder>(field, raw)? {
        pb::TicketOrder::Unspecified | pb::TicketOrder::CreatedDesc => TicketOrder::CreatedDesc,
        pb::TicketOrder::CreatedAsc => TicketOrder::CreatedAsc,
        pb::TicketOrder::PriorityDesc => TicketOrder::PriorityDesc,
        pb::TicketOrder::UpdatedDesc => TicketOrder::UpdatedDesc,
        pb::TicketOrder::UpdatedAsc => TicketOrder::UpdatedAsc,
    })
}

// ---- requests ----------------------------------------------------------------------------

pub fn customer(c: pb::Customer) -> domain::Customer {
    domain::Customer {
        id: c.id,
        first_name: c.first_name,
        last_name: c.last_name,
        name: c.name,
        email: c.email,
        phone: c.phone,
        identities: c
            .identities
            .into_iter()
            .map(|i| domain::CustomerIdentity {
                channel: i.channel,
                social_id: i.social_id,
            })
            .collect(),
    }
}

pub fn new_ticket(r: pb::CreateTicketRequest) -> Result<NewTicket> {
    let metadata = r.metadata.unwrap_or_default();
    Ok(NewTicket {
        due_at: time("metadata.due_at", metadata.due_at.as_ref())?,
        request_id: non_empty(&r.request_id),
        external_id: non_empty(&r.external_id),
        subject: r.subject,
        priority: r.priority,
        severity: severity("severity", r.severity)?,
        queue: r.queue,
        channel: r.channel,
        ticket_type: r.r#type,
        source: r.source,
        bot_id: non_empty(&r.bot_id),
        customer: customer(r.customer.unwrap_or_default()),
        vendor: r
            .vendor
            .map(|v| {
                Ok::<_, Error>(domain::Vendor {
                    vertical: vertical("vendor.vertical", v.vertical)?,
                    id: v.id,
                })
            })
            .transpose()?,
        content: json_object("content", r.content.as_ref())?,
        ccr: metadata.ccr,
        local_ccr: metadata.local_ccr,
        country: metadata.country,
        language: metadata.language,
        order_id: metadata.order_id,
        entity_id: metadata.entity_id,
        sla_seconds: metadata.sla_seconds,
        tags: metadata.tags,
        initial_message: non_empty(&r.initial_message),
        close_immediately: r.close_immediately,
        resolution: resolution_status("resolution_status", r.resolution_status)?,
    })
}

pub fn filter(f: Option<pb::TicketFilter>) -> Result<TicketFilter> {
    let f = f.unwrap_or_default();
    Ok(TicketFilter {
        statuses: f
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| ticket_status(&format!("filter.statuses[{i}]"), *s))
            .collect::<Result<_>>()?,
        queues: f.queues,
        assignee: non_empty(&f.assignee),
        unassigned: f.unassigned,
        bot_held: f.bot_held,
        customer_id: non_empty(&f.customer_id),
        channels: f.channels,
        types: f.types,
        sources: f.sources,
        languages: f.languages,
        country: non_empty(&f.country),
        department: non_empty(&f.department),
        ccr: non_empty(&f.ccr),
        order_id: non_empty(&f.order_id),
        tag: non_empty(&f.tag),
        min_priority: (f.min_priority != 0).then_some(f.min_priority),
        number: (f.number != 0).then_some(f.number),
        created_after: time("filter.created_after", f.created_after.as_ref())?,
        created_before: time("filter.created_before", f.created_before.as_ref())?,
        updated_after: time("filter.updated_after", f.updated_after.as_ref())?,
        updated_before: time("filter.updated_before", f.updated_before.as_ref())?,
        overdue: f.overdue,
        due_today: f.due_today,
        text: non_empty(&f.text),
        severities: f
            .severities
            .iter()
            .enumerate()
            .map(|(i, s)| severity(&format!("filter.severities[{i}]"), *s))
            .collect::<Result<_>>()?,
        sla_breached: f.sla_breached,
        sla_due_within: match f.sla_due_within_minutes {
            0 => None,
            minutes @ 1..=10_080 => Some(chrono::Duration::minutes(i64::from(minutes))),
            _ => {
                return Err(Error::invalid(
                    "filter.sla_due_within_minutes",
                    "must be between 1 and 10080 (a week), or 0 (no filter)",
                ));
            }
        },
    })
}

pub fn list_tickets(
    filter_pb: Option<pb::TicketFilter>,
    order_by: i32,
    page_size: i32,
    page_token: String,
    include_total_size: bool,
) -> Result<ListTickets> {
    Ok(ListTickets {
        filter: filter(filter_pb)?,
        order: order("order_by", order_by)?,
        page_size: i64::from(page_size),
        page_token,
        include_total_size,
    })
}

/// UpdateTicket's field mask → patch. Unknown paths are refused by name.
pub fn patch(
    ticket: Option<pb::Ticket>,
    mask: Option<prost_types::FieldMask>,
) -> Result<domain::lifecycle::TicketPatch> {
    let mask = mask.ok_or_else(|| Error::invalid("update_mask", "must be set"))?;
    if mask.paths.is_empty() {
        return Err(Error::invalid(
            "update_mask",
            "must name at least one field",
        ));
    }
    let ticket = ticket.unwrap_or_default();
    let metadata = ticket.metadata.clone().unwrap_or_default();
    let mut patch = domain::lifecycle::TicketPatch::default();
    for path in &mask.paths {
        match path.as_str() {
            "subject" => patch.subject = Some(ticket.subject.clone()),
            "priority" => patch.priority = Some(ticket.priority),
            "severity" => patch.severity = Some(severity("ticket.severity", ticket.severity)?),
            "type" => patch.ticket_type = Some(ticket.r#type.clone()),
            "tags" | "metadata.tags" => patch.tags = Some(metadata.tags.clone()),
            "content" => {
                patch.content = Some(json_object("ticket.content", ticket.content.as_ref())?)
            }
            "metadata.ccr" => patch.ccr = Some(metadata.ccr.clone()),
            "metadata.local_ccr" => patch.local_ccr = Some(metadata.local_ccr.clone()),
            "metadata.order_id" => {
                patch.order = Some((metadata.order_id.clone(), metadata.entity_id.clone()))
            }
            // The entity id belongs to an order id: it is set with `metadata.order_id`.
            "metadata.entity_id" if mask.paths.iter().any(|p| p == "metadata.order_id") => {}
            "metadata.entity_id" => {
                return Err(Error::invalid(
                    "update_mask",
                    "metadata.entity_id is updated together with metadata.order_id",
                ));
            }
            "metadata.language" => patch.language = Some(metadata.language.clone()),
            "metadata.first_response_at" => {
                patch.first_response_at = Some(stamp(
                    "ticket.metadata.first_response_at",
                    metadata.first_response_at.as_ref(),
                )?)
            }
            "metadata.picked_at" => {
                patch.picked_at = Some(stamp(
                    "ticket.metadata.picked_at",
                    metadata.picked_at.as_ref(),
                )?)
            }
            other => {
                return Err(Error::invalid(
                    "update_mask",
                    format!("path {other:?} cannot be updated"),
                ));
            }
        }
    }
    Ok(patch)
}

/// A time a patch sets; unset means the server's time.
fn stamp(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<domain::lifecycle::Stamp> {
    use domain::lifecycle::Stamp;
    Ok(time(field, ts)?.map_or(Stamp::Now, Stamp::At))
}

/// A link as requested; `creator` and `created_at` are set when it is applied.
pub fn link(link: Option<pb::TicketLink>) -> Result<domain::TicketLink> {
    let link = link.ok_or_else(|| Error::invalid("link", "must be set"))?;
    Ok(domain::TicketLink {
        id_type: link_id_type("link.id_type", link.id_type)?,
        category: link_category("link.category", link.category)?,
        ticket_id: link.ticket_id,
        creator: String::new(),
        created_at: Time::default(),
        reason: link.reason,
    })
}

// ---- responses -----------------------------------------------------------------------------

fn link_pb(link: &domain::TicketLink) -> pb::TicketLink {
    pb::TicketLink {
        ticket_id: link.ticket_id.clone(),
        id_type: match link.id_type {
            LinkIdType::Salesforce => pb::TicketLinkIdType::Salesforce,
            LinkIdType::Pandacare => pb::TicketLinkIdType::Pandacare,
        } as i32,
        category: match link.category {
            LinkCategory::Escalated => pb::TicketLinkCategory::Escalated,
            LinkCategory::Refunded => pb::TicketLinkCategory::Refunded,
            LinkCategory::RefundPartial => pb::TicketLinkCategory::RefundPartial,
        } as i32,
        creator: link.creator.clone(),
        created_at: Some(timestamp(link.created_at)),
        reason: link.reason.clone(),
    }
}

impl From<domain::Ticket> for pb::Ticket {
    fn from(t: domain::Ticket) -> Self {
        let m = t.metadata;
        pb::Ticket {
            id: t.id,
            number: t.number,
            external_id: t.external_id.unwrap_or_default(),
            subject: t.subject,
            status: ticket_status_pb(t.status) as i32,
            status_reason: t.status_reason,
            status_changed_at: Some(timestamp(t.status_changed_at)),
            priority: t.priority,
            queue: t.queue,
            channel: t.channel,
            r#type: t.ticket_type,
            source: t.source,
            assignee: t.assignee.unwrap_or_default(),
            bot_id: t.bot_id.unwrap_or_default(),
            customer: Some(pb::Customer {
                id: t.customer.id,
                first_name: t.customer.first_name,
                last_name: t.customer.last_name,
                name: t.customer.name,
                email: t.customer.email,
                phone: t.customer.phone,
                identities: t
                    .customer
                    .identities
                    .into_iter()
                    .map(|i| pb::CustomerIdentity {
                        channel: i.channel,
                        social_id: i.social_id,
                    })
                    .collect(),
            }),
            vendor: t.vendor.map(|v| pb::Vendor {
                vertical: vertical_pb(&v.vertical),
                id: v.id,
            }),
            content: Some(struct_of(&t.content)),
            metadata: Some(pb::TicketMetadata {
                children_links: m.children_links.iter().map(link_pb).collect(),
                ccr: m.ccr,
                local_ccr: m.local_ccr,
                country: m.country,
                language: m.language,
                order_id: m.order_id,
                entity_id: m.entity_id,
                sla_seconds: m.sla_seconds,
                due_at: opt_timestamp(m.due_at),
                tags: m.tags,
                room_id: m.room_id,
                assigned_at: opt_timestamp(m.assigned_at),
                picked_at: opt_timestamp(m.picked_at),
                first_response_at: opt_timestamp(m.first_response_at),
                auto_close_warning_at: opt_timestamp(m.auto_close_warning_at),
                auto_close_at: opt_timestamp(m.auto_close_at),
                chat_room_closed: m.chat_room_closed,
            }),
            escalation: t.escalation.map(|e| pb::Escalation {
                department: e.department,
                from_agent: e.from_agent,
                to_agent: e.to_agent,
                at: opt_timestamp(e.at),
                status_reason: e.status_reason,
                resolution_reason: e.resolution_reason,
            }),
            resolution: t.resolution.map(|r| pb::Resolution {
                status: resolution_status_pb(r.status) as i32,
                reason: r.reason,
                closed_by: r.closed_by,
                closed_at: Some(timestamp(r.closed_at)),
            }),
            rating: t.rating.map(|r| pb::Rating {
                score: r.score,
                comment: r.comment,
                rated_at: Some(timestamp(r.rated_at)),
            }),
            created_at: Some(timestamp(t.created_at)),
            updated_at: Some(timestamp(t.updated_at)),
            version: t.version,
            unread_count: i32::try_from(t.unread_count).unwrap_or(i32::MAX),
            severity: severity_pb(t.severity) as i32,
            sla: Some(ticket_sla_pb(&t.sla, t.status)),
            metrics: Some(ticket_metrics_pb(&t.metrics)),
        }
    }
}

pub fn ticket_sla_pb(sla: &TicketSla, status: TicketStatus) -> pb::TicketSla {
    let clocks = sla
        .targets
        .iter()
        .flat_map(|targets| {
            Target::ALL.into_iter().filter_map(move |target| {
                let seconds = target.seconds(targets);
                (seconds > 0).then_some((target, seconds))
            })
        })
        .map(|(target, seconds)| {
            let clock = sla.clock(target);
            pb::SlaClock {
                target: match target {
                    Target::FirstReply => pb::SlaTarget::FirstReply,
                    Target::NextReply => pb::SlaTarget::NextReply,
                    Target::Resolution => pb::SlaTarget::Resolution,
                } as i32,
                target_seconds: seconds,
                running: clock.running_since.is_some(),
                used_seconds: clock.used_seconds,
                due_at: opt_timestamp(clock.due_at),
                warn_at: opt_timestamp(clock.warn_at.filter(|_| !clock.warned)),
                warned: clock.warned,
                breached: clock.breached,
                met_at: opt_timestamp(clock.met_at),
            }
        })
        .collect();
    pb::TicketSla {
        state: match sla.state(status) {
            SlaState::Ongoing => pb::SlaState::Ongoing,
            SlaState::WithinSla => pb::SlaState::WithinSla,
            SlaState::Breached => pb::SlaState::Breached,
        } as i32,
        within_sla: sla.within_sla(),
        over_reply_sla: sla.over_reply_sla(),
        has_policy: sla.targets.is_some(),
        clocks,
        next_due_at: opt_timestamp(sla.next_due()),
        next_reply_breaches: sla.next_reply_breaches,
    }
}

pub fn ticket_metrics_pb(m: &TicketMetrics) -> pb::TicketMetrics {
    pb::TicketMetrics {
        unassigned_seconds: m.unassigned_seconds,
        handle_seconds: m.handle_seconds,
        hold_seconds: m.hold_seconds,
        first_reply_seconds: m.first_reply_seconds,
        reply_count: m.replies,
        reply_seconds_total: m.reply_seconds_total,
        reply_seconds_max: m.reply_seconds_max,
        resolution_seconds: m.resolution_seconds,
        reassign_count: m.reassigns,
        transfer_count: m.transfers,
        escalation_count: m.escalations,
        reopen_count: m.reopens,
        closure: match m.closure {
            None => pb::ClosureType::Unspecified,
            Some(Closure::Assignee) => pb::ClosureType::Assignee,
            Some(Closure::Other) => pb::ClosureType::Other,
            Some(Closure::Auto) => pb::ClosureType::Auto,
        } as i32,
        awaiting_reply_since: opt_timestamp(m.awaiting_reply_since),
    }
}

impl From<domain::TicketEvent> for pb::TicketEvent {
    fn from(e: domain::TicketEvent) -> Self {
        pb::TicketEvent {
            id: e.id,
            ticket_id: e.ticket_id,
            r#type: event_type_pb(e.event_type),
            actor: e.actor,
            at: Some(timestamp(e.at)),
            version: e.version,
            payload: struct_of_value(&e.payload),
        }
    }
}

impl From<domain::Queue> for pb::Queue {
    fn from(q: domain::Queue) -> Self {
        pb::Queue {
            id: q.id,
            name: q.name,
            language: q.language,
            default_sla_seconds: q.default_sla_seconds,
        }
    }
}

impl From<pb::Queue> for domain::Queue {
    fn from(q: pb::Queue) -> Self {
        domain::Queue {
            id: q.id,
            name: q.name,
            language: q.language,
            default_sla_seconds: q.default_sla_seconds,
        }
    }
}

impl From<domain::EscalationDepartment> for pb::EscalationDepartment {
    fn from(d: domain::EscalationDepartment) -> Self {
        pb::EscalationDepartment {
            id: d.id,
            label: d.label,
        }
    }
}

impl From<pb::EscalationDepartment> for domain::EscalationDepartment {
    fn from(d: pb::EscalationDepartment) -> Self {
        domain::EscalationDepartment {
            id: d.id,
            label: d.label,
        }
    }
}
