//! Use cases. Each one authorises, validates, loads, applies the domain rule and stores the
//! change with its events in one transaction; live streams wake on the store's commits. The
//! only place rules are applied; gRPC, grpc-web and REST are thin adapters over it.
mod access;
pub mod agents;
pub mod ccr;
pub mod conversations;
mod feed;
mod memo;
pub mod paging;
pub mod reports;
mod routing;
pub(crate) mod sla;
pub mod tickets;
pub mod timers;
pub mod validate;
mod view;
pub mod write;

use crate::clock::Clock;
use crate::error::Result;
use crate::store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// Limits and defaults of the application layer (see `config.rs` for their sources).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// SLA for tickets whose queue has none, in seconds.
    pub default_sla_seconds: i64,
    /// Events buffered per stream before the stream waits for its client. Each holds the
    /// ticket as well (about 2 KiB): at 256 a client that stopped reading held 0.7 MiB until
    /// its stream was ended; at 32, with HTTP/2's 64 KiB send buffer, about 0.15 MiB.
    pub stream_buffer: usize,
    /// Channels whose assigned tickets go back to their queue when the agent goes offline;
    /// empty keeps them with the agent.
    pub requeue_channels: Vec<String>,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachments one room may hold.
    pub max_room_attachments: usize,
    /// Most bytes of attachments one room may hold, all together.
    pub max_room_attachment_bytes: usize,
    /// Chat auto-close delays.
    pub chat_timers: crate::domain::timers::ChatTimers,
    /// Longest a live stream runs; clients then resume with their last id.
    pub stream_max_lifetime: std::time::Duration,
    /// Longest a live stream waits for its client to take the next item (a full buffer: the
    /// client reads nothing); then it ends, and the client resumes with its last id.
    pub stream_stall: std::time::Duration,
    /// Where escalations that name no department go (the blueprints' v1 escalate); `None`
    /// refuses them.
    pub default_escalation_department: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            default_sla_seconds: 24 * 3600,
            stream_buffer: 32,
            requeue_channels: vec!["chat".into()],
            max_attachment_bytes: 10 * 1024 * 1024,
            max_room_attachments: 100,
            max_room_attachment_bytes: 100 * 1024 * 1024,
            chat_timers: crate::domain::timers::ChatTimers::default(),
            stream_max_lifetime: std::time::Duration::from_secs(3600),
            stream_stall: std::time::Duration::from_secs(30),
            default_escalation_department: None,
        }
    }
}

/// Whether a live stream's item went out; a stream whose client took nothing for
/// `stream_stall` is counted (`casework_stalled_streams_total`) as it ends.
pub(crate) fn sent<T>(sent: std::result::Result<(), mpsc::error::SendTimeoutError<T>>) -> bool {
    match sent {
        Ok(()) => true,
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
            metrics::counter!("casework_stalled_streams_total").increment(1);
            false
        }
        Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
    }
}

/// Items a stream reads from the store at a time.
pub(crate) const FOLLOW_BATCH: usize = 256;

#[derive(Clone)]
pub struct App {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AppConfig,
    /// Agents, queues and departments as committed, read on nearly every call.
    agents: Arc<memo::Memo<crate::domain::Agent>>,
    queues: Arc<memo::Memo<crate::domain::Queue>>,
    departments: Arc<memo::Memo<crate::domain::EscalationDepartment>>,
    /// Each queue's SLA policies.
    sla_policies: Arc<memo::Memo<Vec<crate::domain::sla::SlaPolicy>>>,
    /// The one reader of the event log behind every live event stream.
    feed: Arc<feed::Feed>,
    shutdown: CancellationToken,
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: AppConfig,
    ) -> Result<Self> {
        Ok(App {
            agents: Arc::new(memo::Memo::new(store.reference_changed())),
            queues: Arc::new(memo::Memo::new(store.reference_changed())),
            departments: Arc::new(memo::Memo::new(store.reference_changed())),
            sla_policies: Arc::new(memo::Memo::new(store.reference_changed())),
            feed: Arc::new(feed::Feed::new()),
            store,
            clock,
            config,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The agent's record as committed (from memory while unchanged).
    pub(crate) async fn agent(&self, id: &str) -> Result<Option<crate::domain::Agent>> {
        self.agents.get(id, self.store.get_agent(id)).await
    }

    /// The queue as committed (from memory while unchanged).
    pub(crate) async fn queue(&self, id: &str) -> Result<Option<crate::domain::Queue>> {
        self.queues.get(id, self.store.get_queue(id)).await
    }

    /// The escalation department as committed (from memory while unchanged).
    pub(crate) async fn department(
        &self,
        id: &str,
    ) -> Result<Option<crate::domain::EscalationDepartment>> {
        self.departments
            .get(id, self.store.get_department(id))
            .await
    }

    /// Ends every live stream (graceful shutdown).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// A live stream over an ordered log (a room's messages; ticket events go through
    /// `feed.rs`): `fetch(after)` reads the items after a position, each with its own
    /// position. Reads the store, so a slow client only delays itself and a reconnecting one
    /// misses nothing; when caught up, waits for `wake` to hear a change of its ticket; ends
    /// when the client leaves, the server shuts down or `stream_max_lifetime` passes.
    pub(crate) fn follow<T, F, Fut>(
        &self,
        mut wake: feed::TicketWake,
        mut last: i64,
        fetch: F,
    ) -> ReceiverStream<Result<T>>
    where
        T: Send + 'static,
        F: Fn(i64) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<(i64, T)>>> + Send,
    {
        let (tx, rx) = mpsc::channel(self.config.stream_buffer);
        let shutdown = self.shutdown.clone();
        let (lifetime, stall) = (self.config.stream_max_lifetime, self.config.stream_stall);
        tokio::spawn(async move {
            let ended = tokio::time::sleep(lifetime);
            tokio::pin!(ended);
            loop {
                wake.seen();
                let items = match fetch(last).await {
                    Ok(items) => items,
                    Err(error) => {
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                let caught_up = items.len() < FOLLOW_BATCH;
                for (position, item) in items {
                    last = position;
                    tokio::select! {
                        // Gone, or stalled past `stream_stall`: the stream ends.
                        result = tx.send_timeout(Ok(item), stall) => if !sent(result) { return },
                        _ = shutdown.cancelled() => return,
                    }
                }
                if caught_up {
                    tokio::select! {
                        alive = wake.changed() => if !alive { return },
                        _ = tx.closed() => return,
                        _ = shutdown.cancelled() => return,
                        _ = &mut ended => return,
                    }
                }
            }
        });
        ReceiverStream::new(rx)
    }

    /// Runs a use case on its own task. When the client cancels or its deadline passes, a
    /// change that has not reached its commit is dropped (see `store::CALLER_GONE`); one
    /// that has still completes with its follow-up work (routing, waking streams).
    pub(crate) async fn detached<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let gone = CancellationToken::new();
        // Dropped with the caller's future, unless the answer came.
        let left = gone.clone().drop_guard();
        let done = tokio::spawn(crate::store::CALLER_GONE.scope(gone, work)).await;
        left.disarm();
        done.map_err(|e| crate::error::Error::Internal(format!("use case task failed: {e}")))?
    }
}
