//! Several casework processes on one PostgreSQL database, and the faults they must survive
//! (issue 8): each test runs the real binary (`casework serve`) as child processes over a fresh
//! database of its own — a live stream on one replica of writes made through another, routing
//! under concurrency across replicas, chat timers that fire once with two sweepers, a replica
//! killed with SIGKILL under load, and database connections terminated under load.
//! PostgreSQL only: skipped loudly without a server (a failure under CI), like the other
//! PostgreSQL cases. A PostgreSQL restart is not done here, since other tests share the
//! server: `.ci/pg-restart-check.sh` does that one.
mod common;

use casework::domain::{Agent, AgentRole, Role};
use casework::pb;
use casework::pb::agent_service_client::AgentServiceClient;
use casework::pb::conversation_service_client::ConversationServiceClient;
use casework::pb::ticket_service_client::TicketServiceClient;
use casework::transport::auth::Authenticator;
use common::*;
use pb::TicketEventType as E;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// How long a replica may take to report its address and then answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The client-side bound of any one call: a call that has not answered by then hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The error lines of a replica's log.
fn errors(log: &Mutex<Vec<String>>) -> String {
    let lines = log.lock().expect("log");
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    errors
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `casework serve` child process on a test database; SIGKILLed when dropped.
struct Replica {
    name: &'static str,
    addr: SocketAddr,
    child: tokio::process::Child,
    /// Its log (JSON lines from stderr), for diagnostics.
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    /// Starts `casework serve` on `database_url` with the tests' JWT secret, a port of its own
    /// choosing (read back from its "casework listening" log line, so there is no race for
    /// the port) and `flags`; returns once `/readyz` answers 200.
    async fn start(name: &'static str, database_url: &str, flags: &[&str]) -> Replica {
        let secret = std::str::from_utf8(SECRET).expect("the test secret is text");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_casework"));
        // Flags win over variables, but a stray CASEWORK_DEMO or the like would still leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CASEWORK_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .args([
                "--jwt-secret",
                secret,
                "--log-format",
                "json",
                "--log",
                "info",
            ])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn casework serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let lines_log = log.clone();
        tokio::spawn(async move {
            let mut addr_tx = Some(addr_tx);
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = listening_addr(&line)
                    && let Some(tx) = addr_tx.take()
                {
                    let _ = tx.send(addr);
                }
                lines_log.lock().expect("log").push(line);
            }
        });
        let addr = match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => addr,
            outcome => panic!(
                "replica {name} did not report its address ({outcome:?}); its log:\n{}",
                tail(&log, 40)
            ),
        };
        let replica = Replica {
            name,
            addr,
            child,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if replica.ready().await {
                return replica;
            }
            assert!(
                Instant::now() < deadline,
                "replica {name} at {addr} not ready within {START_TIMEOUT:?}; its log:\n{}",
                replica.log_tail(40)
            );
        }
    }

    /// Whether `/readyz` answers 200 (the store answers a round trip).
    async fn ready(&self) -> bool {
        let url = format!("http://{}/readyz", self.addr);
        reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    }

    /// SIGKILL: no graceful shutdown, no chance to finish anything. Returns once it is gone.
    async fn kill(&mut self) -> std::process::ExitStatus {
        self.child.start_kill().expect("SIGKILL");
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the killed replica exits")
            .expect("exit status")
    }

    fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// The ERROR lines of its log (an INTERNAL is logged with its cause), as "method: error",
    /// each with how often it came.
    fn errors(&self) -> Vec<String> {
        let mut counted: BTreeMap<String, usize> = BTreeMap::new();
        for line in self.log.lock().expect("log").iter() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if entry["level"] != "ERROR" {
                continue;
            }
            let fields = &entry["fields"];
            let error = fields["error"].as_str().or(fields["message"].as_str());
            let method = entry["span"]["method"].as_str().unwrap_or("-");
            *counted
                .entry(format!("{method}: {}", error.unwrap_or_default()))
                .or_default() += 1;
        }
        counted
            .into_iter()
            .map(|(error, n)| format!("{n} × {error}"))
            .collect()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last log lines of replica {} ({}) ---\n{}",
                self.name,
                self.addr,
                self.log_tail(30)
            );
        }
    }
}

fn tail(log: &Mutex<Vec<String>>, lines: usize) -> String {
    let log = log.lock().expect("log");
    log[log.len().saturating_sub(lines)..].join("\n")
}

/// A fresh database with the harness's reference data (queues, a department, its agents, all
/// offline) and `agents`, written before any replica starts.
async fn seeded_database(agents: &[Agent]) -> PostgresDatabase {
    let database = PostgresDatabase::create().await;
    let store = casework::store::connect(&database.url)
        .await
        .expect("store");
    seed(store.as_ref()).await;
    for agent in agents {
        store.upsert_agent(agent).await.expect("agent");
    }
    store.close().await;
    database
}

