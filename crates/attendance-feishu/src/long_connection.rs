//! The Feishu long connection: events pushed over a WebSocket the hub dials
//! out to, instead of webhooks Feishu posts in (protocol notes §2).
//!
//! One supervised loop per app ([`run`]):
//! 1. **Discovery**: `POST {base_url}/callback/ws/endpoint` with the app's id
//!    and secret returns a `wss://` URL carrying a one-time ticket, a
//!    `service_id` for every frame, and the client configuration (ping and
//!    reconnect timings). Every (re)connect discovers again.
//! 2. **Dial** the URL. Feishu refuses a handshake with `Handshake-*` headers.
//! 3. **Serve**: ping every `PingInterval` (a pong may carry a new
//!    configuration); reassemble data frames; for each event, verify,
//!    translate and commit it in its own task, and acknowledge `{"code":200}`
//!    only after the commit returned `Ok` (`{"code":500}` otherwise, so that
//!    Feishu redelivers). A slow commit never holds up pings: one writer
//!    sends pings and acks, fed through a channel. No inbound frame for
//!    `PingInterval` plus a grace period means a half-open connection; it is
//!    torn down (the Go, Python and Java SDKs never notice one).
//! 4. **Reconnect** after a random pause below `ReconnectNonce`, then every
//!    `ReconnectInterval`, `ReconnectCount` times (forever when negative).
//!    Errors Feishu calls client errors (bad credentials, too many
//!    connections, forbidden) are fatal: retrying cannot help.
//!
//! The state of each connection is published on a `watch` channel for health
//! reporting. This module knows nothing of storage; it hands deliveries to a
//! [`DeliverySink`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attendance_proto::ingest::{DeliverySink, Recognition};
use attendance_proto::v1::Channel;
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rand::Rng;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::frame::{self, header, kind, Frame, Reassembler, METHOD_CONTROL, METHOD_DATA};
use crate::translate::{translate, Recipient};
use crate::verify::verify_long_connection_payload;

/// The discovery path under the app's `base_url`.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";

/// Discovery must not hang: the Python SDK's request had no timeout and one
/// bot stayed deaf for days (pitfall 7). 15 s is the Node SDK's value.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// The same bound for the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Fragments of a split message wait this long after the last one arrived
/// (Go and Python 5 s, Node 10 s, Java 5 min); Feishu redelivers what was
/// never acknowledged, so dropping a stale half is safe.
const FRAGMENT_TTL: Duration = Duration::from_secs(10);
/// Commits in flight per connection; the rest wait their turn in their task,
/// never in the reader.
const MAX_CONCURRENT_COMMITS: usize = 16;
/// How long a shutdown waits for commits in flight, so that their acks still
/// go out before the close frame.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Discovery answered: go on.
const CODE_OK: i64 = 0;
/// Discovery: the server is busy; retry.
const CODE_SYSTEM_BUSY: i64 = 1;
/// Discovery: the server failed; retry.
const CODE_INTERNAL_ERROR: i64 = 1_000_040_343;
/// Handshake status: authentication failed (retryable, unless the auth error
/// code says the connection limit is reached).
const HANDSHAKE_AUTH_FAILED: i64 = 514;
/// Handshake status: this app is banned from connecting.
const HANDSHAKE_FORBIDDEN: i64 = 403;
/// Handshake auth error code: more than 50 connections for this app.
const AUTH_EXCEED_CONN_LIMIT: i64 = 1_000_040_350;

/// Response headers of a refused handshake. HTTP header names are
/// case-insensitive; Go writes `Handshake-Status`, Python and Node read
/// `handshake-status`.
pub const HEADER_HANDSHAKE_STATUS: &str = "handshake-status";
pub const HEADER_HANDSHAKE_MSG: &str = "handshake-msg";
pub const HEADER_HANDSHAKE_AUTH_ERR_CODE: &str = "handshake-autherrcode";

/// One Feishu app that receives its events over a long connection.
#[derive(Clone)]
pub struct LongConnectionApp {
    /// The configured name: `Source.app` and the name in health reports.
    pub name: String,
    /// Feishu's `cli_…` id.
    pub app_id: String,
    /// The app secret: the connection's only credential.
    pub app_secret: String,
    /// `https://open.feishu.cn`, `https://open.larksuite.com`, or a test server.
    pub base_url: String,
    /// The configured `time_zone` (see [`Recipient::zone`]).
    pub time_zone: chrono_tz::Tz,
    /// Whether the app pulls (see [`Recipient::pulls`]).
    pub pulls: bool,
}

