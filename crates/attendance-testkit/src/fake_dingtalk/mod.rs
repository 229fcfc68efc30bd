//! A fake DingTalk over real sockets: one HTTP server on 127.0.0.1 whose base
//! URL a hub uses as an app's `api_base_url` (and `oapi_base_url`). It serves
//! the Stream gateway (`connections/open` and the WebSocket, see [`stream`])
//! and, merged beside it, whatever other routes a test passes to
//! [`FakeDingTalk::start_with`] (the open APIs of
//! [`crate::fake_dingtalk_api`], for one), so one fake plays the whole vendor.
//!
//! Tests drive it (send events, pings and `disconnect`s, cut or silence
//! connections, refuse registrations) and read what it recorded
//! (registrations, connections, acks, ping echoes).

pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use crate::fake_gateway::FakeGateway;
pub use stream::{
    Ack, ClosedBy, ConnectionEvent, OpenRequest, PingEcho, CLIENT_ID, CLIENT_SECRET, CORP_ID, WAIT,
};

/// A running fake DingTalk; the server stops when it is dropped.
pub struct FakeDingTalk {
    base_url: String,
    pub(crate) inner: Arc<stream::Inner>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FakeDingTalk {
    /// Starts the fake Stream gateway alone on a free port.
    pub async fn start() -> FakeDingTalk {
        FakeDingTalk::start_with(Router::new()).await
    }

    /// Starts the fake with `extra` merged beside the Stream gateway's routes
    /// (`POST /v1.0/gateway/connections/open`, `GET /connect`), e.g.
    /// `FakeDingTalkApi::router()`: the place to plug in more of DingTalk.
    pub async fn start_with(extra: Router) -> FakeDingTalk {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake DingTalk binds a port");
        let addr: SocketAddr = listener.local_addr().expect("bound address");
        let inner = Arc::new(stream::Inner::new(addr));
        let app = stream::router(inner.clone()).merge(extra);
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake DingTalk serves");
        });
        let pump = tokio::spawn(stream::pump(inner.clone()));
        FakeDingTalk {
            base_url: format!("http://{addr}"),
            inner,
            tasks: vec![server, pump],
        }
    }

    /// `http://127.0.0.1:PORT`: the `api_base_url` (and `oapi_base_url`) to
    /// configure.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for FakeDingTalk {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.inner.drop_connections();
    }
}
