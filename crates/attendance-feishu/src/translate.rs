//! Pure translation of a [`VerifiedEvent`] into a [`Delivery`] of unified
//! facts: punches, shift results and approvals. No I/O and no clock: the
//! caller passes the received time.
//!
//! A delivery always keeps the raw JSON, so a type this module does not know,
//! or a body it cannot read, is stored and reported rather than lost.

use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Approval, ApprovalKind, ApprovalStatus, Channel, DurationUnit, LocationResult, Provenance,
    Punch, PunchMethod, PunchOrigin, PunchRisk, PunchValidity, ShiftResult, ShiftStatus, Source,
    Supplement, Vendor, WorkDirection,
};
use attendance_proto::Timestamp;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde::de::DeserializeOwned;

use crate::verify::VerifiedEvent;
use crate::wire::{
    ApprovalRevert, Envelope, IntOrString, LeaveApprovalV2, OutApproval, RemedyApproval,
    RemedyGroupUpdate, ShiftApproval, StatusChange, TripApproval, UserFlowCreated, UserTaskUpdated,
    WorkApproval, LEAVE_APPROVAL_REVERT, LEAVE_APPROVAL_V2, OUT_APPROVAL, OUT_APPROVAL_REVERT,
    REMEDY_APPROVAL, REMEDY_GROUP_UPDATE_V4, SHIFT_APPROVAL, TRIP_APPROVAL, USER_FLOW_CREATED_V1,
    USER_TASK_UPDATED_V1, WORK_APPROVAL, WORK_APPROVAL_REVERT,
};

/// The largest instant a `google.protobuf.Timestamp` may hold (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// The zone of the wall-clock times in approval events ("2006-01-02
/// 15:04:05"). The events name no zone; Feishu shows and stores them in the
/// tenant's zone, which for the tenants this hub serves is China Standard
/// Time, Asia/Shanghai: UTC+8 with no daylight saving since 1991, so a fixed
/// offset is exact for every date an approval can carry. A time that carries
/// its own offset (RFC 3339) keeps it.
const TENANT_UTC_OFFSET_SECONDS: i32 = 8 * 3600;

/// An epoch number at least this large is milliseconds, not seconds: as
/// seconds it would be past the year 5000, as milliseconds it is after 1973.
/// The remedy 2.0 doc says milliseconds while its example shows seconds.
const MIN_EPOCH_MILLIS: i64 = 100_000_000_000;

/// Translates one verified event received through `channel` for the app
/// configured as `app`.
pub fn translate(
    event: &VerifiedEvent,
    app: &str,
    channel: Channel,
    received_time: Timestamp,
) -> Delivery {
    let context = Context {
        event,
        app,
        channel,
        received_time,
    };
    let translated = match event.event_type() {
        USER_FLOW_CREATED_V1 => Some(context.user_flow_created()),
        USER_TASK_UPDATED_V1 => Some(context.user_task_updated()),
        LEAVE_APPROVAL_V2 => Some(context.leave_approval()),
        WORK_APPROVAL => Some(context.work_approval()),
        REMEDY_APPROVAL => Some(context.remedy_approval()),
        TRIP_APPROVAL => Some(context.trip_approval()),
        OUT_APPROVAL => Some(context.out_approval()),
        SHIFT_APPROVAL => Some(context.shift_approval()),
        LEAVE_APPROVAL_REVERT => Some(context.approval_revert(ApprovalKind::Leave)),
        WORK_APPROVAL_REVERT => Some(context.approval_revert(ApprovalKind::Overtime)),
        OUT_APPROVAL_REVERT => Some(context.approval_revert(ApprovalKind::GoOut)),
        REMEDY_GROUP_UPDATE_V4 => Some(context.remedy_group_update()),
        // Feishu sends this twin of every leave_approvalV2: known, and
        // deliberately carrying nothing, so one leave is one revision.
        "leave_approval" => Some(Ok(Vec::new())),
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
        vendor: Vendor::Feishu,
        app: app.to_owned(),
        tenant: event.tenant().to_owned(),
        channel,
        event_id: event.event_id().to_owned(),
        event_type: event.event_type().to_owned(),
        raw_json: event.json().to_owned(),
        recognition,
        facts,
        jobs: Vec::new(),
    }
}

