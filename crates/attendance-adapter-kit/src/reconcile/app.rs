//! One reconcilable app: its puller, its zone and roster, and a pass run
//! under the app's claim (one pass of an app at a time, across replicas),
//! with its vendor calls metered.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use attendance_proto::hub::{HubStore, KnownEmployee};
use attendance_proto::v1::{AppReconciliation, Vendor};
use attendance_proto::Timestamp;
use chrono_tz::Tz;
use tokio::time::Instant;

use super::pass::{run_pass, DayPuller, DaySignals, PassReport};
use super::Window;
use crate::meter::CallCounter;

/// Employees reconciled even before any event named them.
#[derive(Clone, Debug, Default)]
pub struct Roster {
    /// The tenant they belong to.
    pub tenant: String,
    pub employee_ids: Vec<String>,
}

/// One app that can be reconciled (it has API credentials).
pub struct ReconcilingApp {
    pub vendor: Vendor,
    pub app: String,
    pub zone: Tz,
    pub roster: Roster,
    pub puller: Arc<dyn DayPuller>,
    /// The app's vendor calls, added to the store after each pass.
    pub calls: Arc<CallCounter>,
}

fn now_timestamp() -> Timestamp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: now.as_secs() as i64,
        nanos: now.subsec_nanos() as i32,
    }
}

impl ReconcilingApp {
    /// The employees a pass covers: those seen in the app's facts and those
    /// on its roster; when `only` names some, just those (and the named ones
    /// never seen, under the roster's tenant when there is one).
    pub fn select_employees(
        &self,
        known: Vec<KnownEmployee>,
        only: &[String],
    ) -> Vec<KnownEmployee> {
        let tenant = &self.roster.tenant;
        let mut employees: Vec<KnownEmployee> = known
            .into_iter()
            .chain(self.roster.employee_ids.iter().map(|id| KnownEmployee {
                tenant: tenant.clone(),
                employee_id: id.clone(),
            }))
            .collect();
        if !only.is_empty() {
            employees.retain(|e| only.contains(&e.employee_id));
            if !tenant.is_empty() {
                for id in only {
                    if !employees.iter().any(|e| &e.employee_id == id) {
                        employees.push(KnownEmployee {
                            tenant: tenant.clone(),
                            employee_id: id.clone(),
                        });
                    }
                }
            }
        }
        employees.sort();
        employees.dedup();
        employees
    }

    /// One pass, unless another replica or task is running this app's. A
    /// pass over everyone (`only` empty) signals the days of `window` that
    /// ended `day_end_grace` ago; a pass over named employees signals none.
    pub async fn run(
        &self,
        store: &dyn HubStore,
        window: Window,
        only: &[String],
        day_end_grace: chrono::Duration,
    ) -> AppReconciliation {
        let mut outcome = AppReconciliation {
            vendor: self.vendor as i32,
            app: self.app.clone(),
            ..AppReconciliation::default()
        };
        let vendor = self.vendor.as_str_name().to_ascii_lowercase();
        let claim_name = format!(
            "reconcile/{}/{}",
            vendor.trim_start_matches("vendor_"),
            self.app
        );
        let _claim = match store.claim(&claim_name).await {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                outcome.error = "a pass of this app is already running".into();
                return outcome;
            }
            Err(error) => {
                outcome.error = format!("cannot claim the pass: {error}");
                return outcome;
            }
        };
        let known = match store.known_employees(self.vendor, &self.app).await {
            Ok(known) => known,
            Err(error) => {
                outcome.error = error.to_string();
                return outcome;
            }
        };
        let employees = self.select_employees(known, only);
        let started = Instant::now();
        let received_time = now_timestamp();
        // Unique across passes of this app: one runs at a time under the claim.
        outcome.pass_id = format!(
            "{claim_name}@{}.{:09}",
            received_time.seconds, received_time.nanos
        );
        let signals = only.is_empty().then(|| DaySignals {
            pass_id: outcome.pass_id.clone(),
            zone: self.zone,
            grace: day_end_grace,
        });
        let result = run_pass(
            self.puller.as_ref(),
            store,
            &employees,
            window,
            received_time,
            signals.as_ref(),
        )
        .await;
        self.calls.flush(store).await;
        match result {
            Ok(report) => {
                tracing::info!(
                    vendor = outcome.vendor,
                    app = %outcome.app,
                    first = %window.first,
                    last = %window.last,
                    employees = report.employees,
                    pulled = report.facts_pulled,
                    applied = report.differences_applied,
                    pass_id = %outcome.pass_id,
                    targeted = signals.is_none(),
                    signalled = report.work_dates_reconciled.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "reconciliation pass done"
                );
                fill(&mut outcome, report);
            }
            Err(error) => {
                tracing::warn!(vendor = outcome.vendor, app = %outcome.app, %error, "reconciliation pass failed");
                outcome.error = error.to_string();
            }
        }
        outcome
    }
}

fn fill(outcome: &mut AppReconciliation, report: PassReport) {
    outcome.employees = report.employees as i64;
    outcome.facts_pulled = report.facts_pulled as i64;
    outcome.differences_applied = report.differences_applied as i64;
    outcome.unchanged = report.unchanged as i64;
    outcome.work_dates_reconciled = report.work_dates_reconciled;
    outcome.work_dates_not_ended = report.work_dates_not_ended;
}
