//! `http`: create, get and list through each system's own HTTP API, for a side-by-side with a
//! peer (django-helpdesk's DRF ticket API) — one client for both, HTTP/1.1 keep-alive over a
//! pool of as many connections as calls in flight, the same closed loop and the same report.
//!
//! casework's calls: get is the REST shim's `GET /v1/tickets/{id}` (the blueprint JSON). The
//! shim has no create or paged list (the blueprints define none), so create and list are
//! `CreateTicket` and `ListTickets` over grpc-web, which the server also takes over HTTP/1.1.
//! django-helpdesk's: `POST /api/tickets/`, `GET /api/tickets/{id}/`, `GET /api/tickets/`.
use crate::Result;
use crate::load::{new_ticket, pick};
use crate::report::{Report, Tally};
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::Layer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    /// casework: the REST shim, and grpc-web where the shim has no route.
    Casework,
    /// django-helpdesk's ticket API (`/api/tickets/`), DRF token auth.
    DjangoHelpdesk,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Workload {
    /// Creates a ticket in the queue.
    Create,
    /// Reads one ticket by id, random among the ids listed before the run.
    Get,
    /// Reads the first page of tickets (`--page-size`), with the total count.
    List,
}

#[derive(clap::Args)]
pub struct HttpArgs {
    #[arg(long, value_enum)]
    pub system: System,
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// The server's base URL, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    pub base_url: String,
    /// casework: a bearer token (admin, for creates).
    #[arg(long, env = "CASEWORK_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// django-helpdesk: a DRF token of a staff user.
    #[arg(long, env = "DJANGO_HELPDESK_TOKEN", hide_env_values = true)]
    pub django_token: Option<String>,
    /// casework: queue of created and listed tickets.
    #[arg(long, default_value = "chat-sg-en")]
    pub queue: String,
    /// django-helpdesk: id of the queue of created tickets.
    #[arg(long, default_value_t = 1)]
    pub django_queue: u64,
    /// Tickets per list page (django-helpdesk's default is 25).
    #[arg(long, default_value_t = 25)]
    pub page_size: u32,
    /// Calls in flight, each on its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Ticket ids listed before a get run.
    #[arg(long, default_value_t = 1000)]
    pub ids: usize,
    /// Calls that must complete in the window: it stays open past `--seconds` until they
    /// have (default: the concurrency).
    #[arg(long)]
    pub min_calls: Option<u64>,
    /// Seconds before one call counts as failed.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// casework's TicketService over grpc-web on HTTP/1.1 (tonic-web's client layer over a
/// keep-alive pool).
type GrpcWeb = TicketServiceClient<
    tonic_web::GrpcWebClientService<
        hyper_util::client::legacy::Client<
            HttpConnector,
            tonic_web::GrpcWebCall<tonic::body::Body>,
        >,
    >,
>;

/// What every call of a run shares: the pools, the credentials, the ticket ids.
struct Client {
    http: reqwest::Client,
    grpc_web: GrpcWeb,
    system: System,
    base: String,
    authorization: String,
    queue: String,
    django_queue: u64,
    page_size: u32,
    ids: Vec<String>,
    /// Distinct per process, so runs against one database never share idempotency keys.
    run: uuid::Uuid,
}

impl Client {
    fn new(args: &HttpArgs) -> Result<Client> {
        let authorization = match args.system {
            System::Casework => format!(
                "Bearer {}",
                args.token.as_deref().ok_or("casework needs --token")?
            ),
            System::DjangoHelpdesk => format!(
                "Token {}",
                args.django_token
                    .as_deref()
                    .ok_or("django-helpdesk needs --django-token")?
            ),
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(args.timeout))
            .build()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let pool = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(args.concurrency)
            .build(connector);
        let grpc_web = TicketServiceClient::with_origin(
            tonic_web::GrpcWebClientLayer::new().layer(pool),
            args.base_url.parse()?,
        );
        Ok(Client {
            http,
            grpc_web,
            system: args.system,
            base: args.base_url.trim_end_matches('/').to_string(),
            authorization,
            queue: args.queue.clone(),
            django_queue: args.django_queue,
            page_size: args.page_size,
            ids: Vec::new(),
            run: uuid::Uuid::new_v4(),
        })
    }

