//! Transport options: TLS with rustls when a certificate is given, CORS for browsers.
mod common;

use casework::config::{ServerOptions, TlsIdentity};
use casework::pb;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

#[tokio::test]
async fn tls_is_served_when_a_certificate_is_given() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let cert_pem = certified.cert.pem();
    let server = TestServer::start_with(ServerOptions {
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

/// Sends one HTTP/1.1 request and returns the response head, lower-cased.
async fn http_head(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.expect("read");
        response.extend_from_slice(&buffer[..n]);
        if n == 0 || response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&response).to_lowercase()
}

fn preflight(origin: &str) -> String {
    format!(
        "OPTIONS /casework.v1.TicketService/ListQueues HTTP/1.1\r\nHost: localhost\r\n\
         Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: authorization,content-type,x-grpc-web\r\n\
         Connection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let server = TestServer::start_with(ServerOptions {
        cors_origins: vec!["https://console.example.com".into()],
        ..ServerOptions::default()
    })
    .await;
    let allowed = http_head(server.addr, &preflight("https://console.example.com")).await;
    assert!(allowed.starts_with("http/1.1 200"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://console.example.com"),
        "{allowed}"
    );
    assert!(allowed.contains("authorization"), "{allowed}");
    let refused = http_head(server.addr, &preflight("https://evil.example.com")).await;
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );
    server.stop().await;
}
