//! The HTTP endpoint Feishu pushes events to: one route per configured app
//! in the kit's webhook shell, which acknowledges a delivery only after the
//! sink has durably committed it. Feishu's part is the URL verification
//! (`challenge`), the event's verification and translation, and the answer.

use std::sync::Arc;
use std::time::SystemTime;

use attendance_adapter_kit::webhook::{self, Incoming, Opened, WebhookVendor};
use attendance_proto::ingest::DeliverySink;
use attendance_proto::v1::{Channel, Vendor};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::app::FeishuApp;
use crate::error::WebhookError;
use crate::translate::translate;
use crate::verify::{verify, Verified};

/// The webhook router: `POST /webhooks/feishu/{app}`.
///
/// Apps are looked up by [`FeishuApp::name`]; names are expected to be
/// unique, and of duplicates the last one wins. Bodies over `body_limit`
/// bytes are refused with 413.
pub fn router(apps: Vec<FeishuApp>, sink: Arc<dyn DeliverySink>, body_limit: usize) -> Router {
    webhook::router(
        "/webhooks/feishu/{app}",
        FeishuWebhook,
        apps,
        sink,
        body_limit,
    )
}

/// Feishu's part of the webhook shell.
struct FeishuWebhook;

impl WebhookVendor for FeishuWebhook {
    type App = FeishuApp;
    // Feishu's acknowledgement is the same for every event.
    type Pending = ();
    type Error = WebhookError;

    const VENDOR: Vendor = Vendor::Feishu;

    fn app_name(app: &FeishuApp) -> &str {
        &app.name
    }

    fn open(&self, app: &FeishuApp, request: &Incoming<'_>) -> Result<Opened<()>, WebhookError> {
        let event = match verify(app, request.headers, request.body)? {
            Verified::Challenge(challenge) => {
                // Feishu gives the handshake one second; nothing is committed.
                tracing::info!(app = %app.name, outcome = "challenge", "feishu url verification answered");
                let answer = Json(serde_json::json!({ "challenge": challenge }));
                return Ok(Opened::Answer(answer.into_response()));
            }
            Verified::Event(event) => event,
        };
        let delivery = translate(
            &event,
            app.recipient(),
            Channel::Webhook,
            SystemTime::now().into(),
        );
        Ok(Opened::Deliver {
            delivery,
            pending: (),
        })
    }

    fn answer(&self, _app: &FeishuApp, _pending: ()) -> Result<Response, WebhookError> {
        Ok(Json(serde_json::json!({ "msg": "success" })).into_response())
    }
}
