//! The store handle every part of the hub shares: one engine (SQLite, the
//! embedded default, or PostgreSQL, for several replicas on one database),
//! one committer in front of it, and the wake-ups subscribers wait on.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use attendance_proto::frame::SubscribeFrame;
use attendance_proto::ingest::{Delivery, DeliverySink, Receipt, SinkError};
use attendance_proto::v1::{Approval, DayReconciled, LogEntry, LogEntryKind, Punch, ShiftResult};
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch};

use crate::commit::{self, Job, MAX_FACTS};
use crate::cursor::LogTag;
use crate::engine::{Condition, Engine, ListSpec};
use crate::fact::validate_work_date;
use crate::filter::SubscriptionFilter;
use crate::log_entry::{entry_frame, log_entry_of};
use crate::metrics::DeliveryLabels;
use crate::page::{page_size, PageToken};
use crate::postgres::{follow_notifications, PostgresEngine};
use crate::records::{Backend, DeliveryCounts};
use crate::sqlite::SqliteEngine;
use crate::subscription::EntryView;
use crate::tail::{self, Tail, TailLimits};
use crate::{ApprovalQuery, Cursor, Page, PunchQuery, ShiftResultQuery, StoreError, TenantScope};

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite://FILE` or `postgres://...`.
    pub url: String,
    /// Connections for readers.
    pub max_connections: u32,
    /// How much of the log's tail live subscribers share in memory.
    pub tail: TailLimits,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            max_connections: 8,
            tail: TailLimits::default(),
        }
    }
}

/// Event ids this process saw committed, newest last. Their retries are
/// answered without queueing behind the committer. It only ever says
/// "duplicate" of an id whose commit succeeded; the database stays the
/// authority on everything else.
struct RecentDeliveries {
    ids: HashSet<(i32, String)>,
    order: VecDeque<(i32, String)>,
}

/// How many committed event ids [`RecentDeliveries`] remembers.
const RECENT_DELIVERIES: usize = 100_000;

