//! DingTalk's side of an established Stream connection: JSON frames in
//! (events, pings, `disconnect`, callbacks) and out (acks, echoes), for the
//! kit's connection loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attendance_adapter_kit::connection::{Inbound, OpenError, Opened, Protocol, Silence, Timings};
use attendance_proto::ingest::Delivery;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::open::connect;
use super::StreamApp;
use crate::jobs::PullRouting;
use crate::stream_frame::{self, FrameKind, StreamEvent};
use crate::translate::translate_stream;
use crate::wire::{StreamAck, StreamFrame};

/// One app's Stream client as the kit's loop drives it.
pub(super) struct DingTalkStream {
    pub app: StreamApp,
    pub http: reqwest::Client,
    /// Sent at registration: found once, when the client starts.
    pub local_ip: String,
    pub pulls: Arc<PullRouting>,
}

fn as_message(ack: StreamAck) -> Message {
    Message::text(ack.to_json())
}

#[async_trait::async_trait]
impl Protocol for DingTalkStream {
    /// DingTalk's frames carry all a connection needs.
    type Link = ();
    type Event = StreamEvent;

    const KIND: &'static str = "dingtalk stream";
    const VENDOR: &'static str = "DingTalk";
    const KEEPALIVE_AT_ONCE: bool = false;
    // A half-open connection is replaced make-before-break, as after a
    // `disconnect`: a quiet but healthy one costs one reconnect.
    const SILENCE: Silence = Silence::Replace;

    fn app(&self) -> &str {
        &self.app.app.name
    }

    async fn open(&self) -> Result<Opened<()>, OpenError> {
        let socket = connect(&self.http, &self.app, &self.local_ip).await?;
        Ok(Opened {
            socket,
            link: (),
            peer: String::new(),
        })
    }

    fn retry_pause(&self, failures: u32) -> Result<Duration, String> {
        Ok(self.app.options.backoff.pause(failures))
    }

    fn timings(&self, _link: &()) -> Timings {
        Timings {
            keepalive: self.app.options.keepalive,
            read_deadline: self.app.options.watchdog,
        }
    }

    /// A WebSocket ping, to keep NATs and proxies from dropping an idle
    /// connection and to notice a dead socket on write.
    fn keepalive(&self, _link: &mut ()) -> Message {
        Message::Ping(Vec::new().into())
    }

    /// Only DingTalk's own frames: a zombie still answers WebSocket pings.
    fn hears(&self, message: &Message) -> bool {
        message.is_text()
    }

    fn on_frame(&self, _link: &mut (), connection: u64, message: Message) -> Inbound<StreamEvent> {
        let app = &self.app.app.name;
        let text = match message {
            Message::Text(text) => text,
            other => {
                // Every application frame is text; GO ignores the rest.
                tracing::debug!(app = %app, connection, len = other.len(), "a binary frame ignored");
                return Inbound::Nothing;
            }
        };
        let frame = match stream_frame::parse_frame(text.as_str()) {
            Ok(frame) => frame,
            Err(error) => {
                // Without a frame there is no messageId to answer.
                tracing::warn!(app = %app, connection, %error, outcome = "malformed", "a dingtalk stream frame was refused");
                return Inbound::Nothing;
            }
        };
        match stream_frame::classify(&frame) {
            FrameKind::Event(event) => Inbound::Event(*event),
            FrameKind::Ping => Inbound::Reply(as_message(stream_frame::ping_reply(&frame))),
            FrameKind::Disconnect { reason } => {
                let reason = format!(
                    "the server asked to disconnect ({})",
                    reason.as_deref().unwrap_or("no reason given")
                );
                tracing::info!(app = %app, connection, message_id = message_id(&frame), %reason, "dingtalk stream disconnect");
                // Acknowledged on this connection first: GO notes that
                // closing before the ack makes the server repeat the command.
                Inbound::ReplyAndReplace(as_message(stream_frame::system_ack(&frame)), reason)
            }
            FrameKind::OtherSystem { topic } => {
                // CONNECTED, REGISTERED, KEEPALIVE: no SDK answers them.
                tracing::debug!(app = %app, connection, %topic, "a system frame");
                Inbound::Nothing
            }
            FrameKind::Callback { topic } => {
                // Not subscribed, so not expected; answered so that the
                // server stops retrying (bot messages need no payload).
                tracing::warn!(app = %app, connection, %topic, message_id = message_id(&frame), outcome = "callback_ignored", "a dingtalk stream callback answered with an empty response");
                Inbound::Reply(as_message(stream_frame::callback_reply(
                    message_id(&frame),
                    &Value::Null,
                )))
            }
            FrameKind::Unknown { kind } => {
                tracing::warn!(app = %app, connection, %kind, outcome = "unknown_frame", "a dingtalk stream frame of an unknown type ignored");
                Inbound::Nothing
            }
        }
    }

    fn message_id<'e>(&self, event: &'e StreamEvent) -> &'e str {
        event.message_id()
    }

    /// The event's delivery, with the pulls it calls for committed with it.
    fn delivery(&self, event: &StreamEvent) -> Delivery {
        let mut delivery = translate_stream(event, &self.app.app, SystemTime::now().into());
        self.pulls.attach(&mut delivery);
        delivery
    }

    /// `SUCCESS` only after the sink committed the event, `LATER` when it
    /// did not, so that DingTalk redelivers.
    fn acknowledge(&self, event: &StreamEvent, durable: bool) -> Message {
        let message_id = event.message_id();
        as_message(if durable {
            stream_frame::success_ack(message_id)
        } else {
            stream_frame::later_ack(message_id, "not stored; deliver again later")
        })
    }
}

fn message_id(frame: &StreamFrame) -> &str {
    frame.headers.message_id.as_deref().unwrap_or_default()
}
