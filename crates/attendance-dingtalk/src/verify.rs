//! Turns an HTTP callback (query + raw body) into a [`VerifiedCallback`]:
//! signature, decryption, owner key and the inner `{EventType, ...}` object.
//!
//! [`VerifiedCallback`] has private fields and no constructor outside this
//! module, so translation cannot be handed bytes that skipped these checks.
//! There is no timestamp window: the protocol names none, and a replayed
//! callback is a duplicate the store's event-id dedup already absorbs.

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::app::{DingTalkApp, TranslationSettings};
use crate::crypto;
use crate::error::CallbackError;
use crate::wire::{
    CallbackBody, CallbackEnvelope, CallbackQuery, CHECK_CREATE_SUITE_URL, CHECK_URL,
};

/// Compares without leaking, through timing, how long a prefix matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// An authenticated, decrypted HTTP callback addressed to one configured app.
#[derive(Clone, PartialEq)]
pub struct VerifiedCallback {
    app: String,
    client_id: String,
    configured_corp_id: Option<String>,
    translation: TranslationSettings,
    owner: String,
    json: String,
    body: Map<String, Value>,
    envelope: CallbackEnvelope,
    event_type: String,
}

impl VerifiedCallback {
    /// The configured app name the callback was verified for.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The configured client id (AppKey) of that app.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// That app's zone and process-code kinds, which translation reads.
    pub fn translation(&self) -> &TranslationSettings {
        &self.translation
    }

    /// The configured corp id of that app, if any: the tenant of last resort.
    pub fn configured_corp_id(&self) -> Option<&str> {
        self.configured_corp_id.as_deref().filter(|c| !c.is_empty())
    }

    /// The owner key the plaintext carried: the client id or the corp id,
    /// whichever the app was registered with. The reply is sealed for it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The decrypted JSON exactly as DingTalk sent it. It holds no secret:
    /// the token and key never appear inside the plaintext.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The decrypted object: envelope fields and body fields side by side.
    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }

    /// `EventType`; never empty.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The redelivery dedup key: `eventId`, the id Stream uses too, so the
    /// same event over both channels dedups; else `BizId`, which the docs
    /// name an idempotency key; else empty.
    pub fn event_id(&self) -> &str {
        self.envelope
            .event_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .or(self.envelope.biz_id.as_deref())
            .unwrap_or_default()
    }

    /// `CorpId`, when the envelope has one (old payloads do not).
    pub fn corp_id(&self) -> Option<&str> {
        self.envelope.corp_id.as_deref().filter(|c| !c.is_empty())
    }

    /// `EventTime` in milliseconds, when present.
    pub fn event_time(&self) -> Option<i64> {
        self.envelope.event_time
    }

    /// A URL-registration handshake: answered with `success`, never stored.
    pub fn is_handshake(&self) -> bool {
        self.event_type == CHECK_URL || self.event_type == CHECK_CREATE_SUITE_URL
    }
}

impl std::fmt::Debug for VerifiedCallback {
    // The JSON carries employees' locations; logs get its size, not its text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCallback")
            .field("app", &self.app)
            .field("event_type", &self.event_type)
            .field("event_id", &self.event_id())
            .field("corp_id", &self.corp_id())
            .field("json_len", &self.json.len())
            .finish_non_exhaustive()
    }
}

/// Checks one HTTP callback for `app`.
///
/// The order matters: the signature covers the ciphertext, so nothing is
/// decrypted for a caller who does not know the token, and the decryption
/// errors cannot serve as a padding oracle.
pub fn verify_callback(
    app: &DingTalkApp,
    query: &CallbackQuery,
    raw_body: &[u8],
) -> Result<VerifiedCallback, CallbackError> {
    if app.callback_token.is_empty() {
        // An empty token would let anyone compute a valid signature.
        return Err(CallbackError::Misconfigured("callback_token is empty"));
    }
    if crypto::derive_key(app.callback_aes_key.expose()).is_err() {
        return Err(CallbackError::Misconfigured(
            "callback_aes_key is not 43 base64 characters",
        ));
    }

    let body: CallbackBody = serde_json::from_slice(raw_body)
        .map_err(|error| CallbackError::Malformed(format!("body: {error}")))?;
    let (Some(given), Some(timestamp), Some(nonce)) =
        (query.signature(), query.timestamp(), query.nonce())
    else {
        return Err(CallbackError::MissingSignature);
    };
    let expected = crypto::signature(app.callback_token.expose(), timestamp, nonce, &body.encrypt);
    if !constant_time_eq(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
        return Err(CallbackError::InvalidSignature);
    }

    let (json, owner) = crypto::decrypt(app.callback_aes_key.expose(), &body.encrypt)
        .map_err(CallbackError::Undecryptable)?;
    if !owner_matches(app, &owner) {
        return Err(CallbackError::OwnerMismatch);
    }

    classify(app, json, owner)
}

