//! The HTTP endpoint DingTalk pushes callbacks to: one route per configured
//! app in the kit's webhook shell, which answers the encrypted `success`
//! only after the sink has durably committed the delivery (the `check_url`
//! handshake excepted: it stores nothing). DingTalk's part is the query's
//! signature, the decryption, the translation with the pulls it calls for,
//! and the sealed reply.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use attendance_adapter_kit::webhook::{self, Incoming, Opened, WebhookVendor};
use attendance_proto::ingest::DeliverySink;
use attendance_proto::v1::Vendor;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::app::DingTalkApp;
use crate::crypto;
use crate::error::CallbackError;
use crate::jobs::PullRouting;
use crate::translate::translate_callback;
use crate::verify::verify_callback;
use crate::wire::CallbackQuery;

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
    webhook::router(
        "/webhooks/dingtalk/{name}",
        DingTalkCallback { pulls },
        apps.into_iter().filter(DingTalkApp::accepts_callbacks),
        sink,
        body_limit,
    )
}

/// DingTalk's part of the webhook shell.
struct DingTalkCallback {
    pulls: PullRouting,
}

impl WebhookVendor for DingTalkCallback {
    type App = DingTalkApp;
    /// The owner key the request was sealed for: the reply is sealed for it too.
    type Pending = String;
    type Error = CallbackError;

    const VENDOR: Vendor = Vendor::Dingtalk;

    fn app_name(app: &DingTalkApp) -> &str {
        &app.name
    }

    fn open(
        &self,
        app: &DingTalkApp,
        request: &Incoming<'_>,
    ) -> Result<Opened<String>, CallbackError> {
        let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri) else {
            return Err(CallbackError::Malformed(
                "the query string is not URL-encoded".into(),
            ));
        };
        let query = CallbackQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let callback = verify_callback(app, &query, request.body)?;
        if callback.is_handshake() {
            tracing::info!(app = %app.name, event_type = callback.event_type(), outcome = "handshake", "dingtalk callback url verified");
            return success(app, callback.owner()).map(Opened::Answer);
        }
        let mut delivery = translate_callback(&callback, SystemTime::now().into());
        self.pulls.attach(&mut delivery);
        Ok(Opened::Deliver {
            delivery,
            pending: callback.owner().to_owned(),
        })
    }

    fn answer(&self, app: &DingTalkApp, owner: String) -> Result<Response, CallbackError> {
        success(app, &owner)
    }
}

/// The encrypted `success`, sealed for the owner key the request carried.
/// The timestamp is in milliseconds, as DingTalk's own Java library sends it.
fn success(app: &DingTalkApp, owner: &str) -> Result<Response, CallbackError> {
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
        app.callback_token.expose(),
        app.callback_aes_key.expose(),
        owner,
        &timestamp,
        &nonce,
        &random,
    )
    // verify_callback already decrypted with this key, so it is valid.
    .map_err(|_| CallbackError::Misconfigured("callback_aes_key is not 43 base64 characters"))?;
    Ok(Json(reply).into_response())
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
        stream_only.callback_token = Default::default();
        stream_only.callback_aes_key = Default::default();
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
