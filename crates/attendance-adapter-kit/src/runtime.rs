//! The seam between a vendor crate and the server: what the hub hands a
//! vendor when it starts ([`HubContext`]) and what the vendor hands back
//! ([`VendorRuntime`]). The server composes vendors with one line each.

use std::sync::Arc;

use attendance_proto::hub::HubStore;
use attendance_proto::v1::Vendor;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cross_check::ReportCheckingApp;
use crate::health::ConnectionHealth;
use crate::reconcile::{ReconcilingApp, Schedule};
use crate::rederive::Retranslator;

/// What the hub gives every vendor.
#[derive(Clone)]
pub struct HubContext {
    pub store: Arc<dyn HubStore>,
    /// Turns true when the hub begins to shut down.
    pub stop: watch::Receiver<bool>,
    /// Largest webhook body accepted.
    pub body_limit: usize,
    pub schedule: Schedule,
    /// The address this host reaches a vendor from (DingTalk's `localIp`).
    /// Only the server binds sockets, so it is the one to find out.
    pub local_address: Arc<dyn LocalAddress>,
}

/// Tells which local address this host reaches a remote service from.
#[async_trait::async_trait]
pub trait LocalAddress: Send + Sync {
    /// The local IP address towards `url`'s host, or empty when it cannot be
    /// told.
    async fn towards(&self, url: &str) -> String;
}

/// A [`LocalAddress`] that cannot tell: always empty (for tests, and where
/// the vendor's field is optional anyway).
pub struct UnknownLocalAddress;

#[async_trait::async_trait]
impl LocalAddress for UnknownLocalAddress {
    async fn towards(&self, _url: &str) -> String {
        String::new()
    }
}

/// What a started vendor gives the hub.
#[derive(Default)]
pub struct VendorRuntime {
    /// Its webhook routes, merged into the hub's HTTP server.
    pub routes: axum::Router,
    /// Its connections and background work; the hub lets them end (with
    /// `stop`) before the store closes, so acks and commits in flight finish.
    pub tasks: Vec<JoinHandle<()>>,
    pub health: Vec<ConnectionHealth>,
    /// Apps the schedule and the operator's Reconcile call can reconcile.
    pub reconcilers: Vec<Arc<ReconcilingApp>>,
    /// Configured apps that cannot be reconciled, and why: an operator who
    /// asks for one is told what is missing.
    pub unreconciled: Vec<UnreconciledApp>,
    /// Every configured app's translation of its stored deliveries.
    pub retranslators: Vec<Arc<dyn Retranslator>>,
    /// Apps whose vendor report the CheckReportTotals call can read.
    pub report_checkers: Vec<Arc<ReportCheckingApp>>,
}

impl VendorRuntime {
    /// Another vendor's runtime added to this one.
    pub fn merge(mut self, other: VendorRuntime) -> VendorRuntime {
        self.routes = self.routes.merge(other.routes);
        self.tasks.extend(other.tasks);
        self.health.extend(other.health);
        self.reconcilers.extend(other.reconcilers);
        self.unreconciled.extend(other.unreconciled);
        self.retranslators.extend(other.retranslators);
        self.report_checkers.extend(other.report_checkers);
        self
    }
}

/// A configured app the hub cannot reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreconciledApp {
    pub vendor: Vendor,
    pub app: String,
    /// What is missing, in the config's words (never a secret's value).
    pub reason: String,
}
