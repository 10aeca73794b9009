//! The blueprints' JSON, named and spelled exactly as seeds 000 (ticket detail) and 001 (chat
//! ticket) write them, and the conversions from the domain. Fields with no seed counterpart
//! (number, version, rating, …) are left out.
use crate::app::agents::AgentView;
use crate::app::ccr::{CcrMatch, CcrTier, SearchableCcr};
use crate::clock::Time;
use crate::domain::{
    self, EscalationDepartment, LinkCategory, LinkIdType, ResolutionStatus, TicketStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

fn unix(time: Option<Time>) -> i64 {
    time.map_or(0, |t| t.timestamp())
}

/// Go's `time.Time.String()` in UTC, as the blueprint's AgentInfo shows times
/// (`2012-12-11 08:52:31 +0000 UTC`); an unset time is Go's zero time.
pub fn go_time(time: Option<Time>) -> String {
    match time {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => "0001-01-01 00:00:00 +0000 UTC".to_string(),
    }
}

// ---- seed 000: ticket detail -----------------------------------------------------------

/// Seed 000's `Ticket`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    /// Ticket id.
    pub id: String,
    /// Assigned agent id; empty when unassigned.
    #[serde(rename = "Assignee")]
    pub assignee: String,
    /// When the status last changed (unix seconds).
    #[serde(rename = "UpdatedAt")]
    pub updated_at: i64,
    /// When the ticket was created (unix seconds).
    #[serde(rename = "createdAt")]
    pub created_at: i64,
    /// The queue's name.
    pub queue: String,
    pub channel: String,
    /// Free JSON object.
    #[schema(value_type = Object)]
    pub content: Map<String, Value>,
    pub metadata: Metadata,
    pub status: TicketStatusName,
    #[serde(rename = "statusReason")]
    pub status_reason: String,
    pub priority: i32,
    pub customer: Customer,
    /// `null` when the ticket has no vendor.
    pub vendor: Option<Vendor>,
    pub source: String,
    #[serde(rename = "type")]
    pub ticket_type: String,
}

/// Seed 000's `TicketStatus`; `ON_HOLD` is shown as `ASSIGNED` with statusReason `on hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatusName {
    Created,
    Assigned,
    Escalated,
    Closed,
}

/// Seed 000's `Metadata`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Metadata {
    /// Leaf CCR code.
    pub ccr: String,
    pub country: String,
    pub language: String,
    #[serde(rename = "orderId")]
    pub order_id: String,
    /// SLA in seconds.
    pub sla: i64,
    pub tags: Vec<String>,
    /// The order's global entity id (geid).
    #[serde(rename = "entityId")]
    pub entity_id: String,
    #[serde(rename = "childrenLinks")]
    pub children_links: Vec<TicketLink>,
    #[serde(rename = "localCcr")]
    pub local_ccr: String,
}

/// Seed 000's `TicketLink`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketLink {
    #[serde(rename = "ticketId")]
    pub ticket_id: String,
    #[serde(rename = "ticketIdType")]
    pub ticket_id_type: LinkIdType,
    #[serde(rename = "ticketCategory")]
    pub ticket_category: LinkCategory,
    pub creator: String,
    #[serde(rename = "createdAt")]
    pub created_at: i64,
    pub reason: String,
}

/// Seed 000's `Customer`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: String,
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: String,
    pub name: String,
    pub email: String,
}

/// Seed 000's `Vendor`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Vendor {
    pub id: String,
    pub vertical: VerticalType,
}

/// Seed 000's `VerticalType`, lower-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerticalType {
    Restaurants,
    Groceries,
    Flowers,
    Cosmetics,
    HealthSupplements,
    Pharmacies,
    Pets,
    Drinks,
    CrossVertical,
    Electronics,
    BabySupplies,
    Furniture,
    BagsAndLuggage,
    Toys,
    Optics,
    Courier,
    Coffee,
    Shop,
    CourierBusiness,
    Cash,
    Darkstores,
    Unknown,
}

impl VerticalType {
    /// The stored word (gRPC writes the same lower-case words); anything else is `unknown`.
    fn of(word: &str) -> Self {
        serde_json::from_value(Value::String(word.to_string())).unwrap_or(VerticalType::Unknown)
    }
}

