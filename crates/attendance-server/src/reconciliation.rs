//! Reconciliation as the hub runs it: on a schedule and on demand, one pass
//! per app at a time across replicas (a singleton claim in the store), with
//! every vendor API call metered per app and month.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attendance_core::{KnownEmployee, Singleton, Store};
use attendance_dingtalk::api::DingTalkApi;
use attendance_dingtalk::reconcile as dingtalk;
use attendance_feishu::api::{ApiConfig, CallMeter, FeishuApi};
use attendance_feishu::reconcile::{reconcile, Employee, Window};
use attendance_proto::v1::{AppReconciliation, ReconcileRequest, ReconcileResponse, Vendor};
use attendance_proto::Timestamp;
use chrono::{NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{Config, ReconciliationConfig};

/// Counts vendor calls in memory and adds them to the store in batches, so a
/// call costs no write of its own.
pub(crate) struct CallCounter {
    pending: Mutex<HashMap<(i32, String), i64>>,
    vendor: i32,
}

impl CallMeter for CallCounter {
    fn record_call(&self, app: &str) {
        *self
            .pending
            .lock()
            .expect("call counter lock")
            .entry((self.vendor, app.to_string()))
            .or_default() += 1;
    }
}

impl attendance_dingtalk::api::CallMeter for CallCounter {
    fn record_call(&self, app: &str) {
        CallMeter::record_call(self, app);
    }
}

impl CallCounter {
    fn new(vendor: Vendor) -> CallCounter {
        CallCounter {
            pending: Mutex::default(),
            vendor: vendor as i32,
        }
    }

    /// Adds what was counted to this month's totals.
    pub(crate) async fn flush(&self, store: &Store) {
        let pending: Vec<_> = self
            .pending
            .lock()
            .expect("call counter lock")
            .drain()
            .collect();
        let month = Utc::now().format("%Y-%m").to_string();
        for ((vendor, app), calls) in pending {
            if let Err(error) = store.add_vendor_calls(vendor, &app, &month, calls).await {
                tracing::warn!(%error, app, calls, "vendor calls not recorded; kept for the next flush");
                *self
                    .pending
                    .lock()
                    .expect("call counter lock")
                    .entry((vendor, app))
                    .or_default() += calls;
            }
        }
    }
}

/// What any vendor's pass reports, for the admin answer and the log.
struct PassSummary {
    employees: usize,
    facts_pulled: usize,
    differences_applied: usize,
    unchanged: usize,
    work_dates_reconciled: Vec<String>,
}

/// Each vendor's pass report carries the same numbers under the same names.
macro_rules! summary_from {
    ($report:ty) => {
        impl From<$report> for PassSummary {
            fn from(r: $report) -> PassSummary {
                PassSummary {
                    employees: r.employees,
                    facts_pulled: r.facts_pulled,
                    differences_applied: r.differences_applied,
                    unchanged: r.unchanged,
                    work_dates_reconciled: r.work_dates_reconciled,
                }
            }
        }
    };
}
summary_from!(attendance_feishu::reconcile::PassReport);
summary_from!(dingtalk::PassReport);

/// Completes an app's outcome from its finished pass, and logs it.
fn finish_pass<E: std::fmt::Display>(
    mut outcome: AppReconciliation,
    window: Window,
    started: Instant,
    result: Result<PassSummary, E>,
) -> AppReconciliation {
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
                elapsed_ms = started.elapsed().as_millis() as u64,
                "reconciliation pass done"
            );
            outcome.employees = report.employees as i64;
            outcome.facts_pulled = report.facts_pulled as i64;
            outcome.differences_applied = report.differences_applied as i64;
            outcome.unchanged = report.unchanged as i64;
            outcome.work_dates_reconciled = report.work_dates_reconciled;
        }
        Err(error) => {
            tracing::warn!(vendor = outcome.vendor, app = %outcome.app, %error, "reconciliation pass failed");
            outcome.error = error.to_string();
        }
    }
    outcome
}

/// One Feishu app that can be reconciled (it has credentials).
pub(crate) struct FeishuReconciler {
    name: String,
    api: FeishuApi,
    zone: Tz,
    roster: Vec<Employee>,
    tenant_key: String,
}

