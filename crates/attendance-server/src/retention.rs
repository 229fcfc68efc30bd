//! Retention in the running hub: the configured cuts applied hourly by one
//! replica at a time, and on request through `AdminService/ApplyRetention`.

use std::time::{Duration, SystemTime};

use attendance_core::{Removed, Store, StoreError};
use tokio::sync::watch;

use crate::config::RetentionConfig;

/// How often the configured retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The singleton claim: on PostgreSQL one replica at a time removes.
const SINGLETON: &str = "retention";

/// Applies `raw_before`/`log_before` under the retention claim; `None`
/// when another replica is applying retention now.
pub(crate) async fn apply(
    store: &Store,
    raw_before: Option<SystemTime>,
    log_before: Option<SystemTime>,
) -> Result<Option<Removed>, StoreError> {
    let Some(_claim) = store.try_singleton(SINGLETON).await? else {
        return Ok(None);
    };
    let removed = store.apply_retention(raw_before, log_before).await?;
    tracing::info!(
        raw_documents = removed.raw_documents,
        log_entries = removed.log_entries,
        oldest_cursor = %removed.oldest.encode(),
        "retention applied"
    );
    Ok(Some(removed))
}

/// Applies the configured retention now and every hour until `stop`;
/// returns at once when the config keeps everything for ever.
pub(crate) async fn run(store: Store, retention: RetentionConfig, mut stop: watch::Receiver<bool>) {
    if !retention.removes_anything() {
        return;
    }
    loop {
        let (raw_before, log_before) = retention.cuts(chrono::Utc::now());
        match apply(&store, raw_before, log_before).await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::debug!("another replica is applying retention"),
            Err(error) => {
                tracing::warn!(%error, "retention failed; the next run tries again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