/// Awaits a call, bounded: one that has not answered within [`CALL_TIMEOUT`] hung, and is
/// reported as DEADLINE_EXCEEDED (which no test accepts).
async fn bounded<T>(
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "the call hung: no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

/// Clients of one replica's services whose calls carry one principal's token.
#[derive(Clone)]
struct Api {
    tickets: Tickets,
    agents: AgentServiceClient<Channel>,
    conversations: ConversationServiceClient<Channel>,
}

impl Api {
    async fn connect(replica: &Replica, sub: &str, role: Role) -> Api {
        let channel = Channel::from_shared(format!("http://{}", replica.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let token = Authenticator::hs256(SECRET)
            .mint(sub, role, chrono::Utc::now().timestamp(), 3600)
            .expect("token");
        Api {
            tickets: Tickets {
                client: TicketServiceClient::new(channel.clone()),
                headers: vec![("authorization", format!("bearer {token}"))],
            },
            agents: AgentServiceClient::new(channel.clone()),
            conversations: ConversationServiceClient::new(channel),
        }
    }

    fn req<T>(&self, body: T) -> tonic::Request<T> {
        self.tickets.req(body)
    }

    async fn create(&self, request: pb::CreateTicketRequest) -> Result<pb::Ticket, Status> {
        let mut client = self.tickets.client.clone();
        let reply = bounded(client.create_ticket(self.req(request))).await?;
        Ok(reply.ticket.expect("ticket"))
    }

    async fn get(&self, ticket_id: &str) -> Result<pb::Ticket, Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Id(ticket_id.into())),
        });
        Ok(bounded(client.get_ticket(request))
            .await?
            .ticket
            .expect("ticket"))
    }

    async fn assign(&self, ticket_id: &str, agent: &str) -> Result<(), Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::AssignTicketRequest {
            ticket_id: ticket_id.into(),
            agent_id: agent.into(),
            expected_version: 0,
        });
        bounded(client.assign_ticket(request)).await.map(drop)
    }

    async fn reassign(&self, ticket_id: &str, agent: &str) -> Result<(), Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::ReassignTicketRequest {
            ticket_id: ticket_id.into(),
            agent_id: agent.into(),
            reason: "colleague knows the order".into(),
            expected_version: 0,
        });
        bounded(client.reassign_ticket(request)).await.map(drop)
    }

    async fn hold(&self, ticket_id: &str) -> Result<(), Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::HoldTicketRequest {
            ticket_id: ticket_id.into(),
            reason: "waiting for the restaurant".into(),
            expected_version: 0,
        });
        bounded(client.hold_ticket(request)).await.map(drop)
    }

    async fn resume(&self, ticket_id: &str) -> Result<(), Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::ResumeTicketRequest {
            ticket_id: ticket_id.into(),
            expected_version: 0,
        });
        bounded(client.resume_ticket(request)).await.map(drop)
    }

    async fn close(&self, ticket_id: &str) -> Result<(), Status> {
        let mut client = self.tickets.client.clone();
        let request = self.req(pb::CloseTicketRequest {
            ticket_id: ticket_id.into(),
            ..Default::default()
        });
        bounded(client.close_ticket(request)).await.map(drop)
    }

    /// A ticket's whole audit trail, oldest first.
    async fn events(&self, ticket_id: &str) -> Result<Vec<pb::TicketEvent>, Status> {
        let mut client = self.tickets.client.clone();
        let (mut events, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = self.req(pb::ListTicketEventsRequest {
                ticket_id: ticket_id.into(),
                page_size: 500,
                page_token: page_token.clone(),
            });
            let page = bounded(client.list_ticket_events(request)).await?;
            events.extend(page.events);
            if page.next_page_token.is_empty() {
                return Ok(events);
            }
            page_token = page.next_page_token;
        }
    }

    /// Every ticket matching `filter`.
    async fn tickets(&self, filter: pb::TicketFilter) -> Result<Vec<pb::Ticket>, Status> {
        let mut client = self.tickets.client.clone();
        let (mut tickets, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = self.req(pb::ListTicketsRequest {
                filter: Some(filter.clone()),
                order_by: pb::TicketOrder::CreatedAsc as i32,
                page_size: 500,
                page_token: page_token.clone(),
                include_total_size: false,
            });
            let page = bounded(client.list_tickets(request)).await?;
            tickets.extend(page.tickets);
            if page.next_page_token.is_empty() {
                return Ok(tickets);
            }
            page_token = page.next_page_token;
        }
    }

    async fn send(
        &self,
        room_id: &str,
        body: &str,
        client_message_id: &str,
    ) -> Result<pb::Message, Status> {
        let mut client = self.conversations.clone();
        let request = self.req(pb::SendMessageRequest {
            room_id: room_id.into(),
            body: body.into(),
            client_message_id: client_message_id.into(),
            ..Default::default()
        });
        Ok(bounded(client.send_message(request))
            .await?
            .message
            .expect("message"))
    }

    /// A room's messages, oldest first.
    async fn messages(&self, room_id: &str) -> Result<Vec<pb::Message>, Status> {
        let mut client = self.conversations.clone();
        let (mut messages, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = self.req(pb::ListMessagesRequest {
                room_id: room_id.into(),
                page_size: 100,
                page_token: page_token.clone(),
                newest_first: false,
            });
            let page = bounded(client.list_messages(request)).await?;
            messages.extend(page.messages);
            if page.next_page_token.is_empty() {
                return Ok(messages);
            }
            page_token = page.next_page_token;
        }
    }

    async fn set_status(&self, agent_id: &str, status: &str) -> Result<(), Status> {
        let mut client = self.agents.clone();
        let request = self.req(pb::SetStatusRequest {
            agent_id: agent_id.into(),
            status: status.into(),
        });
        bounded(client.set_status(request)).await.map(drop)
    }

    async fn agents_of(&self, queue: &str) -> Result<Vec<pb::Agent>, Status> {
        let mut client = self.agents.clone();
        let (mut agents, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = self.req(pb::ListAgentsRequest {
                queue: queue.into(),
                status: String::new(),
                page_size: 100,
                page_token: page_token.clone(),
            });
            let page = bounded(client.list_agents(request)).await?;
            agents.extend(page.agents);
            if page.next_page_token.is_empty() {
                return Ok(agents);
            }
            page_token = page.next_page_token;
        }
    }

    async fn watch_mine(&self) -> tonic::Streaming<pb::WatchMyTicketsResponse> {
        let mut client = self.agents.clone();
        bounded(async move {
            client
                .watch_my_tickets(self.req(pb::WatchMyTicketsRequest::default()))
                .await
        })
        .await
        .expect("watch mine")
    }

    async fn watch(
        &self,
        request: pb::WatchTicketsRequest,
    ) -> tonic::Streaming<pb::WatchTicketsResponse> {
        let mut client = self.tickets.client.clone();
        bounded(async move { client.watch_tickets(self.req(request)).await })
            .await
            .expect("watch")
    }
}

