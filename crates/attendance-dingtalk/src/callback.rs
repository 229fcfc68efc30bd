//! The HTTP endpoint DingTalk pushes callbacks to: one route per configured
//! app, answering the encrypted `success` only after the sink has durably
//! committed the delivery (the `check_url` handshake excepted: it stores
//! nothing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use attendance_proto::ingest::{DeliverySink, Recognition};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::app::DingTalkApp;
use crate::crypto;
use crate::error::CallbackError;
use crate::jobs::PullRouting;
use crate::translate::translate_callback;
use crate::verify::{verify_callback, VerifiedCallback};
use crate::wire::CallbackQuery;

struct Shared {
    apps: HashMap<String, DingTalkApp>,
    sink: Arc<dyn DeliverySink>,
    pulls: PullRouting,
    body_limit: usize,
}

/// The callback router: `POST /webhooks/dingtalk/{name}`.
///
/// Apps are looked up by [`DingTalkApp::name`]; of duplicates the last one
/// wins, and apps without callback settings get 404. Bodies over `body_limit`
/// bytes are refused with 413.
/// Each event carries the pull jobs it calls for (routed by `pulls`) into
/// its commit, so an acknowledged event's pulls are as durable as it is.
pub fn router(
    apps: Vec<DingTalkApp>,
    sink: Arc<dyn DeliverySink>,
    pulls: PullRouting,
    body_limit: usize,
) -> Router {
    let shared = Arc::new(Shared {
        apps: apps
            .into_iter()
            .map(|app| (app.name.clone(), app))
            .collect(),
        sink,
        pulls,
        body_limit,
    });
    Router::new()
        .route("/webhooks/dingtalk/{name}", post(receive))
        .with_state(shared)
        // Replaces axum's 2 MB default; the limit is applied while the body
        // streams in, so an oversized push is never buffered whole.
        .layer(DefaultBodyLimit::max(body_limit))
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let Ok(Path(name)) = name else {
        return CallbackError::UnknownApp.into_response();
    };
    // The app is resolved before the body is read, so unknown routes cost
    // nothing however large the body is.
    let Some(app) = shared.apps.get(&name).filter(|app| app.accepts_callbacks()) else {
        tracing::warn!(app = %name, outcome = "unknown_app", "dingtalk callback rejected");
        return CallbackError::UnknownApp.into_response();
    };
    let query = match Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        Ok(Query(pairs)) => {
            CallbackQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        Err(_) => {
            return reject(
                &app.name,
                CallbackError::Malformed("the query string is not URL-encoded".into()),
            )
        }
    };
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                CallbackError::BodyTooLarge {
                    limit: shared.body_limit,
                }
            } else {
                CallbackError::BodyUnreadable
            };
            return reject(&app.name, error);
        }
    };
    match handle(app, shared.sink.as_ref(), &shared.pulls, &query, &body).await {
        Ok(response) => response,
        Err(error) => reject(&app.name, error),
    }
}

async fn handle(
    app: &DingTalkApp,
    sink: &dyn DeliverySink,
    pulls: &PullRouting,
    query: &CallbackQuery,
    body: &[u8],
) -> Result<Response, CallbackError> {
    let callback = verify_callback(app, query, body)?;
    if callback.is_handshake() {
        tracing::info!(app = %app.name, event_type = callback.event_type(), outcome = "handshake", "dingtalk callback url verified");
        return success(app, &callback);
    }
    let mut delivery = translate_callback(&callback, SystemTime::now().into());
    pulls.attach(&mut delivery);
    let recognition = delivery.recognition.clone();
    let facts = delivery.facts.len();
    let receipt = match sink.commit(delivery).await {
        Ok(receipt) => receipt,
        Err(error) => {
            tracing::error!(
                app = %app.name,
                event_id = callback.event_id(),
                event_type = callback.event_type(),
                outcome = "sink_failed",
                %error,
                "dingtalk event not committed; DingTalk will redeliver"
            );
            return Err(CallbackError::Sink(error));
        }
    };
    match &recognition {
        Recognition::Translated => tracing::info!(
            app = %app.name,
            event_id = callback.event_id(),
            event_type = callback.event_type(),
            outcome = if receipt.duplicate_delivery { "duplicate" } else { "committed" },
            facts,
            appended = receipt.appended,
            "dingtalk event committed"
        ),
        Recognition::Unknown => tracing::warn!(
            app = %app.name,
            event_id = callback.event_id(),
            event_type = callback.event_type(),
            outcome = "unknown_type",
            "dingtalk event of an unknown type stored raw"
        ),
        Recognition::Untranslatable(reason) => tracing::warn!(
            app = %app.name,
            event_id = callback.event_id(),
            event_type = callback.event_type(),
            outcome = "untranslatable",
            reason = %reason,
            "dingtalk event could not be translated; stored raw"
        ),
    }
    success(app, &callback)
}

/// The encrypted `success`, sealed for the owner key the request carried.
/// The timestamp is in milliseconds, as DingTalk's own Java library sends it.
fn success(app: &DingTalkApp, callback: &VerifiedCallback) -> Result<Response, CallbackError> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default()
        .to_string();
    let mut rng = rand::thread_rng();
    let mut alphanumeric = || -> [u8; 16] { std::array::from_fn(|_| rng.sample(Alphanumeric)) };
    let random = alphanumeric();
    let nonce = String::from_utf8(alphanumeric().to_vec()).expect("alphanumeric is ASCII");
    let reply = crypto::success_reply(
        &app.callback_token,
        &app.callback_aes_key,
        callback.owner(),
        &timestamp,
        &nonce,
        &random,
    )
    // verify_callback already decrypted with this key, so it is valid.
    .map_err(|_| CallbackError::Misconfigured("callback_aes_key is not 43 base64 characters"))?;
    Ok(Json(reply).into_response())
}

fn reject(app: &str, error: CallbackError) -> Response {
    tracing::warn!(
        app = %app,
        outcome = "rejected",
        code = error.code(),
        status = error.status().as_u16(),
        %error,
        "dingtalk callback rejected"
    );
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> DingTalkApp {
        DingTalkApp {
            name: "main".into(),
            client_id: "dingclient".into(),
            client_secret: "secret-value".into(),
            callback_token: "token-value".into(),
            callback_aes_key: "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7".into(),
            corp_id: Some("dingcorp".into()),
            translation: Default::default(),
        }
    }

    #[test]
    fn debug_redacts_every_secret() {
        let shown = format!("{:?}", app());
        for secret in ["secret-value", "token-value", "Yue0EfdN5900"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("**REDACTED**"), "{shown}");
        assert!(shown.contains("dingclient"), "{shown}");
        assert!(shown.contains("dingcorp"), "{shown}");
    }

    #[test]
    fn callbacks_need_both_settings_and_a_valid_key() {
        assert!(app().accepts_callbacks());
        assert!(app().validate_callback_config().is_ok());
        let mut stream_only = app();
        stream_only.callback_token.clear();
        stream_only.callback_aes_key.clear();
        assert!(!stream_only.accepts_callbacks());
        assert!(stream_only.validate_callback_config().is_err());
        let mut bad_key = app();
        bad_key.callback_aes_key = "too short".into();
        assert!(bad_key.accepts_callbacks());
        assert!(matches!(
            bad_key.validate_callback_config(),
            Err(CallbackError::Misconfigured(_))
        ));
    }
}
