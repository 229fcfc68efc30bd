//! DingTalk pulls end to end: the real hub binary, real databases and a fake
//! DingTalk API over real HTTP. A pushed punch triggers a `getupdatedata`
//! pull of its day; failed pushes are recovered into the facts their pushes
//! would have made; a reconciliation pass finds a punch no push announced and
//! signals its day; busy and rate-limited answers are retried, and every call
//! is metered.

use std::time::Duration;

use attendance_proto::v1::{
    log_entry, subscribe_request, ApprovalKind, ApprovalStatus, Channel, GetIngestStatsRequest,
    ListApprovalsRequest, ListPunchesRequest, ListShiftResultsRequest, LogEntryKind, Punch,
    PunchValidity, ReconcileRequest, ShiftResult, ShiftStatus, Vendor, WorkDirection,
};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk::FakeDingTalk;
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::NaiveDate;
use serde_json::{json, Value};

mod support;
use support::*;

const CLIENT_ID: &str = "dingclientacme0001";
const CLIENT_SECRET: &str = "fake-dingtalk-secret";
const TOKEN: &str = "mryue";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
/// The corp of the getupdatedata fixture.
const CORP: &str = "dinge8a1b2c3";
/// The corp the fake Stream gateway names in every event.
const STREAM_CORP: &str = attendance_testkit::fake_dingtalk::CORP_ID;
/// The corp of the failed-result fixture.
const FAILED_CORP: &str = "ding241f334c339e175b";
const GETUPDATEDATA: &str =
    include_str!("../crates/attendance-dingtalk/tests/fixtures/api_getupdatedata_response.json");
const FAILED_RESULT: &str = include_str!(
    "../crates/attendance-dingtalk/tests/fixtures/api_get_call_back_failed_result_response.json"
);

