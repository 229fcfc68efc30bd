//! TLS for both listeners (rustls with ring). The certificate and key are
//! read from the configured PEM files at start and again on every SIGHUP;
//! a reload that fails keeps the certificate in use, so a half-written file
//! never takes the hub off the air. Handshakes run beside the accept loop,
//! each with a deadline, so a client that never finishes one holds nothing
//! but its own task.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// `[tls]`: PEM files of the certificate chain and its private key.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Why the certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("tls: {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("tls: {path} holds no PEM private key ({reason})")]
    NoKey { path: PathBuf, reason: String },
    #[error("tls: the key in {path} cannot sign: {reason}")]
    UnusableKey { path: PathBuf, reason: String },
    #[error("tls: {0}")]
    Config(String),
}

/// A handshake not finished within this long is dropped.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 128;

/// The certificate in use, swapped whole by a reload.
#[derive(Debug)]
pub struct CertificateStore {
    config: TlsConfig,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateStore {
    pub fn load(config: &TlsConfig) -> Result<Arc<CertificateStore>, TlsError> {
        let key = certified_key(config)?;
        Ok(Arc::new(CertificateStore {
            config: config.clone(),
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Reads the files again; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = certified_key(&self.config)?;
        *self.current.write().expect("certificate lock") = Arc::new(key);
        Ok(())
    }

    /// A rustls server configuration offering `alpn` that always presents
    /// the current certificate.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certified_key(config: &TlsConfig) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(&config.cert_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: config.cert_path.clone(),
        });
    }
    let key_pem = read(&config.key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: config.key_path.clone(),
        reason: e.to_string(),
    })?;
    let signing_key = any_supported_type(&key).map_err(|e| TlsError::UnusableKey {
        path: config.key_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(CertifiedKey::new(chain, signing_key))
}

/// Reloads `certificates` on every SIGHUP until `stop` turns true.
pub async fn reload_on_hangup(
    certificates: Arc<CertificateStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "no SIGHUP handler: certificates reload only on restart");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = hangups.recv() => match certificates.reload() {
                Ok(()) => tracing::info!(outcome = "reloaded", "tls certificate reloaded"),
                Err(error) => tracing::error!(outcome = "kept", %error, "tls certificate not reloaded; the one in use stays"),
            },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Connections accepted on a TCP listener and handshaken, in the order
/// their handshakes finished.
pub struct TlsIncoming {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsIncoming {
    /// Starts accepting on `listener`; the accept loop ends with the
    /// returned value (its queue closes).
    pub fn start(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        nodelay: bool,
    ) -> io::Result<TlsIncoming> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of descriptors and the like: pause, then go on.
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = tx.closed() => return,
                };
                if nodelay {
                    let _ = tcp.set_nodelay(true);
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "tls handshake failed"),
                        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsIncoming { ready, local })
    }

    /// For tonic: a stream of connections.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<TlsStream<TcpStream>, io::Error>> + Send + 'static {
        tokio_stream::wrappers::ReceiverStream::new(self.ready).map(|(stream, _)| Ok(stream))
    }
}

use futures::StreamExt as _;

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop only ends when this is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a fresh self-signed certificate for `name` and its key.
    fn write_certificate(dir: &Path, name: &str) -> Vec<u8> {
        let issued = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), issued.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), issued.key_pair.serialize_pem()).unwrap();
        issued.cert.der().to_vec()
    }

    fn presented(store: &CertificateStore) -> Vec<u8> {
        store.current.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_reload_swaps_the_certificate_and_a_failed_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_certificate(dir.path(), "first.example");
        let config = TlsConfig {
            cert_path: dir.path().join("cert.pem"),
            key_path: dir.path().join("key.pem"),
        };
        let store = CertificateStore::load(&config).unwrap();
        assert_eq!(presented(&store), first);

        let second = write_certificate(dir.path(), "second.example");
        store.reload().unwrap();
        assert_eq!(presented(&store), second);

        // A half-written key: the reload fails and the second stays.
        std::fs::write(
            dir.path().join("key.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA",
        )
        .unwrap();
        let error = store.reload().unwrap_err().to_string();
        assert!(error.contains("key.pem"), "{error}");
        assert_eq!(presented(&store), second);
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = TlsConfig {
            cert_path: dir.path().join("absent.pem"),
            key_path: dir.path().join("key.pem"),
        };
        let error = CertificateStore::load(&config).unwrap_err().to_string();
        assert!(error.contains("absent.pem"), "{error}");
    }
}