/// A callback the hub verified when it arrived and kept in its store,
/// read back for re-derivation: its JSON is the decrypted body stored then.
pub(crate) fn reverify_stored_callback(
    app: &DingTalkApp,
    json: &str,
) -> Result<VerifiedCallback, CallbackError> {
    classify(app, json.to_owned(), String::new())
}

/// The decrypted body of a callback for `app`, parsed into its envelope.
fn classify(
    app: &DingTalkApp,
    json: String,
    owner: String,
) -> Result<VerifiedCallback, CallbackError> {
    let body: Map<String, Value> = match serde_json::from_str(&json) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return Err(CallbackError::Malformed(format!(
                "decrypted event is {}, not an object",
                crate::wire::kind_of(&other)
            )))
        }
        Err(error) => {
            return Err(CallbackError::Malformed(format!(
                "decrypted event: {error}"
            )))
        }
    };
    let envelope: CallbackEnvelope = serde_json::from_value(Value::Object(body.clone()))
        .map_err(|error| CallbackError::Malformed(format!("envelope: {error}")))?;
    let event_type = envelope
        .event_type
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or(CallbackError::MissingEventType)?;
    Ok(VerifiedCallback {
        app: app.name.clone(),
        client_id: app.client_id.clone(),
        configured_corp_id: app.corp_id.clone(),
        translation: app.translation.clone(),
        owner,
        json,
        body,
        envelope,
        event_type,
    })
}

