//! Pure: the report's answers → one employee's monthly totals in hours, in
//! model terms (leave per leave type, overtime). Which columns count as
//! overtime, and how leave values convert, are inferences the
//! documentation leaves open (approvals.md §3, §5); each is named where it
//! is made.

use std::collections::BTreeMap;

use attendance_adapter_kit::cross_check::{ReportTotal, TotalKind};

use super::wire::{AttColumn, ColumnValues, DayValue, LeaveTimes, VacationType};

/// A leave type's working day when `vacation/type/list` states none (the
/// documentation's samples leave it out for some types): 8 hours, the
/// value every sample that states one gives (inferred).
pub const DEFAULT_HOURS_PER_DAY: f64 = 8.0;
/// The grid of hour-unit leave and of overtime.
pub const HALF_HOUR: f64 = 0.5;

/// How a leave type's report values read.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaveType {
    pub name: String,
    /// Hours in one of the values' units; `None` for a `leave_view_unit`
    /// the hub does not know.
    pub value_hours: Option<f64>,
    pub hours_per_day: f64,
    pub view_unit: String,
}

impl LeaveType {
    /// The report's grid for the type: half a day, or half an hour.
    pub fn step_hours(&self) -> f64 {
        if self.view_unit == "hour" {
            HALF_HOUR
        } else {
            self.hours_per_day / 2.0
        }
    }
}

/// The tenant's leave types as the report's leave values read. The value
/// unit is not documented: it is taken to be the type's `leave_view_unit`,
/// with `halfDay` counting days (a half-day type is shown in days, on a grid
/// of half a day, as the leave form's `[start, end, 4, "halfDay", ...]`
/// counts its four days), and a day is `hours_in_per_day / 100` hours.
pub fn leave_types(types: &[VacationType]) -> Vec<LeaveType> {
    types
        .iter()
        .filter(|t| !t.leave_name.is_empty())
        .map(|t| {
            let hours_per_day = t
                .hours_in_per_day
                .filter(|h| *h > 0.0)
                .map_or(DEFAULT_HOURS_PER_DAY, |h| h / 100.0);
            let value_hours = match t.leave_view_unit.as_str() {
                "day" | "halfDay" => Some(hours_per_day),
                "hour" => Some(1.0),
                _ => None,
            };
            LeaveType {
                name: t.leave_name.clone(),
                value_hours,
                hours_per_day,
                view_unit: t.leave_view_unit.clone(),
            }
        })
        .collect()
}

/// Hours in a day of each leave type, for the hub's approvals in days.
pub fn hours_per_day(types: &[LeaveType]) -> BTreeMap<String, f64> {
    types
        .iter()
        .map(|t| (t.name.clone(), t.hours_per_day))
        .collect()
}

/// The overtime columns of the tenant's report, by id: the configured names
/// exactly, or else (no overtime alias is documented) every column whose
/// name holds 加班 (overtime) but no 次 or 天 (a count of times or days, not
/// hours); when one of those holds 总 (total), only the totals, so parts are
/// not counted beside their total. Also answers the configured names the
/// report does not have.
pub fn overtime_columns(
    columns: &[AttColumn],
    configured: &[String],
) -> (Vec<(i64, String)>, Vec<String>) {
    let with_id = |c: &AttColumn| c.id.map(|id| (id, c.name.clone()));
    if !configured.is_empty() {
        let found: Vec<(i64, String)> = configured
            .iter()
            .filter_map(|name| columns.iter().find(|c| &c.name == name).and_then(with_id))
            .collect();
        let missing = configured
            .iter()
            .filter(|name| !found.iter().any(|(_, n)| n == *name))
            .cloned()
            .collect();
        return (found, missing);
    }
    let hours: Vec<(i64, String)> = columns
        .iter()
        .filter(|c| c.name.contains("加班") && !c.name.contains('次') && !c.name.contains('天'))
        .filter_map(with_id)
        .collect();
    let totals: Vec<(i64, String)> = hours
        .iter()
        .filter(|(_, name)| name.contains('总'))
        .cloned()
        .collect();
    (if totals.is_empty() { hours } else { totals }, Vec::new())
}

