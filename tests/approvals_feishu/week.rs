//! The finished week of Feishu approvals the suites replay: the app that
//! receives them, 25 leaves, overtime, going out, trips and punch
//! corrections as Feishu's queries list them and its pushes carry them,
//! which pushes are lost, and what the hub must end with. The pulled
//! `approval_id`s differ from the pushed `instance_code`s: push and pull
//! meet on the matching key.

#![allow(dead_code)] // each suite replays its own part of the week

use attendance_proto::v1::{
    log_entry, Approval, ApprovalKind, ApprovalStatus, DurationUnit, LogEntry, ReconcileRequest,
    Vendor,
};
use attendance_testkit::fake_feishu::{FakeApproval, FakeApprovalKind, FakeFeishu, FakeFeishuApi};
use attendance_testkit::feishu::FeishuWebhookSender;
use attendance_testkit::hub::HubProcess;
use chrono::{Duration as Days, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use crate::support::{approvals_of, cst};

pub(crate) mod checks;

pub(super) const APP_ID: &str = "cli_a5f2c3d4e6b7a00d";
pub(super) const APP_SECRET: &str = "fake-secret";
const TOKEN: &str = "Q7vWm2LxR9pZk4TbN8cY3hJe6uDs1aFg";
pub(super) const TENANT: &str = "1d3e5f7a9b2c4d6e";
const EMPLOYEES: [&str; 5] = ["e0", "e1", "e2", "e3", "e4"];

/// The `[[feishu]]` section of the app `acme` of `TENANT`, pulling from the
/// fake at `api_base`.
pub(super) fn app_section(api_base: &str) -> String {
    let roster: Vec<String> = EMPLOYEES.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        r#"
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
        roster = roster.join(", ")
    )
}

