//! The keys an approval is stored under, shared by pushes and pulls so that
//! both name one approval alike: the business key `"{kind}/{id}"` and the
//! matching key of what it is about (kind, employee and span, or the punch a
//! correction corrects).
//!
//! No Feishu document says that a pulled `approval_id` is the pushed
//! `instance_code` (approvals.md §1.3: the samples differ in shape), so a
//! push and a pull of one approval meet on what both state: the employee
//! and the instants, read in the zone each names. Instants are cut to the
//! minute, the precision of a pulled correction's `remedy_time`.

use attendance_proto::v1::ApprovalKind;
use attendance_proto::Timestamp;

/// The business key's first segment: one per kind, shared by an approval
/// event, its revert, its 2.0 form and its pulled twin.
pub fn kind_key(kind: ApprovalKind) -> &'static str {
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

/// `"{kind}/{id}"`: a push's instance_code and a pull's approval_id alike,
/// so that should they be the same id the two meet directly.
pub fn business_key(kind: ApprovalKind, id: &str) -> String {
    format!("{}/{id}", kind_key(kind))
}

fn minute(at: Timestamp) -> i64 {
    at.seconds.div_euclid(60) * 60
}

/// The matching key of an approval of a span: `None` without an employee
/// or both instants, which then meets its twin only by business key. The
/// `@` keeps it apart from every business key (`"{kind}/…"`).
pub fn span_key(
    kind: ApprovalKind,
    employee: &str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Option<String> {
    let (start, end) = (start?, end?);
    (!employee.is_empty()).then(|| {
        format!(
            "{}@{employee}@{}-{}",
            kind_key(kind),
            minute(start),
            minute(end)
        )
    })
}

/// The matching key of a punch correction: the employee and the instant it
/// corrects.
pub fn correction_key(employee: &str, corrected: Option<Timestamp>) -> Option<String> {
    let corrected = corrected?;
    (!employee.is_empty()).then(|| {
        format!(
            "{}@{employee}@{}",
            kind_key(ApprovalKind::PunchCorrection),
            minute(corrected)
        )
    })
}

/// The matching keys of an approval as its fields stand: its span, or for
/// a punch correction the corrected instant.
pub fn matching_keys(approval: &attendance_proto::v1::Approval) -> Vec<String> {
    let kind = approval.kind();
    let key = if kind == ApprovalKind::PunchCorrection {
        correction_key(&approval.employee_id, approval.corrected_time)
    } else {
        span_key(
            kind,
            &approval.employee_id,
            approval.start_time,
            approval.end_time,
        )
    };
    key.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn keys_need_an_employee_and_their_instants_and_drop_the_seconds() {
        assert_eq!(
            span_key(
                ApprovalKind::Leave,
                "e1",
                at(1_725_514_230),
                at(1_725_613_200)
            ),
            Some("leave@e1@1725514200-1725613200".into())
        );
        assert_eq!(span_key(ApprovalKind::Leave, "", at(1), at(2)), None);
        assert_eq!(span_key(ApprovalKind::Leave, "e1", None, at(2)), None);
        assert_eq!(
            correction_key("e1", at(1_725_843_659)),
            Some("punch_correction@e1@1725843600".into())
        );
        assert_eq!(correction_key("e1", None), None);
        assert_ne!(
            span_key(ApprovalKind::GoOut, "e1", at(60), at(120)),
            span_key(ApprovalKind::BusinessTrip, "e1", at(60), at(120)),
            "kinds never meet"
        );
    }
}
