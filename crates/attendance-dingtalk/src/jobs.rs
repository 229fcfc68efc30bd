//! DingTalk's pulls as durable jobs: the employee-days a committed push
//! calls for (`getupdatedata`) and the approval instances whose day must be
//! found first (an approved 补卡 names no day), queued per app in the store
//! and worked by whichever replica takes them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use attendance_adapter_kit::jobs::JobHandler;
use attendance_adapter_kit::reconcile::Window;
use attendance_proto::hub::{HubStore, TakenJob};
use attendance_proto::ingest::{Delivery, Fact, Job};
use attendance_proto::v1::{ApprovalKind, ApprovalStatus};
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::api::{DingTalkApi, MAX_DAYS_PER_CALL};
use crate::pull::{
    approvals_from_instances, facts_from_update_data, pull_delivery, punches_from_records,
    record_instance_id, InstanceHint, PullSource, GETUPDATEDATA, LIST_RECORDS, PROCESS_INSTANCE,
};
use crate::reconcile::read_instances;
use crate::translate::{approval_pulls, instance_pulls, pull_triggers};
use crate::trigger::{ApprovalPull, DayPull, InstancePull};

/// The queue of one app's pulls.
pub fn queue_of(app: &str) -> String {
    format!("dingtalk/{app}")
}

/// What a job asks for, as its payload says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PullJob {
    Day(DayPull),
    Instance(InstancePull),
    /// An approval instance read for what its event could not say.
    Approval(ApprovalPull),
}

impl PullJob {
    /// The job, keyed so that a second trigger of the same pull while one
    /// waits adds nothing.
    pub fn job(&self, app: &str) -> Job {
        let key = match self {
            PullJob::Day(day) => {
                format!("day/{}/{}/{}", day.tenant, day.employee_id, day.work_date)
            }
            PullJob::Instance(instance) => {
                format!("instance/{}/{}", instance.tenant, instance.instance_id)
            }
            PullJob::Approval(approval) => {
                format!("approval/{}/{}", approval.tenant, approval.instance_id)
            }
        };
        Job {
            queue: queue_of(app),
            key,
            payload: serde_json::to_string(self).expect("a pull job serializes"),
        }
    }
}

/// Which app's queue a push's pulls join: the app that received it (or, for
/// the callback router shared by every app, the app whose corp is the tenant,
/// else the only app that pulls). The jobs ride on the delivery itself, so
/// they commit with it in one transaction: an acknowledged push never loses
/// its pulls, and a duplicate adds none.
#[derive(Clone, Debug, Default)]
pub struct PullRouting {
    /// (app name, corp id) of the apps that pull.
    pub apps: Vec<(String, String)>,
    /// The app every pull goes to, when the route serves one app.
    pub only: Option<String>,
    /// Each app's `time_zone`, in which a punch's instant is a work date;
    /// `Asia/Shanghai` for an app not named here.
    pub zones: BTreeMap<String, Tz>,
}

impl PullRouting {
    /// Routing that queues nothing, for apps that do not pull.
    pub fn none() -> Self {
        Self::default()
    }

    fn app_for(&self, tenant: &str) -> Option<&str> {
        if let Some(app) = &self.only {
            return self.apps.iter().any(|(name, _)| name == app).then_some(app);
        }
        self.apps
            .iter()
            .find(|(_, corp)| !tenant.is_empty() && corp == tenant)
            .or(if self.apps.len() == 1 {
                self.apps.first()
            } else {
                None
            })
            .map(|(name, _)| name.as_str())
    }

