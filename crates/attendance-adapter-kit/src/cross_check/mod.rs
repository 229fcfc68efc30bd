//! Cross-checking, per employee and calendar month, the hub's approved leave
//! and overtime against the vendor's own attendance report, for any vendor:
//! the vendor supplies a [`ReportSource`] (its report's totals in hours, in
//! model terms), the kit reads the hub's approvals through `HubStore`,
//! compares (`compare.rs`) and reports each difference with both figures.
//! Nothing is written: a difference is for an operator to look into, never
//! fixed here.

mod compare;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use attendance_proto::hub::HubStore;
use attendance_proto::ingest::SinkError;
use attendance_proto::labels::vendor_name;
use attendance_proto::v1::{
    ApprovalKind, CheckReportTotalsRequest, CheckReportTotalsResponse, ReportCheckSkip,
    ReportCheckedEmployee, ReportDifference, Vendor,
};
use chrono::{Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;

pub use compare::{compare, hub_totals, rounded, unit_hours, HubTotals, Mismatch};

use crate::meter::CallCounter;
use crate::reconcile::local_midnight;

/// What a total counts, in model terms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TotalKind {
    /// Approved leave of one leave type, as the vendor names it.
    Leave(String),
    /// Approved overtime.
    Overtime,
}

/// One column of the vendor's report, summed over an employee's month.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportTotal {
    /// The column as the report names it.
    pub column: String,
    pub kind: TotalKind,
    pub hours: f64,
    /// The report's grid for this column (half a day of the leave type, half
    /// an hour): differences below one step are its rounding.
    pub step_hours: f64,
}

/// One employee's side of the report.
#[derive(Clone, Debug, PartialEq)]
pub enum EmployeeReport {
    Read(Vec<ReportTotal>),
    /// The report holds nothing for the employee (departed, not in an
    /// attendance group, refused): why, for the operator.
    Unreadable(String),
}

/// Something the check could not compare.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportSkip {
    /// Empty: every employee of the app.
    pub employee_id: String,
    /// Empty: every column.
    pub column: String,
    pub reason: String,
}

/// What the vendor's report says of some employees' month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonthReport {
    pub employees: BTreeMap<String, EmployeeReport>,
    /// Hours in one day of each leave type (by name), for the hub's
    /// approvals counted in days.
    pub hours_per_day: BTreeMap<String, f64>,
    /// ... of a leave type the vendor did not list, and of overtime.
    pub default_hours_per_day: f64,
    /// What the report could not say for the app or a column.
    pub skips: Vec<ReportSkip>,
}

/// A vendor's attendance report, read for one tenant's month. Problems are
/// answered as skips, never as errors: a check reports what it could not
/// compare beside what it could.
#[async_trait]
pub trait ReportSource: Send + Sync {
    async fn month(&self, tenant: &str, month: Month, employees: &[String]) -> MonthReport;
}

/// One app whose vendor report can be read.
pub struct ReportCheckingApp {
    pub vendor: Vendor,
    pub app: String,
    /// The tenant whose report the app reads.
    pub tenant: String,
    pub zone: Tz,
    /// Employees checked even before any event named them.
    pub roster: Vec<String>,
    pub source: Arc<dyn ReportSource>,
    /// The app's vendor calls, added to the store after each check.
    pub calls: Arc<CallCounter>,
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
        (text.len() == 7).then_some(Month { first })
    }

    pub fn first_day(&self) -> NaiveDate {
        self.first
    }

    pub fn last_day(&self) -> NaiveDate {
        self.next().first - chrono::Duration::days(1)
    }

    fn next(&self) -> Month {
        Month {
            first: self.first + Months::new(1),
        }
    }

    /// `[start, end)` in Unix seconds: the month's midnights in `zone`.
    pub fn bounds(&self, zone: Tz) -> (i64, i64) {
        (
            local_midnight(zone, self.first),
            local_midnight(zone, self.next().first),
        )
    }

    pub fn text(&self) -> String {
        format!("{:04}-{:02}", self.first.year(), self.first.month())
    }
}