    /// The API a workload calls, as the report names it.
    fn api(&self, workload: Workload) -> &'static str {
        match (self.system, workload) {
            (System::Casework, Workload::Create) => "grpc-web CreateTicket",
            (System::Casework, Workload::Get) => "REST GET /v1/tickets/{id}",
            (System::Casework, Workload::List) => "grpc-web ListTickets",
            (System::DjangoHelpdesk, Workload::Create) => "DRF POST /api/tickets/",
            (System::DjangoHelpdesk, Workload::Get) => "DRF GET /api/tickets/{id}/",
            (System::DjangoHelpdesk, Workload::List) => "DRF GET /api/tickets/",
        }
    }

    /// A GET of `path`, checked for success, its body read.
    async fn get(&self, path: &str) -> Result<prost::bytes::Bytes> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .send()
            .await?;
        checked(response).await
    }

    /// `request` with the caller's credentials.
    fn request<T>(&self, body: T) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.parse()?);
        Ok(request)
    }

    fn list_request(&self, page_size: u32, page_token: String) -> pb::ListTicketsRequest {
        pb::ListTicketsRequest {
            filter: Some(pb::TicketFilter {
                queues: vec![self.queue.clone()],
                ..Default::default()
            }),
            page_size: page_size as i32,
            page_token,
            // django's page carries the count; so does this one.
            include_total_size: true,
            ..Default::default()
        }
    }

    /// Reads up to `limit` ticket ids through the system's own list.
    async fn load_ids(&mut self, limit: usize) -> Result<()> {
        let batch = limit.clamp(1, 500);
        match self.system {
            System::Casework => {
                let mut token = String::new();
                while self.ids.len() < limit {
                    let page = self
                        .grpc_web
                        .clone()
                        .list_tickets(self.request(self.list_request(batch as u32, token))?)
                        .await?
                        .into_inner();
                    self.ids.extend(page.tickets.into_iter().map(|t| t.id));
                    token = page.next_page_token;
                    if token.is_empty() {
                        break;
                    }
                }
            }
            System::DjangoHelpdesk => {
                for page in 1.. {
                    if self.ids.len() >= limit {
                        break;
                    }
                    let body = self
                        .get(&format!("/api/tickets/?page_size={batch}&page={page}"))
                        .await?;
                    let page: serde_json::Value = serde_json::from_slice(&body)?;
                    let results = page["results"].as_array().ok_or("no results in page")?;
                    self.ids.extend(
                        results
                            .iter()
                            .filter_map(|t| t["id"].as_u64())
                            .map(|id| id.to_string()),
                    );
                    if page["next"].is_null() {
                        break;
                    }
                }
            }
        }
        self.ids.truncate(limit);
        if self.ids.is_empty() {
            return Err("no tickets stored: seed first".into());
        }
        Ok(())
    }

    fn pick(&self, n: u64) -> &str {
        pick(&self.ids, n)
    }

    async fn call(&self, workload: Workload, n: u64) -> Result<()> {
        match (self.system, workload) {
            (System::Casework, Workload::Create) => {
                self.grpc_web
                    .clone()
                    .create_ticket(self.request(new_ticket(&self.run, &self.queue, n))?)
                    .await?;
            }
            (System::Casework, Workload::Get) => {
                self.get(&format!("/v1/tickets/{}", self.pick(n))).await?;
            }
            (System::Casework, Workload::List) => {
                self.grpc_web
                    .clone()
                    .list_tickets(self.request(self.list_request(self.page_size, String::new()))?)
                    .await?;
            }
            (System::DjangoHelpdesk, Workload::Create) => {
                let response = self
                    .http
                    .post(format!("{}/api/tickets/", self.base))
                    .header("authorization", &self.authorization)
                    .json(&serde_json::json!({
                        "queue": self.django_queue,
                        "title": format!("Order {n} arrived cold"),
                        "description": "Hello, my order arrived cold.",
                        "submitter_email": format!("customer-{}@example.com", n % 5000),
                        "priority": n % 5 + 1,
                    }))
                    .send()
                    .await?;
                checked(response).await?;
            }
            (System::DjangoHelpdesk, Workload::Get) => {
                self.get(&format!("/api/tickets/{}/", self.pick(n))).await?;
            }
            (System::DjangoHelpdesk, Workload::List) => {
                self.get(&format!("/api/tickets/?page_size={}", self.page_size))
                    .await?;
            }
        }
        Ok(())
    }
}