struct Context<'a> {
    event: &'a VerifiedEvent,
    app: &'a str,
    channel: Channel,
    received_time: Timestamp,
}

impl Context<'_> {
    fn source(&self) -> Source {
        Source {
            vendor: Vendor::Feishu as i32,
            app: self.app.to_owned(),
            app_id: self.event.app_id().to_owned(),
            tenant: self.event.tenant().to_owned(),
        }
    }

    fn provenance(&self) -> Provenance {
        Provenance {
            channel: self.channel as i32,
            event_id: self.event.event_id().to_owned(),
            event_type: self.event.event_type().to_owned(),
            received_time: Some(self.received_time),
            vendor_create_time: self.event.create_time().and_then(millis_timestamp),
            version_time: self.version_time(),
            stated_fields: Vec::new(),
        }
    }

    /// The event's own time orders its facts against other versions of
    /// them: `header.create_time` (2.0), else the envelope's `ts` (1.0). A
    /// redelivery keeps the time of its original, so a retried approval
    /// never overrides its later revert.
    fn version_time(&self) -> Option<Timestamp> {
        match self.event.envelope() {
            Envelope::V1 { ts: Some(ts), .. } => fractional_seconds_timestamp(ts),
            _ => self.event.create_time().and_then(millis_timestamp),
        }
    }

    fn user_flow_created(&self) -> Result<Vec<Fact>, String> {
        let flow: UserFlowCreated = serde_json::from_value(self.event.event().clone())
            .map_err(|error| format!("event body: {error}"))?;
        require("record_id", &flow.record_id)?;
        require("employee_id", &flow.employee_id)?;
        let check_time = flow.check_time.as_ref().ok_or("check_time is missing")?;
        let check_time = seconds_timestamp(check_time).ok_or_else(|| {
            format!(
                "check_time {:?} is not a seconds timestamp",
                check_time.original()
            )
        })?;
        let kind = optional_int("type", flow.kind.as_ref())?;
        let risk = optional_int("risk_result", flow.risk_result.as_ref())?;

        let method = if flow.is_wifi {
            PunchMethod::Wifi
        } else if kind == Some(5) {
            PunchMethod::Machine
        } else {
            PunchMethod::Gps
        };
        let punch = Punch {
            source: Some(self.source()),
            business_key: flow.record_id.clone(),
            employee_id: flow.employee_id,
            employee_no: flow.employee_no,
            check_time: Some(check_time),
            location: Some(attendance_proto::v1::Location {
                name: flow.location_name,
                latitude: flow.latitude,
                longitude: flow.longitude,
                accuracy: None,
            }),
            wifi: Some(attendance_proto::v1::Wifi {
                ssid: flow.ssid,
                bssid: flow.bssid,
            }),
            // Pushed flows carry no device; the pull API's device_id fills it.
            device: None,
            method: method as i32,
            method_original: format!("is_wifi={}", flow.is_wifi),
            field_punch: flow.is_field,
            origin: kind.map_or(PunchOrigin::Unspecified, punch_origin) as i32,
            origin_original: kind.map(|n| n.to_string()).unwrap_or_default(),
            risk: risk.map_or(PunchRisk::Unspecified, punch_risk) as i32,
            risk_original: risk.map(|n| n.to_string()).unwrap_or_default(),
            // Feishu pushes a flow only once the punch succeeded.
            validity: PunchValidity::Valid as i32,
            validity_original: String::new(),
            invalid_reason: String::new(),
            comment: flow.comment,
            photo_urls: flow.photo_urls,
            record_id: flow.record_id,
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
            ..Punch::default()
        };
        Ok(vec![Fact::Punch(punch)])
    }

    fn user_task_updated(&self) -> Result<Vec<Fact>, String> {
        let task: UserTaskUpdated = serde_json::from_value(self.event.event().clone())
            .map_err(|error| format!("event body: {error}"))?;
        require("employee_id", &task.employee_id)?;
        let date = task.date.as_ref().ok_or("date is missing")?;
        let work_date = work_date(date)
            .ok_or_else(|| format!("date {:?} is not a yyyyMMdd calendar date", date.original()))?;
        task.status_changes
            .iter()
            .enumerate()
            .map(|(position, change)| {
                self.shift_result(&task, &work_date, change)
                    .map(Fact::ShiftResult)
                    .map_err(|reason| format!("status_changes[{position}]: {reason}"))
            })
            .collect()
    }

    fn shift_result(
        &self,
        task: &UserTaskUpdated,
        work_date: &str,
        change: &StatusChange,
    ) -> Result<ShiftResult, String> {
        let index = change.index.as_ref().ok_or("index is missing")?;
        let index = index
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| format!("index {:?} is not a 32-bit integer", index.original()))?;
        require("work_type", &change.work_type)?;
        let direction = match change.work_type.as_str() {
            "on" => WorkDirection::OnDuty,
            "off" => WorkDirection::OffDuty,
            _ => WorkDirection::Unspecified,
        };
        let field_punch = change.current_supplement == "FieldPunch";
        Ok(ShiftResult {
            source: Some(self.source()),
            business_key: format!(
                "{}/{}/{}/{}",
                task.employee_id, work_date, index, change.work_type
            ),
            employee_id: task.employee_id.clone(),
            employee_no: task.employee_no.clone(),
            work_date: work_date.to_owned(),
            time_zone: task.time_zone.clone(),
            group_id: task.group_id.clone(),
            shift_id: task.shift_id.clone(),
            task_id: task.task_id.clone(),
            index,
            direction: direction as i32,
            direction_original: change.work_type.clone(),
            status: shift_status(&change.current_status) as i32,
            status_original: change.current_status.clone(),
            supplement: supplement(&change.current_supplement) as i32,
            supplement_original: change.current_supplement.clone(),
            // The event's only location signal is a field-punch supplement;
            // its absence does not prove the punch was inside the area.
            location_result: if field_punch {
                LocationResult::Outside
            } else {
                LocationResult::Unspecified
            } as i32,
            location_result_original: if field_punch {
                change.current_supplement.clone()
            } else {
                String::new()
            },
            scheduled_time: None,
            actual_time: None,
            punch_record_id: String::new(),
            approval_id: String::new(),
            previous_status: shift_status(&change.before_status) as i32,
            previous_status_original: change.before_status.clone(),
            previous_supplement: supplement(&change.before_supplement) as i32,
            previous_supplement_original: change.before_supplement.clone(),
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
            ..ShiftResult::default()
        })
    }
}

