//! Where one app's connection stands, as health reports it.

use attendance_proto::v1::{Channel, Vendor};
use tokio::sync::watch;

use crate::health::{follow, ConnectionHealth, HealthReport};

/// Where one app's connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection is being set up.
    Connecting,
    /// Connected: events flow.
    Connected,
    /// The connection was lost or could not be made; `attempt` counts the
    /// failures since the last connection that worked.
    Reconnecting { attempt: u32, last_error: String },
    /// Given up: a fatal error, the vendor's retry budget spent, or no HTTP
    /// client. Only a restart tries again.
    Failed { reason: String },
    /// Shut down on request.
    Stopped,
}

impl ConnectionState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }

    /// The state as `/healthz` and gRPC health report it.
    pub fn health(&self) -> HealthReport {
        HealthReport {
            connected: self.is_connected(),
            text: self.to_string(),
        }
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

/// A new connection's state channel, starting at
/// [`ConnectionState::Connecting`], and the health entry that follows it.
pub fn watched_connection(
    section: &'static str,
    (vendor, channel): (Vendor, Channel),
    app: &str,
    service: String,
) -> (watch::Sender<ConnectionState>, ConnectionHealth) {
    let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting);
    let health = ConnectionHealth {
        section,
        vendor,
        channel,
        app: app.to_owned(),
        service,
        state: follow(state_rx, ConnectionState::health),
    };
    (state_tx, health)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            ConnectionState::Connected.health(),
            HealthReport {
                connected: true,
                text: "connected".into()
            }
        );
        assert!(!ConnectionState::Stopped.health().connected);
    }
}
