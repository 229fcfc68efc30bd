//! Failed-push recovery: DingTalk keeps the pushes it could not deliver, and
//! reading its list deletes what it answers. So, on one replica at a time per
//! app, the store is first proved writable, then the list is read, and each
//! read batch is committed raw, in one transaction, as jobs of the app's
//! failed-push queue before anything translates it. The queue's worker (on
//! any replica) translates each item into the delivery its push would have
//! been and commits it; it never gives an item up, since nothing else holds
//! it any more.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use attendance_adapter_kit::jobs::{JobHandler, JobWorker};
use attendance_adapter_kit::meter::CallCounter;
use attendance_adapter_kit::outcome::CommitLog;
use attendance_proto::hub::{HubStore, TakenJob};
use attendance_proto::ingest::Job;
use serde_json::Value;
use sha1::{Digest, Sha1};
use tokio::sync::watch;

use crate::api::DingTalkApi;
use crate::app::DingTalkApp;
use crate::jobs::PullRouting;
use crate::pull::failed_push_delivery;

/// The queue holding one app's read but not yet translated failed pushes.
pub fn failed_push_queue(app: &str) -> String {
    format!("dingtalk-failed-push/{app}")
}

/// The job that keeps one read item until it is committed as a delivery:
/// keyed on the item's bytes, so reading the same item twice keeps it once.
fn stash(app: &str, item: &Value) -> Job {
    let raw = item.to_string();
    Job {
        queue: failed_push_queue(app),
        key: hex::encode(Sha1::digest(raw.as_bytes())),
        payload: raw,
    }
}

/// One app's poller.
pub struct FailedPushPoller {
    pub app: DingTalkApp,
    pub api: Arc<DingTalkApi>,
    pub every: Duration,
    pub store: Arc<dyn HubStore>,
    pub calls: Arc<CallCounter>,
}

impl FailedPushPoller {
    /// Polls until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let claim_name = format!("failed-push/dingtalk/{}", self.app.name);
        loop {
            if !sleep_unless_stopped(self.every, &mut stop).await {
                return;
            }
            let _claim = match self.store.claim(&claim_name).await {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(app = %self.app.name, %error, "cannot claim the failed-push poll");
                    continue;
                }
            };
            if !self.drain(&mut stop).await {
                return;
            }
            self.calls.flush(self.store.as_ref()).await;
        }
    }

    /// Reads and stashes batches until DingTalk has no more; `false` when
    /// the hub stops first.
    async fn drain(&self, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            // Reading deletes: read only what can be kept at once.
            if let Err(error) = self.store.check_writable().await {
                tracing::warn!(app = %self.app.name, %error, "store not writable; failed pushes left at DingTalk until it is");
                return true;
            }
            let batch = match self.api.failed_results().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(app = %self.app.name, %error, "failed-push poll failed; trying again next time");
                    return true;
                }
            };
            let count = batch.items.len();
            let jobs: Vec<Job> = batch
                .items
                .iter()
                .map(|item| stash(&self.app.name, item))
                .collect();
            if !stash_until_stopped(self.store.as_ref(), jobs, stop).await {
                // The only window left: read, and the hub stopped before one
                // transaction could keep it. Say what is lost, item by item.
                for item in &batch.items {
                    tracing::error!(app = %self.app.name, item = %item, "failed push read but not stored before shutdown");
                }
                return false;
            }
            if count > 0 {
                tracing::info!(app = %self.app.name, count, has_more = batch.has_more, "failed pushes read and stored");
            }
            if !batch.has_more || count == 0 {
                return true;
            }
        }
    }
}

/// Commits a read batch's jobs in one transaction, retrying with backoff
/// while the store is unavailable; `false` only when the hub stops first.
async fn stash_until_stopped(
    store: &dyn HubStore,
    jobs: Vec<Job>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut wait = Duration::from_millis(200);
    loop {
        match store.enqueue(jobs.clone()).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(jobs = jobs.len(), %error, "read failed pushes not stored yet; retrying")
            }
        }
        if !sleep_unless_stopped(wait, stop).await {
            return false;
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Translates stashed failed pushes into the deliveries their pushes would
/// have been, with the pulls those call for, and commits them.
pub struct FailedPushes {
    pub app: DingTalkApp,
    pub store: Arc<dyn HubStore>,
}

impl FailedPushes {
    /// The worker of `app`'s failed-push queue: an item is retried until it
    /// commits, because once read nothing but this queue holds it. A commit
    /// takes milliseconds, so a dead taker's items come back within a minute.
    pub fn worker(app: &str) -> JobWorker {
        JobWorker {
            max_attempts: i32::MAX,
            lease: Duration::from_secs(60),
            ..JobWorker::new(failed_push_queue(app))
        }
    }
}

#[async_trait]
impl JobHandler for FailedPushes {
    async fn run(&self, job: &TakenJob) -> Result<(), String> {
        let item: Value = serde_json::from_str(&job.payload)
            .map_err(|error| format!("unreadable stashed item: {error}"))?;
        let mut delivery = failed_push_delivery(&self.app, &item, SystemTime::now().into());
        PullRouting {
            apps: vec![(
                self.app.name.clone(),
                self.app.corp_id.clone().unwrap_or_default(),
            )],
            only: Some(self.app.name.clone()),
            zones: [(self.app.name.clone(), self.app.translation.time_zone)].into(),
        }
        .attach(&mut delivery);
        let log = CommitLog::of(&delivery);
        let committed = self.store.commit(delivery).await;
        tracing::info_span!("failed_push", job = %job.key).in_scope(|| log.record(&committed));
        committed.map_err(|error| error.to_string())?;
        Ok(())
    }
}

/// Sleeps for `wait`; `false` when the hub is stopping (or its stop signal
/// is gone) instead.
async fn sleep_unless_stopped(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        changed = stop.changed() => {
            if changed.is_err() {
                return false;
            }
        }
    }
    !*stop.borrow()
}