impl std::fmt::Debug for LongConnectionApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongConnectionApp")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("app_secret", &"**REDACTED**")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// Where one app's long connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection is being set up.
    Connecting,
    /// Connected: events flow.
    Connected,
    /// The connection was lost or could not be made; `attempt` counts the
    /// tries since then.
    Reconnecting { attempt: u32, last_error: String },
    /// Given up: a fatal error, or `ReconnectCount` exhausted. Only a restart
    /// tries again.
    Failed { reason: String },
    /// Shut down on request.
    Stopped,
}

impl ConnectionState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }
}

impl std::fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionState::Connecting => f.write_str("connecting"),
            ConnectionState::Connected => f.write_str("connected"),
            ConnectionState::Reconnecting {
                attempt,
                last_error,
            } => write!(f, "reconnecting (attempt {attempt}): {last_error}"),
            ConnectionState::Failed { reason } => write!(f, "failed: {reason}"),
            ConnectionState::Stopped => f.write_str("stopped"),
        }
    }
}

/// The timings Feishu hands the client at discovery and in pongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Reconnect attempts after a loss; negative means forever.
    pub reconnect_count: i64,
    /// Pause between reconnect attempts.
    pub reconnect_interval: Duration,
    /// Upper bound of the random pause before the first reconnect attempt.
    pub reconnect_nonce: Duration,
    /// Pause between pings.
    pub ping_interval: Duration,
}

impl Default for ClientConfig {
    /// Every SDK's defaults, used until the server says otherwise.
    fn default() -> Self {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: Duration::from_secs(120),
            reconnect_nonce: Duration::from_secs(30),
            ping_interval: Duration::from_secs(120),
        }
    }
}

/// A configuration as sent (`ClientConfig` in discovery, a pong's payload):
/// seconds, capitalised names, any field possibly missing.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
struct ConfigUpdate {
    #[serde(rename = "ReconnectCount", default)]
    reconnect_count: Option<i64>,
    #[serde(rename = "ReconnectInterval", default)]
    reconnect_interval: Option<i64>,
    #[serde(rename = "ReconnectNonce", default)]
    reconnect_nonce: Option<i64>,
    #[serde(rename = "PingInterval", default)]
    ping_interval: Option<i64>,
}

impl ClientConfig {
    /// Applies the fields the server sent. Go overwrites every field, turning
    /// a missing one into 0; here a missing field keeps its value, and a
    /// pause below one second becomes one second, so that a bad value cannot
    /// make the client spin.
    fn apply(&mut self, update: &ConfigUpdate) {
        let seconds = |value: i64| Duration::from_secs(value.max(1) as u64);
        if let Some(count) = update.reconnect_count {
            self.reconnect_count = count;
        }
        if let Some(interval) = update.reconnect_interval {
            self.reconnect_interval = seconds(interval);
        }
        if let Some(nonce) = update.reconnect_nonce {
            self.reconnect_nonce = Duration::from_secs(nonce.max(0) as u64);
        }
        if let Some(ping) = update.ping_interval {
            self.ping_interval = seconds(ping);
        }
    }

    /// How long the connection may stay silent before it is presumed dead:
    /// one ping interval for the pong to come back, plus a grace period that
    /// grows with the interval (5 s to 30 s), as the protocol notes advise.
    pub fn read_deadline(&self) -> Duration {
        let grace = self
            .ping_interval
            .clamp(Duration::from_secs(5), Duration::from_secs(30));
        self.ping_interval + grace
    }
}

/// Why a connection attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ConnectError {
    /// Busy or failing servers, network trouble: try again later.
    #[error("{0}")]
    Retryable(String),
    /// Feishu's "client errors": retrying cannot help.
    #[error("{0}")]
    Fatal(String),
}

/// Runs `app`'s long connection until `shutdown` turns true (or its sender
/// is dropped), or until a fatal error. Events go to `sink`; every change of
/// the connection's state is published on `state`.
pub async fn run(
    app: LongConnectionApp,
    sink: Arc<dyn DeliverySink>,
    state: watch::Sender<ConnectionState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(DISCOVERY_TIMEOUT)
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            let reason = format!("cannot build an HTTP client: {error}");
            tracing::error!(app = %app.name, outcome = "failed", %reason, "feishu long connection");
            state.send_replace(ConnectionState::Failed { reason });
            return;
        }
    };
    let app = Arc::new(app);
    let mut config = ClientConfig::default();
    let mut lost: Option<String> = None;
    loop {
        let connection = match connect_round(
            &http,
            &app,
            &mut config,
            &state,
            &mut shutdown,
            lost.take(),
        )
        .await
        {
            Round::Connected(connection) => *connection,
            Round::Failed(reason) => {
                tracing::error!(app = %app.name, outcome = "failed", %reason, "feishu long connection gave up");
                state.send_replace(ConnectionState::Failed { reason });
                return;
            }
            Round::Shutdown => break,
        };
        tracing::info!(
            app = %app.name,
            device_id = %connection.device_id,
            service_id = connection.service_id,
            outcome = "connected",
            "feishu long connection established"
        );
        state.send_replace(ConnectionState::Connected);
        let session = Session {
            app: app.clone(),
            sink: sink.clone(),
            service_id: connection.service_id,
        };
        match session
            .serve(connection.socket, &mut config, &mut shutdown)
            .await
        {
            End::Shutdown => break,
            End::Lost(reason) => {
                tracing::warn!(
                    app = %app.name,
                    device_id = %connection.device_id,
                    outcome = "lost",
                    %reason,
                    "feishu long connection lost; reconnecting"
                );
                lost = Some(reason);
            }
        }
    }
    tracing::info!(app = %app.name, outcome = "stopped", "feishu long connection stopped");
    state.send_replace(ConnectionState::Stopped);
}

