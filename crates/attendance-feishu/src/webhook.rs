//! The HTTP endpoint Feishu pushes events to: one route per configured app,
//! acknowledging a delivery only after the sink has durably committed it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use attendance_proto::ingest::{DeliverySink, Recognition};
use attendance_proto::v1::Channel;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::app::FeishuApp;
use crate::error::WebhookError;
use crate::translate::translate;
use crate::verify::{verify, Verified};

struct Shared {
    apps: HashMap<String, FeishuApp>,
    sink: Arc<dyn DeliverySink>,
    body_limit: usize,
}

/// The webhook router: `POST /webhooks/feishu/{app}`.
///
/// Apps are looked up by [`FeishuApp::name`]; names are expected to be
/// unique, and of duplicates the last one wins. Bodies over `body_limit`
/// bytes are refused with 413.
pub fn router(apps: Vec<FeishuApp>, sink: Arc<dyn DeliverySink>, body_limit: usize) -> Router {
    let shared = Arc::new(Shared {
        apps: apps
            .into_iter()
            .map(|app| (app.name.clone(), app))
            .collect(),
        sink,
        body_limit,
    });
    Router::new()
        .route("/webhooks/feishu/{app}", post(receive))
        .with_state(shared)
        // Replaces axum's 2 MB default; the limit is applied while the body
        // streams in, so an oversized push is never buffered whole.
        .layer(DefaultBodyLimit::max(body_limit))
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    app: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let Ok(Path(name)) = app else {
        return WebhookError::UnknownApp.into_response();
    };
    // The app is resolved before the body is read, so unknown routes cost
    // nothing however large the body is.
    let Some(app) = shared.apps.get(&name) else {
        tracing::warn!(app = %name, outcome = "unknown_app", "feishu webhook rejected");
        return WebhookError::UnknownApp.into_response();
    };
    let headers = request.headers().clone();
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                WebhookError::BodyTooLarge {
                    limit: shared.body_limit,
                }
            } else {
                WebhookError::BodyUnreadable
            };
            return reject(&app.name, error);
        }
    };
    match handle(app, shared.sink.as_ref(), &headers, &body).await {
        Ok(response) => response,
        Err(error) => reject(&app.name, error),
    }
}

async fn handle(
    app: &FeishuApp,
    sink: &dyn DeliverySink,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Response, WebhookError> {
    let event = match verify(app, headers, body)? {
        Verified::Challenge(challenge) => {
            // Feishu gives the handshake one second; nothing is committed.
            tracing::info!(app = %app.name, outcome = "challenge", "feishu url verification answered");
            return Ok(Json(serde_json::json!({ "challenge": challenge })).into_response());
        }
        Verified::Event(event) => event,
    };
    let delivery = translate(
        &event,
        app.recipient(),
        Channel::Webhook,
        SystemTime::now().into(),
    );
    let recognition = delivery.recognition.clone();
    let facts = delivery.facts.len();
    let receipt = match sink.commit(delivery).await {
        Ok(receipt) => receipt,
        Err(error) => {
            tracing::error!(
                app = %app.name,
                event_id = event.event_id(),
                event_type = event.event_type(),
                outcome = "sink_failed",
                %error,
                "feishu event not committed; Feishu will redeliver"
            );
            return Err(WebhookError::Sink(error));
        }
    };
    match &recognition {
        Recognition::Translated => tracing::info!(
            app = %app.name,
            event_id = event.event_id(),
            event_type = event.event_type(),
            outcome = if receipt.duplicate_delivery { "duplicate" } else { "committed" },
            facts,
            appended = receipt.appended,
            "feishu event committed"
        ),
        Recognition::Unknown => tracing::warn!(
            app = %app.name,
            event_id = event.event_id(),
            event_type = event.event_type(),
            outcome = "unknown_type",
            "feishu event of an unknown type stored raw"
        ),
        Recognition::Untranslatable(reason) => tracing::warn!(
            app = %app.name,
            event_id = event.event_id(),
            event_type = event.event_type(),
            outcome = "untranslatable",
            reason = %reason,
            "feishu event could not be translated; stored raw"
        ),
    }
    Ok(Json(serde_json::json!({ "msg": "success" })).into_response())
}

fn reject(app: &str, error: WebhookError) -> Response {
    tracing::warn!(
        app = %app,
        outcome = "rejected",
        code = error.code(),
        status = error.status().as_u16(),
        %error,
        "feishu webhook rejected"
    );
    error.into_response()
}
