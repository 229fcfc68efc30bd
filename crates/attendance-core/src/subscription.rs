//! Following the log: catch up from the store, then stay live, with progress
//! heartbeats when idle (and during a long catch-up). Live subscribers read
//! the store's shared tail (`tail.rs`), filtered in memory with the same
//! predicate the engines run in SQL; one behind the tail reads the store
//! itself, filtered in the database, until it reaches the tail again. The
//! tail holds every entry of its range, so the seam between the two loses
//! and repeats nothing, and a slow subscriber only delays its own reads
//! instead of growing a buffer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use attendance_proto::frame::SubscribeFrame;
use attendance_proto::v1::Progress;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_stream::Stream;

use crate::engine::LogBounds;
use crate::metrics::SubscriberGauge;
use crate::tail::TailRead;
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

pub use crate::filter::SubscriptionFilter;

/// Log entries one read scans at most, whatever the filter.
const SCAN_WINDOW: i64 = 10_000;

/// How much of each fact a subscription sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EntryView {
    #[default]
    Full,
    /// Without the vendor's raw JSON.
    Basic,
}

/// Tuning for one subscription.
#[derive(Clone, Debug)]
pub struct SubscriptionOptions {
    pub view: EntryView,
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
            view: EntryView::Full,
            heartbeat: Duration::from_secs(5),
            batch: 1_024,
            buffer: 128,
        }
    }
}

/// Items of a subscription; an `Err` is the last item.
pub type SubscriptionItem = Result<SubscribeFrame, StoreError>;

/// What the follower hands its stream at a time: the frames of one step (at
/// most a chunk), or the error that ends it. One hand-off per chunk instead
/// of per entry: a catching-up stream sends tens of thousands a second,
/// and a channel send with its wake-up per entry was a large part of it.
type Chunk = Result<Vec<SubscribeFrame>, StoreError>;

/// A running subscription: its items in order, an `Err` the last. Dropping
/// it ends the follower.
pub struct Subscription {
    chunks: mpsc::Receiver<Chunk>,
    pending: std::vec::IntoIter<SubscribeFrame>,
}

