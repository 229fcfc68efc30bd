//! Following the log: catch up from the store, then stay live, with progress
//! heartbeats when idle (and during a long catch-up). Live delivery reads the
//! same table as catch-up, so there is no seam to lose or repeat an entry at,
//! and a slow subscriber only delays its own reads instead of growing a
//! buffer. Filters run in the database.

use std::time::Duration;

use attendance_proto::v1::{subscribe_response, Progress, SubscribeResponse};
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
    /// Leave out revisions that only added descriptive detail.
    pub exclude_enrichments: bool,
}

/// Log entries one read scans at most, whatever the filter.
const SCAN_WINDOW: i64 = 10_000;

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
/// malformed cursor, one from another log, one ahead of the log or before
/// what it retains) are returned before any item.
pub async fn subscribe(
    store: Store,
    start: Start,
    filter: SubscriptionFilter,
    options: SubscriptionOptions,
) -> Result<mpsc::Receiver<SubscriptionItem>, StoreError> {
    let cursor = match start {
        Start::Beginning => store.oldest().await?,
        Start::Now => store.head().await?,
        Start::After(cursor) => store.check_resume(cursor).await?,
    };
    let (tx, rx) = mpsc::channel(options.buffer.max(1));
    tokio::spawn(follow(store, cursor, filter, options, tx));
    Ok(rx)
}

/// Entries in `(after, up_to]`, refused when retention removed entries
/// after `after`: before the read, or while it ran (then the read may have
/// missed them, and sending what it found would skip them silently).
async fn read_retained(
    store: &Store,
    after: Cursor,
    up_to: Cursor,
    limit: i64,
    filter: &SubscriptionFilter,
) -> Result<Vec<attendance_proto::v1::LogEntry>, StoreError> {
    let batch = store.read_filtered(after, up_to, limit, filter).await?;
    match store.expired(after, &store.bounds().await?) {
        Some(expired) => Err(expired),
        None => Ok(batch),
    }
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
        let bounds = match store.bounds().await {
            Ok(bounds) => bounds,
            Err(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        };
        let head = Cursor::new(store.log_tag(), bounds.head, bounds.head_stamp);
        // A narrow filter over a long log scans at most this many entries
        // per query, so each read is short and progress shows between them.
        // The window's end names no entry, so its cursor carries no stamp.
        let window_end = cursor.seq.saturating_add(SCAN_WINDOW);
        let up_to = if head.seq <= window_end {
            head
        } else {
            Cursor::new(store.log_tag(), window_end, 0)
        };
        let mut full = false;
        if up_to.seq > cursor.seq {
            let batch = match read_retained(&store, cursor, up_to, options.batch, &filter).await {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = tx.send(Err(error)).await;
                    return;
                }
            };
            full = batch.len() as i64 >= options.batch;
            for entry in batch {
                cursor = Cursor::decode(&entry.cursor).expect("the store encodes cursors");
                let item = SubscribeResponse {
                    item: Some(subscribe_response::Item::Entry(entry)),
                };
                if tx.send(Ok(item)).await.is_err() {
                    return; // the subscriber left
                }
                last_sent = Instant::now();
            }
            if !full {
                // Everything in the window was read; what the filter left
                // out is passed too.
                cursor = up_to;
            }
        }
        if full || cursor.seq < head.seq {
            // Catching up: a heartbeat still goes out on time, so a narrow
            // filter over a long log shows progress and idle timeouts stay away.
            if last_sent.elapsed() >= options.heartbeat {
                if tx.send(Ok(progress(cursor))).await.is_err() {
                    return;
                }
                last_sent = Instant::now();
            }
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