    /// Adds to `delivery` the jobs its facts call for: the employee-days to
    /// fetch and the approval instances whose day is only in their form.
    pub fn attach(&self, delivery: &mut Delivery) {
        let zone = self
            .app_for(&delivery.tenant)
            .and_then(|app| self.zones.get(app))
            .copied()
            .unwrap_or(chrono_tz::Asia::Shanghai);
        let days = pull_triggers(delivery, zone)
            .into_iter()
            .map(|pull| (pull.tenant.clone(), PullJob::Day(pull)));
        let instances = instance_pulls(delivery)
            .into_iter()
            .map(|pull| (pull.tenant.clone(), PullJob::Instance(pull)));
        let approvals = approval_pulls(delivery)
            .into_iter()
            .map(|pull| (pull.tenant.clone(), PullJob::Approval(pull)));
        let jobs: Vec<Job> = days
            .chain(instances)
            .chain(approvals)
            .filter_map(|(tenant, pull)| match self.app_for(&tenant) {
                Some(app) => Some(pull.job(app)),
                None => {
                    if !self.apps.is_empty() {
                        tracing::warn!(?pull, "no dingtalk app with API credentials for this pull");
                    }
                    None
                }
            })
            .collect();
        delivery.jobs.extend(jobs);
    }
}

/// One app's pull jobs: its API client, zone and corp.
pub struct AppPulls {
    pub name: String,
    pub client_id: String,
    pub corp_id: String,
    pub zone: Tz,
    pub api: Arc<DingTalkApi>,
    pub store: Arc<dyn HubStore>,
    pub supply_lookback_days: u32,
    /// `processCode` → kind for forms with no listed `bizCategoryId`.
    pub process_kinds: BTreeMap<String, ApprovalKind>,
}

#[async_trait]
impl JobHandler for AppPulls {
    async fn run(&self, job: &TakenJob) -> Result<(), String> {
        let pull: PullJob = serde_json::from_str(&job.payload)
            .map_err(|error| format!("unreadable job payload: {error}"))?;
        match pull {
            PullJob::Day(day) => {
                self.pull_day(&day.tenant, &day.employee_id, day.work_date)
                    .await
            }
            PullJob::Instance(instance) => self.pull_correction(&instance).await,
            PullJob::Approval(approval) => self.pull_approval(&approval).await,
        }
    }
}

impl AppPulls {
    fn pull_source(&self, tenant: &str) -> PullSource {
        PullSource {
            app: self.name.clone(),
            app_id: self.client_id.clone(),
            tenant: if tenant.is_empty() {
                self.corp_id.clone()
            } else {
                tenant.to_owned()
            },
            zone: self.zone,
            received_time: SystemTime::now().into(),
        }
    }

    /// `getupdatedata` for one employee-day, committed as one delivery.
    async fn pull_day(
        &self,
        tenant: &str,
        employee_id: &str,
        work_date: NaiveDate,
    ) -> Result<(), String> {
        let result = self
            .api
            .get_update_data(employee_id, work_date)
            .await
            .map_err(|e| e.to_string())?;
        let pull = self.pull_source(tenant);
        let facts = facts_from_update_data(&pull, employee_id, work_date, &result);
        let pulled = facts.len();
        let receipt = self
            .store
            .commit(pull_delivery(&pull, GETUPDATEDATA, facts))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(app = %self.name, employee = employee_id, %work_date, pulled, appended = receipt.appended, "dingtalk day pulled");
        Ok(())
    }

    /// Reads an approval instance and commits the approval it describes:
    /// its outcome, originator, kind (event, `process_kinds`, or form) and
    /// period; with the instances it links to (one it revokes or modifies,
    /// or the revocations it lists), so a revocation withdraws what it
    /// revoked and never reads as an approval of its own, as in
    /// reconciliation. An approved punch correction found this way then has
    /// its day found and pulled like one a `bpms_instance_change` named.
    async fn pull_approval(&self, pull_job: &ApprovalPull) -> Result<(), String> {
        let hint = InstanceHint {
            instance_id: pull_job.instance_id.clone(),
            kind: ApprovalKind::try_from(pull_job.kind).unwrap_or(ApprovalKind::Unspecified),
            kind_original: pull_job.kind_original.clone(),
            process_code: pull_job.process_code.clone(),
        };
        let read = read_instances(&self.api, [hint])
            .await
            .map_err(|e| e.to_string())?;
        if !read.instances.contains_key(&pull_job.instance_id) {
            return Err(format!(
                "approval instance {} not readable",
                pull_job.instance_id
            ));
        }
        let pull = self.pull_source(&pull_job.tenant);
        let approvals = approvals_from_instances(&pull, &self.process_kinds, &read.instances);
        let Some(approval) = approvals
            .iter()
            .find(|a| a.instance_id == pull_job.instance_id)
        else {
            tracing::info!(app = %self.name, instance = %pull_job.instance_id, process_code = %pull_job.process_code, "approval instance is nothing for payroll, or states no outcome");
            return Ok(());
        };
        let correction = (approval.kind == ApprovalKind::PunchCorrection as i32
            && approval.status == ApprovalStatus::Approved as i32)
            .then(|| InstancePull {
                tenant: pull.tenant.clone(),
                instance_id: approval.instance_id.clone(),
                employee_id: approval.employee_id.clone(),
            });
        self.store
            .commit(pull_delivery(
                &pull,
                PROCESS_INSTANCE,
                approvals.into_iter().map(Fact::Approval).collect(),
            ))
            .await
            .map_err(|e| e.to_string())?;
        match correction {
            Some(correction) => self.pull_correction(&correction).await,
            None => Ok(()),
        }
    }