/// One DingTalk app that can pull (it has a client secret). Reconciliation,
/// trigger pulls and failed-push recovery share its client, so its token
/// cache and its request rate are the app's.
pub(crate) struct DingTalkReconciler {
    pub(crate) name: String,
    pub(crate) client_id: String,
    pub(crate) corp_id: String,
    pub(crate) zone: Tz,
    pub(crate) api: Arc<DingTalkApi>,
    /// The app as the adapter knows it: failed pushes are translated for it.
    pub(crate) app: attendance_dingtalk::DingTalkApp,
    roster: Vec<String>,
}

pub(crate) struct Reconciliation {
    store: Store,
    feishu: Vec<FeishuReconciler>,
    pub(crate) feishu_calls: Arc<CallCounter>,
    dingtalk: Vec<DingTalkReconciler>,
    pub(crate) dingtalk_calls: Arc<CallCounter>,
    schedule: ReconciliationConfig,
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

impl Reconciliation {
    pub(crate) fn new(config: &Config, store: Store) -> Arc<Reconciliation> {
        let feishu_calls = Arc::new(CallCounter::new(Vendor::Feishu));
        let feishu = config
            .feishu
            .iter()
            .filter(|app| {
                if app.app_secret.is_empty() {
                    tracing::info!(app = %app.name, "no app_secret: this app is not reconciled");
                }
                !app.app_secret.is_empty()
            })
            .map(|app| {
                let mut api_config =
                    ApiConfig::new(&app.name, &app.base_url, &app.app_id, &app.app_secret);
                api_config.requests_per_second = app.requests_per_second;
                FeishuReconciler {
                    name: app.name.clone(),
                    api: FeishuApi::new(api_config, feishu_calls.clone()),
                    zone: app.time_zone.parse().expect("validated by the config"),
                    roster: app
                        .roster
                        .iter()
                        .map(|id| Employee {
                            tenant: app.tenant_key.clone(),
                            employee_id: id.clone(),
                        })
                        .collect(),
                    tenant_key: app.tenant_key.clone(),
                }
            })
            .collect();
        let dingtalk_calls = Arc::new(CallCounter::new(Vendor::Dingtalk));
        let dingtalk = config
            .dingtalk
            .iter()
            .filter(|app| {
                if app.client_secret.is_empty() {
                    tracing::info!(app = %app.name, "no client_secret: this DingTalk app pulls nothing");
                }
                !app.client_secret.is_empty()
            })
            .map(|app| {
                let mut api_config = attendance_dingtalk::api::ApiConfig::new(
                    &app.name,
                    &app.api_base_url,
                    &app.oapi_base_url,
                    &app.client_id,
                    &app.client_secret,
                );
                api_config.requests_per_second = app.requests_per_second;
                DingTalkReconciler {
                    name: app.name.clone(),
                    client_id: app.client_id.clone(),
                    corp_id: app.corp_id.clone(),
                    zone: app.time_zone.parse().expect("validated by the config"),
                    api: Arc::new(DingTalkApi::new(api_config, dingtalk_calls.clone())),
                    app: crate::http::dingtalk_app(app),
                    roster: app.roster.clone(),
                }
            })
            .collect();
        Arc::new(Reconciliation {
            store,
            feishu,
            feishu_calls,
            dingtalk,
            dingtalk_calls,
            schedule: config.reconciliation.clone(),
        })
    }

    /// The DingTalk apps that can pull.
    pub(crate) fn dingtalk(&self) -> &[DingTalkReconciler] {
        &self.dingtalk
    }

    pub(crate) fn schedule(&self) -> &ReconciliationConfig {
        &self.schedule
    }

    /// The last `days` work days up to today in the app's zone.
    fn recent_window(zone: Tz, days: u32) -> Window {
        let today = Utc::now().with_timezone(&zone).date_naive();
        Window {
            first: today - chrono::Duration::days(i64::from(days.max(1)) - 1),
            last: today,
        }
    }

    async fn employees(
        &self,
        app: &FeishuReconciler,
        only: &[String],
    ) -> Result<Vec<Employee>, String> {
        let known = self
            .store
            .known_employees(Vendor::Feishu as i32, &app.name)
            .await
            .map_err(|e| e.to_string())?;
        let roster: Vec<String> = app.roster.iter().map(|e| e.employee_id.clone()).collect();
        Ok(select_employees(known, &roster, &app.tenant_key, only)
            .into_iter()
            .map(|k| Employee {
                tenant: k.tenant,
                employee_id: k.employee_id,
            })
            .collect())
    }

