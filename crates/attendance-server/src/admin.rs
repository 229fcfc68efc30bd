//! `attendance.v1.AdminService`: reconciliation on demand and ingest statistics.

use std::sync::Arc;

use attendance_adapter_kit::reconcile::{reconcile_request, ReconcilingApp, Schedule};
use attendance_core::Store;
use attendance_proto::v1::admin_service_server::AdminService;
use attendance_proto::v1::{
    GetIngestStatsRequest, GetIngestStatsResponse, ReconcileRequest, ReconcileResponse,
    VendorCallCount,
};
use tonic::{Request, Response, Status};

use crate::error::{invalid_field, status_of};

pub(crate) struct AdminApi {
    pub store: Store,
    pub reconcilers: Vec<Arc<ReconcilingApp>>,
    pub schedule: Schedule,
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
