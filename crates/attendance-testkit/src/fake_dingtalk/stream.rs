//! The Stream half of the fake DingTalk: `POST /v1.0/gateway/connections/open`
//! and a WebSocket at `/connect` speaking the Stream protocol the way
//! DingTalk does (protocol notes §1).
//!
//! - Registration checks `clientId`/`clientSecret`, records the request, and
//!   answers `{"endpoint": "ws://127.0.0.1:PORT/connect", "ticket": …}` with
//!   a ticket that opens one connection within 90 s. A handshake without
//!   such a ticket is refused, so a client that reconnects without
//!   registering again fails. Without `Accept: application/json` the answer
//!   is XML, as the real gateway's is.
//! - Events go out as EVENT text frames shaped like
//!   `shared/fixtures/dingtalk/stream_attendance_check_record.json`, to the
//!   newest connection that is neither silent nor told to disconnect (each
//!   event to exactly one connection, as DingTalk picks one channel per
//!   push). An event counts as delivered only once acknowledged `SUCCESS`:
//!   one acknowledged `LATER`, or not at all within the redelivery delay, is
//!   sent again, and one whose connection closed before its ack is sent again
//!   at once on the next connection. The `messageId` and `eventId` stay the
//!   same across redeliveries.
//! - SYSTEM `ping` frames go out on a timer (and on request) and their echoes
//!   are recorded; a SYSTEM `disconnect` stops new pushes on that connection,
//!   which the fake closes itself after a grace period (DingTalk: 10 s) if
//!   the client did not.
//! - Faults: refuse registration, cut every connection (no close frame),
//!   cut one right after an event frame (before any ack can come back), or
//!   fall silent (half-open: the connection stays up and still answers
//!   WebSocket pings, but no frame comes any more).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::FakeDingTalk;
use crate::fake_gateway::{impl_fake_gateway, FakeGateway};

/// How long the `wait_for_*` helpers wait before failing the test: generous,
/// never a measurement.
pub const WAIT: Duration = Duration::from_secs(120);
/// The credentials the fake accepts until a test sets others.
pub const CLIENT_ID: &str = "dingfakestreamclient";
pub const CLIENT_SECRET: &str = "fake-stream-client-secret";
/// `eventCorpId` of every event the fake sends.
pub const CORP_ID: &str = "dingfakecorp";
/// The registration path.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";
/// A ticket opens a connection only this long after it was issued.
const TICKET_LIFETIME: Duration = Duration::from_secs(90);
/// How often the fake's timers (pings, redeliveries, disconnect grace) look.
const TICK: Duration = Duration::from_millis(50);

/// One `connections/open` request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenRequest {
    pub client_id: String,
    pub client_secret: String,
    pub subscriptions: Value,
    pub ua: Option<String>,
    pub local_ip: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The whole body.
    pub body: Value,
}

/// One client answer to an EVENT frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    pub message_id: String,
    /// `code` of the reply.
    pub code: Option<i64>,
    /// `status` inside the reply's `data` (`SUCCESS`, `LATER`).
    pub status: Option<String>,
    /// Which connection (numbered from 1 in order of arrival) carried it.
    pub connection: u64,
    /// The reply as received.
    pub json: Value,
}

impl Ack {
    pub fn is_success(&self) -> bool {
        self.status.as_deref() == Some("SUCCESS")
    }
}

/// One client answer to a SYSTEM frame (a ping or a disconnect).
#[derive(Clone, Debug, PartialEq)]
pub struct PingEcho {
    pub message_id: String,
    pub code: Option<i64>,
    /// The `data` the fake sent (for a ping: `{"opaque":…}`).
    pub sent_data: String,
    /// The `data` the client answered.
    pub data: Option<String>,
    pub connection: u64,
    pub json: Value,
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// The client: with a close frame of code 1000 (`clean`) or otherwise.
    Client { clean: bool },
    /// The fake (a cut, a drop after an event, the end of a disconnect grace).
    Fake,
}

/// The life of connections, in the order things happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    Opened(u64),
    Closed { connection: u64, by: ClosedBy },
}

enum Command {
    /// Send this text frame.
    Send(String),
    /// Send this text frame, then close the TCP connection without a
    /// WebSocket close frame, before any answer can be read.
    SendThenDrop(String),
    /// Close the TCP connection without a WebSocket close frame.
    Drop,
}

struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    /// Half-open: nothing is sent on it any more.
    silent: bool,
    /// Told to disconnect: no new pushes; the fake closes it at this instant.
    closes_at: Option<Instant>,
    next_ping: Instant,
}

