//! DingTalk's smart attendance report as the kit's cross-check reads it
//! (approvals.md §3): per employee and month, the report's overtime columns
//! (`getcolumnval`) and leave columns (`getleavetimebynames`, every leave
//! type `vacation/type/list` names) as totals in hours. `api.rs` holds the
//! calls, `wire.rs` the answers' mirrors, `totals.rs` the pure reading.

pub mod api;
pub mod totals;
pub mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use attendance_adapter_kit::cross_check::{
    EmployeeReport, Month, MonthReport, ReportSkip, ReportSource, ReportTotal,
};
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

use crate::api::{ApiError, DingTalkApi};
use api::MAX_COLUMNS_PER_CALL;
use totals::{
    hours_per_day, leave_totals, leave_types, overtime_columns, overtime_total, LeaveType,
    DEFAULT_HOURS_PER_DAY,
};
use wire::{ColumnValues, LeaveTimes};

/// `getleavetimebynames` has no data older than this many days.
pub const LEAVE_DATA_DAYS: i64 = 225;

/// The app's report settings (`[[dingtalk]]` `report_*` keys).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportSettings {
    /// An administrator's userId: `vacation/type/list` answers for one.
    /// Empty: leave columns are not checked.
    pub op_user_id: String,
    /// The report's overtime columns by exact name; empty: picked by name.
    pub overtime_columns: Vec<String>,
}

/// One app's report reader.
pub struct DingTalkReport {
    pub api: Arc<DingTalkApi>,
    pub zone: Tz,
    pub settings: ReportSettings,
}

fn app_skip(reason: impl Into<String>) -> ReportSkip {
    ReportSkip {
        reason: reason.into(),
        ..ReportSkip::default()
    }
}

/// What the app-level calls found: which columns to read for everyone.
struct Plan {
    overtime: Vec<(i64, String)>,
    leave: Vec<LeaveType>,
    leave_names: Vec<String>,
    first: NaiveDate,
    last: NaiveDate,
}

impl DingTalkReport {
    /// The tenant's overtime columns and leave types, or why the report
    /// cannot be read at all.
    async fn plan(&self, month: Month, report: &mut MonthReport) -> Result<Plan, String> {
        match self.api.smart_report_open().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(
                    "the tenant's smart attendance report (智能考勤报表) is off: \
                            DingTalk answers no report column until it is turned on"
                        .into(),
                )
            }
            Err(error) => return Err(format!("the report cannot be read: {error}")),
        }
        let columns = self
            .api
            .report_columns()
            .await
            .map_err(|error| format!("the report's columns cannot be read: {error}"))?;
        let (overtime, missing) =
            overtime_columns(&columns.columns, &self.settings.overtime_columns);
        for name in missing {
            report.skips.push(ReportSkip {
                column: name,
                reason: "report_overtime_columns names it, but the report has no such column"
                    .into(),
                ..ReportSkip::default()
            });
        }
        let today = Utc::now().with_timezone(&self.zone).date_naive();
        let leave = if self.settings.op_user_id.is_empty() {
            report.skips.push(app_skip(
                "leave is not checked: set report_op_user_id (an administrator's userId, \
                 which vacation/type/list requires) to read the leave types",
            ));
            Vec::new()
        } else if (today - month.first_day()).num_days() > LEAVE_DATA_DAYS {
            report.skips.push(app_skip(format!(
                "leave is not checked: the report keeps leave data for {LEAVE_DATA_DAYS} days"
            )));
            Vec::new()
        } else {
            match self.api.vacation_types(&self.settings.op_user_id).await {
                Ok(types) => leave_types(&types),
                Err(error) => {
                    report.skips.push(app_skip(format!(
                        "leave is not checked: the leave types cannot be read: {error}"
                    )));
                    Vec::new()
                }
            }
        };
        report.hours_per_day = hours_per_day(&leave);
        Ok(Plan {
            overtime,
            leave_names: leave.iter().map(|t| t.name.clone()).collect(),
            leave,
            first: month.first_day(),
            last: month.last_day(),
        })
    }

    /// One employee's totals, with the columns that could not be compared.
    async fn employee(
        &self,
        user_id: &str,
        plan: &Plan,
    ) -> Result<(EmployeeReport, Vec<ReportSkip>), ApiError> {
        let mut columns: Vec<ReportTotal> = Vec::new();
        let mut skips = Vec::new();
        let mut answered = false;
        if !plan.overtime.is_empty() {
            let mut values = ColumnValues::default();
            for chunk in plan.overtime.chunks(MAX_COLUMNS_PER_CALL) {
                let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
                let answer = self
                    .api
                    .column_values(user_id, &ids, plan.first, plan.last)
                    .await?;
                values.column_vals.extend(answer.column_vals);
            }
            answered |= !values.column_vals.is_empty();
            columns.extend(overtime_total(&plan.overtime, &values));
        }
        if !plan.leave_names.is_empty() {
            let mut times = LeaveTimes::default();
            for chunk in plan.leave_names.chunks(MAX_COLUMNS_PER_CALL) {
                let answer = self
                    .api
                    .leave_times(user_id, chunk, plan.first, plan.last)
                    .await?;
                times.columns.extend(answer.columns);
            }
            answered |= !times.columns.is_empty();
            let (leave, skipped) = leave_totals(&plan.leave, &plan.leave_names, &times);
            columns.extend(leave);
            skips.extend(skipped.into_iter().map(|(column, reason)| ReportSkip {
                employee_id: user_id.to_owned(),
                column,
                reason,
            }));
        }
        let asked = !plan.overtime.is_empty() || !plan.leave_names.is_empty();
        if asked && !answered {
            // The report answers a column for every employee it counts, even
            // with zeros; nothing at all is an employee it does not count.
            return Ok((
                EmployeeReport::Unreadable(
                    "the report holds no data for this employee this month (departed, or in \
                     no attendance group)"
                        .into(),
                ),
                Vec::new(),
            ));
        }
        Ok((EmployeeReport::Read(columns), skips))
    }
}

#[async_trait]
impl ReportSource for DingTalkReport {
    async fn month(&self, _tenant: &str, month: Month, employees: &[String]) -> MonthReport {
        let mut report = MonthReport {
            default_hours_per_day: DEFAULT_HOURS_PER_DAY,
            ..MonthReport::default()
        };
        let plan = match self.plan(month, &mut report).await {
            Ok(plan) => plan,
            Err(reason) => {
                report.skips.push(app_skip(reason));
                return report;
            }
        };
        // A business error is the employee's (unknown user, no permission
        // for them); anything else (unreachable, banned, still busy) would
        // fail every employee after it, so they are not asked.
        let mut failed: Option<String> = None;
        for employee in employees {
            let read = match &failed {
                Some(error) => EmployeeReport::Unreadable(format!("not read: {error}")),
                None => match self.employee(employee, &plan).await {
                    Ok((read, skips)) => {
                        report.skips.extend(skips);
                        read
                    }
                    Err(error @ ApiError::Vendor { .. }) => {
                        EmployeeReport::Unreadable(error.to_string())
                    }
                    Err(error) => {
                        tracing::warn!(app = %self.api.config().app, %error, "report check stopped");
                        failed = Some(error.to_string());
                        EmployeeReport::Unreadable(error.to_string())
                    }
                },
            };
            report.employees.insert(employee.clone(), read);
        }
        report
    }
}
