//! Every Feishu value that becomes a model value, in one place: punch kinds,
//! sources and risks, check results and supplements, approval kinds,
//! statuses and duration units. Small pure functions, each naming the part
//! of Feishu's documentation it follows (section numbers are those of the
//! protocol notes, `protocols/feishu.md` and `protocols/approvals.md`).
//!
//! `translate` (pushes) and `pull` (the query APIs) both read through here,
//! so a pushed and a pulled record of the same thing say the same.

use attendance_proto::v1::{
    ApprovalKind, ApprovalStatus, DurationUnit, LocationResult, PunchMethod, PunchOrigin,
    PunchRisk, ShiftStatus, Supplement, WorkDirection,
};

use crate::wire::{
    IntOrString, LEAVE_APPROVAL_REVERT, LEAVE_APPROVAL_V2, OUT_APPROVAL, OUT_APPROVAL_REVERT,
    REMEDY_APPROVAL, REMEDY_GROUP_UPDATE_V4, SHIFT_APPROVAL, TRIP_APPROVAL, WORK_APPROVAL,
    WORK_APPROVAL_REVERT,
};

/// A flow's `type` (GO SDK `service/attendance/v1/model.go`, `UserFlow.Type`
/// 记录生成方式; §3.1, §4.2): who or what made the punch. Only a punch the
/// employee made (0 by hand, 6 quick punch) or an attendance machine (5)
/// was captured by a device; the rest were written by someone or something
/// else and say nothing of GPS or Wi-Fi.
const USER_PUNCH_TYPE: i64 = 0;
const MACHINE_PUNCH_TYPE: i64 = 5;
const QUICK_PUNCH_TYPE: i64 = 6;
/// 1 admin edit, 2 correction (补卡), 3 system, 4 automatic off-duty
/// (下班免打卡), 7 import through the open platform.
const WRITTEN_PUNCH_TYPES: [i64; 5] = [1, 2, 3, 4, 7];

/// How a punch was made, from a flow's `is_wifi` and `type` (§3.1, §4.2):
/// Wi-Fi when `is_wifi` says so; else a machine for type 5, the phone's
/// position for a punch the employee made (0, 6), and `Other` for a record
/// written by an admin, a correction, the system, the off-duty rule or an
/// import, which no device captured. With no `type`, or one this code does
/// not know, nothing says how. The same rule for push and pull.
pub fn punch_method(is_wifi: bool, kind: Option<i64>) -> PunchMethod {
    match kind {
        _ if is_wifi => PunchMethod::Wifi,
        Some(MACHINE_PUNCH_TYPE) => PunchMethod::Machine,
        Some(USER_PUNCH_TYPE | QUICK_PUNCH_TYPE) => PunchMethod::Gps,
        Some(kind) if WRITTEN_PUNCH_TYPES.contains(&kind) => PunchMethod::Other,
        _ => PunchMethod::Unspecified,
    }
}