impl Ticket {
    /// `queues` maps queue ids to names.
    pub fn of(ticket: domain::Ticket, queues: &HashMap<String, String>) -> Self {
        let (status, status_reason) = match ticket.status {
            TicketStatus::Created => (TicketStatusName::Created, ticket.status_reason),
            TicketStatus::Assigned => (TicketStatusName::Assigned, ticket.status_reason),
            TicketStatus::OnHold => (TicketStatusName::Assigned, "on hold".to_string()),
            TicketStatus::Escalated => (TicketStatusName::Escalated, ticket.status_reason),
            TicketStatus::Closed => (TicketStatusName::Closed, ticket.status_reason),
        };
        let m = ticket.metadata;
        Ticket {
            queue: queues.get(&ticket.queue).cloned().unwrap_or(ticket.queue),
            id: ticket.id,
            assignee: ticket.assignee.unwrap_or_default(),
            updated_at: ticket.status_changed_at.timestamp(),
            created_at: ticket.created_at.timestamp(),
            channel: ticket.channel,
            content: ticket.content,
            metadata: Metadata {
                ccr: m.ccr,
                country: m.country,
                language: m.language,
                order_id: m.order_id,
                sla: m.sla_seconds,
                tags: m.tags,
                entity_id: m.entity_id,
                children_links: m
                    .children_links
                    .into_iter()
                    .map(|link| TicketLink {
                        ticket_id: link.ticket_id,
                        ticket_id_type: link.id_type,
                        ticket_category: link.category,
                        creator: link.creator,
                        created_at: link.created_at.timestamp(),
                        reason: link.reason,
                    })
                    .collect(),
                local_ccr: m.local_ccr,
            },
            status,
            status_reason,
            priority: ticket.priority,
            customer: Customer {
                id: ticket.customer.id,
                first_name: ticket.customer.first_name,
                last_name: ticket.customer.last_name,
                name: ticket.customer.name,
                email: ticket.customer.email,
            },
            vendor: ticket.vendor.map(|vendor| Vendor {
                vertical: VerticalType::of(&vendor.vertical),
                id: vendor.id,
            }),
            source: ticket.source,
            ticket_type: ticket.ticket_type,
        }
    }
}

/// Seed 000's `TicketHistoryResponse`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketHistoryResponse {
    pub list: Vec<Ticket>,
    pub page: i64,
    #[serde(rename = "pageSize")]
    pub page_size: i64,
}

/// `?page=&pageSize=` of the history route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page, from 1 (default 1).
    pub page: Option<i64>,
    /// Tickets per page, 1–500 (default 10).
    #[serde(rename = "pageSize")]
    #[param(rename = "pageSize")]
    pub page_size: Option<i64>,
}

/// Seed 000's `TicketCloseParam`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TicketCloseParam {
    #[serde(rename = "statusReason")]
    pub status_reason: String,
    /// `NO_ACTION` when absent.
    #[serde(rename = "resolutionStatus")]
    pub resolution_status: Option<ResolutionStatus>,
    #[serde(rename = "resolutionReason")]
    pub resolution_reason: String,
}

/// Seed 000's `TicketEscalateParam` (v1: to the configured default department).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TicketEscalateParam {
    #[serde(rename = "statusReason")]
    pub status_reason: String,
    #[serde(rename = "resolutionReason")]
    pub resolution_reason: String,
}

/// Seed 000's `TicketEscalateV2Param`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TicketEscalateV2Param {
    #[serde(rename = "statusReason")]
    pub status_reason: String,
    #[serde(rename = "resolutionReason")]
    pub resolution_reason: String,
    /// Destination department id.
    pub department: String,
}

/// Seed 000's `TicketReassignParam`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TicketReassignParam {
    pub reason: String,
    /// The new assignee's agent id.
    pub assignee: String,
}

/// Seed 000's `TicketUpdateParam`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TicketUpdateParam {
    /// Required with `UPDATE_CCR`.
    #[serde(default)]
    pub ccr: Option<String>,
    /// With `UPDATE_ORDER_ID`; empty removes the order id.
    #[serde(rename = "orderId", default)]
    pub order_id: Option<String>,
    #[serde(rename = "type")]
    pub update_type: TicketUpdateType,
    /// Required with `UPDATE_ORDER_ID` when setting an order id.
    #[serde(default)]
    pub geid: Option<String>,
}

/// Seed 000's `TicketUpdateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketUpdateType {
    UpdateCcr,
    UpdateChatResponseTime,
    UpdatePickedTime,
    UpdateOrderId,
    CloseChatRoom,
}

/// Seed 000's `TicketTransferParam`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TicketTransferParam {
    #[serde(rename = "queueId")]
    pub queue_id: String,
}

