//! Feishu's AES-256-CBC decryption of arbitrary text (base64 or not), and of
//! arbitrary bytes in valid base64, so that the fuzzer reaches the block and
//! padding checks behind the base64 decoder as well.

#![no_main]

use attendance_feishu::crypto;
use attendance_fuzz::FEISHU_ENCRYPT_KEY;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let text = if choice & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        base64::engine::general_purpose::STANDARD.encode(rest)
    };
    if let Ok(plaintext) = crypto::decrypt(FEISHU_ENCRYPT_KEY, &text) {
        // PKCS#7 always pads, so a plaintext is shorter than its ciphertext.
        assert!(plaintext.len() < text.len());
    }
});