    /// One pass of one app, unless another replica or task is running it.
    async fn run_feishu(
        &self,
        app: &FeishuReconciler,
        window: Window,
        only: &[String],
    ) -> AppReconciliation {
        let mut outcome = AppReconciliation {
            vendor: Vendor::Feishu as i32,
            app: app.name.clone(),
            ..AppReconciliation::default()
        };
        let _claim = match self.claim_pass("feishu", &app.name).await {
            Ok(claim) => claim,
            Err(error) => {
                outcome.error = error;
                return outcome;
            }
        };
        let employees = match self.employees(app, only).await {
            Ok(employees) => employees,
            Err(error) => {
                outcome.error = error;
                return outcome;
            }
        };
        let started = Instant::now();
        let result = reconcile(
            &app.api,
            &self.store,
            app.zone.name(),
            &employees,
            window,
            now_timestamp(),
        )
        .await;
        self.feishu_calls.flush(&self.store).await;
        finish_pass(outcome, window, started, result.map(PassSummary::from))
    }

    /// One pass of one DingTalk app, unless another replica or task is running it.
    async fn run_dingtalk(
        &self,
        app: &DingTalkReconciler,
        window: Window,
        only: &[String],
    ) -> AppReconciliation {
        let mut outcome = AppReconciliation {
            vendor: Vendor::Dingtalk as i32,
            app: app.name.clone(),
            ..AppReconciliation::default()
        };
        let _claim = match self.claim_pass("dingtalk", &app.name).await {
            Ok(claim) => claim,
            Err(error) => {
                outcome.error = error;
                return outcome;
            }
        };
        let known = match self
            .store
            .known_employees(Vendor::Dingtalk as i32, &app.name)
            .await
        {
            Ok(known) => known,
            Err(error) => {
                outcome.error = error.to_string();
                return outcome;
            }
        };
        let employees: Vec<dingtalk::Employee> =
            select_employees(known, &app.roster, &app.corp_id, only)
                .into_iter()
                .map(|k| dingtalk::Employee {
                    tenant: k.tenant,
                    employee_id: k.employee_id,
                })
                .collect();
        let started = Instant::now();
        let result = dingtalk::reconcile(
            &app.api,
            &self.store,
            app.zone,
            &employees,
            dingtalk::Window {
                first: window.first,
                last: window.last,
            },
            now_timestamp(),
        )
        .await;
        self.dingtalk_calls.flush(&self.store).await;
        finish_pass(outcome, window, started, result.map(PassSummary::from))
    }

    /// Claims one app's pass across replicas and tasks, or says why not.
    async fn claim_pass(&self, vendor: &str, app: &str) -> Result<Singleton, String> {
        match self
            .store
            .try_singleton(&format!("reconcile/{vendor}/{app}"))
            .await
        {
            Ok(Some(claim)) => Ok(claim),
            Ok(None) => Err("a pass of this app is already running".into()),
            Err(error) => Err(format!("cannot claim the pass: {error}")),
        }
    }

