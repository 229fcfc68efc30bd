//! DingTalk pulls as the hub runs them: the queue that committed pushes hand
//! their triggers to (bounded, never blocking the acknowledgement, duplicates
//! collapsed), the worker that pulls each employee-day with `getupdatedata`
//! (and, for an approved 补卡, finds the corrected day first), and the
//! failed-push poller that reads `get_call_back_failed_result` on a schedule,
//! on one replica at a time, committing every batch before acting on it
//! (reading deletes the batch at DingTalk).
//!
//! Everything here commits to the store, which lets a pulled punch meet the
//! pushed one on their matching keys inside the commit's transaction.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use attendance_core::Store;
use attendance_dingtalk::pull::{
    facts_from_update_data, failed_push_delivery, pull_delivery, punches_from_records,
    record_instance_id, PullSource, GETUPDATEDATA, LIST_RECORDS,
};
use attendance_dingtalk::reconcile::Window;
use attendance_dingtalk::trigger::PullQueue;
use attendance_dingtalk::{instance_pulls, pull_triggers, DayPull, InstancePull};
use attendance_proto::ingest::{Delivery, DeliverySink, Fact, Receipt};
use chrono::{NaiveDate, Utc};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::reconciliation::{DingTalkReconciler, Reconciliation};

/// Pulls waiting beyond this are dropped (and logged): reconciliation
/// covers those days later, and the acknowledgement never waits.
const QUEUE_CAPACITY: usize = 10_000;
/// Pulls in flight at once; each app's pacer still bounds its rate.
const CONCURRENT_PULLS: usize = 4;
/// How often the worker adds its metered calls to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// One queued pull. The app is known when the queue was handed out for one
/// app; otherwise the tenant decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Job {
    Day(Option<String>, DayPull),
    Instance(Option<String>, InstancePull),
}

/// The [`PullQueue`] committed DingTalk pushes hand their triggers to.
pub(crate) struct DingTalkPullQueue {
    app: Option<String>,
    shared: Arc<QueueShared>,
}

struct QueueShared {
    tx: mpsc::Sender<Job>,
    /// Jobs queued and not yet taken by the worker: a second trigger for the
    /// same employee-day while one waits adds nothing. A std Mutex: it is
    /// never held across an await.
    pending: Mutex<HashSet<Job>>,
}

impl QueueShared {
    fn offer(&self, job: Job) {
        if !self
            .pending
            .lock()
            .expect("pending lock")
            .insert(job.clone())
        {
            return;
        }
        if let Err(error) = self.tx.try_send(job) {
            let (full, job) = match error {
                mpsc::error::TrySendError::Full(job) => (true, job),
                mpsc::error::TrySendError::Closed(job) => (false, job),
            };
            self.pending.lock().expect("pending lock").remove(&job);
            if full {
                tracing::warn!(
                    ?job,
                    "dingtalk pull queue full; the day is left to reconciliation"
                );
            }
        }
    }

    fn taken(&self, job: &Job) {
        self.pending.lock().expect("pending lock").remove(job);
    }
}

impl PullQueue for DingTalkPullQueue {
    fn pull_days(&self, pulls: Vec<DayPull>) {
        for pull in pulls {
            self.shared.offer(Job::Day(self.app.clone(), pull));
        }
    }

    fn pull_instances(&self, pulls: Vec<InstancePull>) {
        for pull in pulls {
            self.shared.offer(Job::Instance(self.app.clone(), pull));
        }
    }
}

/// The DingTalk pull machinery of one hub.
pub(crate) struct DingTalkPulls {
    shared: Arc<QueueShared>,
}

impl DingTalkPulls {
    /// A queue for the pushes of app `name`.
    pub(crate) fn queue_for(&self, name: &str) -> Arc<dyn PullQueue> {
        Arc::new(DingTalkPullQueue {
            app: Some(name.to_owned()),
            shared: self.shared.clone(),
        })
    }

    /// A queue for pushes of any app: each pull goes to the app whose
    /// configured `corp_id` is the pull's tenant, else to the only app.
    pub(crate) fn queue(&self) -> Arc<dyn PullQueue> {
        Arc::new(DingTalkPullQueue {
            app: None,
            shared: self.shared.clone(),
        })
    }
}

/// What the worker and the poller share.
struct Context {
    reconciliation: Arc<Reconciliation>,
    sink: Store,
    shared: Arc<QueueShared>,
    supply_lookback_days: u32,
}

impl Context {
    fn app(&self, name: Option<&str>, tenant: &str) -> Option<&DingTalkReconciler> {
        let apps = self.reconciliation.dingtalk();
        match name {
            Some(name) => apps.iter().find(|app| app.name == name),
            None => apps
                .iter()
                .find(|app| !tenant.is_empty() && app.corp_id == tenant)
                .or(if apps.len() == 1 { apps.first() } else { None }),
        }
    }

