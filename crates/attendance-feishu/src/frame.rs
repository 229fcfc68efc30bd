//! The long connection's unit of exchange: the pbbp2 [`Frame`] (generated from
//! `proto/pbbp2.proto`), builders for what a client sends (ping, ack), header
//! helpers, and the reassembly of events that Feishu splits over several
//! frames. Pure: no I/O, and the clock is a parameter.
//!
//! Protocol notes §2.2–2.4; the Go SDK's `ws/client.go` is the reference for
//! the wire behaviour.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Types generated from `proto/pbbp2.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/pbbp2.rs"));
}

pub use pb::{Frame, Header};

/// `Frame.method` of control frames (ping, pong).
pub const METHOD_CONTROL: i32 = 0;
/// `Frame.method` of data frames (events, cards).
pub const METHOD_DATA: i32 = 1;

/// Header keys (Go SDK `ws/const.go`).
pub mod header {
    /// `event` / `card` / `ping` / `pong`.
    pub const TYPE: &str = "type";
    /// Shared by every fragment of one split message.
    pub const MESSAGE_ID: &str = "message_id";
    /// Number of fragments; 1 (or absent) when the message is not split.
    pub const SUM: &str = "sum";
    /// Index of this fragment; 0 when the message is not split.
    pub const SEQ: &str = "seq";
    pub const TRACE_ID: &str = "trace_id";
    /// Milliseconds.
    pub const TIMESTAMP: &str = "timestamp";
    pub const INSTANCE_ID: &str = "instance_id";
    /// Handling time in milliseconds, added by the client to its ack.
    pub const BIZ_RT: &str = "biz_rt";
}

/// Values of the `type` header.
pub mod kind {
    pub const EVENT: &str = "event";
    pub const CARD: &str = "card";
    pub const PING: &str = "ping";
    pub const PONG: &str = "pong";
}

/// The value of the first header named `key`.
pub fn header<'a>(frame: &'a Frame, key: &str) -> Option<&'a str> {
    frame
        .headers
        .iter()
        .find(|h| h.key() == key)
        .map(|h| h.value())
}

/// The first header named `key`, parsed as an integer; `None` when absent or
/// not a number.
pub fn header_int(frame: &Frame, key: &str) -> Option<i64> {
    header(frame, key).and_then(|value| value.trim().parse().ok())
}

/// The `type` header.
pub fn frame_type(frame: &Frame) -> Option<&str> {
    header(frame, header::TYPE)
}

fn new_header(key: &str, value: &str) -> Header {
    Header {
        key: Some(key.to_owned()),
        value: Some(value.to_owned()),
    }
}

/// A control frame of the given `type` with the connection's service id.
fn control(service: i32, kind: &str, payload: Option<Vec<u8>>) -> Frame {
    Frame {
        seq_id: Some(0),
        log_id: Some(0),
        service: Some(service),
        method: Some(METHOD_CONTROL),
        headers: vec![new_header(header::TYPE, kind)],
        payload,
        ..Frame::default()
    }
}

/// The client's ping: `SeqID=0, LogID=0, service=<service_id>, method=0`,
/// one header `type=ping`, no payload. Encoded, it is the Go SDK's ping
/// without the three empty strings gogo writes at the end (the Python and
/// Node SDKs' bytes exactly).
pub fn ping(service: i32) -> Frame {
    control(service, kind::PING, None)
}

/// A server's pong, optionally carrying a new client configuration (JSON with
/// `PingInterval`, `ReconnectCount`, `ReconnectInterval`, `ReconnectNonce`).
/// Clients never send one; fakes of the server do.
pub fn pong(service: i32, config_json: Option<Vec<u8>>) -> Frame {
    control(service, kind::PONG, config_json)
}

/// The payload of an ack: `{"code":200}` or `{"code":500}`, as the Java SDK
/// and the Python SDK write it (the Go SDK adds `"headers":null,"data":null`).
pub fn ack_payload(code: u16) -> Vec<u8> {
    format!("{{\"code\":{code}}}").into_bytes()
}

