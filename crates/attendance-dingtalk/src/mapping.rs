//! Every DingTalk value that becomes a model value, in one place: punch
//! methods, origins and validity, check results, approval kinds, statuses
//! and duration units. Small pure functions, each naming the part of
//! DingTalk's documentation it follows (section numbers are those of the
//! protocol notes, `protocols/dingtalk.md` and `protocols/approvals.md`).
//!
//! `translate` (pushes) and `pull` (the attendance APIs) both read through
//! here, so a pushed and a pulled record of the same thing say the same.

use attendance_proto::v1::{
    ApprovalKind, ApprovalStatus, DurationUnit, LocationResult, PunchMethod, PunchOrigin,
    PunchValidity, ShiftStatus, Supplement, WorkDirection,
};

use crate::wire::CheckRecord;

/// `bizCategoryId`s of approval processes that matter to payroll
/// (`bpms_instance_change`, §2.5). Any other category is a known event
/// carrying nothing for payroll.
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

/// A kind as the operator names it in `process_kinds` (config), for
/// approval forms whose `bizCategoryId` DingTalk does not list.
pub fn configured_kind(name: &str) -> Option<ApprovalKind> {
    match name {
        "leave" => Some(ApprovalKind::Leave),
        "overtime" => Some(ApprovalKind::Overtime),
        "business_trip" => Some(ApprovalKind::BusinessTrip),
        "go_out" => Some(ApprovalKind::GoOut),
        "punch_correction" => Some(ApprovalKind::PunchCorrection),
        "shift_swap" => Some(ApprovalKind::ShiftSwap),
        _ => None,
    }
}

/// `approveType` of `attendance_approve_status_change` (§2.4).
///
/// Every version of DingTalk's page for this event (Stream, HTTP, RDS)
/// defines `OUT` as 出差 (business trip) and `TRAVEL` as 外出 (going out).
/// The English words suggest the opposite, but the same approval also
/// arrives as `bpms_instance_change` (`alitrip.business` / `attendance.goout`)
/// under the same instance id, so reading them the other way round would
/// flip its kind between revisions.
pub fn approve_type_kind(approve_type: &str) -> ApprovalKind {
    match approve_type {
        "LEAVE" => ApprovalKind::Leave,
        "OVERTIME" => ApprovalKind::Overtime,
        "OUT" => ApprovalKind::BusinessTrip,
        "TRAVEL" => ApprovalKind::GoOut,
        _ => ApprovalKind::Unspecified,
    }
}

/// `status` of `attendance_approve_status_change` (§2.4).
///
/// `finish` means the approval *completed*; the event has no result field,
/// so a refused request finishes too. It says nothing of the outcome:
/// `Unspecified`, and the instance is read for the truth
/// ([`crate::translate::instance_pulls`]).
pub fn approve_status(status: &str) -> ApprovalStatus {
    match status {
        "start" => ApprovalStatus::Pending,
        "terminate" => ApprovalStatus::Withdrawn,
        "delete" => ApprovalStatus::Deleted,
        _ => ApprovalStatus::Unspecified,
    }
}

/// `type` and `result` of `bpms_instance_change` (§2.5): only a finished
/// instance has a result.
pub fn bpms_instance_status(kind: &str, result: &str) -> ApprovalStatus {
    match (kind, result) {
        ("start", _) => ApprovalStatus::Pending,
        ("finish", "agree") => ApprovalStatus::Approved,
        ("finish", "refuse") => ApprovalStatus::Rejected,
        ("terminate", _) => ApprovalStatus::Withdrawn,
        ("delete", _) => ApprovalStatus::Deleted,
        _ => ApprovalStatus::Unspecified,
    }
}

/// `status` and `result` of an approval instance (v1.0 workflow API, the
/// SDK's `GetProcessInstanceResponseBodyResult`): `RUNNING`, `TERMINATED`
/// (withdrawn), `COMPLETED` with `agree` or `refuse`. Only `COMPLETED` and
/// `agree` is approved.
pub fn instance_status(status: &str, result: &str) -> ApprovalStatus {
    match (status, result) {
        ("RUNNING", _) => ApprovalStatus::Pending,
        ("TERMINATED", _) => ApprovalStatus::Withdrawn,
        ("COMPLETED", "agree") => ApprovalStatus::Approved,
        ("COMPLETED", "refuse") => ApprovalStatus::Rejected,
        _ => ApprovalStatus::Unspecified,
    }
}

/// The duration of an `attendance_overtime_duration` item (§2.2): its
/// `overtimeHour` and `overtimeDay`, and the field the value was read from.
/// Hours are the finer unit; days only when that is all there is.
pub fn overtime_duration(
    hours: Option<f64>,
    days: Option<f64>,
) -> (f64, DurationUnit, &'static str) {
    let hours = hours.unwrap_or(0.0);
    let days = days.unwrap_or(0.0);
    if hours == 0.0 && days > 0.0 {
        (days, DurationUnit::Days, "overtimeDay")
    } else {
        (hours, DurationUnit::Hours, "overtimeHour")
    }
}