// Approvals. Every approval event becomes one `Approval` keyed
// `"{kind}/{instance_code}"`, so that a revert (and the 2.0 form of a punch
// correction) lands on the same business key as the approval it changes and
// becomes its next revision.
impl Context<'_> {
    /// The event body as the mirror `T`.
    fn body<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.event.event().clone())
            .map_err(|error| format!("event body: {error}"))
    }

    /// The fields every approval shares, with the status left to the caller.
    fn approval(&self, kind: ApprovalKind, instance_code: &str) -> Result<Approval, String> {
        require("instance_code", instance_code)?;
        Ok(Approval {
            source: Some(self.source()),
            business_key: format!("{}/{}", kind_key(kind), instance_code),
            kind: kind as i32,
            kind_original: self.event.event_type().to_owned(),
            instance_id: instance_code.to_owned(),
            revision: 0,
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
            ..Approval::default()
        })
    }

    /// The fields of a schema 1.0 approval event, which Feishu pushes only
    /// once the instance is approved. No field says so: the event type is
    /// the vendor's statement of the status and is kept as its original.
    fn approved(
        &self,
        kind: ApprovalKind,
        instance_code: &str,
        employees: [&str; 3],
    ) -> Result<Approval, String> {
        let mut approval = self.approval(kind, instance_code)?;
        approval.employee_id = employee(employees)?;
        approval.status = ApprovalStatus::Approved as i32;
        approval.status_original = self.event.event_type().to_owned();
        Ok(approval)
    }

    fn leave_approval(&self) -> Result<Vec<Fact>, String> {
        let leave: LeaveApprovalV2 = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::Leave,
            &leave.instance_code,
            [&leave.employee_id, &leave.user_id, &leave.open_id],
        )?;
        approval.start_time = instant("leave_start_time", leave.leave_start_time.as_ref())?;
        approval.end_time = instant("leave_end_time", leave.leave_end_time.as_ref())?;
        set_duration(
            &mut approval,
            "leave_interval",
            leave.leave_interval.as_ref(),
            leave.leave_unit.as_ref(),
        )?;
        // As given: usually an `@i18n@…` key whose display text, per
        // locale, is in i18n_resources, which the raw JSON keeps.
        approval.leave_type = if leave.leave_name.is_empty() {
            leave.leave_type
        } else {
            leave.leave_name
        };
        approval.reason = leave.leave_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    fn work_approval(&self) -> Result<Vec<Fact>, String> {
        let work: WorkApproval = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::Overtime,
            &work.instance_code,
            [&work.employee_id, &work.user_id, &work.open_id],
        )?;
        approval.start_time = instant("work_start_time", work.work_start_time.as_ref())?;
        approval.end_time = instant("work_end_time", work.work_end_time.as_ref())?;
        // Several time ranges: the top-level pair is documented as present
        // too; should it be missing, the ranges' overall span stands in.
        for (position, range) in work.time_range.iter().enumerate() {
            let at = |reason: String| format!("time_range[{position}]: {reason}");
            let start = instant("work_start_time", range.work_start_time.as_ref()).map_err(at)?;
            let end = instant("work_end_time", range.work_end_time.as_ref()).map_err(at)?;
            if work.work_start_time.is_none() {
                approval.start_time = earliest(approval.start_time, start);
            }
            if work.work_end_time.is_none() {
                approval.end_time = latest(approval.end_time, end);
            }
        }
        set_duration(
            &mut approval,
            "work_interval",
            work.work_interval.as_ref(),
            None,
        )?;
        approval.reason = work.work_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    fn remedy_approval(&self) -> Result<Vec<Fact>, String> {
        let remedy: RemedyApproval = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::PunchCorrection,
            &remedy.instance_code,
            [&remedy.employee_id, &remedy.user_id, &remedy.open_id],
        )?;
        approval.corrected_time = instant("remedy_time", remedy.remedy_time.as_ref())?;
        approval.reason = remedy.remedy_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    fn trip_approval(&self) -> Result<Vec<Fact>, String> {
        let trip: TripApproval = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::BusinessTrip,
            &trip.instance_code,
            [&trip.employee_id, &trip.user_id, &trip.open_id],
        )?;
        // The trip spans its legs: the earliest start to the latest end.
        let mut legs_seconds: Option<i64> = None;
        for (position, leg) in trip.schedules.iter().enumerate() {
            let at = |reason: String| format!("schedules[{position}]: {reason}");
            let start = instant("trip_start_time", leg.trip_start_time.as_ref()).map_err(at)?;
            let end = instant("trip_end_time", leg.trip_end_time.as_ref()).map_err(at)?;
            approval.start_time = earliest(approval.start_time, start);
            approval.end_time = latest(approval.end_time, end);
            if let Some(seconds) =
                seconds("trip_interval", leg.trip_interval.as_ref()).map_err(at)?
            {
                legs_seconds = Some(legs_seconds.unwrap_or(0).saturating_add(seconds));
            }
        }
        // The total, or should it be missing the sum of the legs.
        let total = match &trip.trip_interval {
            Some(total) => Some(total.clone()),
            None => legs_seconds.map(IntOrString::Int),
        };
        set_duration(&mut approval, "trip_interval", total.as_ref(), None)?;
        approval.reason = trip.trip_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    fn out_approval(&self) -> Result<Vec<Fact>, String> {
        let out: OutApproval = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::GoOut,
            &out.instance_code,
            [&out.employee_id, &out.user_id, &out.open_id],
        )?;
        approval.start_time = instant("out_start_time", out.out_start_time.as_ref())?;
        approval.end_time = instant("out_end_time", out.out_end_time.as_ref())?;
        set_duration(
            &mut approval,
            "out_interval",
            out.out_interval.as_ref(),
            out.out_unit.as_ref(),
        )?;
        approval.reason = out.out_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    fn shift_approval(&self) -> Result<Vec<Fact>, String> {
        let shift: ShiftApproval = self.body()?;
        let mut approval = self.approved(
            ApprovalKind::ShiftSwap,
            &shift.instance_code,
            [&shift.employee_id, &shift.user_id, &shift.open_id],
        )?;
        // The swap is worked at shift_time and given back at return_time; a
        // swap has no duration of its own.
        approval.start_time = instant("shift_time", shift.shift_time.as_ref())?;
        approval.end_time = instant("return_time", shift.return_time.as_ref())?;
        approval.reason = shift.shift_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    /// A revoked approval (通过并撤销). The event carries only the instance
    /// and the time of the revocation, so the new revision names no
    /// employee, span or duration: those stay on the approved revision.
    fn approval_revert(&self, kind: ApprovalKind) -> Result<Vec<Fact>, String> {
        let revert: ApprovalRevert = self.body()?;
        let mut approval = self.approval(kind, &revert.instance_code)?;
        // Checked so that a garbled revert is reported, though no field of
        // the model holds it (the raw JSON does).
        instant("operate_time", revert.operate_time.as_ref())?;
        approval.status = ApprovalStatus::Withdrawn as i32;
        approval.status_original = if revert.status.is_empty() {
            self.event.event_type().to_owned()
        } else {
            revert.status
        };
        Ok(vec![Fact::Approval(approval)])
    }

    /// `approval.instance.remedy_group_update_v4`: the 2.0 form of a punch
    /// correction, with an explicit status.
    fn remedy_group_update(&self) -> Result<Vec<Fact>, String> {
        let update: RemedyGroupUpdate = self.body()?;
        let remedy = update.object.ok_or("event.object is missing")?;
        let mut approval = self.approval(ApprovalKind::PunchCorrection, &remedy.instance_code)?;
        approval.employee_id = employee([&remedy.employee_id, "", ""])?;
        approval.status = approval_status(&remedy.status) as i32;
        approval.status_original = remedy.status;
        approval.corrected_time = instant("remedy_time", remedy.remedy_time.as_ref())?;
        approval.reason = remedy.remedy_reason;
        Ok(vec![Fact::Approval(approval)])
    }
}

