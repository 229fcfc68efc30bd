//! The one storage trait, implemented natively for SQLite (`sqlite.rs`) and
//! PostgreSQL (`postgres.rs`): each engine has its own SQL and migrations,
//! and one conformance suite runs against both.

use async_trait::async_trait;
use attendance_proto::hub::{DeliveryScope, StoredDelivery, TakenJob};
use attendance_proto::ingest::Receipt;
use attendance_proto::v1::LogEntryKind;

use crate::batch::Batch;
use crate::filter::SubscriptionFilter;
use crate::page::PageToken;
use crate::records::{Backend, DeliveryCounts, KnownEmployee, SourceActivity, VendorCalls};
use crate::StoreError;

/// A log entry as read, before its body is decoded.
pub(crate) struct LogRead {
    pub seq: i64,
    pub tenant: String,
    pub vendor: i16,
    pub kind: i16,
    pub revision_kind: i16,
    pub employee_id: String,
    pub occurred_at_us: i64,
    pub received_at_us: i64,
    pub body: Vec<u8>,
    /// The raw vendor JSON, stored apart from the body.
    pub raw: Option<String>,
}

/// One condition of a list query over current revisions.
#[derive(Clone, Debug)]
pub(crate) enum Condition {
    Tenant(String),
    /// One of these tenants; none when empty.
    TenantIn(Vec<String>),
    Employee(String),
    Vendor(i32),
    /// `start_at >= instant` (µs).
    StartsFrom(i64),
    /// `start_at < instant` (µs).
    StartsBefore(i64),
    /// `end_at >= instant` (µs).
    EndsFrom(i64),
    /// `work_date >= date` (YYYY-MM-DD).
    WorkDateFrom(String),
    /// `work_date <= date` (YYYY-MM-DD).
    WorkDateTo(String),
}

/// A list query: the current revisions of one kind, in page order:
/// `(sort_key, vendor, business_key, tenant)`, total over a kind.
pub(crate) struct ListSpec {
    pub kind: LogEntryKind,
    pub conditions: Vec<Condition>,
    pub after: Option<PageToken>,
    /// Rows to read (the page size plus one, to know whether more follow).
    pub limit: i64,
}

/// One listed row.
pub(crate) struct ListedRow {
    pub body: Vec<u8>,
    pub raw: Option<String>,
    pub sort_key: String,
    pub vendor: i64,
    pub business_key: String,
    pub tenant: String,
}

/// Held while this replica runs singleton work; dropping it releases it.
pub(crate) type Claim = Box<dyn Send + Sync>;

/// What each database engine provides.
#[async_trait]
pub(crate) trait Engine: LogIdentity + Retention + Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Decides and commits one group commit in one transaction; one receipt
    /// per delivery. `Err` means nothing of the batch was committed.
    async fn commit_batch(&self, batch: &mut Batch) -> Result<Vec<Receipt>, StoreError>;
    /// Up to `limit` entries in `(after, up_to]` that `filter` matches, in order.
    async fn read_log(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<LogRead>, StoreError>;
    async fn list(&self, spec: &ListSpec) -> Result<Vec<ListedRow>, StoreError>;
    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError>;
    /// Retained deliveries per source, in (vendor, app, channel) order.
    async fn source_activity(&self) -> Result<Vec<SourceActivity>, StoreError>;
    async fn known_employees(
        &self,
        vendor: i32,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, StoreError>;
    async fn add_vendor_calls(
        &self,
        vendor: i32,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), StoreError>;
    async fn vendor_calls(&self) -> Result<Vec<VendorCalls>, StoreError>;
    /// Claims `name` across replicas; `None` when another replica holds it.
    /// (SQLite has one process: the store's local claim is enough.)
    async fn claim(&self, name: &str) -> Result<Option<Claim>, StoreError>;
    /// Up to `max` due jobs of `queue` (due at or before `now_us`), each
    /// made due again at `lease_until_us` (so a dead taker's jobs return).
    async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        now_us: i64,
        lease_until_us: i64,
    ) -> Result<Vec<TakenJob>, StoreError>;
    async fn finish_job(&self, id: i64) -> Result<(), StoreError>;
    async fn retry_job(&self, id: i64, due_us: i64) -> Result<(), StoreError>;
    /// A page of stored deliveries, for re-derivation.
    async fn stored_deliveries(
        &self,
        scope: &DeliveryScope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn close(&self);
}

/// The largest power of two at most `n` (and at most `cap`): multi-row
/// statements come in a few sizes only, so each engine's prepared-statement
/// cache keeps them all.
pub(crate) fn chunk_len(n: usize, cap: usize) -> usize {
    let mut len = 1;
    while len * 2 <= n && len * 2 <= cap {
        len *= 2;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::chunk_len;

    #[test]
    fn chunks_are_powers_of_two_within_the_cap() {
        assert_eq!(chunk_len(1, 256), 1);
        assert_eq!(chunk_len(100, 256), 64);
        assert_eq!(chunk_len(1000, 256), 256);
        assert_eq!(chunk_len(3, 256), 2);
    }
}

/// The retained range of the log, as one read saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogBounds {
    /// The newest sequence number: the newest entry's, or `removed_through`
    /// when retention removed every entry (0 for a log never written).
    pub head: i64,
    /// The newest entry's `received_at` (µs); 0 when there is none.
    pub head_stamp: i64,
    /// The highest sequence number retention removed (0: none).
    pub removed_through: i64,
}

impl LogBounds {
    pub(crate) fn of(removed_through: i64, newest: Option<(i64, i64)>) -> LogBounds {
        match newest {
            Some((seq, stamp)) if seq > removed_through => LogBounds {
                head: seq,
                head_stamp: stamp,
                removed_through,
            },
            _ => LogBounds {
                head: removed_through,
                head_stamp: 0,
                removed_through,
            },
        }
    }
}

/// What each engine reads about the log itself.
#[async_trait]
pub(crate) trait LogIdentity {
    /// The id `0006_log_identity` created.
    async fn log_id(&self) -> Result<String, StoreError>;
    async fn bounds(&self) -> Result<LogBounds, StoreError>;
    /// The `received_at` (µs) of the entry at `seq`, if it is in the log.
    async fn stamp_at(&self, seq: i64) -> Result<Option<i64>, StoreError>;
}

/// What each engine removes, one bounded transaction at a time.
#[async_trait]
pub(crate) trait Retention {
    /// Removes up to `limit` raw documents of the prefix received before
    /// `before_us`, and the deliveries' references to them; how many.
    async fn remove_raw_documents(&self, before_us: i64, limit: i64) -> Result<u64, StoreError>;
    /// Removes up to `limit` log entries of the prefix received before
    /// `before_us` and moves `removed_through` past them; how many.
    async fn remove_log_entries(&self, before_us: i64, limit: i64) -> Result<u64, StoreError>;
}
