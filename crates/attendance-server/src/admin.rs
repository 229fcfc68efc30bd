//! `attendance.v1.AdminService`: reconciliation on demand and ingest statistics.

use std::sync::Arc;

use std::time::SystemTime;

use attendance_adapter_kit::reconcile::{reconcile_request, ReconcilingApp, Schedule};
use attendance_adapter_kit::rederive::{rederive, Retranslator};
use attendance_core::Store;
use attendance_proto::hub::DeliveryScope;
use attendance_proto::v1::admin_service_server::AdminService;
use attendance_proto::v1::{
    GetIngestStatsRequest, GetIngestStatsResponse, ReconcileRequest, ReconcileResponse,
    RederiveRequest, RederiveResponse, Vendor, VendorCallCount,
};
use tonic::{Request, Response, Status};

use crate::error::{invalid_field, sink_status, status_of};

pub(crate) struct AdminApi {
    pub store: Store,
    pub reconcilers: Vec<Arc<ReconcilingApp>>,
    pub schedule: Schedule,
    pub retranslators: Vec<Arc<dyn Retranslator>>,
}

fn instant(
    field: &'static str,
    at: Option<attendance_proto::Timestamp>,
) -> Result<Option<SystemTime>, Status> {
    at.map(|at| SystemTime::try_from(at).map_err(|_| invalid_field(field, "not a valid instant")))
        .transpose()
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn reconcile(
        &self,
        request: Request<ReconcileRequest>,
    ) -> Result<Response<ReconcileResponse>, Status> {
        let request = request.into_inner();
        tracing::info!(vendor = request.vendor, app = %request.app, from = %request.work_date_from, to = %request.work_date_to, "reconciliation requested");
        reconcile_request(&self.reconcilers, &self.schedule, &self.store, &request)
            .await
            .map(Response::new)
            .map_err(|(field, problem)| invalid_field(field, &problem))
    }

    async fn rederive(
        &self,
        request: Request<RederiveRequest>,
    ) -> Result<Response<RederiveResponse>, Status> {
        let request = request.into_inner();
        let vendor = match Vendor::try_from(request.vendor) {
            Ok(Vendor::Unspecified) | Err(_) => {
                return Err(invalid_field("vendor", "name the vendor to re-derive"))
            }
            Ok(vendor) => vendor,
        };
        if !request.app.is_empty()
            && !self
                .retranslators
                .iter()
                .any(|t| t.vendor() == vendor && t.app() == request.app)
        {
            return Err(invalid_field(
                "app",
                "no such app of this vendor is configured",
            ));
        }
        let scope = DeliveryScope {
            vendor,
            app: request.app,
            tenant: request.tenant,
            received_from: instant("received_from", request.received_from)?,
            received_until: instant("received_until", request.received_until)?,
        };
        tracing::info!(vendor = ?scope.vendor, app = %scope.app, tenant = %scope.tenant, "re-derivation requested");
        let report = rederive(&self.store, &self.retranslators, &scope)
            .await
            .map_err(sink_status)?;
        tracing::info!(?report, "re-derivation done");
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Response::new(RederiveResponse {
            deliveries_read: count(report.deliveries_read),
            deliveries_translated: count(report.deliveries_translated),
            deliveries_untranslatable: count(report.deliveries_untranslatable),
            deliveries_without_app: count(report.deliveries_without_app),
            facts_changed: count(report.facts_changed),
            facts_unchanged: count(report.facts_unchanged),
            facts_superseded: count(report.facts_superseded),
        }))
    }

    async fn get_ingest_stats(
        &self,
        _request: Request<GetIngestStatsRequest>,
    ) -> Result<Response<GetIngestStatsResponse>, Status> {
        // Calls counted in memory are added first, so the answer is current.
        for app in &self.reconcilers {
            app.calls.flush(&self.store).await;
        }
        let counts = self.store.delivery_counts().await.map_err(status_of)?;
        let calls = self.store.vendor_calls().await.map_err(status_of)?;
        Ok(Response::new(GetIngestStatsResponse {
            deliveries_translated: counts.translated,
            deliveries_unknown: counts.unknown,
            deliveries_untranslatable: counts.untranslatable,
            facts_superseded: counts.superseded,
            vendor_calls: calls
                .into_iter()
                .map(|c| VendorCallCount {
                    vendor: c.vendor,
                    app: c.app,
                    month: c.month,
                    calls: c.calls,
                })
                .collect(),
        }))
    }
}
