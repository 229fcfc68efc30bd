//! One reconciliation pass over some employees and a window: what the vendor
//! says, committed day by day as pulls (differences become revisions), and a
//! `DayReconciled` signal for each day the pass may speak for: a pass over the
//! whole tenant, a day that has ended (plus the grace) in the app's zone, a
//! vendor that showed every employee.

use std::collections::BTreeMap;

use async_trait::async_trait;
use attendance_proto::hub::KnownEmployee;
use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Recognition, SinkError};
use attendance_proto::v1::{Channel, DayReconciled, Source};
use attendance_proto::Timestamp;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use prost::Message;
use sha2::{Digest, Sha256};

use super::{local_midnight, Window};

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
    /// [`DayPuller::pull`] within a pass that covers every employee of the
    /// tenant (`whole_tenant`) or only some: a vendor that can list a whole
    /// tenant at once (rather than employee by employee) does so then.
    async fn pull_in_pass(
        &self,
        tenant: &str,
        employees: &[String],
        window: Window,
        received_time: Timestamp,
        _whole_tenant: bool,
    ) -> Result<Pulled, PullError> {
        self.pull(tenant, employees, window, received_time).await
    }
}

/// What a pass over every employee of its tenants may signal. A targeted
/// pass (some employees) has none: it never speaks for a whole tenant.
#[derive(Clone, Debug)]
pub struct DaySignals {
    /// Carried by every signal of the pass.
    pub pass_id: String,
    /// The zone a day ends in.
    pub zone: Tz,
    /// How long after its end a day may be signalled: late punches, a
    /// night shift's off-duty check and the vendor's own day-end
    /// computation land in it.
    pub grace: Duration,
}

impl DaySignals {
    /// Whether `day` ended, plus the grace, at `now` (Unix seconds).
    pub fn has_ended(&self, day: NaiveDate, now: i64) -> bool {
        let Some(next) = day.succ_opt() else {
            return false;
        };
        local_midnight(self.zone, next) + self.grace.num_seconds() <= now
    }
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub employees: usize,
    pub facts_pulled: usize,
    pub differences_applied: usize,
    pub unchanged: usize,
    /// Days signalled.
    pub work_dates_reconciled: Vec<String>,
    /// Days not signalled because they had not ended plus the grace.
    pub work_dates_not_ended: Vec<String>,
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

/// What a fact says, without how and when this pass pulled it (provenance,
/// revision, raw JSON, the app): equal for equal vendor views.
fn fact_fingerprint(fact: &Fact) -> Vec<u8> {
    fn strip(source: &mut Option<Source>) {
        if let Some(source) = source {
            source.app.clear();
            source.app_id.clear();
        }
    }
    let bytes = match fact.clone() {
        Fact::Punch(mut p) => {
            strip(&mut p.source);
            (p.revision, p.revision_kind, p.provenance) = (0, 0, None);
            p.raw_json.clear();
            p.encode_to_vec()
        }
        Fact::ShiftResult(mut r) => {
            strip(&mut r.source);
            (r.revision, r.revision_kind, r.provenance) = (0, 0, None);
            r.raw_json.clear();
            r.encode_to_vec()
        }
        Fact::Approval(mut a) => {
            strip(&mut a.source);
            (a.revision, a.revision_kind, a.provenance) = (0, 0, None);
            a.raw_json.clear();
            a.encode_to_vec()
        }
        Fact::DayReconciled(_) => Vec::new(),
    };
    Sha256::digest(bytes).to_vec()
}

/// The vendor's view of one day, whatever order the pull listed it in.
pub fn day_fingerprint(facts: &[Fact]) -> String {
    let mut each: Vec<Vec<u8>> = facts.iter().map(fact_fingerprint).collect();
    each.sort();
    let mut day = Sha256::new();
    for fact in each {
        day.update(fact);
    }
    day.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs one pass of `puller` over `employees` and `window`; `signals` is
/// `None` for a targeted pass.
pub async fn run_pass(
    puller: &dyn DayPuller,
    sink: &dyn DeliverySink,
    employees: &[KnownEmployee],
    window: Window,
    received_time: Timestamp,
    signals: Option<&DaySignals>,
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
                .pull_in_pass(tenant, &ids, span, received_time, signals.is_some())
                .await
                .map_err(PassError::Pull)?;
            if !pulled.complete {
                tracing::warn!(app = %source.app, tenant, "pass incomplete: the vendor did not show every employee; no day signal");
            }
            for (work_date, facts) in pulled.days {
                report.facts_pulled += facts.len();
                let fingerprint = day_fingerprint(&facts);
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
                let Some(signals) = signals.filter(|_| pulled.complete) else {
                    continue;
                };
                if !signals.has_ended(work_date, received_time.seconds) {
                    report.work_dates_not_ended.push(work_date.to_string());
                    continue;
                }
                let signal = Fact::DayReconciled(DayReconciled {
                    source: Some(source.clone()),
                    work_date: work_date.to_string(),
                    reconciled_time: Some(received_time),
                    differences_applied: applied as i64,
                    employees_covered: ids.len() as i64,
                    pass_id: signals.pass_id.clone(),
                    time_zone: signals.zone.name().to_string(),
                    day_fingerprint: fingerprint,
                });
                sink.commit(pull_delivery(&source, "day_reconciled", vec![signal]))
                    .await?;
                report.work_dates_reconciled.push(work_date.to_string());
            }
        }
    }
    Ok(report)
}
