//! A DingTalk Stream text frame through `parse_frame` and `classify`; an
//! EVENT through `translate_stream` and the pulls its delivery calls for;
//! every frame's replies built and serialized, as the Stream client does.

#![no_main]

use attendance_dingtalk::stream_frame::{ping_reply, success_ack, system_ack};
use attendance_dingtalk::{
    approval_pulls, classify, instance_pulls, parse_frame, pull_triggers, translate_stream,
    FrameKind,
};
use attendance_fuzz::{dingtalk_app, received_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is UTF-8 by the time the client sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = parse_frame(text) else {
        return;
    };
    let _ = ping_reply(&frame).to_json();
    let _ = system_ack(&frame).to_json();
    if let FrameKind::Event(event) = classify(&frame) {
        let app = dingtalk_app();
        let delivery = translate_stream(&event, &app, received_time());
        let _ = pull_triggers(&delivery, app.translation.time_zone);
        let _ = instance_pulls(&delivery);
        let _ = approval_pulls(&delivery);
        let _ = success_ack(event.message_id()).to_json();
    }
});
