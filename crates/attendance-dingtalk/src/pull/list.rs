//! `attendance/list` (check-point results) and `attendance/listRecord`
//! (punches), whose items arrive with ids as numbers or strings and times
//! in milliseconds.

use attendance_proto::v1::{Punch, ShiftResult};
use attendance_proto::Timestamp;
use serde_json::Value;

use super::check_points::{shift_results, whole_seconds, CheckPoint};
use super::{PullSource, LIST_RECORDS, LIST_RESULTS};
use crate::translate::{millis_timestamp, punch_from_record};
use crate::wire::CheckRecord;

/// Text of an id that arrives as a number or a string.
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Milliseconds since the epoch, as a number or a string of digits.
fn millis(value: Option<&Value>) -> Option<Timestamp> {
    let ms = match value? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    millis_timestamp(ms).map(whole_seconds)
}

/// The check-point results of `attendance/list` (items of `recordresult`).
pub fn shift_results_from_list(pull: &PullSource, items: &[Value]) -> Vec<ShiftResult> {
    let mut points = Vec::with_capacity(items.len());
    for item in items {
        let user_id = text(item.get("userId"));
        let plan_time = millis(item.get("baseCheckTime")).or(millis(item.get("planCheckTime")));
        let work_date = millis(item.get("workDate"))
            .or(plan_time)
            .and_then(|t| pull.local_date(&t));
        let (Some(work_date), false) = (work_date, user_id.is_empty()) else {
            tracing::warn!(app = %pull.app, item = %item, "pulled result without user or work date skipped");
            continue;
        };
        let proc_inst_id = text(item.get("procInstId"));
        points.push(CheckPoint {
            user_id,
            work_date,
            check_type: text(item.get("checkType")),
            time_result: text(item.get("timeResult")),
            location_result: text(item.get("locationResult")),
            source_type: text(item.get("sourceType")),
            plan_time,
            user_time: millis(item.get("userCheckTime")),
            record_id: text(item.get("recordId")),
            plan_id: text(item.get("planId")),
            class_id: text(item.get("classId")),
            group_id: text(item.get("groupId")),
            approval_id: if proc_inst_id.is_empty() {
                text(item.get("approveId"))
            } else {
                proc_inst_id
            },
            tenant: text(item.get("corpId")),
            api: LIST_RESULTS,
            raw: item.to_string(),
        });
    }
    shift_results(pull, points)
}

/// The punches of `attendance/listRecord` (items of `recordresult`), through
/// the same translation as the pushed punch. listRecord names the punch time
/// `userCheckTime` and the record `id`.
pub fn punches_from_records(pull: &PullSource, items: &[Value]) -> Vec<Punch> {
    let mut punches = Vec::with_capacity(items.len());
    for item in items {
        let mut object = item.as_object().cloned().unwrap_or_default();
        if !object.contains_key("checkTime") {
            if let Some(time) = object.get("userCheckTime").cloned() {
                object.insert("checkTime".into(), time);
            }
        }
        if !object.contains_key("recordId") {
            if let Some(id) = object.get("id").cloned() {
                object.insert("recordId".into(), id);
            }
        }
        let record = match serde_json::from_value::<CheckRecord>(Value::Object(object)) {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(app = %pull.app, %error, "unreadable pulled punch skipped");
                continue;
            }
        };
        match punch_from_record(
            &record,
            pull.source(&record.corp_id),
            pull.provenance(LIST_RECORDS),
            &item.to_string(),
        ) {
            Ok(punch) => punches.push(punch),
            Err(reason) => tracing::warn!(app = %pull.app, %reason, "pulled punch skipped"),
        }
    }
    punches
}

/// The `procInstId` of a listRecord item: the approval (e.g. a 补卡) that
/// made the punch.
pub fn record_instance_id(item: &Value) -> String {
    text(item.get("procInstId"))
}
