//! One reconciliation pass of a Feishu app: pull a window of work days for a
//! set of employees, commit what differs as new facts or revisions, and signal
//! every (tenant, work date) the pass covered completely.

use std::collections::BTreeMap;

use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Recognition, SinkError};
use attendance_proto::v1::{Channel, DayReconciled, Source, Vendor};
use attendance_proto::Timestamp;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::api::{ApiError, FeishuApi};
use crate::pull::{punch_from_flow, shift_results_from_task, PullSource};

/// An employee to reconcile, with the tenant their facts are stored under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Employee {
    pub tenant: String,
    pub employee_id: String,
}

/// The work days of a pass, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub employees: usize,
    pub facts_pulled: usize,
    pub differences_applied: usize,
    pub unchanged: usize,
    pub work_dates_reconciled: Vec<String>,
}

/// Why a pass did not complete; what it committed before stays committed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("commit failed: {0}")]
    Commit(#[from] SinkError),
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("invalid window: {0}")]
    Window(String),
}

fn local_midnight(zone: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A zone may skip midnight (DST); the earliest instant of the day is then later.
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.timestamp())
        .unwrap_or_else(|| midnight.and_utc().timestamp())
}

fn yyyymmdd(date: NaiveDate) -> u32 {
    date.format("%Y%m%d").to_string().parse().expect("digits")
}

/// Runs one pass. `received_time` stamps the pulled facts.
pub async fn reconcile(
    api: &FeishuApi,
    sink: &dyn DeliverySink,
    time_zone: &str,
    employees: &[Employee],
    window: Window,
    received_time: Timestamp,
) -> Result<PassReport, ReconcileError> {
    let zone: Tz = time_zone
        .parse()
        .map_err(|_| ReconcileError::TimeZone(time_zone.into()))?;
    if window.last < window.first {
        return Err(ReconcileError::Window(format!(
            "{} is after {}",
            window.first, window.last
        )));
    }
    let mut by_tenant: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for employee in employees {
        by_tenant
            .entry(employee.tenant.as_str())
            .or_default()
            .push(employee.employee_id.clone());
    }
    let config = api.config();
    let mut report = PassReport::default();
    for (tenant, mut ids) in by_tenant {
        ids.sort();
        ids.dedup();
        report.employees += ids.len();
        let pull = PullSource {
            app: config.app.clone(),
            app_id: config.app_id.clone(),
            tenant: tenant.to_string(),
            time_zone: time_zone.to_string(),
            received_time,
        };
        let from = local_midnight(zone, window.first);
        let to = local_midnight(zone, window.last.succ_opt().unwrap_or(window.last));
        let flows = api.query_user_flows(&ids, from, to).await?;
        let tasks = api
            .query_user_tasks(&ids, yyyymmdd(window.first), yyyymmdd(window.last))
            .await?;

        // Every day of the window gets a (possibly empty) bucket: a day with no
        // punches and no results is still reconciled.
        let mut days: BTreeMap<String, Vec<Fact>> = BTreeMap::new();
        let mut day = window.first;
        while day <= window.last {
            days.insert(day.to_string(), Vec::new());
            day = day.succ_opt().expect("dates continue");
        }
        for flow in &flows {
            let Some(punch) = punch_from_flow(&pull, flow) else {
                tracing::warn!(app = %config.app, record_id = %flow.record_id, "pulled flow without id or time skipped");
                continue;
            };
            let instant = punch.check_time.expect("set by punch_from_flow");
            let local = zone
                .timestamp_opt(instant.seconds, 0)
                .single()
                .map(|t| t.date_naive().to_string());
            if let Some(bucket) = local.and_then(|d| days.get_mut(&d)) {
                bucket.push(Fact::Punch(punch));
            }
        }
        for task in &tasks.user_task_results {
            for result in shift_results_from_task(&pull, task) {
                if let Some(bucket) = days.get_mut(&result.work_date) {
                    bucket.push(Fact::ShiftResult(result));
                }
            }
        }
        // Users Feishu would not show us were not reconciled: no signal then.
        let complete = tasks.unauthorized_user_ids.is_empty();
        if !complete {
            tracing::warn!(app = %config.app, tenant, unauthorized = ?tasks.unauthorized_user_ids, "pass incomplete: no day signal");
        }
        for (work_date, facts) in days {
            report.facts_pulled += facts.len();
            let mut applied = 0;
            if !facts.is_empty() {
                let receipt = sink
                    .commit(pull_delivery(&pull, "reconciliation", facts))
                    .await?;
                applied = receipt.appended;
                report.differences_applied += receipt.appended;
                report.unchanged += receipt.unchanged;
            }
            if complete {
                let signal = Fact::DayReconciled(DayReconciled {
                    source: Some(Source {
                        vendor: Vendor::Feishu as i32,
                        app: pull.app.clone(),
                        app_id: pull.app_id.clone(),
                        tenant: pull.tenant.clone(),
                    }),
                    work_date: work_date.clone(),
                    reconciled_time: Some(received_time),
                    differences_applied: applied as i64,
                });
                sink.commit(pull_delivery(&pull, "day_reconciled", vec![signal]))
                    .await?;
                report.work_dates_reconciled.push(work_date);
            }
        }
    }
    Ok(report)
}

fn pull_delivery(pull: &PullSource, event_type: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: Vendor::Feishu,
        app: pull.app.clone(),
        tenant: pull.tenant.clone(),
        channel: Channel::Pull,
        // Pulls have no delivery id: business keys alone deduplicate them.
        event_id: String::new(),
        event_type: event_type.into(),
        raw_json: String::new(),
        recognition: Recognition::Translated,
        facts,
        jobs: Vec::new(),
    }
}
