//! The server's own limits, each at its edge: deadlines (the client's and the server's) answer
//! DEADLINE_EXCEEDED and drop the call's write; admission control refuses (never queues) with
//! a time to retry; malformed gRPC requests are the client's fault, never INTERNAL; HTTP/1.1
//! has the same header limit as HTTP/2; connections that say nothing are closed; a live stream
//! whose client reads nothing is ended and resumes from its last event.
#[macro_use]
mod common;

use casework::app::AppConfig;
use casework::config::{Limits, ServerOptions};
use casework::domain::Role;
use casework::pb;
use common::*;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

fn limits(edit: impl FnOnce(&mut Limits)) -> ServerOptions {
    let mut limits = Limits::default();
    edit(&mut limits);
    ServerOptions {
        limits,
        ..ServerOptions::default()
    }
}

/// Holds what a write of `ticket_id` needs, from outside the server: SQLite's write lock, or
/// the ticket's row on PostgreSQL.
enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Blocker {
    async fn hold(server: &TestServer, ticket_id: &str) -> Blocker {
        use sqlx::Connection;
        if server.database.is_some() {
            let mut conn = sqlx::PgConnection::connect(&server.database_url)
                .await
                .expect("connect");
            sqlx::query("BEGIN")
                .execute(&mut conn)
                .await
                .expect("begin");
            sqlx::query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
                .bind(ticket_id)
                .execute(&mut conn)
                .await
                .expect("lock the row");
            Blocker::Postgres(conn)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&server.database_url)
                .await
                .expect("connect");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("take the write lock");
            Blocker::Sqlite(conn)
        }
    }

    async fn release(self) {
        match self {
            Blocker::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("rollback");
            }
            Blocker::Postgres(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("rollback");
            }
        }
    }
}

fn close_request(admin: &Tickets, id: &str) -> tonic::Request<pb::CloseTicketRequest> {
    admin.req(pb::CloseTicketRequest {
        ticket_id: id.into(),
        ..Default::default()
    })
}

/// After a dropped close, the ticket's only close is the one made afterwards.
async fn assert_closed_once(admin: &mut Tickets, id: &str) {
    let closed = admin.close(id).await.expect("close after the blocker left");
    assert_eq!(closed.status, pb::TicketStatus::Closed as i32, "{closed:?}");
    let closes = admin
        .events(id)
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event.r#type == pb::TicketEventType::Closed as i32)
        .count();
    assert_eq!(closes, 1, "the timed-out close must not have been done");
}

both_backends! {
#[tokio::test]
async fn a_write_past_the_clients_deadline_is_deadline_exceeded_and_dropped(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let blocker = Blocker::hold(&server, &ticket.id).await;
    // Sent raw: tonic's client would time the call out itself and report its own CANCELLED
    // instead of the server's answer.
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    let close = prost::Message::encode_to_vec(&pb::CloseTicketRequest {
        ticket_id: ticket.id.clone(),
        ..Default::default()
    });
    let headers = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "200m"),
        ("authorization", token.as_str()),
    ];
    let (_, status, message) = raw_call(
        &server,
        "/casework.v1.TicketService/CloseTicket",
        &headers,
        frame(0, &close),
    )
    .await;
    assert_eq!(status, Some(Code::DeadlineExceeded as i32), "{message}");
    assert!(message.contains("deadline"), "{message}");
    blocker.release().await;
    assert_closed_once(&mut admin, &ticket.id).await;
    server.stop().await;
}
}

#[tokio::test]
async fn the_servers_own_timeout_is_deadline_exceeded() {
    let server = TestServer::start_with(limits(|l| {
        l.request_timeout = Duration::from_millis(300);
    }))
    .await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let blocker = Blocker::hold(&server, &ticket.id).await;
    let status = assert_code(
        admin
            .client
            .close_ticket(close_request(&admin, &ticket.id))
            .await,
        Code::DeadlineExceeded,
    );
    assert!(status.message().contains("300 ms"), "{status:?}");
    blocker.release().await;
    assert_closed_once(&mut admin, &ticket.id).await;
    server.stop().await;
}

