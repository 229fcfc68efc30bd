//! The cross-check of approved leave and overtime against DingTalk's smart
//! attendance report, end to end: the real hub binary, real databases, and
//! the fake DingTalk API and report over real HTTP. Approvals reach the hub
//! as pushed approval events whose instances the hub reads; the report
//! agrees for one employee and not for another, and `CheckReportTotals`
//! names exactly the disagreeing employee, columns and figures, moves its
//! metric, and changes nothing in the hub.

use std::time::Duration;

use attendance_proto::v1::{
    ApprovalKind, CheckReportTotalsRequest, CheckReportTotalsResponse, GetIngestStatsRequest,
    ListApprovalsRequest, Vendor,
};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::fake_dingtalk_report::FakeDingTalkReport;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::{Datelike, Months, NaiveDate, Utc};
use serde_json::{json, Value};

mod support;
use support::*;

const CLIENT_ID: &str = "dingclientacme0001";
const CLIENT_SECRET: &str = DINGTALK_CLIENT_SECRET;
const TOKEN: &str = DINGTALK_CALLBACK_TOKEN;
const AES_KEY: &str = DINGTALK_AES_KEY;
const CORP: &str = "dinge8a1b2c3";
/// The report's overtime column.
const OVERTIME_COLUMN: i64 = 9001;

fn config(db: &TestDatabase, api_base: &str) -> String {
    let extra = "roster = [\"carol\"]\nreport_op_user_id = \"manager01\"";
    format!(
        "{server}\n[reconciliation]\nenabled = false\n{app}",
        server = server_and_storage(db),
        app = dingtalk_app(CLIENT_ID, CORP, api_base, extra),
    )
}

/// The first day of last month in China: within the 225 days the report
/// keeps leave data for, and over.
fn last_month() -> NaiveDate {
    let today = Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    today.with_day(1).unwrap() - Months::new(1)
}

fn day(first: NaiveDate, n: u64) -> NaiveDate {
    first + chrono::Days::new(n - 1)
}

/// An approved instance as the v1.0 workflow API answers it, with one
/// period component (a leave suite or a date range).
fn instance(employee: &str, component: &str, value: Value) -> Value {
    json!({
        "title": "审批", "finishTime": "2022-08-31T11:52Z", "createTime": "2022-08-31T11:50Z",
        "originatorUserId": employee, "originatorDeptId": "-1", "status": "COMPLETED",
        "result": "agree", "businessId": "1", "bizAction": "NONE",
        "attachedProcessInstanceIds": [], "mainProcessInstanceId": "",
        "formComponentValues": [{
            "id": format!("{component}-1"), "name": "[\"开始时间\",\"结束时间\"]",
            "value": value.to_string(), "extValue": "", "componentType": component, "bizAlias": ""
        }],
        "operationRecords": [], "tasks": []
    })
}

/// Leave of `days` whole days from `from`, of `leave_type`.
fn leave(employee: &str, leave_type: &str, from: NaiveDate, days: u64) -> Value {
    let to = from + chrono::Days::new(days - 1);
    instance(
        employee,
        "DDHolidayField",
        json!([
            from.to_string(),
            to.to_string(),
            days,
            "day",
            leave_type,
            "请假类型"
        ]),
    )
}

/// Overtime of `hours` from 18:00 on `on`.
fn overtime(employee: &str, on: NaiveDate, hours: u32) -> Value {
    instance(
        employee,
        "DDDateRangeField",
        json!([
            format!("{on} 18:00"),
            format!("{on} {}:00", 18 + hours),
            hours,
            "hour"
        ]),
    )
}

/// Pushes the approval's `finish`/`agree` event; the hub reads the instance.
async fn push_approval(hub: &HubProcess, id: &str, employee: &str, category: &str) {
    let event = json!({
        "EventType": "bpms_instance_change", "CorpId": CORP, "eventId": format!("evt-{id}"),
        "processInstanceId": id, "processCode": "PROC-REPORT", "bizCategoryId": category,
        "type": "finish", "result": "agree", "staffId": employee, "title": "审批"
    });
    let sender = DingTalkCallbackSender::new(&hub.http_url(), "acme", TOKEN, AES_KEY, CLIENT_ID);
    assert_eq!(
        sender.post(&event.to_string()).await.status,
        200,
        "{}",
        hub.log()
    );
}

