//! Reconciliation end to end: pushes through the webhook, then the real hub
//! pulls from a fake Feishu API over real HTTP (with throttling and a token
//! that stops being valid), applies the differences, and signals the day.

use attendance_proto::v1::{
    log_entry, subscribe_request, GetIngestStatsRequest, LogEntryKind, ReconcileRequest,
    ShiftStatus, Vendor, WorkDirection,
};
use attendance_testkit::fake_feishu::{FakeFeishu, FakeFeishuApi};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use serde_json::json;

mod support;
use support::*;

const APP_ID: &str = "cli_a0c203e66cf8100c";
const APP_SECRET: &str = "fake-secret";
const EMPLOYEE: &str = "2b68933a";
const PUSHED_RECORD: &str = "6938012269578125316";
/// 2021-03-10 23:00 in Asia/Shanghai: a punch on the seed's work day that no push announced.
const MISSING_RECORD: &str = "7000000000000000001";
const MISSING_CHECK_TIME: i64 = 1_615_388_400;
/// An employee id Feishu does not know.
const GHOST: &str = "ghost0000";

fn config(db: &TestDatabase, api_base: &str) -> String {
    format!(
        r#"{server}
[reconciliation]
enabled = false   # passes run only when the test asks

[[feishu]]
name = "acme"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{FLOW_TOKEN}"
base_url = "{api_base}"
time_zone = "Asia/Shanghai"

[[feishu]]
name = "acme-hr"
app_id = "cli_a0c27934a1f8100b"
verification_token = "{TASK_TOKEN}"
"#,
        server = server_and_storage(db)
    )
}

/// What the Feishu API knows: the pushed punch as Feishu returns it, a punch
/// that was never pushed, and the day's result after its status changed.
fn vendor_truth(api: &FakeFeishuApi) {
    let flow = |record: &str, check_time: i64| {
        json!({
            "user_id": EMPLOYEE, "creator_id": EMPLOYEE,
            "location_name": "浙江省杭州市余杭区五常街道木桥头西溪八方城",
            "check_time": check_time.to_string(), "comment": "", "record_id": record,
            "ssid": "ByteDance Inc", "bssid": "b0:b8:67:62:18:73",
            "is_field": false, "is_wifi": false, "type": 0, "photo_urls": []
        })
    };
    api.set_flows(vec![
        flow(PUSHED_RECORD, 1_615_381_916),
        flow(MISSING_RECORD, MISSING_CHECK_TIME),
    ]);
    api.set_tasks(vec![json!({
        "result_id": "6936733176245026817", "user_id": EMPLOYEE, "employee_name": "Zhang San",
        "day": 20210310, "group_id": "6935645428507557915", "shift_id": "6938006252085739521",
        "records": [{
            "check_in_record_id": PUSHED_RECORD,
            "check_in_record": flow(PUSHED_RECORD, 1_615_381_916),
            "check_in_result": "Normal", "check_in_result_supplement": "CardReplacementApplication",
            "check_in_shift_time": "1615338000",
            "check_out_record_id": MISSING_RECORD,
            "check_out_record": flow(MISSING_RECORD, MISSING_CHECK_TIME),
            "check_out_result": "Normal", "check_out_result_supplement": "None",
            "check_out_shift_time": "1615370400",
            "task_shift_type": 0
        }]
    })]);
}

fn reconcile_the_seed_day() -> ReconcileRequest {
    ReconcileRequest {
        vendor: Vendor::Feishu as i32,
        app: "acme".into(),
        work_date_from: "2021-03-10".into(),
        work_date_to: "2021-03-10".into(),
        employee_ids: vec![],
    }
}

