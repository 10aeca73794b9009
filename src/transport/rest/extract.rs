//! Request decoding for the shim: the caller from its headers, JSON bodies and query strings
//! whose errors name the field, and path ids. Every rejection is the blueprint error body.
use super::{RestState, error_response};
use crate::domain::Principal;
use crate::error::Error;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Who is calling: `Authorization: bearer <token>`, and the agent a service token acts for
/// in `X-Agent-User-ID` (seed 000) or `X-Agent-ID` (seed 001), or a customer in
/// `X-Customer-ID`.
pub struct Caller(pub Principal);

impl FromRequestParts<RestState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, Error> {
        let authorization = parts
            .headers
            .get("authorization")
            .map(|value| {
                value.to_str().map_err(|_| {
                    Error::Unauthenticated("authorization must be printable ASCII".into())
                })
            })
            .transpose()?;
        // The token first: a caller without one hears 401 whatever else it sent.
        state.auth.principal(authorization, None, None)?;
        let header = |name: &'static str| -> Result<Option<(&'static str, &str)>, Error> {
            parts
                .headers
                .get(name)
                .map(|value| {
                    value
                        .to_str()
                        .map(|value| (name, value))
                        .map_err(|_| Error::invalid(name, "must be printable ASCII"))
                })
                .transpose()
        };
        let agent = match (header("x-agent-user-id")?, header("x-agent-id")?) {
            (Some((_, a)), Some((_, b))) if a.trim() != b.trim() => {
                return Err(Error::invalid(
                    "x-agent-id",
                    "names another agent than x-agent-user-id",
                ));
            }
            (a, b) => a.or(b),
        };
        let customer = header("x-customer-id")?.map(|(_, id)| id);
        let principal = state
            .auth
            .principal(authorization, agent.map(|(_, id)| id), customer)
            .map_err(|error| match (error, agent) {
                // Name the header the client actually sent.
                (Error::InvalidArgument(violations), Some((sent, _))) => Error::InvalidArgument(
                    violations
                        .into_iter()
                        .map(|mut v| {
                            if v.field == "x-agent-user-id" {
                                v.field = sent.to_string();
                            }
                            v
                        })
                        .collect(),
                ),
                (error, _) => error,
            })?;
        Ok(Caller(principal))
    }
}

/// A JSON body (`Content-Type: application/json`) decoded into `T`; a bad value is 400 naming
/// its field (`resolutionStatus: unknown variant …`), a body over the limit 413, another
/// content type 415.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or_default().to_string());
        let json = content_type.as_deref().is_some_and(|value| {
            let mime = value.split(';').next().unwrap_or_default();
            mime.trim().eq_ignore_ascii_case("application/json")
        });
        let unsupported = || {
            error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("the body must be application/json".into()),
            )
        };
        if content_type.is_some() && !json {
            return Err(unsupported());
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| error_response(rejection.status(), Some(rejection.body_text())))?;
        // No body at all reads as `{}`: old clients send none where every field is optional.
        let bytes = match (bytes.is_empty(), json) {
            (true, _) => axum::body::Bytes::from_static(b"{}"),
            (false, true) => bytes,
            (false, false) => return Err(unsupported()),
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| invalid(error.path().to_string(), error.inner().to_string()))?;
        deserializer
            .end()
            .map_err(|error| invalid(".".into(), error.to_string()))?;
        Ok(JsonBody(value))
    }
}

/// The query string decoded into `T`; a bad value is 400 naming its parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| invalid(error.path().to_string(), error.inner().to_string()))
    }
}

/// The one path parameter of a route (`{ticketID}`, `{roomID}`).
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|rejection| {
                error_response(StatusCode::BAD_REQUEST, Some(rejection.body_text()))
            })
    }
}

fn invalid(path: String, description: String) -> Response {
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    Error::invalid(field, description).into_response()
}
