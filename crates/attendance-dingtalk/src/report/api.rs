//! The smart attendance report's endpoints (approvals.md §3) and the leave
//! types (`vacation/type/list`), on the app's API client: the same token,
//! pacing, metering, retries and errors as every other oapi call. DingTalk's
//! limits are checked before a call: one user, at most 20 columns or leave
//! names, at most 31 days.

use attendance_adapter_kit::api::HttpError;
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::wire::{AttColumns, ColumnValues, LeaveTimes, VacationType};
use crate::api::{date_time_text, ApiError, DingTalkApi};

pub const IS_OPEN_SMART_REPORT_PATH: &str = "/topapi/attendance/isopensmartreport";
pub const ATT_COLUMNS_PATH: &str = "/topapi/attendance/getattcolumns";
pub const COLUMN_VALUES_PATH: &str = "/topapi/attendance/getcolumnval";
pub const LEAVE_TIMES_PATH: &str = "/topapi/attendance/getleavetimebynames";
pub const VACATION_TYPES_PATH: &str = "/topapi/attendance/vacation/type/list";

/// `getcolumnval` takes at most 20 column ids, `getleavetimebynames` at
/// most 20 leave names.
pub const MAX_COLUMNS_PER_CALL: usize = 20;
/// Both read at most 31 days (`to − from` "在31天以内"), a calendar month.
pub const MAX_REPORT_DAYS: i64 = 31;

fn check_span(path: &str, from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if to < from || (to - from).num_days() >= MAX_REPORT_DAYS {
        return Err(ApiError::Request(format!(
            "{path} covers 1 to {MAX_REPORT_DAYS} days: {from} .. {to}"
        )));
    }
    Ok(())
}

fn check_list(path: &str, what: &str, items: &[String]) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > MAX_COLUMNS_PER_CALL {
        return Err(ApiError::Request(format!(
            "{path} takes 1 to {MAX_COLUMNS_PER_CALL} {what}, not {}",
            items.len()
        )));
    }
    Ok(())
}

/// The answer's `result`, read as `T`; absent or `null` is `T`'s default.
fn result<T: DeserializeOwned + Default>(path: &str, mut answer: Value) -> Result<T, ApiError> {
    match answer.get_mut("result").map(Value::take) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(result) => serde_json::from_value(result)
            .map_err(|e| HttpError::decode(path, format!("result does not read: {e}")).into()),
    }
}

/// The endpoint of a per-user call, the key of its list and what it lists.
struct UserMonth {
    path: &'static str,
    list_key: &'static str,
    what: &'static str,
}

fn midnight_text(date: NaiveDate) -> String {
    date_time_text(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

impl DingTalkApi {
    /// `topapi/attendance/isopensmartreport`: whether the tenant's smart
    /// report is on; when it is off, no other report call can be made.
    pub async fn smart_report_open(&self) -> Result<bool, ApiError> {
        let path = IS_OPEN_SMART_REPORT_PATH;
        let answer = self
            .oapi(reqwest::Method::POST, path, Some(&json!({})))
            .await?;
        match &answer["result"]["smart_report"] {
            Value::Bool(open) => Ok(*open),
            _ => Err(HttpError::decode(path, "no result.smart_report in the answer").into()),
        }
    }

    /// `topapi/attendance/getattcolumns`: the tenant's report columns.
    pub async fn report_columns(&self) -> Result<AttColumns, ApiError> {
        let path = ATT_COLUMNS_PATH;
        let answer = self
            .oapi(reqwest::Method::POST, path, Some(&json!({})))
            .await?;
        result(path, answer)
    }

    /// `topapi/attendance/getcolumnval`: one employee's values of up to 20
    /// columns (by id), day by day over `from..=to` (at most 31 days).
    pub async fn column_values(
        &self,
        user_id: &str,
        column_ids: &[i64],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ColumnValues, ApiError> {
        let ids: Vec<String> = column_ids.iter().map(i64::to_string).collect();
        let asked = UserMonth {
            path: COLUMN_VALUES_PATH,
            list_key: "column_id_list",
            what: "column ids",
        };
        self.per_user(asked, user_id, &ids, from, to).await
    }

    /// `topapi/attendance/getleavetimebynames`: one employee's leave
    /// columns (by leave name, up to 20), day by day over `from..=to` (at
    /// most 31 days, none older than 225 days).
    pub async fn leave_times(
        &self,
        user_id: &str,
        leave_names: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<LeaveTimes, ApiError> {
        let asked = UserMonth {
            path: LEAVE_TIMES_PATH,
            list_key: "leave_names",
            what: "leave names",
        };
        self.per_user(asked, user_id, leave_names, from, to).await
    }

    /// A call about one user over `from..=to` naming a comma list: the
    /// shape and the limits both per-user report calls share.
    async fn per_user<T: DeserializeOwned + Default>(
        &self,
        asked: UserMonth,
        user_id: &str,
        items: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<T, ApiError> {
        check_list(asked.path, asked.what, items)?;
        check_span(asked.path, from, to)?;
        let mut body = json!({
            "userid": user_id,
            "from_date": midnight_text(from),
            "to_date": midnight_text(to),
        });
        body[asked.list_key] = json!(items.join(","));
        let answer = self
            .oapi(reqwest::Method::POST, asked.path, Some(&body))
            .await?;
        result(asked.path, answer)
    }

    /// `topapi/attendance/vacation/type/list`: every leave type of the
    /// tenant (name, unit, hours in its day), as seen by the administrator
    /// `op_user_id`.
    pub async fn vacation_types(&self, op_user_id: &str) -> Result<Vec<VacationType>, ApiError> {
        let path = VACATION_TYPES_PATH;
        let body = json!({"op_userid": op_user_id, "vacation_source": "all"});
        let answer = self.oapi(reqwest::Method::POST, path, Some(&body)).await?;
        result(path, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_respect_the_reports_limits() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2021, 3, d).unwrap();
        assert!(check_span("p", day(1), day(31)).is_ok(), "a 31-day month");
        assert!(check_span("p", day(2), day(1)).is_err());
        let april = NaiveDate::from_ymd_opt(2021, 4, 1).unwrap();
        assert!(check_span("p", day(1), april).is_err(), "32 days");
        let names: Vec<String> = (0..20).map(|i| format!("假{i}")).collect();
        assert!(check_list("p", "names", &names).is_ok());
        let too_many: Vec<String> = (0..21).map(|i| format!("假{i}")).collect();
        assert!(check_list("p", "names", &too_many).is_err());
        assert!(check_list("p", "names", &[]).is_err());
    }
}