/// The owner key is the client id for console subscriptions and the corp id
/// for `register_call_back` registrations (protocol §3.2). An empty
/// configured value matches nothing, so an empty owner cannot slip through.
fn owner_matches(app: &DingTalkApp, owner: &str) -> bool {
    let matches = |configured: &str| {
        !configured.is_empty() && constant_time_eq(configured.as_bytes(), owner.as_bytes())
    };
    matches(&app.client_id) || app.corp_id.as_deref().is_some_and(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "mryue";
    const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
    const V1_ENCRYPT: &str = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";

    fn app(client_id: &str, corp_id: Option<&str>) -> DingTalkApp {
        DingTalkApp {
            name: "main".into(),
            client_id: client_id.into(),
            client_secret: "secret".into(),
            callback_token: TOKEN.into(),
            callback_aes_key: AES_KEY.into(),
            corp_id: corp_id.map(Into::into),
            translation: Default::default(),
        }
    }

    fn v1_query() -> CallbackQuery {
        CallbackQuery::from_pairs([
            ("msg_signature", "03044561471240d4a14bb09372dfcfd4fd0e40cb"),
            ("timestamp", "1608001896814"),
            ("nonce", "WL4PK6yA"),
        ])
    }

    fn v1_body() -> Vec<u8> {
        serde_json::to_vec(&CallbackBody {
            encrypt: V1_ENCRYPT.into(),
        })
        .unwrap()
    }

    fn sealed(app: &DingTalkApp, msg: &str, owner: &str) -> (CallbackQuery, Vec<u8>) {
        let encrypt = crypto::encrypt(
            app.callback_aes_key.expose(),
            msg,
            owner,
            b"0123456789abcdef",
        )
        .unwrap();
        let sig = crypto::signature(
            app.callback_token.expose(),
            "1700000000000",
            "nonce1",
            &encrypt,
        );
        let query = CallbackQuery::from_pairs([
            ("signature", sig.as_str()),
            ("timeStamp", "1700000000000"),
            ("nonce", "nonce1"),
        ]);
        (
            query,
            serde_json::to_vec(&CallbackBody { encrypt }).unwrap(),
        )
    }

    #[test]
    fn the_v1_vector_verifies_as_a_handshake_for_a_corp_id_owner() {
        // V1 was sealed for the corp id: a register_call_back registration.
        let app = app("dingappkey", Some("ding6ccabc44d2c8d38b"));
        let verified = verify_callback(&app, &v1_query(), &v1_body()).unwrap();
        assert_eq!(verified.event_type(), "check_url");
        assert!(verified.is_handshake());
        assert_eq!(verified.owner(), "ding6ccabc44d2c8d38b");
        assert_eq!(verified.json(), r#"{"EventType":"check_url"}"#);
        assert_eq!(verified.event_id(), "");
        assert_eq!(verified.corp_id(), None);
    }

    #[test]
    fn the_client_id_is_an_owner_too() {
        let app = app("ding6ccabc44d2c8d38b", None);
        assert!(verify_callback(&app, &v1_query(), &v1_body()).is_ok());
    }

    #[test]
    fn another_owner_is_refused() {
        let app = app("dingappkey", Some("dingothercorp"));
        assert!(matches!(
            verify_callback(&app, &v1_query(), &v1_body()),
            Err(CallbackError::OwnerMismatch)
        ));
        let (query, body) = sealed(&app, r#"{"EventType":"x"}"#, "");
        let mut empty_ids = app.clone();
        empty_ids.client_id = String::new();
        empty_ids.corp_id = Some(String::new());
        assert!(matches!(
            verify_callback(&empty_ids, &query, &body),
            Err(CallbackError::OwnerMismatch)
        ));
    }

    #[test]
    fn signatures_are_checked_before_anything_is_decrypted() {
        let app = app("ding6ccabc44d2c8d38b", None);
        let mut query = v1_query();
        query.msg_signature = Some("0".repeat(40));
        assert!(matches!(
            verify_callback(&app, &query, &v1_body()),
            Err(CallbackError::InvalidSignature)
        ));
        // Garbage ciphertext with a wrong signature is a signature error, not
        // a decryption error: nothing about the key leaks to a forger.
        let garbage = br#"{"encrypt":"AAAA"}"#;
        assert!(matches!(
            verify_callback(&app, &v1_query(), garbage),
            Err(CallbackError::InvalidSignature)
        ));
        let mut upper = v1_query();
        upper.msg_signature = Some("03044561471240D4A14BB09372DFCFD4FD0E40CB".into());
        assert!(verify_callback(&app, &upper, &v1_body()).is_ok());
    }

    #[test]
    fn a_missing_parameter_is_a_missing_signature() {
        let app = app("ding6ccabc44d2c8d38b", None);
        for drop in ["msg_signature", "timestamp", "nonce"] {
            let mut query = v1_query();
            match drop {
                "msg_signature" => query.msg_signature = None,
                "timestamp" => query.timestamp = None,
                _ => query.nonce = None,
            }
            assert!(
                matches!(
                    verify_callback(&app, &query, &v1_body()),
                    Err(CallbackError::MissingSignature)
                ),
                "{drop}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_callbacks_are_malformed() {
        let app = app("ding6ccabc44d2c8d38b", None);
        for body in [&b"{not json"[..], b"[]", b"{}", br#"{"encrypt":1}"#, b""] {
            assert!(
                matches!(
                    verify_callback(&app, &v1_query(), body),
                    Err(CallbackError::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn the_decrypted_message_must_be_an_event_object() {
        let app = app("cid", None);
        for (msg, expect_type) in [
            ("not json", false),
            ("[1]", false),
            (r#"{"EventType":""}"#, true),
            (r#"{"eventType":"x"}"#, true),
            (r#"{"EventType":{"a":1}}"#, false),
        ] {
            let (query, body) = sealed(&app, msg, "cid");
            let result = verify_callback(&app, &query, &body);
            if expect_type {
                assert!(
                    matches!(result, Err(CallbackError::MissingEventType)),
                    "{msg}"
                );
            } else {
                assert!(matches!(result, Err(CallbackError::Malformed(_))), "{msg}");
            }
        }
    }

    #[test]
    fn envelope_fields_are_exposed() {
        let app = app("cid", None);
        let msg = r#"{"EventType":"attendance_check_record","EventTime":1663143335567,"CorpId":"dingcorp","BizId":"b-1","eventId":"e-1","dataList":[]}"#;
        let (query, body) = sealed(&app, msg, "cid");
        let verified = verify_callback(&app, &query, &body).unwrap();
        assert_eq!(verified.event_id(), "e-1");
        assert_eq!(verified.corp_id(), Some("dingcorp"));
        assert_eq!(verified.event_time(), Some(1_663_143_335_567));
        assert_eq!(verified.json(), msg);
        assert!(!verified.is_handshake());

        let (query, body) = sealed(&app, r#"{"EventType":"x","BizId":"b-2"}"#, "cid");
        let verified = verify_callback(&app, &query, &body).unwrap();
        assert_eq!(verified.event_id(), "b-2", "BizId when there is no eventId");
    }

    #[test]
    fn misconfigured_apps_are_reported_as_such() {
        let mut no_token = app("cid", None);
        no_token.callback_token = Default::default();
        assert!(matches!(
            verify_callback(&no_token, &v1_query(), &v1_body()),
            Err(CallbackError::Misconfigured(_))
        ));
        let mut bad_key = app("cid", None);
        bad_key.callback_aes_key = "short".into();
        assert!(matches!(
            verify_callback(&bad_key, &v1_query(), &v1_body()),
            Err(CallbackError::Misconfigured(_))
        ));
    }

    #[test]
    fn debug_hides_the_json() {
        let app = app("cid", None);
        let (query, body) = sealed(&app, r#"{"EventType":"x","address":"秘密"}"#, "cid");
        let verified = verify_callback(&app, &query, &body).unwrap();
        let shown = format!("{verified:?}");
        assert!(!shown.contains("秘密"), "{shown}");
        assert!(shown.contains("json_len"), "{shown}");
    }
}
