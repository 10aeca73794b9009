//! Load generator for README's benchmark figures: N concurrent workers call CreateTicket
//! (and optionally GetTicket) against a running server and report throughput and latency.
//!
//! cargo run --release --example load -- --addr http://127.0.0.1:50051 --token "$TOKEN" \
//!     --workers 64 --requests 20000 --rpc create
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};

fn authorized<T>(bearer: &MetadataValue<Ascii>, body: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

struct Args {
    addr: String,
    token: String,
    workers: usize,
    requests: usize,
    rpc: String,
}

fn args() -> Args {
    let mut args = Args {
        addr: "http://127.0.0.1:50051".into(),
        token: String::new(),
        workers: 64,
        requests: 20_000,
        rpc: "create".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--token" => args.token = value,
            "--workers" => args.workers = value.parse().expect("--workers"),
            "--requests" => args.requests = value.parse().expect("--requests"),
            "--rpc" => args.rpc = value,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = args();
    let channel = tonic::transport::Channel::from_shared(args.addr.clone())
        .expect("addr")
        .connect()
        .await
        .expect("connect");
    let bearer: MetadataValue<Ascii> = format!("bearer {}", args.token).parse().expect("token");
    let new_ticket = |i: usize| pb::CreateTicketRequest {
        subject: format!("load ticket {i}"),
        queue: "chat-sg-en".into(),
        channel: "chat".into(),
        priority: (i % 5) as i32,
        customer: Some(pb::Customer {
            id: format!("load-{}", i % 1000),
            ..Default::default()
        }),
        ..Default::default()
    };
    // For reads, one ticket to read back.
    let mut client = TicketServiceClient::new(channel.clone());
    let seed = client
        .create_ticket(authorized(&bearer, new_ticket(0)))
        .await
        .expect("seed ticket")
        .into_inner()
        .ticket
        .expect("ticket")
        .id;

    let per_worker = args.requests / args.workers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.workers {
        let mut client = TicketServiceClient::new(channel.clone());
        let rpc = args.rpc.clone();
        let seed = seed.clone();
        let bearer = bearer.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            let mut errors = 0usize;
            for i in 0..per_worker {
                let t = Instant::now();
                let ok = match rpc.as_str() {
                    "get" => client
                        .get_ticket(authorized(
                            &bearer,
                            pb::GetTicketRequest {
                                key: Some(pb::get_ticket_request::Key::Id(seed.clone())),
                            },
                        ))
                        .await
                        .is_ok(),
                    _ => client
                        .create_ticket(authorized(&bearer, new_ticket(w * per_worker + i)))
                        .await
                        .is_ok(),
                };
                latencies.push(t.elapsed());
                errors += usize::from(!ok);
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "rpc={} workers={} requests={} errors={} elapsed={:.2}s throughput={:.0}/s p50={:.2}ms p99={:.2}ms max={:.2}ms",
        args.rpc,
        args.workers,
        latencies.len(),
        errors,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}