/// The business key's first segment: one per kind, shared by an approval
/// event, its revert and its 2.0 form.
fn kind_key(kind: ApprovalKind) -> &'static str {
    match kind {
        ApprovalKind::Leave => "leave",
        ApprovalKind::Overtime => "overtime",
        ApprovalKind::BusinessTrip => "business_trip",
        ApprovalKind::GoOut => "go_out",
        ApprovalKind::PunchCorrection => "punch_correction",
        ApprovalKind::ShiftSwap => "shift_swap",
        ApprovalKind::Unspecified => "approval",
    }
}

/// The first id present of (employee_id, user_id, open_id). employee_id and
/// user_id are the same id space; open_id, the last resort, is per app.
fn employee(candidates: [&str; 3]) -> Result<String, String> {
    candidates
        .into_iter()
        .find(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "employee_id, user_id and open_id are all missing or empty".to_owned())
}

/// Approval instance states as Feishu's approval API names them.
fn approval_status(status: &str) -> ApprovalStatus {
    match status {
        "PENDING" => ApprovalStatus::Pending,
        "APPROVED" => ApprovalStatus::Approved,
        "REJECTED" => ApprovalStatus::Rejected,
        // Cancelled by the submitter before a decision, or revoked after
        // approval (通过并撤销): either way the submitter took it back.
        "CANCELED" | "CANCELLED" | "REVERTED" => ApprovalStatus::Withdrawn,
        "DELETED" => ApprovalStatus::Deleted,
        _ => ApprovalStatus::Unspecified,
    }
}

