//! Row 8: webhook latency at a fixed pace while an on-demand reconciliation
//! pass pulls a roster's week from a fake Feishu API and commits it, against
//! the same pace without the pass; and how long the pass took.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use attendance_proto::v1::{ReconcileRequest, Vendor};
use attendance_testkit::fake_feishu::{FakeFeishu, FakeFeishuApi};
use attendance_testkit::TestDatabase;
use chrono::{Days, NaiveDate};
use serde_json::{json, Value};

use crate::cpu::CpuWatch;
use crate::events::{self, Employees, APP, APP_ID, APP_SECRET};
use crate::hubs::{reconciliation_config, RunningHub};
use crate::load;
use crate::report::{thousands, Figure, Row};
use crate::{Bench, BenchResult};

/// The reconciled week, Monday to Sunday; pushed punches are weeks later.
const FIRST_DAY: (i32, u32, u32) = (2024, 3, 4);
/// Pulled record ids: numeric like Feishu's, apart from the pushed ones.
const PULLED_RECORD_BASE: u64 = 8_100_000_000_000_000_000;
/// China Standard Time, the app's `time_zone`, has no daylight saving.
const CST_OFFSET_SECONDS: i64 = 8 * 3600;
/// Webhooks run this long before the pass starts, so the pace is steady.
const LEAD: Duration = Duration::from_secs(1);

fn roster_employees(count: usize) -> Employees {
    Employees {
        prefix: "roster",
        count,
    }
}

fn first_day() -> NaiveDate {
    let (y, m, d) = FIRST_DAY;
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Midnight of `day` in China Standard Time, as Unix seconds.
fn cst_midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
        - CST_OFFSET_SECONDS
}

fn flow(employee: &str, record_id: u64, check_time: i64) -> Value {
    json!({
        "user_id": employee, "creator_id": employee,
        "location_name": "浙江省杭州市余杭区五常街道木桥头西溪八方城",
        "check_time": check_time.to_string(), "comment": "", "record_id": record_id.to_string(),
        "ssid": "ByteDance Inc", "bssid": "b0:b8:67:62:18:73",
        "is_field": false, "is_wifi": true, "type": 0, "photo_urls": []
    })
}

/// What the fake Feishu knows: every employee punches in at 09:00 and out at
/// 18:00 (spread over a few minutes) every day, and each day has its result.
fn vendor_truth(api: &FakeFeishuApi, employees: &[String], days: u32) {
    let mut flows = Vec::new();
    let mut tasks = Vec::new();
    for d in 0..days {
        let day = first_day() + Days::new(u64::from(d));
        let midnight = cst_midnight(day);
        let yyyymmdd: i64 = day.format("%Y%m%d").to_string().parse().expect("digits");
        for (k, employee) in employees.iter().enumerate() {
            let serial = (u64::from(d) * employees.len() as u64 + k as u64) * 2;
            let spread = (k % 600) as i64;
            let (in_id, out_id) = (PULLED_RECORD_BASE + serial, PULLED_RECORD_BASE + serial + 1);
            let (in_time, out_time) = (midnight + 9 * 3600 + spread, midnight + 18 * 3600 + spread);
            let (check_in, check_out) = (
                flow(employee, in_id, in_time),
                flow(employee, out_id, out_time),
            );
            tasks.push(json!({
                "result_id": (PULLED_RECORD_BASE + serial).to_string(), "user_id": employee,
                "employee_name": employee, "day": yyyymmdd,
                "group_id": "6935645428507557915", "shift_id": "6938006252085739521",
                "records": [{
                    "check_in_record_id": in_id.to_string(), "check_in_record": check_in,
                    "check_in_result": "Normal", "check_in_result_supplement": "None",
                    "check_in_shift_time": (midnight + 9 * 3600).to_string(),
                    "check_out_record_id": out_id.to_string(), "check_out_record": check_out,
                    "check_out_result": "Normal", "check_out_result_supplement": "None",
                    "check_out_shift_time": (midnight + 18 * 3600).to_string(),
                    "task_shift_type": 0
                }]
            }));
            flows.push(check_in);
            flows.push(check_out);
        }
    }
    api.set_flows(flows);
    api.set_tasks(tasks);
}

pub async fn run(bench: &mut Bench) -> BenchResult<()> {
    let settings = &bench.settings;
    let employees = roster_employees(settings.roster);
    let roster: Vec<String> = (0..settings.roster as u64)
        .map(|n| employees.id(n))
        .collect();
    let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
    let api = feishu.api().clone();
    vendor_truth(&api, &roster, settings.roster_days);
    let db = TestDatabase::sqlite();
    let hub =
        RunningHub::start(&reconciliation_config(db.url(), feishu.base_url(), &roster)).await?;
    measure(bench, &hub, &api, employees)
        .await
        .map_err(|e| format!("{e}\nthe hub's log ends with:\n{}", hub.log_tail()))
}

