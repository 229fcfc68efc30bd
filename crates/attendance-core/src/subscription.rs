//! Following the log: catch up from the store, then stay live, with progress
//! heartbeats when idle. Live delivery reads the same table as catch-up, so
//! there is no seam to lose or repeat an entry at, and a slow subscriber only
//! delays its own reads instead of growing a buffer.

use std::time::Duration;

use attendance_proto::v1::{subscribe_response, LogEntry, Progress, SubscribeResponse};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::time::{from_micros, now_micros};
use crate::{Cursor, Store, StoreError};

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Beginning,
    Now,
    /// Resume after this cursor (exclusive).
    After(Cursor),
}

/// Which entries a subscriber wants; empty lists match everything.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionFilter {
    pub tenants: Vec<String>,
    pub vendors: Vec<i32>,
    pub kinds: Vec<i32>,
    pub employee_ids: Vec<String>,
}

impl SubscriptionFilter {
    pub fn matches(&self, entry: &LogEntry) -> bool {
        let source = entry.source.clone().unwrap_or_default();
        (self.tenants.is_empty() || self.tenants.contains(&source.tenant))
            && (self.vendors.is_empty() || self.vendors.contains(&source.vendor))
            && (self.kinds.is_empty() || self.kinds.contains(&entry.kind))
            && (self.employee_ids.is_empty() || self.employee_ids.contains(&entry.employee_id))
    }
}

/// Tuning for one subscription.
#[derive(Clone, Debug)]
pub struct SubscriptionOptions {
    /// A progress heartbeat is sent after this long without an entry.
    pub heartbeat: Duration,
    /// Entries read from the store per query.
    pub batch: i64,
    /// Items queued for the transport before reading pauses.
    pub buffer: usize,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        SubscriptionOptions {
            heartbeat: Duration::from_secs(5),
            batch: 256,
            buffer: 64,
        }
    }
}

/// Items of a subscription; an `Err` is the last item.
pub type SubscriptionItem = Result<SubscribeResponse, StoreError>;

/// Validates the start and spawns the follower. Errors about the start (a
/// malformed cursor, a cursor ahead of the log) are returned before any item.
pub async fn subscribe(
    store: Store,
    start: Start,
    filter: SubscriptionFilter,
    options: SubscriptionOptions,
) -> Result<mpsc::Receiver<SubscriptionItem>, StoreError> {
    let head = store.head().await?;
    let cursor = match start {
        Start::Beginning => Cursor::BEGINNING,
        Start::Now => head,
        Start::After(cursor) if cursor > head => {
            return Err(StoreError::CursorAhead {
                cursor: cursor.0,
                head: head.0,
            })
        }
        Start::After(cursor) => cursor,
    };
    let (tx, rx) = mpsc::channel(options.buffer.max(1));
    tokio::spawn(follow(store, cursor, filter, options, tx));
    Ok(rx)
}

fn progress(cursor: Cursor) -> SubscribeResponse {
    SubscribeResponse {
        item: Some(subscribe_response::Item::Progress(Progress {
            cursor: cursor.encode(),
            server_time: Some(from_micros(now_micros())),
        })),
    }
}

async fn follow(
    store: Store,
    mut cursor: Cursor,
    filter: SubscriptionFilter,
    options: SubscriptionOptions,
    tx: mpsc::Sender<SubscriptionItem>,
) {
    let mut changes = store.changes();
    let mut closing = store.closing();
    let mut last_sent = Instant::now();
    loop {
        // Mark the current generation seen before reading, so that a commit
        // landing between the read and the wait still wakes us.
        changes.borrow_and_update();
        let batch = match store.read_after(cursor, options.batch).await {
            Ok(batch) => batch,
            Err(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        };
        let full = batch.len() as i64 >= options.batch;
        for entry in batch {
            let seq = Cursor::decode(&entry.cursor).expect("the store encodes cursors");
            cursor = seq;
            if filter.matches(&entry) {
                let item = SubscribeResponse {
                    item: Some(subscribe_response::Item::Entry(entry)),
                };
                if tx.send(Ok(item)).await.is_err() {
                    return; // the subscriber left
                }
                last_sent = Instant::now();
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(last_sent + options.heartbeat) => {
                // Also a safety net: a missed wake-up costs one heartbeat of latency.
                if tx.send(Ok(progress(cursor))).await.is_err() {
                    return;
                }
                last_sent = Instant::now();
            }
            _ = tx.closed() => return,
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            let _ = tx.send(Err(StoreError::Closing)).await;
            return;
        }
    }
}
