//! Test harness: a real casework server on 127.0.0.1:0 over a fresh database (a SQLite file,
//! or a PostgreSQL database of its own), real tonic clients, token minting and a manual clock.
//! `both_backends!` runs one test body on each store.
#![allow(dead_code)]

use casework::app::{App, AppConfig};
use casework::clock::{Clock, ManualClock};
use casework::config::ServerOptions;
use casework::domain::{Agent, AgentRole, EscalationDepartment, Queue, Role};
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use casework::server::RunningServer;
use casework::transport::auth::Authenticator;
use std::sync::Arc;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

pub const SECRET: &[u8] = b"casework-test-secret-0123456789";

/// Agents seeded into every test store: (id, role, queues).
pub const AGENT: &str = "agent@example.com";
pub const OTHER_AGENT: &str = "other@example.com";
pub const SUPERVISOR: &str = "supervisor@example.com";
pub const ADMIN: &str = "admin@example.com";
pub const QUEUE: &str = "chat-sg-en";
pub const OTHER_QUEUE: &str = "email-sg-en";
pub const DEPARTMENT: &str = "partner-service";

/// The store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn postgres_admin_url() -> String {
    std::env::var("CASEWORK_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

/// Whether the PostgreSQL cases can run. When the server is unreachable they are skipped with
/// one loud line, unless the run asked for them (`CI=true` or `CASEWORK_TEST_POSTGRES_URL`
/// set): then it is a failure.
pub async fn postgres_ready() -> bool {
    use sqlx::Connection;
    static WARNED: std::sync::Once = std::sync::Once::new();
    let url = postgres_admin_url();
    match sqlx::PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(error) => {
            let required = std::env::var("CI").is_ok_and(|ci| ci == "true")
                || std::env::var("CASEWORK_TEST_POSTGRES_URL").is_ok();
            if required {
                panic!("PostgreSQL at {url} is unreachable: {error}");
            }
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            WARNED.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "!!! SKIPPING the PostgreSQL cases: no server at {url} ({error}). Start one \
                     (pg_ctlcluster 15 main start) or set CASEWORK_TEST_POSTGRES_URL to run them."
                );
            });
            false
        }
    }
}

