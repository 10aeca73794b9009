//! Stream fan-out: `--watchers` WatchTickets clients of one queue while tickets are created at
//! `--rate`; every delivered event's latency runs from its server timestamp (taken as the
//! change was made, before its commit) to its arrival at the watcher. With `--rooms`, each
//! watcher follows the room of a ticket of its own (WatchRoom) while messages are sent to the
//! rooms in turn at `--rate`: what a commit costs the watchers it does not concern.
use crate::Result;
use crate::load::{Target, authorized};
use crate::report::{Report, Tally, histogram, record};
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use casework::pb::ticket_service_client::TicketServiceClient;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant, SystemTime};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// The receive windows of a stalled watcher's connection and stream.
const STALLED_WINDOW: u32 = 16 * 1024;

#[derive(clap::Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: Target,
    /// Watch streams open at once.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Tickets created (with `--rooms`: messages sent) per second while the watchers listen.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Watchers besides those that never read their stream, each on a connection of its own
    /// with 16 KiB windows (stalled readers: what the server queues for them, and whether it
    /// lets them go). Dropped at the end of the run.
    #[arg(long, default_value_t = 0)]
    pub stalled: usize,
    /// Each watcher follows a room of its own (WatchRoom) and the writer sends messages.
    #[arg(long)]
    pub rooms: bool,
}

/// A watcher's stream: each item's server timestamp, or the end.
type Watcher =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Option<prost_types::Timestamp>> + Send>>;

pub async fn run(args: FanoutArgs) -> Result<()> {
    // With several replicas the watchers are spread over all of them and the writer uses the
    // first, so most deliveries cross from one replica to another.
    let channels = args.target.channels().await?;
    let bearer: MetadataValue<Ascii> = format!("Bearer {}", args.target.token).parse()?;
    let run = uuid::Uuid::new_v4();
    let mut writer = TicketServiceClient::new(channels[0].clone());
    // With --rooms, the tickets whose rooms are watched (one per watcher).
    let mut rooms = Vec::new();
    if args.rooms {
        for n in 0..args.watchers {
            let ticket = writer
                .create_ticket(authorized(
                    &bearer,
                    new_ticket(&args, run, "room", n as u64),
                ))
                .await?
                .into_inner()
                .ticket
                .ok_or("CreateTicket answered no ticket")?;
            let room = ticket.metadata.map(|m| m.room_id).unwrap_or_default();
            rooms.push((ticket.id, room));
        }
    }
    // Open every stream before the first write, so each sees every event.
    let mut streams: Vec<Watcher> = Vec::new();
    for i in 0..args.watchers {
        let channel = channels[i % channels.len()].clone();
        streams.push(match rooms.get(i) {
            Some((_, room_id)) => watch_room(channel, &bearer, room_id).await?,
            None => watch_queue(channel, &bearer, &args.target.queue).await?,
        });
    }
    let mut stalled = Vec::new();
    for addr in args.target.addr.split(',').cycle().take(args.stalled) {
        let channel = tonic::transport::Endpoint::from_shared(addr.trim().to_string())?
            .initial_stream_window_size(STALLED_WINDOW)
            .initial_connection_window_size(STALLED_WINDOW)
            .connect()
            .await?;
        stalled.push(watch_queue(channel, &bearer, &args.target.queue).await?);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut watchers = Vec::new();
    for stream in streams {
        watchers.push(tokio::spawn(listen(stream, deadline)));
    }
    let mut messages = ConversationServiceClient::new(channels[0].clone());
    let mut written = 0u64;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    while Instant::now() < deadline {
        ticker.tick().await;
        match rooms.get(written as usize % rooms.len().max(1)) {
            Some((ticket_id, _)) => {
                messages
                    .send_message(authorized(
                        &bearer,
                        pb::SendMessageRequest {
                            ticket_id: ticket_id.clone(),
                            client_message_id: format!("fanout-{run}-{written}"),
                            sender_type: pb::SenderType::Agent as i32,
                            body: "Thanks, we are looking into it.".into(),
                            ..Default::default()
                        },
                    ))
                    .await?;
            }
            None => {
                writer
                    .create_ticket(authorized(
                        &bearer,
                        new_ticket(&args, run, "ticket", written),
                    ))
                    .await?;
            }
        }
        written += 1;
    }
    let elapsed = started.elapsed();
    drop(stalled);
    // Each ticket created writes at least one event to every queue watcher; each message
    // reaches its room's watcher.
    let expected = match rooms.len() {
        0 => written,
        watched => written / watched as u64,
    };
    let mut total = histogram();
    let mut short = 0u64;
    for watcher in watchers {
        let latencies = watcher.await?;
        short += u64::from(latencies.len() < expected);
        total.add(&latencies)?;
    }
    let what = if args.rooms { "rooms" } else { "fanout" };
    let report = Report::new(
        &format!("{what}-{}", args.watchers),
        "open",
        args.watchers,
        Some(args.rate),
        elapsed,
        &Tally {
            histogram: total,
            errors: short,
            first_error: (short > 0)
                .then(|| format!("{short} watchers heard less than was written for them")),
        },
    );
    report.print();
    Ok(())
}

fn new_ticket(args: &FanoutArgs, run: uuid::Uuid, kind: &str, n: u64) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        request_id: format!("fanout-{run}-{kind}-{n}"),
        subject: format!("Fan-out {kind} {n}"),
        queue: args.target.queue.clone(),
        channel: "chat".into(),
        customer: Some(pb::Customer {
            id: format!("fanout-{}", n % 100),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn watch_queue(
    channel: Channel,
    bearer: &MetadataValue<Ascii>,
    queue: &str,
) -> Result<Watcher> {
    let request = pb::WatchTicketsRequest {
        queues: vec![queue.to_string()],
        ..Default::default()
    };
    let stream = TicketServiceClient::new(channel)
        .watch_tickets(authorized(bearer, request))
        .await?
        .into_inner();
    Ok(timestamps(stream, |item| item.event.and_then(|e| e.at)))
}

async fn watch_room(
    channel: Channel,
    bearer: &MetadataValue<Ascii>,
    room_id: &str,
) -> Result<Watcher> {
    let request = pb::WatchRoomRequest {
        room_id: room_id.to_string(),
        after_message_id: String::new(),
    };
    let stream = ConversationServiceClient::new(channel)
        .watch_room(authorized(bearer, request))
        .await?
        .into_inner();
    Ok(timestamps(stream, |item| {
        item.message.and_then(|m| m.created_at)
    }))
}

/// A watcher over `stream`: the server timestamp `at` finds in each item, until it ends.
fn timestamps<T: Send + 'static>(
    stream: tonic::Streaming<T>,
    at: fn(T) -> Option<prost_types::Timestamp>,
) -> Watcher {
    Box::pin(futures_util::stream::unfold(
        stream,
        move |mut s| async move {
            let item = s.message().await.ok().flatten()?;
            Some((at(item), s))
        },
    ))
}

/// Records each item's latency until the stream ends or a grace second past `deadline` (for
/// the last items in flight).
async fn listen(mut stream: Watcher, deadline: Instant) -> Histogram<u64> {
    use futures_util::StreamExt;
    let mut latencies = histogram();
    let end = tokio::time::sleep_until((deadline + Duration::from_secs(1)).into());
    tokio::pin!(end);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Some(at)) => {
                    let at = SystemTime::UNIX_EPOCH + Duration::new(at.seconds as u64, at.nanos as u32);
                    record(&mut latencies, SystemTime::now().duration_since(at).unwrap_or_default());
                }
                Some(None) => {}
                None => break,
            },
            _ = &mut end => break,
        }
    }
    latencies
}
