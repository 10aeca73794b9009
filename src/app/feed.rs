//! One reader of the event log for all the live event streams of this process: after each
//! commit it reads the new events once (with where each ticket was and the ticket as it is
//! now) and hands the batch to every stream, which filters it in memory. A thousand watchers
//! cost one query per commit, not a thousand. A stream that falls behind (its client reads
//! slowly, or it starts or resumes behind the feed) reads what it missed from the store
//! itself, so it never misses an event.
use super::FOLLOW_BATCH;
use crate::domain::query::{Scope, WatchFilter, Watched};
use crate::store::Store;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Batches a stream may fall behind before it reads from the store instead.
const BACKLOG: usize = 32;
/// How soon a failed read of the event log is tried again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Events after `after` up to and including `upto` (every committed event of that stretch).
#[derive(Debug)]
pub(crate) struct Batch {
    pub after: i64,
    pub upto: i64,
    pub items: Vec<Watched>,
    /// The feed could not read past `after` (it tries again): streams read from the store
    /// themselves meanwhile, so one bad row delays only the streams whose filter matches it.
    pub stalled: bool,
}

pub(crate) struct Feed {
    batches: OnceLock<broadcast::Sender<Arc<Batch>>>,
}

impl Feed {
    pub(crate) fn new() -> Feed {
        Feed {
            batches: OnceLock::new(),
        }
    }

    /// The batches from now on; the reader starts with the first stream.
    pub(crate) fn subscribe(
        &self,
        store: &Arc<dyn Store>,
        shutdown: &CancellationToken,
    ) -> broadcast::Receiver<Arc<Batch>> {
        self.batches
            .get_or_init(|| {
                let (sender, _) = broadcast::channel(BACKLOG);
                tokio::spawn(read(store.clone(), sender.clone(), shutdown.clone()));
                sender
            })
            .subscribe()
    }
}

/// Wakes a stream that follows one ticket (its room's messages, `App::follow`) when the feed
/// carries an event of that ticket: every message is added with an event of its ticket in
/// the same transaction, so a room's watchers read the store only after commits that touched
/// it, not after every commit. Commits a gap keeps from the feed wake it too
/// (`Store::commits_behind_gap`): a room's messages need no committed position.
pub(crate) struct TicketWake {
    batches: broadcast::Receiver<Arc<Batch>>,
    behind_gap: watch::Receiver<i64>,
    ticket_id: String,
}

impl TicketWake {
    /// Subscribed before the stream's first read: every commit after it is heard.
    pub(crate) fn new(
        feed: &Feed,
        store: &Arc<dyn Store>,
        shutdown: &CancellationToken,
        ticket_id: String,
    ) -> Self {
        TicketWake {
            batches: feed.subscribe(store, shutdown),
            behind_gap: store.commits_behind_gap(),
            ticket_id,
        }
    }

    /// Forgets the commits heard of so far: the read that follows covers them.
    pub(crate) fn seen(&mut self) {
        self.behind_gap.borrow_and_update();
        loop {
            match self.batches.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// Waits for a batch with an event of the ticket, one the feed could not read, or batches
    /// missed (any of them may concern it); false once the feed is gone.
    pub(crate) async fn changed(&mut self) -> bool {
        loop {
            let batch = tokio::select! {
                batch = self.batches.recv() => batch,
                gap = self.behind_gap.changed() => return gap.is_ok(),
            };
            match batch {
                Ok(batch) => {
                    let ticket = &self.ticket_id;
                    if batch.stalled || batch.items.iter().any(|w| &w.event.ticket_id == ticket) {
                        return true;
                    }
                }
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => return false,
            }
        }
    }
}

/// Follows the committed position and publishes every stretch of new events.
async fn read(
    store: Arc<dyn Store>,
    batches: broadcast::Sender<Arc<Batch>>,
    shutdown: CancellationToken,
) {
    let mut commits = store.commits();
    // Streams behind this position read the store themselves.
    let mut last = *commits.borrow_and_update();
    loop {
        let upto = *commits.borrow_and_update();
        if batches.receiver_count() == 0 {
            // Nobody listens: nothing to read (a stream that starts later reads from the
            // store up to where the feed is).
            last = upto;
        }
        while last < upto {
            let read = store
                .watch_events(
                    last,
                    upto,
                    &WatchFilter::default(),
                    &Scope::All,
                    FOLLOW_BATCH as i64,
                )
                .await;
            let items = match read {
                Ok(items) => items,
                Err(error) => {
                    tracing::warn!(%error, "the live event feed could not read the event log");
                    let _ = batches.send(Arc::new(Batch {
                        after: last,
                        upto: last,
                        items: Vec::new(),
                        stalled: true,
                    }));
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue,
                        _ = shutdown.cancelled() => return,
                    }
                }
            };
            let reached = match items.last() {
                Some(last) if items.len() >= FOLLOW_BATCH => last.event.id,
                _ => upto,
            };
            // No stream listening is not an error: the batch is simply not needed.
            let _ = batches.send(Arc::new(Batch {
                after: last,
                upto: reached,
                items,
                stalled: false,
            }));
            last = reached;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
    }
}
