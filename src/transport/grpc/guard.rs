//! What every gRPC (and grpc-web, once translated) call passes before its service sees it:
//! the content type, the message encoding and the `grpc-timeout` header are checked;
//! admission control takes the call's place; the request of a unary-request method is read
//! whole and must be exactly one well-formed message; and the call runs under its deadline,
//! the shorter of the client's and the server's, answered `DEADLINE_EXCEEDED` when it passes
//! (the call's work is dropped with it). Each refusal is the client's fault and says so:
//! never `INTERNAL`.
use super::super::admission::{Admission, Refused};
use crate::pb;
use crate::transport::auth::Authenticator;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

/// Whether a method takes a stream of requests and answers with a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub client_streaming: bool,
    pub server_streaming: bool,
}

/// Every gRPC method this server serves, `/package.Service/Method`, read from the
/// descriptor sets.
pub fn method(path: &str) -> Option<Shape> {
    methods().get(path).copied()
}

fn methods() -> &'static HashMap<String, Shape> {
    use prost::Message;
    static METHODS: OnceLock<HashMap<String, Shape>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let mut methods = HashMap::new();
        for encoded in [
            pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        methods.insert(
                            format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                            Shape {
                                client_streaming: method.client_streaming(),
                                server_streaming: method.server_streaming(),
                            },
                        );
                    }
                }
            }
        }
        for version in ["v1", "v1alpha"] {
            methods.insert(
                format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"),
                Shape {
                    client_streaming: true,
                    server_streaming: true,
                },
            );
        }
        methods
    })
}

pub struct Guard {
    pub admission: Arc<Admission>,
    pub auth: Arc<Authenticator>,
    /// The server's own deadline for a call's answer.
    pub timeout: Duration,
    pub max_message_bytes: usize,
}

/// The guard as axum middleware over the gRPC routes.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let Some(shape) = method(request.uri().path()) else {
        return next.run(request).await;
    };
    if let Err(status) = check_content_type(request.headers()) {
        // The protocol asks for HTTP 415 besides the gRPC status.
        let mut response = status.into_http();
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    guard
        .check(shape, request, next)
        .await
        .unwrap_or_else(|status| status.into_http())
}

impl Guard {
    async fn check(&self, shape: Shape, request: Request, next: Next) -> Result<Response, Status> {
        let headers = request.headers();
        let compressed = check_encoding(headers)?;
        let deadline = grpc_timeout(headers)?.map_or(self.timeout, |t| t.min(self.timeout));
        // The casework services count against the limits; health and reflection do not, so
        // a load balancer still hears an overloaded server answer.
        let (admitted, stream) = if request.uri().path().starts_with("/casework.") {
            let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
            let credential = self.auth.credential(authorization);
            // A refusal is answered once its hold is over (`Admission::hold`).
            let refuse = async |refusal| {
                refused(
                    self.admission
                        .hold(refusal, credential.as_deref(), Some(deadline))
                        .await,
                )
            };
            let admitted = match self.admission.admit(credential.as_deref()) {
                Ok(admitted) => admitted,
                Err(refusal) => return Err(refuse(refusal).await),
            };
            let stream = match shape.server_streaming {
                true => match self.admission.admit_stream(credential.as_deref()) {
                    Ok(place) => place,
                    Err(refusal) => {
                        // The refused stream holds no call place while its refusal waits.
                        drop(admitted);
                        return Err(refuse(refusal).await);
                    }
                },
                false => None,
            };
            (Some(admitted), stream)
        } else {
            (None, None)
        };
        let call = async {
            let request = match shape.client_streaming {
                true => request,
                false => self.one_message(request, compressed).await?,
            };
            // A turn to run once the request is read: a client trickling its request holds
            // no running place meanwhile.
            let _running = match &admitted {
                Some(admitted) => Some(self.admission.turn(admitted).await),
                None => None,
            };
            Ok::<_, Status>(next.run(request).await)
        };
        let response = match tokio::time::timeout(deadline, call).await {
            Ok(response) => response?,
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "the call did not finish within its deadline of {} ms",
                    deadline.as_millis()
                )));
            }
        };
        drop(admitted);
        Ok(match stream {
            // The stream's place is given back when its body ends or the client leaves.
            Some(place) => response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &place;
                    frame
                }))
            }),
            None => response,
        })
    }

    /// Reads a unary-request body whole: exactly one complete message within the size limit.
    async fn one_message(&self, request: Request, compressed: bool) -> Result<Request, Status> {
        let (parts, body) = request.into_parts();
        let limit = self.max_message_bytes + 5;
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    too_large(self.max_message_bytes)
                } else {
                    invalid(format!("the request body could not be read: {error}"))
                }
            })?
            .to_bytes();
        check_frames(&bytes, compressed, self.max_message_bytes)?;
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }
}

/// A gRPC content type, `application/grpc` or `application/grpc+proto` (HTTP 415 otherwise,
/// as the protocol asks).
fn check_content_type(headers: &HeaderMap) -> Result<(), Status> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let grpc = content_type == "application/grpc"
        || content_type.starts_with("application/grpc+")
        || content_type.starts_with("application/grpc;");
    if grpc {
        return Ok(());
    }
    Err(invalid(format!(
        "content-type must be application/grpc (or grpc-web), not {content_type:?}"
    )))
}

