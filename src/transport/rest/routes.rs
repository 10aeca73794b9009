//! The blueprint routes (DESIGN.md §5): decode → app → encode. Each `#[utoipa::path]` is both
//! the route and its OpenAPI entry, so the document cannot drift from the code.
use super::RestState;
use super::extract::{Caller, JsonBody, PathId, QueryParams};
use super::types::*;
use crate::domain::lifecycle::{Stamp, TicketPatch};
use crate::domain::query::TicketKey;
use crate::domain::{Principal, Transition};
use crate::error::{Error, Result};
use axum::Json;
use axum::extract::State;
use utoipa::{IntoResponses, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "casework REST shim",
        description = "The One View ticket blueprints (ticket detail, chat ticket) served by \
                       casework. Every route is also served under /ticket-detail and \
                       /cs-chat-ticket.",
    ),
    servers(
        (url = "/", description = "root"),
        (url = "/ticket-detail", description = "seed 000's base path"),
        (url = "/cs-chat-ticket", description = "seed 001's base path"),
    ),
    components(schemas(ErrorBody, ErrorObject)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// The error answers of a route that takes a body: bad input, auth, scope, a missing
/// ticket, an illegal transition, a body too large or not JSON.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes responses; never built
enum BodyErrors {
    #[response(status = 400, description = "bad request; `detail` names the field")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "not authorize")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "forbidden")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "not found")]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "conflict: the ticket's status does not allow it"
    )]
    Conflict(ErrorBody),
    #[response(status = 413, description = "payload too large")]
    PayloadTooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "unsupported media type: send application/json"
    )]
    UnsupportedMediaType(ErrorBody),
}

/// The error answers of a change without a body.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum ChangeErrors {
    #[response(status = 400, description = "bad request; `detail` names the field")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "not authorize")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "forbidden")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "not found")]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "conflict: the ticket's status does not allow it"
    )]
    Conflict(ErrorBody),
}

/// The error answers of a call about one ticket, room, agent or query.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum ItemErrors {
    #[response(status = 400, description = "bad request; `detail` names the field")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "not authorize")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "forbidden")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "not found")]
    NotFound(ErrorBody),
}

/// The error answers of a list of reference data.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum ListErrors {
    #[response(status = 401, description = "not authorize")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "forbidden")]
    Forbidden(ErrorBody),
}

pub fn routes() -> OpenApiRouter<RestState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(escalate_v2))
        .routes(routes!(escalation_departments))
        .routes(routes!(agent_info))
        .routes(routes!(my_tickets))
        .routes(routes!(go_online))
        .routes(routes!(go_offline))
        .routes(routes!(set_status))
        .routes(routes!(close_room))
        .routes(routes!(picked_time))
        .routes(routes!(statuses))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(history))
        .routes(routes!(close_ticket))
        .routes(routes!(escalate_v1))
        .routes(routes!(reassign))
        .routes(routes!(transfer))
        .routes(routes!(transfer_queues))
        .routes(routes!(resolution_statuses))
        .routes(routes!(ccr_tree))
        .routes(routes!(ccr_search))
}

/// Seed 000's Ticket of `ticket`.
async fn ticket_json(state: &RestState, ticket: crate::domain::Ticket) -> Json<Ticket> {
    Json(Ticket::of(ticket, &state.app.queue_names().await))
}

/// Applies a lifecycle change to the ticket named by `{ticketID}` and answers with it.
async fn change(
    state: &RestState,
    principal: Principal,
    ticket_id: String,
    transition: Transition,
) -> Result<Json<Ticket>> {
    let ticket = state
        .app
        .change_ticket(&principal, TicketKey::Reference(ticket_id), 0, transition)
        .await?;
    Ok(ticket_json(state, ticket).await)
}

/// Escalate a ticket to a department (seed 000, v2).
#[utoipa::path(
    post,
    path = "/v2/tickets/{ticketID}/escalate",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketEscalateV2Param,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn escalate_v2(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketEscalateV2Param>,
) -> Result<Json<Ticket>> {
    let transition = Transition::Escalate {
        department: body.department,
        to_agent: String::new(),
        status_reason: body.status_reason,
        resolution_reason: body.resolution_reason,
    };
    change(&state, principal, ticket_id, transition).await
}

/// Escalate a ticket to the configured default department (v1; its body names none).
#[utoipa::path(
    post,
    path = "/v1/tickets/{ticketID}/escalate",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketEscalateParam,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn escalate_v1(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketEscalateParam>,
) -> Result<Json<Ticket>> {
    // No department: the app's default one.
    let transition = Transition::Escalate {
        department: String::new(),
        to_agent: String::new(),
        status_reason: body.status_reason,
        resolution_reason: body.resolution_reason,
    };
    change(&state, principal, ticket_id, transition).await
}

