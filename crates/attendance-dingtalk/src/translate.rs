//! Pure translation of a [`VerifiedCallback`] or a [`StreamEvent`] into a
//! [`Delivery`] of unified facts, and of a delivery into the pulls it calls
//! for. No I/O and no clock: the caller passes the received time.
//!
//! A delivery always keeps the raw JSON, so a type this module does not know,
//! or a body it cannot read, is stored and reported rather than lost.

use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Approval, ApprovalKind, ApprovalStatus, Channel, Device, DurationUnit, Location, Provenance,
    Punch, PunchMethod, PunchOrigin, PunchValidity, Source, Vendor, Wifi,
};
use attendance_proto::Timestamp;
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::app::DingTalkApp;
use crate::stream_frame::StreamEvent;
use crate::trigger::{DayPull, InstancePull};
use crate::verify::VerifiedCallback;
use crate::wire::{
    ApproveStatusChange, BossCheckChange, BpmsChange, CheckRecord, CheckRecordEvent,
    DailySummaryRefresh, OvertimeDuration, OvertimeDurationEvent, ATTENDANCE_APPROVE_STATUS_CHANGE,
    ATTENDANCE_CHECK_RECORD, ATTENDANCE_OVERTIME_DURATION, ATTEND_BOSS_CHECK_CHANGE,
    ATTEND_USER_DAILY_SUMMARY_REFRESH, BPMS_INSTANCE_CHANGE, BPMS_TASK_CHANGE,
};

/// The largest instant a `google.protobuf.Timestamp` may hold (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// DingTalk's attendance calendar runs on China Standard Time: `workDate`
/// values are midnight at +08:00 (`1684944000000` is 2023-05-25 00:00 +08:00)
/// and `getupdatedata` takes dates in that zone. Events carry no zone, so
/// instants are turned into work dates here.
pub fn work_date_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// `bizCategoryId`s of approval processes that matter to payroll
/// (protocol §2.5). Any other category is a known event carrying nothing
/// for payroll.
pub fn approval_kind_of_category(biz_category_id: &str) -> Option<ApprovalKind> {
    match biz_category_id {
        "attendance.supply" => Some(ApprovalKind::PunchCorrection),
        "attendance.batchovertime" => Some(ApprovalKind::Overtime),
        "attendance.goout" => Some(ApprovalKind::GoOut),
        "alitrip.business" => Some(ApprovalKind::BusinessTrip),
        "attendance.relieve" => Some(ApprovalKind::ShiftSwap),
        _ => None,
    }
}

/// Translates one verified HTTP callback.
pub fn translate_callback(callback: &VerifiedCallback, received_time: Timestamp) -> Delivery {
    Inbound {
        app: callback.app(),
        client_id: callback.client_id(),
        configured_corp_id: callback.configured_corp_id(),
        channel: Channel::HttpCallback,
        event_id: callback.event_id(),
        event_type: callback.event_type(),
        envelope_corp_id: callback.corp_id(),
        vendor_time_ms: callback.event_time(),
        raw_json: callback.json(),
        body: Ok(callback.body().clone()),
        received_time,
    }
    .translate()
}

/// Translates one Stream EVENT received on `app`'s connection. The kept raw
/// JSON is the frame's `data`; what the headers say is in the delivery and
/// each fact's provenance.
pub fn translate_stream(
    event: &StreamEvent,
    app: &DingTalkApp,
    received_time: Timestamp,
) -> Delivery {
    let body = match serde_json::from_str::<Value>(event.data()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "data is {}, not an object",
            crate::wire::kind_of(&other)
        )),
        Err(error) => Err(format!("data is not JSON: {error}")),
    };
    Inbound {
        app: &app.name,
        client_id: &app.client_id,
        configured_corp_id: app.corp_id.as_deref(),
        channel: Channel::Stream,
        event_id: event.event_id(),
        event_type: event.event_type(),
        envelope_corp_id: event.corp_id(),
        vendor_time_ms: event.born_time(),
        raw_json: event.data(),
        body,
        received_time,
    }
    .translate()
}