    /// An approved 补卡 names no day: find the punch it made in `listRecord`
    /// (its `procInstId` is the instance), newest week first, then pull the
    /// days those punches fall on. A 补卡 on a holiday fires no punch event,
    /// so this is the only trigger such a day gets.
    async fn pull_correction(&self, instance: &InstancePull) -> Result<(), String> {
        let pull = self.pull_source(&instance.tenant);
        let today = Utc::now().with_timezone(&self.zone).date_naive();
        let lookback = Window {
            first: today - chrono::Duration::days(i64::from(self.supply_lookback_days.max(1)) - 1),
            last: today,
        };
        let users = [instance.employee_id.clone()];
        for span in lookback.spans(MAX_DAYS_PER_CALL).into_iter().rev() {
            let from = span.first.and_hms_opt(0, 0, 0).expect("midnight");
            let to = span
                .last
                .and_hms_opt(23, 59, 59)
                .expect("a second before midnight");
            let records = self
                .api
                .list_records(&users, from, to)
                .await
                .map_err(|e| e.to_string())?;
            let made: Vec<_> = records
                .into_iter()
                .filter(|item| record_instance_id(item) == instance.instance_id)
                .collect();
            if made.is_empty() {
                continue;
            }
            let punches = punches_from_records(&pull, &made);
            let mut days: Vec<NaiveDate> = punches
                .iter()
                .filter_map(|p| p.check_time.as_ref().and_then(|t| pull.local_date(t)))
                .collect();
            days.sort();
            days.dedup();
            self.store
                .commit(pull_delivery(
                    &pull,
                    LIST_RECORDS,
                    punches.into_iter().map(Fact::Punch).collect(),
                ))
                .await
                .map_err(|e| e.to_string())?;
            for day in days {
                self.pull_day(&pull.tenant, &instance.employee_id, day)
                    .await?;
            }
            return Ok(());
        }
        tracing::warn!(app = %self.name, instance = %instance.instance_id, employee = %instance.employee_id, days = self.supply_lookback_days, "no punch made by this correction found; left to reconciliation");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::ApprovalPull;

    #[test]
    fn every_job_payload_reads_back_as_written() {
        let jobs = [
            PullJob::Day(DayPull {
                tenant: "corp".into(),
                employee_id: "u1".into(),
                work_date: NaiveDate::from_ymd_opt(2021, 1, 14).unwrap(),
            }),
            PullJob::Instance(InstancePull {
                tenant: "corp".into(),
                instance_id: "i1".into(),
                employee_id: "u1".into(),
            }),
            PullJob::Approval(ApprovalPull {
                tenant: "corp".into(),
                instance_id: "i2".into(),
                process_code: "PROC-1".into(),
                kind: 3,
                kind_original: "OUT".into(),
            }),
        ];
        for job in jobs {
            let payload = job.job("acme").payload;
            let read: PullJob = serde_json::from_str(&payload).expect(&payload);
            assert_eq!(read, job);
        }
    }
}
