//! The pure half of the cross-check: the hub's approved leave and overtime
//! of one employee-month in hours, and those totals against the report's.

use std::collections::BTreeMap;

use attendance_proto::v1::{Approval, ApprovalKind, ApprovalStatus, DurationUnit};

use super::{ReportTotal, TotalKind};

/// Differences smaller than this are floating-point noise, not a step.
const EPSILON: f64 = 1e-6;

/// The hub's side of one employee-month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HubTotals {
    /// Hours per kind, approvals clipped to the month.
    pub hours: BTreeMap<TotalKind, f64>,
    /// Approved leave or overtime whose hours cannot be told (no duration
    /// unit, or no period to clip): the instance ids, left out of `hours`.
    pub uncounted: Vec<String>,
}

/// One column on which the hub and the report disagree, in hours.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub column: String,
    pub kind: TotalKind,
    pub hub_hours: f64,
    pub report_hours: f64,
    pub step_hours: f64,
}

/// What one approval counts for, if anything: approved leave (by leave type)
/// or approved overtime. Withdrawn, rejected, pending and deleted approvals
/// count nothing; a withdrawal is a later revision with its own status.
fn counted_kind(approval: &Approval) -> Option<TotalKind> {
    if approval.status != ApprovalStatus::Approved as i32 {
        return None;
    }
    match ApprovalKind::try_from(approval.kind) {
        Ok(ApprovalKind::Leave) => Some(TotalKind::Leave(approval.leave_type.clone())),
        Ok(ApprovalKind::Overtime) => Some(TotalKind::Overtime),
        _ => None,
    }
}

/// Hours in one of the approval's duration units; days use the leave type's
/// working day (`hours_per_day`), as the vendor's report does.
pub fn unit_hours(unit: DurationUnit, hours_per_day: f64) -> Option<f64> {
    match unit {
        DurationUnit::Days => Some(hours_per_day),
        DurationUnit::HalfDays => Some(hours_per_day / 2.0),
        DurationUnit::Hours => Some(1.0),
        DurationUnit::Minutes => Some(1.0 / 60.0),
        DurationUnit::Unspecified => None,
    }
}

/// The hub's approved leave (per leave type) and overtime of one employee
/// within `[from, until)` (Unix seconds: the month in the app's zone), in
/// hours. An approval crossing the month's edge counts for the share of its
/// span inside the month, so a leave from the last day of one month to the
/// first of the next counts half in each.
pub fn hub_totals(
    approvals: &[Approval],
    from: i64,
    until: i64,
    hours_per_day: &dyn Fn(&str) -> f64,
) -> HubTotals {
    let mut totals = HubTotals::default();
    for approval in approvals {
        let Some(kind) = counted_kind(approval) else {
            continue;
        };
        let day = match &kind {
            TotalKind::Leave(leave_type) => hours_per_day(leave_type),
            TotalKind::Overtime => hours_per_day(""),
        };
        let unit = DurationUnit::try_from(approval.duration_unit).unwrap_or_default();
        let span = approval
            .start_time
            .as_ref()
            .zip(approval.end_time.as_ref())
            .map(|(start, end)| (start.seconds, end.seconds))
            .filter(|(start, end)| end > start);
        let (Some(unit), Some((start, end))) = (unit_hours(unit, day), span) else {
            totals.uncounted.push(approval.instance_id.clone());
            continue;
        };
        let overlap = (end.min(until) - start.max(from)).max(0);
        if overlap == 0 {
            continue;
        }
        let share = overlap as f64 / (end - start) as f64;
        *totals.hours.entry(kind).or_default() += approval.duration * unit * share;
    }
    totals
}