/// `locationMethod` of a punch (§2.1; `listRecord`, §5): `MAP`, `WIFI`,
/// `ATM`, `BEACON`; anything else is some other method.
pub fn punch_method(location_method: &str) -> PunchMethod {
    match location_method {
        "" => PunchMethod::Unspecified,
        "MAP" => PunchMethod::Gps,
        "WIFI" => PunchMethod::Wifi,
        "ATM" => PunchMethod::Machine,
        "BEACON" => PunchMethod::Beacon,
        _ => PunchMethod::Other,
    }
}

/// Who made a punch (§2.1, §5): `sourceType` when the record has it
/// (pulls); the push has only `checkByUser`, documented as "the user
/// punched" (`true`) or a system replay after re-scheduling (`false`).
pub fn punch_origin(record: &CheckRecord) -> (PunchOrigin, String) {
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

/// Whether DingTalk counts a punch (`listRecord`, `getupdatedata`, §5), with
/// the original and the reason it does not.
///
/// An `invalidRecordType` marks a punch DingTalk does not count. `isLegal=N`
/// only says the time or place was not Normal (late, outside), which is a
/// counted punch with a bad result, so it alone does not make it invalid.
/// The push carries neither field: its validity is unknown.
pub fn punch_validity(record: &CheckRecord) -> (PunchValidity, String, String) {
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

/// A check point's `time_result` / `timeResult` (`getupdatedata`,
/// `attendance/list`, §5): Normal, Early, Late, SeriousLate, Absenteeism,
/// NotSigned.
pub fn shift_status(time_result: &str) -> ShiftStatus {
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

/// A check point's `location_result` / `locationResult` (§5): Normal,
/// Outside, NotSigned.
pub fn location_result(text: &str) -> LocationResult {
    match text {
        "Normal" => LocationResult::Normal,
        "Outside" => LocationResult::Outside,
        "NotSigned" => LocationResult::NotSigned,
        _ => LocationResult::Unspecified,
    }
}

/// A check point's `source_type` / `sourceType` (§5) says why a result is
/// not a plain punch: an approval (补卡, leave) or an administrator.
pub fn supplement(source_type: &str) -> Supplement {
    match source_type {
        "" => Supplement::Unspecified,
        "APPROVE" => Supplement::Approval,
        "BOSS" => Supplement::ManagerModification,
        _ => Supplement::None,
    }
}

/// A check point's `check_type` / `checkType` (§5), with the word the
/// business key uses for it.
pub fn direction(check_type: &str) -> (WorkDirection, &'static str) {
    match check_type {
        "OnDuty" => (WorkDirection::OnDuty, "on"),
        "OffDuty" => (WorkDirection::OffDuty, "off"),
        _ => (WorkDirection::Unspecified, "unknown"),
    }
}

/// The kind of a `getupdatedata` `approve_list` item (§5; approvals.md
/// §2.1, §2.6): `biz_type` (1 overtime, 3 leave) or its `tag_name`.
pub fn update_approval_kind(biz_type: Option<i64>, tag_name: &str) -> ApprovalKind {
    match (biz_type, tag_name) {
        (Some(1), _) | (_, "加班") => ApprovalKind::Overtime,
        (Some(3), _) | (_, "请假") => ApprovalKind::Leave,
        (_, "出差") => ApprovalKind::BusinessTrip,
        (_, "外出") => ApprovalKind::GoOut,
        _ => ApprovalKind::Unspecified,
    }
}

/// An `approve_list` item's status (approvals.md §2.1): an approval with a
/// `gmt_finished` has taken effect, one without is still pending.
pub fn update_approval_status(gmt_finished: &str) -> (ApprovalStatus, String) {
    if gmt_finished.trim().is_empty() {
        (ApprovalStatus::Pending, String::new())
    } else {
        (
            ApprovalStatus::Approved,
            format!("gmt_finished={gmt_finished}"),
        )
    }
}

/// An `approve_list` item's `duration_unit` (§5; approvals.md §2.1), or a
/// leave form's unit, read by the words it contains. `halfDay` is the leave
/// type's granularity (its `leave_view_unit`), not the unit of the number:
/// an afternoon is `0.5` and an afternoon plus the next morning `1.0`, so
/// the duration is in days.
pub fn update_duration_unit(duration_unit: &str) -> DurationUnit {
    let unit_text = duration_unit.to_ascii_lowercase();
    if unit_text.contains("day") {
        DurationUnit::Days
    } else if unit_text.contains("hour") {
        DurationUnit::Hours
    } else if unit_text.contains("minute") {
        DurationUnit::Minutes
    } else {
        DurationUnit::Unspecified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
