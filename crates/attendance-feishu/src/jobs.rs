//! Feishu's pulls as durable jobs: the employee-days a committed push calls
//! for (a `user_task.updated_v1` that names a day but not what changed),
//! queued per app in the store with the push itself and worked by whichever
//! replica takes them. The day is pulled as the reconciliation pass pulls
//! it ([`FeishuPuller`]), so a job and a pass say the same of it.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use attendance_adapter_kit::jobs::JobHandler;
use attendance_adapter_kit::reconcile::{pull_delivery, DayPuller, Window};
use attendance_proto::hub::{HubStore, TakenJob};
use attendance_proto::ingest::Job;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::reconcile::FeishuPuller;

/// The event type of a delivery a day job commits.
pub const EMPLOYEE_DAY_PULL: &str = "employee_day_pull";

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

/// One app's day jobs: its puller and the store the facts commit to.
pub struct AppPulls {
    pub name: String,
    pub puller: Arc<FeishuPuller>,
    pub store: Arc<dyn HubStore>,
}

#[async_trait]
impl JobHandler for AppPulls {
    async fn run(&self, job: &TakenJob) -> Result<(), String> {
        let day: DayPull = serde_json::from_str(&job.payload)
            .map_err(|error| format!("unreadable job payload: {error}"))?;
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
}