/// Messages come uncompressed (`identity`); returns whether an encoding was named at all.
fn check_encoding(headers: &HeaderMap) -> Result<bool, Status> {
    match headers.get("grpc-encoding").map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok("identity")) => Ok(true),
        Some(other) => {
            let mut status = Status::unimplemented(format!(
                "grpc-encoding {:?} is not supported: send messages uncompressed",
                other.unwrap_or("?")
            ));
            status
                .metadata_mut()
                .insert("grpc-accept-encoding", "identity".parse().expect("ascii"));
            Err(status)
        }
    }
}

/// The client's deadline: 1 to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn grpc_timeout(headers: &HeaderMap) -> Result<Option<Duration>, Status> {
    let Some(value) = headers.get("grpc-timeout") else {
        return Ok(None);
    };
    let malformed = || {
        invalid_field(
            "grpc-timeout",
            "must be 1 to 8 digits and a unit (H, M, S, m, u or n)",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    if value.len() < 2 || value.len() > 9 {
        return Err(malformed());
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let amount: u64 = digits.parse().map_err(|_| malformed())?;
    Ok(Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(malformed()),
    }))
}

/// A unary request is one length-prefixed message: a flag byte (1 only with an encoding),
/// four bytes of length, then that many bytes, and nothing after it.
pub fn check_frames(body: &Bytes, encoded: bool, max: usize) -> Result<(), Status> {
    if body.is_empty() {
        return Err(invalid(
            "the request holds no message: a unary call sends exactly one".to_string(),
        ));
    }
    if body.len() < 5 {
        return Err(invalid(format!(
            "truncated message: {} bytes, less than the 5-byte message header",
            body.len()
        )));
    }
    match body[0] {
        0 => {}
        1 if encoded => {}
        1 => {
            return Err(invalid(
                "the message is flagged compressed but the call names no grpc-encoding".to_string(),
            ));
        }
        flag => return Err(invalid(format!("unknown message flag {flag}"))),
    }
    let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if length > max {
        return Err(too_large(max));
    }
    let sent = body.len() - 5;
    if sent < length {
        return Err(invalid(format!(
            "truncated message: its header says {length} bytes, {sent} came"
        )));
    }
    if sent > length {
        return Err(invalid(
            "more than one message: a unary call sends exactly one".to_string(),
        ));
    }
    Ok(())
}

fn invalid(description: String) -> Status {
    invalid_field("request", &description)
}

fn invalid_field(field: &str, description: &str) -> Status {
    crate::error::Error::invalid(field, description.to_string()).into()
}

fn too_large(max: usize) -> Status {
    crate::error::Error::ResourceExhausted(format!(
        "the message is larger than the limit of {max} bytes"
    ))
    .into()
}

/// `RESOURCE_EXHAUSTED` with `google.rpc.RetryInfo`.
fn refused(refused: Refused) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(refused.retry_after));
    details.set_error_info("RESOURCE_EXHAUSTED", "casework", HashMap::new());
    Status::with_error_details(tonic::Code::ResourceExhausted, refused.reason, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header"));
        }
        map
    }

    #[test]
    fn grpc_timeouts_parse_by_the_protocol() {
        let parse = |v: &str| grpc_timeout(&headers(&[("grpc-timeout", v)]));
        assert_eq!(parse("200m").unwrap(), Some(Duration::from_millis(200)));
        assert_eq!(parse("1H").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse("99999999n").unwrap(),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "m", "200", "200x", "123456789S", "-1S", "1.5S", " 1S"] {
            let status = parse(bad).expect_err(bad);
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn a_unary_body_is_exactly_one_whole_message() {
        let frame = |flag: u8, len: u32, payload: &[u8]| {
            let mut body = vec![flag];
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(payload);
            Bytes::from(body)
        };
        assert!(check_frames(&frame(0, 3, b"abc"), false, 10).is_ok());
        assert!(check_frames(&frame(0, 0, b""), false, 10).is_ok());
        let code = |r: Result<(), Status>| r.expect_err("refused").code();
        use tonic::Code::*;
        assert_eq!(
            code(check_frames(&Bytes::new(), false, 10)),
            InvalidArgument
        );
        assert_eq!(
            code(check_frames(&Bytes::from_static(&[0, 0]), false, 10)),
            InvalidArgument
        );
        assert_eq!(
            code(check_frames(&frame(0, 5, b"abc"), false, 10)),
            InvalidArgument
        );
        assert_eq!(
            code(check_frames(&frame(1, 3, b"abc"), false, 10)),
            InvalidArgument
        );
        assert!(check_frames(&frame(1, 3, b"abc"), true, 10).is_ok());
        assert_eq!(
            code(check_frames(&frame(2, 3, b"abc"), false, 10)),
            InvalidArgument
        );
        assert_eq!(
            code(check_frames(&frame(0, 11, b""), false, 10)),
            ResourceExhausted
        );
        let mut two = frame(0, 1, b"a").to_vec();
        two.extend_from_slice(&frame(0, 1, b"b"));
        assert_eq!(
            code(check_frames(&Bytes::from(two), false, 10)),
            InvalidArgument
        );
    }

    #[test]
    fn every_served_method_is_known_with_its_shape() {
        let watch = method("/casework.v1.TicketService/WatchTickets").expect("watch");
        assert!(watch.server_streaming && !watch.client_streaming);
        let create = method("/casework.v1.TicketService/CreateTicket").expect("create");
        assert!(!create.server_streaming && !create.client_streaming);
        assert!(method("/grpc.health.v1.Health/Check").is_some());
        let reflection =
            method("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").expect("refl");
        assert!(reflection.client_streaming);
        assert!(method("/casework.v1.TicketService/Nope").is_none());
    }
}
