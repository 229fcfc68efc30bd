//! `getupdatedata`: one employee-day's check points, punches and the
//! approvals that shaped it.

use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Approval, Punch};
use chrono::NaiveDate;
use serde_json::Value;

use super::check_points::{shift_results, CheckPoint};
use super::{PullSource, SpanEdge, GETUPDATEDATA};
use crate::mapping;
use crate::translate::punch_from_record;
use crate::wire::{
    CheckRecord, UpdateApprove, UpdateAttendanceResult, UpdateCheckRecord, UpdateData,
};

/// `yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss` → the date.
pub(super) fn date_of(text: &str) -> Option<NaiveDate> {
    let date = text.trim().split_once(' ').map_or(text.trim(), |(d, _)| d);
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// The items of a list as (raw JSON, parsed) pairs; unreadable ones are
/// logged and skipped.
fn parsed_items<T: serde::de::DeserializeOwned>(
    list: Option<&Value>,
    what: &str,
) -> Vec<(String, T)> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match serde_json::from_value::<T>(item.clone()) {
            Ok(parsed) => Some((item.to_string(), parsed)),
            Err(error) => {
                tracing::warn!(%error, what, "unreadable pulled item skipped");
                None
            }
        })
        .collect()
}

/// The facts of one `getupdatedata` answer (its `result` object) for
/// `user_id` on `work_date`: a [`ShiftResult`] per check point, a [`Punch`]
/// per punch of the day (valid or not), an [`Approval`] per approval that
/// affects it.
pub fn facts_from_update_data(
    pull: &PullSource,
    user_id: &str,
    work_date: NaiveDate,
    result: &Value,
) -> Vec<Fact> {
    let day: UpdateData = serde_json::from_value(strip_lists(result)).unwrap_or_default();
    let user_id = if day.userid.is_empty() {
        user_id.to_owned()
    } else {
        day.userid.clone()
    };
    let work_date = date_of(&day.work_date).unwrap_or(work_date);
    let tenant = day.corp_id.clone();
    let mut facts = Vec::new();

    let points = parsed_items::<UpdateAttendanceResult>(
        result.get("attendance_result_list"),
        "attendance_result_list",
    )
    .into_iter()
    .map(|(raw, item)| CheckPoint {
        user_id: user_id.clone(),
        work_date,
        plan_time: pull.local_time(&item.plan_check_time),
        user_time: pull.local_time(&item.user_check_time),
        check_type: item.check_type,
        time_result: item.time_result,
        location_result: item.location_result,
        source_type: item.source_type,
        record_id: item.record_id,
        plan_id: item.plan_id,
        class_id: item.class_id,
        group_id: item.group_id,
        approval_id: item.proc_inst_id,
        tenant: tenant.clone(),
        api: GETUPDATEDATA,
        raw,
    })
    .collect();
    facts.extend(
        shift_results(pull, points)
            .into_iter()
            .map(Fact::ShiftResult),
    );

    for (raw, item) in
        parsed_items::<UpdateCheckRecord>(result.get("check_record_list"), "check_record_list")
    {
        match punch_from_check_record(pull, &user_id, &tenant, &item, &raw) {
            Ok(punch) => facts.push(Fact::Punch(punch)),
            Err(reason) => {
                tracing::warn!(app = %pull.app, record_id = %item.record_id, %reason, "pulled punch skipped")
            }
        }
    }

    for (raw, item) in parsed_items::<UpdateApprove>(result.get("approve_list"), "approve_list") {
        if let Some(approval) = approval_from_update(pull, &user_id, &tenant, &item, &raw) {
            facts.push(Fact::Approval(approval));
        }
    }
    facts
}

/// `UpdateData` with its lists emptied: they are read item by item, so one
/// odd item does not hide the whole day.
fn strip_lists(result: &Value) -> Value {
    let mut day = result.clone();
    if let Some(object) = day.as_object_mut() {
        for key in [
            "attendance_result_list",
            "check_record_list",
            "approve_list",
        ] {
            object.remove(key);
        }
    }
    day
}

fn punch_from_check_record(
    pull: &PullSource,
    user_id: &str,
    tenant: &str,
    item: &UpdateCheckRecord,
    raw: &str,
) -> Result<Punch, String> {
    let time = pull
        .local_time(&item.user_check_time)
        .ok_or_else(|| format!("user_check_time {:?} is not a time", item.user_check_time))?;
    let record = CheckRecord {
        user_id: user_id.to_owned(),
        check_time: Some(time.seconds * 1000),
        corp_id: tenant.to_owned(),
        record_id: item.record_id.clone(),
        latitude: item.user_latitude,
        longitude: item.user_longitude,
        user_accuracy: item.user_accuracy,
        user_ssid: item.user_ssid.clone(),
        user_mac_addr: item.user_mac_addr.clone(),
        source_type: item.source_type.clone(),
        invalid_record_type: item.invalid_record_type.clone(),
        invalid_record_msg: item.invalid_record_msg.clone(),
        ..CheckRecord::default()
    };
    punch_from_record(
        &record,
        pull.source(tenant),
        pull.provenance(GETUPDATEDATA),
        raw,
    )
}

/// `approve_list` items are the approvals that shaped the day.
fn approval_from_update(
    pull: &PullSource,
    user_id: &str,
    tenant: &str,
    item: &UpdateApprove,
    raw: &str,
) -> Option<Approval> {
    if item.proc_inst_id.is_empty() {
        return None;
    }
    let kind = mapping::update_approval_kind(item.biz_type, &item.tag_name);
    let unit = mapping::update_duration_unit(&item.duration_unit);
    let (status, status_original) = mapping::update_approval_status(&item.gmt_finished);
    Some(Approval {
        source: Some(pull.source(tenant)),
        business_key: item.proc_inst_id.clone(),
        employee_id: user_id.to_owned(),
        kind: kind as i32,
        kind_original: if item.tag_name.is_empty() {
            item.biz_type.map(|t| t.to_string()).unwrap_or_default()
        } else {
            item.tag_name.clone()
        },
        status: status as i32,
        status_original,
        instance_id: item.proc_inst_id.clone(),
        start_time: pull.approval_time(&item.begin_time, SpanEdge::Start),
        end_time: pull.approval_time(&item.end_time, SpanEdge::End),
        duration: item.duration.trim().parse().unwrap_or(0.0),
        duration_unit: unit as i32,
        duration_unit_original: item.duration_unit.clone(),
        leave_type: item.sub_type.clone(),
        provenance: Some(pull.provenance(GETUPDATEDATA)),
        raw_json: raw.to_owned(),
        ..Approval::default()
    })
}