/// Completes when shutdown is requested, or when nobody can request it any more.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

enum Round {
    // Boxed: a WebSocket stream is large next to the other variants.
    Connected(Box<Connection>),
    Failed(String),
    Shutdown,
}

struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    service_id: i32,
    device_id: String,
}

/// Connects, the way the Go SDK does: on the first start one attempt at
/// once; then (and after every loss) a random pause below `ReconnectNonce`
/// and up to `ReconnectCount` attempts (forever when negative), each
/// discovering the endpoint again, `ReconnectInterval` apart.
async fn connect_round(
    http: &reqwest::Client,
    app: &LongConnectionApp,
    config: &mut ClientConfig,
    state: &watch::Sender<ConnectionState>,
    shutdown: &mut watch::Receiver<bool>,
    lost: Option<String>,
) -> Round {
    let mut last_error = match lost {
        Some(reason) => reason,
        None => {
            state.send_replace(ConnectionState::Connecting);
            tokio::select! {
                _ = stopped(shutdown) => return Round::Shutdown,
                result = try_connect(http, app, config) => match result {
                    Ok(connection) => return Round::Connected(Box::new(connection)),
                    Err(ConnectError::Fatal(reason)) => return Round::Failed(reason),
                    Err(ConnectError::Retryable(reason)) => {
                        tracing::warn!(app = %app.name, outcome = "retry", %reason, "feishu long connection failed");
                        reason
                    }
                },
            }
        }
    };
    state.send_replace(ConnectionState::Reconnecting {
        attempt: 1,
        last_error: last_error.clone(),
    });
    let nonce_ms = config.reconnect_nonce.as_millis() as u64;
    let jitter = if nonce_ms > 0 {
        Duration::from_millis(rand::thread_rng().gen_range(0..nonce_ms))
    } else {
        Duration::ZERO
    };
    tokio::select! {
        _ = stopped(shutdown) => return Round::Shutdown,
        _ = tokio::time::sleep(jitter) => {}
    }
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        state.send_replace(ConnectionState::Reconnecting {
            attempt,
            last_error: last_error.clone(),
        });
        tracing::info!(app = %app.name, attempt, "feishu long connection reconnecting");
        tokio::select! {
            _ = stopped(shutdown) => return Round::Shutdown,
            result = try_connect(http, app, config) => match result {
                Ok(connection) => return Round::Connected(Box::new(connection)),
                Err(ConnectError::Fatal(reason)) => return Round::Failed(reason),
                Err(ConnectError::Retryable(reason)) => {
                    tracing::warn!(app = %app.name, attempt, outcome = "retry", %reason, "feishu long connection failed");
                    last_error = reason;
                }
            },
        }
        if config.reconnect_count >= 0 && i64::from(attempt) >= config.reconnect_count {
            return Round::Failed(format!(
                "no connection after {attempt} reconnect attempts (ReconnectCount {}); last error: {last_error}",
                config.reconnect_count
            ));
        }
        tokio::select! {
            _ = stopped(shutdown) => return Round::Shutdown,
            _ = tokio::time::sleep(config.reconnect_interval) => {}
        }
    }
}

/// One attempt: discovery, then the WebSocket handshake.
async fn try_connect(
    http: &reqwest::Client,
    app: &LongConnectionApp,
    config: &mut ClientConfig,
) -> Result<Connection, ConnectError> {
    let endpoint = discover(http, app).await?;
    if let Some(update) = &endpoint.config {
        config.apply(update);
    }
    let (service_id, device_id) = parse_endpoint_url(&endpoint.url)?;
    let socket = dial(&endpoint.url).await?;
    Ok(Connection {
        socket,
        service_id,
        device_id,
    })
}

#[derive(Deserialize)]
struct EndpointResponse {
    code: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<EndpointData>,
}

#[derive(Deserialize)]
struct EndpointData {
    #[serde(rename = "URL", default)]
    url: String,
    #[serde(rename = "ClientConfig", default)]
    client_config: Option<ConfigUpdate>,
}

