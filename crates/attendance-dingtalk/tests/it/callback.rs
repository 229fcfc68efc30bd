//! The callback router, driven in-process with a recording sink.

use std::sync::Arc;

use attendance_adapter_kit::testing::{self, assert_one_punch_received_now, Reply};
use attendance_dingtalk::jobs::PullRouting;

use attendance_dingtalk::crypto::{decrypt, encrypt, signature};
use attendance_dingtalk::wire::CallbackBody;
use attendance_dingtalk::{router, DingTalkApp};
use attendance_proto::ingest::{Fact, Recognition};
use attendance_proto::v1::Channel;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::json;

use crate::support::{
    app, edited, http_json, RecordingSink, AES_KEY, CLIENT_ID, HTTP_CHECK_RECORD_LEGACY, TOKEN,
};

const MIB: usize = 1024 * 1024;
const TIMESTAMP: &str = "1700000000000";
const NONCE: &str = "abc123";

fn apps() -> Vec<DingTalkApp> {
    let mut by_corp = app();
    by_corp.name = "registered".into();
    by_corp.corp_id = Some("dingcorpowner".into());
    let mut stream_only = app();
    stream_only.name = "stream-only".into();
    stream_only.callback_token = Default::default();
    stream_only.callback_aes_key = Default::default();
    vec![app(), by_corp, stream_only]
}

fn hub(sink: &Arc<RecordingSink>) -> Router {
    router(apps(), sink.clone(), PullRouting::none(), MIB)
}

/// `encrypt` as the body, signed with `token` under the given query names.
fn signed_request(app: &str, encrypt: &str, token: &str, names: (&str, &str)) -> (String, Vec<u8>) {
    let sig = signature(token, TIMESTAMP, NONCE, encrypt);
    let uri = format!(
        "/webhooks/dingtalk/{app}?{}={sig}&{}={TIMESTAMP}&nonce={NONCE}",
        names.0, names.1
    );
    let body = serde_json::to_vec(&CallbackBody {
        encrypt: encrypt.to_owned(),
    })
    .unwrap();
    (uri, body)
}

fn seal(msg: &str, owner: &str) -> String {
    encrypt(AES_KEY, msg, owner, b"0123456789ABCDEF").unwrap()
}

async fn send(router: Router, uri: &str, body: Vec<u8>) -> Reply {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    testing::send(router, request).await
}

async fn post_event(sink: &Arc<RecordingSink>, app: &str, msg: &str, owner: &str) -> Reply {
    let (uri, body) = signed_request(
        app,
        &seal(msg, owner),
        TOKEN,
        ("msg_signature", "timestamp"),
    );
    send(hub(sink), &uri, body).await
}

/// The reply is exactly the four fields, signed over its own values, and
/// decrypts to `success` for `owner`.
fn assert_encrypted_success(reply: &Reply, owner: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    let object = reply.body.as_object().expect("a JSON object");
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["encrypt", "msg_signature", "nonce", "timeStamp"]);
    let field = |name: &str| object[name].as_str().expect("string fields").to_owned();
    let (encrypt, timestamp, nonce) = (field("encrypt"), field("timeStamp"), field("nonce"));
    assert_eq!(
        field("msg_signature"),
        signature(TOKEN, &timestamp, &nonce, &encrypt)
    );
    assert_eq!(
        decrypt(AES_KEY, &encrypt).unwrap(),
        ("success".to_owned(), owner.to_owned())
    );
    assert_eq!(nonce.len(), 16);
    assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    let millis: i64 = timestamp.parse().expect("a numeric timestamp");
    assert!(millis > 1_700_000_000_000, "milliseconds of now");
}

#[tokio::test]
async fn a_valid_callback_is_committed_then_answered_with_encrypted_success() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post_event(&sink, "main", HTTP_CHECK_RECORD_LEGACY, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);

    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.app, "main");
    assert_eq!(delivery.channel, Channel::HttpCallback);
    assert_eq!(delivery.event_type, "attendance_check_record");
    assert_eq!(delivery.raw_json, HTTP_CHECK_RECORD_LEGACY);
    assert_eq!(delivery.recognition, Recognition::Translated);
    assert_one_punch_received_now(delivery, "user0042");
}

#[tokio::test]
async fn check_url_is_answered_without_a_commit() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post_event(&sink, "main", r#"{"EventType":"check_url"}"#, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);
    assert!(sink.deliveries().is_empty());

    // Even when the store is down: the handshake needs no store.
    let failing = Arc::new(RecordingSink::failing());
    let reply = post_event(&failing, "main", r#"{"EventType":"check_url"}"#, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);
}

#[tokio::test]
async fn a_corp_id_owner_is_accepted_and_answered_for_that_owner() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post_event(
        &sink,
        "registered",
        HTTP_CHECK_RECORD_LEGACY,
        "dingcorpowner",
    )
    .await;
    assert_encrypted_success(&reply, "dingcorpowner");
    assert_eq!(sink.deliveries().len(), 1);
    assert_eq!(sink.deliveries()[0].app, "registered");
}