async fn check(hub: &HubProcess, month: &str) -> Result<CheckReportTotalsResponse, tonic::Status> {
    admin(hub)
        .await
        .check_report_totals(CheckReportTotalsRequest {
            tenant: CORP.into(),
            month: month.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// The hub's state a check must not change: the log, every approval, the
/// delivery counts.
async fn hub_state(hub: &HubProcess) -> (usize, Vec<String>, i64) {
    let entries = everything(hub).await.len();
    let mut approvals: Vec<String> = client(hub)
        .await
        .list_approvals(ListApprovalsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .approvals
        .iter()
        .map(|a| format!("{}#{}", a.business_key, a.revision))
        .collect();
    approvals.sort();
    let stats = admin(hub)
        .await
        .get_ingest_stats(GetIngestStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    (entries, approvals, stats.deliveries_translated)
}

const DIFFERENCES: &str = "attendance_hub_report_differences";

on_both_backends! {
    a_report_column_that_disagrees_with_the_hub_is_reported_with_both_figures => |db: TestDatabase| async move {
        let first = last_month();
        let month = format!("{:04}-{:02}", first.year(), first.month());
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let approvals = [
            ("alice-leave", "alice", "", leave("alice", "年假", day(first, 8), 2)),
            ("alice-overtime", "alice", "attendance.batchovertime", overtime("alice", day(first, 10), 3)),
            ("bob-leave", "bob", "", leave("bob", "年假", day(first, 15), 2)),
            ("bob-overtime", "bob", "attendance.batchovertime", overtime("bob", day(first, 17), 3)),
            ("dave-leave", "dave", "", leave("dave", "婚假", day(first, 20), 1)),
        ];
        for (id, _, _, result) in &approvals {
            api.set_instance(id, result.clone());
        }
        let report = FakeDingTalkReport::new(&api);
        report.add_column(Some(OVERTIME_COLUMN), "加班时长");
        report.add_vacation_type("年假", "day", 800);
        report.add_vacation_type("婚假", "day", 800);
        // 婚假 is still a leave type, but its report column is gone.
        report.hide_leave_column("婚假");
        // Alice: the report agrees (two days of 年假, three hours of overtime).
        report.set_leave_value("alice", "年假", day(first, 8), "1.0");
        report.set_leave_value("alice", "年假", day(first, 9), "1.0");
        report.set_value("alice", OVERTIME_COLUMN, day(first, 10), "3.0");
        // Bob: the report counts one day of his two, and two hours of his three.
        report.set_leave_value("bob", "年假", day(first, 15), "1.0");
        report.set_value("bob", OVERTIME_COLUMN, day(first, 17), "2.0");
        // Carol, on the roster, has left: the report holds nothing for her.
        report.set_departed("carol");
        let base = report.serve_with().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &base)).await;

        for (id, employee, category, _) in &approvals {
            push_approval(&hub, id, employee, category).await;
        }
        // Every instance read and its period stored.
        let mut stored = Vec::new();
        for _ in 0..240 {
            stored = client(&hub).await.list_approvals(ListApprovalsRequest::default()).await.unwrap().into_inner().approvals;
            if stored.len() == approvals.len() && stored.iter().all(|a| a.duration > 0.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(stored.len() == approvals.len() && stored.iter().all(|a| a.duration > 0.0), "{stored:#?}\n{}", hub.log());

        let before = hub_state(&hub).await;
        let labels = ["vendor=\"dingtalk\"", "app=\"acme\"", &format!("tenant=\"{CORP}\"")];
        assert_eq!(metric(&scrape(&hub).await, DIFFERENCES, &labels), 0.0);

        let answer = check(&hub, &month).await.expect("the check runs");
        let seen: Vec<String> = answer
            .differences
            .iter()
            .map(|d| {
                let kind = ApprovalKind::try_from(d.kind).unwrap().as_str_name();
                format!("{} {} {kind} {:?} hub {} report {} {} step {}", d.employee_id, d.column, d.leave_type, d.hub_value, d.report_value, d.unit, d.step)
            })
            .collect();
        assert_eq!(seen, [
            "bob 加班时长 APPROVAL_KIND_OVERTIME \"\" hub 3 report 2 hours step 0.5",
            "bob 年假 APPROVAL_KIND_LEAVE \"年假\" hub 16 report 8 hours step 4",
        ], "{answer:#?}");
        for difference in &answer.differences {
            assert_eq!((difference.vendor, difference.app.as_str(), difference.tenant.as_str()), (Vendor::Dingtalk as i32, "acme", CORP));
            assert_eq!(difference.month, month);
        }
        let checked: Vec<&str> = answer.checked.iter().map(|c| c.employee_id.as_str()).collect();
        assert_eq!(checked, ["alice", "bob", "dave"]);
        let carol = answer.skips.iter().find(|s| s.employee_id == "carol").expect("carol not checked");
        assert!(carol.reason.contains("departed"), "{carol:?}");
        let settings = answer.skips.iter().find(|s| s.employee_id == "dave" && s.column == "婚假").expect("dave's 婚假");
        assert!(settings.reason.contains("check the leave-type settings"), "{settings:?}");

        // DingTalk's limits held: one user and a month per call, every call answered.
        let calls = report.calls();
        assert!(calls.iter().all(|c| c.errcode == 0), "{calls:?}");
        assert_eq!(report.calls_to("getcolumnval").len(), 4);
        assert_eq!(report.calls_to("getleavetimebynames").len(), 4);

        let samples = scrape(&hub).await;
        assert_eq!(metric(&samples, DIFFERENCES, &labels), 2.0);
        assert_eq!(metric(&samples, "attendance_hub_report_checks_total", &labels[..2]), 1.0);
        assert_eq!(hub_state(&hub).await, before, "a check changes nothing in the hub");

        // With the smart report off, nothing can be compared, and the latest
        // check sets the metric.
        report.set_smart_report(false);
        let answer = check(&hub, &month).await.expect("the check runs");
        assert!(answer.differences.is_empty() && answer.checked.is_empty(), "{answer:#?}");
        let [off] = answer.skips.as_slice() else { panic!("{answer:#?}") };
        assert!(off.employee_id.is_empty() && off.reason.contains("smart attendance report"), "{off:?}");
        assert_eq!(metric(&scrape(&hub).await, DIFFERENCES, &labels), 0.0);
    };

    a_check_that_cannot_run_is_refused_with_the_field_at_fault => |db: TestDatabase| async move {
        let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
        let report = FakeDingTalkReport::new(&api);
        let base = report.serve_with().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, &base)).await;
        for (tenant, month, field) in [
            (CORP, "2021-13", "month"),
            (CORP, "2999-01", "month"),
            ("ding-other-corp", "2021-03", "tenant"),
            ("", "2021-03", "tenant"),
        ] {
            let refused = admin(&hub)
                .await
                .check_report_totals(CheckReportTotalsRequest { tenant: tenant.into(), month: month.into(), ..Default::default() })
                .await
                .expect_err("refused");
            assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
            assert!(refused.message().starts_with(field), "{field}: {refused:?}");
        }
        assert!(report.calls().is_empty(), "nothing asked of DingTalk: {:?}", report.calls());
    };
}
