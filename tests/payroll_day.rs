//! Closing a payroll period end to end: one employee punching in both Feishu
//! and DingTalk (fake vendor APIs over real HTTP), the day-reconciled
//! contract (not from a targeted pass, not before the day ends, again after
//! a later correction, received by an employee-filtered subscriber), the
//! day view and the reconciled days.

use attendance_proto::v1::{
    log_entry, subscribe_request, subscribe_response, GetDailyAttendanceRequest,
    ListReconciledDaysRequest, LogEntry, LogEntryKind, ReconcileRequest, SubscribeFilter,
    SubscribeRequest, Vendor,
};
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::fake_feishu::{FakeFeishu, FakeFeishuApi};
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use serde_json::{json, Value};

mod support;
use support::*;

const FEISHU_APP_ID: &str = "cli_a0c203e66cf8100c";
const FEISHU_SECRET: &str = "fake-secret";
const DINGTALK_CLIENT: &str = "dingclientacme0001";
const DINGTALK_SECRET: &str = "fake-dingtalk-secret";
/// One organisation on both suites, under one tenant id.
const TENANT: &str = "2fce678eb60d1651";
const EMPLOYEE: &str = "2b68933a";
const DAY: &str = "2021-03-10";
/// 2021-03-10 09:00 and 18:05 in Asia/Shanghai.
const FEISHU_CHECK_IN: i64 = 1_615_338_000;
const DINGTALK_CHECK_OUT: i64 = 1_615_370_700;

fn config(db: &TestDatabase, feishu: &str, dingtalk: &str) -> String {
    format!(
        r#"{server}
[reconciliation]
enabled = false   # passes run only when the test asks
day_end_grace_hours = 6

[[feishu]]
name = "acme"
app_id = "{FEISHU_APP_ID}"
app_secret = "{FEISHU_SECRET}"
verification_token = "{FLOW_TOKEN}"
base_url = "{feishu}"
time_zone = "Asia/Shanghai"
tenant_key = "{TENANT}"
roster = ["{EMPLOYEE}"]

[[dingtalk]]
name = "acme-dt"
client_id = "{DINGTALK_CLIENT}"
client_secret = "{DINGTALK_SECRET}"
corp_id = "{TENANT}"
stream = false
callback_token = "mryue"
callback_aes_key = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
api_base_url = "{dingtalk}"
oapi_base_url = "{dingtalk}"
time_zone = "Asia/Shanghai"
roster = ["{EMPLOYEE}"]
"#,
        server = server_and_storage(db)
    )
}

fn feishu_flow(record: &str, check_time: i64) -> Value {
    json!({
        "user_id": EMPLOYEE, "creator_id": EMPLOYEE, "location_name": "西溪八方城",
        "check_time": check_time.to_string(), "comment": "", "record_id": record,
        "ssid": "", "bssid": "", "is_field": false, "is_wifi": false, "type": 0, "photo_urls": []
    })
}

fn dingtalk_record() -> Value {
    json!({
        "id": 900002, "userId": EMPLOYEE, "corpId": TENANT, "bizId": "BIZ-OFF-0001",
        "userCheckTime": DINGTALK_CHECK_OUT * 1000, "workDate": 1_615_305_600_000_i64,
        "checkType": "OffDuty", "timeResult": "Normal", "locationResult": "Normal", "sourceType": "USER",
        "locationMethod": "MAP", "isLegal": "Y", "userAddress": "西溪园区"
    })
}

fn pass(vendor: Vendor, from: &str, to: &str, employees: &[&str]) -> ReconcileRequest {
    ReconcileRequest {
        vendor: vendor as i32,
        app: String::new(),
        work_date_from: from.into(),
        work_date_to: to.into(),
        employee_ids: employees.iter().map(|e| e.to_string()).collect(),
    }
}

/// Everything an employee-filtered subscriber of the tenant has received.
async fn filtered(hub: &HubProcess, employee: &str) -> Vec<LogEntry> {
    let mut stream = client(hub)
        .await
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromBeginning(true)),
            filter: Some(SubscribeFilter {
                tenants: vec![TENANT.into()],
                employee_ids: vec![employee.into()],
                ..SubscribeFilter::default()
            }),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut entries = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        match item.item {
            Some(subscribe_response::Item::Entry(entry)) => entries.push(entry),
            _ => return entries,
        }
    }
    entries
}

fn signals(entries: &[LogEntry]) -> Vec<(i32, String)> {
    entries
        .iter()
        .filter_map(|e| match &e.fact {
            Some(log_entry::Fact::DayReconciled(d)) => {
                Some((d.source.as_ref().unwrap().vendor, d.work_date.clone()))
            }
            _ => None,
        })
        .collect()
}

