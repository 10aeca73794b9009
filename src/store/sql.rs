//! SQL both dialects accept, written once: row decoding, constraint classification, and the
//! store's reads and transaction primitives as macros each backend expands over its own
//! connection types. Placeholders are `$N` (SQLite reads them by number too); where the
//! dialects differ, the macros call the backend's hooks:
//!
//! - on the transaction type: `LOCK` (appended to "for update" reads), `SKIP_LOCKED` (appended
//!   to the waiting-ticket read), `NEXT_NUMBER` (the next ticket number), `check` (classifies
//!   a database error, noting the ones worth running the write again);
//! - on the store: `reader()` (the read pool), `write(…)` (one write transaction);
//! - in the backend's module: `JSON_ARRAY_AGG` (the aggregate that gathers a column into a
//!   JSON array, for the lists an agent row carries).
use crate::clock::from_micros;
use crate::domain::ccr::Ccr;
use crate::domain::conversation::{AttachmentInfo, AttachmentRef, Message, Room, SenderType};
use crate::domain::routing::AgentLoad;
use crate::domain::sla::SlaPolicy;
use crate::domain::ticket::Severity;
use crate::domain::{
    Agent, AgentRole, AgentStatus, EscalationDepartment, EventType, Queue, Ticket, TicketEvent,
};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::types::Json;

/// The constraint a duplicate `external_id` violates (PostgreSQL names it; SQLite says
/// `tickets.external_id` in its message).
pub const EXTERNAL_ID_CONSTRAINT: &str = "tickets_external_id_key";

/// Turns a unique-constraint violation on `external_id` into `AlreadyExists`; anything else
/// is classified as the store classifies database errors.
pub fn on_constraint(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
        && (db.constraint() == Some(EXTERNAL_ID_CONSTRAINT)
            || db.message().contains("tickets.external_id"))
    {
        return Error::AlreadyExists("a ticket with this external_id already exists".into());
    }
    error.into()
}

/// Typed column access shared by the backends' rows.
pub trait Columns {
    fn text(&self, name: &str) -> Result<String>;
    fn opt_text(&self, name: &str) -> Result<Option<String>>;
    fn int(&self, name: &str) -> Result<i64>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>>;
    fn flag(&self, name: &str) -> Result<bool>;
    /// A JSON document (TEXT in SQLite, JSONB in PostgreSQL).
    fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T>;
}

/// A report table's name and the column its `RowKey::by` is stored in.
pub fn report_table(table: crate::domain::report::ReportTable) -> (&'static str, &'static str) {
    use crate::domain::report::ReportTable;
    match table {
        ReportTable::ByChannel => ("report_channels", "channel"),
        ReportTable::ByAgent => ("report_agents", "agent"),
    }
}

/// A grain as stored: the slots a row covers.
pub fn grain_code(grain: crate::domain::report::Grain) -> i64 {
    grain.slots()
}

fn decode_grain(code: i64) -> Result<crate::domain::report::Grain> {
    crate::domain::report::Grain::ALL
        .into_iter()
        .find(|grain| grain.slots() == code)
        .ok_or_else(|| crate::error::Error::Internal(format!("stored report grain {code}")))
}

/// A report row's counters, as stored (they add up by `+`)…
pub const REPORT_COUNTERS: [&str; 12] = [
    "created",
    "closed",
    "reopened",
    "backlog",
    "breaches",
    "sla_closed",
    "sla_within",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
];
/// …and its duration lists (they add up by concatenation).
pub const REPORT_DURATIONS: [&str; 2] = ["first_reply", "resolution"];

/// Rows of a report table written per statement (19 parameters each: well inside both
/// databases' limits).
pub const REPORT_ROWS_PER_STATEMENT: usize = 500;
/// Report upserts of at most this many rows (what one change writes) are kept prepared on
/// their connection; larger ones (compactions, each of another length) are prepared once and
/// dropped, so they do not fill every connection's statement cache with long statements.
pub const REPORT_ROWS_KEPT_PREPARED: usize = 16;

/// The statement that adds rows to a report table, around its `VALUES` list: a new row is
/// inserted, an existing one adds the counters and appends the duration lists.
pub fn report_upsert(table: crate::domain::report::ReportTable) -> (String, String) {
    let (name, by) = report_table(table);
    let head = format!(
        "INSERT INTO {name} (grain, slot, queue, {by}, shard, created, closed, reopened, \
         backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, \
         rating_5, first_reply, resolution) "
    );
    let mut tail = format!(" ON CONFLICT (grain, slot, queue, {by}, shard) DO UPDATE SET ");
    let sets: Vec<String> = REPORT_COUNTERS
        .iter()
        .map(|c| format!("{c} = {name}.{c} + excluded.{c}"))
        .chain(
            REPORT_DURATIONS
                .iter()
                .map(|c| format!("{c} = {name}.{c} || excluded.{c}")),
        )
        .collect();
    tail.push_str(&sets.join(", "));
    (head, tail)
}

/// The figures of a report row (or of a sum of rows, named alike).
pub fn decode_figures(row: &impl Columns) -> Result<crate::domain::report::Figures> {
    use crate::domain::report::decode_durations;
    let counts = crate::domain::report::Counts {
        created: row.int("created")?,
        closed: row.int("closed")?,
        reopened: row.int("reopened")?,
        backlog: row.int("backlog")?,
        breaches: row.int("breaches")?,
        sla_closed: row.int("sla_closed")?,
        sla_within: row.int("sla_within")?,
        ratings: [
            row.int("rating_1")?,
            row.int("rating_2")?,
            row.int("rating_3")?,
            row.int("rating_4")?,
            row.int("rating_5")?,
        ],
    };
    let mut figures = crate::domain::report::Figures {
        counts,
        ..Default::default()
    };
    for (column, into) in [
        ("first_reply", &mut figures.first_reply),
        ("resolution", &mut figures.resolution),
    ] {
        decode_durations(&row.text(column)?, into).map_err(crate::error::Error::Internal)?;
    }
    Ok(figures)
}

/// A stored report row, its `by` part in column `by`.
pub fn decode_report_row(
    row: &impl Columns,
    by: &str,
) -> Result<(
    crate::domain::report::RowKey,
    crate::domain::report::Figures,
)> {
    Ok((
        crate::domain::report::RowKey {
            grain: decode_grain(row.int("grain")?)?,
            slot: row.int("slot")?,
            queue: row.text("queue")?,
            by: row.text(by)?,
            shard: row.int("shard")?,
        },
        decode_figures(row)?,
    ))
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, name: &str) -> Result<String> {
                Ok(self.try_get(name)?)
            }
            fn opt_text(&self, name: &str) -> Result<Option<String>> {
                Ok(self.try_get(name)?)
            }
            fn int(&self, name: &str) -> Result<i64> {
                Ok(self.try_get(name)?)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>> {
                Ok(self.try_get(name)?)
            }
            fn flag(&self, name: &str) -> Result<bool> {
                Ok(self.try_get(name)?)
            }
            fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
                let value: Json<T> = self
                    .try_get(name)
                    .map_err(|e| Error::Internal(format!("corrupt JSON in column {name}: {e}")))?;
                Ok(value.0)
            }
        }
    };
}
columns!(sqlx::sqlite::SqliteRow);
columns!(sqlx::postgres::PgRow);

/// Messages in a ticket's room that its assignee has not read (SQL over `t`).
pub const UNREAD: &str = "(SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.id AND t.assignee IS NOT NULL \
     AND m.sender_id <> t.assignee AND m.seq > COALESCE((SELECT rp.seq FROM read_positions rp \
     JOIN rooms r ON r.id = rp.room_id WHERE r.ticket_id = t.id AND rp.reader_id = t.assignee), 0))";

/// `TicketStatus::ACTIVE` as an SQL list (a constant so it can sit in query text; the test
/// below keeps the two the same).
pub const ACTIVE: &str = "('ASSIGNED', 'ON_HOLD', 'ESCALATED')";

