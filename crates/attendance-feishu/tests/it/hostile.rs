//! The corpus of hostile input (`tests/hostile/` at the workspace root)
//! through the entry points the fuzz targets drive: every webhook body is
//! refused by `verify` (unsigned, signed, and sealed with the app's key) with
//! a 4xx, every ciphertext by `crypto::decrypt`, and every run of pbbp2
//! frames ends refused (undecodable, not an event, a bad fragment, still
//! incomplete, or a payload that does not verify), never as facts.

use std::time::{Duration, Instant, SystemTime};

use attendance_adapter_kit::rederive::Retranslator;
use attendance_adapter_kit::testing::hostile::{corpus, nested_arrays, Hostile, DEEP};
use attendance_feishu::crypto;
use attendance_feishu::frame::{self, header, kind, Frame, Header, Reassembler, METHOD_DATA};
use attendance_feishu::rederive::FeishuRetranslator;
use attendance_feishu::verify::{signature, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use attendance_feishu::{verify, FeishuApp};
use attendance_proto::hub::StoredDelivery;
use attendance_proto::ingest::Recognition;
use attendance_proto::v1::{Channel, Vendor};
use axum::http::{HeaderMap, HeaderValue};
use prost::Message as _;

const KEY: &str = "hostile-encrypt-key";

fn app(key: Option<&str>) -> FeishuApp {
    FeishuApp {
        name: "hostile".into(),
        app_id: "cli_hostile".into(),
        verification_token: "hostile-token".into(),
        encrypt_key: key.map(Into::into),
        time_zone: chrono_tz::Asia::Shanghai,
        pulls: true,
    }
}

fn signed(body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_TIMESTAMP, HeaderValue::from_static("1700000000"));
    headers.insert(HEADER_NONCE, HeaderValue::from_static("n0nce"));
    let value = signature("1700000000", "n0nce", KEY, body);
    headers.insert(HEADER_SIGNATURE, HeaderValue::from_str(&value).unwrap());
    headers
}

/// `{"encrypt": …}` of `plaintext` under the app's key.
fn sealed(plaintext: &[u8]) -> Vec<u8> {
    serde_json::json!({ "encrypt": crypto::encrypt(KEY, plaintext, [5; 16]) })
        .to_string()
        .into_bytes()
}

#[test]
fn every_hostile_webhook_body_is_refused_by_verify() {
    let inputs: Vec<Hostile> = ["feishu_envelope", "feishu_decrypt", "dingtalk_callback"]
        .into_iter()
        .flat_map(corpus)
        .collect();
    let (plain, keyed) = (app(None), app(Some(KEY)));
    for input in &inputs {
        let body = &input.bytes;
        input.assert_refused("plain", verify(&plain, &HeaderMap::new(), body));
        input.assert_refused("unsigned", verify(&keyed, &HeaderMap::new(), body));
        input.assert_refused("signed", verify(&keyed, &signed(body), body));
        let sealed = sealed(body);
        input.assert_refused("sealed", verify(&keyed, &signed(&sealed), &sealed));
    }
}

#[test]
fn every_hostile_ciphertext_is_refused_by_decrypt() {
    for input in corpus("feishu_decrypt") {
        let text = String::from_utf8_lossy(&input.bytes);
        let result = crypto::decrypt(KEY, &text);
        assert!(result.is_err(), "{}: decrypted to {result:?}", input.name);
    }
}

/// Where a run of long-connection frames stopped.
#[derive(Debug, PartialEq)]
enum Stopped {
    Undecodable,
    NotAnEvent,
    BadFragment,
    Incomplete,
    /// The whole payload reached the payload path and was refused there.
    PayloadRefused,
}

/// The run's frames, each a big-endian `u16` length then the frame: the
/// format of the corpus files and the `pbbp2_frame` fuzz target's input.
fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while let Some((length, rest)) = data.split_first_chunk::<2>() {
        let length = usize::from(u16::from_be_bytes(*length)).min(rest.len());
        frames.push(&rest[..length]);
        data = &rest[length..];
    }
    frames
}

