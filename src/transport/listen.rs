//! The one listening port: TCP (or TLS with rustls), HTTP/1.1 and HTTP/2 on the same socket
//! with hyper-util's auto builder, the connection-level limits of DESIGN.md §9, and a
//! graceful drain on shutdown.
use crate::config::{Limits, TlsIdentity};
use crate::error::{Error, Result};
use crate::transport::admission::Admission;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Bytes a stream may have queued in HTTP/2 beyond what its client has room for: a client
/// that stops reading holds this much of the server's memory per stream, not hyper's 400 KB.
const MAX_SEND_BUFFER: usize = 64 * 1024;
/// HTTP/2 streams a client may reset before the server has answered them, per connection
/// (the rapid-reset bound).
const MAX_PENDING_RESETS: usize = 20;

/// A rustls acceptor for the certificate chain and key (HTTP/2 and HTTP/1.1 by ALPN).
pub fn tls_acceptor(identity: &TlsIdentity) -> Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("tls_cert", format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(Error::invalid("tls_cert", "holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
        .map_err(|e| Error::invalid("tls_key", format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("tls_cert", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::invalid("tls_key", format!("unusable with the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// HTTP/1.1 and HTTP/2 with the server's limits.
fn http(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A client must send a request's headers within this time (slowloris)…
        .header_read_timeout(limits.handshake_timeout)
        // …and they must fit the header limit, as on HTTP/2 (431 past it).
        .max_buf_size((limits.max_header_list_bytes as usize).max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_bytes)
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout)
        .max_send_buf_size(MAX_SEND_BUFFER)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS);
    builder
}

/// Serves `router` on `listener` until `stop` resolves, then stops accepting, lets every
/// connection finish its in-flight calls and returns.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &Limits,
    admission: &Admission,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
) {
    let builder = Arc::new(http(limits));
    let graceful = GracefulShutdown::new();
    let handshake = limits.handshake_timeout;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(limits.keepalive_interval)
        .with_interval(limits.keepalive_timeout)
        .with_retries(3);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the listener itself is fine.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        // One address holds at most its share of connections: past it, closed at once.
        let place = match admission.admit_connection(peer.ip()) {
            Ok(place) => place,
            Err(refused) => {
                tracing::debug!(%peer, reason = %refused.reason, "connection refused");
                continue;
            }
        };
        // Without TCP_NODELAY, Nagle's algorithm meets delayed ACKs and replies wait ~40 ms.
        let _ = tcp.set_nodelay(true);
        // TCP keepalive finds peers that vanished without a word also where HTTP/2 pings do
        // not run: a grpc-web stream over HTTP/1.1 to a browser that lost its network.
        let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
        let (builder, router, tls, watcher) = (
            builder.clone(),
            router.clone(),
            tls.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let _place = place;
            let service = TowerToHyperService::new(router);
            match tls {
                Some(tls) => {
                    let Ok(Ok(io)) = tokio::time::timeout(handshake, tls.accept(tcp)).await else {
                        return;
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                None => {
                    if !speaks_within(&tcp, handshake).await {
                        return;
                    }
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether the client sends its first byte within `limit`: connections that open and say
/// nothing are closed instead of held.
async fn speaks_within(tcp: &TcpStream, limit: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, tcp.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0
    )
}