on_both_backends! {
    a_pass_applies_what_pushes_missed_then_changes_nothing => |db: TestDatabase| async move {
        // One fake plays the whole vendor: the hub's base_url serves the APIs.
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        vendor_truth(&api);
        let api_base = feishu.base_url().to_string();
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base)).await;
        let http = hub.http_url();
        assert_eq!(FeishuWebhookSender::new(&http, "acme", None).post_plain(FLOW_JSON).await.status, 200);
        assert_eq!(FeishuWebhookSender::new(&http, "acme-hr", None).post_plain(TASK_JSON).await.status, 200);
        let pushed = everything(&hub).await;
        assert_eq!(pushed.len(), 2);

        // Throttled twice on the way: the pass waits it out instead of failing.
        api.throttle_next(2, 1);
        let mut admin = admin(&hub).await;
        let first = admin.reconcile(reconcile_the_seed_day()).await.unwrap().into_inner();
        assert_eq!(first.apps.len(), 1);
        let outcome = &first.apps[0];
        assert_eq!(outcome.error, "", "the pass completes");
        assert_eq!(outcome.work_dates_reconciled, vec!["2021-03-10".to_string()]);
        assert_eq!(outcome.differences_applied, 3, "{outcome:?}");
        assert!(api.calls().iter().filter(|c| c.status == 429).count() == 2);

        // A subscriber resuming after the pushes catches up on what the pass applied.
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(pushed[1].cursor.clone()))).await;
        let (entries, reconciled_cursor) = entries_until_idle(&mut stream).await;
        let kinds: Vec<i32> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds.last(), Some(&(LogEntryKind::DayReconciled as i32)), "{entries:#?}");
        let missing: Vec<_> = entries.iter().filter_map(|e| match &e.fact {
            Some(log_entry::Fact::Punch(p)) => Some(p),
            _ => None,
        }).collect();
        assert_eq!(missing.len(), 1, "only the punch no push announced: {entries:#?}");
        assert_eq!(missing[0].record_id, MISSING_RECORD);
        assert_eq!(missing[0].check_time.unwrap().seconds, MISSING_CHECK_TIME);
        let results: Vec<_> = entries.iter().filter_map(|e| match &e.fact {
            Some(log_entry::Fact::ShiftResult(s)) => Some(s),
            _ => None,
        }).collect();
        let on_duty = results.iter().find(|s| s.direction == WorkDirection::OnDuty as i32).expect("on-duty result");
        assert_eq!(on_duty.revision, 2, "a new revision of the pushed result");
        assert_eq!(on_duty.status, ShiftStatus::Normal as i32);
        assert_eq!(on_duty.previous_status, ShiftStatus::Late as i32, "what it said before");
        assert_eq!(on_duty.task_id, "6936733176245026817", "push-only fields survive the pull");
        assert_eq!(on_duty.scheduled_time.unwrap().seconds, 1_615_338_000);
        let Some(log_entry::Fact::DayReconciled(day)) = &entries.last().unwrap().fact else { unreachable!() };
        assert_eq!(day.work_date, "2021-03-10");
        assert_eq!(day.source.as_ref().unwrap().tenant, "2fce678eb60d1651");

        // The token stops being valid: refreshed once, and the pass still completes.
        let tokens_before = api.tokens_issued();
        api.expire_tokens();
        let second = admin.reconcile(reconcile_the_seed_day()).await.unwrap().into_inner();
        assert_eq!(second.apps[0].error, "");
        assert_eq!(second.apps[0].differences_applied, 0, "a second pass changes nothing");
        assert_eq!(api.tokens_issued(), tokens_before + 1);
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(reconciled_cursor))).await;
        let (after, _) = entries_until_idle(&mut stream).await;
        assert!(after.is_empty(), "nothing new for the subscriber: {after:#?}");

        let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
        let acme = stats.vendor_calls.iter().find(|c| c.app == "acme").expect("acme's calls are counted");
        assert_eq!(acme.calls, api.calls().len() as i64, "every call the fake answered is metered");
        assert_eq!(stats.deliveries_translated, 2);
        // And scraped: this process's counter and the month's total across replicas.
        let samples = scrape(&hub).await;
        let acme_labels = ["vendor=\"feishu\"", "app=\"acme\""];
        assert_eq!(metric(&samples, "attendance_hub_vendor_calls_total", &acme_labels), acme.calls as f64);
        assert_eq!(metric(&samples, "attendance_hub_vendor_calls_this_month", &acme_labels), acme.calls as f64);
    };

    a_user_id_feishu_rejects_is_dropped_and_everyone_else_reconciled => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        vendor_truth(&api);
        // An id on the roster that Feishu does not know: user_flows/query
        // refuses any batch holding it with 1220004 and names nobody.
        api.reject_users(&[GHOST]);
        let config = config(&db, feishu.base_url()).replacen(
            "time_zone = \"Asia/Shanghai\"\n",
            &format!("time_zone = \"Asia/Shanghai\"\nroster = [\"{GHOST}\"]\ntenant_key = \"2fce678eb60d1651\"\n"),
            1,
        );
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config).await;
        let http = hub.http_url();
        assert_eq!(FeishuWebhookSender::new(&http, "acme", None).post_plain(FLOW_JSON).await.status, 200);

        let mut admin = admin(&hub).await;
        let pass = admin.reconcile(reconcile_the_seed_day()).await.unwrap().into_inner();
        let outcome = &pass.apps[0];
        assert_eq!(outcome.error, "", "one rejected id does not abort the pass: {}", hub.log());
        assert_eq!(
            outcome.work_dates_reconciled,
            vec!["2021-03-10".to_string()],
            "user_tasks/query calls the id invalid (no such employee), so the day is whole"
        );
        let refused = api.calls().iter().filter(|c| c.path == "user_flows/query" && c.code == 1220004).count();
        assert!(refused >= 2, "the batch, then the id alone: {:?}", api.calls());
        let punches: Vec<String> = everything(&hub).await.into_iter().filter_map(|e| match e.fact {
            Some(log_entry::Fact::Punch(p)) => Some(p.record_id),
            _ => None,
        }).collect();
        assert!(punches.contains(&MISSING_RECORD.to_string()), "the known employee's punches were pulled: {punches:?}");
    };

    a_task_event_without_status_changes_pulls_the_employees_day => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        vendor_truth(&api);
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, feishu.base_url())).await;
        // The seed task event, to the app that pulls, saying a day changed
        // but not how.
        let mut event: serde_json::Value = serde_json::from_str(TASK_JSON).unwrap();
        event["header"]["token"] = json!(FLOW_TOKEN);
        event["header"]["app_id"] = json!(APP_ID);
        event["event"]["status_changes"] = json!([]);
        let http = hub.http_url();
        let status = FeishuWebhookSender::new(&http, "acme", None).post_plain(&event.to_string()).await.status;
        assert_eq!(status, 200);

        // The job committed with the push pulls the day; its facts arrive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let entries = loop {
            let entries = everything(&hub).await;
            let pulled = entries.iter().any(|e| matches!(&e.fact, Some(log_entry::Fact::ShiftResult(_))));
            if pulled {
                break entries;
            }
            assert!(std::time::Instant::now() < deadline, "the day was never pulled: {}", hub.log());
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        let results: Vec<_> = entries.iter().filter_map(|e| match &e.fact {
            Some(log_entry::Fact::ShiftResult(s)) => Some(s),
            _ => None,
        }).collect();
        let on_duty = results.iter().find(|s| s.direction == WorkDirection::OnDuty as i32).expect("on-duty result");
        assert_eq!(on_duty.work_date, "2021-03-10");
        assert_eq!(on_duty.employee_id, EMPLOYEE);
        assert_eq!(on_duty.status, ShiftStatus::Normal as i32, "what Feishu says of the day");
        assert_eq!(on_duty.business_key, format!("{EMPLOYEE}/2021-03-10/1/on"), "keyed as a push keys it");
        assert!(api.calls().iter().any(|c| c.path == "user_tasks/query"));
        assert!(api.calls().iter().any(|c| c.path == "user_flows/query"));
    };

    a_bad_window_is_refused => |db: TestDatabase| async move {
        let api = FakeFeishuApi::new(APP_ID, APP_SECRET);
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base)).await;
        let mut admin = admin(&hub).await;
        let mut request = reconcile_the_seed_day();
        request.work_date_to = "2021-03-01".into();
        let refused = admin.reconcile(request).await.expect_err("to before from");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        let mut request = reconcile_the_seed_day();
        request.app = "nobody".into();
        assert_eq!(admin.reconcile(request).await.expect_err("unknown app").code(), tonic::Code::InvalidArgument);
        assert!(api.calls().is_empty(), "nothing was pulled");
    };
}