/// One event the test sent, until acknowledged `SUCCESS`.
struct Event {
    message_id: String,
    event_id: String,
    event_type: String,
    data: String,
    born_ms: u128,
    acked: bool,
    /// When it must be (re)sent; `None` once acknowledged.
    due: Option<Instant>,
    /// The connections it was sent on, in order.
    deliveries: Vec<u64>,
}

struct FakeState {
    client_id: String,
    client_secret: String,
    open_rejection: Option<(u16, String)>,
    open_requests: Vec<OpenRequest>,
    tickets: HashMap<String, Instant>,
    refused_handshakes: u64,
    connections: BTreeMap<u64, Connection>,
    total_connections: u64,
    history: Vec<ConnectionEvent>,
    ping_interval: Option<Duration>,
    redelivery_delay: Duration,
    disconnect_grace: Duration,
    events: Vec<Event>,
    /// `messageId` → position in `events`, so that an ack finds its event
    /// without a scan (a benchmark sends tens of thousands).
    event_index: HashMap<String, usize>,
    /// Events acknowledged `SUCCESS` so far.
    events_acknowledged: usize,
    acks: Vec<Ack>,
    /// SYSTEM frames sent: messageId → (topic, data).
    system_sent: HashMap<String, (String, String)>,
    system_replies: Vec<(String, PingEcho)>,
    pings_sent: u64,
    next_message: u64,
}

