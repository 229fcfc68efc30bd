//! DingTalk Stream mode: the hub dials out to DingTalk's gateway and events
//! arrive as JSON text frames on a WebSocket (protocol notes §1).
//!
//! One supervised loop per app ([`run`]):
//! 1. **Register**: `POST {api_base_url}/v1.0/gateway/connections/open` with
//!    the app's client id and secret and the one EVENT subscription DingTalk
//!    supports (`topic "*"`) answers an `endpoint` and a `ticket`. The ticket
//!    opens exactly one connection, so every (re)connect registers again.
//! 2. **Dial** `endpoint?ticket=…`.
//! 3. **Serve** (one task per connection, the only reader and writer of its
//!    socket): an EVENT is translated and committed in its own task, routed
//!    on `headers.eventType` (never `topic`), and acknowledged `SUCCESS` only
//!    after the sink returned `Ok`, `LATER` otherwise, so that DingTalk
//!    redelivers. Acks, ping echoes and WebSocket pings go through the
//!    connection's loop, so a slow commit never starves a ping. A SYSTEM
//!    `disconnect` is acknowledged, then a new connection is opened *before*
//!    this one is closed (make-before-break). A watchdog on the last frame
//!    received treats a connection silent for [`StreamOptions::watchdog`] as
//!    half-open (it may still answer WebSocket pings) and replaces it the same
//!    way. CALLBACK frames are answered `{"response":null}` so that the server
//!    stops retrying them.
//! 4. **Reconnect** after a loss with exponential backoff and jitter
//!    ([`StreamOptions::backoff`]), registering for a new ticket each time.
//!    Every failure is worth retrying: DingTalk documents no answer that says
//!    otherwise.
//!
//! A connection being replaced keeps serving until its successor is up, then
//! waits (briefly) for its commits in flight so that their acks still go
//! out, and closes with a close frame. The store deduplicates whatever
//! DingTalk redelivers anyway.
//!
//! After a committed delivery is acknowledged, the days and approval
//! instances it calls for are committed with it as jobs ([`PullRouting`]). The state of each
//! app's stream is published on a `watch` channel for health reporting. This
//! module knows nothing of storage; it hands deliveries to a
//! [`DeliverySink`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attendance_proto::ingest::{DeliverySink, Recognition};
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::app::DingTalkApp;
use crate::jobs::PullRouting;
use crate::stream_frame::{self, FrameKind, StreamEvent};
use crate::translate::translate_stream;
use crate::wire::{StreamAck, StreamFrame};

/// The registration path under the app's `api_base_url`.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";

/// The `ua` sent at registration, in the documented `name-sdk-lang/version`
/// form, and the HTTP `User-Agent`.
pub const USER_AGENT: &str = concat!("attendance-hub-rust/v", env!("CARGO_PKG_VERSION"));

/// Registration must not hang: PY waits 10 s, GO 5 s.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The same bound for the TCP connect, TLS and WebSocket handshake (JAVA
/// allows 3 s; a slow network deserves more).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Commits in flight per connection; the rest wait their turn in their task,
/// never in the reader.
const MAX_CONCURRENT_COMMITS: usize = 16;
/// Events held per connection (committing or waiting to). Beyond this an
/// event is left unacknowledged for DingTalk to redeliver, as GO does when
/// its handlers are saturated, so a flood cannot grow memory without bound.
const MAX_PENDING_EVENTS: usize = 256;
/// How long a connection being closed waits for its commits in flight, so
/// that their acks still go out. DingTalk drops a connection 10 s after its
/// `disconnect`, so this stays well below.
const CLOSE_DRAIN: Duration = Duration::from_secs(5);
/// How long to wait for the server's answer to our close frame.
const CLOSE_REPLY: Duration = Duration::from_secs(1);