/// Sets the duration from an interval in seconds and the vendor's unit.
///
/// Feishu always sends the interval in seconds. For day units it counts a
/// day as 86 400 s whatever the working hours (the leave doc example: half a
/// day plus a day is 129 600), so a day-unit interval is converted back to
/// days or half days; every other unit, or none, gives hours.
fn set_duration(
    approval: &mut Approval,
    name: &str,
    interval: Option<&IntOrString>,
    unit: Option<&IntOrString>,
) -> Result<(), String> {
    approval.duration_unit_original = unit.map(IntOrString::original).unwrap_or_default();
    let Some(seconds) = seconds(name, interval)? else {
        return Ok(());
    };
    let (unit, seconds_per_unit) = match unit {
        Some(unit) => duration_unit(unit),
        None => (DurationUnit::Hours, 3600.0),
    };
    approval.duration_unit = unit as i32;
    // Exact for any realistic interval: both operands are far below 2^53.
    approval.duration = seconds as f64 / seconds_per_unit;
    Ok(())
}

/// `leave_unit` / `out_unit`: names, or the legacy numbers (1 day, 2 half
/// day, 3 hour, 4 half hour, 5 minute). Only days and half days change the
/// unit; sub-hour units are reported in hours.
fn duration_unit(unit: &IntOrString) -> (DurationUnit, f64) {
    let name = match unit {
        IntOrString::Int(1) => "DAY".to_owned(),
        IntOrString::Int(2) => "HALF_DAY".to_owned(),
        IntOrString::Int(_) => String::new(),
        IntOrString::String(text) => match text.trim() {
            "1" => "DAY".to_owned(),
            "2" => "HALF_DAY".to_owned(),
            other => other.to_ascii_uppercase(),
        },
    };
    match name.as_str() {
        "DAY" => (DurationUnit::Days, 86_400.0),
        // The out-of-office doc table spells it HALR_DAY.
        "HALF_DAY" | "HALR_DAY" => (DurationUnit::HalfDays, 43_200.0),
        _ => (DurationUnit::Hours, 3600.0),
    }
}

