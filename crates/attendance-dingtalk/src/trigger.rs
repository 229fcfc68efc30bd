//! The hand-off from ingest to enrichment: after a delivery is committed and
//! acknowledged, the days and approval instances it calls for pulling are
//! queued here. Queuing never blocks and never fails the acknowledgement.

use crate::translate::{DayPull, InstancePull};

/// Where committed deliveries' pull requests go (a worker drains them).
pub trait PullQueue: Send + Sync + 'static {
    fn pull_days(&self, pulls: Vec<DayPull>);
    fn pull_instances(&self, pulls: Vec<InstancePull>);
}

/// A queue that drops everything, for callers without enrichment.
pub struct NoPulls;

impl PullQueue for NoPulls {
    fn pull_days(&self, _pulls: Vec<DayPull>) {}
    fn pull_instances(&self, _pulls: Vec<InstancePull>) {}
}