#[tokio::test]
async fn a_wrong_signature_is_401_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let (uri, body) = signed_request(
        "main",
        &seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID),
        "not-the-token",
        ("msg_signature", "timestamp"),
    );
    let reply = send(hub(&sink), &uri, body).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_tampered_body_is_401() {
    let sink = Arc::new(RecordingSink::default());
    let (uri, _) = signed_request(
        "main",
        &seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID),
        TOKEN,
        ("msg_signature", "timestamp"),
    );
    let other = serde_json::to_vec(&CallbackBody {
        encrypt: seal(r#"{"EventType":"check_url"}"#, CLIENT_ID),
    })
    .unwrap();
    let reply = send(hub(&sink), &uri, other).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_unsigned_request_is_401() {
    let sink = Arc::new(RecordingSink::default());
    let body = serde_json::to_vec(&CallbackBody {
        encrypt: seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID),
    })
    .unwrap();
    let reply = send(hub(&sink), "/webhooks/dingtalk/main", body).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "MISSING_SIGNATURE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_owner_mismatch_is_401_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post_event(&sink, "main", HTTP_CHECK_RECORD_LEGACY, "dingsomeoneelse").await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "OWNER_MISMATCH");
    assert!(!reply.body.to_string().contains(CLIENT_ID));
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn truncated_ciphertext_is_400_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let whole = seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID);
    // Signed as sent: the signature is right, the ciphertext is not.
    let (uri, body) = signed_request(
        "main",
        &whole[..whole.len() - 8],
        TOKEN,
        ("msg_signature", "timestamp"),
    );
    let reply = send(hub(&sink), &uri, body).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "UNDECRYPTABLE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let uri =
        format!("/webhooks/dingtalk/main?msg_signature=x&timestamp={TIMESTAMP}&nonce={NONCE}");
    let reply = send(hub(&sink), &uri, b"{\"encrypt\":".to_vec()).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_BODY");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_decrypted_message_that_is_not_json_is_400() {
    let sink = Arc::new(RecordingSink::default());
    let reply = post_event(&sink, "main", "{\"EventType\":", CLIENT_ID).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_BODY");
    let reply = post_event(&sink, "main", r#"{"eventType":"x"}"#, CLIENT_ID).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "MISSING_EVENT_TYPE");
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_nothing_is_committed() {
    let sink = Arc::new(RecordingSink::default());
    let (uri, mut body) = signed_request(
        "main",
        &seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID),
        TOKEN,
        ("msg_signature", "timestamp"),
    );
    let original = body.clone();
    body.resize(2 * MIB, b' ');
    let reply = send(hub(&sink), &uri, body).await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE");
    assert!(sink.deliveries().is_empty());

    // The same JSON, padded to just under the limit, is accepted.
    let mut body = original;
    body.resize(MIB, b' ');
    let reply = send(hub(&sink), &uri, body).await;
    assert_encrypted_success(&reply, CLIENT_ID);
    assert_eq!(sink.deliveries().len(), 1);
}

#[tokio::test]
async fn a_sink_failure_is_503_so_dingtalk_redelivers() {
    let sink = Arc::new(RecordingSink::failing());
    let reply = post_event(&sink, "main", HTTP_CHECK_RECORD_LEGACY, CLIENT_ID).await;
    reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert!(!reply.body.to_string().contains("test sink refuses"));
    assert!(
        reply.body.get("encrypt").is_none(),
        "no success without a commit"
    );
}

#[tokio::test]
async fn every_query_spelling_is_accepted() {
    for names in [
        ("msg_signature", "timestamp"),
        ("msg_signature", "timeStamp"),
        ("signature", "timestamp"),
        ("signature", "timeStamp"),
    ] {
        let sink = Arc::new(RecordingSink::default());
        let (uri, body) = signed_request(
            "main",
            &seal(HTTP_CHECK_RECORD_LEGACY, CLIENT_ID),
            TOKEN,
            names,
        );
        let reply = send(hub(&sink), &uri, body).await;
        assert_encrypted_success(&reply, CLIENT_ID);
        assert_eq!(sink.deliveries().len(), 1, "{names:?}");
    }
}

#[tokio::test]
async fn unknown_and_stream_only_apps_are_404() {
    let sink = Arc::new(RecordingSink::default());
    for app in ["nobody", "stream-only"] {
        let reply = post_event(&sink, app, HTTP_CHECK_RECORD_LEGACY, CLIENT_ID).await;
        reply.assert_error(StatusCode::NOT_FOUND, "UNKNOWN_APP");
    }
    assert!(sink.deliveries().is_empty());
}

#[tokio::test]
async fn an_unknown_event_type_is_stored_and_acknowledged() {
    let sink = Arc::new(RecordingSink::default());
    let msg = r#"{"EventType":"user_add_org","UserId":["u"],"CorpId":"dingc","eventId":"e-9"}"#;
    let reply = post_event(&sink, "main", msg, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].recognition, Recognition::Unknown);
    assert_eq!(deliveries[0].event_id, "e-9");
    assert_eq!(deliveries[0].tenant, "dingc");
    assert_eq!(deliveries[0].raw_json, msg);
}

#[tokio::test]
async fn an_untranslatable_event_is_still_stored_and_acknowledged() {
    let sink = Arc::new(RecordingSink::default());
    let msg = edited(HTTP_CHECK_RECORD_LEGACY, |v| {
        v["DataList"][0]["checkTime"] = json!("yesterday")
    });
    let reply = post_event(&sink, "main", &msg, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(matches!(
        deliveries[0].recognition,
        Recognition::Untranslatable(_)
    ));
    assert!(deliveries[0].facts.is_empty());
    assert_eq!(deliveries[0].raw_json, msg);
}

#[tokio::test]
async fn an_approval_arrives_over_http() {
    let sink = Arc::new(RecordingSink::default());
    let msg = http_json(
        "bpms_instance_change",
        crate::support::DATA_BPMS_SUPPLY,
        json!({"corpId": "dingc", "eventId": "e-bpms"}),
    );
    let reply = post_event(&sink, "main", &msg, CLIENT_ID).await;
    assert_encrypted_success(&reply, CLIENT_ID);
    let deliveries = sink.deliveries();
    assert!(matches!(&deliveries[0].facts[..], [Fact::Approval(_)]));
}
