//! The approval events (`attendance_approve_status_change`,
//! `bpms_instance_change`) and overtime converted to compensatory leave
//! (`attendance_overtime_duration`), each as an [`Approval`].

use attendance_adapter_kit::translation::{millis_timestamp, require};
use attendance_proto::ingest::Fact;
use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus};

use super::triggers::work_date_of;
use super::Inbound;
use crate::mapping;
use crate::wire::{ApproveStatusChange, BpmsChange, OvertimeDuration, OvertimeDurationEvent};

impl Inbound<'_> {
    pub(super) fn overtime_duration(&self) -> Result<Vec<Fact>, String> {
        let event: OvertimeDurationEvent = self.parse()?;
        let items = event.data_list.ok_or("dataList is missing")?;
        self.each_item(
            items
                .iter()
                .map(|item| self.overtime(item).map(Fact::Approval)),
        )
    }

    fn overtime(&self, item: &OvertimeDuration) -> Result<Approval, String> {
        require("userid", &item.userid)?;
        let work_date_ms = item.work_date.ok_or("workDate is missing")?;
        let work_day = millis_timestamp(work_date_ms)
            .ok_or_else(|| format!("workDate {work_date_ms} is out of range"))?;
        let source = self.source(&item.corp_id);
        let business_key = if item.key.is_empty() {
            let day = work_date_of(&work_day, self.settings.time_zone)
                .ok_or("workDate is out of range")?;
            format!("{};{};{}", source.tenant, item.userid, day.format("%Y%m%d"))
        } else {
            item.key.clone()
        };
        let (duration, unit, unit_original) =
            mapping::overtime_duration(item.overtime_hour, item.overtime_day);
        Ok(Approval {
            source: Some(source),
            business_key,
            employee_id: item.userid.clone(),
            kind: ApprovalKind::Overtime as i32,
            kind_original: item.overtime_day_type.clone(),
            // The event reports overtime already recorded (`add`/`modify`).
            status: ApprovalStatus::Approved as i32,
            status_original: item.action.clone(),
            // Midnight of the work day: the event has the day, not the hours.
            start_time: Some(work_day),
            duration,
            duration_unit: unit as i32,
            duration_unit_original: unit_original.to_owned(),
            provenance: Some(self.provenance()),
            raw_json: self.raw_json.to_owned(),
            ..Approval::default()
        })
    }

    pub(super) fn approve_status_change(&self) -> Result<Vec<Fact>, String> {
        let change: ApproveStatusChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        require("status", &change.status)?;
        if !change.main_process_instance_id.is_empty()
            && change.main_process_instance_id != change.process_instance_id
        {
            // An instance made to revoke or modify an approved one (it names
            // its main instance): whether it is an approval of its own or a
            // revocation, which must never read as one, only the instance
            // says (`bizAction`). It is read
            // ([`super::triggers::approval_pulls`]) and resolved with the
            // instance it names.
            return Ok(Vec::new());
        }
        let status = mapping::approve_status(&change.status);
        if status == ApprovalStatus::Unspecified {
            // `finish` says the approval completed, not whether it was
            // agreed: a fact would overwrite the outcome `bpms_instance_change`
            // stated. The delivery is kept raw and the instance is read for
            // the outcome ([`super::triggers::approval_pulls`]).
            return Ok(Vec::new());
        }
        let mut approval = self.instance_approval(&change.corp_id, &change.process_instance_id);
        approval.employee_id = change.user_id;
        approval.kind = mapping::approve_type_kind(&change.approve_type) as i32;
        approval.kind_original = change.approve_type;
        approval.status = status as i32;
        approval.status_original = change.status;
        Ok(vec![Fact::Approval(approval)])
    }

    pub(super) fn bpms_instance_change(&self) -> Result<Vec<Fact>, String> {
        let change: BpmsChange = self.parse()?;
        require("processInstanceId", &change.process_instance_id)?;
        require("type", &change.kind)?;
        let listed = mapping::approval_kind_of_category(&change.biz_category_id)
            .map(|kind| (kind, change.biz_category_id.clone()));
        let configured = || {
            let kind = self.settings.process_kinds.get(&change.process_code)?;
            Some((*kind, format!("processCode={}", change.process_code)))
        };
        let Some((kind, kind_original)) = listed.or_else(configured) else {
            // An unlisted or empty category (expense claims, a custom leave
            // form, ...): the kind is not known here. The instance is read
            // ([`super::approval_pulls`]) and its form says whether it is
            // anything for payroll.
            return Ok(Vec::new());
        };
        let mut approval = self.instance_approval(&change.corp_id, &change.process_instance_id);
        approval.employee_id = change.staff_id;
        approval.kind = kind as i32;
        approval.kind_original = kind_original;
        approval.status = mapping::bpms_instance_status(&change.kind, &change.result) as i32;
        approval.status_original = if change.result.is_empty() {
            change.kind
        } else {
            format!("{}/{}", change.kind, change.result)
        };
        Ok(vec![Fact::Approval(approval)])
    }

    /// An approval instance keyed by its id, as both approval events report
    /// it. Neither carries the period, duration or leave type:
    /// createTime/finishTime date the paperwork, not the absence; the form's
    /// period comes from the process-instance API.
    fn instance_approval(&self, corp_id: &str, instance_id: &str) -> Approval {
        Approval {
            source: Some(self.source(corp_id)),
            business_key: instance_id.to_owned(),
            instance_id: instance_id.to_owned(),
            provenance: Some(self.provenance()),
            raw_json: self.raw_json.to_owned(),
            ..Approval::default()
        }
    }
}
