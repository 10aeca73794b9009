//! Stream fan-out: `--watchers` WatchTickets clients of one queue while tickets are created at
//! `--rate`; every delivered event's latency runs from its server timestamp (taken as the
//! change was made, before its commit) to its arrival at the watcher.
use crate::Result;
use crate::load::{Target, authorized};
use crate::report::{Report, Tally, histogram, record};
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use std::time::{Duration, Instant, SystemTime};

/// The receive windows of a stalled watcher's connection and stream.
const STALLED_WINDOW: u32 = 16 * 1024;

#[derive(clap::Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: Target,
    /// Watch streams open at once.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Tickets created per second while the watchers listen.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Watchers besides those that never read their stream, each on a connection of its own
    /// with 16 KiB windows (stalled readers: what the server queues for them, and whether it
    /// lets them go). Dropped at the end of the run.
    #[arg(long, default_value_t = 0)]
    pub stalled: usize,
}

pub async fn run(args: FanoutArgs) -> Result<()> {
    // With several replicas the watchers are spread over all of them and the writer uses the
    // first, so most deliveries cross from one replica to another.
    let channels = args.target.channels().await?;
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
        format!("Bearer {}", args.target.token).parse()?;
    // Open every stream before the first write, so each sees every event.
    let mut streams = Vec::new();
    for i in 0..args.watchers {
        let mut client = TicketServiceClient::new(channels[i % channels.len()].clone());
        let stream = client
            .watch_tickets(authorized(
                &bearer,
                pb::WatchTicketsRequest {
                    queues: vec![args.target.queue.clone()],
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        streams.push(stream);
    }
    let mut stalled = Vec::new();
    for addr in args.target.addr.split(',').cycle().take(args.stalled) {
        let channel = tonic::transport::Endpoint::from_shared(addr.trim().to_string())?
            .initial_stream_window_size(STALLED_WINDOW)
            .initial_connection_window_size(STALLED_WINDOW)
            .connect()
            .await?;
        let stream = TicketServiceClient::new(channel)
            .watch_tickets(authorized(
                &bearer,
                pb::WatchTicketsRequest {
                    queues: vec![args.target.queue.clone()],
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        stalled.push(stream);
    }
    let run = uuid::Uuid::new_v4();
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut watchers = Vec::new();
    for mut stream in streams {
        watchers.push(tokio::spawn(async move {
            let mut latencies = histogram();
            // Ends at the deadline plus a grace second for the last events in flight.
            let end = tokio::time::sleep_until((deadline + Duration::from_secs(1)).into());
            tokio::pin!(end);
            loop {
                tokio::select! {
                    message = stream.message() => match message {
                        Ok(Some(message)) => {
                            if let Some(at) = message.event.and_then(|e| e.at) {
                                let at = SystemTime::UNIX_EPOCH
                                    + Duration::new(at.seconds as u64, at.nanos as u32);
                                let latency = SystemTime::now()
                                    .duration_since(at)
                                    .unwrap_or_default();
                                record(&mut latencies, latency);
                            }
                        }
                        _ => break,
                    },
                    _ = &mut end => break,
                }
            }
            latencies
        }));
    }
    let mut writer = TicketServiceClient::new(channels[0].clone());
    let mut created = 0u64;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    while Instant::now() < deadline {
        ticker.tick().await;
        writer
            .create_ticket(authorized(
                &bearer,
                pb::CreateTicketRequest {
                    request_id: format!("fanout-{run}-{created}"),
                    subject: format!("Fan-out {created}"),
                    queue: args.target.queue.clone(),
                    channel: "chat".into(),
                    customer: Some(pb::Customer {
                        id: format!("fanout-{}", created % 100),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await?;
        created += 1;
    }
    let elapsed = started.elapsed();
    drop(stalled);
    let mut total = histogram();
    let mut short = 0u64;
    for watcher in watchers {
        let latencies = watcher.await?;
        // Each creation writes at least one event to the queue's watchers.
        short += u64::from(latencies.len() < created);
        total.add(&latencies)?;
    }
    let report = Report::new(
        &format!("fanout-{}", args.watchers),
        "open",
        args.watchers,
        Some(args.rate),
        elapsed,
        &Tally {
            histogram: total,
            errors: short,
            first_error: (short > 0)
                .then(|| format!("{short} watchers saw fewer events than tickets created")),
        },
    );
    report.print();
    Ok(())
}
