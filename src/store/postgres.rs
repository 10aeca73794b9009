//! The PostgreSQL store: a pool of connections shared by any number of replicas; each write is
//! one READ COMMITTED transaction that locks the rows it decides on, run again (a bounded
//! number of times) when the database aborts it to resolve a conflict. Migrations from
//! `migrations/postgres`.
use super::pg_commits::Commits;
use super::sql::{on_constraint, sql_store, sql_tx};
use super::sql_conversations::sql_conversations;
use super::sql_reports::sql_reports;
use super::{Store, Work};
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a pooled connection may sit idle before it is pinged on its next use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);
/// Runs of a write the database aborted (serialization failure, deadlock) before giving up.
const MAX_ATTEMPTS: u32 = 8;
/// Runs of a write whose connection died under it: once more on a fresh connection, not
/// eight times against a server that may be going down.
const MAX_RUNS_AFTER_LOST_CONNECTION: u32 = 2;

pub struct PgStore {
    pool: PgPool,
    /// Connections kept for the commit listener and the leader lock.
    sessions: PgPool,
    commits: Arc<Commits>,
    /// The connection holding the leader lock, while this process leads.
    leader: tokio::sync::Mutex<Option<PoolConnection<sqlx::Postgres>>>,
    stop: CancellationToken,
}

/// The longest the leader lock's check may take before the lock is given up.
const LEADER_CHECK: Duration = Duration::from_secs(5);

/// The session advisory lock the leading replica holds (advisory locks are per database).
const LEADER_LOCK: i64 = 0x6361_7365_776f_726b; // "casework"

/// SQLSTATEs for which running the whole transaction again is the remedy: serialization
/// failure and deadlock.
fn retryable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40001") | Some("40P01")))
}

/// The connection died. Before COMMIT the server rolled the transaction back, so running it
/// again on another connection is safe; at COMMIT the outcome is unknown, so a lost COMMIT is
/// never retried.
fn connection_gone(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => super::connection_lost(db.code().as_deref()),
        _ => false,
    }
}

/// A unique violation from a concurrent write with the same idempotency key: the write run
/// again finds the row the other one committed and answers as a replay.
fn concurrent_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation()
            && matches!(db.constraint(), Some("idempotency_keys_pkey") | Some("messages_idempotency")))
}

/// A short random pause before the `attempt`th run, growing with each attempt.
fn backoff(attempt: u32) -> Duration {
    let cap = 5u64 << attempt.min(5);
    Duration::from_millis(rand::random_range(1..=cap))
}

