//! The HTTP side: vendor webhooks and `GET /healthz`.

use std::sync::Arc;

use attendance_core::Store;
use attendance_feishu::FeishuApp;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;

/// The whole HTTP application; tests can drive it without a socket.
pub(crate) fn app(config: &Config, store: Store) -> Router {
    let feishu_apps = config
        .feishu
        .iter()
        .map(|app| FeishuApp {
            name: app.name.clone(),
            app_id: app.app_id.clone(),
            verification_token: app.verification_token.clone(),
            encrypt_key: app.encrypt_key.clone(),
        })
        .collect();
    let sink = Arc::new(store.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(store)
        .merge(attendance_feishu::router(
            feishu_apps,
            sink,
            config.server.max_body_bytes,
        ))
}

async fn healthz(State(store): State<Store>) -> (StatusCode, Json<serde_json::Value>) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "error": "storage is unavailable"})),
            )
        }
    }
}
