//! The REST shim of the One View blueprints (seeds 000 and 001): axum routes whose JSON names,
//! casing and enum spellings are the seeds'. Each handler decodes, calls the app and encodes;
//! `IntoResponse for Error` is this transport's one error mapping. Routes are served at the
//! root and under the seeds' base paths; `/openapi.json` is generated from the handlers.
mod extract;
mod routes;
pub mod types;

use crate::app::App;
use crate::error::Error;
use crate::transport::admission::Admission;
use crate::transport::auth::Authenticator;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use types::{ErrorBody, ErrorObject};

/// The seeds' base paths; every route is also served at the root.
pub const BASE_PATHS: [&str; 2] = ["/ticket-detail", "/cs-chat-ticket"];

#[derive(Clone)]
pub struct RestState {
    pub app: App,
    pub auth: Arc<Authenticator>,
}

/// The shim's routes at the root and under each base path, plus `/openapi.json`.
pub fn router(
    app: App,
    auth: Arc<Authenticator>,
    admission: Arc<Admission>,
    max_body_bytes: usize,
    request_timeout: std::time::Duration,
) -> axum::Router {
    let (routes, openapi) = routes::routes().split_for_parts();
    let routes = routes
        .route_layer(axum::middleware::from_fn(label_route))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .route_layer(axum::middleware::from_fn_with_state(
            (admission, auth.clone()),
            admit,
        ))
        .with_state(RestState { app, auth });
    let routes = routes
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi) }
            }),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async {
                        error_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            Some("the call took too long; retry".into()),
                        )
                    },
                ))
                .timeout(request_timeout),
        );
    let mut router = routes.clone();
    for base in BASE_PATHS {
        router = router.nest(base, routes.clone());
    }
    router
}

/// Admission control (shared with gRPC): past a limit the call is refused at once, 429 (this
/// credential) or 503 (the whole server) with `Retry-After`.
async fn admit(
    axum::extract::State((admission, auth)): axum::extract::State<(
        Arc<Admission>,
        Arc<Authenticator>,
    )>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let credential = auth.credential(authorization);
    match admission.admit(credential.as_deref()) {
        Ok(admitted) => {
            let _running = admission.turn(&admitted).await;
            next.run(request).await
        }
        Err(refused) => {
            let refused = admission.hold(refused, credential.as_deref(), None).await;
            let status = match refused.server_wide {
                true => StatusCode::SERVICE_UNAVAILABLE,
                false => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut response = error_response(status, Some(refused.reason));
            // Whole seconds, rounded up: a client never retries before it may.
            let seconds = refused.retry_after.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds as u64),
            );
            response
        }
    }
}

/// The route a REST response answered, as `METHOD /template` (e.g. `GET
/// /v1/tickets/{ticketID}`): a metric label that clients cannot grow.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

async fn label_route(
    matched: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let label = RouteLabel(format!("{} {}", request.method(), matched.as_str()));
    let mut response = next.run(request).await;
    response.extensions_mut().insert(label);
    response
}

/// The blueprint error body for `status`, with an optional detail.
pub fn error_response(status: StatusCode, detail: Option<String>) -> Response {
    let title = match status.as_u16() {
        400 => "bad request",
        401 => "not authorize",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        409 => "conflict",
        413 => "payload too large",
        415 => "unsupported media type",
        429 => "too many requests",
        503 => "service unavailable",
        _ => "internal server error",
    };
    let body = ErrorBody {
        errors: vec![ErrorObject {
            status: status.as_u16().to_string(),
            title: title.to_string(),
            detail,
        }],
    };
    (status, Json(body)).into_response()
}

/// 404 in the blueprint shape, for routes that do not exist.
pub fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, None)
}

/// 405 in the blueprint shape, for a route asked with a method it does not have.
pub async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, None)
}

/// The blueprints' name of a field the app names as gRPC does (`status_reason` →
/// `statusReason`), so a 400's detail names what the REST client sent.
fn rest_field(field: &str) -> &str {
    match field {
        "status_reason" => "statusReason",
        "resolution_reason" => "resolutionReason",
        "resolution_status" => "resolutionStatus",
        "agent_id" => "assignee",
        "queue_id" => "queueId",
        "ticket_id" => "ticketID",
        "room_id" => "roomID",
        "ticket.metadata.ccr" => "ccr",
        "ticket.metadata.order_id" => "orderId",
        "ticket.metadata.entity_id" => "geid",
        "page_size" => "pageSize",
        "query" => "q",
        "language" => "lang",
        other => other,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let this = match self.shown() {
            Error::InvalidArgument(violations) => Error::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| crate::error::FieldViolation {
                        field: rest_field(&v.field).to_string(),
                        description: v.description,
                    })
                    .collect(),
            ),
            other => other,
        };
        let status = match &this {
            Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::AlreadyExists(_) | Error::FailedPrecondition(_) | Error::Aborted(_) => {
                StatusCode::CONFLICT
            }
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::OutcomeUnknown(_) => StatusCode::BAD_GATEWAY,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %this, "internal error");
            None
        } else {
            Some(this.to_string())
        };
        error_response(status, detail)
    }
}
