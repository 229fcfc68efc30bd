//! Feishu approvals recovered by reconciliation, end to end: the real hub,
//! a fake Feishu over real sockets, a finished week of leaves, overtime,
//! going out, trips and punch corrections, some refused, some revoked after
//! approval; 30 % of their pushes lost. One pass (`Reconcile`) pulls
//! `user_approvals/query` and `user_task_remedys/query` and leaves every
//! approval in the hub exactly once, in Feishu's state, pushed or not, and
//! signals each day of the week. The pulled `approval_id`s differ from the
//! pushed `instance_code`s: push and pull meet on the matching key.

use std::collections::BTreeSet;

use attendance_proto::v1::{
    log_entry, subscribe_request, Approval, ApprovalKind, ApprovalStatus, DurationUnit,
    ListApprovalsRequest, ReconcileRequest, Vendor,
};
use attendance_testkit::fake_feishu::{FakeApproval, FakeApprovalKind, FakeFeishu, FakeFeishuApi};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

mod support;
use support::*;

const APP_ID: &str = "cli_a5f2c3d4e6b7a00d";
const APP_SECRET: &str = "fake-secret";
const TOKEN: &str = "Q7vWm2LxR9pZk4TbN8cY3hJe6uDs1aFg";
const TENANT: &str = "1d3e5f7a9b2c4d6e";
const EMPLOYEES: [&str; 5] = ["e0", "e1", "e2", "e3", "e4"];
/// Monday to Sunday, long finished.
const WEEK: (&str, &str) = ("2024-09-02", "2024-09-08");

fn config(db: &TestDatabase, api_base: &str) -> String {
    let roster: Vec<String> = EMPLOYEES.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        r#"{server}
[reconciliation]
enabled = false   # passes run only when the test asks

[[feishu]]
name = "acme"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{TOKEN}"
base_url = "{api_base}"
time_zone = "Asia/Shanghai"
tenant_key = "{TENANT}"
roster = [{roster}]
"#,
        server = server_and_storage(db),
        roster = roster.join(", ")
    )
}

const KINDS: [FakeApprovalKind; 5] = [
    FakeApprovalKind::Leave,
    FakeApprovalKind::Overtime,
    FakeApprovalKind::Out,
    FakeApprovalKind::Trip,
    FakeApprovalKind::Remedy,
];

/// One approval of the week, as Feishu knows it and as it was pushed.
#[derive(Clone, Debug)]
struct Spec {
    n: usize,
    employee: &'static str,
    kind: FakeApprovalKind,
    /// Feishu's status now: 0 pending, 1 rejected, 2 approved, 3
    /// withdrawn, 4 revoked (remedies: withdrawn after approval).
    status: i64,
    start: &'static str,
    end: &'static str,
}

impl Spec {
    fn approval_id(&self) -> String {
        format!("73048659412029{:05}", self.n)
    }
    fn instance_code(&self) -> String {
        format!("CEF48CEE-CEF4-45C9-{:04}-DCBF8BEC1234", self.n)
    }
    /// Pushed once approved: every approval that was approved at some time.
    fn was_approved(&self) -> bool {
        matches!(self.status, 2..=4)
    }
    /// Feishu pushes a revert for leaves, overtime and going out only.
    fn has_revert(&self) -> bool {
        matches!(self.status, 3 | 4)
            && matches!(
                self.kind,
                FakeApprovalKind::Leave | FakeApprovalKind::Overtime | FakeApprovalKind::Out
            )
    }
    fn model_kind(&self) -> ApprovalKind {
        match self.kind {
            FakeApprovalKind::Leave => ApprovalKind::Leave,
            FakeApprovalKind::Overtime => ApprovalKind::Overtime,
            FakeApprovalKind::Out => ApprovalKind::GoOut,
            FakeApprovalKind::Trip => ApprovalKind::BusinessTrip,
            FakeApprovalKind::Remedy => ApprovalKind::PunchCorrection,
        }
    }
    fn model_status(&self) -> ApprovalStatus {
        match self.status {
            0 => ApprovalStatus::Pending,
            1 => ApprovalStatus::Rejected,
            2 => ApprovalStatus::Approved,
            _ => ApprovalStatus::Withdrawn,
        }
    }
    /// The duration Feishu states in both channels, if it states one.
    fn duration(&self) -> Option<(DurationUnit, f64)> {
        match self.kind {
            FakeApprovalKind::Leave => Some((DurationUnit::Days, 1.0)),
            FakeApprovalKind::Overtime | FakeApprovalKind::Out => Some((DurationUnit::Hours, 2.0)),
            _ => None,
        }
    }
}