impl PgStore {
    pub async fn connect(url: &str, settings: &super::PoolSettings) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        // Set on every connection: no statement runs forever, and no transaction left open
        // by a stuck caller holds its locks for long. No JIT: its compile time (40-130 ms on
        // a 1M-ticket report) is more than it saves on queries this short. Random reads cost
        // about what sequential ones do on the SSDs databases run on (PostgreSQL's default
        // assumes spinning disks, and scanned the report table rather than walk its index).
        // Sorts and hashes of up to 64 MB stay in memory: a 90-day report by agent at 1M
        // tickets adds up 440k rows, which the default 4 MB sorted on disk.
        let session_limits = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}; \
             SET jit = off; SET random_page_cost = 1.1; SET work_mem = '64MB'",
            settings.statement_timeout.as_millis(),
            settings.idle_in_transaction_timeout.as_millis()
        );
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A connection that sat idle may have been cut (a server restart, a proxy):
            // pinged before use, and dropped if dead. One in steady use is not, which saves
            // a round trip per call.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < IDLE_BEFORE_PING {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .after_connect(move |conn, _| {
                let session_limits = session_limits.clone();
                Box::pin(async move {
                    conn.execute(session_limits.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        // Two long-lived connections of their own, so calls never wait behind them: one
        // listens for other replicas' commits, one holds the leader lock.
        let sessions = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        let stop = CancellationToken::new();
        let commits = Commits::start(pool.clone(), &sessions, stop.clone()).await?;
        Ok(PgStore {
            pool,
            sessions,
            commits,
            leader: tokio::sync::Mutex::new(None),
            stop,
        })
    }

    /// Tells every replica, with the change's commit, that agents or reference data changed.
    const ANNOUNCE_REFERENCE: Option<&'static str> = Some(super::pg_commits::ANNOUNCE_REFERENCE);

    /// Agents or reference data changed: this process hears at once, the others by
    /// notification.
    fn reference_written(&self) {
        self.commits.reference_written();
    }

    /// The pool reads use.
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `attempt` in a transaction and commits it; runs it again in a new transaction
    /// while it (or the commit) failed in a way it says another run may fix.
    async fn transaction<T, F>(&self, attempt: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, (Result<T>, bool)> + Send + Sync,
    {
        let mut run = 1;
        let gone = super::caller_gone();
        loop {
            if gone.as_ref().is_some_and(CancellationToken::is_cancelled) {
                return Err(super::caller_left());
            }
            let mut tx = self.pool.begin().await?;
            // Up to its commit a write is dropped (and rolled back) when its caller leaves,
            // e.g. while it waits for a row another transaction holds.
            let (outcome, retry) = match &gone {
                Some(gone) => tokio::select! {
                    done = attempt(&mut tx) => done,
                    _ = gone.cancelled() => return Err(super::caller_left()),
                },
                None => attempt(&mut tx).await,
            };
            let (error, retry) = match outcome {
                Ok(value) => match tx.commit().await {
                    Ok(()) => return Ok(value),
                    // The database may have committed before the connection went.
                    Err(error) if connection_gone(&error) => {
                        tracing::warn!(%error, "connection lost during COMMIT");
                        return Err(Error::OutcomeUnknown(
                            "the database connection was lost while the write committed; \
                             read before retrying"
                                .into(),
                        ));
                    }
                    Err(error) => {
                        let retry = retryable(&error);
                        (error.into(), retry)
                    }
                },
                Err(error) => {
                    // A failed rollback means a lost connection: the server rolls back.
                    let _ = tx.rollback().await;
                    (error, retry)
                }
            };
            let most = match error {
                Error::Unavailable(_) => MAX_RUNS_AFTER_LOST_CONNECTION,
                _ => MAX_ATTEMPTS,
            };
            if !retry || run >= most {
                return Err(error);
            }
            tracing::debug!(%error, run, "write aborted by a conflict; running it again");
            tokio::time::sleep(backoff(run)).await;
            run += 1;
        }
    }

    /// Runs `work` in one write transaction (see [`PgStore::transaction`]).
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + Sync,
    {
        self.transaction(|conn| {
            let done = work(conn);
            Box::pin(async move { (done.await, false) })
        })
        .await
    }
}

/// Gathers a column into a JSON array (`NULL` over no rows; the query says `'[]'` then).
const JSON_ARRAY_AGG: &str = "jsonb_agg";
/// How a query's plan is asked for, and the column it comes back in.
const EXPLAIN: &str = "EXPLAIN ";
const EXPLAIN_COLUMN: &str = "QUERY PLAN";

/// The transaction primitives inside one PostgreSQL transaction; `retry` notes an error
/// that running the write again may fix, `failed` any database error at all (after one,
/// PostgreSQL has aborted the transaction and its COMMIT quietly rolls back).
struct PgTx<'c> {
    conn: &'c mut PgConnection,
    retry: bool,
    failed: bool,
    /// A row is locked or written, so the transaction has its id (see `pg_commits`).
    holds_rows: bool,
    /// Report figures to write before the commit.
    report: crate::domain::report::ReportRows,
    /// What runs once the transaction is committed (an attempt that is retried drops its own).
    after_commit: Vec<crate::store::CommitHook>,
}

impl PgTx<'_> {
    const LOCK: &'static str = " FOR UPDATE";
    /// Concurrent routing takes different waiting tickets instead of queueing on one.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    /// Numbers from a sequence: unique and increasing, with gaps where a write rolled back.
    const NEXT_NUMBER: &'static str = "SELECT nextval('ticket_numbers')";

    fn check<T>(&mut self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        result.map_err(|error| {
            self.failed = true;
            if retryable(&error) || concurrent_duplicate(&error) || connection_gone(&error) {
                self.retry = true;
            }
            on_constraint(error)
        })
    }

    fn holds_rows(&mut self) {
        self.holds_rows = true;
    }

    /// A transaction takes its id before any event id, so the committed position can tell
    /// when every id below a gap is over (`pg_commits`). Locking or writing a row gave it
    /// one; otherwise it asks for one.
    async fn before_event_ids(&mut self) -> Result<()> {
        if !self.holds_rows {
            let assigned = sqlx::query("SELECT pg_current_xact_id()")
                .execute(&mut *self.conn)
                .await;
            self.check(assigned)?;
            self.holds_rows = true;
        }
        Ok(())
    }

    fn inserted_event(&mut self, _id: i64) {}
}

