//! One listening port: gRPC, grpc-web (HTTP/1.1 too), reflection v1 and v1alpha,
//! `grpc.health.v1`, `/healthz`, `/readyz`, `/metrics`. Graceful shutdown finishes in-flight
//! calls and ends live streams.
use crate::app::App;
use crate::config::ServerOptions;
use crate::error::{Error, Result};
use crate::pb;
use crate::transport::admission::Admission;
use crate::transport::auth::Authenticator;
use crate::transport::grpc::guard::Guard;
use crate::transport::grpc::{
    AgentApi, AuthInterceptor, CcrApi, ConversationApi, ReportApi, TicketApi,
};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tracing::Instrument;

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// Stops accepting, ends streams, waits for in-flight calls to finish.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.task
            .await
            .map_err(|e| Error::Internal(format!("server task: {e}")))?
    }

    /// Waits until the server ends by itself (or `shutdown` fires).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| Error::Internal(format!("server task: {e}")))?
    }
}

/// The metrics in Prometheus text, with two gauges read as of now: the tasks alive in the
/// runtime (whether the tasks of streams and connections end when their clients go) and the
/// memory SQLite holds (page caches and prepared statements, bounded per connection; 0 on
/// PostgreSQL), which tells its share of the resident memory from the server's own.
fn render_metrics() -> String {
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    metrics::gauge!("casework_tasks").set(tasks as f64);
    // SAFETY: takes no arguments and only reads SQLite's allocator statistics (thread-safe).
    let sqlite = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    metrics::gauge!("casework_sqlite_memory_bytes").set(sqlite as f64);
    prometheus().render()
}

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder).
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .map(|builder| builder.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Binds `listen` and serves until `stop` is called or `signal` resolves.
pub async fn start(
    app: App,
    authenticator: Arc<Authenticator>,
    listen: SocketAddr,
    options: ServerOptions,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Unavailable(format!("listener address: {e}")))?;
    let shutdown = CancellationToken::new();

    let limits = &options.limits;
    let interceptor = AuthInterceptor(authenticator.clone());
    let max = limits.max_message_bytes;
    let tickets = InterceptedService::new(
        pb::ticket_service_server::TicketServiceServer::new(TicketApi::new(app.clone()))
            .max_decoding_message_size(max),
        interceptor.clone(),
    );
    let agents = InterceptedService::new(
        pb::agent_service_server::AgentServiceServer::new(AgentApi::new(app.clone()))
            .max_decoding_message_size(max),
        interceptor.clone(),
    );
    let conversations = InterceptedService::new(
        pb::conversation_service_server::ConversationServiceServer::new(ConversationApi::new(
            app.clone(),
        ))
        .max_decoding_message_size(max),
        interceptor.clone(),
    );
    let ccr = InterceptedService::new(
        pb::ccr_service_server::CcrServiceServer::new(CcrApi::new(app.clone()))
            .max_decoding_message_size(max),
        interceptor.clone(),
    );
    let reports = InterceptedService::new(
        pb::report_service_server::ReportServiceServer::new(ReportApi::new(app.clone()))
            .max_decoding_message_size(max),
        interceptor,
    );

    let (health_reporter, health) = tonic_health::server::health_reporter();
    for service in [
        "casework.v1.TicketService",
        "casework.v1.AgentService",
        "casework.v1.ConversationService",
        "casework.v1.CcrService",
        "casework.v1.ReportService",
    ] {
        health_reporter
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| Error::Internal(format!("reflection: {e}")))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| Error::Internal(format!("reflection: {e}")))?;

    let grpc = Routes::new(tickets)
        .add_service(agents)
        .add_service(conversations)
        .add_service(ccr)
        .add_service(reports)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let admission = Admission::new(limits);
    let guard = Arc::new(Guard {
        admission: admission.clone(),
        auth: authenticator.clone(),
        timeout: limits.request_timeout,
        max_message_bytes: max,
    });
    let http = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { render_metrics() }))
        .with_state(app.clone())
        .merge(crate::transport::console::router(
            options.console_dir.clone(),
        ))
        .merge(crate::transport::rest::router(
            app.clone(),
            authenticator,
            admission.clone(),
            limits.max_rest_body_bytes,
            limits.request_timeout,
        ));
    // grpc-web applies to the gRPC routes only: tonic-web refuses plain HTTP/1.1 requests.
    // The guard sits inside it, so grpc-web calls are checked once translated.
    let mut router = grpc
        .into_axum_router()
        .layer(middleware::from_fn_with_state(
            guard,
            crate::transport::grpc::guard::guard,
        ))
        .layer(tonic_web::GrpcWebLayer::new())
        .merge(http)
        .fallback(unknown_route)
        .method_not_allowed_fallback(crate::transport::rest::method_not_allowed);
    if let Some(cors) = cors(&options.cors_origins)? {
        router = router.layer(cors);
    }
    let router = router.layer(middleware::from_fn(observe));
    prometheus();
    let tls = options
        .tls
        .as_ref()
        .map(crate::transport::listen::tls_acceptor)
        .transpose()?;

    app.spawn_sweeper(std::time::Duration::from_secs(1));
    app.spawn_queue_gauges(std::time::Duration::from_secs(15));
    let stop = shutdown.clone();
    {
        // Rate-limit state of credentials that went quiet is dropped now and then.
        let (admission, stop) = (admission.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => admission.forget_quiet(),
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    let limits = limits.clone();
    let task = tokio::spawn(async move {
        let stopped = {
            let stop = stop.clone();
            let app = app.clone();
            async move {
                tokio::select! {
                    _ = stop.cancelled() => {},
                    _ = signal => {},
                }
                tracing::info!("shutting down: finishing in-flight calls");
                health_reporter
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
                app.shutdown();
            }
        };
        crate::transport::listen::serve(listener, router, &limits, &admission, tls, stopped).await;
        app.store().close().await;
        Ok(())
    });
    tracing::info!(%addr, "casework listening");
    Ok(RunningServer {
        addr,
        shutdown,
        task,
    })
}

/// CORS for browsers calling grpc-web from another origin; `None` when no origin is allowed.
fn cors(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .map(|origin| {
                    HeaderValue::from_str(origin.trim()).map_err(|_| {
                        Error::invalid("cors_origins", format!("{origin:?} is not a valid origin"))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        )
    };
    let headers = |names: &[&'static str]| {
        names
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect::<Vec<_>>()
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::POST,
                Method::GET,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(headers(&[
                "authorization",
                "content-type",
                "x-grpc-web",
                "x-user-agent",
                "grpc-timeout",
                "connect-protocol-version",
                "connect-timeout-ms",
                "x-agent-user-id",
                "x-agent-id",
                "x-customer-id",
            ]))
            .expose_headers(headers(&[
                "grpc-status",
                "grpc-message",
                "grpc-status-details-bin",
            ]))
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// A path nothing serves: `UNIMPLEMENTED` to gRPC and grpc-web clients, the blueprint 404 to
/// everyone else.
async fn unknown_route(request: Request) -> Response {
    let grpc = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    if grpc {
        tonic::Status::unimplemented(format!("unknown method {}", request.uri().path()))
            .into_http::<axum::body::Body>()
    } else {
        crate::transport::rest::not_found()
    }
}

async fn readyz(State(app): State<App>) -> Response {
    match app.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::warn!(%error, "store not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable").into_response()
        }
    }
}

/// Metric label for a path: the methods and routes this server has by name, anything else
/// as `other`, so clients cannot grow the label set.
fn method_label(path: &str) -> String {
    if crate::transport::grpc::guard::method(path).is_some()
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
    {
        path.to_string()
    } else {
        "other".to_string()
    }
}

/// tonic reports a request it cannot decode as INTERNAL (prost) or OUT_OF_RANGE (size): both
/// are the client's fault. Returns the status to answer instead, naming the field.
fn client_fault(headers: &axum::http::HeaderMap) -> Option<tonic::Status> {
    let status = tonic::Status::from_header_map(headers)?;
    let message = status.message();
    match status.code() {
        tonic::Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            // prost lists `Message.field: ` frames innermost first, then the reason.
            let frames: Vec<&str> = message
                .split(": ")
                .skip(1)
                .take_while(|frame| {
                    frame
                        .split_once('.')
                        .is_some_and(|(m, f)| !m.contains(' ') && !f.contains(' '))
                })
                .collect();
            let field = frames
                .iter()
                .rev()
                .filter_map(|frame| frame.split_once('.').map(|(_, field)| field))
                .collect::<Vec<_>>()
                .join(".");
            let description = message.rsplit(": ").next().unwrap_or(message).to_string();
            Some(
                Error::invalid(
                    if field.is_empty() { "request" } else { &field },
                    description,
                )
                .into(),
            )
        }
        tonic::Code::OutOfRange if message.contains("message length too large") => {
            Some(Error::ResourceExhausted(message.to_string()).into())
        }
        _ => None,
    }
}

/// One span, one request counter, an error counter and a latency histogram per call. Also maps
/// tonic's decoding failures (a client's fault) from INTERNAL / OUT_OF_RANGE to
/// INVALID_ARGUMENT / RESOURCE_EXHAUSTED.
async fn observe(request: Request, next: Next) -> Response {
    let method = method_label(request.uri().path());
    let span = tracing::info_span!("call", method = %method, status = tracing::field::Empty, latency_ms = tracing::field::Empty);
    let start = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Some(status) = client_fault(response.headers()) {
        // Only the status headers change: the response keeps its content type and the CORS
        // headers a browser needs to read the error.
        let replacement = status.into_http::<()>();
        let headers = response.headers_mut();
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            match replacement.headers().get(name) {
                Some(value) => headers.insert(name, value.clone()),
                None => headers.remove(name),
            };
        }
    }
    let method = match response
        .extensions()
        .get::<crate::transport::rest::RouteLabel>()
    {
        Some(route) => {
            span.record("method", route.0.as_str());
            route.0.clone()
        }
        None => method,
    };
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    let status = match grpc_status {
        Some(code) => code.to_string(),
        None => response.status().as_u16().to_string(),
    };
    // Any non-OK gRPC code is a failed call; so is any other answer of 400 and above.
    let failed = grpc_status.is_some_and(|code| code != 0)
        || (grpc_status.is_none() && response.status().as_u16() >= 400);
    let elapsed = start.elapsed();
    metrics::counter!("casework_requests_total", "method" => method.clone()).increment(1);
    if failed {
        metrics::counter!("casework_request_errors_total", "method" => method.clone(), "status" => status.clone())
            .increment(1);
    }
    metrics::histogram!("casework_request_duration_seconds", "method" => method)
        .record(elapsed.as_secs_f64());
    span.record("status", status.as_str());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("call finished"));
    response
}

#[cfg(test)]
mod tests {
    use super::client_fault;
    use tonic_types::StatusExt;

    #[test]
    fn decode_failures_name_the_nested_field() {
        let internal = tonic::Status::internal(
            "failed to decode Protobuf message: Customer.id: CreateTicketRequest.customer: \
             invalid string value: data is not UTF-8 encoded",
        );
        let response = internal.into_http::<()>();
        let status = client_fault(response.headers()).expect("a client fault");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_details_bad_request()
            .expect("bad request details")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, vec!["customer.id".to_string()]);
        let other = tonic::Status::internal("database is on fire").into_http::<()>();
        assert!(client_fault(other.headers()).is_none());
    }

    #[test]
    fn metric_labels_are_known_methods_only() {
        assert_eq!(
            super::method_label("/casework.v1.TicketService/CreateTicket"),
            "/casework.v1.TicketService/CreateTicket"
        );
        assert_eq!(
            super::method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(
            super::method_label("/casework.v1.TicketService/Made-Up-123"),
            "other"
        );
        assert_eq!(super::method_label("/anything"), "other");
    }
}