    /// The admin call: the matching apps, now.
    pub(crate) async fn reconcile(
        &self,
        request: &ReconcileRequest,
    ) -> Result<ReconcileResponse, (&'static str, String)> {
        let parse = |field: &'static str,
                     text: &str|
         -> Result<Option<NaiveDate>, (&'static str, String)> {
            if text.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| (field, format!("{text:?} is not a YYYY-MM-DD date")))
        };
        let from = parse("work_date_from", &request.work_date_from)?;
        let to = parse("work_date_to", &request.work_date_to)?;
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                return Err(("work_date_to", "is before work_date_from".into()));
            }
            if (to - from).num_days() > 31 {
                return Err(("work_date_to", "a pass covers at most 31 days".into()));
            }
        }
        let wants_feishu = request.vendor == 0 || request.vendor == Vendor::Feishu as i32;
        let apps: Vec<&FeishuReconciler> = self
            .feishu
            .iter()
            .filter(|app| wants_feishu && (request.app.is_empty() || request.app == app.name))
            .collect();
        let wants_dingtalk = request.vendor == 0 || request.vendor == Vendor::Dingtalk as i32;
        let dingtalk_apps: Vec<&DingTalkReconciler> = self
            .dingtalk
            .iter()
            .filter(|app| wants_dingtalk && (request.app.is_empty() || request.app == app.name))
            .collect();
        if apps.is_empty() && dingtalk_apps.is_empty() && !request.app.is_empty() {
            return Err((
                "app",
                format!("no reconcilable app named {:?}", request.app),
            ));
        }
        let mut response = ReconcileResponse::default();
        for app in apps {
            let default = Self::recent_window(app.zone, self.schedule.recent_days);
            let window = Window {
                first: from.or(to).unwrap_or(default.first),
                last: to.or(from).unwrap_or(default.last),
            };
            response
                .apps
                .push(self.run_feishu(app, window, &request.employee_ids).await);
        }
        for app in dingtalk_apps {
            let default = Self::recent_window(app.zone, self.schedule.recent_days);
            let window = Window {
                first: from.or(to).unwrap_or(default.first),
                last: to.or(from).unwrap_or(default.last),
            };
            response
                .apps
                .push(self.run_dingtalk(app, window, &request.employee_ids).await);
        }
        Ok(response)
    }

    /// Scheduled passes until shutdown: the recent days every interval, and the
    /// longer window once a day at the nightly hour of each app's zone.
    pub(crate) async fn run_schedule(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if !self.schedule.enabled || (self.feishu.is_empty() && self.dingtalk.is_empty()) {
            return;
        }
        let interval = Duration::from_secs(self.schedule.interval_minutes * 60);
        // The first pass waits a minute, so a restart loop does not hammer the vendor.
        let mut next_recent = vec![Instant::now() + Duration::from_secs(60); self.feishu.len()];
        let mut last_nightly: Vec<Option<NaiveDate>> = vec![None; self.feishu.len()];
        let mut next_recent_dingtalk =
            vec![Instant::now() + Duration::from_secs(60); self.dingtalk.len()];
        let mut last_nightly_dingtalk: Vec<Option<NaiveDate>> = vec![None; self.dingtalk.len()];
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(20)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            for (i, app) in self.feishu.iter().enumerate() {
                let local = Utc::now().with_timezone(&app.zone);
                if local.hour() == self.schedule.nightly_hour
                    && last_nightly[i] != Some(local.date_naive())
                {
                    last_nightly[i] = Some(local.date_naive());
                    let window = Self::recent_window(app.zone, self.schedule.nightly_days);
                    self.run_feishu(app, window, &[]).await;
                    continue;
                }
                if Instant::now() >= next_recent[i] {
                    next_recent[i] = Instant::now() + interval;
                    let window = Self::recent_window(app.zone, self.schedule.recent_days);
                    self.run_feishu(app, window, &[]).await;
                }
            }
            for (i, app) in self.dingtalk.iter().enumerate() {
                let local = Utc::now().with_timezone(&app.zone);
                if local.hour() == self.schedule.nightly_hour
                    && last_nightly_dingtalk[i] != Some(local.date_naive())
                {
                    last_nightly_dingtalk[i] = Some(local.date_naive());
                    let window = Self::recent_window(app.zone, self.schedule.nightly_days);
                    self.run_dingtalk(app, window, &[]).await;
                    continue;
                }
                if Instant::now() >= next_recent_dingtalk[i] {
                    next_recent_dingtalk[i] = Instant::now() + interval;
                    let window = Self::recent_window(app.zone, self.schedule.recent_days);
                    self.run_dingtalk(app, window, &[]).await;
                }
            }
            self.feishu_calls.flush(&self.store).await;
        }
    }
}

/// The employees a pass covers: those seen in the app's facts and those on
/// its roster (under `tenant`); when `only` names some, just those, and the
/// named ones never seen under `tenant` (when the app has one).
fn select_employees(
    known: Vec<KnownEmployee>,
    roster: &[String],
    tenant: &str,
    only: &[String],
) -> Vec<KnownEmployee> {
    let mut employees: Vec<KnownEmployee> = known
        .into_iter()
        .chain(roster.iter().map(|id| KnownEmployee {
            tenant: tenant.to_owned(),
            employee_id: id.clone(),
        }))
        .collect();
    if !only.is_empty() {
        employees.retain(|e| only.contains(&e.employee_id));
        if !tenant.is_empty() {
            for id in only {
                if !employees.iter().any(|e| &e.employee_id == id) {
                    employees.push(KnownEmployee {
                        tenant: tenant.to_owned(),
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
