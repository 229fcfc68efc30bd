//! Feishu's side of an established long connection: pbbp2 frames in
//! (pongs that may change the timings, events split into fragments) and out
//! (pings, acks echoing the event's frame), for the kit's connection loop.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use attendance_adapter_kit::connection::{
    jitter_below, Inbound, OpenError, Opened, Protocol, Silence, Timings,
};
use attendance_proto::ingest::Delivery;
use attendance_proto::v1::Channel;
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

use super::discovery::{dial, discover, parse_endpoint_url};
use super::{ClientConfig, ConfigUpdate, LongConnectionApp};
use crate::frame::{self, header, kind, Frame, Reassembler, METHOD_CONTROL, METHOD_DATA};
use crate::translate::{translate, Recipient};
use crate::verify::{verify_long_connection_payload, VerifiedEvent};

/// Fragments of a split message wait this long after the last one arrived
/// (Go and Python 5 s, Node 10 s, Java 5 min); Feishu redelivers what was
/// never acknowledged, so dropping a stale half is safe.
const FRAGMENT_TTL: Duration = Duration::from_secs(10);

/// One app's long connection as the kit's loop drives it. The client
/// configuration is shared by all its connections: discovery and pongs
/// change it, reconnects and pings follow it.
pub(super) struct FeishuLongConnection {
    pub app: LongConnectionApp,
    pub http: reqwest::Client,
    pub config: Mutex<ClientConfig>,
}

/// One connection's state.
pub(super) struct Link {
    /// Sent in every frame.
    service_id: i32,
    fragments: Reassembler,
}

/// A whole, verified event and the frame that carried it (its ack echoes
/// the frame).
pub(super) struct Event {
    frame: Frame,
    message_id: String,
    verified: VerifiedEvent,
    received: std::time::Instant,
}

impl FeishuLongConnection {
    fn config(&self) -> ClientConfig {
        *self
            .config
            .lock()
            .expect("never poisoned: no panic while held")
    }

    fn update_config(&self, update: &ConfigUpdate) -> ClientConfig {
        let mut config = self
            .config
            .lock()
            .expect("never poisoned: no panic while held");
        config.apply(update);
        *config
    }
}

#[async_trait::async_trait]
impl Protocol for FeishuLongConnection {
    type Link = Link;
    type Event = Event;

    const KIND: &'static str = "feishu long connection";
    const VENDOR: &'static str = "Feishu";
    // The first ping goes out at once (as in every SDK).
    const KEEPALIVE_AT_ONCE: bool = true;
    // The Go, Python and Java SDKs never notice a half-open connection; with
    // no make-before-break in Feishu's protocol, it is torn down.
    const SILENCE: Silence = Silence::Drop;

    fn app(&self) -> &str {
        &self.app.name
    }

    /// One attempt: discovery, then the WebSocket handshake.
    async fn open(&self) -> Result<Opened<Link>, OpenError> {
        let endpoint = discover(&self.http, &self.app).await?;
        // An answer whose endpoint is unusable changes nothing, its settings
        // included.
        let (service_id, device_id) = parse_endpoint_url(&endpoint.url)?;
        if let Some(update) = &endpoint.config {
            self.update_config(update);
        }
        let socket = dial(&endpoint.url).await?;
        Ok(Opened {
            socket,
            link: Link {
                service_id,
                fragments: Reassembler::new(FRAGMENT_TTL),
            },
            peer: format!("device {device_id}, service {service_id}"),
        })
    }

    /// The Go SDK's schedule: a random pause below `ReconnectNonce` after
    /// the first failure (or the loss), then `ReconnectInterval` between
    /// attempts, `ReconnectCount` reconnect attempts (forever when negative).
    fn retry_pause(&self, failures: u32) -> Result<Duration, String> {
        let config = self.config();
        let attempts = i64::from(failures.saturating_sub(1));
        if config.reconnect_count >= 0 && attempts >= config.reconnect_count.max(1) {
            return Err(format!(
                "no connection after {attempts} reconnect attempts (ReconnectCount {})",
                config.reconnect_count
            ));
        }
        Ok(if failures <= 1 {
            jitter_below(config.reconnect_nonce)
        } else {
            config.reconnect_interval
        })
    }

