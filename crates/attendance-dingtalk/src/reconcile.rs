//! DingTalk's side of reconciliation: what `attendance/listRecord` (every
//! punch, including those on unscheduled days that fired no push) and
//! `attendance/list` (every check point) say of some employees of one tenant
//! over a span of at most 7 days, in batches of at most 50 users (DingTalk's
//! limits per call), bucketed by work date; and the approvals of the
//! templates in `process_kinds` whose period touches the span
//! (`approvals.rs`). The kit runs the pass.

mod approvals;

use async_trait::async_trait;
use attendance_adapter_kit::reconcile::{DayPuller, PullError, Pulled, Window};
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Source, Vendor};
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::api::{DingTalkApi, MAX_DAYS_PER_CALL, MAX_USERS_PER_CALL};
use crate::pull::{punches_from_records, shift_results_from_list, PullSource};

pub(crate) use approvals::read_instances;
pub use approvals::{bucket, ApprovalPuller};

/// One DingTalk app's puller.
pub struct DingTalkPuller {
    pub api: std::sync::Arc<DingTalkApi>,
    pub zone: Tz,
    pub approvals: ApprovalPuller,
}

#[async_trait]
impl DayPuller for DingTalkPuller {
    fn source(&self, tenant: &str) -> Source {
        let config = self.api.config();
        Source {
            vendor: Vendor::Dingtalk as i32,
            app: config.app.clone(),
            app_id: config.app_key.clone(),
            tenant: tenant.to_owned(),
        }
    }

    fn max_days_per_pull(&self) -> i64 {
        MAX_DAYS_PER_CALL
    }

    async fn pull(
        &self,
        tenant: &str,
        employees: &[String],
        span: Window,
        received_time: Timestamp,
    ) -> Result<Pulled, PullError> {
        self.pull_in_pass(tenant, employees, span, received_time, false)
            .await
    }

    async fn pull_in_pass(
        &self,
        tenant: &str,
        employees: &[String],
        span: Window,
        received_time: Timestamp,
        whole_tenant: bool,
    ) -> Result<Pulled, PullError> {
        let config = self.api.config();
        let pull = PullSource {
            app: config.app.clone(),
            app_id: config.app_key.clone(),
            tenant: tenant.to_owned(),
            zone: self.zone,
            received_time,
        };
        let mut pulled = Pulled::empty(span);
        let from = span.first.and_hms_opt(0, 0, 0).expect("midnight exists");
        let to = span
            .last
            .and_hms_opt(23, 59, 59)
            .expect("a second before midnight exists");
        for batch in employees.chunks(MAX_USERS_PER_CALL) {
            let records = self.api.list_records(batch, from, to).await?;
            for item in &records {
                let Some(punch) = punches_from_records(&pull, std::slice::from_ref(item)).pop()
                else {
                    continue;
                };
                // A punch belongs to its work date when listRecord says one
                // that the span covers (a night shift's punch after
                // midnight), else to the date of its check time.
                let work_date = item
                    .get("workDate")
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                    .and_then(crate::translate::millis_timestamp)
                    .and_then(|t| pull.local_date(&t))
                    .filter(|d| pulled.days.contains_key(d));
                let checked = punch.check_time.as_ref().and_then(|t| pull.local_date(t));
                if let Some(bucket) = work_date.or(checked).and_then(|d| pulled.days.get_mut(&d)) {
                    bucket.push(Fact::Punch(punch));
                }
            }
            let results = self.api.list_results(batch, span.first, span.last).await?;
            for result in shift_results_from_list(&pull, &results) {
                let date = NaiveDate::parse_from_str(&result.work_date, "%Y-%m-%d").ok();
                if let Some(bucket) = date.and_then(|d| pulled.days.get_mut(&d)) {
                    bucket.push(Fact::ShiftResult(result));
                }
            }
        }
        self.approvals
            .pull_span(&pull, employees, span, whole_tenant, &mut pulled)
            .await?;
        Ok(pulled)
    }
}
