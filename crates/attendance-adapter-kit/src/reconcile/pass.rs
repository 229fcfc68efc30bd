//! One reconciliation pass over some employees and a window: what the vendor
//! says, committed day by day as pulls (differences become revisions), and a
//! `DayReconciled` signal for each day the pass covered completely.

use std::collections::BTreeMap;

use async_trait::async_trait;
use attendance_proto::hub::KnownEmployee;
use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Recognition, SinkError};
use attendance_proto::v1::{Channel, DayReconciled, Source};
use attendance_proto::Timestamp;
use chrono::NaiveDate;

use super::Window;

/// What a vendor's APIs said of some employees of one tenant over a window.
#[derive(Debug, Default)]
pub struct Pulled {
    /// The facts of each work date (every day of the window has an entry,
    /// possibly empty: a day with nothing is still reconciled).
    pub days: BTreeMap<NaiveDate, Vec<Fact>>,
    /// False when the vendor would not show some of the employees (the day
    /// is then not signalled: the pass did not cover it).
    pub complete: bool,
}

impl Pulled {
    /// Every day of `window`, empty, complete.
    pub fn empty(window: Window) -> Pulled {
        Pulled {
            days: window.days().into_iter().map(|d| (d, Vec::new())).collect(),
            complete: true,
        }
    }
}

/// Why a vendor's pull failed (its API error), as text for the operator.
pub type PullError = Box<dyn std::error::Error + Send + Sync>;

/// A vendor's side of reconciliation.
#[async_trait]
pub trait DayPuller: Send + Sync {
    /// Who pulled, for the facts' deliveries and the day signals.
    fn source(&self, tenant: &str) -> Source;
    /// At most this many days per pull (the vendor's API limit); the pass
    /// commits each span before pulling the next.
    fn max_days_per_pull(&self) -> i64 {
        i64::MAX
    }
    /// What the vendor says of `employees` of `tenant` over `window`;
    /// `received_time` stamps the facts.
    async fn pull(
        &self,
        tenant: &str,
        employees: &[String],
        window: Window,
        received_time: Timestamp,
    ) -> Result<Pulled, PullError>;
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub employees: usize,
    pub facts_pulled: usize,
    pub differences_applied: usize,
    pub unchanged: usize,
    pub work_dates_reconciled: Vec<String>,
}

/// Why a pass did not complete; what it committed before stays committed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("{0}")]
    Pull(PullError),
    #[error("commit failed: {0}")]
    Commit(#[from] SinkError),
    #[error("invalid window: {0}")]
    Window(String),
}

/// A pull's facts as one delivery: no delivery id, business keys alone
/// deduplicate them.
pub fn pull_delivery(source: &Source, event_type: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: source.vendor(),
        app: source.app.clone(),
        tenant: source.tenant.clone(),
        channel: Channel::Pull,
        event_id: String::new(),
        event_type: event_type.into(),
        raw_json: String::new(),
        recognition: Recognition::Translated,
        facts,
        jobs: Vec::new(),
    }
}

/// Runs one pass of `puller` over `employees` and `window`.
pub async fn run_pass(
    puller: &dyn DayPuller,
    sink: &dyn DeliverySink,
    employees: &[KnownEmployee],
    window: Window,
    received_time: Timestamp,
) -> Result<PassReport, PassError> {
    if window.last < window.first {
        return Err(PassError::Window(format!(
            "{} is after {}",
            window.first, window.last
        )));
    }
    let mut by_tenant: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for employee in employees {
        by_tenant
            .entry(employee.tenant.as_str())
            .or_default()
            .push(employee.employee_id.clone());
    }
    let mut report = PassReport::default();
    for (tenant, mut ids) in by_tenant {
        ids.sort();
        ids.dedup();
        report.employees += ids.len();
        let source = puller.source(tenant);
        for span in window.spans(puller.max_days_per_pull()) {
            let pulled = puller
                .pull(tenant, &ids, span, received_time)
                .await
                .map_err(PassError::Pull)?;
            if !pulled.complete {
                tracing::warn!(app = %source.app, tenant, "pass incomplete: the vendor did not show every employee; no day signal");
            }
            for (work_date, facts) in pulled.days {
                report.facts_pulled += facts.len();
                let mut applied = 0;
                if !facts.is_empty() {
                    // The store commits a large pull in parts, so webhooks
                    // never wait long behind a day of a thousand employees.
                    let receipt = sink
                        .commit(pull_delivery(&source, "reconciliation", facts))
                        .await?;
                    applied = receipt.appended;
                    report.differences_applied += receipt.appended;
                    report.unchanged += receipt.unchanged;
                }
                if pulled.complete {
                    let signal = Fact::DayReconciled(DayReconciled {
                        source: Some(source.clone()),
                        work_date: work_date.to_string(),
                        reconciled_time: Some(received_time),
                        differences_applied: applied as i64,
                    });
                    sink.commit(pull_delivery(&source, "day_reconciled", vec![signal]))
                        .await?;
                    report.work_dates_reconciled.push(work_date.to_string());
                }
            }
        }
    }
    Ok(report)
}