fn config(
    db: &TestDatabase,
    api_base: &str,
    failed_push_poll_seconds: u64,
    stream: bool,
) -> String {
    format!(
        r#"{server}
[reconciliation]
enabled = false   # passes run only when the test asks

[[dingtalk]]
name = "acme"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
corp_id = "{CORP}"
stream = {stream}
callback_token = "{TOKEN}"
callback_aes_key = "{AES_KEY}"
api_base_url = "{api_base}"
oapi_base_url = "{api_base}"
time_zone = "Asia/Shanghai"
roster = ["weekend01", "busy01"]
failed_push_poll_seconds = {failed_push_poll_seconds}
"#,
        server = server_and_storage(db)
    )
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Milliseconds of a `yyyy-MM-dd HH:mm:ss` time in China Standard Time.
fn cst_millis(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_millis()
        - 8 * 3_600_000
}

/// Posts `msg` to the hub as an HTTP callback, sealed and signed as
/// DingTalk does for a console subscription (the owner is the client id).
async fn push(hub: &HubProcess, msg: &Value) -> u16 {
    DingTalkCallbackSender::new(&hub.http_url(), "acme", TOKEN, AES_KEY, CLIENT_ID)
        .post(&msg.to_string())
        .await
        .status
}

async fn punches(hub: &HubProcess, employee: &str) -> Vec<Punch> {
    client(hub)
        .await
        .list_punches(ListPunchesRequest {
            employee_id: employee.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .punches
}

async fn shift_results(hub: &HubProcess, employee: &str, day: &str) -> Vec<ShiftResult> {
    client(hub)
        .await
        .list_shift_results(ListShiftResultsRequest {
            employee_id: employee.into(),
            work_date_from: day.into(),
            work_date_to: day.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shift_results
}

/// Polls `probe` until it answers something; generous, because pulls run
/// after the acknowledgement, in the background.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..240 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after 60 s waiting for {what}");
}

fn reconcile(employee: &str, day: &str) -> ReconcileRequest {
    ReconcileRequest {
        vendor: Vendor::Dingtalk as i32,
        app: "acme".into(),
        work_date_from: day.into(),
        work_date_to: day.into(),
        employee_ids: vec![employee.into()],
    }
}

/// A listRecord item for a punch on Saturday 2021-01-16, a day without a
/// schedule: DingTalk fired no punch event for it.
/// A pass over every employee of the tenant (the roster here): only such a
/// pass signals its days.
fn reconcile_everyone(day: &str) -> ReconcileRequest {
    ReconcileRequest {
        employee_ids: vec![],
        ..reconcile("", day)
    }
}

fn weekend_punch() -> Value {
    json!({
        "id": 900001, "userId": "weekend01", "corpId": CORP, "bizId": "BIZ-SAT-0001",
        "userCheckTime": cst_millis("2021-01-16 10:02:03"), "workDate": cst_millis("2021-01-16 00:00:00"),
        "checkType": "OnDuty", "timeResult": "Normal", "locationResult": "Normal", "sourceType": "USER",
        "locationMethod": "MAP", "isLegal": "Y", "userAddress": "西溪园区", "userLatitude": "30.286", "userLongitude": "120.017",
        "userAccuracy": "15.0"
    })
}

on_both_backends! {
    pulls_waiting_when_the_hub_dies_each_run_exactly_once_after_it_restarts => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(GETUPDATEDATA).unwrap();
        let users = ["user01", "user02", "user03"];
        for user in users {
            let mut day = fixture["result"].clone();
            day["userid"] = json!(user);
            api.set_update_data(user, date("2021-01-14"), day);
        }
        // The first pull of each day is refused (88 is never retried by the
        // client), so every pull is waiting for its retry when the hub dies.
        api.fail_next(users.len(), 88);
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;
        for (i, user) in users.iter().enumerate() {
            let event = json!({
                "EventType": "attendance_check_record", "CorpId": CORP, "eventId": format!("evt-restart-{i}"),
                "DataList": [{"userId": user, "corpId": CORP, "checkTime": cst_millis("2021-01-14 11:21:59"),
                              "bizId": format!("BIZ-RESTART-{i}"), "locationMethod": "MAP", "checkByUser": true}]
            });
            assert_eq!(push(&hub, &event).await, 200, "{}", hub.log());
        }
        let fake = &api;
        eventually("every pull tried once and refused", move || async move {
            (fake.calls_to("getupdatedata").len() >= users.len()).then_some(())
        }).await;
        hub.kill().await;

        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;
        for user in users {
            let h = &hub;
            eventually("the day pulled after the restart", move || async move {
                Some(shift_results(h, user, "2021-01-14").await).filter(|r| !r.is_empty())
            }).await;
        }
        // Nothing runs twice: one refused and one successful pull per day.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pulls = api.calls_to("getupdatedata");
        let succeeded = pulls.iter().filter(|c| c.errcode == 0).count();
        assert_eq!((pulls.len(), succeeded), (2 * users.len(), users.len()), "{pulls:?}");
    };

    a_streamed_punch_pulls_its_day => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(GETUPDATEDATA).unwrap();
        api.set_update_data("user01", date("2021-01-14"), fixture["result"].clone());
        // One fake plays DingTalk: the Stream gateway and, beside it, the APIs.
        let dingtalk = FakeDingTalk::start_with(api.router()).await;
        dingtalk.set_credentials(CLIENT_ID, CLIENT_SECRET);
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, dingtalk.base_url(), 0, true)).await;

        // The punch the day's result was computed from, as the push reports it:
        // no check type, no late/early status.
        let data = json!({"dataList": [{
            "userId": "user01", "corpId": STREAM_CORP, "checkTime": cst_millis("2021-01-14 11:21:59"),
            "bizId": "BIZ-0001", "locationMethod": "MAP", "locationResult": "Normal",
            "address": "绿城未来park", "checkByUser": true
        }]});
        let message = dingtalk.send_event("attendance_check_record", &data.to_string());
        let acks = dingtalk.wait_for_success(&message).await;
        assert!(!acks.is_empty(), "{}", hub.log());

        let h = &hub;
        let results = eventually("the pulled shift result", move || async move {
            Some(shift_results(h, "user01", "2021-01-14").await).filter(|r| !r.is_empty())
        }).await;
        let [result] = results.try_into().expect("one check point that day");
        assert_eq!(result.status, ShiftStatus::Late as i32, "{result:#?}");
        assert_eq!(result.status_original, "Late");
        assert_eq!(result.direction, WorkDirection::OnDuty as i32);
        assert_eq!(result.business_key, "user01/2021-01-14/1/on");
        assert_eq!(result.punch_record_id, "53429818546");
        assert_eq!(result.group_id, "710705191");
        assert_eq!(result.shift_id, "709595172");
        assert_eq!(result.task_id, "176929277767");
        assert_eq!(result.scheduled_time.unwrap().seconds, cst_millis("2021-01-14 09:00:00") / 1000);
        assert_eq!(result.actual_time.unwrap().seconds, cst_millis("2021-01-14 11:21:59") / 1000);
        assert_eq!(result.time_zone, "Asia/Shanghai");
        let source = result.source.as_ref().unwrap();
        assert_eq!((source.vendor, source.tenant.as_str()), (Vendor::Dingtalk as i32, STREAM_CORP));
        assert_eq!(result.provenance.as_ref().unwrap().channel, Channel::Pull as i32);
        assert_eq!(api.calls_to("getupdatedata").len(), 1, "{:?}", api.calls());

        // The day's other punch (a field punch awaiting approval) arrives by the
        // pull; the pushed one stays one punch.
        let punches = punches(&hub, "user01").await;
        assert_eq!(punches.len(), 2, "{punches:#?}");
        // Keyed on the instant: bizId is an associated business id, not the punch's.
        let pushed_key = format!("{STREAM_CORP}/user01/{}", cst_millis("2021-01-14 11:21:59"));
        let pushed = punches.iter().find(|p| p.business_key == pushed_key).expect("the pushed punch");
        assert_eq!((pushed.revision, pushed.provenance.as_ref().unwrap().channel), (1, Channel::Stream as i32));
        let pulled = punches.iter().find(|p| p.business_key != pushed_key).unwrap();
        assert_eq!(pulled.record_id, "52710882700");
        assert_eq!(pulled.validity, PunchValidity::Invalid as i32);
        assert_eq!(pulled.invalid_reason, "外勤打卡需要审批");
        assert_eq!(pulled.provenance.as_ref().unwrap().channel, Channel::Pull as i32);

        // That field punch's own event arrives late, with a bizId the pull did not
        // know: it meets the pulled punch instead of becoming a second one.
        let late = json!({"dataList": [{
            "userId": "user01", "corpId": STREAM_CORP, "checkTime": cst_millis("2021-01-14 11:19:04"),
            "bizId": "BIZ-LATE-0002", "locationMethod": "MAP", "locationResult": "Outside",
            "checkByUser": true
        }]});
        let message = dingtalk.send_event("attendance_check_record", &late.to_string());
        assert!(!dingtalk.wait_for_success(&message).await.is_empty(), "{}", hub.log());
        let punches = self::punches(&hub, "user01").await;
        assert_eq!(punches.len(), 2, "push after pull is still one punch: {punches:#?}");
        let met = punches.iter().find(|p| p.record_id == "52710882700" || p.business_key == pulled.business_key)
            .expect("the pulled punch, met by the push");
        assert_eq!(met.business_key, pulled.business_key);
    };

    an_approval_of_an_unlisted_category_is_resolved_from_its_instance => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(include_str!(
            "../crates/attendance-dingtalk/tests/data/mapping/instance_unlisted_category_leave_form.json"
        ))
        .unwrap();
        let instance_id = fixture["event"]["processInstanceId"].as_str().unwrap().to_owned();
        api.set_instance(&instance_id, fixture["result"].clone());
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;

        // A custom leave form: its category is in no documented list, and
        // the event says nothing of the period.
        let event = json!({
            "EventType": "bpms_instance_change", "CorpId": CORP, "eventId": "evt-unlisted-1",
            "processInstanceId": instance_id, "processCode": "PROC-27BBC5E6-LEAVE",
            "bizCategoryId": "", "type": "finish", "result": "agree",
            "staffId": "08058646137", "title": "请假"
        });
        assert_eq!(push(&hub, &event).await, 200, "{}", hub.log());
        let service = client(&hub).await;
        let approval = eventually("the instance read and the approval stored", move || {
            let mut service = service.clone();
            async move {
                let approvals = service.list_approvals(ListApprovalsRequest::default()).await.unwrap().into_inner().approvals;
                approvals.into_iter().next()
            }
        }).await;
        assert_eq!(approval.business_key, instance_id);
        assert_eq!(approval.kind, ApprovalKind::Leave as i32);
        assert_eq!(approval.status, ApprovalStatus::Approved as i32);
        assert_eq!(approval.employee_id, "08058646137");
        assert_eq!(approval.leave_type, "年假");
        assert_eq!(approval.duration, 2.0);
        assert!(approval.start_time.is_some() && approval.end_time.is_some(), "{approval:?}");
        assert_eq!(api.calls_to("processInstances").len(), 1, "{:?}", api.calls());
    };

    a_called_back_punch_pulls_its_day_too => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(GETUPDATEDATA).unwrap();
        api.set_update_data("user01", date("2021-01-14"), fixture["result"].clone());
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;

        // The same punch as over Stream, delivered as an encrypted HTTP callback.
        let event = json!({
            "EventType": "attendance_check_record", "CorpId": CORP, "eventId": "evt-callback-1",
            "DataList": [{
                "userId": "user01", "corpId": CORP, "checkTime": cst_millis("2021-01-14 11:21:59"),
                "bizId": "BIZ-0002", "locationMethod": "MAP", "checkByUser": true
            }]
        });
        assert_eq!(push(&hub, &event).await, 200, "{}", hub.log());
        let h = &hub;
        let results = eventually("the pulled shift result", move || async move {
            Some(shift_results(h, "user01", "2021-01-14").await).filter(|r| !r.is_empty())
        }).await;
        assert_eq!(results.len(), 1, "{results:#?}");
        assert_eq!(results[0].status, ShiftStatus::Late as i32);
        assert_eq!(results[0].source.as_ref().unwrap().tenant, CORP);
        // A redelivered callback is a duplicate: no second pull is spent on it.
        assert_eq!(push(&hub, &event).await, 200);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(api.calls_to("getupdatedata").len(), 1, "{:?}", api.calls());
    };

    failed_pushes_become_the_facts_their_pushes_would_have_made => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(FAILED_RESULT).unwrap();
        let items = fixture["failed_list"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        // One item per read, so the poller has to follow has_more.
        api.set_failed_page_size(1);
        api.add_failed(items.clone());
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 1, false)).await;

        let mut admin = admin(&hub).await;
        let stats_client = admin.clone();
        eventually("both failed pushes committed", move || {
            let mut admin = stats_client.clone();
            async move {
                let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
                (stats.deliveries_translated == 2).then_some(())
            }
        }).await;
        assert_eq!(api.failed_remaining(), 0, "both pages were read");
        assert!(api.calls_to("get_call_back_failed_result").len() >= 2, "{:?}", api.calls());

        let recovered = punches(&hub, "zhangsan").await;
        let [punch] = recovered.try_into().expect("one punch");
        assert_eq!(punch.business_key, format!("{FAILED_CORP}/zhangsan/1606126400000"));
        assert_eq!(punch.check_time.unwrap().seconds, 1_606_126_400);
        assert_eq!(punch.source.as_ref().unwrap().tenant, FAILED_CORP);
        let provenance = punch.provenance.as_ref().unwrap();
        assert_eq!(provenance.channel, Channel::FailedPushRecovery as i32);
        assert_eq!(provenance.event_type, "attendance_check_record");
        assert_eq!(provenance.vendor_create_time.unwrap().seconds, 1_606_126_433);
        let approvals = client(&hub).await.list_approvals(ListApprovalsRequest::default()).await.unwrap().into_inner().approvals;
        let [approval] = approvals.try_into().expect("one approval");
        assert_eq!(approval.business_key, "aa-bb");
        assert_eq!(approval.kind, ApprovalKind::PunchCorrection as i32);
        assert_eq!(approval.status, ApprovalStatus::Approved as i32);
        assert_eq!(approval.employee_id, "zhangsan");
        assert_eq!(approval.provenance.as_ref().unwrap().channel, Channel::FailedPushRecovery as i32);
        // The recovered punch is a trigger like a pushed one.
        let fake = &api;
        eventually("the punch's day pulled", move || async move {
            (!fake.calls_to("getupdatedata").is_empty()).then_some(())
        }).await;

        // Now the same two events arrive as pushes (as DingTalk redelivers
        // them, with event ids the failed items did not carry): new deliveries,
        // and not one new revision, because they say exactly the same.
        let before = everything(&hub).await;
        let punch_event = {
            let mut body = items[0]["attendance_check_record"]["callbackData"].clone();
            body["EventType"] = json!("attendance_check_record");
            body["CorpId"] = json!(FAILED_CORP);
            body["eventId"] = json!("evt-redelivered-1");
            body
        };
        let approval_event = {
            let mut body = items[1]["bpms_instance_change"]["bpmsCallBackData"].clone();
            body["EventType"] = json!("bpms_instance_change");
            body["CorpId"] = json!(FAILED_CORP);
            body["eventId"] = json!("evt-redelivered-2");
            body
        };
        assert_eq!(push(&hub, &punch_event).await, 200, "{}", hub.log());
        assert_eq!(push(&hub, &approval_event).await, 200, "{}", hub.log());
        let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
        assert_eq!(stats.deliveries_translated, 4, "the pushes were new deliveries");
        tokio::time::sleep(Duration::from_secs(2)).await; // let the pushes' own pulls run
        let after = everything(&hub).await;
        assert_eq!(after.len(), before.len(), "nothing new: {:#?}", &after[before.len()..]);
        let punch = &punches(&hub, "zhangsan").await[0];
        assert_eq!(punch.revision, 1);
    };

    failed_pushes_read_while_commits_fail_survive_a_kill => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let fixture: Value = serde_json::from_str(FAILED_RESULT).unwrap();
        let items = fixture["failed_list"].as_array().unwrap().clone();
        api.set_failed_page_size(1);
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 1, false)).await;
        // Every delivery insert fails inside the database, then DingTalk
        // gathers two failed pushes.
        inject_commit_failure(&db).await;
        api.add_failed(items);

        // DingTalk deleted both items when they were read ...
        let fake = &api;
        eventually("both failed pushes read", move || async move {
            (fake.failed_remaining() == 0).then_some(())
        }).await;
        // ... and the hub has tried, and failed, to commit them.
        let h = &hub;
        eventually("a commit of a read item refused", move || async move {
            let log = h.log();
            (log.contains("dingtalk-failed-push/acme") && log.contains("job failed")).then_some(())
        }).await;
        let mut admin_before = admin(&hub).await;
        let stats = admin_before.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
        assert_eq!(stats.deliveries_translated, 0, "nothing committed while the trigger refuses");
        hub.kill().await;

        remove_commit_failure(&db).await;
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 1, false)).await;
        let mut admin = admin(&hub).await;
        let stats_client = admin.clone();
        eventually("both read items committed after the restart", move || {
            let mut admin = stats_client.clone();
            async move {
                let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
                (stats.deliveries_translated == 2).then_some(())
            }
        }).await;
        let [punch] = punches(&hub, "zhangsan").await.try_into().expect("one punch");
        assert_eq!(punch.business_key, format!("{FAILED_CORP}/zhangsan/1606126400000"));
        assert_eq!(punch.provenance.as_ref().unwrap().channel, Channel::FailedPushRecovery as i32);
        let approvals = client(&hub).await.list_approvals(ListApprovalsRequest::default()).await.unwrap().into_inner().approvals;
        assert_eq!(approvals.len(), 1, "{approvals:#?}");
        // Nothing was read twice, and nothing is committed twice.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
        assert_eq!(stats.deliveries_translated, 2);
    };

    a_pass_finds_an_unscheduled_day_punch_and_a_second_changes_nothing => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        api.set_records(vec![weekend_punch()]);
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;
        let mut admin = admin(&hub).await;

        // Over the whole tenant (a pass naming employees signals no day).
        let first = admin.reconcile(reconcile_everyone("2021-01-16")).await.unwrap().into_inner();
        let [outcome] = first.apps.try_into().expect("one app");
        assert_eq!(outcome.error, "", "the pass completes");
        assert_eq!(outcome.vendor, Vendor::Dingtalk as i32);
        assert_eq!(outcome.work_dates_reconciled, vec!["2021-01-16".to_string()]);
        assert_eq!(outcome.differences_applied, 1, "{outcome:?}");

        let mut stream = open_stream(&hub, Some(subscribe_request::Start::FromBeginning(true))).await;
        let (entries, cursor) = entries_until_idle(&mut stream).await;
        let kinds: Vec<i32> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![LogEntryKind::Punch as i32, LogEntryKind::DayReconciled as i32], "{entries:#?}");
        let Some(log_entry::Fact::Punch(punch)) = &entries[0].fact else { unreachable!() };
        assert_eq!(punch.business_key, format!("{CORP}/weekend01/{}", cst_millis("2021-01-16 10:02:03")));
        assert_eq!(punch.employee_id, "weekend01");
        assert_eq!(punch.check_time.unwrap().seconds, cst_millis("2021-01-16 10:02:03") / 1000);
        assert_eq!(punch.location.as_ref().unwrap().name, "西溪园区");
        assert_eq!(punch.provenance.as_ref().unwrap().channel, Channel::Pull as i32);
        let Some(log_entry::Fact::DayReconciled(day)) = &entries[1].fact else { unreachable!() };
        assert_eq!(day.work_date, "2021-01-16");
        assert_eq!(day.differences_applied, 1);
        assert_eq!(day.employees_covered, 2, "the roster: weekend01 and busy01");
        assert_eq!(day.pass_id, outcome.pass_id);
        assert_eq!(day.time_zone, "Asia/Shanghai");
        assert_eq!(day.source.as_ref().unwrap().tenant, CORP);
        assert_eq!(day.source.as_ref().unwrap().vendor, Vendor::Dingtalk as i32);

        let second = admin.reconcile(reconcile_everyone("2021-01-16")).await.unwrap().into_inner();
        assert_eq!(second.apps[0].error, "");
        assert_eq!(second.apps[0].differences_applied, 0, "a second pass changes nothing");
        assert_eq!(second.apps[0].unchanged, 1);
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(cursor))).await;
        let (after, _) = entries_until_idle(&mut stream).await;
        assert!(after.is_empty(), "nothing new for the subscriber: {after:#?}");
        // listRecord and attendance/list, once per pass, each within DingTalk's limits.
        assert_eq!(api.calls_to("attendance/listRecord").len(), 2);
        assert_eq!(api.calls_to("attendance/list").len(), 2);
    };

    busy_and_rate_limited_answers_are_retried_and_every_call_is_metered => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        api.set_records(vec![weekend_punch()]);
        let api_base = api.serve().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &api_base, 0, false)).await;
        let mut admin = admin(&hub).await;

        api.fail_next(2, 90002);
        api.fail_next(1, -1);
        let pass = admin.reconcile(reconcile("weekend01", "2021-01-16")).await.unwrap().into_inner();
        assert_eq!(pass.apps[0].error, "", "the pass waits the faults out");
        assert_eq!(pass.apps[0].differences_applied, 1);
        let answered: Vec<i64> = api.calls().iter().filter(|c| c.path != "accessToken").map(|c| c.errcode).collect();
        assert_eq!(answered, vec![90002, 90002, -1, 0, 0], "three retries of listRecord, then list");

        // An authorisation error (88) is a business error: no retry, the pass fails.
        let before = api.calls_to("attendance/listRecord").len();
        api.fail_next(1, 88);
        let refused = admin.reconcile(reconcile("weekend01", "2021-01-16")).await.unwrap().into_inner();
        assert!(refused.apps[0].error.contains("88"), "{:?}", refused.apps[0]);
        assert_eq!(api.calls_to("attendance/listRecord").len(), before + 1, "88 is not retried");

        // A token DingTalk stops honouring is refreshed once.
        let tokens = api.tokens_issued();
        api.expire_tokens();
        let again = admin.reconcile(reconcile("weekend01", "2021-01-16")).await.unwrap().into_inner();
        assert_eq!(again.apps[0].error, "");
        assert_eq!(api.tokens_issued(), tokens + 1);

        let stats = admin.get_ingest_stats(GetIngestStatsRequest {}).await.unwrap().into_inner();
        let acme = stats
            .vendor_calls
            .iter()
            .find(|c| c.vendor == Vendor::Dingtalk as i32 && c.app == "acme")
            .expect("acme's DingTalk calls are counted");
        assert_eq!(acme.calls, api.calls().len() as i64, "every call the fake answered is metered");
    };
}
