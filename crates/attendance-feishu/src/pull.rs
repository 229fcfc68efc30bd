//! Records pulled from the attendance APIs, translated into the same facts,
//! under the same business keys, as the pushed events they reconcile.

use attendance_adapter_kit::translation::pull_provenance;
use attendance_proto::v1::{
    Device, Location, Provenance, Punch, PunchValidity, ShiftResult, Source, Vendor, Wifi,
    WorkDirection,
};
use attendance_proto::Timestamp;

use crate::api::{TaskRecord, UserFlow, UserTaskResult};
use crate::mapping;

/// Who pulled, for the facts' source and provenance.
#[derive(Clone, Debug)]
pub struct PullSource {
    /// The configured app name.
    pub app: String,
    pub app_id: String,
    /// The tenant the employees belong to (pulls do not say).
    pub tenant: String,
    /// The zone work dates are civil dates in.
    pub time_zone: String,
    pub received_time: Timestamp,
}

impl PullSource {
    fn source(&self) -> Source {
        Source {
            vendor: Vendor::Feishu as i32,
            app: self.app.clone(),
            app_id: self.app_id.clone(),
            tenant: self.tenant.clone(),
        }
    }

    fn provenance(&self, api: &str) -> Provenance {
        pull_provenance(api, self.received_time)
    }
}

pub const USER_FLOWS_QUERY: &str = "attendance/v1/user_flows/query";
pub const USER_TASKS_QUERY: &str = "attendance/v1/user_tasks/query";

fn seconds(text: &str) -> Option<Timestamp> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .map(|seconds| Timestamp { seconds, nanos: 0 })
}

/// A pulled punch; `None` when the record has no id or time to key it by.
pub fn punch_from_flow(pull: &PullSource, flow: &UserFlow) -> Option<Punch> {
    if flow.record_id.is_empty() || flow.user_id.is_empty() {
        return None;
    }
    let check_time = seconds(&flow.check_time)?;
    // The same rule as for the pushed event, so push and pull agree.
    let method = mapping::punch_method(flow.is_wifi, Some(flow.kind));
    Some(Punch {
        source: Some(pull.source()),
        business_key: flow.record_id.clone(),
        employee_id: flow.user_id.clone(),
        employee_no: String::new(),
        check_time: Some(check_time),
        location: Some(Location {
            name: flow.location_name.clone(),
            ..Location::default()
        }),
        wifi: Some(Wifi {
            ssid: flow.ssid.clone(),
            bssid: flow.bssid.clone(),
        }),
        device: (!flow.device_id.is_empty()).then(|| Device {
            id: flow.device_id.clone(),
            ..Device::default()
        }),
        method: method as i32,
        method_original: format!("is_wifi={}", flow.is_wifi),
        field_punch: flow.is_field,
        origin: mapping::punch_origin(flow.kind) as i32,
        origin_original: flow.kind.to_string(),
        // The API only returns flows Feishu counts.
        validity: PunchValidity::Valid as i32,
        comment: flow.comment.clone(),
        photo_urls: flow.photo_urls.clone().unwrap_or_default(),
        record_id: flow.record_id.clone(),
        provenance: Some(pull.provenance(USER_FLOWS_QUERY)),
        raw_json: serde_json::to_string(flow).unwrap_or_default(),
        ..Punch::default()
    })
}

/// `20210310` → `"2021-03-10"`, for a real date only.
pub fn iso_date(day: i64) -> Option<String> {
    let (y, m, d) = (day / 10_000, (day / 100) % 100, day % 100);
    chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).map(|date| date.to_string())
}

/// The shift results of one pulled employee-day: an on-duty and an off-duty
/// check point per record, numbered from 1 like the pushed event's `index`.
pub fn shift_results_from_task(pull: &PullSource, task: &UserTaskResult) -> Vec<ShiftResult> {
    let Some(work_date) = iso_date(task.day) else {
        return Vec::new();
    };
    let mut results = Vec::with_capacity(task.records.len() * 2);
    for (i, record) in task.records.iter().enumerate() {
        let index = i as i32 + 1;
        for direction in [WorkDirection::OnDuty, WorkDirection::OffDuty] {
            results.push(check_point(
                pull, task, record, &work_date, index, direction,
            ));
        }
    }
    results
}

fn check_point(
    pull: &PullSource,
    task: &UserTaskResult,
    record: &TaskRecord,
    work_date: &str,
    index: i32,
    direction: WorkDirection,
) -> ShiftResult {
    let on = direction == WorkDirection::OnDuty;
    let (result, extra, shift_time, record_id, flow, work_type) = if on {
        (
            &record.check_in_result,
            &record.check_in_result_supplement,
            &record.check_in_shift_time,
            &record.check_in_record_id,
            &record.check_in_record,
            "on",
        )
    } else {
        (
            &record.check_out_result,
            &record.check_out_result_supplement,
            &record.check_out_shift_time,
            &record.check_out_record_id,
            &record.check_out_record,
            "off",
        )
    };
    let (location_result, location_result_original) = mapping::location_result(extra);
    ShiftResult {
        source: Some(pull.source()),
        business_key: format!("{}/{work_date}/{index}/{work_type}", task.user_id),
        employee_id: task.user_id.clone(),
        work_date: work_date.into(),
        time_zone: pull.time_zone.clone(),
        group_id: task.group_id.clone(),
        shift_id: task.shift_id.clone(),
        index,
        direction: direction as i32,
        direction_original: work_type.into(),
        status: mapping::shift_status(result) as i32,
        status_original: result.clone(),
        supplement: mapping::supplement(extra) as i32,
        supplement_original: extra.clone(),
        location_result: location_result as i32,
        location_result_original,
        scheduled_time: seconds(shift_time),
        actual_time: flow.as_ref().and_then(|f| seconds(&f.check_time)),
        punch_record_id: record_id.clone(),
        provenance: Some(Provenance {
            // A record without a punch says there is none (a deleted punch
            // leaves no actual time on a Lack result).
            stated_fields: vec!["actual_time".into(), "punch_record_id".into()],
            ..pull.provenance(USER_TASKS_QUERY)
        }),
        raw_json: serde_json::to_string(record).unwrap_or_default(),
        ..ShiftResult::default()
    }
}
