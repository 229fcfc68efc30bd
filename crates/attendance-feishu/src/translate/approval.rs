//! The approval events: every one becomes one `Approval` keyed
//! `"{kind}/{instance_code}"`, so that a revert (and the 2.0 form of a punch
//! correction) lands on the same business key as the approval it changes and
//! becomes its next revision. An approved event also carries the matching
//! key of its span ([`crate::keys`]), which its pulled twin carries too.

use attendance_adapter_kit::translation::require;
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Approval, ApprovalStatus};
use serde::de::DeserializeOwned;

use super::time::{earliest, instant, latest, seconds};
use super::Context;
use crate::wire::{
    ApprovalRevert, IntOrString, LeaveApprovalV2, OutApproval, RemedyApproval, RemedyGroupUpdate,
    ShiftApproval, TripApproval, WorkApproval,
};
use crate::{keys, mapping};

impl Context<'_> {
    /// The event body as the mirror `T`.
    fn body<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(self.event.event()).map_err(|error| format!("event body: {error}"))
    }

    /// The fields every approval shares, with the status left to the caller.
    /// The event type says the kind.
    fn approval(&self, instance_code: &str) -> Result<Approval, String> {
        require("instance_code", instance_code)?;
        let kind = mapping::approval_kind(self.event.event_type());
        Ok(Approval {
            source: Some(self.source()),
            business_key: keys::business_key(kind, instance_code),
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
    fn approved(&self, instance_code: &str, employees: [&str; 3]) -> Result<Approval, String> {
        let mut approval = self.approval(instance_code)?;
        approval.employee_id = employee(employees)?;
        approval.status = ApprovalStatus::Approved as i32;
        approval.status_original = self.event.event_type().to_owned();
        Ok(approval)
    }

    pub(super) fn leave_approval(&self) -> Result<Vec<Fact>, String> {
        let leave: LeaveApprovalV2 = self.body()?;
        let mut approval = self.approved(
            &leave.instance_code,
            [&leave.employee_id, &leave.user_id, &leave.open_id],
        )?;
        approval.start_time = instant(
            self.zone,
            "leave_start_time",
            leave.leave_start_time.as_ref(),
        )?;
        approval.end_time = instant(self.zone, "leave_end_time", leave.leave_end_time.as_ref())?;
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
        Ok(vec![spanned(approval)])
    }

    pub(super) fn work_approval(&self) -> Result<Vec<Fact>, String> {
        let work: WorkApproval = self.body()?;
        let mut approval = self.approved(
            &work.instance_code,
            [&work.employee_id, &work.user_id, &work.open_id],
        )?;
        approval.start_time = instant(self.zone, "work_start_time", work.work_start_time.as_ref())?;
        approval.end_time = instant(self.zone, "work_end_time", work.work_end_time.as_ref())?;
        // Several time ranges: the top-level pair is documented as present
        // too; should it be missing, the ranges' overall span stands in.
        for (position, range) in work.time_range.iter().enumerate() {
            let at = |reason: String| format!("time_range[{position}]: {reason}");
            let start = instant(self.zone, "work_start_time", range.work_start_time.as_ref())
                .map_err(at)?;
            let end =
                instant(self.zone, "work_end_time", range.work_end_time.as_ref()).map_err(at)?;
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
        Ok(vec![spanned(approval)])
    }

    pub(super) fn remedy_approval(&self) -> Result<Vec<Fact>, String> {
        let remedy: RemedyApproval = self.body()?;
        let mut approval = self.approved(
            &remedy.instance_code,
            [&remedy.employee_id, &remedy.user_id, &remedy.open_id],
        )?;
        approval.corrected_time = instant(self.zone, "remedy_time", remedy.remedy_time.as_ref())?;
        approval.reason = remedy.remedy_reason;
        Ok(vec![spanned(approval)])
    }

    pub(super) fn trip_approval(&self) -> Result<Vec<Fact>, String> {
        let trip: TripApproval = self.body()?;
        let mut approval = self.approved(
            &trip.instance_code,
            [&trip.employee_id, &trip.user_id, &trip.open_id],
        )?;
        // The trip spans its legs: the earliest start to the latest end.
        let mut legs_seconds: Option<i64> = None;
        for (position, leg) in trip.schedules.iter().enumerate() {
            let at = |reason: String| format!("schedules[{position}]: {reason}");
            let start =
                instant(self.zone, "trip_start_time", leg.trip_start_time.as_ref()).map_err(at)?;
            let end =
                instant(self.zone, "trip_end_time", leg.trip_end_time.as_ref()).map_err(at)?;
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
        Ok(vec![spanned(approval)])
    }

    pub(super) fn out_approval(&self) -> Result<Vec<Fact>, String> {
        let out: OutApproval = self.body()?;
        let mut approval = self.approved(
            &out.instance_code,
            [&out.employee_id, &out.user_id, &out.open_id],
        )?;
        approval.start_time = instant(self.zone, "out_start_time", out.out_start_time.as_ref())?;
        approval.end_time = instant(self.zone, "out_end_time", out.out_end_time.as_ref())?;
        set_duration(
            &mut approval,
            "out_interval",
            out.out_interval.as_ref(),
            out.out_unit.as_ref(),
        )?;
        approval.reason = out.out_reason;
        Ok(vec![spanned(approval)])
    }

    pub(super) fn shift_approval(&self) -> Result<Vec<Fact>, String> {
        let shift: ShiftApproval = self.body()?;
        let mut approval = self.approved(
            &shift.instance_code,
            [&shift.employee_id, &shift.user_id, &shift.open_id],
        )?;
        // The swap is worked at shift_time and given back at return_time; a
        // swap has no duration of its own.
        approval.start_time = instant(self.zone, "shift_time", shift.shift_time.as_ref())?;
        approval.end_time = instant(self.zone, "return_time", shift.return_time.as_ref())?;
        approval.reason = shift.shift_reason;
        Ok(vec![Fact::Approval(approval)])
    }

    /// A revoked approval (通过并撤销). The event carries only the instance
    /// and the time of the revocation, so the new revision names no
    /// employee, span or duration: those stay on the approved revision.
    pub(super) fn approval_revert(&self) -> Result<Vec<Fact>, String> {
        let revert: ApprovalRevert = self.body()?;
        let mut approval = self.approval(&revert.instance_code)?;
        // Checked so that a garbled revert is reported, though no field of
        // the model holds it (the raw JSON does).
        instant(self.zone, "operate_time", revert.operate_time.as_ref())?;
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
    pub(super) fn remedy_group_update(&self) -> Result<Vec<Fact>, String> {
        let update: RemedyGroupUpdate = self.body()?;
        let remedy = update.object.ok_or("event.object is missing")?;
        let mut approval = self.approval(&remedy.instance_code)?;
        approval.employee_id = employee([&remedy.employee_id, "", ""])?;
        approval.status = mapping::approval_status(&remedy.status) as i32;
        approval.status_original = remedy.status;
        approval.corrected_time = instant(self.zone, "remedy_time", remedy.remedy_time.as_ref())?;
        approval.reason = remedy.remedy_reason;
        Ok(vec![spanned(approval)])
    }
}

/// An approval with the matching key of what it is about, so that its
/// pulled twin (`user_approvals/query`, `user_task_remedys/query`), whose
/// `approval_id` no document ties to this `instance_code`, meets it in the
/// store whichever arrives first. A revert names neither employee nor span
/// and meets it by business key alone.
fn spanned(mut approval: Approval) -> Fact {
    approval.matching_keys = keys::matching_keys(&approval);
    Fact::Approval(approval)
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

/// Sets the duration from an interval in seconds and the vendor's unit
/// (see [`mapping::duration_unit`]).
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
    let (unit, seconds_per_unit) = mapping::duration_unit(unit);
    approval.duration_unit = unit as i32;
    // Exact for any realistic interval: both operands are far below 2^53.
    approval.duration = seconds as f64 / seconds_per_unit;
    Ok(())
}
