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

/// One approval instance to read with `/v1.0/workflow/processInstances`,
/// because its event could not say enough: `finish` has no result, an
/// unlisted `bizCategoryId` no kind, neither approval event the employee,
/// period or duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ApprovalPull {
    pub tenant: String,
    pub instance_id: String,
    /// The event's `processCode`, for the operator's `process_kinds`.
    #[serde(default)]
    pub process_code: String,
    /// The kind the event stated (`ApprovalKind` as its number; 0 when it
    /// stated none) and what it was read from. Named apart in the payload,
    /// where `kind` tags the job.
    #[serde(default, rename = "approval_kind")]
    pub kind: i32,
    #[serde(default)]
    pub kind_original: String,
}
