//! An approval instance as the v1.0 workflow API answers it
//! (`GET /v1.0/workflow/processInstances`, the SDK's
//! `GetProcessInstanceResponseBody.result`): the truth an approval event
//! could not say (`finish` has no result, an unlisted `bizCategoryId` no
//! kind, neither event the employee or the period).

use std::collections::BTreeMap;

use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus, DurationUnit};
use serde_json::Value;

use super::{PullSource, SpanEdge, PROCESS_INSTANCE};
use crate::mapping;

/// What the event that queued the pull knew of the instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceHint {
    pub instance_id: String,
    /// The kind the event stated (a listed `bizCategoryId`, an
    /// `approveType`), when it stated one.
    pub kind: ApprovalKind,
    /// What the kind was read from, for `kind_original`.
    pub kind_original: String,
    /// The event's `processCode`, for the operator's `process_kinds`.
    pub process_code: String,
}

/// The approval an instance answer (its `result` object) describes, or
/// `None` when its kind is unknown (not stated by the event, not configured
/// for its process code, no leave component in its form: nothing for
/// payroll) or its state says no outcome.
///
/// Kind: the event's, else `process_kinds[processCode]`, else a form with a
/// `DDHolidayField` (the leave suite) is leave. Period: the leave suite's or
/// a `DDDateRangeField`'s; a punch correction's instant, its `DDDateField`
/// (also its start, so it sorts and buckets by the day it corrects). Status: `RUNNING` pending,
/// `TERMINATED` withdrawn, `COMPLETED` with `result` `agree` approved and
/// `refuse` rejected (the SDK's `status`/`result`).
pub fn approval_from_instance(
    pull: &PullSource,
    hint: &InstanceHint,
    process_kinds: &BTreeMap<String, ApprovalKind>,
    instance: &Value,
) -> Option<Approval> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let forms: Vec<&Value> = instance["formComponentValues"]
        .as_array()
        .map(|values| values.iter().collect())
        .unwrap_or_default();
    let component = |types: &[&str]| {
        forms
            .iter()
            .copied()
            .find(|form| types.contains(&form["componentType"].as_str().unwrap_or_default()))
    };
    let holiday = component(&["DDHolidayField"]);
    let (kind, kind_original) = if hint.kind != ApprovalKind::Unspecified {
        (hint.kind, hint.kind_original.clone())
    } else if let Some(kind) = process_kinds.get(&hint.process_code) {
        (*kind, format!("processCode={}", hint.process_code))
    } else if holiday.is_some() {
        (ApprovalKind::Leave, "DDHolidayField".to_owned())
    } else {
        return None;
    };
    let status_text = text(&instance["status"]);
    let result_text = text(&instance["result"]);
    let status = mapping::instance_status(&status_text, &result_text);
    if status == ApprovalStatus::Unspecified {
        return None;
    }
    let mut approval = Approval {
        source: Some(pull.source(&pull.tenant)),
        business_key: hint.instance_id.clone(),
        instance_id: hint.instance_id.clone(),
        employee_id: text(&instance["originatorUserId"]),
        kind: kind as i32,
        kind_original,
        status: status as i32,
        status_original: if result_text.is_empty() {
            status_text
        } else {
            format!("{status_text}/{result_text}")
        },
        provenance: Some(pull.provenance(PROCESS_INSTANCE)),
        raw_json: instance.to_string(),
        ..Approval::default()
    };
    if let Some(period) = holiday.or_else(|| component(&["DDDateRangeField"])) {
        fill_period(pull, &mut approval, &text(&period["value"]));
        if holiday.is_some() {
            approval.leave_type = period_leave_type(&text(&period["value"]));
        }
    }
    if kind == ApprovalKind::PunchCorrection && approval.start_time.is_none() {
        // A 补卡 form states the instant it corrects, in a date field.
        if let Some(at) = component(&["DDDateField"])
            .and_then(|field| pull.approval_time(&text(&field["value"]), SpanEdge::Start))
        {
            approval.corrected_time = Some(at);
            approval.start_time = Some(at);
        }
    }
    Some(approval)
}

/// A period component's value: a JSON list `[start, end, duration, unit,
/// ...]` of the leave suite and date-range fields, times in the forms the
/// attendance approvals use (`2019-08-15`, `2019-08-15 AM`,
/// `2019-08-15 12:43`). A value that does not read leaves the period
/// unknown.
fn fill_period(pull: &PullSource, approval: &mut Approval, value: &str) {
    let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(value) else {
        return;
    };
    let part = |i: usize| parts.get(i).and_then(Value::as_str).unwrap_or_default();
    approval.start_time = pull.approval_time(part(0), SpanEdge::Start);
    approval.end_time = pull.approval_time(part(1), SpanEdge::End);
    let duration = parts.get(2).and_then(|d| {
        d.as_f64()
            .or_else(|| d.as_str().and_then(|s| s.trim().parse().ok()))
    });
    if let Some(duration) = duration {
        approval.duration = duration;
        approval.duration_unit_original = part(3).to_owned();
        approval.duration_unit = mapping::update_duration_unit(part(3)) as i32;
        if approval.duration_unit == DurationUnit::Unspecified as i32 {
            approval.duration_unit_original.clear();
        }
    }
}

/// The leave type of a leave-suite value: its fifth element, when text.
fn period_leave_type(value: &str) -> String {
    serde_json::from_str::<Value>(value)
        .ok()
        .and_then(|parts| parts.get(4)?.as_str().map(str::to_owned))
        .unwrap_or_default()
}
