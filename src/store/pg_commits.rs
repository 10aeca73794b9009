//! How far the event log is committed on PostgreSQL, across every replica on the database.
//!
//! Event ids come from a sequence: taken in one order, committed in another. A reader that
//! sees id 11 may not yet see id 10 — its transaction is still running — so "events after
//! 11" would miss 10 forever. This module publishes the *committed position*: the highest id
//! below which every id is either visible or will never appear.
//!
//! - Ids visible without a gap below them are final.
//! - A gap (an id not visible while a higher one is) belongs to a transaction that took its
//!   event id before that snapshot; a transaction that writes events has already locked or
//!   written its ticket, so it held a transaction id before it took the event id. Right after
//!   the snapshot the tracker takes a transaction id of its own, the gap's horizon: newer
//!   than the owner's. Once no transaction older than the horizon is running, the owner is
//!   over: what it committed is visible, what is still missing rolled back, and the gap is
//!   passed.
//!
//! Commits of this process wake the tracker at once and are announced to the other replicas
//! with one `NOTIFY` after the commit (never inside the transaction, where it would serialise
//! every commit on the notification queue's lock), many commits per notification under load;
//! the others `LISTEN`. A slow poll covers lost notifications and rolled-back gaps.
use crate::error::{Error, Result};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify, watch};
use tokio_util::sync::CancellationToken;

/// The notification channel every replica listens on.
const CHANNEL: &str = "casework_commits";
/// The channel announcing changes to agents and reference data (sent in the changing
/// transaction, so it is delivered with its commit).
const REFERENCE_CHANNEL: &str = "casework_reference";
pub(super) const ANNOUNCE_REFERENCE: &str = "SELECT pg_notify('casework_reference', '')";
/// How often the position is recomputed when nothing announces commits.
const POLL: Duration = Duration::from_secs(1);
/// How soon a gap is looked at again.
const GAP_RECHECK: Duration = Duration::from_millis(5);
/// Ids looked at per recomputation.
const SCAN: i64 = 4096;
/// The longest start-up waits for transactions running before it to finish.
const START_WAIT: Duration = Duration::from_secs(60);

/// The committed position and how to move it.
pub(super) struct Commits {
    position: watch::Sender<i64>,
    /// Counts commits seen (this process's, other replicas' announced ones) that the
    /// position could not pass at once: a gap held it.
    behind_gap: watch::Sender<i64>,
    tracker: Mutex<Tracker>,
    pool: PgPool,
    /// Commits of this process.
    local: Notify,
    /// Commits announced by other replicas.
    remote: Notify,
    /// Counts changes to agents and reference data (this process's and announced ones), and
    /// moves whenever announcements may have been lost.
    reference: watch::Sender<u64>,
}

impl Commits {
    /// Finds the committed position (waiting for transactions running now to finish) and
    /// starts following it until `stop`.
    pub(super) async fn start(
        pool: PgPool,
        sessions: &PgPool,
        stop: CancellationToken,
    ) -> Result<Arc<Commits>> {
        let tracker = Tracker::start(&pool).await?;
        let commits = Arc::new(Commits {
            position: watch::Sender::new(tracker.safe),
            behind_gap: watch::Sender::new(0),
            tracker: Mutex::new(tracker),
            pool,
            local: Notify::new(),
            remote: Notify::new(),
            reference: watch::Sender::new(0),
        });
        let me = uuid::Uuid::new_v4().to_string();
        let mut listener = PgListener::connect_with(sessions).await?;
        listener.ignore_pool_close_event(true);
        listener.listen_all([CHANNEL, REFERENCE_CHANNEL]).await?;
        tokio::spawn(listen(listener, me.clone(), commits.clone(), stop.clone()));
        tokio::spawn(follow(me, commits.clone(), stop));
        Ok(commits)
    }

    /// Moves the position over what is final now and publishes it; returns it and whether
    /// anything is left to wait for.
    async fn advance(&self) -> Result<(i64, Step)> {
        let mut tracker = self.tracker.lock().await;
        let step = tracker.advance(&self.pool).await?;
        let safe = tracker.safe;
        self.position.send_if_modified(|position| {
            let newer = safe > *position;
            *position = (*position).max(safe);
            newer
        });
        Ok((safe, step))
    }