/// 25 approvals: each employee has one of each kind, in a status that
/// varies by employee (leaves and overtime only in 2 or 3: Feishu lists no
/// other status of theirs).
fn week() -> Vec<Spec> {
    let mut specs = Vec::new();
    for (i, employee) in EMPLOYEES.into_iter().enumerate() {
        for (k, kind) in KINDS.into_iter().enumerate() {
            let (status, start, end) = match kind {
                FakeApprovalKind::Leave => (
                    if i == 1 { 3 } else { 2 },
                    "2024-09-03 09:00:00",
                    "2024-09-03 18:00:00",
                ),
                FakeApprovalKind::Overtime => (
                    if i == 2 { 3 } else { 2 },
                    "2024-09-04 19:00:00",
                    "2024-09-04 21:00:00",
                ),
                FakeApprovalKind::Out => (
                    [4, 2, 2, 1, 0][i],
                    "2024-09-02 14:00:00",
                    "2024-09-02 16:00:00",
                ),
                FakeApprovalKind::Trip => (
                    [2, 4, 1, 2, 2][i],
                    "2024-09-05 09:00:00",
                    "2024-09-06 18:00:00",
                ),
                FakeApprovalKind::Remedy => ([2, 2, 2, 4, 1][i], "2024-09-02 09:00:00", ""),
            };
            specs.push(Spec {
                n: i * KINDS.len() + k,
                employee,
                kind,
                status,
                start,
                end,
            });
        }
    }
    specs
}

fn shanghai(text: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
        - 8 * 3600
}

/// What Feishu's queries list of the approval.
fn vendor_item(spec: &Spec) -> FakeApproval {
    let id = spec.approval_id();
    let item = match spec.kind {
        FakeApprovalKind::Leave => json!({
            "approval_id": id, "uniq_id": "6852582717813440527", "unit": 1, "interval": 86_400,
            "start_time": spec.start, "end_time": spec.end, "i18n_names": {"ch": "事假", "en": "Personal leave"},
            "default_locale": "ch", "reason": "家里有事", "idempotent_id": format!("i{id}")
        }),
        FakeApprovalKind::Overtime => json!({
            "approval_id": id, "duration": 2, "unit": 2, "category": 1, "type": 2,
            "start_time": spec.start, "end_time": spec.end, "reason": "版本发布值守"
        }),
        FakeApprovalKind::Out => json!({
            "approval_id": id, "uniq_id": "out", "unit": 2, "interval": 7200,
            "start_time": spec.start, "end_time": spec.end, "reason": "拜访客户"
        }),
        // FS-GO's shape: no idempotent_id, no process ids.
        FakeApprovalKind::Trip => json!({
            "approval_id": id, "start_time": spec.start, "end_time": spec.end, "reason": "出差"
        }),
        FakeApprovalKind::Remedy => json!({
            "approval_id": id, "remedy_date": 20240902, "punch_no": 0, "work_type": 1,
            "remedy_time": &spec.start[..16], "reason": "忘记打卡", "time": shanghai(spec.start).to_string()
        }),
    };
    FakeApproval::new(spec.employee, spec.kind, spec.status, item)
}

fn envelope(ts: i64, uuid: String, mut event: Value) -> String {
    event["app_id"] = json!(APP_ID);
    event["tenant_key"] = json!(TENANT);
    json!({"ts": format!("{ts}.0"), "uuid": uuid, "token": TOKEN, "type": "event_callback", "event": event})
        .to_string()
}

