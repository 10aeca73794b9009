//! The raw store baseline: what the database alone does for the rows one CreateTicket writes
//! (a ticket row with its JSON document, and its event), through sqlx in this process, with
//! the server's durability (SQLite: WAL, `synchronous=FULL`; PostgreSQL: its defaults).
//! `--batch 1` commits every write on its own; a larger batch commits up to that many queued
//! writes together (the group commit casework's SQLite writer does).
use crate::Result;
use crate::report::{Report, Tally};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(clap::Args)]
pub struct StoreArgs {
    /// A fresh database (sqlite://… or postgres://…); casework's migrations are applied.
    #[arg(long)]
    pub database_url: String,
    /// Writers waiting for their commit at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Writes per transaction at most (1: one transaction per write).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Database connections committing (SQLite allows one writer).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
}

const INSERT_TICKET: &str = "INSERT INTO tickets (id, number, status, priority, queue, \
     channel, ticket_type, source, customer_id, language, country, ccr, order_id, subject, \
     created_at, updated_at, version, doc) VALUES ($1, $2, 'CREATED', $3, 'chat-sg-en', 'chat', \
     '', '', $4, '', '', '', '', $5, $6, $6, 1, $7::jsonb)";

type Write = (u64, oneshot::Sender<std::result::Result<(), String>>);

pub async fn run(args: StoreArgs) -> Result<()> {
    sqlx::any::install_default_drivers();
    // The schema, exactly as the server creates it.
    casework::store::connect(&args.database_url)
        .await?
        .close()
        .await;
    let sqlite = args.database_url.starts_with("sqlite:");
    let options = AnyConnectOptions::from_str(&args.database_url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(args.connections as u32)
        .connect_with(options)
        .await?;
    let (queue, receiver) = mpsc::channel::<Write>(args.concurrency * 2);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..args.connections {
        let mut conn = pool.acquire().await?.detach();
        if sqlite {
            // The server's durability (the migrations left the file in WAL mode).
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut conn)
                .await?;
        }
        tokio::spawn(writer(conn, receiver.clone(), args.batch, sqlite));
    }
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(args.warmup);
    let until = from + Duration::from_secs_f64(args.seconds);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut producers = Vec::new();
    for _ in 0..args.concurrency {
        let queue = queue.clone();
        let next = next.clone();
        producers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (done, outcome) = oneshot::channel();
                if queue.send((n, done)).await.is_err() {
                    break;
                }
                let outcome = match outcome.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(error.into()),
                    Err(_) => Err("the writer stopped".into()),
                };
                if began >= from {
                    tally.add(began.elapsed(), outcome);
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for producer in producers {
        total.merge(producer.await?);
    }
    let mode = if args.batch > 1 {
        "store-group"
    } else {
        "store-tx"
    };
    Report::new(
        mode,
        "closed",
        args.concurrency,
        None,
        Duration::from_secs_f64(args.seconds),
        &total,
    )
    .print();
    Ok(())
}

/// Takes up to `batch` queued writes, runs them in one transaction, answers after COMMIT.
async fn writer(
    mut conn: AnyConnection,
    queue: Arc<Mutex<mpsc::Receiver<Write>>>,
    batch: usize,
    sqlite: bool,
) {
    loop {
        let mut writes = Vec::with_capacity(batch);
        {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(write) => writes.push(write),
                None => return,
            }
            while writes.len() < batch {
                match queue.try_recv() {
                    Ok(write) => writes.push(write),
                    Err(_) => break,
                }
            }
        }
        let outcome = commit(&mut conn, &writes, sqlite).await;
        for (_, done) in writes {
            let _ = done.send(outcome.clone().map_err(|e| e.to_string()));
        }
    }
}

async fn commit(
    conn: &mut AnyConnection,
    writes: &[Write],
    sqlite: bool,
) -> std::result::Result<(), String> {
    // The document column is JSONB on PostgreSQL.
    let insert_ticket = if sqlite {
        INSERT_TICKET.replace("$7::jsonb", "$7")
    } else {
        INSERT_TICKET.to_string()
    };
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().timestamp_micros();
    for (n, _) in writes {
        let id = uuid::Uuid::now_v7().to_string();
        let doc = serde_json::json!({
            "id": id, "status": "CREATED", "priority": n % 5, "queue": "chat-sg-en",
            "channel": "chat", "type": "", "source": "",
            "customer": {"id": format!("bench-customer-{}", n % 5000), "name": "Bench Customer"},
            "subject": format!("Order {n} arrived cold"), "version": 1,
            "created_at": now, "updated_at": now, "tags": [], "metadata": {},
        })
        .to_string();
        sqlx::query(&insert_ticket)
            .bind(&id)
            // Numbers from the loop's counter: the database is fresh.
            .bind(*n as i64 + 1)
            .bind((n % 5) as i64)
            .bind(format!("bench-customer-{}", n % 5000))
            .bind(format!("Order {n} arrived cold"))
            .bind(now)
            .bind(&doc)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(
            "INSERT INTO ticket_events (ticket_id, event_type, actor, at, version, payload, \
             queue, customer_id) VALUES ($1, 'CREATED', 'bench', $2, 1, '{}', 'chat-sg-en', $3)",
        )
        .bind(&id)
        .bind(now)
        .bind(format!("bench-customer-{}", n % 5000))
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}
