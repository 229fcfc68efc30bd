//! The long-connection half of the fake Feishu: `POST /callback/ws/endpoint`
//! and a WebSocket at `/ws` speaking pbbp2 the way Feishu does (protocol
//! notes §2).
//!
//! - Discovery records each request, mints a one-time ticket and answers
//!   `ws://127.0.0.1:PORT/ws?device_id=…&service_id=…&ticket=…` with the
//!   client configuration the test set. A handshake without an unused ticket
//!   is refused, so a client that reconnects without discovering fails.
//! - On the socket it answers every ping with a pong (carrying a
//!   configuration if the test set one), sends events whole or in fragments,
//!   and records every ack. An event counts as delivered only once acked
//!   with `code:200`; until then every new connection gets it again, as
//!   Feishu redelivers what was never acknowledged.
//! - Faults: refuse discovery with a code, refuse the handshake
//!   (514/1000040350, 403, 514 with another auth code), cut every connection
//!   (optionally in the middle of a split event), or fall silent (half-open:
//!   the TCP connection stays, nothing is sent, not even pongs).
//!
//! Data frames are written the way the Go server side's gogo encoder writes
//! them, empty optional strings included, so clients meet both encodings
//! (their own pings and acks leave them out).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use attendance_feishu::frame::{self, header, kind, Frame, Header, METHOD_CONTROL, METHOD_DATA};
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::FakeFeishu;
use crate::fake_gateway::{impl_fake_gateway, FakeGateway};

/// How long the `wait_for_*` helpers wait before failing the test.
pub const WAIT: Duration = Duration::from_secs(60);

/// The timings discovery (and optionally pongs) hand the client, in seconds,
/// as Feishu's `ClientConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    pub reconnect_count: i64,
    pub reconnect_interval: i64,
    pub reconnect_nonce: i64,
    pub ping_interval: i64,
}

impl ClientConfig {
    /// Feishu's production values: ping every 120 s, reconnect forever every
    /// 120 s after a pause of up to 30 s.
    pub fn feishu() -> ClientConfig {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: 120,
            reconnect_nonce: 30,
            ping_interval: 120,
        }
    }

    /// Values for tests: ping every second, reconnect forever every second
    /// after a pause of up to a second.
    pub fn fast() -> ClientConfig {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: 1,
            reconnect_nonce: 1,
            ping_interval: 1,
        }
    }

    /// The JSON Feishu sends, with its capitalised names.
    pub fn to_json(&self) -> Value {
        json!({
            "ReconnectCount": self.reconnect_count,
            "ReconnectInterval": self.reconnect_interval,
            "ReconnectNonce": self.reconnect_nonce,
            "PingInterval": self.ping_interval,
        })
    }
}

/// How the fake refuses WebSocket handshakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeRejection {
    /// `Handshake-Status: 514`, `Handshake-Autherrcode: 1000040350`: more
    /// than 50 connections. Fatal for a client.
    ExceedConnLimit,
    /// `Handshake-Status: 403`: the app is banned. Fatal for a client.
    Forbidden,
    /// `Handshake-Status: 514` with another auth error code. Retryable.
    AuthFailed { autherrcode: i64 },
}

/// One discovery request as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryRequest {
    pub app_id: String,
    pub app_secret: String,
    /// The `locale` header.
    pub locale: Option<String>,
}

/// One ack a client sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    pub message_id: String,
    /// `code` of the JSON payload (`None` if it was not such JSON).
    pub code: Option<i64>,
    /// The `biz_rt` header, if any.
    pub biz_rt: Option<String>,
    /// The frame as received.
    pub frame: Frame,
    /// Which connection (numbered from 1 in order of arrival) carried it.
    pub connection: u64,
}

/// The data frames the fake sent for one message.
#[derive(Clone, Debug)]
pub struct SentFrames {
    pub message_id: String,
    pub frames: Vec<Frame>,
}