/// The approved push of an approval, stamped `ts`.
fn approved_push(spec: &Spec, ts: i64) -> String {
    let code = spec.instance_code();
    let event = match spec.kind {
        FakeApprovalKind::Leave => json!({
            "type": "leave_approvalV2", "instance_code": code, "approval_code": "LEAVE", "user_id": spec.employee,
            "leave_name": "@i18n@7276381556766212099", "leave_unit": "DAY",
            "leave_start_time": spec.start, "leave_end_time": spec.end, "leave_interval": 86_400, "leave_reason": "家里有事"
        }),
        FakeApprovalKind::Overtime => json!({
            "type": "work_approval", "instance_code": code, "employee_id": spec.employee,
            "work_start_time": spec.start, "work_end_time": spec.end, "work_interval": 7200, "work_reason": "版本发布值守"
        }),
        FakeApprovalKind::Out => json!({
            "type": "out_approval", "instance_code": code, "employee_id": spec.employee, "out_unit": "HOUR",
            "out_start_time": spec.start, "out_end_time": spec.end, "out_interval": 7200, "out_reason": "拜访客户"
        }),
        FakeApprovalKind::Trip => json!({
            "type": "trip_approval", "instance_code": code, "employee_id": spec.employee, "trip_interval": 118_800,
            "schedules": [{"trip_start_time": spec.start, "trip_end_time": spec.end, "trip_interval": 118_800}],
            "trip_reason": "出差"
        }),
        FakeApprovalKind::Remedy => json!({
            "type": "remedy_approval", "instance_code": code, "employee_id": spec.employee,
            "remedy_time": spec.start, "remedy_reason": "忘记打卡"
        }),
    };
    envelope(ts, format!("approved-{}", spec.n), event)
}

/// The revert push: the instance and the time, no employee, no dates.
fn revert_push(spec: &Spec, ts: i64) -> String {
    let kind = match spec.kind {
        FakeApprovalKind::Leave => "leave_approval_revert",
        FakeApprovalKind::Overtime => "work_approval_revert",
        _ => "out_approval_revert",
    };
    let event = json!({"type": kind, "instance_code": spec.instance_code(), "approval_code": "X", "operate_time": ts.to_string()});
    envelope(ts, format!("revert-{}", spec.n), event)
}

/// Which pushes never arrive (7 of 24): every push of four approvals, and
/// the revert alone of one more (its approval then revoked only by the pull).
fn lost(spec: &Spec, revert: bool) -> bool {
    [2, 5, 8, 12].contains(&spec.n) || (revert && spec.n == 11)
}

/// Whether the stored approval is the spec's one.
fn is_about(approval: &Approval, spec: &Spec) -> bool {
    approval.employee_id == spec.employee
        && approval.kind == spec.model_kind() as i32
        && if spec.kind == FakeApprovalKind::Remedy {
            approval.corrected_time.map(|t| t.seconds) == Some(shanghai(spec.start))
        } else {
            approval.start_time.map(|t| t.seconds) == Some(shanghai(spec.start))
                && approval.end_time.map(|t| t.seconds) == Some(shanghai(spec.end))
        }
}

async fn approvals(hub: &HubProcess) -> Vec<Approval> {
    let request = ListApprovalsRequest {
        vendor: Vendor::Feishu as i32,
        page_size: 1000,
        ..Default::default()
    };
    let listed = client(hub)
        .await
        .list_approvals(request)
        .await
        .unwrap()
        .into_inner();
    assert!(listed.next_page_token.is_empty());
    listed.approvals
}

/// Every spec is in the hub exactly once, in Feishu's state, and nothing
/// else is; `pushed`: the pushes were sent.
fn assert_exactly_once(stored: &[Approval], specs: &[Spec], pushed: bool) {
    for spec in specs {
        let matches: Vec<&Approval> = stored.iter().filter(|a| is_about(a, spec)).collect();
        assert_eq!(matches.len(), 1, "{spec:?} is stored once: {matches:#?}");
        let approval = matches[0];
        assert_eq!(
            approval.status,
            spec.model_status() as i32,
            "{spec:?}: {approval:#?}"
        );
        if let Some((unit, duration)) = spec.duration() {
            assert_eq!(
                (approval.duration_unit, approval.duration),
                (unit as i32, duration),
                "{spec:?}"
            );
        }
        if pushed
            && spec.kind == FakeApprovalKind::Trip
            && spec.was_approved()
            && !lost(spec, false)
        {
            assert_eq!(
                approval.duration, 33.0,
                "the pushed trip's duration survives the pull"
            );
        }
    }
    assert_eq!(stored.len(), specs.len(), "nothing else: {stored:#?}");
}

fn reconcile_week() -> ReconcileRequest {
    ReconcileRequest {
        vendor: Vendor::Feishu as i32,
        app: "acme".into(),
        work_date_from: WEEK.0.into(),
        work_date_to: WEEK.1.into(),
        employee_ids: vec![],
    }
}

