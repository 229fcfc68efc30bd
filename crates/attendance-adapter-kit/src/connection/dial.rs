//! The WebSocket dial, bounded in time; the vendor reads a refusal.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A vendor connection's socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a dial failed. The URL carries a one-time ticket, so no variant
/// names it.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("the WebSocket handshake took longer than {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The server answered the upgrade with something other than 101; its
    /// status and headers may say why (each vendor reads them its own way).
    #[error("the WebSocket handshake was refused with HTTP {}", .0.status())]
    Refused(Box<http::Response<Option<Vec<u8>>>>),
    #[error("the WebSocket handshake failed: {0}")]
    Failed(tungstenite::Error),
}

/// Dials `url` (`ws://` or `wss://`): TCP connect, TLS and the WebSocket
/// handshake, all within `timeout`.
pub async fn dial(url: &str, timeout: Duration) -> Result<Socket, DialError> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Err(_) => Err(DialError::TimedOut(timeout)),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => Err(DialError::Refused(response)),
        Ok(Err(error)) => Err(DialError::Failed(error)),
    }
}
