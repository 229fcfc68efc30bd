//! Pure translation of a [`VerifiedEvent`] into a [`Delivery`] of unified
//! facts. No I/O and no clock: the caller passes the received time.
//!
//! A delivery always keeps the raw JSON, so a type this module does not know,
//! or a body it cannot read, is stored and reported rather than lost.

use attendance_proto::ingest::{Delivery, Fact, Recognition};
use attendance_proto::v1::{
    Channel, LocationResult, Provenance, Punch, PunchMethod, PunchOrigin, PunchRisk, PunchValidity,
    ShiftResult, ShiftStatus, Source, Supplement, Vendor, WorkDirection,
};
use attendance_proto::Timestamp;
use chrono::NaiveDate;

use crate::verify::VerifiedEvent;
use crate::wire::{
    IntOrString, StatusChange, UserFlowCreated, UserTaskUpdated, USER_FLOW_CREATED_V1,
    USER_TASK_UPDATED_V1,
};

/// The largest instant a `google.protobuf.Timestamp` may hold (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

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
            revision: 0,
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
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
            revision: 0,
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
        })
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

fn punch_origin(kind: i64) -> PunchOrigin {
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

fn shift_status(status: &str) -> ShiftStatus {
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

fn supplement(supplement: &str) -> Supplement {
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
