//! Pure Stream-protocol helpers for the Stream client (protocol §1.3–§1.4):
//! parse a frame, say what kind it is, and build each reply it needs.
//!
//! No socket and no clock here. The client loop reads a text frame, calls
//! [`parse_frame`] and [`classify`], and for an EVENT commits the translated
//! delivery *before* sending [`success_ack`]; on a failed commit it sends
//! [`later_ack`] so that DingTalk redelivers.

use serde_json::Value;

use crate::error::FrameError;
use crate::wire::{
    AckHeaders, EventAckStatus, FrameHeaders, StreamAck, StreamFrame, CONTENT_TYPE_JSON,
    FRAME_CALLBACK, FRAME_EVENT, FRAME_SYSTEM, TOPIC_DISCONNECT, TOPIC_PING,
};

/// The `message` of the replies built here: what the GO SDK sends, the form
/// the protocol notes recommend.
const ACK_MESSAGE: &str = "ok";

/// Parses one WebSocket text frame.
pub fn parse_frame(text: &str) -> Result<StreamFrame, FrameError> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| FrameError::Malformed(error.to_string()))?;
    if !value.is_object() {
        return Err(FrameError::Malformed(format!(
            "a frame is an object, not {}",
            crate::wire::kind_of(&value)
        )));
    }
    let frame: StreamFrame =
        serde_json::from_value(value).map_err(|error| FrameError::Malformed(error.to_string()))?;
    if frame.kind.is_empty() {
        return Err(FrameError::MissingType);
    }
    Ok(frame)
}

/// What a frame is, and so what it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameKind {
    /// A subscribed event: translate, commit, then [`success_ack`] (or
    /// [`later_ack`] when the commit failed). Route on `eventType`, which
    /// [`StreamEvent`] exposes; the `topic` header is unreliable. Boxed so
    /// that the small control variants stay small.
    Event(Box<StreamEvent>),
    /// SYSTEM `ping`: answer with [`ping_reply`].
    Ping,
    /// SYSTEM `disconnect`: the server drops the connection about 10 s after
    /// this. Send [`system_ack`], open the next connection, then close this one.
    Disconnect { reason: Option<String> },
    /// Another SYSTEM topic (`CONNECTED`, `REGISTERED`, `KEEPALIVE` are seen);
    /// no SDK replies to them.
    OtherSystem { topic: String },
    /// A CALLBACK (bot message, card): answer with [`callback_reply`] or, when
    /// the client does not serve the topic, [`unhandled_ack`].
    Callback { topic: String },
    /// A frame type this protocol version does not have; log it, send nothing.
    Unknown { kind: String },
}

/// Classifies a parsed frame.
pub fn classify(frame: &StreamFrame) -> FrameKind {
    let topic = frame.headers.topic.clone().unwrap_or_default();
    match frame.kind.as_str() {
        FRAME_EVENT => match StreamEvent::from_frame(frame) {
            Ok(event) => FrameKind::Event(Box::new(event)),
            // from_frame only refuses non-EVENT frames.
            Err(_) => FrameKind::Unknown {
                kind: frame.kind.clone(),
            },
        },
        FRAME_SYSTEM if topic == TOPIC_PING => FrameKind::Ping,
        FRAME_SYSTEM if topic == TOPIC_DISCONNECT => FrameKind::Disconnect {
            reason: serde_json::from_str::<Value>(&frame.data)
                .ok()
                .and_then(|data| data.get("reason")?.as_str().map(str::to_owned)),
        },
        FRAME_SYSTEM => FrameKind::OtherSystem { topic },
        FRAME_CALLBACK => FrameKind::Callback { topic },
        other => FrameKind::Unknown {
            kind: other.to_owned(),
        },
    }
}

/// An EVENT frame, ready for [`crate::translate::translate_stream`]. Stream
/// frames are authenticated by the connection (its ticket came from the app's
/// client secret), not signed, so any EVENT frame may become one.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    headers: FrameHeaders,
    data: String,
    event_id: String,
}