/// An agent's columns from `agents a`, with its queues and languages gathered from their
/// tables, in their order, into JSON arrays by `json_array_agg` (the backend's
/// `JSON_ARRAY_AGG`): one statement reads agents and lists alike.
pub fn agent_columns(json_array_agg: &str) -> String {
    let list = |table: &str, column: &str, name: &str| {
        format!(
            "COALESCE((SELECT {json_array_agg}(l.{column} ORDER BY l.position) FROM {table} l \
             WHERE l.agent_id = a.id), '[]') AS {name}"
        )
    };
    format!(
        "a.id, a.name, a.role, a.status, a.status_alias, a.last_login_at, a.status_updated_at, \
         {}, {}, a.max_concurrent",
        list("agent_queues", "queue_id", "queues"),
        list("agent_languages", "language", "languages"),
    )
}

/// Appends ` AND …` keeping agents (`a`) who serve `queue`. An `IN` over the list table
/// rather than a correlated `EXISTS`: SQLite then starts from the queue's index entries
/// instead of probing every agent in turn (PostgreSQL plans both as the same semi-join).
pub fn push_serves_queue<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, queue: &str)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" AND a.id IN (SELECT aq.agent_id FROM agent_queues aq WHERE aq.queue_id = ")
        .push_bind(queue.to_string())
        .push(")");
}

/// Appends ` AND …` keeping tickets (`t`) whose customer has this identity: an `IN`, for
/// the reason [`push_serves_queue`] gives (found by the identity's index, no ticket scanned).
pub fn push_identity<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, channel: &str, social_id: &str)
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" AND t.id IN (SELECT ti.ticket_id FROM ticket_identities ti WHERE ti.channel = ")
        .push_bind(channel.to_string())
        .push(" AND ti.social_id = ")
        .push_bind(social_id.to_string())
        .push(")");
}

/// `INSERT INTO {table} (agent_id, position, {column}) …` of `values` in their order (the
/// caller has checked they are not empty).
pub fn agent_list_insert<'a, DB>(
    table: &str,
    column: &str,
    agent_id: &str,
    values: &[String],
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new(format!(
        "INSERT INTO {table} (agent_id, position, {column}) "
    ));
    qb.push_values(values.iter().zip(0i64..), |mut row, (value, position)| {
        row.push_bind(agent_id.to_string())
            .push_bind(position)
            .push_bind(value.clone());
    });
    qb
}

pub const MESSAGE_COLUMNS: &str = "seq, id, room_id, ticket_id, sender_type, sender_id, sender_name, body, \
     visible_to_customer, attachments, buttons, created_at, client_message_id";

pub const ROOM_COLUMNS: &str =
    "r.id, r.ticket_id, r.customer_id, r.closed, r.closed_at, r.created_at, r.last_message_at";

/// The ticket's indexed columns after `id` and `number`, in the order `ticket_values` binds.
pub const TICKET_COLUMNS: [&str; 27] = [
    "external_id",
    "status",
    "priority",
    "queue",
    "channel",
    "ticket_type",
    "source",
    "assignee",
    "bot_id",
    "customer_id",
    "language",
    "country",
    "department",
    "ccr",
    "order_id",
    "subject",
    "created_at",
    "updated_at",
    "due_at",
    "auto_close_warning_at",
    "auto_close_at",
    "severity",
    "sla_state",
    "sla_due_at",
    "sla_timer_at",
    "version",
    "doc",
];

/// The values of [`TICKET_COLUMNS`] for `ticket`.
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Doc(Json<Box<Ticket>>),
}

pub fn ticket_values(ticket: &Ticket) -> Vec<Value> {
    use crate::clock::to_micros;
    let text = |v: &str| Value::Text(Some(v.to_string()));
    let department = ticket
        .escalation
        .as_ref()
        .map(|e| e.department.clone())
        .filter(|d| !d.is_empty());
    vec![
        Value::Text(ticket.external_id.clone()),
        text(ticket.status.as_str()),
        Value::Int(Some(i64::from(ticket.priority))),
        text(&ticket.queue),
        text(&ticket.channel),
        text(&ticket.ticket_type),
        text(&ticket.source),
        Value::Text(ticket.assignee.clone()),
        Value::Text(ticket.bot_id.clone()),
        text(&ticket.customer.id),
        text(&ticket.metadata.language),
        text(&ticket.metadata.country),
        Value::Text(department),
        text(&ticket.metadata.ccr),
        text(&ticket.metadata.order_id),
        text(&ticket.subject),
        Value::Int(Some(to_micros(ticket.created_at))),
        Value::Int(Some(to_micros(ticket.updated_at))),
        Value::Int(ticket.metadata.due_at.map(to_micros)),
        Value::Int(ticket.metadata.auto_close_warning_at.map(to_micros)),
        Value::Int(ticket.metadata.auto_close_at.map(to_micros)),
        text(ticket.severity.as_str()),
        text(ticket.sla.state(ticket.status).as_str()),
        Value::Int(ticket.sla.next_due().map(to_micros)),
        Value::Int(ticket.sla.next_timer().map(to_micros)),
        Value::Int(Some(ticket.version)),
        Value::Doc(Json(Box::new(ticket.clone()))),
    ]
}

impl Value {
    /// Whether a column holds the same value (the document is always written).
    fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            _ => false,
        }
    }
}

/// Binds one of [`ticket_values`] on a `QueryBuilder`.
pub fn push_value<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, value: Value)
where
    DB: sqlx::Database,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Json<Box<Ticket>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match value {
        Value::Text(v) => qb.push_bind(v),
        Value::Int(v) => qb.push_bind(v),
        Value::Doc(v) => qb.push_bind(v),
    };
}

/// `INSERT INTO tickets …` for a numbered ticket.
pub fn ticket_insert<'a, DB>(ticket: &Ticket) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Json<Box<Ticket>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new(format!(
        "INSERT INTO tickets (id, number, {}) VALUES (",
        TICKET_COLUMNS.join(", ")
    ));
    qb.push_bind(ticket.id.clone()).push(", ");
    qb.push_bind(ticket.number);
    for value in ticket_values(ticket) {
        qb.push(", ");
        push_value(&mut qb, value);
    }
    qb.push(")");
    qb
}

/// `INSERT INTO ticket_identities …` of the customer's identities (the caller has checked
/// there are some); an identity given twice is stored once.
pub fn identities_insert<'a, DB>(ticket: &Ticket) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb =
        sqlx::QueryBuilder::new("INSERT INTO ticket_identities (ticket_id, channel, social_id) ");
    qb.push_values(&ticket.customer.identities, |mut row, identity| {
        row.push_bind(ticket.id.clone())
            .push_bind(identity.channel.clone())
            .push_bind(identity.social_id.clone());
    });
    qb.push(" ON CONFLICT DO NOTHING");
    qb
}

/// `UPDATE tickets SET …` of the columns that differ from `original`, if the stored version
/// is still the original's. Unchanged columns stay out of the statement: SQLite rewrites the
/// entries of every index on a column an UPDATE sets, changed or not.
pub fn ticket_update<'a, DB>(ticket: &Ticket, original: &Ticket) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Json<Box<Ticket>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = sqlx::QueryBuilder::new("UPDATE tickets SET ");
    let mut first = true;
    let columns = TICKET_COLUMNS.iter().zip(ticket_values(ticket));
    for ((column, value), old) in columns.zip(ticket_values(original)) {
        if value.same_as(&old) {
            continue;
        }
        qb.push(if first { "" } else { ", " })
            .push(column)
            .push(" = ");
        push_value(&mut qb, value);
        first = false;
    }
    qb.push(" WHERE id = ")
        .push_bind(ticket.id.clone())
        .push(" AND version = ")
        .push_bind(original.version);
    qb
}