/// One raw HTTP/2 gRPC call: the HTTP status, the gRPC code and message.
async fn raw_call(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Option<i32>, String) {
    let (http, status) = raw_grpc(server, path, headers, body).await;
    let code = status.as_ref().map(|s| s.code() as i32);
    (
        http,
        code,
        status.map(|s| s.message().to_string()).unwrap_or_default(),
    )
}

/// A length-prefixed gRPC message.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    grpc_frame(flag, payload)
}

#[tokio::test]
async fn malformed_grpc_requests_are_the_clients_fault_never_internal() {
    use prost::Message;
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    let get = pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::Id(ticket.id.clone())),
    }
    .encode_to_vec();
    let path = "/casework.v1.TicketService/GetTicket";
    let grpc = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", token.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut headers = grpc.to_vec();
        headers.extend_from_slice(extra);
        headers
    };

    // Positive control: the well-formed call answers.
    let (http, status, message) = raw_call(&server, path, &grpc, frame(0, &get)).await;
    assert_eq!((http, status), (200, Some(0)), "{message}");

    let invalid = Code::InvalidArgument as i32;
    let mut truncated = frame(0, &get);
    truncated.truncate(truncated.len() - 2);
    let mut two = frame(0, &get);
    two.extend(frame(0, &get));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, i32);
    let cases: Vec<Case> = vec![
        ("empty body", with(&[]), vec![], invalid),
        ("half a header", with(&[]), vec![0, 0, 0], invalid),
        ("truncated message", with(&[]), truncated, invalid),
        ("two messages", with(&[]), two, invalid),
        (
            "compressed, no encoding",
            with(&[]),
            frame(1, &get),
            invalid,
        ),
        ("unknown flag", with(&[]), frame(7, &get), invalid),
        (
            "gzip",
            with(&[("grpc-encoding", "gzip")]),
            frame(1, &get),
            Code::Unimplemented as i32,
        ),
        (
            "malformed grpc-timeout",
            with(&[("grpc-timeout", "soon")]),
            frame(0, &get),
            invalid,
        ),
        (
            "grpc-timeout of nine digits",
            with(&[("grpc-timeout", "123456789S")]),
            frame(0, &get),
            invalid,
        ),
    ];
    for (name, headers, body, expected) in cases {
        let (http, status, message) = raw_call(&server, path, &headers, body).await;
        assert_eq!(http, 200, "{name}: {message}");
        assert_eq!(status, Some(expected), "{name}: {message}");
        assert!(!message.is_empty(), "{name}: a refusal says why");
    }

    // JSON is not gRPC: HTTP 415 as the protocol asks.
    let json = [
        ("content-type", "application/json"),
        ("authorization", token.as_str()),
    ];
    let (http, status, _) = raw_call(&server, path, &json, b"{}".to_vec()).await;
    assert_eq!(http, 415);
    assert_eq!(status, Some(invalid));
    server.stop().await;
}

#[tokio::test]
async fn bad_grpc_web_base64_is_invalid_argument() {
    let server = TestServer::start().await;
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    let response = reqwest::Client::new()
        .post(format!(
            "{}/casework.v1.TicketService/GetTicket",
            server.url()
        ))
        .header("content-type", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .header("authorization", token)
        .body("!!!not base64!!!")
        .send()
        .await
        .expect("response");
    let status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.expect("body");
    // Trailers-only answers carry the status in the headers; else it is in the body's
    // trailer frame (base64 in grpc-web-text).
    let status = status.unwrap_or_else(|| {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).to_string();
        text.split("grpc-status:")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_default()
    });
    assert_eq!(status, (Code::InvalidArgument as i32).to_string());
    server.stop().await;
}