/// Timings of the Stream client. [`Default`] suits production; tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// A connection on which no frame at all arrived for this long is
    /// presumed half-open and replaced (make-before-break, so a quiet but
    /// healthy connection costs one reconnect and loses nothing). A healthy
    /// connection is reported to carry a SYSTEM frame every 20–30 s; a
    /// zombie may still answer WebSocket pings, so pongs do not count.
    pub watchdog: Duration,
    /// A WebSocket ping goes out this often, to keep NATs and proxies from
    /// dropping an idle connection and to notice a dead socket on write.
    pub keepalive: Duration,
    /// The first pause after a lost connection or a failed attempt.
    pub backoff_min: Duration,
    /// Pauses double up to this.
    pub backoff_max: Duration,
}

impl Default for StreamOptions {
    /// A 60 s watchdog (the protocol notes' advice), a WebSocket ping every
    /// 30 s, and backoff from 1 s up to 60 s (PY and GO both cap at 60 s).
    fn default() -> Self {
        StreamOptions {
            watchdog: Duration::from_secs(60),
            keepalive: Duration::from_secs(30),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl StreamOptions {
    /// The pause before the next attempt after `failures` consecutive
    /// failures (1 or more): `backoff_min` doubling up to `backoff_max`.
    pub fn backoff_base(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.backoff_min
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
            .max(self.backoff_min.min(self.backoff_max))
    }

    /// [`backoff_base`](Self::backoff_base) less up to a fifth at random, so
    /// that hubs cut off together do not come back in step (GO adds up to a
    /// fifth; taking it off keeps `backoff_max` a maximum).
    pub fn backoff(&self, failures: u32) -> Duration {
        let base = self.backoff_base(failures);
        base.mul_f64(1.0 - rand::thread_rng().gen_range(0.0..0.2))
    }
}

/// One DingTalk app that receives its events over Stream.
#[derive(Clone)]
pub struct StreamApp {
    /// Name, credentials and corp id (`client_id`/`client_secret` register
    /// the connection; the rest goes into translation).
    pub app: DingTalkApp,
    /// `https://api.dingtalk.com`, or a test server.
    pub api_base_url: String,
    pub options: StreamOptions,
}

impl std::fmt::Debug for StreamApp {
    // DingTalkApp's own Debug redacts the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamApp")
            .field("app", &self.app)
            .field("api_base_url", &self.api_base_url)
            .field("options", &self.options)
            .finish()
    }
}

/// Where one app's stream stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// The first connection is being set up.
    Connecting,
    /// Connected: events flow.
    Connected,
    /// The connection was lost or could not be made; `attempt` counts the
    /// failures since the last healthy connection.
    Reconnecting { attempt: u32, last_error: String },
    /// The client cannot run at all (no HTTP client could be built). Only a
    /// restart tries again.
    Failed { reason: String },
    /// Shut down on request.
    Stopped,
}

impl StreamState {
    pub fn is_connected(&self) -> bool {
        matches!(self, StreamState::Connected)
    }
}

impl std::fmt::Display for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamState::Connecting => f.write_str("connecting"),
            StreamState::Connected => f.write_str("connected"),
            StreamState::Reconnecting {
                attempt,
                last_error,
            } => write!(f, "reconnecting (attempt {attempt}): {last_error}"),
            StreamState::Failed { reason } => write!(f, "failed: {reason}"),
            StreamState::Stopped => f.write_str("stopped"),
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs `app`'s Stream client until `shutdown` turns true (or its sender is
/// dropped). Events go to `sink` with the pulls `pulls` routes for them; every change
/// of the stream's state is published on `state`.
pub async fn run(
    app: StreamApp,
    sink: Arc<dyn DeliverySink>,
    pulls: Arc<PullRouting>,
    state: watch::Sender<StreamState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(OPEN_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            let reason = format!("cannot build an HTTP client: {error}");
            tracing::error!(app = %app.app.name, outcome = "failed", %reason, "dingtalk stream");
            state.send_replace(StreamState::Failed { reason });
            return;
        }
    };
    let app = Arc::new(app);
    let name = app.app.name.clone();
    let local_ip = local_ip_towards(&app.api_base_url).await;
    let (notice_tx, mut notices) = mpsc::unbounded_channel::<Notice>();
    let mut sessions: JoinSet<(u64, End)> = JoinSet::new();
    let mut task_sessions: HashMap<tokio::task::Id, u64> = HashMap::new();
    // The connection events are taken from, and its retirement switch.
    let mut current: Option<(u64, watch::Sender<bool>)> = None;
    // Connections being replaced: retired once their successor is up.
    let mut outgoing: Vec<watch::Sender<bool>> = Vec::new();
    let mut next_session = 0_u64;
    let mut failures = 0_u32;
    let mut pause = Duration::ZERO;
    state.send_replace(StreamState::Connecting);

