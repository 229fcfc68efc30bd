//! Check points as [`ShiftResult`]s: both result APIs reduce to one
//! [`CheckPoint`] each, numbered per employee-day in scheduled order so that
//! `getupdatedata` and `attendance/list` name the same point alike.

use std::collections::{BTreeMap, HashMap};

use attendance_proto::v1::{Provenance, ShiftResult, WorkDirection};
use attendance_proto::Timestamp;
use chrono::NaiveDate;

use super::PullSource;
use crate::mapping;

/// One check point as either API reports it.
pub(super) struct CheckPoint {
    pub(super) user_id: String,
    pub(super) work_date: NaiveDate,
    pub(super) check_type: String,
    pub(super) time_result: String,
    pub(super) location_result: String,
    pub(super) source_type: String,
    pub(super) plan_time: Option<Timestamp>,
    pub(super) user_time: Option<Timestamp>,
    pub(super) record_id: String,
    pub(super) plan_id: String,
    pub(super) class_id: String,
    pub(super) group_id: String,
    pub(super) approval_id: String,
    pub(super) tenant: String,
    pub(super) api: &'static str,
    pub(super) raw: String,
}

/// Whole seconds: `getupdatedata` has second-precision strings where
/// `attendance/list` has milliseconds, and both must say the same.
pub(super) fn whole_seconds(time: Timestamp) -> Timestamp {
    Timestamp {
        seconds: time.seconds,
        nanos: 0,
    }
}

/// Numbers each employee-day's check points and builds the results.
pub(super) fn shift_results(pull: &PullSource, points: Vec<CheckPoint>) -> Vec<ShiftResult> {
    let mut days: BTreeMap<(String, NaiveDate), Vec<(usize, CheckPoint)>> = BTreeMap::new();
    for (position, point) in points.into_iter().enumerate() {
        days.entry((point.user_id.clone(), point.work_date))
            .or_default()
            .push((position, point));
    }
    let mut results = Vec::new();
    for ((_, work_date), mut points) in days {
        // Scheduled order; an on-duty point before an off-duty one at the
        // same time; then the vendor's order.
        points.sort_by_key(|(position, point)| {
            (
                point.plan_time.map(|t| t.seconds).unwrap_or(i64::MAX),
                mapping::direction(&point.check_type).0 != WorkDirection::OnDuty,
                *position,
            )
        });
        let mut seen: HashMap<&'static str, i32> = HashMap::new();
        for (_, point) in &points {
            let (direction, word) = mapping::direction(&point.check_type);
            let index = seen.entry(word).or_default();
            *index += 1;
            results.push(check_point(pull, point, work_date, *index, direction, word));
        }
    }
    results
}

fn check_point(
    pull: &PullSource,
    point: &CheckPoint,
    work_date: NaiveDate,
    index: i32,
    direction: WorkDirection,
    word: &str,
) -> ShiftResult {
    let work_date = work_date.to_string();
    ShiftResult {
        source: Some(pull.source(&point.tenant)),
        business_key: format!("{}/{work_date}/{index}/{word}", point.user_id),
        employee_id: point.user_id.clone(),
        employee_no: String::new(),
        work_date,
        time_zone: pull.zone.name().to_owned(),
        group_id: point.group_id.clone(),
        shift_id: point.class_id.clone(),
        task_id: point.plan_id.clone(),
        index,
        direction: direction as i32,
        direction_original: point.check_type.clone(),
        status: mapping::shift_status(&point.time_result) as i32,
        status_original: point.time_result.clone(),
        supplement: mapping::supplement(&point.source_type) as i32,
        supplement_original: point.source_type.clone(),
        location_result: mapping::location_result(&point.location_result) as i32,
        location_result_original: point.location_result.clone(),
        scheduled_time: point.plan_time,
        actual_time: point.user_time,
        punch_record_id: point.record_id.clone(),
        approval_id: point.approval_id.clone(),
        provenance: Some(Provenance {
            // A check point without a punch says there is none: a deleted
            // punch leaves no actual time on a NotSigned result.
            stated_fields: vec!["actual_time".into(), "punch_record_id".into()],
            ..pull.provenance(point.api)
        }),
        raw_json: point.raw.clone(),
        ..ShiftResult::default()
    }
}