/// Translates an event body that reached the hub other than by its push
/// (failed-push recovery, [`crate::pull::failed_push_delivery`]): the same
/// facts the push would have given, on `channel`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn translate_body(
    app: &DingTalkApp,
    channel: Channel,
    event_id: &str,
    event_type: &str,
    corp_id: Option<&str>,
    vendor_time_ms: Option<i64>,
    raw_json: &str,
    body: Result<Map<String, Value>, String>,
    received_time: Timestamp,
) -> Delivery {
    Inbound {
        app: &app.name,
        client_id: &app.client_id,
        configured_corp_id: app.corp_id.as_deref(),
        channel,
        event_id,
        event_type,
        envelope_corp_id: corp_id,
        vendor_time_ms,
        raw_json,
        body,
        received_time,
    }
    .translate()
}

/// What both channels reduce to.
struct Inbound<'a> {
    app: &'a str,
    client_id: &'a str,
    configured_corp_id: Option<&'a str>,
    channel: Channel,
    event_id: &'a str,
    event_type: &'a str,
    envelope_corp_id: Option<&'a str>,
    vendor_time_ms: Option<i64>,
    raw_json: &'a str,
    body: Result<Map<String, Value>, String>,
    received_time: Timestamp,
}

impl Inbound<'_> {
    fn translate(&self) -> Delivery {
        let translated = match self.event_type {
            ATTENDANCE_CHECK_RECORD => Some(self.check_record()),
            ATTENDANCE_OVERTIME_DURATION => Some(self.overtime_duration()),
            ATTENDANCE_APPROVE_STATUS_CHANGE => Some(self.approve_status_change()),
            BPMS_INSTANCE_CHANGE => Some(self.bpms_instance_change()),
            BPMS_TASK_CHANGE => Some(self.bpms_task_change()),
            ATTEND_BOSS_CHECK_CHANGE => Some(self.parse::<BossCheckChange>().and_then(|change| {
                day_of_trigger(&change.user_id, &change.work_date).map(|_| Vec::new())
            })),
            ATTEND_USER_DAILY_SUMMARY_REFRESH => {
                Some(self.parse::<DailySummaryRefresh>().and_then(|change| {
                    day_of_trigger(&change.user_id, &change.work_date).map(|_| Vec::new())
                }))
            }
            _ => None,
        };
        let (recognition, facts) = match translated {
            None => (Recognition::Unknown, Vec::new()),
            Some(Ok(facts)) => (Recognition::Translated, facts),
            // All or nothing: a half-translated delivery would look complete
            // downstream, while an untranslatable one is stored raw and reported.
            Some(Err(reason)) => (Recognition::Untranslatable(reason), Vec::new()),
        };
        Delivery {
            vendor: Vendor::Dingtalk,
            app: self.app.to_owned(),
            tenant: self.tenant(),
            channel: self.channel,
            event_id: self.event_id.to_owned(),
            event_type: self.event_type.to_owned(),
            raw_json: self.raw_json.to_owned(),
            recognition,
            facts,
            jobs: Vec::new(),
        }
    }

    /// The envelope's corp id (`eventCorpId` / `CorpId`), else the body's,
    /// else the first item's (old `DataList` payloads have no envelope corp),
    /// else the configured one.
    fn tenant(&self) -> String {
        let from_body = self.body.as_ref().ok().and_then(|body| {
            ["corpId", "CorpId", "corpid"]
                .iter()
                .find_map(|key| non_empty_str(body.get(*key)))
                .or_else(|| {
                    ["dataList", "DataList"]
                        .iter()
                        .find_map(|key| body.get(*key)?.as_array()?.first())
                        .and_then(|item| {
                            non_empty_str(item.get("corpId")).or(non_empty_str(item.get("corpid")))
                        })
                })
        });
        self.envelope_corp_id
            .or(from_body)
            .or(self.configured_corp_id.filter(|c| !c.is_empty()))
            .unwrap_or_default()
            .to_owned()
    }

    /// The source of a fact: the delivery's tenant, else the item's own corp.
    fn source(&self, item_corp_id: &str) -> Source {
        let tenant = self.tenant();
        Source {
            vendor: Vendor::Dingtalk as i32,
            app: self.app.to_owned(),
            app_id: self.client_id.to_owned(),
            tenant: if tenant.is_empty() {
                item_corp_id.to_owned()
            } else {
                tenant
            },
        }
    }

    fn provenance(&self) -> Provenance {
        Provenance {
            channel: self.channel as i32,
            event_id: self.event_id.to_owned(),
            event_type: self.event_type.to_owned(),
            received_time: Some(self.received_time),
            vendor_create_time: self.vendor_time_ms.and_then(millis_timestamp),
            // The event's own time: a redelivered `start` keeps its time and
            // never overrides the `finish` stored after it.
            version_time: self.vendor_time_ms.and_then(millis_timestamp),
            stated_fields: Vec::new(),
        }
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        let body = self.body.as_ref().map_err(Clone::clone)?;
        serde_json::from_value(Value::Object(body.clone()))
            .map_err(|error| format!("event body: {error}"))
    }

    fn check_record(&self) -> Result<Vec<Fact>, String> {
        let event: CheckRecordEvent = self.parse()?;
        let records = event.data_list.ok_or("dataList is missing")?;
        records
            .iter()
            .enumerate()
            .map(|(position, record)| {
                punch_from_record(
                    record,
                    self.source(&record.corp_id),
                    self.provenance(),
                    self.raw_json,
                )
                .map(Fact::Punch)
                .map_err(|reason| format!("dataList[{position}]: {reason}"))
            })
            .collect()
    }

    fn overtime_duration(&self) -> Result<Vec<Fact>, String> {
        let event: OvertimeDurationEvent = self.parse()?;
        let items = event.data_list.ok_or("dataList is missing")?;
        items
            .iter()
            .enumerate()
            .map(|(position, item)| {
                self.overtime(item)
                    .map(Fact::Approval)
                    .map_err(|reason| format!("dataList[{position}]: {reason}"))
            })
            .collect()
    }

    fn overtime(&self, item: &OvertimeDuration) -> Result<Approval, String> {
        require("userid", &item.userid)?;
        let work_date_ms = item.work_date.ok_or("workDate is missing")?;
        let work_day = millis_timestamp(work_date_ms)
            .ok_or_else(|| format!("workDate {work_date_ms} is out of range"))?;
        let source = self.source(&item.corp_id);
        let business_key = if item.key.is_empty() {
            let day = work_date_of(&work_day).ok_or("workDate is out of range")?;
            format!("{};{};{}", source.tenant, item.userid, day.format("%Y%m%d"))
        } else {
            item.key.clone()
        };
        // Hours are the finer unit; days only when that is all there is.
        let hours = item.overtime_hour.unwrap_or(0.0);
        let days = item.overtime_day.unwrap_or(0.0);
        let (duration, unit, unit_original) = if hours == 0.0 && days > 0.0 {
            (days, DurationUnit::Days, "overtimeDay")
        } else {
            (hours, DurationUnit::Hours, "overtimeHour")
        };
        Ok(Approval {
            source: Some(source),
            business_key,
            employee_id: item.userid.clone(),
            kind: ApprovalKind::Overtime as i32,
            kind_original: item.overtime_day_type.clone(),
            // The event reports overtime already recorded (`add`/`modify`).
            status: ApprovalStatus::Approved as i32,
            status_original: item.action.clone(),
            instance_id: String::new(),
            // Midnight of the work day: the event has the day, not the hours.
            start_time: Some(work_day),
            end_time: None,
            duration,
            duration_unit: unit as i32,
            duration_unit_original: unit_original.to_owned(),
            leave_type: String::new(),
            corrected_time: None,
            reason: String::new(),
            provenance: Some(self.provenance()),
            raw_json: self.raw_json.to_owned(),
            ..Approval::default()
        })
    }

    fn approve_status_change(&self) -> Result<Vec<Fact>, String> {
        let change: ApproveStatusChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        require("status", &change.status)?;
        let kind = match change.approve_type.as_str() {
            "LEAVE" => ApprovalKind::Leave,
            "OVERTIME" => ApprovalKind::Overtime,
            // The doc's Chinese labels for these two look swapped; the
            // English names are followed (protocol §2.4).
            "TRAVEL" => ApprovalKind::BusinessTrip,
            "OUT" => ApprovalKind::GoOut,
            _ => ApprovalKind::Unspecified,
        };
        let status = match change.status.as_str() {
            "start" => ApprovalStatus::Pending,
            // This event has no result field; `finish` is read as the
            // approval taking effect.
            "finish" => ApprovalStatus::Approved,
            "terminate" => ApprovalStatus::Withdrawn,
            "delete" => ApprovalStatus::Deleted,
            _ => ApprovalStatus::Unspecified,
        };
        Ok(vec![Fact::Approval(Approval {
            source: Some(self.source(&change.corp_id)),
            business_key: change.process_instance_id.clone(),
            employee_id: change.user_id,
            kind: kind as i32,
            kind_original: change.approve_type,
            status: status as i32,
            status_original: change.status,
            instance_id: change.process_instance_id,
            start_time: None,
            end_time: None,
            duration: 0.0,
            duration_unit: DurationUnit::Unspecified as i32,
            duration_unit_original: String::new(),
            leave_type: String::new(),
            corrected_time: None,
            reason: String::new(),
            provenance: Some(self.provenance()),
            raw_json: self.raw_json.to_owned(),
            ..Approval::default()
        })])
    }

    fn bpms_instance_change(&self) -> Result<Vec<Fact>, String> {
        let change: BpmsChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        require("type", &change.kind)?;
        let Some(kind) = approval_kind_of_category(&change.biz_category_id) else {
            // Expense claims, purchase requests...: known, and nothing for payroll.
            return Ok(Vec::new());
        };
        let status = match (change.kind.as_str(), change.result.as_str()) {
            ("start", _) => ApprovalStatus::Pending,
            ("finish", "agree") => ApprovalStatus::Approved,
            ("finish", "refuse") => ApprovalStatus::Rejected,
            ("terminate", _) => ApprovalStatus::Withdrawn,
            ("delete", _) => ApprovalStatus::Deleted,
            _ => ApprovalStatus::Unspecified,
        };
        let status_original = if change.result.is_empty() {
            change.kind.clone()
        } else {
            format!("{}/{}", change.kind, change.result)
        };
        Ok(vec![Fact::Approval(Approval {
            source: Some(self.source(&change.corp_id)),
            business_key: change.process_instance_id.clone(),
            employee_id: change.staff_id,
            kind: kind as i32,
            kind_original: change.biz_category_id,
            status: status as i32,
            status_original,
            instance_id: change.process_instance_id,
            // createTime/finishTime date the paperwork, not the absence; the
            // form's period comes from the process-instance API.
            start_time: None,
            end_time: None,
            duration: 0.0,
            duration_unit: DurationUnit::Unspecified as i32,
            duration_unit_original: String::new(),
            leave_type: String::new(),
            corrected_time: None,
            reason: String::new(),
            provenance: Some(self.provenance()),
            raw_json: self.raw_json.to_owned(),
            ..Approval::default()
        })])
    }

    /// A task is one approver's step: its `finish/agree` does not mean the
    /// instance is approved (a later approver may still refuse), so it yields
    /// no fact; `bpms_instance_change` carries the instance's outcome.
    fn bpms_task_change(&self) -> Result<Vec<Fact>, String> {
        let change: BpmsChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        Ok(Vec::new())
    }
}