    /// The position brought up to date: everything committed before the call is at or below
    /// it, unless a transaction older than it is still running.
    pub(super) async fn now(&self) -> Result<i64> {
        Ok(self.advance().await?.0)
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    pub(super) fn behind_gap(&self) -> watch::Receiver<i64> {
        self.behind_gap.subscribe()
    }

    pub(super) fn reference_changed(&self) -> watch::Receiver<u64> {
        self.reference.subscribe()
    }

    pub(super) fn reference_written(&self) {
        self.reference.send_modify(|count| *count += 1);
    }

    /// This process committed a write.
    pub(super) fn committed(&self) {
        self.local.notify_one();
    }
}

/// Wakes the follower on other replicas' notifications, and after a lost connection (the
/// listener reconnects by itself; what was announced meanwhile is lost).
async fn listen(
    mut listener: PgListener,
    me: String,
    commits: Arc<Commits>,
    stop: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            received = listener.try_recv() => received,
            _ = stop.cancelled() => return,
        };
        match received {
            Ok(Some(notification)) if notification.channel() == REFERENCE_CHANNEL => {
                commits.reference_written()
            }
            Ok(Some(notification)) if notification.payload() == me => {}
            Ok(Some(_)) => commits.remote.notify_one(),
            // Reconnecting: what was announced meanwhile is lost.
            Ok(None) => {
                commits.reference_written();
                commits.remote.notify_one();
            }
            Err(error) => {
                tracing::warn!(%error, "commit notifications lost; polling until they return");
                commits.reference_written();
                commits.remote.notify_one();
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Moves the position on every commit, announcement and poll.
async fn follow(me: String, commits: Arc<Commits>, stop: CancellationToken) {
    let mut again = POLL;
    let mut recheck = GAP_RECHECK;
    loop {
        let (announce, committed) = tokio::select! {
            _ = commits.local.notified() => (true, true),
            _ = commits.remote.notified() => (false, true),
            _ = tokio::time::sleep(again) => (false, false),
            _ = stop.cancelled() => return,
        };
        let advanced = commits.advance().await;
        if committed && !matches!(&advanced, Ok((_, step)) if step.settled) {
            commits.behind_gap.send_modify(|count| *count += 1);
        }
        again = match advanced {
            Ok((_, step)) if step.settled => {
                recheck = GAP_RECHECK;
                POLL
            }
            // A gap waits on a transaction: look again soon, then less and less often.
            Ok(_) => {
                let now = recheck;
                recheck = (recheck * 2).min(POLL);
                now
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the event log's committed position");
                POLL
            }
        };
        if announce
            && let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&me)
                .execute(&commits.pool)
                .await
        {
            tracing::warn!(%error, "could not announce a commit to the other replicas");
        }
    }
}

/// The position and the gap it waits on.
#[derive(Debug, Default)]
struct Tracker {
    /// Every id up to here is visible or will never be.
    safe: i64,
    /// Ids up to `.0` not visible yet are final once every transaction older than `.1` (the
    /// `xmax` of the snapshot that saw `.0`) is over.
    gap: Option<(i64, i64)>,
}

/// What one recomputation found.
struct Step {
    /// Nothing left to wait for or to scan.
    settled: bool,
    /// A gap below this id opened: it needs its horizon.
    opened: Option<i64>,
}

/// A transaction id newer than every one given out before the call (it takes one: a gap
/// costs a tiny commit). `pg_snapshot_xmax` would not do: it is one past the newest
/// *finished* transaction, and a running one may hold a higher id.
async fn horizon(pool: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(pool)
            .await?,
    )
}

/// The oldest transaction id still running anywhere on the server.
async fn oldest_running(pool: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?,
    )
}

impl Tracker {
    /// The position at start-up: the highest id now, once every transaction running now
    /// is over (no scan of the log).
    async fn start(pool: &PgPool) -> Result<Tracker> {
        let highest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
            .fetch_one(pool)
            .await?;
        let horizon = horizon(pool).await?;
        let started = tokio::time::Instant::now();
        while oldest_running(pool).await? < horizon {
            if started.elapsed() > START_WAIT {
                return Err(Error::Unavailable(
                    "a transaction older than this process has run for over a minute; \
                     start again once it is over"
                        .into(),
                ));
            }
            tokio::time::sleep(GAP_RECHECK).await;
        }
        Ok(Tracker {
            safe: highest,
            gap: None,
        })
    }

