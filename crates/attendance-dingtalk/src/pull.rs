//! What the pull APIs answer, translated into the same facts, under the same
//! business keys, as the pushes they complete (pure: no I/O, no clock).
//!
//! - `getupdatedata` → one employee-day: [`ShiftResult`]s, [`Punch`]es and
//!   [`Approval`]s ([`facts_from_update_data`]);
//! - `attendance/list` → [`ShiftResult`]s ([`shift_results_from_list`]);
//! - `attendance/listRecord` → [`Punch`]es ([`punches_from_records`]);
//! - a failed-push item (either shape) → the [`Delivery`] its push would
//!   have produced, on the failed-push-recovery channel
//!   ([`failed_push_delivery`]).
//!
//! A check point's business key is `{userId}/{work date}/{index}/{on|off}`,
//! where `index` numbers the day's on-duty (and, separately, off-duty) check
//! points from 1 in scheduled-time order, so that `getupdatedata` and
//! `attendance/list` name the same check point alike. Punches are keyed by
//! [`punch_from_record`]'s rule (`bizId`, else `corpId/userId/checkTime`) and
//! carry the instant and the record id as matching keys: `getupdatedata` has
//! no `bizId`, and the store lets a pulled punch meet the stored one on them.

use std::collections::{BTreeMap, HashMap};

use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Approval, ApprovalKind, ApprovalStatus, Channel, DurationUnit, LocationResult, Provenance,
    Punch, ShiftResult, ShiftStatus, Source, Supplement, Vendor, WorkDirection,
};
use attendance_proto::Timestamp;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::app::DingTalkApp;
use crate::translate::{millis_timestamp, punch_from_record, translate_body};
use crate::wire::{
    CheckRecord, FailedItem, UpdateApprove, UpdateAttendanceResult, UpdateCheckRecord, UpdateData,
};

/// `Provenance.event_type` and `Delivery.event_type` of each pull.
pub const GETUPDATEDATA: &str = "topapi/attendance/getupdatedata";
pub const LIST_RESULTS: &str = "attendance/list";
pub const LIST_RECORDS: &str = "attendance/listRecord";

/// Who pulled, for the facts' source and provenance.
#[derive(Clone, Debug)]
pub struct PullSource {
    /// The configured app name.
    pub app: String,
    /// The ClientID (AppKey).
    pub app_id: String,
    /// The corp the employees belong to (the APIs do not always say).
    pub tenant: String,
    /// The zone DingTalk's `yyyy-MM-dd HH:mm:ss` times and work dates are in.
    pub zone: Tz,
    pub received_time: Timestamp,
}

impl PullSource {
    fn source(&self, tenant: &str) -> Source {
        Source {
            vendor: Vendor::Dingtalk as i32,
            app: self.app.clone(),
            app_id: self.app_id.clone(),
            tenant: if self.tenant.is_empty() {
                tenant.to_owned()
            } else {
                self.tenant.clone()
            },
        }
    }

    fn provenance(&self, api: &str) -> Provenance {
        Provenance {
            channel: Channel::Pull as i32,
            event_id: String::new(),
            event_type: api.into(),
            received_time: Some(self.received_time),
            vendor_create_time: None,
            // What the API answers now supersedes what was pushed before.
            version_time: Some(self.received_time),
            stated_fields: Vec::new(),
        }
    }

    /// A `yyyy-MM-dd HH:mm:ss` time in the tenant's zone.
    fn local_time(&self, text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
            .ok()?;
        let instant = self.zone.from_local_datetime(&naive).earliest()?;
        Some(Timestamp {
            seconds: instant.timestamp(),
            nanos: 0,
        })
    }

    /// The civil date of an instant in the tenant's zone.
    pub fn local_date(&self, time: &Timestamp) -> Option<NaiveDate> {
        let utc = DateTime::from_timestamp(time.seconds, 0)?;
        Some(utc.with_timezone(&self.zone).date_naive())
    }
}

