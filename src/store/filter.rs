//! Ticket filters, scopes and keyset ordering as SQL, shared by every backend through
//! `sqlx::QueryBuilder` (which writes each database's placeholders).
use crate::clock::{Time, to_micros};
use crate::domain::query::{Cursor, Scope, TicketFilter, TicketOrder, WatchFilter};
use crate::domain::sla::SlaState;
use sqlx::{Database, QueryBuilder};

/// Appends `(?, ?, …)` binding `values`: the list of an `IN`.
pub fn push_values<'a, DB>(qb: &mut QueryBuilder<'a, DB>, values: &[String])
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("(");
    let mut list = qb.separated(", ");
    for value in values {
        list.push_bind(value.clone());
    }
    qb.push(")");
}

macro_rules! any_of {
    ($qb:expr, $column:literal, $values:expr) => {
        if !$values.is_empty() {
            let values: Vec<String> = $values.iter().map(|v| v.to_string()).collect();
            $qb.push(concat!(" AND ", $column, " IN "));
            push_values($qb, &values);
        }
    };
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Appends ` AND …` for every set field of `filter` (the query must already have a WHERE).
pub fn push_filter<'a, DB>(qb: &mut QueryBuilder<'a, DB>, filter: &TicketFilter, now: Time)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    any_of!(
        qb,
        "t.status",
        filter
            .statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
    );
    any_of!(qb, "t.queue", &filter.queues);
    if let Some(assignee) = &filter.assignee {
        qb.push(" AND t.assignee = ").push_bind(assignee.clone());
    }
    if filter.unassigned {
        qb.push(" AND t.assignee IS NULL");
    }
    if filter.bot_held {
        qb.push(" AND t.bot_id IS NOT NULL");
    }
    if let Some(customer_id) = &filter.customer_id {
        qb.push(" AND t.customer_id = ")
            .push_bind(customer_id.clone());
    }
    any_of!(qb, "t.channel", &filter.channels);
    any_of!(qb, "t.ticket_type", &filter.types);
    any_of!(qb, "t.source", &filter.sources);
    any_of!(qb, "t.language", &filter.languages);
    for (column, value) in [
        (" AND t.country = ", &filter.country),
        (" AND t.department = ", &filter.department),
        (" AND t.ccr = ", &filter.ccr),
        (" AND t.order_id = ", &filter.order_id),
    ] {
        if let Some(value) = value {
            qb.push(column).push_bind(value.clone());
        }
    }
    if let Some(tag) = &filter.tag {
        // Driven from the tag's rows (ticket_tags' key), not by testing every ticket.
        qb.push(" AND t.id IN (SELECT tt.ticket_id FROM ticket_tags tt WHERE tt.tag = ")
            .push_bind(tag.clone())
            .push(")");
    }
    if let Some(min_priority) = filter.min_priority {
        qb.push(" AND t.priority >= ")
            .push_bind(i64::from(min_priority));
    }
    if let Some(number) = filter.number {
        qb.push(" AND t.number = ").push_bind(number);
    }
    for (clause, time) in [
        (" AND t.created_at >= ", filter.created_after),
        (" AND t.created_at < ", filter.created_before),
        (" AND t.updated_at >= ", filter.updated_after),
        (" AND t.updated_at < ", filter.updated_before),
    ] {
        if let Some(time) = time {
            qb.push(clause).push_bind(to_micros(time));
        }
    }
    // `IS NOT NULL` bounds the range on both sides, so SQLite's planner (which cannot see a
    // bound value's selectivity) takes it for the few rows it is rather than walk the page
    // order's index.
    if filter.overdue {
        qb.push(" AND t.status <> 'CLOSED' AND t.due_at IS NOT NULL AND t.due_at < ")
            .push_bind(to_micros(now));
    }
    if filter.due_today {
        let start = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let end = start + chrono::Duration::days(1);
        qb.push(" AND t.status <> 'CLOSED' AND t.due_at >= ")
            .push_bind(to_micros(start))
            .push(" AND t.due_at < ")
            .push_bind(to_micros(end));
    }
    any_of!(
        qb,
        "t.severity",
        filter
            .severities
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
    );
    if filter.sla_breached {
        qb.push(" AND t.sla_state = ")
            .push_bind(SlaState::Breached.as_str().to_string());
    }
    if let Some(within) = filter.sla_due_within {
        qb.push(" AND t.status <> 'CLOSED' AND t.sla_due_at IS NOT NULL AND t.sla_due_at < ")
            .push_bind(to_micros(now + within));
    }
    if let Some(text) = &filter.text {
        let pattern = like_pattern(text);
        qb.push(" AND (LOWER(t.subject) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(COALESCE(t.external_id, '')) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(t.order_id) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

/// Appends ` AND (…)` restricting rows to what `scope` may see.
pub fn push_scope<'a, DB>(qb: &mut QueryBuilder<'a, DB>, scope: &Scope)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match scope {
        Scope::All => {}
        Scope::Customer(id) => {
            qb.push(" AND t.customer_id = ").push_bind(id.clone());
        }
        Scope::Agent {
            id,
            queues,
            queue_wide,
        } => {
            qb.push(" AND (t.assignee = ").push_bind(id.clone());
            if !queues.is_empty() {
                qb.push(" OR (t.queue IN ");
                push_values(qb, queues);
                if !queue_wide {
                    qb.push(
                        " AND t.status = 'CREATED' AND t.assignee IS NULL AND t.bot_id IS NULL",
                    );
                }
                qb.push(")");
            }
            qb.push(")");
        }
    }
}