    fn pull_source(app: &DingTalkReconciler, tenant: &str) -> PullSource {
        PullSource {
            app: app.name.clone(),
            app_id: app.client_id.clone(),
            tenant: if tenant.is_empty() {
                app.corp_id.clone()
            } else {
                tenant.to_owned()
            },
            zone: app.zone,
            received_time: SystemTime::now().into(),
        }
    }

    async fn run(&self, job: Job) {
        match job {
            Job::Day(app, pull) => {
                let Some(app) = self.app(app.as_deref(), &pull.tenant) else {
                    tracing::warn!(?pull, "no dingtalk app with API credentials for this pull");
                    return;
                };
                if let Err(error) = self
                    .pull_day(app, &pull.tenant, &pull.employee_id, pull.work_date)
                    .await
                {
                    tracing::warn!(app = %app.name, employee = %pull.employee_id, work_date = %pull.work_date, %error, "dingtalk day pull failed; left to reconciliation");
                }
            }
            Job::Instance(app, pull) => {
                let Some(app) = self.app(app.as_deref(), &pull.tenant) else {
                    tracing::warn!(?pull, "no dingtalk app with API credentials for this pull");
                    return;
                };
                if let Err(error) = self.pull_correction(app, &pull).await {
                    tracing::warn!(app = %app.name, instance = %pull.instance_id, %error, "dingtalk correction pull failed; left to reconciliation");
                }
            }
        }
    }

    /// `getupdatedata` for one employee-day, committed as one delivery.
    async fn pull_day(
        &self,
        app: &DingTalkReconciler,
        tenant: &str,
        employee_id: &str,
        work_date: NaiveDate,
    ) -> Result<(), String> {
        let result = app
            .api
            .get_update_data(employee_id, work_date)
            .await
            .map_err(|e| e.to_string())?;
        let pull = Self::pull_source(app, tenant);
        let facts = facts_from_update_data(&pull, employee_id, work_date, &result);
        let pulled = facts.len();
        let receipt = self
            .sink
            .commit(pull_delivery(&pull, GETUPDATEDATA, facts))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(app = %app.name, employee = employee_id, %work_date, pulled, appended = receipt.appended, "dingtalk day pulled");
        Ok(())
    }

    /// An approved 补卡 names no day: find the punch it made in `listRecord`
    /// (its `procInstId` is the instance), newest week first, then pull the
    /// days those punches fall on. A 补卡 on a holiday fires no punch event,
    /// so this is the only trigger such a day gets.
    async fn pull_correction(
        &self,
        app: &DingTalkReconciler,
        instance: &InstancePull,
    ) -> Result<(), String> {
        let pull = Self::pull_source(app, &instance.tenant);
        let today = Utc::now().with_timezone(&app.zone).date_naive();
        let lookback = Window {
            first: today - chrono::Duration::days(i64::from(self.supply_lookback_days.max(1)) - 1),
            last: today,
        };
        let users = [instance.employee_id.clone()];
        for span in lookback
            .spans(attendance_dingtalk::api::MAX_DAYS_PER_CALL)
            .into_iter()
            .rev()
        {
            let from = span.first.and_hms_opt(0, 0, 0).expect("midnight");
            let to = span
                .last
                .and_hms_opt(23, 59, 59)
                .expect("a second before midnight");
            let records = app
                .api
                .list_records(&users, from, to)
                .await
                .map_err(|e| e.to_string())?;
            let made: Vec<_> = records
                .into_iter()
                .filter(|item| record_instance_id(item) == instance.instance_id)
                .collect();
            if made.is_empty() {
                continue;
            }
            let punches = punches_from_records(&pull, &made);
            let mut days: Vec<NaiveDate> = punches
                .iter()
                .filter_map(|p| p.check_time.as_ref().and_then(|t| pull.local_date(t)))
                .collect();
            days.sort();
            days.dedup();
            self.sink
                .commit(pull_delivery(
                    &pull,
                    LIST_RECORDS,
                    punches.into_iter().map(Fact::Punch).collect(),
                ))
                .await
                .map_err(|e| e.to_string())?;
            for day in days {
                self.pull_day(app, &pull.tenant, &instance.employee_id, day)
                    .await?;
            }
            return Ok(());
        }
        tracing::warn!(app = %app.name, instance = %instance.instance_id, employee = %instance.employee_id, days = self.supply_lookback_days, "no punch made by this correction found; left to reconciliation");
        Ok(())
    }
}