/// A column's month: its days' values plus its fixed value; an empty day
/// (before joining, after leaving) counts nothing.
pub fn month_sum(days: &[DayValue], fixed_value: Option<f64>) -> f64 {
    days.iter().filter_map(|d| d.value).sum::<f64>() + fixed_value.unwrap_or_default()
}

/// The overtime columns' values summed into one total (read as hours:
/// inferred, the unit is not documented), named by the columns joined with
/// `+`; `None` when the answer holds none of them.
pub fn overtime_total(picked: &[(i64, String)], values: &ColumnValues) -> Option<ReportTotal> {
    let answered: Vec<(&String, f64)> = picked
        .iter()
        .filter_map(|(id, name)| {
            let column = values
                .column_vals
                .iter()
                .find(|c| c.column_vo.id == Some(*id))?;
            Some((name, month_sum(&column.column_vals, column.fixed_value)))
        })
        .collect();
    if answered.is_empty() {
        return None;
    }
    Some(ReportTotal {
        column: answered
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        kind: TotalKind::Overtime,
        hours: answered.iter().map(|(_, hours)| hours).sum(),
        step_hours: HALF_HOUR,
    })
}

/// The leave columns of one answer as totals, and the types asked for that
/// cannot be compared, with why: no column (`null` or left out: check the
/// leave-type settings), or a unit the hub does not know.
pub fn leave_totals(
    types: &[LeaveType],
    asked: &[String],
    times: &LeaveTimes,
) -> (Vec<ReportTotal>, Vec<(String, String)>) {
    let mut totals = Vec::new();
    let mut skipped = Vec::new();
    for name in asked {
        let Some(kind) = types.iter().find(|t| &t.name == name) else {
            continue;
        };
        let days = times
            .columns
            .iter()
            .find(|c| &c.columnvo.name == name)
            .and_then(|c| c.columnvals.as_deref());
        let (Some(days), Some(value_hours)) = (days, kind.value_hours) else {
            let reason = if kind.value_hours.is_none() {
                format!(
                    "the leave type's unit {:?} is not one the hub reads (day, halfDay, hour)",
                    kind.view_unit
                )
            } else {
                "the report has no column for this leave type: check the leave-type settings \
                 (the exact name, and that vacation/type/list still lists it)"
                    .to_owned()
            };
            skipped.push((name.clone(), reason));
            continue;
        };
        totals.push(ReportTotal {
            column: name.clone(),
            kind: TotalKind::Leave(name.clone()),
            hours: month_sum(days, None) * value_hours,
            step_hours: kind.step_hours(),
        });
    }
    (totals, skipped)
}

#[cfg(test)]
mod tests {
    use super::super::wire::{ColumnRef, ColumnValue, LeaveColumn, LeaveColumnRef};
    use super::*;

    fn vacation(name: &str, unit: &str, hours: Option<f64>) -> VacationType {
        VacationType {
            leave_name: name.into(),
            leave_view_unit: unit.into(),
            hours_in_per_day: hours,
        }
    }

    fn days(values: &[Option<f64>]) -> Vec<DayValue> {
        values
            .iter()
            .enumerate()
            .map(|(i, value)| DayValue {
                date: format!("2021-03-{:02} 00:00:00", i + 1),
                value: *value,
            })
            .collect()
    }

    fn column(id: Option<i64>, name: &str) -> AttColumn {
        AttColumn {
            id,
            name: name.into(),
            alias: String::new(),
        }
    }