#[tokio::test]
async fn http1_headers_have_the_same_limit_as_http2() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let get = |size: usize| {
        client
            .get(format!("{}/healthz", server.url()))
            .header("x-padding", "a".repeat(size))
            .send()
    };
    let under = get(15 * 1024).await.expect("under the limit");
    assert_eq!(under.status().as_u16(), 200);
    let over = get(17 * 1024).await.expect("over the limit");
    assert_eq!(over.status().as_u16(), 431);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_says_nothing_is_closed_after_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(limits(|l| {
        l.handshake_timeout = Duration::from_millis(200);
    }))
    .await;
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut buffer = [0u8; 16];
    // The server closes it: the read ends (0 bytes or a reset), it does not wait forever.
    let read = silent.read(&mut buffer).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // A connection that speaks is served.
    let health = reqwest::get(format!("{}/healthz", server.url()))
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    server.stop().await;
}

/// A call that stays in flight until `blocker` is released: a close waiting for the write.
/// Sent again while the limit refuses it (the prober's calls take places too): once one is
/// admitted it stays in flight.
fn held_close(admin: &Tickets, id: &str) -> tokio::task::JoinHandle<Result<(), tonic::Status>> {
    let (mut admin, id) = (admin.clone(), id.to_string());
    tokio::spawn(async move {
        loop {
            let request = close_request(&admin, &id);
            match admin.client.close_ticket(request).await {
                Err(status) if status.code() == Code::ResourceExhausted => continue,
                done => return done.map(drop),
            }
        }
    })
}

/// Calls `get` until it is refused for load (the held call has been admitted), returning
/// the refusal.
async fn until_refused(client: &mut Tickets, id: &str) -> tonic::Status {
    loop {
        match client.get(id).await {
            Ok(_) => continue,
            Err(status) => return status,
        }
    }
}

#[tokio::test]
async fn calls_past_the_per_credential_limit_are_refused_with_a_time_to_retry() {
    let server = TestServer::start_with(limits(|l| l.max_calls_per_principal = 1)).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let blocker = Blocker::hold(&server, &ticket.id).await;
    let held = held_close(&admin, &ticket.id);
    let refused = until_refused(&mut admin, &ticket.id).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let retry = refused.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
    // Another credential has its own share.
    let mut agent = server.tickets(SUPERVISOR, Role::Supervisor).await;
    agent.get(&ticket.id).await.expect("another credential");
    // REST: 429 with Retry-After.
    let rest = reqwest::Client::new()
        .get(format!("{}/v1/tickets/{}", server.url(), ticket.id))
        .header(
            "authorization",
            format!("bearer {}", server.token(ADMIN, Role::Admin)),
        )
        .send()
        .await
        .expect("rest");
    assert_eq!(rest.status().as_u16(), 429);
    assert!(rest.headers().get("retry-after").is_some());
    blocker.release().await;
    held.await.expect("task").expect("the held call finishes");
    admin.get(&ticket.id).await.expect("the place came back");
    server.stop().await;
}

#[tokio::test]
async fn calls_past_the_server_wide_limit_are_refused_for_everyone() {
    let server = TestServer::start_with(limits(|l| l.max_calls_in_flight = 1)).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    let blocker = Blocker::hold(&server, &ticket.id).await;
    let held = held_close(&admin, &ticket.id);
    let mut supervisor = server.tickets(SUPERVISOR, Role::Supervisor).await;
    let refused = until_refused(&mut supervisor, &ticket.id).await;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.get_details_retry_info().is_some());
    blocker.release().await;
    held.await.expect("task").expect("the held call finishes");
    supervisor
        .get(&ticket.id)
        .await
        .expect("the place came back");
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_refuses_past_the_burst_with_retry_info() {
    let server = TestServer::start_with(limits(|l| {
        l.rate_limit_per_second = 1;
        l.rate_limit_burst = 3;
    }))
    .await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    // The create took one of the three; two more pass, the next is refused (the bucket
    // refills one a second, far slower than these calls come).
    admin.get(&ticket.id).await.expect("second");
    admin.get(&ticket.id).await.expect("third");
    let refused = assert_code(admin.get(&ticket.id).await, Code::ResourceExhausted);
    let retry = refused.get_details_retry_info().expect("RetryInfo");
    let delay = retry.retry_delay.expect("delay");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    server.stop().await;
}