/// The ack of a data frame: the same frame echoed (SeqID, LogID, service,
/// method and every header unchanged), with a `biz_rt` header appended and
/// the payload replaced by `{"code":<code>}`.
pub fn ack(frame: &Frame, code: u16, biz_rt: Duration) -> Frame {
    let mut ack = frame.clone();
    ack.headers
        .push(new_header(header::BIZ_RT, &biz_rt.as_millis().to_string()));
    ack.payload = Some(ack_payload(code));
    ack
}

/// The largest `sum` accepted: a corrupt header must not allocate without bound.
pub const MAX_FRAGMENTS: usize = 4096;

/// The most bytes held for unfinished messages of one connection: a peer
/// that sends fragments and never finishes must not grow memory without
/// bound (an event is a few KiB; Feishu splits at about 1 MB).
pub const MAX_PENDING_BYTES: usize = 16 << 20;

/// Why a fragment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("fragment {seq} of a message announced as {sum} fragments")]
    OutOfRange { seq: usize, sum: usize },
    #[error("a message split into {0} fragments is more than {MAX_FRAGMENTS}")]
    TooMany(usize),
    #[error("a split message has no message_id")]
    NoMessageId,
    #[error("unfinished split messages would hold more than {MAX_PENDING_BYTES} bytes")]
    TooLarge,
}

/// Reassembles split messages: fragments are kept by `message_id` in a slot
/// per `seq` until all `sum` slots are filled, then concatenated in `seq`
/// order. A message whose last fragment arrived more than `ttl` ago is
/// dropped (Feishu redelivers what was never acknowledged).
#[derive(Debug)]
pub struct Reassembler {
    ttl: Duration,
    partial: HashMap<String, Partial>,
    /// Bytes of every fragment held, across messages.
    held: usize,
}

#[derive(Debug)]
struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    filled: usize,
    bytes: usize,
    touched: Instant,
}

impl Partial {
    fn new(sum: usize, now: Instant) -> Partial {
        Partial {
            parts: vec![None; sum],
            filled: 0,
            bytes: 0,
            touched: now,
        }
    }
}

impl Reassembler {
    pub fn new(ttl: Duration) -> Reassembler {
        Reassembler {
            ttl,
            partial: HashMap::new(),
            held: 0,
        }
    }

    /// Adds one fragment received at `now`. Returns the whole payload when
    /// this fragment completed its message, `None` while fragments are
    /// missing. A message that is not split (`sum` ≤ 1) comes back at once.
    ///
    /// A repeated fragment replaces the earlier copy and completes nothing by
    /// itself; a message that arrives with a different `sum` than before
    /// starts over, as does one whose fragments expired.
    pub fn push(
        &mut self,
        message_id: &str,
        sum: usize,
        seq: usize,
        payload: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        if sum <= 1 {
            if seq > 0 {
                return Err(FragmentError::OutOfRange { seq, sum });
            }
            return Ok(Some(payload));
        }
        if sum > MAX_FRAGMENTS {
            return Err(FragmentError::TooMany(sum));
        }
        if seq >= sum {
            return Err(FragmentError::OutOfRange { seq, sum });
        }
        if message_id.is_empty() {
            return Err(FragmentError::NoMessageId);
        }
        let ttl = self.ttl;
        let partial = self
            .partial
            .entry(message_id.to_owned())
            .or_insert_with(|| Partial::new(sum, now));
        if partial.parts.len() != sum || now.saturating_duration_since(partial.touched) > ttl {
            self.held -= partial.bytes;
            *partial = Partial::new(sum, now);
        }
        partial.touched = now;
        let replaced = partial.parts[seq].as_ref().map_or(0, Vec::len);
        if self.held - replaced + payload.len() > MAX_PENDING_BYTES {
            // The message cannot finish within the bound: it is dropped
            // whole (unacknowledged, so Feishu sends it again).
            self.held -= partial.bytes;
            self.partial.remove(message_id);
            return Err(FragmentError::TooLarge);
        }
        self.held = self.held - replaced + payload.len();
        partial.bytes = partial.bytes - replaced + payload.len();
        let slot = &mut partial.parts[seq];
        if slot.is_none() {
            partial.filled += 1;
        }
        *slot = Some(payload);
        if partial.filled < sum {
            return Ok(None);
        }
        let partial = self.partial.remove(message_id).expect("present");
        self.held -= partial.bytes;
        Ok(Some(
            partial.parts.into_iter().flatten().flatten().collect(),
        ))
    }

