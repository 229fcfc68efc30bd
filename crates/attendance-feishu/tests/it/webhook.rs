//! The webhook router, driven in-process with a recording sink.

use std::sync::Arc;

use attendance_feishu::crypto::encrypt;
use attendance_feishu::verify::{signature, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use attendance_feishu::wire::Encrypted;
use attendance_feishu::{router, FeishuApp};
use attendance_proto::ingest::Recognition;
use attendance_proto::v1::Channel;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::json;

use attendance_adapter_kit::testing::{assert_one_punch_received_now, send, Reply};

use crate::support::{edited, RecordingSink, FLOW_JSON, FLOW_TOKEN};

const KEY: &str = "an encrypt key";
const FLOW_APP_ID: &str = "cli_a0c203e66cf8100c";
const MIB: usize = 1024 * 1024;

fn apps() -> Vec<FeishuApp> {
    vec![
        FeishuApp {
            name: "plain".into(),
            // The seed events' app: a webhook refuses another app's events.
            app_id: FLOW_APP_ID.into(),
            verification_token: FLOW_TOKEN.into(),
            encrypt_key: None,
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        },
        FeishuApp {
            name: "secure".into(),
            app_id: FLOW_APP_ID.into(),
            verification_token: FLOW_TOKEN.into(),
            encrypt_key: Some(KEY.into()),
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        },
    ]
}

fn hub(sink: &Arc<RecordingSink>) -> Router {
    router(apps(), sink.clone(), MIB)
}

async fn post(router: Router, app: &str, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    let mut request =
        Request::post(format!("/webhooks/feishu/{app}")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    send(router, request.body(Body::from(body)).unwrap()).await
}

fn sealed(plaintext: &str) -> Vec<u8> {
    serde_json::to_vec(&Encrypted {
        encrypt: encrypt(KEY, plaintext.as_bytes(), [42; 16]),
    })
    .unwrap()
}

fn signed_by(key: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        (HEADER_TIMESTAMP, "1700000000".into()),
        (HEADER_NONCE, "n-1".into()),
        (HEADER_SIGNATURE, signature("1700000000", "n-1", key, body)),
    ]
}

#[tokio::test]
async fn a_plain_event_is_committed_then_acknowledged() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post(hub(&sink), "plain", &[], FLOW_JSON.into()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"msg": "success"}));
    assert!(reply.content_type.starts_with("application/json"));

    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.app, "plain");
    assert_eq!(delivery.channel, Channel::Webhook);
    assert_eq!(delivery.event_id, "41fae5c12837ead344eced982fbde395");
    assert_eq!(delivery.raw_json, crate::support::redacted(FLOW_JSON));
    assert_eq!(delivery.recognition, Recognition::Translated);
    assert_one_punch_received_now(delivery, "2b68933a");
}

#[tokio::test]
async fn an_encrypted_signed_event_is_committed_with_the_decrypted_json() {
    let sink = Arc::new(RecordingSink::default());
    let body = sealed(FLOW_JSON);
    let reply = post(hub(&sink), "secure", &signed_by(KEY, &body), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"msg": "success"}));
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].app, "secure");
    assert_eq!(deliveries[0].raw_json, crate::support::redacted(FLOW_JSON));
    assert_eq!(deliveries[0].facts.len(), 1);
}

