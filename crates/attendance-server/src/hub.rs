//! Composition: open the store, bind both listeners, serve gRPC (with health
//! and reflection, behind access control) and HTTP, and shut down gracefully.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attendance_adapter_kit::health::{ConnectionHealth, HealthReport};
use attendance_adapter_kit::reconcile::run_schedule;
use attendance_adapter_kit::{HubContext, LocalAddress, VendorRuntime};
use attendance_core::{Store, StoreError, StoreOptions};
use attendance_proto::framed::attendance_service_server::AttendanceServiceServer;
use attendance_proto::v1::admin_service_server::AdminServiceServer;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::access::{AccessPolicy, AuthenticateLayer};
use crate::admin::AdminApi;
use crate::config::{Config, ConfigError};
use crate::grpc::AttendanceApi;
use crate::rate_limit::RouteLimits;
use crate::tls::{CertificateStore, TlsIncoming};

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// The local address the operating system routes a remote host from,
/// learnt the way DingTalk's Python SDK does: a UDP socket "connected" to the
/// remote address sends nothing, yet knows its local end. Only the server
/// binds sockets, so vendors ask this (DingTalk's `localIp`).
struct RoutedLocalAddress;

#[async_trait::async_trait]
impl LocalAddress for RoutedLocalAddress {
    async fn towards(&self, url: &str) -> String {
        let Ok(url) = url.parse::<axum::http::Uri>() else {
            return String::new();
        };
        let known_port = match url.scheme_str() {
            Some("https" | "wss") => Some(443),
            Some("http" | "ws") => Some(80),
            _ => None,
        };
        let (Some(host), Some(port)) = (url.host(), url.port_u16().or(known_port)) else {
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
}

/// Why the hub could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("access control: {0}")]
    Access(#[from] ConfigError),
    #[error("cannot open storage: {0}")]
    Storage(#[from] StoreError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("reflection service: {0}")]
    Reflection(String),
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A hub whose store is open and whose sockets are bound, ready to run.
pub struct Hub {
    config: Config,
    access: AccessPolicy,
    store: Store,
    grpc: TcpListener,
    http: TcpListener,
    /// Set when both listeners speak TLS.
    certificates: Option<Arc<CertificateStore>>,
}

async fn listen(what: &'static str, addr: SocketAddr) -> Result<TcpListener, HubError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HubError::Bind { what, addr, source })
}

impl Hub {
    /// Opens (and migrates) the store and binds both listeners. Port 0 picks a free port.
    /// A config that would open gRPC beyond loopback without clients is refused
    /// here too, so a config built in code cannot skip the check.
    pub async fn bind(config: Config) -> Result<Hub, HubError> {
        // Before anything records: what is recorded without a recorder is lost.
        crate::metrics::handle();
        // A certificate that cannot be read fails the start, before storage.
        let certificates = config
            .tls
            .as_ref()
            .map(CertificateStore::load)
            .transpose()?;
        let access = AccessPolicy::from_config(&config.server, &config.clients)?;
        if access.is_open() && !config.server.grpc_listen.ip().is_loopback() {
            tracing::warn!(
                grpc = %config.server.grpc_listen,
                "gRPC serves every tenant's data without authentication beyond loopback \
                 (server.allow_unauthenticated)"
            );
        }
        let store = Store::connect(StoreOptions {
            url: config.storage.url.clone(),
            max_connections: config.storage.max_connections,
            ..StoreOptions::new(config.storage.url.clone())
        })
        .await?;
        let grpc = listen("gRPC", config.server.grpc_listen).await?;
        let http = listen("HTTP", config.server.http_listen).await?;
        Ok(Hub {
            config,
            access,
            store,
            grpc,
            http,
            certificates,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops taking requests, ends
    /// subscriptions (clients resume from their cursor elsewhere), lets
    /// in-flight webhooks finish their commit, and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HubError> {
        let Hub {
            config,
            access,
            store,
            grpc,
            http,
            certificates,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<AttendanceServiceServer<AttendanceApi>>()
            .await;
        health.set_serving::<AdminServiceServer<AdminApi>>().await;
        // grpcurl speaks v1alpha, newer clients v1: one set of descriptors, both protocols.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(attendance_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| HubError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| HubError::Reflection(e.to_string()))?;
        let api = AttendanceApi {
            store: store.clone(),
            heartbeat: Duration::from_secs(config.server.heartbeat_seconds),
        };
        // Each vendor crate builds its own routes, connections, background
        // work and reconcilable apps from its config section: one line each.
        let context = HubContext {
            store: Arc::new(store.clone()),
            stop: stop_rx.clone(),
            body_limit: config.server.max_body_bytes,
            schedule: config.reconciliation.clone(),
            local_address: Arc::new(RoutedLocalAddress),
        };
        let vendors = attendance_feishu::start(&config.feishu, &context)
            .merge(attendance_dingtalk::start(&config.dingtalk, &context));
        let VendorRuntime {
            routes,
            tasks: vendor_tasks,
            health: connections,
            reconcilers,
            unreconciled,
            retranslators,
            report_checkers,
        } = vendors;
        let scheduled = tokio::spawn(run_schedule(
            reconcilers.clone(),
            config.reconciliation.clone(),
            context.store.clone(),
            stop_rx.clone(),
        ));
        let retention = tokio::spawn(crate::retention::run(
            store.clone(),
            config.retention.clone(),
            stop_rx.clone(),
        ));
        let connections = Arc::new(connections);
        let admin = AdminApi {
            store: store.clone(),
            reconcilers,
            unreconciled,
            schedule: config.reconciliation.clone(),
            retranslators,
            report_checkers,
            retention: config.retention.clone(),
            connections: connections.clone(),
        };
        let grpc_router = tonic::transport::Server::builder()
            // Before routing, so that no service is reached unauthenticated
            // and each handler finds its caller in the request's extensions;
            // the layer itself lets health and reflection through.
            .layer(AuthenticateLayer::new(access))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(AttendanceServiceServer::new(api))
            .add_service(AdminServiceServer::new(admin));
        // No Nagle on either listener: a Subscribe stream's entries are small
        // frames that must leave at once, not wait for the client's delayed
        // ACK, and webhook answers likewise.
        let grpc_server: BoxFuture<Result<(), tonic::transport::Error>> =
            match &certificates {
                Some(certificates) => {
                    let tls = certificates.server_config(&[b"h2"])?;
                    let incoming = TlsIncoming::start(grpc, tls, true).map_err(HubError::Http)?;
                    Box::pin(grpc_router.serve_with_incoming_shutdown(
                        incoming.into_stream(),
                        stopped(stop_rx.clone()),
                    ))
                }
                None => Box::pin(grpc_router.serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
                    stopped(stop_rx.clone()),
                )),
            };

        for connection in connections.iter() {
            mirror_health(&health, connection);
        }
        let upkeep = tokio::spawn(crate::metrics::upkeep(stop_rx.clone()));
        let limits = RouteLimits::new(
            config.server.webhook_requests_per_second,
            config.server.webhook_burst,
        );
        let (routes, pruning) = match limits {
            Some(limits) => (
                routes.layer(axum::middleware::from_fn_with_state(
                    limits.clone(),
                    crate::rate_limit::limit,
                )),
                Some(tokio::spawn(limits.prune(stop_rx.clone()))),
            ),
            None => (routes, None),
        };
        let http_app = crate::http::app(store.clone(), connections).merge(routes);
        let http_server: BoxFuture<std::io::Result<()>> = match &certificates {
            Some(certificates) => {
                let tls = certificates.server_config(&[b"h2", b"http/1.1"])?;
                let incoming = TlsIncoming::start(http, tls, true).map_err(HubError::Http)?;
                Box::pin(
                    axum::serve(incoming, http_app)
                        .with_graceful_shutdown(stopped(stop_rx.clone()))
                        .into_future(),
                )
            }
            None => Box::pin(
                axum::serve(
                    http.tap_io(|tcp| {
                        if let Err(error) = tcp.set_nodelay(true) {
                            tracing::debug!(%error, "cannot set TCP_NODELAY");
                        }
                    }),
                    http_app,
                )
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
            ),
        };
        let reload = certificates.clone().map(|certificates| {
            tokio::spawn(crate::tls::reload_on_hangup(certificates, stop_rx.clone()))
        });

        let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
        let signal_store = store.clone();
        let signal = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            health
                .set_not_serving::<AttendanceServiceServer<AttendanceApi>>()
                .await;
            health
                .set_not_serving::<AdminServiceServer<AdminApi>>()
                .await;
            signal_store.begin_shutdown();
            let _ = stop_tx.send(true);
        });

        let servers = async {
            let (grpc_result, http_result) = tokio::join!(grpc_server, http_server);
            grpc_result?;
            http_result.map_err(HubError::Http)
        };
        tokio::pin!(servers);
        let result = tokio::select! {
            result = &mut servers => result,
            // Past the grace period after the signal, stop waiting for stragglers.
            _ = async {
                let _ = stopped(stop_rx.clone()).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "requests still running after the grace period");
                Ok(())
            }
        };
        signal.abort();
        scheduled.abort();
        retention.abort();
        upkeep.abort();
        if let Some(pruning) = pruning {
            pruning.abort();
        }
        if let Some(reload) = reload {
            reload.abort();
        }
        // Vendor connections send the acks of commits in flight and close,
        // and background work finishes what it committed, before the store
        // closes (the aborted signal task ends them too).
        let _ = tokio::time::timeout(grace, futures::future::join_all(vendor_tasks)).await;
        store.close().await;
        result
    }
}

/// Keeps gRPC health's `service` SERVING while a vendor connection is up and
/// NOT_SERVING otherwise, and its metric at 1 or 0; ends when the
/// connection's state channel closes.
fn mirror_health(health: &tonic_health::server::HealthReporter, connection: &ConnectionHealth) {
    let health = health.clone();
    let service = connection.service.clone();
    let (section, app) = (connection.section, connection.app.clone());
    let mut state: watch::Receiver<HealthReport> = connection.state.clone();
    tokio::spawn(async move {
        loop {
            let connected = state.borrow_and_update().connected;
            crate::metrics::connection_up(section, &app, connected);
            let status = if connected {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            health.set_service_status(&service, status).await;
            if state.changed().await.is_err() {
                break;
            }
        }
    });
}
