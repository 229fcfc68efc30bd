//! What a vendor's connections tell health: `/healthz` shows each one's
//! state under the vendor's section, gRPC health reports each as a service.

use tokio::sync::watch;

/// One connection's state as health reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    pub connected: bool,
    /// What `/healthz` prints, e.g. `connected` or `reconnecting (attempt 2): …`.
    pub text: String,
}

/// A connection health follows.
pub struct ConnectionHealth {
    /// The `/healthz` section, e.g. `feishu_long_connections`.
    pub section: &'static str,
    pub vendor: attendance_proto::v1::Vendor,
    /// How events arrive over it (long connection, Stream).
    pub channel: attendance_proto::v1::Channel,
    pub app: String,
    /// The gRPC health service name, e.g. `feishu.long_connection.acme`.
    pub service: String,
    pub state: watch::Receiver<HealthReport>,
}

/// Follows a connection's own state channel as [`HealthReport`]s; the
/// follower ends when the connection drops its sender.
pub fn follow<S: Send + Sync + 'static>(
    mut state: watch::Receiver<S>,
    report: fn(&S) -> HealthReport,
) -> watch::Receiver<HealthReport> {
    let (tx, rx) = watch::channel(report(&state.borrow_and_update()));
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            let next = report(&state.borrow_and_update());
            if tx.send(next).is_err() {
                return;
            }
        }
    });
    rx
}
