//! Group commit: one committer per store takes every delivery waiting (up to
//! a bound on deliveries, facts and bytes), commits them in one transaction
//! with one sync, and only then answers each caller with its own receipt.
//! Batches form by themselves under load (what arrives during one commit is
//! the next batch); an idle hub commits a lone delivery at once, with no
//! timer. A batch that cannot commit is retried one delivery at a time, so
//! one bad delivery fails alone.

use std::sync::Arc;

use attendance_proto::ingest::{Delivery, Receipt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::batch::Batch;
use crate::engine::Engine;
use crate::fact::raw_len;
use crate::time::now_micros;
use crate::StoreError;

/// Deliveries per batch at most.
pub(crate) const MAX_DELIVERIES: usize = 1024;
/// Facts per batch at most; a pull with more is committed in parts of this
/// size, so a large reconciliation never holds the writer for long.
pub(crate) const MAX_FACTS: usize = 512;
/// Raw bytes per batch at most.
const MAX_BYTES: usize = 8 << 20;

/// One delivery waiting for the committer.
pub(crate) struct Job {
    pub delivery: Delivery,
    pub reply: oneshot::Sender<Result<Receipt, StoreError>>,
}

impl Job {
    fn weight(&self) -> (usize, usize) {
        let raw: usize =
            self.delivery.raw_json.len() + self.delivery.facts.iter().map(raw_len).sum::<usize>();
        (self.delivery.facts.len(), raw)
    }
}

/// Starts the committer on a thread of its own, with a runtime of its own:
/// every statement of a batch is a round trip to the database, and on the
/// hub's runtime the committer would queue behind every webhook task at each
/// of them. It ends when every sender is gone.
pub(crate) fn spawn(
    engine: Arc<dyn Engine>,
    queue: mpsc::Receiver<Job>,
    changes: watch::Sender<u64>,
) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StoreError::Committer)?;
    std::thread::Builder::new()
        .name("hub-committer".into())
        .spawn(move || runtime.block_on(run(engine, queue, changes)))
        .map_err(StoreError::Committer)?;
    Ok(())
}

/// Commits until every sender is gone. `changes` is bumped after each
/// commit that appended to the log, before any caller is answered.
async fn run(engine: Arc<dyn Engine>, mut queue: mpsc::Receiver<Job>, changes: watch::Sender<u64>) {
    while let Some(first) = queue.recv().await {
        let (mut facts, mut bytes) = first.weight();
        let mut jobs = vec![first];
        while jobs.len() < MAX_DELIVERIES && facts < MAX_FACTS && bytes < MAX_BYTES {
            let Ok(job) = queue.try_recv() else { break };
            let (f, b) = job.weight();
            facts += f;
            bytes += b;
            jobs.push(job);
        }
        commit_jobs(engine.as_ref(), jobs, &changes).await;
    }
}

async fn commit_jobs(engine: &dyn Engine, jobs: Vec<Job>, changes: &watch::Sender<u64>) {
    let now = now_micros();
    let mut batch = Batch::default();
    for job in &jobs {
        batch.push(job.delivery.clone(), now);
    }
    let started = std::time::Instant::now();
    let result = engine.commit_batch(&mut batch).await;
    crate::metrics::batch_committed(jobs.len(), started.elapsed(), result.is_ok());
    tracing::trace!(
        deliveries = jobs.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        ok = result.is_ok(),
        "batch committed"
    );
    match result {
        Ok(receipts) => {
            if receipts.iter().any(|r| r.appended > 0) {
                changes.send_modify(|g| *g = g.wrapping_add(1));
            }
            for (job, receipt) in jobs.into_iter().zip(receipts) {
                let _ = job.reply.send(Ok(receipt));
            }
        }
        Err(error) if jobs.len() == 1 => {
            let job = jobs.into_iter().next().expect("one job");
            let _ = job.reply.send(Err(error));
        }
        Err(error) => {
            // Which delivery broke the batch is unknown: each is tried on
            // its own, and only those that fail alone are answered a failure.
            tracing::warn!(%error, deliveries = jobs.len(), "batch commit failed; committing its deliveries one by one");
            for job in jobs {
                let mut single = Batch::default();
                single.push(job.delivery, now_micros());
                let result = engine
                    .commit_batch(&mut single)
                    .await
                    .map(|mut receipts| receipts.pop().unwrap_or_default());
                if matches!(&result, Ok(receipt) if receipt.appended > 0) {
                    changes.send_modify(|g| *g = g.wrapping_add(1));
                }
                let _ = job.reply.send(result);
            }
        }
    }
}
