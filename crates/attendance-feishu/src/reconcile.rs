//! Feishu's side of reconciliation: what `user_flows/query`,
//! `user_tasks/query`, `user_approvals/query` and `user_task_remedys/query`
//! say of some employees of one tenant over a window, bucketed by work date
//! (the kit runs the pass and commits it). An approval goes into every day
//! of the window its span touches (a punch correction: its `remedy_date`),
//! so each of those days' fingerprints covers it.

use async_trait::async_trait;
use attendance_adapter_kit::reconcile::{local_midnight, DayPuller, PullError, Pulled, Window};
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Source, Vendor};
use attendance_proto::Timestamp;
use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::api::approvals::yyyymmdd;
use crate::api::{FeishuApi, APPROVAL_STATUSES};
use crate::pull::{
    approval_from_remedy, approvals_from_day, gather, has_span, punch_from_flow,
    shift_results_from_task, PullSource, PulledApproval,
};

/// One Feishu app's puller.
pub struct FeishuPuller {
    pub api: FeishuApi,
    pub zone: Tz,
}

impl FeishuPuller {
    /// Who pulls for `tenant`, for the facts' source and provenance.
    pub fn pull_source(&self, tenant: &str, received_time: Timestamp) -> PullSource {
        let config = self.api.config();
        PullSource {
            app: config.app.clone(),
            app_id: config.app_id.clone(),
            tenant: tenant.to_owned(),
            time_zone: self.zone.name().to_owned(),
            received_time,
        }
    }
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
        let pull = self.pull_source(tenant, received_time);
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
                tracing::warn!(app = %pull.app, record_id = %flow.record_id, "pulled flow without id or time skipped");
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
        let approvals = self.pull_approvals(&pull, employees, window).await?;
        for pulled_approval in &approvals.approvals {
            for day in self.days_of(pulled_approval, window) {
                if let Some(bucket) = pulled.days.get_mut(&day) {
                    bucket.push(Fact::Approval(pulled_approval.approval.clone()));
                }
            }
        }
        // Users Feishu would not show us were not reconciled. An id
        // `user_flows/query` refused (1220004: unknown or not ours to see)
        // is only harmless when `user_tasks/query` calls it invalid, i.e.
        // no such employee; else its punches are missing from these days.
        let unseen = |rejected: &[String]| {
            rejected
                .iter()
                .filter(|id| !tasks.invalid_user_ids.contains(id))
                .count()
        };
        let unseen_flows = unseen(&flows.rejected_user_ids);
        let unseen_approvals = unseen(&approvals.rejected_user_ids);
        if !flows.rejected_user_ids.is_empty() {
            tracing::warn!(
                app = %pull.app,
                tenant,
                rejected = flows.rejected_user_ids.len(),
                unseen = unseen_flows,
                "feishu rejected some user ids; the others were pulled"
            );
        }
        if unseen_approvals > 0 || approvals.unreadable > 0 {
            tracing::warn!(
                app = %pull.app,
                tenant,
                unseen = unseen_approvals,
                unreadable = approvals.unreadable,
                "some approvals were not pulled; the days are not reconciled"
            );
        }
        pulled.complete = tasks.unauthorized_user_ids.is_empty()
            && unseen_flows == 0
            && unseen_approvals == 0
            && approvals.unreadable == 0;
        Ok(pulled)
    }
}

/// What the approval queries gave over a window.
struct Approvals {
    approvals: Vec<PulledApproval>,
    /// Ids a query refused (1220004), each asked alone.
    rejected_user_ids: Vec<String>,
    /// Items that could not be read (skipped, reported).
    unreadable: usize,
}

impl FeishuPuller {
    /// Every approval of the employees over the window, in every status:
    /// one status per call (the doc), so a withdrawn or revoked approval is
    /// seen as well as an approved one. `user_approvals/query` refuses a
    /// `check_date_from` after tomorrow, so its window ends tomorrow at the
    /// latest, in the earlier of the app's zone and UTC (Feishu does not
    /// say in which zone its today is; a window's later days have not ended
    /// and are not signalled anyway).
    async fn pull_approvals(
        &self,
        pull: &PullSource,
        employees: &[String],
        window: Window,
    ) -> Result<Approvals, PullError> {
        let mut items = Vec::new();
        let mut rejected: BTreeSet<String> = BTreeSet::new();
        let mut problems = Vec::new();
        let now = Utc::now();
        let today = now
            .date_naive()
            .min(now.with_timezone(&self.zone).date_naive());
        let last = window.last.min(today + Duration::days(1));
        if window.first <= last {
            for status in APPROVAL_STATUSES {
                let answer = self
                    .api
                    .query_user_approvals(employees, window.first, last, status)
                    .await?;
                rejected.extend(answer.rejected_user_ids);
                for day in &answer.items {
                    let (approvals, unread) = approvals_from_day(pull, status, day);
                    items.extend(approvals);
                    problems.extend(unread);
                }
            }
        }
        let from = local_midnight(self.zone, window.first);
        let to = local_midnight(self.zone, window.last.succ_opt().unwrap_or(window.last)) - 1;
        for status in APPROVAL_STATUSES {
            let answer = self
                .api
                .query_user_task_remedys(employees, from, to, status)
                .await?;
            rejected.extend(answer.rejected_user_ids);
            for item in &answer.items {
                match approval_from_remedy(pull, status, item) {
                    Ok(approval) => items.push(approval),
                    Err(problem) => problems.push(problem),
                }
            }
        }
        for problem in &problems {
            tracing::warn!(app = %pull.app, %problem, "pulled approval skipped");
        }
        Ok(Approvals {
            approvals: gather(items),
            rejected_user_ids: rejected.into_iter().collect(),
            unreadable: problems.len(),
        })
    }

    /// The days of the window an approval belongs to: those its span
    /// touches in the app's zone (an end at midnight does not touch the
    /// next day), and those Feishu listed it under.
    fn days_of(&self, pulled: &PulledApproval, window: Window) -> BTreeSet<NaiveDate> {
        let mut days: BTreeSet<NaiveDate> = pulled.listed_dates.clone();
        if has_span(&pulled.approval) {
            let local = |seconds: i64| {
                self.zone
                    .timestamp_opt(seconds, 0)
                    .single()
                    .map(|t| t.date_naive())
            };
            let (start, end) = (
                pulled.approval.start_time.unwrap_or_default().seconds,
                pulled.approval.end_time.unwrap_or_default().seconds,
            );
            if let (Some(first), Some(last)) = (local(start), local(start.max(end - 1))) {
                days.extend(
                    window
                        .days()
                        .into_iter()
                        .filter(|d| (first..=last).contains(d)),
                );
            }
        }
        days.retain(|d| (window.first..=window.last).contains(d));
        days
    }
}
