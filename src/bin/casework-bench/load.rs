//! Workloads against a running server: closed loop (N calls in flight) or open loop (a fixed
//! schedule of call starts, each call's latency counted from its scheduled start).
use crate::Result;
use crate::report::{Report, Tally};
use casework::pb;
use casework::pb::agent_service_client::AgentServiceClient;
use casework::pb::conversation_service_client::ConversationServiceClient;
use casework::pb::ticket_service_client::TicketServiceClient;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Workload {
    /// grpc.health.v1.Health/Check: the stack's ceiling (no store, no auth).
    Health,
    /// GetTicket by id, random among the stored tickets.
    Get,
    /// ListTickets of one queue, 50 per page, following page tokens.
    List,
    /// CreateTicket with an idempotency key (a chat ticket with a customer).
    Create,
    /// SendMessage from the caller (an agent) to a random ticket's room.
    Message,
    /// REST GET /v1/tickets/{id} (the blueprint JSON), random among the stored tickets.
    RestGet,
    /// An agent day: each slot walks tickets through their lives, one call at a time —
    /// created and routed to one of the bench's online agents (assigned by hand when routing
    /// found none free), answered, put on hold, resumed, answered again, closed.
    Day,
}

/// Where a slot of the agent-day workload is in its current ticket's life.
#[derive(Default)]
struct Day {
    ticket: String,
    step: u8,
}

/// Agents the agent-day workload puts online in the queue.
const DAY_AGENTS: usize = 20;

#[derive(clap::Args, Clone)]
pub struct Target {
    /// The server's gRPC address; several, comma-separated, spread the connections over
    /// replicas (the REST workload uses the first).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// A bearer token (admin or service for the write workloads).
    #[arg(long, env = "CASEWORK_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Queue of created and listed tickets.
    #[arg(long, default_value = "chat-sg-en")]
    pub queue: String,
}

impl Target {
    fn addrs(&self) -> Vec<&str> {
        self.addr.split(',').map(str::trim).collect()
    }

    /// `connections` HTTP/2 connections, round-robin over the addresses.
    pub async fn channels(&self) -> Result<Vec<Channel>> {
        let addrs = self.addrs();
        let mut channels = Vec::new();
        for i in 0..self.connections.max(addrs.len()) {
            let addr = addrs[i % addrs.len()].to_string();
            channels.push(Channel::from_shared(addr)?.connect().await?);
        }
        Ok(channels)
    }
}

#[derive(clap::Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Calls in flight (closed loop), or the most in flight before calls queue (open loop).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Open loop: calls started per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Ticket ids read for the get, message and REST workloads.
    #[arg(long, default_value_t = 10_000)]
    pub ids: usize,
}

#[derive(clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub target: Target,
    /// Tickets to create.
    #[arg(long)]
    pub tickets: u64,
    /// Creates in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// The `n`th of `ids`; a multiplicative hash spreads consecutive calls over them.
pub fn pick(ids: &[String], n: u64) -> &str {
    let i = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    &ids[(i % ids.len() as u64) as usize]
}

/// The `n`th ticket a run creates: a chat ticket with a customer and a first message, its
/// idempotency key distinct per run.
pub fn new_ticket(run: &uuid::Uuid, queue: &str, n: u64) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: format!("bench-{run}-{n}"),
        subject: format!("Order {n} arrived cold"),
        queue: queue.to_string(),
        channel: "chat".into(),
        priority: (n % 5) as i32,
        customer: Some(pb::Customer {
            id: format!("bench-customer-{}", n % 5000),
            name: "Bench Customer".into(),
            ..Default::default()
        }),
        initial_message: "Hello, my order arrived cold.".into(),
        ..Default::default()
    }
}

