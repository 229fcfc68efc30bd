//! What the hub's store offers an adapter's own background work besides
//! committing deliveries: whom to reconcile, one-replica-at-a-time claims,
//! metered vendor calls and the durable job queue. The core implements it;
//! adapters see only this trait, never storage.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::ingest::{DeliverySink, Job, SinkError};
use crate::v1::{Approval, Channel, Vendor};

/// Held while this replica runs singleton work; dropping it releases the work.
pub type Claim = Box<dyn Send + Sync>;

/// An employee the hub has seen facts for: (tenant, employee id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KnownEmployee {
    pub tenant: String,
    pub employee_id: String,
}

/// A job taken from the queue: its taker must finish it or schedule a retry;
/// if the taker dies, the job is taken again once `lease` has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenJob {
    pub id: i64,
    pub key: String,
    pub payload: String,
    /// How many times it has been taken, this time included.
    pub attempts: i32,
}

/// Which stored deliveries a re-derivation reads.
#[derive(Clone, Debug)]
pub struct DeliveryScope {
    pub vendor: Vendor,
    /// Configured app name; empty: every app of the vendor.
    pub app: String,
    /// Vendor tenant; empty: every tenant.
    pub tenant: String,
    /// Received at or after this instant, when set.
    pub received_from: Option<SystemTime>,
    /// Received before this instant, when set.
    pub received_until: Option<SystemTime>,
}

/// A delivery as the store keeps it: the verified vendor JSON it arrived
/// with and how it arrived, enough to translate it again.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDelivery {
    /// Its place in arrival order; pages continue after the last one read.
    pub position: i64,
    pub vendor: Vendor,
    pub app: String,
    pub tenant: String,
    pub channel: Channel,
    pub event_id: String,
    pub event_type: String,
    pub raw_json: String,
    pub received_at: SystemTime,
}

/// The store as an adapter's background work sees it.
#[async_trait]
pub trait HubStore: DeliverySink {
    /// Employees of one app seen in facts.
    async fn known_employees(
        &self,
        vendor: Vendor,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, SinkError>;
    /// Claims singleton work `name` across replicas and tasks; `None` when
    /// someone else runs it.
    async fn claim(&self, name: &str) -> Result<Option<Claim>, SinkError>;
    /// Adds metered calls to an app's count for `month` (YYYY-MM, UTC).
    async fn add_vendor_calls(
        &self,
        vendor: Vendor,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), SinkError>;
    /// Up to `max` jobs of `queue` that are due, leased for `lease`.
    async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<TakenJob>, SinkError>;
    /// Removes a job that was done.
    async fn finish_job(&self, id: i64) -> Result<(), SinkError>;
    /// Makes a job due again after `after`.
    async fn retry_job(&self, id: i64, after: Duration) -> Result<(), SinkError>;
    /// Queues jobs that no delivery carries (deduplicated like theirs).
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), SinkError>;
    /// Fails unless the store takes writes right now; changes nothing. Read
    /// before a vendor call whose answer exists nowhere else once read.
    async fn check_writable(&self) -> Result<(), SinkError>;
    /// Up to `limit` stored deliveries of `scope` after `after` (a
    /// [`StoredDelivery::position`]; 0 to start), in arrival order.
    async fn stored_deliveries(
        &self,
        scope: &DeliveryScope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, SinkError>;
    /// The current revision of every approval of one employee of `tenant`
    /// whose span overlaps `[from, until)`, whatever its kind or status, in
    /// start order. Reads only: a cross-check compares them with the vendor.
    async fn employee_approvals(
        &self,
        vendor: Vendor,
        tenant: &str,
        employee_id: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<Approval>, SinkError>;
}