/// Appends the keyset condition and ORDER BY for `order`.
pub fn push_order<'a, DB>(qb: &mut QueryBuilder<'a, DB>, order: TicketOrder, after: Option<Cursor>)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    // (column of the sort value, descending?, number descending?)
    let (column, sort_desc, number_desc) = match order {
        TicketOrder::CreatedDesc => (None, false, true),
        TicketOrder::CreatedAsc => (None, false, false),
        TicketOrder::PriorityDesc => (Some("t.priority"), true, false),
        TicketOrder::UpdatedDesc => (Some("t.updated_at"), true, true),
        TicketOrder::UpdatedAsc => (Some("t.updated_at"), false, false),
    };
    let cmp = |desc: bool| if desc { " < " } else { " > " };
    if let Some(cursor) = after {
        match column {
            None => {
                qb.push(" AND t.number")
                    .push(cmp(number_desc))
                    .push_bind(cursor.number);
            }
            Some(column) => {
                qb.push(" AND (")
                    .push(column)
                    .push(cmp(sort_desc))
                    .push_bind(cursor.sort_value)
                    .push(" OR (")
                    .push(column)
                    .push(" = ")
                    .push_bind(cursor.sort_value)
                    .push(" AND t.number")
                    .push(cmp(number_desc))
                    .push_bind(cursor.number)
                    .push("))");
            }
        }
    }
    let dir = |desc: bool| if desc { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    if let Some(column) = column {
        qb.push(column).push(dir(sort_desc)).push(", ");
    }
    qb.push("t.number").push(dir(number_desc));
}

/// Appends ` AND …` for a stream's filter, on where the ticket was before or after each
/// event (so a queue watcher also sees a ticket leave its queue).
pub fn push_watch<'a, DB>(qb: &mut QueryBuilder<'a, DB>, watch: &WatchFilter)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let held_by = |qb: &mut QueryBuilder<'a, DB>, agent: &String| {
        qb.push(" AND (e.assignee = ")
            .push_bind(agent.clone())
            .push(" OR e.previous_assignee = ")
            .push_bind(agent.clone())
            .push(")");
    };
    if let Some(agent) = &watch.involving {
        held_by(qb, agent);
    }
    if let Some(agent) = &watch.assignee {
        held_by(qb, agent);
    }
    if !watch.queues.is_empty() {
        push_in_queues(qb, &watch.queues);
    }
    if let Some(ticket_id) = &watch.ticket_id {
        qb.push(" AND e.ticket_id = ").push_bind(ticket_id.clone());
    }
}

fn push_in_queues<'a, DB>(qb: &mut QueryBuilder<'a, DB>, queues: &[String])
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for (i, column) in ["e.queue", "e.previous_queue"].into_iter().enumerate() {
        qb.push(if i == 0 { " AND (" } else { " OR " })
            .push(column)
            .push(" IN ");
        push_values(qb, queues);
    }
    qb.push(")");
}

/// Appends ` AND …` restricting a stream to events `scope` may hear of: a customer's own
/// tickets; for agents, tickets they held before or after the event, or that were in
/// their queues (for plain agents: while unassigned).
pub fn push_event_scope<'a, DB>(qb: &mut QueryBuilder<'a, DB>, scope: &Scope)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match scope {
        Scope::All => {}
        Scope::Customer(id) => {
            qb.push(" AND e.customer_id = ").push_bind(id.clone());
        }
        Scope::Agent {
            id,
            queues,
            queue_wide,
        } => {
            qb.push(" AND (e.assignee = ")
                .push_bind(id.clone())
                .push(" OR e.previous_assignee = ")
                .push_bind(id.clone());
            if !queues.is_empty() {
                // Supervisors hear of everything in their queues; agents of tickets of their
                // queues only while nobody held them (arriving, waiting, being taken).
                for (queue, holder) in [
                    ("e.queue", "e.assignee"),
                    ("e.previous_queue", "e.previous_assignee"),
                ] {
                    qb.push(" OR (").push(queue).push(" IN ");
                    push_values(qb, queues);
                    if !queue_wide {
                        qb.push(" AND ").push(holder).push(" IS NULL");
                    }
                    qb.push(")");
                }
            }
            qb.push(")");
        }
    }
}