    /// Drops every message whose last fragment is older than the TTL, and
    /// returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let ttl = self.ttl;
        let before = self.partial.len();
        let mut released = 0;
        self.partial.retain(|_, partial| {
            let keep = now.saturating_duration_since(partial.touched) <= ttl;
            if !keep {
                released += partial.bytes;
            }
            keep
        });
        self.held -= released;
        before - self.partial.len()
    }

    /// How many messages are waiting for fragments.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Protocol notes §6(d): the Go SDK's ping for service 1, hand-encoded.
    fn go_ping() -> Vec<u8> {
        vec![
            0x08, 0x00, 0x10, 0x00, 0x18, 0x01, 0x20, 0x00, 0x2a, 0x0c, 0x0a, 0x04, 0x74, 0x79,
            0x70, 0x65, 0x12, 0x04, 0x70, 0x69, 0x6e, 0x67, 0x32, 0x00, 0x3a, 0x00, 0x4a, 0x00,
        ]
    }

    #[test]
    fn the_go_ping_vector_decodes() {
        let frame = Frame::decode(go_ping().as_slice()).unwrap();
        assert_eq!(frame.seq_id, Some(0));
        assert_eq!(frame.log_id, Some(0));
        assert_eq!(frame.service, Some(1));
        assert_eq!(frame.method, Some(METHOD_CONTROL));
        assert_eq!(frame_type(&frame), Some(kind::PING));
        assert_eq!(frame.headers.len(), 1);
        // gogo writes the optional strings even when empty; they decode as set.
        assert_eq!(frame.payload_encoding.as_deref(), Some(""));
        assert_eq!(frame.payload_type.as_deref(), Some(""));
        assert_eq!(frame.log_id_new.as_deref(), Some(""));
        assert_eq!(frame.payload, None);
    }

    #[test]
    fn our_ping_has_the_go_fields_and_the_python_bytes() {
        let ours = ping(1);
        let bytes = ours.encode_to_vec();
        // Go's bytes without the trailing empty strings (32 00 3a 00 4a 00),
        // which is what the Python and Node SDKs send.
        let go = go_ping();
        assert_eq!(bytes, go[..go.len() - 6]);
        let decoded = Frame::decode(bytes.as_slice()).unwrap();
        let go = Frame::decode(go.as_slice()).unwrap();
        assert_eq!(decoded.seq_id(), go.seq_id());
        assert_eq!(decoded.log_id(), go.log_id());
        assert_eq!(decoded.service(), go.service());
        assert_eq!(decoded.method(), go.method());
        assert_eq!(decoded.headers, go.headers);
        assert!(decoded.payload.is_none());
    }

    #[test]
    fn a_frame_with_no_fields_at_all_decodes() {
        let frame = Frame::decode(&[][..]).unwrap();
        assert_eq!(frame.method(), 0);
        assert_eq!(frame_type(&frame), None);
    }

    fn data_frame() -> Frame {
        Frame {
            seq_id: Some(41),
            log_id: Some(7),
            service: Some(9),
            method: Some(METHOD_DATA),
            headers: vec![
                new_header(header::TYPE, kind::EVENT),
                new_header(header::MESSAGE_ID, "m-1"),
                new_header(header::SUM, "1"),
                new_header(header::SEQ, "0"),
                new_header(header::TRACE_ID, "t-1"),
            ],
            payload_type: Some("pt".into()),
            payload: Some(b"{\"schema\":\"2.0\"}".to_vec()),
            log_id_new: Some("lid".into()),
            ..Frame::default()
        }
    }

    #[test]
    fn an_ack_echoes_the_frame_with_biz_rt_and_the_code() {
        let frame = data_frame();
        let ack = ack(&frame, 200, Duration::from_millis(37));
        assert_eq!(ack.seq_id, frame.seq_id);
        assert_eq!(ack.log_id, frame.log_id);
        assert_eq!(ack.service, frame.service);
        assert_eq!(ack.method, frame.method);
        assert_eq!(ack.log_id_new, frame.log_id_new);
        assert_eq!(ack.headers[..frame.headers.len()], frame.headers[..]);
        assert_eq!(ack.headers.len(), frame.headers.len() + 1);
        assert_eq!(header(&ack, header::BIZ_RT), Some("37"));
        assert_eq!(ack.payload.as_deref(), Some(&b"{\"code\":200}"[..]));

        let failed = super::ack(&frame, 500, Duration::ZERO);
        assert_eq!(failed.payload.as_deref(), Some(&b"{\"code\":500}"[..]));
        // The frame survives an encode/decode round trip unchanged.
        assert_eq!(Frame::decode(ack.encode_to_vec().as_slice()).unwrap(), ack);
    }

    #[test]
    fn header_helpers_read_the_first_match_and_numbers() {
        let frame = data_frame();
        assert_eq!(header(&frame, header::MESSAGE_ID), Some("m-1"));
        assert_eq!(header_int(&frame, header::SUM), Some(1));
        assert_eq!(header_int(&frame, header::TRACE_ID), None);
        assert_eq!(header(&frame, "absent"), None);
    }

    #[test]
    fn pong_carries_the_optional_config() {
        let pong = pong(3, Some(b"{\"PingInterval\":5}".to_vec()));
        assert_eq!(frame_type(&pong), Some(kind::PONG));
        assert_eq!(pong.method(), METHOD_CONTROL);
        assert_eq!(pong.service(), 3);
        assert_eq!(pong.payload.as_deref(), Some(&b"{\"PingInterval\":5}"[..]));
    }

    const TTL: Duration = Duration::from_secs(10);

    #[test]
    fn an_unsplit_message_comes_back_at_once() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(
            r.push("m", 1, 0, b"abc".to_vec(), now),
            Ok(Some(b"abc".to_vec()))
        );
        // Go reads a missing `sum` as 0: also unsplit.
        assert_eq!(
            r.push("", 0, 0, b"x".to_vec(), now),
            Ok(Some(b"x".to_vec()))
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn fragments_out_of_order_are_joined_in_seq_order() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(r.push("m", 3, 2, b"c\"}".to_vec(), now), Ok(None));
        assert_eq!(r.push("m", 3, 0, b"{\"a\":".to_vec(), now), Ok(None));
        assert_eq!(r.pending(), 1);
        assert_eq!(
            r.push("m", 3, 1, b"\"b".to_vec(), now),
            Ok(Some(b"{\"a\":\"bc\"}".to_vec()))
        );
        assert_eq!(r.pending(), 0, "a completed message is forgotten");
    }

    #[test]
    fn node_sdk_split_example() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(
            r.push("m", 2, 0, br#"{"data":"hello,"#.to_vec(), now),
            Ok(None)
        );
        let joined = r
            .push("m", 2, 1, br#"world"}"#.to_vec(), now)
            .unwrap()
            .unwrap();
        assert_eq!(joined, br#"{"data":"hello,world"}"#);
    }

    #[test]
    fn a_duplicate_fragment_completes_nothing_and_the_last_copy_counts() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(r.push("m", 2, 0, b"a".to_vec(), now), Ok(None));
        assert_eq!(r.push("m", 2, 0, b"A".to_vec(), now), Ok(None));
        assert_eq!(
            r.push("m", 2, 1, b"b".to_vec(), now),
            Ok(Some(b"Ab".to_vec()))
        );
        // A duplicate of a completed message starts a new one; it is not delivered twice.
        assert_eq!(r.push("m", 2, 1, b"b".to_vec(), now), Ok(None));
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn messages_are_kept_apart_by_message_id() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(r.push("m1", 2, 0, b"1a".to_vec(), now), Ok(None));
        assert_eq!(r.push("m2", 2, 1, b"2b".to_vec(), now), Ok(None));
        assert_eq!(
            r.push("m1", 2, 1, b"1b".to_vec(), now),
            Ok(Some(b"1a1b".to_vec()))
        );
        assert_eq!(
            r.push("m2", 2, 0, b"2a".to_vec(), now),
            Ok(Some(b"2a2b".to_vec()))
        );
    }

    #[test]
    fn expired_fragments_are_dropped() {
        let mut r = Reassembler::new(TTL);
        let start = Instant::now();
        assert_eq!(r.push("m", 2, 0, b"a".to_vec(), start), Ok(None));
        assert_eq!(r.expire(start + TTL), 0, "not older than the TTL yet");
        assert_eq!(r.expire(start + TTL + Duration::from_millis(1)), 1);
        assert_eq!(r.pending(), 0);
        // The rest of an expired message does not complete it.
        assert_eq!(r.push("m", 2, 1, b"b".to_vec(), start + 2 * TTL), Ok(None));
    }

    #[test]
    fn a_late_fragment_restarts_an_expired_message_without_a_sweep() {
        let mut r = Reassembler::new(TTL);
        let start = Instant::now();
        assert_eq!(r.push("m", 2, 0, b"old".to_vec(), start), Ok(None));
        let later = start + TTL + Duration::from_secs(1);
        assert_eq!(r.push("m", 2, 1, b"b".to_vec(), later), Ok(None));
        assert_eq!(
            r.push("m", 2, 0, b"a".to_vec(), later),
            Ok(Some(b"ab".to_vec()))
        );
    }

    #[test]
    fn the_ttl_counts_from_the_last_fragment() {
        let mut r = Reassembler::new(TTL);
        let start = Instant::now();
        assert_eq!(r.push("m", 3, 0, b"a".to_vec(), start), Ok(None));
        let step = start + TTL - Duration::from_secs(1);
        assert_eq!(r.push("m", 3, 1, b"b".to_vec(), step), Ok(None));
        let last = step + TTL - Duration::from_secs(1);
        assert_eq!(r.expire(last), 0);
        assert_eq!(
            r.push("m", 3, 2, b"c".to_vec(), last),
            Ok(Some(b"abc".to_vec()))
        );
    }

    #[test]
    fn a_changed_sum_starts_over() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(r.push("m", 3, 0, b"x".to_vec(), now), Ok(None));
        assert_eq!(r.push("m", 2, 0, b"a".to_vec(), now), Ok(None));
        assert_eq!(
            r.push("m", 2, 1, b"b".to_vec(), now),
            Ok(Some(b"ab".to_vec()))
        );
    }

    #[test]
    fn impossible_fragments_are_refused() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(
            r.push("m", 2, 2, vec![], now),
            Err(FragmentError::OutOfRange { seq: 2, sum: 2 })
        );
        assert_eq!(
            r.push("m", 1, 1, vec![], now),
            Err(FragmentError::OutOfRange { seq: 1, sum: 1 })
        );
        assert_eq!(
            r.push("m", MAX_FRAGMENTS + 1, 0, vec![], now),
            Err(FragmentError::TooMany(MAX_FRAGMENTS + 1))
        );
        assert_eq!(
            r.push("", 2, 0, vec![], now),
            Err(FragmentError::NoMessageId)
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn unfinished_messages_hold_a_bounded_number_of_bytes() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        let mib = |n: usize| vec![7u8; n << 20];
        // Messages that never finish, 4 MiB at a time, up to the bound.
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert_eq!(r.push(id, 2, 0, mib(4), now), Ok(None), "message {i}");
        }
        // One byte more drops the message that would pass the bound, whole.
        assert_eq!(
            r.push("e", 2, 0, vec![1], now),
            Err(FragmentError::TooLarge)
        );
        assert_eq!(r.pending(), 4);
        // Replacing a fragment counts its new size, not both.
        assert_eq!(r.push("a", 2, 0, mib(4), now), Ok(None));
        // A message that completes gives its bytes back.
        assert_eq!(
            r.push("a", 2, 1, Vec::new(), now).unwrap().unwrap().len(),
            4 << 20
        );
        assert_eq!(r.push("e", 2, 0, mib(4), now), Ok(None));
        // So does one that expires.
        assert_eq!(r.expire(now + TTL + Duration::from_secs(1)), 4);
        assert_eq!(r.push("f", 2, 0, mib(16), now), Ok(None));
    }

    #[test]
    fn an_empty_fragment_still_fills_its_slot() {
        let mut r = Reassembler::new(TTL);
        let now = Instant::now();
        assert_eq!(r.push("m", 2, 0, vec![], now), Ok(None));
        assert_eq!(
            r.push("m", 2, 1, b"z".to_vec(), now),
            Ok(Some(b"z".to_vec()))
        );
    }
}
