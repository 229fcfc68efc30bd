//! The shared tail of the log. One reader per store reads every new entry
//! once (unfiltered, in order, in batches) after each commit notification
//! (this replica's, or another's through LISTEN/NOTIFY) and keeps the most
//! recent ones, encoded once as the frame every stream sends, in a bounded
//! ring. Live subscribers whose cursor
//! lies within the ring filter it in memory instead of each querying the
//! database; one that falls behind the ring reads the database by itself
//! until it catches up, so memory stays bounded whatever a subscriber's pace.
//!
//! The ring holds every log entry with a sequence number in `(start, end]`:
//! a subscriber at a cursor in that range gets exactly what a read of the
//! table would return, so moving between the database and the ring leaves
//! no gap and repeats nothing.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use attendance_proto::frame::SubscribeFrame;
use tokio::sync::{watch, Notify};

use crate::cursor::LogTag;
use crate::engine::Engine;
use crate::engine::LogBounds;
use crate::filter::SubscriptionFilter;
use crate::log_entry::entry_frame;
use crate::subscription::EntryView;
use crate::{Cursor, StoreError};

/// How much of the log's tail the ring keeps.
#[derive(Clone, Copy, Debug)]
pub struct TailLimits {
    /// Entries kept at most.
    pub entries: usize,
    /// Encoded bytes of the kept entries at most.
    pub bytes: usize,
}

impl Default for TailLimits {
    fn default() -> Self {
        TailLimits {
            entries: 8_192,
            bytes: 16 << 20,
        }
    }
}

/// Entries the reader reads per query.
const READ_BATCH: i64 = 1_024;

/// The reader also looks at the log this often without a notification: a
/// missed notification costs this much latency, and retention done by
/// another replica is seen within it.
const REFRESH: Duration = Duration::from_secs(1);

/// With this many subscribers or more, the reader lets commits gather for
/// [`GATHER`] after each round: every round wakes every subscriber, and
/// one wake-up carrying several entries costs hardly more than one
/// carrying a single entry, so a thousand subscribers at a thousand commits
/// a second stay on time. Fewer subscribers get each commit at once.
const GATHER_FROM: usize = 64;
const GATHER: Duration = Duration::from_millis(3);

/// One entry of the ring with the columns subscription filters test.
pub(crate) struct TailEntry {
    pub seq: i64,
    /// The entry's `received_at` (µs), which its cursor carries.
    pub stamp: i64,
    pub tenant: String,
    pub vendor: i16,
    pub kind: i16,
    pub revision_kind: i16,
    pub employee_id: String,
    /// The entry's `SubscribeResponse`, encoded.
    pub frame: SubscribeFrame,
    /// The same without the vendor's raw JSON (the same bytes when the
    /// entry carries none).
    pub basic_frame: SubscribeFrame,
    size: usize,
}

impl TailEntry {
    fn matches(&self, filter: &SubscriptionFilter) -> bool {
        filter.matches(
            &self.tenant,
            self.vendor,
            self.kind,
            &self.employee_id,
            self.revision_kind,
        )
    }
}

struct Ring {
    /// False while the reader is not following the log (no subscribers, or
    /// a failed read): no one reads the ring then.
    live: bool,
    /// Every entry with a sequence number in `(start, end.seq]` is here.
    start: i64,
    end: Cursor,
    entries: VecDeque<Arc<TailEntry>>,
    bytes: usize,
}

/// What the ring holds for a subscriber at some cursor.
pub(crate) enum TailRead {
    /// The frames of matching entries after the cursor, in the view asked
    /// for (at most the limit asked for), and the cursor to continue from
    /// (past what the filter left out).
    Entries(Vec<SubscribeFrame>, Cursor),
    /// Nothing after the cursor yet: wait for the tail to move.
    AtEnd,
    /// The cursor is before the ring (or the ring is not live): read the
    /// database.
    Behind,
}

/// The ring and the signals around it; one per store.
pub(crate) struct Tail {
    log_tag: LogTag,
    ring: RwLock<Ring>,
    limits: TailLimits,
    /// Bumped after every round of the reader; subscribers wait on it.
    moved: watch::Sender<u64>,
    /// Poked when a subscriber attaches, so an idle reader starts following.
    attached: Notify,
}

impl Tail {
    pub(crate) fn new(log_tag: LogTag, limits: TailLimits) -> Tail {
        Tail {
            log_tag,
            ring: RwLock::new(Ring {
                live: false,
                start: 0,
                end: Cursor::new(log_tag, 0, 0),
                entries: VecDeque::new(),
                bytes: 0,
            }),
            limits,
            moved: watch::channel(0).0,
            attached: Notify::new(),
        }
    }

    /// A receiver that changes whenever the tail may have moved; holding it
    /// keeps the reader following the log.
    pub(crate) fn attach(&self) -> watch::Receiver<u64> {
        let moved = self.moved.subscribe();
        self.attached.notify_one();
        moved
    }

    /// The frames of up to `limit` entries after `after` that `filter`
    /// matches. Only the frames' bytes are shared with the caller, not the
    /// entries: every reference taken is a count a thousand streams touch
    /// for every entry, from every core.
    pub(crate) fn read(
        &self,
        after: Cursor,
        limit: usize,
        filter: &SubscriptionFilter,
        view: EntryView,
    ) -> TailRead {
        let ring = self.ring.read().expect("tail lock");
        if !ring.live || after.seq < ring.start {
            return TailRead::Behind;
        }
        if after.seq >= ring.end.seq {
            return TailRead::AtEnd;
        }
        let first = ring.entries.partition_point(|e| e.seq <= after.seq);
        let mut found = Vec::new();
        for entry in ring.entries.range(first..) {
            if entry.matches(filter) {
                found.push(match view {
                    EntryView::Full => entry.frame.clone(),
                    EntryView::Basic => entry.basic_frame.clone(),
                });
                if found.len() >= limit {
                    let cursor = Cursor::new(self.log_tag, entry.seq, entry.stamp);
                    return TailRead::Entries(found, cursor);
                }
            }
        }
        TailRead::Entries(found, ring.end)
    }

