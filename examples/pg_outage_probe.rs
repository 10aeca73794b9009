//! gRPC probe for `.ci/pg-restart-check.sh`: calls a running casework (over `serve --demo`
//! data) while its PostgreSQL goes away and comes back, and says whether each call behaved.
//! Exits 0 when every check held, 1 otherwise; one summary line on stdout.
//!
//! pg_outage_probe --addr http://127.0.0.1:PORT --token TOKEN MODE [options]
//!   up   [--within SECS]   CreateTicket then GetTicket, again and again, until both succeed
//!                          (fails after SECS, default 10); prints how long that took
//!   down [--calls N] [--bound SECS]
//!                          N concurrent CreateTickets (default 5); each must fail with
//!                          UNAVAILABLE within SECS (default 5): no success, no hang
//!   load --stop-file PATH [--workers N] [--bound SECS]
//!                          N workers (default 4) call CreateTicket and GetTicket until PATH
//!                          exists; each call must succeed or fail with UNAVAILABLE within SECS
//!                          (default 5); then every acknowledged ticket must be readable
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The most a `load` probe runs, whatever happens to the script that started it.
const LOAD_LIMIT: Duration = Duration::from_secs(300);

struct Args {
    addr: String,
    token: String,
    mode: String,
    within: Duration,
    calls: usize,
    bound: Duration,
    stop_file: Option<PathBuf>,
    workers: usize,
}

fn args() -> Args {
    let mut args = Args {
        addr: "http://127.0.0.1:50051".into(),
        token: String::new(),
        mode: String::new(),
        within: Duration::from_secs(10),
        calls: 5,
        bound: Duration::from_secs(5),
        stop_file: None,
        workers: 4,
    };
    let secs = |value: String, flag: &str| {
        Duration::from_secs_f64(value.parse().unwrap_or_else(|_| panic!("{flag}: seconds")))
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if !flag.starts_with("--") {
            args.mode = flag;
            continue;
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--token" => args.token = value,
            "--within" => args.within = secs(value, "--within"),
            "--calls" => args.calls = value.parse().expect("--calls"),
            "--bound" => args.bound = secs(value, "--bound"),
            "--stop-file" => args.stop_file = Some(value.into()),
            "--workers" => args.workers = value.parse().expect("--workers"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

#[derive(Clone)]
struct Client {
    tickets: TicketServiceClient<Channel>,
    bearer: MetadataValue<Ascii>,
    /// Client-side bound of one call, past which it counts as hung.
    hang: Duration,
}

impl Client {
    fn authorized<T>(&self, body: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, Status> {
        match tokio::time::timeout(self.hang, call).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "hung: no answer within {:?}",
                self.hang
            ))),
        }
    }

    async fn create(&self, label: &str) -> Result<String, Status> {
        let mut tickets = self.tickets.clone();
        let request = self.authorized(pb::CreateTicketRequest {
            request_id: label.into(),
            subject: "Is the database back?".into(),
            queue: "chat-sg-en".into(),
            channel: "chat".into(),
            customer: Some(pb::Customer {
                id: format!("cust-{label}"),
                ..Default::default()
            }),
            ..Default::default()
        });
        let reply = self.bounded(tickets.create_ticket(request)).await?;
        Ok(reply.ticket.map(|t| t.id).unwrap_or_default())
    }

    async fn get(&self, id: &str) -> Result<(), Status> {
        let mut tickets = self.tickets.clone();
        let request = self.authorized(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Id(id.into())),
        });
        self.bounded(tickets.get_ticket(request)).await.map(drop)
    }
}

/// Labels unique across probes of one run (request ids must not repeat).
fn label(kind: &str, n: usize) -> String {
    format!("probe-{}-{kind}-{n}", std::process::id())
}

async fn up(client: &Client, within: Duration) -> Result<String, String> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last = None;
    for attempt in 0.. {
        tick.tick().await;
        if started.elapsed() > within {
            return Err(format!(
                "no successful CreateTicket + GetTicket within {within:?} ({attempt} attempts, \
                 last error {last:?})"
            ));
        }
        match client.create(&label("up", attempt)).await {
            Ok(id) => match client.get(&id).await {
                Ok(()) => {
                    return Ok(format!(
                        "up: calls succeed, {:.2}s after the probe started ({attempt} failed \
                         attempts before)",
                        started.elapsed().as_secs_f64()
                    ));
                }
                Err(status) => last = Some(status),
            },
            Err(status) => last = Some(status),
        }
    }
    unreachable!()
}