/// A pull's facts as one delivery. Pulls have no delivery id: business keys
/// alone deduplicate them.
pub fn pull_delivery(pull: &PullSource, event_type: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        vendor: Vendor::Dingtalk,
        app: pull.app.clone(),
        tenant: pull.tenant.clone(),
        channel: Channel::Pull,
        event_id: String::new(),
        event_type: event_type.into(),
        raw_json: String::new(),
        recognition: Recognition::Translated,
        facts,
        jobs: Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Check points (ShiftResult).

/// One check point as either API reports it.
struct CheckPoint {
    user_id: String,
    work_date: NaiveDate,
    check_type: String,
    time_result: String,
    location_result: String,
    source_type: String,
    plan_time: Option<Timestamp>,
    user_time: Option<Timestamp>,
    record_id: String,
    plan_id: String,
    class_id: String,
    group_id: String,
    approval_id: String,
    tenant: String,
    api: &'static str,
    raw: String,
}

fn shift_status(time_result: &str) -> ShiftStatus {
    match time_result {
        "Normal" => ShiftStatus::Normal,
        "Early" => ShiftStatus::Early,
        "Late" => ShiftStatus::Late,
        "SeriousLate" => ShiftStatus::SeriousLate,
        "Absenteeism" => ShiftStatus::Absent,
        "NotSigned" => ShiftStatus::Missing,
        _ => ShiftStatus::Unspecified,
    }
}

fn location_result(text: &str) -> LocationResult {
    match text {
        "Normal" => LocationResult::Normal,
        "Outside" => LocationResult::Outside,
        "NotSigned" => LocationResult::NotSigned,
        _ => LocationResult::Unspecified,
    }
}

/// `sourceType` says why a result is not a plain punch: an approval (补卡,
/// leave) or an administrator.
fn supplement(source_type: &str) -> Supplement {
    match source_type {
        "" => Supplement::Unspecified,
        "APPROVE" => Supplement::Approval,
        "BOSS" => Supplement::ManagerModification,
        _ => Supplement::None,
    }
}

fn direction(check_type: &str) -> (WorkDirection, &'static str) {
    match check_type {
        "OnDuty" => (WorkDirection::OnDuty, "on"),
        "OffDuty" => (WorkDirection::OffDuty, "off"),
        _ => (WorkDirection::Unspecified, "unknown"),
    }
}

/// Whole seconds: `getupdatedata` has second-precision strings where
/// `attendance/list` has milliseconds, and both must say the same.
fn whole_seconds(time: Timestamp) -> Timestamp {
    Timestamp {
        seconds: time.seconds,
        nanos: 0,
    }
}

/// Numbers each employee-day's check points and builds the results.
fn shift_results(pull: &PullSource, points: Vec<CheckPoint>) -> Vec<ShiftResult> {
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
                direction(&point.check_type).0 != WorkDirection::OnDuty,
                *position,
            )
        });
        let mut seen: HashMap<&'static str, i32> = HashMap::new();
        for (_, point) in &points {
            let (direction, word) = direction(&point.check_type);
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
        status: shift_status(&point.time_result) as i32,
        status_original: point.time_result.clone(),
        supplement: supplement(&point.source_type) as i32,
        supplement_original: point.source_type.clone(),
        location_result: location_result(&point.location_result) as i32,
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

// ---------------------------------------------------------------------------
// getupdatedata.

/// `yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss` → the date.
fn date_of(text: &str) -> Option<NaiveDate> {
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
    let kind = match (item.biz_type, item.tag_name.as_str()) {
        (Some(1), _) | (_, "加班") => ApprovalKind::Overtime,
        (Some(3), _) | (_, "请假") => ApprovalKind::Leave,
        (_, "出差") => ApprovalKind::BusinessTrip,
        (_, "外出") => ApprovalKind::GoOut,
        _ => ApprovalKind::Unspecified,
    };
    let unit_text = item.duration_unit.to_ascii_lowercase();
    let unit = if unit_text.contains("half") {
        DurationUnit::HalfDays
    } else if unit_text.contains("day") {
        DurationUnit::Days
    } else if unit_text.contains("hour") {
        DurationUnit::Hours
    } else if unit_text.contains("minute") {
        DurationUnit::Minutes
    } else {
        DurationUnit::Unspecified
    };
    let finished = !item.gmt_finished.trim().is_empty();
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
        status: if finished {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Pending
        } as i32,
        status_original: if finished {
            format!("gmt_finished={}", item.gmt_finished)
        } else {
            String::new()
        },
        instance_id: item.proc_inst_id.clone(),
        start_time: pull.local_time(&item.begin_time),
        end_time: pull.local_time(&item.end_time),
        duration: item.duration.trim().parse().unwrap_or(0.0),
        duration_unit: unit as i32,
        duration_unit_original: item.duration_unit.clone(),
        leave_type: item.sub_type.clone(),
        provenance: Some(pull.provenance(GETUPDATEDATA)),
        raw_json: raw.to_owned(),
        ..Approval::default()
    })
}