pub fn decode_ticket_row(row: &impl Columns) -> Result<Ticket> {
    let mut ticket: Ticket = row.json("doc")?;
    ticket.unread_count = row.int("unread")?;
    Ok(ticket)
}

pub fn decode_event(row: &impl Columns) -> Result<TicketEvent> {
    let event_type = row.text("event_type")?;
    Ok(TicketEvent {
        id: row.int("id")?,
        ticket_id: row.text("ticket_id")?,
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| Error::Internal(format!("unknown event type {event_type}")))?,
        actor: row.text("actor")?,
        at: from_micros(row.int("at")?),
        version: row.int("version")?,
        payload: row.json("payload")?,
    })
}

/// An event of `watch_events`' query, with where its ticket was and the ticket now.
pub fn decode_watched(row: &impl Columns) -> Result<crate::domain::query::Watched> {
    Ok(crate::domain::query::Watched {
        event: decode_event(row)?,
        snapshot: crate::domain::query::EventSnapshot {
            assignee: row.opt_text("e_assignee")?,
            previous_assignee: row.opt_text("previous_assignee")?,
            queue: row.opt_text("e_queue")?,
            previous_queue: row.opt_text("previous_queue")?,
            customer_id: row.opt_text("e_customer_id")?,
        },
        ticket: decode_ticket_row(row)?,
    })
}

pub fn decode_agent(row: &impl Columns) -> Result<Agent> {
    let role = row.text("role")?;
    Ok(Agent {
        id: row.text("id")?,
        name: row.text("name")?,
        // A corrupt role is an error, never quietly `agent` (or anything else).
        role: AgentRole::parse(&role)
            .ok_or_else(|| Error::Internal(format!("corrupt agent role {role:?}")))?,
        status: row.text("status")?,
        status_alias: row.text("status_alias")?,
        last_login_at: row.opt_int("last_login_at")?.map(from_micros),
        status_updated_at: row.opt_int("status_updated_at")?.map(from_micros),
        queues: row.json("queues")?,
        languages: row.json("languages")?,
        max_concurrent: i32::try_from(row.int("max_concurrent")?)
            .map_err(|e| Error::Internal(format!("corrupt agent capacity: {e}")))?,
    })
}

/// Routing's view of an agent: its row with `receiving`, `active` and `last_assigned_at`.
pub fn decode_load(row: &impl Columns) -> Result<AgentLoad> {
    Ok(AgentLoad {
        agent: decode_agent(row)?,
        receiving: row.flag("receiving")?,
        active: row.int("active")?,
        last_assigned_at: row.opt_int("last_assigned_at")?.map(from_micros),
    })
}

pub fn decode_message(row: &impl Columns) -> Result<Message> {
    let sender_type = row.text("sender_type")?;
    Ok(Message {
        seq: row.int("seq")?,
        id: row.text("id")?,
        room_id: row.text("room_id")?,
        ticket_id: row.text("ticket_id")?,
        sender_type: SenderType::parse(&sender_type)
            .ok_or_else(|| Error::Internal(format!("unknown sender type {sender_type}")))?,
        sender_id: row.text("sender_id")?,
        sender_name: row.text("sender_name")?,
        body: row.text("body")?,
        visible_to_customer: row.flag("visible_to_customer")?,
        attachments: row.json("attachments")?,
        buttons: row.json("buttons")?,
        created_at: from_micros(row.int("created_at")?),
        client_message_id: row.opt_text("client_message_id")?,
    })
}

pub fn decode_room(row: &impl Columns) -> Result<Room> {
    Ok(Room {
        id: row.text("id")?,
        ticket_id: row.text("ticket_id")?,
        customer_id: row.text("customer_id")?,
        closed: row.flag("closed")?,
        closed_at: row.opt_int("closed_at")?.map(from_micros),
        created_at: from_micros(row.int("created_at")?),
        last_message_at: row.opt_int("last_message_at")?.map(from_micros),
        unread_count: row.int("unread")?,
    })
}

pub fn decode_attachment_info(row: &impl Columns) -> Result<AttachmentInfo> {
    Ok(AttachmentInfo {
        meta: AttachmentRef {
            id: row.text("id")?,
            name: row.text("name")?,
            content_type: row.text("content_type")?,
            size: row.int("size")?,
        },
        room_id: row.text("room_id")?,
        created_at: from_micros(row.int("created_at")?),
    })
}

pub fn decode_ccr(row: &impl Columns) -> Result<Ccr> {
    Ok(Ccr {
        code: row.text("code")?,
        level: i32::try_from(row.int("level")?)
            .map_err(|e| Error::Internal(format!("corrupt CCR level: {e}")))?,
        parent_code: row.opt_text("parent_code")?.unwrap_or_default(),
        translations: row.json("translations")?,
    })
}

pub fn decode_queue(row: &impl Columns) -> Result<Queue> {
    Ok(Queue {
        id: row.text("id")?,
        name: row.text("name")?,
        language: row.text("language")?,
        default_sla_seconds: row.int("default_sla_seconds")?,
    })
}

pub fn decode_sla_policy(row: &impl Columns) -> Result<SlaPolicy> {
    let severity = row.text("severity")?;
    Ok(SlaPolicy {
        queue: row.text("queue")?,
        severity: Severity::parse(&severity),
        targets: row.json("doc")?,
        updated_at: from_micros(row.int("updated_at")?),
    })
}

pub fn decode_department(row: &impl Columns) -> Result<EscalationDepartment> {
    Ok(EscalationDepartment {
        id: row.text("id")?,
        label: row.text("label")?,
    })
}

pub fn decode_status(row: &impl Columns) -> Result<AgentStatus> {
    Ok(AgentStatus {
        name: row.text("name")?,
        alias: row.text("alias")?,
        receives_tickets: row.flag("receives_tickets")?,
    })
}

