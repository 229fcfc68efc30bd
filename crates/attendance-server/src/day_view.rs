//! One employee's work day as payroll reads it (`GetDailyAttendance`) and a
//! tenant's reconciled days (`ListReconciledDays`): list queries of the
//! store, put together. A day is bounded in a time zone: the caller's, else
//! the one its reconciliation signal or shift results were judged in.

use std::collections::BTreeSet;

use attendance_adapter_kit::reconcile::local_midnight;
use attendance_core::{
    ApprovalQuery, Page, PunchQuery, ReconciledDaysQuery, ShiftResultQuery, Store, StoreError,
    TenantScope,
};
use attendance_proto::v1::{
    DayReconciled, GetDailyAttendanceRequest, GetDailyAttendanceResponse,
    ListReconciledDaysRequest, ListReconciledDaysResponse, Source,
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use tonic::Status;

use crate::error::{invalid_field, status_of};

/// Every page of a list query, for one day's few facts.
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let next = page(token).await?;
        items.extend(next.items);
        if next.next_page_token.is_empty() {
            return Ok(items);
        }
        token = next.next_page_token;
    }
}

/// The first instant (µs) of `date` in `zone` (the kit's rule: a zone
/// that skips midnight starts the day later).
fn day_start_micros(zone: Tz, date: NaiveDate) -> i64 {
    local_midnight(zone, date).saturating_mul(1_000_000)
}

fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        Err(invalid_field(field, "is required"))
    } else {
        Ok(())
    }
}

fn day_scope(r: &GetDailyAttendanceRequest, scope: &TenantScope) -> ApprovalQuery {
    ApprovalQuery {
        tenant: r.tenant.clone(),
        scope: scope.clone(),
        employee_id: r.employee_id.clone(),
        ..ApprovalQuery::default()
    }
}

fn vendor_of(source: &Option<Source>) -> i32 {
    source.as_ref().map_or(0, |s| s.vendor)
}

/// The day of `r`, read within `scope` (the caller's tenants).
pub(crate) async fn daily_attendance(
    store: &Store,
    r: GetDailyAttendanceRequest,
    scope: TenantScope,
) -> Result<GetDailyAttendanceResponse, Status> {
    required("tenant", &r.tenant)?;
    required("employee_id", &r.employee_id)?;
    required("work_date", &r.work_date)?;
    let date = NaiveDate::parse_from_str(&r.work_date, "%Y-%m-%d")
        .ok()
        .filter(|_| r.work_date.len() == 10)
        .ok_or_else(|| invalid_field("work_date", "is not a YYYY-MM-DD date"))?;
    let requested_zone = match r.time_zone.as_str() {
        "" => None,
        name => Some(
            name.parse::<Tz>()
                .map_err(|_| invalid_field("time_zone", "is not an IANA time zone"))?,
        ),
    };
    let reconciliations = store
        .list_reconciled_days(&ReconciledDaysQuery {
            tenant: r.tenant.clone(),
            vendor: 0,
            work_date_from: r.work_date.clone(),
            work_date_to: r.work_date.clone(),
        })
        .await
        .map_err(status_of)?;
    let shift_results = all_pages(|page_token| {
        let query = ShiftResultQuery {
            tenant: r.tenant.clone(),
            scope: scope.clone(),
            employee_id: r.employee_id.clone(),
            work_date_from: r.work_date.clone(),
            work_date_to: r.work_date.clone(),
            page_size: 1000,
            page_token,
            ..ShiftResultQuery::default()
        };
        async move { store.list_shift_results(&query).await }
    })
    .await
    .map_err(status_of)?;
    // The zone the vendors themselves judged the day in, unless the caller
    // names one: a day's punches are those of its local hours.
    let zone = requested_zone
        .or_else(|| {
            reconciliations
                .iter()
                .map(|d| d.time_zone.as_str())
                .chain(shift_results.iter().map(|s| s.time_zone.as_str()))
                .find_map(|name| name.parse::<Tz>().ok())
        })
        .unwrap_or(chrono_tz::UTC);
    let start_us = day_start_micros(zone, date);
    let end_us = date
        .succ_opt()
        .map_or(i64::MAX, |next| day_start_micros(zone, next));
    let (punches, approvals) = tokio::try_join!(
        all_pages(|page_token| {
            let query = PunchQuery {
                tenant: r.tenant.clone(),
                scope: scope.clone(),
                employee_id: r.employee_id.clone(),
                start_us: Some(start_us),
                end_us: Some(end_us),
                page_size: 1000,
                page_token,
                ..PunchQuery::default()
            };
            async move { store.list_punches(&query).await }
        }),
        // Approvals overlapping the day: the same bounds, read as a span.
        all_pages(|page_token| {
            let query = ApprovalQuery {
                start_us: Some(start_us),
                end_us: Some(end_us),
                page_size: 1000,
                page_token,
                ..day_scope(&r, &scope)
            };
            async move { store.list_approvals(&query).await }
        }),
    )
    .map_err(status_of)?;
    // Reconciled for payroll: every vendor that has something of this
    // employee's day has signalled it (an employee may punch in both).
    let signalled: BTreeSet<i32> = reconciliations
        .iter()
        .map(|d| vendor_of(&d.source))
        .collect();
    let with_facts: BTreeSet<i32> = punches
        .iter()
        .map(|p| vendor_of(&p.source))
        .chain(shift_results.iter().map(|s| vendor_of(&s.source)))
        .chain(approvals.iter().map(|a| vendor_of(&a.source)))
        .collect();
    let reconciled = !signalled.is_empty() && with_facts.is_subset(&signalled);
    Ok(GetDailyAttendanceResponse {
        tenant: r.tenant,
        employee_id: r.employee_id,
        work_date: r.work_date,
        time_zone: zone.name().to_string(),
        punches,
        shift_results,
        approvals,
        reconciled,
        reconciliations,
    })
}

pub(crate) async fn reconciled_days(
    store: &Store,
    r: ListReconciledDaysRequest,
) -> Result<ListReconciledDaysResponse, Status> {
    let days: Vec<DayReconciled> = store
        .list_reconciled_days(&ReconciledDaysQuery {
            tenant: r.tenant,
            vendor: r.vendor,
            work_date_from: r.work_date_from,
            work_date_to: r.work_date_to,
        })
        .await
        .map_err(status_of)?;
    Ok(ListReconciledDaysResponse { days })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2021, 3, 10).unwrap();
        assert_eq!(day_start_micros(zone, day), 1_615_305_600_000_000);
    }
}
