//! The finished week of DingTalk approvals the suites replay: the app that
//! receives them, its approval instances as the fake DingTalk API serves
//! them, what the hub must end with for each, the events DingTalk sends for
//! them and which of those are lost.

#![allow(dead_code)] // each suite replays its own part of the week

use chrono::{Duration as Days, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use attendance_proto::v1::{ApprovalKind, ApprovalStatus, DurationUnit};
use attendance_testkit::dingtalk::DingTalkCallbackSender;
use attendance_testkit::fake_dingtalk_api::FakeDingTalkApi;
use attendance_testkit::hub::HubProcess;

use crate::support::{
    at, dingtalk_app, DINGTALK_AES_KEY, DINGTALK_CALLBACK_TOKEN, DINGTALK_CLIENT_SECRET,
};

pub(crate) mod checks;

pub(super) const CLIENT_ID: &str = "dingclientappr0001";
pub(super) const CLIENT_SECRET: &str = DINGTALK_CLIENT_SECRET;
pub(super) const CORP: &str = "dingapprcorp01";
pub(super) const EMPLOYEES: usize = 12;

/// Template → (kind name in the config, kind, `bizCategoryId`, `approveType`).
pub(super) const TEMPLATES: [(&str, &str, ApprovalKind, &str, &str); 5] = [
    ("PROC-LEAVE", "leave", ApprovalKind::Leave, "", "LEAVE"),
    (
        "PROC-OT",
        "overtime",
        ApprovalKind::Overtime,
        "attendance.batchovertime",
        "OVERTIME",
    ),
    (
        "PROC-TRIP",
        "business_trip",
        ApprovalKind::BusinessTrip,
        "alitrip.business",
        "OUT",
    ),
    (
        "PROC-OUT",
        "go_out",
        ApprovalKind::GoOut,
        "attendance.goout",
        "TRAVEL",
    ),
    (
        "PROC-SUPPLY",
        "punch_correction",
        ApprovalKind::PunchCorrection,
        "attendance.supply",
        "",
    ),
];

pub(super) fn employee(i: usize) -> String {
    format!("dt-e{i:02}")
}

/// The `[[dingtalk]]` section of the app `acme` of `CORP`: its roster and
/// which template holds which kind, pulling from the fake at `api_base`.
pub(super) fn app_section(api_base: &str) -> String {
    let kinds: Vec<String> = TEMPLATES
        .iter()
        .map(|(code, kind, ..)| format!("'{code}' = '{kind}'"))
        .collect();
    let roster: Vec<String> = (0..EMPLOYEES)
        .map(|i| format!("'{}'", employee(i)))
        .collect();
    let extra = format!(
        "roster = [{}]\nprocess_kinds = {{ {} }}",
        roster.join(", "),
        kinds.join(", ")
    );
    dingtalk_app(CLIENT_ID, CORP, api_base, &extra)
}

/// The fake DingTalk API of `CORP` serving every instance, and its base URL.
pub(super) async fn serve_week(instances: &[Instance]) -> (FakeDingTalkApi, String) {
    let api = FakeDingTalkApi::new(CLIENT_ID, CLIENT_SECRET);
    api.set_corp_id(CORP);
    for instance in instances {
        api.add_process_instance(instance.code, &instance.id, instance.result());
    }
    let base = api.serve().await;
    (api, base)
}

/// Whether DingTalk's event never arrives: 30 % of them, those whose number
/// ends in a digit below 3 after a deterministic shuffle.
pub(super) fn lost(event: &Value) -> bool {
    let number = event["eventId"].as_str().unwrap()[4..]
        .parse::<usize>()
        .unwrap();
    (number * 7) % 10 < 3
}

/// Sends the app `acme` the events of every pushed instance but the lost ones.
pub(super) async fn push_week(hub: &HubProcess, instances: &[Instance]) {
    let sender = DingTalkCallbackSender::new(
        &hub.http_url(),
        "acme",
        DINGTALK_CALLBACK_TOKEN,
        DINGTALK_AES_KEY,
        CLIENT_ID,
    );
    let mut counter = 0;
    let (mut sent, mut dropped) = (0usize, 0usize);
    for instance in instances.iter().filter(|i| i.pushed) {
        for event in events(instance, &mut counter) {
            if lost(&event) {
                dropped += 1;
                continue;
            }
            let answer = sender.post(&event.to_string()).await;
            assert_eq!(answer.status, 200, "{}", hub.log());
            sent += 1;
        }
    }
    let all = sent + dropped;
    assert!(
        (dropped * 100 / all).abs_diff(30) <= 2,
        "{dropped} of {all} events lost"
    );
}

/// One approval instance as the fake serves it, and what the hub must hold.
pub(super) struct Instance {
    pub(super) id: String,
    pub(super) code: &'static str,
    pub(super) employee: String,
    pub(super) kind: ApprovalKind,
    /// `status`, `result` and `bizAction` of the instance.
    pub(super) state: (&'static str, &'static str),
    pub(super) action: &'static str,
    pub(super) main: String,
    pub(super) created: NaiveDateTime,
    pub(super) form: Value,
    /// The period (CST wall clock) and duration the hub must hold.
    pub(super) start: NaiveDateTime,
    pub(super) end: Option<NaiveDateTime>,
    pub(super) duration: f64,
    pub(super) unit: DurationUnit,
    /// What the hub must end with; `None`: not in the hub at all.
    pub(super) expected: Option<ApprovalStatus>,
    /// Whether DingTalk sends its events (some of them are lost anyway).
    pub(super) pushed: bool,
}

impl Instance {
    pub(super) fn result(&self) -> Value {
        let created = self.created - Days::hours(8);
        json!({
            "title": format!("{}提交的申请", self.employee),
            "createTime": created.format("%Y-%m-%dT%H:%MZ").to_string(),
            "finishTime": (created + Days::hours(1)).format("%Y-%m-%dT%H:%MZ").to_string(),
            "originatorUserId": self.employee, "originatorDeptId": "-1", "originatorDeptName": "根部门",
            "status": self.state.0, "result": self.state.1, "businessId": self.id,
            "bizAction": self.action,
            "attachedProcessInstanceIds": [],
            "mainProcessInstanceId": self.main,
            "formComponentValues": [self.form],
            "operationRecords": [], "tasks": []
        })
    }
}

pub(super) fn component(kind: &str, value: Value) -> Value {
    json!({"id": format!("{kind}-1"), "name": "[\"开始时间\",\"结束时间\"]", "value": value.to_string(),
           "extValue": "", "componentType": kind, "bizAlias": ""})
}

/// An instance's expected period (CST wall clock) and duration.
pub(super) type Period = (NaiveDateTime, Option<NaiveDateTime>, f64, DurationUnit);

pub(super) fn whole_day_leave(day: NaiveDate) -> (Value, Period) {
    let form = json!([
        day.to_string(),
        day.to_string(),
        1,
        "day",
        "年假",
        "请假类型"
    ]);
    let end = at(day + Days::days(1), 0, 0);
    let period = (at(day, 0, 0), Some(end), 1.0, DurationUnit::Days);
    (component("DDHolidayField", form), period)
}

pub(super) fn afternoon_leave(day: NaiveDate) -> (Value, Period) {
    let form = json!([
        format!("{day} PM"),
        format!("{day} PM"),
        0.5,
        "halfDay",
        "事假"
    ]);
    let end = at(day + Days::days(1), 0, 0);
    let period = (at(day, 12, 0), Some(end), 0.5, DurationUnit::Days);
    (component("DDHolidayField", form), period)
}

pub(super) fn hours(from: NaiveDateTime, to: NaiveDateTime) -> (Value, Period) {
    let text = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    let length = (to - from).num_hours();
    let form = json!([text(from), text(to), length, "hour"]);
    let period = (from, Some(to), length as f64, DurationUnit::Hours);
    (component("DDDateRangeField", form), period)
}

pub(super) fn days(first: NaiveDate, last: NaiveDate) -> (Value, Period) {
    let length = (last - first).num_days() + 1;
    let form = json!([first.to_string(), last.to_string(), length, "day"]);
    let end = at(last + Days::days(1), 0, 0);
    let period = (
        at(first, 0, 0),
        Some(end),
        length as f64,
        DurationUnit::Days,
    );
    (component("DDDateRangeField", form), period)
}

/// A 补卡: the instant it corrects, in a date field.
pub(super) fn correction(missed: NaiveDateTime) -> (Value, Period) {
    let mut form = component("DDDateField", Value::Null);
    form["value"] = json!(missed.format("%Y-%m-%d %H:%M").to_string());
    (form, (missed, None, 0.0, DurationUnit::Unspecified))
}

pub(super) fn status_of(state: (&str, &str)) -> ApprovalStatus {
    match state {
        ("RUNNING", _) => ApprovalStatus::Pending,
        ("TERMINATED", _) => ApprovalStatus::Withdrawn,
        ("COMPLETED", "agree") => ApprovalStatus::Approved,
        _ => ApprovalStatus::Rejected,
    }
}

/// The week's approvals: per employee two leaves, an overtime, and by turns
/// a trip, a going-out and a 补卡; some refused, withdrawn or pending; every
/// fourth employee's first leave revoked after approval. Beside them, an
/// approved leave requested 45 days ahead (before the look-back) and revoked
/// during the week, a leave of the week before and a stranger's leave.
pub(super) fn instances(monday: NaiveDate) -> Vec<Instance> {
    let mut all = Vec::new();
    let mut n = 0;
    let state = |n: usize| match n % 13 {
        4 | 9 => ("COMPLETED", "refuse"),
        7 => ("TERMINATED", ""),
        11 => ("RUNNING", ""),
        _ => ("COMPLETED", "agree"),
    };
    let template = |code: &str| TEMPLATES.iter().find(|t| t.0 == code).unwrap();
    let mut add = |all: &mut Vec<Instance>,
                   code: &'static str,
                   who: String,
                   created: NaiveDateTime,
                   (form, period): (Value, Period),
                   forced: Option<(&'static str, &'static str)>| {
        n += 1;
        let state = forced.unwrap_or_else(|| state(n));
        all.push(Instance {
            id: format!("{}-{n:03}", code.to_ascii_lowercase()),
            code,
            employee: who,
            kind: template(code).2,
            state,
            action: "NONE",
            main: String::new(),
            created,
            form,
            start: period.0,
            end: period.1,
            duration: period.2,
            unit: period.3,
            expected: Some(status_of(state)),
            pushed: true,
        });
        all.len() - 1
    };
    let agreed = Some(("COMPLETED", "agree"));
    for i in 0..EMPLOYEES {
        let who = employee(i);
        let day = monday + Days::days((i % 5) as i64);
        let ahead = at(monday - Days::days(10), 10, i as u32);
        let forced = agreed.filter(|_| i % 4 == 0);
        let leave = add(
            &mut all,
            "PROC-LEAVE",
            who.clone(),
            ahead,
            whole_day_leave(day),
            forced,
        );
        let half = monday + Days::days(((i + 2) % 7) as i64);
        let created = at(half - Days::days(1), 18, i as u32);
        add(
            &mut all,
            "PROC-LEAVE",
            who.clone(),
            created,
            afternoon_leave(half),
            None,
        );
        let evening = monday + Days::days((i % 7) as i64);
        let overtime = hours(at(evening, 19, 0), at(evening, 21, 0));
        add(
            &mut all,
            "PROC-OT",
            who.clone(),
            at(evening, 21, 30),
            overtime,
            None,
        );
        if i % 3 == 0 {
            let trip = days(monday + Days::days(1), monday + Days::days(2));
            let created = at(monday - Days::days(3), 9, 0);
            add(&mut all, "PROC-TRIP", who.clone(), created, trip, None);
        }
        if i % 2 == 0 {
            let out = monday + Days::days(3);
            let outing = hours(at(out, 14, 0), at(out, 16, 0));
            add(
                &mut all,
                "PROC-OUT",
                who.clone(),
                at(out, 11, 0),
                outing,
                None,
            );
        }
        if i % 4 == 1 {
            let missed = at(monday + Days::days(2), 9, 0);
            let created = missed + Days::hours(9);
            add(
                &mut all,
                "PROC-SUPPLY",
                who.clone(),
                created,
                correction(missed),
                agreed,
            );
        }
        if i % 4 == 0 {
            revoke(&mut all, leave, at(day - Days::days(2), 8, 0), true);
        }
    }
    // Requested 45 days ahead, before the look-back: found through the
    // revocation that names it. Neither sends an event that arrives.
    let day = monday + Days::days(4);
    let ahead = add(
        &mut all,
        "PROC-LEAVE",
        employee(1),
        at(monday - Days::days(45), 9, 0),
        whole_day_leave(day),
        Some(("COMPLETED", "agree")),
    );
    all[ahead].pushed = false;
    revoke(&mut all, ahead, at(monday + Days::days(1), 9, 0), false);
    // Outside the window, and a stranger's: listed, read, never stored.
    let before = monday - Days::days(3);
    let outside = add(
        &mut all,
        "PROC-LEAVE",
        employee(2),
        at(monday - Days::days(20), 9, 0),
        whole_day_leave(before),
        Some(("COMPLETED", "agree")),
    );
    let stranger = add(
        &mut all,
        "PROC-LEAVE",
        "not-on-roster".into(),
        at(monday, 9, 0),
        whole_day_leave(monday),
        Some(("COMPLETED", "agree")),
    );
    for i in [outside, stranger] {
        all[i].expected = None;
        all[i].pushed = false;
    }
    all
}

/// A REVOKE instance of the approved instance `of`, agreed: the original
/// ends withdrawn, the revocation is kept withdrawn too (never approved).
pub(super) fn revoke(all: &mut Vec<Instance>, of: usize, created: NaiveDateTime, pushed: bool) {
    let original = &all[of];
    let revocation = Instance {
        id: format!("{}-revoke", original.id),
        action: "REVOKE",
        main: original.id.clone(),
        created,
        state: ("COMPLETED", "agree"),
        expected: Some(ApprovalStatus::Withdrawn),
        pushed,
        code: original.code,
        employee: original.employee.clone(),
        kind: original.kind,
        form: original.form.clone(),
        start: original.start,
        end: original.end,
        duration: original.duration,
        unit: original.unit,
    };
    all[of].expected = Some(ApprovalStatus::Withdrawn);
    all.push(revocation);
}

/// The events DingTalk sends for `instance`: `bpms_instance_change` start and
/// end, and for the four attendance kinds `attendance_approve_status_change`
/// start and end (a revocation names its main instance). None has dates;
/// every fifth `bpms_instance_change` lacks its `staffId`.
pub(super) fn events(instance: &Instance, counter: &mut usize) -> Vec<Value> {
    let (_, _, _, category, approve_type) =
        TEMPLATES.iter().find(|t| t.0 == instance.code).unwrap();
    let (status, result) = instance.state;
    let end = match status {
        "RUNNING" => None,
        "TERMINATED" => Some(("terminate", "")),
        _ => Some(("finish", result)),
    };
    let mut out = Vec::new();
    let bpms = |kind: &str, result: &str, counter: &mut usize| {
        *counter += 1;
        let mut event = json!({
            "EventType": "bpms_instance_change", "CorpId": CORP, "eventId": format!("evt-{counter}"),
            "processInstanceId": instance.id, "processCode": instance.code, "bizCategoryId": category,
            "type": kind, "title": "审批", "staffId": instance.employee, "corpId": CORP
        });
        if !result.is_empty() {
            event["result"] = json!(result);
        }
        if counter.is_multiple_of(5) {
            event.as_object_mut().unwrap().remove("staffId");
        }
        event
    };
    out.push(bpms("start", "", counter));
    if let Some((kind, result)) = end {
        out.push(bpms(kind, result, counter));
    }
    if !approve_type.is_empty() {
        let main = if instance.main.is_empty() {
            &instance.id
        } else {
            &instance.main
        };
        for status in ["start"].into_iter().chain(end.map(|(kind, _)| kind)) {
            *counter += 1;
            out.push(json!({
                "EventType": "attendance_approve_status_change", "CorpId": CORP,
                "eventId": format!("evt-{counter}"), "corpId": CORP,
                "processInstanceId": instance.id, "mainProcessInstanceId": main,
                "processCode": instance.code, "approveType": approve_type, "status": status
            }));
        }
    }
    out
}