/// Implements [`Tx`](crate::store::Tx) for a backend's transaction type `$tx` (a struct with a
/// `conn: &mut Connection` field and the hooks named in the module docs) over database `$db`.
macro_rules! sql_tx {
    ($tx:ident, $db:path) => {
        mod sql_tx {
            use super::$tx;
            use $crate::clock::{Time, to_micros};
            use $crate::domain::conversation::{Attachment, AttachmentUsage, Message};
            use $crate::domain::routing::AgentLoad;
            use $crate::domain::{NewEvent, Ticket, TicketEvent};
            use $crate::error::Result;
            use $crate::store::sql::{
                ACTIVE, Columns, MESSAGE_COLUMNS, agent_columns, decode_load, decode_message,
                identities_insert, ticket_insert, ticket_update,
            };
            use $crate::store::{Before, IdempotencyKey, Tx};
            use sqlx::QueryBuilder;
            use sqlx::types::Json;

            impl $tx<'_> {
                /// Writes the transaction's report rows (`Tx::add_to_report`, compaction),
                /// merged and in `ReportRows`' order; run once the work is done, before the
                /// commit.
                pub(super) async fn flush_report(&mut self) -> Result<()> {
                    let rows: Vec<_> = std::mem::take(&mut self.report).into_rows().collect();
                    for same in rows.chunk_by(|a, b| a.0 == b.0) {
                        let (head, tail) = $crate::store::sql::report_upsert(same[0].0);
                        for part in same.chunks($crate::store::sql::REPORT_ROWS_PER_STATEMENT) {
                            let mut qb = QueryBuilder::new(&head);
                            qb.push_values(part, |mut values, (_, key, figures)| {
                                let c = &figures.counts;
                                values
                                    .push_bind($crate::store::sql::grain_code(key.grain))
                                    .push_bind(key.slot)
                                    .push_bind(&key.queue)
                                    .push_bind(&key.by)
                                    .push_bind(key.shard)
                                    .push_bind(c.created)
                                    .push_bind(c.closed)
                                    .push_bind(c.reopened)
                                    .push_bind(c.backlog)
                                    .push_bind(c.breaches)
                                    .push_bind(c.sla_closed)
                                    .push_bind(c.sla_within)
                                    .push_bind(c.ratings[0])
                                    .push_bind(c.ratings[1])
                                    .push_bind(c.ratings[2])
                                    .push_bind(c.ratings[3])
                                    .push_bind(c.ratings[4])
                                    .push_bind($crate::domain::report::encode_durations(
                                        &figures.first_reply,
                                    ))
                                    .push_bind($crate::domain::report::encode_durations(
                                        &figures.resolution,
                                    ));
                            });
                            qb.push(&tail);
                            let kept = part.len() <= $crate::store::sql::REPORT_ROWS_KEPT_PREPARED;
                            let added = qb.build().persistent(kept).execute(&mut *self.conn).await;
                            self.check(added)?;
                        }
                    }
                    Ok(())
                }
            }

            impl $tx<'_> {
                async fn insert_tags(&mut self, ticket: &Ticket) -> Result<()> {
                    for tag in &ticket.metadata.tags {
                        let inserted = sqlx::query(
                            "INSERT INTO ticket_tags (tag, ticket_id) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(tag)
                        .bind(&ticket.id)
                        .execute(&mut *self.conn)
                        .await;
                        self.check(inserted)?;
                    }
                    Ok(())
                }

                /// Stores the customer's identities of the ticket (none stored yet).
                async fn insert_identities(&mut self, ticket: &Ticket) -> Result<()> {
                    if ticket.customer.identities.is_empty() {
                        return Ok(());
                    }
                    let inserted = identities_insert::<$db>(ticket)
                        .build()
                        .execute(&mut *self.conn)
                        .await;
                    self.check(inserted).map(drop)
                }

            }

            #[async_trait::async_trait]
            impl Tx for $tx<'_> {
                async fn ticket_for_update(&mut self, id: &str) -> Result<Option<Ticket>> {
                    let row = sqlx::query(&format!(
                        "SELECT doc FROM tickets WHERE id = $1{}",
                        Self::LOCK
                    ))
                    .bind(id)
                    .fetch_optional(&mut *self.conn)
                    .await;
                    let ticket = self.check(row)?;
                    if ticket.is_some() {
                        self.holds_rows();
                    }
                    ticket.map(|row| row.json("doc")).transpose()
                }

                async fn ticket_by_idempotency_key(
                    &mut self,
                    key: &IdempotencyKey,
                ) -> Result<Option<(String, Ticket)>> {
                    let row = sqlx::query(
                        "SELECT i.fingerprint, t.doc FROM idempotency_keys i \
                         JOIN tickets t ON t.id = i.ticket_id WHERE i.scope = $1 AND i.key = $2",
                    )
                    .bind(&key.scope)
                    .bind(&key.key)
                    .fetch_optional(&mut *self.conn)
                    .await;
                    self.check(row)?
                        .map(|row| Ok((row.text("fingerprint")?, row.json("doc")?)))
                        .transpose()
                }

                async fn insert_ticket(
                    &mut self,
                    ticket: &Ticket,
                    idempotency: Option<&IdempotencyKey>,
                ) -> Result<i64> {
                    let number = sqlx::query_scalar(Self::NEXT_NUMBER)
                        .fetch_one(&mut *self.conn)
                        .await;
                    let number: i64 = self.check(number)?;
                    let numbered = Ticket {
                        number,
                        ..ticket.clone()
                    };
                    let mut insert = ticket_insert::<$db>(&numbered);
                    let inserted = insert.build().execute(&mut *self.conn).await;
                    self.check(inserted)?;
                    self.holds_rows();
                    self.insert_tags(&numbered).await?;
                    self.insert_identities(&numbered).await?;
                    if let Some(key) = idempotency {
                        let inserted = sqlx::query(
                            "INSERT INTO idempotency_keys (scope, key, fingerprint, ticket_id, \
                             created_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&key.scope)
                        .bind(&key.key)
                        .bind(&key.fingerprint)
                        .bind(&numbered.id)
                        .bind(to_micros(numbered.created_at))
                        .execute(&mut *self.conn)
                        .await;
                        self.check(inserted)?;
                    }
                    Ok(number)
                }

                async fn save_ticket(
                    &mut self,
                    ticket: &Ticket,
                    original: &Ticket,
                ) -> Result<Option<Before>> {
                    // The version check makes the stored row the original: what it held
                    // before comes from there, and only what changed is rewritten.
                    let mut update = ticket_update::<$db>(ticket, original);
                    let updated = update.build().execute(&mut *self.conn).await;
                    if self.check(updated)?.rows_affected() != 1 {
                        return Ok(None);
                    }
                    self.holds_rows();
                    if ticket.metadata.tags != original.metadata.tags {
                        let deleted = sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1")
                            .bind(&ticket.id)
                            .execute(&mut *self.conn)
                            .await;
                        self.check(deleted)?;
                        self.insert_tags(ticket).await?;
                    }
                    if ticket.customer.identities != original.customer.identities {
                        let deleted =
                            sqlx::query("DELETE FROM ticket_identities WHERE ticket_id = $1")
                                .bind(&ticket.id)
                                .execute(&mut *self.conn)
                                .await;
                        self.check(deleted)?;
                        self.insert_identities(ticket).await?;
                    }
                    Ok(Some(Before {
                        assignee: original.assignee.clone(),
                        queue: original.queue.clone(),
                    }))
                }

                async fn insert_events(
                    &mut self,
                    ticket: &Ticket,
                    before: &Before,
                    actor: &str,
                    at: Time,
                    events: Vec<NewEvent>,
                ) -> Result<Vec<TicketEvent>> {
                    self.before_event_ids().await?;
                    let mut stored = Vec::with_capacity(events.len());
                    for event in events {
                        let id = sqlx::query_scalar(
                            "INSERT INTO ticket_events (ticket_id, event_type, actor, at, version, \
                             payload, assignee, previous_assignee, queue, previous_queue, \
                             customer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                             RETURNING id",
                        )
                        .bind(&ticket.id)
                        .bind(event.event_type.as_str())
                        .bind(actor)
                        .bind(to_micros(at))
                        .bind(event.version)
                        .bind(Json(&event.payload))
                        .bind(ticket.assignee.as_deref())
                        .bind(before.assignee.as_deref())
                        .bind(&ticket.queue)
                        .bind(&before.queue)
                        .bind(&ticket.customer.id)
                        .fetch_one(&mut *self.conn)
                        .await;
                        let id: i64 = self.check(id)?;
                        self.inserted_event(id);
                        stored.push(TicketEvent {
                            id,
                            ticket_id: ticket.id.clone(),
                            event_type: event.event_type,
                            actor: actor.to_string(),
                            at,
                            version: event.version,
                            payload: event.payload,
                        });
                    }
                    Ok(stored)
                }

                async fn insert_room(&mut self, room_id: &str, ticket: &Ticket) -> Result<()> {
                    let inserted = sqlx::query(
                        "INSERT INTO rooms (id, ticket_id, customer_id, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(room_id)
                    .bind(&ticket.id)
                    .bind(&ticket.customer.id)
                    .bind(to_micros(ticket.created_at))
                    .execute(&mut *self.conn)
                    .await;
                    self.check(inserted).map(drop)
                }

                async fn set_room_closed(
                    &mut self,
                    ticket_id: &str,
                    closed: bool,
                    at: Time,
                ) -> Result<()> {
                    let updated = sqlx::query(
                        "UPDATE rooms SET closed = $1, closed_at = CASE WHEN $1 THEN $2 END \
                         WHERE ticket_id = $3 AND closed <> $1",
                    )
                    .bind(closed)
                    .bind(to_micros(at))
                    .bind(ticket_id)
                    .execute(&mut *self.conn)
                    .await;
                    self.check(updated).map(drop)
                }

                async fn record_assignment(&mut self, agent_id: &str, at: Time) -> Result<()> {
                    let updated = sqlx::query("UPDATE agents SET last_assigned_at = $1 WHERE id = $2")
                        .bind(to_micros(at))
                        .bind(agent_id)
                        .execute(&mut *self.conn)
                        .await;
                    self.check(updated).map(drop)
                }

                fn add_to_report(&mut self, delta: $crate::domain::report::ReportDelta) {
                    self.report.add_delta(&delta);
                }

                fn after_commit(&mut self, hook: $crate::store::CommitHook) {
                    self.after_commit.push(hook);
                }

                async fn compact_report(&mut self, slots: (i64, i64)) -> Result<u64> {
                    use $crate::domain::report::{ReportRows, ReportTable};
                    let mut moved = 0;
                    for table in ReportTable::ALL {
                        let (name, by) = $crate::store::sql::report_table(table);
                        for (grain, from, to) in
                            $crate::domain::report::compaction_ranges(slots)
                        {
                            // Each sharded row is taken exactly once, also when replicas
                            // compact at the same time: a row another transaction deleted is
                            // not returned.
                            let compacted = $crate::domain::report::COMPACTED_SHARD;
                            let taken = sqlx::query(&format!(
                                "DELETE FROM {name} WHERE grain = $1 AND slot >= $2 \
                                 AND slot < $3 AND shard <> {compacted} RETURNING *"
                            ))
                            .bind($crate::store::sql::grain_code(grain))
                            .bind(from)
                            .bind(to)
                            .fetch_all(&mut *self.conn)
                            .await;
                            let taken = self.check(taken)?;
                            moved += taken.len() as u64;
                            let rows = taken
                                .iter()
                                .map(|row| $crate::store::sql::decode_report_row(row, by))
                                .collect::<Result<Vec<_>>>()?;
                            self.report.append(ReportRows::compacted(table, rows));
                        }
                    }
                    if moved > 0 {
                        self.holds_rows();
                    }
                    Ok(moved)
                }

                async fn agent_loads_for_update(
                    &mut self,
                    agents: $crate::domain::query::Agents<'_>,
                ) -> Result<Vec<AgentLoad>> {
                    let only = |qb: &mut QueryBuilder<'_, $db>, column: &str| {
                        qb.push(" AND ").push(column);
                        match agents {
                            $crate::domain::query::Agents::One(id) => qb.push(" = ").push_bind(id.to_string()),
                            $crate::domain::query::Agents::Serving(queue) => qb
                                .push(" IN (SELECT agent_id FROM agent_queues WHERE queue_id = ")
                                .push_bind(queue.to_string())
                                .push(")"),
                        };
                    };
                    let mut locked: Option<Vec<String>> = None;
                    if !Self::LOCK.is_empty() {
                        // Lock the agents first, in id order (so concurrent routing cannot
                        // deadlock), then count their tickets in a statement that sees every
                        // change committed before the locks were granted — for exactly the
                        // agents locked (one that joined the queue meanwhile is not held).
                        let mut qb = QueryBuilder::<$db>::new("SELECT id FROM agents WHERE 1 = 1");
                        only(&mut qb, "id");
                        qb.push(" ORDER BY id").push(Self::LOCK);
                        let rows = qb.build().fetch_all(&mut *self.conn).await;
                        let ids = self.check(rows)?
                            .iter()
                            .map(|row| row.text("id"))
                            .collect::<Result<Vec<String>>>()?;
                        if ids.is_empty() {
                            return Ok(Vec::new());
                        }
                        locked = Some(ids);
                    }
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {}, \
                         a.last_assigned_at, COALESCE(s.receives_tickets, FALSE) AS receiving, \
                         (SELECT COUNT(*) FROM tickets t WHERE t.assignee = a.id \
                         AND t.status IN {ACTIVE}) AS active \
                         FROM agents a LEFT JOIN agent_statuses s ON s.name = a.status WHERE 1 = 1",
                        agent_columns(super::JSON_ARRAY_AGG)
                    ));
                    match &locked {
                        Some(ids) => {
                            qb.push(" AND a.id IN (");
                            let mut list = qb.separated(", ");
                            for id in ids {
                                list.push_bind(id.clone());
                            }
                            qb.push(")");
                        }
                        None => only(&mut qb, "a.id"),
                    }
                    qb.push(" ORDER BY a.id");
                    let rows = qb.build().fetch_all(&mut *self.conn).await;
                    self.check(rows)?.iter().map(decode_load).collect()
                }

                async fn next_waiting_ticket(&mut self, load: &AgentLoad) -> Result<Option<Ticket>> {
                    // One read per queue of the agent, each in the order of the
                    // (queue, status, priority DESC, number) index, then the first of their
                    // heads in routing's `waiting_order`: with `queue IN (…)` PostgreSQL sorted every
                    // waiting ticket for each pick (390 ms with 38,000 waiting). On
                    // PostgreSQL the heads not taken stay locked until the commit (others
                    // skip them meanwhile, as they skip any ticket being routed). The load's
                    // lists were read from these tables in this transaction; an agent without
                    // languages takes tickets in any language.
                    let mut best: Option<Ticket> = None;
                    for queue in &load.agent.queues {
                        let mut qb = QueryBuilder::<$db>::new("SELECT doc FROM tickets WHERE queue = ");
                        qb.push_bind(queue.clone()).push(
                            " AND status = 'CREATED' AND assignee IS NULL AND bot_id IS NULL",
                        );
                        if !load.agent.languages.is_empty() {
                            qb.push(
                                " AND (language = '' OR language IN \
                                 (SELECT language FROM agent_languages WHERE agent_id = ",
                            )
                            .push_bind(load.agent.id.clone())
                            .push("))");
                        }
                        qb.push(" ORDER BY priority DESC, number ASC LIMIT 1")
                            .push(Self::SKIP_LOCKED);
                        let row = qb.build().fetch_optional(&mut *self.conn).await;
                        let Some(head) = self.check(row)?.map(|row| row.json::<Ticket>("doc")).transpose()? else {
                            continue;
                        };
                        let first = $crate::domain::routing::waiting_order;
                        if best.as_ref().is_none_or(|b| first(&head) < first(b)) {
                            best = Some(head);
                        }
                    }
                    Ok(best)
                }

                async fn assigned_tickets(&mut self, agent_id: &str) -> Result<Vec<Ticket>> {
                    let rows = sqlx::query(&format!(
                        "SELECT doc FROM tickets WHERE assignee = $1 AND status = 'ASSIGNED' \
                         ORDER BY number{}",
                        Self::LOCK
                    ))
                    .bind(agent_id)
                    .fetch_all(&mut *self.conn)
                    .await;
                    self.check(rows)?.iter().map(|row| row.json("doc")).collect()
                }

                async fn message_by_client_id(
                    &mut self,
                    room_id: &str,
                    sender_id: &str,
                    client_message_id: &str,
                ) -> Result<Option<Message>> {
                    let row = sqlx::query(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 \
                         AND sender_id = $2 AND client_message_id = $3"
                    ))
                    .bind(room_id)
                    .bind(sender_id)
                    .bind(client_message_id)
                    .fetch_optional(&mut *self.conn)
                    .await;
                    self.check(row)?.as_ref().map(decode_message).transpose()
                }

                async fn insert_message(&mut self, message: &Message) -> Result<i64> {
                    let seq = sqlx::query_scalar(
                        "INSERT INTO messages (id, room_id, ticket_id, sender_type, sender_id, \
                         sender_name, body, visible_to_customer, attachments, buttons, created_at, \
                         client_message_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
                    )
                    .bind(&message.id)
                    .bind(&message.room_id)
                    .bind(&message.ticket_id)
                    .bind(message.sender_type.as_str())
                    .bind(&message.sender_id)
                    .bind(&message.sender_name)
                    .bind(&message.body)
                    .bind(message.visible_to_customer)
                    .bind(Json(&message.attachments))
                    .bind(Json(&message.buttons))
                    .bind(to_micros(message.created_at))
                    .bind(&message.client_message_id)
                    .fetch_one(&mut *self.conn)
                    .await;
                    let seq: i64 = self.check(seq)?;
                    let updated = sqlx::query("UPDATE rooms SET last_message_at = $1 WHERE id = $2")
                        .bind(to_micros(message.created_at))
                        .bind(&message.room_id)
                        .execute(&mut *self.conn)
                        .await;
                    self.check(updated)?;
                    Ok(seq)
                }

                async fn attachment_usage(&mut self, room_id: &str) -> Result<AttachmentUsage> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS count, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes \
                         FROM attachments WHERE room_id = $1",
                    )
                    .bind(room_id)
                    .fetch_one(&mut *self.conn)
                    .await;
                    let row = self.check(row)?;
                    Ok(AttachmentUsage {
                        count: row.int("count")?,
                        bytes: row.int("bytes")?,
                    })
                }

                async fn insert_attachment(&mut self, attachment: &Attachment) -> Result<()> {
                    let inserted = sqlx::query(
                        "INSERT INTO attachments (id, room_id, name, content_type, size, data, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&attachment.meta.id)
                    .bind(&attachment.room_id)
                    .bind(&attachment.meta.name)
                    .bind(&attachment.meta.content_type)
                    .bind(attachment.meta.size)
                    .bind(&attachment.data)
                    .bind(to_micros(attachment.created_at))
                    .execute(&mut *self.conn)
                    .await;
                    self.check(inserted).map(drop)
                }
            }
        }
    };
}
pub(crate) use sql_tx;

