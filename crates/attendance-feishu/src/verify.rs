//! Turns raw webhook bytes into a [`Verified`] request: signature, decryption,
//! envelope classification and the verification-token check. Long-connection
//! payloads, whose trust comes from the connection, go through the same
//! classification in `verify_long_connection_payload`, which is crate-private:
//! only the long connection, which authenticated that connection, may call it.
//!
//! [`VerifiedEvent`] has private fields and no constructor outside this
//! module, so translation cannot be handed bytes that skipped these checks.

use axum::http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::FeishuApp;
use crate::crypto;
use crate::error::WebhookError;
use crate::wire::{Envelope, FuzzyEnvelope, Token, URL_VERIFICATION};

/// Header carrying the request signature.
pub const HEADER_SIGNATURE: &str = "x-lark-signature";
/// Header carrying the timestamp the signature covers.
pub const HEADER_TIMESTAMP: &str = "x-lark-request-timestamp";
/// Header carrying the nonce the signature covers.
pub const HEADER_NONCE: &str = "x-lark-request-nonce";

/// `hex_lower(SHA-256(timestamp ‖ nonce ‖ encrypt_key ‖ raw_body))`.
///
/// Plain SHA-256 over the concatenation, not an HMAC: that is what Feishu
/// computes, and an HMAC here would reject every genuine request.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, raw_body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(encrypt_key.as_bytes());
    hasher.update(raw_body);
    hex::encode(hasher.finalize())
}

/// Compares secrets without leaking, through timing, how long a prefix matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// A URL verification; answer with this code and commit nothing.
    Challenge(String),
    /// An event to translate and commit.
    Event(VerifiedEvent),
}

/// An authenticated, decrypted and classified event envelope.
#[derive(Clone, PartialEq)]
pub struct VerifiedEvent {
    json: String,
    // Boxed so that `Verified` stays small next to its challenge variant.
    envelope: Box<Envelope>,
    event_id: String,
    event_type: String,
    tenant: String,
    app_id: String,
    create_time: Option<String>,
}

impl VerifiedEvent {
    /// The decrypted envelope JSON as Feishu sent it, except that the
    /// verification token's value reads `**REDACTED**`: the JSON travels to
    /// every subscriber, and the token would let them forge webhooks.
    pub fn json(&self) -> &str {
        &self.json
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The envelope's `event` object (`Null` when absent).
    pub fn event(&self) -> &Value {
        self.envelope.event()
    }

    /// `header.event_id` (2.0) or `uuid` (1.0): the redelivery dedup key.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// `header.event_type` (2.0) or `event.type` (1.0).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// `tenant_key`; empty when the envelope has none.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The envelope's `app_id`, or the configured one when the envelope has none.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// `header.create_time` as sent (milliseconds, as a string); 2.0 only.
    pub fn create_time(&self) -> Option<&str> {
        self.create_time.as_deref()
    }
}

impl std::fmt::Debug for VerifiedEvent {
    // The JSON carries the verification token, so it stays out of Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedEvent")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("tenant", &self.tenant)
            .field("app_id", &self.app_id)
            .field("create_time", &self.create_time)
            .field("json_len", &self.json.len())
            .finish_non_exhaustive()
    }
}

/// Checks one webhook request for `app`.
///
/// With an encrypt key configured, a signed request must carry a matching
/// signature; an unsigned one is accepted only as a URL verification, which
/// Feishu does not sign. Every envelope's verification token must match.
pub fn verify(
    app: &FeishuApp,
    headers: &HeaderMap,
    raw_body: &[u8],
) -> Result<Verified, WebhookError> {
    let key = app.encrypt_key();
    let unsigned_with_key = match key {
        Some(key) => match headers.get(HEADER_SIGNATURE) {
            Some(given) => {
                check_signature(key, headers, given.as_bytes(), raw_body)?;
                false
            }
            None => true,
        },
        // Without a key there is nothing to check a signature against: the
        // verification token is then the only credential (protocol §1.3).
        None => false,
    };

    let opened = open(app, key, raw_body);
    if !unsigned_with_key {
        return opened;
    }
    match opened {
        Ok(Verified::Challenge(code)) => Ok(Verified::Challenge(code)),
        // Every other unsigned outcome gets the same answer. Telling "bad
        // padding" apart from "decrypted but not a challenge" to an
        // unauthenticated caller would be a CBC padding oracle.
        Ok(Verified::Event(_)) => Err(WebhookError::MissingSignature),
        Err(error) => {
            tracing::debug!(%error, "unsigned request rejected");
            Err(WebhookError::MissingSignature)
        }
    }
}