/// A PostgreSQL database of one test, dropped (with its connections) when the test is over.
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    pub async fn create() -> PostgresDatabase {
        use sqlx::{Connection, Executor};
        let admin_url = postgres_admin_url();
        let name = format!("casework_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the PostgreSQL test server");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let base = admin_url.split('?').next().unwrap_or_default();
        let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
        let url = format!("{server}/{name}");
        PostgresDatabase {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: the drop gets a thread and runtime of its own.
        let dropped = std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Runs each test body twice, as `<name>::sqlite` and `<name>::postgres`:
/// `both_backends! { async fn name(backend: Backend) { … TestServer::start_on(backend) … } }`.
/// A leading `#[tokio::test(…)]` is used for both cases (the default is `#[tokio::test]`).
#[macro_export]
macro_rules! both_backends {
    () => {};
    (#[tokio::test $(($($args:tt)*))?] $(#[$attr:meta])* async fn $name:ident($backend:ident: Backend) $body:block $($rest:tt)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::common::Backend;

            $(#[$attr])*
            async fn run($backend: Backend) $body

            #[tokio::test $(($($args)*))?]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }

            #[tokio::test $(($($args)*))?]
            async fn postgres() {
                if $crate::common::postgres_ready().await {
                    run(Backend::Postgres).await
                }
            }
        }
        $crate::both_backends! { $($rest)* }
    };
    ($(#[$attr:meta])* async fn $name:ident($backend:ident: Backend) $body:block $($rest:tt)*) => {
        $crate::both_backends! { #[tokio::test] $(#[$attr])* async fn $name($backend: Backend) $body $($rest)* }
    };
}

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub addr: std::net::SocketAddr,
    pub clock: ManualClock,
    pub app: App,
    pub auth: Authenticator,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    /// The PostgreSQL database of this test (dropped with the server), if it runs on one.
    pub database: Option<Arc<PostgresDatabase>>,
    pub config: AppConfig,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> TestServer {
        Self::start_configured(AppConfig::default(), options).await
    }

    pub async fn start_configured(config: AppConfig, options: ServerOptions) -> TestServer {
        Self::start_configured_on(Backend::Sqlite, config, options).await
    }

    pub async fn start_on(backend: Backend) -> TestServer {
        Self::start_configured_on(backend, AppConfig::default(), ServerOptions::default()).await
    }

    pub async fn start_with_on(backend: Backend, options: ServerOptions) -> TestServer {
        Self::start_configured_on(backend, AppConfig::default(), options).await
    }

    /// A server on the database at `database_url` (a SQLite file the test placed, e.g. on a
    /// file system it made).
    pub async fn start_at(database_url: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
                .expect("time")
                .to_utc(),
        );
        Self::boot(
            dir,
            database_url.to_string(),
            None,
            clock,
            AppConfig::default(),
            ServerOptions::default(),
        )
        .await
    }

    pub async fn start_configured_on(
        backend: Backend,
        config: AppConfig,
        options: ServerOptions,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("casework.db").display()),
                None,
            ),
            Backend::Postgres => {
                let database = PostgresDatabase::create().await;
                (database.url.clone(), Some(Arc::new(database)))
            }
        };
        let clock = ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
                .expect("time")
                .to_utc(),
        );
        Self::boot(dir, database_url, database, clock, config, options).await
    }

    async fn boot(
        dir: tempfile::TempDir,
        database_url: String,
        database: Option<Arc<PostgresDatabase>>,
        clock: ManualClock,
        config: AppConfig,
        options: ServerOptions,
    ) -> TestServer {
        let store = casework::store::connect(&database_url)
            .await
            .expect("store");
        seed(store.as_ref()).await;
        let app = App::new(store, Arc::new(clock.clone()), config.clone())
            .await
            .expect("app");
        let auth = Authenticator::hs256(SECRET);
        let server = casework::server::start(
            app.clone(),
            Arc::new(auth.clone()),
            "127.0.0.1:0".parse().expect("addr"),
            options,
            std::future::pending(),
        )
        .await
        .expect("server");
        TestServer {
            addr: server.addr,
            server: Some(server),
            clock,
            app,
            auth,
            dir,
            database_url,
            database,
            config,
        }
    }

    /// Stops the server and starts a new one on the same database and clock.
    pub async fn restart(mut self) -> TestServer {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("stop");
        }
        let TestServer {
            dir,
            database_url,
            database,
            clock,
            config,
            ..
        } = self;
        Self::boot(
            dir,
            database_url,
            database,
            clock,
            config,
            ServerOptions::default(),
        )
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One number read straight from the database (outside the server).
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        if self.database.is_some() {
            let mut raw = sqlx::PgConnection::connect(&self.database_url)
                .await
                .expect("raw");
            sqlx::query_scalar(sql)
                .fetch_one(&mut raw)
                .await
                .expect(sql)
        } else {
            let mut raw = sqlx::SqliteConnection::connect(&self.database_url)
                .await
                .expect("raw");
            sqlx::query_scalar(sql)
                .fetch_one(&mut raw)
                .await
                .expect(sql)
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    /// A token for `sub` with `role`, valid for an hour of real time.
    pub fn token(&self, sub: &str, role: Role) -> String {
        self.auth
            .mint(sub, role, chrono::Utc::now().timestamp(), 3600)
            .expect("token")
    }

    /// A TicketService client whose calls carry `bearer <token>`.
    pub async fn tickets(&self, sub: &str, role: Role) -> Tickets {
        Tickets {
            client: TicketServiceClient::new(self.channel().await),
            headers: vec![("authorization", format!("bearer {}", self.token(sub, role)))],
        }
    }

    pub async fn admin(&self) -> Tickets {
        self.tickets(ADMIN, Role::Admin).await
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("stop");
        }
    }
}

/// The reference data every test store starts with (queues, a department, the agents above).
pub async fn seed(store: &dyn casework::store::Store) {
    for (id, sla) in [(QUEUE, 900), (OTHER_QUEUE, 86_400)] {
        store
            .upsert_queue(&Queue {
                id: id.into(),
                name: id.into(),
                language: "en".into(),
                default_sla_seconds: sla,
            })
            .await
            .expect("queue");
    }
    store
        .upsert_department(&EscalationDepartment {
            id: DEPARTMENT.into(),
            label: "Partner Service".into(),
        })
        .await
        .expect("department");
    for (id, role, queues) in [
        (AGENT, AgentRole::Agent, vec![QUEUE]),
        (OTHER_AGENT, AgentRole::Agent, vec![QUEUE]),
        (SUPERVISOR, AgentRole::Supervisor, vec![QUEUE, OTHER_QUEUE]),
        (ADMIN, AgentRole::Admin, vec![]),
    ] {
        store
            .upsert_agent(&agent(id, id, role, &queues))
            .await
            .expect("agent");
    }
}

/// An offline agent record (nothing is routed unless a test puts agents online) speaking
/// English, with room for 5 tickets.
pub fn agent(id: &str, name: &str, role: AgentRole, queues: &[&str]) -> Agent {
    Agent {
        id: id.into(),
        name: name.into(),
        role,
        status: "offline".into(),
        status_alias: "Offline".into(),
        last_login_at: None,
        status_updated_at: None,
        queues: queues.iter().map(|q| q.to_string()).collect(),
        languages: vec!["en".into()],
        max_concurrent: 5,
    }
}