/// Implements the ticket, event, reference, CCR and agent stores for `$store` over `$db`.
macro_rules! sql_store {
    ($store:ident, $db:path) => {
        mod sql_store {
            use super::$store;
            use $crate::clock::{Time, from_micros, to_micros};
            use $crate::domain::ccr::Ccr;
            use $crate::domain::query::{
                QueueStats, Scope, TicketFilter, TicketKey, TicketQuery, WatchFilter, Watched,
            };
            use $crate::domain::sla::SlaPolicy;
            use $crate::domain::{
                Agent, AgentStatus, EscalationDepartment, Queue, ResolutionStatus, Ticket,
                TicketEvent,
            };
            use $crate::error::{Error, Result};
            use $crate::store::filter::{
                push_event_scope, push_filter, push_order, push_scope, push_values, push_watch,
            };
            use $crate::store::sql::{
                ACTIVE, UNREAD, agent_columns, agent_list_insert, decode_agent, decode_ccr,
                decode_department, decode_event, decode_queue, decode_sla_policy, decode_status,
                decode_ticket_row,
                decode_watched, push_serves_queue,
            };
            use $crate::store::{
                AgentStore, CcrStore, EventStore, ReferenceStore, TicketStore,
            };
            use sqlx::QueryBuilder;
            use sqlx::types::Json;
            use std::collections::HashMap;

            type Row = <$db as sqlx::Database>::Row;
            type Statement<'v> = sqlx::query::Query<'v, $db, <$db as sqlx::Database>::Arguments<'v>>;

            /// Every row `sql` selects, decoded.
            async fn all<T>(store: &$store, sql: &str, decode: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
                let rows = sqlx::query(sql).fetch_all(store.reader()).await?;
                rows.iter().map(decode).collect()
            }

            /// The row `sql` selects by its one parameter `key`, decoded.
            async fn one<T>(
                store: &$store,
                sql: &str,
                key: &str,
                decode: fn(&Row) -> Result<T>,
            ) -> Result<Option<T>> {
                let row = sqlx::query(sql).bind(key).fetch_optional(store.reader()).await?;
                row.as_ref().map(decode).transpose()
            }

            /// Runs the statement `statement` makes of `values` as a write of its own.
            pub(super) async fn write_one<V>(
                store: &$store,
                values: V,
                statement: for<'v> fn(&'v V) -> Statement<'v>,
            ) -> Result<()>
            where
                V: Clone + Send + Sync + 'static,
            {
                store
                    .write(move |conn| {
                        let values = values.clone();
                        Box::pin(async move {
                            statement(&values).execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
                    .await
            }

            /// [`write_one`] for agents and reference data: the change is announced (with
            /// its commit, to other replicas) so in-memory copies are read again.
            pub(super) async fn write_reference<V>(
                store: &$store,
                values: V,
                write: for<'c> fn(
                    &'c mut <$db as sqlx::Database>::Connection,
                    V,
                ) -> futures_util::future::BoxFuture<'c, Result<()>>,
            ) -> Result<()>
            where
                V: Clone + Send + Sync + 'static,
            {
                store
                    .write(move |conn| {
                        let values = values.clone();
                        Box::pin(async move {
                            write(&mut *conn, values).await?;
                            if let Some(announce) = $store::ANNOUNCE_REFERENCE {
                                sqlx::query(announce).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                store.reference_written();
                Ok(())
            }

            fn queue_upsert(queue: &Queue) -> Statement<'_> {
                sqlx::query(
                    "INSERT INTO queues (id, name, language, default_sla_seconds) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, language = excluded.language, \
                     default_sla_seconds = excluded.default_sla_seconds",
                )
                .bind(&queue.id)
                .bind(&queue.name)
                .bind(&queue.language)
                .bind(queue.default_sla_seconds)
            }

            fn department_upsert(department: &EscalationDepartment) -> Statement<'_> {
                sqlx::query(
                    "INSERT INTO escalation_departments (id, label) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET label = excluded.label",
                )
                .bind(&department.id)
                .bind(&department.label)
            }

            /// The query of a page of tickets, after `prefix` (e.g. an `EXPLAIN`).
            fn list_query<'q>(query: &'q TicketQuery, prefix: &str) -> QueryBuilder<'q, $db> {
                let mut qb = QueryBuilder::<$db>::new(format!(
                    "{prefix}SELECT t.doc, {UNREAD} AS unread FROM tickets t WHERE 1 = 1"
                ));
                push_filter(&mut qb, &query.filter, query.now);
                push_scope(&mut qb, &query.scope);
                push_order(&mut qb, query.order, query.after);
                qb.push(" LIMIT ").push_bind(query.limit);
                qb.push(" OFFSET ").push_bind(query.offset);
                qb
            }

            /// The agent's row; its lists are written by [`agent_lists_replace`].
            fn agent_upsert(agent: &Agent) -> Statement<'_> {
                sqlx::query(
                    "INSERT INTO agents (id, name, role, status, status_alias, last_login_at, \
                     status_updated_at, max_concurrent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                     max_concurrent = excluded.max_concurrent",
                )
                .bind(&agent.id)
                .bind(&agent.name)
                .bind(agent.role.as_str())
                .bind(&agent.status)
                .bind(&agent.status_alias)
                .bind(agent.last_login_at.map(to_micros))
                .bind(agent.status_updated_at.map(to_micros))
                .bind(i64::from(agent.max_concurrent))
            }

            /// Replaces the agent's queues and languages with its lists, in their order, in the
            /// write that upserts (and so holds) its row: no read sees the row of one version
            /// with the lists of another, and routing, which locks the row, waits for both.
            async fn agent_lists_replace(
                conn: &mut <$db as sqlx::Database>::Connection,
                agent: &Agent,
            ) -> Result<()> {
                for (table, column, values) in [
                    ("agent_queues", "queue_id", &agent.queues),
                    ("agent_languages", "language", &agent.languages),
                ] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE agent_id = $1"))
                        .bind(&agent.id)
                        .execute(&mut *conn)
                        .await?;
                    if !values.is_empty() {
                        agent_list_insert::<$db>(table, column, &agent.id, values)
                            .build()
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            }

            fn status_upsert(status: &AgentStatus) -> Statement<'_> {
                sqlx::query(
                    "INSERT INTO agent_statuses (name, alias, receives_tickets) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET alias = excluded.alias, \
                     receives_tickets = excluded.receives_tickets",
                )
                .bind(&status.name)
                .bind(&status.alias)
                .bind(status.receives_tickets)
            }

            #[async_trait::async_trait]
            impl TicketStore for $store {
                async fn get_ticket(&self, key: &TicketKey) -> Result<Option<Ticket>> {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT t.doc, {UNREAD} AS unread FROM tickets t WHERE "
                    ));
                    match key {
                        TicketKey::Id(id) => qb.push("t.id = ").push_bind(id.clone()),
                        TicketKey::Number(number) => qb.push("t.number = ").push_bind(*number),
                        TicketKey::ExternalId(id) => {
                            qb.push("t.external_id = ").push_bind(id.clone())
                        }
                        TicketKey::Reference(_) => {
                            return Err(Error::Internal(
                                "the app resolves references to an id or an external id".into(),
                            ));
                        }
                    };
                    let row = qb.build().fetch_optional(self.reader()).await?;
                    row.as_ref().map(decode_ticket_row).transpose()
                }

                async fn list_tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>> {
                    let rows = list_query(query, "")
                        .build()
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(decode_ticket_row).collect()
                }

                async fn list_plan(&self, query: &TicketQuery) -> Result<Vec<String>> {
                    let rows = list_query(query, super::EXPLAIN)
                        .build()
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter()
                        .map(|row| Ok(sqlx::Row::try_get::<String, _>(row, super::EXPLAIN_COLUMN)?))
                        .collect()
                }

                async fn count_tickets(
                    &self,
                    filter: &TicketFilter,
                    scope: &Scope,
                    now: Time,
                ) -> Result<i64> {
                    let mut qb =
                        QueryBuilder::<$db>::new("SELECT COUNT(*) FROM tickets t WHERE 1 = 1");
                    push_filter(&mut qb, filter, now);
                    push_scope(&mut qb, scope);
                    Ok(qb.build_query_scalar().fetch_one(self.reader()).await?)
                }

                async fn queue_stats(
                    &self,
                    queue_id: &str,
                    ticket_id: Option<&str>,
                ) -> Result<QueueStats> {
                    const WAITING: &str =
                        "queue = $1 AND status = 'CREATED' AND assignee IS NULL AND bot_id IS NULL";
                    let (waiting_count, oldest): (i64, Option<i64>) = sqlx::query_as(&format!(
                        "SELECT COUNT(*), MIN(created_at) FROM tickets WHERE {WAITING}"
                    ))
                    .bind(queue_id)
                    .fetch_one(self.reader())
                    .await?;
                    let mut position = 0;
                    if let Some(ticket_id) = ticket_id {
                        let key: Option<(i64, i64)> = sqlx::query_as(&format!(
                            "SELECT priority, number FROM tickets WHERE id = $2 AND {WAITING}"
                        ))
                        .bind(queue_id)
                        .bind(ticket_id)
                        .fetch_optional(self.reader())
                        .await?;
                        if let Some((priority, number)) = key {
                            let ahead: i64 = sqlx::query_scalar(&format!(
                                "SELECT COUNT(*) FROM tickets WHERE {WAITING} \
                                 AND (priority > $2 OR (priority = $2 AND number < $3))"
                            ))
                            .bind(queue_id)
                            .bind(priority)
                            .bind(number)
                            .fetch_one(self.reader())
                            .await?;
                            position = ahead + 1;
                        }
                    }
                    Ok(QueueStats {
                        waiting_count,
                        oldest_waiting_since: oldest.map(from_micros),
                        position,
                    })
                }
            }

            #[async_trait::async_trait]
            impl EventStore for $store {
                async fn list_events(
                    &self,
                    ticket_id: &str,
                    after_id: i64,
                    limit: i64,
                ) -> Result<Vec<TicketEvent>> {
                    let rows = sqlx::query(
                        "SELECT id, ticket_id, event_type, actor, at, version, payload \
                         FROM ticket_events WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .bind(ticket_id)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                    rows.iter().map(decode_event).collect()
                }

                async fn watch_events(
                    &self,
                    after_id: i64,
                    upto_id: i64,
                    watch: &WatchFilter,
                    scope: &Scope,
                    limit: i64,
                ) -> Result<Vec<Watched>> {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT e.id, e.ticket_id, e.event_type, e.actor, e.at, e.version, \
                         e.payload, e.assignee AS e_assignee, e.previous_assignee, \
                         e.queue AS e_queue, e.previous_queue, e.customer_id AS e_customer_id, \
                         t.doc, {UNREAD} AS unread FROM ticket_events e \
                         JOIN tickets t ON t.id = e.ticket_id WHERE e.id > "
                    ));
                    qb.push_bind(after_id).push(" AND e.id <= ").push_bind(upto_id);
                    push_watch(&mut qb, watch);
                    push_event_scope(&mut qb, scope);
                    qb.push(" ORDER BY e.id LIMIT ").push_bind(limit);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(decode_watched).collect()
                }
            }

            #[async_trait::async_trait]
            impl ReferenceStore for $store {
                async fn list_queues(&self) -> Result<Vec<Queue>> {
                    all(
                        self,
                        "SELECT id, name, language, default_sla_seconds FROM queues ORDER BY name, id",
                        decode_queue,
                    )
                    .await
                }

                async fn get_queue(&self, id: &str) -> Result<Option<Queue>> {
                    one(
                        self,
                        "SELECT id, name, language, default_sla_seconds FROM queues WHERE id = $1",
                        id,
                        decode_queue,
                    )
                    .await
                }

                async fn upsert_queue(&self, queue: &Queue) -> Result<()> {
                    write_reference(self, queue.clone(), |conn, queue| {
                        Box::pin(async move {
                            queue_upsert(&queue).execute(conn).await?;
                            Ok(())
                        })
                    })
                    .await
                }

                async fn list_departments(&self) -> Result<Vec<EscalationDepartment>> {
                    all(
                        self,
                        "SELECT id, label FROM escalation_departments ORDER BY label, id",
                        decode_department,
                    )
                    .await
                }

                async fn get_department(&self, id: &str) -> Result<Option<EscalationDepartment>> {
                    one(
                        self,
                        "SELECT id, label FROM escalation_departments WHERE id = $1",
                        id,
                        decode_department,
                    )
                    .await
                }

                async fn upsert_department(&self, department: &EscalationDepartment) -> Result<()> {
                    write_reference(self, department.clone(), |conn, department| {
                        Box::pin(async move {
                            department_upsert(&department).execute(conn).await?;
                            Ok(())
                        })
                    })
                    .await
                }

                async fn list_sla_policies(&self, queue: Option<&str>) -> Result<Vec<SlaPolicy>> {
                    let mut qb = QueryBuilder::new(
                        "SELECT queue, severity, doc, updated_at FROM sla_policies",
                    );
                    if let Some(queue) = queue {
                        qb.push(" WHERE queue = ").push_bind(queue.to_string());
                    }
                    qb.push(" ORDER BY queue, severity");
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(decode_sla_policy).collect()
                }

                async fn upsert_sla_policy(&self, policy: &SlaPolicy) -> Result<()> {
                    write_reference(self, policy.clone(), |conn, policy| {
                        Box::pin(async move {
                            sqlx::query(
                                "INSERT INTO sla_policies (queue, severity, doc, updated_at) \
                                 VALUES ($1, $2, $3, $4) ON CONFLICT (queue, severity) DO UPDATE \
                                 SET doc = excluded.doc, updated_at = excluded.updated_at",
                            )
                            .bind(&policy.queue)
                            .bind(policy.severity.map_or("", |s| s.as_str()))
                            .bind(Json(&policy.targets))
                            .bind(to_micros(policy.updated_at))
                            .execute(conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .await
                }

                async fn list_resolution_statuses(&self) -> Result<Vec<ResolutionStatus>> {
                    let names: Vec<String> =
                        sqlx::query_scalar("SELECT name FROM resolution_statuses ORDER BY position")
                            .fetch_all(self.reader())
                            .await?;
                    Ok(names
                        .iter()
                        .filter_map(|name| ResolutionStatus::parse(name))
                        .collect())
                }

                async fn is_empty(&self) -> Result<bool> {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT (SELECT COUNT(*) FROM queues) + (SELECT COUNT(*) FROM agents) \
                         + (SELECT COUNT(*) FROM tickets)",
                    )
                    .fetch_one(self.reader())
                    .await?;
                    Ok(count == 0)
                }
            }

            #[async_trait::async_trait]
            impl CcrStore for $store {
                async fn list_ccr(&self) -> Result<Vec<Ccr>> {
                    all(
                        self,
                        "SELECT code, level, parent_code, translations FROM ccr_nodes ORDER BY code",
                        decode_ccr,
                    )
                    .await
                }

                async fn get_ccr(&self, code: &str) -> Result<Option<Ccr>> {
                    one(
                        self,
                        "SELECT code, level, parent_code, translations FROM ccr_nodes WHERE code = $1",
                        code,
                        decode_ccr,
                    )
                    .await
                }

                async fn is_ccr_leaf(&self, code: &str) -> Result<bool> {
                    let level: Option<i64> =
                        sqlx::query_scalar("SELECT level FROM ccr_nodes WHERE code = $1")
                            .bind(code)
                            .fetch_optional(self.reader())
                            .await?;
                    Ok(level == Some(3))
                }

                async fn replace_ccr(&self, nodes: Vec<Ccr>) -> Result<i64> {
                    self.write(move |conn| {
                        let nodes = nodes.clone();
                        Box::pin(async move {
                            let old: Vec<String> = sqlx::query_scalar("SELECT code FROM ccr_nodes")
                                .fetch_all(&mut *conn)
                                .await?;
                            sqlx::query("DELETE FROM ccr_nodes").execute(&mut *conn).await?;
                            for node in &nodes {
                                sqlx::query(
                                    "INSERT INTO ccr_nodes (code, level, parent_code, translations) \
                                     VALUES ($1, $2, $3, $4)",
                                )
                                .bind(&node.code)
                                .bind(i64::from(node.level))
                                .bind(Some(node.parent_code.as_str()).filter(|p| !p.is_empty()))
                                .bind(Json(&node.translations))
                                .execute(&mut *conn)
                                .await?;
                            }
                            let kept: std::collections::HashSet<&str> =
                                nodes.iter().map(|n| n.code.as_str()).collect();
                            Ok(old.iter().filter(|code| !kept.contains(code.as_str())).count() as i64)
                        })
                    })
                    .await
                }
            }

            #[async_trait::async_trait]
            impl AgentStore for $store {
                async fn get_agent(&self, id: &str) -> Result<Option<Agent>> {
                    one(
                        self,
                        &format!(
                            "SELECT {} FROM agents a WHERE a.id = $1",
                            agent_columns(super::JSON_ARRAY_AGG)
                        ),
                        id,
                        decode_agent,
                    )
                    .await
                }

                async fn upsert_agent(&self, agent: &Agent) -> Result<()> {
                    write_reference(self, agent.clone(), |conn, agent| {
                        Box::pin(async move {
                            agent_upsert(&agent).execute(&mut *conn).await?;
                            agent_lists_replace(conn, &agent).await
                        })
                    })
                    .await
                }

                async fn set_agent_status(
                    &self,
                    agent: &Agent,
                    previous_status: &str,
                    actor: &str,
                ) -> Result<()> {
                    let (agent, previous_status, actor) = (
                        agent.clone(),
                        previous_status.to_string(),
                        actor.to_string(),
                    );
                    self.write(move |conn| {
                        let (agent, previous_status, actor) =
                            (agent.clone(), previous_status.clone(), actor.clone());
                        Box::pin(async move {
                            sqlx::query(
                                "INSERT INTO agent_status_events (agent_id, status, previous_status, \
                                 actor, at) VALUES ($1, $2, $3, $4, $5)",
                            )
                            .bind(&agent.id)
                            .bind(&agent.status)
                            .bind(&previous_status)
                            .bind(&actor)
                            .bind(agent.status_updated_at.map(to_micros).unwrap_or_default())
                            .execute(&mut *conn)
                            .await?;
                            sqlx::query(
                                "UPDATE agents SET status = $1, status_alias = $2, \
                                 status_updated_at = $3, last_login_at = $4 WHERE id = $5",
                            )
                            .bind(&agent.status)
                            .bind(&agent.status_alias)
                            .bind(agent.status_updated_at.map(to_micros))
                            .bind(agent.last_login_at.map(to_micros))
                            .bind(&agent.id)
                            .execute(&mut *conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .await
                }

                async fn agent_status_history(
                    &self,
                    agent_id: &str,
                    limit: i64,
                ) -> Result<Vec<(String, String, String, Time)>> {
                    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                        "SELECT status, previous_status, actor, at FROM agent_status_events \
                         WHERE agent_id = $1 ORDER BY id DESC LIMIT $2",
                    )
                    .bind(agent_id)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(status, previous, actor, at)| (status, previous, actor, from_micros(at)))
                        .collect())
                }

                async fn list_agents(
                    &self,
                    queue: Option<&str>,
                    status: Option<&str>,
                    after_id: Option<&str>,
                    limit: i64,
                ) -> Result<Vec<Agent>> {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM agents a WHERE 1 = 1",
                        agent_columns(super::JSON_ARRAY_AGG)
                    ));
                    if let Some(queue) = queue {
                        push_serves_queue(&mut qb, queue);
                    }
                    if let Some(status) = status {
                        qb.push(" AND a.status = ").push_bind(status.to_string());
                    }
                    if let Some(after_id) = after_id {
                        qb.push(" AND a.id > ").push_bind(after_id.to_string());
                    }
                    qb.push(" ORDER BY a.id LIMIT ").push_bind(limit);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(decode_agent).collect()
                }

                async fn active_ticket_counts(
                    &self,
                    agent_ids: &[String],
                ) -> Result<HashMap<String, i64>> {
                    if agent_ids.is_empty() {
                        return Ok(HashMap::new());
                    }
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT assignee, COUNT(*) FROM tickets WHERE assignee IN ",
                    );
                    push_values(&mut qb, agent_ids);
                    qb.push(format!(" AND status IN {ACTIVE} GROUP BY assignee"));
                    let rows: Vec<(String, i64)> =
                        qb.build_query_as().fetch_all(self.reader()).await?;
                    Ok(rows.into_iter().collect())
                }

                async fn list_agent_statuses(&self) -> Result<Vec<AgentStatus>> {
                    all(
                        self,
                        "SELECT name, alias, receives_tickets FROM agent_statuses ORDER BY name",
                        decode_status,
                    )
                    .await
                }

                async fn get_agent_status(&self, name: &str) -> Result<Option<AgentStatus>> {
                    one(
                        self,
                        "SELECT name, alias, receives_tickets FROM agent_statuses WHERE name = $1",
                        name,
                        decode_status,
                    )
                    .await
                }

                async fn upsert_agent_status(&self, status: &AgentStatus) -> Result<()> {
                    write_one(self, status.clone(), status_upsert).await
                }
            }
        }
    };
}
pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    #[test]
    fn active_is_the_domains_active_statuses() {
        let domain: Vec<String> = crate::domain::TicketStatus::ACTIVE
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(super::ACTIVE, format!("({})", domain.join(", ")));
    }
}