/// The report's columns against the hub's totals: every column whose totals
/// differ by at least one step of its grid (smaller differences are the
/// report's rounding), and the kinds the hub counts hours for that no column
/// of the report covers.
pub fn compare(report: &[ReportTotal], hub: &HubTotals) -> (Vec<Mismatch>, Vec<(TotalKind, f64)>) {
    let mismatches = report
        .iter()
        .filter_map(|column| {
            let hub_hours = hub.hours.get(&column.kind).copied().unwrap_or_default();
            let step = column.step_hours.max(EPSILON);
            ((hub_hours - column.hours).abs() + EPSILON >= step).then(|| Mismatch {
                column: column.column.clone(),
                kind: column.kind.clone(),
                hub_hours: rounded(hub_hours),
                report_hours: rounded(column.hours),
                step_hours: column.step_hours,
            })
        })
        .collect();
    let uncovered = hub
        .hours
        .iter()
        .filter(|(kind, hours)| **hours > EPSILON && !report.iter().any(|c| &c.kind == *kind))
        .map(|(kind, hours)| (kind.clone(), rounded(*hours)))
        .collect();
    (mismatches, uncovered)
}

/// Hours to the hundredth, so a prorated 15.999999 reads as 16.
pub fn rounded(hours: f64) -> f64 {
    (hours * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use attendance_proto::Timestamp;

    use super::*;

    const HOUR: i64 = 3_600;
    const DAY: i64 = 24 * HOUR;
    /// 2021-03-01T00:00:00+08:00 and 2021-04-01T00:00:00+08:00.
    const MARCH: (i64, i64) = (1_614_528_000, 1_614_528_000 + 31 * DAY);

    fn approval(kind: ApprovalKind, leave_type: &str, start: i64, end: i64) -> Approval {
        Approval {
            instance_id: format!("{leave_type}-{start}"),
            kind: kind as i32,
            status: ApprovalStatus::Approved as i32,
            leave_type: leave_type.into(),
            start_time: Some(Timestamp {
                seconds: start,
                nanos: 0,
            }),
            end_time: Some(Timestamp {
                seconds: end,
                nanos: 0,
            }),
            ..Approval::default()
        }
    }

    fn leave_days(leave_type: &str, start: i64, days: f64) -> Approval {
        Approval {
            duration: days,
            duration_unit: DurationUnit::Days as i32,
            ..approval(
                ApprovalKind::Leave,
                leave_type,
                start,
                start + (days * DAY as f64) as i64,
            )
        }
    }

    fn overtime_hours(start: i64, hours: f64) -> Approval {
        Approval {
            duration: hours,
            duration_unit: DurationUnit::Hours as i32,
            ..approval(
                ApprovalKind::Overtime,
                "",
                start,
                start + (hours * HOUR as f64) as i64,
            )
        }
    }

    fn eight_hours(_: &str) -> f64 {
        8.0
    }

    fn leave(name: &str) -> TotalKind {
        TotalKind::Leave(name.into())
    }

    #[test]
    fn units_convert_to_hours_through_the_leave_types_day() {
        assert_eq!(unit_hours(DurationUnit::Days, 7.5), Some(7.5));
        assert_eq!(unit_hours(DurationUnit::HalfDays, 7.5), Some(3.75));
        assert_eq!(unit_hours(DurationUnit::Hours, 7.5), Some(1.0));
        assert_eq!(unit_hours(DurationUnit::Minutes, 7.5), Some(1.0 / 60.0));
        assert_eq!(unit_hours(DurationUnit::Unspecified, 7.5), None);
    }

    #[test]
    fn approved_leave_and_overtime_are_summed_per_type() {
        let (from, until) = MARCH;
        let mut withdrawn = leave_days("年假", from + 20 * DAY, 1.0);
        withdrawn.status = ApprovalStatus::Withdrawn as i32;
        let trip = Approval {
            duration: 1.0,
            duration_unit: DurationUnit::Days as i32,
            ..approval(ApprovalKind::BusinessTrip, "", from, from + DAY)
        };
        let approvals = [
            leave_days("年假", from + 7 * DAY, 2.0),
            leave_days("年假", from + 14 * DAY, 0.5),
            leave_days("事假", from + 9 * DAY, 1.0),
            overtime_hours(from + 10 * DAY + 18 * HOUR, 3.0),
            overtime_hours(from + 11 * DAY + 18 * HOUR, 1.5),
            withdrawn,
            trip,
        ];
        let per_day = |name: &str| if name == "事假" { 7.5 } else { 8.0 };
        let totals = hub_totals(&approvals, from, until, &per_day);
        assert_eq!(
            totals.hours,
            BTreeMap::from([
                (leave("年假"), 20.0),
                (leave("事假"), 7.5),
                (TotalKind::Overtime, 4.5)
            ])
        );
        assert!(totals.uncounted.is_empty());
    }

    #[test]
    fn an_approval_crossing_the_month_counts_its_share_inside() {
        let (from, until) = MARCH;
        // 2021-02-28 and 2021-03-01: one day in each month.
        let crossing = leave_days("年假", from - DAY, 2.0);
        // 2021-03-31 18:00 to 2021-04-01 00:00 and one hour after.
        let late = overtime_hours(until - 6 * HOUR, 7.0);
        let totals = hub_totals(&[crossing, late], from, until, &eight_hours);
        assert_eq!(totals.hours[&leave("年假")], 8.0);
        assert_eq!(rounded(totals.hours[&TotalKind::Overtime]), 6.0);
        let before = hub_totals(
            &[leave_days("年假", from - 5 * DAY, 2.0)],
            from,
            until,
            &eight_hours,
        );
        assert!(before.hours.is_empty(), "{before:?}");
    }

    #[test]
    fn an_approval_whose_hours_cannot_be_told_is_named_not_guessed() {
        let (from, until) = MARCH;
        let mut no_unit = leave_days("年假", from + DAY, 1.0);
        no_unit.duration_unit = DurationUnit::Unspecified as i32;
        let mut no_period = overtime_hours(from + DAY, 2.0);
        no_period.end_time = None;
        let totals = hub_totals(&[no_unit, no_period], from, until, &eight_hours);
        assert!(totals.hours.is_empty());
        assert_eq!(totals.uncounted, ["年假-1614614400", "-1614614400"]);
    }

    fn column(name: &str, kind: TotalKind, hours: f64, step_hours: f64) -> ReportTotal {
        ReportTotal {
            column: name.into(),
            kind,
            hours,
            step_hours,
        }
    }

    #[test]
    fn differences_of_a_step_or_more_are_reported_smaller_ones_are_rounding() {
        let hub = HubTotals {
            hours: BTreeMap::from([
                (leave("年假"), 16.0),
                (leave("事假"), 7.9),
                (TotalKind::Overtime, 3.0),
                (leave("婚假"), 8.0),
            ]),
            uncounted: Vec::new(),
        };
        let report = [
            // Half a day less: one step of a day-unit type.
            column("年假", leave("年假"), 12.0, 4.0),
            // Rounded to the half hour: not a difference.
            column("事假", leave("事假"), 8.0, 0.5),
            // Half an hour less: one step.
            column("加班时长", TotalKind::Overtime, 2.5, 0.5),
            // The report counts leave the hub has no approval for.
            column("病假", leave("病假"), 4.0, 0.5),
        ];
        let (mismatches, uncovered) = compare(&report, &hub);
        let seen: Vec<(&str, f64, f64)> = mismatches
            .iter()
            .map(|m| (m.column.as_str(), m.hub_hours, m.report_hours))
            .collect();
        assert_eq!(
            seen,
            [
                ("年假", 16.0, 12.0),
                ("加班时长", 3.0, 2.5),
                ("病假", 0.0, 4.0)
            ]
        );
        assert_eq!(uncovered, [(leave("婚假"), 8.0)]);
    }

    #[test]
    fn agreeing_totals_report_nothing() {
        let hub = HubTotals {
            hours: BTreeMap::from([(leave("年假"), 16.0), (TotalKind::Overtime, 3.0)]),
            uncounted: Vec::new(),
        };
        let report = [
            column("年假", leave("年假"), 16.0, 4.0),
            column("加班时长", TotalKind::Overtime, 3.0, 0.5),
        ];
        assert_eq!(compare(&report, &hub), (Vec::new(), Vec::new()));
    }
}