    fn publish(&self) {
        self.moved
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn stop_following(&self) {
        let mut ring = self.ring.write().expect("tail lock");
        ring.live = false;
        ring.entries.clear();
        ring.bytes = 0;
    }

    /// Starts the ring afresh, empty, at the head `bounds` names.
    fn restart_at(&self, bounds: &LogBounds) {
        let mut ring = self.ring.write().expect("tail lock");
        ring.live = true;
        ring.start = bounds.head;
        ring.end = Cursor::new(self.log_tag, bounds.head, bounds.head_stamp);
        ring.entries.clear();
        ring.bytes = 0;
    }

    /// Appends entries read after the ring's end, moves the end to `end`
    /// and drops what the limits or retention (`removed_through`) leave out.
    fn append(&self, entries: Vec<TailEntry>, end: Cursor, removed_through: i64) {
        let mut ring = self.ring.write().expect("tail lock");
        for entry in entries {
            ring.bytes += entry.size;
            ring.entries.push_back(Arc::new(entry));
        }
        ring.end = end;
        while ring.entries.len() > self.limits.entries
            || ring.bytes > self.limits.bytes
            || ring
                .entries
                .front()
                .is_some_and(|e| e.seq <= removed_through)
        {
            let Some(old) = ring.entries.pop_front() else {
                break;
            };
            ring.bytes -= old.size;
            ring.start = old.seq;
        }
        // Retention removed entries a subscriber here has not seen: it reads
        // the database, which refuses its cursor as expired.
        ring.start = ring.start.max(removed_through.min(ring.end.seq));
    }
}

/// The reader: follows the log while anyone is attached.
pub(crate) async fn follow(
    tail: Arc<Tail>,
    engine: Arc<dyn Engine>,
    log_tag: LogTag,
    mut changes: watch::Receiver<u64>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        changes.borrow_and_update();
        if tail.moved.receiver_count() == 0 {
            // Nobody to read for: reading every commit would only cost the
            // database. The next subscriber starts the ring at the head.
            tail.stop_following();
        } else if let Err(error) = read_round(&tail, engine.as_ref(), log_tag).await {
            tracing::warn!(%error, "the log's tail reader failed; subscribers read the store");
            tail.stop_following();
        }
        tail.publish();
        if tail.moved.receiver_count() >= GATHER_FROM {
            tokio::time::sleep(GATHER).await;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tail.attached.notified() => {}
            _ = tokio::time::sleep(REFRESH) => {}
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            tail.stop_following();
            tail.publish();
            return;
        }
    }
}

/// Reads what was appended since the ring's end, up to the head.
async fn read_round(tail: &Tail, engine: &dyn Engine, log_tag: LogTag) -> Result<(), StoreError> {
    let mut bounds = engine.bounds().await?;
    let (live, mut end) = {
        let ring = tail.ring.read().expect("tail lock");
        (ring.live, ring.end)
    };
    if !live || end.seq > bounds.head {
        // Not following until now, or the log is shorter than what we read
        // (a restored database): start afresh at the head.
        tail.restart_at(&bounds);
        return Ok(());
    }
    loop {
        let mut entries = Vec::new();
        if end.seq < bounds.head {
            let rows = engine
                .read_log(
                    end.seq,
                    bounds.head,
                    READ_BATCH,
                    &SubscriptionFilter::default(),
                )
                .await?;
            let full = rows.len() as i64 >= READ_BATCH;
            let read_to = bounds;
            // Like every reader, check that retention did not remove
            // entries after `end` while the read ran: the read may have
            // missed them, and the ring must hold every entry in its range.
            bounds = engine.bounds().await?;
            if bounds.removed_through > end.seq {
                tail.restart_at(&bounds);
                return Ok(());
            }
            for row in rows {
                let (tenant, vendor, seq) = (row.tenant.clone(), row.vendor, row.seq);
                let stamp = row.received_at_us;
                let (kind, revision_kind) = (row.kind, row.revision_kind);
                end = Cursor::new(log_tag, seq, stamp);
                let frame = entry_frame(log_tag, &row, EntryView::Full)?;
                let basic = entry_frame(log_tag, &row, EntryView::Basic)?;
                // The basic view only ever leaves bytes out: the same length
                // is the same entry, shared.
                let (basic_frame, basic_size) = if basic.held_bytes() != frame.held_bytes() {
                    let size = basic.held_bytes();
                    (basic, size)
                } else {
                    (frame.clone(), 0)
                };
                let employee_id = row.employee_id;
                entries.push(TailEntry {
                    seq,
                    stamp,
                    tenant,
                    vendor,
                    kind,
                    revision_kind,
                    employee_id,
                    size: frame.held_bytes() + basic_size + std::mem::size_of::<TailEntry>(),
                    frame,
                    basic_frame,
                });
            }
            if !full {
                end = Cursor::new(log_tag, read_to.head, read_to.head_stamp);
            }
        }
        tail.append(entries, end, bounds.removed_through);
        crate::metrics::log_head(end.seq);
        if end.seq >= bounds.head {
            return Ok(());
        }
        // More arrived (or the batch was full): publish what we have first.
        tail.publish();
    }
}