/// The value of a counter on /metrics (0 before it exists).
async fn counter(server: &TestServer, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_stream_whose_client_reads_nothing_is_ended_and_resumes_from_its_last_event() {
    let config = AppConfig {
        stream_buffer: 4,
        stream_stall: Duration::from_millis(100),
        ..AppConfig::default()
    };
    let server = TestServer::start_configured(config, ServerOptions::default()).await;
    let admin = server.admin().await;
    let stalled_before = counter(&server, "casework_stalled_streams_total").await;
    let watch = |after: i64| {
        admin.req(pb::WatchTicketsRequest {
            after_event_id: after,
            ..Default::default()
        })
    };
    // Its own connection with a small window: what it does not read stops its stream only.
    let channel = tonic::transport::Channel::from_shared(server.url())
        .expect("url")
        .initial_stream_window_size(Some(16 * 1024))
        .initial_connection_window_size(Some(16 * 1024))
        .connect()
        .await
        .expect("connect");
    let mut stalled = pb::ticket_service_client::TicketServiceClient::new(channel)
        .watch_tickets(watch(0))
        .await
        .expect("watch")
        .into_inner();
    // Far more than the window, the server's send buffer and the stream's queue hold.
    const TICKETS: usize = 400;
    let mut writer = admin.clone();
    let mut last_ticket = String::new();
    for i in 0..TICKETS {
        let mut new = new_ticket(&format!("cust-{i}"));
        new.subject = format!("{i} {}", "x".repeat(200));
        last_ticket = writer.create(new).await.expect("create").id;
    }
    let last_event = writer.events(&last_ticket).await.expect("events");
    let last_event = last_event.last().expect("an event").id;
    while counter(&server, "casework_stalled_streams_total").await <= stalled_before {
        tokio::task::yield_now().await;
    }
    // What was buffered arrives, then the stream ends short of the whole run.
    let mut seen = Vec::new();
    while let Ok(Some(item)) = stalled.message().await {
        seen.push(item.event.expect("event").id);
    }
    let got = *seen.last().expect("what was buffered");
    assert!(got < last_event, "ended at {got}, before {last_event}");
    // Resumed from its last event: the rest, with no gap and no repeat.
    let mut resumed = admin
        .client
        .clone()
        .watch_tickets(watch(*seen.last().expect("one")))
        .await
        .expect("resume")
        .into_inner();
    while *seen.last().expect("one") < last_event {
        let item = resumed.message().await.expect("item").expect("open");
        seen.push(item.event.expect("event").id);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, no repeats");
    server.stop().await;
}

#[tokio::test]
async fn an_http1_request_whose_headers_never_end_is_closed_after_the_handshake_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(limits(|l| {
        l.handshake_timeout = Duration::from_millis(300);
    }))
    .await;
    // A slowloris: the start of a request, and never the blank line that ends its headers.
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    // The server answers 408 and closes, or just closes: either way the read ends.
    let read = slow.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        read.is_err() || answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(limits(|l| {
        l.max_connections_per_address = 4;
        l.handshake_timeout = Duration::from_secs(60);
    }))
    .await;
    let connect = |ip: [u8; 4]| {
        let to = server.addr;
        async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind(std::net::SocketAddr::from((ip, 0)))
                .expect("bind");
            socket.connect(to).await.expect("connect")
        }
    };
    let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // A slowloris on 127.0.0.2: four requests whose headers never end, each on a connection
    // the server holds until its handshake timeout.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut connection = connect([127, 0, 0, 2]).await;
        connection
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            .await
            .expect("send");
        slow.push(connection);
    }
    // A fifth from the same address is closed at once, unanswered.
    let mut fifth = connect([127, 0, 0, 2]).await;
    let _ = fifth.write_all(get).await;
    let mut answer = Vec::new();
    let _ = fifth.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // Another address is served as ever.
    let mut other = connect([127, 0, 0, 3]).await;
    other.write_all(get).await.expect("send");
    let mut answer = Vec::new();
    other.read_to_end(&mut answer).await.expect("answer");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(slow);
    server.stop().await;
}
