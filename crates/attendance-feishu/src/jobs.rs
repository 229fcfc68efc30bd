//! Feishu's pulls as durable jobs, queued per app in the store with the
//! push that calls for them and worked by whichever replica takes them:
//! the employee-days a push calls for (a `user_task.updated_v1` that names a
//! day but not what changed), pulled as the reconciliation pass pulls them
//! ([`FeishuPuller`]), so a job and a pass say the same of a day; and the
//! instance of a revert, read so that a revert whose approval was never
//! pushed still becomes that approval, withdrawn.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use attendance_adapter_kit::jobs::JobHandler;
use attendance_adapter_kit::reconcile::{pull_delivery, DayPuller, Window};
use attendance_proto::hub::{HubStore, TakenJob};
use attendance_proto::ingest::Job;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::pull::{approval_from_instance, RevertedInstance};
use crate::reconcile::FeishuPuller;

/// The event type of a delivery a day job commits.
pub const EMPLOYEE_DAY_PULL: &str = "employee_day_pull";
/// The event type of a delivery a revert's instance read commits.
pub const REVERTED_INSTANCE_READ: &str = "reverted_instance_read";
/// The key prefix of instance reads; day jobs' keys start `day/`.
const REVERT_KEY_PREFIX: &str = "revert/";

/// The queue of one app's pulls.
pub fn queue_of(app: &str) -> String {
    format!("feishu/{app}")
}

/// One employee-day to pull: `user_tasks/query` for its check points,
/// `user_flows/query` for its punches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayPull {
    pub tenant: String,
    pub employee_id: String,
    pub work_date: NaiveDate,
}

impl DayPull {
    /// The job, keyed so that a second trigger of the same day while one
    /// waits adds nothing.
    pub fn job(&self, app: &str) -> Job {
        Job {
            queue: queue_of(app),
            key: format!(
                "day/{}/{}/{}",
                self.tenant, self.employee_id, self.work_date
            ),
            payload: serde_json::to_string(self).expect("a day pull serializes"),
        }
    }
}

impl RevertedInstance {
    /// The job, keyed so that a revert delivered twice reads once.
    pub fn job(&self, app: &str) -> Job {
        Job {
            queue: queue_of(app),
            key: format!("{REVERT_KEY_PREFIX}{}/{}", self.tenant, self.instance_code),
            payload: serde_json::to_string(self).expect("a reverted instance serializes"),
        }
    }
}

/// One app's jobs: its puller and the store the facts commit to.
pub struct AppPulls {
    pub name: String,
    pub puller: Arc<FeishuPuller>,
    pub store: Arc<dyn HubStore>,
}

#[async_trait]
impl JobHandler for AppPulls {
    async fn run(&self, job: &TakenJob) -> Result<(), String> {
        let unreadable = |error: serde_json::Error| format!("unreadable job payload: {error}");
        if job.key.starts_with(REVERT_KEY_PREFIX) {
            let revert: RevertedInstance =
                serde_json::from_str(&job.payload).map_err(unreadable)?;
            return self.read_reverted_instance(&revert).await;
        }
        let day: DayPull = serde_json::from_str(&job.payload).map_err(unreadable)?;
        self.pull_day(&day).await
    }
}

impl AppPulls {
    /// Pulls one employee-day and commits what Feishu says of it as one
    /// delivery; business keys make a second pull of the same day add only
    /// what changed.
    pub async fn pull_day(&self, day: &DayPull) -> Result<(), String> {
        let window = Window {
            first: day.work_date,
            last: day.work_date,
        };
        let employees = [day.employee_id.clone()];
        let pulled = self
            .puller
            .pull(&day.tenant, &employees, window, SystemTime::now().into())
            .await
            .map_err(|error| error.to_string())?;
        let facts: Vec<_> = pulled.days.into_values().flatten().collect();
        let count = facts.len();
        let appended = if facts.is_empty() {
            // Feishu has nothing for the day: nothing to store.
            0
        } else {
            let source = self.puller.source(&day.tenant);
            self.store
                .commit(pull_delivery(&source, EMPLOYEE_DAY_PULL, facts))
                .await
                .map_err(|error| error.to_string())?
                .appended
        };
        tracing::info!(
            app = %self.name,
            employee = %day.employee_id,
            work_date = %day.work_date,
            pulled = count,
            appended,
            "feishu employee-day pulled"
        );
        Ok(())
    }

    /// Reads a revert's instance and commits the approval it and the revert
    /// state together (see [`crate::pull::approval_from_instance`]). Where
    /// the approval is stored already this adds at most its detail.
    pub async fn read_reverted_instance(&self, revert: &RevertedInstance) -> Result<(), String> {
        let instance = self
            .puller
            .api
            .get_approval_instance(&revert.instance_code)
            .await
            .map_err(|error| error.to_string())?;
        let pull = self
            .puller
            .pull_source(&revert.tenant, SystemTime::now().into());
        let approval = approval_from_instance(&pull, revert, &instance)?;
        let source = self.puller.source(&revert.tenant);
        let receipt = self
            .store
            .commit(pull_delivery(
                &source,
                REVERTED_INSTANCE_READ,
                vec![attendance_proto::ingest::Fact::Approval(approval)],
            ))
            .await
            .map_err(|error| error.to_string())?;
        tracing::info!(
            app = %self.name,
            instance = %revert.instance_code,
            appended = receipt.appended,
            superseded = receipt.superseded,
            "feishu reverted instance read"
        );
        Ok(())
    }
}