    loop {
        if current.is_none() {
            if !pause.is_zero() {
                tokio::select! {
                    _ = stopped(&mut shutdown) => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            let attempt = tokio::select! {
                _ = stopped(&mut shutdown) => break,
                attempt = connect(&http, &app, &local_ip) => attempt,
            };
            match attempt {
                Ok(socket) => {
                    next_session += 1;
                    let (retire_tx, retire_rx) = watch::channel(false);
                    let session = Session {
                        id: next_session,
                        app: app.clone(),
                        sink: sink.clone(),
                        pulls: pulls.clone(),
                        notices: notice_tx.clone(),
                    };
                    let handle = sessions.spawn(session.serve(socket, retire_rx, shutdown.clone()));
                    task_sessions.insert(handle.id(), next_session);
                    // Make before break: the connections being replaced go
                    // only now that their successor is up.
                    for old in outgoing.drain(..) {
                        let _ = old.send(true);
                    }
                    current = Some((next_session, retire_tx));
                    pause = Duration::ZERO;
                    tracing::info!(app = %name, connection = next_session, outcome = "connected", "dingtalk stream connected");
                    state.send_replace(StreamState::Connected);
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    pause = app.options.backoff(failures);
                    tracing::warn!(
                        app = %name,
                        attempt = failures,
                        retry_in_ms = pause.as_millis() as u64,
                        outcome = "connect_failed",
                        %error,
                        "dingtalk stream could not connect"
                    );
                    state.send_replace(StreamState::Reconnecting {
                        attempt: failures,
                        last_error: error,
                    });
                    continue;
                }
            }
        }

        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            Some(notice) = notices.recv() => {
                if current.as_ref().is_some_and(|(id, _)| *id == notice.session) {
                    let (_, retire) = current.take().expect("checked above");
                    outgoing.push(retire);
                    pause = Duration::ZERO;
                    tracing::info!(
                        app = %name,
                        connection = notice.session,
                        reason = %notice.reason,
                        outcome = "replacing",
                        "dingtalk stream opens a new connection before closing this one"
                    );
                }
            }
            Some(joined) = sessions.join_next_with_id() => {
                let (session, end) = match joined {
                    Ok((task, (session, end))) => {
                        task_sessions.remove(&task);
                        (session, end)
                    }
                    Err(error) => {
                        let session = task_sessions.remove(&error.id()).unwrap_or_default();
                        (session, End::Lost { reason: format!("the connection task failed: {error}"), heard: false })
                    }
                };
                if current.as_ref().is_some_and(|(id, _)| *id == session) {
                    current = None;
                    let (reason, heard) = match end {
                        End::Lost { reason, heard } => (reason, heard),
                        End::Closed => ("the connection closed".to_owned(), true),
                    };
                    if heard {
                        // A connection that worked resets the backoff (PY).
                        failures = 0;
                    }
                    failures = failures.saturating_add(1);
                    pause = app.options.backoff(failures);
                    tracing::warn!(
                        app = %name,
                        connection = session,
                        retry_in_ms = pause.as_millis() as u64,
                        outcome = "lost",
                        %reason,
                        "dingtalk stream connection lost; reconnecting"
                    );
                    state.send_replace(StreamState::Reconnecting { attempt: failures, last_error: reason });
                } else {
                    tracing::debug!(app = %name, connection = session, "a replaced dingtalk stream connection ended");
                }
            }
        }
    }

    // Every session sees the shutdown too: it stops taking events, sends the
    // acks of its commits in flight and closes.
    while sessions.join_next().await.is_some() {}
    drop((current, outgoing));
    tracing::info!(app = %name, outcome = "stopped", "dingtalk stream stopped");
    state.send_replace(StreamState::Stopped);
}

/// Completes when shutdown (or retirement) is requested, or when nobody can
/// request it any more.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The address this host reaches the gateway from, for the `localIp` field
/// (PY finds it the same way: a UDP socket "connected" to a remote address
/// sends nothing). Empty when it cannot be told; the field is optional.
async fn local_ip_towards(api_base_url: &str) -> String {
    let Ok(url) = reqwest::Url::parse(api_base_url) else {
        return String::new();
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return String::new();
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(Some(remote)) = tokio::net::lookup_host((host, port))
        .await
        .map(|mut addrs| addrs.next())
    else {
        return String::new();
    };
    let any = if remote.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let Ok(socket) = tokio::net::UdpSocket::bind(any).await else {
        return String::new();
    };
    if socket.connect(remote).await.is_err() {
        return String::new();
    }
    socket
        .local_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct OpenResponse {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    ticket: String,
}

/// One attempt: register, then dial.
async fn connect(
    http: &reqwest::Client,
    app: &StreamApp,
    local_ip: &str,
) -> Result<Socket, String> {
    let url = open_connection(http, app, local_ip).await?;
    dial(&url).await
}

/// The body of `connections/open`: credentials, the one EVENT subscription
/// DingTalk supports (event types are chosen in the console), `ua` and
/// `localIp`.
fn open_request(app: &StreamApp, local_ip: &str) -> Value {
    serde_json::json!({
        "clientId": app.app.client_id,
        "clientSecret": app.app.client_secret,
        "subscriptions": [{"type": "EVENT", "topic": "*"}],
        "ua": USER_AGENT,
        "localIp": local_ip,
    })
}

/// `POST {api_base_url}/v1.0/gateway/connections/open`; the WebSocket URL
/// with its one-time ticket.
async fn open_connection(
    http: &reqwest::Client,
    app: &StreamApp,
    local_ip: &str,
) -> Result<reqwest::Url, String> {
    let url = format!("{}{OPEN_PATH}", app.api_base_url.trim_end_matches('/'));
    let response = http
        .post(&url)
        // Without it the gateway answers XML (NODE).
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&open_request(app, local_ip))
        .send()
        .await
        .map_err(|error| format!("connections/open failed: {}", without_url(&error)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| format!("connections/open: {}", without_url(&error)))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "connections/open answered HTTP {status}: {}",
            excerpt(&body)
        ));
    }
    ws_url(&body)
}