/// A non-negative whole number of seconds, if present.
fn seconds(name: &str, value: Option<&IntOrString>) -> Result<Option<i64>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    if matches!(value, IntOrString::String(text) if text.trim().is_empty()) {
        return Ok(None);
    }
    match value.as_i64() {
        Some(n) if n >= 0 => Ok(Some(n)),
        _ => Err(format!(
            "{name} {:?} is not a number of seconds",
            value.original()
        )),
    }
}

/// An approval time: wall-clock text in the tenant's zone (see
/// [`TENANT_UTC_OFFSET_SECONDS`]), RFC 3339 text with its own offset, or an
/// epoch number (seconds, or milliseconds when that large), which is UTC.
/// Absent, empty and `0` (Feishu's "unset") read as no time.
fn instant(name: &str, value: Option<&IntOrString>) -> Result<Option<Timestamp>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let unreadable = || format!("{name} {:?} is not a time", value.original());
    if let Some(epoch) = value.as_i64() {
        return match epoch {
            0 => Ok(None),
            n if n < 0 => Err(unreadable()),
            n if n >= MIN_EPOCH_MILLIS => millis_timestamp(&n.to_string())
                .map(Some)
                .ok_or_else(unreadable),
            n => seconds_timestamp(&IntOrString::Int(n))
                .map(Some)
                .ok_or_else(unreadable),
        };
    }
    let IntOrString::String(text) = value else {
        return Err(unreadable());
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let at = wall_clock(text).ok_or_else(unreadable)?;
    let seconds = at.timestamp();
    if !(0..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(unreadable());
    }
    Ok(Some(Timestamp { seconds, nanos: 0 }))
}

