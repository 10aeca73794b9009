//! Use cases. Each one authorises, validates, loads, applies the domain rule, stores the
//! change with its events in one transaction and publishes. The only place rules are applied;
//! gRPC (and later REST) are thin adapters over it.
mod access;
pub mod agents;
pub mod ccr;
pub mod paging;
mod routing;
pub mod tickets;
pub mod validate;

use crate::clock::Clock;
use crate::domain::TicketEvent;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Limits and defaults of the application layer (see `config.rs` for their sources).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// SLA for tickets whose queue has none, in seconds.
    pub default_sla_seconds: i64,
    /// Events buffered per stream before the stream waits for its client.
    pub stream_buffer: usize,
    /// Channels whose assigned tickets go back to their queue when the agent goes offline;
    /// empty keeps them with the agent.
    pub requeue_channels: Vec<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            default_sla_seconds: 24 * 3600,
            stream_buffer: 256,
            requeue_channels: vec!["chat".into()],
        }
    }
}

#[derive(Clone)]
pub struct App {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AppConfig,
    /// The newest event id written by this process; streams wait on it, then read the store.
    latest_event: watch::Sender<i64>,
    shutdown: CancellationToken,
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: AppConfig,
    ) -> crate::error::Result<Self> {
        let last = store.last_event_id().await?;
        Ok(App {
            store,
            clock,
            config,
            latest_event: watch::Sender::new(last),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Ends every live stream (graceful shutdown).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Wakes the streams after a commit.
    fn publish(&self, events: &[TicketEvent]) {
        if let Some(last) = events.iter().map(|event| event.id).max() {
            self.latest_event.send_if_modified(|current| {
                let newer = last > *current;
                if newer {
                    *current = last;
                }
                newer
            });
        }
    }
}