sql_tx!(PgTx, sqlx::Postgres);
sql_store!(PgStore, sqlx::Postgres);
sql_conversations!(PgStore, sqlx::Postgres);
sql_reports!(PgStore, sqlx::Postgres);

#[async_trait]
impl Store for PgStore {
    async fn run_write(&self, work: Work) -> Result<()> {
        let work = Arc::new(work);
        let hooks = self
            .transaction(move |conn| {
                let work = work.clone();
                Box::pin(async move {
                    let mut tx = PgTx {
                        conn,
                        retry: false,
                        failed: false,
                        holds_rows: false,
                        report: Default::default(),
                        after_commit: Vec::new(),
                    };
                    let outcome = match work(&mut tx).await {
                        Ok(()) => tx.flush_report().await,
                        failed => failed,
                    }
                    .map(|()| std::mem::take(&mut tx.after_commit));
                    let outcome = match outcome {
                        // A closure that caught a database error and went on would otherwise
                        // "commit" a transaction PostgreSQL has already aborted.
                        Ok(_) if tx.failed => Err(Error::Internal(
                            "a write went on after a database error".into(),
                        )),
                        outcome => outcome,
                    };
                    (outcome, tx.retry)
                })
            })
            .await?;
        self.commits.committed();
        for hook in hooks {
            hook();
        }
        Ok(())
    }

    fn commits(&self) -> watch::Receiver<i64> {
        self.commits.subscribe()
    }

    fn commits_behind_gap(&self) -> watch::Receiver<i64> {
        self.commits.behind_gap()
    }

    fn reference_changed(&self) -> watch::Receiver<u64> {
        self.commits.reference_changed()
    }

    async fn committed_now(&self) -> Result<i64> {
        self.commits.now().await
    }

    /// Leads while it holds the database's leader lock, on a connection kept for it (the
    /// lock goes with the connection, so a replica that dies hands it on).
    async fn lead(&self) -> bool {
        let mut leader = self.leader.lock().await;
        if let Some(conn) = leader.as_mut() {
            let alive =
                tokio::time::timeout(LEADER_CHECK, sqlx::query("SELECT 1").execute(&mut **conn));
            if matches!(alive.await, Ok(Ok(_))) {
                return true;
            }
            tracing::warn!("lost the leader lock's connection");
            // Closed, never back to the pool: a session that may still hold the lock must
            // not serve anything else.
            if let Some(conn) = leader.take() {
                drop(conn.detach());
            }
        }
        let Ok(mut conn) = self.sessions.acquire().await else {
            return false;
        };
        // The server notices a vanished leader (a host gone without closing its socket)
        // within about 20 s, and frees the lock for another replica.
        let locked = tokio::time::timeout(
            LEADER_CHECK,
            sqlx::query_as::<_, (String, String, String, bool)>(
                "SELECT set_config('tcp_keepalives_idle', '10', false), \
                 set_config('tcp_keepalives_interval', '3', false), \
                 set_config('tcp_keepalives_count', '3', false), pg_try_advisory_lock($1)",
            )
            .bind(LEADER_LOCK)
            .fetch_one(&mut *conn),
        )
        .await;
        match locked {
            Ok(Ok((_, _, _, true))) => {
                tracing::info!("this replica now runs the timers and routing reconciliation");
                *leader = Some(conn);
                true
            }
            Ok(Ok(_)) => false,
            _ => {
                drop(conn.detach());
                false
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.stop.cancel();
        self.leader.lock().await.take();
        self.sessions.close().await;
        self.pool.close().await;
    }
}
