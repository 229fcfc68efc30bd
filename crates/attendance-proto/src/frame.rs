//! `SubscribeFrame`: one `SubscribeResponse` as the hub sends it. A log
//! entry is encoded once when the hub reads it and the same bytes go to
//! every stream that sends it, instead of each stream cloning and encoding
//! the entry again; other responses (progress) are encoded per stream.
//!
//! On the wire a frame is exactly its `SubscribeResponse`, so clients
//! decode it as one.

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::v1::{subscribe_response, LogEntry, Progress, SubscribeResponse};

/// A `SubscribeResponse`, encoded already or not.
#[derive(Clone, Debug, PartialEq)]
pub enum SubscribeFrame {
    /// The encoded `SubscribeResponse` of one log entry.
    Entry(Bytes),
    /// A response encoded when sent (boxed: a queue of frames costs a
    /// pointer per slot, not a whole response).
    Response(Box<SubscribeResponse>),
}

impl Default for SubscribeFrame {
    fn default() -> Self {
        SubscribeFrame::Response(Box::default())
    }
}

impl SubscribeFrame {
    /// The frame of `entry`, encoded now.
    pub fn entry(entry: LogEntry) -> SubscribeFrame {
        let response = SubscribeResponse {
            item: Some(subscribe_response::Item::Entry(entry)),
        };
        SubscribeFrame::Entry(Bytes::from(response.encode_to_vec()))
    }

    pub fn progress(progress: Progress) -> SubscribeFrame {
        SubscribeFrame::Response(Box::new(SubscribeResponse {
            item: Some(subscribe_response::Item::Progress(progress)),
        }))
    }

    /// The frame of `entry`, encoded when sent: for an entry only one
    /// stream sends.
    pub fn unshared_entry(entry: LogEntry) -> SubscribeFrame {
        SubscribeFrame::Response(Box::new(SubscribeResponse {
            item: Some(subscribe_response::Item::Entry(entry)),
        }))
    }

    /// The response this frame carries, decoded if it is encoded.
    pub fn into_response(self) -> Result<SubscribeResponse, DecodeError> {
        match self {
            SubscribeFrame::Entry(bytes) => SubscribeResponse::decode(bytes),
            SubscribeFrame::Response(response) => Ok(*response),
        }
    }

    /// How many bytes the frame holds on to (what a buffer of frames costs).
    pub fn held_bytes(&self) -> usize {
        match self {
            SubscribeFrame::Entry(bytes) => bytes.len(),
            SubscribeFrame::Response(response) => response.encoded_len(),
        }
    }
}

impl Message for SubscribeFrame {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            SubscribeFrame::Entry(bytes) => buf.put_slice(bytes),
            SubscribeFrame::Response(response) => response.encode_raw(buf),
        }
    }

    // Only clients decode; a frame decodes into the response it carries.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if let SubscribeFrame::Entry(bytes) = self {
            let decoded = SubscribeResponse::decode(bytes.clone())?;
            *self = SubscribeFrame::Response(Box::new(decoded));
        }
        match self {
            SubscribeFrame::Response(response) => response.merge_field(tag, wire_type, buf, ctx),
            SubscribeFrame::Entry(_) => unreachable!("decoded above"),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            SubscribeFrame::Entry(bytes) => bytes.len(),
            SubscribeFrame::Response(response) => response.encoded_len(),
        }
    }

    fn clear(&mut self) {
        *self = SubscribeFrame::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LogEntry {
        LogEntry {
            cursor: "c1".into(),
            employee_id: "u1".into(),
            ..LogEntry::default()
        }
    }

    #[test]
    fn an_encoded_entry_is_the_same_bytes_as_its_response() {
        let frame = SubscribeFrame::entry(entry());
        let response = SubscribeResponse {
            item: Some(subscribe_response::Item::Entry(entry())),
        };
        assert_eq!(frame.encode_to_vec(), response.encode_to_vec());
        assert_eq!(frame.encoded_len(), response.encoded_len());
        assert_eq!(frame.clone().into_response().unwrap(), response);
        assert_eq!(
            SubscribeResponse::decode(frame.encode_to_vec().as_slice()).unwrap(),
            response
        );
    }

    #[test]
    fn a_frame_decodes_as_its_response() {
        let response = SubscribeResponse {
            item: Some(subscribe_response::Item::Entry(entry())),
        };
        let decoded = SubscribeFrame::decode(response.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, SubscribeFrame::unshared_entry(entry()));
        assert_eq!(decoded.into_response().unwrap(), response);
    }
}