impl RecentDeliveries {
    fn contains(&self, id: &(i32, String)) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: (i32, String)) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > RECENT_DELIVERIES {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// Subscribers per store that read ahead while catching up (the others
/// read and send in turn): a few catch up at the read's full speed without
/// a herd of resuming subscribers each holding two batches.
const READ_AHEAD_SUBSCRIBERS: usize = 8;

pub(crate) struct Inner {
    pub(crate) engine: Arc<dyn Engine>,
    /// The tag of this log's id: every cursor it issues carries it.
    pub(crate) log_tag: LogTag,
    committer: mpsc::Sender<Job>,
    /// Bumped after every commit that appended to the log (here or, through
    /// LISTEN/NOTIFY, on another replica); subscribers wake on it.
    changes: watch::Sender<u64>,
    closing: watch::Sender<bool>,
    /// The recent log entries live subscribers share.
    pub(crate) tail: Arc<Tail>,
    /// Catching-up subscribers that may read their next batch while they
    /// send the current one: each holds one batch more in memory.
    pub(crate) read_ahead: Arc<tokio::sync::Semaphore>,
    recent: Mutex<RecentDeliveries>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Singleton work held in this process.
    pub(crate) local_singletons: Mutex<HashSet<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Store {
    /// Opens the database at `url` and applies the migrations.
    pub async fn connect(options: StoreOptions) -> Result<Store, StoreError> {
        let url = options.url.as_str();
        let (changes, _) = watch::channel(0u64);
        let (closing, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let engine: Arc<dyn Engine> = if url.starts_with("sqlite:") {
            let (engine, checkpoints) =
                SqliteEngine::connect(url, options.max_connections, changes.subscribe()).await?;
            tasks.push(checkpoints);
            Arc::new(engine)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let engine = PostgresEngine::connect(url, options.max_connections).await?;
            tasks.push(tokio::spawn(follow_notifications(
                url.to_string(),
                changes.clone(),
            )));
            Arc::new(engine)
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(StoreError::UnsupportedUrl(scheme.to_owned()));
        };
        let log_tag = LogTag::of(&engine.log_id().await?);
        // Bounded: callers wait for their receipt anyway, so the queue only
        // needs to hold what arrives during one commit.
        let (committer, queue) = mpsc::channel(commit::MAX_DELIVERIES * 4);
        commit::spawn(engine.clone(), queue, changes.clone())?;
        let tail = Arc::new(Tail::new(log_tag, options.tail));
        tasks.push(tokio::spawn(tail::follow(
            tail.clone(),
            engine.clone(),
            log_tag,
            changes.subscribe(),
            closing.subscribe(),
        )));
        Ok(Store {
            inner: Arc::new(Inner {
                engine,
                log_tag,
                committer,
                changes,
                closing,
                tail,
                read_ahead: Arc::new(tokio::sync::Semaphore::new(READ_AHEAD_SUBSCRIBERS)),
                recent: Mutex::new(RecentDeliveries {
                    ids: HashSet::new(),
                    order: VecDeque::new(),
                }),
                tasks,
                local_singletons: Default::default(),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.engine.backend()
    }

    /// A receiver that changes whenever the log may have grown.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// A receiver that turns true when the hub begins to shut down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Ends every subscription; commits still work until `close`.
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Ends every subscription and closes the database connections.
    pub async fn close(&self) {
        self.begin_shutdown();
        self.inner.engine.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner.engine.ping().await
    }

    /// Durably commits a delivery: delivery dedup on the vendor event id, then
    /// for each fact a new revision unless the stored one says the same (or
    /// says something newer). Returns only after the transaction committed.
    ///
    /// A pull (no event id) with many facts is committed in parts, each in
    /// its own group commit, so other deliveries never wait long behind it.
    pub async fn commit(&self, delivery: Delivery) -> Result<Receipt, StoreError> {
        let labels = DeliveryLabels::of(&delivery);
        let result = self.commit_delivery(delivery).await;
        labels.committed(result.as_ref().map_err(|_| ()));
        result
    }

    async fn commit_delivery(&self, mut delivery: Delivery) -> Result<Receipt, StoreError> {
        let id = (!delivery.event_id.is_empty())
            .then(|| (delivery.vendor as i32, delivery.event_id.clone()));
        if let Some(id) = &id {
            if self.inner.recent.lock().expect("recent lock").contains(id) {
                return Ok(Receipt {
                    duplicate_delivery: true,
                    ..Receipt::default()
                });
            }
        }
        if id.is_none() && delivery.facts.len() > MAX_FACTS {
            let mut facts = std::mem::take(&mut delivery.facts);
            let mut total = Receipt::default();
            while !facts.is_empty() {
                let rest = facts.split_off(facts.len().min(MAX_FACTS));
                let part = Delivery {
                    facts: std::mem::replace(&mut facts, rest),
                    ..delivery.clone()
                };
                total.add(self.commit_one(part).await?);
            }
            return Ok(total);
        }
        let receipt = self.commit_one(delivery).await?;
        if let Some(id) = id {
            self.inner.recent.lock().expect("recent lock").insert(id);
        }
        Ok(receipt)
    }

    async fn commit_one(&self, delivery: Delivery) -> Result<Receipt, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .committer
            .send(Job { delivery, reply })
            .await
            .map_err(|_| StoreError::Closing)?;
        answer.await.map_err(|_| StoreError::Closing)?
    }

    /// Up to `limit` entries after `after` (exclusive), in log order.
    pub async fn read_after(&self, after: Cursor, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
        let head = self.head().await?;
        self.read_filtered(after, head, limit, &SubscriptionFilter::default())
            .await
    }

    /// Up to `limit` entries in `(after, up_to]` that `filter` matches, in
    /// log order; the filter runs in the database.
    pub(crate) async fn read_filtered(
        &self,
        after: Cursor,
        up_to: Cursor,
        limit: i64,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let rows = self
            .inner
            .engine
            .read_log(after.seq, up_to.seq, limit, filter)
            .await?;
        rows.into_iter()
            .map(|row| log_entry_of(self.log_tag(), row))
            .collect()
    }

    /// Like [`Store::read_filtered`], but each entry encoded straight from
    /// its row as the `SubscribeResponse` a stream sends, in `view`; with
    /// the cursor of the last one.
    pub(crate) async fn read_frames(
        &self,
        after: Cursor,
        up_to: Cursor,
        limit: i64,
        filter: &SubscriptionFilter,
        view: EntryView,
    ) -> Result<(Vec<SubscribeFrame>, Option<Cursor>), StoreError> {
        let rows = self
            .inner
            .engine
            .read_log(after.seq, up_to.seq, limit, filter)
            .await?;
        let log = self.log_tag();
        let last = rows
            .last()
            .map(|row| Cursor::new(log, row.seq, row.received_at_us));
        let frames = rows
            .iter()
            .map(|row| entry_frame(log, row, view))
            .collect::<Result<_, _>>()?;
        Ok((frames, last))
    }

    /// How many deliveries were stored, by recognition.
    pub async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        self.inner.engine.delivery_counts().await
    }

    /// Current revisions of punches, in check-time order.
    pub async fn list_punches(&self, q: &PunchQuery) -> Result<Page<Punch>, StoreError> {
        let mut conditions = common(&q.tenant, &q.scope, &q.employee_id, q.vendor);
        if let Some(start) = q.start_us {
            conditions.push(Condition::StartsFrom(start));
        }
        if let Some(end) = q.end_us {
            conditions.push(Condition::StartsBefore(end));
        }
        self.list(LogEntryKind::Punch, conditions, q.page_size, &q.page_token)
            .await
    }

    /// Current revisions of shift results, in work-date order.
    pub async fn list_shift_results(
        &self,
        q: &ShiftResultQuery,
    ) -> Result<Page<ShiftResult>, StoreError> {
        validate_work_date("work_date_from", &q.work_date_from)?;
        validate_work_date("work_date_to", &q.work_date_to)?;
        let mut conditions = common(&q.tenant, &q.scope, &q.employee_id, q.vendor);
        if !q.work_date_from.is_empty() {
            conditions.push(Condition::WorkDateFrom(q.work_date_from.clone()));
        }
        if !q.work_date_to.is_empty() {
            conditions.push(Condition::WorkDateTo(q.work_date_to.clone()));
        }
        self.list(
            LogEntryKind::ShiftResult,
            conditions,
            q.page_size,
            &q.page_token,
        )
        .await
    }

    /// Current revisions of approvals overlapping the window, in start order.
    pub async fn list_approvals(&self, q: &ApprovalQuery) -> Result<Page<Approval>, StoreError> {
        let mut conditions = common(&q.tenant, &q.scope, &q.employee_id, q.vendor);
        if let Some(start) = q.start_us {
            conditions.push(Condition::EndsFrom(start));
        }
        if let Some(end) = q.end_us {
            conditions.push(Condition::StartsBefore(end));
        }
        self.list(
            LogEntryKind::Approval,
            conditions,
            q.page_size,
            &q.page_token,
        )
        .await
    }

    pub(crate) async fn list<T: Message + Default + HasRawJson>(
        &self,
        kind: LogEntryKind,
        conditions: Vec<Condition>,
        requested_size: i32,
        page_token: &str,
    ) -> Result<Page<T>, StoreError> {
        let size = page_size(requested_size)?;
        // Page tokens are bound to the filter they were issued for (AIP-158).
        let filter = format!("kind={}|{conditions:?}", kind as i64);
        let after = PageToken::decode(page_token, &filter)?;
        let rows = self
            .inner
            .engine
            .list(&ListSpec {
                kind,
                conditions,
                after,
                limit: size + 1,
            })
            .await?;
        let more = rows.len() as i64 > size;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows.into_iter().take(size as usize) {
            let mut item =
                T::decode(row.body.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(raw) = row.raw {
                item.restore_raw_json(raw);
            }
            items.push(item);
            last = Some(PageToken {
                sort_key: row.sort_key,
                vendor: row.vendor,
                business_key: row.business_key,
                tenant: row.tenant,
            });
        }
        let next_page_token = match (more, last) {
            (true, Some(last)) => last.encode(&filter),
            _ => String::new(),
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

fn common(tenant: &str, scope: &TenantScope, employee_id: &str, vendor: i32) -> Vec<Condition> {
    let mut conditions = Vec::new();
    if !tenant.is_empty() {
        conditions.push(Condition::Tenant(tenant.to_owned()));
    }
    if let TenantScope::Only(tenants) = scope {
        conditions.push(Condition::TenantIn(tenants.clone()));
    }
    if !employee_id.is_empty() {
        conditions.push(Condition::Employee(employee_id.to_owned()));
    }
    if vendor != 0 {
        conditions.push(Condition::Vendor(vendor));
    }
    conditions
}

/// Facts whose raw vendor JSON is stored apart and put back on reading.
pub(crate) trait HasRawJson {
    fn restore_raw_json(&mut self, raw: String);
}

macro_rules! has_raw_json {
    ($($t:ty),*) => {$(
        impl HasRawJson for $t {
            fn restore_raw_json(&mut self, raw: String) {
                // Rows written before raw JSON was stored apart carry their own.
                if self.raw_json.is_empty() {
                    self.raw_json = raw;
                }
            }
        }
    )*};
}
has_raw_json!(Punch, ShiftResult, Approval);

/// A day signal carries no vendor JSON.
impl HasRawJson for DayReconciled {
    fn restore_raw_json(&mut self, _raw: String) {}
}

#[async_trait::async_trait]
impl DeliverySink for Store {
    async fn commit(&self, delivery: Delivery) -> Result<Receipt, SinkError> {
        Store::commit(self, delivery).await.map_err(|error| {
            tracing::error!(%error, "commit failed");
            SinkError::Unavailable(error.to_string())
        })
    }
}