/// Translates one punch record: an item of `attendance_check_record` or,
/// equally, of `/attendance/listRecord`, so that push and pull produce the
/// same fact for the same punch. `source.tenant` should already be resolved.
///
/// Sub-messages are set only when the record has something for them, so a
/// record without Wi-Fi data does not differ from one with empty Wi-Fi data.
pub fn punch_from_record(
    record: &CheckRecord,
    source: Source,
    provenance: Provenance,
    raw_json: &str,
) -> Result<Punch, String> {
    require("userId", &record.user_id)?;
    let check_ms = record.check_time.ok_or("checkTime is missing")?;
    let check_time = millis_timestamp(check_ms)
        .ok_or_else(|| format!("checkTime {check_ms} is out of range"))?;

    let name = if record.address.is_empty() {
        record.user_address.clone()
    } else {
        record.address.clone()
    };
    let location = (!name.is_empty()
        || record.latitude.is_some()
        || record.longitude.is_some()
        || record.user_accuracy.is_some())
    .then_some(Location {
        name,
        latitude: record.latitude,
        longitude: record.longitude,
        accuracy: record.user_accuracy,
    });
    let wifi = (!record.user_ssid.is_empty() || !record.user_mac_addr.is_empty()).then(|| Wifi {
        ssid: record.user_ssid.clone(),
        bssid: record.user_mac_addr.clone(),
    });
    let device = (!record.device_id.is_empty()
        || !record.device_sn.is_empty()
        || !record.device_name.is_empty())
    .then(|| Device {
        id: record.device_id.clone(),
        serial_number: record.device_sn.clone(),
        name: record.device_name.clone(),
    });

    let (origin, origin_original) = punch_origin(record);
    let (validity, validity_original, invalid_reason) = punch_validity(record);
    let corp = if source.tenant.is_empty() {
        record.corp_id.clone()
    } else {
        source.tenant.clone()
    };
    // The instant names the punch in every source (a pull of the day view
    // has no bizId), so it and the record id are keys it may be stored under.
    let instant_key = format!("{corp}/{}/{check_ms}", record.user_id);
    let business_key = if record.biz_id.is_empty() {
        instant_key.clone()
    } else {
        record.biz_id.clone()
    };
    let mut matching_keys = vec![instant_key];
    if !record.record_id.is_empty() {
        matching_keys.push(format!("record:{}", record.record_id));
    }
    let record_id = if record.record_id.is_empty() {
        record.biz_id.clone()
    } else {
        record.record_id.clone()
    };
    Ok(Punch {
        source: Some(source),
        business_key,
        employee_id: record.user_id.clone(),
        // Not in the event; the user directory knows it.
        employee_no: String::new(),
        check_time: Some(check_time),
        location,
        wifi,
        device,
        method: punch_method(&record.location_method) as i32,
        method_original: record.location_method.clone(),
        field_punch: record.location_result == "Outside",
        origin: origin as i32,
        origin_original,
        // DingTalk reports no anti-cheating verdict.
        risk: 0,
        risk_original: String::new(),
        validity: validity as i32,
        validity_original,
        invalid_reason,
        comment: record.outside_remark.clone(),
        photo_urls: record.photo_url.clone(),
        record_id,
        provenance: Some(provenance),
        raw_json: raw_json.to_owned(),
        matching_keys,
        ..Punch::default()
    })
}

