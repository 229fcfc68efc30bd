//! The HTTP side the hub owns: `GET /healthz` and `GET /metrics`. The
//! vendors' webhook routes are merged beside them by the composition.

use std::sync::Arc;

use attendance_adapter_kit::health::ConnectionHealth;
use attendance_core::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

#[derive(Clone)]
struct Health {
    store: Store,
    connections: Arc<Vec<ConnectionHealth>>,
}

/// `/healthz`; tests can drive it without a socket.
pub(crate) fn app(store: Store, connections: Arc<Vec<ConnectionHealth>>) -> Router {
    let metrics = Router::new()
        .route("/metrics", get(crate::metrics::scrape))
        .with_state(store.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(Health { store, connections })
        .merge(metrics)
}

/// 200 while storage answers, 503 otherwise. Each vendor connection's state
/// is reported beside it under its vendor's section (e.g.
/// `"feishu_long_connections": {"<app>": "<state>"}`) but does not change
/// the status: a hub whose connection is down still takes webhooks and
/// serves subscribers.
async fn healthz(State(health): State<Health>) -> (StatusCode, Json<serde_json::Value>) {
    let (status, mut body) = match health.store.ping().await {
        Ok(()) => (StatusCode::OK, json!({"status": "ok"})),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "error": "storage is unavailable"}),
            )
        }
    };
    for connection in health.connections.iter() {
        body[connection.section][&connection.app] = connection.state.borrow().text.clone().into();
    }
    (status, Json(body))
}