/// The days a stretch of the log signalled reconciled, with their fingerprints.
fn signalled(entries: &[attendance_proto::v1::LogEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|e| match &e.fact {
            Some(log_entry::Fact::DayReconciled(d)) => {
                Some((d.work_date.clone(), d.day_fingerprint.clone()))
            }
            _ => None,
        })
        .collect()
}

on_both_backends! {
    one_pass_recovers_every_lost_approval_push_and_revocation => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        let specs = week();
        api.set_approvals(specs.iter().map(vendor_item).collect());
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, feishu.base_url())).await;
        let http = hub.http_url();
        let sender = FeishuWebhookSender::new(&http, "acme", None);

        // The pushes of the week, an hour and half an hour before the pass.
        let now = chrono::Utc::now().timestamp();
        let (mut sent, mut dropped) = (0, 0);
        for spec in specs.iter().filter(|s| s.was_approved()) {
            let mut pushes = vec![(false, approved_push(spec, now - 3600))];
            if spec.has_revert() {
                pushes.push((true, revert_push(spec, now - 1800)));
            }
            for (revert, push) in pushes {
                if lost(spec, revert) {
                    dropped += 1;
                } else {
                    sent += 1;
                    assert_eq!(sender.post_plain(&push).await.status, 200, "{}", hub.log());
                }
            }
        }
        let share = f64::from(dropped) / f64::from(sent + dropped);
        assert!((0.25..=0.35).contains(&share), "{dropped} of {} pushes lost", sent + dropped);
        let pushed = approvals(&hub).await;
        assert!(pushed.len() < specs.len(), "the pushes alone miss approvals");
        assert!(!pushed.iter().any(|a| a.employee_id.is_empty()), "every revert met its approval");

        let mut admin = admin(&hub).await;
        let pass = admin.reconcile(reconcile_week()).await.unwrap().into_inner();
        let outcome = &pass.apps[0];
        assert_eq!(outcome.error, "", "{}", hub.log());
        assert_eq!(outcome.work_dates_reconciled.len(), 7, "{outcome:?}");
        assert_exactly_once(&approvals(&hub).await, &specs, true);

        // Every call within the documented limits: one status each, all of
        // 0..4 asked, no span over 30 days, no date after tomorrow.
        let requests = api.approval_requests();
        for path in ["user_approvals/query", "user_task_remedys/query"] {
            let statuses: BTreeSet<i64> = requests.iter().filter(|(p, _)| p == path)
                .map(|(_, body)| body["status"].as_i64().expect("one status per call")).collect();
            assert_eq!(statuses, (0..=4).collect(), "{path}");
        }
        assert!(api.calls().iter().all(|c| c.code == 0), "nothing refused: {:?}", api.calls());

        // Every day of the week was signalled, after its approvals.
        let entries = everything(&hub).await;
        let days: BTreeSet<String> = signalled(&entries).into_iter().map(|(d, _)| d).collect();
        let week_days: BTreeSet<String> = NaiveDate::parse_from_str(WEEK.0, "%Y-%m-%d").unwrap()
            .iter_days().take(7).map(|d| d.to_string()).collect();
        assert_eq!(days, week_days);
        let cursor = entries.last().unwrap().cursor.clone();

        // Later: a push that was only late arrives after its pull (the
        // approved going-out of e2), and a revert whose approval Feishu's
        // lists still show approved (e0's leave), stamped before the pass.
        let late = specs.iter().find(|s| s.employee == "e2" && s.kind == FakeApprovalKind::Out).unwrap();
        assert!(lost(late, false) && late.status == 2);
        assert_eq!(sender.post_plain(&approved_push(late, now - 3600)).await.status, 200);
        let revoked = specs.iter().find(|s| s.employee == "e0" && s.kind == FakeApprovalKind::Leave).unwrap();
        assert_eq!(sender.post_plain(&revert_push(revoked, now - 600)).await.status, 200);
        let mut specs = specs.clone();
        specs[revoked.n].status = 3;
        assert_exactly_once(&approvals(&hub).await, &specs, true);

        // Feishu then shows both, and e0's trip (Thursday and Friday) revoked:
        // the next pass signals those days again with a new fingerprint.
        api.set_approval_status(&revoked.approval_id(), 3);
        let trip = specs.iter().find(|s| s.employee == "e0" && s.kind == FakeApprovalKind::Trip).unwrap().clone();
        api.set_approval_status(&trip.approval_id(), 4);
        specs[trip.n].status = 4;
        let second = admin.reconcile(reconcile_week()).await.unwrap().into_inner();
        assert_eq!(second.apps[0].error, "");
        assert_exactly_once(&approvals(&hub).await, &specs, true);
        let mut stream = open_stream(&hub, Some(subscribe_request::Start::AfterCursor(cursor))).await;
        let (after, _) = entries_until_idle(&mut stream).await;
        let again: BTreeSet<String> = signalled(&after).into_iter().map(|(d, _)| d).collect();
        for day in ["2024-09-03", "2024-09-05", "2024-09-06"] {
            assert!(again.contains(day), "{day} changed and is signalled again: {again:?}");
        }
        for day in ["2024-09-04", "2024-09-07", "2024-09-08"] {
            assert!(!again.contains(day), "{day} did not change: {again:?}");
        }
    };

    a_user_whose_approvals_feishu_will_not_show_keeps_the_days_unreconciled => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        let specs = week();
        api.set_approvals(specs.iter().map(vendor_item).collect());
        // The approval queries refuse any batch holding e4 (1220004) while
        // the attendance queries show e4: its approvals are not covered.
        api.hide_approvals_of(&["e4"]);
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, feishu.base_url())).await;
        let mut admin = admin(&hub).await;
        let pass = admin.reconcile(reconcile_week()).await.unwrap().into_inner();
        let outcome = &pass.apps[0];
        assert_eq!(outcome.error, "", "{}", hub.log());
        assert!(outcome.work_dates_reconciled.is_empty(), "no day is whole: {outcome:?}");
        let refused = api.calls().iter().filter(|c| c.code == 1220004 && c.path == "user_approvals/query").count();
        assert!(refused >= 10, "each status's batch, then the id alone: {:?}", api.calls());
        let others: Vec<Spec> = specs.into_iter().filter(|s| s.employee != "e4").collect();
        assert_exactly_once(&approvals(&hub).await, &others, false);
        let signals = signalled(&everything(&hub).await);
        assert!(signals.is_empty(), "{signals:?}");

        // A user Feishu does not know at all (user_tasks/query calls it
        // invalid) does not hold the days back.
        api.hide_approvals_of(&[]);
        api.reject_users(&["e4"]);
        let pass = admin.reconcile(reconcile_week()).await.unwrap().into_inner();
        assert_eq!(pass.apps[0].work_dates_reconciled.len(), 7, "{:?}", pass.apps[0]);
    };

    the_approval_queries_stop_at_tomorrow_and_span_at_most_30_days => |db: TestDatabase| async move {
        let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
        let api = feishu.api().clone();
        let dir = tempfile::tempdir().unwrap();
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, feishu.base_url())).await;
        let mut admin = admin(&hub).await;
        let today = chrono::Utc::now().date_naive();
        let days = chrono::Duration::days;
        let date = |v: &Value| NaiveDate::parse_from_str(&v.as_i64().unwrap().to_string(), "%Y%m%d").unwrap();
        let asked = |api: &FakeFeishuApi| -> Vec<(i64, NaiveDate, NaiveDate)> {
            api.approval_requests().iter()
                .filter(|(p, _)| p == "user_approvals/query")
                .map(|(_, b)| (b["status"].as_i64().unwrap(), date(&b["check_date_from"]), date(&b["check_date_to"])))
                .collect()
        };
        // 31 days, the longest pass: two spans per status.
        for (from, to) in [(today - days(30), today), (today - days(5), today + days(20))] {
            let mut request = reconcile_week();
            request.work_date_from = from.to_string();
            request.work_date_to = to.to_string();
            let pass = admin.reconcile(request).await.unwrap().into_inner();
            assert_eq!(pass.apps[0].error, "", "{}", hub.log());
        }
        let asked = asked(&api);
        assert_eq!(asked.len(), 3 * 5, "two spans, then one, for each of 5 statuses: {asked:?}");
        for (_, from, to) in &asked {
            assert!(*to - *from < days(30), "{from}..{to}");
            assert!(*to <= today + days(1), "never beyond tomorrow: {to}");
        }
        assert!(asked.iter().any(|(_, _, to)| *to >= today), "the clipped window still reaches today");
        assert!(api.calls().iter().all(|c| c.code == 0), "nothing refused: {:?}", api.calls());
    };
}
