//! The hand-off from ingest to enrichment: after a delivery is committed and
//! acknowledged, the days and approval instances it calls for pulling are
//! queued here. Queuing never blocks and never fails the acknowledgement.

use chrono::NaiveDate;

/// One employee's work day to fetch with `getupdatedata`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DayPull {
    pub tenant: String,
    pub employee_id: String,
    pub work_date: NaiveDate,
}

/// One approval instance to fetch with `/v1.0/workflow/processInstances`,
/// because the day it affects is only in its form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct InstancePull {
    pub tenant: String,
    pub instance_id: String,
    pub employee_id: String,
}

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