struct Endpoint {
    url: String,
    config: Option<ConfigUpdate>,
}

/// `POST {base_url}/callback/ws/endpoint`.
async fn discover(
    http: &reqwest::Client,
    app: &LongConnectionApp,
) -> Result<Endpoint, ConnectError> {
    let url = format!("{}{ENDPOINT_PATH}", app.base_url.trim_end_matches('/'));
    let body = serde_json::json!({ "AppID": app.app_id, "AppSecret": app.app_secret });
    let response = http
        .post(&url)
        .header("locale", "zh")
        .json(&body)
        .send()
        .await
        .map_err(|error| {
            ConnectError::Retryable(format!(
                "endpoint discovery failed: {}",
                without_url(&error)
            ))
        })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(ConnectError::Retryable(format!(
            "endpoint discovery answered HTTP {status}"
        )));
    }
    let bytes = response.bytes().await.map_err(|error| {
        ConnectError::Retryable(format!("endpoint discovery: {}", without_url(&error)))
    })?;
    classify_discovery(&bytes)
}

/// reqwest's errors name the URL; it holds no secret here, but the message
/// reads better without it.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

/// Code handling of a discovery answer (Go `getConnURL`).
fn classify_discovery(body: &[u8]) -> Result<Endpoint, ConnectError> {
    let response: EndpointResponse = serde_json::from_slice(body).map_err(|error| {
        ConnectError::Retryable(format!(
            "endpoint discovery answered no JSON envelope: {error}"
        ))
    })?;
    match response.code {
        CODE_OK => {}
        CODE_SYSTEM_BUSY => {
            return Err(ConnectError::Retryable(format!(
                "endpoint discovery: system busy (code {CODE_SYSTEM_BUSY})"
            )))
        }
        CODE_INTERNAL_ERROR => {
            return Err(ConnectError::Retryable(format!(
                "endpoint discovery: internal error (code {CODE_INTERNAL_ERROR}): {}",
                response.msg
            )))
        }
        code => {
            return Err(ConnectError::Fatal(format!(
                "endpoint discovery refused (code {code}): {}",
                response.msg
            )))
        }
    }
    match response.data {
        Some(data) if !data.url.is_empty() => Ok(Endpoint {
            url: data.url,
            config: data.client_config,
        }),
        _ => Err(ConnectError::Retryable(
            "endpoint discovery returned no URL".into(),
        )),
    }
}

/// The `service_id` (for every frame) and `device_id` (for logs) in the
/// endpoint URL's query. The URL itself carries a ticket and is not logged.
fn parse_endpoint_url(url: &str) -> Result<(i32, String), ConnectError> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        ConnectError::Retryable(format!("endpoint discovery returned a bad URL: {error}"))
    })?;
    if !matches!(parsed.scheme(), "ws" | "wss") {
        return Err(ConnectError::Retryable(format!(
            "endpoint discovery returned a {}:// URL, not ws:// or wss://",
            parsed.scheme()
        )));
    }
    let query = |name: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    // Go parses it with ParseInt and sends 0 when that fails.
    let service_id = query("service_id")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    Ok((service_id, query("device_id").unwrap_or_default()))
}

