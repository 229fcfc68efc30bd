//! The worker of a durable job queue: takes due jobs (leased, so a dead
//! worker's jobs come back), runs a few at a time, finishes what succeeded,
//! retries what failed with growing pauses, and gives up on a job after a
//! bound (what it was for is left to reconciliation).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attendance_proto::hub::{HubStore, TakenJob};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::HubContext;

/// What a queue's jobs do.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the job; an `Err` says why it should be tried again later.
    async fn run(&self, job: &TakenJob) -> Result<(), String>;
}

/// How a queue is worked.
#[derive(Clone, Debug)]
pub struct JobWorker {
    pub queue: String,
    /// Jobs run at once (each app's API pacer still bounds its rate).
    pub concurrency: usize,
    /// How long a taken job is this worker's before another may take it.
    pub lease: Duration,
    /// How long to wait when no job is due.
    pub idle_poll: Duration,
    /// Attempts after which a failing job is dropped.
    pub max_attempts: i32,
}

impl JobWorker {
    pub fn new(queue: impl Into<String>) -> JobWorker {
        JobWorker {
            queue: queue.into(),
            concurrency: 4,
            lease: Duration::from_secs(300),
            idle_poll: Duration::from_millis(500),
            max_attempts: 5,
        }
    }

    /// The pause before attempt `attempts + 1`: 2 s, 4 s, 8 s, ... up to 5 min.
    fn retry_after(attempts: i32) -> Duration {
        Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 30) as u32).min(300))
    }

    /// Works the queue in the background against the hub's store until the
    /// hub stops.
    pub fn spawn(self, hub: &HubContext, handler: Arc<dyn JobHandler>) -> JoinHandle<()> {
        tokio::spawn(self.run(hub.store.clone(), handler, hub.stop.clone()))
    }

    /// Works the queue until `stop`.
    pub async fn run(
        self,
        store: Arc<dyn HubStore>,
        handler: Arc<dyn JobHandler>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            let jobs = match store
                .take_jobs(&self.queue, self.concurrency.max(1), self.lease)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(queue = %self.queue, %error, "cannot take jobs; trying again");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(self.idle_poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let runs = jobs.into_iter().map(|job| {
                let (store, handler) = (store.clone(), handler.clone());
                let worker = &self;
                async move {
                    let outcome = handler.run(&job).await;
                    worker.settle(store.as_ref(), &job, outcome).await;
                }
            });
            futures::future::join_all(runs).await;
        }
    }

    async fn settle(&self, store: &dyn HubStore, job: &TakenJob, outcome: Result<(), String>) {
        let settled = match outcome {
            Ok(()) => store.finish_job(job.id).await,
            Err(reason) if job.attempts >= self.max_attempts => {
                tracing::warn!(queue = %self.queue, job = %job.key, attempts = job.attempts, %reason, "job given up; left to reconciliation");
                store.finish_job(job.id).await
            }
            Err(reason) => {
                tracing::warn!(queue = %self.queue, job = %job.key, attempts = job.attempts, %reason, "job failed; retrying later");
                store
                    .retry_job(job.id, Self::retry_after(job.attempts))
                    .await
            }
        };
        if let Err(error) = settled {
            // The lease runs out and the job comes back: at least once.
            tracing::warn!(queue = %self.queue, job = %job.key, %error, "job outcome not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JobWorker;
    use std::time::Duration;

    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(JobWorker::retry_after(1), Duration::from_secs(2));
        assert_eq!(JobWorker::retry_after(3), Duration::from_secs(8));
        assert_eq!(JobWorker::retry_after(20), Duration::from_secs(300));
    }
}
