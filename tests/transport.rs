//! Transport options: TLS with rustls when a certificate is given, CORS for browsers.
#[macro_use]
mod common;

use casework::config::{ServerOptions, TlsIdentity};
use casework::pb;
use common::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

both_backends! {
#[tokio::test]
async fn tls_is_served_when_a_certificate_is_given(backend: Backend) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let cert_pem = certified.cert.pem();
    let server = TestServer::start_with_on(backend, ServerOptions {
        tls: Some(TlsIdentity {
            cert_pem: cert_pem.clone().into_bytes(),
            key_pem: certified.signing_key.serialize_pem().into_bytes(),
        }),
        ..ServerOptions::default()
    })
    .await;
    let channel = Channel::from_shared(format!("https://localhost:{}", server.addr.port()))
        .expect("url")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_pem))
                .domain_name("localhost"),
        )
        .expect("tls config")
        .connect()
        .await
        .expect("TLS connect");
    let mut client = Tickets {
        client: pb::ticket_service_client::TicketServiceClient::new(channel),
        headers: vec![(
            "authorization",
            format!(
                "bearer {}",
                server.token(ADMIN, casework::domain::Role::Admin)
            ),
        )],
    };
    let request = client.req(pb::ListQueuesRequest {});
    let queues = client
        .client
        .list_queues(request)
        .await
        .expect("list over TLS")
        .into_inner();
    assert_eq!(queues.queues.len(), 2);

    // A plaintext client cannot talk to it, even with a valid token: the failure is the
    // transport's, not authentication's.
    let plaintext = Channel::from_shared(server.url())
        .expect("url")
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let mut plain = pb::ticket_service_client::TicketServiceClient::new(channel);
        let request = client.req(pb::ListQueuesRequest {});
        let status = plain
            .list_queues(request)
            .await
            .expect_err("plaintext must fail");
        assert_ne!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    }
    server.stop().await;
}
}

/// A browser's preflight for `method path` from `origin`: the allowed origin, if any.
async fn preflight(
    server: &TestServer,
    origin: &str,
    method: &str,
    path: &str,
    headers: &str,
) -> Option<String> {
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", server.url()))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .expect("preflight");
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().expect("ascii").to_string());
    if allowed.is_some() {
        assert!(response.status().is_success(), "{response:?}");
        let allowed = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii").to_lowercase())
                .unwrap_or_default()
        };
        let methods = allowed("access-control-allow-methods");
        assert!(methods.contains(&method.to_lowercase()), "{methods}");
        let allowed_headers = allowed("access-control-allow-headers");
        for header in headers.split(',') {
            assert!(
                allowed_headers.split(',').any(|h| h.trim() == header),
                "{header} not in {allowed_headers}"
            );
        }
    }
    allowed
}

/// A grpc-web ListQueues from `origin`: (the allowed origin the response carries, the
/// number of queues it returned).
async fn grpc_web_list_queues(server: &TestServer, origin: &str) -> (Option<String>, usize) {
    use prost::Message;
    let message = pb::ListQueuesRequest {}.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let response = reqwest::Client::new()
        .post(format!(
            "{}/casework.v1.TicketService/ListQueues",
            server.url()
        ))
        .header("origin", origin)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header(
            "authorization",
            format!(
                "bearer {}",
                server.token(ADMIN, casework::domain::Role::Admin)
            ),
        )
        .body(frame)
        .send()
        .await
        .expect("grpc-web call");
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().expect("ascii").to_string());
    let body = response.bytes().await.expect("body");
    assert_eq!(body.first(), Some(&0u8), "a data frame first: {body:?}");
    let length = u32::from_be_bytes(body[1..5].try_into().expect("length")) as usize;
    let reply = pb::ListQueuesResponse::decode(&body[5..5 + length]).expect("reply");
    (allowed, reply.queues.len())
}

const GRPC_WEB: &str = "/casework.v1.TicketService/ListQueues";
const GRPC_WEB_HEADERS: &str = "authorization,content-type,x-grpc-web,x-user-agent";

both_backends! {
#[tokio::test]
async fn cors_allows_only_configured_origins(backend: Backend) {
    let console = "https://console.example.com";
    let evil = "https://evil.example.com";
    let server = TestServer::start_with_on(backend, ServerOptions {
        cors_origins: vec![console.into()],
        ..ServerOptions::default()
    })
    .await;
    // grpc-web: the allowed origin passes the preflight and may read the reply; another
    // origin gets no CORS headers, so its browser refuses both.
    assert_eq!(
        preflight(&server, console, "POST", GRPC_WEB, GRPC_WEB_HEADERS).await,
        Some(console.to_string())
    );
    assert_eq!(
        preflight(&server, evil, "POST", GRPC_WEB, GRPC_WEB_HEADERS).await,
        None
    );
    assert_eq!(
        grpc_web_list_queues(&server, console).await,
        (Some(console.to_string()), 2)
    );
    assert_eq!(grpc_web_list_queues(&server, evil).await.0, None);
    // The REST shim, with its own methods and headers.
    let rest_headers = "authorization,content-type,x-agent-id,x-agent-user-id";
    for (method, path) in [("PUT", "/v1/online"), ("DELETE", "/v1/rooms/r-1")] {
        assert_eq!(
            preflight(&server, console, method, path, rest_headers).await,
            Some(console.to_string())
        );
        assert_eq!(
            preflight(&server, evil, method, path, rest_headers).await,
            None
        );
    }
    server.stop().await;

    // By default only the server's own origin may call: no cross-origin CORS headers at all.
    let server = TestServer::start_on(backend).await;
    assert_eq!(
        preflight(&server, console, "POST", GRPC_WEB, GRPC_WEB_HEADERS).await,
        None
    );
    assert_eq!(grpc_web_list_queues(&server, console).await, (None, 2));
    server.stop().await;
}
}