fn wall_clock(text: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    let tenant = FixedOffset::east_opt(TENANT_UTC_OFFSET_SECONDS)?;
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })?;
    tenant.from_local_datetime(&naive).single()
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seconds < a.seconds { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.seconds > a.seconds { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn require(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("{name} is missing or empty"))
    } else {
        Ok(())
    }
}

fn optional_int(name: &str, value: Option<&IntOrString>) -> Result<Option<i64>, String> {
    value
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| format!("{name} {:?} is not an integer", v.original()))
        })
        .transpose()
}

fn seconds_timestamp(value: &IntOrString) -> Option<Timestamp> {
    let seconds = value.as_i64()?;
    (0..=MAX_TIMESTAMP_SECONDS)
        .contains(&seconds)
        .then_some(Timestamp { seconds, nanos: 0 })
}

/// `header.create_time` is milliseconds as a string; anything else (the GO
/// SDK's test vector sends microseconds) is dropped rather than misread.
fn millis_timestamp(text: &str) -> Option<Timestamp> {
    let millis = IntOrString::String(text.to_owned()).as_i64()?;
    if !(0..=MAX_TIMESTAMP_SECONDS * 1000 + 999).contains(&millis) {
        return None;
    }
    Some(Timestamp {
        seconds: millis / 1000,
        nanos: i32::try_from(millis % 1000).ok()? * 1_000_000,
    })
}

/// The 1.0 envelope's `ts`: seconds, possibly with a fraction ("1502199207.7171419").
fn fractional_seconds_timestamp(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let seconds: i64 = whole.parse().ok()?;
    if !(0..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return None;
    }
    let digits: String = fraction.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timestamp { seconds, nanos })
}

/// `20210310` → `"2021-03-10"`, only for dates that exist.
fn work_date(value: &IntOrString) -> Option<String> {
    let n = value.as_i64()?;
    if !(10_000_101..=99_991_231).contains(&n) {
        return None;
    }
    let year = i32::try_from(n / 10_000).ok()?;
    let month = u32::try_from(n / 100 % 100).ok()?;
    let day = u32::try_from(n % 100).ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(date.format("%Y-%m-%d").to_string())
}

pub(crate) fn punch_origin(kind: i64) -> PunchOrigin {
    match kind {
        0 => PunchOrigin::User,
        1 => PunchOrigin::Admin,
        2 => PunchOrigin::Correction,
        3 => PunchOrigin::System,
        4 => PunchOrigin::AutoOffDuty,
        5 => PunchOrigin::Machine,
        6 => PunchOrigin::Quick,
        7 => PunchOrigin::Import,
        _ => PunchOrigin::Unspecified,
    }
}

fn punch_risk(risk: i64) -> PunchRisk {
    match risk {
        0 => PunchRisk::None,
        1 => PunchRisk::CheatingApp,
        2 => PunchRisk::OtherPersonsDevice,
        3 => PunchRisk::SharedDevice,
        _ => PunchRisk::Unspecified,
    }
}

pub(crate) fn shift_status(status: &str) -> ShiftStatus {
    match status {
        "NoNeedCheck" => ShiftStatus::NoNeedCheck,
        "SystemCheck" => ShiftStatus::SystemCheck,
        "Normal" => ShiftStatus::Normal,
        "Early" => ShiftStatus::Early,
        "Late" => ShiftStatus::Late,
        "Lack" => ShiftStatus::Missing,
        "Todo" => ShiftStatus::Todo,
        _ => ShiftStatus::Unspecified,
    }
}

pub(crate) fn supplement(supplement: &str) -> Supplement {
    match supplement {
        "None" => Supplement::None,
        "ManagerModification" => Supplement::ManagerModification,
        "CardReplacement" => Supplement::CardReplacement,
        "ShiftChange" => Supplement::ShiftChange,
        "Travel" => Supplement::Travel,
        "Leave" => Supplement::Leave,
        "GoOut" => Supplement::GoOut,
        "CardReplacementApplication" => Supplement::CardReplacementApplication,
        "FieldPunch" => Supplement::FieldPunch,
        _ => Supplement::Unspecified,
    }
}
