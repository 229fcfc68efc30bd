//! One reconciliation pass of a DingTalk app: pull a window of work days for
//! a set of employees (`attendance/listRecord` for every punch, including
//! those on unscheduled days that fired no push; `attendance/list` for every
//! check point), commit what differs as new facts or revisions, and signal
//! every (tenant, work date) the pass covered.
//!
//! The window is split into spans of at most 7 days and the employees into
//! batches of at most 50, DingTalk's limits per call. Each span is pulled
//! whole before anything of it is committed, so a failed call leaves no day
//! half-applied and unsignalled days are exactly those not yet covered.

use std::collections::BTreeMap;

use attendance_proto::ingest::{DeliverySink, Fact, SinkError};
use attendance_proto::v1::{DayReconciled, Source, Vendor};
use attendance_proto::Timestamp;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;

use crate::api::{ApiError, DingTalkApi, MAX_DAYS_PER_CALL, MAX_USERS_PER_CALL};
use crate::pull::{pull_delivery, punches_from_records, shift_results_from_list, PullSource};

/// An employee to reconcile, with the tenant (corpId) their facts are
/// stored under.
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

impl Window {
    /// The window cut into spans of at most `days` days, in order.
    pub fn spans(&self, days: i64) -> Vec<Window> {
        let mut spans = Vec::new();
        let mut first = self.first;
        while first <= self.last {
            let last = (first + Duration::days(days.max(1) - 1)).min(self.last);
            spans.push(Window { first, last });
            first = last + Duration::days(1);
        }
        spans
    }
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
    #[error("invalid window: {0}")]
    Window(String),
}

/// Runs one pass over `window` in the tenant's `zone`. `received_time`
/// stamps the pulled facts and the day signals.
pub async fn reconcile(
    api: &DingTalkApi,
    sink: &dyn DeliverySink,
    zone: Tz,
    employees: &[Employee],
    window: Window,
    received_time: Timestamp,
) -> Result<PassReport, ReconcileError> {
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
            app_id: config.app_key.clone(),
            tenant: tenant.to_owned(),
            zone,
            received_time,
        };
        for span in window.spans(MAX_DAYS_PER_CALL) {
            reconcile_span(api, sink, &pull, &ids, span, &mut report).await?;
        }
    }
    Ok(report)
}

async fn reconcile_span(
    api: &DingTalkApi,
    sink: &dyn DeliverySink,
    pull: &PullSource,
    ids: &[String],
    span: Window,
    report: &mut PassReport,
) -> Result<(), ReconcileError> {
    // Every day of the span gets a (possibly empty) bucket: a day with no
    // punches and no results is still reconciled.
    let mut days: BTreeMap<NaiveDate, Vec<Fact>> = BTreeMap::new();
    let mut day = span.first;
    while day <= span.last {
        days.insert(day, Vec::new());
        day += Duration::days(1);
    }
    let from = span.first.and_hms_opt(0, 0, 0).expect("midnight exists");
    let to = span
        .last
        .and_hms_opt(23, 59, 59)
        .expect("a second before midnight exists");
    for batch in ids.chunks(MAX_USERS_PER_CALL) {
        let records = api.list_records(batch, from, to).await?;
        for item in &records {
            let Some(punch) = punches_from_records(pull, std::slice::from_ref(item)).pop() else {
                continue;
            };
            // A punch belongs to its work date when listRecord says one that
            // the span covers (a night shift's punch after midnight), else to
            // the date of its check time.
            let work_date = item
                .get("workDate")
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                .and_then(crate::translate::millis_timestamp)
                .and_then(|t| pull.local_date(&t))
                .filter(|d| days.contains_key(d));
            let checked = punch.check_time.as_ref().and_then(|t| pull.local_date(t));
            if let Some(bucket) = work_date.or(checked).and_then(|d| days.get_mut(&d)) {
                bucket.push(Fact::Punch(punch));
            }
        }
        for result in
            shift_results_from_list(pull, &api.list_results(batch, span.first, span.last).await?)
        {
            let date = NaiveDate::parse_from_str(&result.work_date, "%Y-%m-%d").ok();
            if let Some(bucket) = date.and_then(|d| days.get_mut(&d)) {
                bucket.push(Fact::ShiftResult(result));
            }
        }
    }
    for (work_date, facts) in days {
        report.facts_pulled += facts.len();
        let mut applied = 0;
        if !facts.is_empty() {
            let receipt = sink
                .commit(pull_delivery(pull, "reconciliation", facts))
                .await?;
            applied = receipt.appended;
            report.differences_applied += receipt.appended;
            report.unchanged += receipt.unchanged;
        }
        let signal = Fact::DayReconciled(DayReconciled {
            source: Some(Source {
                vendor: Vendor::Dingtalk as i32,
                app: pull.app.clone(),
                app_id: pull.app_id.clone(),
                tenant: pull.tenant.clone(),
            }),
            work_date: work_date.to_string(),
            reconciled_time: Some(pull.received_time),
            differences_applied: applied as i64,
        });
        sink.commit(pull_delivery(pull, "day_reconciled", vec![signal]))
            .await?;
        report.work_dates_reconciled.push(work_date.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_split_into_spans_of_at_most_seven_days() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2021, 1, d).unwrap();
        let spans = Window {
            first: day(1),
            last: day(16),
        }
        .spans(7);
        assert_eq!(
            spans,
            vec![
                Window {
                    first: day(1),
                    last: day(7)
                },
                Window {
                    first: day(8),
                    last: day(14)
                },
                Window {
                    first: day(15),
                    last: day(16)
                },
            ]
        );
        assert_eq!(
            Window {
                first: day(3),
                last: day(3)
            }
            .spans(7)
            .len(),
            1
        );
    }
}
