//! Feishu's side of reconciliation: what `user_flows/query` and
//! `user_tasks/query` say of some employees of one tenant over a window,
//! bucketed by work date (the kit runs the pass and commits it).

use async_trait::async_trait;
use attendance_adapter_kit::reconcile::{local_midnight, DayPuller, PullError, Pulled, Window};
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Source, Vendor};
use attendance_proto::Timestamp;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::api::FeishuApi;
use crate::pull::{punch_from_flow, shift_results_from_task, PullSource};

/// One Feishu app's puller.
pub struct FeishuPuller {
    pub api: FeishuApi,
    pub zone: Tz,
}

fn yyyymmdd(date: NaiveDate) -> u32 {
    date.format("%Y%m%d").to_string().parse().expect("digits")
}

#[async_trait]
impl DayPuller for FeishuPuller {
    fn source(&self, tenant: &str) -> Source {
        let config = self.api.config();
        Source {
            vendor: Vendor::Feishu as i32,
            app: config.app.clone(),
            app_id: config.app_id.clone(),
            tenant: tenant.to_owned(),
        }
    }

    async fn pull(
        &self,
        tenant: &str,
        employees: &[String],
        window: Window,
        received_time: Timestamp,
    ) -> Result<Pulled, PullError> {
        let config = self.api.config();
        let pull = PullSource {
            app: config.app.clone(),
            app_id: config.app_id.clone(),
            tenant: tenant.to_string(),
            time_zone: self.zone.name().to_string(),
            received_time,
        };
        let from = local_midnight(self.zone, window.first);
        let to = local_midnight(self.zone, window.last.succ_opt().unwrap_or(window.last));
        let flows = self.api.query_user_flows(employees, from, to).await?;
        let tasks = self
            .api
            .query_user_tasks(employees, yyyymmdd(window.first), yyyymmdd(window.last))
            .await?;

        let mut pulled = Pulled::empty(window);
        for flow in &flows.user_flow_results {
            let Some(punch) = punch_from_flow(&pull, flow) else {
                tracing::warn!(app = %config.app, record_id = %flow.record_id, "pulled flow without id or time skipped");
                continue;
            };
            let instant = punch.check_time.expect("set by punch_from_flow");
            let local = self
                .zone
                .timestamp_opt(instant.seconds, 0)
                .single()
                .map(|t| t.date_naive());
            if let Some(bucket) = local.and_then(|d| pulled.days.get_mut(&d)) {
                bucket.push(Fact::Punch(punch));
            }
        }
        for task in &tasks.user_task_results {
            for result in shift_results_from_task(&pull, task) {
                let day = NaiveDate::parse_from_str(&result.work_date, "%Y-%m-%d").ok();
                if let Some(bucket) = day.and_then(|d| pulled.days.get_mut(&d)) {
                    bucket.push(Fact::ShiftResult(result));
                }
            }
        }
        // Users Feishu would not show us were not reconciled. An id
        // `user_flows/query` refused (1220004: unknown or not ours to see)
        // is only harmless when `user_tasks/query` calls it invalid, i.e.
        // no such employee; else its punches are missing from these days.
        let unseen_flows = flows
            .rejected_user_ids
            .iter()
            .filter(|id| !tasks.invalid_user_ids.contains(id))
            .count();
        if !flows.rejected_user_ids.is_empty() {
            tracing::warn!(
                app = %config.app,
                tenant,
                rejected = flows.rejected_user_ids.len(),
                unseen = unseen_flows,
                "feishu rejected some user ids; the others were pulled"
            );
        }
        pulled.complete = tasks.unauthorized_user_ids.is_empty() && unseen_flows == 0;
        Ok(pulled)
    }
}