async fn down(client: &Client, calls: usize, bound: Duration) -> Result<String, String> {
    let mut tasks = Vec::new();
    for n in 0..calls {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = client.create(&label("down", n)).await;
            (outcome, started.elapsed())
        }));
    }
    let mut problems = Vec::new();
    let mut slowest = Duration::ZERO;
    for task in tasks {
        let (outcome, took) = task.await.map_err(|e| format!("task: {e}"))?;
        slowest = slowest.max(took);
        match outcome {
            Err(status) if status.code() == Code::Unavailable && took <= bound => {}
            Ok(_) => problems.push(format!("OK after {took:?}")),
            Err(status) => problems.push(format!(
                "{:?} {:?} after {took:?}",
                status.code(),
                status.message()
            )),
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "down: {calls} calls failed with UNAVAILABLE, slowest {slowest:?}"
        ))
    } else {
        Err(format!(
            "down: expected UNAVAILABLE within {bound:?}, got: {}",
            problems.join("; ")
        ))
    }
}

async fn load(
    client: &Client,
    stop_file: PathBuf,
    workers: usize,
    bound: Duration,
) -> Result<String, String> {
    let started = Instant::now();
    let counter = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, stop_file, counter) = (client.clone(), stop_file.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let (mut acknowledged, mut outcomes) = (Vec::new(), Vec::new());
            while !stop_file.exists() && started.elapsed() < LOAD_LIMIT {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let call = Instant::now();
                let created = client.create(&label("load", n)).await;
                outcomes.push((
                    "CreateTicket",
                    created.as_ref().map(drop).map_err(Clone::clone),
                    call.elapsed(),
                ));
                let Ok(id) = created else {
                    // The database is away: the next try is soon enough.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                acknowledged.push(id.clone());
                let call = Instant::now();
                let read = client.get(&id).await;
                outcomes.push(("GetTicket", read, call.elapsed()));
            }
            (acknowledged, outcomes)
        }));
    }
    let (mut acknowledged, mut outcomes) = (Vec::new(), Vec::new());
    for task in tasks {
        let (a, o) = task.await.map_err(|e| format!("task: {e}"))?;
        acknowledged.extend(a);
        outcomes.extend(o);
    }
    let mut problems = Vec::new();
    let (mut ok, mut unavailable, mut slowest) = (0, 0, Duration::ZERO);
    for (rpc, outcome, took) in &outcomes {
        slowest = slowest.max(*took);
        match outcome {
            Ok(()) if *took <= bound => ok += 1,
            Err(status) if status.code() == Code::Unavailable && *took <= bound => unavailable += 1,
            // A write whose connection went during its COMMIT: the server cannot know whether
            // it committed and says so, rather than inviting a blind retry.
            Err(status)
                if status.code() == Code::Unknown && *rpc != "GetTicket" && *took <= bound =>
            {
                unavailable += 1
            }
            Ok(()) => problems.push(format!("{rpc} after {took:?}: OK, but too slow")),
            Err(status) => problems.push(format!(
                "{rpc} after {took:?}: {:?} {:?}",
                status.code(),
                status.message()
            )),
        }
    }
    // The database is back (the script stops the load only then): every acknowledged create
    // must be there.
    for id in &acknowledged {
        if let Err(status) = client.get(id).await {
            problems.push(format!("acknowledged ticket {id} unreadable: {status:?}"));
        }
    }
    let summary = format!(
        "load: {} calls over {:.1}s: {ok} OK, {unavailable} UNAVAILABLE, slowest {slowest:?}; \
         {} acknowledged tickets all readable afterwards",
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        acknowledged.len()
    );
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "{summary}\nexpected OK or UNAVAILABLE within {bound:?}; these were not:\n{}",
            problems.join("\n")
        ))
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = args();
    let channel = Channel::from_shared(args.addr.clone())
        .expect("addr")
        .connect()
        .await
        .expect("connect to casework");
    let client = Client {
        tickets: TicketServiceClient::new(channel),
        bearer: format!("bearer {}", args.token).parse().expect("token"),
        hang: args.bound + Duration::from_secs(10),
    };
    let outcome = match args.mode.as_str() {
        "up" => up(&client, args.within).await,
        "down" => down(&client, args.calls, args.bound).await,
        "load" => {
            let stop_file = args.stop_file.clone().expect("load needs --stop-file");
            load(&client, stop_file, args.workers, args.bound).await
        }
        other => Err(format!("unknown mode {other:?}: up, down or load")),
    };
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(problem) => {
            println!("FAILED {problem}");
            std::process::ExitCode::FAILURE
        }
    }
}
