//! DingTalk Stream mode: the hub dials out to DingTalk's gateway and events
//! arrive as JSON text frames on a WebSocket (protocol notes §1).
//!
//! One supervised loop per app ([`run`]), on the adapter kit's connection
//! loop ([`attendance_adapter_kit::connection`]); this module keeps what is
//! DingTalk's:
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
//! instances it calls for are committed with it as jobs ([`PullRouting`]).
//! `open` registers and dials; `session` reads DingTalk's frames and writes
//! its replies and acks. The `localIp` sent at registration comes from the
//! hub ([`LocalAddress`]): only the server binds sockets. The state of each
//! app's stream is published on a `watch` channel for health reporting. This
//! module knows nothing of storage; it hands deliveries to a
//! [`DeliverySink`].

mod open;
mod session;

use std::sync::Arc;
use std::time::Duration;

use attendance_adapter_kit::connection::{self, Backoff, ConnectionState};
use attendance_adapter_kit::LocalAddress;
use attendance_proto::ingest::DeliverySink;
use tokio::sync::watch;

use crate::app::DingTalkApp;
use crate::jobs::PullRouting;

pub use open::{OPEN_PATH, USER_AGENT};

use session::DingTalkStream;

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
    /// Pauses between attempts after a loss or a failed attempt.
    pub backoff: Backoff,
}

impl Default for StreamOptions {
    /// A 60 s watchdog (the protocol notes' advice), a WebSocket ping every
    /// 30 s, and backoff from 1 s up to 60 s (PY and GO both cap at 60 s).
    fn default() -> Self {
        StreamOptions {
            watchdog: Duration::from_secs(60),
            keepalive: Duration::from_secs(30),
            backoff: Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
        }
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
    /// Tells the `localIp` sent at registration.
    pub local_address: Arc<dyn LocalAddress>,
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

/// Runs `app`'s Stream client until `shutdown` turns true (or its sender is
/// dropped). Events go to `sink` with the pulls `pulls` routes for them; every change
/// of the stream's state is published on `state`.
pub async fn run(
    app: StreamApp,
    sink: Arc<dyn DeliverySink>,
    pulls: Arc<PullRouting>,
    state: watch::Sender<ConnectionState>,
    shutdown: watch::Receiver<bool>,
) {
    let http = match open::http_client() {
        Ok(http) => http,
        Err(error) => {
            let reason = format!("cannot build an HTTP client: {error}");
            connection::cannot_run("dingtalk stream", &app.app.name, reason, &state);
            return;
        }
    };
    let local_ip = app.local_address.towards(&app.api_base_url).await;
    let protocol = DingTalkStream {
        app,
        http,
        local_ip,
        pulls,
    };
    connection::run(protocol, sink, state, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_adapter_kit::runtime::UnknownLocalAddress;

    pub(super) fn app() -> StreamApp {
        StreamApp {
            app: DingTalkApp {
                name: "main".into(),
                client_id: "dingclient".into(),
                client_secret: "s3cret-value".into(),
                callback_token: Default::default(),
                callback_aes_key: Default::default(),
                corp_id: Some("dingcorp".into()),
                translation: Default::default(),
            },
            api_base_url: "https://api.dingtalk.com".into(),
            options: StreamOptions::default(),
            local_address: Arc::new(UnknownLocalAddress),
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", app());
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(shown.contains("dingclient"), "{shown}");
        assert!(shown.contains("**REDACTED**"), "{shown}");
    }
}