fn room_of(ticket: &pb::Ticket) -> String {
    ticket
        .metadata
        .as_ref()
        .map(|m| m.room_id.clone())
        .expect("a ticket has a room")
}

/// A text member of an event's payload.
fn payload_text(event: &pb::TicketEvent, key: &str) -> String {
    use prost_types::value::Kind;
    match event
        .payload
        .as_ref()
        .and_then(|payload| payload.fields.get(key))
        .and_then(|value| value.kind.as_ref())
    {
        Some(Kind::StringValue(text)) => text.clone(),
        other => panic!(
            "event {} has no text {key} ({other:?}): {event:?}",
            event.id
        ),
    }
}

fn kind(event: &pb::TicketEvent) -> E {
    E::try_from(event.r#type).unwrap_or(E::Unspecified)
}

/// The next event of a stream, or `None` once `deadline` passes. A stream error or end fails.
async fn next_event<S>(stream: &mut S, deadline: Instant) -> Option<pb::TicketEvent>
where
    S: tokio_stream::Stream<Item = Result<pb::WatchTicketsResponse, Status>> + Unpin,
{
    use tokio_stream::StreamExt;
    match tokio::time::timeout_at(deadline, stream.next()).await {
        Err(_) => None,
        Ok(None) => panic!("the stream ended"),
        Ok(Some(Err(status))) => panic!("the stream failed: {status:?}"),
        Ok(Some(Ok(item))) => Some(item.event.expect("event")),
    }
}

/// `next_event` for WatchMyTickets.
async fn next_mine<S>(stream: &mut S, deadline: Instant) -> Option<pb::TicketEvent>
where
    S: tokio_stream::Stream<Item = Result<pb::WatchMyTicketsResponse, Status>> + Unpin,
{
    use tokio_stream::StreamExt;
    match tokio::time::timeout_at(deadline, stream.next()).await {
        Err(_) => None,
        Ok(None) => panic!("the stream ended"),
        Ok(Some(Err(status))) => panic!("the stream failed: {status:?}"),
        Ok(Some(Ok(item))) => Some(item.event.expect("event")),
    }
}

/// Everything that can be said about a ticket's life through its audit trail: created, a
/// customer message, assigned, answered, held, resumed, reassigned, closed.
async fn full_life(api: &Api, label: &str) -> Result<String, Status> {
    let mut request = new_ticket(&format!("cust-{label}"));
    request.request_id = label.into();
    request.initial_message = "Where is my order?".into();
    let ticket = api.create(request).await?;
    api.assign(&ticket.id, AGENT).await?;
    api.send(
        &room_of(&ticket),
        "Let me check.",
        &format!("{label}-answer"),
    )
    .await?;
    api.hold(&ticket.id).await?;
    api.resume(&ticket.id).await?;
    api.reassign(&ticket.id, OTHER_AGENT).await?;
    api.close(&ticket.id).await?;
    Ok(ticket.id)
}

/// How long the watcher on one replica may take to hear of what was committed on another.
const CROSS_REPLICA_DEADLINE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stream_across_replicas() {
    if !postgres_ready().await {
        return;
    }
    let database = seeded_database(&[]).await;
    let a = Replica::start("A", &database.url, &[]).await;
    let b = Replica::start("B", &database.url, &[]).await;
    // The watcher is on A; nothing is ever written through A, so only B's commits can wake it.
    let watcher = Api::connect(&a, ADMIN, Role::Admin).await;
    let mut stream = watcher.watch(pb::WatchTicketsRequest::default()).await;
    // And the agent every ticket passes through, on its own stream on A.
    let agent = Api::connect(&a, AGENT, Role::Agent).await;
    let mut mine = agent.watch_mine().await;

    // Four writers on B, five tickets each, concurrently: commits interleave, and event ids
    // need not commit in id order.
    let writer = Api::connect(&b, ADMIN, Role::Admin).await;
    let mut lives = tokio::task::JoinSet::new();
    for w in 0..4 {
        let writer = writer.clone();
        lives.spawn(async move {
            let mut ids = Vec::new();
            for t in 0..5 {
                ids.push(full_life(&writer, &format!("stream-{w}-{t}")).await?);
            }
            Ok::<_, Status>(ids)
        });
    }
    let mut ticket_ids = Vec::new();
    while let Some(written) = lives.join_next().await {
        ticket_ids.extend(written.expect("writer").expect("writes through B"));
    }
    let written_at = Instant::now();

    // What was written, read back afterwards through B, in event id order.
    let mut expected = Vec::new();
    for id in &ticket_ids {
        expected.extend(writer.events(id).await.expect("events"));
    }
    expected.sort_by_key(|event| event.id);
    assert_eq!(expected.len(), 20 * 8, "eight events per ticket's life");

    let deadline = written_at + CROSS_REPLICA_DEADLINE;
    let mut received = Vec::new();
    while received.len() < expected.len() {
        match next_event(&mut stream, deadline).await {
            Some(event) => received.push(event),
            None => {
                let got: HashSet<i64> = received.iter().map(|event| event.id).collect();
                let missing: Vec<i64> = expected
                    .iter()
                    .map(|event| event.id)
                    .filter(|id| !got.contains(id))
                    .collect();
                panic!(
                    "the watcher on replica A got {} of the {} events committed through replica \
                     B within {CROSS_REPLICA_DEADLINE:?} of the last write; missing event ids \
                     {missing:?}: {}",
                    received.len(),
                    expected.len(),
                    if received.is_empty() {
                        "A's stream is not woken by B's commits"
                    } else {
                        "events skipped (committed out of id order?) or not woken for"
                    }
                )
            }
        }
    }
    eprintln!(
        "stream_across_replicas: all {} events on A {:?} after the last write on B",
        expected.len(),
        written_at.elapsed()
    );
    let ids: Vec<i64> = received.iter().map(|event| event.id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "event ids increase, never repeat: {ids:?}"
    );
    let mut versions: HashMap<&str, Vec<i64>> = HashMap::new();
    for event in &received {
        versions
            .entry(event.ticket_id.as_str())
            .or_default()
            .push(event.version);
    }
    // Every event of a life changes its ticket (the customer's first message starts a wait
    // for an answer), so versions go up by one each.
    for (ticket, versions) in &versions {
        assert_eq!(
            versions,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            "ticket {ticket}: its versions in order"
        );
    }
    assert_eq!(
        received, expected,
        "A streamed exactly the events the store holds, in order"
    );

    // WatchMyTickets of the agent on A: from its assignment to its reassignment (ASSIGNED,
    // its answer, HELD, RESUMED, REASSIGNED) of every ticket, in order, once each.
    let mut expected_mine: Vec<pb::TicketEvent> = Vec::new();
    for id in &ticket_ids {
        let life: Vec<&pb::TicketEvent> = expected
            .iter()
            .filter(|event| &event.ticket_id == id)
            .collect();
        expected_mine.extend(life[2..7].iter().map(|event| (*event).clone()));
    }
    expected_mine.sort_by_key(|event| event.id);
    let deadline = Instant::now() + CROSS_REPLICA_DEADLINE;
    let mut received_mine = Vec::new();
    while received_mine.len() < expected_mine.len() {
        match next_mine(&mut mine, deadline).await {
            Some(event) => received_mine.push(event),
            None => panic!(
                "WatchMyTickets on A got {} of {} events",
                received_mine.len(),
                expected_mine.len()
            ),
        }
    }
    for id in &ticket_ids {
        let kinds: Vec<E> = received_mine
            .iter()
            .filter(|event| &event.ticket_id == id)
            .map(kind)
            .collect();
        assert_eq!(
            kinds,
            [
                E::Assigned,
                E::MessageAdded,
                E::Held,
                E::Resumed,
                E::Reassigned
            ],
            "ticket {id}: its turn with the agent"
        );
    }
    assert_eq!(
        received_mine, expected_mine,
        "WatchMyTickets on A: the agent's events written through B, in order, once each"
    );

    // Nothing more comes before the next write: no event is sent twice.
    let marker = writer
        .create(new_ticket("cust-marker"))
        .await
        .expect("marker");
    let deadline = Instant::now() + CROSS_REPLICA_DEADLINE;
    let next = next_event(&mut stream, deadline)
        .await
        .expect("the marker's CREATED reaches A");
    assert_eq!(
        (next.ticket_id.as_str(), kind(&next)),
        (marker.id.as_str(), E::Created),
        "the next event after the last expected one is the marker's: nothing repeated"
    );
}

/// Agents of the routing test: ten, capacity three each, serving the harness's queue.
const ROUTING_AGENTS: usize = 10;
const CAPACITY: i32 = 3;
const CREATES: usize = 200;
const STATUSES: [&str; 4] = ["online", "offline", "break", "busy"];

fn routing_agent(i: usize) -> String {
    format!("router-{i:02}@example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_across_replicas() {
    use rand::{Rng, SeedableRng};
    if !postgres_ready().await {
        return;
    }
    let agents: Vec<Agent> = (0..ROUTING_AGENTS)
        .map(|i| Agent {
            id: routing_agent(i),
            name: format!("Router {i}"),
            role: AgentRole::Agent,
            status: "offline".into(),
            status_alias: "Offline".into(),
            last_login_at: None,
            status_updated_at: None,
            queues: vec![QUEUE.into()],
            languages: vec!["en".into()],
            max_concurrent: CAPACITY,
        })
        .collect();
    let database = seeded_database(&agents).await;
    let a = Replica::start("A", &database.url, &[]).await;
    let b = Replica::start("B", &database.url, &[]).await;
    let apis = [
        Api::connect(&a, ADMIN, Role::Admin).await,
        Api::connect(&b, ADMIN, Role::Admin).await,
    ];
    for i in 0..ROUTING_AGENTS {
        apis[i % 2]
            .set_status(&routing_agent(i), "online")
            .await
            .expect("online");
    }

    // Agents change status at random through both replicas (four changers each) while the
    // creates run, and on until there were at least 100 changes: going online fills an agent,
    // going offline requeues its chats, which routing gives to others.
    let creating = Arc::new(AtomicBool::new(true));
    let changed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut churn = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (api, creating, changed) = (apis[n % 2].clone(), creating.clone(), changed.clone());
        churn.spawn(async move {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(8 + n as u64);
            let (mut changes, mut failures) = (0, Vec::new());
            while (creating.load(Ordering::SeqCst) || changed.load(Ordering::SeqCst) < 100)
                && changes < 200
            {
                changed.fetch_add(1, Ordering::SeqCst);
                let agent = routing_agent(rng.random_range(0..ROUTING_AGENTS));
                let status = STATUSES[rng.random_range(0..STATUSES.len())];
                if let Err(status) = api.set_status(&agent, status).await {
                    failures.push(status);
                }
                changes += 1;
            }
            (changes, failures)
        });
    }
    let started = Instant::now();
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..CREATES {
        let api = apis[i % 2].clone();
        creates.spawn(async move {
            let mut request = new_ticket(&format!("route-cust-{i}"));
            request.request_id = format!("route-{i}");
            (i, api.create(request).await)
        });
    }
    let (mut acknowledged, mut refused) = (BTreeMap::new(), Vec::new());
    while let Some(done) = creates.join_next().await {
        match done.expect("create task") {
            (i, Ok(ticket)) => {
                acknowledged.insert(i, ticket.id);
            }
            (i, Err(status)) => refused.push((i, status)),
        }
    }
    let creates_took = started.elapsed();
    creating.store(false, Ordering::SeqCst);
    let changes_during_creates = changed.load(Ordering::SeqCst);
    let mut status_changes = 0;
    while let Some(done) = churn.join_next().await {
        let (changes, failures) = done.expect("churn task");
        assert!(
            failures.is_empty(),
            "status changes failed: {failures:?}; errors logged:\n{}\n{}",
            errors(&a.log),
            errors(&b.log)
        );
        status_changes += changes;
    }
    assert!(
        refused.is_empty(),
        "{} of {CREATES} creates failed: {refused:?}; errors logged:\n{}\n{}",
        refused.len(),
        errors(&a.log),
        errors(&b.log)
    );

    // Every acknowledged create exists, exactly once.
    let tickets = apis[0]
        .tickets(pb::TicketFilter {
            queues: vec![QUEUE.into()],
            ..Default::default()
        })
        .await
        .expect("list");
    let mut by_customer: HashMap<String, Vec<&pb::Ticket>> = HashMap::new();
    for ticket in &tickets {
        let customer = ticket.customer.as_ref().expect("customer").id.clone();
        by_customer.entry(customer).or_default().push(ticket);
    }
    assert_eq!(tickets.len(), acknowledged.len(), "one ticket per create");
    for (i, id) in &acknowledged {
        let found = by_customer
            .get(&format!("route-cust-{i}"))
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(found.len(), 1, "create {i}: {} tickets", found.len());
        assert_eq!(&found[0].id, id, "create {i}: the acknowledged ticket");
    }

    // The audit trail, replayed in event id order: a ticket is assigned only while nobody
    // holds it, requeued only from its holder, and no agent ever holds more than its capacity.
    // (Replaying by id is conservative: a change that freed capacity before a routing
    // decision read it was committed, so it got its id before that decision's event.)
    let mut all = Vec::new();
    let mut versions_ok = true;
    for (n, ticket) in tickets.iter().enumerate() {
        let events = apis[n % 2].events(&ticket.id).await.expect("events");
        let versions: Vec<i64> = events.iter().map(|event| event.version).collect();
        versions_ok &= versions == (1..=ticket.version).collect::<Vec<i64>>();
        all.extend(events);
    }
    assert!(versions_ok, "every ticket's versions are 1..=version");
    all.sort_by_key(|event| event.id);
    assert!(
        all.windows(2).all(|pair| pair[0].id < pair[1].id),
        "event ids are unique"
    );
    let mut holder: HashMap<&str, String> = HashMap::new();
    let mut holdings: HashMap<String, i32> = HashMap::new();
    let (mut assigned, mut requeued) = (0, 0);
    for event in &all {
        let ticket = event.ticket_id.as_str();
        match kind(event) {
            E::Created => assert!(!holder.contains_key(ticket)),
            E::Assigned => {
                let agent = payload_text(event, "assignee");
                if let Some(previous) = holder.get(ticket) {
                    panic!(
                        "ticket {ticket} assigned to {agent} while {previous} holds it: {event:?}"
                    );
                }
                let held = holdings.entry(agent.clone()).or_default();
                *held += 1;
                assert!(
                    *held <= CAPACITY,
                    "{agent} holds {held} tickets (capacity {CAPACITY}) after event {}",
                    event.id
                );
                holder.insert(ticket, agent);
                assigned += 1;
            }
            E::Requeued => {
                let from = payload_text(event, "from");
                let previous = holder.remove(ticket);
                assert_eq!(
                    previous.as_deref(),
                    Some(from.as_str()),
                    "ticket {ticket} requeued from its holder: {event:?}"
                );
                *holdings.entry(from).or_default() -= 1;
                requeued += 1;
            }
            other => panic!("unexpected {other:?} event: {event:?}"),
        }
    }
    // The tickets and agents as they are now agree with the replay.
    for ticket in &tickets {
        let held_by = holder.get(ticket.id.as_str()).cloned().unwrap_or_default();
        assert_eq!(ticket.assignee, held_by, "ticket {}", ticket.id);
        let status = if held_by.is_empty() {
            pb::TicketStatus::Created
        } else {
            pb::TicketStatus::Assigned
        };
        assert_eq!(ticket.status, status as i32, "ticket {}", ticket.id);
    }
    let listed = apis[1].agents_of(QUEUE).await.expect("agents");
    for i in 0..ROUTING_AGENTS {
        let id = routing_agent(i);
        let agent = listed.iter().find(|a| a.id == id).expect("agent listed");
        assert!(agent.active_ticket_count <= CAPACITY, "{agent:?}");
        assert_eq!(
            agent.active_ticket_count,
            holdings.get(&id).copied().unwrap_or(0),
            "{id}: active count and replay agree"
        );
    }
    assert!(
        assigned >= CAPACITY as usize && requeued > 0,
        "the load exercised routing: {assigned} assignments, {requeued} requeues"
    );
    eprintln!(
        "concurrent_creates_across_replicas: {CREATES} creates in {creates_took:?}, \
         {status_changes} status changes ({changes_during_creates} begun while they ran), \
         {assigned} assignments, {requeued} requeues"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_timer_fires_once_across_replicas() {
    if !postgres_ready().await {
        return;
    }
    let database = seeded_database(&[]).await;
    // Two sweepers, one a second each. The window between warning and close is two seconds so
    // that a sweep always falls into it (a sweep that finds the close due skips the warning).
    let timers = [
        "--chat-warning-after-secs",
        "1",
        "--chat-close-after-secs",
        "3",
    ];
    let a = Replica::start("A", &database.url, &timers).await;
    let b = Replica::start("B", &database.url, &timers).await;
    let admins = [
        Api::connect(&a, ADMIN, Role::Admin).await,
        Api::connect(&b, ADMIN, Role::Admin).await,
    ];
    // Either sweeper may fire a timer, and a stream is sure to wake for its own replica's
    // commits: watch on both.
    let watch_a = admins[0].watch(pb::WatchTicketsRequest::default()).await;
    let watch_b = admins[1].watch(pb::WatchTicketsRequest::default()).await;
    let mut watched = tokio_stream::StreamExt::merge(watch_a, watch_b);

    let agents = [
        Api::connect(&a, AGENT, Role::Agent).await,
        Api::connect(&b, AGENT, Role::Agent).await,
    ];
    let mut chats = HashMap::new();
    for i in 0..4 {
        let mut request = new_ticket(&format!("cust-timer-{i}"));
        request.initial_message = "My food is cold.".into();
        let ticket = admins[i % 2].create(request).await.expect("create");
        admins[(i + 1) % 2]
            .assign(&ticket.id, AGENT)
            .await
            .expect("assign");
        // The agent answers; the customer stays silent.
        let answer = agents[i % 2]
            .send(&room_of(&ticket), "Sorry! Refund?", &format!("answer-{i}"))
            .await
            .expect("answer");
        chats.insert(ticket.id.clone(), (room_of(&ticket), answer));
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = HashMap::new();
    while closed.len() < chats.len() {
        let Some(event) = next_event(&mut watched, deadline).await else {
            panic!(
                "{} of {} chats auto-closed within 20 s",
                closed.len(),
                chats.len()
            );
        };
        if kind(&event) == E::AutoClosed {
            closed.insert(event.ticket_id.clone(), event);
        }
    }

    for (ticket_id, (room_id, answer)) in &chats {
        let events = admins[0].events(ticket_id).await.expect("events");
        let count = |wanted: E| events.iter().filter(|e| kind(e) == wanted).count();
        assert_eq!(count(E::SlaWarning), 1, "one warning: {events:?}");
        assert_eq!(count(E::AutoClosed), 1, "one auto-close: {events:?}");
        let closing = &closed[ticket_id];
        let (answered, fired) = (
            answer.created_at.expect("answer time"),
            closing.at.expect("close time"),
        );
        assert!(
            (fired.seconds, fired.nanos) >= (answered.seconds + 3, answered.nanos),
            "closed no earlier than three seconds after the answer: {answered:?} → {fired:?}"
        );
        let ticket = admins[1].get(ticket_id).await.expect("ticket");
        assert_eq!(ticket.status, pb::TicketStatus::Closed as i32);
        assert_eq!(
            ticket.resolution.expect("resolution").status,
            pb::ResolutionStatus::CustomerLeftChat as i32
        );
        let notices: Vec<String> = admins[1]
            .messages(room_id)
            .await
            .expect("messages")
            .into_iter()
            .filter(|m| m.sender_type == pb::SenderType::System as i32)
            .map(|m| m.body)
            .collect();
        let warnings = notices
            .iter()
            .filter(|body| body.contains("Are you still there?"))
            .count();
        let closings = notices
            .iter()
            .filter(|body| body.contains("This chat was closed"))
            .count();
        assert_eq!(
            (warnings, closings, notices.len()),
            (1, 1, 2),
            "one warning notice and one closing notice: {notices:?}"
        );
    }
}

/// A call a client made and the server acknowledged.
#[derive(Debug)]
enum Acked {
    Ticket(String),
    Message { room_id: String, message_id: String },
}

/// A call whose answer was an error: its outcome is unknown, so the client retries it.
#[derive(Debug, Clone)]
enum Unfinished {
    Create(Box<pb::CreateTicketRequest>),
    Send {
        room_id: String,
        client_message_id: String,
    },
}

#[derive(Debug, Default)]
struct WorkerOutcome {
    /// What was acknowledged, and whether after the kill.
    acked: Vec<(Acked, bool)>,
    /// The error that ended the worker, whether the kill had begun, and the call to retry.
    failed: Option<(Status, bool, Unfinished)>,
}

const LOAD_ROUNDS: usize = 25;

/// Creates a ticket and writes in its room, `LOAD_ROUNDS` times; stops at the first error.
async fn load_worker(
    api: Api,
    label: String,
    progress: Arc<tokio::sync::watch::Sender<usize>>,
    killing: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
) -> WorkerOutcome {
    let mut outcome = WorkerOutcome::default();
    for round in 0..LOAD_ROUNDS {
        let label = format!("{label}-{round}");
        let mut request = new_ticket(&format!("cust-{label}"));
        request.request_id = label.clone();
        let ticket = match api.create(request.clone()).await {
            Ok(ticket) => ticket,
            Err(status) => {
                let unfinished = Unfinished::Create(Box::new(request));
                outcome.failed = Some((status, killing.load(Ordering::SeqCst), unfinished));
                return outcome;
            }
        };
        outcome.acked.push((
            Acked::Ticket(ticket.id.clone()),
            killed.load(Ordering::SeqCst),
        ));
        progress.send_modify(|n| *n += 1);
        let (room_id, client_message_id) = (room_of(&ticket), format!("{label}-m"));
        match api.send(&room_id, "Any news?", &client_message_id).await {
            Ok(message) => {
                outcome.acked.push((
                    Acked::Message {
                        room_id,
                        message_id: message.id,
                    },
                    killed.load(Ordering::SeqCst),
                ));
                progress.send_modify(|n| *n += 1);
            }
            Err(status) => {
                let unfinished = Unfinished::Send {
                    room_id,
                    client_message_id,
                };
                outcome.failed = Some((status, killing.load(Ordering::SeqCst), unfinished));
                return outcome;
            }
        }
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_one_replica_mid_load() {
    use std::os::unix::process::ExitStatusExt;
    if !postgres_ready().await {
        return;
    }
    let database = seeded_database(&[]).await;
    let mut a = Replica::start("A", &database.url, &[]).await;
    let b = Replica::start("B", &database.url, &[]).await;
    let (api_a, api_b) = (
        Api::connect(&a, ADMIN, Role::Admin).await,
        Api::connect(&b, ADMIN, Role::Admin).await,
    );
    let progress = Arc::new(tokio::sync::watch::Sender::new(0usize));
    let (killing, killed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut workers = tokio::task::JoinSet::new();
    for (name, api) in [("A", &api_a), ("B", &api_b)] {
        for w in 0..4 {
            let work = load_worker(
                api.clone(),
                format!("kill-{name}{w}"),
                progress.clone(),
                killing.clone(),
                killed.clone(),
            );
            workers.spawn(async move { (name, work.await) });
        }
    }
    // Mid-way: once 40 of the 400 calls are acknowledged.
    let mut acks = progress.subscribe();
    tokio::time::timeout(Duration::from_secs(60), acks.wait_for(|n| *n >= 40))
        .await
        .expect("40 calls acknowledged within 60 s")
        .expect("progress");
    killing.store(true, Ordering::SeqCst);
    let exit = a.kill().await;
    killed.store(true, Ordering::SeqCst);
    assert_eq!(exit.signal(), Some(9), "A died of SIGKILL: {exit:?}");

    let mut outcomes: Vec<(&str, WorkerOutcome)> = Vec::new();
    while let Some(done) = workers.join_next().await {
        outcomes.push(done.expect("worker"));
    }
    let acked_by = |replica: &str| -> usize {
        outcomes
            .iter()
            .filter(|(name, _)| *name == replica)
            .map(|(_, outcome)| outcome.acked.len())
            .sum()
    };
    let b_after_kill: usize = outcomes
        .iter()
        .filter(|(name, _)| *name == "B")
        .flat_map(|(_, outcome)| &outcome.acked)
        .filter(|(_, after)| *after)
        .count();
    for (name, outcome) in &outcomes {
        if let Some((status, during_kill, _)) = &outcome.failed {
            assert!(
                *name == "A" && *during_kill,
                "replica {name} failed a call{}: {status:?}",
                if *during_kill {
                    " after A was killed"
                } else {
                    " before any kill"
                }
            );
        }
    }
    assert!(
        acked_by("A") > 0 && acked_by("A") < 4 * LOAD_ROUNDS * 2,
        "A was killed mid-load: {} of its calls acknowledged",
        acked_by("A")
    );
    assert_eq!(
        acked_by("B"),
        4 * LOAD_ROUNDS * 2,
        "B answered every call of its clients"
    );
    assert!(b_after_kill > 0, "B served calls after A died");

    // Everything either replica acknowledged is in the database, read through B.
    let mut rooms: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (_, outcome) in &outcomes {
        for (acked, _) in &outcome.acked {
            match acked {
                Acked::Ticket(id) => {
                    api_b.get(id).await.expect("acknowledged ticket");
                }
                Acked::Message {
                    room_id,
                    message_id,
                } => {
                    rooms.entry(room_id).or_default().insert(message_id);
                }
            }
        }
    }
    for (room_id, acked) in &rooms {
        let stored: HashSet<String> = api_b
            .messages(room_id)
            .await
            .expect("messages")
            .into_iter()
            .map(|m| m.id)
            .collect();
        for message_id in acked {
            assert!(
                stored.contains(*message_id),
                "acknowledged message {message_id} in room {room_id} is stored"
            );
        }
    }
    // The calls A never answered have an unknown outcome: retried through B with their keys,
    // each lands exactly once.
    for (_, outcome) in &outcomes {
        let Some((_, _, unfinished)) = &outcome.failed else {
            continue;
        };
        match unfinished.clone() {
            Unfinished::Create(request) => {
                let customer = request.customer.clone().expect("customer").id;
                api_b.create(*request).await.expect("retried create");
                let found = api_b
                    .tickets(pb::TicketFilter {
                        customer_id: customer.clone(),
                        ..Default::default()
                    })
                    .await
                    .expect("list");
                assert_eq!(found.len(), 1, "one ticket for {customer} after the retry");
            }
            Unfinished::Send {
                room_id,
                client_message_id,
            } => {
                api_b
                    .send(&room_id, "Any news?", &client_message_id)
                    .await
                    .expect("retried send");
                let copies = api_b
                    .messages(&room_id)
                    .await
                    .expect("messages")
                    .into_iter()
                    .filter(|m| m.client_message_id == client_message_id)
                    .count();
                assert_eq!(copies, 1, "one message {client_message_id} after the retry");
            }
        }
    }
    api_b
        .create(new_ticket("cust-after-kill"))
        .await
        .expect("B still serves");
    eprintln!(
        "sigkill_one_replica_mid_load: A acknowledged {}, B {} ({} after the kill)",
        acked_by("A"),
        acked_by("B"),
        b_after_kill
    );
}

/// The acquire timeout of the replica whose connections are terminated, and the most any one
/// call may take: a call waits for a connection at most that long, plus the margin.
const ACQUIRE_TIMEOUT_SECS: u64 = 2;
const CALL_BOUND: Duration = Duration::from_secs(ACQUIRE_TIMEOUT_SECS + 3);

/// One call of the load: what, when it started, how long it took, and how it ended.
#[derive(Debug)]
struct Call {
    rpc: &'static str,
    started: Instant,
    took: Duration,
    outcome: Result<(), Status>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_terminate_backend_during_load() {
    use sqlx::Connection;
    if !postgres_ready().await {
        return;
    }
    let database = seeded_database(&[]).await;
    let acquire = ACQUIRE_TIMEOUT_SECS.to_string();
    let a = Replica::start("A", &database.url, &["--pg-acquire-timeout-secs", &acquire]).await;
    let api = Api::connect(&a, ADMIN, Role::Admin).await;

    // Six clients: create, read back, write in the room, until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let progress = Arc::new(tokio::sync::watch::Sender::new(0usize));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let (api, running, progress) = (api.clone(), running.clone(), progress.clone());
        workers.spawn(async move {
            let (mut calls, mut created) = (Vec::new(), Vec::new());
            let mut round = 0;
            while running.load(Ordering::SeqCst) {
                let label = format!("terminate-{w}-{round}");
                round += 1;
                let mut request = new_ticket(&format!("cust-{label}"));
                request.request_id = label.clone();
                let started = Instant::now();
                let ticket = api.create(request).await;
                let mut record = |rpc, started: Instant, outcome: Result<(), Status>| {
                    if outcome.is_ok() {
                        progress.send_modify(|n| *n += 1);
                    }
                    calls.push(Call {
                        rpc,
                        started,
                        took: started.elapsed(),
                        outcome,
                    });
                };
                let ticket = match ticket {
                    Ok(ticket) => {
                        record("CreateTicket", started, Ok(()));
                        ticket
                    }
                    Err(status) => {
                        record("CreateTicket", started, Err(status));
                        continue;
                    }
                };
                created.push(ticket.id.clone());
                let started = Instant::now();
                let outcome = api.get(&ticket.id).await.map(drop);
                record("GetTicket", started, outcome);
                let started = Instant::now();
                let outcome = api
                    .send(&room_of(&ticket), "Hello?", &format!("{label}-m"))
                    .await
                    .map(drop);
                record("SendMessage", started, outcome);
            }
            (calls, created)
        });
    }

    let admin_url = std::env::var("CASEWORK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin connection");
    let database_name = database.url.rsplit('/').next().expect("database name");
    let mut acks = progress.subscribe();
    let (mut terminated, mut last_termination) = (0, Instant::now());
    for round in 0..5 {
        // Each termination comes after 20 more successful calls: the load is running (and,
        // after the first, has recovered).
        let floor = *acks.borrow() + 20;
        if tokio::time::timeout(Duration::from_secs(30), acks.wait_for(|n| *n >= floor))
            .await
            .is_err()
        {
            running.store(false, Ordering::SeqCst);
            panic!(
                "no 20 successful calls within 30 s before termination {round}; errors in the \
                 server log:\n{}",
                a.errors().join("\n")
            );
        }
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database_name)
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        terminated += killed.into_iter().filter(|k| *k).count();
        last_termination = Instant::now();
    }
    let floor = *acks.borrow() + 20;
    let recovered = tokio::time::timeout(Duration::from_secs(30), acks.wait_for(|n| *n >= floor))
        .await
        .is_ok();
    running.store(false, Ordering::SeqCst);
    let (mut calls, mut created) = (Vec::new(), Vec::new());
    while let Some(done) = workers.join_next().await {
        let (worker_calls, worker_created) = done.expect("worker");
        calls.extend(worker_calls);
        created.extend(worker_created);
    }
    let _ = admin.close().await;

    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for call in &calls {
        let code = match &call.outcome {
            Ok(()) => "OK".to_string(),
            Err(status) => format!("{:?}", status.code()),
        };
        *by_code.entry(code).or_default() += 1;
    }
    let slowest = calls.iter().map(|call| call.took).max().unwrap_or_default();
    let summary = format!(
        "{} calls {by_code:?}, slowest {slowest:?}, {terminated} backends terminated",
        calls.len()
    );
    eprintln!("pg_terminate_backend_during_load: {summary}");
    assert!(
        terminated > 0,
        "the terminations hit connections: {summary}"
    );
    let wrong: Vec<String> = calls
        .iter()
        .filter(|call| {
            call.took > CALL_BOUND
                || call.outcome.as_ref().is_err_and(|status| {
                    // A write cut off during its COMMIT answers UNKNOWN (it may have
                    // committed; a blind retry could apply it twice); reads never do.
                    let outcome_unknown = status.code() == Code::Unknown && call.rpc != "GetTicket";
                    status.code() != Code::Unavailable && !outcome_unknown
                })
        })
        .map(|call| {
            format!(
                "{} after {:?}: {}",
                call.rpc,
                call.took,
                match &call.outcome {
                    Ok(()) => "OK".to_string(),
                    Err(status) => format!("{:?} {:?}", status.code(), status.message()),
                }
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "every call succeeds or fails with UNAVAILABLE within {CALL_BOUND:?}; these did not \
         ({summary}):\n{}\nerrors in the server log:\n{}",
        wrong.join("\n"),
        a.errors().join("\n")
    );
    assert!(recovered, "calls succeed again after the terminations");
    let back = calls
        .iter()
        .filter(|call| call.outcome.is_ok() && call.started >= last_termination)
        .map(|call| call.started + call.took - last_termination)
        .min()
        .expect("a successful call after the last termination");
    assert!(
        back <= Duration::from_secs(5),
        "calls succeed again within 5 s of the last termination, not {back:?}"
    );
    eprintln!(
        "pg_terminate_backend_during_load: first success {back:?} after the last termination"
    );

    // Afterwards, with no load: it answers at once, reports ready, and kept every
    // acknowledged ticket.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tick.tick().await;
        if api.create(new_ticket("cust-after")).await.is_ok() && a.ready().await {
            break;
        }
        assert!(Instant::now() < deadline, "serving again within 5 s");
    }
    for id in &created {
        api.get(id).await.expect("acknowledged ticket");
    }
}