/// The fake Feishu whose queries list every approval of `specs`.
pub(super) async fn serve_week(specs: &[Spec]) -> FakeFeishu {
    let feishu = FakeFeishu::start_with_api(FakeFeishuApi::new(APP_ID, APP_SECRET)).await;
    feishu
        .api()
        .set_approvals(specs.iter().map(vendor_item).collect());
    feishu
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
pub(super) struct Spec {
    pub(super) n: usize,
    pub(super) employee: &'static str,
    pub(super) kind: FakeApprovalKind,
    /// Feishu's status now: 0 pending, 1 rejected, 2 approved, 3
    /// withdrawn, 4 revoked (remedies: withdrawn after approval).
    pub(super) status: i64,
    /// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai; a remedy has no end.
    pub(super) start: String,
    pub(super) end: String,
}

impl Spec {
    pub(super) fn approval_id(&self) -> String {
        format!("73048659412029{:05}", self.n)
    }
    pub(super) fn instance_code(&self) -> String {
        format!("CEF48CEE-CEF4-45C9-{:04}-DCBF8BEC1234", self.n)
    }
    /// Pushed once approved: every approval that was approved at some time.
    fn was_approved(&self) -> bool {
        matches!(self.status, 2..=4)
    }
    /// Feishu pushes a revert for leaves, overtime and going out only.
    pub(super) fn has_revert(&self) -> bool {
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

/// 25 approvals of the week from `monday`: each employee has one of each
/// kind, in a status that varies by employee (leaves and overtime only in 2
/// or 3: Feishu lists no other status of theirs).
pub(super) fn week(monday: NaiveDate) -> Vec<Spec> {
    let on_day = |day: i64, time: &str| format!("{} {time}", monday + Days::days(day));
    let mut specs = Vec::new();
    for (i, employee) in EMPLOYEES.into_iter().enumerate() {
        for (k, kind) in KINDS.into_iter().enumerate() {
            let (status, start, end) = match kind {
                FakeApprovalKind::Leave => (
                    if i == 1 { 3 } else { 2 },
                    on_day(1, "09:00:00"),
                    on_day(1, "18:00:00"),
                ),
                FakeApprovalKind::Overtime => (
                    if i == 2 { 3 } else { 2 },
                    on_day(2, "19:00:00"),
                    on_day(2, "21:00:00"),
                ),
                FakeApprovalKind::Out => (
                    [4, 2, 2, 1, 0][i],
                    on_day(0, "14:00:00"),
                    on_day(0, "16:00:00"),
                ),
                FakeApprovalKind::Trip => (
                    [2, 4, 1, 2, 2][i],
                    on_day(3, "09:00:00"),
                    on_day(4, "18:00:00"),
                ),
                FakeApprovalKind::Remedy => {
                    ([2, 2, 2, 4, 1][i], on_day(0, "09:00:00"), String::new())
                }
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
    cst(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap())
}

/// What Feishu's queries list of the approval.
fn vendor_item(spec: &Spec) -> FakeApproval {
    let id = spec.approval_id();
    let (start, end) = (&spec.start, &spec.end);
    let item = match spec.kind {
        FakeApprovalKind::Leave => json!({
            "approval_id": id, "uniq_id": "6852582717813440527", "unit": 1, "interval": 86_400,
            "start_time": start, "end_time": end, "i18n_names": {"ch": "事假", "en": "Personal leave"},
            "default_locale": "ch", "reason": "家里有事", "idempotent_id": format!("i{id}")
        }),
        FakeApprovalKind::Overtime => json!({
            "approval_id": id, "duration": 2, "unit": 2, "category": 1, "type": 2,
            "start_time": start, "end_time": end, "reason": "版本发布值守"
        }),
        FakeApprovalKind::Out => json!({
            "approval_id": id, "uniq_id": "out", "unit": 2, "interval": 7200,
            "start_time": start, "end_time": end, "reason": "拜访客户"
        }),
        // FS-GO's shape: no idempotent_id, no process ids.
        FakeApprovalKind::Trip => json!({
            "approval_id": id, "start_time": start, "end_time": end, "reason": "出差"
        }),
        FakeApprovalKind::Remedy => json!({
            "approval_id": id, "remedy_date": start[..10].replace('-', "").parse::<i64>().unwrap(),
            "punch_no": 0, "work_type": 1, "remedy_time": &start[..16], "reason": "忘记打卡",
            "time": shanghai(start).to_string()
        }),
    };
    FakeApproval::new(spec.employee, spec.kind, spec.status, item)
        .with_instance_code(&spec.instance_code())
}

fn envelope(ts: i64, uuid: String, mut event: Value) -> String {
    event["app_id"] = json!(APP_ID);
    event["tenant_key"] = json!(TENANT);
    json!({"ts": format!("{ts}.0"), "uuid": uuid, "token": TOKEN, "type": "event_callback", "event": event})
        .to_string()
}

/// The approved push of an approval, stamped `ts`.
pub(super) fn approved_push(spec: &Spec, ts: i64) -> String {
    let code = spec.instance_code();
    let (start, end) = (&spec.start, &spec.end);
    let event = match spec.kind {
        FakeApprovalKind::Leave => json!({
            "type": "leave_approvalV2", "instance_code": code, "approval_code": "LEAVE", "user_id": spec.employee,
            "leave_name": "@i18n@7276381556766212099", "leave_unit": "DAY",
            "leave_start_time": start, "leave_end_time": end, "leave_interval": 86_400, "leave_reason": "家里有事"
        }),
        FakeApprovalKind::Overtime => json!({
            "type": "work_approval", "instance_code": code, "employee_id": spec.employee,
            "work_start_time": start, "work_end_time": end, "work_interval": 7200, "work_reason": "版本发布值守"
        }),
        FakeApprovalKind::Out => json!({
            "type": "out_approval", "instance_code": code, "employee_id": spec.employee, "out_unit": "HOUR",
            "out_start_time": start, "out_end_time": end, "out_interval": 7200, "out_reason": "拜访客户"
        }),
        FakeApprovalKind::Trip => json!({
            "type": "trip_approval", "instance_code": code, "employee_id": spec.employee, "trip_interval": 118_800,
            "schedules": [{"trip_start_time": start, "trip_end_time": end, "trip_interval": 118_800}],
            "trip_reason": "出差"
        }),
        FakeApprovalKind::Remedy => json!({
            "type": "remedy_approval", "instance_code": code, "employee_id": spec.employee,
            "remedy_time": start, "remedy_reason": "忘记打卡"
        }),
    };
    envelope(ts, format!("approved-{}", spec.n), event)
}

/// The revert push: the instance and the time, no employee, no dates.
pub(super) fn revert_push(spec: &Spec, ts: i64) -> String {
    let kind = match spec.kind {
        FakeApprovalKind::Leave => "leave_approval_revert",
        FakeApprovalKind::Overtime => "work_approval_revert",
        _ => "out_approval_revert",
    };
    let event = json!({"type": kind, "instance_code": spec.instance_code(), "approval_code": "X", "operate_time": ts.to_string()});
    envelope(ts, format!("revert-{}", spec.n), event)
}

/// Which pushes never arrive (7 of 24): every push of four approvals; the
/// approved push alone of e1's leave, whose revert arrives naming neither
/// employee nor dates (read from its instance); and the revert alone of
/// e2's overtime (its approval then revoked only by the pull).
pub(super) fn lost(spec: &Spec, revert: bool) -> bool {
    [2, 8, 12, 20].contains(&spec.n) || (spec.n == 5 && !revert) || (spec.n == 11 && revert)
}

/// The sender of the app `acme`'s pushes.
pub(super) fn sender(hub: &HubProcess) -> FeishuWebhookSender {
    FeishuWebhookSender::new(&hub.http_url(), "acme", None)
}

/// Sends every push of the week but the lost ones, the approved pushes an
/// hour and the reverts half an hour before `now`. The pushes alone leave
/// approvals missing, and every revert that came met its approval.
pub(super) async fn push_week(hub: &HubProcess, specs: &[Spec], now: i64) {
    let sender = sender(hub);
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
                let answer = sender.post_plain(&push).await;
                assert_eq!(answer.status, 200, "{}", hub.log());
            }
        }
    }
    let share = f64::from(dropped) / f64::from(sent + dropped);
    let all = sent + dropped;
    assert!(
        (0.25..=0.35).contains(&share),
        "{dropped} of {all} pushes lost"
    );
    let pushed = approvals_of(hub, Vendor::Feishu).await;
    assert!(
        pushed.len() < specs.len(),
        "the pushes alone miss approvals"
    );
    let orphans = pushed.iter().filter(|a| a.employee_id.is_empty()).count();
    assert_eq!(orphans, 0, "every revert met its approval");
}

/// Whether the stored approval is the spec's one.
pub(super) fn is_about(approval: &Approval, spec: &Spec) -> bool {
    approval.employee_id == spec.employee
        && approval.kind == spec.model_kind() as i32
        && if spec.kind == FakeApprovalKind::Remedy {
            approval.corrected_time.map(|t| t.seconds) == Some(shanghai(&spec.start))
        } else {
            approval.start_time.map(|t| t.seconds) == Some(shanghai(&spec.start))
                && approval.end_time.map(|t| t.seconds) == Some(shanghai(&spec.end))
        }
}

/// Every spec is in the hub exactly once, in Feishu's state, and nothing
/// else is; `pushed`: the pushes were sent.
pub(super) fn assert_exactly_once(stored: &[Approval], specs: &[Spec], pushed: bool) {
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

/// A pass of the app `acme` over the week from `monday`.
pub(super) fn reconcile_week(monday: NaiveDate) -> ReconcileRequest {
    ReconcileRequest {
        vendor: Vendor::Feishu as i32,
        app: "acme".into(),
        work_date_from: monday.to_string(),
        work_date_to: (monday + Days::days(6)).to_string(),
        employee_ids: vec![],
    }
}

/// The days a stretch of the log signalled reconciled for Feishu's tenant,
/// with their fingerprints.
pub(super) fn signalled(entries: &[LogEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|e| match &e.fact {
            Some(log_entry::Fact::DayReconciled(d))
                if d.source.as_ref().is_some_and(|s| s.tenant == TENANT) =>
            {
                Some((d.work_date.clone(), d.day_fingerprint.clone()))
            }
            _ => None,
        })
        .collect()
}
