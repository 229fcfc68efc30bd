//! The bench's subscribers (rows 10 and 11): `Subscribe` spoken over HTTP/2 with the `h2` crate,
//! the gRPC length prefixes read by hand, each response decoded only as far
//! as its entry's receipt time. A thousand tonic clients on the same two
//! cores as the hub cost the hub a third of the machine; the bench measures
//! the hub, so its readers do no more than a reader must.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use tokio::net::TcpStream;
use tonic::codegen::http;

use attendance_proto::v1::SubscribeRequest;

/// The gRPC length prefix: a compression flag and a big-endian length.
const PREFIX: usize = 5;

/// One HTTP/2 connection to the hub's gRPC listener.
pub struct StampConnection {
    authority: String,
    send: h2::client::SendRequest<Bytes>,
}

impl StampConnection {
    pub async fn open(grpc_addr: &str) -> Result<StampConnection, String> {
        let tcp = TcpStream::connect(grpc_addr)
            .await
            .map_err(|e| format!("connect {grpc_addr}: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        // Windows as large as hyper's client defaults, so flow control
        // answers are rare and the hub is never held back by them.
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(2 << 20)
            .initial_connection_window_size(5 << 20)
            .handshake(tcp)
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(StampConnection {
            authority: grpc_addr.to_string(),
            send,
        })
    }

    /// Opens a `Subscribe` stream; fails on anything but a 200 that is not
    /// already a gRPC error.
    pub async fn subscribe(&self, request: SubscribeRequest) -> Result<StampStream, String> {
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|e| format!("HTTP/2 ready: {e}"))?;
        let head = http::Request::builder()
            .method("POST")
            .uri(format!(
                "http://{}/attendance.v1.AttendanceService/Subscribe",
                self.authority
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|e| format!("request: {e}"))?;
        let (response, mut body) = send
            .send_request(head, false)
            .map_err(|e| format!("Subscribe: {e}"))?;
        let message = request.encode_to_vec();
        let mut framed = BytesMut::with_capacity(PREFIX + message.len());
        framed.put_u8(0);
        framed.put_u32(message.len() as u32);
        framed.put_slice(&message);
        body.send_data(framed.freeze(), true)
            .map_err(|e| format!("Subscribe request: {e}"))?;
        let response = response.await.map_err(|e| format!("Subscribe: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("Subscribe: HTTP {}", response.status()));
        }
        if let Some(status) = response.headers().get("grpc-status") {
            return Err(format!("Subscribe: grpc-status {status:?}"));
        }
        Ok(StampStream {
            body: response.into_body(),
            buffered: BytesMut::new(),
        })
    }
}

/// The responses of one `Subscribe` stream.
pub struct StampStream {
    body: h2::RecvStream,
    buffered: BytesMut,
}

impl StampStream {
    /// The next response, or `None` once the stream ended.
    pub async fn message(&mut self) -> Result<Option<StampOnly>, String> {
        loop {
            if self.buffered.len() >= PREFIX {
                let length =
                    u32::from_be_bytes(self.buffered[1..PREFIX].try_into().expect("four bytes"))
                        as usize;
                if self.buffered.len() >= PREFIX + length {
                    self.buffered.advance(PREFIX);
                    let message = self.buffered.split_to(length);
                    return StampOnly::decode(&message[..])
                        .map(Some)
                        .map_err(|e| format!("a response: {e}"));
                }
            }
            match self.body.data().await {
                Some(Ok(chunk)) => {
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.buffered.extend_from_slice(&chunk);
                }
                Some(Err(e)) => return Err(format!("the stream: {e}")),
                None => return Ok(None),
            }
        }
    }
}

/// A `SubscribeResponse` as the bench's subscribers decode it: the entry
/// (field 1) with its `received_time` (field 6); progress is skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StampOnly {
    #[prost(message, optional, tag = "1")]
    pub entry: Option<EntryStamp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryStamp {
    #[prost(message, optional, tag = "6")]
    pub received_time: Option<prost_types::Timestamp>,
}