/// The WebSocket URL from a `connections/open` answer: `endpoint` with the
/// ticket added to its query (percent-encoded, as PY does).
fn ws_url(body: &[u8]) -> Result<reqwest::Url, String> {
    let answer: OpenResponse = serde_json::from_slice(body).map_err(|error| {
        format!(
            "connections/open answered no JSON endpoint ({error}): {}",
            excerpt(body)
        )
    })?;
    // GO refuses an answer without either.
    if answer.endpoint.is_empty() || answer.ticket.is_empty() {
        return Err("connections/open answered no endpoint or no ticket".into());
    }
    let mut url = reqwest::Url::parse(&answer.endpoint).map_err(|error| {
        format!(
            "connections/open answered a bad endpoint {:?}: {error}",
            answer.endpoint
        )
    })?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!(
            "connections/open answered a {}:// endpoint, not ws:// or wss://",
            url.scheme()
        ));
    }
    url.query_pairs_mut().append_pair("ticket", &answer.ticket);
    Ok(url)
}

/// The start of an answer body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// reqwest's errors name the URL; the message reads better without it.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

async fn dial(url: &reqwest::Url) -> Result<Socket, String> {
    // The URL carries the ticket: it is never logged.
    let host = url.host_str().unwrap_or_default().to_owned();
    match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    {
        Err(_) => Err(format!(
            "the WebSocket handshake with {host} took longer than {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        )),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => Err(format!(
            "the WebSocket handshake with {host} was refused with HTTP {}",
            response.status()
        )),
        Ok(Err(error)) => Err(format!(
            "the WebSocket handshake with {host} failed: {error}"
        )),
    }
}

