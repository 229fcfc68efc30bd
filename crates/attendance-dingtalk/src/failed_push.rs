//! Failed-push recovery: DingTalk keeps the pushes it could not deliver, and
//! reading its list deletes what it answers. On one replica at a time per
//! app, the list is read on a schedule and each read batch is committed
//! (raw JSON, event id, facts, the pulls they call for) before the next read
//! and before anything acts on it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attendance_adapter_kit::meter::CallCounter;
use attendance_proto::hub::HubStore;
use attendance_proto::ingest::{Delivery, Receipt};
use tokio::sync::watch;

use crate::api::DingTalkApi;
use crate::app::DingTalkApp;
use crate::jobs::{queue_of, PullJob};
use crate::pull::failed_push_delivery;
use crate::translate::{instance_pulls, pull_triggers};

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

    /// Reads and commits batches until DingTalk has no more; `false` when
    /// the hub stops first.
    async fn drain(&self, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            let batch = match self.api.failed_results().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(app = %self.app.name, %error, "failed-push poll failed; trying again next time");
                    return true;
                }
            };
            let count = batch.items.len();
            let received = SystemTime::now().into();
            for (position, item) in batch.items.iter().enumerate() {
                let mut delivery = failed_push_delivery(&self.app, item, received);
                // The pulls a recovered push calls for are queued with it.
                delivery.jobs = pull_jobs(&self.app.name, &delivery);
                let Some(_) = commit_until_stopped(self.store.as_ref(), &delivery, stop).await
                else {
                    // Read is delete: what could not be stored must not vanish silently.
                    for item in &batch.items[position..] {
                        tracing::error!(app = %self.app.name, item = %item, "failed push read but not committed before shutdown");
                    }
                    return false;
                };
            }
            if count > 0 {
                tracing::info!(app = %self.app.name, count, has_more = batch.has_more, "failed pushes recovered");
            }
            if !batch.has_more || count == 0 {
                return true;
            }
        }
    }
}

/// The pull jobs a delivery calls for, on `app`'s queue.
pub fn pull_jobs(app: &str, delivery: &Delivery) -> Vec<attendance_proto::ingest::Job> {
    debug_assert!(!queue_of(app).is_empty());
    pull_triggers(delivery)
        .into_iter()
        .map(PullJob::Day)
        .chain(instance_pulls(delivery).into_iter().map(PullJob::Instance))
        .map(|pull| pull.job(app))
        .collect()
}

/// Commits, retrying with backoff while the store is unavailable; `None`
/// only when the hub stops first.
async fn commit_until_stopped(
    store: &dyn HubStore,
    delivery: &Delivery,
    stop: &mut watch::Receiver<bool>,
) -> Option<Receipt> {
    let mut wait = Duration::from_millis(200);
    loop {
        match store.commit(delivery.clone()).await {
            Ok(receipt) => return Some(receipt),
            Err(error) => {
                tracing::warn!(event_id = %delivery.event_id, %error, "failed push not committed yet; retrying")
            }
        }
        if !sleep_unless_stopped(wait, stop).await {
            return None;
        }
        wait = (wait * 2).min(Duration::from_secs(30));
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
