//! How the DingTalk adapter plugs into the hub: [`start`] builds, from the
//! `[[dingtalk]]` apps, the callback routes, the Stream clients (with their
//! health), each pulling app's job worker and failed-push poller, and the
//! reconcilable apps.

use std::sync::Arc;
use std::time::Duration;

use attendance_adapter_kit::connection::watched_connection;
use attendance_adapter_kit::cross_check::ReportCheckingApp;
use attendance_adapter_kit::jobs::JobWorker;
use attendance_adapter_kit::meter::CallCounter;
use attendance_adapter_kit::reconcile::{ReconcilingApp, Roster};
use attendance_adapter_kit::{HubContext, UnreconciledApp, VendorRuntime};
use attendance_proto::ingest::DeliverySink;
use attendance_proto::v1::{Channel, Vendor};

use crate::api::{ApiConfig, DingTalkApi};
use crate::config::DingTalkConfig;
use crate::failed_push::{FailedPushPoller, FailedPushes};
use crate::jobs::{queue_of, AppPulls, PullRouting};
use crate::reconcile::{ApprovalPuller, DingTalkPuller};
use crate::rederive::DingTalkRetranslator;
use crate::report::{DingTalkReport, ReportSettings};
use crate::stream::{self, StreamApp, StreamOptions};
use crate::DingTalkApp;
use attendance_adapter_kit::rederive::Retranslator;

/// How often background work adds its metered calls to the store.
const FLUSH_CALLS_EVERY: Duration = Duration::from_secs(10);