/// The escalation departments.
#[utoipa::path(
    get,
    path = "/v2/escalation/departments",
    responses((status = 200, body = Vec<EscalationDepartments>), ListErrors),
)]
async fn escalation_departments(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<Vec<EscalationDepartments>>> {
    let departments = state.app.list_departments(&principal).await?;
    Ok(Json(departments.into_iter().map(Into::into).collect()))
}

/// The calling agent.
#[utoipa::path(
    get,
    path = "/v1/info",
    responses((status = 200, body = AgentInfo), ItemErrors),
)]
async fn agent_info(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<AgentInfo>> {
    Ok(Json(state.app.get_me(&principal).await?.into()))
}

/// The calling agent's open tickets, oldest first, in one response of at most 500.
#[utoipa::path(
    get,
    path = "/v1/tickets",
    responses((status = 200, body = Vec<ChatTicket>), ListErrors),
)]
async fn my_tickets(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<Vec<ChatTicket>>> {
    let tickets = state.app.my_open_tickets(&principal).await?;
    let now = state.app.now();
    Ok(Json(
        tickets
            .into_iter()
            .map(|t| ChatTicket::of(t, now))
            .collect(),
    ))
}

async fn status_change(
    state: &RestState,
    principal: &Principal,
    status: &str,
) -> Result<Json<AgentStatusInfo>> {
    Ok(Json(
        state.app.set_status(principal, "", status).await?.into(),
    ))
}

/// Go online: start receiving tickets.
#[utoipa::path(
    put,
    path = "/v1/online",
    responses((status = 200, body = AgentStatusInfo), ItemErrors),
)]
async fn go_online(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<AgentStatusInfo>> {
    status_change(&state, &principal, "online").await
}

/// Go offline: stop receiving tickets.
#[utoipa::path(
    put,
    path = "/v1/offline",
    responses((status = 200, body = AgentStatusInfo), ItemErrors),
)]
async fn go_offline(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<AgentStatusInfo>> {
    status_change(&state, &principal, "offline").await
}

/// Change the calling agent's status to a configured one.
#[utoipa::path(
    put,
    path = "/v1/status",
    request_body = UpdateAgentStatusParam,
    responses((status = 200, body = AgentStatusInfo), BodyErrors),
)]
async fn set_status(
    State(state): State<RestState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<UpdateAgentStatusParam>,
) -> Result<Json<AgentStatusInfo>> {
    status_change(&state, &principal, &body.status).await
}

/// The configured agent statuses.
#[utoipa::path(
    get,
    path = "/v1/statuses",
    responses((status = 200, body = AgentStatusList), ListErrors),
)]
async fn statuses(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<AgentStatusList>> {
    let statuses = state.app.list_statuses(&principal).await?;
    Ok(Json(AgentStatusList {
        data: statuses.into_iter().map(|s| s.name).collect(),
    }))
}

/// Close a chat room; closing a closed room again is 200.
#[utoipa::path(
    delete,
    path = "/v1/rooms/{roomID}",
    params(("roomID" = String, Path, description = "room id")),
    responses((status = 200, body = Empty), ItemErrors),
)]
async fn close_room(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(room_id): PathId,
) -> Result<Json<Empty>> {
    state.app.close_room(&principal, &room_id, "").await?;
    Ok(Json(Empty {}))
}

/// Picked now: the server's time.
fn picked_now() -> TicketPatch {
    TicketPatch {
        picked_at: Some(Stamp::Now),
        ..TicketPatch::default()
    }
}

/// Stamp the ticket's picked time with the server's time.
#[utoipa::path(
    put,
    path = "/v1/tickets/{ticketID}/pickedTime",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    responses((status = 200, body = Empty), ChangeErrors),
)]
async fn picked_time(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
) -> Result<Json<Empty>> {
    state
        .app
        .change_ticket(
            &principal,
            TicketKey::Reference(ticket_id),
            0,
            Transition::Update(picked_now()),
        )
        .await?;
    Ok(Json(Empty {}))
}

/// One ticket, by id or external id.
#[utoipa::path(
    get,
    path = "/v1/tickets/{ticketID}",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    responses((status = 200, body = Ticket), ItemErrors),
)]
async fn get_ticket(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
) -> Result<Json<Ticket>> {
    let ticket = state
        .app
        .get_ticket(&principal, TicketKey::Reference(ticket_id))
        .await?;
    Ok(ticket_json(&state, ticket).await)
}

/// Update one thing of a ticket, as `type` says.
#[utoipa::path(
    put,
    path = "/v1/tickets/{ticketID}",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketUpdateParam,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn update_ticket(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketUpdateParam>,
) -> Result<Json<Ticket>> {
    let patch = match body.update_type {
        TicketUpdateType::CloseChatRoom => {
            let key = TicketKey::Reference(ticket_id);
            let ticket = state.app.close_ticket_room(&principal, key, "").await?;
            return Ok(ticket_json(&state, ticket).await);
        }
        TicketUpdateType::UpdateCcr => TicketPatch {
            ccr: Some(
                body.ccr
                    .ok_or_else(|| Error::invalid("ccr", "is required with UPDATE_CCR"))?,
            ),
            ..TicketPatch::default()
        },
        TicketUpdateType::UpdateOrderId => TicketPatch {
            order: Some((
                body.order_id
                    .ok_or_else(|| Error::invalid("orderId", "is required with UPDATE_ORDER_ID"))?,
                body.geid.unwrap_or_default(),
            )),
            ..TicketPatch::default()
        },
        TicketUpdateType::UpdateChatResponseTime => TicketPatch {
            first_response_at: Some(Stamp::Now),
            ..TicketPatch::default()
        },
        TicketUpdateType::UpdatePickedTime => picked_now(),
    };
    change(&state, principal, ticket_id, Transition::Update(patch)).await
}