/// Each frame of `run` through decoding, reassembly and the payload path;
/// where each one stopped.
fn drive(run: &[u8]) -> Vec<Stopped> {
    let retranslator = FeishuRetranslator {
        app: "hostile".into(),
        app_id: "cli_hostile".into(),
        time_zone: chrono_tz::Asia::Shanghai,
    };
    let mut fragments = Reassembler::new(Duration::from_secs(10));
    let now = Instant::now();
    let count = |frame: &Frame, key| {
        frame::header_int(frame, key)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .unwrap_or(0)
    };
    frames(run)
        .into_iter()
        .map(|bytes| {
            let Ok(mut frame) = Frame::decode(bytes) else {
                return Stopped::Undecodable;
            };
            if frame.method() != METHOD_DATA || frame::frame_type(&frame) != Some(kind::EVENT) {
                return Stopped::NotAnEvent;
            }
            let message_id = frame::header(&frame, header::MESSAGE_ID)
                .unwrap_or_default()
                .to_owned();
            let (sum, seq) = (count(&frame, header::SUM), count(&frame, header::SEQ));
            let payload = frame.payload.take().unwrap_or_default();
            let whole = match fragments.push(&message_id, sum, seq, payload, now) {
                Err(_) => return Stopped::BadFragment,
                Ok(None) => return Stopped::Incomplete,
                Ok(Some(whole)) => whole,
            };
            let delivery = retranslator.retranslate(&StoredDelivery {
                position: 1,
                vendor: Vendor::Feishu,
                app: "hostile".into(),
                tenant: String::new(),
                channel: Channel::LongConnection,
                event_id: message_id,
                event_type: String::new(),
                raw_json: String::from_utf8_lossy(&whole).into_owned(),
                received_at: SystemTime::now(),
            });
            assert!(
                delivery.facts.is_empty()
                    && matches!(delivery.recognition, Recognition::Untranslatable(_)),
                "a hostile payload became {delivery:?}"
            );
            Stopped::PayloadRefused
        })
        .collect()
}

fn event_frame(message_id: &str, sum: &str, seq: &str, payload: &[u8]) -> Vec<u8> {
    let header = |key: &str, value: &str| Header {
        key: Some(key.into()),
        value: Some(value.into()),
    };
    let frame = Frame {
        method: Some(METHOD_DATA),
        headers: vec![
            header(header::TYPE, kind::EVENT),
            header(header::MESSAGE_ID, message_id),
            header(header::SUM, sum),
            header(header::SEQ, seq),
        ],
        payload: Some(payload.to_vec()),
        ..Frame::default()
    };
    let bytes = frame.encode_to_vec();
    let mut run = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    run.extend(bytes);
    run
}

#[test]
fn every_hostile_pbbp2_run_is_refused_frame_by_frame() {
    let mut seen = Vec::new();
    for input in corpus("pbbp2_frame") {
        let stopped = drive(&input.bytes);
        if !input.bytes.is_empty() {
            assert!(!stopped.is_empty(), "{}: no frame read", input.name);
        }
        seen.extend(stopped);
    }
    // The corpus reaches every stage, so each refusal above was exercised.
    for stage in [
        Stopped::Undecodable,
        Stopped::NotAnEvent,
        Stopped::BadFragment,
        Stopped::Incomplete,
        Stopped::PayloadRefused,
    ] {
        assert!(seen.contains(&stage), "no corpus run stopped at {stage:?}");
    }
}

#[test]
fn a_deeply_nested_payload_in_fragments_is_reassembled_and_refused() {
    // 200 kB of nesting does not fit one frame of the corpus format: four
    // fragments, sent last first.
    let payload = nested_arrays(DEEP).into_bytes();
    let parts: Vec<&[u8]> = payload.chunks(payload.len().div_ceil(4)).collect();
    let run: Vec<u8> = (0..parts.len())
        .rev()
        .flat_map(|seq| event_frame("deep", "4", &seq.to_string(), parts[seq]))
        .collect();
    let stopped = drive(&run);
    assert_eq!(
        stopped,
        [
            Stopped::Incomplete,
            Stopped::Incomplete,
            Stopped::Incomplete,
            Stopped::PayloadRefused
        ]
    );
}

#[test]
fn the_most_fragments_allowed_stay_incomplete_until_the_last_one() {
    let run: Vec<u8> = (0..frame::MAX_FRAGMENTS - 1)
        .flat_map(|seq| event_frame("many", "4096", &seq.to_string(), b"["))
        .collect();
    let stopped = drive(&run);
    assert_eq!(stopped.len(), frame::MAX_FRAGMENTS - 1);
    assert!(stopped.iter().all(|s| *s == Stopped::Incomplete));
}