on_both_backends! {
    a_day_is_signalled_only_for_the_whole_tenant_once_it_ended_and_again_after_a_correction => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(FEISHU_APP_ID, FEISHU_SECRET)).await;
        let feishu_api = feishu.api().clone();
        feishu_api.set_flows(vec![feishu_flow("7100000000000000001", FEISHU_CHECK_IN)]);
        let dingtalk_api = FakeDingTalkApi::new(DINGTALK_CLIENT, DINGTALK_SECRET);
        dingtalk_api.set_records(vec![dingtalk_record()]);
        let dingtalk_base = dingtalk_api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, feishu.base_url(), &dingtalk_base)).await;
        let mut admin = admin(&hub).await;

        // A targeted pass applies what it finds but speaks for no tenant.
        let targeted = admin.reconcile(pass(Vendor::Feishu, DAY, DAY, &[EMPLOYEE])).await.unwrap().into_inner();
        assert_eq!(targeted.apps[0].error, "");
        assert_eq!(targeted.apps[0].differences_applied, 1);
        assert!(targeted.apps[0].work_dates_reconciled.is_empty(), "{targeted:?}");

        // Today and tomorrow have not ended (plus the grace) in Shanghai.
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        let (today, tomorrow) = (today.to_string(), today.succ_opt().unwrap().to_string());
        let early = admin.reconcile(pass(Vendor::Feishu, &today, &tomorrow, &[])).await.unwrap().into_inner();
        assert_eq!(early.apps[0].error, "");
        assert!(early.apps[0].work_dates_reconciled.is_empty(), "{early:?}");
        assert_eq!(early.apps[0].work_dates_not_ended, vec![today.clone(), tomorrow.clone()]);
        assert!(signals(&everything(&hub).await).is_empty(), "no signal yet");

        // Passes over the whole tenant, for an ended day: both vendors signal.
        let feishu_pass = admin.reconcile(pass(Vendor::Feishu, DAY, DAY, &[])).await.unwrap().into_inner();
        assert_eq!(feishu_pass.apps[0].work_dates_reconciled, vec![DAY.to_string()]);
        let dingtalk_pass = admin.reconcile(pass(Vendor::Dingtalk, DAY, DAY, &[])).await.unwrap().into_inner();
        assert_eq!(dingtalk_pass.apps[0].error, "");
        assert_eq!(dingtalk_pass.apps[0].work_dates_reconciled, vec![DAY.to_string()]);
        let log = everything(&hub).await;
        let Some(log_entry::Fact::DayReconciled(signal)) = &log.iter().find(|e| e.kind == LogEntryKind::DayReconciled as i32).unwrap().fact else { unreachable!() };
        assert_eq!((signal.employees_covered, signal.pass_id.as_str()), (1, feishu_pass.apps[0].pass_id.as_str()));
        assert_eq!(signal.time_zone, "Asia/Shanghai");

        // The day view: both vendors' punches, reconciled by both.
        let mut api = client(&hub).await;
        let view = api.get_daily_attendance(GetDailyAttendanceRequest {
            tenant: TENANT.into(), employee_id: EMPLOYEE.into(), work_date: DAY.into(), time_zone: String::new(),
        }).await.unwrap().into_inner();
        assert_eq!(view.time_zone, "Asia/Shanghai");
        let punches: Vec<(i32, i64)> = view.punches.iter()
            .map(|p| (p.source.as_ref().unwrap().vendor, p.check_time.unwrap().seconds)).collect();
        assert_eq!(punches, vec![(Vendor::Feishu as i32, FEISHU_CHECK_IN), (Vendor::Dingtalk as i32, DINGTALK_CHECK_OUT)]);
        assert!(view.reconciled, "{view:#?}");
        assert_eq!(view.reconciliations.len(), 2);
        let other_day = api.get_daily_attendance(GetDailyAttendanceRequest {
            tenant: TENANT.into(), employee_id: EMPLOYEE.into(), work_date: "2021-03-11".into(), time_zone: "Asia/Shanghai".into(),
        }).await.unwrap().into_inner();
        assert!(other_day.punches.is_empty() && !other_day.reconciled);
        let refused = api.get_daily_attendance(GetDailyAttendanceRequest {
            tenant: TENANT.into(), employee_id: String::new(), work_date: DAY.into(), time_zone: String::new(),
        }).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);

        // A correction at the vendor: the next pass applies it and signals the day again, after it.
        feishu_api.set_flows(vec![
            feishu_flow("7100000000000000001", FEISHU_CHECK_IN),
            feishu_flow("7100000000000000002", FEISHU_CHECK_IN + 3_600),
        ]);
        let again = admin.reconcile(pass(Vendor::Feishu, DAY, DAY, &[])).await.unwrap().into_inner();
        assert_eq!(again.apps[0].differences_applied, 1);
        let log = everything(&hub).await;
        let kinds: Vec<i32> = log.iter().rev().take(2).map(|e| e.kind).collect();
        assert_eq!(kinds, vec![LogEntryKind::DayReconciled as i32, LogEntryKind::Punch as i32], "the signal follows the correction");

        // A subscriber following another employee of the tenant still receives every signal.
        let followed = filtered(&hub, "someone-else").await;
        assert_eq!(signals(&followed), vec![
            (Vendor::Feishu as i32, DAY.to_string()),
            (Vendor::Dingtalk as i32, DAY.to_string()),
            (Vendor::Feishu as i32, DAY.to_string()),
        ]);
        assert_eq!(followed.len(), 3, "and none of the employee's facts");

        let days = api.list_reconciled_days(ListReconciledDaysRequest {
            tenant: TENANT.into(), work_date_from: "2021-03-01".into(), work_date_to: "2021-03-31".into(), vendor: 0,
        }).await.unwrap().into_inner().days;
        let listed: Vec<(i32, &str)> = days.iter().map(|d| (d.source.as_ref().unwrap().vendor, d.work_date.as_str())).collect();
        assert_eq!(listed, vec![(Vendor::Feishu as i32, DAY), (Vendor::Dingtalk as i32, DAY)]);
        assert_eq!(days[0].pass_id, again.apps[0].pass_id, "the latest signal of the day");
        let refused = api.list_reconciled_days(ListReconciledDaysRequest {
            tenant: TENANT.into(), work_date_from: "2021-03-31".into(), work_date_to: "2021-03-01".into(), vendor: 0,
        }).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    };
}
