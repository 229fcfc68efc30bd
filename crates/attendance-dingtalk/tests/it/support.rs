//! Fixtures, a test app and sealing helpers shared by the test modules; the
//! recording sink and JSON edits are the kit's, shared with the other
//! vendors' tests.

pub use attendance_adapter_kit::testing::{edited, RecordingSink};
use attendance_dingtalk::crypto;
use attendance_dingtalk::wire::{CallbackBody, CallbackQuery};
use attendance_dingtalk::{
    classify, parse_frame, verify_callback, DingTalkApp, FrameKind, StreamEvent, VerifiedCallback,
};
use serde_json::{json, Value};

pub const STREAM_CHECK_RECORD: &str =
    include_str!("../fixtures/stream_attendance_check_record.json");
pub const HTTP_CHECK_RECORD_LEGACY: &str =
    include_str!("../fixtures/http_attendance_check_record_legacy.json");
pub const DATA_SUPPLEMENT_PUNCH: &str =
    include_str!("../fixtures/stream_data_supplement_punch.json");
pub const DATA_OVERTIME: &str =
    include_str!("../fixtures/stream_data_attendance_overtime_duration.json");
pub const DATA_BPMS_SUPPLY: &str =
    include_str!("../fixtures/stream_data_bpms_instance_change_supply.json");
pub const GETUPDATEDATA: &str = include_str!("../fixtures/api_getupdatedata_response.json");
pub const FAILED_RESULT: &str =
    include_str!("../fixtures/api_get_call_back_failed_result_response.json");

pub const CLIENT_ID: &str = "dingclientid0001";
pub const CORP_ID: &str = "ding9f50b15b16741";
pub const TOKEN: &str = "mryue";
pub const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

/// The app every test receives events for; the owner key of its callbacks is
/// its client id (a console subscription).
pub fn app() -> DingTalkApp {
    DingTalkApp {
        name: "main".into(),
        client_id: CLIENT_ID.into(),
        client_secret: "client-secret".into(),
        callback_token: TOKEN.into(),
        callback_aes_key: AES_KEY.into(),
        corp_id: None,
        translation: Default::default(),
    }
}

/// An HTTP callback body sealed for `owner`, and the query that signs it.
pub fn sealed(msg: &str, owner: &str) -> (CallbackQuery, Vec<u8>) {
    let encrypt = crypto::encrypt(AES_KEY, msg, owner, b"abcdefgh12345678").unwrap();
    let signature = crypto::signature(TOKEN, "1700000000000", "n0nce", &encrypt);
    let query = CallbackQuery::from_pairs([
        ("msg_signature", signature.as_str()),
        ("timestamp", "1700000000000"),
        ("nonce", "n0nce"),
    ]);
    (
        query,
        serde_json::to_vec(&CallbackBody { encrypt }).unwrap(),
    )
}

/// Verifies `msg` as an HTTP callback to [`app`].
pub fn callback(msg: &str) -> VerifiedCallback {
    let (query, body) = sealed(msg, CLIENT_ID);
    verify_callback(&app(), &query, &body).expect("sealed callbacks verify")
}

/// The HTTP envelope around an event body: `EventType` and friends at the top.
pub fn http_json(event_type: &str, body: &str, envelope: Value) -> String {
    let mut value: Value = serde_json::from_str(body).unwrap();
    let object = value.as_object_mut().unwrap();
    object.insert("EventType".into(), json!(event_type));
    for (key, field) in envelope.as_object().unwrap() {
        object.insert(key.clone(), field.clone());
    }
    serde_json::to_string(&value).unwrap()
}

/// A Stream EVENT frame around `data`, with the given headers.
pub fn stream_frame(headers: Value, data: &str) -> String {
    json!({"specVersion": "1.0", "type": "EVENT", "headers": headers, "data": data}).to_string()
}

/// Parses and classifies a frame that must be an EVENT.
pub fn stream_event(frame: &str) -> StreamEvent {
    match classify(&parse_frame(frame).expect("the frame parses")) {
        FrameKind::Event(event) => *event,
        other => panic!("expected an EVENT, got {other:?}"),
    }
}

/// Standard headers for a synthetic EVENT frame.
pub fn event_headers(event_type: &str, event_id: &str) -> Value {
    json!({
        "topic": "*",
        "messageId": "msg-1",
        "contentType": "application/json",
        "time": "1700000000123",
        "eventType": event_type,
        "eventId": event_id,
        "eventCorpId": CORP_ID,
        "eventBornTime": "1700000000000"
    })
}