#[tokio::test]
async fn an_event_of_another_app_is_403_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let foreign = edited(FLOW_JSON, |v| {
        v["header"]["app_id"] = json!("cli_someone_else")
    });
    let reply = post(hub(&sink), "plain", &[], foreign.clone().into()).await;
    reply.assert_error(StatusCode::FORBIDDEN, "APP_MISMATCH");
    let body = sealed(&foreign);
    let reply = post(hub(&sink), "secure", &signed_by(KEY, &body), body).await;
    reply.assert_error(StatusCode::FORBIDDEN, "APP_MISMATCH");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_wrong_signature_is_401_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let body = sealed(FLOW_JSON);
    let reply = post(hub(&sink), "secure", &signed_by("wrong key", &body), body).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_unsigned_event_for_a_keyed_app_is_401_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post(hub(&sink), "secure", &[], sealed(FLOW_JSON)).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "MISSING_SIGNATURE");
    let reply = post(hub(&sink), "secure", &[], FLOW_JSON.into()).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "MISSING_SIGNATURE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_401_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let body = edited(FLOW_JSON, |v| v["header"]["token"] = json!("guessed"));
    let reply = post(hub(&sink), "plain", &[], body.into()).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    assert!(!reply.body.to_string().contains(FLOW_TOKEN));
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn truncated_ciphertext_is_400_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let whole = encrypt(KEY, FLOW_JSON.as_bytes(), [42; 16]);
    let body = serde_json::to_vec(&Encrypted {
        encrypt: whole[..whole.len() - 8].to_owned(),
    })
    .unwrap();
    let reply = post(hub(&sink), "secure", &signed_by(KEY, &body), body).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "UNDECRYPTABLE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_encrypted_body_for_an_app_without_a_key_is_400() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post(hub(&sink), "plain", &[], sealed(FLOW_JSON)).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "UNDECRYPTABLE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post(hub(&sink), "plain", &[], b"{\"schema\":\"2.0\",".to_vec()).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_BODY");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_missing_event_id_is_400() {
    let sink = Arc::new(RecordingSink::default());
    let body = edited(FLOW_JSON, |v| {
        v["header"].as_object_mut().unwrap().remove("event_id");
    });
    let reply = post(hub(&sink), "plain", &[], body.into()).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "MISSING_EVENT_ID");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let mut body = FLOW_JSON.as_bytes().to_vec();
    body.resize(2 * MIB, b' ');
    let reply = post(hub(&sink), "plain", &[], body).await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE");
    assert!(sink.deliveries().is_empty());

    // The same JSON, padded to just under the limit, is accepted.
    let mut body = FLOW_JSON.as_bytes().to_vec();
    body.resize(MIB, b' ');
    let reply = post(hub(&sink), "plain", &[], body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(sink.deliveries().len(), 1);
}

#[tokio::test]
async fn a_sink_failure_is_503_so_feishu_redelivers() {
    let sink = Arc::new(RecordingSink::failing());
    let reply = post(hub(&sink), "plain", &[], FLOW_JSON.into()).await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert!(!reply.body.to_string().contains("test sink refuses"));
}

#[tokio::test]
async fn a_plain_challenge_is_echoed_without_a_commit() {
    let sink = Arc::new(RecordingSink::default());
    let body = json!({"challenge": "ch-\"1\"", "token": FLOW_TOKEN, "type": "url_verification"});
    let reply = post(hub(&sink), "plain", &[], body.to_string().into()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"challenge": "ch-\"1\""}));
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_encrypted_unsigned_challenge_is_echoed() {
    let sink = Arc::new(RecordingSink::default());
    let challenge =
        json!({"challenge": "ch-2", "token": FLOW_TOKEN, "type": "url_verification"}).to_string();
    let reply = post(hub(&sink), "secure", &[], sealed(&challenge)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"challenge": "ch-2"}));
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_challenge_with_a_wrong_token_is_401() {
    let sink = Arc::new(RecordingSink::default());
    let body = json!({"challenge": "c", "token": "guess", "type": "url_verification"});
    let reply = post(hub(&sink), "plain", &[], body.to_string().into()).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_unknown_app_is_404() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post(hub(&sink), "nobody", &[], FLOW_JSON.into()).await;
    reply.assert_error(StatusCode::NOT_FOUND, "UNKNOWN_APP");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_schema_1_event_of_an_unknown_type_is_stored_as_unknown() {
    let sink = Arc::new(RecordingSink::default());
    let body = json!({
        "ts": "1502199207.7171419",
        "uuid": "bc447199585340d1f3728d26b1c0297a",
        "token": FLOW_TOKEN,
        "type": "event_callback",
        // The generic approval-instance event, which is not translated (the
        // attendance approval types are: see approvals.rs).
        "event": {"type": "approval_instance", "app_id": FLOW_APP_ID, "tenant_key": "t-v1",
                  "instance_code": "I-1", "employee_id": "2b68933a"}
    })
    .to_string();
    let reply = post(hub(&sink), "plain", &[], body.clone().into()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"msg": "success"}));
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.recognition, Recognition::Unknown);
    assert!(delivery.facts.is_empty());
    assert_eq!(delivery.event_id, "bc447199585340d1f3728d26b1c0297a");
    assert_eq!(delivery.event_type, "approval_instance");
    assert_eq!(delivery.tenant, "t-v1");
    assert_eq!(delivery.raw_json, crate::support::redacted(&body));
}

#[tokio::test]
async fn an_untranslatable_event_is_still_stored_and_acknowledged() {
    let sink = Arc::new(RecordingSink::default());
    let body = edited(FLOW_JSON, |v| v["event"]["check_time"] = json!("yesterday"));
    let reply = post(hub(&sink), "plain", &[], body.clone().into()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(matches!(
        deliveries[0].recognition,
        Recognition::Untranslatable(_)
    ));
    assert!(deliveries[0].facts.is_empty());
    assert_eq!(deliveries[0].raw_json, crate::support::redacted(&body));
}
