//! `attendance.v1.AdminService`: reconciliation, re-derivation and retention
//! on demand, ingest statistics, and the cross-check of approved totals
//! against the vendors' reports. Each acts on every tenant, and so needs a
//! client of every tenant, except a re-derivation that names one of the
//! client's tenants and a cross-check, which always names one.

use std::sync::Arc;

use std::time::SystemTime;

use attendance_adapter_kit::cross_check::{check_report_totals, ReportCheckingApp};
use attendance_adapter_kit::health::ConnectionHealth;
use attendance_adapter_kit::reconcile::{reconcile_request, ReconcilingApp, Schedule};
use attendance_adapter_kit::rederive::{rederive, Retranslator};
use attendance_adapter_kit::UnreconciledApp;
use attendance_core::Store;
use attendance_proto::hub::DeliveryScope;
use attendance_proto::v1::admin_service_server::AdminService;
use attendance_proto::v1::{
    ApplyRetentionRequest, ApplyRetentionResponse, CheckReportTotalsRequest,
    CheckReportTotalsResponse, GetIngestStatsRequest, GetIngestStatsResponse, IngestSource,
    ListSourcesRequest, ListSourcesResponse, ReconcileRequest, ReconcileResponse, RederiveRequest,
    RederiveResponse, Vendor, VendorCallCount,
};
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::config::RetentionConfig;
use crate::error::{
    check_status, invalid_field, reconcile_refused, retention_running, sink_status, status_of,
};

pub(crate) struct AdminApi {
    pub store: Store,
    pub reconcilers: Vec<Arc<ReconcilingApp>>,
    pub unreconciled: Vec<UnreconciledApp>,
    pub schedule: Schedule,
    pub retranslators: Vec<Arc<dyn Retranslator>>,
    pub report_checkers: Vec<Arc<ReportCheckingApp>>,
    pub retention: RetentionConfig,
    /// This replica's vendor connections, for `ListSources`.
    pub connections: Arc<Vec<ConnectionHealth>>,
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
        Caller::of(&request)?.check_every_tenant()?;
        let request = request.into_inner();
        tracing::info!(vendor = request.vendor, app = %request.app, from = %request.work_date_from, to = %request.work_date_to, "reconciliation requested");
        reconcile_request(
            &self.reconcilers,
            &self.unreconciled,
            &self.schedule,
            &self.store,
            &request,
        )
        .await
        .map(Response::new)
        .map_err(reconcile_refused)
    }

    async fn rederive(
        &self,
        request: Request<RederiveRequest>,
    ) -> Result<Response<RederiveResponse>, Status> {
        Caller::of(&request)?.check_tenant(&request.get_ref().tenant)?;
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

    async fn check_report_totals(
        &self,
        request: Request<CheckReportTotalsRequest>,
    ) -> Result<Response<CheckReportTotalsResponse>, Status> {
        let tenant = &request.get_ref().tenant;
        if tenant.is_empty() {
            return Err(invalid_field(
                "tenant",
                "name the tenant whose report is read",
            ));
        }
        Caller::of(&request)?.check_tenant(tenant)?;
        let request = request.into_inner();
        tracing::info!(vendor = request.vendor, app = %request.app, tenant = %request.tenant, month = %request.month, "report totals check requested");
        check_report_totals(&self.report_checkers, &self.store, &request)
            .await
            .map(Response::new)
            .map_err(check_status)
    }

    async fn list_sources(
        &self,
        request: Request<ListSourcesRequest>,
    ) -> Result<Response<ListSourcesResponse>, Status> {
        Caller::of(&request)?.check_every_tenant()?;
        let activity = self.store.source_activity().await.map_err(status_of)?;
        let mut sources: Vec<IngestSource> = activity
            .into_iter()
            .map(|source| IngestSource {
                vendor: source.vendor,
                app: source.app,
                channel: source.channel,
                retained_deliveries: source.deliveries,
                last_delivery_time: Some(attendance_proto::Timestamp {
                    seconds: source.last_received_us.div_euclid(1_000_000),
                    nanos: i32::try_from(source.last_received_us.rem_euclid(1_000_000) * 1_000)
                        .unwrap_or_default(),
                }),
                ..IngestSource::default()
            })
            .collect();
        for connection in self.connections.iter() {
            let state = connection.state.borrow().text.clone();
            let (vendor, channel) = (connection.vendor as i32, connection.channel as i32);
            match sources
                .iter_mut()
                .find(|s| s.vendor == vendor && s.channel == channel && s.app == connection.app)
            {
                Some(source) => source.state = state,
                None => sources.push(IngestSource {
                    vendor,
                    app: connection.app.clone(),
                    channel,
                    state,
                    ..IngestSource::default()
                }),
            }
        }
        sources.sort_by(|a, b| (a.vendor, &a.app, a.channel).cmp(&(b.vendor, &b.app, b.channel)));
        Ok(Response::new(ListSourcesResponse { sources }))
    }

    async fn apply_retention(
        &self,
        request: Request<ApplyRetentionRequest>,
    ) -> Result<Response<ApplyRetentionResponse>, Status> {
        Caller::of(&request)?.check_every_tenant()?;
        let request = request.into_inner();
        let (configured_raw, configured_log) = self.retention.cuts(chrono::Utc::now());
        let now = SystemTime::now();
        let cut = |field: &'static str, at, configured| -> Result<Option<SystemTime>, Status> {
            match instant(field, at)? {
                Some(at) if at > now => Err(invalid_field(field, "must not be in the future")),
                Some(at) => Ok(Some(at)),
                None => Ok(configured),
            }
        };
        let raw_before = cut(
            "raw_received_before",
            request.raw_received_before,
            configured_raw,
        )?;
        let log_before = cut(
            "log_received_before",
            request.log_received_before,
            configured_log,
        )?;
        tracing::info!(?raw_before, ?log_before, "retention requested");
        let removed = crate::retention::apply(&self.store, raw_before, log_before)
            .await
            .map_err(status_of)?
            .ok_or_else(retention_running)?;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Response::new(ApplyRetentionResponse {
            raw_documents_removed: count(removed.raw_documents),
            log_entries_removed: count(removed.log_entries),
            oldest_cursor: removed.oldest.encode(),
        }))
    }

    async fn get_ingest_stats(
        &self,
        request: Request<GetIngestStatsRequest>,
    ) -> Result<Response<GetIngestStatsResponse>, Status> {
        Caller::of(&request)?.check_every_tenant()?;
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