/// The ticket's customer's tickets, newest first, by page.
#[utoipa::path(
    get,
    path = "/v1/tickets/{ticketID}/history",
    params(("ticketID" = String, Path, description = "ticket id or external id"), HistoryQuery),
    responses((status = 200, body = TicketHistoryResponse), ItemErrors),
)]
async fn history(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Json<TicketHistoryResponse>> {
    let page = state
        .app
        .customer_history(
            &principal,
            "",
            Some(TicketKey::Reference(ticket_id)),
            query.page.unwrap_or(0),
            query.page_size.unwrap_or(0),
        )
        .await?;
    let queues = state.app.queue_names().await;
    Ok(Json(TicketHistoryResponse {
        list: page
            .tickets
            .into_iter()
            .map(|t| Ticket::of(t, &queues))
            .collect(),
        page: page.page,
        page_size: page.page_size,
    }))
}

/// Close a ticket with a resolution (`NO_ACTION` when none is given).
#[utoipa::path(
    post,
    path = "/v1/tickets/{ticketID}/close",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketCloseParam,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn close_ticket(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketCloseParam>,
) -> Result<Json<Ticket>> {
    let transition = Transition::Close {
        resolution: body.resolution_status,
        resolution_reason: body.resolution_reason,
        status_reason: body.status_reason,
    };
    change(&state, principal, ticket_id, transition).await
}

/// Move an assigned ticket to another agent.
#[utoipa::path(
    post,
    path = "/v1/tickets/{ticketID}/reassign",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketReassignParam,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn reassign(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketReassignParam>,
) -> Result<Json<Ticket>> {
    let transition = Transition::Reassign {
        agent: body.assignee,
        reason: body.reason,
    };
    change(&state, principal, ticket_id, transition).await
}

/// Move a ticket to another queue, unassigned.
#[utoipa::path(
    post,
    path = "/v1/tickets/{ticketID}/transfer",
    params(("ticketID" = String, Path, description = "ticket id or external id")),
    request_body = TicketTransferParam,
    responses((status = 200, body = Ticket), BodyErrors),
)]
async fn transfer(
    State(state): State<RestState>,
    Caller(principal): Caller,
    PathId(ticket_id): PathId,
    JsonBody(body): JsonBody<TicketTransferParam>,
) -> Result<Json<Ticket>> {
    let transition = Transition::Transfer {
        queue: body.queue_id,
        reason: String::new(),
    };
    change(&state, principal, ticket_id, transition).await
}

/// The queues a ticket can be transferred to.
#[utoipa::path(
    get,
    path = "/v1/transfer/queues",
    responses((status = 200, body = TransferQueueResponse), ListErrors),
)]
async fn transfer_queues(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<TransferQueueResponse>> {
    Ok(Json(state.app.list_queues(&principal).await?.into()))
}

/// The resolutions a ticket can be closed with.
#[utoipa::path(
    get,
    path = "/v1/resolution-statuses",
    responses((status = 200, body = ResolutionStatusList), ListErrors),
)]
async fn resolution_statuses(
    State(state): State<RestState>,
    Caller(principal): Caller,
) -> Result<Json<ResolutionStatusList>> {
    Ok(Json(ResolutionStatusList {
        list: state.app.list_resolution_statuses(&principal).await?,
    }))
}

/// The CCR taxonomy as tiers keyed by code, in one language or all.
#[utoipa::path(
    get,
    path = "/v1/ccr",
    params(CcrQuery),
    responses((status = 200, body = CcrListResponse), ItemErrors),
)]
async fn ccr_tree(
    State(state): State<RestState>,
    Caller(principal): Caller,
    QueryParams(query): QueryParams<CcrQuery>,
) -> Result<Json<CcrListResponse>> {
    let forest = state.app.ccr_tree(&principal, &query.lang).await?;
    Ok(Json(CcrListResponse {
        status_code: 200,
        data: tiers(forest),
    }))
}

/// Leaf CCRs matching the words of `q`, with their parents.
#[utoipa::path(
    get,
    path = "/v1/ccr/search",
    params(CcrSearchQuery),
    responses((status = 200, body = SearchableCcrResponse), ItemErrors),
)]
async fn ccr_search(
    State(state): State<RestState>,
    Caller(principal): Caller,
    QueryParams(query): QueryParams<CcrSearchQuery>,
) -> Result<Json<SearchableCcrResponse>> {
    let matches = state
        .app
        .search_ccr(&principal, &query.q, &query.lang, 0)
        .await?;
    Ok(Json(matches.into()))
}