/// A flow's `type` (§3.1 table "type"; §4.2 `type`): who or what made the
/// punch.
pub fn punch_origin(kind: i64) -> PunchOrigin {
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

/// A flow's `risk_result` (§3.1): Feishu's anti-cheating verdict.
pub fn punch_risk(risk: i64) -> PunchRisk {
    match risk {
        0 => PunchRisk::None,
        1 => PunchRisk::CheatingApp,
        2 => PunchRisk::OtherPersonsDevice,
        3 => PunchRisk::SharedDevice,
        _ => PunchRisk::Unspecified,
    }
}

/// `status_changes[].work_type` (§3.2); the pull's on/off records (§4.4)
/// use the same words.
pub fn work_direction(work_type: &str) -> WorkDirection {
    match work_type {
        "on" => WorkDirection::OnDuty,
        "off" => WorkDirection::OffDuty,
        _ => WorkDirection::Unspecified,
    }
}

/// A check result: `current_status` / `before_status` of the push (§3.2),
/// `check_in_result` / `check_out_result` of `user_tasks/query` (§4.4).
pub fn shift_status(status: &str) -> ShiftStatus {
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

/// A result's supplement: `current_supplement` / `before_supplement` (§3.2),
/// `check_in_result_supplement` / `check_out_result_supplement` (§4.4).
pub fn supplement(supplement: &str) -> Supplement {
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

/// Where a check point was punched, with the original it is read from. A
/// result's only location signal is a `FieldPunch` supplement (§3.2, §4.4);
/// its absence does not prove the punch was inside the area.
pub fn location_result(supplement: &str) -> (LocationResult, String) {
    if supplement == "FieldPunch" {
        (LocationResult::Outside, supplement.to_owned())
    } else {
        (LocationResult::Unspecified, String::new())
    }
}

/// The kind of approval an event type reports (§3.3; approvals.md §1): the
/// schema 1.0 approval events, their reverts and the 2.0 punch correction.
pub fn approval_kind(event_type: &str) -> ApprovalKind {
    match event_type {
        LEAVE_APPROVAL_V2 | LEAVE_APPROVAL_REVERT => ApprovalKind::Leave,
        WORK_APPROVAL | WORK_APPROVAL_REVERT => ApprovalKind::Overtime,
        REMEDY_APPROVAL | REMEDY_GROUP_UPDATE_V4 => ApprovalKind::PunchCorrection,
        TRIP_APPROVAL => ApprovalKind::BusinessTrip,
        OUT_APPROVAL | OUT_APPROVAL_REVERT => ApprovalKind::GoOut,
        SHIFT_APPROVAL => ApprovalKind::ShiftSwap,
        _ => ApprovalKind::Unspecified,
    }
}

/// Approval instance states as Feishu's approval API names them (§3.3,
/// `remedy_group_update_v4`'s `status`).
pub fn approval_status(status: &str) -> ApprovalStatus {
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

/// The unit an approval's interval is reported in and the seconds in one
/// such unit (§3.3, `leave_unit` / `out_unit`): names, or the legacy numbers
/// (1 day, 2 half day, 3 hour, 4 half hour, 5 minute).
///
/// Feishu always sends the interval in seconds, counting a day as 86 400 s
/// whatever the working hours (the leave doc example: half a day plus a day
/// is 129 600), so only days and half days change the unit; sub-hour units,
/// and no unit at all, are reported in hours.
pub fn duration_unit(unit: Option<&IntOrString>) -> (DurationUnit, f64) {
    let Some(unit) = unit else {
        return (DurationUnit::Hours, 3600.0);
    };
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

/// The `status` of `user_approvals/query` and `user_task_remedys/query`
/// (approvals.md §1.1, §1.2): 0 pending, 1 rejected, 2 approved, then the
/// two ways an approval is taken back: for `user_approvals` 3 withdrawn
/// (已撤回) and 4 revoked (已撤销); for `user_task_remedys` 3 cancelled
/// (已取消) and 4 withdrawn after approval (通过后撤回). The model has one
/// value for all of them; the original (`status_original`, the number as
/// Feishu sent it) tells which.
pub fn pulled_approval_status(status: i64) -> ApprovalStatus {
    match status {
        0 => ApprovalStatus::Pending,
        1 => ApprovalStatus::Rejected,
        2 => ApprovalStatus::Approved,
        3 | 4 => ApprovalStatus::Withdrawn,
        _ => ApprovalStatus::Unspecified,
    }
}

/// The `unit` of a pulled leave, going-out or overtime (approvals.md §1.1;
/// §4 pitfall 3: not the push's numbering): 1 day, 2 hour, 3 half day,
/// 4 half hour. Returns the model unit and how many of it one vendor unit
/// is; half hours are reported in hours, as the push reports them.
pub fn pulled_duration_unit(unit: Option<i64>) -> (DurationUnit, f64) {
    match unit {
        Some(1) => (DurationUnit::Days, 1.0),
        Some(3) => (DurationUnit::HalfDays, 1.0),
        Some(4) => (DurationUnit::Hours, 0.5),
        _ => (DurationUnit::Hours, 1.0),
    }
}

/// Seconds in one model unit, counted as the push counts them (a day is
/// 86 400 s whatever the working hours: see [`duration_unit`]), so that a
/// pulled leave's `interval` reads as the pushed `leave_interval` does.
pub fn seconds_per_unit(unit: DurationUnit) -> f64 {
    match unit {
        DurationUnit::Days => 86_400.0,
        DurationUnit::HalfDays => 43_200.0,
        DurationUnit::Minutes => 60.0,
        DurationUnit::Hours | DurationUnit::Unspecified => 3600.0,
    }
}