enum Command {
    /// Send these encoded frames.
    Send(Vec<Vec<u8>>),
    /// Send these encoded frames, then close the TCP connection without a
    /// WebSocket close frame.
    SendThenDrop(Vec<Vec<u8>>),
    /// Close the TCP connection without a WebSocket close frame.
    Drop,
    /// Send nothing any more (not even pongs), but keep the connection open.
    Silence,
}

struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    silent: bool,
}

/// One event the test sent, until acknowledged with `code:200`.
struct Event {
    message_id: String,
    payload: Vec<u8>,
    parts: usize,
    acked: bool,
}

struct FakeState {
    client_config: ClientConfig,
    pong_config: Option<ClientConfig>,
    discovery_rejection: Option<(i64, String)>,
    handshake_rejection: Option<HandshakeRejection>,
    discovery_requests: Vec<DiscoveryRequest>,
    tickets: HashSet<String>,
    connections: BTreeMap<u64, Connection>,
    total_connections: u64,
    refused_handshakes: u64,
    clean_closes: u64,
    events: Vec<Event>,
    acks: Vec<Ack>,
    sent: Vec<SentFrames>,
    pings: u64,
    services: BTreeSet<i32>,
    next_frame: u64,
    next_message: u64,
}

pub(crate) struct Inner {
    addr: SocketAddr,
    service_id: i32,
    state: Mutex<FakeState>,
    /// Bumped on every change a test may wait for.
    changes: watch::Sender<u64>,
}

impl Inner {
    pub(crate) fn new(addr: SocketAddr) -> Inner {
        Inner {
            addr,
            service_id: 33_554_678,
            state: Mutex::new(FakeState {
                client_config: ClientConfig::fast(),
                pong_config: None,
                discovery_rejection: None,
                handshake_rejection: None,
                discovery_requests: Vec::new(),
                tickets: HashSet::new(),
                connections: BTreeMap::new(),
                total_connections: 0,
                refused_handshakes: 0,
                clean_closes: 0,
                events: Vec::new(),
                acks: Vec::new(),
                sent: Vec::new(),
                pings: 0,
                services: BTreeSet::new(),
                next_frame: 1,
                next_message: 1,
            }),
            changes: watch::channel(0).0,
        }
    }

    // A std Mutex: it is never held across an await.
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .expect("the fake's state is never poisoned")
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub(crate) fn drop_connections(&self) {
        for connection in self.state().connections.values() {
            let _ = connection.commands.send(Command::Drop);
        }
    }

    /// The data frames of one event, fragmented into `parts` by bytes (a
    /// fragment may end inside a UTF-8 character, as Feishu's may).
    fn frames(&self, state: &mut FakeState, event_index: usize) -> Vec<Frame> {
        let event = &state.events[event_index];
        let (message_id, payload, parts) =
            (event.message_id.clone(), event.payload.clone(), event.parts);
        let chunk = payload.len().div_ceil(parts).max(1);
        let chunks: Vec<&[u8]> = payload.chunks(chunk).collect();
        let sum = chunks.len();
        let trace_id = format!("trace-{message_id}");
        let frames: Vec<Frame> = chunks
            .iter()
            .enumerate()
            .map(|(seq, chunk)| {
                let seq_id = state.next_frame;
                state.next_frame += 1;
                let headers = [
                    (header::TYPE, kind::EVENT.to_owned()),
                    (header::MESSAGE_ID, message_id.clone()),
                    (header::SUM, sum.to_string()),
                    (header::SEQ, seq.to_string()),
                    (header::TRACE_ID, trace_id.clone()),
                    (header::TIMESTAMP, "1700000000000".to_owned()),
                ];
                Frame {
                    seq_id: Some(seq_id),
                    log_id: Some(seq_id * 1000 + 7),
                    service: Some(self.service_id),
                    method: Some(METHOD_DATA),
                    headers: headers
                        .into_iter()
                        .map(|(key, value)| Header {
                            key: Some(key.to_owned()),
                            value: Some(value),
                        })
                        .collect(),
                    // gogo writes these even when empty.
                    payload_encoding: Some(String::new()),
                    payload_type: Some(String::new()),
                    payload: Some(chunk.to_vec()),
                    log_id_new: Some(String::new()),
                }
            })
            .collect();
        frames
    }

