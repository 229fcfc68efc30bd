//! DingTalk HTTP callbacks. The first byte chooses what the rest is:
//! `crypto::decrypt`'s ciphertext text; a query (`name=value&…`, up to the
//! first 0xFF byte) and a body for `verify_callback`; the `encrypt` value of
//! a correctly signed body, so that decryption is reached behind the
//! signature; or a message (and, after a 0xFF byte, an owner key) sealed
//! and signed with the app's key, so that the decrypted JSON's
//! classification and translation are.

#![no_main]

use attendance_dingtalk::crypto;
use attendance_dingtalk::wire::CallbackQuery;
use attendance_dingtalk::{
    approval_pulls, instance_pulls, pull_triggers, translate_callback, verify_callback,
};
use attendance_fuzz::{
    dingtalk_app, received_time, split_field, DINGTALK_AES_KEY, DINGTALK_CLIENT_ID, DINGTALK_TOKEN,
};
use libfuzzer_sys::fuzz_target;

const TIMESTAMP: &str = "1700000000000";
const NONCE: &str = "fuzznonce";

/// `{"encrypt": …}` and the query that signs it with the app's token.
fn signed(encrypt: &str) -> (CallbackQuery, Vec<u8>) {
    let signature = crypto::signature(DINGTALK_TOKEN, TIMESTAMP, NONCE, encrypt);
    let query = CallbackQuery::from_pairs([
        ("msg_signature", signature.as_str()),
        ("timestamp", TIMESTAMP),
        ("nonce", NONCE),
    ]);
    let body = serde_json::json!({ "encrypt": encrypt })
        .to_string()
        .into_bytes();
    (query, body)
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let app = dingtalk_app();
    let (query, body) = match choice % 4 {
        0 => {
            let _ = crypto::decrypt(DINGTALK_AES_KEY, &String::from_utf8_lossy(rest));
            return;
        }
        1 => {
            let (query, body) = split_field(rest);
            let query = String::from_utf8_lossy(query);
            let pairs = query
                .split('&')
                .map(|pair| pair.split_once('=').unwrap_or((pair, "")));
            (CallbackQuery::from_pairs(pairs), body.to_vec())
        }
        2 => signed(&String::from_utf8_lossy(rest)),
        _ => {
            // Without a 0xFF byte the owner is the app's own client id.
            let (msg, owner) = split_field(rest);
            let owner = match owner {
                [] => DINGTALK_CLIENT_ID.into(),
                owner => String::from_utf8_lossy(owner),
            };
            let Ok(encrypt) = crypto::encrypt(
                DINGTALK_AES_KEY,
                &String::from_utf8_lossy(msg),
                &owner,
                b"fuzzfuzzfuzzfuzz",
            ) else {
                return;
            };
            signed(&encrypt)
        }
    };
    if let Ok(callback) = verify_callback(&app, &query, &body) {
        let delivery = translate_callback(&callback, received_time());
        let _ = pull_triggers(&delivery, app.translation.time_zone);
        let _ = instance_pulls(&delivery);
        let _ = approval_pulls(&delivery);
    }
});