// ---------------------------------------------------------------------------
// attendance/list and attendance/listRecord.

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

// ---------------------------------------------------------------------------
// Failed pushes.

/// The delivery a failed push item stands for: translated exactly as its
/// push would have been, on [`Channel::FailedPushRecovery`], under the
/// push's event id when the payload carries one (so that a later push, or
/// an earlier one, dedups against it), else under an id derived from the
/// item's content (so that reading the same item twice stores it once).
///
/// The raw JSON kept is the event body, like a push's; an item whose body
/// cannot be found is kept whole and stored as untranslatable.
pub fn failed_push_delivery(app: &DingTalkApp, item: &Value, received_time: Timestamp) -> Delivery {
    let whole = item.to_string();
    let parsed: Result<FailedItem, String> =
        serde_json::from_value(item.clone()).map_err(|error| format!("failed item: {error}"));
    let (event_type, corp_id, event_time, payload) = match &parsed {
        Ok(failed) => (
            failed.call_back_tag.clone(),
            failed.corp_id().map(str::to_owned),
            failed.event_time,
            failed.payload(),
        ),
        Err(reason) => (String::new(), None, None, Err(reason.clone())),
    };
    let body: Result<Map<String, Value>, String> = payload.and_then(|value| match value {
        Value::Object(map) => Ok(map),
        _ => Err("the payload is not an object".into()),
    });
    let raw_json = match &body {
        Ok(map) => Value::Object(map.clone()).to_string(),
        Err(_) => whole.clone(),
    };
    let pushed_id = body.as_ref().ok().and_then(|map| {
        ["eventId", "EventId", "BizId"]
            .iter()
            .find_map(|key| map.get(*key)?.as_str().filter(|id| !id.is_empty()))
            .map(str::to_owned)
    });
    let event_id = pushed_id.unwrap_or_else(|| {
        let digest = Sha1::digest(whole.as_bytes());
        format!("failed-push:{}", hex::encode(digest))
    });
    let event_type = if event_type.is_empty() {
        "failed_push".to_owned()
    } else {
        event_type
    };
    let mut delivery = translate_body(
        app,
        Channel::FailedPushRecovery,
        &event_id,
        &event_type,
        corp_id.as_deref(),
        event_time,
        &raw_json,
        body,
        received_time,
    );
    if let (Err(reason), Recognition::Unknown) = (&parsed, &delivery.recognition) {
        delivery.recognition = Recognition::Untranslatable(reason.clone());
    }
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pull() -> PullSource {
        PullSource {
            app: "main".into(),
            app_id: "dingclient".into(),
            tenant: "dingcorp".into(),
            zone: "Asia/Shanghai".parse().unwrap(),
            received_time: Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            },
        }
    }

    #[test]
    fn local_times_are_in_the_tenant_zone() {
        let t = pull().local_time("2021-01-14 09:00:00").unwrap();
        assert_eq!(t.seconds, 1_610_586_000, "09:00 +08:00 is 01:00Z");
        assert_eq!(pull().local_date(&t), NaiveDate::from_ymd_opt(2021, 1, 14));
        assert!(pull().local_time("soon").is_none());
        assert_eq!(
            date_of("2021-01-14 09:00:00"),
            NaiveDate::from_ymd_opt(2021, 1, 14)
        );
    }

    #[test]
    fn list_and_update_data_number_check_points_alike() {
        let day = json!({
            "userid": "u1", "work_date": "2021-01-14 00:00:00", "corpId": "dingcorp",
            "attendance_result_list": [
                {"check_type": "OffDuty", "plan_check_time": "2021-01-14 18:00:00", "time_result": "Normal", "source_type": "USER", "location_result": "Normal", "record_id": 2, "plan_id": 12, "group_id": 7},
                {"check_type": "OnDuty", "plan_check_time": "2021-01-14 13:00:00", "time_result": "Normal", "source_type": "USER", "location_result": "Normal", "record_id": 3, "plan_id": 13, "group_id": 7},
                {"check_type": "OnDuty", "plan_check_time": "2021-01-14 09:00:00", "user_check_time": "2021-01-14 09:10:00", "time_result": "Late", "source_type": "USER", "location_result": "Normal", "record_id": 1, "plan_id": 11, "group_id": 7},
                {"check_type": "OffDuty", "plan_check_time": "2021-01-14 12:00:00", "time_result": "NotSigned", "source_type": "SYSTEM", "location_result": "NotSigned", "plan_id": 14, "group_id": 7}
            ]
        });
        let from_day: Vec<ShiftResult> = facts_from_update_data(
            &pull(),
            "u1",
            NaiveDate::from_ymd_opt(2021, 1, 14).unwrap(),
            &day,
        )
        .into_iter()
        .filter_map(|f| match f {
            Fact::ShiftResult(s) => Some(s),
            _ => None,
        })
        .collect();
        let keys: Vec<(&str, &str)> = from_day
            .iter()
            .map(|s| (s.business_key.as_str(), s.status_original.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("u1/2021-01-14/1/on", "Late"),
                ("u1/2021-01-14/1/off", "NotSigned"),
                ("u1/2021-01-14/2/on", "Normal"),
                ("u1/2021-01-14/2/off", "Normal"),
            ]
        );
        let late = &from_day[0];
        assert_eq!(late.status, ShiftStatus::Late as i32);
        assert_eq!(late.task_id, "11");
        assert_eq!(late.scheduled_time.unwrap().seconds, 1_610_586_000);
        assert_eq!(late.actual_time.unwrap().seconds, 1_610_586_600);
        assert_eq!(from_day[1].status, ShiftStatus::Missing as i32);
        assert_eq!(from_day[1].supplement, Supplement::None as i32);

        let at = |h: i64| 1_610_553_600_000_i64 + h * 3_600_000; // 2021-01-14 00:00 +08:00
        let list = vec![
            json!({"userId": "u1", "checkType": "OnDuty", "baseCheckTime": at(9), "userCheckTime": at(9) + 600_123, "workDate": at(0), "timeResult": "Late", "sourceType": "USER", "locationResult": "Normal", "recordId": 1, "planId": 11, "groupId": 7}),
            json!({"userId": "u1", "checkType": "OffDuty", "baseCheckTime": at(12), "workDate": at(0), "timeResult": "NotSigned", "sourceType": "SYSTEM", "locationResult": "NotSigned", "planId": 14, "groupId": 7}),
            json!({"userId": "u1", "checkType": "OnDuty", "baseCheckTime": at(13), "workDate": at(0), "timeResult": "Normal", "sourceType": "USER", "locationResult": "Normal", "recordId": 3, "planId": 13, "groupId": 7}),
            json!({"userId": "u1", "checkType": "OffDuty", "baseCheckTime": at(18), "workDate": at(0), "timeResult": "Normal", "sourceType": "USER", "locationResult": "Normal", "recordId": 2, "planId": 12, "groupId": 7}),
        ];
        let from_list = shift_results_from_list(&pull(), &list);
        let strip = |s: &ShiftResult| {
            let mut s = s.clone();
            s.provenance = None;
            s.raw_json.clear();
            s.shift_id.clear();
            s
        };
        assert_eq!(from_list.len(), 4);
        for (a, b) in from_day.iter().zip(&from_list) {
            assert_eq!(
                strip(a),
                strip(b),
                "both APIs say the same of a check point"
            );
        }
    }

    #[test]
    fn update_data_punches_and_approvals() {
        let day = json!({
            "userid": "u1", "corpId": "dingcorp",
            "check_record_list": [{"record_id": 52710882700_i64, "user_check_time": "2021-01-14 11:19:04", "source_type": "USER",
                                   "invalid_record_type": "Other", "invalid_record_msg": "外勤打卡需要审批", "user_latitude": "30.286036"},
                                  {"record_id": 1, "user_check_time": "never"}],
            "approve_list": [{"procInst_id": "p-1", "tag_name": "请假", "biz_type": 3, "sub_type": "年假", "duration": "1.0",
                              "duration_unit": "DAY", "begin_time": "2021-01-14 09:00:00", "end_time": "2021-01-14 18:00:00",
                              "gmt_finished": "2021-01-13 10:00:00"}, {"tag_name": "请假"}]
        });
        let facts = facts_from_update_data(
            &pull(),
            "u1",
            NaiveDate::from_ymd_opt(2021, 1, 14).unwrap(),
            &day,
        );
        assert_eq!(facts.len(), 2, "{facts:#?}");
        let Fact::Punch(punch) = &facts[0] else {
            panic!("{facts:?}")
        };
        assert_eq!(
            punch.business_key, "dingcorp/u1/1610594344000",
            "the push's rule without bizId"
        );
        assert_eq!(punch.record_id, "52710882700");
        assert_eq!(punch.invalid_reason, "外勤打卡需要审批");
        assert_eq!(punch.provenance.as_ref().unwrap().event_type, GETUPDATEDATA);
        let Fact::Approval(leave) = &facts[1] else {
            panic!("{facts:?}")
        };
        assert_eq!(leave.business_key, "p-1");
        assert_eq!(leave.kind, ApprovalKind::Leave as i32);
        assert_eq!(leave.status, ApprovalStatus::Approved as i32);
        assert_eq!(leave.duration, 1.0);
        assert_eq!(leave.duration_unit, DurationUnit::Days as i32);
        assert_eq!(leave.leave_type, "年假");
        assert_eq!(leave.start_time.unwrap().seconds, 1_610_586_000);
    }

    #[test]
    fn list_records_become_the_pushed_punch() {
        let items = vec![json!({
            "id": 933110197, "userId": "u1", "corpId": "dingcorp", "bizId": "FF62CD34",
            "userCheckTime": 1_570_791_880_000_i64, "locationMethod": "MAP", "locationResult": "Normal",
            "sourceType": "USER", "isLegal": "Y", "userAddress": "园区", "userLatitude": 30.2, "userLongitude": 120.0
        })];
        let [punch] = punches_from_records(&pull(), &items).try_into().unwrap();
        assert_eq!(punch.business_key, "FF62CD34");
        assert_eq!(punch.record_id, "933110197");
        assert_eq!(punch.check_time.unwrap().seconds, 1_570_791_880);
        assert_eq!(punch.location.as_ref().unwrap().name, "园区");
        assert_eq!(
            punch.provenance.as_ref().unwrap().channel,
            Channel::Pull as i32
        );
    }

    #[test]
    fn failed_pushes_of_both_shapes_become_their_pushes() {
        let app = DingTalkApp {
            name: "main".into(),
            client_id: "dingclient".into(),
            client_secret: String::new(),
            callback_token: String::new(),
            callback_aes_key: String::new(),
            corp_id: None,
        };
        let received = pull().received_time;
        let record = json!({"userId": "u1", "checkTime": 1_606_126_400_000_i64, "bizId": "AB12", "locationMethod": "WIFI"});
        let tagged = json!({
            "attendance_check_record": {"callbackData": {"dataList": [record.clone()]}, "corpid": "c1"},
            "call_back_tag": "attendance_check_record", "event_time": 1_606_126_433_000_i64
        });
        let flat = json!({
            "call_back_tag": "attendance_check_record", "corpid": "c1", "event_time": 1_606_126_433_000_i64,
            "callbackData": json!({"eventId": "evt-7", "dataList": [record]}).to_string()
        });
        let from_tagged = failed_push_delivery(&app, &tagged, received);
        let from_flat = failed_push_delivery(&app, &flat, received);
        for delivery in [&from_tagged, &from_flat] {
            assert_eq!(delivery.channel, Channel::FailedPushRecovery);
            assert_eq!(delivery.recognition, Recognition::Translated);
            assert_eq!(
                (delivery.tenant.as_str(), delivery.event_type.as_str()),
                ("c1", "attendance_check_record")
            );
            let [Fact::Punch(punch)] = delivery.facts.as_slice() else {
                panic!("{delivery:?}")
            };
            assert_eq!(punch.business_key, "AB12");
            let provenance = punch.provenance.as_ref().unwrap();
            assert_eq!(provenance.channel, Channel::FailedPushRecovery as i32);
            assert_eq!(
                provenance.vendor_create_time.unwrap().seconds,
                1_606_126_433
            );
        }
        assert_eq!(
            from_flat.event_id, "evt-7",
            "the push's own id, so its redelivery dedups"
        );
        assert!(
            from_tagged.event_id.starts_with("failed-push:"),
            "{}",
            from_tagged.event_id
        );
        assert_eq!(
            from_tagged.event_id,
            failed_push_delivery(&app, &tagged, received).event_id,
            "stable"
        );
        assert!(
            !from_tagged.raw_json.contains("call_back_tag"),
            "the body is kept, like a push's"
        );

        let unreadable = failed_push_delivery(
            &app,
            &json!({"call_back_tag": "attendance_check_record"}),
            received,
        );
        assert!(
            matches!(unreadable.recognition, Recognition::Untranslatable(_)),
            "{unreadable:?}"
        );
        assert!(unreadable.raw_json.contains("call_back_tag"), "kept whole");
        let other = failed_push_delivery(
            &app,
            &json!({"user_add_org": {"userid": ["z"], "corpid": "c1"}, "call_back_tag": "user_add_org"}),
            received,
        );
        assert_eq!(other.recognition, Recognition::Unknown);
    }
}
