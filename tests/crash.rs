//! Crash safety: the real `casework` binary under a write load (creates, assigns, messages,
//! holds, closes), SIGKILLed at random moments and restarted on the same database, round
//! after round. Clients retry what failed with the same idempotency key (or, for a status
//! change, read whether it happened). Afterwards every acknowledged change is there exactly
//! once, each ticket's event log matches its state and version, every SLA warning and breach
//! due across the kills fired exactly once, and SQLite's `PRAGMA integrity_check` is `ok`
//! after every kill.
//!
//! `CASEWORK_CRASH_ROUNDS` sets the rounds (20 by default; the documented long run is 200).
#[macro_use]
mod common;

use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use casework::pb::report_service_client::ReportServiceClient;
use casework::pb::ticket_service_client::TicketServiceClient;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const SECRET: &str = "crash-test-secret-0123456789";
const QUEUE: &str = "email-sg-en";
const AGENT: &str = "agent@example.com";
/// Workers, each one ticket at a time: within the demo agent's capacity of 3.
const WORKERS: usize = 3;
/// A queue the test gives a fast SLA policy: warnings and breaches fall due within seconds.
const TIMER_QUEUE: &str = "vendor-sg-en";

fn rounds() -> usize {
    std::env::var("CASEWORK_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// The server process, restarted on the same port and database.
struct Process {
    port: u16,
    database_url: String,
    child: Option<Child>,
}

impl Process {
    /// Starts `casework serve` and waits until it says it is listening.
    async fn start(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casework"))
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--database-url",
                &self.database_url,
                "--jwt-secret",
                SECRET,
                "--log",
                "casework=info",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn casework");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read the log")
                .expect("casework exited before listening");
            if line.contains("casework listening") {
                break;
            }
        }
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reaped");
        }
    }
}

/// Whether a failure may come from the server going away (then: retry once it is back).
fn transport_failure(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
    )
}

/// Calls that failed because the server went away and were sent again.
static RETRIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Kills (`.0`) and starts (`.1`) so far; the server is up when they are equal.
type Phase = watch::Receiver<(u64, u64)>;

/// Runs `call` until it is answered: after a failure from a kill, once the server is back.
async fn answered<T, F, Fut>(phase: &mut Phase, mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    for _ in 0..10_000 {
        match call().await {
            Err(status) if transport_failure(&status) => {
                RETRIED.fetch_add(1, Ordering::Relaxed);
                phase
                    .wait_for(|(kills, starts)| kills == starts)
                    .await
                    .expect("phase");
            }
            answered => return answered,
        }
    }
    panic!("a call was never answered");
}

#[derive(Clone)]
struct Clients {
    tickets: TicketServiceClient<Channel>,
    rooms: ConversationServiceClient<Channel>,
    admin: String,
    agent: String,
}

impl Clients {
    fn req<T>(&self, token: &str, body: T) -> Request<T> {
        let mut request = Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", token.parse().expect("token"));
        request
    }

    async fn ticket(&mut self, phase: &mut Phase, id: &str) -> pb::Ticket {
        let this = self.clone();
        answered(phase, || {
            let mut this = this.clone();
            let request = this.req(
                &this.admin,
                pb::GetTicketRequest {
                    key: Some(pb::get_ticket_request::Key::Id(id.to_string())),
                },
            );
            async move { this.tickets.get_ticket(request).await }
        })
        .await
        .expect("get")
        .into_inner()
        .ticket
        .expect("ticket")
    }
}

