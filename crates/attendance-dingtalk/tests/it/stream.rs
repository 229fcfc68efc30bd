//! Stream frames and their replies, against the fixture frame.

use attendance_dingtalk::stream_frame::{later_ack, success_ack};
use attendance_dingtalk::wire::StreamFrame;
use attendance_dingtalk::{classify, parse_frame, FrameKind};
use serde_json::{json, Value};

use crate::support::STREAM_CHECK_RECORD;

#[test]
fn the_fixture_frame_parses_header_by_header() {
    let frame: StreamFrame = parse_frame(STREAM_CHECK_RECORD).unwrap();
    assert_eq!(frame.spec_version.as_deref(), Some("1.0"));
    assert_eq!(frame.kind, "EVENT");
    let headers = &frame.headers;
    assert_eq!(headers.topic.as_deref(), Some("*"));
    assert_eq!(
        headers.message_id.as_deref(),
        Some("213d841d_972_1898bb26334_70a7")
    );
    assert_eq!(headers.content_type.as_deref(), Some("application/json"));
    assert_eq!(headers.time.as_deref(), Some("1693221579964"));
    assert_eq!(
        headers.event_type.as_deref(),
        Some("attendance_check_record")
    );
    assert_eq!(
        headers.event_id.as_deref(),
        Some("c7c7120f2c07419ebdba0318c8")
    );
    assert_eq!(headers.event_corp_id.as_deref(), Some("ding9f50b15b16741"));
    assert_eq!(headers.event_born_time.as_deref(), Some("1683533823336"));
    assert_eq!(
        headers.event_unified_app_id.as_deref(),
        Some("bbb381b6-f0158daac")
    );
    assert!(headers.other.is_empty());
    let data: Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(data["dataList"][0]["userId"], "0126501");
}

#[test]
fn the_fixture_frame_is_an_event_with_its_header_values() {
    let frame = parse_frame(STREAM_CHECK_RECORD).unwrap();
    let FrameKind::Event(event) = classify(&frame) else {
        panic!("the fixture is an EVENT frame");
    };
    assert_eq!(event.message_id(), "213d841d_972_1898bb26334_70a7");
    assert_eq!(event.event_type(), "attendance_check_record");
    assert_eq!(event.event_id(), "c7c7120f2c07419ebdba0318c8");
    assert_eq!(event.corp_id(), Some("ding9f50b15b16741"));
    assert_eq!(event.born_time(), Some(1_683_533_823_336));
    assert_eq!(event.data(), frame.data);
}

#[test]
fn the_fixture_frame_is_acknowledged_with_its_message_id() {
    let frame = parse_frame(STREAM_CHECK_RECORD).unwrap();
    let FrameKind::Event(event) = classify(&frame) else {
        panic!("the fixture is an EVENT frame");
    };
    let ack: Value = serde_json::from_str(&success_ack(event.message_id()).to_json()).unwrap();
    assert_eq!(
        ack,
        json!({
            "code": 200,
            "headers": {"contentType": "application/json",
                        "messageId": "213d841d_972_1898bb26334_70a7"},
            "message": "ok",
            "data": "{\"status\":\"SUCCESS\",\"message\":\"success\"}"
        })
    );
    let later: Value =
        serde_json::from_str(&later_ack(event.message_id(), "store unavailable").to_json())
            .unwrap();
    assert_eq!(later["code"], 200);
    assert_eq!(
        later["headers"]["messageId"],
        "213d841d_972_1898bb26334_70a7"
    );
    let data: Value = serde_json::from_str(later["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"status": "LATER", "message": "store unavailable"})
    );
}

#[test]
fn a_frame_round_trips_through_its_mirror() {
    let frame = parse_frame(STREAM_CHECK_RECORD).unwrap();
    let again = parse_frame(&serde_json::to_string(&frame).unwrap()).unwrap();
    assert_eq!(again, frame);
    let original: Value = serde_json::from_str(STREAM_CHECK_RECORD).unwrap();
    assert_eq!(serde_json::to_value(&frame).unwrap(), original);
}
