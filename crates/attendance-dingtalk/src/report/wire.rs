//! Serde mirrors of the smart attendance report's answers (approvals.md §3:
//! `getattcolumns`, `getcolumnval`, `getleavetimebynames`) and of
//! `vacation/type/list`, read leniently: numbers may come as text, lists
//! may be absent or `null`, and leave columns come without an `id`.

use attendance_adapter_kit::lenient::nullable as lenient;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An integer, or text holding one; anything else is absent.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok())))
}

/// A number, or text holding one (`"1.0"`, `800`); empty or anything else
/// is absent. Laxer than the push mirrors' readers: a report cell that is
/// no number counts nothing rather than losing the employee's whole answer.
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok())))
}

/// `getattcolumns`: `result`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct AttColumns {
    #[serde(default, deserialize_with = "lenient")]
    pub columns: Vec<AttColumn>,
}

/// One column of the tenant's report.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct AttColumn {
    /// Absent for leave columns.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub alias: String,
}

/// `getcolumnval`: `result`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ColumnValues {
    #[serde(default, deserialize_with = "lenient")]
    pub column_vals: Vec<ColumnValue>,
}

/// One column's values for one employee.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ColumnValue {
    #[serde(default, deserialize_with = "lenient")]
    pub column_vo: ColumnRef,
    #[serde(default, deserialize_with = "lenient")]
    pub column_vals: Vec<DayValue>,
    /// Fixed columns have only this.
    #[serde(default, deserialize_with = "lenient_number")]
    pub fixed_value: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ColumnRef {
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: Option<i64>,
}

/// One day's value of a column: `{"date":"2020-09-07 00:00:00","value":"1.0"}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct DayValue {
    #[serde(default, deserialize_with = "lenient")]
    pub date: String,
    /// Empty (a day before joining or after leaving) reads as nothing.
    #[serde(default, deserialize_with = "lenient_number")]
    pub value: Option<f64>,
}

/// `getleavetimebynames`: `result`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct LeaveTimes {
    #[serde(default, deserialize_with = "lenient")]
    pub columns: Vec<LeaveColumn>,
}

/// One leave column's values for one employee.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct LeaveColumn {
    #[serde(default, deserialize_with = "lenient")]
    pub columnvo: LeaveColumnRef,
    /// `null` when the report has no such column (see approvals.md §3,
    /// step 4: check the leave-type settings).
    #[serde(default)]
    pub columnvals: Option<Vec<DayValue>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct LeaveColumnRef {
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
}

/// One `vacation/type/list` item (the `result` is a list of them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct VacationType {
    #[serde(default, deserialize_with = "lenient")]
    pub leave_name: String,
    /// `day`, `halfDay` or `hour`.
    #[serde(default, deserialize_with = "lenient")]
    pub leave_view_unit: String,
    /// Hundredths of an hour (800 = 8 h); absent for some types.
    #[serde(default, deserialize_with = "lenient_number")]
    pub hours_in_per_day: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// approvals.md §3, the documentation's samples (the `result` objects).
    #[test]
    fn the_documented_samples_read() {
        let columns: AttColumns = serde_json::from_str(
            r#"{"columns":[{"alias":"should_attendance_days","expression_id":129334038,"id":129339038,"name":"应出勤天数","status":0,"sub_type":0,"type":0},{"alias":"making_up_lack_times","expression_id":129334039,"id":129339039,"name":"补卡次数","status":0,"sub_type":0,"type":0}]}"#,
        )
        .unwrap();
        assert_eq!(columns.columns[0].id, Some(129_339_038));
        assert_eq!(columns.columns[1].name, "补卡次数");
        let values: ColumnValues = serde_json::from_str(
            r#"{"column_vals":[{"column_vals":[{"date":"2020-09-07 00:00:00","value":"1.0"},{"date":"2020-09-08 00:00:00","value":"1.0"},{"date":"2020-09-09 00:00:00","value":"1.0"}],"column_vo":{"id":129339038}}]}"#,
        )
        .unwrap();
        assert_eq!(values.column_vals[0].column_vo.id, Some(129_339_038));
        assert_eq!(values.column_vals[0].column_vals[2].value, Some(1.0));
        assert_eq!(values.column_vals[0].fixed_value, None);
        let leave: LeaveTimes = serde_json::from_str(
            r#"{"columns":[{"columnvals":[{"date":"2020-09-01 00:00:00","value":"0.0"},{"date":"2020-09-02 00:00:00","value":"0.0"}],"columnvo":{"alias":"leave_","name":"事假","status":0,"sub_type":0,"type":0}}]}"#,
        )
        .unwrap();
        assert_eq!(leave.columns[0].columnvo.name, "事假");
        assert_eq!(leave.columns[0].columnvals.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn nulls_text_numbers_and_empty_values_read_leniently() {
        let values: ColumnValues = serde_json::from_str(
            r#"{"column_vals":[{"column_vo":{"id":"7"},"column_vals":null,"fixed_value":"2.5"},{"column_vo":null,"column_vals":[{"date":"2020-09-07 00:00:00","value":""}]}]}"#,
        )
        .unwrap();
        assert_eq!(values.column_vals[0].column_vo.id, Some(7));
        assert_eq!(values.column_vals[0].fixed_value, Some(2.5));
        assert_eq!(values.column_vals[1].column_vo.id, None);
        assert_eq!(values.column_vals[1].column_vals[0].value, None);
        let leave: LeaveTimes =
            serde_json::from_str(r#"{"columns":[{"columnvo":{"name":"婚假"},"columnvals":null}]}"#)
                .unwrap();
        assert_eq!(leave.columns[0].columnvals, None);
        let kind: VacationType = serde_json::from_str(
            r#"{"leave_name":"年假","leave_view_unit":"halfDay","hours_in_per_day":"750"}"#,
        )
        .unwrap();
        assert_eq!(kind.hours_in_per_day, Some(750.0));
        assert_eq!(
            serde_json::from_str::<ColumnValues>("{}").unwrap(),
            ColumnValues::default()
        );
    }
}