/// Why a check could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A request field is wrong.
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// The hub's own approvals could not be read.
    #[error(transparent)]
    Store(#[from] SinkError),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> CheckError {
    CheckError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// The operator's call: every matching app's report against the hub, now.
pub async fn check_report_totals(
    apps: &[Arc<ReportCheckingApp>],
    store: &dyn HubStore,
    request: &CheckReportTotalsRequest,
) -> Result<CheckReportTotalsResponse, CheckError> {
    if request.tenant.is_empty() {
        return Err(invalid("tenant", "name the tenant whose report is read"));
    }
    let month = Month::parse(&request.month)
        .ok_or_else(|| invalid("month", format!("{:?} is not YYYY-MM", request.month)))?;
    // A day ahead of UTC covers every zone's today.
    if month.first_day() > Utc::now().date_naive() + chrono::Duration::days(1) {
        return Err(invalid("month", "has not begun"));
    }
    let chosen: Vec<&Arc<ReportCheckingApp>> = apps
        .iter()
        .filter(|app| request.vendor == 0 || request.vendor == app.vendor as i32)
        .filter(|app| request.app.is_empty() || request.app == app.app)
        .filter(|app| app.tenant == request.tenant)
        .collect();
    if chosen.is_empty() {
        let (field, what) = if request.app.is_empty() {
            ("tenant", "no configured app reads this tenant's report")
        } else {
            ("app", "no app of that name reads this tenant's report")
        };
        return Err(invalid(field, what));
    }
    let mut response = CheckReportTotalsResponse::default();
    for app in chosen {
        check_app(app, store, month, &request.employee_ids, &mut response).await?;
    }
    response.differences.sort_by(|a, b| {
        (a.vendor, &a.app, &a.employee_id, &a.column).cmp(&(
            b.vendor,
            &b.app,
            &b.employee_id,
            &b.column,
        ))
    });
    Ok(response)
}

/// The employees a check covers: the named ones, or those the hub saw in the
/// app's facts for the tenant and the app's roster.
async fn employees(
    app: &ReportCheckingApp,
    store: &dyn HubStore,
    named: &[String],
) -> Result<Vec<String>, CheckError> {
    let mut employees: BTreeSet<String> = named.iter().cloned().collect();
    if employees.is_empty() {
        let known = store.known_employees(app.vendor, &app.app).await?;
        employees.extend(
            known
                .into_iter()
                .filter(|e| e.tenant == app.tenant)
                .map(|e| e.employee_id),
        );
        employees.extend(app.roster.iter().cloned());
    }
    Ok(employees.into_iter().collect())
}

async fn check_app(
    app: &ReportCheckingApp,
    store: &dyn HubStore,
    month: Month,
    named: &[String],
    response: &mut CheckReportTotalsResponse,
) -> Result<(), CheckError> {
    let employees = employees(app, store, named).await?;
    let skip = |skip: ReportSkip| ReportCheckSkip {
        vendor: app.vendor as i32,
        app: app.app.clone(),
        tenant: app.tenant.clone(),
        employee_id: skip.employee_id,
        column: skip.column,
        reason: skip.reason,
    };
    let report = if employees.is_empty() {
        MonthReport {
            skips: vec![ReportSkip {
                reason: "no employee of the tenant is known: name them, or list them in the \
                         app's roster"
                    .into(),
                ..ReportSkip::default()
            }],
            ..MonthReport::default()
        }
    } else {
        let report = app.source.month(&app.tenant, month, &employees).await;
        app.calls.flush(store).await;
        report
    };
    let (from, until) = month.bounds(app.zone);
    let at = |seconds: i64| UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64);
    let per_day = |leave_type: &str| {
        report
            .hours_per_day
            .get(leave_type)
            .copied()
            .unwrap_or(report.default_hours_per_day)
    };
    let mut differences = 0;
    response
        .skips
        .extend(report.skips.iter().cloned().map(skip));
    for (employee_id, read) in &report.employees {
        let columns = match read {
            EmployeeReport::Read(columns) => columns,
            EmployeeReport::Unreadable(reason) => {
                response.skips.push(skip(ReportSkip {
                    employee_id: employee_id.clone(),
                    column: String::new(),
                    reason: reason.clone(),
                }));
                continue;
            }
        };
        let approvals = store
            .employee_approvals(app.vendor, &app.tenant, employee_id, at(from), at(until))
            .await?;
        let hub = hub_totals(&approvals, from, until, &per_day);
        let (mismatches, uncovered) = compare(columns, &hub);
        response.checked.push(ReportCheckedEmployee {
            vendor: app.vendor as i32,
            app: app.app.clone(),
            tenant: app.tenant.clone(),
            employee_id: employee_id.clone(),
        });
        for mismatch in mismatches {
            let (kind, leave_type) = model_kind(&mismatch.kind);
            differences += 1;
            response.differences.push(ReportDifference {
                vendor: app.vendor as i32,
                app: app.app.clone(),
                tenant: app.tenant.clone(),
                employee_id: employee_id.clone(),
                month: month.text(),
                column: mismatch.column,
                kind: kind as i32,
                leave_type,
                hub_value: mismatch.hub_hours,
                report_value: mismatch.report_hours,
                unit: "hours".into(),
                step: mismatch.step_hours,
            });
        }
        for (kind, hours) in uncovered {
            let column = match &kind {
                TotalKind::Leave(name) => name.clone(),
                TotalKind::Overtime => String::new(),
            };
            // The vendor may have said already why the column is missing.
            let said = |s: &ReportSkip| s.employee_id == *employee_id && s.column == column;
            if !column.is_empty() && report.skips.iter().any(said) {
                continue;
            }
            let reason = match &kind {
                TotalKind::Leave(name) => format!(
                    "the hub counts {hours} h of approved leave {name:?} but the report has no \
                     column for it: check the leave-type settings (the exact name, and that \
                     the type is still listed)"
                ),
                TotalKind::Overtime => format!(
                    "the hub counts {hours} h of approved overtime but no overtime column of \
                     the report was found: name the report's overtime columns in the app's \
                     settings"
                ),
            };
            response.skips.push(skip(ReportSkip {
                employee_id: employee_id.clone(),
                column,
                reason,
            }));
        }
        if !hub.uncounted.is_empty() {
            response.skips.push(skip(ReportSkip {
                employee_id: employee_id.clone(),
                column: String::new(),
                reason: format!(
                    "approvals whose hours cannot be told (no duration unit or no period) are \
                     not in the hub's totals: {}",
                    hub.uncounted.join(", ")
                ),
            }));
        }
    }
    let vendor = vendor_name(app.vendor);
    metrics::gauge!(
        "attendance_hub_report_differences",
        "vendor" => vendor,
        "app" => app.app.clone(),
        "tenant" => app.tenant.clone()
    )
    .set(differences as f64);
    metrics::counter!(
        "attendance_hub_report_checks_total",
        "vendor" => vendor,
        "app" => app.app.clone()
    )
    .increment(1);
    tracing::info!(
        vendor,
        app = %app.app,
        tenant = %app.tenant,
        month = %month.text(),
        employees = employees.len(),
        differences,
        "report totals checked"
    );
    Ok(())
}

fn model_kind(kind: &TotalKind) -> (ApprovalKind, String) {
    match kind {
        TotalKind::Leave(name) => (ApprovalKind::Leave, name.clone()),
        TotalKind::Overtime => (ApprovalKind::Overtime, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_read_and_bound_in_the_zone() {
        let march = Month::parse("2021-03").unwrap();
        assert_eq!(march.text(), "2021-03");
        assert_eq!(
            march.last_day(),
            NaiveDate::from_ymd_opt(2021, 3, 31).unwrap()
        );
        let (start, end) = march.bounds(chrono_tz::Asia::Shanghai);
        // 2021-02-28T16:00:00Z and 2021-03-31T16:00:00Z.
        assert_eq!((start, end), (1_614_528_000, 1_617_206_400));
        assert_eq!(Month::parse("2021-12").unwrap().last_day().day(), 31);
        for bad in ["2021-3", "2021-13", "2021-03-01", "march", ""] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