    fn timings(&self, _link: &Link) -> Timings {
        let config = self.config();
        Timings {
            keepalive: config.ping_interval,
            read_deadline: config.read_deadline(),
        }
    }

    fn keepalive(&self, link: &mut Link) -> Message {
        let dropped = link.fragments.expire(std::time::Instant::now());
        if dropped > 0 {
            tracing::warn!(app = %self.app.name, dropped, outcome = "fragments_expired", "incomplete split messages dropped; Feishu will redeliver them");
        }
        Message::binary(frame::ping(link.service_id).encode_to_vec())
    }

    /// Anything at all: pongs come back as frames, so a silent connection
    /// is one that stopped answering pings.
    fn hears(&self, _message: &Message) -> bool {
        true
    }

    fn on_frame(&self, link: &mut Link, _connection: u64, message: Message) -> Inbound<Event> {
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            other => {
                tracing::warn!(app = %self.app.name, len = other.len(), "a text message on the long connection ignored");
                return Inbound::Nothing;
            }
        };
        let mut frame = match Frame::decode(bytes.as_ref()) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(app = %self.app.name, %error, outcome = "undecodable", "a long-connection frame is not pbbp2");
                return Inbound::Nothing;
            }
        };
        let (message_id, sum, seq) = match received(&frame) {
            Received::Pong(None) => return Inbound::Nothing,
            Received::Pong(Some(Ok(update))) => {
                let config = self.update_config(&update);
                tracing::debug!(app = %self.app.name, ?config, "client configuration updated by a pong");
                return Inbound::Nothing;
            }
            Received::Pong(Some(Err(error))) => {
                tracing::warn!(app = %self.app.name, %error, "a pong's configuration is not JSON; ignored");
                return Inbound::Nothing;
            }
            Received::Ignored(what) => {
                tracing::debug!(
                    app = %self.app.name,
                    message_id = frame::header(&frame, header::MESSAGE_ID).unwrap_or_default(),
                    what,
                    outcome = "ignored",
                    "a long-connection frame ignored"
                );
                return Inbound::Nothing;
            }
            Received::Event {
                message_id,
                sum,
                seq,
            } => (message_id, sum, seq),
        };
        let received = std::time::Instant::now();
        let payload = frame.payload.take().unwrap_or_default();
        let payload = match link
            .fragments
            .push(&message_id, sum, seq, payload, received)
        {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                tracing::debug!(app = %self.app.name, %message_id, seq, sum, "fragment kept until the message is whole");
                return Inbound::Nothing;
            }
            Err(error) => {
                tracing::warn!(app = %self.app.name, %message_id, %error, outcome = "bad_fragment", "a fragment was refused");
                return Inbound::Nothing;
            }
        };
        match verify_long_connection_payload(&self.app.app_id, &payload) {
            Err(error) => {
                tracing::warn!(
                    app = %self.app.name,
                    %message_id,
                    outcome = "rejected",
                    code = error.code(),
                    %error,
                    "feishu long-connection payload refused"
                );
                Inbound::Reply(ack(&frame, 500, received))
            }
            Ok(verified) => Inbound::Event(Event {
                frame,
                message_id,
                verified,
                received,
            }),
        }
    }

    fn message_id<'e>(&self, event: &'e Event) -> &'e str {
        &event.message_id
    }

    fn delivery(&self, event: &Event) -> Delivery {
        translate(
            &event.verified,
            Recipient {
                app: &self.app.name,
                zone: self.app.time_zone,
                pulls: self.app.pulls,
            },
            Channel::LongConnection,
            SystemTime::now().into(),
        )
    }

    /// `{"code":200}` only after the sink committed the event, `{"code":500}`
    /// when it did not, so that Feishu redelivers.
    fn acknowledge(&self, event: &Event, durable: bool) -> Message {
        // 500 makes Feishu deliver the event again.
        let code = if durable { 200 } else { 500 };
        ack(&event.frame, code, event.received)
    }
}

/// The ack of `frame`, timed from when its event was whole.
fn ack(frame: &Frame, code: u16, received: std::time::Instant) -> Message {
    Message::binary(frame::ack(frame, code, received.elapsed()).encode_to_vec())
}

