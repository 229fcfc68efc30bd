//! The day-reconciled signals as state: the latest signal of each (vendor,
//! tenant, work date) is the current revision of its fact, so "which days of
//! a period are reconciled" is a list query like any other, and the day view
//! reads the same rows.

use attendance_proto::v1::{DayReconciled, LogEntryKind};

use crate::engine::Condition;
use crate::fact::validate_work_date;
use crate::page::MAX_PAGE_SIZE;
use crate::{Store, StoreError};

/// The latest signal of each vendor's reconciled days of one tenant, for
/// work dates in `[work_date_from, work_date_to]`.
#[derive(Clone, Debug, Default)]
pub struct ReconciledDaysQuery {
    pub tenant: String,
    /// 0 matches every vendor.
    pub vendor: i32,
    pub work_date_from: String,
    pub work_date_to: String,
}

/// Work dates one query covers at most: a year of signals of two vendors
/// stays one small answer.
pub const MAX_RECONCILED_DAYS: i64 = 366;

impl Store {
    /// The latest signal of each (vendor, work date) in the range, by work
    /// date then vendor.
    pub async fn list_reconciled_days(
        &self,
        q: &ReconciledDaysQuery,
    ) -> Result<Vec<DayReconciled>, StoreError> {
        let required = |field: &'static str, value: &str| {
            if value.is_empty() {
                Err(StoreError::InvalidArgument {
                    field,
                    reason: "is required".into(),
                })
            } else {
                Ok(())
            }
        };
        required("tenant", &q.tenant)?;
        required("work_date_from", &q.work_date_from)?;
        required("work_date_to", &q.work_date_to)?;
        validate_work_date("work_date_from", &q.work_date_from)?;
        validate_work_date("work_date_to", &q.work_date_to)?;
        let date = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d");
        if let (Ok(from), Ok(to)) = (date(&q.work_date_from), date(&q.work_date_to)) {
            if to < from {
                return Err(StoreError::InvalidArgument {
                    field: "work_date_to",
                    reason: "is before work_date_from".into(),
                });
            }
            if (to - from).num_days() >= MAX_RECONCILED_DAYS {
                return Err(StoreError::InvalidArgument {
                    field: "work_date_to",
                    reason: format!("a query covers at most {MAX_RECONCILED_DAYS} days"),
                });
            }
        }
        let mut conditions = vec![
            Condition::Tenant(q.tenant.clone()),
            Condition::WorkDateFrom(q.work_date_from.clone()),
            Condition::WorkDateTo(q.work_date_to.clone()),
        ];
        if q.vendor != 0 {
            conditions.push(Condition::Vendor(q.vendor));
        }
        let mut days = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .list::<DayReconciled>(
                    LogEntryKind::DayReconciled,
                    conditions.clone(),
                    MAX_PAGE_SIZE as i32,
                    &token,
                )
                .await?;
            days.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(days);
            }
            token = page.next_page_token;
        }
    }
}
