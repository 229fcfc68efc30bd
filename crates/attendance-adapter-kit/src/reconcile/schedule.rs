//! When passes run: on a schedule (the recent days every interval, a longer
//! window once a day at a nightly hour of each app's zone) and on an
//! operator's request.

use std::sync::Arc;
use std::time::Duration;

use attendance_proto::hub::HubStore;
use attendance_proto::v1::{ReconcileRequest, ReconcileResponse};
use chrono::{NaiveDate, Timelike, Utc};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ReconcilingApp, Window};
use crate::runtime::UnreconciledApp;

/// The `[reconciliation]` settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Scheduled passes on or off; the admin call works either way.
    pub enabled: bool,
    /// Minutes between passes over `recent_days` (today, yesterday, ...).
    pub interval_minutes: u64,
    pub recent_days: u32,
    /// Once a day, at this hour of each app's time zone, a pass over `nightly_days`.
    pub nightly_hour: u32,
    pub nightly_days: u32,
    /// A day is signalled reconciled only this many hours after it ended in
    /// the app's time zone (late punches, night shifts, the vendor's own
    /// day-end results land first).
    pub day_end_grace_hours: u32,
}

impl Schedule {
    pub fn day_end_grace(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.day_end_grace_hours))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            enabled: true,
            interval_minutes: 15,
            recent_days: 2,
            nightly_hour: 2,
            nightly_days: 7,
            day_end_grace_hours: 4,
        }
    }
}

/// Why the operator's call was refused before any pass ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileRequestError {
    /// A request field at fault.
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// No app the request names can be reconciled; says what each lacks.
    #[error("{0}")]
    NotReconcilable(String),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ReconcileRequestError {
    ReconcileRequestError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// The operator's call: the matching apps, now, one after another.
/// `unreconciled` are the configured apps that cannot be, so that a request
/// naming one (or matching only such apps) says what they lack instead of
/// answering nothing.
pub async fn reconcile_request(
    apps: &[Arc<ReconcilingApp>],
    unreconciled: &[UnreconciledApp],
    schedule: &Schedule,
    store: &dyn HubStore,
    request: &ReconcileRequest,
) -> Result<ReconcileResponse, ReconcileRequestError> {
    let parse =
        |field: &'static str, text: &str| -> Result<Option<NaiveDate>, ReconcileRequestError> {
            if text.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| invalid(field, format!("{text:?} is not a YYYY-MM-DD date")))
        };
    let from = parse("work_date_from", &request.work_date_from)?;
    let to = parse("work_date_to", &request.work_date_to)?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(invalid("work_date_to", "is before work_date_from"));
        }
        if (to - from).num_days() > 31 {
            return Err(invalid("work_date_to", "a pass covers at most 31 days"));
        }
    }
    let chosen: Vec<&Arc<ReconcilingApp>> = apps
        .iter()
        .filter(|app| request.vendor == 0 || request.vendor == app.vendor as i32)
        .filter(|app| request.app.is_empty() || request.app == app.app)
        .collect();
    if chosen.is_empty() {
        let lacking: Vec<String> = unreconciled
            .iter()
            .filter(|app| request.vendor == 0 || request.vendor == app.vendor as i32)
            .filter(|app| request.app.is_empty() || request.app == app.app)
            .map(|app| format!("app {:?} {}", app.app, app.reason))
            .collect();
        if !lacking.is_empty() {
            return Err(ReconcileRequestError::NotReconcilable(format!(
                "nothing to reconcile: {}",
                lacking.join("; ")
            )));
        }
        if !request.app.is_empty() {
            return Err(invalid(
                "app",
                format!("no app named {:?} is configured", request.app),
            ));
        }
    }
    let mut response = ReconcileResponse::default();
    for app in chosen {
        let default = Window::recent(app.zone, schedule.recent_days);
        let window = Window {
            first: from.or(to).unwrap_or(default.first),
            last: to.or(from).unwrap_or(default.last),
        };
        response.apps.push(
            app.run(
                store,
                window,
                &request.employee_ids,
                schedule.day_end_grace(),
            )
            .await,
        );
    }
    Ok(response)
}

/// Scheduled passes until `stop`.
pub async fn run_schedule(
    apps: Vec<Arc<ReconcilingApp>>,
    schedule: Schedule,
    store: Arc<dyn HubStore>,
    mut stop: watch::Receiver<bool>,
) {
    if !schedule.enabled || apps.is_empty() {
        return;
    }
    let interval = Duration::from_secs(schedule.interval_minutes * 60);
    // The first pass waits a minute, so a restart loop does not hammer the vendor.
    let mut next_recent = vec![Instant::now() + Duration::from_secs(60); apps.len()];
    let mut last_nightly: Vec<Option<NaiveDate>> = vec![None; apps.len()];
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(20)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        for (i, app) in apps.iter().enumerate() {
            let local = Utc::now().with_timezone(&app.zone);
            if local.hour() == schedule.nightly_hour && last_nightly[i] != Some(local.date_naive())
            {
                last_nightly[i] = Some(local.date_naive());
                app.run(
                    store.as_ref(),
                    Window::recent(app.zone, schedule.nightly_days),
                    &[],
                    schedule.day_end_grace(),
                )
                .await;
                continue;
            }
            if Instant::now() >= next_recent[i] {
                next_recent[i] = Instant::now() + interval;
                app.run(
                    store.as_ref(),
                    Window::recent(app.zone, schedule.recent_days),
                    &[],
                    schedule.day_end_grace(),
                )
                .await;
            }
        }
    }
}
