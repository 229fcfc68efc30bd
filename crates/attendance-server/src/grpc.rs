//! `attendance.v1.AttendanceService`: list queries over current revisions and
//! the `Subscribe` stream over the log, each within the caller's tenants.

use std::pin::Pin;
use std::time::Duration;

use attendance_core::{
    subscribe, ApprovalQuery, Cursor, EntryView, PunchQuery, ShiftResultQuery, Start, Store,
    SubscriptionFilter, SubscriptionOptions, TenantScope,
};
use attendance_proto::frame::SubscribeFrame;
use attendance_proto::framed::attendance_service_server::AttendanceService;
use attendance_proto::v1::{
    subscribe_request, GetDailyAttendanceRequest, GetDailyAttendanceResponse, ListApprovalsRequest,
    ListApprovalsResponse, ListPunchesRequest, ListPunchesResponse, ListReconciledDaysRequest,
    ListReconciledDaysResponse, ListShiftResultsRequest, ListShiftResultsResponse, LogEntryKind,
    LogEntryView, SubscribeRequest, Vendor,
};
use attendance_proto::Timestamp;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::day_view;
use crate::error::{invalid_field, status_of};

pub(crate) struct AttendanceApi {
    pub store: Store,
    pub heartbeat: Duration,
}

fn micros(field: &str, ts: Option<Timestamp>) -> Result<Option<i64>, Status> {
    match ts {
        None => Ok(None),
        Some(ts) if !(0..1_000_000_000).contains(&ts.nanos) => {
            Err(invalid_field(field, "nanos must be within 0..1e9"))
        }
        Some(ts) => ts
            .seconds
            .checked_mul(1_000_000)
            .and_then(|us| us.checked_add(i64::from(ts.nanos) / 1_000))
            .map(Some)
            .ok_or_else(|| invalid_field(field, "out of range")),
    }
}

/// The tenants the caller may read through a request naming `tenant`
/// (empty: none named); a named tenant beyond its grant is refused.
fn tenant_scope<T>(request: &Request<T>, tenant: &str) -> Result<TenantScope, Status> {
    Ok(Caller::of(request)?.tenant_scope(tenant)?)
}

type SubscribeStream = Pin<Box<dyn Stream<Item = Result<SubscribeFrame, Status>> + Send>>;

#[tonic::async_trait]
impl AttendanceService for AttendanceApi {
    async fn list_punches(
        &self,
        request: Request<ListPunchesRequest>,
    ) -> Result<Response<ListPunchesResponse>, Status> {
        let scope = tenant_scope(&request, &request.get_ref().tenant)?;
        let r = request.into_inner();
        let query = PunchQuery {
            tenant: r.tenant,
            scope,
            employee_id: r.employee_id,
            vendor: r.vendor,
            start_us: micros("start_time", r.start_time)?,
            end_us: micros("end_time", r.end_time)?,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let page = self.store.list_punches(&query).await.map_err(status_of)?;
        Ok(Response::new(ListPunchesResponse {
            punches: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_shift_results(
        &self,
        request: Request<ListShiftResultsRequest>,
    ) -> Result<Response<ListShiftResultsResponse>, Status> {
        let scope = tenant_scope(&request, &request.get_ref().tenant)?;
        let r = request.into_inner();
        let query = ShiftResultQuery {
            tenant: r.tenant,
            scope,
            employee_id: r.employee_id,
            vendor: r.vendor,
            work_date_from: r.work_date_from,
            work_date_to: r.work_date_to,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let page = self
            .store
            .list_shift_results(&query)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ListShiftResultsResponse {
            shift_results: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_approvals(
        &self,
        request: Request<ListApprovalsRequest>,
    ) -> Result<Response<ListApprovalsResponse>, Status> {
        let scope = tenant_scope(&request, &request.get_ref().tenant)?;
        let r = request.into_inner();
        let query = ApprovalQuery {
            tenant: r.tenant,
            scope,
            employee_id: r.employee_id,
            vendor: r.vendor,
            start_us: micros("start_time", r.start_time)?,
            end_us: micros("end_time", r.end_time)?,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let page = self.store.list_approvals(&query).await.map_err(status_of)?;
        Ok(Response::new(ListApprovalsResponse {
            approvals: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_daily_attendance(
        &self,
        request: Request<GetDailyAttendanceRequest>,
    ) -> Result<Response<GetDailyAttendanceResponse>, Status> {
        let scope = tenant_scope(&request, &request.get_ref().tenant)?;
        day_view::daily_attendance(&self.store, request.into_inner(), scope)
            .await
            .map(Response::new)
    }

    async fn list_reconciled_days(
        &self,
        request: Request<ListReconciledDaysRequest>,
    ) -> Result<Response<ListReconciledDaysResponse>, Status> {
        // The query names its one tenant (required): checked, nothing to widen.
        tenant_scope(&request, &request.get_ref().tenant)?;
        day_view::reconciled_days(&self.store, request.into_inner())
            .await
            .map(Response::new)
    }

    type SubscribeStream = SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let start = match r.start {
            None | Some(subscribe_request::Start::FromBeginning(_)) => Start::Beginning,
            Some(subscribe_request::Start::FromNow(_)) => Start::Now,
            Some(subscribe_request::Start::AfterCursor(text)) => {
                Start::After(Cursor::decode(&text).map_err(status_of)?)
            }
        };
        let filter = r.filter.unwrap_or_default();
        known_values("filter.vendors", &filter.vendors, |v| {
            Vendor::try_from(v).is_ok_and(|v| v != Vendor::Unspecified)
        })?;
        known_values("filter.kinds", &filter.kinds, |k| {
            LogEntryKind::try_from(k).is_ok_and(|k| k != LogEntryKind::Unspecified)
        })?;
        let filter = caller.scope(SubscriptionFilter {
            tenants: filter.tenants,
            vendors: filter.vendors,
            kinds: filter.kinds,
            employee_ids: filter.employee_ids,
            exclude_enrichments: filter.exclude_enrichments,
        })?;
        let view = match LogEntryView::try_from(r.view) {
            Ok(LogEntryView::Unspecified | LogEntryView::Full) => EntryView::Full,
            Ok(LogEntryView::Basic) => EntryView::Basic,
            Err(_) => return Err(invalid_field("view", "not a LogEntryView value")),
        };
        let options = SubscriptionOptions {
            view,
            heartbeat: self.heartbeat,
            ..SubscriptionOptions::default()
        };
        let items = subscribe(self.store.clone(), start, filter, options)
            .await
            .map_err(status_of)?;
        tracing::info!(?start, client = caller.name(), "subscriber attached");
        let stream = items.map(|item| item.map_err(status_of));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Refuses a filter list holding a value its enum does not name (or its
/// unspecified zero): it would match nothing, and silently so.
fn known_values(field: &str, values: &[i32], known: impl Fn(i32) -> bool) -> Result<(), Status> {
    match values.iter().position(|v| !known(*v)) {
        Some(i) => Err(invalid_field(
            &format!("{field}[{i}]"),
            &format!("{} is not a value of the enum", values[i]),
        )),
        None => Ok(()),
    }
}