pub(crate) struct Inner {
    addr: SocketAddr,
    state: Mutex<FakeState>,
    /// Bumped on every change a test may wait for.
    changes: watch::Sender<u64>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl Inner {
    pub(crate) fn new(addr: SocketAddr) -> Inner {
        Inner {
            addr,
            state: Mutex::new(FakeState {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                open_rejection: None,
                open_requests: Vec::new(),
                tickets: HashMap::new(),
                refused_handshakes: 0,
                connections: BTreeMap::new(),
                total_connections: 0,
                history: Vec::new(),
                ping_interval: Some(Duration::from_secs(5)),
                redelivery_delay: Duration::from_secs(3),
                disconnect_grace: Duration::from_secs(10),
                events: Vec::new(),
                event_index: HashMap::new(),
                events_acknowledged: 0,
                acks: Vec::new(),
                system_sent: HashMap::new(),
                system_replies: Vec::new(),
                pings_sent: 0,
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

    fn next_message_id(state: &mut FakeState) -> String {
        let n = state.next_message;
        state.next_message += 1;
        format!("fake_{:08x}_{n}", rand::random::<u32>())
    }

    /// The newest connection that may receive pushes.
    fn target(state: &FakeState) -> Option<u64> {
        state
            .connections
            .iter()
            .rev()
            .find(|(_, c)| !c.silent && c.closes_at.is_none())
            .map(|(id, _)| *id)
    }

    fn event_frame(event: &Event) -> String {
        json!({
            "specVersion": "1.0",
            "type": "EVENT",
            "headers": {
                "topic": "*",
                "messageId": event.message_id,
                "contentType": "application/json",
                "time": now_ms().to_string(),
                "eventType": event.event_type,
                "eventId": event.event_id,
                "eventCorpId": CORP_ID,
                "eventBornTime": event.born_ms.to_string(),
                "eventUnifiedAppId": "fake-unified-app-id",
            },
            "data": event.data,
        })
        .to_string()
    }

    fn system_frame(state: &mut FakeState, topic: &str, data: String) -> (String, String) {
        let message_id = Self::next_message_id(state);
        let frame = json!({
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {
                "contentType": "application/json",
                "messageId": message_id,
                "time": now_ms().to_string(),
                "topic": topic,
            },
            "data": data,
        })
        .to_string();
        state
            .system_sent
            .insert(message_id.clone(), (topic.to_owned(), data));
        (message_id, frame)
    }

    /// Sends event `index` on `connection`, as a whole frame or followed by
    /// a cut.
    fn deliver(state: &mut FakeState, index: usize, connection: u64, then_drop: bool) {
        let delay = state.redelivery_delay;
        let frame = {
            let event = &mut state.events[index];
            event.deliveries.push(connection);
            event.due = Some(Instant::now() + delay);
            Self::event_frame(event)
        };
        if let Some(target) = state.connections.get(&connection) {
            let command = if then_drop {
                Command::SendThenDrop(frame)
            } else {
                Command::Send(frame)
            };
            let _ = target.commands.send(command);
        }
    }

    /// Sends every event that is due, if some connection may receive it.
    fn deliver_due(state: &mut FakeState) -> bool {
        let Some(target) = Self::target(state) else {
            return false;
        };
        let now = Instant::now();
        let due: Vec<usize> = (0..state.events.len())
            .filter(|&i| !state.events[i].acked && state.events[i].due.is_some_and(|d| d <= now))
            .collect();
        for &index in &due {
            Self::deliver(state, index, target, false);
        }
        !due.is_empty()
    }

    fn send(
        &self,
        event_type: &str,
        event_id: Option<&str>,
        data: &str,
        then_drop: bool,
    ) -> String {
        let mut state = self.state();
        let target = Self::target(&state);
        if then_drop && target.is_none() {
            drop(state);
            panic!("no connection to cut after the event");
        }
        let message_id = Self::next_message_id(&mut state);
        let event_id = event_id
            .map(str::to_owned)
            .unwrap_or_else(|| format!("fakeevent{:016x}", rand::random::<u64>()));
        state.events.push(Event {
            message_id: message_id.clone(),
            event_id,
            event_type: event_type.to_owned(),
            data: data.to_owned(),
            born_ms: now_ms(),
            acked: false,
            due: Some(Instant::now()),
            deliveries: Vec::new(),
        });
        let index = state.events.len() - 1;
        state.event_index.insert(message_id.clone(), index);
        // Without a connection it waits (due now) for the next one.
        if let Some(target) = target {
            Self::deliver(&mut state, index, target, then_drop);
        }
        drop(state);
        self.changed();
        message_id
    }

    /// The timers: pings, redeliveries, the end of disconnect graces.
    fn tick(&self) {
        let mut state = self.state();
        let now = Instant::now();
        let mut changed = Self::deliver_due(&mut state);
        if let Some(interval) = state.ping_interval {
            let due: Vec<u64> = state
                .connections
                .iter()
                .filter(|(_, c)| !c.silent && c.next_ping <= now)
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                Self::ping(&mut state, id);
                if let Some(connection) = state.connections.get_mut(&id) {
                    connection.next_ping = now + interval;
                }
                changed = true;
            }
        }
        for connection in state.connections.values() {
            if connection.closes_at.is_some_and(|at| at <= now) {
                let _ = connection.commands.send(Command::Drop);
            }
        }
        drop(state);
        if changed {
            self.changed();
        }
    }

    fn ping(state: &mut FakeState, connection: u64) -> Option<String> {
        let opaque = format!(
            "{:08x}-{:04x}",
            rand::random::<u32>(),
            rand::random::<u16>()
        );
        let (message_id, frame) =
            Self::system_frame(state, "ping", json!({ "opaque": opaque }).to_string());
        let target = state.connections.get(&connection)?;
        let _ = target.commands.send(Command::Send(frame));
        state.pings_sent += 1;
        Some(message_id)
    }

    /// Handles one text frame from the client: an answer to an event or to
    /// a SYSTEM frame.
    fn on_client_text(&self, connection: u64, text: &str) {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let message_id = json["headers"]["messageId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let code = json["code"].as_i64();
        let data = json["data"].as_str().map(str::to_owned);
        let mut state = self.state();
        if let Some((topic, sent_data)) = state.system_sent.get(&message_id).cloned() {
            state.system_replies.push((
                topic,
                PingEcho {
                    message_id,
                    code,
                    sent_data,
                    data,
                    connection,
                    json,
                },
            ));
        } else {
            let status = data
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|d| d["status"].as_str().map(str::to_owned));
            let later = state.redelivery_delay;
            let index = state.event_index.get(&message_id).copied();
            let mut newly_acknowledged = false;
            if let Some(event) = index
                .and_then(|i| state.events.get_mut(i))
                .filter(|e| !e.acked)
            {
                match status.as_deref() {
                    Some("SUCCESS") => {
                        event.acked = true;
                        event.due = None;
                        newly_acknowledged = true;
                    }
                    // LATER (or anything else): deliver again after the delay.
                    _ => event.due = Some(Instant::now() + later),
                }
            }
            if newly_acknowledged {
                state.events_acknowledged += 1;
            }
            state.acks.push(Ack {
                message_id,
                code,
                status,
                connection,
                json,
            });
        }
        drop(state);
        self.changed();
    }

    fn on_closed(&self, connection: u64, by: ClosedBy) {
        let mut state = self.state();
        state.connections.remove(&connection);
        state
            .history
            .push(ConnectionEvent::Closed { connection, by });
        // What was sent on it and never acknowledged goes out again at once.
        let now = Instant::now();
        for event in state.events.iter_mut().filter(|e| !e.acked) {
            if event.deliveries.last() == Some(&connection) {
                event.due = Some(now);
            }
        }
        Self::deliver_due(&mut state);
        drop(state);
        self.changed();
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(OPEN_PATH, post(open))
        .route("/connect", get(upgrade))
        .with_state(inner)
}

/// Runs the fake's timers until the fake is dropped.
pub(crate) async fn pump(inner: Arc<Inner>) {
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        inner.tick();
    }
}

async fn open(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |name: &str| request[name].as_str().map(str::to_owned);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let accept = header("accept");
    let mut state = inner.state();
    state.open_requests.push(OpenRequest {
        client_id: text("clientId").unwrap_or_default(),
        client_secret: text("clientSecret").unwrap_or_default(),
        subscriptions: request["subscriptions"].clone(),
        ua: text("ua"),
        local_ip: text("localIp"),
        accept: accept.clone(),
        user_agent: header("user-agent"),
        body: request.clone(),
    });
    let credentials_ok = text("clientId").as_deref() == Some(state.client_id.as_str())
        && text("clientSecret").as_deref() == Some(state.client_secret.as_str());
    let answer = if let Some((status, body)) = state.open_rejection.clone() {
        (
            StatusCode::from_u16(status).expect("a valid status"),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    } else if !credentials_ok {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "code": "invalidClientIdOrSecret",
                "requestid": "fake-request",
                "message": "invalid clientId or clientSecret",
            })),
        )
            .into_response()
    } else {
        let ticket = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            rand::random::<u32>(),
            rand::random::<u16>(),
            rand::random::<u16>(),
            rand::random::<u16>(),
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        state.tickets.insert(ticket.clone(), Instant::now());
        let endpoint = format!("ws://{}/connect", inner.addr);
        if accept
            .as_deref()
            .is_some_and(|a| a.contains("application/json"))
        {
            Json(json!({ "endpoint": endpoint, "ticket": ticket })).into_response()
        } else {
            // The real gateway answers XML unless JSON is asked for.
            (
                [("content-type", "application/xml;charset=utf-8")],
                format!("<OpenConnectionResponse><endpoint>{endpoint}</endpoint><ticket>{ticket}</ticket></OpenConnectionResponse>"),
            )
                .into_response()
        }
    };
    drop(state);
    inner.changed();
    answer
}

async fn upgrade(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let valid = {
        let mut state = inner.state();
        let ticket = query.get("ticket").cloned().unwrap_or_default();
        let valid = state
            .tickets
            .remove(&ticket)
            .is_some_and(|issued| issued.elapsed() < TICKET_LIFETIME);
        if !valid {
            state.refused_handshakes += 1;
        }
        valid
    };
    if !valid {
        inner.changed();
        return (StatusCode::UNAUTHORIZED, "invalid, used or expired ticket").into_response();
    }
    // The connection counts as open from the moment the 101 goes out: the
    // hub may act on its successor being up (closing the one it replaces)
    // before the upgraded socket reaches `serve`.
    let (id, incoming) = inner.register_connection();
    let failed = inner.clone();
    upgrade
        .on_failed_upgrade(move |_| failed.on_closed(id, ClosedBy::Client { clean: false }))
        .on_upgrade(move |socket| serve(inner, id, incoming, socket))
}

impl Inner {
    /// Records a new connection and queues what is due for it.
    fn register_connection(&self) -> (u64, mpsc::UnboundedReceiver<Command>) {
        let (commands, incoming) = mpsc::unbounded_channel();
        let id = {
            let mut state = self.state();
            state.total_connections += 1;
            let id = state.total_connections;
            let next_ping = Instant::now() + state.ping_interval.unwrap_or(Duration::ZERO);
            state.connections.insert(
                id,
                Connection {
                    commands,
                    silent: false,
                    closes_at: None,
                    next_ping,
                },
            );
            state.history.push(ConnectionEvent::Opened(id));
            // What is due (never acknowledged, or sent while nobody was
            // connected) goes out on the new connection.
            Inner::deliver_due(&mut state);
            id
        };
        self.changed();
        (id, incoming)
    }
}

async fn serve(
    inner: Arc<Inner>,
    id: u64,
    mut incoming: mpsc::UnboundedReceiver<Command>,
    socket: WebSocket,
) {
    let (mut sink, mut stream) = socket.split();
    let closed_by = loop {
        tokio::select! {
            command = incoming.recv() => match command {
                Some(Command::Send(frame)) => {
                    let _ = sink.send(Message::Text(frame.into())).await;
                }
                Some(Command::SendThenDrop(frame)) => {
                    let _ = sink.send(Message::Text(frame.into())).await;
                    break ClosedBy::Fake;
                }
                Some(Command::Drop) | None => break ClosedBy::Fake,
            },
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => inner.on_client_text(id, text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    break ClosedBy::Client { clean: frame.is_some_and(|f| f.code == 1000) };
                }
                // WebSocket pings are answered by axum, even when silent.
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break ClosedBy::Client { clean: false },
            },
        }
    };
    // Dropping both halves closes the TCP connection; after a cut, no close
    // frame is sent, as when a network path dies.
    drop(sink);
    drop(stream);
    inner.on_closed(id, closed_by);
}