/// A session asks the supervisor for a replacement.
struct Notice {
    session: u64,
    reason: String,
}

/// How a connection's task ended.
enum End {
    /// Closed by us (replaced, or shutting down), after its acks went out.
    Closed,
    /// Lost. `heard`: at least one frame arrived on it first.
    Lost { reason: String, heard: bool },
}

/// One established connection.
struct Session {
    id: u64,
    app: Arc<StreamApp>,
    sink: Arc<dyn DeliverySink>,
    pulls: Arc<PullRouting>,
    notices: mpsc::UnboundedSender<Notice>,
}

/// Why a connection is being closed, and until when its commits may finish.
struct Closing {
    deadline: Instant,
    shutdown: bool,
}

/// What a frame needs right away.
enum Action {
    Nothing,
    Reply(StreamAck),
    /// Reply, then ask for a replacement.
    ReplyAndReplace(StreamAck, String),
}

impl Session {
    /// The connection's one loop: the only reader and the only writer.
    async fn serve(
        self,
        socket: Socket,
        mut retire: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) -> (u64, End) {
        let (mut writer, mut reader) = socket.split();
        let (ack_tx, mut ack_rx) = mpsc::channel::<StreamAck>(64);
        let commits = Arc::new(Semaphore::new(MAX_CONCURRENT_COMMITS));
        let mut in_flight = JoinSet::new();
        let options = self.app.options;
        let mut watchdog = Instant::now() + options.watchdog;
        let mut next_keepalive = Instant::now() + options.keepalive;
        // A replacement was asked for; the watchdog has done its job.
        let mut replacing = false;
        let mut heard = false;
        let mut closing: Option<Closing> = None;

        let end = loop {
            if closing.is_some() && in_flight.is_empty() && ack_rx.is_empty() {
                break End::Closed;
            }
            let shutting_down = closing.as_ref().is_some_and(|c| c.shutdown);
            let close_deadline = closing.as_ref().map(|c| c.deadline);
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown), if !shutting_down => {
                    let deadline = close_deadline.unwrap_or_else(|| Instant::now() + CLOSE_DRAIN);
                    closing = Some(Closing { deadline, shutdown: true });
                }
                // An error means the supervisor is gone: close as well.
                _ = stopped(&mut retire), if closing.is_none() => {
                    closing = Some(Closing { deadline: Instant::now() + CLOSE_DRAIN, shutdown: false });
                }
                Some(ack) = ack_rx.recv() => {
                    if let Err(error) = writer.send(Message::text(ack.to_json())).await {
                        break End::Lost { reason: format!("sending an ack failed: {error}"), heard };
                    }
                }
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep_until(close_deadline.unwrap_or(next_keepalive)), if close_deadline.is_some() => {
                    tracing::warn!(
                        app = %self.app.app.name,
                        connection = self.id,
                        pending = in_flight.len(),
                        "commits still running at close; DingTalk will redeliver their events"
                    );
                    break End::Closed;
                }
                _ = tokio::time::sleep_until(next_keepalive) => {
                    next_keepalive = Instant::now() + options.keepalive;
                    if let Err(error) = writer.send(Message::Ping(Vec::new().into())).await {
                        break End::Lost { reason: format!("sending a WebSocket ping failed: {error}"), heard };
                    }
                }
                _ = tokio::time::sleep_until(watchdog), if !replacing && closing.is_none() => {
                    replacing = true;
                    let reason = format!(
                        "no frame for {} s: the connection is presumed dead",
                        options.watchdog.as_secs_f64()
                    );
                    tracing::warn!(app = %self.app.app.name, connection = self.id, outcome = "silent", %reason, "dingtalk stream watchdog");
                    self.replace(reason);
                }
                message = reader.next() => {
                    let message = match message {
                        None => break End::Lost { reason: "the server closed the connection".into(), heard },
                        Some(Err(error)) => break End::Lost { reason: format!("reading failed: {error}"), heard },
                        Some(Ok(message)) => message,
                    };
                    match message {
                        Message::Text(text) => {
                            heard = true;
                            watchdog = Instant::now() + options.watchdog;
                            let action = self.on_text(text.as_str(), shutting_down, &mut in_flight, &commits, &ack_tx);
                            let (reply, replace) = match action {
                                Action::Nothing => (None, None),
                                Action::Reply(reply) => (Some(reply), None),
                                Action::ReplyAndReplace(reply, reason) => (Some(reply), Some(reason)),
                            };
                            if let Some(reply) = reply {
                                if let Err(error) = writer.send(Message::text(reply.to_json())).await {
                                    break End::Lost { reason: format!("sending a reply failed: {error}"), heard };
                                }
                            }
                            if let Some(reason) = replace {
                                if !replacing && closing.is_none() {
                                    replacing = true;
                                    self.replace(reason);
                                }
                            }
                        }
                        Message::Close(frame) => {
                            let detail = frame
                                .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                                .unwrap_or_default();
                            break End::Lost { reason: format!("the server closed the connection{detail}"), heard };
                        }
                        Message::Binary(bytes) => {
                            // Every application frame is text; GO ignores the rest.
                            tracing::debug!(app = %self.app.app.name, connection = self.id, len = bytes.len(), "a binary frame ignored");
                        }
                        // WebSocket pings are answered by tungstenite; pongs
                        // prove nothing (a zombie still sends them).
                        _ => {}
                    }
                }
            }
        };

        match &end {
            End::Closed => {
                // Acks that are ready still go out before the close frame.
                while let Ok(ack) = ack_rx.try_recv() {
                    if writer.send(Message::text(ack.to_json())).await.is_err() {
                        break;
                    }
                }
                let shutting_down = closing.as_ref().is_some_and(|c| c.shutdown);
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: if shutting_down {
                        "shutting down"
                    } else {
                        "replaced"
                    }
                    .into(),
                };
                let _ = writer.send(Message::Close(Some(close))).await;
                // Wait briefly for the server's close reply, for a clean close.
                let _ = tokio::time::timeout(CLOSE_REPLY, async {
                    while let Some(Ok(message)) = reader.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                })
                .await;
                tracing::info!(
                    app = %self.app.app.name,
                    connection = self.id,
                    outcome = "closed",
                    reason = if shutting_down { "shutdown" } else { "replaced" },
                    "dingtalk stream connection closed"
                );
                if shutting_down {
                    // Commits past the drain are aborted (rolled back, never
                    // acknowledged) so that the store can close.
                    in_flight.abort_all();
                } else {
                    in_flight.detach_all();
                }
            }
            End::Lost { .. } => {
                // Commits in flight still finish (the store deduplicates the
                // redelivery); only their acks have nowhere to go.
                in_flight.detach_all();
            }
        }
        (self.id, end)
    }

    fn replace(&self, reason: String) {
        let _ = self.notices.send(Notice {
            session: self.id,
            reason,
        });
    }

    fn on_text(
        &self,
        text: &str,
        shutting_down: bool,
        in_flight: &mut JoinSet<()>,
        commits: &Arc<Semaphore>,
        acks: &mpsc::Sender<StreamAck>,
    ) -> Action {
        let app = &self.app.app.name;
        let frame = match stream_frame::parse_frame(text) {
            Ok(frame) => frame,
            Err(error) => {
                // Without a frame there is no messageId to answer.
                tracing::warn!(app = %app, connection = self.id, %error, outcome = "malformed", "a dingtalk stream frame was refused");
                return Action::Nothing;
            }
        };
        match stream_frame::classify(&frame) {
            FrameKind::Event(event) => {
                if shutting_down {
                    tracing::info!(app = %app, connection = self.id, message_id = event.message_id(), outcome = "deferred", "shutting down: the event is left for DingTalk to redeliver");
                } else if in_flight.len() >= MAX_PENDING_EVENTS {
                    tracing::warn!(app = %app, connection = self.id, message_id = event.message_id(), pending = in_flight.len(), outcome = "deferred", "too many events in flight: left for DingTalk to redeliver");
                } else {
                    in_flight.spawn(commit_event(
                        self.app.clone(),
                        self.sink.clone(),
                        self.pulls.clone(),
                        commits.clone(),
                        *event,
                        acks.clone(),
                        self.id,
                    ));
                }
                Action::Nothing
            }
            FrameKind::Ping => Action::Reply(stream_frame::ping_reply(&frame)),
            FrameKind::Disconnect { reason } => {
                let reason = format!(
                    "the server asked to disconnect ({})",
                    reason.as_deref().unwrap_or("no reason given")
                );
                tracing::info!(app = %app, connection = self.id, message_id = message_id(&frame), %reason, "dingtalk stream disconnect");
                // Acknowledged on this connection first: GO notes that
                // closing before the ack makes the server repeat the command.
                Action::ReplyAndReplace(stream_frame::system_ack(&frame), reason)
            }
            FrameKind::OtherSystem { topic } => {
                // CONNECTED, REGISTERED, KEEPALIVE: no SDK answers them.
                tracing::debug!(app = %app, connection = self.id, %topic, "a system frame");
                Action::Nothing
            }
            FrameKind::Callback { topic } => {
                // Not subscribed, so not expected; answered so that the
                // server stops retrying (bot messages need no payload).
                tracing::warn!(app = %app, connection = self.id, %topic, message_id = message_id(&frame), outcome = "callback_ignored", "a dingtalk stream callback answered with an empty response");
                Action::Reply(stream_frame::callback_reply(
                    message_id(&frame),
                    &Value::Null,
                ))
            }
            FrameKind::Unknown { kind } => {
                tracing::warn!(app = %app, connection = self.id, %kind, outcome = "unknown_frame", "a dingtalk stream frame of an unknown type ignored");
                Action::Nothing
            }
        }
    }
}