/// Seed 000's `Queue`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub language: String,
}

/// Seed 000's `TransferQueueResponse`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferQueueResponse {
    pub list: Vec<Queue>,
}

impl From<Vec<domain::Queue>> for TransferQueueResponse {
    fn from(queues: Vec<domain::Queue>) -> Self {
        TransferQueueResponse {
            list: queues
                .into_iter()
                .map(|q| Queue {
                    id: q.id,
                    name: q.name,
                    language: q.language,
                })
                .collect(),
        }
    }
}

/// Seed 000's `EscalationDepartments`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EscalationDepartments {
    pub id: String,
    pub label: String,
}

impl From<EscalationDepartment> for EscalationDepartments {
    fn from(d: EscalationDepartment) -> Self {
        EscalationDepartments {
            id: d.id,
            label: d.label,
        }
    }
}

/// Seed 000's `ResolutionStatusList`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResolutionStatusList {
    pub list: Vec<ResolutionStatus>,
}

/// Seed 000's `Translation`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Translation {
    pub language: String,
    pub translation: String,
}

/// Seed 000's `Tier`: a node's translations and its children (`CcrTiers`, keyed by code).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Tier {
    pub translations: Vec<Translation>,
    #[schema(no_recursion)]
    pub child: BTreeMap<String, Tier>,
}

/// Seed 000's `CcrListResponse`; `data` is `CcrTiers`, an object keyed by CCR code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CcrListResponse {
    pub status_code: u16,
    pub data: BTreeMap<String, Tier>,
}

/// `CcrTiers` of a forest.
pub fn tiers(forest: Vec<CcrTier>) -> BTreeMap<String, Tier> {
    forest
        .into_iter()
        .map(|tier| {
            (
                tier.ccr.code,
                Tier {
                    translations: tier
                        .ccr
                        .translations
                        .into_iter()
                        .map(|t| Translation {
                            language: t.language,
                            translation: t.text,
                        })
                        .collect(),
                    child: tiers(tier.children),
                },
            )
        })
        .collect()
}

/// `?lang=` of the CCR tree.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CcrQuery {
    /// Language code (e.g. `en`); all languages when absent.
    #[serde(default)]
    pub lang: String,
}

/// `?q=&lang=` of the CCR search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CcrSearchQuery {
    /// Words to look for.
    #[serde(default)]
    pub q: String,
    /// Language code (default `en`).
    #[serde(default)]
    pub lang: String,
}

/// Seed 000's `SearchableCCR`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = SearchableCCR)]
pub struct SearchableCcrJson {
    pub translation: String,
    pub language: String,
    pub code: String,
    pub level: i32,
}

impl From<SearchableCcr> for SearchableCcrJson {
    fn from(s: SearchableCcr) -> Self {
        SearchableCcrJson {
            translation: s.translation,
            language: s.language,
            code: s.code,
            level: s.level,
        }
    }
}

/// Seed 000's `SearchableCCRChild`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = SearchableCCRChild)]
pub struct SearchableCcrChild {
    pub data: SearchableCcrJson,
    pub parents: Vec<SearchableCcrJson>,
}

/// Seed 000's `SearchableCcrResponse`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchableCcrResponse {
    pub list: Vec<SearchableCcrChild>,
}

impl From<Vec<CcrMatch>> for SearchableCcrResponse {
    fn from(matches: Vec<CcrMatch>) -> Self {
        SearchableCcrResponse {
            list: matches
                .into_iter()
                .map(|m| SearchableCcrChild {
                    data: m.leaf.into(),
                    parents: m.parents.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

// ---- seed 001: chat ticket ---------------------------------------------------------------

/// Seed 001's `AgentInfo`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(rename = "statusAlias")]
    pub status_alias: String,
    /// Like `2012-12-11 08:52:31 +0000 UTC`.
    #[serde(rename = "lastLoginTime")]
    pub last_login_time: String,
    /// When the status last changed, like `2012-12-11 08:52:31 +0000 UTC`.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    /// Seconds in the current status.
    #[serde(rename = "agentTimeInStatus")]
    pub agent_time_in_status: i64,
}

impl From<AgentView> for AgentInfo {
    fn from(view: AgentView) -> Self {
        let agent = view.agent;
        AgentInfo {
            id: agent.id,
            name: agent.name,
            status: agent.status,
            status_alias: agent.status_alias,
            last_login_time: go_time(agent.last_login_at),
            updated_at: go_time(agent.status_updated_at),
            agent_time_in_status: view.time_in_status.map_or(0, |d| d.num_seconds()),
        }
    }
}

/// Seed 001's `AgentStatusInfo`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentStatusInfo {
    pub id: String,
    pub status: String,
}

impl From<AgentView> for AgentStatusInfo {
    fn from(view: AgentView) -> Self {
        AgentStatusInfo {
            id: view.agent.id,
            status: view.agent.status,
        }
    }
}

/// Seed 001's `UpdateAgentStatusParam`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateAgentStatusParam {
    pub status: String,
}

/// Seed 001's `AgentStatusList`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentStatusList {
    pub data: Vec<String>,
}

/// Seed 001's chat `Ticket`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatTicket {
    pub id: String,
    #[schema(value_type = Object)]
    pub content: Map<String, Value>,
    pub metadata: ChatMetadata,
    pub customer: ChatCustomer,
}

