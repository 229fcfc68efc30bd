//! The HTTP side: vendor webhooks and `GET /healthz`.

use std::sync::Arc;

use attendance_core::Store;
use attendance_dingtalk::stream::StreamState;
use attendance_dingtalk::trigger::PullQueue;
use attendance_dingtalk::DingTalkApp;
use attendance_feishu::long_connection::ConnectionState;
use attendance_feishu::FeishuApp;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::config::{Config, DingTalkConfig};

/// The state of each Feishu long connection, by app name, for `/healthz`.
pub(crate) type LongConnectionStates = Arc<Vec<(String, watch::Receiver<ConnectionState>)>>;

/// The state of each DingTalk Stream client, by app name, for `/healthz`.
pub(crate) type DingTalkStreamStates = Arc<Vec<(String, watch::Receiver<StreamState>)>>;

/// The adapter's view of one configured DingTalk app.
pub(crate) fn dingtalk_app(app: &DingTalkConfig) -> DingTalkApp {
    DingTalkApp {
        name: app.name.clone(),
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        callback_token: app.callback_token.clone(),
        callback_aes_key: app.callback_aes_key.clone(),
        corp_id: Some(app.corp_id.clone()).filter(|corp| !corp.is_empty()),
    }
}

#[derive(Clone)]
struct Health {
    store: Store,
    long_connections: LongConnectionStates,
    dingtalk_streams: DingTalkStreamStates,
}

/// The whole HTTP application; tests can drive it without a socket.
pub(crate) fn app(
    config: &Config,
    store: Store,
    long_connections: LongConnectionStates,
    dingtalk_streams: DingTalkStreamStates,
    dingtalk_pulls: Arc<dyn PullQueue>,
) -> Router {
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
    // Apps without callback keys are Stream-only: their route answers 404.
    let dingtalk_apps = config
        .dingtalk
        .iter()
        .map(dingtalk_app)
        .filter(DingTalkApp::accepts_callbacks)
        .collect();
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(Health {
            store,
            long_connections,
            dingtalk_streams,
        })
        .merge(attendance_feishu::router(
            feishu_apps,
            sink.clone(),
            config.server.max_body_bytes,
        ))
        .merge(attendance_dingtalk::router(
            dingtalk_apps,
            sink,
            dingtalk_pulls,
            config.server.max_body_bytes,
        ))
}

/// 200 while storage answers, 503 otherwise. Each Feishu long connection's
/// and DingTalk stream's state is reported beside it
/// (`"feishu_long_connections": {"<app>": "<state>"}`, `"dingtalk_streams":
/// {…}`) but does not change the status: a hub whose connection is down
/// still takes webhooks and serves subscribers.
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
    if !health.long_connections.is_empty() {
        let states: serde_json::Map<String, serde_json::Value> = health
            .long_connections
            .iter()
            .map(|(name, state)| (name.clone(), state.borrow().to_string().into()))
            .collect();
        body["feishu_long_connections"] = states.into();
    }
    if !health.dingtalk_streams.is_empty() {
        let states: serde_json::Map<String, serde_json::Value> = health
            .dingtalk_streams
            .iter()
            .map(|(name, state)| (name.clone(), state.borrow().to_string().into()))
            .collect();
        body["dingtalk_streams"] = states.into();
    }
    (status, Json(body))
}