    #[test]
    fn leave_values_convert_to_hours_by_the_types_unit_and_day() {
        let types = leave_types(&[
            vacation("年假", "halfDay", None),
            vacation("事假", "hour", Some(800.0)),
            vacation("产假", "day", Some(750.0)),
            vacation("奇假", "week", Some(800.0)),
        ]);
        let by_name = |name: &str| types.iter().find(|t| t.name == name).unwrap().clone();
        assert_eq!(by_name("年假").value_hours, Some(DEFAULT_HOURS_PER_DAY));
        assert_eq!(by_name("年假").step_hours(), 4.0);
        assert_eq!(by_name("事假").value_hours, Some(1.0));
        assert_eq!(by_name("事假").step_hours(), HALF_HOUR);
        assert_eq!(by_name("产假").value_hours, Some(7.5));
        assert_eq!(by_name("产假").step_hours(), 3.75);
        assert_eq!(by_name("奇假").value_hours, None);
        assert_eq!(hours_per_day(&types)["产假"], 7.5);

        let answer = LeaveTimes {
            columns: vec![
                LeaveColumn {
                    columnvo: LeaveColumnRef {
                        name: "年假".into(),
                    },
                    columnvals: Some(days(&[Some(1.0), None, Some(0.5)])),
                },
                LeaveColumn {
                    columnvo: LeaveColumnRef {
                        name: "事假".into(),
                    },
                    columnvals: Some(days(&[Some(2.0), Some(1.5)])),
                },
                LeaveColumn {
                    columnvo: LeaveColumnRef {
                        name: "产假".into(),
                    },
                    columnvals: None,
                },
            ],
        };
        let asked: Vec<String> = ["年假", "事假", "产假", "奇假", "病假"]
            .map(String::from)
            .to_vec();
        let (totals, skipped) = leave_totals(&types, &asked, &answer);
        let seen: Vec<(&str, f64)> = totals
            .iter()
            .map(|t| (t.column.as_str(), t.hours))
            .collect();
        assert_eq!(seen, [("年假", 12.0), ("事假", 3.5)]);
        assert_eq!(totals[0].kind, TotalKind::Leave("年假".into()));
        let skipped: Vec<&str> = skipped.iter().map(|(name, _)| name.as_str()).collect();
        // 病假 is not a type the tenant lists: nothing was asked of it.
        assert_eq!(skipped, ["产假", "奇假"]);
    }

    #[test]
    fn a_missing_leave_column_gives_the_settings_hint() {
        let types = leave_types(&[vacation("婚假", "day", Some(800.0))]);
        let (_, skipped) = leave_totals(&types, &["婚假".into()], &LeaveTimes::default());
        assert!(
            skipped[0].1.contains("check the leave-type settings"),
            "{skipped:?}"
        );
    }

    #[test]
    fn overtime_columns_are_picked_by_name() {
        let columns = [
            column(Some(1), "出勤天数"),
            column(Some(2), "工作日加班"),
            column(Some(3), "休息日加班"),
            column(Some(4), "加班次数"),
            column(Some(5), "加班天数"),
            column(None, "事假"),
        ];
        let (picked, missing) = overtime_columns(&columns, &[]);
        assert_eq!(picked, [(2, "工作日加班".into()), (3, "休息日加班".into())]);
        assert!(missing.is_empty());
        let mut with_total = columns.to_vec();
        with_total.push(column(Some(6), "加班总时长"));
        let (picked, _) = overtime_columns(&with_total, &[]);
        assert_eq!(
            picked,
            [(6, "加班总时长".into())],
            "parts beside their total"
        );
        let configured = ["加班天数".to_owned(), "加班时长".to_owned()];
        let (picked, missing) = overtime_columns(&columns, &configured);
        assert_eq!(picked, [(5, "加班天数".into())]);
        assert_eq!(missing, ["加班时长"]);
    }

    #[test]
    fn overtime_sums_its_columns_days_and_fixed_values() {
        let picked = [(2, "工作日加班".to_owned()), (3, "休息日加班".to_owned())];
        let values = ColumnValues {
            column_vals: vec![
                ColumnValue {
                    column_vo: ColumnRef { id: Some(2) },
                    column_vals: days(&[Some(1.5), Some(2.0), None]),
                    fixed_value: None,
                },
                ColumnValue {
                    column_vo: ColumnRef { id: Some(3) },
                    column_vals: Vec::new(),
                    fixed_value: Some(4.0),
                },
                ColumnValue {
                    column_vo: ColumnRef { id: Some(9) },
                    column_vals: days(&[Some(100.0)]),
                    fixed_value: None,
                },
            ],
        };
        let total = overtime_total(&picked, &values).unwrap();
        assert_eq!(total.column, "工作日加班+休息日加班");
        assert_eq!(total.hours, 7.5);
        assert_eq!(total.kind, TotalKind::Overtime);
        assert_eq!(total.step_hours, HALF_HOUR);
        assert_eq!(overtime_total(&picked, &ColumnValues::default()), None);
    }
}