impl FakeDingTalk {
    /// Accepts only these credentials from now on.
    pub fn set_credentials(&self, client_id: &str, client_secret: &str) {
        let mut state = self.inner.state();
        state.client_id = client_id.to_owned();
        state.client_secret = client_secret.to_owned();
    }

    /// Answers `connections/open` with this status and body from now on.
    pub fn reject_open(&self, status: u16, body: &str) {
        self.inner.state().open_rejection = Some((status, body.to_owned()));
    }

    /// Answers `connections/open` normally again.
    pub fn accept_open(&self) {
        self.inner.state().open_rejection = None;
    }

    /// SYSTEM pings every `interval` on every connection that is not silent
    /// (`None`: only [`send_ping`](Self::send_ping)). Default: every 5 s.
    pub fn set_ping_interval(&self, interval: Option<Duration>) {
        self.inner.state().ping_interval = interval;
    }

    /// How long an event waits for its ack, or after a `LATER`, before it is
    /// sent again. Default: 3 s.
    pub fn set_redelivery_delay(&self, delay: Duration) {
        self.inner.state().redelivery_delay = delay;
    }

    /// How long after a `disconnect` the fake closes the connection itself.
    /// Default: 10 s, as DingTalk.
    pub fn set_disconnect_grace(&self, grace: Duration) {
        self.inner.state().disconnect_grace = grace;
    }

