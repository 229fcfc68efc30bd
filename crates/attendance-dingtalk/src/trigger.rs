//! The hand-off from ingest to enrichment: the days and approval instances a
//! push calls for pulling, queued as jobs committed with the push itself.

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