fn punch_method(location_method: &str) -> PunchMethod {
    match location_method {
        "" => PunchMethod::Unspecified,
        "MAP" => PunchMethod::Gps,
        "WIFI" => PunchMethod::Wifi,
        "ATM" => PunchMethod::Machine,
        "BEACON" => PunchMethod::Beacon,
        _ => PunchMethod::Other,
    }
}

/// `sourceType` when the record has it (pulls); the push has only
/// `checkByUser`, documented as "the user punched" (`true`) or a system
/// replay after re-scheduling (`false`).
fn punch_origin(record: &CheckRecord) -> (PunchOrigin, String) {
    if !record.source_type.is_empty() {
        let origin = match record.source_type.as_str() {
            "USER" => PunchOrigin::User,
            "BOSS" => PunchOrigin::Admin,
            "APPROVE" => PunchOrigin::Correction,
            "SYSTEM" => PunchOrigin::System,
            "AUTO_CHECK" => PunchOrigin::AutoOffDuty,
            "ATM" | "DING_ATM" => PunchOrigin::Machine,
            // A beacon punch is the employee punching on their phone near a
            // Bluetooth beacon: the person did it, the beacon is the method.
            "BEACON" => PunchOrigin::User,
            _ => PunchOrigin::Unspecified,
        };
        return (origin, record.source_type.clone());
    }
    match record.check_by_user {
        Some(true) => (PunchOrigin::User, "checkByUser=true".to_owned()),
        Some(false) => (PunchOrigin::System, "checkByUser=false".to_owned()),
        None => (PunchOrigin::Unspecified, String::new()),
    }
}