    pub fn open_requests(&self) -> Vec<OpenRequest> {
        self.inner.state().open_requests.clone()
    }

    /// `connections/open` requests received.
    pub fn opens(&self) -> usize {
        self.inner.state().open_requests.len()
    }

    /// Handshakes refused for a missing, used or expired ticket.
    pub fn refused_handshakes(&self) -> u64 {
        self.inner.state().refused_handshakes
    }

    /// Every connection opened and closed, in order.
    pub fn connection_events(&self) -> Vec<ConnectionEvent> {
        self.inner.state().history.clone()
    }

    /// How `connection` ended, if it did.
    pub fn closed_by(&self, connection: u64) -> Option<ClosedBy> {
        self.inner
            .state()
            .history
            .iter()
            .find_map(|event| match event {
                ConnectionEvent::Closed { connection: c, by } if *c == connection => Some(*by),
                _ => None,
            })
    }

    /// Sends one event (`data` is the JSON of the body, sent as a string)
    /// with a fresh `eventId`; returns its `messageId`. Without a connection
    /// it waits for the next one.
    pub fn send_event(&self, event_type: &str, data: &str) -> String {
        self.inner.send(event_type, None, data, false)
    }

    /// Sends one event with the given `eventId`.
    pub fn send_event_with_id(&self, event_type: &str, event_id: &str, data: &str) -> String {
        self.inner.send(event_type, Some(event_id), data, false)
    }

    /// Sends one event, then cuts its connection at once (no close frame),
    /// so that no ack can come back on it. Needs a connection.
    pub fn send_event_then_drop(&self, event_type: &str, data: &str) -> String {
        self.inner.send(event_type, None, data, true)
    }

    /// The `eventId` of the event sent as `message_id`.
    pub fn event_id(&self, message_id: &str) -> String {
        self.inner
            .state()
            .events
            .iter()
            .find(|e| e.message_id == message_id)
            .map(|e| e.event_id.clone())
            .expect("an event the fake sent")
    }