    /// Notes frames as sent (for [`FakeFeishu::sent_frames`]) and encodes them.
    fn record(state: &mut FakeState, frames: Vec<Frame>) -> Vec<Vec<u8>> {
        let encoded = frames.iter().map(|f| f.encode_to_vec()).collect();
        if let Some(first) = frames.first() {
            let message_id = frame::header(first, header::MESSAGE_ID)
                .unwrap_or_default()
                .to_owned();
            state.sent.push(SentFrames { message_id, frames });
        }
        encoded
    }

    /// The newest connection that is not silent.
    fn target(state: &FakeState) -> Option<&Connection> {
        state.connections.values().rev().find(|c| !c.silent)
    }

    /// Records a new event and sends it on the newest live connection, if
    /// there is one; otherwise it waits for the next connection.
    fn send(&self, json: &str, parts: usize, drop_after: Option<usize>) -> String {
        let mut state = self.state();
        let message_id = format!("fake-msg-{}", state.next_message);
        state.next_message += 1;
        state.events.push(Event {
            message_id: message_id.clone(),
            payload: json.as_bytes().to_vec(),
            parts: parts.max(1),
            acked: false,
        });
        let index = state.events.len() - 1;
        if Self::target(&state).is_some() {
            let mut frames = self.frames(&mut state, index);
            if let Some(n) = drop_after {
                frames.truncate(n);
            }
            let encoded = Self::record(&mut state, frames);
            let command = match drop_after {
                Some(_) => Command::SendThenDrop(encoded),
                None => Command::Send(encoded),
            };
            let _ = Self::target(&state)
                .expect("checked above")
                .commands
                .send(command);
        }
        drop(state);
        self.changed();
        message_id
    }

    /// Encoded frames of every event not yet acknowledged with 200.
    fn unacked_frames(&self, state: &mut FakeState) -> Vec<Vec<u8>> {
        let pending: Vec<usize> = (0..state.events.len())
            .filter(|&i| !state.events[i].acked)
            .collect();
        pending
            .into_iter()
            .flat_map(|i| {
                let frames = self.frames(state, i);
                Self::record(state, frames)
            })
            .collect()
    }

    /// Handles one frame from the client; returns the encoded answer, if any.
    fn on_client_frame(&self, connection: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        let frame = Frame::decode(bytes).ok()?;
        let mut state = self.state();
        state.services.insert(frame.service());
        let answer = match frame.method() {
            METHOD_CONTROL if frame::frame_type(&frame) == Some(kind::PING) => {
                state.pings += 1;
                let config = state
                    .pong_config
                    .map(|config| config.to_json().to_string().into_bytes());
                Some(frame::pong(self.service_id, config).encode_to_vec())
            }
            METHOD_DATA => {
                let message_id = frame::header(&frame, header::MESSAGE_ID)
                    .unwrap_or_default()
                    .to_owned();
                let code = frame
                    .payload
                    .as_deref()
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                    .and_then(|v| v["code"].as_i64());
                if code == Some(200) {
                    for event in state
                        .events
                        .iter_mut()
                        .filter(|e| e.message_id == message_id)
                    {
                        event.acked = true;
                    }
                }
                state.acks.push(Ack {
                    message_id,
                    code,
                    biz_rt: frame::header(&frame, header::BIZ_RT).map(str::to_owned),
                    frame,
                    connection,
                });
                None
            }
            _ => None,
        };
        drop(state);
        self.changed();
        answer
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            attendance_feishu::long_connection::ENDPOINT_PATH,
            post(discover),
        )
        .route("/ws", get(upgrade))
        .with_state(inner)
}

