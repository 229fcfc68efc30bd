//! A fake Feishu over real sockets: one HTTP server on 127.0.0.1 whose base
//! URL a hub uses as an app's `base_url`. It serves the long connection
//! (endpoint discovery and the pbbp2 WebSocket, see [`long_connection`]) and,
//! beside it, the open APIs ([`api`]), so one fake plays the whole vendor.
//!
//! Tests drive it (send events, cut or silence connections, refuse
//! discovery or handshakes) and read what it recorded (discoveries,
//! connections, pings, acks).

pub mod api;
pub mod approvals;
pub mod instances;
pub mod long_connection;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use crate::fake_gateway::FakeGateway;
pub use api::FakeFeishuApi;
pub use approvals::{FakeApproval, FakeApprovalKind};
pub use long_connection::{Ack, ClientConfig, DiscoveryRequest, HandshakeRejection};

/// A running fake Feishu; the server stops when it is dropped.
pub struct FakeFeishu {
    base_url: String,
    pub(crate) inner: Arc<long_connection::Inner>,
    api: FakeFeishuApi,
    server: tokio::task::JoinHandle<()>,
}

impl FakeFeishu {
    /// Starts the fake on a free port. Discovery hands out
    /// [`ClientConfig::fast`] (1 s pings, 1 s reconnects) until a test sets
    /// another with [`set_client_config`](Self::set_client_config).
    pub async fn start() -> FakeFeishu {
        FakeFeishu::start_with_api(FakeFeishuApi::new("cli_fake", "fake-secret")).await
    }

    /// Starts the fake with the given open APIs (their credentials and data).
    pub async fn start_with_api(api: FakeFeishuApi) -> FakeFeishu {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake Feishu binds a port");
        let addr: SocketAddr = listener.local_addr().expect("bound address");
        let inner = Arc::new(long_connection::Inner::new(addr));
        let app = long_connection::router(inner.clone()).merge(api.router());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake Feishu serves");
        });
        FakeFeishu {
            base_url: format!("http://{addr}"),
            inner,
            api,
            server,
        }
    }

    /// The open APIs this fake serves, to set data and inject faults.
    pub fn api(&self) -> &FakeFeishuApi {
        &self.api
    }

    /// `http://127.0.0.1:PORT`: the `base_url` to configure.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for FakeFeishu {
    fn drop(&mut self) {
        self.server.abort();
        self.inner.drop_connections();
    }
}
