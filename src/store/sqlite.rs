//! The SQLite store: WAL, `synchronous=FULL`, one writer connection (so no caller ever sees
//! `database is locked`) and a separate read pool. Migrations from `migrations/sqlite`.
use super::sql::{on_constraint, sql_store, sql_tx};
use super::sql_conversations::sql_conversations;
use super::sql_reports::sql_reports;
use super::{Store, Work};
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most writes committed together by one `COMMIT`.
const MAX_BATCH: usize = 128;
/// How often the writer checkpoints the WAL (PASSIVE: never waits for readers) so it cannot
/// grow without bound under constant readers, and refreshes the planner's statistics.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);
/// SQLite's advice for a long-lived connection: check every table at start-up, then now and
/// then (each run analyses only the tables whose size changed a lot, within a bounded cost).
const OPTIMIZE_AT_START: &str = "PRAGMA optimize = 0x10002";
const OPTIMIZE: &str = "PRAGMA optimize";

/// What the writer hands back after COMMIT: delivers the job's result, or the commit error.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write: runs on the writer connection inside the batch's transaction, in its own
/// savepoint; says whether it succeeded (else its savepoint is rolled back).
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;

pub struct SqliteStore {
    /// Queued writes for the one writer connection (group commit).
    jobs: mpsc::Sender<Job>,
    writer: CancellationToken,
    /// The writer's task: `close` waits for it, so the file is closed when `close` returns.
    writer_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    read: SqlitePool,
    /// The newest committed event id (one writer: ids commit in order).
    commits: Arc<watch::Sender<i64>>,
    /// Counts committed changes to agents and reference data.
    reference: watch::Sender<u64>,
    /// Never changes (`Store::commits_behind_gap`).
    no_gaps: watch::Sender<i64>,
}

impl SqliteStore {
    /// The read pool.
    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let mut writer = SqliteConnection::connect_with(&options).await?;
        MIGRATOR.run(&mut writer).await?;
        // Statistics for the query planner, so lists pick the index that fits their filter
        // (only tables that changed much since the last run are analysed).
        sqlx::query(OPTIMIZE_AT_START).execute(&mut writer).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            // A SQLite connection does not drop like a network one: pinging it before each
            // use only costs a round trip to its worker thread.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        let last_event: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
            .fetch_one(&read)
            .await?;
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        let stop = CancellationToken::new();
        let writer_task = tokio::spawn(run_writer(writer, queue, stop.clone()));
        Ok(SqliteStore {
            jobs,
            writer: stop,
            writer_task: std::sync::Mutex::new(Some(writer_task)),
            read,
            commits: Arc::new(watch::Sender::new(last_event)),
            reference: watch::Sender::new(0),
            no_gaps: watch::Sender::new(0),
        })
    }

    /// One process per file: nothing to tell anyone else.
    const ANNOUNCE_REFERENCE: Option<&'static str> = None;

    /// Agents or reference data changed (the write has committed).
    fn reference_written(&self) {
        self.reference.send_modify(|count| *count += 1);
    }

    /// Runs `work` on the writer connection as part of the next group commit and returns its
    /// result once that commit is durable.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.write_then(work, |_| {}).await
    }

    /// [`SqliteStore::write`], calling `committed` with the result once it is durable (on
    /// the writer, before the caller hears of it).
    async fn write_then<T, F, C>(&self, work: F, committed: C) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (reply, result) = oneshot::channel::<Result<T>>();
        let gone = super::caller_gone();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                if gone.as_ref().is_some_and(CancellationToken::is_cancelled) {
                    // Its caller left while it waited for the writer: not run at all.
                    let completion: Completion = Box::new(move |_| {
                        let _ = reply.send(Err(super::caller_left()));
                    });
                    return (true, completion);
                }
                let outcome = work(conn).await;
                let ok = outcome.is_ok();
                let completion: Completion = Box::new(move |commit_error| {
                    let _ = reply.send(match commit_error {
                        None => {
                            if let Ok(value) = &outcome {
                                committed(value);
                            }
                            outcome
                        }
                        // The writer logs the detail; the caller hears it may retry.
                        Some(_) => Err(Error::Unavailable(
                            "the write could not be committed; retry".into(),
                        )),
                    });
                });
                (ok, completion)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the store is closed".into()))?;
        result
            .await
            .map_err(|_| Error::Unavailable("the store writer stopped".into()))?
    }
}

/// The writer: takes every queued write (up to `MAX_BATCH`), runs them in one
/// `BEGIN IMMEDIATE` transaction, each in a savepoint, and answers them all after `COMMIT`.
async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Job>,
    stop: CancellationToken,
) {
    let mut checkpoint = tokio::time::interval(CHECKPOINT_EVERY);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            job = queue.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = checkpoint.tick() => {
                if let Err(error) = exec(&mut conn, "PRAGMA wal_checkpoint(PASSIVE)").await {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
                if let Err(error) = exec(&mut conn, OPTIMIZE).await {
                    tracing::warn!(%error, "PRAGMA optimize failed");
                }
                continue;
            }
            _ = stop.cancelled() => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let error = run_batch(&mut conn, batch).await;
        if let Some(error) = error {
            tracing::error!(%error, "group commit failed");
        }
    }
    let _ = conn.close().await;
}

/// Runs `sql` (one or more statements, in one round trip) on the writer. A named, boxed
/// future so rustc checks sqlx's executor lifetimes with the connection's lifetime concrete
/// (rust-lang/rust#102211 otherwise bites at spawn).
fn exec<'c>(
    conn: &'c mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move { sqlx::query(sql).execute(conn).await.map(drop) })
}