/// Starts the DingTalk adapter for `apps` (validated by
/// [`crate::config::validate`]).
pub fn start(apps: &[DingTalkConfig], hub: &HubContext) -> VendorRuntime {
    let sink: Arc<dyn DeliverySink> = hub.store.clone();
    let calls = Arc::new(CallCounter::new(Vendor::Dingtalk));
    // Apps with a client secret pull: trigger pulls, failed pushes, passes.
    let pulling: Vec<&DingTalkConfig> = apps
        .iter()
        .filter(|app| {
            if app.client_secret.is_empty() {
                tracing::info!(app = %app.name, "no client_secret: this DingTalk app pulls nothing");
            }
            !app.client_secret.is_empty()
        })
        .collect();
    let corps: Vec<(String, String)> = pulling
        .iter()
        .map(|app| (app.name.clone(), app.corp_id.clone()))
        .collect();
    let zones: std::collections::BTreeMap<String, chrono_tz::Tz> = apps
        .iter()
        .map(|app| (app.name.clone(), app.app().translation.time_zone))
        .collect();
    let routing = |only: Option<String>| PullRouting {
        apps: corps.clone(),
        only,
        zones: zones.clone(),
    };
    // Apps without callback keys are Stream-only: their route answers 404.
    let callback_apps: Vec<DingTalkApp> = apps
        .iter()
        .map(DingTalkConfig::app)
        .filter(DingTalkApp::accepts_callbacks)
        .collect();
    let mut runtime = VendorRuntime {
        routes: crate::router(callback_apps, sink.clone(), routing(None), hub.body_limit),
        retranslators: apps
            .iter()
            .map(|app| Arc::new(DingTalkRetranslator { app: app.app() }) as Arc<dyn Retranslator>)
            .collect(),
        ..VendorRuntime::default()
    };
    for app in apps.iter().filter(|app| app.stream) {
        let (state_tx, health) = watched_connection(
            "dingtalk_streams",
            (Vendor::Dingtalk, Channel::Stream),
            &app.name,
            format!("dingtalk.stream.{}", app.name),
        );
        let client = StreamApp {
            app: app.app(),
            api_base_url: app.api_base_url.clone(),
            options: StreamOptions::default(),
            local_address: hub.local_address.clone(),
        };
        runtime.tasks.push(tokio::spawn(stream::run(
            client,
            sink.clone(),
            Arc::new(routing(Some(app.name.clone()))),
            state_tx,
            hub.stop.clone(),
        )));
        runtime.health.push(health);
    }
    runtime.unreconciled = apps
        .iter()
        .filter(|app| app.client_secret.is_empty())
        .map(|app| UnreconciledApp {
            vendor: Vendor::Dingtalk,
            app: app.name.clone(),
            reason: format!(
                "has no client_secret ([[dingtalk]] {:?}), so the hub cannot call DingTalk's open API",
                app.name
            ),
        })
        .collect();
    for app in pulling {
        let mut api_config = ApiConfig::new(
            &app.name,
            &app.api_base_url,
            &app.oapi_base_url,
            &app.client_id,
            app.client_secret.expose(),
        );
        api_config.requests_per_second = app.requests_per_second;
        // One client per app: trigger pulls, failed-push recovery and
        // reconciliation share its token cache and its request rate.
        let api = Arc::new(DingTalkApi::new(api_config, calls.clone()));
        let zone = app.time_zone.parse().expect("validated by the config");
        let handler = Arc::new(AppPulls {
            name: app.name.clone(),
            client_id: app.client_id.clone(),
            corp_id: app.corp_id.clone(),
            zone,
            api: api.clone(),
            store: hub.store.clone(),
            supply_lookback_days: app.supply_lookback_days,
            process_kinds: app.app().translation.process_kinds,
        });
        runtime
            .tasks
            .push(tokio::spawn(JobWorker::new(queue_of(&app.name)).run(
                hub.store.clone(),
                handler,
                hub.stop.clone(),
            )));
        // Worked whatever the poll setting: items read under an earlier
        // configuration still wait in the store.
        runtime
            .tasks
            .push(tokio::spawn(FailedPushes::worker(&app.name).run(
                hub.store.clone(),
                Arc::new(FailedPushes {
                    app: app.app(),
                    store: hub.store.clone(),
                }),
                hub.stop.clone(),
            )));
        if app.failed_push_poll_seconds > 0 {
            let poller = FailedPushPoller {
                app: app.app(),
                api: api.clone(),
                every: Duration::from_secs(app.failed_push_poll_seconds),
                store: hub.store.clone(),
                calls: calls.clone(),
            };
            runtime
                .tasks
                .push(tokio::spawn(poller.run(hub.stop.clone())));
        }
        // The report is the corp's: an app that does not name it cannot be
        // matched to a CheckReportTotals request.
        if !app.corp_id.is_empty() {
            runtime.report_checkers.push(Arc::new(ReportCheckingApp {
                vendor: Vendor::Dingtalk,
                app: app.name.clone(),
                tenant: app.corp_id.clone(),
                zone,
                roster: app.roster.clone(),
                source: Arc::new(DingTalkReport {
                    api: api.clone(),
                    zone,
                    settings: ReportSettings {
                        op_user_id: app.report_op_user_id.clone(),
                        overtime_columns: app.report_overtime_columns.clone(),
                    },
                }),
                calls: calls.clone(),
            }));
        }
        runtime.reconcilers.push(Arc::new(ReconcilingApp {
            vendor: Vendor::Dingtalk,
            app: app.name.clone(),
            zone,
            roster: Roster {
                tenant: app.corp_id.clone(),
                employee_ids: app.roster.clone(),
            },
            puller: Arc::new(DingTalkPuller {
                approvals: ApprovalPuller::new(
                    api.clone(),
                    zone,
                    app.app().translation.process_kinds,
                    app.approval_lookback_days,
                ),
                api,
                zone,
            }),
            calls: calls.clone(),
        }));
    }
    runtime
        .tasks
        .push(tokio::spawn(flush_calls(calls, hub.clone())));
    runtime
}

/// Adds the trigger pulls' metered calls to the store every few seconds.
async fn flush_calls(calls: Arc<CallCounter>, hub: HubContext) {
    let mut stop = hub.stop.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_CALLS_EVERY) => {}
            _ = stop.changed() => {}
        }
        calls.flush(hub.store.as_ref()).await;
        if *stop.borrow() {
            return;
        }
    }
}
