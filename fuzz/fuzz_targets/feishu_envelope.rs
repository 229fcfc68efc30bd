//! A Feishu webhook body through `verify`, then, if it verified, through
//! `translate`. The first byte chooses the app (with or without an encrypt
//! key) and how the rest arrives: unsigned, correctly signed, with a forged
//! signature, or sealed with the app's key and signed, so that the fuzzer
//! reaches the envelope parser behind the cipher as well as in front of it.

#![no_main]

use attendance_feishu::verify::{signature, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use attendance_feishu::{crypto, translate, verify, Verified};
use attendance_fuzz::{feishu_app, received_time, FEISHU_ENCRYPT_KEY};
use attendance_proto::v1::Channel;
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const TIMESTAMP: &str = "1700000000";
const NONCE: &str = "fuzz-nonce";

fn signed_headers(body: &[u8], forged: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_TIMESTAMP, HeaderValue::from_static(TIMESTAMP));
    headers.insert(HEADER_NONCE, HeaderValue::from_static(NONCE));
    let key = if forged {
        "not-the-key"
    } else {
        FEISHU_ENCRYPT_KEY
    };
    let value = signature(TIMESTAMP, NONCE, key, body);
    headers.insert(
        HEADER_SIGNATURE,
        HeaderValue::from_str(&value).expect("hex is a header value"),
    );
    headers
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let app = feishu_app(choice & 1 == 1);
    let (headers, body) = match (choice >> 1) % 4 {
        0 => (HeaderMap::new(), rest.to_vec()),
        1 => (signed_headers(rest, false), rest.to_vec()),
        2 => (signed_headers(rest, true), rest.to_vec()),
        _ => {
            // The rest is the plaintext inside `{"encrypt": …}`.
            let sealed = crypto::encrypt(FEISHU_ENCRYPT_KEY, rest, [7; 16]);
            let body = serde_json::json!({ "encrypt": sealed })
                .to_string()
                .into_bytes();
            (signed_headers(&body, false), body)
        }
    };
    if let Ok(Verified::Event(event)) = verify(&app, &headers, &body) {
        let delivery = translate(&event, app.recipient(), Channel::Webhook, received_time());
        // Translation keeps what it verified.
        assert_eq!(delivery.event_id, event.event_id());
    }
});