async fn dial(url: &str) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, ConnectError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(url)).await {
        Err(_) => Err(ConnectError::Retryable(format!(
            "the WebSocket handshake took longer than {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            Err(handshake_refused(response.status(), response.headers()))
        }
        Ok(Err(error)) => Err(ConnectError::Retryable(format!(
            "the WebSocket handshake failed: {error}"
        ))),
    }
}

/// A non-101 handshake answer (Go `parseErr`): the `Handshake-Status` header
/// decides, not the HTTP status.
fn handshake_refused(status: StatusCode, headers: &HeaderMap) -> ConnectError {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let number = |name: &str| text(name).and_then(|value| value.parse::<i64>().ok());
    let message = text(HEADER_HANDSHAKE_MSG).unwrap_or("");
    match number(HEADER_HANDSHAKE_STATUS) {
        Some(HANDSHAKE_AUTH_FAILED) => {
            let auth = number(HEADER_HANDSHAKE_AUTH_ERR_CODE);
            if auth == Some(AUTH_EXCEED_CONN_LIMIT) {
                ConnectError::Fatal(format!(
                    "the handshake was refused: this app has too many connections (status {HANDSHAKE_AUTH_FAILED}, autherrcode {AUTH_EXCEED_CONN_LIMIT}): {message}"
                ))
            } else {
                ConnectError::Retryable(format!(
                    "the handshake failed authentication (status {HANDSHAKE_AUTH_FAILED}, autherrcode {}): {message}",
                    auth.map_or_else(|| "none".to_owned(), |code| code.to_string())
                ))
            }
        }
        Some(HANDSHAKE_FORBIDDEN) => ConnectError::Fatal(format!(
            "the handshake was refused: forbidden (status {HANDSHAKE_FORBIDDEN}): {message}"
        )),
        Some(code) => {
            ConnectError::Retryable(format!("the handshake failed (status {code}): {message}"))
        }
        None => ConnectError::Retryable(format!("the handshake failed with HTTP {status}")),
    }
}

/// How a served connection ended.
enum End {
    Shutdown,
    Lost(String),
}

/// One established connection.
struct Session {
    app: Arc<LongConnectionApp>,
    sink: Arc<dyn DeliverySink>,
    service_id: i32,
}

impl Session {
    /// The connection's one loop: the only reader and the only writer.
    async fn serve(
        self,
        socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
        config: &mut ClientConfig,
        shutdown: &mut watch::Receiver<bool>,
    ) -> End {
        let (mut writer, mut reader) = socket.split();
        let (ack_tx, mut ack_rx) = mpsc::channel::<Frame>(64);
        let commits = Arc::new(Semaphore::new(MAX_CONCURRENT_COMMITS));
        let mut in_flight = JoinSet::new();
        let mut fragments = Reassembler::new(FRAGMENT_TTL);
        let mut last_ping = Instant::now();
        // The first ping goes out at once (as in every SDK).
        let mut next_ping = last_ping;
        let mut deadline = Instant::now() + config.read_deadline();

        let end = loop {
            tokio::select! {
                biased;
                _ = stopped(shutdown) => break End::Shutdown,
                Some(ack) = ack_rx.recv() => {
                    if let Err(error) = writer.send(Message::binary(ack.encode_to_vec())).await {
                        break End::Lost(format!("sending an ack failed: {error}"));
                    }
                }
                _ = tokio::time::sleep_until(next_ping) => {
                    let ping = frame::ping(self.service_id).encode_to_vec();
                    if let Err(error) = writer.send(Message::binary(ping)).await {
                        break End::Lost(format!("sending a ping failed: {error}"));
                    }
                    last_ping = Instant::now();
                    next_ping = last_ping + config.ping_interval;
                    let dropped = fragments.expire(std::time::Instant::now());
                    if dropped > 0 {
                        tracing::warn!(app = %self.app.name, dropped, outcome = "fragments_expired", "incomplete split messages dropped; Feishu will redeliver them");
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    break End::Lost(format!(
                        "nothing received for {} s (ping interval {} s): the connection is presumed dead",
                        config.read_deadline().as_secs(),
                        config.ping_interval.as_secs()
                    ));
                }
                message = reader.next() => {
                    let message = match message {
                        None => break End::Lost("the server closed the connection".into()),
                        Some(Err(error)) => break End::Lost(format!("reading failed: {error}")),
                        Some(Ok(message)) => message,
                    };
                    deadline = Instant::now() + config.read_deadline();
                    match message {
                        Message::Binary(bytes) => {
                            let ping_interval = config.ping_interval;
                            self.on_frame(&bytes, config, &mut fragments, &mut in_flight, &commits, &ack_tx);
                            if config.ping_interval != ping_interval {
                                next_ping = last_ping + config.ping_interval;
                                deadline = Instant::now() + config.read_deadline();
                            }
                        }
                        Message::Close(frame) => {
                            let reason = frame.map(|f| format!(" ({} {})", u16::from(f.code), f.reason)).unwrap_or_default();
                            break End::Lost(format!("the server closed the connection{reason}"));
                        }
                        Message::Text(text) => {
                            tracing::warn!(app = %self.app.name, len = text.len(), "a text message on the long connection ignored");
                        }
                        // WebSocket-level pings are answered by tungstenite.
                        _ => {}
                    }
                }
            }
            // Reap finished commit tasks so the set does not grow.
            while in_flight.try_join_next().is_some() {}
        };

        match end {
            End::Shutdown => {
                // Let commits in flight finish and send their acks, then say goodbye.
                drop(ack_tx);
                let drain = async {
                    while let Some(ack) = ack_rx.recv().await {
                        if writer
                            .send(Message::binary(ack.encode_to_vec()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                };
                if tokio::time::timeout(SHUTDOWN_DRAIN, drain).await.is_err() {
                    tracing::warn!(app = %self.app.name, "commits still running at shutdown; Feishu will redeliver their events");
                }
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "shutting down".into(),
                };
                let _ = writer.send(Message::Close(Some(close))).await;
                // Wait briefly for the server's close reply, for a clean close.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    while let Some(Ok(message)) = reader.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                })
                .await;
                End::Shutdown
            }
            End::Lost(reason) => {
                // Commits in flight still finish (the store deduplicates the
                // redelivery); only their acks have nowhere to go.
                in_flight.detach_all();
                End::Lost(reason)
            }
        }
    }

    fn on_frame(
        &self,
        bytes: &[u8],
        config: &mut ClientConfig,
        fragments: &mut Reassembler,
        in_flight: &mut JoinSet<()>,
        commits: &Arc<Semaphore>,
        acks: &mpsc::Sender<Frame>,
    ) {
        let mut frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(app = %self.app.name, %error, outcome = "undecodable", "a long-connection frame is not pbbp2");
                return;
            }
        };
        let (message_id, sum, seq) = match inbound(&frame) {
            Inbound::Pong(None) => return,
            Inbound::Pong(Some(Ok(update))) => {
                config.apply(&update);
                tracing::debug!(app = %self.app.name, ?config, "client configuration updated by a pong");
                return;
            }
            Inbound::Pong(Some(Err(error))) => {
                tracing::warn!(app = %self.app.name, %error, "a pong's configuration is not JSON; ignored");
                return;
            }
            Inbound::Ignored(what) => {
                tracing::debug!(
                    app = %self.app.name,
                    message_id = frame::header(&frame, header::MESSAGE_ID).unwrap_or_default(),
                    what,
                    outcome = "ignored",
                    "a long-connection frame ignored"
                );
                return;
            }
            Inbound::Event {
                message_id,
                sum,
                seq,
            } => (message_id, sum, seq),
        };
        let payload = frame.payload.take().unwrap_or_default();
        let payload = match fragments.push(
            &message_id,
            sum,
            seq,
            payload,
            std::time::Instant::now(),
        ) {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                tracing::debug!(app = %self.app.name, %message_id, seq, sum, "fragment kept until the message is whole");
                return;
            }
            Err(error) => {
                tracing::warn!(app = %self.app.name, %message_id, %error, outcome = "bad_fragment", "a fragment was refused");
                return;
            }
        };
        in_flight.spawn(commit_event(
            self.app.clone(),
            self.sink.clone(),
            commits.clone(),
            frame,
            message_id,
            payload,
            acks.clone(),
        ));
    }
}

/// What an inbound frame asks of the client.
#[derive(Debug)]
enum Inbound {
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

fn inbound(frame: &Frame) -> Inbound {
    let kind = frame::frame_type(frame);
    match frame.method() {
        METHOD_CONTROL if kind == Some(kind::PONG) => Inbound::Pong(
            frame
                .payload
                .as_deref()
                .filter(|payload| !payload.is_empty())
                .map(|payload| serde_json::from_slice(payload).map_err(|e| e.to_string())),
        ),
        METHOD_CONTROL => Inbound::Ignored("a control frame other than a pong"),
        METHOD_DATA if kind == Some(kind::EVENT) => {
            // Go reads a missing or unreadable number as 0: not split.
            let count = |key| {
                frame::header_int(frame, key)
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                    .unwrap_or(0)
            };
            Inbound::Event {
                message_id: frame::header(frame, header::MESSAGE_ID)
                    .unwrap_or_default()
                    .to_owned(),
                sum: count(header::SUM),
                seq: count(header::SEQ),
            }
        }
        METHOD_DATA if kind == Some(kind::CARD) => Inbound::Ignored("a card callback"),
        METHOD_DATA => Inbound::Ignored("a data frame that is no event"),
        _ => Inbound::Ignored("a frame of an unknown method"),
    }
}

/// Verifies, translates and commits one whole event, then queues its ack:
/// `{"code":200}` only after the sink committed it, `{"code":500}` when it
/// did not (or the payload is no event), so that Feishu redelivers.
async fn commit_event(
    app: Arc<LongConnectionApp>,
    sink: Arc<dyn DeliverySink>,
    commits: Arc<Semaphore>,
    frame: Frame,
    message_id: String,
    payload: Vec<u8>,
    acks: mpsc::Sender<Frame>,
) {
    let started = std::time::Instant::now();
    let code = match verify_long_connection_payload(&app.app_id, &payload) {
        Err(error) => {
            tracing::warn!(
                app = %app.name,
                %message_id,
                outcome = "rejected",
                code = error.code(),
                %error,
                "feishu long-connection payload refused"
            );
            500
        }
        Ok(event) => {
            let delivery = translate(
                &event,
                Recipient {
                    app: &app.name,
                    zone: app.time_zone,
                    pulls: app.pulls,
                },
                Channel::LongConnection,
                SystemTime::now().into(),
            );
            let recognition = delivery.recognition.clone();
            let facts = delivery.facts.len();
            let committed = {
                // Closed never: the semaphore lives as long as the session's tasks.
                let _permit = commits.acquire().await;
                sink.commit(delivery).await
            };
            match committed {
                Ok(receipt) => {
                    let outcome = match (&recognition, receipt.duplicate_delivery) {
                        (_, true) => "duplicate",
                        (Recognition::Translated, false) => "committed",
                        (Recognition::Unknown, false) => "unknown_type",
                        (Recognition::Untranslatable(_), false) => "untranslatable",
                    };
                    tracing::info!(
                        app = %app.name,
                        %message_id,
                        event_id = event.event_id(),
                        event_type = event.event_type(),
                        outcome,
                        facts,
                        appended = receipt.appended,
                        "feishu long-connection event committed"
                    );
                    200
                }
                Err(error) => {
                    tracing::error!(
                        app = %app.name,
                        %message_id,
                        event_id = event.event_id(),
                        event_type = event.event_type(),
                        outcome = "sink_failed",
                        %error,
                        "feishu long-connection event not committed; Feishu will redeliver"
                    );
                    500
                }
            }
        }
    };
    let ack = frame::ack(&frame, code, started.elapsed());
    if acks.send(ack).await.is_err() {
        tracing::info!(
            app = %app.name,
            %message_id,
            code,
            outcome = "ack_lost",
            "the connection ended before the ack; Feishu will redeliver"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn is_fatal(error: &ConnectError) -> bool {
        matches!(error, ConnectError::Fatal(_))
    }

    #[test]
    fn debug_redacts_the_secret() {
        let app = LongConnectionApp {
            name: "main".into(),
            app_id: "cli_1".into(),
            app_secret: "s3cret".into(),
            base_url: "https://open.feishu.cn".into(),
            time_zone: chrono_tz::Asia::Shanghai,
            pulls: false,
        };
        let shown = format!("{app:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("cli_1") && shown.contains("**REDACTED**"),
            "{shown}"
        );
    }

    #[test]
    fn discovery_codes_decide_between_retry_and_giving_up() {
        let ok = br#"{"code":0,"msg":"ok","data":{"URL":"wss://h/ws?device_id=d&service_id=7","ClientConfig":{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":120}}}"#;
        let endpoint = classify_discovery(ok).unwrap();
        assert_eq!(endpoint.url, "wss://h/ws?device_id=d&service_id=7");
        assert_eq!(endpoint.config.unwrap().ping_interval, Some(120));

        for retryable in [
            &br#"{"code":1,"msg":"busy"}"#[..],
            br#"{"code":1000040343,"msg":"internal"}"#,
            br#"{"code":0,"msg":"ok","data":{"URL":""}}"#,
            br#"{"code":0,"msg":"ok","data":null}"#,
            b"<html>gateway</html>",
        ] {
            let error = classify_discovery(retryable).err().unwrap();
            assert!(!is_fatal(&error), "{error}");
        }
        for fatal in [
            &br#"{"code":10003,"msg":"invalid app secret"}"#[..],
            br#"{"code":1000040344,"msg":"no credential"}"#,
            br#"{"code":403,"msg":"x","data":{}}"#,
        ] {
            let error = classify_discovery(fatal).err().unwrap();
            assert!(is_fatal(&error), "{error}");
        }
        let refused = classify_discovery(br#"{"code":10003,"msg":"invalid app secret"}"#)
            .err()
            .unwrap();
        assert!(refused.to_string().contains("10003"), "{refused}");
        assert!(
            refused.to_string().contains("invalid app secret"),
            "{refused}"
        );
    }

    #[test]
    fn handshake_headers_decide_between_retry_and_giving_up() {
        let limit = handshake_refused(
            StatusCode::OK,
            &headers(&[
                ("Handshake-Status", "514"),
                ("Handshake-Msg", "exceed"),
                ("Handshake-Autherrcode", "1000040350"),
            ]),
        );
        assert!(is_fatal(&limit), "{limit}");
        assert!(limit.to_string().contains("1000040350"));

        let auth = handshake_refused(
            StatusCode::OK,
            &headers(&[
                ("handshake-status", "514"),
                ("handshake-autherrcode", "1000040351"),
            ]),
        );
        assert!(!is_fatal(&auth), "{auth}");

        let forbidden = handshake_refused(
            StatusCode::FORBIDDEN,
            &headers(&[("Handshake-Status", "403"), ("Handshake-Msg", "banned")]),
        );
        assert!(is_fatal(&forbidden), "{forbidden}");
        assert!(forbidden.to_string().contains("banned"));

        let other = handshake_refused(StatusCode::OK, &headers(&[("Handshake-Status", "500")]));
        assert!(!is_fatal(&other));
        // Without the header, as in Go, only the header counts: a proxy's 403
        // is no verdict from Feishu.
        let bare = handshake_refused(StatusCode::FORBIDDEN, &HeaderMap::new());
        assert!(!is_fatal(&bare), "{bare}");
    }

    #[test]
    fn the_endpoint_url_gives_the_service_and_device_ids() {
        assert_eq!(
            parse_endpoint_url("wss://msg-frontier.feishu.cn/ws/v2?fpid=493&aid=552564&device_id=dev1&access_key=k&service_id=33554678&ticket=t").unwrap(),
            (33_554_678, "dev1".to_owned())
        );
        assert_eq!(
            parse_endpoint_url("ws://127.0.0.1:1/ws").unwrap(),
            (0, String::new())
        );
        assert_eq!(
            parse_endpoint_url("ws://h/ws?service_id=notanumber")
                .unwrap()
                .0,
            0
        );
        assert!(parse_endpoint_url("https://h/ws").is_err());
        assert!(parse_endpoint_url("not a url").is_err());
    }

    #[test]
    fn configuration_updates_apply_only_what_was_sent() {
        let mut config = ClientConfig::default();
        config.apply(&serde_json::from_str(r#"{"PingInterval":30}"#).unwrap());
        assert_eq!(config.ping_interval, Duration::from_secs(30));
        assert_eq!(config.reconnect_interval, Duration::from_secs(120));
        assert_eq!(config.reconnect_count, -1);

        config.apply(
            &serde_json::from_str(
                r#"{"ReconnectCount":3,"ReconnectInterval":0,"ReconnectNonce":0,"PingInterval":-5}"#,
            )
            .unwrap(),
        );
        assert_eq!(config.reconnect_count, 3);
        assert_eq!(
            config.reconnect_interval,
            Duration::from_secs(1),
            "never a hot loop"
        );
        assert_eq!(config.reconnect_nonce, Duration::ZERO);
        assert_eq!(config.ping_interval, Duration::from_secs(1));
    }

    #[test]
    fn the_read_deadline_is_a_ping_interval_plus_grace() {
        let mut config = ClientConfig::default();
        assert_eq!(config.read_deadline(), Duration::from_secs(150));
        config.ping_interval = Duration::from_secs(1);
        assert_eq!(config.read_deadline(), Duration::from_secs(6));
        config.ping_interval = Duration::from_secs(10);
        assert_eq!(config.read_deadline(), Duration::from_secs(20));
    }

    #[test]
    fn states_read_well_in_health_reports() {
        assert_eq!(ConnectionState::Connected.to_string(), "connected");
        assert!(ConnectionState::Connected.is_connected());
        assert!(!ConnectionState::Connecting.is_connected());
        assert_eq!(
            ConnectionState::Reconnecting {
                attempt: 2,
                last_error: "busy".into()
            }
            .to_string(),
            "reconnecting (attempt 2): busy"
        );
        assert_eq!(
            ConnectionState::Failed {
                reason: "refused".into()
            }
            .to_string(),
            "failed: refused"
        );
        assert_eq!(ConnectionState::Stopped.to_string(), "stopped");
    }

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
            inbound(&event),
            Inbound::Event { message_id, sum: 3, seq: 2 } if message_id == "m"
        ));
        let unsplit = frame_with(METHOD_DATA, &[("type", "event")], Some(b"{}"));
        assert!(matches!(
            inbound(&unsplit),
            Inbound::Event { sum: 0, seq: 0, .. }
        ));
        let negative = frame_with(METHOD_DATA, &[("type", "event"), ("seq", "-1")], None);
        assert!(matches!(
            inbound(&negative),
            Inbound::Event {
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
                matches!(inbound(&ignored), Inbound::Ignored(_)),
                "{ignored:?}"
            );
        }

        let bare = frame::pong(1, None);
        assert!(matches!(inbound(&bare), Inbound::Pong(None)));
        let configured = frame::pong(1, Some(br#"{"PingInterval":7}"#.to_vec()));
        assert!(matches!(
            inbound(&configured),
            Inbound::Pong(Some(Ok(ConfigUpdate {
                ping_interval: Some(7),
                ..
            })))
        ));
        let garbled = frame::pong(1, Some(b"not json".to_vec()));
        assert!(matches!(inbound(&garbled), Inbound::Pong(Some(Err(_)))));
    }

    // The test stands in for Feishu's gateway: only a listening socket shows
    // what `dial` sends first.
    #[allow(clippy::disallowed_methods)]
    #[tokio::test]
    async fn a_wss_url_is_dialled_with_tls() {
        use tokio::io::AsyncReadExt;
        // A server that reads the first TLS record header, then hangs up.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut header = [0u8; 5];
            socket.read_exact(&mut header).await.unwrap();
            header
        });
        let result = dial(&format!("wss://127.0.0.1:{port}/ws")).await;
        assert!(matches!(result, Err(ConnectError::Retryable(_))));
        let header = server.await.unwrap();
        assert_eq!(
            header[0], 0x16,
            "the client opened with a TLS handshake record"
        );
    }
}