impl StreamEvent {
    /// Takes an EVENT frame. Nothing else is required: an event without an
    /// `eventType` is still stored (as unknown) rather than dropped. Crate-
    /// private: outside the crate, a frame becomes an event through
    /// [`classify`], the one path the Stream client takes.
    pub(crate) fn from_frame(frame: &StreamFrame) -> Result<Self, FrameError> {
        if frame.kind != FRAME_EVENT {
            return Err(FrameError::NotAnEvent(frame.kind.clone()));
        }
        // Real attendance data also carries `eventId` inside `data`; it is the
        // fallback when a header is missing.
        let event_id = frame
            .headers
            .event_id
            .clone()
            .filter(|id| !id.is_empty())
            .or_else(|| {
                serde_json::from_str::<Value>(&frame.data)
                    .ok()?
                    .get("eventId")?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Ok(StreamEvent {
            headers: frame.headers.clone(),
            data: frame.data.clone(),
            event_id,
        })
    }

    pub fn headers(&self) -> &FrameHeaders {
        &self.headers
    }

    /// The frame's `messageId`, which every reply must echo.
    pub fn message_id(&self) -> &str {
        self.headers.message_id.as_deref().unwrap_or_default()
    }

    /// `eventType`; empty when the header is missing.
    pub fn event_type(&self) -> &str {
        self.headers.event_type.as_deref().unwrap_or_default()
    }

    /// `eventId`, else the `eventId` inside `data`, else empty.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// `eventCorpId`, when present.
    pub fn corp_id(&self) -> Option<&str> {
        self.headers
            .event_corp_id
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    /// `eventBornTime` in milliseconds, when it is an integer.
    pub fn born_time(&self) -> Option<i64> {
        crate::wire::parse_i64(self.headers.event_born_time.as_deref()?)
    }

    /// The event body, a JSON text exactly as sent.
    pub fn data(&self) -> &str {
        &self.data
    }
}

fn ack(code: u16, message_id: &str, message: &str, data: String) -> StreamAck {
    StreamAck {
        code,
        headers: AckHeaders {
            content_type: CONTENT_TYPE_JSON.to_owned(),
            message_id: message_id.to_owned(),
        },
        message: message.to_owned(),
        data,
    }
}

fn event_status(status: &str, message: &str) -> String {
    serde_json::to_string(&EventAckStatus {
        status: status.to_owned(),
        message: message.to_owned(),
    })
    .expect("two strings always serialize")
}

/// The EVENT was committed: `{"status":"SUCCESS","message":"success"}`.
pub fn success_ack(message_id: &str) -> StreamAck {
    ack(
        200,
        message_id,
        ACK_MESSAGE,
        event_status("SUCCESS", "success"),
    )
}

/// The EVENT could not be committed; DingTalk should redeliver. Code 200 with
/// `LATER` is the documented form (GO sends code 500; both are accepted).
pub fn later_ack(message_id: &str, reason: &str) -> StreamAck {
    ack(200, message_id, ACK_MESSAGE, event_status("LATER", reason))
}

/// The answer to a SYSTEM `ping`: its `data` (the opaque) echoed verbatim.
pub fn ping_reply(frame: &StreamFrame) -> StreamAck {
    ack(
        200,
        frame.headers.message_id.as_deref().unwrap_or_default(),
        ACK_MESSAGE,
        frame.data.clone(),
    )
}

/// A bare acknowledgement, for SYSTEM `disconnect`: GO acknowledges before
/// closing because closing first makes the server retry the command.
pub fn system_ack(frame: &StreamFrame) -> StreamAck {
    ack(
        200,
        frame.headers.message_id.as_deref().unwrap_or_default(),
        ACK_MESSAGE,
        String::new(),
    )
}

/// The answer to a CALLBACK frame: `data = {"response": <payload>}`;
/// `Value::Null` is enough for bot messages.
pub fn callback_reply(message_id: &str, response: &Value) -> StreamAck {
    ack(
        200,
        message_id,
        ACK_MESSAGE,
        serde_json::json!({ "response": response }).to_string(),
    )
}

/// Code 404, "topic not present": the diagnostic answer for a CALLBACK topic
/// this client does not serve.
pub fn unhandled_ack(message_id: &str) -> StreamAck {
    ack(404, message_id, "topic not present", String::new())
}

impl StreamAck {
    /// The text frame to send.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an ack always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PING: &str = r#"{"type":"SYSTEM","headers":{"topic":"ping","messageId":"213d841d_972_1898bb26334_70a7","contentType":"application/json"},"data":"{\"opaque\" : \"123-dsfs\"}"}"#;
    const DISCONNECT: &str = r#"{"specVersion":"1.0","type":"SYSTEM","headers":{"contentType":"application/json","messageId":"c0a815dd1698551133918195d43","time":"1698551133918","topic":"disconnect"},"data":"{\"reason\":\"persistent connection is timeout\"}"}"#;

    fn as_json(ack: &StreamAck) -> Value {
        serde_json::from_str(&ack.to_json()).unwrap()
    }

    #[test]
    fn a_ping_is_answered_with_its_opaque_echoed() {
        let frame = parse_frame(PING).unwrap();
        assert_eq!(classify(&frame), FrameKind::Ping);
        assert_eq!(
            as_json(&ping_reply(&frame)),
            json!({
                "code": 200,
                "headers": {"contentType": "application/json",
                            "messageId": "213d841d_972_1898bb26334_70a7"},
                "message": "ok",
                "data": "{\"opaque\" : \"123-dsfs\"}"
            })
        );
    }

    #[test]
    fn a_disconnect_is_classified_with_its_reason_and_acknowledged() {
        let frame = parse_frame(DISCONNECT).unwrap();
        assert_eq!(
            classify(&frame),
            FrameKind::Disconnect {
                reason: Some("persistent connection is timeout".into())
            }
        );
        let ack = system_ack(&frame);
        assert_eq!(ack.code, 200);
        assert_eq!(ack.headers.message_id, "c0a815dd1698551133918195d43");
        assert_eq!(ack.data, "");
    }

    #[test]
    fn other_frames_are_classified_by_type_and_topic() {
        let keepalive = parse_frame(
            r#"{"type":"SYSTEM","headers":{"topic":"KEEPALIVE","messageId":"k"},"data":""}"#,
        )
        .unwrap();
        assert_eq!(
            classify(&keepalive),
            FrameKind::OtherSystem {
                topic: "KEEPALIVE".into()
            }
        );
        let bot = parse_frame(
            r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get","messageId":"b"},"data":"{}"}"#,
        )
        .unwrap();
        assert_eq!(
            classify(&bot),
            FrameKind::Callback {
                topic: "/v1.0/im/bot/messages/get".into()
            }
        );
        let future = parse_frame(r#"{"type":"BINARY","headers":{},"data":""}"#).unwrap();
        assert_eq!(
            classify(&future),
            FrameKind::Unknown {
                kind: "BINARY".into()
            }
        );
    }

    #[test]
    fn frames_that_are_not_frames_are_refused() {
        assert!(matches!(parse_frame("{"), Err(FrameError::Malformed(_))));
        assert!(matches!(parse_frame("[]"), Err(FrameError::Malformed(_))));
        assert!(matches!(
            parse_frame(r#"{"type":"EVENT","headers":[]}"#),
            Err(FrameError::Malformed(_))
        ));
        assert_eq!(
            parse_frame(r#"{"headers":{},"data":""}"#),
            Err(FrameError::MissingType)
        );
    }

    #[test]
    fn event_acks_have_the_documented_shapes() {
        assert_eq!(
            as_json(&success_ack("m-1")),
            json!({
                "code": 200,
                "headers": {"contentType": "application/json", "messageId": "m-1"},
                "message": "ok",
                "data": "{\"status\":\"SUCCESS\",\"message\":\"success\"}"
            })
        );
        let later = later_ack("m-2", "store unavailable");
        assert_eq!(later.code, 200);
        assert_eq!(later.headers.message_id, "m-2");
        assert_eq!(
            serde_json::from_str::<Value>(&later.data).unwrap(),
            json!({"status": "LATER", "message": "store unavailable"})
        );
    }

    #[test]
    fn callback_replies_wrap_the_response() {
        let ack = callback_reply("c-1", &Value::Null);
        assert_eq!(ack.data, r#"{"response":null}"#);
        let ack = callback_reply("c-2", &json!({"text": "hi"}));
        assert_eq!(
            serde_json::from_str::<Value>(&ack.data).unwrap(),
            json!({"response": {"text": "hi"}})
        );
        let missing = unhandled_ack("c-3");
        assert_eq!(missing.code, 404);
        assert_eq!(missing.headers.message_id, "c-3");
    }

    #[test]
    fn only_event_frames_become_stream_events() {
        let frame = parse_frame(PING).unwrap();
        assert_eq!(
            StreamEvent::from_frame(&frame),
            Err(FrameError::NotAnEvent("SYSTEM".into()))
        );
    }

    #[test]
    fn the_event_id_falls_back_to_the_one_inside_data() {
        let frame = parse_frame(
            r#"{"type":"EVENT","headers":{"eventType":"attendance_check_record","messageId":"m"},"data":"{\"eventId\":\"inner\",\"dataList\":[]}"}"#,
        )
        .unwrap();
        let FrameKind::Event(event) = classify(&frame) else {
            panic!("not an event")
        };
        assert_eq!(event.event_id(), "inner");
        assert_eq!(event.corp_id(), None);
        assert_eq!(event.born_time(), None);
        assert_eq!(event.message_id(), "m");
    }
}