/// `body` with the bearer token.
pub fn authorized<T>(bearer: &MetadataValue<Ascii>, body: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

/// What every call of a run shares: connections, credentials, ticket ids.
pub(crate) struct Caller {
    channels: Vec<Channel>,
    http: reqwest::Client,
    http_base: String,
    bearer: MetadataValue<Ascii>,
    token: String,
    queue: String,
    ids: Vec<String>,
    /// Per slot: the next page token of the list workload.
    cursors: Vec<Mutex<String>>,
    /// Per slot: the ticket the agent-day workload is working on.
    days: Vec<Mutex<Day>>,
    /// Distinct per process, so runs against one database never share idempotency keys.
    run: uuid::Uuid,
}

impl Caller {
    pub(crate) async fn connect(target: &Target, slots: usize) -> Result<Caller> {
        let channels = target.channels().await?;
        Ok(Caller {
            channels,
            http: reqwest::Client::new(),
            http_base: target.addrs()[0].trim_end_matches('/').to_string(),
            bearer: format!("Bearer {}", target.token).parse()?,
            token: target.token.clone(),
            queue: target.queue.clone(),
            ids: Vec::new(),
            cursors: (0..slots).map(|_| Mutex::new(String::new())).collect(),
            days: (0..slots).map(|_| Mutex::new(Day::default())).collect(),
            run: uuid::Uuid::new_v4(),
        })
    }

    fn channel(&self, slot: usize) -> Channel {
        self.channels[slot % self.channels.len()].clone()
    }

    fn request<T>(&self, body: T) -> tonic::Request<T> {
        authorized(&self.bearer, body)
    }

    pub(crate) fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Reads up to `limit` ticket ids of the queue (newest first).
    pub(crate) async fn load_ids(&mut self, limit: usize) -> Result<()> {
        let mut client = TicketServiceClient::new(self.channel(0));
        let mut token = String::new();
        while self.ids.len() < limit {
            let page = client
                .list_tickets(self.request(pb::ListTicketsRequest {
                    filter: Some(pb::TicketFilter {
                        queues: vec![self.queue.clone()],
                        ..Default::default()
                    }),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            self.ids.extend(page.tickets.into_iter().map(|t| t.id));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        self.ids.truncate(limit);
        if self.ids.is_empty() {
            return Err(format!("queue {} holds no tickets: seed first", self.queue).into());
        }
        Ok(())
    }

    /// Puts the agent-day workload's agents online in the queue, with room for every slot's
    /// ticket.
    async fn staff(&self) -> Result<()> {
        let mut agents = AgentServiceClient::new(self.channel(0));
        for i in 0..DAY_AGENTS {
            let id = format!("bench-agent-{i}@example.com");
            agents
                .upsert_agent(self.request(pb::UpsertAgentRequest {
                    agent: Some(pb::Agent {
                        id: id.clone(),
                        name: format!("Bench Agent {i}"),
                        role: pb::AgentRole::Agent as i32,
                        queues: vec![self.queue.clone()],
                        languages: vec!["en".into()],
                        max_concurrent: 100,
                        ..Default::default()
                    }),
                }))
                .await?;
            agents
                .set_status(self.request(pb::SetStatusRequest {
                    agent_id: id,
                    status: "online".into(),
                }))
                .await?;
        }
        Ok(())
    }

    /// The next call of a slot's agent day.
    async fn day(&self, slot: usize, n: u64) -> Result<()> {
        let mut day = self.days[slot % self.days.len()].lock().await;
        let mut tickets = TicketServiceClient::new(self.channel(slot));
        let ticket_id = day.ticket.clone();
        let reply = pb::SendMessageRequest {
            ticket_id: ticket_id.clone(),
            client_message_id: format!("bench-{}-{n}", self.run),
            sender_type: pb::SenderType::Agent as i32,
            body: "Thanks, we are looking into it.".into(),
            ..Default::default()
        };
        // A failed call starts a new ticket (the step stays 0 until one succeeds).
        let step = std::mem::take(&mut day.step);
        day.step = match step {
            0 => {
                let ticket = tickets
                    .create_ticket(self.request(self.new_ticket(n)))
                    .await?
                    .into_inner()
                    .ticket
                    .ok_or("CreateTicket returned no ticket")?;
                day.ticket = ticket.id;
                // Routed: straight to the reply; else an assignment by hand first.
                if ticket.assignee.is_empty() { 1 } else { 2 }
            }
            1 => {
                tickets
                    .assign_ticket(self.request(pb::AssignTicketRequest {
                        ticket_id,
                        agent_id: format!("bench-agent-{}@example.com", n as usize % DAY_AGENTS),
                        ..Default::default()
                    }))
                    .await?;
                2
            }
            2 | 5 => {
                ConversationServiceClient::new(self.channel(slot))
                    .send_message(self.request(reply))
                    .await?;
                step + 1
            }
            3 => {
                tickets
                    .hold_ticket(self.request(pb::HoldTicketRequest {
                        ticket_id,
                        reason: "Waiting for the warehouse".into(),
                        ..Default::default()
                    }))
                    .await?;
                4
            }
            4 => {
                tickets
                    .resume_ticket(self.request(pb::ResumeTicketRequest {
                        ticket_id,
                        ..Default::default()
                    }))
                    .await?;
                5
            }
            _ => {
                tickets
                    .close_ticket(self.request(pb::CloseTicketRequest {
                        ticket_id,
                        resolution_status: pb::ResolutionStatus::Refunded as i32,
                        ..Default::default()
                    }))
                    .await?;
                0
            }
        };
        Ok(())
    }

    fn pick(&self, n: u64) -> &str {
        pick(&self.ids, n)
    }

    fn new_ticket(&self, n: u64) -> pb::CreateTicketRequest {
        new_ticket(&self.run, &self.queue, n)
    }

    /// One call of `workload`; `slot` picks the connection and per-slot state.
    async fn call(&self, workload: Workload, slot: usize, n: u64) -> Result<()> {
        match workload {
            Workload::Health => {
                HealthClient::new(self.channel(slot))
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await?;
            }
            Workload::Get => {
                let id = self.pick(n).to_string();
                TicketServiceClient::new(self.channel(slot))
                    .get_ticket(self.request(pb::GetTicketRequest {
                        key: Some(pb::get_ticket_request::Key::Id(id)),
                    }))
                    .await?;
            }
            Workload::List => {
                let mut cursor = self.cursors[slot % self.cursors.len()].lock().await;
                let page = TicketServiceClient::new(self.channel(slot))
                    .list_tickets(self.request(pb::ListTicketsRequest {
                        filter: Some(pb::TicketFilter {
                            queues: vec![self.queue.clone()],
                            statuses: vec![pb::TicketStatus::Created as i32],
                            ..Default::default()
                        }),
                        page_size: 50,
                        page_token: cursor.clone(),
                        ..Default::default()
                    }))
                    .await?
                    .into_inner();
                *cursor = page.next_page_token;
            }
            Workload::Create => {
                TicketServiceClient::new(self.channel(slot))
                    .create_ticket(self.request(self.new_ticket(n)))
                    .await?;
            }
            Workload::Message => {
                ConversationServiceClient::new(self.channel(slot))
                    .send_message(self.request(pb::SendMessageRequest {
                        ticket_id: self.pick(n).to_string(),
                        client_message_id: format!("bench-{}-{n}", self.run),
                        sender_type: pb::SenderType::Agent as i32,
                        body: "Thanks, we are looking into it.".into(),
                        ..Default::default()
                    }))
                    .await?;
            }
            Workload::RestGet => {
                let response = self
                    .http
                    .get(format!("{}/v1/tickets/{}", self.http_base, self.pick(n)))
                    .bearer_auth(&self.token)
                    .send()
                    .await?;
                if !response.status().is_success() {
                    return Err(format!("HTTP {}", response.status()).into());
                }
                response.bytes().await?;
            }
            Workload::Day => self.day(slot, n).await?,
        }
        Ok(())
    }
}

pub async fn run(args: LoadArgs) -> Result<()> {
    let mut caller = Caller::connect(&args.target, args.concurrency).await?;
    if matches!(
        args.workload,
        Workload::Get | Workload::Message | Workload::RestGet
    ) {
        caller.load_ids(args.ids).await?;
    }
    if matches!(args.workload, Workload::Day) {
        caller.staff().await?;
    }
    let caller = Arc::new(caller);
    let warmup = Duration::from_secs_f64(args.warmup);
    let measured = Duration::from_secs_f64(args.seconds);
    let name = format!("{:?}", args.workload).to_lowercase();
    let report = match args.rate {
        None => closed_loop(
            &caller,
            args.workload,
            args.concurrency,
            Run {
                warmup,
                measured,
                calls: None,
            },
        )
        .await
        .map(|tally| Report::new(&name, "closed", args.concurrency, None, measured, &tally)),
        Some(rate) => open_loop(
            &caller,
            args.workload,
            args.concurrency,
            rate,
            warmup,
            measured,
        )
        .await
        .map(|tally| {
            Report::new(
                &name,
                "open",
                args.concurrency,
                Some(rate),
                measured,
                &tally,
            )
        }),
    }?;
    report.print();
    Ok(())
}

/// How long a closed loop runs, and how many calls it makes at most.
struct Run {
    warmup: Duration,
    measured: Duration,
    calls: Option<u64>,
}

/// `concurrency` workers, each calling as soon as its previous call returns.
async fn closed_loop(
    caller: &Arc<Caller>,
    workload: Workload,
    concurrency: usize,
    run: Run,
) -> Result<Tally> {
    let start = Instant::now();
    let from = start + run.warmup;
    let until = from + run.measured;
    let limit = run.calls.unwrap_or(u64::MAX);
    let counter = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for slot in 0..concurrency {
        let caller = caller.clone();
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                let outcome = caller.call(workload, slot, n).await;
                if began >= from {
                    tally.add(began.elapsed(), outcome);
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for worker in workers {
        total.merge(worker.await?);
    }
    Ok(total)
}

/// Calls started at `rate` per second on a fixed schedule; each latency runs from the call's
/// scheduled start, so time spent waiting for a free slot (`concurrency` in flight) counts.
pub(crate) async fn open_loop(
    caller: &Arc<Caller>,
    workload: Workload,
    concurrency: usize,
    rate: f64,
    warmup: Duration,
    measured: Duration,
) -> Result<Tally> {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measured;
    let slots = Arc::new(Semaphore::new(concurrency));
    let tally = Arc::new(std::sync::Mutex::new(Tally::new()));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0u64.. {
        let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
        if scheduled >= until {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let caller = caller.clone();
        let slots = slots.clone();
        let tally = tally.clone();
        calls.spawn(async move {
            let _slot = slots.acquire().await.expect("never closed");
            let outcome = caller.call(workload, n as usize, n).await;
            if scheduled >= from {
                tally
                    .lock()
                    .expect("not poisoned")
                    .add(scheduled.elapsed(), outcome);
            }
        });
        // Reap finished calls as we go so the set stays small.
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
    let tally = std::mem::replace(&mut *tally.lock().expect("not poisoned"), Tally::new());
    Ok(tally)
}

pub async fn seed(args: SeedArgs) -> Result<()> {
    let caller = Arc::new(Caller::connect(&args.target, args.concurrency).await?);
    let started = Instant::now();
    let run = Run {
        warmup: Duration::ZERO,
        // Until the calls are made.
        measured: Duration::from_secs(365 * 24 * 3600),
        calls: Some(args.tickets),
    };
    let tally = closed_loop(&caller, Workload::Create, args.concurrency, run).await?;
    if let Some(error) = tally.first_error {
        return Err(format!("{} creates failed, the first with: {error}", tally.errors).into());
    }
    eprintln!(
        "seeded {} tickets in {:.1}s",
        args.tickets,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