    async fn advance(&mut self, pool: &PgPool) -> Result<Step> {
        // One statement, so the ids and the oldest running transaction come from one
        // snapshot.
        let (xmin, ids): (i64, Vec<i64>) = sqlx::query_as(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, \
             ARRAY(SELECT id FROM ticket_events WHERE id > $1 ORDER BY id LIMIT $2)",
        )
        .bind(self.safe)
        .bind(SCAN)
        .fetch_one(pool)
        .await?;
        let step = self.apply(xmin, &ids);
        if let Some(upto) = step.opened {
            // Taken after the snapshot that saw the gap: newer than its owner's id.
            self.gap = Some((upto, horizon(pool).await?));
        }
        Ok(step)
    }

    /// Moves the position over what a snapshot (`xmin`, the ids after `safe` it sees,
    /// ascending) shows to be final; a new gap is left for the caller to give a horizon.
    fn apply(&mut self, xmin: i64, ids: &[i64]) -> Step {
        if let Some((upto, horizon)) = self.gap
            && xmin >= horizon
        {
            self.safe = self.safe.max(upto);
            self.gap = None;
        }
        for &id in ids {
            if id <= self.safe {
                continue;
            }
            if id != self.safe + 1 {
                break;
            }
            self.safe = id;
        }
        let highest = ids.last().copied().unwrap_or(0);
        let opened = (highest > self.safe && self.gap.is_none()).then_some(highest);
        Step {
            settled: self.gap.is_none() && opened.is_none() && (ids.len() as i64) < SCAN,
            opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tracker;

    /// `apply`, then the horizon the caller would take for a new gap.
    fn apply(tracker: &mut Tracker, xmin: i64, horizon: i64, ids: &[i64]) -> bool {
        let step = tracker.apply(xmin, ids);
        if let Some(upto) = step.opened {
            tracker.gap = Some((upto, horizon));
        }
        step.settled
    }

    #[test]
    fn contiguous_ids_are_final_at_once() {
        let mut tracker = Tracker::default();
        assert!(apply(&mut tracker, 100, 101, &[1, 2, 3]));
        assert_eq!(tracker.safe, 3);
    }

    #[test]
    fn a_gap_holds_the_position_until_older_transactions_are_over() {
        let mut tracker = Tracker::default();
        // 3 is taken by a transaction still running: 4 must wait for it.
        assert!(!apply(&mut tracker, 100, 105, &[1, 2, 4]));
        assert_eq!(tracker.safe, 2);
        // Still running (the oldest running id is below the horizon): nothing moves.
        apply(&mut tracker, 104, 107, &[4, 5]);
        assert_eq!(tracker.safe, 2);
        // It committed: 3 is visible and everything follows.
        assert!(apply(&mut tracker, 106, 108, &[3, 4, 5]));
        assert_eq!(tracker.safe, 5);
    }

    #[test]
    fn a_rolled_back_gap_is_passed_once_its_transaction_is_over() {
        let mut tracker = Tracker::default();
        apply(&mut tracker, 100, 105, &[1, 4, 5]);
        assert_eq!(tracker.safe, 1);
        // Every transaction older than 105 is over and 2, 3 never appeared: they rolled back.
        assert!(apply(&mut tracker, 106, 106, &[4, 5]));
        assert_eq!(tracker.safe, 5);
    }

    #[test]
    fn ids_beyond_the_first_gap_wait_for_their_own() {
        let mut tracker = Tracker::default();
        apply(&mut tracker, 100, 105, &[1, 3]);
        // Past 105, 2 is final; 5 appeared after 3 with 4 missing: a new gap.
        assert!(!apply(&mut tracker, 105, 110, &[3, 5]));
        assert_eq!(tracker.safe, 3);
        assert!(apply(&mut tracker, 110, 111, &[5]));
        assert_eq!(tracker.safe, 5);
    }
}