/// Starts the pull worker and, when `failed_push_poll_seconds` is set, one
/// failed-push poller per DingTalk app with API credentials. All end with
/// `stop`.
pub(crate) fn start(
    reconciliation: &Arc<Reconciliation>,
    store: &Store,
    stop: &watch::Receiver<bool>,
) -> (DingTalkPulls, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let shared = Arc::new(QueueShared {
        tx,
        pending: Mutex::default(),
    });
    let schedule = reconciliation.schedule().clone();
    let context = Arc::new(Context {
        reconciliation: reconciliation.clone(),
        sink: store.clone(),
        shared: shared.clone(),
        supply_lookback_days: schedule.supply_lookback_days,
    });
    let mut tasks = vec![tokio::spawn(work(
        context.clone(),
        rx,
        store.clone(),
        stop.clone(),
    ))];
    if schedule.failed_push_poll_seconds > 0 {
        let every = Duration::from_secs(schedule.failed_push_poll_seconds);
        for index in 0..reconciliation.dingtalk().len() {
            tasks.push(tokio::spawn(poll_failed_pushes(
                context.clone(),
                index,
                every,
                store.clone(),
                stop.clone(),
            )));
        }
    }
    (DingTalkPulls { shared }, tasks)
}

/// Takes queued pulls until `stop`, a few at a time.
async fn work(
    context: Arc<Context>,
    mut rx: mpsc::Receiver<Job>,
    store: Store,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENT_PULLS));
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    loop {
        let job = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                None => return,
            },
            _ = flush.tick() => {
                context.reconciliation.dingtalk_calls.flush(&store).await;
                continue;
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        };
        context.shared.taken(&job);
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let context = context.clone();
        tokio::spawn(async move {
            context.run(job).await;
            drop(permit);
        });
    }
}

/// Reads app `index`'s failed pushes every `every`, while this replica holds
/// the app's singleton claim: each batch is committed (raw JSON, event id,
/// facts) before the next is read and before its pulls are queued.
async fn poll_failed_pushes(
    context: Arc<Context>,
    index: usize,
    every: Duration,
    store: Store,
    mut stop: watch::Receiver<bool>,
) {
    let app = &context.reconciliation.dingtalk()[index];
    let claim_name = format!("failed-push/dingtalk/{}", app.name);
    loop {
        if !sleep_unless_stopped(every, &mut stop).await {
            return;
        }
        let _claim = match store.try_singleton(&claim_name).await {
            Ok(Some(claim)) => claim,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(app = %app.name, %error, "cannot claim the failed-push poll");
                continue;
            }
        };
        loop {
            let batch = match app.api.failed_results().await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(app = %app.name, %error, "failed-push poll failed; trying again next time");
                    break;
                }
            };
            let count = batch.items.len();
            let received = SystemTime::now().into();
            for (position, item) in batch.items.iter().enumerate() {
                let delivery = failed_push_delivery(&app.app, item, received);
                let Some(receipt) = commit_until_stopped(&context.sink, &delivery, &mut stop).await
                else {
                    // Read is delete: what could not be stored must not vanish silently.
                    for item in &batch.items[position..] {
                        tracing::error!(app = %app.name, item = %item, "failed push read but not committed before shutdown");
                    }
                    return;
                };
                if receipt.duplicate_delivery {
                    continue;
                }
                context.shared.offer_all(&app.name, &delivery);
            }
            if count > 0 {
                tracing::info!(app = %app.name, count, has_more = batch.has_more, "failed pushes recovered");
            }
            if !batch.has_more || count == 0 {
                break;
            }
        }
        context.reconciliation.dingtalk_calls.flush(&store).await;
    }
}

impl QueueShared {
    /// The pulls a committed delivery calls for, for app `name`.
    fn offer_all(&self, name: &str, delivery: &Delivery) {
        for pull in pull_triggers(delivery) {
            self.offer(Job::Day(Some(name.to_owned()), pull));
        }
        for pull in instance_pulls(delivery) {
            self.offer(Job::Instance(Some(name.to_owned()), pull));
        }
    }
}

/// Commits, retrying with backoff while the store is unavailable; `None`
/// only when the hub stops first.
async fn commit_until_stopped(
    sink: &Store,
    delivery: &Delivery,
    stop: &mut watch::Receiver<bool>,
) -> Option<Receipt> {
    let mut wait = Duration::from_millis(200);
    loop {
        match DeliverySink::commit(sink, delivery.clone()).await {
            Ok(receipt) => return Some(receipt),
            Err(error) => {
                tracing::warn!(event_id = %delivery.event_id, %error, "failed push not committed yet; retrying")
            }
        }
        if !sleep_unless_stopped(wait, stop).await {
            return None;
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Sleeps for `wait`; `false` when the hub is stopping (or its stop signal
/// is gone) instead.
async fn sleep_unless_stopped(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        changed = stop.changed() => {
            if changed.is_err() {
                return false;
            }
        }
    }
    !*stop.borrow()
}
