//! gRPC adapters: one file per service. Each handler decodes the request, calls the app and
//! encodes the reply; `From<Error> for Status` is the one error mapping of this transport.
mod agents;
mod ccr;
mod conversations;
pub mod convert;
pub mod guard;
mod reports;
mod tickets;

use crate::domain::Principal;
use crate::error::{Error, shown_violations};
use crate::transport::auth::Authenticator;
use std::sync::Arc;
use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use agents::AgentApi;
pub use ccr::CcrApi;
pub use conversations::ConversationApi;
pub use reports::ReportApi;
pub use tickets::TicketApi;

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        let error = error.shown();
        let code = match &error {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Aborted(_) => Code::Aborted,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::Unavailable(_) => Code::Unavailable,
            Error::OutcomeUnknown(_) => Code::Unknown,
            Error::Internal(_) => Code::Internal,
        };
        let message = if code == Code::Internal {
            tracing::error!(%error, "internal error");
            "internal error".to_string()
        } else {
            error.to_string()
        };
        let mut details = ErrorDetails::new();
        if let Error::InvalidArgument(violations) = &error {
            for violation in shown_violations(violations) {
                details.add_bad_request_violation(violation.field, violation.description);
            }
        }
        details.set_error_info(error.reason(), "casework", std::collections::HashMap::new());
        Status::with_error_details(code, message, details)
    }
}

/// The tonic interceptor that authenticates every call of the casework services and leaves the
/// `Principal` in the request's extensions. Reflection and health are not wrapped by it.
#[derive(Clone)]
pub struct AuthInterceptor(pub Arc<Authenticator>);

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata();
        let header = |name: &str| -> Result<Option<&str>, Status> {
            metadata
                .get(name)
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| Status::from(Error::invalid(name, "must be printable ASCII")))
                })
                .transpose()
        };
        let principal = self.0.principal(
            header("authorization")?,
            header("x-agent-user-id")?,
            header("x-customer-id")?,
        )?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The principal the interceptor resolved.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing credentials"))
}