fn check_signature(
    key: &str,
    headers: &HeaderMap,
    given: &[u8],
    raw_body: &[u8],
) -> Result<(), WebhookError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
            .ok_or(WebhookError::InvalidSignature)
    };
    let timestamp = text(HEADER_TIMESTAMP)?;
    let nonce = text(HEADER_NONCE)?;
    let expected = signature(timestamp, nonce, key, raw_body);
    if constant_time_eq(expected.as_bytes(), &given.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(WebhookError::InvalidSignature)
    }
}

/// Decrypts when needed, classifies the envelope and checks its token.
fn open(app: &FeishuApp, key: Option<&str>, raw_body: &[u8]) -> Result<Verified, WebhookError> {
    let outer: FuzzyEnvelope = parse(raw_body)?;
    let (json, fuzzy) = match outer.encrypt {
        Some(ciphertext) => {
            let key = key.ok_or(WebhookError::NoEncryptKey)?;
            let plaintext = crypto::decrypt(key, &ciphertext)?;
            let inner: FuzzyEnvelope = parse(&plaintext)?;
            if inner.encrypt.is_some() {
                return Err(WebhookError::Malformed("encrypted twice".into()));
            }
            (into_text(plaintext)?, inner)
        }
        None => (into_text(raw_body.to_vec())?, outer),
    };

    if fuzzy.kind.as_deref() == Some(URL_VERIFICATION) {
        // GO and JAVA prefer header.token when a header is present; a plain
        // challenge has none and carries the token at the top level.
        let token = match &fuzzy.header {
            Some(header) => header.token.as_ref(),
            None => fuzzy.token.as_ref(),
        };
        check_token(app, token)?;
        let code = fuzzy.challenge.ok_or_else(|| {
            WebhookError::Malformed("url_verification without a challenge".into())
        })?;
        return Ok(Verified::Challenge(code));
    }

    classify(&json, fuzzy, Trust::Token(app)).map(Verified::Event)
}

/// Verifies the payload of a long-connection data frame for the app whose
/// connection received it.
///
/// The payload carries no signature, and its verification token is not
/// checked: trust comes from the connection, which Feishu authenticated with
/// the app's id and secret when it was opened (protocol notes §2). What is
/// checked is what the webhook checks after its credentials: the payload is
/// a plaintext event envelope (not encrypted, not a URL verification) with an
/// event id and an event type, classified exactly as a webhook body is.
///
/// The JSON kept still has its verification token replaced by
/// `**REDACTED**`: no token is configured here, so the one the envelope
/// carries is found by parsing it, and it never reaches subscribers.
pub(crate) fn verify_long_connection_payload(
    app_id: &str,
    payload: &[u8],
) -> Result<VerifiedEvent, WebhookError> {
    let fuzzy = parse(payload)?;
    if fuzzy.encrypt.is_some() {
        // Long-connection payloads are plaintext; Go refuses encrypted data
        // without a key in the same way.
        return Err(WebhookError::NoEncryptKey);
    }
    if fuzzy.kind.as_deref() == Some(URL_VERIFICATION) {
        return Err(WebhookError::Malformed(
            "a URL verification has no place on the long connection".into(),
        ));
    }
    let json = into_text(payload.to_vec())?;
    classify(&json, fuzzy, Trust::Connection { app_id })
}

/// An event the hub verified when it arrived (by webhook or long
/// connection) and kept in its store, read back for re-derivation: the
/// stored JSON is the plaintext envelope, its token already redacted.
pub(crate) fn reverify_stored_event(
    app_id: &str,
    json: &str,
) -> Result<VerifiedEvent, WebhookError> {
    classify(json, parse(json.as_bytes())?, Trust::Connection { app_id })
}

