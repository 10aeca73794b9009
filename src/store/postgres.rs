//! The PostgreSQL store: a pool of connections shared by any number of replicas; each write is
//! one READ COMMITTED transaction that locks the rows it decides on, run again (a bounded
//! number of times) when the database aborts it to resolve a conflict. Migrations from
//! `migrations/postgres`.
use super::sql::{on_constraint, sql_store, sql_tx};
use super::sql_conversations::sql_conversations;
use super::{Store, Work};
use crate::error::{Error, Result};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Runs of a write the database aborted (serialization failure, deadlock) before giving up.
const MAX_ATTEMPTS: u32 = 8;

pub struct PgStore {
    pool: PgPool,
}

/// SQLSTATEs for which running the whole transaction again is the remedy: serialization
/// failure and deadlock.
fn retryable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40001") | Some("40P01")))
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
        // by a stuck caller holds its locks for long.
        let session_limits = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}",
            settings.statement_timeout.as_millis(),
            settings.idle_in_transaction_timeout.as_millis()
        );
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(true)
            .after_connect(move |conn, _| {
                let session_limits = session_limits.clone();
                Box::pin(async move {
                    conn.execute(session_limits.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
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
        loop {
            let mut tx = self.pool.begin().await?;
            let (outcome, retry) = attempt(&mut tx).await;
            let (error, retry) = match outcome {
                Ok(value) => match tx.commit().await {
                    Ok(()) => return Ok(value),
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
            if !retry || run >= MAX_ATTEMPTS {
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

/// The transaction primitives inside one PostgreSQL transaction; `retry` notes an error
/// that running the write again may fix, `failed` any database error at all (after one,
/// PostgreSQL has aborted the transaction and its COMMIT quietly rolls back).
struct PgTx<'c> {
    conn: &'c mut PgConnection,
    retry: bool,
    failed: bool,
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
            if retryable(&error) || concurrent_duplicate(&error) {
                self.retry = true;
            }
            on_constraint(error)
        })
    }
}

sql_tx!(PgTx, sqlx::Postgres);
sql_store!(PgStore, sqlx::Postgres);
sql_conversations!(PgStore, sqlx::Postgres);

#[async_trait]
impl Store for PgStore {
    async fn run_write(&self, work: Work) -> Result<()> {
        let work = Arc::new(work);
        self.transaction(move |conn| {
            let work = work.clone();
            Box::pin(async move {
                let mut tx = PgTx {
                    conn,
                    retry: false,
                    failed: false,
                };
                let outcome = match work(&mut tx).await {
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
        .await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
