//! The operator surface of the one port: reflection (v1 and v1alpha), gRPC health, the
//! not-yet-built services, `/healthz`, `/readyz`, `/metrics`, grpc-web over HTTP/1.1 and
//! graceful shutdown of live streams.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use common::*;
use prost::Message;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVICES: [&str; 5] = [
    "casework.v1.TicketService",
    "casework.v1.AgentService",
    "casework.v1.ConversationService",
    "casework.v1.CcrService",
    "grpc.health.v1.Health",
];

/// Hang guard for calls that must finish promptly; never a wait for something to happen.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// One test per reflection protocol version: the generated types differ, the check does not.
macro_rules! reflection_lists_every_service {
    ($test:ident, $version:ident) => {
        #[tokio::test]
        async fn $test() {
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;

            let server = TestServer::start().await;
            let mut client = ServerReflectionClient::new(server.channel().await);
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .expect("reflection call")
                .into_inner();
            let response = stream
                .message()
                .await
                .expect("reflection response")
                .expect("one message");
            let names: Vec<String> = match response.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => {
                    list.service.into_iter().map(|s| s.name).collect()
                }
                other => panic!("expected a service list, got {other:?}"),
            };
            for service in SERVICES {
                assert!(
                    names.iter().any(|n| n == service),
                    "{service} missing from {names:?}"
                );
            }
            server.stop().await;
        }
    };
}

reflection_lists_every_service!(reflection_v1_lists_every_service, v1);
reflection_lists_every_service!(reflection_v1alpha_lists_every_service, v1alpha);

both_backends! {
#[tokio::test]
async fn health_reports_serving_without_a_token(backend: Backend) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = TestServer::start_on(backend).await;
    let mut client = HealthClient::new(server.channel().await);
    for service in ["", "casework.v1.TicketService"] {
        let response = client
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health check of {service:?}: {e:?}"))
            .into_inner();
        assert_eq!(
            response.status,
            ServingStatus::Serving as i32,
            "status of {service:?}"
        );
    }
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn operator_endpoints_answer(backend: Backend) {
    let server = TestServer::start_on(backend).await;

    let healthz = http(&server, "GET", "/healthz", &[], &[]).await;
    assert_eq!(healthz.status, 200);
    assert_eq!(healthz.body, b"ok");

    let readyz = http(&server, "GET", "/readyz", &[], &[]).await;
    assert_eq!(readyz.status, 200, "{}", readyz.text());

    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn metrics_count_grpc_calls(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    for customer in ["cust-1", "cust-2", "cust-3"] {
        admin.create(new_ticket(customer)).await.expect("create");
    }

    let metrics = http(&server, "GET", "/metrics", &[], &[]).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let method = r#"method="/casework.v1.TicketService/CreateTicket""#;
    assert!(
        text.lines()
            .any(|l| l.starts_with("casework_requests_total{") && l.contains(method)),
        "no request counter for CreateTicket in:\n{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("casework_request_duration_seconds_bucket{") && l.contains(method)
        ),
        "no latency histogram buckets for CreateTicket in:\n{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("casework_request_duration_seconds_count{") && l.contains(method)
        ),
        "no latency histogram count for CreateTicket in:\n{text}"
    );
    // SQLite's share of the memory: what its connections hold (process-wide, so on
    // PostgreSQL the other tests' SQLite servers may count too: only present there).
    let sqlite: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("casework_sqlite_memory_bytes "))
        .expect("the SQLite memory gauge")
        .parse()
        .expect("a number");
    if backend == Backend::Sqlite {
        assert!(sqlite > 0.0, "SQLite holds memory while serving: {sqlite}");
    }
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn grpc_web_over_http1(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let token = server.token(ADMIN, Role::Admin);

    let message = pb::ListQueuesRequest {}.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let response = http(
        &server,
        "POST",
        "/casework.v1.TicketService/ListQueues",
        &[
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
            ("authorization", &format!("bearer {token}")),
        ],
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/grpc-web"),
        "content-type {content_type:?}"
    );

    let frames = grpc_web_frames(&response.body);
    let data: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(flag, _)| flag & 0x80 == 0)
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(data.len(), 1, "one data frame expected: {frames:?}");
    let queues = pb::ListQueuesResponse::decode(data[0].as_slice()).expect("ListQueuesResponse");
    let mut ids: Vec<&str> = queues.queues.iter().map(|q| q.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, [QUEUE, OTHER_QUEUE]);

    let trailers: Vec<String> = frames
        .iter()
        .filter(|(flag, _)| flag & 0x80 != 0)
        .map(|(_, payload)| String::from_utf8_lossy(payload).to_lowercase())
        .collect();
    assert_eq!(trailers.len(), 1, "one trailer frame expected: {frames:?}");
    assert!(
        trailers[0].lines().any(|l| l.trim() == "grpc-status:0"),
        "trailers {:?}",
        trailers[0]
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn graceful_shutdown_ends_live_streams(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let request = admin.req(pb::WatchTicketsRequest::default());
    let mut stream = admin
        .client
        .watch_tickets(request)
        .await
        .expect("watch")
        .into_inner();

    let created = admin.create(new_ticket("cust-1")).await.expect("create");
    let first = tokio::time::timeout(HANG_GUARD, stream.message())
        .await
        .expect("the CREATED event arrives")
        .expect("stream open")
        .expect("one event");
    let event = first.event.expect("event");
    assert_eq!(event.ticket_id, created.id);
    assert_eq!(event.r#type, pb::TicketEventType::Created as i32);

    let stopping = tokio::spawn(server.stop());
    let end = tokio::time::timeout(HANG_GUARD, stream.message())
        .await
        .expect("the stream ends on shutdown instead of hanging");
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "no event expected after shutdown, got {end:?}"
    );
    tokio::time::timeout(HANG_GUARD, stopping)
        .await
        .expect("stop() finishes")
        .expect("stop() returns Ok");
}
}

/// A response of [`http`].
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One plain HTTP/1.1 request on its own connection (`Connection: close`, so the response
/// ends at EOF); decodes a chunked body.
async fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut raw))
        .await
        .expect("response within the hang guard")
        .expect("read");

    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("chunk size");
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Splits a grpc-web body into (flag, payload) frames.
fn grpc_web_frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "truncated frame header: {body:?}");
        let flag = body[0];
        let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(body.len() >= 5 + length, "truncated frame: {body:?}");
        frames.push((flag, body[5..5 + length].to_vec()));
        body = &body[5 + length..];
    }
    frames
}
