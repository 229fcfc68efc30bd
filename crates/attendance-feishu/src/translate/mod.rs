//! Pure translation of a [`VerifiedEvent`] into a [`Delivery`] of unified
//! facts: punches, shift results and approvals. No I/O and no clock: the
//! caller passes the received time.
//!
//! A delivery always keeps the raw JSON, so a type this module does not know,
//! or a body it cannot read, is stored and reported rather than lost.
//!
//! `mod.rs` holds the entry point and the attendance events (punch flows and
//! check results); `approval.rs` the approval events; `time.rs` how
//! Feishu's times, dates and intervals are read. Vendor values become model
//! values in [`crate::mapping`].

mod approval;
pub(crate) mod time;

use attendance_adapter_kit::translation::{recognized, require};
use attendance_proto::ingest::{Delivery, Fact, Job};
use attendance_proto::v1::{
    Channel, Provenance, Punch, PunchOrigin, PunchRisk, PunchValidity, ShiftResult, Source, Vendor,
};
use attendance_proto::Timestamp;
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

pub use crate::app::Recipient;
use crate::jobs::DayPull;
use crate::mapping;
use crate::pull::RevertedInstance;
use crate::verify::VerifiedEvent;
use crate::wire::{
    Envelope, StatusChange, UserFlowCreated, UserTaskUpdated, LEAVE_APPROVAL_REVERT,
    LEAVE_APPROVAL_V2, OUT_APPROVAL, OUT_APPROVAL_REVERT, REMEDY_APPROVAL, REMEDY_GROUP_UPDATE_V4,
    SHIFT_APPROVAL, TRIP_APPROVAL, USER_FLOW_CREATED_V1, USER_TASK_UPDATED_V1, WORK_APPROVAL,
    WORK_APPROVAL_REVERT,
};
use time::{
    fractional_seconds_timestamp, millis_timestamp, optional_int, seconds_timestamp, work_date,
};

/// Translates one verified event received through `channel` for the app
/// `recipient`.
pub fn translate(
    event: &VerifiedEvent,
    recipient: Recipient<'_>,
    channel: Channel,
    received_time: Timestamp,
) -> Delivery {
    let context = Context {
        event,
        app: recipient.app,
        zone: recipient.zone,
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
        LEAVE_APPROVAL_REVERT | WORK_APPROVAL_REVERT | OUT_APPROVAL_REVERT => {
            Some(context.approval_revert())
        }
        REMEDY_GROUP_UPDATE_V4 => Some(context.remedy_group_update()),
        // Feishu sends this twin of every leave_approvalV2: known, and
        // deliberately carrying nothing, so one leave is one revision.
        "leave_approval" => Some(Ok(Vec::new())),
        _ => None,
    };
    let (recognition, facts) = recognized(translated);
    let jobs = if recipient.pulls {
        let mut jobs = context.pulls_called_for();
        jobs.extend(context.instances_to_read(&facts));
        jobs
    } else {
        Vec::new()
    };
    Delivery {
        vendor: Vendor::Feishu,
        app: recipient.app.to_owned(),
        tenant: event.tenant().to_owned(),
        channel,
        event_id: event.event_id().to_owned(),
        event_type: event.event_type().to_owned(),
        raw_json: event.json().to_owned(),
        recognition,
        facts,
        jobs,
    }
}

struct Context<'a> {
    event: &'a VerifiedEvent,
    app: &'a str,
    zone: Tz,
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
        let flow = UserFlowCreated::deserialize(self.event.event())
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

        let method = mapping::punch_method(flow.is_wifi, kind);
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
            origin: kind.map_or(PunchOrigin::Unspecified, mapping::punch_origin) as i32,
            origin_original: kind.map(|n| n.to_string()).unwrap_or_default(),
            risk: risk.map_or(PunchRisk::Unspecified, mapping::punch_risk) as i32,
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

    /// The pulls this event calls for, committed with it as jobs: a
    /// `user_task.updated_v1` without `status_changes` says a day changed
    /// but not how (the doc's field is a list that may be empty, and the GO
    /// SDK's `StatusChanges` is optional), so the employee's day is pulled
    /// from `user_tasks/query` and `user_flows/query` and the facts resolved
    /// from what Feishu says there.
    fn pulls_called_for(&self) -> Vec<Job> {
        if self.event.event_type() != USER_TASK_UPDATED_V1 {
            return Vec::new();
        }
        let Ok(task) = serde_json::from_value::<UserTaskUpdated>(self.event.event().clone()) else {
            return Vec::new();
        };
        let work_date = task
            .date
            .as_ref()
            .and_then(work_date)
            .and_then(|date| NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok());
        match work_date {
            Some(work_date) if task.status_changes.is_empty() && !task.employee_id.is_empty() => {
                vec![DayPull {
                    tenant: self.event.tenant().to_owned(),
                    employee_id: task.employee_id,
                    work_date,
                }
                .job(self.app)]
            }
            _ => Vec::new(),
        }
    }

    /// A revert names neither employee nor span: its instance is read
    /// ([`crate::jobs`]) so that a revert whose approval was never pushed
    /// still becomes that approval, and one that arrives before its
    /// approval's push stays ahead of it.
    fn instances_to_read(&self, facts: &[Fact]) -> Vec<Job> {
        facts
            .iter()
            .filter_map(|fact| match fact {
                Fact::Approval(approval) => RevertedInstance::of(self.event.tenant(), approval),
                _ => None,
            })
            .map(|revert| revert.job(self.app))
            .collect()
    }

    fn user_task_updated(&self) -> Result<Vec<Fact>, String> {
        let task = UserTaskUpdated::deserialize(self.event.event())
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
        let direction = mapping::work_direction(&change.work_type);
        let (location_result, location_result_original) =
            mapping::location_result(&change.current_supplement);
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
            status: mapping::shift_status(&change.current_status) as i32,
            status_original: change.current_status.clone(),
            supplement: mapping::supplement(&change.current_supplement) as i32,
            supplement_original: change.current_supplement.clone(),
            location_result: location_result as i32,
            location_result_original,
            scheduled_time: None,
            actual_time: None,
            punch_record_id: String::new(),
            approval_id: String::new(),
            previous_status: mapping::shift_status(&change.before_status) as i32,
            previous_status_original: change.before_status.clone(),
            previous_supplement: mapping::supplement(&change.before_supplement) as i32,
            previous_supplement_original: change.before_supplement.clone(),
            provenance: Some(self.provenance()),
            raw_json: self.event.json().to_owned(),
            ..ShiftResult::default()
        })
    }
}
