//! The store as adapters' background work sees it ([`HubStore`]): whom to
//! reconcile, one-replica-at-a-time claims, metered vendor calls and the
//! durable job queue.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use attendance_proto::hub::{
    Claim, DeliveryScope, HubStore, KnownEmployee, StoredDelivery, TakenJob,
};
use attendance_proto::ingest::{Delivery, Job, Recognition, SinkError};
use attendance_proto::v1::{Approval, Channel, Vendor};

use crate::page::{ApprovalQuery, TenantScope, MAX_PAGE_SIZE};
use crate::time::now_micros;
use crate::{Store, StoreError};

fn unavailable(error: StoreError) -> SinkError {
    tracing::error!(%error, "store call failed");
    SinkError::Unavailable(error.to_string())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Microseconds since the epoch; an instant before it reads as the epoch.
fn micros_at(at: SystemTime) -> i64 {
    micros(at.duration_since(UNIX_EPOCH).unwrap_or_default())
}

impl Store {
    /// Up to `max` due jobs of `queue`, leased for `lease`: a job its taker
    /// neither finishes nor retries is due again when the lease ends.
    pub async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<TakenJob>, StoreError> {
        let now = now_micros();
        self.inner
            .engine
            .take_jobs(queue, max, now, now.saturating_add(micros(lease)))
            .await
    }

    pub async fn finish_job(&self, id: i64) -> Result<(), StoreError> {
        self.inner.engine.finish_job(id).await
    }

    pub async fn retry_job(&self, id: i64, after: Duration) -> Result<(), StoreError> {
        let due = now_micros().saturating_add(micros(after));
        self.inner.engine.retry_job(id, due).await
    }

    /// Whether the database takes writes now: a write statement that matches
    /// no row changes nothing, yet a read-only standby, a read-only file or a
    /// lost connection refuses it.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.engine.retry_job(-1, 0).await
    }

    /// Queues jobs no delivery carries, through the committer like any
    /// delivery's (so they are deduplicated alike).
    pub async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.commit(Delivery {
            vendor: Vendor::Unspecified,
            app: String::new(),
            tenant: String::new(),
            channel: Channel::Unspecified,
            event_id: String::new(),
            event_type: String::new(),
            raw_json: String::new(),
            recognition: Recognition::Translated,
            facts: Vec::new(),
            jobs,
        })
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl HubStore for Store {
    async fn known_employees(
        &self,
        vendor: Vendor,
        app: &str,
    ) -> Result<Vec<KnownEmployee>, SinkError> {
        Store::known_employees(self, vendor as i32, app)
            .await
            .map_err(unavailable)
    }

    async fn claim(&self, name: &str) -> Result<Option<Claim>, SinkError> {
        Ok(self
            .try_singleton(name)
            .await
            .map_err(unavailable)?
            .map(|claim| Box::new(claim) as Claim))
    }

    async fn add_vendor_calls(
        &self,
        vendor: Vendor,
        app: &str,
        month: &str,
        calls: i64,
    ) -> Result<(), SinkError> {
        Store::add_vendor_calls(self, vendor as i32, app, month, calls)
            .await
            .map_err(unavailable)
    }

    async fn take_jobs(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<TakenJob>, SinkError> {
        Store::take_jobs(self, queue, max, lease)
            .await
            .map_err(unavailable)
    }

    async fn finish_job(&self, id: i64) -> Result<(), SinkError> {
        Store::finish_job(self, id).await.map_err(unavailable)
    }

    async fn retry_job(&self, id: i64, after: Duration) -> Result<(), SinkError> {
        Store::retry_job(self, id, after).await.map_err(unavailable)
    }

    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), SinkError> {
        Store::enqueue(self, jobs).await.map_err(unavailable)
    }

    async fn check_writable(&self) -> Result<(), SinkError> {
        Store::check_writable(self).await.map_err(unavailable)
    }

    async fn stored_deliveries(
        &self,
        scope: &DeliveryScope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, SinkError> {
        self.inner
            .engine
            .stored_deliveries(scope, after, limit)
            .await
            .map_err(unavailable)
    }

    async fn employee_approvals(
        &self,
        vendor: Vendor,
        tenant: &str,
        employee_id: &str,
        from: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<Approval>, SinkError> {
        // The list query both engines answer, page after page: an employee's
        // month holds a handful of approvals, so this is one page in practice.
        let mut query = ApprovalQuery {
            tenant: tenant.to_owned(),
            scope: TenantScope::All,
            employee_id: employee_id.to_owned(),
            vendor: vendor as i32,
            start_us: Some(micros_at(from)),
            end_us: Some(micros_at(until)),
            page_size: MAX_PAGE_SIZE as i32,
            page_token: String::new(),
        };
        let mut approvals = Vec::new();
        loop {
            let page = self.list_approvals(&query).await.map_err(unavailable)?;
            approvals.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(approvals);
            }
            query.page_token = page.next_page_token;
        }
    }
}