/// Where an envelope's authenticity comes from.
enum Trust<'a> {
    /// A webhook request: the envelope's verification token must match.
    Token(&'a FeishuApp),
    /// A long connection, authenticated when it was opened.
    Connection { app_id: &'a str },
}

impl Trust<'_> {
    fn check(&self, given: Option<&Token>) -> Result<(), WebhookError> {
        match self {
            Trust::Token(app) => check_token(app, given),
            Trust::Connection { .. } => Ok(()),
        }
    }

    /// A webhook's event must name the app of its route, when it names one:
    /// the route's token and key are that app's, and an event of another app
    /// stored under it would be attributed to the wrong app. (A connection's
    /// events, and the stored ones read back, are its app's by construction.)
    fn check_app(&self, named: Option<&str>) -> Result<(), WebhookError> {
        match (self, named.filter(|id| !id.is_empty())) {
            (Trust::Token(app), Some(named)) if named != app.app_id => {
                Err(WebhookError::ForeignApp)
            }
            _ => Ok(()),
        }
    }

    fn configured_app_id(&self) -> &str {
        match self {
            Trust::Token(app) => &app.app_id,
            Trust::Connection { app_id } => app_id,
        }
    }

    /// The JSON with the verification token redacted: the configured token
    /// for a webhook (it matched the envelope's), else every token the
    /// envelope carries.
    fn redact(&self, json: &str, tokens: &[Option<&Token>]) -> String {
        match self {
            Trust::Token(app) => redact_token(json, app.verification_token.expose()),
            Trust::Connection { .. } => tokens
                .iter()
                .flatten()
                .fold(json.to_owned(), |json, token| {
                    redact_token(&json, token.expose())
                }),
        }
    }
}

/// Classifies a plaintext envelope (schema 2.0 or 1.0) into an event, after
/// `trust` accepted it.
fn classify(
    json: &str,
    fuzzy: FuzzyEnvelope,
    trust: Trust<'_>,
) -> Result<VerifiedEvent, WebhookError> {
    let event = if fuzzy.schema.is_some() || fuzzy.header.is_some() {
        let header = fuzzy
            .header
            .ok_or_else(|| WebhookError::Malformed("schema 2.0 without a header".into()))?;
        trust.check(header.token.as_ref())?;
        trust.check_app(header.app_id.as_deref())?;
        let event_id = non_empty(header.event_id.clone()).ok_or(WebhookError::MissingEventId)?;
        let event_type =
            non_empty(header.event_type.clone()).ok_or(WebhookError::MissingEventType)?;
        let json = trust.redact(json, &[header.token.as_ref(), fuzzy.token.as_ref()]);
        VerifiedEvent {
            event_id,
            event_type,
            tenant: header.tenant_key.clone().unwrap_or_default(),
            app_id: non_empty(header.app_id.clone())
                .unwrap_or_else(|| trust.configured_app_id().to_owned()),
            create_time: header.create_time.clone(),
            envelope: Box::new(Envelope::V2 {
                schema: fuzzy.schema.unwrap_or_default(),
                header,
                event: fuzzy.event.unwrap_or(Value::Null),
            }),
            json,
        }
    } else if fuzzy.uuid.is_some() {
        trust.check(fuzzy.token.as_ref())?;
        let json = trust.redact(json, &[fuzzy.token.as_ref()]);
        let uuid = non_empty(fuzzy.uuid).ok_or(WebhookError::MissingEventId)?;
        let event = fuzzy.event.unwrap_or(Value::Null);
        let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_owned);
        trust.check_app(field("app_id").as_deref())?;
        let event_type = non_empty(field("type")).ok_or(WebhookError::MissingEventType)?;
        VerifiedEvent {
            event_id: uuid.clone(),
            event_type,
            tenant: field("tenant_key").unwrap_or_default(),
            app_id: non_empty(field("app_id"))
                .unwrap_or_else(|| trust.configured_app_id().to_owned()),
            create_time: None,
            envelope: Box::new(Envelope::V1 {
                ts: fuzzy.ts,
                uuid,
                kind: fuzzy.kind,
                event,
            }),
            json,
        }
    } else {
        // Neither a header nor a uuid: nothing identifies the delivery. The
        // token is still checked first so that an unauthenticated caller
        // learns nothing about the body's shape.
        trust.check(fuzzy.token.as_ref())?;
        return Err(WebhookError::MissingEventId);
    };
    Ok(event)
}

