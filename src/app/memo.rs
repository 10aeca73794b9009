//! Records read on nearly every call (the caller's agent, the queue or department a call
//! names) kept in memory: an entry is used only while the store reports no committed change
//! to agents or reference data since it was read (`Store::reference_changed`, which on
//! PostgreSQL also hears other replicas), and for at most `MAX_AGE`, which bounds staleness
//! should a replica miss an announcement.
use crate::error::Result;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest an entry is used without reading the store again.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Entries kept at most (tokens may name agents without a record); all are dropped when full.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct Memo<V> {
    changes: watch::Receiver<u64>,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

struct Entry<V> {
    /// The store's change count when the record was read.
    generation: u64,
    read_at: Instant,
    value: Option<V>,
}

impl<V: Clone> Memo<V> {
    pub(crate) fn new(changes: watch::Receiver<u64>) -> Memo<V> {
        Memo {
            changes,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The record under `key` as committed: from memory when nothing changed since it was
    /// read, else from `read`.
    pub(crate) async fn get<F>(&self, key: &str, read: F) -> Result<Option<V>>
    where
        F: Future<Output = Result<Option<V>>>,
    {
        // Taken before the read: a change committed while it runs leaves the entry stale.
        let generation = *self.changes.borrow();
        if let Some(entry) = self.entries().get(key)
            && entry.generation == generation
            && entry.read_at.elapsed() < MAX_AGE
        {
            return Ok(entry.value.clone());
        }
        let read_at = Instant::now();
        let value = read.await?;
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key.to_string(),
            Entry {
                generation,
                read_at,
                value: value.clone(),
            },
        );
        Ok(value)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<V>>> {
        // Inserts and lookups are single calls: a panic elsewhere leaves no half-written map.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