/// The body of a successful response; otherwise the status and the start of the body.
async fn checked(response: reqwest::Response) -> Result<prost::bytes::Bytes> {
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("HTTP {status}: {text}").into());
    }
    Ok(body)
}

pub async fn run(args: HttpArgs) -> Result<()> {
    let mut client = Client::new(&args)?;
    if matches!(args.workload, Workload::Get) {
        client.load_ids(args.ids).await?;
    }
    let client = Arc::new(client);
    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measured: Duration::from_secs_f64(args.seconds),
        min_calls: args.min_calls.unwrap_or(args.concurrency as u64),
    };
    let (tally, elapsed) = closed_loop(&client, args.workload, args.concurrency, window).await?;
    let name = format!("{:?}", args.workload).to_lowercase();
    let report = Report::new(&name, "closed", args.concurrency, None, elapsed, &tally);
    let mut line = serde_json::to_value(&report)?;
    let system = clap::ValueEnum::to_possible_value(&args.system).ok_or("unnamed system")?;
    line["system"] = system.get_name().into();
    line["api"] = client.api(args.workload).into();
    if matches!(args.workload, Workload::List) {
        line["page_size"] = args.page_size.into();
    }
    println!("{line}");
    Ok(())
}

/// The measured window: it opens after the warm-up and closes after `measured`, or later if
/// fewer than `min_calls` calls have completed in it by then.
struct Window {
    warmup: Duration,
    measured: Duration,
    min_calls: u64,
}

/// `concurrency` workers, each calling as soon as its previous call returns. Unlike load.rs's
/// loop this counts the calls that *complete* in the window (as wrk does) and stretches the
/// window until `min_calls` have: a peer whose calls take longer than the window (django at
/// 20k tickets) still gets a throughput, completions over the window's real length, instead
/// of zero. Returns the tally and that length.
async fn closed_loop(
    client: &Arc<Client>,
    workload: Workload,
    concurrency: usize,
    window: Window,
) -> Result<(Tally, Duration)> {
    let from = Instant::now() + window.warmup;
    let until = from + window.measured;
    let counter = Arc::new(AtomicU64::new(0));
    // Calls completed in the window, and calls in flight.
    let counted = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, counter) = (client.clone(), counter.clone());
        let (counted, in_flight) = (counted.clone(), in_flight.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut last = from;
            loop {
                // Past the window, call again only while the calls in flight cannot make up
                // the minimum.
                let enough = counted.load(Ordering::SeqCst) + in_flight.load(Ordering::SeqCst)
                    >= window.min_calls;
                if Instant::now() >= until && enough {
                    break;
                }
                in_flight.fetch_add(1, Ordering::SeqCst);
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let outcome = client.call(workload, n).await;
                let ended = Instant::now();
                if ended >= from
                    && (ended < until || counted.load(Ordering::SeqCst) < window.min_calls)
                {
                    tally.add(ended - began, outcome);
                    counted.fetch_add(1, Ordering::SeqCst);
                    last = last.max(ended);
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            (tally, last)
        }));
    }
    let mut total = Tally::new();
    let mut closed = until;
    for worker in workers {
        let (tally, last) = worker.await?;
        total.merge(tally);
        closed = closed.max(last);
    }
    Ok((total, closed - from))
}