/// What an inbound frame asks of the client.
#[derive(Debug)]
enum Received {
    /// A pong, perhaps with a new configuration.
    Pong(Option<Result<ConfigUpdate, String>>),
    /// An event, or one fragment of it.
    Event {
        message_id: String,
        sum: usize,
        seq: usize,
    },
    /// Nothing to do (and no ack to send): a ping from the server (Python and
    /// Node ignore it too), a card callback (Go and Python return without an
    /// ack), a data frame of any other type, an unknown method.
    Ignored(&'static str),
}

fn received(frame: &Frame) -> Received {
    let kind = frame::frame_type(frame);
    match frame.method() {
        METHOD_CONTROL if kind == Some(kind::PONG) => Received::Pong(
            frame
                .payload
                .as_deref()
                .filter(|payload| !payload.is_empty())
                .map(|payload| serde_json::from_slice(payload).map_err(|e| e.to_string())),
        ),
        METHOD_CONTROL => Received::Ignored("a control frame other than a pong"),
        METHOD_DATA if kind == Some(kind::EVENT) => {
            // Go reads a missing or unreadable number as 0: not split.
            let count = |key| {
                frame::header_int(frame, key)
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                    .unwrap_or(0)
            };
            Received::Event {
                message_id: frame::header(frame, header::MESSAGE_ID)
                    .unwrap_or_default()
                    .to_owned(),
                sum: count(header::SUM),
                seq: count(header::SEQ),
            }
        }
        METHOD_DATA if kind == Some(kind::CARD) => Received::Ignored("a card callback"),
        METHOD_DATA => Received::Ignored("a data frame that is no event"),
        _ => Received::Ignored("a frame of an unknown method"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with(method: i32, headers: &[(&str, &str)], payload: Option<&[u8]>) -> Frame {
        Frame {
            method: Some(method),
            headers: headers
                .iter()
                .map(|(key, value)| frame::Header {
                    key: Some((*key).to_owned()),
                    value: Some((*value).to_owned()),
                })
                .collect(),
            payload: payload.map(<[u8]>::to_vec),
            ..Frame::default()
        }
    }

    #[test]
    fn inbound_frames_are_sorted_by_method_and_type() {
        let event = frame_with(
            METHOD_DATA,
            &[
                ("type", "event"),
                ("message_id", "m"),
                ("sum", "3"),
                ("seq", "2"),
            ],
            Some(b"{}"),
        );
        assert!(matches!(
            received(&event),
            Received::Event { message_id, sum: 3, seq: 2 } if message_id == "m"
        ));
        let unsplit = frame_with(METHOD_DATA, &[("type", "event")], Some(b"{}"));
        assert!(matches!(
            received(&unsplit),
            Received::Event { sum: 0, seq: 0, .. }
        ));
        let negative = frame_with(METHOD_DATA, &[("type", "event"), ("seq", "-1")], None);
        assert!(matches!(
            received(&negative),
            Received::Event {
                seq: usize::MAX,
                ..
            }
        ));

        for ignored in [
            frame_with(
                METHOD_DATA,
                &[("type", "card"), ("message_id", "c")],
                Some(b"{}"),
            ),
            frame_with(METHOD_DATA, &[("type", "something_new")], Some(b"{}")),
            frame_with(METHOD_DATA, &[], Some(b"{}")),
            frame_with(METHOD_CONTROL, &[("type", "ping")], None),
            frame_with(7, &[("type", "event")], Some(b"{}")),
        ] {
            assert!(
                matches!(received(&ignored), Received::Ignored(_)),
                "{ignored:?}"
            );
        }

        let bare = frame::pong(1, None);
        assert!(matches!(received(&bare), Received::Pong(None)));
        let configured = frame::pong(1, Some(br#"{"PingInterval":7}"#.to_vec()));
        assert!(matches!(
            received(&configured),
            Received::Pong(Some(Ok(ConfigUpdate {
                ping_interval: Some(7),
                ..
            })))
        ));
        let garbled = frame::pong(1, Some(b"not json".to_vec()));
        assert!(matches!(received(&garbled), Received::Pong(Some(Err(_)))));
    }
}