/// Seed 001's `Metadata`; times are unix seconds, 0 when unset.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatMetadata {
    pub ccr: String,
    #[serde(rename = "roomId")]
    pub room_id: String,
    #[serde(rename = "orderId")]
    pub order_id: String,
    #[serde(rename = "pickedTimestamp")]
    pub picked_timestamp: i64,
    #[serde(rename = "assignedTimestamp")]
    pub assigned_timestamp: i64,
    #[serde(rename = "autoCloseWarningTimestamp")]
    pub auto_close_warning_timestamp: i64,
    #[serde(rename = "autoCloseTimestamp")]
    pub auto_close_timestamp: i64,
    /// The server's time when it answered.
    #[serde(rename = "currentTimestamp")]
    pub current_timestamp: i64,
    #[serde(rename = "entityId")]
    pub entity_id: String,
    #[serde(rename = "isChatRoomClosed")]
    pub is_chat_room_closed: bool,
    pub language: String,
}

/// Seed 001's `Customer`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatCustomer {
    pub id: String,
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: String,
    pub name: String,
}

impl ChatTicket {
    pub fn of(ticket: domain::Ticket, now: Time) -> Self {
        let m = ticket.metadata;
        ChatTicket {
            id: ticket.id,
            content: ticket.content,
            metadata: ChatMetadata {
                ccr: m.ccr,
                room_id: m.room_id,
                order_id: m.order_id,
                picked_timestamp: unix(m.picked_at),
                assigned_timestamp: unix(m.assigned_at),
                auto_close_warning_timestamp: unix(m.auto_close_warning_at),
                auto_close_timestamp: unix(m.auto_close_at),
                current_timestamp: now.timestamp(),
                entity_id: m.entity_id,
                is_chat_room_closed: m.chat_room_closed,
                language: m.language,
            },
            customer: ChatCustomer {
                id: ticket.customer.id,
                first_name: ticket.customer.first_name,
                last_name: ticket.customer.last_name,
                name: ticket.customer.name,
            },
        }
    }
}

// ---- errors -------------------------------------------------------------------------------

/// One entry of the blueprint error body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = error_object)]
pub struct ErrorObject {
    /// The HTTP status, as a string.
    pub status: String,
    /// The blueprint's title: `bad request`, `not authorize`, `forbidden`, `not found`,
    /// `conflict`, `internal server error`, …
    pub title: String,
    /// What went wrong, naming the field for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The blueprint's `Error`: `{"errors":[{"status":"404","title":"not found"}]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub errors: Vec<ErrorObject>,
}

/// A 200 with nothing to say.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Empty {}

/// Domain enums the blueprints spell as the domain does (serde's names, `as_str`),
/// described for the OpenAPI document from their `ALL` lists.
macro_rules! string_enum_schema {
    ($type:ty, $name:literal) => {
        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(<$type>::ALL.iter().map(|value| value.as_str())))
                    .into()
            }
        }
        impl ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

string_enum_schema!(ResolutionStatus, "ResolutionStatus");
string_enum_schema!(LinkIdType, "TicketLinkIdType");
string_enum_schema!(LinkCategory, "TicketLinkCategory");

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the schema lists are the names serde writes.
    #[test]
    fn enum_schemas_spell_values_as_serde_does() {
        for value in ResolutionStatus::ALL {
            assert_eq!(serde_json::json!(value), value.as_str());
        }
        for value in LinkIdType::ALL {
            assert_eq!(serde_json::json!(value), value.as_str());
        }
        for value in LinkCategory::ALL {
            assert_eq!(serde_json::json!(value), value.as_str());
        }
    }
}