/// A TicketService client that adds its headers to every request.
#[derive(Clone)]
pub struct Tickets {
    pub client: TicketServiceClient<Channel>,
    pub headers: Vec<(&'static str, String)>,
}

impl Tickets {
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn req<T>(&self, body: T) -> Request<T> {
        let mut request = Request::new(body);
        for (name, value) in &self.headers {
            request.metadata_mut().insert(
                *name,
                MetadataValue::try_from(value.as_str()).expect("header value"),
            );
        }
        request
    }

    pub async fn create(&mut self, body: pb::CreateTicketRequest) -> Result<pb::Ticket, Status> {
        let request = self.req(body);
        Ok(self
            .client
            .create_ticket(request)
            .await?
            .into_inner()
            .ticket
            .expect("ticket"))
    }

    pub async fn get(&mut self, id: &str) -> Result<pb::Ticket, Status> {
        let request = self.req(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Id(id.into())),
        });
        Ok(self
            .client
            .get_ticket(request)
            .await?
            .into_inner()
            .ticket
            .expect("ticket"))
    }

    pub async fn assign(&mut self, id: &str, agent: &str) -> Result<pb::Ticket, Status> {
        let request = self.req(pb::AssignTicketRequest {
            ticket_id: id.into(),
            agent_id: agent.into(),
            expected_version: 0,
        });
        Ok(self
            .client
            .assign_ticket(request)
            .await?
            .into_inner()
            .ticket
            .expect("ticket"))
    }

    pub async fn close(&mut self, id: &str) -> Result<pb::Ticket, Status> {
        let request = self.req(pb::CloseTicketRequest {
            ticket_id: id.into(),
            ..Default::default()
        });
        Ok(self
            .client
            .close_ticket(request)
            .await?
            .into_inner()
            .ticket
            .expect("ticket"))
    }

    pub async fn events(&mut self, id: &str) -> Result<Vec<pb::TicketEvent>, Status> {
        let request = self.req(pb::ListTicketEventsRequest {
            ticket_id: id.into(),
            page_size: 500,
            page_token: String::new(),
        });
        Ok(self
            .client
            .list_ticket_events(request)
            .await?
            .into_inner()
            .events)
    }
}

/// A valid CreateTicket request in the seeded queue.
pub fn new_ticket(customer: &str) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        subject: "Where is my order?".into(),
        queue: QUEUE.into(),
        channel: "chat".into(),
        source: "fp-sg".into(),
        priority: 2,
        customer: Some(pb::Customer {
            id: customer.into(),
            name: "Hugo Dan".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Asserts `result` failed with `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The fields named in an INVALID_ARGUMENT's `BadRequest` details.
pub fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

pub fn now(server: &TestServer) -> chrono::DateTime<chrono::Utc> {
    server.clock.now()
}

/// A gRPC message with its 5-byte prefix (`flag` 0: uncompressed).
pub fn grpc_frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![flag];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    body
}

/// One raw HTTP/2 gRPC call (the body framed by the caller): the HTTP status, and the gRPC
/// status from the headers (trailers-only) or the trailers, with its details.
pub async fn raw_grpc(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Option<Status>) {
    raw_grpc_call(server, path, headers, body, true).await
}

/// [`raw_grpc`] for a server-streaming method: only the response's headers are read (a
/// refusal comes trailers-only; a stream that started is left).
pub async fn raw_grpc_stream(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Option<Status>) {
    raw_grpc_call(server, path, headers, body, false).await
}

async fn raw_grpc_call(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    whole: bool,
) -> (u16, Option<Status>) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<axum::body::Bytes>>();
    let mut request = axum::http::Request::post(format!("{}{path}", server.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(
            request
                .body(Full::new(axum::body::Bytes::from(body)))
                .expect("request"),
        )
        .await
        .expect("response");
    let http = response.status().as_u16();
    let (parts, body) = response.into_parts();
    if !whole {
        return (http, Status::from_header_map(&parts.headers));
    }
    let collected = body.collect().await.expect("body");
    let mut all = parts.headers;
    if let Some(trailers) = collected.trailers() {
        all.extend(trailers.clone());
    }
    (http, Status::from_header_map(&all))
}

/// How many of `events` are of `kind`.
pub fn count(events: &[pb::TicketEvent], kind: pb::TicketEventType) -> usize {
    events.iter().filter(|e| e.r#type == kind as i32).count()
}

/// `sub` (with `role`) sends `body` to the room.
pub async fn say(server: &TestServer, sub: &str, role: Role, room_id: &str, body: &str) {
    let auth = server.tickets(sub, role).await;
    let mut client =
        pb::conversation_service_client::ConversationServiceClient::new(server.channel().await);
    let request = auth.req(pb::SendMessageRequest {
        room_id: room_id.into(),
        body: body.into(),
        ..Default::default()
    });
    client.send_message(request).await.expect("send");
}

/// The address of a "casework listening" JSON log line (`casework serve --log-format json`).
pub fn listening_addr(line: &str) -> Option<std::net::SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = entry.get("fields")?;
    if fields.get("message")?.as_str()? != "casework listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}
