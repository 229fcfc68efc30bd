//! Stream frames from the server and the client's ACKs (protocol §1.3, §1.4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient::{json_text, nullable, opt_text, text};

/// `type` of a frame carrying a subscribed event.
pub const FRAME_EVENT: &str = "EVENT";
/// `type` of a connection-control frame (ping, disconnect, ...).
pub const FRAME_SYSTEM: &str = "SYSTEM";
/// `type` of a request that expects a response payload (bots, cards).
pub const FRAME_CALLBACK: &str = "CALLBACK";
/// SYSTEM topic of a ping whose `data` must be echoed.
pub const TOPIC_PING: &str = "ping";
/// SYSTEM topic announcing that the server is about to drop the connection.
pub const TOPIC_DISCONNECT: &str = "disconnect";
/// The only content type DingTalk sends today.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// One frame from the Stream server. `data` is JSON inside a string and is
/// parsed a second time by whoever knows what it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamFrame {
    #[serde(
        rename = "specVersion",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_version: Option<String>,
    /// `EVENT`, `SYSTEM` or `CALLBACK`.
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub headers: FrameHeaders,
    /// The body as a JSON text. A frame whose `data` is an object (as the
    /// doc samples print it) is kept as that object's JSON text.
    #[serde(default, deserialize_with = "json_text")]
    pub data: String,
    /// GO's `DataFrame` carries an optional top-level `time`; no doc does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// Frame headers: a string→string map with the names the SDKs know, plus
/// every other header kept as sent (PY keeps them as `extensions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameHeaders {
    #[serde(
        rename = "appId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_id: Option<String>,
    #[serde(
        rename = "connectionId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
    #[serde(
        rename = "contentType",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    #[serde(
        rename = "messageId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// Milliseconds since the epoch, as a string.
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub time: Option<String>,
    /// `"*"` or `"dingTalk"` on events, the command on SYSTEM frames. Never
    /// route events on it (protocol §1.3).
    #[serde(
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub topic: Option<String>,
    #[serde(
        rename = "eventType",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_type: Option<String>,
    #[serde(
        rename = "eventId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_id: Option<String>,
    #[serde(
        rename = "eventCorpId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_corp_id: Option<String>,
    /// Milliseconds since the epoch, as a string.
    #[serde(
        rename = "eventBornTime",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_born_time: Option<String>,
    #[serde(
        rename = "eventUnifiedAppId",
        default,
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_unified_app_id: Option<String>,
    /// Every header not named above, as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The client's answer to a frame: `{code, headers, message, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAck {
    /// 200 success, 404 topic not present, 500 internal error.
    pub code: u16,
    pub headers: AckHeaders,
    pub message: String,
    /// JSON inside a string, like a frame's `data`.
    pub data: String,
}

/// Both reply headers are required (protocol §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckHeaders {
    #[serde(rename = "contentType")]
    pub content_type: String,
    #[serde(rename = "messageId")]
    pub message_id: String,
}

/// The `data` of an EVENT ACK: `status` is `SUCCESS` (consumed) or `LATER`
/// (redeliver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAckStatus {
    pub status: String,
    pub message: String,
}