    /// The connections the event was sent on, in order (one per delivery).
    pub fn deliveries(&self, message_id: &str) -> Vec<u64> {
        self.inner
            .state()
            .events
            .iter()
            .find(|e| e.message_id == message_id)
            .map(|e| e.deliveries.clone())
            .unwrap_or_default()
    }

    /// Sends a SYSTEM ping on the newest live connection; returns its
    /// `messageId`.
    pub fn send_ping(&self) -> String {
        let mut state = self.inner.state();
        let target = Inner::target(&state).expect("a live connection to ping");
        let id = Inner::ping(&mut state, target).expect("the target is live");
        drop(state);
        self.inner.changed();
        id
    }

    /// SYSTEM pings sent so far (timer and requests).
    pub fn pings_sent(&self) -> u64 {
        self.inner.state().pings_sent
    }

    /// Sends a SYSTEM `disconnect` on the newest live connection: nothing is
    /// pushed on it any more, and the fake closes it after the grace period
    /// unless the client does first. Returns `(messageId, connection)`.
    pub fn send_disconnect(&self) -> (String, u64) {
        let mut state = self.inner.state();
        let target = Inner::target(&state).expect("a live connection to disconnect");
        let (message_id, frame) = Inner::system_frame(
            &mut state,
            "disconnect",
            json!({ "reason": "persistent connection is timeout" }).to_string(),
        );
        let grace = state.disconnect_grace;
        let connection = state
            .connections
            .get_mut(&target)
            .expect("the target is live");
        connection.closes_at = Some(Instant::now() + grace);
        let _ = connection.commands.send(Command::Send(frame));
        drop(state);
        self.inner.changed();
        (message_id, target)
    }

    /// Every answer to a SYSTEM frame with this topic (`ping`, `disconnect`).
    pub fn system_replies(&self, topic: &str) -> Vec<PingEcho> {
        self.inner
            .state()
            .system_replies
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, reply)| reply.clone())
            .collect()
    }

    /// The answers to one SYSTEM frame.
    pub fn replies_to(&self, message_id: &str) -> Vec<PingEcho> {
        self.inner
            .state()
            .system_replies
            .iter()
            .filter(|(_, reply)| reply.message_id == message_id)
            .map(|(_, reply)| reply.clone())
            .collect()
    }

    /// Cuts every connection, without a close frame.
    pub fn drop_connections(&self) {
        self.inner.drop_connections();
    }

    /// Makes every open connection half-open: it stays up (and answers
    /// WebSocket pings) but no frame is sent on it any more. New connections
    /// are normal.
    pub fn go_silent(&self) {
        let mut state = self.inner.state();
        for connection in state.connections.values_mut() {
            connection.silent = true;
        }
        drop(state);
        self.inner.changed();
    }

    /// Sends every event not yet acknowledged `SUCCESS` again now (DingTalk's
    /// own retry schedule, brought forward).
    pub fn redeliver_pending(&self) {
        let mut state = self.inner.state();
        let now = Instant::now();
        for event in state.events.iter_mut().filter(|e| !e.acked) {
            event.due = Some(now);
        }
        Inner::deliver_due(&mut state);
        drop(state);
        self.inner.changed();
    }

    /// Events sent so far and acknowledged `SUCCESS` (each counted once,
    /// however often it was delivered).
    pub fn events_acknowledged(&self) -> usize {
        self.inner.state().events_acknowledged
    }

    /// Waits until `message_id` is acknowledged `SUCCESS`; returns its acks.
    pub async fn wait_for_success(&self, message_id: &str) -> Vec<Ack> {
        self.wait_for(&format!("a SUCCESS ack of {message_id}"), |fake| {
            let acks = fake.acks_for(message_id);
            acks.iter().any(Ack::is_success).then_some(acks)
        })
        .await
    }

    /// Waits until the SYSTEM frame `message_id` is answered; returns the answers.
    pub async fn wait_for_reply(&self, message_id: &str) -> Vec<PingEcho> {
        self.wait_for(&format!("an answer to {message_id}"), |fake| {
            let replies = fake.replies_to(message_id);
            (!replies.is_empty()).then_some(replies)
        })
        .await
    }

    /// Waits until at least `n` `connections/open` requests arrived.
    pub async fn wait_for_opens(&self, n: usize) {
        self.wait_for(&format!("{n} connections/open request(s)"), |fake| {
            (fake.opens() >= n).then_some(())
        })
        .await
    }
}

// Connections told to disconnect count as open until they close.
impl_fake_gateway!(FakeDingTalk, "DingTalk", Ack);