impl Subscription {
    /// The next item, or `None` once the follower ended.
    pub async fn recv(&mut self) -> Option<SubscriptionItem> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Subscription {
    type Item = SubscriptionItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SubscriptionItem>> {
        loop {
            if let Some(frame) = self.pending.next() {
                return Poll::Ready(Some(Ok(frame)));
            }
            match std::task::ready!(self.chunks.poll_recv(cx)) {
                Some(Ok(frames)) => self.pending = frames.into_iter(),
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// Frames gathered for one hand-off to the stream.
struct Outbox {
    tx: mpsc::Sender<Chunk>,
    chunk: usize,
}

impl Outbox {
    /// Sends `frames` in chunks; false when the subscriber left.
    async fn send(&self, mut frames: Vec<SubscribeFrame>) -> bool {
        while frames.len() > self.chunk {
            let rest = frames.split_off(self.chunk);
            if self
                .tx
                .send(Ok(std::mem::replace(&mut frames, rest)))
                .await
                .is_err()
            {
                return false;
            }
        }
        frames.is_empty() || self.tx.send(Ok(frames)).await.is_ok()
    }

    async fn one(&self, frame: SubscribeFrame) -> bool {
        self.tx.send(Ok(vec![frame])).await.is_ok()
    }

    async fn fail(&self, error: StoreError) {
        let _ = self.tx.send(Err(error)).await;
    }
}

/// Validates the start and spawns the follower. Errors about the start (a
/// malformed cursor, one from another log, one ahead of the log or before
/// what it retains) are returned before any item.
pub async fn subscribe(
    store: Store,
    start: Start,
    filter: SubscriptionFilter,
    options: SubscriptionOptions,
) -> Result<Subscription, StoreError> {
    let cursor = match start {
        Start::Beginning => store.oldest().await?,
        Start::Now => store.head().await?,
        Start::After(cursor) => store.check_resume(cursor).await?,
    };
    // `buffer` frames at most wait for the subscriber: one chunk of half of
    // them in the channel, one being sent.
    let (tx, chunks) = mpsc::channel(1);
    let outbox = Outbox {
        tx,
        chunk: (options.buffer / 2).max(1),
    };
    tokio::spawn(follow(store, cursor, filter, options, outbox));
    Ok(Subscription {
        chunks,
        pending: Vec::new().into_iter(),
    })
}

/// Entries in `(after, up_to]`, refused when retention removed entries
/// after `after`: before the read, or while it ran (then the read may have
/// missed them, and sending what it found would skip them silently). The
/// bounds read after the entries come back too: the next step starts from
/// them instead of reading them again.
async fn read_retained(
    store: &Store,
    after: Cursor,
    up_to: Cursor,
    limit: i64,
    filter: &SubscriptionFilter,
    view: EntryView,
) -> Result<(Vec<SubscribeFrame>, Option<Cursor>, LogBounds), StoreError> {
    let (batch, last) = store.read_frames(after, up_to, limit, filter, view).await?;
    let bounds = store.bounds().await?;
    match store.expired(after, &bounds) {
        Some(expired) => Err(expired),
        None => Ok((batch, last, bounds)),
    }
}

fn progress(cursor: Cursor) -> SubscribeFrame {
    SubscribeFrame::progress(Progress {
        cursor: cursor.encode(),
        server_time: Some(from_micros(now_micros())),
    })
}

/// Entries one step found, as frames in the subscription's view: read from
/// the store (encoded by the stream that sends them), or shared with the
/// tail (already encoded, sent as the same bytes by every stream).
enum Found {
    Read(Vec<SubscribeFrame>),
    Shared(Vec<SubscribeFrame>),
}

impl Found {
    fn into_frames(self) -> Vec<SubscribeFrame> {
        match self {
            Found::Read(frames) | Found::Shared(frames) => frames,
        }
    }
}

/// What one step of a subscription found to send.
enum Step {
    /// Entries to send, then the cursor to continue from; `more` when the
    /// step stopped at its limit (catching up: go on without waiting), with
    /// the log's bounds when the step read them last.
    Send {
        entries: Found,
        next: Cursor,
        more: bool,
        bounds: Option<LogBounds>,
    },
    /// Nothing new: wait for the tail to move.
    Wait,
}

/// One step: from the shared tail when the cursor is within it, else from
/// the store (up to its head, one scan window at most). `known` are the
/// bounds the previous step read after its entries, if it read the store.
async fn step(
    store: &Store,
    cursor: Cursor,
    filter: &SubscriptionFilter,
    options: &SubscriptionOptions,
    known: Option<LogBounds>,
) -> Result<Step, StoreError> {
    let limit = options.batch.max(1);
    match store
        .inner
        .tail
        .read(cursor, limit as usize, filter, options.view)
    {
        TailRead::Entries(found, next) => {
            let more = found.len() as i64 >= limit;
            return Ok(Step::Send {
                entries: Found::Shared(found),
                next,
                more,
                bounds: None,
            });
        }
        TailRead::AtEnd => return Ok(Step::Wait),
        TailRead::Behind => {}
    }
    let bounds = match known {
        Some(bounds) => bounds,
        None => store.bounds().await?,
    };
    let head = Cursor::new(store.log_tag(), bounds.head, bounds.head_stamp);
    // A narrow filter over a long log scans at most this many entries per
    // query, so each read is short and progress shows between them. The
    // window's end names no entry, so its cursor carries no stamp.
    let window_end = cursor.seq.saturating_add(SCAN_WINDOW);
    let up_to = if head.seq <= window_end {
        head
    } else {
        Cursor::new(store.log_tag(), window_end, 0)
    };
    if up_to.seq <= cursor.seq {
        return Ok(Step::Wait);
    }
    let (entries, last, after) =
        read_retained(store, cursor, up_to, limit, filter, options.view).await?;
    let full = entries.len() as i64 >= limit;
    let next = match last {
        // Everything in the window was read; what the filter left out is
        // passed too.
        _ if !full => up_to,
        Some(last) => last,
        None => up_to,
    };
    Ok(Step::Send {
        entries: Found::Read(entries),
        next,
        more: full || up_to.seq < after.head,
        bounds: Some(after),
    })
}

/// A step already under way: the next store read of a catching-up
/// subscriber, run while it sends the current batch.
type ReadAhead = tokio::task::JoinHandle<(Result<Step, StoreError>, OwnedSemaphorePermit)>;

async fn follow(
    store: Store,
    mut cursor: Cursor,
    filter: SubscriptionFilter,
    options: SubscriptionOptions,
    tx: Outbox,
) {
    let mut moved = store.inner.tail.attach();
    let mut closing = store.closing();
    let mut last_sent = Instant::now();
    let mut known = None;
    let mut ahead: Option<ReadAhead> = None;
    let filter = Arc::new(filter);
    let mut gauge = SubscriberGauge::attach();
    loop {
        // Mark the tail's current state seen before reading, so that a move
        // landing between the read and the wait still wakes us.
        moved.borrow_and_update();
        let step = match ahead.take() {
            Some(read) => match read.await {
                // A read ahead that found nothing started before the mark
                // above: step again rather than wait on it.
                Ok((Ok(Step::Wait), _)) => continue,
                Ok((result, _permit)) => result,
                // It panicked: read again here, where a failure ends the stream.
                Err(_) => step(&store, cursor, &filter, &options, None).await,
            },
            None => step(&store, cursor, &filter, &options, known.take()).await,
        };
        let more = match step {
            Err(error) => {
                tx.fail(error).await;
                return;
            }
            Ok(Step::Wait) => false,
            Ok(Step::Send {
                entries,
                next,
                more,
                bounds,
            }) => {
                // Only a step that goes on at once may trust the bounds it
                // read: after a wait they are stale.
                known = bounds.filter(|_| more);
                let catching_up = matches!(entries, Found::Read(_));
                gauge.set_catching_up(catching_up);
                if let Some(bounds) = &bounds {
                    gauge.catch_up_lag(bounds.head - next.seq);
                }
                if more && catching_up {
                    ahead = read_ahead(&store, next, &filter, &options, known.take());
                }
                if !tx.send(entries.into_frames()).await {
                    if let Some(read) = ahead {
                        read.abort();
                    }
                    return; // the subscriber left
                }
                last_sent = Instant::now();
                cursor = next;
                more
            }
        };
        if more {
            // Catching up: a heartbeat still goes out on time, so a narrow
            // filter over a long log shows progress and idle timeouts stay away.
            if last_sent.elapsed() >= options.heartbeat {
                if !tx.one(progress(cursor)).await {
                    return;
                }
                last_sent = Instant::now();
            }
            continue;
        }
        tokio::select! {
            changed = moved.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(last_sent + options.heartbeat) => {
                // Also a safety net: a missed wake-up costs one heartbeat of latency.
                if !tx.one(progress(cursor)).await {
                    return;
                }
                last_sent = Instant::now();
            }
            _ = tx.tx.closed() => return,
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            tx.fail(StoreError::Closing).await;
            return;
        }
    }
}

/// Starts the step after `cursor` now, if a read-ahead permit is free.
fn read_ahead(
    store: &Store,
    cursor: Cursor,
    filter: &Arc<SubscriptionFilter>,
    options: &SubscriptionOptions,
    known: Option<LogBounds>,
) -> Option<ReadAhead> {
    let permit = store.inner.read_ahead.clone().try_acquire_owned().ok()?;
    let (store, filter, options) = (store.clone(), filter.clone(), options.clone());
    Some(tokio::spawn(async move {
        let result = step(&store, cursor, &filter, &options, known).await;
        (result, permit)
    }))
}