async fn discover(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
    let mut state = inner.state();
    state.discovery_requests.push(DiscoveryRequest {
        app_id: text("AppID"),
        app_secret: text("AppSecret"),
        locale: headers
            .get("locale")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let number = state.discovery_requests.len();
    let answer = match &state.discovery_rejection {
        Some((code, msg)) => json!({"code": code, "msg": msg, "data": {}}),
        None => {
            let ticket = format!("ticket-{number}-{:08x}", rand::random::<u32>());
            state.tickets.insert(ticket.clone());
            let url = format!(
                "ws://{}/ws?device_id=fake-device-{number}&service_id={}&ticket={ticket}",
                inner.addr, inner.service_id
            );
            json!({"code": 0, "msg": "ok", "data": {
                "URL": url,
                "ClientConfig": state.client_config.to_json(),
            }})
        }
    };
    drop(state);
    inner.changed();
    Json(answer).into_response()
}

async fn upgrade(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let refusal = {
        let mut state = inner.state();
        let ticket = query.get("ticket").cloned().unwrap_or_default();
        let rejection = state.handshake_rejection;
        let refusal = match rejection {
            Some(HandshakeRejection::ExceedConnLimit) => {
                Some((514, "exceed connection limit", Some(1_000_040_350)))
            }
            Some(HandshakeRejection::Forbidden) => Some((403, "forbidden", None)),
            Some(HandshakeRejection::AuthFailed { autherrcode }) => {
                Some((514, "auth failed", Some(autherrcode)))
            }
            None if !state.tickets.remove(&ticket) => {
                Some((514, "invalid or used ticket", Some(1_000_040_351)))
            }
            None => None,
        };
        if refusal.is_some() {
            state.refused_handshakes += 1;
        }
        refusal
    };
    if let Some((status, message, autherrcode)) = refusal {
        inner.changed();
        let mut response = (
            StatusCode::from_u16(status).expect("a valid status"),
            message,
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert("handshake-status", status.into());
        headers.insert("handshake-msg", message.parse().expect("ASCII"));
        if let Some(code) = autherrcode {
            headers.insert("handshake-autherrcode", code.into());
        }
        return response;
    }
    upgrade.on_upgrade(move |socket| serve(inner, socket))
}

async fn serve(inner: Arc<Inner>, socket: WebSocket) {
    let (commands, mut incoming) = mpsc::unbounded_channel();
    let (id, redeliveries) = {
        let mut state = inner.state();
        state.total_connections += 1;
        let id = state.total_connections;
        state.connections.insert(
            id,
            Connection {
                commands,
                silent: false,
            },
        );
        // Feishu pushes what was never acknowledged again.
        let redeliveries = inner.unacked_frames(&mut state);
        (id, redeliveries)
    };
    inner.changed();
    let (mut sink, mut stream) = socket.split();
    let mut silent = false;
    for frame in redeliveries {
        if sink.send(Message::Binary(frame.into())).await.is_err() {
            break;
        }
    }
    loop {
        tokio::select! {
            command = incoming.recv() => match command {
                Some(Command::Send(frames)) => {
                    for frame in frames {
                        let _ = sink.send(Message::Binary(frame.into())).await;
                    }
                }
                Some(Command::SendThenDrop(frames)) => {
                    for frame in frames {
                        let _ = sink.send(Message::Binary(frame.into())).await;
                    }
                    break;
                }
                Some(Command::Silence) => silent = true,
                Some(Command::Drop) | None => break,
            },
            message = stream.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(answer) = inner.on_client_frame(id, &bytes) {
                        if !silent {
                            let _ = sink.send(Message::Binary(answer.into())).await;
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if frame.is_some_and(|f| f.code == 1000) {
                        inner.state().clean_closes += 1;
                    }
                    break;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
        }
    }
    // Dropping both halves closes the TCP connection; after a command to
    // drop, no close frame is sent, as when a network path dies.
    drop(sink);
    drop(stream);
    inner.state().connections.remove(&id);
    inner.changed();
}

impl FakeFeishu {
    /// The `service_id` discovery hands out; every client frame must carry it.
    pub fn service_id(&self) -> i32 {
        self.inner.service_id
    }

    /// The configuration the next discoveries hand out.
    pub fn set_client_config(&self, config: ClientConfig) {
        self.inner.state().client_config = config;
    }

    /// A configuration every pong from now on carries (`None`: bare pongs).
    pub fn set_pong_config(&self, config: Option<ClientConfig>) {
        self.inner.state().pong_config = config;
    }

    /// Answers discovery with this code (1 and 1000040343 are retryable for
    /// a client; anything else but 0 is fatal).
    pub fn reject_discovery(&self, code: i64, msg: &str) {
        self.inner.state().discovery_rejection = Some((code, msg.to_owned()));
    }

    /// Answers discovery normally again.
    pub fn accept_discovery(&self) {
        self.inner.state().discovery_rejection = None;
    }

    /// Refuses every handshake from now on.
    pub fn reject_handshake(&self, rejection: HandshakeRejection) {
        self.inner.state().handshake_rejection = Some(rejection);
    }

    /// Accepts handshakes with a valid ticket again.
    pub fn accept_handshake(&self) {
        self.inner.state().handshake_rejection = None;
    }

    pub fn discovery_requests(&self) -> Vec<DiscoveryRequest> {
        self.inner.state().discovery_requests.clone()
    }

    pub fn discoveries(&self) -> usize {
        self.inner.state().discovery_requests.len()
    }

    /// Handshakes refused (by a rejection set, or for a missing or used ticket).
    pub fn refused_handshakes(&self) -> u64 {
        self.inner.state().refused_handshakes
    }

    /// Connections the client ended with a close frame with code 1000.
    pub fn clean_closes(&self) -> u64 {
        self.inner.state().clean_closes
    }

    /// Pings received.
    pub fn pings(&self) -> u64 {
        self.inner.state().pings
    }

    /// The `service` field of every frame the client sent, as a set.
    pub fn services_seen(&self) -> BTreeSet<i32> {
        self.inner.state().services.clone()
    }

    /// Sends one event in a single data frame; returns its message id.
    pub fn send_event(&self, json: &str) -> String {
        self.inner.send(json, 1, None)
    }

    /// Sends one event split into `parts` fragments (by bytes, in order).
    pub fn send_fragmented(&self, json: &str, parts: usize) -> String {
        self.inner.send(json, parts, None)
    }

    /// Sends the first `sent` of `parts` fragments, then cuts the connection
    /// (no close frame). The event stays unacknowledged.
    pub fn send_fragmented_then_drop(&self, json: &str, parts: usize, sent: usize) -> String {
        self.inner.send(json, parts, Some(sent))
    }

    /// Cuts every connection, without a close frame.
    pub fn drop_connections(&self) {
        self.inner.drop_connections();
    }

    /// Makes every open connection half-open: it stays up but the fake sends
    /// nothing on it any more, not even pongs. New connections are normal.
    pub fn go_silent(&self) {
        let mut state = self.inner.state();
        for connection in state.connections.values_mut() {
            connection.silent = true;
            let _ = connection.commands.send(Command::Silence);
        }
    }

    /// Sends every event not yet acknowledged with 200 again, on the newest
    /// live connection (Feishu's own retry schedule, brought forward).
    pub fn redeliver_unacked(&self) {
        let mut state = self.inner.state();
        if Inner::target(&state).is_none() {
            return;
        }
        let frames = self.inner.unacked_frames(&mut state);
        let _ = Inner::target(&state)
            .expect("checked above")
            .commands
            .send(Command::Send(frames));
    }

    /// Every data frame sent for `message_id`, in order, across deliveries.
    pub fn sent_frames(&self, message_id: &str) -> Vec<Frame> {
        self.inner
            .state()
            .sent
            .iter()
            .filter(|sent| sent.message_id == message_id)
            .flat_map(|sent| sent.frames.clone())
            .collect()
    }

    /// Waits until at least `n` discovery requests arrived.
    pub async fn wait_for_discoveries(&self, n: usize) {
        self.wait_for(&format!("{n} discover(y/ies)"), |fake| {
            (fake.discoveries() >= n).then_some(())
        })
        .await
    }
}

impl_fake_gateway!(FakeFeishu, "Feishu", Ack);
