//! Records pulled from the attendance APIs, translated into the same facts,
//! under the same business keys, as the pushed events they reconcile:
//! punches and day results here, approvals in `approval.rs`, the approval
//! of a revert read from its instance in `instance.rs`.

use attendance_adapter_kit::translation::pull_provenance;
use attendance_proto::v1::{
    Device, Location, Provenance, Punch, PunchOrigin, PunchValidity, ShiftResult, Source, Vendor,
    Wifi, WorkDirection,
};
use attendance_proto::Timestamp;

mod approval;
#[cfg(test)]
mod approval_tests;
mod instance;

pub use approval::{
    approval_from_remedy, approvals_from_day, gather, has_span, PulledApproval,
    USER_APPROVALS_QUERY, USER_TASK_REMEDYS_QUERY,
};
pub use instance::{approval_from_instance, RevertedInstance, APPROVAL_INSTANCE_GET};

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
    let method = mapping::punch_method(flow.is_wifi, flow.kind);
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
        origin: flow
            .kind
            .map_or(PunchOrigin::Unspecified, mapping::punch_origin) as i32,
        origin_original: flow.kind.map(|n| n.to_string()).unwrap_or_default(),
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

/// `task_shift_type` of a normal segment; 1 is an overtime segment (GO SDK
/// `TaskResult.TaskShiftType`: 班次类型，0正常，1加班班次). The pull asks for
/// overtime segments (`need_overtime_result`), which come in the same
/// `records` list as the normal ones.
const NORMAL_SEGMENT: i64 = 0;

/// The shift results of one pulled employee-day: an on-duty and an off-duty
/// check point per record. Normal segments are numbered from 1 among
/// themselves, like the pushed event's `index`, and keyed as the push keys
/// them; overtime segments (and any other `task_shift_type`) are numbered
/// among their own kind under a key that names it, so an overtime segment
/// never takes the key of a normal one whatever its position in the list.
pub fn shift_results_from_task(pull: &PullSource, task: &UserTaskResult) -> Vec<ShiftResult> {
    let Some(work_date) = iso_date(task.day) else {
        return Vec::new();
    };
    let mut results = Vec::with_capacity(task.records.len() * 2);
    let mut seen_of_kind: std::collections::BTreeMap<i64, i32> = Default::default();
    for record in &task.records {
        let seen = seen_of_kind.entry(record.task_shift_type).or_insert(0);
        *seen += 1;
        let segment = Segment {
            index: *seen,
            shift_type: record.task_shift_type,
        };
        for direction in [WorkDirection::OnDuty, WorkDirection::OffDuty] {
            results.push(check_point(
                pull, task, record, &work_date, segment, direction,
            ));
        }
    }
    results
}

/// Which segment of the day a record is: its kind and its number among
/// segments of that kind.
#[derive(Clone, Copy)]
struct Segment {
    index: i32,
    shift_type: i64,
}

impl Segment {
    /// The business key's segment part: `{index}` for a normal segment, as
    /// the push keys it; `overtime/{index}` for an overtime one.
    fn key(self) -> String {
        match self.shift_type {
            NORMAL_SEGMENT => self.index.to_string(),
            1 => format!("overtime/{}", self.index),
            other => format!("shift_type_{other}/{}", self.index),
        }
    }
}

fn check_point(
    pull: &PullSource,
    task: &UserTaskResult,
    record: &TaskRecord,
    work_date: &str,
    segment: Segment,
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
        business_key: format!("{}/{work_date}/{}/{work_type}", task.user_id, segment.key()),
        employee_id: task.user_id.clone(),
        work_date: work_date.into(),
        time_zone: pull.time_zone.clone(),
        group_id: task.group_id.clone(),
        shift_id: task.shift_id.clone(),
        index: segment.index,
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