async fn run_batch(conn: &mut SqliteConnection, batch: Vec<Job>) -> Option<String> {
    // A lone job needs no savepoint: if it fails, the whole transaction is rolled back.
    let isolate = batch.len() > 1;
    // Each boundary between jobs is one round trip to the connection's worker thread: the
    // statements closing one job's savepoint and opening the next go together.
    let begin = if isolate {
        "BEGIN IMMEDIATE; SAVEPOINT job"
    } else {
        "BEGIN IMMEDIATE"
    };
    if let Err(error) = exec(conn, begin).await {
        // Dropping the jobs drops their replies: callers get `Unavailable`.
        let _ = exec(conn, "ROLLBACK").await;
        return Some(error.to_string());
    }
    let mut completions = Vec::with_capacity(batch.len());
    let mut failure = None;
    let mut lone_failed = false;
    let jobs = batch.len();
    for (i, job) in batch.into_iter().enumerate() {
        // A panicking job must not take the writer down with it: roll back its savepoint
        // and keep serving (its caller sees the store as unavailable).
        let (ok, completion) = match std::panic::AssertUnwindSafe(job(conn)).catch_unwind().await {
            Ok(done) => done,
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                (false, Box::new(|_: Option<&str>| {}) as Completion)
            }
        };
        completions.push(completion);
        let last = i + 1 == jobs;
        let boundary = match (isolate, ok, last) {
            (false, true, _) => "COMMIT",
            (false, false, _) => {
                lone_failed = true;
                break;
            }
            (true, true, false) => "RELEASE job; SAVEPOINT job",
            (true, false, false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (true, true, true) => "RELEASE job; COMMIT",
            (true, false, true) => "ROLLBACK TO job; RELEASE job; COMMIT",
        };
        if let Err(error) = exec(conn, boundary).await {
            failure = Some(error.to_string());
            break;
        }
    }
    if failure.is_some() || lone_failed {
        // A lone failed job answers with its own error; its changes go with the rollback.
        let _ = exec(conn, "ROLLBACK").await;
    }
    for completion in completions {
        completion(failure.as_deref());
    }
    failure
}

/// The transaction primitives on the writer connection, inside the group commit's
/// `BEGIN IMMEDIATE` (which already holds every row, so "for update" reads are plain reads).
struct SqliteTx<'c> {
    conn: &'c mut SqliteConnection,
    /// The newest event id this write inserted (0: none).
    last_event: i64,
    /// Report figures to write when the work is done.
    report: crate::domain::report::ReportRows,
    /// What runs once the transaction is committed.
    after_commit: Vec<crate::store::CommitHook>,
}

impl SqliteTx<'_> {
    /// The writer holds the whole database: no row needs locking.
    const LOCK: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    /// One writer, so the next number is free until this transaction commits.
    const NEXT_NUMBER: &'static str = "SELECT COALESCE(MAX(number), 0) + 1 FROM tickets";

    fn check<T>(&mut self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        result.map_err(on_constraint)
    }

    /// The writer holds the whole database: nothing to note.
    fn holds_rows(&mut self) {}

    /// One writer: ids are committed in the order they are taken.
    async fn before_event_ids(&mut self) -> Result<()> {
        Ok(())
    }

    fn inserted_event(&mut self, id: i64) {
        self.last_event = self.last_event.max(id);
    }
}

sql_tx!(SqliteTx, sqlx::Sqlite);
sql_store!(SqliteStore, sqlx::Sqlite);
sql_conversations!(SqliteStore, sqlx::Sqlite);
sql_reports!(SqliteStore, sqlx::Sqlite);

/// Gathers a column into a JSON array (SQLite ≥ 3.44 takes the ORDER BY inside the call).
const JSON_ARRAY_AGG: &str = "json_group_array";
/// How a query's plan is asked for, and the column it comes back in.
const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";
const EXPLAIN_COLUMN: &str = "detail";

#[async_trait]
impl Store for SqliteStore {
    async fn run_write(&self, work: Work) -> Result<()> {
        let commits = self.commits.clone();
        self.write_then(
            move |conn| {
                Box::pin(async move {
                    let mut tx = SqliteTx {
                        conn,
                        last_event: 0,
                        report: Default::default(),
                        after_commit: Vec::new(),
                    };
                    work(&mut tx).await?;
                    tx.flush_report().await?;
                    Ok((tx.last_event, std::sync::Mutex::new(tx.after_commit)))
                })
            },
            move |(last_event, hooks)| {
                // On the writer, before the caller hears: they run even if it went away.
                let hooks = hooks.lock().map(|mut h| std::mem::take(&mut *h));
                for hook in hooks.unwrap_or_default() {
                    hook();
                }
                commits.send_if_modified(|current| {
                    let newer = *last_event > *current;
                    *current = (*current).max(*last_event);
                    newer
                });
            },
        )
        .await
        .map(drop)
    }

    fn commits(&self) -> watch::Receiver<i64> {
        self.commits.subscribe()
    }

    /// One writer, no gaps: the position passes every commit at once.
    fn commits_behind_gap(&self) -> watch::Receiver<i64> {
        self.no_gaps.subscribe()
    }

    fn reference_changed(&self) -> watch::Receiver<u64> {
        self.reference.subscribe()
    }

    /// Published by the writer before any caller hears of its commit: always up to date.
    async fn committed_now(&self) -> Result<i64> {
        Ok(*self.commits.borrow())
    }

    /// One process per SQLite file: it always leads.
    async fn lead(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<()> {
        if self.jobs.is_closed() {
            return Err(Error::Unavailable("the store writer stopped".into()));
        }
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.cancel();
        let writer = self
            .writer_task
            .lock()
            .ok()
            .and_then(|mut task| task.take());
        if let Some(writer) = writer {
            // It finishes the batch in hand, then closes its connection.
            let _ = writer.await;
        }
        self.read.close().await;
    }
}