fn message_id(frame: &StreamFrame) -> &str {
    frame.headers.message_id.as_deref().unwrap_or_default()
}

/// Translates and commits one event, then queues its ack: `SUCCESS` only
/// after the sink committed it, `LATER` when it did not, so that DingTalk
/// redelivers. Its pulls commit with it.
async fn commit_event(
    app: Arc<StreamApp>,
    sink: Arc<dyn DeliverySink>,
    pulls: Arc<PullRouting>,
    commits: Arc<Semaphore>,
    event: StreamEvent,
    acks: mpsc::Sender<StreamAck>,
    connection: u64,
) {
    let name = &app.app.name;
    let message_id = event.message_id().to_owned();
    let mut delivery = translate_stream(&event, &app.app, SystemTime::now().into());
    pulls.attach(&mut delivery);
    let recognition = delivery.recognition.clone();
    let facts = delivery.facts.len();
    let committed = {
        // Closed never: the semaphore lives as long as the session's tasks.
        let _permit = commits.acquire().await;
        sink.commit(delivery).await
    };
    let ack = match committed {
        Ok(receipt) => {
            let outcome = match (&recognition, receipt.duplicate_delivery) {
                (_, true) => "duplicate",
                (Recognition::Translated, false) => "committed",
                (Recognition::Unknown, false) => "unknown_type",
                (Recognition::Untranslatable(_), false) => "untranslatable",
            };
            if let Recognition::Untranslatable(reason) = &recognition {
                tracing::warn!(app = %name, connection, %message_id, event_id = event.event_id(), event_type = event.event_type(), %reason, "dingtalk event could not be translated; stored raw");
            }
            tracing::info!(
                app = %name,
                connection,
                %message_id,
                event_id = event.event_id(),
                event_type = event.event_type(),
                outcome,
                facts,
                appended = receipt.appended,
                "dingtalk stream event committed"
            );
            stream_frame::success_ack(&message_id)
        }
        Err(error) => {
            tracing::error!(
                app = %name,
                connection,
                %message_id,
                event_id = event.event_id(),
                event_type = event.event_type(),
                outcome = "sink_failed",
                %error,
                "dingtalk stream event not committed; acknowledged LATER for redelivery"
            );
            stream_frame::later_ack(&message_id, "not stored; deliver again later")
        }
    };
    if acks.send(ack).await.is_err() {
        tracing::info!(
            app = %name,
            connection,
            %message_id,
            outcome = "ack_lost",
            "the connection ended before the ack; DingTalk will redeliver"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> StreamApp {
        StreamApp {
            app: DingTalkApp {
                name: "main".into(),
                client_id: "dingclient".into(),
                client_secret: "s3cret-value".into(),
                callback_token: String::new(),
                callback_aes_key: String::new(),
                corp_id: Some("dingcorp".into()),
                translation: Default::default(),
            },
            api_base_url: "https://api.dingtalk.com".into(),
            options: StreamOptions::default(),
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", app());
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(shown.contains("dingclient"), "{shown}");
        assert!(shown.contains("**REDACTED**"), "{shown}");
    }

    #[test]
    fn the_open_request_subscribes_to_every_event_and_names_the_client() {
        let body = open_request(&app(), "10.0.0.7");
        assert_eq!(body["clientId"], "dingclient");
        assert_eq!(body["clientSecret"], "s3cret-value");
        assert_eq!(
            body["subscriptions"],
            serde_json::json!([{"type": "EVENT", "topic": "*"}])
        );
        assert_eq!(body["localIp"], "10.0.0.7");
        let ua = body["ua"].as_str().unwrap();
        assert!(ua.starts_with("attendance-hub-rust/v"), "{ua}");
    }

    #[test]
    fn the_ticket_is_added_to_the_endpoint_query() {
        let url = ws_url(
            br#"{"endpoint":"wss://wss-open-connection.dingtalk.com:443/connect","ticket":"7724109a-ea43-4aa2-b803-87d82c5aaee6"}"#,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "wss://wss-open-connection.dingtalk.com/connect?ticket=7724109a-ea43-4aa2-b803-87d82c5aaee6"
        );
        let url =
            ws_url(br#"{"endpoint":"ws://127.0.0.1:9/connect?x=1","ticket":"a b+c"}"#).unwrap();
        assert_eq!(url.as_str(), "ws://127.0.0.1:9/connect?x=1&ticket=a+b%2Bc");
    }

    #[test]
    fn unusable_open_answers_are_errors() {
        for body in [
            &br#"{"endpoint":"","ticket":"t"}"#[..],
            br#"{"endpoint":"wss://h/connect"}"#,
            br#"{"endpoint":"https://h/connect","ticket":"t"}"#,
            br#"{"endpoint":"not a url","ticket":"t"}"#,
            b"<xml>endpoint</xml>",
        ] {
            assert!(ws_url(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let long = "x".repeat(500);
        let error = ws_url(long.as_bytes()).unwrap_err();
        assert!(error.len() < 400, "{error}");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_below() {
        let options = StreamOptions {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ..StreamOptions::default()
        };
        let bases: Vec<u64> = (1..=8).map(|n| options.backoff_base(n).as_secs()).collect();
        assert_eq!(bases, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(options.backoff_base(u32::MAX), Duration::from_secs(60));
        for failures in 1..=10 {
            let base = options.backoff_base(failures);
            let pause = options.backoff(failures);
            assert!(
                pause <= base && pause >= base.mul_f64(0.8),
                "{pause:?} vs {base:?}"
            );
        }
    }

    #[test]
    fn states_read_well_in_health_reports() {
        assert_eq!(StreamState::Connected.to_string(), "connected");
        assert!(StreamState::Connected.is_connected());
        assert!(!StreamState::Connecting.is_connected());
        assert_eq!(
            StreamState::Reconnecting {
                attempt: 3,
                last_error: "refused".into()
            }
            .to_string(),
            "reconnecting (attempt 3): refused"
        );
        assert_eq!(StreamState::Stopped.to_string(), "stopped");
        assert_eq!(
            StreamState::Failed {
                reason: "no client".into()
            }
            .to_string(),
            "failed: no client"
        );
    }
}
