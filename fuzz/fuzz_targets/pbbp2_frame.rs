//! Feishu long-connection frames: each input is a run of frames, each one a
//! big-endian `u16` length and that many bytes. Every frame goes through
//! the pbbp2 `Frame` decoder (prost); an event frame's fragment goes into one
//! `Reassembler` with the frame's own `message_id`, `sum` and `seq` headers,
//! as the connection does; a whole payload goes through the stored-event
//! path (`FeishuRetranslator`: the classification and translation the long
//! connection's payloads get, reachable from outside the crate). The ack of
//! every frame is built and encoded too.

#![no_main]

use std::time::{Duration, Instant, SystemTime};

use attendance_adapter_kit::rederive::Retranslator;
use attendance_feishu::frame::{self, header, kind, Frame, Reassembler, METHOD_DATA};
use attendance_feishu::rederive::FeishuRetranslator;
use attendance_proto::hub::StoredDelivery;
use attendance_proto::v1::{Channel, Vendor};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fn frames(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (length, rest) = data.split_first_chunk::<2>()?;
        let length = usize::from(u16::from_be_bytes(*length)).min(rest.len());
        let (frame, rest) = rest.split_at(length);
        data = rest;
        Some(frame)
    })
}

/// A fragment count header as the connection reads it: absent or not a
/// number is 0 (not split), a negative one is out of any range.
fn count(frame: &Frame, key: &str) -> usize {
    frame::header_int(frame, key)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut fragments = Reassembler::new(Duration::from_secs(10));
    let retranslator = FeishuRetranslator {
        app: "fuzz".into(),
        app_id: "cli_fuzz".into(),
        time_zone: chrono_tz::Asia::Shanghai,
    };
    for (index, bytes) in frames(data).enumerate() {
        let Ok(mut frame) = Frame::decode(bytes) else {
            continue;
        };
        let _ = frame::ack(&frame, 200, Duration::from_millis(3)).encode_to_vec();
        if frame.method() != METHOD_DATA || frame::frame_type(&frame) != Some(kind::EVENT) {
            continue;
        }
        let message_id = frame::header(&frame, header::MESSAGE_ID)
            .unwrap_or_default()
            .to_owned();
        let (sum, seq) = (count(&frame, header::SUM), count(&frame, header::SEQ));
        // A second per frame, so that the TTL expires some messages.
        let now = start + Duration::from_secs(index as u64);
        let payload = frame.payload.take().unwrap_or_default();
        let Ok(Some(whole)) = fragments.push(&message_id, sum, seq, payload, now) else {
            continue;
        };
        fragments.expire(now);
        let stored = StoredDelivery {
            position: index as i64,
            vendor: Vendor::Feishu,
            app: "fuzz".into(),
            tenant: String::new(),
            channel: Channel::LongConnection,
            event_id: message_id,
            event_type: String::new(),
            raw_json: String::from_utf8_lossy(&whole).into_owned(),
            received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200),
        };
        let _ = retranslator.retranslate(&stored);
    }
});