async fn measure(
    bench: &mut Bench,
    hub: &RunningHub,
    api: &FakeFeishuApi,
    employees: Employees,
) -> BenchResult<()> {
    let settings = &bench.settings;
    let (connections, rate) = (settings.connections, settings.rate);

    // The same pace without a pass: the ceiling.
    let quiet = events::build(settings.paced_events(), employees);
    let baseline = load::paced(hub.http, &quiet.requests, connections, rate, None).await;
    baseline.failures.check("paced ingest without a pass")?;
    let baseline = baseline.latencies();

    // Events for the longest pass the bench waits out.
    let budget = rate * (LEAD.as_secs_f64() + settings.reconcile_max_seconds + 1.0);
    let during = events::build((budget as usize).min(settings.max_events), employees);
    let until: load::Until = Arc::new(OnceLock::new());
    let sender = tokio::spawn({
        let (addr, requests, until) = (hub.http, during.requests.clone(), until.clone());
        async move { load::paced(addr, &requests, connections, rate, Some(until)).await }
    });
    tokio::time::sleep(LEAD).await;
    let last = first_day() + Days::new(u64::from(settings.roster_days.max(1) - 1));
    let mut admin = hub.admin().await?;
    let cpu = CpuWatch::start("hub", &hub.pids());
    let pass_started = Instant::now();
    let request = ReconcileRequest {
        vendor: Vendor::Feishu as i32,
        app: APP.into(),
        work_date_from: first_day().to_string(),
        work_date_to: last.to_string(),
        employee_ids: vec![],
    };
    let answer = tokio::time::timeout(
        Duration::from_secs_f64(settings.reconcile_max_seconds),
        admin.reconcile(request),
    )
    .await;
    let pass_ended = Instant::now();
    let cpu = cpu.finish();
    // Webhooks go on a little past the pass, then stop being scheduled;
    // those already due are still sent and timed.
    let _ = until.set(pass_ended + Duration::from_millis(500));
    let outcome = sender
        .await
        .map_err(|e| format!("the webhook sender failed: {e}"))?;
    outcome.failures.check("paced ingest during the pass")?;
    let answer = answer
        .map_err(|_| {
            format!(
                "the pass took longer than HUB_BENCH_RECONCILE_MAX_SECONDS={}",
                settings.reconcile_max_seconds
            )
        })?
        .map_err(|e| format!("Reconcile: {e}"))?
        .into_inner();
    let [pass] = answer.apps.as_slice() else {
        return Err(format!(
            "Reconcile answered {} apps, not 1",
            answer.apps.len()
        ));
    };
    if !pass.error.is_empty() {
        return Err(format!("the pass failed: {}", pass.error));
    }
    if pass.work_dates_reconciled.len() != settings.roster_days as usize {
        return Err(format!(
            "the pass reconciled {:?}, not {} days",
            pass.work_dates_reconciled, settings.roster_days
        ));
    }
    let calls = api.calls();
    if let Some(refused) = calls.iter().find(|c| c.status != 200 || c.code != 0) {
        return Err(format!(
            "the fake Feishu refused a call of the pass: {refused:?}"
        ));
    }
    let pulls = calls.iter().filter(|c| c.path.ends_with("/query")).count();

    let latency = outcome.latencies_between(pass_started, pass_ended);
    let covered = outcome
        .last_scheduled()
        .is_some_and(|last| last >= pass_ended);
    let took = pass_ended.duration_since(pass_started).as_secs_f64();
    let pace = format!("{}/s", thousands(rate));
    bench.table.push(
        Row::new(
            "8 p99",
            &format!("webhook ack p99 at {pace} during a reconciliation pass, SQLite"),
            Figure::Millis(latency.percentile_ms(99.0)),
        )
        .ceiling(Figure::Millis(baseline.percentile_ms(99.0)))
        .note(format!(
            "{} webhooks scheduled during the pass{}, p50 {:.2} ms; ceiling: the same pace without a pass (p50 {:.2} ms)",
            thousands(latency.len() as f64),
            if covered { "" } else { " (events ran out before the pass ended)" },
            latency.percentile_ms(50.0),
            baseline.percentile_ms(50.0)
        )),
    );
    bench.table.push(
        Row::new(
            "8 pass",
            &format!(
                "reconciliation pass: {} employees × {} days, under webhooks",
                thousands(settings.roster as f64),
                settings.roster_days
            ),
            Figure::Seconds(took),
        )
        .note(format!(
            "{} facts pulled in {pulls} API queries (≤ 50 users each, every call answered code 0), {} applied, {} days signalled; {cpu}",
            thousands(pass.facts_pulled as f64),
            thousands(pass.differences_applied as f64),
            pass.work_dates_reconciled.len()
        )),
    );
    Ok(())
}