/// An `invalidRecordType` marks a punch DingTalk does not count. `isLegal=N`
/// only says the time or place was not Normal (late, outside), which is a
/// counted punch with a bad result, so it alone does not make it invalid.
/// The push carries neither field: its validity is unknown.
fn punch_validity(record: &CheckRecord) -> (PunchValidity, String, String) {
    let mut original = Vec::new();
    if !record.is_legal.is_empty() {
        original.push(format!("isLegal={}", record.is_legal));
    }
    if !record.invalid_record_type.is_empty() {
        original.push(format!("invalidRecordType={}", record.invalid_record_type));
    }
    let original = original.join(";");
    if !record.invalid_record_type.is_empty() {
        let reason = if record.invalid_record_msg.is_empty() {
            record.invalid_record_type.clone()
        } else {
            record.invalid_record_msg.clone()
        };
        (PunchValidity::Invalid, original, reason)
    } else if !record.is_legal.is_empty() {
        (PunchValidity::Valid, original, String::new())
    } else {
        (PunchValidity::Unspecified, original, String::new())
    }
}

fn require(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("{name} is missing or empty"))
    } else {
        Ok(())
    }
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|s| !s.is_empty())
}

/// Milliseconds since the epoch, if a `Timestamp` can hold them.
pub(crate) fn millis_timestamp(millis: i64) -> Option<Timestamp> {
    if !(0..=MAX_TIMESTAMP_SECONDS * 1000 + 999).contains(&millis) {
        return None;
    }
    Some(Timestamp {
        seconds: millis / 1000,
        nanos: i32::try_from(millis % 1000).ok()? * 1_000_000,
    })
}