fn parse(bytes: &[u8]) -> Result<FuzzyEnvelope, WebhookError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| WebhookError::Malformed(error.to_string()))?;
    if !value.is_object() {
        return Err(WebhookError::Malformed("not a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|error| WebhookError::Malformed(error.to_string()))
}

fn into_text(bytes: Vec<u8>) -> Result<String, WebhookError> {
    String::from_utf8(bytes).map_err(|_| WebhookError::Malformed("not UTF-8".into()))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Replaces the (already checked) token's JSON string value, leaving every
/// other byte as it came.
fn redact_token(json: &str, token: &str) -> String {
    if token.is_empty() {
        return json.to_owned();
    }
    let quoted = serde_json::to_string(token).expect("a string serializes");
    json.replace(&quoted, "\"**REDACTED**\"")
}

fn check_token(app: &FeishuApp, given: Option<&Token>) -> Result<(), WebhookError> {
    let expected = app.verification_token.expose().as_bytes();
    // An empty configured token would let any token-less envelope through,
    // so it matches nothing.
    match given {
        Some(given)
            if !expected.is_empty() && constant_time_eq(expected, given.expose().as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(WebhookError::InvalidToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const GO_BODY: &str = r#"{"schema":"2.0","header":{"event_id":"f7984f25108f8137722bb63cee927e66","event_type":"contact.user.created_v3","app_id":"cli_xxxxxxxx","tenant_key":"xxxxxxx","create_time":"1603977298000000","token":"v"},"event":{"object":{"open_id":"ou_7dab8a3d3cdcc9da365777c7ad535d62","union_id":"on_576833b917gda3d939b9a3c2d53e72c8","user_id":"e33ggbyz","name":"张三","employee_no":"employee_no"}},"challenge":"1212","type":"url_verification"}"#;

    fn app(token: &str, key: Option<&str>) -> FeishuApp {
        app_of("cli_configured", token, key)
    }

    fn app_of(app_id: &str, token: &str, key: Option<&str>) -> FeishuApp {
        FeishuApp {
            name: "main".into(),
            app_id: app_id.into(),
            verification_token: token.into(),
            encrypt_key: key.map(Into::into),
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        }
    }

    fn signed(key: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from_static("1700000000"));
        headers.insert(HEADER_NONCE, HeaderValue::from_static("abc123"));
        let sig = signature("1700000000", "abc123", key, body);
        headers.insert(HEADER_SIGNATURE, HeaderValue::from_str(&sig).unwrap());
        headers
    }

    fn expect_event(result: Result<Verified, WebhookError>) -> VerifiedEvent {
        match result {
            Ok(Verified::Event(event)) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn go_sdk_signature_vector() {
        assert_eq!(GO_BODY.len(), 432);
        assert_eq!(
            signature("timestamp", "nonce", "1212121212", GO_BODY.as_bytes()),
            "4dca085198cb3216defc5b65b0668c1328b038a22dbadf2bc6c4fdc3d32bbc45"
        );
    }

    #[test]
    fn encrypted_wrapper_signature_vector() {
        let body = r#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        assert_eq!(
            signature("1700000000", "abc123", "test key", body.as_bytes()),
            "69c61fa99760d59824d588297c0036194769fb54331682c9cbcd93e85b9a8aad"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn plain_v2_event_is_verified_by_token() {
        let body = br#"{"schema":"2.0","header":{"event_id":"e1","event_type":"x.y","create_time":"1615381917559","token":"tok","app_id":"cli_a","tenant_key":"t1"},"event":{"k":1}}"#;
        let event = expect_event(verify(
            &app_of("cli_a", "tok", None),
            &HeaderMap::new(),
            body,
        ));
        assert_eq!(event.event_id(), "e1");
        assert_eq!(event.event_type(), "x.y");
        assert_eq!(event.tenant(), "t1");
        assert_eq!(event.app_id(), "cli_a");
        assert_eq!(event.create_time(), Some("1615381917559"));
        // Verbatim but for the token, which subscribers must not learn.
        let expected = std::str::from_utf8(body)
            .unwrap()
            .replace("\"tok\"", "\"**REDACTED**\"");
        assert_eq!(event.json(), expected);
        assert!(!event.json().contains("\"tok\""));
        assert_eq!(event.event()["k"], 1);

        assert!(matches!(
            verify(&app_of("cli_a", "other", None), &HeaderMap::new(), body),
            Err(WebhookError::InvalidToken)
        ));
    }

    #[test]
    fn an_event_of_another_app_than_the_routes_is_refused() {
        let v2 = br#"{"schema":"2.0","header":{"event_id":"e1","event_type":"x.y","token":"tok","app_id":"cli_other"},"event":{}}"#;
        let v1 = br#"{"uuid":"u-1","token":"tok","event":{"type":"x","app_id":"cli_other"}}"#;
        for body in [&v2[..], &v1[..]] {
            let refused = verify(&app_of("cli_a", "tok", None), &HeaderMap::new(), body);
            assert!(
                matches!(refused, Err(WebhookError::ForeignApp)),
                "{refused:?}"
            );
        }
        // The token is checked first: a stranger learns nothing of app ids.
        assert!(matches!(
            verify(&app_of("cli_a", "other", None), &HeaderMap::new(), v2),
            Err(WebhookError::InvalidToken)
        ));
        // A connection's payload is its app's, whatever it names.
        assert!(verify_long_connection_payload("cli_a", v2).is_ok());
    }

    #[test]
    fn v1_event_takes_id_type_tenant_and_app_from_the_v1_places() {
        let body = br#"{"ts":"1502199207.7171419","uuid":"u-1","token":"tok","type":"event_callback","event":{"type":"remedy_approval","tenant_key":"t2","app_id":"cli_b"}}"#;
        let event = expect_event(verify(
            &app_of("cli_b", "tok", None),
            &HeaderMap::new(),
            body,
        ));
        assert_eq!(event.event_id(), "u-1");
        assert_eq!(event.event_type(), "remedy_approval");
        assert_eq!(event.tenant(), "t2");
        assert_eq!(event.app_id(), "cli_b");
        assert_eq!(event.create_time(), None);
        assert!(matches!(event.envelope(), Envelope::V1 { uuid, .. } if uuid == "u-1"));
    }

    #[test]
    fn missing_app_id_falls_back_to_the_configured_one() {
        let body = br#"{"uuid":"u-1","token":"tok","type":"event_callback","event":{"type":"x"}}"#;
        let event = expect_event(verify(&app("tok", None), &HeaderMap::new(), body));
        assert_eq!(event.app_id(), "cli_configured");
        assert_eq!(event.tenant(), "");
    }

    #[test]
    fn missing_event_id_or_type_is_malformed() {
        let no_id = br#"{"schema":"2.0","header":{"event_type":"x","token":"tok"},"event":{}}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), no_id),
            Err(WebhookError::MissingEventId)
        ));
        let no_type = br#"{"schema":"2.0","header":{"event_id":"e","token":"tok"},"event":{}}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), no_type),
            Err(WebhookError::MissingEventType)
        ));
        let v1_no_type = br#"{"uuid":"u","token":"tok","event":{}}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), v1_no_type),
            Err(WebhookError::MissingEventType)
        ));
        let neither = br#"{"token":"tok","event":{}}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), neither),
            Err(WebhookError::MissingEventId)
        ));
    }

    #[test]
    fn malformed_json_is_rejected() {
        for body in [&b"{not json"[..], b"[1,2]", b"\"text\"", b""] {
            assert!(
                matches!(
                    verify(&app("tok", None), &HeaderMap::new(), body),
                    Err(WebhookError::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn empty_configured_token_matches_nothing() {
        let body = br#"{"schema":"2.0","header":{"event_id":"e","event_type":"x","token":""}}"#;
        assert!(matches!(
            verify(&app("", None), &HeaderMap::new(), body),
            Err(WebhookError::InvalidToken)
        ));
    }

    #[test]
    fn signed_encrypted_go_vector_is_a_challenge_with_the_header_token() {
        // The GO SDK test body is a 2.0 envelope that is also typed
        // url_verification; like GO, the type decides and header.token counts.
        let encrypted = crypto::encrypt("1212121212", GO_BODY.as_bytes(), [3; 16]);
        let body = serde_json::to_vec(&crate::wire::Encrypted { encrypt: encrypted }).unwrap();
        let app = app("v", Some("1212121212"));
        let verified = verify(&app, &signed("1212121212", &body), &body).unwrap();
        assert_eq!(verified, Verified::Challenge("1212".into()));
    }

    #[test]
    fn signed_encrypted_event_keeps_the_decrypted_json() {
        let inner = br#"{"schema":"2.0","header":{"event_id":"e","event_type":"x","token":"tok"},"event":{}}"#;
        let body = serde_json::to_vec(&crate::wire::Encrypted {
            encrypt: crypto::encrypt("key", inner, [9; 16]),
        })
        .unwrap();
        let event = expect_event(verify(
            &app("tok", Some("key")),
            &signed("key", &body),
            &body,
        ));
        let expected = std::str::from_utf8(inner)
            .unwrap()
            .replace("\"tok\"", "\"**REDACTED**\"");
        assert_eq!(event.json(), expected);
    }

    #[test]
    fn a_wrong_or_incomplete_signature_is_rejected() {
        let body = br#"{"schema":"2.0","header":{"event_id":"e","event_type":"x","token":"tok"}}"#;
        let app = app("tok", Some("key"));
        let wrong = signed("other key", body);
        assert!(matches!(
            verify(&app, &wrong, body),
            Err(WebhookError::InvalidSignature)
        ));
        let mut no_nonce = signed("key", body);
        no_nonce.remove(HEADER_NONCE);
        assert!(matches!(
            verify(&app, &no_nonce, body),
            Err(WebhookError::InvalidSignature)
        ));
        let tampered =
            br#"{"schema":"2.0","header":{"event_id":"f","event_type":"x","token":"tok"}}"#;
        assert!(matches!(
            verify(&app, &signed("key", body), tampered),
            Err(WebhookError::InvalidSignature)
        ));
        let mut upper = signed("key", body);
        let sig = signature("1700000000", "abc123", "key", body).to_ascii_uppercase();
        upper.insert(HEADER_SIGNATURE, HeaderValue::from_str(&sig).unwrap());
        assert!(
            verify(&app, &upper, body).is_ok(),
            "hex case does not matter"
        );
    }

    #[test]
    fn with_a_key_only_a_challenge_may_be_unsigned() {
        let app = app("tok", Some("key"));
        let challenge = br#"{"challenge":"c-1","token":"tok","type":"url_verification"}"#;
        let sealed = serde_json::to_vec(&crate::wire::Encrypted {
            encrypt: crypto::encrypt("key", challenge, [1; 16]),
        })
        .unwrap();
        assert_eq!(
            verify(&app, &HeaderMap::new(), &sealed).unwrap(),
            Verified::Challenge("c-1".into())
        );

        let event = br#"{"schema":"2.0","header":{"event_id":"e","event_type":"x","token":"tok"}}"#;
        let sealed = serde_json::to_vec(&crate::wire::Encrypted {
            encrypt: crypto::encrypt("key", event, [1; 16]),
        })
        .unwrap();
        assert!(matches!(
            verify(&app, &HeaderMap::new(), &sealed),
            Err(WebhookError::MissingSignature)
        ));
        assert!(matches!(
            verify(&app, &HeaderMap::new(), event),
            Err(WebhookError::MissingSignature)
        ));
        // Garbage ciphertext gets the same answer as a valid unsigned event.
        assert!(matches!(
            verify(&app, &HeaderMap::new(), br#"{"encrypt":"AAAA"}"#),
            Err(WebhookError::MissingSignature)
        ));
    }

    #[test]
    fn encrypted_body_without_a_key_is_rejected() {
        let body = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), body),
            Err(WebhookError::NoEncryptKey)
        ));
    }

    #[test]
    fn signed_but_undecryptable_is_a_bad_request() {
        let app = app("tok", Some("test key"));
        let body = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        // "hello world" decrypts fine but is not JSON.
        assert!(matches!(
            verify(&app, &signed("test key", body), body),
            Err(WebhookError::Malformed(_))
        ));
        let truncated = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEz"}"#;
        assert!(matches!(
            verify(&app, &signed("test key", truncated), truncated),
            Err(WebhookError::Undecryptable(_))
        ));
    }

    #[test]
    fn challenge_token_is_checked() {
        let body = br#"{"challenge":"c","token":"nope","type":"url_verification"}"#;
        assert!(matches!(
            verify(&app("tok", None), &HeaderMap::new(), body),
            Err(WebhookError::InvalidToken)
        ));
    }

    #[test]
    fn debug_hides_the_json() {
        let body =
            br#"{"schema":"2.0","header":{"event_id":"e","event_type":"x","token":"s3cret"}}"#;
        let event = expect_event(verify(&app("s3cret", None), &HeaderMap::new(), body));
        assert!(!format!("{event:?}").contains("s3cret"));
    }

    #[test]
    fn a_long_connection_payload_needs_no_token_and_keeps_none() {
        // Whatever token the envelope carries, nothing is compared with it...
        let body = br#"{"schema":"2.0","header":{"event_id":"e1","event_type":"x.y","create_time":"1615381917559","token":"any-token","tenant_key":"t1"},"event":{"k":1}}"#;
        let event = verify_long_connection_payload("cli_conn", body).unwrap();
        assert_eq!(event.event_id(), "e1");
        assert_eq!(event.event_type(), "x.y");
        assert_eq!(event.tenant(), "t1");
        assert_eq!(
            event.app_id(),
            "cli_conn",
            "the connection's app when the envelope names none"
        );
        assert_eq!(event.create_time(), Some("1615381917559"));
        assert_eq!(event.event()["k"], 1);
        // ...and it is redacted all the same, the rest verbatim.
        let expected = std::str::from_utf8(body)
            .unwrap()
            .replace("\"any-token\"", "\"**REDACTED**\"");
        assert_eq!(event.json(), expected);

        // The same envelope by webhook: the same classification.
        let webhook = expect_event(verify(&app("any-token", None), &HeaderMap::new(), body));
        assert_eq!(webhook.envelope(), event.envelope());
        assert_eq!(webhook.json(), event.json());

        let no_token = br#"{"schema":"2.0","header":{"event_id":"e2","event_type":"x"}}"#;
        let event = verify_long_connection_payload("cli_conn", no_token).unwrap();
        assert_eq!(event.json(), std::str::from_utf8(no_token).unwrap());
    }

    #[test]
    fn a_v1_long_connection_payload_is_classified_like_a_webhook() {
        let body = br#"{"ts":"1502199207.7171419","uuid":"u-1","token":"tok","type":"event_callback","event":{"type":"remedy_approval","tenant_key":"t2"}}"#;
        let event = verify_long_connection_payload("cli_conn", body).unwrap();
        assert_eq!(event.event_id(), "u-1");
        assert_eq!(event.event_type(), "remedy_approval");
        assert_eq!(event.app_id(), "cli_conn");
        assert!(!event.json().contains("\"tok\""));
    }

    #[test]
    fn a_long_connection_payload_must_be_a_plain_identified_event() {
        let encrypted = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        assert!(matches!(
            verify_long_connection_payload("cli", encrypted),
            Err(WebhookError::NoEncryptKey)
        ));
        assert!(matches!(
            verify_long_connection_payload("cli", GO_BODY.as_bytes()),
            Err(WebhookError::Malformed(_))
        ));
        let no_id = br#"{"schema":"2.0","header":{"event_type":"x"}}"#;
        assert!(matches!(
            verify_long_connection_payload("cli", no_id),
            Err(WebhookError::MissingEventId)
        ));
        let no_type = br#"{"schema":"2.0","header":{"event_id":"e"}}"#;
        assert!(matches!(
            verify_long_connection_payload("cli", no_type),
            Err(WebhookError::MissingEventType)
        ));
        for body in [&b"{not json"[..], b"[1]", b""] {
            assert!(matches!(
                verify_long_connection_payload("cli", body),
                Err(WebhookError::Malformed(_))
            ));
        }
        assert!(matches!(
            verify_long_connection_payload("cli", br#"{"token":"t"}"#),
            Err(WebhookError::MissingEventId)
        ));
    }
}
