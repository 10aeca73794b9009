//! `reports`: GetReport over a large store. Fills the report counters with a synthetic load —
//! N tickets over D days in 4 queues, 50 agents and 2 channels, each created, assigned,
//! answered and closed, a third rated — through the store's own report write path
//! (`Tx::add_to_report`, 1,000 tickets per transaction) and compacts it as the server does
//! past slots (`Tx::compact_report`), then times reports of the whole
//! range: by day and by week, with each grouping, in Europe/Berlin.
use crate::Result;
use casework::app::reports::ReportRequest;
use casework::app::{App, AppConfig};
use casework::clock::SystemClock;
use casework::domain::Principal;
use casework::domain::report::{
    Bucket, Counts, DurationKind, Grain, GroupBy, GroupKey, ReportDelta, SHARDS, row_ranges, slot,
};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ReportsArgs {
    /// A fresh database (sqlite://… or postgres://…); filled unless it already holds counters.
    #[arg(long)]
    pub database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: u64,
    #[arg(long, default_value_t = 90)]
    pub days: i64,
    /// Timed runs of each report.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

const QUEUES: [&str; 4] = ["chat-sg-en", "chat-de-de", "email-sg-en", "vendor-sg-en"];
const CHANNELS: [&str; 2] = ["chat", "email"];
const AGENTS: u64 = 50;
const PER_WRITE: u64 = 1000;

fn key(queue: &str, agent: Option<u64>, channel: &str) -> GroupKey {
    GroupKey {
        queue: queue.to_string(),
        agent: agent
            .map(|a| format!("agent-{a}@example.com"))
            .unwrap_or_default(),
        channel: channel.to_string(),
    }
}

/// The report deltas of one ticket's life, as the write path makes them.
fn life(rng: &mut rand::rngs::SmallRng, end: i64, days: i64) -> Vec<ReportDelta> {
    let created = end - rng.random_range(0..days * 86_400);
    let queue = QUEUES[rng.random_range(0..QUEUES.len())];
    let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
    let agent = rng.random_range(0..AGENTS);
    let shard = rng.random_range(0..SHARDS);
    let at = |t: i64| slot(chrono::DateTime::from_timestamp(t, 0).unwrap_or_default());
    let waiting = key(queue, None, channel);
    let held = key(queue, Some(agent), channel);
    let assigned = created + rng.random_range(5..600);
    let replied = assigned + rng.random_range(5..900);
    let closed = replied + rng.random_range(60..86_400);
    let delta = |t: i64, counts: Vec<(GroupKey, Counts)>, durations| ReportDelta {
        slot: at(t),
        shard,
        counts,
        durations,
    };
    let mut deltas = vec![
        delta(
            created,
            vec![(
                waiting.clone(),
                Counts {
                    created: 1,
                    backlog: 1,
                    ..Counts::default()
                },
            )],
            vec![],
        ),
        delta(
            assigned,
            vec![
                (
                    waiting,
                    Counts {
                        backlog: -1,
                        ..Counts::default()
                    },
                ),
                (
                    held.clone(),
                    Counts {
                        backlog: 1,
                        ..Counts::default()
                    },
                ),
            ],
            vec![],
        ),
        delta(
            replied,
            vec![],
            vec![(held.clone(), DurationKind::FirstReply, replied - created)],
        ),
        delta(
            closed,
            vec![(
                held.clone(),
                Counts {
                    closed: 1,
                    backlog: -1,
                    sla_closed: 1,
                    sla_within: i64::from(rng.random_bool(0.8)),
                    ..Counts::default()
                },
            )],
            vec![(held.clone(), DurationKind::Resolution, closed - created)],
        ),
    ];
    if rng.random_bool(0.33) {
        let mut ratings = [0; 5];
        ratings[rng.random_range(0..5)] = 1;
        deltas.push(delta(
            closed + 60,
            vec![(
                held,
                Counts {
                    ratings,
                    ..Counts::default()
                },
            )],
            vec![],
        ));
    }
    deltas
}

pub async fn run(args: ReportsArgs) -> Result<()> {
    let store = casework::store::connect(&args.database_url).await?;
    let end = chrono::Utc::now().timestamp();
    let start = end - args.days * 86_400;
    let to_time = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
    let slots = (slot(to_time(start)), slot(to_time(end)) + 1);
    let whole = row_ranges(&[slots]);
    let filled = !store
        .report_figures(&whole, GroupBy::Nothing, &[])
        .await?
        .is_empty();
    if !filled {
        let began = Instant::now();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut written = 0;
        while written < args.tickets {
            let n = PER_WRITE.min(args.tickets - written);
            let deltas: Vec<ReportDelta> = (0..n)
                .flat_map(|_| life(&mut rng, end, args.days))
                .collect();
            store
                .write(move |tx| {
                    let deltas = deltas.clone();
                    Box::pin(async move {
                        for delta in deltas {
                            tx.add_to_report(delta);
                        }
                        Ok(())
                    })
                })
                .await?;
            written += n;
        }
        eprintln!(
            "filled {} tickets over {} days in {:.1} s",
            args.tickets,
            args.days,
            began.elapsed().as_secs_f64()
        );
        // What the server's compaction does to past slots as they pass, a day per write (from
        // a whole hour, so every hour row lies inside one day).
        let began = Instant::now();
        let mut folded = 0;
        for day in (Grain::Hour.start(slots.0)..slots.1).step_by(96) {
            folded += store
                .write(move |tx| Box::pin(tx.compact_report((day, day + 96))))
                .await?;
        }
        eprintln!(
            "compacted {folded} sharded rows in {:.1} s",
            began.elapsed().as_secs_f64()
        );
        if args.database_url.starts_with("postgres") {
            // The bulk compaction left millions of dead rows behind, which a server folding a
            // few slots every five minutes never has: the tables are rewritten before timing.
            use sqlx::{Connection, Executor};
            let mut conn = sqlx::PgConnection::connect(&args.database_url).await?;
            for table in ["report_channels", "report_agents"] {
                conn.execute(format!("VACUUM FULL ANALYZE {table}").as_str())
                    .await?;
            }
        }
    }
    let app = App::new(store.clone(), Arc::new(SystemClock), AppConfig::default()).await?;
    let principal = Principal::Service {
        name: "bench".into(),
    };
    for (bucket, bucket_name) in [(Bucket::Day, "day"), (Bucket::Week, "week")] {
        for (group_by, group_name) in [
            (GroupBy::Nothing, "none"),
            (GroupBy::Queue, "queue"),
            (GroupBy::Agent, "agent"),
            (GroupBy::Channel, "channel"),
        ] {
            let request = ReportRequest {
                start: Some(to_time(start)),
                end: Some(to_time(end)),
                time_zone: "Europe/Berlin".into(),
                bucket: Some(bucket),
                group_by,
                queues: Vec::new(),
            };
            let mut times = Vec::new();
            let mut rows = 0;
            let mut created = 0;
            for _ in 0..args.runs {
                let began = Instant::now();
                let report = app.report(&principal, request.clone()).await?;
                times.push(began.elapsed().as_secs_f64() * 1000.0);
                rows = report.len();
                created = report.iter().map(|r| r.counts.created).sum::<i64>();
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{}",
                serde_json::json!({
                    "workload": "report",
                    "tickets": args.tickets,
                    "days": args.days,
                    "bucket": bucket_name,
                    "group_by": group_name,
                    "rows": rows,
                    "created": created,
                    "median_ms": times[times.len() / 2],
                    "max_ms": times[times.len() - 1],
                })
            );
        }
    }
    store.close().await;
    Ok(())
}