/// The work date an instant falls on in DingTalk's calendar.
fn work_date_of(time: &Timestamp) -> Option<NaiveDate> {
    let utc = DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).ok()?)?;
    Some(utc.with_timezone(&work_date_offset()).date_naive())
}

/// `workDate` of the trigger events: `"2023-12-12"` or `"2020-11-10 00:00:00"`.
fn parse_work_date(text: &str) -> Option<NaiveDate> {
    let date = text.split_once(' ').map_or(text, |(date, _)| date);
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

fn day_of_trigger(user_id: &str, work_date: &str) -> Result<NaiveDate, String> {
    require("userId", user_id)?;
    parse_work_date(work_date)
        .ok_or_else(|| format!("workDate {work_date:?} is not a yyyy-MM-dd date"))
}

/// The days a committed delivery says must be pulled, because the push is a
/// trigger and the pull is the truth (the punch event has no on/off-duty or
/// late/early status):
/// - each punch: its employee on the work date of its check time;
/// - an approved punch correction whose corrected instant is known: that day;
/// - `attend_bossCheck_change` and `attend_user_daily_summary_refresh`: the
///   employee and `workDate` they name.
///
/// Nothing for deliveries that are not translated DingTalk ones. Each day is
/// listed once, in first-seen order.
pub fn pull_triggers(delivery: &Delivery) -> Vec<DayPull> {
    if delivery.vendor != Vendor::Dingtalk || delivery.recognition != Recognition::Translated {
        return Vec::new();
    }
    let mut pulls = Vec::new();
    let mut add = |tenant: &str, employee_id: &str, work_date: Option<NaiveDate>| {
        let Some(work_date) = work_date else { return };
        if employee_id.is_empty() {
            return;
        }
        let pull = DayPull {
            tenant: tenant.to_owned(),
            employee_id: employee_id.to_owned(),
            work_date,
        };
        if !pulls.contains(&pull) {
            pulls.push(pull);
        }
    };
    let tenant_of = |source: &Option<Source>| {
        source
            .as_ref()
            .map(|s| s.tenant.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| delivery.tenant.clone())
    };
    for fact in &delivery.facts {
        match fact {
            Fact::Punch(punch) => add(
                &tenant_of(&punch.source),
                &punch.employee_id,
                punch.check_time.as_ref().and_then(work_date_of),
            ),
            Fact::Approval(approval) if is_approved_correction(approval) => add(
                &tenant_of(&approval.source),
                &approval.employee_id,
                approval.corrected_time.as_ref().and_then(work_date_of),
            ),
            _ => {}
        }
    }
    let trigger = match delivery.event_type.as_str() {
        ATTEND_BOSS_CHECK_CHANGE => serde_json::from_str::<BossCheckChange>(&delivery.raw_json)
            .ok()
            .map(|c| (c.user_id, c.work_date)),
        ATTEND_USER_DAILY_SUMMARY_REFRESH => {
            serde_json::from_str::<DailySummaryRefresh>(&delivery.raw_json)
                .ok()
                .map(|c| (c.user_id, c.work_date))
        }
        _ => None,
    };
    if let Some((user_id, work_date)) = trigger {
        add(&delivery.tenant, &user_id, parse_work_date(&work_date));
    }
    pulls
}

/// Approved punch corrections whose corrected day is not in the event (a
/// `bpms_instance_change` for `attendance.supply` never carries it): fetch the
/// instance, read the day from its form, then pull that day. DingTalk also
/// fires a punch event for most corrections, but not for one on a holiday.
pub fn instance_pulls(delivery: &Delivery) -> Vec<InstancePull> {
    if delivery.vendor != Vendor::Dingtalk || delivery.recognition != Recognition::Translated {
        return Vec::new();
    }
    let mut pulls: Vec<InstancePull> = Vec::new();
    for fact in &delivery.facts {
        let Fact::Approval(approval) = fact else {
            continue;
        };
        if !is_approved_correction(approval)
            || approval.corrected_time.is_some()
            || approval.instance_id.is_empty()
        {
            continue;
        }
        let pull = InstancePull {
            tenant: approval
                .source
                .as_ref()
                .map(|s| s.tenant.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| delivery.tenant.clone()),
            instance_id: approval.instance_id.clone(),
            employee_id: approval.employee_id.clone(),
        };
        if !pulls.contains(&pull) {
            pulls.push(pull);
        }
    }
    pulls
}

fn is_approved_correction(approval: &Approval) -> bool {
    approval.kind == ApprovalKind::PunchCorrection as i32
        && approval.status == ApprovalStatus::Approved as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_convert_within_range_only() {
        assert_eq!(
            millis_timestamp(1_570_791_880_123),
            Some(Timestamp {
                seconds: 1_570_791_880,
                nanos: 123_000_000
            })
        );
        assert_eq!(millis_timestamp(-1), None);
        assert_eq!(millis_timestamp(MAX_TIMESTAMP_SECONDS * 1000 + 1000), None);
    }

    #[test]
    fn work_dates_are_china_standard_time() {
        // 2023-05-24T16:00:00Z is midnight of the 25th at +08:00.
        let midnight = millis_timestamp(1_684_944_000_000).unwrap();
        assert_eq!(
            work_date_of(&midnight),
            NaiveDate::from_ymd_opt(2023, 5, 25)
        );
        let just_before = millis_timestamp(1_684_943_999_999).unwrap();
        assert_eq!(
            work_date_of(&just_before),
            NaiveDate::from_ymd_opt(2023, 5, 24)
        );
    }

    #[test]
    fn trigger_work_dates_accept_both_documented_forms() {
        let day = NaiveDate::from_ymd_opt(2020, 11, 10);
        assert_eq!(parse_work_date("2020-11-10"), day);
        assert_eq!(parse_work_date("2020-11-10 00:00:00"), day);
        assert_eq!(parse_work_date("2020-11-31"), None);
        assert_eq!(parse_work_date("20201110"), None);
        assert_eq!(parse_work_date("2020-1-10"), None);
        assert_eq!(parse_work_date(""), None);
    }

    #[test]
    fn methods_and_origins_keep_unknown_values_apart() {
        assert_eq!(punch_method("MAP"), PunchMethod::Gps);
        assert_eq!(punch_method("WIFI"), PunchMethod::Wifi);
        assert_eq!(punch_method("ATM"), PunchMethod::Machine);
        assert_eq!(punch_method("BEACON"), PunchMethod::Beacon);
        assert_eq!(punch_method("OTHER"), PunchMethod::Other);
        assert_eq!(punch_method("FACE"), PunchMethod::Other);
        assert_eq!(punch_method(""), PunchMethod::Unspecified);

        let with = |source_type: &str| {
            punch_origin(&CheckRecord {
                source_type: source_type.into(),
                check_by_user: Some(false),
                ..Default::default()
            })
        };
        for (given, expected) in [
            ("USER", PunchOrigin::User),
            ("BOSS", PunchOrigin::Admin),
            ("APPROVE", PunchOrigin::Correction),
            ("SYSTEM", PunchOrigin::System),
            ("AUTO_CHECK", PunchOrigin::AutoOffDuty),
            ("ATM", PunchOrigin::Machine),
            ("DING_ATM", PunchOrigin::Machine),
            ("BEACON", PunchOrigin::User),
            ("NEW_KIND", PunchOrigin::Unspecified),
        ] {
            assert_eq!(with(given), (expected, given.to_owned()), "{given}");
        }
        let unknown = punch_origin(&CheckRecord::default());
        assert_eq!(unknown, (PunchOrigin::Unspecified, String::new()));
    }

    #[test]
    fn validity_follows_invalid_record_type_not_is_legal() {
        let check = |is_legal: &str, kind: &str, msg: &str| {
            punch_validity(&CheckRecord {
                is_legal: is_legal.into(),
                invalid_record_type: kind.into(),
                invalid_record_msg: msg.into(),
                ..Default::default()
            })
        };
        assert_eq!(
            check("N", "", ""),
            (PunchValidity::Valid, "isLegal=N".into(), String::new())
        );
        assert_eq!(
            check("Y", "", ""),
            (PunchValidity::Valid, "isLegal=Y".into(), String::new())
        );
        assert_eq!(
            check("N", "Other", "外勤打卡需要审批"),
            (
                PunchValidity::Invalid,
                "isLegal=N;invalidRecordType=Other".into(),
                "外勤打卡需要审批".into()
            )
        );
        assert_eq!(
            check("", "Security", ""),
            (
                PunchValidity::Invalid,
                "invalidRecordType=Security".into(),
                "Security".into()
            )
        );
        assert_eq!(
            check("", "", ""),
            (PunchValidity::Unspecified, String::new(), String::new())
        );
    }

    #[test]
    fn every_documented_category_has_a_kind() {
        assert_eq!(
            approval_kind_of_category("attendance.supply"),
            Some(ApprovalKind::PunchCorrection)
        );
        assert_eq!(
            approval_kind_of_category("attendance.batchovertime"),
            Some(ApprovalKind::Overtime)
        );
        assert_eq!(
            approval_kind_of_category("attendance.goout"),
            Some(ApprovalKind::GoOut)
        );
        assert_eq!(
            approval_kind_of_category("alitrip.business"),
            Some(ApprovalKind::BusinessTrip)
        );
        assert_eq!(
            approval_kind_of_category("attendance.relieve"),
            Some(ApprovalKind::ShiftSwap)
        );
        assert_eq!(
            approval_kind_of_category("open.com.dd.at.approveCheck"),
            None
        );
        assert_eq!(approval_kind_of_category(""), None);
    }
}
