//! The corpus of hostile input (`tests/hostile/` at the workspace root)
//! through the entry points the fuzz targets drive: every callback body is
//! refused by `verify_callback` with a 4xx (unsigned, signed over whatever
//! `encrypt` it carries, and sealed as the plaintext of a signed callback),
//! every ciphertext by `crypto::decrypt`, and every Stream frame is either
//! refused by `parse_frame`, not an EVENT, or an EVENT whose translation
//! holds no facts.

use attendance_adapter_kit::testing::hostile::{corpus, every_corpus};
use attendance_dingtalk::crypto;
use attendance_dingtalk::wire::CallbackQuery;
use attendance_dingtalk::{classify, parse_frame, translate_stream, verify_callback, FrameKind};
use attendance_proto::ingest::Recognition;

use crate::support::{app, AES_KEY, CLIENT_ID, TOKEN};

fn signed_query(encrypt: &str) -> CallbackQuery {
    let signature = crypto::signature(TOKEN, "1700000000000", "n0nce", encrypt);
    CallbackQuery::from_pairs([
        ("msg_signature", signature.as_str()),
        ("timestamp", "1700000000000"),
        ("nonce", "n0nce"),
    ])
}

#[test]
fn every_hostile_callback_body_is_refused_by_verify_callback() {
    let mut signed = 0;
    for input in every_corpus() {
        let verify = |query: &CallbackQuery, body: &[u8]| verify_callback(&app(), query, body);
        input.assert_refused("unsigned", verify(&CallbackQuery::default(), &input.bytes));
        let forged = signed_query("something else");
        input.assert_refused("forged", verify(&forged, &input.bytes));
        if let Some(encrypt) = input.encrypt() {
            // Signed right: decryption itself must refuse it.
            input.assert_refused("signed", verify(&signed_query(&encrypt), &input.bytes));
            signed += 1;
        }
        if let Some(text) = input.text() {
            // The plaintext of a genuine callback: classification refuses it.
            let encrypt = crypto::encrypt(AES_KEY, text, CLIENT_ID, b"hostile-prefix16").unwrap();
            let body = serde_json::json!({ "encrypt": encrypt }).to_string();
            input.assert_refused("sealed", verify(&signed_query(&encrypt), body.as_bytes()));
        }
    }
    assert!(signed >= 10, "only {signed} bodies reached decryption");
}

#[test]
fn every_hostile_ciphertext_is_refused_by_decrypt() {
    let mut tried = 0;
    for input in every_corpus() {
        let encrypt = input
            .encrypt()
            .unwrap_or_else(|| String::from_utf8_lossy(&input.bytes).into_owned());
        let result = crypto::decrypt(AES_KEY, &encrypt);
        assert!(result.is_err(), "{}: decrypted to {result:?}", input.name);
        tried += 1;
    }
    assert!(tried > 100);
}

#[test]
fn every_hostile_stream_frame_is_refused_or_translates_to_no_facts() {
    let app = app();
    let (mut refused, mut events) = (0, 0);
    for input in corpus("dingtalk_frame") {
        // The client only ever sees text frames: anything else is not UTF-8.
        let text = String::from_utf8_lossy(&input.bytes);
        let frame = match parse_frame(&text) {
            Err(error) => {
                refused += 1;
                assert!(!error.to_string().is_empty());
                continue;
            }
            Ok(frame) => frame,
        };
        if let FrameKind::Event(event) = classify(&frame) {
            events += 1;
            let delivery = translate_stream(&event, &app, std::time::SystemTime::now().into());
            assert!(delivery.facts.is_empty(), "{}: {delivery:?}", input.name);
            assert!(
                !matches!(delivery.recognition, Recognition::Translated),
                "{}: {delivery:?}",
                input.name
            );
        }
    }
    assert!(
        refused >= 10,
        "only {refused} frames were refused by parse_frame"
    );
    assert!(events >= 3, "only {events} frames reached translation");
}
