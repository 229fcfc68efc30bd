//! The Feishu long connection: events pushed over a WebSocket the hub dials
//! out to, instead of webhooks Feishu posts in (protocol notes §2).
//!
//! One supervised loop per app ([`run`]), on the adapter kit's connection
//! loop ([`attendance_adapter_kit::connection`]); this module keeps what is
//! Feishu's:
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
//! `discovery` finds and dials the gateway; `session` reads Feishu's frames
//! (pongs, fragments, events) and writes its pings and acks. The state of
//! each connection is published on a `watch` channel for health reporting.
//! This module knows nothing of storage; it hands deliveries to a
//! [`DeliverySink`].

mod discovery;
mod session;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attendance_adapter_kit::connection::{self, ConnectionState};
use attendance_adapter_kit::Secret;
use attendance_proto::ingest::DeliverySink;
use serde::Deserialize;
use tokio::sync::watch;

pub use discovery::{
    ENDPOINT_PATH, HEADER_HANDSHAKE_AUTH_ERR_CODE, HEADER_HANDSHAKE_MSG, HEADER_HANDSHAKE_STATUS,
};

use session::FeishuLongConnection;

/// One Feishu app that receives its events over a long connection.
#[derive(Debug, Clone)]
pub struct LongConnectionApp {
    /// The configured name: `Source.app` and the name in health reports.
    pub name: String,
    /// Feishu's `cli_…` id.
    pub app_id: String,
    /// The app secret: the connection's only credential.
    pub app_secret: Secret,
    /// `https://open.feishu.cn`, `https://open.larksuite.com`, or a test server.
    pub base_url: String,
    /// The configured `time_zone` (see [`crate::translate::Recipient::zone`]).
    pub time_zone: chrono_tz::Tz,
    /// Whether the app pulls (see [`crate::translate::Recipient::pulls`]).
    pub pulls: bool,
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
pub(crate) struct ConfigUpdate {
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
    pub(crate) fn apply(&mut self, update: &ConfigUpdate) {
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

/// Runs `app`'s long connection until `shutdown` turns true (or its sender
/// is dropped), or until a fatal error. Events go to `sink`; every change of
/// the connection's state is published on `state`.
pub async fn run(
    app: LongConnectionApp,
    sink: Arc<dyn DeliverySink>,
    state: watch::Sender<ConnectionState>,
    shutdown: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(discovery::DISCOVERY_TIMEOUT)
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            let reason = format!("cannot build an HTTP client: {error}");
            connection::cannot_run("feishu long connection", &app.name, reason, &state);
            return;
        }
    };
    let protocol = FeishuLongConnection {
        app,
        http,
        config: Mutex::new(ClientConfig::default()),
    };
    connection::run(protocol, sink, state, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
