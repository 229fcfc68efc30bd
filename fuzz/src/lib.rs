//! What the fuzz targets share: the apps hostile input is addressed to and
//! a fixed receive time, so that a crash found once replays the same way.
//! Every target calls the vendor crates' public entry points and nothing
//! else; none copies their logic.

use std::time::{Duration, SystemTime};

use attendance_dingtalk::DingTalkApp;
use attendance_feishu::FeishuApp;
use attendance_proto::Timestamp;

/// The Feishu encrypt key of [`feishu_app`] when it has one.
pub const FEISHU_ENCRYPT_KEY: &str = "fuzz-encrypt-key";
/// The Feishu verification token; a fuzzed envelope that names it passes
/// the token check and reaches translation.
pub const FEISHU_TOKEN: &str = "fuzz-token";
/// The DingTalk callback token and `aes_key` (43 base64 characters).
pub const DINGTALK_TOKEN: &str = "fuzz-callback-token";
pub const DINGTALK_AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
pub const DINGTALK_CLIENT_ID: &str = "dingfuzzclient";

/// One Feishu app, with or without an encrypt key.
pub fn feishu_app(with_key: bool) -> FeishuApp {
    FeishuApp {
        name: "fuzz".into(),
        app_id: "cli_fuzz".into(),
        verification_token: FEISHU_TOKEN.into(),
        encrypt_key: with_key.then(|| FEISHU_ENCRYPT_KEY.into()),
        time_zone: chrono_tz::Asia::Shanghai,
        pulls: true,
    }
}

/// One DingTalk app taking HTTP callbacks and Stream events.
pub fn dingtalk_app() -> DingTalkApp {
    DingTalkApp {
        name: "fuzz".into(),
        client_id: DINGTALK_CLIENT_ID.into(),
        client_secret: "fuzz-secret".into(),
        callback_token: DINGTALK_TOKEN.into(),
        callback_aes_key: DINGTALK_AES_KEY.into(),
        corp_id: Some("dingfuzzcorp".into()),
        translation: Default::default(),
    }
}

/// 2024-01-01T00:00:00Z: translation reads the receive time, and a fixed one
/// keeps every run of an input the same.
pub fn received_time() -> Timestamp {
    (SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200)).into()
}

/// Splits `data` at its first `0xFF` byte (absent: everything is `head`), so
/// that one input can carry two fields, a query value and a body say.
pub fn split_field(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
