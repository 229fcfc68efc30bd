//! The mirrors against payloads shaped like DingTalk's, quirks included.

use super::*;
use serde_json::json;

#[test]
fn frame_headers_keep_unknown_names_and_read_numbers_as_text() {
    let frame: StreamFrame = serde_json::from_value(json!({
        "specVersion": "1.0",
        "type": "EVENT",
        "headers": {"messageId": "m", "time": 1693221579964_i64, "x-new": "kept"},
        "data": {"a": 1}
    }))
    .unwrap();
    assert_eq!(frame.headers.message_id.as_deref(), Some("m"));
    assert_eq!(frame.headers.time.as_deref(), Some("1693221579964"));
    assert_eq!(frame.headers.other.get("x-new"), Some(&json!("kept")));
    assert_eq!(frame.data, r#"{"a":1}"#);
    assert_eq!(frame.spec_version.as_deref(), Some("1.0"));
}

#[test]
fn the_query_takes_the_first_of_each_spelling() {
    let query = CallbackQuery::from_pairs([
        ("signature", "s-old"),
        ("timestamp", "t-old"),
        ("nonce", "n"),
        ("nonce", "n2"),
        ("other", "x"),
    ]);
    assert_eq!(query.signature(), Some("s-old"));
    assert_eq!(query.timestamp(), Some("t-old"));
    assert_eq!(query.nonce(), Some("n"));

    let both = CallbackQuery::from_pairs([
        ("signature", "s-old"),
        ("msg_signature", "s-new"),
        ("timestamp", "t-old"),
        ("timeStamp", "t-new"),
    ]);
    assert_eq!(both.signature(), Some("s-new"));
    assert_eq!(both.timestamp(), Some("t-new"));
    assert_eq!(both.nonce(), None);
}

#[test]
fn check_records_read_both_list_spellings_and_lenient_numbers() {
    let upper: CheckRecordEvent = serde_json::from_value(json!({
        "DataList": [{"userId": "u", "checkTime": "1611793083000", "latitude": "30.5",
                      "userAccuracy": "15.0", "checkByUser": "true", "groupId": 42}]
    }))
    .unwrap();
    let record = &upper.data_list.unwrap()[0];
    assert_eq!(record.check_time, Some(1_611_793_083_000));
    assert_eq!(record.latitude, Some(30.5));
    assert_eq!(record.user_accuracy, Some(15.0));
    assert_eq!(record.check_by_user, Some(true));
    assert_eq!(record.group_id, "42");

    let lower: CheckRecordEvent = serde_json::from_value(json!({"dataList": []})).unwrap();
    assert_eq!(lower.data_list, Some(Vec::new()));

    let neither: CheckRecordEvent = serde_json::from_value(json!({"x": 1})).unwrap();
    assert_eq!(neither.data_list, None);

    for garbled in [
        json!({"dataList": [{"checkTime": "soon"}]}),
        json!({"dataList": [{"checkTime": 1.5}]}),
        json!({"dataList": [{"latitude": "north"}]}),
        json!({"dataList": [{"userId": {"a": 1}}]}),
        json!({"dataList": {"userId": "u"}}),
    ] {
        assert!(
            serde_json::from_value::<CheckRecordEvent>(garbled.clone()).is_err(),
            "{garbled}"
        );
    }
}

#[test]
fn photo_url_is_one_string_or_a_list() {
    let one: CheckRecord = serde_json::from_value(json!({"photoUrl": "http://p/1"})).unwrap();
    assert_eq!(one.photo_url, vec!["http://p/1"]);
    let many: CheckRecord =
        serde_json::from_value(json!({"photoUrl": ["http://p/1", "", "http://p/2"]})).unwrap();
    assert_eq!(many.photo_url, vec!["http://p/1", "http://p/2"]);
    let none: CheckRecord = serde_json::from_value(json!({"photoUrl": ""})).unwrap();
    assert!(none.photo_url.is_empty());
}

#[test]
fn failed_items_read_both_shapes() {
    let tagged: FailedItem = serde_json::from_value(json!({
        "bpms_instance_change": {"bpmsCallBackData": {"processInstanceId": "p"}, "corpid": "c"},
        "call_back_tag": "bpms_instance_change",
        "event_time": 1606126433000_i64
    }))
    .unwrap();
    assert_eq!(tagged.corp_id(), Some("c"));
    assert_eq!(tagged.payload().unwrap(), json!({"processInstanceId": "p"}));

    let bare: FailedItem = serde_json::from_value(json!({
        "user_add_org": {"userid": ["zhangsan"], "corpid": "c"},
        "call_back_tag": "user_add_org"
    }))
    .unwrap();
    assert_eq!(
        bare.payload().unwrap(),
        json!({"userid": ["zhangsan"], "corpid": "c"})
    );

    let flat: FailedItem = serde_json::from_value(json!({
        "call_back_tag": "attendance_check_record",
        "corpid": "c2",
        "callbackData": "{\"dataList\":[]}"
    }))
    .unwrap();
    assert_eq!(flat.corp_id(), Some("c2"));
    assert_eq!(flat.payload().unwrap(), json!({"dataList": []}));

    let broken: FailedItem = serde_json::from_value(json!({
        "call_back_tag": "x", "callbackData": "{not json"
    }))
    .unwrap();
    assert!(broken.payload().is_err());
    let empty: FailedItem = serde_json::from_value(json!({"call_back_tag": "x"})).unwrap();
    assert!(empty.payload().is_err());
}