/// One ticket's life: create, assign, a message, hold, close; each step retried until done.
async fn one_ticket(clients: &mut Clients, phase: &mut Phase, worker: usize, n: usize) -> String {
    let key = format!("crash-{worker}-{n}");
    let c = clients.clone();
    let created = answered(phase, || {
        let mut c = c.clone();
        let request = c.req(
            &c.admin,
            pb::CreateTicketRequest {
                request_id: key.clone(),
                subject: format!("ticket {key}"),
                queue: QUEUE.into(),
                channel: "email".into(),
                customer: Some(pb::Customer {
                    id: key.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        async move { c.tickets.create_ticket(request).await }
    })
    .await
    .expect("create")
    .into_inner()
    .ticket
    .expect("ticket");
    let id = created.id.clone();

    // A status change is not repeatable: when the retry is refused, the first one happened
    // (the ticket shows it) or something is wrong.
    macro_rules! change {
        ($make:expr, $call:ident, $done:expr) => {{
            let c = clients.clone();
            let result = answered(phase, || {
                let mut c = c.clone();
                let request = c.req(&c.admin, $make);
                async move { c.tickets.$call(request).await.map(drop) }
            })
            .await;
            if let Err(status) = result {
                let ticket = clients.ticket(phase, &id).await;
                assert!(
                    $done(&ticket),
                    "{} refused ({status:?}) yet not done: {ticket:?}",
                    stringify!($call)
                );
            }
        }};
    }
    change!(
        pb::AssignTicketRequest {
            ticket_id: id.clone(),
            agent_id: AGENT.into(),
            expected_version: 0,
        },
        assign_ticket,
        |t: &pb::Ticket| t.assignee == AGENT
    );
    let c = clients.clone();
    answered(phase, || {
        let mut c = c.clone();
        let request = c.req(
            &c.agent,
            pb::SendMessageRequest {
                ticket_id: id.clone(),
                client_message_id: format!("m-{key}"),
                body: format!("hello {key}"),
                ..Default::default()
            },
        );
        async move { c.rooms.send_message(request).await }
    })
    .await
    .expect("message");
    change!(
        pb::HoldTicketRequest {
            ticket_id: id.clone(),
            reason: "waiting for the warehouse".into(),
            expected_version: 0,
        },
        hold_ticket,
        |t: &pb::Ticket| t.status != pb::TicketStatus::Assigned as i32
    );
    change!(
        pb::CloseTicketRequest {
            ticket_id: id.clone(),
            ..Default::default()
        },
        close_ticket,
        |t: &pb::Ticket| t.status == pb::TicketStatus::Closed as i32
    );
    id
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// A ticket in TIMER_QUEUE, created (idempotently) while the server may be killed: its id and
/// creation time (Unix seconds).
async fn timer_ticket(clients: &Clients, phase: &mut Phase, n: usize) -> (String, f64) {
    let ticket = answered(phase, || {
        let mut this = clients.clone();
        let request = this.req(
            &this.admin,
            pb::CreateTicketRequest {
                request_id: format!("timer-{n}"),
                queue: TIMER_QUEUE.into(),
                channel: "email".into(),
                customer: Some(pb::Customer {
                    id: format!("timer-customer-{n}"),
                    ..Default::default()
                }),
                subject: "timers across kills".into(),
                ..Default::default()
            },
        );
        async move { this.tickets.create_ticket(request).await }
    })
    .await
    .expect("timer ticket")
    .into_inner()
    .ticket
    .expect("ticket");
    let created = ticket.created_at.expect("created_at");
    (
        ticket.id,
        created.seconds as f64 + f64::from(created.nanos) / 1e9,
    )
}

/// A ticket's event log (the server is up).
async fn events(clients: &Clients, id: &str) -> Vec<pb::TicketEvent> {
    let mut this = clients.clone();
    let request = this.req(
        &this.admin,
        pb::ListTicketEventsRequest {
            ticket_id: id.to_string(),
            page_size: 100,
            page_token: String::new(),
        },
    );
    this.tickets
        .list_ticket_events(request)
        .await
        .expect("events")
        .into_inner()
        .events
}

/// The SLA events of a ticket: (type, target) of each warning and breach.
async fn sla_events(clients: &Clients, id: &str) -> Vec<(i32, String)> {
    let events = events(clients, id).await;
    let target = |event: &pb::TicketEvent| {
        let payload = event.payload.as_ref().expect("payload");
        match payload.fields.get("target").and_then(|v| v.kind.clone()) {
            Some(prost_types::value::Kind::StringValue(target)) => target,
            other => panic!("{id}: no target in {other:?}"),
        }
    };
    events
        .iter()
        .filter(|e| {
            e.r#type == pb::TicketEventType::SlaBreachWarning as i32
                || e.r#type == pb::TicketEventType::SlaBreached as i32
        })
        .map(|e| (e.r#type, target(e)))
        .collect()
}

async fn integrity_ok(database_url: &str) {
    use sqlx::Connection;
    if !database_url.starts_with("sqlite") {
        return;
    }
    let mut conn = sqlx::SqliteConnection::connect(database_url)
        .await
        .expect("open");
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check");
    assert_eq!(result, "ok");
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_exactly_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(common::PostgresDatabase::create().await),
    };
    let database_url = match &database {
        Some(database) => database.url.clone(),
        None => format!("sqlite://{}", dir.path().join("crash.db").display()),
    };
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        socket.local_addr().expect("addr").port()
    };
    let mut process = Process {
        port,
        database_url: database_url.clone(),
        child: None,
    };
    process.start().await;
    let auth = casework::transport::auth::Authenticator::hs256(SECRET.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let token = |sub: &str, role| format!("bearer {}", auth.mint(sub, role, now, 3600).expect("mint"));
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect_lazy();
    let clients = Clients {
        tickets: TicketServiceClient::new(channel.clone()),
        rooms: ConversationServiceClient::new(channel),
        admin: token("admin@example.com", casework::domain::Role::Admin),
        agent: token(AGENT, casework::domain::Role::Agent),
    };

    // Warn 1 s before; first reply due after 2 s, resolution after 3 s.
    let policy = clients.req(
        &clients.admin,
        pb::UpsertSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                queue: TIMER_QUEUE.into(),
                first_reply_seconds: 2,
                resolution_seconds: 3,
                warn_before_seconds: 1,
                ..Default::default()
            }),
        },
    );
    let reports = Channel::from_shared(format!("http://127.0.0.1:{port}")).expect("url");
    ReportServiceClient::new(reports.connect_lazy())
        .upsert_sla_policy(policy)
        .await
        .expect("policy");

    let (phase_tx, phase) = watch::channel((0u64, 0u64));
    let (acks_tx, mut acks) = watch::channel(0usize);
    let acks_tx = Arc::new(acks_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (mut clients, mut phase, stop, acks) =
            (clients.clone(), phase.clone(), stop.clone(), acks_tx.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let id = one_ticket(&mut clients, &mut phase, worker, done.len()).await;
                done.push(id);
                acks.send_modify(|n| *n += 1);
            }
            done
        }));
    }

    let rounds = rounds();
    let mut timed = Vec::new();
    // When the server was down: (killed, serving again), Unix seconds.
    let mut down: Vec<(f64, f64)> = Vec::new();
    let mut main_phase = phase.clone();
    for round in 0..rounds {
        // A ticket whose SLA warnings and breaches fall due across the next kills.
        timed.push(timer_ticket(&clients, &mut main_phase, round).await);
        // Kill after a random number of finished tickets: mid-write, as it falls.
        let target = *acks.borrow() + rand::rng().random_range(1..=6);
        acks.wait_for(|n| *n >= target).await.expect("acks");
        phase_tx.send_modify(|(kills, _)| *kills += 1);
        let killed = unix_now();
        process.kill().await;
        integrity_ok(&database_url).await;
        process.start().await;
        down.push((killed, unix_now()));
        phase_tx.send_modify(|(_, starts)| *starts += 1);
    }
    stop.store(true, Ordering::Relaxed);
    let mut tickets = Vec::new();
    for worker in workers {
        tickets.extend(worker.await.expect("worker"));
    }

    // Every ticket once (the retried creates made no second one), each closed with one
    // event per change and its version equal to its event count, one message each.
    let mut clients = clients;
    let mut phase = phase;
    let total: i64 = {
        let request = clients.req(
            &clients.admin,
            pb::ListTicketsRequest {
                page_size: 1,
                include_total_size: true,
                ..Default::default()
            },
        );
        let listed = clients.tickets.list_tickets(request).await.expect("list").into_inner();
        listed.total_size
    };
    assert_eq!(
        total as usize,
        tickets.len() + timed.len(),
        "no ticket lost or made twice"
    );
    for id in &tickets {
        let ticket = clients.ticket(&mut phase, id).await;
        assert_eq!(ticket.status, pb::TicketStatus::Closed as i32, "{ticket:?}");
        let events = events(&clients, id).await;
        let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=ticket.version).collect::<Vec<_>>(), "{id}");
        for kind in [
            pb::TicketEventType::Created,
            pb::TicketEventType::Assigned,
            pb::TicketEventType::Closed,
        ] {
            let count = events.iter().filter(|e| e.r#type == kind as i32).count();
            assert_eq!(count, 1, "{id}: {kind:?} {count} times");
        }
        let request = clients.req(
            &clients.admin,
            pb::ListMessagesRequest {
                room_id: ticket.metadata.as_ref().expect("metadata").room_id.clone(),
                page_size: 100,
                ..Default::default()
            },
        );
        let messages = clients
            .rooms
            .list_messages(request)
            .await
            .expect("messages")
            .into_inner()
            .messages;
        let ours = messages
            .iter()
            .filter(|m| m.client_message_id.starts_with("m-crash-"))
            .count();
        assert_eq!(ours, 1, "{id}: one message despite retries");
    }
    // Every warning and breach of the timer tickets fires, each exactly once (the sweeper of
    // the last start catches up on whatever fell due while the server was down).
    // Each breach exactly once; each warning at most once (a warning the server was down for
    // until its breach was due too is skipped: it would come after the breach).
    let check = |id: &str, fired: &[(i32, String)]| -> bool {
        let count = |kind: pb::TicketEventType, target: &str| {
            fired.iter().filter(|(k, t)| *k == kind as i32 && t == target).count()
        };
        for target in ["FIRST_REPLY", "RESOLUTION"] {
            let warnings = count(pb::TicketEventType::SlaBreachWarning, target);
            assert!(warnings <= 1, "{id}: {target} warned {warnings} times: {fired:?}");
            let breaches = count(pb::TicketEventType::SlaBreached, target);
            assert!(breaches <= 1, "{id}: {target} breached {breaches} times: {fired:?}");
            if breaches == 0 {
                return false;
            }
        }
        true
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Some of them fell due while the server was down (warnings 1 and 2 s, breaches 2 and 3 s
    // after creation), so the restarted sweeper had to catch up.
    let due_while_down = timed
        .iter()
        .flat_map(|(_, created)| [1.0, 2.0, 3.0].map(|after| created + after))
        .filter(|due| down.iter().any(|(from, to)| from <= due && due < to))
        .count();
    assert!(due_while_down > 0, "no timer fell due while the server was down: {down:?}");
    let mut warnings = 0;
    for (id, _) in &timed {
        loop {
            let fired = sla_events(&clients, id).await;
            if check(id, &fired) {
                warnings += fired.len() - 2;
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id}: only {fired:?} fired");
            // The server's own clock runs these timers: look again shortly.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // Nothing fired twice while the others were awaited.
    for (id, _) in &timed {
        let fired = sla_events(&clients, id).await;
        assert!(check(id, &fired) && fired.len() - 2 <= 2, "{id}: {fired:?}");
    }
    assert!(warnings > 0, "warnings fired too");
    process.kill().await;
    integrity_ok(&database_url).await;
    assert!(tickets.len() >= rounds, "the load ran: {} tickets", tickets.len());
    let retried = RETRIED.load(Ordering::Relaxed);
    assert!(retried > 0, "the kills hit calls in flight");
    eprintln!(
        "{backend:?}: {rounds} kills, {} tickets, {retried} calls retried, {} timer tickets, \
         {due_while_down} timers due while down, {warnings} warnings",
        tickets.len(),
        timed.len()
    );
}
}
