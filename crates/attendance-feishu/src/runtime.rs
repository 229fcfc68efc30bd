//! How the Feishu adapter plugs into the hub: [`start`] builds, from the
//! `[[feishu]]` apps, the webhook routes, the long connections (with their
//! health) and the reconcilable apps.

use std::sync::Arc;

use attendance_adapter_kit::connection::watched_connection;
use attendance_adapter_kit::meter::CallCounter;
use attendance_adapter_kit::reconcile::{ReconcilingApp, Roster};
use attendance_adapter_kit::{HubContext, UnreconciledApp, VendorRuntime};
use attendance_proto::ingest::DeliverySink;
use attendance_proto::v1::{Channel, Vendor};

use attendance_adapter_kit::jobs::JobWorker;
use chrono_tz::Tz;

use crate::api::{ApiConfig, FeishuApi};
use crate::config::FeishuConfig;
use crate::jobs::{queue_of, AppPulls};
use crate::long_connection::{self, LongConnectionApp};
use crate::reconcile::FeishuPuller;
use crate::rederive::FeishuRetranslator;
use attendance_adapter_kit::rederive::Retranslator;

/// The app's `time_zone`.
fn zone_of(app: &FeishuConfig) -> Tz {
    app.time_zone.parse().expect("validated by the config")
}

/// Whether the app pulls: only with an app_secret can it call the API.
fn pulls(app: &FeishuConfig) -> bool {
    !app.app_secret.is_empty()
}

/// Starts the Feishu adapter for `apps` (validated by
/// [`crate::config::validate`]).
pub fn start(apps: &[FeishuConfig], hub: &HubContext) -> VendorRuntime {
    let sink: Arc<dyn DeliverySink> = hub.store.clone();
    let webhook_apps = apps.iter().map(FeishuConfig::app).collect();
    let mut runtime = VendorRuntime {
        routes: crate::router(webhook_apps, sink.clone(), hub.body_limit),
        ..VendorRuntime::default()
    };
    for app in apps.iter().filter(|app| app.long_connection) {
        let (state_tx, health) = watched_connection(
            "feishu_long_connections",
            (Vendor::Feishu, Channel::LongConnection),
            &app.name,
            format!("feishu.long_connection.{}", app.name),
        );
        let connection = LongConnectionApp {
            name: app.name.clone(),
            app_id: app.app_id.clone(),
            app_secret: app.app_secret.clone(),
            base_url: app.base_url.clone(),
            time_zone: zone_of(app),
            pulls: pulls(app),
        };
        runtime.tasks.push(tokio::spawn(long_connection::run(
            connection,
            sink.clone(),
            state_tx,
            hub.stop.clone(),
        )));
        runtime.health.push(health);
    }
    runtime.retranslators = apps
        .iter()
        .map(|app| {
            Arc::new(FeishuRetranslator {
                app: app.name.clone(),
                app_id: app.app_id.clone(),
                time_zone: zone_of(app),
            }) as Arc<dyn Retranslator>
        })
        .collect();
    let calls = Arc::new(CallCounter::new(Vendor::Feishu));
    for app in apps {
        if !pulls(app) {
            tracing::info!(app = %app.name, "no app_secret: this app is not reconciled");
            runtime.unreconciled.push(UnreconciledApp {
                vendor: Vendor::Feishu,
                app: app.name.clone(),
                reason: format!(
                    "has no app_secret ([[feishu]] {:?}), so the hub cannot call Feishu's open API: \
                     set it (the example config reads it from an environment variable)",
                    app.name
                ),
            });
            continue;
        }
        let mut api_config = ApiConfig::new(
            &app.name,
            &app.base_url,
            &app.app_id,
            app.app_secret.expose(),
        );
        api_config.requests_per_second = app.requests_per_second;
        let zone = zone_of(app);
        let puller = Arc::new(FeishuPuller {
            api: FeishuApi::new(api_config, calls.clone()),
            zone,
        });
        // The pulls its events queue (committed with them), worked here.
        let handler = Arc::new(AppPulls {
            name: app.name.clone(),
            puller: puller.clone(),
            store: hub.store.clone(),
        });
        runtime
            .tasks
            .push(JobWorker::new(queue_of(&app.name)).spawn(hub, handler));
        runtime.reconcilers.push(Arc::new(ReconcilingApp {
            vendor: Vendor::Feishu,
            app: app.name.clone(),
            zone,
            roster: Roster {
                tenant: app.tenant_key.clone(),
                employee_ids: app.roster.clone(),
            },
            puller,
            calls: calls.clone(),
        }));
    }
    runtime
}
